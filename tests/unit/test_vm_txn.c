/*
 * test_vm_txn.c - transactions: format, prologue, body, epilogue.
 *
 * Runs transactions on an in-memory genesis state through vm_execute_txn
 * (the same path the executor adapter takes, minus the view), and a few
 * through the executor itself to check the adapter.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static vm_kvmap *map;
static vm_instance *inst;

#define BALANCE 1000000000ull
#define GAS	100000ull

static void setup(void)
{
	cr_assert_eq(vm_kvmap_create(&map), 0);
	cr_assert_eq(vm_genesis(map, 10, BALANCE), 0);
	cr_assert_eq(vm_instance_create(NULL, &inst), 0);
}

static void teardown(void)
{
	vm_instance_destroy(inst);
	vm_kvmap_destroy(map);
}

TestSuite(vm_txn, .init = setup, .fini = teardown);

static uint64_t get(uint64_t account, const char *module, const char *resource, unsigned field,
		    bool *found)
{
	uint8_t key[VM_MAX_KEY];
	size_t klen = vm_resource_key(key, account, 1, module, resource);
	const void *v;
	size_t len;
	*found = vm_kvmap_get(map, key, klen, &v, &len) == 0;
	if (!*found || len < 8 * (field + 1))
		return 0;
	uint64_t x = 0;
	for (int i = 7; i >= 0; i--)
		x = x << 8 | ((const uint8_t *)v)[8 * field + i];
	return x;
}

static uint64_t balance(uint64_t account)
{
	bool found;
	uint64_t b = get(account, "account", "Coin", 0, &found);
	cr_assert(found, "account %lu has no Coin", account);
	return b;
}

static uint64_t seqno(uint64_t account)
{
	bool found;
	return get(account, "account", "Account", 0, &found);
}

static bstm_txn_outcome run(const vm_txn *t)
{
	bstm_txn_outcome o;
	cr_assert_eq(vm_execute_txn(inst, t, &vm_kvmap_ops, map, &o), 0);
	return o;
}

static vm_txn transfer(uint64_t from, uint64_t seq, uint64_t to, uint64_t amount)
{
	vm_txn t;
	uint64_t args[2] = {to, amount};
	cr_assert_eq(vm_txn_call(&t, from, seq, GAS, 1, 1, "account", "transfer", args, 2), 0);
	return t;
}

Test(vm_txn, transfer_moves_coins_and_pays_gas)
{
	vm_txn t = transfer(2, 0, 3, 500);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %lu", o.status, o.code);
	cr_expect_gt(o.gas_used, VM_GAS_TXN_BASE);
	cr_expect_eq(balance(2), BALANCE - 500 - o.gas_used);
	cr_expect_eq(balance(3), BALANCE + 500);
	cr_expect_eq(seqno(2), 1);
	cr_expect_eq(seqno(3), 0);
	/* same gas again: gas does not depend on the module cache */
	t = transfer(2, 1, 3, 500);
	bstm_txn_outcome o2 = run(&t);
	cr_expect_eq(o2.gas_used, o.gas_used);
	/* a fresh instance charges the same */
	vm_instance_destroy(inst);
	cr_assert_eq(vm_instance_create(NULL, &inst), 0);
	t = transfer(2, 2, 3, 500);
	cr_expect_eq(run(&t).gas_used, o.gas_used);
}

Test(vm_txn, transfer_to_self)
{
	vm_txn t = transfer(4, 0, 4, 500);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS);
	cr_expect_eq(balance(4), BALANCE - o.gas_used);
}

Test(vm_txn, short_balance_aborts_with_code)
{
	vm_txn t = transfer(2, 0, 3, BALANCE + 1);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_ABORTED);
	cr_expect_eq(o.code, 1);
	cr_expect_eq(balance(2), BALANCE - o.gas_used);
	cr_expect_eq(balance(3), BALANCE);
	cr_expect_eq(seqno(2), 1);
}

Test(vm_txn, fee_that_the_body_made_unpayable_fails_the_body)
{
	vm_txn t = transfer(2, 0, 3, BALANCE);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_FAILED);
	cr_expect_eq(o.code, VM_FAIL_CANNOT_PAY);
	cr_expect_eq(balance(2), BALANCE - o.gas_used);
	cr_expect_eq(balance(3), BALANCE);
	cr_expect_eq(seqno(2), 1);
}

/* A balance left exactly equal to the fee pays it (the epilogue's bound is
 * inclusive). */
Test(vm_txn, balance_exactly_equal_to_fee_is_paid)
{
	vm_txn c = transfer(4, 0, 5, 500); /* gas does not depend on the amount */
	uint64_t g = run(&c).gas_used;
	vm_txn t = transfer(2, 0, 3, BALANCE - g); /* price 1: the fee is g */
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.gas_used, g);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %lu", o.status, o.code);
	cr_expect_eq(balance(2), 0);
	cr_expect_eq(balance(3), 2 * BALANCE - g);
	cr_expect_eq(seqno(2), 1);
}

Test(vm_txn, missing_recipient_aborts)
{
	vm_txn t = transfer(2, 0, 999, 5);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_ABORTED);
	cr_expect_eq(o.code, 2);
}

Test(vm_txn, out_of_gas_charges_the_limit)
{
	vm_txn t;
	uint64_t n = 1000000;
	cr_assert_eq(vm_txn_call(&t, 5, 0, 2000, 3, 1, "compute", "hash", &n, 1), 0);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_OUT_OF_GAS);
	cr_expect_eq(o.gas_used, 2000);
	cr_expect_eq(balance(5), BALANCE - 2000 * 3);
	cr_expect_eq(seqno(5), 1);
}

