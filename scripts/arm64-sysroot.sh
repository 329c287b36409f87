#!/bin/sh
# The arm64 cross build's one non-multiarch piece: Debian 12's
# libhdf5-dev:arm64 cannot be installed beside libhdf5-dev (amd64; both own
# /usr/include/hdf5/serial), so its headers are unpacked into a sysroot under
# the build folder (apt-get download + dpkg -x; nothing is installed) and its
# link names point at the arm64 runtime libraries that multiarch installs
# (libhdf5-103-1:arm64, libhdf5-hl-100:arm64, from scripts/deps.sh arm64).
# Usage: scripts/arm64-sysroot.sh DIR   (e.g. build/arm64/sysroot)
set -eu

dir=${1:?usage: scripts/arm64-sysroot.sh DIR}
libdir=/usr/lib/aarch64-linux-gnu
[ -f "$dir/usr/include/hdf5/serial/hdf5.h" ] && [ -e "$dir/lib/libhdf5.so" ] && exit 0

for lib in libhdf5_serial.so.103 libhdf5_serial_hl.so.100; do
	if [ ! -e "$libdir/$lib" ]; then
		echo "normbench: $libdir/$lib is missing (run scripts/deps.sh arm64)" >&2
		exit 1
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download writes into the current directory as user _apt when it can
chmod 777 "$tmp"
(cd "$tmp" && apt-get download -q libhdf5-dev:arm64 >&2) || {
	echo "normbench: 'apt-get download libhdf5-dev:arm64' failed (is arm64 a dpkg architecture? scripts/deps.sh arm64)" >&2
	exit 1
}
mkdir -p "$dir.tmp"
dpkg -x "$tmp"/libhdf5-dev_*_arm64.deb "$dir.tmp"
mkdir -p "$dir.tmp/lib"
ln -sf "$libdir/libhdf5_serial.so.103" "$dir.tmp/lib/libhdf5.so"
ln -sf "$libdir/libhdf5_serial_hl.so.100" "$dir.tmp/lib/libhdf5_hl.so"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
