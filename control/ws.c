/*
 * ws.c — the libwebsockets control-plane server: context and listener,
 * the service thread "sl-ws", the protocol callback, URL routing and
 * token checks, and the per-connection outgoing queues.
 *
 * Threading: lws 4.1 as shipped by Debian has one service thread. Every
 * lws call happens on it, except lws_cancel_service(), which is what
 * other threads call (through rt->wake_ws) after pushing result batches
 * to rt->acks. The wake turns into LWS_CALLBACK_EVENT_WAIT_CANCELLED on
 * the service thread, which drains the ring. A 50 ms timer does the same
 * as a safety net, and keeps the ingest backlog moving.
 *
 * Connections: the listening socket belongs to the gate (gate.c), which
 * refuses malformed request heads before lws decodes them and hands the
 * others to us; our vhost does not listen, it adopts them in service_work().
 *
 * Refusals: a websocket upgrade that fails the checks is answered in
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE with a real HTTP status (400, 401,
 * 403, 404, 409, 503) and a text body, before any websocket exists. The
 * same checks run for plain GETs (LWS_CALLBACK_HTTP), so curl shows the
 * same answers. docs/websocket.md lists them.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libwebsockets.h>
#include <rte_log.h>

#include "../config/config.h"
#include "acks.h"
#include "gate.h"
#include "gate_check.h"
#include "http.h"
#include "ingest.h"
#include "topk_ws.h"
#include "../dataplane/json.h"
#include "ws.h"
#include "wsconn.h"

RTE_LOG_REGISTER(sl_ws_logtype, sluice.ws, INFO);

#define SL_WS_TICK_US (50 * LWS_US_PER_MS)
#define SL_WS_UPLOAD_QUEUE 16u          /* accepted, received, done, error: a few */
#define SL_WS_SHUTDOWN_MS 1000          /* how long close frames get to go out */
#define SL_WS_CLOSE_NOW_S 5             /* a culled or refused peer gets this long to take its close */
#define SL_WS_CLOSE_DRAIN_S 60          /* ... and this long when its queue is sent first */
#define SL_URI_MAX (SL_GATE_TARGET_MAX + 1)   /* the gate passes no longer target */
#define SL_WS_HEADER_DATA 16384u        /* lws's header buffer: holds any head the gate passes (8 KiB) */

static struct {
	struct sl_runtime *rt;
	struct sl_revisions *revs;
	struct lws_context *ctx;
	struct lws_vhost *vhost;
	pthread_t thread;
	bool thread_started;
	atomic_int stop;                  /* set by sl_ws_stop() */
	bool stopping;                    /* service thread: closing everything */
	lws_sorted_usec_list_t tick;
	struct sl_ws_conn *all;           /* established websocket connections */
} ws;

/*
 * rt->wake_ws may be called by persistence at any time, even while we
 * stop. A waker announces itself in `wakers` before reading the context;
 * sl_ws_stop() clears the context and waits for wakers to leave before
 * destroying it.
 */
static _Atomic(struct lws_context *) wake_ctx;
static atomic_uint wakers;

static void
ws_wake(void)
{
	atomic_fetch_add(&wakers, 1);
	struct lws_context *ctx = atomic_load(&wake_ctx);
	if (ctx != NULL)
		lws_cancel_service(ctx);
	atomic_fetch_sub(&wakers, 1);
}

struct sl_runtime *sl_ws_runtime(void) { return ws.rt; }
struct sl_revisions *sl_ws_revisions(void) { return ws.revs; }
struct lws_context *sl_ws_context(void) { return ws.ctx; }
bool sl_ws_stopping(void) { return ws.stopping; }

/* ---------------------------------------------------------------- messages */

