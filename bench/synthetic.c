/*
 * synthetic.c - the synthetic workload.
 *
 * Accounts are 9-byte keys ('a' + big-endian index) holding an 8-byte
 * balance. Transaction i reads `reads` accounts, hashes what it read
 * `compute` times (SHA-256 over 32 bytes), and writes `writes` accounts: the
 * accounts it read first (read-modify-write, like a transfer), then fresh
 * ones. Each access is the hot account 0 with probability hot_ratio, else
 * uniform. Written values depend on everything read, so conflicts are real.
 * The accounts each transaction touches are drawn at setup, from the seed.
 */
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct synthetic {
	bench_params p;
	uint64_t *keys; /* txns x max(reads, writes) account indices */
	uint32_t per_txn;
	uint64_t *balances; /* base state */
} synthetic;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void encode_key(uint8_t key[9], uint64_t account)
{
	key[0] = 'a';
	for (int i = 0; i < 8; i++)
		key[1 + i] = (uint8_t)(account >> (56 - 8 * i));
}

static int synthetic_get(void *ctx, const void *key, size_t len, const void **value,
			 size_t *value_len)
{
	const synthetic *s = ctx;
	const uint8_t *k = key;
	if (len != 9 || k[0] != 'a')
		return BSTM_ENOTFOUND;
	uint64_t account = 0;
	for (int i = 0; i < 8; i++)
		account = account << 8 | k[1 + i];
	if (account >= s->p.accounts)
		return BSTM_ENOTFOUND;
	*value = &s->balances[account];
	*value_len = sizeof s->balances[account];
	return 0;
}

static int synthetic_execute(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *out)
{
	const synthetic *s = ctx;
	const uint64_t *keys = &s->keys[(uint64_t)index * s->per_txn];
	uint8_t buf[32] = {0};
	uint64_t acc = index;
	uint64_t read_values[64];
	uint32_t reads = s->p.reads < 64 ? s->p.reads : 64;
	for (uint32_t r = 0; r < reads; r++) {
		uint8_t key[9];
		encode_key(key, keys[r]);
		const void *v;
		size_t len;
		int rc = bstm_view_read(view, key, sizeof key, &v, &len);
		uint64_t value = 0;
		if (rc == BSTM_DEPENDENCY)
			return rc;
		if (rc == 0 && len == 8)
			memcpy(&value, v, 8);
		else if (rc != BSTM_ENOTFOUND && rc != 0)
			return rc;
		read_values[r] = value;
		acc = (acc ^ value) * 0x100000001b3ULL;
	}
	memcpy(buf, &acc, sizeof acc);
	bench_compute(buf, s->p.compute);
	uint64_t mix;
	memcpy(&mix, buf, sizeof mix);
	for (uint32_t w = 0; w < s->p.writes; w++) {
		uint8_t key[9];
		encode_key(key, keys[w]);
		uint64_t value = (w < reads ? read_values[w] : 0) + (mix >> 48) + 1;
		int rc = bstm_view_write(view, key, sizeof key, &value, sizeof value);
		if (rc)
			return rc;
	}
	*out = (bstm_txn_outcome){.status = BSTM_TXN_SUCCESS, .gas_used = 100 + s->p.compute};
	return 0;
}

static int synthetic_setup(const bench_params *p, bench_instance *inst)
{
	synthetic *s = calloc(1, sizeof *s);
	if (!s || p->accounts == 0)
		goto fail;
	s->p = *p;
	s->per_txn = p->reads > p->writes ? p->reads : p->writes;
	if (s->per_txn == 0)
		s->per_txn = 1;
	s->keys = malloc(sizeof *s->keys * (size_t)p->txns * s->per_txn);
	s->balances = malloc(sizeof *s->balances * p->accounts);
	if (!s->keys || !s->balances)
		goto fail;
	uint64_t rng = p->seed;
	for (uint64_t a = 0; a < p->accounts; a++)
		s->balances[a] = 1000000 + a;
	for (size_t k = 0; k < (size_t)p->txns * s->per_txn; k++) {
		double u = (double)(splitmix(&rng) >> 11) / (double)(1ull << 53);
		s->keys[k] = u < p->hot_ratio ? 0 : splitmix(&rng) % p->accounts;
	}
	inst->state = s;
	inst->block = (bstm_block){.size = sizeof(bstm_block),
				   .txn_count = p->txns,
				   .execute = synthetic_execute,
				   .ctx = s};
	inst->base = (bstm_base_view){.size = sizeof(bstm_base_view),
				      .get = synthetic_get,
				      .ctx = s,
				      .flags = BSTM_VIEW_THREAD_SAFE};
	return 0;
fail:
	if (s) {
		free(s->keys);
		free(s->balances);
		free(s);
	}
	return BSTM_ENOMEM;
}

/* Every transaction's keys are fixed at setup, so the read-after-write
 * chains are known without running it: depth(t) = 1 + the deepest last
 * writer of any key t reads. */
static double synthetic_bound(const bench_instance *inst)
{
	const synthetic *s = inst->state;
	uint32_t *depth = calloc(s->p.accounts, sizeof *depth);
	if (!depth)
		return 0;
	uint32_t longest = 0;
	for (uint32_t t = 0; t < s->p.txns; t++) {
		const uint64_t *keys = &s->keys[(uint64_t)t * s->per_txn];
		uint32_t d = 0;
		for (uint32_t r = 0; r < s->p.reads; r++)
			if (depth[keys[r]] > d)
				d = depth[keys[r]];
		d++;
		for (uint32_t w = 0; w < s->p.writes; w++)
			depth[keys[w]] = d;
		if (d > longest)
			longest = d;
	}
	free(depth);
	return longest ? (double)s->p.txns / longest : 0;
}

static void synthetic_teardown(bench_instance *inst)
{
	synthetic *s = inst->state;
	free(s->keys);
	free(s->balances);
	free(s);
}

static bench_workload synthetic_workload = {
	.name = "synthetic",
	.help = "reads/writes over --accounts with --compute SHA-256 rounds and --hot-ratio",
	.setup = synthetic_setup,
	.teardown = synthetic_teardown,
	.dependency_bound = synthetic_bound,
};
BENCH_REGISTER(synthetic_workload)
