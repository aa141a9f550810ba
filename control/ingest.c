/*
 * ingest.c — websocket uploads: /v1/ingest/<tenant>/<doc>?rev=N.
 *
 * The upload's life:
 *   open     a document slot, then the revision (durable), then
 *            {"type":"accepted"}. The slot is taken first so that a full
 *            table never burns a revision the uploader could not use.
 *   bytes    binary frames, in order, through the shared splitter
 *            (sl_feed) as dispatch producer rt->ingest_producer. One
 *            sl_backlog serves every upload: this thread is one producer.
 *   pause    when sl_feed_room() says no, the bytes are kept, reading
 *            stops (lws_rx_flow_control) and a 1 ms timer retries: the
 *            uploader feels it as TCP back-pressure, nothing is dropped.
 *   fin      text frame {"op":"fin"}: finish the feed, send END to
 *            persistence (retried while to_persist is full), answer
 *            {"type":"received"}.
 *   too big  a message that takes the document past the tenant's
 *            max_document_mb is not fed: what came before is finished
 *            and processed, the document ends failed with
 *            SLP_E_TOO_LARGE (as SLP's DONE 13), and the uploader gets
 *            {"type":"error","code":413}. What it still sends is read and
 *            dropped until it closes, or for SL_INGEST_REFUSED_MS, then
 *            close 4413: closing on an uploader in full flow would leave
 *            its bytes unread, and the reset that follows can destroy the
 *            error message before the uploader reads it.
 *   done     persistence's summary comes back through acks.c, which
 *            calls sl_ingest_done(): {"type":"done"} and close 1000.
 * An uploader that leaves before fin still gets its lines processed and
 * ACKed to subscribers; the document ends with SLP_E_LENGTH ("failed").
 *
 * An upload outlives its connection until its END is queued, so the
 * struct is ours (malloc'd), not lws's per-session data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "../dataplane/doc.h"
#include "../dataplane/feed.h"
#include "../dataplane/msg.h"
#include "../dataplane/slp.h"
#include "ingest.h"
#include "recover.h"
#include "wsconn.h"

#define SL_INGEST_RETRY_US 1000            /* paused uploads are retried every 1 ms */
#define SL_INGEST_CTL_MAX 256              /* longest control (text) message */
#define SL_INGEST_REFUSED_MS 2000          /* a refused uploader gets this long to close by itself */

struct sl_upload {
	struct sl_feed feed;
	char *carry;                       /* splitter carry, max_line_bytes */
	struct sl_ws_conn *c;              /* NULL once the connection is gone */
	struct sl_upload *prev, *next;
	uint32_t slot, gen;
	bool owns_slot_conn;               /* docs[slot].ws_conn points at c */
	uint16_t tenant;
	uint64_t rev;
	uint64_t base;                     /* document offset the upload started at (a resume point, or 0) */
	uint64_t max_bytes;                /* the tenant's max_document_mb in bytes; 0 = no limit */

	unsigned char *held;               /* bytes received while dispatch had no room */
	size_t held_len, held_cap;
	bool paused;                       /* reading stopped (rx flow control) */

	bool in_text;                      /* the current message is a text (control) one */
	char ctl[SL_INGEST_CTL_MAX];
	size_t ctl_len;
	bool ctl_too_long;

	bool refused;                      /* too large: the error went out; bytes are dropped until close */
	uint64_t close_at_ms;              /* then: when we close (4413) if the uploader has not */
	char refuse_reason[160];           /* the close reason takes what fits (123 bytes) */

	bool fin;                          /* no more bytes: fin, or the uploader left */
	bool finished;                     /* sl_feed_finish() done */
	bool end_sent;                     /* END is in to_persist */
	uint16_t end_code;                 /* slp_code for END: 0, or why it failed */
	uint64_t lines;
};

