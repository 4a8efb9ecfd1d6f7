/*
 * parallel.c - the Block-STM worker loop and the rolling commit.
 *
 * Every thread of the pool (the caller is worker 0) runs worker_loop: take a
 * task from the scheduler, run it, report back, and between tasks try to
 * advance the commit index. Executions record their read and write sets in
 * an exec_record (published next to the transaction's status word, before
 * the status change that makes it visible) and their writes in the
 * multi-version memory. The committer (scheduler.c explains the design)
 * validates the transaction at commit_idx once more, or re-executes it in
 * place, applies the block gas limit and, when there is a commit hook,
 * builds the output and calls the hook. So limit and hook see only final
 * data, in index order. While the block is calm (scheduler.c, "Calm
 * blocks") the committer is the worker that executed the transaction
 * (leave_to_owner): the lines its commit reads and writes are in that
 * worker's cache; and it goes on executing and committing the rest of its
 * claimed run under the commit lock (run_own_next), publishing commit_idx
 * once for the stretch.
 *
 * Outputs: every execution copies its output into the block output at once,
 * while the data is in its core's cache; a re-execution overwrites the copy
 * of the incarnation it replaces (the scheduler never lets two incarnations
 * of a transaction run at once), so the copy of the committed incarnation is
 * the one that stays. Building outputs later, after the last commit, would
 * read records another core wrote. With a commit hook the committer builds
 * each output instead, as the hook needs it in order. (An incarnation that
 * failed builds none, but committing it fails the block.) After the last
 * commit every worker builds and sorts the final writes of the keys whose
 * multi-version entries it created (each key has one creator, so one list)
 * for the merged write set; the caller only merges those parts.
 *
 * Errors: an execution that fails (a storage error, or the transaction
 * function returned an error) is recorded, not raised: a speculative
 * incarnation may fail on data the sequential order never produces. Only
 * when the failing incarnation is the one that commits does the block fail,
 * so the outcome equals the sequential executor's. The library's own out of
 * memory and broken invariants stop the block at once (the caller may fall
 * back); a base view's failure, whatever its code, is the incarnation's.
 */
#include <string.h>

#include "executor/executor.h"

static void set_failure(exec_block_run *run, int code)
{
	int expected = 0;
	atomic_compare_exchange_strong_explicit(&run->failure, &expected, code,
						memory_order_acq_rel, memory_order_relaxed);
	sched_stop(&run->ex->sc);
}

/* The record slot of a transaction: next to its status word. */
static _Atomic(void *) *record_of(exec_block_run *run, uint32_t txn)
{
	return &run->ex->sc.txns[txn].record;
}

/* The multi-version write of item `it` by (txn, incarnation). */
static mvm_version version_of(const exec_item *it, uint32_t txn, uint32_t incarnation)
{
	return (mvm_version){
		.value = it->value,
		.len = it->value_len,
		.flags = (it->flags & EXEC_ITEM_DELETED) ? MVM_VERSION_DELETED : 0,
		.txn_idx = txn,
		.incarnation = incarnation,
	};
}

/* Build the record of the incarnation that just ran in w's view and apply its
 * writes to the multi-version memory. */
