/*
 * binary.c - the module binary format: encoder, decoder, content hash.
 *
 * Layout (integers little-endian, str = u8 length + bytes):
 *
 *   "BSVM" | version u8 | address u64 | name str
 *   imports:   u16 n, n x (address u64, module str, function str,
 *                          params u8, param types, returns u8, return types)
 *   constants: u16 n, n x u64
 *   resources: u16 n, n x (name str, fields u8, field names str...)
 *   functions: u16 n, n x (name str, visibility u8, params u8, types,
 *                          returns u8, types, locals u8, code length u32, code)
 *   hash:      SHA-256 of every byte before it (32)
 *
 * The decoder trusts nothing: every length is checked against the bytes left
 * and against the format limits before anything is allocated, and a failure
 * names the first problem found (vm_verr). It also turns jump byte offsets
 * into instruction indices, which is where "a jump lands on an instruction
 * boundary" is decided. Everything else about code is the verifier's job.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

typedef struct reader {
	const uint8_t *p, *end;
	int err;
} reader;

static bool need(reader *r, size_t n)
{
	if (r->err)
		return false;
	if ((size_t)(r->end - r->p) < n) {
		r->err = VM_VERR_TRUNCATED;
		return false;
	}
	return true;
}

static uint64_t get_le(reader *r, unsigned width)
{
	uint64_t v = 0;
	if (!need(r, width))
		return 0;
	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += width;
	return v;
}

static void get_name(reader *r, char out[VM_MAX_NAME + 1])
{
	size_t len = (size_t)get_le(r, 1);
	if (!need(r, len))
		return;
	if (!vm_name_valid((const char *)r->p, len)) {
		r->err = VM_VERR_BAD_NAME;
		return;
	}
	memcpy(out, r->p, len);
	out[len] = 0;
	r->p += len;
}

/* A signature half: a count and that many type bytes, all u64 today. */
static uint8_t get_types(reader *r)
{
	uint8_t n = (uint8_t)get_le(r, 1);
	if (!need(r, n))
		return 0;
	for (unsigned i = 0; i < n; i++)
		if (r->p[i] != VM_TYPE_U64 && !r->err)
			r->err = VM_VERR_BAD_TYPE;
	r->p += n;
	return n;
}

static int decode_code(reader *r, vm_function *fn, uint32_t len)
{
	if (len == 0)
		return VM_VERR_EMPTY_CODE;
	if (len > VM_MAX_CODE_BYTES)
		return VM_VERR_TOO_BIG;
	if (!need(r, len))
		return r->err;
	const uint8_t *code = r->p;
	/* index_at[offset] = instruction index + 1, 0 inside an instruction */
	uint32_t *index_at = calloc(len, sizeof *index_at);
	fn->code = malloc(len * sizeof *fn->code);
	if (!index_at || !fn->code) {
		free(index_at);
		return -1;
	}
	uint32_t n = 0, off = 0;
	int err = 0;
	while (off < len) {
		uint8_t op = code[off];
		if (op >= VM_OP_COUNT_) {
			err = VM_VERR_UNKNOWN_OPCODE;
			break;
		}
		unsigned fmt = vm_opinfo_table[op].format, width = vm_format_width[fmt];
		if (len - off - 1 < width) {
			err = VM_VERR_TRUNCATED;
			break;
		}
		const uint8_t *o = code + off + 1;
		vm_insn *in = &fn->code[n];
		memset(in, 0, sizeof *in);
		in->op = op;
		for (unsigned i = 0; i < width && fmt != VM_FMT_FIELD; i++)
			in->a |= (uint32_t)o[i] << (8 * i);
		if (fmt == VM_FMT_FIELD) {
			in->a = (uint32_t)o[0] | (uint32_t)o[1] << 8;
			in->b = o[2];
		}
		index_at[off] = ++n;
		off += 1 + width;
	}
	for (uint32_t i = 0; !err && i < n; i++) {
		vm_insn *in = &fn->code[i];
		if (vm_opinfo_table[in->op].format != VM_FMT_JUMP)
			continue;
		if (in->a >= len || index_at[in->a] == 0)
			err = VM_VERR_JUMP_TARGET;
		else
			in->a = index_at[in->a] - 1;
	}
	free(index_at);
	fn->code_count = n;
	r->p += len;
	return err;
}

