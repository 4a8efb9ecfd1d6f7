/*
 * workload_vm.c - benchmark workloads that run in the built-in VM.
 *
 *   p2p      peer-to-peer coin transfers (0x1::account::transfer) between
 *            uniformly drawn accounts: the Block-STM paper's workload. With
 *            few accounts nearly every pair of transactions conflicts; with
 *            10^4 almost none do.
 *   counter  every transaction increments the one global counter at 0x1
 *            (fully sequential by construction), or with probability
 *            hot_ratio its sender's own counter.
 *   amm      swaps against the one constant-product pool at 0x1 (a hot
 *            key) with probability hot_ratio, else transfers; hot_ratio 0
 *            (the default) means swaps only.
 *
 * The base state is a genesis (standard library plus funded accounts) in a
 * vm_kvmap; the block's function is the VM adapter with one instance per
 * worker, reused across the driver's repeated runs of the block.
 *
 * bench_vm_instance_cost() measures the other thing the VM promises: what
 * reusing an execution instance saves against creating one per transaction.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "vm/vm.h"

#define VM_BENCH_GAS	 100000ull
#define VM_BENCH_BALANCE (1ull << 50)

typedef struct vm_workload {
	vm_kvmap *state;
	vm_engine *engine;
	vm_txn *txns;
} vm_workload;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unit(uint64_t *s)
{
	return (double)(splitmix(s) >> 11) / (double)(1ull << 53);
}

enum { KIND_P2P, KIND_COUNTER, KIND_AMM };

static void vm_teardown(bench_instance *instance)
{
	vm_workload *w = instance->state;
	if (!w)
		return;
	vm_engine_destroy(w->engine);
	vm_kvmap_destroy(w->state);
	free(w->txns);
	free(w);
	instance->state = NULL;
}

static int fund_tokens(vm_kvmap *state, uint64_t accounts)
{
	for (uint64_t a = 1; a <= accounts; a++) {
		uint8_t key[VM_MAX_KEY], value[16];
		size_t len = vm_resource_key(key, a, VM_STDLIB_ADDRESS, "amm", "Tokens");
		uint64_t amount = 1ull << 30;
		for (int i = 0; i < 8; i++)
			value[i] = value[8 + i] = (uint8_t)(amount >> (8 * i));
		int rc = vm_kvmap_put(state, key, len, value, sizeof value);
		if (rc)
			return rc;
	}
	return 0;
}

static int vm_setup(const bench_params *p, bench_instance *instance, int kind)
{
	if (p->accounts < 1 || p->txns == 0)
		return BSTM_EINVAL;
	vm_workload *w = calloc(1, sizeof *w);
	uint64_t *seq = calloc(p->accounts + 1, sizeof *seq);
	if (!w || !seq) {
		free(w);
		free(seq);
		return BSTM_ENOMEM;
	}
	instance->state = w;
	w->txns = calloc(p->txns, sizeof *w->txns);
	int rc = w->txns ? 0 : BSTM_ENOMEM;
	if (!rc)
		rc = vm_kvmap_create(&w->state);
	if (!rc)
		rc = vm_genesis(w->state, p->accounts, VM_BENCH_BALANCE);
	if (!rc && kind == KIND_AMM)
		rc = fund_tokens(w->state, p->accounts);
	if (!rc)
		rc = vm_engine_create(NULL, p->threads ? p->threads : 1, &w->engine);
	uint64_t s = p->seed ? p->seed : 0x5eed;
	for (uint32_t i = 0; !rc && i < p->txns; i++) {
		uint64_t from = 1 + splitmix(&s) % p->accounts;
		uint64_t to = 1 + splitmix(&s) % p->accounts;
		uint64_t args[2] = {to, 1 + splitmix(&s) % 100};
		const char *module = "account", *fn = "transfer";
		uint32_t argc = 2;
		if (kind == KIND_COUNTER) {
			module = "counter";
			fn = unit(&s) < p->hot_ratio ? "increment_mine" : "increment";
			argc = 0;
		} else if (kind == KIND_AMM && unit(&s) < (p->hot_ratio > 0 ? p->hot_ratio : 1)) {
			module = "amm";
			fn = splitmix(&s) & 1 ? "swap_a" : "swap_b";
			args[0] = 1 + splitmix(&s) % 1000;
			args[1] = 1;
		}
		rc = vm_txn_call(&w->txns[i], from, seq[from]++, VM_BENCH_GAS, 1, VM_STDLIB_ADDRESS,
				 module, fn, args, argc);
	}
	free(seq);
	if (rc) {
		vm_teardown(instance);
		return rc;
	}
	vm_engine_begin_block(w->engine, w->txns, p->txns);
	memset(&instance->block, 0, sizeof instance->block);
	instance->block.size = sizeof instance->block;
	instance->block.txn_count = p->txns;
	instance->block.execute = vm_txn_execute;
	instance->block.ctx = w->engine;
	vm_kvmap_base_view(w->state, &instance->base);
	return 0;
}

static int p2p_setup(const bench_params *p, bench_instance *instance)
{
	return vm_setup(p, instance, KIND_P2P);
}

static int counter_setup(const bench_params *p, bench_instance *instance)
{
	return vm_setup(p, instance, KIND_COUNTER);
}

static int amm_setup(const bench_params *p, bench_instance *instance)
{
	return vm_setup(p, instance, KIND_AMM);
}

/* One more engine over the same transactions, for a caller of its own. */
static int vm_fork_ctx(const bench_instance *instance, void **ctx)
{
	const vm_workload *w = instance->state;
	vm_engine *e;
	int rc = vm_engine_create(NULL, 1, &e);
	if (rc)
		return rc;
	vm_engine_begin_block(e, w->txns, instance->block.txn_count);
	*ctx = e;
	return 0;
}

