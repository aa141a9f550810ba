/*
 * acks.c — ACK fan-out: result batches from persistence (rt->acks, in
 * durable order) become JSON messages for the subscribers of their
 * (tenant, document), and each document's summary ends its stream.
 *
 * Subscribers live in a chained hash table keyed by (tenant index,
 * document name); a batch for a document nobody watches costs one bucket
 * walk and no formatting. Messages are formatted once and shared by all
 * subscribers of the document (struct sl_wmsg is reference-counted).
 *
 * Runs of ok lines are coalesced into one range message, across the
 * batches of one drain too: a clean document costs a few messages per
 * wake, not one per batch. Each error line is its own message.
 *
 * A subscriber's queue is bounded by cfg->subscriber_queue. When a push
 * finds it full the subscriber is culled — closed with 4008 — instead of
 * making anyone wait: ACKs are durable, so a culled subscriber can
 * reconnect and read the per-document result files.
 *
 * We send one message per WRITEABLE, so a flood of error ACKs can outrun
 * even a subscriber that reads at once. To tell "we are ahead of it" from
 * "it is not reading": a subscriber more than half full whose socket
 * still takes data (lws_send_pipe_choked() says no) *holds* the drain
 * until it is down to a quarter; one whose socket is choked holds nothing
 * and is culled when full. Holding slows persistence only while the
 * websocket thread itself is the bottleneck.
 *
 * Replay (?from=N[&rev=R]) reads the revision's results file back and
 * sends lines >= N in the live messages' shapes before anything live.
 * Where replay ends and live begins is decided once, at subscribe time,
 * which is exact because fan-out and subscribing share this one thread:
 * if the document is open in a slot, the replay stops at the highest line
 * fan-out has handled for that slot (or the slot's resume_lines, lines
 * durable before it opened) and the summary comes live; otherwise the
 * file is complete and is replayed to its end, summary included. Live
 * messages for the subscriber wait in its queue meanwhile. The file is
 * read 64 KiB per turn: a large one never blocks the thread.
 *
 * After a summary: an SLP document's DONE goes to the manager (which
 * tells the sender and releases the slot); a websocket upload is told
 * "done" here and its slot released here. A DONE that finds ws_to_mgr
 * full waits in a FIFO and is retried on the next drain — never dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <rte_cycles.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "../dataplane/batch.h"
#include "../dataplane/doc.h"
#include "../dataplane/json.h"
#include "../dataplane/msg.h"
#include "../dataplane/slp.h"
#include "acks.h"
#include "ingest.h"
#include "persist_files.h"
#include "revisions.h"
#include "wsconn.h"

#define SL_ACKS_BUCKETS 4096u      /* power of two */
#define SL_ACKS_BURST 32u
#define SL_ACKS_MAX_BATCHES 1024u  /* per drain: then let lws serve the sockets */
#define SL_ACK_TEXT_MAX 160u       /* bytes of an error's detail in a message, NUL included */

#define SL_REPLAY_CHUNK (64u * 1024u)               /* bytes read per turn */
#define SL_REPLAY_TOKS 32                           /* a results line has ~13 JSON values */
#define SL_REPLAY_STALL_NS (30ull * 1000000000ull)  /* an active document's file lags this long: give up */

/*
 * How far fan-out got in a document slot (generation gen): the highest
 * line handled, and its summary once sent (kept, referenced, for a
 * subscriber that replays while the slot waits to be released).
 */
struct fanned {
	bool valid;
	uint32_t gen;
	uint64_t line;
	struct sl_wmsg *summary;
};

/* A subscriber's replay (acks.h): the results file being read back. */
struct sl_replay {
	struct sl_ws_conn *c;
	int fd;                     /* -1 while the file does not exist */
	char path[PATH_MAX];
	bool by_line;               /* the document is active: lines up to bound; its summary comes live */
	bool live;                  /* live messages of this revision reached the subscriber */
	bool lines_done;            /* no more lines to send */
	bool skipping;              /* inside a line longer than the buffer (damage) */
	bool warned;                /* one warning per replay about damaged lines */
	uint64_t off;               /* next file byte to read */
	uint64_t end;               /* !by_line: the file's length at subscribe time */
	uint64_t next;              /* next line to send */
	uint64_t bound;             /* last line to send */
	bool run_on;                /* ok lines run_from..run_to, not sent yet */
	uint64_t run_from, run_to;
	struct sl_wmsg *pending;    /* the next message to send */
	bool pending_counts;        /* ... is an ACK or summary (not the greeting) */
	struct sl_wmsg *summary;    /* by_line: the summary fan-out already sent, to send at the end */
	uint64_t progress_ns;       /* last time the file gave bytes */
	bool waiting;               /* on acks.waiting until the next tick */
	struct sl_replay *wait_prev, *wait_next;
	uint32_t pos, len;          /* parsed up to pos of len bytes in buf */
	char buf[SL_REPLAY_CHUNK];
};

/* An ok range not sent yet: it may grow with the next batch of the same document. */
struct ok_run {
	bool on;
	uint32_t doc, gen;
	uint64_t from, to;
};

