/*
 * stream.c — SLP streams of one rx lcore: OPEN, in-order DATA, FIN, and
 * the answers (ACCEPT, REJECT, STATUS, DONE). See stream.h.
 */
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_malloc.h>
#include <rte_ring.h>

#include "slp.h"
#include "stream.h"

#define STREAM_LINGER_S 10u      /* a finished stream answers retransmitted FIN/OPEN this long */

enum stream_state {
	ST_FREE = 0,
	ST_OPENING,     /* OPEN sent to the manager, waiting for its decision */
	ST_OPEN,        /* accepting DATA */
	ST_ENDING,      /* FIN seen (or idle): END sent, waiting for DONE */
	ST_DONE,        /* DONE known: answer retransmitted FINs, then free */
	ST_REJECTED,    /* refused: answer retransmitted OPENs, then free */
};

struct stream_key {
	uint32_t ip;
	uint16_t port;
	uint16_t zero;
	uint32_t session;
};

/* An out-of-order DATA frame, held as the mbuf that carried it (no copy). */
struct held_frame {
	uint64_t off;
	const uint8_t *p;
	struct rte_mbuf *m;
	uint16_t len;
};

struct sl_stream {
	uint8_t state;
	uint8_t touched;        /* in the touched list for this burst */
	uint8_t end_pending;    /* END could not be queued to the manager yet */
	uint8_t gen;
	uint32_t id;
	struct sl_peer peer;
	uint32_t session;
	uint16_t tenant;
	uint16_t code;          /* REJECT or DONE code */
	uint64_t revision;
	uint64_t position;      /* contiguous bytes received (the feed keeps their CRC32C) */
	uint64_t last_tsc;
	uint64_t lines_counted;
	uint64_t done_lines, done_ok, done_errors;
	char reason[SLP_REASON_MAX + 1];
	struct sl_msg end;      /* kept while end_pending */
	struct sl_feed feed;
	char *carry;
	/* reorder window: frames ahead of position, sorted by offset */
	struct held_frame *held;
	uint16_t n_held;
	uint8_t in_gaps;        /* listed in the table's gap list */
	uint8_t zero_window;    /* the last window we granted was 0: tell the sender when it reopens */
	uint8_t beyond;         /* DATA past the window was dropped: the next STATUS says so */
	uint64_t held_bytes;
	uint64_t gap_since;     /* TSC when the current gap was first seen; 0 = none */
	uint64_t last_nak;      /* TSC of the last NAK for it; 0 = none yet */
	uint64_t max_bytes;     /* the tenant's max_document_mb in bytes; 0 = no limit */
};

struct sl_stream_table {
	struct sl_runtime *rt;
	unsigned rx;
	struct rte_hash *by_peer;
	uint32_t n, active;
	uint32_t n_free;
	uint32_t *free;         /* stack of free indices */
	uint32_t n_touched;
	uint32_t *touched;
	uint64_t idle_tsc, linger_tsc, nak_tsc;
	char *carry_area;
	struct held_frame *held_area;
	uint32_t n_gaps;
	uint32_t *gaps;         /* streams holding frames or paused: checked every loop (drains, NAKs, reopened window) */
	uint64_t *tenant_held;  /* out-of-order bytes held per tenant on this lcore */
	struct sl_stream *s;
};

