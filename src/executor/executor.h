/*
 * executor.h - the block executor's private interface: the executor object,
 * the per-transaction view, the transaction-local key map, outputs and the
 * worker pool. Files: executor.c (API entry, fallback, small blocks),
 * parallel.c (worker loop, rolling commit), sequential.c (baseline),
 * view.c (bstm_view_*), local.c (local map), output.c, pool.c.
 */
#ifndef BSTM_EXECUTOR_H
#define BSTM_EXECUTOR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "common/arena.h"
#include "common/common.h"
#include "common/sort.h"
#include "mvmemory/mvmemory.h"
#include "scheduler/scheduler.h"

/* ---- transaction-local key map ----------------------------------------- */

#define EXEC_ITEM_READ	  0x1u /* read from outside the transaction */
#define EXEC_ITEM_WRITE	  0x2u /* written by the transaction */
#define EXEC_ITEM_DELETED 0x4u /* current value is "absent" */
#define EXEC_ITEM_BASE	  0x8u /* overlay only: cached base value, not a write */

typedef struct exec_item {
	uint64_t hash;
	const uint8_t *key;
	const uint8_t *value; /* current value as the transaction sees it */
	uint32_t key_len;
	uint32_t value_len;
	uint32_t flags;
	uint32_t slot;		     /* index in the probe table, for O(1) clearing */
	uint32_t writer;	     /* overlay: the last transaction that wrote it */
	mvm_entry *entry;	     /* parallel mode */
	const mvm_version *observed; /* parallel mode: captured version, NULL = storage */
} exec_item;

/* Open-addressing map of items in insertion order; reset is O(items). */
typedef struct exec_map {
	exec_item *items;
	uint32_t *slots; /* item index + 1; 0 = empty */
	uint32_t count;
	uint32_t item_cap;
	uint32_t slot_mask;
} exec_map;

BSTM_INTERNAL int exec_map_init(exec_map *m, uint32_t slots_pow2);
BSTM_INTERNAL void exec_map_destroy(exec_map *m);
BSTM_INTERNAL void exec_map_clear(exec_map *m);
BSTM_INTERNAL exec_item *exec_map_find(const exec_map *m, const void *key, uint32_t len,
				       uint64_t hash);
/* Insert a new item (key must not be present); the key pointer is stored as
 * given. NULL when out of memory. */
BSTM_INTERNAL exec_item *exec_map_insert(exec_map *m, const uint8_t *key, uint32_t len,
					 uint64_t hash);

/* ---- outputs -------------------------------------------------------------- */

/* A write as the executor hands it to the output builder. */
typedef struct exec_write_ref {
	const uint8_t *key;
	const uint8_t *value;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t is_delete;
	void *tag; /* caller's: travels with the write through sorting */
} exec_write_ref;

/* The threads that build an output bump their arenas' cursors at the same
 * time: each arena has a cache line of its own. */
typedef struct exec_output_arena {
	bstm_arena arena;
} BSTM_ALIGNED_CACHELINE exec_output_arena;

typedef struct exec_output {
	bstm_output pub;
	exec_output_arena *arenas; /* own every byte the output points at; */
	uint32_t arena_count;	   /* one per thread that builds it */
	bstm_txn_output *txns;	   /* pub.txns */
	/* Written by the committer on every commit, so not on the line of the
	 * pointers above, which every worker reads. */
	uint64_t cumulative_gas BSTM_ALIGNED_CACHELINE;
	uint32_t committed; /* transactions with a final output */
} exec_output;

/* The output arena of building thread i. */
static inline bstm_arena *exec_output_arena_of(exec_output *out, uint32_t i)
{
	return &out->arenas[i].arena;
}

BSTM_INTERNAL exec_output *exec_output_new(uint32_t txn_count, uint32_t arena_count);
/* Record transaction idx's final output (writes in any order, one per key),
 * copying its bytes into `arena` (one of out->arenas, owned by the calling
 * thread). Returns 0 or BSTM_ENOMEM. */
BSTM_INTERNAL int exec_output_set_txn(exec_output *out, bstm_arena *arena, uint32_t idx,
				      const bstm_txn_outcome *outcome, exec_write_ref *writes,
				      uint32_t write_count, const bstm_event *events,
				      uint32_t event_count);
/* Mark txns [from, txn_count) RETRY. */
BSTM_INTERNAL void exec_output_retry_rest(exec_output *out, uint32_t from);
/* The merged write set from `nparts` sorted parts (see bstm_merge_writes),
 * no key in two of them, bytes in the output's own memory. */
BSTM_INTERNAL int exec_output_set_merged(exec_output *out, const bstm_sorted_part *parts,
					 size_t nparts);

/* ---- worker pool ---------------------------------------------------------- */

typedef void (*exec_job_fn)(void *arg, uint32_t worker);