struct sl_wmsg *
sl_wmsg_printf(const char *fmt, ...)
{
	va_list ap, ap2;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return NULL;
	}
	struct sl_wmsg *m = malloc(sizeof(*m) + LWS_PRE + (size_t)n + 1);
	if (m == NULL) {
		va_end(ap2);
		return NULL;
	}
	vsnprintf((char *)m->buf + LWS_PRE, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	m->refs = 1;
	m->len = (uint32_t)n;
	return m;
}

void
sl_wmsg_put(struct sl_wmsg *m)
{
	if (m != NULL && --m->refs == 0)
		free(m);
}

/*
 * A text for a JSON string in a message: escaped by dataplane/json.c (so
 * bytes that are not UTF-8 cannot make the frame invalid), cut at a
 * character boundary when it does not fit.
 */
void
sl_ws_escape(char *out, size_t cap, const char *s)
{
	size_t len = strlen(s);
	int n = -1;

	if (cap == 0)
		return;
	while ((n = sl_json_escape(out, cap - 1, s, len)) < 0 && len > 0) {
		len = len * 3 / 4;
		while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
			len--;
	}
	out[n < 0 ? 0 : n] = '\0';
}

/* ---------------------------------------------------------------- queues */

#define SL_OUTQ_FIRST 64u

static int
outq_init(struct sl_outq *q, uint32_t cap)
{
	q->size = cap < SL_OUTQ_FIRST ? cap : SL_OUTQ_FIRST;
	q->m = calloc(q->size, sizeof(*q->m));
	q->cap = q->m != NULL ? cap : 0;
	q->head = q->count = 0;
	return q->m != NULL ? 0 : -1;
}

/* Double the slots (up to cap), unwrapping the ring. -1 if out of memory. */
static int
outq_grow(struct sl_outq *q)
{
	uint32_t size = q->size * 2 < q->cap ? q->size * 2 : q->cap;
	struct sl_wmsg **m = malloc((size_t)size * sizeof(*m));

	if (m == NULL)
		return -1;
	for (uint32_t i = 0; i < q->count; i++)
		m[i] = q->m[(q->head + i) % q->size];
	free(q->m);
	q->m = m;
	q->size = size;
	q->head = 0;
	return 0;
}

static struct sl_wmsg *
outq_pop(struct sl_outq *q)
{
	if (q->count == 0)
		return NULL;
	struct sl_wmsg *m = q->m[q->head];
	q->head = (q->head + 1) % q->size;
	q->count--;
	return m;
}

static void
outq_clear(struct sl_outq *q)
{
	struct sl_wmsg *m;

	while ((m = outq_pop(q)) != NULL)
		sl_wmsg_put(m);
}

static void
outq_free(struct sl_outq *q)
{
	outq_clear(q);
	free(q->m);
	q->m = NULL;
	q->size = q->cap = 0;
}

int
sl_conn_send(struct sl_ws_conn *c, struct sl_wmsg *m)
{
	struct sl_outq *q = &c->q;

	if (m == NULL || c->wsi == NULL || c->closing || q->count == q->cap)
		return -1;
	if (q->count == q->size && outq_grow(q) < 0)
		return -1;
	q->m[(q->head + q->count) % q->size] = m;
	q->count++;
	m->refs++;
	lws_callback_on_writable(c->wsi);
	return 0;
}

void
sl_conn_close(struct sl_ws_conn *c, uint16_t code, const char *reason, bool drain)
{
	if (c->wsi == NULL)
		return;
	if (!c->closing) {
		c->closing = true;
		c->close_code = code;
		snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason);
	}
	if (!drain)
		outq_clear(&c->q);
	/* a peer that stopped reading may never let the close frame out */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, drain ? SL_WS_CLOSE_DRAIN_S : SL_WS_CLOSE_NOW_S);
	lws_callback_on_writable(c->wsi);
}

void
sl_conn_refuse(struct sl_ws_conn *c, unsigned status, const char *reason)
{
	char esc[2 * sizeof(c->close_reason)];

	sl_ws_escape(esc, sizeof(esc), reason);
	struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"error\",\"code\":%u,\"reason\":\"%s\"}",
					   status, esc);
	sl_conn_send(c, m);
	sl_wmsg_put(m);
	sl_conn_close(c, (uint16_t)(4000 + status), reason, true);
}

