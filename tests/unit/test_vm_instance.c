/*
 * test_vm_instance.c - execution instances reused across transactions.
 *
 * A transaction leaves sentinels in scratch memory, on the operand stack and
 * in its overlay, then ends in every way a transaction can end (success,
 * abort, out of gas, stack overflow); the next transaction on the same
 * instance must see none of it. Also: 100k transactions on one instance,
 * and 200 blocks through the parallel executor and the engine, keep the
 * resident set flat; and the engine's recreate settings.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm/internal.h"
#include "../support/testkit_vm.h"

#define SENTINEL 0x5e5e5e5e5e5e5e5eull
#define GAS	 1000000ull

static vm_kvmap *map;
static vm_instance *inst;
static uint64_t seq[16];

static char *probe_source(void)
{
	/* fill(v): v into scratch at 0, 8 .. 4096 and 60000, 250 copies of v on
	 * the operand stack, a resource holding v, then end as `how` says:
	 * 0 return, 1 abort, 2 loop until out of gas, 3 recurse until the
	 * stack or call depth runs out.
	 * check(): abort 1 if any of 255 fresh locals is non-zero, abort 2 if
	 * scratch is, abort 3 if the resource exists.
	 * poke(a, v): v into scratch at a; peek(a): abort 2 unless scratch at a
	 * is zero; digest(a): the SHA-256 of scratch[0, 32) into scratch at a. */
	size_t cap = 64 * 1024, n = 0;
	char *s = malloc(cap);
	n += (size_t)snprintf(s + n, cap - n,
			      "module 0x1 probe\nresource Mark v\n"
			      "function entry fill (u64, u64) -> () locals 1\n"
			      "\tpush 0\n\tstore 2\n"
			      "top:\n\tload 2\n\tload 0\n\tmstore\n"
			      "\tload 2\n\tpush 8\n\tadd\n\tdup\n\tstore 2\n\tpush 4104\n\tlt\n"
			      "\tjnz top\n"
			      "\tpush 60000\n\tload 0\n\tmstore\n"
			      "\tsender\n\tload 0\n\trnew Mark\n");
	for (int i = 0; i < 250; i++)
		n += (size_t)snprintf(s + n, cap - n, "\tload 0\n");
	for (int i = 0; i < 250; i++)
		n += (size_t)snprintf(s + n, cap - n, "\tpop\n");
	n += (size_t)snprintf(s + n, cap - n,
			      "\tload 1\n\tjz done\n\tload 1\n\tpush 1\n\teq\n\tjnz fail\n"
			      "\tload 1\n\tpush 2\n\teq\n\tjnz spin\n"
			      "\tload 0\n\tcall deep\n\tret\n"
			      "spin:\n\tjmp spin\n"
			      "fail:\n\tpush 99\n\tabort\n"
			      "done:\n\tret\nend\n"
			      "function private deep (u64) -> () locals 200\n"
			      "\tload 0\n\tstore 100\n\tload 0\n\tcall deep\n\tret\nend\n"
			      "function entry check () -> () locals 255\n");
	for (int i = 0; i < 255; i++)
		n += (size_t)snprintf(s + n, cap - n, "\tload %d\n\tjnz stack\n", i);
	n += (size_t)snprintf(s + n, cap - n,
			      "\tpush 0\n\tstore 0\n"
			      "scan:\n\tload 0\n\tmload\n\tjnz scratch\n"
			      "\tload 0\n\tpush 8\n\tadd\n\tdup\n\tstore 0\n\tpush 65528\n\tle\n"
			      "\tjnz scan\n"
			      "\tsender\n\texists Mark\n\tjnz overlay\n\tret\n"
			      "stack:\n\tpush 1\n\tabort\n"
			      "scratch:\n\tpush 2\n\tabort\n"
			      "overlay:\n\tpush 3\n\tabort\nend\n"
			      "function entry poke (u64, u64) -> () locals 0\n"
			      "\tload 0\n\tload 1\n\tmstore\n\tret\nend\n"
			      "function entry peek (u64) -> () locals 0\n"
			      "\tload 0\n\tmload\n\tjnz dirty\n\tret\n"
			      "dirty:\n\tpush 2\n\tabort\nend\n"
			      "function entry digest (u64) -> () locals 0\n"
			      "\tload 0\n\tpush 0\n\tpush 32\n\thash\n\tret\nend\n");
	return s;
}

