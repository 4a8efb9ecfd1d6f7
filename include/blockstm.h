/*
 * blockstm.h - the public interface of libblockstm.
 *
 * libblockstm executes an ordered block of transactions in parallel with the
 * Block-STM algorithm (Gelashvili et al., PPoPP 2023) and returns exactly what
 * executing the block sequentially, in index order, returns: per-transaction
 * status, gas, write set and events, plus the block's merged write set.
 *
 * The node supplies three things:
 *   - a base state view (bstm_base_view): the state before the block, read by
 *     key; keys and values are byte strings;
 *   - a transaction function (bstm_txn_fn): executes transaction i against a
 *     bstm_view that offers read, write, delete and event emission;
 *   - optionally a commit hook, called in index order as transactions commit.
 *
 * Conventions
 *   - Every fallible call returns 0 or a negative BSTM_E* code; bstm_strerror()
 *     and bstm_errname() describe a code.
 *   - A transaction's failure (its program aborted, it ran out of gas, ...) is
 *     a status in the output, not an error of the call.
 *   - Structs passed in start with a `size` field: set it to sizeof the
 *     struct (bstm_config_init does for bstm_config, and writes no more
 *     than that). bstm_config also accepts 40, its size in the header
 *     before `timed_segments` and `reserved` were added: those take their
 *     defaults, and the 4 bytes after `spin_before_park` are read as
 *     `serial_segments` (in the first header, which ended at
 *     `spin_before_park`, they were padding: zero there turns serial
 *     segments off, which changes speed, never outputs). Later headers
 *     will accept this header's size in the same way. bstm_block and
 *     bstm_base_view must have exactly this header's size (BSTM_EINVAL
 *     otherwise).
 *
 * Concurrency
 *   - One bstm_executor runs one block at a time: a bstm_execute_block() or
 *     bstm_execute_block_sequential() call on an executor that is running
 *     one (from a callback of that block, or from another thread) returns
 *     BSTM_EBUSY and changes nothing. Distinct executors are independent.
 *     An executor must not be destroyed while a call on it runs.
 *   - The transaction function is called from the executor's worker threads
 *     and the calling thread, concurrently for different transactions (and,
 *     speculatively, several times for the same transaction, never two
 *     incarnations of one transaction at the same time).
 *   - The base view's get() is called from one thread at a time unless the view
 *     sets BSTM_VIEW_THREAD_SAFE, and never after the block call returns.
 *     "One at a time" is a lock held around each call, not one thread: calls
 *     come from any of the executor's threads, so a view tied to the thread
 *     that opened it (an LMDB read transaction without MDB_NOTLS) must not be
 *     used. Two executors sharing such a view are not serialized against
 *     each other.
 *   - The commit hook is called in index order, one call at a time, from any
 *     of the executor's threads, while the executor's commit lock is held: a
 *     slow hook delays every later commit.
 *   - bstm_output objects are plain data once returned and may be read from
 *     any thread.
 */
#ifndef BLOCKSTM_H
#define BLOCKSTM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(BSTM_BUILDING_LIBRARY) && defined(__GNUC__)
#define BSTM_API __attribute__((visibility("default")))
#else
#define BSTM_API
#endif

#define BSTM_VERSION_MAJOR 0
#define BSTM_VERSION_MINOR 1
#define BSTM_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * The error table: name, value, message. It generates the enum,
 * bstm_strerror() and bstm_errname(). Values are stable.
 */
#define BSTM_ERRNO_MAP(X)                                                                          \
	X(EINVAL, -1, "invalid argument")                                                          \
	X(ENOMEM, -2, "out of memory")                                                             \
	X(ENOTFOUND, -3, "key not found")                                                          \
	X(DEPENDENCY, -4, "read depends on an unfinished lower transaction")                       \
	X(ESTORAGE, -5, "base state storage error")                                                \
	X(ETHREAD, -6, "could not start a worker thread")                                          \
	X(ETXN, -7, "transaction function failed")                                                 \
	X(EINTERNAL, -8, "internal error")                                                         \
	X(ETOOBIG, -9, "key, value or block exceeds a size limit")                                 \
	X(EFORMAT, -10, "malformed input")                                                         \
	X(EVERIFY, -11, "verification failed")                                                     \
	X(EEXIST, -12, "already exists")                                                           \
	X(EIO, -13, "input/output error")                                                          \
	X(EUNSUPPORTED, -14, "unsupported operation or version")                                   \
	X(EBUSY, -15, "executor is running another block")

