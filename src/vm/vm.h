/*
 * vm.h - the built-in VM's interface, installed as blockstm_vm.h; its
 * functions are exported from the shared library like bstm_*.
 *
 * The VM executes transactions of a small, verified, gas-metered bytecode
 * (docs/vm.md). It plugs into the executor as an ordinary bstm_txn_fn:
 * vm_txn_execute() with a vm_engine as its context. The engine owns one
 * execution instance per worker (indexed by bstm_view_worker()) and keeps them
 * across transactions and blocks; the block's transactions are handed to it
 * with vm_engine_begin_block() before each block call.
 *
 * Everything else here serves tools, tests and benchmarks: the transaction
 * encoding, an in-memory key/value map usable as a base view, a genesis
 * builder that installs the standard library and funded accounts, the
 * assembler and the module loader.
 *
 * Concurrency: a vm_engine is used by one block call at a time;
 * vm_txn_execute() is called concurrently for distinct workers, and each call
 * touches only its worker's instance plus engine data that is read-only
 * or atomic.
 * vm_engine_begin_block() must not overlap a block call. A vm_kvmap is
 * read-only while it serves as a base view and may then be read from any
 * thread.
 */
#ifndef BLOCKSTM_VM_H
#define BLOCKSTM_VM_H

#include <stddef.h>
#include <stdint.h>

#include "blockstm.h"

/* ------------------------------------------------------------------------ */
/* Failure, discard and verifier codes                                       */
/* ------------------------------------------------------------------------ */

/* bstm_txn_outcome.code of a FAILED transaction. */
#define VM_FAIL_MAP(X)                                                                             \
	X(ARITHMETIC, 1, "integer overflow, division by zero or shift too wide")                   \
	X(STACK_OVERFLOW, 2, "operand stack limit exceeded")                                       \
	X(CALL_DEPTH, 3, "call depth limit exceeded")                                              \
	X(MEMORY_LIMIT, 4, "scratch memory access beyond the limit")                               \
	X(MISSING_RESOURCE, 5, "resource does not exist")                                          \
	X(RESOURCE_EXISTS, 6, "resource already exists")                                           \
	X(CORRUPT_RESOURCE, 7, "stored resource has the wrong size")                               \
	X(MODULE_NOT_FOUND, 8, "module not found")                                                 \
	X(FUNCTION_NOT_FOUND, 9, "entry function not found")                                       \
	X(NOT_ENTRY, 10, "function is not an entry function")                                      \
	X(ARG_COUNT, 11, "wrong number of arguments")                                              \
	X(LINK, 12, "import does not resolve to a public function of that signature")              \
	X(IMPORT_CYCLE, 13, "modules import each other in a cycle")                                \
	X(TOO_MANY_MODULES, 14, "transaction loads too many modules")                              \
	X(PUBLISH_ADDRESS, 15, "module address differs from the sender")                           \
	X(CANNOT_PAY, 16, "sender cannot pay the fee after the body ran")                          \
	X(WRITE_LIMIT, 17,                                                                         \
	  "a new key written after 65536 touched, or no memory for a write or an event")           \
	X(INCOMPATIBLE_UPGRADE, 18, "upgrade drops or changes a public function or a resource")

/* bstm_txn_outcome.code of a FAILED transaction whose module did not verify:
 * VM_FAIL_VERIFY_BASE + the vm_verr value. */
#define VM_FAIL_VERIFY_BASE 0x100u

/* bstm_txn_outcome.code of a DISCARDED transaction. */
#define VM_DISCARD_MAP(X)                                                                          \
	X(MALFORMED, 1, "transaction does not decode or breaks the format's limits")               \
	X(NO_ACCOUNT, 2, "sender account does not exist")                                          \
	X(BAD_SEQUENCE, 3, "sequence number does not match the account's")                         \
	X(CANNOT_PAY, 4, "balance does not cover gas limit times gas price")                       \
	X(GAS_TOO_LOW, 5, "gas limit below the intrinsic cost")                                    \
	X(GAS_TOO_HIGH, 6, "gas limit above the per-transaction maximum")

