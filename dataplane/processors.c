/*
 * processors.c — the built-in processors by name, as a tenant's
 * processor key names them (config.c accepts exactly these names).
 */
#include <stdarg.h>
#include <stdio.h>
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

int
sl_processor_check_data(const struct sl_processor *p, const char *share_dir, char *err, size_t errlen)
{
	if (p == &sl_proc_tweet)
		return sl_tweet_check_data(share_dir, err, errlen);
	return 0;
}

void
sl_line_fail(struct sl_result *res, struct sl_rec_out *out, uint16_t reason, uint32_t detail,
	     const char *fmt, ...)
{
	char text[192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(text) - 1)
		n = (int)sizeof(text) - 1;
	res->status = SL_ST_ERROR;
	res->reason = reason;
	res->fields = 0;
	res->detail = detail;
	sl_rec_add(out, SL_STREAM_REASON, text, (uint32_t)n);
}
