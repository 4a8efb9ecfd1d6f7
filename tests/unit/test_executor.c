/*
 * test_executor.c - the block executor through the public API.
 *
 * Each behaviour is checked at 1, 2, 4, 8 and 16 threads (more threads than
 * cores on purpose) with the small-block shortcut off, so the parallel path
 * runs even for tiny blocks; every parallel output is also compared with the
 * sequential entry's and checked on its own with testkit. Transaction
 * functions never assert: they report what they saw through their status,
 * code or writes, and the test asserts on the output in the test's thread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/testkit.h"
#include "common/arena.h"	 /* bstm_arena_refuse_chunk */
#include "scheduler/scheduler.h" /* SCHED_SERIAL_CHUNK */

static const uint32_t thread_set[] = {1, 2, 4, 8, 16};
#define THREAD_SET_LEN (sizeof(thread_set) / sizeof(thread_set[0]))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* timed: config.timed_segments (scheduler.c, "Timed blocks"). */
static bstm_executor *make_timed_executor(uint32_t threads, uint64_t gas_limit, uint32_t fallback,
					  uint32_t timed)
{
	bstm_config config;
	bstm_config_init(&config);
	config.threads = threads;
	config.block_gas_limit = gas_limit;
	config.sequential_fallback = fallback;
	config.small_block_threshold = 0;
	config.timed_segments = timed;
	bstm_executor *executor = NULL;
	int rc = bstm_executor_create(&config, &executor);
	cr_assert_eq(rc, 0, "bstm_executor_create(threads=%u): %s", threads, bstm_errname(rc));
	cr_assert_not_null(executor);
	return executor;
}

/* Untimed: these tests are about the parallel path, and timed blocks (on
 * by default) would run many of their blocks serially, on the sequential
 * loop. The timed tests turn timing on. */
static bstm_executor *make_executor(uint32_t threads, uint64_t gas_limit, uint32_t fallback)
{
	return make_timed_executor(threads, gas_limit, fallback, 0);
}

/*
 * Run a block on a fresh executor, sequentially and in parallel; assert both
 * succeed, agree, pass testkit's checks and respect the base view's contract.
 * Returns the parallel output.
 */
static bstm_output *run_block_gas(uint32_t threads, uint64_t gas_limit, uint32_t txn_count,
				  bstm_txn_fn fn, void *ctx, tk_base *base)
{
	bstm_executor *executor = make_executor(threads, gas_limit, 1);
	bstm_block block = {sizeof(block), txn_count, fn, ctx, NULL, NULL};
	bstm_base_view view;
	bstm_output *seq = NULL, *par = NULL;
	char why[512];

	tk_base_open(base, &view);
	int rc = bstm_execute_block_sequential(executor, &block, &view, &seq);
	cr_assert_eq(rc, 0, "threads=%u sequential: %s", threads, bstm_errname(rc));
	rc = bstm_execute_block(executor, &block, &view, &par);
	cr_assert_eq(rc, 0, "threads=%u parallel: %s", threads, bstm_errname(rc));
	tk_base_close(base);

	cr_assert(tk_output_check(seq, txn_count, gas_limit, why, sizeof(why)),
		  "threads=%u sequential output: %s", threads, why);
	cr_assert(tk_output_check(par, txn_count, gas_limit, why, sizeof(why)),
		  "threads=%u parallel output: %s", threads, why);
	cr_assert(tk_output_diff(seq, par, why, sizeof(why)),
		  "threads=%u parallel differs from sequential: %s", threads, why);
	cr_assert(bstm_output_equal(seq, par), "threads=%u: bstm_output_equal is 0", threads);
	cr_assert_eq(seq->stats.sequential, 1, "the sequential entry must report sequential=1");
	cr_assert_eq(tk_base_overlaps(base), 0, "threads=%u: base view called concurrently",
		     threads);
	cr_assert_eq(tk_base_late_calls(base), 0, "threads=%u: base view called late", threads);
	bstm_output_free(seq);
	bstm_executor_destroy(executor);
	return par;
}

static bstm_output *run_block(uint32_t threads, uint32_t txn_count, bstm_txn_fn fn, void *ctx,
			      tk_base *base)
{
	return run_block_gas(threads, 0, txn_count, fn, ctx, base);
}

static int done(bstm_txn_outcome *outcome, uint32_t status, uint64_t code, uint64_t gas)
{
	outcome->status = status;
	outcome->code = code;
	outcome->gas_used = gas;
	return 0;
}

static int put(bstm_view *view, const char *key, const char *value)
{
	return bstm_view_write(view, key, strlen(key), value, strlen(value));
}

static int del(bstm_view *view, const char *key)
{
	return bstm_view_delete(view, key, strlen(key));
}

/*
 * 1 if `key` reads as `expect` (NULL: absent), 0 if it reads otherwise, or
 * the read's error (BSTM_DEPENDENCY included) for the caller to return.
 */
static int read_is(bstm_view *view, const char *key, const char *expect)
{
	const void *value;
	size_t len;
	int rc = bstm_view_read(view, key, strlen(key), &value, &len);
	if (rc == BSTM_ENOTFOUND)
		return expect == NULL;
	if (rc)
		return rc;
	return expect && len == strlen(expect) && !memcmp(value, expect, len);
}

static void expect_write(const bstm_txn_output *txn, uint32_t k, const char *key, const char *value)
{
	cr_assert_lt(k, txn->write_count, "write %u missing (write_count %u)", k, txn->write_count);
	const bstm_write *w = &txn->writes[k];
	cr_assert(!tk_key_cmp(w->key, w->key_len, key, strlen(key)),
		  "write %u: key '%.*s', not '%s'", k, (int)w->key_len, (const char *)w->key, key);
	if (!value) {
		cr_assert_eq(w->is_delete, 1, "write %u (%s) should be a delete", k, key);
		cr_assert_null(w->value);
		return;
	}
	cr_assert_eq(w->is_delete, 0, "write %u (%s) should not be a delete", k, key);
	cr_assert_eq(w->value_len, strlen(value), "write %u (%s): value length %u", k, key,
		     w->value_len);
	cr_assert(!memcmp(w->value, value, w->value_len), "write %u (%s): value differs", k, key);
}

static tk_base *new_base(void)
{
	tk_base *base = tk_base_new();
	cr_assert_not_null(base);
	return base;
}

static void base_put(tk_base *base, const char *key, const char *value)
{
	cr_assert_eq(tk_base_put(base, key, strlen(key), value, strlen(value)), 0);
}

/* ------------------------------------------------------------------------ */
/* Block shapes                                                              */
/* ------------------------------------------------------------------------ */

static int never_called(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	return TK_FN_FAILURE;
}

Test(executor, empty_block)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 0, never_called, NULL, base);
		cr_assert_eq(out->txn_count, 0);
		cr_assert_eq(out->write_count, 0);
		cr_assert_eq(out->stats.committed, 0);
		cr_assert_eq(out->stats.executions, 0);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

static int one_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	int rc = put(view, "k", "v");
	if (!rc)
		rc = bstm_view_emit(view, "hello", 5);
	if (rc)
		return rc;
	return done(outcome, BSTM_TXN_SUCCESS, 0, 21);
}

Test(executor, one_transaction)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 1, one_txn, NULL, base);
		cr_assert_eq(out->txn_count, 1);
		cr_assert_eq(out->txns[0].status, BSTM_TXN_SUCCESS);
		cr_assert_eq(out->txns[0].gas_used, 21);
		cr_assert_eq(out->txns[0].write_count, 1);
		expect_write(&out->txns[0], 0, "k", "v");
		cr_assert_eq(out->txns[0].event_count, 1);
		cr_assert_eq(out->txns[0].events[0].len, 5);
		cr_assert(!memcmp(out->txns[0].events[0].data, "hello", 5));
		cr_assert_eq(out->write_count, 1);
		cr_assert_eq(out->stats.committed, 1);
		cr_assert_eq(out->stats.gas_used, 21);
		cr_assert_geq(out->stats.executions, 1);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* A transaction function that calls the executor running its block. */
typedef struct reenter {
	bstm_executor *executor;
	const bstm_base_view *view;
	_Atomic int inner_rc; /* 1: not called yet */
	int sequential;
} reenter;

static int same_key_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome);

static int reenter_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	reenter *r = ctx;
	if (index == 3) {
		bstm_block inner = {sizeof inner, 5, same_key_txn, NULL, NULL, NULL};
		bstm_output *out = (bstm_output *)&inner;
		int rc = r->sequential
				 ? bstm_execute_block_sequential(r->executor, &inner, r->view, &out)
				 : bstm_execute_block(r->executor, &inner, r->view, &out);
		if (out)
			rc = 99; /* an output came back: the test fails */
		atomic_store(&r->inner_rc, rc);
	}
	return same_key_txn(NULL, index, view, outcome);
}

/* A block call on an executor that is running a block is refused with
 * BSTM_EBUSY, from either entry, and the running block is unharmed. */
Test(executor, a_call_on_a_busy_executor_is_refused)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++)
		for (int outer_seq = 0; outer_seq < 2; outer_seq++)
			for (int inner_seq = 0; inner_seq < 2; inner_seq++) {
				bstm_executor *executor = make_executor(thread_set[t], 0, 1);
				bstm_base_view view;
				tk_base_open(base, &view);
				reenter r = {executor, &view, 1, inner_seq};
				bstm_block block = {sizeof block, 100, reenter_txn, &r, NULL, NULL};
				bstm_output *out = NULL;
				int rc = outer_seq ? bstm_execute_block_sequential(executor, &block,
										   &view, &out)
						   : bstm_execute_block(executor, &block, &view,
									&out);
				cr_assert_eq(rc, 0, "threads %u: %s", thread_set[t],
					     bstm_errname(rc));
				cr_assert_eq(atomic_load(&r.inner_rc), BSTM_EBUSY,
					     "threads %u outer %d inner %d: %d", thread_set[t],
					     outer_seq, inner_seq, atomic_load(&r.inner_rc));
				cr_assert_eq(out->stats.committed, 100);
				cr_assert_eq(out->write_count, 1);
				cr_assert(!memcmp(out->writes[0].value, "99", 2));
				bstm_output_free(out);
				/* Free again once the call returned. */
				bstm_block plain = {sizeof plain, 5,	same_key_txn,
						    NULL,	  NULL, NULL};
				cr_assert_eq(bstm_execute_block(executor, &plain, &view, &out), 0);
				bstm_output_free(out);
				tk_base_close(base);
				bstm_executor_destroy(executor);
			}
	tk_base_free(base);
}

/* Every transaction writes the one key "key" = its index in decimal. */
static int same_key_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	char value[16];
	snprintf(value, sizeof(value), "%u", index);
	int rc = put(view, "key", value);
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, every_transaction_writes_one_key)
{
	tk_base *base = new_base();
	base_put(base, "key", "base");
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 200, same_key_txn, NULL, base);
		for (uint32_t i = 0; i < 200; i++) {
			char value[16];
			snprintf(value, sizeof(value), "%u", i);
			cr_assert_eq(out->txns[i].write_count, 1);
			expect_write(&out->txns[i], 0, "key", value);
		}
		cr_assert_eq(out->write_count, 1);
		cr_assert(!memcmp(out->writes[0].value, "199", 3));
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* Every transaction writes its own key "k/<index>". */
static int own_key_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	char key[16];
	snprintf(key, sizeof(key), "k/%05u", index);
	int rc = put(view, key, "x");
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, every_transaction_writes_its_own_key)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 300, own_key_txn, NULL, base);
		cr_assert_eq(out->write_count, 300);
		for (uint32_t i = 0; i < 300; i++) {
			char key[16];
			snprintf(key, sizeof(key), "k/%05u", i);
			cr_assert(!tk_key_cmp(out->writes[i].key, out->writes[i].key_len, key,
					      strlen(key)));
		}
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Deletes                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * txn 0: delete base key "a"; delete "b" then write "b"; write "c" then
 * delete "c" and read it back (must be absent). Later transactions read "a"
 * and "c" (absent) and "b" (= "new"): SUCCESS if so, FAILED otherwise.
 */
