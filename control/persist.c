/*
 * persist.c — the io_uring writer: results become JSON lines in
 * <data>/<tenant>/<document>/<revision>.results, durable before they are
 * acknowledged.
 *
 * One thread ("sl-persist") owns the ring and every result file. Its
 * loop, in rounds:
 *
 *   1. drain END messages (to_persist): a document's line count is known;
 *   2. dequeue result batches from the workers' rings, up to
 *      cfg->batch_records records;
 *   3. group them per document, format each document's records into one
 *      contiguous region of a staging buffer, and submit one write per
 *      document at the end of its file;
 *   4. hand batches of "ack = processed" tenants to the websocket thread
 *      as soon as the writes are submitted;
 *   5. when every write is complete, one IORING_FSYNC_DATASYNC per file;
 *   6. then hand over the other batches, and for every document that has
 *      ended with all its lines durable, close its file and send the
 *      SL_RB_SUMMARY batch (always after that document's results).
 *
 * A failing sink (ENOSPC, EIO) never loses or acknowledges anything: the
 * round is retried with a growing back-off until it succeeds, and the
 * workers, whose result rings fill up meanwhile, feel the pressure.
 *
 * Result batches are not freed here: they pass to rt->acks and the
 * websocket thread returns them to rt->result_pool.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dataplane/batch.h"
#include "dataplane/doc.h"
#include "dataplane/msg.h"
#include "dataplane/runtime.h"
#include "dirs.h"
#include "persist.h"

#define PERSIST_QUEUE_DEPTH 256u          /* io_uring entries; also our in-flight cap */
#define PERSIST_DEFAULT_RECORDS 1024u      /* if the config left batch_records at 0 */
#define PERSIST_MSG_BURST 32u
#define PERSIST_RESULT_BURST 32u           /* batches per worker per dequeue: keep it fair */
#define REC_MAX 512u                       /* one JSON line, at most */
#define DETAIL_MAX 256u                    /* escaped reason text, at most */
#define FILE_PATH_MAX (SL_PATH_MAX + 2 * SL_NAME_MAX + 48)

#define IDLE_SPINS 64u
#define IDLE_SLEEP_MIN_NS 10000ull          /* 10 us */
#define IDLE_SLEEP_MAX_NS 1000000ull        /* 1 ms */
#define ERR_BACKOFF_MIN_NS 1000000ull       /* 1 ms */
#define ERR_BACKOFF_MAX_NS 1000000000ull    /* 1 s */
#define FULL_RETRY_NS 100000ull             /* acks ring full or pool empty: 100 us */

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
	int fd;                  /* -1 until the first result */
	uint64_t off;            /* where the next write goes */
	uint64_t persisted, ok, errors;     /* durable lines */
	uint64_t total;          /* lines in the document (END) */
	uint32_t fail_code;      /* slp_code from END */

	/* the current round only (valid when round == persist.round) */
	uint64_t round;
	int32_t first, last;     /* chain of batch indexes, through persist.next */
	uint64_t r_records, r_ok, r_errors;
};

enum op_kind { OP_WRITE = 0, OP_FSYNC = 1 };
enum op_state { OP_IDLE = 0, OP_PENDING, OP_INFLIGHT, OP_DONE, OP_FAILED };

/* One write (a document's region of the staging buffer) or one fsync. */
struct io_op {
	uint8_t kind;
	uint8_t state;
	int fd;
	uint32_t slot;
	int err;                 /* positive errno when FAILED */
	const char *buf;
	uint32_t len, done;
	uint64_t off;
};

struct persist {
	struct sl_runtime *rt;
	struct io_uring ring;
	pthread_t thread;
	bool started;

	uint32_t batch_records;
	struct doc_slot *slots;              /* [SL_MAX_DOCS] */
	uint64_t round;