static exec_record *record_incarnation(exec_block_run *run, exec_worker *w, uint32_t incarnation,
				       const bstm_txn_outcome *outcome, int error,
				       bool *wrote_new_path)
{
	bstm_view *v = &w->view;
	bstm_arena *arena = &w->arena;
	uint32_t txn = v->txn;
	bool keep_writes = error == 0 && outcome->status != BSTM_TXN_DISCARDED;
	/* A final execution is valid by construction and never validated
	 * (run_validation, commit_loop): its reads need no captures. */
	bool keep_reads = !v->final;
	uint32_t reads = 0, writes = 0;
	for (uint32_t i = 0; i < v->local.count; i++) {
		uint32_t f = v->local.items[i].flags;
		reads += keep_reads && (f & EXEC_ITEM_READ) != 0;
		writes += keep_writes && (f & EXEC_ITEM_WRITE) != 0;
	}
	uint32_t events = keep_writes ? v->event_count : 0;
	/* One allocation for the record and its arrays. */
	size_t size = sizeof(exec_record) + sizeof(mvm_capture) * reads +
		      (sizeof(mvm_node *) + sizeof(mvm_entry *)) * writes +
		      sizeof(bstm_event) * events;
	exec_record *rec = bstm_arena_alloc(arena, size);
	if (!rec)
		return NULL;
	*rec = (exec_record){.incarnation = incarnation,
			     .validated_final = 0,
			     .read_count = reads,
			     .write_count = writes,
			     .event_count = events,
			     .error = error,
			     .final = v->final,
			     .worker = (uint16_t)w->view.worker_id,
			     .outcome = *outcome};
	mvm_capture *cap = exec_record_reads(rec);
	mvm_node **nodes = exec_record_nodes(rec);
	mvm_entry **entries = exec_record_entries(rec);
	bstm_event *ev = exec_record_events(rec);
	if (outcome->status == BSTM_TXN_DISCARDED)
		rec->outcome.gas_used = 0;
	if (events)
		memcpy(ev, v->events, sizeof *ev * events);

	bool new_path = false;
	uint32_t r = 0, k = 0;
	for (uint32_t i = 0; i < v->local.count; i++) {
		exec_item *it = &v->local.items[i];
		if (keep_reads && (it->flags & EXEC_ITEM_READ))
			cap[r++] = (mvm_capture){.entry = it->entry, .observed = it->observed};
		if (!keep_writes || !(it->flags & EXEC_ITEM_WRITE))
			continue;
		mvm_version ver = version_of(it, txn, incarnation);
		bool fresh = false;
		mvm_node *node = mvm_write(it->entry, arena, txn, incarnation, &ver, &fresh);
		if (!node)
			return NULL;
		new_path |= fresh;
		entries[k] = it->entry;
		nodes[k] = node;
		k++;
	}
	/* Keys the previous recorded incarnation wrote and this one did not. */
	exec_record *prev = atomic_load_explicit(record_of(run, txn), memory_order_relaxed);
	if (prev) {
		mvm_node **prev_nodes = exec_record_nodes(prev);
		for (uint32_t i = 0; i < prev->write_count; i++)
			if (prev_nodes[i]->last_incarnation != incarnation)
				mvm_mark_absent(prev_nodes[i]);
	}
	*wrote_new_path = new_path;
	return rec;
}

/* Copy txn's output into the block output (into w's output arena). */
static int build_txn_output(exec_block_run *run, exec_worker *w, uint32_t worker, uint32_t txn,
			    const exec_record *rec)
{
	exec_write_ref *refs = exec_scratch(w, rec->write_count);
	if (!refs)
		return BSTM_ENOMEM;
	mvm_node **nodes = exec_record_nodes(rec);
	mvm_entry **entries = exec_record_entries(rec);
	for (uint32_t i = 0; i < rec->write_count; i++) {
		mvm_entry *e = entries[i];
		/* The incarnation's own version: no other thread changes the
		 * cell before the output is built (see mvm_node_version). */
		const mvm_version *ver = mvm_node_version(nodes[i]);
		refs[i] = (exec_write_ref){.key = e->key,
					   .value = ver->value,
					   .key_len = e->key_len,
					   .value_len = ver->len,
					   .is_delete = (ver->flags & MVM_VERSION_DELETED) != 0};
	}
	return exec_output_set_txn(run->out, exec_output_arena_of(run->out, worker), txn,
				   &rec->outcome, refs, rec->write_count, exec_record_events(rec),
				   rec->event_count);
}

