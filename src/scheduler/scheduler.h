/*
 * scheduler.h - the Block-STM collaborative scheduler with a rolling commit
 * index. See scheduler.c for the protocol, its invariants and the choice of
 * commit design.
 */
#ifndef BSTM_SCHEDULER_H
#define BSTM_SCHEDULER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/common.h"

enum sched_status {
	SCHED_READY = 0,     /* waiting to run incarnation `inc` */
	SCHED_EXECUTING = 1, /* incarnation `inc` is running */
	SCHED_EXECUTED = 2,  /* incarnation `inc` finished, writes recorded */
	SCHED_ABORTING = 3,  /* incarnation `inc` aborted or waiting on a dependency */
	SCHED_COMMITTED = 4, /* final; never changes again */
};

#define SCHED_NONE UINT32_MAX

/* The status word: incarnation << 8 | status. */
static inline uint64_t sched_word(uint32_t incarnation, enum sched_status status)
{
	return (uint64_t)incarnation << 8 | (uint64_t)status;
}
static inline enum sched_status sched_word_status(uint64_t w)
{
	return (enum sched_status)(w & 0xff);
}
static inline uint32_t sched_word_incarnation(uint64_t w)
{
	return (uint32_t)(w >> 8);
}

/*
 * One transaction's scheduling state: 32 bytes, two to a cache line. With a
 * line each, the array every execution, commit and block start walks was
 * twice as large, and at 10,000 transactions it competes for the cache with
 * the block's data; neighbours share a line mostly within one claimed run,
 * which a single worker executes, so the sharing costs little.
 */
typedef struct sched_txn {
	_Atomic uint64_t word;
	_Atomic uint32_t lock;	 /* guards EXECUTED vs. dependency registration */
	uint32_t dependents;	 /* head of the waiting list (txn indices), under lock */
	uint32_t next_dependent; /* link while this txn waits on another */
	/* The executor's record of the latest finished incarnation, on the
	 * status word's line because both are read together. */
	_Atomic(void *) record;
} __attribute__((aligned(32))) sched_txn;

_Static_assert(sizeof(sched_txn) == 32, "two transactions per cache line");

enum sched_task_kind { SCHED_TASK_NONE, SCHED_TASK_EXECUTE, SCHED_TASK_VALIDATE };

typedef struct sched_task {
	enum sched_task_kind kind;
	uint32_t txn;
	uint32_t incarnation;
} sched_task;

typedef struct sched {
	/* Each hot counter on its own cache line: every worker touches them. */
	_Atomic uint32_t execution_idx BSTM_ALIGNED_CACHELINE;
	_Atomic uint32_t validation_idx BSTM_ALIGNED_CACHELINE;
	_Atomic uint32_t commit_idx BSTM_ALIGNED_CACHELINE;
	_Atomic uint32_t commit_lock;
	_Atomic uint32_t stop; /* block halted (gas limit) or failed */
	/* Committer-private (under the commit lock), written on every commit,
	 * so on a line of their own and not on commit_idx's, which every
	 * worker polls: the next transaction to commit (commit_idx lags behind
	 * it while the committer holds the lock, see sched_commit_held); the
	 * window in eighths of a transaction; consecutive commits with the
	 * window at most SCHED_SERIAL_WINDOW, and the transactions committed
	 * in serial segments in this block. */
	uint32_t next_commit BSTM_ALIGNED_CACHELINE;
	uint32_t window_eighths;
	uint32_t serial_streak;
	uint32_t serial_committed;
	/* Speculation window: executions start only below commit_idx + window.
	 * Written by the committer only, when it changes; read by every
	 * worker. */
	_Atomic uint32_t window BSTM_ALIGNED_CACHELINE;
	/* A serial segment is due at commit_idx: set by the committer (or at
	 * the start of a block), cleared when the segment begins. */
	_Atomic bool serial_pending;
	uint32_t window_max;
	/* The executor's setting (off after sched_init): calm blocks run
	 * without early validation and commit on the executing worker. */
	bool calm_enabled;
	uint32_t threads;
	/* serial_carry is kept across blocks: the last parallel block ran
	 * mostly in serial segments. serial_enabled is the executor's setting
	 * (off after sched_init; sched_plan_block sets it). */
	bool serial_carry;
	bool serial_enabled;
	/* Timed blocks (scheduler.c), planned by sched_plan_block:
	 * timed_enabled is the executor's setting, in effect with serial
	 * segments on and at least 2 threads. block_serial: this block runs
	 * serially, on the calling thread; block_probe: it runs in the mode
	 * that lost the last comparison. The rest is kept across blocks: the
	 * rates measured (per unit of work, 0: none yet) of the last two
	 * blocks run in parallel and of the last two run serially, which mode
	 * won, and the blocks between probes of the other. */
	bool timed_enabled;
	bool block_serial;
	bool block_probe;
	bool timed_serial;
	bool next_probe;	   /* the next block is a probe of the mode that lost */
	bool timed_warm[2];	   /* [serial]: a block of the mode has been timed
				    * (and thrown away) */
	uint8_t rate_unit;	   /* SCHED_UNIT_*: what the rates are per */
	bool unit_pending;	   /* the last block was in the other unit */
	uint64_t parallel_rate[2]; /* the last two, newest first */
	uint64_t serial_rate[2];
	uint32_t probe_gap;
	uint32_t probe_left;
	uint32_t txn_count BSTM_ALIGNED_CACHELINE;
	uint32_t capacity;
	sched_txn *txns;
} sched;

