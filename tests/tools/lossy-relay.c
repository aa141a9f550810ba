/*
 * lossy-relay.c — sluice-lossy: a UDP relay that damages traffic on purpose.
 *
 *   sluice-lossy --listen IP:PORT --to IP:PORT [--drop PCT] [--dup PCT]
 *                [--reorder PCT] [--corrupt PCT] [--corrupt-data-only]
 *                [--seed N] [--duration S] [--stats FILE]
 *
 * For tests and benchmarks of SLP's reliability: senders talk to
 * --listen, the relay forwards to --to, and replies come back the same
 * way. In BOTH directions each datagram is, independently and with the
 * given probabilities (percent, 0..100):
 *
 *   dropped     never forwarded;
 *   corrupted   one random bit of the UDP payload flipped. The kernel
 *               computes a fresh, valid UDP checksum for what we send, so
 *               only SLP's own CRC can notice;
 *   duplicated  forwarded twice;
 *   reordered   held back, and released after the next 1..8 datagrams in
 *               the same direction, or after 5 ms, whichever comes first.
 *
 * --corrupt-data-only limits corruption to SLP DATA frames, to measure
 * damage to the data path alone. Without it every frame type is fair
 * game, control frames in both directions included: SLP v2 ends every
 * frame with a CRC32C, so a damaged OPEN, STATUS, NAK or DONE is a loss
 * like any other.
 *
 * Each client (source address:port on --listen) gets its own upstream
 * socket connected to --to, so the appliance sees one peer per client and
 * its replies find their way back. At most MAX_CLIENTS clients.
 *
 * The relay must not be the bottleneck of a benchmark: datagrams move in
 * batches with recvmmsg/sendmmsg, and one poll() watches every socket.
 * Decisions come from a seeded xorshift PRNG, so --seed N repeats a run's
 * damage pattern for the same traffic. On SIGINT/SIGTERM or after
 * --duration seconds the counters go to --stats FILE (or stderr) as one
 * JSON object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define HASH_SLOTS 2048                 /* power of two, > 1.5 x MAX_CLIENTS */
#define BATCH 64
#define DGRAM_MAX 65536
#define HOLD_MAX 256                    /* reordered datagrams held at once, per direction */
#define HOLD_NS (5 * 1000000ull)
#define SOCKBUF_BYTES (8 << 20)

enum dir { C2S, S2C };                  /* client to server, server to client */
static const char *const dir_name[] = { "to_server", "to_client" };

struct counters {
	uint64_t in, out, dropped, duplicated, reordered, corrupted;
};

struct client {
	struct sockaddr_in addr;        /* the client as seen on --listen */
	int fd;                         /* upstream socket connected to --to */
};

/* A datagram on its way out: where to, and its bytes. */
struct outmsg {
	int fd;                         /* socket to send on */
	struct sockaddr_in to;          /* destination for the listen socket (S2C) */
	bool use_to;
	size_t len;
	uint8_t *data;
};

struct held {
	struct outmsg m;
	unsigned countdown;             /* datagrams in this direction still to pass */
	uint64_t deadline_ns;
	uint8_t buf[DGRAM_MAX];
};

/* Outgoing batch: messages with the same socket go out in one sendmmsg. */
struct batch {
	unsigned n;
	struct outmsg m[BATCH * 2 + HOLD_MAX];
	uint8_t copies[BATCH * 2][DGRAM_MAX];   /* duplicates and corrupted copies */
	unsigned ncopies;
};

struct relay {
	int lfd;
	struct sockaddr_in upstream;
	double drop, dup, reorder, corrupt;
	bool corrupt_data_only;
	uint64_t rng;

	struct client clients[MAX_CLIENTS];
	unsigned nclients;
	int16_t slot[HASH_SLOTS];       /* index into clients, -1 = empty */
	bool full_warned;

	struct held *hold[2];           /* HOLD_MAX each */
	bool held_used[2][HOLD_MAX];
	unsigned nheld[2];

