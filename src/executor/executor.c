/*
 * executor.c - the public entry points: configuration, executor lifecycle,
 * and bstm_execute_block's policy (small blocks run sequentially; an
 * internal failure in parallel mode falls back to sequential execution).
 */
#include <stddef.h>
#include <string.h>

#include "executor/executor.h"

#define EXEC_ARENA_CHUNK (1u << 20)
#define EXEC_MAX_THREADS 1024u

#define END(f) (offsetof(bstm_config, f) + sizeof(((bstm_config *)0)->f))
_Static_assert(sizeof(bstm_config) == END(reserved), "bstm_config has trailing padding");

/* What sizeof(bstm_config) was in an earlier header: 40 before
 * timed_segments and reserved were added (the struct then ended with
 * serial_segments, or with spin_before_park and 4 bytes of padding). */
#define CONFIG_SIZE_V1 END(serial_segments)
_Static_assert(CONFIG_SIZE_V1 == 40, "the earlier header's size");

static bool config_size_known(size_t size)
{
	return size == CONFIG_SIZE_V1 || size == sizeof(bstm_config);
}
#undef CONFIG_SIZE_V1
#undef END

int bstm_config_init_size(bstm_config *config, size_t size)
{
	if (!config || !config_size_known(size))
		return BSTM_EINVAL;
	bstm_config d;
	memset(&d, 0, sizeof d);
	d.size = size;
	d.threads = 1;
	d.sequential_fallback = 1;
	d.small_block_threshold = BSTM_DEFAULT_SMALL_BLOCK;
	d.serial_segments = 1;
	d.timed_segments = 1;
	memcpy(config, &d, size); /* nothing past the caller's struct */
	return 0;
}

static int read_config(const bstm_config *in, bstm_config *out)
{
	/* A caller built against an earlier header passes its shorter struct:
	 * the fields it does not know take their defaults. */
	if (!in || !config_size_known(in->size))
		return BSTM_EINVAL;
	bstm_config_init(out);
	memcpy(out, in, in->size);
	out->size = sizeof *out;
	if (out->threads == 0 || out->threads > EXEC_MAX_THREADS || out->reserved != 0)
		return BSTM_EINVAL;
	return 0;
}

int bstm_executor_create(const bstm_config *config, bstm_executor **executor)
{
	if (!executor)
		return BSTM_EINVAL;
	*executor = NULL;
	bstm_config cfg;
	int rc = read_config(config, &cfg);
	if (rc)
		return rc;
	bstm_executor *ex = calloc(1, sizeof *ex);
	if (!ex)
		return BSTM_ENOMEM;
	ex->config = cfg;
	pthread_mutex_init(&ex->base_lock, NULL);
	mvm_init(&ex->mv);
	sched_init(&ex->sc);
	bstm_arena_init(&ex->seq_arena, EXEC_ARENA_CHUNK);
	ex->workers = bstm_mem_calloc(sizeof *ex->workers * cfg.threads);
	if (!ex->workers || exec_map_init(&ex->overlay, 1024) != 0) {
		bstm_executor_destroy(ex);
		return BSTM_ENOMEM;
	}
	for (uint32_t i = 0; i < cfg.threads; i++) {
		bstm_arena_init(&ex->workers[i].arena, EXEC_ARENA_CHUNK);
		if (exec_view_init(&ex->workers[i].view, i) != 0) {
			bstm_executor_destroy(ex);
			return BSTM_ENOMEM;
		}
	}
	rc = exec_pool_start(&ex->pool, cfg.threads - 1, cfg.spin_before_park);
	if (rc) {
		bstm_executor_destroy(ex);
		return rc;
	}
	*executor = ex;
	return 0;
}