static struct {
	struct sl_ws_conn *bucket[SL_ACKS_BUCKETS];
	/* DONE messages waiting for room in rt->ws_to_mgr, FIFO */
	struct sl_msg *done_q;
	uint32_t done_head, done_count;
	/* batches dequeued but not handled yet (the drain stopped for a holder) */
	void *held[SL_ACKS_BURST];
	unsigned held_head, held_count;
	struct ok_run run;
	/* subscribers holding the drain */
	struct sl_ws_conn *holders;
	unsigned n_holding;
	/* per document slot: where live fan-out is (the replay bound) */
	struct fanned fanned[SL_MAX_DOCS];
	/* replays waiting for their results file to grow, woken by sl_acks_tick() */
	struct sl_replay *waiting;
} acks;

int
sl_acks_init(struct sl_runtime *rt)
{
	(void)rt;
	memset(&acks, 0, sizeof(acks));
	/* at most one summary per open document can be waiting */
	acks.done_q = calloc(SL_MAX_DOCS, sizeof(*acks.done_q));
	return acks.done_q != NULL ? 0 : -1;
}

/* FNV-1a over the tenant index and the name. */
static uint32_t
topic_bucket(uint16_t tenant, const char *doc)
{
	uint32_t h = 2166136261u;

	h = (h ^ (tenant & 0xffu)) * 16777619u;
	h = (h ^ (tenant >> 8)) * 16777619u;
	for (; *doc != '\0'; doc++)
		h = (h ^ (unsigned char)*doc) * 16777619u;
	return h & (SL_ACKS_BUCKETS - 1);
}

/* ---- the messages (one shape for live and replay) ---------------------- */

static struct sl_wmsg *
fmt_ok(const char *tname, const char *doc, uint64_t rev, uint64_t from, uint64_t to)
{
	return sl_wmsg_printf("{\"type\":\"ack\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
			      "\"from\":%lu,\"to\":%lu,\"status\":\"ok\"}",
			      tname, doc, (unsigned long)rev, (unsigned long)from, (unsigned long)to);
}

/* reason and detail already escaped */
static struct sl_wmsg *
fmt_error(const char *tname, const char *doc, uint64_t rev, uint64_t line, const char *reason,
	  const char *detail)
{
	return sl_wmsg_printf("{\"type\":\"ack\",\"tenant\":\"%s\",\"doc\":\"%s\","
			      "\"rev\":%lu,\"from\":%lu,\"to\":%lu,\"status\":\"error\","
			      "\"reason\":\"%s\",\"detail\":\"%s\"}",
			      tname, doc, (unsigned long)rev, (unsigned long)line, (unsigned long)line,
			      reason, detail);
}

/* fail: NULL for a complete document, else why it failed (escaped) */
static struct sl_wmsg *
fmt_summary(const char *tname, const char *doc, uint64_t rev, uint64_t lines, uint64_t ok,
	    uint64_t errors, const char *fail)
{
	if (fail == NULL)
		return sl_wmsg_printf("{\"type\":\"summary\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
				      "\"lines\":%lu,\"ok\":%lu,\"errors\":%lu,\"status\":\"complete\"}",
				      tname, doc, (unsigned long)rev, (unsigned long)lines,
				      (unsigned long)ok, (unsigned long)errors);
	return sl_wmsg_printf("{\"type\":\"summary\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
			      "\"lines\":%lu,\"ok\":%lu,\"errors\":%lu,\"status\":\"failed\","
			      "\"reason\":\"%s\"}",
			      tname, doc, (unsigned long)rev, (unsigned long)lines, (unsigned long)ok,
			      (unsigned long)errors, fail);
}

/*
 * An error's detail as a message carries it: cut to SL_ACK_TEXT_MAX - 1
 * bytes at a character boundary (and at a NUL: text is a C string), then
 * escaped. out has room for 6 * SL_ACK_TEXT_MAX bytes.
 */
static void
detail_text(char *out, char *text)
{
	size_t len = strlen(text);

	if (len > SL_ACK_TEXT_MAX - 1) {
		len = SL_ACK_TEXT_MAX - 1;
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--;
		text[len] = '\0';
	}
	sl_ws_escape(out, 6 * SL_ACK_TEXT_MAX, text);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void replay_start(struct sl_runtime *rt, struct sl_ws_conn *c, struct sl_wmsg *greeting);
static void replay_free(struct sl_ws_conn *c);

void
sl_acks_subscribe(struct sl_ws_conn *c)
{
	struct sl_runtime *rt = sl_ws_runtime();
	const char *tname = rt->cfg->tenants[c->tenant].name;
	uint32_t b = topic_bucket(c->tenant, c->doc);

	c->sub_bucket = b;
	c->sub_prev = NULL;
	c->sub_next = acks.bucket[b];
	if (acks.bucket[b] != NULL)
		acks.bucket[b]->sub_prev = c;
	acks.bucket[b] = c;
	c->sub_linked = true;
	rt->ws_stats.subscribers++;
	rt->ws_stats.subscribers_total++;

	if (c->from == 0) {
		struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"subscribed\",\"tenant\":\"%s\","
						   "\"doc\":\"%s\"}", tname, c->doc);
		sl_conn_send(c, m);
		sl_wmsg_put(m);
		return;
	}

	/* rev 0 after this: no revision was ever accepted, there is nothing to replay */
	if (c->rev == 0)
		c->rev = sl_revisions_highest(sl_ws_revisions(), tname, c->doc);
	struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"subscribed\",\"tenant\":\"%s\",\"doc\":\"%s\","
					   "\"from\":%lu,\"rev\":%lu}", tname, c->doc,
					   (unsigned long)c->from, (unsigned long)c->rev);
	if (m == NULL) {
		SL_WS_LOG(ERR, "out of memory greeting a subscriber of %s/%s\n", tname, c->doc);
		sl_acks_unsubscribe(c);
		sl_conn_close(c, 1011, "out of memory", false);
		return;
	}
	if (c->rev == 0)
		sl_conn_send(c, m);
	else
		replay_start(rt, c, m);
	sl_wmsg_put(m);
}

