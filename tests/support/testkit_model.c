/*
 * testkit_model.c - the model executor and the output helpers; see testkit.h.
 *
 * The model executor (tk_block_model) is deliberately naive: a hash map of
 * the state as the committed prefix left it, a linear list of the running
 * transaction's writes, and the block rules as the public header states
 * them. It shares no code with the library, so a bug in the library's
 * sequential executor shows up as a difference from the model.
 */
#include "testkit_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The model executor                                                        */
/* ------------------------------------------------------------------------ */

typedef struct model_write {
	uint8_t *key;
	uint8_t *value;
	uint32_t key_len;
	uint32_t value_len;
	int is_delete;
} model_write;

typedef struct model_txn {
	const tk_base *base;
	tk_map *state; /* the committed prefix's writes */
	model_write *writes;
	uint32_t write_count;
	uint32_t write_cap;
	bstm_event *events;
	uint32_t event_count;
	uint32_t event_cap;
} model_txn;

static model_write *model_find(model_txn *t, const void *key, size_t key_len)
{
	for (uint32_t i = 0; i < t->write_count; i++)
		if (!tk_key_cmp(t->writes[i].key, t->writes[i].key_len, key, key_len))
			return &t->writes[i];
	return NULL;
}

static int model_read(void *h, const void *key, size_t key_len, const void **value,
		      size_t *value_len)
{
	model_txn *t = h;
	model_write *w = model_find(t, key, key_len);
	if (w) {
		if (w->is_delete)
			return BSTM_ENOTFOUND;
		*value = w->value;
		*value_len = w->value_len;
		return 0;
	}
	tk_entry *e = tk_map_find(t->state, key, key_len);
	if (e) {
		if (!e->present)
			return BSTM_ENOTFOUND;
		*value = e->value;
		*value_len = e->value_len;
		return 0;
	}
	return tk_base_lookup(t->base, key, key_len, value, value_len);
}

static int model_put(model_txn *t, const void *key, size_t key_len, const void *value,
		     size_t value_len, int is_delete)
{
	if (key_len > BSTM_MAX_KEY_LEN)
		return BSTM_ETOOBIG;
	model_write *w = model_find(t, key, key_len);
	if (!w) {
		if (t->write_count == t->write_cap) {
			uint32_t cap = t->write_cap ? t->write_cap * 2 : 8;
			model_write *grown = realloc(t->writes, cap * sizeof(*grown));
			if (!grown)
				return BSTM_ENOMEM;
			t->writes = grown;
			t->write_cap = cap;
		}
		w = &t->writes[t->write_count++];
		w->key = tk_memdup(key, key_len);
		if (!w->key) {
			t->write_count--;
			return BSTM_ENOMEM;
		}
		w->key_len = (uint32_t)key_len;
		w->value = NULL;
	}
	free(w->value);
	w->value = NULL;
	w->value_len = 0;
	w->is_delete = is_delete;
	if (!is_delete) {
		w->value = tk_memdup(value, value_len);
		if (!w->value)
			return BSTM_ENOMEM;
		w->value_len = (uint32_t)value_len;
	}
	return 0;
}

static int model_write_fn(void *h, const void *key, size_t key_len, const void *value,
			  size_t value_len)
{
	return model_put(h, key, key_len, value, value_len, 0);
}

static int model_delete_fn(void *h, const void *key, size_t key_len)
{
	return model_put(h, key, key_len, NULL, 0, 1);
}

static int model_emit_fn(void *h, const void *data, size_t len)
{
	model_txn *t = h;
	if (t->event_count == t->event_cap) {
		uint32_t cap = t->event_cap ? t->event_cap * 2 : 4;
		bstm_event *grown = realloc(t->events, cap * sizeof(*grown));
		if (!grown)
			return BSTM_ENOMEM;
		t->events = grown;
		t->event_cap = cap;
	}
	uint8_t *copy = tk_memdup(data, len);
	if (!copy)
		return BSTM_ENOMEM;
	t->events[t->event_count].data = copy;
	t->events[t->event_count].len = (uint32_t)len;
	t->event_count++;
	return 0;
}

static const tk_io model_io = {model_read, model_write_fn, model_delete_fn, model_emit_fn};

