/*
 * test_slp.c — the SLP v2 codec: every frame type round-trips, every way a
 * datagram can be malformed is refused with its own error (a corrupted
 * frame of any type included: every frame ends with a CRC32C), encoders
 * refuse what they cannot represent, and CRC32C matches the published
 * vectors.
 *
 * Crafted datagrams are built by hand (bytes, not encoders) where the point
 * is to produce something an encoder would never write.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/slp.h"

static int passed, failed;

#define CHECK(cond) do {                                                        \
	if (!(cond)) {                                                          \
		fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
		ok = 0;                                                         \
	}                                                                       \
} while (0)

#define TEST(fn) do {                                                           \
	int r_ = fn();                                                          \
	printf("%-40s %s\n", #fn, r_ ? "ok" : "FAILED");                       \
	if (r_) passed++; else failed++;                                       \
} while (0)

static void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A header for a body of body_len bytes (the length field counts the CRC
 * trailer too); the caller writes the body, then seals it. */
static void craft_hdr(uint8_t *buf, uint8_t type, uint16_t body_len)
{
	memset(buf, 0, SLP_HDR_LEN);
	put_be16(buf, SLP_MAGIC);
	buf[2] = SLP_VERSION;
	buf[3] = type;
	put_be16(buf + 6, (uint16_t)(body_len + SLP_CRC_LEN));
	buf[11] = 7;            /* stream 7 */
	buf[15] = 9;            /* session 9 */
}

/* Append the frame CRC after header and body_len bytes of body: the frame's length. */
static size_t seal(uint8_t *buf, size_t body_len)
{
	size_t n = SLP_HDR_LEN + body_len;
	uint32_t c = slp_crc32c(0, buf, n);
	buf[n] = (uint8_t)(c >> 24);
	buf[n + 1] = (uint8_t)(c >> 16);
	buf[n + 2] = (uint8_t)(c >> 8);
	buf[n + 3] = (uint8_t)c;
	return n + SLP_CRC_LEN;
}

/* A crafted frame: header and a body of body_len bytes already written, sealed. */
static size_t craft(uint8_t *buf, uint8_t type, uint16_t body_len)
{
	uint8_t keep[2048];
	memcpy(keep, buf + SLP_HDR_LEN, body_len);
	craft_hdr(buf, type, body_len);
	memcpy(buf + SLP_HDR_LEN, keep, body_len);
	return seal(buf, body_len);
}

/* The trailer is the CRC32C of every byte before it. */
static int crc_ok(const uint8_t *buf, size_t n)
{
	return n >= SLP_HDR_LEN + SLP_CRC_LEN &&
	       get_be32(buf + n - SLP_CRC_LEN) == slp_crc32c(0, buf, n - SLP_CRC_LEN);
}

static enum slp_decode_err dec(const uint8_t *buf, size_t len)
{
	struct slp_frame f;
	return slp_decode(buf, len, &f);
}

/* ---- round trips ----------------------------------------------------- */

static int test_open_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];
	struct slp_frame f;
	size_t n = slp_encode_open(buf, sizeof buf, 0, 0xdeadbeef, 42, "acme", 4, "s3cret", 6,
				   "orders.csv", 10);
	CHECK(n == SLP_HDR_LEN + 12 + 4 + 6 + 10 + SLP_CRC_LEN);
	CHECK(crc_ok(buf, n));
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.magic == SLP_MAGIC && f.h.version == SLP_VERSION && f.h.type == SLP_OPEN);
	CHECK(f.h.length == n - SLP_HDR_LEN);
	CHECK(f.h.stream_id == 0 && f.h.session == 0xdeadbeef);
	CHECK(f.u.open.revision == 42);
	CHECK(f.u.open.tenant_len == 4 && memcmp(f.u.open.tenant, "acme", 4) == 0);
	CHECK(f.u.open.token_len == 6 && memcmp(f.u.open.token, "s3cret", 6) == 0);
	CHECK(f.u.open.doc_len == 10 && memcmp(f.u.open.doc, "orders.csv", 10) == 0);
	/* Pointers must point into the buffer, not elsewhere. */
	CHECK((const uint8_t *)f.u.open.tenant == buf + 28);
	/* Big-endian on the wire: check a few bytes literally. */
	CHECK(buf[0] == 'S' && buf[1] == 'L' && buf[12] == 0xde && buf[15] == 0xef);
	CHECK(buf[16 + 7] == 42 && buf[16] == 0);

	/* Longest names and token. */
	char t[SLP_NAME_MAX], k[SLP_TOKEN_MAX], d[SLP_NAME_MAX];
	memset(t, 't', sizeof t);
	memset(k, 'k', sizeof k);
	memset(d, 'd', sizeof d);
	n = slp_encode_open(buf, sizeof buf, 0, 1, UINT64_MAX, t, sizeof t, k, sizeof k, d, sizeof d);
	CHECK(n == SLP_HDR_LEN + 12 + 64 + 128 + 64 + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.u.open.revision == UINT64_MAX);
	CHECK(f.u.open.tenant_len == 64 && f.u.open.token_len == 128 && f.u.open.doc_len == 64);
	CHECK(f.u.open.doc[63] == 'd' && f.u.open.token[0] == 'k');
	return ok;
}