static void
hold(struct sl_ws_conn *c)
{
	c->holding = true;
	c->hold_prev = NULL;
	c->hold_next = acks.holders;
	if (acks.holders != NULL)
		acks.holders->hold_prev = c;
	acks.holders = c;
	acks.n_holding++;
}

static void
unhold(struct sl_ws_conn *c)
{
	if (!c->holding)
		return;
	if (c->hold_prev != NULL)
		c->hold_prev->hold_next = c->hold_next;
	else
		acks.holders = c->hold_next;
	if (c->hold_next != NULL)
		c->hold_next->hold_prev = c->hold_prev;
	c->hold_prev = c->hold_next = NULL;
	c->holding = false;
	acks.n_holding--;
	if (acks.n_holding == 0 && sl_ws_context() != NULL)
		lws_cancel_service(sl_ws_context());   /* drain again on the next turn */
}

void
sl_acks_sent(struct sl_ws_conn *c)
{
	if (c->holding && c->q.count <= c->q.cap / 4)
		unhold(c);
}

/* Holders whose socket stopped taking data are not reading: stop waiting for them. */
static bool
drain_held_back(void)
{
	struct sl_ws_conn *c, *next;

	for (c = acks.holders; c != NULL; c = next) {
		next = c->hold_next;
		if (c->wsi == NULL || lws_send_pipe_choked(c->wsi))
			unhold(c);
	}
	return acks.n_holding > 0;
}

void
sl_acks_unsubscribe(struct sl_ws_conn *c)
{
	unhold(c);
	replay_free(c);
	if (!c->sub_linked)
		return;
	if (c->sub_prev != NULL)
		c->sub_prev->sub_next = c->sub_next;
	else
		acks.bucket[c->sub_bucket] = c->sub_next;
	if (c->sub_next != NULL)
		c->sub_next->sub_prev = c->sub_prev;
	c->sub_prev = c->sub_next = NULL;
	c->sub_linked = false;
	sl_ws_runtime()->ws_stats.subscribers--;
}

static bool
is_subscriber(const struct sl_ws_conn *c, uint16_t tenant, const char *doc)
{
	return c->tenant == tenant && strcmp(c->doc, doc) == 0;
}

static bool
has_subscribers(uint16_t tenant, const char *doc)
{
	for (struct sl_ws_conn *c = acks.bucket[topic_bucket(tenant, doc)]; c != NULL; c = c->sub_next)
		if (is_subscriber(c, tenant, doc))
			return true;
	return false;
}

static void
cull(struct sl_runtime *rt, struct sl_ws_conn *c)
{
	char reason[64];

	snprintf(reason, sizeof(reason), "subscriber too slow: %u messages queued", c->q.count);
	SL_WS_LOG(NOTICE, "culling a subscriber of %s/%s: %s\n",
		  rt->cfg->tenants[c->tenant].name, c->doc, reason);
	sl_acks_unsubscribe(c);
	rt->ws_stats.culled_slow++;
	sl_conn_close(c, 4008, reason, false);
}

/*
 * What subscriber c gets of m, the live message for lines from..to of d
 * (0..0: its summary): m itself; NULL when c asked for lines from c->from
 * of this revision and m is all below; or an ok range cut to start there
 * (*own: the caller puts it). A live message also tells c's replay that
 * live has this revision from line `from`: the replay stops before it.
 */
static struct sl_wmsg *
for_subscriber(struct sl_runtime *rt, struct sl_ws_conn *c, const struct sl_doc *d,
	       struct sl_wmsg *m, uint64_t from, uint64_t to, bool *own)
{
	*own = false;
	if (c->from == 0 || c->rev != d->revision)
		return m;
	struct sl_replay *rp = c->replay;
	if (rp != NULL) {
		rp->live = true;
		if (from > 0 && rp->bound >= from)
			rp->bound = from - 1;
	}
	if (from == 0 || from >= c->from)
		return m;
	if (to < c->from)
		return NULL;
	/* only ok ranges span lines: an error is one line */
	*own = true;
	return fmt_ok(rt->cfg->tenants[d->tenant].name, d->name, d->revision, c->from, to);
}

/* Queue m, for lines from..to of d (0..0: the summary), to d's subscribers. Returns how many got it. */
static unsigned
deliver(struct sl_runtime *rt, const struct sl_doc *d, struct sl_wmsg *m, uint64_t from, uint64_t to)
{
	struct sl_ws_conn *c, *next;
	unsigned n = 0;

	if (m == NULL) {
		SL_WS_LOG(ERR, "out of memory formatting an ACK for %s\n", d->name);
		return 0;
	}
	for (c = acks.bucket[topic_bucket(d->tenant, d->name)]; c != NULL; c = next) {
		next = c->sub_next;     /* cull() unlinks c */
		if (!is_subscriber(c, d->tenant, d->name))
			continue;
		bool own;
		struct sl_wmsg *mc = for_subscriber(rt, c, d, m, from, to, &own);
		if (mc == NULL) {
			if (own)
				SL_WS_LOG(ERR, "out of memory formatting an ACK for %s\n", d->name);
			continue;
		}
		int rc = sl_conn_send(c, mc);
		if (own)
			sl_wmsg_put(mc);
		if (rc != 0) {
			cull(rt, c);
			continue;
		}
		n++;
		/* a replaying subscriber's queue only grows until the replay is sent: never wait for it */
		if (!c->holding && c->replay == NULL && c->q.count >= c->q.cap / 2 &&
		    !lws_send_pipe_choked(c->wsi))
			hold(c);
	}
	sl_wmsg_put(m);
	return n;
}

