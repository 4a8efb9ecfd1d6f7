/*
 * test_sort.c - the key sort behind every merged write set, against a plain
 * comparison sort. Both executors use it, so the differential test cannot
 * catch a wrong order: this test must.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
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
	cr_assert_eq(bstm_sort_writes(w, n, NULL), 0);
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
	cr_assert_eq(bstm_sort_writes(w, N, NULL), 0);
	for (size_t i = 1; i < N; i++)
		cr_assert_lt(reference_compare(&w[i - 1], &w[i]), 0);
	free(store);
	free(w);
}

/* Many short runs of equal 16-byte prefixes, as resource keys make them
 * ('R', the account, then the resource's name): one to twenty keys per
 * account, so both the insertion sort of short runs and qsort of longer
 * ones run, in random order. */
Test(sort, short_runs_of_equal_prefixes)
{
	enum { ACCOUNTS = 2000, MAX_PER = 20 };
	uint8_t *store = calloc((size_t)ACCOUNTS * MAX_PER, 32);
	bstm_write *w = calloc((size_t)ACCOUNTS * MAX_PER, sizeof *w);
	cr_assert(store && w);
	rng_state = 99;
	size_t n = 0;
	for (uint32_t a = 0; a < ACCOUNTS; a++) {
		uint32_t per = 1 + (uint32_t)(rng() % MAX_PER);
		for (uint32_t r = 0; r < per; r++) {
			uint8_t *k = store + 32 * n;
			k[0] = 'R';
			for (int i = 0; i < 8; i++)
				k[1 + i] = (uint8_t)((uint64_t)a * 40503u >> (56 - 8 * i));
			memset(k + 9, 0, 8);
			/* Names differ past byte 16 and in length. */
			uint32_t len = 17 + (uint32_t)(rng() % 12);
			for (uint32_t i = 17; i < len; i++)
				k[i] = (uint8_t)('a' + rng() % 3);
			w[n++] = (bstm_write){.key = k, .key_len = len, .value_len = (uint32_t)n};
		}
	}
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(rng() % (i + 1));
		bstm_write t = w[i];
		w[i] = w[j];
		w[j] = t;
	}
	cr_assert_eq(bstm_sort_writes(w, n, NULL), 0);
	for (size_t i = 1; i < n; i++)
		cr_assert_leq(reference_compare(&w[i - 1], &w[i]), 0, "position %zu out of order",
			      i);
	free(store);
	free(w);
}

/* The k-way merge of sorted parts with distinct keys, some parts empty,
 * equals one sort of everything. */
/* with_bufs: each part sorted with a buffer of its own, whose prefixes the
 * merge uses; otherwise the merge reads every key. */
static void check_merge(bool with_bufs)
{
	enum { N = 3000, MAX_PARTS = 60 };
	uint8_t *store = calloc(N, 16);
	bstm_write *all = calloc(N, sizeof *all);
	bstm_write *split = calloc(N, sizeof *split);
	bstm_write *out = calloc(N + 1, sizeof *out);
	cr_assert(store && all && split && out);
	for (size_t i = 0; i < N; i++) {
		uint8_t *k = store + 16 * i;
		/* The first word takes three values, so that most keys differ
		 * only in their second prefix word. */
		uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15ULL;
		memset(k, (int)(i % 3), 8);
		memcpy(k + 8, &x, 8);
		/* keys of varying length, one a prefix of another at times */
		all[i] = (bstm_write){
			.key = k, .key_len = 1 + (uint32_t)(i % 16), .value_len = (uint32_t)i};
	}
	/* Distinct keys: drop those whose bytes repeat an earlier one. */
	size_t n = 0;
	cr_assert_eq(bstm_sort_writes(all, N, NULL), 0);
	for (size_t i = 0; i < N; i++)
		if (n == 0 || reference_compare(&all[n - 1], &all[i]) != 0)
			all[n++] = all[i];
	size_t nparts_set[] = {0, 1, 2, 3, 7, 17, MAX_PARTS}; /* 60: parts below 64 */
	bstm_sort_buf bufs[MAX_PARTS] = {{0}};
	for (size_t s = 0; s < sizeof nparts_set / sizeof nparts_set[0]; s++) {
		size_t nparts = nparts_set[s];
		size_t total = nparts ? n : 0;
		/* Deal the keys to parts at random (part 0 and the last get
		 * none when there are three or more), then sort each part. */
		bstm_sorted_part parts[MAX_PARTS] = {{0}};
		rng_state = 5 + s;
		size_t *owner = calloc(n ? n : 1, sizeof *owner);
		for (size_t i = 0; i < total; i++) {
			size_t p =
				nparts >= 3 ? 1 + (size_t)(rng() % (nparts - 2)) : rng() % nparts;
			owner[i] = p;
		}
		size_t at = 0;
		for (size_t p = 0; p < nparts; p++) {
			size_t k = 0;
			for (size_t i = n; i-- > 0;) /* reversed: each part needs its sort */
				if (i < total && owner[i] == p)
					split[at + k++] = all[i];
			bstm_sort_buf *buf = with_bufs ? &bufs[p] : NULL;
			cr_assert_eq(bstm_sort_writes(split + at, k, buf), 0);
			parts[p] = (bstm_sorted_part){split + at, k, buf};
			at += k;
		}
		free(owner);
		out[total] = (bstm_write){.value_len = UINT32_MAX}; /* guard */
		cr_assert_eq(bstm_merge_writes(out, parts, nparts), 0);
		for (size_t i = 0; i < total; i++)
			cr_assert_eq(out[i].value_len, all[i].value_len,
				     "%zu parts: position %zu holds write %u, expected %u", nparts,
				     i, out[i].value_len, all[i].value_len);
		cr_assert_eq(out[total].value_len, UINT32_MAX, "%zu parts: wrote past the end",
			     nparts);
	}
	for (size_t p = 0; p < MAX_PARTS; p++)
		bstm_sort_buf_free(&bufs[p]);
	free(store);
	free(all);
	free(split);
	free(out);
}

Test(sort, merge_of_sorted_parts)
{
	check_merge(false);
	check_merge(true);
}
