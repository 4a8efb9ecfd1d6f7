/*
 * stress_mvmemory.c - the multi-version memory's key index under concurrent
 * inserts and finds, with hashes chosen to reach every shape of it.
 *
 * Each round starts a block with the smallest index (256 slots, 32 lines of
 * 7 open slots and a trie root); every
 * thread then inserts a random subset (all of a small key set) of the keys
 * in random order with mvm_find_or_insert, interleaved with mvm_find of
 * random keys. Hash kinds, alone or mixed in one index:
 *   real    bstm_hash_bytes of the key;
 *   bucket  one line, random tags (fills the open slots, then splits
 *           into child tables);
 *   prefix  one bucket, tags that agree on their low 0..32 bits;
 *   deep    one bucket, tags that agree on bits 0..26 (down to the last
 *           level, then a chain on the bits the index does not use);
 *   chain   one bucket and tag, hashes that differ only in bits 8..31;
 *   equal   one full hash for every key.
 * Checked, during the round: an insert never fails, returns a line-aligned
 * entry holding the key, and the same entry to every thread; a find after an
 * insert of the key (the same thread's, or one published to it) returns that
 * entry, and any entry a find returns holds the key. After the round: every
 * inserted key is found and no other, exactly one insert per key said it
 * created the entry, and a walk of the index reaches every entry once, at
 * the place its line and tags give (open slots filled in order, each with
 * its key's open tag), with chains only at the last level.
 *
 *   stress_mvmemory [--quick] [--verbose]
 *
 * Built with MVM_TEST_WIDE_ADDRESSES (stress_mvmemory_wide), the index takes
 * every other entry for one whose address needs the open tag's bits: such an
 * insert closes the line's empty open slots and goes to the trie. The walk
 * then also counts closed slots, and the run fails if it found none.
 *
 * Prints "N passed, M failed" last (one case per configuration and thread
 * count); exits 1 on a failure, which is also printed as it happens.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/hash.h"
#include "mvmemory/mvmemory.h"

#define MAX_THREADS  16
#define BUCKET_BITS  0x5Au	 /* the low hash bits of the one-bucket kinds */
#define COMMON_TAG   0xDEADBEEFu /* the tag the one-bucket kinds start from */
#define ARENA_CHUNK  (1u << 20)
#define FAIL_MESSAGE 256

enum hash_kind { H_REAL, H_BUCKET, H_PREFIX, H_DEEP, H_CHAIN, H_EQUAL, H_MIXED };

static const char *const kind_names[] = {"real",  "bucket", "prefix", "deep",
					 "chain", "equal",  "mixed"};

typedef struct key_set {
	uint32_t count;
	uint8_t **bytes; /* the first 4 bytes of key i are i */
	uint32_t *len;
	uint64_t *hash;
} key_set;

typedef struct run {
	const key_set *keys;
	uint64_t seed;
	int round;
	mvm index;
	bstm_arena arenas[MAX_THREADS];
	_Atomic(mvm_entry *) *published; /* the entry the first inserter got */
	_Atomic uint32_t *creations;	 /* inserts that said they created it */
	pthread_barrier_t barrier;
	_Atomic int failed;
	char why[FAIL_MESSAGE];
} run;

typedef struct worker {
	run *run;
	uint32_t id;
	pthread_t thread;
} worker;

static int verbose;

/* Whether this is the run's first failure: only that one writes `why`. */
static bool first_failure(_Atomic int *failed)
{
	int expected = 0;
	return atomic_compare_exchange_strong_explicit(failed, &expected, 1, memory_order_acq_rel,
						       memory_order_relaxed);
}

static void fail(run *r, const char *what, uint32_t key, const void *a, const void *b)
{
	if (first_failure(&r->failed))
		snprintf(r->why, sizeof r->why, "round %d: %s (key %u: %p, %p)", r->round, what,
			 key, a, b);
}