void bstm_executor_destroy(bstm_executor *ex)
{
	if (!ex)
		return;
	exec_pool_stop(&ex->pool);
	if (ex->workers) {
		for (uint32_t i = 0; i < ex->config.threads; i++) {
			exec_view_destroy(&ex->workers[i].view);
			bstm_arena_destroy(&ex->workers[i].arena);
			free(ex->workers[i].scratch);
			free(ex->workers[i].merged);
			bstm_sort_buf_free(&ex->workers[i].sort_buf);
		}
		bstm_mem_free(ex->workers, sizeof *ex->workers * ex->config.threads);
	}
	exec_map_destroy(&ex->overlay);
	bstm_arena_destroy(&ex->seq_arena);
	mvm_destroy(&ex->mv);
	sched_destroy(&ex->sc);
	pthread_mutex_destroy(&ex->base_lock);
	free(ex);
}

static int check_call(bstm_executor *ex, const bstm_block *block, const bstm_base_view *base,
		      bstm_output **output)
{
	if (!output)
		return BSTM_EINVAL;
	*output = NULL;
	if (!ex || !block || !base)
		return BSTM_EINVAL;
	if (block->size != sizeof *block || !block->execute)
		return BSTM_EINVAL;
	if (base->size != sizeof *base || !base->get)
		return BSTM_EINVAL;
	if (block->txn_count > BSTM_MAX_BLOCK_TXNS)
		return BSTM_ETOOBIG;
	/* Acquire pairs with the release in finish(): the previous call's
	 * writes to the executor are seen by this one, whichever thread made
	 * them. */
	uint32_t idle = 0;
	if (!atomic_compare_exchange_strong_explicit(&ex->busy, &idle, 1, memory_order_acquire,
						     memory_order_relaxed))
		return BSTM_EBUSY;
	return 0;
}

/* The end of a call that check_call admitted. */
static int finish(bstm_executor *ex, int rc, exec_output *out, uint64_t start, bstm_output **output)
{
	atomic_store_explicit(&ex->busy, 0, memory_order_release);
	if (rc)
		return rc;
	out->pub.stats.wall_ns = bstm_now_ns() - start;
	*output = &out->pub;
	return 0;
}

int bstm_execute_block(bstm_executor *ex, const bstm_block *block, const bstm_base_view *base,
		       bstm_output **output)
{
	int rc = check_call(ex, block, base, output);
	if (rc)
		return rc;
	uint64_t start = bstm_now_ns();
	exec_output *out = NULL;
	if (block->txn_count < ex->config.small_block_threshold) {
		rc = exec_run_sequential(ex, block, base, &out, 0, NULL);
		return finish(ex, rc, out, start, output);
	}
	uint32_t hooked = 0;
	/* Timing may run the block serially; a failure there is retried like
	 * one of the parallel run, so the outcome never depends on timing. */
	if (sched_plan_block(&ex->sc, ex->config.serial_segments != 0,
			     ex->config.timed_segments != 0, ex->config.threads))
		rc = exec_run_timed_serial(ex, block, base, &out, &hooked);
	else
		rc = exec_run_parallel(ex, block, base, &out, &hooked);
	bool internal = rc == BSTM_ENOMEM || rc == BSTM_EINTERNAL || rc == BSTM_ETXN;
	if (rc && internal && ex->config.sequential_fallback) {
		/* The committed prefix is identical in every executor, so the
		 * hook has already seen it: it continues where the failed run
		 * stopped. */
		rc = exec_run_sequential(ex, block, base, &out, hooked, NULL);
		if (!rc)
			out->pub.stats.fallback = 1;
	}
	return finish(ex, rc, out, start, output);
}

int bstm_execute_block_sequential(bstm_executor *ex, const bstm_block *block,
				  const bstm_base_view *base, bstm_output **output)
{
	int rc = check_call(ex, block, base, output);
	if (rc)
		return rc;
	uint64_t start = bstm_now_ns();
	exec_output *out = NULL;
	rc = exec_run_sequential(ex, block, base, &out, 0, NULL);
	return finish(ex, rc, out, start, output);
}
