/*
 * instance.c - execution instances: everything one worker reuses.
 *
 * An instance owns the operand stack, the call frames, the scratch memory,
 * the write overlay, a digest context and a cache of decoded, verified
 * modules. Creating one costs allocations and, more importantly, an empty
 * module cache; reusing one across transactions and blocks avoids both.
 *
 * Reuse must not leak anything from one transaction into the next, and
 * resetting must cost what was touched, not what was reserved:
 *   - stack and frames need no clearing: the verifier proves no code reads a
 *     stack slot it did not push, and a call zeroes the callee's locals;
 *   - scratch memory is zero outside the pages (VM_SCRATCH_PAGE bytes) that
 *     stores marked dirty; reset clears those pages only, so a store at the
 *     top of a large scratch area costs one page, not the area below it;
 *   - the overlay clears only the slots it used (overlay.c);
 *   - the per-transaction module table is emptied; the module cache is keyed
 *     by the exact bytes read from state, so a cached module is only reused
 *     when the transaction read the very same code (no stale code, no
 *     cross-transaction visibility, and gas never depends on the cache).
 * The cache is bounded (config.cache_modules); when full it is emptied, at a
 * transaction boundary when no frame points into it.
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

void vm_config_init(vm_config *config)
{
	memset(config, 0, sizeof *config);
	config->size = sizeof *config;
	config->stack_values = 8192;
	config->call_depth = 128;
	config->scratch_bytes = 64u << 10;
	config->recreate_every_txns = 0;
	config->recreate_every_blocks = 0;
	config->cache_modules = 64;
	config->max_gas_per_txn = 100000000u;
}

int vm_config_resolve(const vm_config *config, vm_config *out)
{
	vm_config cfg;
	vm_config_init(&cfg);
	if (config) {
		if (config->size != sizeof cfg)
			return BSTM_EINVAL;
		cfg = *config;
	}
	/* Upper bounds too: each instance allocates these up front, and a
	 * config that asks for gigabytes per worker is a mistake to report at
	 * creation, not an allocation failure at the first transaction. */
	if (cfg.stack_values < 16 || cfg.stack_values > VM_MAX_STACK_VALUES || cfg.call_depth < 1 ||
	    cfg.call_depth > VM_MAX_CALL_DEPTH || cfg.cache_modules < 1 ||
	    cfg.cache_modules > VM_MAX_CACHE_MODULES || cfg.scratch_bytes > (1u << 30))
		return BSTM_EINVAL;
	*out = cfg;
	return 0;
}

int vm_instance_create(const vm_config *config, vm_instance **instance)
{
	*instance = NULL;
	vm_config cfg;
	if (vm_config_resolve(config, &cfg) != 0)
		return BSTM_EINVAL;
	vm_instance *in = calloc(1, sizeof *in);
	if (!in)
		return BSTM_ENOMEM;
	in->config = cfg;
	in->stack = malloc((size_t)cfg.stack_values * sizeof *in->stack);
	in->frames = malloc((size_t)cfg.call_depth * sizeof *in->frames);
	/* calloc: fresh pages are zero, and the reset invariant starts true */
	size_t pages = (cfg.scratch_bytes + VM_SCRATCH_PAGE - 1) / VM_SCRATCH_PAGE;
	in->scratch = calloc(cfg.scratch_bytes ? cfg.scratch_bytes : 1, 1);
	in->scratch_marks = calloc(pages / 8 + 1, 1);
	in->scratch_dirty = malloc((pages ? pages : 1) * sizeof *in->scratch_dirty);
	in->cache = calloc((size_t)cfg.cache_modules + VM_MAX_TXN_MODULES, sizeof *in->cache);
	in->sha = vm_sha_ctx_new();
	if (!in->stack || !in->frames || !in->scratch || !in->scratch_marks || !in->scratch_dirty ||
	    !in->cache || !in->sha || vm_overlay_init(&in->overlay) != 0) {
		vm_instance_destroy(in);
		return BSTM_ENOMEM;
	}
	in->next_uid = 1;
	*instance = in;
	return 0;
}

static void cache_clear(vm_instance *in)
{
	for (uint32_t i = 0; i < in->cache_count; i++) {
		free(in->cache[i].bytes);
		vm_module_free(in->cache[i].module);
	}
	in->cache_count = 0;
}

void vm_instance_destroy(vm_instance *in)
{
	if (!in)
		return;
	if (in->cache)
		cache_clear(in);
	vm_overlay_destroy(&in->overlay);
	vm_sha_ctx_free(in->sha);
	free(in->stack);
	free(in->frames);
	free(in->scratch);
	free(in->scratch_marks);
	free(in->scratch_dirty);
	free(in->cache);
	free(in);
}

void vm_instance_reset(vm_instance *in)
{
	for (uint32_t i = 0; i < in->scratch_dirty_count; i++) {
		uint32_t page = in->scratch_dirty[i];
		size_t start = (size_t)page * VM_SCRATCH_PAGE;
		size_t len = in->config.scratch_bytes - start;
		memset(in->scratch + start, 0, len < VM_SCRATCH_PAGE ? len : VM_SCRATCH_PAGE);
		in->scratch_marks[page / 8] &= (uint8_t) ~(1u << (page % 8));
	}
	in->scratch_dirty_count = 0;
	vm_overlay_reset(&in->overlay);
	in->loaded_count = 0;
	if (in->cache_count >= in->config.cache_modules)
		cache_clear(in);
}
