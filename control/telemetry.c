/*
 * telemetry.c — the /sluice/... DPDK telemetry commands (see telemetry.h).
 *
 * Everything here runs on DPDK's telemetry thread, never on an lcore.
 * It reads counters that other threads own and write without locks, so
 * the rules are: load each counter once with a relaxed atomic load (the
 * owner's plain 64-bit stores are never torn), never write anything the
 * dataplane reads, and accept that two counters read a few nanoseconds
 * apart may disagree slightly (busy_polls > polls is clamped, not an error).
 *
 * Reply shape: DPDK 22.11 documents a dict holding containers of scalars,
 * so every reply is at most two levels deep: a dict of scalars and of
 * rows, each row a dict of scalars. Dict keys may only hold [A-Za-z0-9_/]
 * (22.11 refuses anything else with -EINVAL), which matters for tenant
 * names: see tenant_key().
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_telemetry.h>
#include <rte_version.h>

#include "telemetry.h"
#include "topk_view.h"

#ifndef SLUICE_VERSION
#define SLUICE_VERSION "0.1.0"
#endif

RTE_LOG_REGISTER(sl_logtype_telemetry, sluice.telemetry, INFO);
#define RTE_LOGTYPE_SL_TEL sl_logtype_telemetry

/* One runtime per process; set once before the first command can arrive. */
static struct sl_runtime *tel_rt;
static uint64_t tel_start_ns;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A counter written by another thread: one untorn, uncached load. */
static inline uint64_t
rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline uint64_t
rd_at(const void *base, size_t off)
{
	return rd((const uint64_t *)((const char *)base + off));
}

static uint64_t
busy_pct(uint64_t polls, uint64_t busy)
{
	if (polls == 0)
		return 0;
	if (busy > polls)       /* read a moment apart: clamp, it is not an error */
		busy = polls;
	return (uint64_t)((double)busy * 100.0 / (double)polls);   /* busy * 100 could overflow */
}

/*
 * Every counter of an rx lcore that means "a packet or frame was thrown
 * away or refused". /sluice/drops lists them by name and the per-lcore
 * "drops" column is their sum, so both always agree.
 */
struct drop_counter {
	const char *name;
	size_t off;
};

#define RX_DROP(field) { #field, offsetof(struct sl_rx_stats, field) }
#define RX_SLP_BAD(name, err) { name, offsetof(struct sl_rx_stats, slp_bad[err]) }

static const struct drop_counter rx_drops[] = {
	RX_DROP(drop_not_ipv4),
	RX_DROP(drop_bad_ip),
	RX_DROP(drop_not_ours),
	RX_DROP(drop_not_udp),
	RX_DROP(drop_bad_udp),
	RX_DROP(drop_wrong_port),
	RX_DROP(tx_dropped),
	/* malformed SLP datagrams, by decode error (slp.h) */
	RX_SLP_BAD("slp_short", SLP_DEC_SHORT),
	RX_SLP_BAD("slp_magic", SLP_DEC_MAGIC),
	RX_SLP_BAD("slp_version", SLP_DEC_VERSION),
	RX_SLP_BAD("slp_type", SLP_DEC_TYPE),
	RX_SLP_BAD("slp_length", SLP_DEC_LENGTH),
	RX_SLP_BAD("slp_body", SLP_DEC_BODY),
	RX_SLP_BAD("slp_empty_data", SLP_DEC_EMPTY_DATA),
	RX_SLP_BAD("slp_oversize", SLP_DEC_OVERSIZE),
	RX_SLP_BAD("slp_checksum", SLP_DEC_CHECKSUM),
	/* well-formed frames the stream layer refused */
	RX_DROP(slp_unknown_stream),
	RX_DROP(slp_out_of_order),
	RX_DROP(slp_duplicate),
	RX_DROP(slp_beyond_window),
	RX_DROP(slp_pressure_drops),
	RX_DROP(slp_streams_full),
	RX_DROP(slp_after_fin),
	RX_DROP(slp_checksum_failed),
	RX_DROP(slp_length_failed),
	RX_DROP(slp_from_appliance),
	RX_DROP(slp_reorder_full),
	RX_DROP(slp_too_large),
};

/*
 * If slp.h grows a decode error, this table must name it: 7 non-SLP
 * counters, one per decode error except OK, 12 stream-layer counters.
 */
_Static_assert(RTE_DIM(rx_drops) == 7 + (SLP_DEC__COUNT - 1) + 12,
	       "rx_drops[] must list every slp_decode_err: update it with slp.h");

