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
 * Without a schema that is all: no output record, the fast path stays fast.
 *
 * With a schema (tenant key schema = "name:type[?], ..."), a well-formed
 * line is walked a second time, field by field: each is checked against
 * its column's type (int, float, bool, timestamp, string) and, if the
 * column is required, for being non-empty. A good line becomes one JSON
 * object in stream 0 ("records") with typed values: numbers unquoted and
 * normalized to JSON's grammar ("+007" -> 7, ".5" -> 0.5), bools as
 * true/false, strings escaped, an empty optional field as null. A bad one
 * is SL_R_SCHEMA with detail = the 1-based column and a reason record
 * such as: column 'price' (3): 'abc' is not a float.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
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

/* ---- the schema ---------------------------------------------------------- */

struct csv_state {
	const struct sl_tenant_conf *tenant;
	uint32_t rec_cap;
	char rec[];                    /* the line's record is built here, then appended */
};

/* One field of a well-formed line: its raw bytes, and whether it is quoted. */
struct field {
	const char *p;                 /* content (inside the quotes, if quoted) */
	uint32_t len;
	bool quoted;                   /* then "" inside stands for one '"' */
};

/* The field at *pos (a line already known to be well formed); moves *pos past its ','. */
static void next_field(const char *line, uint32_t len, uint32_t *pos, struct field *f)
{
	uint32_t i = *pos;

	if (i < len && line[i] == '"') {
		uint32_t j = i + 1;
		for (;;) {
			const char *q = memchr(line + j, '"', len - j);
			j = (uint32_t)(q - line);
			if (j + 1 < len && line[j + 1] == '"') {
				j += 2;
				continue;
			}
			break;
		}
		f->p = line + i + 1;
		f->len = j - i - 1;
		f->quoted = true;
		*pos = j + 2;           /* past '"' and ',' */
		return;
	}
	const char *comma = i < len ? memchr(line + i, ',', len - i) : NULL;
	uint32_t stop = comma != NULL ? (uint32_t)(comma - line) : len;
	f->p = line + i;
	f->len = stop - i;
	f->quoted = false;
	*pos = stop + 1;
}