struct sl_stream_table *
sl_streams_create(struct sl_runtime *rt, unsigned rx, int socket, char *err, size_t errlen)
{
	const struct sl_config *cfg = rt->cfg;
	uint32_t n = cfg->streams_per_lcore;
	struct sl_stream_table *t = rte_zmalloc_socket("sl_streams", sizeof(*t), RTE_CACHE_LINE_SIZE, socket);
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters hp = {
		.name = name,
		.entries = RTE_MAX(n * 2, 64u),
		.key_len = sizeof(struct stream_key),
		.hash_func = rte_jhash,
		.socket_id = socket,
	};

	if (t == NULL)
		goto nomem;
	snprintf(name, sizeof(name), "sl_streams_%u", rx);
	t->rt = rt;
	t->rx = rx;
	t->n = n;
	t->s = rte_zmalloc_socket("sl_stream", sizeof(struct sl_stream) * n, RTE_CACHE_LINE_SIZE, socket);
	t->free = rte_malloc_socket("sl_stream_free", sizeof(uint32_t) * n, 0, socket);
	t->touched = rte_malloc_socket("sl_stream_touched", sizeof(uint32_t) * n, 0, socket);
	t->carry_area = rte_malloc_socket("sl_stream_carry", (size_t)cfg->max_line_bytes * n, 0, socket);
	t->by_peer = rte_hash_create(&hp);
	t->gaps = rte_malloc_socket("sl_stream_gaps", sizeof(uint32_t) * n, 0, socket);
	t->tenant_held = rte_zmalloc_socket("sl_tenant_held", sizeof(uint64_t) * cfg->n_tenants, 0, socket);
	if (cfg->reorder_frames > 0)
		t->held_area = rte_malloc_socket("sl_stream_held",
						 sizeof(struct held_frame) * cfg->reorder_frames * n, 0, socket);
	if (t->s == NULL || t->free == NULL || t->touched == NULL || t->carry_area == NULL || t->by_peer == NULL ||
	    t->gaps == NULL || t->tenant_held == NULL || (cfg->reorder_frames > 0 && t->held_area == NULL))
		goto nomem;
	for (uint32_t i = 0; i < n; i++) {
		t->s[i].carry = t->carry_area + (size_t)cfg->max_line_bytes * i;
		t->s[i].held = t->held_area == NULL ? NULL : t->held_area + (size_t)cfg->reorder_frames * i;
		t->free[n - 1 - i] = i;   /* pop order 0, 1, 2... */
	}
	t->n_free = n;
	t->idle_tsc = rte_get_tsc_hz() / 1000 * cfg->stream_idle_ms;
	t->linger_tsc = rte_get_tsc_hz() * STREAM_LINGER_S;
	t->nak_tsc = rte_get_tsc_hz() / 1000000 * cfg->nak_delay_us;
	return t;
nomem:
	snprintf(err, errlen, "out of EAL memory for %u streams x (%u-byte lines + %u held frames) on rx lcore %u; "
		 "lower [dataplane] streams_per_lcore, max_line_bytes or reorder_frames, or raise memory_mb",
		 n, cfg->max_line_bytes, cfg->reorder_frames, rx);
	sl_streams_free(t);
	return NULL;
}

void
sl_streams_free(struct sl_stream_table *t)
{
	if (t == NULL)
		return;
	rte_hash_free(t->by_peer);
	rte_free(t->s);
	rte_free(t->free);
	rte_free(t->touched);
	rte_free(t->carry_area);
	rte_free(t->held_area);
	rte_free(t->gaps);
	rte_free(t->tenant_held);
	rte_free(t);
}

unsigned
sl_streams_active(const struct sl_stream_table *t)
{
	return t->active;
}

/* ---- helpers ---------------------------------------------------------- */

static inline struct stream_key
key_of(const struct sl_peer *peer, uint32_t session)
{
	struct stream_key k = { .ip = peer->ip, .port = peer->port, .zero = 0, .session = session };
	return k;
}

static uint32_t
window_now(const struct sl_rx_ctx *c)
{
	/* Credit shrinks to zero while the producer's backlog is deep: the workers
	 * (or persistence behind them) are not keeping up. */
	if (c->backlog.count > SL_BACKLOG_MAX / 2 ||
	    rte_mempool_avail_count(c->rt->batch_pool) < c->rt->cfg->batches / 8)
		return 0;
	return c->rt->cfg->window_bytes;
}

static void
reply_reject(struct sl_rx_ctx *c, const struct sl_peer *to, uint32_t stream, uint32_t session,
	     uint16_t code, const char *reason)
{
	uint8_t buf[SLP_HDR_LEN + 2 + SLP_REASON_MAX + SLP_CRC_LEN];
	size_t n = slp_encode_reject(buf, sizeof(buf), stream, session, code, reason);

	if (code < RTE_DIM(c->st->slp_rejects))
		c->st->slp_rejects[code]++;
	if (n > 0)
		sl_rx_send(c, to, buf, n);
}

/* Bytes of the document whose lines are all durable (persistence publishes it per slot). */
static uint64_t
stream_durable(const struct sl_rx_ctx *c, const struct sl_stream *s)
{
	if (s->state == ST_DONE)
		return s->position;
	if (s->state != ST_OPEN && s->state != ST_ENDING)
		return 0;
	return __atomic_load_n(&c->rt->docs->docs[s->feed.doc].durable, __ATOMIC_ACQUIRE);
}

