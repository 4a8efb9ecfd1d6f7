/*
 * mvmemory.h - the multi-version memory of one executor.
 *
 * For every key touched in the block there is one entry; for every
 * transaction that wrote the key in some incarnation there is one node in the
 * entry's list, whose cell holds that transaction's latest version of the key
 * (or an ESTIMATE mark, or ABSENT when its latest incarnation no longer writes
 * the key). Reads by transaction i return the version of the highest writer
 * below i. See mvmemory.c for the invariants and the memory ordering.
 */
#ifndef BSTM_MVMEMORY_H
#define BSTM_MVMEMORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/common.h"

#define MVM_LEVELS	    8
#define MVM_VERSION_DELETED 0x1u
#define MVM_TXN_STORAGE	    UINT32_MAX /* txn_idx of a version read from base storage */
#define MVM_INLINE_VALUE    16u	       /* a first write this small lives in its node */

/* One write of one key by one incarnation. Immutable once published. */
typedef struct mvm_version {
	const uint8_t *value;
	uint32_t len;
	uint32_t flags; /* MVM_VERSION_* */
	uint32_t txn_idx;
	uint32_t incarnation;
} mvm_version;

typedef struct mvm_node mvm_node;

/*
 * An entry is one cache line for keys of up to 33 bytes (the VM's keys are
 * 30-33): the hash tag, the key, level 0 of the skip list and the base value
 * share it (entries are line-aligned), in an mvm_entry_links that follows
 * the key. What lookups rarely need, the chain of entries whose hash bits
 * ran out and the upper levels of the head, is in an mvm_entry_ext made
 * when first needed: most keys have a few writers a block, and no node with
 * upper levels (mvm_node_height).
 */
typedef struct mvm_entry {
	uint32_t tag;		/* high half of the key's hash */
	uint16_t key_len;	/* <= BSTM_MAX_KEY_LEN */
	_Atomic uint8_t levels; /* levels in use: searches start there (a hint) */
	uint8_t key[];		/* then, 8-aligned, the entry's mvm_entry_links */
} mvm_entry;

typedef struct mvm_entry_ext mvm_entry_ext;

typedef struct mvm_entry_links {
	_Atomic(mvm_node *) head;	   /* level 0: every writer, highest index first */
	_Atomic(const mvm_version *) base; /* the base value, fetched once; NULL until then */
	_Atomic(mvm_entry_ext *) ext;	   /* NULL until a chain or an upper level needs it */
} mvm_entry_links;

struct mvm_entry_ext {
	/* Next entry with the same slot once the hash bits ran out
	 * (mvmemory.c); set before the entry is linked, then immutable. */
	_Atomic(mvm_entry *) chain;
	_Atomic(mvm_node *) up[MVM_LEVELS - 1]; /* levels 1 and up of the head */
};

/* Where the links start in an entry with a key of key_len bytes. */
static inline size_t mvm_links_offset(uint32_t key_len)
{
	return (offsetof(mvm_entry, key) + key_len + 7) & ~(size_t)7;
}

static inline mvm_entry_links *mvm_links(const mvm_entry *e)
{
	return (mvm_entry_links *)((uintptr_t)e + mvm_links_offset(e->key_len));
}

static inline mvm_entry_ext *mvm_ext(const mvm_entry *e)
{
	return atomic_load_explicit(&mvm_links(e)->ext, memory_order_acquire);
}

struct mvm_node {
	_Atomic uintptr_t cell; /* const mvm_version * | MVM_CELL_ESTIMATE */
	uint32_t txn_idx;
	uint32_t last_incarnation;  /* owner's bookkeeping, see mvm_write */
	mvm_version first;	    /* the version of the write that created the node */
	_Atomic(mvm_node *) next[]; /* mvm_node_height(txn_idx) levels, then first's
				     * value when it is at most MVM_INLINE_VALUE bytes */
};

#define MVM_CELL_ESTIMATE ((uintptr_t)1)

