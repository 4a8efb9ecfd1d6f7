/*
 * mvmemory.c - lock-free multi-version memory.
 *
 * Structure
 *   An index maps a key hash to an entry (one per key). Its top level is an
 *   array of cache lines sized for the block (MVM_LINE_KEYS keys a line or
 *   fewer). A key's line holds it in one of its first MVM_LINE_OPEN slots,
 *   which fill in order and never empty during the block; each holds an
 *   entry pointer with 16 bits of the hash in its top bits, so a lookup
 *   compares tags within the line and reads only an entry whose tag is its
 *   key's. A key that finds them full goes to the line's last slot, the
 *   root of a trie: a slot that two keys reach becomes a child table of 8
 *   slots indexed by the next 3 bits of the hash (a hash array mapped trie),
 *   and so on down. Nothing is ever rehashed or moved back, so the index
 *   grows with the keys during the block: a block that touches far more
 *   keys than the sizing expected costs a few levels per lookup, not a
 *   chain as long as keys / lines. The child levels use
 *   the entry's tag (the hash's high 32 bits, kept in the entry so a split
 *   can place the entry already in the slot), 3 bits a level; after
 *   MVM_TABLE_DEPTH levels (30 bits), keys that agree on those bits share a
 *   chain.
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
 *     One exception, on the executor's side: a serial segment's last
 *     transaction is COMMITTED before the committer, still under the
 *     commit lock, writes the segment's final writes as its nodes
 *     (parallel.c, publish_segment); commit_idx passes it only after that,
 *     and nothing reads those nodes as committed before.
 *   - A version is created for exactly one (transaction, incarnation, key);
 *     its address is therefore a unique version number, and validation
 *     compares addresses. (The version inside a node is its first write;
 *     later incarnations get versions of their own, never a rewrite.)
 *   - The entry's `levels` only grows and is a hint: level 0 holds every
 *     node and each level is a sublist of the one below, so a search that
 *     starts at a level too low is still exact.
 *
 * Linearization points
 *   - entry insert: the release CAS that puts it in its slot (the first
 *     empty open slot of its line, a trie slot, or the head of a chain; an
 *     insert whose CAS on an open slot fails looks at what took the slot,
 *     which may be its key, and goes on to the next); a split (the CAS that replaces an entry by a
 * child table already holding it) inserts nothing and moves no entry's identity;
 *   - node insert: the release CAS that links it at level 0;
 *   - write / absent / estimate: the release store (or RMW) of the cell;
 *   - read: the acquire load of the cell of the first non-absent node below
 *     the reader.
 *
 * Cost
 *   Finding the highest writer below i is a skip-list search, O(log w) for w
 *   writers of the key, plus one step per ABSENT node passed (an ABSENT node
 *   exists where a re-execution stopped writing the key, where an execution
 *   failed or was discarded after one that wrote it, and for each key a
 *   transaction wrote speculatively before a serial segment took it over,
 *   so after segments a read may pass several). When the
 *   highest writer of all is below i, the read starts there and searches
 *   nothing.
 *   In cache lines, which is what a lookup costs when the block's state does
 *   not fit in the core's cache: one in the line array (plus one per child
 *   table on the way, for a key whose line's open slots were full), one for
 *   the entry (tag, key and level 0 share its first line) and, for a key
 *   with one
 *   writer below the reader, one for the node with its first version and a
 *   small value inline. Entries and nodes start on a line for that reason.
 */
#include <string.h>

#include "common/hash.h"
#include "mvmemory/mvmemory.h"

#define MVM_MIN_BUCKETS 256u /* slots */
/* Bounds on the learned sizing: a block of a few transactions that touch
 * very many keys must not make the next large block allocate gigabytes.
 * Past the cap, lookups go through more child tables. */
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
	/* A line per MVM_LINE_KEYS expected keys, rounded up to a power of two
	 * (between half that and that many keys a line), from the keys per
	 * transaction seen in earlier blocks: few enough that a line's open
	 * slots rarely fill, so a lookup costs the line and the entry (a key
	 * per 8-byte slot, as before lines, put most keys a child table
	 * deeper). Twice as many lines made no difference; the array, which
	 * every lookup touches at random, should not be larger than that
	 * (docs/benchmarks.md). Clearing costs O(block), never O(largest
	 * block). */
	double per_txn =
		m->keys_per_txn < MVM_MAX_KEYS_PER_TXN ? m->keys_per_txn : MVM_MAX_KEYS_PER_TXN;
	uint64_t want =
		MVM_LINE_SLOTS * next_pow2((uint64_t)(txn_count * per_txn) / MVM_LINE_KEYS + 1);
	if (want < MVM_MIN_BUCKETS)
		want = MVM_MIN_BUCKETS;
	if (want > MVM_MAX_BUCKETS)
		want = MVM_MAX_BUCKETS;
	if (want > m->capacity) {
		mvm_slot *grown = bstm_mem_alloc(want * sizeof *grown);
		if (!grown)
			return BSTM_ENOMEM;
		bstm_mem_free(m->buckets, m->capacity * sizeof *m->buckets);
		m->buckets = grown;
		m->capacity = want;
	}
	m->mask = want / MVM_LINE_SLOTS - 1;
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