static uint64_t
rx_drops_total(const struct sl_rx_stats *s)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < RTE_DIM(rx_drops); i++)
		sum += rd_at(s, rx_drops[i].off);
	return sum;
}

/*
 * "FIRST" or "RX" parameter: empty means 0. Returns 0, or -EINVAL for
 * anything that is not a plain decimal number.
 */
static int
parse_index(const char *params, unsigned long *out)
{
	char *end;

	*out = 0;
	if (params == NULL || *params == '\0')
		return 0;
	if (*params < '0' || *params > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(params, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	return 0;
}

/* Add a filled row; the row is freed by telemetry on success, by us on failure. */
static int
add_row(struct rte_tel_data *d, const char *key, struct rte_tel_data *row)
{
	int rc = rte_tel_data_add_dict_container(d, key, row, 0);

	if (rc < 0)
		rte_tel_data_free(row);
	return rc;
}

static struct rte_tel_data *
new_dict(void)
{
	struct rte_tel_data *row = rte_tel_data_alloc();

	if (row != NULL)
		rte_tel_data_start_dict(row);
	return row;
}

/* ---- /sluice/status ---------------------------------------------------- */

static unsigned
docs_active(const struct sl_runtime *rt)
{
	unsigned n = 0;

	if (rt->docs == NULL)
		return 0;
	/* The slot flags are written by the control plane under its mutex;
	 * we only count them, so a relaxed load per flag is enough. */
	for (unsigned i = 0; i < SL_MAX_DOCS; i++)
		n += __atomic_load_n(&rt->docs->docs[i].in_use, __ATOMIC_RELAXED) != 0;
	return n;
}

static int
status_persist(struct rte_tel_data *d, const struct sl_persist_stats *p)
{
	struct rte_tel_data *row = new_dict();

	if (row == NULL)
		return -ENOMEM;
	rte_tel_data_add_dict_u64(row, "batches", rd(&p->batches));
	rte_tel_data_add_dict_u64(row, "records", rd(&p->records));
	rte_tel_data_add_dict_u64(row, "bytes", rd(&p->bytes));
	rte_tel_data_add_dict_u64(row, "fsyncs", rd(&p->fsyncs));
	rte_tel_data_add_dict_u64(row, "last_batch_records", rd(&p->last_batch_records));
	rte_tel_data_add_dict_u64(row, "last_batch_ns", rd(&p->last_batch_ns));
	rte_tel_data_add_dict_u64(row, "batch_limit", rd(&p->batch_limit));
	rte_tel_data_add_dict_u64(row, "records_per_s", rd(&p->records_per_s));
	rte_tel_data_add_dict_u64(row, "write_errors", rd(&p->write_errors));
	rte_tel_data_add_dict_u64(row, "retries", rd(&p->retries));
	rte_tel_data_add_dict_u64(row, "docs_completed", rd(&p->docs_completed));
	rte_tel_data_add_dict_u64(row, "journal_bytes", rd(&p->journal_bytes));
	rte_tel_data_add_dict_u64(row, "journal_syncs", rd(&p->journal_syncs));
	rte_tel_data_add_dict_u64(row, "busy_ns", rd(&p->busy_ns));
	rte_tel_data_add_dict_u64(row, "checkpoints", rd(&p->checkpoints));
	rte_tel_data_add_dict_u64(row, "segments_deleted", rd(&p->segments_deleted));
	rte_tel_data_add_dict_u64(row, "recovered_docs", rd(&p->recovered_docs));
	rte_tel_data_add_dict_u64(row, "recovered_records", rd(&p->recovered_records));
	rte_tel_data_add_dict_u64(row, "held_copies", rd(&p->held_copies));
	rte_tel_data_add_dict_u64(row, "held_bytes", rd(&p->held_bytes));
	rte_tel_data_add_dict_u64(row, "docs_given_up", rd(&p->docs_given_up));
	rte_tel_data_add_dict_u64(row, "lines_given_up", rd(&p->lines_given_up));
	rte_tel_data_add_dict_u64(row, "late_results", rd(&p->late_results));
	{
		/* time unhealthy: the finished periods plus the current one */
		uint64_t bad = rd(&p->unhealthy), total = rd(&p->unhealthy_ns_total);

		if (bad)
			total += now_ns() - rd(&p->unhealthy_since_ns);
		rte_tel_data_add_dict_string(row, "sink", bad ? "unhealthy" : "healthy");
		rte_tel_data_add_dict_u64(row, "unhealthy_ms_total", total / 1000000u);
		rte_tel_data_add_dict_u64(row, "unhealthy_episodes", rd(&p->unhealthy_episodes));
	}
	return add_row(d, "persist", row);
}

static int
status_ws(struct rte_tel_data *d, const struct sl_ws_stats *w)
{
	struct rte_tel_data *row = new_dict();

	if (row == NULL)
		return -ENOMEM;
	rte_tel_data_add_dict_u64(row, "subscribers", rd(&w->subscribers));
	rte_tel_data_add_dict_u64(row, "subscribers_total", rd(&w->subscribers_total));
	rte_tel_data_add_dict_u64(row, "uploads", rd(&w->uploads));
	rte_tel_data_add_dict_u64(row, "uploads_total", rd(&w->uploads_total));
	rte_tel_data_add_dict_u64(row, "acks_sent", rd(&w->acks_sent));
	rte_tel_data_add_dict_u64(row, "ack_messages", rd(&w->ack_messages));
	rte_tel_data_add_dict_u64(row, "summaries_sent", rd(&w->summaries_sent));
	rte_tel_data_add_dict_u64(row, "refused_auth", rd(&w->refused_auth));
	rte_tel_data_add_dict_u64(row, "refused_path", rd(&w->refused_path));
	rte_tel_data_add_dict_u64(row, "refused_tenant", rd(&w->refused_tenant));
	rte_tel_data_add_dict_u64(row, "refused_revision", rd(&w->refused_revision));
	rte_tel_data_add_dict_u64(row, "culled_slow", rd(&w->culled_slow));
	rte_tel_data_add_dict_u64(row, "ingest_lines", rd(&w->ingest_lines));
	rte_tel_data_add_dict_u64(row, "ingest_bytes", rd(&w->ingest_bytes));
	rte_tel_data_add_dict_u64(row, "ingest_pauses", rd(&w->ingest_pauses));
	rte_tel_data_add_dict_u64(row, "refused_url", rd(&w->refused_url));
	rte_tel_data_add_dict_u64(row, "gate_timeouts", rd(&w->gate_timeouts));
	rte_tel_data_add_dict_u64(row, "gate_busy", rd(&w->gate_busy));
	rte_tel_data_add_dict_u64(row, "ingest_too_large", rd(&w->ingest_too_large));
	return add_row(d, "ws", row);
}

static int
cmd_status(const char *cmd __rte_unused, const char *params __rte_unused,
	   struct rte_tel_data *d)
{
	const struct sl_runtime *rt = tel_rt;
	unsigned running = 0;
	int rc;

	for (unsigned w = 0; w < rt->n_workers; w++)
		running += atomic_load_explicit(&rt->workers[w].running, memory_order_relaxed) != 0;

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "version", SLUICE_VERSION);
	rte_tel_data_add_dict_string(d, "dpdk", rte_version());
	rte_tel_data_add_dict_u64(d, "uptime_s", (now_ns() - tel_start_ns) / 1000000000u);
	rte_tel_data_add_dict_u64(d, "stopping",
				  atomic_load_explicit(&rt->stop, memory_order_relaxed) != 0);
	rte_tel_data_add_dict_u64(d, "port_id", rt->port_id);
	rte_tel_data_add_dict_u64(d, "n_rx", rt->n_rx);
	rte_tel_data_add_dict_u64(d, "n_workers", rt->n_workers);
	rte_tel_data_add_dict_u64(d, "workers_running", running);
	rte_tel_data_add_dict_u64(d, "n_tenants", rt->cfg != NULL ? rt->cfg->n_tenants : 0);
	rte_tel_data_add_dict_u64(d, "docs_active", docs_active(rt));

	rc = status_persist(d, &rt->persist_stats);
	if (rc == 0)
		rc = status_ws(d, &rt->ws_stats);
	return rc;
}

/* ---- /sluice/lcores ---------------------------------------------------- */

static int
lcore_rx_row(struct rte_tel_data *d, const struct sl_runtime *rt, unsigned i)
{
	const struct sl_rx_stats *s = &rt->rx_stats[i];
	struct rte_tel_data *row = new_dict();
	char key[16];

	if (row == NULL)
		return -ENOMEM;
	rte_tel_data_add_dict_u64(row, "lcore", rt->rx_lcore[i]);
	rte_tel_data_add_dict_u64(row, "rx_packets", rd(&s->rx_packets));
	rte_tel_data_add_dict_u64(row, "rx_bytes", rd(&s->rx_bytes));
	rte_tel_data_add_dict_u64(row, "tx_packets", rd(&s->tx_packets));
	rte_tel_data_add_dict_u64(row, "arp_replies", rd(&s->arp_replies));
	rte_tel_data_add_dict_u64(row, "icmp_replies", rd(&s->icmp_replies));
	rte_tel_data_add_dict_u64(row, "held", rd(&s->slp_held));
	rte_tel_data_add_dict_u64(row, "naks_sent", rd(&s->slp_naks_sent));
	rte_tel_data_add_dict_u64(row, "lines", rd(&s->lines));
	rte_tel_data_add_dict_u64(row, "batches", rd(&s->batches));
	rte_tel_data_add_dict_u64(row, "busy_pct", busy_pct(rd(&s->polls), rd(&s->busy_polls)));
	rte_tel_data_add_dict_u64(row, "drops", rx_drops_total(s));
	snprintf(key, sizeof(key), "rx%u", i);
	return add_row(d, key, row);
}

/*
 * Lines sent to worker w and not finished yet. The same rule as
 * sl_worker_load() in dispatch.c; computed here so telemetry does not
 * depend on the dataplane library. lines_done and lines_moved are read
 * first: they never exceed what producers had sent when they were read,
 * and the sent counters only grow, so the difference cannot go negative.
 */
static uint64_t
worker_load(const struct sl_runtime *rt, unsigned w)
{
	uint64_t done = rd(&rt->workers[w].lines_done) + rd(&rt->workers[w].lines_moved);
	uint64_t sent = 0;

	for (unsigned p = 0; p < rt->n_producers; p++)
		sent += rd(&rt->load[p].lines_sent[w]);
	return sent > done ? sent - done : 0;
}

static int
lcore_worker_row(struct rte_tel_data *d, const struct sl_runtime *rt, unsigned w)
{
	const struct sl_worker_stats *s = &rt->worker_stats[w];
	struct rte_tel_data *row = new_dict();
	char key[16];

	if (row == NULL)
		return -ENOMEM;
	rte_tel_data_add_dict_u64(row, "lcore", rt->worker_lcore[w]);
	rte_tel_data_add_dict_u64(row, "socket", rt->workers[w].socket);
	rte_tel_data_add_dict_u64(row, "running",
				  atomic_load_explicit(&rt->workers[w].running, memory_order_relaxed) != 0);
	rte_tel_data_add_dict_u64(row, "lines", rd(&s->lines));
	rte_tel_data_add_dict_u64(row, "ok", rd(&s->ok));
	rte_tel_data_add_dict_u64(row, "errors", rd(&s->errors));
	rte_tel_data_add_dict_u64(row, "batches", rd(&s->batches));
	rte_tel_data_add_dict_u64(row, "load", worker_load(rt, w));
	rte_tel_data_add_dict_u64(row, "busy_pct", busy_pct(rd(&s->polls), rd(&s->busy_polls)));
	rte_tel_data_add_dict_u64(row, "heartbeat", rd(&s->heartbeat));
	rte_tel_data_add_dict_u64(row, "large_results", rd(&s->large_results));
	rte_tel_data_add_dict_u64(row, "pending_timeouts", rd(&s->pending_timeouts));
	snprintf(key, sizeof(key), "worker%u", w);
	return add_row(d, key, row);
}

static int
cmd_lcores(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	const struct sl_runtime *rt = tel_rt;
	unsigned total = rt->n_rx + rt->n_workers;
	unsigned long first;
	int rc = parse_index(params, &first);

	if (rc < 0)
		return rc;
	rte_tel_data_start_dict(d);
	/* Rows are numbered rx lcores first, then workers; FIRST past the end is an empty page. */
	for (unsigned long r = first; r < total && r < first + SL_TEL_LCORE_PAGE && rc == 0; r++) {
		if (r < rt->n_rx)
			rc = lcore_rx_row(d, rt, (unsigned)r);
		else
			rc = lcore_worker_row(d, rt, (unsigned)(r - rt->n_rx));
	}
	return rc;
}

/* ---- /sluice/tenants --------------------------------------------------- */

/*
 * Tenant names may hold '.' and '-', which 22.11 refuses in dict keys.
 * Such a name is keyed with those bytes turned into '_' (the row's "name"
 * field carries the exact name). If another configured tenant maps to the
 * same key (acme-corp next to acme_corp), the index is appended
 * (acme_corp_1), so a key never depends on which page it is in.
 */
static void
key_of(char *key, size_t len, const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < len; i++)
		key[i] = (name[i] == '.' || name[i] == '-') ? '_' : name[i];
	key[i] = '\0';
}