	/* the round being written */
	struct sl_result_batch **rb;         /* [cap_rb]; NULL once dropped */
	int32_t *next;                       /* [cap_rb] chain per document */
	uint8_t *ack_now;                    /* [cap_rb] tenant acks on submit */
	struct sl_result_batch **ackv;       /* [cap_rb] scratch for enqueue */
	uint32_t n_rb, cap_rb;
	uint32_t *touched;                   /* [cap_rb] slots touched this round */
	uint32_t n_touched;
	struct io_op *ops;                   /* [2 * cap_rb]: writes, then fsyncs */
	char *stage;
	size_t stage_cap, stage_used;
	uint32_t inflight;
	unsigned rr;                         /* worker to dequeue from first */

	struct sl_msg msgs[PERSIST_MSG_BURST];

	unsigned idle_spins;
	uint64_t idle_ns;
};

/* One writer per process: persist.h has no handle, so the state lives here. */
static struct persist g_persist;

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

/* <data>/<tenant>/<doc> of a slot; -1 if it does not fit. */
static int
doc_dir(const struct persist *p, uint32_t idx, char *out, size_t cap)
{
	const struct sl_doc *d = &p->rt->docs->docs[idx];
	int n = snprintf(out, cap, "%s/%s/%s", p->rt->cfg->data_dir, tenant_name(p->rt, d->tenant),
			 d->name);

	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* <data>/<tenant>/<doc>/<revision>.results of a slot, for opening and for messages. */
static int
doc_file(const struct persist *p, uint32_t idx, char *out, size_t cap)
{
	int n = doc_dir(p, idx, out, cap);

	if (n < 0)
		return -1;
	int m = snprintf(out + n, cap - (size_t)n, "/%" PRIu64 ".results",
			 p->rt->docs->docs[idx].revision);
	return m < 0 || (size_t)(n + m) >= cap ? -1 : n + m;
}

/* Back-off after a storage error: 1 ms, doubling, at most 1 s. */
static void
error_backoff(struct persist *p, uint64_t *delay)
{
	p->rt->persist_stats.retries++;
	sleep_ns(*delay);
	*delay = *delay * 2 > ERR_BACKOFF_MAX_NS ? ERR_BACKOFF_MAX_NS : *delay * 2;
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

/* Hand over this round's batches whose tenant policy is (or is not) ack-on-submit. */
static void
acks_push_round(struct persist *p, bool on_submit)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < p->n_rb; i++) {
		if (p->rb[i] == NULL || (p->ack_now[i] != 0) != on_submit)
			continue;
		p->ackv[n++] = p->rb[i];
		p->rb[i] = NULL;           /* no longer ours */
	}
	acks_push(p, p->ackv, n);
}

/* ---- per-document state --------------------------------------------- */

static void
slot_reset(struct doc_slot *s, uint32_t gen)
{
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->first = s->last = -1;
	s->gen = gen;
	s->phase = SLOT_ACTIVE;
}

/* Give back the batches of a slot's chain in this round (their document is gone). */
static void
drop_chain(struct persist *p, struct doc_slot *s)
{
	for (int32_t j = s->first; j >= 0; j = p->next[j]) {
		rte_mempool_put(p->rt->result_pool, p->rb[j]);
		p->rb[j] = NULL;
	}
	s->first = s->last = -1;
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
			slot_reset(s, gen);
			if (in_round)
				s->round = p->round;   /* already in the touched list */
			return s;
		}
		slot_reset(s, gen);
		return s;
	}
	return NULL;
}

