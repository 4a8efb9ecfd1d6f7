/*
 * engine.c - the VM as a bstm_txn_fn.
 *
 * The engine is the block context the executor passes to vm_txn_execute():
 * the block's decoded transactions and one execution instance per worker.
 * bstm_view_worker() is stable per thread and never shared by two concurrent
 * calls, so a worker's instance is touched by that worker only and needs no
 * lock; instances are created lazily by their own worker and survive across
 * blocks. The recreate settings bound what a long-lived instance can
 * accumulate (allocator fragmentation, cache contents): every N
 * transactions the worker replaces its own instance; every N blocks
 * vm_engine_begin_block(), which runs between block calls, drops them all.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

struct vm_engine {
	vm_config config;
	uint32_t workers;
	vm_instance **instances;
	const vm_txn *txns;
	uint32_t txn_count;
	uint64_t blocks;
	uint64_t created; /* atomic: workers create instances concurrently */
};

static int view_read(void *ctx, const void *key, size_t key_len, const void **value,
		     size_t *value_len)
{
	return bstm_view_read(ctx, key, key_len, value, value_len);
}

static int view_write(void *ctx, const void *key, size_t key_len, const void *value,
		      size_t value_len)
{
	return bstm_view_write(ctx, key, key_len, value, value_len);
}

static int view_remove(void *ctx, const void *key, size_t key_len)
{
	return bstm_view_delete(ctx, key, key_len);
}

static int view_emit(void *ctx, const void *data, size_t len)
{
	return bstm_view_emit(ctx, data, len);
}

static const vm_state_ops view_ops = {view_read, view_write, view_remove, view_emit};

int vm_engine_create(const vm_config *config, uint32_t workers, vm_engine **engine)
{
	if (!engine)
		return BSTM_EINVAL;
	*engine = NULL;
	vm_config cfg;
	/* Checked here, not at the first transaction, where every instance
	 * would fail to be created. */
	if (workers == 0 || vm_config_resolve(config, &cfg) != 0)
		return BSTM_EINVAL;
	vm_engine *e = calloc(1, sizeof *e);
	if (!e)
		return BSTM_ENOMEM;
	e->config = cfg;
	e->workers = workers;
	e->instances = calloc(workers, sizeof *e->instances);
	if (!e->instances) {
		free(e);
		return BSTM_ENOMEM;
	}
	*engine = e;
	return 0;
}

static void drop_instances(vm_engine *e)
{
	for (uint32_t i = 0; i < e->workers; i++) {
		vm_instance_destroy(e->instances[i]);
		e->instances[i] = NULL;
	}
}

void vm_engine_destroy(vm_engine *e)
{
	if (!e)
		return;
	drop_instances(e);
	free(e->instances);
	free(e);
}

void vm_engine_begin_block(vm_engine *e, const vm_txn *txns, uint32_t count)
{
	if (!e)
		return;
	e->txns = txns;
	e->txn_count = txns ? count : 0; /* no array: every index is out of range */
	/* After every N whole blocks: an instance serves N blocks, the first
	 * ones too. */
	if (e->config.recreate_every_blocks && e->blocks > 0 &&
	    e->blocks % e->config.recreate_every_blocks == 0)
		drop_instances(e);
	e->blocks++;
}

uint64_t vm_engine_instances_created(const vm_engine *e)
{
	return __atomic_load_n(&e->created, __ATOMIC_RELAXED);
}

int vm_txn_execute(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	vm_engine *e = ctx;
	uint32_t worker = bstm_view_worker(view);
	if (worker >= e->workers || index >= e->txn_count)
		return BSTM_EINVAL;
	vm_instance **slot = &e->instances[worker];
	if (*slot && e->config.recreate_every_txns &&
	    (*slot)->txns_run >= e->config.recreate_every_txns) {
		vm_instance_destroy(*slot);
		*slot = NULL;
	}
	if (!*slot) {
		int rc = vm_instance_create(&e->config, slot);
		if (rc)
			return rc;
		/* a statistic only: relaxed, nothing is published through it */
		__atomic_fetch_add(&e->created, 1, __ATOMIC_RELAXED);
	}
	return vm_execute_txn(*slot, &e->txns[index], &view_ops, view, outcome);
}
