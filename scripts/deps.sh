#!/bin/sh
# Checks the Debian packages normbench needs and installs the missing ones
# (apt-get when run as root; otherwise prints the exact command and fails).
# scripts/deps.sh arm64: what the arm64 cross build and its emulated tests
# need on an x86 host (docs/arm64.md); without an argument nothing of it.
set -u

# (arguments: check those packages instead, e.g. the fuzzer's)
packages="pkg-config libpapi-dev libhdf5-dev hdf5-tools gnuplot-nox check libopenblas-openmp-dev"
# optional: installed when we can (root), otherwise only mentioned; the
# build leaves the oneDNN entries out without it (scripts/configure.sh)
optional=""
case "${1:-}" in
"") optional="libdnnl-dev" ;;
arm64) ;;
*) packages=$* ;;
esac

# ---- arm64 cross build (make ARCH=arm64): the cross compiler, qemu-user,
# and Debian's arm64 libraries through multiarch. libhdf5-dev:arm64 is not
# co-installable with libhdf5-dev, so only its runtime libraries come from
# here; scripts/arm64-sysroot.sh unpacks its headers under the build folder.
if [ "${1:-}" = arm64 ]; then
	packages="$packages gcc-aarch64-linux-gnu qemu-user libc6-dev:arm64 libgomp1:arm64 \
libpapi-dev:arm64 libopenblas-dev:arm64 check:arm64 libhdf5-103-1:arm64 libhdf5-hl-100:arm64"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "normbench: the arm64 build needs: sudo dpkg --add-architecture arm64" >&2
			exit 1
		fi
		dpkg --add-architecture arm64 || exit 1
	fi
fi

installed() {
	case "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" in
	*"install ok installed"*) return 0 ;;
	*) return 1 ;;
	esac
}

missing=""
for pkg in $packages; do
	installed "$pkg" || missing="$missing $pkg"
done
for pkg in $optional; do
	installed "$pkg" && continue
	if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
		missing="$missing $pkg"
	else
		echo "normbench: optional package $pkg not installed (its entries are left out)" >&2
	fi
done

[ -z "$missing" ] && exit 0

echo "normbench: missing Debian packages:$missing" >&2
if ! command -v apt-get >/dev/null 2>&1; then
	echo "normbench: no apt-get here; install the equivalents of:$missing" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "normbench: run this as root, then build again:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "normbench: installing them with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2 && apt-get install -y -q $missing >&2 || {
	echo "normbench: apt-get failed; try: apt-get update && apt-get install -y$missing" >&2
	exit 1
}
