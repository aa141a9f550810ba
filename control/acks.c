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
 * After a summary: an SLP document's DONE goes to the manager (which
 * tells the sender and releases the slot); a websocket upload is told
 * "done" here and its slot released here. A DONE that finds ws_to_mgr
 * full waits in a FIFO and is retried on the next drain — never dropped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "../dataplane/batch.h"
#include "../dataplane/doc.h"
#include "../dataplane/msg.h"
#include "../dataplane/slp.h"
#include "acks.h"
#include "ingest.h"
#include "wsconn.h"

#define SL_ACKS_BUCKETS 4096u      /* power of two */
#define SL_ACKS_BURST 32u
#define SL_ACKS_MAX_BATCHES 1024u  /* per drain: then let lws serve the sockets */

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

	struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"subscribed\",\"tenant\":\"%s\",\"doc\":\"%s\"}",
					   tname, c->doc);
	sl_conn_send(c, m);
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

/* Queue m to every subscriber of (tenant, doc). Returns how many got it. */
static unsigned
deliver(struct sl_runtime *rt, uint16_t tenant, const char *doc, struct sl_wmsg *m)
{
	struct sl_ws_conn *c, *next;
	unsigned n = 0;

	if (m == NULL) {
		SL_WS_LOG(ERR, "out of memory formatting an ACK for %s\n", doc);
		return 0;
	}
	for (c = acks.bucket[topic_bucket(tenant, doc)]; c != NULL; c = next) {
		next = c->sub_next;     /* cull() unlinks c */
		if (!is_subscriber(c, tenant, doc))
			continue;
		if (sl_conn_send(c, m) != 0) {
			cull(rt, c);
			continue;
		}
		n++;
		if (!c->holding && c->q.count >= c->q.cap / 2 && !lws_send_pipe_choked(c->wsi))
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
	struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"ack\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
					   "\"from\":%lu,\"to\":%lu,\"status\":\"ok\"}",
					   rt->cfg->tenants[d->tenant].name, d->name,
					   (unsigned long)d->revision, (unsigned long)run->from,
					   (unsigned long)run->to);
	unsigned got = deliver(rt, d->tenant, d->name, m);
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
	if (rec == NULL || rec->off > SL_RESULT_DATA || rec->len > SL_RESULT_DATA - rec->off) {
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

		char text[160], detail[6 * sizeof(text)];
		send_run(rt);           /* keep the document's messages in line order */
		reason_text(b, r, text, sizeof(text));
		sl_ws_escape(detail, sizeof(detail), text);
		struct sl_wmsg *m = sl_wmsg_printf("{\"type\":\"ack\",\"tenant\":\"%s\",\"doc\":\"%s\","
						   "\"rev\":%lu,\"from\":%lu,\"to\":%lu,\"status\":\"error\","
						   "\"reason\":\"%s\",\"detail\":\"%s\"}",
						   tname, d->name, (unsigned long)d->revision,
						   (unsigned long)r->line, (unsigned long)r->line,
						   sl_reason_name((enum sl_reason)r->reason), detail);
		unsigned got = deliver(rt, d->tenant, d->name, m);
		st->ack_messages += got;
		st->acks_sent += got;
		i++;
	}
}

static void
fan_summary(struct sl_runtime *rt, const struct sl_doc *d, const struct sl_result_batch *b)
{
	const char *tname = rt->cfg->tenants[d->tenant].name;
	struct sl_wmsg *m;

	if (b->fail_code == 0)
		m = sl_wmsg_printf("{\"type\":\"summary\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
				   "\"lines\":%lu,\"ok\":%lu,\"errors\":%lu,\"status\":\"complete\"}",
				   tname, d->name, (unsigned long)d->revision, (unsigned long)b->lines,
				   (unsigned long)b->ok, (unsigned long)b->errors);
	else
		m = sl_wmsg_printf("{\"type\":\"summary\",\"tenant\":\"%s\",\"doc\":\"%s\",\"rev\":%lu,"
				   "\"lines\":%lu,\"ok\":%lu,\"errors\":%lu,\"status\":\"failed\","
				   "\"reason\":\"%s\"}",
				   tname, d->name, (unsigned long)d->revision, (unsigned long)b->lines,
				   (unsigned long)b->ok, (unsigned long)b->errors,
				   slp_code_str((enum slp_code)b->fail_code));
	rt->ws_stats.summaries_sent += deliver(rt, d->tenant, d->name, m);
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

	if (b->kind == SL_RB_RESULTS) {
		if (has_subscribers(d->tenant, d->name))
			fan_results(rt, d, b);
		return;
	}

	/* SL_RB_SUMMARY: the last ok range goes first */
	send_run(rt);
	fan_summary(rt, d, b);
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
		acks.held_count--;
		handle_batch(rt, b);
		rte_mempool_put(rt->result_pool, b);
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
			rte_mempool_put(rt->result_pool, acks.held[acks.held_head++]);
			acks.held_count--;
		}
	if (rt->acks != NULL && rt->result_pool != NULL)
		while ((n = rte_ring_sc_dequeue_burst(rt->acks, burst, SL_ACKS_BURST, NULL)) > 0)
			rte_mempool_put_bulk(rt->result_pool, burst, n);
	free(acks.done_q);
	memset(&acks, 0, sizeof(acks));
}
