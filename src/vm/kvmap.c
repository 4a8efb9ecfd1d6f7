/*
 * kvmap.c - a plain byte-string map for genesis state, tests and benchmarks.
 *
 * As a benchmark's base view it is read on every transaction from every
 * worker, so lookups are built for cache misses: open addressing with
 * linear probing over slots that hold the full hash next to the entry
 * pointer (a probe touches one slot line; only a hash match follows the
 * pointer), at most half full. One allocation per entry holds key and
 * value. As a base view it is only read, which is safe from many threads
 * at once because nothing is modified while a block runs.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

typedef struct kv_entry {
	uint32_t key_len, value_len;
	uint8_t bytes[]; /* key, then value */
} kv_entry;

typedef struct kv_slot {
	uint64_t hash;
	kv_entry *entry; /* NULL: empty */
} kv_slot;

struct vm_kvmap {
	kv_slot *slots;
	size_t mask;
	size_t count;
};

int vm_kvmap_create(vm_kvmap **map)
{
	vm_kvmap *m = calloc(1, sizeof *m);
	if (!m)
		return BSTM_ENOMEM;
	m->mask = 255;
	m->slots = calloc(m->mask + 1, sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return BSTM_ENOMEM;
	}
	*map = m;
	return 0;
}

void vm_kvmap_destroy(vm_kvmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i <= m->mask; i++)
		free(m->slots[i].entry);
	free(m->slots);
	free(m);
}

static size_t find(const vm_kvmap *m, const void *key, size_t len, uint64_t h)
{
	size_t i = h & m->mask;
	for (;;) {
		const kv_slot *s = &m->slots[i];
		if (!s->entry || (s->hash == h && s->entry->key_len == len &&
				  memcmp(s->entry->bytes, key, len) == 0))
			return i;
		i = (i + 1) & m->mask;
	}
}