BSTM_INTERNAL int sched_init(sched *s);
BSTM_INTERNAL void sched_destroy(sched *s);
/* Before a block that takes the parallel path (single-threaded), with the
 * executor's settings (serial segments, timed blocks): whether timing runs
 * it serially. Such a block runs as the sequential executor runs
 * blocks, without sched_begin_block or sched_end_block, so it leaves the
 * chain rule's carry as the last parallel block set it. */
BSTM_INTERNAL bool sched_plan_block(sched *s, bool serial, bool timed, uint32_t threads);
BSTM_INTERNAL int sched_begin_block(sched *s, uint32_t txn_count, uint32_t threads);
/* After the last commit of a parallel block (single-threaded): remember how
 * the block ran, for the start of the next one. */
BSTM_INTERNAL void sched_end_block(sched *s);
/* After a planned block that succeeded, in either mode (single-threaded),
 * with its wall time, the transactions it committed and the gas they used:
 * time it for the choice of the next block's mode. */
BSTM_INTERNAL void sched_time_block(sched *s, uint64_t wall_ns, uint32_t committed, uint64_t gas);
/* Rates are ns per unit of work (a unit of gas, or a transaction where a
 * block used no gas) times SCHED_RATE_ONE, at most SCHED_RATE_MAX (2^40 ns
 * per unit). */
#define SCHED_RATE_ONE (1ull << 20)
#define SCHED_RATE_MAX (1ull << 60)
enum { SCHED_UNIT_NONE, SCHED_UNIT_TXN, SCHED_UNIT_GAS };

/*
 * Timed blocks (scheduler.c explains them). A block runs serially when
 * serial blocks took less than 8/9 of the time per unit of work of parallel
 * ones (each mode rated by the better of its last two blocks), or less time
 * at all when the last parallel block ran mostly in serial segments; the
 * mode that lost is tried again after SCHED_PROBE_FIRST blocks, then after
 * twice as many each time it loses again, up to SCHED_PROBE_MAX.
 */
#define SCHED_PROBE_FIRST 8u
#define SCHED_PROBE_MAX	  128u

/* Whether serial execution at serial_rate beats a parallel run at
 * parallel_rate (both per unit of work): by the margin, or at all when the
 * parallel run was itself mostly serial segments (`chained`: it had no
 * parallelism that serial blocks would give up). */
static inline bool sched_serial_faster(uint64_t serial_rate, uint64_t parallel_rate, bool chained)
{
	if (chained)
		return serial_rate < parallel_rate;
	/* Rates are at most SCHED_RATE_MAX: no overflow. */
	return serial_rate * 9 < parallel_rate * 8;
}

/* A worker's claimed run of consecutive transactions to execute. */
typedef struct sched_cursor {
	uint32_t next;
	uint32_t end;
} sched_cursor;

/* The next task. With a cursor, executions are claimed a run at a time (the
 * run's length follows the speculation window) and handed out in order;
 * without one, one at a time. */
BSTM_INTERNAL sched_task sched_next_task(sched *s, sched_cursor *cursor);
/* txn's execution read an ESTIMATE of `blocking`. True: txn now waits (its
 * status is ABORTING) and the caller drops the execution; false: blocking has
 * already finished, read again. */
BSTM_INTERNAL bool sched_add_dependency(sched *s, uint32_t txn, uint32_t blocking);
BSTM_INTERNAL sched_task sched_finish_execution(sched *s, uint32_t txn, uint32_t incarnation,
						bool wrote_new_path);
BSTM_INTERNAL bool sched_try_validation_abort(sched *s, uint32_t txn, uint32_t incarnation);
BSTM_INTERNAL sched_task sched_finish_validation(sched *s, uint32_t txn, bool aborted);

/* Rolling commit (single committer at a time). */
BSTM_INTERNAL bool sched_commit_trylock(sched *s);
BSTM_INTERNAL void sched_commit_unlock(sched *s);
/* The committer takes over an aborted txn (it won the abort of `incarnation`)
 * to re-execute it in place: status becomes EXECUTING incarnation + 1. */
BSTM_INTERNAL void sched_take_over(sched *s, uint32_t txn, uint32_t incarnation);
/* EXECUTED(incarnation) -> COMMITTED for txn == sched_next_commit(); false
 * if it was aborted meanwhile. Adapts the speculation window: a transaction
 * that needed more than one incarnation shrinks it, a clean one grows it.
 * The new commit index is published by sched_commit_publish or the unlock,
 * so that a committer committing a run of transactions stores commit_idx,
 * which every worker polls, once for the run. Meanwhile commit_idx only
 * lags: everything below it is committed all the same. */
