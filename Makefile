# blockstm build.
#
#   make            library, benchmark, test drivers -> build/
#   make test       install missing Debian packages, build, run every test:
#                   unit (Criterion), differential, stress, fuzz corpus replay,
#                   a smoke run of the benchmark driver (bench-smoke),
#                   then the unit tests, corpus replay, the benchmark's smoke
#                   run and a quick differential run under ASan+UBSan, and the
#                   stress and differential drivers under TSan
#   make asan-test  only the ASan+UBSan part; make tsan-test only the TSan part
#   make bench      build and run the benchmark's default sweep
#   make fuzz       libFuzzer binaries (clang) in build-fuzz/
#   make install    PREFIX=/usr/local: headers (blockstm.h, blockstm_vm.h),
#                   libraries, pkg-config file
#   make clean
#
# Sources are found by wildcard: every src/*/*.c goes into the library;
# tests/unit/test_*.c are Criterion programs; tests/diff/*.c and
# tests/stress/*.c are plain programs (one per file) linked with
# tests/support/*.c; tests/fuzz/fuzz_*.c are fuzz targets, also linked with a
# corpus-replay main; bench/*.c form build/bin/bench; tools/*.c, where
# there are any, form build/bin/blockstm.

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
# Sanitizer builds use the system allocator so the sanitizer sees every block.
JEMALLOC ?= 1
# Debug-only invariant checks (BSTM_DASSERT) are compiled out of the library
# in normal builds and kept in the sanitizer builds.
LIB_DEFS ?= -DNDEBUG

WARN    := -Wall -Wextra -Wshadow -Werror -Wno-unused-parameter
CFLAGS_BASE := -std=gnu11 $(OPT) $(WARN) -fPIC -pthread -Iinclude -Isrc \
	-DBSTM_BUILDING_LIBRARY -fvisibility=hidden $(SAN)
ifeq ($(JEMALLOC),1)
CFLAGS_BASE += -DBSTM_HAVE_JEMALLOC
LIBS_ALLOC := -ljemalloc
endif
LIBS    := -lcrypto -llmdb $(LIBS_ALLOC) -lpthread -lm
LDFLAGS_BASE := -pthread $(SAN)

