/*
 * scheduler.c - Block-STM's collaborative scheduler (Gelashvili et al.,
 * PPoPP 2023, section 4) with a rolling commit index.
 *
 * State
 *   execution_idx   next transaction to try executing (fetch-and-increment;
 *                   lowered when a transaction becomes ready again)
 *   validation_idx  next transaction to validate (lowered to i+1 when i is
 *                   aborted, to i when i wrote a key its previous
 *                   incarnation did not)
 *   commit_idx      every transaction below it is COMMITTED
 *   per txn         a status word (incarnation, status) and a list of
 *                   transactions waiting for it to finish executing
 *
 * Ownership: the thread that moves a transaction into EXECUTING or wins the
 * EXECUTED->ABORTING race owns it until it publishes the next status; only
 * the owner changes its node cells in the multi-version memory. Every
 * transition is a CAS or a store by the owner, so status words need no lock.
 * The per-transaction spin lock exists for one race only: a reader that hits
 * an ESTIMATE of j must not enqueue itself on j after j has published
 * EXECUTED and drained its waiters (lost wake-up). Setting EXECUTED and
 * draining, and checking EXECUTED and enqueuing, happen under j's lock.
 *
 * Commit design: final validation at commit (DESIGN.md option b).
 *   The committer (whoever takes the try-lock) looks at commit_idx = i. All
 *   transactions below i are committed, so their writes are final and one
 *   more validation of i is final: if it passes, i commits (EXECUTED ->
 *   COMMITTED by CAS, so a concurrent validator can no longer abort it); if
 *   it fails and the committer wins the abort, it re-executes i in place.
 *   That execution reads only committed data, so it cannot be invalidated
 *   and commits at once. An execution that started when commit_idx was
 *   already i is final for the same reason and skips the commit validation.
 *   Why this design: it is simple to prove (the commit validation alone makes
 *   the output sequential-equivalent, whatever the scheduler did before), it
 *   gives published modules and block limits an exact commit point, and on a
 *   fully sequential workload the committer becomes a sequential executor
 *   instead of ping-ponging aborts between threads.
 *
 * Speculation window (not in the paper): a worker starts executing i only
 *   if i < commit_idx + window. The committer halves the window whenever it
 *   commits a transaction that needed more than one incarnation, and grows
 *   it by an eighth of a transaction on every clean commit (AIMD, as in
 *   TCP).
 *   When every transaction conflicts with its predecessor, speculation past
 *   the commit point is wasted work that also aborts and slows the
 *   transaction being committed; the window then settles near 1 and the
 *   block runs close to sequential speed. Without conflicts it opens up to
 *   window_max and costs nothing. It changes only which work is done when,
 *   never an output.
 *
 * Claiming runs (not in the paper): a worker takes up to 8 consecutive
 *   indices with one fetch-and-increment and executes them in order. Each of
 *   them usually starts after its predecessor was executed and committed by
 *   the same worker, so its execution is final and needs no validation, and
 *   the shared index is touched once per run instead of once per
 *   transaction. The run length is window / (2 * threads), so it falls to 1
 *   as soon as conflicts shrink the window. Indices of a claimed run stay
 *   READY until their owner reaches them; try_incarnate keeps them exclusive
 *   if another worker gets there first (after a decrease of execution_idx).
 *
 * Serial segments (not in the paper): when the window has stayed at 1 or 2
 *   for SCHED_SERIAL_STREAK commits, the block is locally a dependency
 *   chain and every speculative execution costs more than it gains. The
 *   committer then runs the next transactions itself, in index order, like
 *   the sequential executor: on a private overlay over the state committed
 *   below the segment, with no multi-version writes, records or validation
 *   per transaction. The window is 0 meanwhile, so no new execution starts;
 *   executions already under way (a claimed run, a validator re-executing
 *   what it aborted) may still touch a segment transaction, so the
 *   committer takes each one over like an abort winner: it waits while
 *   another thread owns it, then moves it to EXECUTING (from READY) or
 *   through ABORTING (from EXECUTED). After the serial execution the
 *   transaction goes straight to COMMITTED, which resumes its waiters and
 *   makes later dependency registrations on it fail (they read again). Its
 *   old nodes were marked ABSENT by the executor when it took it over, and
 *   at the segment's end the segment's final writes are written as the
 *   writes of its last transaction; transactions above are validated again
 *   and commit_idx jumps past the segment. A speculative execution that
 *   read a segment key meanwhile saw an ABSENT node or an old value, so its
 *   validation fails, at the latest at its commit.
 *   How long a segment runs is decided by what it sees, not guessed: the
 *   executor counts the transactions that read a key written by one of the
 *   2 * threads transactions before them (in parallel they would have run
 *   side by side, and one of them would have waited or been aborted). The
 *   segment goes on while at least SCHED_SERIAL_DENSE of every
 *   SCHED_SERIAL_CHUNK transactions are chained like that, and ends, with
 *   the window fully open, at the first chunk that is not. So a chain runs
 *   as one segment to the end of the block instead of paying for a parallel
 *   probe between fixed-length segments, and a workload that turns
 *   parallel costs at most one chunk. A block after one that committed at
 *   least half of its transactions in segments opens with a segment (the
 *   window starts at 0) instead of finding the chain again by collapsing
 *   the window: a node's consecutive blocks tend to look alike, and a wrong
 *   guess again costs one chunk. Segments run on worker 0, the caller's
 *   thread, which usually has the block's data in its cache; another
 *   committer that finds a segment due leaves it to worker 0.
 *
 * Timed blocks (not in the paper): the chain rule above sees conflicts,
 *   not what they cost. On a machine where a cache line takes hundreds of ns
 *   to move between cores (docs/benchmarks.md), a block whose transactions
 *   keep reading what the other core just wrote (a hundred hot accounts,
 *   say) can run at half the sequential speed with no abort at all. So the
 *   executor times each block, parallel or serial, as wall time per unit of
 *   work (the gas its committed transactions used, where the block used any,
 *   so that blocks of cheap and of costly transactions compare fairly; else
 *   per committed transaction; a single block in the other unit is not
 *   rated, two in a row change the unit and timing starts over, as below but
 *   without the first unrated blocks), and rates a mode by the better of its
 *   last two blocks (a disturbance slows a block down, it never speeds one
 *   up). A serial block is the sequential executor's loop on the calling
 *   thread (sched_plan_block decides before the block starts), so it runs at
 *   the baseline's speed: no scheduler, no multi-version memory, none of a
 *   segment's work to publish its writes for a parallel remainder that a
 *   serial block does not have. The next block runs in the mode that is
 *   faster, serial only if by more than an eighth (a margin for the
 *   parallelism a serial block gives up), or by anything at all when the
 *   last parallel block ran mostly in serial segments anyway (the chain
 *   rule's carry: there was no parallelism to give up, and the segments cost
 *   what serial blocks save); the mode that lost is tried again after
 *   SCHED_PROBE_FIRST blocks, then after twice as many each time it loses
 *   again (SCHED_PROBE_MAX at most), since machines and workloads change.
 *   The first block of each mode is not rated: it grows and faults in the
 *   memory that mode needs (the executor's first block also starts its
 *   threads); a first serial block took about 1.5 times as long as the next
 *   one (docs/benchmarks.md), enough to lose a comparison it should win. So
 *   an executor runs three parallel blocks, then two serial ones, then
 *   decides. Consecutive blocks of a node tend to look alike in how well
 *   they run in parallel, which is what the choice bets on; a wrong bet
 *   costs the difference for a few blocks. It changes only who runs what,
 *   never an output, and it needs at least 2 threads and serial segments on
 *   (with 1 thread, the parallel machinery runs as configured, for tests). A
 *   serial block does not begin or end a parallel one here, so the chain
 *   rule's carry stays as the last parallel block left it.
 *
 * Calm blocks (not in the paper): while the window is fully open (every
 *   recent commit needed one incarnation only), no validation task is
 *   handed out, neither by next_task nor right after an execution, and the
 *   executor commits each transaction on the worker that executed it
 *   (parallel.c). Only the commit's validation decides the output (see the
 *   commit design above), so the early ones exist to find conflicts sooner;
 *   when there are none they cost a validation per transaction, and on a
 *   machine where a cache line takes hundreds of ns to move between cores
 *   (docs/benchmarks.md, "The cost of moving a cache line") every one that
 *   runs on the other worker, and every commit there, pays for the
 *   transaction's status word, record, entries and nodes crossing over. The
 *   first commit that needs a re-execution halves the window, which ends
 *   the calm: early validation and commits by any worker resume until the
 *   window has grown back. validation_idx is not advanced while calm;
 *   next_task first moves it up to commit_idx when validations resume.
 *   A committer that has just committed the transaction before the next
 *   index of its own claimed run executes that one under the commit lock
 *   (final, so committed without validation) and goes on; the commits of
 *   such a stretch are held (sched_commit_held) and commit_idx is
 *   published once, when the lock is released. commit_idx then lags
 *   behind the committed prefix for a while, which is safe: it is read
 *   only as "everything below is committed" (final executions, done
 *   detection, the window), and the holder itself is making progress.
 *
 * Done detection: the block is done when commit_idx reaches the block size
 *   (or the block was stopped). The paper's num_active_tasks / decrease_cnt
 *   protocol is not needed: commit_idx is monotonic, and a transaction can
 *   only commit after every lower one, so commit_idx == n is final by
 *   construction. Liveness: the transaction at commit_idx is READY (then
 *   execution_idx <= it, or it lies in a run some worker has claimed and
 *   will reach; idle workers also lower execution_idx to it, see
 *   sched_ensure_progress), EXECUTING (its owner finishes and tries to
 *   commit), ABORTING (its owner makes it READY; it cannot be waiting on a
 *   lower transaction, those are committed) or EXECUTED (the next committer
 *   validates or re-executes it). Idle workers try to commit.
 */
