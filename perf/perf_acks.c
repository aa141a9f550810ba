/*
 * perf_acks.c — the ACK subscribers of sluice-perf (see perf_acks.h).
 *
 * All lws calls happen on the one service thread, except creating the
 * context and the connections (done before the thread starts) and
 * lws_cancel_service (to stop it). The main thread only reads atomics
 * while the thread runs, and everything else after joining it.
 *
 * Messages are parsed with a few string searches rather than a JSON
 * library: they are sluiced's own fixed format (docs/websocket.md) and
 * the ACK thread must keep up with millions of lines per second. The keys
 * looked for (type, rev, from, to, status, lines, ok, errors) all come
 * before the only free text (detail, reason), so the first match is the
 * right one.
 */
#include "perf_acks.h"

#include <errno.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSG_MAX (64 * 1024)
#define SHOW_MAX 5                       /* examples printed per kind of violation */

struct sub {
	struct perf_acks *a;
	struct perf_doc *d;
	bool slow;
	struct lws *wsi;
	char path[200], auth[220];
	uint8_t *count;                  /* ACKs per line, saturating at 255 */
	uint64_t wrong_status, wrong_rev, out_of_range, first_wrong;
	uint64_t summaries;
	char summary[320];               /* the first summary, as received */
	bool summary_ok;
	bool subscribed, closed, finished;
	unsigned close_code;
	char why[240];                   /* a refusal or close reason */
	char *msg;
	size_t mlen;
	lws_sorted_usec_list_t sul;      /* slow: pause / resume reading */
	bool paused;
};

struct perf_acks {
	struct perf_run *r;
	struct lws_context *ctx;
	pthread_t th;
	bool thread_started;
	atomic_bool stop;
	struct sub *subs;
	unsigned nsubs, nregular;
	atomic_uint subscribed, finished_regular, finished_slow, failed;
	char host[128];
	int port;
	char prefix[128];
	struct perf_ack_totals t;        /* written by the thread */
};

/* ---- message parsing ------------------------------------------------- */

static const char *field(const char *m, const char *key)
{
	char pat[40];
	snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *p = strstr(m, pat);
	return p ? p + strlen(pat) : NULL;
}

static bool field_u64(const char *m, const char *key, uint64_t *v)
{
	const char *p = field(m, key);
	if (p == NULL || *p < '0' || *p > '9')
		return false;
	*v = strtoull(p, NULL, 10);
	return true;
}

static bool field_is(const char *m, const char *key, const char *want)
{
	const char *p = field(m, key);
	size_t n = strlen(want);
	return p != NULL && p[0] == '"' && strncmp(p + 1, want, n) == 0 && p[1 + n] == '"';
}

/* ---- one message ----------------------------------------------------- */

static void finish_sub(struct sub *s)
{
	if (s->finished)
		return;
	s->finished = true;
	atomic_fetch_add(s->slow ? &s->a->finished_slow : &s->a->finished_regular, 1);
}

static void on_ack(struct sub *s, const char *m, uint64_t now)
{
	struct perf_acks *a = s->a;
	const struct perf_doc *d = s->d;
	uint64_t rev, from, to;
	if (!field_u64(m, "rev", &rev) || !field_u64(m, "from", &from) || !field_u64(m, "to", &to) ||
	    rev != a->r->cfg.rev) {
		s->wrong_rev++;
		return;
	}
	bool ok = field_is(m, "status", "ok");
	if (from < 1 || to > d->lines || from > to) {
		s->out_of_range++;
		return;
	}
	unsigned bad_every = a->r->cfg.bad_every;
	for (uint64_t k = from; k <= to; k++) {
		bool want_ok = !(bad_every && k % bad_every == 0);
		if (ok != want_ok && s->wrong_status++ == 0)
			s->first_wrong = k;
		if (s->count[k - 1] < 255)
			s->count[k - 1]++;
		if (s->count[k - 1] != 1)
			continue;
		uint64_t ref;
		if (a->r->open_loop) {
			ref = perf_due(a->r, d->j, k - 1);
		} else {
			ref = atomic_load_explicit(&d->sent_ns[k - 1], memory_order_acquire);
			if (ref == 0) {
				a->t.unsent_acked++;
				continue;
			}
		}
		perf_hist_add(s->slow ? &a->t.slow_lat : &a->t.lat, now > ref ? now - ref : 0);
	}
	if (!s->slow) {
		a->t.ack_lines += to - from + 1;
		a->t.last_ack_ns = now;
	}
}