static int delete_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	int rc;
	if (index == 0) {
		if ((rc = del(view, "a")) || (rc = del(view, "b")) ||
		    (rc = put(view, "b", "new")) || (rc = put(view, "c", "tmp")) ||
		    (rc = del(view, "c")))
			return rc;
		int r = read_is(view, "c", NULL);
		if (r < 0)
			return r;
		return done(outcome, r ? BSTM_TXN_SUCCESS : BSTM_TXN_FAILED, r ? 0 : 1, 1);
	}
	int a = read_is(view, "a", NULL);
	if (a < 0)
		return a;
	int b = read_is(view, "b", "new");
	if (b < 0)
		return b;
	int c = read_is(view, "c", NULL);
	if (c < 0)
		return c;
	return done(outcome, a && b && c ? BSTM_TXN_SUCCESS : BSTM_TXN_FAILED, 0, 1);
}

Test(executor, deletes)
{
	tk_base *base = new_base();
	base_put(base, "a", "1");
	base_put(base, "b", "2");
	base_put(base, "c", "3");
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 30, delete_txn, NULL, base);
		const bstm_txn_output *t0 = &out->txns[0];
		cr_assert_eq(t0->status, BSTM_TXN_SUCCESS,
			     "a txn must not see its own deleted key");
		cr_assert_eq(t0->write_count, 3);
		expect_write(t0, 0, "a", NULL);
		expect_write(t0, 1, "b", "new");
		expect_write(t0, 2, "c", NULL);
		for (uint32_t i = 1; i < 30; i++)
			cr_assert_eq(out->txns[i].status, BSTM_TXN_SUCCESS,
				     "threads=%u txn %u saw a deleted key", thread_set[t], i);
		cr_assert_eq(out->write_count, 3);
		cr_assert_eq(out->writes[0].is_delete, 1);
		cr_assert_eq(out->writes[2].is_delete, 1);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Read visibility                                                           */
/* ------------------------------------------------------------------------ */

/* Write "s" = own index and "k/<index>", read both back. */
static int own_write_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	char key[16], value[16];
	snprintf(key, sizeof(key), "k/%u", index);
	snprintf(value, sizeof(value), "v%u", index);
	int rc;
	/* Read first, so the shared key is also in the read set. */
	const void *ignored;
	size_t ignored_len;
	rc = bstm_view_read(view, "s", 1, &ignored, &ignored_len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	if ((rc = put(view, "s", value)) || (rc = put(view, key, value)))
		return rc;
	int a = read_is(view, "s", value);
	if (a < 0)
		return a;
	int b = read_is(view, key, value);
	if (b < 0)
		return b;
	return done(outcome, a && b ? BSTM_TXN_SUCCESS : BSTM_TXN_FAILED, 0, 1);
}

Test(executor, transaction_reads_its_own_write)
{
	tk_base *base = new_base();
	base_put(base, "s", "base");
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 100, own_write_txn, NULL, base);
		for (uint32_t i = 0; i < 100; i++)
			cr_assert_eq(out->txns[i].status, BSTM_TXN_SUCCESS,
				     "threads=%u txn %u did not read its own write", thread_set[t],
				     i);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/*
 * Only the last transaction writes "k" (and "m", absent from the base);
 * every lower one must see the base value and report it in "r/<index>".
 */
static int later_writer_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	uint32_t last = *(const uint32_t *)ctx - 1;
	int rc;
	if (index == last) {
		if ((rc = put(view, "k", "late")) || (rc = put(view, "m", "late")))
			return rc;
		return done(outcome, BSTM_TXN_SUCCESS, 0, 1);
	}
	int k = read_is(view, "k", "base");
	if (k < 0)
		return k;
	int m = read_is(view, "m", NULL);
	if (m < 0)
		return m;
	char key[16];
	snprintf(key, sizeof(key), "r/%04u", index);
	rc = put(view, key, k && m ? "base" : "wrong");
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, key_written_only_by_a_later_index)
{
	tk_base *base = new_base();
	base_put(base, "k", "base");
	uint32_t n = 64;
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], n, later_writer_txn, &n, base);
		for (uint32_t i = 0; i + 1 < n; i++) {
			char key[16];
			snprintf(key, sizeof(key), "r/%04u", i);
			expect_write(&out->txns[i], 0, key, "base");
		}
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Value sizes                                                               */
/* ------------------------------------------------------------------------ */

#define MIB (1u << 20)

/*
 * txn 0 writes "zero" (0 bytes) and "big" (1 MiB); txn 1 checks both, the
 * base's 0-byte "empty" and 1 MiB "bigbase", and copies "big" to "copy".
 */
static int sizes_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	const uint8_t *big = ctx;
	int rc;
	if (index == 0) {
		if ((rc = bstm_view_write(view, "zero", 4, "", 0)) ||
		    (rc = bstm_view_write(view, "big", 3, big, MIB)))
			return rc;
		return done(outcome, BSTM_TXN_SUCCESS, 0, 1);
	}
	const void *value;
	size_t len;
	uint64_t bad = 0;
	rc = bstm_view_read(view, "zero", 4, &value, &len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	bad |= (rc != 0 || len != 0) ? 1 : 0;
	rc = bstm_view_read(view, "empty", 5, &value, &len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	bad |= (rc != 0 || len != 0) ? 2 : 0;
	rc = bstm_view_read(view, "big", 3, &value, &len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	if (rc == 0 && len == MIB && !memcmp(value, big, MIB)) {
		rc = bstm_view_write(view, "copy", 4, value, len);
		if (rc)
			return rc;
	} else {
		bad |= 4;
	}
	/* The base holds "bigbase" = the same MiB reversed in halves. */
	rc = bstm_view_read(view, "bigbase", 7, &value, &len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	if (rc != 0 || len != MIB || memcmp(value, big + MIB / 2, MIB / 2) ||
	    memcmp((const uint8_t *)value + MIB / 2, big, MIB / 2))
		bad |= 8;
	return done(outcome, bad ? BSTM_TXN_FAILED : BSTM_TXN_SUCCESS, bad, 1);
}

Test(executor, values_of_zero_bytes_and_one_mib)
{
	tk_base *base = new_base();
	cr_assert_eq(tk_base_put(base, "empty", 5, NULL, 0), 0);
	uint8_t *big = malloc(MIB);
	cr_assert_not_null(big);
	tk_fill(big, MIB, 42);
	uint8_t *swapped = malloc(MIB);
	cr_assert_not_null(swapped);
	memcpy(swapped, big + MIB / 2, MIB / 2);
	memcpy(swapped + MIB / 2, big, MIB / 2);
	cr_assert_eq(tk_base_put(base, "bigbase", 7, swapped, MIB), 0);
	free(swapped);
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 2, sizes_txn, big, base);
		cr_assert_eq(out->txns[1].status, BSTM_TXN_SUCCESS, "txn 1 saw wrong values (%llu)",
			     (unsigned long long)out->txns[1].code);
		const bstm_txn_output *t0 = &out->txns[0];
		cr_assert_eq(t0->write_count, 2);
		cr_assert_eq(t0->writes[0].key_len, 3); /* "big" < "zero" */
		cr_assert_eq(t0->writes[0].value_len, MIB);
		cr_assert(!memcmp(t0->writes[0].value, big, MIB));
		cr_assert_eq(t0->writes[1].value_len, 0);
		cr_assert_eq(t0->writes[1].is_delete, 0, "a 0-byte value is not a delete");
		cr_assert_eq(out->write_count, 3); /* big, copy, zero */
		cr_assert_eq(out->writes[1].value_len, MIB);
		cr_assert(!memcmp(out->writes[1].value, big, MIB));
		bstm_output_free(out);
	}
	free(big);
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Outcomes: gas limit, DISCARDED, events                                    */
/* ------------------------------------------------------------------------ */

/* Gas per txn from ctx[index]; each writes "k/<index>" and emits an event. */
static int gas_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	const uint64_t *gas = ctx;
	char key[16];
	snprintf(key, sizeof(key), "k/%04u", index);
	int rc = put(view, key, "x");
	if (!rc)
		rc = bstm_view_emit(view, "e", 1);
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, gas[index]);
}

static void check_cut(uint64_t limit, uint32_t expect_committed)
{
	uint64_t gas[50];
	for (int i = 0; i < 50; i++)
		gas[i] = 10;
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block_gas(thread_set[t], limit, 50, gas_txn, gas, base);
		cr_assert_eq(out->stats.committed, expect_committed,
			     "limit %llu threads %u: committed %u, expected %u",
			     (unsigned long long)limit, thread_set[t], out->stats.committed,
			     expect_committed);
		cr_assert_eq(out->stats.gas_used, 10ull * expect_committed);
		for (uint32_t i = 0; i < 50; i++) {
			const bstm_txn_output *txn = &out->txns[i];
			if (i < expect_committed) {
				cr_assert_eq(txn->status, BSTM_TXN_SUCCESS);
				cr_assert_eq(txn->write_count, 1);
				cr_assert_eq(txn->event_count, 1);
				continue;
			}
			cr_assert_eq(txn->status, BSTM_TXN_RETRY, "txn %u after the cut", i);
			cr_assert_eq(txn->write_count, 0);
			cr_assert_eq(txn->event_count, 0);
			cr_assert_eq(txn->gas_used, 0);
		}
		cr_assert_eq(out->write_count, expect_committed);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* The block's gas sum saturates: a transaction that reports gas near 2^64
 * ends a limited block instead of wrapping the sum below the limit. */
Test(executor, block_gas_sum_saturates)
{
	uint64_t gas[50];
	for (int i = 0; i < 50; i++)
		gas[i] = 10;
	gas[0] = UINT64_MAX - 5;
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out =
			run_block_gas(thread_set[t], UINT64_MAX - 1, 50, gas_txn, gas, base);
		cr_assert_eq(out->stats.committed, 2, "threads %u: committed %u", thread_set[t],
			     out->stats.committed);
		cr_assert_eq(out->stats.gas_used, UINT64_MAX);
		cr_assert_eq(out->txns[2].status, BSTM_TXN_RETRY);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

Test(executor, block_gas_limit)
{
	check_cut(95, 10);  /* 90 < 95 <= 100: ends after txn 9 */
	check_cut(100, 10); /* reaching the limit exactly ends the block */
	check_cut(1, 1);    /* the first txn always commits */
	check_cut(500, 50); /* reached by the last txn: no RETRY */
	check_cut(501, 50); /* never reached */
}

/*
 * txn 1 writes, emits and is DISCARDED (gas 50 reported); txn 2 must not see
 * its write. Gas: 60, 50 (counts 0), 30, 20, ...: with limit 100 the block
 * ends after txn 3.
 */
static int discard_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	static const uint64_t gas[] = {60, 50, 30, 20, 20, 20};
	int rc;
	switch (index) {
	case 0:
		rc = put(view, "a", "0");
		return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, gas[0]);
	case 1:
		if ((rc = put(view, "a", "1")) || (rc = put(view, "d", "x")) ||
		    (rc = bstm_view_emit(view, "dropped", 7)))
			return rc;
		return done(outcome, BSTM_TXN_DISCARDED, 9, gas[1]);
	default: {
		int a = read_is(view, "a", "0");
		if (a < 0)
			return a;
		int d = read_is(view, "d", NULL);
		if (d < 0)
			return d;
		return done(outcome, a && d ? BSTM_TXN_SUCCESS : BSTM_TXN_FAILED, 0, gas[index]);
	}
	}
}