#include <string.h>

#include "scheduler/scheduler.h"

/* Timing with nothing measured yet (the warm-up flags aside). */
static void timing_start_over(sched *s)
{
	memset(s->parallel_rate, 0, sizeof s->parallel_rate);
	memset(s->serial_rate, 0, sizeof s->serial_rate);
	s->timed_serial = false;
	s->next_probe = false;
	s->probe_left = 0;
	/* The first probe that loses doubles it to SCHED_PROBE_FIRST. */
	s->probe_gap = SCHED_PROBE_FIRST / 2;
}

int sched_init(sched *s)
{
	memset(s, 0, sizeof *s);
	timing_start_over(s);
	return 0;
}

void sched_destroy(sched *s)
{
	free(s->txns);
	s->txns = NULL;
}

#define SCHED_WINDOW_PER_THREAD 16u

#define SCHED_MAX_RUN 8u

int sched_begin_block(sched *s, uint32_t txn_count, uint32_t threads)
{
	if (txn_count > s->capacity) {
		sched_txn *grown = NULL;
		if (posix_memalign((void **)&grown, BSTM_CACHELINE, sizeof *grown * txn_count) != 0)
			return BSTM_ENOMEM;
		free(s->txns);
		s->txns = grown;
		s->capacity = txn_count;
	}
	for (uint32_t i = 0; i < txn_count; i++) {
		atomic_init(&s->txns[i].word, sched_word(0, SCHED_READY));
		atomic_init(&s->txns[i].lock, 0);
		s->txns[i].dependents = SCHED_NONE;
		s->txns[i].next_dependent = SCHED_NONE;
		atomic_init(&s->txns[i].record, NULL);
	}
	s->txn_count = txn_count;
	atomic_init(&s->execution_idx, 0);
	atomic_init(&s->validation_idx, 0);
	atomic_init(&s->commit_idx, 0);
	s->next_commit = 0;
	atomic_init(&s->commit_lock, 0);
	atomic_init(&s->stop, 0);
	s->window_max = SCHED_WINDOW_PER_THREAD * (threads ? threads : 1);
	s->threads = threads ? threads : 1;
	s->serial_streak = 0;
	s->serial_committed = 0;
	/* A block after a mostly serial one opens with a segment: the window
	 * is 0, so nothing starts before it. Otherwise the window opens
	 * fully. */
	bool opening = s->serial_enabled && s->serial_carry;
	s->window_eighths = opening ? 8 : 8 * s->window_max;
	atomic_init(&s->window, opening ? 0 : s->window_max);
	atomic_init(&s->serial_pending, opening);
	return 0;
}