/* Run `incarnation` of txn on worker w; we own it (EXECUTING). */
static sched_task run_execution(exec_block_run *run, exec_worker *w, uint32_t txn,
				uint32_t incarnation, bool final)
{
	sched_task none = {SCHED_TASK_NONE, 0, 0};
	struct bstm_executor *ex = run->ex;
	bstm_view *v = &w->view;
	bstm_txn_outcome outcome;
	int rc;
	for (;;) {
		if (!final)
			final = sched_commit_idx(&ex->sc) == txn;
		exec_view_begin(v, EXEC_MODE_PARALLEL, run, txn, final);
		w->stats.executions++;
		outcome = (bstm_txn_outcome){0, 0, 0};
		rc = run->block->execute(run->block->ctx, txn, v, &outcome);
		/* Before the dependency: a function that went on after
		 * BSTM_DEPENDENCY may have met the library's own failure since,
		 * and running it again would lose that. */
		if (v->fatal) {
			set_failure(run, v->error);
			return none;
		}
		if (!v->blocked)
			break;
		w->stats.dependency_waits++;
		/* The function has returned: now txn may wait on the blocker. If
		 * the blocker finished in between, run the incarnation again. */
		if (sched_add_dependency(&ex->sc, txn, v->blocking_txn))
			return none;
	}
	int error = v->error ? v->error : exec_outcome_error(rc, &outcome);
	bool new_path = false;
	exec_record *rec = record_incarnation(run, w, incarnation, &outcome, error, &new_path);
	if (!rec) {
		set_failure(run, BSTM_ENOMEM);
		return none;
	}
	/* Copy the output now, while its data is in this core's cache (see the
	 * top of the file); a later incarnation replaces it, and if the block
	 * stops before txn, RETRY does. */
	if (!error && !run->block->commit_hook) {
		int brc = build_txn_output(run, w, v->worker_id, txn, rec);
		if (brc) {
			set_failure(run, brc);
			return none;
		}
	}
	/* Release: the record's contents before its pointer; readers also
	 * acquire the status word, which sched_finish_execution releases. */
	atomic_store_explicit(record_of(run, txn), rec, memory_order_release);
	return sched_finish_execution(&ex->sc, txn, incarnation, new_path);
}

static void mark_estimates(const exec_record *rec)
{
	mvm_node **nodes = exec_record_nodes(rec);
	for (uint32_t i = 0; i < rec->write_count; i++)
		mvm_mark_estimate(nodes[i]);
}

static sched_task run_validation(exec_block_run *run, exec_worker *w, uint32_t txn,
				 uint32_t incarnation)
{
	sched *s = &run->ex->sc;
	exec_record *rec = atomic_load_explicit(record_of(run, txn), memory_order_acquire);
	if (!rec || rec->incarnation != incarnation)
		return sched_finish_validation(s, txn, false); /* superseded */
	w->stats.validations++;
	/* Loaded before reading: if every lower transaction was committed
	 * already, a passing validation is final (see commit_loop). */
	bool prefix_committed = sched_commit_idx(s) == txn;
	bool valid = rec->final || mvm_validate(exec_record_reads(rec), rec->read_count, txn);
	if (valid && prefix_committed)
		/* Release pairs with the committer's acquire load. */
		atomic_store_explicit(&rec->validated_final, 1, memory_order_release);
	bool aborted = !valid && sched_try_validation_abort(s, txn, incarnation);
	if (aborted) {
		w->stats.aborts++;
		mark_estimates(rec);
	}
	return sched_finish_validation(s, txn, aborted);
}

/* Publish a serial segment's final writes as the writes of its last
 * transaction `last` (which the committer owns: it is committed). */
static int publish_segment(exec_block_run *run, exec_worker *w, uint32_t last, uint32_t incarnation)
{
	struct bstm_executor *ex = run->ex;
	for (uint32_t k = 0; k < ex->overlay.count; k++) {
		const exec_item *it = &ex->overlay.items[k];
		if (!(it->flags & EXEC_ITEM_WRITE))
			continue;
		mvm_entry *e = exec_view_entry(&w->view, it->key, it->key_len, it->hash);
		if (!e)
			return BSTM_ENOMEM;
		mvm_version ver = version_of(it, last, incarnation);
		bool fresh;
		if (!mvm_write(e, &w->arena, last, incarnation, &ver, &fresh))
			return BSTM_ENOMEM;
	}
	return 0;
}

