/*
 * test_vm_verify.c - malformed modules, each rejected with its own error.
 *
 * Four kinds of case: text the assembler accepts but the verifier rejects;
 * a valid module edited in memory (indices the assembler would never
 * produce); a valid binary edited byte by byte, re-hashed so that the
 * decoder gets past the hash and meets the defect itself; and binaries
 * written from scratch with counts and sizes just past the format's limits.
 * Code and binaries right at each limit are accepted.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

typedef struct text_case {
	const char *what;
	const char *text;
	int verr;
} text_case;

#define HEAD "module 0x2 m\n"

static const text_case text_cases[] = {
	{"local index", HEAD "function public f () -> () locals 1\nload 1\npop\nret\nend\n",
	 VM_VERR_LOCAL_INDEX},
	{"constant index",
	 HEAD "const 1\nfunction public f () -> () locals 0\nconst 1\npop\nret\nend\n",
	 VM_VERR_CONST_INDEX},
	{"underflow", HEAD "function public f () -> () locals 0\npop\nret\nend\n",
	 VM_VERR_STACK_UNDERFLOW},
	{"underflow in binary op",
	 HEAD "function public f () -> () locals 0\npush 1\nadd\nret\nend\n",
	 VM_VERR_STACK_UNDERFLOW},
	{"underflow at call",
	 HEAD "function public f () -> () locals 0\ncall g\nret\nend\n"
	      "function public g (u64) -> () locals 0\nret\nend\n",
	 VM_VERR_STACK_UNDERFLOW},
	{"underflow at rnew",
	 HEAD "resource R a b\nfunction public f () -> () locals 0\npush 1\n"
	      "push 2\nrnew R\nret\nend\n",
	 VM_VERR_STACK_UNDERFLOW},
	{"join mismatch",
	 HEAD "function public f (u64) -> () locals 0\nload 0\njz l\npush 1\nl:\n"
	      "ret\nend\n",
	 VM_VERR_STACK_MISMATCH},
	{"loop grows the stack",
	 HEAD "function public f () -> () locals 0\nl:\npush 1\njmp l\nend\n",
	 VM_VERR_STACK_MISMATCH},
	{"falls off the end", HEAD "function public f () -> () locals 0\npush 1\npop\nend\n",
	 VM_VERR_FALLS_OFF_END},
	{"conditional falls off",
	 HEAD "function public f () -> () locals 0\nl:\npush 0\njz l\nend\n",
	 VM_VERR_FALLS_OFF_END},
	{"ret arity", HEAD "function public f () -> (u64) locals 0\nret\nend\n",
	 VM_VERR_RETURN_ARITY},
	{"ret with extra values", HEAD "function public f () -> () locals 0\npush 1\nret\nend\n",
	 VM_VERR_RETURN_ARITY},
	{"duplicate function",
	 HEAD "function public f () -> () locals 0\nret\nend\n"
	      "function public f () -> () locals 0\nret\nend\n",
	 VM_VERR_DUPLICATE_NAME},
	{"duplicate resource", HEAD "resource R a\nresource R b\n", VM_VERR_DUPLICATE_NAME},
	{"duplicate field", HEAD "resource R a a\n", VM_VERR_DUPLICATE_NAME},
	{"duplicate import", HEAD "import 0x3 a f () -> ()\nimport 0x3 a f () -> ()\n",
	 VM_VERR_DUPLICATE_NAME},
	{"public init", HEAD "function public init () -> () locals 0\nret\nend\n",
	 VM_VERR_BAD_INIT},
	{"init with params", HEAD "function private init (u64) -> () locals 0\nret\nend\n",
	 VM_VERR_BAD_INIT},
	{"init with returns", HEAD "function private init () -> (u64) locals 0\npush 1\nret\nend\n",
	 VM_VERR_BAD_INIT},
	{"entry returns", HEAD "function entry f () -> (u64) locals 0\npush 1\nret\nend\n",
	 VM_VERR_ENTRY_RETURNS},
	{"empty code", HEAD "function public f () -> () locals 0\nend\n", VM_VERR_EMPTY_CODE},
	{"emit 0", HEAD "function public f () -> () locals 0\nemit 0\nret\nend\n",
	 VM_VERR_BAD_COUNT},
	{"emit 17", HEAD "function public f () -> () locals 0\nemit 17\nret\nend\n",
	 VM_VERR_BAD_COUNT},
	{"too many locals", HEAD "function public f (u64) -> () locals 255\nret\nend\n",
	 VM_VERR_TOO_MANY_LOCALS},
	{"imports itself", HEAD "import 0x2 m f () -> ()\n", VM_VERR_IMPORT_SELF},
};

Test(vm_verify, text_table)
{
	for (size_t i = 0; i < sizeof text_cases / sizeof text_cases[0]; i++) {
		const text_case *c = &text_cases[i];
		vm_module *m;
		int line = 0;
		cr_assert_eq(vm_assemble_module(c->text, &m, &line), 0, "%s: syntax, line %d",
			     c->what, line);
		int verr = vm_verify(m);
		cr_expect_eq(verr, c->verr, "%s: got %s, want %s", c->what, vm_verr_name(verr),
			     vm_verr_name(c->verr));
		cr_expect(!m->verified);
		vm_module_free(m);
	}
}

Test(vm_verify, stack_limit)
{
	char *text = malloc(16 * 1024);
	strcpy(text, HEAD "function public f () -> () locals 0\n");
	for (unsigned i = 0; i < VM_MAX_FUNCTION_STACK + 1; i++)
		strcat(text, "push 1\n");
	strcat(text, "ret\nend\n");
	vm_module *m;
	cr_assert_eq(vm_assemble_module(text, &m, NULL), 0);
	cr_expect_eq(vm_verify(m), VM_VERR_STACK_LIMIT);
	vm_module_free(m);
	free(text);
}

/* Each limit is inclusive: code right at it verifies. */
Test(vm_verify, limits_themselves_verify)
{
	char *text = malloc(32 * 1024);
	/* emit 16, the largest event */
	strcpy(text, HEAD "function public f () -> () locals 0\n");
	for (unsigned i = 0; i < VM_MAX_EMIT; i++)
		strcat(text, "push 1\n");
	strcat(text, "emit 16\nret\nend\n");
	vm_module *m;
	cr_assert_eq(vm_assemble_module(text, &m, NULL), 0);
	cr_expect_eq(vm_verify(m), 0, "emit 16: %s", vm_verr_name(vm_verify(m)));
	vm_module_free(m);

	/* an operand stack exactly VM_MAX_FUNCTION_STACK high */
	strcpy(text, HEAD "function public f () -> () locals 0\n");
	for (unsigned i = 0; i < VM_MAX_FUNCTION_STACK; i++)
		strcat(text, "push 1\n");
	for (unsigned i = 0; i < VM_MAX_FUNCTION_STACK; i++)
		strcat(text, "pop\n");
	strcat(text, "ret\nend\n");
	cr_assert_eq(vm_assemble_module(text, &m, NULL), 0);
	cr_expect_eq(vm_verify(m), 0, "stack of 1024: %s", vm_verr_name(vm_verify(m)));
	cr_expect_eq(m->functions[0].max_stack, VM_MAX_FUNCTION_STACK);
	vm_module_free(m);
	free(text);

	/* params + locals = 255 */
	cr_assert_eq(vm_assemble_module(HEAD "function public f (u64) -> () locals 254\nret\nend\n",
					&m, NULL),
		     0);
	cr_expect_eq(vm_verify(m), 0);
	vm_module_free(m);

	/* a module of the same name at another address is not the module itself */
	cr_assert_eq(vm_assemble_module(
			     HEAD "import 0x3 m f () -> ()\n"
				  "function public g () -> () locals 0\ncallx m.f\nret\nend\n",
			     &m, NULL),
		     0);
	cr_expect_eq(vm_verify(m), 0, "import 0x3 m from 0x2 m: %s", vm_verr_name(vm_verify(m)));
	vm_module_free(m);
}