static void setup(void)
{
	cr_assert_eq(vm_kvmap_create(&map), 0);
	cr_assert_eq(vm_genesis(map, 10, 1ull << 50), 0);
	char *src = probe_source(), why[128];
	cr_assert_eq(tk_vm_install(map, 1, "probe", src, why, sizeof why), 0, "%s", why);
	free(src);
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.stack_values = 4096;
	cr_assert_eq(vm_instance_create(&cfg, &inst), 0);
	memset(seq, 0, sizeof seq);
}

static void teardown(void)
{
	vm_instance_destroy(inst);
	vm_kvmap_destroy(map);
}

/* Replace the suite's instance with one made from cfg. */
static void recreate(const vm_config *cfg)
{
	vm_instance_destroy(inst);
	cr_assert_eq(vm_instance_create(cfg, &inst), 0);
}

TestSuite(vm_instance, .init = setup, .fini = teardown);

static bstm_txn_outcome call(uint64_t sender, const char *fn, const uint64_t *args, uint32_t n)
{
	vm_txn t;
	cr_assert_eq(vm_txn_call(&t, sender, seq[sender]++, GAS, 1, 1, "probe", fn, args, n), 0);
	bstm_txn_outcome o;
	cr_assert_eq(vm_execute_txn(inst, &t, &vm_kvmap_ops, map, &o), 0);
	return o;
}

static void fill_then_check(uint64_t how, uint32_t want_status, uint64_t want_code)
{
	uint64_t args[2] = {SENTINEL, how};
	bstm_txn_outcome o = call(2, "fill", args, 2);
	cr_expect_eq(o.status, want_status, "fill %lu: status %u code %lu", how, o.status, o.code);
	if (want_code)
		cr_expect_eq(o.code, want_code, "fill %lu: code %lu", how, o.code);
	/* the check runs as the same sender: the resource must not exist
	 * unless fill succeeded, and then it is cleaned up below */
	o = call(3, "check", NULL, 0);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS, "after fill %lu: status %u code %lu", how,
		     o.status, o.code);
}

Test(vm_instance, nothing_survives_a_successful_transaction)
{
	fill_then_check(0, BSTM_TXN_SUCCESS, 0);
}

Test(vm_instance, nothing_survives_an_abort)
{
	fill_then_check(1, BSTM_TXN_ABORTED, 99);
}

Test(vm_instance, nothing_survives_out_of_gas)
{
	fill_then_check(2, BSTM_TXN_OUT_OF_GAS, 0);
}

Test(vm_instance, nothing_survives_a_stack_overflow)
{
	fill_then_check(3, BSTM_TXN_FAILED, VM_FAIL_STACK_OVERFLOW);
}

Test(vm_instance, overlay_of_a_failed_body_is_dropped)
{
	uint64_t args[2] = {SENTINEL, 1};
	call(2, "fill", args, 2);
	/* sender 2's Mark must not exist: fill aborted */
	uint8_t key[VM_MAX_KEY];
	const void *v;
	size_t len;
	cr_expect_eq(vm_kvmap_get(map, key, vm_resource_key(key, 2, 1, "probe", "Mark"), &v, &len),
		     BSTM_ENOTFOUND);
}

static void expect_scratch_clean(const vm_instance *in)
{
	cr_expect_eq(in->scratch_dirty_count, 0);
	size_t pages = (in->config.scratch_bytes + VM_SCRATCH_PAGE - 1) / VM_SCRATCH_PAGE;
	for (size_t i = 0; i < pages / 8 + 1; i++)
		cr_assert_eq(in->scratch_marks[i], 0);
	for (uint32_t i = 0; i < in->config.scratch_bytes; i++)
		cr_assert_eq(in->scratch[i], 0);
}

Test(vm_instance, reset_clears_only_what_was_touched)
{
	uint64_t args[2] = {SENTINEL, 1};
	bstm_txn_outcome o;
	vm_txn t;
	cr_assert_eq(vm_txn_call(&t, 2, seq[2]++, GAS, 1, 1, "probe", "fill", args, 2), 0);
	cr_assert_eq(vm_execute_txn(inst, &t, &vm_kvmap_ops, map, &o), 0);
	/* bytes 0 .. 4103 and 60000 .. 60007: pages 0 .. 16 and 234, once each */
	cr_assert_eq(inst->scratch_dirty_count, 18);
	for (uint32_t i = 0; i < 17; i++)
		cr_expect_eq(inst->scratch_dirty[i], i);
	cr_expect_eq(inst->scratch_dirty[17], 60000 / VM_SCRATCH_PAGE);
	cr_expect_gt(inst->overlay.used, 0);
	vm_instance_reset(inst);
	cr_expect_eq(inst->overlay.used, 0);
	for (uint32_t i = 0; i < inst->overlay.cap; i++)
		cr_assert_eq(inst->overlay.slots[i].state, 0);
	expect_scratch_clean(inst);
}

