/*
 * config.c — the sluice.conf schema: defaults, parsing and validation.
 *
 * The schema is two tables, one row per key: the [dataplane], [control],
 * [storage] and [workers] keys (stored in struct sl_config) and the keys of a
 * [tenant.<name>] section (stored in struct sl_tenant_conf). A row says
 * where the value goes, what kind of value it is, its range and how to
 * describe a good value to an operator. ini.c hands us each line with its
 * line number; we check it against its row and stop at the first mistake,
 * with one message in the format promised by config.h:
 *   "<file>:<line>: [<section>] <key>: <problem>; expected <what>"
 * Checks that need the whole file (required keys, vdev vs pci, unique
 * tokens, worker bounds, which processor keys go together) run after the
 * last line.
 *
 * Tokens are secrets: no message ever echoes one.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "ini.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum section_id {
	SEC_NONE = -1,          /* before the first header */
	SEC_DATAPLANE = 0,
	SEC_CONTROL,
	SEC_STORAGE,
	SEC_WORKERS,
	SEC_TENANT,             /* one of the [tenant.<name>] sections */
};
#define N_FIXED_SECTIONS 4      /* dataplane, control, storage, workers */

static const char *const section_names[N_FIXED_SECTIONS] = {
	[SEC_DATAPLANE] = "dataplane",
	[SEC_CONTROL] = "control",
	[SEC_STORAGE] = "storage",
	[SEC_WORKERS] = "workers",
};

#define TENANT_PREFIX "tenant."

enum value_kind {
	V_U32,          /* uint32_t, decimal, [min, max] */
	V_U16,          /* uint16_t, decimal, [min, max] */
	V_BOOL,         /* true/false/yes/no/1/0 */
	V_IDLE,         /* enum sl_idle_mode */
	V_ACK,          /* enum sl_ack_policy */
	V_IPV4,         /* uint32_t host order, a unicast address */
	V_ADDR,         /* char[size], must parse as an IPv4 address */
	V_DISPATCH,     /* enum sl_dispatch_mode */
	V_WORD,         /* char[size], printable ASCII without spaces; at least min bytes */
	V_TEXT,         /* char[size], printable ASCII, spaces allowed; at least min bytes */
	V_PATH,         /* char[size], absolute path */
	V_PREFIX,       /* char[size], [A-Za-z0-9_-] */
	V_TOKEN,        /* char[size], min..max printable non-space bytes */
	V_PROCESSOR,    /* char[size], a built-in processor name or an absolute path to a .so */
	V_FIELD,        /* char[size], a JSON member name: 1.. printable bytes, no space, '"' or '\\' */
	V_SCHEMA,       /* the tenant's schema[] and n_schema: "name:type[?], ..." */
	V_CHAR,         /* char: exactly one printable byte (a space in quotes) */
	V_MS_RANGE,     /* two uint32_t: "MIN,MAX" milliseconds, [min, max] each, MIN <= MAX */
	V_SIM_MODE,     /* uint8_t: timer (0) | spin (1) */
	V_SIM_DIST,     /* uint8_t: normal (0) | pareto (1) */
};

struct key_spec {
	int section;            /* SEC_*; SEC_TENANT rows live in tenant_keys */
	const char *name;
	enum value_kind kind;
	size_t offset;          /* in struct sl_config, or sl_tenant_conf */
	size_t size;            /* strings: destination buffer size */
	uint32_t min, max;      /* numbers: inclusive range; tokens: length */
	bool required;
	/* What a good value looks like. For numbers this follows the range. */
	const char *expected;
};

#define CFG(field) offsetof(struct sl_config, field), sizeof(((struct sl_config *)0)->field)
#define TEN(field) offsetof(struct sl_tenant_conf, field), sizeof(((struct sl_tenant_conf *)0)->field)