static void
send_run(struct sl_runtime *rt)
{
	struct ok_run *run = &acks.run;

	if (!run->on)
		return;
	run->on = false;
	const struct sl_doc *d = &rt->docs->docs[run->doc];
	if (!d->in_use || d->gen != run->gen)
		return;
	struct sl_wmsg *m = fmt_ok(rt->cfg->tenants[d->tenant].name, d->name, d->revision,
				   run->from, run->to);
	unsigned got = deliver(rt, d, m, run->from, run->to);
	rt->ws_stats.ack_messages += got;
	rt->ws_stats.acks_sent += (uint64_t)got * (run->to - run->from + 1);
}

/* Extend the pending ok range with [from, to], or send it and start anew. */
static void
add_ok(struct sl_runtime *rt, uint32_t doc, uint32_t gen, uint64_t from, uint64_t to)
{
	struct ok_run *run = &acks.run;

	if (run->on && run->doc == doc && run->gen == gen && from == run->to + 1) {
		run->to = to;
		return;
	}
	send_run(rt);
	run->on = true;
	run->doc = doc;
	run->gen = gen;
	run->from = from;
	run->to = to;
}

/*
 * The detail of an error: the processor's own words (the line's reason
 * record) when it gave any, else the text of the reason code. Cut to fit
 * at a UTF-8 character boundary, and at a NUL (a C string follows).
 */
static void
reason_text(const struct sl_result_batch *b, const struct sl_result *r, char *buf, size_t cap)
{
	const struct sl_rec_ref *rec = NULL;

	/* persistence checked rec_first/n_recs against the batch; the text must lie in data[] too */
	if ((uint32_t)r->rec_first + r->n_recs <= b->n_recs && b->n_recs <= SL_RESULT_RECS)
		rec = sl_result_reason_rec(b, r);
	if (rec == NULL || rec->off > b->data_cap || rec->len > b->data_cap - rec->off) {
		sl_result_reason_text(r, buf, cap);
		return;
	}
	const char *txt = b->data + rec->off;
	size_t len = strnlen(txt, rec->len);
	if (len > cap - 1) {
		len = cap - 1;
		while (len > 0 && ((unsigned char)txt[len] & 0xc0) == 0x80)
			len--;
	}
	memcpy(buf, txt, len);
	buf[len] = '\0';
}

/* Runs of consecutive ok lines become one range; each error its own message. */
static void
fan_results(struct sl_runtime *rt, const struct sl_doc *d, const struct sl_result_batch *b)
{
	const char *tname = rt->cfg->tenants[d->tenant].name;
	struct sl_ws_stats *st = &rt->ws_stats;
	unsigned i = 0, n = b->n < SL_BATCH_LINES ? b->n : SL_BATCH_LINES;

	while (i < n) {
		const struct sl_result *r = &b->r[i];

		if (r->status == SL_ST_OK) {
			unsigned j = i;
			while (j + 1 < n && b->r[j + 1].status == SL_ST_OK &&
			       b->r[j + 1].line == b->r[j].line + 1)
				j++;
			add_ok(rt, b->doc, b->doc_gen, r->line, b->r[j].line);
			i = j + 1;
			continue;
		}

		char text[SL_ACK_TEXT_MAX], detail[6 * SL_ACK_TEXT_MAX];
		send_run(rt);           /* keep the document's messages in line order */
		reason_text(b, r, text, sizeof(text));
		sl_ws_escape(detail, sizeof(detail), text);
		struct sl_wmsg *m = fmt_error(tname, d->name, d->revision, r->line,
					      sl_reason_name((enum sl_reason)r->reason), detail);
		unsigned got = deliver(rt, d, m, r->line, r->line);
		st->ack_messages += got;
		st->acks_sent += got;
		i++;
	}
}

static void
fan_summary(struct sl_runtime *rt, const struct sl_doc *d, const struct sl_result_batch *b,
	    struct fanned *f)
{
	const char *tname = rt->cfg->tenants[d->tenant].name;
	char fail[256];

	if (b->fail_code != 0)
		sl_ws_escape(fail, sizeof(fail), slp_code_str((enum slp_code)b->fail_code));
	struct sl_wmsg *m = fmt_summary(tname, d->name, d->revision, b->lines, b->ok, b->errors,
					b->fail_code != 0 ? fail : NULL);
	/* kept for a replay that starts before the slot is released */
	if (m != NULL && f->summary == NULL) {
		m->refs++;
		f->summary = m;
	}
	rt->ws_stats.summaries_sent += deliver(rt, d, m, 0, 0);
}

/* Push the waiting DONE messages in order; stop at the first that does not fit. */
static void
flush_done(struct sl_runtime *rt)
{
	while (acks.done_count > 0) {
		if (rte_ring_sp_enqueue_elem(rt->ws_to_mgr, &acks.done_q[acks.done_head],
					     sizeof(struct sl_msg)) != 0)
			return;
		acks.done_head = (acks.done_head + 1) % SL_MAX_DOCS;
		acks.done_count--;
	}
}