/* ---------------------------------------------------------------- routing */

/* Token comparison whose time depends only on the length of what was sent. */
static bool
token_equal(const char *given, size_t glen, const char *want)
{
	size_t wlen = strlen(want);
	unsigned char diff = (unsigned char)(glen != wlen);

	if (wlen == 0)
		return false;
	for (size_t i = 0; i < glen; i++)
		diff |= (unsigned char)(given[i] ^ want[i % wlen]);
	return diff == 0;
}

/* The token from "Authorization: Bearer <t>", else from ?token=<t>. Length or -1. */
static int
request_token(struct lws *wsi, char *out, size_t cap)
{
	char hdr[SL_TOKEN_MAX + 32];
	int n = lws_hdr_copy(wsi, hdr, (int)sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION);

	if (n > 7 && strncasecmp(hdr, "Bearer ", 7) == 0) {
		const char *t = hdr + 7;
		while (*t == ' ')
			t++;
		size_t len = strlen(t);
		while (len > 0 && t[len - 1] == ' ')
			len--;
		if (len > 0 && len < cap) {
			memcpy(out, t, len);
			out[len] = '\0';
			return (int)len;
		}
	}

	char arg[SL_TOKEN_MAX + 32];
	const char *v = lws_get_urlarg_by_name(wsi, "token=", arg, (int)sizeof(arg));
	if (v != NULL && *v != '\0' && strlen(v) < cap) {
		snprintf(out, cap, "%s", v);
		return (int)strlen(out);
	}
	return -1;
}

/* "12" -> 12; anything but 1..2^64-1 in plain decimal -> 0. */
static uint64_t
parse_rev(const char *s)
{
	uint64_t v = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	return v;
}

static unsigned check_tenant_token(struct lws *wsi, const char *name, size_t tlen,
				   struct sl_route *r, char *reason, size_t cap);

static bool
name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '-' || ch == '.';
}

#define SL_SUB_USAGE "/v1/acks/<tenant>/<doc>[?from=N[&rev=R]]"

/*
 * The query of a subscription: from=N (a line, >= 1), rev=R (a revision,
 * >= 1, only with from) and token=. Anything else is refused rather than
 * ignored: a misspelt "form=1" would otherwise silently mean "live only".
 * 0, or 400 with the reason.
 */
static unsigned
sub_query(struct lws *wsi, struct sl_route *r, char *reason, size_t cap)
{
	char arg[SL_TOKEN_MAX + 64];
	bool has_from = false, has_rev = false;

	/* lws keeps each argument url-decoded in its own fragment; -1 past the last */
	for (int i = 0;; i++) {
		int n = lws_hdr_copy_fragment(wsi, arg, (int)sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0) {
			if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) == 0)
				break;
			snprintf(reason, cap, "query argument %d is too long: " SL_SUB_USAGE, i + 1);
			return 400;
		}
		if (n == 0 || strncmp(arg, "token=", 6) == 0)
			continue;
		if (strncmp(arg, "from=", 5) == 0) {
			r->from = parse_rev(arg + 5);
			if (r->from == 0 || has_from) {
				snprintf(reason, cap, has_from ? "from given twice: " SL_SUB_USAGE :
					 "from must be a line number, an integer >= 1: " SL_SUB_USAGE);
				return 400;
			}
			has_from = true;
			continue;
		}
		if (strncmp(arg, "rev=", 4) == 0) {
			r->rev = parse_rev(arg + 4);
			if (r->rev == 0 || has_rev) {
				snprintf(reason, cap, has_rev ? "rev given twice: " SL_SUB_USAGE :
					 "rev must be a revision, an integer >= 1: " SL_SUB_USAGE);
				return 400;
			}
			has_rev = true;
			continue;
		}
		/* name the parameter, but only in characters safe in a header and a log */
		char name[33];
		size_t k = 0;
		for (; arg[k] != '\0' && arg[k] != '=' && k < sizeof(name) - 1; k++)
			name[k] = name_char(arg[k]) ? arg[k] : '?';
		name[k] = '\0';
		snprintf(reason, cap, "unknown query parameter '%s': " SL_SUB_USAGE
			 " takes from, rev and token", name);
		return 400;
	}
	if (has_rev && !has_from) {
		snprintf(reason, cap, "rev needs from (the first line to replay): " SL_SUB_USAGE);
		return 400;
	}
	return 0;
}