	struct counters c[2];
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;
	fputs("sluice-lossy: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- randomness ------------------------------------------------------- */

/* xorshift64*: fast, and good enough to decide the fate of datagrams. */
static uint64_t rnd(struct relay *r)
{
	uint64_t x = r->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static bool chance(struct relay *r, double pct)
{
	if (pct <= 0)
		return false;
	double u = (double)(rnd(r) >> 11) * (1.0 / 9007199254740992.0);   /* [0, 1) */
	return u * 100.0 < pct;
}

/* ---- arguments -------------------------------------------------------- */

static void usage(FILE *f)
{
	fputs("usage: sluice-lossy --listen IP:PORT --to IP:PORT [--drop PCT] [--dup PCT]\n"
	      "                    [--reorder PCT] [--corrupt PCT] [--corrupt-data-only]\n"
	      "                    [--seed N] [--duration S] [--stats FILE]\n"
	      "\n"
	      "Relay UDP between clients on --listen and the server at --to, dropping,\n"
	      "duplicating, reordering and corrupting datagrams in both directions.\n"
	      "PCT is a percentage from 0 to 100 (fractions allowed). Counters are written\n"
	      "as JSON to FILE (or stderr) on SIGINT/SIGTERM or after --duration seconds.\n", f);
}

static void parse_addr(const char *opt, const char *s, struct sockaddr_in *a)
{
	const char *colon = strrchr(s, ':');
	char ip[64];
	if (colon == NULL || (size_t)(colon - s) >= sizeof ip || colon == s)
		die("%s '%s': expected IP:PORT, e.g. 127.0.0.1:7879", opt, s);
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	char *end;
	errno = 0;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno || port < 1 || port > 65535)
		die("%s '%s': port must be a number from 1 to 65535", opt, s);
	memset(a, 0, sizeof *a);
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &a->sin_addr) != 1)
		die("%s '%s': '%s' is not an IPv4 address", opt, s, ip);
}

static double parse_pct(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || errno || !(v >= 0.0 && v <= 100.0))
		die("%s '%s': expected a percentage from 0 to 100", opt, s);
	return v;
}

static uint64_t parse_u64(const char *opt, const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (end == s || *end != '\0' || errno || s[0] == '-')
		die("%s '%s': expected a whole number", opt, s);
	return v;
}

/* ---- sockets and clients --------------------------------------------- */

static void big_buffers(int fd)
{
	int sz = SOCKBUF_BYTES;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

static unsigned addr_hash(const struct sockaddr_in *a)
{
	uint64_t k = (uint64_t)a->sin_addr.s_addr << 16 | a->sin_port;
	return (unsigned)((k * 0x9E3779B97F4A7C15ull) >> 40) & (HASH_SLOTS - 1);
}

static bool same_addr(const struct sockaddr_in *a, const struct sockaddr_in *b)
{
	return a->sin_addr.s_addr == b->sin_addr.s_addr && a->sin_port == b->sin_port;
}

/* The client for this source address, created on first sight; NULL if full. */
static struct client *client_for(struct relay *r, const struct sockaddr_in *src)
{
	unsigned h = addr_hash(src);
	for (;; h = (h + 1) & (HASH_SLOTS - 1)) {
		int i = r->slot[h];
		if (i < 0)
			break;
		if (same_addr(&r->clients[i].addr, src))
			return &r->clients[i];
	}
	if (r->nclients == MAX_CLIENTS) {
		if (!r->full_warned)
			fprintf(stderr, "sluice-lossy: more than %u clients; datagrams from new "
				"ones are dropped\n", MAX_CLIENTS);
		r->full_warned = true;
		return NULL;
	}
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&r->upstream, sizeof r->upstream) < 0)
		die("cannot open an upstream socket to the server: %s", strerror(errno));
	big_buffers(fd);
	struct client *c = &r->clients[r->nclients];
	c->addr = *src;
	c->fd = fd;
	r->slot[h] = (int16_t)r->nclients++;
	return c;
}

/* ---- sending ---------------------------------------------------------- */

