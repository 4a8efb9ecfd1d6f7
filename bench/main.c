/*
 * main.c - the benchmark driver: build/bin/bench.
 *
 * For every configuration (workload x accounts x txns x compute x threads) it
 * runs the same block with the sequential baseline and with the parallel
 * executor, alternating, in this process, `--runs` times after a warm-up,
 * checks that both outputs are identical, and reports medians: tps of each,
 * speedup = the median over runs of (sequential time / parallel time) of the
 * same run, the two timed back to back so that drifts in machine speed
 * cancel (in alternating order: the baseline first in even runs, the
 * parallel executor first in odd ones, since whichever runs second finds
 * the block's state in the cache; --order fixed always runs the baseline
 * first), executions and validations per transaction, and at 1 thread the
 * executor's own cost per transaction, (parallel - sequential) / txns.
 *
 * The warm-up is one run, or, where timed blocks are in effect (2 threads
 * or more, serial and timed segments on), the executor's opening: five
 * blocks, three parallel and two serial (blockstm.h, timed_segments), after
 * which the executor has chosen its mode. A node's executor runs the
 * opening once in its life; a row of runs on a fresh executor would
 * otherwise count it in every configuration (2 of 5 runs serial with the
 * default --runs). The later probes of the mode that lost are measured
 * like any other run: with --runs 9 and more, run 9 is the first of them.
 * --warmup N sets the number of warm-up runs instead.
 *
 * With --twin 1 each run also measures what the machine gives T threads on
 * this workload at that moment, without any executor overhead: T sequential
 * executors, one per thread (threads kept for the configuration's runs),
 * each on its own copy of the block and state, started together.
 * twin_x = T * (sequential time) / (time until the last copy is done), so
 * 2 at 2 threads when the cores do not slow each other.
 * of_twin is the median over runs of speedup / twin_x of the same run: how
 * much of that the parallel executor reached. twin_x is a reference, not a
 * bound: the copies touch T times the state, the parallel run only once.
 * skew is the median over runs of copy 0's time (on the calling thread,
 * which runs the baseline) over the fastest other copy's: above 1 the
 * caller's CPU is the slower one at that moment (a virtual CPU whose host
 * core is shared, say), the baseline is slow with it, and the speedup is
 * overstated by up to that factor. twin_x cannot show this: it waits for the
 * last copy, which is then copy 0 itself. A row with skew of 1.15 or more is
 * flagged. With more threads than the process has CPUs, skew is 0 (not
 * measured): copies then share CPUs.
 *
 * Every line also gives rt_ns: the round trip of a cache line between the
 * first two CPUs, measured just before the configuration's runs. On a
 * virtual machine it changes with what the host runs beside it, and the
 * 2-thread speedup with it (docs/benchmarks.md, "The cost of moving a cache
 * line"), so a figure is read together with it.
 *
 * With --caller-cpu N the calling thread is pinned to CPU N for the timed
 * sequential and parallel runs: it runs the whole sequential baseline and is
 * worker 0 of the parallel executor, whose other workers keep the process's
 * CPUs. On a machine whose CPUs differ (one with less of the shared cache,
 * say: `--workload cores` shows it) the baseline's speed depends on where
 * it runs; this fixes that choice instead of leaving it to the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

#define MAX_LIST 32
/* Bounds of the options, so that a typo is an error rather than a run
 * that never ends ("--compute -1" would be 2^64 - 1 SHA-256 rounds). */
#define MAX_ACCOUNTS (1ull << 26)
#define MAX_COMPUTE  1000000u
#define MAX_THREADS  1024u
#define MAX_RW	     1024u
#define MAX_TWINS    64
/* A row whose skew is at least this is flagged (see the top of the file). */
#define BENCH_SKEW_FLAG 1.15

static bench_workload *registry;

void bench_register(bench_workload *w)
{
	w->next = registry;
	registry = w;
}

const bench_workload *bench_find(const char *name)
{
	for (bench_workload *w = registry; w; w = w->next)
		if (strcmp(w->name, name) == 0)
			return w;
	return NULL;
}

const bench_workload *bench_first(void)
{
	return registry;
}

/* Optional hook provided by the VM workload file. */
int bench_vm_instance_cost(FILE *out, int json) __attribute__((weak));
/* What each CPU gives alone and with the others busy (cores.c). */
int bench_cores(FILE *out, int json, int runs);

typedef struct list {
	uint64_t v[MAX_LIST];
	int n;
} list;

/* A decimal number in [min, max] at s, ending at *end (no sign, no
 * spaces: strtoull would take "-1" as 2^64 - 1). */
