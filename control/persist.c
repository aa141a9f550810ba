/*
 * persist.c — the io_uring writer: results become JSON lines in the
 * files of their document (persist_files.h), in line order, durable in
 * the journal (journal.h) before they are acknowledged.
 *
 * One thread ("sl-persist") owns the ring, the journal and every result
 * file. Its loop, in rounds:
 *
 *   1. drain END messages (to_persist): a document's line count is known;
 *   2. dequeue result batches from the workers' rings, up to the adaptive
 *      batch limit;
 *   3. put them in line order: per document we know the next line to
 *      write. A batch starting there is queued for writing, followed by
 *      any held batches that now follow on; a batch that arrived early
 *      (another worker still has the lines before it) is held, sorted by
 *      first line, until they come;
 *   4. format each document's queued lines into one region per file
 *      (results, each processor stream, dead-letter) of a staging buffer;
 *      a document complete with this round gets its summary line last;
 *   5. build the round's journal record: per document its counts and
 *      resume point after the round, and every region with its file and
 *      offset; submit the file writes and the journal append together
 *      ("ack = processed" tenants get their batches now);
 *   6. when all are complete, one IORING_FSYNC_DATASYNC of the journal
 *      segment: the round is durable;
 *   7. hand the other batches over, publish each document's durable input
 *      offset (SLP STATUS reports it), and send the summaries.
 *
 * Result files are not synced per round: the journal holds their bytes.
 * Past [storage] journal_segment_mb a checkpoint syncs them all (one
 * fdatasync per file written since the last one, in parallel),
 * starts a new segment with the state of every unfinished document, and
 * deletes the older segments. At start, recover.c has replayed whatever
 * segments a crash left.
 *
 * Batches reach rt->acks in line order per document, whatever order the
 * workers finished in.
 *
 * A failing sink (ENOSPC, EIO) never loses or acknowledges anything: the
 * round is retried with a growing back-off until it succeeds, and the
 * workers, whose result rings fill up meanwhile, feel the pressure.
 *
 * Result batches are not freed here: they pass to rt->acks and the
 * websocket thread returns them to their pool. Held batches are pool
 * objects, or, when the pool runs low (and always for the large pool's),
 * heap copies of what they hold; the copies are bounded by [storage]
 * held_max_mb: past it, the document holding the most stops waiting for
 * its missing lines (give_up: they are ACKed as errors, it fails).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <rte_cycles.h>
#include <rte_debug.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane/batch.h"
#include "dataplane/doc.h"
#include "dataplane/msg.h"
#include "dataplane/processor.h"
#include "dataplane/runtime.h"
#include "backoff.h"
#include "dirs.h"
#include "journal_writer.h"
#include "persist.h"
#include "persist_files.h"
#include "recover.h"

#define PERSIST_QUEUE_DEPTH 256u          /* io_uring entries; also our in-flight cap */
#define PERSIST_DEFAULT_RECORDS 1024u      /* if the config left batch_records at 0 */
#define PERSIST_MSG_BURST 32u
#define PERSIST_RESULT_BURST 32u           /* batches per worker per dequeue: keep it fair */
#define REASON_TEXT_MAX 512u               /* bytes of reason text kept in a results line */
#define RESULT_LINE_MAX (256u + 6u * SL_NAME_MAX + 6u * REASON_TEXT_MAX)  /* one results line, at most */
#define STAGE_MIN (1u << 20)
#define DIR_PATH_MAX (SL_PATH_MAX + 2 * SL_NAME_MAX + 8)
#define FILE_PATH_MAX (DIR_PATH_MAX + 64)

#define IDLE_SPINS 64u
#define IDLE_SLEEP_MIN_NS 10000ull          /* 10 us */
#define IDLE_SLEEP_MAX_NS 1000000ull        /* 1 ms */
#define ERR_BACKOFF_MIN_NS 1000000ull       /* 1 ms */
#define ERR_BACKOFF_MAX_NS 1000000000ull    /* 1 s */
#define FULL_RETRY_NS 100000ull             /* acks ring full or pool empty: 100 us */
#define JOURNAL_OP UINT32_MAX               /* io_op.slot of the journal's own write */
#define PERSIST_CLOSING_MAX 1024u           /* finished documents' files kept open before a checkpoint is forced */
#define SUMMARY_LINE_MAX (256u + SLP_REASON_MAX)

enum slot_phase {
	SLOT_FREE = 0,       /* never used since start */
	SLOT_ACTIVE,         /* a document is being persisted */
	SLOT_FINISHED,       /* its summary went out; waiting for a new generation */
};

/* What we know about the document in one slot. Private to this thread. */
struct doc_slot {
	uint32_t gen;
	uint8_t phase;           /* enum slot_phase */
	bool ended;              /* END seen: total is known */
	struct sl_doc_files files;
	uint64_t next_line;      /* the next line to write: lines before it are written or queued */
	uint64_t persisted, ok, errors;     /* durable lines */
	uint64_t total;          /* lines in the document (END) */
	uint32_t fail_code;      /* slp_code from END */
	bool finishing;          /* ended and all durable: its summary goes out with the next round */
	bool has_pos;            /* end_offset/end_crc valid */
	uint64_t end_offset;     /* input offset the durable lines end at: where a sender resumes */
	uint32_t end_crc;        /* CRC32C of the input before it */

	/* batches that arrived early, sorted by first_line, through persist.held[] */
	int32_t held_head, held_tail;
	uint32_t n_held;
	uint64_t held_bytes;     /* of them, heap copies: bytes (bounded by [storage] held_max_mb) */
	bool gave_up;            /* the wait for missing lines was given up (held_max_mb): see give_up() */

	/* the current round only (valid when round == persist.round) */
	uint64_t round;
	int32_t first, last;     /* batches queued for writing, in line order, through persist.wnext */
	uint64_t r_records, r_ok, r_errors;
	bool r_finish;           /* this round writes its summary */
	bool r_has_pos;
	uint64_t r_end_offset;
	uint32_t r_end_crc;
};

/* An early batch waiting for the lines before it. */
struct held_batch {
	struct sl_result_batch *b;
	int32_t prev, next;      /* in its slot's list; next also chains the free list */
};

enum op_kind { OP_WRITE = 0, OP_FSYNC = 1 };
enum op_state { OP_IDLE = 0, OP_PENDING, OP_INFLIGHT, OP_DONE, OP_FAILED };

/* One write (a file's region of the staging buffer) or one fsync. */
struct io_op {
	uint8_t kind;
	uint8_t state;
	uint8_t file;            /* SL_DF_* */
	uint8_t fixed;           /* the journal's: fd is registered file 0, buf lies in registered buffer 0 */
	int fd;
	uint32_t slot;
	int err;                 /* positive errno when FAILED */
	size_t boff;             /* region in the staging buffer */
	const char *buf;
	uint32_t len, done;
	uint64_t off;
};

struct persist {
	struct sl_runtime *rt;
	struct io_uring ring;
	pthread_t thread;
	bool started;
	uint64_t fault_rng;                  /* tests' fault injection (inject_fault) */

	uint32_t batch_records;              /* the upper bound ([storage] batch_records) */
	uint32_t batch_limit;                /* adaptive: records per round now */
	uint64_t sync_floor_ns;              /* the fastest recent round: what the device's sync costs */
	struct doc_slot *slots;              /* [SL_MAX_DOCS] */
	uint64_t round;

	/* early batches: at most every batch of the pool, and heap copies up to held_max bytes */
	struct held_batch *held;             /* [cap_held] */
	uint32_t cap_held;
	int32_t held_free;
	uint64_t held_bytes, held_max;       /* heap copies held now; [storage] held_max_mb */

	/* dequeued this round */
	struct sl_result_batch **rb;         /* [cap_rb] */
	uint32_t n_rb, cap_rb;

	/* queued for writing this round, chained per document in line order */
	struct sl_result_batch **wv;         /* [cap_wv]; NULL once handed over or dropped */
	int32_t *wnext;                      /* [cap_wv] */
	uint8_t *ack_now;                    /* [cap_wv] tenant acks on submit */
	struct sl_result_batch **ackv;       /* [cap_wv] scratch for enqueue */
	uint32_t n_wv, cap_wv;
	uint32_t *touched;                   /* [cap_wv] slots with batches queued this round */
	uint32_t n_touched;
	uint64_t r_lines;                    /* lines queued this round */

	/* one write per (document, file) with bytes this round, then the journal's write; one sync */
	struct io_op *wops;                  /* [cap_ops + 1] */
	struct io_op jsync;
	uint32_t n_ops, cap_ops;
	struct sl_jwriter jw;
	bool jfile_registered, jbuf_warned;
	int jfd_registered;                  /* the segment fd registered as file 0, or -1 */
	uint8_t *jbuf_registered;            /* the journal buffer as registered (it moves when it grows) */
	size_t jbuf_cap;
	struct sl_recovery *rec;
	uint64_t segment_bytes;
	uint32_t *finish_q;                  /* [SL_MAX_DOCS] ended documents whose summary is due */
	uint32_t n_finish;
	int *closing;                        /* files of finished documents, to sync and close at the checkpoint */
	uint32_t n_closing, cap_closing;
	bool ckpt_broken;                    /* a result file failed to sync: keep every segment until a restart */
	char *stage;
	size_t stage_cap, stage_used;
	uint32_t inflight;
	unsigned rr;                         /* worker to dequeue from first */
	uint64_t stray, stray_logged_ns;     /* records no file takes, not reported yet */

	struct sl_msg msgs[PERSIST_MSG_BURST];

	unsigned idle_spins;
	uint64_t idle_ns;
};

/* One writer per process: persist.h has no handle, so the state lives here. */
static struct persist g_persist;

static void journal_register(struct persist *p);

/* ---- small helpers --------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *
tenant_name(const struct sl_runtime *rt, uint16_t tenant)
{
	return tenant < rt->cfg->n_tenants ? rt->cfg->tenants[tenant].name : "?";
}

static const char *
doc_name(const struct persist *p, uint32_t idx)
{
	return p->rt->docs->docs[idx].name;
}

/* The processor of a slot's tenant (names its streams), or NULL. */
static const struct sl_processor *
doc_proc(const struct persist *p, uint32_t idx)
{
	uint16_t t = p->rt->docs->docs[idx].tenant;

	return t < SL_MAX_TENANTS ? p->rt->procs[t] : NULL;
}

