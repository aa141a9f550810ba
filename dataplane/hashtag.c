/*
 * hashtag.c — hashtags in a tweet's text and their keys (see hashtag.h
 * for the rules). Pure code on the worker's per-line path: no allocation,
 * no tables beyond a few ranges.
 */
#include <stdbool.h>
#include <string.h>

#include "hashtag.h"

#define NOT_UTF8 (-1)

/* The character at s[0..n) (n > 0): its code point, or NOT_UTF8; *len = its bytes (1 when not UTF-8). */
static int32_t
utf8_next(const uint8_t *s, size_t n, unsigned *len)
{
	uint8_t b = s[0];
	unsigned need;
	int32_t cp, min;

	*len = 1;
	if (b < 0x80)
		return b;
	if (b >= 0xc2 && b <= 0xdf) {
		need = 2;
		cp = b & 0x1f;
		min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		need = 3;
		cp = b & 0x0f;
		min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		need = 4;
		cp = b & 0x07;
		min = 0x10000;
	} else {
		return NOT_UTF8;
	}
	if (n < need)
		return NOT_UTF8;
	for (unsigned i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return NOT_UTF8;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return NOT_UTF8;
	*len = need;
	return cp;
}

static bool
in(int32_t cp, int32_t lo, int32_t hi)
{
	return cp >= lo && cp <= hi;
}

static bool
is_tag_char(int32_t cp)
{
	if (cp == NOT_UTF8)
		return false;
	if (cp < 0x80)
		return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
		       cp == '_';
	if (in(cp, 0x80, 0xbf))
		return cp == 0xaa || cp == 0xb5 || cp == 0xba;
	if (cp == 0xd7 || cp == 0xf7)
		return false;
	if (in(cp, 0x2000, 0x2bff))
		return cp == 0x200c || cp == 0x200d;
	return !(in(cp, 0x3000, 0x303f) || in(cp, 0xfe00, 0xfe1f) || in(cp, 0xfe30, 0xfe6f) ||
		 in(cp, 0xff00, 0xff0f) || in(cp, 0xff1a, 0xff20) || in(cp, 0xff3b, 0xff40) ||
		 in(cp, 0xff5b, 0xff65) || in(cp, 0xfff0, 0xffff) || in(cp, 0x1f000, 0x1faff));
}

/* Simple case folding of the blocks hashtag.h names; other characters unchanged. */
static int32_t
fold(int32_t cp)
{
	if (cp < 0x80)
		return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
	if (cp == 0xb5)
		return 0x3bc;                     /* micro sign -> mu */
	if (in(cp, 0xc0, 0xde) && cp != 0xd7)
		return cp + 32;
	if (in(cp, 0x100, 0x17f)) {
		if (in(cp, 0x100, 0x12f) || in(cp, 0x132, 0x137) || in(cp, 0x14a, 0x177))
			return cp | 1;            /* capitals even, small letters odd */
		if (in(cp, 0x139, 0x148) || in(cp, 0x179, 0x17e))
			return cp & 1 ? cp + 1 : cp;
		if (cp == 0x178)
			return 0xff;
		if (cp == 0x17f)
			return 's';               /* long s */
		return cp;
	}
	if (in(cp, 0x386, 0x3ab)) {
		if (cp == 0x386)
			return 0x3ac;
		if (in(cp, 0x388, 0x38a))
			return cp + 37;
		if (cp == 0x38c)
			return 0x3cc;
		if (cp == 0x38e || cp == 0x38f)
			return cp + 63;
		if (in(cp, 0x391, 0x3a1) || in(cp, 0x3a3, 0x3ab))
			return cp + 32;
		return cp;
	}
	if (cp == 0x3c2)
		return 0x3c3;                     /* final sigma */
	if (in(cp, 0x400, 0x40f))
		return cp + 80;
	if (in(cp, 0x410, 0x42f))
		return cp + 32;
	return cp;
}

static unsigned
utf8_put(int32_t cp, uint8_t out[4])
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xc0 | (cp >> 6));
		out[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xe0 | (cp >> 12));
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (uint8_t)(0xf0 | (cp >> 18));
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

uint32_t
sl_hashtag_key(const char *tag, size_t len, uint8_t key[SL_TOPK_KEY])
{
	const uint8_t *s = (const uint8_t *)tag;
	uint32_t k = 1;
	size_t i = 0;

	memset(key, 0, SL_TOPK_KEY);
	key[0] = '#';
	while (i < len) {
		uint8_t enc[4];
		unsigned n, m;
		int32_t cp = utf8_next(s + i, len - i, &n);

		if (cp == NOT_UTF8) {
			enc[0] = s[i];            /* not UTF-8: the byte as it is */
			m = 1;
		} else {
			m = utf8_put(fold(cp), enc);
		}
		if (k + m > SL_TOPK_KEY - 1)
			break;                    /* cut before a character that does not fit */
		memcpy(key + k, enc, m);
		k += m;
		i += n;
	}
	return k;
}

unsigned
sl_hashtags_scan(const char *text, size_t len, sl_hashtag_fn fn, void *arg)
{
	const uint8_t *s = (const uint8_t *)text;
	bool may_start = true;              /* the previous character allows a '#' here */
	unsigned found = 0;
	size_t i = 0;

	while (i < len) {
		unsigned n;
		int32_t cp = utf8_next(s + i, len - i, &n);

		if ((cp == '#' || cp == 0xff03) && may_start) {
			size_t start = i + n, j = start;
			bool letter = false;

			while (j < len) {
				unsigned m;
				int32_t c = utf8_next(s + j, len - j, &m);

				if (!is_tag_char(c))
					break;
				if (!((c >= '0' && c <= '9') || c == '_'))
					letter = true;
				j += m;
			}
			if (letter) {
				fn(text + start, j - start, arg);
				found++;
			}
			if (j > start) {
				/* the tag (or the digits after a '#') is a run of hashtag characters */
				i = j;
				may_start = false;
				continue;
			}
		}
		may_start = !is_tag_char(cp) && cp != '&';
		i += n;
	}
	return found;
}