Test(vm_txn, prologue_failures_are_discarded_without_writes)
{
	size_t before = vm_kvmap_count(map);
	vm_txn t = transfer(2, 7, 3, 1); /* wrong sequence */
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED);
	cr_expect_eq(o.code, VM_DISCARD_BAD_SEQUENCE);
	cr_expect_eq(o.gas_used, 0);
	t = transfer(77, 0, 3, 1); /* no such account */
	o = run(&t);
	cr_expect_eq(o.code, VM_DISCARD_NO_ACCOUNT);
	t = transfer(2, 0, 3, 1);
	t.gas_price = BALANCE; /* gas_limit * price > balance */
	o = run(&t);
	cr_expect_eq(o.code, VM_DISCARD_CANNOT_PAY);
	t.gas_price = UINT64_MAX; /* the product overflows */
	o = run(&t);
	cr_expect_eq(o.code, VM_DISCARD_CANNOT_PAY);
	t.gas_price = 1ull << 59; /* GAS * 2^59 = 3125 * 2^64: wraps to exactly 0 */
	cr_assert_eq(t.gas_limit * t.gas_price, 0);
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED);
	cr_expect_eq(o.code, VM_DISCARD_CANNOT_PAY);
	t = transfer(2, 0, 3, 1);
	t.gas_limit = VM_GAS_TXN_BASE - 1;
	o = run(&t);
	cr_expect_eq(o.code, VM_DISCARD_GAS_TOO_LOW);
	t.gas_limit = UINT64_MAX;
	o = run(&t);
	cr_expect_eq(o.code, VM_DISCARD_GAS_TOO_HIGH);
	vm_txn bad = {0};
	o = run(&bad);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED);
	cr_expect_eq(o.code, VM_DISCARD_MALFORMED);
	cr_expect_eq(balance(2), BALANCE);
	cr_expect_eq(seqno(2), 0);
	cr_expect_eq(vm_kvmap_count(map), before);
}

static void set_u64(uint64_t account, const char *module, const char *resource, uint64_t x)
{
	uint8_t key[VM_MAX_KEY], value[8];
	size_t klen = vm_resource_key(key, account, 1, module, resource);
	for (int i = 0; i < 8; i++)
		value[i] = (uint8_t)(x >> (8 * i));
	cr_assert_eq(vm_kvmap_put(map, key, klen, value, sizeof value), 0);
}

/* The last sequence number cannot be bumped: the transaction that would use
 * it is discarded, the one before it is the account's last. */
Test(vm_txn, last_sequence_number_is_discarded)
{
	set_u64(5, "account", "Account", UINT64_MAX);
	size_t before = vm_kvmap_count(map);
	vm_txn t = transfer(5, UINT64_MAX, 3, 1);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED);
	cr_expect_eq(o.code, VM_DISCARD_BAD_SEQUENCE);
	cr_expect_eq(seqno(5), UINT64_MAX);
	cr_expect_eq(balance(5), BALANCE);
	cr_expect_eq(vm_kvmap_count(map), before);
	set_u64(5, "account", "Account", UINT64_MAX - 1);
	t = transfer(5, UINT64_MAX - 1, 3, 1);
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS);
	cr_expect_eq(seqno(5), UINT64_MAX);
}

/* The prologue's bounds are inclusive: a gas limit of exactly the intrinsic
 * cost or exactly the configured maximum, and a balance of exactly
 * gas_limit * gas_price, are accepted. */
Test(vm_txn, prologue_bounds_are_inclusive)
{
	set_u64(5, "account", "Coin", GAS); /* the price is 1 */
	vm_txn t = transfer(5, 0, 3, 1);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS, "balance = max fee: status %u code %lu", o.status,
		     o.code);
	cr_expect_eq(balance(5), GAS - 1 - o.gas_used);
	set_u64(6, "account", "Coin", GAS - 1);
	t = transfer(6, 0, 3, 1);
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED);
	cr_expect_eq(o.code, VM_DISCARD_CANNOT_PAY);

	/* gas for the intrinsic cost alone: the body runs out at once */
	t = transfer(2, 0, 3, 1);
	t.gas_limit = VM_GAS_TXN_BASE;
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_OUT_OF_GAS, "status %u code %lu", o.status, o.code);
	cr_expect_eq(o.gas_used, VM_GAS_TXN_BASE);
	cr_expect_eq(balance(2), BALANCE - VM_GAS_TXN_BASE);
	cr_expect_eq(seqno(2), 1);

	t = transfer(2, 1, 3, 1);
	t.gas_limit = inst->config.max_gas_per_txn;
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS, "gas limit = max: status %u code %lu", o.status,
		     o.code);
	cr_expect_eq(seqno(2), 2);
}

/* Gas is exactly the documented sum: the intrinsic cost, the module's bytes
 * read once, and each instruction's cost; a limit one short runs out. */
Test(vm_txn, gas_is_intrinsic_plus_reads_plus_instructions)
{
	static const char text[] = "module 0x2 nop\nfunction entry go () -> () locals 0\n"
				   "\tpush 1\n\tpop\n\tret\nend\n";
	uint8_t *bin;
	size_t len;
	cr_assert_eq(vm_assemble(text, &bin, &len, NULL, NULL), 0);
	uint8_t key[VM_MAX_KEY];
	cr_assert_eq(vm_kvmap_put(map, key, vm_module_key(key, 2, "nop"), bin, len), 0);
	uint64_t want = VM_GAS_TXN_BASE + len * VM_GAS_READ_BYTE + vm_gas_table[VM_OP_PUSH] +
			vm_gas_table[VM_OP_POP] + vm_gas_table[VM_OP_RET];
	vm_txn t;
	cr_assert_eq(vm_txn_call(&t, 2, 0, want, 1, 2, "nop", "go", NULL, 0), 0);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %s", o.status,
		     vm_fail_name(o.code));
	cr_expect_eq(o.gas_used, want);
	cr_expect_eq(balance(2), BALANCE - want);
	cr_assert_eq(vm_txn_call(&t, 2, 1, want - 1, 1, 2, "nop", "go", NULL, 0), 0);
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_OUT_OF_GAS);
	cr_expect_eq(o.gas_used, want - 1);
	cr_expect_eq(seqno(2), 2); /* out of gas still bumps */
	free(bin);
}