LIB_SRC   := $(sort $(wildcard src/*/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_SRC  := $(sort $(wildcard tools/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
SUP_SRC   := $(sort $(wildcard tests/support/*.c))
SUP_OBJ   := $(SUP_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
DIFF_SRC  := $(sort $(wildcard tests/diff/*.c))
STRESS_SRC:= $(sort $(wildcard tests/stress/*.c))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))

UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/bin/%)
DIFF_BIN  := $(DIFF_SRC:tests/diff/%.c=$(BUILD)/bin/%)
STRESS_BIN:= $(STRESS_SRC:tests/stress/%.c=$(BUILD)/bin/%)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/bin/%_replay)
TOOL_BIN  := $(if $(TOOL_SRC),$(BUILD)/bin/blockstm)
BENCH_BIN := $(if $(BENCH_SRC),$(BUILD)/bin/bench)

# stress_mvmemory once more, built with MVM_TEST_WIDE_ADDRESSES: the index
# takes every other entry for one whose address needs the open tag's bits
# (tagged pointers, 57-bit address spaces), so that path runs here too.
WIDE_BIN  := $(BUILD)/bin/stress_mvmemory_wide
WIDE_OBJ  := $(BUILD)/obj/wide/tests/stress/stress_mvmemory.o \
	$(BUILD)/obj/wide/src/mvmemory/mvmemory.o
STRESS_BIN+= $(WIDE_BIN)

STATIC_LIB := $(BUILD)/lib/libblockstm.a
SHARED_LIB := $(BUILD)/lib/libblockstm.so

# Objects reached through pattern rules are not intermediate files: keep them.
.SECONDARY:

.PHONY: all deps deps-test test unit-test diff-test stress-test fuzz-replay bench-smoke \
	asan-test tsan-test bench fuzz install example clean format check-format

all: deps $(STATIC_LIB) $(SHARED_LIB) $(TOOL_BIN) $(BENCH_BIN) \
	$(UNIT_BIN) $(DIFF_BIN) $(STRESS_BIN) $(FUZZ_BIN)

deps:
	@sh scripts/deps.sh build

deps-test:
	@sh scripts/deps.sh test

# Every object waits for the packages (order only), so that `make -j` on a
# fresh machine never compiles before its headers are installed.
$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB_OBJ): CFLAGS_BASE += $(LIB_DEFS)

$(STATIC_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

$(BUILD)/bin/blockstm: $(TOOL_SRC:%.c=$(BUILD)/obj/%.o) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

$(BUILD)/bin/bench: $(BENCH_SRC:%.c=$(BUILD)/obj/%.o) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

$(BUILD)/bin/test_%: $(BUILD)/obj/tests/unit/test_%.o $(SUP_OBJ) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ -lcriterion $(LIBS)

$(BUILD)/bin/%: $(BUILD)/obj/tests/diff/%.o $(SUP_OBJ) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

$(BUILD)/bin/%: $(BUILD)/obj/tests/stress/%.o $(SUP_OBJ) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

$(BUILD)/obj/wide/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $(CFLAGS) -DMVM_TEST_WIDE_ADDRESSES -MMD -MP -c $< -o $@

$(BUILD)/obj/wide/src/%.o: CFLAGS_BASE += $(LIB_DEFS)

# Its own mvmemory.o comes first, so the library's is never pulled in.
$(WIDE_BIN): $(WIDE_OBJ) $(SUP_OBJ) $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

$(BUILD)/bin/%_replay: $(BUILD)/obj/tests/fuzz/%.o $(BUILD)/obj/tests/fuzz/replay_main.o $(STATIC_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS_BASE) -o $@ $^ $(LIBS)

# --- tests ----------------------------------------------------------------

# Differential and stress drivers take their size from these; the sanitizer
# runs use smaller ones (TSan is ~10x slower).
DIFF_ARGS   ?=
STRESS_ARGS ?=

test: deps-test
	$(MAKE) all
	$(MAKE) unit-test diff-test stress-test fuzz-replay bench-smoke
	$(MAKE) asan-test
	$(MAKE) tsan-test
	@echo "make test: all suites passed"

unit-test: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t --jobs 1; done

diff-test: $(DIFF_BIN)
	@set -e; for t in $(DIFF_BIN); do echo "== $$t $(DIFF_ARGS)"; $$t $(DIFF_ARGS); done

stress-test: $(STRESS_BIN)
	@set -e; for t in $(STRESS_BIN); do echo "== $$t $(STRESS_ARGS)"; $$t $(STRESS_ARGS); done

fuzz-replay: $(FUZZ_BIN)
	@set -e; for t in $(FUZZ_BIN); do \
		name=$$(basename $$t _replay); \
		echo "== $$t tests/fuzz/corpus/$$name"; \
		$$t tests/fuzz/corpus/$$name; done

# The benchmark's driver and probes run (no figure is checked: the driver
# itself fails when a parallel output differs from the sequential one).
bench-smoke: $(BENCH_BIN)
	$(BENCH_BIN) --workload p2p --accounts 100 --txns 500 --threads 1,2 --runs 2 --caller-cpu 0 --twin 1 --split 1
	$(BENCH_BIN) --accounts 1000 --txns 300 --threads 3 --runs 1 --split 1
	$(BENCH_BIN) --workload cores --runs 1

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN_FLAGS := -fsanitize=thread

asan-test: deps-test
	$(MAKE) BUILD=build-asan JEMALLOC=0 LIB_DEFS= OPT="-O1 -g" SAN="$(ASAN_FLAGS)" \
		unit-test fuzz-replay bench-smoke
	$(MAKE) BUILD=build-asan JEMALLOC=0 LIB_DEFS= OPT="-O1 -g" SAN="$(ASAN_FLAGS)" \
		DIFF_ARGS="--quick" diff-test

tsan-test: deps-test
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	$(MAKE) BUILD=build-tsan JEMALLOC=0 LIB_DEFS= OPT="-O1 -g" SAN="$(TSAN_FLAGS)" \
		DIFF_ARGS="--quick" STRESS_ARGS="--quick" diff-test stress-test

# --- benchmark, fuzzing, install ---------------------------------------------

bench: deps $(BENCH_BIN)
	$(BENCH_BIN) --accounts 2,10000 --txns 10000 --reads 2 --writes 2 \
		--compute 10 --threads 1,2 --runs 5

fuzz: deps-test
	@mkdir -p build-fuzz
	@set -e; for f in $(FUZZ_SRC); do \
		name=$$(basename $$f .c); \
		clang -std=gnu11 -O1 -g -Iinclude -Isrc -DBSTM_BUILDING_LIBRARY \
			-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
			$$f $(LIB_SRC) \
			-o build-fuzz/$$name -lcrypto -llmdb -lpthread -lm; \
		echo "built build-fuzz/$$name"; done

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/blockstm.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 src/vm/vm.h $(DESTDIR)$(PREFIX)/include/blockstm_vm.h
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	$(if $(TOOL_BIN),install -m 755 $(TOOL_BIN) $(DESTDIR)$(PREFIX)/bin/)
	sed -e 's|@PREFIX@|$(PREFIX)|' blockstm.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/blockstm.pc

# Install into a scratch prefix, then build each example through pkg-config
# against it, as a node would, and run it on the installed shared library:
# examples/node.c (the executor) and examples/vm_node.c (the VM).
STAGE := $(CURDIR)/$(BUILD)/stage
STAGE_PC := PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig

# $(call run_example,source,program)
run_example = $(STAGE_PC) $(CC) -std=gnu11 -Wall -Wextra -Werror $(1) \
	$$($(STAGE_PC) pkg-config --cflags --libs --static blockstm) -o $(BUILD)/bin/$(2) && \
	LD_LIBRARY_PATH=$(STAGE)/lib $(BUILD)/bin/$(2)

example: all
	rm -rf $(STAGE)
	$(MAKE) install PREFIX=$(STAGE)
	$(call run_example,examples/node.c,example-node)
	$(call run_example,examples/vm_node.c,example-vm-node)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
