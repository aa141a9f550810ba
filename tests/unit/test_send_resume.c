/*
 * test_send_resume.c — the sender library (client/send.c) across an
 * appliance restart, against a fake appliance on a loopback UDP socket.
 *
 * Each test runs one script of the fake appliance in a thread while the
 * main thread calls sl_send_document. The fake speaks SLP through the
 * real codec (slp_decode, slp_encode_*), so what it checks is what goes on
 * the wire: the RESUME flag, a new session for the resume OPEN, frames
 * re-cut from the resume offset, and FIN's length and CRC32C covering the
 * whole document. Timeouts are small so a failing test ends in seconds.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/slp.h"
#include "sluice/send.h"
#include "check.h"

#define PAYLOAD 1000u           /* the sender's payload size in these tests */
#define WAIT_MS 3000            /* the fake gives up on the sender after this */
#define STREAM_A 7u             /* the stream before the "restart" */
#define STREAM_B 8u             /* the stream after it */

/* ---- the fake appliance ------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct fake {
	int fd;
	uint16_t port;
	struct sockaddr_in peer;        /* the sender, from its last datagram */
	uint8_t in[SLP_MAX_FRAME + 1];
	uint8_t out[SLP_MAX_FRAME];
	const uint8_t *doc;             /* what the sender should send */
	size_t len;
	uint64_t x;                     /* the resume offset the script uses */
	int down_ms;                    /* script_restart: silent this long before REJECT 6 */
	int frames_while_down;          /* what the sender sent meanwhile (its probes) */
	void (*script)(struct fake *);
	atomic_bool stop;               /* the sender has returned: stop waiting for it */
	bool encode_failed;             /* an encoder refused: the fake itself is broken */
	/* What the script saw, for the main thread to check after join. */
	uint32_t sessions[4];
	uint16_t flags[4];
	int opens;                      /* distinct OPEN sessions seen */
	int open_frames;                /* OPEN frames seen (retransmissions too) */
	bool bad_offset;                /* a DATA after the resume not cut from x */
	bool fin_ok;                    /* FIN's length and CRC were of the whole document */
	uint8_t *got;                   /* bytes received after the resume, at their offsets */
	uint64_t got_hi;                /* contiguous bytes from x */
};

static int fake_open(struct fake *fa)
{
	fa->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fa->fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (bind(fa->fd, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(fa->fd, (struct sockaddr *)&a, &al) < 0) {
		close(fa->fd);
		return -1;
	}
	fa->port = ntohs(a.sin_port);
	return 0;
}

/*
 * The next valid frame from the sender, or false after ms of silence or
 * once the sender has returned (polled in slices so a script waiting for
 * more never holds the test up).
 */
static bool fake_recv(struct fake *fa, struct slp_frame *f, int ms)
{
	for (;;) {
		struct pollfd p = { .fd = fa->fd, .events = POLLIN };
		int r = 0;
		for (int waited = 0; r == 0 && waited < ms && !atomic_load(&fa->stop); waited += 20)
			r = poll(&p, 1, 20);
		if (r <= 0)
			return false;
		socklen_t al = sizeof fa->peer;
		ssize_t n = recvfrom(fa->fd, fa->in, sizeof fa->in, 0,
				     (struct sockaddr *)&fa->peer, &al);
		if (n > 0 && slp_decode(fa->in, (size_t)n, f) == SLP_DEC_OK)
			return true;
	}
}

static void fake_send(struct fake *fa, size_t n)
{
	if (n == 0) {
		fa->encode_failed = true;
		return;
	}
	sendto(fa->fd, fa->out, n, 0, (struct sockaddr *)&fa->peer, sizeof fa->peer);
}

/* Wait for an OPEN, skipping anything else; note its session and flags. */
static bool fake_wait_open(struct fake *fa, struct slp_frame *f)
{
	while (fake_recv(fa, f, WAIT_MS)) {
		if (f->h.type != SLP_OPEN)
			continue;
		fa->open_frames++;
		if (fa->opens == 0 || fa->sessions[fa->opens - 1] != f->h.session) {
			if (fa->opens < 4) {
				fa->sessions[fa->opens] = f->h.session;
				fa->flags[fa->opens] = f->h.flags;
			}
			fa->opens++;
		}
		return true;
	}
	return false;
}

/* Bytes [0, pos) end in a line: the durable offset is the last line end at or before pos. */
static uint64_t line_boundary(const struct fake *fa, uint64_t pos)
{
	while (pos > 0 && fa->doc[pos - 1] != '\n')
		pos--;
	return pos;
}

/*
 * Take the stream `stream` of session `session` from fa->x to the end:
 * STATUS after each in-order DATA, then FIN checked and answered with
 * DONE. A DATA of another session (the old stream) gets REJECT 6, as a
 * restarted appliance would answer it.
 */
static void fake_take_rest(struct fake *fa, uint32_t stream, uint32_t session)
{
	struct slp_frame f;
	fa->got_hi = fa->x;
	while (fake_recv(fa, &f, WAIT_MS)) {
		if (f.h.session != session) {
			if (f.h.type == SLP_DATA || f.h.type == SLP_FIN)
				fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, f.h.stream_id,
								f.h.session, SLP_E_UNKNOWN_STREAM,
								"unknown stream"));
			continue;
		}
		if (f.h.type == SLP_OPEN) {     /* a repeated OPEN: the same ACCEPT */
			fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, stream, session,
							fa->got_hi, 1 << 20, line_boundary(fa, fa->got_hi)));
			continue;
		}
		if (f.h.type == SLP_DATA) {
			uint64_t off = f.u.data.offset;
			if (off < fa->x || (off - fa->x) % PAYLOAD != 0 || f.h.stream_id != stream)
				fa->bad_offset = true;
			else if (off == fa->got_hi && off + f.u.data.len <= fa->len) {
				memcpy(fa->got + off, f.u.data.payload, f.u.data.len);
				fa->got_hi = off + f.u.data.len;
			}
			fake_send(fa, slp_encode_status(fa->out, sizeof fa->out, 0, stream, session,
							fa->got_hi, 1 << 20,
							line_boundary(fa, fa->got_hi)));
			continue;
		}
		if (f.h.type == SLP_FIN) {
			fa->fin_ok = f.u.fin.total_len == fa->len &&
				     f.u.fin.crc32c == slp_crc32c(0, fa->doc, fa->len) &&
				     fa->got_hi == fa->len;
			fake_send(fa, slp_encode_done(fa->out, sizeof fa->out, stream, session, 0,
						      100, 99, 1, ""));
			return;
		}
	}
}

