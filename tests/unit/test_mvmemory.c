/*
 * test_mvmemory.c - the multi-version memory (src/mvmemory).
 *
 * Single-threaded tests pin down the index (one entry per key, chains in a
 * small index), the read rule (highest writer strictly below the reader,
 * ESTIMATE blocks, ABSENT is skipped, deleted versions are versions), the
 * write bookkeeping (new_path, last_incarnation) and validation by version
 * address. Multi-threaded tests insert writer nodes into a few hot keys while
 * other threads read, then check the skip lists and what the readers saw.
 * Worker threads never assert: they count violations and keep the first
 * description, and the test's thread asserts on them.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../support/testkit.h"
#include "common/hash.h"
#include "mvmemory/mvmemory.h"

#define CHUNK_SIZE (64u << 10)

static mvm mem;
static bstm_arena arena;
static uint64_t created; /* entries insert_key created since the last reset */

static void setup(void)
{
	cr_assert_eq(mvm_init(&mem), 0);
	bstm_arena_init(&arena, CHUNK_SIZE);
	cr_assert_eq(mvm_begin_block(&mem, 64), 0);
	created = 0;
}

static void teardown(void)
{
	mvm_end_block(&mem, 64, created);
	bstm_arena_destroy(&arena);
	mvm_destroy(&mem);
}

TestSuite(mvmemory, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* mvm_find_or_insert, adding one to *count when this call created the entry. */
static mvm_entry *insert_counted(mvm *m, bstm_arena *a, const void *key, uint32_t len,
				 uint64_t hash, uint64_t *count)
{
	bool made = false;
	mvm_entry *e = mvm_find_or_insert(m, a, key, len, hash, &made);
	*count += made;
	return e;
}

static mvm_entry *insert_key(mvm *m, bstm_arena *a, const void *key, uint32_t len)
{
	mvm_entry *e = insert_counted(m, a, key, len, bstm_hash_bytes(key, len), &created);
	cr_assert_not_null(e, "mvm_find_or_insert(len=%u) returned NULL", len);
	return e;
}

static mvm_entry *find_key(mvm *m, const void *key, uint32_t len)
{
	return mvm_find(m, key, len, bstm_hash_bytes(key, len));
}

static mvm_entry *insert_str(const char *key)
{
	return insert_key(&mem, &arena, key, (uint32_t)strlen(key));
}

static const mvm_version *new_version(bstm_arena *a, uint32_t txn, uint32_t incarnation,
				      uint32_t flags)
{
	mvm_version *v = bstm_arena_alloc(a, sizeof *v);
	if (v)
		*v = (mvm_version){.value = NULL,
				   .len = 0,
				   .flags = flags,
				   .txn_idx = txn,
				   .incarnation = incarnation};
	return v;
}

/* Write a fresh version for (txn, incarnation); returns the node. */
static mvm_node *write_txn(mvm_entry *e, uint32_t txn, uint32_t incarnation, bool *new_path,
			   const mvm_version **version)
{
	const mvm_version *v = new_version(&arena, txn, incarnation, 0);
	cr_assert_not_null(v);
	bool fresh = false;
	mvm_node *node = mvm_write(e, &arena, txn, incarnation, v, &fresh);
	cr_assert_not_null(node, "mvm_write(txn=%u) returned NULL", txn);
	const mvm_version *published = mvm_node_version(node);
	cr_assert_eq(node->txn_idx, txn);
	/* The version readers see is a copy of v. */
	cr_assert_not_null(published);
	cr_assert_eq(published->txn_idx, txn);
	cr_assert_eq(published->incarnation, incarnation);
	if (new_path)
		*new_path = fresh;
	if (version)
		*version = published;
	return node;
}

static void expect_storage(const mvm_entry *e, uint32_t reader)
{
	mvm_read_result r;
	mvm_read(e, reader, &r);
	cr_assert_eq(r.kind, MVM_READ_STORAGE, "reader %u: kind %d, expected STORAGE (txn %u)",
		     reader, r.kind, r.blocking_txn);
	cr_assert_null(r.version, "reader %u: STORAGE with a version", reader);
}

static void expect_version(const mvm_entry *e, uint32_t reader, const mvm_version *v)
{
	mvm_read_result r;
	mvm_read(e, reader, &r);
	cr_assert_eq(r.kind, MVM_READ_VERSION, "reader %u: kind %d, expected VERSION of txn %u",
		     reader, r.kind, v->txn_idx);
	cr_assert_eq(r.version, v, "reader %u: version of txn %u inc %u, expected txn %u inc %u",
		     reader, r.version->txn_idx, r.version->incarnation, v->txn_idx,
		     v->incarnation);
	cr_assert_eq(r.blocking_txn, v->txn_idx, "reader %u: blocking_txn %u, expected %u", reader,
		     r.blocking_txn, v->txn_idx);
}

static void expect_estimate(const mvm_entry *e, uint32_t reader, uint32_t blocking)
{
	mvm_read_result r;
	mvm_read(e, reader, &r);
	cr_assert_eq(r.kind, MVM_READ_ESTIMATE, "reader %u: kind %d, expected ESTIMATE of %u",
		     reader, r.kind, blocking);
	cr_assert_eq(r.blocking_txn, blocking, "reader %u: blocking %u, expected %u", reader,
		     r.blocking_txn, blocking);
}

static void shuffle(uint32_t *a, uint32_t n, tk_rng *rng)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)tk_rng_below(rng, i);
		uint32_t t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* Check every level of e's skip list: strictly descending, and a node on
 * level L has height > L. Returns the number of nodes on level 0. */
static uint32_t check_skip_list(const mvm_entry *e)
{
	uint32_t count0 = 0, taller[MVM_LEVELS] = {0}, on[MVM_LEVELS] = {0};
	for (const mvm_node *n = atomic_load(mvm_link(e, NULL, 0)); n; n = atomic_load(&n->next[0]))
		for (uint32_t l = 0; l < mvm_node_height(n->txn_idx); l++)
			taller[l]++;
	/* Upper levels of the head live in the entry's ext, made before the
	 * first node went there; the shared empty link stays empty. */
	if (taller[1])
		cr_assert_not_null(mvm_ext(e), "nodes with upper levels but no ext");
	cr_assert_null(atomic_load(&mvm_no_link));
	for (int level = 0; level < MVM_LEVELS; level++) {
		const mvm_node *prev = NULL;
		const mvm_node *n =
			atomic_load_explicit(mvm_link(e, NULL, level), memory_order_acquire);
		if (n)
			cr_assert_lt(level, atomic_load(&e->levels),
				     "level %d has nodes but the entry uses %u levels", level,
				     atomic_load(&e->levels));
		for (; n; n = atomic_load_explicit(&n->next[level], memory_order_acquire)) {
			cr_assert_gt(mvm_node_height(n->txn_idx), (uint32_t)level,
				     "node %u of height %u linked on level %d", n->txn_idx,
				     mvm_node_height(n->txn_idx), level);
			if (prev)
				cr_assert_lt(n->txn_idx, prev->txn_idx,
					     "level %d not strictly descending: %u after %u", level,
					     n->txn_idx, prev->txn_idx);
			prev = n;
			on[level]++;
			if (level == 0)
				count0++;
		}
		/* Every node is on every level below its height. */
		cr_assert_eq(on[level], taller[level], "level %d holds %u of the %u nodes", level,
			     on[level], taller[level]);
	}
	return count0;
}

/* ------------------------------------------------------------------------ */
/* The index                                                                 */
/* ------------------------------------------------------------------------ */

