/*
 * test_vm_kvmap.c - the in-memory map behind genesis, tests and benchmarks,
 * against a trivially correct model under random puts and removes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vm/vm.h"

#define KEYS 3000

Test(vm_kvmap, random_operations_match_a_model)
{
	static uint32_t model[KEYS]; /* 0: absent, else value */
	vm_kvmap *m;
	cr_assert_eq(vm_kvmap_create(&m), 0);
	uint64_t r = 12345;
	for (int step = 0; step < 200000; step++) {
		r = r * 6364136223846793005ull + 1442695040888963407ull;
		uint32_t k = (uint32_t)(r >> 33) % KEYS, op = (uint32_t)(r >> 20) % 10;
		char key[32];
		int klen = snprintf(key, sizeof key, "key-%u", k * 7919u);
		if (op < 6) {
			uint32_t v = (uint32_t)(r >> 40) | 1;
			cr_assert_eq(vm_kvmap_put(m, key, (size_t)klen, &v, sizeof v), 0);
			model[k] = v;
		} else if (op < 8) {
			int rc = vm_kvmap_remove(m, key, (size_t)klen);
			cr_assert_eq(rc, model[k] ? 0 : BSTM_ENOTFOUND);
			model[k] = 0;
		} else {
			const void *v;
			size_t len;
			int rc = vm_kvmap_get(m, key, (size_t)klen, &v, &len);
			if (model[k]) {
				cr_assert_eq(rc, 0);
				cr_assert_eq(len, 4);
				cr_assert_eq(memcmp(v, &model[k], 4), 0);
			} else {
				cr_assert_eq(rc, BSTM_ENOTFOUND, "key %u", k);
			}
		}
	}
	size_t present = 0;
	for (uint32_t k = 0; k < KEYS; k++) {
		char key[32];
		int klen = snprintf(key, sizeof key, "key-%u", k * 7919u);
		const void *v;
		size_t len;
		int rc = vm_kvmap_get(m, key, (size_t)klen, &v, &len);
		cr_assert_eq(rc, model[k] ? 0 : BSTM_ENOTFOUND, "key %u", k);
		present += model[k] != 0;
	}
	cr_expect_eq(vm_kvmap_count(m), present);
	vm_kvmap_destroy(m);
}

Test(vm_kvmap, null_arguments)
{
	vm_kvmap *m;
	cr_assert_eq(vm_kvmap_create(&m), 0);
	cr_expect_eq(vm_kvmap_put(m, NULL, 0, NULL, 0), 0); /* the empty key */
	cr_expect_eq(vm_kvmap_put(m, NULL, 3, "v", 1), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_put(m, "k", 1, NULL, 2), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_put(NULL, "k", 1, "v", 1), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_apply(m, NULL), BSTM_EINVAL);
	const void *v;
	size_t len;
	cr_expect_eq(vm_kvmap_get(NULL, "k", 1, &v, &len), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_get(m, "k", 1, NULL, &len), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_remove(NULL, "k", 1), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_remove(m, NULL, 1), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_count(NULL), 0);
	vm_kvmap_destroy(m);
}

#define U(s) ((const uint8_t *)(s))

static bool holds(const vm_kvmap *m, const char *key, const char *want)
{
	const void *v;
	size_t len;
	if (vm_kvmap_get(m, key, strlen(key), &v, &len) != 0)
		return want == NULL;
	return want && len == strlen(want) && memcmp(v, want, len) == 0;
}

/* A write set with a bad write anywhere changes nothing, also when the
 * good writes before it would have grown the table. */
Test(vm_kvmap, apply_is_all_or_nothing)
{
	vm_kvmap *m;
	cr_assert_eq(vm_kvmap_create(&m), 0);
	cr_assert_eq(vm_kvmap_put(m, "a", 1, "1", 1), 0);
	cr_assert_eq(vm_kvmap_put(m, "b", 1, "2", 1), 0);
	enum { N = 1000 };
	static bstm_write w[N + 3];
	static char keys[N][16];
	for (int i = 0; i < N; i++) {
		int n = snprintf(keys[i], sizeof keys[i], "new-%d", i);
		w[i] = (bstm_write){.key = (const uint8_t *)keys[i],
				    .key_len = (uint32_t)n,
				    .value = U("x"),
				    .value_len = 1};
	}
	w[N] = (bstm_write){.key = U("a"), .key_len = 1, .is_delete = 1};
	w[N + 1] = (bstm_write){.key = U("b"), .key_len = 1, .value = U("3"), .value_len = 1};
	w[N + 2] = (bstm_write){.key = U("c"), .key_len = 1, .value = NULL, .value_len = 5};
	bstm_output out = {.writes = w, .write_count = N + 3};
	cr_expect_eq(vm_kvmap_apply(m, &out), BSTM_EINVAL);
	cr_expect_eq(vm_kvmap_count(m), 2);
	cr_expect(holds(m, "a", "1"));
	cr_expect(holds(m, "b", "2"));
	cr_expect(holds(m, "new-0", NULL));
	static uint8_t big[BSTM_MAX_VALUE_LEN + 1];
	w[N + 2] = (bstm_write){.key = U("c"), .key_len = 1, .value = big, .value_len = sizeof big};
	cr_expect_eq(vm_kvmap_apply(m, &out), BSTM_ETOOBIG);
	cr_expect_eq(vm_kvmap_count(m), 2);
	w[N + 2] = (bstm_write){.key = U("c"), .key_len = 1, .value = U("4"), .value_len = 1};
	cr_assert_eq(vm_kvmap_apply(m, &out), 0);
	cr_expect_eq(vm_kvmap_count(m), N + 2);
	cr_expect(holds(m, "a", NULL));
	cr_expect(holds(m, "b", "3"));
	cr_expect(holds(m, "c", "4"));
	cr_expect(holds(m, "new-999", "x"));
	vm_kvmap_destroy(m);
}

Test(vm_kvmap, empty_keys_and_values)
{
	vm_kvmap *m;
	cr_assert_eq(vm_kvmap_create(&m), 0);
	cr_assert_eq(vm_kvmap_put(m, "", 0, "", 0), 0);
	const void *v;
	size_t len = 9;
	cr_expect_eq(vm_kvmap_get(m, "", 0, &v, &len), 0);
	cr_expect_eq(len, 0);
	cr_expect_eq(vm_kvmap_remove(m, "", 0), 0);
	cr_expect_eq(vm_kvmap_get(m, "", 0, &v, &len), BSTM_ENOTFOUND);
	vm_kvmap_destroy(m);
}