Test(vm_txn, payload_failures_are_statuses)
{
	vm_txn t;
	cr_assert_eq(vm_txn_call(&t, 2, 0, GAS, 1, 1, "account", "nothing", NULL, 0), 0);
	cr_expect_eq(run(&t).code, VM_FAIL_FUNCTION_NOT_FOUND);
	cr_assert_eq(vm_txn_call(&t, 2, 1, GAS, 1, 1, "account", "deposit", NULL, 0), 0);
	cr_expect_eq(run(&t).code, VM_FAIL_NOT_ENTRY);
	cr_assert_eq(vm_txn_call(&t, 2, 2, GAS, 1, 1, "account", "transfer", NULL, 0), 0);
	cr_expect_eq(run(&t).code, VM_FAIL_ARG_COUNT);
	cr_assert_eq(vm_txn_call(&t, 2, 3, GAS, 1, 9, "nomodule", "f", NULL, 0), 0);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_FAILED);
	cr_expect_eq(o.code, VM_FAIL_MODULE_NOT_FOUND);
	cr_expect_eq(seqno(2), 4);
}

Test(vm_txn, mint_is_for_0x1_only)
{
	vm_txn t;
	uint64_t args[2] = {3, 10};
	cr_assert_eq(vm_txn_call(&t, 2, 0, GAS, 0, 1, "account", "mint", args, 2), 0);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_ABORTED);
	cr_expect_eq(o.code, 4);
	cr_assert_eq(vm_txn_call(&t, 1, 0, GAS, 0, 1, "account", "mint", args, 2), 0);
	cr_expect_eq(run(&t).status, BSTM_TXN_SUCCESS);
	cr_expect_eq(balance(3), BALANCE + 10);
}

Test(vm_txn, counter_and_amm)
{
	vm_txn t;
	cr_assert_eq(vm_txn_call(&t, 2, 0, GAS, 1, 1, "counter", "increment", NULL, 0), 0);
	cr_assert_eq(run(&t).status, BSTM_TXN_SUCCESS);
	bool found;
	cr_expect_eq(get(1, "counter", "Counter", 0, &found), 1);
	uint64_t fund[2] = {1000, 1000};
	cr_assert_eq(vm_txn_call(&t, 3, 0, GAS, 1, 1, "amm", "faucet", fund, 2), 0);
	cr_assert_eq(run(&t).status, BSTM_TXN_SUCCESS);
	uint64_t swap[2] = {100, 1};
	cr_assert_eq(vm_txn_call(&t, 3, 1, GAS, 1, 1, "amm", "swap_a", swap, 2), 0);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "code %lu", o.code);
	cr_expect_eq(get(3, "amm", "Tokens", 0, &found), 900);
	uint64_t out = 1000000000ull * 100 * 997 / (1000000000ull * 1000 + 100 * 997);
	cr_expect_eq(get(3, "amm", "Tokens", 1, &found), 1000 + out);
	cr_expect_eq(get(1, "amm", "Pool", 0, &found), 1000000000ull + 100);
	cr_expect_eq(get(1, "amm", "Pool", 1, &found), 1000000000ull - out);
	uint64_t greedy[2] = {100, 1000};
	cr_assert_eq(vm_txn_call(&t, 3, 2, GAS, 1, 1, "amm", "swap_b", greedy, 2), 0);
	o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_ABORTED);
	cr_expect_eq(o.code, 1);
}

/* A module that reaches the coin-creating deposit from outside the account
 * module: the import must not link, so no coins appear. */
static const char deposit_thief[] =
	"module 0x2 thief\n"
	"import 0x1 account deposit (u64, u64) -> ()\n"
	"function entry steal () -> () locals 0\n"
	"\tsender\n\tpush 1000000\n\tcallx account.deposit\n\tret\nend\n";

static const char publish_v1[] = "module 0x2 hello\n"
				 "resource Greeting n\n"
				 "function private init () -> () locals 0\n"
				 "\tpush 2\n\tpush 7\n\trnew Greeting\n\tret\nend\n"
				 "function public get () -> (u64) locals 0\n"
				 "\tpush 2\n\trget Greeting n\n\tret\nend\n";
static const char publish_user[] = "module 0x2 user\n"
				   "import 0x2 hello get () -> (u64)\n"
				   "function entry bump () -> () locals 0\n"
				   "\tcallx hello.get\n\temit 1\n\tret\nend\n";

static bool module_stored(uint64_t address, const char *name)
{
	uint8_t key[VM_MAX_KEY];
	const void *v;
	size_t len;
	return vm_kvmap_get(map, key, vm_module_key(key, address, name), &v, &len) == 0;
}

static vm_txn publish(uint64_t sender, uint64_t seq, uint8_t **bins, size_t *lens,
		      const char *const *sources, unsigned n)
{
	vm_txn t = {0};
	t.sender = sender;
	t.sequence = seq;
	t.gas_limit = GAS;
	t.gas_price = 1;
	t.kind = VM_PAYLOAD_PUBLISH;
	t.module_count = n;
	for (unsigned i = 0; i < n; i++) {
		cr_assert_eq(vm_assemble(sources[i], &bins[i], &lens[i], NULL, NULL), 0);
		t.modules[i] = bins[i];
		t.module_lens[i] = lens[i];
	}
	return t;
}

Test(vm_txn, publish_bundle_runs_init_and_links)
{
	uint8_t *bins[2];
	size_t lens[2];
	const char *sources[2] = {publish_user, publish_v1};
	vm_txn t = publish(2, 0, bins, lens, sources, 2);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %s", o.status,
		     vm_fail_name(o.code));
	bool found;
	cr_expect_eq(get(2, "hello", "Greeting", 0, &found), 0); /* key uses module 0x1 */
	uint8_t key[VM_MAX_KEY];
	size_t klen = vm_resource_key(key, 2, 2, "hello", "Greeting");
	const void *v;
	size_t len;
	cr_expect_eq(vm_kvmap_get(map, key, klen, &v, &len), 0);
	vm_txn call;
	cr_assert_eq(vm_txn_call(&call, 3, 0, GAS, 1, 2, "user", "bump", NULL, 0), 0);
	cr_expect_eq(run(&call).status, BSTM_TXN_SUCCESS);
	/* republishing does not run init again (it would abort: exists) */
	free(bins[1]);
	vm_txn again = publish(2, 1, bins + 1 /* unused */, lens + 1, sources + 1, 1);
	o = run(&again);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS, "code %s", vm_fail_name(o.code));
	free(bins[0]);
	free(bins[1]);
}