/* /v1/topk/<tenant>: a topk subscriber (topk_ws.h), of kind SL_CONN_NONE. */
static bool
is_topk_path(const char *uri)
{
	return strncmp(uri, "/v1/topk/", 9) == 0;
}

/*
 * Check a websocket endpoint request, in the documented order: path, rev
 * (uploads), tenant, token. Returns 0 with *r filled, or an HTTP status
 * with the reason; each refusal is counted. /v1/topk/<tenant> has no
 * document and the same tenant and token checks as /v1/acks.
 */
static unsigned
route_check(struct lws *wsi, const char *uri, struct sl_route *r, char *reason, size_t cap)
{
	struct sl_runtime *rt = ws.rt;
	struct sl_ws_stats *st = &rt->ws_stats;
	const char *rest;

	memset(r, 0, sizeof(*r));
	if (strncmp(uri, "/v1/acks/", 9) == 0) {
		r->kind = SL_CONN_SUB;
		rest = uri + 9;
	} else if (strncmp(uri, "/v1/ingest/", 11) == 0) {
		r->kind = SL_CONN_UPLOAD;
		rest = uri + 11;
	} else if (is_topk_path(uri)) {
		r->kind = SL_CONN_NONE;
		rest = uri + 9;
	} else {
		st->refused_path++;
		snprintf(reason, cap, "bad path: expected /v1/acks/<tenant>/<doc>, "
			 "/v1/ingest/<tenant>/<doc>?rev=N or /v1/topk/<tenant>");
		return 400;
	}
	const char *what = r->kind == SL_CONN_SUB ? "acks" : "ingest";

	if (r->kind == SL_CONN_NONE) {
		if (strchr(rest, '/') != NULL) {
			st->refused_path++;
			snprintf(reason, cap, "bad path: expected /v1/topk/<tenant>");
			return 400;
		}
		if (!sl_name_valid(rest, strlen(rest))) {
			st->refused_path++;
			snprintf(reason, cap, "bad path: tenant name must be 1-%d bytes of [A-Za-z0-9._-], "
				 "not starting with '.'", SL_NAME_MAX);
			return 400;
		}
		return check_tenant_token(wsi, rest, strlen(rest), r, reason, cap);
	}

	const char *slash = strchr(rest, '/');
	if (slash == NULL || strchr(slash + 1, '/') != NULL) {
		st->refused_path++;
		snprintf(reason, cap, "bad path: expected /v1/%s/<tenant>/<doc>", what);
		return 400;
	}
	size_t tlen = (size_t)(slash - rest);
	const char *doc = slash + 1;
	size_t dlen = strlen(doc);
	if (!sl_name_valid(rest, tlen)) {
		st->refused_path++;
		snprintf(reason, cap, "bad path: tenant name must be 1-%d bytes of [A-Za-z0-9._-], "
			 "not starting with '.'", SL_NAME_MAX);
		return 400;
	}
	if (!sl_name_valid(doc, dlen)) {
		st->refused_path++;
		snprintf(reason, cap, "bad path: document name must be 1-%d bytes of [A-Za-z0-9._-], "
			 "not starting with '.'", SL_NAME_MAX);
		return 400;
	}
	memcpy(r->doc, doc, dlen);
	r->doc[dlen] = '\0';

	if (r->kind == SL_CONN_SUB) {
		unsigned status = sub_query(wsi, r, reason, cap);
		if (status != 0) {
			st->refused_path++;
			return status;
		}
	}
	if (r->kind == SL_CONN_UPLOAD) {
		char arg[64];
		r->rev = parse_rev(lws_get_urlarg_by_name(wsi, "rev=", arg, (int)sizeof(arg)));
		if (r->rev == 0) {
			st->refused_path++;
			snprintf(reason, cap, "rev must be a positive integer: /v1/ingest/<tenant>/<doc>?rev=N");
			return 400;
		}
		const char *res = lws_get_urlarg_by_name(wsi, "resume=", arg, (int)sizeof(arg));
		if (res != NULL && strcmp(res, "1") != 0 && strcmp(res, "0") != 0) {
			st->refused_path++;
			snprintf(reason, cap, "resume must be 1 or 0: /v1/ingest/<tenant>/<doc>?rev=N&resume=1");
			return 400;
		}
		r->resume = res != NULL && strcmp(res, "1") == 0;
	}

	return check_tenant_token(wsi, rest, tlen, r, reason, cap);
}

