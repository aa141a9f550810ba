/*
 * http.h — the plain HTTP side of the control-plane server: /metrics
 * (Prometheus text exposition of every counter), /healthz, and the
 * status answers ws.c gives to requests it refuses.
 *
 * Replies are built whole, then sent in chunks from HTTP_WRITEABLE (one
 * lws_write per callback). Service thread only, except
 * sl_metrics_render(), which only reads counters and may run anywhere.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stddef.h>

#include <libwebsockets.h>

#include "../dataplane/runtime.h"
#include "wsconn.h"

/*
 * LWS_CALLBACK_HTTP for a path that is not a websocket endpoint:
 * /metrics, /healthz, or 404 naming the valid endpoints. Returns what
 * the lws callback must return.
 */
int sl_http_request(struct lws *wsi, struct sl_ws_conn *c, struct sl_runtime *rt, const char *uri);

/* Answer with status and a text/plain body (a line of text). */
int sl_http_reply(struct lws *wsi, struct sl_ws_conn *c, unsigned status, const char *text);

/* LWS_CALLBACK_HTTP_WRITEABLE: send the next chunk of the reply. */
int sl_http_writeable(struct lws *wsi, struct sl_ws_conn *c);

/* Free a reply still held (connection closed). */
void sl_http_free(struct sl_ws_conn *c);

/*
 * Refuse a websocket upgrade (LWS_CALLBACK_HTTP_CONFIRM_UPGRADE) with an
 * HTTP status and text body written at once; the caller then returns -1
 * so lws hangs up. 0, or -1 if the answer could not be written.
 */
int sl_http_refuse_upgrade(struct lws *wsi, unsigned status, const char *text);

/*
 * The whole answer to a refused request, as written on the wire: status
 * line, text/plain body of one line, the same text in x-sluice-reason,
 * connection: close. Any thread (the gate uses it). Its length, or -1 if
 * it does not fit cap.
 */
int sl_http_refusal(char *out, size_t cap, unsigned status, const char *text);

/* The Prometheus exposition, malloc'd and NUL-terminated; NULL if out of memory. */
char *sl_metrics_render(struct sl_runtime *rt, size_t *len);

#endif
