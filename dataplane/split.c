/*
 * split.c — RFC 4180 line splitter, streaming (contract in split.h).
 *
 * The common line has no quotes at all, so that case must cost two
 * memchr calls and nothing else: find the next '\n', and check that the
 * next '"' in the chunk lies beyond it. Such a line is handed out as a
 * pointer into the caller's chunk (zero copy). Only a line with quotes
 * is walked quote by quote (still with memchr between quotes), and only
 * a line that runs past the end of a chunk is copied into the carry.
 *
 * Line state that survives a chunk boundary lives in the splitter:
 *   carry / carry_len  bytes of the unfinished line (dropped once it is
 *                      known to be oversize, see `oversize`);
 *   in_quotes          the chunk ended inside a quoted field;
 *   quote_pending      the chunk ended on a '"' inside a quoted field:
 *                      the next byte decides between "" and a close;
 *   field_start        the next byte starts a field (a '"' there opens
 *                      a quoted field; elsewhere it is a literal byte);
 *   cr_pending         the chunk ended on a CR outside quotes: it is the
 *                      first half of CRLF if the next byte is LF, else a
 *                      literal byte. It is kept out of the carry so that
 *                      a line of exactly max_line bytes plus CRLF fits;
 *   any                a line has started (at least one byte consumed).
 *
 * A CR just before the terminating LF is always outside quotes: the
 * quote state only changes at '"', so a CR inside quotes is followed by
 * a byte inside quotes, never by the LF that ends the line.
 */
#include <string.h>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "split.h"

void sl_split_init(struct sl_splitter *s, char *carry, uint32_t max_line)
{
	memset(s, 0, sizeof(*s));
	s->max_line = max_line;
	s->carry = carry;
	s->field_start = 1;
}

/* Back to "at the start of a line"; `lines` is kept. */
static void line_reset(struct sl_splitter *s)
{
	s->carry_len = 0;
	s->in_quotes = 0;
	s->quote_pending = 0;
	s->field_start = 1;
	s->cr_pending = 0;
	s->oversize = 0;
	s->any = 0;
}

/* Add bytes to the carried line; past max_line, drop them and remember why. */
static void carry_append(struct sl_splitter *s, const char *p, size_t n)
{
	if (s->oversize || n == 0)
		return;
	if (n > (size_t)(s->max_line - s->carry_len)) {
		s->oversize = 1;
		s->carry_len = 0;
		return;
	}
	memcpy(s->carry + s->carry_len, p, n);
	s->carry_len += (uint32_t)n;
}

/*
 * The chunk ended inside the current line: keep [p, end) for the next
 * chunk. A final CR outside quotes may be half of a CRLF split across
 * chunks, so it is held back in cr_pending instead of the carry.
 */
static void carry_tail(struct sl_splitter *s, const char *p, const char *end)
{
	if (p == end)
		return;
	s->any = 1;
	if (!s->in_quotes && !s->quote_pending && end[-1] == '\r') {
		s->cr_pending = 1;
		s->field_start = 0;
		end--;
	}
	carry_append(s, p, (size_t)(end - p));
}

/* Length of the line [p, eol) without the CR of a CRLF terminator. */
static size_t line_len(const char *p, const char *eol)
{
	size_t len = (size_t)(eol - p);

	if (len > 0 && eol[-1] == '\r')
		len--;
	return len;
}

/* Where the line just found ends in the document: after its terminator at `after` in this chunk. */
static void mark_end(struct sl_splitter *s, const char *after)
{
	s->line_end = s->pos + (uint64_t)(after - s->chunk);
}

/* Emit a line that lies whole inside the caller's chunk: no copy. */
static void emit_direct(struct sl_splitter *s, const char *p, size_t len, const char *after,
			sl_line_fn emit, void *ctx)
{
	mark_end(s, after);
	s->lines++;
	if (len > s->max_line)
		emit(ctx, p, 0, SL_LINE_OVERSIZE);
	else
		emit(ctx, p, (uint32_t)len, 0);
	line_reset(s);
}

/* Emit the line held in the carry (or its oversize marker). */
static void emit_carried(struct sl_splitter *s, uint32_t flags, sl_line_fn emit, void *ctx)
{
	s->lines++;
	if (s->oversize)
		emit(ctx, s->carry, 0, flags | SL_LINE_OVERSIZE);
	else
		emit(ctx, s->carry, s->carry_len, flags);
	line_reset(s);
}

/*
 * The first byte in [p, end) equal to a or b, or end. Quoted CSV has a
 * '"' every few bytes, and a memchr call per quote costs more than the
 * scan itself (bench-split measured 12 calls per 57-byte quoted line), so
 * this scans 32 or 16 bytes at a time inline (AVX2 when the build targets
 * it, SSE2 is baseline on x86-64) with a byte loop for the tail and on
 * other machines.
 */
static inline const char *scan2(const char *p, const char *end, char a, char b)
{
#if defined(__AVX2__)
	const __m256i wa = _mm256_set1_epi8(a), wb = _mm256_set1_epi8(b);
	while (end - p >= 32) {
		__m256i x = _mm256_loadu_si256((const __m256i *)p);
		unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_or_si256(_mm256_cmpeq_epi8(x, wa),
									     _mm256_cmpeq_epi8(x, wb)));
		if (m != 0)
			return p + __builtin_ctz(m);
		p += 32;
	}