static const char base[] = HEAD "import 0x3 lib g () -> ()\n"
				"resource R a\n"
				"function public f () -> () locals 0\n"
				"push 1\nrget R a\npop\ncallx lib.g\ncall f\nl:\njmp l\nend\n";

typedef struct edit_case {
	const char *what;
	unsigned insn;
	uint32_t a;
	uint8_t b;
	int op; /* -1: keep */
	int verr;
} edit_case;

static const edit_case edit_cases[] = {
	{"resource index", 1, 7, 0, -1, VM_VERR_RESOURCE_INDEX},
	{"field index", 1, 0, 1, -1, VM_VERR_FIELD_INDEX},
	{"import index", 3, 1, 0, -1, VM_VERR_IMPORT_INDEX},
	{"function index", 4, 1, 0, -1, VM_VERR_FUNC_INDEX},
	{"jump out of the code", 5, 6, 0, -1, VM_VERR_JUMP_TARGET},
	{"unknown opcode", 0, 0, 0, VM_OP_COUNT_, VM_VERR_UNKNOWN_OPCODE},
};

Test(vm_verify, edited_module_table)
{
	for (size_t i = 0; i < sizeof edit_cases / sizeof edit_cases[0]; i++) {
		const edit_case *c = &edit_cases[i];
		vm_module *m;
		cr_assert_eq(vm_assemble_module(base, &m, NULL), 0);
		cr_assert_eq(vm_verify(m), 0, "the base module verifies");
		vm_insn *in = &m->functions[0].code[c->insn];
		in->a = c->a;
		in->b = c->b;
		if (c->op >= 0)
			in->op = (uint8_t)c->op;
		int verr = vm_verify(m);
		cr_expect_eq(verr, c->verr, "%s: got %s, want %s", c->what, vm_verr_name(verr),
			     vm_verr_name(c->verr));
		vm_module_free(m);
	}
}