static void
tenant_key(char *key, size_t len, const struct sl_config *cfg, unsigned t)
{
	char other[SL_NAME_MAX + 1];

	key_of(key, len, cfg->tenants[t].name);
	if (strcmp(key, cfg->tenants[t].name) == 0)
		return;                 /* already a valid key, and names are unique */
	for (unsigned j = 0; j < cfg->n_tenants; j++) {
		if (j == t)
			continue;
		key_of(other, sizeof(other), cfg->tenants[j].name);
		if (strcmp(other, key) == 0) {
			size_t used = strlen(key);

			snprintf(key + used, len - used, "_%u", t);
			return;
		}
	}
}

static int
cmd_tenants(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	const struct sl_runtime *rt = tel_rt;
	const struct sl_config *cfg = rt->cfg;
	char key[SL_NAME_MAX + 16];
	unsigned long first;
	int rc = parse_index(params, &first);

	if (rc < 0)
		return rc;
	rte_tel_data_start_dict(d);
	if (cfg == NULL || rt->tenant_stats == NULL)
		return 0;

	unsigned rows = rt->n_producers + rt->n_workers + 1;   /* producers, workers, control */
	unsigned nt = cfg->n_tenants;

	for (unsigned long t = first; t < nt && t < first + SL_TEL_TENANT_PAGE; t++) {
		struct sl_tenant_stats sum = { 0 };
		struct rte_tel_data *row;

		for (unsigned r = 0; r < rows; r++) {
			const struct sl_tenant_stats *s = &rt->tenant_stats[(size_t)r * nt + t];

			sum.lines_in += rd(&s->lines_in);
			sum.lines_ok += rd(&s->lines_ok);
			sum.lines_error += rd(&s->lines_error);
			sum.docs_accepted += rd(&s->docs_accepted);
			sum.docs_rejected += rd(&s->docs_rejected);
			sum.bad_token += rd(&s->bad_token);
		}
		row = new_dict();
		if (row == NULL)
			return -ENOMEM;
		rte_tel_data_add_dict_u64(row, "id", t);
		rte_tel_data_add_dict_string(row, "name", cfg->tenants[t].name);
		rte_tel_data_add_dict_u64(row, "lines_in", sum.lines_in);
		rte_tel_data_add_dict_u64(row, "lines_ok", sum.lines_ok);
		rte_tel_data_add_dict_u64(row, "lines_error", sum.lines_error);
		rte_tel_data_add_dict_u64(row, "docs_accepted", sum.docs_accepted);
		rte_tel_data_add_dict_u64(row, "docs_rejected", sum.docs_rejected);
		rte_tel_data_add_dict_u64(row, "bad_token", sum.bad_token);
		tenant_key(key, sizeof(key), cfg, (unsigned)t);
		rc = add_row(d, key, row);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- /sluice/drops ----------------------------------------------------- */

static int
cmd_drops(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	const struct sl_runtime *rt = tel_rt;
	unsigned lo = 0, hi = rt->n_rx;
	unsigned long rx;

	/* No parameter: all rx lcores. "/sluice/drops,N": rx lcore N only. */
	if (params != NULL && *params != '\0') {
		if (parse_index(params, &rx) < 0 || rx >= rt->n_rx)
			return -EINVAL;
		lo = (unsigned)rx;
		hi = lo + 1;
	}
	rte_tel_data_start_dict(d);
	for (size_t c = 0; c < RTE_DIM(rx_drops); c++) {
		uint64_t sum = 0;

		for (unsigned i = lo; i < hi; i++)
			sum += rd_at(&rt->rx_stats[i], rx_drops[c].off);
		rte_tel_data_add_dict_u64(d, rx_drops[c].name, sum);
	}
	return 0;
}

/* ---- /sluice/workers ----------------------------------------------------- */

static const char *
dispatch_name(enum sl_dispatch_mode m)
{
	return m == SL_DISPATCH_ROUND_ROBIN ? "round_robin" :
	       m == SL_DISPATCH_HASH_DOCUMENT ? "hash_document" : "least_loaded";
}

/*
 * "/sluice/workers": the supervisor's view. Scalars for the pool, then one
 * dict per worker: running (lcore function alive), parked (beyond
 * n_active), crashed (waiting for its restart), crashes, restarts, load
 * (lines outstanding, long work in flight included), lines done;
 * long_line (inside one processor call for long_line_ms: takes nothing
 * new), call_ms (how long its current processor call has lasted, 0
 * between calls), long_lines (times it was long), redispatched (line
 * batches moved from it to other workers because of a long call),
 * stall_ignored (stall signals that came after the call had ended).
 */
static int
cmd_workers(const char *cmd __rte_unused, const char *params __rte_unused, struct rte_tel_data *d)
{
	struct sl_runtime *rt = tel_rt;

	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "dispatch", dispatch_name(rt->cfg->dispatch));
	rte_tel_data_add_dict_u64(d, "n_workers", rt->n_workers);
	rte_tel_data_add_dict_u64(d, "n_active", atomic_load(&rt->n_active));
	rte_tel_data_add_dict_u64(d, "scale_ups", rd(&rt->scale_ups));
	rte_tel_data_add_dict_u64(d, "scale_downs", rd(&rt->scale_downs));
	rte_tel_data_add_dict_u64(d, "quarantined", rd(&rt->quarantined));
	rte_tel_data_add_dict_u64(d, "long_line_ms", rt->cfg->long_line_ms);
	rte_tel_data_add_dict_u64(d, "stall_ms", rt->cfg->stall_ms);
	{
		uint64_t n_long = 0, moved = 0;

		for (unsigned w = 0; w < rt->n_workers; w++) {
			n_long += atomic_load(&rt->workers[w].long_line) != 0;
			moved += rd(&rt->workers[w].redispatched);
		}
		rte_tel_data_add_dict_u64(d, "n_long", n_long);
		rte_tel_data_add_dict_u64(d, "redispatched", moved);
	}
	{
		/* batch completion time over all workers (dispatch -> results handed on) */
		static uint64_t h[SL_LAT_BUCKETS];   /* telemetry callbacks run on one thread */

		memset(h, 0, sizeof(h));
		for (unsigned w = 0; w < rt->n_workers; w++)
			for (unsigned b = 0; b < SL_LAT_BUCKETS; b++)
				h[b] += rd(&rt->worker_stats[w].batch_us[b]);
		rte_tel_data_add_dict_u64(d, "batch_us_p50", sl_lat_quantile(h, 0.50));
		rte_tel_data_add_dict_u64(d, "batch_us_p90", sl_lat_quantile(h, 0.90));
		rte_tel_data_add_dict_u64(d, "batch_us_p99", sl_lat_quantile(h, 0.99));
		rte_tel_data_add_dict_u64(d, "batch_us_max", sl_lat_quantile(h, 1.0));
		/* the part of it spent queued, before a worker started the batch */
		memset(h, 0, sizeof(h));
		for (unsigned w = 0; w < rt->n_workers; w++)
			for (unsigned b = 0; b < SL_LAT_BUCKETS; b++)
				h[b] += rd(&rt->worker_stats[w].wait_us[b]);
		rte_tel_data_add_dict_u64(d, "wait_us_p50", sl_lat_quantile(h, 0.50));
		rte_tel_data_add_dict_u64(d, "wait_us_p99", sl_lat_quantile(h, 0.99));
	}
	for (unsigned w = 0; w < rt->n_workers; w++) {
		struct sl_worker_state *ws = &rt->workers[w];
		struct rte_tel_data *row = rte_tel_data_alloc();
		char name[32];

		if (row == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(row);
		rte_tel_data_add_dict_u64(row, "lcore", ws->lcore_id);
		rte_tel_data_add_dict_u64(row, "running", (uint64_t)atomic_load(&ws->running));
		rte_tel_data_add_dict_u64(row, "parked", (uint64_t)atomic_load(&ws->parked));
		rte_tel_data_add_dict_u64(row, "crashed", (uint64_t)atomic_load(&ws->crashed));
		rte_tel_data_add_dict_u64(row, "crashes", __atomic_load_n(&ws->crashes, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(row, "restarts", __atomic_load_n(&ws->restarts, __ATOMIC_RELAXED));
		rte_tel_data_add_dict_u64(row, "load", worker_load(rt, w));
		rte_tel_data_add_dict_u64(row, "lines", rd(&rt->worker_stats[w].lines));
		rte_tel_data_add_dict_u64(row, "long_line", (uint64_t)atomic_load(&ws->long_line));
		rte_tel_data_add_dict_u64(row, "call_ms", sl_worker_call_ms(rt, w));
		rte_tel_data_add_dict_u64(row, "long_lines", rd(&ws->long_lines));
		rte_tel_data_add_dict_u64(row, "redispatched", rd(&ws->redispatched));
		rte_tel_data_add_dict_u64(row, "stall_ignored", rd(&ws->stall_ignored));
		snprintf(name, sizeof(name), "worker%u", w);
		if (rte_tel_data_add_dict_container(d, name, row, 0) != 0)
			return -ENOSPC;
	}
	return 0;
}

/* "/sluice/workers/kill,N": make worker N crash on purpose (drills, tests). */
static int
cmd_workers_kill(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	struct sl_runtime *rt = tel_rt;
	unsigned long w;

	if (params == NULL || parse_index(params, &w) < 0 || w >= rt->n_workers)
		return -EINVAL;
	if (!atomic_load(&rt->workers[w].running))
		return -EBUSY;   /* already down: the supervisor is restarting it */
	atomic_store(&rt->workers[w].kill_requested, 1);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "killed", w);
	return 0;
}

/*
 * "/sluice/workers/stall,N": a drill — the supervisor treats worker N's
 * processor call of that moment as stalled and sends the stall signal.
 * If the worker is between calls then, or the call ends before the signal
 * lands, the signal is ignored (stall_ignored); otherwise the worker stops
 * like a stalled one (crash, its lines re-dispatched, restart).
 */
static int
cmd_workers_stall(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	struct sl_runtime *rt = tel_rt;
	unsigned long w;

	if (params == NULL || parse_index(params, &w) < 0 || w >= rt->n_workers)
		return -EINVAL;
	if (!atomic_load(&rt->workers[w].running))
		return -EBUSY;
	atomic_store(&rt->workers[w].stall_requested, 1);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "stalled", w);
	return 0;
}

/* ---- /sluice/topk ------------------------------------------------------ */

/*
 * "/sluice/topk,<tenant name>": the tenant's merged top 10 (topk_view.h):
 * the keys of a topk tenant, the hashtags of a tweet tenant, each key
 * percent-encoded outside printable ASCII (topk_key_encode).
 * 22.11 nests at most one level of containers holding scalars, so the
 * entries come as two arrays of the same length, largest count first:
 *   {"tenant": "acme", "n": 2, "keys": ["#a", "#b"], "counts": [12, 7]}
 * An unknown tenant (or none given) is refused: the reply is null.
 */
/*
 * A key as sent in the reply. DPDK 22.11's JSON writer cannot carry bytes
 * outside printable ASCII (it takes them for negative chars: garbage or
 * nothing comes out), and hashtags are often UTF-8; so those bytes, and
 * '%' itself, are percent-encoded ("#t%C3%BCrkiye"). sluicectl decodes them.
 */
static void
topk_key_encode(const char *key, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *k = (const unsigned char *)key; *k != '\0' && o + 4 <= cap; k++) {
		if (*k < 0x20 || *k >= 0x7f || *k == '%') {
			out[o++] = '%';
			out[o++] = hex[*k >> 4];
			out[o++] = hex[*k & 15];
		} else {
			out[o++] = (char)*k;
		}
	}
	out[o] = '\0';
}

static int
cmd_topk(const char *cmd __rte_unused, const char *params, struct rte_tel_data *d)
{
	const struct sl_runtime *rt = tel_rt;
	struct sl_topk_entry top[SL_TOPK_N];
	struct rte_tel_data *keys, *counts;
	int t, n;

	if (params == NULL || *params == '\0' || rt->cfg == NULL)
		return -EINVAL;
	t = sl_config_tenant_find(rt->cfg, params, strlen(params));
	if (t < 0)
		return -EINVAL;
	n = sl_topk_get((uint16_t)t, top);
	if (n < 0)
		n = 0;              /* no snapshot area: nothing counted */

	keys = rte_tel_data_alloc();
	counts = rte_tel_data_alloc();
	if (keys == NULL || counts == NULL) {
		rte_tel_data_free(keys);
		rte_tel_data_free(counts);
		return -ENOMEM;
	}
	rte_tel_data_start_array(keys, RTE_TEL_STRING_VAL);
	rte_tel_data_start_array(counts, RTE_TEL_U64_VAL);
	for (int i = 0; i < n; i++) {
		char key[SL_TOPK_KEY * 3 + 1];

		topk_key_encode(top[i].key, key, sizeof(key));
		rte_tel_data_add_array_string(keys, key);
		rte_tel_data_add_array_u64(counts, top[i].count);
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "tenant", rt->cfg->tenants[t].name);
	rte_tel_data_add_dict_u64(d, "n", (uint64_t)n);
	if (add_row(d, "keys", keys) < 0) {
		rte_tel_data_free(counts);
		return -ENOMEM;
	}
	return add_row(d, "counts", counts);
}

/*
 * Where the cycles go, summed over the lcores and threads of each stage:
 * rx (packet and SLP handling, reorder, STATUS), split (lines into
 * batches), dispatch (batches to workers), process (the processors),
 * persist (ordering, formatting, journaling) and persist_io (waiting for
 * writes and the journal sync: a wall time, not CPU), ack (fan-out).
 * Divide by lines for cycles per line; sluice-perf reads it before and
 * after a run.
 */
static int
cmd_stages(const char *cmd __rte_unused, const char *params __rte_unused, struct rte_tel_data *d)
{
	const struct sl_runtime *rt = tel_rt;
	uint64_t burst = 0, split = 0, dispatch = 0, process = 0, lines = 0;
	struct rte_tel_data *st = new_dict();

	if (st == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < rt->n_rx; i++) {
		burst += rd(&rt->rx_stats[i].cyc_burst);
		split += rd(&rt->rx_stats[i].cyc_split);
		dispatch += rd(&rt->rx_stats[i].cyc_dispatch);
		lines += rd(&rt->rx_stats[i].lines);
	}
	for (unsigned w = 0; w < rt->n_workers; w++)
		process += rd(&rt->worker_stats[w].busy_cycles);
	rte_tel_data_add_dict_u64(st, "rx", burst > split ? burst - split : 0);
	rte_tel_data_add_dict_u64(st, "split", split);
	rte_tel_data_add_dict_u64(st, "dispatch", dispatch);
	rte_tel_data_add_dict_u64(st, "process", process);
	rte_tel_data_add_dict_u64(st, "persist", rd(&rt->persist_stats.cyc_cpu));
	rte_tel_data_add_dict_u64(st, "persist_io", rd(&rt->persist_stats.cyc_io));
	rte_tel_data_add_dict_u64(st, "ack", rd(&rt->ws_stats.cyc_ack));
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "lines", lines + rd(&rt->ws_stats.ingest_lines));
	rte_tel_data_add_dict_u64(d, "tsc_hz", rte_get_tsc_hz());
	return add_row(d, "stages", st);
}

