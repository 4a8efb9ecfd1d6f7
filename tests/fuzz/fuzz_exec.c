/*
 * fuzz_exec.c - publishing, linking, upgrading and calling arbitrary modules
 * through transactions, on a reused instance against a fresh one.
 *
 * fuzz_module runs a verified module's functions alone, over empty state;
 * this target drives what lies behind a transaction instead: the publish
 * path (bundle checks, upgrade compatibility, init), imports resolved
 * through state, the instance's module cache (small, so that modules are
 * evicted and relinked) and the prologue and epilogue.
 *
 * Input: up to three chunks, each a little-endian u16 length and that many
 * bytes of a module binary. Each chunk gets the magic, version and the
 * sender's address written over its header and its SHA-256 trailer
 * recomputed, so that the decoder, verifier and publisher see the fuzzed
 * body. Over a genesis state, with a fresh write layer per input, the
 * sender then publishes each module alone, then all of them as a bundle,
 * calls every entry function of every module, publishes them again in
 * reverse order (upgrades) and calls them again.
 *
 * Every input must run without a crash, hang or leak, and every
 * transaction must end in a status within its gas limit. The same
 * transactions run twice: on an instance kept across inputs, whose cache
 * and stack hold what earlier transactions left, and on an instance created
 * for this input whose stack is filled with a pattern before each
 * transaction. Statuses, codes, gas, writes and events must be identical:
 * an instance's history never shows in a result.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

enum { MAX_CHUNKS = 3, SENDER = 2, MAX_TXNS = 2 * (MAX_CHUNKS + 1) + 2 * 64 * MAX_CHUNKS };

/* One run's state over the shared genesis map: writes and deletions of
 * this input only, and a digest of what each transaction did. */
typedef struct layer {
	vm_kvmap *writes;
	vm_kvmap *deleted;
	uint64_t txn_digest; /* writes: order-free sum; events: chained */
} layer;

typedef struct result {
	uint32_t status;
	uint64_t code;
	uint64_t gas_used;
	uint64_t digest;
	bool oom; /* the host ran out of memory: nothing to compare from here */
} result;

static vm_kvmap *genesis;
static vm_instance *kept;
static vm_config config;

static uint64_t digest_bytes(const void *a, size_t alen, const void *b, size_t blen, uint64_t tag)
{
	uint8_t h[32];
	uint8_t *buf = malloc(alen + blen + 8 + 1);
	if (!buf)
		abort();
	memcpy(buf, &tag, 8);
	if (alen)
		memcpy(buf + 8, a, alen);
	if (blen)
		memcpy(buf + 8 + alen, b, blen);
	vm_sha256(buf, 8 + alen + blen, h);
	free(buf);
	uint64_t d;
	memcpy(&d, h, sizeof d);
	return d;
}

static int layer_read(void *ctx, const void *key, size_t key_len, const void **value,
		      size_t *value_len)
{
	layer *l = ctx;
	if (vm_kvmap_get(l->writes, key, key_len, value, value_len) == 0)
		return 0;
	const void *mark;
	size_t mark_len;
	if (vm_kvmap_get(l->deleted, key, key_len, &mark, &mark_len) == 0)
		return BSTM_ENOTFOUND;
	return vm_kvmap_get(genesis, key, key_len, value, value_len);
}

static int layer_write(void *ctx, const void *key, size_t key_len, const void *value,
		       size_t value_len)
{
	layer *l = ctx;
	l->txn_digest += digest_bytes(key, key_len, value, value_len, key_len << 1);
	vm_kvmap_remove(l->deleted, key, key_len);
	return vm_kvmap_put(l->writes, key, key_len, value, value_len);
}

static int layer_remove(void *ctx, const void *key, size_t key_len)
{
	layer *l = ctx;
	l->txn_digest += digest_bytes(key, key_len, NULL, 0, key_len << 1 | 1);
	vm_kvmap_remove(l->writes, key, key_len);
	return vm_kvmap_put(l->deleted, key, key_len, "", 0);
}

static int layer_emit(void *ctx, const void *data, size_t len)
{
	layer *l = ctx;
	l->txn_digest = digest_bytes(data, len, NULL, 0, l->txn_digest);
	return 0;
}

static const vm_state_ops layer_ops = {layer_read, layer_write, layer_remove, layer_emit};

static void fuzz_init(void)
{
	if (genesis)
		return;
	vm_config_init(&config);
	config.stack_values = 2048;
	config.call_depth = 32;
	config.scratch_bytes = 4096;
	config.cache_modules = 4; /* fewer than the stdlib plus an input's modules */
	if (vm_kvmap_create(&genesis) != 0 || vm_genesis(genesis, 3, 1ull << 60) != 0 ||
	    vm_instance_create(&config, &kept) != 0)
		abort();
}

/* The input's module binaries, headers and trailers rewritten. */
static int split_modules(const uint8_t *data, size_t size, uint8_t **mods, size_t *lens)
{
	enum { HEADER = 4 + 1 + 8, TRAILER = 32 };
	int n = 0;
	size_t off = 0;
	while (n < MAX_CHUNKS && off + 2 <= size) {
		size_t len = data[off] | (size_t)data[off + 1] << 8;
		off += 2;
		if (len > size - off)
			len = size - off;
		if (len >= HEADER + TRAILER) {
			uint8_t *m = malloc(len);
			if (!m)
				abort();
			memcpy(m, data + off, len);
			memcpy(m, "BSVM", 4);
			m[4] = 1;
			for (int i = 0; i < 8; i++)
				m[5 + i] = (uint8_t)((uint64_t)SENDER >> (8 * i));
			vm_sha256(m, len - TRAILER, m + len - TRAILER);
			mods[n] = m;
			lens[n] = len;
			n++;
		}
		off += len;
	}
	return n;
}