static uint64_t scramble(uint64_t x)
{
	return bstm_hash_mix(x * 0x9e3779b97f4a7c15ull + 0x1234567u);
}

/* xorshift64: the order and subset each thread inserts. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t x = *state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

static uint64_t hash_of_kind(enum hash_kind kind, uint32_t id, uint64_t seed, const uint8_t *key,
			     uint32_t len)
{
	uint64_t r = scramble(id ^ (seed << 20));
	uint64_t middle = r & 0xFFFFFF00u; /* bits 8..31: never looked at with 32 lines */
	switch (kind) {
	case H_BUCKET:
		return (r & 0xFFFFFFFF00000000ull) | middle | BUCKET_BITS;
	case H_PREFIX: {
		uint32_t agree = (uint32_t)(r % 33);
		uint32_t flip = agree >= 32 ? 0 : (uint32_t)((r >> 33) | 1u) << agree;
		return ((uint64_t)(COMMON_TAG ^ flip) << 32) | middle | BUCKET_BITS;
	}
	case H_DEEP: {
		uint32_t high = (uint32_t)(r >> 40) & 0x1Fu; /* tag bits 27..31 */
		return ((uint64_t)((COMMON_TAG & 0x07FFFFFFu) | (high << 27)) << 32) | middle |
		       BUCKET_BITS;
	}
	case H_CHAIN:
		return ((uint64_t)COMMON_TAG << 32) | middle | BUCKET_BITS;
	case H_EQUAL:
		return ((uint64_t)COMMON_TAG << 32) | BUCKET_BITS;
	default:
		return bstm_hash_bytes(key, len);
	}
}

static int keys_make(key_set *keys, uint32_t count, enum hash_kind kind, uint64_t seed)
{
	keys->count = count;
	keys->bytes = calloc(count, sizeof *keys->bytes);
	keys->len = calloc(count, sizeof *keys->len);
	keys->hash = calloc(count, sizeof *keys->hash);
	if (!keys->bytes || !keys->len || !keys->hash)
		return -1;
	for (uint32_t id = 0; id < count; id++) {
		/* 4 to 60 bytes, and every 97th 200: entries past one line */
		uint32_t len = id % 97 == 5 ? 200 : 4 + (id * 7u) % 57u;
		uint8_t *key = malloc(len);
		if (!key)
			return -1;
		memcpy(key, &id, 4);
		for (uint32_t j = 4; j < len; j++)
			key[j] = (uint8_t)(id * 31 + j);
		enum hash_kind k = kind;
		if (kind == H_MIXED) {
			/* half real hashes, the rest spread over the other kinds */
			static const enum hash_kind mix[16] = {
				H_REAL,	  H_REAL,  H_REAL,   H_REAL,   H_REAL,	 H_REAL,
				H_REAL,	  H_REAL,  H_BUCKET, H_BUCKET, H_BUCKET, H_PREFIX,
				H_PREFIX, H_EQUAL, H_CHAIN,  H_DEEP};
			k = mix[scramble(id + 777) % 16];
		}
		keys->bytes[id] = key;
		keys->len[id] = len;
		keys->hash[id] = hash_of_kind(k, id, seed, key, len);
	}
	return 0;
}

static void keys_free(key_set *keys)
{
	for (uint32_t i = 0; keys->bytes && i < keys->count; i++)
		free(keys->bytes[i]);
	free(keys->bytes);
	free(keys->len);
	free(keys->hash);
}

static bool entry_holds(const key_set *keys, const mvm_entry *e, uint32_t id)
{
	return e->key_len == keys->len[id] && e->tag == (uint32_t)(keys->hash[id] >> 32) &&
	       memcmp(e->key, keys->bytes[id], keys->len[id]) == 0;
}

