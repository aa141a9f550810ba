/*
 * fuzz_slp.c — libFuzzer target for the SLP decoder.
 *
 * Any byte string goes through slp_decode(); it must never read out of
 * bounds (ASan watches). Whatever decodes is encoded again with the
 * matching encoder and must (a) give back a frame of the same length,
 * (b) equal the input byte for byte except the bytes v1 ignores (flags outside OPEN,
 * padding, OPEN's stream id), and (c) decode to the same fields. For
 * DATA, (b) covers the frame CRC32C: the encoder computes it, so a DATA
 * frame that decoded (with flags 0) must have carried exactly that CRC.
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
		return slp_encode_status(out, cap, h->stream_id, h->session,
					 f->u.status.position, f->u.status.window, f->u.status.durable);
	case SLP_NAK:
		return slp_encode_nak(out, cap, h->stream_id, h->session, f->u.nak.position,
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
		/* the CRC covers the header (flags included), so compare it only via the bytes above */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slp_frame f;
	enum slp_decode_err e = slp_decode(data, size, &f);
	REQUIRE(e < SLP_DEC__COUNT);
	REQUIRE(slp_decode_err_str(e) != NULL);
	if (e == SLP_DEC_CHECKSUM) {
		/* Only DATA carries a payload CRC, and only a wrong one gets here. */
		REQUIRE(size >= SLP_DATA_HDR_LEN && data[3] == SLP_DATA);
		return 0;
	}
	if (e != SLP_DEC_OK)
		return 0;
	REQUIRE(size == SLP_HDR_LEN + f.h.length);

	uint8_t out[SLP_MAX_FRAME];
	size_t n = reencode(&f, out, sizeof out);
	if (n == SIZE_MAX)
		return 0;
	REQUIRE(n == size);

	/* Byte-exact apart from what v1 ignores on input and writes as 0. */
	uint8_t want[SLP_MAX_FRAME];
	memcpy(want, data, size);
	if (f.h.type != SLP_OPEN)
		want[4] = want[5] = 0;                          /* flags: only OPEN's are defined (RESUME) */
	if (f.h.type == SLP_OPEN) {
		memset(want + 8, 0, 4);                         /* stream_id */
		want[SLP_HDR_LEN + 11] = 0;                     /* pad */
	}
	if (f.h.type == SLP_DONE)
		want[SLP_HDR_LEN + 2] = want[SLP_HDR_LEN + 3] = 0;      /* pad */
	if (f.h.type == SLP_DATA && (data[4] | data[5]) != 0)
		memcpy(want + SLP_HDR_LEN + 8, out + SLP_HDR_LEN + 8, 4); /* the CRC covered the flags we zeroed */
	REQUIRE(memcmp(want, out, n) == 0);

	struct slp_frame g;
	REQUIRE(slp_decode(out, n, &g) == SLP_DEC_OK);
	same_frame(&f, &g);
	return 0;
}