/* Loader and verifier errors: why a module was rejected. */
#define VM_VERR_MAP(X)                                                                             \
	X(OK, 0, "ok")                                                                             \
	X(TRUNCATED, 1, "input ends inside a field")                                               \
	X(BAD_MAGIC, 2, "not a module (bad magic)")                                                \
	X(BAD_VERSION, 3, "unsupported format version")                                            \
	X(BAD_HASH, 4, "content hash does not match")                                              \
	X(TOO_BIG, 5, "a count or size exceeds its limit")                                         \
	X(TRAILING_BYTES, 6, "bytes after the last section")                                       \
	X(BAD_NAME, 7, "malformed identifier")                                                     \
	X(BAD_TYPE, 8, "unknown value type")                                                       \
	X(BAD_VISIBILITY, 9, "unknown function visibility")                                        \
	X(UNKNOWN_OPCODE, 10, "unknown opcode")                                                    \
	X(JUMP_TARGET, 11, "jump target not on an instruction boundary")                           \
	X(LOCAL_INDEX, 12, "local index out of bounds")                                            \
	X(CONST_INDEX, 13, "constant index out of bounds")                                         \
	X(FUNC_INDEX, 14, "function index out of bounds")                                          \
	X(IMPORT_INDEX, 15, "import index out of bounds")                                          \
	X(RESOURCE_INDEX, 16, "resource index out of bounds")                                      \
	X(FIELD_INDEX, 17, "field index out of bounds")                                            \
	X(STACK_UNDERFLOW, 18, "operand stack would go negative")                                  \
	X(STACK_LIMIT, 19, "operand stack would exceed the per-function limit")                    \
	X(STACK_MISMATCH, 20, "stack heights differ where control flow joins")                     \
	X(FALLS_OFF_END, 21, "control reaches the end of the code")                                \
	X(RETURN_ARITY, 22, "stack height at ret differs from the return count")                   \
	X(DUPLICATE_NAME, 23, "two declarations share a name")                                     \
	X(BAD_INIT, 24, "init must be a private function of no params and no returns")             \
	X(ENTRY_RETURNS, 25, "an entry function returns values")                                   \
	X(EMPTY_CODE, 26, "function has no code")                                                  \
	X(BAD_COUNT, 27, "count operand out of range, or a resource with no fields")               \
	X(TOO_MANY_LOCALS, 28, "params plus locals exceed 255")                                    \
	X(IMPORT_SELF, 29, "module imports itself")

enum {
#define VM_FAIL_ENUM_(name, value, message) VM_FAIL_##name = (value),
	VM_FAIL_MAP(VM_FAIL_ENUM_)
#undef VM_FAIL_ENUM_
};
enum {
#define VM_DISCARD_ENUM_(name, value, message) VM_DISCARD_##name = (value),
	VM_DISCARD_MAP(VM_DISCARD_ENUM_)
#undef VM_DISCARD_ENUM_
};
typedef enum vm_verr {
#define VM_VERR_ENUM_(name, value, message) VM_VERR_##name = (value),
	VM_VERR_MAP(VM_VERR_ENUM_)
#undef VM_VERR_ENUM_
		VM_VERR_COUNT_ /* one past the last */
} vm_verr;

BSTM_API const char *vm_fail_name(uint64_t code);
BSTM_API const char *vm_discard_name(uint64_t code);
BSTM_API const char *vm_verr_name(int verr);
BSTM_API const char *vm_verr_message(int verr);

/* ------------------------------------------------------------------------ */
/* Configuration and the engine                                              */
/* ------------------------------------------------------------------------ */

/* Upper bounds of the vm_config limits (scratch_bytes: 1 GiB). */
#define VM_MAX_STACK_VALUES  (1u << 24) /* 128 MiB of u64 slots */
#define VM_MAX_CALL_DEPTH    (1u << 16)
#define VM_MAX_CACHE_MODULES (1u << 16)

typedef struct vm_config {
	size_t size;			/* sizeof(vm_config) */
	uint32_t stack_values;		/* operand stack + locals, in u64 values */
	uint32_t call_depth;		/* frames */
	uint32_t scratch_bytes;		/* scratch memory per transaction */
	uint32_t recreate_every_txns;	/* 0: never */
	uint32_t recreate_every_blocks; /* 0: never */
	uint32_t cache_modules;		/* decoded modules kept per instance */
	uint64_t max_gas_per_txn;	/* larger gas limits are DISCARDED */
} vm_config;

BSTM_API void vm_config_init(vm_config *config);

typedef struct vm_engine vm_engine;

/* An engine with one instance per worker (`workers` = executor threads). */
BSTM_API int vm_engine_create(const vm_config *config, uint32_t workers, vm_engine **engine);
BSTM_API void vm_engine_destroy(vm_engine *engine);

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */
/* ------------------------------------------------------------------------ */

#define VM_MAX_NAME	      32u /* identifier bytes */
#define VM_MAX_ARGS	      16u
#define VM_MAX_BUNDLE	      16u /* modules per publish */
#define VM_TXN_FORMAT_VERSION 1u

typedef enum vm_payload_kind {
	VM_PAYLOAD_CALL = 1,
	VM_PAYLOAD_PUBLISH = 2,
} vm_payload_kind;

typedef struct vm_txn {
	uint64_t sender;
	uint64_t sequence;
	uint64_t gas_limit;
	uint64_t gas_price;
	uint32_t kind;	    /* vm_payload_kind; 0 marks a transaction that did not decode */
	uint32_t malformed; /* 1 when vm_txn_decode rejected the bytes; executes as DISCARDED */
	/* VM_PAYLOAD_CALL */
	uint64_t module_address;
	char module[VM_MAX_NAME + 1];
	char function[VM_MAX_NAME + 1];
	uint32_t arg_count;
	uint64_t args[VM_MAX_ARGS];
	/* VM_PAYLOAD_PUBLISH: the blobs are borrowed, not copied */
	uint32_t module_count;
	const uint8_t *modules[VM_MAX_BUNDLE];
	size_t module_lens[VM_MAX_BUNDLE];
} vm_txn;

