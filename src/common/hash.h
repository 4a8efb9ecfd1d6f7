/*
 * hash.h - the 64-bit hash of key bytes used by every hash index.
 *
 * Keys are short (tens of bytes) and hashed on every read and write, so the
 * hash consumes 8 bytes per multiply and finishes with a full-avalanche
 * mixer; it needs no seed because block contents are not adversarial to the
 * index (a bad distribution only costs time, never correctness).
 */
#ifndef BSTM_HASH_H
#define BSTM_HASH_H

#include <stdint.h>
#include <string.h>

static inline uint64_t bstm_hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static inline uint64_t bstm_hash_bytes(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0x100000001b3ULL);
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9fb21c651e98df25ULL;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0x9fb21c651e98df25ULL;
	}
	return bstm_hash_mix(h);
}

#endif
