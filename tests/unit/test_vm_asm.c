/*
 * test_vm_asm.c - assembler, disassembler and binary format.
 *
 * Round trips: binary -> text -> binary is the identity for every module we
 * have, and canonical text -> binary -> text is the identity too.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

/* Uses every instruction format, an import, constants and resources. */
static const char every_format[] = "module 0xabc every\n"
				   "import 0x1 account balance (u64) -> (u64)\n"
				   "const 18446744073709551615\n"
				   "const 5\n"
				   "resource Pair left right\n"
				   "resource Flag on\n"
				   "\n"
				   "function entry main (u64, u64) -> () locals 3\n"
				   "\tnop\n"
				   "\tpush 4294967295\n"
				   "\tconst 1\n"
				   "\tadd\n"
				   "\tstore 2\n"
				   "\tload 0\n"
				   "\tcallx account.balance\n"
				   "\tpop\n"
				   "L8:\n"
				   "\tload 2\n"
				   "\tjz L14\n"
				   "\tload 2\n"
				   "\tpush 1\n"
				   "\tsub\n"
				   "\tstore 2\n"
				   "L14:\n"
				   "\tsender\n"
				   "\texists Flag\n"
				   "\tjnz L8\n"
				   "\tsender\n"
				   "\tpush 1\n"
				   "\tpush 2\n"
				   "\trnew Pair\n"
				   "\tsender\n"
				   "\trget Pair right\n"
				   "\tsender\n"
				   "\tswap\n"
				   "\trset Pair left\n"
				   "\tsender\n"
				   "\trdel Pair\n"
				   "\tpush 0\n"
				   "\tpush 8\n"
				   "\tmstore\n"
				   "\tpush 0\n"
				   "\tmload\n"
				   "\tdup\n"
				   "\temit 2\n"
				   "\tpush 32\n"
				   "\tpush 0\n"
				   "\tpush 8\n"
				   "\thash\n"
				   "\tcall helper\n"
				   "\tret\n"
				   "end\n"
				   "\n"
				   "function private helper () -> () locals 0\n"
				   "\tpush 1\n"
				   "\tpush 2\n"
				   "\tmul\n"
				   "\tpush 3\n"
				   "\tdiv\n"
				   "\tpush 3\n"
				   "\tmod\n"
				   "\tpush 1\n"
				   "\tand\n"
				   "\tpush 1\n"
				   "\tor\n"
				   "\tpush 1\n"
				   "\txor\n"
				   "\tpush 1\n"
				   "\tshl\n"
				   "\tpush 1\n"
				   "\tshr\n"
				   "\tpush 1\n"
				   "\teq\n"
				   "\tpush 1\n"
				   "\tne\n"
				   "\tpush 1\n"
				   "\tlt\n"
				   "\tpush 1\n"
				   "\tle\n"
				   "\tpush 1\n"
				   "\tgt\n"
				   "\tpush 1\n"
				   "\tge\n"
				   "\tnot\n"
				   "\tjz L33\n"
				   "\tpush 9\n"
				   "\tabort\n"
				   "L33:\n"
				   "\tjmp L35\n"
				   "L34:\n"
				   "\tret\n"
				   "L35:\n"
				   "\tjmp L34\n"
				   "end\n";

static void round_trip(const char *source, bool canonical)
{
	uint8_t *bin, *bin2;
	size_t len, len2;
	int line = 0, verr = 0;
	int rc = vm_assemble(source, &bin, &len, &line, &verr);
	cr_assert_eq(rc, 0, "assemble rc %d line %d verr %s", rc, line, vm_verr_name(verr));
	char *text;
	cr_assert_eq(vm_disassemble(bin, len, &text, &verr), 0, "verr %s", vm_verr_name(verr));
	if (canonical)
		cr_expect_str_eq(text, source);
	cr_assert_eq(vm_assemble(text, &bin2, &len2, &line, &verr), 0, "line %d", line);
	cr_expect_eq(len2, len);
	cr_expect(memcmp(bin, bin2, len) == 0, "binary differs after a round trip");
	char *text2;
	cr_assert_eq(vm_disassemble(bin2, len2, &text2, NULL), 0);
	cr_expect_str_eq(text2, text);
	free(bin);
	free(bin2);
	free(text);
	free(text2);
}

Test(vm_asm, every_format_round_trips_canonically)
{
	round_trip(every_format, true);
}

Test(vm_asm, stdlib_round_trips)
{
	for (size_t i = 0; i < vm_stdlib_count; i++)
		round_trip(vm_stdlib[i].source, false);
}