/* A store at the top of a large scratch area dirties one page: the reset
 * after it does not depend on how much scratch memory the instance has. */
Test(vm_instance, a_store_at_the_top_of_scratch_costs_one_page)
{
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.scratch_bytes = (16u << 20) + 100; /* the last page is partial */
	recreate(&cfg);
	uint64_t top = cfg.scratch_bytes - 8, straddle = 5 * VM_SCRATCH_PAGE - 4;
	uint64_t args[2] = {top, SENTINEL};
	cr_expect_eq(call(2, "poke", args, 2).status, BSTM_TXN_SUCCESS);
	cr_assert_eq(inst->scratch_dirty_count, 1);
	cr_expect_eq(inst->scratch_dirty[0], (uint32_t)(top / VM_SCRATCH_PAGE));
	cr_expect_eq(call(3, "peek", &top, 1).status, BSTM_TXN_SUCCESS);
	args[0] = straddle;
	cr_expect_eq(call(2, "poke", args, 2).status, BSTM_TXN_SUCCESS);
	cr_assert_eq(inst->scratch_dirty_count, 2); /* 8 bytes over two pages */
	cr_expect_eq(inst->scratch_dirty[0], 4);
	cr_expect_eq(inst->scratch_dirty[1], 5);
	cr_expect_eq(call(3, "peek", &straddle, 1).status, BSTM_TXN_SUCCESS);
	vm_instance_reset(inst);
	expect_scratch_clean(inst);
}

/* The digest `hash` writes is scratch memory like any other: the next
 * transaction reads zeros there. */
Test(vm_instance, nothing_survives_a_hash)
{
	uint64_t at = 1000;
	cr_expect_eq(call(2, "digest", &at, 1).status, BSTM_TXN_SUCCESS);
	for (uint64_t a = at; a < at + 32; a += 8)
		cr_expect_eq(call(3, "peek", &a, 1).status, BSTM_TXN_SUCCESS, "scratch at %lu", a);
}

/* A module cache that has reached its configured size is emptied at the
 * next transaction boundary. */