_Atomic(mvm_node *) mvm_no_link;

/* The next entry of e's chain (NULL: none). */
static inline mvm_entry *chain_next(const mvm_entry *e)
{
	mvm_entry_ext *x = mvm_ext(e);
	return x ? atomic_load_explicit(&x->chain, memory_order_acquire) : NULL;
}

static mvm_entry_ext *new_ext(bstm_arena *arena)
{
	mvm_entry_ext *x = bstm_arena_alloc_line(arena, sizeof *x);
	if (x)
		memset(x, 0, sizeof *x);
	return x;
}

static mvm_entry *chain_find(mvm_entry *e, const void *key, uint32_t len, uint64_t hash)
{
	for (; e; e = chain_next(e))
		if (entry_matches(e, key, len, hash))
			return e;
	return NULL;
}

_Static_assert(sizeof(mvm_table) == BSTM_CACHELINE, "a child table is one line");

static inline mvm_slot *child_slot(uintptr_t w, uint32_t tag, uint32_t depth)
{
	mvm_table *t = (mvm_table *)(w & ~MVM_SLOT_TABLE);
	return &t->slot[(tag >> (depth * MVM_TABLE_BITS)) & (MVM_TABLE_SLOTS - 1)];
}

/* From `slot`, whose word *w the caller loaded, at child level *depth (0
 * for a bucket), down any child tables to the slot that holds tag's entry,
 * or would; *w becomes that slot's word (0, an entry or the head of a
 * chain). Acquire loads pair with the release CASes that fill slots, so
 * every table and entry reached is initialized. */
static mvm_slot *descend(mvm_slot *slot, uint32_t tag, uintptr_t *w, uint32_t *depth,
			 uint32_t *steps)
{
	while (*w & MVM_SLOT_TABLE) {
		slot = child_slot(*w, tag, (*depth)++);
		*w = atomic_load_explicit(slot, memory_order_acquire);
		if (steps)
			++*steps;
	}
	return slot;
}

/* descend() from the bucket of `hash`. */
static inline mvm_slot *bucket_line(const mvm *m, uint64_t hash)
{
	return &m->buckets[(hash & m->mask) * MVM_LINE_SLOTS];
}

/* Whether e's address leaves the top bits free for the open tag. Entries
 * whose addresses need them (tagged pointers, 57-bit address spaces) live
 * in the trie. MVM_TEST_WIDE_ADDRESSES (a test build only) makes every
 * other entry such an entry, so that path runs on this machine too. */
static inline bool open_fits(const mvm_entry *e)
{
#ifdef MVM_TEST_WIDE_ADDRESSES
	return ((uintptr_t)e >> 6 & 1) == 0 && ((uintptr_t)e >> MVM_OPEN_TAG_SHIFT) == 0;
#else
	return ((uintptr_t)e >> MVM_OPEN_TAG_SHIFT) == 0;
#endif
}

/* The entry in open slot word w (nonzero) if it is key's, else NULL. */
static inline mvm_entry *open_match(uintptr_t w, const void *key, uint32_t len, uint64_t hash)
{
	if (mvm_open_tag_of(w) != mvm_open_tag(hash) || w == MVM_OPEN_CLOSED)
		return NULL;
	mvm_entry *e = mvm_open_entry(w);
	return entry_matches(e, key, len, hash) ? e : NULL;
}

/* Search the open slots of key's line: the entry, or NULL with *free_slot
 * the first empty slot (MVM_LINE_OPEN: none, go to the trie slot). */
static inline mvm_entry *open_find(const mvm *m, const void *key, uint32_t len, uint64_t hash,
				   uint32_t *free_slot, uint32_t *steps)
{
	mvm_slot *line = bucket_line(m, hash);
	for (uint32_t i = 0; i < MVM_LINE_OPEN; i++) {
		uintptr_t w = atomic_load_explicit(&line[i], memory_order_acquire);
		if (steps)
			++*steps;
		if (!w) {
			*free_slot = i;
			return NULL;
		}
		mvm_entry *e = open_match(w, key, len, hash);
		if (e)
			return e;
	}
	*free_slot = MVM_LINE_OPEN;
	return NULL;
}

