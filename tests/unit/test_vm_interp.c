/*
 * test_vm_interp.c - the semantics of every opcode.
 *
 * Each test assembles a small module at 0x5, stores it in an in-memory map
 * and calls one function directly (vm_invoke: no prologue, no fees), then
 * checks the results, the exit and the failure code.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"
#include "../support/testkit_vm.h"

static vm_kvmap *map;
static vm_instance *inst;

static void setup(void)
{
	cr_assert_eq(vm_kvmap_create(&map), 0);
	cr_assert_eq(vm_instance_create(NULL, &inst), 0);
}

static void teardown(void)
{
	vm_instance_destroy(inst);
	vm_kvmap_destroy(map);
}

/* Replace the suite's instance with one made from cfg. */
static void recreate(const vm_config *cfg)
{
	vm_instance_destroy(inst);
	cr_assert_eq(vm_instance_create(cfg, &inst), 0);
}

TestSuite(vm_interp, .init = setup, .fini = teardown);

static void install(const char *text)
{
	char name[VM_MAX_NAME + 1], why[128];
	uint64_t address;
	cr_assert_eq(sscanf(text, "module %lx %32s", &address, name), 2);
	cr_assert_eq(tk_vm_install(map, address, name, text, why, sizeof why), 0, "%s", why);
}

/* Install "module 0x5 t" holding one function `f` with the given body. */
static void install_fn(const char *signature, const char *body)
{
	char text[8192];
	snprintf(text, sizeof text,
		 "module 0x5 t\nresource R x y\nconst 18446744073709551615\n"
		 "function public f %s locals 4\n%s\nend\n",
		 signature, body);
	install(text);
}

typedef struct run_result {
	vm_exit exit;
	uint64_t code;
	uint64_t gas;
	uint64_t out[4];
} run_result;

static run_result call(const char *fn, const uint64_t *args, uint32_t n, uint64_t gas)
{
	run_result r = {0};
	r.gas = gas;
	r.exit = vm_invoke(inst, &vm_kvmap_ops, map, 42, 5, "t", fn, args, n, r.out, 4, &r.gas,
			   &r.code, true);
	return r;
}

static uint64_t binop(const char *op, uint64_t a, uint64_t b, vm_exit *exit, uint64_t *code)
{
	char body[256];
	snprintf(body, sizeof body, "load 0\nload 1\n%s\nret", op);
	install_fn("(u64, u64) -> (u64)", body);
	uint64_t args[2] = {a, b};
	run_result r = call("f", args, 2, 1000);
	*exit = r.exit;
	*code = r.code;
	return r.out[0];
}

static void expect(const char *op, uint64_t a, uint64_t b, uint64_t want)
{
	vm_exit e;
	uint64_t code;
	uint64_t got = binop(op, a, b, &e, &code);
	cr_expect_eq(e, VM_EXIT_OK, "%s %lu %lu: exit %d", op, a, b, e);
	cr_expect_eq(got, want, "%s %lu %lu = %lu, want %lu", op, a, b, got, want);
}

static void expect_arith_fail(const char *op, uint64_t a, uint64_t b)
{
	vm_exit e;
	uint64_t code;
	binop(op, a, b, &e, &code);
	cr_expect_eq(e, VM_EXIT_FAIL, "%s %lu %lu should fail", op, a, b);
	cr_expect_eq(code, VM_FAIL_ARITHMETIC);
}

Test(vm_interp, arithmetic)
{
	expect("add", 2, 3, 5);
	expect("add", UINT64_MAX - 1, 1, UINT64_MAX);
	expect_arith_fail("add", UINT64_MAX, 1);
	expect("sub", 5, 3, 2);
	expect("sub", 3, 3, 0);
	expect_arith_fail("sub", 3, 4);
	expect("mul", 1ull << 32, (1ull << 31), 1ull << 63);
	expect_arith_fail("mul", 1ull << 32, 1ull << 32);
	expect("div", 17, 5, 3);
	expect_arith_fail("div", 1, 0);
	expect("mod", 17, 5, 2);
	expect_arith_fail("mod", 1, 0);
}

