/*
 * fuzz_slp.c — libFuzzer target for the SLP decoder.
 *
 * Any byte string goes through slp_decode(); it must never read out of
 * bounds (ASan watches). Every SLP v2 frame ends with a CRC32C of the
 * bytes before it, which random bytes almost never match, so each input
 * is decoded twice: as it is, and "sealed" (its last 4 bytes replaced by
 * the right CRC), which lets the fuzzer reach every body check. Whatever
 * decodes is encoded again with the matching encoder and must (a) give
 * back a frame of the same length, (b) equal the input byte for byte
 * except the bytes the receiver ignores (flags it does not define for
 * that type, padding, OPEN's stream id) and the CRC that covers them,
 * (c) end with a valid CRC, and (d) decode to the same fields.
 *
 * Build and run by hand (not part of the meson build):
 *   clang -fsanitize=fuzzer,address,undefined -I/work/main -I/work/main/include \
 *         tests/fuzz/fuzz_slp.c dataplane/slp.c -o /tmp/fuzz_slp
 *   /tmp/fuzz_slp -max_total_time=60 tests/fuzz/corpus/slp/
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/slp.h"

#define REQUIRE(cond) do {                                                      \
	if (!(cond)) {                                                          \
		fprintf(stderr, "fuzz_slp: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();                                                        \
	}                                                                       \
} while (0)

/* Reasons are NUL-terminated for the encoders; copy with a terminator. */
static const char *cstr(char *buf, const char *p, size_t n)
{
	memcpy(buf, p, n);
	buf[n] = '\0';
	return buf;
}

static size_t reencode(const struct slp_frame *f, uint8_t *out, size_t cap)
{
	char reason[SLP_REASON_MAX + 1];
	const struct slp_hdr *h = &f->h;

	switch (h->type) {
	case SLP_OPEN:
		return slp_encode_open(out, cap, h->flags, h->session, f->u.open.revision,
				       f->u.open.tenant, f->u.open.tenant_len,
				       f->u.open.token, f->u.open.token_len,
				       f->u.open.doc, f->u.open.doc_len);
	case SLP_DATA:
		return slp_encode_data(out, cap, h->stream_id, h->session, f->u.data.offset,
				       f->u.data.payload, f->u.data.len);
	case SLP_FIN:
		return slp_encode_fin(out, cap, h->stream_id, h->session, f->u.fin.total_len,
				      f->u.fin.crc32c);
	case SLP_ACCEPT:
		return slp_encode_accept(out, cap, h->stream_id, h->session,
					 f->u.status.position, f->u.status.window, f->u.status.durable);
	case SLP_STATUS:
		return slp_encode_status(out, cap, h->flags, h->stream_id, h->session,
					 f->u.status.position, f->u.status.window, f->u.status.durable);
	case SLP_NAK:
		return slp_encode_nak(out, cap, h->flags, h->stream_id, h->session, f->u.nak.position,
				      f->u.nak.window, f->u.nak.durable, f->u.nak.gap_offset,
				      f->u.nak.gap_len);
	case SLP_REJECT:
		/* A reason with a NUL inside cannot go through a C string: skip. */
		if (memchr(f->u.reject.reason, 0, f->u.reject.reason_len))
			return SIZE_MAX;
		return slp_encode_reject(out, cap, h->stream_id, h->session, f->u.reject.code,
					 cstr(reason, f->u.reject.reason, f->u.reject.reason_len));
	case SLP_DONE:
		if (memchr(f->u.done.reason, 0, f->u.done.reason_len))
			return SIZE_MAX;
		return slp_encode_done(out, cap, h->stream_id, h->session, f->u.done.code,
				       f->u.done.lines, f->u.done.ok, f->u.done.errors,
				       cstr(reason, f->u.done.reason, f->u.done.reason_len));
	}
	abort();        /* slp_decode accepted a type it does not know */
}