static void find_and_check(run *r, uint32_t id)
{
	const key_set *keys = r->keys;
	/* Acquire pairs with the publishing CAS below: an entry seen there was
	 * inserted before this find. */
	mvm_entry *known = atomic_load_explicit(&r->published[id], memory_order_acquire);
	mvm_entry *found = mvm_find(&r->index, keys->bytes[id], keys->len[id], keys->hash[id]);
	if (found && !entry_holds(keys, found, id))
		fail(r, "find returned another key's entry", id, found, NULL);
	if (known && found != known)
		fail(r, "find missed an inserted key", id, found, known);
}

static void insert_and_check(run *r, bstm_arena *arena, uint32_t id)
{
	const key_set *keys = r->keys;
	bool created = false;
	mvm_entry *e = mvm_find_or_insert(&r->index, arena, keys->bytes[id], keys->len[id],
					  keys->hash[id], &created);
	if (!e) {
		fail(r, "insert returned NULL", id, NULL, NULL);
		return;
	}
	if ((uintptr_t)e & (BSTM_CACHELINE - 1))
		fail(r, "entry not line-aligned", id, e, NULL);
	if (!entry_holds(keys, e, id))
		fail(r, "insert returned another key's entry", id, e, NULL);
	if (created)
		atomic_fetch_add_explicit(&r->creations[id], 1, memory_order_relaxed);
	/* The first inserter publishes; the others must have got the same. */
	mvm_entry *first = NULL;
	if (!atomic_compare_exchange_strong_explicit(&r->published[id], &first, e,
						     memory_order_acq_rel, memory_order_acquire) &&
	    first != e)
		fail(r, "two inserts of a key got different entries", id, e, first);
	if (mvm_find(&r->index, keys->bytes[id], keys->len[id], keys->hash[id]) != e)
		fail(r, "find after the thread's own insert missed it", id, e, NULL);
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	run *r = w->run;
	uint32_t n = r->keys->count;
	uint32_t *order = malloc(sizeof *order * n);
	if (!order)
		fail(r, "out of memory", 0, NULL, NULL);
	for (;;) {
		pthread_barrier_wait(&r->barrier); /* the block has begun, or the run ended */
		if (r->round < 0)
			break;
		bstm_arena_reset(&r->arenas[w->id]);
		uint64_t state =
			scramble(r->seed * 1000003u + (uint64_t)r->round * 131u + w->id) | 1;
		for (uint32_t i = 0; order && i < n; i++)
			order[i] = i;
		for (uint32_t i = n - 1; order && i > 0; i--) {
			uint32_t j = (uint32_t)(next_random(&state) % (i + 1));
			uint32_t t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		/* Small sets: every thread inserts every key; else 50..100%. */
		uint32_t keep = n <= 64 ? 100 : 50 + (uint32_t)(next_random(&state) % 51);
		for (uint32_t i = 0; order && i < n; i++) {
			uint64_t x = next_random(&state);
			if (x % 100 >= keep)
				continue;
			if ((x >> 8) % 4 == 0)
				find_and_check(r, (uint32_t)((x >> 16) % n));
			if ((x >> 24) % 256 == 0)
				sched_yield();
			insert_and_check(r, &r->arenas[w->id], order[i]);
		}
		pthread_barrier_wait(&r->barrier); /* the round is done */
		pthread_barrier_wait(&r->barrier); /* and checked */
	}
	free(order);
	return NULL;
}

/* Open slots the walks found closed (MVM_OPEN_CLOSED): none unless some
 * entry's address needs the tag's bits; a wide-address build needs some. */
static unsigned long closed_slots;

typedef struct walk_state {
	run *run;
	uint8_t *visits;
	uint64_t entries;
} walk_state;

/* Every entry under `word`, found through bucket `bucket` and the child
 * indices path[0 .. depth). */
static void walk(walk_state *ws, uintptr_t word, uint64_t bucket, uint32_t depth,
		 const uint32_t *path)
{
	run *r = ws->run;
	const key_set *keys = r->keys;
	if (word & MVM_SLOT_TABLE) {
		const mvm_table *t = (const mvm_table *)(word & ~MVM_SLOT_TABLE);
		if (depth >= MVM_TABLE_DEPTH)
			fail(r, "a table below the last level", depth, t, NULL);
		if (((uintptr_t)t & (BSTM_CACHELINE - 1)) || depth >= MVM_TABLE_DEPTH)
			return;
		uint32_t below[MVM_TABLE_DEPTH];
		memcpy(below, path, sizeof *below * depth);
		for (uint32_t i = 0; i < MVM_TABLE_SLOTS; i++) {
			below[depth] = i;
			walk(ws, atomic_load_explicit(&t->slot[i], memory_order_acquire), bucket,
			     depth + 1, below);
		}
		return;
	}
	uint32_t chain = 0;
	for (const mvm_entry *e = (const mvm_entry *)word; e;
	     e = mvm_ext(e) ? atomic_load_explicit(&mvm_ext(e)->chain, memory_order_acquire)
			    : NULL) {
		uint32_t id = UINT32_MAX;
		if (e->key_len >= 4)
			memcpy(&id, e->key, 4);
		if (id >= keys->count || !entry_holds(keys, e, id)) {
			fail(r, "the walk found an entry of no key", id, e, NULL);
			return;
		}
		if (ws->visits[id]++)
			fail(r, "the walk reached a key twice", id, e, NULL);
		ws->entries++;
		uint32_t tag = (uint32_t)(keys->hash[id] >> 32);
		if ((keys->hash[id] & r->index.mask) != bucket)
			fail(r, "an entry in another bucket than its hash's", id, e, NULL);
		for (uint32_t d = 0; d < depth; d++)
			if (((tag >> (MVM_TABLE_BITS * d)) & (MVM_TABLE_SLOTS - 1)) != path[d])
				fail(r, "an entry in another child than its tag's", id, e, NULL);
		if (++chain > 1 && depth < MVM_TABLE_DEPTH)
			fail(r, "a chain above the last level", id, e, NULL);
		if (chain > keys->count) {
			fail(r, "a cycle in a chain", id, e, NULL);
			return;
		}
	}
}

/* The open slots of line b: entries of keys of that line, with their
 * keys' open tags, filled in order. */
static void walk_open(walk_state *ws, uint64_t b)
{
	run *r = ws->run;
	const key_set *keys = r->keys;
	bool empty = false;
	for (uint32_t i = 0; i < MVM_LINE_OPEN; i++) {
		uintptr_t w = atomic_load_explicit(&r->index.buckets[b * MVM_LINE_SLOTS + i],
						   memory_order_acquire);
		if (!w) {
			empty = true;
			continue;
		}
		const mvm_entry *e = mvm_open_entry(w);
		if (empty)
			fail(r, "an open slot filled after an empty one", i, e, NULL);
		if (w == MVM_OPEN_CLOSED) {
			closed_slots++;
			continue;
		}
		if (w & MVM_SLOT_TABLE) {
			fail(r, "a table in an open slot", i, e, NULL);
			continue;
		}
		uint32_t id = UINT32_MAX;
		if (e->key_len >= 4)
			memcpy(&id, e->key, 4);
		if (id >= keys->count || !entry_holds(keys, e, id)) {
			fail(r, "the walk found an entry of no key", id, e, NULL);
			continue;
		}
		if (ws->visits[id]++)
			fail(r, "the walk reached a key twice", id, e, NULL);
		ws->entries++;
		if ((keys->hash[id] & r->index.mask) != b)
			fail(r, "an entry in another line than its hash's", id, e, NULL);
		if (mvm_open_tag_of(w) != mvm_open_tag(keys->hash[id]))
			fail(r, "an open slot with another tag than its key's", id, e, NULL);
	}
}

static void check_round(run *r, uint8_t *visits)
{
	const key_set *keys = r->keys;
	uint64_t inserted = 0;
	for (uint32_t id = 0; id < keys->count; id++) {
		mvm_entry *known = atomic_load_explicit(&r->published[id], memory_order_relaxed);
		uint32_t creations = atomic_load_explicit(&r->creations[id], memory_order_relaxed);
		mvm_entry *found =
			mvm_find(&r->index, keys->bytes[id], keys->len[id], keys->hash[id]);
		inserted += known != NULL;
		if (creations != (known != NULL))
			fail(r, "not exactly one insert created the entry", id, known, NULL);
		if (found != known)
			fail(r, "find after the round disagrees with the inserts", id, found,
			     known);
	}
	walk_state ws = {.run = r, .visits = visits, .entries = 0};
	uint32_t path[MVM_TABLE_DEPTH] = {0};
	memset(visits, 0, keys->count);
	for (uint64_t b = 0; b <= r->index.mask; b++) {
		walk_open(&ws, b);
		walk(&ws,
		     atomic_load_explicit(&r->index.buckets[b * MVM_LINE_SLOTS + MVM_LINE_OPEN],
					  memory_order_acquire),
		     b, 0, path);
	}
	if (ws.entries != inserted)
		fail(r, "the walk and the inserts count different keys", (uint32_t)ws.entries, NULL,
		     NULL);
}

/* One configuration at one thread count; 0 if every check held. */
static int run_case(enum hash_kind kind, uint32_t threads, uint32_t key_count, int rounds,
		    uint64_t seed)
{
	run *r = calloc(1, sizeof *r);
	key_set keys = {0};
	worker workers[MAX_THREADS];
	uint8_t *visits = calloc(key_count, 1);
	if (!r || !visits || keys_make(&keys, key_count, kind, seed) != 0) {
		printf("FAIL %s threads=%u: out of memory\n", kind_names[kind], threads);
		free(r);
		free(visits);
		keys_free(&keys);
		return 1;
	}
	r->keys = &keys;
	r->seed = seed;
	r->published = calloc(key_count, sizeof *r->published);
	r->creations = calloc(key_count, sizeof *r->creations);
	mvm_init(&r->index);
	pthread_barrier_init(&r->barrier, NULL, threads + 1);
	if (!r->published || !r->creations) {
		printf("FAIL %s threads=%u: out of memory\n", kind_names[kind], threads);
		exit(1);
	}
	for (uint32_t t = 0; t < threads; t++) {
		bstm_arena_init(&r->arenas[t], ARENA_CHUNK);
		workers[t] = (worker){.run = r, .id = t};
		if (pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]) != 0) {
			/* the started ones wait at the barrier for good */
			printf("FAIL %s threads=%u: could not start a thread\n", kind_names[kind],
			       threads);
			exit(1);
		}
	}
	int failed = 0;
	for (int round = 0; round < rounds && !failed; round++) {
		r->round = round;
		if (mvm_begin_block(&r->index, 1) != 0 || r->index.mask + 1 != 256 / MVM_LINE_SLOTS)
			fail(r, "expected an index of 256 slots", 0, NULL, NULL);
		for (uint32_t id = 0; id < key_count; id++) {
			atomic_store_explicit(&r->published[id], NULL, memory_order_relaxed);
			atomic_store_explicit(&r->creations[id], 0, memory_order_relaxed);
		}
		pthread_barrier_wait(&r->barrier); /* go */
		pthread_barrier_wait(&r->barrier); /* done */
		check_round(r, visits);
		failed = atomic_load_explicit(&r->failed, memory_order_acquire);
		pthread_barrier_wait(&r->barrier);
	}
	r->round = -1;
	pthread_barrier_wait(&r->barrier); /* the workers leave */
	for (uint32_t t = 0; t < threads; t++)
		pthread_join(workers[t].thread, NULL);
	if (failed)
		printf("FAIL %s threads=%u keys=%u seed=%llu: %s\n", kind_names[kind], threads,
		       key_count, (unsigned long long)seed, r->why);
	else if (verbose)
		printf("ok %s threads=%u keys=%u rounds=%d\n", kind_names[kind], threads, key_count,
		       rounds);
	for (uint32_t t = 0; t < threads; t++)
		bstm_arena_destroy(&r->arenas[t]);
	mvm_destroy(&r->index);
	pthread_barrier_destroy(&r->barrier);
	free((void *)r->published);
	free((void *)r->creations);
	free(r);
	free(visits);
	keys_free(&keys);
	return failed;
}