static void on_summary(struct sub *s, const char *m, uint64_t now)
{
	const struct perf_doc *d = s->d;
	uint64_t rev = 0, lines = 0, ok = 0, errors = 0;
	bool parsed = field_u64(m, "rev", &rev) && field_u64(m, "lines", &lines) &&
		      field_u64(m, "ok", &ok) && field_u64(m, "errors", &errors);
	if (parsed && rev != s->a->r->cfg.rev) {
		s->wrong_rev++;
		return;
	}
	if (s->summaries++ == 0) {
		snprintf(s->summary, sizeof s->summary, "%s", m);
		s->summary_ok = parsed && lines == d->lines && errors == d->errors_expected &&
				ok == d->lines - d->errors_expected &&
				field_is(m, "status", "complete");
	}
	if (!s->slow)
		s->a->t.last_ack_ns = now;
	s->a->t.summaries++;
	finish_sub(s);
}

static void on_message(struct sub *s, const char *m)
{
	uint64_t now = perf_now();
	s->a->t.messages++;
	if (field_is(m, "type", "ack")) {
		on_ack(s, m, now);
	} else if (field_is(m, "type", "summary")) {
		on_summary(s, m, now);
	} else if (field_is(m, "type", "subscribed")) {
		if (!s->subscribed) {
			s->subscribed = true;
			atomic_fetch_add(&s->a->subscribed, 1);
		}
	} else if (field_is(m, "type", "error")) {
		snprintf(s->why, sizeof s->why, "%s", m);
	}
}

/* ---- lws ------------------------------------------------------------- */

static void slow_toggle(lws_sorted_usec_list_t *sul)
{
	struct sub *s = lws_container_of(sul, struct sub, sul);
	if (s->wsi == NULL || s->closed)
		return;
	const struct perf_cfg *c = &s->a->r->cfg;
	s->paused = !s->paused;
	lws_rx_flow_control(s->wsi, s->paused ? 0 : 1);
	lws_sul_schedule(s->a->ctx, 0, &s->sul, slow_toggle,
			 (lws_usec_t)(s->paused ? c->slow_pause_ms : c->slow_read_ms) * LWS_US_PER_MS);
}

