/*
 * testkit_vm.h - helpers for the tests of the built-in VM (prefix tk_vm_).
 * Like testkit.h, nothing here depends on Criterion.
 */
#ifndef TESTKIT_VM_H
#define TESTKIT_VM_H

#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

/* Assemble `text` and store the module in `map` under (address, name).
 * 0, or an error code with a description of the failure in why. */
int tk_vm_install(vm_kvmap *map, uint64_t address, const char *name, const char *text, char *why,
		  size_t why_len);

#endif /* TESTKIT_VM_H */