/* The version in node's cell, without the ESTIMATE mark. Only the owner of
 * the node's transaction changes the cell (see mvm_write), so for the owner,
 * or once the commit index has passed the transaction, it is the version
 * the current incarnation wrote (a serial segment's last transaction is
 * committed a moment before its nodes are; see mvmemory.c). */
static inline const mvm_version *mvm_node_version(const mvm_node *node)
{
	uintptr_t cell = atomic_load_explicit(&node->cell, memory_order_acquire);
	return (const mvm_version *)(cell & ~MVM_CELL_ESTIMATE);
}

/* An empty upper level of a head without an mvm_entry_ext; never written. */
BSTM_INTERNAL extern _Atomic(mvm_node *) mvm_no_link;

/* The head's link at `level` when pred is NULL, else pred's. A head's upper
 * level is mvm_no_link (empty) until the entry has its ext, which mvm_write
 * makes before it links a node there. */
static inline _Atomic(mvm_node *) *mvm_link(const mvm_entry *e, mvm_node *pred, int level)
{
	if (pred)
		return &pred->next[level];
	if (level == 0)
		return &mvm_links(e)->head;
	mvm_entry_ext *x = mvm_ext(e);
	return x ? &x->up[level - 1] : &mvm_no_link;
}

enum mvm_read_kind {
	MVM_READ_STORAGE,  /* no lower transaction wrote the key */
	MVM_READ_VERSION,  /* version holds the value */
	MVM_READ_ESTIMATE, /* blocking_txn's write is being redone */
};

typedef struct mvm_read_result {
	enum mvm_read_kind kind;
	uint32_t blocking_txn;
	const mvm_version *version;
} mvm_read_result;

/* A captured read: which entry, and which version was seen (NULL: storage). */
typedef struct mvm_capture {
	mvm_entry *entry;
	const mvm_version *observed;
} mvm_capture;

/* An index slot: 0, an mvm_entry *, or an mvm_table * | MVM_SLOT_TABLE. */
typedef _Atomic uintptr_t mvm_slot;

/* The top level is an array of lines of MVM_LINE_SLOTS slots, sized for
 * MVM_LINE_KEYS keys a line or fewer. A key's line holds it in one of the
 * first MVM_LINE_OPEN slots, which fill in order, each an entry pointer
 * with mvm_open_tag(hash) in its top bits (so a lookup compares tags in the
 * line and reads only the entry that may be its key); a key that finds them
 * full goes to the last slot, the root of a trie of child tables
 * (mvmemory.c). */
#define MVM_LINE_SLOTS	   8u
#define MVM_LINE_OPEN	   7u
#define MVM_LINE_KEYS	   4u
#define MVM_OPEN_TAG_SHIFT 48

/* What an insert whose entry cannot take an open slot (its address needs
 * the tag's bits) leaves in the line's empty open slots before it goes to
 * the trie: the slots are full from then on, so no lookup stops at them and
 * no other insert of the key puts a second entry there. Never an entry
 * (those are line-aligned). */
#define MVM_OPEN_CLOSED ((uintptr_t)1)

static inline uint16_t mvm_open_tag(uint64_t hash)
{
	return (uint16_t)(hash >> MVM_OPEN_TAG_SHIFT);
}

static inline uint16_t mvm_open_tag_of(uintptr_t word)
{
	return (uint16_t)(word >> MVM_OPEN_TAG_SHIFT);
}

static inline mvm_entry *mvm_open_entry(uintptr_t word)
{
	return (mvm_entry *)(word & ((UINT64_C(1) << MVM_OPEN_TAG_SHIFT) - 1));
}

/* Child tables: one line of 8 slots, indexed by 3 bits of the tag per
 * level; after MVM_TABLE_DEPTH levels (30 of the tag's 32 bits) the index
 * looks at no more of them, and keys that agree so far share a chain
 * (mvmemory.c). */
#define MVM_SLOT_TABLE	((uintptr_t)1)
#define MVM_TABLE_BITS	3
#define MVM_TABLE_SLOTS (1u << MVM_TABLE_BITS)
#define MVM_TABLE_DEPTH (32 / MVM_TABLE_BITS)

