#!/bin/sh
# The README's main job: the default sweep, the verification of every claim
# and kernel (into the same results file), and the report; prints its path.
#   scripts/main-job.sh NORMBENCH_BINARY [OUT_DIR]
set -u
bin=${1:?usage: scripts/main-job.sh NORMBENCH_BINARY [OUT_DIR]}
out=${2:-normbench-results/latest}
results="$out/run.h5"

mkdir -p "$out" || exit 1
"$bin" run --force -o "$results"
run_status=$?
# a written file with a failed accuracy check (2) or a failed block-suite
# self-check (5) is reported, not hidden; anything else stops the job
[ "$run_status" -eq 0 ] || [ "$run_status" -eq 2 ] || [ "$run_status" -eq 5 ] ||
	exit "$run_status"
"$bin" verify --into "$results"
verify_status=$?
# a verification failure (exit 2) is reported, not hidden: the report shows
# which claim or kernel failed, and the job still exits non-zero afterwards
[ "$verify_status" -eq 0 ] || [ "$verify_status" -eq 2 ] || exit "$verify_status"
"$bin" report "$results" --out "$out/report" || exit $?
echo "normbench: results $results"
echo "normbench: report  $out/report/index.html"
# the first failure wins: the run's status, else the verification's
[ "$run_status" -ne 0 ] && exit "$run_status"
exit "$verify_status"
