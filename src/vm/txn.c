/*
 * txn.c - transactions: wire format, prologue, body, epilogue.
 *
 * A transaction runs in three parts, as on account-based chains:
 *
 *   prologue  read the sender's Account and Coin resources (module
 *             0x1::account); the sequence number must match and the balance
 *             must cover gas_limit * gas_price. Any failure DISCARDS the
 *             transaction: it writes nothing and costs nothing.
 *   body      the payload: call an entry function, or publish a bundle.
 *             Its writes and events go to the instance's overlay.
 *   epilogue  charge gas_used * gas_price and bump the sequence number.
 *             If the body succeeded, its overlay is kept and the fee is
 *             taken from the balance as the body left it; if that balance no
 *             longer covers the fee, the body is treated as failed. A failed
 *             body (abort, out of gas, runtime failure) loses its overlay and
 *             pays from the balance the prologue saw, which covers the fee
 *             because gas_used <= gas_limit.
 *
 * The prologue and epilogue are native code over the account module's
 * resource layout (one u64 field each) rather than bytecode: they run for
 * every transaction and must not be replaceable by a module upgrade.
 * Their cost is part of the intrinsic gas, VM_GAS_TXN_BASE. Fees are burnt:
 * crediting a shared collector would make every transaction conflict.
 */
#include <string.h>

#include "vm/internal.h"

/* ------------------------------------------------------------------------ */
/* Wire format                                                               */
/* ------------------------------------------------------------------------ */

int vm_txn_call(vm_txn *txn, uint64_t sender, uint64_t sequence, uint64_t gas_limit,
		uint64_t gas_price, uint64_t module_address, const char *module,
		const char *function, const uint64_t *args, uint32_t arg_count)
{
	if (!txn)
		return BSTM_EINVAL;
	memset(txn, 0, sizeof *txn);
	/* Only what vm_txn_decode would accept back. */
	if (!module || !function || !vm_name_valid(module, strlen(module)) ||
	    !vm_name_valid(function, strlen(function)) || arg_count > VM_MAX_ARGS ||
	    (arg_count && !args))
		return BSTM_EINVAL;
	txn->sender = sender;
	txn->sequence = sequence;
	txn->gas_limit = gas_limit;
	txn->gas_price = gas_price;
	txn->kind = VM_PAYLOAD_CALL;
	txn->module_address = module_address;
	strcpy(txn->module, module);
	strcpy(txn->function, function);
	txn->arg_count = arg_count;
	if (arg_count)
		memcpy(txn->args, args, arg_count * sizeof *args);
	return 0;
}

typedef struct cursor {
	uint8_t *buf;
	size_t len, cap;
} cursor;