/* The OPEN header flags: RESUME goes on the wire at bytes 4-5 and comes back. */
static int test_open_resume_flag(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];
	struct slp_frame f;
	size_t n = slp_encode_open(buf, sizeof buf, SLP_F_RESUME, 0x01020304, 7, "acme", 4,
				   "tok", 3, "orders", 6);
	CHECK(n == SLP_HDR_LEN + 12 + 4 + 3 + 6 + SLP_CRC_LEN);
	CHECK(buf[4] == 0x00 && buf[5] == 0x01);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_OPEN && f.h.flags == SLP_F_RESUME);
	CHECK(f.h.session == 0x01020304 && f.u.open.revision == 7);
	CHECK(f.u.open.doc_len == 6 && memcmp(f.u.open.doc, "orders", 6) == 0);

	/* Without the flag: 0 on the wire. */
	n = slp_encode_open(buf, sizeof buf, 0, 1, 7, "acme", 4, "tok", 3, "orders", 6);
	CHECK(buf[4] == 0 && buf[5] == 0);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK && f.h.flags == 0);

	/* All 16 bits survive (unknown flags are the receiver's to ignore),
	 * and the flags do not leak into the type or length bytes. */
	n = slp_encode_open(buf, sizeof buf, 0xa5c3, 1, 7, "acme", 4, "tok", 3, "orders", 6);
	CHECK(buf[4] == 0xa5 && buf[5] == 0xc3);
	CHECK(buf[3] == SLP_OPEN && buf[6] == 0 && buf[7] == 12 + 4 + 3 + 6 + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK && f.h.flags == 0xa5c3);
	return ok;
}

static int test_data_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME], payload[SLP_MAX_PAYLOAD];
	struct slp_frame f;
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 31 + 7);

	size_t n = slp_encode_data(buf, sizeof buf, 5, 6, 0x0102030405060708ull, payload, 1);
	CHECK(n == SLP_DATA_HDR_LEN + 1 + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_DATA && f.h.stream_id == 5 && f.h.session == 6);
	CHECK(f.u.data.offset == 0x0102030405060708ull && f.u.data.len == 1);
	CHECK(f.u.data.payload == buf + SLP_DATA_HDR_LEN && f.u.data.payload[0] == payload[0]);
	CHECK(buf[16] == 1 && buf[23] == 8);
	/* The payload follows the offset; the CRC32C of everything before it ends the frame. */
	CHECK(buf[24] == payload[0]);
	uint32_t want = slp_crc32c(0, buf, SLP_DATA_HDR_LEN + 1);
	CHECK(get_be32(buf + 25) == want);

	/* Largest payload fills one 1472-byte frame exactly. */
	CHECK(SLP_MAX_PAYLOAD == 1444);
	n = slp_encode_data(buf, sizeof buf, 5, 6, 1400, payload, SLP_MAX_PAYLOAD);
	CHECK(n == SLP_MAX_FRAME);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.u.data.len == SLP_MAX_PAYLOAD);
	CHECK(memcmp(f.u.data.payload, payload, SLP_MAX_PAYLOAD) == 0);
	CHECK(crc_ok(buf, n));
	return ok;
}

static int test_fin_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[64];
	struct slp_frame f;
	size_t n = slp_encode_fin(buf, sizeof buf, 11, 12, 1048576, 0xE3069283u);
	CHECK(n == SLP_HDR_LEN + 12 + SLP_CRC_LEN);
	CHECK(crc_ok(buf, n));
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_FIN && f.h.stream_id == 11 && f.h.session == 12);
	CHECK(f.u.fin.total_len == 1048576 && f.u.fin.crc32c == 0xE3069283u);
	return ok;
}

static int test_accept_status_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[64];
	struct slp_frame f;
	size_t n = slp_encode_accept(buf, sizeof buf, 3, 4, 0, 65536, 0);
	CHECK(n == SLP_HDR_LEN + 20 + SLP_CRC_LEN);
	CHECK(crc_ok(buf, n));
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_ACCEPT && f.h.stream_id == 3 && f.h.session == 4);
	CHECK(f.u.status.position == 0 && f.u.status.window == 65536);
	CHECK(f.u.status.durable == 0);

	n = slp_encode_status(buf, sizeof buf, 0, 3, 4, 123456789012ull, 0, 0);
	CHECK(n == SLP_HDR_LEN + 20 + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_STATUS && f.h.flags == 0);
	CHECK(f.u.status.position == 123456789012ull && f.u.status.window == 0);
	CHECK(f.u.status.durable == 0);

	/* SLP_F_BEYOND rides in the header flags of a STATUS (and a NAK). */
	n = slp_encode_status(buf, sizeof buf, SLP_F_BEYOND, 3, 4, 1400, 65536, 0);
	CHECK(buf[4] == 0x00 && buf[5] == 0x02);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK && f.h.flags == SLP_F_BEYOND);
	n = slp_encode_nak(buf, sizeof buf, SLP_F_BEYOND, 3, 4, 1400, 65536, 0, 1400, 1400);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK && f.h.flags == SLP_F_BEYOND && f.h.type == SLP_NAK);
	return ok;
}

/*
 * The durable field of ACCEPT and STATUS: it round-trips, and it sits
 * after position and window, big-endian (a second sender is written
 * from docs/protocol.md, so the bytes matter, not only the codec).
 */