/* A publish pays 10 per byte up front and 1 per byte to load the modules
 * back and link them (docs/vm.md); an upgrade also reads the old bytes. */
Test(vm_txn, publish_gas_is_the_schedule)
{
	static const char *const v1[1] = {"module 0x2 plain\nfunction public f () -> () locals 0\n"
					  "\tret\nend\n"};
	static const char *const v2[1] = {"module 0x2 plain\nfunction public f () -> () locals 0\n"
					  "\tpush 1\n\tpop\n\tret\nend\n"};
	uint8_t *bins[1], *bins2[1];
	size_t lens[1], lens2[1];
	vm_txn t = publish(2, 0, bins, lens, v1, 1);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %s", o.status,
		     vm_fail_name(o.code));
	cr_expect_eq(o.gas_used,
		     VM_GAS_TXN_BASE + lens[0] * (VM_GAS_PUBLISH_BYTE + VM_GAS_READ_BYTE));
	t = publish(2, 1, bins2, lens2, v2, 1);
	o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %s", o.status,
		     vm_fail_name(o.code));
	cr_expect_eq(o.gas_used, VM_GAS_TXN_BASE +
					 lens2[0] * (VM_GAS_PUBLISH_BYTE + VM_GAS_READ_BYTE) +
					 lens[0] * VM_GAS_READ_BYTE);
	free(bins[0]);
	free(bins2[0]);
}

Test(vm_txn, publish_failures)
{
	uint8_t *bins[1];
	size_t lens[1];
	const char *user[1] = {publish_user};
	vm_txn t = publish(2, 0, bins, lens, user, 1); /* its import is missing */
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_FAILED);
	cr_expect_eq(o.code, VM_FAIL_MODULE_NOT_FOUND);
	cr_expect_eq(seqno(2), 1);
	free(bins[0]);
	const char *hello[1] = {publish_v1};
	t = publish(3, 0, bins, lens, hello, 1); /* 0x2 module sent by 0x3 */
	o = run(&t);
	cr_expect_eq(o.code, VM_FAIL_PUBLISH_ADDRESS);
	/* corrupted bytes: the module's own verifier error */
	bins[0][lens[0] - 1] ^= 1;
	t.sequence = 1;
	o = run(&t);
	cr_expect_eq(o.code, VM_FAIL_VERIFY_BASE + VM_VERR_BAD_HASH);
	free(bins[0]);
	cr_expect(!module_stored(2, "user"));
}

/* The publish fee is paid before any module is verified: with gas for the
 * fee alone, a bundle still fails on its own defect rather than running out. */
Test(vm_txn, publish_with_gas_for_the_fee_alone_is_verified)
{
	uint8_t *bins[1];
	size_t lens[1];
	const char *hello[1] = {publish_v1};
	vm_txn t = publish(3, 0, bins, lens, hello, 1); /* 0x2 module sent by 0x3 */
	t.gas_limit = VM_GAS_TXN_BASE + lens[0] * VM_GAS_PUBLISH_BYTE;
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_FAILED, "status %u code %s", o.status,
		     vm_fail_name(o.code));
	cr_expect_eq(o.code, VM_FAIL_PUBLISH_ADDRESS, "code %s", vm_fail_name(o.code));
	cr_expect_eq(o.gas_used, t.gas_limit);
	free(bins[0]);
}

/* A bundle that names one module twice fails as a module that does not
 * verify (DUPLICATE_NAME), and nothing is stored. */
Test(vm_txn, bundle_with_a_repeated_name_fails)
{
	uint8_t *bins[2];
	size_t lens[2];
	const char *sources[2] = {publish_v1, publish_v1};
	vm_txn t = publish(2, 0, bins, lens, sources, 2);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_FAILED);
	cr_expect_eq(o.code, VM_FAIL_VERIFY_BASE + VM_VERR_DUPLICATE_NAME, "code %s",
		     vm_fail_name(o.code));
	cr_expect(!module_stored(2, "hello"));
	cr_expect_eq(seqno(2), 1);
	free(bins[0]);
	free(bins[1]);
}

Test(vm_txn, only_mint_creates_coins)
{
	uint8_t *bins[1];
	size_t lens[1];
	const char *thief[1] = {deposit_thief};
	vm_txn t = publish(2, 0, bins, lens, thief, 1);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_FAILED);
	cr_expect_eq(o.code, VM_FAIL_LINK, "code %s", vm_fail_name(o.code));
	cr_expect_eq(balance(2), BALANCE - o.gas_used);
	free(bins[0]);
	cr_expect(!module_stored(2, "thief"));
}

Test(vm_txn, wire_format_round_trip)
{
	vm_txn t = transfer(2, 0, 3, 77), d;
	uint8_t buf[512];
	long n = vm_txn_encode(&t, buf, sizeof buf);
	cr_assert_gt(n, 0);
	cr_expect_eq(vm_txn_encode(&t, NULL, 0), n);
	/* a buffer one byte short is refused, and nothing is written past it */
	uint8_t small[512];
	memset(small, 0xab, sizeof small);
	cr_expect_eq(vm_txn_encode(&t, small, (size_t)n - 1), BSTM_ETOOBIG);
	for (long i = n - 1; i < (long)sizeof small; i++)
		cr_assert_eq(small[i], 0xab, "byte %ld written", i);
	cr_assert_eq(vm_txn_decode(buf, (size_t)n, &d), 0);
	cr_expect_eq(d.sender, 2);
	cr_expect_eq(d.sequence, 0);
	cr_expect_eq(d.gas_limit, GAS);
	cr_expect_str_eq(d.module, "account");
	cr_expect_str_eq(d.function, "transfer");
	cr_expect_eq(d.arg_count, 2);
	cr_expect_eq(d.args[1], 77);
	cr_expect_eq(run(&d).status, BSTM_TXN_SUCCESS);
}

