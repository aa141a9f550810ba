/*
 * topk_ws.c — subscribers of /v1/topk/<tenant> (see topk_ws.h).
 *
 * The list of subscribers is a plain array: there are few of them (an
 * operator's dashboard or two per tenant), and a close costs one scan.
 * Each second the top 10 of every tenant with a subscriber is merged and
 * formatted once, and the same reference-counted message is queued to
 * all of that tenant's subscribers.
 */
#include <stdlib.h>
#include <string.h>

#include "topk_view.h"
#include "topk_ws.h"

#define TOPK_WS_PERIOD_US (1000 * LWS_US_PER_MS)
#define TOPK_WS_BACKLOG 1u     /* a subscriber with this many messages still queued skips a push */

static struct {
	struct sl_ws_conn **subs;
	unsigned n, cap;
	lws_usec_t next_push;
	struct sl_wmsg *msg[SL_MAX_TENANTS];   /* this push's message per tenant */
} tw;

/* The current top 10 of c's tenant as a message, formatted once per push. */
static struct sl_wmsg *
tenant_message(uint16_t tenant)
{
	const struct sl_runtime *rt = sl_ws_runtime();
	struct sl_topk_entry top[SL_TOPK_N];
	char json[SL_TOPK_JSON_MAX];
	int n, len;

	if (tw.msg[tenant] != NULL)
		return tw.msg[tenant];
	n = sl_topk_get(tenant, top);
	len = sl_topk_format_json(rt->cfg->tenants[tenant].name, top, n > 0 ? n : 0, json,
				  sizeof(json));
	if (len < 0)
		return NULL;
	tw.msg[tenant] = sl_wmsg_printf("%s", json);
	return tw.msg[tenant];
}

static void
release_messages(void)
{
	for (unsigned i = 0; i < tw.n; i++) {
		uint16_t t = tw.subs[i]->tenant;

		sl_wmsg_put(tw.msg[t]);      /* NULL-safe; drops our reference */
		tw.msg[t] = NULL;
	}
}

void
sl_topk_ws_subscribe(struct sl_ws_conn *c)
{
	const struct sl_runtime *rt = sl_ws_runtime();
	struct sl_wmsg *m;

	if (tw.n == tw.cap) {
		unsigned cap = tw.cap ? tw.cap * 2 : 16;
		struct sl_ws_conn **subs = realloc(tw.subs, cap * sizeof(*subs));

		if (subs == NULL) {
			SL_WS_LOG(ERR, "out of memory for a topk subscriber\n");
			sl_conn_refuse(c, 503, "out of memory: try again later");
			return;
		}
		tw.subs = subs;
		tw.cap = cap;
	}
	tw.subs[tw.n++] = c;

	/* tenant names are [A-Za-z0-9._-]: nothing to escape */
	m = sl_wmsg_printf("{\"type\":\"subscribed\",\"tenant\":\"%s\"}", rt->cfg->tenants[c->tenant].name);
	sl_conn_send(c, m);
	sl_wmsg_put(m);
	m = tenant_message(c->tenant);
	sl_conn_send(c, m);
	sl_wmsg_put(m);
	tw.msg[c->tenant] = NULL;
}

void
sl_topk_ws_unsubscribe(struct sl_ws_conn *c)
{
	for (unsigned i = 0; i < tw.n; i++) {
		if (tw.subs[i] == c) {
			tw.subs[i] = tw.subs[--tw.n];
			return;
		}
	}
}

void
sl_topk_ws_tick(void)
{
	lws_usec_t now = lws_now_usecs();

	if (tw.n == 0 || now < tw.next_push)
		return;
	tw.next_push = now + TOPK_WS_PERIOD_US;
	for (unsigned i = 0; i < tw.n; i++) {
		struct sl_ws_conn *c = tw.subs[i];

		if (c->closing || c->q.count >= TOPK_WS_BACKLOG)
			continue;               /* still sending the last one: skip a second */
		sl_conn_send(c, tenant_message(c->tenant));
	}
	release_messages();
}

void
sl_topk_ws_fini(void)
{
	free(tw.subs);
	memset(&tw, 0, sizeof(tw));
}