/* ACCEPT and STATUS carry the same thing: where we are, and how much more we take. */
static void
reply_position(struct sl_rx_ctx *c, struct sl_stream *s, bool accept)
{
	uint8_t buf[SLP_HDR_LEN + 20 + SLP_CRC_LEN];
	uint32_t window = window_now(c);
	uint64_t durable = stream_durable(c, s);
	size_t n;

	if (accept) {
		n = slp_encode_accept(buf, sizeof(buf), s->id, s->session, s->position, window, durable);
	} else {
		n = slp_encode_status(buf, sizeof(buf), s->beyond ? SLP_F_BEYOND : 0, s->id, s->session,
				      s->position, window, durable);
		s->beyond = 0;
	}

	if (window == 0 && !s->zero_window) {
		/* the sender pauses: poll_gaps tells it as soon as the window reopens */
		s->zero_window = 1;
		if (!s->in_gaps) {
			s->in_gaps = 1;
			c->streams->gaps[c->streams->n_gaps++] = (uint32_t)(s - c->streams->s);
		}
	}
	if (n > 0)
		sl_rx_send(c, &s->peer, buf, n);
}

static void
reply_done(struct sl_rx_ctx *c, const struct sl_stream *s)
{
	uint8_t buf[SLP_HDR_LEN + 28 + SLP_REASON_MAX + SLP_CRC_LEN];
	size_t n = slp_encode_done(buf, sizeof(buf), s->id, s->session, s->code, s->done_lines,
				   s->done_ok, s->done_errors, s->reason);

	if (n > 0)
		sl_rx_send(c, &s->peer, buf, n);
}

static void
reply_final(struct sl_rx_ctx *c, const struct sl_stream *s)
{
	if (s->state == ST_DONE)
		reply_done(c, s);
	else if (s->state == ST_REJECTED)
		reply_reject(c, &s->peer, s->id, s->session, s->code, s->reason);
}

static void
touch(struct sl_stream_table *t, struct sl_stream *s)
{
	if (!s->touched) {
		s->touched = 1;
		t->touched[t->n_touched++] = (uint32_t)(s - t->s);
	}
}

static void
held_release_all(struct sl_stream_table *t, struct sl_stream *s)
{
	for (uint16_t i = 0; i < s->n_held; i++)
		rte_pktmbuf_free(s->held[i].m);
	t->tenant_held[s->tenant] -= s->held_bytes;
	s->n_held = 0;
	s->held_bytes = 0;
	s->gap_since = 0;
	s->last_nak = 0;
}

static struct sl_stream *
stream_alloc(struct sl_stream_table *t, const struct stream_key *k)
{
	struct sl_stream *s;
	uint32_t i;

	if (t->n_free == 0)
		return NULL;
	i = t->free[--t->n_free];
	if (rte_hash_add_key_data(t->by_peer, k, (void *)(uintptr_t)i) < 0) {
		t->free[t->n_free++] = i;
		return NULL;
	}
	s = &t->s[i];
	s->gen++;
	s->id = (t->rx << 24) | ((uint32_t)s->gen << 16) | i;
	s->touched = 0;
	s->end_pending = 0;
	s->position = 0;
	s->lines_counted = 0;
	s->reason[0] = '\0';
	s->code = 0;
	s->n_held = 0;
	s->held_bytes = 0;
	s->gap_since = 0;
	s->last_nak = 0;
	s->zero_window = 0;
	s->beyond = 0;
	t->active++;
	return s;
}

static void
stream_free(struct sl_rx_ctx *c, struct sl_stream *s)
{
	struct sl_stream_table *t = c->streams;
	struct stream_key k = key_of(&s->peer, s->session);

	rte_hash_del_key(t->by_peer, &k);
	held_release_all(t, s);
	s->state = ST_FREE;
	t->free[t->n_free++] = (uint32_t)(s - t->s);
	t->active--;
	c->st->streams_closed++;
}

