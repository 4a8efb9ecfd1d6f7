/*
 * testkit.h - shared helpers for the test programs (prefix tk_).
 *
 * Three parts:
 *   - tk_base: an in-memory base state (byte-string keys to values) that
 *     implements bstm_base_view. It can claim not to be thread-safe, and then
 *     counts every call it sees while another call is in flight; it can fail
 *     a chosen key with BSTM_ESTORAGE; it can be closed so that a call after
 *     the block call returned is counted as a violation.
 *   - tk_block: a random block. Each transaction is a short program (reads,
 *     writes, deletes, counters, events, gas, outcome) whose written values,
 *     later keys and gas depend on what it read. tk_block_txn interprets it
 *     through bstm_view_*; tk_block_model runs the same programs in index
 *     order over a plain overlay map and builds the output that the
 *     executor must return, independently of the library.
 *   - output helpers: self-consistency checks of one bstm_output and a
 *     compact description of the first difference between two.
 *
 * Nothing here depends on Criterion: plain-main drivers link it too.
 */
#ifndef TESTKIT_H
#define TESTKIT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "blockstm.h"

/* ------------------------------------------------------------------------ */
/* Random numbers                                                            */
/* ------------------------------------------------------------------------ */

/* xoshiro256** seeded through splitmix64: the same seed, the same stream. */
typedef struct tk_rng {
	uint64_t s[4];
} tk_rng;

void tk_rng_seed(tk_rng *rng, uint64_t seed);
uint64_t tk_rng_next(tk_rng *rng);
/* Uniform in [0, n); 0 when n is 0. */
uint64_t tk_rng_below(tk_rng *rng, uint64_t n);
/* Uniform in [lo, hi]. */
uint64_t tk_rng_range(tk_rng *rng, uint64_t lo, uint64_t hi);
/* 1 with probability percent / 100. */
int tk_rng_chance(tk_rng *rng, unsigned percent);

/* The splitmix64 finalizer: a bijective 64-bit mixer. */
uint64_t tk_mix64(uint64_t x);
/* A 64-bit hash of bytes, chained from `seed`. */
uint64_t tk_hash(const void *data, size_t len, uint64_t seed);
/* Fill `len` bytes with a stream derived from `seed`. */
void tk_fill(void *dst, size_t len, uint64_t seed);

/* Unsigned-byte key order, a prefix before its extensions (as the output). */
int tk_key_cmp(const void *a, size_t a_len, const void *b, size_t b_len);
/* A malloc'd copy of `len` bytes (not NULL for len 0), or NULL when out of
 * memory. */
void *tk_memdup(const void *data, size_t len);
/* Parse exactly `n` comma-separated counts, each 1..max, into out[]; -1 (and
 * out untouched) if `arg` is anything else. For the drivers' --threads. */
int tk_parse_counts(const char *arg, uint32_t *out, int n, uint32_t max);
/* a + b, at most UINT64_MAX: how a block sums its transactions' gas. */
uint64_t tk_gas_add(uint64_t a, uint64_t b);

/* ------------------------------------------------------------------------ */
/* In-memory base view                                                       */
/* ------------------------------------------------------------------------ */

typedef struct tk_base tk_base;

tk_base *tk_base_new(void);
void tk_base_free(tk_base *base);
/* Remove every key, failure and counter; keeps the mode flags. */
void tk_base_clear(tk_base *base);
/* Insert or replace; value may be NULL when value_len is 0. 0 or BSTM_ENOMEM. */
int tk_base_put(tk_base *base, const void *key, size_t key_len, const void *value,
		size_t value_len);
/* From now on get(key) returns `code` (BSTM_ESTORAGE usually). */
int tk_base_fail_key(tk_base *base, const void *key, size_t key_len, int code);
/* 1: set BSTM_VIEW_THREAD_SAFE; 0: do not, and check that calls never overlap. */
void tk_base_set_thread_safe(tk_base *base, int thread_safe);
/*
 * Open the view for one block call (resets the violation counters) and fill
 * `view`; tk_base_close() after the call returns: any get() while closed is a
 * violation.
 */