static int parse_number(const char *s, uint64_t min, uint64_t max, uint64_t *out, char **end)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, end, 10);
	if (errno || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int parse_one(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	return parse_number(s, min, max, out, &end) || *end ? -1 : 0;
}

/* "A,B,...": up to MAX_LIST numbers, each in [min, max]. */
static int parse_list(const char *s, list *l, uint64_t min, uint64_t max)
{
	l->n = 0;
	while (l->n < MAX_LIST) {
		char *end;
		if (parse_number(s, min, max, &l->v[l->n++], &end))
			return -1;
		if (!*end)
			return 0;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
	return -1;
}

/* A CPU this process may run on. */
static int parse_cpu(const char *s, int *cpu)
{
	uint64_t x;
	cpu_set_t allowed;
	if (parse_one(s, 0, CPU_SETSIZE - 1, &x) ||
	    sched_getaffinity(0, sizeof allowed, &allowed) != 0 || !CPU_ISSET((int)x, &allowed))
		return -1;
	*cpu = (int)x;
	return 0;
}

/* Process CPU time (all threads): work done, whatever the scheduling. */
static uint64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_u64);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench [--workload NAME] [--accounts N,..] [--txns N,..] [--reads R]\n"
		"             [--writes W] [--compute C,..] [--hot-ratio F] [--threads T,..]\n"
		"             [--runs N] [--warmup N] [--order alternate|fixed] [--seed S]\n"
		"             [--serial-segments 0|1] [--timed-segments 0|1]\n"
		"             [--twin 0|1] [--split 0|1] [--caller-cpu N] [--json]\n"
		"bounds: accounts 1..2^26, txns 1..2^24, compute 0..10^6, threads 1..1024\n"
		"        (1..64 with --twin 1 or --split 1), reads and writes 0..1024, hot-ratio "
		"0..1,\n"
		"        runs 1..64, warmup 1..64 (default: 1 run, or the executor's\n"
		"        5-block opening where timed blocks are in effect)\n"
		"workloads:");
	for (const bench_workload *w = bench_first(); w; w = w->next)
		fprintf(stderr, "\n  %-12s %s", w->name, w->help);
	fprintf(stderr, "\n  %-12s per-transaction cost of VM instance reuse vs a fresh instance",
		"vm-instance");
	fprintf(stderr,
		"\n  %-12s each CPU: integer throughput and clock, alone and all at once; load\n"
		"  %-12s latency by working set; cache-line round trip between CPUs\n",
		"cores", "");
}

typedef struct result {
	uint64_t seq_ns, par_ns;
	double speedup;			 /* median over runs of seq / par of the same run */
	uint64_t seq_cpu_ns, par_cpu_ns; /* medians of process CPU time */
	double exec_per_txn, val_per_txn, serial_share;
	double twin_x, of_twin, skew; /* 0 when not measured */
	double split_x;		      /* 0 when not measured */
	double round_trip_ns;	      /* bench_line_round_trip() before the runs */
	uint32_t committed;
} result;

static int serial_segments = 1;
static int split = 0;
static int timed_segments = 1;
/* 0: one run, or the executor's opening where timed blocks are in effect. */
static int warmup = 0;
#define BENCH_TIMED_OPENING 5

/* Whether run r times the parallel executor before the baseline. */
static int order_alternate = 1;
static bool parallel_first(int r)
{
	return order_alternate && (r & 1);
}

static int warmup_runs(uint32_t threads)
{
	if (warmup > 0)
		return warmup;
	return threads >= 2 && serial_segments && timed_segments ? BENCH_TIMED_OPENING : 1;
}
/* -1: the calling thread runs wherever the kernel puts it. */
static int caller_cpu = -1;

/* Pin the calling thread to caller_cpu for a timed pair of runs and copy 0
 * of the twin run (pin true), and give it back its CPUs after (pin false).
 * The twin run's other threads are started unpinned, before the runs. */
static int caller_pin(bool pin, const cpu_set_t *allowed)
{
	if (caller_cpu < 0)
		return 0;
	if (pin)
		return bench_pin_self(caller_cpu);
	return pthread_setaffinity_np(pthread_self(), sizeof *allowed, allowed) != 0 ? -1 : 0;
}

/*
 * The copies of a twin run. Copies 1.. run on threads started once per
 * configuration, each of which also frees its own outputs: threads started
 * and ended per run, and outputs allocated on one thread and freed on
 * another, left the allocator purging pages during the timed runs, which
 * then took page faults (at 1,000 accounts a 2-thread speedup of 0.46
 * against 1.0 without --twin; docs/benchmarks.md).
 */
typedef struct twin_pool {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	uint64_t round; /* a run starts when it grows */
	uint32_t done;	/* copies 1.. that finished this round */
	bool quit;
} twin_pool;

/* One copy of a twin run (or part of a split run): a sequential block on
 * its own executor. */
