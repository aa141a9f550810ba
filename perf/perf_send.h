/*
 * perf_send.h — sluice-perf's sender threads: K threads, each with one
 * connected kernel UDP socket and the SLP engines (sluice/sender.h) of the
 * documents j with j % K == its index, frames batched into sendmmsg.
 */
#ifndef PERF_SEND_H
#define PERF_SEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "perf.h"

struct perf_send_stats {
	uint64_t datagrams, retransmits, naks, rto_probes, ignored, resumes;
	uint64_t sendmmsg_calls, send_errors, replies, stray_replies;
	uint64_t docs_failed;
};

struct perf_sender;

/* Prepare thread k of K: its socket (in --netns if given) and engines.
 * NULL with err on failure (bad --to, no socket, no netns, bad names). */
struct perf_sender *perf_sender_start(struct perf_run *r, unsigned k, char *err, size_t errlen);
/* Start sending (set r->t0 first). -1 with err if the thread cannot start. */
int perf_sender_run(struct perf_sender *s, char *err, size_t errlen);
/* Wait for it to finish its documents (or r->stop); adds its counters to *st. */
void perf_sender_join(struct perf_sender *s, struct perf_send_stats *st);

#endif
