/*
 * test_scheduler.c - the Block-STM scheduler (src/scheduler).
 *
 * Single-threaded tests drive the task protocol step by step: execution and
 * validation indices, status words, dependencies, the commit try-lock and
 * the rolling commit. A multi-threaded simulation then runs whole blocks with
 * random validation failures, random dependencies and a committer that
 * sometimes re-executes in place, and checks that every transaction commits
 * exactly once and in order, that no transaction runs on two threads at once,
 * and that the run terminates. Worker threads never assert: they count
 * violations and keep the first description for the test's thread.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/testkit.h"
#include "scheduler/scheduler.h"

static sched sc;

static void setup(void)
{
	cr_assert_eq(sched_init(&sc), 0);
}

static void teardown(void)
{
	sched_destroy(&sc);
}

TestSuite(scheduler, .init = setup, .fini = teardown);

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

static const char *status_name(enum sched_status st)
{
	switch (st) {
	case SCHED_READY:
		return "READY";
	case SCHED_EXECUTING:
		return "EXECUTING";
	case SCHED_EXECUTED:
		return "EXECUTED";
	case SCHED_ABORTING:
		return "ABORTING";
	case SCHED_COMMITTED:
		return "COMMITTED";
	}
	return "?";
}

static void expect_word(uint32_t txn, uint32_t incarnation, enum sched_status status)
{
	uint64_t w = sched_load_word(&sc, txn);
	cr_assert_eq(w, sched_word(incarnation, status), "txn %u is %s(%u), expected %s(%u)", txn,
		     status_name(sched_word_status(w)), sched_word_incarnation(w),
		     status_name(status), incarnation);
}

static uint32_t execution_idx(void)
{
	return atomic_load(&sc.execution_idx);
}

static uint32_t validation_idx(void)
{
	return atomic_load(&sc.validation_idx);
}

/* A commit that publishes the new commit index at once, as a committer's
 * unlock would after it. */
static bool sched_commit(sched *s, uint32_t txn, uint32_t incarnation)
{
	if (!sched_commit_held(s, txn, incarnation))
		return false;
	sched_commit_publish(s);
	return true;
}

/* One thread: the speculation window is wider than the small blocks here. */
static void begin(uint32_t n)
{
	cr_assert_eq(sched_begin_block(&sc, n, 1), 0);
}

/* Call next_task until it hands out an execution. Validation attempts come
 * in between (NONE for transactions that are not EXECUTED); validations
 * handed out are completed as passing. */
static sched_task next_execution(void)
{
	for (int i = 0; i < 64; i++) {
		sched_task t = sched_next_task(&sc, NULL);
		if (t.kind == SCHED_TASK_VALIDATE) {
			expect_word(t.txn, t.incarnation, SCHED_EXECUTED);
			cr_assert_eq(sched_finish_validation(&sc, t.txn, false).kind,
				     SCHED_TASK_NONE);
		}
		if (t.kind == SCHED_TASK_EXECUTE)
			return t;
	}
	cr_assert_fail("no EXECUTE task in 64 calls of next_task");
	return (sched_task){SCHED_TASK_NONE, 0, 0};
}

static void expect_execute(uint32_t txn, uint32_t incarnation)
{
	sched_task t = next_execution();
	cr_assert_eq(t.txn, txn, "EXECUTE of txn %u, expected %u", t.txn, txn);
	cr_assert_eq(t.incarnation, incarnation, "txn %u: incarnation %u, expected %u", txn,
		     t.incarnation, incarnation);
	expect_word(txn, incarnation, SCHED_EXECUTING);
}

/* Start transactions 0 .. count - 1 (incarnation 0). */
static void start_all(uint32_t count)
{
	for (uint32_t i = 0; i < count; i++)
		expect_execute(i, 0);
}

/* Start and finish 0 .. n - 1 without a new path; every VALIDATE handed
 * back is done (passing). Leaves everything EXECUTED(0). */
static void execute_all(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		expect_execute(i, 0);
		sched_task t = sched_finish_execution(&sc, i, 0, false);
		if (t.kind == SCHED_TASK_VALIDATE)
			sched_finish_validation(&sc, t.txn, false);
	}
	for (uint32_t i = 0; i < n; i++)
		expect_word(i, 0, SCHED_EXECUTED);
}

/* ------------------------------------------------------------------------ */
/* Execution and validation                                                  */
/* ------------------------------------------------------------------------ */

Test(scheduler, begin_block_state)
{
	begin(5);
	cr_assert_eq(sc.txn_count, 5);
	for (uint32_t i = 0; i < 5; i++)
		expect_word(i, 0, SCHED_READY);
	cr_assert_eq(execution_idx(), 0);
	cr_assert_eq(validation_idx(), 0);
	cr_assert_eq(sched_commit_idx(&sc), 0);
	cr_assert_not(sched_done(&sc));
	cr_assert_not(sched_stopped(&sc));

	begin(0);
	cr_assert(sched_done(&sc), "an empty block is done at once");
	cr_assert_eq(sched_next_task(&sc, NULL).kind, SCHED_TASK_NONE);
}

Test(scheduler, word_encoding)
{
	uint64_t w = sched_word(123456, SCHED_ABORTING);
	cr_assert_eq(sched_word_status(w), SCHED_ABORTING);
	cr_assert_eq(sched_word_incarnation(w), 123456);
	w = sched_word(UINT32_MAX, SCHED_COMMITTED);
	cr_assert_eq(sched_word_status(w), SCHED_COMMITTED);
	cr_assert_eq(sched_word_incarnation(w), UINT32_MAX);
}

Test(scheduler, executions_in_index_order)
{
	enum { N = 6 };
	begin(N);
	uint32_t next = 0;
	for (int i = 0; i < 4 * N; i++) {
		sched_task t = sched_next_task(&sc, NULL);
		cr_assert_neq(t.kind, SCHED_TASK_VALIDATE, "nothing is EXECUTED yet");
		if (t.kind != SCHED_TASK_EXECUTE)
			continue;
		cr_assert_eq(t.txn, next, "EXECUTE %u, expected %u", t.txn, next);
		cr_assert_eq(t.incarnation, 0);
		expect_word(t.txn, 0, SCHED_EXECUTING);
		next++;
	}
	cr_assert_eq(next, N, "%u executions handed out, expected %u", next, N);
	cr_assert_geq(execution_idx(), N);
	cr_assert_eq(sched_next_task(&sc, NULL).kind, SCHED_TASK_NONE);
}

