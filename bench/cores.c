/*
 * cores.c - `bench --workload cores`: what each CPU of this machine gives,
 * alone and with every other CPU busy.
 *
 * A virtual machine's CPUs may be hardware threads whose sibling runs
 * somebody else's work, or siblings of each other; the clock may drop when
 * more cores are busy. The parallel executor's speedup is bounded by what
 * the CPUs deliver together, so this reads it directly, without the
 * executor or its memory traffic:
 *   - throughput: eight independent add chains per thread, which a core
 *     with a busy sibling thread runs visibly slower (the execution units
 *     are shared), in adds per ns;
 *   - clock: one dependent add chain (one add per cycle on current cores),
 *     which a sibling barely slows, in adds per ns, which is about the clock
 *     in GHz.
 * Each round measures every CPU alone (one pinned thread at a time), then
 * all of them at once (one pinned thread per CPU, started together), and
 * the driver reports medians and ranges over the rounds. memprobe.c then
 * measures the memory side: each CPU's load latency by working-set size,
 * and the cost of moving a cache line between two CPUs.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

#define CORES_MAX	 64
#define CORES_MAX_RUN	 64
#define THROUGHPUT_ITERS 20000000ull /* 8 adds each: about 10 ms at 4 adds/cycle */
#define CLOCK_ITERS	 10000000ull /* 4 dependent adds each */

/* The empty asm keeps the value in a register and opaque to the compiler,
 * so it can neither fold the adds nor vectorize the loops. */
static inline uint64_t opaque(uint64_t x)
{
	__asm__ volatile("" : "+r"(x));
	return x;
}

static volatile uint64_t cores_sink;

static void independent_adds(uint64_t iters)
{
	uint64_t a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8;
	for (uint64_t i = 0; i < iters; i++) {
		a = opaque(a + 1);
		b = opaque(b + 1);
		c = opaque(c + 1);
		d = opaque(d + 1);
		e = opaque(e + 1);
		f = opaque(f + 1);
		g = opaque(g + 1);
		h = opaque(h + 1);
	}
	cores_sink = a + b + c + d + e + f + g + h;
}

static void dependent_adds(uint64_t iters)
{
	uint64_t a = 1;
	for (uint64_t i = 0; i < iters; i++) {
		a = opaque(a + 1);
		a = opaque(a + 1);
		a = opaque(a + 1);
		a = opaque(a + 1);
	}
	cores_sink = a;
}

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct probe {
	int cpu;
	int dependent;	    /* 0: throughput, 1: clock */
	double adds_per_ns; /* result */
} probe;

int bench_pin_self(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0 ? -1 : 0;
}

static void *probe_thread(void *arg)
{
	probe *p = arg;
	/* Unpinned, the kernel may stack two probes on one CPU: say so. */
	if (bench_pin_self(p->cpu)) {
		p->adds_per_ns = 0;
		return NULL;
	}
	uint64_t t0 = bench_now_ns();
	if (p->dependent)
		dependent_adds(CLOCK_ITERS);
	else
		independent_adds(THROUGHPUT_ITERS);
	uint64_t ns = bench_now_ns() - t0;
	double adds = p->dependent ? 4.0 * CLOCK_ITERS : 8.0 * THROUGHPUT_ITERS;
	p->adds_per_ns = ns ? adds / (double)ns : 0;
	return NULL;
}

/* Run probes[0..n) at once, one thread each. */
static int run_probes(probe *probes, int n)
{
	pthread_t tid[CORES_MAX];
	int started = 0, rc = 0;
	for (; started < n; started++)
		if (pthread_create(&tid[started], NULL, probe_thread, &probes[started]) != 0) {
			rc = -1;
			break;
		}
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	for (int i = 0; i < started && !rc; i++)
		if (probes[i].adds_per_ns == 0)
			rc = -1;
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts v. */
bench_spread bench_spread_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return (bench_spread){median, v[0], v[n - 1]};
}

/* Per CPU: the value of each round. */
typedef struct series {
	double clock_alone[CORES_MAX_RUN], clock_together[CORES_MAX_RUN];
	double per_cycle_alone[CORES_MAX_RUN], per_cycle_together[CORES_MAX_RUN];
} series;

/* One round of one kind: every CPU alone, then all at once. */
static int measure(const int *cpus, int n, int dependent, double *alone, double *together)
{
	probe probes[CORES_MAX];
	for (int i = 0; i < n; i++) {
		probes[0] = (probe){.cpu = cpus[i], .dependent = dependent};
		if (run_probes(probes, 1))
			return -1;
		alone[i] = probes[0].adds_per_ns;
	}
	for (int i = 0; i < n; i++)
		probes[i] = (probe){.cpu = cpus[i], .dependent = dependent};
	if (run_probes(probes, n))
		return -1;
	for (int i = 0; i < n; i++)
		together[i] = probes[i].adds_per_ns;
	return 0;
}

int bench_cores(FILE *out, int json, int runs)
{
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
		return -1;
	int cpus[CORES_MAX], n = 0;
	for (int c = 0; c < CPU_SETSIZE && n < CORES_MAX; c++)
		if (CPU_ISSET(c, &allowed))
			cpus[n++] = c;
	if (runs > CORES_MAX_RUN)
		runs = CORES_MAX_RUN;
	static series s[CORES_MAX];
	for (int r = 0; r < runs; r++) {
		double ta[CORES_MAX], tt[CORES_MAX], ca[CORES_MAX], ct[CORES_MAX];
		if (measure(cpus, n, 0, ta, tt) || measure(cpus, n, 1, ca, ct))
			return -1;
		for (int i = 0; i < n; i++) {
			s[i].clock_alone[r] = ca[i];
			s[i].clock_together[r] = ct[i];
			s[i].per_cycle_alone[r] = ta[i] / ca[i];
			s[i].per_cycle_together[r] = tt[i] / ct[i];
		}
	}
	if (!json)
		fprintf(out,
			"# cores: each CPU alone, then all %d at once; %d rounds, medians "
			"[min-max]\n"
			"# clock: GHz from one dependent add chain; adds/cycle: eight "
			"independent chains (lower: execution units shared with a busy sibling)\n"
			"%4s %8s %8s %24s %24s\n",
			n, runs, "cpu", "clock", "clock_t", "adds/cycle alone",
			"adds/cycle together");
	for (int i = 0; i < n; i++) {
		bench_spread ca = bench_spread_of(s[i].clock_alone, runs);
		bench_spread ct = bench_spread_of(s[i].clock_together, runs);
		bench_spread pa = bench_spread_of(s[i].per_cycle_alone, runs);
		bench_spread pt = bench_spread_of(s[i].per_cycle_together, runs);
		if (json)
			fprintf(out,
				"{\"workload\":\"cores\",\"cpu\":%d,\"runs\":%d,"
				"\"clock_ghz_alone\":%.3f,\"clock_ghz_together\":%.3f,"
				"\"adds_per_cycle_alone\":%.3f,\"adds_per_cycle_alone_min\":%.3f,"
				"\"adds_per_cycle_together\":%.3f,"
				"\"adds_per_cycle_together_min\":%.3f}\n",
				cpus[i], runs, ca.median, ct.median, pa.median, pa.min, pt.median,
				pt.min);
		else
			fprintf(out, "%4d %8.2f %8.2f %8.2f [%5.2f-%5.2f] %8.2f [%5.2f-%5.2f]\n",
				cpus[i], ca.median, ct.median, pa.median, pa.min, pa.max, pt.median,
				pt.min, pt.max);
	}
	return bench_memory(out, json, runs, cpus, n);
}
