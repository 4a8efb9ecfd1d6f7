/*
 * testkit_block.c - random blocks: key encoding, the generator, and the
 * program interpreter that runs a transaction through bstm_view_* (or, for
 * the model, through its own overlay). See testkit.h.
 */
#include "testkit_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Keys                                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Three encodings, chosen by id % 3, so that one block mixes them and the
 * set of keys is prefix-rich:
 *   0: 8 bytes, big-endian id (starts with 0x00 bytes);
 *   1: "a/" + decimal(id / 3)            ("a/1" is a prefix of "a/12");
 *   2: "a/" + decimal(id / 3) + "/s"     (an extension of the form-1 key),
 *      padded to about 100 bytes when id / 3 is a multiple of 5.
 * Form 0 keys never start with 'a', form-1 keys never contain a second '/',
 * so the encoding is injective.
 */
size_t tk_key_encode(uint32_t id, uint8_t *out)
{
	if (id % 3 == 0) {
		uint64_t v = id;
		for (int i = 7; i >= 0; i--) {
			out[i] = (uint8_t)v;
			v >>= 8;
		}
		return 8;
	}
	int n = snprintf((char *)out, TK_KEY_MAX, "a/%u", id / 3);
	if (id % 3 == 1)
		return (size_t)n;
	memcpy(out + n, "/s", 2);
	n += 2;
	if ((id / 3) % 5 == 0) {
		memset(out + n, 'p', 96);
		n += 96;
	}
	return (size_t)n;
}

/* ------------------------------------------------------------------------ */
/* Block generation                                                          */
/* ------------------------------------------------------------------------ */

void tk_gen_defaults(tk_gen_params *params, uint32_t txn_count, uint32_t keyspace)
{
	memset(params, 0, sizeof(*params));
	params->txn_count = txn_count;
	params->keyspace = keyspace ? keyspace : 1;
	params->max_ops = 8;
	params->base_fill_pct = 50;
	params->derived_key_pct = 15;
	params->status_pct = 5;
	params->fail_pct = 0;
	params->large_value_pct = 2;
	params->gas_target = 0;
}

static uint32_t pick_key(tk_rng *rng, uint32_t keyspace)
{
	/* A fifth of the accesses go to a small hot set. */
	uint32_t hot = keyspace < 16 ? keyspace : 16;
	if (tk_rng_chance(rng, 20))
		return (uint32_t)tk_rng_below(rng, hot);
	return (uint32_t)tk_rng_below(rng, keyspace);
}

static void gen_op(tk_rng *rng, const tk_gen_params *p, tk_op *op)
{
	unsigned r = (unsigned)tk_rng_below(rng, 100);
	memset(op, 0, sizeof(*op));
	if (r < 36)
		op->kind = TK_OP_READ;
	else if (r < 62)
		op->kind = TK_OP_WRITE;
	else if (r < 70)
		op->kind = TK_OP_DELETE;
	else if (r < 82)
		op->kind = TK_OP_INCR;
	else if (r < 92)
		op->kind = TK_OP_EMIT;
	else
		op->kind = TK_OP_GAS;

	r = (unsigned)tk_rng_below(rng, 100);
	if (r < p->derived_key_pct)
		op->key_mode = TK_KEY_DERIVED;
	else if (r < p->derived_key_pct + 15)
		op->key_mode = TK_KEY_PREV;
	else
		op->key_mode = TK_KEY_FIXED;
	op->key = op->key_mode == TK_KEY_DERIVED ? (uint32_t)tk_rng_next(rng)
						 : pick_key(rng, p->keyspace);
	op->salt = tk_rng_next(rng);

	switch (op->kind) {
	case TK_OP_WRITE:
		if (tk_rng_chance(rng, 8))
			op->len = 0;
		else if (tk_rng_chance(rng, p->large_value_pct))
			op->len = (uint16_t)tk_rng_range(rng, 256, 2048);
		else
			op->len = (uint16_t)tk_rng_range(rng, 1, 32);
		break;
	case TK_OP_EMIT:
		op->len = (uint16_t)tk_rng_range(rng, 0, 24);
		break;
	case TK_OP_GAS:
		op->len = (uint16_t)tk_rng_range(rng, 1, 50);
		break;
	default:
		break;
	}
}

