/*
 * send.c — sl_send_document: one document to one appliance over kernel
 * UDP, blocking until the appliance confirms or refuses it.
 *
 * The protocol lives in sender.c (include/sluice/sender.h), an engine
 * that does no I/O; this file gives it a connected UDP socket and a
 * poll() loop: send the frames the engine says are due, sleep until its
 * next deadline or a reply, feed it the replies, until it is done.
 * Programs that send many documents at once (sluice-perf) drive engines
 * from their own loop instead.
 */
#include "sluice/send.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/slp.h"
#include "send_reason.h"
#include "sluice/sender.h"

#define MS 1000000ull                    /* nanoseconds */
#define BURST 32                         /* frames per loop turn: read replies in between */
#define PACED_WAKE_NS (1 * MS)           /* paced: look for newly available bytes this often */
#define RCVBUF_BYTES (1 << 20)           /* a burst of STATUS replies must not overflow */
#define SNDBUF_BYTES (4 << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* strerror() is not thread-safe; this library may run in several threads. */
static const char *errstr(int err, char *buf, size_t cap)
{
	return strerror_r(err, buf, cap);    /* GNU variant: returns the message */
}

/* Send the frames. Losses (full buffers, ICMP errors) are the protocol's
 * business; only errors that no retry can fix end the transfer. */
static void send_frames(struct sl_sender *s, int fd, const char *peer,
			const struct iovec *fr, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		while (send(fd, fr[i].iov_base, fr[i].iov_len, 0) < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED) {
				sl_sender_unreachable(s);
				break;
			}
			if (errno == EAGAIN || errno == ENOBUFS || errno == EHOSTUNREACH ||
			    errno == ENETUNREACH || errno == EHOSTDOWN || errno == ENETDOWN)
				break;          /* counts as a lost datagram */
			char eb[128], why[512];
			snprintf(why, sizeof why, "cannot send to %s: %s", peer,
				 errstr(errno, eb, sizeof eb));
			sl_sender_abort(s, why);
			return;
		}
	}
}

/* Feed every datagram waiting to the engine. */
static void drain(struct sl_sender *s, int fd, const char *peer)
{
	uint8_t buf[SLP_MAX_FRAME + 1];
	while (!sl_sender_done(s, NULL)) {
		/* MSG_TRUNC: the real length, so an oversized datagram fails decoding. */
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == ECONNREFUSED) {
				sl_sender_unreachable(s);
				continue;
			}
			char eb[128], why[512];
			snprintf(why, sizeof why, "cannot receive from %s: %s", peer,
				 errstr(errno, eb, sizeof eb));
			sl_sender_abort(s, why);
			return;
		}
		if ((size_t)n > sizeof buf)
			continue;
		sl_sender_input(s, buf, (size_t)n, now_ns());
	}
}

static void run(struct sl_sender *s, int fd, const char *peer, int paced)
{
	struct iovec fr[BURST];

	for (;;) {
		uint64_t now = now_ns();
		send_frames(s, fd, peer, fr, sl_sender_poll(s, now, fr, BURST));
		if (sl_sender_done(s, NULL))
			return;

		/* Sleep until the earliest thing the engine must do, or a reply. */
		uint64_t wake = sl_sender_next_deadline(s);
		if (paced && wake > now + PACED_WAKE_NS)
			wake = now + PACED_WAKE_NS;
		int wait_ms = 0;
		if (wake > now)
			wait_ms = (int)((wake - now + MS - 1) / MS);

		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno != EINTR) {
			char eb[128], why[512];
			snprintf(why, sizeof why, "poll failed: %s", errstr(errno, eb, sizeof eb));
			sl_sender_abort(s, why);
			return;
		}
		if (pr > 0)
			drain(s, fd, peer);
		if (sl_sender_done(s, NULL))
			return;
	}
}

/* A UDP socket connected to the appliance: the kernel then delivers only
 * its datagrams to us, and reports ICMP errors. */
static int open_socket(const struct sl_send_opts *o, const char *peer, struct sl_send_result *res)
{
	char port[8];
	snprintf(port, sizeof port, "%u", o->port);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(o->host, port, &hints, &ai);
	if (rc != 0) {
		sl_send_reason(res, "cannot resolve appliance host '%s': %s", o->host, gai_strerror(rc));
		return -1;
	}
	char eb[128];
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		sl_send_reason(res, "cannot create a UDP socket: %s", errstr(errno, eb, sizeof eb));
		freeaddrinfo(ai);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		sl_send_reason(res, "cannot reach %s: %s", peer, errstr(errno, eb, sizeof eb));
		freeaddrinfo(ai);
		close(fd);
		return -1;
	}
	freeaddrinfo(ai);
	/* Best effort: the defaults are enough for small windows. */
	int rcvbuf = RCVBUF_BYTES, sndbuf = SNDBUF_BYTES;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	return fd;
}

int sl_send_document(const struct sl_send_opts *o, const void *doc, size_t len,
		     struct sl_send_result *res)
{
	memset(res, 0, sizeof *res);
	res->code = -1;         /* local failure until the appliance says otherwise */
	uint64_t t0 = now_ns();
	if (o->host == NULL || o->host[0] == '\0') {
		sl_send_reason(res, "no appliance host given");
		return -1;
	}
	if (o->port == 0) {
		sl_send_reason(res, "no appliance port given (SLP's usual port is %u)", SLP_DEFAULT_PORT);
		return -1;
	}
	struct sl_sender *s = sl_sender_new(o, doc, len, res->reason, sizeof res->reason);
	if (s == NULL)
		return -1;
	char peer[300];
	snprintf(peer, sizeof peer, "%s:%u", o->host, o->port);
	int fd = open_socket(o, peer, res);
	if (fd < 0) {
		sl_sender_free(s);
		return -1;
	}

	run(s, fd, peer, o->available != NULL);
	close(fd);
	sl_sender_done(s, res);
	int rc = sl_sender_rc(s);
	sl_sender_free(s);
	res->seconds = (double)(now_ns() - t0) / 1e9;
	return rc;
}