Test(vm_interp, bitwise_and_shifts)
{
	expect("and", 0xff0, 0x0ff, 0x0f0);
	expect("or", 0xf00, 0x00f, 0xf0f);
	expect("xor", 0xff, 0x0f, 0xf0);
	expect("shl", 1, 63, 1ull << 63);
	expect("shr", 1ull << 63, 63, 1);
	expect_arith_fail("shl", 1, 64);
	expect_arith_fail("shr", 1, 64);
}

Test(vm_interp, comparisons)
{
	expect("eq", 4, 4, 1);
	expect("eq", 4, 5, 0);
	expect("ne", 4, 5, 1);
	expect("ne", 4, 4, 0);
	expect("lt", 4, 5, 1);
	expect("lt", 5, 5, 0);
	expect("le", 5, 5, 1);
	expect("le", 6, 5, 0);
	expect("gt", 6, 5, 1);
	expect("gt", 5, 5, 0);
	expect("ge", 5, 5, 1);
	expect("ge", 4, 5, 0);
}

Test(vm_interp, stack_ops_and_constants)
{
	install_fn("() -> (u64, u64, u64)",
		   "push 7\ndup\npush 9\nswap\nconst 0\nnop\npop\nnot\nret");
	run_result r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	/* 7 7 9 -> swap -> 7 9 7 ; const/pop cancel; not 7 = 0 */
	cr_expect_eq(r.out[0], 7);
	cr_expect_eq(r.out[1], 9);
	cr_expect_eq(r.out[2], 0);
	install_fn("() -> (u64, u64, u64, u64)",
		   "push 0\nnot\nconst 0\npush 4294967295\npush 18446744073709551614\nret");
	r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 1);
	cr_expect_eq(r.out[1], UINT64_MAX);
	cr_expect_eq(r.out[2], 0xffffffffu);
	cr_expect_eq(r.out[3], UINT64_MAX - 1);
}

Test(vm_interp, locals_start_zeroed)
{
	install_fn("(u64) -> (u64, u64)", "load 1\nload 0\nstore 2\nload 2\nret");
	uint64_t arg = 11;
	run_result r = call("f", &arg, 1, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 0);
	cr_expect_eq(r.out[1], 11);
}

/* A callee's extra locals start at zero even where the caller's operand
 * stack held values before. */
Test(vm_interp, callee_locals_start_zeroed)
{
	install("module 0x5 t\n"
		"function public g () -> (u64) locals 3\n"
		"load 0\nload 1\nadd\nload 2\nadd\nret\nend\n"
		"function public f () -> (u64) locals 0\n"
		"push 7\npush 7\npush 7\npush 7\npop\npop\npop\npop\ncall g\nret\nend\n");
	run_result r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 0);
}

Test(vm_interp, branches_loop_sum)
{
	/* sum 1..n */
	install_fn("(u64) -> (u64)", "loop:\nload 0\njz done\nload 1\nload 0\nadd\nstore 1\n"
				     "load 0\npush 1\nsub\nstore 0\njmp loop\ndone:\nload 1\nret");
	uint64_t n = 100;
	run_result r = call("f", &n, 1, 100000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 5050);
	install_fn("(u64) -> (u64)", "load 0\njnz yes\npush 10\nret\nyes:\npush 20\nret");
	n = 0;
	cr_expect_eq(call("f", &n, 1, 1000).out[0], 10);
	n = 3;
	cr_expect_eq(call("f", &n, 1, 1000).out[0], 20);
}

Test(vm_interp, calls_and_recursion)
{
	install("module 0x5 t\n"
		"function public fact (u64) -> (u64) locals 0\n"
		"load 0\njz base\nload 0\nload 0\npush 1\nsub\ncall fact\nmul\nret\n"
		"base:\npush 1\nret\nend\n"
		"function public pair (u64) -> (u64, u64) locals 0\n"
		"load 0\npush 1\nadd\nload 0\npush 2\nadd\nret\nend\n"
		"function public f () -> (u64) locals 0\n"
		"push 5\ncall fact\npush 10\ncall pair\nsub\nsub\nret\nend\n");
	uint64_t n = 20;
	run_result r = call("fact", &n, 1, 100000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 2432902008176640000ull);
	/* 120, then 11 12 from pair: 11 - 12 underflows */
	r = call("f", NULL, 0, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_ARITHMETIC);
}

