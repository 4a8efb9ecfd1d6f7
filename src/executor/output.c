/*
 * output.c - building, comparing and freeing block outputs.
 *
 * An output owns all its bytes: keys, values and events are copied into the
 * output's own arenas (one per thread that builds part of it), so the
 * executor can reset its block memory as soon as the block returns and the
 * caller can keep the output as long as it likes. Freeing it releases a
 * handful of chunks.
 */
#include <string.h>

#include "common/sort.h"
#include "executor/executor.h"

#define EXEC_OUTPUT_CHUNK (256u << 10)

exec_output *exec_output_new(uint32_t txn_count, uint32_t arena_count)
{
	exec_output *out = bstm_mem_calloc(sizeof *out);
	if (!out)
		return NULL;
	/* Not calloc: for a large array the allocator may zero reused memory
	 * by handing its pages back to the kernel, and every page then faults
	 * again on its first write (in the benchmark, about 160 faults per
	 * block, nearly all it had after the first). A memset of pages in use
	 * costs less. */
	size_t txns_size = sizeof *out->txns * (txn_count ? txn_count : 1);
	out->txns = malloc(txns_size);
	if (out->txns)
		memset(out->txns, 0, txns_size);
	out->arenas = bstm_mem_calloc(sizeof *out->arenas * arena_count);
	if (!out->txns || !out->arenas) {
		free(out->txns);
		bstm_mem_free(out->arenas, sizeof *out->arenas * arena_count);
		bstm_mem_free(out, sizeof *out);
		return NULL;
	}
	out->arena_count = arena_count;
	for (uint32_t i = 0; i < arena_count; i++)
		bstm_arena_init(exec_output_arena_of(out, i), EXEC_OUTPUT_CHUNK);
	out->pub.txn_count = txn_count;
	out->pub.txns = out->txns;
	return out;
}

void bstm_output_free(bstm_output *output)
{
	if (!output)
		return;
	exec_output *out = (exec_output *)output;
	for (uint32_t i = 0; i < out->arena_count; i++)
		bstm_arena_destroy(exec_output_arena_of(out, i));
	bstm_mem_free(out->arenas, sizeof *out->arenas * out->arena_count);
	free(out->txns);
	bstm_mem_free(out, sizeof *out);
}

static int compare_refs(const void *a, const void *b)
{
	const exec_write_ref *x = a, *y = b;
	return bstm_key_compare(x->key, x->key_len, y->key, y->key_len);
}

/* A transaction's writes by key: insertion sort for the common tiny sets,
 * qsort beyond. */
static void sort_writes(exec_write_ref *w, uint32_t n)
{
	if (n > 16) {
		qsort(w, n, sizeof *w, compare_refs);
		return;
	}
	for (uint32_t i = 1; i < n; i++) {
		exec_write_ref x = w[i];
		uint32_t j = i;
		while (j > 0 && compare_refs(&w[j - 1], &x) > 0) {
			w[j] = w[j - 1];
			j--;
		}
		w[j] = x;
	}
}

static const uint8_t *copy_bytes(bstm_arena *a, const uint8_t *p, uint32_t len, bool *oom)
{
	if (!p)
		return NULL;
	uint8_t *c = bstm_arena_alloc(a, len);
	if (!c) {
		*oom = true;
		return NULL;
	}
	if (len)
		memcpy(c, p, len);
	return c;
}

int exec_output_set_txn(exec_output *out, bstm_arena *arena, uint32_t idx,
			const bstm_txn_outcome *outcome, exec_write_ref *writes,
			uint32_t write_count, const bstm_event *events, uint32_t event_count)
{
	bstm_txn_output *t = &out->txns[idx];
	bool discarded = outcome->status == BSTM_TXN_DISCARDED;
	if (discarded)
		write_count = event_count = 0;
	sort_writes(writes, write_count);
	bool oom = false;
	bstm_write *w = bstm_arena_alloc(arena, sizeof *w * write_count);
	bstm_event *ev = bstm_arena_alloc(arena, sizeof *ev * event_count);
	if (!w || !ev)
		return BSTM_ENOMEM;
	for (uint32_t i = 0; i < write_count; i++) {
		const exec_write_ref *r = &writes[i];
		w[i] = (bstm_write){
			.key = copy_bytes(arena, r->key, r->key_len, &oom),
			.value = r->is_delete
					 ? NULL
					 : copy_bytes(arena,
						      r->value ? r->value : (const uint8_t *)"",
						      r->value_len, &oom),
			.key_len = r->key_len,
			.value_len = r->is_delete ? 0 : r->value_len,
			.is_delete = r->is_delete};
	}
	for (uint32_t i = 0; i < event_count; i++)
		ev[i] = (bstm_event){
			.data = copy_bytes(arena,
					   events[i].data ? events[i].data : (const uint8_t *)"",
					   events[i].len, &oom),
			.len = events[i].len};
	if (oom)
		return BSTM_ENOMEM;
	*t = (bstm_txn_output){.status = outcome->status,
			       .code = outcome->code,
			       .gas_used = discarded ? 0 : outcome->gas_used,
			       .writes = w,
			       .write_count = write_count,
			       .events = ev,
			       .event_count = event_count};
	return 0;
}