typedef struct twin_copy {
	bstm_executor *ex;
	const bstm_block *block;
	const bstm_base_view *base;
	twin_pool *pool;
	pthread_t tid;
	uint64_t start, end;
	bstm_output *out;
	int rc;
} twin_copy;

static void twin_execute(twin_copy *c)
{
	bstm_output_free(c->out);
	c->out = NULL;
	c->rc = BSTM_EINTERNAL;
	c->start = bench_now_ns();
	c->rc = bstm_execute_block_sequential(c->ex, c->block, c->base, &c->out);
	c->end = bench_now_ns();
}

static void *twin_thread(void *arg)
{
	twin_copy *c = arg;
	twin_pool *pool = c->pool;
	uint64_t seen = 0;
	for (;;) {
		pthread_mutex_lock(&pool->lock);
		while (pool->round == seen && !pool->quit)
			pthread_cond_wait(&pool->changed, &pool->lock);
		bool quit = pool->quit;
		seen = pool->round;
		pthread_mutex_unlock(&pool->lock);
		if (quit)
			break;
		twin_execute(c);
		pthread_mutex_lock(&pool->lock);
		pool->done++;
		pthread_cond_broadcast(&pool->changed);
		pthread_mutex_unlock(&pool->lock);
	}
	bstm_output_free(c->out);
	c->out = NULL;
	return NULL;
}

/* The copies of one twin or split run, with their pool. */
typedef struct twin_set {
	twin_pool pool;
	twin_copy copies[MAX_TWINS];
	uint32_t n;	  /* 0: no such run */
	uint32_t started; /* copies that can run: 1 + threads started */
} twin_set;

#define TWIN_SET_INIT                                                                              \
	{                                                                                          \
		.pool = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, false }       \
	}

/* Make set->n copies runnable, each copy's block and base already set: copy
 * 0 runs on this thread with ex, copies 1.. on threads of their own, each
 * with an executor of its own (cfg at 1 thread). `what` names a copy in the
 * error message. */
static int twin_set_start(twin_set *set, bstm_executor *ex, const bstm_config *cfg,
			  const char *what)
{
	bstm_config one = *cfg;
	one.threads = 1;
	int rc = 0;
	set->copies[0].ex = ex;
	for (uint32_t i = 1; i < set->n && !rc; i++)
		rc = bstm_executor_create(&one, &set->copies[i].ex);
	if (rc)
		return rc;
	for (set->started = 1; set->started < set->n; set->started++) {
		twin_copy *c = &set->copies[set->started];
		c->pool = &set->pool;
		if (pthread_create(&c->tid, NULL, twin_thread, c) != 0) {
			fprintf(stderr, "bench: a %s's thread could not start\n", what);
			return BSTM_EINTERNAL;
		}
	}
	return 0;
}

/* Stop the threads and free what twin_set_start made (any part of it). */
static void twin_set_stop(twin_set *set)
{
	if (!set->n)
		return;
	pthread_mutex_lock(&set->pool.lock);
	set->pool.quit = true;
	pthread_cond_broadcast(&set->pool.changed);
	pthread_mutex_unlock(&set->pool.lock);
	for (uint32_t i = 1; i < set->started; i++)
		pthread_join(set->copies[i].tid, NULL);
	bstm_output_free(set->copies[0].out);
	set->copies[0].out = NULL;
	for (uint32_t i = 1; i < set->n; i++)
		bstm_executor_destroy(set->copies[i].ex);
}

/* Run the set's copies at once (copy 0 on this thread); the wall time from
 * the first start to the last end, or 0 on failure, and in *skew copy 0's
 * time over the fastest other copy's (fixed point, 10^6 = equal). Each
 * copy's output must equal `reference` (the copies run the same block, each
 * on a state of its own with the same contents); with no reference (the
 * parts of a split run), each must have committed all of its block. */
