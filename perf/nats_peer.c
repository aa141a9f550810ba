/*
 * nats_peer.c — the job Sluice does, built the way a user would build it
 * on NATS JetStream instead, so perf/nats_vs_sluice.py can measure both on
 * the same machine with the same input in the same run.
 *
 *   build/perf/nats-peer --url nats://127.0.0.1:PORT [--workers W]
 *                        [--processor csv|tweet] [--tenant-columns N]
 *                        [--share DIR] [--tenant T] [--doc D]
 *                        [--inflight N] [--max-ack-pending N] [--timeout S]
 *                        [--json FILE] FILE
 *
 * The pieces, all in this process, each on its own connection:
 *   - a producer splits FILE with Sluice's own splitter (so both systems
 *     see exactly the same lines) and publishes each line to the stream
 *     subject docs.<tenant>.<doc> with js_PublishAsync, at most --inflight
 *     publishes unconfirmed by JetStream at a time. A message is
 *     "<line> <send ns> <split flags> " followed by the line's bytes;
 *   - W workers are a queue group on one durable push consumer (each
 *     message goes to one of them; at most --max-ack-pending unacked in
 *     their hands). Each, on its own connection and thread, runs the
 *     line through the SAME processor code sluiced runs (sluice_proc,
 *     configured from a sluice.conf tenant section), publishes {"line":N,"status":"ok|error"} on
 *     acks.<tenant>.<doc> with a core NATS publish (what a user does for
 *     notifications), then acks the JetStream message;
 *   - a subscriber on acks.<tenant>.<doc> records when each line's first
 *     ACK arrived and counts duplicates (redeliveries can cause them).
 *
 * Reported: lines/s from the first publish to the last line's first ACK;
 * ACK latency (ACK arrival - send time, both CLOCK_MONOTONIC in this
 * process) p50/p90/p99/p99.9/max, exact (all samples sorted); the same for
 * "stored" (send -> JetStream's publish acknowledgement); exactly-once:
 * lines ACKed, missing, duplicate ACKs, consumer redeliveries.
 *
 * Durability, stated because it decides what the numbers mean: the stream
 * uses file storage (the closest thing to Sluice's durable persistence),
 * but nats-server 2.9 acknowledges a publish once the message is written
 * to its block file (the page cache), not after an fsync. It syncs in the
 * background (on a timer and when it closes a block) and 2.9 has no option
 * to sync every message (jetstream { sync_interval } arrived in 2.10).
 * Sluice sends its ACKs only after the result is fdatasync'ed. So the
 * JetStream side here is less durable than Sluice, and nothing can make it
 * equal on this server version; the output says so.
 *
 * What the peer does not do that sluiced does: write result files (the
 * processor's output records are produced and dropped here).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "config/config.h"
#include "dataplane/processor.h"
#include "dataplane/split.h"

#define STREAM "SLUICE_PEER"
#define CONSUMER "workers"
#define PREFIX_MAX 64          /* "<line> <ns> <flags> " */

#define DURABILITY_NATS "file storage; publish acknowledged after write() to the block file, no fsync per " \
	"message (nats-server 2.9 syncs in the background; per-message sync is not configurable before 2.10)"

struct opts {
	const char *url, *file, *share, *tenant, *doc, *processor, *json;
	unsigned workers, columns, inflight, max_ack_pending, timeout_s;
};

/* The document, split into lines (a copy of each line, back to back). */
struct doc {
	char *buf;
	size_t len, cap;
	uint64_t *off;
	uint32_t *n, *flags;
	size_t count, count_cap;
	uint64_t file_bytes;          /* size of FILE, terminators included */
};

/* Everything the threads share. Per-line arrays are indexed by line number (1-based). */
struct run {
	struct opts o;
	struct doc d;
	struct sl_config cfg;
	const struct sl_processor *proc;
	char doc_subj[256], ack_subj[256];