static int on_receive(struct sub *s, const void *in, size_t len)
{
	if (s->mlen + len >= MSG_MAX) {
		snprintf(s->why, sizeof s->why, "a message longer than %d bytes", MSG_MAX);
		s->mlen = 0;
		return 0;
	}
	memcpy(s->msg + s->mlen, in, len);
	s->mlen += len;
	if (!lws_is_final_fragment(s->wsi))
		return 0;
	s->msg[s->mlen] = '\0';
	on_message(s, s->msg);
	s->mlen = 0;
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct sub *s = wsi ? lws_get_opaque_user_data(wsi) : NULL;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = (unsigned char **)in, *end = *p + len;
		if (s == NULL || lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
							      (const unsigned char *)s->auth,
							      (int)strlen(s->auth), p, end))
			return -1;
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (s != NULL) {
			unsigned status = lws_http_client_http_response(wsi);
			char reason_hdr[200] = "";
			if (status >= 400 && lws_hdr_custom_copy(wsi, reason_hdr, (int)sizeof reason_hdr,
								 "x-sluice-reason:", 16) < 0)
				reason_hdr[0] = '\0';
			if (status >= 400)
				snprintf(s->why, sizeof s->why, "HTTP %u: %s", status, reason_hdr);
			else
				snprintf(s->why, sizeof s->why, "cannot connect: %s",
					 in ? (const char *)in : "unknown error");
			s->closed = true;
			s->wsi = NULL;
			atomic_fetch_add(&s->a->failed, 1);
			finish_sub(s);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (s != NULL && s->slow)
			lws_sul_schedule(s->a->ctx, 0, &s->sul, slow_toggle,
					 (lws_usec_t)s->a->r->cfg.slow_read_ms * LWS_US_PER_MS);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return s ? on_receive(s, in, len) : 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (s != NULL && len >= 2) {
			const unsigned char *b = in;
			s->close_code = (unsigned)b[0] << 8 | b[1];
			snprintf(s->why, sizeof s->why, "closed by the server: %u %.*s", s->close_code,
				 (int)(len - 2), (const char *)in + 2);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (s != NULL) {
			s->closed = true;
			s->wsi = NULL;
			lws_sul_cancel(&s->sul);
			if (s->summaries == 0 && s->why[0] == '\0')
				snprintf(s->why, sizeof s->why, "connection lost");
			finish_sub(s);
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ .name = "sluice-perf", .callback = callback },
	{ .name = NULL, .callback = NULL },
};

static void *acks_main(void *arg)
{
	struct perf_acks *a = arg;
	while (!atomic_load(&a->stop))
		if (lws_service(a->ctx, 0) < 0)
			break;
	return NULL;
}

static int connect_sub(struct perf_acks *a, struct sub *s, char *err, size_t errlen)
{
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = a->ctx;
	ci.address = a->host;
	ci.port = a->port;
	ci.path = s->path;
	ci.host = a->host;
	ci.origin = a->host;
	ci.opaque_user_data = s;
	ci.pwsi = &s->wsi;
	if (lws_client_connect_via_info(&ci) == NULL && !s->closed) {
		snprintf(err, errlen, "cannot connect to %s for %s", a->r->cfg.ws_url, s->path);
		return -1;
	}
	return 0;
}

struct perf_acks *perf_acks_start(struct perf_run *r, char *err, size_t errlen)
{
	struct perf_acks *a = calloc(1, sizeof *a);
	if (a == NULL) {
		snprintf(err, errlen, "out of memory for the subscribers");
		return NULL;
	}
	a->r = r;
	perf_hist_init(&a->t.lat);
	perf_hist_init(&a->t.slow_lat);

	char url[512];
	const char *prot, *addr, *prefix;
	snprintf(url, sizeof url, "%s", r->cfg.ws_url);
	if (lws_parse_uri(url, &prot, &addr, &a->port, &prefix) || strcmp(prot, "ws") != 0) {
		snprintf(err, errlen, "--ws '%s': expected ws://HOST:PORT", r->cfg.ws_url);
		free(a);
		return NULL;
	}
	snprintf(a->host, sizeof a->host, "%s", addr);
	size_t plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	snprintf(a->prefix, sizeof a->prefix, "%s%.*s", plen ? "/" : "", (int)plen, prefix);

	unsigned per_doc = r->cfg.subs_per_doc + (r->cfg.slow_sub ? 1 : 0);
	a->nsubs = r->ndocs * per_doc;
	a->nregular = r->ndocs * r->cfg.subs_per_doc;
	a->subs = calloc(a->nsubs, sizeof *a->subs);
	if (a->subs == NULL) {
		snprintf(err, errlen, "out of memory for %u subscribers", a->nsubs);
		free(a);
		return NULL;
	}
	for (unsigned i = 0; i < a->nsubs; i++) {
		struct sub *s = &a->subs[i];
		s->a = a;
		s->d = &r->docs[i / per_doc];
		s->slow = i % per_doc == r->cfg.subs_per_doc;
		snprintf(s->path, sizeof s->path, "%s/v1/acks/%s/%s", a->prefix, s->d->tenant_name,
			 s->d->name);
		snprintf(s->auth, sizeof s->auth, "Bearer %s", s->d->token);
		s->count = calloc(s->d->lines ? s->d->lines : 1, 1);
		s->msg = malloc(MSG_MAX);
		if (s->count == NULL || s->msg == NULL) {
			snprintf(err, errlen, "out of memory for %u subscribers", a->nsubs);
			perf_acks_free(a);
			return NULL;
		}
	}

	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.fd_limit_per_thread = a->nsubs + 64;
	a->ctx = lws_create_context(&info);
	if (a->ctx == NULL) {
		snprintf(err, errlen, "cannot create the libwebsockets context");
		perf_acks_free(a);
		return NULL;
	}
	for (unsigned i = 0; i < a->nsubs; i++) {
		if (connect_sub(a, &a->subs[i], err, errlen) < 0) {
			perf_acks_free(a);
			return NULL;
		}
	}
	int rc = pthread_create(&a->th, NULL, acks_main, a);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the ACK thread: %s", strerror(rc));
		perf_acks_free(a);
		return NULL;
	}
	a->thread_started = true;
	return a;
}

int perf_acks_wait_subscribed(struct perf_acks *a, unsigned timeout_s, char *err, size_t errlen)
{
	uint64_t until = perf_now() + (uint64_t)timeout_s * 1000000000ull;
	while (atomic_load(&a->subscribed) < a->nsubs) {
		if (atomic_load(&a->failed) > 0 || perf_now() > until || atomic_load(&a->r->stop))
			break;
		usleep(2000);
	}
	if (atomic_load(&a->subscribed) == a->nsubs)
		return 0;
	/* Stop the thread first so the reasons can be read safely. */
	perf_acks_stop(a);
	for (unsigned i = 0; i < a->nsubs; i++) {
		const struct sub *s = &a->subs[i];
		if (!s->subscribed) {
			snprintf(err, errlen, "subscriber %s%s: %s (is --ws right, and does tenant %s "
				 "have token %s?)", a->r->cfg.ws_url, s->path,
				 s->why[0] ? s->why : "no answer in time", s->d->tenant_name,
				 s->d->token);
			return -1;
		}
	}
	snprintf(err, errlen, "subscribers did not all subscribe");
	return -1;
}

