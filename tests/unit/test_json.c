/*
 * test_json.c — the one-line JSON tokenizer (dataplane/json.c): token
 * shapes, every rejection with its offset, lookups, numbers, unescaping,
 * escaping and compacting.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "dataplane/json.h"

#include "check.h"

static struct sl_json_tok toks[256];
static struct sl_json_err jerr;

static int parse(const char *s)
{
	return sl_json_parse(s, (uint32_t)strlen(s), toks, 256, &jerr);
}

static void test_shapes(void)
{
	const char *s = " {\"a\": [1, 2.5, -3e2], \"b\": {\"c\": null}, \"d\": true, \"e\": false, \"f\": \"x\"} ";
	int n = parse(s);

	CHECK(n == 16);
	CHECK(toks[0].type == SL_JSON_OBJECT && toks[0].size == 5 && toks[0].next == 16);
	CHECK(toks[0].start == 1 && toks[0].end == strlen(s) - 1);
	CHECK(toks[1].type == SL_JSON_STRING && toks[1].end - toks[1].start == 1 && s[toks[1].start] == 'a');
	CHECK(toks[2].type == SL_JSON_ARRAY && toks[2].size == 3 && toks[2].next == 6);
	CHECK(toks[3].type == SL_JSON_NUMBER && toks[4].type == SL_JSON_NUMBER && toks[5].type == SL_JSON_NUMBER);
	CHECK(memcmp(s + toks[5].start, "-3e2", 4) == 0 && toks[5].end - toks[5].start == 4);
	CHECK(toks[7].type == SL_JSON_OBJECT && toks[7].size == 1 && toks[7].next == 10);
	CHECK(toks[9].type == SL_JSON_NULL);
	CHECK(toks[11].type == SL_JSON_TRUE && toks[13].type == SL_JSON_FALSE && toks[15].type == SL_JSON_STRING);

	/* Scalars at the top level are values too. */
	CHECK(parse("42") == 1 && toks[0].type == SL_JSON_NUMBER);
	CHECK(parse("\"s\"") == 1 && toks[0].type == SL_JSON_STRING);
	CHECK(parse("[]") == 1 && toks[0].size == 0);
	CHECK(parse("{}") == 1 && toks[0].size == 0 && toks[0].type == SL_JSON_OBJECT);
	CHECK(parse("\t[ [ ] , { } ]\r\n") == 3 && toks[0].size == 2);
	report("token types, sizes, spans and subtree ends");
}

static void test_iterate(void)
{
	const char *s = "[[1,2],{\"k\":[3]},4]";
	int seen = 0, i;

	CHECK(parse(s) > 0);
	i = sl_json_first(toks, 0);
	for (uint32_t k = 0; k < toks[0].size; k++, i = sl_json_next(toks, i))
		seen = seen * 10 + toks[i].type;
	CHECK(seen == SL_JSON_ARRAY * 100 + SL_JSON_OBJECT * 10 + SL_JSON_NUMBER);
	CHECK(parse("[]") == 1 && sl_json_first(toks, 0) == -1);
	report("array iteration with first/next");
}

static void test_find(void)
{
	const char *s = "{\"id\":1,\"user\":{\"id\":2,\"name\":\"n\"},\"caf\\u00e9\":3,\"t\\\"q\":4,\"id\":5}";
	int64_t v;

	CHECK(parse(s) > 0);
	int id = sl_json_get(s, toks, 0, "id");
	CHECK(id > 0 && sl_json_int64(s, &toks[id], &v) == 0 && v == 1);   /* first wins */
	int user = sl_json_get(s, toks, 0, "user");
	CHECK(user > 0 && toks[user].type == SL_JSON_OBJECT);
	int uid = sl_json_get(s, toks, user, "id");
	CHECK(uid > 0 && sl_json_int64(s, &toks[uid], &v) == 0 && v == 2);
	int cafe = sl_json_get(s, toks, 0, "caf\xc3\xa9");
	CHECK(cafe > 0 && sl_json_int64(s, &toks[cafe], &v) == 0 && v == 3);
	int q = sl_json_get(s, toks, 0, "t\"q");
	CHECK(q > 0 && sl_json_int64(s, &toks[q], &v) == 0 && v == 4);
	CHECK(sl_json_get(s, toks, 0, "name") == -1);          /* not at the top level */
	CHECK(sl_json_get(s, toks, 0, "i") == -1);
	CHECK(sl_json_get(s, toks, 0, "caf") == -1);
	CHECK(sl_json_get(s, toks, id, "x") == -1);            /* not an object */
	CHECK(sl_json_get(s, toks, -1, "x") == -1);
	report("find members by unescaped key");
}