	_Atomic uint64_t *sent_ns;    /* producer: when the line was published */
	_Atomic uint64_t *stored_ns;  /* JetStream's publish ack arrived */
	uint64_t *ack_ns;             /* subscriber only: first ACK of the line */
	uint32_t *acks;               /* subscriber only: ACKs seen for the line */
	uint64_t unique, dup, bogus, ok, errors;   /* subscriber only */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t inflight;            /* publishes not yet confirmed (under mu) */
	uint64_t last_ack_ns;         /* under mu */
	bool all_acked;               /* under mu */

	atomic_uint_fast64_t pub_errors, proc_lines, ack_errors;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Print "nats-peer: <message>[: <NATS status> (<last library error>)]" and exit 1. */
static void die(natsStatus s, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void
die(natsStatus s, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "nats-peer: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (s != NATS_OK)
		fprintf(stderr, ": %s (%s)", natsStatus_GetText(s), nats_GetLastError(NULL));
	fprintf(stderr, "\n");
	exit(1);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: nats-peer --url nats://HOST:PORT [--workers W] [--processor csv|tweet]\n"
		"                 [--tenant-columns N] [--share DIR] [--tenant T] [--doc D]\n"
		"                 [--inflight N] [--max-ack-pending N] [--timeout S]\n"
		"                 [--json FILE] FILE\n"
		"\n"
		"Runs FILE through a JetStream pipeline (producer -> stream -> W workers on one\n"
		"durable push consumer running Sluice's processor -> per-line ACKs on a core\n"
		"subject -> subscriber) against a nats-server started with -js, and reports\n"
		"lines/s and ACK latency percentiles.\n"
		"\n"
		"  --workers W          worker threads sharing the consumer (default 4)\n"
		"  --processor P        csv (default) or tweet, Sluice's built-in processors\n"
		"  --tenant-columns N   csv: expected column count, as `columns` in sluice.conf (default 4; 0 = any)\n"
		"  --share DIR          Sluice's share directory (tweet lexicon; default share/sluice)\n"
		"  --inflight N         unconfirmed JetStream publishes at a time (default 256)\n"
		"  --max-ack-pending N  consumer's unacknowledged messages limit (default 16384)\n"
		"  --timeout S          give up after S s without a new ACK (default 60)\n");
}

static unsigned
num(const char *name, const char *v, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long x = strtoul(v, &end, 10);

	if (*v == '\0' || *end != '\0' || x < lo || x > hi) {
		fprintf(stderr, "nats-peer: %s '%s': expected a whole number from %u to %u\n", name, v, lo, hi);
		exit(2);
	}
	return (unsigned)x;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "url", required_argument, NULL, 'u' }, { "workers", required_argument, NULL, 'w' },
		{ "processor", required_argument, NULL, 'p' }, { "tenant-columns", required_argument, NULL, 'c' },
		{ "share", required_argument, NULL, 's' }, { "tenant", required_argument, NULL, 't' },
		{ "doc", required_argument, NULL, 'd' },
		{ "inflight", required_argument, NULL, 'i' }, { "max-ack-pending", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 'T' }, { "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .share = "share/sluice", .tenant = "bench", .doc = "doc", .processor = "csv",
			    .workers = 4, .columns = 4, .inflight = 256,
			    .max_ack_pending = 16384, .timeout_s = 60 };
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'u': o->url = optarg; break;
		case 'w': o->workers = num("--workers", optarg, 1, 256); break;
		case 'p': o->processor = optarg; break;
		case 'c': o->columns = num("--tenant-columns", optarg, 0, 4096); break;
		case 's': o->share = optarg; break;
		case 't': o->tenant = optarg; break;
		case 'd': o->doc = optarg; break;
		case 'i': o->inflight = num("--inflight", optarg, 1, 1000000); break;
		case 'm': o->max_ack_pending = num("--max-ack-pending", optarg, 1, 10000000); break;
		case 'T': o->timeout_s = num("--timeout", optarg, 1, 86400); break;
		case 'j': o->json = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (o->url == NULL || optind != argc - 1) {
		usage(stderr);
		exit(2);
	}
	o->file = argv[optind];
	if (strcmp(o->processor, "csv") != 0 && strcmp(o->processor, "tweet") != 0) {
		fprintf(stderr, "nats-peer: --processor '%s': expected csv or tweet\n", o->processor);
		exit(2);
	}
	/* subject tokens: no '.', '*', '>' or spaces, or the subject means something else */
	for (const char *n = o->tenant; n; n = n == o->tenant ? o->doc : NULL)
		if (*n == '\0' || strpbrk(n, ".*> \t") != NULL) {
			fprintf(stderr, "nats-peer: name '%s' cannot be a NATS subject token; use letters, digits, - or _\n", n);
			exit(2);
		}
}