static void model_txn_reset(model_txn *t)
{
	for (uint32_t i = 0; i < t->write_count; i++) {
		free(t->writes[i].key);
		free(t->writes[i].value);
	}
	for (uint32_t i = 0; i < t->event_count; i++)
		free((void *)t->events[i].data);
	t->write_count = 0;
	t->event_count = 0;
}

static int model_write_cmp(const void *a, const void *b)
{
	const model_write *x = a, *y = b;
	return tk_key_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Move the transaction's writes and events into `out` (sorted writes). */
static int model_take(model_txn *t, bstm_txn_output *out)
{
	if (t->write_count > 1)
		qsort(t->writes, t->write_count, sizeof(*t->writes), model_write_cmp);
	bstm_write *writes = calloc(t->write_count ? t->write_count : 1, sizeof(*writes));
	bstm_event *events = calloc(t->event_count ? t->event_count : 1, sizeof(*events));
	if (!writes || !events) {
		free(writes);
		free(events);
		return BSTM_ENOMEM;
	}
	for (uint32_t i = 0; i < t->write_count; i++) {
		writes[i].key = t->writes[i].key;
		writes[i].value = t->writes[i].value;
		writes[i].key_len = t->writes[i].key_len;
		writes[i].value_len = t->writes[i].value_len;
		writes[i].is_delete = (uint32_t)t->writes[i].is_delete;
	}
	if (t->event_count)
		memcpy(events, t->events, t->event_count * sizeof(*events));
	out->writes = writes;
	out->write_count = t->write_count;
	out->events = events;
	out->event_count = t->event_count;
	t->write_count = 0;
	t->event_count = 0;
	return 0;
}

typedef struct merge_item {
	const bstm_write *write;
	uint32_t txn;
} merge_item;

static int merge_item_cmp(const void *a, const void *b)
{
	const merge_item *x = a, *y = b;
	int c = tk_key_cmp(x->write->key, x->write->key_len, y->write->key, y->write->key_len);
	if (c)
		return c;
	return (x->txn > y->txn) - (x->txn < y->txn);
}

/*
 * The merged write set of `txns`: the last write per key, in key order. The
 * result points into the transactions' writes; free only the array.
 */
int tk_merge_writes(const bstm_txn_output *txns, uint32_t txn_count, bstm_write **writes,
		    size_t *write_count)
{
	size_t total = 0;
	for (uint32_t i = 0; i < txn_count; i++)
		total += txns[i].write_count;
	merge_item *items = calloc(total ? total : 1, sizeof(*items));
	bstm_write *merged = calloc(total ? total : 1, sizeof(*merged));
	if (!items || !merged) {
		free(items);
		free(merged);
		return BSTM_ENOMEM;
	}
	size_t n = 0;
	for (uint32_t i = 0; i < txn_count; i++)
		for (uint32_t k = 0; k < txns[i].write_count; k++) {
			items[n].write = &txns[i].writes[k];
			items[n].txn = i;
			n++;
		}
	if (n > 1)
		qsort(items, n, sizeof(*items), merge_item_cmp);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		int last_of_key =
			i + 1 == n ||
			tk_key_cmp(items[i].write->key, items[i].write->key_len,
				   items[i + 1].write->key, items[i + 1].write->key_len) != 0;
		if (last_of_key)
			merged[m++] = *items[i].write;
	}
	free(items);
	*writes = merged;
	*write_count = m;
	return 0;
}

void tk_model_free(bstm_output *output)
{
	if (!output)
		return;
	for (uint32_t i = 0; i < output->txn_count; i++) {
		const bstm_txn_output *t = &output->txns[i];
		for (uint32_t k = 0; k < t->write_count; k++) {
			free((void *)t->writes[k].key);
			free((void *)t->writes[k].value);
		}
		for (uint32_t k = 0; k < t->event_count; k++)
			free((void *)t->events[k].data);
		free((void *)t->writes);
		free((void *)t->events);
	}
	free((void *)output->txns);
	free((void *)output->writes);
	free(output);
}

