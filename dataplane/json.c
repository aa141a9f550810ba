/*
 * json.c — the one-line JSON tokenizer of json.h, and the few helpers the
 * processors need around it (lookup by key, numbers, unescaping, escaping
 * and compacting for output).
 *
 * A recursive-descent parser whose recursion is bounded by
 * SL_JSON_MAX_DEPTH, so its stack use is bounded too. It validates
 * everything RFC 8259 asks (number grammar, escapes, UTF-8, surrogate
 * pairs) so that what it accepts can be copied verbatim into output
 * records and still be valid JSON.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct parser {
	const char *s;
	uint32_t len;
	uint32_t pos;
	struct sl_json_tok *toks;
	uint32_t max;
	uint32_t n;
	struct sl_json_err *err;
};

static int fail(struct parser *p, uint32_t at, const char *msg)
{
	p->err->offset = at;
	p->err->msg = msg;
	return -1;
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->s[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int new_tok(struct parser *p, enum sl_json_type type, uint32_t start)
{
	if (p->n >= p->max)
		return fail(p, start, "too many values for the token array");
	struct sl_json_tok *t = &p->toks[p->n];
	t->type = (uint8_t)type;
	t->escaped = 0;
	t->reserved = 0;
	t->start = start;
	t->end = start;
	t->size = 0;
	t->next = 0;
	return (int)p->n++;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/*
 * Length of the UTF-8 sequence at s (at most n bytes available), or 0 if
 * it is not a valid one: no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 */
static uint32_t utf8_len(const unsigned char *s, uint32_t n)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if (c == 0xe0 && s[1] < 0xa0)
			return 0;               /* overlong */
		if (c == 0xed && s[1] >= 0xa0)
			return 0;               /* UTF-16 surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		if (c == 0xf0 && s[1] < 0x90)
			return 0;               /* overlong */
		if (c == 0xf4 && s[1] >= 0x90)
			return 0;               /* above U+10FFFF */
		return 4;
	}
	return 0;
}

/* p->pos is at the opening '"'. */
static int parse_string(struct parser *p)
{
	uint32_t open = p->pos;
	int ti = new_tok(p, SL_JSON_STRING, open + 1);

	if (ti < 0)
		return -1;
	p->pos++;
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c == '"') {
			p->toks[ti].end = p->pos;
			p->pos++;
			p->toks[ti].next = p->n;
			return ti;
		}
		if (c < 0x20)
			return fail(p, p->pos, "control character inside a string");
		if (c == '\\') {
			uint32_t at = p->pos;
			p->toks[ti].escaped = 1;
			if (p->pos + 1 >= p->len)
				break;
			char e = p->s[p->pos + 1];
			if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' ||
			    e == 'n' || e == 'r' || e == 't') {
				p->pos += 2;
				continue;
			}
			if (e != 'u')
				return fail(p, at, "invalid escape in a string");
			uint32_t u, lo;
			if (p->pos + 6 > p->len || hex4(p->s + p->pos + 2, &u) != 0)
				return fail(p, at, "\\u needs four hex digits");
			p->pos += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return fail(p, at, "lone low surrogate in a \\u escape");
			if (u >= 0xd800 && u <= 0xdbff) {
				if (p->pos + 6 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
				    hex4(p->s + p->pos + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
					return fail(p, at, "high surrogate not followed by a \\u low surrogate");
				p->pos += 6;
			}
			continue;
		}
		uint32_t n = utf8_len((const unsigned char *)p->s + p->pos, p->len - p->pos);
		if (n == 0)
			return fail(p, p->pos, "invalid UTF-8 in a string");
		p->pos += n;
	}
	return fail(p, open, "string without a closing quote");
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_number(struct parser *p)
{
	uint32_t start = p->pos;
	const char *s = p->s;
	uint32_t i = p->pos, len = p->len;

	if (i < len && s[i] == '-')
		i++;
	if (i >= len || !is_digit(s[i]))
		return fail(p, i, "a number needs a digit here");
	if (s[i] == '0') {
		i++;
		if (i < len && is_digit(s[i]))
			return fail(p, i, "a number must not have leading zeros");
	} else {
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i < len && s[i] == '.') {
		i++;
		if (i >= len || !is_digit(s[i]))
			return fail(p, i, "a digit must follow the decimal point");
		while (i < len && is_digit(s[i]))
			i++;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= len || !is_digit(s[i]))
			return fail(p, i, "a digit must follow the exponent");
		while (i < len && is_digit(s[i]))
			i++;
	}
	int ti = new_tok(p, SL_JSON_NUMBER, start);
	if (ti < 0)
		return -1;
	p->toks[ti].end = i;
	p->toks[ti].next = p->n;
	p->pos = i;
	return ti;
}