Test(mvmemory, same_key_same_entry)
{
	char key[16] = "alpha";
	mvm_entry *e = insert_key(&mem, &arena, key, 5);
	cr_assert_eq(insert_key(&mem, &arena, key, 5), e);
	cr_assert_eq(find_key(&mem, "alpha", 5), e);
	cr_assert_eq(e->key_len, 5);
	cr_assert_eq(memcmp(e->key, "alpha", 5), 0);
	cr_assert_eq(e->tag, (uint32_t)(bstm_hash_bytes("alpha", 5) >> 32));

	/* The key bytes were copied: changing the caller's buffer changes
	 * nothing. */
	memcpy(key, "omega", 5);
	cr_assert_eq(find_key(&mem, "alpha", 5), e);
	cr_assert_null(find_key(&mem, "omega", 5));
	cr_assert_null(find_key(&mem, "alph", 4));

	/* A fresh entry has no writers and no base. */
	for (int level = 0; level < MVM_LEVELS; level++)
		cr_assert_null(atomic_load(mvm_link(e, NULL, level)));
	cr_assert_eq(atomic_load(&e->levels), 0);
	cr_assert_null(atomic_load(&mvm_links(e)->base));
	/* Tag, key and level 0 share the entry's first line. */
	cr_assert_eq((uintptr_t)e % BSTM_CACHELINE, 0);
	/* For keys of up to 33 bytes (the VM's), the whole entry is that line;
	 * a fresh entry has no ext. */
	cr_assert_leq(mvm_links_offset(33) + sizeof(mvm_entry_links), BSTM_CACHELINE);
	cr_assert_null(mvm_ext(e));
	cr_assert_eq(created, 1);
}

Test(mvmemory, distinct_keys_distinct_entries)
{
	static uint8_t big[BSTM_MAX_KEY_LEN], big2[BSTM_MAX_KEY_LEN];
	tk_fill(big, sizeof big, 7);
	memcpy(big2, big, sizeof big);
	big2[BSTM_MAX_KEY_LEN - 1] ^= 1;
	const uint8_t zero = 0;
	struct {
		const void *key;
		uint32_t len;
	} keys[] = {
		{"a", 1},
		{"ab", 2},
		{"abc", 3},
		{"b", 1},
		{"", 0},
		{&zero, 1}, /* one zero byte: not the empty key */
		{"abcdefgh", 8},
		{"abcdefghi", 9},
		{big, BSTM_MAX_KEY_LEN},
		{big2, BSTM_MAX_KEY_LEN},
		{big, BSTM_MAX_KEY_LEN - 1},
		{big, 33},
		{big, 32},
	};
	enum { N = sizeof keys / sizeof keys[0] };
	mvm_entry *e[N];
	for (int i = 0; i < N; i++) {
		e[i] = insert_key(&mem, &arena, keys[i].key, keys[i].len);
		cr_assert_eq(e[i]->key_len, keys[i].len);
		cr_assert_eq(memcmp(e[i]->key, keys[i].key, keys[i].len), 0, "key %d bytes", i);
		for (int j = 0; j < i; j++)
			cr_assert_neq(e[i], e[j], "keys %d and %d share an entry", i, j);
	}
	for (int i = 0; i < N; i++) {
		cr_assert_eq(find_key(&mem, keys[i].key, keys[i].len), e[i], "find key %d", i);
		cr_assert_eq(insert_key(&mem, &arena, keys[i].key, keys[i].len), e[i],
			     "re-insert key %d", i);
	}
	cr_assert_eq(created, N);
}

/* The hash is the caller's: different keys with one hash are still
 * different entries, told apart by their bytes. */
Test(mvmemory, colliding_hashes_distinct_entries)
{
	/* More than a line's open slots: the rest go down the trie. */
	const char *keys[] = {"x", "xy", "xyz", "q", "0123456789abcdef0123456789abcdef!",
			      "a", "b",	 "c",	"d", "e",
			      "f", "g"};
	enum { N = sizeof keys / sizeof keys[0] };
	mvm_entry *e[N];
	for (int i = 0; i < N; i++) {
		e[i] = insert_counted(&mem, &arena, keys[i], (uint32_t)strlen(keys[i]), 42,
				      &created);
		cr_assert_not_null(e[i]);
		for (int j = 0; j < i; j++)
			cr_assert_neq(e[i], e[j], "keys %d and %d share an entry", i, j);
	}
	for (int i = 0; i < N; i++)
		cr_assert_eq(mvm_find(&mem, keys[i], (uint32_t)strlen(keys[i]), 42), e[i]);
	cr_assert_null(mvm_find(&mem, "xyzw", 4, 42));
	/* Same bytes under another hash: a different key as far as the index
	 * can tell, and never the colliding entry. */
	cr_assert_null(mvm_find(&mem, "x", 1, 43));
	/* The first keys took the open slots; equal hashes of the others run
	 * out of bits: the child tables end in a chain. */
	cr_assert_leq(mvm_lookup_steps(&mem, keys[0], 1, 42), 1);
	cr_assert_geq(mvm_lookup_steps(&mem, keys[N - 1], 1, 42), MVM_LINE_OPEN + 10);
	/* Keys whose hashes differ only in bits the index never looks at
	 * (between the bucket's and the tag's) share that chain too, and stay
	 * apart by their bytes. */
	uint64_t h1 = 42 | (1ull << 20), h2 = 42 | (1ull << 21);
	mvm_entry *a = insert_counted(&mem, &arena, "p", 1, h1, &created);
	mvm_entry *b = insert_counted(&mem, &arena, "q", 1, h2, &created);
	cr_assert_neq(a, b);
	cr_assert_eq(mvm_find(&mem, "p", 1, h1), a);
	cr_assert_eq(mvm_find(&mem, "q", 1, h2), b);
	cr_assert_eq(mvm_find(&mem, "x", 1, 42), e[0]);
}

/* A line's open slots fill in order with entries tagged by their hashes'
 * top bits; a lookup compares the tags and reads only entries whose tag
 * matches; once they are full, keys go to the line's trie slot. */
Test(mvmemory, open_slots_of_a_line)
{
	enum { N = MVM_LINE_OPEN + 3 };
	mvm_entry *e[N];
	char key[8];
	for (uint32_t i = 0; i < N; i++) {
		/* One line; open tags 1..N. */
		uint64_t hash = 5 | ((uint64_t)(i + 1) << MVM_OPEN_TAG_SHIFT);
		int len = snprintf(key, sizeof key, "o%u", i);
		e[i] = insert_counted(&mem, &arena, key, (uint32_t)len, hash, &created);
		cr_assert_not_null(e[i]);
		mvm_slot *line = &mem.buckets[(hash & mem.mask) * MVM_LINE_SLOTS];
		if (i < MVM_LINE_OPEN) {
			uintptr_t w = atomic_load(&line[i]);
			cr_assert_eq(mvm_open_entry(w), e[i], "key %u not in open slot %u", i, i);
			cr_assert_eq(mvm_open_tag_of(w), i + 1);
			if (i + 1 < MVM_LINE_OPEN)
				cr_assert_eq(atomic_load(&line[i + 1]), 0);
			cr_assert_eq(atomic_load(&line[MVM_LINE_OPEN]), 0);
		} else {
			cr_assert_neq(atomic_load(&line[MVM_LINE_OPEN]), 0);
		}
	}
	cr_assert_eq(created, N);
	for (uint32_t i = 0; i < N; i++) {
		uint64_t hash = 5 | ((uint64_t)(i + 1) << MVM_OPEN_TAG_SHIFT);
		int len = snprintf(key, sizeof key, "o%u", i);
		cr_assert_eq(mvm_find(&mem, key, (uint32_t)len, hash), e[i]);
		cr_assert_eq(insert_counted(&mem, &arena, key, (uint32_t)len, hash, &created),
			     e[i]);
		/* Tags tell the open entries apart without reading them: a
		 * lookup visits the slots up to its own, then the trie. */
		uint32_t steps = mvm_lookup_steps(&mem, key, (uint32_t)len, hash);
		if (i < MVM_LINE_OPEN)
			cr_assert_eq(steps, i + 1, "key %u: %u steps", i, steps);
		else
			cr_assert_gt(steps, MVM_LINE_OPEN, "key %u: %u steps", i, steps);
		/* The same bytes under another open tag: another key. */
		cr_assert_null(mvm_find(&mem, key, (uint32_t)len, hash ^ (UINT64_C(1) << 63)));
	}
	cr_assert_eq(created, N);
}

/* Keys whose hashes agree in the bucket bits and in all but the last of the
 * tag's bits the index uses go ten tables down, and are all found. */