static uint64_t twin_once(twin_set *set, const bstm_output *reference, uint64_t *skew)
{
	twin_pool *pool = &set->pool;
	twin_copy *copies = set->copies;
	uint32_t n = set->n;
	pthread_mutex_lock(&pool->lock);
	pool->done = 0;
	pool->round++;
	pthread_cond_broadcast(&pool->changed);
	pthread_mutex_unlock(&pool->lock);
	twin_execute(&copies[0]);
	pthread_mutex_lock(&pool->lock);
	while (pool->done < n - 1)
		pthread_cond_wait(&pool->changed, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
	uint64_t first = copies[0].start, last = copies[0].end, fastest = UINT64_MAX;
	bool ok = true;
	for (uint32_t i = 0; i < n; i++) {
		first = copies[i].start < first ? copies[i].start : first;
		last = copies[i].end > last ? copies[i].end : last;
		uint64_t wall = copies[i].end - copies[i].start;
		if (i > 0 && wall < fastest)
			fastest = wall;
		ok &= copies[i].rc == 0 &&
		      (reference ? bstm_output_equal(copies[i].out, reference)
				 : copies[i].out->stats.committed == copies[i].block->txn_count);
	}
	*skew = (uint64_t)(1e6 * (double)(copies[0].end - copies[0].start) /
			   (double)(fastest ? fastest : 1));
	return ok ? last - first : 0;
}

/*
 * --split 1: what the machine gives T threads on this very block with no
 * executor between them. The block's transactions are dealt out in runs of
 * SPLIT_RUN consecutive indices, run k to part k mod T (the parallel
 * executor's workers also claim runs of consecutive indices), and the parts
 * run on the sequential executor over the one base state: one after another
 * on the calling thread, with the baseline's executor and the block's own
 * function context, and all at once, part 0 on the calling thread (so with
 * them too) and each other part on a thread, executor and context of its
 * own.
 * split_x = the first time / the second, the median over runs, taken in
 * alternating order like the timed pair.
 *
 * The parts read the same transactions and the same state the parallel run
 * reads, from the same CPUs, but pass nothing written between them: each
 * has its own overlay, a transaction reads the base value of a key another
 * part's transaction wrote (a sender's later transaction in another part is
 * discarded for its sequence number), and the outputs are not the block's.
 * Both timings run the same parts, so split_x compares like with like: it
 * is what an executor with no cost of its own, no validation and no
 * values passed between transactions on different CPUs could reach: in
 * practice a ceiling for the speedup on this block at that moment (not a
 * strict one: each part's working set is smaller than the block's, and
 * split_x has come out above T).
 */
#define SPLIT_RUN 16

typedef struct split_fn {
	bstm_txn_fn fn;
	void *ctx;
	const uint32_t *index; /* the part's transactions, in block order */
} split_fn;

typedef struct split_part {
	split_fn own, shared; /* the part's context, the block's */
	bstm_block together, alone;
	uint32_t *index;
	void *forked; /* from the workload's fork_ctx, or NULL */
} split_part;

static int split_execute(void *ctx, uint32_t i, bstm_view *view, bstm_txn_outcome *outcome)
{
	const split_fn *f = ctx;
	return f->fn(f->ctx, f->index[i], view, outcome);
}

static void split_free(const bench_workload *wl, split_part *parts, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (parts[i].forked && wl->drop_ctx)
			wl->drop_ctx(parts[i].forked);
		free(parts[i].index);
	}
}

/* Deal inst's block out to parts[0..n); part 0 runs with the block's own
 * context in both timings, the others with one of their own together. */
static int split_init(const bench_workload *wl, const bench_instance *inst, split_part *parts,
		      uint32_t n)
{
	const bstm_block *b = &inst->block;
	memset(parts, 0, sizeof *parts * n);
	uint32_t count[MAX_TWINS] = {0};
	for (uint32_t i = 0; i < b->txn_count; i++)
		count[i / SPLIT_RUN % n]++;
	int rc = 0;
	for (uint32_t p = 0; p < n && !rc; p++) {
		split_part *sp = &parts[p];
		sp->index = malloc(sizeof *sp->index * (count[p] ? count[p] : 1));
		if (!sp->index) {
			rc = BSTM_ENOMEM;
			break;
		}
		void *own = b->ctx;
		if (p > 0 && wl->fork_ctx) {
			rc = wl->fork_ctx(inst, &sp->forked);
			own = sp->forked;
		}
		sp->shared = (split_fn){b->execute, b->ctx, sp->index};
		sp->own = (split_fn){b->execute, own, sp->index};
		sp->alone = (bstm_block){.size = sizeof(bstm_block),
					 .txn_count = count[p],
					 .execute = split_execute,
					 .ctx = &sp->shared};
		sp->together = sp->alone;
		sp->together.ctx = &sp->own;
	}
	if (rc) {
		split_free(wl, parts, n);
		return rc;
	}
	memset(count, 0, sizeof count);
	for (uint32_t i = 0; i < b->txn_count; i++) {
		uint32_t p = i / SPLIT_RUN % n;
		parts[p].index[count[p]++] = i;
	}
	return 0;
}

/* One split measurement: the parts one after another on this thread with
 * `ex`, and all at once as `set`; in *ratio the first time over the second
 * (fixed point, 10^6 = equal). */