static const struct key_spec global_keys[] = {
	{ SEC_DATAPLANE, "vdev", V_WORD, CFG(vdev), 0, 0, false,
	  "a DPDK virtual device without spaces, at most 255 bytes, e.g. vdev = net_af_packet0,iface=eth1" },
	{ SEC_DATAPLANE, "pci", V_WORD, CFG(pci), 0, 0, false,
	  "a PCI address, e.g. pci = 0000:3b:00.0" },
	{ SEC_DATAPLANE, "ip", V_IPV4, CFG(ip), 0, 0, true,
	  "the appliance's unicast IPv4 address in dotted form, e.g. ip = 198.18.0.2" },
	{ SEC_DATAPLANE, "udp_port", V_U16, CFG(udp_port), 1, 65535, false, "" },
	{ SEC_DATAPLANE, "rx_lcores", V_U32, CFG(rx_lcores), 1, SL_MAX_RX_LCORES, false, "" },
	{ SEC_DATAPLANE, "workers_per_socket", V_U32, CFG(workers_per_socket), 1, SL_MAX_WORKERS, false, "" },
	{ SEC_DATAPLANE, "idle", V_IDLE, CFG(idle), 0, 0, false,
	  "adaptive or busy" },
	{ SEC_DATAPLANE, "mbufs", V_U32, CFG(mbufs), 1023, 16777215, false, "" },
	{ SEC_DATAPLANE, "batches", V_U32, CFG(batches), 64, 16777215, false, "" },
	{ SEC_DATAPLANE, "max_line_bytes", V_U32, CFG(max_line_bytes), 64, 30720, false,
	  " (a line must fit in a 32 KiB batch)" },
	{ SEC_DATAPLANE, "large_results", V_U32, CFG(large_results), 1, 65536, false,
	  " (result batches for lines whose output does not fit an ordinary one; each is 6 x max_line_bytes + 8 KiB)" },
	{ SEC_DATAPLANE, "window_bytes", V_U32, CFG(window_bytes), 4096, 64u << 20, false,
	  " (bytes, 64 MiB at most)" },
	{ SEC_DATAPLANE, "streams_per_lcore", V_U32, CFG(streams_per_lcore), 1, 65536, false, "" },
	{ SEC_DATAPLANE, "batch_lines", V_U32, CFG(batch_lines), 8, 64, false,
	  " (lines per batch handed to a worker)" },
	{ SEC_DATAPLANE, "reorder_frames", V_U32, CFG(reorder_frames), 0, 1024, false,
	  " (out-of-order frames held per stream; 0 = in order only)" },
	{ SEC_DATAPLANE, "nak_delay_us", V_U32, CFG(nak_delay_us), 10, 1000000, false, " (microseconds)" },
	{ SEC_DATAPLANE, "stream_idle_ms", V_U32, CFG(stream_idle_ms), 100, 86400000, false,
	  " (milliseconds)" },
	{ SEC_DATAPLANE, "no_huge", V_BOOL, CFG(no_huge), 0, 0, false,
	  "true or false (yes/no and 1/0 work too)" },
	{ SEC_DATAPLANE, "memory_mb", V_U32, CFG(memory_mb), 128, 65536, false, "" },
	{ SEC_DATAPLANE, "file_prefix", V_PREFIX, CFG(file_prefix), 0, 0, false,
	  "1 to 63 characters of A-Z a-z 0-9 _ -, e.g. file_prefix = sluice" },
	{ SEC_DATAPLANE, "eal_args", V_TEXT, CFG(eal_extra), 0, 0, false,
	  "extra EAL arguments separated by spaces, at most 255 bytes" },

	{ SEC_CONTROL, "listen", V_ADDR, CFG(listen_addr), 0, 0, false,
	  "an IPv4 address to listen on, e.g. listen = 127.0.0.1" },
	{ SEC_CONTROL, "port", V_U16, CFG(listen_port), 1, 65535, false, "" },
	{ SEC_CONTROL, "subscriber_queue", V_U32, CFG(subscriber_queue), 16, 16u << 20, false,
	  " (messages)" },

	{ SEC_STORAGE, "data_dir", V_PATH, CFG(data_dir), 0, 0, true,
	  "an absolute directory path, e.g. data_dir = /var/lib/sluice" },
	{ SEC_STORAGE, "batch_records", V_U32, CFG(batch_records), 1, 1u << 20, false, "" },
	{ SEC_STORAGE, "batch_min_records", V_U32, CFG(batch_min_records), 1, 1u << 20, false,
	  " (the adaptive batch never goes below; at most batch_records)" },
	{ SEC_STORAGE, "batch_target_us", V_U32, CFG(batch_target_us), 100, 10000000, false,
	  " (microseconds of write + fdatasync per batch to steer toward)" },
	{ SEC_STORAGE, "journal_segment_mb", V_U32, CFG(journal_segment_mb), 1, 4096, false,
	  " (MiB of journal per segment: at that size result files are synced and old segments deleted)" },
	{ SEC_STORAGE, "held_max_mb", V_U32, CFG(held_max_mb), 1, 65536, false,
	  " (MiB of early results copied to the heap while they wait for an earlier line; past it, the document holding the most fails)" },
	{ SEC_STORAGE, "fault_delay_us", V_U32, CFG(fault_delay_us), 0, 1000000, false,
	  " (tests only: latency added to every fdatasync)" },
	{ SEC_STORAGE, "fault_eio_percent", V_U32, CFG(fault_eio_percent), 0, 50, false,
	  " (tests only: share of writes and syncs made to fail with EIO)" },
	{ SEC_STORAGE, "fault_short_percent", V_U32, CFG(fault_short_percent), 0, 50, false,
	  " (tests only: share of writes reported short)" },

	{ SEC_WORKERS, "dispatch", V_DISPATCH, CFG(dispatch), 0, 0, false,
	  "least_loaded, round_robin or hash_document" },
	{ SEC_WORKERS, "min_active", V_U32, CFG(workers_min), 1, SL_MAX_WORKERS, false,
	  " (active workers per socket, never fewer)" },
	{ SEC_WORKERS, "max_active", V_U32, CFG(workers_max), 1, SL_MAX_WORKERS, false,
	  " (active workers per socket, never more; at least min_active, at most workers_per_socket)" },
	{ SEC_WORKERS, "scale_quiet_ms", V_U32, CFG(scale_quiet_ms), 100, 3600000, false,
	  " (milliseconds)" },
	{ SEC_WORKERS, "crash_limit", V_U32, CFG(crash_limit), 1, 100, false,
	  " (crashes of one line before it is quarantined)" },
	{ SEC_WORKERS, "stall_ms", V_U32, CFG(stall_ms), 100, 3600000, false,
	  " (milliseconds)" },
	{ SEC_WORKERS, "long_line_ms", V_U32, CFG(long_line_ms), 1, 3600000, false,
	  " (milliseconds inside one processor call before the worker's queued batches go to others; below stall_ms)" },
	{ SEC_WORKERS, "restart_backoff_ms", V_U32, CFG(restart_backoff_ms), 1, 60000, false,
	  " (milliseconds)" },
	{ SEC_WORKERS, "pending_timeout_ms", V_U32, CFG(pending_timeout_ms), 100, 86400000, false,
	  " (milliseconds a line's long work may take before the line is an error)" },
	{ SEC_WORKERS, "fault_stall_percent", V_U32, CFG(fault_stall_percent), 0, 50, false,
	  " (tests only: share of line batch hand-overs at which the worker sends itself the stall signal)" },
	{ SEC_WORKERS, "poison_marker", V_TEXT, CFG(poison_marker), 1, 0, false,
	  "1 to 63 printable ASCII characters, e.g. poison_marker = \"#KILL-WORKER#\" (leave the key out to turn it off)" },
	{ SEC_WORKERS, "share_dir", V_PATH, CFG(share_dir), 0, 0, false,
	  "an absolute directory path, e.g. share_dir = /usr/share/sluice" },
};