static void flush_run(struct relay *r, enum dir d, struct outmsg *m, unsigned n)
{
	struct mmsghdr mh[BATCH * 2 + HOLD_MAX];
	struct iovec iov[BATCH * 2 + HOLD_MAX];
	for (unsigned i = 0; i < n; i++) {
		iov[i].iov_base = m[i].data;
		iov[i].iov_len = m[i].len;
		memset(&mh[i], 0, sizeof mh[i]);
		mh[i].msg_hdr.msg_iov = &iov[i];
		mh[i].msg_hdr.msg_iovlen = 1;
		if (m[i].use_to) {
			mh[i].msg_hdr.msg_name = &m[i].to;
			mh[i].msg_hdr.msg_namelen = sizeof m[i].to;
		}
	}
	unsigned done = 0;
	while (done < n) {
		int k = sendmmsg(m[0].fd, mh + done, n - done, 0);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				/* Full socket buffer: wait for room rather than drop
				 * datagrams we did not decide to drop. */
				struct pollfd p = { .fd = m[0].fd, .events = POLLOUT };
				poll(&p, 1, 10);
				continue;
			}
			/* ECONNREFUSED and friends: the server is not there (yet);
			 * this datagram is lost, like on a real network. */
			done++;
			continue;
		}
		done += (unsigned)k;
		r->c[d].out += (uint64_t)k;
	}
}

/* Send everything batched, one sendmmsg per run of the same socket. */
static void flush(struct relay *r, enum dir d, struct batch *b)
{
	unsigned start = 0;
	for (unsigned i = 1; i <= b->n; i++) {
		if (i == b->n || b->m[i].fd != b->m[start].fd) {
			flush_run(r, d, b->m + start, i - start);
			start = i;
		}
	}
	b->n = 0;
	b->ncopies = 0;
}

static void enqueue(struct batch *b, const struct outmsg *m)
{
	b->m[b->n++] = *m;
}

/* Release held datagrams whose countdown ran out or whose time is up. */
static void release_held(struct relay *r, enum dir d, struct batch *b, uint64_t now, bool all)
{
	for (unsigned i = 0; i < HOLD_MAX && r->nheld[d]; i++) {
		if (!r->held_used[d][i])
			continue;
		struct held *h = &r->hold[d][i];
		if (all || h->countdown == 0 || now >= h->deadline_ns) {
			enqueue(b, &h->m);
			r->held_used[d][i] = false;
			r->nheld[d]--;
		}
	}
}

static bool looks_like_slp_data(const uint8_t *p, size_t n)
{
	return n > 28 && p[0] == 'S' && p[1] == 'L' && p[3] == 0x02;
}

/* Decide one datagram's fate and queue what goes out. */
static void process(struct relay *r, enum dir d, struct outmsg m, struct batch *b, uint64_t now)
{
	struct counters *c = &r->c[d];
	c->in++;
	/* This datagram passes every held one in its direction. */
	for (unsigned i = 0; i < HOLD_MAX && r->nheld[d]; i++)
		if (r->held_used[d][i] && r->hold[d][i].countdown > 0)
			r->hold[d][i].countdown--;

	/* Independent decisions: always draw all four, so one rate does not
	 * shift the pattern of another for a given seed. */
	bool drop = chance(r, r->drop), dup = chance(r, r->dup);
	bool reorder = chance(r, r->reorder), corrupt = chance(r, r->corrupt);
	uint64_t bitpick = rnd(r);
	unsigned delay = 1 + (unsigned)(rnd(r) % 8);

	if (drop) {
		c->dropped++;
		return;
	}
	if (corrupt && m.len > 0 && (!r->corrupt_data_only || looks_like_slp_data(m.data, m.len))) {
		/* In place, before the duplicate is copied: both carry the same damage,
		 * as they would if a link had damaged the datagram before a duplicating hop. */
		size_t bit = (size_t)(bitpick % (m.len * 8));
		m.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		c->corrupted++;
	}
	if (dup) {
		uint8_t *copy = b->copies[b->ncopies++];
		memcpy(copy, m.data, m.len);
		struct outmsg m2 = m;
		m2.data = copy;
		enqueue(b, &m2);
		c->duplicated++;
	}
	if (reorder && r->nheld[d] < HOLD_MAX) {
		for (unsigned i = 0; i < HOLD_MAX; i++) {
			if (r->held_used[d][i])
				continue;
			struct held *h = &r->hold[d][i];
			memcpy(h->buf, m.data, m.len);
			h->m = m;
			h->m.data = h->buf;
			h->countdown = delay;
			h->deadline_ns = now + HOLD_NS;
			r->held_used[d][i] = true;
			r->nheld[d]++;
			c->reordered++;
			return;
		}
	}
	enqueue(b, &m);
}

/* ---- receiving -------------------------------------------------------- */

