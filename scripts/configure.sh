#!/bin/sh
# Writes the build configuration (compiler and linker flags of the
# dependencies, found with pkg-config) as make variables on stdout.
set -eu

need() {
	if ! pkg-config --exists "$1"; then
		echo "normbench: pkg-config cannot find '$1' (run scripts/deps.sh)" >&2
		exit 1
	fi
}
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