/* ------------------------------------------------------------------------ */

static void rehash(uint8_t *bin, size_t len)
{
	vm_sha256(bin, len - 32, bin + len - 32);
}

/* "module 0x2 m" with one function `f (u64) -> () locals 0` whose code is
 * `l: jmp l`. Byte offsets below follow the layout in binary.c. */
static const char tiny[] = HEAD "function public f (u64) -> () locals 0\nl:\njmp l\nend\n";
enum {
	OFF_NAME = 14,
	OFF_FN_COUNT = 21,
	OFF_VISIBILITY = 25,
	OFF_PARAM_TYPE = 27,
	OFF_CODE_LEN = 30,
	OFF_CODE = 34,
	TINY_BODY = 39,
};

typedef struct byte_case {
	const char *what;
	size_t offset;
	uint8_t value;
	bool rehash;
	int verr;
} byte_case;

static const byte_case byte_cases[] = {
	{"magic", 0, 'X', true, VM_VERR_BAD_MAGIC},
	{"version", 4, 2, false, VM_VERR_BAD_VERSION},
	{"hash", OFF_CODE + 1, 9, false, VM_VERR_BAD_HASH},
	{"name", OFF_NAME, '9', true, VM_VERR_BAD_NAME},
	{"name length", OFF_NAME - 1, 0, true, VM_VERR_BAD_NAME},
	{"too many functions", OFF_FN_COUNT + 1, 0xff, true, VM_VERR_TOO_BIG},
	{"visibility", OFF_VISIBILITY, 3, true, VM_VERR_BAD_VISIBILITY},
	{"param type", OFF_PARAM_TYPE, 7, true, VM_VERR_BAD_TYPE},
	{"unknown opcode", OFF_CODE, 0xee, true, VM_VERR_UNKNOWN_OPCODE},
	{"jump inside an instruction", OFF_CODE + 1, 2, true, VM_VERR_JUMP_TARGET},
	{"jump to the end", OFF_CODE + 1, 5, true, VM_VERR_JUMP_TARGET},
	{"code length zero", OFF_CODE_LEN, 0, true, VM_VERR_EMPTY_CODE},
	{"code length past the end", OFF_CODE_LEN, 200, true, VM_VERR_TRUNCATED},
	{"operand cut short", OFF_CODE_LEN, 3, true, VM_VERR_TRUNCATED},
};

