/*
 * internal.h - the VM's data structures, shared by its files and its tests.
 *
 * A module lives in two forms. The binary (binary.c) is what state stores and
 * what hashes; the in-memory form below is what the assembler builds, the
 * verifier checks and the interpreter runs. In memory an instruction is a
 * fixed 8-byte record and a jump names an instruction index, so the
 * interpreter never decodes operands; the decoder turns byte offsets into
 * indices and rejects offsets that fall inside an instruction.
 */
#ifndef BLOCKSTM_VM_INTERNAL_H
#define BLOCKSTM_VM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/opcodes.h"
#include "vm/vm.h"

/* Format limits; the decoder rejects anything larger (VM_VERR_TOO_BIG). */
#define VM_MODULE_MAGIC	      "BSVM"
#define VM_MODULE_VERSION     1u
#define VM_MAX_MODULE_BYTES   (1u << 20)
#define VM_MAX_IMPORTS	      256u
#define VM_MAX_CONSTS	      1024u
#define VM_MAX_RESOURCES      64u
#define VM_MAX_FIELDS	      16u
#define VM_MAX_FUNCTIONS      256u
#define VM_MAX_CODE_BYTES     65535u
#define VM_MAX_FUNCTION_STACK 1024u
#define VM_MAX_EMIT	      16u
#define VM_TYPE_U64	      0u

enum { VM_PRIVATE = 0, VM_PUBLIC = 1, VM_ENTRY = 2 };

/*
 * How the VM reaches state. The adapter binds these to bstm_view_*; tests
 * bind them to a vm_kvmap (vm_kvmap_ops). read() returns 0, BSTM_ENOTFOUND,
 * BSTM_DEPENDENCY or another negative code, with the bytes valid until the
 * transaction ends.
 */
typedef struct vm_state_ops {
	int (*read)(void *ctx, const void *key, size_t key_len, const void **value,
		    size_t *value_len);
	int (*write)(void *ctx, const void *key, size_t key_len, const void *value,
		     size_t value_len);
	int (*remove)(void *ctx, const void *key, size_t key_len);
	int (*emit)(void *ctx, const void *data, size_t len);
} vm_state_ops;

/* State ops that read and write a vm_kvmap directly; events are dropped. */
extern const vm_state_ops vm_kvmap_ops;

typedef struct vm_insn {
	uint8_t op;
	uint8_t b; /* second operand: the field of rget/rset */
	uint16_t reserved;
	uint32_t a; /* first operand; a jump's target instruction index */
} vm_insn;

typedef struct vm_function {
	char name[VM_MAX_NAME + 1];
	uint8_t visibility;
	uint8_t params;
	uint8_t returns;
	uint8_t locals; /* beyond the params */
	uint32_t code_count;
	vm_insn *code;
	uint32_t max_stack; /* operand stack height bound, proved by the verifier */
} vm_function;

struct vm_module;

typedef struct vm_import {
	uint64_t address;
	char module[VM_MAX_NAME + 1];
	char function[VM_MAX_NAME + 1];
	uint8_t params;
	uint8_t returns;
	/* Link, refreshed by the loader whenever the target module changes. */
	uint64_t linked_uid;
	const struct vm_module *target_module;
	const vm_function *target;
} vm_import;

typedef struct vm_resource {
	char name[VM_MAX_NAME + 1];
	uint8_t field_count;
	char fields[VM_MAX_FIELDS][VM_MAX_NAME + 1];
	/* module address, module name and resource name as they end the key */
	uint8_t key_suffix[8 + 1 + VM_MAX_NAME + 1 + VM_MAX_NAME];
	uint8_t key_suffix_len;
} vm_resource;

typedef struct vm_module {
	uint64_t address;
	char name[VM_MAX_NAME + 1];
	uint32_t import_count, const_count, resource_count, function_count;
	vm_import *imports;
	uint64_t *consts;
	vm_resource *resources;
	vm_function *functions;
	int init_index; /* -1: none */
	uint8_t hash[32];
	uint64_t uid; /* unique per loaded copy within an instance */
	bool verified;
} vm_module;

/*
 * Hash of a short byte string for the VM's private tables (overlay, kvmap):
 * eight bytes per step, multiply-xorshift mixing. Not keyed: the tables are
 * per instance or per test state, never shared with an adversary's choice
 * of table size.
 */
