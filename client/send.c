/*
 * send.c — the SLP sender library: one document to one appliance over
 * kernel UDP (see docs/protocol.md for the protocol, dataplane/slp.h for
 * the frames).
 *
 * The whole exchange is one loop around poll() on one connected socket:
 *
 *   OPEN    resend OPEN every 200 ms until ACCEPT or REJECT;
 *   DATA    go-back-N inside the appliance's window: send from `next`,
 *           STATUS frames move `acked` forward; no progress for one RTO
 *           (or three duplicate STATUS) rewinds `next` to `acked`;
 *   FIN     resend FIN every 200 ms until DONE.
 *
 * v1 appliances keep only in-order bytes, so go-back-N is not a
 * simplification here: everything after a lost frame is dropped by the
 * receiver and has to be sent again anyway.
 *
 * All state lives in a struct sender on the caller's stack: no globals,
 * so several threads may send several documents at once.
 */
#include "sluice/send.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/slp.h"

#define DEFAULT_PAYLOAD 1400u
#define DEFAULT_TIMEOUT_MS 5000u
#define MS 1000000ull                    /* nanoseconds */
#define CTL_RESEND_NS (200 * MS)         /* OPEN and FIN */
#define RTO_MIN_NS (100 * MS)
#define RTO_MAX_NS (1000 * MS)
#define DUP_STATUS_FAST 3                /* duplicate STATUS frames that trigger a rewind */
#define BURST 32                         /* DATA frames per loop turn: read replies in between */
#define PROGRESS_EVERY_NS (250 * MS)
#define RCVBUF_BYTES (1 << 20)           /* a burst of STATUS replies must not overflow */

enum phase { PHASE_OPEN, PHASE_DATA, PHASE_FIN };

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

	/* Go-back-N state, all byte positions in the document. */
	uint64_t acked;                  /* the appliance holds every byte before this */
	uint64_t next;                   /* next byte to send */
	uint64_t sent_hi;                /* highest byte ever sent + 1: below it is a retransmit */
	uint32_t window;                 /* bytes past acked we may send; 0 = pause */
	uint64_t rto_ns, rto_at;         /* no progress by rto_at: rewind */
	unsigned dups;                   /* STATUS frames repeating acked while we are ahead */
	uint64_t fast_pos;               /* acked at the last fast retransmit (one per position) */

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

static int send_open(struct sender *s)
{
	const struct sl_send_opts *o = s->o;
	size_t n = slp_encode_open(s->frame, sizeof s->frame, s->session, o->revision,
				   o->tenant, strlen(o->tenant), o->token, strlen(o->token),
				   o->doc, strlen(o->doc));
	return send_frame(s, n);
}

static int send_fin(struct sender *s)
{
	size_t n = slp_encode_fin(s->frame, sizeof s->frame, s->stream_id, s->session,
				  s->len, s->crc);
	return send_frame(s, n);
}

static int send_data(struct sender *s, uint64_t off, size_t n)
{
	size_t fl = slp_encode_data(s->frame, sizeof s->frame, s->stream_id, s->session,
				    off, s->doc + off, n);
	if (off < s->sent_hi)
		s->res->retransmits++;
	if (off + n > s->sent_hi)
		s->sent_hi = off + n;
	return send_frame(s, fl);
}

static void rto_reset(struct sender *s, uint64_t now)
{
	s->rto_ns = RTO_MIN_NS;
	s->rto_at = now + s->rto_ns;
}

/*
 * Send what the window allows, at most BURST frames. Returns -1 on a
 * fatal error, 1 if more could be sent right away, 0 otherwise.
 */
static int pump(struct sender *s, uint64_t now)
{
	if (now >= s->rto_at) {
		/* No progress for one RTO: whatever followed the loss was dropped. */
		s->next = s->acked;
		s->rto_ns = s->rto_ns * 2 > RTO_MAX_NS ? RTO_MAX_NS : s->rto_ns * 2;
		s->rto_at = now + s->rto_ns;
		if (s->window == 0) {
			/* Paused: probe with the frame at acked so a STATUS tells us
			 * when the window opens again (or that the byte got in). */
			uint64_t left = s->len - s->acked;
			size_t n = left < s->payload ? (size_t)left : s->payload;
			if (send_data(s, s->acked, n) < 0)
				return -1;
		}
	}

	/* Never send past acked + window: the appliance drops and counts it. */
	uint64_t limit = s->acked + s->window;
	for (int i = 0; i < BURST; i++) {
		if (s->next >= s->len || s->next >= limit)
			return 0;
		uint64_t left = s->len - s->next;
		size_t n = left < s->payload ? (size_t)left : s->payload;
		if (s->next + n > limit) {
			/* Only a window smaller than one payload justifies a short
			 * frame; otherwise wait for STATUS to open room for a full one. */
			if (s->next != s->acked)
				return 0;
			n = (size_t)(limit - s->next);
		}
		if (send_data(s, s->next, n) < 0)
			return -1;
		s->next += n;
	}
	return 1;
}

/* ---- receiving ------------------------------------------------------- */