/* The tenant's processor configuration, through Sluice's own config parser. */
static void
load_config(struct run *r)
{
	char path[] = "/tmp/nats-peer-conf-XXXXXX", text[1024], err[512];
	int fd = mkstemp(path), n;

	if (strcmp(r->o.processor, "tweet") == 0)
		n = snprintf(text, sizeof(text), "[dataplane]\nip = 198.18.0.2\n[storage]\ndata_dir = /tmp\n"
			     "[tenant.%s]\ntoken = nats-peer-token-0123456789\nprocessor = tweet\n", r->o.tenant);
	else
		n = snprintf(text, sizeof(text), "[dataplane]\nip = 198.18.0.2\n[storage]\ndata_dir = /tmp\n"
			     "[tenant.%s]\ntoken = nats-peer-token-0123456789\ncolumns = %u\n", r->o.tenant,
			     r->o.columns);
	if (fd < 0 || write(fd, text, (size_t)n) != n) {
		perror("nats-peer: temporary config");
		exit(1);
	}
	close(fd);
	if (sl_config_load(path, &r->cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "nats-peer: processor config: %s\n", err);
		unlink(path);
		exit(1);
	}
	unlink(path);
	r->proc = sl_processor_builtin(r->o.processor);
	if (r->proc == NULL)
		die(NATS_OK, "no built-in processor '%s'", r->o.processor);
}

static void
doc_add(void *ctx, const char *line, uint32_t len, uint32_t flags)
{
	struct doc *d = ctx;

	if (d->len + len > d->cap) {
		d->cap = (d->cap + len) * 2;
		d->buf = realloc(d->buf, d->cap);
	}
	if (d->count == d->count_cap) {
		d->count_cap = d->count_cap ? d->count_cap * 2 : 65536;
		d->off = realloc(d->off, d->count_cap * sizeof(*d->off));
		d->n = realloc(d->n, d->count_cap * sizeof(*d->n));
		d->flags = realloc(d->flags, d->count_cap * sizeof(*d->flags));
	}
	if (d->buf == NULL || d->off == NULL || d->n == NULL || d->flags == NULL)
		die(NATS_OK, "out of memory splitting %s", "the document");
	memcpy(d->buf + d->len, line, len);
	d->off[d->count] = d->len;
	d->n[d->count] = len;
	d->flags[d->count] = flags;
	d->len += len;
	d->count++;
}

/* Split FILE the way sluiced does, so both see the same lines. */
static void
load_doc(struct run *r)
{
	FILE *f = fopen(r->o.file, "rb");
	static char chunk[1 << 16];
	char *carry = malloc(r->cfg.max_line_bytes);
	struct sl_splitter s;
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "nats-peer: %s: %s\n", r->o.file, strerror(errno));
		exit(1);
	}
	sl_split_init(&s, carry, r->cfg.max_line_bytes);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		sl_split_feed(&s, chunk, n, doc_add, &r->d);
	sl_split_finish(&s, doc_add, &r->d);
	r->d.file_bytes = (uint64_t)ftello(f);
	fclose(f);
	free(carry);
	if (r->d.count == 0)
		die(NATS_OK, "%s: the document has no lines", r->o.file);
}