/*
 * Run a serial segment from `from` (scheduler.c explains when and why): in
 * order, on the committer, with the sequential executor's overlay over the
 * state committed below `from`. Each transaction is final when it returns, so
 * it commits at once; the segment's writes reach the multi-version memory
 * once, at its end. It ends with the block, at a stop, or after a chunk of
 * transactions of which too few were chained to their near predecessors
 * (view.c marks them). The caller holds the commit lock.
 */
static void run_serial_segment(exec_block_run *run, exec_worker *w, uint32_t from)
{
	struct bstm_executor *ex = run->ex;
	sched *s = &ex->sc;
	bstm_view *v = &w->view;
	exec_map_clear(&ex->overlay);
	run->serial_from = from;
	sched_serial_begin(s);
	uint32_t i = from, inc = 0, chained = 0;
	bool stop = false, dense = true;
	while (i < s->txn_count && !stop && dense) {
		if (!sched_serial_claim(s, i, &inc))
			return; /* the block failed elsewhere */
		/* Nodes of earlier incarnations: readers skip them from now on. */
		const exec_record *prev =
			atomic_load_explicit(record_of(run, i), memory_order_acquire);
		for (uint32_t k = 0; prev && k < prev->write_count; k++)
			mvm_mark_absent(exec_record_nodes(prev)[k]);
		exec_view_begin(v, EXEC_MODE_SERIAL, run, i, true);
		w->stats.executions++;
		w->stats.serial++;
		bstm_txn_outcome outcome = {0, 0, 0};
		int rc = run->block->execute(run->block->ctx, i, v, &outcome);
		if (v->fatal) {
			set_failure(run, v->error);
			return;
		}
		int error = v->error ? v->error : exec_outcome_error(rc, &outcome);
		if (error) {
			/* Final: the sequential executor fails here too. */
			atomic_store_explicit(&run->commit_error, error, memory_order_relaxed);
			sched_stop(s);
			return;
		}
		rc = exec_commit_local(ex, w, run->out,
				       exec_output_arena_of(run->out, v->worker_id), i, &outcome);
		if (rc) {
			set_failure(run, rc);
			return;
		}
		atomic_store_explicit(record_of(run, i), &run->serial_record, memory_order_release);
		sched_serial_finish(s, i, inc);
		const bstm_txn_output *t = &run->out->txns[i];
		stop = exec_after_commit(run, i, t->gas_used, run->block->commit_hook ? t : NULL);
		chained += v->chained;
		if ((++i - from) % SCHED_SERIAL_CHUNK == 0) {
			dense = sched_serial_dense(chained);
			chained = 0;
		}
	}
	int rc = publish_segment(run, w, i - 1, inc);
	if (rc) {
		set_failure(run, rc);
		return;
	}
	sched_serial_end(s, i);
	if (stop)
		sched_stop(s);
}

/*
 * Whether `worker` leaves the commit of rec's transaction to the worker that
 * executed it. While the block is calm (scheduler.c, "Calm blocks") the
 * executing worker commits its own transactions: their records, entries and
 * nodes are in its cache, and the commit's validation, the status change and
 * the record reads would otherwise move each of those lines to the other
 * core. A final execution needs no validation and is committed by anyone.
 * The owner keeps running its loop: it tries to commit after every
 * execution, after a validation that hands back no re-execution, and while
 * idle, so the commit waits for at most its current task and, after a
 * validation that aborted, the re-execution that follows (workers that
 * find no work try to commit too).
 */
static bool leave_to_owner(sched *s, const exec_record *rec, uint32_t worker)
{
	return rec->worker != worker && !rec->final && sched_calm(s);
}

/*
 * After committing txn - 1 while the block is calm: if txn is the next index
 * of this worker's claimed run, execute it now, under the commit lock. It is
 * final (everything below is committed), so its commit in the next round of
 * commit_loop needs no validation, and commit_idx, which the other workers
 * poll, is published once for the run, when the lock is released, instead of
 * once per transaction (sched_commit_held). Otherwise the next round finds
 * txn not executed, or someone else's, and the loop ends.
 */
