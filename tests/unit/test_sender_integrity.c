/*
 * test_sender_integrity.c — the sender engine (client/sender.c) against
 * replies that were damaged on the way, or that cannot be true.
 *
 * The engine does no I/O, so the test is the appliance: it feeds crafted
 * replies at chosen times and decodes the frames the engine wants sent.
 * The cases are the ones independent verification met through a relay
 * that rewrote datagrams and fixed their UDP checksum: a STATUS whose
 * window grew (256 KiB read as 16 MiB), a STATUS whose position moved up
 * by whole frames (still within what was sent), a DONE whose counts did
 * not add up. With a CRC32C on every frame, each is caught and counted;
 * a reply that passes the CRC but contradicts what was sent is ignored
 * and counted too; and a STATUS with SLP_F_BEYOND brings a sender that
 * overran the window back to the window's edge at once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "dataplane/slp.h"
#include "sluice/sender.h"
#include "check.h"

#define PAYLOAD 1000u
#define DOC_LEN 40000u
#define STREAM 7u
#define MS 1000000ull

static uint8_t doc[DOC_LEN];

struct rig {
	struct sl_sender *s;
	uint32_t session;
	uint64_t now;
	/* the frames of the last poll, decoded */
	unsigned n;
	struct slp_frame f[256];
	uint8_t copy[256][SLP_MAX_FRAME];
};

static unsigned poll_at(struct rig *r, uint64_t now)
{
	struct iovec io[256];
	r->now = now;
	r->n = sl_sender_poll(r->s, now, io, 256);
	for (unsigned i = 0; i < r->n; i++) {
		memcpy(r->copy[i], io[i].iov_base, io[i].iov_len);
		if (slp_decode(r->copy[i], io[i].iov_len, &r->f[i]) != SLP_DEC_OK)
			CHECK(!"the engine sent a frame that does not decode");
	}
	return r->n;
}

/* DATA offsets of the last poll, in order, as a bitmap of frame numbers. */
static bool sent_data_at(const struct rig *r, uint64_t off)
{
	for (unsigned i = 0; i < r->n; i++)
		if (r->f[i].h.type == SLP_DATA && r->f[i].u.data.offset == off)
			return true;
	return false;
}

static unsigned data_frames(const struct rig *r)
{
	unsigned k = 0;
	for (unsigned i = 0; i < r->n; i++)
		k += r->f[i].h.type == SLP_DATA;
	return k;
}

static uint64_t highest_data_end(const struct rig *r)
{
	uint64_t hi = 0;
	for (unsigned i = 0; i < r->n; i++)
		if (r->f[i].h.type == SLP_DATA && r->f[i].u.data.offset + r->f[i].u.data.len > hi)
			hi = r->f[i].u.data.offset + r->f[i].u.data.len;
	return hi;
}

static void feed(struct rig *r, const uint8_t *b, size_t n)
{
	CHECK(n > 0);
	sl_sender_input(r->s, b, n, r->now);
}

/* The stream is open: OPEN went out, the ACCEPT gave window w. */
static void rig_open(struct rig *r, uint32_t window)
{
	static const struct sl_send_opts o = {
		.tenant = "acme", .token = "tok", .doc = "orders", .revision = 1,
		.payload = PAYLOAD, .timeout_ms = 30000,
	};
	char err[256];
	memset(r, 0, sizeof *r);
	r->s = sl_sender_new(&o, doc, sizeof doc, err, sizeof err);
	CHECK(r->s != NULL);
	poll_at(r, 1 * MS);
	CHECK(r->n == 1 && r->f[0].h.type == SLP_OPEN);
	r->session = sl_sender_session(r->s);
	uint8_t b[64];
	feed(r, b, slp_encode_accept(b, sizeof b, STREAM, r->session, 0, window, 0));
}

static void feed_status(struct rig *r, uint16_t flags, uint64_t pos, uint32_t window, uint64_t durable,
			int flip_byte, uint8_t flip)
{
	uint8_t b[64];
	size_t n = slp_encode_status(b, sizeof b, flags, STREAM, r->session, pos, window, durable);
	if (flip_byte >= 0)
		b[flip_byte] ^= flip;
	feed(r, b, n);
}

/* A STATUS whose window was corrupted from 8000 to ~16 MiB: dropped, not believed. */
static void test_corrupt_window(void)
{
	struct rig r;
	rig_open(&r, 8000);
	poll_at(&r, 2 * MS);
	CHECK(data_frames(&r) == 8 && highest_data_end(&r) == 8000);

	/* window 8000 = 0x00001f40; flipping bits of its top byte makes it 16 MiB and more */
	feed_status(&r, 0, 0, 8000, 0, SLP_HDR_LEN + 8 + 0, 0x01);
	const struct sl_send_result *st = sl_sender_stats(r.s);
	CHECK(st->corrupt == 1);
	poll_at(&r, 3 * MS);
	CHECK(data_frames(&r) == 0);            /* nothing past the real window */

	/* The real window, uncorrupted, moves it on. */
	feed_status(&r, 0, 4000, 8000, 0, -1, 0);
	poll_at(&r, 4 * MS);
	CHECK(data_frames(&r) == 4 && highest_data_end(&r) == 12000);
	CHECK(st->corrupt == 1 && st->ignored == 0);
	sl_sender_free(r.s);
	report("a STATUS with a corrupted window is dropped (CRC), the sender keeps to the real one");
}

