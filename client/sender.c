/*
 * sender.c — the SLP sender's state machine for one document, driven from
 * outside (include/sluice/sender.h): it turns time and the appliance's
 * replies into frames to send, and does no I/O of its own, so one thread
 * can run many documents over one socket (sluice-perf) and
 * sl_send_document (send.c) is a small loop over one of these.
 *
 *   OPEN    resend OPEN every 200 ms until ACCEPT or REJECT;
 *   DATA    selective repeat. The document is cut into frames at fixed
 *           offsets base + k * payload (base is where the appliance told
 *           us to start: 0, or a resume offset). New frames go out while
 *           they fit in the appliance's window (acked .. acked + window).
 *           The appliance keeps out-of-order frames and NAKs the byte
 *           ranges it misses: we resend exactly the frames covering a
 *           NAKed range, each at most once per nak_guard so a repeated NAK
 *           cannot cause a storm. If `acked` does not move for one RTO we
 *           resend only the frame at `acked` (a probe), doubling the RTO
 *           up to 2 s;
 *   FIN     resend FIN every 200 ms until DONE.
 *
 * Resuming. The appliance reports `durable` in every ACCEPT, STATUS and
 * NAK: the leading bytes whose lines it has persisted. If it restarts it
 * forgets the stream and answers our next DATA or FIN with REJECT 6
 * (UNKNOWN_STREAM), or says REJECT 10 (SHUTDOWN) on its way down. Neither
 * is final once data has started: we go back to OPEN with the RESUME flag
 * under a new session (replies still in flight for the old one are then
 * ignored, and the caller routes by the new one), every 200 ms, and the
 * appliance answers with ACCEPT at the offset it made durable (we re-cut
 * the frames from there and send the rest, then FIN for the whole
 * document as usual), or with the DONE of a revision that had already
 * completed. While it is down we hear nothing and keep probing as for any
 * outage, so the probe is what meets the restarted appliance.
 *
 * A tail-loss probe covers the case the NAK cannot: when the last frames
 * of a burst are lost the appliance holds nothing beyond the gap, so it
 * sees no gap (and a lost STATUS leaves a window-limited sender waiting).
 * After a few RTTs without progress (at least 10 ms, doubling while
 * nothing moves, until the RTO is nearer) we resend the highest frame
 * sent; if it lands beyond a gap the appliance NAKs the gap, and in any
 * case it answers with a STATUS.
 *
 * Open pacing (opts.available). Only the bytes the caller releases are
 * sent. Waiting for bytes is not loss: with nothing in flight the probes
 * and the no-answer timeout are parked. The frame at the frontier goes
 * out as the prefix that is available (so a paced line need not wait for
 * a frame to fill), and as more becomes available its new bytes go out
 * as a DATA of their own (at an offset inside the frame); repairs resend
 * the frame's whole prefix. The appliance takes the bytes it lacks from a
 * frame that overlaps its position, so the cost is short datagrams.
 *
 * Every frame carries a CRC32C (slp_decode drops and we count one that
 * fails it: res.corrupt), and a reply that passes it is still checked for
 * plausibility before it moves anything: positions are frame boundaries
 * (or, when paced, inside what we sent) and never beyond what we sent,
 * durable is never beyond the position, and a DONE's ok and errors add
 * up to its lines. What fails is ignored and counted (res.ignored): a
 * sender must never skip bytes, or report counts, on a reply it cannot
 * believe.
 *
 * A STATUS with SLP_F_BEYOND says the appliance dropped DATA we sent past
 * its window (we misread a window, or the appliance shrank its hold): we
 * rewind to the window's edge and send those frames again, instead of
 * finding each one with a probe per RTO.
 *
 * Input never emits frames: NAK repairs are decided (and their resend
 * guard set) at once, queued, and encoded by the next poll.
 */
#include "sluice/sender.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "dataplane/slp.h"
#include "send_reason.h"

#define DEFAULT_PAYLOAD 1400u
#define DEFAULT_TIMEOUT_MS 30000u
#define US 1000ull                       /* nanoseconds */
#define MS 1000000ull
#define CTL_RESEND_NS (200 * MS)         /* OPEN and FIN */
#define RTO_START_NS (200 * MS)
#define RTO_MAX_NS (2000 * MS)
#define NAK_GUARD_MIN_NS (2 * MS)
#define NAK_GUARD_MAX_NS (500 * MS)
#define TLP_MIN_NS (10 * MS)             /* tail-loss probe: at least this, or 4 RTTs */
#define NAK_RESEND_MAX 4096u             /* frames resent for one NAK (bounds a corrupt gap_len) */
#define PROGRESS_EVERY_NS (250 * MS)
#define RESUME_SAME_POINT_MAX 8          /* resumes in a row that make no headway: give up */
#define NEVER UINT64_MAX

enum phase { PHASE_OPEN, PHASE_DATA, PHASE_FIN, PHASE_DONE };

/* What we remember about each frame of the document. */
struct frame_state {
	uint64_t sent_ns;                /* last (re)transmission; 0 = never sent */
	uint32_t sends;                  /* transmissions of these bytes: an RTT sample needs 1 */
	uint16_t sent_len;               /* longest prefix sent (the whole frame unless paced) */
	bool queued;                     /* waiting in the resend queue */
	bool rewound;                    /* sent before, then dropped beyond the window: no RTT sample */
};

struct sl_sender {
	struct sl_send_opts o;
	struct sl_send_result res;
	int rc;                          /* sl_send_document's return, once PHASE_DONE */
	const uint8_t *doc;
	uint64_t len;
	uint32_t crc;                    /* CRC32C of the whole document, for FIN */
	uint32_t payload;
	uint64_t timeout_ns;
	char peer[300];                  /* "host:port", for messages */
	bool refused;                    /* the kernel saw ICMP port unreachable */
	bool paced;                      /* o.available is set */