Test(vm_verify, byte_table)
{
	uint8_t *good;
	size_t len;
	cr_assert_eq(vm_assemble(tiny, &good, &len, NULL, NULL), 0);
	cr_assert_eq(len, TINY_BODY + 32, "layout changed: %zu", len);
	cr_assert_eq(good[OFF_CODE], VM_OP_JMP);
	for (size_t i = 0; i < sizeof byte_cases / sizeof byte_cases[0]; i++) {
		const byte_case *c = &byte_cases[i];
		uint8_t bin[TINY_BODY + 32];
		memcpy(bin, good, len);
		bin[c->offset] = c->value;
		if (c->rehash)
			rehash(bin, len);
		vm_module *m = NULL;
		int verr = vm_module_decode(bin, len, &m);
		cr_expect_eq(verr, c->verr, "%s: got %s, want %s", c->what, vm_verr_name(verr),
			     vm_verr_name(c->verr));
		cr_expect_null(m);
	}
	free(good);
}

Test(vm_verify, truncations_and_trailing_bytes)
{
	uint8_t *good;
	size_t len;
	cr_assert_eq(vm_assemble(tiny, &good, &len, NULL, NULL), 0);
	uint8_t bin[TINY_BODY + 64];
	/* every cut of the body, re-hashed, is TRUNCATED (or EMPTY/TRAILING
	 * where the cut lands on a count); never accepted */
	for (size_t body = 5; body < TINY_BODY; body++) {
		memcpy(bin, good, body);
		size_t n = body + 32;
		rehash(bin, n);
		vm_module *m = NULL;
		int verr = vm_module_decode(bin, n, &m);
		cr_expect_neq(verr, 0, "cut at %zu accepted", body);
		cr_expect_null(m);
	}
	memcpy(bin, good, TINY_BODY);
	bin[TINY_BODY] = 0;
	rehash(bin, TINY_BODY + 33);
	vm_module *m = NULL;
	cr_expect_eq(vm_module_decode(bin, TINY_BODY + 33, &m), VM_VERR_TRAILING_BYTES);
	cr_expect_eq(vm_module_decode(good, 10, &m), VM_VERR_TRUNCATED);
	cr_expect_eq(vm_module_decode((const uint8_t *)"", 0, &m), VM_VERR_TRUNCATED);
	free(good);
}

/* A module binary built by hand, for counts and sizes the assembler and the
 * encoder never write. */
typedef struct bin_builder {
	uint8_t *buf;
	size_t len;
} bin_builder;