static int test_accept_status_durable(void)
{
	int ok = 1;
	uint8_t buf[64];
	struct slp_frame f;
	static const uint8_t types[] = { SLP_ACCEPT, SLP_STATUS };
	for (size_t i = 0; i < sizeof types; i++) {
		memset(buf, 0xee, sizeof buf);
		size_t n = types[i] == SLP_ACCEPT ?
			slp_encode_accept(buf, sizeof buf, 5, 6, 0x1122334455667788ull, 0x00010000u,
					  0x0102030405060708ull) :
			slp_encode_status(buf, sizeof buf, 0, 5, 6, 0x1122334455667788ull, 0x00010000u,
					  0x0102030405060708ull);
		CHECK(n == SLP_HDR_LEN + 20 + SLP_CRC_LEN);
		CHECK(buf[3] == types[i]);
		CHECK(buf[6] == 0 && buf[7] == 24);             /* length: body and CRC */
		CHECK(buf[16] == 0x11 && buf[23] == 0x88);      /* position */
		CHECK(buf[24] == 0x00 && buf[25] == 0x01 && buf[26] == 0x00 && buf[27] == 0x00);
		static const uint8_t durable[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
		CHECK(memcmp(buf + 28, durable, 8) == 0);       /* durable, big-endian */
		CHECK(crc_ok(buf, n));                          /* the CRC at 36..39 */
		CHECK(buf[40] == 0xee);                         /* nothing written past the frame */
		CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
		CHECK(f.h.type == types[i] && f.h.stream_id == 5 && f.h.session == 6);
		CHECK(f.u.status.position == 0x1122334455667788ull);
		CHECK(f.u.status.window == 0x00010000u);
		CHECK(f.u.status.durable == 0x0102030405060708ull);
	}
	/* The extremes: durable 0 (nothing durable yet) and all ones. */
	size_t n = slp_encode_status(buf, sizeof buf, 0, 1, 2, UINT64_MAX, UINT32_MAX, UINT64_MAX);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.u.status.position == UINT64_MAX && f.u.status.window == UINT32_MAX &&
	      f.u.status.durable == UINT64_MAX);
	/* A 12-byte body (the layout before durable existed) is refused. */
	CHECK(dec(buf, craft(buf, SLP_STATUS, 12)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_ACCEPT, 12)) == SLP_DEC_BODY);
	return ok;
}

static int test_nak_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[64];
	struct slp_frame f;
	size_t n = slp_encode_nak(buf, sizeof buf, 0, 21, 22, 0x1122334455667788ull, 65536,
				  0x0102030405060708ull, 0x99aabbccddeeff00ull, 0xfedcba98u);
	CHECK(n == SLP_HDR_LEN + 32 + SLP_CRC_LEN);
	CHECK(crc_ok(buf, n));
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_NAK && f.h.stream_id == 21 && f.h.session == 22);
	CHECK(f.u.nak.position == 0x1122334455667788ull && f.u.nak.window == 65536);
	CHECK(f.u.nak.gap_offset == 0x99aabbccddeeff00ull && f.u.nak.gap_len == 0xfedcba98u);
	CHECK(f.u.nak.durable == 0x0102030405060708ull);
	/* Layout: position, window, durable, gap_offset, gap_len, big-endian. */
	CHECK(buf[16] == 0x11 && buf[23] == 0x88);
	CHECK(buf[24] == 0x00 && buf[25] == 0x01 && buf[27] == 0x00);
	CHECK(buf[28] == 0x01 && buf[35] == 0x08);
	CHECK(buf[36] == 0x99 && buf[43] == 0x00);
	CHECK(buf[44] == 0xfe && buf[47] == 0x98);

	n = slp_encode_nak(buf, sizeof buf, 0, 1, 2, 0, 0, 0, 0, 1);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.u.nak.position == 0 && f.u.nak.window == 0 && f.u.nak.gap_len == 1);
	return ok;
}

static int test_reject_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];
	struct slp_frame f;
	const char *why = "revision 3 not newer than 7";
	size_t n = slp_encode_reject(buf, sizeof buf, 0, 99, SLP_E_REVISION, why);
	CHECK(n == SLP_HDR_LEN + 2 + strlen(why) + SLP_CRC_LEN);
	CHECK(crc_ok(buf, n));
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_REJECT && f.h.session == 99);
	CHECK(f.u.reject.code == SLP_E_REVISION);
	CHECK(f.u.reject.reason_len == strlen(why) && memcmp(f.u.reject.reason, why, strlen(why)) == 0);

	/* No reason at all: NULL and "" both give an empty reason. */
	n = slp_encode_reject(buf, sizeof buf, 0, 99, SLP_E_BAD_TOKEN, NULL);
	CHECK(n == SLP_HDR_LEN + 2 + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.u.reject.code == SLP_E_BAD_TOKEN && f.u.reject.reason_len == 0);
	CHECK(slp_encode_reject(buf, sizeof buf, 0, 99, SLP_E_BAD_TOKEN, "") == SLP_HDR_LEN + 2 + SLP_CRC_LEN);

	/* Exactly SLP_REASON_MAX is fine. */
	char longest[SLP_REASON_MAX + 1];
	memset(longest, 'r', SLP_REASON_MAX);
	longest[SLP_REASON_MAX] = '\0';
	n = slp_encode_reject(buf, sizeof buf, 0, 1, 1, longest);
	CHECK(n == SLP_HDR_LEN + 2 + SLP_REASON_MAX + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK && f.u.reject.reason_len == SLP_REASON_MAX);
	return ok;
}

