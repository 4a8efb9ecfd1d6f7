/*
 * interp.c - the interpreter: one loop, one dispatch.
 *
 * The loop runs verified code only. What the verifier proved is asserted in
 * debug builds and otherwise assumed: operands are in bounds, the stack never
 * underflows within a frame, a frame never outgrows the max_stack recorded
 * for its function, `ret` finds exactly the declared results on the stack.
 * What the verifier cannot know is checked here, always: arithmetic
 * overflow, gas, call depth, the instance's stack capacity (checked once per
 * call for the callee's whole frame), scratch memory bounds, and whatever
 * state returns (a speculative read may be any bytes at all).
 *
 * Stack layout: one u64 array holds every frame. A frame's locals start with
 * its params, which the caller pushed; the callee's extra locals follow
 * (zeroed at the call, so nothing from a previous call or transaction is
 * visible), then its operand stack. `ret` moves the results down to where
 * the params began.
 *
 * Dispatch is a switch; with GCC or Clang a computed-goto table replaces it
 * (VM_COMPUTED_GOTO=0 turns that off). Instructions that can fail store the
 * pc and gas back into the frame and the exec before leaving the loop.
 */
#include <assert.h>
#include <string.h>

#include "vm/internal.h"

#ifndef VM_COMPUTED_GOTO
#if defined(__GNUC__)
#define VM_COMPUTED_GOTO 1
#else
#define VM_COMPUTED_GOTO 0
#endif
#endif

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, 8);
}

static vm_exit charge(vm_exec *x, uint64_t cost)
{
	if (x->gas_left < cost) {
		x->gas_left = 0;
		return VM_EXIT_OUT_OF_GAS;
	}
	x->gas_left -= cost;
	return VM_EXIT_OK;
}

/* Read resource `r` at `account`; a value of the wrong size fails. */
static vm_exit resource_read(vm_exec *x, const vm_resource *r, uint64_t account, uint8_t *key,
			     size_t *key_len, const uint8_t **value, bool *found)
{
	size_t len;
	*key_len = vm_key_resource(key, account, r);
	vm_exit e = vm_state_read(x, key, *key_len, value, &len, found);
	if (e == VM_EXIT_OK && *found && len != (size_t)r->field_count * 8) {
		x->code = VM_FAIL_CORRUPT_RESOURCE;
		return VM_EXIT_FAIL;
	}
	return e;
}

static vm_exit resource_write(vm_exec *x, const uint8_t *key, size_t key_len, const uint8_t *value,
			      size_t len, uint8_t **copy)
{
	vm_exit e = charge(x, (uint64_t)(key_len + len) * VM_GAS_WRITE_BYTE);
	if (e != VM_EXIT_OK)
		return e;
	*copy = vm_overlay_put(&x->inst->overlay, key, key_len, value, len);
	if (!*copy) {
		x->code = VM_FAIL_WRITE_LIMIT;
		return VM_EXIT_FAIL;
	}
	return VM_EXIT_OK;
}

/* Resource instructions, kept out of the loop: they are rare next to
 * arithmetic and large. `sp` is the operand stack top, updated in place. */