typedef enum bstm_error {
	BSTM_OK = 0,
#define BSTM_ERRNO_ENUM_(name, value, message) BSTM_##name = (value),
	BSTM_ERRNO_MAP(BSTM_ERRNO_ENUM_)
#undef BSTM_ERRNO_ENUM_
} bstm_error;

/* A static message for `code` ("success" for 0, "unknown error" for codes
 * not in the table). */
BSTM_API const char *bstm_strerror(int code);
/* The code's name without the prefix, e.g. "EINVAL"; "OK" for 0, "UNKNOWN"
 * if not listed. */
BSTM_API const char *bstm_errname(int code);

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

#define BSTM_MAX_KEY_LEN    1024u	/* bytes */
#define BSTM_MAX_VALUE_LEN  (64u << 20) /* bytes */
#define BSTM_MAX_BLOCK_TXNS (1u << 24)	/* transactions per block */

/* ------------------------------------------------------------------------ */
/* Base state view (supplied by the node)                                    */
/* ------------------------------------------------------------------------ */

/* bstm_base_view.flags: get() may be called from several threads at once. */
#define BSTM_VIEW_THREAD_SAFE 0x1u

typedef struct bstm_base_view {
	size_t size; /* sizeof(bstm_base_view) */
	/*
	 * Look up `key`. On success set *value / *value_len and return 0; the
	 * bytes must stay valid and unchanged until the block call returns.
	 * Return BSTM_ENOTFOUND if the key is absent, or another negative code
	 * (BSTM_ESTORAGE is usual; BSTM_ENOMEM, BSTM_EIO or a node's own code
	 * are passed on) on failure. A positive return, BSTM_DEPENDENCY, the
	 * codes of the library's own failures (BSTM_ETXN, BSTM_EINTERNAL,
	 * BSTM_ETHREAD), the codes that reject a single view call
	 * (BSTM_EINVAL, BSTM_ETOOBIG) or a block call (BSTM_EBUSY), a NULL value with a non-zero
	 * length, or a value longer than BSTM_MAX_VALUE_LEN count as BSTM_ESTORAGE. The failure
	 * reaches the transaction function as the read's result; if the
	 * execution that commits saw it, the block call fails with that code
	 * and returns no output, as the sequential executor does, while a
	 * speculative execution that saw it and was redone leaves no trace,
	 * whatever the code (so a get() that fails only sometimes may not fail
	 * the block). A parallel run that fails with BSTM_ENOMEM this way is
	 * run again sequentially when the fallback is on, calling get() again
	 * (a block below small_block_threshold already ran sequentially and
	 * returns the code).
	 */
	int (*get)(void *ctx, const void *key, size_t key_len, const void **value,
		   size_t *value_len);
	void *ctx;
	unsigned flags; /* BSTM_VIEW_* */
} bstm_base_view;

/* ------------------------------------------------------------------------ */
/* The transaction interface                                                 */
/* ------------------------------------------------------------------------ */

/* The view a transaction function reads and writes state through. It is
 * valid only during that call of the function, on the calling thread: the
 * executor reuses it for other transactions, and using it later is
 * undefined. */
typedef struct bstm_view bstm_view;

/*
 * Read `key` as transaction `index` sees it: its own earlier writes, else the
 * latest write by a lower transaction, else the base state. Returns 0 and sets
 * *value / *value_len (valid until the transaction function returns), or
 * BSTM_ENOTFOUND if the key is absent or deleted, or BSTM_DEPENDENCY if the
 * value depends on a lower transaction that must run first: the transaction
 * function must then return BSTM_DEPENDENCY at once (the executor runs it
 * again later).
 *
 * Errors of the view calls (read, write, delete, emit) come in two kinds:
 *   - BSTM_EINVAL (a NULL view or out pointer, a NULL key or value with a
 *     non-zero length) and BSTM_ETOOBIG (a key over BSTM_MAX_KEY_LEN, a
 *     value or event over BSTM_MAX_VALUE_LEN) reject this call only and
 *     change nothing: the function may go on, e.g. report the transaction
 *     FAILED, or return the code, which fails the block with BSTM_ETXN;
 *   - a failure of the base view (see bstm_base_view.get) or BSTM_ENOMEM
 *     sticks: every later view call of this execution that passes the
 *     argument checks above returns the same code,
 *     and if this execution is the one that commits, the block fails with
 *     that code whatever the function returns. The function should return
 *     it as it is. (BSTM_EINTERNAL, a broken invariant, sticks too. The
 *     library's own BSTM_ENOMEM and BSTM_EINTERNAL, unlike the view's,
 *     also stop a parallel run at once, whichever execution met them.)
 *
 * Reading a key twice in one execution returns the same bytes, unless the
 * transaction wrote or deleted it in between (then it reads its own write).
 */