/* <data>/<tenant>/<doc> of a slot; -1 if it does not fit. */
static int
doc_dir(const struct persist *p, uint32_t idx, char *out, size_t cap)
{
	const struct sl_doc *d = &p->rt->docs->docs[idx];
	int n = snprintf(out, cap, "%s/%s/%s", p->rt->cfg->data_dir, tenant_name(p->rt, d->tenant),
			 d->name);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* <data>/<tenant>/<doc>/<revision>.<suffix> of file k of a slot, for messages. */
static void
doc_file_name(const struct persist *p, uint32_t idx, unsigned k, char *out, size_t cap)
{
	char dir[DIR_PATH_MAX];
	const char *suffix = sl_doc_file_suffix(doc_proc(p, idx), k);

	if (doc_dir(p, idx, dir, sizeof(dir)) < 0 ||
	    sl_doc_file_path(out, cap, dir, p->rt->docs->docs[idx].revision,
			     suffix ? suffix : "?") < 0)
		snprintf(out, cap, "(document slot %u, file %u)", idx, k);
}

/* Wait ns after a storage (or memory) error, and say the sink is unhealthy meanwhile. */
static void
unhealthy_wait(struct persist *p, uint64_t ns)
{
	struct sl_persist_stats *st = &p->rt->persist_stats;

	if (!st->unhealthy) {
		/* the sink just went bad: operators see it in sluicectl status and /metrics */
		__atomic_store_n(&st->unhealthy_since_ns, now_ns(), __ATOMIC_RELAXED);
		__atomic_store_n(&st->unhealthy, 1, __ATOMIC_RELEASE);
		st->unhealthy_episodes++;
	}
	st->retries++;
	sleep_ns(ns);
}

/* Back-off after a storage error: 1 ms, doubling, at most 1 s (the caller keeps delay across its retries). */
static void
error_backoff(struct persist *p, uint64_t *delay)
{
	unhealthy_wait(p, sl_backoff_next(delay, ERR_BACKOFF_MAX_NS));
}

/* What a failed allocation waits with (sl_alloc_retry): a message, then the back-off. */
struct oom_wait {
	struct persist *p;
	const char *what;
};

static void
oom_wait(void *ctx, uint64_t ns)
{
	const struct oom_wait *w = ctx;

	fprintf(stderr, "sluice: persist: out of memory for %s; retrying in %" PRIu64 " ms\n", w->what,
		ns / 1000000u);
	unhealthy_wait(w->p, ns);
}

/* calloc that waits with a growing back-off until there is memory: persistence drops nothing. */
static void *
calloc_retry(struct persist *p, size_t n, size_t size, const char *what)
{
	struct oom_wait w = { p, what };

	return sl_alloc_retry(calloc, n ? n : 1, size, oom_wait, &w, ERR_BACKOFF_MIN_NS, ERR_BACKOFF_MAX_NS);
}

/* ---- handing batches to the websocket thread ----------------------- */

/* Enqueue in order; when the ring is full, wait (back-pressure, never drop). */
static void
acks_push(struct persist *p, struct sl_result_batch **v, unsigned n)
{
	struct sl_runtime *rt = p->rt;
	unsigned sent = 0;

	if (n == 0)
		return;
	while (sent < n) {
		sent += rte_ring_sp_enqueue_burst(rt->acks, (void *const *)(v + sent), n - sent, NULL);
		if (sent < n) {
			if (rt->wake_ws)
				rt->wake_ws();     /* let it drain what is there */
			sleep_ns(FULL_RETRY_NS);
		}
	}
	if (rt->wake_ws)
		rt->wake_ws();
}

/*
 * Hand over this round's batches whose tenant policy is (or is not)
 * ack-on-submit: document by document, each in line order.
 */
static void
acks_push_round(struct persist *p, bool on_submit)
{
	unsigned n = 0;

	for (uint32_t t = 0; t < p->n_touched; t++) {
		const struct doc_slot *s = &p->slots[p->touched[t]];

		if (s->round != p->round)
			continue;          /* finished and reset meanwhile: nothing left of it */
		for (int32_t j = s->first; j >= 0; j = p->wnext[j]) {
			if (p->wv[j] == NULL || (p->ack_now[j] != 0) != on_submit)
				continue;
			p->ackv[n++] = p->wv[j];
			p->wv[j] = NULL;   /* no longer ours */
		}
	}
	acks_push(p, p->ackv, n);
}

/* ---- early batches, per document ------------------------------------ */

/* Double the held table (its entries are indexes, so nothing moves for the lists). */
static void
held_grow(struct persist *p)
{
	uint64_t delay = ERR_BACKOFF_MIN_NS;
	uint32_t cap = p->cap_held ? p->cap_held * 2 : 64;
	struct held_batch *v;

	while ((v = realloc(p->held, cap * sizeof(*v))) == NULL) {
		fprintf(stderr, "sluice: persist: out of memory for %u held batches; retrying\n", cap);
		error_backoff(p, &delay);
	}
	for (uint32_t i = p->cap_held; i < cap; i++) {
		v[i].b = NULL;
		v[i].prev = -1;
		v[i].next = i + 1 < cap ? (int32_t)(i + 1) : -1;
	}
	p->held = v;
	p->held_free = (int32_t)p->cap_held;
	p->cap_held = cap;
}

/* Room for one more queued batch this round (held heap copies can outnumber the pool). */
static void
wv_reserve(struct persist *p)
{
	uint64_t delay = ERR_BACKOFF_MIN_NS;

	while (p->n_wv == p->cap_wv) {
		uint32_t cap = p->cap_wv ? p->cap_wv * 2 : 64;
		struct sl_result_batch **wv = realloc(p->wv, cap * sizeof(*wv));
		if (wv != NULL)
			p->wv = wv;
		int32_t *wn = wv ? realloc(p->wnext, cap * sizeof(*wn)) : NULL;
		if (wn != NULL)
			p->wnext = wn;
		uint8_t *an = wn ? realloc(p->ack_now, cap * sizeof(*an)) : NULL;
		if (an != NULL)
			p->ack_now = an;
		struct sl_result_batch **av = an ? realloc(p->ackv, cap * sizeof(*av)) : NULL;
		if (av != NULL)
			p->ackv = av;
		uint32_t *tv = av ? realloc(p->touched, (cap + SL_MAX_DOCS) * sizeof(*tv)) : NULL;
		if (tv != NULL) {
			p->touched = tv;
			p->cap_wv = cap;
			return;
		}
		fprintf(stderr, "sluice: persist: out of memory for %u queued batches; retrying\n", cap);
		error_backoff(p, &delay);
	}
}

static void give_up(struct persist *p, uint32_t idx, struct sl_result_batch *extra);

/* What a heap batch (a held copy, or a made-up one) takes of held_max_mb. */
static size_t
heap_size(const struct sl_result_batch *b)
{
	return sl_result_batch_size(b->data_cap);
}

/* The document whose heap copies are the most, counting `more` bytes for slot idx. */
static uint32_t
largest_holder(const struct persist *p, uint32_t idx, size_t more)
{
	uint32_t best = idx;
	uint64_t most = p->slots[idx].held_bytes + more;

	for (uint32_t i = 0; i < SL_MAX_DOCS; i++)
		if (p->slots[i].held_bytes > most) {
			most = p->slots[i].held_bytes;
			best = i;
		}
	return best;
}

/*
 * Hold b until the lines before it are written. bounded: heap copies count
 * against held_max_mb, and past it the document holding the most gives up
 * its wait (which may be this one: then b is written at once).
 */
static void
held_insert(struct persist *p, struct doc_slot *s, uint32_t idx, struct sl_result_batch *b, bool bounded)
{
	/* pool objects or heap copies (below): there can be more than the pool holds */
	if (p->held_free < 0)
		held_grow(p);

	/* usually the newest goes last: walk back from the tail */
	int32_t after = s->held_tail;
	while (after >= 0 && p->held[after].b->first_line > b->first_line)
		after = p->held[after].prev;
	if (after >= 0 && p->held[after].b->first_line == b->first_line) {
		fprintf(stderr, "sluice: persist: %s/%s: a second result batch for line %" PRIu64
			": dropped (a worker sent it twice)\n", tenant_name(p->rt, b->tenant),
			doc_name(p, idx), b->first_line);
		sl_result_batch_free(p->rt->result_pool, b);
		return;
	}
	/*
	 * While it waits, an early batch must not hold a pool object: the
	 * lines before it may be at a worker that needs one to finish them,
	 * and with the pool drained by early batches nothing would move. Under
	 * pressure, keep a heap copy (of the records it has, not of its whole
	 * data area) and give the object back. The large pool is small: its
	 * objects are never kept waiting.
	 */
	bool large = !b->heap && rte_mempool_from_obj(b) != p->rt->result_pool;
	if (!b->heap && (large || rte_mempool_avail_count(p->rt->result_pool) < p->rt->result_pool->size / 4)) {
		uint32_t used = RTE_MIN(b->data_used, b->data_cap);
		size_t size = sl_result_batch_size(used);
		struct sl_result_batch *copy = malloc(size);

		if (copy != NULL) {
			memcpy(copy, b, size);
			copy->heap = 1;
			copy->data_cap = used;
			sl_result_batch_free(p->rt->result_pool, b);
			b = copy;
			p->rt->persist_stats.held_copies++;
		}
	}
	if (b->heap) {
		size_t size = heap_size(b);

		while (bounded && p->held_bytes + size > p->held_max) {
			uint32_t v = largest_holder(p, idx, size);

			if (v == idx) {
				give_up(p, idx, b);     /* b is queued for writing */
				return;
			}
			give_up(p, v, NULL);
		}
		s->held_bytes += size;
		p->held_bytes += size;
		p->rt->persist_stats.held_bytes = p->held_bytes;
	}
	int32_t h = p->held_free;
	p->held_free = p->held[h].next;
	p->held[h].b = b;
	p->held[h].prev = after;
	p->held[h].next = after >= 0 ? p->held[after].next : s->held_head;
	if (p->held[h].next >= 0)
		p->held[p->held[h].next].prev = h;
	else
		s->held_tail = h;
	if (after >= 0)
		p->held[after].next = h;
	else
		s->held_head = h;
	s->n_held++;
}

static struct sl_result_batch *
held_pop(struct persist *p, struct doc_slot *s)
{
	int32_t h = s->held_head;
	struct sl_result_batch *b = p->held[h].b;

	s->held_head = p->held[h].next;
	if (s->held_head >= 0)
		p->held[s->held_head].prev = -1;
	else
		s->held_tail = -1;
	s->n_held--;
	p->held[h].b = NULL;
	p->held[h].next = p->held_free;
	p->held_free = h;
	if (b->heap) {
		size_t size = heap_size(b);

		s->held_bytes -= RTE_MIN(s->held_bytes, size);
		p->held_bytes -= RTE_MIN(p->held_bytes, size);
		p->rt->persist_stats.held_bytes = p->held_bytes;
	}
	return b;
}

/* Give back every held batch of a slot (its document is gone); says so if there were any. */
static void
held_drop_all(struct persist *p, struct doc_slot *s, uint32_t idx, const char *why)
{
	if (s->n_held == 0)
		return;
	fprintf(stderr, "sluice: persist: %s/%s: %u result batches from line %" PRIu64 " on were "
		"waiting for line %" PRIu64 ", %s: not written\n",
		tenant_name(p->rt, p->rt->docs->docs[idx].tenant), doc_name(p, idx), s->n_held,
		p->held[s->held_head].b->first_line, s->next_line, why);
	while (s->held_head >= 0)
		sl_result_batch_free(p->rt->result_pool, held_pop(p, s));
}

/* ---- per-document state --------------------------------------------- */

/* A fresh state (files already closed, nothing held). */
static void
slot_clear(struct doc_slot *s, uint32_t gen, uint8_t phase)
{
	memset(s, 0, sizeof(*s));
	sl_doc_files_init(&s->files);
	s->gen = gen;
	s->phase = phase;
	s->next_line = 1;
	s->held_head = s->held_tail = -1;
	s->first = s->last = -1;
}

/* Give back the batches of a slot's chain in this round (their document is gone). */
static void
drop_chain(struct persist *p, struct doc_slot *s)
{
	for (int32_t j = s->first; j >= 0; j = p->wnext[j]) {
		if (p->wv[j] != NULL)
			sl_result_batch_free(p->rt->result_pool, p->wv[j]);
		p->wv[j] = NULL;
	}
	s->first = s->last = -1;
}

/* Open file k of a slot; retry (with back-off) until it is. */
static void
open_file(struct persist *p, uint32_t idx, unsigned k)
{
	struct doc_slot *s = &p->slots[idx];
	uint64_t delay = ERR_BACKOFF_MIN_NS;

	while (s->files.fd[k] < 0) {
		char dir[DIR_PATH_MAX];
		const char *suffix = sl_doc_file_suffix(doc_proc(p, idx), k);

		if (suffix == NULL)
			return;
		if (doc_dir(p, idx, dir, sizeof(dir)) < 0)
			fprintf(stderr, "sluice: persist: the directory of document slot %u is "
				"longer than %d bytes; use a shorter [storage] data_dir\n", idx,
				DIR_PATH_MAX - 1);
		else if (sl_doc_files_open(&s->files, k, dir, p->rt->docs->docs[idx].revision, suffix) == 0)
			break;
		p->rt->persist_stats.write_errors++;
		error_backoff(p, &delay);
	}
}

/*
 * A document resumed after a restart starts where the journal left it:
 * its counts, its resume point, and its files open at their lengths (so
 * that a checkpoint knows them even before anything new is written).
 */
static void
slot_resume(struct persist *p, struct doc_slot *s, uint32_t idx)
{
	const struct sl_doc *d = &p->rt->docs->docs[idx];
	struct sl_resume_state st;

	if (d->resume_lines == 0 && d->resume_offset == 0)
		return;
	s->next_line = d->resume_lines + 1;
	s->persisted = d->resume_lines;
	s->ok = d->resume_ok;
	s->errors = d->resume_errors;
	s->end_offset = d->resume_offset;
	s->end_crc = d->resume_crc;
	s->has_pos = true;
	if (!sl_recovery_find(p->rec, tenant_name(p->rt, d->tenant), d->name, d->revision, &st))
		return;
	for (unsigned i = 0; i < st.n_files; i++)
		for (unsigned k = 0; k < SL_DF_COUNT; k++) {
			const char *suffix = sl_doc_file_suffix(doc_proc(p, idx), k);
			if (suffix != NULL && strcmp(suffix, st.file[i].suffix) == 0)
				open_file(p, idx, k);
		}
}

/*
 * The state for (slot, gen). A newer generation means a new document in
 * the slot: start afresh. An older one, or the same one after its
 * summary, is stale: NULL.
 */
static struct doc_slot *
slot_get(struct persist *p, uint32_t idx, uint32_t gen)
{
	struct doc_slot *s = &p->slots[idx];

	if (s->phase == SLOT_ACTIVE && gen == s->gen)
		return s;
	if (s->phase == SLOT_FREE || (int32_t)(gen - s->gen) > 0) {
		if (s->phase == SLOT_ACTIVE) {
			fprintf(stderr, "sluice: persist: document slot %u reused (generation %" PRIu32
				" -> %" PRIu32 ") before its document ended; its unpersisted results "
				"are dropped\n", idx, s->gen, gen);
			bool in_round = s->round == p->round;
			if (in_round)
				drop_chain(p, s);
			held_drop_all(p, s, idx, "its slot was reused");
			sl_doc_files_close(&s->files);
			slot_clear(s, gen, SLOT_ACTIVE);
			slot_resume(p, s, idx);
			if (in_round)
				s->round = p->round;   /* already in the touched list */
			return s;
		}
		sl_doc_files_close(&s->files);
		slot_clear(s, gen, SLOT_ACTIVE);
		slot_resume(p, s, idx);
		return s;
	}
	return NULL;
}

/* Keep a finished document's file open until the next checkpoint has synced it. */
static void
closing_add(struct persist *p, int fd)
{
	if (p->n_closing == p->cap_closing) {
		uint32_t cap = p->cap_closing ? 2 * p->cap_closing : 256;
		int *v = realloc(p->closing, cap * sizeof(*v));
		if (v == NULL) {
			/* cannot remember it: sync it now rather than lose track of it */
			if (fdatasync(fd) != 0)
				fprintf(stderr, "sluice: persist: fdatasync of a finished result file: %s\n",
					strerror(errno));
			close(fd);
			return;
		}
		p->closing = v;
		p->cap_closing = cap;
	}
	p->closing[p->n_closing++] = fd;
}

/* If the document has ended and every line is durable: its summary goes out with the next round. */
static void
slot_maybe_finish(struct persist *p, uint32_t idx)
{
	struct doc_slot *s = &p->slots[idx];

	/* persisted == next_line - 1 between rounds: everything up to total is durable */
	if (s->phase != SLOT_ACTIVE || !s->ended || s->persisted < s->total || s->finishing)
		return;
	s->finishing = true;
	p->finish_q[p->n_finish++] = idx;
}

/* The summary line is durable (journal): close the files and send the summary batch. */
static void
finish_slot(struct persist *p, uint32_t idx)
{
	struct sl_runtime *rt = p->rt;
	struct doc_slot *s = &p->slots[idx];
	const struct sl_doc *d = &rt->docs->docs[idx];
	void *obj = NULL;

	if (s->persisted > s->total)
		fprintf(stderr, "sluice: persist: document slot %u: %" PRIu64 " results for %" PRIu64
			" lines\n", idx, s->persisted, s->total);
	held_drop_all(p, s, idx, "but the document ended before them");
	/* not synced yet: the journal holds the bytes; the next checkpoint syncs and closes them */
	for (unsigned k = 0; k < SL_DF_COUNT; k++)
		if (s->files.fd[k] >= 0) {
			closing_add(p, s->files.fd[k]);
			s->files.fd[k] = -1;
		}
	sl_doc_files_close(&s->files);
	sl_recovery_forget(p->rec, tenant_name(rt, d->tenant), d->name);

	while (rte_mempool_get(rt->result_pool, &obj) != 0) {
		if (rt->wake_ws)
			rt->wake_ws();     /* batches come back as it sends them */
		sleep_ns(FULL_RETRY_NS);
	}
	struct sl_result_batch *sum = obj;
	memset(sum, 0, offsetof(struct sl_result_batch, r));
	sum->kind = SL_RB_SUMMARY;
	sum->heap = 0;
	sum->doc = idx;
	sum->doc_gen = s->gen;
	sum->tenant = d->tenant;
	sum->n = 0;
	sum->n_recs = 0;
	sum->first_line = s->total + 1;
	sum->lines = s->total;
	sum->ok = s->ok;
	sum->errors = s->errors;
	sum->fail_code = s->fail_code;
	acks_push(p, &sum, 1);

	rt->persist_stats.docs_completed++;
	bool gave_up = s->gave_up;
	slot_clear(s, s->gen, SLOT_FINISHED);
	s->gave_up = gave_up;   /* a given-up line's late result is then expected, not a bug */
}

/* ---- putting batches in line order ---------------------------------- */

/*
 * Make a batch safe to read and self-consistent: n within r[], records
 * within rec[], r[i].line == first_line + i (the contract). false: it
 * holds no line and was given back.
 */
static bool
batch_check(struct persist *p, struct sl_result_batch *b)
{
	if (b->n > SL_BATCH_LINES)
		b->n = SL_BATCH_LINES;           /* never read past r[] */
	if (b->n_recs > SL_RESULT_RECS)
		b->n_recs = SL_RESULT_RECS;
	if (b->n == 0) {
		sl_result_batch_free(p->rt->result_pool, b);
		return false;
	}
	if (b->first_line == 0)
		b->first_line = b->r[0].line;    /* a worker that did not set it: trust r[0] */
	unsigned bad = 0, bad_recs = 0;
	for (uint16_t i = 0; i < b->n; i++) {
		struct sl_result *r = &b->r[i];

		if (r->line != b->first_line + i) {
			r->line = b->first_line + i;
			bad++;
		}
		/* sl_result_reason_rec() and the formatters index rec[] with these */
		if ((uint32_t)r->rec_first + r->n_recs > b->n_recs) {
			r->n_recs = 0;
			bad_recs++;
		}
	}
	if (bad > 0)
		fprintf(stderr, "sluice: persist: result batch for document slot %u from line %" PRIu64
			": %u results did not carry line first_line + i; renumbered\n", b->doc,
			b->first_line, bad);
	if (bad_recs > 0)
		fprintf(stderr, "sluice: persist: result batch for document slot %u from line %" PRIu64
			": %u results name records past the batch's %u; their records are ignored\n",
			b->doc, b->first_line, bad_recs, b->n_recs);
	return true;
}

/*
 * Drop the lines of b that were already written (a batch sent twice, or
 * overlapping). false: nothing was left and b was given back.
 */
static bool
trim_written(struct persist *p, struct doc_slot *s, uint32_t idx, struct sl_result_batch *b)
{
	if (b->first_line >= s->next_line)
		return true;
	uint64_t dup = s->next_line - b->first_line;
	if (s->gave_up)
		/* expected: the lines were written as no_result when the wait for them was given up */
		p->rt->persist_stats.late_results += dup < b->n ? dup : b->n;
	else
		fprintf(stderr, "sluice: persist: %s/%s: results for lines %" PRIu64 "..%" PRIu64 " arrived "
			"again after they were written: duplicates dropped\n", tenant_name(p->rt, b->tenant),
			doc_name(p, idx), b->first_line,
			b->first_line + (dup < b->n ? dup : b->n) - 1);
	if (dup >= b->n) {
		sl_result_batch_free(p->rt->result_pool, b);
		return false;
	}
	/* records stay where they are: each result names its own through rec_first */
	memmove(&b->r[0], &b->r[dup], (size_t)(b->n - dup) * sizeof(b->r[0]));
	b->n = (uint16_t)(b->n - dup);
	b->first_line = s->next_line;
	return true;
}

/* Put a slot in this round's touched list (once). */
static void
touch_slot(struct persist *p, struct doc_slot *s, uint32_t idx)
{
	if (s->round == p->round)
		return;
	p->touched[p->n_touched++] = idx;
	s->round = p->round;
	s->first = s->last = -1;
	s->r_records = s->r_ok = s->r_errors = 0;
	s->r_finish = false;
	s->r_has_pos = false;
}

/* Queue b (which starts at next_line) for writing in this round. */
static void
queue_write(struct persist *p, struct doc_slot *s, uint32_t idx, struct sl_result_batch *b)
{
	const struct sl_config *cfg = p->rt->cfg;
	wv_reserve(p);
	int32_t i = (int32_t)p->n_wv++;

	p->wv[i] = b;
	p->wnext[i] = -1;
	p->ack_now[i] = b->tenant < cfg->n_tenants && cfg->tenants[b->tenant].ack == SL_ACK_PROCESSED;
	touch_slot(p, s, idx);
	if (s->first < 0)
		s->first = i;
	else
		p->wnext[s->last] = i;
	s->last = i;
	s->next_line += b->n;
	p->r_lines += b->n;
}

/* Take a dequeued batch: write it now if its lines are next, else hold it. */
static void
accept_batch(struct persist *p, struct sl_result_batch *b)
{
	struct doc_slot *s = NULL;
	uint32_t idx = b->doc;

	if (idx < SL_MAX_DOCS)
		s = slot_get(p, idx, b->doc_gen);
	if (!s) {
		if (idx < SL_MAX_DOCS && p->slots[idx].phase == SLOT_FINISHED && p->slots[idx].gen == b->doc_gen &&
		    p->slots[idx].gave_up)
			/* a line given up on came after all (its timeout, say): it was ACKed as no_result */
			p->rt->persist_stats.late_results += b->n < SL_BATCH_LINES ? b->n : SL_BATCH_LINES;
		else
			fprintf(stderr, "sluice: persist: results for document slot %" PRIu32 " generation %"
				PRIu32 " which is not open (stale or invalid): dropped\n", b->doc, b->doc_gen);
		sl_result_batch_free(p->rt->result_pool, b);
		return;
	}
	if (!batch_check(p, b))
		return;
	if (b->first_line > s->next_line)
		held_insert(p, s, idx, b, true);   /* another worker still has the lines before it */
	else if (trim_written(p, s, idx, b))
		queue_write(p, s, idx, b);

	/* what was waiting may follow on now */
	while (s->held_head >= 0 && p->held[s->held_head].b->first_line <= s->next_line) {
		struct sl_result_batch *h = held_pop(p, s);
		if (trim_written(p, s, idx, h))
			queue_write(p, s, idx, h);
	}
}

/*
 * Lines [next_line, upto) have no result and none will be waited for:
 * made-up error results (SL_R_NO_RESULT), queued for writing in this
 * round. They carry no resume point: a batch with one always follows.
 */
static void
fill_gap(struct persist *p, struct doc_slot *s, uint32_t idx, uint64_t upto)
{
	const struct sl_doc *d = &p->rt->docs->docs[idx];

	while (s->next_line < upto) {
		uint16_t n = (uint16_t)RTE_MIN(upto - s->next_line, (uint64_t)SL_BATCH_LINES);
		struct sl_result_batch *g = calloc_retry(p, 1, sl_result_batch_size(0),
							 "the results of lines given up");

		g->doc = idx;
		g->doc_gen = s->gen;
		g->tenant = d->tenant;
		g->worker = UINT16_MAX;
		g->kind = SL_RB_RESULTS;
		g->heap = 1;
		g->n = n;
		g->first_line = s->next_line;
		for (uint16_t i = 0; i < n; i++) {
			g->r[i].line = s->next_line + i;
			g->r[i].status = SL_ST_ERROR;
			g->r[i].reason = SL_R_NO_RESULT;
			g->r[i].detail = p->rt->cfg->held_max_mb;
		}
		p->rt->persist_stats.lines_given_up += n;
		queue_write(p, s, idx, g);
	}
}

/*
 * [storage] held_max_mb is reached and slot idx holds the most: a line
 * before its held results has not come (a processor lost it, or it is
 * very slow) while the document went on. Stop waiting: every line missing
 * in front of or between its held batches is written now as an error
 * (no_result), the held batches (and extra, the batch being held, if
 * any) follow, and the document fails (SLP_E_HELD in its summary). A
 * missing line's real result, if it comes later, is dropped: each line is
 * ACKed once. Other documents are not touched.
 */
static void
give_up(struct persist *p, uint32_t idx, struct sl_result_batch *extra)
{
	struct doc_slot *s = &p->slots[idx];
	const struct sl_doc *d = &p->rt->docs->docs[idx];
	uint64_t missing = s->next_line;

	fprintf(stderr, "sluice: persist: %s/%s rev %" PRIu64 ": %u result batches (%" PRIu64 " KiB copied) "
		"wait for line %" PRIu64 ", and held results passed [storage] held_max_mb = %" PRIu32 ": "
		"the document fails; the lines missing now are ACKed as errors (no_result)\n",
		tenant_name(p->rt, d->tenant), d->name, d->revision, s->n_held + (extra != NULL),
		(s->held_bytes + (extra ? heap_size(extra) : 0)) >> 10, missing, p->rt->cfg->held_max_mb);
	if (!s->gave_up)
		p->rt->persist_stats.docs_given_up++;
	s->gave_up = true;
	if (s->fail_code == 0)
		s->fail_code = SLP_E_HELD;
	/* the held batches in line order, extra in its place among them */
	while (s->held_head >= 0 || extra != NULL) {
		struct sl_result_batch *b;

		if (extra != NULL && (s->held_head < 0 || extra->first_line <= p->held[s->held_head].b->first_line)) {
			b = extra;
			extra = NULL;
		} else {
			b = held_pop(p, s);
		}
		fill_gap(p, s, idx, b->first_line);
		if (trim_written(p, s, idx, b))
			queue_write(p, s, idx, b);
	}
}

/*
 * A round must end each document at a resume point: the journal says
 * "lines 1..N are durable and the input goes on at byte X", and X is only
 * known at the end of a line batch. A line batch whose records did not
 * fit one result batch comes as several, and only the last carries its
 * end offset; if the round holds the first parts without the last, they
 * go back to wait for it (they are already dequeued, so it is next).
 */
static void
cut_to_resume_points(struct persist *p)
{
	for (uint32_t t = 0; t < p->n_touched; t++) {
		uint32_t idx = p->touched[t];
		struct doc_slot *s = &p->slots[idx];
		int32_t cut = -1;

		for (int32_t j = s->first; j >= 0; j = p->wnext[j])
			if (p->wv[j]->end_offset != 0)
				cut = j;
		int32_t j = cut >= 0 ? p->wnext[cut] : s->first;
		if (j < 0)
			continue;
		if (cut >= 0) {
			p->wnext[cut] = -1;
			s->last = cut;
		} else {
			s->first = s->last = -1;
		}
		for (; j >= 0; j = p->wnext[j]) {
			struct sl_result_batch *b = p->wv[j];

			p->wv[j] = NULL;
			s->next_line -= b->n;
			p->r_lines -= b->n;
			held_insert(p, s, idx, b, false);   /* a few parts of one line batch: no give-up mid-cut */
		}
	}
}

/* Dequeue up to batch_records records of results, fairly across workers. */
static uint32_t
collect_results(struct persist *p)
{
	struct sl_runtime *rt = p->rt;
	unsigned nw = rt->n_workers;
	uint32_t records = 0;
	bool progress = true;

	p->n_rb = 0;
	while (progress && records < p->batch_limit && p->n_rb < p->cap_rb) {
		progress = false;
		for (unsigned i = 0; i < nw; i++) {
			unsigned w = (p->rr + i) % nw;
			uint32_t want = (p->batch_limit - records) / SL_BATCH_LINES;

			if (want == 0)
				want = 1;
			if (want > PERSIST_RESULT_BURST)
				want = PERSIST_RESULT_BURST;
			if (want > p->cap_rb - p->n_rb)
				want = p->cap_rb - p->n_rb;
			unsigned got = rte_ring_sc_dequeue_burst(rt->results[w], (void **)&p->rb[p->n_rb],
								 want, NULL);
			for (unsigned k = 0; k < got; k++) {
				uint16_t n = p->rb[p->n_rb + k]->n;
				records += n < SL_BATCH_LINES ? n : SL_BATCH_LINES;
			}
			p->n_rb += got;
			progress |= got > 0;
			if (records >= p->batch_limit || p->n_rb == p->cap_rb)
				break;
		}
	}
	p->rr++;
	return records;
}

/* Start a round: put this round's batches in line order per document. */
static void
order_batches(struct persist *p)
{
	p->round++;
	p->n_touched = 0;
	p->n_wv = 0;
	p->r_lines = 0;
	for (uint32_t i = 0; i < p->n_rb; i++)
		accept_batch(p, p->rb[i]);
	p->n_rb = 0;
	cut_to_resume_points(p);
	/* documents whose summary is due, with or without new lines this round */
	for (uint32_t i = 0; i < p->n_finish; i++) {
		struct doc_slot *s = &p->slots[p->finish_q[i]];
		if (s->phase == SLOT_ACTIVE)
			touch_slot(p, s, p->finish_q[i]);
	}
	p->n_finish = 0;
}

/* ---- formatting ------------------------------------------------------ */

/* Room for need more bytes in the staging buffer; waits (never drops) if memory is short. */
static char *
stage_reserve(struct persist *p, size_t need)
{
	uint64_t delay = ERR_BACKOFF_MIN_NS;

	while (p->stage_used + need > p->stage_cap) {
		size_t cap = p->stage_cap * 2;
		if (cap < p->stage_used + need)
			cap = p->stage_used + need;
		char *n = realloc(p->stage, cap);
		if (n != NULL) {
			p->stage = n;
			p->stage_cap = cap;
			break;
		}
		fprintf(stderr, "sluice: persist: out of memory for a %zu-byte staging buffer; "
			"retrying\n", cap);
		error_backoff(p, &delay);
	}
	return p->stage + p->stage_used;
}

/*
 * Escape len bytes as a JSON string body into out, which has room for
 * 6 * len bytes; returns the bytes written. Valid UTF-8 passes as is;
 * '"', '\\' and control bytes are escaped; a byte that is not part of a
 * valid UTF-8 sequence becomes \u00XX (the byte as a code point), so the
 * file stays valid JSON whatever the line held.
 */
static size_t
json_escape_n(char *out, const char *in, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t seq = 0;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			out[o++] = (char)c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
			continue;
		}
		/* a multi-byte sequence: lead byte, then continuation bytes within the valid ranges */
		if (c >= 0xc2 && c <= 0xdf)
			seq = 2;
		else if (c >= 0xe0 && c <= 0xef)
			seq = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			seq = 4;
		if (seq > 0 && i + seq <= len) {
			unsigned char c1 = s[i + 1];
			unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
			unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
			bool ok = c1 >= lo && c1 <= hi;
			for (size_t k = 2; ok && k < seq; k++)
				ok = (s[i + k] & 0xc0) == 0x80;
			if (ok) {
				memcpy(out + o, s + i, seq);
				o += seq;
				i += seq;
				continue;
			}
		}
		/* a control byte, or a byte that is not valid UTF-8 */
		out[o++] = '\\';
		out[o++] = 'u';
		out[o++] = '0';
		out[o++] = '0';
		out[o++] = hex[c >> 4];
		out[o++] = hex[c & 15];
		i++;
	}
	return o;
}