static void
queue_done(struct sl_runtime *rt, const struct sl_doc *d, const struct sl_result_batch *b)
{
	struct sl_msg msg;

	memset(&msg, 0, sizeof(msg));
	msg.type = SL_MSG_DONE;
	msg.doc = b->doc;
	msg.doc_gen = b->doc_gen;
	msg.tenant = d->tenant;
	msg.rx = d->rx;
	msg.stream = d->stream;
	msg.session = d->session;
	msg.revision = d->revision;
	msg.lines = b->lines;
	msg.ok = b->ok;
	msg.errors = b->errors;
	msg.code = (uint16_t)b->fail_code;

	/* Keep order: nothing jumps ahead of DONEs already waiting. */
	if (acks.done_count == 0 &&
	    rte_ring_sp_enqueue_elem(rt->ws_to_mgr, &msg, sizeof(msg)) == 0)
		return;
	if (acks.done_count == SL_MAX_DOCS) {
		/* cannot happen: one summary per open document */
		SL_WS_LOG(ERR, "DONE backlog full; document slot %u not reported\n", b->doc);
		return;
	}
	acks.done_q[(acks.done_head + acks.done_count) % SL_MAX_DOCS] = msg;
	acks.done_count++;
}

static void
handle_batch(struct sl_runtime *rt, const struct sl_result_batch *b)
{
	if (b->doc >= SL_MAX_DOCS)
		return;
	struct sl_doc *d = &rt->docs->docs[b->doc];

	if (!d->in_use || d->gen != b->doc_gen) {
		/* the slot moved on: cannot happen while persistence keeps order */
		SL_WS_LOG(WARNING, "result batch for a stale document slot %u (gen %u, now %u)\n",
			  b->doc, b->doc_gen, d->gen);
		return;
	}

	/* how far fan-out got in this slot: where a replay starting now must stop */
	struct fanned *f = &acks.fanned[b->doc];
	if (!f->valid || f->gen != b->doc_gen) {
		sl_wmsg_put(f->summary);
		f->summary = NULL;
		f->valid = true;
		f->gen = b->doc_gen;
		f->line = 0;
	}

	if (b->kind == SL_RB_RESULTS) {
		unsigned n = b->n < SL_BATCH_LINES ? b->n : SL_BATCH_LINES;
		if (n > 0 && b->r[n - 1].line > f->line)
			f->line = b->r[n - 1].line;   /* batches come in line order (persistence) */
		if (has_subscribers(d->tenant, d->name))
			fan_results(rt, d, b);
		return;
	}

	/* SL_RB_SUMMARY: the last ok range goes first */
	send_run(rt);
	fan_summary(rt, d, b, f);
	if (d->origin == SL_ORIGIN_SLP) {
		queue_done(rt, d, b);
		return;
	}
	struct sl_ws_conn *c = d->ws_conn;
	d->ws_conn = NULL;
	if (c != NULL)
		sl_ingest_done(c, b, d->revision);
	sl_docs_release(rt->docs, b->doc);
}

void
sl_acks_drain(struct sl_runtime *rt)
{
	flush_done(rt);
	if (acks.n_holding > 0 && drain_held_back())
		return;         /* a holder's next WRITEABLE brings us back */

	for (unsigned k = 0; k < SL_ACKS_MAX_BATCHES; k++) {
		if (acks.held_count == 0) {
			acks.held_head = 0;
			acks.held_count = rte_ring_sc_dequeue_burst(rt->acks, acks.held,
								    SL_ACKS_BURST, NULL);
			if (acks.held_count == 0)
				break;
		}
		struct sl_result_batch *b = acks.held[acks.held_head++];
		uint64_t t0 = rte_rdtsc();

		acks.held_count--;
		handle_batch(rt, b);
		sl_result_batch_free(rt->result_pool, b);
		rt->ws_stats.cyc_ack += rte_rdtsc() - t0;   /* sluicectl stages: ack */
		if (acks.n_holding > 0)
			break;
	}
	send_run(rt);

	/* More is waiting and nobody holds us: serve the sockets, then come back. */
	if (acks.n_holding == 0 && (acks.held_count > 0 || !rte_ring_empty(rt->acks)))
		lws_cancel_service(sl_ws_context());
}

void
sl_acks_fini(struct sl_runtime *rt)
{
	void *burst[SL_ACKS_BURST];
	unsigned n;

	if (rt->result_pool != NULL)
		while (acks.held_count > 0) {
			sl_result_batch_free(rt->result_pool, acks.held[acks.held_head++]);
			acks.held_count--;
		}
	if (rt->acks != NULL && rt->result_pool != NULL)
		while ((n = rte_ring_sc_dequeue_burst(rt->acks, burst, SL_ACKS_BURST, NULL)) > 0)
			for (unsigned i = 0; i < n; i++)
				sl_result_batch_free(rt->result_pool, burst[i]);
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++)
		sl_wmsg_put(acks.fanned[i].summary);
	free(acks.done_q);
	memset(&acks, 0, sizeof(acks));
}

/* ---- replay: ACKs read back from the results file -------------------- */