typedef struct mvm_table {
	mvm_slot slot[MVM_TABLE_SLOTS];
} mvm_table;

typedef struct mvm {
	mvm_slot *buckets;   /* lines of MVM_LINE_SLOTS slots */
	uint64_t mask;	     /* line count - 1, for this block */
	uint64_t capacity;   /* allocated slots */
	double keys_per_txn; /* learned across blocks to size the index */
} mvm;

BSTM_INTERNAL int mvm_init(mvm *m);
BSTM_INTERNAL void mvm_destroy(mvm *m);
/* Size and clear the index for a block of txn_count transactions.
 * Single-threaded, before any other call for the block. */
BSTM_INTERNAL int mvm_begin_block(mvm *m, uint32_t txn_count);
/* After the block: `entries` were created in it (the sum of the callers'
 * counts), which sizes the index of the next block. */
BSTM_INTERNAL void mvm_end_block(mvm *m, uint32_t txn_count, uint64_t entries);

BSTM_INTERNAL mvm_entry *mvm_find(mvm *m, const void *key, uint32_t len, uint64_t hash);
/* How many slots and entries a lookup of key visits (for tests). */
BSTM_INTERNAL uint32_t mvm_lookup_steps(mvm *m, const void *key, uint32_t len, uint64_t hash);
/* Find or insert the entry for key; its bytes are copied into `arena`.
 * Returns NULL only when out of memory. Lock-free. *created (unless NULL)
 * says whether this call created the entry: each entry has exactly one
 * creator, which the executor uses to list every key once. */
BSTM_INTERNAL mvm_entry *mvm_find_or_insert(mvm *m, bstm_arena *arena, const void *key,
					    uint32_t len, uint64_t hash, bool *created);

/* The version transaction txn_idx reads: highest writer below it. */
BSTM_INTERNAL void mvm_read(const mvm_entry *e, uint32_t txn_idx, mvm_read_result *out);

/* Start loading what mvm_read(e, ...) touches first for a reader above every
 * writer: the entry's first line, or (once that is in the cache) its highest
 * writer's node. For loops over many entries that would otherwise miss the
 * cache on each, one after the other. */
static inline void mvm_prefetch_entry(const mvm_entry *e)
{
	__builtin_prefetch(e);
}

static inline void mvm_prefetch_head(const mvm_entry *e)
{
	mvm_node *n = atomic_load_explicit(&mvm_links(e)->head, memory_order_relaxed);
	if (n)
		__builtin_prefetch(n);
}

/* Cache the base value of `e`. Returns the version that won (the first). */
BSTM_INTERNAL const mvm_version *mvm_set_base(mvm_entry *e, const mvm_version *base);

/*
 * Record txn_idx's (incarnation) write `v` of the key; `v` is copied. Only the
 * thread that owns txn_idx's current incarnation calls this. The first write
 * of the key by txn_idx lives in the new node (its value too, when small), so
 * a reader finds node, version and value on one line; a later incarnation's
 * write gets a version of its own in `arena`; mvm_node_version() is the one
 * readers now see. Returns the node, or NULL when out of memory; *new_path
 * is set when the previous incarnation did not write the key (the
 * scheduler must then revalidate higher transactions).
 */
BSTM_INTERNAL mvm_node *mvm_write(mvm_entry *e, bstm_arena *arena, uint32_t txn_idx,
				  uint32_t incarnation, const mvm_version *v, bool *new_path);
/* The levels of the node of txn_idx (geometric, deterministic per index). */
BSTM_INTERNAL uint32_t mvm_node_height(uint32_t txn_idx);
/* The owner's incarnation no longer writes this key. */
BSTM_INTERNAL void mvm_mark_absent(mvm_node *node);
/* The owner's incarnation was aborted; readers must wait for the redo. */
BSTM_INTERNAL void mvm_mark_estimate(mvm_node *node);

/* True if every captured read would see the same version now. */
BSTM_INTERNAL bool mvm_validate(const mvm_capture *reads, uint32_t count, uint32_t txn_idx);

#endif
