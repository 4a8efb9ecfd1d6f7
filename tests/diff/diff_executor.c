/*
 * diff_executor.c - differential test of the parallel executor.
 *
 * For every seed a random block is generated (testkit's programs: reads,
 * writes, deletes, counters and events whose values, keys and gas depend on
 * what was read), then executed three ways:
 *   - by testkit's model, which shares no code with the library;
 *   - by bstm_execute_block_sequential, the library's reference;
 *   - by bstm_execute_block with 1, 2, 4 and 8 threads (--threads picks
 *     four other counts, e.g. 2,4,8,16 on a machine with 16 cores).
 * The sequential output must equal the model's, and every parallel output
 * must equal the sequential one exactly. Each output is also checked on its
 * own (sorted writes, RETRY suffix, gas limit cut, stats, merged write set),
 * the commit hook (on half of the runs) must see every committed transaction
 * once, in order, with the output that is finally returned, the base view
 * must never be called concurrently when it says it is not thread-safe, nor
 * after the call, and the transaction function's own contract (worker
 * numbers, one incarnation of a transaction at a time) must hold.
 *
 * Some blocks run over a base that fails one key with BSTM_ESTORAGE or
 * BSTM_EIO (a code passed on as it is): the parallel run must return the
 * reference's code exactly, also in blocks where transaction 0 writes that
 * key blind and only speculative readers above it could reach the base
 * (shape_block, "blind faults").
 *
 * Executors are created once per (thread count, gas limit) and reused for
 * every block, so state left behind by one block would show up in another.
 *
 *   diff_executor [--quick] [--blocks N] [--first S] [--seed S] [--repeat R]
 *                 [--threads A,B,C,D] [--verbose]
 *
 * Defaults: 7000 blocks from seed 1 (about a minute at -O2 on two cores);
 * --quick: 300 blocks of at most 1500 transactions, for sanitizer builds.
 * --seed S replays the one block S (on fresh executors: a failure that needs
 * the executors' history needs --first/--blocks instead); --repeat R runs the
 * whole range R times, for failures that depend on timing. A failure prints
 * "MISMATCH seed=S threads=T" and the first difference; a crash or a hang
 * prints "CRASH seed=S threads=T" or "HANG ...". The exit status is 1 if
 * anything failed. The last line is "N passed, M failed": N + M counts the
 * parallel runs compared (blocks x thread counts), plus failures of the
 * sequential reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/testkit.h"

#define THREAD_KINDS 4
static uint32_t thread_counts[THREAD_KINDS] = {1, 2, 4, 8};
#define MAX_THREADS 256

/* Executors with a gas limit use this one; blocks scale their gas to it. */
#define GAS_LIMIT 1000000ull

/* A hang is reported after this long in one block call (not a timing check). */
#define WATCHDOG_SECONDS 300

#define MAX_REPORTED_FAILURES 20

typedef struct hook_state {
	uint32_t next;
	uint32_t calls;
	uint32_t out_of_order;
	uint32_t capacity;
	uint64_t *hashes;
} hook_state;

typedef struct run_totals {
	unsigned long passed;
	unsigned long failed;
	unsigned long cut_blocks;
	unsigned long exact_cuts; /* the cumulative gas equal to the limit */
	unsigned long failing_blocks;
	unsigned long blind_passing; /* blind faults the index order survives */
	unsigned long fallbacks;
	unsigned long long txns;
	unsigned long long executions;
	unsigned long long serial;  /* of them: in serial segments */
	unsigned long timed_serial; /* blocks timing ran serially */
} run_totals;

static void hook(void *ctx, uint32_t index, const bstm_txn_output *out)
{
	hook_state *h = ctx;
	if (index != h->next)
		h->out_of_order++;
	if (index < h->capacity)
		h->hashes[index] = tk_txn_output_hash(out);
	h->next = index + 1;
	h->calls++;
}

static void hook_reset(hook_state *h)
{
	h->next = 0;
	h->calls = 0;
	h->out_of_order = 0;
}

static int hook_ensure(hook_state *h, uint32_t txn_count)
{
	if (txn_count <= h->capacity)
		return 0;
	uint64_t *grown = realloc(h->hashes, (size_t)txn_count * sizeof(*grown));
	if (!grown)
		return -1;
	h->hashes = grown;
	h->capacity = txn_count;
	return 0;
}

