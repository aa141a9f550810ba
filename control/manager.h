/*
 * manager.h — the session manager, on the main lcore.
 *
 * It decides what needs durable state or a global view, once per
 * document: an SLP OPEN (revision registry, document slot), relays END
 * from the rx lcores to persistence, and DONE from the fan-out back to
 * the rx lcore that owns the stream, releasing the slot. It never sees a
 * line.
 */
#ifndef SLUICE_MANAGER_H
#define SLUICE_MANAGER_H

#include "../dataplane/runtime.h"
#include "revisions.h"
#include "../dataplane/supervisor.h"

/* Run until rt->stop is set; the supervisor's tick runs in the same loop. */
void sl_manager_run(struct sl_runtime *rt, struct sl_revisions *revs, struct sl_supervisor *sup);

/* One pass over the rings; returns messages handled (used by run, and to drain at shutdown). */
unsigned sl_manager_poll(struct sl_runtime *rt, struct sl_revisions *revs);

#endif
