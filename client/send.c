/*
 * send.c — the SLP sender library: one document to one appliance over
 * kernel UDP (see docs/protocol.md for the protocol and the sender's
 * rules, dataplane/slp.h for the frames).
 *
 * The whole exchange is one loop around poll() on one connected socket:
 *
 *   OPEN    resend OPEN every 200 ms until ACCEPT or REJECT;
 *   DATA    selective repeat. The document is cut into frames at fixed
 *           offsets base + k * payload (base is where the appliance told
 *           us to start: 0, or a resume offset). New frames go out while
 *           they fit in the appliance's window (acked .. acked + window). The appliance
 *           keeps out-of-order frames and NAKs the byte ranges it misses:
 *           we resend exactly the frames covering a NAKed range, each at
 *           most once per nak_guard so a repeated NAK cannot cause a
 *           storm. If `acked` does not move for one RTO we resend only the
 *           frame at `acked` (a probe), doubling the RTO up to 2 s;
 *   FIN     resend FIN every 200 ms until DONE.
 *
 * Resuming. The appliance reports `durable` in every ACCEPT, STATUS and
 * NAK: the leading bytes whose lines it has persisted. If it restarts it
 * forgets the stream and answers our next DATA or FIN with REJECT 6
 * (UNKNOWN_STREAM), or says REJECT 10 (SHUTDOWN) on its way down. Neither
 * is final once data has started: we go back to OPEN with the RESUME flag
 * under a new session (replies still in flight for the old one are then
 * ignored), every 200 ms, and the appliance answers with ACCEPT at the
 * offset it made durable (we re-cut the frames from there and send the
 * rest, then FIN for the whole document as usual), or with the DONE of a
 * revision that had already completed. While it is down we hear nothing
 * and keep probing as for any outage, so the probe is what meets the
 * restarted appliance and draws the REJECT 6.
 *
 * A tail-loss probe covers the case the NAK cannot: when the last frames
 * of a burst are lost the appliance holds nothing beyond the gap, so it
 * sees no gap (and a lost STATUS leaves a window-limited sender waiting).
 * After a few RTTs without progress (at least 10 ms, doubling while
 * nothing moves, until the RTO is nearer) we resend the highest frame
 * sent; if it lands beyond a gap the appliance NAKs the gap, and in any
 * case it answers with a STATUS.
 *
 * Control frames carry no CRC of their own (only DATA payloads do), so a
 * reply is checked for plausibility before it moves anything: positions
 * are always frame boundaries and never beyond what we sent, and durable
 * is never beyond the position.
 *
 * All state lives in a struct sender on the caller's stack (plus one
 * per-frame array on the heap): no globals, so several threads may send
 * several documents at once.
 */
#include "sluice/send.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/slp.h"

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
#define BURST 32                         /* new DATA frames per loop turn: read replies in between */
#define PROGRESS_EVERY_NS (250 * MS)
#define RCVBUF_BYTES (1 << 20)           /* a burst of STATUS replies must not overflow */
#define SNDBUF_BYTES (4 << 20)
#define RESUME_SAME_POINT_MAX 8          /* resumes in a row that make no headway: give up */

enum phase { PHASE_OPEN, PHASE_DATA, PHASE_FIN };

/* What we remember about each frame of the document. */
struct frame_state {
	uint64_t sent_ns;                /* last (re)transmission; 0 = never sent */
	uint32_t sends;                  /* transmissions: an RTT sample needs exactly 1 */
};

struct sender {
	const struct sl_send_opts *o;
	struct sl_send_result *res;
	const uint8_t *doc;
	uint64_t len;
	uint32_t crc;                    /* CRC32C of the whole document, for FIN */
	uint32_t payload;
	uint64_t timeout_ns;
	char peer[300];                  /* "host:port", for messages */
	int fd;
	bool refused;                    /* the kernel saw ICMP port unreachable */

	uint32_t session, stream_id;
	enum phase phase;

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
	uint64_t next_frame;             /* first frame never sent */
	uint64_t progress_ns;            /* when acked last moved (or the window reopened) */
	uint64_t rto_ns, rto_at;         /* no progress by rto_at: probe the frame at acked */
	uint64_t tlp_ns, tlp_at;         /* tail-loss probe interval (doubles) and when due */
	uint64_t srtt_ns;                /* smoothed RTT; 0 = no sample yet */
	uint64_t open_sent_ns;           /* first OPEN, for the first RTT sample */
	unsigned opens_sent;

	uint64_t start_ns, heard_ns, ctl_at, progress_at;
	bool progress_shown;