static struct {
	struct sl_runtime *rt;
	struct sl_revisions *revs;
	struct sl_backlog backlog;
	struct sl_upload *list;
	lws_sorted_usec_list_t retry;
	bool retry_armed;
	lws_sorted_usec_list_t refused;    /* closes refused uploads that do not close by themselves */
	bool refused_armed;
} ing;

int
sl_ingest_init(struct sl_runtime *rt, struct sl_revisions *revs)
{
	memset(&ing, 0, sizeof(ing));
	ing.rt = rt;
	ing.revs = revs;
	return 0;
}

static struct sl_tenant_stats *
tenant_row(uint16_t tenant)
{
	return &sl_tenant_row(ing.rt, ing.rt->ingest_producer)[tenant];
}

unsigned
sl_ingest_precheck(const struct sl_route *r, char *reason, size_t cap)
{
	struct sl_runtime *rt = ing.rt;
	const char *tname = rt->cfg->tenants[r->tenant].name;
	uint64_t highest = sl_revisions_highest(ing.revs, tname, r->doc);

	/* a resume names the highest accepted revision itself: sl_ingest_open decides */
	if (r->rev < highest || (r->rev == highest && !r->resume)) {
		rt->ws_stats.refused_revision++;
		tenant_row(r->tenant)->docs_rejected++;
		snprintf(reason, cap, "revision %lu not newer than %lu",
			 (unsigned long)r->rev, (unsigned long)highest);
		return 409;
	}
	if (sl_docs_active(rt->docs) >= SL_MAX_DOCS) {
		tenant_row(r->tenant)->docs_rejected++;
		snprintf(reason, cap, "too many documents in flight: retry later");
		return 503;
	}
	return 0;
}

/* ---------------------------------------------------------------- retry timer */

static void retry_all(lws_sorted_usec_list_t *sul);

static void
arm_retry(void)
{
	struct lws_context *ctx = sl_ws_context();

	if (ing.retry_armed || ctx == NULL || sl_ws_stopping())
		return;
	ing.retry_armed = true;
	lws_sul_schedule(ctx, 0, &ing.retry, retry_all, SL_INGEST_RETRY_US);
}

/* ---------------------------------------------------------------- the upload */

static void
upload_free(struct sl_upload *u)
{
	if (u->prev != NULL)
		u->prev->next = u->next;
	else if (ing.list == u)
		ing.list = u->next;
	if (u->next != NULL)
		u->next->prev = u->prev;
	ing.rt->ws_stats.uploads--;
	free(u->held);
	free(u->carry);
	free(u);
}

static void
feed(struct sl_upload *u, const void *p, size_t n)
{
	sl_feed_bytes(&u->feed, p, n);
	ing.rt->ws_stats.ingest_bytes += n;
}

static int
hold(struct sl_upload *u, const void *p, size_t n)
{
	if (u->held_len + n > u->held_cap) {
		size_t cap = u->held_cap > 0 ? u->held_cap : 4096;
		while (cap < u->held_len + n)
			cap *= 2;
		unsigned char *h = realloc(u->held, cap);
		if (h == NULL)
			return -1;
		u->held = h;
		u->held_cap = cap;
	}
	memcpy(u->held + u->held_len, p, n);
	u->held_len += n;
	return 0;
}

static void
send_end(struct sl_upload *u)
{
	struct sl_runtime *rt = ing.rt;
	struct sl_msg m;

	memset(&m, 0, sizeof(m));
	m.type = SL_MSG_END;
	m.doc = u->slot;
	m.doc_gen = u->gen;
	m.tenant = u->tenant;
	m.revision = u->rev;
	m.lines = u->lines;
	m.bytes = u->feed.bytes;
	m.code = u->end_code;
	if (rte_ring_mp_enqueue_elem(rt->to_persist, &m, sizeof(m)) != 0)
		return;         /* full: the retry timer comes back */
	u->end_sent = true;

	if (u->c != NULL && u->end_code == 0) {
		struct sl_wmsg *w = sl_wmsg_printf("{\"type\":\"received\",\"lines\":%lu,\"bytes\":%lu}",
						   (unsigned long)u->lines,
						   (unsigned long)u->feed.bytes);
		sl_conn_send(u->c, w);
		sl_wmsg_put(w);
	}
}

