/*
 * http.c — plain HTTP on the control-plane listener: /metrics in the
 * Prometheus text format, /healthz, and text answers for everything
 * else (404 naming the endpoints; refusals from ws.c).
 *
 * Counters are owned one struct per lcore or thread (stats.h) and summed
 * here on read, the way DPDK's examples do it: no locks, a slightly torn
 * view across counters at worst. Per-tenant rows are summed over every
 * producer and worker and labelled with the tenant's name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "../dataplane/doc.h"
#include "../dataplane/slp.h"
#include "../dataplane/stats.h"
#include "http.h"

#define SL_HTTP_CHUNK 16384u

/* ---------------------------------------------------------------- text buffer */

struct tbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3)))
tb_printf(struct tbuf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->p + b->len, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (q == NULL) {
			b->oom = true;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
}

static void
metric_head(struct tbuf *b, const char *name, const char *type, const char *help)
{
	tb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* ---------------------------------------------------------------- counter tables */

struct field {
	const char *name;      /* after "sluice_" */
	const char *type;      /* "counter" or "gauge" */
	size_t off;
	const char *help;
};

#define RX(f, n, h) { n, "counter", offsetof(struct sl_rx_stats, f), h }
static const struct field rx_fields[] = {
	RX(polls, "rx_polls_total", "rx loop iterations"),
	RX(busy_polls, "rx_busy_polls_total", "rx loop iterations that found work"),
	RX(rx_packets, "rx_packets_total", "packets received"),
	RX(rx_bytes, "rx_bytes_total", "bytes received"),
	RX(tx_packets, "tx_packets_total", "packets sent"),
	RX(tx_dropped, "tx_dropped_total", "packets the NIC would not take"),
	RX(arp_replies, "rx_arp_replies_total", "ARP requests answered"),
	RX(icmp_replies, "rx_icmp_replies_total", "ICMP echo requests answered"),
	RX(drop_not_ipv4, "rx_drop_not_ipv4_total", "dropped: not IPv4 or ARP"),
	RX(drop_bad_ip, "rx_drop_bad_ip_total", "dropped: malformed IPv4"),
	RX(drop_not_ours, "rx_drop_not_ours_total", "dropped: not addressed to us"),
	RX(drop_not_udp, "rx_drop_not_udp_total", "dropped: not UDP"),
	RX(drop_bad_udp, "rx_drop_bad_udp_total", "dropped: malformed UDP"),
	RX(drop_wrong_port, "rx_drop_wrong_port_total", "dropped: UDP to another port"),
	RX(slp_unknown_stream, "slp_unknown_stream_total", "DATA/FIN for no known stream"),
	RX(slp_out_of_order, "slp_out_of_order_total", "DATA not at the contiguous position"),
	RX(slp_duplicate, "slp_duplicate_total", "DATA already received"),
	RX(slp_beyond_window, "slp_beyond_window_total", "DATA past the granted window"),
	RX(slp_pressure_drops, "slp_pressure_drops_total", "DATA refused: dispatch back-pressure"),
	RX(slp_streams_full, "slp_streams_full_total", "OPEN refused: stream table full"),
	RX(slp_after_fin, "slp_after_fin_total", "DATA after the document was complete"),
	RX(slp_checksum_failed, "slp_checksum_failed_total", "documents whose CRC32C did not match"),
	RX(slp_length_failed, "slp_length_failed_total", "documents whose length did not match"),
	RX(streams_opened, "slp_streams_opened_total", "SLP streams opened"),
	RX(streams_closed, "slp_streams_closed_total", "SLP streams closed"),
	RX(streams_expired, "slp_streams_expired_total", "SLP streams expired while idle"),
	RX(lines, "rx_lines_total", "lines split on the rx lcores"),
	RX(line_bytes, "rx_line_bytes_total", "bytes of lines split on the rx lcores"),
	RX(batches, "rx_batches_total", "line batches produced on the rx lcores"),
	RX(dispatch_retries, "rx_dispatch_retries_total", "dispatch attempts that found workers full"),
};

#define WK(f, n, h) { n, "counter", offsetof(struct sl_worker_stats, f), h }
static const struct field worker_fields[] = {
	WK(polls, "worker_polls_total", "worker loop iterations"),
	WK(busy_polls, "worker_busy_polls_total", "worker loop iterations that found work"),
	WK(batches, "worker_batches_total", "line batches processed"),
	WK(lines, "worker_lines_total", "lines processed"),
	WK(ok, "worker_lines_ok_total", "lines processed ok"),
	WK(errors, "worker_lines_error_total", "lines processed with an error"),
	WK(busy_cycles, "worker_busy_cycles_total", "TSC cycles spent processing"),
	WK(result_retries, "worker_result_retries_total", "result ring full or result pool empty: waited on persistence"),
	WK(large_results, "worker_large_results_total", "large result batches taken for lines whose output did not fit an ordinary one"),
	WK(pending_timeouts, "worker_pending_timeouts_total", "lines whose long work did not finish within pending_timeout_ms (ACKed as errors)"),
	WK(stale_cookies, "worker_stale_cookies_total", "completions reported for no pending line (after its timeout, or bogus)"),
	WK(heartbeat, "worker_heartbeat_total", "loop heartbeat (liveness)"),
};

#define TN(f, n, h) { n, "counter", offsetof(struct sl_tenant_stats, f), h }
static const struct field tenant_fields[] = {
	TN(lines_in, "tenant_lines_in_total", "lines received for the tenant"),
	TN(lines_ok, "tenant_lines_ok_total", "lines processed ok"),
	TN(lines_error, "tenant_lines_error_total", "lines processed with an error"),
	TN(docs_accepted, "tenant_docs_accepted_total", "documents accepted"),
	TN(docs_rejected, "tenant_docs_rejected_total", "documents refused (revision, capacity)"),
	TN(bad_token, "tenant_bad_token_total", "requests with a wrong token for the tenant"),
};

#define PS(f, n, t, h) { n, t, offsetof(struct sl_persist_stats, f), h }
static const struct field persist_fields[] = {
	PS(batches, "persist_batches_total", "counter", "write batches"),
	PS(records, "persist_records_total", "counter", "result records written"),
	PS(bytes, "persist_bytes_total", "counter", "bytes written"),
	PS(fsyncs, "persist_fsyncs_total", "counter", "fdatasync calls"),
	PS(last_batch_records, "persist_last_batch_records", "gauge", "records in the last batch"),
	PS(last_batch_ns, "persist_last_batch_seconds", "gauge", "duration of the last batch"),
	PS(write_errors, "persist_write_errors_total", "counter", "write errors"),
	PS(retries, "persist_retries_total", "counter", "writes retried"),
	PS(docs_completed, "persist_docs_completed_total", "counter", "documents completed"),
	PS(journal_bytes, "persist_journal_bytes_total", "counter", "bytes appended to the journal"),
	PS(held_copies, "persist_held_copies_total", "counter", "early result batches copied to the heap so the pool cannot run dry"),
	PS(held_bytes, "persist_held_bytes", "gauge", "bytes of early result batches held on the heap now (at most held_max_mb)"),
	PS(docs_given_up, "persist_docs_given_up_total", "counter", "documents failed because their held results passed held_max_mb"),
	PS(lines_given_up, "persist_lines_given_up_total", "counter", "lines ACKed as no_result when the wait for them was given up"),
	PS(late_results, "persist_late_results_total", "counter", "results that came after their line was given up: dropped"),
	PS(journal_syncs, "persist_journal_syncs_total", "counter", "fdatasyncs of the journal (one per batch)"),
	PS(busy_ns, "persist_busy_seconds_total", "counter", "time spent writing and syncing batches"),
	PS(checkpoints, "persist_checkpoints_total", "counter", "journal checkpoints (result files synced, old segments deleted)"),
	PS(segments_deleted, "persist_journal_segments_deleted_total", "counter", "journal segments deleted after a checkpoint"),
	PS(recovered_docs, "persist_recovered_docs", "gauge", "unfinished documents found in the journal at start"),
	PS(recovered_records, "persist_recovered_records", "gauge", "journal records replayed at start"),
	PS(unhealthy, "persist_sink_unhealthy", "gauge", "1 while writes or syncs fail (results buffered, not ACKed)"),
	PS(unhealthy_episodes, "persist_sink_unhealthy_episodes_total", "counter", "times the sink went unhealthy"),
};

#define WS(f, n, t, h) { n, t, offsetof(struct sl_ws_stats, f), h }
static const struct field ws_fields[] = {
	WS(subscribers, "ws_subscribers", "gauge", "ACK subscribers connected"),
	WS(subscribers_total, "ws_subscribers_total", "counter", "ACK subscribers accepted"),
	WS(uploads, "ws_uploads", "gauge", "websocket uploads in progress"),
	WS(uploads_total, "ws_uploads_total", "counter", "websocket uploads accepted"),
	WS(acks_sent, "ws_acks_sent_total", "counter", "line ACKs queued to subscribers (lines x subscribers)"),
	WS(ack_messages, "ws_ack_messages_total", "counter", "ACK messages queued to subscribers"),
	WS(summaries_sent, "ws_summaries_sent_total", "counter", "summaries queued to subscribers"),
	WS(refused_auth, "ws_refused_auth_total", "counter", "requests refused: missing or wrong token"),
	WS(refused_path, "ws_refused_path_total", "counter", "requests refused: bad path or arguments"),
	WS(refused_tenant, "ws_refused_tenant_total", "counter", "requests refused: unknown tenant"),
	WS(refused_revision, "ws_refused_revision_total", "counter", "uploads refused: revision not newer"),
	WS(culled_slow, "ws_culled_slow_total", "counter", "subscribers closed for reading too slowly"),
	WS(ingest_lines, "ws_ingest_lines_total", "counter", "lines received by websocket upload"),
	WS(ingest_bytes, "ws_ingest_bytes_total", "counter", "bytes received by websocket upload"),
	WS(ingest_pauses, "ws_ingest_pauses_total", "counter", "uploads paused by dispatch back-pressure"),
	WS(ingest_too_large, "ws_ingest_too_large_total", "counter", "uploads failed for passing the tenant's max_document_mb (413)"),
	WS(replayed_messages, "ws_replayed_messages_total", "counter", "ACK and summary messages replayed from results files (?from=)"),
	WS(refused_url, "ws_refused_url_total", "counter", "requests refused before routing: malformed or over-long request target or head (400, 414, 431)"),
	WS(gate_timeouts, "ws_gate_timeouts_total", "counter", "connections that did not send their request head in time (408)"),
	WS(gate_busy, "ws_gate_busy_total", "counter", "connections refused: too many sending their request at once (503)"),
};

static uint64_t
field_of(const void *base, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)base + off, sizeof(v));
	return v;
}