Test(executor, discarded_transaction_drops_writes)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block_gas(thread_set[t], 100, 6, discard_txn, NULL, base);
		const bstm_txn_output *t1 = &out->txns[1];
		cr_assert_eq(t1->status, BSTM_TXN_DISCARDED);
		cr_assert_eq(t1->write_count, 0);
		cr_assert_eq(t1->event_count, 0);
		cr_assert_eq(t1->gas_used, 0);
		cr_assert_eq(out->txns[2].status, BSTM_TXN_SUCCESS, "txn 2 saw a discarded write");
		cr_assert_eq(out->txns[3].status, BSTM_TXN_SUCCESS);
		cr_assert_eq(out->stats.committed, 4, "discarded gas must count as 0");
		cr_assert_eq(out->txns[4].status, BSTM_TXN_RETRY);
		cr_assert_eq(out->write_count, 1);
		expect_write(&out->txns[0], 0, "a", "0");
		bstm_output_free(out);
	}
	tk_base_free(base);
}

static int events_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	/* Read a shared key so some executions are stopped and re-run. */
	const void *value;
	size_t len;
	int rc = bstm_view_read(view, "shared", 6, &value, &len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	if ((rc = put(view, "shared", "x")))
		return rc;
	for (uint32_t k = 0; k < 5; k++) {
		char event[32];
		int n = snprintf(event, sizeof(event), "ev-%u-%u", index, k);
		rc = bstm_view_emit(view, event, k == 4 ? 0 : (size_t)n);
		if (rc)
			return rc;
	}
	return done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, events_in_order)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 40, events_txn, NULL, base);
		for (uint32_t i = 0; i < 40; i++) {
			const bstm_txn_output *txn = &out->txns[i];
			cr_assert_eq(txn->event_count, 5);
			for (uint32_t k = 0; k < 4; k++) {
				char event[32];
				int n = snprintf(event, sizeof(event), "ev-%u-%u", i, k);
				cr_assert_eq(txn->events[k].len, (uint32_t)n);
				cr_assert(!memcmp(txn->events[k].data, event, (size_t)n),
					  "txn %u event %u", i, k);
			}
			cr_assert_eq(txn->events[4].len, 0);
		}
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* Statuses and codes reported by the function reach the output as they are. */
static int status_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	static const uint32_t statuses[] = {BSTM_TXN_SUCCESS, BSTM_TXN_ABORTED, BSTM_TXN_OUT_OF_GAS,
					    BSTM_TXN_FAILED};
	int rc = put(view, "fee", "paid");
	return rc ? rc : done(outcome, statuses[index % 4], index % 4 ? 1000 + index : 0, 7);
}

Test(executor, statuses_and_codes)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 12, status_txn, NULL, base);
		for (uint32_t i = 0; i < 12; i++) {
			cr_assert_eq(out->txns[i].status, i % 4);
			cr_assert_eq(out->txns[i].code, i % 4 ? 1000 + i : 0);
			cr_assert_eq(out->txns[i].gas_used, 7);
			cr_assert_eq(out->txns[i].write_count, 1, "an aborted txn's writes apply");
		}
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Failures                                                                  */
/* ------------------------------------------------------------------------ */

/* Transaction 3 fails as a function; the others chain on one key. */
static int failing_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	const void *value;
	size_t len;
	int rc = bstm_view_read(view, "x", 1, &value, &len);
	if (rc == BSTM_DEPENDENCY)
		return rc;
	if (index == 3)
		return TK_FN_FAILURE;
	rc = put(view, "x", "y");
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, transaction_function_error)
{
	tk_base *base = new_base();
	bstm_base_view view;
	for (uint32_t fallback = 0; fallback < 2; fallback++)
		for (size_t t = 0; t < THREAD_SET_LEN; t++) {
			bstm_executor *executor = make_executor(thread_set[t], 0, fallback);
			bstm_block block = {sizeof(block), 10, failing_txn, NULL, NULL, NULL};
			bstm_output *out = (bstm_output *)&block;
			tk_base_open(base, &view);
			int rc = bstm_execute_block(executor, &block, &view, &out);
			cr_assert_eq(rc, BSTM_ETXN, "threads=%u fallback=%u: %s", thread_set[t],
				     fallback, bstm_errname(rc));
			cr_assert_null(out);
			out = (bstm_output *)&block;
			rc = bstm_execute_block_sequential(executor, &block, &view, &out);
			cr_assert_eq(rc, BSTM_ETXN);
			cr_assert_null(out);
			/* The executor stays usable. */
			block.execute = same_key_txn;
			rc = bstm_execute_block(executor, &block, &view, &out);
			tk_base_close(base);
			cr_assert_eq(rc, 0);
			cr_assert_eq(out->stats.committed, 10);
			bstm_output_free(out);
			bstm_executor_destroy(executor);
		}
	tk_base_free(base);
}

/* Transaction 4 reports the status in ctx; the others succeed. */
static int bad_status_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	const uint32_t *status = ctx;
	int rc = put(view, "x", "y");
	return rc ? rc : done(outcome, index == 4 ? *status : BSTM_TXN_SUCCESS, 0, 1);
}

/*
 * A status after DISCARDED is no outcome a transaction function may report:
 * RETRY is the executor's own, and a value that names no status at all is a
 * broken function. The block fails with BSTM_ETXN, in parallel (with and
 * without the sequential retry) and sequentially alike, and returns no
 * output.
 */
Test(executor, status_after_discarded_fails_the_block)
{
	static const uint32_t statuses[] = {BSTM_TXN_RETRY, BSTM_TXN_RETRY + 1, 99, UINT32_MAX};
	tk_base *base = new_base();
	bstm_base_view view;
	for (size_t s = 0; s < sizeof statuses / sizeof statuses[0]; s++)
		for (uint32_t fallback = 0; fallback < 2; fallback++)
			for (size_t t = 0; t < THREAD_SET_LEN; t++) {
				bstm_executor *executor = make_executor(thread_set[t], 0, fallback);
				bstm_block block = {sizeof(block),	  10,	bad_status_txn,
						    (void *)&statuses[s], NULL, NULL};
				bstm_output *out = (bstm_output *)&block;
				tk_base_open(base, &view);
				int rc = bstm_execute_block(executor, &block, &view, &out);
				cr_assert_eq(rc, BSTM_ETXN, "status %u, threads=%u fallback=%u: %s",
					     statuses[s], thread_set[t], fallback,
					     bstm_errname(rc));
				cr_assert_null(out);
				out = (bstm_output *)&block;
				rc = bstm_execute_block_sequential(executor, &block, &view, &out);
				tk_base_close(base);
				cr_assert_eq(rc, BSTM_ETXN, "status %u, sequential: %s",
					     statuses[s], bstm_errname(rc));
				cr_assert_null(out);
				bstm_executor_destroy(executor);
			}
	tk_base_free(base);
}

/* Each transaction reads "k/<index>"; the base fails "k/5". */
static int storage_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	char key[16];
	const void *value;
	size_t len;
	snprintf(key, sizeof(key), "k/%u", index);
	int rc = bstm_view_read(view, key, strlen(key), &value, &len);
	if (rc && rc != BSTM_ENOTFOUND)
		return rc;
	rc = put(view, "out", key);
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

/*
 * What a base view's failure on a read that commits makes of the block, in
 * parallel (fallback on) and sequentially alike: BSTM_DEPENDENCY (which
 * means something else to the transaction function), a positive code and
 * the codes of the library's own failures and of a rejected call (EINVAL,
 * ETOOBIG) become BSTM_ESTORAGE; a storage condition (BSTM_ENOMEM,
 * BSTM_EIO) or a node's own code is passed on.
 */
Test(executor, base_view_failure_codes)
{
	static const struct {
		int get_rc, block_rc;
	} cases[] = {
		{BSTM_DEPENDENCY, BSTM_ESTORAGE},
		{BSTM_ETXN, BSTM_ESTORAGE},
		{BSTM_EINTERNAL, BSTM_ESTORAGE},
		{BSTM_ETHREAD, BSTM_ESTORAGE},
		{BSTM_EINVAL, BSTM_ESTORAGE},
		{BSTM_ETOOBIG, BSTM_ESTORAGE},
		{7, BSTM_ESTORAGE},
		{BSTM_ESTORAGE, BSTM_ESTORAGE},
		{BSTM_ENOMEM, BSTM_ENOMEM},
		{BSTM_EIO, BSTM_EIO},
		{-1000, -1000},
	};
	bstm_base_view view;
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		tk_base *base = new_base();
		cr_assert_eq(tk_base_fail_key(base, "k/5", 3, cases[c].get_rc), 0);
		for (size_t t = 0; t < THREAD_SET_LEN; t++) {
			bstm_executor *executor = make_executor(thread_set[t], 0, 1);
			bstm_block block = {sizeof(block), 10, storage_txn, NULL, NULL, NULL};
			bstm_output *out = NULL;
			tk_base_open(base, &view);
			int rc = bstm_execute_block(executor, &block, &view, &out);
			cr_assert_eq(rc, cases[c].block_rc, "get %d, threads=%u: %s (%d)",
				     cases[c].get_rc, thread_set[t], bstm_errname(rc), rc);
			cr_assert_null(out);
			rc = bstm_execute_block_sequential(executor, &block, &view, &out);
			cr_assert_eq(rc, cases[c].block_rc, "get %d, sequential: %s (%d)",
				     cases[c].get_rc, bstm_errname(rc), rc);
			tk_base_close(base);
			bstm_executor_destroy(executor);
		}
		tk_base_free(base);
	}
}

Test(executor, storage_error_from_the_base_view)
{
	tk_base *base = new_base();
	base_put(base, "k/4", "four");
	cr_assert_eq(tk_base_fail_key(base, "k/5", 3, BSTM_ESTORAGE), 0);
	bstm_base_view view;
	for (int thread_safe = 0; thread_safe < 2; thread_safe++) {
		tk_base_set_thread_safe(base, thread_safe);
		for (size_t t = 0; t < THREAD_SET_LEN; t++) {
			bstm_executor *executor = make_executor(thread_set[t], 0, 1);
			bstm_block block = {sizeof(block), 10, storage_txn, NULL, NULL, NULL};
			bstm_output *out = (bstm_output *)&block;
			tk_base_open(base, &view);
			int rc = bstm_execute_block(executor, &block, &view, &out);
			cr_assert_eq(rc, BSTM_ESTORAGE, "threads=%u: %s", thread_set[t],
				     bstm_errname(rc));
			cr_assert_null(out);
			out = (bstm_output *)&block;
			rc = bstm_execute_block_sequential(executor, &block, &view, &out);
			cr_assert_eq(rc, BSTM_ESTORAGE);
			cr_assert_null(out);
			/* Five transactions never reach the failing key. */
			block.txn_count = 5;
			rc = bstm_execute_block(executor, &block, &view, &out);
			tk_base_close(base);
			cr_assert_eq(rc, 0, "%s", bstm_errname(rc));
			cr_assert_eq(out->stats.committed, 5);
			cr_assert_eq(tk_base_overlaps(base), 0);
			cr_assert_eq(tk_base_late_calls(base), 0);
			bstm_output_free(out);
			bstm_executor_destroy(executor);
		}
	}
	tk_base_free(base);
}

/*
 * Spin until *flag is set, for at most 200 ms: a transaction holds back so
 * that others run speculatively meanwhile. The bound only keeps a run in
 * which that never happens from hanging; the tests count such runs.
 */
static void wait_for(_Atomic uint32_t *flag)
{
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (atomic_load(flag) == 0 &&
		 (now.tv_sec - start.tv_sec) * 1000000000L + now.tv_nsec - start.tv_nsec <
			 200000000L);
}

/*
 * A base view that fails key "K" (with blind_code) and counts the failures.
 * Transaction 0 writes K without reading it, but only once another
 * transaction has asked the base for K (or after a bounded wait); every
 * other transaction reads K. In index order nobody asks the base for K, so
 * the block succeeds; a speculative read that failed must be redone, not
 * committed, and must not stop the run, whatever the code (an out of memory
 * of the view is not the executor's own).
 */
static _Atomic uint32_t blind_failures;
static _Atomic int blind_code;

static int blind_get(void *ctx, const void *key, size_t len, const void **value, size_t *value_len)
{
	if (len == 1 && *(const char *)key == 'K') {
		atomic_fetch_add(&blind_failures, 1);
		return atomic_load(&blind_code);
	}
	return BSTM_ENOTFOUND;
}

