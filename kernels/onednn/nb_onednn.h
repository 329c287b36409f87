/* oneDNN (Debian's libdnnl, C API) behind the registry's kernel signature:
 * what the registry and the tests need beyond the kernel functions. Built
 * only when scripts/configure.sh finds the library (NB_HAVE_ONEDNN). */
#ifndef NB_ONEDNN_H
#define NB_ONEDNN_H

#include "common/nb_problem.h"
#include "kernels/nb_kernels.h"

/* Creates (once per cell: kind, dtype, rows, n, eps, bias, threads) the
 * oneDNN primitives k needs for p, outside any timed loop. NB_ERR_UNSUPPORTED
 * with oneDNN's reason when the library cannot run it here (e.g. bf16 on a
 * CPU without AVX-512) or under p's conventions (eps outside the root). */
enum nb_status nb_onednn_prepare(const struct nb_kernel *k, const struct nb_problem *p);

/* "oneDNN: 2.6.3 built in (git ...), CPU runtime OpenMP (...), CPU ISA
 * avx512_core_bf16". */
const char *nb_onednn_describe(void);

/* Test hooks: a deliberately wrong wrapper (the verifier must catch it). */
enum nb_onednn_fault {
	NB_ONEDNN_FAULT_NONE,
	NB_ONEDNN_FAULT_EPS,      /* passes 10^4 eps to oneDNN */
	NB_ONEDNN_FAULT_NO_BIAS,  /* drops the bias (shift) */
};
void nb_onednn_set_fault(enum nb_onednn_fault fault);

#endif