/* The hook saw exactly the committed prefix, in order, with the final outputs. */
static int hook_check(const hook_state *h, const bstm_output *out, char *why, size_t why_len)
{
	if (out->stats.fallback) {
		/* A fallback may replay hooks; only the final view is checked. */
		if (h->next != out->stats.committed) {
			snprintf(why, why_len, "hook ended at %u, committed %u (fallback)", h->next,
				 out->stats.committed);
			return 0;
		}
	} else if (h->out_of_order || h->calls != out->stats.committed) {
		snprintf(why, why_len, "hook: %u calls, %u out of order, committed %u", h->calls,
			 h->out_of_order, out->stats.committed);
		return 0;
	}
	for (uint32_t i = 0; i < out->stats.committed && i < out->txn_count; i++) {
		if (h->hashes[i] != tk_txn_output_hash(&out->txns[i])) {
			snprintf(why, why_len, "hook: txn %u streamed an output that differs", i);
			return 0;
		}
	}
	return 1;
}

typedef struct block_shape {
	tk_gen_params params;
	int gas_limited;
	int thread_safe;
	int storage_fault;
	int blind_fault; /* the first transaction writes the failing key blind */
	uint32_t fault_key;
	int fault_code; /* what the base returns for it */
} block_shape;

static uint32_t pick_size(tk_rng *rng, int quick)
{
	unsigned r = (unsigned)tk_rng_below(rng, 100);
	uint32_t size;
	if (r < 45)
		size = (uint32_t)tk_rng_range(rng, 1, 32);
	else if (r < 75)
		size = (uint32_t)tk_rng_range(rng, 33, 400);
	else if (r < 93)
		size = (uint32_t)tk_rng_range(rng, 401, 2500);
	else
		size = (uint32_t)tk_rng_range(rng, 2501, 10000);
	if (quick && size > 1500)
		size = (uint32_t)tk_rng_range(rng, 100, 1500);
	return size;
}

static uint32_t pick_keyspace(tk_rng *rng)
{
	unsigned r = (unsigned)tk_rng_below(rng, 100);
	if (r < 8)
		return 1;
	if (r < 14)
		return 2;
	if (r < 22)
		return 10;
	if (r < 32)
		return (uint32_t)tk_rng_range(rng, 3, 64);
	static const uint32_t decades[] = {10, 100, 1000, 10000, 100000};
	unsigned d = (unsigned)tk_rng_below(rng, 4);
	return (uint32_t)tk_rng_range(rng, decades[d], decades[d + 1]);
}