int tk_block_generate(tk_block *block, uint64_t seed, const tk_gen_params *p, tk_base *base)
{
	tk_rng rng;
	tk_rng_seed(&rng, seed);
	memset(block, 0, sizeof(*block));
	block->seed = seed;
	block->txn_count = p->txn_count;
	block->keyspace = p->keyspace ? p->keyspace : 1;
	block->gas_scale = 1;
	block->work = p->work;
	block->first_work = p->first_work;
	uint32_t max_ops = p->max_ops ? p->max_ops : 1;
	uint32_t n = p->txn_count;

	block->programs = calloc(n ? n : 1, sizeof(*block->programs));
	block->ops = calloc((size_t)(n ? n : 1) * (max_ops + 2), sizeof(*block->ops));
	block->running = calloc(n ? n : 1, sizeof(*block->running));
	if (!block->programs || !block->ops || !block->running) {
		tk_block_free(block);
		return BSTM_ENOMEM;
	}

	tk_gen_params params = *p;
	params.keyspace = block->keyspace;
	uint64_t static_units = 0;
	for (uint32_t i = 0; i < n; i++) {
		tk_program *prog = &block->programs[i];
		prog->first_op = block->op_count;
		prog->base_gas = (uint32_t)tk_rng_range(&rng, 1, 20);
		uint32_t count = (uint32_t)tk_rng_range(&rng, 1, max_ops);
		/* An outcome or failure op goes somewhere inside the program. */
		uint32_t special_at = (uint32_t)tk_rng_below(&rng, count + 1);
		int status = tk_rng_chance(&rng, params.status_pct);
		int fail = tk_rng_chance(&rng, params.fail_pct);
		if (params.blind_key && (i == 0 || tk_rng_chance(&rng, TK_BLIND_READ_PCT))) {
			/* Program 0 writes the key, others read it first. */
			tk_op *op = &block->ops[block->op_count++];
			memset(op, 0, sizeof(*op));
			op->kind = i == 0 ? TK_OP_WRITE : TK_OP_READ;
			op->key_mode = TK_KEY_FIXED;
			op->key = (params.blind_key - 1) % block->keyspace;
			op->len = i == 0 ? (uint16_t)tk_rng_range(&rng, 1, 32) : 0;
			op->salt = tk_rng_next(&rng);
		}
		for (uint32_t k = 0; k <= count; k++) {
			if (k == special_at && (status || fail)) {
				tk_op *op = &block->ops[block->op_count++];
				memset(op, 0, sizeof(*op));
				op->salt = tk_rng_next(&rng);
				if (fail) {
					op->kind = TK_OP_FAIL;
					op->len = (uint16_t)tk_rng_range(&rng, 1, 40);
				} else {
					op->kind = TK_OP_STATUS;
					op->len = (uint16_t)tk_rng_range(&rng, 1, 4);
				}
			}
			if (k < count)
				gen_op(&rng, &params, &block->ops[block->op_count++]);
		}
		prog->op_count = block->op_count - prog->first_op;
		static_units += prog->base_gas + 2u * prog->op_count;
	}
	if (p->gas_target && static_units) {
		block->gas_scale = p->gas_target / static_units;
		if (block->gas_scale == 0)
			block->gas_scale = 1;
		/*
		 * With a scale that divides the limit, the cumulative gas can
		 * equal the limit exactly, the boundary case of the cut rule.
		 */
		while (p->gas_limit && block->gas_scale > 1 && p->gas_limit % block->gas_scale)
			block->gas_scale--;
	}

	if (base) {
		tk_base_clear(base);
		uint64_t fill = (uint64_t)block->keyspace * p->base_fill_pct / 100;
		if (fill > 20000)
			fill = 20000;
		for (uint64_t k = 0; k < fill; k++) {
			uint8_t key[TK_KEY_MAX], value[32];
			uint32_t id = pick_key(&rng, block->keyspace);
			size_t key_len = tk_key_encode(id, key);
			size_t value_len = tk_rng_chance(&rng, 10) ? 0 : tk_rng_range(&rng, 1, 24);
			tk_fill(value, value_len, tk_rng_next(&rng));
			if (tk_base_put(base, key, key_len, value, value_len)) {
				tk_block_free(block);
				return BSTM_ENOMEM;
			}
		}
	}
	return 0;
}

void tk_block_free(tk_block *block)
{
	free(block->programs);
	free(block->ops);
	free(block->running);
	block->programs = NULL;
	block->ops = NULL;
	block->running = NULL;
}