bool sched_plan_block(sched *s, bool serial, bool timed, uint32_t threads)
{
	s->serial_enabled = serial;
	s->timed_enabled = timed && serial && threads >= 2;
	/* The next block runs in the winning mode, or in the other one when
	 * it is due for a probe. */
	s->block_serial = s->timed_enabled && s->timed_serial != s->next_probe;
	s->block_probe = s->timed_enabled && s->next_probe;
	return s->block_serial;
}

void sched_end_block(sched *s)
{
	uint32_t committed = atomic_load_explicit(&s->commit_idx, memory_order_relaxed);
	s->serial_carry = s->serial_enabled && committed > 0 &&
			  (uint64_t)2 * s->serial_committed >= committed;
}

/* The last two rates of a mode, newest first (0: none). */
static void remember_rate(uint64_t rates[2], uint64_t rate)
{
	rates[1] = rates[0];
	rates[0] = rate;
}

/* A mode's rate: the better of its last two, since what disturbs a block
 * on a shared machine (another process, an interrupt storm) makes it
 * slower, never faster. */
static uint64_t best_rate(const uint64_t rates[2])
{
	return rates[1] && rates[1] < rates[0] ? rates[1] : rates[0];
}

void sched_time_block(sched *s, uint64_t wall_ns, uint32_t committed, uint64_t gas)
{
	if (!s->timed_enabled || committed == 0)
		return;
	/* The block's work: the gas its committed transactions used, where
	 * it used any, so that blocks of cheap and of costly transactions
	 * compare fairly; else its committed transactions. Rates in different
	 * units do not compare. A block in the other unit is not rated (a
	 * block whose transactions were all discarded uses no gas, say); a
	 * second one in a row changes the unit, and timing starts over (the
	 * warm-up excepted). */
	uint8_t unit = gas > 0 ? SCHED_UNIT_GAS : SCHED_UNIT_TXN;
	bool change = s->rate_unit != unit && s->rate_unit != SCHED_UNIT_NONE;
	if (change && !s->unit_pending) {
		s->unit_pending = true;
		return;
	}
	s->rate_unit = unit;
	s->unit_pending = false;
	if (change) {
		timing_start_over(s);
		if (s->block_serial)
			return; /* a serial block's rate alone decides nothing */
	}
	uint64_t work = unit == SCHED_UNIT_GAS ? gas : committed;
	/* A mode's first block also grows and faults in the memory that mode
	 * needs (and the executor's first starts its threads): it is not
	 * rated, and the next block runs in the same mode. */
	bool *warm = &s->timed_warm[s->block_serial];
	if (!*warm) {
		*warm = true;
		return;
	}
	/* ns per unit of work in 1/SCHED_RATE_ONE steps (a unit of gas may
	 * take a thousandth of a ns), at least 1 (0 means none). */
	unsigned __int128 q = ((unsigned __int128)wall_ns * SCHED_RATE_ONE) / work;
	uint64_t per = q > SCHED_RATE_MAX ? SCHED_RATE_MAX : q ? (uint64_t)q : 1;
	remember_rate(s->block_serial ? s->serial_rate : s->parallel_rate, per);
	if (!s->serial_rate[0]) {
		/* Serial (not yet the winner) is tried once two parallel blocks
		 * were timed. */
		s->next_probe = s->parallel_rate[1] != 0;
		return;
	}
	bool serial = sched_serial_faster(best_rate(s->serial_rate), best_rate(s->parallel_rate),
					  s->serial_carry);
	if (serial != s->timed_serial) {
		s->timed_serial = serial;
		s->probe_gap = SCHED_PROBE_FIRST;
		s->probe_left = SCHED_PROBE_FIRST;
	} else if (s->block_probe) {
		/* The mode that lost lost again: try it less often. */
		if (s->probe_gap < SCHED_PROBE_MAX)
			s->probe_gap *= 2;
		s->probe_left = s->probe_gap;
	} else if (s->probe_left > 0) {
		s->probe_left--;
	}
	s->next_probe = s->probe_left == 0;
}