static void put(cursor *c, const void *p, size_t n)
{
	if (n && c->buf && c->len + n <= c->cap)
		memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void put_u(cursor *c, uint64_t v, unsigned width)
{
	uint8_t b[8];
	for (unsigned i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(c, b, width);
}

static void put_str(cursor *c, const char *s)
{
	size_t n = strlen(s);
	put_u(c, n, 1);
	put(c, s, n);
}

/*
 * Not marked malformed (by vm_txn_decode, or by the node), and what the
 * wire format can carry: names that are identifiers (terminated
 * within their arrays), at most VM_MAX_ARGS arguments, 1 to VM_MAX_BUNDLE
 * modules of at most UINT32_MAX bytes with bytes behind every non-empty one
 * (so run_publish's fee, at most 16 * UINT32_MAX * VM_GAS_PUBLISH_BYTE,
 * cannot wrap). A transaction filled in by
 * hand is held to the same rules as a decoded one, by the encoder and again
 * before it runs.
 */
static bool payload_well_formed(const vm_txn *txn)
{
	if (txn->malformed)
		return false;
	if (txn->kind == VM_PAYLOAD_CALL)
		return txn->arg_count <= VM_MAX_ARGS &&
		       vm_name_valid(txn->module, strnlen(txn->module, sizeof txn->module)) &&
		       vm_name_valid(txn->function, strnlen(txn->function, sizeof txn->function));
	if (txn->kind != VM_PAYLOAD_PUBLISH || txn->module_count == 0 ||
	    txn->module_count > VM_MAX_BUNDLE)
		return false;
	for (uint32_t i = 0; i < txn->module_count; i++)
		if ((!txn->modules[i] && txn->module_lens[i]) || txn->module_lens[i] > UINT32_MAX)
			return false;
	return true;
}

long vm_txn_encode(const vm_txn *txn, uint8_t *buf, size_t cap)
{
	if (!txn || !payload_well_formed(txn))
		return BSTM_EINVAL;
	cursor c = {buf, 0, cap};
	put_u(&c, VM_TXN_FORMAT_VERSION, 1);
	put_u(&c, txn->sender, 8);
	put_u(&c, txn->sequence, 8);
	put_u(&c, txn->gas_limit, 8);
	put_u(&c, txn->gas_price, 8);
	put_u(&c, txn->kind, 1);
	if (txn->kind == VM_PAYLOAD_CALL) {
		put_u(&c, txn->module_address, 8);
		put_str(&c, txn->module);
		put_str(&c, txn->function);
		put_u(&c, txn->arg_count, 1);
		for (uint32_t i = 0; i < txn->arg_count; i++)
			put_u(&c, txn->args[i], 8);
	} else {
		put_u(&c, txn->module_count, 1);
		for (uint32_t i = 0; i < txn->module_count; i++) {
			put_u(&c, txn->module_lens[i], 4);
			put(&c, txn->modules[i], txn->module_lens[i]);
		}
	}
	if (buf && c.len > cap)
		return BSTM_ETOOBIG;
	return (long)c.len;
}

typedef struct input {
	const uint8_t *p, *end;
	bool bad;
} input;

static uint64_t get_u(input *in, unsigned width)
{
	if (in->bad || (size_t)(in->end - in->p) < width) {
		in->bad = true;
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)in->p[i] << (8 * i);
	in->p += width;
	return v;
}

static void get_str(input *in, char out[VM_MAX_NAME + 1])
{
	size_t n = (size_t)get_u(in, 1);
	if (in->bad || n > VM_MAX_NAME || (size_t)(in->end - in->p) < n ||
	    !vm_name_valid((const char *)in->p, n)) {
		in->bad = true;
		return;
	}
	memcpy(out, in->p, n);
	out[n] = 0;
	in->p += n;
}

int vm_txn_decode(const uint8_t *bytes, size_t len, vm_txn *txn)
{
	if (!txn)
		return BSTM_EINVAL;
	memset(txn, 0, sizeof *txn);
	static const uint8_t none[1];
	if (!bytes) { /* rejected below as truncated */
		bytes = none;
		len = 0;
	}
	input in = {bytes, bytes + len, false};
	if (get_u(&in, 1) != VM_TXN_FORMAT_VERSION)
		in.bad = true;
	txn->sender = get_u(&in, 8);
	txn->sequence = get_u(&in, 8);
	txn->gas_limit = get_u(&in, 8);
	txn->gas_price = get_u(&in, 8);
	uint32_t kind = (uint32_t)get_u(&in, 1);
	if (kind == VM_PAYLOAD_CALL) {
		txn->module_address = get_u(&in, 8);
		get_str(&in, txn->module);
		get_str(&in, txn->function);
		txn->arg_count = (uint32_t)get_u(&in, 1);
		if (txn->arg_count > VM_MAX_ARGS)
			in.bad = true;
		for (uint32_t i = 0; i < txn->arg_count && !in.bad; i++)
			txn->args[i] = get_u(&in, 8);
	} else if (kind == VM_PAYLOAD_PUBLISH) {
		txn->module_count = (uint32_t)get_u(&in, 1);
		if (txn->module_count == 0 || txn->module_count > VM_MAX_BUNDLE)
			in.bad = true;
		for (uint32_t i = 0; i < txn->module_count && !in.bad; i++) {
			size_t n = (size_t)get_u(&in, 4);
			if (in.bad || (size_t)(in.end - in.p) < n) {
				in.bad = true;
				break;
			}
			txn->modules[i] = in.p;
			txn->module_lens[i] = n;
			in.p += n;
		}
	} else {
		in.bad = true;
	}
	if (in.bad || in.p != in.end) {
		vm_txn bad = {.sender = txn->sender, .malformed = 1};
		*txn = bad;
		return BSTM_EFORMAT;
	}
	txn->kind = kind;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Execution                                                                 */
/* ------------------------------------------------------------------------ */

/* The key tails of 0x1::account::Account and ::Coin, spelled out once
 * (module.c's layout) because every transaction builds both keys. */
static const char account_tail[] = "\0\0\0\0\0\0\0\1\7account\7Account";
static const char coin_tail[] = "\0\0\0\0\0\0\0\1\7account\4Coin";

static size_t account_key(uint8_t *key, uint64_t sender, const char *tail, size_t tail_len)
{
	key[0] = 'R';
	for (int i = 0; i < 8; i++)
		key[1 + i] = (uint8_t)(sender >> (56 - 8 * i));
	memcpy(key + 9, tail, tail_len);
	return 9 + tail_len;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void set_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Read a one-field u64 resource; 1 found, 0 absent or malformed, <0 error. */
static int read_u64(vm_exec *x, const uint8_t *key, size_t key_len, uint64_t *out)
{
	const uint8_t *v;
	size_t len;
	int rc = vm_state_fetch(x, key, key_len, &v, &len);
	if (rc != 1)
		return rc;
	if (len != 8)
		return 0;
	*out = get_le64(v);
	return 1;
}

static vm_exit run_call(vm_exec *x, const vm_txn *txn)
{
	vm_module *m;
	vm_exit e = vm_load_module(x, txn->module_address, txn->module, &m);
	if (e != VM_EXIT_OK)
		return e;
	int f = vm_module_find_function(m, txn->function);
	if (f < 0) {
		x->code = VM_FAIL_FUNCTION_NOT_FOUND;
		return VM_EXIT_FAIL;
	}
	const vm_function *fn = &m->functions[f];
	if (fn->visibility != VM_ENTRY) {
		x->code = VM_FAIL_NOT_ENTRY;
		return VM_EXIT_FAIL;
	}
	if (fn->params != txn->arg_count) {
		x->code = VM_FAIL_ARG_COUNT;
		return VM_EXIT_FAIL;
	}
	return vm_run(x, m, fn, txn->args, NULL);
}

/*
 * An upgrade keeps what others rely on: every public and entry function
 * with its visibility and signature (importers link by name and signature),
 * and every resource with its fields (stored values keep their layout).
 * Old bytes that no longer load constrain nothing.
 */
static bool upgrade_compatible(const uint8_t *old_bytes, size_t old_len, const vm_txn *txn,
			       uint32_t i)
{
	vm_module *old, *new;
	if (vm_module_decode(old_bytes, old_len, &old) != 0)
		return true;
	if (vm_module_decode(txn->modules[i], txn->module_lens[i], &new) != 0) {
		vm_module_free(old);
		return false;
	}
	bool ok = true;
	for (uint32_t f = 0; ok && f < old->function_count; f++) {
		const vm_function *a = &old->functions[f];
		if (a->visibility == VM_PRIVATE)
			continue;
		int g = vm_module_find_function(new, a->name);
		const vm_function *b = g >= 0 ? &new->functions[g] : NULL;
		ok = b && b->visibility == a->visibility && b->params == a->params &&
		     b->returns == a->returns;
	}
	for (uint32_t r = 0; ok && r < old->resource_count; r++) {
		const vm_resource *a = &old->resources[r];
		ok = false;
		for (uint32_t q = 0; q < new->resource_count; q++) {
			const vm_resource *b = &new->resources[q];
			if (strcmp(a->name, b->name) != 0)
				continue;
			ok = a->field_count == b->field_count;
			for (unsigned k = 0; ok && k < a->field_count; k++)
				ok = strcmp(a->fields[k], b->fields[k]) == 0;
			break;
		}
	}
	vm_module_free(old);
	vm_module_free(new);
	return ok;
}

static vm_exit run_publish(vm_exec *x, const vm_txn *txn)
{
	bool existed[VM_MAX_BUNDLE];
	char names[VM_MAX_BUNDLE][VM_MAX_NAME + 1];
	uint64_t total = 0;
	for (uint32_t i = 0; i < txn->module_count; i++)
		total += txn->module_lens[i];
	if (x->gas_left < total * VM_GAS_PUBLISH_BYTE) {
		x->gas_left = 0;
		return VM_EXIT_OUT_OF_GAS;
	}
	x->gas_left -= total * VM_GAS_PUBLISH_BYTE;

	for (uint32_t i = 0; i < txn->module_count; i++) {
		vm_module *m;
		uint64_t address = 0;
		int rc = vm_module_decode(txn->modules[i], txn->module_lens[i], &m);
		if (rc == 0) {
			rc = vm_verify(m);
			address = m->address;
			memcpy(names[i], m->name, sizeof names[i]);
			vm_module_free(m);
		}
		for (uint32_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				rc = VM_VERR_DUPLICATE_NAME;
		if (rc < 0) {
			x->error = rc;
			return VM_EXIT_ERROR;
		}
		if (rc > 0 || address != txn->sender) {
			x->code = rc > 0 ? VM_FAIL_VERIFY_BASE + (uint64_t)rc
					 : VM_FAIL_PUBLISH_ADDRESS;
			return VM_EXIT_FAIL;
		}
	}
	/* Stage the bundle: later loads in this transaction see it, so the
	 * bundle's modules link against each other (they shadow state). */
	for (uint32_t i = 0; i < txn->module_count; i++) {
		uint8_t key[VM_MAX_KEY];
		size_t key_len = vm_module_key(key, txn->sender, names[i]);
		const uint8_t *old;
		size_t old_len;
		vm_exit e = vm_state_read(x, key, key_len, &old, &old_len, &existed[i]);
		if (e != VM_EXIT_OK)
			return e;
		if (existed[i] && !upgrade_compatible(old, old_len, txn, i)) {
			x->code = VM_FAIL_INCOMPATIBLE_UPGRADE;
			return VM_EXIT_FAIL;
		}
		if (!vm_overlay_put(&x->inst->overlay, key, key_len, txn->modules[i],
				    txn->module_lens[i])) {
			x->code = VM_FAIL_WRITE_LIMIT;
			return VM_EXIT_FAIL;
		}
	}
	vm_module *loaded[VM_MAX_BUNDLE];
	for (uint32_t i = 0; i < txn->module_count; i++) {
		vm_exit e = vm_load_module(x, txn->sender, names[i], &loaded[i]);
		if (e != VM_EXIT_OK)
			return e;
	}
	for (uint32_t i = 0; i < txn->module_count; i++) {
		if (existed[i] || loaded[i]->init_index < 0)
			continue;
		vm_exit e = vm_run(x, loaded[i], &loaded[i]->functions[loaded[i]->init_index], NULL,
				   NULL);
		if (e != VM_EXIT_OK)
			return e;
	}
	return VM_EXIT_OK;
}

static int discard(bstm_txn_outcome *outcome, uint64_t code)
{
	outcome->status = BSTM_TXN_DISCARDED;
	outcome->code = code;
	outcome->gas_used = 0;
	return 0;
}

int vm_execute_txn(vm_instance *inst, const vm_txn *txn, const vm_state_ops *ops, void *state,
		   bstm_txn_outcome *outcome)
{
	memset(outcome, 0, sizeof *outcome);
	vm_instance_reset(inst);
	inst->txns_run++;
	if (!payload_well_formed(txn))
		return discard(outcome, VM_DISCARD_MALFORMED);
	if (txn->gas_limit < VM_GAS_TXN_BASE)
		return discard(outcome, VM_DISCARD_GAS_TOO_LOW);
	if (txn->gas_limit > inst->config.max_gas_per_txn)
		return discard(outcome, VM_DISCARD_GAS_TOO_HIGH);

	vm_exec x = {.inst = inst, .ops = ops, .state = state, .sender = txn->sender};
	uint8_t account[VM_MAX_KEY], coin[VM_MAX_KEY];
	size_t account_len =
		account_key(account, txn->sender, account_tail, sizeof account_tail - 1);
	size_t coin_len = account_key(coin, txn->sender, coin_tail, sizeof coin_tail - 1);
	uint64_t sequence, balance, max_fee;
	int rc = read_u64(&x, account, account_len, &sequence);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return discard(outcome, VM_DISCARD_NO_ACCOUNT);
	if (sequence != txn->sequence || sequence == UINT64_MAX)
		return discard(outcome, VM_DISCARD_BAD_SEQUENCE);
	rc = read_u64(&x, coin, coin_len, &balance);
	if (rc < 0)
		return rc;
	if (rc == 0 || __builtin_mul_overflow(txn->gas_limit, txn->gas_price, &max_fee) ||
	    balance < max_fee)
		return discard(outcome, VM_DISCARD_CANNOT_PAY);

	x.gas_left = txn->gas_limit - VM_GAS_TXN_BASE;
	vm_exit e = txn->kind == VM_PAYLOAD_CALL ? run_call(&x, txn) : run_publish(&x, txn);
	if (e == VM_EXIT_ERROR) {
		vm_instance_reset(inst);
		return x.error;
	}
	outcome->gas_used = txn->gas_limit - x.gas_left;
	uint64_t fee = outcome->gas_used * txn->gas_price;
	switch (e) {
	case VM_EXIT_OK:
		outcome->status = BSTM_TXN_SUCCESS;
		break;
	case VM_EXIT_ABORT:
		outcome->status = BSTM_TXN_ABORTED;
		outcome->code = x.code;
		break;
	case VM_EXIT_OUT_OF_GAS:
		outcome->status = BSTM_TXN_OUT_OF_GAS;
		outcome->gas_used = txn->gas_limit;
		fee = max_fee;
		break;
	default:
		outcome->status = BSTM_TXN_FAILED;
		outcome->code = x.code;
		break;
	}

	uint64_t after = balance;
	if (outcome->status == BSTM_TXN_SUCCESS) {
		rc = read_u64(&x, coin, coin_len, &after);
		if (rc < 0) {
			vm_instance_reset(inst);
			return rc;
		}
		if (rc == 0 || after < fee) {
			outcome->status = BSTM_TXN_FAILED;
			outcome->code = VM_FAIL_CANNOT_PAY;
		}
	}
	if (outcome->status != BSTM_TXN_SUCCESS) {
		vm_overlay_reset(&inst->overlay);
		after = balance;
	}
	uint8_t value[8];
	set_le64(value, after - fee);
	if (!vm_overlay_put(&inst->overlay, coin, coin_len, value, 8))
		return BSTM_ENOMEM;
	set_le64(value, sequence + 1);
	if (!vm_overlay_put(&inst->overlay, account, account_len, value, 8))
		return BSTM_ENOMEM;
	return vm_overlay_flush(&inst->overlay, ops, state);
}

/*
 * Call any function directly, without prologue or epilogue: genesis runs
 * module initialisers with it, and tests drive single functions. The
 * overlay is flushed to `state` only when the call succeeded and `commit`.
 * `results` holds result_cap values: a function that returns more is not
 * run (VM_EXIT_ERROR, BSTM_EINVAL).
 */
vm_exit vm_invoke(vm_instance *inst, const vm_state_ops *ops, void *state, uint64_t sender,
		  uint64_t address, const char *module, const char *function, const uint64_t *args,
		  uint32_t arg_count, uint64_t *results, uint32_t result_cap, uint64_t *gas,
		  uint64_t *code, bool commit)
{
	vm_instance_reset(inst);
	vm_exec x = {.inst = inst, .ops = ops, .state = state, .sender = sender};
	x.gas_left = *gas;
	vm_module *m;
	vm_exit e = vm_load_module(&x, address, module, &m);
	if (e == VM_EXIT_OK) {
		int f = vm_module_find_function(m, function);
		if (f < 0) {
			x.code = VM_FAIL_FUNCTION_NOT_FOUND;
			e = VM_EXIT_FAIL;
		} else if (m->functions[f].params != arg_count) {
			x.code = VM_FAIL_ARG_COUNT;
			e = VM_EXIT_FAIL;
		} else if (m->functions[f].returns > result_cap) {
			x.error = BSTM_EINVAL;
			e = VM_EXIT_ERROR;
		} else {
			e = vm_run(&x, m, &m->functions[f], args, results);
		}
	}
	if (e == VM_EXIT_OK && commit) {
		int rc = vm_overlay_flush(&inst->overlay, ops, state);
		if (rc) {
			x.error = rc;
			e = VM_EXIT_ERROR;
		}
	}
	*gas = x.gas_left;
	*code = e == VM_EXIT_ERROR ? (uint64_t)(int64_t)x.error : x.code;
	return e;
}
