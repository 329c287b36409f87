#!/bin/sh
# The arm64 build's tests under user-mode emulation (qemu-aarch64): the Check
# suites and `normbench verify --quick`, once with NEON only (SVE off) and
# once per SVE vector length: 128, 256, 512 and 2048 bits. Emulation checks
# correctness only; no timing here means anything.
#   scripts/check-arm64.sh BUILD_DIR full   every suite + verify --quick
#                                            (make check-arm64)
#   scripts/check-arm64.sh BUILD_DIR ci     a subset that fits CI's budget:
#                                            isa, convert_isa, kernel_edges
#                                            (special values, thread invariance,
#                                            in place) in every configuration;
#                                            hardrows (every usable kernel
#                                            against its derived bounds on the
#                                            hard-row corpus) at SVE 128 only,
#                                            where NEON and SVE kernels are both
#                                            usable; no verify (40-55 min per
#                                            configuration under emulation)
#                                            (make check-arm64-ci, .ci/run;
#                                            measured time: docs/arm64.md)
set -eu

build=${1:?usage: scripts/check-arm64.sh BUILD_DIR full|ci}
mode=${2:-full}
bin=$build/normbench
tests=$build/nb_tests
wrapper=$build/normbench-qemu
case "$mode" in
full) suites="" ;;
ci) suites="isa convert_isa kernel_edges" ;;
*) echo "check-arm64: mode must be full or ci, not '$mode'" >&2; exit 1 ;;
esac
for f in "$bin" "$tests" "$wrapper"; do
	[ -x "$f" ] || { echo "check-arm64: $f is missing (make ARCH=arm64 first)" >&2; exit 1; }
done
command -v qemu-aarch64 >/dev/null || { echo "check-arm64: no qemu-aarch64 (scripts/deps.sh arm64)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=""
# name:QEMU_CPU:ISA the kernels must detect (sve-default-vector-length in bytes)
for cfg in neon:max,sve=off:neon sve128:max,sve-default-vector-length=16:sve \
	sve256:max,sve-default-vector-length=32:sve sve512:max,sve-default-vector-length=64:sve \
	sve2048:max,sve-default-vector-length=256:sve; do
	name=${cfg%%:*}
	rest=${cfg#*:}
	export QEMU_CPU=${rest%:*}
	want=${rest##*:}
	start=$(date +%s)
	# a misconfigured emulator would silently test the portable kernels only
	got=$(qemu-aarch64 "$bin" list | sed -n 's/^CPU ISA: \([a-z0-9]*\),.*/\1/p')
	if [ "$got" != "$want" ]; then
		echo "check-arm64 [$name]: the emulated CPU ($QEMU_CPU) runs '$got', expected '$want'" >&2
		failed="$failed $name"
		continue
	fi
	echo "check-arm64 [$name]: QEMU_CPU=$QEMU_CPU, ISA $got"
	if [ -z "$suites" ]; then
		CK_DEFAULT_TIMEOUT=3000 NB_BIN=$wrapper nice -n 10 qemu-aarch64 "$tests" ||
			failed="$failed $name:tests"
	else
		# hardrows once: its long-double (binary128) bounds are slow
		run=$suites
		[ "$name" = sve128 ] && run="$run hardrows"
		for s in $run; do
			t0=$(date +%s)
			CK_RUN_SUITE=$s CK_DEFAULT_TIMEOUT=3000 NB_BIN=$wrapper \
				nice -n 10 qemu-aarch64 "$tests" || failed="$failed $name:$s"
			echo "check-arm64 [$name]: $s $(( $(date +%s) - t0 )) s"
		done
	fi
	if [ "$mode" = full ]; then
		nice -n 10 qemu-aarch64 "$bin" verify --quick -o "$tmp/verify-$name.h5" \
			>"$tmp/verify.log" 2>&1 || { cat "$tmp/verify.log"; failed="$failed $name:verify"; }
		tail -n 1 "$tmp/verify.log"
	fi
	echo "check-arm64 [$name]: $(( $(date +%s) - start )) s"
done
unset QEMU_CPU
if [ -n "$failed" ]; then
	echo "check-arm64: FAILED:$failed" >&2
	exit 1
fi
echo "check-arm64: all configurations passed ($mode)"