static int decode_body(reader *r, vm_module *m)
{
	m->address = get_le(r, 8);
	get_name(r, m->name);

	m->import_count = (uint32_t)get_le(r, 2);
	if (m->import_count > VM_MAX_IMPORTS)
		return VM_VERR_TOO_BIG;
	if (r->err)
		return r->err;
	m->imports = calloc(m->import_count + 1, sizeof *m->imports);
	if (!m->imports)
		return -1;
	for (uint32_t i = 0; i < m->import_count && !r->err; i++) {
		vm_import *im = &m->imports[i];
		im->address = get_le(r, 8);
		get_name(r, im->module);
		get_name(r, im->function);
		im->params = get_types(r);
		im->returns = get_types(r);
	}

	m->const_count = (uint32_t)get_le(r, 2);
	if (m->const_count > VM_MAX_CONSTS)
		return VM_VERR_TOO_BIG;
	if (r->err || !need(r, (size_t)m->const_count * 8))
		return r->err;
	m->consts = calloc(m->const_count + 1, sizeof *m->consts);
	if (!m->consts)
		return -1;
	for (uint32_t i = 0; i < m->const_count; i++)
		m->consts[i] = get_le(r, 8);

	m->resource_count = (uint32_t)get_le(r, 2);
	if (m->resource_count > VM_MAX_RESOURCES)
		return VM_VERR_TOO_BIG;
	if (r->err)
		return r->err;
	m->resources = calloc(m->resource_count + 1, sizeof *m->resources);
	if (!m->resources)
		return -1;
	for (uint32_t i = 0; i < m->resource_count && !r->err; i++) {
		vm_resource *res = &m->resources[i];
		get_name(r, res->name);
		res->field_count = (uint8_t)get_le(r, 1);
		if (r->err)
			break;
		if (res->field_count == 0)
			return VM_VERR_BAD_COUNT;
		if (res->field_count > VM_MAX_FIELDS)
			return VM_VERR_TOO_BIG;
		for (unsigned f = 0; f < res->field_count; f++)
			get_name(r, res->fields[f]);
	}

	m->function_count = (uint32_t)get_le(r, 2);
	if (m->function_count > VM_MAX_FUNCTIONS)
		return VM_VERR_TOO_BIG;
	if (r->err)
		return r->err;
	m->functions = calloc(m->function_count + 1, sizeof *m->functions);
	if (!m->functions)
		return -1;
	for (uint32_t i = 0; i < m->function_count && !r->err; i++) {
		vm_function *fn = &m->functions[i];
		get_name(r, fn->name);
		fn->visibility = (uint8_t)get_le(r, 1);
		if (!r->err && fn->visibility > VM_ENTRY)
			return VM_VERR_BAD_VISIBILITY;
		fn->params = get_types(r);
		fn->returns = get_types(r);
		fn->locals = (uint8_t)get_le(r, 1);
		uint32_t len = (uint32_t)get_le(r, 4);
		if (r->err)
			break;
		int err = decode_code(r, fn, len);
		if (err)
			return err;
	}
	if (!r->err && r->p != r->end)
		return VM_VERR_TRAILING_BYTES;
	return r->err;
}

/*
 * Returns 0, a positive vm_verr, or BSTM_ENOMEM. On failure *module is NULL.
 */
int vm_module_decode(const uint8_t *bytes, size_t len, vm_module **module)
{
	*module = NULL;
	if (len > VM_MAX_MODULE_BYTES)
		return VM_VERR_TOO_BIG;
	if (len < 5 + 32)
		return len >= 4 && memcmp(bytes, VM_MODULE_MAGIC, 4) != 0 ? VM_VERR_BAD_MAGIC
									  : VM_VERR_TRUNCATED;
	if (memcmp(bytes, VM_MODULE_MAGIC, 4) != 0)
		return VM_VERR_BAD_MAGIC;
	if (bytes[4] != VM_MODULE_VERSION)
		return VM_VERR_BAD_VERSION;
	uint8_t hash[32];
	vm_sha256(bytes, len - 32, hash);
	if (memcmp(hash, bytes + len - 32, 32) != 0)
		return VM_VERR_BAD_HASH;

	vm_module *m = vm_module_new();
	if (!m)
		return BSTM_ENOMEM;
	reader r = {bytes + 5, bytes + len - 32, 0};
	int err = decode_body(&r, m);
	if (err) {
		vm_module_free(m);
		return err < 0 ? BSTM_ENOMEM : err;
	}
	memcpy(m->hash, hash, 32);
	vm_module_finish(m);
	*module = m;
	return 0;
}

/* ------------------------------------------------------------------------ */

typedef struct writer {
	uint8_t *buf;
	size_t len, cap;
	bool oom;
} writer;