/* --- writes: skip lists of chain entries and of keys over one line ------ */

/* Keys of one hash (so one line and, past its open slots, one chain at the
 * last trie level: every chain entry but the tail has an ext from its
 * insert) with lengths of one and several lines, and keys of real hashes.
 * Threads insert them (all of them, racing) and write transactions of every
 * node height into them, reading as they go; then every level of every
 * skip list is checked, and the index. */
#define W_KEYS 20
#define W_SAME 15 /* the first W_SAME share one hash */

typedef struct wrun {
	mvm index;
	bstm_arena arenas[MAX_THREADS];
	uint8_t key[W_KEYS][BSTM_MAX_KEY_LEN];
	uint32_t len[W_KEYS];
	uint64_t hash[W_KEYS];
	_Atomic(mvm_entry *) entry[W_KEYS];
	uint32_t threads, txns;
	pthread_barrier_t barrier;
	_Atomic int failed;
	char why[FAIL_MESSAGE];
} wrun;

typedef struct wworker {
	wrun *run;
	uint32_t id;
	pthread_t thread;
} wworker;

static void wfail(wrun *r, const char *what, uint32_t key, uint32_t txn)
{
	if (first_failure(&r->failed))
		snprintf(r->why, sizeof r->why, "%s (key %u, txn %u)", what, key, txn);
}