typedef struct exec_pool {
	pthread_t *threads;
	uint32_t count; /* worker threads, not counting the caller */
	uint32_t spin_before_park;
	_Atomic uint32_t generation BSTM_ALIGNED_CACHELINE;
	_Atomic uint32_t running BSTM_ALIGNED_CACHELINE;
	_Atomic uint32_t shutdown;
	exec_job_fn job;
	void *arg;
} exec_pool;

BSTM_INTERNAL int exec_pool_start(exec_pool *p, uint32_t workers, uint32_t spin_before_park);
BSTM_INTERNAL void exec_pool_stop(exec_pool *p);
/* Sleep while *addr == expected, at most timeout_ns (0: no limit); wake
 * every sleeper on addr. Spurious returns are possible: callers re-check. */
BSTM_INTERNAL void exec_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns);
BSTM_INTERNAL void exec_futex_wake_all(_Atomic uint32_t *addr);
/* Run job(arg, w) on every worker w = 1..count and job(arg, 0) on the caller;
 * return when all have returned. */
BSTM_INTERNAL void exec_pool_run(exec_pool *p, exec_job_fn job, void *arg);

/* ---- the view and the executor -------------------------------------------- */

/* SERIAL: a serial segment of a parallel run (parallel.c): the sequential
 * overlay over the state committed below the segment. */
enum exec_mode { EXEC_MODE_SEQUENTIAL, EXEC_MODE_PARALLEL, EXEC_MODE_SERIAL };

typedef struct exec_block_run exec_block_run;
typedef struct exec_worker exec_worker;

struct bstm_view {
	enum exec_mode mode;
	uint32_t txn;
	uint32_t worker_id;
	bool final;   /* parallel: every lower transaction is committed */
	bool blocked; /* parallel: a read hit an ESTIMATE of blocking_txn */
	bool chained; /* serial: read a write of a near predecessor (sched_serial_near) */
	uint32_t blocking_txn;
	int error;  /* sticky: the base view's failure, or the library's own */
	bool fatal; /* error is the library's own (out of memory, a broken
		     * invariant): it stops a parallel run at once */
	exec_map local;
	bstm_event *events;
	uint32_t event_count;
	uint32_t event_cap;
	bstm_arena *arena; /* block-lifetime memory of this thread */
	exec_block_run *run;
	/* Parallel: the multi-version entries this thread created in the block.
	 * Each entry is created exactly once, so the lists of all threads name
	 * every key the block touched once; the merged write set walks them. */
	mvm_entry **created;
	size_t created_count;
	size_t created_cap;
};

typedef struct exec_stats {
	uint64_t executions;
	uint64_t validations;
	uint64_t aborts;
	uint64_t dependency_waits;
	uint64_t serial;
} BSTM_ALIGNED_CACHELINE exec_stats;

struct exec_worker {
	bstm_view view;
	bstm_arena arena;
	exec_stats stats;
	exec_write_ref *scratch; /* sorting buffer for output building */
	uint32_t scratch_cap;
	bstm_write *merged; /* their final writes, bytes in this worker's output arena */
	size_t merged_count;
	size_t merged_cap;
	bstm_sort_buf sort_buf; /* kept across blocks for sorting `merged` */
} BSTM_ALIGNED_CACHELINE;

/* One finished incarnation of a transaction; immutable once published. */
typedef struct exec_record {
	uint32_t incarnation;
	uint32_t read_count;
	uint32_t write_count;
	uint32_t event_count;
	int error;  /* the execution failed (deferred to commit) */
	bool final; /* read only committed data: valid by construction */
	/* The worker that ran it: while the block is calm, the one that
	 * commits it (parallel.c). */
	uint16_t worker;
	/* Set by a validation that passed after every lower transaction had
	 * committed: the commit need not validate again. */
	_Atomic uint32_t validated_final;
	bstm_txn_outcome outcome;
	/* Followed, in the same allocation, by read_count captures (none when
	 * final: nothing validates it), then
	 * write_count nodes and as many entries (the k-th write's), then
	 * event_count events: no pointers to them, so a record is a line or
	 * two smaller (see the accessors). */
} exec_record;

static inline mvm_capture *exec_record_reads(const exec_record *r)
{
	return (mvm_capture *)(uintptr_t)(r + 1);
}

static inline mvm_node **exec_record_nodes(const exec_record *r)
{
	return (mvm_node **)(exec_record_reads(r) + r->read_count);
}

static inline mvm_entry **exec_record_entries(const exec_record *r)
{
	return (mvm_entry **)(exec_record_nodes(r) + r->write_count);
}

static inline bstm_event *exec_record_events(const exec_record *r)
{
	return (bstm_event *)(exec_record_entries(r) + r->write_count);
}