/* The tenant of a request and its token: 0 with r->tenant set, or 404, 401, 403. */
static unsigned
check_tenant_token(struct lws *wsi, const char *name, size_t tlen, struct sl_route *r,
		   char *reason, size_t cap)
{
	struct sl_runtime *rt = ws.rt;
	struct sl_ws_stats *st = &rt->ws_stats;

	int t = sl_config_tenant_find(rt->cfg, name, tlen);
	if (t < 0) {
		st->refused_tenant++;
		snprintf(reason, cap, "unknown tenant");
		return 404;
	}
	r->tenant = (uint16_t)t;
	const struct sl_tenant_conf *tc = &rt->cfg->tenants[t];

	char tok[SL_TOKEN_MAX + 2];
	int toklen = request_token(wsi, tok, sizeof(tok));
	if (toklen < 0) {
		st->refused_auth++;
		snprintf(reason, cap, "missing token: send Authorization: Bearer <token> or ?token=");
		return 401;
	}
	if (!token_equal(tok, (size_t)toklen, tc->token)) {
		st->refused_auth++;
		sl_tenant_row(rt, rt->ingest_producer)[t].bad_token++;
		snprintf(reason, cap, "token does not match tenant %s", tc->name);
		return 403;
	}
	return 0;
}

static int
request_uri(struct lws *wsi, char *uri, size_t cap)
{
	int n = lws_hdr_copy(wsi, uri, (int)cap, WSI_TOKEN_GET_URI);
	return n > 0 ? 0 : -1;
}

/* ---------------------------------------------------------------- callbacks */

static void
service_work(void)
{
	if (ws.stopping)
		return;
	sl_gate_drain(ws.vhost);
	sl_acks_drain(ws.rt);
	sl_ingest_tick();
	sl_topk_ws_tick();
}

static void
on_tick(lws_sorted_usec_list_t *sul)
{
	service_work();
	if (!ws.stopping)
		sl_acks_tick();
	lws_sul_schedule(ws.ctx, 0, sul, on_tick, SL_WS_TICK_US);
}

static int
on_confirm_upgrade(struct lws *wsi, const char *up)
{
	char uri[SL_URI_MAX], reason[256];
	struct sl_route r;
	unsigned status;

	if (up == NULL || strcasecmp(up, "websocket") != 0) {
		ws.rt->ws_stats.refused_path++;
		status = 400;
		snprintf(reason, sizeof(reason), "only websocket upgrades are served here");
	} else if (request_uri(wsi, uri, sizeof(uri)) < 0) {
		ws.rt->ws_stats.refused_path++;
		status = 400;
		snprintf(reason, sizeof(reason), "bad path: missing or too long");
	} else {
		status = route_check(wsi, uri, &r, reason, sizeof(reason));
		if (status == 0 && r.kind == SL_CONN_UPLOAD)
			status = sl_ingest_precheck(&r, reason, sizeof(reason));
	}
	if (status != 0) {
		sl_http_refuse_upgrade(wsi, status, reason);
		return -1;      /* hang up: the answer is already on the wire */
	}
	return 0;
}