/*
 * The restart: ACCEPT, take DATA (one bogus STATUS with durable beyond
 * the position on the way, which the sender must ignore), report durable
 * up to a line boundary X, then "restart": answer the first DATA past
 * 8000 with REJECT 6 and wait for the RESUME OPEN; ACCEPT it at X.
 */
static void script_restart(struct fake *fa)
{
	struct slp_frame f;
	if (!fake_wait_open(fa, &f))
		return;
	uint32_t s1 = f.h.session;
	fa->x = line_boundary(fa, 5500);
	fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, STREAM_A, s1, 0, 8000, 0));
	uint64_t pos = 0;
	bool bogus_sent = false;
	while (fake_recv(fa, &f, WAIT_MS)) {
		if (f.h.type == SLP_OPEN)
			continue;
		if (f.h.type != SLP_DATA)
			break;
		if (f.u.data.offset >= 8000) {
			/* Down for a while (everything lost), then restarted: the
			 * stream is forgotten, and the sender's next probe says so. */
			if (fa->down_ms > 0) {
				int64_t until = now_ms() + fa->down_ms;
				int64_t left;
				while ((left = until - now_ms()) > 0)
					if (fake_recv(fa, &f, (int)left))
						fa->frames_while_down++;
				do {
					if (!fake_recv(fa, &f, WAIT_MS))
						return;
				} while (f.h.type != SLP_DATA);
			}
			fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, f.h.stream_id,
							f.h.session, SLP_E_UNKNOWN_STREAM,
							"unknown stream"));
			break;
		}
		if (f.u.data.offset == pos)
			pos += f.u.data.len;
		if (!bogus_sent && pos >= 2000) {
			/* durable beyond position: corrupted, to be ignored */
			fake_send(fa, slp_encode_status(fa->out, sizeof fa->out, 0, STREAM_A, s1,
							pos, 8000, pos + 1));
			bogus_sent = true;
		}
		fake_send(fa, slp_encode_status(fa->out, sizeof fa->out, 0, STREAM_A, s1, pos, 8000,
						line_boundary(fa, pos < fa->x ? pos : fa->x)));
	}
	/* The resume OPEN (old-session DATA still arriving gets REJECT 6). */
	for (;;) {
		if (!fake_recv(fa, &f, WAIT_MS))
			return;
		if (f.h.type == SLP_OPEN)
			break;
		if (f.h.type == SLP_DATA || f.h.type == SLP_FIN)
			fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, f.h.stream_id,
							f.h.session, SLP_E_UNKNOWN_STREAM,
							"unknown stream"));
	}
	fa->sessions[1] = f.h.session;
	fa->flags[1] = f.h.flags;
	fa->opens = 2;
	fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, STREAM_B, f.h.session, fa->x,
					1 << 20, fa->x));
	fake_take_rest(fa, STREAM_B, f.h.session);
}