static natsConnection *
connect_to(const char *url, const char *what)
{
	natsOptions *no = NULL;
	natsConnection *nc = NULL;
	natsStatus s = natsOptions_Create(&no);

	if (s == NATS_OK)
		s = natsOptions_SetURL(no, url);
	if (s == NATS_OK)
		s = natsOptions_SetName(no, what);
	/* the subscriber may receive a burst of ACKs: never drop them as a "slow consumer" */
	if (s == NATS_OK)
		s = natsOptions_SetMaxPendingMsgs(no, 1 << 20);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, no);
	natsOptions_Destroy(no);
	if (s != NATS_OK) {
		fprintf(stderr, "nats-peer: %s: cannot connect to %s: %s; is nats-server running there with -js?\n",
			what, url, natsStatus_GetText(s));
		exit(1);
	}
	return nc;
}

/* A fresh stream and durable push consumer (left-overs of an earlier run are deleted). */
static void
setup_stream(struct run *r, jsCtx *js)
{
	jsStreamConfig sc;
	jsConsumerConfig cc;
	jsErrCode jerr = 0;
	const char *subjects[1] = { r->doc_subj };
	natsStatus s;

	js_DeleteStream(js, STREAM, NULL, NULL);   /* absent the first time: not an error */
	jsStreamConfig_Init(&sc);
	sc.Name = STREAM;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;            /* on disk, like Sluice's persistence */
	sc.Retention = js_WorkQueuePolicy;      /* a job queue: a message goes once acked */
	sc.Replicas = 1;
	s = js_AddStream(NULL, js, &sc, NULL, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "nats-peer: creating stream %s (JetStream error %d): %s (%s); "
			"is nats-server started with -js (JetStream enabled)?\n", STREAM, (int)jerr,
			natsStatus_GetText(s), nats_GetLastError(NULL));
		exit(1);
	}
	jsConsumerConfig_Init(&cc);
	cc.Durable = CONSUMER;
	cc.AckPolicy = js_AckExplicit;
	cc.DeliverPolicy = js_DeliverAll;
	cc.FilterSubject = r->doc_subj;
	cc.MaxAckPending = r->o.max_ack_pending;   /* the bound on lines in the workers' hands */
	cc.DeliverSubject = "peer.deliver.workers";  /* push: delivered to ... */
	cc.DeliverGroup = CONSUMER;                  /* ... one member of the workers' queue group */
	s = js_AddConsumer(NULL, js, STREAM, &cc, NULL, &jerr);
	if (s != NATS_OK) {
		fprintf(stderr, "nats-peer: creating consumer %s (JetStream error %d): %s (%s)\n", CONSUMER,
			(int)jerr, natsStatus_GetText(s), nats_GetLastError(NULL));
		exit(1);
	}
}

/* Parse "<line> <ns> <flags> " at the start of a message; returns the payload, or NULL. */
static const char *
parse_prefix(const char *p, int len, uint64_t *line, uint64_t *ns, uint32_t *flags)
{
	const char *end = p + len;
	char *e;

	if (len <= 0 || memchr(p, ' ', (size_t)len) == NULL)
		return NULL;
	*line = strtoull(p, &e, 10);
	if (e >= end || *e != ' ')
		return NULL;
	*ns = strtoull(e + 1, &e, 10);
	if (e >= end || *e != ' ')
		return NULL;
	*flags = (uint32_t)strtoul(e + 1, &e, 10);
	if (e >= end || *e != ' ')
		return NULL;
	return e + 1;
}

/* ---- producer side ---- */