/* If the document has ended and every line is durable: close it and send its summary. */
static void
slot_maybe_finish(struct persist *p, uint32_t idx)
{
	struct sl_runtime *rt = p->rt;
	struct doc_slot *s = &p->slots[idx];
	void *obj = NULL;

	if (s->phase != SLOT_ACTIVE || !s->ended || s->persisted < s->total)
		return;
	if (s->persisted > s->total)
		fprintf(stderr, "sluice: persist: document slot %u: %" PRIu64 " results for %" PRIu64
			" lines\n", idx, s->persisted, s->total);
	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}

	while (rte_mempool_get(rt->result_pool, &obj) != 0) {
		if (rt->wake_ws)
			rt->wake_ws();     /* batches come back as it sends them */
		sleep_ns(FULL_RETRY_NS);
	}
	struct sl_result_batch *sum = obj;
	memset(sum, 0, offsetof(struct sl_result_batch, r));
	sum->kind = SL_RB_SUMMARY;
	sum->doc = idx;
	sum->doc_gen = s->gen;
	sum->tenant = rt->docs->docs[idx].tenant;
	sum->n = 0;
	sum->lines = s->total;
	sum->ok = s->ok;
	sum->errors = s->errors;
	sum->fail_code = s->fail_code;
	acks_push(p, &sum, 1);

	rt->persist_stats.docs_completed++;
	uint32_t gen = s->gen;
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->first = s->last = -1;
	s->gen = gen;
	s->phase = SLOT_FINISHED;
}

/* Open the document's result file at its end, creating directories as needed. */
static int
slot_open(struct persist *p, uint32_t idx, struct doc_slot *s)
{
	char dir[FILE_PATH_MAX], path[FILE_PATH_MAX];
	struct stat st;

	if (doc_dir(p, idx, dir, sizeof(dir)) < 0 || doc_file(p, idx, path, sizeof(path)) < 0) {
		fprintf(stderr, "sluice: persist: result path for document slot %u is longer than %d "
			"bytes; use a shorter [storage] data_dir\n", idx, FILE_PATH_MAX - 1);
		errno = ENAMETOOLONG;
		return -1;
	}
	if (sl_mkdir_p(dir) != 0) {
		fprintf(stderr, "sluice: persist: %s: cannot create directory: %s\n", dir,
			strerror(errno));
		return -1;
	}
	/* never O_TRUNC: results already there stay, we append after them */
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "sluice: persist: %s: cannot open: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/*
	 * fdatasync on the file does not make its directory entry durable:
	 * sync the document, tenant and data directories once per document so
	 * that a crash cannot lose a file whose lines were acknowledged.
	 */
	char *cut;
	for (int level = 0; level < 3; level++) {
		if (sl_fsync_dir(dir) != 0) {
			fprintf(stderr, "sluice: persist: %s: fsync of directory failed: %s\n", dir,
				strerror(errno));
			close(fd);
			return -1;
		}
		cut = strrchr(dir, '/');
		if (!cut || cut == dir)
			break;
		*cut = '\0';
	}
	s->fd = fd;
	s->off = (uint64_t)st.st_size;
	return 0;
}

/* ---- the round: group, format, write, sync ------------------------- */

/* Dequeue up to batch_records records of results, fairly across workers. */
static uint32_t
collect_results(struct persist *p)
{
	struct sl_runtime *rt = p->rt;
	unsigned nw = rt->n_workers;
	uint32_t records = 0;
	bool progress = true;

	p->n_rb = 0;
	while (progress && records < p->batch_records && p->n_rb < p->cap_rb) {
		progress = false;
		for (unsigned i = 0; i < nw; i++) {
			unsigned w = (p->rr + i) % nw;
			uint32_t want = (p->batch_records - records) / SL_BATCH_LINES;

			if (want == 0)
				want = 1;
			if (want > PERSIST_RESULT_BURST)
				want = PERSIST_RESULT_BURST;
			if (want > p->cap_rb - p->n_rb)
				want = p->cap_rb - p->n_rb;
			unsigned got = rte_ring_sc_dequeue_burst(rt->results[w], (void **)&p->rb[p->n_rb],
								 want, NULL);
			for (unsigned k = 0; k < got; k++) {
				struct sl_result_batch *b = p->rb[p->n_rb + k];
				if (b->n > SL_BATCH_LINES)
					b->n = SL_BATCH_LINES;   /* never read past r[] */
				records += b->n;
			}
			p->n_rb += got;
			progress |= got > 0;
			if (records >= p->batch_records || p->n_rb == p->cap_rb)
				break;
		}
	}
	p->rr++;
	return records;
}