static mvm_slot *find_slot(mvm *m, uint64_t hash, uintptr_t *w, uint32_t *depth, uint32_t *steps)
{
	mvm_slot *bucket = &bucket_line(m, hash)[MVM_LINE_OPEN];
	*w = atomic_load_explicit(bucket, memory_order_acquire);
	*depth = 0;
	return descend(bucket, hash_tag(hash), w, depth, steps);
}

mvm_entry *mvm_find(mvm *m, const void *key, uint32_t len, uint64_t hash)
{
	uint32_t free_slot;
	mvm_entry *e = open_find(m, key, len, hash, &free_slot, NULL);
	if (e || free_slot < MVM_LINE_OPEN)
		return e;
	uintptr_t w;
	uint32_t depth;
	find_slot(m, hash, &w, &depth, NULL);
	return chain_find((mvm_entry *)w, key, len, hash);
}

uint32_t mvm_lookup_steps(mvm *m, const void *key, uint32_t len, uint64_t hash)
{
	uint32_t free_slot, steps = 0;
	if (open_find(m, key, len, hash, &free_slot, &steps) || free_slot < MVM_LINE_OPEN)
		return steps;
	uintptr_t w;
	uint32_t depth;
	steps++;
	find_slot(m, hash, &w, &depth, &steps);
	for (mvm_entry *e = (mvm_entry *)w; e; e = chain_next(e)) {
		steps++;
		if (entry_matches(e, key, len, hash))
			break;
	}
	return steps;
}

static mvm_entry *new_entry(bstm_arena *arena, const void *key, uint32_t len, uint64_t hash)
{
	mvm_entry *e =
		bstm_arena_alloc_line(arena, mvm_links_offset(len) + sizeof(mvm_entry_links));
	if (!e)
		return NULL;
	memset(e, 0, offsetof(mvm_entry, key));
	e->tag = hash_tag(hash);
	e->key_len = (uint16_t)len;
	if (len)
		memcpy(e->key, key, len);
	memset(mvm_links(e), 0, sizeof(mvm_entry_links));
	return e;
}

mvm_entry *mvm_find_or_insert(mvm *m, bstm_arena *arena, const void *key, uint32_t len,
			      uint64_t hash, bool *created)
{
	if (created)
		*created = false;
	uint32_t tag = hash_tag(hash);
	mvm_entry *e = NULL; /* ours, allocated once it is needed */
	uint32_t i;
	mvm_entry *found = open_find(m, key, len, hash, &i, NULL);
	if (found)
		return found;
	mvm_slot *line = bucket_line(m, hash);
	while (i < MVM_LINE_OPEN) {
		/* Slot i is the first empty one: open slots fill in order and
		 * never empty again during the block, so key is in none after
		 * it. Release publishes e's fields with its word. */
		if (!e && !(e = new_entry(arena, key, len, hash)))
			return NULL;
		if (!open_fits(e)) {
			/* Its address needs the tag's bits (a tagged or 57-bit
			 * pointer): it goes to the trie, which lookups reach
			 * only once every open slot is full, so fill the rest. */
			for (; i < MVM_LINE_OPEN; i++) {
				uintptr_t w = 0;
				if (!atomic_compare_exchange_strong_explicit(
					    &line[i], &w, MVM_OPEN_CLOSED, memory_order_release,
					    memory_order_acquire) &&
				    (found = open_match(w, key, len, hash)))
					return found;
			}
			break;
		}
		uintptr_t w = 0;
		if (atomic_compare_exchange_strong_explicit(
			    &line[i], &w,
			    (uintptr_t)e | ((uintptr_t)mvm_open_tag(hash) << MVM_OPEN_TAG_SHIFT),
			    memory_order_release, memory_order_acquire)) {
			if (created)
				*created = true;
			return e;
		}
		/* Another insert took slot i: its key may be ours. */
		if ((found = open_match(w, key, len, hash)))
			return found;
		i++;
		for (; i < MVM_LINE_OPEN; i++) {
			w = atomic_load_explicit(&line[i], memory_order_acquire);
			if (!w)
				break;
			if ((found = open_match(w, key, len, hash)))
				return found;
		}
	}
	uintptr_t w;
	uint32_t depth;
	mvm_slot *slot = find_slot(m, hash, &w, &depth, NULL);
	for (;;) {
		mvm_entry *head = (mvm_entry *)w;
		found = chain_find(head, key, len, hash);
		if (found)
			return found; /* an e of ours stays unused in the arena */
		if (head && depth < MVM_TABLE_DEPTH) {
			/* Another key holds the slot: it becomes a child table
			 * that holds that key one level down. Release publishes
			 * the table's contents with it. */
			mvm_table *t = bstm_arena_alloc_line(arena, sizeof *t);
			if (!t)
				return NULL;
			memset(t, 0, sizeof *t);
			atomic_store_explicit(child_slot((uintptr_t)t, head->tag, depth), w,
					      memory_order_relaxed);
			uintptr_t table = (uintptr_t)t | MVM_SLOT_TABLE;
			if (atomic_compare_exchange_strong_explicit(
				    slot, &w, table, memory_order_release, memory_order_acquire))
				w = table; /* else: the table another split put */
		} else {
			/* An empty slot, or a chain at the last level:
			 * link e at its head. Release publishes e's fields. */
			if (!e && !(e = new_entry(arena, key, len, hash)))
				return NULL;
			/* e is still ours: its ext (made for a chain only) is
			 * published with it. */
			mvm_entry_ext *x =
				atomic_load_explicit(&mvm_links(e)->ext, memory_order_relaxed);
			if (head && !x) {
				if (!(x = new_ext(arena)))
					return NULL;
				atomic_store_explicit(&mvm_links(e)->ext, x, memory_order_relaxed);
			}
			if (x)
				atomic_store_explicit(&x->chain, head, memory_order_relaxed);
			if (atomic_compare_exchange_strong_explicit(slot, &w, (uintptr_t)e,
								    memory_order_release,
								    memory_order_acquire)) {
				if (created)
					*created = true;
				return e;
			}
		}
		/* w is the slot's current word: go down any table it became. */
		slot = descend(slot, tag, &w, &depth, NULL);
	}
}

