/*
 * slp.c — SLP v2 on the wire: the one definition of a valid frame.
 *
 * The rx lcores decode every datagram with slp_decode(); the sender
 * library and the fuzz target use the same code, so the two ends can never
 * disagree about the format. Everything here is a pure function over a
 * byte buffer: no allocation, no DPDK, no global mutable state, so it is
 * safe from any number of lcores or threads at once.
 *
 * Integers on the wire are big-endian. We read and write them byte by
 * byte: the compiler turns that into a load and a bswap, and it never
 * does an unaligned access on architectures that mind.
 */
#include "dataplane/slp.h"

#include <string.h>

#ifdef __SSE4_2__
#include <nmmintrin.h>
#endif

/*
 * Body layouts: offsets from the end of the 16-byte header. Every body is
 * followed by the 4-byte frame CRC32C (SLP_CRC_LEN), which the header's
 * length counts; the sizes here leave it out.
 */
#define OPEN_FIXED 12u       /* revision u64, 3 x length u8, pad u8 */
#define DATA_FIXED 8u        /* offset u64, then the payload */
#define FIN_BODY 12u         /* total_len u64, crc32c u32 (of the whole document) */
#define STATUS_BODY 20u      /* position u64, window u32, durable u64 (ACCEPT, STATUS) */
#define NAK_BODY 32u         /* position u64, window u32, durable u64, gap_offset u64, gap_len u32 */
#define REJECT_FIXED 2u      /* code u16 */
#define DONE_FIXED 28u       /* code u16, pad u16, lines/ok/errors u64 */

/* ---- big-endian helpers ---------------------------------------------- */

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* ---- decoding -------------------------------------------------------- */

static enum slp_decode_err decode_open(const uint8_t *b, size_t n, struct slp_frame *f)
{
	if (n < OPEN_FIXED)
		return SLP_DEC_BODY;
	uint8_t tl = b[8], kl = b[9], dl = b[10];
	/* b[11] is padding: senders write 0, receivers ignore it. */
	if (tl < 1 || tl > SLP_NAME_MAX || kl < 1 || kl > SLP_TOKEN_MAX ||
	    dl < 1 || dl > SLP_NAME_MAX)
		return SLP_DEC_BODY;
	/* The three strings must fill the rest exactly: no slack, no overlap. */
	if ((size_t)tl + kl + dl != n - OPEN_FIXED)
		return SLP_DEC_BODY;
	const char *s = (const char *)b + OPEN_FIXED;
	f->u.open.revision = get64(b);
	f->u.open.tenant = s;
	f->u.open.tenant_len = tl;
	f->u.open.token = s + tl;
	f->u.open.token_len = kl;
	f->u.open.doc = s + tl + kl;
	f->u.open.doc_len = dl;
	return SLP_DEC_OK;
}

static enum slp_decode_err decode_data(const uint8_t *b, size_t n, struct slp_frame *f)
{
	if (n < DATA_FIXED)
		return SLP_DEC_BODY;
	size_t plen = n - DATA_FIXED;
	if (plen == 0)
		return SLP_DEC_EMPTY_DATA;
	if (plen > SLP_MAX_PAYLOAD)
		return SLP_DEC_OVERSIZE;
	f->u.data.offset = get64(b);
	f->u.data.payload = b + DATA_FIXED;
	f->u.data.len = (uint16_t)plen;
	return SLP_DEC_OK;
}

static enum slp_decode_err decode_reason(const uint8_t *b, size_t n, size_t fixed,
					 const char **reason, uint16_t *reason_len)
{
	if (n < fixed || n - fixed > SLP_REASON_MAX)
		return SLP_DEC_BODY;
	*reason = (const char *)b + fixed;
	*reason_len = (uint16_t)(n - fixed);
	return SLP_DEC_OK;
}

enum slp_decode_err slp_decode(const uint8_t *buf, size_t len, struct slp_frame *f)
{
	if (len < SLP_HDR_LEN)
		return SLP_DEC_SHORT;

	struct slp_hdr *h = &f->h;
	h->magic = get16(buf);
	h->version = buf[2];
	h->type = buf[3];
	h->flags = get16(buf + 4);
	h->length = get16(buf + 6);
	h->stream_id = get32(buf + 8);
	h->session = get32(buf + 12);