static void put_bytes(writer *w, const void *p, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *grown = realloc(w->buf, cap);
		if (!grown) {
			w->oom = true;
			return;
		}
		w->buf = grown;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_le(writer *w, uint64_t v, unsigned width)
{
	uint8_t b[8];
	for (unsigned i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put_bytes(w, b, width);
}

static void put_name(writer *w, const char *name)
{
	size_t n = strlen(name);
	put_le(w, n, 1);
	put_bytes(w, name, n);
}

static void put_types(writer *w, unsigned n)
{
	put_le(w, n, 1);
	for (unsigned i = 0; i < n; i++)
		put_le(w, VM_TYPE_U64, 1);
}

static int put_code(writer *w, const vm_function *fn)
{
	/* every instruction takes a byte at least; this also keeps `off` in range */
	if (fn->code_count > VM_MAX_CODE_BYTES)
		return BSTM_ETOOBIG;
	uint32_t *offset = malloc(((size_t)fn->code_count + 1) * sizeof *offset);
	if (!offset)
		return BSTM_ENOMEM;
	uint32_t off = 0;
	for (uint32_t i = 0; i < fn->code_count; i++) {
		offset[i] = off;
		off += 1u + vm_format_width[vm_opinfo_table[fn->code[i].op].format];
	}
	offset[fn->code_count] = off;
	if (off > VM_MAX_CODE_BYTES) {
		free(offset);
		return BSTM_ETOOBIG;
	}
	put_le(w, off, 4);
	for (uint32_t i = 0; i < fn->code_count; i++) {
		const vm_insn *in = &fn->code[i];
		unsigned fmt = vm_opinfo_table[in->op].format;
		put_le(w, in->op, 1);
		if (fmt == VM_FMT_JUMP)
			put_le(w, in->a < fn->code_count ? offset[in->a] : off, 4);
		else if (fmt == VM_FMT_FIELD) {
			put_le(w, in->a, 2);
			put_le(w, in->b, 1);
		} else
			put_le(w, in->a, vm_format_width[fmt]);
	}
	free(offset);
	return 0;
}

/*
 * Writes only what the decoder takes back: code or a module over the format's
 * size limits is refused with BSTM_ETOOBIG, so every binary written loads.
 */
int vm_module_encode(const vm_module *m, uint8_t **bytes, size_t *len)
{
	if (m->import_count > VM_MAX_IMPORTS || m->const_count > VM_MAX_CONSTS ||
	    m->resource_count > VM_MAX_RESOURCES || m->function_count > VM_MAX_FUNCTIONS)
		return BSTM_ETOOBIG;
	writer w = {0};
	put_bytes(&w, VM_MODULE_MAGIC, 4);
	put_le(&w, VM_MODULE_VERSION, 1);
	put_le(&w, m->address, 8);
	put_name(&w, m->name);
	put_le(&w, m->import_count, 2);
	for (uint32_t i = 0; i < m->import_count; i++) {
		const vm_import *im = &m->imports[i];
		put_le(&w, im->address, 8);
		put_name(&w, im->module);
		put_name(&w, im->function);
		put_types(&w, im->params);
		put_types(&w, im->returns);
	}
	put_le(&w, m->const_count, 2);
	for (uint32_t i = 0; i < m->const_count; i++)
		put_le(&w, m->consts[i], 8);
	put_le(&w, m->resource_count, 2);
	for (uint32_t i = 0; i < m->resource_count; i++) {
		put_name(&w, m->resources[i].name);
		put_le(&w, m->resources[i].field_count, 1);
		for (unsigned f = 0; f < m->resources[i].field_count; f++)
			put_name(&w, m->resources[i].fields[f]);
	}
	put_le(&w, m->function_count, 2);
	int rc = 0;
	for (uint32_t i = 0; i < m->function_count && rc == 0; i++) {
		const vm_function *fn = &m->functions[i];
		put_name(&w, fn->name);
		put_le(&w, fn->visibility, 1);
		put_types(&w, fn->params);
		put_types(&w, fn->returns);
		put_le(&w, fn->locals, 1);
		rc = put_code(&w, fn);
	}
	if (rc == 0 && w.len + 32 > VM_MAX_MODULE_BYTES)
		rc = BSTM_ETOOBIG;
	uint8_t hash[32];
	if (!w.oom && rc == 0) {
		vm_sha256(w.buf, w.len, hash);
		put_bytes(&w, hash, 32);
	}
	if (w.oom || rc) {
		free(w.buf);
		return rc ? rc : BSTM_ENOMEM;
	}
	*bytes = w.buf;
	*len = w.len;
	return 0;
}