static void test_numbers(void)
{
	const char *s = "[0,-0,12,-9223372036854775808,9223372036854775807,9223372036854775808,1.5,-2e-3,1E+2]";
	int64_t v;
	double d;
	int i;

	CHECK(parse(s) == 10);
	i = 1;
	CHECK(sl_json_int64(s, &toks[i], &v) == 0 && v == 0);
	CHECK(sl_json_int64(s, &toks[i + 1], &v) == 0 && v == 0);
	CHECK(sl_json_int64(s, &toks[i + 2], &v) == 0 && v == 12);
	CHECK(sl_json_int64(s, &toks[i + 3], &v) == 0 && v == INT64_MIN);
	CHECK(sl_json_int64(s, &toks[i + 4], &v) == 0 && v == INT64_MAX);
	CHECK(sl_json_int64(s, &toks[i + 5], &v) == -1);      /* overflow */
	CHECK(sl_json_int64(s, &toks[i + 6], &v) == -1);      /* fraction */
	CHECK(sl_json_double(s, &toks[i + 6], &d) == 0 && d == 1.5);
	CHECK(sl_json_double(s, &toks[i + 7], &d) == 0 && fabs(d + 0.002) < 1e-12);
	CHECK(sl_json_double(s, &toks[i + 8], &d) == 0 && d == 100.0);
	CHECK(sl_json_double(s, &toks[0], &d) == -1);         /* not a number */

	char longnum[100];
	memset(longnum, '1', 80);
	longnum[80] = '\0';
	CHECK(parse(longnum) == 1 && sl_json_double(longnum, &toks[0], &d) == -1);
	report("numbers as int64 and double");
}

static void test_unescape(void)
{
	const char *s = "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"";
	char buf[64];

	CHECK(parse(s) == 1 && toks[0].escaped == 1);
	int n = sl_json_unescape(s, &toks[0], buf, sizeof(buf));
	const char want[] = "a\"b\\c/d\b\f\n\r\tA\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
	CHECK(n == (int)sizeof(want) - 1 && memcmp(buf, want, sizeof(want) - 1) == 0);
	CHECK(sl_json_unescape(s, &toks[0], buf, 10) == -1);
	CHECK(sl_json_unescape(s, &toks[0], buf, (size_t)n) == n);

	const char *plain = "\"plain \xc3\xa9\"";
	CHECK(parse(plain) == 1 && toks[0].escaped == 0);
	CHECK(sl_json_unescape(plain, &toks[0], buf, sizeof(buf)) == 8);
	CHECK(parse("1") == 1 && sl_json_unescape("1", &toks[0], buf, sizeof(buf)) == -1);
	report("unescape: all escapes, \\u, surrogate pairs, short buffer");
}

