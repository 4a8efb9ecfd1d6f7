/*
 * opcodes.h - the instruction set, one table.
 *
 * Every instruction is an opcode byte followed by at most one operand group
 * whose width the format fixes. The table below is the single source of
 * truth: the decoder takes operand widths from it, the verifier its stack
 * effects, the interpreter its gas costs, the assembler and disassembler its
 * mnemonics.
 *
 * Formats (operand bytes in the binary, little-endian):
 *   NONE      no operand
 *   IMM       u32 immediate                          (4)
 *   LOCAL     u8 local index                         (1)
 *   CONST     u16 constant pool index                (2)
 *   JUMP      u32 byte offset of the target within the function's code (4)
 *   FUNC      u16 index of a function of this module (2)
 *   IMPORT    u16 import index                       (2)
 *   RES       u16 resource index                     (2)
 *   FIELD     u16 resource index, u8 field index     (3)
 *   COUNT     u8 count                               (1)
 *
 * Stack effects are (pops, pushes); -1 means "depends on the operand" (calls,
 * ret, rnew, emit) and the verifier computes it. Values are u64; booleans are
 * 0 and 1, and a branch treats any non-zero value as true.
 *
 *  X(name,   mnemonic, format, pops, pushes, gas, meaning)
 */
#ifndef BLOCKSTM_VM_OPCODES_H
#define BLOCKSTM_VM_OPCODES_H

#define VM_OPCODES(X)                                                                              \
	X(NOP, "nop", NONE, 0, 0, 1, "do nothing")                                                 \
	X(PUSH, "push", IMM, 0, 1, 1, "push the immediate, zero-extended")                         \
	X(CONST, "const", CONST, 0, 1, 1, "push constant k")                                       \
	X(POP, "pop", NONE, 1, 0, 1, "drop the top value")                                         \
	X(DUP, "dup", NONE, 1, 2, 1, "push a copy of the top value")                               \
	X(SWAP, "swap", NONE, 2, 2, 1, "exchange the two top values")                              \
	X(LOAD, "load", LOCAL, 0, 1, 1, "push local l")                                            \
	X(STORE, "store", LOCAL, 1, 0, 1, "pop into local l")                                      \
	X(ADD, "add", NONE, 2, 1, 2, "a + b; fails on overflow")                                   \
	X(SUB, "sub", NONE, 2, 1, 2, "a - b; fails when b > a")                                    \
	X(MUL, "mul", NONE, 2, 1, 3, "a * b; fails on overflow")                                   \
	X(DIV, "div", NONE, 2, 1, 4, "a / b; fails when b = 0")                                    \
	X(MOD, "mod", NONE, 2, 1, 4, "a % b; fails when b = 0")                                    \
	X(AND, "and", NONE, 2, 1, 1, "bitwise and")                                                \
	X(OR, "or", NONE, 2, 1, 1, "bitwise or")                                                   \
	X(XOR, "xor", NONE, 2, 1, 1, "bitwise exclusive or")                                       \
	X(SHL, "shl", NONE, 2, 1, 1, "a << b; fails when b > 63")                                  \
	X(SHR, "shr", NONE, 2, 1, 1, "a >> b; fails when b > 63")                                  \
	X(EQ, "eq", NONE, 2, 1, 1, "a == b")                                                       \
	X(NE, "ne", NONE, 2, 1, 1, "a != b")                                                       \
	X(LT, "lt", NONE, 2, 1, 1, "a < b")                                                        \
	X(LE, "le", NONE, 2, 1, 1, "a <= b")                                                       \
	X(GT, "gt", NONE, 2, 1, 1, "a > b")                                                        \
	X(GE, "ge", NONE, 2, 1, 1, "a >= b")                                                       \
	X(NOT, "not", NONE, 1, 1, 1, "1 if the top value is 0, else 0")                            \
	X(JMP, "jmp", JUMP, 0, 0, 1, "jump to the target")                                         \
	X(JZ, "jz", JUMP, 1, 0, 1, "pop; jump if it is 0")                                         \
	X(JNZ, "jnz", JUMP, 1, 0, 1, "pop; jump if it is not 0")                                   \
	X(CALL, "call", FUNC, -1, -1, 10, "call function f of this module")                        \
	X(CALLX, "callx", IMPORT, -1, -1, 15, "call imported function i")                          \
	X(RET, "ret", NONE, -1, 0, 2, "return the declared results to the caller")                 \
	X(ABORT, "abort", NONE, 1, 0, 1, "pop a code; abort the transaction with it")              \
	X(SENDER, "sender", NONE, 0, 1, 1, "push the transaction's sender")                        \
	X(EXISTS, "exists", RES, 1, 1, 30, "pop an account; push 1 if it holds resource r")        \
	X(RGET, "rget", FIELD, 1, 1, 30, "pop an account; push field f of its resource r")         \
	X(RSET, "rset", FIELD, 2, 0, 40, "pop v, an account; set field f of its resource r")       \
	X(RNEW, "rnew", RES, -1, 0, 50, "pop the fields, an account; create resource r")           \
	X(RDEL, "rdel", RES, 1, 0, 40, "pop an account; delete its resource r")                    \
	X(MLOAD, "mload", NONE, 1, 1, 2, "pop an address; push the u64 in scratch memory there")   \
	X(MSTORE, "mstore", NONE, 2, 0, 2, "pop v, an address; store v in scratch memory")         \
	X(HASH, "hash", NONE, 3, 0, 20,                                                            \
	  "pop len, src, dst; scratch[dst..+32] = sha256(src..+len)")                              \
	X(EMIT, "emit", COUNT, -1, 0, 20, "pop n values; emit them as an event")

typedef enum vm_opcode {
#define VM_OPCODE_ENUM_(name, mnemonic, format, pops, pushes, gas, meaning) VM_OP_##name,
	VM_OPCODES(VM_OPCODE_ENUM_)
#undef VM_OPCODE_ENUM_
		VM_OP_COUNT_
} vm_opcode;

typedef enum vm_format {
	VM_FMT_NONE,
	VM_FMT_IMM,
	VM_FMT_LOCAL,
	VM_FMT_CONST,
	VM_FMT_JUMP,
	VM_FMT_FUNC,
	VM_FMT_IMPORT,
	VM_FMT_RES,
	VM_FMT_FIELD,
	VM_FMT_COUNT,
} vm_format;

typedef struct vm_opinfo {
	const char *mnemonic;
	const char *meaning;
	unsigned char format;
	signed char pops;
	signed char pushes;
	unsigned char gas;
} vm_opinfo;

extern const vm_opinfo vm_opinfo_table[VM_OP_COUNT_];
/* Operand bytes in the binary for each format. */
extern const unsigned char vm_format_width[];

#endif