/* The slot where (tenant, doc, rev) is open, or -1. */
static int
active_slot(struct sl_runtime *rt, uint16_t tenant, const char *doc, uint64_t rev)
{
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++) {
		const struct sl_doc *d = &rt->docs->docs[i];

		if (!__atomic_load_n(&d->in_use, __ATOMIC_ACQUIRE))
			continue;
		if (d->tenant == tenant && d->revision == rev && strcmp(d->name, doc) == 0)
			return (int)i;
	}
	return -1;
}

static void
replay_wait(struct sl_replay *rp)
{
	if (rp->waiting)
		return;
	rp->wait_prev = NULL;
	rp->wait_next = acks.waiting;
	if (acks.waiting != NULL)
		acks.waiting->wait_prev = rp;
	acks.waiting = rp;
	rp->waiting = true;
}

static void
replay_unwait(struct sl_replay *rp)
{
	if (!rp->waiting)
		return;
	if (rp->wait_prev != NULL)
		rp->wait_prev->wait_next = rp->wait_next;
	else
		acks.waiting = rp->wait_next;
	if (rp->wait_next != NULL)
		rp->wait_next->wait_prev = rp->wait_prev;
	rp->wait_prev = rp->wait_next = NULL;
	rp->waiting = false;
}

static void
replay_free(struct sl_ws_conn *c)
{
	struct sl_replay *rp = c->replay;

	if (rp == NULL)
		return;
	replay_unwait(rp);
	if (rp->fd >= 0)
		close(rp->fd);
	sl_wmsg_put(rp->pending);
	sl_wmsg_put(rp->summary);
	free(rp);
	c->replay = NULL;
}

/*
 * The replay cannot go on: close the subscriber (1011) rather than let it
 * believe it has every line. It may reconnect with from=.
 */
static void
replay_fail(struct sl_ws_conn *c, const char *why)
{
	SL_WS_LOG(WARNING, "closing a subscriber of %s/%s: %s\n",
		  sl_ws_runtime()->cfg->tenants[c->tenant].name, c->doc, why);
	replay_free(c);
	sl_acks_unsubscribe(c);
	sl_conn_close(c, 1011, why, false);
}

/* Damaged lines are skipped (they cannot be ACKs); say so once per replay. */
static void
replay_warn(struct sl_replay *rp, const char *what)
{
	if (rp->warned)
		return;
	rp->warned = true;
	SL_WS_LOG(WARNING, "replaying %s: %s near byte %lu: skipped\n", rp->path, what,
		  (unsigned long)(rp->off - (rp->len - rp->pos)));
}

static void
replay_start(struct sl_runtime *rt, struct sl_ws_conn *c, struct sl_wmsg *greeting)
{
	const char *tname = rt->cfg->tenants[c->tenant].name;
	struct sl_replay *rp = malloc(sizeof(*rp));
	char dir[PATH_MAX];

	if (rp == NULL) {
		SL_WS_LOG(ERR, "out of memory for the ACK replay of %s/%s\n", tname, c->doc);
		sl_acks_unsubscribe(c);
		sl_conn_close(c, 1011, "out of memory for the ACK replay", false);
		return;
	}
	memset(rp, 0, offsetof(struct sl_replay, buf));
	rp->c = c;
	rp->fd = -1;
	rp->next = c->from;
	rp->bound = UINT64_MAX;
	rp->progress_ns = now_ns();

	int n = snprintf(dir, sizeof(dir), "%s/%s/%s", rt->cfg->data_dir, tname, c->doc);
	if (n < 0 || (size_t)n >= sizeof(dir) ||
	    sl_doc_file_path(rp->path, sizeof(rp->path), dir, c->rev, "results") < 0)
		rp->path[0] = '\0';

	/*
	 * The file first, the slots second. A document that opens after the
	 * scan had, when we measured the file, only what its slot will not
	 * send again (lines <= resume_lines); one that opens in between is
	 * seen as active.
	 */
	if (rp->path[0] != '\0') {
		struct stat st;
		rp->fd = open(rp->path, O_RDONLY | O_CLOEXEC);
		if (rp->fd >= 0 && fstat(rp->fd, &st) == 0) {
			rp->end = (uint64_t)st.st_size;
		} else if (rp->fd >= 0 || errno != ENOENT) {
			SL_WS_LOG(WARNING, "ACK replay: cannot read %s: %s\n", rp->path, strerror(errno));
			if (rp->fd >= 0)
				close(rp->fd);
			rp->fd = -1;
		}
	}

	int slot = active_slot(rt, c->tenant, c->doc, c->rev);
	if (slot >= 0) {
		/* live has, or will send, everything after the bound */
		const struct sl_doc *d = &rt->docs->docs[slot];
		struct fanned *f = &acks.fanned[slot];

		rp->by_line = true;
		rp->bound = d->resume_lines;
		if (f->valid && f->gen == d->gen) {
			if (f->line > rp->bound)
				rp->bound = f->line;
			if (f->summary != NULL) {
				f->summary->refs++;
				rp->summary = f->summary;
			}
		}
	} else if (rp->fd < 0) {
		rp->lines_done = true;  /* no file: the document has not started here; live only */
	}

	greeting->refs++;
	rp->pending = greeting;
	c->replay = rp;
	lws_callback_on_writable(c->wsi);
}

/*
 * Read more of the file after what is buffered. 1: bytes came; 0: none
 * for now (the end, or no file yet); -1: the file cannot be read.
 */
