#!/bin/sh
# Measures the gate's false-alarm and detection rates on this machine
# (docs/gate.md, "Measured figures"); rerunnable anywhere.
#
#   scripts/gate-measure.sh [-n N] [-b NORMBENCH] [--old OLD_NORMBENCH]
#                           [-o DIR] [--run-args "ARGS"] [--kernel NAME]
#                           [--sets "aa load slow10 slow5 old ci"] [--rejudge]
#
# Sets (each N comparisons, one results file per comparison or per side):
#   aa      A/A: `run --baseline` of the same build against itself, judged
#           by `compare FILE`
#   aa2     A/A in two-file mode: N+1 plain runs compared consecutively
#   load    the A/B A/A again with two busy processes in the background
#   slow10  a real 10% slowdown of one kernel (NB_TEST_SLOWDOWN: the kernel
#           is called once more every 10 calls) on the NEW side only
#   slow5   the same with 5% (once more every 20 calls)
#   old     the old gate: N+1 runs of OLD_NORMBENCH (one process, its own
#           compare) compared consecutively, and its --inject-slowdown 0.10
#   ci      scripts/ci-gate.sh with --base-bin/--new-bin wrappers (10%)
# Prints and writes DIR/summary.txt: one line per set with the exit counts.
# --rejudge runs nothing: it judges the files already in DIR again with
# NORMBENCH's compare (and OLD_NORMBENCH's for the old set).
set -u

n=20
bin=build/normbench
old=
out=gate-measure-out
run_args="--quick --suite kernel --variants rmsnorm,layernorm --threads 1 --samples 60"
kernel=rmsnorm_fwd_f32_avx512
sets="aa slow10 load slow5 aa2 old ci"
rejudge=0
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=${2:?}; shift 2 ;;
	-b) bin=${2:?}; shift 2 ;;
	--old) old=${2:?}; shift 2 ;;
	-o) out=${2:?}; shift 2 ;;
	--run-args) run_args=${2-}; shift 2 ;;
	--kernel) kernel=${2:?}; shift 2 ;;
	--sets) sets=${2:?}; shift 2 ;;
	--rejudge) rejudge=1; shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) echo "gate-measure: unknown option $1" >&2; exit 1 ;;
	esac
done
mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
[ -x "$bin" ] || { echo "gate-measure: no binary $bin" >&2; exit 1; }
summary=$out/summary.txt
log() { echo "gate-measure: $(date -u +%H:%M:%S) $*" | tee -a "$out/log.txt" >&2; }

# the base side never carries the slowdown; the new side may
cat >"$out/base-wrapper" <<EOF
#!/bin/sh
unset NB_TEST_SLOWDOWN
exec "$bin" "\$@"
EOF
chmod +x "$out/base-wrapper"

# ab NAME I [ENV]: one A/B run and its compare; appends "exit regressed-cells
# slowed-kernel-regressed" to $out/NAME.txt
ab() {
	name=$1 i=$2 slow=${3-}
	f=$out/$name-$i.h5
	# shellcheck disable=SC2086
	if [ -n "$slow" ]; then
		NB_TEST_SLOWDOWN=$slow "$bin" run $run_args --baseline "$out/base-wrapper" \
			--force -o "$f" >"$f.log" 2>&1
	else
		"$bin" run $run_args --baseline "$out/base-wrapper" --force -o "$f" \
			>"$f.log" 2>&1
	fi
	rs=$?
	[ "$rs" -eq 0 ] || [ "$rs" -eq 2 ] || { log "$name $i: run failed ($rs)"; return; }
	judge "$name" "$bin" "$f.txt" "$f"
}

# judge NAME BIN TXT ARGS...: compare, one line of counts into NAME.txt
judge() {
	name=$1 jb=$2 txt=$3
	shift 3
	"$jb" compare "$@" >"$txt" 2>&1
	es=$?
	reg=$(grep -c ' REGRESSED  ' "$txt")
	hit=$(grep -c "$kernel.* REGRESSED" "$txt")
	echo "$es $reg $hit" >>"$out/$name.txt"
	log "$name: exit $es, $reg cells regressed ($hit of $kernel); load $(cut -d' ' -f1-3 /proc/loadavg)"
}

rate() {
	name=$1 label=$2
	[ -f "$out/$name.txt" ] || return
	awk -v l="$label" '{ t++; if ($1 == 3) e3++; if ($1 == 4) e4++; if ($1 == 0) e0++;
		if ($3 > 0) hit++; cells += $2 }
		END { printf "%-44s %2d comparisons: exit 3 in %2d, exit 4 in %2d, exit 0 in %2d; " \
			"slowed kernel REGRESSED in %2d; %d REGRESSED cells in all\n",
			l, t, e3, e4, e0, hit, cells }' "$out/$name.txt"
}

