/*
 * proc_csv.c — the built-in processor: one line is one RFC 4180 record.
 *
 * It counts the fields, checks the quoting and, when the tenant asks for
 * a column count, checks it. The splitter has already decided where the
 * line ends (and flagged lines it could not deliver whole), so this file
 * only judges what is inside one line. It shares the splitter's quote
 * rules: a '"' opens a quoted field only at the start of a field; inside
 * one, "" is an escaped quote and a lone '"' closes it.
 *
 * Most lines have no quotes at all; for them the field count is one plus
 * the number of commas, found eight bytes at a time in one pass that
 * also watches for a '"' (and falls back to the full parse if it sees one).
 */
#include <string.h>

#include "processor.h"
#include "split.h"

struct csv_parse {
	uint32_t fields;
	uint16_t reason;
	uint32_t detail;
};

#define BYTES(b) (0x0101010101010101ull * (uint8_t)(b))

/* High bit set in each byte of x that is zero, nothing else (exact, no carries). */
static inline uint64_t zero_bytes(uint64_t x)
{
	const uint64_t low7 = BYTES(0x7f);

	return ~(((x & low7) + low7) | x | low7);
}

/*
 * The fast path, eight bytes at a time: count the ',' bytes of a line
 * and stop early if a '"' shows up. Returns 0 and sets *commas when the
 * line has no quote, -1 when it needs the full parse.
 */
static int count_commas_unquoted(const char *p, uint32_t len, uint32_t *commas)
{
	uint32_t n = 0, i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, sizeof(w));
		if (zero_bytes(w ^ BYTES('"')) != 0)
			return -1;
		n += (uint32_t)__builtin_popcountll(zero_bytes(w ^ BYTES(',')));
	}
	for (; i < len; i++) {
		if (p[i] == '"')
			return -1;
		n += p[i] == ',';
	}
	*commas = n;
	return 0;
}

/* Walk a line that contains at least one '"'; stop at the first error. */
static void parse_quoted(const char *line, uint32_t len, struct csv_parse *r)
{
	const char *p = line;
	const char *end = line + len;

	r->fields = 1;
	for (;;) {
		/* p is at the start of field number r->fields. */
		if (p < end && *p == '"') {
			p++;
			for (;;) {
				const char *q = memchr(p, '"', (size_t)(end - p));

				if (q == NULL) {
					r->reason = SL_R_UNTERMINATED;
					return;
				}
				if (q + 1 < end && q[1] == '"') {
					p = q + 2;
					continue;
				}
				p = q + 1;
				break;
			}
			if (p == end)
				return;
			if (*p != ',') {
				r->reason = SL_R_AFTER_QUOTE;
				r->detail = r->fields;
				return;
			}
		} else {
			const char *comma = memchr(p, ',', (size_t)(end - p));
			const char *stop = comma != NULL ? comma : end;

			if (memchr(p, '"', (size_t)(stop - p)) != NULL) {
				r->reason = SL_R_BARE_QUOTE;
				r->detail = r->fields;
				return;
			}
			if (comma == NULL)
				return;
			p = comma;
		}
		p++;                            /* past the ',' */
		r->fields++;
	}
}

/* Stateless: any non-NULL pointer tells the worker that init succeeded. */
static char csv_state;

static void *csv_init(const struct sl_config *cfg __rte_unused, unsigned worker __rte_unused)
{
	return &csv_state;
}

static void csv_process(void *state __rte_unused, const struct sl_tenant_conf *tenant,
			const char *line, uint32_t len, uint32_t line_flags,
			struct sl_result *out)
{
	struct csv_parse r = { .fields = 1, .reason = SL_R_NONE, .detail = 0 };

	if (line_flags & SL_LINE_OVERSIZE) {
		/* The text was not kept; the worker fills in the limit. */
		out->status = SL_ST_ERROR;
		out->reason = SL_R_OVERSIZE;
		out->fields = 0;
		out->detail = 0;
		return;
	}

	uint32_t commas;

	if (count_commas_unquoted(line, len, &commas) == 0)
		r.fields = 1 + commas;
	else
		parse_quoted(line, len, &r);

	if (line_flags & SL_LINE_UNTERMINATED) {
		r.reason = SL_R_UNTERMINATED;
		r.detail = 0;
	} else if (r.reason == SL_R_UNTERMINATED) {
		r.detail = 0;
	}

	if (r.reason == SL_R_NONE && tenant != NULL && tenant->columns != 0 &&
	    r.fields != tenant->columns) {
		r.reason = SL_R_COLUMNS;
		r.detail = tenant->columns;
	}

	out->status = r.reason == SL_R_NONE ? SL_ST_OK : SL_ST_ERROR;
	out->reason = r.reason;
	out->fields = r.fields;
	out->detail = r.detail;
}

static void csv_flush(void *state __rte_unused)
{
}

static void csv_fini(void *state __rte_unused)
{
}

const struct sl_processor sl_proc_csv = {
	.name = "csv",
	.init = csv_init,
	.process = csv_process,
	.flush = csv_flush,
	.fini = csv_fini,
};