/* A field's value with "" undone, into buf (for the typed checks); -1 if longer than cap. */
static int field_text(const struct field *f, char *buf, size_t cap)
{
	size_t n = 0;

	for (uint32_t i = 0; i < f->len; i++) {
		if (n >= cap)
			return -1;
		buf[n++] = f->p[i];
		if (f->quoted && f->p[i] == '"')
			i++;
	}
	return (int)n;
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* int: optional sign, digits, fits int64. Writes the JSON form (no '+', no leading zeros). */
static int check_int(const char *s, int n, char *out, int *olen)
{
	int i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	if (i == n)
		return -1;
	for (; i < n; i++) {
		if (!digit(s[i]))
			return -1;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > ((uint64_t)INT64_MAX + (neg ? 1u : 0u) - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*olen = snprintf(out, 24, "%s%llu", neg && v != 0 ? "-" : "", (unsigned long long)v);
	return 0;
}

/*
 * float: [+-] (digits [. digits] | . digits) [(e|E) [+-] digits], the
 * strtod decimal grammar without inf/nan/hex (which JSON cannot carry).
 * Writes the JSON form: no '+', no leading zeros, a digit on both sides of
 * the point ("5." -> 5, ".5" -> 0.5). The digits are kept as written, so
 * no precision is lost on the way.
 */
static int check_float(const char *s, int n, char *out, int *olen)
{
	int i = 0, o = 0, int_start, int_end, frac_start, frac_end;

	if (i < n && (s[i] == '+' || s[i] == '-')) {
		if (s[i] == '-')
			out[o++] = '-';
		i++;
	}
	int_start = i;
	while (i < n && digit(s[i]))
		i++;
	int_end = i;
	frac_start = frac_end = i;
	if (i < n && s[i] == '.') {
		frac_start = ++i;
		while (i < n && digit(s[i]))
			i++;
		frac_end = i;
	}
	if (int_end == int_start && frac_end == frac_start)
		return -1;              /* no digit at all */
	while (int_start < int_end - 1 && s[int_start] == '0')
		int_start++;
	if (int_end == int_start) {
		out[o++] = '0';
	} else {
		memcpy(out + o, s + int_start, (size_t)(int_end - int_start));
		o += int_end - int_start;
	}
	if (frac_end > frac_start) {
		out[o++] = '.';
		memcpy(out + o, s + frac_start, (size_t)(frac_end - frac_start));
		o += frac_end - frac_start;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		out[o++] = s[i++];
		if (i < n && (s[i] == '+' || s[i] == '-'))
			out[o++] = s[i++];
		if (i == n || !digit(s[i]))
			return -1;
		while (i < n && digit(s[i]))
			out[o++] = s[i++];
	}
	if (i != n)
		return -1;
	*olen = o;
	return 0;
}

static int check_bool(const char *s, int n, bool *v)
{
	static const char *const yes[] = { "true", "yes", "1" };
	static const char *const no[] = { "false", "no", "0" };

	for (unsigned i = 0; i < 3; i++) {
		if ((int)strlen(yes[i]) == n && strncasecmp(s, yes[i], (size_t)n) == 0) {
			*v = true;
			return 0;
		}
		if ((int)strlen(no[i]) == n && strncasecmp(s, no[i], (size_t)n) == 0) {
			*v = false;
			return 0;
		}
	}
	return -1;
}

/* n digits at s as a number, or -1. */
static int num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * timestamp: "YYYY-MM-DD", or RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"
 * (T and Z in either case). Day ranges follow the month and leap years;
 * second 60 is allowed for leap seconds.
 */
static int check_timestamp(const char *s, int n)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, i;

	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	y = num(s, 4);
	mo = num(s + 5, 2);
	d = num(s + 8, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	if (n == 10)
		return 0;
	if (n < 20 || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
		return -1;
	int hh = num(s + 11, 2), mm = num(s + 14, 2), ss = num(s + 17, 2);
	if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
		return -1;
	i = 19;
	if (s[i] == '.') {
		int f = ++i;
		while (i < n && digit(s[i]))
			i++;
		if (i == f)
			return -1;
	}
	if (i < n && (s[i] == 'Z' || s[i] == 'z'))
		return i + 1 == n ? 0 : -1;
	if (i + 6 != n || (s[i] != '+' && s[i] != '-') || s[i + 3] != ':')
		return -1;
	int oh = num(s + i + 1, 2), om = num(s + i + 4, 2);
	if (oh < 0 || oh > 23 || om < 0 || om > 59)
		return -1;
	return 0;
}

/* Append to the record being built; false when it is full. */
struct rec_buf {
	char *p;
	uint32_t n, cap;
};

static bool put(struct rec_buf *b, const char *s, size_t n)
{
	if (n > b->cap - b->n)
		return false;
	memcpy(b->p + b->n, s, n);
	b->n += (uint32_t)n;
	return true;
}

/* A field as a JSON string: "" undone, then escaped. */
static bool put_string(struct rec_buf *b, const struct field *f)
{
	uint32_t start = 0;

	if (!put(b, "\"", 1))
		return false;
	/* Escape run by run between the doubled quotes of a quoted field. */
	for (uint32_t i = 0; i <= f->len; i++) {
		if (i < f->len && !(f->quoted && f->p[i] == '"'))
			continue;
		int w = sl_json_escape(b->p + b->n, b->cap - b->n, f->p + start, i - start);
		if (w < 0)
			return false;
		b->n += (uint32_t)w;
		if (i < f->len) {
			if (!put(b, "\\\"", 2))
				return false;
			i++;            /* the second quote of "" */
			start = i + 1;
		}
	}
	return put(b, "\"", 1);
}

/* A value for a human message: printable ASCII, at most 40 bytes, '?' for the rest. */
static int show(char *dst, size_t cap, const struct field *f)
{
	char tmp[48];
	int n = field_text(f, tmp, sizeof(tmp));
	int len = n < 0 || n > 40 ? 40 : n;
	for (int i = 0; i < len; i++)
		if ((unsigned char)tmp[i] < 0x20 || (unsigned char)tmp[i] > 0x7e)
			tmp[i] = '?';
	return snprintf(dst, cap, "%.*s%s", len, tmp, n < 0 || n > 40 ? "..." : "");
}

static const char *const type_word[] = {
	[SL_COL_STRING] = "a string",
	[SL_COL_INT] = "an int",
	[SL_COL_FLOAT] = "a float",
	[SL_COL_BOOL] = "a bool",
	[SL_COL_TIMESTAMP] = "a timestamp",
};

/* Fill an SL_R_SCHEMA error for column c (0-based) and its reason record. */
static void schema_error(const struct sl_tenant_conf *t, uint32_t c, const struct field *f,
			 bool empty, struct sl_result *res, struct sl_rec_out *out)
{
	char msg[256], val[64];
	int n;

	res->status = SL_ST_ERROR;
	res->reason = SL_R_SCHEMA;
	res->detail = c + 1;
	if (empty) {
		n = snprintf(msg, sizeof(msg), "column '%s' (%u): required but empty",
			     t->schema[c].name, c + 1);
	} else {
		show(val, sizeof(val), f);
		n = snprintf(msg, sizeof(msg), "column '%s' (%u): '%s' is not %s",
			     t->schema[c].name, c + 1, val, type_word[t->schema[c].type]);
	}
	if (n > (int)sizeof(msg) - 1)
		n = (int)sizeof(msg) - 1;
	sl_rec_add(out, SL_STREAM_REASON, msg, (uint32_t)n);
}

/*
 * Check a well-formed line against the schema and build its record.
 * Returns 0 (record appended or overflow flagged) or -1 (res filled with
 * the schema error).
 */
static int apply_schema(struct csv_state *st, const char *line, uint32_t len,
			struct sl_result *res, struct sl_rec_out *out)
{
	const struct sl_tenant_conf *t = st->tenant;
	struct rec_buf b = { st->rec, 0, st->rec_cap };
	uint32_t pos = 0;
	bool ok = put(&b, "{", 1);

	for (uint32_t c = 0; c < t->n_schema; c++) {
		const struct sl_schema_col *col = &t->schema[c];
		struct field f;
		char text[64], num_out[72];
		int n, olen = 0;
		bool bv;

		next_field(line, len, &pos, &f);
		if (c > 0)
			ok = ok && put(&b, ",", 1);
		ok = ok && put(&b, "\"", 1) && put(&b, col->name, strlen(col->name)) && put(&b, "\":", 2);

		if (f.len == 0) {
			if (col->required) {
				schema_error(t, c, &f, true, res, out);
				return -1;
			}
			ok = ok && put(&b, "null", 4);
			continue;
		}
		switch (col->type) {
		case SL_COL_STRING:
			ok = ok && put_string(&b, &f);
			continue;
		case SL_COL_INT:
			n = field_text(&f, text, sizeof(text));
			if (n < 0 || check_int(text, n, num_out, &olen) != 0)
				break;
			ok = ok && put(&b, num_out, (size_t)olen);
			continue;
		case SL_COL_FLOAT:
			n = field_text(&f, text, sizeof(text));
			if (n < 0 || check_float(text, n, num_out, &olen) != 0)
				break;
			ok = ok && put(&b, num_out, (size_t)olen);
			continue;
		case SL_COL_BOOL:
			n = field_text(&f, text, sizeof(text));
			if (n < 0 || check_bool(text, n, &bv) != 0)
				break;
			ok = ok && (bv ? put(&b, "true", 4) : put(&b, "false", 5));
			continue;
		case SL_COL_TIMESTAMP:
			n = field_text(&f, text, sizeof(text));
			if (n < 0 || check_timestamp(text, n) != 0)
				break;
			ok = ok && put(&b, "\"", 1) && put(&b, text, (size_t)n) && put(&b, "\"", 1);
			continue;
		default:
			break;
		}
		schema_error(t, c, &f, false, res, out);
		return -1;
	}
	ok = ok && put(&b, "}", 1);
	if (!ok || sl_rec_add(out, 0, b.p, b.n) != 0)
		out->overflow = 1;      /* the worker reports SL_R_OUTPUT */
	return 0;
}

/* ---- the processor table ------------------------------------------------- */

static void *csv_init(const struct sl_proc_env *env)
{
	/*
	 * With a schema, room for the record of any line within max_line_bytes
	 * (a line is never longer than a batch's data), every byte escaped the
	 * long way: a line never fails for the size of its own record. Without
	 * one there is no record (and no buffer: tenants x workers of them).
	 */
	uint32_t max_line = env->cfg != NULL ? env->cfg->max_line_bytes : SL_BATCH_DATA;
	uint32_t cap = env->tenant != NULL && env->tenant->n_schema != 0 ? SL_LINE_OUTPUT_MAX(max_line) : 0;
	struct csv_state *st = malloc(sizeof(*st) + cap);

	if (st == NULL) {
		snprintf(env->err, env->errlen, "csv: out of memory for the per-worker state (%zu bytes)",
			 sizeof(*st) + cap);
		return NULL;
	}
	st->tenant = env->tenant;
	st->rec_cap = cap;
	return st;
}

static enum sl_proc_rc csv_process(void *state, const struct sl_line_in *in, struct sl_result *res,
				   struct sl_rec_out *out, uint64_t cookie __rte_unused)
{
	struct csv_state *st = state;
	const struct sl_tenant_conf *tenant = st->tenant;
	struct csv_parse r = { .fields = 1, .reason = SL_R_NONE, .detail = 0 };
	uint32_t columns = 0;

	if (in->flags & SL_LINE_OVERSIZE) {
		/* The text was not kept; the worker fills in the limit. */
		res->status = SL_ST_ERROR;
		res->reason = SL_R_OVERSIZE;
		res->fields = 0;
		res->detail = 0;
		return SL_PROC_DONE;
	}

	uint32_t commas;

	if (count_commas_unquoted(in->data, in->len, &commas) == 0)
		r.fields = 1 + commas;
	else
		parse_quoted(in->data, in->len, &r);

	if (in->flags & SL_LINE_UNTERMINATED) {
		r.reason = SL_R_UNTERMINATED;
		r.detail = 0;
	} else if (r.reason == SL_R_UNTERMINATED) {
		r.detail = 0;
	}

	if (tenant != NULL)
		columns = tenant->n_schema != 0 ? tenant->n_schema : tenant->columns;
	if (r.reason == SL_R_NONE && columns != 0 && r.fields != columns) {
		r.reason = SL_R_COLUMNS;
		r.detail = columns;
	}

	res->status = r.reason == SL_R_NONE ? SL_ST_OK : SL_ST_ERROR;
	res->reason = r.reason;
	res->fields = r.fields;
	res->detail = r.detail;

	if (r.reason == SL_R_NONE && tenant != NULL && tenant->n_schema != 0)
		apply_schema(st, in->data, in->len, res, out);
	return SL_PROC_DONE;
}

static void csv_fini(void *state)
{
	free(state);
}

const struct sl_processor sl_proc_csv = {
	.abi_version = SL_PROC_ABI_VERSION,
	.name = "csv",
	.streams = { "records", NULL },
	.init = csv_init,
	.process = csv_process,
	.poll = NULL,
	.flush = NULL,
	.fini = csv_fini,
};
