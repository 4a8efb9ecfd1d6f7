/*
 * mvmemory.c - lock-free multi-version memory.
 *
 * Structure
 *   An index of buckets maps a key hash to a chain of entries (one per key).
 *   Each entry holds a skip list of nodes, one per transaction that wrote the
 *   key during the block, ordered by transaction index, highest first. A
 *   node's cell is an atomic word: a pointer to the current mvm_version of
 *   that transaction's write, with bit 0 set for ESTIMATE; the static `absent`
 *   version means the transaction's latest incarnation does not write the key.
 *
 * Invariants
 *   - Nothing is ever unlinked or freed during a block: chains and skip lists
 *     only grow, and all memory comes from arenas reset after the block, when
 *     no reader remains. So readers need no locks, hazard pointers or epochs.
 *   - The node of transaction t is inserted and its cell written only by the
 *     thread that owns t's current incarnation (the scheduler guarantees one
 *     owner at a time, and its status transitions order successive owners).
 *     The abort winner marks ESTIMATE while it owns t. So each node has a
 *     single writer at any moment; the skip-list links are the only words
 *     that several threads CAS (insertions of different transactions).
 *   - A version is created for exactly one (transaction, incarnation, key);
 *     its address is therefore a unique version number, and validation
 *     compares addresses. (The version inside a node is its first write;
 *     later incarnations get versions of their own, never a rewrite.)
 *   - The entry's `levels` only grows and is a hint: level 0 holds every
 *     node and each level is a sublist of the one below, so a search that
 *     starts at a level too low is still exact.
 *
 * Linearization points
 *   - entry insert: the release CAS that links it at the bucket head;
 *   - node insert: the release CAS that links it at level 0;
 *   - write / absent / estimate: the release store (or RMW) of the cell;
 *   - read: the acquire load of the cell of the first non-absent node below
 *     the reader.
 *
 * Cost
 *   Finding the highest writer below i is a skip-list search, O(log w) for w
 *   writers of the key, plus one step per ABSENT node passed (an ABSENT node
 *   exists only where a re-execution stopped writing the key). When the
 *   highest writer of all is below i, the read starts there and searches
 *   nothing.
 *   In cache lines, which is what a lookup costs when the block's state does
 *   not fit in the core's cache: one in the bucket array, one for the entry
 *   (tag, key and level 0 share its first line) and, for a key with one
 *   writer below the reader, one for the node with its first version and a
 *   small value inline. Entries and nodes start on a line for that reason.
 */
#include <string.h>

#include "common/hash.h"
#include "mvmemory/mvmemory.h"

#define MVM_MIN_BUCKETS 256u
/* Bounds on the learned sizing: a block of a few transactions that touch
 * very many keys must not make the next large block allocate gigabytes.
 * Past the cap, chains grow longer (still correct, a little slower). */
#define MVM_MAX_KEYS_PER_TXN 64.0
#define MVM_MAX_BUCKETS	     (1u << 22)

static const mvm_version mvm_absent_version __attribute__((aligned(16))) = {
	.value = NULL, .len = 0, .flags = MVM_VERSION_DELETED, .txn_idx = MVM_TXN_STORAGE};
#define MVM_CELL_ABSENT ((uintptr_t)&mvm_absent_version)

int mvm_init(mvm *m)
{
	memset(m, 0, sizeof *m);
	m->keys_per_txn = 4.0;
	return 0;
}

void mvm_destroy(mvm *m)
{
	bstm_mem_free(m->buckets, m->capacity * sizeof *m->buckets);
	memset(m, 0, sizeof *m);
}