/* Chain this round's batches per document slot; drop the ones for no live document. */
static void
group_batches(struct persist *p)
{
	struct sl_runtime *rt = p->rt;

	p->round++;
	p->n_touched = 0;
	for (uint32_t i = 0; i < p->n_rb; i++) {
		struct sl_result_batch *b = p->rb[i];
		struct doc_slot *s = NULL;

		if (b->doc < SL_MAX_DOCS)
			s = slot_get(p, b->doc, b->doc_gen);
		if (!s) {
			fprintf(stderr, "sluice: persist: results for document slot %" PRIu32
				" generation %" PRIu32 " which is not open (stale or invalid): "
				"dropped\n", b->doc, b->doc_gen);
			rte_mempool_put(rt->result_pool, b);
			p->rb[i] = NULL;
			continue;
		}
		p->ack_now[i] = b->tenant < rt->cfg->n_tenants &&
				rt->cfg->tenants[b->tenant].ack == SL_ACK_PROCESSED;
		p->next[i] = -1;
		if (s->round != p->round || s->first < 0) {
			if (s->round != p->round)
				p->touched[p->n_touched++] = b->doc;
			s->round = p->round;
			s->first = s->last = (int32_t)i;
			s->r_records = s->r_ok = s->r_errors = 0;
		} else {
			p->next[s->last] = (int32_t)i;
			s->last = (int32_t)i;
		}
	}
}

/* JSON string body: '"' and '\\' escaped, control bytes as \u00XX. */
static void
json_escape(char *out, size_t cap, const char *in)
{
	size_t o = 0;

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		char tmp[8];
		int n;

		if (c == '"' || c == '\\')
			n = snprintf(tmp, sizeof(tmp), "\\%c", c);
		else if (c < 0x20)
			n = snprintf(tmp, sizeof(tmp), "\\u%04x", c);
		else
			n = snprintf(tmp, sizeof(tmp), "%c", c);
		if (o + (size_t)n >= cap)
			break;
		memcpy(out + o, tmp, (size_t)n);
		o += (size_t)n;
	}
	out[o] = '\0';
}

/* One result as one JSON line; returns its length (< REC_MAX). */
static size_t
format_result(char *out, const struct sl_result *r)
{
	int n;

	if (r->status == SL_ST_OK) {
		n = snprintf(out, REC_MAX, "{\"line\":%" PRIu64 ",\"status\":\"ok\",\"fields\":%" PRIu32
			     "}\n", r->line, r->fields);
	} else {
		char text[DETAIL_MAX], detail[DETAIL_MAX], reason[SL_NAME_MAX];
		const char *name = sl_reason_name((enum sl_reason)r->reason);

		if (sl_result_reason_text(r, text, sizeof(text)) < 0)
			text[0] = '\0';
		text[sizeof(text) - 1] = '\0';
		json_escape(detail, sizeof(detail), text);
		json_escape(reason, sizeof(reason), name ? name : "unknown");
		n = snprintf(out, REC_MAX, "{\"line\":%" PRIu64 ",\"status\":\"error\",\"reason\":\"%s\""
			     ",\"detail\":\"%s\",\"fields\":%" PRIu32 "}\n", r->line, reason, detail,
			     r->fields);
	}
	/* cannot happen with the bounds above; keep the line well-formed anyway */
	if (n < 0 || (size_t)n >= REC_MAX)
		n = snprintf(out, REC_MAX, "{\"line\":%" PRIu64 ",\"status\":\"%s\"}\n", r->line,
			     r->status == SL_ST_OK ? "ok" : "error");
	return (size_t)n;
}

