#!/bin/sh
# Seed corpus for the fuzzer (make fuzz), generated from real runs, never
# committed: a small results file, the same with /verify added, and a
# standalone verify file. Usage: scripts/fuzz-seeds.sh NORMBENCH OUTDIR
set -eu
bin=$1
out=$2
mkdir -p "$out"
[ -s "$out/run-verify.h5" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" run --quick --variants rmsnorm,layernorm --dtypes f32 --shapes 2x256 --threads 1 \
	--cache hot --dir fwd --samples 5 --min-sample-ms 1 --warmup-ms 1 --stream-ms 5 \
	--events none -o "$tmp/run.h5" >/dev/null
cp "$tmp/run.h5" "$out/run.h5"
"$bin" verify --quick --claims E6 --no-kernels --into "$tmp/run.h5" >/dev/null || [ $? -eq 2 ]
"$bin" verify --quick --claims E3 --kernels rmsnorm_fwd_f32_portable -o "$tmp/verify.h5" \
	>/dev/null || [ $? -eq 2 ]
cp "$tmp/verify.h5" "$out/verify.h5"
cp "$tmp/run.h5" "$out/run-verify.h5"
echo "fuzz seeds in $out: $(ls "$out" | tr '\n' ' ')"
