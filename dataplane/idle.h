/*
 * idle.h — what a polling loop does when a poll found nothing.
 *
 * rte_pause() does not give the CPU away, and on this appliance many
 * lcores may share few CPUs. So, in adaptive mode: spin a little (cheap
 * wake-up under load), then sched_yield (let a sibling lcore run), then
 * sleep with a cap that doubles each empty poll. Any work resets it.
 * busy mode spins forever: for dedicated cores only.
 */
#ifndef SLUICE_IDLE_H
#define SLUICE_IDLE_H

#include <sched.h>
#include <stdint.h>
#include <time.h>

#include <rte_pause.h>

#include "../config/config.h"

#define SL_IDLE_SPINS 64u
#define SL_IDLE_YIELDS 128u

struct sl_idle {
	uint32_t empty;       /* consecutive empty polls */
	uint32_t sleep_us;    /* next sleep */
	uint32_t max_us;      /* cap: how long this loop may stay deaf */
	enum sl_idle_mode mode;
};

static inline void
sl_idle_init(struct sl_idle *i, enum sl_idle_mode mode, uint32_t max_us)
{
	i->empty = 0;
	i->sleep_us = 1;
	i->max_us = max_us;
	i->mode = mode;
}

static inline void
sl_idle_reset(struct sl_idle *i)
{
	i->empty = 0;
	i->sleep_us = 1;
}

static inline void
sl_idle_wait(struct sl_idle *i)
{
	if (i->mode == SL_IDLE_BUSY) {
		rte_pause();
		return;
	}
	i->empty++;
	if (i->empty < SL_IDLE_SPINS) {
		rte_pause();
	} else if (i->empty < SL_IDLE_YIELDS) {
		sched_yield();
	} else {
		struct timespec ts = { 0, (long)i->sleep_us * 1000L };
		nanosleep(&ts, NULL);
		if (i->sleep_us < i->max_us)
			i->sleep_us = i->sleep_us * 2 > i->max_us ? i->max_us : i->sleep_us * 2;
	}
}

#endif