/*
 * Move an upload as far as it can go now: held bytes, finish, dispatch,
 * END. Returns true if it is waiting for room (retry later).
 */
static bool
progress(struct sl_upload *u)
{
	struct sl_runtime *rt = ing.rt;

	if (u->held_len > 0) {
		if (!sl_feed_room(rt, &ing.backlog, u->held_len))
			return true;
		feed(u, u->held, u->held_len);
		u->held_len = 0;
		sl_feed_flush(&u->feed);
		if (u->paused && u->c != NULL) {
			lws_rx_flow_control(u->c->wsi, 1);
			u->paused = false;
		}
	}
	if (u->fin && !u->finished) {
		/* the last line may need one more batch */
		if (!sl_feed_room(rt, &ing.backlog, 1))
			return true;
		u->lines = sl_feed_finish(&u->feed);
		u->finished = true;
		rt->ws_stats.ingest_lines += u->lines;
	}
	sl_backlog_dispatch(rt, rt->ingest_producer, &ing.backlog);
	if (u->finished && !u->end_sent) {
		send_end(u);
		if (!u->end_sent)
			return true;
	}
	return false;
}

/* Run every upload that has work; free orphans that are done. */
static bool
progress_all(void)
{
	struct sl_upload *u, *next;
	bool again = false;

	for (u = ing.list; u != NULL; u = next) {
		next = u->next;
		if (u->held_len == 0 && (!u->fin || u->end_sent))
			continue;
		if (progress(u))
			again = true;
		else if (u->c == NULL && u->end_sent)
			upload_free(u);
	}
	if (ing.backlog.count > 0 &&
	    sl_backlog_dispatch(ing.rt, ing.rt->ingest_producer, &ing.backlog) > 0)
		again = true;
	return again;
}

static void
retry_all(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	ing.retry_armed = false;
	if (sl_ws_stopping())
		return;
	if (progress_all())
		arm_retry();
}

void
sl_ingest_tick(void)
{
	if (ing.list == NULL && ing.backlog.count == 0)
		return;
	if (progress_all())
		arm_retry();
}

/*
 * ?resume=1: the uploader still has the document and asks to go on after
 * a restart. 0 and *a filled when it resumes (from a->st, maybe 0), -1
 * when the ordinary rules apply, else the HTTP status of a refusal.
 */
static int
resume_decision(const struct sl_route *r, const char *tname, struct sl_resume_answer *a,
		char *reason, size_t cap)
{
	struct sl_runtime *rt = ing.rt;
	uint64_t highest = sl_revisions_highest(ing.revs, tname, r->doc);

	switch (sl_resume_decide(rt->recovery, rt->docs, rt->cfg->data_dir, r->tenant, tname, r->doc, r->rev,
				 highest, a)) {
	case SL_RESUME_FROM:
		return 0;
	case SL_RESUME_BUSY:
		snprintf(reason, cap, "%s", a->reason);
		return 503;
	case SL_RESUME_COMPLETE:
		snprintf(reason, cap, "revision %lu of %s/%s is already complete: %lu lines, %lu ok, %lu errors%s%s",
			 (unsigned long)r->rev, tname, r->doc, (unsigned long)a->lines, (unsigned long)a->ok,
			 (unsigned long)a->errors, a->code ? "; failed: " : "",
			 a->code ? slp_code_str((enum slp_code)a->code) : "");
		return 409;
	case SL_RESUME_ERROR:
		snprintf(reason, cap, "cannot resume: %s", a->reason);
		return 500;
	case SL_RESUME_NO:
		break;
	}
	return -1;
}

