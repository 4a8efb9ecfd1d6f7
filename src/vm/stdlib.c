/*
 * stdlib.c - the standard library, as assembler text, and genesis.
 *
 * The modules live at 0x1 and are assembled when a genesis state is built,
 * so the sources below are the only definition of their behaviour. Abort
 * codes are per module and listed in docs/vm.md.
 *
 *   account  sequence numbers and coins: Account{seq}, Coin{balance};
 *            transfer, balance, sequence_number, create_account, mint
 *            (0x1 only); deposit is private, as it creates coins.
 *            The prologue and epilogue (txn.c) rely on this layout.
 *   counter  a global counter at 0x1 (a deliberate hot spot) and per-account
 *            counters; increment emits the new value as an event.
 *   amm      a constant-product pool at 0x1 between tokens a and b with a
 *            0.3% fee; accounts hold Tokens{a, b}, funded by a faucet.
 *   compute  iterated SHA-256 in scratch memory: compute-heavy contracts.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static const char account_source[] =
	"module 0x1 account\n"
	"resource Account seq\n"
	"resource Coin balance\n"
	"\n"
	"; transfer(to, amount): move coins from the sender to `to`\n"
	"function entry transfer (u64, u64) -> () locals 0\n"
	"\tsender\n"
	"\tload 1\n"
	"\tcall withdraw\n"
	"\tload 0\n"
	"\tload 1\n"
	"\tcall deposit\n"
	"\tret\n"
	"end\n"
	"\n"
	"; withdraw(account, amount); abort 1 when the balance is short\n"
	"function private withdraw (u64, u64) -> () locals 1\n"
	"\tload 0\n"
	"\trget Coin balance\n"
	"\tstore 2\n"
	"\tload 2\n"
	"\tload 1\n"
	"\tlt\n"
	"\tjnz short\n"
	"\tload 0\n"
	"\tload 2\n"
	"\tload 1\n"
	"\tsub\n"
	"\trset Coin balance\n"
	"\tret\n"
	"short:\n"
	"\tpush 1\n"
	"\tabort\n"
	"end\n"
	"\n"
	"; deposit(account, amount); abort 2 when there is no such account.\n"
	"; Private: it creates coins, so only transfer and mint may call it.\n"
	"function private deposit (u64, u64) -> () locals 0\n"
	"\tload 0\n"
	"\texists Coin\n"
	"\tjz missing\n"
	"\tload 0\n"
	"\tload 0\n"
	"\trget Coin balance\n"
	"\tload 1\n"
	"\tadd\n"
	"\trset Coin balance\n"
	"\tret\n"
	"missing:\n"
	"\tpush 2\n"
	"\tabort\n"
	"end\n"
	"\n"
	"function public balance (u64) -> (u64) locals 0\n"
	"\tload 0\n"
	"\trget Coin balance\n"
	"\tret\n"
	"end\n"
	"\n"
	"function public sequence_number (u64) -> (u64) locals 0\n"
	"\tload 0\n"
	"\trget Account seq\n"
	"\tret\n"
	"end\n"
	"\n"
	"; create_account(address); abort 3 when it exists\n"
	"function entry create_account (u64) -> () locals 0\n"
	"\tload 0\n"
	"\texists Account\n"
	"\tjnz taken\n"
	"\tload 0\n"
	"\tpush 0\n"
	"\trnew Account\n"
	"\tload 0\n"
	"\tpush 0\n"
	"\trnew Coin\n"
	"\tret\n"
	"taken:\n"
	"\tpush 3\n"
	"\tabort\n"
	"end\n"
	"\n"
	"; mint(to, amount): new coins; abort 4 unless the sender is 0x1\n"
	"function entry mint (u64, u64) -> () locals 0\n"
	"\tsender\n"
	"\tpush 1\n"
	"\tne\n"
	"\tjnz denied\n"
	"\tload 0\n"
	"\tload 1\n"
	"\tcall deposit\n"
	"\tret\n"
	"denied:\n"
	"\tpush 4\n"
	"\tabort\n"
	"end\n";

static const char counter_source[] =
	"module 0x1 counter\n"
	"resource Counter value\n"
	"\n"
	"function private init () -> () locals 0\n"
	"\tpush 1\n"
	"\tpush 0\n"
	"\trnew Counter\n"
	"\tret\n"
	"end\n"
	"\n"
	"; increment(): the global counter at 0x1; emits the new value\n"
	"function entry increment () -> () locals 1\n"
	"\tpush 1\n"
	"\trget Counter value\n"
	"\tpush 1\n"
	"\tadd\n"
	"\tstore 0\n"
	"\tpush 1\n"
	"\tload 0\n"
	"\trset Counter value\n"
	"\tload 0\n"
	"\temit 1\n"
	"\tret\n"
	"end\n"
	"\n"
	"; increment_mine(): the sender's own counter, created on first use\n"
	"function entry increment_mine () -> () locals 0\n"
	"\tsender\n"
	"\texists Counter\n"
	"\tjnz have\n"
	"\tsender\n"
	"\tpush 0\n"
	"\trnew Counter\n"
	"have:\n"
	"\tsender\n"
	"\tsender\n"
	"\trget Counter value\n"
	"\tpush 1\n"
	"\tadd\n"
	"\trset Counter value\n"
	"\tret\n"
	"end\n"
	"\n"
	"function public value (u64) -> (u64) locals 0\n"
	"\tload 0\n"
	"\trget Counter value\n"
	"\tret\n"
	"end\n";

static const char amm_source[] = "module 0x1 amm\n"
				 "resource Pool reserve_a reserve_b\n"
				 "resource Tokens a b\n"
				 "\n"
				 "function private init () -> () locals 0\n"
				 "\tpush 1\n"
				 "\tpush 1000000000\n"
				 "\tpush 1000000000\n"
				 "\trnew Pool\n"
				 "\tret\n"
				 "end\n"
				 "\n"
				 "; faucet(a, b): credit the sender with tokens\n"
				 "function entry faucet (u64, u64) -> () locals 0\n"
				 "\tsender\n"
				 "\texists Tokens\n"
				 "\tjnz have\n"
				 "\tsender\n"
				 "\tpush 0\n"
				 "\tpush 0\n"
				 "\trnew Tokens\n"
				 "have:\n"
				 "\tsender\n"
				 "\tsender\n"
				 "\trget Tokens a\n"
				 "\tload 0\n"
				 "\tadd\n"
				 "\trset Tokens a\n"
				 "\tsender\n"
				 "\tsender\n"
				 "\trget Tokens b\n"
				 "\tload 1\n"
				 "\tadd\n"
				 "\trset Tokens b\n"
				 "\tret\n"
				 "end\n"
				 "\n"
				 "; quote(in, reserve_in, reserve_out) -> out, with a 0.3% fee\n"
				 "function public quote (u64, u64, u64) -> (u64) locals 1\n"
				 "\tload 0\n"
				 "\tpush 997\n"
				 "\tmul\n"
				 "\tstore 3\n"
				 "\tload 2\n"
				 "\tload 3\n"
				 "\tmul\n"
				 "\tload 1\n"
				 "\tpush 1000\n"
				 "\tmul\n"
				 "\tload 3\n"
				 "\tadd\n"
				 "\tdiv\n"
				 "\tret\n"
				 "end\n"
				 "\n"
				 "; swap_a(in, min_out): sell `in` of token a for b.\n"
				 "; abort 1: output below min_out; abort 2: not enough a\n"
				 "function entry swap_a (u64, u64) -> () locals 3\n"
				 "\tpush 1\n"
				 "\trget Pool reserve_a\n"
				 "\tstore 2\n"
				 "\tpush 1\n"
				 "\trget Pool reserve_b\n"
				 "\tstore 3\n"
				 "\tload 0\n"
				 "\tload 2\n"
				 "\tload 3\n"
				 "\tcall quote\n"
				 "\tstore 4\n"
				 "\tload 4\n"
				 "\tload 1\n"
				 "\tlt\n"
				 "\tjnz slippage\n"
				 "\tsender\n"
				 "\trget Tokens a\n"
				 "\tload 0\n"
				 "\tlt\n"
				 "\tjnz short\n"
				 "\tsender\n"
				 "\tsender\n"
				 "\trget Tokens a\n"
				 "\tload 0\n"
				 "\tsub\n"
				 "\trset Tokens a\n"
				 "\tsender\n"
				 "\tsender\n"
				 "\trget Tokens b\n"
				 "\tload 4\n"
				 "\tadd\n"
				 "\trset Tokens b\n"
				 "\tpush 1\n"
				 "\tload 2\n"
				 "\tload 0\n"
				 "\tadd\n"
				 "\trset Pool reserve_a\n"
				 "\tpush 1\n"
				 "\tload 3\n"
				 "\tload 4\n"
				 "\tsub\n"
				 "\trset Pool reserve_b\n"
				 "\tret\n"
				 "slippage:\n"
				 "\tpush 1\n"
				 "\tabort\n"
				 "short:\n"
				 "\tpush 2\n"
				 "\tabort\n"
				 "end\n"
				 "\n"
				 "; swap_b(in, min_out): sell `in` of token b for a\n"
				 "function entry swap_b (u64, u64) -> () locals 3\n"
				 "\tpush 1\n"
				 "\trget Pool reserve_b\n"
				 "\tstore 2\n"
				 "\tpush 1\n"
				 "\trget Pool reserve_a\n"
				 "\tstore 3\n"
				 "\tload 0\n"
				 "\tload 2\n"
				 "\tload 3\n"
				 "\tcall quote\n"
				 "\tstore 4\n"
				 "\tload 4\n"
				 "\tload 1\n"
				 "\tlt\n"
				 "\tjnz slippage\n"
				 "\tsender\n"
				 "\trget Tokens b\n"
				 "\tload 0\n"
				 "\tlt\n"
				 "\tjnz short\n"
				 "\tsender\n"
				 "\tsender\n"
				 "\trget Tokens b\n"
				 "\tload 0\n"
				 "\tsub\n"
				 "\trset Tokens b\n"
				 "\tsender\n"
				 "\tsender\n"
				 "\trget Tokens a\n"
				 "\tload 4\n"
				 "\tadd\n"
				 "\trset Tokens a\n"
				 "\tpush 1\n"
				 "\tload 2\n"
				 "\tload 0\n"
				 "\tadd\n"
				 "\trset Pool reserve_b\n"
				 "\tpush 1\n"
				 "\tload 3\n"
				 "\tload 4\n"
				 "\tsub\n"
				 "\trset Pool reserve_a\n"
				 "\tret\n"
				 "slippage:\n"
				 "\tpush 1\n"
				 "\tabort\n"
				 "short:\n"
				 "\tpush 2\n"
				 "\tabort\n"
				 "end\n";

static const char compute_source[] =
	"module 0x1 compute\n"
	"\n"
	"; hash(n): n rounds of SHA-256 over 32 bytes of scratch memory\n"
	"; seeded with the sender; the result is emitted as an event\n"
	"function entry hash (u64) -> () locals 0\n"
	"\tpush 0\n"
	"\tsender\n"
	"\tmstore\n"
	"loop:\n"
	"\tload 0\n"
	"\tjz done\n"
	"\tpush 0\n"
	"\tpush 0\n"
	"\tpush 32\n"
	"\thash\n"
	"\tload 0\n"
	"\tpush 1\n"
	"\tsub\n"
	"\tstore 0\n"
	"\tjmp loop\n"
	"done:\n"
	"\tpush 0\n"
	"\tmload\n"
	"\temit 1\n"
	"\tret\n"
	"end\n";

const vm_stdlib_module vm_stdlib[] = {
	{"account", account_source},
	{"counter", counter_source},
	{"amm", amm_source},
	{"compute", compute_source},
};
const size_t vm_stdlib_count = sizeof vm_stdlib / sizeof vm_stdlib[0];

static int put_u64_resource(vm_kvmap *map, uint64_t account, const char *resource, uint64_t value)
{
	uint8_t key[VM_MAX_KEY], bytes[8];
	size_t len = vm_resource_key(key, account, VM_STDLIB_ADDRESS, "account", resource);
	for (int i = 0; i < 8; i++)
		bytes[i] = (uint8_t)(value >> (8 * i));
	return vm_kvmap_put(map, key, len, bytes, 8);
}

int vm_genesis(vm_kvmap *map, uint64_t accounts, uint64_t balance)
{
	int rc = 0;
	for (size_t i = 0; i < vm_stdlib_count && rc == 0; i++) {
		uint8_t *bin, key[VM_MAX_KEY];
		size_t len;
		rc = vm_assemble(vm_stdlib[i].source, &bin, &len, NULL, NULL);
		if (rc)
			return BSTM_EINTERNAL;
		rc = vm_kvmap_put(map, key,
				  vm_module_key(key, VM_STDLIB_ADDRESS, vm_stdlib[i].name), bin,
				  len);
		free(bin);
	}
	vm_instance *inst;
	if (rc == 0)
		rc = vm_instance_create(NULL, &inst);
	if (rc)
		return rc;
	for (size_t i = 0; i < vm_stdlib_count && rc == 0; i++) {
		uint64_t gas = UINT64_MAX / 2, code;
		vm_exit e =
			vm_invoke(inst, &vm_kvmap_ops, map, VM_STDLIB_ADDRESS, VM_STDLIB_ADDRESS,
				  vm_stdlib[i].name, "init", NULL, 0, NULL, 0, &gas, &code, true);
		if (e != VM_EXIT_OK && !(e == VM_EXIT_FAIL && code == VM_FAIL_FUNCTION_NOT_FOUND))
			rc = BSTM_EINTERNAL;
	}
	vm_instance_destroy(inst);
	for (uint64_t a = 1; a <= accounts && rc == 0; a++) {
		rc = put_u64_resource(map, a, "Account", 0);
		if (rc == 0)
			rc = put_u64_resource(map, a, "Coin", balance);
	}
	if (rc == 0 && accounts == 0) {
		rc = put_u64_resource(map, VM_STDLIB_ADDRESS, "Account", 0);
		if (rc == 0)
			rc = put_u64_resource(map, VM_STDLIB_ADDRESS, "Coin", balance);
	}
	return rc;
}
