/*
 * fuzz_json.c — libFuzzer target for the one-line JSON tokenizer
 * (dataplane/json.c), which reads untrusted tenant lines on workers.
 *
 * The input is one line of text, copied into an exact-size heap buffer so
 * ASan catches any read past its end. Invariants checked:
 *   - a rejection has an offset inside [0, len] and a reason;
 *   - an acceptance gives tokens whose spans are inside the text and
 *     nested in their parents, with sizes and subtree ends that agree;
 *   - every string unescapes (into a buffer as large as the text, which
 *     is always enough: an escape never decodes to more bytes than it
 *     took), every key is found again by its decoded value (or an
 *     earlier equal key), and numbers convert without crashing;
 *   - the compacted text is accepted again with the same token shape,
 *     and compacting it once more changes nothing.
 *
 * Build (by hand, not part of meson):
 *   clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_json.c \
 *     dataplane/json.c -o /tmp/fuzz_json
 *   /tmp/fuzz_json tests/fuzz/corpus/json
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/json.h"

#define MAX_TOKS 512

static void die(const char *what)
{
	fprintf(stderr, "fuzz_json: invariant broken: %s\n", what);
	abort();
}

/* Walk the subtree at i; returns the index after it. */
static uint32_t check_tree(const struct sl_json_tok *t, uint32_t i, uint32_t n,
			   uint32_t lo, uint32_t hi)
{
	if (i >= n)
		die("child index past the tokens");
	if (t[i].start < lo || t[i].end > hi || t[i].start > t[i].end)
		die("span outside its parent");
	if (t[i].next <= i || t[i].next > n)
		die("subtree end out of order");
	if (t[i].type == SL_JSON_OBJECT || t[i].type == SL_JSON_ARRAY) {
		uint32_t k = i + 1, kids = t[i].type == SL_JSON_OBJECT ? 2 * t[i].size : t[i].size;
		for (uint32_t c = 0; c < kids; c++) {
			if (t[i].type == SL_JSON_OBJECT && c % 2 == 0 && t[k].type != SL_JSON_STRING)
				die("object key is not a string");
			k = check_tree(t, k, n, t[i].start, t[i].end);
		}
		if (k != t[i].next)
			die("children do not end where the container's subtree ends");
		return k;
	}
	if (t[i].next != i + 1)
		die("scalar with children");
	if (t[i].type < SL_JSON_STRING || t[i].type > SL_JSON_NULL)
		die("unknown token type");
	return i + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sl_json_tok toks[MAX_TOKS], toks2[MAX_TOKS];
	struct sl_json_err err = { 0, NULL };
	uint32_t len;
	char *s, *c1, *c2, *buf;
	int n, n2, l1, l2;

	if (size > 1u << 16)
		return 0;
	len = (uint32_t)size;
	s = malloc(len > 0 ? len : 1);
	if (s == NULL)
		abort();
	if (len > 0)
		memcpy(s, data, len);

	n = sl_json_parse(s, len, toks, MAX_TOKS, &err);
	if (n < 0) {
		if (err.msg == NULL || err.offset > len)
			die("rejection without a reason or with an offset past the text");
		free(s);
		return 0;
	}
	if (n == 0 || n > MAX_TOKS)
		die("token count out of range");
	if (check_tree(toks, 0, (uint32_t)n, 0, len) != (uint32_t)n)
		die("the top value does not cover every token");

	buf = malloc(len > 0 ? len : 1);
	if (buf == NULL)
		abort();
	for (int i = 0; i < n; i++) {
		const struct sl_json_tok *t = &toks[i];
		double d;
		int64_t v;

		if (t->type == SL_JSON_STRING) {
			int u = sl_json_unescape(s, t, buf, len);
			if (u < 0 || (uint32_t)u > t->end - t->start)
				die("string does not unescape into its own length");
			if (!t->escaped && memcmp(buf, s + t->start, (size_t)u) != 0)
				die("unescaped copy of a plain string differs");
		}
		if (t->type == SL_JSON_NUMBER) {
			int rd = sl_json_double(s, t, &d);
			int ri = sl_json_int64(s, t, &v);
			if (t->end - t->start < 64 && rd != 0)
				die("a short number does not convert to double");
			if (ri == 0 && rd == 0 && (double)v != d && (v > -(1LL << 53) && v < (1LL << 53)))
				die("int64 and double disagree on an exact integer");
		}
		if (t->type == SL_JSON_OBJECT) {
			int k = i + 1;
			for (uint32_t m = 0; m < t->size; m++) {
				int u = sl_json_unescape(s, &toks[k], buf, len);
				int f = sl_json_find(s, toks, i, buf, (size_t)u);
				if (f < 0 || f > k + 1)
					die("a key is not found by its own decoded text");
				k = (int)toks[k + 1].next;
			}
		}
	}

	/* Compact, re-parse, compact again. */
	c1 = malloc(len > 0 ? len : 1);
	c2 = malloc(len > 0 ? len : 1);
	if (c1 == NULL || c2 == NULL)
		abort();
	l1 = sl_json_compact(s, len, c1, len);
	if (l1 < 0)
		die("compact text longer than the input");
	n2 = sl_json_parse(c1, (uint32_t)l1, toks2, MAX_TOKS, &err);
	if (n2 != n)
		die("compact text does not parse to the same number of tokens");
	for (int i = 0; i < n; i++)
		if (toks[i].type != toks2[i].type || toks[i].size != toks2[i].size ||
		    toks[i].next != toks2[i].next ||
		    toks[i].end - toks[i].start < toks2[i].end - toks2[i].start)
			die("compact text has another shape");
	l2 = sl_json_compact(c1, (uint32_t)l1, c2, (size_t)l1);
	if (l2 != l1 || memcmp(c1, c2, (size_t)l1) != 0)
		die("compacting is not idempotent");

	free(c1);
	free(c2);
	free(buf);
	free(s);
	return 0;
}