	uint8_t frame[SLP_MAX_FRAME];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void set_reason(struct sl_send_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_reason(struct sl_send_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
}

/* strerror() is not thread-safe; this library may run in several threads. */
static const char *errstr(int err, char *buf, size_t cap)
{
	return strerror_r(err, buf, cap);    /* GNU variant: returns the message */
}

/* ---- frames and positions -------------------------------------------- */

static uint64_t frame_start(const struct sender *s, uint64_t k)
{
	return s->base + k * s->payload;
}

/* The frame holding byte pos (base <= pos < len). */
static uint64_t frame_of(const struct sender *s, uint64_t pos)
{
	return (pos - s->base) / s->payload;
}

static size_t frame_len(const struct sender *s, uint64_t k)
{
	uint64_t start = frame_start(s, k);
	return (size_t)min_u64(s->payload, s->len - start);
}

/* One past the highest byte ever sent. */
static uint64_t sent_hi(const struct sender *s)
{
	return min_u64(frame_start(s, s->next_frame), s->len);
}

/*
 * Could the appliance really have said this position and durable offset?
 * It counts contiguous bytes of whole frames from where it accepted us,
 * so the position is a frame boundary (or the end), at or past base, and
 * it cannot exceed what we sent; durable lines are a part of what it
 * holds, so durable cannot exceed the position. Anything else is a reply
 * corrupted in flight (control frames have no CRC) or a confused peer;
 * moving `acked` on it would skip bytes, so we ignore the frame.
 */
static bool position_plausible(const struct sender *s, uint64_t pos, uint64_t durable)
{
	if (pos < s->base || pos > sent_hi(s) || durable > pos)
		return false;
	return (pos - s->base) % s->payload == 0 || pos == s->len;
}

/* Tell the caller about newly confirmed bytes. After a resume acked goes
 * back to the durable offset and climbs again: count each byte once. */
static void confirm_upto(struct sender *s, uint64_t pos)
{
	if (pos <= s->confirmed_hi)
		return;
	if (s->o->on_confirmed)
		s->o->on_confirmed(s->o->on_confirmed_arg, pos - s->confirmed_hi);
	s->confirmed_hi = pos;
}

/* The resend guard: how long one frame is left alone after a (re)send. */
static uint64_t nak_guard(const struct sender *s)
{
	if (s->o->nak_guard_us)
		return s->o->nak_guard_us * US;
	/* A NAK sent less than one RTT after our resend left the appliance
	 * before the resend arrived: answering it again would be a storm. */
	return min_u64(max_u64(NAK_GUARD_MIN_NS, s->srtt_ns), NAK_GUARD_MAX_NS);
}

static void rtt_sample(struct sender *s, uint64_t sample)
{
	if (s->srtt_ns == 0)
		s->srtt_ns = sample;
	else
		s->srtt_ns = (7 * s->srtt_ns + sample) / 8;
}

/* ---- progress -------------------------------------------------------- */

static void show_progress(struct sender *s, uint64_t now, bool last)
{
	if (!s->o->progress)
		return;
	if (!last && now < s->progress_at)
		return;
	s->progress_at = now + PROGRESS_EVERY_NS;
	double secs = (double)(now - s->start_ns) / 1e9;
	double mb = (double)s->acked / 1e6;
	double pct = s->len ? 100.0 * (double)s->acked / (double)s->len : 100.0;
	fprintf(stderr, "\r%s/%s: %.1f of %.1f MB (%3.0f%%) %.1f MB/s  ",
		s->o->tenant, s->o->doc, mb, (double)s->len / 1e6, pct,
		secs > 0 ? mb / secs : 0.0);
	s->progress_shown = true;
	if (last)
		fputc('\n', stderr);
}

/* ---- sending --------------------------------------------------------- */

/* Send one frame. Losses (full buffers, ICMP errors) are the protocol's
 * business; only errors that no retry can fix end the transfer. */
static int send_frame(struct sender *s, size_t n)
{
	if (n == 0) {
		set_reason(s->res, "internal error: could not encode a frame");
		return -1;
	}
	for (;;) {
		if (send(s->fd, s->frame, n, 0) >= 0) {
			s->res->datagrams++;
			return 0;
		}
		switch (errno) {
		case EINTR:
			continue;
		case ECONNREFUSED:
			s->refused = true;
			return 0;
		case EAGAIN: case ENOBUFS: case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN:
		case ENETDOWN:
			return 0;       /* counts as a lost datagram */
		default: {
			char eb[128];
			set_reason(s->res, "cannot send to %s: %s", s->peer,
				   errstr(errno, eb, sizeof eb));
			return -1;
		}
		}
	}
}

static int send_open(struct sender *s, uint64_t now)
{
	const struct sl_send_opts *o = s->o;
	uint16_t flags = s->resume_flag ? SLP_F_RESUME : 0;
	size_t n = slp_encode_open(s->frame, sizeof s->frame, flags, s->session, o->revision,
				   o->tenant, strlen(o->tenant), o->token, strlen(o->token),
				   o->doc, strlen(o->doc));
	if (s->opens_sent++ == 0)
		s->open_sent_ns = now;
	return send_frame(s, n);
}

static int send_fin(struct sender *s)
{
	size_t n = slp_encode_fin(s->frame, sizeof s->frame, s->stream_id, s->session,
				  s->len, s->crc);
	return send_frame(s, n);
}

/* (Re)send frame k. */
static int send_data(struct sender *s, uint64_t k, uint64_t now)
{
	uint64_t off = frame_start(s, k);
	size_t fl = slp_encode_data(s->frame, sizeof s->frame, s->stream_id, s->session,
				    off, s->doc + off, frame_len(s, k));
	struct frame_state *f = &s->fs[k];
	if (f->sends > 0)
		s->res->retransmits++;
	f->sends++;
	f->sent_ns = now;
	if (k >= s->next_frame)
		s->next_frame = k + 1;
	return send_frame(s, fl);
}

/* acked moved, or the window reopened: restart the clocks. */
static void on_progress(struct sender *s, uint64_t now)
{
	s->progress_ns = now;
	s->rto_ns = RTO_START_NS;
	s->rto_at = now + s->rto_ns;
	s->tlp_ns = max_u64(TLP_MIN_NS, 4 * s->srtt_ns);
	s->tlp_at = now + s->tlp_ns;
}

/* Send the frame holding byte `acked` (RTO) or the highest frame sent (tail loss). */
static int probe(struct sender *s, uint64_t k, uint64_t now)
{
	s->res->rto_probes++;
	return send_data(s, k, now);
}

/*
 * Timers, then new frames as far as the window allows (at most BURST).
 * Returns -1 on a fatal error, 1 if more could be sent right away, 0
 * otherwise.
 */
static int pump(struct sender *s, uint64_t now)
{
	uint64_t acked_frame = frame_of(s, s->acked);

	if (now >= s->rto_at) {
		/* Nothing moved for one RTO: the frame at acked (or the reply to
		 * it) was lost, or the window is closed. One probe, not the
		 * window: whatever else is missing the appliance will NAK. */
		s->rto_ns = min_u64(s->rto_ns * 2, RTO_MAX_NS);
		s->rto_at = now + s->rto_ns;
		if (probe(s, acked_frame, now) < 0)
			return -1;
	} else if (now >= s->tlp_at) {
		/* The probe or its answer may be lost too: try again, backing
		 * off, until the RTO takes over. One frame each time. */
		s->tlp_ns *= 2;
		s->tlp_at = now + s->tlp_ns < s->rto_at ? now + s->tlp_ns : UINT64_MAX;
		if (s->window > 0 && s->next_frame > acked_frame &&
		    probe(s, s->next_frame - 1, now) < 0)
			return -1;
	}

	/* A frame goes out only if it ends inside the window, so any receiver
	 * keeps it; the frame at acked is the exception when the window is
	 * smaller than one frame (otherwise we could never move). */
	uint64_t limit = s->acked + s->window;
	for (int i = 0; i < BURST; i++) {
		uint64_t k = s->next_frame;
		if (k >= s->nframes || s->window == 0)
			return 0;
		uint64_t start = frame_start(s, k);
		if (start + frame_len(s, k) > limit && start > s->acked)
			return 0;
		if (send_data(s, k, now) < 0)
			return -1;
	}
	return 1;
}

/* ---- receiving ------------------------------------------------------- */

/* ACCEPT (again), STATUS and NAK all carry position, window and durable. */
static void on_position(struct sender *s, uint64_t pos, uint32_t window, uint64_t durable,
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
		confirm_upto(s, pos);
		on_progress(s, now);
	} else if (reopened) {
		on_progress(s, now);
	}
}

/* Resend the frames covering [gap, gap + gap_len) that are due. */
static int on_nak(struct sender *s, uint64_t gap, uint32_t gap_len, uint64_t now)
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
		if (now - s->fs[k].sent_ns < guard)
			continue;       /* resent recently: the NAK crossed it */
		if (send_data(s, k, now) < 0)
			return -1;
	}
	return 0;
}

