#!/bin/sh
# The byte-flip campaign of issue 14: N damaged copies of real results files
# (bytes flipped, a 512-byte block zeroed, truncated, a run of 0xff) through
# `normbench show` (every file) and `normbench compare` (every 5th). Every
# outcome must be an exit status (show 0..2, compare 0..3), never a signal,
# and no run may last 10 s or more. Offending files are kept in OUTDIR.
# Usage: scripts/flip-files.sh NORMBENCH SEEDDIR N OUTDIR [RANDOM-SEED]
set -u
bin=$1 seeds=$2 n=$3 out=$4 seed=${5:-1}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set -- "$seeds"/*.h5
nseeds=$#
crashes=0 hangs=0 codes="" slowest=0
i=0
while [ "$i" -lt "$n" ]; do
	k=$((i % nseeds + 1))
	eval src=\${$k}
	size=$(stat -c %s "$src")
	cp "$src" "$work/m.h5"
	# offsets and values from awk's generator, seeded per file
	awk -v s="$((seed * 1000003 + i))" -v size="$size" -v kind="$((i % 4))" 'BEGIN {
		srand(s)
		if (kind == 0) { m = 1 + int(rand() * 4)
			for (j = 0; j < m; j++) print "b", int(rand() * size), 1 + int(rand() * 255) }
		else if (kind == 1) print "z", int(rand() * int(size / 512)) * 512
		else if (kind == 2) print "t", int(rand() * size)
		else print "f", int(rand() * (size - 8))
	}' > "$work/plan"
	while read -r op a b; do
		case $op in
		b) printf "\\$(printf %o "$b")" | dd of="$work/m.h5" bs=1 seek="$a" conv=notrunc 2>/dev/null ;;
		z) dd if=/dev/zero of="$work/m.h5" bs=1 count=512 seek="$a" conv=notrunc 2>/dev/null ;;
		t) truncate -s "$a" "$work/m.h5" ;;
		f) printf '\377\377\377\377\377\377\377\377' | dd of="$work/m.h5" bs=1 seek="$a" conv=notrunc 2>/dev/null ;;
		esac
	done < "$work/plan"
	for cmd in show compare; do
		[ "$cmd" = compare ] && [ $((i % 5)) -ne 0 ] && continue
		t0=$(date +%s%N)
		if [ "$cmd" = show ]; then
			timeout -s KILL 60 "$bin" show "$work/m.h5" >/dev/null 2>"$work/err"
		else
			timeout -s KILL 60 "$bin" compare --force "$src" "$work/m.h5" >/dev/null 2>"$work/err"
		fi
		rc=$?
		ms=$(( ($(date +%s%N) - t0) / 1000000 ))
		[ "$ms" -gt "$slowest" ] && slowest=$ms
		max=2
		[ "$cmd" = compare ] && max=3
		if [ "$rc" -gt "$max" ]; then
			crashes=$((crashes + 1))
			cp "$work/m.h5" "$out/crash-$i-$cmd.h5"
			echo "file $i: $cmd exit $rc: $(head -c 300 "$work/err")" >&2
		fi
		if [ "$ms" -ge 10000 ]; then
			hangs=$((hangs + 1))
			cp "$work/m.h5" "$out/slow-$i-$cmd.h5"
			echo "file $i: $cmd took $ms ms" >&2
		fi
		codes="$codes $cmd:$rc"
	done
	i=$((i + 1))
	[ $((i % 500)) -eq 0 ] && echo "$i files: $crashes crashes, $hangs slow runs so far" >&2
done
echo "$n damaged files from $nseeds seeds: $crashes crashes (a signal or an unknown exit)," \
	"$hangs runs of 10 s or more; slowest run $slowest ms"
echo "$codes" | tr ' ' '\n' | grep . | sort | uniq -c | sed 's/^/  /'
[ "$crashes" -eq 0 ] && [ "$hangs" -eq 0 ]
