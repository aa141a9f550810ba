/*
 * feed.c — producer side: splitter output into line batches, batches into
 * the producer's backlog, backlog to the workers.
 */
#include <string.h>

#include <rte_mempool.h>
#include <rte_pause.h>

#include "dispatch.h"
#include "feed.h"
#include "slp.h"

/* Batches a producer keeps in reserve: a worst-case frame of 1-byte lines fills ~23. */
#define SL_FEED_RESERVE 48u

void
sl_feed_init(struct sl_feed *f, struct sl_runtime *rt, unsigned producer,
	     struct sl_backlog *bl, char *carry, uint32_t doc, uint32_t doc_gen, uint16_t tenant)
{
	memset(f, 0, sizeof(*f));
	sl_split_init(&f->split, carry, rt->cfg->max_line_bytes);
	f->rt = rt;
	f->backlog = bl;
	f->tstats = sl_tenant_row(rt, producer);
	f->doc = doc;
	f->doc_gen = doc_gen;
	f->tenant = tenant;
	f->producer = (uint16_t)producer;
}

bool
sl_feed_room(struct sl_runtime *rt, const struct sl_backlog *bl, size_t n)
{
	/* A batch holds batch_lines lines or SL_BATCH_DATA bytes, whichever comes
	 * first; n bytes make at most n + 1 lines. (batch_lines >= 8 keeps a full
	 * frame of tiny lines within the backlog.) */
	unsigned need = (unsigned)((n + 1) / rt->cfg->batch_lines) + 2;

	/* the batches other streams are filling will land in the backlog too
	 * (at the end of the burst at the latest): count them as taken */
	if (bl->count + bl->open + need + 1 > SL_BACKLOG_MAX)
		return false;
	/* The batch pool has no per-lcore caches (runtime.c), so this counts only
	 * batches a producer can really get. */
	return rte_mempool_avail_count(rt->batch_pool) >= need + SL_FEED_RESERVE;
}

static void
backlog_push(struct sl_backlog *bl, struct sl_line_batch *b)
{
	/* sl_feed_room() guaranteed space; the check keeps a bug from corrupting memory. */
	RTE_VERIFY(bl->count < SL_BACKLOG_MAX);
	bl->b[(bl->head + bl->count) % SL_BACKLOG_MAX] = b;
	bl->count++;
}

static struct sl_line_batch *
batch_new(struct sl_feed *f)
{
	void *obj;
	struct sl_line_batch *b;

	/*
	 * sl_feed_room() said a batch is reachable; should another producer have
	 * taken it meanwhile, wait for a worker to free one rather than lose a
	 * line (workers never wait on producers, so this ends).
	 */
	while (rte_mempool_get(f->rt->batch_pool, &obj) != 0) {
		f->starved++;
		/* keep the backlog moving: the batches workers need to finish may be in it */
		sl_backlog_dispatch(f->rt, f->producer, f->backlog);
		rte_pause();
	}
	b = obj;
	f->backlog->open++;
	b->doc = f->doc;
	b->doc_gen = f->doc_gen;
	b->tenant = f->tenant;
	b->producer = f->producer;
	b->n_lines = 0;
	b->data_used = 0;
	b->first_line = f->lines + 1;
	b->end_offset = 0;
	b->end_crc = 0;
	return b;
}

static void
batch_close(struct sl_feed *f)
{
	if (f->cur == NULL)
		return;
	f->backlog->open--;
	if (f->cur->n_lines == 0) {
		rte_mempool_put(f->rt->batch_pool, f->cur);
	} else {
		f->tstats[f->tenant].lines_in += f->cur->n_lines;
		backlog_push(f->backlog, f->cur);
	}
	f->cur = NULL;
}

/* Splitter callback: one complete line. */
static void
on_line(void *ctx, const char *line, uint32_t len, uint32_t flags)
{
	struct sl_feed *f = ctx;
	struct sl_line_batch *b = f->cur;

	if (b != NULL && (b->n_lines >= f->rt->cfg->batch_lines || b->data_used + len > SL_BATCH_DATA)) {
		batch_close(f);
		b = NULL;
	}
	if (b == NULL) {
		b = f->cur = batch_new(f);
		if (b == NULL)
			return; /* cannot happen after sl_feed_room(); counted in starved */
	}
	b->line[b->n_lines].off = b->data_used;
	b->line[b->n_lines].len = len;
	b->line[b->n_lines].flags = flags;
	memcpy(b->data + b->data_used, line, len);
	b->data_used += len;
	b->n_lines++;
	f->lines++;

	/* The CRC32C of the document up to this line's end: a resume point for the batch. */
	uint64_t e = f->split.line_end;
	if (e > f->crc_pos) {
		f->crc = slp_crc32c(f->crc, f->chunk + (f->crc_pos - f->chunk_off), (size_t)(e - f->crc_pos));
		f->crc_pos = e;
	}
	b->end_offset = e;
	b->end_crc = f->crc;
}

void
sl_feed_bytes(struct sl_feed *f, const void *p, size_t n)
{
	f->chunk = p;
	f->chunk_off = f->split.pos;
	f->bytes += n;
	sl_split_feed(&f->split, p, n, on_line, f);
	/* the rest of the chunk (a line not finished yet) */
	f->crc = slp_crc32c(f->crc, f->chunk + (f->crc_pos - f->chunk_off),
			    (size_t)(f->chunk_off + n - f->crc_pos));
	f->crc_pos = f->chunk_off + n;
	f->chunk = NULL;
}

void
sl_feed_resume(struct sl_feed *f, uint64_t offset, uint64_t lines, uint32_t crc)
{
	sl_split_resume(&f->split, offset, lines);
	f->lines = lines;
	f->crc = crc;
	f->crc_pos = offset;
}

void
sl_feed_flush(struct sl_feed *f)
{
	batch_close(f);
}

uint64_t
sl_feed_finish(struct sl_feed *f)
{
	sl_split_finish(&f->split, on_line, f);
	batch_close(f);
	return f->lines;
}

unsigned
sl_backlog_dispatch(struct sl_runtime *rt, unsigned producer, struct sl_backlog *bl)
{
	while (bl->count > 0) {
		/* Hand over the contiguous run from head (the backlog wraps). */
		unsigned run = RTE_MIN(bl->count, SL_BACKLOG_MAX - bl->head);
		unsigned sent = sl_dispatch_burst(rt, producer, &bl->b[bl->head], run);

		bl->head = (bl->head + sent) % SL_BACKLOG_MAX;
		bl->count -= sent;
		if (sent < run)
			break;
	}
	return bl->count;
}

void
sl_backlog_drop(struct sl_runtime *rt, struct sl_backlog *bl)
{
	while (bl->count > 0) {
		rte_mempool_put(rt->batch_pool, bl->b[bl->head]);
		bl->head = (bl->head + 1) % SL_BACKLOG_MAX;
		bl->count--;
	}
}