	uint32_t session, stream_id;
	enum phase phase;
	bool started;                    /* the first poll came */
	bool kick;                       /* input changed something: poll at once */
	bool more;                       /* the last poll filled its frames: more is due */
	bool failed;                     /* no memory, or a frame would not encode: finish -1 */

	/* Resuming. */
	bool resume_flag;                /* OPENs carry SLP_F_RESUME */
	bool reopening;                  /* we lost the stream mid-document: any ACCEPT is a resume */
	uint64_t lost_at;                /* acked when the stream was lost, for messages */
	uint16_t lost_code;              /* and the REJECT code that told us */
	uint64_t busy_since;             /* first REJECT 4/10/12 to a resume OPEN in a row; 0 = none */
	unsigned stuck_resumes;          /* resumes in a row not beyond the previous one */

	/* Selective-repeat state. Byte positions, except where named *_frame. */
	uint64_t base;                   /* offset of frame 0: the ACCEPT position */
	uint64_t nframes;                /* frames from base to the end */
	struct frame_state *fs;          /* nframes entries (+1) */
	uint64_t acked;                  /* the appliance holds every byte before this */
	uint64_t durable;                /* ... and has persisted every line before this */
	uint64_t confirmed_hi;           /* highest acked told to on_confirmed */
	uint32_t window;                 /* bytes past acked we may send; 0 = pause */
	uint64_t next_frame;             /* first frame not sent whole */
	uint64_t sent_ever;              /* one past the highest byte sent in this stream, rewinds or not */
	uint64_t progress_ns;            /* when acked last moved (or the window reopened) */
	uint64_t rto_ns, rto_at;         /* no progress by rto_at: probe the frame at acked */
	uint64_t tlp_ns, tlp_at;         /* tail-loss probe interval (doubles) and when due */
	bool idle;                       /* paced, nothing in flight: clocks parked */
	uint64_t srtt_ns;                /* smoothed RTT; 0 = no sample yet */
	uint64_t open_sent_ns;           /* first OPEN, for the first RTT sample */
	unsigned opens_sent;

	/* NAK repairs decided by input, encoded by the next poll. */
	uint64_t *rq;
	size_t rq_n, rq_cap;

	uint64_t start_ns, heard_ns, ctl_at, progress_at;
	bool progress_shown;

	/* This poll's frames: bufs[0..nbufs), each allocated when a poll first
	 * needed that many (separately, so growing never moves a frame already
	 * handed out in this poll). */
	uint8_t **bufs;
	unsigned nbufs;
	struct iovec *out;               /* the caller's array during a poll */
	unsigned out_n, out_max;
};

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

void sl_send_reason(struct sl_send_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
}

/* acked moved, or the window reopened: restart the clocks. */
static void on_progress(struct sl_sender *s, uint64_t now)
{
	s->progress_ns = now;
	s->rto_ns = RTO_START_NS;
	s->rto_at = now + s->rto_ns;
	s->tlp_ns = max_u64(TLP_MIN_NS, 4 * s->srtt_ns);
	s->tlp_at = now + s->tlp_ns;
}

/* Everything ends here: the result is final, nothing more is sent. */
static int finish(struct sl_sender *s, int rc, uint64_t now);

/* ---- frames and positions -------------------------------------------- */

static uint64_t frame_start(const struct sl_sender *s, uint64_t k)
{
	return s->base + k * s->payload;
}

/* The frame holding byte pos (base <= pos < len). */
static uint64_t frame_of(const struct sl_sender *s, uint64_t pos)
{
	return (pos - s->base) / s->payload;
}

static size_t frame_len(const struct sl_sender *s, uint64_t k)
{
	uint64_t start = frame_start(s, k);
	return (size_t)min_u64(s->payload, s->len - start);
}

/* One past the highest byte ever sent (in this stream). */
static uint64_t sent_hi(const struct sl_sender *s)
{
	uint64_t hi = frame_start(s, s->next_frame);
	if (s->next_frame < s->nframes)
		hi += s->fs[s->next_frame].sent_len;    /* a paced prefix at the frontier */
	return min_u64(hi, s->len);
}

/* Bytes the caller lets us send by now. */
static uint64_t available(const struct sl_sender *s, uint64_t now)
{
	if (!s->paced)
		return s->len;
	return min_u64(s->o.available(s->o.available_arg, now), s->len);
}

/*
 * Could the appliance really have said this position and durable offset?
 * It counts contiguous bytes of whole frames from where it accepted us,
 * so the position is a frame boundary (or the end; or, when paced, the
 * end of a prefix we sent), at or past base, and it cannot exceed what we
 * sent; durable lines are a part of what it holds, so durable cannot
 * exceed the position. Anything else is a reply corrupted in flight
 * (control frames have no CRC) or a confused peer; moving `acked` on it
 * would skip bytes, so we ignore the frame.
 */
static bool position_plausible(const struct sl_sender *s, uint64_t pos, uint64_t durable)
{
	/* sent_ever, not sent_hi: frames rewound after SLP_F_BEYOND may have
	 * been kept after all, and then the position passes them. */
	if (pos < s->base || pos > s->sent_ever || durable > pos)
		return false;
	return (pos - s->base) % s->payload == 0 || pos == s->len || s->paced;
}

/* Tell the caller about newly confirmed bytes. After a resume acked goes
 * back to the durable offset and climbs again: count each byte once. */
static void confirm_upto(struct sl_sender *s, uint64_t pos)
{
	if (pos <= s->confirmed_hi)
		return;
	if (s->o.on_confirmed)
		s->o.on_confirmed(s->o.on_confirmed_arg, pos - s->confirmed_hi);
	s->confirmed_hi = pos;
}