	if (h->magic != SLP_MAGIC)
		return SLP_DEC_MAGIC;
	if (h->version != SLP_VERSION)
		return SLP_DEC_VERSION;
	switch (h->type) {
	case SLP_OPEN: case SLP_DATA: case SLP_FIN:
	case SLP_ACCEPT: case SLP_REJECT: case SLP_STATUS: case SLP_DONE: case SLP_NAK:
		break;
	default:
		return SLP_DEC_TYPE;
	}
	if ((size_t)h->length != len - SLP_HDR_LEN)
		return SLP_DEC_LENGTH;
	if (h->length < SLP_CRC_LEN)
		return SLP_DEC_BODY;
	/*
	 * The frame CRC, before anything in the body is believed. The UDP
	 * checksum is optional and weak (a middlebox that rewrites a datagram
	 * recomputes it, and 16 bits miss one corruption in 65,536), and a NIC
	 * that offloads it may never look. This CRC is what turns a corrupted
	 * frame into a loss, repaired like any other, instead of a wrong
	 * offset, position, window or line count: it covers every byte before
	 * it, header included. It is the one check that costs a pass over the
	 * frame, so it comes after the header checks that cost nothing.
	 */
	size_t covered = len - SLP_CRC_LEN;
	if (slp_crc32c(0, buf, covered) != get32(buf + covered))
		return SLP_DEC_CHECKSUM;

	/* From here on the body is exactly h->length - 4 bytes long. */
	const uint8_t *b = buf + SLP_HDR_LEN;
	size_t n = h->length - SLP_CRC_LEN;

	switch (h->type) {
	case SLP_OPEN:
		return decode_open(b, n, f);
	case SLP_DATA:
		return decode_data(b, n, f);
	case SLP_FIN:
		if (n != FIN_BODY)
			return SLP_DEC_BODY;
		f->u.fin.total_len = get64(b);
		f->u.fin.crc32c = get32(b + 8);
		return SLP_DEC_OK;
	case SLP_ACCEPT:
	case SLP_STATUS:
		if (n != STATUS_BODY)
			return SLP_DEC_BODY;
		f->u.status.position = get64(b);
		f->u.status.window = get32(b + 8);
		f->u.status.durable = get64(b + 12);
		return SLP_DEC_OK;
	case SLP_NAK:
		if (n != NAK_BODY)
			return SLP_DEC_BODY;
		f->u.nak.position = get64(b);
		f->u.nak.window = get32(b + 8);
		f->u.nak.durable = get64(b + 12);
		f->u.nak.gap_offset = get64(b + 20);
		f->u.nak.gap_len = get32(b + 28);
		return SLP_DEC_OK;
	case SLP_REJECT:
		if (n >= REJECT_FIXED)
			f->u.reject.code = get16(b);
		return decode_reason(b, n, REJECT_FIXED, &f->u.reject.reason,
				     &f->u.reject.reason_len);
	case SLP_DONE:
		if (n >= DONE_FIXED) {
			f->u.done.code = get16(b);
			/* b[2..3] is padding: written 0, ignored. */
			f->u.done.lines = get64(b + 4);
			f->u.done.ok = get64(b + 12);
			f->u.done.errors = get64(b + 20);
		}
		return decode_reason(b, n, DONE_FIXED, &f->u.done.reason,
				     &f->u.done.reason_len);
	}
	return SLP_DEC_TYPE;    /* not reached: the type was checked above */
}

const char *slp_decode_err_str(enum slp_decode_err e)
{
	switch (e) {
	case SLP_DEC_OK: return "ok";
	case SLP_DEC_SHORT: return "datagram shorter than the 16-byte SLP header";
	case SLP_DEC_MAGIC: return "bad magic (not \"SL\"): not an SLP datagram";
	case SLP_DEC_VERSION: return "unsupported SLP version (this build speaks version 2)";
	case SLP_DEC_TYPE: return "unknown frame type";
	case SLP_DEC_LENGTH: return "header length field disagrees with the datagram size";
	case SLP_DEC_BODY: return "frame body too short, too long or inconsistent for its type";
	case SLP_DEC_EMPTY_DATA: return "DATA frame with no payload";
	case SLP_DEC_OVERSIZE: return "DATA payload larger than 1444 bytes";
	case SLP_DEC_CHECKSUM: return "frame failed its CRC32C: corrupted in flight";
	case SLP_DEC__COUNT: break;
	}
	return "unknown decode error";
}

