/*
 * asm.c - the text assembler (syntax in docs/vm.md).
 *
 * Line oriented: a line is a directive, a label, an instruction, or blank;
 * `;` starts a comment. Directives outside a function declare the module,
 * its imports, constants and resources; `function ... end` encloses code.
 * Inside a function the first word is a mnemonic from opcodes.h.
 *
 * Names are resolved the way the disassembler prints them: jumps by label,
 * `call` by function name (forward references allowed), `callx` by
 * module.function of a declared import, `rget`/`rset` by resource and field
 * name. `push n` picks the short form when n fits 32 bits and otherwise
 * interns n in the constant pool and emits `const`. The result is an
 * unverified in-memory module; vm_assemble() encodes and verifies it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

/*
 * The assembler takes every line the disassembler prints. The longest is a
 * declaration whose two signatures list 255 types each: a function line is
 * six words plus two "(u64, ...)" lists of 511 tokens, under 2700 bytes. The
 * longest word is a callx operand, module.function.
 */
#define MAX_TOKENS (6 + 2 * (2 * 255 + 1))
#define MAX_TOKEN  (2 * VM_MAX_NAME + 2)
#define MAX_LINE   4096

typedef struct fixup {
	uint32_t function, insn;
	int line;
	char name[MAX_TOKEN];
} fixup;

typedef struct assembler {
	vm_module *m;
	uint32_t function_cap, import_cap, const_cap, resource_cap;
	uint32_t code_cap;
	vm_function *fn; /* open function, or NULL */
	/* The open function's labels: name -> instruction index (a u32). A
	 * map, not a list: a function may declare labels by the hundred
	 * thousand, and a search per label and per jump would be quadratic. */
	vm_kvmap *labels;
	fixup *jumps, *calls;
	uint32_t jump_count, jump_cap, call_count, call_cap;
	int line;
	bool have_module;
} assembler;

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t size)
{
	if (need <= *cap)
		return true;
	uint32_t n = *cap ? *cap * 2 : 8;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, (size_t)n * size);
	if (!q)
		return false;
	memset((char *)q + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
	*p = q;
	*cap = n;
	return true;
}

static int tokenize(char *line, char (*tok)[MAX_TOKEN])
{
	int n = 0;
	char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			p++;
		if (*p == 0 || *p == ';' || *p == '\n')
			return n;
		if (n == MAX_TOKENS)
			return -1;
		size_t len = 0;
		if (*p == '(' || *p == ')' || *p == ',' || *p == ':') {
			len = 1;
		} else if (p[0] == '-' && p[1] == '>') {
			len = 2;
		} else {
			while ((p[len] >= 'a' && p[len] <= 'z') ||
			       (p[len] >= 'A' && p[len] <= 'Z') ||
			       (p[len] >= '0' && p[len] <= '9') || p[len] == '_' || p[len] == '.')
				len++;
			if (len == 0)
				return -1;
		}
		if (len >= MAX_TOKEN)
			return -1;
		memcpy(tok[n], p, len);
		tok[n][len] = 0;
		n++;
		p += len;
	}
}

/* Decimal, or hexadecimal after 0x; a leading zero does not mean octal. */
static bool number(const char *s, uint64_t *out)
{
	if (!(s[0] >= '0' && s[0] <= '9'))
		return false;
	int base = s[0] == '0' && (s[1] == 'x' || s[1] == 'X') ? 16 : 10;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, base);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static bool name_token(const char *s, char out[VM_MAX_NAME + 1])
{
	size_t n = strlen(s);
	if (!vm_name_valid(s, n))
		return false;
	memcpy(out, s, n + 1);
	return true;
}

/* "( u64 , u64 )" starting at tok[*i]; returns the count or -1. */
static int types(char (*tok)[MAX_TOKEN], int n, int *i)
{
	if (*i >= n || strcmp(tok[*i], "(") != 0)
		return -1;
	int count = 0;
	(*i)++;
	while (*i < n && strcmp(tok[*i], ")") != 0) {
		if (count > 0) {
			if (strcmp(tok[*i], ",") != 0)
				return -1;
			(*i)++;
		}
		if (*i >= n || strcmp(tok[*i], "u64") != 0 || count == 255)
			return -1;
		count++;
		(*i)++;
	}
	if (*i >= n)
		return -1;
	(*i)++;
	return count;
}