struct rxbuf {
	struct mmsghdr mh[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_in from[BATCH];
	uint8_t data[BATCH][DGRAM_MAX];
};

/* Read one batch from fd; returns how many datagrams (0 if none). */
static unsigned rx_batch(int fd, struct rxbuf *rx)
{
	for (unsigned i = 0; i < BATCH; i++) {
		rx->iov[i].iov_base = rx->data[i];
		rx->iov[i].iov_len = DGRAM_MAX;
		memset(&rx->mh[i], 0, sizeof rx->mh[i]);
		rx->mh[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->mh[i].msg_hdr.msg_iovlen = 1;
		rx->mh[i].msg_hdr.msg_name = &rx->from[i];
		rx->mh[i].msg_hdr.msg_namelen = sizeof rx->from[i];
	}
	for (;;) {
		int n = recvmmsg(fd, rx->mh, BATCH, MSG_DONTWAIT, NULL);
		if (n >= 0)
			return (unsigned)n;
		if (errno == EINTR)
			continue;
		/* EAGAIN, or a pending ICMP error (ECONNREFUSED) on an upstream socket. */
		return 0;
	}
}

static void from_clients(struct relay *r, struct rxbuf *rx, struct batch *b)
{
	unsigned n = rx_batch(r->lfd, rx);
	uint64_t now = now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct client *c = client_for(r, &rx->from[i]);
		if (c == NULL)
			continue;
		struct outmsg m = { .fd = c->fd, .len = rx->mh[i].msg_len, .data = rx->data[i] };
		process(r, C2S, m, b, now);
	}
	release_held(r, C2S, b, now, false);
	flush(r, C2S, b);
}

static void from_server(struct relay *r, struct client *c, struct rxbuf *rx, struct batch *b)
{
	unsigned n = rx_batch(c->fd, rx);
	uint64_t now = now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct outmsg m = { .fd = r->lfd, .to = c->addr, .use_to = true,
				    .len = rx->mh[i].msg_len, .data = rx->data[i] };
		process(r, S2C, m, b, now);
	}
	release_held(r, S2C, b, now, false);
	flush(r, S2C, b);
}

/* ---- stats ------------------------------------------------------------ */

static void write_stats(const struct relay *r, const char *path, double secs)
{
	FILE *f = stderr;
	if (path) {
		f = fopen(path, "w");
		if (f == NULL) {
			fprintf(stderr, "sluice-lossy: cannot write stats to '%s': %s; "
				"writing them here instead\n", path, strerror(errno));
			f = stderr;
		}
	}
	fprintf(f, "{\"seconds\": %.3f, \"clients\": %u", secs, r->nclients);
	for (int d = 0; d < 2; d++) {
		const struct counters *c = &r->c[d];
		fprintf(f, ", \"%s\": {\"in\": %" PRIu64 ", \"out\": %" PRIu64
			", \"dropped\": %" PRIu64 ", \"duplicated\": %" PRIu64
			", \"reordered\": %" PRIu64 ", \"corrupted\": %" PRIu64 "}",
			dir_name[d], c->in, c->out, c->dropped, c->duplicated, c->reordered,
			c->corrupted);
	}
	fputs("}\n", f);
	if (f != stderr && fclose(f) != 0)
		fprintf(stderr, "sluice-lossy: cannot write stats to '%s': %s\n", path,
			strerror(errno));
}

/* ---- main ------------------------------------------------------------- */