unsigned
sl_ingest_open(struct sl_ws_conn *c, const struct sl_route *r, char *reason, size_t cap)
{
	struct sl_runtime *rt = ing.rt;
	const char *tname = rt->cfg->tenants[r->tenant].name;
	struct sl_resume_answer ra;
	int resumed = r->resume ? resume_decision(r, tname, &ra, reason, cap) : -1;

	if (resumed > 0) {
		tenant_row(r->tenant)->docs_rejected++;
		return (unsigned)resumed;
	}

	int slot = sl_docs_open_limited(rt->docs, r->tenant, r->doc, r->rev, SL_ORIGIN_WS,
					rt->cfg->tenants[r->tenant].max_streams);
	if (slot == -2) {
		tenant_row(r->tenant)->docs_rejected++;
		snprintf(reason, cap, "tenant %s already has %u documents in flight (max_streams): retry when one completes",
			 tname, rt->cfg->tenants[r->tenant].max_streams);
		return 503;
	}
	if (slot < 0) {
		tenant_row(r->tenant)->docs_rejected++;
		snprintf(reason, cap, "too many documents in flight: retry later");
		return 503;
	}

	struct sl_upload *u = calloc(1, sizeof(*u));
	char *carry = malloc(rt->cfg->max_line_bytes > 0 ? rt->cfg->max_line_bytes : 1);
	if (u == NULL || carry == NULL) {
		free(u);
		free(carry);
		sl_docs_release(rt->docs, (uint32_t)slot);
		snprintf(reason, cap, "out of memory");
		return 500;
	}

	uint64_t highest = 0;
	char err[200] = "";
	int a = resumed == 0 ? 0 : sl_revisions_accept(ing.revs, tname, r->doc, r->rev, &highest, err, sizeof(err));
	if (a != 0) {
		free(u);
		free(carry);
		sl_docs_release(rt->docs, (uint32_t)slot);
		tenant_row(r->tenant)->docs_rejected++;
		if (a == 1) {
			rt->ws_stats.refused_revision++;
			snprintf(reason, cap, "revision %lu not newer than %lu",
				 (unsigned long)r->rev, (unsigned long)highest);
			return 409;
		}
		snprintf(reason, cap, "cannot record the revision: %s", err);
		return 500;
	}

	struct sl_doc *d = &rt->docs->docs[slot];
	if (resumed == 0)
		sl_resume_apply(d, &ra);
	else
		sl_recovery_forget(rt->recovery, tname, r->doc);  /* a newer revision: the old one is moot */
	d->ws_conn = c;
	u->c = c;
	u->carry = carry;
	u->slot = (uint32_t)slot;
	u->gen = d->gen;
	u->owns_slot_conn = true;
	u->tenant = r->tenant;
	u->rev = r->rev;
	u->max_bytes = (uint64_t)rt->cfg->tenants[r->tenant].max_document_mb << 20;
	sl_feed_init(&u->feed, rt, rt->ingest_producer, &ing.backlog, carry,
		     u->slot, u->gen, r->tenant);
	if (resumed == 0) {
		sl_feed_resume(&u->feed, ra.st.offset, ra.st.lines, ra.st.crc);
		u->base = ra.st.offset;
	}

	u->next = ing.list;
	if (ing.list != NULL)
		ing.list->prev = u;
	ing.list = u;
	c->up = u;

	rt->ws_stats.uploads++;
	rt->ws_stats.uploads_total++;
	tenant_row(r->tenant)->docs_accepted++;

	/* offset: the byte to send next (0, or where a resumed document goes on); line: its line number */
	struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"accepted\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
					   "\"offset\":%lu,\"line\":%lu}",
					   tname, r->doc, (unsigned long)r->rev,
					   (unsigned long)(resumed == 0 ? ra.st.offset : 0),
					   (unsigned long)(resumed == 0 ? ra.st.lines + 1 : 1));
	sl_conn_send(c, m);
	sl_wmsg_put(m);
	return 0;
}

/* {"op":"fin"} with any whitespace; nothing else is understood. */
static bool
is_fin(const char *s)
{
	const char *p = strstr(s, "\"op\"");

	if (p == NULL)
		return false;
	p += 4;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p++ != ':')
		return false;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	return strncmp(p, "\"fin\"", 5) == 0;
}