Test(scheduler, finish_execution_returns_validation)
{
	begin(4);
	expect_execute(0, 0);
	/* A validation attempt moves validation_idx past 0, which is still
	 * executing; the call then falls through to the next execution. */
	sched_task next = sched_next_task(&sc, NULL);
	cr_assert_eq(next.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(next.txn, 1);
	cr_assert_eq(validation_idx(), 1);
	sched_task t = sched_finish_execution(&sc, 0, 0, false);
	cr_assert_eq(t.kind, SCHED_TASK_VALIDATE);
	cr_assert_eq(t.txn, 0);
	cr_assert_eq(t.incarnation, 0);
	expect_word(0, 0, SCHED_EXECUTED);
	cr_assert_eq(validation_idx(), 1, "validation_idx must not move");
}

Test(scheduler, finish_execution_new_path_lowers_validation_idx)
{
	begin(4);
	start_all(3);
	cr_assert_geq(validation_idx(), 2);
	sched_task t = sched_finish_execution(&sc, 1, 0, true);
	cr_assert_eq(t.kind, SCHED_TASK_NONE);
	cr_assert_eq(validation_idx(), 1, "validation_idx %u, expected 1", validation_idx());
	expect_word(1, 0, SCHED_EXECUTED);
	/* The next task validates txn 1. */
	t = sched_next_task(&sc, NULL);
	cr_assert_eq(t.kind, SCHED_TASK_VALIDATE);
	cr_assert_eq(t.txn, 1);
	cr_assert_eq(t.incarnation, 0);
}

Test(scheduler, finish_execution_below_validation_idx_returns_nothing)
{
	begin(4);
	expect_execute(0, 0);
	cr_assert_eq(validation_idx(), 0);
	for (int new_path = 0; new_path < 2; new_path++) {
		if (new_path) {
			begin(4);
			expect_execute(0, 0);
		}
		sched_task t = sched_finish_execution(&sc, 0, 0, new_path);
		cr_assert_eq(t.kind, SCHED_TASK_NONE);
		cr_assert_eq(validation_idx(), 0);
		/* validation_idx < execution_idx: the validation is next_task's. */
		t = sched_next_task(&sc, NULL);
		cr_assert_eq(t.kind, SCHED_TASK_VALIDATE);
		cr_assert_eq(t.txn, 0);
		cr_assert_eq(t.incarnation, 0);
	}
}

Test(scheduler, validation_abort_once_and_only_when_executed)
{
	begin(4);
	expect_execute(0, 0);
	cr_assert_not(sched_try_validation_abort(&sc, 0, 0), "EXECUTING cannot be aborted");
	cr_assert_not(sched_try_validation_abort(&sc, 1, 0), "READY cannot be aborted");
	sched_finish_execution(&sc, 0, 0, false);
	cr_assert_not(sched_try_validation_abort(&sc, 0, 1), "wrong incarnation");
	expect_word(0, 0, SCHED_EXECUTED);
	cr_assert(sched_try_validation_abort(&sc, 0, 0));
	expect_word(0, 0, SCHED_ABORTING);
	cr_assert_not(sched_try_validation_abort(&sc, 0, 0), "second abort of one incarnation");
	expect_word(0, 0, SCHED_ABORTING);
}

Test(scheduler, finish_validation_aborted_reexecutes)
{
	begin(4);
	start_all(3);
	sched_finish_execution(&sc, 1, 0, false);
	cr_assert(sched_try_validation_abort(&sc, 1, 0));
	sched_task t = sched_finish_validation(&sc, 1, true);
	/* execution_idx > 1: the validator re-executes at once. */
	cr_assert_eq(t.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(t.txn, 1);
	cr_assert_eq(t.incarnation, 1);
	expect_word(1, 1, SCHED_EXECUTING);
	cr_assert_leq(validation_idx(), 2, "validation_idx %u not lowered to 2", validation_idx());

	/* Finish incarnation 1 and abort it again. */
	sched_finish_execution(&sc, 1, 1, false);
	expect_word(1, 1, SCHED_EXECUTED);
	cr_assert_not(sched_try_validation_abort(&sc, 1, 0), "stale incarnation aborted");
	cr_assert(sched_try_validation_abort(&sc, 1, 1));
	t = sched_finish_validation(&sc, 1, true);
	cr_assert_eq(t.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(t.incarnation, 2);
	expect_word(1, 2, SCHED_EXECUTING);
}

/* An abort sends every transaction above the aborted one back to
 * validation, since they may have read its writes: validation_idx drops to
 * the next index, and the next tasks validate those transactions again. */
Test(scheduler, abort_lowers_validation_idx_to_the_next_transaction)
{
	begin(4);
	execute_all(4);
	/* Validate everything (passing), so validation_idx is past all four. */
	for (int k = 0; k < 8 && validation_idx() < 4; k++) {
		sched_task t = sched_next_task(&sc, NULL);
		if (t.kind == SCHED_TASK_VALIDATE)
			sched_finish_validation(&sc, t.txn, false);
	}
	cr_assert_eq(validation_idx(), 4);
	cr_assert(sched_try_validation_abort(&sc, 1, 0));
	sched_task t = sched_finish_validation(&sc, 1, true);
	cr_assert_eq(t.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(t.txn, 1);
	cr_assert_eq(validation_idx(), 2, "validation_idx %u, expected 2", validation_idx());
	for (uint32_t txn = 2; txn < 4; txn++) {
		t = sched_next_task(&sc, NULL);
		cr_assert_eq(t.kind, SCHED_TASK_VALIDATE, "no validation of txn %u", txn);
		cr_assert_eq(t.txn, txn);
		cr_assert_eq(t.incarnation, 0);
		cr_assert_eq(sched_finish_validation(&sc, txn, false).kind, SCHED_TASK_NONE);
	}
}

Test(scheduler, finish_validation_ready_when_execution_idx_not_past)
{
	begin(4);
	start_all(3);
	sched_finish_execution(&sc, 2, 0, false);
	cr_assert(sched_try_validation_abort(&sc, 2, 0));
	/* As after a dependency resumed a lower transaction: execution_idx
	 * already points at or below txn 2. */
	atomic_store(&sc.execution_idx, 2);
	sched_task t = sched_finish_validation(&sc, 2, true);
	cr_assert_eq(t.kind, SCHED_TASK_NONE);
	expect_word(2, 1, SCHED_READY);
	expect_execute(2, 1);
	expect_execute(3, 0);
}

Test(scheduler, finish_validation_passed_changes_nothing)
{
	begin(3);
	execute_all(3);
	uint32_t v = validation_idx(), e = execution_idx();
	sched_task t = sched_finish_validation(&sc, 1, false);
	cr_assert_eq(t.kind, SCHED_TASK_NONE);
	expect_word(1, 0, SCHED_EXECUTED);
	cr_assert_eq(validation_idx(), v);
	cr_assert_eq(execution_idx(), e);
}

Test(scheduler, validation_tasks_only_for_executed)
{
	begin(4);
	start_all(4);
	sched_finish_execution(&sc, 2, 0, true);
	cr_assert_eq(validation_idx(), 2);
	sched_task t = sched_next_task(&sc, NULL);
	cr_assert_eq(t.kind, SCHED_TASK_VALIDATE);
	cr_assert_eq(t.txn, 2);
	/* txn 3 is still EXECUTING: its validation slot passes as NONE. */
	t = sched_next_task(&sc, NULL);
	cr_assert_eq(t.kind, SCHED_TASK_NONE);
	cr_assert_eq(validation_idx(), 4);
}

/* ------------------------------------------------------------------------ */
/* Dependencies                                                              */
/* ------------------------------------------------------------------------ */

Test(scheduler, dependency_on_executing_txn)
{
	begin(4);
	start_all(3);
	cr_assert(sched_add_dependency(&sc, 2, 0));
	expect_word(2, 0, SCHED_ABORTING);
	cr_assert_eq(execution_idx(), 3);
	sched_finish_execution(&sc, 0, 0, false);
	expect_word(0, 0, SCHED_EXECUTED);
	expect_word(2, 1, SCHED_READY);
	cr_assert_eq(execution_idx(), 2, "execution_idx %u, expected 2", execution_idx());
	expect_execute(2, 1);
	expect_execute(3, 0);
}

Test(scheduler, dependency_refused_when_executed_or_committed)
{
	begin(4);
	start_all(3);
	sched_finish_execution(&sc, 0, 0, false);
	cr_assert_not(sched_add_dependency(&sc, 1, 0), "blocking txn is EXECUTED");
	expect_word(1, 0, SCHED_EXECUTING);
	cr_assert(sched_commit_trylock(&sc));
	cr_assert(sched_commit(&sc, 0, 0));
	sched_commit_unlock(&sc);
	cr_assert_not(sched_add_dependency(&sc, 2, 0), "blocking txn is COMMITTED");
	expect_word(2, 0, SCHED_EXECUTING);
}

Test(scheduler, dependency_on_aborted_and_ready_txns)
{
	begin(5);
	start_all(4);
	sched_finish_execution(&sc, 0, 0, false);
	cr_assert(sched_try_validation_abort(&sc, 0, 0));
	/* 0 is ABORTING: wait for its next incarnation. */
	cr_assert(sched_add_dependency(&sc, 1, 0));
	expect_word(1, 0, SCHED_ABORTING);
	/* 0 becomes READY (execution_idx held at 0 so nobody takes it yet). */
	atomic_store(&sc.execution_idx, 0);
	cr_assert_eq(sched_finish_validation(&sc, 0, true).kind, SCHED_TASK_NONE);
	expect_word(0, 1, SCHED_READY);
	cr_assert(sched_add_dependency(&sc, 3, 0), "READY blocking txn must accept waiters");
	expect_word(3, 0, SCHED_ABORTING);
	expect_execute(0, 1);
	sched_finish_execution(&sc, 0, 1, false);
	expect_word(1, 1, SCHED_READY);
	expect_word(3, 1, SCHED_READY);
	cr_assert_eq(execution_idx(), 1);
	expect_execute(1, 1);
	/* 2 is still EXECUTING(0): it is skipped. */
	expect_execute(3, 1);
	expect_execute(4, 0);
}

Test(scheduler, several_dependents_resumed)
{
	enum { N = 8 };
	begin(N);
	start_all(7);
	for (uint32_t t = 2; t < 7; t++) {
		cr_assert(sched_add_dependency(&sc, t, 1), "txn %u", t);
		expect_word(t, 0, SCHED_ABORTING);
	}
	sched_finish_execution(&sc, 1, 0, false);
	for (uint32_t t = 2; t < 7; t++)
		expect_word(t, 1, SCHED_READY);
	cr_assert_eq(execution_idx(), 2);
	for (uint32_t t = 2; t < 7; t++)
		expect_execute(t, 1);
	expect_execute(7, 0);

	/* A dependent can wait again (on another txn) in its next incarnation. */
	cr_assert(sched_add_dependency(&sc, 5, 0));
	expect_word(5, 1, SCHED_ABORTING);
	sched_finish_execution(&sc, 0, 0, false);
	expect_word(5, 2, SCHED_READY);
	expect_execute(5, 2);
	/* txn 1 finished earlier: its list was drained, nothing left to wake. */
	for (uint32_t t = 2; t < 7; t++)
		if (t != 5)
			expect_word(t, 1, SCHED_EXECUTING);
}

Test(scheduler, dependency_chain)
{
	enum { N = 5 };
	begin(N);
	start_all(N);
	/* 4 waits on 3, 3 on 2, 2 on 1. */
	for (uint32_t t = 4; t >= 2; t--)
		cr_assert(sched_add_dependency(&sc, t, t - 1));
	for (uint32_t t = 1; t < N; t++) {
		sched_finish_execution(&sc, t, t == 1 ? 0 : 1, false);
		if (t + 1 < N) {
			expect_word(t + 1, 1, SCHED_READY);
			cr_assert_eq(execution_idx(), t + 1);
			expect_execute(t + 1, 1);
		}
	}
	expect_word(4, 1, SCHED_EXECUTED);
}

/*
 * A registration racing the blocker's finish is never lost: either it sees
 * the blocker finished and is refused, or it lands in the list the finish
 * drains, and the waiter is READY again. A waiter enqueued between the
 * drain and the new status would stay ABORTING for ever (the lost wake-up
 * the per-transaction lock prevents). The window is a few instructions, so
 * the test tries many times, with the finish starting at a varying delay
 * after the registering thread was released.
 */
typedef struct race_arg {
	_Atomic uint32_t go;	/* round released by the test's thread */
	_Atomic uint32_t done;	/* round the registering thread has finished */
	_Atomic uint32_t added; /* registrations accepted in the round */
} race_arg;

static void *register_main(void *p)
{
	race_arg *a = p;
	for (uint32_t round = 1;; round++) {
		uint32_t go;
		for (uint32_t spins = 0; (go = atomic_load(&a->go)) < round; spins++)
			if (spins > 1000)
				sched_yield(); /* the other thread may share this CPU */
		if (go == UINT32_MAX)
			return NULL;
		atomic_store(&a->added, sched_add_dependency(&sc, 1, 0));
		atomic_store(&a->done, round);
	}
}

Test(scheduler, dependency_racing_the_finish_is_never_lost)
{
	enum { ROUNDS = 200000 };
	race_arg a = {0, 0, 0};
	pthread_t thread;
	cr_assert_eq(pthread_create(&thread, NULL, register_main, &a), 0);
	uint32_t added = 0, bad = 0, bad_round = 0;
	uint64_t seed = 0x9e3779b97f4a7c15u;
	for (uint32_t round = 1; round <= ROUNDS; round++) {
		cr_assert_eq(sched_begin_block(&sc, 2, 2), 0);
		start_all(2);
		seed = seed * 6364136223846793005u + 1442695040888963407u;
		uint32_t delay = (uint32_t)(seed >> 54); /* 0..1023 */
		atomic_store(&a.go, round);
		/* Sometimes let a registering thread that shares this CPU run
		 * first, so that both outcomes occur on a loaded machine too. */
		if (delay & 1)
			sched_yield();
		for (volatile uint32_t k = 0; k < delay; k++)
			;
		sched_finish_execution(&sc, 0, 0, false);
		for (uint32_t spins = 0; atomic_load(&a.done) < round; spins++)
			if (spins > 1000)
				sched_yield();
		uint64_t w = sched_load_word(&sc, 1);
		bool ok = atomic_load(&a.added) ? w == sched_word(1, SCHED_READY)
						: w == sched_word(0, SCHED_EXECUTING);
		added += atomic_load(&a.added);
		if (!ok && bad++ == 0)
			bad_round = round;
	}
	atomic_store(&a.go, UINT32_MAX);
	pthread_join(thread, NULL);
	cr_assert_eq(bad, 0, "%u of %u rounds lost or broke the waiter (first: round %u)", bad,
		     ROUNDS, bad_round);
	/* Both outcomes occur, or the rounds did not race. */
	cr_expect_gt(added, 0);
	cr_expect_lt(added, ROUNDS);
}

/* ------------------------------------------------------------------------ */
/* Commit                                                                    */
/* ------------------------------------------------------------------------ */

Test(scheduler, commit_trylock_exclusive)
{
	begin(2);
	cr_assert(sched_commit_trylock(&sc));
	cr_assert_not(sched_commit_trylock(&sc));
	cr_assert_not(sched_commit_trylock(&sc));
	sched_commit_unlock(&sc);
	cr_assert(sched_commit_trylock(&sc));
	sched_commit_unlock(&sc);
}

Test(scheduler, commit_in_order)
{
	enum { N = 4 };
	begin(N);
	execute_all(N);
	cr_assert(sched_commit_trylock(&sc));
	for (uint32_t i = 0; i < N; i++) {
		cr_assert_not(sched_done(&sc));
		cr_assert_not(sched_commit(&sc, i, 1), "wrong incarnation committed");
		cr_assert(sched_commit(&sc, i, 0), "commit of txn %u", i);
		expect_word(i, 0, SCHED_COMMITTED);
		cr_assert_eq(sched_commit_idx(&sc), i + 1);
		cr_assert_not(sched_try_validation_abort(&sc, i, 0), "COMMITTED txn %u aborted", i);
		expect_word(i, 0, SCHED_COMMITTED);
	}
	sched_commit_unlock(&sc);
	cr_assert(sched_done(&sc));
	/* Nothing left to hand out; committed transactions are not validated. */
	for (int i = 0; i < 8; i++)
		cr_assert_eq(sched_next_task(&sc, NULL).kind, SCHED_TASK_NONE);
}

Test(scheduler, commit_fails_after_abort)
{
	begin(3);
	execute_all(3);
	cr_assert(sched_try_validation_abort(&sc, 0, 0));
	cr_assert(sched_commit_trylock(&sc));
	cr_assert_not(sched_commit(&sc, 0, 0));
	cr_assert_eq(sched_commit_idx(&sc), 0);
	expect_word(0, 0, SCHED_ABORTING);
	sched_commit_unlock(&sc);

	/* Not yet executed: no commit either. */
	begin(3);
	expect_execute(0, 0);
	cr_assert_not(sched_commit(&sc, 0, 0), "EXECUTING txn committed");
	cr_assert_eq(sched_commit_idx(&sc), 0);
}

Test(scheduler, take_over_reexecutes_in_place)
{
	begin(4);
	execute_all(4);
	cr_assert(sched_commit_trylock(&sc));
	cr_assert(sched_commit(&sc, 0, 0));
	/* The commit validation of 1 failed and the committer won the abort. */
	cr_assert(sched_try_validation_abort(&sc, 1, 0));
	sched_take_over(&sc, 1, 0);
	expect_word(1, 1, SCHED_EXECUTING);
	cr_assert_leq(validation_idx(), 2);
	/* Nobody else can start it: it never was READY. */
	for (int i = 0; i < 8; i++) {
		sched_task t = sched_next_task(&sc, NULL);
		cr_assert_not(t.kind == SCHED_TASK_EXECUTE && t.txn == 1,
			      "txn 1 handed out while taken over");
		if (t.kind == SCHED_TASK_VALIDATE)
			sched_finish_validation(&sc, t.txn, false);
	}
	sched_finish_execution(&sc, 1, 1, false);
	expect_word(1, 1, SCHED_EXECUTED);
	cr_assert(sched_commit(&sc, 1, 1));
	cr_assert_eq(sched_commit_idx(&sc), 2);
	sched_commit_unlock(&sc);
}

Test(scheduler, take_over_wakes_dependents)
{
	begin(4);
	execute_all(2);
	expect_execute(2, 0);
	cr_assert(sched_try_validation_abort(&sc, 1, 0));
	cr_assert(sched_add_dependency(&sc, 2, 1));
	sched_take_over(&sc, 1, 0);
	sched_finish_execution(&sc, 1, 1, false);
	expect_word(2, 1, SCHED_READY);
	cr_assert_leq(execution_idx(), 2);
	expect_execute(2, 1);
}

Test(scheduler, done_after_stop)
{
	begin(10);
	cr_assert_not(sched_done(&sc));
	sched_stop(&sc);
	cr_assert(sched_stopped(&sc));
	cr_assert(sched_done(&sc));
	begin(10);
	cr_assert_not(sched_stopped(&sc), "begin_block must clear the stop flag");
	cr_assert_not(sched_done(&sc));
}

Test(scheduler, ensure_progress_lowers_execution_idx)
{
	begin(4);
	/* txn 0 READY at commit_idx but execution_idx past it. */
	atomic_store(&sc.execution_idx, 3);
	sched_ensure_progress(&sc);
	cr_assert_eq(execution_idx(), 0);
	expect_execute(0, 0);

	/* Not READY at commit_idx: nothing changes. */
	atomic_store(&sc.execution_idx, 3);
	sched_ensure_progress(&sc);
	cr_assert_eq(execution_idx(), 3);

	/* After commits, the transaction at commit_idx is the one that counts. */
	begin(4);
	execute_all(2);
	cr_assert(sched_commit_trylock(&sc));
	cr_assert(sched_commit(&sc, 0, 0));
	sched_commit_unlock(&sc);
	cr_assert(sched_try_validation_abort(&sc, 1, 0));
	atomic_store(&sc.execution_idx, 1);
	cr_assert_eq(sched_finish_validation(&sc, 1, true).kind, SCHED_TASK_NONE);
	atomic_store(&sc.execution_idx, 4);
	sched_ensure_progress(&sc);
	cr_assert_eq(execution_idx(), 1);
	expect_execute(1, 1);

	/* A finished block: no change. */
	begin(1);
	execute_all(1);
	cr_assert(sched_commit(&sc, 0, 0));
	sched_ensure_progress(&sc);
	cr_assert_eq(execution_idx(), 1);
}

/* Run next_task (finishing executions cleanly and passing validations)
 * until it has nothing more; returns the highest txn started, or -1. Every
 * execution must start below commit_idx + window. */
static int64_t drain_tasks(void)
{
	int64_t highest = -1;
	for (int i = 0; i < 4096; i++) {
		uint32_t limit = sched_commit_idx(&sc) + atomic_load(&sc.window);
		sched_task t = sched_next_task(&sc, NULL);
		if (t.kind == SCHED_TASK_EXECUTE) {
			cr_assert_lt(t.txn, limit, "txn %u started, window ends at %u", t.txn,
				     limit);
			if ((int64_t)t.txn > highest)
				highest = t.txn;
			t = sched_finish_execution(&sc, t.txn, t.incarnation, false);
		}
		if (t.kind == SCHED_TASK_VALIDATE)
			sched_finish_validation(&sc, t.txn, false);
	}
	return highest;
}

/* Commit the txn at commit_idx after re-executing it in place. */
static void commit_reexecuted(void)
{
	uint32_t c = sched_commit_idx(&sc);
	uint64_t w = sched_load_word(&sc, c);
	cr_assert_eq(sched_word_status(w), SCHED_EXECUTED, "txn %u not EXECUTED", c);
	uint32_t inc = sched_word_incarnation(w);
	cr_assert(sched_try_validation_abort(&sc, c, inc));
	sched_take_over(&sc, c, inc);
	sched_finish_execution(&sc, c, inc + 1, false);
	cr_assert(sched_commit(&sc, c, inc + 1));
}

Test(scheduler, speculation_window)
{
	enum { N = 200 };
	begin(N);
	uint32_t full = atomic_load(&sc.window);
	cr_assert_geq(full, 1);
	cr_assert_lt(full, N, "test needs a block larger than the window");
	cr_assert_eq(drain_tasks(), (int64_t)full - 1, "nothing committed: only the window runs");

	/* Commits of re-executed txns shrink the window, never below 1. */
	cr_assert(sched_commit_trylock(&sc));
	uint32_t prev = full;
	for (int k = 0; k < 8; k++) {
		commit_reexecuted();
		uint32_t now = atomic_load(&sc.window);
		cr_assert_geq(now, 1, "window closed completely");
		cr_assert_leq(now, prev, "window grew after a re-executed commit");
		prev = now;
	}
	cr_assert_lt(prev, full, "re-executed commits did not shrink the window");
	drain_tasks();

	/* Clean commits open it again, up to where it started. */
	for (;;) {
		uint32_t c = sched_commit_idx(&sc);
		if (c == N)
			break;
		uint64_t w = sched_load_word(&sc, c);
		if (sched_word_status(w) != SCHED_EXECUTED) {
			cr_assert_geq(drain_tasks(), 0, "txn %u at commit_idx never ran", c);
			continue;
		}
		cr_assert(sched_commit(&sc, c, sched_word_incarnation(w)));
		uint32_t now = atomic_load(&sc.window);
		cr_assert_geq(now, prev, "window shrank after a clean commit");
		cr_assert_leq(now, full, "window beyond its maximum");
		prev = now;
	}
	sched_commit_unlock(&sc);
	cr_assert(sched_done(&sc));
	cr_assert_eq(atomic_load(&sc.window), full, "window did not reopen fully");
}

/* ------------------------------------------------------------------------ */
/* Calm blocks                                                               */
/* ------------------------------------------------------------------------ */

Test(scheduler, calm_block_hands_out_no_validation)
{
	sc.calm_enabled = true;
	begin(4);
	cr_assert(sched_calm(&sc), "a new block starts calm");
	expect_execute(0, 0);
	/* Neither right after the execution nor from next_task, also when the
	 * execution wrote a new path. */
	cr_assert_eq(sched_finish_execution(&sc, 0, 0, false).kind, SCHED_TASK_NONE);
	expect_execute(1, 0);
	cr_assert_eq(sched_finish_execution(&sc, 1, 0, true).kind, SCHED_TASK_NONE);
	cr_assert_eq(validation_idx(), 0, "validation_idx moved while calm");
	expect_execute(2, 0);
	expect_execute(3, 0);
	sched_finish_execution(&sc, 2, 0, false);
	sched_finish_execution(&sc, 3, 0, false);
	cr_assert_eq(sched_next_task(&sc, NULL).kind, SCHED_TASK_NONE);
	/* Four executed, none validated: not work while calm. */
	cr_assert_not(sched_has_work(&sc, NULL));
	for (uint32_t i = 0; i < 4; i++)
		expect_word(i, 0, SCHED_EXECUTED);

	/* The same state without calm blocks hands out the validations. */
	sc.calm_enabled = false;
	cr_assert(sched_has_work(&sc, NULL));
	for (uint32_t i = 0; i < 4; i++) {
		sched_task t = sched_next_task(&sc, NULL);
		cr_assert_eq(t.kind, SCHED_TASK_VALIDATE);
		cr_assert_eq(t.txn, i);
		sched_finish_validation(&sc, i, false);
	}
}

Test(scheduler, calm_ends_with_a_reexecuted_commit_and_comes_back)
{
	enum { N = 200 };
	sc.calm_enabled = true;
	begin(N);
	uint32_t full = atomic_load(&sc.window);
	drain_tasks();
	cr_assert_eq(validation_idx(), 0);
	cr_assert(sched_commit_trylock(&sc));
	commit_reexecuted();
	cr_assert_not(sched_calm(&sc), "a re-executed commit must end the calm");
	/* Validations resume from the commit index. */
	sched_task t = sched_next_task(&sc, NULL);
	cr_assert_eq(t.kind, SCHED_TASK_VALIDATE);
	cr_assert_eq(t.txn, 1, "validation of txn %u, expected 1", t.txn);
	sched_finish_validation(&sc, t.txn, false);

	/* Clean commits reopen the window; calm returns exactly when it is
	 * fully open again. */
	uint32_t clean = 0;
	while (!sched_calm(&sc)) {
		uint32_t c = sched_commit_idx(&sc);
		cr_assert_lt(c, N, "the window never reopened");
		uint64_t w = sched_load_word(&sc, c);
		if (sched_word_status(w) != SCHED_EXECUTED) {
			drain_tasks();
			continue;
		}
		cr_assert(sched_commit(&sc, c, sched_word_incarnation(w)));
		clean++;
	}
	sched_commit_unlock(&sc);
	cr_assert_eq(atomic_load(&sc.window), full);
	/* The window grows by an eighth of a transaction per clean commit
	 * after halving. */
	cr_assert_eq(clean, 8 * (full - full / 2), "calm after %u clean commits", clean);
	cr_assert_eq(sched_finish_execution(&sc, N - 1, 0, false).kind, SCHED_TASK_NONE);
}

/* ------------------------------------------------------------------------ */
/* Serial segments                                                           */
/* ------------------------------------------------------------------------ */

Test(scheduler, serial_due_after_a_run_of_narrow_windows)
{
	enum { N = 600 };
	for (int enabled = 0; enabled < 2; enabled++) {
		begin(N);
		sc.serial_enabled = enabled;
		cr_assert_not(sched_serial_pending(&sc), "due at the start of a block");
		drain_tasks();
		cr_assert(sched_commit_trylock(&sc));
		uint32_t commits = 0, due_at = 0;
		while (sched_commit_idx(&sc) < 200 && !sched_serial_pending(&sc)) {
			commit_reexecuted();
			drain_tasks();
			commits++;
		}
		if (sched_serial_pending(&sc))
			due_at = commits;
		sched_commit_unlock(&sc);
		if (!enabled) {
			cr_assert_eq(due_at, 0, "serial segments off, but one was due");
			continue;
		}
		cr_assert_geq(due_at, SCHED_SERIAL_STREAK, "due after only %u narrow commits",
			      due_at);
		cr_assert_leq(due_at, 2 * SCHED_SERIAL_STREAK, "not due after %u narrow commits",
			      due_at);
		sched_serial_begin(&sc);
		cr_assert_not(sched_serial_pending(&sc), "still due once the segment began");
	}
}

/* Narrow commits until a segment is due. */
static void narrow_until_due(void)
{
	for (int k = 0; k < 4 * (int)SCHED_SERIAL_STREAK; k++) {
		if (sched_serial_pending(&sc))
			return;
		commit_reexecuted();
		drain_tasks();
	}
	cr_assert_fail("no segment due after %u narrow commits", 4 * SCHED_SERIAL_STREAK);
}

/* Clean commits until the window reaches `window`. */
static void widen_to(uint32_t window)
{
	while (atomic_load(&sc.window) < window) {
		uint32_t c = sched_commit_idx(&sc);
		uint64_t w = sched_load_word(&sc, c);
		if (sched_word_status(w) != SCHED_EXECUTED) {
			cr_assert_geq(drain_tasks(), 0, "txn %u at commit_idx never ran", c);
			continue;
		}
		cr_assert(sched_commit(&sc, c, sched_word_incarnation(w)));
	}
	drain_tasks();
}

/* Run [commit_idx, end) as a serial segment, as the executor does. */
static void run_segment(uint32_t end)
{
	uint32_t from = sched_commit_idx(&sc);
	sched_serial_begin(&sc);
	for (uint32_t i = from; i < end; i++) {
		uint32_t inc;
		cr_assert(sched_serial_claim(&sc, i, &inc), "claim of txn %u refused", i);
		sched_serial_finish(&sc, i, inc);
	}
	sched_serial_end(&sc, end);
}

Test(scheduler, serial_segment_ends_with_the_window_open_and_can_come_again)
{
	enum { N = 600 };
	begin(N);
	sc.serial_enabled = true;
	uint32_t full = atomic_load(&sc.window);
	drain_tasks();
	cr_assert(sched_commit_trylock(&sc));
	narrow_until_due();
	run_segment(sched_commit_idx(&sc) + SCHED_SERIAL_CHUNK);
	cr_assert_eq(atomic_load(&sc.window), full, "window %u after a segment",
		     atomic_load(&sc.window));
	cr_assert_not(sched_serial_pending(&sc));
	/* The chain comes back: the window collapses and a segment is due again. */
	drain_tasks();
	narrow_until_due();
	sched_commit_unlock(&sc);
}

Test(scheduler, serial_chaining_rule)
{
	cr_assert_not(sched_serial_dense(SCHED_SERIAL_DENSE - 1));
	cr_assert(sched_serial_dense(SCHED_SERIAL_DENSE));
	cr_assert_lt(SCHED_SERIAL_DENSE, SCHED_SERIAL_CHUNK);
	for (uint32_t threads = 1; threads <= 16; threads *= 2) {
		cr_assert_eq(sched_begin_block(&sc, 10, threads), 0);
		cr_assert_eq(sched_serial_near(&sc), 2 * threads);
	}
}

Test(scheduler, block_after_a_mostly_serial_one_opens_with_a_segment)
{
	enum { N = 600 };
	sc.serial_enabled = true;
	begin(N);
	uint32_t full = atomic_load(&sc.window);
	cr_assert_not(sched_serial_pending(&sc), "the first block opened with a segment");

	/* Block 1: a chain, committed almost entirely in one segment. */
	drain_tasks();
	cr_assert(sched_commit_trylock(&sc));
	narrow_until_due();
	run_segment(N);
	sched_commit_unlock(&sc);
	cr_assert_geq(sc.serial_committed, N / 2);
	sched_end_block(&sc);

	/* Block 2 opens with a segment: nothing starts before it. */
	begin(N);
	cr_assert(sched_serial_pending(&sc), "no opening segment after a serial block");
	cr_assert_eq(atomic_load(&sc.window), 0);
	cr_assert_eq(drain_tasks(), -1, "an execution started before the opening segment");
	cr_assert(sched_commit_trylock(&sc));
	/* Its first chunk finds no chain: the rest runs in parallel. */
	run_segment(SCHED_SERIAL_CHUNK);
	cr_assert_not(sched_serial_pending(&sc), "still due after the segment");
	cr_assert_eq(atomic_load(&sc.window), full);
	widen_to(full);
	for (int k = 0; k < 100000 && !sched_done(&sc); k++) {
		uint32_t c = sched_commit_idx(&sc);
		uint64_t w = sched_load_word(&sc, c);
		if (sched_word_status(w) == SCHED_EXECUTED)
			cr_assert(sched_commit(&sc, c, sched_word_incarnation(w)));
		else
			drain_tasks();
	}
	cr_assert(sched_done(&sc), "block 2 not finished");
	sched_commit_unlock(&sc);
	cr_assert_eq(sc.serial_committed, SCHED_SERIAL_CHUNK);
	sched_end_block(&sc);

	/* Block 3: the last block was mostly parallel, so it opens fully. */
	begin(N);
	cr_assert_not(sched_serial_pending(&sc), "opening segment after a parallel block");
	cr_assert_eq(atomic_load(&sc.window), full);

	/* With segments off, a carried start is ignored. */
	sc.serial_carry = true;
	sc.serial_enabled = false;
	begin(N);
	cr_assert_not(sched_serial_pending(&sc), "opening segment with segments off");
	cr_assert_eq(atomic_load(&sc.window), full);
}

/* ------------------------------------------------------------------------ */
/* Timed blocks                                                              */
/* ------------------------------------------------------------------------ */

enum { TIMED_N = 100 };

/* Plan a block of TIMED_N as the executor does; return whether timing runs
 * it serially. A serial block runs without the scheduler (the sequential
 * executor's loop); a parallel one begins, and never opens with a segment:
 * serial blocks before it were timed, not chained. */
static bool timed_chained; /* parallel blocks run mostly in segments */

static bool timed_begin(bool timed, uint32_t threads)
{
	if (sched_plan_block(&sc, true, timed, threads))
		return true;
	cr_assert_eq(sched_begin_block(&sc, TIMED_N, threads), 0);
	if (!timed_chained)
		cr_assert_not(sched_serial_pending(&sc), "a parallel block opened with a segment");
	return false;
}

/* Gas each transaction reports (0: none, so blocks are timed per
 * transaction). */
static uint64_t timed_gas;

/* End it as if every transaction committed, in `ns` each (in segments
 * if timed_chained and the block ran in parallel). */
static void timed_end(uint32_t ns)
{
	if (!sc.block_serial) {
		atomic_store(&sc.commit_idx, TIMED_N);
		sc.serial_committed = timed_chained ? TIMED_N : 0;
		sched_end_block(&sc);
	}
	sched_time_block(&sc, (uint64_t)ns * TIMED_N, TIMED_N, timed_gas * TIMED_N);
}

/* Run `blocks` blocks whose time per transaction is parallel_ns or
 * serial_ns by mode; record each block's mode (1: serial) in modes. */
static void timed_run(uint32_t blocks, uint32_t parallel_ns, uint32_t serial_ns, char *modes)
{
	for (uint32_t b = 0; b < blocks; b++) {
		bool serial = timed_begin(true, 2);
		modes[b] = serial ? 'S' : 'P';
		timed_end(serial ? serial_ns : parallel_ns);
	}
	modes[blocks] = 0;
}

/* Where the mode that lost runs, once the first five blocks are past,
 * the gaps between its blocks (in blocks of the winner) must be 8, 16,
 * ..., SCHED_PROBE_MAX, SCHED_PROBE_MAX, ... */
static void check_probe_gaps(const char *modes, char loser)
{
	uint32_t expect = SCHED_PROBE_FIRST, run = 0, probes = 0;
	for (const char *m = modes + 5; *m; m++) {
		if (*m != loser) {
			run++;
			continue;
		}
		cr_assert_eq(run, expect, "%u blocks before probe %u, not %u: %s", run, probes,
			     expect, modes);
		probes++;
		run = 0;
		if (expect < SCHED_PROBE_MAX)
			expect *= 2;
	}
	cr_assert_geq(probes, 5, "only %u probes in %s", probes, modes);
}

Test(scheduler, timed_blocks_run_serially_when_serial_is_faster)
{
	char modes[700];
	timed_run(600, 2000, 1000, modes);
	/* Three parallel blocks and two serial ones (the first of each mode
	 * is not timed), then serial with parallel probes further and further
	 * apart. */
	cr_assert(strncmp(modes, "PPPSSSSSSSSSSP", 14) == 0, "opened %.16s", modes);
	check_probe_gaps(modes, 'P');
}

Test(scheduler, timed_blocks_stay_parallel_when_parallel_is_faster)
{
	char modes[700];
	/* Serial faster, but by less than an eighth: parallel stays. */
	timed_run(600, 1000, 900, modes);
	cr_assert(strncmp(modes, "PPPSSPPPPPPPPS", 14) == 0, "opened %.16s", modes);
	check_probe_gaps(modes, 'S');
}

Test(scheduler, timed_blocks_need_no_margin_when_parallel_blocks_are_chains)
{
	/* Parallel blocks that ran mostly in serial segments gave up no
	 * parallelism for serial blocks to lose: serial wins when faster at
	 * all, here by a tenth. */
	char modes[700];
	timed_chained = true;
	timed_run(600, 1000, 900, modes);
	timed_chained = false;
	cr_assert(strncmp(modes, "PPPSSSSSSSSSSP", 14) == 0, "opened %.16s", modes);
	check_probe_gaps(modes, 'P');
	/* Equal rates: parallel stays. */
	sched_destroy(&sc);
	cr_assert_eq(sched_init(&sc), 0);
	timed_chained = true;
	timed_run(40, 1000, 1000, modes);
	timed_chained = false;
	cr_assert(strncmp(modes, "PPPSSPPPPPPPPS", 14) == 0, "opened %.16s", modes);
}

Test(scheduler, timed_blocks_follow_a_change)
{
	char modes[64];
	timed_run(9, 2000, 1000, modes); /* serial is winning */
	cr_assert_str_eq(modes, "PPPSSSSSS");
	/* Serial blocks become slower than the parallel ones: one such block
	 * could be a disturbance, two are not. Then parallel runs, and,
	 * winning now, until the serial probe after SCHED_PROBE_FIRST blocks. */
	timed_run(2 + SCHED_PROBE_FIRST + 1, 2000, 5000, modes);
	cr_assert_str_eq(modes, "SSPPPPPPPPS", "after the change: %s", modes);
	/* Parallel becomes slow too: two such blocks, and serial takes over. */
	timed_run(3, 9000, 5000, modes);
	cr_assert_str_eq(modes, "PPS", "after the second change: %s", modes);
	/* One slow parallel block among fast ones changes nothing. */
	sched_destroy(&sc);
	cr_assert_eq(sched_init(&sc), 0);
	timed_run(3, 2000, 3000, modes);
	cr_assert_str_eq(modes, "PPP");
	timed_run(2, 2000, 3000, modes); /* the serial probe: parallel wins */
	cr_assert_str_eq(modes, "SS");
	timed_run(2, 2000, 3000, modes);
	timed_run(1, 9000, 3000, modes);
	cr_assert_str_eq(modes, "P");
	timed_run(5, 2000, 3000, modes);
	cr_assert_str_eq(modes, "PPPPP", "one slow block made serial win: %s", modes);
}

Test(scheduler, timed_blocks_do_not_rate_the_first_block_of_a_mode)
{
	/* The first block of each mode faults in what that mode needs; if it
	 * were rated, the slow first serial block would make parallel win. */
	char modes[32];
	timed_run(1, 50000, 50000, modes);
	timed_run(2, 2000, 50000, modes);
	cr_assert_str_eq(modes, "PP");
	timed_run(1, 2000, 50000, modes);
	cr_assert_str_eq(modes, "S", "no serial block after two timed parallel ones");
	cr_assert_eq(sc.serial_rate[0], 0, "the first serial block was rated");
	timed_run(1, 2000, 1000, modes);
	cr_assert_str_eq(modes, "S", "the first serial block was the probe");
	cr_assert_eq(sc.serial_rate[0], 1000 * SCHED_RATE_ONE);
	cr_assert_eq(sc.parallel_rate[0], 2000 * SCHED_RATE_ONE);
	cr_assert_eq(sc.parallel_rate[1], 2000 * SCHED_RATE_ONE,
		     "the first parallel block was rated");
	timed_run(8, 2000, 1000, modes);
	cr_assert_str_eq(modes, "SSSSSSSS");
	/* A mode is warmed once per executor: the parallel probe is rated. */
	timed_run(1, 3000, 1000, modes);
	cr_assert_str_eq(modes, "P");
	cr_assert_eq(sc.parallel_rate[0], 3000 * SCHED_RATE_ONE);
}

/* Phases of phase_len blocks alternate between cheap transactions (gas
 * 1,000, 1 us in parallel, 0.8 us serially) and costly ones (ten times
 * each); serial is a fifth faster in both. */
static void timed_run_phases(uint32_t blocks, uint32_t phase_len, char *modes)
{
	char one[2];
	for (uint32_t b = 0; b < blocks; b++) {
		uint32_t scale = (b / phase_len) % 2 ? 10 : 1;
		timed_gas = 1000u * scale;
		timed_run(1, 1000 * scale, 800 * scale, one);
		modes[b] = one[0];
	}
	modes[blocks] = 0;
	timed_gas = 0;
}

Test(scheduler, timed_blocks_rate_by_gas_across_cheap_and_costly_blocks)
{
	/* Rated per unit of gas, blocks of both kinds compare fairly: the
	 * modes are what a run of cheap blocks alone gives. Rated per
	 * transaction, the first costly serial blocks would look ten times
	 * slower than the cheap parallel ones before them, and parallel would
	 * win there. */
	char mixed[300], plain[300];
	timed_run_phases(260, 20, mixed);
	sched_destroy(&sc);
	cr_assert_eq(sched_init(&sc), 0);
	timed_run_phases(260, 1000, plain);
	cr_assert_str_eq(mixed, plain);
	cr_assert(strncmp(plain, "PPPSSSSSSSSSSP", 14) == 0, "opened %.16s", plain);
	check_probe_gaps(plain, 'P');
}

Test(scheduler, timed_blocks_start_over_when_the_unit_changes)
{
	/* Serial wins per transaction; then the transactions report gas.
	 * Rates per transaction and per gas do not compare: the first block
	 * in gas is not rated, the second changes the unit and timing starts
	 * over (without a warm-up): two parallel blocks and a serial probe. */
	char modes[64];
	timed_run(9, 2000, 1000, modes);
	cr_assert_str_eq(modes, "PPPSSSSSS");
	timed_gas = 5;
	timed_run(1, 2000, 1000, modes);
	cr_assert_eq(sc.rate_unit, SCHED_UNIT_TXN, "one block changed the unit");
	cr_assert_eq(sc.serial_rate[0], 1000 * SCHED_RATE_ONE, "a block in gas was rated");
	timed_run(4, 2000, 1000, modes);
	timed_gas = 0;
	cr_assert_eq(sc.rate_unit, SCHED_UNIT_GAS);
	cr_assert_str_eq(modes, "SPPS", "after the change of unit: %s", modes);
	cr_assert_eq(sc.parallel_rate[0], 2000 * SCHED_RATE_ONE / 5);
	cr_assert_eq(sc.serial_rate[0], 1000 * SCHED_RATE_ONE / 5);
	cr_assert(sc.timed_serial);
}

Test(scheduler, timed_blocks_ignore_single_blocks_in_the_other_unit)
{
	/* Every other block uses no gas (its transactions were discarded,
	 * say): those are not rated, and the gas blocks decide as if they
	 * were alone. Serial a fifth faster: serial wins and stays. */
	char one[2], modes[128];
	for (int b = 0; b < 120; b++) {
		timed_gas = b % 2 ? 0 : 1000;
		timed_run(1, 1000, 800, one);
		modes[b] = one[0];
	}
	modes[120] = 0;
	timed_gas = 0;
	cr_assert_eq(sc.rate_unit, SCHED_UNIT_GAS);
	uint32_t serial = 0;
	for (int b = 20; b < 120; b++)
		serial += modes[b] == 'S';
	cr_assert_geq(serial, 95, "%u of 100 blocks serial: %s", serial, modes);
}

Test(scheduler, timed_blocks_resolve_cheap_gas_and_survive_extremes)
{
	/* A million gas per transaction (a thousandth of a ns per unit):
	 * serial a fifth faster still wins, and a tenth faster does not. */
	char modes[32];
	timed_gas = 1000000;
	timed_run(14, 1000, 800, modes);
	cr_assert_str_eq(modes, "PPPSSSSSSSSSSP");
	sched_destroy(&sc);
	cr_assert_eq(sched_init(&sc), 0);
	timed_run(14, 1000, 900, modes);
	cr_assert_str_eq(modes, "PPPSSPPPPPPPPS");
	timed_gas = 0;
	/* Extreme times and work are capped, never a division by zero or an
	 * overflow. */
	sched_destroy(&sc);
	cr_assert_eq(sched_init(&sc), 0);
	for (int b = 0; b < 6; b++) {
		cr_assert_not(timed_begin(true, 2) && b < 3);
		sched_time_block(&sc, UINT64_MAX, 1, b % 2 ? UINT64_MAX : 1);
	}
	cr_assert_leq(sc.parallel_rate[0], SCHED_RATE_MAX);
	cr_assert_geq(sc.parallel_rate[0], 1);
}

Test(scheduler, timed_blocks_need_timing_segments_and_two_threads)
{
	for (int c = 0; c < 3; c++) {
		cr_assert_eq(sched_init(&sc), 0);
		for (int b = 0; b < 40; b++) {
			uint32_t threads = c == 2 ? 1 : 2;
			cr_assert_not(sched_plan_block(&sc, c != 1, c != 0, threads),
				      "case %d, block %d ran serially", c, b);
			cr_assert_eq(sched_begin_block(&sc, TIMED_N, threads), 0);
			timed_end(9000);
		}
		sched_destroy(&sc);
	}
	/* A block that committed nothing (it failed) is not timed. */
	sched_destroy(&sc);
	cr_assert_eq(sched_init(&sc), 0);
	for (int b = 0; b < 8; b++) {
		cr_assert_not(timed_begin(true, 2));
		sched_time_block(&sc, 1000, 0, 0);
	}
	cr_assert_eq(sc.parallel_rate[0], 0);
}

Test(scheduler, serial_segment_stops_new_executions)
{
	begin(64);
	execute_all(4);
	sched_serial_begin(&sc);
	for (int i = 0; i < 64; i++) {
		sched_task t = sched_next_task(&sc, NULL);
		cr_assert_neq(t.kind, SCHED_TASK_EXECUTE, "txn %u started during a segment", t.txn);
		if (t.kind == SCHED_TASK_VALIDATE)
			sched_finish_validation(&sc, t.txn, false);
	}
}

typedef struct claimer {
	pthread_t thread;
	uint32_t txn;
	uint32_t incarnation;
	_Atomic int done; /* 1: claimed, 2: refused */
} claimer;

static void *claim_main(void *arg)
{
	claimer *c = arg;
	bool ok = sched_serial_claim(&sc, c->txn, &c->incarnation);
	atomic_store(&c->done, ok ? 1 : 2);
	return NULL;
}

static void claim_async(claimer *c, uint32_t txn)
{
	memset(c, 0, sizeof *c);
	c->txn = txn;
	cr_assert_eq(pthread_create(&c->thread, NULL, claim_main, c), 0);
}

/* Still waiting after a while: the claim must not take what others own. */
static void expect_waiting(claimer *c)
{
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	cr_assert_eq(atomic_load(&c->done), 0, "claim of txn %u did not wait", c->txn);
}

Test(scheduler, serial_claim_takes_over_every_state)
{
	begin(8);
	execute_all(2);
	uint32_t inc = 99;
	/* READY: straight to EXECUTING, same incarnation. */
	cr_assert(sched_serial_claim(&sc, 5, &inc));
	cr_assert_eq(inc, 0);
	expect_word(5, 0, SCHED_EXECUTING);
	/* EXECUTED: aborted and taken over, next incarnation, never READY. */
	cr_assert(sched_serial_claim(&sc, 0, &inc));
	cr_assert_eq(inc, 1);
	expect_word(0, 1, SCHED_EXECUTING);

	/* ABORTING (a validator's): wait until its owner hands it on. */
	cr_assert(sched_try_validation_abort(&sc, 1, 0));
	claimer c;
	claim_async(&c, 1);
	expect_waiting(&c);
	sched_task t = sched_finish_validation(&sc, 1, true);
	if (t.kind == SCHED_TASK_EXECUTE) {
		/* The validator re-executes it: the claim waits for that too. */
		cr_assert_eq(t.txn, 1);
		expect_waiting(&c);
		sched_finish_execution(&sc, 1, t.incarnation, false);
	}
	pthread_join(c.thread, NULL);
	cr_assert_eq(atomic_load(&c.done), 1);
	expect_word(1, c.incarnation, SCHED_EXECUTING);
	cr_assert_geq(c.incarnation, 1);

	/* EXECUTING elsewhere: wait; a stopped block refuses the claim. */
	expect_execute(2, 0);
	claim_async(&c, 2);
	expect_waiting(&c);
	sched_stop(&sc);
	pthread_join(c.thread, NULL);
	cr_assert_eq(atomic_load(&c.done), 2, "claim not refused after the stop");
	expect_word(2, 0, SCHED_EXECUTING);
}

Test(scheduler, serial_finish_and_end)
{
	begin(6);
	expect_execute(0, 0);
	expect_execute(1, 0);
	expect_execute(2, 0);
	expect_execute(3, 0);
	/* 1 and 2 read estimates of 0, which the committer now runs serially. */
	cr_assert(sched_add_dependency(&sc, 1, 0));
	cr_assert(sched_add_dependency(&sc, 2, 0));
	sched_serial_begin(&sc);
	sched_serial_finish(&sc, 0, 0);
	expect_word(0, 0, SCHED_COMMITTED);
	expect_word(1, 1, SCHED_READY);
	expect_word(2, 1, SCHED_READY);
	cr_assert_leq(execution_idx(), 1, "resumed waiters must be reachable");
	/* A registration after the finish is refused: read again. */
	cr_assert_not(sched_add_dependency(&sc, 3, 0));
	cr_assert_eq(sched_commit_idx(&sc), 0, "commit_idx moves only at the segment's end");

	uint32_t inc;
	cr_assert(sched_serial_claim(&sc, 1, &inc));
	cr_assert_eq(inc, 1);
	sched_serial_finish(&sc, 1, inc);
	sched_serial_end(&sc, 2);
	cr_assert_eq(sched_commit_idx(&sc), 2);
	cr_assert_leq(validation_idx(), 2, "work above the segment must be validated again");
	cr_assert_eq(atomic_load(&sc.window), sc.window_max,
		     "speculation resumes with the window open");
	expect_execute(2, 1);
}

Test(scheduler, blocks_reuse_state)
{
	static const uint32_t sizes[] = {100, 10, 1000, 1, 0, 257};
	for (size_t b = 0; b < sizeof sizes / sizeof sizes[0]; b++) {
		uint32_t n = sizes[b];
		begin(n);
		cr_assert_eq(sc.txn_count, n);
		cr_assert_geq(sc.capacity, n);
		for (uint32_t i = 0; i < n; i++) {
			expect_word(i, 0, SCHED_READY);
			cr_assert_eq(sc.txns[i].dependents, SCHED_NONE);
		}
		cr_assert_eq(execution_idx(), 0);
		cr_assert_eq(validation_idx(), 0);
		cr_assert_eq(sched_commit_idx(&sc), 0);
		cr_assert_eq(atomic_load(&sc.commit_lock), 0);
		/* Leave the block half done, with waiters, a held lock and a
		 * stop, for the next begin_block to clear. */
		if (n >= 3) {
			start_all(3);
			cr_assert(sched_add_dependency(&sc, 2, 1));
			sched_finish_execution(&sc, 0, 0, false);
			cr_assert(sched_commit(&sc, 0, 0));
		}
		cr_assert(sched_commit_trylock(&sc));
		sched_stop(&sc);
	}
}

/* ------------------------------------------------------------------------ */
/* Multi-threaded simulation                                                 */
/* ------------------------------------------------------------------------ */

typedef struct sim_params {
	uint32_t threads;
	uint32_t txns;
	uint64_t seed;
	unsigned abort_pct;	  /* validations that fail */
	unsigned dependency_pct;  /* executions that wait on a lower txn */
	unsigned new_path_pct;	  /* executions that write a new path */
	unsigned commit_fail_pct; /* commit validations that fail */
	unsigned commit_pct;	  /* executions followed by a commit attempt */
	uint32_t work;		  /* an execution spins up to this many pauses */
	unsigned yield_pct;	  /* executions that also give the core away */
	uint32_t stop_at;	  /* stop the block at this commit_idx; 0: never */
	bool open_window;	  /* keep the speculation window at the block size */
	bool serial;		  /* serial segments on (adaptive window only) */
	bool calm;		  /* calm blocks on: owners commit, as the executor does */
} sim_params;

typedef struct sim_run {
	sched *s;
	sim_params p;
	pthread_barrier_t start;
	atomic_uchar *executing;   /* per txn: an execution in flight */
	_Atomic uint32_t *started; /* per txn: executions started so far */
	_Atomic uint32_t *commits; /* per txn: times committed */
	_Atomic uint32_t *owner;   /* per txn: the thread of its latest execution */
	uint32_t *order;	   /* commit order, under the commit lock */
	uint32_t order_len;
	_Atomic uint32_t committers; /* threads inside the commit lock */
	_Atomic uint64_t executions;
	_Atomic uint64_t validations;
	_Atomic uint64_t aborts;
	_Atomic uint64_t waits;
	uint64_t serial; /* transactions committed in serial segments */
	_Atomic uint32_t livelocked;
	tk_violations bad;
} sim_run;

/* Iterations of one thread's loop without the commit index moving, and in
 * all: far beyond what a live run needs, so hitting either means livelock. */
#define SIM_STALL_CAP 2000000u
#define SIM_TOTAL_CAP 100000000u

/* The simulation thread running on this thread. */
static _Thread_local uint32_t sim_self;

/* Claim txn for an execution of `incarnation`; checks exclusivity. */
static void sim_begin_execution(sim_run *run, uint32_t txn, uint32_t incarnation)
{
	atomic_store_explicit(&run->owner[txn], sim_self, memory_order_relaxed);
	if (atomic_exchange_explicit(&run->executing[txn], 1, memory_order_acq_rel))
		tk_violation(&run->bad, "txn %u inc %u: executed by two threads at once", txn,
			     incarnation);
	uint64_t w = sched_load_word(run->s, txn);
	if (w != sched_word(incarnation, SCHED_EXECUTING))
		tk_violation(&run->bad, "txn %u: executing inc %u while its word is %s(%u)", txn,
			     incarnation, status_name(sched_word_status(w)),
			     sched_word_incarnation(w));
	uint32_t before = atomic_fetch_add_explicit(&run->started[txn], 1, memory_order_relaxed);
	if (before != incarnation)
		tk_violation(&run->bad, "txn %u: execution number %u has incarnation %u", txn,
			     before, incarnation);
	atomic_fetch_add_explicit(&run->executions, 1, memory_order_relaxed);
}

static void sim_end_execution(sim_run *run, uint32_t txn)
{
	atomic_store_explicit(&run->executing[txn], 0, memory_order_release);
}

/* Stand-in for running a transaction: long enough, and sometimes yielding,
 * so that executions on different threads overlap even on two cores. */
static void sim_work(sim_run *run, tk_rng *rng)
{
	uint64_t spins = tk_rng_below(rng, (uint64_t)run->p.work + 1);
	for (uint64_t i = 0; i < spins; i++)
		bstm_cpu_relax();
	if (tk_rng_chance(rng, run->p.yield_pct))
		sched_yield();
}

static sched_task sim_execute(sim_run *run, tk_rng *rng, uint32_t txn, uint32_t incarnation)
{
	sched_task none = {SCHED_TASK_NONE, 0, 0};
	sim_begin_execution(run, txn, incarnation);
	sim_work(run, rng);
	if (txn > 0 && tk_rng_chance(rng, run->p.dependency_pct)) {
		/* The execution read an ESTIMATE of a lower txn. */
		uint32_t span = txn < 4 ? txn : 4;
		uint32_t blocking = txn - 1 - (uint32_t)tk_rng_below(rng, span);
		sim_end_execution(run, txn);
		if (sched_add_dependency(run->s, txn, blocking)) {
			atomic_fetch_add_explicit(&run->waits, 1, memory_order_relaxed);
			return none;
		}
		/* blocking finished meanwhile: read again and go on. */
		if (atomic_exchange_explicit(&run->executing[txn], 1, memory_order_acq_rel))
			tk_violation(&run->bad,
				     "txn %u: taken by another thread after a refused "
				     "dependency",
				     txn);
		sim_work(run, rng);
	}
	sim_end_execution(run, txn);
	return sched_finish_execution(run->s, txn, incarnation,
				      tk_rng_chance(rng, run->p.new_path_pct));
}

/* Undo the window's adaptation, as the paper's scheduler has none: every
 * transaction may start at any time. The window is the committer's to
 * write, and only the committer calls this. */
static void open_window(sched *s)
{
	s->window_max = s->txn_count;
	s->window_eighths = 8 * s->txn_count;
	atomic_store_explicit(&s->window, s->txn_count, memory_order_relaxed);
}

static sched_task sim_validate(sim_run *run, tk_rng *rng, uint32_t txn, uint32_t incarnation)
{
	atomic_fetch_add_explicit(&run->validations, 1, memory_order_relaxed);
	bool aborted = tk_rng_chance(rng, run->p.abort_pct) &&
		       sched_try_validation_abort(run->s, txn, incarnation);
	if (aborted)
		atomic_fetch_add_explicit(&run->aborts, 1, memory_order_relaxed);
	return sched_finish_validation(run->s, txn, aborted);
}

static void sim_record_commit(sim_run *run, uint32_t i)
{
	uint32_t times = atomic_fetch_add_explicit(&run->commits[i], 1, memory_order_relaxed);
	if (times != 0)
		tk_violation(&run->bad, "txn %u committed %u times", i, times + 1);
	if (run->order_len != i)
		tk_violation(&run->bad, "txn %u committed as number %u", i, run->order_len);
	if (run->order_len < run->s->txn_count)
		run->order[run->order_len++] = i;
}

/* A serial segment [from, end) as the executor runs it: take each txn over,
 * "execute" it, commit it; then publish the segment. */
static void sim_serial_segment(sim_run *run, tk_rng *rng, uint32_t from, uint32_t end)
{
	sched *s = run->s;
	sched_serial_begin(s);
	uint32_t i = from;
	bool stop = false;
	while (i < end && !stop) {
		uint32_t inc;
		if (!sched_serial_claim(s, i, &inc))
			return;
		sim_begin_execution(run, i, inc);
		sim_work(run, rng);
		sim_end_execution(run, i);
		sched_serial_finish(s, i, inc);
		if (sched_word_status(sched_load_word(s, i)) != SCHED_COMMITTED)
			tk_violation(&run->bad, "txn %u not COMMITTED after its serial run", i);
		sim_record_commit(run, i);
		run->serial++;
		stop = run->p.stop_at && i + 1 == run->p.stop_at;
		i++;
	}
	sched_serial_end(s, i);
	if (sched_commit_idx(s) != i)
		tk_violation(&run->bad, "serial segment [%u, %u) left commit_idx at %u", from, i,
			     sched_commit_idx(s));
	if (stop)
		sched_stop(s);
}

/* The executor's rule while the block is calm: a transaction is committed
 * by the thread that executed it (parallel.c, leave_to_owner). */
static bool sim_leave_to_owner(sim_run *run, uint32_t i)
{
	return sched_calm(run->s) &&
	       atomic_load_explicit(&run->owner[i], memory_order_relaxed) != sim_self;
}

/* Commit what can be committed; the caller holds the commit lock. */
static void sim_commit_loop(sim_run *run, tk_rng *rng)
{
	sched *s = run->s;
	for (;;) {
		uint32_t i = sched_commit_idx(s);
		if (i >= s->txn_count || sched_stopped(s))
			return;
		if (sched_serial_pending(s)) {
			/* The executor ends a segment where the chain ends; here
			 * anywhere from one chunk to four. */
			uint32_t segment = SCHED_SERIAL_CHUNK * (1 + tk_rng_below(rng, 4));
			uint32_t end = s->txn_count - i > segment ? i + segment : s->txn_count;
			sim_serial_segment(run, rng, i, end);
			continue;
		}
		uint64_t w = sched_load_word(s, i);
		if (sched_word_status(w) != SCHED_EXECUTED || sim_leave_to_owner(run, i))
			return;
		uint32_t inc = sched_word_incarnation(w);
		if (tk_rng_chance(rng, run->p.commit_fail_pct)) {
			/* The commit validation failed: re-execute in place. */
			if (!sched_try_validation_abort(s, i, inc))
				return;
			atomic_fetch_add_explicit(&run->aborts, 1, memory_order_relaxed);
			sched_take_over(s, i, inc);
			sim_begin_execution(run, i, inc + 1);
			sim_end_execution(run, i);
			(void)sched_finish_execution(s, i, inc + 1,
						     tk_rng_chance(rng, run->p.new_path_pct));
			inc++;
		}
		if (!sched_commit(s, i, inc))
			return; /* a validator aborted it after our look */
		if (run->p.open_window)
			open_window(s);
		sim_record_commit(run, i);
		if (sched_commit_idx(s) != i + 1)
			tk_violation(&run->bad, "commit of %u left commit_idx at %u", i,
				     sched_commit_idx(s));
		if (run->p.stop_at && i + 1 == run->p.stop_at) {
			sched_stop(s);
			return;
		}
	}
}

static void sim_try_commit(sim_run *run, tk_rng *rng)
{
	sched *s = run->s;
	for (;;) {
		uint32_t i = sched_commit_idx(s);
		if (i >= s->txn_count || sched_stopped(s))
			return;
		if (!sched_serial_pending(s) &&
		    (sched_word_status(sched_load_word(s, i)) != SCHED_EXECUTED ||
		     sim_leave_to_owner(run, i)))
			return;
		if (!sched_commit_trylock(s))
			return;
		if (atomic_fetch_add(&run->committers, 1) != 0)
			tk_violation(&run->bad, "two threads hold the commit lock");
		sim_commit_loop(run, rng);
		atomic_fetch_sub(&run->committers, 1);
		sched_commit_unlock(s);
	}
}

typedef struct sim_thread {
	sim_run *run;
	uint32_t id;
	pthread_t thread;
} sim_thread;

static void *sim_main(void *arg)
{
	sim_thread *t = arg;
	sim_run *run = t->run;
	sched *s = run->s;
	tk_rng rng;
	tk_rng_seed(&rng, run->p.seed * 1000003u + t->id);
	sim_self = t->id;
	sched_task task = {SCHED_TASK_NONE, 0, 0};
	bstm_backoff idle = BSTM_BACKOFF_INIT;
	uint64_t iterations = 0, stalled = 0;
	uint32_t last_commit = 0;
	pthread_barrier_wait(&run->start);
	while (!sched_done(s)) {
		uint32_t c = sched_commit_idx(s);
		stalled = c == last_commit ? stalled + 1 : 0;
		last_commit = c;
		if (++iterations > SIM_TOTAL_CAP || stalled > SIM_STALL_CAP ||
		    atomic_load_explicit(&run->livelocked, memory_order_relaxed)) {
			if (!atomic_exchange(&run->livelocked, 1))
				tk_violation(&run->bad,
					     "no progress: thread %u, %lu iterations, %lu at "
					     "commit_idx %u (txn word %s(%u)), execution_idx %u, "
					     "validation_idx %u",
					     t->id, (unsigned long)iterations,
					     (unsigned long)stalled, c,
					     c < s->txn_count ? status_name(sched_word_status(
									sched_load_word(s, c)))
							      : "-",
					     c < s->txn_count
						     ? sched_word_incarnation(sched_load_word(s, c))
						     : 0,
					     atomic_load(&s->execution_idx),
					     atomic_load(&s->validation_idx));
			sched_stop(s);
			break;
		}
		if (task.kind == SCHED_TASK_EXECUTE) {
			task = sim_execute(run, &rng, task.txn, task.incarnation);
			if (tk_rng_chance(&rng, run->p.commit_pct))
				sim_try_commit(run, &rng);
			continue;
		}
		if (task.kind == SCHED_TASK_VALIDATE) {
			task = sim_validate(run, &rng, task.txn, task.incarnation);
			continue;
		}
		task = sched_next_task(s, NULL);
		if (task.kind == SCHED_TASK_NONE) {
			sim_try_commit(run, &rng);
			sched_ensure_progress(s);
			bstm_backoff_wait(&idle);
		} else {
			idle.spins = 1;
		}
	}
	return NULL;
}

/* Transactions committed in serial segments, and blocks that opened with a
 * segment, over all simulations of a test. */
static uint64_t sim_serial_total;
static uint64_t sim_opened_total;

static void simulate(const sim_params *p)
{
	uint32_t n = p->txns;
	sc.serial_enabled = p->serial && !p->open_window;
	sc.calm_enabled = p->calm;
	cr_assert_eq(sched_begin_block(&sc, n, p->threads), 0);
	bool opened = sched_serial_pending(&sc);
	if (p->open_window)
		open_window(&sc);
	sim_run run;
	memset(&run, 0, sizeof run);
	run.s = &sc;
	run.p = *p;
	tk_violations_init(&run.bad);
	run.executing = calloc(n, sizeof *run.executing);
	run.started = calloc(n, sizeof *run.started);
	run.commits = calloc(n, sizeof *run.commits);
	run.owner = calloc(n, sizeof *run.owner);
	run.order = calloc(n, sizeof *run.order);
	sim_thread *th = calloc(p->threads, sizeof *th);
	cr_assert(run.executing && run.started && run.commits && run.owner && run.order && th);
	cr_assert_eq(pthread_barrier_init(&run.start, NULL, p->threads), 0);
	for (uint32_t i = 0; i < p->threads; i++) {
		th[i].run = &run;
		th[i].id = i;
		cr_assert_eq(pthread_create(&th[i].thread, NULL, sim_main, &th[i]), 0);
	}
	for (uint32_t i = 0; i < p->threads; i++)
		pthread_join(th[i].thread, NULL);
	pthread_barrier_destroy(&run.start);
	sched_end_block(&sc);
	sc.calm_enabled = false;

	char what[176];
	snprintf(what, sizeof what,
		 "threads=%u txns=%u seed=%lu abort=%u%% dep=%u%% stop_at=%u open_window=%d "
		 "serial=%d opened=%d calm=%d",
		 p->threads, n, (unsigned long)p->seed, p->abort_pct, p->dependency_pct, p->stop_at,
		 p->open_window, sc.serial_enabled, opened, p->calm);
	sim_serial_total += run.serial;
	sim_opened_total += opened;
	cr_assert_eq(atomic_load(&run.bad.count), 0, "%s: %lu violations; first: %s", what,
		     (unsigned long)atomic_load(&run.bad.count), run.bad.first);
	uint32_t expect = p->stop_at ? p->stop_at : n;
	cr_assert_eq(sched_commit_idx(&sc), expect, "%s: commit_idx %u, expected %u", what,
		     sched_commit_idx(&sc), expect);
	cr_assert_eq(run.order_len, expect, "%s: %u commits recorded", what, run.order_len);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t w = sched_load_word(&sc, i);
		uint32_t times = atomic_load(&run.commits[i]);
		if (i < expect) {
			cr_assert_eq(run.order[i], i, "%s: commit number %u is txn %u", what, i,
				     run.order[i]);
			cr_assert_eq(times, 1, "%s: txn %u committed %u times", what, i, times);
			cr_assert_eq(sched_word_status(w), SCHED_COMMITTED, "%s: txn %u ends %s",
				     what, i, status_name(sched_word_status(w)));
			cr_assert_lt(sched_word_incarnation(w), atomic_load(&run.started[i]),
				     "%s: txn %u committed an incarnation never started", what, i);
		} else {
			cr_assert_eq(times, 0, "%s: txn %u committed after the stop", what, i);
			cr_assert_neq(sched_word_status(w), SCHED_COMMITTED);
		}
		cr_assert_eq(atomic_load(&run.executing[i]), 0, "%s: txn %u still executing", what,
			     i);
	}
	cr_assert_geq(atomic_load(&run.executions), expect);
	/* Without aborts and dependencies every commit is of incarnation 0, so
	 * the window stays fully open and the block calm from start to end. */
	if (p->calm && !p->abort_pct && !p->dependency_pct && !p->commit_fail_pct)
		cr_assert_eq(atomic_load(&run.validations), 0,
			     "%s: validation tasks in a block that stayed calm", what);
	cr_log_info("%s: %lu executions (%lu serial), %lu validations, %lu aborts, %lu waits", what,
		    (unsigned long)atomic_load(&run.executions), (unsigned long)run.serial,
		    (unsigned long)atomic_load(&run.validations),
		    (unsigned long)atomic_load(&run.aborts),
		    (unsigned long)atomic_load(&run.waits));
	free(run.executing);
	free((void *)run.started);
	free((void *)run.commits);
	free((void *)run.owner);
	free(run.order);
	free(th);
}

static const uint32_t thread_set[] = {1, 2, 4, 8, 16};
#define THREAD_SET_LEN (sizeof thread_set / sizeof thread_set[0])

/* Run `base` at every thread count and seed, with the scheduler's adaptive
 * speculation window (if base.serial: with serial segments, twice in a row,
 * so that the second block opens with a segment when the first ran mostly
 * in segments; and without them) and with the window held open; each
 * without and with calm blocks (with the window held open, a block is calm
 * except for the moments between a re-executed commit and the reopening). */
static void simulate_all(sim_params base, uint64_t seeds)
{
	sim_serial_total = 0;
	sim_opened_total = 0;
	for (size_t i = 0; i < THREAD_SET_LEN; i++)
		for (uint64_t seed = 0; seed < seeds; seed++)
			for (int mode = base.serial ? 0 : 2; mode < 4; mode++)
				for (int calm = 0; calm < 2; calm++) {
					sim_params p = base;
					p.threads = thread_set[i];
					p.seed = base.seed + seed;
					p.serial = mode < 2;
					p.open_window = mode == 3;
					p.calm = calm;
					simulate(&p);
				}
}

Test(scheduler, simulation_without_aborts)
{
	simulate_all(
		(sim_params){
			.txns = 500, .seed = 1, .commit_pct = 100, .work = 200, .yield_pct = 5},
		1);
}

Test(scheduler, simulation_random_aborts)
{
	simulate_all((sim_params){.txns = 400,
				  .seed = 1,
				  .abort_pct = 25,
				  .new_path_pct = 20,
				  .commit_fail_pct = 10,
				  .commit_pct = 30,
				  .work = 500,
				  .yield_pct = 10},
		     3);
}

Test(scheduler, simulation_aborts_and_dependencies)
{
	simulate_all((sim_params){.txns = 400,
				  .serial = true,
				  .seed = 101,
				  .abort_pct = 20,
				  .dependency_pct = 20,
				  .new_path_pct = 30,
				  .commit_fail_pct = 15,
				  .commit_pct = 20,
				  .work = 1000,
				  .yield_pct = 20},
		     3);
}

/* Commits only from idle workers: validation and dependencies run ahead of
 * the commit index as far as the window lets them. */
Test(scheduler, simulation_commit_when_idle)
{
	simulate_all((sim_params){.txns = 300,
				  .seed = 21,
				  .abort_pct = 15,
				  .dependency_pct = 15,
				  .new_path_pct = 20,
				  .commit_fail_pct = 5,
				  .commit_pct = 0,
				  .work = 500,
				  .yield_pct = 20},
		     2);
}

Test(scheduler, simulation_heavy_conflicts)
{
	simulate_all((sim_params){.txns = 200,
				  .serial = true,
				  .seed = 7,
				  .abort_pct = 60,
				  .dependency_pct = 50,
				  .new_path_pct = 50,
				  .commit_fail_pct = 40,
				  .commit_pct = 10,
				  .work = 300,
				  .yield_pct = 20},
		     2);
	/* Re-executed commits keep the window at 1-2 at every thread count. */
	cr_assert_gt(sim_serial_total, 0, "no serial segment ran");
	cr_assert_gt(sim_opened_total, 0, "no block opened with a serial segment");
}

Test(scheduler, simulation_stopped_midway)
{
	simulate_all((sim_params){.txns = 400,
				  .serial = true,
				  .seed = 9,
				  .abort_pct = 20,
				  .dependency_pct = 10,
				  .new_path_pct = 20,
				  .commit_fail_pct = 10,
				  .commit_pct = 50,
				  .work = 300,
				  .yield_pct = 10,
				  .stop_at = 150},
		     1);
}

Test(scheduler, cursor_claims_runs_in_order)
{
	enum { N = 64 };
	begin(N);
	sched_cursor mine = {0, 0};
	/* One thread, full window (16): runs of window / 2 = 8. */
	sched_task t = sched_next_task(&sc, &mine);
	cr_assert_eq(t.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(t.txn, 0);
	cr_assert_eq(execution_idx(), 8, "a run of 8 is claimed with one increment");
	/* Another worker without a cursor gets the first index past the run. */
	sched_task other = sched_next_task(&sc, NULL);
	cr_assert_eq(other.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(other.txn, 8);
	/* The owner gets the rest of its run in order, the shared index stays. */
	for (uint32_t i = 1; i < 8; i++) {
		sched_finish_execution(&sc, i - 1, 0, false);
		t = sched_next_task(&sc, &mine);
		while (t.kind == SCHED_TASK_VALIDATE) {
			sched_finish_validation(&sc, t.txn, false);
			t = sched_next_task(&sc, &mine);
		}
		cr_assert_eq(t.kind, SCHED_TASK_EXECUTE);
		cr_assert_eq(t.txn, i);
		cr_assert_eq(execution_idx(), 9);
	}
	cr_assert(sched_has_work(&sc, &mine) || execution_idx() < N);
}

Test(scheduler, cursor_skips_indices_taken_by_others)
{
	enum { N = 32 };
	begin(N);
	sched_cursor mine = {0, 0};
	sched_task t = sched_next_task(&sc, &mine);
	cr_assert_eq(t.txn, 0);
	/* Index 1 of the run is incarnated elsewhere (after a decrease of
	 * execution_idx): the owner must skip it, never run it twice. */
	atomic_store(&sc.execution_idx, 1);
	sched_task stolen = sched_next_task(&sc, NULL);
	cr_assert_eq(stolen.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(stolen.txn, 1);
	t = sched_next_task(&sc, &mine);
	while (t.kind == SCHED_TASK_VALIDATE)
		t = sched_next_task(&sc, &mine);
	cr_assert_eq(t.kind, SCHED_TASK_EXECUTE);
	cr_assert_eq(t.txn, 2, "index 1 belongs to the other worker now");
}

Test(scheduler, take_from_cursor_only_the_next_index)
{
	enum { N = 32 };
	begin(N);
	sched_cursor mine = {0, 0};
	sched_task t = sched_next_task(&sc, &mine);
	cr_assert_eq(t.txn, 0);
	uint32_t inc = 99;
	cr_assert_not(sched_take_from_cursor(&sc, &mine, 2, &inc), "2 is not next");
	cr_assert_eq(mine.next, 1, "a refused take must not use up the index");
	cr_assert(sched_take_from_cursor(&sc, &mine, 1, &inc));
	cr_assert_eq(inc, 0);
	expect_word(1, 0, SCHED_EXECUTING);
	/* Index 2 taken by another worker first: used up, not run twice. */
	atomic_store(&sc.execution_idx, 2);
	sched_task stolen = sched_next_task(&sc, NULL);
	cr_assert_eq(stolen.txn, 2);
	cr_assert_not(sched_take_from_cursor(&sc, &mine, 2, &inc));
	cr_assert_eq(mine.next, 3);
	/* Past the run's end: nothing. */
	mine.next = mine.end;
	cr_assert_not(sched_take_from_cursor(&sc, &mine, mine.end, &inc));
}

Test(scheduler, held_commits_publish_once)
{
	begin(4);
	execute_all(4);
	cr_assert(sched_commit_trylock(&sc));
	cr_assert(sched_commit_held(&sc, 0, 0));
	cr_assert(sched_commit_held(&sc, 1, 0));
	cr_assert_eq(sched_next_commit(&sc), 2);
	/* The published index lags, which only delays the others: everything
	 * below it is committed all the same. */
	cr_assert_eq(sched_commit_idx(&sc), 0);
	expect_word(0, 0, SCHED_COMMITTED);
	expect_word(1, 0, SCHED_COMMITTED);
	sched_commit_publish(&sc);
	cr_assert_eq(sched_commit_idx(&sc), 2);
	cr_assert(sched_commit_held(&sc, 2, 0));
	cr_assert_eq(sched_commit_idx(&sc), 2);
	/* Releasing the lock publishes what is left. */
	sched_commit_unlock(&sc);
	cr_assert_eq(sched_commit_idx(&sc), 3);
	/* sched_commit publishes at once. */
	cr_assert(sched_commit(&sc, 3, 0));
	cr_assert_eq(sched_commit_idx(&sc), 4);
	cr_assert(sched_done(&sc));
}