/* What the encoder takes, the decoder takes back: names that are not
 * identifiers, and NULL arguments, are refused up front. */
Test(vm_txn, builders_refuse_what_the_decoder_would)
{
	vm_txn t;
	uint64_t args[1] = {1};
	const char *bad[] = {"",    "a b", "9x",
			     "f-g", "x\n", "abcdefghijklmnopqrstuvwxyz0123456"}; /* 33 bytes */
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_expect_eq(vm_txn_call(&t, 1, 0, GAS, 1, 1, bad[i], "f", args, 1), BSTM_EINVAL,
			     "module \"%s\"", bad[i]);
		cr_expect_eq(vm_txn_call(&t, 1, 0, GAS, 1, 1, "m", bad[i], args, 1), BSTM_EINVAL,
			     "function \"%s\"", bad[i]);
	}
	cr_expect_eq(vm_txn_call(&t, 1, 0, GAS, 1, 1, NULL, "f", args, 1), BSTM_EINVAL);
	cr_expect_eq(vm_txn_call(&t, 1, 0, GAS, 1, 1, "m", NULL, args, 1), BSTM_EINVAL);
	cr_expect_eq(vm_txn_call(&t, 1, 0, GAS, 1, 1, "m", "f", NULL, 1), BSTM_EINVAL);
	cr_expect_eq(vm_txn_call(NULL, 1, 0, GAS, 1, 1, "m", "f", args, 1), BSTM_EINVAL);
	cr_assert_eq(vm_txn_call(&t, 1, 0, GAS, 1, 1, "m", "f", NULL, 0), 0);
	/* A name edited in place after building. */
	strcpy(t.function, "no good");
	cr_expect_eq(vm_txn_encode(&t, NULL, 0), BSTM_EINVAL);
	cr_expect_eq(vm_txn_encode(NULL, NULL, 0), BSTM_EINVAL);
	vm_txn d;
	cr_expect_eq(vm_txn_decode(NULL, 10, &d), BSTM_EFORMAT);
	cr_expect_eq(d.malformed, 1);
	uint8_t byte = 1;
	cr_expect_eq(vm_txn_decode(&byte, 1, NULL), BSTM_EINVAL);
	/* An empty module given as NULL encodes (the loader refuses it later). */
	vm_txn p = {.kind = VM_PAYLOAD_PUBLISH, .module_count = 1};
	uint8_t buf[128];
	long n = vm_txn_encode(&p, buf, sizeof buf);
	cr_assert_gt(n, 0);
	cr_assert_eq(vm_txn_decode(buf, (size_t)n, &d), 0);
	cr_expect_eq(d.module_count, 1);
	cr_expect_eq(d.module_lens[0], 0);
}

Test(vm_txn, malformed_transactions_are_rejected)
{
	vm_txn t = transfer(2, 0, 3, 77), d;
	uint8_t buf[512];
	long n = vm_txn_encode(&t, buf, sizeof buf);
	for (long cut = 0; cut < n; cut++)
		cr_expect_eq(vm_txn_decode(buf, (size_t)cut, &d), BSTM_EFORMAT, "cut %ld", cut);
	buf[n] = 0;
	cr_expect_eq(vm_txn_decode(buf, (size_t)n + 1, &d), BSTM_EFORMAT);
	uint8_t bad[512];
	memcpy(bad, buf, (size_t)n);
	bad[0] = 9; /* version */
	cr_expect_eq(vm_txn_decode(bad, (size_t)n, &d), BSTM_EFORMAT);
	memcpy(bad, buf, (size_t)n);
	bad[33] = 7; /* payload kind */
	cr_expect_eq(vm_txn_decode(bad, (size_t)n, &d), BSTM_EFORMAT);
	memcpy(bad, buf, (size_t)n);
	bad[43] = '-'; /* module name character */
	cr_expect_eq(vm_txn_decode(bad, (size_t)n, &d), BSTM_EFORMAT);
	/* a decode failure leaves a transaction that is DISCARDED as MALFORMED */
	bstm_txn_outcome o = run(&d);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED);
	cr_expect_eq(o.code, VM_DISCARD_MALFORMED);
	cr_expect_eq(vm_txn_call(&t, 1, 0, 1, 1, 1, "a_name_that_is_far_too_long_to_fit_in", "f",
				 NULL, 0),
		     BSTM_EINVAL);
}

Test(vm_txn, every_rejection_marks_the_transaction_malformed)
{
	vm_txn t = transfer(2, 0, 3, 77), d;
	uint8_t buf[512];
	long n = vm_txn_encode(&t, buf, sizeof buf);
	for (long cut = 0; cut < n; cut++) {
		cr_assert_eq(vm_txn_decode(buf, (size_t)cut, &d), BSTM_EFORMAT);
		cr_expect_eq(d.malformed, 1, "cut %ld", cut);
		cr_expect_eq(d.kind, 0, "cut %ld", cut);
	}
	buf[0] = 9; /* version */
	cr_assert_eq(vm_txn_decode(buf, (size_t)n, &d), BSTM_EFORMAT);
	cr_expect_eq(d.malformed, 1);
	cr_expect_eq(d.kind, 0);
}

/* Counts the wire format does not allow: 17 arguments, a bundle of no
 * modules, and a module length that runs past the end of the input. */
