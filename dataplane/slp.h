/*
 * slp.h — SLP v2 (Sluice Line Protocol) on the wire: encode and decode.
 *
 * Pure functions over byte buffers: no DPDK, no allocation, no syscalls.
 * The rx lcore, the sender library and the fuzz target all use these, so
 * there is one definition of what a valid frame is. docs/protocol.md is
 * the prose version of this header.
 *
 * Every frame starts with a 16-byte header and ends with a 4-byte CRC32C
 * of every byte before it; all integers big-endian:
 *
 *   0      2       3      4       6        8            12           16
 *   +------+-------+------+-------+--------+------------+------------+
 *   |magic |version| type | flags | length | stream_id  |  session   |
 *   |"SL"  |  2    |      |       |        | (0 in OPEN)| sender's   |
 *   +------+-------+------+-------+--------+------------+------------+
 *   | body (length - 4 bytes)                  ...     | crc32c u32 |
 *   +--------------------------------------------------+------------+
 *
 * length is the number of bytes after the header, the CRC included; a
 * datagram carrying more or fewer bytes than 16 + length is malformed,
 * and one whose CRC does not match is corrupted (both dropped and
 * counted). session is a random number the sender picks per document:
 * with the sender's address and port it makes OPEN idempotent.
 */
#ifndef SLUICE_SLP_H
#define SLUICE_SLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLP_MAGIC 0x534Cu        /* "SL" */
#define SLP_VERSION 2u
#define SLP_HDR_LEN 16u
#define SLP_CRC_LEN 4u           /* the frame CRC32C that ends every frame */
#define SLP_DEFAULT_PORT 7878u
#define SLP_MAX_FRAME 1472u      /* fits one 1500-byte MTU IPv4/UDP datagram */
#define SLP_DATA_HDR_LEN (SLP_HDR_LEN + 8u)    /* header + offset: where the payload starts */
#define SLP_MAX_PAYLOAD (SLP_MAX_FRAME - SLP_DATA_HDR_LEN - SLP_CRC_LEN)   /* 1444 */
#define SLP_NAME_MAX 64u
#define SLP_TOKEN_MAX 128u
#define SLP_REASON_MAX 160u

enum slp_type {
	/* sender -> appliance */
	SLP_OPEN = 0x01,     /* revision u64, tenant/token/doc lengths u8 x3, pad u8, strings */
	SLP_DATA = 0x02,     /* offset u64, payload */
	SLP_FIN = 0x03,      /* total_len u64, crc32c u32 (CRC32C of the whole document) */
	/* appliance -> sender */
	SLP_ACCEPT = 0x81,   /* position u64, window u32, durable u64 */
	SLP_REJECT = 0x82,   /* code u16, reason text (not NUL-terminated) */
	SLP_STATUS = 0x83,   /* position u64, window u32, durable u64 */
	SLP_DONE = 0x84,     /* code u16, pad u16, lines u64, ok u64, errors u64, reason text */
	SLP_NAK = 0x85,      /* position u64, window u32, durable u64, gap_offset u64, gap_len u32: resend these */
};

/* Why an OPEN was refused or a document failed. Stable numbers: they are on the wire. */
enum slp_code {
	SLP_OK = 0,
	SLP_E_UNKNOWN_TENANT = 1,
	SLP_E_BAD_TOKEN = 2,
	SLP_E_REVISION = 3,        /* revision not newer than the highest accepted one */
	SLP_E_TOO_MANY_STREAMS = 4,
	SLP_E_BAD_NAME = 5,        /* document name empty, too long, or with forbidden bytes */
	SLP_E_UNKNOWN_STREAM = 6,  /* DATA/FIN for a stream this appliance does not know (expired?) */
	SLP_E_CHECKSUM = 7,        /* CRC32C in FIN does not match the bytes received */
	SLP_E_LENGTH = 8,          /* FIN total length disagrees with the data received */
	SLP_E_INTERNAL = 9,        /* appliance could not record the decision (storage failure) */
	SLP_E_SHUTDOWN = 10,       /* appliance is stopping; retry later */
	SLP_E_TIMEOUT = 11,        /* stream idle too long; state freed */
	SLP_E_TENANT_STREAMS = 12, /* this tenant has its maximum of concurrent streams open */
	SLP_E_TOO_LARGE = 13,      /* document larger than the tenant's max_document_bytes */
	SLP_E_HELD = 14,           /* results waiting for a line that did not come passed held_max_mb */
};

