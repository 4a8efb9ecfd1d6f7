/*
 * node.c - a minimal node embedding libblockstm: a key-value "bank" where
 * each transaction moves one unit between two accounts, executed in parallel
 * and checked against the sequential executor.
 *
 * Build against an installed library:
 *   cc node.c $(pkg-config --cflags --libs --static blockstm) -o node
 */
#include <stdio.h>
#include <string.h>

#include <blockstm.h>

#define ACCOUNTS 100
#define TXNS	 5000

static uint64_t balances[ACCOUNTS];

/* The base state: account i is the 1-byte key i. */
static int base_get(void *ctx, const void *key, size_t len, const void **value, size_t *value_len)
{
	(void)ctx;
	const uint8_t *k = key;
	if (len != 1 || k[0] >= ACCOUNTS)
		return BSTM_ENOTFOUND;
	*value = &balances[k[0]];
	*value_len = sizeof balances[0];
	return 0;
}

static int read_u64(bstm_view *view, uint8_t key, uint64_t *out)
{
	const void *v;
	size_t len;
	int rc = bstm_view_read(view, &key, 1, &v, &len);
	*out = 0;
	if (rc == BSTM_ENOTFOUND)
		return 0; /* an account never funded */
	if (rc == 0 && len == 8)
		memcpy(out, v, 8);
	return rc;
}

/* Transaction i: move 1 from account i % N to account (i * 7 + 3) % N. */
static int transfer(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	(void)ctx;
	uint8_t from = index % ACCOUNTS, to = (index * 7 + 3) % ACCOUNTS;
	uint64_t a, b;
	int rc = read_u64(view, from, &a);
	if (rc == 0)
		rc = read_u64(view, to, &b);
	if (rc)
		return rc; /* BSTM_DEPENDENCY included: return it at once */
	if (a == 0 || from == to) {
		*outcome = (bstm_txn_outcome){.status = BSTM_TXN_ABORTED, .code = 1, .gas_used = 1};
		return 0;
	}
	a -= 1;
	b += 1;
	rc = bstm_view_write(view, &from, 1, &a, 8);
	if (rc == 0)
		rc = bstm_view_write(view, &to, 1, &b, 8);
	if (rc)
		return rc; /* out of memory: fails the block */
	*outcome = (bstm_txn_outcome){.status = BSTM_TXN_SUCCESS, .gas_used = 1};
	return 0;
}

int main(void)
{
	for (int i = 0; i < ACCOUNTS; i++)
		balances[i] = 10;
	bstm_config config;
	bstm_config_init(&config);
	config.threads = 2;
	bstm_executor *ex;
	int rc = bstm_executor_create(&config, &ex);
	if (rc) {
		fprintf(stderr, "create: %s\n", bstm_strerror(rc));
		return 1;
	}
	bstm_block block = {.size = sizeof block, .txn_count = TXNS, .execute = transfer};
	bstm_base_view base = {
		.size = sizeof base, .get = base_get, .flags = BSTM_VIEW_THREAD_SAFE};
	bstm_output *parallel = NULL, *sequential = NULL;
	rc = bstm_execute_block(ex, &block, &base, &parallel);
	if (!rc)
		rc = bstm_execute_block_sequential(ex, &block, &base, &sequential);
	if (rc) {
		fprintf(stderr, "execute: %s (%s)\n", bstm_strerror(rc), bstm_errname(rc));
		bstm_output_free(parallel);
		bstm_executor_destroy(ex);
		return 1;
	}
	int same = bstm_output_equal(parallel, sequential);
	printf("blockstm %s: %u transactions, %zu keys written, %llu executions, "
	       "parallel %s sequential\n",
	       bstm_version(), parallel->txn_count, parallel->write_count,
	       (unsigned long long)parallel->stats.executions, same ? "==" : "!=");
	bstm_output_free(parallel);
	bstm_output_free(sequential);
	bstm_executor_destroy(ex);
	return same ? 0 : 1;
}
