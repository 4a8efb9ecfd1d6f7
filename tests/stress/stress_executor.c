/*
 * stress_executor.c - adversarial workloads for the parallel executor.
 *
 * Patterns chosen to provoke races rather than to be realistic: every
 * transaction on one hot key (a chain of dependencies as long as the block),
 * read-modify-write counters whose final values are known in advance (a check
 * that does not trust the sequential executor), thousands of tiny blocks in a
 * row on one executor (worker pool wake-up, park and block reset), 16
 * threads on a small machine, gas limits that cut blocks at points that
 * depend on read values, a base view that is not thread-safe, and executors
 * created and destroyed over and over.
 *
 *   stress_executor [--quick] [--verbose] [--rounds R]
 *                   [--only chains|tiny|gas|random|create]
 *
 * The phases run `rounds` times (default 3, --quick: 1 with smaller sizes,
 * for sanitizer builds); the executors are fresh in each phase.
 *
 * Every check is one case; a failure prints its pattern, thread count and
 * block number. The last line is "N passed, M failed"; the exit status is 1
 * if anything failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../support/testkit.h"

#define WATCHDOG_SECONDS 300

static unsigned long passed, failed;
static int quick, verbose;

static void check(int ok, const char *pattern, uint32_t threads, unsigned long block,
		  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void check(int ok, const char *pattern, uint32_t threads, unsigned long block,
		  const char *fmt, ...)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	if (failed > 30)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("FAIL %s threads=%u block=%lu: ", pattern, threads, block);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

/* An executor; defaults keeps the default small-block threshold and timed
 * blocks. Otherwise every block takes the parallel path and runs in
 * parallel: timed blocks (on by default) would run most blocks of these
 * phases serially, on the sequential loop, which is not what they stress. */
static bstm_executor *make_executor_with(uint32_t threads, uint64_t gas_limit, int defaults)
{
	bstm_config config;
	bstm_config_init(&config);
	config.threads = threads;
	config.block_gas_limit = gas_limit;
	if (!defaults) {
		config.small_block_threshold = 0;
		config.timed_segments = 0;
	}
	bstm_executor *executor = NULL;
	int rc = bstm_executor_create(&config, &executor);
	if (rc) {
		check(0, "create", threads, 0, "bstm_executor_create: %s", bstm_strerror(rc));
		return NULL;
	}
	return executor;
}

static bstm_executor *make_executor(uint32_t threads, uint64_t gas_limit)
{
	return make_executor_with(threads, gas_limit, 0);
}

/* One parallel block call with the base view's own checks. */
static int execute(bstm_executor *executor, const bstm_block *block, tk_base *base,
		   bstm_output **output, const char *pattern, uint32_t threads,
		   unsigned long number)
{
	bstm_base_view view;
	tk_base_open(base, &view);
	tk_guard_context("pattern=%s threads=%u block=%lu", pattern, threads, number);
	tk_guard_arm();
	int rc = bstm_execute_block(executor, block, &view, output);
	tk_guard_disarm();
	tk_base_close(base);
	if (tk_base_overlaps(base) || tk_base_late_calls(base)) {
		check(0, pattern, threads, number, "base view: %llu overlapping calls, %llu late",
		      (unsigned long long)tk_base_overlaps(base),
		      (unsigned long long)tk_base_late_calls(base));
	}
	if (rc) {
		check(0, pattern, threads, number, "bstm_execute_block: %s", bstm_errname(rc));
		*output = NULL;
	}
	return rc;
}

static void put_u64(tk_base *base, const char *key, uint64_t v)
{
	uint8_t bytes[8];
	for (int i = 0; i < 8; i++)
		bytes[i] = (uint8_t)(v >> (8 * i));
	tk_base_put(base, key, strlen(key), bytes, 8);
}

