/*
 * reason.c — names and human text for line result reasons (batch.h).
 *
 * The short names are stable identifiers: they appear in ACK messages,
 * result files and metric labels, so they never change once shipped.
 * The text is for people reading an error ACK; it says what was found
 * in the line in terms of the line, not of the code.
 */
#include <stdio.h>

#include "batch.h"

static const char *const reason_names[SL_R__COUNT] = {
	[SL_R_NONE] = "ok",
	[SL_R_COLUMNS] = "columns",
	[SL_R_BARE_QUOTE] = "bare_quote",
	[SL_R_AFTER_QUOTE] = "after_quote",
	[SL_R_UNTERMINATED] = "unterminated_quote",
	[SL_R_OVERSIZE] = "oversize",
};

const char *sl_reason_name(enum sl_reason r)
{
	if ((unsigned)r >= SL_R__COUNT || reason_names[r] == NULL)
		return "unknown";
	return reason_names[r];
}

int sl_result_reason_text(const struct sl_result *r, char *buf, size_t cap)
{
	switch (r->reason) {
	case SL_R_NONE:
		return snprintf(buf, cap, "%s", "");
	case SL_R_COLUMNS:
		return snprintf(buf, cap, "expected %u column%s, got %u",
				(unsigned)r->detail, r->detail == 1 ? "" : "s",
				(unsigned)r->fields);
	case SL_R_BARE_QUOTE:
		return snprintf(buf, cap, "quote inside unquoted field %u", (unsigned)r->detail);
	case SL_R_AFTER_QUOTE:
		return snprintf(buf, cap, "unexpected bytes after closing quote in field %u",
				(unsigned)r->detail);
	case SL_R_UNTERMINATED:
		return snprintf(buf, cap, "document ended inside a quoted field");
	case SL_R_OVERSIZE:
		if (r->detail == 0)
			return snprintf(buf, cap, "line longer than the limit");
		return snprintf(buf, cap, "line longer than %u bytes", (unsigned)r->detail);
	default:
		return snprintf(buf, cap, "unknown reason %u", (unsigned)r->reason);
	}
}