static void
on_control(struct sl_ws_conn *c, struct sl_upload *u)
{
	if (u->ctl_too_long || !is_fin(u->ctl)) {
		sl_conn_refuse(c, 400, "unknown control message: binary frames carry the document, "
			       "the text frame {\"op\":\"fin\"} ends it");
		return;
	}
	u->fin = true;
	if (progress(u))
		arm_retry();
}

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Close (4413) the refused uploads whose time is up; come back for the others. */
static void
close_refused(lws_sorted_usec_list_t *sul)
{
	uint64_t now = now_ms(), next = UINT64_MAX;

	(void)sul;
	ing.refused_armed = false;
	if (sl_ws_stopping())
		return;
	for (struct sl_upload *u = ing.list; u != NULL; u = u->next) {
		if (!u->refused || u->c == NULL)
			continue;
		if (now >= u->close_at_ms)
			sl_conn_close(u->c, 4000 + 413, u->refuse_reason, true);
		else if (u->close_at_ms < next)
			next = u->close_at_ms;
	}
	if (next != UINT64_MAX && sl_ws_context() != NULL) {
		ing.refused_armed = true;
		lws_sul_schedule(sl_ws_context(), 0, &ing.refused, close_refused,
				 (lws_usec_t)(next - now) * LWS_US_PER_MS);
	}
}

/*
 * The document grew past the tenant's max_document_mb: like SLP's
 * take_bytes, the bytes that cross the limit are not fed, what came
 * before is processed and ACKed, and the document fails with
 * SLP_E_TOO_LARGE (subscribers' summary says so). The uploader gets
 * {"type":"error","code":413,...}; the connection closes when it closes,
 * or with 4413 after SL_INGEST_REFUSED_MS.
 */
static void
too_large(struct sl_ws_conn *c, struct sl_upload *u)
{
	char esc[2 * sizeof(u->refuse_reason)];

	ing.rt->ws_stats.ingest_too_large++;
	snprintf(u->refuse_reason, sizeof(u->refuse_reason), "document larger than %lu MiB (max_document_mb "
		 "of tenant %s)", (unsigned long)(u->max_bytes >> 20), ing.rt->cfg->tenants[u->tenant].name);
	u->fin = true;
	u->end_code = SLP_E_TOO_LARGE;
	u->refused = true;
	u->close_at_ms = now_ms() + SL_INGEST_REFUSED_MS;
	if (progress(u))
		arm_retry();
	sl_ws_escape(esc, sizeof(esc), u->refuse_reason);
	struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"error\",\"code\":413,\"reason\":\"%s\"}", esc);
	sl_conn_send(c, m);
	sl_wmsg_put(m);
	if (!ing.refused_armed && sl_ws_context() != NULL) {
		ing.refused_armed = true;
		lws_sul_schedule(sl_ws_context(), 0, &ing.refused, close_refused,
				 (lws_usec_t)SL_INGEST_REFUSED_MS * LWS_US_PER_MS);
	}
}

