/*
 * gate_check.c — the gate's verdict on the raw head of an HTTP request
 * (see gate_check.h for what is refused, and gate.c for why it has to be
 * judged before libwebsockets sees it).
 *
 * The path is judged segment by segment, each segment decoded once, so
 * every spelling of a traversal ("..", "%2e%2e", ".%2E", "..%2F", "%5C")
 * is refused here as a bad path, whatever lws would have made of it.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gate_check.h"

#define METHOD_MAX 16u
#define LINE_USAGE "expected METHOD /path HTTP/1.1, e.g. GET /v1/acks/<tenant>/<doc> HTTP/1.1"

static unsigned __attribute__((format(printf, 4, 5)))
refuse(char *reason, size_t cap, unsigned status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, cap, fmt, ap);
	va_end(ap);
	return status;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The %XX at s[i] (i < len, s[i] == '%'): its byte, or -1 if two hex digits do not follow. */
static int
pct(const char *s, size_t len, size_t i)
{
	if (i + 2 >= len || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
		return -1;
	return hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
}

static bool
ctl(unsigned char c)
{
	return c < 0x21 || c == 0x7f;
}

/* p[0] == '/'. Each segment between raw '/'s, decoded once. */
static unsigned
check_path(const char *p, size_t len, char *reason, size_t cap)
{
	size_t seg = 0, dots = 0;

	for (size_t i = 1; i <= len; i++) {
		if (i == len || p[i] == '/') {
			if (seg != 0 && seg == dots && seg <= 2)
				return refuse(reason, cap, 400, "bad path: '.' and '..' segments are not allowed "
					      "(nor their encodings, such as %%2e%%2e)");
			if (seg == 0 && i < len)
				return refuse(reason, cap, 400, "bad path: empty segment ('//')");
			seg = dots = 0;
			continue;
		}
		unsigned char c = (unsigned char)p[i];

		if (ctl(c))
			return refuse(reason, cap, 400, "bad path: byte 0x%02x is not allowed", c);
		if (c == ';' || c == '&')
			return refuse(reason, cap, 400, "bad path: '%c' is not allowed in a path", c);
		if (c == '%') {
			int d = pct(p, len, i);

			if (d < 0)
				return refuse(reason, cap, 400, "bad path: '%%' must be followed by two hex digits");
			if (d == 0)
				return refuse(reason, cap, 400, "bad path: %%00 (a NUL byte) is not allowed");
			if (d == '/')
				return refuse(reason, cap, 400, "bad path: an encoded '/' (%%2F) is not allowed "
					      "in a name");
			if (d == '%')
				return refuse(reason, cap, 400, "bad path: an encoded '%%' (%%25) is not allowed "
					      "(double encoding)");
			c = (unsigned char)d;
			i += 2;
		}
		if (c == '\\')
			return refuse(reason, cap, 400, "bad path: '\\' is not allowed (nor %%5C)");
		seg++;
		dots += c == '.';
	}
	return 0;
}

/* q: what follows the '?'. */
static unsigned
check_query(const char *q, size_t len, char *reason, size_t cap)
{
	unsigned params = 1;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)q[i];

		if (ctl(c))
			return refuse(reason, cap, 400, "bad query: byte 0x%02x is not allowed", c);
		if ((c == '&' || c == ';') && ++params > SL_GATE_QUERY_PARAMS)
			return refuse(reason, cap, 400, "bad query: more than %u parameters",
				      SL_GATE_QUERY_PARAMS);
		if (c == '%') {
			int d = pct(q, len, i);

			if (d < 0)
				return refuse(reason, cap, 400, "bad query: '%%' must be followed by two hex digits");
			if (d == 0)
				return refuse(reason, cap, 400, "bad query: %%00 (a NUL byte) is not allowed");
			i += 2;
		}
	}
	return 0;
}

static unsigned
check_target(const char *t, size_t len, char *reason, size_t cap)
{
	if (len == 0 || t[0] != '/')
		return refuse(reason, cap, 400, "bad path: the request target must start with '/', "
			      "e.g. /v1/acks/<tenant>/<doc>");
	if (len > SL_GATE_TARGET_MAX)
		return refuse(reason, cap, 414, "request target longer than %u bytes", SL_GATE_TARGET_MAX);

	const char *q = memchr(t, '?', len);
	size_t plen = q != NULL ? (size_t)(q - t) : len;
	unsigned status = check_path(t, plen, reason, cap);

	if (status == 0 && q != NULL)
		status = check_query(q + 1, len - plen - 1, reason, cap);
	return status;
}

/* Bytes of the method at buf (A-Z), or 0 if it is not one. */
static size_t
method_len(const char *buf, size_t n)
{
	size_t m = 0;

	while (m < n && m < METHOD_MAX && buf[m] >= 'A' && buf[m] <= 'Z')
		m++;
	return m;
}

/* Is there an empty line (the end of the head) after the request line ending at nl? */
static bool
head_complete(const char *nl, const char *end)
{
	while (nl != NULL) {
		const char *next = nl + 1;

		if (next < end && *next == '\n')
			return true;
		if (next + 1 < end && next[0] == '\r' && next[1] == '\n')
			return true;
		nl = memchr(next, '\n', (size_t)(end - next));
	}
	return false;
}

unsigned
sl_gate_judge(const char *buf, size_t n, char *reason, size_t cap)
{
	const char *nl = memchr(buf, '\n', n);
	size_t line = nl != NULL ? (size_t)(nl - buf) : n;
	size_t m = method_len(buf, line);

	if (nl != NULL && line > 0 && buf[line - 1] == '\r')
		line--;

	/* The request line so far: the method, a space, the target. */
	if (m == 0 && line > 0)
		return refuse(reason, cap, 400, "bad request line: " LINE_USAGE);
	if (m < line && buf[m] != ' ')
		return refuse(reason, cap, 400, "bad request line: " LINE_USAGE);
	if (m == line) {
		/* no space after the method yet */
		if (nl != NULL || m == METHOD_MAX)
			return refuse(reason, cap, 400, "bad request line: " LINE_USAGE);
		return SL_GATE_MORE;
	}

	const char *t = buf + m + 1;
	const char *sp = memchr(t, ' ', line - m - 1);
	size_t tlen = sp != NULL ? (size_t)(sp - t) : line - m - 1;

	if (tlen > SL_GATE_TARGET_MAX)
		return refuse(reason, cap, 414, "request target longer than %u bytes", SL_GATE_TARGET_MAX);
	if (nl == NULL) {
		if (n >= SL_GATE_HEAD_MAX)
			return refuse(reason, cap, 431, "request line and headers longer than %u bytes",
				      SL_GATE_HEAD_MAX);
		return SL_GATE_MORE;
	}

	/* The whole request line is here. */
	const char *ver = sp != NULL ? sp + 1 : NULL;
	size_t vlen = ver != NULL ? line - (size_t)(ver - buf) : 0;
	if (ver == NULL || vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || ver[7] < '0' || ver[7] > '9')
		return refuse(reason, cap, 400, "bad request line: " LINE_USAGE);

	unsigned status = check_target(t, tlen, reason, cap);
	if (status != 0)
		return status;
	if (head_complete(nl, buf + n))
		return SL_GATE_PASS;
	if (n >= SL_GATE_HEAD_MAX)
		return refuse(reason, cap, 431, "request line and headers longer than %u bytes",
			      SL_GATE_HEAD_MAX);
	return SL_GATE_MORE;
}