Test(vm_txn, decode_refuses_counts_out_of_range)
{
	uint64_t args[VM_MAX_ARGS];
	for (unsigned i = 0; i < VM_MAX_ARGS; i++)
		args[i] = i;
	vm_txn t, d;
	cr_assert_eq(vm_txn_call(&t, 2, 0, GAS, 1, 1, "m", "f", args, VM_MAX_ARGS), 0);
	uint8_t buf[512];
	long n = vm_txn_encode(&t, buf, sizeof buf);
	cr_assert_gt(n, 0);
	cr_assert_eq(vm_txn_decode(buf, (size_t)n, &d), 0);
	cr_expect_eq(d.arg_count, VM_MAX_ARGS);
	/* the count byte precedes the arguments; one more argument after them */
	size_t count_at = (size_t)n - 8 * VM_MAX_ARGS - 1;
	cr_assert_eq(buf[count_at], VM_MAX_ARGS);
	buf[count_at] = VM_MAX_ARGS + 1;
	memset(buf + n, 0, 8);
	cr_expect_eq(vm_txn_decode(buf, (size_t)n + 8, &d), BSTM_EFORMAT);
	cr_expect_eq(d.malformed, 1);

	/* a publish of one empty module, then of none; the payload follows the
	 * version, sender, sequence, gas limit, gas price and kind */
	enum { PAYLOAD = 1 + 4 * 8 + 1 };
	vm_txn p = {.sender = 2, .kind = VM_PAYLOAD_PUBLISH, .module_count = 1};
	n = vm_txn_encode(&p, buf, sizeof buf);
	cr_assert_eq(n, PAYLOAD + 1 + 4);
	cr_assert_eq(vm_txn_decode(buf, (size_t)n, &d), 0);
	buf[PAYLOAD] = 0; /* the module count; the module's length dropped */
	cr_expect_eq(vm_txn_decode(buf, PAYLOAD + 1, &d), BSTM_EFORMAT);
	cr_expect_eq(d.malformed, 1);

	/* two modules, the first one's length (200) past the end of the input,
	 * which holds 2 more bytes: the input is exactly the bytes passed, so
	 * nothing may be read beyond them */
	size_t len = PAYLOAD + 1 + 4 + 2;
	uint8_t *exact = malloc(len);
	cr_assert_not_null(exact);
	memcpy(exact, buf, PAYLOAD);
	memset(exact + PAYLOAD, 0, len - PAYLOAD);
	exact[PAYLOAD] = 2;
	exact[PAYLOAD + 1] = 200; /* little-endian u32 */
	cr_expect_eq(vm_txn_decode(exact, len, &d), BSTM_EFORMAT);
	cr_expect_eq(d.malformed, 1);
	free(exact);
}

/* A transaction filled in by hand that breaks the format's limits. */
static void expect_discarded_malformed(const vm_txn *t, const char *what)
{
	size_t before = vm_kvmap_count(map);
	uint64_t seq = seqno(2), coins = balance(2);
	bstm_txn_outcome o = run(t);
	cr_expect_eq(o.status, BSTM_TXN_DISCARDED, "%s: status %u", what, o.status);
	cr_expect_eq(o.code, VM_DISCARD_MALFORMED, "%s: code %lu", what, o.code);
	cr_expect_eq(o.gas_used, 0, "%s", what);
	cr_expect_eq(vm_kvmap_count(map), before, "%s", what);
	cr_expect_eq(seqno(2), seq, "%s", what);
	cr_expect_eq(balance(2), coins, "%s", what);
	cr_expect_eq(vm_txn_encode(t, NULL, 0), BSTM_EINVAL, "%s", what);
}

Test(vm_txn, hand_filled_transactions_are_held_to_the_format)
{
	vm_txn t = transfer(2, 0, 3, 77);
	t.arg_count = VM_MAX_ARGS + 1;
	expect_discarded_malformed(&t, "17 arguments");
	t.arg_count = 200;
	expect_discarded_malformed(&t, "200 arguments");

	t = transfer(2, 0, 3, 77);
	memset(t.function, 'a', sizeof t.function); /* not terminated */
	expect_discarded_malformed(&t, "unterminated function name");
	t = transfer(2, 0, 3, 77);
	memset(t.module, 'a', sizeof t.module);
	expect_discarded_malformed(&t, "unterminated module name");
	t = transfer(2, 0, 3, 77);
	strcpy(t.module, "two words");
	expect_discarded_malformed(&t, "module name with a space");
	t = transfer(2, 0, 3, 77);
	t.malformed = 1; /* marked by the node; the payload itself is fine */
	expect_discarded_malformed(&t, "marked malformed");

	uint8_t *bins[1];
	size_t lens[1];
	const char *sources[1] = {publish_v1};
	vm_txn p = publish(2, 0, bins, lens, sources, 1);
	t = p;
	t.module_count = 0;
	expect_discarded_malformed(&t, "no module");
	t = p;
	t.module_count = VM_MAX_BUNDLE + 1;
	for (unsigned i = 0; i < VM_MAX_BUNDLE; i++) {
		t.modules[i] = bins[0];
		t.module_lens[i] = lens[0];
	}
	expect_discarded_malformed(&t, "17 modules");
	t = p;
	t.modules[0] = NULL;
	expect_discarded_malformed(&t, "module bytes missing");
	t.kind = 7;
	expect_discarded_malformed(&t, "unknown payload kind");
	/* Lengths the wire format cannot carry. With the second, the bundle's
	 * fee (10 gas a byte) used to wrap around 2^64 to 4 gas, and the first
	 * module was still decoded and verified. */
	t = p;
	t.module_lens[0] = (size_t)UINT32_MAX + 1;
	expect_discarded_malformed(&t, "module of 2^32 bytes");
	t = p;
	t.module_count = 2;
	t.modules[1] = bins[0];
	t.module_lens[1] = (size_t)(UINT64_MAX / VM_GAS_PUBLISH_BYTE + 1 - lens[0]);
	cr_assert_eq((uint64_t)((lens[0] + t.module_lens[1]) * VM_GAS_PUBLISH_BYTE), 4);
	expect_discarded_malformed(&t, "bundle whose fee wraps");

	/* The limits themselves are allowed. */
	t = transfer(2, 0, 3, 77);
	cr_expect_eq(run(&t).status, BSTM_TXN_SUCCESS);
	t = p;
	t.sequence = 1;
	cr_expect_eq(run(&t).status, BSTM_TXN_SUCCESS);
	free(bins[0]);
}

/* ------------------------------------------------------------------------ */
/* Through the executor                                                      */