/* JetStream confirmed (stored) or refused a publish. Runs on a library thread. */
static void
on_puback(jsCtx *js, natsMsg *m, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
	struct run *r = closure;
	uint64_t line, ns, t = now_ns();
	uint32_t flags;

	(void)js;
	if (pa != NULL && parse_prefix(natsMsg_GetData(m), natsMsg_GetDataLength(m), &line, &ns, &flags) != NULL &&
	    line >= 1 && line <= r->d.count)
		atomic_store_explicit(&r->stored_ns[line], t, memory_order_relaxed);
	if (pae != NULL)
		atomic_fetch_add(&r->pub_errors, 1);
	natsMsg_Destroy(m);
	pthread_mutex_lock(&r->mu);
	r->inflight--;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void
produce(struct run *r, jsCtx *js)
{
	size_t cap = PREFIX_MAX + r->cfg.max_line_bytes;
	char *msg = malloc(cap);

	for (size_t i = 0; i < r->d.count; i++) {
		uint64_t line = i + 1, t;
		int k;
		natsStatus s;

		/* our own bound, so the send time is taken when the message can really go */
		pthread_mutex_lock(&r->mu);
		while (r->inflight >= r->o.inflight)
			pthread_cond_wait(&r->cv, &r->mu);
		r->inflight++;
		pthread_mutex_unlock(&r->mu);
		t = now_ns();
		atomic_store_explicit(&r->sent_ns[line], t, memory_order_relaxed);
		k = snprintf(msg, PREFIX_MAX, "%" PRIu64 " %" PRIu64 " %" PRIu32 " ", line, t, r->d.flags[i]);
		memcpy(msg + k, r->d.buf + r->d.off[i], r->d.n[i]);
		s = js_PublishAsync(js, r->doc_subj, msg, k + (int)r->d.n[i], NULL);
		if (s != NATS_OK)
			die(s, "publishing to %s", r->doc_subj);
	}
	free(msg);
}

/* ---- ACK subscriber ---- */

static void
on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	struct run *r = closure;
	uint64_t t = now_ns(), line = 0;
	const char *p = natsMsg_GetData(m), *q;

	(void)nc;
	(void)sub;
	/* {"line":N,"status":"ok|error"} — written by our workers, so a fixed shape */
	q = p ? strstr(p, "\"line\":") : NULL;
	if (q != NULL)
		line = strtoull(q + 7, NULL, 10);
	if (line < 1 || line > r->d.count) {
		r->bogus++;
	} else if (r->acks[line]++ > 0) {
		r->dup++;
	} else {
		r->ack_ns[line] = t;
		if (strstr(q, "\"status\":\"ok\"") != NULL)
			r->ok++;
		else
			r->errors++;
		if (++r->unique == r->d.count) {
			pthread_mutex_lock(&r->mu);
			r->all_acked = true;
			r->last_ack_ns = t;
			pthread_cond_broadcast(&r->cv);
			pthread_mutex_unlock(&r->mu);
		} else if ((r->unique & 1023) == 0) {
			pthread_mutex_lock(&r->mu);
			r->last_ack_ns = t;      /* progress, for the no-progress timeout */
			pthread_mutex_unlock(&r->mu);
		}
	}
	natsMsg_Destroy(m);
}

/* ---- workers ---- */

/*
 * A worker is a push subscription in the consumer's queue group, on its
 * own connection: libnats runs its callback on the subscription's own
 * thread, so W workers process W lines at once, each with its own
 * processor state (as sluiced's workers have). A pull consumer shared by
 * worker threads would be the other way to build it, but libnats 3.4.1's
 * natsSubscription_Fetch returned more messages than the batch asked for
 * (and overran its own array) with several pullers on one consumer.
 */
struct worker {
	struct run *r;
	unsigned index;
	natsConnection *nc;
	jsCtx *js;
	natsSubscription *sub;
	void *state;                  /* the processor's, for this worker only */
	char data[SL_RESULT_DATA];    /* output records of the line being processed (dropped) */
	struct sl_rec_ref recs[SL_RESULT_RECS];
};

