/*
 * perf_acks.h — sluice-perf's ACK subscribers: one libwebsockets context
 * in its own thread holding every subscription (/v1/acks/<tenant>/<doc>,
 * the tenant's token as Authorization: Bearer), S per document plus
 * optionally one slow one. Each subscriber counts the ACKs of every line
 * and records, for the first ACK of each line, its latency: ACK receipt
 * minus the line's due time (open loop) or minus the time its last byte
 * first went out (credit mode).
 */
#ifndef PERF_ACKS_H
#define PERF_ACKS_H

#include <stdbool.h>
#include <stdio.h>

#include "perf.h"
#include "perf_hist.h"

struct perf_acks;

struct perf_ack_totals {
	struct perf_hist lat;            /* the regular subscribers, every line of every doc */
	struct perf_hist slow_lat;       /* the slow subscribers */
	uint64_t messages, ack_lines, summaries;
	uint64_t last_ack_ns;            /* latest ACK or summary of a regular subscriber */
	unsigned subs, slow_subs, slow_culled, slow_complete;
	uint64_t unsent_acked;           /* credit mode: ACK for a line we had not sent (bug) */
};

/* Create the context, connect every subscriber (nothing runs yet but the
 * connection attempts), start the thread. NULL with err. */
struct perf_acks *perf_acks_start(struct perf_run *r, char *err, size_t errlen);
/* Wait until every subscriber says "subscribed"; -1 with err (refusal, timeout). */
int perf_acks_wait_subscribed(struct perf_acks *a, unsigned timeout_s, char *err, size_t errlen);
/* Every regular subscriber has its summary (or was closed); slow ones too if with_slow. */
bool perf_acks_complete(const struct perf_acks *a, bool with_slow);
/* Stop the thread and close the connections. */
void perf_acks_stop(struct perf_acks *a);
/*
 * After stop: check exactly-once (every line of every doc ACKed once per
 * regular subscriber, with the status generated; one summary each, with
 * the right counts), print every violation (the first few of each kind)
 * to out, fill *t. Returns the number of violations.
 */
uint64_t perf_acks_verify(struct perf_acks *a, FILE *out, struct perf_ack_totals *t);
void perf_acks_free(struct perf_acks *a);

#endif