static vm_exit resource_op(vm_exec *x, const vm_module *m, const vm_insn *in, uint64_t **spp)
{
	uint64_t *sp = *spp;
	assert(in->a < m->resource_count);
	const vm_resource *r = &m->resources[in->a];
	assert((in->op != VM_OP_RGET && in->op != VM_OP_RSET) || in->b < r->field_count);
	uint8_t key[VM_MAX_KEY], fields[VM_MAX_FIELDS * 8], *copy;
	const uint8_t *value = NULL;
	size_t key_len, len = (size_t)r->field_count * 8;
	bool found = false;
	vm_exit e;
	switch (in->op) {
	case VM_OP_EXISTS:
		e = resource_read(x, r, sp[-1], key, &key_len, &value, &found);
		if (e == VM_EXIT_OK)
			sp[-1] = found;
		break;
	case VM_OP_RGET:
		e = resource_read(x, r, sp[-1], key, &key_len, &value, &found);
		if (e == VM_EXIT_OK && !found) {
			x->code = VM_FAIL_MISSING_RESOURCE;
			e = VM_EXIT_FAIL;
		}
		if (e == VM_EXIT_OK)
			sp[-1] = load_le64(value + 8 * in->b);
		break;
	case VM_OP_RSET:
		e = resource_read(x, r, sp[-2], key, &key_len, &value, &found);
		if (e == VM_EXIT_OK && !found) {
			x->code = VM_FAIL_MISSING_RESOURCE;
			e = VM_EXIT_FAIL;
		}
		if (e == VM_EXIT_OK)
			e = resource_write(x, key, key_len, value, len, &copy);
		if (e == VM_EXIT_OK)
			store_le64(copy + 8 * in->b, sp[-1]);
		sp -= 2;
		break;
	case VM_OP_RNEW:
		sp -= r->field_count;
		for (unsigned f = 0; f < r->field_count; f++)
			store_le64(fields + 8 * f, sp[f]);
		e = resource_read(x, r, sp[-1], key, &key_len, &value, &found);
		if (e == VM_EXIT_OK && found) {
			x->code = VM_FAIL_RESOURCE_EXISTS;
			e = VM_EXIT_FAIL;
		}
		if (e == VM_EXIT_OK)
			e = resource_write(x, key, key_len, fields, len, &copy);
		sp--;
		break;
	default: /* VM_OP_RDEL */
		assert(in->op == VM_OP_RDEL);
		e = resource_read(x, r, sp[-1], key, &key_len, &value, &found);
		if (e == VM_EXIT_OK && !found) {
			x->code = VM_FAIL_MISSING_RESOURCE;
			e = VM_EXIT_FAIL;
		}
		if (e == VM_EXIT_OK)
			e = charge(x, (uint64_t)key_len * VM_GAS_WRITE_BYTE);
		if (e == VM_EXIT_OK && vm_overlay_delete(&x->inst->overlay, key, key_len) != 0) {
			x->code = VM_FAIL_WRITE_LIMIT;
			e = VM_EXIT_FAIL;
		}
		sp--;
		break;
	}
	*spp = sp;
	return e;
}

/* Scratch memory [addr, addr + len) within the instance's limit? */
static inline bool scratch_ok(const vm_instance *in, uint64_t addr, uint64_t len)
{
	return len <= in->config.scratch_bytes && addr <= in->config.scratch_bytes - len;
}

/* Mark the pages of [addr, addr + len) dirty (len > 0, within the limit):
 * the next reset clears them. Each page is listed once. */
static inline void scratch_touch(vm_instance *in, uint64_t addr, uint64_t len)
{
	uint32_t last = (uint32_t)((addr + len - 1) / VM_SCRATCH_PAGE);
	for (uint32_t page = (uint32_t)(addr / VM_SCRATCH_PAGE); page <= last; page++) {
		uint8_t bit = (uint8_t)(1u << (page % 8));
		if (in->scratch_marks[page / 8] & bit)
			continue;
		in->scratch_marks[page / 8] |= bit;
		in->scratch_dirty[in->scratch_dirty_count++] = page;
	}
}

static vm_exit hash_op(vm_exec *x, uint64_t dst, uint64_t src, uint64_t len)
{
	vm_instance *in = x->inst;
	if (!scratch_ok(in, src, len) || !scratch_ok(in, dst, 32)) {
		x->code = VM_FAIL_MEMORY_LIMIT;
		return VM_EXIT_FAIL;
	}
	vm_exit e = charge(x, (len / 64 + 1) * VM_GAS_HASH_BLOCK);
	if (e != VM_EXIT_OK)
		return e;
	uint8_t digest[32];
	vm_sha256_ctx(in->sha, in->scratch + src, len, digest);
	memcpy(in->scratch + dst, digest, 32);
	scratch_touch(in, dst, 32);
	return VM_EXIT_OK;
}