void tk_base_open(tk_base *base, bstm_base_view *view);
void tk_base_close(tk_base *base);
/* get() calls since open. */
uint64_t tk_base_gets(const tk_base *base);
/* Overlapping calls seen in not-thread-safe mode, and calls while closed. */
uint64_t tk_base_overlaps(const tk_base *base);
uint64_t tk_base_late_calls(const tk_base *base);
/* Plain lookup for the model: 0, BSTM_ENOTFOUND or the injected code. */
int tk_base_lookup(const tk_base *base, const void *key, size_t key_len, const void **value,
		   size_t *value_len);
size_t tk_base_count(const tk_base *base);

/* ------------------------------------------------------------------------ */
/* Random blocks                                                             */
/* ------------------------------------------------------------------------ */

/* Operations of a transaction program. */
enum tk_op_kind {
	TK_OP_READ,   /* read key; mix the value (or "absent") into the running hash */
	TK_OP_WRITE,  /* write key = bytes derived from the running hash */
	TK_OP_DELETE, /* delete key */
	TK_OP_INCR,   /* read key as a little-endian u64 counter, write it + 1 */
	TK_OP_EMIT,   /* emit an event derived from the running hash */
	TK_OP_GAS,    /* charge gas that depends on the running hash */
	TK_OP_STATUS, /* maybe end the transaction with a non-success status */
	TK_OP_FAIL,   /* maybe fail the function itself (returns TK_FN_FAILURE) */
};

/* How an operation names its key. */
enum tk_key_mode {
	TK_KEY_FIXED,	/* key id `key` */
	TK_KEY_DERIVED, /* (hash of the last value read + key) mod keyspace */
	TK_KEY_PREV,	/* the key of the previous keyed operation */
};

/* What a transaction function returns when its program fails on purpose. */
#define TK_FN_FAILURE (-1000)

typedef struct tk_op {
	uint8_t kind;	  /* enum tk_op_kind */
	uint8_t key_mode; /* enum tk_key_mode */
	uint16_t len;	  /* value / event length; modulus for GAS, STATUS, FAIL */
	uint32_t key;	  /* key id or offset */
	uint64_t salt;
} tk_op;

typedef struct tk_program {
	uint32_t first_op; /* index into tk_block.ops */
	uint32_t op_count;
	uint32_t base_gas;
} tk_program;

/* Shape of a generated block. tk_gen_defaults() fills typical values. */
typedef struct tk_gen_params {
	uint32_t txn_count;
	uint32_t keyspace;	  /* key ids 0 .. keyspace - 1; >= 1 */
	uint32_t max_ops;	  /* operations per program, 1 .. max_ops */
	unsigned base_fill_pct;	  /* share of key ids present in the base (capped) */
	unsigned derived_key_pct; /* operations whose key comes from a read value */
	unsigned status_pct;	  /* programs that may end with a non-success status */
	unsigned fail_pct;	  /* programs that may fail the function */
	unsigned large_value_pct; /* writes of 256 .. 2048 bytes */
	uint64_t gas_target;	  /* 0: scale 1; else scale gas so the total is near this */
	uint64_t gas_limit;	  /* if set, the scale divides it, so sums can hit it exactly */
	uint32_t work;		  /* busy work per operation (hash rounds), for overlap */
	/* 0: none; else 1 + a key id that the first program writes before
	 * anything else, without reading it, and TK_BLIND_READ_PCT percent of
	 * the others read first. With that key failing in the base, the index
	 * order never asks the base for it (unless the write is discarded),
	 * while speculative readers above may. */
	uint32_t blind_key;
	uint32_t first_work; /* busy work per operation of program 0 (else work) */
} tk_gen_params;

#define TK_BLIND_READ_PCT 25u

void tk_gen_defaults(tk_gen_params *params, uint32_t txn_count, uint32_t keyspace);