static int blind_write_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	if (index == 0) {
		wait_for(&blind_failures);
		int rc = put(view, "K", "zero");
		return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
	}
	int rc = read_is(view, "K", "zero");
	if (rc < 0)
		return rc; /* the base failed K: only speculation gets here */
	if (rc == 0)
		return done(outcome, BSTM_TXN_ABORTED, 1, 1);
	char key[16];
	snprintf(key, sizeof key, "out/%u", index);
	rc = put(view, key, "x");
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, failed_speculative_base_read_is_redone)
{
	static const int codes[] = {BSTM_ESTORAGE, BSTM_ENOMEM, BSTM_EINTERNAL, BSTM_EIO};
	bstm_base_view view = {
		.size = sizeof view, .get = blind_get, .flags = BSTM_VIEW_THREAD_SAFE};
	bstm_block block = {sizeof(block), 64, blind_write_txn, NULL, NULL, NULL};
	for (size_t c = 0; c < sizeof codes / sizeof codes[0]; c++) {
		uint32_t seen = 0;
		atomic_store(&blind_code, codes[c]);
		for (size_t t = 1; t < THREAD_SET_LEN; t++) {
			/* No fallback: a stopped run would show as the view's code. */
			bstm_executor *executor = make_executor(thread_set[t], 0, 0);
			bstm_output *seq = NULL;
			atomic_store(&blind_failures, 0);
			int rc = bstm_execute_block_sequential(executor, &block, &view, &seq);
			cr_assert_eq(rc, 0, "sequential: %s", bstm_errname(rc));
			cr_assert_eq(atomic_load(&blind_failures), 0);
			for (int rep = 0; rep < 4; rep++) {
				bstm_output *par = NULL;
				atomic_store(&blind_failures, 0);
				rc = bstm_execute_block(executor, &block, &view, &par);
				cr_assert_eq(rc, 0,
					     "%s, threads=%u rep %d: %s (base failed K %u times)",
					     bstm_errname(codes[c]), thread_set[t], rep,
					     bstm_errname(rc), atomic_load(&blind_failures));
				cr_assert(bstm_output_equal(seq, par), "threads=%u", thread_set[t]);
				cr_assert_eq(par->stats.fallback, 0);
				seen += atomic_load(&blind_failures) > 0;
				bstm_output_free(par);
			}
			bstm_output_free(seq);
			bstm_executor_destroy(executor);
		}
		/* Otherwise the test showed nothing: no read of K ran before the
		 * write. */
		cr_expect_gt(seen, 0, "%s", bstm_errname(codes[c]));
	}
}

/*
 * The library's own out of memory, met by a function that went on after
 * BSTM_DEPENDENCY (the contract says it should return at once, but a node's
 * function may not): it must stop the run, as any other of the library's
 * own failures does, not be lost when the dependency makes the executor run
 * the function again. Every transaction increments "c"; one that reads it
 * as a dependency emits an event too large for its arena's chunks while the
 * arena is refused new ones, on this thread only.
 */
static _Thread_local bool refuse_here;
static _Atomic uint32_t refused;

static bool refuse_chunk(size_t size)
{
	(void)size;
	if (refuse_here)
		atomic_fetch_add(&refused, 1);
	return refuse_here;
}

static int oom_after_dependency_txn(void *ctx, uint32_t index, bstm_view *view,
				    bstm_txn_outcome *outcome)
{
	static uint8_t big[(1u << 20) / 2];
	(void)ctx;
	(void)index;
	const void *value;
	size_t len;
	uint64_t c = 0;
	int rc = bstm_view_read(view, "c", 1, &value, &len);
	if (rc == BSTM_DEPENDENCY) {
		refuse_here = true;
		rc = bstm_view_emit(view, big, sizeof big);
		refuse_here = false;
		return rc;
	}
	if (rc == 0 && len == sizeof c)
		memcpy(&c, value, sizeof c);
	else if (rc != BSTM_ENOTFOUND)
		return rc ? rc : BSTM_EINVAL;
	c++;
	rc = bstm_view_write(view, "c", 1, &c, sizeof c);
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

/* One parallel run of the block for the test below: the outcome must be
 * the library's out of memory when the arena refused a chunk and there is
 * no fallback, else the sequential output (through the fallback when a
 * chunk was refused). Returns whether a chunk was refused. */
static bool oom_rep(bstm_executor *executor, const bstm_block *block, const bstm_base_view *view,
		    const bstm_output *seq, uint32_t threads, uint32_t fallback, int rep)
{
	bstm_output *par = NULL;
	atomic_store(&refused, 0);
	int rc = bstm_execute_block(executor, block, view, &par);
	uint32_t r = atomic_load(&refused);
	if (r && !fallback) {
		cr_assert_eq(rc, BSTM_ENOMEM, "threads=%u rep %d: %u refused, block %s", threads,
			     rep, r, bstm_errname(rc));
		cr_assert_null(par);
		return true;
	}
	cr_assert_eq(rc, 0, "threads=%u rep %d fallback %u: %s", threads, rep, fallback,
		     bstm_errname(rc));
	cr_assert(bstm_output_equal(seq, par), "threads=%u", threads);
	cr_assert_eq(par->stats.fallback, r ? 1u : 0u, "threads=%u rep %d: %u refused", threads,
		     rep, r);
	bstm_output_free(par);
	return r > 0;
}

/* An executor for the test below. */
static bstm_executor *oom_executor(uint32_t threads, uint32_t fallback)
{
	bstm_config config;
	bstm_config_init(&config);
	config.threads = threads;
	config.sequential_fallback = fallback;
	config.small_block_threshold = 0;
	config.serial_segments = 0; /* speculate: dependencies are wanted */
	config.timed_segments = 0;
	bstm_executor *executor = NULL;
	cr_assert_eq(bstm_executor_create(&config, &executor), 0);
	return executor;
}

Test(executor, own_failure_after_ignored_dependency_stops_the_run)
{
	tk_base *base = new_base();
	bstm_base_view view;
	bstm_block block = {sizeof(block), 256, oom_after_dependency_txn, NULL, NULL, NULL};
	tk_base_open(base, &view);
	bstm_output *seq = NULL;
	bstm_executor *executor = oom_executor(1, 0);
	int rc = bstm_execute_block_sequential(executor, &block, &view, &seq);
	cr_assert_eq(rc, 0, "sequential: %s", bstm_errname(rc));
	bstm_executor_destroy(executor);
	bstm_arena_refuse_chunk = refuse_chunk;
	uint32_t seen[2] = {0, 0};
	for (uint32_t fallback = 0; fallback < 2; fallback++) {
		/* Every thread count once, then again in turn until a read met a
		 * dependency. That needs two workers running at the same moment,
		 * which a machine loaded with other work may not give for
		 * hundreds of blocks; the bound on time keeps a broken executor
		 * from looping. */
		struct timespec start, now;
		clock_gettime(CLOCK_MONOTONIC, &start);
		for (size_t attempt = 1;; attempt++) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (attempt >= THREAD_SET_LEN &&
			    (seen[fallback] || now.tv_sec - start.tv_sec >= 30))
				break;
			uint32_t threads = thread_set[1 + (attempt - 1) % (THREAD_SET_LEN - 1)];
			executor = oom_executor(threads, fallback);
			for (int rep = 0; rep < 16; rep++)
				seen[fallback] += oom_rep(executor, &block, &view, seq, threads,
							  fallback, rep);
			bstm_executor_destroy(executor);
		}
	}
	bstm_arena_refuse_chunk = NULL;
	bstm_output_free(seq);
	tk_base_close(base);
	tk_base_free(base);
	/* Otherwise the test showed nothing: no read met a dependency. */
	cr_expect_gt(seen[0], 0);
	cr_expect_gt(seen[1], 0);
}

/*
 * A write that a re-execution no longer makes must disappear for readers.
 * Transaction 0 changes "A" from "old" to "new", but only once a reader has
 * seen a stale write (or after a bounded wait). Each odd transaction writes
 * "K/<index>" only while it reads "A" as "old", which only a speculative
 * execution does; the even transaction after it reads that key and copies
 * what it saw. In index order no K key is ever written, so every copy is
 * "none"; a redo of an odd transaction that writes nothing must leave its
 * reader unable to validate the stale value.
 */
static _Atomic uint32_t stale_reads;

static int dropped_write_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	char key[16];
	if (index == 0) {
		wait_for(&stale_reads);
		int rc = put(view, "A", "new");
		return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
	}
	if (index % 2) {
		int rc = read_is(view, "A", "old");
		if (rc < 0)
			return rc;
		snprintf(key, sizeof key, "K/%u", index);
		rc = rc ? put(view, key, "stale") : 0;
		return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
	}
	snprintf(key, sizeof key, "K/%u", index - 1);
	int rc = read_is(view, key, "stale");
	if (rc < 0)
		return rc;
	if (rc)
		atomic_fetch_add(&stale_reads, 1);
	snprintf(key, sizeof key, "out/%u", index);
	rc = put(view, key, rc ? "stale" : "none");
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, write_dropped_by_a_redo_is_not_read)
{
	tk_base *base = new_base();
	base_put(base, "A", "old");
	bstm_base_view view;
	bstm_block block = {sizeof(block), 64, dropped_write_txn, NULL, NULL, NULL};
	uint32_t seen = 0;
	for (size_t t = 1; t < THREAD_SET_LEN; t++) {
		bstm_executor *executor = make_executor(thread_set[t], 0, 0);
		bstm_output *seq = NULL;
		atomic_store(&stale_reads, 1); /* transaction 0 need not wait */
		tk_base_open(base, &view);
		int rc = bstm_execute_block_sequential(executor, &block, &view, &seq);
		cr_assert_eq(rc, 0, "sequential: %s", bstm_errname(rc));
		for (uint32_t i = 2; i < 64; i += 2) {
			char key[16];
			snprintf(key, sizeof key, "out/%u", i);
			expect_write(&seq->txns[i], 0, key, "none");
		}
		for (int rep = 0; rep < 4; rep++) {
			bstm_output *par = NULL;
			atomic_store(&stale_reads, 0);
			rc = bstm_execute_block(executor, &block, &view, &par);
			cr_assert_eq(rc, 0, "threads=%u rep %d: %s", thread_set[t], rep,
				     bstm_errname(rc));
			cr_assert(bstm_output_equal(seq, par), "threads=%u rep %d: %u stale reads",
				  thread_set[t], rep, atomic_load(&stale_reads));
			seen += atomic_load(&stale_reads) > 0;
			bstm_output_free(par);
		}
		tk_base_close(base);
		bstm_output_free(seq);
		bstm_executor_destroy(executor);
	}
	tk_base_free(base);
	/* Otherwise the test showed nothing: no reader saw a stale write. */
	cr_expect_gt(seen, 0);
}

/* ------------------------------------------------------------------------ */
/* API contract                                                              */
/* ------------------------------------------------------------------------ */

/* A caller built against the 40-byte header: the defaults fill its struct
 * and not a byte more. */
Test(executor, config_init_writes_only_the_callers_size)
{
	union {
		bstm_config config;
		uint8_t bytes[sizeof(bstm_config)];
	} u;
	memset(u.bytes, 0xa5, sizeof u.bytes);
	cr_assert_eq(bstm_config_init_size(&u.config, 40), 0);
	cr_assert_eq(u.config.size, 40);
	cr_assert_eq(u.config.threads, 1);
	cr_assert_eq(u.config.serial_segments, 1);
	for (size_t i = 40; i < sizeof u.bytes; i++)
		cr_assert_eq(u.bytes[i], 0xa5, "byte %zu written", i);
	u.config.threads = 2;
	bstm_executor *executor = NULL;
	cr_assert_eq(bstm_executor_create(&u.config, &executor), 0);
	bstm_executor_destroy(executor);
}