static uint64_t get_u64(const void *value, size_t len)
{
	const uint8_t *p = value;
	uint64_t v = 0;
	for (size_t i = 0; i < 8 && i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The merged write to `key` in `out`, or NULL. */
static const bstm_write *merged_write(const bstm_output *out, const char *key)
{
	size_t len = strlen(key);
	for (size_t i = 0; i < out->write_count; i++)
		if (!tk_key_cmp(out->writes[i].key, out->writes[i].key_len, key, len))
			return &out->writes[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Hot key chain                                                             */
/* ------------------------------------------------------------------------ */

/* hot := mix(hash(hot) ^ index): each value depends on every earlier one. */
static int chain_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	const void *value;
	size_t len;
	int rc = bstm_view_read(view, "hot", 3, &value, &len);
	if (rc && rc != BSTM_ENOTFOUND)
		return rc;
	uint64_t prev = rc ? 0 : tk_hash(value, len, 0);
	uint8_t next[8];
	uint64_t v = tk_mix64(prev ^ index);
	memcpy(next, &v, 8);
	rc = bstm_view_write(view, "hot", 3, next, 8);
	if (rc)
		return rc;
	outcome->status = BSTM_TXN_SUCCESS;
	outcome->code = 0;
	outcome->gas_used = 1;
	return 0;
}

static void hot_chain(bstm_executor *executor, uint32_t threads, uint32_t n, tk_base *base,
		      unsigned long number)
{
	tk_base_clear(base);
	tk_base_put(base, "hot", 3, "start", 5);
	bstm_block block = {sizeof(block), n, chain_txn, NULL, NULL, NULL};
	bstm_output *out;
	if (execute(executor, &block, base, &out, "hot-chain", threads, number))
		return;
	uint64_t prev = tk_hash("start", 5, 0);
	int ok = out->txn_count == n;
	uint32_t bad = 0;
	for (uint32_t i = 0; ok && i < n; i++) {
		uint64_t v = tk_mix64(prev ^ i);
		const bstm_txn_output *t = &out->txns[i];
		if (t->status != BSTM_TXN_SUCCESS || t->write_count != 1 ||
		    t->writes[0].value_len != 8 || memcmp(t->writes[0].value, &v, 8)) {
			ok = 0;
			bad = i;
		}
		prev = tk_hash(&v, 8, 0);
	}
	check(ok, "hot-chain", threads, number, "n=%u: txn %u wrote the wrong value", n, bad);
	char why[256];
	check(tk_output_check(out, n, 0, why, sizeof(why)), "hot-chain", threads, number, "%s",
	      why);
	bstm_output_free(out);
}

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct counter_ctx {
	uint32_t counters; /* K */
	uint32_t gas_mod;  /* 0: gas 1; else gas from the read value */
} counter_ctx;

static const char *counter_name(uint64_t c, char *buf)
{
	snprintf(buf, 24, "c/%llu", (unsigned long long)c);
	return buf;
}

static int incr(bstm_view *view, const char *key, uint64_t *old)
{
	const void *value;
	size_t len;
	int rc = bstm_view_read(view, key, strlen(key), &value, &len);
	if (rc && rc != BSTM_ENOTFOUND)
		return rc;
	*old = rc ? 0 : get_u64(value, len);
	uint8_t bytes[8];
	for (int i = 0; i < 8; i++)
		bytes[i] = (uint8_t)((*old + 1) >> (8 * i));
	return bstm_view_write(view, key, strlen(key), bytes, 8);
}

/*
 * g += 1, then c/(old g mod K) += 1: the second key is chosen by a read
 * value. Gas may depend on old g too, so a gas limit cuts at a point that
 * only the read values determine.
 */
static int counter_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	const counter_ctx *c = ctx;
	uint64_t g, old;
	char name[24];
	int rc = incr(view, "g", &g);
	if (rc)
		return rc;
	rc = incr(view, counter_name(g % c->counters, name), &old);
	if (rc)
		return rc;
	outcome->status = BSTM_TXN_SUCCESS;
	outcome->code = 0;
	outcome->gas_used = c->gas_mod ? 1 + (g * 7 + 3) % c->gas_mod : 1;
	return 0;
}

/*
 * n counter transactions with g starting at g0; with a gas limit the block
 * must end where the cumulative gas first reaches it.
 */
static void counters(bstm_executor *executor, uint32_t threads, uint32_t n, uint32_t k, uint64_t g0,
		     uint64_t gas_limit, uint32_t gas_mod, tk_base *base, const char *pattern,
		     unsigned long number)
{
	counter_ctx ctx = {k, gas_mod};
	tk_base_clear(base);
	if (g0)
		put_u64(base, "g", g0);
	bstm_block block = {sizeof(block), n, counter_txn, &ctx, NULL, NULL};
	bstm_output *out;
	if (execute(executor, &block, base, &out, pattern, threads, number))
		return;

	uint32_t expect_committed = n;
	uint64_t gas = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t g = g0 + i;
		gas += gas_mod ? 1 + (g * 7 + 3) % gas_mod : 1;
		if (gas_limit && gas >= gas_limit) {
			expect_committed = i + 1;
			break;
		}
	}
	check(out->stats.committed == expect_committed, pattern, threads, number,
	      "n=%u committed %u, expected %u", n, out->stats.committed, expect_committed);
	const bstm_write *w = merged_write(out, "g");
	check(w && !w->is_delete && get_u64(w->value, w->value_len) == g0 + expect_committed,
	      pattern, threads, number, "g = %llu, expected %llu",
	      w ? (unsigned long long)get_u64(w->value, w->value_len) : 0ull,
	      (unsigned long long)(g0 + expect_committed));
	int counters_ok = 1;
	for (uint64_t c = 0; c < k && counters_ok; c++) {
		uint64_t expected = 0;
		for (uint64_t g = g0; g < g0 + expect_committed; g++)
			expected += g % k == c;
		char name[24];
		const bstm_write *cw = merged_write(out, counter_name(c, name));
		uint64_t got = cw ? get_u64(cw->value, cw->value_len) : 0;
		if (got != expected) {
			counters_ok = 0;
			check(0, pattern, threads, number, "%s = %llu, expected %llu", name,
			      (unsigned long long)got, (unsigned long long)expected);
		}
	}
	if (counters_ok)
		passed++;
	char why[256];
	check(tk_output_check(out, n, gas_limit, why, sizeof(why)), pattern, threads, number, "%s",
	      why);
	bstm_output_free(out);
}

/* ------------------------------------------------------------------------ */
/* Random blocks against the model                                           */
/* ------------------------------------------------------------------------ */

static void random_vs_model(bstm_executor *executor, uint32_t threads, uint64_t seed, uint32_t n,
			    uint32_t keyspace, int thread_safe, tk_base *base)
{
	tk_gen_params params;
	tk_block block;
	tk_gen_defaults(&params, n, keyspace);
	params.derived_key_pct = 30;
	/* Every other block does busy work, so that executions overlap. */
	params.work = seed % 2 ? 0 : (uint32_t)(seed % 7) * 60;
	tk_base_set_thread_safe(base, thread_safe);
	if (tk_block_generate(&block, seed, &params, base)) {
		check(0, "random", threads, seed, "out of memory");
		return;
	}
	bstm_output *model = NULL;
	int model_rc = tk_block_model(&block, base, 0, &model);
	bstm_block desc;
	tk_block_describe(&block, &desc);
	tk_block_reset_checks(&block, threads);
	bstm_output *out = NULL;
	if (!model_rc && !execute(executor, &desc, base, &out, "random", threads, seed)) {
		char why[512];
		int same = tk_output_diff(model, out, why, sizeof(why));
		check(same, "random", threads, seed, "keyspace=%u n=%u: %s", keyspace, n, why);
		char detail[96];
		tk_block_overlap_text(&block, detail, sizeof(detail));
		check(!atomic_load(&block.violations), "random", threads, seed,
		      "txn function contract: %llu bad index/worker, %llu worker overlaps, "
		      "%llu incarnation overlaps%s",
		      (unsigned long long)atomic_load(&block.bad_index),
		      (unsigned long long)atomic_load(&block.worker_overlaps),
		      (unsigned long long)atomic_load(&block.txn_overlaps), detail);
		check(!tk_base_overlaps(base), "random", threads, seed,
		      "not-thread-safe base view called concurrently");
	}
	check(!model_rc, "random", threads, seed, "model failed: %s", bstm_errname(model_rc));
	bstm_output_free(out);
	tk_model_free(model);
	tk_block_free(&block);
	tk_base_set_thread_safe(base, 1);
}

static void phase(const char *name, struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (verbose)
		printf("%-28s done at %6.2f s, %lu passed, %lu failed\n", name,
		       (double)(now.tv_sec - since->tv_sec) +
			       (double)(now.tv_nsec - since->tv_nsec) / 1e9,
		       passed, failed);
}

/* ------------------------------------------------------------------------ */
/* Phases                                                                    */
/* ------------------------------------------------------------------------ */

static unsigned long number; /* case number, printed with failures */

/* Long dependency chains on one key, and counters, at every thread count. */
static void phase_chains(tk_base *base)
{
	static const uint32_t thread_counts[] = {2, 4, 8, 16};
	for (int t = 0; t < 4; t++) {
		uint32_t threads = thread_counts[t];
		bstm_executor *executor = make_executor(threads, 0);
		if (!executor)
			continue;
		uint32_t sizes[] = {1, 2, 3, 64, quick ? 1000u : 10000u};
		for (int s = 0; s < 5; s++) {
			hot_chain(executor, threads, sizes[s], base, number++);
			counters(executor, threads, sizes[s], 1, 0, 0, 0, base, "counter-1",
				 number++);
			counters(executor, threads, sizes[s], 7, 5, 0, 0, base, "counter-7",
				 number++);
			counters(executor, threads, sizes[s], 1000, 0, 0, 0, base, "counter-1000",
				 number++);
		}
		bstm_executor_destroy(executor);
	}
}

/* Thousands of tiny blocks in a row on one executor. */
static void phase_tiny(tk_base *base)
{
	for (int t = 0; t < 2; t++) {
		uint32_t threads = t ? 16 : 4;
		bstm_executor *executor = make_executor(threads, 0);
		if (!executor)
			continue;
		unsigned long blocks = t ? (quick ? 1000 : 4000) : (quick ? 2000 : 10000);
		for (unsigned long b = 0; b < blocks; b++) {
			uint32_t n = 1 + (uint32_t)(b % 3);
			/* Every fourth block with a base view that is not thread-safe. */
			tk_base_set_thread_safe(base, b % 4 != 0);
			if (b % 2)
				hot_chain(executor, threads, n, base, number++);
			else
				counters(executor, threads, n, 2, b, 0, 0, base, "tiny", number++);
		}
		tk_base_set_thread_safe(base, 1);
		bstm_executor_destroy(executor);
	}
}

/* Gas limit cuts that depend on read values, alternating with none. */
static void phase_gas(tk_base *base)
{
	for (int t = 0; t < 2; t++) {
		uint32_t threads = t ? 16 : 2;
		bstm_executor *executor = make_executor(threads, 100);
		if (!executor)
			continue;
		unsigned long blocks = quick ? 300 : 1500;
		for (unsigned long b = 0; b < blocks; b++) {
			uint32_t n = 1 + (uint32_t)((b * 37) % (quick ? 150 : 400));
			/* Even blocks: gas 1 per txn, cut only when n >= 100. */
			uint32_t gas_mod = b % 2 ? 1 + (uint32_t)(b % 23) : 0;
			counters(executor, threads, n, 3, b * 11, 100, gas_mod, base, "gas-cut",
				 number++);
		}
		bstm_executor_destroy(executor);
	}
}

/* Random blocks on small hot key spaces, 16 threads, against the model. */
static void phase_random(tk_base *base)
{
	bstm_executor *executor = make_executor(16, 0);
	if (!executor)
		return;
	unsigned long blocks = quick ? 150 : 600;
	for (unsigned long b = 0; b < blocks; b++) {
		static const uint32_t spaces[] = {1, 2, 3, 10, 100};
		uint32_t n = 1 + (uint32_t)((b * 131) % (quick ? 500 : 1500));
		random_vs_model(executor, 16, 1000 + b, n, spaces[b % 5], b % 3 == 0, base);
	}
	bstm_executor_destroy(executor);
}

/* Executors created and destroyed over and over, some never used, half of
 * them with the default small-block threshold. */
static void phase_create(tk_base *base)
{
	unsigned long rounds = quick ? 80 : 800;
	for (unsigned long r = 0; r < rounds; r++) {
		uint32_t threads = 1 + (uint32_t)(r % 16);
		bstm_executor *executor = make_executor_with(threads, r % 4 ? 0 : 50, r % 2 == 0);
		if (!executor)
			continue;
		if (r % 3)
			counters(executor, threads, 1 + (uint32_t)(r % 70), 4, r, r % 4 ? 0 : 50,
				 r % 5, base, "create-destroy", number++);
		else
			passed++;
		bstm_executor_destroy(executor);
	}
}

/* ------------------------------------------------------------------------ */
/* Driver                                                                    */
/* ------------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*run)(tk_base *base);
} phases[] = {
	{"chains", phase_chains}, {"tiny", phase_tiny},	    {"gas", phase_gas},
	{"random", phase_random}, {"create", phase_create},
};

int main(int argc, char **argv)
{
	const char *only = NULL;
	unsigned long rounds = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else if (!strcmp(argv[i], "--verbose")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = strtoul(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			only = argv[++i];
		} else {
			fprintf(stderr, "usage: stress_executor [--quick] [--verbose] "
					"[--rounds R] [--only chains|tiny|gas|random|create]\n");
			return 2;
		}
	}
	/* Line-buffered, so progress survives a crash or a kill. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	tk_guard_install(WATCHDOG_SECONDS);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tk_base *base = tk_base_new();
	if (!base) {
		printf("0 passed, 1 failed\n");
		return 1;
	}
	if (!rounds)
		rounds = quick ? 1 : 3;
	for (unsigned long r = 0; r < rounds; r++)
		for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
			if (only && strcmp(only, phases[i].name))
				continue;
			phases[i].run(base);
			phase(phases[i].name, &t0);
		}
	tk_base_free(base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("stress_executor: %.1f s\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	printf("%lu passed, %lu failed\n", passed, failed);
	return failed ? 1 : 0;
}