Test(vm_interp, call_results_order)
{
	install("module 0x5 t\n"
		"function public pair (u64) -> (u64, u64) locals 0\n"
		"load 0\npush 1\nadd\nload 0\npush 2\nadd\nret\nend\n"
		"function public f () -> (u64, u64) locals 0\n"
		"push 10\ncall pair\nret\nend\n");
	run_result r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 11);
	cr_expect_eq(r.out[1], 12);
}

Test(vm_interp, cross_module_call)
{
	install("module 0x6 lib\nfunction public twice (u64) -> (u64) locals 0\n"
		"load 0\npush 2\nmul\nret\nend\n");
	install("module 0x5 t\nimport 0x6 lib twice (u64) -> (u64)\n"
		"function public f (u64) -> (u64) locals 0\nload 0\ncallx lib.twice\nret\nend\n");
	uint64_t n = 21;
	run_result r = call("f", &n, 1, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 42);
}

Test(vm_interp, link_failures)
{
	install("module 0x6 lib\nfunction private twice (u64) -> (u64) locals 0\n"
		"load 0\nret\nend\n"
		"function public three (u64) -> (u64) locals 0\nload 0\nret\nend\n");
	install("module 0x5 t\nimport 0x6 lib twice (u64) -> (u64)\n"
		"function public f (u64) -> (u64) locals 0\nload 0\ncallx lib.twice\nret\nend\n");
	uint64_t n = 1;
	run_result r = call("f", &n, 1, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_LINK);
	install("module 0x5 t\nimport 0x6 lib three (u64, u64) -> (u64)\n"
		"function public f (u64) -> (u64) locals 0\nload 0\nload 0\ncallx lib.three\n"
		"ret\nend\n");
	r = call("f", &n, 1, 1000);
	cr_expect_eq(r.code, VM_FAIL_LINK);
	install("module 0x5 t\nimport 0x7 nothing three (u64) -> (u64)\n"
		"function public f (u64) -> (u64) locals 0\nload 0\ncallx nothing.three\n"
		"ret\nend\n");
	r = call("f", &n, 1, 1000);
	cr_expect_eq(r.code, VM_FAIL_MODULE_NOT_FOUND);
}

/* An import must declare the target's return count too. */
Test(vm_interp, link_checks_the_return_count)
{
	install("module 0x6 lib\n"
		"function public three (u64) -> (u64) locals 0\nload 0\nret\nend\n");
	install("module 0x5 t\nimport 0x6 lib three (u64) -> (u64, u64)\n"
		"function public f (u64) -> (u64) locals 0\n"
		"load 0\ncallx lib.three\npop\nret\nend\n");
	uint64_t n = 1;
	run_result r = call("f", &n, 1, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_LINK, "code %s", vm_fail_name(r.code));
}

/* Bytes stored under (0x5, t) that decode to a module of another address
 * or name are not module 0x5 t. */
Test(vm_interp, stored_bytes_of_another_module_are_not_found)
{
	static const char *const others[] = {
		"module 0x6 t\nfunction public f () -> () locals 0\nret\nend\n",
		"module 0x5 other\nfunction public f () -> () locals 0\nret\nend\n",
	};
	for (unsigned i = 0; i < 2; i++) {
		char why[128];
		cr_assert_eq(tk_vm_install(map, 5, "t", others[i], why, sizeof why), 0, "%s", why);
		run_result r = call("f", NULL, 0, 1000);
		cr_expect_eq(r.exit, VM_EXIT_FAIL, "case %u", i);
		cr_expect_eq(r.code, VM_FAIL_MODULE_NOT_FOUND, "case %u: %s", i,
			     vm_fail_name(r.code));
	}
}

/* Install a chain of `n` modules, 0x100 c .. 0x100+n-1 c, each importing the
 * next; calling the first loads all of them. */