/*
 * Execute t on inst. With `poison`, the instance's stack is first filled with
 * a pattern, as if another history had run on it: the interpreter zeroes
 * locals and writes every operand slot before reading it, so no result may
 * depend on what the stack held.
 */
static void execute(vm_instance *inst, bool poison, const vm_txn *t, layer *l, result *r)
{
	if (poison)
		memset(inst->stack, 0xa5, (size_t)inst->config.stack_values * sizeof *inst->stack);
	l->txn_digest = 0;
	bstm_txn_outcome o;
	int rc = vm_execute_txn(inst, t, &layer_ops, l, &o);
	if (rc == BSTM_ENOMEM) {
		*r = (result){.oom = true};
		return;
	}
	if (rc != 0) {
		fprintf(stderr, "fuzz_exec: vm_execute_txn returned %d\n", rc);
		abort();
	}
	if (o.gas_used > t->gas_limit) {
		fprintf(stderr, "fuzz_exec: gas %llu over the limit\n",
			(unsigned long long)o.gas_used);
		abort();
	}
	*r = (result){o.status, o.code, o.gas_used, l->txn_digest, false};
}

/* Run the input's transactions on `inst`; fills out[] and returns how many. */
static uint32_t run_all(vm_instance *inst, bool poison, uint8_t **mods, size_t *lens, int n,
			result *out)
{
	layer l = {0};
	if (vm_kvmap_create(&l.writes) != 0 || vm_kvmap_create(&l.deleted) != 0)
		abort();
	uint64_t sequence = 0;
	uint32_t count = 0;
	vm_txn t;
	for (int pass = 0; pass < 2; pass++) {
		/* Each module alone (in reverse order the second time), then, the
		 * first time, all of them as one bundle. */
		for (int k = 0; k <= n; k++) {
			memset(&t, 0, sizeof t);
			t.sender = SENDER;
			t.sequence = sequence;
			t.gas_limit = 300000;
			t.gas_price = 1;
			t.kind = VM_PAYLOAD_PUBLISH;
			if (k < n) {
				int i = pass ? n - 1 - k : k;
				t.module_count = 1;
				t.modules[0] = mods[i];
				t.module_lens[0] = lens[i];
			} else if (pass == 0 && n > 1) {
				t.module_count = (uint32_t)n;
				for (int i = 0; i < n; i++) {
					t.modules[i] = mods[i];
					t.module_lens[i] = lens[i];
				}
			} else {
				continue;
			}
			execute(inst, poison, &t, &l, &out[count]);
			sequence += out[count++].status != BSTM_TXN_DISCARDED;
		}
		/* Every entry function of every module that decodes, with
		 * small arguments (those of a function that is not an entry
		 * are refused with a status). */
		for (int i = 0; i < n; i++) {
			vm_module *m;
			if (vm_module_decode(mods[i], lens[i], &m) != 0)
				continue;
			for (uint32_t f = 0; f < m->function_count && f < 64; f++) {
				static const uint64_t args[VM_MAX_ARGS] = {
					0, 1, 2, 3, 2, 1, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15};
				const vm_function *fn = &m->functions[f];
				uint32_t argc = fn->params < VM_MAX_ARGS ? fn->params : VM_MAX_ARGS;
				if (vm_txn_call(&t, SENDER, sequence, 100000, 1, SENDER, m->name,
						fn->name, args, argc) != 0)
					continue;
				execute(inst, poison, &t, &l, &out[count]);
				sequence += out[count++].status != BSTM_TXN_DISCARDED;
			}
			vm_module_free(m);
		}
	}
	vm_kvmap_destroy(l.writes);
	vm_kvmap_destroy(l.deleted);
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init();
	uint8_t *mods[MAX_CHUNKS];
	size_t lens[MAX_CHUNKS];
	int n = split_modules(data, size, mods, lens);
	static result warm[MAX_TXNS], fresh[MAX_TXNS];
	uint32_t nw = run_all(kept, false, mods, lens, n, warm);
	vm_instance *once;
	if (vm_instance_create(&config, &once) != 0)
		abort();
	uint32_t nf = run_all(once, true, mods, lens, n, fresh);
	vm_instance_destroy(once);
	if (nw != nf) {
		fprintf(stderr,
			"fuzz_exec: %u transactions on the kept instance, %u on a fresh one\n", nw,
			nf);
		abort();
	}
	for (uint32_t i = 0; i < nw && !warm[i].oom && !fresh[i].oom; i++)
		if (warm[i].status != fresh[i].status || warm[i].code != fresh[i].code ||
		    warm[i].gas_used != fresh[i].gas_used || warm[i].digest != fresh[i].digest) {
			fprintf(stderr,
				"fuzz_exec: transaction %u: kept instance status %u code %llu gas "
				"%llu, fresh instance status %u code %llu gas %llu%s\n",
				i, warm[i].status, (unsigned long long)warm[i].code,
				(unsigned long long)warm[i].gas_used, fresh[i].status,
				(unsigned long long)fresh[i].code,
				(unsigned long long)fresh[i].gas_used,
				warm[i].digest != fresh[i].digest ? ", writes differ" : "");
			abort();
		}
	for (int i = 0; i < n; i++)
		free(mods[i]);
	return 0;
}