BSTM_API int bstm_view_read(bstm_view *view, const void *key, size_t key_len, const void **value,
			    size_t *value_len);

/* Write `value` under `key`; a later write to the same key replaces it. The
 * bytes are copied. Returns 0 or an error as described above. */
BSTM_API int bstm_view_write(bstm_view *view, const void *key, size_t key_len, const void *value,
			     size_t value_len);

/* Delete `key` (a write of "absent"). Returns 0 or an error as above. */
BSTM_API int bstm_view_delete(bstm_view *view, const void *key, size_t key_len);

/* Append an event (at most BSTM_MAX_VALUE_LEN bytes) to the transaction's
 * output. The bytes are copied. Returns 0 or an error as above. */
BSTM_API int bstm_view_emit(bstm_view *view, const void *data, size_t len);

/* The index of the transaction being executed. */
BSTM_API uint32_t bstm_view_txn_index(const bstm_view *view);

/*
 * The executing thread's worker number, 0 .. threads - 1 (0 is the calling
 * thread and the sequential executor). Stable for the executor's lifetime, so
 * a node can keep per-worker scratch state (a VM instance) indexed by it; no
 * two concurrent calls of one executor share a worker number (numbers are
 * per executor: two executors running at once both use 0).
 */
BSTM_API uint32_t bstm_view_worker(const bstm_view *view);

/*
 * Transaction statuses. The function reports SUCCESS, ABORTED, OUT_OF_GAS,
 * FAILED or DISCARDED; the executor assigns RETRY to the transactions after
 * the point where the block ended early (block gas limit). A RETRY
 * transaction is not committed, but the function may have been called for
 * it speculatively: its results are dropped, which is why the function must
 * have no effect outside the view.
 *   SUCCESS     ran to completion; its writes apply.
 *   ABORTED     its program aborted with `code`; the writes the function
 *               made (typically only the fee payment) apply.
 *   OUT_OF_GAS  ran out of gas; writes as for ABORTED.
 *   FAILED      a runtime or verification failure, `code` says which;
 *               writes as for ABORTED.
 *   DISCARDED   rejected before running (bad sequence number, cannot pay):
 *               the executor drops its writes and events; gas counts as 0.
 *   RETRY       not committed; the node should put it in a later block.
 */
typedef enum bstm_txn_status {
	BSTM_TXN_SUCCESS = 0,
	BSTM_TXN_ABORTED = 1,
	BSTM_TXN_OUT_OF_GAS = 2,
	BSTM_TXN_FAILED = 3,
	BSTM_TXN_DISCARDED = 4,
	BSTM_TXN_RETRY = 5,
} bstm_txn_status;

/* What a transaction function reports about a completed execution. */
typedef struct bstm_txn_outcome {
	uint32_t status;   /* bstm_txn_status */
	uint64_t code;	   /* abort or failure code; passed through as set */
	uint64_t gas_used; /* counts toward the block gas limit */
} bstm_txn_outcome;

/*
 * Execute transaction `index` of the block. `ctx` is bstm_block.ctx.
 * *outcome starts zeroed (SUCCESS, code 0, gas 0).
 * Return 0 with *outcome filled, BSTM_DEPENDENCY when a read returned it, or
 * another negative code for a failure of the function itself (not of the
 * transaction). If the execution that commits does that, returns a positive
 * value, or reports a status other than the five above, the block fails
 * with BSTM_ETXN (after one sequential retry when the executor's fallback is
 * on), unless a sticky view error decides the code (see bstm_view_read). The
 * function must be deterministic given what it reads through the view, and
 * must have no other effect: it may run several times per transaction.
 */
typedef int (*bstm_txn_fn)(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome);

/* ------------------------------------------------------------------------ */
/* Outputs                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct bstm_write {
	const uint8_t *key;
	const uint8_t *value; /* NULL for a delete */
	uint32_t key_len;
	uint32_t value_len;
	uint32_t is_delete; /* 1 if the key is deleted */
} bstm_write;