/* A single-valued struct (persistence, websocket thread). */
static void
render_single(struct tbuf *b, const struct field *f, size_t n, const void *s)
{
	for (size_t i = 0; i < n; i++) {
		char name[96];
		snprintf(name, sizeof(name), "sluice_%s", f[i].name);
		metric_head(b, name, f[i].type, f[i].help);
		uint64_t v = field_of(s, f[i].off);
		if (strcmp(f[i].name, "persist_last_batch_seconds") == 0 ||
		    strcmp(f[i].name, "persist_busy_seconds_total") == 0)
			tb_printf(b, "%s %.9f\n", name, (double)v / 1e9);
		else
			tb_printf(b, "%s %lu\n", name, (unsigned long)v);
	}
}

static void
render_rx(struct tbuf *b, struct sl_runtime *rt)
{
	static const char *const frame_type[4] = { "open", "data", "fin", "other" };

	for (size_t i = 0; i < RTE_DIM(rx_fields); i++) {
		char name[96];
		uint64_t sum = 0;
		snprintf(name, sizeof(name), "sluice_%s", rx_fields[i].name);
		metric_head(b, name, rx_fields[i].type, rx_fields[i].help);
		for (unsigned q = 0; q < rt->n_rx; q++)
			sum += field_of(&rt->rx_stats[q], rx_fields[i].off);
		tb_printf(b, "%s %lu\n", name, (unsigned long)sum);
	}

	metric_head(b, "sluice_slp_invalid_total", "counter", "datagrams that were not valid SLP frames, by why");
	for (unsigned e = 1; e < SLP_DEC__COUNT; e++) {
		uint64_t sum = 0;
		for (unsigned q = 0; q < rt->n_rx; q++)
			sum += rt->rx_stats[q].slp_bad[e];
		tb_printf(b, "sluice_slp_invalid_total{reason=\"%s\"} %lu\n",
			  slp_decode_err_str((enum slp_decode_err)e), (unsigned long)sum);
	}

	metric_head(b, "sluice_slp_frames_total", "counter", "valid SLP frames accepted, by type");
	for (unsigned t = 0; t < 4; t++) {
		uint64_t sum = 0;
		for (unsigned q = 0; q < rt->n_rx; q++)
			sum += rt->rx_stats[q].slp_frames[t];
		tb_printf(b, "sluice_slp_frames_total{type=\"%s\"} %lu\n", frame_type[t], (unsigned long)sum);
	}
}