static void
on_line(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	struct worker *w = closure;
	struct run *r = w->r;
	const char *payload;
	uint64_t line, ns;
	uint32_t flags;
	struct sl_result res;
	struct sl_rec_out out = { w->data, sizeof(w->data), 0, 0, SL_RESULT_RECS, w->recs, 0, 0 };
	char ack[96];
	natsStatus s;
	int n;

	(void)sub;
	payload = parse_prefix(natsMsg_GetData(m), natsMsg_GetDataLength(m), &line, &ns, &flags);
	if (payload == NULL) {
		natsMsg_Term(m, NULL);   /* not ours: never redeliver it */
		natsMsg_Destroy(m);
		return;
	}
	struct sl_line_in in = { payload, (uint32_t)(natsMsg_GetDataLength(m) - (payload - natsMsg_GetData(m))),
				 flags, line };

	memset(&res, 0, sizeof(res));
	if (r->proc->process(w->state, &in, &res, &out, line) != SL_PROC_DONE)
		die(NATS_OK, "processor %s went pending: only csv and tweet are supported", r->proc->name);
	n = snprintf(ack, sizeof(ack), "{\"line\":%" PRIu64 ",\"status\":\"%s\"}", line,
		     res.status == SL_ST_OK && !out.overflow ? "ok" : "error");
	/* result first, then the JetStream ack: at-least-once, never at-most-once */
	s = natsConnection_Publish(nc, r->ack_subj, ack, n);
	if (s == NATS_OK)
		s = natsMsg_Ack(m, NULL);
	if (s != NATS_OK)
		atomic_fetch_add(&r->ack_errors, 1);
	atomic_fetch_add_explicit(&r->proc_lines, 1, memory_order_relaxed);
	natsMsg_Destroy(m);
}

static void
worker_start(struct run *r, struct worker *w, unsigned index)
{
	char name[32], err[256] = "";
	struct sl_proc_env env = { SL_PROC_ABI_VERSION, index, 0, &r->cfg.tenants[0], &r->cfg, r->o.share,
				   err, sizeof(err) };
	jsSubOptions so;
	jsErrCode jerr = 0;
	natsStatus s;

	w->r = r;
	w->index = index;
	w->state = r->proc->init(&env);
	if (w->state == NULL)
		die(NATS_OK, "worker %u: processor %s: %s", index, r->proc->name, err);
	snprintf(name, sizeof(name), "nats-peer-worker-%u", index);
	w->nc = connect_to(r->o.url, name);
	s = natsConnection_JetStream(&w->js, w->nc, NULL);
	jsSubOptions_Init(&so);
	so.Stream = STREAM;
	so.Consumer = CONSUMER;      /* bind to the shared durable, never create one */
	so.Queue = CONSUMER;         /* the consumer's deliver group */
	so.ManualAck = true;         /* ack after the ACK is published, not when the callback returns */
	if (s == NATS_OK)
		s = js_Subscribe(&w->sub, w->js, r->doc_subj, on_line, w, NULL, &so, &jerr);
	/* in flight is bounded by the consumer's MaxAckPending, not by the client */
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(w->sub, -1, -1);
	if (s != NATS_OK)
		die(s, "worker %u: subscribing to consumer %s (JetStream error %d)", index, CONSUMER, (int)jerr);
}

/* Let the callbacks in progress finish, then let go of everything. */
static void
worker_stop(struct run *r, struct worker *w)
{
	if (natsSubscription_Drain(w->sub) == NATS_OK)
		natsSubscription_WaitForDrainCompletion(w->sub, 5000);
	natsConnection_FlushTimeout(w->nc, 2000);
	natsSubscription_Destroy(w->sub);   /* bound to a durable it did not create: the consumer stays */
	jsCtx_Destroy(w->js);
	natsConnection_Destroy(w->nc);
	if (r->proc->flush)
		r->proc->flush(w->state);
	if (r->proc->fini)
		r->proc->fini(w->state);
}

/* ---- report ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct pct {
	double p50, p90, p99, p999, max;   /* microseconds */
	size_t n;
};

/* Exact percentiles (nearest rank) of v[0..n), sorted in place. */
static struct pct
percentiles(uint64_t *v, size_t n)
{
	struct pct p = { 0 };

	if (n == 0)
		return p;
	qsort(v, n, sizeof(*v), cmp_u64);
#define RANK(q) (v[(size_t)((q) * (double)(n - 1) + 0.5)] / 1e3)
	p.p50 = RANK(0.50);
	p.p90 = RANK(0.90);
	p.p99 = RANK(0.99);
	p.p999 = RANK(0.999);
#undef RANK
	p.max = (double)v[n - 1] / 1e3;
	p.n = n;
	return p;
}

