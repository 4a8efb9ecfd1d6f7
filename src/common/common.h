/*
 * common.h - what several modules share: cache-line padding, branch hints,
 * the two assertion levels, and the spin-then-yield backoff every waiting
 * loop uses.
 *
 * Assertion levels (STYLE.md): BSTM_CHECK is always on and guards API misuse
 * and corrupted input; BSTM_DASSERT is for internal invariants on hot paths
 * and compiles away under NDEBUG.
 */
#ifndef BSTM_COMMON_H
#define BSTM_COMMON_H

#include <assert.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "blockstm.h"

#define BSTM_CACHELINE	       64
#define BSTM_ALIGNED_CACHELINE __attribute__((aligned(BSTM_CACHELINE)))
#define BSTM_LIKELY(x)	       __builtin_expect(!!(x), 1)
#define BSTM_UNLIKELY(x)       __builtin_expect(!!(x), 0)
#define BSTM_INTERNAL	       __attribute__((visibility("hidden")))

#define BSTM_DASSERT(cond) assert(cond)

#define BSTM_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (BSTM_UNLIKELY(!(cond))) {                                                      \
			fprintf(stderr, "blockstm: check failed: %s (%s:%d)\n", #cond, __FILE__,   \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline void bstm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Backoff for a waiting loop: pause with exponentially growing spins, then
 * give the core away. Yielding early matters when threads outnumber cores: a
 * spinning waiter would otherwise steal the core of the thread it waits for.
 */
typedef struct bstm_backoff {
	uint32_t spins;
} bstm_backoff;

#define BSTM_BACKOFF_INIT                                                                          \
	{                                                                                          \
		1                                                                                  \
	}
#define BSTM_BACKOFF_SPIN_LIMIT 512u

static inline void bstm_backoff_wait(bstm_backoff *b)
{
	if (b->spins <= BSTM_BACKOFF_SPIN_LIMIT) {
		for (uint32_t i = 0; i < b->spins; i++)
			bstm_cpu_relax();
		b->spins <<= 1;
	} else {
		sched_yield();
	}
}

/* Equality of two byte strings of length len, inlined for short keys (the
 * common case is a few words: a libc call would cost more than the compare). */
static inline int bstm_bytes_equal(const void *a, const void *b, uint32_t len)
{
	const uint8_t *x = a, *y = b;
	if (len > 32)
		return __builtin_memcmp(x, y, len) == 0;
	uint64_t diff = 0;
	while (len >= 8) {
		uint64_t u, v;
		__builtin_memcpy(&u, x, 8);
		__builtin_memcpy(&v, y, 8);
		diff |= u ^ v;
		x += 8;
		y += 8;
		len -= 8;
	}
	while (len--)
		diff |= (uint64_t)(*x++ ^ *y++);
	return diff == 0;
}

/* Key order everywhere: unsigned bytes, a prefix before its extensions. */
static inline int bstm_key_compare(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	uint32_t n = alen < blen ? alen : blen;
	if (n >= 8) {
		/* Most keys differ in their first word: compare it as an integer. */
		uint64_t x, y;
		__builtin_memcpy(&x, a, 8);
		__builtin_memcpy(&y, b, 8);
		if (x != y)
			return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
	}
	int c = n ? __builtin_memcmp(a, b, n) : 0;
	if (c)
		return c;
	return (alen > blen) - (alen < blen);
}

BSTM_INTERNAL uint64_t bstm_now_ns(void);

#endif