static void on_status(struct sender *s, uint64_t pos, uint32_t window, uint64_t now)
{
	if (pos < s->acked)
		return;         /* an old STATUS overtaken by a newer one */
	bool reopened = s->window == 0 && window > 0;
	s->window = window;
	if (pos > s->acked) {
		s->acked = pos;
		if (s->next < pos)
			s->next = pos;
		s->dups = 0;
		rto_reset(s, now);
		return;
	}
	if (reopened)
		rto_reset(s, now);
	/* Same position while we are ahead: a frame went missing and the
	 * appliance is dropping what follows. Rewind now instead of waiting
	 * for the RTO, but once per position: the rest of the old burst
	 * will keep producing duplicates for a while. */
	if (s->next > s->acked && ++s->dups >= DUP_STATUS_FAST && s->fast_pos != s->acked) {
		s->next = s->acked;
		s->fast_pos = s->acked;
		s->dups = 0;
	}
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

/* The appliance claims bytes we never sent: no retry can fix that. */
static int protocol_error(struct sender *s, uint64_t pos)
{
	set_reason(s->res, "protocol error: %s reported position %" PRIu64 " but the document "
		   "has only %" PRIu64 " bytes (wrong session? appliance bug?)", s->peer, pos, s->len);
	return -1;
}

/*
 * Handle one datagram. Returns 2 to keep going, or the final result
 * (0 confirmed, 1 refused, -1 protocol error) of sl_send_document.
 */
static int on_frame(struct sender *s, const uint8_t *buf, size_t n, uint64_t now)
{
	struct slp_frame f;
	if (slp_decode(buf, n, &f) != SLP_DEC_OK || f.h.session != s->session)
		return 2;       /* not for us: a stray datagram or an old session */
	s->heard_ns = now;

	switch (f.h.type) {
	case SLP_ACCEPT:
		if (f.u.status.position > s->len)
			return protocol_error(s, f.u.status.position);
		if (s->phase == PHASE_OPEN) {
			s->stream_id = f.h.stream_id;
			s->acked = s->next = s->sent_hi = f.u.status.position;
			s->window = f.u.status.window;
			s->phase = PHASE_DATA;
			rto_reset(s, now);
			return 2;
		}
		/* A duplicate ACCEPT (we sent OPEN more than once): a STATUS. */
		if (s->phase == PHASE_DATA)
			on_status(s, f.u.status.position, f.u.status.window, now);
		return 2;
	case SLP_STATUS:
		if (f.u.status.position > s->len)
			return protocol_error(s, f.u.status.position);
		if (s->phase == PHASE_DATA)
			on_status(s, f.u.status.position, f.u.status.window, now);
		return 2;
	case SLP_REJECT:
		return finish_refused(s, f.u.reject.code, f.u.reject.reason, f.u.reject.reason_len);
	case SLP_DONE:
		if (f.u.done.code != SLP_OK) {
			if (s->phase == PHASE_OPEN)
				return 2;
			return finish_refused(s, f.u.done.code, f.u.done.reason,
					      f.u.done.reason_len);
		}
		if (s->phase != PHASE_FIN)
			return 2;       /* a document cannot be complete before FIN */
		s->res->code = SLP_OK;
		s->res->lines = f.u.done.lines;
		s->res->ok = f.u.done.ok;
		s->res->errors = f.u.done.errors;
		set_reason(s->res, "ok");
		return 0;
	default:
		return 2;       /* sender-side frame types: not ours to handle */
	}
}

/* Read every datagram waiting. Returns 2 to keep going, or a final result. */
static int drain(struct sender *s, uint64_t now)
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
		int r = on_frame(s, buf, (size_t)n, now);
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
	if (s->phase == PHASE_OPEN)
		set_reason(s->res, "no answer from %s after %u ms: is sluiced running and the "
			   "address right?%s", s->peer, ms, hint);
	else
		set_reason(s->res, "%s stopped answering: nothing heard for %u ms "
			   "(%" PRIu64 " of %" PRIu64 " bytes confirmed)%s",
			   s->peer, ms, s->acked, s->len, hint);
	return -1;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static int run(struct sender *s)
{
	s->start_ns = s->heard_ns = s->ctl_at = now_ns();
	s->phase = PHASE_OPEN;
	s->fast_pos = UINT64_MAX;

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
			if ((s->phase == PHASE_OPEN ? send_open(s) : send_fin(s)) < 0)
				return -1;
			s->ctl_at = now + CTL_RESEND_NS;
		}
		show_progress(s, now, false);

		if (now - s->heard_ns >= s->timeout_ns)
			return timed_out(s);

		/* Sleep until the earliest thing we must do, or a reply. */
		uint64_t wake = s->heard_ns + s->timeout_ns;
		if (s->phase == PHASE_DATA)
			wake = min_u64(wake, s->rto_at);
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
			int r = drain(s, now_ns());
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
	/* Best effort: the default is enough for small windows. */
	int rcvbuf = RCVBUF_BYTES;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
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

	if (getrandom(&s.session, sizeof s.session, 0) != sizeof s.session) {
		char eb[128];
		set_reason(res, "cannot pick a random session id: %s", errstr(errno, eb, sizeof eb));
		return -1;
	}
	s.crc = slp_crc32c(0, doc, len);
	if (open_socket(&s) < 0)
		return -1;

	int rc = run(&s);
	if (s.progress_shown)
		show_progress(&s, now_ns(), true);
	close(s.fd);

	res->bytes = s.acked;
	res->seconds = (double)(now_ns() - t0) / 1e9;
	return rc;
}