static const struct key_spec tenant_keys[] = {
	{ SEC_TENANT, "token", V_TOKEN, TEN(token), 16, SL_TOKEN_MAX, true,
	  "16 to 128 printable ASCII characters without spaces, e.g. token = \"a-long-random-secret\"" },
	{ SEC_TENANT, "columns", V_U32, TEN(columns), 0, 4096, false,
	  " (0 accepts any column count)" },
	{ SEC_TENANT, "ack", V_ACK, TEN(ack), 0, 0, false,
	  "persisted or processed" },
	{ SEC_TENANT, "max_streams", V_U32, TEN(max_streams), 1, 65536, false,
	  " (documents in flight at once)" },
	{ SEC_TENANT, "max_document_mb", V_U32, TEN(max_document_mb), 0, 1048576, false,
	  " (MiB; 0 = no limit)" },
	{ SEC_TENANT, "reorder_kb", V_U32, TEN(reorder_kb), 16, 1048576, false,
	  " (KiB of out-of-order data held per rx lcore)" },
	{ SEC_TENANT, "processor", V_PROCESSOR, TEN(processor), 0, 0, false,
	  "csv, ndjson, tweet, topk, simulate, or an absolute path to a shared object ending in .so" },
	{ SEC_TENANT, "schema", V_SCHEMA, 0, 0, 1, SL_SCHEMA_MAX_COLUMNS, false,
	  "\"name:type, ...\" with type int, float, bool, string or timestamp, and a trailing ? "
	  "for an optional column, e.g. schema = \"id:int, price:float, note:string?\"" },
	{ SEC_TENANT, "topk_column", V_U32, TEN(topk_column), 1, 4096, false,
	  " (1-based CSV column counted by processor = topk)" },
	{ SEC_TENANT, "topk_field", V_FIELD, TEN(topk_field), 1, 0, false,
	  "a JSON member name of 1 to 64 bytes without spaces, quotes or backslashes, e.g. topk_field = hashtags" },
	{ SEC_TENANT, "topk_separator", V_CHAR, TEN(topk_separator), 0, 0, false,
	  "one character, in quotes if it is a space, e.g. topk_separator = \" \"" },
	{ SEC_TENANT, "simulate_ms", V_MS_RANGE, TEN(simulate_min_ms), 1, 3600000, false,
	  "\"MIN,MAX\" in milliseconds, each from 1 to 3600000, MIN <= MAX, e.g. simulate_ms = 50,500" },
	{ SEC_TENANT, "simulate_mode", V_SIM_MODE, TEN(simulate_spin), 0, 0, false,
	  "timer (long work held in flight) or spin (CPU-bound work that occupies the worker)" },
	{ SEC_TENANT, "simulate_dist", V_SIM_DIST, TEN(simulate_pareto), 0, 0, false,
	  "normal or pareto (heavy-tailed)" },
};

#define N_GLOBAL_KEYS ARRAY_SIZE(global_keys)
#define N_TENANT_KEYS ARRAY_SIZE(tenant_keys)

/* Everything the loader remembers while it walks the file. */
struct loader {
	const char *path;
	struct sl_config *cfg;
	char *err;
	size_t errlen;

	int section;                    /* SEC_* of the current section */
	struct sl_tenant_conf *tenant;  /* the current tenant, in a tenant section */
	uint32_t tenant_idx;

	/* Line numbers: where each section and key was seen; 0 = not seen. */
	unsigned section_line[N_FIXED_SECTIONS];
	unsigned key_line[N_GLOBAL_KEYS];
	unsigned tenant_line[SL_MAX_TENANTS];
	unsigned tenant_key_line[SL_MAX_TENANTS][N_TENANT_KEYS];
};

/*
 * Write the one error message. line 0 means "no line to point at" (the
 * section is missing altogether); section and key may be NULL.
 */
static int __attribute__((format(printf, 6, 7)))
fail(const struct loader *ld, unsigned line, const char *section,
     const char *key, const char *expected, const char *fmt, ...)
{
	char problem[256];
	char at[16] = "";
	char where[384] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);

	if (line != 0)
		snprintf(at, sizeof(at), ":%u", line);
	if (section != NULL && key != NULL)
		snprintf(where, sizeof(where), "[%.255s] %.64s: ", section, key);
	else if (section != NULL)
		snprintf(where, sizeof(where), "[%.255s]: ", section);
	else if (key != NULL)
		snprintf(where, sizeof(where), "%.64s: ", key);

	snprintf(ld->err, ld->errlen, "%s%s: %s%s; expected %s",
		 ld->path, at, where, problem, expected);
	return -1;
}

/* ---- small helpers ---------------------------------------------------- */

/*
 * Optimal string alignment distance (Levenshtein plus adjacent swaps, so
 * "udp_prot" is one edit from "udp_port"). Only used on short names.
 */
static unsigned edit_distance(const char *a, const char *b)
{
	enum { MAXN = 64 };
	size_t la = strlen(a), lb = strlen(b);
	unsigned d[MAXN + 1][MAXN + 1];

	if (la > MAXN || lb > MAXN)
		return ~0u;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
			unsigned best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/*
 * Strict decimal: digits only, no sign, no spaces, no suffix.
 * Returns 0 and the value, -1 if it is not a number, -2 if it is a
 * number too large for 32 bits.
 */
static int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX) {
			/* Keep checking the rest: "99999999999x" is not a number. */
			for (s++; *s != '\0'; s++)
				if (*s < '0' || *s > '9')
					return -1;
			return -2;
		}
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "1" };
	static const char *const no[] = { "false", "no", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

static bool all_bytes(const char *s, size_t len, bool spaces_ok)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' && spaces_ok)
			continue;
		if (c < 0x21 || c > 0x7e)
			return false;
	}
	return true;
}

/* An absolute path of printable ASCII, at most max bytes. 0, or -1 after fail(). */
static int check_abs_path(const struct loader *ld, const struct sl_ini_item *it, const char *exp,
			  const char *not_absolute, size_t max)
{
	const char *v = it->value;
	size_t len = strlen(v);

	if (len == 0)
		return fail(ld, it->line, it->section, it->key, exp, "empty");
	if (v[0] != '/')
		return fail(ld, it->line, it->section, it->key, exp, "\"%.64s\" %s", v, not_absolute);
	if (len > max)
		return fail(ld, it->line, it->section, it->key, exp,
			    "path is %zu bytes long, the limit is %zu", len, max);
	if (!all_bytes(v, len, true))
		return fail(ld, it->line, it->section, it->key, exp,
			    "path contains a control or non-ASCII character");
	return 0;
}

