/*
 * wsconn.h — one websocket connection of the control-plane server, as
 * seen by ws.c (the plumbing), acks.c (subscribers) and ingest.c
 * (uploads). Private to those three files; everything here runs on the
 * lws service thread only.
 *
 * Outgoing messages are reference-counted (struct sl_wmsg): an ACK range
 * is formatted once and queued to every subscriber of its document. Each
 * connection has a bounded queue of them; WRITEABLE sends exactly one per
 * callback and asks for another while the queue is not empty.
 */
#ifndef SLUICE_WSCONN_H
#define SLUICE_WSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>
#include <rte_log.h>

#include "../config/config.h"
#include "../dataplane/runtime.h"

/* One outgoing text message; the payload starts at buf + LWS_PRE. */
struct sl_wmsg {
	uint32_t refs;
	uint32_t len;
	unsigned char buf[];
};

/*
 * A connection's bounded FIFO of messages waiting for WRITEABLE. The
 * array starts small and doubles up to cap: a quiet subscriber does not
 * pay for a queue of 65536 pointers.
 */
struct sl_outq {
	struct sl_wmsg **m;
	uint32_t size;          /* slots allocated */
	uint32_t cap;           /* most messages ever queued */
	uint32_t head, count;
};

/* What a plain HTTP request is being answered with (http.c). */
struct sl_http_reply {
	char *body;          /* malloc'd */
	size_t len, off;
};

enum sl_conn_kind {
	SL_CONN_NONE = 0,    /* plain HTTP, or not yet established */
	SL_CONN_SUB,         /* /v1/acks/<tenant>/<doc>[?from=N[&rev=R]] */
	SL_CONN_UPLOAD,      /* /v1/ingest/<tenant>/<doc>?rev=N */
};

struct sl_upload;
struct sl_replay;
struct sl_revisions;

/* lws per-session data of our single protocol (zeroed by lws). */
struct sl_ws_conn {
	struct lws *wsi;
	uint8_t kind;                   /* enum sl_conn_kind */
	bool closing;                   /* close once the queue is sent */
	uint16_t close_code;
	char close_reason[120];         /* < 123 bytes: fits a close frame */
	uint16_t tenant;
	char doc[SL_NAME_MAX + 1];
	struct sl_outq q;

	/* every established websocket connection (ws.c), for shutdown */
	struct sl_ws_conn *all_prev, *all_next;

	/* subscribers: chain in the (tenant, doc) hash bucket (acks.c) */
	struct sl_ws_conn *sub_prev, *sub_next;
	uint32_t sub_bucket;
	bool sub_linked;
	/* backed up but reading: the drain waits for it (acks.c) */
	bool holding;
	struct sl_ws_conn *hold_prev, *hold_next;
	/*
	 * ?from=N: replay revision rev from line N out of its results file
	 * first (acks.c). from 0: live only. replay is set while the replay
	 * is being sent; live messages wait in q behind it.
	 */
	uint64_t from, rev;
	struct sl_replay *replay;

	/* uploads (ingest.c) */
	struct sl_upload *up;

	/* plain HTTP replies (http.c) */
	struct sl_http_reply http;
};

/* A request that passed path and token checks (ws.c). */
struct sl_route {
	enum sl_conn_kind kind;
	uint16_t tenant;
	char doc[SL_NAME_MAX + 1];
	uint64_t rev;                   /* uploads: ?rev=; subscribers: ?rev= or 0 */
	uint64_t from;                  /* subscribers: ?from=, 0 = live only */
	bool resume;                    /* uploads: ?resume=1, go on from the durable offset */
};

/* ---- implemented in ws.c ---- */

/* Format a message (printf rules). NULL if out of memory. refs starts at 1. */
struct sl_wmsg *sl_wmsg_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sl_wmsg_put(struct sl_wmsg *m);

/*
 * Queue m (takes a new reference) and ask for WRITEABLE. Returns 0, or -1
 * if the queue is full or the connection is already closing: the caller
 * decides (subscribers are culled).
 */
int sl_conn_send(struct sl_ws_conn *c, struct sl_wmsg *m);

/* Close with code and reason: after the queued messages (drain) or now. */
void sl_conn_close(struct sl_ws_conn *c, uint16_t code, const char *reason, bool drain);

/* Send {"type":"error","code":status,"reason":...} and close with 4000+status. */
void sl_conn_refuse(struct sl_ws_conn *c, unsigned status, const char *reason);

/* Escape s for a JSON string body into out (always NUL-terminated). */
void sl_ws_escape(char *out, size_t cap, const char *s);

/* Log type "sluice.ws", and a shorthand for it. */
extern int sl_ws_logtype;
#define SL_WS_LOG(level, ...) rte_log(RTE_LOG_##level, sl_ws_logtype, "ws: " __VA_ARGS__)

/* The runtime, revision registry and lws context the server runs with. */
struct sl_runtime *sl_ws_runtime(void);
struct sl_revisions *sl_ws_revisions(void);
struct lws_context *sl_ws_context(void);
bool sl_ws_stopping(void);

#endif
