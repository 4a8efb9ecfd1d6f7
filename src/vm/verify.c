/*
 * verify.c - what a module must satisfy before it may run.
 *
 * The interpreter executes verified code without checking it again, so this
 * file is the VM's safety argument. For every function it proves:
 *
 *   - every operand indexes something that exists: locals, constants,
 *     functions, imports, resources and their fields; jump targets are
 *     instructions (the decoder already mapped byte offsets to them);
 *   - the operand stack height is a function of the instruction alone: the
 *     same on every path that reaches it (checked at every join), never
 *     negative, never above VM_MAX_FUNCTION_STACK; its maximum is recorded
 *     so a call can reserve the callee's whole frame up front;
 *   - control never runs off the end of the code, and every `ret` leaves
 *     exactly the declared number of return values;
 *   - calls pop the callee's params and push its returns (imports carry the
 *     signature they expect; the loader checks it against the target).
 *
 * Module-level rules: names are unique per kind, `init` is private with no
 * params and no returns, entry functions return nothing, a module does not
 * import itself. Whether imports resolve is decided when the module is
 * linked (loader.c), because it depends on state.
 *
 * The stack check is the classic abstract interpretation with a worklist:
 * each instruction is visited once per function since heights never change
 * once set (a different height is an error, not a widening).
 */
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static int check_names(const vm_module *m)
{
	for (uint32_t i = 0; i < m->function_count; i++)
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(m->functions[i].name, m->functions[j].name) == 0)
				return VM_VERR_DUPLICATE_NAME;
	for (uint32_t i = 0; i < m->resource_count; i++) {
		const vm_resource *r = &m->resources[i];
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(r->name, m->resources[j].name) == 0)
				return VM_VERR_DUPLICATE_NAME;
		for (unsigned f = 0; f < r->field_count; f++)
			for (unsigned g = 0; g < f; g++)
				if (strcmp(r->fields[f], r->fields[g]) == 0)
					return VM_VERR_DUPLICATE_NAME;
	}
	for (uint32_t i = 0; i < m->import_count; i++) {
		const vm_import *a = &m->imports[i];
		if (a->address == m->address && strcmp(a->module, m->name) == 0)
			return VM_VERR_IMPORT_SELF;
		/* the assembler names an import module.function, so that pair is unique */
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(a->module, m->imports[j].module) == 0 &&
			    strcmp(a->function, m->imports[j].function) == 0)
				return VM_VERR_DUPLICATE_NAME;
	}
	return 0;
}

static int check_operands(const vm_module *m, const vm_function *fn)
{
	unsigned frame = (unsigned)fn->params + fn->locals;
	for (uint32_t i = 0; i < fn->code_count; i++) {
		const vm_insn *in = &fn->code[i];
		if (in->op >= VM_OP_COUNT_)
			return VM_VERR_UNKNOWN_OPCODE;
		switch (vm_opinfo_table[in->op].format) {
		case VM_FMT_LOCAL:
			if (in->a >= frame)
				return VM_VERR_LOCAL_INDEX;
			break;
		case VM_FMT_CONST:
			if (in->a >= m->const_count)
				return VM_VERR_CONST_INDEX;
			break;
		case VM_FMT_JUMP:
			if (in->a >= fn->code_count)
				return VM_VERR_JUMP_TARGET;
			break;
		case VM_FMT_FUNC:
			if (in->a >= m->function_count)
				return VM_VERR_FUNC_INDEX;
			break;
		case VM_FMT_IMPORT:
			if (in->a >= m->import_count)
				return VM_VERR_IMPORT_INDEX;
			break;
		case VM_FMT_RES:
			if (in->a >= m->resource_count)
				return VM_VERR_RESOURCE_INDEX;
			break;
		case VM_FMT_FIELD:
			if (in->a >= m->resource_count)
				return VM_VERR_RESOURCE_INDEX;
			if (in->b >= m->resources[in->a].field_count)
				return VM_VERR_FIELD_INDEX;
			break;
		case VM_FMT_COUNT:
			if (in->a == 0 || in->a > VM_MAX_EMIT)
				return VM_VERR_BAD_COUNT;
			break;
		default:
			break;
		}
	}
	return 0;
}

