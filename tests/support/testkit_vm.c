/*
 * testkit_vm.c - see testkit_vm.h.
 */
#include "testkit_vm.h"

#include <stdio.h>
#include <stdlib.h>

int tk_vm_install(vm_kvmap *map, uint64_t address, const char *name, const char *text, char *why,
		  size_t why_len)
{
	uint8_t *bin, key[VM_MAX_KEY];
	size_t len;
	int line = 0, verr = 0;
	int rc = vm_assemble(text, &bin, &len, &line, &verr);
	if (rc) {
		snprintf(why, why_len, "assemble: rc %d line %d verr %s", rc, line,
			 vm_verr_name(verr));
		return rc;
	}
	rc = vm_kvmap_put(map, key, vm_module_key(key, address, name), bin, len);
	free(bin);
	if (rc)
		snprintf(why, why_len, "store module %s: rc %d", name, rc);
	return rc;
}