/* "(types) -> (types)" */
static bool signature(char (*tok)[MAX_TOKEN], int n, int *i, uint8_t *params, uint8_t *returns)
{
	int p = types(tok, n, i);
	if (p < 0 || *i >= n || strcmp(tok[*i], "->") != 0)
		return false;
	(*i)++;
	int r = types(tok, n, i);
	if (r < 0)
		return false;
	*params = (uint8_t)p;
	*returns = (uint8_t)r;
	return true;
}

static int directive(assembler *as, char (*tok)[MAX_TOKEN], int n)
{
	vm_module *m = as->m;
	uint64_t v;
	int i;
	if (strcmp(tok[0], "module") == 0) {
		if (as->have_module || n != 3 || !number(tok[1], &m->address) ||
		    !name_token(tok[2], m->name))
			return -1;
		as->have_module = true;
		return 0;
	}
	if (!as->have_module)
		return -1;
	if (strcmp(tok[0], "import") == 0) {
		if (n < 4 || m->import_count >= VM_MAX_IMPORTS ||
		    !grow((void **)&m->imports, &as->import_cap, m->import_count + 1,
			  sizeof *m->imports))
			return -1;
		vm_import *im = &m->imports[m->import_count];
		i = 4;
		if (!number(tok[1], &im->address) || !name_token(tok[2], im->module) ||
		    !name_token(tok[3], im->function) ||
		    !signature(tok, n, &i, &im->params, &im->returns) || i != n)
			return -1;
		m->import_count++;
		return 0;
	}
	if (strcmp(tok[0], "const") == 0) {
		if (n != 2 || !number(tok[1], &v) || m->const_count >= VM_MAX_CONSTS ||
		    !grow((void **)&m->consts, &as->const_cap, m->const_count + 1,
			  sizeof *m->consts))
			return -1;
		m->consts[m->const_count++] = v;
		return 0;
	}
	if (strcmp(tok[0], "resource") == 0) {
		if (n < 3 || n - 2 > (int)VM_MAX_FIELDS || m->resource_count >= VM_MAX_RESOURCES ||
		    !grow((void **)&m->resources, &as->resource_cap, m->resource_count + 1,
			  sizeof *m->resources))
			return -1;
		vm_resource *r = &m->resources[m->resource_count];
		if (!name_token(tok[1], r->name))
			return -1;
		for (i = 2; i < n; i++)
			if (!name_token(tok[i], r->fields[i - 2]))
				return -1;
		r->field_count = (uint8_t)(n - 2);
		m->resource_count++;
		return 0;
	}
	if (strcmp(tok[0], "function") == 0) {
		if (n < 3 || m->function_count >= VM_MAX_FUNCTIONS ||
		    !grow((void **)&m->functions, &as->function_cap, m->function_count + 1,
			  sizeof *m->functions))
			return -1;
		vm_function *fn = &m->functions[m->function_count];
		if (strcmp(tok[1], "private") == 0)
			fn->visibility = VM_PRIVATE;
		else if (strcmp(tok[1], "public") == 0)
			fn->visibility = VM_PUBLIC;
		else if (strcmp(tok[1], "entry") == 0)
			fn->visibility = VM_ENTRY;
		else
			return -1;
		i = 3;
		if (!name_token(tok[2], fn->name) ||
		    !signature(tok, n, &i, &fn->params, &fn->returns))
			return -1;
		if (i < n) {
			if (i + 2 != n || strcmp(tok[i], "locals") != 0 ||
			    !number(tok[i + 1], &v) || v > 255)
				return -1;
			fn->locals = (uint8_t)v;
		}
		m->function_count++;
		as->fn = fn;
		as->code_cap = 0;
		vm_kvmap_destroy(as->labels);
		if (vm_kvmap_create(&as->labels) != 0) {
			as->labels = NULL;
			return -1;
		}
		as->jump_count = 0;
		return 0;
	}
	return -1;
}

