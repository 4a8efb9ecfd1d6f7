/*
 * vm_node.c - a minimal node running the built-in VM through the installed
 * library: a genesis state of funded accounts, a block of coin transfers
 * (0x1::account::transfer), executed in parallel and checked against the
 * sequential executor.
 *
 * Build against an installed library:
 *   cc vm_node.c $(pkg-config --cflags --libs --static blockstm) -o vm_node
 */
#include <stdio.h>
#include <stdlib.h>

#include <blockstm_vm.h>

#define ACCOUNTS 1000
#define TXNS	 5000
#define THREADS	 2

int main(void)
{
	vm_kvmap *state = NULL;
	vm_engine *engine = NULL;
	bstm_executor *ex = NULL;
	bstm_output *parallel = NULL, *sequential = NULL;
	uint64_t seq[ACCOUNTS + 1] = {0};
	vm_txn *txns = calloc(TXNS, sizeof *txns);
	int rc = txns ? 0 : BSTM_ENOMEM;
	if (!rc)
		rc = vm_kvmap_create(&state);
	if (!rc)
		rc = vm_genesis(state, ACCOUNTS, 1000000);
	uint64_t r = 12345;
	for (uint32_t i = 0; !rc && i < TXNS; i++) {
		r = r * 6364136223846793005u + 1442695040888963407u;
		uint64_t from = 1 + (r >> 33) % ACCOUNTS, to = 1 + (r >> 13) % ACCOUNTS;
		uint64_t args[2] = {to, 1 + (r >> 3) % 100};
		rc = vm_txn_call(&txns[i], from, seq[from]++, 100000, 1, VM_STDLIB_ADDRESS,
				 "account", "transfer", args, 2);
	}
	bstm_config config;
	bstm_config_init(&config);
	config.threads = THREADS;
	if (!rc)
		rc = vm_engine_create(NULL, THREADS, &engine);
	if (!rc)
		rc = bstm_executor_create(&config, &ex);
	if (!rc) {
		vm_engine_begin_block(engine, txns, TXNS);
		bstm_block block = {.size = sizeof block,
				    .txn_count = TXNS,
				    .execute = vm_txn_execute,
				    .ctx = engine};
		bstm_base_view base;
		vm_kvmap_base_view(state, &base);
		rc = bstm_execute_block(ex, &block, &base, &parallel);
		if (!rc)
			rc = bstm_execute_block_sequential(ex, &block, &base, &sequential);
	}
	int same = 0;
	if (rc) {
		fprintf(stderr, "vm_node: %s (%s)\n", bstm_strerror(rc), bstm_errname(rc));
	} else {
		same = bstm_output_equal(parallel, sequential);
		uint32_t ok = 0;
		for (uint32_t i = 0; i < parallel->txn_count; i++)
			ok += parallel->txns[i].status == BSTM_TXN_SUCCESS;
		printf("blockstm %s VM: %u transfers, %u succeeded, %zu keys written, "
		       "parallel %s sequential\n",
		       bstm_version(), parallel->txn_count, ok, parallel->write_count,
		       same ? "==" : "!=");
		/* The node would now apply the block to its state. */
		rc = vm_kvmap_apply(state, parallel);
		if (rc)
			fprintf(stderr, "vm_node: apply: %s\n", bstm_strerror(rc));
	}
	bstm_output_free(parallel);
	bstm_output_free(sequential);
	bstm_executor_destroy(ex);
	vm_engine_destroy(engine);
	vm_kvmap_destroy(state);
	free(txns);
	return !rc && same ? 0 : 1;
}
