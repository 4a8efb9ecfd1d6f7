/*
 * overlay.c - a transaction's buffered writes and events.
 *
 * bstm_view has no rollback, yet a transaction whose body fails must leave
 * only its fee payment behind. So the body writes here, reads through here
 * first, and the overlay reaches the view only when the body succeeded
 * (vm_overlay_flush). On failure it is simply reset.
 *
 * Reads are remembered here too (states READ_PRESENT and READ_ABSENT, the
 * value pointing at the view's bytes, which stay valid for the whole
 * transaction): a body touches the same few keys again and again, and an
 * executor view read costs more than a probe of this table. Remembered
 * reads are never flushed.
 *
 * The map is open addressing with linear probing over a power-of-two table,
 * at most half full. Bytes live in a chain of bump-allocated chunks. Reset
 * must cost what the transaction touched, not what the overlay can hold: the
 * `touched` list names every occupied slot, so clearing walks only those, and
 * the chunks beyond the first are returned to the allocator (there are at
 * most as many as the bytes written justify). The table never shrinks; its
 * size is bounded by the largest write set one transaction may make.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

#define CHUNK_BYTES	 (16u << 10)
#define INITIAL_SLOTS	 64u
#define MAX_OVERLAY_KEYS (1u << 16)

struct vm_chunk {
	vm_chunk *next;
	size_t cap;
	uint8_t data[];
};

static uint8_t *alloc_bytes(vm_overlay *o, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (!o->chunks || o->chunk_used + n > o->chunks->cap) {
		size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
		vm_chunk *c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->cap = cap;
		c->next = o->chunks;
		o->chunks = c;
		o->chunk_used = 0;
	}
	uint8_t *p = o->chunks->data + o->chunk_used;
	o->chunk_used += n;
	o->bytes += n;
	return p;
}

int vm_overlay_init(vm_overlay *o)
{
	memset(o, 0, sizeof *o);
	o->slots = calloc(INITIAL_SLOTS, sizeof *o->slots);
	o->touched = malloc(INITIAL_SLOTS / 2 * sizeof *o->touched);
	if (!o->slots || !o->touched) {
		vm_overlay_destroy(o);
		return BSTM_ENOMEM;
	}
	o->cap = INITIAL_SLOTS;
	o->touched_cap = INITIAL_SLOTS / 2;
	return 0;
}

void vm_overlay_destroy(vm_overlay *o)
{
	while (o->chunks) {
		vm_chunk *next = o->chunks->next;
		free(o->chunks);
		o->chunks = next;
	}
	free(o->slots);
	free(o->touched);
	free(o->events);
	memset(o, 0, sizeof *o);
}

void vm_overlay_reset(vm_overlay *o)
{
	for (uint32_t i = 0; i < o->used; i++)
		memset(&o->slots[o->touched[i]], 0, sizeof o->slots[0]);
	o->used = 0;
	o->event_count = 0;
	o->bytes = 0;
	/* keep the newest chunk (the one bump allocation continues in) */
	if (o->chunks) {
		vm_chunk *c = o->chunks->next;
		while (c) {
			vm_chunk *next = c->next;
			free(c);
			c = next;
		}
		o->chunks->next = NULL;
		o->chunk_used = 0;
	}
}

static uint32_t find(const vm_overlay *o, const void *key, size_t len, uint64_t h)
{
	uint32_t mask = o->cap - 1, i = (uint32_t)h & mask;
	for (;;) {
		const vm_overlay_slot *s = &o->slots[i];
		if (s->state == VM_SLOT_EMPTY ||
		    (s->hash == h && s->key_len == len && memcmp(s->key, key, len) == 0))
			return i;
		i = (i + 1) & mask;
	}
}

int vm_overlay_get(const vm_overlay *o, const void *key, size_t key_len, const uint8_t **value,
		   size_t *value_len)
{
	if (o->used == 0)
		return -1;
	const vm_overlay_slot *s = &o->slots[find(o, key, key_len, vm_hash_bytes(key, key_len))];
	if (s->state == VM_SLOT_EMPTY)
		return -1;
	if (s->state == VM_SLOT_DELETED || s->state == VM_SLOT_READ_ABSENT)
		return 0;
	*value = s->value;
	*value_len = s->value_len;
	return 1;
}

