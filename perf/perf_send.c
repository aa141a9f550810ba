/*
 * perf_send.c — the sender threads of sluice-perf (see perf_send.h).
 *
 * Each thread owns one connected UDP socket and the engines of its
 * documents, and runs rounds:
 *
 *   1. open loop: work out which documents have new lines due (the global
 *      schedule of perf.h) and mark them;
 *   2. poll every engine that is marked or whose deadline has come, and
 *      collect the frames they hand out into one sendmmsg batch (flushed
 *      whenever it fills, and at the end of the round);
 *   3. read every reply waiting (recvmmsg) and hand each to the engine
 *      whose current session it carries (a hash map, updated whenever an
 *      engine's session changes on a resume);
 *   4. sleep in ppoll until the earliest engine deadline, the next line
 *      due (but no sooner than --tick-us after this round, so that a high
 *      rate fills datagrams instead of sending one line each), or a reply.
 *
 * UDP GSO (UDP_SEGMENT) is not used: it cuts one large buffer into
 * equal-sized datagrams with the same headers, while SLP frames each carry
 * their own header, offset and CRC (and are interleaved across streams),
 * so every datagram has to be built on its own anyway. sendmmsg still
 * amortises the system call over the batch.
 *
 * The socket may be opened in another network namespace (--netns): the
 * calling thread switches into it, creates the socket and switches back;
 * a socket stays in the namespace it was created in.
 *
 * With --transport memif (perf_memif.h) the one sender thread sends and
 * receives through a DPDK memif port instead of the socket, and polls it
 * instead of sleeping in ppoll while there is traffic.
 */
#include "perf_send.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "perf_memif.h"
#include "sluice/sender.h"

#define BATCH 64                         /* frames per sendmmsg */
#define RX_BATCH 64                      /* replies per recvmmsg */
#define RX_BUF 1536
#define MAX_SLEEP_NS 10000000ull         /* wake at least every 10 ms (stop flag) */
#define MEMIF_NAP_MIN_NS 2000ull         /* memif: first nap after a round without I/O, */
#define MEMIF_NAP_MAX_NS 200000ull       /* doubling per idle round up to this */
#define SOCK_BUF (8 << 20)
#define EMPTY (-1)
#define TOMB (-2)

struct slot {
	struct perf_doc *d;
	struct sl_sender *e;
	uint64_t due;
	uint32_t session;
	bool dirty, done;
};

struct perf_sender {
	struct perf_run *r;
	unsigned k, nthreads;
	int fd;
	struct perf_memif *mif;          /* --transport memif; then fd is -1 */
	uint64_t round_io;               /* memif: frames sent + replies this round */
	uint64_t nap;                    /* memif: next idle nap (ns) */
	pthread_t th;
	struct slot *slots;
	unsigned n, active;
	uint32_t *keys;                  /* session -> slot, open addressing */
	int32_t *vals;
	unsigned mask;
	struct perf_send_stats st;
	uint64_t released;               /* open loop: global lines released so far */
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	unsigned nb;
	uint8_t rxbuf[RX_BATCH][RX_BUF];
	struct iovec rxiov[RX_BATCH];
	struct mmsghdr rxmsgs[RX_BATCH];
};

/* ---- session map ----------------------------------------------------- */

static unsigned hash32(uint32_t x)
{
	x ^= x >> 16;
	x *= 0x7feb352d;
	x ^= x >> 15;
	return x;
}

static int map_find(const struct perf_sender *s, uint32_t key)
{
	for (unsigned i = hash32(key) & s->mask;; i = (i + 1) & s->mask) {
		if (s->vals[i] == EMPTY)
			return -1;
		if (s->vals[i] >= 0 && s->keys[i] == key)
			return s->vals[i];
	}
}

static void map_del(struct perf_sender *s, uint32_t key)
{
	for (unsigned i = hash32(key) & s->mask;; i = (i + 1) & s->mask) {
		if (s->vals[i] == EMPTY)
			return;
		if (s->vals[i] >= 0 && s->keys[i] == key) {
			s->vals[i] = TOMB;
			return;
		}
	}
}

