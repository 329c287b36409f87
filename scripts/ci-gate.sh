#!/bin/sh
# The CI regression gate recipe (docs/gate.md): build the base and the
# candidate in folders of their own, then one A/B run on this machine
# (`normbench run --baseline BASE`: the two builds' worker processes
# alternate) judged by `normbench compare FILE`. A base too old for worker
# processes (no --baseline) falls back to interleaved rounds of plain runs.
#
#   scripts/ci-gate.sh [OPTIONS] BASE_REV [CAND_REV]
#
# BASE_REV is a git revision (e.g. origin/main, a SHA); its tree is taken
# with `git archive`, so the checkout is never touched. CAND_REV defaults to
# the working tree as it is (committed or not). Exit status is compare's:
# 0 no regression, 1 error (also a failed build or run), 2 verification
# failed in the candidate, 3 performance regression, 4 inconclusive.
set -u

usage() {
	cat <<'EOF'
usage: scripts/ci-gate.sh [OPTIONS] BASE_REV [CAND_REV]
  -p, --processes N      worker processes per side of the A/B run (default:
                         normbench run's own)
  -r, --rounds N         plain interleaved runs per side instead of one A/B
                         run (default: A/B; forced with a base without
                         --baseline, or with --base/--new-run-args; then 5)
  -o, --out DIR          work and output folder (default ci-gate-out)
  --preset NAME          normbench run preset (default ci)
  --run-args "ARGS"      more `normbench run` options for both sides
  --base-run-args "ARGS" options for the base runs only
  --new-run-args "ARGS"  options for the candidate runs only (e.g. "--isa
                         portable": an end-to-end check that the gate catches
                         a real slowdown)
  --base-bin PATH        use this prebuilt normbench as the base (no build)
  --new-bin PATH         use this prebuilt normbench as the candidate
  --verify               also run `normbench verify --quick --into` on the
                         candidate's first round (its /verify failures gate)
  -j N                   make jobs (default: number of CPUs)
  --                     the rest goes to `normbench compare` (e.g.
                         --min-effect 0.1 --alpha 0.01 --exact)
Writes DIR/base-R.h5, DIR/new-R.h5, DIR/gate.txt, DIR/gate.md (for a
pull-request comment) and DIR/gate.json.
EOF
}

rounds=
procs=
out=ci-gate-out
preset=ci
run_args=
base_args=
new_args=
base_bin=
new_bin=
do_verify=0
jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
base_rev=
cand_rev=

while [ $# -gt 0 ]; do
	case $1 in
	-r|--rounds) rounds=${2:?}; shift 2 ;;
	-p|--processes) procs=${2:?}; shift 2 ;;
	-o|--out) out=${2:?}; shift 2 ;;
	--preset) preset=${2:?}; shift 2 ;;
	--run-args) run_args=${2-}; shift 2 ;;
	--base-run-args) base_args=${2-}; shift 2 ;;
	--new-run-args) new_args=${2-}; shift 2 ;;
	--base-bin) base_bin=${2:?}; shift 2 ;;
	--new-bin) new_bin=${2:?}; shift 2 ;;
	--verify) do_verify=1; shift ;;
	-j) jobs=${2:?}; shift 2 ;;
	-h|--help) usage; exit 0 ;;
	--) shift; break ;;
	-*) echo "ci-gate: unknown option $1" >&2; usage >&2; exit 1 ;;
	*)
		if [ -z "$base_rev" ]; then base_rev=$1
		elif [ -z "$cand_rev" ]; then cand_rev=$1
		else echo "ci-gate: too many revisions" >&2; exit 1
		fi
		shift ;;
	esac
done
case $rounds in ''|[1-9]|[1-9][0-9]) ;; *) echo "ci-gate: --rounds wants a number >= 1" >&2; exit 1 ;; esac
if [ -z "$base_bin" ] && [ -z "$base_rev" ]; then
	echo "ci-gate: give BASE_REV (or --base-bin)" >&2
	usage >&2
	exit 1
fi

mkdir -p "$out" || exit 1
out=$(cd "$out" && pwd)
log() { echo "ci-gate: $*" >&2; }
# the repository this script belongs to
top=$(cd "$(dirname "$0")/.." && pwd)

