/* `normbench list`: the registry as a table, and what this CPU allows. */
#include <stdio.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "kernels/nb_kernels.h"

int nb_cmd_list(int argc, char **argv)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	if (argc > 1) {
		if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
			printf("usage: normbench list\n"
			       "Lists every registered kernel: variant, direction, dtype,\n"
			       "accumulation, ISA, algorithm, passes over x, in-place,\n"
			       "and whether this CPU (under NB_ISA) can run it.\n");
			return NB_EXIT_OK;
		}
		fprintf(stderr, "normbench list: unexpected argument '%s'\n", argv[1]);
		return NB_EXIT_ERROR;
	}
	printf("CPU ISA: %s, cap: %s (set NB_ISA to one of " NB_ISA_LIST " to lower it)\n",
	       nb_isa_name(nb_isa_detected()), nb_isa_name(nb_isa_cap()));
	printf("%s\n\n", nb_external_summary());
	printf("%-40s %-10s %-4s %-5s %-4s %-9s %-8s %6s %7s %s\n", "name", "variant",
	       "dir", "dtype", "acc", "isa", "algo", "passes", "inplace", "usable");
	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		printf("%-40s %-10s %-4s %-5s %-4s %-9s %-8s %6d %7s %s\n", k->name,
		       nb_variant_name(k->variant), nb_direction_name(k->dir),
		       nb_dtype_traits[k->dtype].name, nb_dtype_traits[k->acc].name,
		       nb_isa_name(k->isa), k->algo, k->passes,
		       k->inplace_ok ? "yes" : "no", nb_isa_usable(k->isa) ? "yes" : "no");
	}
	return NB_EXIT_OK;
}
