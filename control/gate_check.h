/*
 * gate_check.h — what the listener's gate (gate.c) refuses in the raw
 * head of an HTTP request, before libwebsockets decodes and folds it.
 *
 * A pure function of the bytes received so far: no I/O, no lws, so the
 * unit test can feed it every form of a bad request.
 */
#ifndef SLUICE_GATE_CHECK_H
#define SLUICE_GATE_CHECK_H

#include <stddef.h>

#define SL_GATE_TARGET_MAX 2048u    /* longest request target (path and query), bytes */
#define SL_GATE_HEAD_MAX 8192u      /* longest request head (request line and headers), bytes */
#define SL_GATE_QUERY_PARAMS 16u    /* most query parameters */

/* Verdicts other than an HTTP status. */
#define SL_GATE_MORE 0u             /* no verdict yet: wait for more bytes */
#define SL_GATE_PASS 1u             /* the head is complete and acceptable: hand it to lws */

/*
 * Judge the first n bytes of a connection (n may end anywhere). Returns
 * SL_GATE_MORE, SL_GATE_PASS, or an HTTP status (400, 414, 431) with the
 * reason written to reason (never raw bytes of the request: safe in a
 * header and a log).
 *
 * Refused in the request target's path, raw or %-encoded: a '%' without
 * two hex digits, %00, '\' (or %5C), an encoded '/' (%2F) or '%' (%25:
 * double encoding), a "." or ".." segment (also as %2e), an empty segment
 * ("//"), control bytes. In the query: control bytes, a bad '%' escape,
 * %00, more than SL_GATE_QUERY_PARAMS parameters. A target that does not
 * start with '/' is 400, one longer than SL_GATE_TARGET_MAX is 414, a head
 * longer than SL_GATE_HEAD_MAX is 431. Everything else (names, routes,
 * queries' meaning) is left to the routing in ws.c and http.c.
 */
unsigned sl_gate_judge(const char *buf, size_t n, char *reason, size_t cap);

#endif
