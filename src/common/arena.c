/*
 * arena.c - chunk management behind bstm_arena_alloc (see arena.h).
 */
#include <string.h>

#ifdef BSTM_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "common/arena.h"

struct bstm_arena_chunk {
	bstm_arena_chunk *next;
	size_t size; /* usable bytes after the header */
	uint8_t data[] __attribute__((aligned(16)));
};

void *bstm_mem_alloc(size_t size)
{
	if (size == 0)
		size = 1;
#ifdef BSTM_HAVE_JEMALLOC
	return mallocx(size, MALLOCX_ALIGN(BSTM_CACHELINE));
#else
	void *p = NULL;
	size = (size + BSTM_CACHELINE - 1) & ~(size_t)(BSTM_CACHELINE - 1);
	return posix_memalign(&p, BSTM_CACHELINE, size) == 0 ? p : NULL;
#endif
}

void *bstm_mem_calloc(size_t size)
{
	void *p = bstm_mem_alloc(size);
	if (p)
		memset(p, 0, size);
	return p;
}

void bstm_mem_free(void *p, size_t size)
{
	if (!p)
		return;
#ifdef BSTM_HAVE_JEMALLOC
	sdallocx(p, size ? size : 1, MALLOCX_ALIGN(BSTM_CACHELINE));
#else
	(void)size;
	free(p);
#endif
}

bool (*bstm_arena_refuse_chunk)(size_t size);

static bstm_arena_chunk *chunk_new(size_t usable)
{
	if (BSTM_UNLIKELY(bstm_arena_refuse_chunk != NULL) && bstm_arena_refuse_chunk(usable))
		return NULL;
	bstm_arena_chunk *c = bstm_mem_alloc(sizeof *c + usable);
	if (c) {
		c->next = NULL;
		c->size = usable;
	}
	return c;
}

static void chunk_free(bstm_arena_chunk *c)
{
	bstm_mem_free(c, sizeof *c + c->size);
}

static void chunk_list_free(bstm_arena_chunk *c)
{
	while (c) {
		bstm_arena_chunk *next = c->next;
		chunk_free(c);
		c = next;
	}
}

void bstm_arena_init(bstm_arena *arena, size_t chunk_size)
{
	memset(arena, 0, sizeof *arena);
	arena->chunk_size = chunk_size;
}

void bstm_arena_destroy(bstm_arena *arena)
{
	bstm_arena_reset(arena);
	chunk_list_free(arena->spare);
	memset(arena, 0, sizeof *arena);
}

void bstm_arena_reset(bstm_arena *arena)
{
	/* Standard chunks go back on the spare list; the spare list is bounded by
	 * the largest block seen, which keeps memory flat across blocks. */
	if (arena->current) {
		arena->current->next = arena->used;
		arena->used = arena->current;
	}
	while (arena->used) {
		bstm_arena_chunk *c = arena->used;
		arena->used = c->next;
		c->next = arena->spare;
		arena->spare = c;
	}
	chunk_list_free(arena->large);
	arena->large = NULL;
	arena->current = NULL;
	arena->cursor = arena->limit = NULL;
	arena->bytes_in_use = 0;
}

void *bstm_arena_alloc_slow(bstm_arena *arena, size_t size)
{
	if (size > arena->chunk_size / 4) {
		bstm_arena_chunk *c = chunk_new(size);
		if (!c)
			return NULL;
		c->next = arena->large;
		arena->large = c;
		arena->bytes_in_use += size;
		return c->data;
	}
	bstm_arena_chunk *c = arena->spare;
	if (c) {
		arena->spare = c->next;
	} else {
		c = chunk_new(arena->chunk_size);
		if (!c)
			return NULL;
	}
	if (arena->current) {
		arena->current->next = arena->used;
		arena->used = arena->current;
	}
	c->next = NULL;
	arena->current = c;
	arena->cursor = c->data + size;
	arena->limit = c->data + c->size;
	arena->bytes_in_use += size;
	return c->data;
}
