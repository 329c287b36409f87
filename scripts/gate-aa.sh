#!/bin/sh
# Calibrates the regression gate on this machine: runs the same build N
# times (A/A), counts false alarms of `normbench compare` between runs, and
# measures the smallest slowdown it catches by scaling NEW's samples
# (--inject-slowdown) of those same A/A pairs.
#
#   scripts/gate-aa.sh [-n RUNS] [-r ROUNDS] [-b NORMBENCH] [-o DIR]
#                      [--run-args "ARGS"] [--reuse] [-- COMPARE_OPTIONS]
set -u

usage() {
	cat <<'EOF'
usage: scripts/gate-aa.sh [OPTIONS] [-- COMPARE_OPTIONS]
  -n RUNS           runs of the same build (default 21: 20 one-run comparisons)
  -r ROUNDS         rounds per side of the pooled comparisons (default 3)
  -b NORMBENCH      the binary (default build/normbench)
  -o DIR            folder of the runs and the summary (default gate-aa-out)
  --run-args "ARGS" `normbench run` options (default "--preset ci --suite kernel")
  --reuse           keep the runs already in DIR (aa-01.h5 ...), run only the rest
  --slowdowns LIST  injected slowdowns (default "0.03 0.05 0.07 0.10 0.15 0.20 0.30")
One-run A/A pairs are consecutive runs (i, i+1); pooled pairs take 2*ROUNDS
consecutive runs, odd ones as BASE and even ones as NEW (the interleaving of
scripts/ci-gate.sh). Writes DIR/summary.md and prints it.
EOF
}

runs=21
rounds=3
bin=build/normbench
out=gate-aa-out
run_args="--preset ci --suite kernel"
reuse=0
slowdowns="0.03 0.05 0.07 0.10 0.15 0.20 0.30"
while [ $# -gt 0 ]; do
	case $1 in
	-n) runs=${2:?}; shift 2 ;;
	-r) rounds=${2:?}; shift 2 ;;
	-b) bin=${2:?}; shift 2 ;;
	-o) out=${2:?}; shift 2 ;;
	--run-args) run_args=${2-}; shift 2 ;;
	--reuse) reuse=1; shift ;;
	--slowdowns) slowdowns=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	*) echo "gate-aa: unknown option $1" >&2; usage >&2; exit 1 ;;
	esac
done
case $runs in ''|*[!0-9]*) echo "gate-aa: -n wants a number" >&2; exit 1 ;; esac
case $rounds in ''|*[!0-9]*|0) echo "gate-aa: -r wants a number >= 1" >&2; exit 1 ;; esac
[ "$runs" -ge 2 ] || { echo "gate-aa: -n must be >= 2" >&2; exit 1; }
[ -x "$bin" ] || { echo "gate-aa: no binary $bin (make first, or -b)" >&2; exit 1; }
mkdir -p "$out" || exit 1

name() { printf '%s/aa-%02d.h5' "$out" "$1"; }

# ---- the runs ----
start=$(date +%s)
i=1
while [ "$i" -le "$runs" ]; do
	f=$(name "$i")
	if [ "$reuse" -eq 1 ] && [ -s "$f" ]; then
		i=$((i + 1))
		continue
	fi
	echo "gate-aa: run $i/$runs (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	# shellcheck disable=SC2086  # run_args is a word list
	"$bin" run $run_args --force -o "$f" >"$out/run-$i.log" 2>&1 || {
		echo "gate-aa: run $i failed; see $out/run-$i.log" >&2
		exit 1
	}
	echo "$i $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/load.txt"
	i=$((i + 1))
done
elapsed=$(( $(date +%s) - start ))

# The compare options after "--" (a word list: no spaces inside an option).
copts="$*"

# compare ARGS... -> "exit cells regressed" from the --quiet summary line
judge() {
	res=$("$bin" compare --quiet "$@" 2>>"$out/compare.err")
	code=$?
	line=$(echo "$res" | head -n 1)
	cells=$(echo "$line" | sed -n 's/.*: \([0-9]*\) cells matched: \([0-9]*\) REGRESSED.*/\1/p')
	reg=$(echo "$line" | sed -n 's/.*: \([0-9]*\) cells matched: \([0-9]*\) REGRESSED.*/\2/p')
	echo "$code ${cells:-0} ${reg:-0}"
}

# the pooled pair starting at run w: --base w, w+2, ... --new w+1, w+3, ...
pooled_args() {
	w=$1 k=0 args=
	while [ "$k" -lt "$rounds" ]; do
		args="$args --base $(name $((w + 2 * k))) --new $(name $((w + 2 * k + 1)))"
		k=$((k + 1))
	done
	echo "$args"
}

# Judges every pair of one mode ("single" or "pooled") with the extra
# compare options $2; prints "comparisons alarms cells regressed errors".
sweep() {
	mode=$1 extra=$2
	n=0 alarms=0 cells=0 reg=0 errs=0
	if [ "$mode" = single ]; then last=$((runs - 1)); else last=$((runs - 2 * rounds + 1)); fi
	w=1
	while [ "$w" -le "$last" ]; do
		if [ "$mode" = single ]; then
			files="$(name "$w") $(name $((w + 1)))"
		else
			files=$(pooled_args "$w")
		fi
		# shellcheck disable=SC2086,SC2046  # word lists without spaces
		set -- $(judge $copts $extra $files)
		n=$((n + 1))
		cells=$((cells + $2))
		reg=$((reg + $3))
		[ "$1" -eq 3 ] && alarms=$((alarms + 1))
		[ "$1" -eq 1 ] && errs=$((errs + 1))
		w=$((w + 1))
	done
	echo "$n $alarms $cells $reg $errs"
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else printf "-" }'; }

summary=$out/summary.md
{
	echo "### Gate calibration (A/A) on $(hostname)"
	echo
	echo "$runs runs of \`$bin run $run_args\` in $elapsed s; load average during the"
	echo "runs: $(awk '{ s += $2; if ($2 > m) m = $2 } END { if (NR) printf "mean %.2f, max %.2f", s / NR, m }' "$out/load.txt" 2>/dev/null)"
	echo "($(nproc) CPUs). compare options: ${copts:-defaults}."
	echo
	echo "| mode | injected slowdown | comparisons | failed (exit 3) | cells flagged |"
	echo "|---|---:|---:|---:|---:|"
	for mode in single pooled; do
		if [ "$mode" = pooled ] && [ "$runs" -lt $((2 * rounds)) ]; then continue; fi
		label="1 run a side"
		[ "$mode" = pooled ] && label="$rounds rounds a side"
		for s in 0 $slowdowns; do
			if [ "$s" = 0 ]; then
				res=$(sweep "$mode" "")
			else
				res=$(sweep "$mode" "--inject-slowdown $s")
			fi
			# shellcheck disable=SC2086
			set -- $res
			n=$1 al=$2 ce=$3 rg=$4 er=$5
			extra=
			[ "$er" -gt 0 ] && extra=" ($er errors)"
			echo "| $label | $(awk -v s="$s" 'BEGIN { printf "%g%%", 100 * s }') | $n | $al ($(pct "$al" "$n"))$extra | $rg of $ce ($(pct "$rg" "$ce")) |"
		done
	done
	echo
	echo "A/A rows (0%) are false alarms: every comparison is the same build. Other"
	echo "rows: NEW's samples of the same pairs times 1 + slowdown."
} >"$summary"
cat "$summary"
