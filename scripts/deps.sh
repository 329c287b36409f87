#!/bin/sh
# Checks the Debian packages normbench needs and installs the missing ones
# (apt-get when run as root; otherwise prints the exact command and fails).
set -u

# (arguments: check those packages instead, e.g. the fuzzer's)
packages=${*:-"pkg-config libpapi-dev libhdf5-dev hdf5-tools gnuplot-nox check libopenblas-openmp-dev"}

missing=""
for pkg in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) missing="$missing $pkg" ;;
	esac
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
