/*
 * test_gate.c — unit tests for the listener gate's verdict on a raw
 * request head (control/gate_check.c): every spelling of a traversal, NUL
 * bytes, bad escapes, control bytes, over-long targets and heads, bad
 * request lines, and the heads that must pass untouched to the routing.
 *
 * The wire behaviour (the answer, the header, the hand-over to lws) is
 * tested by tests/integration/urls.py.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/gate_check.h"
#include "check.h"

static char reason[256];

/* The verdict on "GET <target> HTTP/1.1" with a Host header and the blank line. */
static unsigned target(const char *t)
{
	static char head[SL_GATE_HEAD_MAX * 2];
	int n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", t);

	reason[0] = '\0';
	return sl_gate_judge(head, (size_t)n, reason, sizeof(reason));
}

static unsigned head(const char *h)
{
	reason[0] = '\0';
	return sl_gate_judge(h, strlen(h), reason, sizeof(reason));
}

/* status 400 with the reason containing want */
#define REFUSED(t, status, want) do {                                                     \
		unsigned v_ = target(t);                                                  \
		if (v_ != (status) || strstr(reason, (want)) == NULL) {                   \
			fprintf(stderr, "    %s: got %u '%s', want %u '%s'\n", (t), v_,    \
				reason, (unsigned)(status), (want));                      \
			CHECK(0);                                                         \
		}                                                                         \
	} while (0)

#define PASSES(t) do {                                                                    \
		unsigned v_ = target(t);                                                  \
		if (v_ != SL_GATE_PASS) {                                                 \
			fprintf(stderr, "    %s: got %u '%s', want pass\n", (t), v_, reason);  \
			CHECK(0);                                                         \
		}                                                                         \
	} while (0)

static void test_traversal(void)
{
	static const char *const dots[] = {
		"/v1/acks/cocacola/..", "/v1/acks/cocacola/../pepsico/orders", "/v1/acks/cocacola/%2e%2e",
		"/v1/acks/cocacola/%2E%2E", "/v1/acks/cocacola/.%2e", "/v1/acks/cocacola/%2e.",
		"/v1/acks/cocacola/%2e%2e/pepsico/orders", "/v1/acks/cocacola/.", "/v1/acks/./cocacola/orders",
		"/v1/acks/cocacola/%2e", "/v1/ingest/cocacola/..?rev=1", "/metrics/../healthz", "/..",
		"/v1/acks/cocacola/orders/..",
	};
	for (size_t i = 0; i < sizeof(dots) / sizeof(dots[0]); i++)
		REFUSED(dots[i], 400, "'.' and '..' segments");
	REFUSED("/v1/acks/cocacola/..%2Fpepsico%2Forders", 400, "encoded '/' (%2F)");
	REFUSED("/v1/acks/cocacola/%2e%2e%2fpepsico", 400, "encoded '/' (%2F)");
	REFUSED("/v1/acks/cocacola%2Forders/x", 400, "encoded '/' (%2F)");
	REFUSED("/v1/acks/cocacola/..\\pepsico", 400, "'\\' is not allowed");
	REFUSED("/v1/acks/cocacola/..%5Cpepsico", 400, "'\\' is not allowed");
	REFUSED("/v1/acks/cocacola/..%5cpepsico", 400, "'\\' is not allowed");
	/* double encoding: decoded once it would be %2e%2e, %2F, %5C */
	REFUSED("/v1/acks/cocacola/%252e%252e", 400, "(%25)");
	REFUSED("/v1/acks/cocacola/..%252Fpepsico", 400, "(%25)");
	REFUSED("/v1/acks/cocacola/%255C", 400, "(%25)");
	REFUSED("/v1/acks//cocacola/orders", 400, "empty segment");
	REFUSED("//v1/acks/cocacola/orders", 400, "empty segment");
	report("traversal in every form is a bad path (400)");
}

static void test_bytes(void)
{
	REFUSED("/v1/acks/cocacola/a%00b", 400, "%00");
	REFUSED("/v1/acks/cocacola/%00", 400, "%00");
	REFUSED("/v1/acks/cocacola/orders?token=%00", 400, "bad query: %00");
	REFUSED("/v1/acks/cocacola/orders?from=1%00", 400, "bad query: %00");
	REFUSED("/v1/acks/cocacola/a%2", 400, "two hex digits");
	REFUSED("/v1/acks/cocacola/a%", 400, "two hex digits");
	REFUSED("/v1/acks/cocacola/a%zz", 400, "two hex digits");
	REFUSED("/v1/acks/cocacola/a%g1b", 400, "two hex digits");
	REFUSED("/v1/acks/cocacola/orders?token=%4", 400, "bad query: '%' must be followed");
	REFUSED("/v1/acks/cocacola/a\tb", 400, "byte 0x09");
	REFUSED("/v1/acks/cocacola/a\x7f", 400, "byte 0x7f");
	REFUSED("/v1/acks/cocacola/a\x01", 400, "byte 0x01");
	REFUSED("/v1/acks/cocacola/orders?from=1\x02", 400, "bad query: byte 0x02");
	REFUSED("/v1/acks/cocacola/or;ders", 400, "';' is not allowed");
	REFUSED("/v1/acks/cocacola/or&ders", 400, "'&' is not allowed");
	REFUSED("/v1/acks/cocacola/orders?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14"
		"&o=15&p=16&q=17", 400, "more than 16 parameters");
	REFUSED("/v1/acks/cocacola/orders?a=1;b=2;c=3;d=4;e=5;f=6;g=7;h=8;i=9;j=10;k=11;l=12;m=13;n=14"
		";o=15;p=16;q=17", 400, "more than 16 parameters");
	REFUSED("v1/acks/cocacola/orders", 400, "must start with '/'");
	REFUSED("http://host/v1/acks/cocacola/orders", 400, "must start with '/'");
	REFUSED("*", 400, "must start with '/'");
	/* the reason never holds the request's own bytes */
	target("/v1/acks/cocacola/\x01\r\nx-evil: 1");
	CHECK(strchr(reason, '\r') == NULL && strchr(reason, '\n') == NULL && strstr(reason, "evil") == NULL);
	report("NUL, bad escapes, control bytes, separators in a path, too many parameters (400)");
}

