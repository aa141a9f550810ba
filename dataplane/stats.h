/*
 * stats.h — counters, one struct per lcore (or thread), written only by
 * its owner, summed by whoever reads (telemetry, sluicectl). Plain
 * uint64_t stores on the hot path; readers tolerate a torn view across
 * counters, never within one (aligned 64-bit stores are atomic on x86-64
 * and arm64).
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <stdint.h>

#include <rte_common.h>

#include "latency.h"
#include "slp.h"

/* rx lcore: what came in and what was done with it. */
struct sl_rx_stats {
	uint64_t polls, busy_polls;
	uint64_t rx_packets, rx_bytes, tx_packets, tx_dropped;
	uint64_t arp_replies, icmp_replies;
	uint64_t drop_not_ipv4, drop_bad_ip, drop_not_ours, drop_not_udp, drop_bad_udp, drop_wrong_port;
	uint64_t slp_bad[SLP_DEC__COUNT];           /* by decode error */
	uint64_t slp_frames[4];                      /* OPEN, DATA, FIN, other accepted */
	uint64_t slp_unknown_stream;                 /* DATA/FIN for no stream */
	uint64_t slp_out_of_order;                   /* DATA not at the contiguous position: dropped */
	uint64_t slp_duplicate;                      /* DATA entirely before the position: dropped */
	uint64_t slp_beyond_window;                  /* DATA past position + window */
	uint64_t slp_pressure_drops;                 /* DATA refused: no batches or dispatch backlog */
	uint64_t slp_streams_full;                   /* OPEN refused: stream table full */
	uint64_t slp_after_fin;                      /* DATA after the document was complete */
	uint64_t slp_checksum_failed, slp_length_failed;
	uint64_t streams_opened, streams_closed, streams_expired;
	uint64_t slp_rejects[16];                    /* REJECTs sent, by slp_code */
	uint64_t slp_from_appliance;                 /* appliance->sender frame types sent to us */
	uint64_t slp_held;                           /* out-of-order DATA held in a reorder window */
	uint64_t slp_reorder_full;                   /* out-of-order DATA dropped: reorder window or tenant budget full */
	uint64_t slp_naks_sent;
	uint64_t slp_too_large;                      /* documents failed for exceeding max_document_mb */
	uint64_t lines, line_bytes, batches;
	uint64_t dispatch_retries;
	/* TSC cycles per stage (/sluice/stages): bursts with packets, all in
	 * (cyc_burst), of which splitting lines into batches (cyc_split); and
	 * handing batches to workers (cyc_dispatch) */
	uint64_t cyc_burst, cyc_split, cyc_dispatch;
} __rte_cache_aligned;

/* worker lcore */
struct sl_worker_stats {
	uint64_t polls, busy_polls;
	uint64_t batches, lines, ok, errors;
	uint64_t busy_cycles;
	uint64_t result_retries;                     /* result ring full or pool empty: waited on persistence */
	uint64_t large_results;                      /* large result batches taken: a line's output did not fit */
	uint64_t pending_timeouts;                   /* PENDING lines timed out (pending_timeout_ms) */
	uint64_t stale_cookies;                      /* completions for no pending line (timed out before, or bogus) */
	uint64_t heartbeat;                          /* bumped every loop: liveness */
	uint64_t batch_us[SL_LAT_BUCKETS];           /* completion time of line batches, dispatch to results */
	uint64_t wait_us[SL_LAT_BUCKETS];            /* queueing: dispatch to the worker starting the batch */
} __rte_cache_aligned;

/* per tenant, per producer-or-worker: indexed [tenant] in arrays owned by one thread */
struct sl_tenant_stats {
	uint64_t lines_in;                           /* lines produced (rx/ingest) */
	uint64_t lines_ok, lines_error;              /* processed (worker) */
	uint64_t docs_accepted, docs_rejected;       /* decided (manager/ws) */
	uint64_t bad_token;
};

/* persistence thread */
struct sl_persist_stats {
	uint64_t batches, records, bytes, fsyncs;
	uint64_t last_batch_records;
	uint64_t last_batch_ns;
	uint64_t write_errors, retries;
	uint64_t docs_completed;
	uint64_t batch_limit;                        /* the adaptive batch size now (records) */
	uint64_t records_per_s;                      /* last batch: records / (write + sync time) */
	/* sink health: unhealthy from the first failed write/sync until a round is durable again */
	uint64_t unhealthy;                          /* 1 while failing */
	uint64_t unhealthy_since_ns;                 /* CLOCK_MONOTONIC, valid while unhealthy */
	uint64_t unhealthy_ns_total;                 /* finished unhealthy periods */
	uint64_t unhealthy_episodes;
	/* the journal (control/journal.h) */
	uint64_t journal_bytes, journal_syncs;       /* appended to segments; fdatasyncs of them */
	uint64_t busy_ns;                            /* total time in write + sync of rounds */
	uint64_t checkpoints, segments_deleted;
	uint64_t recovered_docs, recovered_records;  /* at start: unfinished documents and results replayed */
	uint64_t cyc_cpu;                            /* TSC cycles ordering, formatting and journaling rounds */
	uint64_t held_copies;                        /* early result batches moved to the heap (pool pressure) */
	uint64_t held_bytes;                         /* heap copies held now (bounded by held_max_mb) */
	uint64_t docs_given_up;                      /* documents failed: held results passed held_max_mb */
	uint64_t lines_given_up;                     /* lines written as no_result when their wait was given up */
	uint64_t late_results;                       /* results of such lines that came afterwards: dropped */
	uint64_t cyc_io;                             /* TSC cycles waiting for writes and the journal sync */
} __rte_cache_aligned;

/* websocket thread */
struct sl_ws_stats {
	uint64_t subscribers, subscribers_total;
	uint64_t uploads, uploads_total;
	uint64_t acks_sent, ack_messages, summaries_sent;
	uint64_t refused_auth, refused_path, refused_tenant, refused_revision;
	uint64_t culled_slow;
	uint64_t ingest_lines, ingest_bytes, ingest_pauses;
	uint64_t ingest_too_large;                   /* uploads failed for passing max_document_mb (413) */
	uint64_t cyc_ack;                            /* TSC cycles turning result batches into ACK messages */
	uint64_t replayed_messages;                  /* ACK and summary messages read back for ?from= */
	/* the listener's gate (control/gate.c), written by the sl-gate thread only */
	uint64_t refused_url;                        /* malformed or over-long request heads: 400, 414, 431 */
	uint64_t gate_timeouts;                      /* heads not sent in time: 408 */
	uint64_t gate_busy;                          /* too many connections at once: 503 */
} __rte_cache_aligned;

#endif
