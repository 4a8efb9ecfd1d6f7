/*
 * sha.c - SHA-256 through OpenSSL's EVP interface.
 *
 * The digest is fetched once per process (EVP_MD_fetch is not free) and
 * shared read-only; each execution instance owns an EVP_MD_CTX that it
 * re-initialises for every digest, so the hash opcode allocates nothing.
 * A failure of libcrypto here means the process cannot hash at all, which no
 * transaction could recover from: it is treated as fatal.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "vm/internal.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (!sha256_md) {
		fputs("blockstm vm: SHA-256 unavailable in libcrypto\n", stderr);
		abort();
	}
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

vm_sha_ctx *vm_sha_ctx_new(void)
{
	sha256();
	return EVP_MD_CTX_new();
}

void vm_sha_ctx_free(vm_sha_ctx *ctx)
{
	EVP_MD_CTX_free(ctx);
}

void vm_sha256_ctx(vm_sha_ctx *ctx, const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	if (EVP_DigestInit_ex2(ctx, sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
	    EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != 32) {
		fputs("blockstm vm: SHA-256 failed\n", stderr);
		abort();
	}
}

void vm_sha256(const void *data, size_t len, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx) {
		fputs("blockstm vm: out of memory for a digest context\n", stderr);
		abort();
	}
	vm_sha256_ctx(ctx, data, len, out);
	EVP_MD_CTX_free(ctx);
}
