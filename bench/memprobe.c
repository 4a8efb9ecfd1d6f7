/*
 * memprobe.c - the memory half of `bench --workload cores`: what a cache
 * miss costs on each CPU, and what moving one cache line between two CPUs
 * costs.
 *
 * The parallel executor's workers share the multi-version memory and the
 * scheduler's state, so every line one worker writes and the other then
 * touches travels between their cores; and the sequential baseline's speed
 * depends on how much of the block's state stays in the cache of the CPU it
 * runs on. Neither shows in the integer probes of cores.c. Two probes:
 *   - load latency: one dependent load at a time around a random ring of
 *     cache lines (a pointer chase, so no load can start before the one
 *     before it ends), over working sets from 256 KiB to 64 MiB, on each
 *     CPU alone: where the latency jumps is where that CPU's share of the
 *     cache ends;
 *   - line round trip: two threads pinned to two CPUs pass a counter back
 *     and forth through one cache line; a round trip is two transfers of
 *     the line. Measured between the first CPU and each other one.
 * Medians over the rounds, with the ranges for the round trip.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define RING_SIZES    5
#define RING_LOADS    (1u << 20) /* timed loads per measurement */
#define PING_ROUNDS   100000u	 /* round trips per measurement */
#define QUICK_ROUNDS  20000u	 /* per measurement of bench_line_round_trip */
#define PROBE_ROUNDS  64
#define PROBE_MAXCPUS 64

static const size_t ring_bytes[RING_SIZES] = {256u << 10, 1u << 20, 4u << 20, 16u << 20, 64u << 20};

typedef struct line {
	struct line *next;
	char pad[64 - sizeof(struct line *)];
} line;

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A ring through every line of `lines` in a random order (a random cyclic
 * permutation), so the hardware prefetchers cannot guess the next line. */
static line *ring_new(size_t bytes)
{
	size_t n = bytes / sizeof(line);
	line *lines = aligned_alloc(64, n * sizeof(line));
	size_t *order = malloc(n * sizeof *order);
	if (!lines || !order) {
		free(lines);
		free(order);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(xorshift(&seed) % (i + 1));
		size_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++)
		lines[order[i]].next = &lines[order[(i + 1) % n]];
	free(order);
	return lines;
}

typedef struct chase {
	int cpu;
	const line *ring;
	size_t lines;
	double ns_per_load; /* result; 0 when the thread could not be pinned */
} chase;

static void *chase_thread(void *arg)
{
	chase *c = arg;
	c->ns_per_load = 0;
	if (bench_pin_self(c->cpu))
		return NULL;
	const line *p = c->ring;
	/* One lap first (at most as many loads as are timed), so the lines that
	 * fit in this CPU's cache are there. */
	size_t warm = c->lines < RING_LOADS ? c->lines : RING_LOADS;
	for (size_t i = 0; i < warm; i++)
		p = p->next;
	uint64_t t0 = bench_now_ns();
	for (uint32_t i = 0; i < RING_LOADS; i++)
		p = p->next;
	uint64_t ns = bench_now_ns() - t0;
	/* Keeps the chase from being optimized away. */
	__asm__ volatile("" : : "r"(p));
	c->ns_per_load = (double)ns / RING_LOADS;
	return NULL;
}

typedef struct ping {
	int cpu;
	uint32_t rounds;
	_Atomic uint32_t *flag;
	int ok;
} ping;

/* The far end: answers every odd value with the next even one. */
static void *pong_thread(void *arg)
{
	ping *p = arg;
	p->ok = bench_pin_self(p->cpu) == 0;
	/* Release: tells the near end whether to start (1) or give up (2^32-1). */
	atomic_store_explicit(p->flag, p->ok ? 0 : UINT32_MAX, memory_order_release);
	if (!p->ok)
		return NULL;
	for (uint32_t i = 0; i < p->rounds; i++) {
		/* Acquire/release pair with the near end's: each side waits for
		 * the other's store, so the line crosses twice per round. */
		while (atomic_load_explicit(p->flag, memory_order_acquire) != 2 * i + 1)
			;
		atomic_store_explicit(p->flag, 2 * i + 2, memory_order_release);
	}
	return NULL;
}

/* ns per round trip of one line between CPUs a and b, over `rounds` round
 * trips; 0 on failure. Pins the calling thread to a. */
static double round_trip(int a, int b, uint32_t rounds)
{
	static _Alignas(64) _Atomic uint32_t flag;
	atomic_store_explicit(&flag, UINT32_MAX - 1, memory_order_relaxed);
	ping far = {.cpu = b, .rounds = rounds, .flag = &flag};
	pthread_t tid;
	if (bench_pin_self(a) || pthread_create(&tid, NULL, pong_thread, &far) != 0)
		return 0;
	uint32_t v;
	while ((v = atomic_load_explicit(&flag, memory_order_acquire)) == UINT32_MAX - 1)
		;
	double result = 0;
	if (v == 0) {
		uint64_t t0 = bench_now_ns();
		for (uint32_t i = 0; i < rounds; i++) {
			atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
			while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2)
				;
		}
		result = (double)(bench_now_ns() - t0) / rounds;
	}
	pthread_join(tid, NULL);
	return result;
}