Test(vm_instance, a_full_module_cache_is_emptied)
{
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.cache_modules = 1;
	recreate(&cfg);
	uint64_t at = 0;
	cr_expect_eq(call(2, "peek", &at, 1).status, BSTM_TXN_SUCCESS);
	cr_assert_eq(inst->cache_count, 1);
	vm_instance_reset(inst);
	cr_expect_eq(inst->cache_count, 0);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, resident = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

Test(vm_instance, hundred_thousand_transactions_keep_memory_flat, .timeout = 120)
{
	enum { TOTAL = 100000, WARM = 10000, ACCOUNTS = 10 };
	uint64_t seqs[ACCOUNTS + 1] = {0};
	long warm = 0;
	for (unsigned i = 0; i < TOTAL; i++) {
		uint64_t from = 1 + i % ACCOUNTS, to = 1 + (i * 7 + 3) % ACCOUNTS;
		uint64_t args[2] = {to, i % 1000};
		vm_txn t;
		const char *fn = "transfer";
		const char *module = "account";
		uint32_t nargs = 2;
		if (i % 100 == 99) { /* now and then: a trap of some kind */
			module = "probe";
			fn = "fill";
			args[0] = SENTINEL;
			args[1] = 1 + i / 100 % 3;
		}
		cr_assert_eq(
			vm_txn_call(&t, from, seqs[from]++, GAS, 1, 1, module, fn, args, nargs), 0);
		bstm_txn_outcome o;
		cr_assert_eq(vm_execute_txn(inst, &t, &vm_kvmap_ops, map, &o), 0);
		cr_assert_neq(o.status, BSTM_TXN_DISCARDED, "txn %u discarded: %lu", i, o.code);
		if (i + 1 == WARM)
			warm = rss_kib();
	}
	long end = rss_kib();
	fprintf(stderr,
		"vm_instance: RSS after %d txns %ld KiB, after %d txns %ld KiB (%+ld KiB)\n", WARM,
		warm, TOTAL, end, end - warm);
#if defined(__SANITIZE_ADDRESS__)
	/* ASan's quarantine holds freed blocks back on purpose: RSS says nothing */
	(void)end;
#else
	cr_expect_lt(end - warm, 4096, "RSS grew by %ld KiB", end - warm);
#endif
}

/* A node's loop: many blocks of transfers through the parallel executor and
 * the engine, each block's output applied to the state. After warming up,
 * the resident set must not grow with the number of blocks (arenas,
 * multi-version index, outputs and instances are all reused). */
Test(vm_instance, many_parallel_blocks_keep_memory_flat, .timeout = 120)
{
	enum { BLOCKS = 200, WARM = 20, N = 1000, ACCOUNTS = 1000 };
	vm_kvmap *state;
	cr_assert_eq(vm_kvmap_create(&state), 0);
	cr_assert_eq(vm_genesis(state, ACCOUNTS, 1ull << 40), 0);
	bstm_config cfg;
	bstm_config_init(&cfg);
	cfg.threads = 2;
	cfg.timed_segments = 0; /* the parallel path's memory, every block */
	bstm_executor *ex;
	cr_assert_eq(bstm_executor_create(&cfg, &ex), 0);
	vm_engine *engine;
	cr_assert_eq(vm_engine_create(NULL, cfg.threads, &engine), 0);
	bstm_base_view base;
	vm_kvmap_base_view(state, &base);
	static vm_txn txns[N];
	static uint64_t seqs[ACCOUNTS + 1];
	bstm_block block = {
		.size = sizeof block, .txn_count = N, .execute = vm_txn_execute, .ctx = engine};
	uint64_t rng = 12345;
	long warm = 0;
	for (unsigned b = 0; b < BLOCKS; b++) {
		for (unsigned i = 0; i < N; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t from = 1 + (rng >> 33) % ACCOUNTS, to = 1 + (rng >> 13) % ACCOUNTS;
			uint64_t args[2] = {to, 1 + i % 7};
			cr_assert_eq(vm_txn_call(&txns[i], from, seqs[from]++, GAS, 1, 1, "account",
						 "transfer", args, 2),
				     0);
		}
		vm_engine_begin_block(engine, txns, N);
		bstm_output *out;
		cr_assert_eq(bstm_execute_block(ex, &block, &base, &out), 0);
		for (unsigned i = 0; i < N; i++)
			cr_assert_eq(out->txns[i].status, BSTM_TXN_SUCCESS, "block %u txn %u", b,
				     i);
		cr_assert_eq(vm_kvmap_apply(state, out), 0);
		bstm_output_free(out);
		if (b + 1 == WARM)
			warm = rss_kib();
	}
	long end = rss_kib();
	fprintf(stderr,
		"vm_instance: RSS after %d blocks %ld KiB, after %d blocks %ld KiB (%+ld KiB)\n",
		WARM, warm, BLOCKS, end, end - warm);
#if defined(__SANITIZE_ADDRESS__)
	(void)end; /* see above */
#else
	cr_expect_lt(end - warm, 4096, "RSS grew by %ld KiB", end - warm);
#endif
	vm_engine_destroy(engine);
	bstm_executor_destroy(ex);
	vm_kvmap_destroy(state);
}

/* Run `txns` as `block` four times on a new engine with vcfg; the number of
 * instances the engine created. */
static uint64_t instances_after_blocks(int blocks, bstm_executor *ex, const vm_config *vcfg,
				       const vm_txn *txns, bstm_block *block,
				       const bstm_base_view *base)
{
	vm_engine *engine;
	cr_assert_eq(vm_engine_create(vcfg, 1, &engine), 0);
	block->ctx = engine;
	for (int b = 0; b < blocks; b++) {
		vm_engine_begin_block(engine, txns, block->txn_count);
		bstm_output *out;
		cr_assert_eq(bstm_execute_block_sequential(ex, block, base, &out), 0);
		bstm_output_free(out);
	}
	uint64_t created = vm_engine_instances_created(engine);
	vm_engine_destroy(engine);
	return created;
}

Test(vm_instance, engine_rejects_a_bad_config_at_creation)
{
	enum { BAD = 8 };
	vm_config bad[BAD + 1];
	for (int i = 0; i <= BAD; i++)
		vm_config_init(&bad[i]);
	bad[0].stack_values = 15;
	bad[1].call_depth = 0;
	bad[2].cache_modules = 0;
	bad[3].scratch_bytes = (1u << 30) + 1;
	bad[4].size = sizeof bad[4] - 1;
	bad[5].stack_values = VM_MAX_STACK_VALUES + 1;
	bad[6].call_depth = VM_MAX_CALL_DEPTH + 1;
	bad[7].cache_modules = VM_MAX_CACHE_MODULES + 1;
	for (int i = 0; i < BAD; i++) {
		vm_engine *engine = (vm_engine *)&bad[i]; /* must be cleared */
		cr_expect_eq(vm_engine_create(&bad[i], 1, &engine), BSTM_EINVAL, "config %d", i);
		cr_expect_null(engine, "config %d", i);
	}
	vm_engine *engine;
	vm_config *ok = &bad[BAD];
	cr_expect_eq(vm_engine_create(ok, 0, &engine), BSTM_EINVAL, "no workers");
	cr_expect_eq(vm_engine_create(ok, 1, NULL), BSTM_EINVAL);
	ok->size = sizeof *ok + 8; /* a newer header's: not this library's */
	cr_expect_eq(vm_engine_create(ok, 1, &engine), BSTM_EINVAL);
	ok->size = sizeof *ok;
	/* The bounds themselves are accepted. */
	ok->stack_values = 16;
	ok->call_depth = 1;
	ok->cache_modules = 1;
	ok->scratch_bytes = 1u << 30;
	cr_assert_eq(vm_engine_create(ok, 1, &engine), 0);
	vm_engine_destroy(engine);
	ok->stack_values = VM_MAX_STACK_VALUES;
	ok->call_depth = VM_MAX_CALL_DEPTH;
	ok->cache_modules = VM_MAX_CACHE_MODULES;
	cr_assert_eq(vm_engine_create(ok, 1, &engine), 0);
	vm_engine_destroy(engine);
	cr_assert_eq(vm_engine_create(NULL, 2, &engine), 0);
	vm_engine_destroy(engine);
}

Test(vm_instance, engine_recreates_every_n_transactions_and_blocks)
{
	enum { N = 100 };
	vm_txn txns[N];
	uint64_t seqs[11] = {0};
	for (unsigned i = 0; i < N; i++) {
		uint64_t from = 1 + i % 10, args[2] = {1 + (i + 1) % 10, 1};
		cr_assert_eq(vm_txn_call(&txns[i], from, seqs[from]++, GAS, 1, 1, "account",
					 "transfer", args, 2),
			     0);
	}
	bstm_config cfg;
	bstm_config_init(&cfg);
	bstm_executor *ex;
	cr_assert_eq(bstm_executor_create(&cfg, &ex), 0);
	bstm_base_view base;
	vm_kvmap_base_view(map, &base);
	bstm_block block = {.size = sizeof block, .txn_count = N, .execute = vm_txn_execute};
	bstm_output *out;

	vm_config vcfg;
	vm_config_init(&vcfg);
	vcfg.recreate_every_txns = 10;
	vm_engine *engine;
	cr_assert_eq(vm_engine_create(&vcfg, 1, &engine), 0);
	block.ctx = engine;
	vm_engine_begin_block(engine, txns, N);
	cr_assert_eq(bstm_execute_block_sequential(ex, &block, &base, &out), 0);
	for (unsigned i = 0; i < N; i++)
		cr_expect_eq(out->txns[i].status, BSTM_TXN_SUCCESS);
	bstm_output_free(out);
	cr_expect_eq(vm_engine_instances_created(engine), N / 10);
	vm_engine_destroy(engine);

	vm_config_init(&vcfg);
	vcfg.recreate_every_blocks = 2;
	/* Each instance serves two blocks: blocks 1-2, 3-4 (and 5-6). */
	cr_expect_eq(instances_after_blocks(4, ex, &vcfg, txns, &block, &base), 2);
	cr_expect_eq(instances_after_blocks(5, ex, &vcfg, txns, &block, &base), 3);
	vcfg.recreate_every_blocks = 1;
	cr_expect_eq(instances_after_blocks(4, ex, &vcfg, txns, &block, &base), 4);
	vm_config_init(&vcfg);
	cr_expect_eq(instances_after_blocks(4, ex, &vcfg, txns, &block, &base), 1);
	bstm_executor_destroy(ex);
}