static void shape_block(uint64_t seed, int quick, block_shape *s)
{
	tk_rng rng;
	/* A different stream from the block's own generator. */
	tk_rng_seed(&rng, seed ^ 0x5eed5eed5eed5eedull);
	uint32_t size = pick_size(&rng, quick);
	uint32_t keyspace = pick_keyspace(&rng);
	tk_gen_defaults(&s->params, size, keyspace);
	s->params.max_ops = (uint32_t)tk_rng_range(&rng, 1, 12);
	s->params.base_fill_pct = (unsigned)tk_rng_range(&rng, 0, 100);
	s->params.derived_key_pct = (unsigned)tk_rng_range(&rng, 0, 40);
	s->params.status_pct = (unsigned)tk_rng_range(&rng, 0, 15);
	s->params.large_value_pct = (unsigned)tk_rng_range(&rng, 0, 5);
	s->params.fail_pct = tk_rng_chance(&rng, 4) ? (unsigned)tk_rng_range(&rng, 1, 5) : 0;
	s->gas_limited = tk_rng_chance(&rng, 35);
	/* Total gas from a fifth of the limit (never cut) to three times it. */
	if (s->gas_limited) {
		s->params.gas_target = GAS_LIMIT * tk_rng_range(&rng, 20, 300) / 100;
		s->params.gas_limit = GAS_LIMIT;
	}
	/* A third of the blocks do real work per operation, so that executions
	 * overlap in time and conflicts lead to aborts and re-executions. */
	if (tk_rng_chance(&rng, 33)) {
		s->params.work = (uint32_t)tk_rng_range(&rng, 20, 400);
		if (s->params.txn_count > 2000)
			s->params.txn_count = (uint32_t)tk_rng_range(&rng, 200, 2000);
	}
	s->thread_safe = tk_rng_chance(&rng, 70);
	s->storage_fault = tk_rng_chance(&rng, 3);
	s->fault_key = (uint32_t)tk_rng_below(&rng, keyspace < 32 ? keyspace : 32);
	/*
	 * Blind faults: transaction 0 writes a failing hot key before anything
	 * else, without reading it. The index order then never asks the base
	 * for it, but a speculative reader above may, before the write is
	 * recorded; that failed read must be redone, not fail the block. The
	 * busy work keeps transaction 0 running while the other workers start
	 * (tens of microseconds).
	 */
	s->blind_fault = tk_rng_chance(&rng, 6);
	if (s->blind_fault) {
		s->storage_fault = 1;
		s->fault_key = (uint32_t)tk_rng_below(&rng, keyspace < 16 ? keyspace : 16);
		s->params.blind_key = s->fault_key + 1;
		s->params.first_work = (uint32_t)tk_rng_range(&rng, 2000, 40000);
		if (!s->params.work) {
			s->params.work = (uint32_t)tk_rng_range(&rng, 20, 200);
			if (s->params.txn_count > 2000)
				s->params.txn_count = (uint32_t)tk_rng_range(&rng, 200, 2000);
		}
	}
	/* Half the faults with a code that the executor passes on as it is
	 * (like a node's own), which must neither stop a parallel run that
	 * only met it speculatively nor change the code of one that commits. */
	s->fault_code = tk_rng_chance(&rng, 50) ? BSTM_EIO : BSTM_ESTORAGE;
}

typedef struct driver {
	bstm_executor *executors[2][THREAD_KINDS]; /* [gas limited][thread kind] */
	uint32_t thresholds[2][THREAD_KINDS];	   /* their small_block_threshold */
	tk_base *base;
	hook_state hook;
	int verbose;
	int quick;
	int with_hook; /* the last run had the commit hook */
	run_totals totals;
} driver;

static int make_executors(driver *d)
{
	for (int g = 0; g < 2; g++)
		for (int t = 0; t < THREAD_KINDS; t++) {
			bstm_config config;
			bstm_config_init(&config);
			config.threads = thread_counts[t];
			config.block_gas_limit = g ? GAS_LIMIT : 0;
			config.sequential_fallback = 1;
			/*
			 * The gas-limited executor of the second thread count
			 * (2 by default) keeps the default small-block
			 * threshold, so bstm_execute_block's own sequential
			 * path is compared too; the others always run the
			 * parallel path.
			 */
			if (!(g && t == 1))
				config.small_block_threshold = 0;
			/* Serial segments (on by default) are compared with and
			 * without: off for the unlimited executor of the third
			 * count (4 by default). */
			if (!g && t == 2)
				config.serial_segments = 0;
			/* Timed blocks (on by default) run some blocks serially,
			 * on the sequential loop, chosen by timing: on only for
			 * the executor that keeps every default (gas-limited,
			 * second count); every other executor runs every block
			 * in parallel. */
			if (!(g && t == 1))
				config.timed_segments = 0;
			d->thresholds[g][t] = config.small_block_threshold;
			int rc = bstm_executor_create(&config, &d->executors[g][t]);
			if (rc) {
				fprintf(stderr, "bstm_executor_create(threads=%u): %s\n",
					thread_counts[t], bstm_strerror(rc));
				return rc;
			}
		}
	return 0;
}

static void destroy_executors(driver *d)
{
	for (int g = 0; g < 2; g++)
		for (int t = 0; t < THREAD_KINDS; t++) {
			bstm_executor_destroy(d->executors[g][t]);
			d->executors[g][t] = NULL;
		}
}