/* ---- registration ------------------------------------------------------ */

static const struct {
	const char *cmd;
	telemetry_cb fn;
	const char *help;
} sl_commands[] = {
	{ "/sluice/status", cmd_status,
	  "Sluice: version, uptime, port, lcores, open documents, persistence and websocket counters. No parameters" },
	{ "/sluice/lcores", cmd_lcores,
	  "Sluice: per-lcore counters, rx lcores then workers, " RTE_STR(SL_TEL_LCORE_PAGE)
	  " rows per page. Parameter: first row (default 0)" },
	{ "/sluice/tenants", cmd_tenants,
	  "Sluice: per-tenant counters, " RTE_STR(SL_TEL_TENANT_PAGE)
	  " tenants per page. Parameter: first tenant index (default 0)" },
	{ "/sluice/drops", cmd_drops,
	  "Sluice: every drop and rejection counter by name. Parameter: rx lcore index (default: all)" },
	{ "/sluice/workers", cmd_workers,
	  "Sluice: worker pool: active, scale events, quarantined; per worker state, crashes, load" },
	{ "/sluice/workers/kill", cmd_workers_kill,
	  "Sluice: crash worker N on purpose (drill); it restarts. Parameter: worker index" },
	{ "/sluice/workers/stall", cmd_workers_stall,
	  "Sluice: treat worker N's current processor call as stalled (drill). Parameter: worker index" },
	{ "/sluice/stages", cmd_stages,
	  "Sluice: TSC cycles spent per stage (rx, split, dispatch, process, persist, persist_io, ack) and lines. No parameters" },
	{ "/sluice/topk", cmd_topk,
	  "Sluice: a topk tenant's top 10 keys (a tweet tenant's hashtags), merged over the workers. Parameter: tenant name" },
};

int
sl_telemetry_register(struct sl_runtime *rt)
{
	/* 22.11 does not refuse a command registered twice: refuse here. */
	if (tel_rt != NULL) {
		RTE_LOG(ERR, SL_TEL, "telemetry commands registered twice: one runtime per process\n");
		return -EALREADY;
	}
	tel_rt = rt;
	tel_start_ns = now_ns();

	for (size_t i = 0; i < RTE_DIM(sl_commands); i++) {
		int rc = rte_telemetry_register_cmd(sl_commands[i].cmd, sl_commands[i].fn,
						    sl_commands[i].help);

		if (rc < 0) {
			RTE_LOG(ERR, SL_TEL, "cannot register telemetry command %s: %s"
				" (more than DPDK's command limit, or out of memory)\n",
				sl_commands[i].cmd, strerror(-rc));
			return rc;
		}
	}
	return 0;
}
