/*
 * sequential.c - the baseline: the same transaction function, run in index
 * order on the calling thread over a plain overlay map of the block's state.
 * No multi-version memory, no scheduler, no atomics. Its output is the
 * reference the parallel executor must reproduce byte for byte, and the
 * timing every speedup is measured against.
 */
#include <string.h>

#include "executor/executor.h"

int exec_commit_local(struct bstm_executor *ex, exec_worker *w, exec_output *out, bstm_arena *arena,
		      uint32_t idx, const bstm_txn_outcome *outcome)
{
	bstm_view *v = &w->view;
	bool keep = outcome->status != BSTM_TXN_DISCARDED;
	exec_write_ref *refs = keep ? exec_scratch(w, v->local.count) : w->scratch;
	if (keep && !refs)
		return BSTM_ENOMEM;
	uint32_t count = 0;
	for (uint32_t k = 0; keep && k < v->local.count; k++) {
		exec_item *it = &v->local.items[k];
		if (!(it->flags & EXEC_ITEM_WRITE))
			continue;
		exec_item *state = exec_map_find(&ex->overlay, it->key, it->key_len, it->hash);
		if (!state)
			state = exec_map_insert(&ex->overlay, it->key, it->key_len, it->hash);
		if (!state)
			return BSTM_ENOMEM;
		state->flags = EXEC_ITEM_WRITE | (it->flags & EXEC_ITEM_DELETED);
		state->writer = idx;
		state->value = it->value;
		state->value_len = it->value_len;
		refs[count++] = (exec_write_ref){
			.key = it->key,
			.value = it->value,
			.key_len = it->key_len,
			.value_len = it->value_len,
			.is_delete = (it->flags & EXEC_ITEM_DELETED) != 0,
		};
	}
	return exec_output_set_txn(out, arena, idx, outcome, refs, count, v->events,
				   v->event_count);
}

/* The merged write set: the overlay's written items, sorted. Their bytes
 * live in the block arena, reset after the block, so they are copied. */
static int merge_overlay(struct bstm_executor *ex, exec_worker *w, exec_output *out)
{
	size_t writes = 0;
	for (uint32_t k = 0; k < ex->overlay.count; k++)
		writes += (ex->overlay.items[k].flags & EXEC_ITEM_WRITE) != 0;
	if (exec_merged_begin(w, writes) != 0)
		return BSTM_ENOMEM;
	bstm_arena *a = exec_output_arena_of(out, 0);
	for (uint32_t k = 0; k < ex->overlay.count; k++) {
		const exec_item *it = &ex->overlay.items[k];
		if ((it->flags & EXEC_ITEM_WRITE) &&
		    exec_merged_add(w, a, it->key, it->key_len, it->value, it->value_len,
				    (it->flags & EXEC_ITEM_DELETED) != 0) != 0)
			return BSTM_ENOMEM;
	}
	int rc = exec_merged_sort(w);
	if (!rc) {
		bstm_sorted_part part = exec_merged_part(w);
		rc = exec_output_set_merged(out, &part, 1);
	}
	w->merged_count = 0;
	return rc;
}

int exec_run_sequential(struct bstm_executor *ex, const bstm_block *block,
			const bstm_base_view *base, exec_output **out_p, uint32_t hooked,
			uint32_t *hooked_out)
{
	uint32_t n = block->txn_count;
	*out_p = NULL;
	exec_output *out = exec_output_new(n, 1);
	if (!out)
		return BSTM_ENOMEM;
	exec_block_run run = {
		.block = block,
		.base = base,
		.ex = ex,
		.out = out,
		.gas_limit = ex->config.block_gas_limit,
		.hooked = hooked,
	};
	exec_worker *w = &ex->workers[0];
	bstm_view *v = &w->view;
	v->arena = &ex->seq_arena;
	exec_map_clear(&ex->overlay);
	int rc = 0;
	uint64_t executed = 0;
	for (uint32_t i = 0; i < n; i++) {
		exec_view_begin(v, EXEC_MODE_SEQUENTIAL, &run, i, true);
		bstm_txn_outcome outcome = {0, 0, 0};
		int frc = block->execute(block->ctx, i, v, &outcome);
		executed++;
		if (v->error) {
			rc = v->error;
			break;
		}
		rc = exec_outcome_error(frc, &outcome);
		if (rc)
			break;
		rc = exec_commit_local(ex, w, out, exec_output_arena_of(out, 0), i, &outcome);
		if (rc)
			break;
		const bstm_txn_output *t = &out->txns[i];
		if (exec_after_commit(&run, i, t->gas_used, block->commit_hook ? t : NULL))
			break;
	}
	if (!rc) {
		exec_output_retry_rest(out, out->committed);
		rc = merge_overlay(ex, w, out);
	}
	exec_map_clear(&ex->overlay);
	bstm_arena_reset(&ex->seq_arena);
	if (rc) {
		if (hooked_out)
			*hooked_out = out->committed > hooked ? out->committed : hooked;
		bstm_output_free(&out->pub);
		return rc;
	}
	out->pub.stats.executions = executed;
	out->pub.stats.threads = 1;
	out->pub.stats.sequential = 1;
	*out_p = out;
	return 0;
}

int exec_run_timed_serial(struct bstm_executor *ex, const bstm_block *block,
			  const bstm_base_view *base, exec_output **out_p, uint32_t *hooked)
{
	uint64_t start = bstm_now_ns();
	int rc = exec_run_sequential(ex, block, base, out_p, 0, hooked);
	if (rc)
		return rc;
	exec_output *out = *out_p;
	out->pub.stats.threads = ex->config.threads;
	out->pub.stats.sequential = 0;
	out->pub.stats.serial_txns = out->pub.stats.executions;
	out->pub.stats.timed_serial = 1;
	sched_time_block(&ex->sc, bstm_now_ns() - start, out->committed, out->pub.stats.gas_used);
	return 0;
}