static inline uint64_t vm_hash_bytes(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;
	while (len >= 8) {
		__builtin_memcpy(&w, p, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
		p += 8;
		len -= 8;
	}
	w = 0;
	for (size_t i = 0; i < len; i++)
		w |= (uint64_t)p[i] << (8 * i);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 29);
}

/* module.c */
vm_module *vm_module_new(void);
void vm_module_free(vm_module *module);
bool vm_name_valid(const char *name, size_t len);
int vm_module_find_function(const vm_module *module, const char *name);
void vm_module_finish(vm_module *module); /* computes key suffixes, init index */
size_t vm_key_resource(uint8_t *key, uint64_t account, const vm_resource *resource);

/* binary.c */
int vm_module_decode(const uint8_t *bytes, size_t len, vm_module **module);
/* Encode into a malloc'd buffer (hash trailer included). */
int vm_module_encode(const vm_module *module, uint8_t **bytes, size_t *len);

/* verify.c: intra-module checks; fills max_stack and sets verified. */
int vm_verify(vm_module *module);

/* sha.c */
void vm_sha256(const void *data, size_t len, uint8_t out[32]);
typedef struct evp_md_ctx_st vm_sha_ctx;
vm_sha_ctx *vm_sha_ctx_new(void);
void vm_sha_ctx_free(vm_sha_ctx *ctx);
void vm_sha256_ctx(vm_sha_ctx *ctx, const void *data, size_t len, uint8_t out[32]);

/* Gas (the per-opcode table is built in module.c) */
#define VM_GAS_TXN_BASE	    500u /* intrinsic cost of every transaction */
#define VM_GAS_READ_BYTE    1u	 /* per byte read from state, modules included */
#define VM_GAS_WRITE_BYTE   5u	 /* per byte written to state */
#define VM_GAS_EVENT_BYTE   2u
#define VM_GAS_HASH_BLOCK   10u /* per 64-byte block hashed */
#define VM_GAS_PUBLISH_BYTE 10u /* per module byte published */
extern const uint8_t vm_gas_table[VM_OP_COUNT_];

/* overlay.c: the transaction's buffered writes, reset in O(touched). */
typedef struct vm_chunk vm_chunk;
enum {
	VM_SLOT_EMPTY,
	VM_SLOT_WRITTEN,
	VM_SLOT_DELETED,
	VM_SLOT_READ_PRESENT, /* a remembered read; value points into the view */
	VM_SLOT_READ_ABSENT,
};

typedef struct vm_overlay_slot {
	uint64_t hash;
	uint8_t *key;
	uint8_t *value;
	uint32_t key_len;
	uint32_t value_len;
	uint32_t value_cap;
	uint8_t state; /* VM_SLOT_* */
} vm_overlay_slot;

typedef struct vm_overlay {
	vm_overlay_slot *slots;
	uint32_t cap; /* power of two */
	uint32_t used;
	uint32_t *touched; /* slot indices in write order */
	uint32_t touched_cap;
	vm_chunk *chunks; /* bump allocation for keys, values and events */
	size_t chunk_used;
	struct {
		uint8_t *data;
		uint32_t len;
	} * events;
	uint32_t event_count, event_cap;
	size_t bytes; /* keys + values + events held */
} vm_overlay;

int vm_overlay_init(vm_overlay *overlay);
void vm_overlay_destroy(vm_overlay *overlay);
void vm_overlay_reset(vm_overlay *overlay);
/* 1 present (value set), 0 deleted, -1 not in the overlay */
int vm_overlay_get(const vm_overlay *overlay, const void *key, size_t key_len,
		   const uint8_t **value, size_t *value_len);
/* Put a value; returns a pointer to the overlay's copy (writable), or NULL. */
uint8_t *vm_overlay_put(vm_overlay *overlay, const void *key, size_t key_len, const void *value,
			size_t value_len);
int vm_overlay_delete(vm_overlay *overlay, const void *key, size_t key_len);
/* Remember what the state returned for `key` (bytes borrowed, not copied). */
void vm_overlay_remember(vm_overlay *overlay, const void *key, size_t key_len, const void *value,
			 size_t value_len, bool found);
int vm_overlay_event(vm_overlay *overlay, const void *data, size_t len);
int vm_overlay_flush(const vm_overlay *overlay, const vm_state_ops *ops, void *ctx);

/* instance.c */
typedef struct vm_frame {
	const vm_module *module;
	const vm_function *fn;
	uint64_t *locals;
	uint32_t pc;
} vm_frame;

