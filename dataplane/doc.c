/*
 * doc.c — document slots. A mutex is fine here: slots are taken and
 * released once per document by control-plane threads, never per line.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "doc.h"

static pthread_mutex_t docs_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t docs_hint;   /* where to start looking for a free slot */
static uint32_t docs_active;

void
sl_docs_init(struct sl_doc_table *t)
{
	memset(t, 0, sizeof(*t));
	docs_hint = 0;
	docs_active = 0;
}

int
sl_docs_open(struct sl_doc_table *t, uint16_t tenant, const char *name, uint64_t revision,
	     enum sl_doc_origin origin)
{
	return sl_docs_open_limited(t, tenant, name, revision, origin, UINT32_MAX);
}

int
sl_docs_open_limited(struct sl_doc_table *t, uint16_t tenant, const char *name, uint64_t revision,
		     enum sl_doc_origin origin, uint32_t tenant_max)
{
	int slot = -1;

	pthread_mutex_lock(&docs_lock);
	if (tenant < SL_MAX_TENANTS && t->tenant_active[tenant] >= tenant_max) {
		pthread_mutex_unlock(&docs_lock);
		return -2;
	}
	for (uint32_t n = 0; n < SL_MAX_DOCS; n++) {
		uint32_t i = (docs_hint + n) % SL_MAX_DOCS;
		if (!t->docs[i].in_use) {
			slot = (int)i;
			break;
		}
	}
	if (slot >= 0) {
		struct sl_doc *d = &t->docs[slot];
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		d->tenant = tenant;
		d->origin = (uint8_t)origin;
		d->revision = revision;
		strncpy(d->name, name, SL_NAME_MAX);
		d->name[SL_NAME_MAX] = '\0';
		d->rx = 0;
		d->stream = 0;
		d->session = 0;
		d->ws_conn = NULL;
		d->resume_lines = d->resume_offset = d->resume_ok = d->resume_errors = 0;
		d->resume_crc = 0;
		__atomic_store_n(&d->durable, 0, __ATOMIC_RELAXED);
		d->opened_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		d->in_use = 1;
		docs_hint = (uint32_t)slot + 1;
		docs_active++;
		if (tenant < SL_MAX_TENANTS)
			t->tenant_active[tenant]++;
	}
	pthread_mutex_unlock(&docs_lock);
	/* Other threads learn the slot through a ring enqueue, which is a release barrier. */
	return slot;
}

void
sl_docs_release(struct sl_doc_table *t, uint32_t slot)
{
	if (slot >= SL_MAX_DOCS)
		return;
	pthread_mutex_lock(&docs_lock);
	if (t->docs[slot].in_use) {
		t->docs[slot].in_use = 0;
		t->docs[slot].gen++;
		t->docs[slot].ws_conn = NULL;
		docs_active--;
		if (t->docs[slot].tenant < SL_MAX_TENANTS && t->tenant_active[t->docs[slot].tenant] > 0)
			t->tenant_active[t->docs[slot].tenant]--;
	}
	pthread_mutex_unlock(&docs_lock);
}

int
sl_docs_find(struct sl_doc_table *t, uint16_t tenant, const char *name)
{
	int slot = -1;

	pthread_mutex_lock(&docs_lock);
	for (uint32_t i = 0; i < SL_MAX_DOCS && slot < 0; i++)
		if (t->docs[i].in_use && t->docs[i].tenant == tenant && strcmp(t->docs[i].name, name) == 0)
			slot = (int)i;
	pthread_mutex_unlock(&docs_lock);
	return slot;
}

uint32_t
sl_docs_active(struct sl_doc_table *t)
{
	uint32_t n;

	(void)t;
	pthread_mutex_lock(&docs_lock);
	n = docs_active;
	pthread_mutex_unlock(&docs_lock);
	return n;
}