/* Open files that have results this round; retry (with back-off) until they are. */
static void
open_touched(struct persist *p)
{
	uint64_t delay = ERR_BACKOFF_MIN_NS;

	for (uint32_t t = 0; t < p->n_touched; t++) {
		uint32_t idx = p->touched[t];
		struct doc_slot *s = &p->slots[idx];
		bool has_records = false;

		for (int32_t j = s->first; j >= 0 && !has_records; j = p->next[j])
			has_records = p->rb[j]->n > 0;
		if (!has_records || s->fd >= 0)
			continue;
		while (slot_open(p, idx, s) != 0) {
			p->rt->persist_stats.write_errors++;
			error_backoff(p, &delay);
		}
	}
}

/* Format each touched document's records into one region; prepare its write and fsync. */
static void
format_round(struct persist *p)
{
	uint32_t nt = p->n_touched;

	p->stage_used = 0;
	for (uint32_t t = 0; t < nt; t++) {
		uint32_t idx = p->touched[t];
		struct doc_slot *s = &p->slots[idx];
		size_t start = p->stage_used;

		for (int32_t j = s->first; j >= 0; j = p->next[j]) {
			const struct sl_result_batch *b = p->rb[j];
			for (uint16_t k = 0; k < b->n; k++) {
				p->stage_used += format_result(p->stage + p->stage_used, &b->r[k]);
				s->r_records++;
				if (b->r[k].status == SL_ST_OK)
					s->r_ok++;
				else
					s->r_errors++;
			}
		}

		struct io_op *w = &p->ops[t], *f = &p->ops[nt + t];
		uint32_t len = (uint32_t)(p->stage_used - start);
		*w = (struct io_op){ .kind = OP_WRITE, .fd = s->fd, .slot = idx,
				     .buf = p->stage + start, .len = len, .off = s->off,
				     .state = len ? OP_PENDING : OP_IDLE };
		*f = (struct io_op){ .kind = OP_FSYNC, .fd = s->fd, .slot = idx,
				     .state = OP_IDLE };
	}
}

static void
prep_op(struct io_uring_sqe *sqe, const struct io_op *op)
{
	if (op->kind == OP_WRITE)
		io_uring_prep_write(sqe, op->fd, op->buf + op->done, op->len - op->done,
				    op->off + op->done);
	else
		io_uring_prep_fsync(sqe, op->fd, IORING_FSYNC_DATASYNC);
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
			int res = cqe->res;

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
		if (doc_file(p, ops[i].slot, path, sizeof(path)) < 0)
			snprintf(path, sizeof(path), "(document slot %u)", ops[i].slot);
		fprintf(stderr, "sluice: persist: %s: %s failed: %s; results kept, not acknowledged, "
			"retrying in %" PRIu64 " ms\n", path, ops[i].kind == OP_WRITE ? "write" : "fdatasync",
			strerror(ops[i].err), delay / 1000000u);
		p->rt->persist_stats.write_errors++;
		ops[i].state = OP_PENDING;
		ops[i].err = 0;
	}
}

/* Write every region, then fdatasync every file; retry until both succeed. */
static void
write_and_sync(struct persist *p)
{
	uint32_t nt = p->n_touched;
	struct io_op *writes = p->ops, *syncs = p->ops + nt;
	uint64_t delay = ERR_BACKOFF_MIN_NS;
	bool acks_pending = true;

	for (;;) {
		while (run_ops(p, writes, nt, acks_pending) > 0) {
			acks_pending = false;
			report_and_rearm(p, writes, nt, delay);
			error_backoff(p, &delay);
		}
		acks_pending = false;

		uint32_t n_sync = 0;
		for (uint32_t t = 0; t < nt; t++) {
			syncs[t].state = writes[t].len ? OP_PENDING : OP_IDLE;
			n_sync += writes[t].len != 0;
		}
		uint32_t failed = run_ops(p, syncs, nt, false);
		p->rt->persist_stats.fsyncs += n_sync;
		if (failed == 0)
			return;

		report_and_rearm(p, syncs, nt, delay);
		error_backoff(p, &delay);
		/*
		 * After a failed fsync the kernel may have dropped the dirty
		 * pages and marked them clean: another fsync could succeed
		 * without our data on disk. Write the whole round again, at the
		 * same offsets, before syncing again.
		 */
		for (uint32_t t = 0; t < nt; t++) {
			writes[t].done = 0;
			writes[t].state = writes[t].len ? OP_PENDING : OP_IDLE;
		}
	}
}