static void run_own_next(exec_block_run *run, exec_worker *w, sched_cursor *cursor, uint32_t txn)
{
	sched *s = &run->ex->sc;
	uint32_t inc;
	if (!sched_calm(s) || !sched_take_from_cursor(s, cursor, txn, &inc))
		return;
	/* No task comes back: a final execution is not validated early, and the
	 * window, which only the committer (we) changes, keeps the block calm. */
	(void)run_execution(run, w, txn, inc, true);
}

/* The committer ends the block: held commits are published first, so that
 * a worker that sees the stop and leaves its loop reads the final commit
 * index (its part of the merged write set is built from it). */
static void stop_block(sched *s)
{
	sched_commit_publish(s);
	sched_stop(s);
}

/* Commit as many transactions as possible; the caller holds the commit lock
 * and releases it (which publishes commit_idx) after. */
static void commit_loop(exec_block_run *run, exec_worker *w, sched_cursor *cursor)
{
	sched *s = &run->ex->sc;
	for (;;) {
		uint32_t i = sched_next_commit(s);
		if (i >= s->txn_count || sched_stopped(s))
			return;
		if (sched_serial_pending(s)) {
			if (w->view.worker_id != 0)
				return; /* segments run on worker 0 (scheduler.c) */
			run_serial_segment(run, w, i);
			/* Workers that slept through the segment (worker_loop). */
			exec_futex_wake_all(&s->commit_idx);
			continue;
		}
		uint64_t word = sched_load_word(s, i);
		if (sched_word_status(word) != SCHED_EXECUTED)
			return;
		uint32_t inc = sched_word_incarnation(word);
		exec_record *rec = atomic_load_explicit(record_of(run, i), memory_order_acquire);
		if (!rec || rec->incarnation != inc)
			return; /* re-executed meanwhile; look again later */
		if (leave_to_owner(s, rec, w->view.worker_id))
			return;
		if (!rec->final &&
		    !atomic_load_explicit(&rec->validated_final, memory_order_acquire)) {
			w->stats.validations++;
			if (!mvm_validate(exec_record_reads(rec), rec->read_count, i)) {
				if (!sched_try_validation_abort(s, i, inc))
					return;
				w->stats.aborts++;
				mark_estimates(rec);
				sched_take_over(s, i, inc);
				(void)run_execution(run, w, i, inc + 1, true);
				if (sched_stopped(s))
					return;
				inc++;
				rec = atomic_load_explicit(record_of(run, i), memory_order_acquire);
			}
		}
		if (rec->error) {
			/* This incarnation is final: the sequential executor fails
			 * here too. */
			atomic_store_explicit(&run->commit_error, rec->error, memory_order_relaxed);
			stop_block(s);
			return;
		}
		if (!sched_commit_held(s, i, inc))
			return; /* a validator aborted it after our check */
		const bstm_txn_output *hooked = NULL;
		if (run->block->commit_hook) {
			int rc = build_txn_output(run, w, w->view.worker_id, i, rec);
			if (rc) {
				set_failure(run, rc);
				return;
			}
			hooked = &run->out->txns[i];
		}
		if (exec_after_commit(run, i, rec->outcome.gas_used, hooked)) {
			stop_block(s);
			return;
		}
		run_own_next(run, w, cursor, i + 1);
	}
}

/* Whether worker `worker` has something to commit: the transaction at
 * commit_idx was executed (and is not left to the worker that executed it),
 * or a serial segment is due (for worker 0). */
static bool committable(sched *s, uint32_t worker)
{
	uint32_t i = sched_commit_idx(s);
	if (i >= s->txn_count || sched_stopped(s))
		return false;
	if (sched_serial_pending(s))
		return worker == 0;
	if (sched_word_status(sched_load_word(s, i)) != SCHED_EXECUTED)
		return false;
	/* Acquire pairs with run_execution's release of the record. */
	const exec_record *rec = atomic_load_explicit(&s->txns[i].record, memory_order_acquire);
	return rec && !leave_to_owner(s, rec, worker);
}