static run_result call_chain(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char text[256];
		if (i + 1 < n)
			snprintf(text, sizeof text,
				 "module 0x%x c\nimport 0x%x c f () -> ()\n"
				 "function public f () -> () locals 0\ncallx c.f\nret\nend\n",
				 0x100 + i, 0x100 + i + 1);
		else
			snprintf(text, sizeof text,
				 "module 0x%x c\nfunction public f () -> () locals 0\nret\nend\n",
				 0x100 + i);
		install(text);
	}
	run_result r = {0};
	r.gas = 100000;
	r.exit = vm_invoke(inst, &vm_kvmap_ops, map, 1, 0x100, "c", "f", NULL, 0, r.out, 4, &r.gas,
			   &r.code, false);
	return r;
}

/* A transaction loads at most 32 modules. */
Test(vm_interp, at_most_32_modules_per_call)
{
	run_result r = call_chain(32);
	cr_expect_eq(r.exit, VM_EXIT_OK, "exit %d code %s", r.exit, vm_fail_name(r.code));
	r = call_chain(33);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_TOO_MANY_MODULES, "code %s", vm_fail_name(r.code));
}

Test(vm_interp, import_cycle)
{
	install("module 0x6 a\nimport 0x7 b g () -> ()\n"
		"function public f () -> () locals 0\ncallx b.g\nret\nend\n");
	install("module 0x7 b\nimport 0x6 a f () -> ()\n"
		"function public g () -> () locals 0\ncallx a.f\nret\nend\n");
	run_result r = {0};
	r.gas = 1000;
	r.exit = vm_invoke(inst, &vm_kvmap_ops, map, 1, 6, "a", "f", NULL, 0, r.out, 4, &r.gas,
			   &r.code, false);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_IMPORT_CYCLE);
}

Test(vm_interp, abort_with_code)
{
	install_fn("() -> ()", "push 77\nabort");
	run_result r = call("f", NULL, 0, 100);
	cr_expect_eq(r.exit, VM_EXIT_ABORT);
	cr_expect_eq(r.code, 77);
}

Test(vm_interp, out_of_gas_in_loop)
{
	install_fn("() -> ()", "loop:\njmp loop");
	run_result r = call("f", NULL, 0, 5000);
	cr_expect_eq(r.exit, VM_EXIT_OUT_OF_GAS);
	cr_expect_eq(r.gas, 0);
}

Test(vm_interp, gas_is_the_table)
{
	install_fn("() -> (u64)", "push 1\npush 2\nadd\nret");
	run_result r = call("f", NULL, 0, 100);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	uint64_t want =
		vm_gas_table[VM_OP_PUSH] * 2 + vm_gas_table[VM_OP_ADD] + vm_gas_table[VM_OP_RET];
	/* plus the module bytes read */
	cr_expect_gt(100 - r.gas, want);
	uint64_t module_bytes = 100 - r.gas - want;
	install_fn("() -> (u64)", "push 1\npush 2\nadd\nret");
	r = call("f", NULL, 0, want + module_bytes);
	cr_expect_eq(r.exit, VM_EXIT_OK);
	r = call("f", NULL, 0, want + module_bytes - 1);
	cr_expect_eq(r.exit, VM_EXIT_OUT_OF_GAS);
}

/* A charge that takes exactly the gas left succeeds: a call that fails after
 * its last charge ends the same way with a limit of exactly the gas it used.
 * Here: rget of an absent resource (a read that returns nothing and costs
 * nothing), and a module read followed by a missing function. */
Test(vm_interp, a_limit_of_exactly_the_gas_used_ends_the_same)
{
	install_fn("(u64) -> (u64)", "load 0\nrget R x\nret");
	static const char *const fns[] = {"f", "nothing"};
	for (unsigned i = 0; i < 2; i++) {
		uint64_t acct = 3;
		run_result r = call(fns[i], &acct, 1, 100000);
		cr_assert_eq(r.exit, VM_EXIT_FAIL, "%s", fns[i]);
		uint64_t used = 100000 - r.gas, code = r.code;
		r = call(fns[i], &acct, 1, used);
		cr_expect_eq(r.exit, VM_EXIT_FAIL, "%s with %lu gas: exit %d", fns[i], used,
			     r.exit);
		cr_expect_eq(r.code, code, "%s: code %s", fns[i], vm_fail_name(r.code));
		cr_expect_eq(r.gas, 0, "%s", fns[i]);
	}
}