/* A position raised by whole frames, within what was sent: never skip bytes on it. */
static void test_corrupt_position(void)
{
	struct rig r;
	rig_open(&r, 8000);
	poll_at(&r, 2 * MS);
	CHECK(data_frames(&r) == 8);

	/* position 0 -> 4000 (0x0fa0): bits flipped in the position's low bytes */
	feed_status(&r, 0, 0, 8000, 0, SLP_HDR_LEN + 6, 0x0f);
	feed_status(&r, 0, 0, 8000, 0, SLP_HDR_LEN + 7, 0xa0);
	const struct sl_send_result *st = sl_sender_stats(r.s);
	CHECK(st->corrupt == 2);
	/* Replies that pass the CRC but cannot be true are ignored and counted:
	 * beyond what was sent, not a frame boundary, durable past position. */
	feed_status(&r, 0, 9000, 8000, 0, -1, 0);
	feed_status(&r, 0, 4500, 8000, 0, -1, 0);
	feed_status(&r, 0, 4000, 8000, 5000, -1, 0);
	CHECK(st->ignored == 3);
	poll_at(&r, 3 * MS);
	CHECK(data_frames(&r) == 0);

	/* The RTO probe still asks for byte 0: nothing was skipped. */
	poll_at(&r, 2 * MS + 201 * MS);
	CHECK(data_frames(&r) == 1 && sent_data_at(&r, 0));
	sl_sender_free(r.s);
	report("a corrupted or impossible position never moves the sender past unproven bytes");
}

/* DONE: a corrupted one, one whose counts do not add up, then the true one. */
static void test_done_counts(void)
{
	struct rig r;
	rig_open(&r, 1 << 20);
	poll_at(&r, 2 * MS);
	CHECK(data_frames(&r) == 40);
	feed_status(&r, 0, DOC_LEN, 1 << 20, DOC_LEN, -1, 0);
	poll_at(&r, 3 * MS);
	CHECK(r.n == 1 && r.f[0].h.type == SLP_FIN);

	uint8_t b[128];
	size_t n = slp_encode_done(b, sizeof b, STREAM, r.session, 0, 20000, 19761, 239, NULL);
	b[SLP_HDR_LEN + 19] ^= 0x86;            /* ok 19761 -> 19895 on the wire */
	feed(&r, b, n);
	CHECK(!sl_sender_done(r.s, NULL));
	CHECK(sl_sender_stats(r.s)->corrupt == 1);

	/* Passes the CRC (a broken appliance), but ok + errors != lines. */
	feed(&r, b, slp_encode_done(b, sizeof b, STREAM, r.session, 0, 20000, 19895, 239, NULL));
	CHECK(!sl_sender_done(r.s, NULL));
	/* A failed document may have fewer ACKed lines than lines, never more. */
	feed(&r, b, slp_encode_done(b, sizeof b, STREAM, r.session, SLP_E_CHECKSUM, 10, 9, 2, "x"));
	CHECK(!sl_sender_done(r.s, NULL));
	CHECK(sl_sender_stats(r.s)->ignored == 2);

	feed(&r, b, slp_encode_done(b, sizeof b, STREAM, r.session, 0, 20000, 19761, 239, NULL));
	struct sl_send_result res;
	CHECK(sl_sender_done(r.s, &res));
	CHECK(res.code == 0 && res.lines == 20000 && res.ok == 19761 && res.errors == 239);
	CHECK(res.ok + res.errors == res.lines);
	CHECK(sl_sender_rc(r.s) == 0);
	sl_sender_free(r.s);
	report("a DONE is believed only when it is intact and its counts add up");
}

/*
 * The sender overran the window (here: a window that really shrank from
 * 40,000 to 4,000 bytes; in the field, one it misread). The appliance
 * dropped everything past the window and says so with SLP_F_BEYOND: the
 * sender goes back to the window's edge and sends from there as soon as
 * the window allows, not one frame per RTO.
 */
static void test_beyond_window(void)
{
	struct rig r;
	rig_open(&r, 40000);
	poll_at(&r, 2 * MS);
	CHECK(data_frames(&r) == 40);

	/* bytes 0..2000 in, the rest past 2000 + 4000 dropped */
	feed_status(&r, SLP_F_BEYOND, 2000, 4000, 0, -1, 0);
	const struct sl_send_result *st = sl_sender_stats(r.s);
	CHECK(st->rewinds == 1);
	poll_at(&r, 3 * MS);
	CHECK(data_frames(&r) == 0);            /* frame 6 (6000..7000) does not fit the window yet */

	/* The window moves: frames from 6000 go out at once, long before any RTO. */
	feed_status(&r, 0, 6000, 4000, 0, -1, 0);
	poll_at(&r, 4 * MS);
	CHECK(sent_data_at(&r, 6000) && sent_data_at(&r, 9000) && data_frames(&r) == 4);
	CHECK(st->retransmits >= 4);

	/* A position past the rewound frames (the appliance had kept some after
	 * all) is still plausible: it was sent once. */
	feed_status(&r, 0, 12000, 4000, 0, -1, 0);
	CHECK(st->ignored == 0);
	poll_at(&r, 5 * MS);
	CHECK(sent_data_at(&r, 12000) && !sent_data_at(&r, 10000));

	/* A flagged STATUS that is older than what we know (position below acked) does nothing. */
	feed_status(&r, SLP_F_BEYOND, 6000, 0, 0, -1, 0);
	CHECK(st->rewinds == 1);
	sl_sender_free(r.s);
	report("SLP_F_BEYOND rewinds the sender to the window's edge");
}

int main(void)
{
	for (size_t i = 0; i < sizeof doc; i++)
		doc[i] = (i % 50 == 49) ? '\n' : (uint8_t)('a' + i % 26);
	test_corrupt_window();
	test_corrupt_position();
	test_done_counts();
	test_beyond_window();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
