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
for pc in hdf5 papi check openblas; do need "$pc"; done


echo "DEP_CFLAGS := $(pkg-config --cflags hdf5 papi openblas)"
# Debian ships no .pc for HDF5's high-level library: it sits beside libhdf5
echo "DEP_LIBS := -lhdf5_hl $(pkg-config --libs hdf5) $(pkg-config --libs papi) -lsde $(pkg-config --libs openblas) -lm"
echo "CHECK_CFLAGS := $(pkg-config --cflags check)"
echo "CHECK_LIBS := $(pkg-config --libs check)"