/* The resend guard: how long one frame is left alone after a (re)send. */
static uint64_t nak_guard(const struct sl_sender *s)
{
	if (s->o.nak_guard_us)
		return s->o.nak_guard_us * US;
	/* A NAK sent less than one RTT after our resend left the appliance
	 * before the resend arrived: answering it again would be a storm. */
	return min_u64(max_u64(NAK_GUARD_MIN_NS, s->srtt_ns), NAK_GUARD_MAX_NS);
}

static void rtt_sample(struct sl_sender *s, uint64_t sample)
{
	if (s->srtt_ns == 0)
		s->srtt_ns = sample;
	else
		s->srtt_ns = (7 * s->srtt_ns + sample) / 8;
}

/* ---- progress -------------------------------------------------------- */

static void show_progress(struct sl_sender *s, uint64_t now, bool last)
{
	if (!s->o.progress)
		return;
	if (!last && now < s->progress_at)
		return;
	s->progress_at = now + PROGRESS_EVERY_NS;
	double secs = (double)(now - s->start_ns) / 1e9;
	double mb = (double)s->acked / 1e6;
	double pct = s->len ? 100.0 * (double)s->acked / (double)s->len : 100.0;
	fprintf(stderr, "\r%s/%s: %.1f of %.1f MB (%3.0f%%) %.1f MB/s  ",
		s->o.tenant, s->o.doc, mb, (double)s->len / 1e6, pct,
		secs > 0 ? mb / secs : 0.0);
	s->progress_shown = true;
	if (last)
		fputc('\n', stderr);
}

/* ---- emitting frames ------------------------------------------------- */

/* The next output buffer of this poll, or NULL when the caller's array is
 * full (or memory ran out, which finishes the sender). */
static uint8_t *out_buf(struct sl_sender *s)
{
	if (s->out_n >= s->out_max)
		return NULL;
	if (s->out_n >= s->nbufs) {
		uint8_t **nb = realloc(s->bufs, (size_t)(s->out_n + 1) * sizeof *s->bufs);
		uint8_t *b = malloc(SLP_MAX_FRAME);
		if (nb != NULL)
			s->bufs = nb;
		if (nb == NULL || b == NULL) {
			free(b);
			sl_send_reason(&s->res, "out of memory for frame buffers");
			s->failed = true;
			s->out_max = s->out_n;
			return NULL;
		}
		s->bufs[s->nbufs++] = b;
	}
	return s->bufs[s->out_n];
}

/* Account a frame encoded into out_buf; n == 0 is an encoder refusal (a bug). */
static bool out_commit(struct sl_sender *s, size_t n)
{
	if (n == 0) {
		sl_send_reason(&s->res, "internal error: could not encode a frame");
		s->failed = true;
		s->out_max = s->out_n;
		return false;
	}
	s->out[s->out_n].iov_base = s->bufs[s->out_n];
	s->out[s->out_n].iov_len = n;
	s->out_n++;
	s->res.datagrams++;
	return true;
}

static bool out_full(const struct sl_sender *s)
{
	return s->out_n >= s->out_max;
}

static bool emit_open(struct sl_sender *s, uint64_t now)
{
	uint8_t *b = out_buf(s);
	if (b == NULL)
		return false;
	uint16_t flags = s->resume_flag ? SLP_F_RESUME : 0;
	size_t n = slp_encode_open(b, SLP_MAX_FRAME, flags, s->session, s->o.revision,
				   s->o.tenant, strlen(s->o.tenant), s->o.token, strlen(s->o.token),
				   s->o.doc, strlen(s->o.doc));
	if (!out_commit(s, n))
		return false;
	if (s->opens_sent++ == 0)
		s->open_sent_ns = now;
	return true;
}

static bool emit_fin(struct sl_sender *s)
{
	uint8_t *b = out_buf(s);
	if (b == NULL)
		return false;
	size_t n = slp_encode_fin(b, SLP_MAX_FRAME, s->stream_id, s->session, s->len, s->crc);
	return out_commit(s, n);
}

/* Encode bytes [off, off + len) of the document as one DATA frame. */
static bool emit_range(struct sl_sender *s, uint64_t off, size_t len)
{
	uint8_t *b = out_buf(s);
	if (b == NULL)
		return false;
	size_t n = slp_encode_data(b, SLP_MAX_FRAME, s->stream_id, s->session, off, s->doc + off, len);
	return out_commit(s, n);
}

/* Encode frame k as the fs[k].sent_len bytes already decided. */
static bool emit_data(struct sl_sender *s, uint64_t k)
{
	return emit_range(s, frame_start(s, k), s->fs[k].sent_len);
}

/*
 * Note a (re)send of the first `len` bytes of frame k at now. New bytes
 * (a first send, or a longer paced prefix) start the frame's count of
 * sends afresh; the same bytes again are a retransmission.
 */
static void mark_sent(struct sl_sender *s, uint64_t k, size_t len, uint64_t now)
{
	struct frame_state *f = &s->fs[k];
	if (f->rewound) {
		/* Sent before and dropped past the window: a retransmission,
		 * and an ambiguous one (Karn): no RTT sample from it. */
		f->rewound = false;
		f->sent_len = (uint16_t)len;
		f->sends = 2;
		s->res.retransmits++;
	} else if (len > f->sent_len) {
		f->sent_len = (uint16_t)len;
		f->sends = 1;
	} else {
		f->sends++;
		s->res.retransmits++;
	}
	f->sent_ns = now;
	s->sent_ever = max_u64(s->sent_ever, frame_start(s, k) + f->sent_len);
	if (k >= s->next_frame && f->sent_len == frame_len(s, k))
		s->next_frame = k + 1;
	if (s->idle) {
		/* Something is in flight again: the clocks run from now. */
		s->idle = false;
		on_progress(s, now);
	}
}