Test(mvmemory, hashes_that_share_most_bits)
{
	enum { N = 64 };
	mvm_entry *e[N];
	char key[8];
	for (uint32_t i = 0; i < N; i++) {
		/* The same bucket; tags that differ only from bit 24 up. */
		uint64_t hash = 7 | ((uint64_t)i << (32 + 24));
		int len = snprintf(key, sizeof key, "h%u", i);
		e[i] = insert_counted(&mem, &arena, key, (uint32_t)len, hash, &created);
		cr_assert_not_null(e[i]);
	}
	for (uint32_t i = 0; i < N; i++) {
		uint64_t hash = 7 | ((uint64_t)i << (32 + 24));
		int len = snprintf(key, sizeof key, "h%u", i);
		cr_assert_eq(mvm_find(&mem, key, (uint32_t)len, hash), e[i], "key %s", key);
		cr_assert_eq(insert_counted(&mem, &arena, key, (uint32_t)len, hash, &created),
			     e[i]);
	}
}

/* The public API accepts (NULL, 0) as the empty key; the index must too. */
Test(mvmemory, empty_key_with_null_pointer)
{
	mvm_entry *e = insert_counted(&mem, &arena, NULL, 0, bstm_hash_bytes("", 0), &created);
	cr_assert_not_null(e);
	cr_assert_eq(e->key_len, 0);
	cr_assert_eq(find_key(&mem, "", 0), e);
	cr_assert_eq(mvm_find(&mem, NULL, 0, bstm_hash_bytes("", 0)), e);
}

Test(mvmemory, many_keys_in_small_index)
{
	/* One transaction: the index gets its minimum size (256 buckets), so
	 * 30k keys share buckets by the hundred. Buckets become child tables,
	 * so no lookup visits more than a few slots and one entry (a chain
	 * per bucket would have visited a hundred entries). */
	mvm_end_block(&mem, 64, created);
	created = 0;
	cr_assert_eq(mvm_begin_block(&mem, 1), 0);
	cr_assert_leq(mem.mask + 1, 1024, "expected a small index, got %lu buckets",
		      (unsigned long)(mem.mask + 1));
	enum { N = 30000 };
	mvm_entry **e = malloc(sizeof *e * N);
	cr_assert_not_null(e);
	char key[32];
	for (uint32_t i = 0; i < N; i++) {
		int len = snprintf(key, sizeof key, "k%u", i);
		e[i] = insert_key(&mem, &arena, key, (uint32_t)len);
	}
	cr_assert_eq(created, N);
	for (uint32_t i = 0; i < N; i++) {
		int len = snprintf(key, sizeof key, "k%u", i);
		mvm_entry *f = find_key(&mem, key, (uint32_t)len);
		cr_assert_eq(f, e[i], "key %s: found %p, inserted %p", key, (void *)f,
			     (void *)e[i]);
		cr_assert_eq(f->key_len, (uint32_t)len);
		cr_assert_eq(memcmp(f->key, key, (size_t)len), 0);
		uint32_t steps = mvm_lookup_steps(&mem, key, (uint32_t)len,
						  bstm_hash_bytes(key, (size_t)len));
		cr_assert_leq(steps, MVM_LINE_OPEN + 10, "key %s: %u steps", key, steps);
	}
	for (uint32_t i = N; i < N + 10000; i++) {
		int len = snprintf(key, sizeof key, "k%u", i);
		cr_assert_null(find_key(&mem, key, (uint32_t)len), "absent key %s found", key);
	}
	/* Re-inserting finds the existing entries and creates none. */
	for (uint32_t i = 0; i < N; i += 97) {
		int len = snprintf(key, sizeof key, "k%u", i);
		cr_assert_eq(insert_key(&mem, &arena, key, (uint32_t)len), e[i]);
	}
	cr_assert_eq(created, N);
	free(e);
	mvm_end_block(&mem, 1, created);
	created = 0;
	bstm_arena_reset(&arena);
	cr_assert_eq(mvm_begin_block(&mem, 64), 0);
}

/* The index gets a line per MVM_LINE_KEYS keys the blocks before it touched
 * per transaction (a power of two, so between half that and that many keys
 * a line): fewer lines would send more keys past the open slots, into
 * child tables, more would make the array every lookup misses in larger
 * than it needs to be. */
Test(mvmemory, index_sized_to_keys_seen)
{
	mvm_end_block(&mem, 64, created);
	created = 0;
	bstm_arena_reset(&arena);
	char key[32];
	for (int block = 0; block < 4; block++) {
		cr_assert_eq(mvm_begin_block(&mem, 1000), 0);
		for (uint32_t i = 0; i < 3000; i++) {
			int len = snprintf(key, sizeof key, "s%d-%u", block, i);
			insert_key(&mem, &arena, key, (uint32_t)len);
		}
		mvm_end_block(&mem, 1000, created);
		created = 0;
		bstm_arena_reset(&arena);
	}
	/* Learned: close to 3 keys per transaction, so MVM_LINE_KEYS keys a
	 * line or fewer, but more than half that. */
	cr_assert_eq(mvm_begin_block(&mem, 1000), 0);
	uint64_t lines = mem.mask + 1;
	cr_assert_geq(lines * MVM_LINE_KEYS, 3000, "%lu lines for 3000 keys", (unsigned long)lines);
	cr_assert_lt(lines * MVM_LINE_KEYS, 2 * 3000, "%lu lines for 3000 keys",
		     (unsigned long)lines);
	mvm_end_block(&mem, 1000, 0);
	cr_assert_eq(mvm_begin_block(&mem, 64), 0);
}

Test(mvmemory, blocks_reuse_the_index)
{
	tk_rng rng;
	tk_rng_seed(&rng, 11);
	mvm_end_block(&mem, 64, created);
	created = 0;
	bstm_arena_reset(&arena);
	char key[32];
	uint32_t prev_count = 0, prev_block = 0;
	for (uint32_t block = 1; block <= 60; block++) {
		uint32_t txns = (uint32_t)tk_rng_range(&rng, 0, 3000);
		cr_assert_eq(mvm_begin_block(&mem, txns), 0);
		uint64_t lines = mem.mask + 1;
		cr_assert_eq(lines & (lines - 1), 0, "line count %lu not a power of two",
			     (unsigned long)lines);
		cr_assert_geq(lines * MVM_LINE_SLOTS, 256);
		cr_assert_leq(lines * MVM_LINE_SLOTS, mem.capacity);

		/* Nothing of the previous block is found, not even keys that
		 * this block uses again. */
		for (uint32_t i = 0; i < prev_count; i++) {
			int len = snprintf(key, sizeof key, "b%u-%u", prev_block, i);
			cr_assert_null(find_key(&mem, key, (uint32_t)len),
				       "block %u: key %s of the previous block found", block, key);
			len = snprintf(key, sizeof key, "shared-%u", i);
			cr_assert_null(find_key(&mem, key, (uint32_t)len),
				       "block %u: key %s of the previous block found", block, key);
		}

		uint32_t count = (uint32_t)tk_rng_range(&rng, 0, 4 * (txns + 1));
		for (uint32_t i = 0; i < count; i++) {
			int len = snprintf(key, sizeof key, "b%u-%u", block, i);
			insert_key(&mem, &arena, key, (uint32_t)len);
			len = snprintf(key, sizeof key, "shared-%u", i);
			mvm_entry *e = insert_key(&mem, &arena, key, (uint32_t)len);
			for (int level = 0; level < MVM_LEVELS; level++)
				cr_assert_null(atomic_load(mvm_link(e, NULL, level)),
					       "block %u: fresh entry %s has writers", block, key);
			cr_assert_null(atomic_load(&mvm_links(e)->base));
			if (i % 3 == 0)
				write_txn(e, i % (txns + 1), 0, NULL, NULL);
		}
		cr_assert_eq(created, 2 * (uint64_t)count);
		for (uint32_t i = 0; i < count; i++) {
			int len = snprintf(key, sizeof key, "b%u-%u", block, i);
			cr_assert_not_null(find_key(&mem, key, (uint32_t)len));
		}
		mvm_end_block(&mem, txns, created);
		created = 0;
		cr_assert_geq(mem.keys_per_txn, 1.0);
		bstm_arena_reset(&arena);
		prev_count = count;
		prev_block = block;
	}
	cr_assert_eq(mvm_begin_block(&mem, 64), 0);
}

