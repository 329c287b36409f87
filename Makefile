# normbench: one non-recursive Makefile, out-of-tree build folder.
#   make            build build/normbench
#   make check      unit tests (Check), the layering and documentation-link checks
#   make asan       the tests again under ASan + UBSan (build/asan)
#   make results    the main job: default sweep, verification, report
#   make demo       every forward kernel once, checked against ref/
#   make clean
#   make ARCH=arm64        the arm64 build (cross-compiled on x86 into
#                          build/arm64; docs/arm64.md), check-arm64 its tests
#                          under qemu-aarch64
# Missing Debian dependencies are installed (or the command printed) first.

.DEFAULT_GOAL := all
CC := gcc
SANITIZE ?=
# NB_ONEDNN=1: build the oneDNN entries where libdnnl-dev is installed
# (scripts/configure.sh, docs/vendor-peer.md; use a separate BUILD folder).
# Off by default until the accuracy suite's verdict on oneDNN's backward on
# outlier rows is classified (docs/vendor-peer.md, "open").
NB_ONEDNN ?= 0

# ARCH: the target; the host's own by default. arm64 on a non-Arm host is a
# cross build (gcc-aarch64-linux-gnu, Debian's arm64 libraries through
# multiarch) whose programs run under qemu-aarch64 ($(BUILD)/normbench-qemu).
HOST_ARCH := $(shell uname -m)
ifeq ($(HOST_ARCH),aarch64)
ARCH ?= arm64
else
ARCH ?= x86_64
endif
ifeq ($(ARCH),arm64)
ISA_DIRS := kernels/neon kernels/sve
ifneq ($(HOST_ARCH),aarch64)
CROSS := 1
CC := aarch64-linux-gnu-gcc
BUILD ?= build/arm64
DEPS_TARGET := arm64
endif
else
ISA_DIRS := kernels/avx2 kernels/avx512
endif
BUILD ?= build
# a cross build's programs run under user-mode emulation (qemu-user); the
# CPU it emulates is QEMU_CPU's (check-arm64 sets it)
RUN := $(if $(CROSS),qemu-aarch64,)

WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wdouble-promotion -Werror
OPT := -O2
ifneq ($(SANITIZE),)
OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
CFLAGS := -std=c17 -D_GNU_SOURCE $(OPT) -g -ffp-contract=off -fopenmp $(WARNINGS) -MMD -MP -I.
LDFLAGS := -fopenmp
ifneq ($(SANITIZE),)
LDFLAGS += -fsanitize=address,undefined
endif

# ISA files get their -m flags and nothing else does: never -march=native
AVX2_FLAGS := -mavx2 -mfma -mf16c
AVX512_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mfma -mf16c
# Arm: NEON (Advanced SIMD) is part of armv8-a; SVE kernels are vector-length
# agnostic and get +sve only
NEON_FLAGS := -march=armv8-a
SVE_FLAGS := -march=armv8-a+sve

ifeq ($(filter clean,$(MAKECMDGOALS)),)
include $(BUILD)/config.mk
endif

# dependencies first: config.mk is remade (and make restarts) when missing
$(BUILD)/config.mk: scripts/deps.sh scripts/configure.sh
	@mkdir -p $(BUILD)
	@scripts/deps.sh $(DEPS_TARGET)
	@CC=$(CC) NB_ONEDNN=$(NB_ONEDNN) scripts/configure.sh $(DEPS_TARGET) $(if $(CROSS),$(abspath $(BUILD))/sysroot) > $@.tmp && mv $@.tmp $@