static void test_escape_compact(void)
{
	char buf[64];
	int n = sl_json_escape(buf, sizeof(buf), "a\"b\\c\n\x01\xc3\xa9", 9);

	CHECK(n == 17 && memcmp(buf, "a\\\"b\\\\c\\n\\u0001\xc3\xa9", 17) == 0);
	CHECK(sl_json_escape(buf, 3, "a\"b", 3) == -1);
	/* Bytes that are not UTF-8 become U+FFFD; a cut sequence too. */
	n = sl_json_escape(buf, sizeof(buf), "a\xff" "b\xe2\x82", 5);
	CHECK(n == 20 && memcmp(buf, "a\\ufffdb\\ufffd\\ufffd", 20) == 0);
	CHECK(sl_json_escape(buf, 4, "\xe2\x82\xac\xe2\x82\xac", 6) == -1);
	CHECK(sl_json_escape(buf, 6, "\xe2\x82\xac\xe2\x82\xac", 6) == 6);
	CHECK(sl_json_escape(buf, 5, "\x01", 1) == -1);

	const char *s = " { \"a b\" : [ 1 , \"x \\\" y\" ] ,\t\"c\":null } ";
	n = sl_json_compact(s, (uint32_t)strlen(s), buf, sizeof(buf));
	const char *want = "{\"a b\":[1,\"x \\\" y\"],\"c\":null}";
	CHECK(n == (int)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
	CHECK(sl_json_compact(s, (uint32_t)strlen(s), buf, 5) == -1);
	/* The compact text parses to the same shape. */
	CHECK(parse(s) == 7);
	buf[n] = '\0';
	CHECK(parse(buf) == 7);
	report("escape for output and compact");
}

struct bad {
	const char *text;
	uint32_t offset;
	const char *msg;        /* substring of the reason */
};

static void test_rejects(void)
{
	static const struct bad cases[] = {
		{ "", 0, "ended where a value" },
		{ "   ", 3, "ended where a value" },
		{ "{", 1, "ended inside an object" },
		{ "[1", 2, "ended inside an array" },
		{ "{\"a\" 1}", 5, "expected ':'" },
		{ "{\"a\":1 \"b\":2}", 7, "expected ',' or '}'" },
		{ "[1 2]", 3, "expected ',' or ']'" },
		{ "{\"a\":1,}", 7, "trailing comma in an object" },
		{ "[1,]", 3, "trailing comma in an array" },
		{ "{a:1}", 1, "expected a string key" },
		{ "{\"a\":}", 5, "expected a value" },
		{ "[01]", 2, "leading zeros" },
		{ "[-]", 2, "needs a digit" },
		{ "[1.]", 3, "follow the decimal point" },
		{ "[1e]", 3, "follow the exponent" },
		{ "[.5]", 1, "expected a value" },
		{ "[+1]", 1, "expected a value" },
		{ "tru", 0, "expected a value" },
		{ "nul", 0, "expected a value" },
		{ "[NaN]", 1, "expected a value" },
		{ "\"abc", 0, "without a closing quote" },
		{ "\"a\\x\"", 2, "invalid escape" },
		{ "\"a\\u12\"", 2, "four hex digits" },
		{ "\"a\\u12g4\"", 2, "four hex digits" },
		{ "\"\\udc00\"", 1, "lone low surrogate" },
		{ "\"\\ud800\"", 1, "high surrogate" },
		{ "\"\\ud800\\u0041\"", 1, "high surrogate" },
		{ "\"a\tb\"", 2, "control character" },
		{ "\"\xff\"", 1, "invalid UTF-8" },
		{ "\"\xc0\xaf\"", 1, "invalid UTF-8" },
		{ "\"\xe0\x80\xaf\"", 1, "invalid UTF-8" },
		{ "\"\xed\xa0\x80\"", 1, "invalid UTF-8" },
		{ "\"\xf4\x90\x80\x80\"", 1, "invalid UTF-8" },
		{ "\"\xe2\x82\"", 1, "invalid UTF-8" },
		{ "{} x", 3, "text after the JSON value" },
		{ "{}{}", 2, "text after the JSON value" },
		{ "\"a\\", 0, "without a closing quote" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		jerr.offset = 9999;
		jerr.msg = NULL;
		int rc = parse(cases[i].text);
		CHECK(rc == -1);
		CHECK(jerr.offset == cases[i].offset);
		CHECK(jerr.msg != NULL && strstr(jerr.msg, cases[i].msg) != NULL);
		if (cur_failed) {
			fprintf(stderr, "    case %zu [%s]: rc %d offset %u msg %s\n", i, cases[i].text,
				rc, jerr.offset, jerr.msg ? jerr.msg : "(null)");
			report("rejects");
			return;
		}
	}
	report("rejects: every malformed input with offset and reason");
}

static void test_depth_and_capacity(void)
{
	char deep[80];

	memset(deep, '[', 32);
	memset(deep + 32, ']', 32);
	deep[64] = '\0';
	CHECK(parse(deep) == 32);
	memset(deep, '[', 33);
	memset(deep + 33, ']', 33);
	deep[66] = '\0';
	CHECK(parse(deep) == -1 && jerr.offset == 32 && strstr(jerr.msg, "32 levels") != NULL);

	const char *s = "[1,2,3,4]";
	CHECK(sl_json_parse(s, 9, toks, 5, &jerr) == 5);
	CHECK(sl_json_parse(s, 9, toks, 4, &jerr) == -1 && jerr.offset == 7 &&
	      strstr(jerr.msg, "too many values") != NULL);
	CHECK(sl_json_parse(s, 9, toks, 0, &jerr) == -1 && jerr.offset == 0);
	/* The length bounds the text: a NUL-free prefix of a valid value is not valid. */
	CHECK(sl_json_parse(s, 8, toks, 16, &jerr) == -1 && jerr.offset == 8);
	report("depth limit 32 and token capacity");
}

int main(void)
{
	test_shapes();
	test_iterate();
	test_find();
	test_numbers();
	test_unescape();
	test_escape_compact();
	test_rejects();
	test_depth_and_capacity();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