/* DATA/FIN/replies name the stream by id; the peer and session must match too. */
static struct sl_stream *
lookup_id(struct sl_stream_table *t, uint32_t id, const struct sl_peer *peer, uint32_t session)
{
	uint32_t i = id & 0xffffu;
	struct sl_stream *s;

	if ((id >> 24) != t->rx || i >= t->n)
		return NULL;
	s = &t->s[i];
	if (s->state == ST_FREE || s->id != id || s->session != session)
		return NULL;
	if (peer != NULL && (s->peer.ip != peer->ip || s->peer.port != peer->port))
		return NULL;
	return s;
}

static void
count_lines(struct sl_rx_ctx *c, struct sl_stream *s)
{
	c->st->lines += s->feed.lines - s->lines_counted;
	s->lines_counted = s->feed.lines;
}

/* End the document: no more lines. code != 0 marks it failed (the summary says why). */
static void
stream_end(struct sl_rx_ctx *c, struct sl_stream *s, uint16_t code, const char *reason)
{
	struct sl_msg *m = &s->end;

	held_release_all(c->streams, s);
	sl_feed_finish(&s->feed);
	count_lines(c, s);
	memset(m, 0, sizeof(*m));
	m->type = SL_MSG_END;
	m->rx = (uint16_t)c->index;
	m->stream = s->id;
	m->session = s->session;
	m->doc = s->feed.doc;
	m->doc_gen = s->feed.doc_gen;
	m->tenant = s->tenant;
	m->code = code;
	m->lines = s->feed.lines;
	m->bytes = s->position;
	if (reason != NULL) {
		snprintf(m->reason, sizeof(m->reason), "%s", reason);
		m->reason_len = (uint8_t)strlen(m->reason);
	}
	s->state = ST_ENDING;
	s->end_pending = rte_ring_sp_enqueue_elem(c->rt->rx_to_mgr[c->index], m, sizeof(*m)) != 0;
}

/* ---- reorder window ----------------------------------------------------- */

static void
gap_list_add(struct sl_stream_table *t, struct sl_stream *s)
{
	if (!s->in_gaps) {
		s->in_gaps = 1;
		t->gaps[t->n_gaps++] = (uint32_t)(s - t->s);
	}
}

/* Bytes [off, off+len) continue the stream at position: take the part we lack. */
static void
take_bytes(struct sl_rx_ctx *c, struct sl_stream *s, uint64_t off, const uint8_t *p, size_t len)
{
	size_t skip = (size_t)(s->position - off);
	size_t n = len - skip;
	char reason[SLP_REASON_MAX];

	if (s->max_bytes != 0 && s->position + n > s->max_bytes) {
		c->st->slp_too_large++;
		snprintf(reason, sizeof(reason), "document larger than %" PRIu64 " MiB (max_document_mb of tenant %s)",
			 s->max_bytes >> 20, c->rt->cfg->tenants[s->tenant].name);
		stream_end(c, s, SLP_E_TOO_LARGE, reason);
		return;
	}
	uint64_t t0 = rte_rdtsc();
	sl_feed_bytes(&s->feed, p + skip, n);
	c->st->cyc_split += rte_rdtsc() - t0;
	s->position += n;
}

/* Feed held frames that have become contiguous. Returns true if position advanced. */
static bool
drain_held(struct sl_rx_ctx *c, struct sl_stream *s, uint64_t now)
{
	struct sl_stream_table *t = c->streams;
	uint64_t before = s->position;
	uint16_t used = 0;

	while (used < s->n_held && s->state == ST_OPEN && s->held[used].off <= s->position) {
		struct held_frame *h = &s->held[used];

		if (h->off + h->len > s->position) {
			if (!sl_feed_room(c->rt, &c->backlog, h->len))
				break; /* try again on the next loop */
			take_bytes(c, s, h->off, h->p, h->len);
			if (s->state != ST_OPEN)
				return true; /* the document ended (too large): everything held was released */
		}
		rte_pktmbuf_free(h->m);
		s->held_bytes -= h->len;
		t->tenant_held[s->tenant] -= h->len;
		used++;
	}
	if (used > 0 && s->state == ST_OPEN) {
		s->n_held = (uint16_t)(s->n_held - used);
		memmove(s->held, s->held + used, sizeof(*s->held) * s->n_held);
	}
	if (s->position != before) {
		/* a new gap (if any) starts now */
		s->gap_since = s->n_held > 0 ? now : 0;
		s->last_nak = 0;
		return true;
	}
	return false;
}