typedef struct bstm_event {
	const uint8_t *data;
	uint32_t len;
} bstm_event;

typedef struct bstm_txn_output {
	uint32_t status; /* bstm_txn_status */
	uint64_t code;
	uint64_t gas_used;
	const bstm_write *writes; /* sorted by key, one entry per key */
	uint32_t write_count;
	const bstm_event *events; /* in emission order */
	uint32_t event_count;
} bstm_txn_output;

typedef struct bstm_block_stats {
	uint64_t executions;	   /* transaction function calls, all incarnations,
				    * speculative ones past a gas-limit cut too */
	uint64_t validations;	   /* read-set validations */
	uint64_t aborts;	   /* incarnations aborted by validation */
	uint64_t dependency_waits; /* executions stopped on a dependency */
	uint32_t committed;	   /* transactions committed (not RETRY) */
	uint32_t threads;	   /* config.threads of a parallel or timed serial
				    * run; 1 if sequential */
	uint32_t sequential;	   /* 1 if the block ran on the sequential path: a
				    * small block, the sequential entry point or a
				    * fallback (not a timed serial block) */
	uint32_t fallback;	   /* 1 if the parallel run (or a timed serial
				    * block) failed and the sequential retry ran:
				    * the other stats are then the retry's */
	uint64_t wall_ns;	   /* wall time of the block call */
	uint64_t gas_used;	   /* sum over committed transactions (at most
				    * UINT64_MAX: the sum saturates) */
	uint64_t serial_txns;	   /* of executions: run in serial segments */
	uint32_t timed_serial;	   /* 1 if timing chose to run the block serially
				    * (config.timed_segments): the sequential
				    * executor's loop on the calling thread; then
				    * serial_txns = executions, sequential = 0 */
} bstm_block_stats;

/*
 * A block's output. Owned by the caller until bstm_output_free(); read-only.
 * txns has txn_count entries, one per transaction of the block. writes is the
 * block's merged write set: the last write to each key, in key order (keys
 * compare as unsigned bytes, a prefix before its extensions).
 */
typedef struct bstm_output {
	uint32_t txn_count;
	const bstm_txn_output *txns;
	size_t write_count;
	const bstm_write *writes;
	bstm_block_stats stats;
} bstm_output;

BSTM_API void bstm_output_free(bstm_output *output);

/*
 * 1 if the two outputs are identical (statuses, codes, gas, per-transaction
 * write sets and events, merged write set), 0 otherwise. Stats are ignored.
 */
BSTM_API int bstm_output_equal(const bstm_output *a, const bstm_output *b);

/* ------------------------------------------------------------------------ */
/* Blocks and the executor                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Called once per committed transaction (RETRY excluded, every other status
 * included), in index order, as soon as it commits (before the block call
 * returns). `out` is valid during the call. If a parallel run fails and the
 * block is re-run sequentially (fallback), the hook is not called again for
 * the transactions it has already seen: their outputs are identical, so it
 * simply continues. If the block call fails in the end, the hook has seen a
 * prefix of a block that produced no output: the node must drop what it
 * streamed.
 */
typedef void (*bstm_commit_hook)(void *ctx, uint32_t index, const bstm_txn_output *out);

typedef struct bstm_block {
	size_t size; /* sizeof(bstm_block) */
	uint32_t txn_count;
	bstm_txn_fn execute;
	void *ctx;		      /* passed to execute */
	bstm_commit_hook commit_hook; /* optional */
	void *hook_ctx;
} bstm_block;

