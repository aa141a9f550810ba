/*
 * manager.c — OPEN decisions and the END/DONE relay (see manager.h).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_ring.h>

#include "../dataplane/idle.h"
#include "manager.h"
#include "recover.h"

#define MGR_BURST 16u

/* Reasons go on the wire in a fixed field: truncation is expected and fine. */
static void __attribute__((format(printf, 2, 3)))
reasonf(struct sl_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->reason, sizeof(m->reason), fmt, ap);
	va_end(ap);
	m->reason_len = (uint8_t)strnlen(m->reason, sizeof(m->reason));
}
#define MGR_MAX_SLEEP_US 2000u   /* OPEN decisions wait at most 2 ms more when idle */

/* Enqueue a message that must not be lost; the peers drain quickly, so wait. */
static void
must_enqueue(struct rte_ring *r, struct sl_msg *m)
{
	while (rte_ring_enqueue_elem(r, m, sizeof(*m)) != 0)
		rte_delay_us_sleep(100);
}

static void
decide_open(struct sl_runtime *rt, struct sl_revisions *revs, const struct sl_msg *req)
{
	const struct sl_config *cfg = rt->cfg;
	const char *tenant = cfg->tenants[req->tenant].name;
	struct sl_tenant_stats *ts = &sl_tenant_row(rt, sl_row_control(rt))[req->tenant];
	char doc[SL_NAME_MAX + 1], err[256];
	struct sl_msg r;
	uint64_t highest = 0;
	int rc, slot;

	memset(&r, 0, sizeof(r));
	r.type = SL_MSG_OPEN_REPLY;
	r.rx = req->rx;
	r.stream = req->stream;
	r.session = req->session;
	snprintf(doc, sizeof(doc), "%.*s", (int)req->doc_len, req->doc_name);

	if (req->flags & SL_MSG_F_RESUME) {
		struct sl_resume_answer a;
		uint64_t hi = sl_revisions_highest(revs, tenant, doc);

		switch (sl_resume_decide(rt->recovery, rt->docs, cfg->data_dir, req->tenant, tenant, doc,
					 req->revision, hi, &a)) {
		case SL_RESUME_NO:
			break;                 /* not a known revision: the ordinary rules */
		case SL_RESUME_BUSY:
			r.code = SLP_E_TOO_MANY_STREAMS;
			reasonf(&r, "%s", a.reason);
			goto reply;
		case SL_RESUME_ERROR:
			r.code = SLP_E_INTERNAL;
			reasonf(&r, "cannot resume: %s", a.reason);
			RTE_LOG(ERR, USER1, "sluiced: %s/%s rev %" PRIu64 ": %s\n", tenant, doc, req->revision,
				a.reason);
			goto reply;
		case SL_RESUME_COMPLETE:
			r.flags = SL_MSG_F_COMPLETE;
			r.code = a.code;
			r.lines = a.lines;
			r.ok = a.ok;
			r.errors = a.errors;
			if (a.code != SLP_OK)
				reasonf(&r, "%s", slp_code_str((enum slp_code)a.code));
			RTE_LOG(INFO, USER1, "sluiced: %s/%s rev %" PRIu64 " was already complete: DONE again\n",
				tenant, doc, req->revision);
			goto reply_raw;
		case SL_RESUME_FROM:
			slot = sl_docs_open_limited(rt->docs, req->tenant, doc, req->revision, SL_ORIGIN_SLP,
						    cfg->tenants[req->tenant].max_streams);
			if (slot < 0)
				goto refuse_slot;
			sl_resume_apply(&rt->docs->docs[slot], &a);
			RTE_LOG(INFO, USER1, "sluiced: %s/%s rev %" PRIu64 " resumed at line %" PRIu64
				", byte %" PRIu64 "\n", tenant, doc, req->revision, a.st.lines + 1, a.st.offset);
			goto accepted;
		}
	}

	/* Take the slot first: a refusal for capacity must not consume the revision. */
	slot = sl_docs_open_limited(rt->docs, req->tenant, doc, req->revision, SL_ORIGIN_SLP,
				    cfg->tenants[req->tenant].max_streams);
refuse_slot:
	if (slot == -2) {
		r.code = SLP_E_TENANT_STREAMS;
		reasonf(&r, "tenant %s already has %u documents in flight (max_streams); retry when one completes",
			tenant, cfg->tenants[req->tenant].max_streams);
		goto reply;
	}
	if (slot < 0) {
		r.code = SLP_E_TOO_MANY_STREAMS;
		reasonf(&r, "too many documents in flight (%u); retry later", SL_MAX_DOCS);
		goto reply;
	}
	rc = sl_revisions_accept(revs, tenant, doc, req->revision, &highest, err, sizeof(err));
	if (rc != 0) {
		sl_docs_release(rt->docs, (uint32_t)slot);
		if (rc == 1) {
			r.code = SLP_E_REVISION;
			reasonf(&r, "revision %" PRIu64 " is not newer than %" PRIu64 ", the highest accepted for "
				"this document; send a higher revision", req->revision, highest);
		} else {
			r.code = SLP_E_INTERNAL;
			reasonf(&r, "could not record the revision: %s", err);
			RTE_LOG(ERR, USER1, "sluiced: %s/%s rev %" PRIu64 ": %s\n", tenant, doc, req->revision, err);
		}
		goto reply;
	}
	/* a newer revision: an unfinished older one can no longer be resumed */
	sl_recovery_forget(rt->recovery, tenant, doc);
accepted:
	rt->docs->docs[slot].rx = req->rx;
	rt->docs->docs[slot].stream = req->stream;
	rt->docs->docs[slot].session = req->session;
	r.code = SLP_OK;
	r.doc = (uint32_t)slot;
	r.doc_gen = rt->docs->docs[slot].gen;
	r.revision = req->revision;
reply:
	if (r.code == SLP_OK)
		ts->docs_accepted++;
	else
		ts->docs_rejected++;
reply_raw:
	must_enqueue(rt->mgr_to_rx[req->rx], &r);
}