/* Keep an out-of-order frame. Returns true if m was kept. */
static bool
hold_frame(struct sl_rx_ctx *c, struct sl_stream *s, const struct slp_frame *f, struct rte_mbuf *m)
{
	struct sl_stream_table *t = c->streams;
	const struct sl_config *cfg = c->rt->cfg;
	uint64_t off = f->u.data.offset;
	uint16_t len = f->u.data.len;
	uint16_t i;

	if (cfg->reorder_frames == 0) {
		c->st->slp_out_of_order++;
		return false;
	}
	/* sorted by offset; the common case (frames arriving in order after a gap) appends */
	for (i = s->n_held; i > 0 && s->held[i - 1].off > off; i--)
		;
	if (i > 0 && s->held[i - 1].off == off) {
		c->st->slp_duplicate++;
		return false;
	}
	if (s->n_held >= cfg->reorder_frames ||
	    t->tenant_held[s->tenant] + len > (uint64_t)cfg->tenants[s->tenant].reorder_kb * 1024 ||
	    rte_mempool_avail_count(c->rt->mbuf_pool) < cfg->mbufs / 4) {
		/* No room to hold it: dropped; the NAK for the gap brings it back later. */
		c->st->slp_reorder_full++;
		gap_list_add(t, s);
		return false;
	}
	memmove(s->held + i + 1, s->held + i, sizeof(*s->held) * (s->n_held - i));
	s->held[i].off = off;
	s->held[i].p = f->u.data.payload;
	s->held[i].len = len;
	s->held[i].m = m;
	s->n_held++;
	s->held_bytes += len;
	t->tenant_held[s->tenant] += len;
	c->st->slp_out_of_order++;
	c->st->slp_held++;
	if (s->gap_since == 0)
		s->gap_since = rte_rdtsc();
	gap_list_add(t, s);
	return true;
}

#define NAKS_PER_ROUND 16u   /* gaps NAKed per stream each time its NAK timer fires */

static void
reply_nak(struct sl_rx_ctx *c, struct sl_stream *s, uint64_t gap_off, uint64_t gap_len)
{
	uint8_t buf[SLP_HDR_LEN + 32 + SLP_CRC_LEN];
	size_t n = slp_encode_nak(buf, sizeof(buf), 0, s->id, s->session, s->position, window_now(c),
				  stream_durable(c, s), gap_off, (uint32_t)RTE_MIN(gap_len, (uint64_t)UINT32_MAX));

	c->st->slp_naks_sent++;
	if (n > 0)
		sl_rx_send(c, &s->peer, buf, n);
}

/* NAK every gap in the reorder window, each on its own: at high loss there are many. */
static void
nak_gaps(struct sl_rx_ctx *c, struct sl_stream *s)
{
	uint64_t from = s->position;
	unsigned sent = 0;

	for (uint16_t i = 0; i < s->n_held && sent < NAKS_PER_ROUND; i++) {
		if (s->held[i].off > from) {
			reply_nak(c, s, from, s->held[i].off - from);
			sent++;
		}
		from = RTE_MAX(from, s->held[i].off + s->held[i].len);
	}
}

void
sl_streams_poll_gaps(struct sl_rx_ctx *c, uint64_t now)
{
	struct sl_stream_table *t = c->streams;

	for (uint32_t i = 0; i < t->n_gaps;) {
		struct sl_stream *s = &t->s[t->gaps[i]];

		if (s->state == ST_OPEN && s->n_held > 0 && s->held[0].off <= s->position) {
			if (drain_held(c, s, now)) {
				sl_feed_flush(&s->feed);
				count_lines(c, s);
				reply_position(c, s, false);
			}
		}
		if (s->zero_window && s->state == ST_OPEN && window_now(c) > 0) {
			s->zero_window = 0;
			reply_position(c, s, false);
		}
		if (s->state != ST_OPEN || (s->n_held == 0 && s->gap_since == 0 && !s->zero_window)) {
			/* nothing held and no gap: off the list (swap with the last) */
			s->in_gaps = 0;
			t->gaps[i] = t->gaps[--t->n_gaps];
			continue;
		}
		if (s->n_held > 0 && s->held[0].off > s->position) {
			uint64_t due = s->last_nak ? s->last_nak + 4 * t->nak_tsc : s->gap_since + t->nak_tsc;

			if (s->gap_since == 0)
				s->gap_since = now;
			else if (now >= due) {
				nak_gaps(c, s);
				s->last_nak = now;
			}
		} else if (s->n_held == 0) {
			s->gap_since = 0;
		}
		i++;
	}
}

