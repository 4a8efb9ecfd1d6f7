/*
 * sort.c - LSD radix sort on 8-byte key prefixes, then comparison sort of
 * equal-prefix runs, and a k-way merge of sorted parts (see sort.h).
 */
#include <stdbool.h>
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

/* Runs of keys with one 16-byte prefix are short (a few resources of one
 * account, say): below this length a qsort call costs more than sorting. */
#define SORT_SMALL_RUN 16

static void insertion_sort(bstm_write *w, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		bstm_write x = w[i];
		size_t j = i;
		while (j > 0 &&
		       bstm_key_compare(w[j - 1].key, w[j - 1].key_len, x.key, x.key_len) > 0) {
			w[j] = w[j - 1];
			j--;
		}
		w[j] = x;
	}
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

void bstm_sort_buf_free(bstm_sort_buf *buf)
{
	free(buf->mem);
	buf->mem = NULL;
	buf->cap = 0;
	buf->prefixes = NULL;
}

static void *scratch(bstm_sort_buf *buf, size_t bytes)
{
	if (buf->cap < bytes) {
		void *grown = malloc(bytes);
		if (!grown)
			return NULL;
		free(buf->mem);
		buf->mem = grown;
		buf->cap = bytes;
	}
	return buf->mem;
}

static inline sort_item item_of(const bstm_write *w, size_t index)
{
	uint64_t lo = w->key_len > 8 ? bstm_key_prefix(w->key + 8, w->key_len - 8) : 0;
	return (sort_item){bstm_key_prefix(w->key, w->key_len), lo, index};
}

int bstm_sort_writes(bstm_write *writes, size_t count, bstm_sort_buf *buf)
{
	if (buf)
		buf->prefixes = NULL;
	if (count < 64) {
		if (count > 1)
			insertion_sort(writes, count);
		/* The prefixes for a merge of this part (see sort.h). */
		sort_item *items = buf ? scratch(buf, sizeof(sort_item) * count) : NULL;
		if (buf && count && !items)
			return BSTM_ENOMEM;
		for (size_t i = 0; items && i < count; i++)
			items[i] = item_of(&writes[i], i);
		if (buf)
			buf->prefixes = items;
		return 0;
	}
	bstm_sort_buf own = {0};
	bstm_sort_buf *b = buf ? buf : &own;
	/* items, their radix copy, then the gathered writes */
	sort_item *items = scratch(b, (sizeof(sort_item) * 2 + sizeof(bstm_write)) * count);
	if (!items)
		return BSTM_ENOMEM;
	bstm_write *sorted = (bstm_write *)(items + 2 * count);
	for (size_t i = 0; i < count; i++)
		items[i] = item_of(&writes[i], i);
	radix_sort(items, items + count, count);
	for (size_t i = 0; i < count; i++)
		sorted[i] = writes[items[i].index];
	for (size_t start = 0; start < count;) {
		size_t end = start + 1;
		while (end < count && items[end].hi == items[start].hi &&
		       items[end].lo == items[start].lo)
			end++;
		if (end - start > SORT_SMALL_RUN)
			qsort(sorted + start, end - start, sizeof *sorted, compare_writes);
		else if (end - start > 1)
			insertion_sort(sorted + start, end - start);
		start = end;
	}
	memcpy(writes, sorted, sizeof *sorted * count);
	/* A run of equal prefixes was reordered within itself only, so item i
	 * still holds the prefix of write i. */
	b->prefixes = items;
	bstm_sort_buf_free(&own);
	return 0;
}

/* The k-way merge: a binary min-heap of the parts' current heads, ordered
 * by the heads' 16-byte prefixes first. The prefixes come in order from the
 * sort's items, a stream, where the keys themselves lie all over memory
 * (written by other cores, when each worker sorted its own part). */
typedef struct merge_head {
	const bstm_write *at, *end;
	const sort_item *item; /* at's prefix, or NULL: computed from the key */
	uint64_t hi, lo;
} merge_head;

static void load_prefix(merge_head *h)
{
	sort_item it = h->item ? *h->item : item_of(h->at, 0);
	h->hi = it.hi;
	h->lo = it.lo;
}

static bool head_less(const merge_head *x, const merge_head *y)
{
	if (x->hi != y->hi)
		return x->hi < y->hi;
	if (x->lo != y->lo)
		return x->lo < y->lo;
	return bstm_key_compare(x->at->key, x->at->key_len, y->at->key, y->at->key_len) < 0;
}

static void sift_down(merge_head *heap, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && head_less(&heap[l], &heap[m]))
			m = l;
		if (l + 1 < n && head_less(&heap[l + 1], &heap[m]))
			m = l + 1;
		if (m == i)
			return;
		merge_head t = heap[i];
		heap[i] = heap[m];
		heap[m] = t;
		i = m;
	}
}

int bstm_merge_writes(bstm_write *dst, const bstm_sorted_part *parts, size_t nparts)
{
	merge_head *heap = malloc(sizeof *heap * (nparts ? nparts : 1));
	if (!heap)
		return BSTM_ENOMEM;
	size_t n = 0;
	for (size_t p = 0; p < nparts; p++) {
		const bstm_sorted_part *part = &parts[p];
		if (!part->count)
			continue;
		const sort_item *items = part->buf ? part->buf->prefixes : NULL;
		heap[n] = (merge_head){part->writes, part->writes + part->count, items, 0, 0};
		load_prefix(&heap[n++]);
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(heap, n, i);
	while (n > 2) {
		merge_head *h = &heap[0];
		*dst++ = *h->at++;
		if (h->at == h->end) {
			*h = heap[--n];
		} else {
			if (h->item)
				h->item++;
			load_prefix(h);
		}
		sift_down(heap, n, 0);
	}
	/* Two heads left (the whole merge with two threads): one comparison
	 * per write and no heap moves. */
	while (n == 2) {
		merge_head *h = head_less(&heap[1], &heap[0]) ? &heap[1] : &heap[0];
		*dst++ = *h->at++;
		if (h->at == h->end) {
			*h = heap[1];
			n = 1;
		} else {
			if (h->item)
				h->item++;
			load_prefix(h);
		}
	}
	if (n == 1)
		memcpy(dst, heap[0].at, sizeof *dst * (size_t)(heap[0].end - heap[0].at));
	free(heap);
	return 0;
}
