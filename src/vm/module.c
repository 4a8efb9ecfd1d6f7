/*
 * module.c - the in-memory module, the instruction table and state keys.
 *
 * A module is plain data owned by one allocation tree: the decoder or the
 * assembler builds it, the verifier annotates it (max_stack, verified), the
 * loader links its imports. Nothing here knows about execution.
 *
 * State keys are canonical byte strings so that every node derives the same
 * key for the same resource:
 *
 *   module:   'M' | address (u64 big-endian) | name
 *   resource: 'R' | account (u64 big-endian) | module address (u64 BE)
 *             | module name length (u8) | module name
 *             | resource name length (u8) | resource name
 *
 * Big-endian numbers make keys of one account sort together, which keeps the
 * executor's sorted write sets in account order.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

const vm_opinfo vm_opinfo_table[VM_OP_COUNT_] = {
#define VM_OPINFO_(name, mnemonic, format, pops, pushes, gas, meaning)                             \
	{mnemonic, meaning, VM_FMT_##format, pops, pushes, gas},
	VM_OPCODES(VM_OPINFO_)
#undef VM_OPINFO_
};

const unsigned char vm_format_width[] = {
	[VM_FMT_NONE] = 0,  [VM_FMT_IMM] = 4,	[VM_FMT_LOCAL] = 1,  [VM_FMT_CONST] = 2,
	[VM_FMT_JUMP] = 4,  [VM_FMT_FUNC] = 2,	[VM_FMT_IMPORT] = 2, [VM_FMT_RES] = 2,
	[VM_FMT_FIELD] = 3, [VM_FMT_COUNT] = 1,
};

const uint8_t vm_gas_table[VM_OP_COUNT_] = {
#define VM_GAS_(name, mnemonic, format, pops, pushes, gas, meaning) gas,
	VM_OPCODES(VM_GAS_)
#undef VM_GAS_
};

const char *vm_fail_name(uint64_t code)
{
	switch (code) {
#define VM_FAIL_NAME_(name, value, message)                                                        \
	case value:                                                                                \
		return #name;
		VM_FAIL_MAP(VM_FAIL_NAME_)
#undef VM_FAIL_NAME_
	}
	if (code >= VM_FAIL_VERIFY_BASE && code < VM_FAIL_VERIFY_BASE + VM_VERR_COUNT_)
		return vm_verr_name((int)(code - VM_FAIL_VERIFY_BASE));
	return "UNKNOWN";
}

const char *vm_discard_name(uint64_t code)
{
	switch (code) {
#define VM_DISCARD_NAME_(name, value, message)                                                     \
	case value:                                                                                \
		return #name;
		VM_DISCARD_MAP(VM_DISCARD_NAME_)
#undef VM_DISCARD_NAME_
	}
	return "UNKNOWN";
}

const char *vm_verr_name(int verr)
{
	switch (verr) {
#define VM_VERR_NAME_(name, value, message)                                                        \
	case value:                                                                                \
		return #name;
		VM_VERR_MAP(VM_VERR_NAME_)
#undef VM_VERR_NAME_
	}
	return "UNKNOWN";
}

const char *vm_verr_message(int verr)
{
	switch (verr) {
#define VM_VERR_MSG_(name, value, message)                                                         \
	case value:                                                                                \
		return message;
		VM_VERR_MAP(VM_VERR_MSG_)
#undef VM_VERR_MSG_
	}
	return "unknown verifier error";
}

vm_module *vm_module_new(void)
{
	vm_module *m = calloc(1, sizeof *m);
	if (m)
		m->init_index = -1;
	return m;
}

void vm_module_free(vm_module *module)
{
	if (!module)
		return;
	/* a decode that failed part-way may leave a count without its array */
	for (uint32_t i = 0; module->functions && i < module->function_count; i++)
		free(module->functions[i].code);
	free(module->functions);
	free(module->imports);
	free(module->consts);
	free(module->resources);
	free(module);
}

/* Identifiers: [A-Za-z_][A-Za-z0-9_]*, 1 .. VM_MAX_NAME bytes. */
bool vm_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > VM_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

int vm_module_find_function(const vm_module *module, const char *name)
{
	for (uint32_t i = 0; i < module->function_count; i++)
		if (strcmp(module->functions[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static size_t key_suffix(uint8_t *p, uint64_t module_address, const char *module,
			 const char *resource)
{
	size_t n = 0, ml = strlen(module), rl = strlen(resource);
	put_be64(p, module_address);
	n += 8;
	p[n++] = (uint8_t)ml;
	memcpy(p + n, module, ml);
	n += ml;
	p[n++] = (uint8_t)rl;
	memcpy(p + n, resource, rl);
	return n + rl;
}

void vm_module_finish(vm_module *module)
{
	for (uint32_t i = 0; i < module->resource_count; i++) {
		vm_resource *r = &module->resources[i];
		r->key_suffix_len =
			(uint8_t)key_suffix(r->key_suffix, module->address, module->name, r->name);
	}
	module->init_index = vm_module_find_function(module, "init");
}

size_t vm_key_resource(uint8_t *key, uint64_t account, const vm_resource *resource)
{
	key[0] = 'R';
	put_be64(key + 1, account);
	memcpy(key + 9, resource->key_suffix, resource->key_suffix_len);
	return 9u + resource->key_suffix_len;
}

size_t vm_resource_key(uint8_t *key, uint64_t account, uint64_t module_address, const char *module,
		       const char *resource)
{
	key[0] = 'R';
	put_be64(key + 1, account);
	return 9 + key_suffix(key + 9, module_address, module, resource);
}

size_t vm_module_key(uint8_t *key, uint64_t address, const char *name)
{
	size_t len = strlen(name);
	key[0] = 'M';
	put_be64(key + 1, address);
	memcpy(key + 9, name, len);
	return 9 + len;
}