/* ---- frames from senders ---------------------------------------------- */

static bool
token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	/* Constant time in the token's bytes: no early exit on the first difference. */
	unsigned char diff = alen != blen;
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static void
on_open(struct sl_rx_ctx *c, const struct sl_peer *peer, const struct slp_frame *f)
{
	struct sl_stream_table *t = c->streams;
	const struct sl_config *cfg = c->rt->cfg;
	struct stream_key k = key_of(peer, f->h.session);
	char reason[SLP_REASON_MAX];
	void *data;
	int tenant;

	c->st->slp_frames[0]++;
	if (rte_hash_lookup_data(t->by_peer, &k, &data) >= 0) {
		/* A retransmitted OPEN: answer again, never open twice. */
		struct sl_stream *s = &t->s[(uintptr_t)data];

		s->last_tsc = rte_rdtsc();
		if (s->state == ST_OPEN || s->state == ST_ENDING)
			reply_position(c, s, true);
		else
			reply_final(c, s);
		return;
	}

	tenant = sl_config_tenant_find(cfg, f->u.open.tenant, f->u.open.tenant_len);
	if (tenant < 0) {
		snprintf(reason, sizeof(reason), "unknown tenant '%.*s'", (int)f->u.open.tenant_len,
			 f->u.open.tenant);
		reply_reject(c, peer, 0, f->h.session, SLP_E_UNKNOWN_TENANT, reason);
		return;
	}
	if (!token_equal(f->u.open.token, f->u.open.token_len, cfg->tenants[tenant].token,
			 strlen(cfg->tenants[tenant].token))) {
		sl_tenant_row(c->rt, c->index)[tenant].bad_token++;
		snprintf(reason, sizeof(reason), "token does not match tenant '%s'", cfg->tenants[tenant].name);
		reply_reject(c, peer, 0, f->h.session, SLP_E_BAD_TOKEN, reason);
		return;
	}
	if (!sl_name_valid(f->u.open.doc, f->u.open.doc_len)) {
		snprintf(reason, sizeof(reason), "bad document name '%.*s': use 1-%u of [A-Za-z0-9._-], "
			 "not starting with '.'", (int)f->u.open.doc_len, f->u.open.doc, SL_NAME_MAX);
		reply_reject(c, peer, 0, f->h.session, SLP_E_BAD_NAME, reason);
		return;
	}

	struct sl_stream *s = stream_alloc(t, &k);
	if (s == NULL) {
		c->st->slp_streams_full++;
		snprintf(reason, sizeof(reason), "too many streams on this appliance (%u per rx lcore); retry later",
			 t->n);
		reply_reject(c, peer, 0, f->h.session, SLP_E_TOO_MANY_STREAMS, reason);
		return;
	}
	s->peer = *peer;
	s->session = f->h.session;
	s->tenant = (uint16_t)tenant;
	s->revision = f->u.open.revision;
	s->last_tsc = rte_rdtsc();
	s->state = ST_OPENING;

	struct sl_msg m;
	memset(&m, 0, sizeof(m));
	m.type = SL_MSG_OPEN_REQ;
	m.flags = (f->h.flags & SLP_F_RESUME) ? SL_MSG_F_RESUME : 0;
	m.rx = (uint16_t)c->index;
	m.stream = s->id;
	m.session = s->session;
	m.tenant = (uint16_t)tenant;
	m.revision = s->revision;
	m.doc_len = f->u.open.doc_len;
	memcpy(m.doc_name, f->u.open.doc, f->u.open.doc_len);
	if (rte_ring_sp_enqueue_elem(c->rt->rx_to_mgr[c->index], &m, sizeof(m)) != 0) {
		/* The manager is swamped: forget this OPEN, the sender retransmits it. */
		stream_free(c, s);
		return;
	}
	c->st->streams_opened++;
}