BSTM_INTERNAL bool sched_commit_held(sched *s, uint32_t txn, uint32_t incarnation);
BSTM_INTERNAL void sched_commit_publish(sched *s);
/* The transaction the committer commits next (committer only). */
static inline uint32_t sched_next_commit(const sched *s)
{
	return s->next_commit;
}
/* The executor's worker takes `txn` if it is the next index of its claimed
 * run (READY -> EXECUTING, as next_task would); false otherwise. */
BSTM_INTERNAL bool sched_take_from_cursor(sched *s, sched_cursor *cursor, uint32_t txn,
					  uint32_t *incarnation);

/*
 * Serial segments (committer only; scheduler.c explains them). When
 * sched_serial_pending() is true, the committer runs a segment from
 * commit_idx: sched_serial_begin(), then for each transaction, in order,
 * sched_serial_claim() (wait for and take ownership; false: the block
 * stopped) and, once the serial execution is final, sched_serial_finish()
 * (COMMITTED, waiters resumed), and at the end, with the segment's writes in
 * the multi-version memory, sched_serial_end() with the index after its last
 * transaction.
 *
 * A segment is due after SCHED_SERIAL_STREAK consecutive commits with the
 * window at most SCHED_SERIAL_WINDOW, and at the start of a block after one
 * that committed at least half of its transactions in segments. It goes on,
 * chunk by chunk of SCHED_SERIAL_CHUNK transactions, while at least
 * SCHED_SERIAL_DENSE transactions of a chunk are chained: they read a key
 * written by one of the sched_serial_near() transactions before them, which a
 * parallel run would have executed at the same time.
 */
#define SCHED_SERIAL_WINDOW 2u
#define SCHED_SERIAL_STREAK 32u
#define SCHED_SERIAL_CHUNK  64u
#define SCHED_SERIAL_DENSE  16u

static inline bool sched_serial_pending(sched *s)
{
	/* Relaxed: a hint for idle workers; the commit lock orders the rest. */
	return atomic_load_explicit(&s->serial_pending, memory_order_relaxed);
}

/* How far back a read makes a transaction chained: two per thread. */
static inline uint32_t sched_serial_near(const sched *s)
{
	return 2 * s->threads;
}

/* Whether a segment goes on after a chunk with `chained` such transactions. */
static inline bool sched_serial_dense(uint32_t chained)
{
	return chained >= SCHED_SERIAL_DENSE;
}

BSTM_INTERNAL void sched_serial_begin(sched *s);
BSTM_INTERNAL bool sched_serial_claim(sched *s, uint32_t txn, uint32_t *incarnation);
BSTM_INTERNAL void sched_serial_finish(sched *s, uint32_t txn, uint32_t incarnation);
BSTM_INTERNAL void sched_serial_end(sched *s, uint32_t end);

static inline uint64_t sched_load_word(sched *s, uint32_t txn)
{
	/* Acquire pairs with the release that set the status, so the owner's
	 * recorded read and write sets are visible to whoever sees EXECUTED. */
	return atomic_load_explicit(&s->txns[txn].word, memory_order_acquire);
}

static inline uint32_t sched_commit_idx(sched *s)
{
	/* Acquire pairs with the committer's release: everything committed
	 * below the index is visible. */
	return atomic_load_explicit(&s->commit_idx, memory_order_acquire);
}

static inline bool sched_stopped(sched *s)
{
	return atomic_load_explicit(&s->stop, memory_order_acquire) != 0;
}

static inline bool sched_done(sched *s)
{
	return sched_commit_idx(s) >= s->txn_count || sched_stopped(s);
}

/*
 * Calm: enabled, and the speculation window is fully open, so the recent
 * commits needed no re-execution (scheduler.c, "Calm blocks"). Then no
 * validation task is handed out (the commit's validation is the one that
 * counts) and the executor leaves each commit to the worker that executed
 * the transaction. Relaxed: a hint like every window value; it only changes
 * who does what when, never an output.
 */
static inline bool sched_calm(sched *s)
{
	return s->calm_enabled &&
	       atomic_load_explicit(&s->window, memory_order_relaxed) == s->window_max;
}

BSTM_INTERNAL void sched_stop(sched *s);
/* Idle workers call this: if the transaction every commit waits for is
 * READY, make sure execution_idx will reach it. A guard for liveness only;
 * the protocol keeps "READY implies execution_idx <= it or being incarnated"
 * on its own. */
BSTM_INTERNAL void sched_ensure_progress(sched *s);
/* True if next_task could find something now: an empty answer from it was a
 * lost race, not a lack of work, and the caller should ask again rather than
 * back off. */
BSTM_INTERNAL bool sched_has_work(sched *s, const sched_cursor *cursor);

#endif
