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

#define STREAM_IDLE_S 60u        /* an OPEN stream silent this long is failed and freed */
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
	uint64_t position;      /* contiguous bytes received */
	uint32_t crc;           /* CRC32C of those bytes */
	uint64_t last_tsc;
	uint64_t lines_counted;
	uint64_t done_lines, done_ok, done_errors;
	char reason[SLP_REASON_MAX + 1];
	struct sl_msg end;      /* kept while end_pending */
	struct sl_feed feed;
	char *carry;
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
	uint64_t idle_tsc, linger_tsc;
	char *carry_area;
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
	if (t->s == NULL || t->free == NULL || t->touched == NULL || t->carry_area == NULL || t->by_peer == NULL)
		goto nomem;
	for (uint32_t i = 0; i < n; i++) {
		t->s[i].carry = t->carry_area + (size_t)cfg->max_line_bytes * i;
		t->free[n - 1 - i] = i;   /* pop order 0, 1, 2... */
	}
	t->n_free = n;
	t->idle_tsc = rte_get_tsc_hz() * STREAM_IDLE_S;
	t->linger_tsc = rte_get_tsc_hz() * STREAM_LINGER_S;
	return t;
nomem:
	snprintf(err, errlen, "out of EAL memory for %u streams x %u-byte lines on rx lcore %u; lower "
		 "[dataplane] streams_per_lcore or max_line_bytes, or raise memory_mb",
		 n, cfg->max_line_bytes, rx);
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
	uint8_t buf[SLP_HDR_LEN + 2 + SLP_REASON_MAX];
	size_t n = slp_encode_reject(buf, sizeof(buf), stream, session, code, reason);

	if (code < RTE_DIM(c->st->slp_rejects))
		c->st->slp_rejects[code]++;
	if (n > 0)
		sl_rx_send(c, to, buf, n);
}

/* ACCEPT and STATUS carry the same thing: where we are, and how much more we take. */
static void
reply_position(struct sl_rx_ctx *c, const struct sl_stream *s, bool accept)
{
	uint8_t buf[SLP_HDR_LEN + 12];
	size_t n = (accept ? slp_encode_accept : slp_encode_status)(buf, sizeof(buf), s->id, s->session,
								     s->position, window_now(c));

	if (n > 0)
		sl_rx_send(c, &s->peer, buf, n);
}

static void
reply_done(struct sl_rx_ctx *c, const struct sl_stream *s)
{
	uint8_t buf[SLP_HDR_LEN + 28 + SLP_REASON_MAX];
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
	s->crc = 0;
	s->lines_counted = 0;
	s->reason[0] = '\0';
	s->code = 0;
	t->active++;
	return s;
}

static void
stream_free(struct sl_rx_ctx *c, struct sl_stream *s)
{
	struct sl_stream_table *t = c->streams;
	struct stream_key k = key_of(&s->peer, s->session);

	rte_hash_del_key(t->by_peer, &k);
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

static void
on_data(struct sl_rx_ctx *c, const struct sl_peer *peer, const struct slp_frame *f)
{
	struct sl_stream_table *t = c->streams;
	struct sl_stream *s = lookup_id(t, f->h.stream_id, peer, f->h.session);
	uint64_t off = f->u.data.offset, end = off + f->u.data.len;

	c->st->slp_frames[1]++;
	if (s == NULL) {
		c->st->slp_unknown_stream++;
		reply_reject(c, peer, f->h.stream_id, f->h.session, SLP_E_UNKNOWN_STREAM,
			     "unknown stream: it expired or was never opened; send OPEN again");
		return;
	}
	s->last_tsc = rte_rdtsc();
	if (s->state != ST_OPEN) {
		if (s->state == ST_ENDING || s->state == ST_DONE)
			c->st->slp_after_fin++;
		if (s->state == ST_ENDING)
			touch(t, s);
		else
			reply_final(c, s);
		return;
	}
	if (end <= s->position) {
		c->st->slp_duplicate++;
		touch(t, s);
		return;
	}
	if (off > s->position) {
		/* A gap: v1 takes bytes in order only; STATUS makes the sender go back. */
		c->st->slp_out_of_order++;
		if (off >= s->position + c->rt->cfg->window_bytes)
			c->st->slp_beyond_window++;
		touch(t, s);
		return;
	}
	if (!sl_feed_room(c->rt, &c->backlog, f->u.data.len)) {
		c->st->slp_pressure_drops++;
		touch(t, s);
		return;
	}
	/* off <= position < end: take the part we do not have yet. */
	size_t skip = (size_t)(s->position - off);
	const uint8_t *p = f->u.data.payload + skip;
	size_t n = f->u.data.len - skip;

	s->crc = slp_crc32c(s->crc, p, n);
	sl_feed_bytes(&s->feed, p, n);
	s->position += n;
	touch(t, s);
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
	if (f->u.fin.crc32c != s->crc) {
		c->st->slp_checksum_failed++;
		snprintf(reason, sizeof(reason), "document CRC32C mismatch: sender %08x, received bytes %08x",
			 f->u.fin.crc32c, s->crc);
		stream_end(c, s, SLP_E_CHECKSUM, reason);
		return;
	}
	stream_end(c, s, SLP_OK, NULL);
}

void
sl_streams_input(struct sl_rx_ctx *c, const struct sl_peer *peer, const uint8_t *p, uint16_t len)
{
	struct slp_frame f;
	enum slp_decode_err e = slp_decode(p, len, &f);

	if (e != SLP_DEC_OK) {
		c->st->slp_bad[e < SLP_DEC__COUNT ? e : SLP_DEC_BODY]++;
		return;
	}
	switch (f.h.type) {
	case SLP_OPEN:
		on_open(c, peer, &f);
		break;
	case SLP_DATA:
		on_data(c, peer, &f);
		break;
	case SLP_FIN:
		on_fin(c, peer, &f);
		break;
	default:
		/* ACCEPT/STATUS/... are ours to send, not to receive. */
		c->st->slp_from_appliance++;
		c->st->slp_frames[3]++;
		break;
	}
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
		if (m->code == SLP_OK) {
			s->state = ST_OPEN;
			sl_feed_init(&s->feed, c->rt, c->index, &c->backlog, s->carry, m->doc, m->doc_gen,
				     s->tenant);
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