static int test_done_roundtrip(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];
	struct slp_frame f;
	size_t n = slp_encode_done(buf, sizeof buf, 8, 9, SLP_OK, 1000, 998, 2, NULL);
	CHECK(n == SLP_HDR_LEN + 28 + SLP_CRC_LEN);
	CHECK(crc_ok(buf, n));
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.h.type == SLP_DONE && f.h.stream_id == 8 && f.h.session == 9);
	CHECK(f.u.done.code == 0 && f.u.done.lines == 1000 && f.u.done.ok == 998 &&
	      f.u.done.errors == 2 && f.u.done.reason_len == 0);

	n = slp_encode_done(buf, sizeof buf, 8, 9, SLP_E_CHECKSUM, UINT64_MAX, 1, 2, "crc mismatch");
	CHECK(n == SLP_HDR_LEN + 28 + 12 + SLP_CRC_LEN);
	CHECK(slp_decode(buf, n, &f) == SLP_DEC_OK);
	CHECK(f.u.done.code == SLP_E_CHECKSUM && f.u.done.lines == UINT64_MAX);
	CHECK(f.u.done.reason_len == 12 && memcmp(f.u.done.reason, "crc mismatch", 12) == 0);
	return ok;
}

/* ---- decode errors --------------------------------------------------- */

static int test_decode_short(void)
{
	int ok = 1;
	uint8_t buf[SLP_HDR_LEN];
	craft_hdr(buf, SLP_FIN, 0);
	for (size_t len = 0; len < SLP_HDR_LEN; len++)
		CHECK(dec(buf, len) == SLP_DEC_SHORT);
	/* A NULL buffer of length 0 must not be touched. */
	CHECK(dec(NULL, 0) == SLP_DEC_SHORT);
	return ok;
}

static int test_decode_header_errors(void)
{
	int ok = 1;
	uint8_t buf[64];
	size_t n = slp_encode_fin(buf, sizeof buf, 1, 2, 3, 4);
	CHECK(dec(buf, n) == SLP_DEC_OK);

	buf[0] = 'X';
	CHECK(dec(buf, n) == SLP_DEC_MAGIC);
	buf[0] = 'S';
	buf[1] = 'M';
	CHECK(dec(buf, n) == SLP_DEC_MAGIC);
	buf[1] = 'L';

	buf[2] = 0;
	CHECK(dec(buf, n) == SLP_DEC_VERSION);
	buf[2] = 1;             /* v1: no frame CRC; a v1 sender is not understood */
	CHECK(dec(buf, n) == SLP_DEC_VERSION);
	buf[2] = 3;
	CHECK(dec(buf, n) == SLP_DEC_VERSION);
	buf[2] = SLP_VERSION;

	static const uint8_t bad_types[] = { 0x00, 0x04, 0x7f, 0x80, 0x86, 0xff };
	for (size_t i = 0; i < sizeof bad_types; i++) {
		buf[3] = bad_types[i];
		CHECK(dec(buf, n) == SLP_DEC_TYPE);
	}
	buf[3] = SLP_FIN;
	CHECK(dec(buf, n) == SLP_DEC_OK);

	/* Undefined flags are ignored, not an error (once the CRC covers them). */
	buf[4] = 0x80;
	CHECK(dec(buf, n) == SLP_DEC_CHECKSUM);
	seal(buf, 12);
	CHECK(dec(buf, n) == SLP_DEC_OK);
	return ok;
}

static int test_decode_length_mismatch(void)
{
	int ok = 1;
	uint8_t buf[64];
	size_t n = slp_encode_status(buf, sizeof buf, 0, 1, 2, 3, 4, 0);
	/* Datagram shorter than the header claims (truncated in flight). */
	CHECK(dec(buf, n - 1) == SLP_DEC_LENGTH);
	CHECK(dec(buf, SLP_HDR_LEN) == SLP_DEC_LENGTH);
	/* Datagram longer than the header claims (trailing bytes). */
	buf[n] = 0;
	CHECK(dec(buf, n + 1) == SLP_DEC_LENGTH);
	/* Length field itself wrong. */
	put_be16(buf + 6, 11);
	CHECK(dec(buf, n) == SLP_DEC_LENGTH);
	put_be16(buf + 6, 0xffff);
	CHECK(dec(buf, n) == SLP_DEC_LENGTH);
	/* A length too short to hold the CRC itself is a bad body. */
	for (uint16_t l = 0; l < SLP_CRC_LEN; l++) {
		put_be16(buf + 6, l);
		CHECK(dec(buf, SLP_HDR_LEN + l) == SLP_DEC_BODY);
	}
	return ok;
}

/* OPEN with lengths tl/kl/dl and actual string bytes `strings` after the fixed part, sealed. */
static size_t craft_open(uint8_t *buf, uint8_t tl, uint8_t kl, uint8_t dl, size_t strings)
{
	uint16_t body = (uint16_t)(12 + strings);
	craft_hdr(buf, SLP_OPEN, body);
	memset(buf + SLP_HDR_LEN, 0, 12);
	buf[SLP_HDR_LEN + 7] = 1;
	buf[SLP_HDR_LEN + 8] = tl;
	buf[SLP_HDR_LEN + 9] = kl;
	buf[SLP_HDR_LEN + 10] = dl;
	memset(buf + SLP_HDR_LEN + 12, 'x', strings);
	return seal(buf, body);
}

static int test_decode_open_errors(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];

	CHECK(dec(buf, craft_open(buf, 1, 1, 1, 3)) == SLP_DEC_OK);
	/* Body shorter than the fixed part. */
	CHECK(dec(buf, craft(buf, SLP_OPEN, 11)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_OPEN, 0)) == SLP_DEC_BODY);
	/* String lengths that don't add up: too few bytes, too many bytes. */
	CHECK(dec(buf, craft_open(buf, 4, 6, 10, 19)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 4, 6, 10, 21)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 4, 6, 10, 20)) == SLP_DEC_OK);
	/* Zero-length strings. */
	CHECK(dec(buf, craft_open(buf, 0, 6, 10, 16)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 4, 0, 10, 14)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 4, 6, 0, 10)) == SLP_DEC_BODY);
	/* Over-long names and token. */
	CHECK(dec(buf, craft_open(buf, 64, 128, 64, 256)) == SLP_DEC_OK);
	CHECK(dec(buf, craft_open(buf, 65, 6, 10, 81)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 4, 129, 10, 143)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 4, 6, 65, 75)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft_open(buf, 255, 255, 255, 765)) == SLP_DEC_BODY);
	return ok;
}

