/*
 * test_vm_switch.c - the switch dispatch against the computed-goto one.
 *
 * interp.c is compiled a second time here with VM_COMPUTED_GOTO=0 and its
 * entry point renamed, and every program below must give the same exit,
 * code, results and gas under both dispatchers.
 */
#define VM_COMPUTED_GOTO 0
#define vm_run		 vm_run_switch
#include "vm/interp.c"
#include "../support/testkit_vm.h"
#undef vm_run

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

vm_exit vm_run(vm_exec *x, const vm_module *module, const vm_function *fn, const uint64_t *args,
	       uint64_t *results);

static const char program[] =
	"module 0x5 t\n"
	"resource R x y\n"
	"const 18446744073709551615\n"
	"function public arith (u64, u64) -> (u64, u64, u64, u64) locals 0\n"
	"load 0\nload 1\nadd\nload 0\nload 1\nmul\nload 0\nload 1\ndiv\nload 0\nload 1\n"
	"mod\nret\nend\n"
	"function public bits (u64, u64) -> (u64, u64, u64, u64) locals 0\n"
	"load 0\nload 1\nand\nload 0\nload 1\nxor\nload 0\nload 1\nshl\nload 0\nload 1\n"
	"shr\nret\nend\n"
	"function public cmp (u64, u64) -> (u64, u64, u64, u64) locals 0\n"
	"load 0\nload 1\nlt\nload 0\nload 1\nge\nload 0\nload 1\nne\nload 0\nnot\nret\nend\n"
	"function public loop (u64, u64) -> (u64) locals 1\n"
	"top:\nload 0\njz done\nload 2\nload 1\nadd\nstore 2\nload 0\npush 1\nsub\nstore 0\n"
	"jmp top\ndone:\nload 2\nret\nend\n"
	"function public calls (u64, u64) -> (u64) locals 0\n"
	"load 0\nload 1\ncall helper\nret\nend\n"
	"function private helper (u64, u64) -> (u64) locals 0\n"
	"load 1\njnz more\nload 0\nret\nmore:\nload 0\nload 1\nadd\nload 1\npush 1\nsub\n"
	"call helper\nret\nend\n"
	"function public store (u64, u64) -> (u64) locals 0\n"
	"load 0\nexists R\njnz have\nload 0\nload 1\nload 1\nrnew R\nhave:\nload 0\nload 1\n"
	"rset R y\nload 0\nrget R y\nload 0\nrdel R\nret\nend\n"
	"function public memory (u64, u64) -> (u64) locals 0\n"
	"load 0\nload 1\nmstore\npush 100\nload 0\npush 8\nhash\npush 100\nmload\nload 1\n"
	"dup\nswap\npop\nemit 1\nret\nend\n"
	"function public fails (u64, u64) -> () locals 0\n"
	"load 0\njz arith\nload 1\nabort\narith:\nconst 0\nload 1\nadd\npop\nret\nend\n";

static vm_kvmap *map;

static vm_exit run_one(vm_instance *inst, bool use_switch, const char *fn, const uint64_t *args,
		       uint64_t gas, uint64_t out[5])
{
	vm_instance_reset(inst);
	vm_exec x = {.inst = inst, .ops = &vm_kvmap_ops, .state = map, .sender = 9};
	x.gas_left = UINT64_MAX / 2;
	vm_module *m;
	vm_exit e = vm_load_module(&x, 5, "t", &m);
	cr_assert_eq(e, VM_EXIT_OK);
	x.gas_left = gas;
	int f = vm_module_find_function(m, fn);
	cr_assert_geq(f, 0);
	e = use_switch ? vm_run_switch(&x, m, &m->functions[f], args, out)
		       : vm_run(&x, m, &m->functions[f], args, out);
	out[4] = x.gas_left ^ (x.code << 32);
	return e;
}

Test(vm_switch, both_dispatchers_agree)
{
	cr_assert_eq(vm_kvmap_create(&map), 0);
	char why[128];
	cr_assert_eq(tk_vm_install(map, 5, "t", program, why, sizeof why), 0, "%s", why);
	vm_instance *inst;
	cr_assert_eq(vm_instance_create(NULL, &inst), 0);
	static const char *const fns[] = {"arith", "bits",  "cmp",    "loop",
					  "calls", "store", "memory", "fails"};
	static const uint64_t inputs[][2] = {{7, 3},	 {0, 0},    {1, 64},	{UINT64_MAX, 2},
					     {100, 100}, {5, 1000}, {65530, 1}, {3, 200}};
	static const uint64_t gases[] = {50, 400, 5000, 100000};
	unsigned compared = 0;
	for (unsigned f = 0; f < sizeof fns / sizeof fns[0]; f++)
		for (unsigned i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
			for (unsigned g = 0; g < sizeof gases / sizeof gases[0]; g++) {
				uint64_t a[5] = {0}, b[5] = {0};
				vm_exit ea = run_one(inst, false, fns[f], inputs[i], gases[g], a);
				vm_exit eb = run_one(inst, true, fns[f], inputs[i], gases[g], b);
				cr_expect_eq(ea, eb, "%s(%lu, %lu) gas %lu: exit %d vs %d", fns[f],
					     inputs[i][0], inputs[i][1], gases[g], ea, eb);
				for (int k = 0; k < 5; k++)
					cr_expect_eq(a[k], b[k], "%s(%lu, %lu) gas %lu: word %d",
						     fns[f], inputs[i][0], inputs[i][1], gases[g],
						     k);
				compared++;
			}
	cr_expect_eq(compared, 8 * 8 * 4);
	vm_instance_destroy(inst);
	vm_kvmap_destroy(map);
}