/* The revision completed before: the RESUME OPEN is answered by its DONE. */
static void script_done_to_open(struct fake *fa)
{
	struct slp_frame f;
	if (!fake_wait_open(fa, &f))
		return;
	fake_send(fa, slp_encode_done(fa->out, sizeof fa->out, 9, f.h.session, 0, 42, 40, 2, ""));
}

/* The whole document arrives, then the appliance restarts before DONE:
 * the FIN gets REJECT 6, and the RESUME OPEN gets the DONE. */
static void script_done_after_fin(struct fake *fa)
{
	struct slp_frame f;
	if (!fake_wait_open(fa, &f))
		return;
	uint32_t s1 = f.h.session;
	fa->x = 0;
	fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, STREAM_A, s1, 0, 1 << 20, 0));
	uint64_t pos = 0;
	while (fake_recv(fa, &f, WAIT_MS)) {
		if (f.h.type == SLP_DATA) {
			if (f.u.data.offset == pos)
				pos += f.u.data.len;
			fake_send(fa, slp_encode_status(fa->out, sizeof fa->out, 0, STREAM_A, s1, pos,
							1 << 20, line_boundary(fa, pos)));
		} else if (f.h.type == SLP_FIN) {
			fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, STREAM_A, s1,
							SLP_E_UNKNOWN_STREAM, "unknown stream"));
			break;
		}
	}
	while (fake_wait_open(fa, &f)) {
		if (f.h.session == s1)
			continue;
		fake_send(fa, slp_encode_done(fa->out, sizeof fa->out, STREAM_B, f.h.session, 0,
					      7, 7, 0, ""));
		return;
	}
}

/* A first OPEN with RESUME for a revision older than the highest accepted. */
static void script_reject_revision(struct fake *fa)
{
	struct slp_frame f;
	if (!fake_wait_open(fa, &f))
		return;
	fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, 0, f.h.session, SLP_E_REVISION,
					"revision 3 not newer than 5"));
}

/*
 * The rerun: a first OPEN with RESUME while the dead sender's stream still
 * lingers: REJECT 12 twice (the sender must retry, each time with a new
 * session), then an implausible ACCEPT (durable beyond position: ignored),
 * then ACCEPT at X past 0.
 */
static void script_busy_then_accept(struct fake *fa)
{
	struct slp_frame f;
	for (int i = 0; i < 2; i++) {
		if (!fake_wait_open(fa, &f))
			return;
		fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, 0, f.h.session,
						SLP_E_TENANT_STREAMS, "tenant has 1 stream open"));
	}
	if (!fake_wait_open(fa, &f))
		return;
	fa->x = line_boundary(fa, 3333);
	fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, STREAM_B, f.h.session, fa->x,
					1 << 20, fa->x + 1));
	fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, STREAM_B, f.h.session, fa->x,
					1 << 20, fa->x));
	fake_take_rest(fa, STREAM_B, f.h.session);
}

/* The old stream never goes away: REJECT 12 to every resume OPEN. */
static void script_busy_forever(struct fake *fa)
{
	struct slp_frame f;
	while (fake_wait_open(fa, &f))
		fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, 0, f.h.session,
						SLP_E_TENANT_STREAMS, "tenant has 1 stream open"));
}

/* The appliance restarts and never comes back: REJECT 6, then silence. */
static void script_restart_no_return(struct fake *fa)
{
	struct slp_frame f;
	if (!fake_wait_open(fa, &f))
		return;
	fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, STREAM_A, f.h.session, 0,
					1 << 20, 0));
	while (fake_recv(fa, &f, WAIT_MS)) {
		if (f.h.type == SLP_DATA) {
			fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, f.h.stream_id,
							f.h.session, SLP_E_SHUTDOWN, "stopping"));
			break;
		}
	}
	/* Count the resume OPENs, answer none. */
	while (fake_wait_open(fa, &f))
		;
}

/* An appliance that crashes on the same line each time: ACCEPT at X, REJECT 6. */
static void script_crash_loop(struct fake *fa)
{
	struct slp_frame f;
	fa->x = line_boundary(fa, 2500);
	uint32_t stream = 20;
	while (fake_recv(fa, &f, WAIT_MS)) {
		if (f.h.type == SLP_OPEN)
			fake_send(fa, slp_encode_accept(fa->out, sizeof fa->out, ++stream, f.h.session,
							fa->opens++ ? fa->x : 0, 1 << 20, 0));
		else if (f.h.type == SLP_DATA && f.u.data.offset >= fa->x)
			fake_send(fa, slp_encode_reject(fa->out, sizeof fa->out, f.h.stream_id,
							f.h.session, SLP_E_UNKNOWN_STREAM,
							"unknown stream"));
	}
}

