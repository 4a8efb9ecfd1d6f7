/*
 * arena.h - per-thread bump allocation for block-lifetime memory.
 *
 * Everything the executor creates while running a block (multi-version
 * entries, versions, copied keys and values, read and write sets) lives until
 * the block ends, and memory that a concurrent reader may still be looking at
 * must not be reused before then. A bump arena gives both: no frees during
 * the block (so no reclamation scheme is needed for lock-free readers), and
 * one reset at the end that keeps the chunks for the next block. An arena is
 * owned by one thread; there is no locking.
 *
 * Chunks come from jemalloc (mallocx) in normal builds and from malloc in
 * sanitizer builds. Allocations larger than a quarter chunk get a chunk of
 * their own that reset frees, so one 1 MiB value does not pin memory forever.
 */
#ifndef BSTM_ARENA_H
#define BSTM_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

typedef struct bstm_arena_chunk bstm_arena_chunk;

typedef struct bstm_arena {
	uint8_t *cursor;
	uint8_t *limit;
	bstm_arena_chunk *current; /* chunk cursor points into */
	bstm_arena_chunk *used;	   /* full standard chunks, this block */
	bstm_arena_chunk *spare;   /* standard chunks kept for reuse */
	bstm_arena_chunk *large;   /* oversize allocations, freed at reset */
	size_t chunk_size;
	size_t bytes_in_use; /* statistics: bytes handed out since reset */
} bstm_arena;

BSTM_INTERNAL void bstm_arena_init(bstm_arena *arena, size_t chunk_size);
BSTM_INTERNAL void bstm_arena_destroy(bstm_arena *arena);
/* Forget every allocation; standard chunks are kept for the next block. */
BSTM_INTERNAL void bstm_arena_reset(bstm_arena *arena);
BSTM_INTERNAL void *bstm_arena_alloc_slow(bstm_arena *arena, size_t size);

/* Fault injection for tests: while set, a chunk the arena needs from the
 * system (never a bump inside one it has) is refused, as if memory had run
 * out, whenever the hook returns true for its size. NULL in normal use. */
BSTM_INTERNAL extern bool (*bstm_arena_refuse_chunk)(size_t size);

/* 16-byte aligned memory valid until the next reset, or NULL. */
static inline void *bstm_arena_alloc(bstm_arena *arena, size_t size)
{
	size = size ? (size + 15) & ~(size_t)15 : 16;
	if (BSTM_LIKELY((size_t)(arena->limit - arena->cursor) >= size)) {
		void *p = arena->cursor;
		arena->cursor += size;
		arena->bytes_in_use += size;
		return p;
	}
	return bstm_arena_alloc_slow(arena, size);
}

/* Like bstm_arena_alloc, but starting a cache line: for objects read by one
 * line when they fit in one. */
static inline void *bstm_arena_alloc_line(bstm_arena *arena, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	size_t pad = (size_t)(-(uintptr_t)arena->cursor) & (BSTM_CACHELINE - 1);
	if (BSTM_LIKELY((size_t)(arena->limit - arena->cursor) >= pad + size)) {
		arena->cursor += pad;
		arena->bytes_in_use += pad;
		return bstm_arena_alloc(arena, size);
	}
	uint8_t *p = bstm_arena_alloc_slow(arena, size + BSTM_CACHELINE);
	if (!p)
		return NULL;
	return (void *)(((uintptr_t)p + BSTM_CACHELINE - 1) & ~(uintptr_t)(BSTM_CACHELINE - 1));
}

/* A copy of `len` bytes in the arena (never NULL for len 0), or NULL when out
 * of memory. */
static inline void *bstm_arena_dup(bstm_arena *arena, const void *data, size_t len)
{
	void *p = bstm_arena_alloc(arena, len);
	if (p && len)
		__builtin_memcpy(p, data, len);
	return p;
}

/* Memory for whole cache lines, from the block's general heap. */
BSTM_INTERNAL void *bstm_mem_alloc(size_t size);
BSTM_INTERNAL void *bstm_mem_calloc(size_t size);
BSTM_INTERNAL void bstm_mem_free(void *p, size_t size);

#endif