typedef struct vm_cache_entry {
	uint64_t address;
	char name[VM_MAX_NAME + 1];
	uint8_t *bytes;
	size_t len;
	vm_module *module;
} vm_cache_entry;

typedef struct vm_loaded {
	uint64_t address;
	const char *name;
	vm_module *module;
	bool linking;
} vm_loaded;

#define VM_MAX_TXN_MODULES 32u
/* Scratch memory is cleared after a transaction in pages of this many bytes. */
#define VM_SCRATCH_PAGE 256u

typedef struct vm_instance {
	vm_config config;
	uint64_t *stack; /* config.stack_values */
	vm_frame *frames;
	uint8_t *scratch;	 /* config.scratch_bytes, zero outside the dirty pages */
	uint8_t *scratch_marks;	 /* a bit per VM_SCRATCH_PAGE bytes: may be non-zero */
	uint32_t *scratch_dirty; /* the marked pages, in the order they were marked */
	uint32_t scratch_dirty_count;
	vm_overlay overlay;
	vm_cache_entry *cache; /* config.cache_modules entries */
	uint32_t cache_count;
	vm_loaded loaded[VM_MAX_TXN_MODULES];
	uint32_t loaded_count;
	uint64_t next_uid;
	vm_sha_ctx *sha;
	uint64_t txns_run;
} vm_instance;

/* *out = config (defaults for NULL), or BSTM_EINVAL when its size is not
 * sizeof(vm_config) or a value is out of bounds: stack_values outside
 * 16..2^24, call_depth outside 1..65536, cache_modules outside 1..65536,
 * scratch_bytes over 1 GiB. */
int vm_config_resolve(const vm_config *config, vm_config *out);
int vm_instance_create(const vm_config *config, vm_instance **instance);
void vm_instance_destroy(vm_instance *instance);
/* Forget everything the last transaction touched: O(touched). */
void vm_instance_reset(vm_instance *instance);

/* Per-transaction execution context. */
typedef enum vm_exit {
	VM_EXIT_OK,
	VM_EXIT_ABORT, /* code: the program's abort code */
	VM_EXIT_FAIL,  /* code: VM_FAIL_* or VM_FAIL_VERIFY_BASE + verr */
	VM_EXIT_OUT_OF_GAS,
	VM_EXIT_ERROR, /* error: a negative bstm code (BSTM_DEPENDENCY, ...) */
} vm_exit;

typedef struct vm_exec {
	vm_instance *inst;
	const vm_state_ops *ops; /* the state under the overlay */
	void *state;
	uint64_t sender;
	uint64_t gas_left;
	uint64_t code;
	int error;
} vm_exec;

/* loader.c: read, decode, verify (cached) and link a module for this txn. */
vm_exit vm_load_module(vm_exec *x, uint64_t address, const char *name, vm_module **module);
/* Reads: overlay first, then state (remembered in the overlay). Returns 1
 * found, 0 absent, or a negative code. No gas. */
int vm_state_fetch(vm_exec *x, const uint8_t *key, size_t key_len, const uint8_t **value,
		   size_t *value_len);
/* Body reads: vm_state_fetch plus read gas. */
vm_exit vm_state_read(vm_exec *x, const uint8_t *key, size_t key_len, const uint8_t **value,
		      size_t *value_len, bool *found);

/* interp.c: run `fn` with `args`; up to fn->returns results into `results`. */
vm_exit vm_run(vm_exec *x, const vm_module *module, const vm_function *fn, const uint64_t *args,
	       uint64_t *results);

/* txn.c: a whole transaction against state ops (prologue, body, epilogue). */
int vm_execute_txn(vm_instance *inst, const vm_txn *txn, const vm_state_ops *ops, void *state,
		   bstm_txn_outcome *outcome);

vm_exit vm_invoke(vm_instance *inst, const vm_state_ops *ops, void *state, uint64_t sender,
		  uint64_t address, const char *module, const char *function, const uint64_t *args,
		  uint32_t arg_count, uint64_t *results, uint32_t result_cap, uint64_t *gas,
		  uint64_t *code, bool commit);

/* disasm.c */
int vm_disassemble_module(const vm_module *module, char **text);
/* asm.c: build the in-memory module (unverified) */
int vm_assemble_module(const char *text, vm_module **module, int *line);

#endif