static void report(driver *d, uint64_t seed, const char *threads, const char *what, const char *why,
		   const bstm_output *expected, const bstm_output *got)
{
	d->totals.failed++;
	if (d->totals.failed > MAX_REPORTED_FAILURES)
		return;
	char a[256], b[256];
	tk_output_summary(expected, a, sizeof(a));
	tk_output_summary(got, b, sizeof(b));
	printf("MISMATCH seed=%llu threads=%s: %s: %s\n", (unsigned long long)seed, threads, what,
	       why);
	printf("  expected: %s\n  got:      %s\n", a, b);
	printf("  replay: diff_executor --seed %llu\n", (unsigned long long)seed);
	fflush(stdout);
}

/* Run one block on `executor`; sets *output and returns the call's code. */
static int run_one(driver *d, tk_block *block, bstm_executor *executor, uint32_t threads,
		   int sequential, int with_hook, bstm_output **output, char *why, size_t why_len,
		   int *ok)
{
	bstm_block desc;
	bstm_base_view view;
	tk_block_describe(block, &desc);
	d->with_hook = with_hook;
	if (with_hook) {
		desc.commit_hook = hook;
		desc.hook_ctx = &d->hook;
	}
	hook_reset(&d->hook);
	tk_block_reset_checks(block, threads);
	tk_base_open(d->base, &view);
	if (sequential)
		tk_guard_context("seed=%llu threads=seq", (unsigned long long)block->seed);
	else
		tk_guard_context("seed=%llu threads=%u", (unsigned long long)block->seed, threads);
	tk_guard_arm();
	*output = (bstm_output *)0x1;
	int rc = sequential ? bstm_execute_block_sequential(executor, &desc, &view, output)
			    : bstm_execute_block(executor, &desc, &view, output);
	tk_guard_disarm();
	tk_base_close(d->base);

	*ok = 1;
	if (rc && *output) {
		snprintf(why, why_len, "call failed (%s) but *output is not NULL",
			 bstm_errname(rc));
		*output = NULL;
		*ok = 0;
	} else if (!rc && !*output) {
		snprintf(why, why_len, "call succeeded with a NULL output");
		*ok = 0;
	} else if (atomic_load(&block->violations)) {
		char detail[96];
		tk_block_overlap_text(block, detail, sizeof(detail));
		snprintf(why, why_len,
			 "txn function contract: %llu calls with a bad index or worker number, "
			 "%llu overlapping calls on one worker number, %llu overlapping "
			 "incarnations of one transaction%s",
			 (unsigned long long)atomic_load(&block->bad_index),
			 (unsigned long long)atomic_load(&block->worker_overlaps),
			 (unsigned long long)atomic_load(&block->txn_overlaps), detail);
		*ok = 0;
	} else if (tk_base_overlaps(d->base)) {
		snprintf(why, why_len, "not-thread-safe base view called concurrently %llu times",
			 (unsigned long long)tk_base_overlaps(d->base));
		*ok = 0;
	} else if (tk_base_late_calls(d->base)) {
		snprintf(why, why_len, "base view called after the block call returned");
		*ok = 0;
	}
	return rc;
}

/* Checks of one successful output that need no reference. */
static int check_alone_threshold(driver *d, const tk_block *block, const bstm_output *out,
				 uint64_t gas_limit, int sequential, uint32_t threads,
				 uint32_t threshold, char *why, size_t why_len)
{
	if (!tk_output_check(out, block->txn_count, gas_limit, why, why_len))
		return 0;
	if (d->with_hook && !hook_check(&d->hook, out, why, why_len))
		return 0;
	if (sequential && !out->stats.sequential) {
		snprintf(why, why_len, "sequential entry reports stats.sequential=0");
		return 0;
	}
	if (!sequential && block->txn_count < threshold && !out->stats.sequential) {
		snprintf(why, why_len, "%u txns < small_block_threshold %u but stats.sequential=0",
			 block->txn_count, threshold);
		return 0;
	}
	if (!sequential && !threshold && threads > 1 && out->stats.sequential) {
		snprintf(why, why_len, "threshold 0, %u threads, but stats.sequential=1", threads);
		return 0;
	}
	uint64_t calls = atomic_load(&block->calls);
	if (!out->stats.fallback && out->stats.executions != calls) {
		snprintf(why, why_len,
			 "stats.executions %llu but the function was called %llu times",
			 (unsigned long long)out->stats.executions, (unsigned long long)calls);
		return 0;
	}
	return 1;
}

