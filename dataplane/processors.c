/*
 * processors.c — the built-in processors by name, as a tenant's
 * processor key names them (config.c accepts exactly these names).
 */
#include <string.h>

#include "processor.h"

static const struct sl_processor *const builtins[] = {
	&sl_proc_csv,
	&sl_proc_ndjson,
	&sl_proc_tweet,
	&sl_proc_topk,
	&sl_proc_simulate,
};

const struct sl_processor *sl_processor_builtin(const char *name)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (strcmp(builtins[i]->name, name) == 0)
			return builtins[i];
	return NULL;
}