const mvm_version *mvm_set_base(mvm_entry *e, const mvm_version *base)
{
	const mvm_version *expected = NULL;
	/* Release publishes the version; acquire on failure pairs with the
	 * winner's release so its version is visible. */
	if (atomic_compare_exchange_strong_explicit(&mvm_links(e)->base, &expected, base,
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
	mvm_node *n = atomic_load_explicit(&mvm_links(e)->head, memory_order_acquire);
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
	/* Geometric with p = 1/16, deterministic per index. With p = 1/4 a
	 * quarter of the nodes had upper levels: each costs its link at the
	 * head (a line of the entry the read path does not touch), and with a
	 * small value inline such a node takes two lines, while most keys
	 * have a few writers a block. Eight levels of 1/16 still cover 16^8
	 * writers; a search does about eight steps a level instead of two,
	 * which keys with thousands of writers did not show
	 * (docs/benchmarks.md). */
	uint64_t h = bstm_hash_mix((uint64_t)txn_idx + 0x51ed27u) | (1ull << (4 * MVM_LEVELS));
	uint32_t height = 1 + (uint32_t)__builtin_ctzll(h) / 4;
	return height > MVM_LEVELS ? MVM_LEVELS : height;
}

/* Find txn_idx's node, or the predecessors at every level (NULL: the head). */
static mvm_node *search_exact(mvm_entry *e, uint32_t txn_idx, mvm_node *preds[])
{
	mvm_node *pred = NULL, *found = NULL;
	/* Every writer below txn_idx (the usual case: transactions mostly
	 * write in index order): the node goes first at every level, and the
	 * upper levels and their first nodes need not be looked at. */
	mvm_node *head = atomic_load_explicit(&mvm_links(e)->head, memory_order_acquire);
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

/* The entry's ext, made now if it has none (before a node is linked at an
 * upper level of the head). Several writers may race: one ext wins, the
 * others' stay unused in their arenas. NULL when out of memory. */
static mvm_entry_ext *ensure_ext(mvm_entry *e, bstm_arena *arena)
{
	mvm_entry_links *l = mvm_links(e);
	mvm_entry_ext *x = atomic_load_explicit(&l->ext, memory_order_acquire);
	if (x)
		return x;
	mvm_entry_ext *mine = new_ext(arena);
	if (!mine)
		return NULL;
	/* Release publishes the zeroed levels; acquire on failure pairs with
	 * the winner's release. */
	if (atomic_compare_exchange_strong_explicit(&l->ext, &x, mine, memory_order_release,
						    memory_order_acquire))
		return mine;
	return x;
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
	if (height > 1 && !ensure_ext(e, arena))
		return NULL;
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