static void *fake_main(void *arg)
{
	struct fake *fa = arg;
	fa->script(fa);
	return NULL;
}

/* ---- running one test ---------------------------------------------------- */

/* A CSV-like document of n lines of varying length. */
static uint8_t *make_doc(size_t want, size_t *len)
{
	uint8_t *d = malloc(want + 64);
	size_t n = 0;
	for (unsigned i = 0; n < want; i++)
		n += (size_t)sprintf((char *)d + n, "row-%u,%u,%.*s\n", i, i * 7u,
				     (int)(i % 23), "abcdefghijklmnopqrstuvwxyz");
	*len = n;
	return d;
}

struct outcome {
	int rc;
	struct sl_send_result res;
};

static void run(struct fake *fa, void (*script)(struct fake *), int resume, uint32_t timeout_ms,
		struct outcome *out)
{
	memset(out, 0, sizeof *out);
	out->rc = 99;           /* not run */
	fa->script = script;
	fa->got = calloc(1, fa->len + 1);
	if (fake_open(fa) < 0) {
		CHECK(!"cannot bind a loopback UDP socket");
		return;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, fake_main, fa) != 0) {
		CHECK(!"cannot start the fake appliance's thread");
		close(fa->fd);
		return;
	}
	struct sl_send_opts o = {
		.host = "127.0.0.1", .port = fa->port, .tenant = "acme", .token = "tok",
		.doc = "orders", .revision = 5, .payload = PAYLOAD, .timeout_ms = timeout_ms,
		.resume = resume,
	};
	out->rc = sl_send_document(&o, fa->doc, fa->len, &out->res);
	atomic_store(&fa->stop, true);
	pthread_join(t, NULL);
	close(fa->fd);
	CHECK(!fa->encode_failed);
}

/* ---- the tests ------------------------------------------------------------ */

static void test_restart_mid_document(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_restart, 0, 2000, &o);
	CHECK(o.rc == 0);
	CHECK(o.res.code == 0);
	CHECK(o.res.resumes == 1);
	CHECK(fa.x > 0 && fa.x % PAYLOAD != 0);         /* the test means it */
	CHECK(o.res.resumed_from == fa.x);
	CHECK(o.res.bytes == len);
	CHECK(o.res.lines == 100 && o.res.ok == 99 && o.res.errors == 1);
	CHECK(o.res.ignored >= 1);                      /* the STATUS with durable > position */
	CHECK(fa.opens == 2);
	CHECK(fa.flags[0] == 0);                        /* a plain first OPEN */
	CHECK(fa.flags[1] == SLP_F_RESUME);
	CHECK(fa.sessions[1] != fa.sessions[0]);
	CHECK(!fa.bad_offset);
	CHECK(fa.fin_ok);
	CHECK(fa.got_hi == len && memcmp(fa.got + fa.x, doc + fa.x, len - fa.x) == 0);
	if (o.rc != 0)
		fprintf(stderr, "    reason: %s\n", o.res.reason);
	free(fa.got);
	report("restart mid-document: resume from the durable offset");
}

static void test_restart_after_outage(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len, .down_ms = 700 };
	struct outcome o;
	run(&fa, script_restart, 0, 2000, &o);
	CHECK(o.rc == 0);
	CHECK(o.res.resumes == 1 && o.res.resumed_from == fa.x);
	CHECK(o.res.rto_probes >= 1);
	CHECK(fa.frames_while_down >= 1);               /* it kept probing the silent appliance */
	CHECK(fa.opens == 2 && fa.flags[1] == SLP_F_RESUME);
	CHECK(!fa.bad_offset && fa.fin_ok);
	CHECK(fa.got_hi == len && memcmp(fa.got + fa.x, doc + fa.x, len - fa.x) == 0);
	if (o.rc != 0)
		fprintf(stderr, "    reason: %s\n", o.res.reason);
	free(fa.got);
	report("appliance down 0.7 s, then restarted: a probe draws REJECT 6, resume");
}