/* The record rec of batch b, if it lies within the batch; NULL if not. */
static const struct sl_rec_ref *
rec_at(const struct sl_result_batch *b, unsigned rec)
{
	if (rec >= b->n_recs)
		return NULL;
	const struct sl_rec_ref *r = &b->rec[rec];
	if (r->off > b->data_cap || r->len > b->data_cap - r->off)
		return NULL;
	return r;
}

/* Which file a record goes to (SL_DF_*), or -1 for the reason pseudo-stream, -2 if none. */
static int
rec_file(uint8_t stream, unsigned valid_streams)
{
	if (stream == SL_STREAM_DEADLETTER)
		return (int)SL_DF_DEADLETTER;
	if (stream == SL_STREAM_REASON)
		return -1;
	if (stream < SL_PROC_MAX_STREAMS && (valid_streams & (1u << stream)))
		return (int)(SL_DF_STREAM0 + stream);
	return -2;
}

/* Decimal digits of v at out; returns the end. (snprintf's format parsing was most of the
 * persistence thread's cycles per line: see sluicectl stages.) */
static char *
put_u64(char *out, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*out++ = tmp[--n];
	return out;
}

#define PUT_LIT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

/* The processor's own words for result r (its reason record), JSON-escaped at out; -1 if none. */
static long
put_reason_rec(char *out, const struct sl_result_batch *b, const struct sl_result *r)
{
	const struct sl_rec_ref *rr = sl_result_reason_rec(b, r);

	if (rr == NULL || rr != rec_at(b, (unsigned)(rr - b->rec)))
		return -1;
	size_t len = rr->len < REASON_TEXT_MAX ? rr->len : REASON_TEXT_MAX;
	const char *txt = b->data + rr->off;
	/* cut at a character boundary */
	while (len < rr->len && len > 0 && ((unsigned char)txt[len] & 0xc0) == 0x80)
		len--;
	return (long)json_escape_n(out, txt, len);
}