/* The bytes of module 0x5 t as stored: what a call reads once. */
static uint64_t module_bytes(void)
{
	uint8_t key[VM_MAX_KEY];
	const void *v;
	size_t len;
	cr_assert_eq(vm_kvmap_get(map, key, vm_module_key(key, 5, "t"), &v, &len), 0);
	return len;
}

/* Gas of a call with a generous limit. */
static uint64_t gas_of(const char *fn, const uint64_t *args, uint32_t n)
{
	const uint64_t limit = 1000000;
	run_result r = call(fn, args, n, limit);
	cr_assert_eq(r.exit, VM_EXIT_OK, "%s: exit %d code %s", fn, r.exit, vm_fail_name(r.code));
	return limit - r.gas;
}

/* Storage, event and hash costs are the documented per-byte schedule on top
 * of the instructions and the module read. */
Test(vm_interp, gas_of_storage_events_and_hash)
{
	install("module 0x5 t\nresource R x y\n"
		"function public make (u64) -> () locals 0\n"
		"load 0\npush 1\npush 2\nrnew R\nret\nend\n"
		"function public set (u64) -> () locals 0\nload 0\npush 3\nrset R x\nret\nend\n"
		"function public del (u64) -> () locals 0\nload 0\nrdel R\nret\nend\n"
		"function public ev () -> () locals 0\npush 1\npush 2\npush 3\nemit 3\nret\nend\n"
		"function public h (u64) -> () locals 0\npush 64\npush 0\nload "
		"0\nhash\nret\nend\n");
	const uint8_t *g = vm_gas_table;
	uint64_t mod = module_bytes() * VM_GAS_READ_BYTE, acct = 9;
	uint8_t key[VM_MAX_KEY];
	uint64_t klen = vm_resource_key(key, 9, 5, "t", "R"), value = 16;

	/* rnew reads the absent key (nothing returned), then writes key + value */
	cr_expect_eq(gas_of("make", &acct, 1), mod + g[VM_OP_LOAD] + 2 * g[VM_OP_PUSH] +
						       g[VM_OP_RNEW] + g[VM_OP_RET] +
						       (klen + value) * VM_GAS_WRITE_BYTE);
	/* rset reads the 16 bytes, then writes key + value */
	cr_expect_eq(gas_of("set", &acct, 1), mod + g[VM_OP_LOAD] + g[VM_OP_PUSH] + g[VM_OP_RSET] +
						      g[VM_OP_RET] + value * VM_GAS_READ_BYTE +
						      (klen + value) * VM_GAS_WRITE_BYTE);
	/* rdel reads the 16 bytes, then pays for the key */
	cr_expect_eq(gas_of("del", &acct, 1), mod + g[VM_OP_LOAD] + g[VM_OP_RDEL] + g[VM_OP_RET] +
						      value * VM_GAS_READ_BYTE +
						      klen * VM_GAS_WRITE_BYTE);
	cr_expect_eq(gas_of("ev", NULL, 0), mod + 3 * g[VM_OP_PUSH] + g[VM_OP_EMIT] + g[VM_OP_RET] +
						    3 * 8 * VM_GAS_EVENT_BYTE);
	uint64_t fixed = mod + 2 * g[VM_OP_PUSH] + g[VM_OP_LOAD] + g[VM_OP_HASH] + g[VM_OP_RET];
	const uint64_t lens[] = {0, 63, 64, 200};
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
		cr_expect_eq(gas_of("h", &lens[i], 1),
			     fixed + (lens[i] / 64 + 1) * VM_GAS_HASH_BLOCK, "len %lu", lens[i]);
}

Test(vm_interp, sender)
{
	install_fn("() -> (u64)", "sender\nret");
	cr_expect_eq(call("f", NULL, 0, 100).out[0], 42);
}

