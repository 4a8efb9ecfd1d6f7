/*
 * fuzz_txn.c - the transaction wire format against arbitrary bytes.
 *
 * Every input must either decode or be rejected with BSTM_EFORMAT, leaving
 * a transaction marked malformed (which executes as DISCARDED); never crash,
 * hang or read past the input.
 *
 * A transaction that decodes is held to the format's promise: the encoding
 * is canonical, so encoding it again reproduces the input byte for byte,
 * measuring (a NULL buffer) gives the same size as writing, and a buffer
 * one byte short is refused (BSTM_ETOOBIG) without a write past its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/internal.h"

static void check_rejected(int rc, const vm_txn *txn)
{
	if (rc != BSTM_EFORMAT || !txn->malformed || txn->kind != 0) {
		fprintf(stderr, "fuzz_txn: rejection returned %d, malformed %u, kind %u\n", rc,
			txn->malformed, txn->kind);
		abort();
	}
}

static void check_round_trip(const uint8_t *data, size_t size, const vm_txn *txn)
{
	if (txn->malformed || (txn->kind != VM_PAYLOAD_CALL && txn->kind != VM_PAYLOAD_PUBLISH))
		abort();
	long measured = vm_txn_encode(txn, NULL, 0);
	if (measured < 0 || (size_t)measured != size) {
		fprintf(stderr, "fuzz_txn: re-encoding measures %ld bytes, input has %zu\n",
			measured, size);
		abort();
	}
	uint8_t *again = malloc(size);
	if (!again)
		return;
	long written = vm_txn_encode(txn, again, size);
	if (written != measured || memcmp(again, data, size) != 0) {
		fputs("fuzz_txn: re-encoding a decoded transaction changed it\n", stderr);
		abort();
	}
	free(again);
	/* allocated to the byte, so the sanitizer sees a write past the end */
	uint8_t *short_buf = malloc(size - 1);
	if (!short_buf)
		return;
	if (vm_txn_encode(txn, short_buf, size - 1) != BSTM_ETOOBIG) {
		fputs("fuzz_txn: a buffer one byte short was not refused\n", stderr);
		abort();
	}
	free(short_buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vm_txn txn;
	int rc = vm_txn_decode(data, size, &txn);
	if (rc != 0)
		check_rejected(rc, &txn);
	else
		check_round_trip(data, size, &txn);
	return 0;
}