/* One result as one line of <rev>.results; returns its length (<= RESULT_LINE_MAX). */
static size_t
format_result(char *out, const struct sl_result_batch *b, const struct sl_result *r)
{
	int n;

	if (r->status == SL_ST_OK) {
		/* {"line":N,"status":"ok","fields":F}: the common case, by hand */
		char *o = PUT_LIT(out, "{\"line\":");
		o = put_u64(o, r->line);
		o = PUT_LIT(o, ",\"status\":\"ok\",\"fields\":");
		o = put_u64(o, r->fields);
		/* a note the processor left on an ok line (simulate: the drawn time) is its detail */
		if (r->n_recs != 0) {
			char *d = PUT_LIT(o, ",\"detail\":\"");
			long k = put_reason_rec(d, b, r);
			if (k >= 0)
				o = PUT_LIT(d + k, "\"");
		}
		o = PUT_LIT(o, "}\n");
		return (size_t)(o - out);
	}

	char reason[6 * SL_NAME_MAX + 1];
	const char *name = sl_reason_name((enum sl_reason)r->reason);
	size_t rn = strnlen(name, SL_NAME_MAX);
	reason[json_escape_n(reason, name, rn)] = '\0';

	n = snprintf(out, RESULT_LINE_MAX, "{\"line\":%" PRIu64 ",\"status\":\"error\",\"reason\":"
		     "\"%s\",\"detail\":\"", r->line, reason);
	size_t o = (size_t)n;

	/* the processor's own words if it gave any, else the text of the reason code */
	long k = put_reason_rec(out + o, b, r);
	if (k >= 0) {
		o += (size_t)k;
	} else {
		char text[REASON_TEXT_MAX];
		int tn = sl_result_reason_text(r, text, sizeof(text));
		size_t len = tn < 0 ? 0 : (size_t)tn < sizeof(text) ? (size_t)tn : sizeof(text) - 1;
		o += json_escape_n(out + o, text, len);
	}
	n = snprintf(out + o, RESULT_LINE_MAX - o, "\",\"fields\":%" PRIu32 "}\n", r->fields);
	return o + (size_t)n;
}