void
sl_ingest_receive(struct sl_ws_conn *c, const void *in, size_t len)
{
	struct sl_upload *u = c->up;
	struct lws *wsi = c->wsi;

	if (u == NULL || u->refused)
		return;         /* refused: read and dropped until the uploader closes */
	if (lws_is_first_fragment(wsi)) {
		u->in_text = !lws_frame_is_binary(wsi);
		u->ctl_len = 0;
		u->ctl_too_long = false;
	}
	if (u->fin) {
		sl_conn_refuse(c, 400, "data after {\"op\":\"fin\"}: one document per connection");
		return;
	}

	if (u->in_text) {
		if (u->ctl_len + len >= sizeof(u->ctl)) {
			u->ctl_too_long = true;
		} else {
			memcpy(u->ctl + u->ctl_len, in, len);
			u->ctl_len += len;
			u->ctl[u->ctl_len] = '\0';
		}
		if (lws_is_final_fragment(wsi))
			on_control(c, u);
		return;
	}

	if (u->max_bytes != 0 && u->base + u->feed.bytes + u->held_len + len > u->max_bytes) {
		too_large(c, u);
		return;
	}
	/* document bytes: feed now, or keep them and stop reading */
	if (u->held_len == 0 && sl_feed_room(ing.rt, &ing.backlog, len)) {
		feed(u, in, len);
		if (lws_is_final_fragment(wsi))
			sl_feed_flush(&u->feed);
		sl_backlog_dispatch(ing.rt, ing.rt->ingest_producer, &ing.backlog);
		return;
	}
	if (hold(u, in, len) < 0) {
		sl_conn_refuse(c, 500, "out of memory holding paused upload bytes");
		return;
	}
	if (!u->paused) {
		lws_rx_flow_control(wsi, 0);
		u->paused = true;
		ing.rt->ws_stats.ingest_pauses++;
	}
	arm_retry();
}

void
sl_ingest_closed(struct sl_ws_conn *c)
{
	struct sl_upload *u = c->up;

	c->up = NULL;
	if (u == NULL)
		return;
	u->c = NULL;
	if (u->owns_slot_conn) {
		struct sl_doc *d = &ing.rt->docs->docs[u->slot];
		if (d->ws_conn == c)
			d->ws_conn = NULL;
		u->owns_slot_conn = false;
	}

	if (sl_ws_stopping()) {
		/* shutdown: hand the partial batch to the backlog, dropped by fini */
		if (!u->finished)
			sl_feed_finish(&u->feed);
		upload_free(u);
		return;
	}

	if (!u->fin) {
		/* left before fin: what arrived is processed, the document fails */
		u->fin = true;
		u->end_code = SLP_E_LENGTH;
	}
	if (progress(u))
		arm_retry();
	else if (u->end_sent)
		upload_free(u);
}

void
sl_ingest_done(struct sl_ws_conn *c, const struct sl_result_batch *s, uint64_t rev)
{
	struct sl_runtime *rt = ing.rt;
	struct sl_upload *u = c->up;
	const char *tname = rt->cfg->tenants[c->tenant].name;
	struct sl_wmsg *m;

	if (u != NULL)
		u->owns_slot_conn = false;     /* acks.c releases the slot */
	if (s->fail_code == 0)
		m = sl_wmsg_printf("{\"type\":\"done\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
				   "\"lines\":%lu,\"ok\":%lu,\"errors\":%lu,\"status\":\"complete\"}",
				   tname, c->doc, (unsigned long)rev, (unsigned long)s->lines,
				   (unsigned long)s->ok, (unsigned long)s->errors);
	else
		m = sl_wmsg_printf("{\"type\":\"done\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
				   "\"lines\":%lu,\"ok\":%lu,\"errors\":%lu,\"status\":\"failed\","
				   "\"reason\":\"%s\"}",
				   tname, c->doc, (unsigned long)rev, (unsigned long)s->lines,
				   (unsigned long)s->ok, (unsigned long)s->errors,
				   slp_code_str((enum slp_code)s->fail_code));
	sl_conn_send(c, m);
	sl_wmsg_put(m);
	if (u != NULL && u->refused)
		return;         /* the uploader may still be sending: close_refused() closes it */
	sl_conn_close(c, LWS_CLOSE_STATUS_NORMAL, "done", true);
}

void
sl_ingest_fini(void)
{
	struct sl_upload *u, *next;

	for (u = ing.list; u != NULL; u = next) {
		next = u->next;
		if (!u->finished)
			sl_feed_finish(&u->feed);
		upload_free(u);
	}
	if (ing.rt != NULL)
		sl_backlog_drop(ing.rt, &ing.backlog);
	/* the retry timer died with the lws context */
	memset(&ing, 0, sizeof(ing));
}