Test(vm_interp, resources)
{
	install("module 0x5 t\nresource R x y\n"
		"function public make (u64, u64, u64) -> () locals 0\n"
		"load 0\nload 1\nload 2\nrnew R\nret\nend\n"
		"function public has (u64) -> (u64) locals 0\nload 0\nexists R\nret\nend\n"
		"function public gety (u64) -> (u64) locals 0\nload 0\nrget R y\nret\nend\n"
		"function public setx (u64, u64) -> () locals 0\nload 0\nload 1\nrset R x\nret\n"
		"end\n"
		"function public getx (u64) -> (u64) locals 0\nload 0\nrget R x\nret\nend\n"
		"function public del (u64) -> () locals 0\nload 0\nrdel R\nret\nend\n");
	uint64_t acct = 9, args[3] = {9, 100, 200};
	cr_expect_eq(call("has", &acct, 1, 1000).out[0], 0);
	cr_expect_eq(call("gety", &acct, 1, 1000).code, VM_FAIL_MISSING_RESOURCE);
	cr_assert_eq(call("make", args, 3, 1000).exit, VM_EXIT_OK);
	cr_expect_eq(call("make", args, 3, 1000).code, VM_FAIL_RESOURCE_EXISTS);
	cr_expect_eq(call("has", &acct, 1, 1000).out[0], 1);
	cr_expect_eq(call("gety", &acct, 1, 1000).out[0], 200);
	uint64_t set[2] = {9, 5};
	cr_assert_eq(call("setx", set, 2, 1000).exit, VM_EXIT_OK);
	cr_expect_eq(call("getx", &acct, 1, 1000).out[0], 5);
	cr_expect_eq(call("gety", &acct, 1, 1000).out[0], 200);
	/* the stored bytes: two little-endian u64 fields under the canonical key */
	uint8_t key[VM_MAX_KEY];
	size_t klen = vm_resource_key(key, 9, 5, "t", "R");
	const void *v;
	size_t vlen;
	cr_assert_eq(vm_kvmap_get(map, key, klen, &v, &vlen), 0);
	cr_assert_eq(vlen, 16);
	cr_expect_eq(((const uint8_t *)v)[0], 5);
	cr_expect_eq(((const uint8_t *)v)[8], 200);
	cr_assert_eq(call("del", &acct, 1, 1000).exit, VM_EXIT_OK);
	cr_expect_eq(call("has", &acct, 1, 1000).out[0], 0);
	cr_expect_eq(call("del", &acct, 1, 1000).code, VM_FAIL_MISSING_RESOURCE);
	cr_expect_eq(call("setx", set, 2, 1000).code, VM_FAIL_MISSING_RESOURCE);
}

/* Reads count toward the 65536 keys a call may touch but are never refused;
 * only a write to a new key past that many fails (docs/vm.md). */
Test(vm_interp, reads_fill_the_key_limit_writes_hit_it, .timeout = 60)
{
	install("module 0x5 t\nresource R x\n"
		/* exists R on accounts n-1 .. 0; the count of those that hold it */
		"function public scan (u64) -> (u64) locals 1\n"
		"loop:\nload 0\njz done\nload 0\npush 1\nsub\nstore 0\n"
		"load 0\nexists R\nload 1\nadd\nstore 1\njmp loop\n"
		"done:\nload 1\nret\nend\n"
		"function public scan_then_make (u64) -> () locals 0\n"
		"load 0\ncall scan\npop\npush 7\nload 0\npush 1\nadd\nrnew R\nret\nend\n");
	uint64_t gas = 1ull << 40;
	uint64_t n = 70000;
	run_result r = call("scan", &n, 1, gas);
	cr_expect_eq(r.exit, VM_EXIT_OK, "exit %d code %s", r.exit, vm_fail_name(r.code));
	cr_expect_eq(r.out[0], 0);
	r = call("scan_then_make", &n, 1, gas);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_WRITE_LIMIT, "code %s", vm_fail_name(r.code));
	/* the write is charged before it is refused: with exactly the gas used
	 * above, the charge still succeeds and the write fails the same way */
	uint64_t used = gas - r.gas;
	r = call("scan_then_make", &n, 1, used);
	cr_expect_eq(r.exit, VM_EXIT_FAIL, "exit %d", r.exit);
	cr_expect_eq(r.code, VM_FAIL_WRITE_LIMIT, "code %s", vm_fail_name(r.code));
	cr_expect_eq(r.gas, 0);
	n = 65000;
	r = call("scan_then_make", &n, 1, gas);
	cr_expect_eq(r.exit, VM_EXIT_OK, "exit %d code %s", r.exit, vm_fail_name(r.code));
}