static void test_done_to_resume_open(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_done_to_open, 1, 500, &o);
	CHECK(o.rc == 0);
	CHECK(o.res.code == 0);
	CHECK(o.res.lines == 42 && o.res.ok == 40 && o.res.errors == 2);
	CHECK(o.res.bytes == len);
	CHECK(o.res.resumes == 0);
	CHECK(fa.opens == 1 && fa.flags[0] == SLP_F_RESUME);
	free(fa.got);
	report("resume OPEN answered by DONE: the earlier result");
}

static void test_done_after_fin_restart(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_done_after_fin, 0, 1000, &o);
	CHECK(o.rc == 0);
	CHECK(o.res.code == 0);
	CHECK(o.res.lines == 7 && o.res.ok == 7);
	CHECK(o.res.bytes == len);
	CHECK(fa.opens == 2 && fa.flags[0] == 0 && fa.flags[1] == SLP_F_RESUME);
	if (o.rc != 0)
		fprintf(stderr, "    reason: %s\n", o.res.reason);
	free(fa.got);
	report("restart after the last byte: FIN's REJECT 6, then DONE to the resume OPEN");
}

static void test_reject_revision(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_reject_revision, 1, 500, &o);
	CHECK(o.rc == 1);
	CHECK(o.res.code == SLP_E_REVISION);
	CHECK(strstr(o.res.reason, "not newer") != NULL);
	CHECK(o.res.resumes == 0);
	CHECK(fa.opens == 1 && fa.flags[0] == SLP_F_RESUME);
	free(fa.got);
	report("resume OPEN refused with REJECT 3: final");
}

static void test_busy_then_accept(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_busy_then_accept, 1, 2000, &o);
	CHECK(o.rc == 0);
	CHECK(o.res.resumes == 1 && o.res.resumed_from == fa.x && fa.x > 0);
	CHECK(o.res.ignored >= 1);                      /* the ACCEPT with durable > position */
	CHECK(fa.opens == 3);
	CHECK(fa.sessions[0] != fa.sessions[1] && fa.sessions[1] != fa.sessions[2]);
	CHECK(fa.flags[0] == SLP_F_RESUME && fa.flags[2] == SLP_F_RESUME);
	CHECK(!fa.bad_offset && fa.fin_ok);
	CHECK(memcmp(fa.got + fa.x, doc + fa.x, len - fa.x) == 0);
	if (o.rc != 0)
		fprintf(stderr, "    reason: %s\n", o.res.reason);
	free(fa.got);
	report("rerun with resume: REJECT 12 retried under new sessions, then ACCEPT at X");
}

static void test_busy_forever(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_busy_forever, 1, 600, &o);
	CHECK(o.rc == 1);
	CHECK(o.res.code == SLP_E_TENANT_STREAMS);
	CHECK(strstr(o.res.reason, "still refuses to resume") != NULL);
	CHECK(fa.opens >= 3);                           /* it did retry, about every 200 ms */
	free(fa.got);
	report("resume OPEN refused with REJECT 12 until the timeout: fails with 12");
}

static void test_restart_no_return(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_restart_no_return, 0, 700, &o);
	CHECK(o.rc == -1);
	CHECK(strstr(o.res.reason, "lost the stream") != NULL);
	CHECK(strstr(o.res.reason, "--resume") != NULL);
	CHECK(fa.opens == 2);                           /* the first session and the resume one */
	CHECK(fa.open_frames >= 3);                     /* resume OPENs repeated every 200 ms */
	CHECK(fa.flags[1] == SLP_F_RESUME);
	if (cur_failed)
		fprintf(stderr, "    rc %d, %d OPENs, reason: %s\n", o.rc, fa.opens, o.res.reason);
	free(fa.got);
	report("REJECT 10 mid-document, then silence: fails after the timeout");
}

static void test_crash_loop(const uint8_t *doc, size_t len)
{
	struct fake fa = { .doc = doc, .len = len };
	struct outcome o;
	run(&fa, script_crash_loop, 0, 1000, &o);
	CHECK(o.rc == -1);
	CHECK(strstr(o.res.reason, "restarted") != NULL);
	CHECK(o.res.resumes >= 2 && o.res.resumes <= 16);
	CHECK(o.res.resumed_from == fa.x);
	free(fa.got);
	report("an appliance crashing at the same place: the sender stops resuming");
}

int main(void)
{
	size_t len;
	uint8_t *doc = make_doc(20000, &len);
	test_restart_mid_document(doc, len);
	test_restart_after_outage(doc, len);
	test_done_to_resume_open(doc, len);
	test_done_after_fin_restart(doc, len);
	test_reject_revision(doc, len);
	test_busy_then_accept(doc, len);
	test_busy_forever(doc, len);
	test_restart_no_return(doc, len);
	test_crash_loop(doc, len);
	free(doc);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