/* Two live engines with the same random session cannot be told apart; the
 * later one wins the replies and the earlier one retries (then resumes). */
static void map_put(struct perf_sender *s, uint32_t key, int val)
{
	map_del(s, key);
	for (unsigned i = hash32(key) & s->mask;; i = (i + 1) & s->mask) {
		if (s->vals[i] < 0) {
			s->keys[i] = key;
			s->vals[i] = val;
			return;
		}
	}
}

/* After a poll or an input: follow a session change, note the end. */
static void after_call(struct perf_sender *s, unsigned i, uint64_t now)
{
	struct slot *sl = &s->slots[i];
	uint32_t sess = sl_sender_session(sl->e);
	if (sess != sl->session) {
		map_del(s, sl->session);
		map_put(s, sess, (int)i);
		sl->session = sess;
	}
	if (!sl->done && sl_sender_done(sl->e, &sl->d->res)) {
		sl->done = true;
		sl->d->rc = sl_sender_rc(sl->e);
		sl->d->done_ns = now;
		s->active--;
		map_del(s, sl->session);
		if (sl->d->rc != 0)
			s->st.docs_failed++;
		atomic_fetch_add(&s->r->docs_done, 1);
	}
	sl->due = sl_sender_next_deadline(sl->e);
}

/* ---- sending --------------------------------------------------------- */

static void flush(struct perf_sender *s)
{
	unsigned off = 0;
	if (s->mif != NULL && s->nb > 0) {
		unsigned sent = perf_memif_send(s->mif, s->iov, s->nb);
		s->st.send_errors += s->nb - sent;   /* lost; repaired like any loss */
		s->st.sendmmsg_calls++;
		s->round_io += s->nb;
		s->nb = 0;
		return;
	}
	while (off < s->nb) {
		int sent = sendmmsg(s->fd, s->msgs + off, s->nb - off, 0);
		if (sent < 0) {
			if (errno == EINTR)
				continue;
			/* ENOBUFS, ECONNREFUSED (ICMP), ...: that datagram is lost; the
			 * protocol repairs it like any other loss. */
			s->st.send_errors++;
			off++;
			continue;
		}
		off += (unsigned)sent;
	}
	if (s->nb > 0)
		s->st.sendmmsg_calls++;
	s->nb = 0;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Credit mode: the lines whose last byte goes out for the first time now. */
static void note_sent(struct perf_doc *d, const struct iovec *fr, unsigned n, uint64_t now)
{
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *p = fr[i].iov_base;
		if (fr[i].iov_len <= 28 || p[3] != 0x02)
			continue;                /* not DATA */
		uint64_t end = be64(p + 16) + (fr[i].iov_len - 28);
		if (end <= d->first_hi)
			continue;
		d->first_hi = end;
		while (d->sent_lines < d->lines && d->line_end[d->sent_lines] <= end)
			atomic_store_explicit(&d->sent_ns[d->sent_lines++], now, memory_order_release);
	}
}

static void poll_slot(struct perf_sender *s, unsigned i, uint64_t now)
{
	struct slot *sl = &s->slots[i];
	if (s->nb == BATCH)
		flush(s);
	unsigned n = sl_sender_poll(sl->e, now, s->iov + s->nb, BATCH - s->nb);
	if (sl->d->sent_ns != NULL)
		note_sent(sl->d, s->iov + s->nb, n, now);
	s->nb += n;
	sl->dirty = false;
	after_call(s, i, now);
}

/* ---- receiving ------------------------------------------------------- */