static void txn_lock(sched_txn *t)
{
	bstm_backoff b = BSTM_BACKOFF_INIT;
	/* Acquire pairs with txn_unlock's release. */
	while (atomic_exchange_explicit(&t->lock, 1, memory_order_acquire) != 0)
		while (atomic_load_explicit(&t->lock, memory_order_relaxed) != 0)
			bstm_backoff_wait(&b);
}

static void txn_unlock(sched_txn *t)
{
	atomic_store_explicit(&t->lock, 0, memory_order_release);
}

/* Lower an index to `target` if it is higher (atomic minimum). */
static void lower_index(_Atomic uint32_t *idx, uint32_t target)
{
	uint32_t cur = atomic_load_explicit(idx, memory_order_relaxed);
	/* seq_cst: the status change that motivated the lowering (made
	 * before, in program order) is seen by a thread that sees the lowered
	 * index (claim_run and take_validation load it with acquire). */
	while (cur > target &&
	       !atomic_compare_exchange_weak_explicit(idx, &cur, target, memory_order_seq_cst,
						      memory_order_relaxed))
		;
}

/* READY(inc) -> EXECUTING(inc); the winner owns the incarnation. */
static bool try_incarnate(sched *s, uint32_t txn, uint32_t *incarnation)
{
	/* seq_cst: pairs with the fence in sched_finish_validation. */
	uint64_t w = atomic_load_explicit(&s->txns[txn].word, memory_order_seq_cst);
	if (sched_word_status(w) != SCHED_READY)
		return false;
	uint32_t inc = sched_word_incarnation(w);
	/* Acquire on success: the previous owner's release (set_ready) ordered
	 * its bookkeeping before; we now own the transaction. */
	if (!atomic_compare_exchange_strong_explicit(&s->txns[txn].word, &w,
						     sched_word(inc, SCHED_EXECUTING),
						     memory_order_acq_rel, memory_order_relaxed))
		return false;
	*incarnation = inc;
	return true;
}