static int parse_literal(struct parser *p, const char *word, enum sl_json_type type)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
		return fail(p, p->pos, "unexpected character; expected a value");
	int ti = new_tok(p, type, p->pos);
	if (ti < 0)
		return -1;
	p->pos += (uint32_t)n;
	p->toks[ti].end = p->pos;
	p->toks[ti].next = p->n;
	return ti;
}

static int parse_value(struct parser *p, unsigned depth);

/* p->pos at '{' or '['. */
static int parse_container(struct parser *p, unsigned depth, bool object)
{
	char close = object ? '}' : ']';
	int ti;

	if (depth >= SL_JSON_MAX_DEPTH)
		return fail(p, p->pos, "nested more than 32 levels deep");
	ti = new_tok(p, object ? SL_JSON_OBJECT : SL_JSON_ARRAY, p->pos);
	if (ti < 0)
		return -1;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		goto done;
	}
	for (;;) {
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return fail(p, p->pos, p->pos >= p->len ? "text ended inside an object"
									: "expected a string key in an object");
			if (parse_string(p) < 0)
				return -1;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return fail(p, p->pos, "expected ':' after an object key");
			p->pos++;
		}
		if (parse_value(p, depth + 1) < 0)
			return -1;
		p->toks[ti].size++;
		skip_ws(p);
		if (p->pos >= p->len)
			return fail(p, p->pos, object ? "text ended inside an object"
						       : "text ended inside an array");
		char c = p->s[p->pos];
		if (c == close) {
			p->pos++;
			break;
		}
		if (c != ',')
			return fail(p, p->pos, object ? "expected ',' or '}' in an object"
						      : "expected ',' or ']' in an array");
		p->pos++;
		skip_ws(p);
		if (object && p->pos < p->len && p->s[p->pos] == '}')
			return fail(p, p->pos, "trailing comma in an object");
		if (!object && p->pos < p->len && p->s[p->pos] == ']')
			return fail(p, p->pos, "trailing comma in an array");
	}
done:
	p->toks[ti].end = p->pos;
	p->toks[ti].next = p->n;
	return ti;
}

static int parse_value(struct parser *p, unsigned depth)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return fail(p, p->pos, "text ended where a value was expected");
	switch (p->s[p->pos]) {
	case '{':
		return parse_container(p, depth, true);
	case '[':
		return parse_container(p, depth, false);
	case '"':
		return parse_string(p);
	case 't':
		return parse_literal(p, "true", SL_JSON_TRUE);
	case 'f':
		return parse_literal(p, "false", SL_JSON_FALSE);
	case 'n':
		return parse_literal(p, "null", SL_JSON_NULL);
	default:
		if (p->s[p->pos] == '-' || is_digit(p->s[p->pos]))
			return parse_number(p);
		return fail(p, p->pos, "unexpected character; expected a value");
	}
}

int sl_json_parse(const char *s, uint32_t len, struct sl_json_tok *toks, uint32_t max,
		  struct sl_json_err *err)
{
	struct parser p = { .s = s, .len = len, .pos = 0, .toks = toks, .max = max, .n = 0, .err = err };

	if (parse_value(&p, 0) < 0)
		return -1;
	skip_ws(&p);
	if (p.pos != len)
		return fail(&p, p.pos, "text after the JSON value");
	return (int)p.n;
}

/* ---- reading values ---------------------------------------------------- */

/* Decode one escape at s[*i] (s[*i] == '\\'); returns the code point. */
static uint32_t decode_escape(const char *s, uint32_t *i)
{
	char e = s[*i + 1];
	uint32_t u, lo;

	*i += 2;
	switch (e) {
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case 'u':
		hex4(s + *i, &u);       /* validated by the parser */
		*i += 4;
		if (u >= 0xd800 && u <= 0xdbff) {
			hex4(s + *i + 2, &lo);
			*i += 6;
			u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
		}
		return u;
	default:
		return (unsigned char)e;        /* '"', '\\', '/' */
	}
}