static void *wworker_main(void *arg)
{
	wworker *w = arg;
	wrun *r = w->run;
	uint64_t state = scramble(w->id + 99) | 1;
	uint32_t count = 0, *mine = malloc(sizeof *mine * (r->txns / r->threads + 1));
	for (uint32_t t = w->id; mine && t < r->txns; t += r->threads)
		mine[count++] = t;
	for (uint32_t i = count; mine && i > 1; i--) {
		uint32_t j = (uint32_t)(next_random(&state) % i), t = mine[i - 1];
		mine[i - 1] = mine[j];
		mine[j] = t;
	}
	pthread_barrier_wait(&r->barrier);
	if (!mine)
		wfail(r, "out of memory", 0, 0);
	for (uint32_t i = 0; i < count; i++) {
		uint32_t txn = mine[i];
		for (uint32_t k0 = 0; k0 < W_KEYS; k0++) {
			uint32_t k = (k0 + txn) % W_KEYS;
			bstm_arena *a = &r->arenas[w->id];
			mvm_entry *e = mvm_find_or_insert(&r->index, a, r->key[k], r->len[k],
							  r->hash[k], NULL);
			mvm_entry *first = NULL;
			if (!e) {
				wfail(r, "insert returned NULL", k, txn);
				continue;
			}
			if (!atomic_compare_exchange_strong_explicit(&r->entry[k], &first, e,
								     memory_order_acq_rel,
								     memory_order_acquire) &&
			    first != e)
				wfail(r, "two entries for a key", k, txn);
			mvm_version v = {.value = NULL, .len = 0, .txn_idx = txn};
			bool fresh = false;
			mvm_node *n = mvm_write(e, a, txn, 0, &v, &fresh);
			if (!n || n->txn_idx != txn || !fresh)
				wfail(r, "write failed", k, txn);
			/* a read of some key by some transaction */
			uint64_t x = next_random(&state);
			uint32_t rk = (uint32_t)(x % W_KEYS),
				 reader = (uint32_t)((x >> 8) % (r->txns + 1));
			/* known first: an entry published before the find */
			mvm_entry *known =
				atomic_load_explicit(&r->entry[rk], memory_order_acquire);
			mvm_entry *re = mvm_find(&r->index, r->key[rk], r->len[rk], r->hash[rk]);
			if (known && re != known)
				wfail(r, "find missed a key", rk, reader);
			if (re) {
				mvm_read_result res;
				mvm_read(re, reader, &res);
				if (res.kind == MVM_READ_VERSION &&
				    (res.blocking_txn >= reader ||
				     res.version->txn_idx != res.blocking_txn))
					wfail(r, "read saw a wrong writer", rk, reader);
				if (res.kind == MVM_READ_ESTIMATE)
					wfail(r, "read saw an estimate", rk, reader);
			}
		}
	}
	free(mine);
	return NULL;
}

