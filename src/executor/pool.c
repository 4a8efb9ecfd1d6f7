/*
 * pool.c - the persistent worker pool.
 *
 * Workers live as long as the executor. A block starts when the caller bumps
 * `generation`; a worker notices by spinning briefly (blocks often arrive
 * back to back) and otherwise sleeps on a futex, so an idle executor burns no
 * core. The caller runs the job as worker 0 and then waits for `running` to
 * drop to zero (spinning, then yielding: stragglers are only finishing their
 * current task).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "executor/executor.h"

#define EXEC_DEFAULT_SPIN 2000u

typedef struct pool_thread_arg {
	exec_pool *pool;
	uint32_t worker;
} pool_thread_arg;

void exec_futex_wait(_Atomic uint32_t *addr, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts = {(time_t)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, timeout_ns ? &ts : NULL,
		NULL, 0);
}

void exec_futex_wake_all(_Atomic uint32_t *addr)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static void *pool_thread(void *argp)
{
	pool_thread_arg arg = *(pool_thread_arg *)argp;
	free(argp);
	exec_pool *p = arg.pool;
	uint32_t seen = 0;
	for (;;) {
		uint32_t gen;
		uint32_t spins = 0;
		/* Acquire pairs with the caller's release of generation: the job
		 * and its argument are visible once the new generation is. */
		while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
			if (spins < p->spin_before_park) {
				spins++;
				bstm_cpu_relax();
			} else {
				exec_futex_wait(&p->generation, seen, 0);
			}
		}
		seen = gen;
		if (atomic_load_explicit(&p->shutdown, memory_order_acquire))
			return NULL;
		p->job(p->arg, arg.worker);
		/* Release: everything the worker did happens before the caller
		 * sees the count drop. */
		atomic_fetch_sub_explicit(&p->running, 1, memory_order_release);
	}
}

int exec_pool_start(exec_pool *p, uint32_t workers, uint32_t spin_before_park)
{
	memset(p, 0, sizeof *p);
	p->spin_before_park = spin_before_park ? spin_before_park : EXEC_DEFAULT_SPIN;
	if (workers == 0)
		return 0;
	p->threads = calloc(workers, sizeof *p->threads);
	if (!p->threads)
		return BSTM_ENOMEM;
	for (uint32_t i = 0; i < workers; i++) {
		pool_thread_arg *arg = malloc(sizeof *arg);
		if (!arg) {
			exec_pool_stop(p);
			return BSTM_ENOMEM;
		}
		*arg = (pool_thread_arg){.pool = p, .worker = i + 1};
		if (pthread_create(&p->threads[i], NULL, pool_thread, arg) != 0) {
			free(arg);
			exec_pool_stop(p);
			return BSTM_ETHREAD;
		}
		p->count++;
	}
	return 0;
}

void exec_pool_stop(exec_pool *p)
{
	if (p->count) {
		atomic_store_explicit(&p->shutdown, 1, memory_order_release);
		atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
		exec_futex_wake_all(&p->generation);
		for (uint32_t i = 0; i < p->count; i++)
			pthread_join(p->threads[i], NULL);
	}
	free(p->threads);
	p->threads = NULL;
	p->count = 0;
}

void exec_pool_run(exec_pool *p, exec_job_fn job, void *arg)
{
	p->job = job;
	p->arg = arg;
	if (p->count) {
		atomic_store_explicit(&p->running, p->count, memory_order_relaxed);
		/* Release publishes job, arg and running to the workers. */
		atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
		exec_futex_wake_all(&p->generation);
	}
	job(arg, 0);
	bstm_backoff b = BSTM_BACKOFF_INIT;
	/* Acquire pairs with each worker's release decrement. */
	while (atomic_load_explicit(&p->running, memory_order_acquire) != 0)
		bstm_backoff_wait(&b);
}