#endif
#if defined(__SSE2__)
	const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
	while (end - p >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)p);
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)));
		if (m != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
#endif
	while (p < end && *p != a && *p != b)
		p++;
	return p;
}

/*
 * Find the LF that ends the current line, scanning [p, end) with the
 * quote state held in s. Returns it, or NULL when the chunk ends first;
 * either way s holds the quote state at the point reached. Every '"'
 * and the LF are visited once, in order.
 */
static const char *find_eol(struct sl_splitter *s, const char *p, const char *end)
{
	for (;;) {
		if (s->in_quotes) {
			/* Inside quotes only '"' matters: skip straight to it. */
			const char *q = scan2(p, end, '"', '"');

			if (q == end)
				return NULL;
			if (q + 1 == end) {
				s->quote_pending = 1;
				return NULL;
			}
			if (q[1] == '"') {          /* "" is an escaped quote */
				p = q + 2;
				continue;
			}
			s->in_quotes = 0;           /* a lone '"' closes the field */
			s->field_start = 0;
			p = q + 1;
			continue;
		}

		/* Outside quotes: the line ends at the next LF unless a '"'
		 * at the start of a field opens a quoted field before it. */
		const char *x = scan2(p, end, '"', '\n');

		if (x == end) {
			if (end > p)
				s->field_start = end[-1] == ',';
			return NULL;
		}
		if (*x == '\n')
			return x;
		if (x == p ? s->field_start : x[-1] == ',')
			s->in_quotes = 1;           /* it opens a quoted field */
		s->field_start = 0;                 /* else a literal byte */
		p = x + 1;
	}
}

/*
 * Finish the line carried in from earlier chunks. Returns where the next
 * line starts in [p, end), or NULL if the whole chunk belongs to the
 * carried line.
 */
static const char *feed_carried(struct sl_splitter *s, const char *p, const char *end,
				sl_line_fn emit, void *ctx)
{
	const char *start = p;
	const char *scan = p;

	if (s->quote_pending) {
		s->quote_pending = 0;
		if (*p == '"') {
			scan = p + 1;               /* "" split across chunks: still quoted */
		} else {
			s->in_quotes = 0;           /* the pending '"' closed the field */
			s->field_start = 0;
		}
	} else if (s->cr_pending) {
		s->cr_pending = 0;
		if (*p == '\n') {                   /* CRLF split across chunks */
			mark_end(s, p + 1);
			emit_carried(s, 0, emit, ctx);
			return p + 1;
		}
		carry_append(s, "\r", 1);           /* a lone CR is a literal byte */
	}

	const char *eol = find_eol(s, scan, end);

	if (eol == NULL) {
		carry_tail(s, start, end);
		return NULL;
	}
	carry_append(s, start, line_len(start, eol));
	mark_end(s, eol + 1);
	emit_carried(s, 0, emit, ctx);
	return eol + 1;
}

static void feed_chunk(struct sl_splitter *s, const char *p, size_t n, sl_line_fn emit, void *ctx)
{
	const char *end = p + n;
	const char *quote;

	if (s->any) {
		p = feed_carried(s, p, end, emit, ctx);
		if (p == NULL)
			return;
	}

	/* The next '"' in the chunk, or end: lines before it need no state. */
	quote = memchr(p, '"', (size_t)(end - p));
	if (quote == NULL)
		quote = end;

	while (p < end) {
		if (quote < p) {
			quote = memchr(p, '"', (size_t)(end - p));
			if (quote == NULL)
				quote = end;
		}
		/* no quote ahead: memchr for the LF; quotes ahead: one scan finds whichever comes first */
		const char *nl = quote == end ? memchr(p, '\n', (size_t)(end - p)) : scan2(p, end, '"', '\n');

		if (nl == end || (nl != NULL && *nl != '\n'))
			nl = NULL;              /* not an LF (the chunk ends, or a quote is first) */
		if (nl != NULL && quote > nl) {
			/* The fast path: no quote before the LF. */
			emit_direct(s, p, line_len(p, nl), nl + 1, emit, ctx);
			p = nl + 1;
			continue;
		}

		/* A quote in this line, or the line runs past the chunk. */
		const char *eol = find_eol(s, p, end);

		if (eol == NULL) {
			carry_tail(s, p, end);
			return;
		}
		emit_direct(s, p, line_len(p, eol), eol + 1, emit, ctx);
		p = eol + 1;
	}
}

void sl_split_feed(struct sl_splitter *s, const char *p, size_t n, sl_line_fn emit, void *ctx)
{
	if (n == 0)
		return;
	s->chunk = p;
	feed_chunk(s, p, n, emit, ctx);
	s->pos += n;
}

void sl_split_resume(struct sl_splitter *s, uint64_t pos, uint64_t lines)
{
	s->pos = pos;
	s->line_end = pos;
	s->lines = lines;
}

void sl_split_finish(struct sl_splitter *s, sl_line_fn emit, void *ctx)
{
	uint32_t flags = 0;

	if (!s->any) {
		line_reset(s);
		return;
	}
	if (s->quote_pending) {                     /* a '"' at the very end closes the field */
		s->quote_pending = 0;
		s->in_quotes = 0;
	}
	if (s->cr_pending) {                        /* no LF followed: the CR is a literal byte */
		s->cr_pending = 0;
		carry_append(s, "\r", 1);
	}
	if (s->in_quotes)
		flags |= SL_LINE_UNTERMINATED;
	s->line_end = s->pos;                       /* the document's end */
	emit_carried(s, flags, emit, ctx);
}
