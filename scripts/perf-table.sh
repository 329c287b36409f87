#!/bin/sh
# Runs ONE interleaved normbench run of f32 forward LayerNorm and RMSNorm
# (normbench's best kernels, and oneDNN's LayerNorm beside them in the same
# groups) over the shapes of issue 18 at 1 and 2 threads, then prints a
# dated Markdown table: median us, the run's own copy limit per cell, and
# the ratios (docs/vendor-peer.md).
#   scripts/perf-table.sh [BIN [RESULTS.h5]]
# BIN: build/normbench by default; RESULTS.h5: where the run goes (default
# normbench-results/perf-table-<UTC time>.h5). Extra run options can be given
# in PERF_TABLE_OPTS (e.g. "--samples 30"). Exit status: normbench's (the
# table is printed whenever the file was written: 0 or 2).
set -eu

bin=${1:-build/normbench}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=${2:-normbench-results/perf-table-$stamp.h5}
shapes=1x4096,64x1024,512x4096,4096x4096,16384x4096,4096x8192

if [ ! -x "$bin" ]; then
	echo "perf-table: no normbench binary at $bin (run make first)" >&2
	exit 1
fi
if ! "$bin" list | grep -q '^layernorm_fwd_f32_onednn '; then
	echo "perf-table: this normbench has no oneDNN entries ($("$bin" list | grep '^oneDNN')):" \
		"the table needs them" >&2
	exit 1
fi
mkdir -p "$(dirname "$out")"
csv=$(mktemp -d "${TMPDIR:-/tmp}/perf-table.XXXXXX")
trap 'rm -rf "$csv"' EXIT INT TERM

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
rc=0
# shellcheck disable=SC2086 # PERF_TABLE_OPTS is a list of options
"$bin" run --suite kernel --variants layernorm,rmsnorm --dtypes f32 --dir fwd \
	--shapes "$shapes" --threads 1,2 --cache hot --impl best \
	${PERF_TABLE_OPTS:-} -o "$out" >&2 || rc=$?
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
	echo "perf-table: normbench run failed (exit $rc)" >&2
	exit "$rc"
fi
"$bin" export "$out" --csv --out "$csv" --force >/dev/null

# meta.csv: attribute,value; cells.csv: a header row of field names. Fields
# may be quoted (notes hold commas): split them properly.
awk -v load_before="$load_before" -v load_after="$load_after" -v out="$out" '
function split_csv(line, f,    n, i, c, q, cur) {
	n = 0; cur = ""; q = 0
	for (i = 1; i <= length(line); i++) {
		c = substr(line, i, 1)
		if (q) {
			if (c == "\"" && substr(line, i + 1, 1) == "\"") { cur = cur "\""; i++ }
			else if (c == "\"") q = 0
			else cur = cur c
		} else if (c == "\"") q = 1
		else if (c == ",") { f[++n] = cur; cur = "" }
		else cur = cur c
	}
	f[++n] = cur
	return n
}
FNR == 1 { file++ }
file == 1 && FNR > 1 { split_csv($0, f); meta[f[1]] = f[2]; next }
file == 2 && FNR == 1 { n = split_csv($0, h); for (i = 1; i <= n; i++) col[h[i]] = i; next }
file == 2 {
	split_csv($0, f)
	if (f[col["suite"]] != "kernel") next
	key = f[col["rows"]] "x" f[col["d"]] SUBSEP f[col["threads"]]
	if (!(key in seen)) { seen[key] = 1; order[++nkeys] = key }
	us = f[col["median_s"]] * 1e6
	if (f[col["impl"]] ~ /_onednn$/) { dnn[key] = us; next }
	if (f[col["variant"]] == "layernorm") { ln[key] = us; lnf[key] = f[col["fraction"]]; lni[key] = f[col["impl"]] }
	if (f[col["variant"]] == "rmsnorm") {
		rms[key] = us; rmsf[key] = f[col["fraction"]]; rmsi[key] = f[col["impl"]]
		lim[key] = f[col["bytes"]] / (f[col["limit_gbps"]] * 1e9) * 1e6
	}
}
function fmt(v) { return v == "" ? "" : v >= 100 ? sprintf("%.0f", v) : v >= 10 ? sprintf("%.1f", v) : sprintf("%.2f", v) }
END {
	printf "### f32 forward, normbench beside oneDNN (median us, one interleaved run)\n\n"
	printf "- date (UTC): %s; normbench %s, commit %s%s\n", meta["utc_time"], meta["normbench_version"], meta["git_rev"], meta["git_dirty"] == "1" ? " (dirty)" : ""
	printf "- host: %s, %s, %s CPUs; %s\n", meta["host"], meta["cpu_model"], meta["cores"], meta["virtualized"] == "1" ? "virtualized" : "bare metal or unknown"
	printf "- load average (1, 5, 15 min): %s before, %s after the run\n", load_before, load_after
	printf "- oneDNN: %s\n", meta["vendor_library"]
	printf "- kernels: %s, %s; samples per cell: %s; file: %s\n", lni[order[1]], rmsi[order[1]], meta["min_samples"], out
	printf "- command: %s\n\n", meta["command_line"]
	printf "| shape | threads | LayerNorm | oneDNN 2.6 LN | RMSNorm | copy limit | LN / limit | RMS / limit | oneDNN LN / normbench LN |\n"
	printf "|---|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i <= nkeys; i++) {
		k = order[i]; split(k, p, SUBSEP)
		sub(/x/, "\303\227", p[1])
		printf "| %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s |\n", p[1], p[2], fmt(ln[k]), fmt(dnn[k]), fmt(rms[k]), fmt(lim[k]), lnf[k], rmsf[k], (k in dnn) && ln[k] > 0 ? sprintf("%.2f", dnn[k] / ln[k]) : ""
	}
	printf "\ncopy limit: the run's own limit for the RMSNorm cell (the faster of an ordinary and a\n"
	printf "streaming-store copy at its size, per thread count) applied to the bytes it must move;\n"
	printf "LN / limit and RMS / limit: each cell's own fraction of its limit (limit time / median).\n"
}' "$csv/meta.csv" "$csv/cells.csv"
exit "$rc"