/* Fill a call transaction (names are copied; they must fit VM_MAX_NAME). */
BSTM_API int vm_txn_call(vm_txn *txn, uint64_t sender, uint64_t sequence, uint64_t gas_limit,
			 uint64_t gas_price, uint64_t module_address, const char *module,
			 const char *function, const uint64_t *args, uint32_t arg_count);

/*
 * The wire format (docs/vm.md). vm_txn_encode returns the encoded size, or a
 * negative code; with buf NULL it only measures. vm_txn_decode returns 0,
 * BSTM_EFORMAT, or BSTM_EINVAL for a NULL txn; a publish transaction keeps
 * pointers into `bytes`.
 */
BSTM_API long vm_txn_encode(const vm_txn *txn, uint8_t *buf, size_t cap);
BSTM_API int vm_txn_decode(const uint8_t *bytes, size_t len, vm_txn *txn);

/*
 * Hand the engine the next block's transactions (borrowed until the block
 * call returns). Counts blocks for the recreate-every-N-blocks setting.
 * vm_txn_execute returns BSTM_EINVAL (so the block call fails with
 * BSTM_ETXN) for an index at or past `count`, and for every index when
 * txns is NULL.
 */
BSTM_API void vm_engine_begin_block(vm_engine *engine, const vm_txn *txns, uint32_t count);

/* The bstm_txn_fn of the built-in VM; ctx is the vm_engine. */
BSTM_API int vm_txn_execute(void *ctx, uint32_t index, bstm_view *view, bstm_txn_outcome *outcome);

/* Instances the engine has created so far (tests and benchmarks). */
BSTM_API uint64_t vm_engine_instances_created(const vm_engine *engine);

/* ------------------------------------------------------------------------ */
/* The in-memory map                                                         */
/* ------------------------------------------------------------------------ */

/* A byte-string map: base state for tests and benchmarks. */
typedef struct vm_kvmap vm_kvmap;

BSTM_API int vm_kvmap_create(vm_kvmap **map);
BSTM_API void vm_kvmap_destroy(vm_kvmap *map);
BSTM_API int vm_kvmap_put(vm_kvmap *map, const void *key, size_t key_len, const void *value,
			  size_t value_len);
BSTM_API int vm_kvmap_remove(vm_kvmap *map, const void *key, size_t key_len);
BSTM_API int vm_kvmap_get(const vm_kvmap *map, const void *key, size_t key_len, const void **value,
			  size_t *value_len);
BSTM_API size_t vm_kvmap_count(const vm_kvmap *map);
/* A base view over the map (thread-safe while the map is not modified). */
BSTM_API void vm_kvmap_base_view(vm_kvmap *map, bstm_base_view *view);
/* Apply a block's merged write set, all or nothing: on failure (bad
 * writes, out of memory) the map is as it was. */
BSTM_API int vm_kvmap_apply(vm_kvmap *map, const bstm_output *output);

/* ------------------------------------------------------------------------ */
/* Keys, genesis, the standard library                                       */
/* ------------------------------------------------------------------------ */

#define VM_STDLIB_ADDRESS 0x1u
#define VM_MAX_KEY	  (1u + 8u + 8u + 1u + VM_MAX_NAME + 1u + VM_MAX_NAME)

/* Key of resource `resource` of module (module_address, module) at `account`. */
BSTM_API size_t vm_resource_key(uint8_t *key, uint64_t account, uint64_t module_address,
				const char *module, const char *resource);
/* Key under which module (address, name) is stored. */
BSTM_API size_t vm_module_key(uint8_t *key, uint64_t address, const char *name);

/* Names and assembler text of the standard library modules. */
typedef struct vm_stdlib_module {
	const char *name;
	const char *source;
} vm_stdlib_module;
BSTM_API extern const vm_stdlib_module vm_stdlib[];
BSTM_API extern const size_t vm_stdlib_count;

/*
 * Write the standard library (assembled, at VM_STDLIB_ADDRESS) into `map`,
 * run each module's init as 0x1, and create accounts 1 .. accounts plus 0x1,
 * every one with sequence number 0 and `balance` coins.
 */
BSTM_API int vm_genesis(vm_kvmap *map, uint64_t accounts, uint64_t balance);

/* Assemble `text` into a module binary (malloc'd). On failure return
 * BSTM_EFORMAT (syntax, *line set), BSTM_EVERIFY (*verr set), BSTM_EINVAL
 * (NULL text, binary or len) or BSTM_ENOMEM. */
BSTM_API int vm_assemble(const char *text, uint8_t **binary, size_t *len, int *line, int *verr);

/* Disassemble a module binary into malloc'd canonical text. Returns 0,
 * BSTM_EVERIFY when the binary does not load or verify (*verr says why,
 * when not NULL), BSTM_EINVAL (text NULL, or binary NULL with a length), or
 * BSTM_ENOMEM. */
BSTM_API int vm_disassemble(const uint8_t *binary, size_t len, char **text, int *verr);

#endif
