/*
 * local.c - the transaction-local key map (a transaction's own reads and
 * writes) and, reused with more slots, the sequential executor's overlay.
 *
 * Items live in a dense array in insertion order; a linear-probing table of
 * item indices finds them. Clearing touches only the slots the items used,
 * so resetting between transactions costs O(what the transaction touched),
 * not O(capacity). Single-threaded.
 */
#include <string.h>

#include "executor/executor.h"

int exec_map_init(exec_map *m, uint32_t slots_pow2)
{
	memset(m, 0, sizeof *m);
	m->slots = calloc(slots_pow2, sizeof *m->slots);
	m->item_cap = slots_pow2 / 2;
	m->items = malloc(sizeof *m->items * m->item_cap);
	if (!m->slots || !m->items) {
		exec_map_destroy(m);
		return BSTM_ENOMEM;
	}
	m->slot_mask = slots_pow2 - 1;
	return 0;
}

void exec_map_destroy(exec_map *m)
{
	free(m->slots);
	free(m->items);
	memset(m, 0, sizeof *m);
}

void exec_map_clear(exec_map *m)
{
	for (uint32_t i = 0; i < m->count; i++)
		m->slots[m->items[i].slot] = 0;
	m->count = 0;
}

exec_item *exec_map_find(const exec_map *m, const void *key, uint32_t len, uint64_t hash)
{
	for (uint32_t s = (uint32_t)hash & m->slot_mask;; s = (s + 1) & m->slot_mask) {
		uint32_t ix = m->slots[s];
		if (ix == 0)
			return NULL;
		exec_item *it = &m->items[ix - 1];
		if (it->hash == hash && it->key_len == len && bstm_bytes_equal(it->key, key, len))
			return it;
	}
}

static void place(exec_map *m, uint32_t index)
{
	exec_item *it = &m->items[index];
	uint32_t s = (uint32_t)it->hash & m->slot_mask;
	while (m->slots[s] != 0)
		s = (s + 1) & m->slot_mask;
	m->slots[s] = index + 1;
	it->slot = s;
}

static int grow(exec_map *m)
{
	uint32_t new_slots = (m->slot_mask + 1) * 2;
	uint32_t *slots = calloc(new_slots, sizeof *slots);
	exec_item *items = realloc(m->items, sizeof *items * (new_slots / 2));
	if (!slots || !items) {
		free(slots);
		if (items)
			m->items = items;
		return BSTM_ENOMEM;
	}
	free(m->slots);
	m->slots = slots;
	m->items = items;
	m->item_cap = new_slots / 2;
	m->slot_mask = new_slots - 1;
	for (uint32_t i = 0; i < m->count; i++)
		place(m, i);
	return 0;
}

exec_item *exec_map_insert(exec_map *m, const uint8_t *key, uint32_t len, uint64_t hash)
{
	/* Keep the load factor at or below one half. */
	if (m->count == m->item_cap && grow(m) != 0)
		return NULL;
	exec_item *it = &m->items[m->count];
	memset(it, 0, sizeof *it);
	it->hash = hash;
	it->key = key;
	it->key_len = len;
	place(m, m->count);
	m->count++;
	return it;
}
