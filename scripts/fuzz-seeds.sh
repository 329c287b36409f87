#!/bin/sh
# Seed corpus for the fuzzer (make fuzz), generated from real runs, never
# committed: a small results file, the same with /verify added, a standalone
# verify file, an A/B run (run --baseline, for `compare FILE`) and an
# activations file (verify --make-outliers, for verify --input).
# Usage: scripts/fuzz-seeds.sh NORMBENCH OUTDIR
set -eu
bin=$1
out=$2
mkdir -p "$out"
[ -s "$out/outliers.h5" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
small="--quick --variants rmsnorm,layernorm --dtypes f32 --shapes 2x256 --threads 1
	--cache hot --dir fwd --min-sample-ms 1 --warmup-ms 1 --stream-ms 5 --events none"
# shellcheck disable=SC2086
"$bin" run $small --samples 5 -o "$tmp/run.h5" >/dev/null
cp "$tmp/run.h5" "$out/run.h5"
"$bin" verify --quick --claims E6 --no-kernels --into "$tmp/run.h5" >/dev/null || [ $? -eq 2 ]
"$bin" verify --quick --claims E3 --kernels rmsnorm_fwd_f32_portable -o "$tmp/verify.h5" \
	>/dev/null || [ $? -eq 2 ]
cp "$tmp/verify.h5" "$out/verify.h5"
cp "$tmp/run.h5" "$out/run-verify.h5"
# shellcheck disable=SC2086
"$bin" run $small --samples 6 --processes 2 --baseline "$bin" -o "$tmp/ab.h5" >/dev/null ||
	[ $? -eq 5 ]
cp "$tmp/ab.h5" "$out/ab.h5"
"$bin" verify --make-outliers "$tmp/outliers.h5:/x" --shape 4x64 >/dev/null
cp "$tmp/outliers.h5" "$out/outliers.h5"
echo "fuzz seeds in $out: $(ls "$out" | tr '\n' ' ')"