/* {"line":N,"record":<record>}: the record as is, on one line. */
static size_t
format_record(char *out, uint64_t line, const char *rec, uint32_t len)
{
	char *p = PUT_LIT(out, "{\"line\":");
	p = put_u64(p, line);
	p = PUT_LIT(p, ",\"record\":");
	size_t o = (size_t)(p - out);

	if (len == 0) {
		memcpy(out + o, "null", 4);
		o += 4;
	}
	/* a line break inside a record would split it; in JSON it can only be whitespace */
	memcpy(out + o, rec, len);
	if (memchr(rec, '\n', len) != NULL || memchr(rec, '\r', len) != NULL)
		for (uint32_t i = 0; i < len; i++)
			if (out[o + i] == '\n' || out[o + i] == '\r')
				out[o + i] = ' ';
	o += len;
	out[o++] = '}';
	out[o++] = '\n';
	return o;
}

/* {"line":N,"reason":"...","raw":"..."}: the raw line, escaped. */
static size_t
format_deadletter(char *out, const struct sl_result *r, const char *raw, uint32_t len)
{
	const char *name = sl_reason_name((enum sl_reason)r->reason);
	size_t o = (size_t)sprintf(out, "{\"line\":%" PRIu64 ",\"reason\":\"", r->line);

	o += json_escape_n(out + o, name, strnlen(name, SL_NAME_MAX));
	memcpy(out + o, "\",\"raw\":\"", 9);
	o += 9;
	o += json_escape_n(out + o, raw, len);
	memcpy(out + o, "\"}\n", 3);
	return o + 3;
}

#define RECORD_LINE_MAX(len) (64u + (size_t)(len))
#define DEADLETTER_LINE_MAX(len) (96u + 6u * SL_NAME_MAX + 6u * (size_t)(len))

/*
 * Append the lines of file k of a slot's queued batches to the staging
 * buffer. For the results file, also count lines and return the mask of
 * the other files that have records (and count records no file takes).
 */
static unsigned
format_file(struct persist *p, struct doc_slot *s, unsigned k, unsigned valid_streams,
	    unsigned *stray)
{
	unsigned mask = 0;

	for (int32_t j = s->first; j >= 0; j = p->wnext[j]) {
		const struct sl_result_batch *b = p->wv[j];

		for (uint16_t i = 0; i < b->n; i++) {
			const struct sl_result *r = &b->r[i];

			if (k == SL_DF_RESULTS) {
				char *out = stage_reserve(p, RESULT_LINE_MAX);
				p->stage_used += format_result(out, b, r);
				s->r_records++;
				if (r->status == SL_ST_OK)
					s->r_ok++;
				else
					s->r_errors++;
			}
			for (unsigned q = 0; q < r->n_recs; q++) {
				const struct sl_rec_ref *rec = rec_at(b, (unsigned)r->rec_first + q);
				int f = rec ? rec_file(rec->stream, valid_streams) : -2;

				if (k == SL_DF_RESULTS) {
					if (f >= 0)
						mask |= 1u << f;
					else if (f == -2)
						(*stray)++;
					continue;
				}
				if (f != (int)k)
					continue;
				const char *data = b->data + rec->off;
				if (k == SL_DF_DEADLETTER) {
					char *out = stage_reserve(p, DEADLETTER_LINE_MAX(rec->len));
					p->stage_used += format_deadletter(out, r, data, rec->len);
				} else {
					char *out = stage_reserve(p, RECORD_LINE_MAX(rec->len));
					p->stage_used += format_record(out, r->line, data, rec->len);
				}
			}
		}
	}
	return mask;
}

/*
 * Records no file takes are a processor bug, and it would repeat on every
 * line: say it at most once a second, with how many there were.
 */
static void
report_stray(struct persist *p, uint32_t idx, const struct sl_processor *proc, unsigned n)
{
	uint64_t now = now_ns();

	p->stray += n;
	if (p->stray_logged_ns != 0 && now - p->stray_logged_ns < 1000000000ull)
		return;
	fprintf(stderr, "sluice: persist: %s/%s: %" PRIu64 " output records for a stream that "
		"processor '%s' does not declare (or whose name is not a plain word), or outside "
		"their batch: not written (fix the processor's streams[])\n",
		tenant_name(p->rt, p->rt->docs->docs[idx].tenant), doc_name(p, idx), p->stray,
		proc && proc->name ? proc->name : "?");
	p->stray = 0;
	p->stray_logged_ns = now;
}

/*
 * The last line of a finished document's results file: what its summary
 * ACK says, and the mark that it is complete (recover.c reads it back).
 */
static void
format_summary(struct persist *p, const struct doc_slot *s)
{
	char *out = stage_reserve(p, SUMMARY_LINE_MAX);
	uint64_t ok = s->ok + s->r_ok, errors = s->errors + s->r_errors;
	int n;

	if (s->fail_code == 0)
		n = snprintf(out, SUMMARY_LINE_MAX, "{\"summary\":true,\"lines\":%" PRIu64 ",\"ok\":%" PRIu64
			     ",\"errors\":%" PRIu64 ",\"status\":\"complete\",\"code\":0}\n", s->total, ok,
			     errors);
	else
		n = snprintf(out, SUMMARY_LINE_MAX, "{\"summary\":true,\"lines\":%" PRIu64 ",\"ok\":%" PRIu64
			     ",\"errors\":%" PRIu64 ",\"status\":\"failed\",\"code\":%" PRIu32
			     ",\"reason\":\"%s\"}\n", s->total, ok, errors, s->fail_code,
			     slp_code_str((enum slp_code)s->fail_code));
	p->stage_used += (size_t)n;
}

/* Room for one more write (and the journal's). */
static void
ops_reserve(struct persist *p)
{
	uint64_t delay = ERR_BACKOFF_MIN_NS;

	while (p->n_ops == p->cap_ops) {
		uint32_t cap = p->cap_ops ? 2 * p->cap_ops : 64;
		struct io_op *w = realloc(p->wops, (cap + 1) * sizeof(*w));
		if (w != NULL) {
			p->wops = w;
			p->cap_ops = cap;
			break;
		}
		fprintf(stderr, "sluice: persist: out of memory for %u I/O operations; retrying\n", cap);
		error_backoff(p, &delay);
	}
}

/* The staging region [start, stage_used) is file k of slot idx: one write, then one fsync. */
static void
add_op(struct persist *p, uint32_t idx, unsigned k, size_t start)
{
	if (p->stage_used == start)
		return;
	ops_reserve(p);
	p->wops[p->n_ops] = (struct io_op){ .kind = OP_WRITE, .file = (uint8_t)k, .slot = idx,
					    .fd = -1, .boff = start,
					    .len = (uint32_t)(p->stage_used - start) };
	p->n_ops++;
}

/* Format each touched document's files into one region each. */
static void
format_round(struct persist *p)
{
	p->stage_used = 0;
	p->n_ops = 0;
	for (uint32_t t = 0; t < p->n_touched; t++) {
		uint32_t idx = p->touched[t];
		struct doc_slot *s = &p->slots[idx];
		const struct sl_processor *proc = doc_proc(p, idx);
		unsigned valid = 0, stray = 0;

		for (unsigned i = 0; i < SL_PROC_MAX_STREAMS; i++)
			if (sl_doc_file_suffix(proc, SL_DF_STREAM0 + i) != NULL)
				valid |= 1u << i;

		size_t start = p->stage_used;
		unsigned mask = format_file(p, s, SL_DF_RESULTS, valid, &stray);
		if (s->ended && s->persisted + s->r_records >= s->total) {
			format_summary(p, s);  /* the document is complete with this round */
			s->r_finish = true;
		}
		add_op(p, idx, SL_DF_RESULTS, start);
		/* the resume point: where the last line batch ending in this round ends */
		for (int32_t j = s->first; j >= 0; j = p->wnext[j])
			if (p->wv[j]->end_offset != 0) {
				s->r_has_pos = true;
				s->r_end_offset = p->wv[j]->end_offset;
				s->r_end_crc = p->wv[j]->end_crc;
			}
		for (unsigned k = SL_DF_STREAM0; k < SL_DF_COUNT; k++) {
			if (!(mask & (1u << k)))
				continue;
			start = p->stage_used;
			format_file(p, s, k, valid, &stray);
			add_op(p, idx, k, start);
		}
		if (stray > 0)
			report_stray(p, idx, proc, stray);
	}
	/* the buffer may have moved while it grew: point the writes at it now */
	for (uint32_t i = 0; i < p->n_ops; i++)
		p->wops[i].buf = p->stage + p->wops[i].boff;
}

/* Open the files this round writes to; retry (with back-off) until they are. Then place the writes. */
static void
open_round(struct persist *p)
{
	for (uint32_t i = 0; i < p->n_ops; i++) {
		struct io_op *w = &p->wops[i];
		struct doc_slot *s = &p->slots[w->slot];

		open_file(p, w->slot, w->file);
		w->fd = s->files.fd[w->file];
		w->off = s->files.off[w->file];
		w->state = OP_PENDING;
	}
}