/*
 * Send frame k (again) now, as long as it was sent before, or len bytes of
 * it. A paced frame that grows goes out as just its new bytes: the
 * appliance holds out-of-order frames by offset and drops a second frame
 * at an offset it already holds, so resending the whole longer prefix
 * after a loss would be dropped until the gap is repaired. (Repairs,
 * NAKed or probed, send the whole prefix from the frame's start.)
 */
static bool send_data(struct sl_sender *s, uint64_t k, size_t len, uint64_t now)
{
	if (out_full(s))
		return false;
	size_t old = s->fs[k].sent_len;
	mark_sent(s, k, len, now);
	if (old > 0 && len > old)
		return emit_range(s, frame_start(s, k) + old, len - old);
	return emit_data(s, k);
}

/* ---- the resend queue ------------------------------------------------ */

static bool rq_push(struct sl_sender *s, uint64_t k)
{
	if (s->fs[k].queued)
		return true;
	if (s->rq_n == s->rq_cap) {
		size_t cap = s->rq_cap ? 2 * s->rq_cap : 64;
		uint64_t *nq = realloc(s->rq, cap * sizeof *nq);
		if (nq == NULL)
			return false;
		s->rq = nq;
		s->rq_cap = cap;
	}
	s->rq[s->rq_n++] = k;
	s->fs[k].queued = true;
	return true;
}

static void rq_clear(struct sl_sender *s)
{
	for (size_t i = 0; i < s->rq_n; i++)
		s->fs[s->rq[i]].queued = false;
	s->rq_n = 0;
}

/* Encode queued repairs, oldest first, as far as the caller's array goes. */
static void rq_emit(struct sl_sender *s)
{
	size_t i = 0;
	while (i < s->rq_n && !out_full(s)) {
		uint64_t k = s->rq[i];
		if (!emit_data(s, k))
			break;
		s->fs[k].queued = false;
		i++;
	}
	if (i > 0 && s->rq_n > i)
		memmove(s->rq, s->rq + i, (s->rq_n - i) * sizeof *s->rq);
	s->rq_n -= i;
}

/* ---- timers and new data --------------------------------------------- */

/* Send the frame holding byte `acked` (RTO) or the highest frame sent (tail loss). */
static void probe(struct sl_sender *s, uint64_t k, size_t len, uint64_t now)
{
	if (len == 0)
		return;
	if (send_data(s, k, len, now))
		s->res.rto_probes++;
}

/*
 * Paced and nothing in flight (window open, everything sent is held):
 * the appliance owes us nothing, so silence is not an outage and no
 * probe is due until we send again (mark_sent restarts the clocks).
 */
static void check_idle(struct sl_sender *s, uint64_t now)
{
	if (!s->paced || s->window == 0 || sent_hi(s) > s->acked)
		return;
	s->idle = true;
	s->rto_at = s->tlp_at = NEVER;
	s->progress_ns = now;
	s->heard_ns = max_u64(s->heard_ns, now);
}

/* Timers, then new frames as far as the window, the caller's pacing and
 * the caller's array allow. */
static void pump(struct sl_sender *s, uint64_t now)
{
	uint64_t avail = available(s, now);
	uint64_t acked_frame = frame_of(s, s->acked);

	check_idle(s, now);
	if (now >= s->rto_at) {
		/* Nothing moved for one RTO: the frame at acked (or the reply to
		 * it) was lost, or the window is closed. One probe, not the
		 * window: whatever else is missing the appliance will NAK. */
		s->rto_ns = min_u64(s->rto_ns * 2, RTO_MAX_NS);
		s->rto_at = now + s->rto_ns;
		size_t plen = s->fs[acked_frame].sent_len;
		if (plen == 0)  /* never sent (window 0 at once): as much as may go */
			plen = (size_t)min_u64(frame_len(s, acked_frame),
					       avail > s->acked ? avail - frame_start(s, acked_frame) : 0);
		probe(s, acked_frame, plen, now);
	} else if (now >= s->tlp_at) {
		/* The probe or its answer may be lost too: try again, backing
		 * off, until the RTO takes over. One frame each time. */
		s->tlp_ns *= 2;
		s->tlp_at = now + s->tlp_ns < s->rto_at ? now + s->tlp_ns : NEVER;
		uint64_t hi = sent_hi(s);
		if (s->window > 0 && hi > s->acked) {
			uint64_t k = frame_of(s, hi - 1);
			probe(s, k, s->fs[k].sent_len, now);
		}
	}

	/* A frame goes out only if it ends inside the window, so any receiver
	 * keeps it; the frame at acked is the exception when the window is
	 * smaller than one frame (otherwise we could never move). Paced, the
	 * frontier frame goes out as the prefix that is available. */
	uint64_t limit = s->acked + s->window;
	while (!out_full(s)) {
		uint64_t k = s->next_frame;
		if (k >= s->nframes || s->window == 0)
			return;
		uint64_t start = frame_start(s, k);
		if (start >= avail)
			return;
		size_t want = (size_t)min_u64(frame_len(s, k), avail - start);
		if (want <= s->fs[k].sent_len)
			return;         /* this prefix is out already: wait for more */
		if (start + want > limit && start > s->acked)
			return;
		send_data(s, k, want, now);
		if (want < frame_len(s, k))
			return;         /* the frontier: nothing beyond is available */
	}
	s->more = true;
}

/* ---- receiving ------------------------------------------------------- */