static int same_bytes(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

static void same_frame(const struct slp_frame *a, const struct slp_frame *b)
{
	REQUIRE(a->h.magic == b->h.magic && a->h.version == b->h.version);
	REQUIRE(a->h.type == b->h.type && a->h.length == b->h.length);
	REQUIRE(a->h.session == b->h.session);
	switch (a->h.type) {
	case SLP_OPEN:
		REQUIRE(a->u.open.revision == b->u.open.revision);
		REQUIRE(a->u.open.tenant_len == b->u.open.tenant_len);
		REQUIRE(a->u.open.token_len == b->u.open.token_len);
		REQUIRE(a->u.open.doc_len == b->u.open.doc_len);
		REQUIRE(same_bytes(a->u.open.tenant, b->u.open.tenant, a->u.open.tenant_len));
		REQUIRE(same_bytes(a->u.open.token, b->u.open.token, a->u.open.token_len));
		REQUIRE(same_bytes(a->u.open.doc, b->u.open.doc, a->u.open.doc_len));
		return;         /* stream_id is not carried by OPEN */
	case SLP_DATA:
		REQUIRE(a->u.data.offset == b->u.data.offset && a->u.data.len == b->u.data.len);
		REQUIRE(same_bytes(a->u.data.payload, b->u.data.payload, a->u.data.len));
		break;
	case SLP_FIN:
		REQUIRE(a->u.fin.total_len == b->u.fin.total_len);
		REQUIRE(a->u.fin.crc32c == b->u.fin.crc32c);
		break;
	case SLP_ACCEPT:
	case SLP_STATUS:
		REQUIRE(a->u.status.position == b->u.status.position);
		REQUIRE(a->u.status.window == b->u.status.window);
		REQUIRE(a->u.status.durable == b->u.status.durable);
		break;
	case SLP_NAK:
		REQUIRE(a->u.nak.position == b->u.nak.position);
		REQUIRE(a->u.nak.window == b->u.nak.window);
		REQUIRE(a->u.nak.durable == b->u.nak.durable);
		REQUIRE(a->u.nak.gap_offset == b->u.nak.gap_offset);
		REQUIRE(a->u.nak.gap_len == b->u.nak.gap_len);
		break;
	case SLP_REJECT:
		REQUIRE(a->u.reject.code == b->u.reject.code);
		REQUIRE(a->u.reject.reason_len == b->u.reject.reason_len);
		REQUIRE(same_bytes(a->u.reject.reason, b->u.reject.reason, a->u.reject.reason_len));
		break;
	case SLP_DONE:
		REQUIRE(a->u.done.code == b->u.done.code && a->u.done.lines == b->u.done.lines);
		REQUIRE(a->u.done.ok == b->u.done.ok && a->u.done.errors == b->u.done.errors);
		REQUIRE(a->u.done.reason_len == b->u.done.reason_len);
		REQUIRE(same_bytes(a->u.done.reason, b->u.done.reason, a->u.done.reason_len));
		break;
	}
	REQUIRE(a->h.stream_id == b->h.stream_id);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void check_one(const uint8_t *data, size_t size)
{
	struct slp_frame f;
	enum slp_decode_err e = slp_decode(data, size, &f);
	REQUIRE(e < SLP_DEC__COUNT);
	REQUIRE(slp_decode_err_str(e) != NULL);
	if (e == SLP_DEC_CHECKSUM) {
		/* Only a frame whose trailer is not the CRC of the rest gets here. */
		REQUIRE(size >= SLP_HDR_LEN + SLP_CRC_LEN);
		REQUIRE(get_be32(data + size - SLP_CRC_LEN) != slp_crc32c(0, data, size - SLP_CRC_LEN));
		return;
	}
	if (e != SLP_DEC_OK)
		return;
	REQUIRE(size == SLP_HDR_LEN + f.h.length);
	REQUIRE(get_be32(data + size - SLP_CRC_LEN) == slp_crc32c(0, data, size - SLP_CRC_LEN));

	uint8_t out[SLP_MAX_FRAME];
	size_t n = reencode(&f, out, sizeof out);
	if (n == SIZE_MAX)
		return;
	REQUIRE(n == size);

	/* Byte-exact apart from what the receiver ignores on input and the
	 * encoder writes as 0; the CRC then differs, so compare up to it and
	 * check the encoder's CRC on its own. */
	uint8_t want[SLP_MAX_FRAME];
	memcpy(want, data, size);
	if (f.h.type != SLP_OPEN && f.h.type != SLP_STATUS && f.h.type != SLP_NAK)
		want[4] = want[5] = 0;                          /* flags: defined for OPEN, STATUS and NAK */
	if (f.h.type == SLP_OPEN) {
		memset(want + 8, 0, 4);                         /* stream_id */
		want[SLP_HDR_LEN + 11] = 0;                     /* pad */
	}
	if (f.h.type == SLP_DONE)
		want[SLP_HDR_LEN + 2] = want[SLP_HDR_LEN + 3] = 0;      /* pad */
	REQUIRE(memcmp(want, out, n - SLP_CRC_LEN) == 0);
	REQUIRE(get_be32(out + n - SLP_CRC_LEN) == slp_crc32c(0, out, n - SLP_CRC_LEN));

	struct slp_frame g;
	REQUIRE(slp_decode(out, n, &g) == SLP_DEC_OK);
	same_frame(&f, &g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_one(data, size);
	if (size < SLP_HDR_LEN + SLP_CRC_LEN || size > SLP_MAX_FRAME + 64)
		return 0;
	/* Sealed: the same bytes with a trailer that matches. */
	uint8_t sealed[SLP_MAX_FRAME + 64];
	memcpy(sealed, data, size);
	uint32_t c = slp_crc32c(0, sealed, size - SLP_CRC_LEN);
	sealed[size - 4] = (uint8_t)(c >> 24);
	sealed[size - 3] = (uint8_t)(c >> 16);
	sealed[size - 2] = (uint8_t)(c >> 8);
	sealed[size - 1] = (uint8_t)c;
	check_one(sealed, size);
	return 0;
}