void tk_block_overlap_text(const tk_block *block, char *buf, size_t buf_len)
{
	buf[0] = 0;
	if (!atomic_load_explicit(&block->txn_overlaps, memory_order_relaxed))
		return;
	uint64_t d = atomic_load_explicit(&block->overlap_detail, memory_order_relaxed);
	snprintf(buf, buf_len, " (last: txn %llu on workers %u and %u)",
		 (unsigned long long)(d >> 16), (unsigned)(d >> 8 & 0xff), (unsigned)(d & 0xff));
}

void tk_block_reset_checks(tk_block *block, uint32_t threads)
{
	for (uint32_t i = 0; i < block->txn_count; i++)
		atomic_store_explicit(&block->running[i], 0, memory_order_relaxed);
	for (int i = 0; i < 64; i++)
		atomic_store_explicit(&block->workers[i], 0, memory_order_relaxed);
	atomic_store_explicit(&block->calls, 0, memory_order_relaxed);
	atomic_store_explicit(&block->violations, 0, memory_order_relaxed);
	atomic_store_explicit(&block->bad_index, 0, memory_order_relaxed);
	atomic_store_explicit(&block->worker_overlaps, 0, memory_order_relaxed);
	atomic_store_explicit(&block->txn_overlaps, 0, memory_order_relaxed);
	atomic_store_explicit(&block->overlap_detail, 0, memory_order_relaxed);
	block->threads = threads;
}

void tk_block_describe(tk_block *block, bstm_block *out)
{
	memset(out, 0, sizeof(*out));
	out->size = sizeof(*out);
	out->txn_count = block->txn_count;
	out->execute = tk_block_txn;
	out->ctx = block;
}

/* ------------------------------------------------------------------------ */
/* The program interpreter, over the library's view or over the model       */
/* ------------------------------------------------------------------------ */

#define TK_VALUE_MAX 2100

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

/*
 * Run program `index`. Every loop is bounded by the program's length and
 * every value read is only hashed or taken modulo something, so any bytes a
 * speculative read returns are harmless.
 */
int tk_run_program(const tk_block *block, uint32_t index, const tk_io *io, void *h,
		   bstm_txn_outcome *outcome)
{
	const tk_program *prog = &block->programs[index];
	uint64_t acc = tk_mix64(block->seed ^ index);
	uint64_t last = 0;
	uint64_t units = prog->base_gas;
	uint8_t key[TK_KEY_MAX];
	size_t key_len = 0;
	int have_key = 0;
	uint8_t buf[TK_VALUE_MAX];

	outcome->status = BSTM_TXN_SUCCESS;
	outcome->code = 0;
	for (uint32_t k = 0; k < prog->op_count; k++) {
		const tk_op *op = &block->ops[prog->first_op + k];
		int keyed = op->kind == TK_OP_READ || op->kind == TK_OP_WRITE ||
			    op->kind == TK_OP_DELETE || op->kind == TK_OP_INCR;
		if (keyed && !(op->key_mode == TK_KEY_PREV && have_key)) {
			uint32_t id = op->key_mode == TK_KEY_DERIVED
					      ? (uint32_t)((last + op->key) % block->keyspace)
					      : op->key % block->keyspace;
			key_len = tk_key_encode(id, key);
			have_key = 1;
		}
		const void *value;
		size_t value_len;
		int rc = 0;
		switch (op->kind) {
		case TK_OP_READ:
			rc = io->read(h, key, key_len, &value, &value_len);
			if (rc == BSTM_ENOTFOUND) {
				last = tk_mix64(op->salt);
				rc = 0;
			} else if (rc == 0) {
				last = tk_hash(value, value_len, 11);
				units += value_len ? ((const uint8_t *)value)[0] % 3 : 0;
			} else {
				return rc;
			}
			acc = tk_mix64(acc ^ last) + 1;
			units += 1;
			break;
		case TK_OP_WRITE: {
			size_t len = op->len;
			if (op->salt & 1)
				len += acc % 8;
			tk_fill(buf, len, tk_mix64(acc ^ op->salt) + index);
			rc = io->write(h, key, key_len, buf, len);
			units += 2;
			break;
		}
		case TK_OP_DELETE:
			rc = io->del(h, key, key_len);
			units += 1;
			break;
		case TK_OP_INCR: {
			uint64_t counter = 0;
			rc = io->read(h, key, key_len, &value, &value_len);
			if (rc == 0)
				counter = value_len >= 8 ? load_le64(value) : value_len;
			else if (rc != BSTM_ENOTFOUND)
				return rc;
			last = tk_mix64(counter);
			acc = tk_mix64(acc ^ last) + 2;
			store_le64(buf, counter + 1);
			rc = io->write(h, key, key_len, buf, 8);
			units += 3;
			break;
		}
		case TK_OP_EMIT:
			tk_fill(buf, op->len, acc ^ op->salt);
			rc = io->emit(h, buf, op->len);
			units += 1;
			break;
		case TK_OP_GAS:
			units += acc % ((uint64_t)op->len + 1);
			break;
		case TK_OP_STATUS:
			if ((acc ^ op->salt) % ((uint64_t)op->len + 1) == 0) {
				outcome->status =
					BSTM_TXN_ABORTED + (uint32_t)((op->salt >> 8) % 4);
				outcome->code = (acc & 0xffff) + 1;
				k = prog->op_count;
			}
			break;
		case TK_OP_FAIL:
			if ((acc ^ op->salt) % ((uint64_t)op->len + 1) == 0)
				return TK_FN_FAILURE;
			break;
		default:
			break;
		}
		if (rc)
			return rc;
		/*
		 * Busy work that stretches the execution so that executions on
		 * different threads overlap; it only depends on acc, so the
		 * program stays deterministic given its reads.
		 */
		uint32_t work = index == 0 && block->first_work ? block->first_work : block->work;
		for (uint32_t w = 0; w < work; w++)
			acc = tk_mix64(acc + w);
	}
	outcome->gas_used = units * block->gas_scale;
	return 0;
}