static void vm_drop_ctx(void *ctx)
{
	vm_engine_destroy(ctx);
}

static bench_workload p2p_workload = {
	.name = "p2p",
	.help = "VM peer-to-peer transfers between uniformly drawn accounts",
	.setup = p2p_setup,
	.teardown = vm_teardown,
	.fork_ctx = vm_fork_ctx,
	.drop_ctx = vm_drop_ctx,
};
BENCH_REGISTER(p2p_workload)

static bench_workload counter_workload = {
	.name = "counter",
	.help = "VM global counter (own counter with probability hot-ratio)",
	.setup = counter_setup,
	.teardown = vm_teardown,
	.fork_ctx = vm_fork_ctx,
	.drop_ctx = vm_drop_ctx,
};
BENCH_REGISTER(counter_workload)

static bench_workload amm_workload = {
	.name = "amm",
	.help = "VM swaps on one AMM pool; with 0 < hot-ratio < 1, transfers with\n"
		"               probability 1 - hot-ratio (hot-ratio 0, the default: swaps only)",
	.setup = amm_setup,
	.teardown = vm_teardown,
	.fork_ctx = vm_fork_ctx,
	.drop_ctx = vm_drop_ctx,
};
BENCH_REGISTER(amm_workload)

/* ------------------------------------------------------------------------ */
/* Instance reuse against a fresh instance per transaction                   */
/* ------------------------------------------------------------------------ */

static uint64_t clock_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int sort_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/*
 * One block of p2p transfers (ACCOUNTS accounts, TXNS transactions) run by
 * the sequential executor, RUNS times each way: with an engine whose
 * instance persists across runs, and with one that recreates its instance
 * before every transaction (recreate_every_txns = 1). The difference per
 * transaction is the cost that instance reuse saves: allocating the stack,
 * frames, scratch memory and overlay, and decoding and verifying the code
 * again with an empty module cache.
 */