bool sl_name_valid(const char *s, size_t len)
{
	if (s == NULL || len == 0 || len > SL_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

int sl_config_tenant_find(const struct sl_config *cfg, const char *name, size_t len)
{
	for (uint32_t i = 0; i < cfg->n_tenants; i++) {
		const char *t = cfg->tenants[i].name;
		if (strnlen(t, SL_NAME_MAX + 1) == len && memcmp(t, name, len) == 0)
			return (int)i;
	}
	return -1;
}

void sl_config_defaults(struct sl_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));

	cfg->udp_port = 7878;
	cfg->rx_lcores = 1;
	cfg->workers_per_socket = 10;
	cfg->idle = SL_IDLE_ADAPTIVE;
	cfg->mbufs = 8191;
	cfg->batches = 2047;
	cfg->max_line_bytes = 16384;
	cfg->large_results = 64;
	cfg->window_bytes = 262144;
	cfg->streams_per_lcore = 1024;
	cfg->batch_lines = 64;
	cfg->reorder_frames = 128;
	cfg->nak_delay_us = 500;
	cfg->stream_idle_ms = 30000;
	cfg->no_huge = false;
	cfg->memory_mb = 1024;
	strcpy(cfg->file_prefix, "sluice");

	strcpy(cfg->listen_addr, "127.0.0.1");
	cfg->listen_port = 8080;
	cfg->subscriber_queue = 65536;

	cfg->batch_records = 4096;
	cfg->batch_min_records = 64;
	cfg->batch_target_us = 10000;
	cfg->journal_segment_mb = 64;
	cfg->held_max_mb = 256;

	cfg->dispatch = SL_DISPATCH_LEAST_LOADED;
	cfg->workers_min = 2;
	cfg->workers_max = 0;          /* resolved to workers_per_socket after the file */
	cfg->scale_quiet_ms = 2000;
	cfg->crash_limit = 3;
	cfg->stall_ms = 10000;
	cfg->long_line_ms = 0;         /* resolved after the file: 200, or half of a smaller stall_ms */
	cfg->restart_backoff_ms = 100;
	cfg->pending_timeout_ms = 60000;
	/* poison_marker, share_dir: empty (off; next to the binary). */
	/* vdev, pci, ip, eal_extra, data_dir, tenants: empty. */
}

/* ---- one value --------------------------------------------------------- */

static const char *const builtin_processors[] = { "csv", "ndjson", "tweet", "topk", "simulate" };

static const char *const type_names[] = {
	[SL_COL_STRING] = "string",
	[SL_COL_INT] = "int",
	[SL_COL_FLOAT] = "float",
	[SL_COL_BOOL] = "bool",
	[SL_COL_TIMESTAMP] = "timestamp",
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* A column name goes into JSON records unescaped: keep it to a safe alphabet. */
static bool column_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > SL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/*
 * schema = "name:type[?], name:type[?], ...". Blanks around names, types
 * and commas are allowed. Names are unique; a trailing '?' makes the column
 * optional (an empty field is then null instead of an error).
 */
static int set_schema(const struct loader *ld, const struct sl_ini_item *it,
		      const char *exp, struct sl_tenant_conf *t)
{
	const char *p = it->value;
	uint32_t n = 0;

	if (*p == '\0')
		return fail(ld, it->line, it->section, it->key, exp, "empty");
	for (;;) {
		const char *name, *type;
		size_t nlen, tlen;
		bool optional = false;

		while (is_blank(*p))
			p++;
		name = p;
		while (*p != '\0' && *p != ':' && *p != ',' && !is_blank(*p))
			p++;
		nlen = (size_t)(p - name);
		while (is_blank(*p))
			p++;
		if (nlen == 0)
			return fail(ld, it->line, it->section, it->key, exp,
				    "column %u has no name", n + 1);
		if (!column_name_ok(name, nlen))
			return fail(ld, it->line, it->section, it->key, exp,
				    "column %u: \"%.*s\" is not a name of 1 to 64 characters of A-Z a-z 0-9 _ - .",
				    n + 1, (int)(nlen > 64 ? 64 : nlen), name);
		if (*p != ':')
			return fail(ld, it->line, it->section, it->key, exp,
				    "column '%.*s' has no ':type'", (int)nlen, name);
		p++;
		while (is_blank(*p))
			p++;
		type = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			p++;
		tlen = (size_t)(p - type);
		if (*p == '?') {
			optional = true;
			p++;
		}
		while (is_blank(*p))
			p++;
		if (*p != '\0' && *p != ',')
			return fail(ld, it->line, it->section, it->key, exp,
				    "column '%.*s': unexpected '%c' after the type", (int)nlen, name, *p);

		int ty = -1;
		for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
			if (strlen(type_names[i]) == tlen && strncasecmp(type, type_names[i], tlen) == 0)
				ty = (int)i;
		if (ty < 0)
			return fail(ld, it->line, it->section, it->key, exp,
				    "column '%.*s': \"%.*s\" is not a type", (int)nlen, name,
				    (int)(tlen > 32 ? 32 : tlen), type);
		if (n >= SL_SCHEMA_MAX_COLUMNS)
			return fail(ld, it->line, it->section, it->key, exp,
				    "more than %u columns", SL_SCHEMA_MAX_COLUMNS);
		for (uint32_t i = 0; i < n; i++)
			if (strlen(t->schema[i].name) == nlen && memcmp(t->schema[i].name, name, nlen) == 0)
				return fail(ld, it->line, it->section, it->key, exp,
					    "column '%.*s' named twice (columns %u and %u)",
					    (int)nlen, name, i + 1, n + 1);
		memcpy(t->schema[n].name, name, nlen);
		t->schema[n].name[nlen] = '\0';
		t->schema[n].type = (uint8_t)ty;
		t->schema[n].required = optional ? 0 : 1;
		n++;
		if (*p == '\0')
			break;
		p++;            /* past the ',' */
	}
	t->n_schema = n;
	return 0;
}

/* simulate_ms = "MIN,MAX" */
static int set_ms_range(const struct loader *ld, const struct sl_ini_item *it,
			const struct key_spec *k, struct sl_tenant_conf *t)
{
	char a[24], b[24];
	const char *v = it->value;
	const char *comma = strchr(v, ',');
	uint32_t lo, hi;

	if (comma == NULL)
		return fail(ld, it->line, it->section, it->key, k->expected,
			    "\"%.40s\" is not two numbers separated by a comma", v);
	/* Trim blanks around both numbers. */
	const char *s1 = v, *e1 = comma, *s2 = comma + 1, *e2 = v + it->value_len;
	while (s1 < e1 && is_blank(*s1))
		s1++;
	while (e1 > s1 && is_blank(e1[-1]))
		e1--;
	while (s2 < e2 && is_blank(*s2))
		s2++;
	while (e2 > s2 && is_blank(e2[-1]))
		e2--;
	if ((size_t)(e1 - s1) >= sizeof(a) || (size_t)(e2 - s2) >= sizeof(b))
		return fail(ld, it->line, it->section, it->key, k->expected,
			    "\"%.40s\" is not two whole numbers", v);
	memcpy(a, s1, (size_t)(e1 - s1));
	a[e1 - s1] = '\0';
	memcpy(b, s2, (size_t)(e2 - s2));
	b[e2 - s2] = '\0';
	int ra = parse_u32(a, &lo), rb = parse_u32(b, &hi);
	if (ra == -1 || rb == -1)
		return fail(ld, it->line, it->section, it->key, k->expected,
			    "\"%.40s\" is not two whole numbers", v);
	if (ra == -2 || rb == -2 || lo < k->min || lo > k->max || hi < k->min || hi > k->max)
		return fail(ld, it->line, it->section, it->key, k->expected,
			    "%.40s is out of range", v);
	if (lo > hi)
		return fail(ld, it->line, it->section, it->key, k->expected,
			    "MIN %u is more than MAX %u", lo, hi);
	t->simulate_min_ms = lo;
	t->simulate_max_ms = hi;
	return 0;
}

/* The "expected" text of a row; numbers get their range spelled out. */
static const char *expected_text(const struct key_spec *k, char *buf, size_t len)
{
	if (k->kind != V_U32 && k->kind != V_U16)
		return k->expected;
	snprintf(buf, len, "a whole number from %u to %u%s", k->min, k->max, k->expected);
	return buf;
}

static int set_string(const struct loader *ld, const struct sl_ini_item *it,
		      const struct key_spec *k, const char *exp, char *dst)
{
	const char *v = it->value;
	size_t len = it->value_len;
	size_t max = k->size - 1;

	switch (k->kind) {
	case V_TOKEN:
		if (len < k->min || len > k->max)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%zu bytes long", len);
		if (!all_bytes(v, len, false))
			return fail(ld, it->line, it->section, it->key, exp,
				    "contains a space or a non-printable character");
		break;
	case V_PREFIX:
		if (len == 0)
			return fail(ld, it->line, it->section, it->key, exp, "empty");
		if (len > max)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%zu bytes long", len);
		for (size_t i = 0; i < len; i++) {
			char c = v[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '_' || c == '-'))
				return fail(ld, it->line, it->section, it->key, exp,
					    "\"%.64s\" has a character other than A-Z a-z 0-9 _ -", v);
		}
		break;
	case V_PATH:
		if (check_abs_path(ld, it, exp, "is not an absolute path", max) != 0)
			return -1;
		break;
	case V_ADDR: {
		struct in_addr a;
		if (len > max || inet_pton(AF_INET, v, &a) != 1)
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.64s\" is not an IPv4 address", v);
		break;
	}
	case V_WORD:
	case V_TEXT:
		if (len < k->min)
			return fail(ld, it->line, it->section, it->key, exp, "empty");
		if (len > max)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%zu bytes long, the limit is %zu", len, max);
		if (!all_bytes(v, len, k->kind == V_TEXT))
			return fail(ld, it->line, it->section, it->key, exp,
				    k->kind == V_TEXT ? "contains a control or non-ASCII character"
						      : "contains a space, a control or a non-ASCII character");
		break;
	case V_FIELD:
		if (len < k->min)
			return fail(ld, it->line, it->section, it->key, exp, "empty");
		if (len > max)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%zu bytes long, the limit is %zu", len, max);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)v[i];
			if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
				return fail(ld, it->line, it->section, it->key, exp,
					    "\"%.64s\" has a space, a quote, a backslash or a non-printable character", v);
		}
		break;
	case V_PROCESSOR:
		for (size_t i = 0; i < ARRAY_SIZE(builtin_processors); i++) {
			if (strcasecmp(v, builtin_processors[i]) == 0) {
				/* Stored in the canonical spelling the worker looks up. */
				snprintf(dst, k->size, "%s", builtin_processors[i]);
				return 0;
			}
		}
		if (check_abs_path(ld, it, exp, "is neither a built-in processor nor an absolute path", max) != 0)
			return -1;
		if (len < 4 || strcmp(v + len - 3, ".so") != 0 || v[len - 4] == '/')
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.64s\" does not name a .so file", v);
		break;
	default:
		return fail(ld, it->line, it->section, it->key, exp, "internal: not a string key");
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

