/*
 * gate.c — the front door of the control-plane listener: judges each
 * connection's raw request head before libwebsockets parses it.
 *
 * Why: lws 4.1 decodes %XX in the request target and then folds "..",
 * "." and "//" segments before any callback sees the path. So
 * "/v1/acks/a/..%2Fb%2Fc" reached our routing as "/v1/acks/b/c" and was
 * judged as a request for tenant b (403 for a's token) instead of being
 * refused as the bad path it is; "%00" anywhere in the target, or a
 * request head longer than lws's header buffer, made lws hang up without
 * any answer; a '%' without two hex digits got lws's own HTML 403. The
 * gate refuses all of these itself (gate_check.c), the way sluiced
 * answers every refusal: status, a text body and the x-sluice-reason
 * header, then it closes. A head it passes is handed to lws untouched:
 * the gate only peeks (MSG_PEEK), so lws reads the same bytes itself.
 *
 * Threading: the sl-gate thread owns the listening socket and the
 * connections whose head is not complete yet (epoll, edge-triggered, so
 * bytes peeked but left unread do not wake us again until more arrive).
 * lws calls must happen on its service thread: passed connections wait in
 * a small locked queue, wake() (lws_cancel_service) tells that thread,
 * and it adopts them in sl_gate_drain(). The gate counts its refusals in
 * fields of sl_ws_stats that only it writes.
 *
 * Bounds: SL_GATE_CONNS heads in progress at once (beyond: 503), 10 s to
 * send a head (then 408), SL_GATE_HEAD_MAX bytes of head (then 431).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "gate.h"
#include "gate_check.h"
#include "http.h"
#include "wsconn.h"

#define SL_GATE_CONNS 256u          /* connections sending their head at once */
#define SL_GATE_QUEUE 1024u         /* passed connections waiting for the lws thread */
#define SL_GATE_HEAD_MS 10000u      /* time to send the request head */
#define SL_GATE_LINGER_MS 2000u     /* a refused peer's time to take the answer and hang up */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EV_LISTEN UINT32_MAX
#define EV_STOP (UINT32_MAX - 1)

enum { C_FREE = 0, C_HEAD, C_LINGER };

struct gate_conn {
	int fd;
	uint8_t state;
	uint64_t deadline_ms;
};

static struct {
	struct sl_ws_stats *st;
	void (*wake)(void);
	int lfd, efd, stopfd;
	pthread_t thread;
	bool started;
	struct gate_conn c[SL_GATE_CONNS];
	unsigned n_conns;

	pthread_mutex_t qlock;            /* the hand-over queue, gate -> lws thread */
	int q[SL_GATE_QUEUE];
	unsigned qhead, qcount;
} g = { .lfd = -1, .efd = -1, .stopfd = -1, .qlock = PTHREAD_MUTEX_INITIALIZER };

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
conn_close(struct gate_conn *c)
{
	close(c->fd);          /* also leaves the epoll set */
	c->fd = -1;
	c->state = C_FREE;
	g.n_conns--;
}

/* Discard what the peer sent; true once it has hung up (or failed). */
static bool
drain_input(int fd)
{
	char buf[4096];

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0)
			continue;
		return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
	}
}

/*
 * Answer with status and reason, then hang up gracefully: the request
 * bytes are read and dropped (closing with unread input would send a
 * reset, which can destroy the answer before the peer reads it), our side
 * is shut, and the peer gets SL_GATE_LINGER_MS to close its own.
 */