static int test_decode_data_errors(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME + 16];

	/* Body shorter than the offset. */
	memset(buf, 0, sizeof buf);
	CHECK(dec(buf, craft(buf, SLP_DATA, 7)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_DATA, 0)) == SLP_DEC_BODY);
	/* An offset but no payload. */
	memset(buf, 0, sizeof buf);
	CHECK(dec(buf, craft(buf, SLP_DATA, 8)) == SLP_DEC_EMPTY_DATA);
	/* One byte past the largest payload (a datagram over 1472 bytes). */
	memset(buf, 0, sizeof buf);
	CHECK(dec(buf, craft(buf, SLP_DATA, (uint16_t)(8 + SLP_MAX_PAYLOAD + 1))) == SLP_DEC_OVERSIZE);
	/* The largest payload itself is fine once its CRC is right... */
	memset(buf, 0, sizeof buf);
	size_t n = craft(buf, SLP_DATA, (uint16_t)(8 + SLP_MAX_PAYLOAD));
	CHECK(n == SLP_MAX_FRAME);
	CHECK(dec(buf, n) == SLP_DEC_OK);
	/* ...and refused with a zero CRC field. */
	memset(buf + n - SLP_CRC_LEN, 0, SLP_CRC_LEN);
	CHECK(dec(buf, n) == SLP_DEC_CHECKSUM);
	return ok;
}

/*
 * Any single flipped bit anywhere in a frame of any type is caught: the
 * header (but the bytes whose damage is a structural error of its own),
 * the body, or the CRC itself. This is what a middlebox that rewrites a
 * datagram and recomputes its UDP checksum cannot get past: a STATUS
 * whose window or position changed, a DONE whose counts changed.
 */
static int test_decode_checksum_every_type(void)
{
	int ok = 1;
	uint8_t payload[1400];
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	static uint8_t frames[8][SLP_MAX_FRAME];
	size_t lens[8];
	lens[0] = slp_encode_open(frames[0], SLP_MAX_FRAME, SLP_F_RESUME, 1, 2, "acme", 4, "tok", 3,
				  "orders", 6);
	lens[1] = slp_encode_data(frames[1], SLP_MAX_FRAME, 1, 2, 4200, payload, sizeof payload);
	lens[2] = slp_encode_fin(frames[2], SLP_MAX_FRAME, 1, 2, 3, 4);
	lens[3] = slp_encode_accept(frames[3], SLP_MAX_FRAME, 1, 2, 0, 262144, 0);
	lens[4] = slp_encode_status(frames[4], SLP_MAX_FRAME, 0, 1, 2, 14000, 262144, 7000);
	lens[5] = slp_encode_reject(frames[5], SLP_MAX_FRAME, 1, 2, SLP_E_UNKNOWN_STREAM, "gone");
	lens[6] = slp_encode_done(frames[6], SLP_MAX_FRAME, 1, 2, 0, 20000, 19761, 239, NULL);
	lens[7] = slp_encode_nak(frames[7], SLP_MAX_FRAME, 0, 1, 2, 1400, 262144, 0, 1400, 1400);
	for (int i = 0; i < 8; i++) {
		uint8_t *buf = frames[i];
		size_t n = lens[i];
		CHECK(n > 0 && dec(buf, n) == SLP_DEC_OK);
		int missed = 0;
		for (size_t byte = 0; byte < n; byte++) {
			if (byte <= 3 || byte == 6 || byte == 7)
				continue; /* magic, version, type, length: structural errors come first */
			for (int bit = 0; bit < 8; bit++) {
				buf[byte] ^= (uint8_t)(1u << bit);
				if (dec(buf, n) != SLP_DEC_CHECKSUM)
					missed++;
				buf[byte] ^= (uint8_t)(1u << bit);
			}
		}
		if (missed)
			fprintf(stderr, "  frame type %#x: %d single-bit flips not caught\n", buf[3], missed);
		CHECK(missed == 0);
		CHECK(dec(buf, n) == SLP_DEC_OK);
	}

	/* The cases independent verification met, one by one. */
	uint8_t *st = frames[4];
	st[SLP_HDR_LEN + 9] ^= 0xff;            /* the window (256 KiB read as ~16 MiB) */
	CHECK(dec(st, lens[4]) == SLP_DEC_CHECKSUM);
	st[SLP_HDR_LEN + 9] ^= 0xff;
	st[SLP_HDR_LEN + 6] ^= 0x0a;            /* the position moved up by frames */
	CHECK(dec(st, lens[4]) == SLP_DEC_CHECKSUM);
	st[SLP_HDR_LEN + 6] ^= 0x0a;
	frames[6][SLP_HDR_LEN + 19] ^= 0x86;    /* DONE's ok count */
	CHECK(dec(frames[6], lens[6]) == SLP_DEC_CHECKSUM);
	frames[6][SLP_HDR_LEN + 19] ^= 0x86;

	/* Structural errors are reported before the checksum: truncation is LENGTH. */
	uint8_t *d = frames[1];
	d[SLP_DATA_HDR_LEN] ^= 0x80;
	CHECK(dec(d, lens[1] - 1) == SLP_DEC_LENGTH);
	CHECK(dec(d, lens[1]) == SLP_DEC_CHECKSUM);
	return ok;
}