/* One reply datagram: to the engine whose current session it carries. */
static void deliver(struct perf_sender *s, const uint8_t *p, size_t len, uint64_t now)
{
	s->st.replies++;
	if (len < 16) {
		s->st.stray_replies++;
		return;
	}
	uint32_t sess = (uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15];
	int i = map_find(s, sess);
	if (i < 0) {
		s->st.stray_replies++;   /* an old session's, or a finished doc's */
		return;
	}
	sl_sender_input(s->slots[i].e, p, len, now);
	s->slots[i].dirty = true;
	after_call(s, (unsigned)i, now);
}

static void deliver_memif(void *arg, const uint8_t *p, size_t len)
{
	struct perf_sender *s = arg;
	s->round_io++;
	deliver(s, p, len, perf_now());
}

static void receive(struct perf_sender *s)
{
	if (s->mif != NULL) {
		perf_memif_recv(s->mif, deliver_memif, s);
		return;
	}
	for (;;) {
		int got = recvmmsg(s->fd, s->rxmsgs, RX_BATCH, MSG_DONTWAIT, NULL);
		if (got <= 0)
			return;                  /* EAGAIN, or an ICMP error (ignored) */
		uint64_t now = perf_now();
		for (int m = 0; m < got; m++) {
			if (s->rxmsgs[m].msg_hdr.msg_flags & MSG_TRUNC) {
				s->st.replies++;
				s->st.stray_replies++;
				continue;
			}
			deliver(s, s->rxbuf[m], s->rxmsgs[m].msg_len, now);
		}
		if (got < RX_BATCH)
			return;
	}
}

/* ---- the thread ------------------------------------------------------ */

/* Open loop: mark the documents of this thread that have new lines due. */
static void release(struct perf_sender *s, uint64_t now)
{
	uint64_t g = perf_released(s->r, now);
	unsigned nd = s->r->ndocs;
	if (g <= s->released)
		return;
	if (g - s->released >= nd) {
		for (unsigned i = 0; i < s->n; i++)
			s->slots[i].dirty = true;
	} else {
		for (uint64_t x = s->released; x < g; x++) {
			unsigned j = (unsigned)(x % nd);
			if (j % s->nthreads == s->k)
				s->slots[j / s->nthreads].dirty = true;
		}
	}
	s->released = g;
}

static void *sender_main(void *arg)
{
	struct perf_sender *s = arg;
	struct perf_run *r = s->r;
	uint64_t total = r->cfg.lines * r->ndocs;
	uint64_t tick = (uint64_t)r->cfg.tick_us * 1000;

	prctl(PR_SET_TIMERSLACK, 1UL);   /* sleep as precisely as the schedule needs */
	if (s->mif != NULL)
		perf_memif_thread_init();
	/* Both modes start at t0: throughput and latency are measured from it,
	 * so a credit-mode sender that began earlier would flatter both. */
	for (uint64_t now = perf_now(); now < r->t0 && !atomic_load(&r->stop); now = perf_now()) {
		struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)(r->t0 - now) };
		nanosleep(&ts, NULL);
	}
	while (s->active > 0 && !atomic_load(&r->stop)) {
		uint64_t now = perf_now();
		s->round_io = 0;
		if (r->open_loop)
			release(s, now);
		for (unsigned i = 0; i < s->n; i++) {
			struct slot *sl = &s->slots[i];
			if (!sl->done && (sl->dirty || sl->due <= now))
				poll_slot(s, i, now);
		}
		flush(s);
		receive(s);

		uint64_t wake = now + MAX_SLEEP_NS;
		for (unsigned i = 0; i < s->n; i++)
			if (!s->slots[i].done && (s->slots[i].dirty || s->slots[i].due < wake))
				wake = s->slots[i].dirty ? 0 : s->slots[i].due;
		if (r->open_loop && s->released < total) {
			uint64_t next = r->t0 + (uint64_t)((double)s->released * 1e9 / r->cfg.rate);
			if (next < now + tick)
				next = now + tick;
			if (next < wake)
				wake = next;
		}
		uint64_t t = perf_now();
		if (s->mif != NULL) {
			/* No descriptor to wait on: poll the port again at once while
			 * traffic flows; when rounds find none, nap, longer each time,
			 * so that an idle generator leaves the CPU to the appliance. */
			if (s->round_io > 0 || wake <= t) {
				s->nap = MEMIF_NAP_MIN_NS;
			} else {
				uint64_t nap = wake - t < s->nap ? wake - t : s->nap;
				struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)nap };
				nanosleep(&ts, NULL);
				if (s->nap < MEMIF_NAP_MAX_NS)
					s->nap *= 2;
			}
		} else if (wake > t) {
			struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
			struct timespec ts = { .tv_sec = (time_t)((wake - t) / 1000000000ull),
					       .tv_nsec = (long)((wake - t) % 1000000000ull) };
			ppoll(&pfd, 1, &ts, NULL);
		}
	}
	return NULL;
}