static unsigned utf8_put(uint32_t u, char *b)
{
	if (u < 0x80) {
		b[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		b[0] = (char)(0xc0 | (u >> 6));
		b[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		b[0] = (char)(0xe0 | (u >> 12));
		b[1] = (char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	b[0] = (char)(0xf0 | (u >> 18));
	b[1] = (char)(0x80 | ((u >> 12) & 0x3f));
	b[2] = (char)(0x80 | ((u >> 6) & 0x3f));
	b[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

int sl_json_unescape(const char *s, const struct sl_json_tok *t, char *buf, size_t cap)
{
	size_t n = 0;

	if (t->type != SL_JSON_STRING)
		return -1;
	for (uint32_t i = t->start; i < t->end;) {
		char tmp[4];
		unsigned k;

		if (s[i] != '\\') {
			if (n >= cap)
				return -1;
			buf[n++] = s[i++];
			continue;
		}
		k = utf8_put(decode_escape(s, &i), tmp);
		if (cap - n < k)
			return -1;
		memcpy(buf + n, tmp, k);
		n += k;
	}
	return (int)n;
}

/* Does the (valid) string token t decode to exactly key[0..klen)? */
static bool string_equals(const char *s, const struct sl_json_tok *t, const char *key, size_t klen)
{
	if (!t->escaped)
		return t->end - t->start == klen && memcmp(s + t->start, key, klen) == 0;

	size_t n = 0;
	for (uint32_t i = t->start; i < t->end;) {
		char tmp[4];
		unsigned k;

		if (s[i] != '\\') {
			if (n >= klen || key[n] != s[i])
				return false;
			n++;
			i++;
			continue;
		}
		k = utf8_put(decode_escape(s, &i), tmp);
		if (klen - n < k || memcmp(key + n, tmp, k) != 0)
			return false;
		n += k;
	}
	return n == klen;
}

int sl_json_find(const char *s, const struct sl_json_tok *toks, int obj,
		 const char *key, size_t klen)
{
	if (obj < 0 || toks[obj].type != SL_JSON_OBJECT)
		return -1;
	int k = obj + 1;
	for (uint32_t m = 0; m < toks[obj].size; m++) {
		if (string_equals(s, &toks[k], key, klen))
			return k + 1;
		k = (int)toks[k + 1].next;
	}
	return -1;
}

int sl_json_double(const char *s, const struct sl_json_tok *t, double *out)
{
	char buf[64];
	uint32_t n = t->end - t->start;

	if (t->type != SL_JSON_NUMBER || n >= sizeof(buf))
		return -1;
	memcpy(buf, s + t->start, n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return 0;
}

int sl_json_int64(const char *s, const struct sl_json_tok *t, int64_t *out)
{
	uint32_t i = t->start;
	bool neg = false;
	uint64_t v = 0;
	uint64_t limit = (uint64_t)INT64_MAX;

	if (t->type != SL_JSON_NUMBER)
		return -1;
	if (s[i] == '-') {
		neg = true;
		limit++;
		i++;
	}
	for (; i < t->end; i++) {
		if (!is_digit(s[i]))
			return -1;              /* a fraction or an exponent */
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* ---- writing ----------------------------------------------------------- */

int sl_json_escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char esc = 0;

		switch (c) {
		case '"': esc = '"'; break;
		case '\\': esc = '\\'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		default: break;
		}
		if (esc != 0) {
			if (cap - n < 2)
				return -1;
			dst[n++] = '\\';
			dst[n++] = esc;
		} else if (c < 0x20 || c == 0x7f) {
			if (cap - n < 6)
				return -1;
			memcpy(dst + n, "\\u00", 4);
			dst[n + 4] = hex[c >> 4];
			dst[n + 5] = hex[c & 15];
			n += 6;
		} else if (c < 0x80) {
			if (n >= cap)
				return -1;
			dst[n++] = (char)c;
		} else {
			uint32_t k = utf8_len((const unsigned char *)src + i,
					      len - i > 4 ? 4 : (uint32_t)(len - i));
			if (k == 0) {
				/* Not UTF-8: the output must still be valid JSON. */
				if (cap - n < 6)
					return -1;
				memcpy(dst + n, "\\ufffd", 6);
				n += 6;
				continue;
			}
			if (cap - n < k)
				return -1;
			memcpy(dst + n, src + i, k);
			n += k;
			i += k - 1;
		}
	}
	return (int)n;
}

int sl_json_compact(const char *s, uint32_t len, char *dst, size_t cap)
{
	size_t n = 0;
	bool in_str = false;

	for (uint32_t i = 0; i < len; i++) {
		char c = s[i];

		if (!in_str && (c == ' ' || c == '\t' || c == '\n' || c == '\r'))
			continue;
		if (n >= cap)
			return -1;
		dst[n++] = c;
		if (in_str && c == '\\') {
			/* The escaped byte cannot end the string. */
			if (++i < len) {
				if (n >= cap)
					return -1;
				dst[n++] = s[i];
			}
		} else if (c == '"') {
			in_str = !in_str;
		}
	}
	return (int)n;
}
