/*
 * sort.c - LSD radix sort on 8-byte key prefixes, then comparison sort of
 * equal-prefix runs (see sort.h).
 */
#include <string.h>

#include "common/sort.h"

typedef struct sort_item {
	uint64_t hi; /* key bytes 0..7 */
	uint64_t lo; /* key bytes 8..15 */
	size_t index;
} sort_item;

static int compare_writes(const void *a, const void *b)
{
	const bstm_write *x = a, *y = b;
	return bstm_key_compare(x->key, x->key_len, y->key, y->key_len);
}

static inline unsigned digit(const sort_item *it, int pass)
{
	/* Passes 0..7 take lo's bytes, least significant first, then hi's. */
	uint64_t word = pass < 8 ? it->lo : it->hi;
	return (unsigned)(word >> (8 * (pass & 7))) & 0xff;
}

static void radix_sort(sort_item *items, sort_item *tmp, size_t n)
{
	/* A byte that is the same in every key orders nothing: find the bytes
	 * that differ somewhere (bits set in some key and clear in another)
	 * in one pass, and sort on those only. */
	uint64_t hi_or = 0, hi_and = ~0ull, lo_or = 0, lo_and = ~0ull;
	for (size_t i = 0; i < n; i++) {
		hi_or |= items[i].hi;
		hi_and &= items[i].hi;
		lo_or |= items[i].lo;
		lo_and &= items[i].lo;
	}
	uint64_t hi_varies = hi_or ^ hi_and, lo_varies = lo_or ^ lo_and;
	for (int pass = 0; pass < 16; pass++) {
		uint64_t varies = pass < 8 ? lo_varies : hi_varies;
		if (((varies >> (8 * (pass & 7))) & 0xff) == 0)
			continue;
		size_t count[256] = {0};
		for (size_t i = 0; i < n; i++)
			count[digit(&items[i], pass)]++;
		size_t pos = 0;
		for (int b = 0; b < 256; b++) {
			size_t c = count[b];
			count[b] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[digit(&items[i], pass)]++] = items[i];
		memcpy(items, tmp, n * sizeof *items);
	}
}

int bstm_sort_writes(bstm_write *writes, size_t count)
{
	if (count < 64) {
		qsort(writes, count, sizeof *writes, compare_writes);
		return 0;
	}
	sort_item *items = malloc(sizeof *items * count * 2);
	bstm_write *sorted = malloc(sizeof *sorted * count);
	if (!items || !sorted) {
		free(items);
		free(sorted);
		return BSTM_ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		const bstm_write *w = &writes[i];
		uint64_t lo = w->key_len > 8 ? bstm_key_prefix(w->key + 8, w->key_len - 8) : 0;
		items[i] = (sort_item){bstm_key_prefix(w->key, w->key_len), lo, i};
	}
	radix_sort(items, items + count, count);
	for (size_t i = 0; i < count; i++)
		sorted[i] = writes[items[i].index];
	for (size_t start = 0; start < count;) {
		size_t end = start + 1;
		while (end < count && items[end].hi == items[start].hi &&
		       items[end].lo == items[start].lo)
			end++;
		if (end - start > 1)
			qsort(sorted + start, end - start, sizeof *sorted, compare_writes);
		start = end;
	}
	memcpy(writes, sorted, sizeof *sorted * count);
	free(items);
	free(sorted);
	return 0;
}
