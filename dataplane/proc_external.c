/*
 * proc_external.c — loading a tenant's processor from a shared object.
 *
 * A tenant may set processor = /path/to/something.so. The object must
 * export SL_PROC_SYMBOL ("sluice_processor"), a function returning its
 * struct sl_processor, whose abi_version must equal the
 * SL_PROC_ABI_VERSION sluiced was built with: the table layout and the
 * meaning of its functions are the ABI, and a mismatch would call through
 * the wrong pointers. Everything is checked here, at start-up, so a bad
 * object stops sluiced with a message instead of crashing a worker later.
 *
 * RTLD_NOW resolves every symbol now (a missing one fails the load, not
 * the first line); RTLD_LOCAL keeps the object's symbols from leaking
 * into other processors. The handle is never closed: the table and its
 * functions live as long as the process.
 *
 * An external processor runs in the worker's thread, in sluiced's address
 * space: a crash in it is a crash of sluiced (see docs/architecture.md).
 */
#include <dlfcn.h>
#include <stdio.h>

#include "processor.h"


const struct sl_processor *sl_processor_load(const char *path, char *err, size_t errlen)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(err, errlen, "%s: cannot load processor: %s; expected a shared object built against processor.h",
			 path, dlerror());
		return NULL;
	}

	/* POSIX: a data pointer from dlsym is converted to a function pointer this way. */
	sl_processor_entry_fn entry;
	void *sym = dlsym(h, SL_PROC_SYMBOL);
	if (sym == NULL) {
		snprintf(err, errlen, "%s: no symbol %s; expected the object to export "
			 "const struct sl_processor *%s(void)", path, SL_PROC_SYMBOL, SL_PROC_SYMBOL);
		dlclose(h);
		return NULL;
	}
	*(void **)&entry = sym;

	const struct sl_processor *p = entry();
	if (p == NULL) {
		snprintf(err, errlen, "%s: %s() returned NULL; expected its processor table", path, SL_PROC_SYMBOL);
		dlclose(h);
		return NULL;
	}
	if (p->abi_version != SL_PROC_ABI_VERSION) {
		snprintf(err, errlen, "%s: processor ABI version %u, but this sluiced speaks version %u; "
			 "expected the processor rebuilt against this sluiced's processor.h",
			 path, p->abi_version, SL_PROC_ABI_VERSION);
		dlclose(h);
		return NULL;
	}
	const char *missing = p->name == NULL ? "name" : p->init == NULL ? "init" :
			      p->process == NULL ? "process" : NULL;
	if (missing != NULL) {
		snprintf(err, errlen, "%s: the processor table has no %s; expected name, init and process to be set",
			 path, missing);
		dlclose(h);
		return NULL;
	}
	return p;
}