/* The instruction index of label `name`, or -1. */
static int64_t find_label(const assembler *as, const char *name)
{
	const void *v;
	size_t len;
	uint32_t index;
	if (vm_kvmap_get(as->labels, name, strlen(name), &v, &len) != 0)
		return -1;
	memcpy(&index, v, sizeof index);
	return index;
}

static int add_label(assembler *as, const char *name)
{
	uint32_t index = as->fn->code_count;
	if (find_label(as, name) >= 0 ||
	    vm_kvmap_put(as->labels, name, strlen(name), &index, sizeof index) != 0)
		return -1;
	return 0;
}

static int find_resource(const vm_module *m, const char *name)
{
	for (uint32_t i = 0; i < m->resource_count; i++)
		if (strcmp(m->resources[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int end_function(assembler *as)
{
	vm_function *fn = as->fn;
	for (uint32_t i = 0; i < as->jump_count; i++) {
		int64_t l = find_label(as, as->jumps[i].name);
		if (l < 0) {
			as->line = as->jumps[i].line;
			return -1;
		}
		fn->code[as->jumps[i].insn].a = (uint32_t)l;
	}
	as->fn = NULL;
	return 0;
}

static int add_fixup(fixup **list, uint32_t *count, uint32_t *cap, uint32_t function, uint32_t insn,
		     int line, const char *name)
{
	if (!grow((void **)list, cap, *count + 1, sizeof **list))
		return -1;
	fixup *f = &(*list)[(*count)++];
	f->function = function;
	f->insn = insn;
	f->line = line;
	memcpy(f->name, name, strlen(name) + 1);
	return 0;
}

static int instruction(assembler *as, char (*tok)[MAX_TOKEN], int n)
{
	vm_module *m = as->m;
	vm_function *fn = as->fn;
	int op = -1;
	for (int i = 0; i < VM_OP_COUNT_; i++)
		if (strcmp(tok[0], vm_opinfo_table[i].mnemonic) == 0)
			op = i;
	if (op < 0 || fn->code_count >= VM_MAX_CODE_BYTES ||
	    !grow((void **)&fn->code, &as->code_cap, fn->code_count + 1, sizeof *fn->code))
		return -1;
	uint32_t fi = (uint32_t)(fn - m->functions);
	vm_insn *in = &fn->code[fn->code_count];
	memset(in, 0, sizeof *in);
	in->op = (uint8_t)op;
	unsigned fmt = vm_opinfo_table[op].format;
	int want = fmt == VM_FMT_NONE ? 1 : fmt == VM_FMT_FIELD ? 3 : 2;
	if (n != want)
		return -1;
	uint64_t v = 0;
	switch (fmt) {
	case VM_FMT_NONE:
		break;
	case VM_FMT_IMM:
		if (!number(tok[1], &v))
			return -1;
		if (v > UINT32_MAX) {
			uint32_t k = 0;
			while (k < m->const_count && m->consts[k] != v)
				k++;
			if (k == m->const_count) {
				if (k >= VM_MAX_CONSTS || !grow((void **)&m->consts, &as->const_cap,
								k + 1, sizeof *m->consts))
					return -1;
				m->consts[m->const_count++] = v;
			}
			in->op = VM_OP_CONST;
			v = k;
		}
		in->a = (uint32_t)v;
		break;
	case VM_FMT_LOCAL:
	case VM_FMT_CONST:
	case VM_FMT_COUNT:
		if (!number(tok[1], &v) || v > (fmt == VM_FMT_CONST ? 0xffffu : 0xffu))
			return -1;
		in->a = (uint32_t)v;
		break;
	case VM_FMT_JUMP:
		if (add_fixup(&as->jumps, &as->jump_count, &as->jump_cap, fi, fn->code_count,
			      as->line, tok[1]))
			return -1;
		break;
	case VM_FMT_FUNC:
		if (add_fixup(&as->calls, &as->call_count, &as->call_cap, fi, fn->code_count,
			      as->line, tok[1]))
			return -1;
		break;
	case VM_FMT_IMPORT: {
		const char *dot = strchr(tok[1], '.');
		if (!dot)
			return -1;
		size_t ml = (size_t)(dot - tok[1]);
		uint32_t k = 0;
		while (k < m->import_count && !(strlen(m->imports[k].module) == ml &&
						memcmp(m->imports[k].module, tok[1], ml) == 0 &&
						strcmp(m->imports[k].function, dot + 1) == 0))
			k++;
		if (k == m->import_count)
			return -1;
		in->a = k;
		break;
	}
	case VM_FMT_RES:
	case VM_FMT_FIELD: {
		int r = find_resource(m, tok[1]);
		if (r < 0)
			return -1;
		in->a = (uint32_t)r;
		if (fmt == VM_FMT_FIELD) {
			const vm_resource *res = &m->resources[r];
			unsigned f = 0;
			while (f < res->field_count && strcmp(res->fields[f], tok[2]) != 0)
				f++;
			if (f == res->field_count)
				return -1;
			in->b = (uint8_t)f;
		}
		break;
	}
	}
	fn->code_count++;
	return 0;
}

static int assemble_line(assembler *as, char (*tok)[MAX_TOKEN], int n)
{
	if (!as->fn)
		return directive(as, tok, n);
	if (n == 1 && strcmp(tok[0], "end") == 0)
		return end_function(as);
	if (n >= 2 && strcmp(tok[1], ":") == 0) {
		if (add_label(as, tok[0]))
			return -1;
		if (n == 2)
			return 0;
		return instruction(as, tok + 2, n - 2);
	}
	return instruction(as, tok, n);
}

int vm_assemble_module(const char *text, vm_module **module, int *line)
{
	assembler as = {0};
	int rc = 0;
	if (!module)
		return BSTM_EINVAL;
	*module = NULL;
	if (line)
		*line = 0;
	if (!text)
		return BSTM_EINVAL;
	char(*tok)[MAX_TOKEN] = malloc(MAX_TOKENS * sizeof *tok);
	as.m = vm_module_new();
	if (!tok || !as.m) {
		free(tok);
		vm_module_free(as.m);
		return BSTM_ENOMEM;
	}
	const char *p = text;
	while (*p && rc == 0) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char buf[MAX_LINE];
		as.line++;
		if (len >= sizeof buf) {
			rc = -1;
			break;
		}
		memcpy(buf, p, len);
		buf[len] = 0;
		int n = tokenize(buf, tok);
		if (n < 0)
			rc = -1;
		else if (n > 0)
			rc = assemble_line(&as, tok, n);
		p = eol ? eol + 1 : p + len;
	}
	if (rc == 0 && (as.fn || !as.have_module)) {
		as.line++;
		rc = -1;
	}
	for (uint32_t i = 0; rc == 0 && i < as.call_count; i++) {
		int f = vm_module_find_function(as.m, as.calls[i].name);
		if (f < 0) {
			as.line = as.calls[i].line;
			rc = -1;
		} else {
			as.m->functions[as.calls[i].function].code[as.calls[i].insn].a =
				(uint32_t)f;
		}
	}
	free(tok);
	vm_kvmap_destroy(as.labels);
	free(as.jumps);
	free(as.calls);
	if (line)
		*line = rc ? as.line : 0;
	if (rc) {
		vm_module_free(as.m);
		return BSTM_EFORMAT;
	}
	vm_module_finish(as.m);
	*module = as.m;
	return 0;
}

int vm_assemble(const char *text, uint8_t **binary, size_t *len, int *line, int *verr)
{
	vm_module *m;
	if (verr)
		*verr = 0;
	if (!binary || !len)
		return BSTM_EINVAL;
	int rc = vm_assemble_module(text, &m, line);
	if (rc)
		return rc;
	rc = vm_verify(m);
	if (rc > 0) {
		if (verr)
			*verr = rc;
		vm_module_free(m);
		return BSTM_EVERIFY;
	}
	if (rc == 0)
		rc = vm_module_encode(m, binary, len);
	vm_module_free(m);
	if (rc == BSTM_ETOOBIG) {
		/* code or module bytes over the format's limits: no loader takes it */
		if (verr)
			*verr = VM_VERR_TOO_BIG;
		return BSTM_EVERIFY;
	}
	return rc;
}