Test(vm_txn, executor_adapter_matches_direct_execution)
{
	enum { N = 200 };
	vm_txn txns[N];
	uint64_t seq[11] = {0};
	for (unsigned i = 0; i < N; i++) {
		uint64_t from = 1 + i % 10, to = 1 + (i * 7 + 3) % 10;
		txns[i] = transfer(from, seq[from]++, to, i);
	}
	bstm_config cfg;
	bstm_config_init(&cfg);
	cfg.threads = 2;
	bstm_executor *ex;
	cr_assert_eq(bstm_executor_create(&cfg, &ex), 0);
	vm_engine *engine;
	cr_assert_eq(vm_engine_create(NULL, 2, &engine), 0);
	vm_engine_begin_block(engine, txns, N);
	bstm_block block = {
		.size = sizeof block, .txn_count = N, .execute = vm_txn_execute, .ctx = engine};
	bstm_base_view base;
	vm_kvmap_base_view(map, &base);
	bstm_output *seq_out, *par_out;
	cr_assert_eq(bstm_execute_block_sequential(ex, &block, &base, &seq_out), 0);
	vm_engine_begin_block(engine, txns, N);
	cr_assert_eq(bstm_execute_block(ex, &block, &base, &par_out), 0);
	cr_expect(bstm_output_equal(seq_out, par_out));
	/* the same transactions directly on the map */
	for (unsigned i = 0; i < N; i++) {
		bstm_txn_outcome o = run(&txns[i]);
		cr_expect_eq(o.status, seq_out->txns[i].status);
		cr_expect_eq(o.gas_used, seq_out->txns[i].gas_used);
	}
	bstm_output_free(seq_out);
	bstm_output_free(par_out);
	vm_engine_destroy(engine);
	bstm_executor_destroy(ex);
}

/* Transactions the engine was not given fail the block call, never crash. */
Test(vm_txn, engine_without_the_transactions_fails_the_block)
{
	enum { N = 8 };
	vm_txn txns[N];
	for (unsigned i = 0; i < N; i++)
		txns[i] = transfer(1 + i, 0, 9, 1);
	bstm_config cfg;
	bstm_config_init(&cfg);
	cfg.threads = 2;
	cfg.small_block_threshold = 0;
	bstm_executor *ex;
	cr_assert_eq(bstm_executor_create(&cfg, &ex), 0);
	vm_engine *engine;
	cr_assert_eq(vm_engine_create(NULL, 2, &engine), 0);
	bstm_block block = {
		.size = sizeof block, .txn_count = N, .execute = vm_txn_execute, .ctx = engine};
	bstm_base_view base;
	vm_kvmap_base_view(map, &base);
	bstm_output *out = NULL;
	/* never begun, no array, an array shorter than the block */
	for (int round = 0; round < 3; round++) {
		if (round == 1)
			vm_engine_begin_block(engine, NULL, N);
		if (round == 2)
			vm_engine_begin_block(engine, txns, N - 1);
		cr_expect_eq(bstm_execute_block_sequential(ex, &block, &base, &out), BSTM_ETXN,
			     "round %d", round);
		cr_expect_null(out);
		cr_expect_eq(bstm_execute_block(ex, &block, &base, &out), BSTM_ETXN, "round %d",
			     round);
		cr_expect_null(out);
	}
	vm_engine_begin_block(NULL, txns, N); /* no engine: nothing happens */
	vm_engine_begin_block(engine, txns, N);
	cr_expect_eq(bstm_execute_block(ex, &block, &base, &out), 0);
	cr_assert_not_null(out);
	cr_expect_eq(out->txn_count, N);
	bstm_output_free(out);
	vm_engine_destroy(engine);
	bstm_executor_destroy(ex);
}

/* ------------------------------------------------------------------------ */
/* What the view may do to a transaction                                     */

typedef struct hostile {
	uint64_t rng;
	unsigned reads, fail_at;
	int fail_with;
	unsigned writes;
	uint8_t junk[64];
} hostile;

static int hostile_read(void *ctx, const void *key, size_t key_len, const void **value,
			size_t *value_len)
{
	hostile *h = ctx;
	if (++h->reads == h->fail_at)
		return h->fail_with;
	/* code comes from the real state, so the body runs */
	if (((const uint8_t *)key)[0] == 'M' || h->fail_with)
		return vm_kvmap_get(map, key, key_len, value, value_len);
	/* resources: any bytes at all, as a speculative read may return */
	h->rng = h->rng * 6364136223846793005ull + 1442695040888963407ull;
	uint64_t r = h->rng >> 17;
	if (r % 5 == 0)
		return BSTM_ENOTFOUND;
	for (unsigned i = 0; i < sizeof h->junk; i++)
		h->junk[i] = (uint8_t)(r >> (i % 7 * 8)) ^ (uint8_t)i;
	*value = h->junk;
	*value_len = r % 3 == 0 ? (r >> 8) % 24 : 8;
	return 0;
}

static int hostile_write(void *ctx, const void *key, size_t key_len, const void *value,
			 size_t value_len)
{
	((hostile *)ctx)->writes++;
	return 0;
}

static int hostile_remove(void *ctx, const void *key, size_t key_len)
{
	((hostile *)ctx)->writes++;
	return 0;
}

static int hostile_emit(void *ctx, const void *data, size_t len)
{
	return 0;
}

static const vm_state_ops hostile_ops = {hostile_read, hostile_write, hostile_remove, hostile_emit};

Test(vm_txn, any_read_value_gives_a_status)
{
	hostile h = {.rng = 1};
	const char *fns[][2] = {{"account", "transfer"},
				{"amm", "swap_a"},
				{"counter", "increment"},
				{"compute", "hash"}};
	for (unsigned i = 0; i < 4000; i++) {
		vm_txn t;
		uint64_t args[2] = {1 + i % 10, i % 50};
		const char **f = fns[i % 4];
		uint32_t argc = i % 4 == 2 ? 0 : i % 4 == 3 ? 1 : 2;
		cr_assert_eq(vm_txn_call(&t, 2, 0, GAS, 1, 1, f[0], f[1], args, argc), 0);
		h.rng = h.rng * 31 + i;
		bstm_txn_outcome o;
		int rc = vm_execute_txn(inst, &t, &hostile_ops, &h, &o);
		cr_assert_eq(rc, 0);
		cr_assert_leq(o.status, BSTM_TXN_DISCARDED);
		cr_assert_leq(o.gas_used, GAS);
	}
}