/*
 * The round's journal record: per document, its counts and resume point
 * after the round and every byte it appends to its files, at their
 * offsets. It goes out with the file writes as one more write, and its
 * fdatasync is the round's only sync.
 */
static void
journal_round(struct persist *p)
{
	const struct sl_runtime *rt = p->rt;
	uint64_t delay = ERR_BACKOFF_MIN_NS;
	size_t need = 0;

	for (uint32_t t = 0; t < p->n_touched; t++) {
		const struct sl_doc *d = &rt->docs->docs[p->touched[t]];
		need += sl_journal_doc_size(strlen(tenant_name(rt, d->tenant)), strlen(d->name));
	}
	for (uint32_t i = 0; i < p->n_ops; i++)
		need += sl_journal_chunk_size(SL_SUFFIX_MAX, p->wops[i].len);
	while (sl_jw_begin(&p->jw, need) != 0) {
		fprintf(stderr, "sluice: persist: out of memory for a %zu-byte journal record; retrying\n", need);
		error_backoff(p, &delay);
	}

	uint32_t op = 0;
	for (uint32_t t = 0; t < p->n_touched; t++) {
		uint32_t idx = p->touched[t];
		const struct doc_slot *s = &p->slots[idx];
		const struct sl_doc *d = &rt->docs->docs[idx];
		const char *tn = tenant_name(rt, d->tenant);
		uint32_t first = op;

		while (op < p->n_ops && p->wops[op].slot == idx)
			op++;
		struct sl_jdoc jd = {
			.tenant = tn, .tenant_len = (uint16_t)strlen(tn),
			.doc = d->name, .doc_len = (uint16_t)strlen(d->name),
			.flags = (uint8_t)((s->r_finish ? SL_JD_FINISHED : 0) |
					   (s->r_has_pos || s->has_pos ? SL_JD_POS : 0)),
			.n_chunks = (uint8_t)(op - first),
			.revision = d->revision,
			.lines = s->persisted + s->r_records,
			.ok = s->ok + s->r_ok,
			.errors = s->errors + s->r_errors,
			.offset = s->r_has_pos ? s->r_end_offset : s->end_offset,
			.crc = s->r_has_pos ? s->r_end_crc : s->end_crc,
		};
		sl_jw_add_doc(&p->jw, &jd);
		for (uint32_t i = first; i < op; i++) {
			const struct io_op *w = &p->wops[i];
			const char *suffix = sl_doc_file_suffix(doc_proc(p, idx), w->file);
			sl_jw_add_chunk(&p->jw, suffix, strlen(suffix), w->off, w->buf, w->len);
		}
	}
	sl_jw_seal(&p->jw, SL_J_ROUND);
	journal_register(p);
	ops_reserve(p);                 /* wops[n_ops] exists (cap_ops + 1 entries) */
	bool fixed = p->jfile_registered && p->jbuf_registered == p->jw.buf;

	/* the journal's write rides with the file writes: wops[n_ops] */
	p->wops[p->n_ops] = (struct io_op){ .kind = OP_WRITE, .state = OP_PENDING, .slot = JOURNAL_OP,
					    .fd = p->jw.fd, .buf = (const char *)p->jw.buf, .fixed = fixed,
					    .len = (uint32_t)p->jw.len, .off = p->jw.off };
	p->jsync = (struct io_op){ .kind = OP_FSYNC, .state = OP_IDLE, .slot = JOURNAL_OP, .fd = p->jw.fd,
				   .fixed = p->jfile_registered };
}

/* ---- io_uring ---------------------------------------------------------- */

static void
prep_op(struct io_uring_sqe *sqe, const struct io_op *op)
{
	if (op->fixed && op->kind == OP_WRITE)
		io_uring_prep_write_fixed(sqe, 0, op->buf + op->done, op->len - op->done, op->off + op->done, 0);
	else if (op->kind == OP_WRITE)
		io_uring_prep_write(sqe, op->fd, op->buf + op->done, op->len - op->done,
				    op->off + op->done);
	else
		io_uring_prep_fsync(sqe, op->fixed ? 0 : op->fd, IORING_FSYNC_DATASYNC);
	if (op->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
}

/*
 * The journal is the one file every round writes, from one buffer: give
 * both to the kernel once (registered file and buffer) instead of having
 * it look up the fd and pin the pages on every round. Result files change
 * with every document, so they stay ordinary. If registering fails (an
 * old kernel, a locked-memory limit), rounds simply use plain writes.
 */
static void
journal_register(struct persist *p)
{
	if (p->jfd_registered != p->jw.fd) {         /* a new segment since the last round */
		if (p->jfile_registered)
			p->jfile_registered = io_uring_register_files_update(&p->ring, 0, &p->jw.fd, 1) == 1;
		else
			p->jfile_registered = io_uring_register_files(&p->ring, &p->jw.fd, 1) == 0;
		p->jfd_registered = p->jfile_registered ? p->jw.fd : -1;
	}
	if (p->jbuf_registered != p->jw.buf || p->jbuf_cap != p->jw.cap) {
		struct iovec iov = { .iov_base = p->jw.buf, .iov_len = p->jw.cap };

		if (p->jbuf_registered != NULL)
			io_uring_unregister_buffers(&p->ring);
		p->jbuf_registered = io_uring_register_buffers(&p->ring, &iov, 1) == 0 ? p->jw.buf : NULL;
		p->jbuf_cap = p->jw.cap;
		if (p->jbuf_registered == NULL && !p->jbuf_warned) {
			fprintf(stderr, "sluice: persist: cannot register the journal buffer with io_uring "
				"(locked-memory limit?); using plain writes\n");
			p->jbuf_warned = true;
		}
	}
}

/* Put PENDING ops on the submission queue, at most PERSIST_QUEUE_DEPTH in flight. */
static unsigned
queue_pending(struct persist *p, struct io_op *ops, uint32_t n)
{
	unsigned queued = 0;

	for (uint32_t i = 0; i < n && p->inflight < PERSIST_QUEUE_DEPTH; i++) {
		if (ops[i].state != OP_PENDING)
			continue;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
		if (!sqe)
			break;
		prep_op(sqe, &ops[i]);
		io_uring_sqe_set_data64(sqe, i);
		ops[i].state = OP_INFLIGHT;
		p->inflight++;
		queued++;
	}
	return queued;
}

static void
submit(struct persist *p)
{
	for (;;) {
		int rc = io_uring_submit(&p->ring);
		if (rc >= 0)
			return;
		if (rc != -EINTR && rc != -EAGAIN)
			fprintf(stderr, "sluice: persist: io_uring_submit: %s; retrying\n", strerror(-rc));
		sleep_ns(rc == -EINTR ? 0 : ERR_BACKOFF_MIN_NS);
	}
}

/* Account for one completion. Returns true if the op is finished (done or failed). */
static bool
complete_op(struct persist *p, struct io_op *op, int res)
{
	if (res == -EAGAIN || res == -EINTR) {
		op->state = OP_PENDING;                  /* transient: resubmit */
		p->rt->persist_stats.retries++;
		return false;
	}
	if (res < 0 || (op->kind == OP_WRITE && res == 0 && op->done < op->len)) {
		op->err = res < 0 ? -res : EIO;          /* a write that makes no progress is an error */
		op->state = OP_FAILED;
		return true;
	}
	if (op->kind == OP_WRITE) {
		op->done += (uint32_t)res;
		if (op->done < op->len) {
			op->state = OP_PENDING;          /* short write: the rest */
			p->rt->persist_stats.retries++;
			return false;
		}
	}
	op->state = OP_DONE;
	return true;
}

/*
 * [storage] fault_eio_percent / fault_short_percent — for tests only: turn
 * a completion into EIO, or a complete write into a short one (the rest is
 * then written again at its offset, which is what a real short write asks
 * for). Exercises every retry path, fsync failure included, on a healthy disk.
 */
static int
inject_fault(struct persist *p, const struct io_op *op, int res)
{
	const struct sl_config *cfg = p->rt->cfg;
	uint64_t x;

	if (op->kind == OP_FSYNC && cfg->fault_delay_us > 0)
		sleep_ns((uint64_t)cfg->fault_delay_us * 1000u);   /* a slow disk */
	if (res < 0 || (cfg->fault_eio_percent == 0 && cfg->fault_short_percent == 0))
		return res;
	x = p->fault_rng;               /* xorshift64: reproducible, no syscall */
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	p->fault_rng = x;
	if (x % 100 < cfg->fault_eio_percent)
		return -EIO;
	if (op->kind == OP_WRITE && res > 1 && (x >> 32) % 100 < cfg->fault_short_percent)
		return res / 2;
	return res;
}

/*
 * Run every PENDING op to completion (done or failed). If acks_on_submit,
 * hand the "ack = processed" batches over right after the first submit.
 * Returns the number of failed ops.
 */
static uint32_t
run_ops(struct persist *p, struct io_op *ops, uint32_t n, bool acks_on_submit)
{
	uint32_t unfinished = 0, failed = 0;

	for (uint32_t i = 0; i < n; i++)
		unfinished += ops[i].state == OP_PENDING;

	while (unfinished > 0) {
		if (queue_pending(p, ops, n) > 0)
			submit(p);
		if (acks_on_submit) {
			acks_push_round(p, true);
			acks_on_submit = false;
		}

		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&p->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			fprintf(stderr, "sluice: persist: io_uring_wait_cqe: %s\n", strerror(-rc));
			sleep_ns(ERR_BACKOFF_MIN_NS);
			continue;
		}
		do {
			struct io_op *op = &ops[io_uring_cqe_get_data64(cqe)];
			int res = inject_fault(p, op, cqe->res);

			io_uring_cqe_seen(&p->ring, cqe);
			p->inflight--;
			if (complete_op(p, op, res)) {
				unfinished--;
				failed += op->state == OP_FAILED;
			}
		} while (io_uring_peek_cqe(&p->ring, &cqe) == 0);
	}
	if (acks_on_submit)                      /* nothing was pending */
		acks_push_round(p, true);
	return failed;
}

/* Log the failed ops, then make them PENDING again for the retry. */
static void
report_and_rearm(struct persist *p, struct io_op *ops, uint32_t n, uint64_t delay)
{
	char path[FILE_PATH_MAX];

	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].state != OP_FAILED)
			continue;
		if (ops[i].slot == JOURNAL_OP)
			sl_journal_segment_path(path, sizeof(path), p->rt->cfg->data_dir, p->jw.seq);
		else
			doc_file_name(p, ops[i].slot, ops[i].file, path, sizeof(path));
		fprintf(stderr, "sluice: persist: %s: %s failed: %s; results kept, not acknowledged, "
			"retrying in %" PRIu64 " ms\n", path, ops[i].kind == OP_WRITE ? "write" : "fdatasync",
			strerror(ops[i].err), delay / 1000000u);
		p->rt->persist_stats.write_errors++;
		ops[i].state = OP_PENDING;
		ops[i].err = 0;
	}
}

/*
 * Write every region and the journal record, then fdatasync the journal;
 * retry until both succeed. The result files are not synced here: the
 * journal holds their bytes until a checkpoint syncs them.
 */