static int split_once(bstm_executor *ex, const split_part *parts, twin_set *set,
		      bool together_first, uint64_t *ratio)
{
	uint64_t alone = 0, together = 0, skew;
	for (int pass = 0; pass < 2; pass++) {
		if ((pass == 0) == together_first) {
			together = twin_once(set, NULL, &skew);
			if (!together)
				return BSTM_EINTERNAL;
			continue;
		}
		for (uint32_t i = 0; i < set->n; i++) {
			bstm_output *o = NULL;
			uint64_t t0 = bench_now_ns();
			int rc = bstm_execute_block_sequential(ex, &parts[i].alone,
							       set->copies[i].base, &o);
			alone += bench_now_ns() - t0;
			bool ok = rc == 0 && o->stats.committed == parts[i].alone.txn_count;
			bstm_output_free(o);
			if (!ok)
				return rc ? rc : BSTM_EINTERNAL;
		}
	}
	*ratio = (uint64_t)(1e6 * (double)alone / (double)together);
	return 0;
}

/* One timed call on inst: the baseline, or the parallel executor. */
static int timed_call(bstm_executor *ex, const bench_instance *inst, bool parallel,
		      bstm_output **out, uint64_t *wall_ns, uint64_t *cpu)
{
	uint64_t c0 = cpu_ns(), t0 = bench_now_ns();
	int rc = parallel ? bstm_execute_block(ex, &inst->block, &inst->base, out)
			  : bstm_execute_block_sequential(ex, &inst->block, &inst->base, out);
	*cpu = cpu_ns() - c0;
	*wall_ns = bench_now_ns() - t0;
	return rc;
}

/* inst is the block to measure (wl's); twins (NULL: no twin run) holds
 * `threads` more copies of it, one per copy of the twin run: copy 0 too runs
 * on a state of its own, not on the one the timed runs just warmed on its
 * CPU, which made it the fastest copy. */
static int measure(const bench_workload *wl, const bench_instance *inst,
		   const bench_instance *twins, uint32_t threads, int runs, result *res)
{
	bstm_config cfg;
	bstm_config_init(&cfg);
	cfg.threads = threads;
	cfg.serial_segments = (uint32_t)serial_segments;
	cfg.timed_segments = (uint32_t)timed_segments;
	cfg.small_block_threshold = 0; /* always measure the parallel path */
	bstm_executor *ex;
	int rc = bstm_executor_create(&cfg, &ex);
	if (rc)
		return rc;
	uint64_t executions = 0, validations = 0, serial = 0;
	twin_set tw = TWIN_SET_INIT, sp = TWIN_SET_INIT;
	tw.n = twins && threads > 1 ? threads : 0;
	for (uint32_t i = 0; i < tw.n; i++) {
		tw.copies[i].block = &twins[i].block;
		tw.copies[i].base = &twins[i].base;
	}
	/* The parts of the split run: part 0 on this thread with ex. */
	split_part parts[MAX_TWINS];
	uint32_t nsplit = split && threads > 1 ? threads : 0;
	if (nsplit) {
		rc = split_init(wl, inst, parts, nsplit);
		sp.n = rc ? 0 : nsplit;
	}
	for (uint32_t i = 0; i < sp.n; i++) {
		sp.copies[i].block = &parts[i].together;
		sp.copies[i].base = &inst->base;
	}
	if (!rc && tw.n)
		rc = twin_set_start(&tw, ex, &cfg, "twin copy");
	if (!rc && sp.n)
		rc = twin_set_start(&sp, ex, &cfg, "split part");
	if (rc)
		goto done;
	cpu_set_t allowed;
	if (caller_cpu >= 0 &&
	    pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0)
		rc = BSTM_EINTERNAL;
	/* The machine's state for these runs (the speedup follows it). */
	res->round_trip_ns = bench_line_round_trip();
	uint64_t seq[64], par[64], seq_cpu[64], par_cpu[64], ratio[64], twin_x[64], of_twin[64],
		skew[64], split_x[64];
	if (runs > 64)
		runs = 64;
	for (int r = -warmup_runs(threads); r < runs && !rc; r++) {
		bstm_output *so = NULL, *po = NULL;
		/* Let the pool's workers finish spinning and park, so nothing of
		 * the parallel executor runs while the baseline is timed. */
		struct timespec settle = {0, 2000000};
		if (caller_pin(true, &allowed)) {
			rc = BSTM_EINTERNAL;
			break;
		}
		nanosleep(&settle, NULL);
		uint64_t seq_wall = 0, seq_c = 0, par_wall = 0, par_c = 0;
		if (parallel_first(r)) {
			rc = timed_call(ex, inst, true, &po, &par_wall, &par_c);
			nanosleep(&settle, NULL); /* the baseline, as above */
			if (!rc)
				rc = timed_call(ex, inst, false, &so, &seq_wall, &seq_c);
		} else {
			rc = timed_call(ex, inst, false, &so, &seq_wall, &seq_c);
			if (!rc)
				rc = timed_call(ex, inst, true, &po, &par_wall, &par_c);
		}
		if (!rc && !bstm_output_equal(so, po)) {
			fprintf(stderr, "bench: parallel output differs from sequential\n");
			rc = BSTM_EINTERNAL;
		}
		/* Copy 0 of the twin run stays on the baseline's CPU, so that
		 * skew compares that CPU with the others. */
		uint64_t twin_wall = 0, twin_skew = 0;
		if (!rc && tw.n) {
			twin_wall = twin_once(&tw, so, &twin_skew);
			if (!twin_wall) {
				fprintf(stderr, "bench: a twin copy failed or differs\n");
				rc = BSTM_EINTERNAL;
			}
		}
		uint64_t split_ratio = 0;
		if (!rc && sp.n)
			rc = split_once(ex, parts, &sp, parallel_first(r), &split_ratio);
		if (caller_pin(false, &allowed) && !rc)
			rc = BSTM_EINTERNAL;
		if (rc) {
			bstm_output_free(so);
			bstm_output_free(po);
			break;
		}
		if (r >= 0 && !rc) {
			seq[r] = seq_wall;
			par[r] = par_wall;
			seq_cpu[r] = seq_c;
			par_cpu[r] = par_c;
			/* Paired: both runs back to back, so a drift in machine
			 * speed over the measurement cancels out. Fixed point. */
			ratio[r] = (uint64_t)(1e6 * (double)seq[r] / (double)par[r]);
			if (tw.n) {
				double tx = (double)tw.n * (double)seq[r] / (double)twin_wall;
				twin_x[r] = (uint64_t)(1e6 * tx);
				of_twin[r] = (uint64_t)((double)ratio[r] / tx);
				skew[r] = twin_skew;
			}
			split_x[r] = split_ratio;
			executions += po->stats.executions;
			validations += po->stats.validations;
			serial += po->stats.serial_txns;
			res->committed = po->stats.committed;
		}
		bstm_output_free(so);
		bstm_output_free(po);
		if (rc)
			break;
	}
done:
	twin_set_stop(&tw);
	twin_set_stop(&sp);
	bstm_executor_destroy(ex);
	if (sp.n)
		split_free(wl, parts, sp.n);
	if (rc)
		return rc;
	if (sp.n)
		res->split_x = (double)median(split_x, runs) / 1e6;
	if (tw.n) {
		res->twin_x = (double)median(twin_x, runs) / 1e6;
		res->of_twin = (double)median(of_twin, runs) / 1e6;
		/* With more copies than CPUs, copy 0 shares its CPU while
		 * the fastest copy may have one alone: no CPU is compared. */
		cpu_set_t cpus;
		if (sched_getaffinity(0, sizeof cpus, &cpus) == 0 &&
		    tw.n <= (uint32_t)CPU_COUNT(&cpus))
			res->skew = (double)median(skew, runs) / 1e6;
	}
	res->seq_ns = median(seq, runs);
	res->par_ns = median(par, runs);
	res->speedup = (double)median(ratio, runs) / 1e6;
	res->seq_cpu_ns = median(seq_cpu, runs);
	res->par_cpu_ns = median(par_cpu, runs);
	double txns = (double)inst->block.txn_count * runs;
	res->exec_per_txn = txns ? executions / txns : 0;
	res->val_per_txn = txns ? validations / txns : 0;
	res->serial_share = txns ? serial / txns : 0;
	return 0;
}