static void wcheck(wrun *r)
{
	if (atomic_load(&mvm_no_link))
		wfail(r, "the shared empty link was written", 0, 0);
	uint32_t taller[MVM_LEVELS] = {0};
	for (uint32_t t = 0; t < r->txns; t++)
		for (uint32_t l = 0; l < mvm_node_height(t); l++)
			taller[l]++;
	for (uint32_t k = 0; k < W_KEYS; k++) {
		mvm_entry *e = atomic_load(&r->entry[k]);
		if (!e || mvm_find(&r->index, r->key[k], r->len[k], r->hash[k]) != e) {
			wfail(r, "key not found after the round", k, 0);
			continue;
		}
		if (taller[1] && !mvm_ext(e))
			wfail(r, "upper levels without an ext", k, 0);
		for (int l = 0; l < MVM_LEVELS; l++) {
			uint32_t on = 0, prev = UINT32_MAX;
			for (const mvm_node *n = atomic_load(mvm_link(e, NULL, l)); n;
			     n = atomic_load(&n->next[l]), on++) {
				if (n->txn_idx >= prev)
					wfail(r, "a level not strictly descending", k, n->txn_idx);
				if (mvm_node_height(n->txn_idx) <= (uint32_t)l)
					wfail(r, "a node above its height", k, n->txn_idx);
				prev = n->txn_idx;
				if (on > r->txns)
					break;
			}
			if (on != taller[l])
				wfail(r, "a level misses nodes", k, (uint32_t)l);
		}
		for (uint32_t reader = 1; reader <= r->txns; reader++) {
			mvm_read_result res;
			mvm_read(e, reader, &res);
			if (res.kind != MVM_READ_VERSION || res.blocking_txn != reader - 1)
				wfail(r, "a read after the round missed its writer", k, reader);
		}
	}
}

