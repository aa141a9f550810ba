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
	[SL_R_SCHEMA] = "schema",
	[SL_R_JSON] = "json",
	[SL_R_FIELD] = "field",
	[SL_R_POISON] = "poison",
	[SL_R_OUTPUT] = "output",
	[SL_R_PROCESSOR] = "processor",
	[SL_R_TIMEOUT] = "timeout",
	[SL_R_NO_RESULT] = "no_result",
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
	/*
	 * The processors behind these usually say more in the line's reason
	 * record (the column, the field, the error); this is the fallback.
	 */
	case SL_R_SCHEMA:
		return snprintf(buf, cap, "column does not match the schema");
	case SL_R_JSON:
		return snprintf(buf, cap, "not a valid JSON object");
	case SL_R_FIELD:
		return snprintf(buf, cap, "required field missing");
	case SL_R_POISON:
		return snprintf(buf, cap, "quarantined: this line crashed workers %u time%s",
				(unsigned)r->detail, r->detail == 1 ? "" : "s");
	case SL_R_OUTPUT:
		if (r->detail == 0)
			return snprintf(buf, cap, "the line's output did not fit");
		return snprintf(buf, cap, "the line's output records need more than %u bytes or %u records",
				(unsigned)r->detail, SL_RESULT_RECS);
	case SL_R_PROCESSOR:
		return snprintf(buf, cap, "external processor error");
	case SL_R_TIMEOUT:
		return snprintf(buf, cap, "the processor did not finish the line within pending_timeout_ms "
				"(%u ms)", (unsigned)r->detail);
	case SL_R_NO_RESULT:
		return snprintf(buf, cap, "no result: the document failed while waiting for an earlier line "
				"(its later results passed [storage] held_max_mb = %u MiB)", (unsigned)r->detail);
	default:
		return snprintf(buf, cap, "unknown reason %u", (unsigned)r->reason);
	}
}