static bool
on_data(struct sl_rx_ctx *c, const struct sl_peer *peer, const struct slp_frame *f, struct rte_mbuf *m)
{
	struct sl_stream_table *t = c->streams;
	struct sl_stream *s = lookup_id(t, f->h.stream_id, peer, f->h.session);
	uint64_t off = f->u.data.offset, end = off + f->u.data.len;
	bool kept;

	c->st->slp_frames[1]++;
	if (s == NULL) {
		c->st->slp_unknown_stream++;
		reply_reject(c, peer, f->h.stream_id, f->h.session, SLP_E_UNKNOWN_STREAM,
			     "unknown stream: it expired or was never opened; send OPEN again");
		return false;
	}
	s->last_tsc = rte_rdtsc();
	if (s->state != ST_OPEN) {
		if (s->state == ST_ENDING || s->state == ST_DONE)
			c->st->slp_after_fin++;
		if (s->state == ST_ENDING)
			touch(t, s);
		else
			reply_final(c, s);
		return false;
	}
	touch(t, s);
	if (end <= s->position) {
		c->st->slp_duplicate++;
		return false;
	}
	if (off > s->position) {
		/* Ahead of us: hold it within the window we granted; the gap gets NAKed. */
		if (off >= s->position + c->rt->cfg->window_bytes) {
			/*
			 * The sender overran the window (it misread one, or it
			 * is broken): nothing it sent past the window is kept.
			 * The STATUS after this burst says so (SLP_F_BEYOND),
			 * so it goes back to the window's edge now rather than
			 * find each dropped frame by a probe per RTO.
			 */
			c->st->slp_beyond_window++;
			s->beyond = 1;
			return false;
		}
		kept = hold_frame(c, s, f, m);
		return kept;
	}
	if (!sl_feed_room(c->rt, &c->backlog, f->u.data.len)) {
		c->st->slp_pressure_drops++;
		return false;
	}
	take_bytes(c, s, off, f->u.data.payload, f->u.data.len);
	if (s->n_held > 0)
		drain_held(c, s, s->last_tsc);
	return false;
}

static void
on_fin(struct sl_rx_ctx *c, const struct sl_peer *peer, const struct slp_frame *f)
{
	struct sl_stream_table *t = c->streams;
	struct sl_stream *s = lookup_id(t, f->h.stream_id, peer, f->h.session);
	char reason[SLP_REASON_MAX];

	c->st->slp_frames[2]++;
	if (s == NULL) {
		c->st->slp_unknown_stream++;
		reply_reject(c, peer, f->h.stream_id, f->h.session, SLP_E_UNKNOWN_STREAM,
			     "unknown stream: it expired or was never opened; send OPEN again");
		return;
	}
	s->last_tsc = rte_rdtsc();
	if (s->state != ST_OPEN) {
		if (s->state == ST_ENDING)
			touch(t, s);
		else
			reply_final(c, s);
		return;
	}
	if (f->u.fin.total_len > s->position) {
		/* We are missing bytes the sender thinks we have: tell it where we are. */
		touch(t, s);
		return;
	}
	if (f->u.fin.total_len < s->position) {
		c->st->slp_length_failed++;
		snprintf(reason, sizeof(reason), "FIN says %" PRIu64 " bytes but %" PRIu64 " were received",
			 f->u.fin.total_len, s->position);
		stream_end(c, s, SLP_E_LENGTH, reason);
		return;
	}
	if (f->u.fin.crc32c != sl_feed_crc(&s->feed)) {
		c->st->slp_checksum_failed++;
		snprintf(reason, sizeof(reason), "document CRC32C mismatch: sender %08x, received bytes %08x",
			 f->u.fin.crc32c, sl_feed_crc(&s->feed));
		stream_end(c, s, SLP_E_CHECKSUM, reason);
		return;
	}
	stream_end(c, s, SLP_OK, NULL);
}

bool
sl_streams_input(struct sl_rx_ctx *c, const struct sl_peer *peer, const uint8_t *p, uint16_t len,
		 struct rte_mbuf *m)
{
	struct slp_frame f;
	enum slp_decode_err e = slp_decode(p, len, &f);