typedef struct tk_block {
	uint64_t seed;
	uint32_t txn_count;
	uint32_t keyspace;
	uint64_t gas_scale;
	uint32_t work;
	uint32_t first_work; /* for program 0; 0: work */
	tk_program *programs;
	tk_op *ops;
	uint32_t op_count;
	/* Checks made by tk_block_txn while the executor runs it. */
	atomic_uchar *running;		  /* per transaction: 1 + worker of the call in flight */
	atomic_uchar workers[64];	  /* per worker number: a call in flight */
	_Atomic uint64_t calls;		  /* tk_block_txn calls */
	_Atomic uint64_t violations;	  /* the sum of the three below */
	_Atomic uint64_t bad_index;	  /* index or worker number out of range */
	_Atomic uint64_t worker_overlaps; /* two calls at once with one worker number */
	_Atomic uint64_t txn_overlaps;	  /* two incarnations of one txn at once */
	/* The last overlap seen: transaction and the two worker numbers. */
	_Atomic uint64_t overlap_detail;
	uint32_t threads; /* set by the driver: worker numbers must be below */
} tk_block;

/* Generate block `seed` with `params`; the base is cleared and filled. */
int tk_block_generate(tk_block *block, uint64_t seed, const tk_gen_params *params, tk_base *base);
void tk_block_free(tk_block *block);
/* Describe the last overlapping call the checks saw (empty if none). */
void tk_block_overlap_text(const tk_block *block, char *buf, size_t buf_len);
/* Reset the per-run counters before a block call. */
void tk_block_reset_checks(tk_block *block, uint32_t threads);

/* A bstm_txn_fn; ctx is the tk_block. */
int tk_block_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome);

/* Fill a bstm_block that runs `block` with tk_block_txn. */
void tk_block_describe(tk_block *block, bstm_block *out);

/* Key id -> key bytes (at most TK_KEY_MAX bytes); returns the length. */
#define TK_KEY_MAX 160
size_t tk_key_encode(uint32_t id, uint8_t *out);

/*
 * Execute `block` sequentially, without the library, over `base` with the
 * block gas limit `gas_limit` (0: none). Returns 0 and an output to free with
 * tk_model_free(), or the error the block call must return (BSTM_ETXN or the
 * base's injected code) and NULL.
 */
int tk_block_model(const tk_block *block, const tk_base *base, uint64_t gas_limit,
		   bstm_output **output);
void tk_model_free(bstm_output *output);

/* ------------------------------------------------------------------------ */
/* Outputs                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Check what any correct output satisfies on its own: writes sorted and
 * unique, RETRY only as a suffix and empty, DISCARDED empty, the gas limit
 * cut, stats.committed and stats.gas_used, the merged write set equal to the
 * last write per key. Returns 1 if consistent, else 0 with a reason in `why`.
 */
int tk_output_check(const bstm_output *output, uint32_t txn_count, uint64_t gas_limit, char *why,
		    size_t why_len);

/*
 * 1 if a and b are equal (as bstm_output_equal defines it, computed here);
 * else 0 and the first difference described in `why`.
 */
int tk_output_diff(const bstm_output *a, const bstm_output *b, char *why, size_t why_len);

/* A hash of everything a transaction's output holds (for commit hooks). */
uint64_t tk_txn_output_hash(const bstm_txn_output *txn);

/* Print a one-line summary of an output (statuses, committed, writes). */
void tk_output_summary(const bstm_output *output, char *buf, size_t buf_len);

/* ------------------------------------------------------------------------ */
/* Violations seen by worker threads                                         */
/* ------------------------------------------------------------------------ */

/* Threads other than the test's own must not assert: they count what they
 * see here and keep the first description, which the test thread reports. */
typedef struct tk_violations {
	_Atomic uint64_t count;
	atomic_flag described;
	char first[256];
} tk_violations;

void tk_violations_init(tk_violations *v);
void tk_violation(tk_violations *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------ */
/* Crash and hang reports for plain-main drivers                             */
/* ------------------------------------------------------------------------ */

/*
 * Install handlers that print "CRASH <context> signal=N" on SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGABRT and SIGTERM (then pass the signal on to the handler that was
 * there before, a sanitizer's for instance), and "HANG <context>" when an
 * armed watchdog expires (then exit with status 2). The watchdog only
 * catches calls that never return; it is not a timing check.
 */
void tk_guard_install(unsigned watchdog_seconds);
/* Set the context printed by the handlers (e.g. "seed=7 threads=4"). */
void tk_guard_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void tk_guard_arm(void);
void tk_guard_disarm(void);

#endif /* TESTKIT_H */
