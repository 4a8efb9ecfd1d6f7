/*
 * testkit.c - random numbers, hashing, the byte-string map, the in-memory
 * base view, and crash/hang reports; see testkit.h. The block generator and
 * interpreter are in testkit_block.c, the model executor and the output
 * helpers in testkit_model.c.
 */
#include "testkit_internal.h"

#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Random numbers and hashing                                                */
/* ------------------------------------------------------------------------ */

uint64_t tk_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

void tk_rng_seed(tk_rng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		seed += 0x9e3779b97f4a7c15ull;
		rng->s[i] = tk_mix64(seed);
	}
	if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]))
		rng->s[0] = 1;
}

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t tk_rng_next(tk_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

uint64_t tk_rng_below(tk_rng *rng, uint64_t n)
{
	if (n == 0)
		return 0;
	/* Modulo bias is irrelevant for test generation. */
	return tk_rng_next(rng) % n;
}

uint64_t tk_rng_range(tk_rng *rng, uint64_t lo, uint64_t hi)
{
	return lo + tk_rng_below(rng, hi - lo + 1);
}

int tk_rng_chance(tk_rng *rng, unsigned percent)
{
	return tk_rng_below(rng, 100) < percent;
}

uint64_t tk_hash(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t h = tk_mix64(seed ^ (len * 0x9e3779b97f4a7c15ull));
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = tk_mix64(h ^ w) + 0x632be59bd9b4e019ull;
		p += 8;
		len -= 8;
	}
	uint64_t tail = 0;
	for (size_t i = 0; i < len; i++)
		tail |= (uint64_t)p[i] << (8 * i);
	return tk_mix64(h ^ tail ^ 0xff51afd7ed558ccdull);
}

void tk_fill(void *dst, size_t len, uint64_t seed)
{
	uint8_t *p = dst;
	uint64_t x = seed;
	while (len > 0) {
		x += 0x9e3779b97f4a7c15ull;
		uint64_t w = tk_mix64(x);
		size_t n = len < 8 ? len : 8;
		memcpy(p, &w, n);
		p += n;
		len -= n;
	}
}

void *tk_memdup(const void *data, size_t len)
{
	void *copy = malloc(len ? len : 1);
	if (copy && len)
		memcpy(copy, data, len);
	return copy;
}

