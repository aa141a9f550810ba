/*
 * acks.h — ACK fan-out: the subscriber registry and the drain of the
 * persistence -> websocket ring (rt->acks).
 *
 * Subscribers are indexed by (tenant index, document name) so that a
 * result batch costs O(subscribers of its document). A subscriber may
 * arrive before its document exists; it receives every revision of that
 * name that completes while it is connected. A subscriber whose queue
 * exceeds cfg->subscriber_queue messages is culled (close 4008): a slow
 * reader never slows the dataplane. A subscriber that reads as fast as
 * we write but is more than half full makes the drain wait for it, so
 * our own pacing (one message per WRITEABLE) never gets it culled.
 *
 * Replay (?from=N[&rev=R]): a subscriber first gets the ACKs of lines
 * >= N of revision R read back from <data>/<tenant>/<doc>/<R>.results,
 * then the live ones, each line exactly once and in line order. The
 * bound between the two is decided at subscribe time (see acks.c).
 * Service thread only.
 */
#ifndef SLUICE_ACKS_H
#define SLUICE_ACKS_H

#include "../dataplane/runtime.h"
#include "wsconn.h"

/* 0, or -1 if out of memory. */
int sl_acks_init(struct sl_runtime *rt);

/*
 * Register an established subscriber and greet it ("subscribed"). With
 * c->from set, start its replay (c->rev 0: the highest accepted revision).
 */
void sl_acks_subscribe(struct sl_ws_conn *c);

/*
 * Subscriber c's WRITEABLE while c->replay is set. true: the replay keeps
 * the turn; *m is the message to send now (the caller owns the reference),
 * or NULL when there is nothing yet (the replay asks for its next turn).
 * false: the replay is over (c->replay is NULL); send from the queue.
 */
bool sl_acks_replay_turn(struct sl_ws_conn *c, struct sl_wmsg **m);

/* Periodic: wake replays waiting for their results file to grow; give up on stalled ones. */
void sl_acks_tick(void);

/* Unregister (LWS_CALLBACK_CLOSED, or when culled). Idempotent. */
void sl_acks_unsubscribe(struct sl_ws_conn *c);

/* A message went out to subscriber c (WRITEABLE): it may stop holding the drain. */
void sl_acks_sent(struct sl_ws_conn *c);

/*
 * Read result batches from rt->acks and fan them out; return every batch
 * to rt->result_pool. Called on every wake and by the periodic timer.
 */
void sl_acks_drain(struct sl_runtime *rt);

/* Shutdown: return batches still held or queued to their pool. */
void sl_acks_fini(struct sl_runtime *rt);

#endif