int bench_vm_instance_cost(FILE *out, int json)
{
	enum { ACCOUNTS = 1000, TXNS = 10000, RUNS = 7 };
	bench_params p = {.accounts = ACCOUNTS, .txns = TXNS, .threads = 1, .seed = 7};
	bench_instance reuse, fresh;
	memset(&reuse, 0, sizeof reuse);
	memset(&fresh, 0, sizeof fresh);
	int rc = p2p_setup(&p, &reuse);
	if (rc)
		return rc;
	rc = p2p_setup(&p, &fresh);
	if (rc) {
		vm_teardown(&reuse);
		return rc;
	}
	vm_workload *fw = fresh.state;
	vm_engine_destroy(fw->engine);
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.recreate_every_txns = 1;
	rc = vm_engine_create(&cfg, 1, &fw->engine);
	if (rc) {
		fw->engine = NULL;
		vm_teardown(&reuse);
		vm_teardown(&fresh);
		return rc;
	}
	vm_engine_begin_block(fw->engine, fw->txns, TXNS);
	fresh.block.ctx = fw->engine;

	bstm_config bc;
	bstm_config_init(&bc);
	bstm_executor *ex;
	rc = bstm_executor_create(&bc, &ex);
	uint64_t t_reuse[RUNS], t_fresh[RUNS];
	for (int r = -1; !rc && r < RUNS; r++) {
		bstm_output *a = NULL, *b = NULL;
		uint64_t t0 = clock_ns();
		rc = bstm_execute_block_sequential(ex, &reuse.block, &reuse.base, &a);
		uint64_t t1 = clock_ns();
		if (!rc)
			rc = bstm_execute_block_sequential(ex, &fresh.block, &fresh.base, &b);
		uint64_t t2 = clock_ns();
		if (!rc && !bstm_output_equal(a, b)) {
			fprintf(stderr, "bench: fresh and reused instances disagree\n");
			rc = BSTM_EINTERNAL;
		}
		if (r >= 0) {
			t_reuse[r] = t1 - t0;
			t_fresh[r] = t2 - t1;
		}
		bstm_output_free(a);
		bstm_output_free(b);
	}
	if (ex)
		bstm_executor_destroy(ex);
	uint64_t created = vm_engine_instances_created(fw->engine);
	vm_teardown(&reuse);
	vm_teardown(&fresh);
	if (rc)
		return rc;
	qsort(t_reuse, RUNS, sizeof t_reuse[0], sort_u64);
	qsort(t_fresh, RUNS, sizeof t_fresh[0], sort_u64);
	double reuse_ns = (double)t_reuse[RUNS / 2] / TXNS;
	double fresh_ns = (double)t_fresh[RUNS / 2] / TXNS;
	if (json)
		fprintf(out,
			"{\"workload\":\"vm-instance\",\"accounts\":%d,\"txns\":%d,\"runs\":%d,"
			"\"reuse_ns_per_txn\":%.1f,\"fresh_ns_per_txn\":%.1f,\"fresh_over_reuse\":%"
			".3f,"
			"\"seq_tps_reuse\":%.0f,\"instances_created_fresh\":%" PRIu64 "}\n",
			ACCOUNTS, TXNS, RUNS, reuse_ns, fresh_ns, fresh_ns / reuse_ns,
			1e9 / reuse_ns, created);
	else
		fprintf(out,
			"# vm-instance: p2p, %d accounts, %d txns, sequential, median of %d runs\n"
			"  reused instance  %8.1f ns/txn (%.0f txn/s)\n"
			"  fresh instance   %8.1f ns/txn (%.0f txn/s)\n"
			"  fresh / reused   %8.2fx (instance cost saved: %.1f ns/txn)\n",
			ACCOUNTS, TXNS, RUNS, reuse_ns, 1e9 / reuse_ns, fresh_ns, 1e9 / fresh_ns,
			fresh_ns / reuse_ns, fresh_ns - reuse_ns);
	return 0;
}