struct exec_block_run {
	const bstm_block *block;
	const bstm_base_view *base;
	pthread_mutex_t *base_lock; /* NULL when the base view is thread-safe */
	struct bstm_executor *ex;
	exec_output *out;
	uint64_t gas_limit;
	uint32_t hooked;	   /* commit hook already called for txns below this */
	_Atomic int failure;	   /* first internal failure, 0 if none */
	_Atomic int commit_error;  /* the committed incarnation failed with this */
	uint32_t serial_from;	   /* first transaction of the running serial segment */
	exec_record serial_record; /* the record of every serially committed txn */
};

struct bstm_executor {
	bstm_config config;
	exec_pool pool;
	exec_worker *workers; /* config.threads of them; 0 is the caller */
	mvm mv;
	sched sc;
	exec_map overlay;     /* sequential, serial segments: the block's state overlay */
	bstm_arena seq_arena; /* sequential: block-lifetime memory */
	pthread_mutex_t base_lock;
	/* 1 while a block call runs: a second one (from a callback, or from
	 * another thread) is refused instead of resetting what the first uses. */
	_Atomic uint32_t busy;
};

/* view.c */
BSTM_INTERNAL int exec_view_init(bstm_view *v, uint32_t worker_id);
BSTM_INTERNAL void exec_view_destroy(bstm_view *v);
BSTM_INTERNAL void exec_view_begin(bstm_view *v, enum exec_mode mode, exec_block_run *run,
				   uint32_t txn, bool final);
/* The multi-version entry of a key, created (and listed in v->created) if
 * the block has none yet; NULL when out of memory. */
BSTM_INTERNAL mvm_entry *exec_view_entry(bstm_view *v, const void *key, uint32_t len,
					 uint64_t hash);
BSTM_INTERNAL int exec_base_get(exec_block_run *run, const void *key, size_t len,
				const void **value, size_t *value_len);

/* parallel.c / sequential.c */
/* On failure, *hooked tells how many transactions the commit hook has seen. */
BSTM_INTERNAL int exec_run_parallel(struct bstm_executor *ex, const bstm_block *block,
				    const bstm_base_view *base, exec_output **out,
				    uint32_t *hooked);
/* The sequential step after transaction idx ran in v without error: apply its
 * writes to ex->overlay and record its output (bytes into `arena`). */
BSTM_INTERNAL int exec_commit_local(struct bstm_executor *ex, exec_worker *w, exec_output *out,
				    bstm_arena *arena, uint32_t idx,
				    const bstm_txn_outcome *outcome);
/* Calls the commit hook only from transaction `hooked` on. On failure,
 * *hooked_out (unless NULL) tells how many transactions the hook has seen. */
BSTM_INTERNAL int exec_run_sequential(struct bstm_executor *ex, const bstm_block *block,
				      const bstm_base_view *base, exec_output **out,
				      uint32_t hooked, uint32_t *hooked_out);
/* A block that timing chose to run serially (scheduler.c, "Timed blocks"):
 * the sequential executor's run on the calling thread, reported as the
 * executor's (stats.timed_serial), and timed for the next choice. On
 * failure, *hooked tells how many transactions the commit hook has seen. */
BSTM_INTERNAL int exec_run_timed_serial(struct bstm_executor *ex, const bstm_block *block,
					const bstm_base_view *base, exec_output **out,
					uint32_t *hooked);
/* Shared by both: the block-limit and hook step of committing txn idx with
 * `gas`; `hooked` is its output when a commit hook is set. Returns true if the
 * block must end after idx. */
BSTM_INTERNAL bool exec_after_commit(exec_block_run *run, uint32_t idx, uint64_t gas,
				     const bstm_txn_output *hooked);
/* BSTM_ETXN if the transaction function failed or broke its contract (a
 * positive return, a status it may not report), else 0. */
BSTM_INTERNAL int exec_outcome_error(int rc, const bstm_txn_outcome *outcome);

/* Shared by both: a worker's part of the merged write set. Begin with room
 * for `n` writes, add final writes (bytes copied into `arena`, an arena of
 * the output), sort, then hand exec_merged_part(w) to
 * exec_output_set_merged. Each returns 0 or BSTM_ENOMEM. */
BSTM_INTERNAL int exec_merged_begin(exec_worker *w, size_t n);
/* w->scratch with room for at least n refs (n may be 0), or NULL only when
 * out of memory. */
BSTM_INTERNAL exec_write_ref *exec_scratch(exec_worker *w, uint32_t n);
BSTM_INTERNAL int exec_merged_add(exec_worker *w, bstm_arena *arena, const uint8_t *key,
				  uint32_t key_len, const uint8_t *value, uint32_t value_len,
				  bool is_delete);
BSTM_INTERNAL int exec_merged_sort(exec_worker *w);

static inline bstm_sorted_part exec_merged_part(const exec_worker *w)
{
	return (bstm_sorted_part){w->merged, w->merged_count, &w->sort_buf};
}

#endif