static int run_writes_case(uint32_t threads, uint32_t txns, int rounds)
{
	wrun *r = calloc(1, sizeof *r);
	if (!r)
		return 1;
	r->threads = threads;
	r->txns = txns;
	mvm_init(&r->index);
	static const uint32_t lens[W_KEYS] = {1, 33, 34, 200,  5,   1024, 7, /* the open slots */
					      2, 34, 33, 1024, 40,  9,	  200, 3, /* trie, chain */
					      4, 33, 34, 64,   1024};
	for (uint32_t k = 0; k < W_KEYS; k++) {
		r->len[k] = lens[k];
		for (uint32_t j = 0; j < lens[k]; j++)
			r->key[k][j] = (uint8_t)(k * 131 + j * 7);
		r->key[k][0] = (uint8_t)k;
		r->hash[k] = k < W_SAME ? ((uint64_t)COMMON_TAG << 32) | BUCKET_BITS
					: bstm_hash_bytes(r->key[k], r->len[k]);
	}
	for (uint32_t t = 0; t < threads; t++)
		bstm_arena_init(&r->arenas[t], ARENA_CHUNK);
	int failed = 0;
	for (int round = 0; round < rounds && !failed; round++) {
		mvm_begin_block(&r->index, 1);
		for (uint32_t k = 0; k < W_KEYS; k++)
			atomic_store(&r->entry[k], NULL);
		for (uint32_t t = 0; t < threads; t++)
			bstm_arena_reset(&r->arenas[t]);
		pthread_barrier_init(&r->barrier, NULL, threads);
		wworker w[MAX_THREADS];
		for (uint32_t t = 0; t < threads; t++) {
			w[t] = (wworker){.run = r, .id = t};
			if (pthread_create(&w[t].thread, NULL, wworker_main, &w[t]) != 0) {
				printf("FAIL writes: could not start a thread\n");
				exit(1);
			}
		}
		for (uint32_t t = 0; t < threads; t++)
			pthread_join(w[t].thread, NULL);
		pthread_barrier_destroy(&r->barrier);
		wcheck(r);
		/* The shape the case is after: which keys took the open slots
		 * depends on the race, but the rest form one chain, all of
		 * whose entries but the tail link to the next in their ext. */
		uint32_t linked = 0, open = 0;
		const mvm_slot *line =
			&r->index.buckets[(r->hash[0] & r->index.mask) * MVM_LINE_SLOTS];
		for (uint32_t k = 0; k < W_SAME; k++) {
			mvm_entry *e = atomic_load(&r->entry[k]);
			linked += e && mvm_ext(e) && atomic_load(&mvm_ext(e)->chain);
			for (uint32_t i = 0; i < MVM_LINE_OPEN; i++) {
				uintptr_t word = atomic_load(&line[i]);
				open += word && word != MVM_OPEN_CLOSED &&
					mvm_open_entry(word) == e;
			}
		}
		if (open > MVM_LINE_OPEN || linked != W_SAME - open - 1)
			wfail(r, "not the expected chain", linked, 0);
		failed = atomic_load(&r->failed);
	}
	if (failed)
		printf("FAIL writes threads=%u txns=%u: %s\n", threads, txns, r->why);
	else if (verbose)
		printf("ok writes threads=%u txns=%u rounds=%d\n", threads, txns, rounds);
	for (uint32_t t = 0; t < threads; t++)
		bstm_arena_destroy(&r->arenas[t]);
	mvm_destroy(&r->index);
	free(r);
	return failed;
}

