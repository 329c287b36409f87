#!/bin/sh
# Copies each command's --help text into docs/cli.md, between the markers
#   <!-- help:CMD ... -->  and  <!-- /help:CMD -->
# (CMD "main" is `normbench --help`), so the CLI reference cannot drift from
# the binary. With --check nothing is written: exit 1 when a block differs.
#   scripts/cli-help-doc.sh [--check] NORMBENCH_BINARY
set -u
cd "$(dirname "$0")/.." || exit 1
check=0
if [ "${1:-}" = --check ]; then
	check=1
	shift
fi
bin=${1:?usage: scripts/cli-help-doc.sh [--check] NORMBENCH_BINARY}
doc=docs/cli.md
tmp=$doc.tmp.$$
helps=$(mktemp -d) || exit 1
trap 'rm -rf "$helps" "$tmp"' EXIT

for cmd in $(sed -n 's/^<!-- help:\([a-z]*\) .*/\1/p' "$doc"); do
	if [ "$cmd" = main ]; then
		"$bin" --help >"$helps/$cmd" 2>&1
	else
		"$bin" "$cmd" --help >"$helps/$cmd" 2>&1
	fi || { echo "cli-help-doc: '$bin $cmd --help' failed" >&2; exit 1; }
done

awk -v dir="$helps" '
/^<!-- help:[a-z]+ / {
	print
	cmd = $0
	sub(/^<!-- help:/, "", cmd)
	sub(/ .*/, "", cmd)
	print "```"
	while ((getline line < (dir "/" cmd)) > 0)
		print line
	close(dir "/" cmd)
	print "```"
	skip = 1
	next
}
/^<!-- \/help:/ { skip = 0 }
!skip { print }' "$doc" >"$tmp" || exit 1

if [ "$check" -eq 1 ]; then
	if cmp -s "$doc" "$tmp"; then
		echo "cli-help-doc: $doc matches $bin --help"
		exit 0
	fi
	echo "cli-help-doc: $doc differs from $bin --help (run scripts/cli-help-doc.sh $bin):" >&2
	diff "$doc" "$tmp" >&2
	exit 1
fi
mv "$tmp" "$doc"
echo "cli-help-doc: wrote $doc"
