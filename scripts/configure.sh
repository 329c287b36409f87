#!/bin/sh
# Writes the build configuration (compiler and linker flags of the
# dependencies, found with pkg-config) as make variables on stdout.
# scripts/configure.sh arm64: the cross build's (arm64 .pc files of
# multiarch, HDF5 from the sysroot of scripts/arm64-sysroot.sh).
set -eu

target=${1:-}

need() {
	if ! pkg-config --exists "$1"; then
		echo "normbench: pkg-config cannot find '$1' (run scripts/deps.sh $target)" >&2
		exit 1
	fi
}

if [ "$target" = arm64 ]; then
	# only the arm64 .pc files: the host's must not leak into the cross build
	export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
	sysroot=${2:-$(pwd)/build/arm64/sysroot}
	scripts/arm64-sysroot.sh "$sysroot"
	for pc in papi check openblas; do need "$pc"; done
	echo "DEP_CFLAGS := -I$sysroot/usr/include/hdf5/serial $(pkg-config --cflags papi openblas)"
	echo "DEP_LIBS := -L$sysroot/lib -lhdf5_hl -lhdf5 $(pkg-config --libs papi) -lsde $(pkg-config --libs openblas) -lm"
	echo "CHECK_CFLAGS := $(pkg-config --cflags check)"
	echo "CHECK_LIBS := $(pkg-config --libs check)"
	exit 0
fi

for pc in hdf5 papi check; do need "$pc"; done
# OpenBLAS's OpenMP build (libopenblas-openmp-dev), whatever the system
# default is: BLAS then runs in the caller's libgomp team, one thread pool
# with the norm kernels (issue 13); rpath so the loader takes that build too
blas_dir=/usr/lib/$(gcc -print-multiarch)/openblas-openmp
if [ ! -f "$blas_dir/pkgconfig/openblas.pc" ]; then
	echo "normbench: OpenBLAS's OpenMP build is missing ($blas_dir; run scripts/deps.sh)" >&2
	exit 1
fi
blas() { PKG_CONFIG_PATH="$blas_dir/pkgconfig" pkg-config "$@" openblas; }


echo "DEP_CFLAGS := $(pkg-config --cflags hdf5 papi) $(blas --cflags)"
# Debian ships no .pc for HDF5's high-level library: it sits beside libhdf5
echo "DEP_LIBS := -lhdf5_hl $(pkg-config --libs hdf5) $(pkg-config --libs papi) -lsde $(blas --libs) -Wl,-rpath,$blas_dir -lm"
echo "CHECK_CFLAGS := $(pkg-config --cflags check)"
echo "CHECK_LIBS := $(pkg-config --libs check)"

# oneDNN (libdnnl-dev), optional: the vendor library as registry entries of
# its own (kernels/onednn/). Debian ships no .pc for it: probe the header and
# the library with the compiler; only when asked (make NB_ONEDNN=1).
onednn_probe='#include <oneapi/dnnl/dnnl.h>
int main(void) { return dnnl_version()->major < 2 || !(dnnl_use_scale | dnnl_use_shift); }'
if [ "${NB_ONEDNN:-1}" = 0 ]; then
	echo "ONEDNN :="
	echo "DEP_CFLAGS += -DNB_ONEDNN_DISABLED"
elif printf '%s\n' "$onednn_probe" | ${CC:-gcc} -x c - -ldnnl -o /dev/null 2>/dev/null; then
	echo "ONEDNN := 1"
	echo "DEP_CFLAGS += -DNB_HAVE_ONEDNN"
	echo "DEP_LIBS += -ldnnl"
else
	echo "normbench: oneDNN (libdnnl-dev) not found: its entries are left out" >&2
	echo "ONEDNN :="
fi