const char *slp_code_str(enum slp_code c)
{
	switch (c) {
	case SLP_OK: return "ok";
	case SLP_E_UNKNOWN_TENANT: return "unknown tenant";
	case SLP_E_BAD_TOKEN: return "bad token for this tenant";
	case SLP_E_REVISION: return "revision not newer than the highest accepted revision";
	case SLP_E_TOO_MANY_STREAMS: return "too many open streams; retry later";
	case SLP_E_BAD_NAME: return "document name empty, too long or with forbidden bytes";
	case SLP_E_UNKNOWN_STREAM: return "unknown stream (expired, or the appliance restarted)";
	case SLP_E_CHECKSUM: return "CRC32C in FIN does not match the bytes received";
	case SLP_E_LENGTH: return "FIN total length disagrees with the data received";
	case SLP_E_INTERNAL: return "appliance could not record the decision (storage failure)";
	case SLP_E_SHUTDOWN: return "appliance is shutting down; retry later";
	case SLP_E_TIMEOUT: return "stream idle too long; the appliance freed it";
	case SLP_E_TENANT_STREAMS:
		return "this tenant already has its maximum of documents in flight (max_streams)";
	case SLP_E_TOO_LARGE:
		return "document larger than the tenant's max_document_bytes (max_document_mb)";
	case SLP_E_HELD:
		return "results waiting for a line that did not come passed held_max_mb; the missing lines are errors";
	}
	return "unknown code";
}

/* ---- encoding -------------------------------------------------------- */

/*
 * Write the header for a frame with body_len bytes (the CRC trailer not
 * counted: put_hdr counts it); the caller checked cap for the header, the
 * body and the trailer.
 */
static void put_hdr(uint8_t *out, uint8_t type, uint16_t flags, size_t body_len,
		    uint32_t stream_id, uint32_t session)
{
	put16(out, SLP_MAGIC);
	out[2] = SLP_VERSION;
	out[3] = type;
	put16(out + 4, flags);
	put16(out + 6, (uint16_t)(body_len + SLP_CRC_LEN));
	put32(out + 8, stream_id);
	put32(out + 12, session);
}

/* Append the frame CRC32C after header and body; returns the frame length. */
static size_t seal(uint8_t *out, size_t body_len)
{
	size_t covered = SLP_HDR_LEN + body_len;
	put32(out + covered, slp_crc32c(0, out, covered));
	return covered + SLP_CRC_LEN;
}

/* Room for a frame with body_len bytes of body in cap bytes. */
static bool fits(const uint8_t *out, size_t cap, size_t body_len)
{
	return out != NULL && cap >= SLP_HDR_LEN + body_len + SLP_CRC_LEN;
}

size_t slp_encode_open(uint8_t *out, size_t cap, uint16_t flags, uint32_t session, uint64_t revision,
		       const char *tenant, size_t tenant_len, const char *token, size_t token_len,
		       const char *doc, size_t doc_len)
{
	if (tenant == NULL || token == NULL || doc == NULL)
		return 0;
	if (tenant_len < 1 || tenant_len > SLP_NAME_MAX || token_len < 1 ||
	    token_len > SLP_TOKEN_MAX || doc_len < 1 || doc_len > SLP_NAME_MAX)
		return 0;
	size_t body = OPEN_FIXED + tenant_len + token_len + doc_len;
	if (!fits(out, cap, body))
		return 0;

	put_hdr(out, SLP_OPEN, flags, body, 0, session);
	uint8_t *b = out + SLP_HDR_LEN;
	put64(b, revision);
	b[8] = (uint8_t)tenant_len;
	b[9] = (uint8_t)token_len;
	b[10] = (uint8_t)doc_len;
	b[11] = 0;
	memcpy(b + OPEN_FIXED, tenant, tenant_len);
	memcpy(b + OPEN_FIXED + tenant_len, token, token_len);
	memcpy(b + OPEN_FIXED + tenant_len + token_len, doc, doc_len);
	return seal(out, body);
}

size_t slp_encode_data(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
		       uint64_t offset, const void *payload, size_t len)
{
	if (payload == NULL || len < 1 || len > SLP_MAX_PAYLOAD)
		return 0;
	size_t body = DATA_FIXED + len;
	if (!fits(out, cap, body))
		return 0;
	put_hdr(out, SLP_DATA, 0, body, stream_id, session);
	put64(out + SLP_HDR_LEN, offset);
	memcpy(out + SLP_DATA_HDR_LEN, payload, len);
	return seal(out, body);
}

size_t slp_encode_fin(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
		      uint64_t total_len, uint32_t crc32c)
{
	if (!fits(out, cap, FIN_BODY))
		return 0;
	put_hdr(out, SLP_FIN, 0, FIN_BODY, stream_id, session);
	put64(out + SLP_HDR_LEN, total_len);
	put32(out + SLP_HDR_LEN + 8, crc32c);
	return seal(out, FIN_BODY);
}

static size_t encode_status_like(uint8_t *out, size_t cap, uint8_t type, uint16_t flags,
				 uint32_t stream_id, uint32_t session, uint64_t position,
				 uint32_t window, uint64_t durable)
{
	if (!fits(out, cap, STATUS_BODY))
		return 0;
	put_hdr(out, type, flags, STATUS_BODY, stream_id, session);
	put64(out + SLP_HDR_LEN, position);
	put32(out + SLP_HDR_LEN + 8, window);
	put64(out + SLP_HDR_LEN + 12, durable);
	return seal(out, STATUS_BODY);
}

