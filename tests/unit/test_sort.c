/*
 * test_sort.c - the key sort behind every merged write set, against a plain
 * comparison sort. Both executors use it, so the differential test cannot
 * catch a wrong order: this test must.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/sort.h"

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int reference_compare(const void *a, const void *b)
{
	const bstm_write *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = n ? memcmp(x->key, y->key, n) : 0;
	if (c)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Keys drawn from a few shapes: shared prefixes, prefix-of-another, short,
 * long, all-zero bytes, keys differing in one byte position only, and keys
 * differing only past byte 16. */
static void make_key(uint8_t *key, uint32_t *len, uint64_t unique)
{
	uint32_t shape = rng() % 7;
	switch (shape) {
	case 0: /* 'a' + 8-byte big-endian counter: differ in the low bytes */
		key[0] = 'a';
		for (int i = 0; i < 8; i++)
			key[1 + i] = (uint8_t)(unique >> (56 - 8 * i));
		*len = 9;
		break;
	case 1: /* short random */
		*len = (uint32_t)(rng() % 4);
		for (uint32_t i = 0; i < *len; i++)
			key[i] = (uint8_t)rng();
		break;
	case 2: /* long, same 20-byte prefix, differing at the end */
		memset(key, 'p', 20);
		*len = 20 + 8;
		memcpy(key + 20, &unique, 8);
		break;
	case 3: /* zero bytes of varying length: a prefix of each other */
		*len = (uint32_t)(rng() % 24);
		memset(key, 0, *len);
		break;
	case 4: /* a fixed 16-byte pattern changed in one position: every radix
		 * pass has keys that differ only there */
		memset(key, 0x55, 16);
		key[rng() % 16] = (uint8_t)rng();
		*len = 16;
		break;
	default: /* random length and bytes */
		*len = (uint32_t)(rng() % 40);
		for (uint32_t i = 0; i < *len; i++)
			key[i] = (uint8_t)(rng() % 4);
		break;
	}
}

static void check(size_t n, uint64_t seed)
{
	rng_state = seed;
	uint8_t *store = calloc(n ? n : 1, 40);
	bstm_write *w = calloc(n ? n : 1, sizeof *w);
	bstm_write *ref = calloc(n ? n : 1, sizeof *ref);
	cr_assert(store && w && ref);
	for (size_t i = 0; i < n; i++) {
		uint32_t len;
		make_key(store + 40 * i, &len, i);
		w[i] = (bstm_write){
			.key = store + 40 * i, .key_len = len, .value_len = (uint32_t)i};
	}
	memcpy(ref, w, sizeof *w * n);
	qsort(ref, n, sizeof *ref, reference_compare);
	cr_assert_eq(bstm_sort_writes(w, n), 0);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(reference_compare(&w[i], &ref[i]), 0,
			     "n=%zu seed=%llu: position %zu differs", n, (unsigned long long)seed,
			     i);
		if (i)
			cr_assert_leq(reference_compare(&w[i - 1], &w[i]), 0);
	}
	/* Nothing lost or duplicated: every original index appears once. */
	char *seen = calloc(n ? n : 1, 1);
	for (size_t i = 0; i < n; i++) {
		cr_assert_lt(w[i].value_len, n);
		cr_assert_eq(seen[w[i].value_len], 0);
		seen[w[i].value_len] = 1;
	}
	free(seen);
	free(store);
	free(w);
	free(ref);
}

Test(sort, matches_comparison_sort_at_every_size)
{
	size_t sizes[] = {0, 1, 2, 63, 64, 65, 1000, 20000};
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
		for (uint64_t seed = 1; seed <= 3; seed++)
			check(sizes[s], seed * 7919 + s);
}

Test(sort, keys_equal_in_their_first_16_bytes)
{
	enum { N = 5000 };
	uint8_t *store = calloc(N, 32);
	bstm_write *w = calloc(N, sizeof *w);
	for (size_t i = 0; i < N; i++) {
		memset(store + 32 * i, 0xab, 16);
		uint32_t x = (uint32_t)(N - i) * 2654435761u;
		memcpy(store + 32 * i + 16, &x, 4);
		w[i] = (bstm_write){.key = store + 32 * i, .key_len = 20};
	}
	cr_assert_eq(bstm_sort_writes(w, N), 0);
	for (size_t i = 1; i < N; i++)
		cr_assert_lt(reference_compare(&w[i - 1], &w[i]), 0);
	free(store);
	free(w);
}