static int
on_http(struct lws *wsi, struct sl_ws_conn *c, const char *path)
{
	char uri[SL_URI_MAX], reason[256];
	struct sl_route r;

	if (strncmp(path, "/v1/", 4) != 0)
		return sl_http_request(wsi, c, ws.rt, path);
	if (request_uri(wsi, uri, sizeof(uri)) < 0)
		snprintf(uri, sizeof(uri), "%s", path);
	unsigned status = route_check(wsi, uri, &r, reason, sizeof(reason));
	if (status != 0)
		return sl_http_reply(wsi, c, status, reason);
	return sl_http_reply(wsi, c, 426, "this endpoint is a websocket: connect with a websocket client");
}

static void
all_link(struct sl_ws_conn *c)
{
	c->all_prev = NULL;
	c->all_next = ws.all;
	if (ws.all != NULL)
		ws.all->all_prev = c;
	ws.all = c;
}

static void
all_unlink(struct sl_ws_conn *c)
{
	if (c->all_prev != NULL)
		c->all_prev->all_next = c->all_next;
	else if (ws.all == c)
		ws.all = c->all_next;
	if (c->all_next != NULL)
		c->all_next->all_prev = c->all_prev;
	c->all_prev = c->all_next = NULL;
}

static int
on_established(struct lws *wsi, struct sl_ws_conn *c)
{
	char uri[SL_URI_MAX], reason[256];
	struct sl_route r;
	unsigned status;

	sl_http_free(c);
	memset(c, 0, sizeof(*c));
	c->wsi = wsi;

	/*
	 * CONFIRM_UPGRADE already checked all this; checking again costs
	 * nothing and keeps any path that reaches here without it honest.
	 */
	if (request_uri(wsi, uri, sizeof(uri)) < 0) {
		status = 400;
		snprintf(reason, sizeof(reason), "bad path: missing or too long");
	} else {
		status = route_check(wsi, uri, &r, reason, sizeof(reason));
	}

	uint32_t cap = SL_WS_UPLOAD_QUEUE;
	if (status == 0 && r.kind == SL_CONN_SUB)
		cap = ws.rt->cfg->subscriber_queue > 0 ? ws.rt->cfg->subscriber_queue : 1;
	if (outq_init(&c->q, cap) < 0) {
		SL_WS_LOG(ERR, "out of memory for a connection's queue\n");
		c->wsi = NULL;
		return -1;
	}
	all_link(c);

	if (status != 0) {
		sl_conn_refuse(c, status, reason);
		return 0;
	}
	c->tenant = r.tenant;
	snprintf(c->doc, sizeof(c->doc), "%s", r.doc);

	if (is_topk_path(uri)) {
		sl_topk_ws_subscribe(c);
		return 0;
	}
	if (r.kind == SL_CONN_SUB) {
		c->kind = SL_CONN_SUB;
		c->from = r.from;
		c->rev = r.rev;
		sl_acks_subscribe(c);
		return 0;
	}
	status = sl_ingest_open(c, &r, reason, sizeof(reason));
	if (status != 0) {
		sl_conn_refuse(c, status, reason);
		return 0;
	}
	c->kind = SL_CONN_UPLOAD;
	return 0;
}