static void
json_pct(FILE *f, const char *name, const struct pct *p)
{
	fprintf(f, "  \"%s\": {\"samples\": %zu, \"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, \"p99_9\": %.1f, "
		"\"max\": %.1f},\n", name, p->n, p->p50, p->p90, p->p99, p->p999, p->max);
}

int
main(int argc, char **argv)
{
	static struct run r;
	natsConnection *pnc, *snc;
	natsSubscription *acks = NULL;
	jsCtx *js = NULL;
	jsOptions jo;
	jsConsumerInfo *ci = NULL;
	struct worker *w;
	uint64_t t_first, t_end, missing = 0, redelivered = 0;
	uint64_t *lat, *sto;
	size_t n_lat = 0, n_sto = 0;
	struct pct pa, ps;
	double secs;
	natsStatus s;

	parse_args(argc, argv, &r.o);
	load_config(&r);
	load_doc(&r);
	snprintf(r.doc_subj, sizeof(r.doc_subj), "docs.%s.%s", r.o.tenant, r.o.doc);
	snprintf(r.ack_subj, sizeof(r.ack_subj), "acks.%s.%s", r.o.tenant, r.o.doc);
	r.sent_ns = calloc(r.d.count + 1, sizeof(*r.sent_ns));
	r.stored_ns = calloc(r.d.count + 1, sizeof(*r.stored_ns));
	r.ack_ns = calloc(r.d.count + 1, sizeof(*r.ack_ns));
	r.acks = calloc(r.d.count + 1, sizeof(*r.acks));
	w = calloc(r.o.workers, sizeof(*w));
	if (!r.sent_ns || !r.stored_ns || !r.ack_ns || !r.acks || !w)
		die(NATS_OK, "out of memory for %s", "per-line state");
	pthread_mutex_init(&r.mu, NULL);
	pthread_cond_init(&r.cv, NULL);

	if ((s = nats_Open(-1)) != NATS_OK)
		die(s, "%s", "nats_Open");
	pnc = connect_to(r.o.url, "nats-peer-producer");
	jsOptions_Init(&jo);
	jo.PublishAsync.MaxPending = (int64_t)r.o.inflight + 1;  /* we bound it ourselves; never stall inside */
	jo.PublishAsync.AckHandler = on_puback;
	jo.PublishAsync.AckHandlerClosure = &r;
	if ((s = natsConnection_JetStream(&js, pnc, &jo)) != NATS_OK)
		die(s, "%s", "JetStream context");
	setup_stream(&r, js);

	snc = connect_to(r.o.url, "nats-peer-acks");
	s = natsConnection_Subscribe(&acks, snc, r.ack_subj, on_ack, &r);
	if (s == NATS_OK)
		s = natsSubscription_SetPendingLimits(acks, -1, -1);
	if (s == NATS_OK)
		s = natsConnection_Flush(snc);    /* the subscription is in place before any line goes */
	if (s != NATS_OK)
		die(s, "subscribing to %s", r.ack_subj);

	for (unsigned i = 0; i < r.o.workers; i++)
		worker_start(&r, &w[i], i);

	t_first = now_ns();
	produce(&r, js);

	/* wait for every line's ACK, or no progress for --timeout seconds */
	pthread_mutex_lock(&r.mu);
	r.last_ack_ns = now_ns();
	while (!r.all_acked) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r.cv, &r.mu, &ts);
		if (now_ns() - r.last_ack_ns > (uint64_t)r.o.timeout_s * 1000000000ull)
			break;
	}
	t_end = r.all_acked ? r.last_ack_ns : now_ns();
	pthread_mutex_unlock(&r.mu);

	/* let late duplicates (redeliveries) arrive before counting, then stop */
	usleep(200 * 1000);
	for (unsigned i = 0; i < r.o.workers; i++)
		worker_stop(&r, &w[i]);
	js_PublishAsyncComplete(js, NULL);
	natsConnection_FlushTimeout(snc, 2000);
	if (js_GetConsumerInfo(&ci, js, STREAM, CONSUMER, NULL, NULL) == NATS_OK && ci != NULL) {
		redelivered = (uint64_t)ci->NumRedelivered;
		jsConsumerInfo_Destroy(ci);
	}
	natsSubscription_Unsubscribe(acks);
	natsSubscription_Destroy(acks);

	lat = malloc((r.d.count + 1) * sizeof(*lat));
	sto = malloc((r.d.count + 1) * sizeof(*sto));
	for (size_t line = 1; line <= r.d.count; line++) {
		uint64_t sent = atomic_load(&r.sent_ns[line]), stored = atomic_load(&r.stored_ns[line]);

		if (r.acks[line] == 0)
			missing++;
		else
			lat[n_lat++] = r.ack_ns[line] - sent;
		if (stored != 0)
			sto[n_sto++] = stored - sent;
	}
	pa = percentiles(lat, n_lat);
	ps = percentiles(sto, n_sto);
	secs = (double)(t_end - t_first) / 1e9;

	printf("nats-peer: %zu lines (%s, %u workers, %u publishes in flight, max ack pending %u), %s\n",
	       r.d.count, r.o.processor, r.o.workers, r.o.inflight, r.o.max_ack_pending,
	       r.all_acked ? "all ACKed" : "INCOMPLETE");
	printf("  lines/s (first publish -> last first-ACK): %.0f  (%.3f s)\n", (double)r.d.count / secs, secs);
	printf("  ACK latency us:    p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", pa.p50, pa.p90, pa.p99,
	       pa.p999, pa.max);
	printf("  stored latency us: p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f\n", ps.p50, ps.p90, ps.p99,
	       ps.p999, ps.max);
	printf("  exactly-once: acked %" PRIu64 " (ok %" PRIu64 ", error %" PRIu64 "), missing %" PRIu64
	       ", duplicate ACKs %" PRIu64 ", redelivered %" PRIu64 ", publish errors %" PRIu64 "\n",
	       r.unique, r.ok, r.errors, missing, r.dup, redelivered, (uint64_t)atomic_load(&r.pub_errors));
	printf("  durability: %s\n", DURABILITY_NATS);

	if (r.o.json != NULL) {
		FILE *f = fopen(r.o.json, "w");

		if (f == NULL) {
			fprintf(stderr, "nats-peer: --json %s: %s\n", r.o.json, strerror(errno));
			return 1;
		}
		fprintf(f, "{\n  \"system\": \"nats-jetstream\",\n  \"lines\": %zu,\n  \"bytes\": %" PRIu64 ",\n"
			"  \"processor\": \"%s\",\n  \"workers\": %u,\n  \"max_ack_pending\": %u,\n  \"inflight\": %u,\n"
			"  \"complete\": %s,\n  \"seconds\": %.6f,\n  \"lines_per_s\": %.1f,\n",
			r.d.count, r.d.file_bytes, r.o.processor, r.o.workers, r.o.max_ack_pending, r.o.inflight,
			r.all_acked ? "true" : "false", secs, (double)r.d.count / secs);
		json_pct(f, "ack_latency_us", &pa);
		json_pct(f, "stored_latency_us", &ps);
		fprintf(f, "  \"acked\": %" PRIu64 ", \"ok\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"missing\": %" PRIu64
			", \"duplicates\": %" PRIu64 ", \"redelivered\": %" PRIu64 ", \"publish_errors\": %" PRIu64
			", \"ack_errors\": %" PRIu64 ",\n  \"durability\": \"%s\"\n}\n",
			r.unique, r.ok, r.errors, missing, r.dup, redelivered, (uint64_t)atomic_load(&r.pub_errors),
			(uint64_t)atomic_load(&r.ack_errors), DURABILITY_NATS);
		fclose(f);
	}
	jsCtx_Destroy(js);
	natsConnection_Destroy(pnc);
	natsConnection_Destroy(snc);
	nats_CloseAndWait(2000);
	return r.all_acked && missing == 0 ? 0 : 1;
}