Test(executor, config_validation)
{
	bstm_config config;
	bstm_executor *executor = NULL;
	bstm_config_init(&config);
	cr_assert_eq(config.size, sizeof(config));
	cr_assert_eq(config.threads, 1);
	cr_assert_eq(config.block_gas_limit, 0);
	cr_assert_eq(config.sequential_fallback, 1);
	cr_assert_eq(config.small_block_threshold, BSTM_DEFAULT_SMALL_BLOCK);

	config.threads = 0;
	cr_assert_eq(bstm_executor_create(&config, &executor), BSTM_EINVAL);
	bstm_config_init(&config);
	config.size = 0;
	cr_assert_eq(bstm_executor_create(&config, &executor), BSTM_EINVAL);
	config.size = 1;
	cr_assert_eq(bstm_executor_create(&config, &executor), BSTM_EINVAL);
	/* Only sizes a header's struct has had: this one's and 40. Ends of
	 * fields that no compiled struct had (sizeof includes padding) are
	 * refused, as is a size inside a field. */
	const size_t bad_sizes[] = {offsetof(bstm_config, threads) + sizeof(config.threads),
				    offsetof(bstm_config, block_gas_limit) + 4,
				    offsetof(bstm_config, sequential_fallback) + 4,
				    offsetof(bstm_config, spin_before_park) + 4,
				    offsetof(bstm_config, timed_segments) + 4,
				    sizeof(config) + 8};
	for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
		config.size = bad_sizes[i];
		cr_assert_eq(bstm_executor_create(&config, &executor), BSTM_EINVAL, "size %zu",
			     bad_sizes[i]);
		cr_assert_eq(bstm_config_init_size(&config, bad_sizes[i]), BSTM_EINVAL);
	}
	config.size = sizeof(config);
	config.reserved = 1;
	cr_assert_eq(bstm_executor_create(&config, &executor), BSTM_EINVAL);
	config.reserved = 0;
	config.size = 40;
	config.timed_segments = 77; /* beyond the size: the default applies */
	config.reserved = 5;
	cr_assert_eq(bstm_executor_create(&config, &executor), 0);
	bstm_executor_destroy(executor);
	cr_assert_eq(bstm_config_init_size(NULL, sizeof(config)), BSTM_EINVAL);
	executor = NULL;
	bstm_config_init(&config);
	cr_assert_eq(bstm_executor_create(&config, NULL), BSTM_EINVAL);

	bstm_config_init(&config);
	config.threads = 2;
	cr_assert_eq(bstm_executor_create(&config, &executor), 0);
	tk_base *base = new_base();
	bstm_base_view view;
	tk_base_open(base, &view);
	bstm_block block = {sizeof(block), 3, same_key_txn, NULL, NULL, NULL};
	bstm_output *out = (bstm_output *)&block;

	block.size = 0;
	cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), BSTM_EINVAL);
	cr_assert_null(out);
	block.size = sizeof(block);
	block.execute = NULL;
	cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), BSTM_EINVAL);
	block.execute = same_key_txn;
	view.size = 0;
	cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), BSTM_EINVAL);
	cr_assert_eq(bstm_execute_block_sequential(executor, &block, &view, &out), BSTM_EINVAL);
	view.size = sizeof(view);
	view.get = NULL;
	cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), BSTM_EINVAL);
	tk_base_open(base, &view);
	block.txn_count = BSTM_MAX_BLOCK_TXNS + 1;
	out = (bstm_output *)&block;
	int rc = bstm_execute_block(executor, &block, &view, &out);
	cr_assert(rc == BSTM_ETOOBIG || rc == BSTM_EINVAL, "oversized block: %s", bstm_errname(rc));
	cr_assert_null(out);

	/* Still usable after every rejected call. */
	block.txn_count = 3;
	cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), 0);
	tk_base_close(base);
	cr_assert_eq(out->stats.committed, 3);
	bstm_output_free(out);
	bstm_output_free(NULL);
	bstm_executor_destroy(executor);
	bstm_executor_destroy(NULL);
	tk_base_free(base);
}

Test(executor, error_names_and_messages)
{
	struct {
		int code;
		const char *name;
		const char *message;
	} table[] = {
#define ROW_(name, value, message) {BSTM_##name, #name, message},
		BSTM_ERRNO_MAP(ROW_)
#undef ROW_
	};
	size_t n = sizeof(table) / sizeof(table[0]);
	cr_assert_geq(n, 15);
	for (size_t i = 0; i < n; i++) {
		cr_assert_lt(table[i].code, 0);
		cr_assert_str_eq(bstm_errname(table[i].code), table[i].name);
		cr_assert_str_eq(bstm_strerror(table[i].code), table[i].message);
		for (size_t k = 0; k < i; k++)
			cr_assert_neq(table[i].code, table[k].code);
	}
	static const int unknown[] = {1, -9999, -16, 12345, -2147483647 - 1};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		cr_assert_str_eq(bstm_strerror(unknown[i]), "unknown error");
		cr_assert_str_eq(bstm_errname(unknown[i]), "UNKNOWN");
	}
	cr_assert_not_null(bstm_strerror(0));
	cr_assert_not_null(bstm_errname(0));
	cr_assert_str_eq(bstm_version(), "0.1.0");
}

/*
 * Writes a key of BSTM_MAX_KEY_LEN bytes (allowed) and tries one byte more
 * for a write and a delete, and a value one byte over the limit. The return
 * codes go into the outcome's code, one byte each.
 */
static int big_key_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	static uint8_t key[BSTM_MAX_KEY_LEN + 1];
	memset(key, 'k', sizeof(key));
	const uint8_t *huge = ctx;
	int w = bstm_view_write(view, key, BSTM_MAX_KEY_LEN + 1, "v", 1);
	int d = bstm_view_delete(view, key, BSTM_MAX_KEY_LEN + 1);
	int v = bstm_view_write(view, "huge", 4, huge, (size_t)BSTM_MAX_VALUE_LEN + 1);
	int ok = bstm_view_write(view, key, BSTM_MAX_KEY_LEN, "v", 1);
	if (ok)
		return ok;
	uint64_t code =
		(uint64_t)(uint8_t)-w | (uint64_t)(uint8_t)-d << 8 | (uint64_t)(uint8_t)-v << 16;
	return done(outcome, BSTM_TXN_SUCCESS, code, 1);
}

Test(executor, key_or_value_too_large)
{
	tk_base *base = new_base();
	uint8_t *huge = calloc(1, (size_t)BSTM_MAX_VALUE_LEN + 1);
	cr_assert_not_null(huge);
	uint64_t expect = (uint64_t)(uint8_t)-BSTM_ETOOBIG * 0x010101ull;
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 2, big_key_txn, huge, base);
		cr_assert_eq(out->txns[0].code, expect,
			     "write/delete/value over the limit: codes %06llx, expected %06llx",
			     (unsigned long long)out->txns[0].code, (unsigned long long)expect);
		cr_assert_eq(out->txns[0].write_count, 1);
		cr_assert_eq(out->txns[0].writes[0].key_len, BSTM_MAX_KEY_LEN);
		bstm_output_free(out);
	}
	free(huge);
	tk_base_free(base);
}

/* Keys in an order that is not the sorted one, prefixes included. */
static int prefix_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	int rc = 0;
	switch (index) {
	case 0:
		if ((rc = put(view, "b", "0")) || (rc = put(view, "a", "0")))
			return rc;
		break;
	case 1:
		if ((rc = put(view, "ab", "1")) || (rc = bstm_view_write(view, "\xff", 1, "1", 1)))
			return rc;
		break;
	default:
		if ((rc = bstm_view_write(view, "a\0", 2, "2", 1)) || (rc = put(view, "aa", "2")) ||
		    (rc = put(view, "a", "2")))
			return rc;
		break;
	}
	return done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, merged_write_set_sorted_with_prefixes)
{
	static const struct {
		const char *key;
		size_t len;
		const char *value;
	} expect[] = {{"a", 1, "2"},  {"a\0", 2, "2"}, {"aa", 2, "2"},
		      {"ab", 2, "1"}, {"b", 1, "0"},   {"\xff", 1, "1"}};
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 3, prefix_txn, NULL, base);
		cr_assert_eq(out->write_count, 6);
		for (size_t k = 0; k < 6; k++) {
			const bstm_write *w = &out->writes[k];
			cr_assert(!tk_key_cmp(w->key, w->key_len, expect[k].key, expect[k].len),
				  "merged write %zu has the wrong key", k);
			cr_assert_eq(w->value_len, 1);
			cr_assert_eq(w->value[0], (uint8_t)expect[k].value[0]);
		}
		/* txn 2 wrote "a\0", "aa", "a": its own set is sorted too. */
		expect_write(&out->txns[2], 0, "a", "2");
		cr_assert_eq(out->txns[2].writes[1].key_len, 2);
		cr_assert(!memcmp(out->txns[2].writes[1].key, "a\0", 2));
		expect_write(&out->txns[2], 2, "aa", "2");
		bstm_output_free(out);
	}
	tk_base_free(base);
}

/* 40 keys "w/39" down to "w/00", then "w/20" once more: more writes than
 * a transaction usually makes, in the reverse of the sorted order. */
static int many_writes_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	for (int k = 39; k >= 0; k--) {
		char key[16], value[16];
		snprintf(key, sizeof key, "w/%02d", k);
		snprintf(value, sizeof value, "%u-%d", index, k);
		int rc = put(view, key, value);
		if (rc)
			return rc;
	}
	int rc = put(view, "w/20", "again");
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

/* A transaction's own writes come sorted by key, one entry per key (its
 * last write), however many keys it writes. */
Test(executor, many_writes_of_one_transaction_sorted_by_key)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_output *out = run_block(thread_set[t], 8, many_writes_txn, NULL, base);
		for (uint32_t i = 0; i < 8; i++) {
			cr_assert_eq(out->txns[i].write_count, 40, "threads=%u txn %u: %u writes",
				     thread_set[t], i, out->txns[i].write_count);
			for (int k = 0; k < 40; k++) {
				char key[16], value[16];
				snprintf(key, sizeof key, "w/%02d", k);
				snprintf(value, sizeof value, "%u-%d", i, k);
				expect_write(&out->txns[i], (uint32_t)k, key,
					     k == 20 ? "again" : value);
			}
		}
		cr_assert_eq(out->write_count, 40);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

Test(executor, output_equal_detects_differences)
{
	tk_base *base = new_base();
	bstm_output *a = run_block(4, 20, same_key_txn, NULL, base);
	bstm_output *b = run_block(2, 20, same_key_txn, NULL, base);
	cr_assert(bstm_output_equal(a, b));
	cr_assert(bstm_output_equal(a, a));

	/* Shallow copies with one field changed. */
	bstm_txn_output txns[20];
	memcpy(txns, b->txns, sizeof(txns));
	bstm_output copy = *b;
	copy.txns = txns;
	txns[7].gas_used++;
	cr_assert(!bstm_output_equal(a, &copy), "gas difference not seen");
	txns[7].gas_used--;
	txns[7].code = 1;
	cr_assert(!bstm_output_equal(a, &copy), "code difference not seen");
	txns[7].code = 0;
	txns[7].status = BSTM_TXN_ABORTED;
	cr_assert(!bstm_output_equal(a, &copy), "status difference not seen");
	txns[7].status = BSTM_TXN_SUCCESS;
	bstm_write w = txns[7].writes[0];
	w.value_len = 0;
	txns[7].writes = &w;
	cr_assert(!bstm_output_equal(a, &copy), "write difference not seen");
	txns[7].writes = b->txns[7].writes;
	cr_assert(bstm_output_equal(a, &copy));
	copy.write_count = 0;
	cr_assert(!bstm_output_equal(a, &copy), "merged write set difference not seen");
	copy.write_count = b->write_count;
	copy.stats.executions += 1000;
	cr_assert(bstm_output_equal(a, &copy), "stats must be ignored");
	bstm_output_free(a);
	bstm_output_free(b);
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Threads, stats, hooks                                                     */
/* ------------------------------------------------------------------------ */

Test(executor, stats_and_small_block_threshold)
{
	tk_base *base = new_base();
	bstm_base_view view;
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		uint32_t threads = thread_set[t];
		bstm_output *out = run_block(threads, 64, same_key_txn, NULL, base);
		cr_assert_geq(out->stats.executions, out->stats.committed);
		cr_assert_eq(out->stats.committed, 64);
		cr_assert_eq(out->stats.fallback, 0);
		cr_assert_leq(out->stats.threads, threads);
		if (threads > 1)
			cr_assert_eq(out->stats.sequential, 0,
				     "threads=%u, threshold 0: the block must run in parallel",
				     threads);
		bstm_output_free(out);

		bstm_config config;
		bstm_config_init(&config);
		config.threads = threads;
		config.small_block_threshold = 10;
		bstm_executor *executor = NULL;
		cr_assert_eq(bstm_executor_create(&config, &executor), 0);
		tk_base_open(base, &view);
		bstm_block block = {sizeof(block), 9, same_key_txn, NULL, NULL, NULL};
		cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), 0);
		cr_assert_eq(out->stats.sequential, 1, "threads=%u: 9 txns < threshold 10",
			     threads);
		cr_assert_eq(out->stats.executions, 9, "sequential runs each txn once");
		bstm_output_free(out);
		block.txn_count = 40;
		cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), 0);
		if (threads > 1)
			cr_assert_eq(out->stats.sequential, 0, "threads=%u: 40 txns >= threshold",
				     threads);
		bstm_output_free(out);
		tk_base_close(base);
		bstm_executor_destroy(executor);
	}
	tk_base_free(base);
}