/* Check one value against its row and store it at base + k->offset. */
static int set_value(const struct loader *ld, const struct sl_ini_item *it,
		     const struct key_spec *k, void *base)
{
	char expbuf[160];
	const char *exp = expected_text(k, expbuf, sizeof(expbuf));
	char *dst = (char *)base + k->offset;
	const char *v = it->value;

	switch (k->kind) {
	case V_U32:
	case V_U16: {
		uint32_t n = 0;
		int rc = parse_u32(v, &n);
		if (rc == -1 && v[0] == '-' && parse_u32(v + 1, &n) != -1)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%.40s is negative", v);
		if (rc == -1 && v[0] == '\0')
			return fail(ld, it->line, it->section, it->key, exp, "empty");
		if (rc == -1)
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not a whole number", v);
		if (rc == -2 || n < k->min || n > k->max)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%.40s is out of range", v);
		if (k->kind == V_U16)
			*(uint16_t *)dst = (uint16_t)n;
		else
			*(uint32_t *)dst = n;
		return 0;
	}
	case V_BOOL:
		if (parse_bool(v, (bool *)dst) != 0)
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not true or false", v);
		return 0;
	case V_IDLE:
		if (strcasecmp(v, "adaptive") == 0)
			*(enum sl_idle_mode *)dst = SL_IDLE_ADAPTIVE;
		else if (strcasecmp(v, "busy") == 0)
			*(enum sl_idle_mode *)dst = SL_IDLE_BUSY;
		else
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not an idle mode", v);
		return 0;
	case V_ACK:
		if (strcasecmp(v, "persisted") == 0)
			*(enum sl_ack_policy *)dst = SL_ACK_PERSISTED;
		else if (strcasecmp(v, "processed") == 0)
			*(enum sl_ack_policy *)dst = SL_ACK_PROCESSED;
		else
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not an ACK policy", v);
		return 0;
	case V_SIM_MODE:
	case V_SIM_DIST: {
		const char *zero = k->kind == V_SIM_MODE ? "timer" : "normal";
		const char *one = k->kind == V_SIM_MODE ? "spin" : "pareto";

		if (strcasecmp(v, zero) == 0)
			*(uint8_t *)dst = 0;
		else if (strcasecmp(v, one) == 0)
			*(uint8_t *)dst = 1;
		else
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is neither %s nor %s", v, zero, one);
		return 0;
	}
	case V_DISPATCH:
		if (strcasecmp(v, "least_loaded") == 0)
			*(enum sl_dispatch_mode *)dst = SL_DISPATCH_LEAST_LOADED;
		else if (strcasecmp(v, "round_robin") == 0)
			*(enum sl_dispatch_mode *)dst = SL_DISPATCH_ROUND_ROBIN;
		else if (strcasecmp(v, "hash_document") == 0)
			*(enum sl_dispatch_mode *)dst = SL_DISPATCH_HASH_DOCUMENT;
		else
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not a dispatch mode", v);
		return 0;
	case V_SCHEMA:
		return set_schema(ld, it, exp, base);
	case V_MS_RANGE:
		return set_ms_range(ld, it, k, base);
	case V_CHAR:
		if (it->value_len != 1 || (unsigned char)v[0] < 0x20 || (unsigned char)v[0] > 0x7e ||
		    v[0] == '"')
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not one printable character", v);
		*dst = v[0];
		return 0;
	case V_IPV4: {
		struct in_addr a;
		if (inet_pton(AF_INET, v, &a) != 1)
			return fail(ld, it->line, it->section, it->key, exp,
				    "\"%.40s\" is not an IPv4 address", v);
		uint32_t ip = ntohl(a.s_addr);
		/* Senders address packets to it: it must be a host's address. */
		if (ip == 0 || ip >= 0xe0000000u)
			return fail(ld, it->line, it->section, it->key, exp,
				    "%s is not a unicast address", v);
		*(uint32_t *)dst = ip;
		return 0;
	}
	default:
		return set_string(ld, it, k, exp, dst);
	}
}