/* ------------------------------------------------------------------------ */
/* Reads                                                                     */
/* ------------------------------------------------------------------------ */

Test(mvmemory, read_without_writers_is_storage)
{
	mvm_entry *e = insert_str("k");
	expect_storage(e, 0);
	expect_storage(e, 1);
	expect_storage(e, 1000000);
	expect_storage(e, UINT32_MAX - 1);
	mvm_read_result r;
	mvm_read(e, 5, &r);
	cr_assert_eq(r.blocking_txn, MVM_TXN_STORAGE);
}

Test(mvmemory, write_visible_only_above_writer)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v;
	write_txn(e, 5, 0, NULL, &v);
	for (uint32_t i = 0; i <= 5; i++)
		expect_storage(e, i);
	for (uint32_t i = 6; i < 20; i++)
		expect_version(e, i, v);
	expect_version(e, UINT32_MAX - 1, v);

	/* Writer 0 is visible to everybody above it, and not to itself. */
	const mvm_version *v0;
	write_txn(e, 0, 0, NULL, &v0);
	expect_storage(e, 0);
	for (uint32_t i = 1; i <= 5; i++)
		expect_version(e, i, v0);
	expect_version(e, 6, v);
}

Test(mvmemory, highest_writer_below_wins)
{
	enum { SPACE = 3000, WRITERS = 1000 };
	tk_rng rng;
	tk_rng_seed(&rng, 3);
	uint32_t *all = malloc(sizeof *all * SPACE);
	cr_assert_not_null(all);
	for (uint32_t i = 0; i < SPACE; i++)
		all[i] = i;
	shuffle(all, SPACE, &rng);
	/* The first WRITERS of the shuffled indices, inserted in that order. */
	const mvm_version **ver = calloc(SPACE, sizeof *ver);
	cr_assert_not_null(ver);
	mvm_entry *e = insert_str("hot");
	for (uint32_t k = 0; k < WRITERS; k++) {
		bool fresh = false;
		write_txn(e, all[k], 0, &fresh, &ver[all[k]]);
		cr_assert(fresh, "first write of txn %u: new_path false", all[k]);
		if (k % 100 != 99 && k != 0)
			continue;
		/* Brute force: every reader index against the writers so far. */
		const mvm_version *best = NULL;
		for (uint32_t i = 0; i <= SPACE; i++) {
			if (best)
				expect_version(e, i, best);
			else
				expect_storage(e, i);
			if (i < SPACE && ver[i])
				best = ver[i];
		}
	}
	cr_assert_eq(check_skip_list(e), WRITERS);
	free(ver);
	free(all);
}

Test(mvmemory, estimate_blocks_reader)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v2, *v5;
	write_txn(e, 2, 0, NULL, &v2);
	mvm_node *n5 = write_txn(e, 5, 0, NULL, &v5);
	mvm_mark_estimate(n5);
	expect_estimate(e, 6, 5);
	expect_estimate(e, 100, 5);
	expect_version(e, 5, v2);
	expect_version(e, 3, v2);
	expect_storage(e, 2);

	/* The redo replaces the estimate; the previous incarnation wrote the
	 * key, so no new path. */
	bool fresh = true;
	const mvm_version *v5b;
	cr_assert_eq(write_txn(e, 5, 1, &fresh, &v5b), n5);
	cr_assert_not(fresh, "rewrite after ESTIMATE reported a new path");
	cr_assert_eq(n5->last_incarnation, 1);
	expect_version(e, 6, v5b);

	/* An estimate below another writer is hidden by it. */
	write_txn(e, 8, 0, NULL, NULL);
	mvm_mark_estimate(n5);
	expect_estimate(e, 8, 5);
	mvm_read_result r;
	mvm_read(e, 9, &r);
	cr_assert_eq(r.kind, MVM_READ_VERSION);
	cr_assert_eq(r.blocking_txn, 8);
}

Test(mvmemory, absent_nodes_skipped)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v2;
	write_txn(e, 2, 0, NULL, &v2);
	mvm_node *n5 = write_txn(e, 5, 0, NULL, NULL);
	mvm_node *n7 = write_txn(e, 7, 0, NULL, NULL);
	mvm_mark_absent(n5);
	mvm_mark_absent(n7);
	expect_version(e, 8, v2);
	expect_version(e, 6, v2);
	expect_version(e, 3, v2);
	expect_storage(e, 2);

	/* A long run of ABSENT nodes down to the last real writer. */
	mvm_entry *f = insert_str("run");
	const mvm_version *v0;
	write_txn(f, 0, 0, NULL, &v0);
	for (uint32_t t = 1; t <= 200; t++)
		mvm_mark_absent(write_txn(f, t, 0, NULL, NULL));
	for (uint32_t i = 1; i <= 201; i++)
		expect_version(f, i, v0);
	expect_storage(f, 0);

	/* Every writer ABSENT: storage. */
	mvm_entry *g = insert_str("gone");
	mvm_mark_absent(write_txn(g, 3, 0, NULL, NULL));
	mvm_mark_absent(write_txn(g, 1, 0, NULL, NULL));
	expect_storage(g, 10);
}

/* A delete is a version; turning it into "not found" is the executor's job. */
Test(mvmemory, deleted_version_is_returned)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *del = new_version(&arena, 4, 0, MVM_VERSION_DELETED);
	bool fresh = false;
	mvm_node *n = mvm_write(e, &arena, 4, 0, del, &fresh);
	cr_assert_not_null(n);
	cr_assert(fresh);
	const mvm_version *published = mvm_node_version(n);
	expect_version(e, 5, published);
	mvm_read_result r;
	mvm_read(e, 5, &r);
	cr_assert_eq(r.version->flags & MVM_VERSION_DELETED, MVM_VERSION_DELETED);
	expect_storage(e, 4);
}

/* ------------------------------------------------------------------------ */
/* Writes                                                                    */
/* ------------------------------------------------------------------------ */

Test(mvmemory, write_new_path_and_last_incarnation)
{
	mvm_entry *e = insert_str("k");
	bool fresh = false;
	const mvm_version *v;
	mvm_node *n = write_txn(e, 9, 0, &fresh, &v);
	cr_assert(fresh, "first write: new_path must be true");
	cr_assert_eq(n->last_incarnation, 0);
	cr_assert_geq(mvm_node_height(9), 1);
	cr_assert_leq(mvm_node_height(9), MVM_LEVELS);
	/* The first write lives in the node, the later ones do not. */
	cr_assert_eq(v, &n->first);
	expect_version(e, 10, v);

	const mvm_version *first = v;
	cr_assert_eq(write_txn(e, 9, 1, &fresh, &v), n, "rewrite made a second node");
	cr_assert_not(fresh, "rewrite by a later incarnation: new_path must be false");
	cr_assert_eq(n->last_incarnation, 1);
	cr_assert_neq(v, first, "a rewrite must not reuse the first version's address");
	cr_assert_eq(first->incarnation, 0, "the first version changed after publication");
	expect_version(e, 10, v);

	mvm_mark_absent(n);
	expect_storage(e, 10);
	cr_assert_eq(write_txn(e, 9, 2, &fresh, &v), n);
	cr_assert(fresh, "write over ABSENT: new_path must be true");
	cr_assert_eq(n->last_incarnation, 2);
	expect_version(e, 10, v);

	mvm_mark_estimate(n);
	cr_assert_eq(write_txn(e, 9, 3, &fresh, &v), n);
	cr_assert_not(fresh, "write over ESTIMATE: new_path must be false");
	cr_assert_eq(n->last_incarnation, 3);
	expect_version(e, 10, v);

	/* Other writers do not disturb the node's bookkeeping. */
	write_txn(e, 8, 0, &fresh, NULL);
	cr_assert(fresh);
	write_txn(e, 10, 0, &fresh, NULL);
	cr_assert(fresh);
	cr_assert_eq(n->last_incarnation, 3);
	cr_assert_eq(check_skip_list(e), 3);
}