static int grow(vm_overlay *o)
{
	uint32_t cap = o->cap * 2;
	vm_overlay_slot *slots = calloc(cap, sizeof *slots);
	uint32_t *touched = malloc(cap / 2 * sizeof *touched);
	if (!slots || !touched) {
		free(slots);
		free(touched);
		return BSTM_ENOMEM;
	}
	vm_overlay old = *o;
	o->slots = slots;
	o->cap = cap;
	o->touched = touched;
	o->touched_cap = cap / 2;
	/* re-insert in write order so the touched list keeps that order */
	for (uint32_t i = 0; i < old.used; i++) {
		const vm_overlay_slot *s = &old.slots[old.touched[i]];
		uint32_t at = find(o, s->key, s->key_len, s->hash);
		o->slots[at] = *s;
		o->touched[i] = at;
	}
	free(old.slots);
	free(old.touched);
	return 0;
}

/* The slot for `key`, created (deleted, no value) if absent. */
static vm_overlay_slot *slot_for(vm_overlay *o, const void *key, size_t key_len)
{
	uint64_t h = vm_hash_bytes(key, key_len);
	uint32_t at = find(o, key, key_len, h);
	if (o->slots[at].state != VM_SLOT_EMPTY)
		return &o->slots[at];
	if (o->used >= MAX_OVERLAY_KEYS)
		return NULL;
	if (o->used + 1 > o->touched_cap) {
		if (grow(o) != 0)
			return NULL;
		at = find(o, key, key_len, h);
	}
	uint8_t *k = alloc_bytes(o, key_len);
	if (!k)
		return NULL;
	memcpy(k, key, key_len);
	vm_overlay_slot *s = &o->slots[at];
	s->hash = h;
	s->key = k;
	s->key_len = (uint32_t)key_len;
	s->value = NULL;
	s->value_len = s->value_cap = 0;
	s->state = VM_SLOT_DELETED;
	o->touched[o->used++] = at;
	return s;
}

uint8_t *vm_overlay_put(vm_overlay *o, const void *key, size_t key_len, const void *value,
			size_t value_len)
{
	vm_overlay_slot *s = slot_for(o, key, key_len);
	if (!s)
		return NULL;
	if (!s->value || s->value_cap < value_len || s->state == VM_SLOT_READ_PRESENT) {
		uint8_t *v = alloc_bytes(o, value_len ? value_len : 1);
		if (!v)
			return NULL;
		s->value = v;
		s->value_cap = (uint32_t)value_len;
	}
	if (value_len && s->value != value)
		memmove(s->value, value, value_len);
	s->value_len = (uint32_t)value_len;
	s->state = VM_SLOT_WRITTEN;
	return s->value;
}

int vm_overlay_delete(vm_overlay *o, const void *key, size_t key_len)
{
	vm_overlay_slot *s = slot_for(o, key, key_len);
	if (!s)
		return BSTM_ENOMEM;
	s->state = VM_SLOT_DELETED;
	return 0;
}

void vm_overlay_remember(vm_overlay *o, const void *key, size_t key_len, const void *value,
			 size_t value_len, bool found)
{
	vm_overlay_slot *s = slot_for(o, key, key_len);
	/* a full table only means the read is not remembered */
	if (!s || s->value)
		return;
	s->state = found ? VM_SLOT_READ_PRESENT : VM_SLOT_READ_ABSENT;
	s->value = found ? (uint8_t *)value : NULL;
	s->value_len = found ? (uint32_t)value_len : 0;
	s->value_cap = 0; /* not ours: a write allocates */
}

int vm_overlay_event(vm_overlay *o, const void *data, size_t len)
{
	if (o->event_count == o->event_cap) {
		uint32_t cap = o->event_cap ? o->event_cap * 2 : 8;
		void *grown = realloc(o->events, cap * sizeof *o->events);
		if (!grown)
			return BSTM_ENOMEM;
		o->events = grown;
		o->event_cap = cap;
	}
	uint8_t *p = alloc_bytes(o, len ? len : 1);
	if (!p)
		return BSTM_ENOMEM;
	memcpy(p, data, len);
	o->events[o->event_count].data = p;
	o->events[o->event_count].len = (uint32_t)len;
	o->event_count++;
	return 0;
}

int vm_overlay_flush(const vm_overlay *o, const vm_state_ops *ops, void *ctx)
{
	for (uint32_t i = 0; i < o->used; i++) {
		const vm_overlay_slot *s = &o->slots[o->touched[i]];
		int rc = 0;
		if (s->state == VM_SLOT_WRITTEN)
			rc = ops->write(ctx, s->key, s->key_len, s->value, s->value_len);
		else if (s->state == VM_SLOT_DELETED)
			rc = ops->remove(ctx, s->key, s->key_len);
		if (rc)
			return rc;
	}
	for (uint32_t i = 0; i < o->event_count; i++) {
		int rc = ops->emit(ctx, o->events[i].data, o->events[i].len);
		if (rc)
			return rc;
	}
	return 0;
}