LIB_SRC := $(wildcard common/*.c kernels/*.c kernels/portable/*.c \
	$(ISA_DIRS:%=%/*.c) ref/*.c verify/*.c reports/*.c) \
	$(filter-out bench/main.c,$(wildcard bench/*.c)) \
	$(if $(ONEDNN),$(wildcard kernels/onednn/*.c))
# tests/*_avx512.c hold x86 instructions
TEST_SRC := $(if $(filter arm64,$(ARCH)),$(filter-out tests/%_avx512.c,$(wildcard tests/*.c)),\
	$(wildcard tests/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libnormbench.a
BIN := $(BUILD)/normbench
TESTS := $(BUILD)/nb_tests

# The build stamp (bench/version.c, `normbench --version`, every results
# file): git revision, dirty state and the flags this build compiles with,
# taken at every make. scripts/build-stamp.sh rewrites the header only when
# its text changes, so only then is version.o recompiled and the programs
# relinked. Recorded flags: what shapes the code (not -W, -I, -MMD, -MP),
# then each ISA folder's own. GIT_REV and GIT_DIRTY on the command line
# (scripts/ci-gate.sh, for an archived tree) replace what git says.
ifeq ($(ARCH),arm64)
STAMP_ISA := neon: $(NEON_FLAGS); sve: $(SVE_FLAGS)
else
STAMP_ISA := avx2: $(AVX2_FLAGS); avx512: $(AVX512_FLAGS)
endif
STAMP_FLAGS := $(strip $(filter-out -W% -I% -MMD -MP,$(CFLAGS) $(DEP_CFLAGS))); $(STAMP_ISA)
STAMP := $(BUILD)/nb_build_stamp.h

.PHONY: all check check-arm64 check-arm64-ci asan clean demo doclinks layering results
all: $(BIN)

$(BUILD)/kernels/avx2/%.o: kernels/avx2/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(AVX2_FLAGS) -c $< -o $@

$(BUILD)/kernels/avx512/%.o: kernels/avx512/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/kernels/neon/%.o: kernels/neon/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(NEON_FLAGS) -c $< -o $@

$(BUILD)/kernels/sve/%.o: kernels/sve/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(SVE_FLAGS) -c $< -o $@

# tests may hold ISA-specific probes (the native conversion instructions);
# they are compiled with the AVX-512 flags and run only where the CPU has them
$(BUILD)/tests/%_avx512.o: tests/%_avx512.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(CHECK_CFLAGS) $(AVX512_FLAGS) -c $< -o $@

$(BUILD)/tests/%.o: tests/%.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(CHECK_CFLAGS) -c $< -o $@

$(STAMP): FORCE
	@mkdir -p $(@D)
	@scripts/build-stamp.sh $@ '$(STAMP_FLAGS)' '$(GIT_REV)' '$(GIT_DIRTY)'
FORCE:
.PHONY: FORCE

$(BUILD)/bench/version.o: $(STAMP)
$(BUILD)/bench/version.o: VERSION_EXTRA := -I$(BUILD)
$(BUILD)/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEP_CFLAGS) $(VERSION_EXTRA) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/bench/main.o $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(DEP_LIBS)

$(TESTS): $(TEST_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $^ -o $@ $(CHECK_LIBS) $(DEP_LIBS)

# ref/ and kernels/ must never include each other (an oracle must not share
# a bug with what it judges)
layering:
	@! grep -nE '#include *"kernels/' ref/*.c ref/*.h 2>/dev/null || \
		{ echo "layering: ref/ includes kernels/" >&2; exit 1; }
	@! grep -rnE '#include *"ref/' kernels/ 2>/dev/null || \
		{ echo "layering: kernels/ includes ref/" >&2; exit 1; }

# CK_DEFAULT_TIMEOUT: some accuracy sweeps take seconds, more under ASan
# the tests run normbench as NB_BIN: under emulation, through a wrapper
NB_BIN := $(abspath $(if $(CROSS),$(BUILD)/normbench-qemu,$(BIN)))
$(BUILD)/normbench-qemu: $(BIN)
	printf '#!/bin/sh\nexec qemu-aarch64 %s "$$@"\n' '$(abspath $(BIN))' > $@.tmp
	chmod +x $@.tmp && mv $@.tmp $@

# every relative link of README.md and docs/*.md resolves (sh + awk, < 1 s)
doclinks:
	@scripts/check-doc-links.sh

check: layering doclinks $(TESTS) $(BIN) $(NB_BIN)
	CK_DEFAULT_TIMEOUT=600 NB_BIN=$(NB_BIN) $(RUN) $(TESTS)

# arm64 under emulation (cross build; docs/arm64.md): NEON, and SVE at 128,
# 256, 512 and 2048 bits; check-arm64 runs every suite, check-arm64-ci the
# ISA and kernel suites (what .ci/run runs with NB_CI_ARM64=1)
check-arm64 check-arm64-ci:
	$(MAKE) ARCH=arm64 all build/arm64/nb_tests build/arm64/normbench-qemu
	scripts/check-arm64.sh build/arm64 $(if $(filter check-arm64-ci,$@),ci,full)

asan:
	$(MAKE) BUILD=build/asan SANITIZE=1 check

demo: $(BIN)
	$(BIN) demo

# the main job: default sweep + verification + report (README, first command)
results: $(BIN)
	scripts/main-job.sh $(BIN) $(OUT)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BUILD)/bench/main.d

# ---- fuzzing (issue 14, docs/results-files.md) ----
#   make fuzz      build $(BUILD)/fuzz/fuzz_readers (libFuzzer, clang) and
#                  generate its seed corpus from a real run
# The readers are compiled by clang with coverage and ASan/UBSan; the rest
# of the library comes from the normal (gcc) build.
FUZZ_CC ?= clang
FUZZ_DEPS := clang libclang-rt-14-dev
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -I. -MMD -MP \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC := common/nb_status.c bench/nb_h5io.c bench/nb_results.c bench/nb_publish.c \
	verify/nb_verify_file.c reports/nb_report_input.c bench/nb_compare.c
FUZZ_OBJ := $(FUZZ_SRC:%.c=$(BUILD)/fuzz/%.o)
FUZZ_BIN := $(BUILD)/fuzz/fuzz_readers

.PHONY: fuzz
fuzz: $(FUZZ_BIN) $(BIN)
	scripts/fuzz-seeds.sh $(BIN) $(BUILD)/fuzz/seeds
	@echo "fuzz: run e.g.  mkdir -p $(BUILD)/fuzz/corpus &&" \
		"LSAN_OPTIONS=suppressions=fuzz/lsan-hdf5.supp nice -n 19 $(FUZZ_BIN)" \
		"-detect_leaks=0 -timeout=10 -runs=1000000 $(BUILD)/fuzz/corpus $(BUILD)/fuzz/seeds"

$(BUILD)/fuzz/.deps: scripts/deps.sh
	@mkdir -p $(@D)
	@scripts/deps.sh $(FUZZ_DEPS)
	@touch $@

$(BUILD)/fuzz/%.o: %.c $(BUILD)/fuzz/.deps $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEP_CFLAGS) -c $< -o $@

$(FUZZ_BIN): $(BUILD)/fuzz/fuzz/fuzz_readers.o $(FUZZ_OBJ) $(LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $^ -o $@ -lgomp $(DEP_LIBS)

-include $(FUZZ_OBJ:.o=.d) $(BUILD)/fuzz/fuzz/fuzz_readers.d