Test(mvmemory, values_empty_and_large)
{
	mvm_entry *e = insert_str("k");

	mvm_version *empty_null = bstm_arena_alloc(&arena, sizeof *empty_null);
	*empty_null = (mvm_version){.value = NULL, .len = 0, .txn_idx = 1};
	bool fresh;
	cr_assert_not_null(mvm_write(e, &arena, 1, 0, empty_null, &fresh));

	uint8_t *zero_len = bstm_arena_alloc(&arena, 0);
	cr_assert_not_null(zero_len);
	mvm_version *empty = bstm_arena_alloc(&arena, sizeof *empty);
	*empty = (mvm_version){.value = zero_len, .len = 0, .txn_idx = 2};
	cr_assert_not_null(mvm_write(e, &arena, 2, 0, empty, &fresh));

	enum { BIG = 1u << 20 };
	uint8_t *bytes = bstm_arena_alloc(&arena, BIG);
	cr_assert_not_null(bytes);
	tk_fill(bytes, BIG, 99);
	mvm_version *big = bstm_arena_alloc(&arena, sizeof *big);
	*big = (mvm_version){.value = bytes, .len = BIG, .txn_idx = 3};
	mvm_node *big_node = mvm_write(e, &arena, 3, 0, big, &fresh);
	cr_assert_not_null(big_node);
	/* Too large to live in the node: the caller's bytes are published. */
	cr_assert_eq(mvm_node_version(big_node)->value, bytes);

	mvm_read_result r;
	mvm_read(e, 2, &r);
	cr_assert_eq(r.kind, MVM_READ_VERSION);
	cr_assert_eq(r.version->len, 0);
	cr_assert_null(r.version->value);
	cr_assert_eq(r.version->flags, 0, "an empty value is not a delete");
	mvm_read(e, 3, &r);
	cr_assert_eq(r.kind, MVM_READ_VERSION);
	cr_assert_eq(r.version->len, 0);
	cr_assert_not_null(r.version->value, "an empty value became NULL");
	mvm_read(e, 4, &r);
	cr_assert_eq(r.kind, MVM_READ_VERSION);
	cr_assert_eq(r.version->len, BIG);
	uint8_t *expect = malloc(BIG);
	cr_assert_not_null(expect);
	tk_fill(expect, BIG, 99);
	cr_assert_eq(memcmp(r.version->value, expect, BIG), 0, "1 MiB value changed");
	free(expect);
}

/* A first write of at most MVM_INLINE_VALUE bytes is copied into its node, so
 * a reader finds node, version and value on one line; a larger one, or a
 * rewrite, keeps the writer's bytes. Either way readers see the same bytes. */
Test(mvmemory, small_first_value_lives_in_the_node)
{
	uint8_t bytes[MVM_INLINE_VALUE + 1];
	tk_fill(bytes, sizeof bytes, 5);
	for (uint32_t len = MVM_INLINE_VALUE - 1; len <= MVM_INLINE_VALUE + 1; len++) {
		char name[16];
		snprintf(name, sizeof name, "inline%u", len);
		mvm_entry *e = insert_str(name);
		uint8_t *value = bstm_arena_dup(&arena, bytes, len);
		mvm_version v = {.value = value, .len = len, .txn_idx = 3};
		bool fresh;
		mvm_node *n = mvm_write(e, &arena, 3, 0, &v, &fresh);
		cr_assert_not_null(n);
		const mvm_version *published = mvm_node_version(n);
		cr_assert_eq((uintptr_t)n % BSTM_CACHELINE, 0, "node not on a line of its own");
		cr_assert_eq(published, &n->first);
		const uint8_t *at = published->value;
		bool in_node = at > (const uint8_t *)n && at < (const uint8_t *)n + 256;
		cr_assert_eq(in_node, len <= MVM_INLINE_VALUE, "len %u: value in node %d", len,
			     in_node);
		cr_assert_eq(published->len, len);
		/* The writer's buffer changing later must not matter when the
		 * node has its own copy. */
		memset(value, 0, len);
		mvm_read_result r;
		mvm_read(e, 4, &r);
		cr_assert_eq(r.version, published);
		if (in_node)
			cr_assert_eq(memcmp(r.version->value, bytes, len), 0, "len %u: bytes", len);
		/* A rewrite gets a version of its own and keeps its bytes. */
		mvm_version again = {.value = bytes, .len = len, .txn_idx = 3, .incarnation = 1};
		cr_assert_eq(mvm_write(e, &arena, 3, 1, &again, &fresh), n);
		published = mvm_node_version(n);
		cr_assert_eq(published->value, bytes);
		cr_assert_eq(published->incarnation, 1);
	}
}

/* ------------------------------------------------------------------------ */
/* Validation                                                                */
/* ------------------------------------------------------------------------ */

static bool validate_one(mvm_entry *e, const mvm_version *observed, uint32_t reader)
{
	mvm_capture c = {.entry = e, .observed = observed};
	return mvm_validate(&c, 1, reader);
}

Test(mvmemory, validate_unchanged_passes)
{
	mvm_entry *a = insert_str("a"), *b = insert_str("b");
	const mvm_version *v;
	write_txn(a, 5, 0, NULL, &v);
	mvm_capture reads[] = {{a, v}, {b, NULL}};
	cr_assert(mvm_validate(reads, 2, 10));
	cr_assert(mvm_validate(reads, 0, 10), "no reads: always valid");
	/* Reads by a lower reader: the observed version must be what it would
	 * see, here storage. */
	cr_assert_not(mvm_validate(reads, 1, 5));
}

Test(mvmemory, validate_new_writer_between_fails)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v;
	write_txn(e, 5, 0, NULL, &v);
	cr_assert(validate_one(e, v, 10));
	/* A writer below the observed one changes nothing. */
	write_txn(e, 3, 0, NULL, NULL);
	cr_assert(validate_one(e, v, 10));
	/* A writer between observed and reader does. */
	write_txn(e, 7, 0, NULL, NULL);
	cr_assert_not(validate_one(e, v, 10));
	cr_assert(validate_one(e, v, 7), "reader 7 still sees txn 5");
}

Test(mvmemory, validate_higher_writer_passes)
{
	mvm_entry *e = insert_str("k"), *s = insert_str("s");
	const mvm_version *v;
	write_txn(e, 5, 0, NULL, &v);
	write_txn(e, 10, 0, NULL, NULL); /* the reader itself */
	write_txn(e, 11, 0, NULL, NULL);
	write_txn(s, 10, 0, NULL, NULL);
	write_txn(s, 12, 0, NULL, NULL);
	mvm_capture reads[] = {{e, v}, {s, NULL}};
	cr_assert(mvm_validate(reads, 2, 10));
}

Test(mvmemory, validate_reexecuted_writer_fails)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v;
	mvm_node *n = write_txn(e, 5, 0, NULL, &v);
	cr_assert(validate_one(e, v, 10));
	/* The same bytes under a new version: the address is the version
	 * number, so validation fails. */
	mvm_version *again = bstm_arena_alloc(&arena, sizeof *again);
	*again = *v;
	again->incarnation = 1;
	bool fresh;
	cr_assert_eq(mvm_write(e, &arena, 5, 1, again, &fresh), n);
	cr_assert_not(validate_one(e, v, 10));
	cr_assert(validate_one(e, mvm_node_version(n), 10));
}

Test(mvmemory, validate_estimate_fails)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v;
	mvm_node *n = write_txn(e, 5, 0, NULL, &v);
	mvm_mark_estimate(n);
	cr_assert_not(validate_one(e, v, 10));
	/* An estimate only matters to readers above it. */
	cr_assert(validate_one(e, NULL, 5));
}

