/*
 * compute.c - the compute padding: SHA-256 iterated over a 32-byte buffer,
 * through OpenSSL's EVP interface with one digest context per thread.
 */
#include <openssl/evp.h>
#include <stdlib.h>

#include "bench.h"

static EVP_MD *bench_sha256;
static __thread EVP_MD_CTX *bench_ctx;

__attribute__((constructor)) static void bench_compute_init(void)
{
	bench_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void bench_compute(uint8_t buf[32], uint32_t iterations)
{
	if (!bench_ctx)
		bench_ctx = EVP_MD_CTX_new();
	if (!bench_ctx || !bench_sha256)
		abort();
	for (uint32_t i = 0; i < iterations; i++) {
		unsigned len = 32;
		EVP_DigestInit_ex2(bench_ctx, bench_sha256, NULL);
		EVP_DigestUpdate(bench_ctx, buf, 32);
		EVP_DigestFinal_ex(bench_ctx, buf, &len);
	}
}