/* Claim a run of indices to execute; false when none is available. */
static bool claim_run(sched *s, uint32_t c, sched_cursor *cursor, bool batched)
{
	uint32_t n = s->txn_count;
	uint32_t e = atomic_load_explicit(&s->execution_idx, memory_order_acquire);
	if (e >= n)
		return false;
	/* Relaxed: the window is a hint; a stale value only changes timing. */
	uint32_t window = atomic_load_explicit(&s->window, memory_order_relaxed);
	if ((uint64_t)e >= (uint64_t)c + window)
		return false;
	uint32_t run = 1;
	if (batched) {
		run = window / (2 * s->threads);
		run = run < 1 ? 1 : run > SCHED_MAX_RUN ? SCHED_MAX_RUN : run;
	}
	/* seq_cst: pairs with the fence in sched_finish_validation. */
	uint32_t idx = atomic_fetch_add_explicit(&s->execution_idx, run, memory_order_seq_cst);
	if (idx >= n)
		return false;
	cursor->next = idx;
	cursor->end = idx + run < n ? idx + run : n;
	return true;
}

/* A validation task for the transaction at validation_idx, if it is
 * EXECUTED; c is the commit index the caller read. */
static bool take_validation(sched *s, uint32_t c, sched_task *task)
{
	uint32_t v = atomic_load_explicit(&s->validation_idx, memory_order_acquire);
	uint32_t e = atomic_load_explicit(&s->execution_idx, memory_order_acquire);
	if (v < c) {
		/* Committed transactions need no validation: skip past them. On
		 * failure v holds the current value, which is just as good. */
		if (atomic_compare_exchange_strong_explicit(
			    &s->validation_idx, &v, c, memory_order_relaxed, memory_order_relaxed))
			v = c;
	}
	if (v >= e)
		return false;
	uint32_t idx = atomic_fetch_add_explicit(&s->validation_idx, 1, memory_order_acq_rel);
	if (idx >= s->txn_count)
		return false;
	uint64_t w = sched_load_word(s, idx);
	/* Otherwise idx is still executing or not started (its
	 * finish_execution will see the validation index past it and validate
	 * it then): there is no validation to do right now, and the caller
	 * looks for an execution instead of reporting "no work". */
	if (sched_word_status(w) != SCHED_EXECUTED)
		return false;
	*task = (sched_task){SCHED_TASK_VALIDATE, idx, sched_word_incarnation(w)};
	return true;
}