/* The round is durable: advance offsets and counters. */
static void
commit_round(struct persist *p)
{
	for (uint32_t t = 0; t < p->n_touched; t++) {
		struct doc_slot *s = &p->slots[p->touched[t]];

		s->off += p->ops[t].len;
		s->persisted += s->r_records;
		s->ok += s->r_ok;
		s->errors += s->r_errors;
		s->first = s->last = -1;
	}
}

static void
persist_round(struct persist *p, uint32_t records)
{
	struct sl_persist_stats *st = &p->rt->persist_stats;

	group_batches(p);
	open_touched(p);
	format_round(p);

	uint64_t t0 = now_ns();
	write_and_sync(p);
	st->last_batch_ns = now_ns() - t0;

	commit_round(p);
	acks_push_round(p, false);
	for (uint32_t t = 0; t < p->n_touched; t++)
		slot_maybe_finish(p, p->touched[t]);

	st->batches++;
	st->records += records;
	st->bytes += p->stage_used;
	st->last_batch_records = records;
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
		s->fail_code = m->code;
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

	for (;;) {
		unsigned work = drain_messages(p);
		uint32_t records = collect_results(p);

		if (p->n_rb > 0) {
			persist_round(p, records);
			work++;
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

	/* documents that never ended: their lines are durable, just close */
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++)
		if (p->slots[i].fd >= 0)
			close(p->slots[i].fd);
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
	free(p->rb);
	free(p->next);
	free(p->ack_now);
	free(p->ackv);
	free(p->touched);
	free(p->ops);
	free(p->stage);
	memset(p, 0, sizeof(*p));
}

static int
persist_alloc(struct persist *p)
{
	p->cap_rb = p->batch_records;        /* worst case: one record per batch */
	p->stage_cap = (size_t)(p->batch_records + SL_BATCH_LINES) * REC_MAX;
	p->slots = calloc(SL_MAX_DOCS, sizeof(*p->slots));
	p->rb = calloc(p->cap_rb, sizeof(*p->rb));
	p->next = calloc(p->cap_rb, sizeof(*p->next));
	p->ack_now = calloc(p->cap_rb, sizeof(*p->ack_now));
	p->ackv = calloc(p->cap_rb, sizeof(*p->ackv));
	p->touched = calloc(p->cap_rb, sizeof(*p->touched));
	p->ops = calloc(2 * (size_t)p->cap_rb, sizeof(*p->ops));
	p->stage = malloc(p->stage_cap);
	if (!p->slots || !p->rb || !p->next || !p->ack_now || !p->ackv || !p->touched || !p->ops ||
	    !p->stage)
		return -1;
	for (uint32_t i = 0; i < SL_MAX_DOCS; i++) {
		p->slots[i].fd = -1;
		p->slots[i].first = p->slots[i].last = -1;
	}
	return 0;
}

int
sl_persist_start(struct sl_runtime *rt, char *err, size_t errlen)
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
	p->batch_records = rt->cfg->batch_records ? rt->cfg->batch_records : PERSIST_DEFAULT_RECORDS;
	p->idle_ns = IDLE_SLEEP_MIN_NS;
	if (persist_alloc(p) != 0) {
		snprintf(err, errlen, "out of memory for the persistence buffers (batch_records = %"
			 PRIu32 ")", p->batch_records);
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