/* ---- the ini callback -------------------------------------------------- */

static int on_section(struct loader *ld, const struct sl_ini_item *it)
{
	const char *name = it->section;
	struct sl_config *cfg = ld->cfg;

	for (int s = 0; s < N_FIXED_SECTIONS; s++) {
		if (strcmp(name, section_names[s]) != 0)
			continue;
		if (ld->section_line[s] != 0)
			return fail(ld, it->line, name, NULL,
				    "each section once; put all its keys together",
				    "duplicate section (first at line %u)", ld->section_line[s]);
		ld->section_line[s] = it->line;
		ld->section = s;
		ld->tenant = NULL;
		return 0;
	}

	size_t plen = strlen(TENANT_PREFIX);
	if (strncmp(name, TENANT_PREFIX, plen) == 0) {
		const char *tn = name + plen;
		size_t tlen = strlen(tn);

		if (!sl_name_valid(tn, tlen))
			return fail(ld, it->line, name, NULL,
				    "[tenant.<name>] with a name of 1 to 64 characters of A-Z a-z 0-9 . _ -, not starting with '.'",
				    "\"%.64s\" is not a valid tenant name", tn);
		int prev = sl_config_tenant_find(cfg, tn, tlen);
		if (prev >= 0)
			return fail(ld, it->line, name, NULL,
				    "each tenant once; put all its keys together",
				    "duplicate tenant (first at line %u)", ld->tenant_line[prev]);
		if (cfg->n_tenants >= SL_MAX_TENANTS)
			return fail(ld, it->line, name, NULL, "at most 1024 tenant sections",
				    "too many tenants");

		ld->tenant_idx = cfg->n_tenants++;
		ld->tenant = &cfg->tenants[ld->tenant_idx];
		memcpy(ld->tenant->name, tn, tlen + 1);
		ld->tenant->columns = 0;
		ld->tenant->ack = SL_ACK_PERSISTED;
		ld->tenant->max_streams = 64;
		ld->tenant->max_document_mb = 0;
		ld->tenant->reorder_kb = 4096;
		strcpy(ld->tenant->processor, "csv");
		ld->tenant->simulate_min_ms = 50;
		ld->tenant->simulate_max_ms = 500;
		ld->tenant_line[ld->tenant_idx] = it->line;
		ld->section = SEC_TENANT;
		return 0;
	}

	/* An unknown section: find what the operator probably meant. */
	const char *expect = "one of [dataplane], [control], [storage], [workers], [tenant.<name>]";
	if (strncasecmp(name, "tenant", 6) == 0)
		return fail(ld, it->line, name, NULL, expect,
			    "unknown section (did you mean [tenant.<name>]?)");
	for (int s = 0; s < N_FIXED_SECTIONS; s++)
		if (edit_distance(name, section_names[s]) <= 2)
			return fail(ld, it->line, name, NULL, expect,
				    "unknown section (did you mean [%s]?)", section_names[s]);
	return fail(ld, it->line, name, NULL, expect, "unknown section");
}

static int unknown_key(const struct loader *ld, const struct sl_ini_item *it,
		       const struct key_spec *keys, size_t n, int section)
{
	char expect[512];
	size_t used = (size_t)snprintf(expect, sizeof(expect), "one of ");
	const char *guess = NULL;
	unsigned best = 3;      /* suggest only within edit distance 2 */

	for (size_t i = 0; i < n; i++) {
		if (keys[i].section != section)
			continue;
		if (used < sizeof(expect))
			used += (size_t)snprintf(expect + used, sizeof(expect) - used,
						 "%s%s", used > 7 ? ", " : "", keys[i].name);
		unsigned d = edit_distance(it->key, keys[i].name);
		if (d < best) {
			best = d;
			guess = keys[i].name;
		}
	}
	if (guess != NULL)
		return fail(ld, it->line, it->section, it->key, expect,
			    "unknown key (did you mean %s?)", guess);
	return fail(ld, it->line, it->section, it->key, expect, "unknown key");
}

static int on_pair(struct loader *ld, const struct sl_ini_item *it)
{
	const struct key_spec *keys;
	size_t n;
	unsigned *lines;
	void *base;

	switch (ld->section) {
	case SEC_NONE:
		return fail(ld, it->line, NULL, it->key,
			    "a [section] header above it, e.g. [dataplane]",
			    "key outside any section");
	case SEC_TENANT:
		keys = tenant_keys;
		n = N_TENANT_KEYS;
		lines = ld->tenant_key_line[ld->tenant_idx];
		base = ld->tenant;
		break;
	default:
		keys = global_keys;
		n = N_GLOBAL_KEYS;
		lines = ld->key_line;
		base = ld->cfg;
		break;
	}

	for (size_t i = 0; i < n; i++) {
		if (keys[i].section != ld->section || strcmp(keys[i].name, it->key) != 0)
			continue;
		if (lines[i] != 0)
			return fail(ld, it->line, it->section, it->key,
				    "each key once per section",
				    "set twice (first at line %u)", lines[i]);
		lines[i] = it->line;
		return set_value(ld, it, &keys[i], base);
	}
	return unknown_key(ld, it, keys, n, ld->section);
}