/* ACCEPT (again), STATUS and NAK all carry position, window and durable. */
static void on_position(struct sl_sender *s, uint64_t pos, uint32_t window, uint64_t durable,
			uint64_t now)
{
	if (pos < s->acked)
		return;         /* an old reply overtaken by a newer one */
	if (durable > s->durable)
		s->durable = durable;
	bool reopened = s->window == 0 && window > 0;
	s->window = window;
	if (pos > s->acked) {
		/*
		 * The RTT sample comes from the frame at the old acked: its
		 * arrival is what moved the position. (The frame just below pos
		 * may have waited in the reorder window for a repair, which says
		 * nothing about the path; sampling it inflates the RTT, and with
		 * it the NAK guard, until NAKs go unanswered.) Karn: only a frame
		 * sent once gives an honest sample.
		 */
		const struct frame_state *f = &s->fs[frame_of(s, s->acked)];
		if (f->sends == 1 && now > f->sent_ns)
			rtt_sample(s, now - f->sent_ns);
		s->acked = pos;
		if (pos < s->len && frame_start(s, s->next_frame) < pos)
			s->next_frame = frame_of(s, pos);   /* past frames we had rewound */
		else if (pos == s->len)
			s->next_frame = max_u64(s->next_frame, s->nframes);
		confirm_upto(s, pos);
		on_progress(s, now);
	} else if (reopened) {
		on_progress(s, now);
	}
}

/*
 * SLP_F_BEYOND: the appliance dropped DATA that started past position +
 * window. Every frame starting at or past acked + window is sent again
 * (those it did keep are then duplicates it drops: cheap, and rare, since
 * a sender overruns only a window it misread). Queued repairs of those
 * frames go too: the new sends cover them.
 */
static void rewind_beyond(struct sl_sender *s)
{
	uint64_t edge = s->acked + s->window;
	if (edge >= sent_hi(s))
		return;
	uint64_t k0 = edge <= s->base ? 0 : (edge - s->base + s->payload - 1) / s->payload;
	uint64_t hi = s->next_frame;
	if (hi < s->nframes && s->fs[hi].sent_len > 0)
		hi++;           /* a paced prefix at the frontier */
	if (k0 >= hi)
		return;
	for (uint64_t k = k0; k < hi; k++) {
		struct frame_state *f = &s->fs[k];
		if (f->sent_len > 0)
			f->rewound = true;
		f->sent_len = 0;
		f->sent_ns = 0;
	}
	size_t kept = 0;
	for (size_t i = 0; i < s->rq_n; i++) {
		if (s->rq[i] < k0)
			s->rq[kept++] = s->rq[i];
		else
			s->fs[s->rq[i]].queued = false;
	}
	s->rq_n = kept;
	s->next_frame = k0;
	s->res.rewinds++;
}

/* Queue the frames covering [gap, gap + gap_len) that are due for a resend. */
static int on_nak(struct sl_sender *s, uint64_t gap, uint32_t gap_len, uint64_t now)
{
	if (gap_len == 0 || gap >= s->len)
		return 0;
	uint64_t end = min_u64(gap + gap_len, sent_hi(s));
	gap = max_u64(gap, s->acked);
	if (gap >= end)
		return 0;
	uint64_t first = frame_of(s, gap), last = frame_of(s, end - 1);
	if (last - first >= NAK_RESEND_MAX)
		last = first + NAK_RESEND_MAX - 1;
	uint64_t guard = nak_guard(s);
	for (uint64_t k = first; k <= last; k++) {
		if (s->fs[k].sent_len == 0 || now - s->fs[k].sent_ns < guard)
			continue;       /* resent recently: the NAK crossed it */
		if (!rq_push(s, k)) {
			sl_send_reason(&s->res, "out of memory for the resend queue");
			return -1;
		}
		mark_sent(s, k, s->fs[k].sent_len, now);
	}
	return 0;
}

static int finish_refused(struct sl_sender *s, uint16_t code, const char *reason, size_t rlen)
{
	s->res.code = code;
	if (rlen)
		sl_send_reason(&s->res, "%.*s", (int)rlen, reason);
	else
		sl_send_reason(&s->res, "%s", slp_code_str((enum slp_code)code));
	return 1;
}

/*
 * A DONE's counts must add up: every line is ok or an error once the
 * document is complete, and no more than that when it failed part way.
 * Anything else cannot be the appliance's word: ignore it (the appliance
 * answers the next FIN again) rather than report counts that are wrong.
 */
static bool done_plausible(const struct slp_frame *f)
{
	uint64_t lines = f->u.done.lines, ok = f->u.done.ok, errors = f->u.done.errors;
	if (ok > lines || errors > lines - ok)
		return false;
	return f->u.done.code != SLP_OK || ok + errors == lines;
}

/* DONE: the final word on the document, with its line counts. */
static int finish_done(struct sl_sender *s, const struct slp_frame *f)
{
	s->res.lines = f->u.done.lines;
	s->res.ok = f->u.done.ok;
	s->res.errors = f->u.done.errors;
	if (f->u.done.code != SLP_OK)
		return finish_refused(s, f->u.done.code, f->u.done.reason, f->u.done.reason_len);
	s->res.code = SLP_OK;
	/* A DONE answering a resume OPEN covers bytes this run never sent. */
	s->acked = s->len;
	confirm_upto(s, s->len);
	sl_send_reason(&s->res, "ok");
	return 0;
}

/* A fresh random session, different from the current one. */
static int new_session(struct sl_sender *s)
{
	uint32_t old = s->session;
	do {
		if (getrandom(&s->session, sizeof s->session, 0) != sizeof s->session) {
			char eb[128];
			sl_send_reason(&s->res, "cannot pick a random session id: %s",
				   strerror_r(errno, eb, sizeof eb));
			return -1;
		}
	} while (s->session == old);
	s->opens_sent = 0;
	return 0;
}