static void test_lengths(void)
{
	static char t[SL_GATE_HEAD_MAX], h[SL_GATE_HEAD_MAX + 64];

	/* the longest target passes, one more byte is 414 */
	memset(t, 'a', SL_GATE_TARGET_MAX);
	t[0] = '/';
	t[SL_GATE_TARGET_MAX] = '\0';
	PASSES(t);
	t[SL_GATE_TARGET_MAX] = 'a';
	t[SL_GATE_TARGET_MAX + 1] = '\0';
	REFUSED(t, 414, "longer than 2048 bytes");
	/* 5000 bytes: 414 even before the line is complete */
	memset(t, 'a', 5000);
	t[0] = '/';
	t[5000] = '\0';
	REFUSED(t, 414, "longer than 2048 bytes");
	int n = snprintf(h, sizeof(h), "GET %.3000s", t);
	CHECK(sl_gate_judge(h, (size_t)n, reason, sizeof(reason)) == 414);

	/* a head of 8 KiB without its end: 431; a complete head just under passes */
	n = snprintf(h, sizeof(h), "GET /healthz HTTP/1.1\r\nCookie: ");
	memset(h + n, 'c', sizeof(h) - (size_t)n);
	CHECK(sl_gate_judge(h, SL_GATE_HEAD_MAX, reason, sizeof(reason)) == 431);
	CHECK(strstr(reason, "8192") != NULL);
	memcpy(h + SL_GATE_HEAD_MAX - 4, "\r\n\r\n", 4);
	CHECK(sl_gate_judge(h, SL_GATE_HEAD_MAX, reason, sizeof(reason)) == SL_GATE_PASS);
	report("a target over 2048 bytes is 414, a head over 8 KiB is 431");
}

static void test_request_line(void)
{
	CHECK(head("get / HTTP/1.1\r\n\r\n") == 400 && strstr(reason, "bad request line") != NULL);
	CHECK(head("GET / HTTP/2.0\r\n\r\n") == 400);
	CHECK(head("GET /\r\n\r\n") == 400);
	CHECK(head("GET  / HTTP/1.1\r\n\r\n") == 400);
	CHECK(head("GET / HTTP/1.1 x\r\n\r\n") == 400);
	CHECK(head("\r\n") == 400);
	CHECK(head("\x16\x03\x01\x02\x00") == 400);           /* a TLS hello on the plain port */
	CHECK(head("ABCDEFGHIJKLMNOPQ / HTTP/1.1\r\n\r\n") == 400);
	CHECK(head("GET / HTTP/1.0\r\n\r\n") == SL_GATE_PASS);
	CHECK(head("GET / HTTP/1.1\n\n") == SL_GATE_PASS);     /* bare LF line ends */
	report("malformed request lines (400)");
}

static void test_more(void)
{
	static const char full[] = "GET /v1/acks/cocacola/orders?from=2 HTTP/1.1\r\nHost: x\r\n"
				   "Authorization: Bearer t\r\n\r\n";

	/* every proper prefix waits for more; the whole head passes */
	for (size_t n = 0; n < sizeof(full) - 1; n++) {
		unsigned v = sl_gate_judge(full, n, reason, sizeof(reason));
		if (v != SL_GATE_MORE) {
			fprintf(stderr, "    prefix of %zu bytes: %u '%s'\n", n, v, reason);
			CHECK(0);
			break;
		}
	}
	CHECK(sl_gate_judge(full, sizeof(full) - 1, reason, sizeof(reason)) == SL_GATE_PASS);
	/* a bad target is refused as soon as its line is complete, without waiting for the headers */
	CHECK(head("GET /v1/acks/cocacola/.. HTTP/1.1\r\n") == 400);
	CHECK(head("GET /v1/acks/cocacola/orders HTTP/1.1\r\nHost: x\r\n") == SL_GATE_MORE);
	report("a head arriving in pieces waits for its end");
}

static void test_passes(void)
{
	/* what the routing judges itself (names, routes, query meaning) passes the gate */
	static const char *const ok[] = {
		"/", "/healthz", "/metrics", "/nothing", "/v1/acks/cocacola/orders",
		"/v1/acks/cocacola/orders?from=10&rev=2&token=abc", "/v1/ingest/cocacola/orders?rev=1&resume=1",
		"/v1/topk/cocacola", "/v1/acks/cocacola/.hidden", "/v1/acks/cocacola/a..b", "/v1/acks/cocacola/...",
		"/v1/acks/coca%63ola/orders", "/v1/acks/cocacola/a%20b", "/v1/acks/cocacola/orders?token=a%25b%26c",
		"/v1/acks/cocacola/orders/", "/v1/acks/cocacola", "/v1/foo", "/v1/acks/cocacola/orders?",
		"/v1/acks/cocacola/a+b", "/v1/acks/cocacola/%C3%A9",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		PASSES(ok[i]);
	report("good requests, bad names and unknown routes pass to the routing");
}

int main(void)
{
	test_traversal();
	test_bytes();
	test_lengths();
	test_request_line();
	test_more();
	test_passes();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