/* cursor: the worker's claimed run, which the commit loop may continue
 * (run_own_next). */
static void try_commit(exec_block_run *run, exec_worker *w, sched_cursor *cursor)
{
	sched *s = &run->ex->sc;
	while (committable(s, w->view.worker_id) && sched_commit_trylock(s)) {
		commit_loop(run, w, cursor);
		sched_commit_unlock(s);
	}
}

#define EXEC_SEGMENT_SLEEP_NS 1000000u

static int build_merged_part(exec_block_run *run, exec_worker *w, uint32_t worker);

static void worker_loop(void *arg, uint32_t worker)
{
	exec_block_run *run = arg;
	exec_worker *w = &run->ex->workers[worker];
	sched *s = &run->ex->sc;
	w->view.arena = &w->arena;
	sched_task task = {SCHED_TASK_NONE, 0, 0};
	sched_cursor cursor = {0, 0};
	bstm_backoff idle = BSTM_BACKOFF_INIT;
	while (!sched_done(s)) {
		if (task.kind == SCHED_TASK_EXECUTE) {
			task = run_execution(run, w, task.txn, task.incarnation, false);
			try_commit(run, w, &cursor);
			continue;
		}
		if (task.kind == SCHED_TASK_VALIDATE) {
			uint32_t validated = task.txn;
			task = run_validation(run, w, task.txn, task.incarnation);
			/* Not while holding the re-execution of what it aborted
			 * (EXECUTING, ours): a serial segment would wait for it. */
			if (task.kind == SCHED_TASK_NONE && validated == sched_commit_idx(s))
				try_commit(run, w, &cursor);
			continue;
		}
		task = sched_next_task(s, &cursor);
		if (task.kind != SCHED_TASK_NONE) {
			idle.spins = 1;
			continue;
		}
		try_commit(run, w, &cursor);
		if (sched_has_work(s, &cursor))
			continue;
		sched_ensure_progress(s);
		uint32_t seen = sched_commit_idx(s);
		if (atomic_load_explicit(&s->window, memory_order_relaxed) == 0) {
			/* A serial segment is running: nothing can start until it
			 * ends, which wakes us (the timeout is a safety net). A
			 * spinning core would only slow the one doing the work. */
			exec_futex_wait(&s->commit_idx, seen, EXEC_SEGMENT_SLEEP_NS);
			continue;
		}
		/* Nothing to do until the next commit, most likely: watch only
		 * commit_idx for a while. Polling every shared index instead would
		 * keep taking their cache lines from the worker writing them. The
		 * wait is bounded because other events (an abort, a resumed
		 * dependency) also create work. */
		for (int k = 0; k < 8 && sched_commit_idx(s) == seen && !sched_stopped(s); k++)
			bstm_backoff_wait(&idle);
	}
	if (atomic_load_explicit(&run->commit_error, memory_order_relaxed))
		return;
	if (!atomic_load_explicit(&run->failure, memory_order_acquire)) {
		int rc = build_merged_part(run, w, worker);
		if (rc)
			set_failure(run, rc);
	}
}

/* The final write of every key whose entry this worker created: the version
 * of the last committed writer, copied into the worker's output arena,
 * sorted by key. Runs after the worker left the loop, when every entry it
 * created is in its list; the workers sort their parts at the same time, and
 * the caller only merges them. Entries are listed by their creator, so no
 * key is listed twice and listing costs no atomic operation on the entry. */