static void
write_and_sync(struct persist *p)
{
	uint32_t n = p->n_ops + 1;               /* the files' writes and the journal's */
	struct io_op *writes = p->wops;
	uint64_t delay = ERR_BACKOFF_MIN_NS;
	bool acks_pending = true;

	for (;;) {
		while (run_ops(p, writes, n, acks_pending) > 0) {
			acks_pending = false;
			report_and_rearm(p, writes, n, delay);
			error_backoff(p, &delay);
		}
		acks_pending = false;

		p->jsync.state = OP_PENDING;
		uint32_t failed = run_ops(p, &p->jsync, 1, false);
		p->rt->persist_stats.fsyncs++;
		if (failed == 0)
			return;

		report_and_rearm(p, &p->jsync, 1, delay);
		error_backoff(p, &delay);
		/*
		 * After a failed fsync the kernel may have dropped the dirty
		 * pages and marked them clean: another fsync could succeed
		 * without our data on disk. Write the journal record again, at
		 * the same offset, before syncing again (never a linked
		 * write->fsync: a resubmitted write could land after the sync).
		 */
		writes[p->n_ops].done = 0;
		writes[p->n_ops].state = OP_PENDING;
	}
}

/* The round is durable: advance offsets and counters. */
static void
commit_round(struct persist *p)
{
	struct sl_persist_stats *st = &p->rt->persist_stats;

	if (st->unhealthy) {
		st->unhealthy_ns_total += now_ns() - st->unhealthy_since_ns;
		__atomic_store_n(&st->unhealthy, 0, __ATOMIC_RELEASE);
		fprintf(stderr, "sluice: persist: storage healthy again; buffered results written\n");
	}
	for (uint32_t i = 0; i < p->n_ops; i++)
		p->slots[p->wops[i].slot].files.off[p->wops[i].file] += p->wops[i].len;
	p->jw.off += p->jw.len;
	st->journal_bytes += p->jw.len;
	st->journal_syncs++;
	for (uint32_t t = 0; t < p->n_touched; t++) {
		uint32_t idx = p->touched[t];
		struct doc_slot *s = &p->slots[idx];

		s->persisted += s->r_records;
		s->ok += s->r_ok;
		s->errors += s->r_errors;
		s->r_records = s->r_ok = s->r_errors = 0;
		if (s->r_has_pos) {
			s->has_pos = true;
			s->end_offset = s->r_end_offset;
			s->end_crc = s->r_end_crc;
			/* the rx lcore reports it in SLP STATUS: a sender may resume from here */
			__atomic_store_n(&p->rt->docs->docs[idx].durable, s->end_offset, __ATOMIC_RELEASE);
		}
	}
}

/*
 * Group commit that follows the device: AIMD on the batch size. A full
 * batch that was written and synced within [storage] batch_target_us may
 * grow by an eighth (at least 64 records); a batch over the target halves
 * the limit. Between batch_min_records and batch_records.
 *
 * Halving only helps while the time is in the writing. A device whose
 * sync alone takes longer than the target (sync_floor_ns: the fastest
 * recent round, drifting up slowly) cannot meet it at any size, and
 * smaller batches would only mean more syncs for the same records: then
 * the batch grows as if under target, for throughput.
 */
static void
adapt_batch(struct persist *p, uint64_t ns, uint32_t records)
{
	const struct sl_config *cfg = p->rt->cfg;
	uint32_t lo = RTE_MIN(RTE_MAX(cfg->batch_min_records, 1u), p->batch_records);
	uint32_t limit = p->batch_limit;
	uint64_t target = (uint64_t)cfg->batch_target_us * 1000u;

	p->sync_floor_ns = p->sync_floor_ns == 0 || ns < p->sync_floor_ns ? ns
			 : p->sync_floor_ns + p->sync_floor_ns / 64;
	if (ns > target && p->sync_floor_ns <= target)
		limit = RTE_MAX(limit / 2, lo);
	else if (records >= limit - limit / 8)
		limit = RTE_MIN(limit + RTE_MAX(limit / 8, 64u), p->batch_records);
	p->batch_limit = limit;
	p->rt->persist_stats.batch_limit = limit;
}

static void
persist_round(struct persist *p)
{
	struct sl_persist_stats *st = &p->rt->persist_stats;

	uint64_t c0 = rte_rdtsc();
	order_batches(p);
	if (p->n_touched == 0)
		return;                 /* everything was held (early) or dropped */
	format_round(p);
	if (p->n_ops == 0)
		return;                 /* every batch went back to wait for the rest of its line batch */
	open_round(p);
	journal_round(p);

	uint64_t t0 = now_ns(), c1 = rte_rdtsc();
	write_and_sync(p);
	st->last_batch_ns = now_ns() - t0;
	st->busy_ns += st->last_batch_ns;
	st->cyc_io += rte_rdtsc() - c1;
	st->cyc_cpu += c1 - c0;

	commit_round(p);
	acks_push_round(p, false);
	for (uint32_t t = 0; t < p->n_touched; t++) {
		uint32_t idx = p->touched[t];
		if (p->slots[idx].r_finish && p->slots[idx].phase == SLOT_ACTIVE)
			finish_slot(p, idx);
		else
			slot_maybe_finish(p, idx);
	}

	st->batches++;
	st->records += p->r_lines;
	st->bytes += p->stage_used;
	st->last_batch_records = p->r_lines;
	st->records_per_s = st->last_batch_ns ? p->r_lines * 1000000000ull / st->last_batch_ns : 0;
	adapt_batch(p, st->last_batch_ns, p->r_lines);
}

/* ---- checkpoints ---------------------------------------------------- */

struct ckpt_ctx {
	struct persist *p;
	bool build;              /* false: only size it */
	size_t need;
};

/* Is (tenant, doc, rev) an active slot? Then the slot's state is newer than the recovery table's. */
static bool
active_has(const struct persist *p, const struct sl_resume_state *st)
{
	const struct sl_runtime *rt = p->rt;

	for (uint32_t i = 0; i < SL_MAX_DOCS; i++) {
		const struct sl_doc *d = &rt->docs->docs[i];
		if (p->slots[i].phase == SLOT_ACTIVE && p->slots[i].gen == d->gen && d->revision == st->revision &&
		    strcmp(d->name, st->doc) == 0 && strcmp(tenant_name(rt, d->tenant), st->tenant) == 0)
			return true;
	}
	return false;
}

/* An unfinished document persistence has not seen since the restart: as the journal left it. */
static void
ckpt_recovered(void *arg, const struct sl_resume_state *st)
{
	struct ckpt_ctx *c = arg;

	if (active_has(c->p, st))
		return;
	if (!c->build) {
		c->need += sl_journal_doc_size(strlen(st->tenant), strlen(st->doc)) +
			   st->n_files * sl_journal_chunk_size(SL_SUFFIX_MAX, 0);
		return;
	}
	struct sl_jdoc jd = {
		.tenant = st->tenant, .tenant_len = (uint16_t)strlen(st->tenant),
		.doc = st->doc, .doc_len = (uint16_t)strlen(st->doc),
		.flags = SL_JD_POS, .n_chunks = (uint8_t)st->n_files, .revision = st->revision,
		.lines = st->lines, .ok = st->ok, .errors = st->errors, .offset = st->offset, .crc = st->crc,
	};
	sl_jw_add_doc(&c->p->jw, &jd);
	for (unsigned i = 0; i < st->n_files; i++)
		sl_jw_add_chunk(&c->p->jw, st->file[i].suffix, strlen(st->file[i].suffix), st->file[i].len,
				NULL, 0);
}

/* The checkpoint record: every unfinished document, its counts and file lengths. */
static void
ckpt_build(struct persist *p, struct ckpt_ctx *c)
{
	const struct sl_runtime *rt = p->rt;

	for (uint32_t idx = 0; idx < SL_MAX_DOCS; idx++) {
		const struct doc_slot *s = &p->slots[idx];
		const struct sl_doc *d = &rt->docs->docs[idx];

		if (s->phase != SLOT_ACTIVE)
			continue;
		const char *tn = tenant_name(rt, d->tenant);
		unsigned files = 0;
		for (unsigned k = 0; k < SL_DF_COUNT; k++)
			files += s->files.fd[k] >= 0 && sl_doc_file_suffix(doc_proc(p, idx), k) != NULL;
		if (!c->build) {
			c->need += sl_journal_doc_size(strlen(tn), strlen(d->name)) +
				   files * sl_journal_chunk_size(SL_SUFFIX_MAX, 0);
			continue;
		}
		struct sl_jdoc jd = {
			.tenant = tn, .tenant_len = (uint16_t)strlen(tn),
			.doc = d->name, .doc_len = (uint16_t)strlen(d->name),
			.flags = s->has_pos ? SL_JD_POS : 0, .n_chunks = (uint8_t)files,
			.revision = d->revision, .lines = s->persisted, .ok = s->ok, .errors = s->errors,
			.offset = s->end_offset, .crc = s->end_crc,
		};
		sl_jw_add_doc(&p->jw, &jd);
		for (unsigned k = 0; k < SL_DF_COUNT; k++) {
			const char *suffix = sl_doc_file_suffix(doc_proc(p, idx), k);
			if (s->files.fd[k] >= 0 && suffix != NULL)
				sl_jw_add_chunk(&p->jw, suffix, strlen(suffix), s->files.off[k], NULL, 0);
		}
	}
	sl_recovery_each(p->rec, ckpt_recovered, c);
}

/*
 * fdatasync every result file written since the last checkpoint: the open
 * files of unfinished documents and the files of finished ones (then
 * closed), all in parallel through the ring. false if one failed: its
 * pages may be gone while the kernel calls them clean, so only the
 * journal still has those bytes.
 */
static bool
sync_result_files(struct persist *p)
{
	uint32_t n = 0, cap = p->n_closing;
	struct io_op *ops;
	char path[FILE_PATH_MAX];

	for (uint32_t i = 0; i < SL_MAX_DOCS; i++)
		if (p->slots[i].phase == SLOT_ACTIVE)
			for (unsigned k = 0; k < SL_DF_COUNT; k++)
				cap += p->slots[i].files.fd[k] >= 0;
	ops = calloc_retry(p, cap, sizeof(*ops), "the list of files a checkpoint syncs");
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++)
		if (p->slots[i].phase == SLOT_ACTIVE)
			for (unsigned k = 0; k < SL_DF_COUNT; k++)
				if (p->slots[i].files.fd[k] >= 0)
					ops[n++] = (struct io_op){ .kind = OP_FSYNC, .state = OP_PENDING,
								   .slot = i, .file = (uint8_t)k,
								   .fd = p->slots[i].files.fd[k] };
	for (uint32_t i = 0; i < p->n_closing; i++)
		ops[n++] = (struct io_op){ .kind = OP_FSYNC, .state = OP_PENDING, .slot = JOURNAL_OP,
					   .fd = p->closing[i] };
	uint32_t failed = n ? run_ops(p, ops, n, false) : 0;
	p->rt->persist_stats.fsyncs += n;
	for (uint32_t i = 0; i < n && failed; i++) {
		if (ops[i].state != OP_FAILED)
			continue;
		if (ops[i].slot == JOURNAL_OP)
			snprintf(path, sizeof(path), "a finished document's file");
		else
			doc_file_name(p, ops[i].slot, ops[i].file, path, sizeof(path));
		fprintf(stderr, "sluice: persist: checkpoint: fdatasync of %s failed: %s; its bytes are "
			"kept in the journal, which is no longer trimmed until a restart replays it\n", path,
			strerror(ops[i].err));
	}
	free(ops);
	for (uint32_t i = 0; i < p->n_closing; i++)
		close(p->closing[i]);
	p->n_closing = 0;
	return failed == 0;
}