static uint64_t doc_available(void *arg, uint64_t now)
{
	struct perf_doc *d = arg;
	uint64_t n = perf_doc_due(d->run, d->j, perf_released(d->run, now));
	return n ? d->line_end[n - 1] : 0;
}

/* A UDP socket connected to to (IP:PORT), created in netns if given. */
static int open_socket(const struct perf_cfg *c, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(c->to, ':');
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
	if (colon == NULL || (size_t)(colon - c->to) >= sizeof host || port == 0 || port > 65535) {
		snprintf(err, errlen, "--to '%s': expected IPv4:PORT, e.g. 198.18.0.2:7878", c->to);
		return -1;
	}
	memcpy(host, c->to, (size_t)(colon - c->to));
	host[colon - c->to] = '\0';
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		snprintf(err, errlen, "--to '%s': '%s' is not an IPv4 address", c->to, host);
		return -1;
	}
	sa.sin_port = htons((uint16_t)port);

	int home = -1, target = -1;
	if (c->netns != NULL) {
		char path[300];
		snprintf(path, sizeof path, "/var/run/netns/%s", c->netns);
		home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		target = open(path, O_RDONLY | O_CLOEXEC);
		if (home < 0 || target < 0 || setns(target, CLONE_NEWNET) < 0) {
			snprintf(err, errlen, "--netns %s: cannot enter %s: %s (needs root; see "
				 "`ip netns list`)", c->netns, path, strerror(errno));
			if (home >= 0)
				close(home);
			if (target >= 0)
				close(target);
			return -1;
		}
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int cerr = fd < 0 ? errno : 0;
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		cerr = errno;
		close(fd);
		fd = -1;
	}
	if (home >= 0) {
		if (setns(home, CLONE_NEWNET) < 0) {
			/* The calling thread would stay in the wrong namespace. */
			fprintf(stderr, "sluice-perf: cannot return from netns %s: %s\n", c->netns,
				strerror(errno));
			abort();
		}
		close(home);
		close(target);
	}
	if (fd < 0) {
		snprintf(err, errlen, "cannot open a UDP socket to %s%s%s: %s", c->to,
			 c->netns ? " in netns " : "", c->netns ? c->netns : "", strerror(cerr));
		return -1;
	}
	int b = SOCK_BUF;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &b, sizeof b);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &b, sizeof b);
	return fd;
}

static void sender_free(struct perf_sender *s)
{
	for (unsigned i = 0; i < s->n; i++)
		sl_sender_free(s->slots[i].e);
	free(s->slots);
	free(s->keys);
	free(s->vals);
	if (s->fd >= 0)
		close(s->fd);
	perf_memif_close(s->mif);
	free(s);
}