/* What a commit hook saw: calls, order, and each output's hash (for blocks
 * of up to HOOK_LOG_MAX transactions). */
enum { HOOK_LOG_MAX = 4000 };

typedef struct hook_log {
	uint32_t calls;
	uint32_t next;
	uint32_t out_of_order;
	uint64_t hashes[HOOK_LOG_MAX];
} hook_log;

static void log_hook(void *ctx, uint32_t index, const bstm_txn_output *out)
{
	hook_log *log = ctx;
	if (index != log->next || index >= HOOK_LOG_MAX)
		log->out_of_order++;
	else
		log->hashes[index] = tk_txn_output_hash(out);
	log->next = index + 1;
	log->calls++;
}

Test(executor, commit_hook_in_order)
{
	uint64_t gas[50], total = 0;
	uint32_t cut = 0;
	for (int i = 0; i < 50; i++) {
		gas[i] = 3 + (uint64_t)i % 5;
		total += gas[i];
		if (!cut && total >= 100)
			cut = (uint32_t)i + 1;
	}
	tk_base *base = new_base();
	bstm_base_view view;
	for (int limited = 0; limited < 2; limited++)
		for (size_t t = 0; t < THREAD_SET_LEN; t++) {
			bstm_executor *executor =
				make_executor(thread_set[t], limited ? 100 : 0, 1);
			for (int sequential = 0; sequential < 2; sequential++) {
				hook_log log = {0};
				bstm_block block = {sizeof(block), 50,	     gas_txn,
						    gas,	   log_hook, &log};
				bstm_output *out = NULL;
				tk_base_open(base, &view);
				int rc =
					sequential
						? bstm_execute_block_sequential(executor, &block,
										&view, &out)
						: bstm_execute_block(executor, &block, &view, &out);
				tk_base_close(base);
				cr_assert_eq(rc, 0);
				cr_assert_eq(out->stats.committed, limited ? cut : 50);
				cr_assert_eq(log.calls, out->stats.committed,
					     "hook called %u times for %u commits", log.calls,
					     out->stats.committed);
				cr_assert_eq(log.out_of_order, 0);
				for (uint32_t i = 0; i < log.calls; i++)
					cr_assert_eq(log.hashes[i],
						     tk_txn_output_hash(&out->txns[i]),
						     "hook saw a different output for txn %u", i);
				bstm_output_free(out);
			}
			bstm_executor_destroy(executor);
		}
	tk_base_free(base);
}

/* Reads ten base keys and records the worker numbers it runs on. */
typedef struct worker_log {
	_Atomic uint32_t max_worker;
	_Atomic uint32_t bad_index;
} worker_log;

static int reader_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	worker_log *log = ctx;
	uint32_t worker = bstm_view_worker(view);
	uint32_t seen = atomic_load_explicit(&log->max_worker, memory_order_relaxed);
	/* Relaxed: a maximum read after the block call returns. */
	while (worker > seen &&
	       !atomic_compare_exchange_weak_explicit(&log->max_worker, &seen, worker,
						      memory_order_relaxed, memory_order_relaxed))
		;
	if (bstm_view_txn_index(view) != index)
		atomic_fetch_add_explicit(&log->bad_index, 1, memory_order_relaxed);
	uint64_t sum = 0;
	for (uint32_t k = 0; k < 10; k++) {
		char key[16];
		const void *value;
		size_t len;
		snprintf(key, sizeof(key), "b/%u", (index * 7 + k) % 50);
		int rc = bstm_view_read(view, key, strlen(key), &value, &len);
		if (rc && rc != BSTM_ENOTFOUND)
			return rc;
		sum += rc ? 0 : len;
	}
	char key[16];
	snprintf(key, sizeof(key), "s/%u", index % 5);
	int rc = bstm_view_write(view, key, strlen(key), &sum, sizeof(sum));
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, not_thread_safe_base_and_worker_numbers)
{
	tk_base *base = new_base();
	for (uint32_t k = 0; k < 50; k += 2) {
		char key[16];
		snprintf(key, sizeof(key), "b/%u", k);
		base_put(base, key, key);
	}
	tk_base_set_thread_safe(base, 0);
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		worker_log log = {0};
		bstm_output *out = run_block(thread_set[t], 500, reader_txn, &log, base);
		cr_assert_lt(atomic_load(&log.max_worker), thread_set[t]);
		cr_assert_eq(atomic_load(&log.bad_index), 0);
		cr_assert_gt(tk_base_gets(base), 0);
		bstm_output_free(out);
	}
	tk_base_free(base);
}

Test(executor, many_blocks_on_one_executor)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		bstm_executor *executor = make_executor(thread_set[t], 0, 1);
		for (uint32_t b = 0; b < 100; b++) {
			tk_gen_params params;
			tk_block block;
			tk_gen_defaults(&params, 1 + b % 40, 1 + b % 7);
			cr_assert_eq(tk_block_generate(&block, b, &params, base), 0);
			bstm_output *model = NULL;
			cr_assert_eq(tk_block_model(&block, base, 0, &model), 0);
			bstm_block desc;
			bstm_base_view view;
			tk_block_describe(&block, &desc);
			tk_block_reset_checks(&block, thread_set[t]);
			tk_base_open(base, &view);
			bstm_output *out = NULL;
			int rc = bstm_execute_block(executor, &desc, &view, &out);
			tk_base_close(base);
			cr_assert_eq(rc, 0, "block %u: %s", b, bstm_errname(rc));
			char why[512];
			cr_assert(tk_output_diff(model, out, why, sizeof(why)),
				  "threads=%u block %u: %s", thread_set[t], b, why);
			cr_assert_eq(atomic_load(&block.violations), 0);
			bstm_output_free(out);
			tk_model_free(model);
			tk_block_free(&block);
		}
		bstm_executor_destroy(executor);
	}
	tk_base_free(base);
}

/*
 * Out of memory anywhere in a block: the arenas are refused their k-th new
 * chunk (or every chunk from the k-th on) on a fresh executor, which must
 * get chunks for everything. The block call returns BSTM_ENOMEM and no
 * output, or (the fallback's sequential run, or a refusal the run survived
 * elsewhere) an output equal to the model; never another code, a partial
 * output or a crash (the ASan build checks leaks on these paths). Then the
 * same executor, with memory back, runs the block correctly.
 */
static _Atomic uint32_t chunks_asked, chunks_refused, refuse_from, refuse_all;

static bool refuse_kth_chunk(size_t size)
{
	(void)size;
	uint32_t k = atomic_fetch_add(&chunks_asked, 1) + 1;
	bool no = k == atomic_load(&refuse_from) || (atomic_load(&refuse_all) && k > refuse_from);
	if (no)
		atomic_fetch_add(&chunks_refused, 1);
	return no;
}

Test(executor, out_of_memory_anywhere_fails_cleanly)
{
	static const uint32_t threads[] = {1, 2, 4, 8};
	tk_base *base = new_base();
	uint32_t failed = 0, survived = 0;
	for (uint32_t trial = 0; trial < 48; trial++) {
		uint32_t thr = threads[trial % 4];
		uint32_t fallback = (trial / 4) % 2;
		tk_gen_params params;
		tk_block block;
		tk_gen_defaults(&params, 200 + trial * 7, 3 + trial % 30);
		params.large_value_pct = 10;
		cr_assert_eq(tk_block_generate(&block, 900 + trial, &params, base), 0);
		bstm_output *model = NULL;
		cr_assert_eq(tk_block_model(&block, base, 0, &model), 0);
		bstm_block desc;
		bstm_base_view view;
		tk_block_describe(&block, &desc);
		bstm_executor *executor = make_executor(thr, 0, fallback);
		for (int pass = 0; pass < 2; pass++) {
			atomic_store(&chunks_asked, 0);
			atomic_store(&chunks_refused, 0);
			atomic_store(&refuse_from, 1 + (trial / 8) % 6);
			atomic_store(&refuse_all, trial % 2);
			bstm_arena_refuse_chunk = pass ? NULL : refuse_kth_chunk;
			tk_block_reset_checks(&block, thr);
			tk_base_open(base, &view);
			bstm_output *out = NULL;
			int rc = pass || trial % 3
					 ? bstm_execute_block(executor, &desc, &view, &out)
					 : bstm_execute_block_sequential(executor, &desc, &view,
									 &out);
			tk_base_close(base);
			bstm_arena_refuse_chunk = NULL;
			uint32_t refused_now = atomic_load(&chunks_refused);
			if (rc) {
				cr_assert_eq(rc, BSTM_ENOMEM,
					     "trial %u threads=%u pass %d: %s (%u chunks refused)",
					     trial, thr, pass, bstm_errname(rc), refused_now);
				cr_assert_null(out);
				cr_assert_gt(refused_now, 0);
				failed++;
			} else {
				char why[512];
				cr_assert(tk_output_diff(model, out, why, sizeof(why)),
					  "trial %u threads=%u pass %d: %s", trial, thr, pass, why);
				survived += refused_now > 0;
				bstm_output_free(out);
			}
			cr_assert_eq(atomic_load(&block.violations), 0, "trial %u", trial);
		}
		bstm_executor_destroy(executor);
		tk_model_free(model);
		tk_block_free(&block);
	}
	tk_base_free(base);
	/* Both outcomes occurred, or the test showed less than it claims. */
	cr_expect_gt(failed, 0);
	cr_expect_gt(survived, 0);
}

/* ------------------------------------------------------------------------ */
/* The test kit's own checks must be able to fail                            */
/* ------------------------------------------------------------------------ */

Test(testkit, generator_and_model_are_deterministic)
{
	tk_base *base = new_base();
	tk_gen_params params;
	tk_gen_defaults(&params, 300, 20);
	params.derived_key_pct = 40;
	params.status_pct = 20;
	tk_block a, b;
	bstm_output *ma = NULL, *mb = NULL;
	cr_assert_eq(tk_block_generate(&a, 77, &params, base), 0);
	cr_assert_eq(tk_block_model(&a, base, 0, &ma), 0);
	cr_assert_eq(tk_block_generate(&b, 77, &params, base), 0);
	cr_assert_eq(tk_block_model(&b, base, 0, &mb), 0);
	cr_assert_eq(a.op_count, b.op_count);
	cr_assert(!memcmp(a.ops, b.ops, a.op_count * sizeof(*a.ops)));
	char why[512];
	cr_assert(tk_output_diff(ma, mb, why, sizeof(why)), "%s", why);
	cr_assert(tk_output_check(ma, 300, 0, why, sizeof(why)), "%s", why);
	tk_model_free(mb);
	tk_block_free(&b);

	/* Another seed gives another block. */
	cr_assert_eq(tk_block_generate(&b, 78, &params, base), 0);
	cr_assert_eq(tk_block_model(&b, base, 0, &mb), 0);
	cr_assert(!tk_output_diff(ma, mb, why, sizeof(why)));
	tk_model_free(ma);
	tk_model_free(mb);
	tk_block_free(&a);
	tk_block_free(&b);
	tk_base_free(base);
}