static uint64_t next_pow2(uint64_t x)
{
	uint64_t p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

int mvm_begin_block(mvm *m, uint32_t txn_count)
{
	/* A bucket per expected key, rounded up to a power of two (a load
	 * factor between one half and one), from the keys per transaction seen
	 * in earlier blocks. Twice that left the chains shorter but the array,
	 * which every lookup touches at random, twice as large; in a block
	 * whose state does not fit in the cache, the array's misses cost more
	 * than the chain steps (docs/benchmarks.md). Clearing costs O(block),
	 * never O(largest block). */
	double per_txn =
		m->keys_per_txn < MVM_MAX_KEYS_PER_TXN ? m->keys_per_txn : MVM_MAX_KEYS_PER_TXN;
	uint64_t want = next_pow2((uint64_t)(txn_count * per_txn) + 1);
	if (want < MVM_MIN_BUCKETS)
		want = MVM_MIN_BUCKETS;
	if (want > MVM_MAX_BUCKETS)
		want = MVM_MAX_BUCKETS;
	if (want > m->capacity) {
		_Atomic(mvm_entry *) *grown = bstm_mem_alloc(want * sizeof *grown);
		if (!grown)
			return BSTM_ENOMEM;
		bstm_mem_free(m->buckets, m->capacity * sizeof *m->buckets);
		m->buckets = grown;
		m->capacity = want;
	}
	m->mask = want - 1;
	memset((void *)m->buckets, 0, want * sizeof *m->buckets);
	return 0;
}

void mvm_end_block(mvm *m, uint32_t txn_count, uint64_t entries)
{
	if (txn_count == 0)
		return;
	double seen = (double)entries / txn_count;
	m->keys_per_txn = 0.5 * m->keys_per_txn + 0.5 * (seen < 1.0 ? 1.0 : seen);
}

static inline uint32_t hash_tag(uint64_t hash)
{
	return (uint32_t)(hash >> 32);
}

static inline bool entry_matches(const mvm_entry *e, const void *key, uint32_t len, uint64_t hash)
{
	return e->tag == hash_tag(hash) && e->key_len == len && bstm_bytes_equal(e->key, key, len);
}

static mvm_entry *chain_find(mvm_entry *e, mvm_entry *stop, const void *key, uint32_t len,
			     uint64_t hash)
{
	for (; e != stop; e = atomic_load_explicit(&mvm_tail(e)->chain, memory_order_acquire))
		if (entry_matches(e, key, len, hash))
			return e;
	return NULL;
}

mvm_entry *mvm_find(mvm *m, const void *key, uint32_t len, uint64_t hash)
{
	/* Acquire pairs with the release CAS in mvm_find_or_insert: an entry seen
	 * here is fully initialized. */
	mvm_entry *head = atomic_load_explicit(&m->buckets[hash & m->mask], memory_order_acquire);
	return chain_find(head, NULL, key, len, hash);
}

mvm_entry *mvm_find_or_insert(mvm *m, bstm_arena *arena, const void *key, uint32_t len,
			      uint64_t hash, bool *created)
{
	if (created)
		*created = false;
	_Atomic(mvm_entry *) *bucket = &m->buckets[hash & m->mask];
	mvm_entry *head = atomic_load_explicit(bucket, memory_order_acquire);
	mvm_entry *found = chain_find(head, NULL, key, len, hash);
	if (found)
		return found;

	mvm_entry *e = bstm_arena_alloc_line(arena, mvm_tail_offset(len) + sizeof(mvm_entry_tail));
	if (!e)
		return NULL;
	memset(e, 0, sizeof *e);
	e->tag = hash_tag(hash);
	e->key_len = (uint16_t)len;
	if (len)
		memcpy(e->key, key, len);
	mvm_entry_tail *tail = mvm_tail(e);
	memset(tail, 0, sizeof *tail);
	for (;;) {
		atomic_store_explicit(&tail->chain, head, memory_order_relaxed);
		/* Release publishes e's fields with the link; on failure `head`
		 * is reloaded (acquire) and only the new prefix needs a look. */
		mvm_entry *old_head = head;
		if (atomic_compare_exchange_weak_explicit(bucket, &head, e, memory_order_release,
							  memory_order_acquire)) {
			if (created)
				*created = true;
			return e;
		}
		found = chain_find(head, old_head, key, len, hash);
		if (found)
			return found; /* e stays unused in the arena: harmless */
	}
}

const mvm_version *mvm_set_base(mvm_entry *e, const mvm_version *base)
{
	const mvm_version *expected = NULL;
	/* Release publishes the version; acquire on failure pairs with the
	 * winner's release so its version is visible. */
	if (atomic_compare_exchange_strong_explicit(&mvm_tail(e)->base, &expected, base,
						    memory_order_release, memory_order_acquire))
		return base;
	return expected;
}

/*
 * The last node with index >= txn_idx (NULL: the head): its level-0 link
 * leads to the first node below txn_idx. Acquire loads pair with the release
 * CAS of insertions, so every node reached is initialized.
 */
static inline mvm_node *search_below(const mvm_entry *e, uint32_t txn_idx)
{
	mvm_node *pred = NULL;
	int top = atomic_load_explicit(&e->levels, memory_order_relaxed);
	for (int level = top - 1; level >= 0; level--) {
		mvm_node *n;
		while ((n = atomic_load_explicit(mvm_link(e, pred, level), memory_order_acquire)) !=
			       NULL &&
		       n->txn_idx >= txn_idx)
			pred = n;
	}
	return pred;
}

void mvm_read(const mvm_entry *e, uint32_t txn_idx, mvm_read_result *out)
{
	/* The highest writer first: when it is below the reader (a read with
	 * no conflict, every read after the block), the search would descend
	 * the levels only to arrive at it, touching a node per level. */
	mvm_node *n = atomic_load_explicit(&e->head, memory_order_acquire);
	if (n && n->txn_idx >= txn_idx) {
		mvm_node *pred = search_below(e, txn_idx);
		n = atomic_load_explicit(mvm_link(e, pred, 0), memory_order_acquire);
	}
	for (; n; n = atomic_load_explicit(&n->next[0], memory_order_acquire)) {
		/* Acquire pairs with the owner's release store of the cell, so the
		 * version's fields are visible. */
		/* The link was loaded again after the search: a writer above
		 * the reader may have been inserted in between. */
		if (n->txn_idx >= txn_idx)
			continue;
		uintptr_t cell = atomic_load_explicit(&n->cell, memory_order_acquire);
		if (cell == MVM_CELL_ABSENT)
			continue;
		if (cell & MVM_CELL_ESTIMATE) {
			out->kind = MVM_READ_ESTIMATE;
			out->blocking_txn = n->txn_idx;
			out->version = NULL;
			return;
		}
		out->kind = MVM_READ_VERSION;
		out->version = (const mvm_version *)cell;
		out->blocking_txn = n->txn_idx;
		return;
	}
	out->kind = MVM_READ_STORAGE;
	out->version = NULL;
	out->blocking_txn = MVM_TXN_STORAGE;
}

uint32_t mvm_node_height(uint32_t txn_idx)
{
	/* Geometric with p = 1/4, deterministic per index. */
	uint64_t h = bstm_hash_mix((uint64_t)txn_idx + 0x51ed27u) | (1ull << (2 * MVM_LEVELS));
	uint32_t height = 1 + (uint32_t)__builtin_ctzll(h) / 2;
	return height > MVM_LEVELS ? MVM_LEVELS : height;
}

/* Find txn_idx's node, or the predecessors at every level (NULL: the head). */
static mvm_node *search_exact(mvm_entry *e, uint32_t txn_idx, mvm_node *preds[])
{
	mvm_node *pred = NULL, *found = NULL;
	/* Every writer below txn_idx (the usual case: transactions mostly
	 * write in index order): the node goes first at every level, and the
	 * upper levels and their first nodes need not be looked at. */
	mvm_node *head = atomic_load_explicit(&e->head, memory_order_acquire);
	if (!head || head->txn_idx < txn_idx) {
		for (int level = 0; level < MVM_LEVELS; level++)
			preds[level] = NULL;
		return NULL;
	}
	int top = atomic_load_explicit(&e->levels, memory_order_relaxed);
	for (int level = MVM_LEVELS - 1; level >= top; level--)
		preds[level] = NULL; /* not in use yet: linking starts at the head */
	for (int level = top - 1; level >= 0; level--) {
		mvm_node *n;
		while ((n = atomic_load_explicit(mvm_link(e, pred, level), memory_order_acquire)) !=
			       NULL &&
		       n->txn_idx > txn_idx)
			pred = n;
		if (n && n->txn_idx == txn_idx)
			found = n;
		preds[level] = pred;
	}
	return found;
}

/* Link `node` at `level` after pred (NULL: the head), moving forward past
 * concurrent insertions of higher indices. */
static void link_level(mvm_entry *e, mvm_node *node, int level, mvm_node *pred)
{
	for (;;) {
		mvm_node *succ;
		while ((succ = atomic_load_explicit(mvm_link(e, pred, level),
						    memory_order_acquire)) != NULL &&
		       succ->txn_idx > node->txn_idx)
			pred = succ;
		atomic_store_explicit(&node->next[level], succ, memory_order_relaxed);
		/* Release publishes the node's fields (and lower levels) with the
		 * link; pairs with the acquire loads of searches. */
		if (atomic_compare_exchange_weak_explicit(mvm_link(e, pred, level), &succ, node,
							  memory_order_release,
							  memory_order_relaxed))
			return;
	}
}

/* Searches start at the highest level in use: raise it to `height`. */
static void raise_levels(mvm_entry *e, uint32_t height)
{
	uint8_t top = atomic_load_explicit(&e->levels, memory_order_relaxed);
	while (top < height &&
	       !atomic_compare_exchange_weak_explicit(&e->levels, &top, (uint8_t)height,
						      memory_order_relaxed, memory_order_relaxed))
		;
}

mvm_node *mvm_write(mvm_entry *e, bstm_arena *arena, uint32_t txn_idx, uint32_t incarnation,
		    const mvm_version *v, bool *new_path)
{
	mvm_node *preds[MVM_LEVELS];
	mvm_node *node = search_exact(e, txn_idx, preds);
	if (node) {
		mvm_version *copy = bstm_arena_alloc(arena, sizeof *copy);
		if (!copy)
			return NULL;
		*copy = *v;
		uintptr_t cell = atomic_load_explicit(&node->cell, memory_order_relaxed);
		*new_path = cell == MVM_CELL_ABSENT;
		node->last_incarnation = incarnation;
		/* Release pairs with readers' acquire of the cell. */
		atomic_store_explicit(&node->cell, (uintptr_t)copy, memory_order_release);
		return node;
	}
	uint32_t height = mvm_node_height(txn_idx);
	bool inline_value = v->value && v->len <= MVM_INLINE_VALUE;
	size_t size = sizeof *node + height * sizeof node->next[0] + (inline_value ? v->len : 0);
	node = bstm_arena_alloc_line(arena, size);
	if (!node)
		return NULL;
	node->txn_idx = txn_idx;
	node->last_incarnation = incarnation;
	node->first = *v;
	if (inline_value) {
		uint8_t *bytes = (uint8_t *)&node->next[height];
		if (v->len)
			memcpy(bytes, v->value, v->len);
		node->first.value = bytes;
	}
	atomic_init(&node->cell, (uintptr_t)&node->first);
	/* Before linking: a search that starts lower is correct, only slower. */
	raise_levels(e, height);
	for (uint32_t level = 0; level < height; level++)
		link_level(e, node, (int)level, preds[level]);
	*new_path = true;
	return node;
}

void mvm_mark_absent(mvm_node *node)
{
	/* Release: a reader that skips the node must not see stale data it
	 * depended on; pairs with the acquire in mvm_read. */
	atomic_store_explicit(&node->cell, MVM_CELL_ABSENT, memory_order_release);
}

void mvm_mark_estimate(mvm_node *node)
{
	/* The version pointer stays in the word so validation of readers that
	 * saw it fails (the word differs) while a later write replaces it. */
	atomic_fetch_or_explicit(&node->cell, MVM_CELL_ESTIMATE, memory_order_release);
}

bool mvm_validate(const mvm_capture *reads, uint32_t count, uint32_t txn_idx)
{
	for (uint32_t i = 0; i < count; i++) {
		mvm_read_result r;
		mvm_read(reads[i].entry, txn_idx, &r);
		if (r.kind == MVM_READ_ESTIMATE)
			return false;
		if (reads[i].observed == NULL ? r.kind != MVM_READ_STORAGE
					      : r.version != reads[i].observed)
			return false;
	}
	return true;
}
