/*
 * sort.h - sorting byte-string keys: the merged write set of a block is
 * sorted once per block, by the sequential executor whole, by the parallel
 * one in parts (each worker sorts its own, the caller merges them), and with
 * thousands of keys a comparison sort calling memcmp is a visible share of a
 * block's time. Keys are radix-sorted on their first 16 bytes (as big-endian
 * words, so integer order is byte order), and only runs with equal prefixes
 * fall back to full comparisons: an insertion sort for short runs, qsort for
 * long ones. The merge reads the prefixes the sorts left behind.
 */
#ifndef BSTM_SORT_H
#define BSTM_SORT_H

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* The first 8 bytes of a key as a big-endian integer, zero padded. */
static inline uint64_t bstm_key_prefix(const uint8_t *key, uint32_t len)
{
	uint64_t v;
	if (len >= 8) {
		/* One load: the common case (keys are rarely shorter), and a
		 * byte-wise copy would stall the load that follows it. */
		__builtin_memcpy(&v, key, 8);
		return __builtin_bswap64(v);
	}
	uint8_t b[8] = {0};
	if (len)
		__builtin_memcpy(b, key, len);
	__builtin_memcpy(&v, b, 8);
	return __builtin_bswap64(v);
}

/* Scratch memory a sort keeps for the next one, so that a sort per block
 * does not take fresh pages from the system each time. Zero-initialize. */
typedef struct bstm_sort_buf {
	void *mem;
	size_t cap; /* bytes */
	/* After bstm_sort_writes with this buffer: the sorted writes' key
	 * prefixes, in order, which bstm_merge_writes reads instead of the
	 * keys. Valid until the buffer's next sort. */
	const void *prefixes;
} bstm_sort_buf;

BSTM_INTERNAL void bstm_sort_buf_free(bstm_sort_buf *buf);

/* Sort `writes` by key (bstm_key_compare order), with scratch from `buf`
 * (NULL: allocated and freed by the call). Returns 0 or BSTM_ENOMEM. */
BSTM_INTERNAL int bstm_sort_writes(bstm_write *writes, size_t count, bstm_sort_buf *buf);

/* A sorted array of writes for bstm_merge_writes. buf, unless NULL, is the
 * buffer that sorted it, untouched since: the merge then compares prefixes
 * from it and reads few keys. */
typedef struct bstm_sorted_part {
	const bstm_write *writes;
	size_t count;
	const bstm_sort_buf *buf;
} bstm_sorted_part;

/* Merge `nparts` sorted parts whose keys are pairwise distinct into `dst`
 * (room for the sum of their counts), in key order. Returns 0 or
 * BSTM_ENOMEM. */
BSTM_INTERNAL int bstm_merge_writes(bstm_write *dst, const bstm_sorted_part *parts, size_t nparts);

#endif
