/*
 * perf.h — what the parts of sluice-perf share: the run's configuration,
 * the generated documents, and the open-loop schedule.
 *
 * The schedule (open loop, --rate > 0): the documents are numbered
 * j = tenant * M + doc (D of them) and their lines interleaved
 * round-robin into one global sequence, line n of document j being global
 * line i = n * D + j, due at t0 + i / rate. Latency is measured from that
 * due time, whatever happened before the line could be sent, so a stalled
 * sender or appliance shows up in the percentiles instead of delaying the
 * measurement (no coordinated omission).
 */
#ifndef PERF_H
#define PERF_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <time.h>

#include "sluice/send.h"

enum perf_shape { PERF_PLAIN, PERF_QUOTED, PERF_TWEETS };

struct perf_cfg {
	unsigned tenants, docs;          /* N tenants, M documents each */
	uint64_t lines;                  /* L lines per document */
	unsigned width;                  /* approximate bytes per line */
	enum perf_shape shape;
	uint64_t seed, rev;
	const char *token_format;        /* printf format with one %d: the tenant index */
	unsigned bad_every;              /* every Nth line invalid; 0 = none */
	const char *to;                  /* IP:PORT of the appliance's SLP port */
	const char *ws_url;              /* ws://HOST:PORT of its control listener */
	const char *netns;               /* sender threads join this network namespace */
	const char *memif_socket;        /* --transport memif: its socket; NULL = kernel UDP */
	unsigned threads;
	double rate;                     /* lines/s in total; 0 = as fast as credit allows */
	unsigned tick_us;                /* open loop: a sender thread wakes at most this often */
	unsigned payload, timeout_ms;
	unsigned subs_per_doc;
	bool slow_sub;
	unsigned slow_read_ms, slow_pause_ms;
	unsigned ack_wait_s;             /* after the senders: wait this long for the last ACKs */
	const char *prefix, *sluicectl, *json_path;
};

struct perf_run;

struct perf_doc {
	struct perf_run *run;
	unsigned j;                      /* global index: tenant * M + doc */
	unsigned tenant;
	char tenant_name[16], name[16], token[192];
	uint8_t *data;
	size_t len;
	uint32_t *line_end;              /* line n (0-based) is bytes [line_end[n-1], line_end[n]) */
	uint64_t lines, errors_expected;
	/* Credit mode: when each line's last byte first went out (0 = not yet).
	 * Written by its sender thread, read by the ACK thread. */
	_Atomic uint64_t *sent_ns;
	uint64_t first_hi;               /* sender thread: highest byte sent so far */
	uint64_t sent_lines;             /* sender thread: lines whose sent_ns is set */
	/* The sender's verdict, set by its thread before it counts the doc done. */
	int rc;
	struct sl_send_result res;
	uint64_t done_ns;
};

struct perf_run {
	struct perf_cfg cfg;
	struct perf_doc *docs;
	unsigned ndocs;
	bool open_loop;
	uint64_t t0;                     /* the schedule's start (CLOCK_MONOTONIC ns) */
	atomic_bool stop;                /* SIGINT, or a fatal error: wind down */
	atomic_uint docs_done;
};

static inline uint64_t perf_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Open loop: when line n (0-based) of document j is due. */
static inline uint64_t perf_due(const struct perf_run *r, unsigned j, uint64_t n)
{
	double i = (double)n * r->ndocs + j;
	return r->t0 + (uint64_t)(i * 1e9 / r->cfg.rate);
}

/* Open loop: how many global lines are due by now (lines 0 .. G-1). */
static inline uint64_t perf_released(const struct perf_run *r, uint64_t now)
{
	if (now < r->t0)
		return 0;
	double g = (double)(now - r->t0) * r->cfg.rate / 1e9;
	uint64_t total = r->cfg.lines * r->ndocs;
	uint64_t due = (uint64_t)g + 1;
	return due < total ? due : total;
}

/* Lines of document j among the first G global lines. */
static inline uint64_t perf_doc_due(const struct perf_run *r, unsigned j, uint64_t g)
{
	if (g <= j)
		return 0;
	uint64_t n = (g - j + r->ndocs - 1) / r->ndocs;
	return n < r->cfg.lines ? n : r->cfg.lines;
}

#endif
