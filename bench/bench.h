/*
 * bench.h - workloads for the benchmark driver (bench/main.c).
 *
 * A workload builds, from bench_params, one block and the base state it runs
 * on. The driver runs that same block (the base is never modified) with the
 * sequential executor and with the parallel executor at each thread count,
 * in the same process, and reports medians. Workloads register themselves
 * with BENCH_REGISTER so each lives in its own file.
 */
#ifndef BLOCKSTM_BENCH_H
#define BLOCKSTM_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "blockstm.h"

typedef struct bench_params {
	uint64_t accounts;
	uint32_t txns;
	uint32_t reads;
	uint32_t writes;
	uint32_t compute; /* SHA-256 iterations over 32 bytes per transaction */
	double hot_ratio; /* probability that an access goes to the hot account */
	uint64_t seed;
	uint32_t threads; /* largest thread count the driver will use */
} bench_params;

typedef struct bench_instance {
	bstm_block block;    /* filled by setup; execute/ctx set */
	bstm_base_view base; /* filled by setup */
	void *state;	     /* the workload's own */
} bench_instance;

typedef struct bench_workload {
	const char *name;
	const char *help;
	/* Build the block and base for `params`. Return 0 or a negative code. */
	int (*setup)(const bench_params *params, bench_instance *instance);
	void (*teardown)(bench_instance *instance);
	/* Optional: total work / critical path of the block's read-after-write
	 * dependencies (transactions weigh the same). No executor beats
	 * min(threads, bound). */
	double (*dependency_bound)(const bench_instance *instance);
	/* Optional (--split): a context of its own for one more caller of the
	 * block's function, running at the same time as the others: the same
	 * transactions, with what the function keeps per caller (the VM's
	 * execution instances) apart. NULL: the block's ctx can be shared. */
	int (*fork_ctx)(const bench_instance *instance, void **ctx);
	void (*drop_ctx)(void *ctx);
	struct bench_workload *next; /* registry link, set by bench_register */
} bench_workload;

void bench_register(bench_workload *workload);
const bench_workload *bench_find(const char *name);
const bench_workload *bench_first(void);

#define BENCH_REGISTER(wl)                                                                         \
	__attribute__((constructor)) static void bench_register_##wl(void)                         \
	{                                                                                          \
		bench_register(&(wl));                                                             \
	}

/* Iterated SHA-256 over a 32-byte buffer, in place: the compute padding. */
void bench_compute(uint8_t buf[32], uint32_t iterations);

/* Machine probes (`--workload cores`): pin the calling thread to `cpu` (0 or
 * -1); the memory probes of memprobe.c over cpus[0..n); a monotonic clock;
 * the median and range of n values (sorts v). */
int bench_pin_self(int cpu);
uint64_t bench_now_ns(void);
typedef struct bench_spread {
	double median, min, max;
} bench_spread;
bench_spread bench_spread_of(double *v, int n);
/* The round trip of a cache line between the first two CPUs this thread may
 * run on, in ns (median of three short measurements); 0 with one CPU. The
 * speedup at 2 threads and more follows it (docs/benchmarks.md). */
double bench_line_round_trip(void);
int bench_memory(FILE *out, int json, int runs, const int *cpus, int n);

#endif