static int grow(vm_kvmap *m)
{
	size_t mask = m->mask * 2 + 1;
	kv_slot *slots = calloc(mask + 1, sizeof *slots);
	if (!slots)
		return BSTM_ENOMEM;
	for (size_t i = 0; i <= m->mask; i++) {
		if (!m->slots[i].entry)
			continue;
		size_t j = m->slots[i].hash & mask;
		while (slots[j].entry)
			j = (j + 1) & mask;
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = mask;
	return 0;
}

static kv_entry *new_entry(const void *key, size_t key_len, const void *value, size_t value_len)
{
	kv_entry *e = malloc(sizeof *e + key_len + value_len);
	if (!e)
		return NULL;
	e->key_len = (uint32_t)key_len;
	e->value_len = (uint32_t)value_len;
	if (key_len)
		memcpy(e->bytes, key, key_len);
	if (value_len)
		memcpy(e->bytes + key_len, value, value_len);
	return e;
}

/* Put e (which the map now owns) in its slot; the table has room. */
static void place(vm_kvmap *m, kv_entry *e)
{
	uint64_t h = vm_hash_bytes(e->bytes, e->key_len);
	kv_slot *s = &m->slots[find(m, e->bytes, e->key_len, h)];
	if (s->entry)
		free(s->entry);
	else
		m->count++;
	s->hash = h;
	s->entry = e;
}

/* Room for `more` new keys at most half full. */
static int reserve(vm_kvmap *m, size_t more)
{
	while ((m->count + more) * 2 > m->mask + 1)
		if (grow(m) != 0)
			return BSTM_ENOMEM;
	return 0;
}

static int check_key(const void *key, size_t key_len)
{
	return !key && key_len ? BSTM_EINVAL : 0;
}

static int check_put(const void *key, size_t key_len, const void *value, size_t value_len)
{
	if (check_key(key, key_len) || (!value && value_len))
		return BSTM_EINVAL;
	if (key_len > BSTM_MAX_KEY_LEN || value_len > BSTM_MAX_VALUE_LEN)
		return BSTM_ETOOBIG;
	return 0;
}

int vm_kvmap_put(vm_kvmap *m, const void *key, size_t key_len, const void *value, size_t value_len)
{
	if (!m)
		return BSTM_EINVAL;
	int rc = check_put(key, key_len, value, value_len);
	if (rc)
		return rc;
	if (reserve(m, 1) != 0)
		return BSTM_ENOMEM;
	kv_entry *e = new_entry(key, key_len, value, value_len);
	if (!e)
		return BSTM_ENOMEM;
	place(m, e);
	return 0;
}

int vm_kvmap_remove(vm_kvmap *m, const void *key, size_t key_len)
{
	if (!m || check_key(key, key_len))
		return BSTM_EINVAL;
	size_t i = find(m, key, key_len, vm_hash_bytes(key, key_len));
	if (!m->slots[i].entry)
		return BSTM_ENOTFOUND;
	free(m->slots[i].entry);
	m->slots[i].entry = NULL;
	m->count--;
	/* Backward-shift deletion: re-place the rest of the probe run so no
	 * lookup stops early at the hole. */
	size_t j = i;
	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->slots[j].entry)
			break;
		size_t home = m->slots[j].hash & m->mask;
		/* move j back to i unless its home lies cyclically in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			m->slots[i] = m->slots[j];
			m->slots[j].entry = NULL;
			i = j;
		}
	}
	return 0;
}

int vm_kvmap_get(const vm_kvmap *m, const void *key, size_t key_len, const void **value,
		 size_t *value_len)
{
	if (!m || check_key(key, key_len) || !value || !value_len)
		return BSTM_EINVAL;
	const kv_entry *e = m->slots[find(m, key, key_len, vm_hash_bytes(key, key_len))].entry;
	if (!e)
		return BSTM_ENOTFOUND;
	*value = e->bytes + e->key_len;
	*value_len = e->value_len;
	return 0;
}

size_t vm_kvmap_count(const vm_kvmap *m)
{
	return m ? m->count : 0;
}

static int base_get(void *ctx, const void *key, size_t key_len, const void **value,
		    size_t *value_len)
{
	return vm_kvmap_get(ctx, key, key_len, value, value_len);
}

void vm_kvmap_base_view(vm_kvmap *m, bstm_base_view *view)
{
	memset(view, 0, sizeof *view);
	view->size = sizeof *view;
	view->get = base_get;
	view->ctx = m;
	view->flags = BSTM_VIEW_THREAD_SAFE;
}

static int ops_write(void *ctx, const void *key, size_t key_len, const void *value,
		     size_t value_len)
{
	return vm_kvmap_put(ctx, key, key_len, value, value_len);
}

static int ops_remove(void *ctx, const void *key, size_t key_len)
{
	int rc = vm_kvmap_remove(ctx, key, key_len);
	return rc == BSTM_ENOTFOUND ? 0 : rc;
}

/* Events are dropped: the map keeps state only. */
static int ops_emit(void *ctx, const void *data, size_t len)
{
	return 0;
}

const vm_state_ops vm_kvmap_ops = {base_get, ops_write, ops_remove, ops_emit};

/* All or nothing: every check and allocation comes first, so a failure
 * leaves the map as it was. */
int vm_kvmap_apply(vm_kvmap *m, const bstm_output *output)
{
	if (!m || !output || (!output->writes && output->write_count))
		return BSTM_EINVAL;
	size_t puts = 0;
	for (size_t i = 0; i < output->write_count; i++) {
		const bstm_write *w = &output->writes[i];
		int rc = w->is_delete ? check_key(w->key, w->key_len)
				      : check_put(w->key, w->key_len, w->value, w->value_len);
		if (rc)
			return rc;
		puts += !w->is_delete;
	}
	kv_entry **made = puts ? malloc(puts * sizeof *made) : NULL;
	if (puts && !made)
		return BSTM_ENOMEM;
	size_t n = 0;
	int rc = reserve(m, puts);
	for (size_t i = 0; rc == 0 && i < output->write_count; i++) {
		const bstm_write *w = &output->writes[i];
		if (w->is_delete)
			continue;
		if (!(made[n] = new_entry(w->key, w->key_len, w->value, w->value_len)))
			rc = BSTM_ENOMEM;
		else
			n++;
	}
	if (rc) {
		while (n > 0)
			free(made[--n]);
		free(made);
		return rc;
	}
	n = 0;
	for (size_t i = 0; i < output->write_count; i++) {
		const bstm_write *w = &output->writes[i];
		if (w->is_delete)
			ops_remove(m, w->key, w->key_len);
		else
			place(m, made[n++]);
	}
	free(made);
	return 0;
}