/*
 * The appliance lost our stream (REJECT 6: it restarted and forgot it;
 * REJECT 10: it is stopping). Go back to OPEN, now with RESUME, under a
 * new session: every reply still in flight for the old stream then fails
 * the session check instead of being mistaken for an answer. The first
 * OPEN goes out at once; the timeout keeps counting from the last frame
 * heard, so an appliance that never comes back still fails the send.
 */
static int lose_stream(struct sl_sender *s, uint16_t code, uint64_t now)
{
	s->lost_at = s->acked;
	s->lost_code = code;
	s->phase = PHASE_OPEN;
	s->resume_flag = true;
	s->reopening = true;
	s->busy_since = 0;
	s->window = 0;
	s->idle = false;
	s->ctl_at = now;
	rq_clear(s);
	return new_session(s);
}

/*
 * REJECT 4, 10 or 12 to a resume OPEN: the old stream of this document
 * may still be open on the appliance (it lingers until it idles out), or
 * the appliance is still stopping. Try again every 200 ms, each time with
 * a new session (the appliance answers a repeated OPEN of the same session
 * with the same REJECT), until the timeout has passed since the first of
 * these refusals.
 */
static int open_busy(struct sl_sender *s, const struct slp_frame *f, uint64_t now)
{
	if (s->busy_since == 0) {
		s->busy_since = now;
	} else if (now - s->busy_since >= s->timeout_ns) {
		s->res.code = f->u.reject.code;
		sl_send_reason(&s->res, "%s still refuses to resume after %u ms: %.*s (code %u); "
			   "another stream of this document may still be open there, retry later",
			   s->peer, (unsigned)(s->timeout_ns / MS), (int)f->u.reject.reason_len,
			   f->u.reject.reason, f->u.reject.code);
		return 1;
	}
	if (new_session(s) < 0)
		return -1;
	s->ctl_at = now + CTL_RESEND_NS;
	return 2;
}

/*
 * ACCEPT to our OPEN: the stream starts at the appliance's position, 0
 * for a new revision or the durable offset X for a resumed one. Frames
 * are cut from there (X need not be a multiple of the payload size), and
 * everything we knew about frames in flight belongs to the old stream.
 */
static int on_accept(struct sl_sender *s, const struct slp_frame *f, uint64_t now)
{
	uint64_t pos = f->u.status.position, durable = f->u.status.durable;
	/* A plain OPEN starts a new revision at a frame boundary (normally 0);
	 * a resume OPEN may start anywhere up to the end. */
	bool boundary = pos % s->payload == 0 || pos == s->len;
	if (pos > s->len || durable > pos || (!s->resume_flag && !boundary)) {
		s->res.ignored++;
		return 2;
	}
	if (s->resume_flag && (s->reopening || pos > 0)) {
		/* An appliance that crashes on some line resumes at the same
		 * place over and over: do not loop forever. */
		if (s->res.resumes > 0 && pos <= s->res.resumed_from)
			s->stuck_resumes++;
		else
			s->stuck_resumes = 0;
		if (s->stuck_resumes >= RESUME_SAME_POINT_MAX) {
			sl_send_reason(&s->res, "%s restarted %u times in a row without making durable "
				   "anything past byte %" PRIu64 " of %" PRIu64 ": the lines after it "
				   "may be what brings it down; see its log", s->peer,
				   s->stuck_resumes + 1, pos, s->len);
			return -1;
		}
		s->res.resumes++;
		s->res.resumed_from = pos;
	}
	s->stream_id = f->h.stream_id;
	s->base = pos;
	s->acked = pos;
	s->sent_ever = pos;
	s->durable = durable;
	/* Never more frames than from offset 0, which s->fs was sized for. */
	s->nframes = (s->len - pos + s->payload - 1) / s->payload;
	rq_clear(s);
	memset(s->fs, 0, (s->nframes + 1) * sizeof *s->fs);
	s->next_frame = 0;
	s->window = f->u.status.window;
	s->phase = PHASE_DATA;
	s->reopening = false;
	s->busy_since = 0;
	s->idle = false;
	if (s->opens_sent == 1)
		rtt_sample(s, now - s->open_sent_ns);
	on_progress(s, now);
	confirm_upto(s, pos);
	return 2;
}

/*
 * Handle one datagram. Returns 2 to keep going, or the final result
 * (0 confirmed, 1 refused, -1 local failure) of sl_send_document.
 */