Test(testkit, output_checks_catch_broken_outputs)
{
	tk_base *base = new_base();
	tk_gen_params params;
	tk_gen_defaults(&params, 200, 50);
	params.status_pct = 0;
	tk_block block;
	bstm_output *model = NULL;
	cr_assert_eq(tk_block_generate(&block, 5, &params, base), 0);
	cr_assert_eq(tk_block_model(&block, base, 1000, &model), 0);
	char why[512];
	cr_assert(tk_output_check(model, 200, 1000, why, sizeof(why)), "%s", why);
	cr_assert_lt(model->stats.committed, 200, "the gas limit should cut this block");

	bstm_output copy = *model;
	bstm_txn_output txns[200];
	memcpy(txns, model->txns, sizeof(txns));
	copy.txns = txns;
	uint32_t w = 0;
	while (w < 200 && txns[w].write_count < 2)
		w++;
	cr_assert_lt(w, 200);

	/* Writes out of order. */
	bstm_write swapped[2] = {txns[w].writes[1], txns[w].writes[0]};
	const bstm_write *saved = txns[w].writes;
	uint32_t saved_count = txns[w].write_count;
	txns[w].writes = swapped;
	txns[w].write_count = 2;
	cr_assert(!tk_output_check(&copy, 200, 1000, why, sizeof(why)));
	cr_assert(!tk_output_diff(model, &copy, why, sizeof(why)));
	txns[w].writes = saved;
	txns[w].write_count = saved_count;

	/* A RETRY in the middle, a committed txn past the cut, wrong stats. */
	txns[0].status = BSTM_TXN_RETRY;
	cr_assert(!tk_output_check(&copy, 200, 1000, why, sizeof(why)));
	txns[0] = model->txns[0];
	uint32_t cut = model->stats.committed;
	txns[cut].status = BSTM_TXN_SUCCESS;
	cr_assert(!tk_output_check(&copy, 200, 1000, why, sizeof(why)));
	txns[cut] = model->txns[cut];
	copy.stats.committed++;
	cr_assert(!tk_output_check(&copy, 200, 1000, why, sizeof(why)));
	copy.stats.committed--;
	/* A merged write set that is not the last write per key. */
	copy.write_count--;
	cr_assert(!tk_output_check(&copy, 200, 1000, why, sizeof(why)));
	cr_assert(!tk_output_diff(model, &copy, why, sizeof(why)));
	copy.write_count++;
	/* An event changed. */
	uint32_t e = 0;
	while (e < cut && txns[e].event_count == 0)
		e++;
	if (e < cut) {
		bstm_event changed = txns[e].events[0];
		uint8_t byte = changed.len ? (uint8_t)(changed.data[0] ^ 1) : 0;
		changed.data = &byte;
		changed.len = 1;
		txns[e].events = &changed;
		txns[e].event_count = 1;
		cr_assert(!tk_output_diff(model, &copy, why, sizeof(why)));
		txns[e] = model->txns[e];
	}
	cr_assert(tk_output_diff(model, &copy, why, sizeof(why)), "%s", why);
	cr_assert(tk_output_check(&copy, 200, 1000, why, sizeof(why)), "%s", why);
	tk_model_free(model);
	tk_block_free(&block);
	tk_base_free(base);
}

/* ------------------------------------------------------------------------ */
/* Read-modify-write                                                         */
/* ------------------------------------------------------------------------ */

/* Read "counter" into *n (0 when absent) and write it to "seen/<index>". */
static int read_counter(bstm_view *view, uint32_t index, uint64_t *n)
{
	const void *value;
	size_t len;
	*n = 0;
	int rc = bstm_view_read(view, "counter", 7, &value, &len);
	if (rc && rc != BSTM_ENOTFOUND)
		return rc;
	if (!rc && len == sizeof(*n))
		memcpy(n, value, sizeof(*n));
	char key[16];
	snprintf(key, sizeof(key), "seen/%05u", index);
	return bstm_view_write(view, key, strlen(key), n, sizeof(*n));
}

/* counter += 1, and "seen/<index>" = the value it read. */
static int counter_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	uint64_t n;
	int rc = read_counter(view, index, &n);
	if (rc)
		return rc;
	n++;
	rc = bstm_view_write(view, "counter", 7, &n, sizeof(n));
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1);
}

Test(executor, read_modify_write_counter)
{
	tk_base *base = new_base();
	for (size_t t = 0; t < THREAD_SET_LEN; t++) {
		for (int round = 0; round < 5; round++) {
			bstm_output *out = run_block(thread_set[t], 1000, counter_txn, NULL, base);
			/* Transaction i must have read i, whatever the thread count. */
			for (uint32_t i = 0; i < 1000; i++) {
				uint64_t seen;
				cr_assert_eq(out->txns[i].write_count, 2);
				cr_assert_eq(out->txns[i].writes[1].value_len, sizeof(seen));
				memcpy(&seen, out->txns[i].writes[1].value, sizeof(seen));
				cr_assert_eq(seen, i, "threads=%u: txn %u read %llu", thread_set[t],
					     i, (unsigned long long)seen);
			}
			uint64_t final;
			cr_assert_eq(out->writes[0].key_len, 7);
			memcpy(&final, out->writes[0].value, sizeof(final));
			cr_assert_eq(final, 1000);
			bstm_output_free(out);
		}
	}
	tk_base_free(base);
}

/*
 * Serial segments: a block that is one long dependency chain (every
 * transaction increments one counter, some delete or rewrite a second key,
 * some emit an event) keeps the speculation window at 1-2, so the committer
 * runs stretches of it alone. Outputs must equal the sequential executor's,
 * also when the block gas limit ends the block inside a segment, and the
 * commit hook must see every committed transaction once, in order, with its
 * final output.
 */
static int chain_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	uint64_t n;
	int rc = read_counter(view, index, &n);
	if (rc)
		return rc;
	if (index % 7 == 3)
		rc = del(view, "flag");
	else if (index % 7 == 5)
		rc = bstm_view_write(view, "flag", 4, &n, sizeof(n));
	if (!rc && index % 11 == 0)
		rc = bstm_view_emit(view, &n, sizeof(n));
	if (rc)
		return rc;
	n++;
	rc = bstm_view_write(view, "counter", 7, &n, sizeof(n));
	return rc ? rc : done(outcome, BSTM_TXN_SUCCESS, 0, 1 + index % 3);
}

static void check_chain(const bstm_output *out, uint32_t threads)
{
	for (uint32_t i = 0; i < out->stats.committed; i++) {
		uint64_t seen;
		cr_assert_eq(out->txns[i].writes[out->txns[i].write_count - 1].value_len,
			     sizeof(seen));
		/* writes are sorted: "seen/..." is the last key */
		memcpy(&seen, out->txns[i].writes[out->txns[i].write_count - 1].value,
		       sizeof(seen));
		cr_assert_eq(seen, i, "threads=%u: txn %u read %llu", threads, i,
			     (unsigned long long)seen);
	}
}

Test(executor, serial_segments_on_a_dependency_chain)
{
	enum { N = 4000 };
	tk_base *base = new_base();
	uint64_t serial = 0;
	for (size_t t = 1; t < THREAD_SET_LEN; t++) {
		uint32_t threads = thread_set[t];
		for (int limited = 0; limited < 2; limited++) {
			bstm_output *out = run_block_gas(threads, limited ? 5000 : 0, N, chain_txn,
							 NULL, base);
			check_chain(out, threads);
			if (limited)
				cr_assert_lt(out->stats.committed, N, "the gas limit cut nothing");
			serial += out->stats.serial_txns;
			bstm_output_free(out);
		}
		/* The commit hook, with a cut, against the sequential entry. */
		bstm_executor *executor = make_executor(threads, 5000, 1);
		bstm_output *outs[2];
		static hook_log hooks[2];
		bstm_base_view view;
		for (int sequential = 0; sequential < 2; sequential++) {
			memset(&hooks[sequential], 0, sizeof hooks[sequential]);
			bstm_block block = {sizeof(block), N,	     chain_txn,
					    NULL,	   log_hook, &hooks[sequential]};
			tk_base_open(base, &view);
			int rc = sequential ? bstm_execute_block_sequential(executor, &block, &view,
									    &outs[sequential])
					    : bstm_execute_block(executor, &block, &view,
								 &outs[sequential]);
			tk_base_close(base);
			cr_assert_eq(rc, 0);
			cr_assert_eq(hooks[sequential].out_of_order, 0);
			cr_assert_eq(hooks[sequential].next, outs[sequential]->stats.committed);
		}
		serial += outs[0]->stats.serial_txns;
		cr_assert(bstm_output_equal(outs[0], outs[1]), "threads=%u: hooked block differs",
			  threads);
		for (uint32_t i = 0; i < outs[0]->stats.committed; i++)
			cr_assert_eq(hooks[0].hashes[i], hooks[1].hashes[i],
				     "threads=%u: the hook saw another output for txn %u", threads,
				     i);
		bstm_output_free(outs[0]);
		bstm_output_free(outs[1]);
		bstm_executor_destroy(executor);
	}
	/* On two cores a chain keeps workers colliding, so segments run; if
	 * none ran the path above was not tested at all. */
	cr_assert_gt(serial, 0, "no transaction ran in a serial segment");
	tk_base_free(base);
}

/*
 * How long serial segments last, across blocks on one executor: after a
 * block that ran at least half in segments, the next one opens with a
 * segment on worker 0, which lasts as long as the transactions stay chained
 * (the whole block for the counter chain) and ends after one chunk for a
 * block of independent transactions; the block after that speculates.
 */
static _Atomic uint32_t chain_max_worker;

/* Raise chain_max_worker to view's worker. */
static void note_worker(bstm_view *view)
{
	uint32_t worker = bstm_view_worker(view);
	uint32_t seen = atomic_load(&chain_max_worker);
	while (worker > seen && !atomic_compare_exchange_weak(&chain_max_worker, &seen, worker))
		;
}

static int chain_worker_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	note_worker(view);
	return chain_txn(ctx, index, view, outcome);
}

/* Run `fn` over n transactions sequentially and in parallel on `executor`;
 * assert the outputs agree; return the parallel output's stats. */
static bstm_block_stats run_on(bstm_executor *executor, uint32_t threads, uint32_t n,
			       bstm_txn_fn fn, tk_base *base)
{
	bstm_block block = {sizeof(block), n, fn, NULL, NULL, NULL};
	bstm_base_view view;
	bstm_output *seq = NULL, *par = NULL;
	tk_base_open(base, &view);
	cr_assert_eq(bstm_execute_block_sequential(executor, &block, &view, &seq), 0);
	atomic_store(&chain_max_worker, 0);
	cr_assert_eq(bstm_execute_block(executor, &block, &view, &par), 0);
	tk_base_close(base);
	char why[512];
	cr_assert(tk_output_diff(seq, par, why, sizeof(why)),
		  "threads=%u: parallel differs from sequential: %s", threads, why);
	bstm_block_stats stats = par->stats;
	bstm_output_free(seq);
	bstm_output_free(par);
	return stats;
}