int main(int argc, char **argv)
{
	const char *workload = "synthetic";
	list accounts = {{10000}, 1}, txns = {{10000}, 1}, compute = {{10}, 1},
	     threads = {{1, 2}, 2};
	bench_params p = {.reads = 2, .writes = 2, .hot_ratio = 0.0, .seed = 42};
	int runs = 5, json = 0, twin = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		uint64_t n = 0;
		if (!strcmp(a, "--json")) {
			json = 1;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage();
			return 0;
		}
		if (!v) {
			usage();
			return 2;
		}
		i++;
		if (!strcmp(a, "--workload"))
			workload = v;
		else if (!strcmp(a, "--accounts"))
			bad = parse_list(v, &accounts, 1, MAX_ACCOUNTS);
		else if (!strcmp(a, "--txns"))
			bad = parse_list(v, &txns, 1, BSTM_MAX_BLOCK_TXNS);
		else if (!strcmp(a, "--compute"))
			bad = parse_list(v, &compute, 0, MAX_COMPUTE);
		else if (!strcmp(a, "--threads"))
			bad = parse_list(v, &threads, 1, MAX_THREADS);
		else if (!strcmp(a, "--reads")) {
			bad = parse_one(v, 0, MAX_RW, &n);
			p.reads = (uint32_t)n;
		} else if (!strcmp(a, "--writes")) {
			bad = parse_one(v, 0, MAX_RW, &n);
			p.writes = (uint32_t)n;
		} else if (!strcmp(a, "--hot-ratio")) {
			char *end;
			p.hot_ratio = strtod(v, &end);
			bad = end == v || *end;
		} else if (!strcmp(a, "--runs")) {
			bad = parse_one(v, 1, 64, &n);
			runs = (int)n;
		} else if (!strcmp(a, "--order")) {
			order_alternate = !strcmp(v, "alternate");
			bad = !order_alternate && strcmp(v, "fixed");
		} else if (!strcmp(a, "--warmup")) {
			bad = parse_one(v, 1, 64, &n);
			warmup = (int)n;
		} else if (!strcmp(a, "--serial-segments")) {
			bad = parse_one(v, 0, 1, &n);
			serial_segments = (int)n;
		} else if (!strcmp(a, "--timed-segments")) {
			bad = parse_one(v, 0, 1, &n);
			timed_segments = (int)n;
		} else if (!strcmp(a, "--twin")) {
			bad = parse_one(v, 0, 1, &n);
			twin = (int)n;
		} else if (!strcmp(a, "--split")) {
			bad = parse_one(v, 0, 1, &n);
			split = (int)n;
		} else if (!strcmp(a, "--caller-cpu")) {
			bad = parse_cpu(v, &caller_cpu);
		} else if (!strcmp(a, "--seed")) {
			bad = parse_one(v, 0, UINT64_MAX, &p.seed);
		} else {
			bad = -1;
		}
		if (bad) {
			usage();
			return 2;
		}
	}
	int too_many = 0;
	for (int h = 0; h < threads.n; h++)
		too_many |= threads.v[h] == 0 || ((twin || split) && threads.v[h] > MAX_TWINS);
	if (runs < 1 || runs > 64 || !(p.hot_ratio >= 0 && p.hot_ratio <= 1) || too_many ||
	    (twin != 0 && twin != 1)) {
		usage();
		return 2;
	}
	if (!strcmp(workload, "vm-instance")) {
		if (!bench_vm_instance_cost) {
			fprintf(stderr, "bench: the VM workload is not built in\n");
			return 1;
		}
		return bench_vm_instance_cost(stdout, json) ? 1 : 0;
	}
	if (!strcmp(workload, "cores")) {
		if (bench_cores(stdout, json, runs)) {
			fprintf(stderr, "bench: cannot pin a thread to each CPU\n");
			return 1;
		}
		return 0;
	}
	const bench_workload *wl = bench_find(workload);
	if (!wl) {
		usage();
		return 2;
	}
	/* The scale of the compute padding on this machine. */
	uint8_t buf[32] = {0};
	uint64_t t0 = bench_now_ns();
	bench_compute(buf, 100000);
	double sha_ns = (double)(bench_now_ns() - t0) / 100000;
	char warm[96];
	if (warmup > 0)
		snprintf(warm, sizeof warm, "%d runs", warmup);
	else if (serial_segments && timed_segments)
		snprintf(warm, sizeof warm,
			 "1 run, at 2+ threads %d (the executor's opening: 3 parallel, 2 serial)",
			 BENCH_TIMED_OPENING);
	else
		snprintf(warm, sizeof warm, "1 run");
	if (!json)
		printf("# workload %s, reads %u, writes %u, hot-ratio %.3f, runs %d (medians), "
		       "SHA-256(32 B) = %.0f ns\n"
		       "# serial segments %s, timed blocks %s; warm-up per row: %s; order %s\n"
		       "# %-8s %6s %7s %3s %12s %12s %8s %8s %8s %10s %8s %8s %8s %8s %8s %6s "
		       "%7s %8s\n",
		       workload, p.reads, p.writes, p.hot_ratio, runs, sha_ns,
		       serial_segments ? "on" : "off",
		       serial_segments && timed_segments ? "on" : "off", warm,
		       order_alternate ? "alternating (odd runs: parallel first)"
				       : "baseline first",
		       "accounts", "txns", "compute", "thr", "seq_tps", "par_tps", "speedup",
		       "exec/tx", "val/tx", "ovh_ns/tx", "cpu_x", "bound", "serial", "twin_x",
		       "of_twin", "skew", "rt_ns", "split_x");
	int failed = 0;
	for (int ai = 0; ai < accounts.n; ai++)
		for (int ti = 0; ti < txns.n; ti++)
			for (int ci = 0; ci < compute.n; ci++) {
				p.accounts = accounts.v[ai];
				p.txns = (uint32_t)txns.v[ti];
				p.compute = (uint32_t)compute.v[ci];
				p.threads = 0;
				for (int h = 0; h < threads.n; h++)
					if (threads.v[h] > p.threads)
						p.threads = (uint32_t)threads.v[h];
				bench_instance inst;
				memset(&inst, 0, sizeof inst);
				int rc = wl->setup(&p, &inst);
				if (rc) {
					fprintf(stderr, "bench: setup failed: %s\n",
						bstm_strerror(rc));
					return 1;
				}
				/* More copies of the block for --twin, one per
				 * thread. */
				bench_instance copies[MAX_TWINS];
				uint32_t ncopies = twin && p.threads > 1 ? p.threads : 0;
				memset(copies, 0, sizeof copies);
				for (uint32_t c = 0; c < ncopies && !rc; c++)
					rc = wl->setup(&p, &copies[c]);
				if (rc) {
					fprintf(stderr, "bench: setup of a twin copy failed: %s\n",
						bstm_strerror(rc));
					return 1;
				}
				double bound =
					wl->dependency_bound ? wl->dependency_bound(&inst) : 0;
				for (int h = 0; h < threads.n; h++) {
					result r;
					memset(&r, 0, sizeof r);
					rc = measure(wl, &inst, ncopies ? copies : NULL,
						     (uint32_t)threads.v[h], runs, &r);
					if (rc) {
						fprintf(stderr, "bench: %s\n", bstm_strerror(rc));
						failed = 1;
						continue;
					}
					double seq_tps = p.txns / (r.seq_ns / 1e9);
					double par_tps = p.txns / (r.par_ns / 1e9);
					double speedup = r.speedup;
					double ovh =
						p.txns ? ((double)r.par_ns - (double)r.seq_ns) /
								 p.txns
						       : 0;
					/* Efficiency against what the dependencies allow. */
					double limit = (double)threads.v[h];
					if (bound > 0 && bound < limit)
						limit = bound;
					double efficiency = speedup / limit;
					if (json)
						printf("{\"workload\":\"%s\",\"accounts\":%llu,"
						       "\"txns\":%u,"
						       "\"threads\":%llu,\"compute\":%u,\"reads\":%"
						       "u,"
						       "\"writes\":%u,\"hot_ratio\":%.4f,\"runs\":%"
						       "d,"
						       "\"seq_tps\":%.0f,\"par_tps\":%.0f,"
						       "\"speedup\":%.4f,"
						       "\"executions_per_txn\":%.4f,"
						       "\"validations_per_txn\":%.4f,\"seq_ns\":%"
						       "llu,"
						       "\"par_ns\":%llu,\"overhead_ns_per_txn\":%."
						       "1f,"
						       "\"sha256_ns\":%.1f,\"cpu_ratio\":%.3f,"
						       "\"dependency_bound\":%.2f,\"efficiency\":%."
						       "3f,\"serial_share\":%.4f,"
						       "\"twin_x\":%.4f,\"of_twin\":%.4f,"
						       "\"skew\":%.4f,"
						       "\"line_round_trip_ns\":%.1f,"
						       "\"split_x\":%.4f,"
						       "\"warmup_runs\":%d,\"order\":\"%s\"}\n",
						       workload, (unsigned long long)p.accounts,
						       p.txns, (unsigned long long)threads.v[h],
						       p.compute, p.reads, p.writes, p.hot_ratio,
						       runs, seq_tps, par_tps, speedup,
						       r.exec_per_txn, r.val_per_txn,
						       (unsigned long long)r.seq_ns,
						       (unsigned long long)r.par_ns, ovh, sha_ns,
						       (double)r.par_cpu_ns / (double)r.seq_cpu_ns,
						       bound, efficiency, r.serial_share, r.twin_x,
						       r.of_twin, r.skew, r.round_trip_ns,
						       r.split_x,
						       warmup_runs((uint32_t)threads.v[h]),
						       order_alternate ? "alternate" : "fixed");
					else
						printf("  %-8llu %6u %7u %3llu %12.0f %12.0f %8.3f "
						       "%8.3f "
						       "%8.3f %10.1f %8.2f %8.1f %8.3f %8.3f "
						       "%8.3f %6.2f %7.0f %8.3f\n",
						       (unsigned long long)p.accounts, p.txns,
						       p.compute, (unsigned long long)threads.v[h],
						       seq_tps, par_tps, speedup, r.exec_per_txn,
						       r.val_per_txn, ovh,
						       (double)r.par_cpu_ns / (double)r.seq_cpu_ns,
						       bound, r.serial_share, r.twin_x, r.of_twin,
						       r.skew, r.round_trip_ns, r.split_x);
					if (r.skew >= BENCH_SKEW_FLAG)
						fprintf(json ? stderr : stdout,
							"# skew %.2f: the caller's CPU took %.2f "
							"times as long as another CPU for the "
							"sequential block, run at the same time; "
							"the speedup is overstated by up to that "
							"factor\n",
							r.skew, r.skew);
					fflush(stdout);
				}
				wl->teardown(&inst);
				for (uint32_t c = 0; c < ncopies; c++)
					wl->teardown(&copies[c]);
			}
	return failed;
}