sched_task sched_next_task(sched *s, sched_cursor *cursor)
{
	sched_task task = {SCHED_TASK_NONE, 0, 0};
	sched_cursor single = {0, 0};
	if (!cursor)
		cursor = &single;
	uint32_t c = sched_commit_idx(s);
	/* Calm: no validation tasks (see "Calm blocks"). */
	if (!sched_calm(s) && take_validation(s, c, &task))
		return task;
	for (;;) {
		if (cursor->next >= cursor->end && !claim_run(s, c, cursor, cursor != &single))
			return task;
		uint32_t idx = cursor->next++;
		if (try_incarnate(s, idx, &task.incarnation)) {
			task.kind = SCHED_TASK_EXECUTE;
			task.txn = idx;
			return task;
		}
		if (cursor == &single)
			return task;
	}
}

bool sched_add_dependency(sched *s, uint32_t txn, uint32_t blocking)
{
	sched_txn *b = &s->txns[blocking];
	txn_lock(b);
	enum sched_status bs =
		sched_word_status(atomic_load_explicit(&b->word, memory_order_acquire));
	if (bs == SCHED_EXECUTED || bs == SCHED_COMMITTED) {
		txn_unlock(b);
		return false;
	}
	sched_txn *t = &s->txns[txn];
	uint64_t w = atomic_load_explicit(&t->word, memory_order_relaxed);
	BSTM_DASSERT(sched_word_status(w) == SCHED_EXECUTING);
	/* We own txn (EXECUTING); nobody else changes its word. */
	atomic_store_explicit(&t->word, sched_word(sched_word_incarnation(w), SCHED_ABORTING),
			      memory_order_release);
	t->next_dependent = b->dependents;
	b->dependents = txn;
	txn_unlock(b);
	return true;
}

/* ABORTING(inc) -> READY(inc + 1), by the owner of the abort. */
static void set_ready(sched *s, uint32_t txn)
{
	uint64_t w = atomic_load_explicit(&s->txns[txn].word, memory_order_relaxed);
	BSTM_DASSERT(sched_word_status(w) == SCHED_ABORTING);
	/* Release: hands the transaction (and its estimate marks) to the next
	 * owner, who acquires in try_incarnate. */
	atomic_store_explicit(&s->txns[txn].word,
			      sched_word(sched_word_incarnation(w) + 1, SCHED_READY),
			      memory_order_release);
}

/*
 * The owner of txn publishes `word` (EXECUTED or COMMITTED) and makes its
 * waiters READY. Under txn's lock, so a registration either lands before
 * the drain or sees the finished status and fails (no lost wake-up). The
 * release store orders the owner's earlier writes before the status.
 */
static void finish_and_resume(sched *s, uint32_t txn, uint64_t word)
{
	sched_txn *t = &s->txns[txn];
	txn_lock(t);
	atomic_store_explicit(&t->word, word, memory_order_release);
	uint32_t dep = t->dependents;
	t->dependents = SCHED_NONE;
	txn_unlock(t);

	uint32_t lowest = SCHED_NONE;
	while (dep != SCHED_NONE) {
		/* Read the link before set_ready: the dependent may be re-run
		 * and enqueue itself elsewhere right after. */
		uint32_t next = s->txns[dep].next_dependent;
		set_ready(s, dep);
		if (dep < lowest)
			lowest = dep;
		dep = next;
	}
	if (lowest != SCHED_NONE)
		lower_index(&s->execution_idx, lowest);
}

sched_task sched_finish_execution(sched *s, uint32_t txn, uint32_t incarnation, bool wrote_new_path)
{
	sched_task task = {SCHED_TASK_NONE, 0, 0};
	/* Release publishes the recorded read/write sets with the status. */
	finish_and_resume(s, txn, sched_word(incarnation, SCHED_EXECUTED));

	/* Calm: no early validation (see "Calm blocks"). */
	if (!sched_calm(s) &&
	    atomic_load_explicit(&s->validation_idx, memory_order_acquire) > txn) {
		if (wrote_new_path) {
			lower_index(&s->validation_idx, txn);
		} else {
			task.kind = SCHED_TASK_VALIDATE;
			task.txn = txn;
			task.incarnation = incarnation;
		}
	}
	return task;
}

