/*
 * split.h — RFC 4180 line splitter, streaming.
 *
 * Bytes arrive in arbitrary chunks (datagrams, websocket frames); lines
 * come out whole. A line ends at LF or CRLF outside a quoted field; a
 * quoted field may hold commas, "" and newlines. The terminator is not
 * part of the line. The last line of a document may lack a terminator:
 * sl_split_finish() emits it. A document ending in a newline has no
 * extra empty line. An empty line in the middle is a line (of length 0).
 *
 * Quote rules (what makes CSV "broken" is decided by the processor, but
 * the splitter must agree with it on where lines end):
 *   - a '"' opens a quoted field only at the start of a field
 *     (line start or right after ','); elsewhere it is a literal byte;
 *   - inside a quoted field, '""' is an escaped quote and a lone '"'
 *     closes the field.
 *
 * Lines longer than max_line are not carried: the line is emitted with
 * SL_LINE_OVERSIZE and len 0 once its end is found, so it still gets a
 * line number and an error ACK. At finish, a document that ends inside a
 * quoted field emits its last line with SL_LINE_UNTERMINATED.
 *
 * No allocation after sl_split_init; no locks; one splitter per stream.
 */
#ifndef SLUICE_SPLIT_H
#define SLUICE_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#define SL_LINE_OVERSIZE 0x1u
#define SL_LINE_UNTERMINATED 0x2u

/*
 * Called once per complete line; line is valid only during the call, and
 * so is the splitter's line_end (where the line ends in the document,
 * terminator included: a resume point).
 */
typedef void (*sl_line_fn)(void *ctx, const char *line, uint32_t len, uint32_t flags);

struct sl_splitter {
	uint32_t max_line;
	uint32_t carry_len;     /* bytes of the current line held in carry */
	uint8_t in_quotes;      /* inside a quoted field */
	uint8_t quote_pending;  /* saw '"' inside quotes at chunk end: escape or close? */
	uint8_t field_start;    /* next byte starts a field */
	uint8_t cr_pending;     /* saw CR outside quotes at chunk end */
	uint8_t oversize;       /* current line exceeded max_line */
	uint8_t any;            /* current line has at least one byte (or CR) pending */
	uint64_t lines;         /* lines emitted so far */
	uint64_t pos;           /* document offset of the first byte of the chunk being fed */
	uint64_t line_end;      /* during an emit: document offset just after the line's terminator */
	const char *chunk;      /* the chunk being fed */
	char *carry;            /* max_line bytes, owned by the caller */
};

/* carry must hold max_line bytes and live as long as the splitter. */
void sl_split_init(struct sl_splitter *s, char *carry, uint32_t max_line);
void sl_split_feed(struct sl_splitter *s, const char *p, size_t n, sl_line_fn emit, void *ctx);
void sl_split_finish(struct sl_splitter *s, sl_line_fn emit, void *ctx);

/*
 * Start at document offset pos, after `lines` lines (a document resumed
 * from its durable position, which is always a line boundary).
 */
void sl_split_resume(struct sl_splitter *s, uint64_t pos, uint64_t lines);

#endif