Test(mvmemory, validate_storage_read_then_writer_fails)
{
	mvm_entry *e = insert_str("k");
	cr_assert(validate_one(e, NULL, 10));
	write_txn(e, 12, 0, NULL, NULL);
	cr_assert(validate_one(e, NULL, 10));
	write_txn(e, 4, 0, NULL, NULL);
	cr_assert_not(validate_one(e, NULL, 10));
}

Test(mvmemory, validate_observed_writer_absent_fails)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *v2, *v5;
	write_txn(e, 2, 0, NULL, &v2);
	mvm_node *n5 = write_txn(e, 5, 0, NULL, &v5);
	mvm_mark_absent(n5);
	cr_assert_not(validate_one(e, v5, 10));
	cr_assert(validate_one(e, v2, 10));

	mvm_entry *f = insert_str("f");
	const mvm_version *w;
	mvm_node *m = write_txn(f, 3, 0, NULL, &w);
	mvm_mark_absent(m);
	cr_assert_not(validate_one(f, w, 10));
	cr_assert(validate_one(f, NULL, 10));
}

Test(mvmemory, validate_one_bad_read_fails_all)
{
	mvm_entry *keys[8];
	mvm_capture reads[8];
	char name[16];
	for (int i = 0; i < 8; i++) {
		snprintf(name, sizeof name, "k%d", i);
		keys[i] = insert_str(name);
		const mvm_version *v;
		write_txn(keys[i], (uint32_t)i, 0, NULL, &v);
		reads[i] = (mvm_capture){keys[i], v};
	}
	cr_assert(mvm_validate(reads, 8, 20));
	write_txn(keys[7], 15, 0, NULL, NULL);
	cr_assert_not(mvm_validate(reads, 8, 20));
	cr_assert(mvm_validate(reads, 7, 20));
}

/* ------------------------------------------------------------------------ */
/* Base values                                                               */
/* ------------------------------------------------------------------------ */