	if (e != SLP_DEC_OK) {
		c->st->slp_bad[e < SLP_DEC__COUNT ? e : SLP_DEC_BODY]++;
		return false;
	}
	switch (f.h.type) {
	case SLP_OPEN:
		on_open(c, peer, &f);
		break;
	case SLP_DATA:
		return on_data(c, peer, &f, m);
	case SLP_FIN:
		on_fin(c, peer, &f);
		break;
	default:
		/* ACCEPT/STATUS/... are ours to send, not to receive. */
		c->st->slp_from_appliance++;
		c->st->slp_frames[3]++;
		break;
	}
	return false;
}

void
sl_streams_after_burst(struct sl_rx_ctx *c)
{
	struct sl_stream_table *t = c->streams;

	for (uint32_t i = 0; i < t->n_touched; i++) {
		struct sl_stream *s = &t->s[t->touched[i]];

		s->touched = 0;
		if (s->state == ST_OPEN) {
			sl_feed_flush(&s->feed);
			count_lines(c, s);
		}
		if (s->state == ST_OPEN || s->state == ST_ENDING)
			reply_position(c, s, false);
	}
	t->n_touched = 0;
}

/* ---- the manager's answers --------------------------------------------- */

void
sl_streams_on_msg(struct sl_rx_ctx *c, const struct sl_msg *m)
{
	struct sl_stream *s = lookup_id(c->streams, m->stream, NULL, m->session);

	if (s == NULL)
		return; /* the stream is gone (e.g. shutting down): nothing to tell */
	switch (m->type) {
	case SL_MSG_OPEN_REPLY:
		if (s->state != ST_OPENING)
			return;
		if (m->flags & SL_MSG_F_COMPLETE) {
			/* a resumed revision that had already completed: its DONE is the answer */
			s->state = ST_DONE;
			s->code = m->code;
			snprintf(s->reason, sizeof(s->reason), "%.*s", (int)m->reason_len, m->reason);
			s->done_lines = m->lines;
			s->done_ok = m->ok;
			s->done_errors = m->errors;
			s->last_tsc = rte_rdtsc();
			reply_done(c, s);
		} else if (m->code == SLP_OK) {
			const struct sl_doc *d = &c->rt->docs->docs[m->doc];

			s->state = ST_OPEN;
			sl_feed_init(&s->feed, c->rt, c->index, &c->backlog, s->carry, m->doc, m->doc_gen,
				     s->tenant);
			if (d->resume_offset > 0 || d->resume_lines > 0) {
				/* resumed after a restart: go on from what is durable */
				sl_feed_resume(&s->feed, d->resume_offset, d->resume_lines, d->resume_crc);
				s->position = d->resume_offset;
				s->lines_counted = d->resume_lines;
			}
			s->max_bytes = (uint64_t)c->rt->cfg->tenants[s->tenant].max_document_mb << 20;
			reply_position(c, s, true);
		} else {
			s->state = ST_REJECTED;
			s->code = m->code;
			snprintf(s->reason, sizeof(s->reason), "%.*s", (int)m->reason_len, m->reason);
			reply_final(c, s);
		}
		break;
	case SL_MSG_DONE:
		if (s->state != ST_ENDING)
			return;
		s->state = ST_DONE;
		s->code = m->code;
		s->done_lines = m->lines;
		s->done_ok = m->ok;
		s->done_errors = m->errors;
		snprintf(s->reason, sizeof(s->reason), "%.*s", (int)m->reason_len, m->reason);
		s->last_tsc = rte_rdtsc();
		reply_done(c, s);
		break;
	default:
		break;
	}
}

void
sl_streams_expire(struct sl_rx_ctx *c, uint64_t now)
{
	struct sl_stream_table *t = c->streams;

	for (uint32_t i = 0; i < t->n; i++) {
		struct sl_stream *s = &t->s[i];

		switch (s->state) {
		case ST_OPEN:
			if (now - s->last_tsc > t->idle_tsc) {
				c->st->streams_expired++;
				stream_end(c, s, SLP_E_TIMEOUT, "stream idle too long; its state was freed");
			}
			break;
		case ST_ENDING:
			if (s->end_pending)
				s->end_pending = rte_ring_sp_enqueue_elem(c->rt->rx_to_mgr[c->index], &s->end,
									  sizeof(s->end)) != 0;
			break;
		case ST_DONE:
		case ST_REJECTED:
			if (now - s->last_tsc > t->linger_tsc)
				stream_free(c, s);
			break;
		default:
			break;
		}
	}
}
