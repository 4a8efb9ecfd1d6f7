/*
 * fuzz_asm.c - the assembler against arbitrary text.
 *
 * The input, cut at its first NUL, is assembler source. It must either
 * assemble or be rejected with a syntax error that names a line, or with a
 * verifier error that names a vm_verr; never crash, hang or leak.
 *
 * A module that assembles is held to the round trip docs/vm.md promises:
 *   - its binary loads and verifies, so it disassembles;
 *   - assembling that text gives back the identical binary;
 *   - disassembling that binary gives back the identical text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static void check_rejected(int rc, int line, int verr)
{
	bool syntax = rc == BSTM_EFORMAT && line > 0 && verr == 0;
	bool verify = rc == BSTM_EVERIFY && verr > 0 && verr < VM_VERR_COUNT_;
	if (!syntax && !verify && rc != BSTM_ENOMEM) {
		fprintf(stderr, "fuzz_asm: rejection returned %d, line %d, verr %d\n", rc, line,
			verr);
		abort();
	}
}

static void check_round_trip(const uint8_t *binary, size_t len)
{
	char *text;
	int verr = 0;
	int rc = vm_disassemble(binary, len, &text, &verr);
	if (rc == BSTM_ENOMEM)
		return;
	if (rc != 0) {
		fprintf(stderr, "fuzz_asm: assembled module does not disassemble (%s)\n",
			vm_verr_name(verr));
		abort();
	}
	uint8_t *again;
	size_t again_len;
	int line = 0;
	rc = vm_assemble(text, &again, &again_len, &line, &verr);
	if (rc != 0) {
		fprintf(stderr, "fuzz_asm: disassembly does not assemble (line %d, %s)\n%s", line,
			vm_verr_name(verr), text);
		abort();
	}
	if (again_len != len || memcmp(again, binary, len) != 0) {
		fprintf(stderr, "fuzz_asm: text round trip changed the binary\n%s", text);
		abort();
	}
	char *text_again;
	if (vm_disassemble(again, again_len, &text_again, NULL) == 0) {
		if (strcmp(text, text_again) != 0) {
			fprintf(stderr, "fuzz_asm: disassembly is not canonical\n%s", text);
			abort();
		}
		free(text_again);
	}
	free(again);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *source = malloc(size + 1);
	if (!source)
		return 0;
	memcpy(source, data, size);
	source[size] = 0;
	uint8_t *binary = NULL;
	size_t len = 0;
	int line = 0, verr = 0;
	int rc = vm_assemble(source, &binary, &len, &line, &verr);
	if (rc != 0)
		check_rejected(rc, line, verr);
	else
		check_round_trip(binary, len);
	free(binary);
	free(source);
	return 0;
}
