/*
 * json.h — a small JSON (RFC 8259) reader for one line, without malloc.
 *
 * Why not a library: Debian ships jansson (the control plane uses it), but
 * jansson builds a tree of heap-allocated values for every document it
 * reads. Processors run per line on worker lcores, where nothing may
 * allocate (processor.h), so they use this tokenizer instead: it writes
 * into a token array the caller provides (on its stack or in its
 * per-worker state) and never copies the text.
 *
 * Shape (in the spirit of jsmn): one token per value, in document order.
 * A container's token is followed by its children; an object's children
 * come in pairs, a STRING key token then the value's token(s). Each token
 * records where its subtree ends (next), so walking siblings is O(1) per
 * step. Strings span their content without the quotes; escapes are
 * validated but left in place (escaped = 1 says there is at least one),
 * sl_json_unescape decodes them when needed.
 *
 * Accepted: exactly one value (any type) with optional whitespace around
 * it; strings must be valid UTF-8 with valid escapes (\uXXXX surrogates
 * in pairs); nesting at most SL_JSON_MAX_DEPTH deep. Anything else is an
 * error with the byte offset where the problem was found and a short
 * reason.
 */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_JSON_MAX_DEPTH 32

enum sl_json_type {
	SL_JSON_OBJECT = 1,
	SL_JSON_ARRAY,
	SL_JSON_STRING,
	SL_JSON_NUMBER,
	SL_JSON_TRUE,
	SL_JSON_FALSE,
	SL_JSON_NULL,
};

struct sl_json_tok {
	uint8_t type;          /* enum sl_json_type */
	uint8_t escaped;       /* STRING: the content has at least one '\' escape */
	uint16_t reserved;
	uint32_t start;        /* first byte (a string's content, after the '"') */
	uint32_t end;          /* one past the last byte (before a string's closing '"') */
	uint32_t size;         /* OBJECT: members; ARRAY: elements; else 0 */
	uint32_t next;         /* index of the first token after this one's subtree */
};

struct sl_json_err {
	uint32_t offset;       /* byte offset in the input where it went wrong */
	const char *msg;       /* static text, e.g. "expected ':' after an object key" */
};

/*
 * Tokenize s[0..len). Returns the number of tokens written (>= 1), or -1
 * with err filled when the text is not one valid JSON value or has more
 * than max tokens ("too many values" at the offset of the first one that
 * did not fit).
 */
int sl_json_parse(const char *s, uint32_t len, struct sl_json_tok *toks, uint32_t max,
		  struct sl_json_err *err);

/*
 * In the object at toks[obj], the index of the value whose key equals
 * key[0..klen) after unescaping, or -1 (also when toks[obj] is not an
 * object). The first match wins when a key repeats.
 */
int sl_json_find(const char *s, const struct sl_json_tok *toks, int obj,
		 const char *key, size_t klen);

/* Same, for a NUL-terminated key. */
static inline int
sl_json_get(const char *s, const struct sl_json_tok *toks, int obj, const char *key)
{
	size_t n = 0;

	while (key[n] != '\0')
		n++;
	return sl_json_find(s, toks, obj, key, n);
}

/* Array elements: first is idx + 1 when size > 0, then toks[i].next. */
static inline int sl_json_first(const struct sl_json_tok *toks, int arr)
{
	return toks[arr].size > 0 ? arr + 1 : -1;
}

/* The next element of an array after element i (count them with size). */
static inline int sl_json_next(const struct sl_json_tok *toks, int i)
{
	return (int)toks[i].next;
}

/* A NUMBER as a double: 0, or -1 (not a number, or longer than 63 bytes). */
int sl_json_double(const char *s, const struct sl_json_tok *t, double *out);

/*
 * A NUMBER that is an integer (no fraction, no exponent) fitting int64:
 * 0, or -1.
 */
int sl_json_int64(const char *s, const struct sl_json_tok *t, int64_t *out);

/*
 * Decode a STRING's content (escapes to UTF-8) into buf. Returns its
 * length, or -1 if it does not fit in cap bytes (nothing is NUL-terminated).
 */
int sl_json_unescape(const char *s, const struct sl_json_tok *t, char *buf, size_t cap);

/*
 * Write bytes src[0..len) as the inside of a JSON string (no quotes):
 * '"', '\' and control bytes escaped, valid UTF-8 copied as it is, and
 * each byte that is not part of a valid UTF-8 sequence written as \ufffd
 * (the replacement character), so the result is always valid JSON.
 * Returns bytes written, or -1 if cap is too small.
 */
int sl_json_escape(char *dst, size_t cap, const char *src, size_t len);

/*
 * Copy a text that sl_json_parse accepted with the whitespace outside
 * strings removed. Returns bytes written, or -1 if cap is too small.
 */
int sl_json_compact(const char *s, uint32_t len, char *dst, size_t cap);

#endif