Test(vm_interp, corrupt_resource_is_a_status)
{
	install_fn("(u64) -> (u64)", "load 0\nrget R x\nret");
	uint8_t key[VM_MAX_KEY];
	size_t klen = vm_resource_key(key, 3, 5, "t", "R");
	cr_assert_eq(vm_kvmap_put(map, key, klen, "abc", 3), 0);
	uint64_t acct = 3;
	run_result r = call("f", &acct, 1, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_CORRUPT_RESOURCE);
}

Test(vm_interp, overlay_reads_own_writes_in_one_call)
{
	install("module 0x5 t\nresource R x y\n"
		"function public f (u64) -> (u64) locals 0\n"
		"load 0\npush 1\npush 2\nrnew R\n"
		"load 0\npush 10\nrset R x\n"
		"load 0\nrget R x\nload 0\nrget R y\nadd\n"
		"load 0\nrdel R\nload 0\nexists R\nadd\nret\nend\n");
	uint64_t acct = 4;
	run_result r = call("f", &acct, 1, 10000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], 12);
}

Test(vm_interp, scratch_memory)
{
	install_fn("() -> (u64, u64)",
		   "push 16\nconst 0\nmstore\npush 16\nmload\npush 1000\nmload\n"
		   "ret");
	run_result r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0], UINT64_MAX);
	cr_expect_eq(r.out[1], 0);
	install_fn("() -> (u64)", "push 65529\nmload\nret");
	r = call("f", NULL, 0, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_MEMORY_LIMIT);
	install_fn("() -> ()", "const 0\npush 1\nmstore\nret");
	r = call("f", NULL, 0, 1000);
	cr_expect_eq(r.code, VM_FAIL_MEMORY_LIMIT);
}

Test(vm_interp, hash_matches_sha256)
{
	/* sha256 of 8 bytes "abcdefgh" written little-endian as one u64 */
	install_fn("() -> (u64)", "push 0\nconst 0\nmstore\npush 64\npush 0\npush 8\nhash\n"
				  "push 64\nmload\nret");
	/* const 0 is UINT64_MAX here: hash 8 bytes of 0xff */
	run_result r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	uint8_t input[8], digest[32];
	memset(input, 0xff, 8);
	vm_sha256(input, 8, digest);
	uint64_t want = 0;
	for (int i = 7; i >= 0; i--)
		want = want << 8 | digest[i];
	cr_expect_eq(r.out[0], want);
	install_fn("() -> ()", "push 0\npush 0\npush 65537\nhash\nret");
	cr_expect_eq(call("f", NULL, 0, 100000).code, VM_FAIL_MEMORY_LIMIT);
	/* the 32-byte digest must fit too: at 65504 it ends at the limit, one
	 * byte further it does not */
	install_fn("() -> ()", "push 65504\npush 0\npush 8\nhash\nret");
	r = call("f", NULL, 0, 1000);
	cr_expect_eq(r.exit, VM_EXIT_OK, "exit %d code %s", r.exit, vm_fail_name(r.code));
	install_fn("() -> ()", "push 65505\npush 0\npush 8\nhash\nret");
	r = call("f", NULL, 0, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_MEMORY_LIMIT);
}

static int events_seen;
static uint8_t event_bytes[64];
static size_t event_len;

static int rec_emit(void *ctx, const void *data, size_t len)
{
	events_seen++;
	event_len = len;
	memcpy(event_bytes, data, len < 64 ? len : 64);
	return 0;
}