bool sched_try_validation_abort(sched *s, uint32_t txn, uint32_t incarnation)
{
	uint64_t expected = sched_word(incarnation, SCHED_EXECUTED);
	/* Acquire on success: we now own the transaction and will read its
	 * write set to mark estimates. */
	return atomic_compare_exchange_strong_explicit(&s->txns[txn].word, &expected,
						       sched_word(incarnation, SCHED_ABORTING),
						       memory_order_acq_rel, memory_order_relaxed);
}

sched_task sched_finish_validation(sched *s, uint32_t txn, bool aborted)
{
	sched_task task = {SCHED_TASK_NONE, 0, 0};
	if (!aborted)
		return task;
	set_ready(s, txn);
	lower_index(&s->validation_idx, txn + 1);
	/* Store-load order against next_task: there a thread fetch-adds
	 * execution_idx past txn and then loads txn's status. Without a full
	 * fence we could miss its increment while it misses our READY, and txn
	 * would be stranded. With it, one of the two sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&s->execution_idx, memory_order_seq_cst) > txn &&
	    try_incarnate(s, txn, &task.incarnation)) {
		task.kind = SCHED_TASK_EXECUTE;
		task.txn = txn;
	}
	return task;
}

bool sched_commit_trylock(sched *s)
{
	if (atomic_load_explicit(&s->commit_lock, memory_order_relaxed) != 0)
		return false;
	/* Acquire pairs with the previous committer's unlock. */
	return atomic_exchange_explicit(&s->commit_lock, 1, memory_order_acquire) == 0;
}

void sched_commit_unlock(sched *s)
{
	/* Outside the lock commit_idx is exact again. */
	sched_commit_publish(s);
	/* Release pairs with the next committer's acquire. A worker that
	 * published EXECUTED while we held the lock and failed to take it is
	 * not lost: every worker retries the commit after each execution and
	 * while idle, so the commit is at worst delayed to the next attempt. */
	atomic_store_explicit(&s->commit_lock, 0, memory_order_release);
}

void sched_take_over(sched *s, uint32_t txn, uint32_t incarnation)
{
	BSTM_DASSERT(sched_word_status(sched_load_word(s, txn)) == SCHED_ABORTING);
	/* Straight to EXECUTING (never READY), so no worker can incarnate it. */
	atomic_store_explicit(&s->txns[txn].word, sched_word(incarnation + 1, SCHED_EXECUTING),
			      memory_order_release);
	lower_index(&s->validation_idx, txn + 1);
}

void sched_commit_publish(sched *s)
{
	/* Stored only when it moved: a store takes the line from every worker
	 * polling it. Release pairs with sched_commit_idx's acquire: the
	 * COMMITTED words, the outputs and the writes of everything below are
	 * visible to whoever sees the new index. */
	if (atomic_load_explicit(&s->commit_idx, memory_order_relaxed) != s->next_commit)
		atomic_store_explicit(&s->commit_idx, s->next_commit, memory_order_release);
}

bool sched_take_from_cursor(sched *s, sched_cursor *cursor, uint32_t txn, uint32_t *incarnation)
{
	if (cursor->next != txn || cursor->next >= cursor->end)
		return false;
	/* Taken or not, the index is used up, as in next_task: if another
	 * worker incarnated it first (after a decrease of execution_idx), it
	 * is that worker's now. */
	cursor->next++;
	return try_incarnate(s, txn, incarnation);
}

