/*
 * fuzz_module.c - the module loader and verifier against arbitrary bytes.
 *
 * Every input must either load or be rejected with a verifier error; never
 * crash, hang or leak. Since random bytes rarely carry a valid SHA-256
 * trailer, each input is tried twice: as it is, and with its trailer
 * recomputed, so the decoder and verifier proper see the mutations.
 *
 * A module that verifies is then held to the format's promises:
 *   - encoding it again reproduces the input byte for byte;
 *   - disassembling and reassembling it reproduces the input too;
 *   - running each of its functions (zero arguments, bounded gas) ends in
 *     a status; the interpreter trusts the verifier, so this is where a
 *     verifier hole would show up as a sanitizer report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static vm_kvmap *state;
static vm_instance *instance;

static void fuzz_init(void)
{
	if (state)
		return;
	vm_config cfg;
	vm_config_init(&cfg);
	cfg.stack_values = 2048;
	cfg.call_depth = 32;
	cfg.scratch_bytes = 4096;
	if (vm_kvmap_create(&state) != 0 || vm_instance_create(&cfg, &instance) != 0)
		abort();
}

static void check_round_trips(const uint8_t *data, size_t size, vm_module *m)
{
	uint8_t *again;
	size_t len;
	if (vm_module_encode(m, &again, &len) != 0)
		abort();
	if (len != size || memcmp(again, data, size) != 0) {
		fputs("fuzz_module: re-encoding a verified module changed it\n", stderr);
		abort();
	}
	free(again);
	char *text;
	if (vm_disassemble_module(m, &text) != 0)
		abort();
	int line = 0, verr = 0;
	if (vm_assemble(text, &again, &len, &line, &verr) != 0) {
		fprintf(stderr, "fuzz_module: disassembly does not assemble (line %d, %s)\n%s",
			line, vm_verr_name(verr), text);
		abort();
	}
	if (len != size || memcmp(again, data, size) != 0) {
		fputs("fuzz_module: text round trip changed the module\n", stderr);
		abort();
	}
	free(again);
	free(text);
}

static void run_functions(const uint8_t *data, size_t size, const vm_module *m)
{
	uint8_t key[VM_MAX_KEY];
	size_t key_len = vm_module_key(key, m->address, m->name);
	if (vm_kvmap_put(state, key, key_len, data, size) != 0)
		return;
	uint64_t args[255] = {0}, results[255];
	for (uint32_t i = 0; i < m->function_count; i++) {
		uint64_t gas = 20000, code;
		vm_exit e = vm_invoke(instance, &vm_kvmap_ops, state, 7, m->address, m->name,
				      m->functions[i].name, args, m->functions[i].params, results,
				      255, &gas, &code, false);
		if (e == VM_EXIT_ERROR && (int64_t)code != BSTM_ENOMEM) {
			fprintf(stderr, "fuzz_module: unexpected error %ld\n", (long)code);
			abort();
		}
	}
	vm_kvmap_remove(state, key, key_len);
}

static void try_module(const uint8_t *data, size_t size)
{
	vm_module *m;
	int rc = vm_module_decode(data, size, &m);
	if (rc != 0) {
		if (rc < 0 || rc >= VM_VERR_COUNT_ || m != NULL)
			abort();
		return;
	}
	rc = vm_verify(m);
	if (rc == 0) {
		check_round_trips(data, size, m);
		run_functions(data, size, m);
	} else if (rc < 0 || rc >= VM_VERR_COUNT_) {
		abort();
	}
	vm_module_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_init();
	try_module(data, size);
	if (size >= 5 + 32 && size <= VM_MAX_MODULE_BYTES) {
		uint8_t *copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		vm_sha256(copy, size - 32, copy + size - 32);
		try_module(copy, size);
		free(copy);
	}
	return 0;
}