if [ "$rejudge" -eq 1 ]; then
	for set in aa load slow10 slow5 aa2 old oldinj; do
		[ -f "$out/$set.txt" ] || continue
		rm -f "$out/$set.txt"
		case $set in
		aa2|old|oldinj)
			pre=plain jb=$bin extra=
			[ "$set" = aa2 ] || { pre=old; jb=$old; }
			[ "$set" = oldinj ] && extra="--inject-slowdown 0.10"
			i=1
			while [ -f "$out/$pre-$i.h5" ]; do
				# shellcheck disable=SC2086
				judge "$set" "$jb" "$out/$set-$i.txt" $extra "$out/$pre-$((i - 1)).h5" \
					"$out/$pre-$i.h5"
				i=$((i + 1))
			done ;;
		*)
			i=1
			while [ -f "$out/$set-$i.h5" ]; do
				judge "$set" "$bin" "$out/$set-$i.h5.txt" "$out/$set-$i.h5"
				i=$((i + 1))
			done ;;
		esac
	done
	sets=
fi

for set in $sets; do
	rm -f "$out/$set.txt"
	case $set in
	aa)
		i=1
		while [ "$i" -le "$n" ]; do ab aa "$i"; i=$((i + 1)); done
		;;
	aa2)
		# two-file mode: N+1 plain runs, consecutive pairs
		i=0
		while [ "$i" -le "$n" ]; do
			# shellcheck disable=SC2086
			"$bin" run $run_args --force -o "$out/plain-$i.h5" >"$out/plain-$i.log" 2>&1
			if [ "$i" -ge 1 ]; then
				judge aa2 "$bin" "$out/plain-$i.txt" "$out/plain-$((i - 1)).h5" \
					"$out/plain-$i.h5"
			fi
			i=$((i + 1))
		done
		;;
	load)
		sh -c 'while :; do :; done' & l1=$!
		sh -c 'while :; do :; done' & l2=$!
		i=1
		while [ "$i" -le "$n" ]; do ab load "$i"; i=$((i + 1)); done
		kill "$l1" "$l2"
		;;
	slow10)
		i=1
		while [ "$i" -le "$n" ]; do ab slow10 "$i" "$kernel:0.10"; i=$((i + 1)); done
		;;
	slow5)
		i=1
		while [ "$i" -le "$n" ]; do ab slow5 "$i" "$kernel:0.05"; i=$((i + 1)); done
		;;
	old)
		[ -n "$old" ] || { log "old: no --old binary, skipped"; continue; }
		rm -f "$out/oldinj.txt"
		# the old run has no --processes/--baseline: the same options less those
		i=0
		while [ "$i" -le "$n" ]; do
			# shellcheck disable=SC2086
			"$old" run $run_args --force -o "$out/old-$i.h5" >"$out/old-$i.log" 2>&1
			if [ "$i" -ge 1 ]; then
				p=$out/old-$((i - 1)).h5 c=$out/old-$i.h5
				judge old "$old" "$out/old-$i.txt" "$p" "$c"
				judge oldinj "$old" "$out/oldinj-$i.txt" --inject-slowdown 0.10 "$p" "$c"
			fi
			i=$((i + 1))
		done
		;;
	ci)
		cat >"$out/slow-wrapper" <<EOF
#!/bin/sh
NB_TEST_SLOWDOWN=$kernel:0.10 exec "$bin" "\$@"
EOF
		chmod +x "$out/slow-wrapper"
		i=1
		while [ "$i" -le "$n" ]; do
			# shellcheck disable=SC2086
			"$(dirname "$0")/ci-gate.sh" --base-bin "$out/base-wrapper" \
				--new-bin "$out/slow-wrapper" --run-args "$run_args" \
				-o "$out/ci-$i" >"$out/ci-$i.txt" 2>&1
			es=$?
			reg=$(grep -c ' REGRESSED  ' "$out/ci-$i/gate.txt" 2>/dev/null)
			hit=$(grep -c "$kernel.* REGRESSED" "$out/ci-$i/gate.txt" 2>/dev/null)
			echo "$es ${reg:-0} ${hit:-0}" >>"$out/ci.txt"
			log "ci: exit $es; load $(cut -d' ' -f1-3 /proc/loadavg)"
			i=$((i + 1))
		done
		;;
	*) log "unknown set $set" ;;
	esac
done

{
	echo "gate-measure $(date -u +%Y-%m-%dT%H:%MZ) on $(hostname): $bin"
	echo "run options: $run_args; slowed kernel: $kernel"
	rate aa "A/A, A/B mode, one file"
	rate aa2 "A/A, one plain file per side"
	rate load "A/A, A/B mode, 2 busy processes"
	rate slow10 "10% slowdown, A/B mode"
	rate slow5 "5% slowdown, A/B mode"
	rate old "old gate: A/A, one file per side"
	rate oldinj "old gate: --inject-slowdown 0.10 (synthetic)"
	rate ci "10% slowdown, scripts/ci-gate.sh"
} | tee "$summary"