static void
answer(int fd, unsigned status, const char *reason)
{
	char out[1024];
	int n = sl_http_refusal(out, sizeof(out), status, reason);

	if (n > 0)
		(void)send(fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (status == 408)
		g.st->gate_timeouts++;
	else if (status == 503)
		g.st->gate_busy++;
	else
		g.st->refused_url++;
}

static void
refuse(struct gate_conn *c, unsigned status, const char *reason)
{
	answer(c->fd, status, reason);
	bool gone = drain_input(c->fd);
	shutdown(c->fd, SHUT_WR);
	if (gone) {
		conn_close(c);
		return;
	}
	c->state = C_LINGER;
	c->deadline_ms = now_ms() + SL_GATE_LINGER_MS;
}

/* Queue fd for the lws thread; false if the queue is full. */
static bool
hand_over(int fd)
{
	bool ok;

	pthread_mutex_lock(&g.qlock);
	ok = g.qcount < SL_GATE_QUEUE;
	if (ok) {
		g.q[(g.qhead + g.qcount) % SL_GATE_QUEUE] = fd;
		g.qcount++;
	}
	pthread_mutex_unlock(&g.qlock);
	if (ok)
		g.wake();
	return ok;
}

/* New bytes (or a hang-up) on a connection still sending its head. */
static void
on_head(struct gate_conn *c, uint32_t events)
{
	char buf[SL_GATE_HEAD_MAX], reason[256];
	ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(c);           /* the peer left before its head was complete */
		return;
	}
	unsigned v = sl_gate_judge(buf, (size_t)r, reason, sizeof(reason));

	if (v == SL_GATE_MORE) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			conn_close(c);   /* the peer stopped sending before its head was complete */
		return;
	}
	if (v != SL_GATE_PASS) {
		refuse(c, v, reason);
		return;
	}
	/* passed: once queued, the fd is the lws thread's */
	epoll_ctl(g.efd, EPOLL_CTL_DEL, c->fd, NULL);
	if (!hand_over(c->fd)) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
					  .data.u32 = (uint32_t)(c - g.c) };

		epoll_ctl(g.efd, EPOLL_CTL_ADD, c->fd, &ev);
		refuse(c, 503, "too many connections waiting for the server: retry");
		return;
	}
	c->fd = -1;
	c->state = C_FREE;
	g.n_conns--;
}

static void
on_linger(struct gate_conn *c)
{
	if (drain_input(c->fd))
		conn_close(c);
}

static void
on_accept(void)
{
	for (;;) {
		int fd = accept4(g.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int one = 1;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				SL_WS_LOG(WARNING, "gate: accept: %s\n", strerror(errno));
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (g.n_conns == SL_GATE_CONNS) {
			answer(fd, 503, "too many connections sending their request at once: retry");
			shutdown(fd, SHUT_WR);
			close(fd);
			continue;
		}
		unsigned i = 0;
		while (g.c[i].state != C_FREE)
			i++;
		struct gate_conn *c = &g.c[i];
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u32 = i };

		c->fd = fd;
		c->state = C_HEAD;
		c->deadline_ms = now_ms() + SL_GATE_HEAD_MS;
		g.n_conns++;
		/* edge-triggered: a head already there is reported at once */
		if (epoll_ctl(g.efd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			SL_WS_LOG(WARNING, "gate: epoll: %s\n", strerror(errno));
			conn_close(c);
		}
	}
}

/* Heads that took too long, and refused peers that never hung up. */
static int
expire(void)
{
	uint64_t now = now_ms(), next = now + 1000;

	for (unsigned i = 0; i < SL_GATE_CONNS; i++) {
		struct gate_conn *c = &g.c[i];

		if (c->state == C_FREE)
			continue;
		if (now >= c->deadline_ms) {
			if (c->state == C_HEAD) {
				char reason[96];
				snprintf(reason, sizeof(reason), "request line and headers not received within %u s",
					 SL_GATE_HEAD_MS / 1000);
				refuse(c, 408, reason);
			} else {
				conn_close(c);
			}
		}
		if (c->state != C_FREE && c->deadline_ms < next)
			next = c->deadline_ms;
	}
	return next > now ? (int)(next - now) : 0;
}

static void *
gate_thread(void *arg)
{
	struct epoll_event ev[64];

	(void)arg;
	for (;;) {
		int n = epoll_wait(g.efd, ev, (int)ARRAY_SIZE(ev), expire());

		if (n < 0 && errno != EINTR) {
			SL_WS_LOG(ERR, "gate: epoll_wait: %s\n", strerror(errno));
			return NULL;
		}
		for (int k = 0; k < n; k++) {
			uint32_t id = ev[k].data.u32;

			if (id == EV_STOP)
				return NULL;
			if (id == EV_LISTEN) {
				on_accept();
			} else if (id < SL_GATE_CONNS && g.c[id].state == C_HEAD) {
				on_head(&g.c[id], ev[k].events);
			} else if (id < SL_GATE_CONNS && g.c[id].state == C_LINGER) {
				on_linger(&g.c[id]);
			}
		}
	}
}

static int
listen_on(const char *addr, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "cannot listen on %s:%u: not an IPv4 address; set [control] listen "
			 "to an address of this machine", addr, port);
		return -1;
	}
	g.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (g.lfd < 0 || setsockopt(g.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(g.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(g.lfd, SOMAXCONN) < 0) {
		int e = errno;

		if (e == EADDRINUSE || e == EACCES)
			snprintf(err, errlen, "cannot listen on %s:%u: %s; set [control] port to a free port",
				 addr, port, strerror(e));
		else
			snprintf(err, errlen, "cannot listen on %s:%u: %s; set [control] listen to an address "
				 "of this machine", addr, port, strerror(e));
		return -1;
	}
	return 0;
}

int
sl_gate_start(const char *addr, uint16_t port, struct sl_ws_stats *st, void (*wake)(void),
	      char *err, size_t errlen)
{
	struct epoll_event lev = { .events = EPOLLIN, .data.u32 = EV_LISTEN };
	struct epoll_event sev = { .events = EPOLLIN, .data.u32 = EV_STOP };

	g.st = st;
	g.wake = wake;
	g.n_conns = 0;
	g.qhead = g.qcount = 0;
	for (unsigned i = 0; i < SL_GATE_CONNS; i++) {
		g.c[i].fd = -1;
		g.c[i].state = C_FREE;
	}
	if (addr == NULL || addr[0] == '\0')
		addr = "0.0.0.0";
	if (listen_on(addr, port, err, errlen) < 0)
		goto fail;
	g.efd = epoll_create1(EPOLL_CLOEXEC);
	g.stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g.efd < 0 || g.stopfd < 0 || epoll_ctl(g.efd, EPOLL_CTL_ADD, g.lfd, &lev) < 0 ||
	    epoll_ctl(g.efd, EPOLL_CTL_ADD, g.stopfd, &sev) < 0) {
		snprintf(err, errlen, "cannot set up the listener on %s:%u: %s", addr, port, strerror(errno));
		goto fail;
	}
	int e = pthread_create(&g.thread, NULL, gate_thread, NULL);
	if (e != 0) {
		snprintf(err, errlen, "cannot start the listener thread: %s", strerror(e));
		goto fail;
	}
	g.started = true;
	pthread_setname_np(g.thread, "sl-gate");
	return 0;
fail:
	sl_gate_stop();
	return -1;
}