static int
on_writeable(struct lws *wsi, struct sl_ws_conn *c)
{
	struct sl_wmsg *m = NULL;

	/*
	 * A subscriber's replay goes before the live messages queued behind
	 * it. While it has nothing to send (reading, or waiting for the file
	 * to grow) it keeps the turn and asks for the next one itself.
	 */
	if (c->replay != NULL && !c->closing && sl_acks_replay_turn(c, &m) && m == NULL)
		return 0;
	if (m == NULL)
		m = outq_pop(&c->q);

	if (m != NULL) {
		/* one lws_write per WRITEABLE: lws buffers what the socket refuses */
		uint32_t len = m->len;
		int n = lws_write(wsi, m->buf + LWS_PRE, len, LWS_WRITE_TEXT);
		sl_wmsg_put(m);
		if (n < (int)len)
			return -1;
		if (c->kind == SL_CONN_SUB)
			sl_acks_sent(c);
		if (c->q.count > 0 || c->closing || c->replay != NULL)
			lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->closing) {
		lws_close_reason(wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_reason, strlen(c->close_reason));
		return -1;
	}
	return 0;
}

static void
on_closed(struct sl_ws_conn *c)
{
	if (c->wsi == NULL)
		return;
	all_unlink(c);
	if (c->kind == SL_CONN_SUB)
		sl_acks_unsubscribe(c);
	else if (c->kind == SL_CONN_UPLOAD)
		sl_ingest_closed(c);
	else
		sl_topk_ws_unsubscribe(c);      /* a no-op unless it was a topk subscriber */
	c->kind = SL_CONN_NONE;
	outq_free(&c->q);
	sl_http_free(c);
	c->wsi = NULL;     /* lws frees c itself after this callback */
}

static int
sl_ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct sl_ws_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		service_work();
		return 0;

	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_confirm_upgrade(wsi, in);

	case LWS_CALLBACK_HTTP:
		return on_http(wsi, c, in != NULL ? (const char *)in : "/");

	case LWS_CALLBACK_HTTP_WRITEABLE:
		return sl_http_writeable(wsi, c);

	case LWS_CALLBACK_CLOSED_HTTP:
		if (c != NULL)
			sl_http_free(c);
		return 0;

	case LWS_CALLBACK_ESTABLISHED:
		return on_established(wsi, c);

	case LWS_CALLBACK_RECEIVE:
		if (c->kind == SL_CONN_UPLOAD && !c->closing)
			sl_ingest_receive(c, in, len);
		/* subscribers have nothing to say: their messages are ignored */
		return 0;

	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writeable(wsi, c);

	case LWS_CALLBACK_CLOSED:
		on_closed(c);
		return 0;

	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/*
 * One protocol for everything: clients need not name a subprotocol, and
 * HTTP requests and websocket upgrades share the routing code.
 */
static const struct lws_protocols protocols[] = {
	{
		.name = "sluice",
		.callback = sl_ws_callback,
		.per_session_data_size = sizeof(struct sl_ws_conn),
		.rx_buffer_size = 0,
	},
	{ .name = NULL, .callback = NULL },
};

/* Ping idle peers after 30 s, hang up on those silent for 60 s. */
static const lws_retry_bo_t idle_policy = {
	.secs_since_valid_ping = 30,
	.secs_since_valid_hangup = 60,
};

/* ---------------------------------------------------------------- lifecycle */

static void
lws_log_emit(int level, const char *line)
{
	rte_log(level == LLL_ERR ? RTE_LOG_ERR : RTE_LOG_WARNING, sl_ws_logtype, "lws: %s", line);
}

static void *
ws_thread(void *arg)
{
	(void)arg;
	lws_sul_schedule(ws.ctx, 0, &ws.tick, on_tick, SL_WS_TICK_US);

	while (!atomic_load(&ws.stop))
		if (lws_service(ws.ctx, 0) < 0)
			break;

	/* Say goodbye to every websocket peer, give the close frames a moment. */
	ws.stopping = true;
	for (struct sl_ws_conn *c = ws.all; c != NULL; c = c->all_next)
		sl_conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "sluiced shutting down", false);
	lws_usec_t until = lws_now_usecs() + SL_WS_SHUTDOWN_MS * LWS_US_PER_MS;
	while (ws.all != NULL && lws_now_usecs() < until)
		if (lws_service(ws.ctx, 0) < 0)
			break;
	lws_sul_cancel(&ws.tick);
	return NULL;
}

