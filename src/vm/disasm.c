/*
 * disasm.c - the disassembler: a module back into canonical assembler text.
 *
 * Canonical means the assembler turns the text back into the same binary,
 * byte for byte: declarations in binary order, constants listed explicitly
 * (and referenced with `const k`, never as `push`), labels named after the
 * instruction index they mark (L<index>), printed only where a jump lands.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

typedef struct text {
	char *buf;
	size_t len, cap;
	bool oom;
} text;

static void out(text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		int n = t->oom ? 0 : vsnprintf(t->buf ? t->buf + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if (t->oom || n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 1024;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *grown = realloc(t->buf, cap);
		if (!grown) {
			t->oom = true;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
}

static void types(text *t, unsigned n)
{
	out(t, "(");
	for (unsigned i = 0; i < n; i++)
		out(t, i ? ", u64" : "u64");
	out(t, ")");
}

static void function(text *t, const vm_module *m, const vm_function *fn, bool *target)
{
	static const char *const visibility[] = {"private", "public", "entry"};
	out(t, "\nfunction %s %s ", visibility[fn->visibility], fn->name);
	types(t, fn->params);
	out(t, " -> ");
	types(t, fn->returns);
	out(t, " locals %u\n", fn->locals);
	memset(target, 0, fn->code_count * sizeof *target);
	for (uint32_t i = 0; i < fn->code_count; i++)
		if (vm_opinfo_table[fn->code[i].op].format == VM_FMT_JUMP &&
		    fn->code[i].a < fn->code_count)
			target[fn->code[i].a] = true;
	for (uint32_t i = 0; i < fn->code_count; i++) {
		const vm_insn *in = &fn->code[i];
		const vm_opinfo *info = &vm_opinfo_table[in->op];
		if (target[i])
			out(t, "L%u:\n", i);
		out(t, "\t%s", info->mnemonic);
		switch (info->format) {
		case VM_FMT_IMM:
		case VM_FMT_LOCAL:
		case VM_FMT_CONST:
		case VM_FMT_COUNT:
			out(t, " %u", in->a);
			break;
		case VM_FMT_JUMP:
			out(t, " L%u", in->a);
			break;
		case VM_FMT_FUNC:
			out(t, " %s", m->functions[in->a].name);
			break;
		case VM_FMT_IMPORT:
			out(t, " %s.%s", m->imports[in->a].module, m->imports[in->a].function);
			break;
		case VM_FMT_RES:
			out(t, " %s", m->resources[in->a].name);
			break;
		case VM_FMT_FIELD:
			out(t, " %s %s", m->resources[in->a].name,
			    m->resources[in->a].fields[in->b]);
			break;
		default:
			break;
		}
		out(t, "\n");
	}
	out(t, "end\n");
}

/* The module must be verified: names and indices are printed unchecked. */
int vm_disassemble_module(const vm_module *m, char **result)
{
	text t = {0};
	out(&t, "module 0x%" PRIx64 " %s\n", m->address, m->name);
	for (uint32_t i = 0; i < m->import_count; i++) {
		const vm_import *im = &m->imports[i];
		out(&t, "import 0x%" PRIx64 " %s %s ", im->address, im->module, im->function);
		types(&t, im->params);
		out(&t, " -> ");
		types(&t, im->returns);
		out(&t, "\n");
	}
	for (uint32_t i = 0; i < m->const_count; i++)
		out(&t, "const %" PRIu64 "\n", m->consts[i]);
	for (uint32_t i = 0; i < m->resource_count; i++) {
		out(&t, "resource %s", m->resources[i].name);
		for (unsigned f = 0; f < m->resources[i].field_count; f++)
			out(&t, " %s", m->resources[i].fields[f]);
		out(&t, "\n");
	}
	uint32_t longest = 1;
	for (uint32_t i = 0; i < m->function_count; i++)
		if (m->functions[i].code_count > longest)
			longest = m->functions[i].code_count;
	bool *target = malloc(longest * sizeof *target);
	if (!target) {
		free(t.buf);
		return BSTM_ENOMEM;
	}
	for (uint32_t i = 0; i < m->function_count; i++)
		function(&t, m, &m->functions[i], target);
	free(target);
	if (t.oom) {
		free(t.buf);
		return BSTM_ENOMEM;
	}
	*result = t.buf;
	return 0;
}

int vm_disassemble(const uint8_t *binary, size_t len, char **result, int *verr)
{
	vm_module *m;
	if (verr)
		*verr = 0;
	if (!result || (!binary && len))
		return BSTM_EINVAL;
	int rc = vm_module_decode(binary, len, &m);
	if (rc == 0) {
		rc = vm_verify(m);
		if (rc)
			vm_module_free(m);
	}
	if (rc > 0) {
		if (verr)
			*verr = rc;
		return BSTM_EVERIFY;
	}
	if (rc < 0)
		return rc;
	rc = vm_disassemble_module(m, result);
	vm_module_free(m);
	return rc;
}
