/*
 * diff_vm.c - VM workloads through the parallel executor against the
 * sequential executor.
 *
 * Workloads: p2p transfers over 2 .. 1000 accounts, the counter (a global hot
 * key plus per-account counters, with events), the AMM (one hot pool), and a
 * mix that also holds aborts, out-of-gas, discarded transactions (wrong
 * sequence numbers) and a module publish with its init. Each runs as a
 * chain of blocks (the outputs of one applied to the state of the next, so
 * instances are reused across blocks) at 1, 2, 4 and 8 threads (or the four
 * counts of --threads), several times; every parallel output must equal the
 * sequential one.
 *
 * Usage: diff_vm [--quick] [--seed N] [--threads A,B,C,D]. Prints "N passed,
 * M failed" last and exits non-zero on a mismatch, naming the seed that
 * reproduces it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/testkit.h"
#include "vm/vm.h"

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t next(rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t below(rng *r, uint64_t n)
{
	return n ? next(r) % n : 0;
}

enum { W_P2P, W_COUNTER, W_AMM, W_MIXED };
static const char *const workload_names[] = {"p2p", "counter", "amm", "mixed"};

#define GAS	 200000ull
#define BALANCE	 (1ull << 40)
#define MAX_ACCT 1000u

static const char publish_source[] = "module 0x%" PRIx64 " mod%u\n"
				     "resource Slot v\n"
				     "function private init () -> () locals 0\n"
				     "\tsender\n\tpush 5\n\trnew Slot\n\tret\nend\n"
				     "function entry bump () -> () locals 0\n"
				     "\tsender\n\tsender\n\trget Slot v\n\tpush 1\n\tadd\n"
				     "\trset Slot v\n\tret\nend\n";

typedef struct block_gen {
	vm_txn *txns;
	uint8_t *blobs[8];
	unsigned blob_count;
	uint64_t seq[MAX_ACCT + 1];
} block_gen;

static void call(vm_txn *t, block_gen *g, uint64_t sender, const char *module, const char *fn,
		 uint64_t a, uint64_t b, uint32_t argc, uint64_t gas)
{
	uint64_t args[2] = {a, b};
	if (vm_txn_call(t, sender, g->seq[sender]++, gas, 1, 1, module, fn, args, argc) != 0)
		abort();
}

static void generate(block_gen *g, int workload, uint64_t accounts, uint32_t n, unsigned block,
		     rng *r)
{
	for (uint32_t i = 0; i < n; i++) {
		vm_txn *t = &g->txns[i];
		uint64_t from = 1 + below(r, accounts), to = 1 + below(r, accounts);
		uint64_t roll = below(r, 100);
		switch (workload) {
		case W_P2P:
			call(t, g, from, "account", "transfer", to, below(r, 1000), 2, GAS);
			break;
		case W_COUNTER:
			if (roll < 50)
				call(t, g, from, "counter", "increment", 0, 0, 0, GAS);
			else
				call(t, g, from, "counter", "increment_mine", 0, 0, 0, GAS);
			break;
		case W_AMM:
			if (block == 0 && i < accounts)
				call(t, g, 1 + i, "amm", "faucet", 100000, 100000, 2, GAS);
			else if (roll < 45)
				call(t, g, from, "amm", "swap_a", 1 + below(r, 500), 1, 2, GAS);
			else if (roll < 90)
				call(t, g, from, "amm", "swap_b", 1 + below(r, 500), 1, 2, GAS);
			else
				call(t, g, from, "account", "transfer", to, 7, 2, GAS);
			break;
		default: /* W_MIXED */
			if (roll < 40) {
				call(t, g, from, "account", "transfer", to, below(r, 1000), 2, GAS);
			} else if (roll < 50) { /* aborts: more than the balance */
				call(t, g, from, "account", "transfer", to, BALANCE * 4, 2, GAS);
			} else if (roll < 58) { /* runs out of gas */
				call(t, g, from, "compute", "hash", 100000, 0, 1, 3000);
			} else if (roll < 66) {
				call(t, g, from, "compute", "hash", 1 + below(r, 20), 0, 1, GAS);
			} else if (roll < 74) { /* discarded: a sequence number from the future */
				call(t, g, from, "account", "transfer", to, 1, 2, GAS);
				t->sequence += 5;
				g->seq[from]--;
			} else if (roll < 82) {
				call(t, g, from, "counter", "increment", 0, 0, 0, GAS);
			} else if (roll < 86 && g->blob_count < 8) {
				char text[1024];
				unsigned id = g->blob_count;
				snprintf(text, sizeof text, publish_source, from, id);
				size_t len;
				if (vm_assemble(text, &g->blobs[id], &len, NULL, NULL) != 0)
					abort();
				g->blob_count++;
				memset(t, 0, sizeof *t);
				t->sender = from;
				t->sequence = g->seq[from]++;
				t->gas_limit = GAS;
				t->gas_price = 1;
				t->kind = VM_PAYLOAD_PUBLISH;
				t->module_count = 1;
				t->modules[0] = g->blobs[id];
				t->module_lens[0] = len;
			} else if (roll < 92) { /* calls a module that may not exist yet */
				char name[16];
				snprintf(name, sizeof name, "mod%u", (unsigned)below(r, 8));
				vm_txn_call(t, from, g->seq[from]++, GAS, 1, 1 + below(r, accounts),
					    name, "bump", NULL, 0);
			} else {
				call(t, g, from, "counter", "increment_mine", 0, 0, 0, GAS);
			}
			break;
		}
	}
}