struct perf_sender *perf_sender_start(struct perf_run *r, unsigned k, char *err, size_t errlen)
{
	struct perf_sender *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, errlen, "out of memory for sender thread %u", k);
		return NULL;
	}
	s->r = r;
	s->k = k;
	s->nthreads = r->cfg.threads;
	s->fd = -1;
	s->nap = MEMIF_NAP_MIN_NS;
	if (r->cfg.memif_socket != NULL)
		s->mif = perf_memif_open(&r->cfg, err, errlen);
	else
		s->fd = open_socket(&r->cfg, err, errlen);
	if (s->fd < 0 && s->mif == NULL) {
		free(s);
		return NULL;
	}
	s->n = (r->ndocs - k + s->nthreads - 1) / s->nthreads;
	unsigned cap = 16;
	while (cap < 4 * s->n)
		cap *= 2;
	s->mask = cap - 1;
	s->slots = calloc(s->n, sizeof *s->slots);
	s->keys = calloc(cap, sizeof *s->keys);
	s->vals = malloc(cap * sizeof *s->vals);
	if (s->slots == NULL || s->keys == NULL || s->vals == NULL) {
		snprintf(err, errlen, "out of memory for sender thread %u", k);
		sender_free(s);
		return NULL;
	}
	for (unsigned i = 0; i < cap; i++)
		s->vals[i] = EMPTY;
	char host[64];
	snprintf(host, sizeof host, "%.*s", (int)(strrchr(r->cfg.to, ':') - r->cfg.to), r->cfg.to);
	for (unsigned i = 0; i < s->n; i++) {
		struct perf_doc *d = &r->docs[k + i * s->nthreads];
		struct sl_send_opts o = {
			.host = host, .port = (uint16_t)atoi(strrchr(r->cfg.to, ':') + 1), .tenant = d->tenant_name, .token = d->token,
			.doc = d->name, .revision = r->cfg.rev, .payload = r->cfg.payload,
			.timeout_ms = r->cfg.timeout_ms,
			.available = r->open_loop ? doc_available : NULL, .available_arg = d,
		};
		s->slots[i].d = d;
		s->slots[i].e = sl_sender_new(&o, d->data, d->len, err, errlen);
		if (s->slots[i].e == NULL) {
			sender_free(s);
			return NULL;
		}
		s->slots[i].session = sl_sender_session(s->slots[i].e);
		map_put(s, s->slots[i].session, (int)i);
		s->slots[i].dirty = true;
	}
	s->active = s->n;
	for (unsigned i = 0; i < BATCH; i++) {
		s->msgs[i].msg_hdr.msg_iov = &s->iov[i];
		s->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	for (unsigned i = 0; i < RX_BATCH; i++) {
		s->rxiov[i].iov_base = s->rxbuf[i];
		s->rxiov[i].iov_len = RX_BUF;
		s->rxmsgs[i].msg_hdr.msg_iov = &s->rxiov[i];
		s->rxmsgs[i].msg_hdr.msg_iovlen = 1;
	}
	return s;
}

int perf_sender_run(struct perf_sender *s, char *err, size_t errlen)
{
	int rc = pthread_create(&s->th, NULL, sender_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start a sender thread: %s", strerror(rc));
		return -1;
	}
	return 0;
}

void perf_sender_join(struct perf_sender *s, struct perf_send_stats *st)
{
	pthread_join(s->th, NULL);
	for (unsigned i = 0; i < s->n; i++) {
		const struct sl_send_result *res = sl_sender_stats(s->slots[i].e);
		s->st.datagrams += res->datagrams;
		s->st.retransmits += res->retransmits;
		s->st.naks += res->naks_received;
		s->st.rto_probes += res->rto_probes;
		s->st.ignored += res->ignored;
		s->st.resumes += res->resumes;
	}
	st->datagrams += s->st.datagrams;
	st->retransmits += s->st.retransmits;
	st->naks += s->st.naks;
	st->rto_probes += s->st.rto_probes;
	st->ignored += s->st.ignored;
	st->resumes += s->st.resumes;
	st->sendmmsg_calls += s->st.sendmmsg_calls;
	st->send_errors += s->st.send_errors;
	st->replies += s->st.replies;
	st->stray_replies += s->st.stray_replies;
	st->docs_failed += s->st.docs_failed;
	sender_free(s);
}