bool sched_commit_held(sched *s, uint32_t txn, uint32_t incarnation)
{
	BSTM_DASSERT(txn == s->next_commit);
	uint64_t expected = sched_word(incarnation, SCHED_EXECUTED);
	if (!atomic_compare_exchange_strong_explicit(&s->txns[txn].word, &expected,
						     sched_word(incarnation, SCHED_COMMITTED),
						     memory_order_acq_rel, memory_order_relaxed))
		return false;
	if (incarnation > 0)
		s->window_eighths = s->window_eighths / 2 > 8 ? s->window_eighths / 2 : 8;
	else if (s->window_eighths < 8 * s->window_max)
		s->window_eighths++;
	uint32_t window = s->window_eighths / 8;
	/* Stored only when it changes: a store takes the line from every
	 * worker that reads it. */
	if (atomic_load_explicit(&s->window, memory_order_relaxed) != window)
		atomic_store_explicit(&s->window, window, memory_order_relaxed);
	s->serial_streak = window <= SCHED_SERIAL_WINDOW ? s->serial_streak + 1 : 0;
	if (s->serial_enabled && s->serial_streak >= SCHED_SERIAL_STREAK)
		atomic_store_explicit(&s->serial_pending, true, memory_order_relaxed);
	s->next_commit = txn + 1;
	return true;
}

void sched_serial_begin(sched *s)
{
	/* The segment starts at commit_idx: make it exact. */
	sched_commit_publish(s);
	/* A hint like every window value: claims made with the old window may
	 * still start executions, which sched_serial_claim waits out. */
	atomic_store_explicit(&s->window, 0, memory_order_relaxed);
	atomic_store_explicit(&s->serial_pending, false, memory_order_relaxed);
	s->serial_streak = 0;
}

bool sched_serial_claim(sched *s, uint32_t txn, uint32_t *incarnation)
{
	_Atomic uint64_t *word = &s->txns[txn].word;
	bstm_backoff b = BSTM_BACKOFF_INIT;
	for (;;) {
		uint64_t w = atomic_load_explicit(word, memory_order_acquire);
		uint32_t inc = sched_word_incarnation(w);
		switch (sched_word_status(w)) {
		case SCHED_READY:
			if (try_incarnate(s, txn, incarnation))
				return true;
			continue;
		case SCHED_EXECUTED:
			/* The abort makes us the owner; skip READY so that no
			 * worker can incarnate it in between. */
			if (sched_try_validation_abort(s, txn, inc)) {
				sched_take_over(s, txn, inc);
				*incarnation = inc + 1;
				return true;
			}
			continue;
		default:
			/* EXECUTING elsewhere, or ABORTING: its owner (or, for a
			 * dependency wait, the lower transaction's finish, which
			 * is committed or ours) moves it on. */
			if (sched_stopped(s))
				return false;
			bstm_backoff_wait(&b);
		}
	}
}

void sched_serial_finish(sched *s, uint32_t txn, uint32_t incarnation)
{
	/* The executor's marks on txn's old nodes come first, so a reader that
	 * sees COMMITTED and reads again skips them. */
	finish_and_resume(s, txn, sched_word(incarnation, SCHED_COMMITTED));
	s->serial_committed++;
}

void sched_serial_end(sched *s, uint32_t end)
{
	/* Everything executed above the segment read it before its writes were
	 * published: validate it again. */
	lower_index(&s->validation_idx, end);
	/* It ended because its transactions stopped depending on each other
	 * (or the block ended): speculate fully again. */
	s->window_eighths = 8 * s->window_max;
	atomic_store_explicit(&s->window, s->window_max, memory_order_relaxed);
	/* The segment's writes and COMMITTED words go out with the new index. */
	s->next_commit = end;
	sched_commit_publish(s);
}

bool sched_has_work(sched *s, const sched_cursor *cursor)
{
	if (cursor && cursor->next < cursor->end)
		return true;
	uint32_t e = atomic_load_explicit(&s->execution_idx, memory_order_relaxed);
	uint64_t limit = (uint64_t)sched_commit_idx(s) +
			 atomic_load_explicit(&s->window, memory_order_relaxed);
	if (e < s->txn_count && e < limit)
		return true;
	/* Calm: validations are not handed out, so none is work. */
	return !sched_calm(s) && atomic_load_explicit(&s->validation_idx, memory_order_relaxed) < e;
}

void sched_ensure_progress(sched *s)
{
	uint32_t c = sched_commit_idx(s);
	if (c < s->txn_count && sched_word_status(sched_load_word(s, c)) == SCHED_READY)
		lower_index(&s->execution_idx, c);
}

void sched_stop(sched *s)
{
	atomic_store_explicit(&s->stop, 1, memory_order_release);
}