Test(mvmemory, set_base_first_wins)
{
	mvm_entry *e = insert_str("k");
	const mvm_version *a = new_version(&arena, MVM_TXN_STORAGE, 0, 0);
	const mvm_version *b = new_version(&arena, MVM_TXN_STORAGE, 0, 0);
	cr_assert_eq(mvm_set_base(e, a), a);
	cr_assert_eq(mvm_set_base(e, b), a);
	cr_assert_eq(mvm_set_base(e, a), a);
	cr_assert_eq(atomic_load(&mvm_links(e)->base), a);
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                               */
/* ------------------------------------------------------------------------ */

typedef struct shared_run {
	pthread_barrier_t start;
	tk_violations bad;
} shared_run;

static void shared_init(shared_run *run, uint32_t threads)
{
	cr_assert_eq(pthread_barrier_init(&run->start, NULL, threads), 0);
	tk_violations_init(&run->bad);
}

static void shared_check(shared_run *run, const char *what, uint32_t threads)
{
	pthread_barrier_destroy(&run->start);
	cr_assert_eq(atomic_load(&run->bad.count), 0, "%s, %u threads: %lu violations; first: %s",
		     what, threads, (unsigned long)atomic_load(&run->bad.count), run->bad.first);
}

/* --- hot keys: concurrent inserts and reads -------------------------------- */

#define HOT_KEYS      3
#define HOT_TXNS      4000
#define HOT_MIN_READS 5000 /* per reader, even if the writers are done first */

typedef struct hot_run {
	shared_run shared;
	mvm_entry *keys[HOT_KEYS];
	uint32_t writers;
	_Atomic uint32_t writers_left;
	_Atomic uint32_t frontier; /* an index a writer inserted recently */
	_Atomic uint64_t reads;
} hot_run;

typedef struct hot_thread {
	hot_run *run;
	uint32_t id;
	bool writer;
	bstm_arena arena;
	pthread_t thread;
} hot_thread;

static void hot_write(hot_thread *t, uint32_t txn, tk_rng *rng)
{
	hot_run *run = t->run;
	for (uint32_t k = 0; k < HOT_KEYS; k++) {
		const mvm_version *v = new_version(&t->arena, txn, 0, 0);
		bool fresh = false;
		mvm_node *n = v ? mvm_write(run->keys[k], &t->arena, txn, 0, v, &fresh) : NULL;
		if (!n) {
			tk_violation(&run->shared.bad, "out of memory writing txn %u", txn);
			return;
		}
		if (!fresh || n->txn_idx != txn)
			tk_violation(&run->shared.bad,
				     "first write of txn %u key %u: new_path %d node %u", txn, k,
				     fresh, n->txn_idx);
		atomic_store_explicit(&run->frontier, txn, memory_order_relaxed);
		/* Later incarnations rewrite the key in place, some after an
		 * abort marked it ESTIMATE. */
		for (uint32_t inc = 1; inc <= 2 && tk_rng_chance(rng, 30); inc++) {
			if (tk_rng_chance(rng, 50))
				mvm_mark_estimate(n);
			v = new_version(&t->arena, txn, inc, 0);
			mvm_node *again =
				v ? mvm_write(run->keys[k], &t->arena, txn, inc, v, &fresh) : NULL;
			if (again != n || fresh || n->last_incarnation != inc)
				tk_violation(&run->shared.bad,
					     "rewrite of txn %u key %u: node %p/%p "
					     "new_path %d",
					     txn, k, (void *)again, (void *)n, fresh);
		}
	}
}

static void hot_read(hot_thread *t, tk_rng *rng, int32_t *last_seen)
{
	hot_run *run = t->run;
	uint32_t k = (uint32_t)tk_rng_below(rng, HOT_KEYS);
	uint32_t reader;
	if (tk_rng_chance(rng, 50))
		reader = (uint32_t)tk_rng_below(rng, HOT_TXNS + 1);
	else
		reader = atomic_load_explicit(&run->frontier, memory_order_relaxed) +
			 (uint32_t)tk_rng_below(rng, 3);
	if (reader > HOT_TXNS)
		reader = HOT_TXNS;
	mvm_read_result r;
	mvm_read(run->keys[k], reader, &r);
	int32_t seen = -1;
	switch (r.kind) {
	case MVM_READ_STORAGE:
		if (r.version)
			tk_violation(&run->shared.bad, "reader %u: STORAGE with a version", reader);
		break;
	case MVM_READ_VERSION:
		if (r.blocking_txn >= reader)
			tk_violation(&run->shared.bad, "reader %u key %u saw writer %u", reader, k,
				     r.blocking_txn);
		else if (!r.version || r.version->txn_idx != r.blocking_txn)
			tk_violation(&run->shared.bad, "reader %u: version of %u labelled %u",
				     reader, r.version ? r.version->txn_idx : 0, r.blocking_txn);
		seen = (int32_t)r.blocking_txn;
		break;
	case MVM_READ_ESTIMATE:
		if (r.blocking_txn >= reader)
			tk_violation(&run->shared.bad, "reader %u key %u blocked by writer %u",
				     reader, k, r.blocking_txn);
		seen = (int32_t)r.blocking_txn;
		break;
	default:
		tk_violation(&run->shared.bad, "reader %u key %u: unknown kind %d", reader, k,
			     r.kind);
		return;
	}
	/* Writers only add nodes, so one thread's successive reads of the same
	 * (key, reader) never go back to a lower writer. */
	int32_t *last = &last_seen[k * (HOT_TXNS + 1) + reader];
	if (seen < *last)
		tk_violation(&run->shared.bad, "reader %u key %u saw writer %d after %d", reader, k,
			     seen, *last);
	else
		*last = seen;
	atomic_fetch_add_explicit(&run->reads, 1, memory_order_relaxed);
}

static void *hot_main(void *arg)
{
	hot_thread *t = arg;
	hot_run *run = t->run;
	tk_rng rng;
	tk_rng_seed(&rng, 1000 + t->id);
	if (t->writer) {
		uint32_t count = 0;
		uint32_t *mine = malloc(sizeof *mine * (HOT_TXNS / run->writers + 1));
		for (uint32_t txn = t->id; mine && txn < HOT_TXNS; txn += run->writers)
			mine[count++] = txn;
		/* Half the writers go up (inserting next to their last node), the
		 * others jump around. */
		if (mine && t->id % 2)
			shuffle(mine, count, &rng);
		pthread_barrier_wait(&run->shared.start);
		if (!mine)
			tk_violation(&run->shared.bad, "out of memory");
		for (uint32_t i = 0; i < count; i++)
			hot_write(t, mine[i], &rng);
		free(mine);
		atomic_fetch_sub_explicit(&run->writers_left, 1, memory_order_release);
		return NULL;
	}
	int32_t *last_seen = malloc(sizeof *last_seen * HOT_KEYS * (HOT_TXNS + 1));
	if (last_seen)
		for (uint32_t i = 0; i < HOT_KEYS * (HOT_TXNS + 1); i++)
			last_seen[i] = -1;
	pthread_barrier_wait(&run->shared.start);
	if (!last_seen) {
		tk_violation(&run->shared.bad, "out of memory");
		return NULL;
	}
	uint64_t local = 0;
	while (atomic_load_explicit(&run->writers_left, memory_order_acquire) != 0 ||
	       local < HOT_MIN_READS) {
		hot_read(t, &rng, last_seen);
		local++;
	}
	free(last_seen);
	return NULL;
}

/* given: HOT_KEYS entries to write (NULL: insert "hot0".."hot2"). */
static void hot_keys_round_on(uint32_t writers, mvm_entry *const *given)
{
	uint32_t readers = writers / 2 ? writers / 2 : 1;
	uint32_t threads = writers + readers;
	hot_run run;
	shared_init(&run.shared, threads);
	run.writers = writers;
	atomic_init(&run.writers_left, writers);
	atomic_init(&run.frontier, 0);
	atomic_init(&run.reads, 0);
	char name[16];
	for (uint32_t k = 0; k < HOT_KEYS; k++) {
		snprintf(name, sizeof name, "hot%u", k);
		run.keys[k] = given ? given[k] : insert_str(name);
	}
	hot_thread *th = calloc(threads, sizeof *th);
	cr_assert_not_null(th);
	for (uint32_t i = 0; i < threads; i++) {
		th[i].run = &run;
		th[i].writer = i < writers;
		th[i].id = th[i].writer ? i : i - writers + 100;
		bstm_arena_init(&th[i].arena, CHUNK_SIZE);
		cr_assert_eq(pthread_create(&th[i].thread, NULL, hot_main, &th[i]), 0);
	}
	for (uint32_t i = 0; i < threads; i++)
		pthread_join(th[i].thread, NULL);
	shared_check(&run.shared, "hot keys", writers);

	/* Every txn exactly once per key, in strictly descending order, and
	 * every reader now sees the writer just below it. */
	for (uint32_t k = 0; k < HOT_KEYS; k++) {
		const mvm_entry *e = run.keys[k];
		cr_assert_eq(check_skip_list(e), HOT_TXNS, "%u writers, key %u: node count",
			     writers, k);
		uint32_t expect = HOT_TXNS - 1;
		for (const mvm_node *n = atomic_load(mvm_link(e, NULL, 0)); n;
		     n = atomic_load(&n->next[0]), expect--)
			cr_assert_eq(n->txn_idx, expect, "%u writers, key %u: node %u, expected %u",
				     writers, k, n->txn_idx, expect);
		expect_storage(e, 0);
		for (uint32_t i = 1; i <= HOT_TXNS; i++) {
			mvm_read_result r;
			mvm_read(e, i, &r);
			cr_assert_eq(r.kind, MVM_READ_VERSION);
			cr_assert_eq(r.blocking_txn, i - 1, "%u writers, key %u, reader %u: saw %u",
				     writers, k, i, r.blocking_txn);
			cr_assert_eq(r.version->txn_idx, i - 1);
		}
	}
	cr_assert_geq(atomic_load(&run.reads), (uint64_t)readers * HOT_MIN_READS);
	for (uint32_t i = 0; i < threads; i++)
		bstm_arena_destroy(&th[i].arena);
	free(th);
}

static void hot_keys_round(uint32_t writers)
{
	hot_keys_round_on(writers, NULL);
}

Test(mvmemory, concurrent_inserts_and_reads_on_hot_keys)
{
	static const uint32_t writer_set[] = {2, 4, 8, 16};
	for (size_t i = 0; i < sizeof writer_set / sizeof writer_set[0]; i++) {
		hot_keys_round(writer_set[i]);
		mvm_end_block(&mem, 64, created);
		created = 0;
		bstm_arena_reset(&arena);
		cr_assert_eq(mvm_begin_block(&mem, 64), 0);
	}
}

/* --- the index under concurrent inserts of the same keys ------------------ */

#define SAME_KEYS 3000

typedef struct index_run {
	shared_run shared;
	mvm_entry **seen; /* [thread][key] */
} index_run;

typedef struct index_thread {
	index_run *run;
	uint32_t id;
	bstm_arena arena;
	uint64_t created; /* entries this thread's inserts created */
	pthread_t thread;
} index_thread;

static void *index_main(void *arg)
{
	index_thread *t = arg;
	tk_rng rng;
	tk_rng_seed(&rng, 77 + t->id);
	uint32_t order[SAME_KEYS];
	for (uint32_t i = 0; i < SAME_KEYS; i++)
		order[i] = i;
	shuffle(order, SAME_KEYS, &rng);
	pthread_barrier_wait(&t->run->shared.start);
	char key[16];
	for (uint32_t i = 0; i < SAME_KEYS; i++) {
		int len = snprintf(key, sizeof key, "s%u", order[i]);
		mvm_entry *e = insert_counted(&mem, &t->arena, key, (uint32_t)len,
					      bstm_hash_bytes(key, (size_t)len), &t->created);
		if (!e || e->key_len != (uint32_t)len || memcmp(e->key, key, (size_t)len) != 0)
			tk_violation(&t->run->shared.bad, "thread %u key %s: wrong entry %p", t->id,
				     key, (void *)e);
		t->run->seen[t->id * SAME_KEYS + order[i]] = e;
	}
	return NULL;
}

Test(mvmemory, concurrent_find_or_insert_same_keys)
{
	static const uint32_t thread_set[] = {2, 4, 8, 16};
	for (size_t r = 0; r < sizeof thread_set / sizeof thread_set[0]; r++) {
		uint32_t threads = thread_set[r];
		mvm_end_block(&mem, 64, created);
		created = 0;
		bstm_arena_reset(&arena);
		/* A small index, so every chain is contended. */
		cr_assert_eq(mvm_begin_block(&mem, 1), 0);
		index_run run;
		shared_init(&run.shared, threads);
		run.seen = calloc((size_t)threads * SAME_KEYS, sizeof *run.seen);
		index_thread *th = calloc(threads, sizeof *th);
		cr_assert(run.seen && th);
		for (uint32_t i = 0; i < threads; i++) {
			th[i].run = &run;
			th[i].id = i;
			bstm_arena_init(&th[i].arena, CHUNK_SIZE);
			cr_assert_eq(pthread_create(&th[i].thread, NULL, index_main, &th[i]), 0);
		}
		for (uint32_t i = 0; i < threads; i++)
			pthread_join(th[i].thread, NULL);
		shared_check(&run.shared, "find_or_insert", threads);
		uint64_t total = 0;
		for (uint32_t i = 0; i < threads; i++)
			total += th[i].created;
		cr_assert_eq(total, SAME_KEYS, "%u threads: %lu entries", threads,
			     (unsigned long)total);
		char key[16];
		for (uint32_t k = 0; k < SAME_KEYS; k++) {
			int len = snprintf(key, sizeof key, "s%u", k);
			mvm_entry *e = find_key(&mem, key, (uint32_t)len);
			cr_assert_not_null(e);
			for (uint32_t i = 0; i < threads; i++)
				cr_assert_eq(run.seen[i * SAME_KEYS + k], e,
					     "%u threads: thread %u got another entry for %s",
					     threads, i, key);
		}
		mvm_end_block(&mem, 1, total);
		for (uint32_t i = 0; i < threads; i++)
			bstm_arena_destroy(&th[i].arena);
		free(th);
		free(run.seen);
		cr_assert_eq(mvm_begin_block(&mem, 64), 0);
	}
}

/* --- set_base races ------------------------------------------------------- */

#define BASE_THREADS 8

typedef struct base_thread {
	shared_run *shared;
	mvm_entry *entry;
	mvm_version mine;
	const mvm_version *won;
	pthread_t thread;
} base_thread;

static void *base_main(void *arg)
{
	base_thread *t = arg;
	pthread_barrier_wait(&t->shared->start);
	t->won = mvm_set_base(t->entry, &t->mine);
	return NULL;
}

Test(mvmemory, concurrent_set_base_one_winner)
{
	for (int round = 0; round < 50; round++) {
		char name[16];
		snprintf(name, sizeof name, "base%d", round);
		mvm_entry *e = insert_str(name);
		shared_run shared;
		shared_init(&shared, BASE_THREADS);
		base_thread th[BASE_THREADS];
		for (int i = 0; i < BASE_THREADS; i++) {
			th[i] = (base_thread){.shared = &shared, .entry = e};
			th[i].mine.txn_idx = MVM_TXN_STORAGE;
			th[i].mine.incarnation = (uint32_t)i;
			cr_assert_eq(pthread_create(&th[i].thread, NULL, base_main, &th[i]), 0);
		}
		for (int i = 0; i < BASE_THREADS; i++)
			pthread_join(th[i].thread, NULL);
		shared_check(&shared, "set_base", BASE_THREADS);
		const mvm_version *won = atomic_load(&mvm_links(e)->base);
		int owners = 0;
		for (int i = 0; i < BASE_THREADS; i++) {
			cr_assert_eq(th[i].won, won, "round %d: thread %d got another base", round,
				     i);
			owners += won == &th[i].mine;
		}
		cr_assert_eq(owners, 1, "round %d: the base is nobody's", round);
	}
}

/* --- entries past the common shape: chain entries, keys over one line ----- */

/* Keys of one hash (so one line): the first MVM_LINE_OPEN take the open
 * slots, the next goes to the trie root and, as the others come, ten tables
 * down to the last level, where the rest form a chain. Every chain entry but
 * the first (the tail) has an ext from its insert; the key lengths mix one-
 * and several-line entries. Fills e[]. */
#define ODD_KEYS (MVM_LINE_OPEN + 8)
static const uint32_t odd_len[ODD_KEYS] = {1, 33, 34, 200,  5,	1024, 7, /* open */
					   2, 34, 33, 1024, 40, 9,    200, 3};
static uint8_t odd_bytes[ODD_KEYS][BSTM_MAX_KEY_LEN];

static void odd_keys(mvm_entry *e[ODD_KEYS], uint64_t hash)
{
	for (uint32_t i = 0; i < ODD_KEYS; i++) {
		tk_fill(odd_bytes[i], odd_len[i], 1000 + i);
		odd_bytes[i][0] = (uint8_t)i; /* distinct keys */
		e[i] = insert_counted(&mem, &arena, odd_bytes[i], odd_len[i], hash, &created);
		cr_assert_not_null(e[i]);
		cr_assert_eq((uintptr_t)e[i] % BSTM_CACHELINE, 0);
	}
	for (uint32_t i = 0; i < ODD_KEYS; i++)
		cr_assert_eq(mvm_find(&mem, odd_bytes[i], odd_len[i], hash), e[i], "key %u", i);
	/* The shape this test is after: the tail of the chain has no ext,
	 * the entries linked in front of it do. */
	cr_assert_null(mvm_ext(e[MVM_LINE_OPEN]));
	for (uint32_t i = MVM_LINE_OPEN + 1; i < ODD_KEYS; i++) {
		cr_assert_not_null(mvm_ext(e[i]), "chain entry %u without ext", i);
		cr_assert_eq(atomic_load(&mvm_ext(e[i])->chain), e[i - 1]);
	}
	for (uint32_t i = 0; i < MVM_LINE_OPEN; i++)
		cr_assert_null(mvm_ext(e[i]));
}

/* Writers of every height into chain entries (whose ext is the chain's) and
 * entries of keys over 33 bytes, in random order: the skip lists are exact,
 * reads see the writer below, and the chains and the index are intact. */
Test(mvmemory, writes_on_chain_entries_and_long_keys)
{
	enum { TXNS = 2000 };
	mvm_entry *e[ODD_KEYS];
	odd_keys(e, 42);
	uint32_t order[TXNS];
	tk_rng rng;
	tk_rng_seed(&rng, 5);
	uint32_t tall = 0;
	for (uint32_t k = 0; k < ODD_KEYS; k++) {
		mvm_entry_ext *before = mvm_ext(e[k]);
		for (uint32_t i = 0; i < TXNS; i++)
			order[i] = i;
		shuffle(order, TXNS, &rng);
		for (uint32_t i = 0; i < TXNS; i++)
			write_txn(e[k], order[i], 0, NULL, NULL);
		cr_assert_eq(check_skip_list(e[k]), TXNS, "key %u", k);
		/* An ext the entry had (the chain's) is the one its levels use. */
		if (before)
			cr_assert_eq(mvm_ext(e[k]), before, "key %u: ext replaced", k);
		cr_assert_not_null(mvm_ext(e[k]), "key %u: upper levels without ext", k);
		expect_storage(e[k], 0);
		for (uint32_t r = 1; r <= TXNS; r++) {
			mvm_read_result res;
			mvm_read(e[k], r, &res);
			cr_assert_eq(res.kind, MVM_READ_VERSION);
			cr_assert_eq(res.blocking_txn, r - 1, "key %u reader %u saw %u", k, r,
				     res.blocking_txn);
		}
	}
	for (uint32_t i = 0; i < TXNS; i++)
		tall += mvm_node_height(i) > 1;
	cr_assert_gt(tall, 50);
	/* The chain still links every entry once. */
	for (uint32_t i = 0; i < ODD_KEYS; i++)
		cr_assert_eq(mvm_find(&mem, odd_bytes[i], odd_len[i], 42), e[i], "key %u", i);
	for (uint32_t i = MVM_LINE_OPEN + 1; i < ODD_KEYS; i++)
		cr_assert_eq(atomic_load(&mvm_ext(e[i])->chain), e[i - 1]);
	cr_assert_null(atomic_load(&mvm_no_link));
}

/* The same under concurrent writers and readers (hot_keys_round): a chain
 * entry with its ext, the chain's tail (no ext until a tall writer makes
 * one) and one-line, two-line and many-line entries. */
Test(mvmemory, concurrent_writes_on_chain_entries_and_long_keys)
{
	static const uint32_t picks[][HOT_KEYS] = {
		{MVM_LINE_OPEN + 3, MVM_LINE_OPEN, 2},	   /* chain, tail, 34 bytes */
		{MVM_LINE_OPEN + 4, 5, MVM_LINE_OPEN + 1}, /* chain 1024, 1024 open, chain 34 */
		{1, 3, MVM_LINE_OPEN + 7},		   /* 33, 200, chain 3 */
	};
	static const uint32_t writer_set[] = {2, 4, 8};
	for (size_t p = 0; p < sizeof picks / sizeof picks[0]; p++)
		for (size_t w = 0; w < sizeof writer_set / sizeof writer_set[0]; w++) {
			uint64_t hash = 42 + (uint64_t)w * 1000003u * 0x10001u;
			mvm_entry *e[ODD_KEYS], *given[HOT_KEYS];
			odd_keys(e, hash);
			for (uint32_t k = 0; k < HOT_KEYS; k++)
				given[k] = e[picks[p][k]];
			hot_keys_round_on(writer_set[w], given);
			for (uint32_t i = 0; i < ODD_KEYS; i++)
				cr_assert_eq(mvm_find(&mem, odd_bytes[i], odd_len[i], hash), e[i],
					     "key %u", i);
			cr_assert_null(atomic_load(&mvm_no_link));
			mvm_end_block(&mem, 64, created);
			created = 0;
			bstm_arena_reset(&arena);
			cr_assert_eq(mvm_begin_block(&mem, 64), 0);
		}
}