static int on_frame(struct sl_sender *s, const uint8_t *buf, size_t n, uint64_t now)
{
	struct slp_frame f;
	enum slp_decode_err e = slp_decode(buf, n, &f);
	if (e == SLP_DEC_CHECKSUM) {
		s->res.corrupt++;
		return 2;       /* corrupted in flight: as if lost */
	}
	if (e != SLP_DEC_OK || f.h.session != s->session)
		return 2;       /* not for us: a stray datagram or an old session */
	if (s->phase != PHASE_OPEN && f.h.type != SLP_REJECT && f.h.stream_id != s->stream_id) {
		s->res.ignored++;
		return 2;       /* our session but not our stream: corrupted */
	}
	s->heard_ns = now;
	s->kick = true;

	switch (f.h.type) {
	case SLP_ACCEPT:
		if (s->phase == PHASE_OPEN)
			return on_accept(s, &f, now);
		/* A duplicate ACCEPT (we sent OPEN more than once) is a STATUS. */
		/* fall through */
	case SLP_STATUS:
		if (s->phase == PHASE_OPEN)
			return 2;       /* no stream yet: nothing it could be about */
		if (!position_plausible(s, f.u.status.position, f.u.status.durable)) {
			s->res.ignored++;
			return 2;
		}
		on_position(s, f.u.status.position, f.u.status.window, f.u.status.durable, now);
		if ((f.h.flags & SLP_F_BEYOND) && f.h.type == SLP_STATUS && s->phase == PHASE_DATA &&
		    f.u.status.position == s->acked)
			rewind_beyond(s);
		return 2;
	case SLP_NAK:
		s->res.naks_received++;
		if (s->phase == PHASE_OPEN)
			return 2;
		if (!position_plausible(s, f.u.nak.position, f.u.nak.durable)) {
			s->res.ignored++;
			return 2;
		}
		on_position(s, f.u.nak.position, f.u.nak.window, f.u.nak.durable, now);
		if (s->phase != PHASE_DATA)
			return 2;
		return on_nak(s, f.u.nak.gap_offset, f.u.nak.gap_len, now) < 0 ? -1 : 2;
	case SLP_REJECT: {
		uint16_t code = f.u.reject.code;
		if (s->phase != PHASE_OPEN &&
		    (code == SLP_E_UNKNOWN_STREAM || code == SLP_E_SHUTDOWN)) {
			/* The appliance restarted or is stopping: resume, not fail. */
			if (f.h.stream_id != s->stream_id) {
				s->res.ignored++;
				return 2;
			}
			return lose_stream(s, code, now) < 0 ? -1 : 2;
		}
		if (s->phase == PHASE_OPEN && s->resume_flag &&
		    (code == SLP_E_TOO_MANY_STREAMS || code == SLP_E_TENANT_STREAMS ||
		     code == SLP_E_SHUTDOWN))
			return open_busy(s, &f, now);
		return finish_refused(s, code, f.u.reject.reason, f.u.reject.reason_len);
	}
	case SLP_DONE:
		if (!done_plausible(&f)) {
			s->res.ignored++;
			return 2;
		}
		if (s->phase == PHASE_OPEN) {
			/* To a resume OPEN: this revision completed before (perhaps
			 * its DONE to us was lost), and this is its result. To a
			 * plain OPEN a DONE means nothing. */
			return s->resume_flag ? finish_done(s, &f) : 2;
		}
		if (f.u.done.code != SLP_OK)
			return finish_done(s, &f);
		if (s->phase != PHASE_FIN)
			return 2;       /* a document cannot be complete before FIN */
		return finish_done(s, &f);
	default:
		return 2;       /* sender-side frame types: not ours to handle */
	}
}

/* ---- failures over time ---------------------------------------------- */

static int timed_out(struct sl_sender *s)
{
	unsigned ms = (unsigned)(s->timeout_ns / MS);
	const char *hint = s->refused ?
		" (the host answered 'port unreachable': nothing listens on that port)" : "";
	if (s->phase == PHASE_OPEN && s->reopening)
		sl_send_reason(&s->res, "%s lost the stream at byte %" PRIu64 " of %" PRIu64
			   " (REJECT %u) and did not answer the resume OPEN for %u ms; when it is "
			   "back, resend with --resume, same revision%s", s->peer, s->lost_at, s->len,
			   s->lost_code, ms, hint);
	else if (s->phase == PHASE_OPEN)
		sl_send_reason(&s->res, "no answer from %s after %u ms: is sluiced running and the "
			   "address right?%s", s->peer, ms, hint);
	else
		sl_send_reason(&s->res, "%s stopped answering for %u ms (%" PRIu64 " of %" PRIu64
			   " bytes confirmed, %" PRIu64 " durable); when it is back, resend with "
			   "--resume, same revision%s", s->peer, ms, s->acked, s->len, s->durable,
			   hint);
	return -1;
}

static int stalled(struct sl_sender *s)
{
	sl_send_reason(&s->res, "%s keeps answering but has not taken byte %" PRIu64 " for %u ms "
		   "although its window is open (%" PRIu64 " of %" PRIu64 " bytes confirmed): "
		   "appliance fault? its rx drop counters may say why", s->peer, s->acked,
		   (unsigned)(s->timeout_ns / MS), s->acked, s->len);
	return -1;
}

static int finish(struct sl_sender *s, int rc, uint64_t now)
{
	s->rc = rc;
	s->phase = PHASE_DONE;
	rq_clear(s);
	s->res.bytes = s->acked;
	s->res.seconds = s->started ? (double)(now - s->start_ns) / 1e9 : 0.0;
	if (s->progress_shown)
		show_progress(s, now, true);
	return 1;
}

/* ---- the interface --------------------------------------------------- */

unsigned sl_sender_poll(struct sl_sender *s, uint64_t now, struct iovec *frames, unsigned max)
{
	if (s->phase == PHASE_DONE)
		return 0;
	if (!s->started) {
		s->started = true;
		s->start_ns = s->heard_ns = s->ctl_at = now;
	}
	s->kick = false;
	s->more = false;
	s->out = frames;
	s->out_n = 0;
	s->out_max = max;

	/* An outage (appliance restarting its port, a paused path) is
	 * survived as long as something is heard within timeout_ms. */
	if (s->phase == PHASE_DATA)
		check_idle(s, now);
	if (now - s->heard_ns >= s->timeout_ns) {
		finish(s, timed_out(s), now);
		return 0;
	}
	/* The opposite failure: the appliance answers, its window is open,
	 * yet it has not taken the byte at acked for as long. Probing
	 * forever would hide a broken peer; a closed window (back-pressure)
	 * is a legitimate reason to wait and does not count. */
	if (s->phase == PHASE_DATA && s->window > 0 && now - s->progress_ns >= s->timeout_ns) {
		finish(s, stalled(s), now);
		return 0;
	}

	if (s->phase == PHASE_DATA && s->acked == s->len) {
		s->phase = PHASE_FIN;
		s->ctl_at = now;
		rq_clear(s);
	}
	if (s->phase == PHASE_DATA) {
		rq_emit(s);
		if (s->rq_n > 0)
			s->more = true;
		else
			pump(s, now);
	} else if (now >= s->ctl_at) {
		if (s->phase == PHASE_OPEN ? emit_open(s, now) : emit_fin(s))
			s->ctl_at = now + CTL_RESEND_NS;
		else if (s->out_max > 0)
			s->more = true;
	}
	if (s->failed) {
		finish(s, -1, now);
		return 0;
	}
	show_progress(s, now, false);
	return s->out_n;
}

