#!/bin/sh
# Checks every relative link of README.md and docs/*.md: the file it names
# exists and, for a link into a Markdown file (#anchor), that file has a
# heading with that anchor. Anchors are compared as GitHub makes them
# (lower case, spaces to hyphens, punctuation dropped, -1, -2 ... for
# repeated headings), with every non-ASCII character dropped on both sides.
# Links to other sites (scheme:) are not checked. Links inside ``` fences are
# examples, not links. Prints each broken link and exits 1 if there is one.
#   scripts/check-doc-links.sh [FILE.md ...]   (default: README.md docs/*.md)
set -u
cd "$(dirname "$0")/.." || exit 1
[ $# -gt 0 ] || set -- README.md docs/*.md

# anchors FILE: the anchor of each heading of FILE, one per line
anchors() {
	awk '
	/^```/ { fence = !fence; next }
	fence { next }
	/^#+[ \t]/ {
		h = $0
		sub(/^#+[ \t]+/, "", h)
		sub(/[ \t]+#*[ \t]*$/, "", h)
		h = tolower(h)
		s = ""
		for (i = 1; i <= length(h); i++) {
			c = substr(h, i, 1)
			if (c ~ /[a-z0-9_-]/) s = s c
			else if (c == " ") s = s "-"
		}
		if (s in seen) { seen[s]++; print s "-" seen[s] } else { seen[s] = 0; print s }
	}' "$1"
}

# links FILE: each relative link target of FILE (outside code fences)
links() {
	awk '
	/^```/ { fence = !fence; next }
	fence { next }
	{
		line = $0
		# drop inline code spans: a link inside backticks is an example
		gsub(/`[^`]*`/, "", line)
		while (match(line, /\]\([^)]+\)/)) {
			t = substr(line, RSTART + 2, RLENGTH - 3)
			line = substr(line, RSTART + RLENGTH)
			sub(/[ \t].*$/, "", t)
			if (t ~ /^[a-zA-Z][a-zA-Z0-9+.-]*:/) continue
			print t
		}
	}' "$1"
}

# ascii STRING: STRING without its non-ASCII bytes
ascii() {
	printf '%s\n' "$1" | LC_ALL=C tr -cd '\000-\177' | tr -d '\n'
}

bad=0
for f in "$@"; do
	dir=$(dirname "$f")
	for t in $(links "$f"); do
		path=${t%%#*}
		anchor=
		case $t in *#*) anchor=${t#*#} ;; esac
		if [ -z "$path" ]; then
			target=$f
		else
			target=$dir/$path
		fi
		if [ ! -e "$target" ]; then
			echo "$f: broken link '$t': $target does not exist" >&2
			bad=1
			continue
		fi
		[ -n "$anchor" ] || continue
		case $target in *.md) ;; *) continue ;; esac
		want=$(ascii "$anchor" | tr 'A-Z' 'a-z')
		if ! anchors "$target" | LC_ALL=C tr -cd '\000-\177' | grep -qxF -- "$want"; then
			echo "$f: broken link '$t': no heading with anchor '#$anchor' in $target" >&2
			bad=1
		fi
	done
done
[ "$bad" -eq 0 ] && echo "doc links: all relative links of $# files resolve"
exit "$bad"