int
sl_ws_start(struct sl_runtime *rt, struct sl_revisions *revs, char *err, size_t errlen)
{
	const struct sl_config *cfg = rt->cfg;
	struct in_addr a4;

	memset(&ws, 0, sizeof(ws));
	ws.rt = rt;
	ws.revs = revs;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

	if (sl_acks_init(rt) < 0 || sl_ingest_init(rt, revs) < 0) {
		snprintf(err, errlen, "websocket server: out of memory");
		return -1;
	}

	bool any = cfg->listen_addr[0] == '\0' || strcmp(cfg->listen_addr, "0.0.0.0") == 0;
	bool v4 = any || inet_pton(AF_INET, cfg->listen_addr, &a4) == 1;

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (v4)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.max_http_header_data = SL_WS_HEADER_DATA;
	ws.ctx = lws_create_context(&info);
	if (ws.ctx == NULL) {
		snprintf(err, errlen, "cannot create the libwebsockets context (see its log above)");
		sl_ingest_fini();
		sl_acks_fini(rt);
		return -1;
	}

	struct lws_context_creation_info vi;
	memset(&vi, 0, sizeof(vi));
	vi.vhost_name = "sluiced";
	vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;      /* the gate listens and hands connections over */
	vi.protocols = protocols;
	vi.retry_and_idle_policy = &idle_policy;
	if (v4)
		vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	ws.vhost = lws_create_vhost(ws.ctx, &vi);
	if (ws.vhost == NULL) {
		snprintf(err, errlen, "cannot create the libwebsockets vhost (see its log above)");
		lws_context_destroy(ws.ctx);
		ws.ctx = NULL;
		sl_ingest_fini();
		sl_acks_fini(rt);
		return -1;
	}

	atomic_store(&wake_ctx, ws.ctx);
	rt->wake_ws = ws_wake;

	if (sl_gate_start(any ? NULL : cfg->listen_addr, cfg->listen_port, &rt->ws_stats, ws_wake,
			  err, errlen) < 0) {
		atomic_store(&wake_ctx, NULL);
		lws_context_destroy(ws.ctx);
		ws.ctx = NULL;
		sl_ingest_fini();
		sl_acks_fini(rt);
		return -1;
	}

	int e = pthread_create(&ws.thread, NULL, ws_thread, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the websocket thread: %s", strerror(e));
		sl_gate_stop();
		atomic_store(&wake_ctx, NULL);
		lws_context_destroy(ws.ctx);
		ws.ctx = NULL;
		sl_ingest_fini();
		sl_acks_fini(rt);
		return -1;
	}
	ws.thread_started = true;
	pthread_setname_np(ws.thread, "sl-ws");
	SL_WS_LOG(INFO, "listening on %s:%u (websocket + HTTP)\n",
		  any ? "0.0.0.0" : cfg->listen_addr, cfg->listen_port);
	return 0;
}

void
sl_ws_stop(struct sl_runtime *rt)
{
	if (ws.ctx == NULL)
		return;
	sl_gate_stop();         /* no new connections while the last ACKs go out */
	if (ws.thread_started) {
		atomic_store(&ws.stop, 1);
		lws_cancel_service(ws.ctx);
		pthread_join(ws.thread, NULL);
		ws.thread_started = false;
	}

	/* No waker may touch the context once it is gone. */
	atomic_store(&wake_ctx, NULL);
	while (atomic_load(&wakers) != 0)
		sched_yield();

	/* The service thread is gone: callbacks from the destroy run here. */
	ws.stopping = true;
	lws_context_destroy(ws.ctx);
	ws.ctx = NULL;
	sl_ingest_fini();
	sl_acks_fini(rt);
	sl_topk_ws_fini();
}