int main(int argc, char **argv)
{
	int quick = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = 1;
		} else {
			fprintf(stderr, "usage: stress_mvmemory [--quick] [--verbose]\n");
			return 2;
		}
	}
	/* keys and rounds per kind: the one-bucket kinds with few keys and many
	 * rounds, so that inserts of one slot race often. */
	struct {
		enum hash_kind kind;
		uint32_t keys;
		int rounds;
	} cases[] = {
		{H_MIXED, 2000, 20},  {H_REAL, 2000, 10}, {H_BUCKET, 64, 1000},
		{H_PREFIX, 64, 1000}, {H_DEEP, 32, 2000}, {H_CHAIN, 16, 2000},
		{H_EQUAL, 16, 1000},
	};
	static const uint32_t thread_counts[] = {2, 4, 8, 16};
	unsigned long passed = 0, failed = 0;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
		for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
			int rounds = quick ? (cases[c].rounds + 9) / 10 : cases[c].rounds;
			uint64_t seed = 1 + c * 16 + t;
			if (run_case(cases[c].kind, thread_counts[t], cases[c].keys, rounds, seed))
				failed++;
			else
				passed++;
		}
	for (size_t t = 0; t < 3; t++) {
		if (run_writes_case(thread_counts[t], quick ? 800 : 3000, quick ? 3 : 20))
			failed++;
		else
			passed++;
	}
#ifdef MVM_TEST_WIDE_ADDRESSES
	if (!closed_slots) {
		printf("FAIL: no open slot was closed: the wide-address path never ran\n");
		failed++;
	}
#endif
	printf("%lu passed, %lu failed (%lu open slots closed)\n", passed, failed, closed_slots);
	return failed ? 1 : 0;
}