size_t slp_encode_accept(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
			 uint64_t position, uint32_t window, uint64_t durable)
{
	return encode_status_like(out, cap, SLP_ACCEPT, 0, stream_id, session, position, window,
				  durable);
}

size_t slp_encode_status(uint8_t *out, size_t cap, uint16_t flags, uint32_t stream_id,
			 uint32_t session, uint64_t position, uint32_t window, uint64_t durable)
{
	return encode_status_like(out, cap, SLP_STATUS, flags, stream_id, session, position, window,
				  durable);
}

size_t slp_encode_nak(uint8_t *out, size_t cap, uint16_t flags, uint32_t stream_id,
		      uint32_t session, uint64_t position, uint32_t window, uint64_t durable,
		      uint64_t gap_offset, uint32_t gap_len)
{
	if (!fits(out, cap, NAK_BODY))
		return 0;
	put_hdr(out, SLP_NAK, flags, NAK_BODY, stream_id, session);
	uint8_t *b = out + SLP_HDR_LEN;
	put64(b, position);
	put32(b + 8, window);
	put64(b + 12, durable);
	put64(b + 20, gap_offset);
	put32(b + 28, gap_len);
	return seal(out, NAK_BODY);
}

/* Reason text: NULL means none; longer than SLP_REASON_MAX is refused, not cut. */
static bool reason_len_ok(const char *reason, size_t *len)
{
	*len = reason ? strnlen(reason, SLP_REASON_MAX + 1) : 0;
	return *len <= SLP_REASON_MAX;
}

size_t slp_encode_reject(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
			 uint16_t code, const char *reason)
{
	size_t rlen;
	if (!reason_len_ok(reason, &rlen))
		return 0;
	size_t body = REJECT_FIXED + rlen;
	if (!fits(out, cap, body))
		return 0;
	put_hdr(out, SLP_REJECT, 0, body, stream_id, session);
	put16(out + SLP_HDR_LEN, code);
	if (rlen)
		memcpy(out + SLP_HDR_LEN + REJECT_FIXED, reason, rlen);
	return seal(out, body);
}

size_t slp_encode_done(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
		       uint16_t code, uint64_t lines, uint64_t ok, uint64_t errors,
		       const char *reason)
{
	size_t rlen;
	if (!reason_len_ok(reason, &rlen))
		return 0;
	size_t body = DONE_FIXED + rlen;
	if (!fits(out, cap, body))
		return 0;
	put_hdr(out, SLP_DONE, 0, body, stream_id, session);
	uint8_t *b = out + SLP_HDR_LEN;
	put16(b, code);
	put16(b + 2, 0);
	put64(b + 4, lines);
	put64(b + 12, ok);
	put64(b + 20, errors);
	if (rlen)
		memcpy(b + DONE_FIXED, reason, rlen);
	return seal(out, body);
}

/* ---- CRC32C ---------------------------------------------------------- */

/*
 * Why not rte_hash_crc()? It would do the same instruction, but the sender
 * library (libsluice_send, sluice-send) runs on tenant machines that have
 * no DPDK, and slp.c must link there. So: the SSE4.2 crc32 instruction when
 * the compiler may use it (the build passes -march=native), and a
 * byte-at-a-time table otherwise. Both compute the reflected CRC with
 * polynomial 0x82F63B78, register preset to ~0 and final complement; the
 * complement on the way in and out is what makes crc = slp_crc32c(crc, ...)
 * chain: the returned value is the finished CRC of everything so far.
 */
#ifdef __SSE4_2__

uint32_t slp_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t c = ~crc;

	/* Eight bytes per instruction; memcpy keeps the load legal when unaligned. */
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, b, 8);
		c = _mm_crc32_u64(c, w);
		b += 8;
		n -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = _mm_crc32_u8(c32, *b++);
	return ~c32;
}

#else

/* crc32c_table[i]: the CRC register after shifting byte i through it (generated once). */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
	0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
	0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
	0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
	0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
	0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
	0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
	0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
	0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
	0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
	0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
	0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
	0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
	0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
	0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
	0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
	0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
	0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
	0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
	0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
	0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
	0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
	0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
	0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
	0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
	0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
	0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
	0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
	0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
	0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
	0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
	0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
	0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
	0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
	0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
	0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
	0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
	0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
	0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
	0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
	0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
	0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
	0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t slp_crc32c(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t c = ~crc;

	while (n--)
		c = crc32c_table[(c ^ *b++) & 0xffu] ^ (c >> 8);
	return ~c;
}

#endif