static int check_alone(driver *d, const tk_block *block, const bstm_output *out, uint64_t gas_limit,
		       int sequential, char *why, size_t why_len)
{
	return check_alone_threshold(d, block, out, gas_limit, sequential, 1, 0, why, why_len);
}

/* One block: model, sequential reference, then every thread count. */
static void run_block(driver *d, uint64_t seed)
{
	block_shape s;
	tk_block block;
	char why[512];
	shape_block(seed, d->quick, &s);

	tk_base_set_thread_safe(d->base, s.thread_safe);
	if (tk_block_generate(&block, seed, &s.params, d->base)) {
		fprintf(stderr, "seed %llu: out of memory generating\n", (unsigned long long)seed);
		d->totals.failed++;
		return;
	}
	if (s.storage_fault) {
		uint8_t key[TK_KEY_MAX];
		size_t key_len = tk_key_encode(s.fault_key, key);
		tk_base_fail_key(d->base, key, key_len, s.fault_code);
	}
	if (hook_ensure(&d->hook, block.txn_count)) {
		tk_block_free(&block);
		d->totals.failed++;
		return;
	}
	uint64_t gas_limit = s.gas_limited ? GAS_LIMIT : 0;
	bstm_executor **row = d->executors[s.gas_limited];

	bstm_output *model = NULL;
	int model_rc = tk_block_model(&block, d->base, gas_limit, &model);
	if (model_rc == BSTM_ENOMEM) {
		fprintf(stderr, "seed %llu: out of memory in the model\n",
			(unsigned long long)seed);
		d->totals.failed++;
		tk_block_free(&block);
		return;
	}
	if (model_rc)
		d->totals.failing_blocks++;
	else if (model->stats.committed < block.txn_count)
		d->totals.cut_blocks++;
	if (!model_rc && s.blind_fault)
		d->totals.blind_passing++;
	if (!model_rc && gas_limit && model->stats.gas_used == gas_limit)
		d->totals.exact_cuts++;

	/* The reference runs on each executor in turn, pooled ones included. */
	bstm_executor *ref_executor = row[seed % THREAD_KINDS];
	bstm_output *ref = NULL;
	int ok;
	int ref_rc = run_one(d, &block, ref_executor, 1, 1, 1, &ref, why, sizeof(why), &ok);
	if (!ok) {
		report(d, seed, "seq", "sequential call", why, model, ref);
	} else if (ref_rc != model_rc) {
		snprintf(why, sizeof(why), "returned %s, model %s", bstm_errname(ref_rc),
			 bstm_errname(model_rc));
		report(d, seed, "seq", "sequential vs model", why, model, ref);
		ok = 0;
	} else if (!ref_rc && !tk_output_diff(model, ref, why, sizeof(why))) {
		report(d, seed, "seq", "sequential vs model", why, model, ref);
		ok = 0;
	} else if (!ref_rc && !check_alone(d, &block, ref, gas_limit, 1, why, sizeof(why))) {
		report(d, seed, "seq", "sequential output", why, model, ref);
		ok = 0;
	} else if (!ref_rc && !bstm_output_equal(model, ref)) {
		report(d, seed, "seq", "bstm_output_equal(model, sequential) is 0",
		       "testkit finds them equal", model, ref);
		ok = 0;
	}
	/* The reference check counts only its failures: N is blocks x thread counts. */
	if (d->verbose) {
		char sum[256];
		tk_output_summary(ref, sum, sizeof(sum));
		printf("seed=%llu keyspace=%u gas=%d ts=%d fault=%d blind=%d rc=%s %s\n",
		       (unsigned long long)seed, block.keyspace, s.gas_limited, s.thread_safe,
		       s.storage_fault, s.blind_fault, bstm_errname(ref_rc), sum);
	}
	/* Without a trusted reference, compare the parallel runs with the model. */
	const bstm_output *expected = ok ? ref : model;
	int expected_rc = ok ? ref_rc : model_rc;

	for (int t = 0; t < THREAD_KINDS; t++) {
		char threads[16];
		snprintf(threads, sizeof(threads), "%u", thread_counts[t]);
		bstm_output *out = NULL;
		/* Half the runs without a hook: the executor may fall back only then. */
		int with_hook = (seed + (uint64_t)t) % 2 == 0;
		int rc = run_one(d, &block, row[t], thread_counts[t], 0, with_hook, &out, why,
				 sizeof(why), &ok);
		if (!ok) {
			report(d, seed, threads, "parallel call", why, expected, out);
		} else if (rc != expected_rc) {
			snprintf(why, sizeof(why), "returned %s, expected %s", bstm_errname(rc),
				 bstm_errname(expected_rc));
			report(d, seed, threads, "return code", why, expected, out);
			ok = 0;
		} else if (!rc && !tk_output_diff(expected, out, why, sizeof(why))) {
			report(d, seed, threads, "output", why, expected, out);
			ok = 0;
		} else if (!rc && !bstm_output_equal(expected, out)) {
			report(d, seed, threads, "bstm_output_equal is 0",
			       "testkit finds them equal", expected, out);
			ok = 0;
		} else if (!rc && !check_alone_threshold(
					  d, &block, out, gas_limit, 0, thread_counts[t],
					  d->thresholds[s.gas_limited][t], why, sizeof(why))) {
			report(d, seed, threads, "parallel output", why, expected, out);
			ok = 0;
		}
		if (ok)
			d->totals.passed++;
		if (out) {
			d->totals.fallbacks += out->stats.fallback;
			d->totals.executions += out->stats.executions;
			d->totals.serial += out->stats.serial_txns;
			d->totals.timed_serial += out->stats.timed_serial;
			d->totals.txns += out->stats.committed;
		}
		bstm_output_free(out);
	}
	bstm_output_free(ref);
	tk_model_free(model);
	tk_block_free(&block);
}