static int
replay_read(struct sl_replay *rp)
{
	if (rp->fd < 0) {
		/* an active document's file appears with its first durable line */
		if (!rp->by_line || rp->path[0] == '\0')
			return 0;
		rp->fd = open(rp->path, O_RDONLY | O_CLOEXEC);
		if (rp->fd < 0)
			return errno == ENOENT ? 0 : -1;
	}
	if (rp->pos > 0) {
		memmove(rp->buf, rp->buf + rp->pos, rp->len - rp->pos);
		rp->len -= rp->pos;
		rp->pos = 0;
	}
	if (rp->len == sizeof(rp->buf)) {
		/* results lines are a few KiB at most: this is damage */
		replay_warn(rp, "a line longer than 64 KiB");
		rp->skipping = true;
		rp->len = 0;
	}

	size_t want = sizeof(rp->buf) - rp->len;
	if (!rp->by_line) {
		if (rp->off >= rp->end)
			return 0;
		if (want > rp->end - rp->off)
			want = (size_t)(rp->end - rp->off);
	}
	ssize_t n;
	do
		n = pread(rp->fd, rp->buf + rp->len, want, (off_t)rp->off);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		SL_WS_LOG(WARNING, "ACK replay: cannot read %s: %s\n", rp->path, strerror(errno));
		return -1;
	}
	if (n == 0)
		return 0;
	rp->off += (uint64_t)n;
	rp->len += (uint32_t)n;
	rp->progress_ns = now_ns();
	return 1;
}

/* A string value decoded into buf (NUL-terminated; "" if absent or too long). */
static void
tok_text(const char *s, const struct sl_json_tok *toks, int k, char *buf, size_t cap)
{
	int n = -1;

	if (k >= 0 && toks[k].type == SL_JSON_STRING)
		n = sl_json_unescape(s, &toks[k], buf, cap - 1);
	buf[n < 0 ? 0 : n] = '\0';
}

static bool
tok_is(const char *s, const struct sl_json_tok *t, const char *want)
{
	size_t n = strlen(want);

	return t->type == SL_JSON_STRING && !t->escaped && t->end - t->start == n &&
	       memcmp(s + t->start, want, n) == 0;
}

static bool
tok_count(const char *s, const struct sl_json_tok *toks, int k, uint64_t *out)
{
	int64_t v;

	if (k < 0 || sl_json_int64(s, &toks[k], &v) < 0 || v < 0)
		return false;
	*out = (uint64_t)v;
	return true;
}

static void
set_pending(struct sl_replay *rp, struct sl_wmsg *m)
{
	rp->pending = m;
	rp->pending_counts = true;
}

/* The ok run so far becomes the next message. */
static void
flush_run(struct sl_replay *rp)
{
	struct sl_ws_conn *c = rp->c;

	rp->run_on = false;
	set_pending(rp, fmt_ok(sl_ws_runtime()->cfg->tenants[c->tenant].name, c->doc, c->rev,
			       rp->run_from, rp->run_to));
}

/* {"summary":true,...}: the summary message, or NULL if the line does not say enough. */
static struct sl_wmsg *
file_summary(struct sl_replay *rp, const char *s, const struct sl_json_tok *toks)
{
	struct sl_ws_conn *c = rp->c;
	uint64_t lines, ok, errors;
	int st = sl_json_get(s, toks, 0, "status");

	if (!tok_count(s, toks, sl_json_get(s, toks, 0, "lines"), &lines) ||
	    !tok_count(s, toks, sl_json_get(s, toks, 0, "ok"), &ok) ||
	    !tok_count(s, toks, sl_json_get(s, toks, 0, "errors"), &errors) || st < 0 ||
	    toks[st].type != SL_JSON_STRING)
		return NULL;
	const char *tname = sl_ws_runtime()->cfg->tenants[c->tenant].name;
	if (tok_is(s, &toks[st], "complete"))
		return fmt_summary(tname, c->doc, c->rev, lines, ok, errors, NULL);

	char text[512], fail[6 * sizeof(text)];
	tok_text(s, toks, sl_json_get(s, toks, 0, "reason"), text, sizeof(text));
	sl_ws_escape(fail, sizeof(fail), text);
	return fmt_summary(tname, c->doc, c->rev, lines, ok, errors, fail);
}

/*
 * One parsed line of the file. 1: done with it, or a message is pending
 * and the line is left to be read again after it (keeping line order).
 */