# Builds the tree of revision $1 ("" = the working tree) into $2; prints
# the binary's path.
build() {
	rev=$1 dir=$2
	mkdir -p "$dir" || return 1
	if [ -n "$rev" ]; then
		sha=$(git -C "$top" rev-parse --verify "$rev^{commit}") || return 1
		rm -rf "$dir/src" && mkdir -p "$dir/src" || return 1
		git -C "$top" archive "$sha" | tar -x -C "$dir/src" || return 1
		src=$dir/src
		short=$(git -C "$top" rev-parse --short=12 "$sha")
		dirty=0
	else
		src=$top
		short=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
		if git -C "$top" diff --quiet HEAD 2>/dev/null; then dirty=0; else dirty=1; fi
	fi
	log "building ${rev:-the working tree} ($short) in $dir/build"
	# GIT_REV/GIT_DIRTY on the command line: an archived tree is no repository
	make -C "$src" -j"$jobs" BUILD="$dir/build" GIT_REV="$short" GIT_DIRTY="$dirty" \
		"$dir/build/normbench" >"$dir/build.log" 2>&1 || {
		log "build of ${rev:-the working tree} failed; see $dir/build.log"
		tail -n 20 "$dir/build.log" >&2
		return 1
	}
	echo "$dir/build/normbench"
}

if [ -z "$base_bin" ]; then
	base_bin=$(build "$base_rev" "$out/base") || exit 1
fi
if [ -z "$new_bin" ]; then
	new_bin=$(build "$cand_rev" "$out/new") || exit 1
fi

# The A/B job: one run of the candidate with the base's worker processes
# interleaved, one file, one compare.
if [ -z "$rounds" ] && [ -z "$base_args$new_args" ] &&
	"$base_bin" run --help 2>/dev/null | grep -q -- '--baseline'; then
	pre="--preset $preset"
	case " $run_args " in *" --preset "*|*" --quick "*) pre= ;; esac
	[ -n "$procs" ] && pre="$pre --processes $procs"
	log "A/B run: $new_bin against $base_bin"
	# shellcheck disable=SC2086  # the option strings are word lists
	"$new_bin" run $pre $run_args --baseline "$base_bin" --force -o "$out/ab.h5" \
		>"$out/ab.log" 2>&1
	rs=$?
	if [ "$rs" -ne 0 ] && [ "$rs" -ne 2 ]; then
		log "the A/B run failed (exit $rs); see $out/ab.log"
		tail -n 20 "$out/ab.log" >&2
		exit 1
	fi
	# (--verify: an A/B file's /verify group is not judged; the cells' own
	# accuracy checks are)
	"$new_bin" compare "$out/ab.h5" "$@" --md "$out/gate.md" --json "$out/gate.json" \
		>"$out/gate.txt"
	status=$?
	cat "$out/gate.txt"
	log "exit $status; Markdown for the pull request: $out/gate.md"
	exit "$status"
fi
rounds=${rounds:-5}

# One run of one side. The order alternates (base first in odd rounds, the
# candidate first in even ones: ABBA), so a slow drift of the machine over
# the job cancels instead of favouring one side.
run_side() {
	side=$1 bin=$2 r=$3 extra=$4
	log "round $r/$rounds: $side"
	# a preset named in the run options wins over --preset (run takes one)
	pre="--preset $preset"
	case " $run_args $extra " in *" --preset "*|*" --quick "*) pre= ;; esac
	# shellcheck disable=SC2086  # the option strings are word lists
	"$bin" run $pre $run_args $extra --force -o "$out/$side-$r.h5" \
		>"$out/$side-$r.log" 2>&1 || {
		log "$side run of round $r failed; see $out/$side-$r.log"
		tail -n 20 "$out/$side-$r.log" >&2
		exit 1
	}
}

rm -f "$out"/base-*.h5 "$out"/new-*.h5
r=1
while [ "$r" -le "$rounds" ]; do
	if [ $((r % 2)) -eq 1 ]; then
		run_side base "$base_bin" "$r" "$base_args"
		run_side new "$new_bin" "$r" "$new_args"
	else
		run_side new "$new_bin" "$r" "$new_args"
		run_side base "$base_bin" "$r" "$base_args"
	fi
	r=$((r + 1))
done

if [ "$do_verify" -eq 1 ]; then
	log "verifying the candidate (quick)"
	"$new_bin" verify --quick --into "$out/new-1.h5" --force >"$out/verify.log" 2>&1
	vs=$?
	# 2 = a claim or kernel failed: recorded in new-1.h5, compare reports it
	if [ "$vs" -ne 0 ] && [ "$vs" -ne 2 ]; then
		log "verify failed to run (exit $vs); see $out/verify.log"
		exit 1
	fi
fi

# the round files go in front of compare's own options ("$@")
r=$rounds
while [ "$r" -ge 1 ]; do
	set -- --base "$out/base-$r.h5" --new "$out/new-$r.h5" "$@"
	r=$((r - 1))
done
# the candidate's compare reads the candidate's schema (and the base's, when
# the schema did not change; otherwise it says so and exits 1)
"$new_bin" compare "$@" --md "$out/gate.md" --json "$out/gate.json" >"$out/gate.txt"
status=$?
cat "$out/gate.txt"
log "exit $status; Markdown for the pull request: $out/gate.md"
exit "$status"