Test(vm_asm, every_opcode_is_covered)
{
	vm_module *m;
	int line;
	cr_assert_eq(vm_assemble_module(every_format, &m, &line), 0);
	bool seen[VM_OP_COUNT_] = {0};
	for (uint32_t f = 0; f < m->function_count; f++)
		for (uint32_t i = 0; i < m->functions[f].code_count; i++)
			seen[m->functions[f].code[i].op] = true;
	for (int op = 0; op < VM_OP_COUNT_; op++)
		cr_expect(seen[op], "%s not in the round-trip module",
			  vm_opinfo_table[op].mnemonic);
	vm_module_free(m);
}

Test(vm_asm, push_interns_wide_constants)
{
	uint8_t *bin;
	size_t len;
	cr_assert_eq(vm_assemble("module 0x2 m\nfunction public f () -> (u64, u64) locals 0\n"
				 "push 0x100000000\npush 4294967296\nret\nend\n",
				 &bin, &len, NULL, NULL),
		     0);
	vm_module *m;
	cr_assert_eq(vm_module_decode(bin, len, &m), 0);
	cr_expect_eq(m->const_count, 1);
	cr_expect_eq(m->consts[0], 1ull << 32);
	cr_expect_eq(m->functions[0].code[0].op, VM_OP_CONST);
	cr_expect_eq(m->functions[0].code[1].op, VM_OP_CONST);
	vm_module_free(m);
	free(bin);
}

Test(vm_asm, comments_blank_lines_and_labels_on_a_line)
{
	uint8_t *bin;
	size_t len;
	int line = 0;
	cr_expect_eq(vm_assemble("; a comment\n\nmodule 0x2 m ; trailing\n"
				 "function public f () -> () locals 0\n"
				 "top: push 1 ; label and instruction\n jz top\n  ret\nend\n",
				 &bin, &len, &line, NULL),
		     0, "line %d", line);
	free(bin);
}

static void syntax_error(const char *text, int want_line)
{
	uint8_t *bin = NULL;
	size_t len;
	int line = 0;
	int rc = vm_assemble(text, &bin, &len, &line, NULL);
	cr_expect_eq(rc, BSTM_EFORMAT, "accepted: %s", text);
	cr_expect_eq(line, want_line, "line %d, want %d for: %s", line, want_line, text);
	free(bin);
}

Test(vm_asm, syntax_errors_name_the_line)
{
	syntax_error("function public f () -> () locals 0\nret\nend\n", 1);
	syntax_error("module 0x2 m\nmodule 0x2 m\n", 2);
	syntax_error("module zz m\n", 1);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\nbogus\nend\n", 3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\njmp nowhere\nend\n", 3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\ncall nothing\nret\nend\n",
		     3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\nret\n", 4);
	syntax_error("module 0x2 m\nfunction public f (u32) -> () locals 0\nret\nend\n", 2);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\npush 1 2\nend\n", 3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\npush 99999999999999999999"
		     "\nend\n",
		     3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\nrget R x\nend\n", 3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\ncallx a.b\nend\n", 3);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\nx:\nx:\nret\nend\n", 4);
	syntax_error("module 0x2 m\nfunction sometimes f () -> () locals 0\nret\nend\n", 2);
	syntax_error("module 0x2 m\nresource R\n", 2);
	syntax_error("module 0x2 m\nfunction public f () -> () locals 0\nret $\nend\n", 3);
}

Test(vm_asm, verifier_errors_come_back)
{
	uint8_t *bin = NULL;
	size_t len;
	int verr = 0;
	cr_expect_eq(
		vm_assemble("module 0x2 m\nfunction public f () -> () locals 0\npop\nret\nend\n",
			    &bin, &len, NULL, &verr),
		BSTM_EVERIFY);
	cr_expect_eq(verr, VM_VERR_STACK_UNDERFLOW);
	free(bin);
}

Test(vm_asm, binary_has_version_and_hash)
{
	uint8_t *bin;
	size_t len;
	cr_assert_eq(vm_assemble(every_format, &bin, &len, NULL, NULL), 0);
	cr_expect(memcmp(bin, "BSVM", 4) == 0);
	cr_expect_eq(bin[4], VM_MODULE_VERSION);
	uint8_t hash[32];
	vm_sha256(bin, len - 32, hash);
	cr_expect(memcmp(hash, bin + len - 32, 32) == 0);
	vm_module *m;
	cr_assert_eq(vm_module_decode(bin, len, &m), 0);
	cr_expect(memcmp(m->hash, hash, 32) == 0);
	vm_module_free(m);
	free(bin);
}