Test(executor, serial_segments_follow_the_chain_across_blocks)
{
	enum { N = 2000, ROUNDS = 6 };
	tk_base *base = new_base();
	uint32_t opened = 0;
	for (size_t t = 1; t < THREAD_SET_LEN; t++) {
		uint32_t threads = thread_set[t];
		/* Untimed: the fourth and fifth blocks of a timed executor run
		 * serially whatever the chain rule says. */
		bstm_executor *executor = make_timed_executor(threads, 0, 1, 0);
		bool mostly_serial = false;
		for (int round = 0; round < ROUNDS && !mostly_serial; round++) {
			bstm_block_stats st = run_on(executor, threads, N, chain_worker_txn, base);
			mostly_serial = 2 * st.serial_txns >= st.committed;
		}
		if (!mostly_serial) {
			bstm_executor_destroy(executor);
			continue; /* the window never collapsed for long: nothing to check */
		}
		opened++;
		/* The chain again: one segment, on worker 0, from the first txn. */
		bstm_block_stats st = run_on(executor, threads, N, chain_worker_txn, base);
		cr_assert_eq(st.serial_txns, N, "threads=%u: %llu of %u txns serial", threads,
			     (unsigned long long)st.serial_txns, N);
		cr_assert_eq(st.executions, N, "threads=%u: %llu executions", threads,
			     (unsigned long long)st.executions);
		cr_assert_eq(atomic_load(&chain_max_worker), 0, "threads=%u: worker %u ran a txn",
			     threads, atomic_load(&chain_max_worker));
		/* Independent transactions: the opening segment ends after a chunk. */
		st = run_on(executor, threads, N, own_key_txn, base);
		cr_assert_eq(st.serial_txns, SCHED_SERIAL_CHUNK,
			     "threads=%u: %llu txns serial in a block without a chain", threads,
			     (unsigned long long)st.serial_txns);
		/* ...and the next block does not start with one. */
		st = run_on(executor, threads, N, own_key_txn, base);
		cr_assert_eq(st.serial_txns, 0, "threads=%u: %llu txns serial", threads,
			     (unsigned long long)st.serial_txns);
		bstm_executor_destroy(executor);
	}
	cr_assert_gt(opened, 0, "no thread count ran the chain mostly in segments");
	cr_log_info("%u of %zu thread counts ran the chain mostly in segments", opened,
		    THREAD_SET_LEN - 1);
	tk_base_free(base);
}

/* The chain, but transaction 1000 fails as a function once it has read the
 * counter (so it is chained like the others). */
static int chain_fail_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	if (index != 1000)
		return chain_txn(ctx, index, view, outcome);
	uint64_t n;
	int rc = read_counter(view, index, &n);
	return rc ? rc : TK_FN_FAILURE;
}

/*
 * A transaction that fails while a serial segment runs it fails the block
 * with BSTM_ETXN, as it does in the sequential order, with and without the
 * sequential retry. Once an executor has run the chain mostly in segments,
 * its next chain block runs in one segment from the first transaction to
 * the last (checked above), so transaction 1000 fails inside it.
 */
Test(executor, failure_inside_a_serial_segment_fails_the_block)
{
	enum { N = 2000, ROUNDS = 6 };
	tk_base *base = new_base();
	uint32_t opened = 0;
	for (uint32_t fallback = 0; fallback < 2; fallback++)
		for (size_t t = 1; t < THREAD_SET_LEN; t++) {
			uint32_t threads = thread_set[t];
			bstm_executor *executor = make_timed_executor(threads, 0, fallback, 0);
			bool mostly_serial = false;
			for (int round = 0; round < ROUNDS && !mostly_serial; round++) {
				bstm_block_stats st =
					run_on(executor, threads, N, chain_worker_txn, base);
				mostly_serial = 2 * st.serial_txns >= st.committed;
			}
			if (!mostly_serial) {
				bstm_executor_destroy(executor);
				continue; /* no segment opens the next block */
			}
			opened++;
			bstm_block block = {sizeof(block), N, chain_fail_txn, NULL, NULL, NULL};
			bstm_base_view view;
			bstm_output *out = (bstm_output *)&block;
			tk_base_open(base, &view);
			int rc = bstm_execute_block(executor, &block, &view, &out);
			tk_base_close(base);
			cr_assert_eq(rc, BSTM_ETXN, "threads=%u fallback=%u: %s", threads, fallback,
				     bstm_errname(rc));
			cr_assert_null(out);
			/* The executor stays usable. */
			run_on(executor, threads, N, chain_worker_txn, base);
			bstm_executor_destroy(executor);
		}
	cr_assert_gt(opened, 0, "no thread count ran the chain mostly in segments");
	cr_log_info("%u of %zu executors ran the chain mostly in segments", opened,
		    2 * (THREAD_SET_LEN - 1));
	tk_base_free(base);
}

/*
 * Timed blocks (scheduler.c): every transaction that runs on a worker other
 * than 0 first spins for 50 us (2 us on worker 0), so a parallel block,
 * which waits for the other workers' claimed runs at each commit, takes
 * several times as long per transaction as a serial one, which runs on the
 * calling thread (worker 0) alone. A timed executor runs three parallel
 * blocks and two serial ones (the schedule: the first block of each mode
 * is not timed), and then, serial being faster, serial blocks until it
 * tries parallel again after eight. Outputs equal the sequential ones in both modes; an untimed
 * executor runs every block in parallel.
 */
static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The thread that calls bstm_execute_block; off_caller is set when a
 * transaction runs on another. */
static pthread_t caller_thread;
static _Atomic bool off_caller;

static int slow_elsewhere_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	if (!pthread_equal(pthread_self(), caller_thread))
		atomic_store(&off_caller, true);
	/* 2 us on worker 0 too, so that a block lasts long enough for the
	 * other workers to wake up and join. */
	uint64_t until = mono_ns() + (bstm_view_worker(view) != 0 ? 50000 : 2000);
	while (mono_ns() < until)
		;
	note_worker(view);
	return own_key_txn(ctx, index, view, outcome);
}

Test(executor, timed_blocks_run_serially_where_parallel_is_slower)
{
	enum { N = 1000, BLOCKS = 14 };
	tk_base *base = new_base();
	for (uint32_t threads = 2; threads <= 4; threads += 2) {
		for (uint32_t timed = 0; timed < 2; timed++) {
			bstm_executor *executor = make_timed_executor(threads, 0, 1, timed);
			char modes[BLOCKS + 1] = {0};
			bool joined = true; /* other workers ran in the timed parallel blocks */
			for (int b = 0; b < BLOCKS; b++) {
				caller_thread = pthread_self();
				atomic_store(&off_caller, false);
				bstm_block_stats st =
					run_on(executor, threads, N, slow_elsewhere_txn, base);
				modes[b] = st.timed_serial ? 'S' : 'P';
				if (!st.timed_serial) {
					if (b == 1 || b == 2)
						joined &= atomic_load(&chain_max_worker) > 0;
					continue;
				}
				cr_assert_eq(st.serial_txns, N, "threads=%u: %llu of %u serial",
					     threads, (unsigned long long)st.serial_txns, N);
				cr_assert_eq(st.executions, N);
				cr_assert_eq(st.committed, N);
				cr_assert_eq(st.threads, threads,
					     "a timed serial block is the executor's");
				cr_assert_eq(st.sequential, 0,
					     "a timed serial block is not a small one");
				cr_assert_eq(st.validations, 0);
				cr_assert_not(atomic_load(&off_caller),
					      "threads=%u: a txn of a serial block ran off the "
					      "calling thread",
					      threads);
			}
			cr_log_info("threads=%u timed=%u: %s", threads, timed, modes);
			if (!timed) {
				cr_assert_str_eq(modes, "PPPPPPPPPPPPPP", "threads=%u untimed: %s",
						 threads, modes);
				bstm_executor_destroy(executor);
				continue;
			}
			/* The schedule: three parallel blocks, two serial ones. */
			cr_assert(strncmp(modes, "PPPSS", 5) == 0, "threads=%u: opened %s", threads,
				  modes);
			/* The timing: 50 us on every other worker's transactions is
			 * far more than the margin of an eighth, provided the other
			 * workers took part (on a machine too busy to run them,
			 * parallel is as fast as serial: nothing to check then; a
			 * note, not a warning, since a warning makes Criterion exit
			 * with 1 although every test passed). */
			if (joined)
				cr_assert_str_eq(modes + 5, "SSSSSSSSP", "threads=%u: %s", threads,
						 modes);
			else
				cr_log_info("threads=%u: no other worker ran in blocks 2-3: %s",
					    threads, modes);
			bstm_executor_destroy(executor);
		}
	}
	tk_base_free(base);
}

/*
 * A timed serial block that fails the way a parallel one may be retried
 * (here the transaction function fails once, as a transient error would)
 * is retried sequentially like a parallel one, so the outcome of a block
 * never depends on which mode timing chose. The hook sees every commit
 * once, in order, across the failed run and the retry.
 */
typedef struct flaky_ctx {
	_Atomic bool armed; /* the next call for FLAKY_INDEX fails */
} flaky_ctx;

enum { FLAKY_N = 200, FLAKY_INDEX = 77 };

static int flaky_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	flaky_ctx *f = ctx;
	if (index == FLAKY_INDEX && atomic_exchange(&f->armed, false))
		return TK_FN_FAILURE;
	return own_key_txn(NULL, index, view, outcome);
}

Test(executor, timed_serial_block_failure_is_retried_like_a_parallel_one)
{
	_Static_assert((int)FLAKY_N <= (int)HOOK_LOG_MAX, "the hook log holds the block");
	tk_base *base = new_base();
	bstm_base_view view;
	for (uint32_t fallback = 0; fallback < 2; fallback++) {
		bstm_executor *executor = make_timed_executor(2, 0, fallback, 1);
		flaky_ctx f = {false};
		/* The opening: three parallel blocks, then serial ones, whatever
		 * the timing says (the first serial block is the probe). */
		for (int b = 0; b < 4; b++) {
			hook_log log = {0};
			bstm_block block = {sizeof(block), FLAKY_N, flaky_txn, &f, log_hook, &log};
			bstm_output *seq = NULL, *out = NULL;
			tk_base_open(base, &view);
			cr_assert_eq(bstm_execute_block_sequential(executor, &block, &view, &seq),
				     0);
			log = (hook_log){0};
			atomic_store(&f.armed, b == 3);
			int rc = bstm_execute_block(executor, &block, &view, &out);
			tk_base_close(base);
			if (b < 3) {
				cr_assert_eq(rc, 0);
				cr_assert_eq(out->stats.timed_serial, 0, "block %d ran serially",
					     b);
			} else if (!fallback) {
				cr_assert_eq(rc, BSTM_ETXN, "%s", bstm_errname(rc));
				cr_assert_null(out);
				cr_assert_eq(log.calls, FLAKY_INDEX,
					     "hook saw %u before the failure", log.calls);
			} else {
				cr_assert_eq(rc, 0, "the failed serial block was not retried: %s",
					     bstm_errname(rc));
				cr_assert_eq(out->stats.fallback, 1);
				cr_assert_eq(out->stats.sequential, 1);
				char why[512];
				cr_assert(tk_output_diff(seq, out, why, sizeof(why)), "%s", why);
			}
			if (rc == 0 || fallback) {
				cr_assert_eq(log.out_of_order, 0);
				cr_assert_eq(log.calls, FLAKY_N, "hook called %u times", log.calls);
				for (uint32_t i = 0; i < FLAKY_N; i++)
					cr_assert_eq(log.hashes[i],
						     tk_txn_output_hash(&out->txns[i]));
			}
			bstm_output_free(seq);
			bstm_output_free(out);
		}
		/* The executor goes on: the next block runs serially (the probe's
		 * second block) and succeeds. */
		hook_log log = {0};
		bstm_block block = {sizeof(block), FLAKY_N, flaky_txn, &f, log_hook, &log};
		bstm_output *out = NULL;
		tk_base_open(base, &view);
		cr_assert_eq(bstm_execute_block(executor, &block, &view, &out), 0);
		tk_base_close(base);
		cr_assert_eq(out->stats.timed_serial, 1);
		bstm_output_free(out);
		bstm_executor_destroy(executor);
	}
	tk_base_free(base);
}