uint64_t tk_gas_add(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

int tk_parse_counts(const char *arg, uint32_t *out, int n, uint32_t max)
{
	uint32_t counts[64];
	if (n < 1 || n > 64)
		return -1;
	const char *p = arg;
	for (int i = 0; i < n; i++) {
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		unsigned long v = strtoul(p, &end, 10);
		if (v < 1 || v > max || *end != (i + 1 < n ? ',' : '\0'))
			return -1;
		counts[i] = (uint32_t)v;
		p = end + 1;
	}
	memcpy(out, counts, sizeof *out * (size_t)n);
	return 0;
}

int tk_key_cmp(const void *a, size_t a_len, const void *b, size_t b_len)
{
	size_t n = a_len < b_len ? a_len : b_len;
	int c = n ? memcmp(a, b, n) : 0;
	if (c)
		return c;
	return (a_len > b_len) - (a_len < b_len);
}

/* ------------------------------------------------------------------------ */
/* A byte-string hash map (open addressing, no removal)                      */
/* ------------------------------------------------------------------------ */

void tk_map_clear(tk_map *map)
{
	for (size_t i = 0; i < map->cap; i++) {
		free(map->slots[i].key);
		free(map->slots[i].value);
	}
	free(map->slots);
	map->slots = NULL;
	map->cap = 0;
	map->count = 0;
}

tk_entry *tk_map_find(const tk_map *map, const void *key, size_t key_len)
{
	if (!map->cap)
		return NULL;
	uint64_t h = tk_hash(key, key_len, 7);
	for (size_t i = h & (map->cap - 1);; i = (i + 1) & (map->cap - 1)) {
		tk_entry *e = &map->slots[i];
		if (!e->key)
			return NULL;
		if (e->hash == h && e->key_len == key_len &&
		    (!key_len || !memcmp(e->key, key, key_len)))
			return e;
	}
}

static int map_grow(tk_map *map)
{
	size_t cap = map->cap ? map->cap * 2 : 64;
	tk_entry *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return BSTM_ENOMEM;
	for (size_t i = 0; i < map->cap; i++) {
		tk_entry *e = &map->slots[i];
		if (!e->key)
			continue;
		size_t j = e->hash & (cap - 1);
		while (slots[j].key)
			j = (j + 1) & (cap - 1);
		slots[j] = *e;
	}
	free(map->slots);
	map->slots = slots;
	map->cap = cap;
	return 0;
}

/* The entry for key, inserted (absent, no value) if missing; NULL on ENOMEM. */
tk_entry *tk_map_upsert(tk_map *map, const void *key, size_t key_len)
{
	tk_entry *e = tk_map_find(map, key, key_len);
	if (e)
		return e;
	if ((map->count + 1) * 2 > map->cap && map_grow(map))
		return NULL;
	uint64_t h = tk_hash(key, key_len, 7);
	size_t i = h & (map->cap - 1);
	while (map->slots[i].key)
		i = (i + 1) & (map->cap - 1);
	e = &map->slots[i];
	e->key = tk_memdup(key, key_len);
	if (!e->key)
		return NULL;
	e->key_len = (uint32_t)key_len;
	e->hash = h;
	e->value = NULL;
	e->value_len = 0;
	e->present = 0;
	e->fail = 0;
	map->count++;
	return e;
}

int tk_entry_set(tk_entry *e, const void *value, size_t value_len, int present)
{
	uint8_t *copy = NULL;
	if (present && !(copy = tk_memdup(value, value_len)))
		return BSTM_ENOMEM;
	free(e->value);
	e->value = copy;
	e->value_len = present ? (uint32_t)value_len : 0;
	e->present = present;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* In-memory base view                                                       */
/* ------------------------------------------------------------------------ */

struct tk_base {
	tk_map map;
	int thread_safe;
	_Atomic int open;
	_Atomic int in_call;
	_Atomic uint64_t gets;
	_Atomic uint64_t overlaps;
	_Atomic uint64_t late;
	/*
	 * Updated without atomics in not-thread-safe mode: if the executor ever
	 * calls get() from two threads without ordering the calls, this is a
	 * data race that ThreadSanitizer reports, even when the calls happen not
	 * to overlap in time.
	 */
	uint64_t unordered_calls;
};

tk_base *tk_base_new(void)
{
	tk_base *base = calloc(1, sizeof(*base));
	if (base)
		base->thread_safe = 1;
	return base;
}

void tk_base_free(tk_base *base)
{
	if (!base)
		return;
	tk_map_clear(&base->map);
	free(base);
}

void tk_base_clear(tk_base *base)
{
	tk_map_clear(&base->map);
	atomic_store_explicit(&base->gets, 0, memory_order_relaxed);
	atomic_store_explicit(&base->overlaps, 0, memory_order_relaxed);
	atomic_store_explicit(&base->late, 0, memory_order_relaxed);
}

int tk_base_put(tk_base *base, const void *key, size_t key_len, const void *value, size_t value_len)
{
	tk_entry *e = tk_map_upsert(&base->map, key, key_len);
	if (!e)
		return BSTM_ENOMEM;
	return tk_entry_set(e, value, value_len, 1);
}

int tk_base_fail_key(tk_base *base, const void *key, size_t key_len, int code)
{
	tk_entry *e = tk_map_upsert(&base->map, key, key_len);
	if (!e)
		return BSTM_ENOMEM;
	e->fail = code;
	return 0;
}

void tk_base_set_thread_safe(tk_base *base, int thread_safe)
{
	base->thread_safe = thread_safe;
}

size_t tk_base_count(const tk_base *base)
{
	return base->map.count;
}

int tk_base_lookup(const tk_base *base, const void *key, size_t key_len, const void **value,
		   size_t *value_len)
{
	const tk_entry *e = tk_map_find(&base->map, key, key_len);
	if (e && e->fail)
		return e->fail;
	if (!e || !e->present)
		return BSTM_ENOTFOUND;
	*value = e->value;
	*value_len = e->value_len;
	return 0;
}

static int base_get(void *ctx, const void *key, size_t key_len, const void **value,
		    size_t *value_len)
{
	tk_base *base = ctx;
	/* Relaxed: counters only; ordering comes from the executor. */
	atomic_fetch_add_explicit(&base->gets, 1, memory_order_relaxed);
	if (!atomic_load_explicit(&base->open, memory_order_acquire))
		atomic_fetch_add_explicit(&base->late, 1, memory_order_relaxed);
	if (base->thread_safe)
		return tk_base_lookup(base, key, key_len, value, value_len);

	/* Acquire/release: an overlapping call sees a non-zero count. */
	if (atomic_fetch_add_explicit(&base->in_call, 1, memory_order_acq_rel) != 0)
		atomic_fetch_add_explicit(&base->overlaps, 1, memory_order_relaxed);
	base->unordered_calls++;
	/* Widen the window in which an overlapping call would be caught. */
	if ((base->unordered_calls & 63) == 0)
		sched_yield();
	int rc = tk_base_lookup(base, key, key_len, value, value_len);
	atomic_fetch_sub_explicit(&base->in_call, 1, memory_order_acq_rel);
	return rc;
}

void tk_base_open(tk_base *base, bstm_base_view *view)
{
	atomic_store_explicit(&base->gets, 0, memory_order_relaxed);
	atomic_store_explicit(&base->overlaps, 0, memory_order_relaxed);
	atomic_store_explicit(&base->late, 0, memory_order_relaxed);
	/* Release: pairs with the acquire in base_get. */
	atomic_store_explicit(&base->open, 1, memory_order_release);
	memset(view, 0, sizeof(*view));
	view->size = sizeof(*view);
	view->get = base_get;
	view->ctx = base;
	view->flags = base->thread_safe ? BSTM_VIEW_THREAD_SAFE : 0;
}

void tk_base_close(tk_base *base)
{
	atomic_store_explicit(&base->open, 0, memory_order_release);
}

uint64_t tk_base_gets(const tk_base *base)
{
	return atomic_load_explicit(&base->gets, memory_order_relaxed);
}

uint64_t tk_base_overlaps(const tk_base *base)
{
	return atomic_load_explicit(&base->overlaps, memory_order_relaxed);
}

uint64_t tk_base_late_calls(const tk_base *base)
{
	return atomic_load_explicit(&base->late, memory_order_relaxed);
}

/* ------------------------------------------------------------------------ */
/* Crash and hang reports                                                    */
/* ------------------------------------------------------------------------ */

static char guard_text[160];
static unsigned guard_seconds;
static struct sigaction guard_previous[32];
static const int guard_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM};

/* Only async-signal-safe calls from here on. */
static size_t guard_append_number(char *msg, size_t o, unsigned long v)
{
	char digits[24];
	int n = 0;
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		msg[o++] = digits[--n];
	return o;
}

static void guard_write(const char *head, int sig, long sender)
{
	char msg[300];
	size_t o = 0;
	for (const char *p = head; *p && o < 40; p++)
		msg[o++] = *p;
	for (const char *p = guard_text; *p && o < 200; p++)
		msg[o++] = *p;
	if (sig) {
		for (const char *p = " signal="; *p; p++)
			msg[o++] = *p;
		o = guard_append_number(msg, o, (unsigned long)sig);
	}
	if (sender > 0) {
		for (const char *p = " from pid "; *p; p++)
			msg[o++] = *p;
		o = guard_append_number(msg, o, (unsigned long)sender);
	}
	msg[o++] = '\n';
	if (write(STDOUT_FILENO, msg, o) < 0)
		return;
}

static void guard_on_alarm(int sig)
{
	(void)sig;
	guard_write("HANG ", 0, 0);
	_exit(2);
}

static void guard_on_crash(int sig, siginfo_t *info, void *uctx)
{
	(void)uctx;
	/* For a kill, say who sent it. */
	long sender = sig == SIGTERM && info && info->si_code == SI_USER ? (long)info->si_pid : 0;
	guard_write("CRASH ", sig, sender);
	/* Hand the signal to whoever had it before; the fault then repeats. */
	if (sig > 0 && sig < 32)
		sigaction(sig, &guard_previous[sig], NULL);
	if (sig == SIGABRT || sig == SIGFPE || sig == SIGTERM)
		raise(sig);
}

void tk_guard_install(unsigned watchdog_seconds)
{
	guard_seconds = watchdog_seconds;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = guard_on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = NULL;
	sa.sa_sigaction = guard_on_crash;
	sa.sa_flags = SA_SIGINFO;
	for (size_t i = 0; i < sizeof(guard_signals) / sizeof(guard_signals[0]); i++)
		sigaction(guard_signals[i], &sa, &guard_previous[guard_signals[i]]);
}

void tk_guard_context(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(guard_text, sizeof(guard_text), fmt, ap);
	va_end(ap);
}

void tk_guard_arm(void)
{
	alarm(guard_seconds);
}

void tk_guard_disarm(void)
{
	alarm(0);
}

/* ------------------------------------------------------------------------ */
/* Violations                                                                */
/* ------------------------------------------------------------------------ */

void tk_violations_init(tk_violations *v)
{
	atomic_init(&v->count, 0);
	atomic_flag_clear(&v->described);
	v->first[0] = 0;
}

void tk_violation(tk_violations *v, const char *fmt, ...)
{
	atomic_fetch_add(&v->count, 1);
	if (atomic_flag_test_and_set(&v->described))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->first, sizeof v->first, fmt, ap);
	va_end(ap);
}