int main(int argc, char **argv)
{
	enum { O_LISTEN = 1000, O_TO, O_DROP, O_DUP, O_REORDER, O_CORRUPT, O_CDATA, O_SEED,
	       O_DURATION, O_STATS };
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "to", required_argument, NULL, O_TO },
		{ "drop", required_argument, NULL, O_DROP },
		{ "dup", required_argument, NULL, O_DUP },
		{ "reorder", required_argument, NULL, O_REORDER },
		{ "corrupt", required_argument, NULL, O_CORRUPT },
		{ "corrupt-data-only", no_argument, NULL, O_CDATA },
		{ "seed", required_argument, NULL, O_SEED },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "stats", required_argument, NULL, O_STATS },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct relay r;          /* large: keep it off the stack */
	struct sockaddr_in listen_addr;
	bool have_listen = false, have_to = false;
	uint64_t seed = 1, duration = 0;
	const char *stats = NULL;

	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case O_LISTEN: parse_addr("--listen", optarg, &listen_addr); have_listen = true; break;
		case O_TO: parse_addr("--to", optarg, &r.upstream); have_to = true; break;
		case O_DROP: r.drop = parse_pct("--drop", optarg); break;
		case O_DUP: r.dup = parse_pct("--dup", optarg); break;
		case O_REORDER: r.reorder = parse_pct("--reorder", optarg); break;
		case O_CORRUPT: r.corrupt = parse_pct("--corrupt", optarg); break;
		case O_CDATA: r.corrupt_data_only = true; break;
		case O_SEED: seed = parse_u64("--seed", optarg); break;
		case O_DURATION: duration = parse_u64("--duration", optarg); break;
		case O_STATS: stats = optarg; break;
		case 'h': usage(stdout); return 0;
		case ':': die("%s needs a value", argv[optind - 1]);
		default: die("unknown option '%s' (--help for usage)", argv[optind - 1]);
		}
	}
	if (!have_listen || !have_to)
		die("--listen IP:PORT and --to IP:PORT are both required (--help for usage)");
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	/* xorshift must not start at 0; mix the seed so 1, 2, 3 differ at once. */
	r.rng = (seed + 1) * 0x9E3779B97F4A7C15ull;
	if (r.rng == 0)
		r.rng = 1;

	for (int i = 0; i < HASH_SLOTS; i++)
		r.slot[i] = -1;
	for (int d = 0; d < 2; d++) {
		r.hold[d] = calloc(HOLD_MAX, sizeof *r.hold[d]);
		if (r.hold[d] == NULL)
			die("out of memory");
	}
	struct rxbuf *rx = malloc(sizeof *rx);
	struct batch *b = malloc(sizeof *b);
	if (rx == NULL || b == NULL)
		die("out of memory");
	b->n = b->ncopies = 0;

	r.lfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (r.lfd < 0)
		die("cannot create a UDP socket: %s", strerror(errno));
	int one = 1;
	setsockopt(r.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	big_buffers(r.lfd);
	if (bind(r.lfd, (struct sockaddr *)&listen_addr, sizeof listen_addr) < 0)
		die("cannot listen on the --listen address: %s", strerror(errno));

	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	uint64_t start = now_ns();
	uint64_t end = duration ? start + duration * 1000000000ull : UINT64_MAX;
	struct pollfd pfd[1 + MAX_CLIENTS];

	while (!stop_requested) {
		uint64_t now = now_ns();
		if (now >= end)
			break;

		/* Held datagrams past their 5 ms go out even if traffic stops. */
		for (int d = 0; d < 2; d++) {
			if (r.nheld[d] == 0)
				continue;
			release_held(&r, (enum dir)d, b, now, false);
			flush(&r, (enum dir)d, b);
		}
		uint64_t wake = end;
		for (int d = 0; d < 2; d++)
			for (unsigned i = 0; i < HOLD_MAX && r.nheld[d]; i++)
				if (r.held_used[d][i] && r.hold[d][i].deadline_ns < wake)
					wake = r.hold[d][i].deadline_ns;
		int timeout = -1;
		if (wake != UINT64_MAX)
			timeout = wake <= now ? 0 : (int)((wake - now + 999999) / 1000000);

		pfd[0] = (struct pollfd){ .fd = r.lfd, .events = POLLIN };
		for (unsigned i = 0; i < r.nclients; i++)
			pfd[1 + i] = (struct pollfd){ .fd = r.clients[i].fd, .events = POLLIN };
		unsigned nfds = 1 + r.nclients;
		int n = poll(pfd, nfds, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll failed: %s", strerror(errno));
		}
		if (pfd[0].revents & (POLLIN | POLLERR))
			from_clients(&r, rx, b);
		for (unsigned i = 0; i + 1 < nfds; i++)
			if (pfd[1 + i].revents & (POLLIN | POLLERR))
				from_server(&r, &r.clients[i], rx, b);
	}

	/* What is still held goes out: the relay reorders, it does not lose. */
	for (int d = 0; d < 2; d++) {
		release_held(&r, (enum dir)d, b, now_ns(), true);
		flush(&r, (enum dir)d, b);
	}
	write_stats(&r, stats, (double)(now_ns() - start) / 1e9);
	for (unsigned i = 0; i < r.nclients; i++)
		close(r.clients[i].fd);
	close(r.lfd);
	free(rx);
	free(b);
	free(r.hold[0]);
	free(r.hold[1]);
	return 0;
}