static int test_decode_fixed_size_errors(void)
{
	int ok = 1;
	uint8_t buf[64];
	static const uint8_t types[] = { SLP_FIN, SLP_ACCEPT, SLP_STATUS };
	/* FIN: exactly 12 bytes of body; ACCEPT and STATUS: exactly 20 (each + the CRC). */
	for (size_t i = 0; i < sizeof types; i++) {
		uint16_t want = types[i] == SLP_FIN ? 12 : 20;
		memset(buf, 0, sizeof buf);
		CHECK(dec(buf, craft(buf, types[i], want)) == SLP_DEC_OK);
		CHECK(dec(buf, craft(buf, types[i], (uint16_t)(want - 1))) == SLP_DEC_BODY);
		CHECK(dec(buf, craft(buf, types[i], (uint16_t)(want + 1))) == SLP_DEC_BODY);
		CHECK(dec(buf, craft(buf, types[i], 0)) == SLP_DEC_BODY);
	}
	/* NAK: exactly 32 bytes. */
	memset(buf, 0, sizeof buf);
	CHECK(dec(buf, craft(buf, SLP_NAK, 32)) == SLP_DEC_OK);
	CHECK(dec(buf, craft(buf, SLP_NAK, 31)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_NAK, 33)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_NAK, 24)) == SLP_DEC_BODY);    /* the NAK before durable existed */
	CHECK(dec(buf, craft(buf, SLP_NAK, 20)) == SLP_DEC_BODY);    /* a STATUS-sized body */
	CHECK(dec(buf, craft(buf, SLP_NAK, 0)) == SLP_DEC_BODY);
	return ok;
}

static int test_decode_reason_errors(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];
	memset(buf, 'r', sizeof buf);

	/* REJECT: code needs 2 bytes; reason at most SLP_REASON_MAX. */
	CHECK(dec(buf, craft(buf, SLP_REJECT, 1)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_REJECT, 0)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_REJECT, 2 + SLP_REASON_MAX)) == SLP_DEC_OK);
	CHECK(dec(buf, craft(buf, SLP_REJECT, 2 + SLP_REASON_MAX + 1)) == SLP_DEC_BODY);

	/* DONE: 28 fixed bytes, then the same reason limit. */
	CHECK(dec(buf, craft(buf, SLP_DONE, 27)) == SLP_DEC_BODY);
	CHECK(dec(buf, craft(buf, SLP_DONE, 28)) == SLP_DEC_OK);
	CHECK(dec(buf, craft(buf, SLP_DONE, 28 + SLP_REASON_MAX)) == SLP_DEC_OK);
	CHECK(dec(buf, craft(buf, SLP_DONE, 28 + SLP_REASON_MAX + 1)) == SLP_DEC_BODY);
	return ok;
}

/* Every prefix of every valid frame is refused, and never crashes. */
static int test_decode_truncations(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME];
	uint8_t payload[100] = { 1 };
	size_t lens[8];
	uint8_t frames[8][SLP_MAX_FRAME];
	lens[0] = slp_encode_open(frames[0], SLP_MAX_FRAME, 0, 1, 2, "t", 1, "k", 1, "d", 1);
	lens[1] = slp_encode_data(frames[1], SLP_MAX_FRAME, 1, 2, 3, payload, sizeof payload);
	lens[2] = slp_encode_fin(frames[2], SLP_MAX_FRAME, 1, 2, 3, 4);
	lens[3] = slp_encode_accept(frames[3], SLP_MAX_FRAME, 1, 2, 3, 4, 0);
	lens[4] = slp_encode_status(frames[4], SLP_MAX_FRAME, 0, 1, 2, 3, 4, 0);
	lens[5] = slp_encode_reject(frames[5], SLP_MAX_FRAME, 1, 2, 3, "why");
	lens[6] = slp_encode_done(frames[6], SLP_MAX_FRAME, 1, 2, 3, 4, 5, 6, "why");
	lens[7] = slp_encode_nak(frames[7], SLP_MAX_FRAME, 0, 1, 2, 3, 4, 0, 5, 6);
	for (int i = 0; i < 8; i++) {
		CHECK(lens[i] > 0);
		CHECK(dec(frames[i], lens[i]) == SLP_DEC_OK);
		for (size_t l = 0; l < lens[i]; l++) {
			/* Copy into a buffer of exactly l bytes' meaning: the decoder gets l. */
			memcpy(buf, frames[i], l);
			enum slp_decode_err e = dec(buf, l);
			CHECK(e == (l < SLP_HDR_LEN ? SLP_DEC_SHORT : SLP_DEC_LENGTH));
		}
	}
	return ok;
}

/* ---- encoders refusing ----------------------------------------------- */