/* statuses seen in sequential outputs, so a run shows what it covered */
static uint64_t status_totals[BSTM_TXN_RETRY + 1];

static int run_chain(int workload, uint64_t accounts, uint32_t txns, unsigned blocks,
		     uint32_t threads, uint64_t seed)
{
	vm_kvmap *state;
	if (vm_kvmap_create(&state) || vm_genesis(state, accounts, BALANCE))
		return -1;
	bstm_config cfg;
	bstm_config_init(&cfg);
	cfg.threads = threads;
	cfg.small_block_threshold = 0;
	cfg.timed_segments = 0; /* every block in parallel, not on the sequential loop */
	bstm_executor *ex;
	vm_engine *par_engine, *seq_engine;
	if (bstm_executor_create(&cfg, &ex) || vm_engine_create(NULL, threads, &par_engine) ||
	    vm_engine_create(NULL, 1, &seq_engine))
		return -1;
	block_gen g;
	memset(&g, 0, sizeof g);
	g.txns = calloc(txns, sizeof *g.txns);
	rng r = {seed};
	int failed = 0;
	for (unsigned b = 0; b < blocks && !failed; b++) {
		generate(&g, workload, accounts, txns, b, &r);
		bstm_base_view base;
		vm_kvmap_base_view(state, &base);
		bstm_block block = {
			.size = sizeof block, .txn_count = txns, .execute = vm_txn_execute};
		bstm_output *seq_out = NULL, *par_out = NULL;
		block.ctx = seq_engine;
		vm_engine_begin_block(seq_engine, g.txns, txns);
		int rc = bstm_execute_block_sequential(ex, &block, &base, &seq_out);
		block.ctx = par_engine;
		vm_engine_begin_block(par_engine, g.txns, txns);
		int prc = rc ? rc : bstm_execute_block(ex, &block, &base, &par_out);
		if (rc || prc) {
			fprintf(stderr, "diff_vm: block call failed: %s / %s\n", bstm_errname(rc),
				bstm_errname(prc));
			failed = 1;
		} else if (!bstm_output_equal(seq_out, par_out)) {
			uint32_t i = 0;
			while (i < txns && seq_out->txns[i].status == par_out->txns[i].status &&
			       seq_out->txns[i].gas_used == par_out->txns[i].gas_used &&
			       seq_out->txns[i].write_count == par_out->txns[i].write_count)
				i++;
			fprintf(stderr,
				"diff_vm: MISMATCH %s accounts=%" PRIu64 " threads=%u block=%u "
				"seed=%" PRIu64 " first differing txn %u\n",
				workload_names[workload], accounts, threads, b, seed, i);
			failed = 1;
		} else if (vm_kvmap_apply(state, seq_out) != 0) {
			failed = 1;
		}
		for (uint32_t i = 0; seq_out && i < seq_out->txn_count; i++)
			status_totals[seq_out->txns[i].status]++;
		bstm_output_free(seq_out);
		bstm_output_free(par_out);
	}
	for (unsigned i = 0; i < g.blob_count; i++)
		free(g.blobs[i]);
	free(g.txns);
	vm_engine_destroy(par_engine);
	vm_engine_destroy(seq_engine);
	bstm_executor_destroy(ex);
	vm_kvmap_destroy(state);
	return failed;
}

int main(int argc, char **argv)
{
	int quick = 0;
	uint64_t seed = 0x5eed;
	uint32_t thread_counts[4] = {1, 2, 4, 8};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			quick = 1;
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc &&
			 tk_parse_counts(argv[i + 1], thread_counts, 4, 256) == 0)
			i++;
		else {
			fprintf(stderr, "usage: %s [--quick] [--seed N] [--threads A,B,C,D]\n",
				argv[0]);
			return 2;
		}
	}
	static const uint64_t p2p_accounts[] = {2, 10, 100, 1000};
	uint32_t txns = quick ? 200 : 1500;
	unsigned blocks = quick ? 2 : 3, reps = quick ? 1 : 2;
	unsigned passed = 0, failed = 0;
	for (int w = W_P2P; w <= W_MIXED; w++) {
		for (unsigned a = 0; a < 4; a++) {
			uint64_t accounts = w == W_P2P ? p2p_accounts[a] : (a == 0 ? 10 : 0);
			if (accounts == 0)
				continue;
			if (quick && accounts == 1000)
				continue;
			for (unsigned t = 0; t < 4; t++) {
				for (unsigned rep = 0; rep < reps; rep++) {
					uint64_t s = seed + 1000003ull * (w * 16 + a * 4 + rep);
					int rc = run_chain(w, accounts, txns, blocks,
							   thread_counts[t], s);
					if (rc == 0) {
						passed++;
					} else {
						failed++;
						fprintf(stderr,
							"diff_vm: reproduce with --seed %" PRIu64
							"\n",
							seed);
					}
				}
			}
		}
	}
	printf("statuses: success %" PRIu64 ", aborted %" PRIu64 ", out of gas %" PRIu64
	       ", failed %" PRIu64 ", discarded %" PRIu64 "\n",
	       status_totals[BSTM_TXN_SUCCESS], status_totals[BSTM_TXN_ABORTED],
	       status_totals[BSTM_TXN_OUT_OF_GAS], status_totals[BSTM_TXN_FAILED],
	       status_totals[BSTM_TXN_DISCARDED]);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