/* Every CPU alone on every ring, `runs` times. latency[cpu][size][round]. */
static int measure_latency(const int *cpus, int n, int runs,
			   double (*latency)[RING_SIZES][PROBE_ROUNDS])
{
	for (int z = 0; z < RING_SIZES; z++) {
		line *ring = ring_new(ring_bytes[z]);
		if (!ring)
			return -1;
		for (int r = 0; r < runs; r++)
			for (int i = 0; i < n; i++) {
				chase c = {.cpu = cpus[i],
					   .ring = ring,
					   .lines = ring_bytes[z] / sizeof(line)};
				pthread_t tid;
				if (pthread_create(&tid, NULL, chase_thread, &c) != 0) {
					free(ring);
					return -1;
				}
				pthread_join(tid, NULL);
				if (c.ns_per_load == 0) {
					free(ring);
					return -1;
				}
				latency[i][z][r] = c.ns_per_load;
			}
		free(ring);
	}
	return 0;
}

int bench_memory(FILE *out, int json, int runs, const int *cpus, int n)
{
	if (n > PROBE_MAXCPUS)
		n = PROBE_MAXCPUS;
	if (runs > PROBE_ROUNDS)
		runs = PROBE_ROUNDS;
	/* The caller's own affinity, restored at the end: round_trip pins it. */
	cpu_set_t allowed;
	if (pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0)
		return -1;
	static double latency[PROBE_MAXCPUS][RING_SIZES][PROBE_ROUNDS];
	static double trips[PROBE_MAXCPUS][PROBE_ROUNDS];
	int rc = measure_latency(cpus, n, runs, latency);
	for (int r = 0; r < runs && !rc; r++)
		for (int i = 1; i < n && !rc; i++)
			if ((trips[i][r] = round_trip(cpus[0], cpus[i], PING_ROUNDS)) == 0)
				rc = -1;
	pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed);
	if (rc)
		return rc;
	if (!json) {
		fprintf(out,
			"# load latency: one dependent load at a time over a random ring, ns "
			"per load, each CPU alone, medians of %d rounds\n%4s",
			runs, "cpu");
		for (int z = 0; z < RING_SIZES; z++)
			fprintf(out, " %7zuK", ring_bytes[z] >> 10);
		fprintf(out, "\n");
	}
	for (int i = 0; i < n; i++) {
		if (!json)
			fprintf(out, "%4d", cpus[i]);
		for (int z = 0; z < RING_SIZES; z++) {
			double m = bench_spread_of(latency[i][z], runs).median;
			if (json)
				fprintf(out,
					"{\"workload\":\"cores\",\"probe\":\"load_latency\","
					"\"cpu\":%d,\"kib\":%zu,\"runs\":%d,\"ns_per_load\":%.2f}"
					"\n",
					cpus[i], ring_bytes[z] >> 10, runs, m);
			else
				fprintf(out, " %8.1f", m);
		}
		if (!json)
			fprintf(out, "\n");
	}
	if (n > 1 && !json)
		fprintf(out,
			"# line round trip: one cache line passed from CPU %d to CPU b and "
			"back, ns, medians [min-max] of %d rounds\n%4s %24s\n",
			cpus[0], runs, "b", "round trip");
	for (int i = 1; i < n; i++) {
		bench_spread t = bench_spread_of(trips[i], runs);
		if (json)
			fprintf(out,
				"{\"workload\":\"cores\",\"probe\":\"line_round_trip\","
				"\"cpu_a\":%d,\"cpu_b\":%d,\"runs\":%d,\"ns\":%.1f,"
				"\"ns_min\":%.1f,\"ns_max\":%.1f}\n",
				cpus[0], cpus[i], runs, t.median, t.min, t.max);
		else
			fprintf(out, "%4d %8.1f [%6.1f-%6.1f]\n", cpus[i], t.median, t.min, t.max);
	}
	return 0;
}

double bench_line_round_trip(void)
{
	cpu_set_t allowed;
	if (pthread_getaffinity_np(pthread_self(), sizeof allowed, &allowed) != 0)
		return 0;
	int a = -1, b = -1;
	for (int c = 0; c < CPU_SETSIZE && b < 0; c++)
		if (CPU_ISSET(c, &allowed)) {
			if (a < 0)
				a = c;
			else
				b = c;
		}
	if (b < 0)
		return 0;
	double trips[3];
	bool ok = true;
	for (int i = 0; i < 3; i++)
		ok &= (trips[i] = round_trip(a, b, QUICK_ROUNDS)) > 0;
	pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed);
	return ok ? bench_spread_of(trips, 3).median : 0;
}