static void usage(void)
{
	fprintf(stderr, "usage: diff_executor [--quick] [--blocks N] [--first S] [--seed S] "
			"[--repeat R] [--threads A,B,C,D] [--verbose]\n");
}

int main(int argc, char **argv)
{
	driver d;
	memset(&d, 0, sizeof(d));
	unsigned long blocks = 0, repeat = 1;
	uint64_t first = 1;
	int replay = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			d.quick = 1;
		} else if (!strcmp(argv[i], "--verbose")) {
			d.verbose = 1;
		} else if (!strcmp(argv[i], "--blocks") && i + 1 < argc) {
			blocks = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			repeat = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--first") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			first = strtoull(argv[++i], NULL, 0);
			replay = 1;
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			if (tk_parse_counts(argv[++i], thread_counts, THREAD_KINDS, MAX_THREADS)) {
				fprintf(stderr,
					"diff_executor: --threads wants four counts "
					"A,B,C,D, each 1..%d\n",
					MAX_THREADS);
				return 2;
			}
		} else {
			usage();
			return 2;
		}
	}
	if (replay)
		blocks = 1;
	else if (!blocks)
		blocks = d.quick ? 300 : 7000;

	/* Line-buffered, so progress survives a crash or a kill. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	tk_guard_install(WATCHDOG_SECONDS);
	d.base = tk_base_new();
	if (!d.base || make_executors(&d)) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (unsigned long r = 0; r < repeat; r++)
		for (unsigned long b = 0; b < blocks; b++)
			run_block(&d, first + b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	destroy_executors(&d);
	tk_base_free(d.base);
	free(d.hook.hashes);

	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("diff_executor: %lu blocks from seed %llu (%lu cut by gas, %lu exactly at the "
	       "limit, %lu failing, %lu passing over a blind-written failing key), %llu "
	       "committed txns, %.2f executions/txn, %llu in serial segments (%lu blocks "
	       "timed serial), %lu fallbacks, %.1f s\n",
	       blocks * repeat, (unsigned long long)first, d.totals.cut_blocks, d.totals.exact_cuts,
	       d.totals.failing_blocks, d.totals.blind_passing, d.totals.txns,
	       d.totals.txns ? (double)d.totals.executions / (double)d.totals.txns : 0.0,
	       d.totals.serial, d.totals.timed_serial, d.totals.fallbacks, secs);
	printf("%lu passed, %lu failed\n", d.totals.passed, d.totals.failed);
	return d.totals.failed ? 1 : 0;
}