/*
 * Make every result file durable, then start a new journal segment with a
 * checkpoint and delete the older ones: what they held is in the result
 * files now. Retries until it succeeds; rounds wait. If a result file
 * failed to sync, the journal is the only copy of its bytes: from then on
 * segments are never deleted (recovery at the next start rewrites the
 * files from them), and the operator is told.
 */
static void
checkpoint(struct persist *p)
{
	struct sl_persist_stats *st = &p->rt->persist_stats;
	uint64_t delay = ERR_BACKOFF_MIN_NS;
	char err[SL_PATH_MAX + 128];
	int rc;

	if (p->ckpt_broken && p->jw.fd >= 0) {
		/* keep appending: every segment is needed; the files are in the journal */
		for (uint32_t i = 0; i < p->n_closing; i++)
			close(p->closing[i]);
		p->n_closing = 0;
		return;
	}
	if (!sync_result_files(p)) {
		p->ckpt_broken = true;
		if (p->jw.fd >= 0)
			return;
	}

	struct ckpt_ctx c = { .p = p, .build = false, .need = 0 };
	ckpt_build(p, &c);
	while (sl_jw_begin(&p->jw, c.need) != 0) {
		fprintf(stderr, "sluice: persist: out of memory for a checkpoint of %zu bytes; retrying\n", c.need);
		error_backoff(p, &delay);
	}
	c.build = true;
	ckpt_build(p, &c);
	sl_jw_seal(&p->jw, SL_J_CHECKPOINT);
	while ((rc = sl_jw_rotate(&p->jw, err, sizeof(err))) < 0) {
		fprintf(stderr, "sluice: persist: checkpoint: %s; retrying (the current segment stays in use)\n",
			err);
		error_backoff(p, &delay);
	}
	st->checkpoints++;
	st->segments_deleted += (uint64_t)rc;
	st->journal_bytes += p->jw.len;
	st->journal_syncs++;
}

/* ---- END messages ----------------------------------------------------- */

static unsigned
drain_messages(struct persist *p)
{
	struct sl_runtime *rt = p->rt;
	unsigned n = rte_ring_sc_dequeue_burst_elem(rt->to_persist, p->msgs, sizeof(struct sl_msg),
						    PERSIST_MSG_BURST, NULL);

	for (unsigned i = 0; i < n; i++) {
		const struct sl_msg *m = &p->msgs[i];
		struct doc_slot *s = NULL;

		if (m->type != SL_MSG_END)
			continue;
		if (m->doc < SL_MAX_DOCS)
			s = slot_get(p, m->doc, m->doc_gen);
		if (!s) {
			fprintf(stderr, "sluice: persist: END for document slot %" PRIu32 " generation %"
				PRIu32 " which is not open (stale or invalid): ignored\n", m->doc,
				m->doc_gen);
			continue;
		}
		s->ended = true;
		s->total = m->lines;
		if (s->fail_code == 0)
			s->fail_code = m->code;   /* a document that gave up already failed (give_up) */
		slot_maybe_finish(p, m->doc);
	}
	return n;
}

/* ---- the thread --------------------------------------------------------- */

/* Stop only when told to, the workers are gone, and nothing is left to write. */
static bool
drained(const struct persist *p)
{
	struct sl_runtime *rt = p->rt;

	if (!atomic_load(&rt->stop))
		return false;
	for (unsigned w = 0; w < rt->n_workers; w++)
		if (atomic_load(&rt->workers[w].running))
			return false;
	/* the workers' last enqueues happened before they cleared running */
	for (unsigned w = 0; w < rt->n_workers; w++)
		if (!rte_ring_empty(rt->results[w]))
			return false;
	return rte_ring_empty(rt->to_persist);
}

/* Idle: spin a little, then sleep 10 us growing to 1 ms (we share 2 CPUs with many lcores). */
static void
idle_wait(struct persist *p)
{
	if (p->idle_spins < IDLE_SPINS) {
		p->idle_spins++;
		rte_pause();
		return;
	}
	sleep_ns(p->idle_ns);
	p->idle_ns = p->idle_ns * 2 > IDLE_SLEEP_MAX_NS ? IDLE_SLEEP_MAX_NS : p->idle_ns * 2;
}

static void *
persist_main(void *arg)
{
	struct persist *p = arg;

	checkpoint(p);          /* the first segment: what recovery replayed is synced and deleted */
	for (;;) {
		unsigned work = drain_messages(p);

		collect_results(p);
		if (p->n_rb > 0 || p->n_finish > 0) {
			persist_round(p);
			work++;
			if (p->jw.off >= p->segment_bytes || p->n_closing >= PERSIST_CLOSING_MAX)
				checkpoint(p);
		}
		if (work > 0) {
			p->idle_spins = 0;
			p->idle_ns = IDLE_SLEEP_MIN_NS;
			continue;
		}
		if (drained(p))
			break;
		idle_wait(p);
	}

	/*
	 * Documents that never ended: their written lines are durable, just
	 * close. Batches still held wait for lines no worker will send now;
	 * unacknowledged, they will be sent again.
	 */
	checkpoint(p);          /* a clean stop leaves nothing to replay */
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++) {
		held_drop_all(p, &p->slots[i], i, "at shutdown");
		sl_doc_files_close(&p->slots[i].files);
	}
	return NULL;
}

/* ---- start / stop --------------------------------------------------- */

/* mkdir -p the data dir and write a probe file in it. */
static int
check_data_dir(const char *dir, char *err, size_t errlen)
{
	char probe[FILE_PATH_MAX];

	if (dir[0] == '\0') {
		snprintf(err, errlen, "[storage] data_dir is empty; set it to a writable directory");
		return -1;
	}
	if (sl_mkdir_p(dir) != 0) {
		snprintf(err, errlen, "[storage] data_dir '%s': cannot create it: %s; create it or "
			 "point data_dir at a writable directory", dir, strerror(errno));
		return -1;
	}
	snprintf(probe, sizeof(probe), "%s/.sluice-probe.%ld", dir, (long)getpid());
	int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, "x", 1) != 1) {
		snprintf(err, errlen, "[storage] data_dir '%s' is not writable: %s; fix its "
			 "permissions or point data_dir elsewhere", dir, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(probe);
		}
		return -1;
	}
	close(fd);
	unlink(probe);
	return 0;
}

static void
persist_free(struct persist *p)
{
	free(p->slots);
	free(p->held);
	free(p->rb);
	free(p->wv);
	free(p->wnext);
	free(p->ack_now);
	free(p->ackv);
	free(p->touched);
	free(p->wops);
	free(p->finish_q);
	for (uint32_t i = 0; i < p->n_closing; i++)
		close(p->closing[i]);
	free(p->closing);
	sl_jw_free(&p->jw);
	free(p->stage);
	memset(p, 0, sizeof(*p));
}

static int
persist_alloc(struct persist *p)
{
	/* every batch alive is a pool object: the pool bounds what we hold and queue */
	p->cap_wv = p->rt->result_pool->size;
	p->cap_rb = p->batch_records < p->cap_wv ? p->batch_records : p->cap_wv;
	p->stage_cap = STAGE_MIN;
	p->slots = calloc(SL_MAX_DOCS, sizeof(*p->slots));
	p->cap_held = p->cap_wv;
	p->held = calloc(p->cap_held, sizeof(*p->held));
	p->rb = calloc(p->cap_rb, sizeof(*p->rb));
	p->wv = calloc(p->cap_wv, sizeof(*p->wv));
	p->wnext = calloc(p->cap_wv, sizeof(*p->wnext));
	p->ack_now = calloc(p->cap_wv, sizeof(*p->ack_now));
	p->ackv = calloc(p->cap_wv, sizeof(*p->ackv));
	p->touched = calloc(p->cap_wv + SL_MAX_DOCS, sizeof(*p->touched));
	p->finish_q = calloc(SL_MAX_DOCS, sizeof(*p->finish_q));
	p->stage = malloc(p->stage_cap);
	if (!p->slots || !p->held || !p->rb || !p->wv || !p->wnext || !p->ack_now || !p->ackv ||
	    !p->touched || !p->stage || !p->finish_q)
		return -1;
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++)
		slot_clear(&p->slots[i], 0, SLOT_FREE);
	for (uint32_t i = 0; i < p->cap_held; i++)
		p->held[i].next = i + 1 < p->cap_held ? (int32_t)(i + 1) : -1;
	p->held_free = p->cap_held > 0 ? 0 : -1;
	return 0;
}

int
sl_persist_start(struct sl_runtime *rt, struct sl_recovery *rec, char *err, size_t errlen)
{
	struct persist *p = &g_persist;

	if (p->started) {
		snprintf(err, errlen, "persistence already started");
		return -1;
	}
	if (check_data_dir(rt->cfg->data_dir, err, errlen) != 0)
		return -1;

	memset(p, 0, sizeof(*p));
	p->rt = rt;
	p->fault_rng = 0x9e3779b97f4a7c15ull;
	p->batch_records = rt->cfg->batch_records ? rt->cfg->batch_records : PERSIST_DEFAULT_RECORDS;
	p->held_max = (uint64_t)(rt->cfg->held_max_mb ? rt->cfg->held_max_mb : 256) << 20;
	p->batch_limit = RTE_MIN(RTE_MAX(rt->cfg->batch_min_records, 1u), p->batch_records);
	rt->persist_stats.batch_limit = p->batch_limit;
	p->idle_ns = IDLE_SLEEP_MIN_NS;
	p->rec = rec;
	p->jfd_registered = -1;
	p->segment_bytes = (uint64_t)(rt->cfg->journal_segment_mb ? rt->cfg->journal_segment_mb : 64) << 20;
	sl_jw_init(&p->jw, rt->cfg->data_dir, sl_recovery_next_seq(rec));
	rt->persist_stats.recovered_docs = sl_recovery_unfinished(rec);
	rt->persist_stats.recovered_records = sl_recovery_records(rec);
	if (persist_alloc(p) != 0) {
		snprintf(err, errlen, "out of memory for the persistence buffers (batch_records = %"
			 PRIu32 ", %u result batches)", p->batch_records, p->cap_wv);
		persist_free(p);
		return -1;
	}

	int rc = io_uring_queue_init(PERSIST_QUEUE_DEPTH, &p->ring, 0);
	if (rc < 0) {
		snprintf(err, errlen, "io_uring_queue_init(%u): %s; io_uring may be disabled "
			 "(sysctl kernel.io_uring_disabled, seccomp in containers) or the "
			 "locked-memory limit too low (ulimit -l)", PERSIST_QUEUE_DEPTH, strerror(-rc));
		persist_free(p);
		return -1;
	}

	rc = pthread_create(&p->thread, NULL, persist_main, p);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the persistence thread: %s", strerror(rc));
		io_uring_queue_exit(&p->ring);
		persist_free(p);
		return -1;
	}
	pthread_setname_np(p->thread, "sl-persist");
	p->started = true;
	return 0;
}

void
sl_persist_stop(struct sl_runtime *rt)
{
	struct persist *p = &g_persist;

	if (!p->started || p->rt != rt)
		return;
	pthread_join(p->thread, NULL);
	io_uring_queue_exit(&p->ring);
	persist_free(p);
}