static int test_encode_refusals(void)
{
	int ok = 1;
	uint8_t buf[SLP_MAX_FRAME + 8];
	uint8_t payload[SLP_MAX_PAYLOAD + 1] = { 0 };
	char big[SLP_TOKEN_MAX + 2];
	memset(big, 'a', sizeof big);

	/* Buffers one byte too small, for every type (every frame ends with its 4-byte CRC). */
	size_t need = slp_encode_open(buf, sizeof buf, 0, 1, 1, "ten", 3, "tok", 3, "doc", 3);
	CHECK(need == SLP_HDR_LEN + 12 + 9 + SLP_CRC_LEN);
	CHECK(slp_encode_open(buf, need - 1, 0, 1, 1, "ten", 3, "tok", 3, "doc", 3) == 0);
	CHECK(slp_encode_data(buf, SLP_DATA_HDR_LEN + 13, 1, 1, 0, payload, 10) == 0);
	CHECK(slp_encode_data(buf, SLP_DATA_HDR_LEN + 14, 1, 1, 0, payload, 10) == SLP_DATA_HDR_LEN + 14);
	CHECK(slp_encode_fin(buf, SLP_HDR_LEN + 15, 1, 1, 0, 0) == 0);
	CHECK(slp_encode_accept(buf, SLP_HDR_LEN + 23, 1, 1, 0, 0, 0) == 0);
	CHECK(slp_encode_status(buf, SLP_HDR_LEN + 23, 0, 1, 1, 0, 0, 0) == 0);
	CHECK(slp_encode_nak(buf, SLP_HDR_LEN + 35, 0, 1, 1, 0, 0, 0, 0, 0) == 0);
	CHECK(slp_encode_nak(buf, SLP_HDR_LEN + 36, 0, 1, 1, 0, 0, 0, 0, 0) == SLP_HDR_LEN + 36);
	CHECK(slp_encode_nak(NULL, 64, 0, 1, 1, 0, 0, 0, 0, 0) == 0);
	CHECK(slp_encode_reject(buf, SLP_HDR_LEN + 8, 1, 1, 1, "abc") == 0);
	CHECK(slp_encode_reject(buf, SLP_HDR_LEN + 9, 1, 1, 1, "abc") == SLP_HDR_LEN + 9);
	CHECK(slp_encode_done(buf, SLP_HDR_LEN + 34, 1, 1, 0, 0, 0, 0, "abc") == 0);
	CHECK(slp_encode_done(buf, SLP_HDR_LEN + 35, 1, 1, 0, 0, 0, 0, "abc") == SLP_HDR_LEN + 35);
	CHECK(slp_encode_fin(buf, 0, 1, 1, 0, 0) == 0);

	/* OPEN: empty or over-long names and token. */
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, "", 0, "tok", 3, "doc", 3) == 0);
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, "ten", 3, "", 0, "doc", 3) == 0);
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, "ten", 3, "tok", 3, "", 0) == 0);
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, big, SLP_NAME_MAX + 1, "tok", 3, "doc", 3) == 0);
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, "ten", 3, big, SLP_TOKEN_MAX + 1, "doc", 3) == 0);
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, "ten", 3, "tok", 3, big, SLP_NAME_MAX + 1) == 0);
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, NULL, 3, "tok", 3, "doc", 3) == 0);
	/* A length that would wrap the u8 on the wire is refused, not truncated. */
	CHECK(slp_encode_open(buf, sizeof buf, 0, 1, 1, big, 256 + 3, "tok", 3, "doc", 3) == 0);

	/* DATA: empty and oversize payloads. */
	CHECK(slp_encode_data(buf, sizeof buf, 1, 1, 0, payload, 0) == 0);
	CHECK(slp_encode_data(buf, sizeof buf, 1, 1, 0, payload, SLP_MAX_PAYLOAD + 1) == 0);
	CHECK(slp_encode_data(buf, sizeof buf, 1, 1, 0, NULL, 10) == 0);

	/* REJECT / DONE: reason over SLP_REASON_MAX. */
	char reason[SLP_REASON_MAX + 2];
	memset(reason, 'r', SLP_REASON_MAX + 1);
	reason[SLP_REASON_MAX + 1] = '\0';
	CHECK(slp_encode_reject(buf, sizeof buf, 1, 1, 1, reason) == 0);
	CHECK(slp_encode_done(buf, sizeof buf, 1, 1, 1, 0, 0, 0, reason) == 0);
	reason[SLP_REASON_MAX] = '\0';
	CHECK(slp_encode_reject(buf, sizeof buf, 1, 1, 1, reason) ==
	      SLP_HDR_LEN + 2 + SLP_REASON_MAX + SLP_CRC_LEN);
	return ok;
}

/* ---- strings --------------------------------------------------------- */

static int test_strings(void)
{
	int ok = 1;
	for (int e = 0; e < SLP_DEC__COUNT; e++) {
		const char *s = slp_decode_err_str((enum slp_decode_err)e);
		CHECK(s != NULL && strlen(s) > 1 && strcmp(s, "unknown decode error") != 0);
	}
	CHECK(strcmp(slp_decode_err_str(SLP_DEC__COUNT), "unknown decode error") == 0);
	for (int c = SLP_OK; c <= SLP_E_HELD; c++) {
		const char *s = slp_code_str((enum slp_code)c);
		CHECK(s != NULL && strlen(s) > 1 && strcmp(s, "unknown code") != 0);
	}
	CHECK(strcmp(slp_code_str(SLP_E_REVISION),
		     "revision not newer than the highest accepted revision") == 0);
	CHECK(strcmp(slp_code_str((enum slp_code)999), "unknown code") == 0);
	CHECK(strstr(slp_code_str(SLP_E_TENANT_STREAMS), "max_streams") != NULL);
	CHECK(strstr(slp_code_str(SLP_E_TOO_LARGE), "max_document_mb") != NULL);
	CHECK(strcmp(slp_decode_err_str(SLP_DEC_CHECKSUM),
		     "frame failed its CRC32C: corrupted in flight") == 0);
	return ok;
}

/* ---- CRC32C ---------------------------------------------------------- */