void
sl_gate_drain(struct lws_vhost *vh)
{
	int fds[64];
	unsigned n;

	do {
		pthread_mutex_lock(&g.qlock);
		n = g.qcount < ARRAY_SIZE(fds) ? g.qcount : (unsigned)ARRAY_SIZE(fds);
		for (unsigned i = 0; i < n; i++)
			fds[i] = g.q[(g.qhead + i) % SL_GATE_QUEUE];
		g.qhead = (g.qhead + n) % SL_GATE_QUEUE;
		g.qcount -= n;
		pthread_mutex_unlock(&g.qlock);
		for (unsigned i = 0; i < n; i++)
			if (lws_adopt_socket_vhost(vh, fds[i]) == NULL)   /* lws closed it */
				SL_WS_LOG(WARNING, "gate: libwebsockets refused a connection (out of "
					  "file descriptors or memory?)\n");
	} while (n == ARRAY_SIZE(fds));
}

void
sl_gate_stop(void)
{
	uint64_t one = 1;

	if (g.started) {
		if (write(g.stopfd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			SL_WS_LOG(WARNING, "gate: cannot signal the listener thread: %s\n", strerror(errno));
		pthread_join(g.thread, NULL);
		g.started = false;
	}
	for (unsigned i = 0; i < SL_GATE_CONNS; i++)
		if (g.c[i].state != C_FREE)
			conn_close(&g.c[i]);
	pthread_mutex_lock(&g.qlock);
	while (g.qcount > 0) {
		close(g.q[g.qhead]);
		g.qhead = (g.qhead + 1) % SL_GATE_QUEUE;
		g.qcount--;
	}
	pthread_mutex_unlock(&g.qlock);
	if (g.lfd >= 0)
		close(g.lfd);
	if (g.efd >= 0)
		close(g.efd);
	if (g.stopfd >= 0)
		close(g.stopfd);
	g.lfd = g.efd = g.stopfd = -1;
}