static int on_item(const struct sl_ini_item *it, void *arg, char *err, size_t errlen)
{
	struct loader *ld = arg;

	/* The reader passes the caller's buffer through; write there. */
	ld->err = err;
	ld->errlen = errlen;
	if (it->key == NULL)
		return on_section(ld, it);
	return on_pair(ld, it);
}

/* ---- whole-file checks ------------------------------------------------- */

static int check_required(const struct loader *ld)
{
	for (size_t i = 0; i < N_GLOBAL_KEYS; i++) {
		const struct key_spec *k = &global_keys[i];
		if (!k->required || ld->key_line[i] != 0)
			continue;
		return fail(ld, ld->section_line[k->section], section_names[k->section],
			    k->name, k->expected, "missing");
	}
	return 0;
}

static unsigned key_line_of(const struct loader *ld, const char *name)
{
	for (size_t i = 0; i < N_GLOBAL_KEYS; i++)
		if (strcmp(global_keys[i].name, name) == 0)
			return ld->key_line[i];
	return 0;
}

static unsigned tenant_key_line_of(const struct loader *ld, uint32_t t, const char *name)
{
	for (size_t i = 0; i < N_TENANT_KEYS; i++)
		if (strcmp(tenant_keys[i].name, name) == 0)
			return ld->tenant_key_line[t][i];
	return 0;
}

/*
 * The processor keys that only make sense together. Each message names
 * both keys and points at the line of the one that does not fit.
 */
static int check_processor_keys(const struct loader *ld, uint32_t i)
{
	struct sl_tenant_conf *t = &ld->cfg->tenants[i];
	char sec[SL_NAME_MAX + sizeof(TENANT_PREFIX)];
	unsigned l_proc = tenant_key_line_of(ld, i, "processor");
	unsigned l_schema = tenant_key_line_of(ld, i, "schema");
	unsigned l_cols = tenant_key_line_of(ld, i, "columns");
	unsigned l_tcol = tenant_key_line_of(ld, i, "topk_column");
	unsigned l_tfield = tenant_key_line_of(ld, i, "topk_field");
	unsigned l_tsep = tenant_key_line_of(ld, i, "topk_separator");
	unsigned l_sim = tenant_key_line_of(ld, i, "simulate_ms");
	unsigned l_smode = tenant_key_line_of(ld, i, "simulate_mode");
	unsigned l_sdist = tenant_key_line_of(ld, i, "simulate_dist");
	char proc_at[64];
	bool is_csv = strcmp(t->processor, "csv") == 0;
	bool is_topk = strcmp(t->processor, "topk") == 0;
	bool is_sim = strcmp(t->processor, "simulate") == 0;

	snprintf(sec, sizeof(sec), TENANT_PREFIX "%s", t->name);
	if (l_proc != 0)
		snprintf(proc_at, sizeof(proc_at), "line %u", l_proc);
	else
		snprintf(proc_at, sizeof(proc_at), "the default");

	if (l_schema != 0 && !is_csv)
		return fail(ld, l_schema, sec, "schema",
			    "schema only with processor = csv (remove one of the two keys)",
			    "set, but processor is %.64s (%s)", t->processor, proc_at);
	if (l_schema != 0) {
		if (l_cols != 0 && t->columns != t->n_schema)
			return fail(ld, l_schema > l_cols ? l_schema : l_cols, sec,
				    l_schema > l_cols ? "schema" : "columns",
				    "columns equal to the number of schema columns, or columns left out",
				    "schema has %u column%s but columns = %u (lines %u and %u)",
				    t->n_schema, t->n_schema == 1 ? "" : "s", t->columns,
				    l_schema < l_cols ? l_schema : l_cols,
				    l_schema > l_cols ? l_schema : l_cols);
		t->columns = t->n_schema;
	}

	if (!is_topk) {
		static const char *const topk_keys[] = { "topk_column", "topk_field", "topk_separator" };
		unsigned lines[] = { l_tcol, l_tfield, l_tsep };
		for (size_t k = 0; k < ARRAY_SIZE(topk_keys); k++)
			if (lines[k] != 0)
				return fail(ld, lines[k], sec, topk_keys[k],
					    "topk_* keys only with processor = topk",
					    "set, but processor is %.64s (%s)", t->processor, proc_at);
	} else if (l_tcol == 0 && l_tfield == 0) {
		return fail(ld, l_proc, sec, "processor",
			    "topk_column = <1-based CSV column> or topk_field = <JSON member name> in the same section",
			    "processor = topk without topk_column or topk_field");
	} else if (l_tcol != 0 && l_tfield != 0) {
		bool col_last = l_tcol > l_tfield;
		return fail(ld, col_last ? l_tcol : l_tfield, sec,
			    col_last ? "topk_column" : "topk_field",
			    "only one of topk_column (CSV) and topk_field (NDJSON)",
			    "set together with %s (line %u)", col_last ? "topk_field" : "topk_column",
			    col_last ? l_tfield : l_tcol);
	}

	if (is_sim && !t->simulate_spin && t->simulate_max_ms >= ld->cfg->pending_timeout_ms) {
		/* timer mode holds lines PENDING for up to the maximum: they must not time out */
		unsigned l_pt = key_line_of(ld, "pending_timeout_ms");
		char pt_at[48];

		if (l_pt != 0)
			snprintf(pt_at, sizeof(pt_at), "line %u", l_pt);
		else
			snprintf(pt_at, sizeof(pt_at), "the default");
		return fail(ld, l_sim != 0 ? l_sim : l_proc, sec, l_sim != 0 ? "simulate_ms" : "processor",
			    "the simulated maximum below [workers] pending_timeout_ms (raise it, or lower simulate_ms)",
			    "simulated work of up to %u ms would time out: pending_timeout_ms = %u (%s)",
			    t->simulate_max_ms, ld->cfg->pending_timeout_ms, pt_at);
	}
	if (!is_sim) {
		static const char *const sim_keys[] = { "simulate_ms", "simulate_mode", "simulate_dist" };
		unsigned lines[] = { l_sim, l_smode, l_sdist };
		for (size_t k = 0; k < ARRAY_SIZE(sim_keys); k++)
			if (lines[k] != 0)
				return fail(ld, lines[k], sec, sim_keys[k],
					    "simulate_* keys only with processor = simulate",
					    "set, but processor is %.64s (%s)", t->processor, proc_at);
	}
	return 0;
}