static int
replay_result(struct sl_replay *rp, const char *s, const struct sl_json_tok *toks, uint32_t used)
{
	struct sl_ws_conn *c = rp->c;
	int k = sl_json_get(s, toks, 0, "summary");

	if (k >= 0 && toks[k].type == SL_JSON_TRUE) {
		if (rp->by_line || rp->live) {
			rp->pos += used;        /* the summary comes live */
			return 1;
		}
		if (rp->run_on) {
			flush_run(rp);
			return 1;
		}
		struct sl_wmsg *m = file_summary(rp, s, toks);
		rp->pos += used;
		if (m == NULL) {
			replay_warn(rp, "a summary without lines, ok, errors and status");
			return 1;
		}
		set_pending(rp, m);
		rp->lines_done = true;          /* nothing follows a summary */
		return 1;
	}

	int64_t line;
	int ks = sl_json_get(s, toks, 0, "status");
	k = sl_json_get(s, toks, 0, "line");
	if (k < 0 || sl_json_int64(s, &toks[k], &line) < 0 || line < 1 || ks < 0 ||
	    toks[ks].type != SL_JSON_STRING) {
		replay_warn(rp, "a result without line and status");
		rp->pos += used;
		return 1;
	}
	uint64_t l = (uint64_t)line;
	if (l < rp->next) {
		rp->pos += used;                /* before from, or written again after a crash */
		return 1;
	}
	if (l > rp->bound) {
		rp->lines_done = true;          /* live has it */
		return 1;
	}

	if (tok_is(s, &toks[ks], "ok")) {
		if (rp->run_on && l != rp->run_to + 1) {
			flush_run(rp);
			return 1;
		}
		if (rp->run_on) {
			rp->run_to = l;
		} else {
			rp->run_on = true;
			rp->run_from = rp->run_to = l;
		}
	} else {
		if (rp->run_on) {
			flush_run(rp);
			return 1;
		}
		char rtext[6 * SL_NAME_MAX + 1], reason[6 * sizeof(rtext)];
		char text[4096], detail[6 * SL_ACK_TEXT_MAX];
		tok_text(s, toks, sl_json_get(s, toks, 0, "reason"), rtext, sizeof(rtext));
		sl_ws_escape(reason, sizeof(reason), rtext);
		tok_text(s, toks, sl_json_get(s, toks, 0, "detail"), text, sizeof(text));
		detail_text(detail, text);
		set_pending(rp, fmt_error(sl_ws_runtime()->cfg->tenants[c->tenant].name, c->doc, c->rev,
					  l, reason, detail));
	}
	rp->next = l + 1;
	rp->pos += used;
	return 1;
}

/* The next complete line in the buffer. 1: handled; 0: need more bytes; -1: wait, the file is being written there. */
static int
replay_line(struct sl_replay *rp)
{
	char *s = rp->buf + rp->pos;
	char *nl = memchr(s, '\n', rp->len - rp->pos);

	if (nl == NULL)
		return 0;
	uint32_t n = (uint32_t)(nl - s);
	if (rp->skipping) {
		rp->skipping = false;
		rp->pos += n + 1;
		return 1;
	}
	if (memchr(s, '\0', n) != NULL) {
		if (rp->by_line) {
			/* a hole: a later write landed first. Read it again later. */
			rp->off -= rp->len - rp->pos;
			rp->len = rp->pos;
			return -1;
		}
		replay_warn(rp, "NUL bytes in a line");
		rp->pos += n + 1;
		return 1;
	}

	struct sl_json_tok toks[SL_REPLAY_TOKS];
	struct sl_json_err err;
	int nt = n > 0 ? sl_json_parse(s, n, toks, SL_REPLAY_TOKS, &err) : -1;
	if (nt < 1 || toks[0].type != SL_JSON_OBJECT) {
		if (n > 0)
			replay_warn(rp, "a line that is not a JSON object");
		rp->pos += n + 1;
		return 1;
	}
	return replay_result(rp, s, toks, n + 1);
}

bool
sl_acks_replay_turn(struct sl_ws_conn *c, struct sl_wmsg **m)
{
	struct sl_replay *rp = c->replay;
	bool did_read = false;

	*m = NULL;
	replay_unwait(rp);
	for (;;) {
		if (rp->pending_counts && rp->pending == NULL) {
			replay_fail(c, "out of memory replaying ACKs");
			return false;
		}
		if (rp->pending != NULL) {
			*m = rp->pending;
			rp->pending = NULL;
			if (rp->pending_counts)
				sl_ws_runtime()->ws_stats.replayed_messages++;
			rp->pending_counts = false;
			if (rp->lines_done && !rp->run_on && rp->summary == NULL)
				replay_free(c);         /* that was the last: live messages follow */
			else
				lws_callback_on_writable(c->wsi);
			return true;
		}
		if (!rp->lines_done && rp->next > rp->bound)
			rp->lines_done = true;
		if (rp->lines_done) {
			if (rp->run_on) {
				flush_run(rp);
			} else if (rp->summary != NULL) {
				set_pending(rp, rp->summary);
				rp->summary = NULL;
			} else {
				replay_free(c);
				return false;
			}
			continue;
		}

		int r = replay_line(rp);
		if (r > 0)
			continue;
		if (r == 0) {
			if (did_read) {
				/* one read per turn: the other connections get theirs */
				lws_callback_on_writable(c->wsi);
				return true;
			}
			did_read = true;
			r = replay_read(rp);
			if (r > 0)
				continue;
			if (r < 0) {
				replay_fail(c, "ACK replay: cannot read the results file");
				return false;
			}
		}
		/* the end of what the file holds now */
		if (!rp->by_line) {
			rp->lines_done = true;  /* a torn last line (a crash) is no result */
			continue;
		}
		if (rp->run_on) {
			flush_run(rp);          /* show what there is while waiting */
			continue;
		}
		replay_wait(rp);
		return true;
	}
}

void
sl_acks_tick(void)
{
	uint64_t now = now_ns();
	struct sl_replay *rp, *next;

	for (rp = acks.waiting; rp != NULL; rp = next) {
		next = rp->wait_next;
		replay_unwait(rp);
		if (now - rp->progress_ns > SL_REPLAY_STALL_NS) {
			char why[120];
			snprintf(why, sizeof(why), "ACK replay stalled: the results file lacks lines %lu..%lu",
				 (unsigned long)rp->next, (unsigned long)rp->bound);
			replay_fail(rp->c, why);
			continue;
		}
		lws_callback_on_writable(rp->c->wsi);
	}
}