int tk_block_model(const tk_block *block, const tk_base *base, uint64_t gas_limit,
		   bstm_output **output)
{
	*output = NULL;
	bstm_output *out = calloc(1, sizeof(*out));
	bstm_txn_output *txns = calloc(block->txn_count ? block->txn_count : 1, sizeof(*txns));
	tk_map state = {0};
	model_txn t = {0};
	int rc = 0;
	if (!out || !txns) {
		free(out);
		free(txns);
		return BSTM_ENOMEM;
	}
	out->txn_count = block->txn_count;
	out->txns = txns;
	t.base = base;
	t.state = &state;

	uint64_t gas = 0;
	uint32_t i = 0;
	int ended = 0;
	for (; i < block->txn_count && !ended; i++) {
		bstm_txn_outcome outcome = {0};
		rc = tk_run_program(block, i, &model_io, &t, &outcome);
		if (rc == TK_FN_FAILURE || rc == BSTM_DEPENDENCY)
			rc = BSTM_ETXN;
		if (rc)
			goto fail;
		txns[i].status = outcome.status;
		txns[i].code = outcome.code;
		if (outcome.status == BSTM_TXN_DISCARDED) {
			model_txn_reset(&t);
			outcome.gas_used = 0;
		}
		txns[i].gas_used = outcome.gas_used;
		for (uint32_t k = 0; k < t.write_count; k++) {
			tk_entry *e = tk_map_upsert(&state, t.writes[k].key, t.writes[k].key_len);
			if (!e || tk_entry_set(e, t.writes[k].value, t.writes[k].value_len,
					       !t.writes[k].is_delete)) {
				rc = BSTM_ENOMEM;
				goto fail;
			}
		}
		rc = model_take(&t, &txns[i]);
		if (rc)
			goto fail;
		gas = tk_gas_add(gas, outcome.gas_used);
		out->stats.committed++;
		if (gas_limit && gas >= gas_limit)
			ended = 1;
	}
	for (; i < block->txn_count; i++)
		txns[i].status = BSTM_TXN_RETRY;
	for (i = 0; i < block->txn_count; i++) {
		if (!txns[i].writes)
			txns[i].writes = calloc(1, sizeof(bstm_write));
		if (!txns[i].events)
			txns[i].events = calloc(1, sizeof(bstm_event));
	}
	out->stats.gas_used = gas;
	out->stats.executions = out->stats.committed;
	out->stats.sequential = 1;
	out->stats.threads = 1;
	bstm_write *merged;
	rc = tk_merge_writes(txns, block->txn_count, &merged, &out->write_count);
	if (rc)
		goto fail;
	out->writes = merged;
	tk_map_clear(&state);
	model_txn_reset(&t);
	free(t.writes);
	free(t.events);
	*output = out;
	return 0;

fail:
	tk_map_clear(&state);
	model_txn_reset(&t);
	free(t.writes);
	free(t.events);
	tk_model_free(out);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Output helpers                                                            */
/* ------------------------------------------------------------------------ */

/* Printable form of at most 24 bytes: printable ASCII as is, else \xNN. */
static void fmt_bytes(char *dst, size_t cap, const uint8_t *p, size_t len)
{
	size_t o = 0;
	size_t shown = len < 24 ? len : 24;
	if (!p) {
		snprintf(dst, cap, "(null)");
		return;
	}
	dst[0] = 0;
	for (size_t i = 0; i < shown && o + 5 < cap; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
			dst[o++] = (char)p[i];
		else
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", p[i]);
	}
	if (shown < len && o + 4 < cap)
		o += (size_t)snprintf(dst + o, cap - o, "...");
	snprintf(dst + o, cap - o, "(%zu)", len);
}

static int write_diff(const bstm_write *a, const bstm_write *b, char *why, size_t why_len,
		      const char *where)
{
	char x[160], y[160];
	if (tk_key_cmp(a->key, a->key_len, b->key, b->key_len)) {
		fmt_bytes(x, sizeof(x), a->key, a->key_len);
		fmt_bytes(y, sizeof(y), b->key, b->key_len);
		snprintf(why, why_len, "%s: key %s vs %s", where, x, y);
		return 0;
	}
	fmt_bytes(x, sizeof(x), a->key, a->key_len);
	if (a->is_delete != b->is_delete) {
		snprintf(why, why_len, "%s key %s: is_delete %u vs %u", where, x, a->is_delete,
			 b->is_delete);
		return 0;
	}
	if (!a->is_delete && (a->value_len != b->value_len ||
			      (a->value_len && memcmp(a->value, b->value, a->value_len)))) {
		char v[160], w[160];
		fmt_bytes(v, sizeof(v), a->value, a->value_len);
		fmt_bytes(w, sizeof(w), b->value, b->value_len);
		snprintf(why, why_len, "%s key %s: value %s vs %s", where, x, v, w);
		return 0;
	}
	return 1;
}

int tk_output_diff(const bstm_output *a, const bstm_output *b, char *why, size_t why_len)
{
	char where[64];
	if (!a || !b) {
		snprintf(why, why_len, "output %s vs %s", a ? "present" : "NULL",
			 b ? "present" : "NULL");
		return a == b;
	}
	if (a->txn_count != b->txn_count) {
		snprintf(why, why_len, "txn_count %u vs %u", a->txn_count, b->txn_count);
		return 0;
	}
	for (uint32_t i = 0; i < a->txn_count; i++) {
		const bstm_txn_output *x = &a->txns[i], *y = &b->txns[i];
		if (x->status != y->status || x->code != y->code || x->gas_used != y->gas_used) {
			snprintf(why, why_len,
				 "txn %u: status %u vs %u, code %llu vs %llu, gas %llu vs %llu", i,
				 x->status, y->status, (unsigned long long)x->code,
				 (unsigned long long)y->code, (unsigned long long)x->gas_used,
				 (unsigned long long)y->gas_used);
			return 0;
		}
		uint32_t n = x->write_count < y->write_count ? x->write_count : y->write_count;
		for (uint32_t k = 0; k < n; k++) {
			snprintf(where, sizeof(where), "txn %u write %u", i, k);
			if (!write_diff(&x->writes[k], &y->writes[k], why, why_len, where))
				return 0;
		}
		if (x->write_count != y->write_count) {
			snprintf(why, why_len, "txn %u: write_count %u vs %u", i, x->write_count,
				 y->write_count);
			return 0;
		}
		if (x->event_count != y->event_count) {
			snprintf(why, why_len, "txn %u: event_count %u vs %u", i, x->event_count,
				 y->event_count);
			return 0;
		}
		for (uint32_t k = 0; k < x->event_count; k++) {
			const bstm_event *e = &x->events[k], *f = &y->events[k];
			if (e->len != f->len || (e->len && memcmp(e->data, f->data, e->len))) {
				char v[160], w[160];
				fmt_bytes(v, sizeof(v), e->data, e->len);
				fmt_bytes(w, sizeof(w), f->data, f->len);
				snprintf(why, why_len, "txn %u event %u: %s vs %s", i, k, v, w);
				return 0;
			}
		}
	}
	size_t n = a->write_count < b->write_count ? a->write_count : b->write_count;
	for (size_t k = 0; k < n; k++) {
		snprintf(where, sizeof(where), "merged write %zu", k);
		if (!write_diff(&a->writes[k], &b->writes[k], why, why_len, where))
			return 0;
	}
	if (a->write_count != b->write_count) {
		snprintf(why, why_len, "merged write_count %zu vs %zu", a->write_count,
			 b->write_count);
		return 0;
	}
	snprintf(why, why_len, "equal");
	return 1;
}

int tk_output_check(const bstm_output *o, uint32_t txn_count, uint64_t gas_limit, char *why,
		    size_t why_len)
{
	if (!o) {
		snprintf(why, why_len, "no output");
		return 0;
	}
	if (o->txn_count != txn_count || (txn_count && !o->txns)) {
		snprintf(why, why_len, "txn_count %u, block has %u", o->txn_count, txn_count);
		return 0;
	}
	uint32_t committed = 0;
	uint64_t gas = 0;
	int retry_seen = 0;
	for (uint32_t i = 0; i < txn_count; i++) {
		const bstm_txn_output *t = &o->txns[i];
		if (t->status > BSTM_TXN_RETRY) {
			snprintf(why, why_len, "txn %u: status %u unknown", i, t->status);
			return 0;
		}
		if ((t->write_count && !t->writes) || (t->event_count && !t->events)) {
			snprintf(why, why_len, "txn %u: NULL writes or events", i);
			return 0;
		}
		for (uint32_t k = 0; k < t->write_count; k++) {
			const bstm_write *w = &t->writes[k];
			if (w->key_len > BSTM_MAX_KEY_LEN || (w->key_len && !w->key) ||
			    (w->is_delete && (w->value || w->value_len)) ||
			    (!w->is_delete && w->value_len && !w->value) || w->is_delete > 1) {
				snprintf(why, why_len, "txn %u write %u: malformed", i, k);
				return 0;
			}
			if (k && tk_key_cmp(t->writes[k - 1].key, t->writes[k - 1].key_len, w->key,
					    w->key_len) >= 0) {
				snprintf(why, why_len, "txn %u: writes %u and %u not ascending", i,
					 k - 1, k);
				return 0;
			}
		}
		if (t->status == BSTM_TXN_RETRY) {
			retry_seen = 1;
			if (t->write_count || t->event_count || t->gas_used || t->code) {
				snprintf(why, why_len, "txn %u: RETRY with writes, events or gas",
					 i);
				return 0;
			}
			continue;
		}
		if (retry_seen) {
			snprintf(why, why_len, "txn %u: committed after a RETRY", i);
			return 0;
		}
		if (t->status == BSTM_TXN_DISCARDED &&
		    (t->write_count || t->event_count || t->gas_used)) {
			snprintf(why, why_len, "txn %u: DISCARDED with writes, events or gas", i);
			return 0;
		}
		if (gas_limit && gas >= gas_limit) {
			snprintf(why, why_len, "txn %u: committed after the gas limit was reached",
				 i);
			return 0;
		}
		committed++;
		gas = tk_gas_add(gas, t->gas_used);
	}
	if (retry_seen && (!gas_limit || gas < gas_limit)) {
		snprintf(why, why_len, "RETRY transactions but the gas limit was not reached");
		return 0;
	}
	if (o->stats.committed != committed || o->stats.gas_used != gas) {
		snprintf(why, why_len, "stats.committed %u gas_used %llu, counted %u and %llu",
			 o->stats.committed, (unsigned long long)o->stats.gas_used, committed,
			 (unsigned long long)gas);
		return 0;
	}
	if (o->stats.executions < committed) {
		snprintf(why, why_len, "stats.executions %llu < committed %u",
			 (unsigned long long)o->stats.executions, committed);
		return 0;
	}
	bstm_write *merged;
	size_t merged_count;
	if (tk_merge_writes(o->txns, txn_count, &merged, &merged_count)) {
		snprintf(why, why_len, "out of memory in the check");
		return 0;
	}
	int ok = 1;
	if (merged_count != o->write_count || (merged_count && !o->writes)) {
		snprintf(why, why_len, "merged write_count %zu, expected %zu", o->write_count,
			 merged_count);
		ok = 0;
	}
	for (size_t k = 0; ok && k < merged_count; k++) {
		char where[64];
		snprintf(where, sizeof(where), "merged write %zu (output vs txns)", k);
		ok = write_diff(&o->writes[k], &merged[k], why, why_len, where);
	}
	free(merged);
	return ok;
}

uint64_t tk_txn_output_hash(const bstm_txn_output *t)
{
	uint64_t h = tk_mix64(t->status + 0x100 * (uint64_t)t->write_count);
	h = tk_mix64(h ^ t->code) + t->gas_used;
	h = tk_mix64(h ^ t->event_count);
	for (uint32_t k = 0; k < t->write_count; k++) {
		const bstm_write *w = &t->writes[k];
		h = tk_hash(w->key, w->key_len, h ^ w->is_delete);
		h = tk_hash(w->value, w->is_delete ? 0 : w->value_len, h);
	}
	for (uint32_t k = 0; k < t->event_count; k++)
		h = tk_hash(t->events[k].data, t->events[k].len, h + k);
	return h;
}

void tk_output_summary(const bstm_output *o, char *buf, size_t buf_len)
{
	if (!o) {
		snprintf(buf, buf_len, "(no output)");
		return;
	}
	uint32_t by_status[6] = {0};
	for (uint32_t i = 0; i < o->txn_count; i++)
		if (o->txns[i].status < 6)
			by_status[o->txns[i].status]++;
	snprintf(buf, buf_len,
		 "txns=%u ok=%u aborted=%u oog=%u failed=%u discarded=%u retry=%u writes=%zu "
		 "gas=%llu exec=%llu valid=%llu seq=%u fallback=%u",
		 o->txn_count, by_status[0], by_status[1], by_status[2], by_status[3], by_status[4],
		 by_status[5], o->write_count, (unsigned long long)o->stats.gas_used,
		 (unsigned long long)o->stats.executions, (unsigned long long)o->stats.validations,
		 o->stats.sequential, o->stats.fallback);
}