static int check_tenants(const struct loader *ld)
{
	const struct sl_config *cfg = ld->cfg;
	char sec[SL_NAME_MAX + sizeof(TENANT_PREFIX)];

	if (cfg->n_tenants == 0)
		return fail(ld, 0, "tenant.<name>", NULL,
			    "at least one tenant, e.g. [tenant.acme] with token = <16 to 128 characters>",
			    "no tenant defined");

	for (uint32_t i = 0; i < cfg->n_tenants; i++) {
		snprintf(sec, sizeof(sec), TENANT_PREFIX "%s", cfg->tenants[i].name);
		/* token is tenant_keys[0] */
		if (ld->tenant_key_line[i][0] == 0)
			return fail(ld, ld->tenant_line[i], sec, "token",
				    tenant_keys[0].expected, "missing");
		if (check_processor_keys(ld, i) != 0)
			return -1;
	}

	/*
	 * Tokens identify the tenant: two tenants with one token would see
	 * each other's data. Quadratic, but 1024 tenants is half a million
	 * short compares, once at start-up.
	 */
	for (uint32_t i = 1; i < cfg->n_tenants; i++) {
		for (uint32_t j = 0; j < i; j++) {
			if (strcmp(cfg->tenants[i].token, cfg->tenants[j].token) != 0)
				continue;
			snprintf(sec, sizeof(sec), TENANT_PREFIX "%s", cfg->tenants[i].name);
			return fail(ld, ld->tenant_key_line[i][0], sec, "token",
				    "a different token for every tenant",
				    "same token as [tenant.%s] (line %u)",
				    cfg->tenants[j].name, ld->tenant_key_line[j][0]);
		}
	}
	return 0;
}

/* Worker bounds need workers_per_socket, which may come after [workers]. */
static int check_workers(const struct loader *ld)
{
	struct sl_config *cfg = ld->cfg;
	unsigned l_min = key_line_of(ld, "min_active"), l_max = key_line_of(ld, "max_active");
	unsigned l_wps = key_line_of(ld, "workers_per_socket");
	char wps_at[48];

	if (l_wps != 0)
		snprintf(wps_at, sizeof(wps_at), "line %u", l_wps);
	else
		snprintf(wps_at, sizeof(wps_at), "the default");

	/* A long line must be noticed before the stall timer stops its worker. */
	unsigned l_long = key_line_of(ld, "long_line_ms"), l_stall = key_line_of(ld, "stall_ms");
	char stall_at[48];

	if (l_stall != 0)
		snprintf(stall_at, sizeof(stall_at), "line %u", l_stall);
	else
		snprintf(stall_at, sizeof(stall_at), "the default");
	if (l_long == 0)
		cfg->long_line_ms = cfg->stall_ms / 2 < 200 ? cfg->stall_ms / 2 : 200;
	else if (cfg->long_line_ms >= cfg->stall_ms)
		return fail(ld, l_long, "workers", "long_line_ms", "long_line_ms below stall_ms",
			    "%u is not below stall_ms = %u (%s): the worker would be stopped before its "
			    "queued lines could move", cfg->long_line_ms, cfg->stall_ms, stall_at);

	if (l_max != 0 && cfg->workers_max > cfg->workers_per_socket)
		return fail(ld, l_max, "workers", "max_active",
			    "max_active at most [dataplane] workers_per_socket",
			    "%u is more than workers_per_socket = %u (%s)",
			    cfg->workers_max, cfg->workers_per_socket, wps_at);
	if (l_max == 0)
		cfg->workers_max = cfg->workers_per_socket;
	if (cfg->workers_min > cfg->workers_max) {
		/* min_active left at its default (2) with fewer workers: follow them. */
		if (l_min == 0) {
			cfg->workers_min = cfg->workers_max;
			return 0;
		}
		if (l_max != 0)
			return fail(ld, l_min > l_max ? l_min : l_max, "workers",
				    l_min > l_max ? "min_active" : "max_active",
				    "min_active <= max_active",
				    "min_active = %u is more than max_active = %u (lines %u and %u)",
				    cfg->workers_min, cfg->workers_max,
				    l_min < l_max ? l_min : l_max, l_min > l_max ? l_min : l_max);
		return fail(ld, l_min, "workers", "min_active",
			    "min_active at most [dataplane] workers_per_socket",
			    "%u is more than workers_per_socket = %u (%s)",
			    cfg->workers_min, cfg->workers_per_socket, wps_at);
	}
	return 0;
}

static int check_file(const struct loader *ld)
{
	const struct sl_config *cfg = ld->cfg;

	if (check_required(ld) != 0)
		return -1;

	if (cfg->vdev[0] != '\0' && cfg->pci[0] != '\0') {
		unsigned lv = key_line_of(ld, "vdev"), lp = key_line_of(ld, "pci");
		if (lp > lv)
			return fail(ld, lp, "dataplane", "pci",
				    "only one of vdev or pci",
				    "set together with vdev (line %u)", lv);
		return fail(ld, lv, "dataplane", "vdev",
			    "only one of vdev or pci",
			    "set together with pci (line %u)", lp);
	}

	if (check_workers(ld) != 0)
		return -1;
	return check_tenants(ld);
}

int sl_config_load(const char *path, struct sl_config *cfg, char *err, size_t errlen)
{
	sl_config_defaults(cfg);
	snprintf(cfg->path, sizeof(cfg->path), "%s", path);

	/* ~16 KiB of line bookkeeping: keep it off the caller's stack. */
	struct loader *ld = calloc(1, sizeof(*ld));
	if (ld == NULL) {
		snprintf(err, errlen, "%s: out of memory; expected a few KiB to be available", path);
		return -1;
	}
	ld->path = path;
	ld->cfg = cfg;
	ld->err = err;
	ld->errlen = errlen;
	ld->section = SEC_NONE;

	int rc = sl_ini_parse(path, on_item, ld, err, errlen);
	if (rc == 0)
		rc = check_file(ld);
	free(ld);
	return rc == 0 ? 0 : -1;
}