/*
 * Header flags. OPEN with SLP_F_RESUME: "I still hold this document; if its
 * revision was accepted before and is unfinished, let me go on from what
 * you have made durable" (docs/protocol.md, "Resuming"). STATUS or NAK
 * with SLP_F_BEYOND: "DATA past position + window reached me and was
 * dropped: send everything past position + window again" (a sender that
 * overran the window, e.g. on a window it misread, shrinks back at once
 * instead of one probe per RTO).
 */
#define SLP_F_RESUME 0x0001u
#define SLP_F_BEYOND 0x0002u

struct slp_hdr {
	uint16_t magic;
	uint8_t version;
	uint8_t type;
	uint16_t flags;
	uint16_t length;
	uint32_t stream_id;
	uint32_t session;
};

/* A decoded frame. Pointers point into the caller's buffer. */
struct slp_frame {
	struct slp_hdr h;
	union {
		struct {
			uint64_t revision;
			const char *tenant; uint8_t tenant_len;
			const char *token; uint8_t token_len;
			const char *doc; uint8_t doc_len;
		} open;
		struct {
			uint64_t offset;
			const uint8_t *payload;
			uint16_t len;
		} data;
		struct {
			uint64_t position;      /* contiguous bytes received */
			uint32_t window;
			uint64_t durable;       /* bytes whose lines are all durable */
			uint64_t gap_offset;    /* first missing byte */
			uint32_t gap_len;       /* missing bytes from there */
		} nak;
		struct {
			uint64_t total_len;
			uint32_t crc32c;
		} fin;
		struct {
			uint64_t position;      /* contiguous bytes received */
			uint32_t window;
			uint64_t durable;       /* bytes whose lines are all durable: resume from here */
		} status;               /* ACCEPT and STATUS */
		struct {
			uint16_t code;
			const char *reason; uint16_t reason_len;
		} reject;
		struct {
			uint16_t code;
			uint64_t lines, ok, errors;
			const char *reason; uint16_t reason_len;
		} done;
	} u;
};

/* Why a datagram was not a valid frame. Each has its own counter on the rx lcore. */
enum slp_decode_err {
	SLP_DEC_OK = 0,
	SLP_DEC_SHORT,         /* fewer than 16 bytes */
	SLP_DEC_MAGIC,
	SLP_DEC_VERSION,
	SLP_DEC_TYPE,          /* unknown frame type */
	SLP_DEC_LENGTH,        /* header length field disagrees with the datagram */
	SLP_DEC_BODY,          /* body too short or inconsistent for its type */
	SLP_DEC_EMPTY_DATA,    /* DATA with no payload */
	SLP_DEC_OVERSIZE,      /* DATA payload larger than SLP_MAX_PAYLOAD */
	SLP_DEC_CHECKSUM,      /* the frame does not match its CRC32C: corrupted in flight */
	SLP_DEC__COUNT
};

/* Decode one datagram. Never reads past buf[len). */
enum slp_decode_err slp_decode(const uint8_t *buf, size_t len, struct slp_frame *f);

const char *slp_decode_err_str(enum slp_decode_err e);
const char *slp_code_str(enum slp_code c);

/*
 * Encoders write a complete frame into out (capacity cap) and return its
 * length, or 0 if it does not fit or an argument is out of range.
 */
size_t slp_encode_open(uint8_t *out, size_t cap, uint16_t flags, uint32_t session, uint64_t revision,
		       const char *tenant, size_t tenant_len, const char *token, size_t token_len,
		       const char *doc, size_t doc_len);
size_t slp_encode_data(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
		       uint64_t offset, const void *payload, size_t len);
size_t slp_encode_fin(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
		      uint64_t total_len, uint32_t crc32c);
size_t slp_encode_accept(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
			 uint64_t position, uint32_t window, uint64_t durable);
size_t slp_encode_status(uint8_t *out, size_t cap, uint16_t flags, uint32_t stream_id,
			 uint32_t session, uint64_t position, uint32_t window, uint64_t durable);
size_t slp_encode_reject(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
			 uint16_t code, const char *reason);
size_t slp_encode_nak(uint8_t *out, size_t cap, uint16_t flags, uint32_t stream_id,
		      uint32_t session, uint64_t position, uint32_t window, uint64_t durable,
		      uint64_t gap_offset, uint32_t gap_len);
size_t slp_encode_done(uint8_t *out, size_t cap, uint32_t stream_id, uint32_t session,
		       uint16_t code, uint64_t lines, uint64_t ok, uint64_t errors,
		       const char *reason);

/* CRC32C (Castagnoli), incremental: crc = slp_crc32c(crc, p, n), start with 0. */
uint32_t slp_crc32c(uint32_t crc, const void *p, size_t n);

#endif
