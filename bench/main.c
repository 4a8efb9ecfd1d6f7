/*
 * main.c - the benchmark driver: build/bin/bench.
 *
 * For every configuration (workload x accounts x txns x compute x threads) it
 * runs the same block with the sequential baseline and with the parallel
 * executor, alternating, in this process, `--runs` times after one warm-up,
 * checks that both outputs are identical, and reports medians: tps of each,
 * speedup = the median over runs of (sequential time / parallel time) of the
 * same run, the two timed back to back so that drifts in machine speed
 * cancel, executions and validations per transaction, and at 1 thread the
 * executor's own cost per transaction, (parallel - sequential) / txns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench.h"

#define MAX_LIST 32

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

typedef struct list {
	uint64_t v[MAX_LIST];
	int n;
} list;

static int parse_list(const char *s, list *l)
{
	l->n = 0;
	while (*s && l->n < MAX_LIST) {
		char *end;
		unsigned long long x = strtoull(s, &end, 10);
		if (end == s)
			return -1;
		l->v[l->n++] = x;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return l->n ? 0 : -1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
		"             [--runs N] [--seed S] [--serial-segments 0|1] [--json]\n"
		"workloads:");
	for (const bench_workload *w = bench_first(); w; w = w->next)
		fprintf(stderr, "\n  %-12s %s", w->name, w->help);
	fprintf(stderr, "\n  %-12s per-transaction cost of VM instance reuse vs a fresh instance\n",
		"vm-instance");
}

typedef struct result {
	uint64_t seq_ns, par_ns;
	double speedup;			 /* median over runs of seq / par of the same run */
	uint64_t seq_cpu_ns, par_cpu_ns; /* medians of process CPU time */
	double exec_per_txn, val_per_txn, serial_share;
	uint32_t committed;
} result;

static int serial_segments = 1;

static int measure(const bench_instance *inst, uint32_t threads, int runs, result *res)
{
	bstm_config cfg;
	bstm_config_init(&cfg);
	cfg.threads = threads;
	cfg.serial_segments = (uint32_t)serial_segments;
	cfg.small_block_threshold = 0; /* always measure the parallel path */
	bstm_executor *ex;
	int rc = bstm_executor_create(&cfg, &ex);
	if (rc)
		return rc;
	uint64_t seq[64], par[64], seq_cpu[64], par_cpu[64], ratio[64];
	uint64_t executions = 0, validations = 0, serial = 0;
	if (runs > 64)
		runs = 64;
	for (int r = -1; r < runs; r++) {
		bstm_output *so = NULL, *po = NULL;
		/* Let the pool's workers finish spinning and park, so nothing of
		 * the parallel executor runs while the baseline is timed. */
		struct timespec settle = {0, 2000000};
		nanosleep(&settle, NULL);
		uint64_t c0 = cpu_ns(), t0 = now_ns();
		rc = bstm_execute_block_sequential(ex, &inst->block, &inst->base, &so);
		uint64_t c1 = cpu_ns(), t1 = now_ns();
		if (!rc)
			rc = bstm_execute_block(ex, &inst->block, &inst->base, &po);
		uint64_t c2 = cpu_ns(), t2 = now_ns();
		if (rc) {
			bstm_output_free(so);
			break;
		}
		if (!bstm_output_equal(so, po)) {
			fprintf(stderr, "bench: parallel output differs from sequential\n");
			rc = BSTM_EINTERNAL;
		}
		if (r >= 0) {
			seq[r] = t1 - t0;
			par[r] = t2 - t1;
			seq_cpu[r] = c1 - c0;
			par_cpu[r] = c2 - c1;
			/* Paired: both runs back to back, so a drift in machine
			 * speed over the measurement cancels out. Fixed point. */
			ratio[r] = (uint64_t)(1e6 * (double)seq[r] / (double)par[r]);
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
	bstm_executor_destroy(ex);
	if (rc)
		return rc;
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
	int runs = 5, json = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
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
			bad = parse_list(v, &accounts);
		else if (!strcmp(a, "--txns"))
			bad = parse_list(v, &txns);
		else if (!strcmp(a, "--compute"))
			bad = parse_list(v, &compute);
		else if (!strcmp(a, "--threads"))
			bad = parse_list(v, &threads);
		else if (!strcmp(a, "--reads"))
			p.reads = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--writes"))
			p.writes = (uint32_t)strtoul(v, NULL, 10);
		else if (!strcmp(a, "--hot-ratio"))
			p.hot_ratio = strtod(v, NULL);
		else if (!strcmp(a, "--runs"))
			runs = atoi(v);
		else if (!strcmp(a, "--serial-segments"))
			serial_segments = atoi(v);
		else if (!strcmp(a, "--seed"))
			p.seed = strtoull(v, NULL, 10);
		else
			bad = -1;
		if (bad) {
			usage();
			return 2;
		}
	}
	if (runs < 1 || runs > 64 || p.hot_ratio < 0 || p.hot_ratio > 1) {
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
	const bench_workload *wl = bench_find(workload);
	if (!wl) {
		usage();
		return 2;
	}
	/* The scale of the compute padding on this machine. */
	uint8_t buf[32] = {0};
	uint64_t t0 = now_ns();
	bench_compute(buf, 100000);
	double sha_ns = (double)(now_ns() - t0) / 100000;
	if (!json)
		printf("# workload %s, reads %u, writes %u, hot-ratio %.3f, runs %d (medians), "
		       "SHA-256(32 B) = %.0f ns\n"
		       "# %-8s %6s %7s %3s %12s %12s %8s %8s %8s %10s %8s %8s %8s\n",
		       workload, p.reads, p.writes, p.hot_ratio, runs, sha_ns, "accounts", "txns",
		       "compute", "thr", "seq_tps", "par_tps", "speedup", "exec/tx", "val/tx",
		       "ovh_ns/tx", "cpu_x", "bound", "serial");
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
				double bound =
					wl->dependency_bound ? wl->dependency_bound(&inst) : 0;
				for (int h = 0; h < threads.n; h++) {
					result r;
					memset(&r, 0, sizeof r);
					rc = measure(&inst, (uint32_t)threads.v[h], runs, &r);
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
						       "3f,\"serial_share\":%.4f}\n",
						       workload, (unsigned long long)p.accounts,
						       p.txns, (unsigned long long)threads.v[h],
						       p.compute, p.reads, p.writes, p.hot_ratio,
						       runs, seq_tps, par_tps, speedup,
						       r.exec_per_txn, r.val_per_txn,
						       (unsigned long long)r.seq_ns,
						       (unsigned long long)r.par_ns, ovh, sha_ns,
						       (double)r.par_cpu_ns / (double)r.seq_cpu_ns,
						       bound, efficiency, r.serial_share);
					else
						printf("  %-8llu %6u %7u %3llu %12.0f %12.0f %8.3f "
						       "%8.3f "
						       "%8.3f %10.1f %8.2f %8.1f %8.3f\n",
						       (unsigned long long)p.accounts, p.txns,
						       p.compute, (unsigned long long)threads.v[h],
						       seq_tps, par_tps, speedup, r.exec_per_txn,
						       r.val_per_txn, ovh,
						       (double)r.par_cpu_ns / (double)r.seq_cpu_ns,
						       bound, r.serial_share);
					fflush(stdout);
				}
				wl->teardown(&inst);
			}
	return failed;
}