/* Counters of sl_worker_state the supervisor and the worker keep about long calls (u64 each). */
static const struct {
	const char *name, *help;
	size_t off;
} supervision_counters[] = {
	{ "long_lines_total", "times the worker was found inside one long processor call",
	  offsetof(struct sl_worker_state, long_lines) },
	{ "redispatched_batches_total",
	  "line batches moved from the worker to others because it was inside a long processor call",
	  offsetof(struct sl_worker_state, redispatched) },
	{ "stall_signals_ignored_total",
	  "stall signals that reached the worker after the stalled call had ended (ignored)",
	  offsetof(struct sl_worker_state, stall_ignored) },
};

static void
render_workers(struct tbuf *b, struct sl_runtime *rt)
{
	for (size_t i = 0; i < RTE_DIM(worker_fields); i++) {
		char name[96];
		snprintf(name, sizeof(name), "sluice_%s", worker_fields[i].name);
		metric_head(b, name, worker_fields[i].type, worker_fields[i].help);
		for (unsigned w = 0; w < rt->n_workers; w++)
			tb_printf(b, "%s{worker=\"%u\"} %lu\n", name, w,
				  (unsigned long)field_of(&rt->worker_stats[w], worker_fields[i].off));
	}
	metric_head(b, "sluice_worker_running", "gauge", "1 if the worker is running");
	for (unsigned w = 0; w < rt->n_workers; w++)
		tb_printf(b, "sluice_worker_running{worker=\"%u\"} %d\n", w,
			  atomic_load(&rt->workers[w].running) ? 1 : 0);
	/* supervision of long processor calls (supervisor.h) */
	metric_head(b, "sluice_worker_long_line", "gauge",
		    "1 while the worker is inside one processor call longer than long_line_ms (takes no new batches)");
	for (unsigned w = 0; w < rt->n_workers; w++)
		tb_printf(b, "sluice_worker_long_line{worker=\"%u\"} %d\n", w,
			  atomic_load(&rt->workers[w].long_line) ? 1 : 0);
	metric_head(b, "sluice_worker_call_ms", "gauge", "how long the current processor call has lasted (0 between calls)");
	for (unsigned w = 0; w < rt->n_workers; w++)
		tb_printf(b, "sluice_worker_call_ms{worker=\"%u\"} %lu\n", w,
			  (unsigned long)sl_worker_call_ms(rt, w));
	for (size_t i = 0; i < RTE_DIM(supervision_counters); i++) {
		char name[96];
		snprintf(name, sizeof(name), "sluice_worker_%s", supervision_counters[i].name);
		metric_head(b, name, "counter", supervision_counters[i].help);
		for (unsigned w = 0; w < rt->n_workers; w++)
			tb_printf(b, "%s{worker=\"%u\"} %lu\n", name, w, (unsigned long)__atomic_load_n(
				  (const uint64_t *)((const char *)&rt->workers[w] + supervision_counters[i].off),
				  __ATOMIC_RELAXED));
	}
	metric_head(b, "sluice_worker_crashes_total", "counter",
		    "times the worker died (processor fault, poison line, kill drill, stall) and was taken over");
	for (unsigned w = 0; w < rt->n_workers; w++)
		tb_printf(b, "sluice_worker_crashes_total{worker=\"%u\"} %lu\n", w,
			  (unsigned long)__atomic_load_n(&rt->workers[w].crashes, __ATOMIC_RELAXED));
}