typedef struct bstm_config {
	size_t size; /* sizeof(bstm_config) */
	/* Total, including the calling thread; 1..1024. With 1, blocks at or
	 * above small_block_threshold still run the parallel machinery on the
	 * calling thread (the tests use this); it is slower than
	 * bstm_execute_block_sequential, which a single-threaded node should
	 * call instead. */
	uint32_t threads;
	/* 0: unlimited. Otherwise the block ends after the first transaction
	 * whose gas brings the committed sum to the limit or above (that one is
	 * included); the rest are RETRY. */
	uint64_t block_gas_limit;
	uint32_t sequential_fallback; /* 1: rerun sequentially on internal failure */
	/* Blocks with fewer transactions run sequentially. BSTM_DEFAULT_SMALL_BLOCK
	 * is the measured default (see docs/benchmarks.md); 0 never does. */
	uint32_t small_block_threshold;
	uint32_t spin_before_park; /* idle spins before a worker parks; 0: 2000 */
	/* 1 (default): when conflicts keep the speculation window at 1-2
	 * transactions, the calling thread runs the next transactions itself,
	 * in order, without multi-version bookkeeping, for as long as they
	 * keep depending on their near predecessors, and no new speculative
	 * execution starts meanwhile (ones already under way finish); a block
	 * after a mostly serial one starts that way. 0: always speculate.
	 * Outputs are equal either way. */
	uint32_t serial_segments;
	/* 1 (default), with serial_segments on and at least 2 threads: the
	 * executor times each block, per unit of gas its committed
	 * transactions used (per committed transaction in blocks that used
	 * no gas; a change of unit restarts the timing). When blocks it ran serially (as the
	 * sequential executor does, on the calling thread) took less than 8/9 of the time per unit
	 * of blocks it ran in parallel (each mode rated by the better of its last two blocks; on a
	 * machine where moving cache lines between cores costs more than the second core gains,
	 * say), or less time at all when the last parallel block ran mostly in serial segments, the
	 * next blocks run serially; the mode that lost is tried again after 8 blocks, then after
	 * twice as many each time it loses again, up to 128. Of the blocks that take the parallel
	 * path (at least small_block_threshold transactions) and succeed
	 * without a fallback, the first three run in parallel and the next two serially (the
	 * first block of each mode is not timed).
	 * Time per unit is compared across blocks, so the choice bets that
	 * consecutive blocks run alike in parallel. Which mode a block runs in
	 * depends on timing; outputs do not. 0: never. */
	uint32_t timed_segments;
	/* 0. It keeps the struct free of trailing padding, so that every
	 * field added later makes the struct larger, and the size a caller
	 * passes tells which fields it knows. */
	uint32_t reserved;
} bstm_config;

/* Measured (docs/benchmarks.md, "Small blocks"): with 2 threads and
 * transactions of about 1 us, parallel execution reaches parity with
 * sequential between 32 and 128 transactions (64 in most runs); below,
 * waking the workers and setting up the block cost more than the
 * parallelism gains. Heavier transactions favour a lower threshold. */
#define BSTM_DEFAULT_SMALL_BLOCK 64u

/* Fill the first `size` bytes of `config` with the defaults (1 thread, no
 * gas limit, fallback on, small_block_threshold BSTM_DEFAULT_SMALL_BLOCK,
 * serial and timed segments on) and set config->size = size; nothing past
 * `size` is written. `size` is sizeof(bstm_config) in the header the
 * caller was built with: this one's, or 40 (see Conventions). Returns 0,
 * or BSTM_EINVAL for NULL or another size. */
BSTM_API int bstm_config_init_size(bstm_config *config, size_t size);

/* Fill `config` with the defaults for this header's struct. */
static inline void bstm_config_init(bstm_config *config)
{
	(void)bstm_config_init_size(config, sizeof *config);
}

typedef struct bstm_executor bstm_executor;

/* Create an executor; its threads - 1 worker threads start now and persist. */
BSTM_API int bstm_executor_create(const bstm_config *config, bstm_executor **executor);
BSTM_API void bstm_executor_destroy(bstm_executor *executor);

/*
 * Execute `block` on `base` in parallel. On success return 0 and set *output.
 * On failure return a negative code and set *output to NULL; nothing partial
 * is returned (but see bstm_commit_hook). A parallel run (or a block that
 * timing runs serially, config.timed_segments) that fails with BSTM_ENOMEM,
 * BSTM_EINTERNAL or BSTM_ETXN is run again sequentially when
 * config.sequential_fallback is set; other codes (a storage error) are
 * returned at once. A block below config.small_block_threshold runs
 * sequentially in the first place and is not run again.
 */
BSTM_API int bstm_execute_block(bstm_executor *executor, const bstm_block *block,
				const bstm_base_view *base, bstm_output **output);

/* The same, executed in index order on the calling thread only, without the
 * multi-version memory or the scheduler. Its output is the reference. Of the
 * config it uses block_gas_limit (and the hook); threads, the thresholds and
 * the fallback do not apply. */
BSTM_API int bstm_execute_block_sequential(bstm_executor *executor, const bstm_block *block,
					   const bstm_base_view *base, bstm_output **output);

/* Library version as "major.minor.patch". */
BSTM_API const char *bstm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BLOCKSTM_H */
