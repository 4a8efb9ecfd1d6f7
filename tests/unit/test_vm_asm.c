/*
 * test_vm_asm.c - assembler, disassembler and binary format.
 *
 * Round trips: binary -> text -> binary is the identity for every module we
 * have, and canonical text -> binary -> text is the identity too.
 */
#include <criterion/criterion.h>
#include <stdio.h>
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

Test(vm_asm, null_arguments)
{
	uint8_t *bin = NULL;
	size_t len = 0;
	int line = -1, verr = -1;
	cr_expect_eq(vm_assemble(NULL, &bin, &len, &line, &verr), BSTM_EINVAL);
	cr_expect_null(bin);
	cr_expect_eq(line, 0);
	cr_expect_eq(vm_assemble("module 0x2 m\n", NULL, &len, &line, &verr), BSTM_EINVAL);
	cr_expect_eq(vm_assemble("module 0x2 m\n", &bin, NULL, &line, &verr), BSTM_EINVAL);
	char *text = NULL;
	cr_expect_eq(vm_disassemble(NULL, 100, &text, &verr), BSTM_EINVAL);
	cr_expect_null(text);
	cr_assert_eq(vm_assemble("module 0x2 m\n", &bin, &len, &line, &verr), 0);
	cr_expect_eq(vm_disassemble(bin, len, NULL, &verr), BSTM_EINVAL);
	cr_expect_eq(vm_disassemble(NULL, 0, &text, &verr), BSTM_EVERIFY); /* empty: truncated */
	free(bin);
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

/* "(u64, u64, ...)" of n types, appended at `p`; returns the new end. */
static char *type_list(char *p, unsigned n)
{
	*p++ = '(';
	for (unsigned i = 0; i < n; i++)
		p += sprintf(p, i ? ", u64" : "u64");
	*p++ = ')';
	*p = 0;
	return p;
}

Test(vm_asm, longest_declarations_round_trip)
{
	/* canonical text always writes `locals n`: two tokens the source may omit */
	round_trip("module 0x2 m\nfunction public f (u64, u64, u64, u64, u64, u64, u64, u64, "
		   "u64, u64, u64, u64) -> ()\n\tret\nend\n",
		   false);
	char *text = malloc(16384), *p = text;
	p += sprintf(p, "module 0x2 m\nimport 0xffffffffffffffff abcdefghijklmnopqrstuvwxyz_ABCDE "
			"abcdefghijklmnopqrstuvwxyz_ABCDE ");
	p = type_list(p, 255);
	p += sprintf(p, " -> ");
	p = type_list(p, 255);
	p += sprintf(p, "\nresource R");
	for (char c = 'a'; c < 'a' + 16; c++)
		p += sprintf(p, " %c%031d", c, 0);
	p += sprintf(p, "\n\nfunction public abcdefghijklmnopqrstuvwxyz_ABCDE ");
	p = type_list(p, 255);
	p += sprintf(p, " -> ");
	p = type_list(p, 255);
	p += sprintf(p, " locals 0\n");
	for (int i = 0; i < 255; i++)
		p += sprintf(p, "\tload %d\n", i);
	sprintf(p, "\tcallx abcdefghijklmnopqrstuvwxyz_ABCDE.abcdefghijklmnopqrstuvwxyz_ABCDE\n"
		   "\tret\nend\n");
	round_trip(text, true);
	free(text);
}

/* Source of a module of `functions` functions of `pairs` x (push 1, pop),
 * 13 bytes of text a pair. */
static char *long_code(unsigned functions, unsigned pairs)
{
	char *text = malloc(32 + (size_t)functions * (64 + 13 * (size_t)pairs)), *p = text;
	p += sprintf(p, "module 0x2 m\n");
	for (unsigned f = 0; f < functions; f++) {
		p += sprintf(p, "function public f%u () -> () locals 0\n", f);
		for (unsigned i = 0; i < pairs; i++)
			p += sprintf(p, "\tpush 1\n\tpop\n");
		p += sprintf(p, "\tret\nend\n");
	}
	return text;
}

static void assembles_too_big(unsigned functions, unsigned pairs)
{
	char *text = long_code(functions, pairs);
	uint8_t *bin = NULL;
	size_t len;
	int verr = 0;
	cr_expect_eq(vm_assemble(text, &bin, &len, NULL, &verr), BSTM_EVERIFY,
		     "%u functions of %u pairs", functions, pairs);
	cr_expect_eq(verr, VM_VERR_TOO_BIG);
	free(bin);
	free(text);
}

Test(vm_asm, binaries_the_loader_would_refuse_are_too_big)
{
	/* 6 bytes a pair: one function just within the code limit loads */
	char *text = long_code(1, 10900);
	uint8_t *bin;
	size_t len;
	cr_assert_eq(vm_assemble(text, &bin, &len, NULL, NULL), 0);
	vm_module *m;
	cr_expect_eq(vm_module_decode(bin, len, &m), 0);
	vm_module_free(m);
	free(bin);
	free(text);
	assembles_too_big(1, 11000);  /* 66001 code bytes */
	assembles_too_big(17, 10900); /* over 1 MiB */
}

Test(vm_asm, numbers_are_decimal_or_hexadecimal)
{
	uint8_t *bin;
	size_t len;
	int line = 0;
	cr_assert_eq(vm_assemble("module 010 m\nfunction public f () -> (u64, u64, u64) locals 0\n"
				 "push 010\npush 09\npush 0x10\nret\nend\n",
				 &bin, &len, &line, NULL),
		     0, "line %d", line);
	vm_module *m;
	cr_assert_eq(vm_module_decode(bin, len, &m), 0);
	cr_expect_eq(m->address, 10);
	cr_expect_eq(m->functions[0].code[0].a, 10);
	cr_expect_eq(m->functions[0].code[1].a, 9);
	cr_expect_eq(m->functions[0].code[2].a, 16);
	vm_module_free(m);
	free(bin);
}

/* Each label looked up by a linear search made this take minutes. */
Test(vm_asm, labels_by_the_hundred_thousand, .timeout = 30)
{
	enum { JUMPS = 13000, LABELS = 150000 };
	char *text = malloc(64 + (size_t)LABELS * 32), *p = text;
	p += sprintf(p, "module 0x2 m\nfunction public f () -> () locals 0\n");
	for (unsigned i = 0; i < JUMPS; i++)
		p += sprintf(p, "a%u: jmp a%u\n", i, JUMPS - 1 - i);
	for (unsigned i = JUMPS; i < LABELS; i++)
		p += sprintf(p, "a%u:\n", i);
	char *tail = p;
	sprintf(p, "\tret\nend\n");
	uint8_t *bin;
	size_t len;
	int line = 0;
	cr_assert_eq(vm_assemble(text, &bin, &len, &line, NULL), 0, "line %d", line);
	vm_module *m;
	cr_assert_eq(vm_module_decode(bin, len, &m), 0);
	for (uint32_t i = 0; i < JUMPS; i++)
		cr_assert_eq(m->functions[0].code[i].a, JUMPS - 1 - i, "jump %u", i);
	vm_module_free(m);
	free(bin);
	sprintf(tail, "a%u:\n\tret\nend\n", LABELS / 2);
	cr_expect_eq(vm_assemble(text, &bin, &len, &line, NULL), BSTM_EFORMAT);
	cr_expect_eq(line, 2 + LABELS + 1);
	free(text);
}