/* vm_invoke runs nothing whose results would not fit the caller's array. */
Test(vm_interp, invoke_refuses_more_results_than_it_holds)
{
	install_fn("() -> (u64, u64, u64, u64, u64)",
		   "push 1\npush 2\npush 3\npush 4\npush 5\nret");
	run_result r = call("f", NULL, 0, 1000);
	cr_expect_eq(r.exit, VM_EXIT_ERROR);
	cr_expect_eq((int64_t)r.code, BSTM_EINVAL);
	install_fn("() -> (u64, u64, u64, u64)", "push 1\npush 2\npush 3\npush 4\nret");
	r = call("f", NULL, 0, 1000);
	cr_assert_eq(r.exit, VM_EXIT_OK);
	cr_expect_eq(r.out[0] + r.out[1] + r.out[2] + r.out[3], 10);
}

Test(vm_interp, emit)
{
	install_fn("() -> ()", "push 1\npush 2\nemit 2\nret");
	vm_state_ops ops = vm_kvmap_ops;
	ops.emit = rec_emit;
	uint64_t gas = 1000, code;
	vm_exit e = vm_invoke(inst, &ops, map, 1, 5, "t", "f", NULL, 0, NULL, 0, &gas, &code, true);
	cr_assert_eq(e, VM_EXIT_OK);
	cr_expect_eq(events_seen, 1);
	cr_expect_eq(event_len, 16);
	cr_expect_eq(event_bytes[0], 1);
	cr_expect_eq(event_bytes[8], 2);
}

Test(vm_interp, call_depth_and_stack_limits)
{
	install_fn("() -> ()", "call f\nret");
	run_result r = call("f", NULL, 0, 1000000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_CALL_DEPTH);
	/* a deep frame: 255 locals per call exhausts the stack before the depth */
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.stack_values = 1024;
	recreate(&cfg);
	install("module 0x5 t\nfunction public f () -> () locals 255\ncall f\nret\nend\n");
	r = call("f", NULL, 0, 1000000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_STACK_OVERFLOW);
}

/* call_depth counts frames, the entry function's included. */
Test(vm_interp, call_depth_counts_every_frame)
{
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.call_depth = 4;
	recreate(&cfg);
	/* down(n) calls down(n - 1) until n is 0: n + 1 frames */
	install("module 0x5 t\nfunction public down (u64) -> () locals 0\n"
		"load 0\njz done\nload 0\npush 1\nsub\ncall down\nret\ndone:\nret\nend\n");
	uint64_t n = 3;
	run_result r = call("down", &n, 1, 100000);
	cr_expect_eq(r.exit, VM_EXIT_OK, "exit %d code %s", r.exit, vm_fail_name(r.code));
	n = 4;
	r = call("down", &n, 1, 100000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_CALL_DEPTH, "code %s", vm_fail_name(r.code));
}

/* The function a call starts in must fit the stack too: params, locals and
 * its operand stack. */
Test(vm_interp, entry_frame_larger_than_the_stack_overflows)
{
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.stack_values = 16;
	recreate(&cfg);
	install("module 0x5 t\n"
		"function public fits (u64) -> () locals 14\npush 1\npop\nret\nend\n"
		"function public big (u64) -> () locals 15\npush 1\npop\nret\nend\n");
	uint64_t arg = 1;
	run_result r = call("fits", &arg, 1, 1000);
	cr_expect_eq(r.exit, VM_EXIT_OK, "exit %d code %s", r.exit, vm_fail_name(r.code));
	r = call("big", &arg, 1, 1000);
	cr_expect_eq(r.exit, VM_EXIT_FAIL);
	cr_expect_eq(r.code, VM_FAIL_STACK_OVERFLOW, "code %s", vm_fail_name(r.code));
}

Test(vm_interp, dispatch_table_names)
{
	for (int i = 0; i < VM_OP_COUNT_; i++) {
		cr_expect_not_null(vm_opinfo_table[i].mnemonic);
		cr_expect_gt(vm_gas_table[i], 0);
	}
}
