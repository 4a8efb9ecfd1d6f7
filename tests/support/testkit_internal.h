/*
 * testkit_internal.h - what the test kit's files share and nothing else
 * needs: the byte-string map behind the base view and the model, the
 * program interpreter, and the merged write set computation.
 */
#ifndef TESTKIT_INTERNAL_H
#define TESTKIT_INTERNAL_H

#include "testkit.h"

/* A byte-string hash map (open addressing, no removal). */
typedef struct tk_entry {
	uint8_t *key;
	uint8_t *value;
	uint32_t key_len;
	uint32_t value_len;
	uint64_t hash;
	int present; /* 0: absent (deleted in an overlay, or only a failure) */
	int fail;    /* injected error code, 0 if none */
	uint32_t aux;
} tk_entry;

typedef struct tk_map {
	tk_entry *slots;
	size_t cap; /* power of two, or 0 */
	size_t count;
} tk_map;

void tk_map_clear(tk_map *map);
tk_entry *tk_map_find(const tk_map *map, const void *key, size_t key_len);
/* The entry for key, inserted (absent, no value) if missing; NULL on ENOMEM. */
tk_entry *tk_map_upsert(tk_map *map, const void *key, size_t key_len);
/* Give the entry a copy of value (present) or mark it absent. */
int tk_entry_set(tk_entry *e, const void *value, size_t value_len, int present);

/* Where a program's reads, writes and events go: the library's view or the model. */
typedef struct tk_io {
	int (*read)(void *h, const void *key, size_t key_len, const void **value,
		    size_t *value_len);
	int (*write)(void *h, const void *key, size_t key_len, const void *value, size_t value_len);
	int (*del)(void *h, const void *key, size_t key_len);
	int (*emit)(void *h, const void *data, size_t len);
} tk_io;

/*
 * Run program `index` of `block` through `io`. Returns 0 with *outcome
 * filled, the first error a read or write returned, or TK_FN_FAILURE.
 */
int tk_run_program(const tk_block *block, uint32_t index, const tk_io *io, void *h,
		   bstm_txn_outcome *outcome);

/*
 * The merged write set of `txns`: the last write per key, in key order. The
 * result points into the transactions' writes; free only the array.
 */
int tk_merge_writes(const bstm_txn_output *txns, uint32_t txn_count, bstm_write **writes,
		    size_t *write_count);

#endif /* TESTKIT_INTERNAL_H */