static vm_exit emit_op(vm_exec *x, const uint64_t *values, unsigned n)
{
	uint8_t data[VM_MAX_EMIT * 8];
	for (unsigned i = 0; i < n; i++)
		store_le64(data + 8 * i, values[i]);
	vm_exit e = charge(x, (uint64_t)n * 8 * VM_GAS_EVENT_BYTE);
	if (e != VM_EXIT_OK)
		return e;
	if (vm_overlay_event(&x->inst->overlay, data, (size_t)n * 8) != 0) {
		x->code = VM_FAIL_WRITE_LIMIT;
		return VM_EXIT_FAIL;
	}
	return VM_EXIT_OK;
}

vm_exit vm_run(vm_exec *x, const vm_module *module, const vm_function *fn, const uint64_t *args,
	       uint64_t *results)
{
	vm_instance *inst = x->inst;
	uint64_t *const stack_end = inst->stack + inst->config.stack_values;
	const uint32_t max_depth = inst->config.call_depth;
	assert(module->verified);

	if ((uint64_t)fn->params + fn->locals + fn->max_stack > inst->config.stack_values) {
		x->code = VM_FAIL_STACK_OVERFLOW;
		return VM_EXIT_FAIL;
	}
	uint64_t *locals = inst->stack;
	if (fn->params)
		memcpy(locals, args, (size_t)fn->params * sizeof *locals);
	memset(locals + fn->params, 0, (size_t)fn->locals * sizeof *locals);
	uint64_t *sp = locals + fn->params + fn->locals;
	uint32_t depth = 1;
	vm_frame *frame = &inst->frames[0];
	frame->module = module;
	frame->fn = fn;
	frame->locals = locals;
	const vm_insn *code = fn->code;
	const uint64_t *consts = module->consts;
	uint32_t pc = 0;
	uint64_t gas = x->gas_left;
	const vm_insn *in;
	const vm_function *callee;
	const vm_module *target;
	uint64_t a, b, r;
	vm_exit e;

/* Leave the loop for a helper: publish gas and pc, reload gas after. */
#define SAVE()                                                                                     \
	do {                                                                                       \
		x->gas_left = gas;                                                                 \
		frame->pc = pc;                                                                    \
	} while (0)
#define RESTORE() (gas = x->gas_left)
#define FAIL(c)                                                                                    \
	do {                                                                                       \
		x->code = (c);                                                                     \
		e = VM_EXIT_FAIL;                                                                  \
		goto leave;                                                                        \
	} while (0)
#define BINARY(expr)                                                                               \
	do {                                                                                       \
		b = *--sp;                                                                         \
		a = sp[-1];                                                                        \
		sp[-1] = (expr);                                                                   \
	} while (0)
/* What the verifier proved of the frame, checked before each instruction in
 * debug builds: the pc is inside the code, the operand stack neither went
 * below the frame's locals nor above its max_stack. */
#ifndef NDEBUG
#define vmcheck()                                                                                  \
	do {                                                                                       \
		const uint64_t *base_ = locals + frame->fn->params + frame->fn->locals;            \
		assert(pc < frame->fn->code_count);                                                \
		assert(sp >= base_ && sp <= base_ + frame->fn->max_stack);                         \
	} while (0)
#else
#define vmcheck() ((void)0)
#endif
#define vmfetch()                                                                                  \
	do {                                                                                       \
		vmcheck();                                                                         \
		in = &code[pc++];                                                                  \
		assert(in->op < VM_OP_COUNT_);                                                     \
		if (gas < vm_gas_table[in->op])                                                    \
			goto out_of_gas;                                                           \
		gas -= vm_gas_table[in->op];                                                       \
	} while (0)

#if VM_COMPUTED_GOTO
	static const void *const dispatch_table[VM_OP_COUNT_] = {
#define VM_LABEL_(name, mnemonic, format, pops, pushes, gas, meaning) &&op_##name,
		VM_OPCODES(VM_LABEL_)
#undef VM_LABEL_
	};
#define vmdispatch(o) goto *dispatch_table[o];
#define vmcase(name)  op_##name:
#define vmbreak                                                                                    \
	vmfetch();                                                                                 \
	vmdispatch(in->op)
#else
#define vmdispatch(o) switch (o)
#define vmcase(name)  case VM_OP_##name:
#define vmbreak	      break
#endif

	for (;;) {
		vmfetch();
		vmdispatch(in->op)
		{
			vmcase(NOP)
			{
				vmbreak;
			}
			vmcase(PUSH)
			{
				*sp++ = in->a;
				vmbreak;
			}
			vmcase(CONST)
			{
				assert(in->a < frame->module->const_count);
				*sp++ = consts[in->a];
				vmbreak;
			}
			vmcase(POP)
			{
				sp--;
				vmbreak;
			}
			vmcase(DUP)
			{
				sp[0] = sp[-1];
				sp++;
				vmbreak;
			}
			vmcase(SWAP)
			{
				a = sp[-1];
				sp[-1] = sp[-2];
				sp[-2] = a;
				vmbreak;
			}
			vmcase(LOAD)
			{
				assert(in->a < (uint32_t)frame->fn->params + frame->fn->locals);
				*sp++ = locals[in->a];
				vmbreak;
			}
			vmcase(STORE)
			{
				assert(in->a < (uint32_t)frame->fn->params + frame->fn->locals);
				locals[in->a] = *--sp;
				vmbreak;
			}
			vmcase(ADD)
			{
				b = *--sp;
				if (__builtin_add_overflow(sp[-1], b, &r))
					FAIL(VM_FAIL_ARITHMETIC);
				sp[-1] = r;
				vmbreak;
			}
			vmcase(SUB)
			{
				b = *--sp;
				if (__builtin_sub_overflow(sp[-1], b, &r))
					FAIL(VM_FAIL_ARITHMETIC);
				sp[-1] = r;
				vmbreak;
			}
			vmcase(MUL)
			{
				b = *--sp;
				if (__builtin_mul_overflow(sp[-1], b, &r))
					FAIL(VM_FAIL_ARITHMETIC);
				sp[-1] = r;
				vmbreak;
			}
			vmcase(DIV)
			{
				b = *--sp;
				if (b == 0)
					FAIL(VM_FAIL_ARITHMETIC);
				sp[-1] /= b;
				vmbreak;
			}
			vmcase(MOD)
			{
				b = *--sp;
				if (b == 0)
					FAIL(VM_FAIL_ARITHMETIC);
				sp[-1] %= b;
				vmbreak;
			}
			vmcase(AND)
			{
				BINARY(a & b);
				vmbreak;
			}
			vmcase(OR)
			{
				BINARY(a | b);
				vmbreak;
			}
			vmcase(XOR)
			{
				BINARY(a ^ b);
				vmbreak;
			}
			vmcase(SHL)
			{
				if (sp[-1] > 63)
					FAIL(VM_FAIL_ARITHMETIC);
				BINARY(a << b);
				vmbreak;
			}
			vmcase(SHR)
			{
				if (sp[-1] > 63)
					FAIL(VM_FAIL_ARITHMETIC);
				BINARY(a >> b);
				vmbreak;
			}
			vmcase(EQ)
			{
				BINARY(a == b);
				vmbreak;
			}
			vmcase(NE)
			{
				BINARY(a != b);
				vmbreak;
			}
			vmcase(LT)
			{
				BINARY(a < b);
				vmbreak;
			}
			vmcase(LE)
			{
				BINARY(a <= b);
				vmbreak;
			}
			vmcase(GT)
			{
				BINARY(a > b);
				vmbreak;
			}
			vmcase(GE)
			{
				BINARY(a >= b);
				vmbreak;
			}
			vmcase(NOT)
			{
				sp[-1] = sp[-1] == 0;
				vmbreak;
			}
			vmcase(JMP)
			{
				pc = in->a;
				vmbreak;
			}
			vmcase(JZ)
			{
				if (*--sp == 0)
					pc = in->a;
				vmbreak;
			}
			vmcase(JNZ)
			{
				if (*--sp != 0)
					pc = in->a;
				vmbreak;
			}
			vmcase(CALL)
			{
				assert(in->a < frame->module->function_count);
				callee = &frame->module->functions[in->a];
				target = frame->module;
				goto call;
			}
			vmcase(CALLX)
			{
				assert(in->a < frame->module->import_count);
				callee = frame->module->imports[in->a].target;
				target = frame->module->imports[in->a].target_module;
				assert(callee && target->verified);
			}
		call:
			if (depth == max_depth)
				FAIL(VM_FAIL_CALL_DEPTH);
			if ((uint64_t)(stack_end - sp) <
			    (uint64_t)callee->locals + callee->max_stack)
				FAIL(VM_FAIL_STACK_OVERFLOW);
			frame->pc = pc;
			locals = sp - callee->params;
			memset(sp, 0, (size_t)callee->locals * sizeof *sp);
			sp += callee->locals;
			frame = &inst->frames[depth++];
			frame->module = target;
			frame->fn = callee;
			frame->locals = locals;
			code = callee->code;
			consts = target->consts;
			pc = 0;
			vmbreak;
			vmcase(RET)
			{
				unsigned n = frame->fn->returns;
				assert(sp - n == locals + frame->fn->params + frame->fn->locals);
				memmove(locals, sp - n, n * sizeof *sp);
				sp = locals + n;
				if (--depth == 0) {
					if (n)
						memcpy(results, locals, n * sizeof *sp);
					x->gas_left = gas;
					return VM_EXIT_OK;
				}
				frame = &inst->frames[depth - 1];
				locals = frame->locals;
				code = frame->fn->code;
				consts = frame->module->consts;
				pc = frame->pc;
				vmbreak;
			}
			vmcase(ABORT)
			{
				x->code = *--sp;
				e = VM_EXIT_ABORT;
				goto leave;
			}
			vmcase(SENDER)
			{
				*sp++ = x->sender;
				vmbreak;
			}
			vmcase(EXISTS) vmcase(RGET) vmcase(RSET) vmcase(RNEW) vmcase(RDEL)
			{
				SAVE();
				e = resource_op(x, frame->module, in, &sp);
				if (e != VM_EXIT_OK)
					return e;
				RESTORE();
				vmbreak;
			}
			vmcase(MLOAD)
			{
				a = sp[-1];
				if (!scratch_ok(inst, a, 8))
					FAIL(VM_FAIL_MEMORY_LIMIT);
				sp[-1] = load_le64(inst->scratch + a);
				vmbreak;
			}
			vmcase(MSTORE)
			{
				b = *--sp;
				a = *--sp;
				if (!scratch_ok(inst, a, 8))
					FAIL(VM_FAIL_MEMORY_LIMIT);
				store_le64(inst->scratch + a, b);
				scratch_touch(inst, a, 8);
				vmbreak;
			}
			vmcase(HASH)
			{
				sp -= 3;
				SAVE();
				e = hash_op(x, sp[0], sp[1], sp[2]);
				if (e != VM_EXIT_OK)
					return e;
				RESTORE();
				vmbreak;
			}
			vmcase(EMIT)
			{
				sp -= in->a;
				SAVE();
				e = emit_op(x, sp, in->a);
				if (e != VM_EXIT_OK)
					return e;
				RESTORE();
				vmbreak;
			}
#if !VM_COMPUTED_GOTO
		default:
			assert(!"opcode the verifier should have rejected");
			FAIL(VM_FAIL_ARITHMETIC);
#endif
		}
	}

out_of_gas:
	x->gas_left = 0;
	frame->pc = pc;
	return VM_EXIT_OUT_OF_GAS;
leave:
	SAVE();
	return e;
#undef SAVE
#undef RESTORE
#undef FAIL
#undef BINARY
#undef vmfetch
#undef vmdispatch
#undef vmcase
#undef vmbreak
}
