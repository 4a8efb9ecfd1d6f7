/*
 * kvmap.c - a plain byte-string map for genesis state, tests and benchmarks.
 *
 * Chained hashing with power-of-two buckets, one allocation per entry
 * holding key and value. It is not on any hot path of the executor: as a
 * base view it is only read, which is safe from many threads at once
 * because nothing is modified while a block runs.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

typedef struct kv_entry {
	struct kv_entry *next;
	uint64_t hash;
	uint32_t key_len, value_len;
	uint8_t bytes[]; /* key, then value */
} kv_entry;

struct vm_kvmap {
	kv_entry **buckets;
	size_t mask;
	size_t count;
};

int vm_kvmap_create(vm_kvmap **map)
{
	vm_kvmap *m = calloc(1, sizeof *m);
	if (!m)
		return BSTM_ENOMEM;
	m->mask = 255;
	m->buckets = calloc(m->mask + 1, sizeof *m->buckets);
	if (!m->buckets) {
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
	for (size_t i = 0; i <= m->mask; i++) {
		kv_entry *e = m->buckets[i];
		while (e) {
			kv_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(m->buckets);
	free(m);
}

static kv_entry **find(const vm_kvmap *m, const void *key, size_t len, uint64_t h)
{
	kv_entry **at = &m->buckets[h & m->mask];
	while (*at &&
	       !((*at)->hash == h && (*at)->key_len == len && memcmp((*at)->bytes, key, len) == 0))
		at = &(*at)->next;
	return at;
}

static void grow(vm_kvmap *m)
{
	size_t mask = m->mask * 2 + 1;
	kv_entry **buckets = calloc(mask + 1, sizeof *buckets);
	if (!buckets)
		return; /* stay at this size; chains get longer, nothing breaks */
	for (size_t i = 0; i <= m->mask; i++) {
		kv_entry *e = m->buckets[i];
		while (e) {
			kv_entry *next = e->next;
			e->next = buckets[e->hash & mask];
			buckets[e->hash & mask] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = buckets;
	m->mask = mask;
}

int vm_kvmap_put(vm_kvmap *m, const void *key, size_t key_len, const void *value, size_t value_len)
{
	if (key_len > BSTM_MAX_KEY_LEN || value_len > BSTM_MAX_VALUE_LEN)
		return BSTM_ETOOBIG;
	uint64_t h = vm_hash_bytes(key, key_len);
	kv_entry **at = find(m, key, key_len, h);
	kv_entry *e = malloc(sizeof *e + key_len + value_len);
	if (!e)
		return BSTM_ENOMEM;
	e->hash = h;
	e->key_len = (uint32_t)key_len;
	e->value_len = (uint32_t)value_len;
	memcpy(e->bytes, key, key_len);
	if (value_len)
		memcpy(e->bytes + key_len, value, value_len);
	if (*at) {
		e->next = (*at)->next;
		free(*at);
		*at = e;
		return 0;
	}
	e->next = NULL;
	*at = e;
	if (++m->count > m->mask)
		grow(m);
	return 0;
}

int vm_kvmap_remove(vm_kvmap *m, const void *key, size_t key_len)
{
	kv_entry **at = find(m, key, key_len, vm_hash_bytes(key, key_len));
	if (!*at)
		return BSTM_ENOTFOUND;
	kv_entry *e = *at;
	*at = e->next;
	free(e);
	m->count--;
	return 0;
}

int vm_kvmap_get(const vm_kvmap *m, const void *key, size_t key_len, const void **value,
		 size_t *value_len)
{
	kv_entry *e = *find(m, key, key_len, vm_hash_bytes(key, key_len));
	if (!e)
		return BSTM_ENOTFOUND;
	*value = e->bytes + e->key_len;
	*value_len = e->value_len;
	return 0;
}

size_t vm_kvmap_count(const vm_kvmap *m)
{
	return m->count;
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

static int ops_emit(void *ctx, const void *data, size_t len)
{
	return 0;
}

const vm_state_ops vm_kvmap_ops = {base_get, ops_write, ops_remove, ops_emit};

int vm_kvmap_apply(vm_kvmap *m, const bstm_output *output)
{
	for (size_t i = 0; i < output->write_count; i++) {
		const bstm_write *w = &output->writes[i];
		int rc = w->is_delete ? ops_remove(m, w->key, w->key_len)
				      : vm_kvmap_put(m, w->key, w->key_len, w->value, w->value_len);
		if (rc)
			return rc;
	}
	return 0;
}
