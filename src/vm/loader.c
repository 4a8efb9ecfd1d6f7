/*
 * loader.c - state reads of a transaction body, and module loading.
 *
 * A body reads through its own overlay first, then the state (the executor's
 * view). Gas for a read is charged by the bytes returned, wherever they come
 * from, so gas never depends on caching.
 *
 * Loading module (address, name) for a transaction:
 *   1. once per transaction: the per-transaction table answers repeats, and
 *      a module met again while its imports are being linked is a cycle;
 *   2. read the module's bytes from state (so the executor captures the
 *      read, and a module published earlier in the block is seen, or the
 *      transaction is re-validated when it changes);
 *   3. find the decoded module in the instance cache, reused only when the
 *      cached bytes are exactly the bytes just read; otherwise decode and
 *      verify afresh and replace the cache entry;
 *   4. load every import's module the same way and link: find the function
 *      by name, require it public with the expected signature. A link is
 *      kept while the target's uid is unchanged, so a cached module is
 *      relinked only after its dependency was replaced.
 * Failures are transaction statuses (FAILED with a code), except read
 * errors, which propagate (BSTM_DEPENDENCY above all).
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static vm_exit fail(vm_exec *x, uint64_t code)
{
	x->code = code;
	return VM_EXIT_FAIL;
}

int vm_state_fetch(vm_exec *x, const uint8_t *key, size_t key_len, const uint8_t **value,
		   size_t *value_len)
{
	int got = vm_overlay_get(&x->inst->overlay, key, key_len, value, value_len);
	if (got >= 0)
		return got;
	const void *v = NULL;
	size_t len = 0;
	int rc = x->ops->read(x->state, key, key_len, &v, &len);
	if (rc != 0 && rc != BSTM_ENOTFOUND)
		return rc;
	vm_overlay_remember(&x->inst->overlay, key, key_len, v, len, rc == 0);
	*value = v;
	*value_len = len;
	return rc == 0;
}

vm_exit vm_state_read(vm_exec *x, const uint8_t *key, size_t key_len, const uint8_t **value,
		      size_t *value_len, bool *found)
{
	int rc = vm_state_fetch(x, key, key_len, value, value_len);
	*found = false;
	if (rc < 0) {
		x->error = rc;
		return VM_EXIT_ERROR;
	}
	*found = rc == 1;
	if (!*found)
		*value_len = 0;
	uint64_t cost = (uint64_t)*value_len * VM_GAS_READ_BYTE;
	if (x->gas_left < cost) {
		x->gas_left = 0;
		return VM_EXIT_OUT_OF_GAS;
	}
	x->gas_left -= cost;
	return VM_EXIT_OK;
}

static vm_exit link_import(vm_exec *x, vm_import *im)
{
	vm_module *dep;
	vm_exit e = vm_load_module(x, im->address, im->module, &dep);
	if (e != VM_EXIT_OK)
		return e;
	if (im->linked_uid == dep->uid)
		return VM_EXIT_OK;
	int f = vm_module_find_function(dep, im->function);
	if (f < 0)
		return fail(x, VM_FAIL_LINK);
	const vm_function *fn = &dep->functions[f];
	if (fn->visibility != VM_PUBLIC || fn->params != im->params || fn->returns != im->returns)
		return fail(x, VM_FAIL_LINK);
	im->target_module = dep;
	im->target = fn;
	im->linked_uid = dep->uid;
	return VM_EXIT_OK;
}

static vm_cache_entry *cache_find(vm_instance *in, uint64_t address, const char *name)
{
	for (uint32_t i = 0; i < in->cache_count; i++)
		if (in->cache[i].address == address && strcmp(in->cache[i].name, name) == 0)
			return &in->cache[i];
	return NULL;
}

static vm_exit decode_into_cache(vm_exec *x, uint64_t address, const char *name,
				 const uint8_t *bytes, size_t len, vm_module **out)
{
	vm_instance *in = x->inst;
	vm_module *m;
	int rc = vm_module_decode(bytes, len, &m);
	if (rc == 0) {
		rc = vm_verify(m);
		if (rc)
			vm_module_free(m);
	}
	if (rc < 0) {
		x->error = rc;
		return VM_EXIT_ERROR;
	}
	if (rc > 0)
		return fail(x, VM_FAIL_VERIFY_BASE + (uint64_t)rc);
	if (m->address != address || strcmp(m->name, name) != 0) {
		vm_module_free(m);
		return fail(x, VM_FAIL_MODULE_NOT_FOUND);
	}
	uint8_t *copy = malloc(len);
	if (!copy) {
		vm_module_free(m);
		x->error = BSTM_ENOMEM;
		return VM_EXIT_ERROR;
	}
	memcpy(copy, bytes, len);
	m->uid = in->next_uid++;
	vm_cache_entry *e = cache_find(in, address, name);
	if (e) {
		/* Not loaded earlier in this transaction (the per-transaction
		 * table would have answered), so no frame refers to it. */
		free(e->bytes);
		vm_module_free(e->module);
	} else {
		/* The cache has room for one transaction's modules beyond its
		 * nominal size; reset trims it back between transactions. */
		e = &in->cache[in->cache_count++];
		e->address = address;
		memcpy(e->name, m->name, sizeof e->name);
	}
	e->bytes = copy;
	e->len = len;
	e->module = m;
	*out = m;
	return VM_EXIT_OK;
}

vm_exit vm_load_module(vm_exec *x, uint64_t address, const char *name, vm_module **module)
{
	vm_instance *in = x->inst;
	for (uint32_t i = 0; i < in->loaded_count; i++) {
		vm_loaded *l = &in->loaded[i];
		if (l->address == address && strcmp(l->name, name) == 0) {
			if (l->linking)
				return fail(x, VM_FAIL_IMPORT_CYCLE);
			*module = l->module;
			return VM_EXIT_OK;
		}
	}
	if (in->loaded_count == VM_MAX_TXN_MODULES)
		return fail(x, VM_FAIL_TOO_MANY_MODULES);
	size_t name_len = strlen(name);
	if (!vm_name_valid(name, name_len))
		return fail(x, VM_FAIL_MODULE_NOT_FOUND);

	uint8_t key[VM_MAX_KEY];
	size_t key_len = vm_module_key(key, address, name);
	const uint8_t *bytes;
	size_t len;
	bool found;
	vm_exit e = vm_state_read(x, key, key_len, &bytes, &len, &found);
	if (e != VM_EXIT_OK)
		return e;
	if (!found)
		return fail(x, VM_FAIL_MODULE_NOT_FOUND);

	vm_module *m;
	vm_cache_entry *entry = cache_find(in, address, name);
	if (entry && entry->len == len && memcmp(entry->bytes, bytes, len) == 0) {
		m = entry->module;
	} else {
		e = decode_into_cache(x, address, name, bytes, len, &m);
		if (e != VM_EXIT_OK)
			return e;
	}
	vm_loaded *l = &in->loaded[in->loaded_count++];
	l->address = address;
	l->name = m->name;
	l->module = m;
	l->linking = true;
	for (uint32_t i = 0; i < m->import_count; i++) {
		e = link_import(x, &m->imports[i]);
		if (e != VM_EXIT_OK)
			return e;
	}
	l->linking = false;
	*module = m;
	return VM_EXIT_OK;
}
