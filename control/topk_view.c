/*
 * topk_view.c — merge the workers' top 10 snapshots of a tenant into one
 * (see topk_view.h for how exact that is), and format it for websocket
 * subscribers.
 *
 * Runs on control-plane threads (telemetry, websocket), never on a
 * worker: it reads the slots with the seqlock reader of topk.h and never
 * writes anything a worker reads.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "../config/config.h"
#include "topk_view.h"

/* Every worker's top 10 at once: at most SL_MAX_WORKERS x SL_TOPK_N candidates. */
struct merge {
	uint32_t n;
	struct sl_topk_entry e[SL_MAX_WORKERS * SL_TOPK_N];
};

static void
merge_add(struct merge *m, const struct sl_topk_entry *e)
{
	for (uint32_t i = 0; i < m->n; i++) {
		if (strcmp(m->e[i].key, e->key) == 0) {
			m->e[i].count += e->count;
			return;
		}
	}
	if (m->n < RTE_DIM(m->e))
		m->e[m->n++] = *e;
}

static int
ranks_before(const struct sl_topk_entry *a, const struct sl_topk_entry *b)
{
	if (a->count != b->count)
		return a->count > b->count;
	return strcmp(a->key, b->key) < 0;
}

int
sl_topk_get(uint16_t tenant, struct sl_topk_entry out[SL_TOPK_N])
{
	static __thread struct merge m;   /* ~25 KiB: not on a callback's stack */
	unsigned workers = sl_topk_area_workers();
	int n = 0;

	if (workers == 0 || tenant >= sl_topk_area_tenants())
		return -1;
	m.n = 0;
	for (unsigned w = 0; w < workers && w < SL_MAX_WORKERS; w++) {
		const struct sl_topk_snapshot *s = sl_topk_slot(w, tenant);
		struct sl_topk_entry snap[SL_TOPK_N];
		uint32_t k;

		if (s == NULL)
			continue;
		k = sl_topk_read(s, snap);
		for (uint32_t i = 0; i < k; i++) {
			snap[i].key[SL_TOPK_KEY - 1] = '\0';
			if (snap[i].key[0] != '\0')
				merge_add(&m, &snap[i]);
		}
	}
	/* the 10 best of the merged candidates, by insertion */
	for (uint32_t i = 0; i < m.n; i++) {
		int j;

		if (n == (int)SL_TOPK_N && !ranks_before(&m.e[i], &out[n - 1]))
			continue;
		j = n < (int)SL_TOPK_N ? n++ : n - 1;
		while (j > 0 && ranks_before(&m.e[i], &out[j - 1])) {
			out[j] = out[j - 1];
			j--;
		}
		out[j] = m.e[i];
	}
	return n;
}

/* Append s as a JSON string body; 0 if it does not fit (buf stays NUL-terminated). */
static int
put_escaped(char *buf, size_t cap, size_t *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		char esc[6];
		size_t k;

		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			k = 2;
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[ch >> 4];
			esc[5] = hex[ch & 15];
			k = 6;
		} else {
			esc[0] = (char)ch;
			k = 1;
		}
		if (cap - *o <= k)
			return 0;
		memcpy(buf + *o, esc, k);
		*o += k;
	}
	return 1;
}

static int
put_raw(char *buf, size_t cap, size_t *o, const char *text)
{
	size_t k = strlen(text);

	if (cap - *o <= k)
		return 0;
	memcpy(buf + *o, text, k + 1);
	*o += k;
	return 1;
}

static int
put_u64(char *buf, size_t cap, size_t *o, uint64_t v)
{
	char num[24];

	snprintf(num, sizeof(num), "%" PRIu64, v);
	return put_raw(buf, cap, o, num);
}

int
sl_topk_format_json(const char *tenant_name, const struct sl_topk_entry *e, int n,
		    char *buf, size_t cap)
{
	size_t o = 0;
	int ok;

	if (cap == 0)
		return -1;
	buf[0] = '\0';
	ok = put_raw(buf, cap, &o, "{\"type\":\"topk\",\"tenant\":\"") &&
	     put_escaped(buf, cap, &o, tenant_name) &&
	     put_raw(buf, cap, &o, "\",\"top\":[");
	for (int i = 0; ok && i < n; i++) {
		ok = put_raw(buf, cap, &o, i == 0 ? "{\"key\":\"" : ",{\"key\":\"") &&
		     put_escaped(buf, cap, &o, e[i].key) &&
		     put_raw(buf, cap, &o, "\",\"count\":") &&
		     put_u64(buf, cap, &o, e[i].count) &&
		     put_raw(buf, cap, &o, "}");
	}
	ok = ok && put_raw(buf, cap, &o, "]}");
	if (!ok)
		return -1;
	return (int)o;
}