static int finish_refused(struct sender *s, uint16_t code, const char *reason, size_t rlen)
{
	s->res->code = code;
	if (rlen)
		set_reason(s->res, "%.*s", (int)rlen, reason);
	else
		set_reason(s->res, "%s", slp_code_str((enum slp_code)code));
	return 1;
}

/* DONE: the final word on the document, with its line counts. */
static int finish_done(struct sender *s, const struct slp_frame *f)
{
	s->res->lines = f->u.done.lines;
	s->res->ok = f->u.done.ok;
	s->res->errors = f->u.done.errors;
	if (f->u.done.code != SLP_OK)
		return finish_refused(s, f->u.done.code, f->u.done.reason, f->u.done.reason_len);
	s->res->code = SLP_OK;
	/* A DONE answering a resume OPEN covers bytes this run never sent. */
	s->acked = s->len;
	confirm_upto(s, s->len);
	set_reason(s->res, "ok");
	return 0;
}

/* A fresh random session, different from the current one. */
static int new_session(struct sender *s)
{
	uint32_t old = s->session;
	do {
		if (getrandom(&s->session, sizeof s->session, 0) != sizeof s->session) {
			char eb[128];
			set_reason(s->res, "cannot pick a random session id: %s",
				   errstr(errno, eb, sizeof eb));
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
static int lose_stream(struct sender *s, uint16_t code, uint64_t now)
{
	s->lost_at = s->acked;
	s->lost_code = code;
	s->phase = PHASE_OPEN;
	s->resume_flag = true;
	s->reopening = true;
	s->busy_since = 0;
	s->window = 0;
	s->ctl_at = now;
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
static int open_busy(struct sender *s, const struct slp_frame *f, uint64_t now)
{
	if (s->busy_since == 0) {
		s->busy_since = now;
	} else if (now - s->busy_since >= s->timeout_ns) {
		s->res->code = f->u.reject.code;
		set_reason(s->res, "%s still refuses to resume after %u ms: %.*s (code %u); "
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
static int on_accept(struct sender *s, const struct slp_frame *f, uint64_t now)
{
	uint64_t pos = f->u.status.position, durable = f->u.status.durable;
	/* A plain OPEN starts a new revision at a frame boundary (normally 0);
	 * a resume OPEN may start anywhere up to the end. */
	bool boundary = pos % s->payload == 0 || pos == s->len;
	if (pos > s->len || durable > pos || (!s->resume_flag && !boundary)) {
		s->res->ignored++;
		return 2;
	}
	if (s->resume_flag && (s->reopening || pos > 0)) {
		/* An appliance that crashes on some line resumes at the same
		 * place over and over: do not loop forever. */
		if (s->res->resumes > 0 && pos <= s->res->resumed_from)
			s->stuck_resumes++;
		else
			s->stuck_resumes = 0;
		if (s->stuck_resumes >= RESUME_SAME_POINT_MAX) {
			set_reason(s->res, "%s restarted %u times in a row without making durable "
				   "anything past byte %" PRIu64 " of %" PRIu64 ": the lines after it "
				   "may be what brings it down; see its log", s->peer,
				   s->stuck_resumes + 1, pos, s->len);
			return -1;
		}
		s->res->resumes++;
		s->res->resumed_from = pos;
	}
	s->stream_id = f->h.stream_id;
	s->base = pos;
	s->acked = pos;
	s->durable = durable;
	/* Never more frames than from offset 0, which s->fs was sized for. */
	s->nframes = (s->len - pos + s->payload - 1) / s->payload;
	memset(s->fs, 0, (s->nframes + 1) * sizeof *s->fs);
	s->next_frame = 0;
	s->window = f->u.status.window;
	s->phase = PHASE_DATA;
	s->reopening = false;
	s->busy_since = 0;
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
static int on_frame(struct sender *s, const uint8_t *buf, size_t n, uint64_t now)
{
	struct slp_frame f;
	if (slp_decode(buf, n, &f) != SLP_DEC_OK || f.h.session != s->session)
		return 2;       /* not for us: a stray datagram or an old session */
	if (s->phase != PHASE_OPEN && f.h.type != SLP_REJECT && f.h.stream_id != s->stream_id) {
		s->res->ignored++;
		return 2;       /* our session but not our stream: corrupted */
	}
	s->heard_ns = now;

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
			s->res->ignored++;
			return 2;
		}
		on_position(s, f.u.status.position, f.u.status.window, f.u.status.durable, now);
		return 2;
	case SLP_NAK:
		s->res->naks_received++;
		if (s->phase == PHASE_OPEN)
			return 2;
		if (!position_plausible(s, f.u.nak.position, f.u.nak.durable)) {
			s->res->ignored++;
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
				s->res->ignored++;
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

/* Read every datagram waiting. Returns 2 to keep going, or a final result. */
static int drain(struct sender *s)
{
	uint8_t buf[SLP_MAX_FRAME + 1];
	for (;;) {
		/* MSG_TRUNC: the real length, so an oversized datagram fails decoding. */
		ssize_t n = recv(s->fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 2;
			if (errno == ECONNREFUSED) {
				s->refused = true;
				continue;
			}
			char eb[128];
			set_reason(s->res, "cannot receive from %s: %s", s->peer,
				   errstr(errno, eb, sizeof eb));
			return -1;
		}
		if ((size_t)n > sizeof buf)
			continue;
		int r = on_frame(s, buf, (size_t)n, now_ns());
		if (r != 2)
			return r;
	}
}

/* ---- the loop -------------------------------------------------------- */

static int timed_out(struct sender *s)
{
	unsigned ms = (unsigned)(s->timeout_ns / MS);
	const char *hint = s->refused ?
		" (the host answered 'port unreachable': nothing listens on that port)" : "";
	if (s->phase == PHASE_OPEN && s->reopening)
		set_reason(s->res, "%s lost the stream at byte %" PRIu64 " of %" PRIu64 " (REJECT %u) "
			   "and did not answer the resume OPEN for %u ms; when it is back, resend "
			   "with --resume, same revision%s", s->peer, s->lost_at, s->len,
			   s->lost_code, ms, hint);
	else if (s->phase == PHASE_OPEN)
		set_reason(s->res, "no answer from %s after %u ms: is sluiced running and the "
			   "address right?%s", s->peer, ms, hint);
	else
		set_reason(s->res, "%s stopped answering for %u ms (%" PRIu64 " of %" PRIu64
			   " bytes confirmed, %" PRIu64 " durable); when it is back, resend with "
			   "--resume, same revision%s", s->peer, ms, s->acked, s->len, s->durable,
			   hint);
	return -1;
}

static int stalled(struct sender *s)
{
	set_reason(s->res, "%s keeps answering but has not taken byte %" PRIu64 " for %u ms "
		   "although its window is open (%" PRIu64 " of %" PRIu64 " bytes confirmed): "
		   "appliance fault? its rx drop counters may say why", s->peer, s->acked,
		   (unsigned)(s->timeout_ns / MS), s->acked, s->len);
	return -1;
}

static int run(struct sender *s)
{
	s->start_ns = s->heard_ns = s->ctl_at = now_ns();
	s->phase = PHASE_OPEN;
	s->resume_flag = s->o->resume != 0;

	for (;;) {
		uint64_t now = now_ns();
		int more = 0;

		if (s->phase == PHASE_DATA && s->acked == s->len) {
			s->phase = PHASE_FIN;
			s->ctl_at = now;
		}
		if (s->phase == PHASE_DATA) {
			more = pump(s, now);
			if (more < 0)
				return -1;
		} else if (now >= s->ctl_at) {
			if ((s->phase == PHASE_OPEN ? send_open(s, now) : send_fin(s)) < 0)
				return -1;
			s->ctl_at = now + CTL_RESEND_NS;
		}
		show_progress(s, now, false);

		/* An outage (appliance restarting its port, a paused path) is
		 * survived as long as something is heard within timeout_ms. */
		if (now - s->heard_ns >= s->timeout_ns)
			return timed_out(s);
		/* The opposite failure: the appliance answers, its window is open,
		 * yet it has not taken the byte at acked for as long. Probing
		 * forever would hide a broken peer; a closed window (back-pressure)
		 * is a legitimate reason to wait and does not count. */
		if (s->phase == PHASE_DATA && s->window > 0 && now - s->progress_ns >= s->timeout_ns)
			return stalled(s);

		/* Sleep until the earliest thing we must do, or a reply. */
		uint64_t wake = s->heard_ns + s->timeout_ns;
		if (s->phase == PHASE_DATA)
			wake = min_u64(wake, min_u64(s->rto_at, s->tlp_at));
		else
			wake = min_u64(wake, s->ctl_at);
		if (s->o->progress)
			wake = min_u64(wake, s->progress_at);
		int wait_ms = 0;
		if (!more && wake > now)
			wait_ms = (int)((wake - now + MS - 1) / MS);

		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno != EINTR) {
			char eb[128];
			set_reason(s->res, "poll failed: %s", errstr(errno, eb, sizeof eb));
			return -1;
		}
		if (pr > 0) {
			int r = drain(s);
			if (r != 2)
				return r;
		}
	}
}

/* ---- set-up ---------------------------------------------------------- */

static int check_opts(const struct sl_send_opts *o, const void *doc, size_t len,
		      struct sl_send_result *res)
{
	if (o->host == NULL || o->host[0] == '\0') {
		set_reason(res, "no appliance host given");
		return -1;
	}
	if (o->port == 0) {
		set_reason(res, "no appliance port given (SLP's usual port is %u)", SLP_DEFAULT_PORT);
		return -1;
	}
	static const struct { const char *what; size_t max; } limits[] = {
		{ "tenant name", SLP_NAME_MAX }, { "token", SLP_TOKEN_MAX },
		{ "document name", SLP_NAME_MAX },
	};
	const char *vals[] = { o->tenant, o->token, o->doc };
	for (int i = 0; i < 3; i++) {
		size_t l = vals[i] ? strlen(vals[i]) : 0;
		if (l < 1 || l > limits[i].max) {
			set_reason(res, "%s must be 1 to %zu bytes long (got %zu)",
				   limits[i].what, limits[i].max, l);
			return -1;
		}
	}
	if (o->payload > SLP_MAX_PAYLOAD) {
		set_reason(res, "payload of %" PRIu32 " bytes per datagram is too large: "
			   "at most %u fit in one SLP frame", o->payload, SLP_MAX_PAYLOAD);
		return -1;
	}
	if (doc == NULL && len > 0) {
		set_reason(res, "document pointer is NULL but its length is %zu", len);
		return -1;
	}
	return 0;
}

/* A UDP socket connected to the appliance: the kernel then delivers only
 * its datagrams to us, and reports ICMP errors. */
static int open_socket(struct sender *s)
{
	char port[8];
	snprintf(port, sizeof port, "%u", s->o->port);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(s->o->host, port, &hints, &ai);
	if (rc != 0) {
		set_reason(s->res, "cannot resolve appliance host '%s': %s",
			   s->o->host, gai_strerror(rc));
		return -1;
	}
	char eb[128];
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		set_reason(s->res, "cannot create a UDP socket: %s", errstr(errno, eb, sizeof eb));
		freeaddrinfo(ai);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		set_reason(s->res, "cannot reach %s: %s", s->peer, errstr(errno, eb, sizeof eb));
		freeaddrinfo(ai);
		close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	/* Best effort: the defaults are enough for small windows. */
	int rcvbuf = RCVBUF_BYTES, sndbuf = SNDBUF_BYTES;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	s->fd = fd;
	return 0;
}

int sl_send_document(const struct sl_send_opts *o, const void *doc, size_t len,
		     struct sl_send_result *res)
{
	memset(res, 0, sizeof *res);
	res->code = -1;         /* local failure until the appliance says otherwise */
	uint64_t t0 = now_ns();
	if (check_opts(o, doc, len, res) < 0)
		return -1;

	struct sender s;
	memset(&s, 0, sizeof s);
	s.o = o;
	s.res = res;
	s.doc = doc;
	s.len = len;
	s.fd = -1;
	s.payload = o->payload ? o->payload : DEFAULT_PAYLOAD;
	s.timeout_ns = (uint64_t)(o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS) * MS;
	snprintf(s.peer, sizeof s.peer, "%s:%u", o->host, o->port);

	s.nframes = (len + s.payload - 1) / s.payload;
	/* One extra entry so an empty document still has a frame_state to index. */
	s.fs = calloc(s.nframes + 1, sizeof *s.fs);
	if (s.fs == NULL) {
		set_reason(res, "out of memory for the state of %" PRIu64 " frames", s.nframes);
		return -1;
	}
	if (new_session(&s) < 0) {
		free(s.fs);
		return -1;
	}
	s.crc = slp_crc32c(0, doc, len);
	if (open_socket(&s) < 0) {
		free(s.fs);
		return -1;
	}

	int rc = run(&s);
	if (s.progress_shown)
		show_progress(&s, now_ns(), true);
	close(s.fd);
	free(s.fs);

	res->bytes = s.acked;
	res->seconds = (double)(now_ns() - t0) / 1e9;
	return rc;
}