void exec_output_retry_rest(exec_output *out, uint32_t from)
{
	for (uint32_t i = from; i < out->pub.txn_count; i++)
		out->txns[i] = (bstm_txn_output){.status = BSTM_TXN_RETRY};
	out->pub.stats.committed = from;
	out->pub.stats.gas_used = out->cumulative_gas;
}

int exec_merged_begin(exec_worker *w, size_t n)
{
	if (n > w->merged_cap) {
		bstm_write *grown = realloc(w->merged, sizeof *grown * n);
		if (!grown)
			return BSTM_ENOMEM;
		w->merged = grown;
		w->merged_cap = n;
	}
	w->merged_count = 0;
	return 0;
}

exec_write_ref *exec_scratch(exec_worker *w, uint32_t n)
{
	if (n > w->scratch_cap || !w->scratch) {
		uint32_t cap = n > 4 ? n * 2 : 8; /* never NULL on success, even for 0 */
		exec_write_ref *grown = realloc(w->scratch, sizeof *grown * cap);
		if (!grown)
			return NULL;
		w->scratch = grown;
		w->scratch_cap = cap;
	}
	return w->scratch;
}

int exec_merged_add(exec_worker *w, bstm_arena *arena, const uint8_t *key, uint32_t key_len,
		    const uint8_t *value, uint32_t value_len, bool is_delete)
{
	const uint8_t *k = bstm_arena_dup(arena, key, key_len);
	const uint8_t *v = is_delete ? NULL : bstm_arena_dup(arena, value, value_len);
	if (!k || (!is_delete && !v))
		return BSTM_ENOMEM;
	w->merged[w->merged_count++] = (bstm_write){.key = k,
						    .value = v,
						    .key_len = key_len,
						    .value_len = is_delete ? 0 : value_len,
						    .is_delete = is_delete};
	return 0;
}

int exec_merged_sort(exec_worker *w)
{
	return bstm_sort_writes(w->merged, w->merged_count, &w->sort_buf);
}

int exec_output_set_merged(exec_output *out, const bstm_sorted_part *parts, size_t nparts)
{
	size_t count = 0;
	for (size_t p = 0; p < nparts; p++)
		count += parts[p].count;
	bstm_write *merged = bstm_arena_alloc(exec_output_arena_of(out, 0), sizeof *merged * count);
	if (!merged || bstm_merge_writes(merged, parts, nparts) != 0)
		return BSTM_ENOMEM;
	out->pub.writes = merged;
	out->pub.write_count = count;
	return 0;
}

int exec_outcome_error(int rc, const bstm_txn_outcome *outcome)
{
	return rc != 0 || outcome->status > BSTM_TXN_DISCARDED ? BSTM_ETXN : 0;
}

bool exec_after_commit(exec_block_run *run, uint32_t idx, uint64_t gas,
		       const bstm_txn_output *hooked)
{
	exec_output *out = run->out;
	out->committed = idx + 1;
	/* Saturating: a transaction reporting gas near 2^64 must end a
	 * limited block, not wrap the sum below the limit. */
	out->cumulative_gas =
		gas > UINT64_MAX - out->cumulative_gas ? UINT64_MAX : out->cumulative_gas + gas;
	if (hooked && idx >= run->hooked)
		run->block->commit_hook(run->block->hook_ctx, idx, hooked);
	return run->gas_limit != 0 && out->cumulative_gas >= run->gas_limit;
}

static bool bytes_equal(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static bool writes_equal(const bstm_write *a, const bstm_write *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].is_delete != b[i].is_delete ||
		    !bytes_equal(a[i].key, a[i].key_len, b[i].key, b[i].key_len) ||
		    !bytes_equal(a[i].value, a[i].value_len, b[i].value, b[i].value_len))
			return false;
	}
	return true;
}

int bstm_output_equal(const bstm_output *a, const bstm_output *b)
{
	if (!a || !b)
		return a == b;
	if (a->txn_count != b->txn_count || a->write_count != b->write_count)
		return 0;
	for (uint32_t i = 0; i < a->txn_count; i++) {
		const bstm_txn_output *x = &a->txns[i], *y = &b->txns[i];
		if (x->status != y->status || x->code != y->code || x->gas_used != y->gas_used ||
		    x->write_count != y->write_count || x->event_count != y->event_count)
			return 0;
		if (!writes_equal(x->writes, y->writes, x->write_count))
			return 0;
		for (uint32_t e = 0; e < x->event_count; e++)
			if (!bytes_equal(x->events[e].data, x->events[e].len, y->events[e].data,
					 y->events[e].len))
				return 0;
	}
	return writes_equal(a->writes, b->writes, a->write_count);
}