static int build_merged_part(exec_block_run *run, exec_worker *w, uint32_t worker)
{
	uint32_t committed = sched_commit_idx(&run->ex->sc);
	bstm_arena *arena = exec_output_arena_of(run->out, worker);
	mvm_entry **list = w->view.created;
	size_t n = w->view.created_count;
	if (exec_merged_begin(w, n) != 0)
		return BSTM_ENOMEM;
	/* The entries were written long ago, most of them no longer in this
	 * core's cache: load them some iterations ahead, and their writers'
	 * nodes once the entries are in. */
	enum { AHEAD = 16 };
	for (size_t k = 0; k < n && k < AHEAD; k++)
		mvm_prefetch_entry(list[k]);
	for (size_t k = 0; k < n; k++) {
		if (k + AHEAD < n)
			mvm_prefetch_entry(list[k + AHEAD]);
		if (k + AHEAD / 2 < n)
			mvm_prefetch_head(list[k + AHEAD / 2]);
		const mvm_entry *e = list[k];
		mvm_read_result r;
		mvm_read(e, committed, &r);
		/* Not a version: only read, or written only by incarnations
		 * that were superseded or lie above a stop point. */
		if (r.kind == MVM_READ_VERSION &&
		    exec_merged_add(w, arena, e->key, e->key_len, r.version->value, r.version->len,
				    (r.version->flags & MVM_VERSION_DELETED) != 0) != 0)
			return BSTM_ENOMEM;
	}
	return exec_merged_sort(w);
}

/* Merge the workers' sorted parts. */
static int build_merged(exec_block_run *run)
{
	struct bstm_executor *ex = run->ex;
	uint32_t threads = ex->config.threads;
	bstm_sorted_part *parts = malloc(sizeof *parts * threads);
	if (!parts)
		return BSTM_ENOMEM;
	for (uint32_t t = 0; t < threads; t++)
		parts[t] = exec_merged_part(&ex->workers[t]);
	int rc = exec_output_set_merged(run->out, parts, threads);
	free(parts);
	return rc;
}

int exec_run_parallel(struct bstm_executor *ex, const bstm_block *block, const bstm_base_view *base,
		      exec_output **out_p, uint32_t *hooked)
{
	uint64_t start = bstm_now_ns();
	uint32_t n = block->txn_count;
	*out_p = NULL;
	*hooked = 0;
	exec_output *out = exec_output_new(n, ex->config.threads);
	if (!out)
		return BSTM_ENOMEM;
	int rc = mvm_begin_block(&ex->mv, n);
	ex->sc.calm_enabled = true;
	if (!rc)
		rc = sched_begin_block(&ex->sc, n, ex->config.threads);
	if (rc) {
		bstm_output_free(&out->pub);
		return rc;
	}

	exec_block_run run = {
		.block = block,
		.base = base,
		.base_lock = (base->flags & BSTM_VIEW_THREAD_SAFE) ? NULL : &ex->base_lock,
		.ex = ex,
		.out = out,
		.gas_limit = ex->config.block_gas_limit,
	};
	atomic_init(&run.failure, 0);
	run.serial_record.incarnation = UINT32_MAX; /* never validated: superseded */
	if (n > 0)
		exec_pool_run(&ex->pool, worker_loop, &run);
	sched_end_block(&ex->sc);

	rc = atomic_load_explicit(&run.failure, memory_order_acquire);
	if (!rc)
		rc = atomic_load_explicit(&run.commit_error, memory_order_relaxed);
	if (!rc) {
		exec_output_retry_rest(out, out->committed);
		rc = build_merged(&run);
	}
	uint64_t keys = 0;
	for (uint32_t i = 0; i < ex->config.threads; i++) {
		keys += ex->workers[i].view.created_count;
		ex->workers[i].view.created_count = 0;
		ex->workers[i].merged_count = 0;
		exec_stats *st = &ex->workers[i].stats;
		out->pub.stats.executions += st->executions;
		out->pub.stats.validations += st->validations;
		out->pub.stats.aborts += st->aborts;
		out->pub.stats.dependency_waits += st->dependency_waits;
		out->pub.stats.serial_txns += st->serial;
		memset(st, 0, sizeof *st);
		bstm_arena_reset(&ex->workers[i].arena);
	}
	mvm_end_block(&ex->mv, n, keys);
	if (rc) {
		*hooked = out->committed;
		bstm_output_free(&out->pub);
		return rc;
	}
	out->pub.stats.threads = ex->config.threads;
	sched_time_block(&ex->sc, bstm_now_ns() - start, out->committed, out->pub.stats.gas_used);
	*out_p = out;
	return 0;
}