bool perf_acks_complete(const struct perf_acks *a, bool with_slow)
{
	if (atomic_load(&a->finished_regular) < a->nregular)
		return false;
	return !with_slow || atomic_load(&a->finished_slow) >= a->nsubs - a->nregular;
}

void perf_acks_stop(struct perf_acks *a)
{
	if (!a->thread_started)
		return;
	atomic_store(&a->stop, true);
	lws_cancel_service(a->ctx);
	pthread_join(a->th, NULL);
	a->thread_started = false;
}

/* Print up to SHOW_MAX examples of one kind of violation. */
static void show(FILE *out, unsigned *shown, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void show(FILE *out, unsigned *shown, const char *fmt, ...)
{
	if ((*shown)++ >= SHOW_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	fputs("  FAIL ", out);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
	va_end(ap);
}

uint64_t perf_acks_verify(struct perf_acks *a, FILE *out, struct perf_ack_totals *t)
{
	uint64_t bad = 0;
	unsigned shown_missing = 0, shown_dup = 0, shown_status = 0, shown_summary = 0,
		 shown_other = 0;
	*t = a->t;
	t->subs = a->nregular;
	t->slow_subs = a->nsubs - a->nregular;
	for (unsigned i = 0; i < a->nsubs; i++) {
		const struct sub *s = &a->subs[i];
		const char *tn = s->d->tenant_name, *dn = s->d->name;
		if (s->slow) {
			if (s->close_code == 4008)
				t->slow_culled++;
			else if (s->summaries == 1 && s->summary_ok)
				t->slow_complete++;
			continue;                /* reported, not judged: it may be culled */
		}
		uint64_t missing = 0, dup = 0, first_missing = 0, first_dup = 0;
		for (uint64_t k = 0; k < s->d->lines; k++) {
			if (s->count[k] == 0 && missing++ == 0)
				first_missing = k + 1;
			if (s->count[k] > 1 && dup++ == 0)
				first_dup = k + 1;
		}
		if (missing) {
			bad++;
			show(out, &shown_missing, "%s/%s: %" PRIu64 " of %" PRIu64 " lines never ACKed "
			     "(first: line %" PRIu64 ")%s%s", tn, dn, missing, s->d->lines,
			     first_missing, s->why[0] ? "; subscriber: " : "", s->why);
		}
		if (dup) {
			bad++;
			show(out, &shown_dup, "%s/%s: %" PRIu64 " lines ACKed more than once (first: "
			     "line %" PRIu64 ")", tn, dn, dup, first_dup);
		}
		if (s->wrong_status) {
			bad++;
			show(out, &shown_status, "%s/%s: %" PRIu64 " ACKs with another status than "
			     "generated (first: line %" PRIu64 ")", tn, dn, s->wrong_status,
			     s->first_wrong);
		}
		if (s->summaries != 1 || !s->summary_ok) {
			bad++;
			show(out, &shown_summary, "%s/%s: %" PRIu64 " summaries (want 1 with lines %"
			     PRIu64 ", errors %" PRIu64 ", status complete)%s%s", tn, dn, s->summaries,
			     s->d->lines, s->d->errors_expected, s->summaries ? ": " : "", s->summary);
		}
		if (s->wrong_rev || s->out_of_range) {
			bad++;
			show(out, &shown_other, "%s/%s: %" PRIu64 " messages of another revision, %"
			     PRIu64 " ACK ranges outside lines 1..%" PRIu64, tn, dn, s->wrong_rev,
			     s->out_of_range, s->d->lines);
		}
	}
	unsigned shown[] = { shown_missing, shown_dup, shown_status, shown_summary, shown_other };
	for (unsigned i = 0; i < 5; i++)
		if (shown[i] > SHOW_MAX)
			fprintf(out, "  ... and %u more like the above\n", shown[i] - SHOW_MAX);
	if (t->unsent_acked) {
		bad++;
		fprintf(out, "  FAIL %" PRIu64 " lines ACKed before sluice-perf had sent them\n",
			t->unsent_acked);
	}
	return bad;
}

void perf_acks_free(struct perf_acks *a)
{
	if (a == NULL)
		return;
	perf_acks_stop(a);
	if (a->ctx != NULL)
		lws_context_destroy(a->ctx);
	for (unsigned i = 0; i < a->nsubs; i++) {
		free(a->subs[i].count);
		free(a->subs[i].msg);
	}
	free(a->subs);
	free(a);
}