static int test_crc32c_vectors(void)
{
	int ok = 1;
	/* The check value of CRC-32C, and the iSCSI (RFC 3720 B.4) vectors. */
	CHECK(slp_crc32c(0, "123456789", 9) == 0xE3069283u);
	CHECK(slp_crc32c(0, "", 0) == 0);
	uint8_t v[32];
	memset(v, 0, sizeof v);
	CHECK(slp_crc32c(0, v, 32) == 0x8A9136AAu);
	memset(v, 0xff, sizeof v);
	CHECK(slp_crc32c(0, v, 32) == 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)i;
	CHECK(slp_crc32c(0, v, 32) == 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		v[i] = (uint8_t)(31 - i);
	CHECK(slp_crc32c(0, v, 32) == 0x113FDB5Cu);
	return ok;
}

static int test_crc32c_incremental(void)
{
	int ok = 1;
	enum { N = 4099 };
	uint8_t *d = malloc(N + 1);
	CHECK(d != NULL);
	if (d == NULL)
		return ok;
	uint32_t x = 12345;
	for (int i = 0; i < N + 1; i++) {
		x = x * 1103515245u + 12345u;
		d[i] = (uint8_t)(x >> 16);
	}
	uint32_t whole = slp_crc32c(0, d, N);

	/* Every split point, in two pieces. */
	int mismatches = 0;
	for (size_t cut = 0; cut <= N; cut++) {
		uint32_t c = slp_crc32c(0, d, cut);
		c = slp_crc32c(c, d + cut, N - cut);
		if (c != whole)
			mismatches++;
	}
	CHECK(mismatches == 0);

	/* Odd-sized chunks, and an unaligned start. */
	uint32_t c = 0;
	for (size_t off = 0, step = 1; off < N; off += step, step = step * 3 % 17 + 1) {
		size_t n = off + step > N ? N - off : step;
		c = slp_crc32c(c, d + off, n);
	}
	CHECK(c == whole);
	memmove(d + 1, d, N);
	CHECK(slp_crc32c(0, d + 1, N) == whole);
	free(d);
	return ok;
}

/* ---- the worked example in docs/protocol.md ----------------------------- */

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/*
 * Every frame dumped in docs/protocol.md ("sender → OPEN (45 bytes)" and
 * the hex lines under it) has the size it claims and decodes, CRC and all:
 * a second sender is written from that page, so its bytes must be right.
 * The first OPEN and DATA must also be byte for byte what the encoders write.
 */
static int test_protocol_md_example(void)
{
	int ok = 1;
	const char *src = getenv("SLUICE_SRC");
	char path[4096];
	snprintf(path, sizeof path, "%s/docs/protocol.md", src ? src : ".");
	FILE *f = fopen(path, "r");
	CHECK(f != NULL);
	if (f == NULL)
		return ok;
	char line[512];
	uint8_t frame[SLP_MAX_FRAME];
	size_t want = 0, n = 0;
	int frames = 0, opens = 0, datas = 0;
	bool in_frame = false;
	for (;;) {
		bool eof = fgets(line, sizeof line, f) == NULL;
		size_t i = 0;
		size_t before = n;
		while (!eof && in_frame && isxdigit((unsigned char)line[i]) && isxdigit((unsigned char)line[i + 1]) &&
		       (line[i + 2] == ' ' || line[i + 2] == '\n') && n < sizeof frame) {
			frame[n++] = (uint8_t)(hexval(line[i]) << 4 | hexval(line[i + 1]));
			i += 3;
		}
		if (in_frame && (eof || n == before) && n > 0) {
			/* the frame's hex lines ended: check it */
			struct slp_frame fr;
			CHECK(n == want);
			CHECK(slp_decode(frame, n, &fr) == SLP_DEC_OK);
			if (frames == 0) {
				uint8_t enc[64];
				size_t e = slp_encode_open(enc, sizeof enc, 0, 0x1234abcd, 7, "acme", 4, "tok", 3,
							   "orders", 6);
				CHECK(e == n && memcmp(enc, frame, n) == 0);
			}
			opens += fr.h.type == SLP_OPEN;
			datas += fr.h.type == SLP_DATA;
			frames++;
			in_frame = false;
		}
		if (eof)
			break;
		const char *arrow = strstr(line, "\xe2\x86\x92");     /* "→" */
		const char *paren = arrow ? strchr(arrow, '(') : NULL;
		unsigned bytes;
		if (paren && sscanf(paren, "(%u bytes)", &bytes) == 1) {
			in_frame = true;
			want = bytes;
			n = 0;
		}
	}
	fclose(f);
	CHECK(frames >= 15 && opens == 2 && datas >= 4);
	return ok;
}

int main(void)
{
	TEST(test_open_roundtrip);
	TEST(test_open_resume_flag);
	TEST(test_data_roundtrip);
	TEST(test_fin_roundtrip);
	TEST(test_accept_status_roundtrip);
	TEST(test_accept_status_durable);
	TEST(test_nak_roundtrip);
	TEST(test_reject_roundtrip);
	TEST(test_done_roundtrip);
	TEST(test_decode_short);
	TEST(test_decode_header_errors);
	TEST(test_decode_length_mismatch);
	TEST(test_decode_open_errors);
	TEST(test_decode_data_errors);
	TEST(test_decode_checksum_every_type);
	TEST(test_decode_fixed_size_errors);
	TEST(test_decode_reason_errors);
	TEST(test_decode_truncations);
	TEST(test_encode_refusals);
	TEST(test_strings);
	TEST(test_crc32c_vectors);
	TEST(test_crc32c_incremental);
	TEST(test_protocol_md_example);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