Test(vm_txn, dependency_and_storage_errors_stop_at_once)
{
	static const int errors[] = {BSTM_DEPENDENCY, BSTM_ESTORAGE, BSTM_ENOMEM};
	for (unsigned e = 0; e < 3; e++) {
		for (unsigned at = 1; at <= 4; at++) { /* a transfer reads 4 keys */
			hostile h = {.fail_at = at, .fail_with = errors[e]};
			vm_txn t = transfer(2, 0, 3, 10);
			bstm_txn_outcome o;
			int rc = vm_execute_txn(inst, &t, &hostile_ops, &h, &o);
			cr_expect_eq(rc, errors[e], "read %u: rc %d", at, rc);
			cr_expect_eq(h.writes, 0, "read %u: wrote before failing", at);
			cr_expect_eq(h.reads, at, "read %u: kept reading", at);
		}
	}
}

Test(vm_txn, prologue_keys_match_the_resource_layout)
{
	/* The prologue spells its keys out. Genesis wrote the accounts under
	 * vm_resource_key: a transfer that is not DISCARDED found them, and the
	 * epilogue's writes must land under the same keys. */
	vm_txn t = transfer(0x0102030405060708ull % 10 + 1, 0, 3, 1);
	bstm_txn_outcome o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "status %u code %lu", o.status, o.code);
	cr_expect_eq(seqno(t.sender), 1);
	cr_expect_eq(balance(t.sender), BALANCE - 1 - o.gas_used);
}

Test(vm_txn, upgrades_keep_public_functions_and_resources)
{
	uint8_t *bins[1];
	size_t lens[1];
	const char *v1[1] = {publish_v1};
	vm_txn t = publish(2, 0, bins, lens, v1, 1);
	cr_assert_eq(run(&t).status, BSTM_TXN_SUCCESS);
	free(bins[0]);
	static const char *const bad[] = {
		/* get dropped */
		"module 0x2 hello\nresource Greeting n\n"
		"function public other () -> (u64) locals 0\npush 1\nret\nend\n",
		/* get's signature changed */
		"module 0x2 hello\nresource Greeting n\n"
		"function public get (u64) -> (u64) locals 0\nload 0\nret\nend\n",
		/* get made private */
		"module 0x2 hello\nresource Greeting n\n"
		"function private get () -> (u64) locals 0\npush 1\nret\nend\n",
		/* Greeting's layout changed */
		"module 0x2 hello\nresource Greeting n m\n"
		"function public get () -> (u64) locals 0\npush 1\nret\nend\n",
		/* get's return count changed */
		"module 0x2 hello\nresource Greeting n\n"
		"function public get () -> (u64, u64) locals 0\npush 1\npush 2\nret\nend\n",
		/* Greeting's field renamed */
		"module 0x2 hello\nresource Greeting m\n"
		"function public get () -> (u64) locals 0\npush 1\nret\nend\n",
		/* Greeting dropped */
		"module 0x2 hello\nresource Other n\n"
		"function public get () -> (u64) locals 0\npush 1\nret\nend\n",
	};
	uint64_t seq = 1;
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char *src[1] = {bad[i]};
		t = publish(2, seq++, bins, lens, src, 1);
		bstm_txn_outcome o = run(&t);
		cr_expect_eq(o.status, BSTM_TXN_FAILED, "case %u", i);
		cr_expect_eq(o.code, VM_FAIL_INCOMPATIBLE_UPGRADE, "case %u: %s", i,
			     vm_fail_name(o.code));
		free(bins[0]);
	}
	/* adding functions and resources is fine */
	const char *good[1] = {"module 0x2 hello\nresource Greeting n\nresource Extra a\n"
			       "function public get () -> (u64) locals 0\npush 9\nret\nend\n"
			       "function public more () -> () locals 0\nret\nend\n"};
	t = publish(2, seq++, bins, lens, good, 1);
	bstm_txn_outcome o = run(&t);
	cr_expect_eq(o.status, BSTM_TXN_SUCCESS, "code %s", vm_fail_name(o.code));
	free(bins[0]);
}

/* An importer that is already loaded and linked on this instance calls the
 * new code once its dependency is upgraded. */
Test(vm_txn, importers_see_an_upgraded_dependency)
{
	static const char reader[] = "module 0x2 reader\n"
				     "import 0x2 hello get () -> (u64)\n"
				     "function entry show () -> () locals 0\n"
				     "\tcallx hello.get\n\tabort\nend\n";
	static const char hello_v2[] = "module 0x2 hello\nresource Greeting n\n"
				       "function public get () -> (u64) locals 0\n"
				       "\tpush 9\n\tret\nend\n";
	uint8_t *bins[2];
	size_t lens[2];
	const char *v1[2] = {publish_v1, reader};
	vm_txn t = publish(2, 0, bins, lens, v1, 2);
	cr_assert_eq(run(&t).status, BSTM_TXN_SUCCESS);
	free(bins[0]);
	free(bins[1]);
	vm_txn show;
	cr_assert_eq(vm_txn_call(&show, 3, 0, GAS, 1, 2, "reader", "show", NULL, 0), 0);
	bstm_txn_outcome o = run(&show);
	cr_expect_eq(o.status, BSTM_TXN_ABORTED);
	cr_expect_eq(o.code, 7); /* v1's get reads the Greeting its init stored */
	const char *v2[1] = {hello_v2};
	t = publish(2, 1, bins, lens, v2, 1);
	o = run(&t);
	cr_assert_eq(o.status, BSTM_TXN_SUCCESS, "code %s", vm_fail_name(o.code));
	free(bins[0]);
	show.sequence = 1;
	o = run(&show);
	cr_expect_eq(o.status, BSTM_TXN_ABORTED);
	cr_expect_eq(o.code, 9);
}