static void
relay_done(struct sl_runtime *rt, struct sl_msg *m)
{
	struct sl_msg d = *m;

	d.type = SL_MSG_DONE;
	if (d.code != SLP_OK && d.reason_len == 0)
		reasonf(&d, "%s", slp_code_str((enum slp_code)d.code));
	if (d.rx < rt->n_rx)
		must_enqueue(rt->mgr_to_rx[d.rx], &d);
	sl_docs_release(rt->docs, m->doc);
}

unsigned
sl_manager_poll(struct sl_runtime *rt, struct sl_revisions *revs)
{
	struct sl_msg msgs[MGR_BURST];
	unsigned total = 0, n;

	for (unsigned i = 0; i < rt->n_rx; i++) {
		n = rte_ring_sc_dequeue_burst_elem(rt->rx_to_mgr[i], msgs, sizeof(struct sl_msg), MGR_BURST, NULL);
		for (unsigned k = 0; k < n; k++) {
			if (msgs[k].type == SL_MSG_OPEN_REQ)
				decide_open(rt, revs, &msgs[k]);
			else if (msgs[k].type == SL_MSG_END)
				must_enqueue(rt->to_persist, &msgs[k]);
		}
		total += n;
	}
	n = rte_ring_sc_dequeue_burst_elem(rt->ws_to_mgr, msgs, sizeof(struct sl_msg), MGR_BURST, NULL);
	for (unsigned k = 0; k < n; k++)
		if (msgs[k].type == SL_MSG_DONE)
			relay_done(rt, &msgs[k]);
	return total + n;
}

void
sl_manager_run(struct sl_runtime *rt, struct sl_revisions *revs, struct sl_supervisor *sup)
{
	struct sl_idle idle;

	sl_idle_init(&idle, SL_IDLE_ADAPTIVE, MGR_MAX_SLEEP_US);
	while (!atomic_load_explicit(&rt->stop, memory_order_relaxed)) {
		unsigned work = sl_manager_poll(rt, revs) + sl_supervisor_tick(sup);

		if (work > 0)
			sl_idle_reset(&idle);
		else
			sl_idle_wait(&idle);
	}
}