static void effect(const vm_module *m, const vm_insn *in, int *pops, int *pushes)
{
	const vm_opinfo *info = &vm_opinfo_table[in->op];
	*pops = info->pops;
	*pushes = info->pushes;
	switch (in->op) {
	case VM_OP_CALL:
		*pops = m->functions[in->a].params;
		*pushes = m->functions[in->a].returns;
		break;
	case VM_OP_CALLX:
		*pops = m->imports[in->a].params;
		*pushes = m->imports[in->a].returns;
		break;
	case VM_OP_RNEW:
		*pops = 1 + m->resources[in->a].field_count;
		break;
	case VM_OP_EMIT:
		*pops = (int)in->a;
		break;
	case VM_OP_RET:
		*pops = 0; /* checked against the declared returns instead */
		break;
	default:
		break;
	}
}

static int check_stack(const vm_module *m, vm_function *fn)
{
	uint32_t n = fn->code_count;
	int32_t *height = malloc(n * sizeof *height);
	uint32_t *work = malloc(n * sizeof *work);
	if (!height || !work) {
		free(height);
		free(work);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		height[i] = -1;
	uint32_t top = 0;
	int err = 0, max = 0;
	height[0] = 0;
	work[top++] = 0;
	while (top > 0 && !err) {
		uint32_t i = work[--top];
		const vm_insn *in = &fn->code[i];
		int h = height[i], pops, pushes;
		effect(m, in, &pops, &pushes);
		if (h < pops) {
			err = VM_VERR_STACK_UNDERFLOW;
			break;
		}
		int next = h - pops + pushes;
		if (next > (int)VM_MAX_FUNCTION_STACK) {
			err = VM_VERR_STACK_LIMIT;
			break;
		}
		if (next > max)
			max = next;
		uint32_t succ[2];
		unsigned nsucc = 0;
		switch (in->op) {
		case VM_OP_RET:
			if (h != fn->returns)
				err = VM_VERR_RETURN_ARITY;
			break;
		case VM_OP_ABORT:
			break;
		case VM_OP_JMP:
			succ[nsucc++] = in->a;
			break;
		case VM_OP_JZ:
		case VM_OP_JNZ:
			succ[nsucc++] = in->a;
			succ[nsucc++] = i + 1;
			break;
		default:
			succ[nsucc++] = i + 1;
			break;
		}
		for (unsigned s = 0; s < nsucc && !err; s++) {
			uint32_t t = succ[s];
			if (t >= n)
				err = VM_VERR_FALLS_OFF_END;
			else if (height[t] < 0) {
				height[t] = next;
				work[top++] = t;
			} else if (height[t] != next)
				err = VM_VERR_STACK_MISMATCH;
		}
	}
	free(height);
	free(work);
	fn->max_stack = (uint32_t)max;
	return err;
}

/* Returns 0, a positive vm_verr, or BSTM_ENOMEM. */
int vm_verify(vm_module *m)
{
	m->verified = false;
	if (!vm_name_valid(m->name, strlen(m->name)))
		return VM_VERR_BAD_NAME;
	int err = check_names(m);
	if (err)
		return err;
	for (uint32_t i = 0; i < m->function_count; i++) {
		vm_function *fn = &m->functions[i];
		if (fn->visibility > VM_ENTRY)
			return VM_VERR_BAD_VISIBILITY;
		if (strcmp(fn->name, "init") == 0 &&
		    (fn->visibility != VM_PRIVATE || fn->params || fn->returns))
			return VM_VERR_BAD_INIT;
		if (fn->visibility == VM_ENTRY && fn->returns)
			return VM_VERR_ENTRY_RETURNS;
		if ((unsigned)fn->params + fn->locals > 255)
			return VM_VERR_TOO_MANY_LOCALS;
		if (fn->code_count == 0)
			return VM_VERR_EMPTY_CODE;
	}
	for (uint32_t i = 0; i < m->function_count; i++) {
		err = check_operands(m, &m->functions[i]);
		if (err)
			return err;
	}
	for (uint32_t i = 0; i < m->function_count; i++) {
		err = check_stack(m, &m->functions[i]);
		if (err)
			return err < 0 ? BSTM_ENOMEM : err;
	}
	vm_module_finish(m);
	m->verified = true;
	return 0;
}
