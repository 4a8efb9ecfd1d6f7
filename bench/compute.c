/*
 * compute.c - the compute padding: SHA-256 iterated over a 32-byte buffer,
 * through OpenSSL's EVP interface with one digest context per thread, freed
 * when the thread ends.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>

#include "bench.h"

static EVP_MD *bench_sha256;
static __thread EVP_MD_CTX *bench_ctx;
static pthread_key_t bench_ctx_key;

static void bench_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

__attribute__((constructor)) static void bench_compute_init(void)
{
	bench_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (pthread_key_create(&bench_ctx_key, bench_ctx_free))
		abort();
}

void bench_compute(uint8_t buf[32], uint32_t iterations)
{
	if (!bench_ctx) {
		bench_ctx = EVP_MD_CTX_new();
		if (!bench_ctx || pthread_setspecific(bench_ctx_key, bench_ctx))
			abort();
	}
	if (!bench_sha256)
		abort();
	for (uint32_t i = 0; i < iterations; i++) {
		unsigned len = 32;
		EVP_DigestInit_ex2(bench_ctx, bench_sha256, NULL);
		EVP_DigestUpdate(bench_ctx, buf, 32);
		EVP_DigestFinal_ex(bench_ctx, buf, &len);
	}
}
