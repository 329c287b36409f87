/* The STREAM-like inner loops of the roofline measurement (bench/nb_stream.c),
 * in ISA files because the streaming (non-temporal) stores need AVX2/AVX-512.
 * The caller picks one at run time with nb_isa_usable. */
#ifndef NB_STREAM_COPY_H
#define NB_STREAM_COPY_H

#include <stddef.h>

/*
 * All three: n doubles, a and b 64-byte aligned, n a multiple of 64, a and b
 * do not overlap. Single-threaded (the caller splits the range per thread).
 *  read:    returns sum of a[i] in double (8 vector accumulators)
 *  copy:    b[i] = a[i] with ordinary vector stores
 *  copy_nt: b[i] = a[i] with non-temporal stores, then sfence
 */
double nb_stream_read_avx512(const double *a, size_t n);
void nb_stream_copy_avx512(double *restrict b, const double *restrict a, size_t n);
void nb_stream_copy_nt_avx512(double *restrict b, const double *restrict a, size_t n);

double nb_stream_read_avx2(const double *a, size_t n);
void nb_stream_copy_avx2(double *restrict b, const double *restrict a, size_t n);
void nb_stream_copy_nt_avx2(double *restrict b, const double *restrict a, size_t n);

#endif