static void b_bytes(bin_builder *b, const void *p, size_t n)
{
	b->buf = realloc(b->buf, b->len + n);
	cr_assert_not_null(b->buf);
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void b_le(bin_builder *b, uint64_t v, unsigned width)
{
	uint8_t bytes[8];
	for (unsigned i = 0; i < width; i++)
		bytes[i] = (uint8_t)(v >> (8 * i));
	b_bytes(b, bytes, width);
}

static void b_name(bin_builder *b, const char *name)
{
	b_le(b, strlen(name), 1);
	b_bytes(b, name, strlen(name));
}

/* "BSVM", version, address 0x2, name m */
static void b_head(bin_builder *b)
{
	b_bytes(b, VM_MODULE_MAGIC, 4);
	b_le(b, VM_MODULE_VERSION, 1);
	b_le(b, 2, 8);
	b_name(b, "m");
}

/* A public function `name` () -> () locals 0 of `code_len` bytes: nops, then ret. */
static void b_function(bin_builder *b, const char *name, uint32_t code_len)
{
	b_name(b, name);
	b_le(b, VM_PUBLIC, 1);
	b_le(b, 0, 1); /* params */
	b_le(b, 0, 1); /* returns */
	b_le(b, 0, 1); /* locals */
	b_le(b, code_len, 4);
	uint8_t *code = calloc(code_len, 1); /* VM_OP_NOP is 0 */
	cr_assert_not_null(code);
	code[code_len - 1] = VM_OP_RET;
	b_bytes(b, code, code_len);
	free(code);
}

/* Append the hash and decode; the builder is emptied. */
static int b_decode(bin_builder *b)
{
	uint8_t hash[32];
	vm_sha256(b->buf, b->len, hash);
	b_bytes(b, hash, 32);
	vm_module *m = NULL;
	int verr = vm_module_decode(b->buf, b->len, &m);
	if (verr == 0)
		cr_expect_not_null(m);
	else
		cr_expect_null(m);
	vm_module_free(m);
	free(b->buf);
	b->buf = NULL;
	b->len = 0;
	return verr;
}

/* Decode 0x2 m holding only resource R of `fields` fields f0, f1, ... */
static int decode_resource_with_fields(unsigned fields)
{
	bin_builder b = {0};
	b_head(&b);
	b_le(&b, 0, 2); /* imports */
	b_le(&b, 0, 2); /* constants */
	b_le(&b, 1, 2);
	b_name(&b, "R");
	b_le(&b, fields, 1);
	for (unsigned f = 0; f < fields; f++) {
		char name[16];
		snprintf(name, sizeof name, "f%u", f);
		b_name(&b, name);
	}
	b_le(&b, 0, 2); /* functions */
	return b_decode(&b);
}

/* Decode 0x2 m holding only `imports` imports 0x3 lib f0, f1, ... () -> () */
static int decode_imports(unsigned imports)
{
	bin_builder b = {0};
	b_head(&b);
	b_le(&b, imports, 2);
	for (unsigned i = 0; i < imports; i++) {
		char name[16];
		snprintf(name, sizeof name, "f%u", i);
		b_le(&b, 3, 8);
		b_name(&b, "lib");
		b_name(&b, name);
		b_le(&b, 0, 1); /* params */
		b_le(&b, 0, 1); /* returns */
	}
	b_le(&b, 0, 2); /* constants */
	b_le(&b, 0, 2); /* resources */
	b_le(&b, 0, 2); /* functions */
	return b_decode(&b);
}

/* Decode 0x2 m holding only `functions` functions of `code_len` code bytes. */
static int decode_functions(unsigned functions, uint32_t code_len)
{
	bin_builder b = {0};
	b_head(&b);
	b_le(&b, 0, 2); /* imports */
	b_le(&b, 0, 2); /* constants */
	b_le(&b, 0, 2); /* resources */
	b_le(&b, functions, 2);
	for (unsigned f = 0; f < functions; f++) {
		char name[16];
		snprintf(name, sizeof name, "f%u", f);
		b_function(&b, name, code_len);
	}
	return b_decode(&b);
}

/* The decoder enforces the format's limits itself, on binaries that are
 * otherwise well formed: a resource has 1 to 16 fields, a module at most
 * 256 imports, a function at most 65535 code bytes, a module at most 1 MiB. */
Test(vm_verify, decoder_limits)
{
	cr_expect_eq(decode_resource_with_fields(1), 0);
	cr_expect_eq(decode_resource_with_fields(VM_MAX_FIELDS), 0);
	cr_expect_eq(decode_resource_with_fields(0), VM_VERR_BAD_COUNT);
	cr_expect_eq(decode_resource_with_fields(VM_MAX_FIELDS + 1), VM_VERR_TOO_BIG);

	cr_expect_eq(decode_imports(VM_MAX_IMPORTS), 0);
	cr_expect_eq(decode_imports(VM_MAX_IMPORTS + 1), VM_VERR_TOO_BIG);

	cr_expect_eq(decode_functions(1, VM_MAX_CODE_BYTES), 0);
	cr_expect_eq(decode_functions(1, VM_MAX_CODE_BYTES + 1), VM_VERR_TOO_BIG);

	/* 17 functions of 65535 bytes each: every part within its own limit,
	 * the whole over 1 MiB */
	cr_expect_eq(decode_functions(17, VM_MAX_CODE_BYTES), VM_VERR_TOO_BIG);
}

Test(vm_verify, names_of_every_error)
{
	for (int v = 0; v < VM_VERR_COUNT_; v++) {
		cr_expect_str_neq(vm_verr_name(v), "UNKNOWN");
		cr_expect_str_neq(vm_verr_message(v), "unknown verifier error");
	}
}