static int view_read(void *h, const void *key, size_t key_len, const void **value,
		     size_t *value_len)
{
	return bstm_view_read(h, key, key_len, value, value_len);
}

static int view_write(void *h, const void *key, size_t key_len, const void *value, size_t value_len)
{
	return bstm_view_write(h, key, key_len, value, value_len);
}

static int view_delete(void *h, const void *key, size_t key_len)
{
	return bstm_view_delete(h, key, key_len);
}

static int view_emit(void *h, const void *data, size_t len)
{
	return bstm_view_emit(h, data, len);
}

static const tk_io view_io = {view_read, view_write, view_delete, view_emit};

int tk_block_txn(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome)
{
	tk_block *block = ctx;
	/* Relaxed: a counter read after the block call returns. */
	atomic_fetch_add_explicit(&block->calls, 1, memory_order_relaxed);
	if (index >= block->txn_count || bstm_view_txn_index(view) != index) {
		atomic_fetch_add_explicit(&block->bad_index, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&block->violations, 1, memory_order_relaxed);
		return TK_FN_FAILURE;
	}
	uint32_t worker = bstm_view_worker(view);
	int worker_ok = worker < 64 && worker < (block->threads ? block->threads : 1);
	/*
	 * Exchanges with acq_rel: two calls that overlap on one worker number or
	 * one transaction see each other's mark whatever the interleaving.
	 */
	if (!worker_ok) {
		atomic_fetch_add_explicit(&block->bad_index, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&block->violations, 1, memory_order_relaxed);
	} else if (atomic_exchange_explicit(&block->workers[worker], 1, memory_order_acq_rel)) {
		atomic_fetch_add_explicit(&block->worker_overlaps, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&block->violations, 1, memory_order_relaxed);
	}
	unsigned char mark = (unsigned char)(worker_ok ? worker + 1 : 255);
	unsigned char other =
		atomic_exchange_explicit(&block->running[index], mark, memory_order_acq_rel);
	if (other) {
		atomic_store_explicit(&block->overlap_detail,
				      (uint64_t)index << 16 | (uint64_t)(other - 1) << 8 |
					      (mark - 1u),
				      memory_order_relaxed);
		atomic_fetch_add_explicit(&block->txn_overlaps, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&block->violations, 1, memory_order_relaxed);
	}

	int rc = tk_run_program(block, index, &view_io, view, outcome);

	atomic_store_explicit(&block->running[index], 0, memory_order_release);
	if (worker_ok)
		atomic_store_explicit(&block->workers[worker], 0, memory_order_release);
	return rc;
}