int sl_sender_input(struct sl_sender *s, const uint8_t *dgram, size_t len, uint64_t now)
{
	if (s->phase == PHASE_DONE)
		return 1;
	if (!s->started)
		return 0;       /* nothing sent yet: it cannot be an answer */
	int r = on_frame(s, dgram, len, now);
	if (r != 2)
		return finish(s, r, now);
	return 0;
}

uint32_t sl_sender_session(const struct sl_sender *s)
{
	return s->session;
}

uint64_t sl_sender_next_deadline(const struct sl_sender *s)
{
	if (s->phase == PHASE_DONE)
		return NEVER;
	if (!s->started || s->kick || s->more)
		return 0;
	uint64_t wake = s->heard_ns + s->timeout_ns;
	if (s->phase == PHASE_DATA) {
		wake = min_u64(wake, min_u64(s->rto_at, s->tlp_at));
		if (s->window > 0 && !s->idle)
			wake = min_u64(wake, s->progress_ns + s->timeout_ns);
	} else {
		wake = min_u64(wake, s->ctl_at);
	}
	if (s->o.progress)
		wake = min_u64(wake, s->progress_at);
	return wake;
}

int sl_sender_done(const struct sl_sender *s, struct sl_send_result *res)
{
	if (s->phase != PHASE_DONE)
		return 0;
	if (res != NULL)
		*res = s->res;
	return 1;
}

int sl_sender_rc(const struct sl_sender *s)
{
	return s->phase == PHASE_DONE ? s->rc : -1;
}

const struct sl_send_result *sl_sender_stats(const struct sl_sender *s)
{
	return &s->res;
}

void sl_sender_abort(struct sl_sender *s, const char *reason)
{
	if (s->phase == PHASE_DONE)
		return;
	sl_send_reason(&s->res, "%s", reason);
	s->res.code = -1;
	finish(s, -1, s->heard_ns);
}

void sl_sender_unreachable(struct sl_sender *s)
{
	s->refused = true;
}

/* ---- set-up ---------------------------------------------------------- */

static int check_opts(const struct sl_send_opts *o, const void *doc, size_t len,
		      char *err, size_t errlen)
{
	static const struct { const char *what; size_t max; } limits[] = {
		{ "tenant name", SLP_NAME_MAX }, { "token", SLP_TOKEN_MAX },
		{ "document name", SLP_NAME_MAX },
	};
	const char *vals[] = { o->tenant, o->token, o->doc };
	for (int i = 0; i < 3; i++) {
		size_t l = vals[i] ? strlen(vals[i]) : 0;
		if (l < 1 || l > limits[i].max) {
			snprintf(err, errlen, "%s must be 1 to %zu bytes long (got %zu)",
				 limits[i].what, limits[i].max, l);
			return -1;
		}
	}
	if (o->payload > SLP_MAX_PAYLOAD) {
		snprintf(err, errlen, "payload of %" PRIu32 " bytes per datagram is too large: "
			 "at most %u fit in one SLP frame", o->payload, SLP_MAX_PAYLOAD);
		return -1;
	}
	if (doc == NULL && len > 0) {
		snprintf(err, errlen, "document pointer is NULL but its length is %zu", len);
		return -1;
	}
	return 0;
}

struct sl_sender *sl_sender_new(const struct sl_send_opts *o, const void *doc, size_t len,
				char *err, size_t errlen)
{
	if (check_opts(o, doc, len, err, errlen) < 0)
		return NULL;
	struct sl_sender *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory for a sender");
		return NULL;
	}
	s->o = *o;
	s->res.code = -1;       /* local failure until the appliance says otherwise */
	s->doc = doc;
	s->len = len;
	s->paced = o->available != NULL;
	s->payload = o->payload ? o->payload : DEFAULT_PAYLOAD;
	s->timeout_ns = (uint64_t)(o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS) * MS;
	if (o->host != NULL && o->host[0] != '\0')
		snprintf(s->peer, sizeof s->peer, "%s:%u", o->host, o->port);
	else
		snprintf(s->peer, sizeof s->peer, "the appliance");
	s->phase = PHASE_OPEN;
	s->resume_flag = o->resume != 0;
	s->rto_at = s->tlp_at = NEVER;

	s->nframes = (len + s->payload - 1) / s->payload;
	/* One extra entry so an empty document still has a frame_state to index. */
	s->fs = calloc(s->nframes + 1, sizeof *s->fs);
	if (s->fs == NULL) {
		snprintf(err, errlen, "out of memory for the state of %" PRIu64 " frames", s->nframes);
		free(s);
		return NULL;
	}
	if (new_session(s) < 0) {
		snprintf(err, errlen, "%s", s->res.reason);
		sl_sender_free(s);
		return NULL;
	}
	s->crc = slp_crc32c(0, doc, len);
	return s;
}

void sl_sender_free(struct sl_sender *s)
{
	if (s == NULL)
		return;
	free(s->fs);
	free(s->rq);
	for (unsigned i = 0; i < s->nbufs; i++)
		free(s->bufs[i]);
	free(s->bufs);
	free(s);
}