static void
render_tenants(struct tbuf *b, struct sl_runtime *rt)
{
	const struct sl_config *cfg = rt->cfg;
	unsigned rows = rt->n_producers + rt->n_workers + 1;

	if (rt->tenant_stats == NULL)
		return;
	for (size_t i = 0; i < RTE_DIM(tenant_fields); i++) {
		char name[96];
		snprintf(name, sizeof(name), "sluice_%s", tenant_fields[i].name);
		metric_head(b, name, tenant_fields[i].type, tenant_fields[i].help);
		for (unsigned t = 0; t < cfg->n_tenants; t++) {
			uint64_t sum = 0;
			for (unsigned r = 0; r < rows; r++)
				sum += field_of(&sl_tenant_row(rt, r)[t], tenant_fields[i].off);
			tb_printf(b, "%s{tenant=\"%s\"} %lu\n", name, cfg->tenants[t].name, (unsigned long)sum);
		}
	}
}

char *
sl_metrics_render(struct sl_runtime *rt, size_t *len)
{
	struct tbuf b = { .cap = 16384 };

	b.p = malloc(b.cap);
	if (b.p == NULL)
		return NULL;
	b.p[0] = '\0';

	render_rx(&b, rt);
	render_workers(&b, rt);
	render_tenants(&b, rt);
	render_single(&b, persist_fields, RTE_DIM(persist_fields), &rt->persist_stats);
	render_single(&b, ws_fields, RTE_DIM(ws_fields), &rt->ws_stats);
	if (rt->docs != NULL) {
		metric_head(&b, "sluice_docs_active", "gauge", "documents being ingested or finished");
		tb_printf(&b, "sluice_docs_active %u\n", sl_docs_active(rt->docs));
	}

	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* ---------------------------------------------------------------- replies */

/* Status line and headers now; the body goes out from HTTP_WRITEABLE. */
/* len bytes of a reason as a header value: at most 400, control bytes made '?'. Returns its length. */
static size_t
header_text(char *out, const char *text, size_t len)
{
	size_t n = len < 400 ? len : 400;

	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
	out[n] = '\0';
	return n;
}

/*
 * Status line and headers now; the body goes out from HTTP_WRITEABLE. A
 * refusal (status >= 400) also carries its reason (the body, a line of
 * text) in x-sluice-reason, as a refused websocket upgrade does.
 */
static int
start_reply(struct lws *wsi, struct sl_ws_conn *c, unsigned status, const char *ctype,
	    char *body, size_t len)
{
	unsigned char hdr[LWS_PRE + 1024];
	unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
	char why[401];
	size_t bl = len;

	while (bl > 0 && body[bl - 1] == '\n')   /* the body's own line end */
		bl--;
	size_t wn = status >= 400 ? header_text(why, body, bl) : 0;

	sl_http_free(c);
	c->http.body = body;
	c->http.len = len;
	c->http.off = 0;
	/*
	 * A refusal ends the connection, as a refused upgrade does: no length
	 * to lws_add_http_common_headers makes it say "connection: close" and
	 * close once the body is out; the length goes in by hand.
	 */
	if (lws_add_http_common_headers(wsi, status, ctype, status >= 400 ? LWS_ILLEGAL_HTTP_CONTENT_LEN : len,
					&p, end) ||
	    (status >= 400 && lws_add_http_header_content_length(wsi, len, &p, end)) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (const unsigned char *)"no-store", 8, &p, end) ||
	    (wn > 0 && lws_add_http_header_by_name(wsi, (const unsigned char *)"x-sluice-reason:",
						   (const unsigned char *)why, (int)wn, &p, end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return 1;
	lws_callback_on_writable(wsi);
	return 0;
}

int
sl_http_reply(struct lws *wsi, struct sl_ws_conn *c, unsigned status, const char *text)
{
	size_t n = strlen(text);
	char *body = malloc(n + 2);

	if (body == NULL)
		return 1;
	memcpy(body, text, n);
	body[n] = '\n';
	body[n + 1] = '\0';
	return start_reply(wsi, c, status, "text/plain; charset=utf-8", body, n + 1);
}

int
sl_http_request(struct lws *wsi, struct sl_ws_conn *c, struct sl_runtime *rt, const char *uri)
{
	if (strcmp(uri, "/healthz") == 0)
		return sl_http_reply(wsi, c, 200, "ok");
	if (strcmp(uri, "/metrics") == 0) {
		size_t len;
		char *body = sl_metrics_render(rt, &len);
		if (body == NULL)
			return sl_http_reply(wsi, c, 500, "out of memory rendering metrics");
		return start_reply(wsi, c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len);
	}
	return sl_http_reply(wsi, c, 404,
			     "not found: the endpoints are GET /metrics, GET /healthz, and the websockets "
			     "/v1/acks/<tenant>/<doc> and /v1/ingest/<tenant>/<doc>?rev=N");
}

int
sl_http_writeable(struct lws *wsi, struct sl_ws_conn *c)
{
	unsigned char buf[LWS_PRE + SL_HTTP_CHUNK];
	struct sl_http_reply *r = &c->http;

	if (r->body == NULL)
		return 0;
	size_t n = r->len - r->off;
	if (n > SL_HTTP_CHUNK)
		n = SL_HTTP_CHUNK;
	bool last = r->off + n == r->len;
	memcpy(buf + LWS_PRE, r->body + r->off, n);
	if (lws_write(wsi, buf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
		return -1;
	r->off += n;
	if (!last) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	sl_http_free(c);
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

void
sl_http_free(struct sl_ws_conn *c)
{
	free(c->http.body);
	c->http.body = NULL;
	c->http.len = c->http.off = 0;
}

static const char *
status_text(unsigned status)
{
	switch (status) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 414: return "URI Too Long";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

int
sl_http_refusal(char *out, size_t cap, unsigned status, const char *text)
{
	char why[401];
	size_t wn = header_text(why, text, strlen(text));

	/*
	 * Written by hand: this early in the request lws would label the
	 * status line HTTP/1.0. The reason also travels as a header, since
	 * websocket clients rarely show the body of a failed handshake.
	 */
	int n = snprintf(out, cap,
			 "HTTP/1.1 %u %s\r\n"
			 "content-type: text/plain; charset=utf-8\r\n"
			 "content-length: %zu\r\n"
			 "x-sluice-reason: %s\r\n"
			 "cache-control: no-store\r\n"
			 "connection: close\r\n"
			 "\r\n"
			 "%s\n",
			 status, status_text(status), wn + 1, why, why);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
sl_http_refuse_upgrade(struct lws *wsi, unsigned status, const char *text)
{
	unsigned char buf[LWS_PRE + 1024];
	char *start = (char *)buf + LWS_PRE;
	int n = sl_http_refusal(start, sizeof(buf) - LWS_PRE, status, text);

	if (n < 0)
		return -1;
	return lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP_HEADERS) == n ? 0 : -1;
}
