/*
 * sluicectl.c — the operator's CLI: what is sluiced doing right now?
 *
 *   sluicectl [-c CONFIG | -p PREFIX] [--runtime-dir DIR] [--json] COMMAND
 *
 * It talks to sluiced through DPDK's telemetry socket (the /sluice/...
 * commands registered by control/telemetry.c), so it needs no DPDK, no
 * shared memory and no privileges beyond opening that socket, and it
 * cannot disturb the dataplane: the daemon answers on its telemetry
 * thread. The socket is
 *   <runtime dir>/<file prefix>/dpdk_telemetry.v2      (SOCK_SEQPACKET)
 * where the runtime dir follows DPDK's own rule (/var/run/dpdk for root,
 * $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk otherwise) and the file prefix is
 * the EAL --file-prefix sluiced was started with ([dataplane] file_prefix).
 *
 * The v2 protocol: on connect the server sends one JSON greeting
 * {"version":..., "pid":..., "max_output_len":N}; then each message we
 * send is one command ("/sluice/status" or "/ethdev/stats,0") and each
 * message back is one JSON object {"<command>": <value>}, value null for
 * an unknown command or a refused parameter.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "../config/config.h"

#define DEFAULT_CONFIG "/etc/sluice/sluice.conf"
#define DEFAULT_PREFIX "sluice"
#define SOCKET_NAME "dpdk_telemetry.v2"
#define REPLY_TIMEOUT_S 5
#define MAX_CMD_LEN 1024          /* what DPDK's telemetry thread reads per command */
#define MAX_PAGES 1000            /* a bound on paging, in case a reply never ends */

enum { EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char *progname = "sluicectl";

struct ctl {
	const char *prefix;
	bool json;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *buf;                /* one reply: max_output_len from the greeting, + NUL */
	size_t buf_len;
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: %s [-c CONFIG | -p PREFIX] [--runtime-dir DIR] [--json] COMMAND\n"
		"\n"
		"Show what a running sluiced is doing, through its DPDK telemetry socket.\n"
		"\n"
		"commands:\n"
		"  status       summary, per-lcore table and per-tenant table\n"
		"  lcores       per-lcore counters (rx lcores and workers)\n"
		"  tenants      per-tenant counters\n"
		"  drops [RX]   every drop and rejection counter (all rx lcores, or lcore RX)\n"
		"  topk TENANT  a topk tenant's 10 most frequent keys (a tweet tenant's hashtags), merged over the workers\n"
		"  workers      the worker pool: active/parked/crashed, crashes, restarts, load; scale events\n"
		"  workers kill N  make worker N crash on purpose (a drill): it is restarted, nothing is lost\n"
		"  workers stall N treat worker N's current processor call as stalled (a drill): stopped and\n"
		"               restarted if it is inside one, ignored between calls; nothing is lost\n"
		"  stages       TSC cycles per line in each stage (rx, split, dispatch, process, persist, ack)\n"
		"  raw CMD      send any telemetry command, e.g. raw /ethdev/stats,0 or raw /help\n"
		"\n"
		"options:\n"
		"  -c, --config FILE      read the file prefix from FILE's [dataplane] file_prefix\n"
		"                         (default " DEFAULT_CONFIG " if it exists)\n"
		"  -p, --prefix PREFIX    the EAL file prefix sluiced runs with (default \"" DEFAULT_PREFIX "\")\n"
		"      --runtime-dir DIR  where DPDK keeps its per-prefix folders (default /var/run/dpdk\n"
		"                         for root, else $XDG_RUNTIME_DIR/dpdk or /tmp/dpdk)\n"
		"  -j, --json             print the JSON replies instead of tables\n"
		"  -h, --help             show this help\n",
		progname);
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n");
	usage(stderr);
	exit(EXIT_USAGE);
}

static void __attribute__((format(printf, 1, 2), noreturn))
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAIL);
}

/* ---- finding the daemon ------------------------------------------------ */

/*
 * The file prefix: --prefix wins; then -c CONFIG (an error there is fatal:
 * the operator asked for that file); then the default config if present
 * (an error there only warns: it should not lock the operator out).
 */
static const char *
resolve_prefix(const char *prefix, const char *config)
{
	static char from_config[sizeof(((struct sl_config *)0)->file_prefix)];
	bool explicit = config != NULL;
	struct sl_config *cfg;
	char err[512];

	if (prefix != NULL)
		return prefix;
	if (!explicit) {
		if (access(DEFAULT_CONFIG, F_OK) != 0)
			return DEFAULT_PREFIX;
		config = DEFAULT_CONFIG;
	}
	cfg = calloc(1, sizeof(*cfg));     /* ~5 MiB: not on the stack */
	if (cfg == NULL)
		die("out of memory reading %s", config);
	if (sl_config_load(config, cfg, err, sizeof(err)) != 0) {
		if (explicit)
			die("%s", err);
		fprintf(stderr, "%s: warning: %s; using file prefix '%s' (pass -p PREFIX to choose)\n",
			progname, err, DEFAULT_PREFIX);
		free(cfg);
		return DEFAULT_PREFIX;
	}
	snprintf(from_config, sizeof(from_config), "%s",
		 cfg->file_prefix[0] != '\0' ? cfg->file_prefix : DEFAULT_PREFIX);
	free(cfg);
	return from_config;
}

/*
 * Where DPDK puts <prefix>/: the same rule as EAL's runtime dir. A
 * non-root operator looking at a root daemon is common, so /var/run/dpdk
 * is tried after the user's own directory.
 */
static unsigned
runtime_dirs(const char *explicit_dir, char dirs[][SL_PATH_MAX])
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	unsigned n = 0;

	if (explicit_dir != NULL) {
		snprintf(dirs[n++], SL_PATH_MAX, "%s", explicit_dir);
		return n;
	}
	if (getuid() != 0)
		snprintf(dirs[n++], SL_PATH_MAX, "%s/dpdk", xdg != NULL && *xdg != '\0' ? xdg : "/tmp");
	snprintf(dirs[n++], SL_PATH_MAX, "/var/run/dpdk");
	return n;
}

static void
set_path(struct ctl *c, const char *dir)
{
	int n = snprintf(c->path, sizeof(c->path), "%s/%s/%s", dir, c->prefix, SOCKET_NAME);

	if (n < 0 || (size_t)n >= sizeof(c->path))
		die("socket path too long: %s/%s/%s (a unix socket path holds at most %zu bytes;"
		    " use a shorter --runtime-dir or prefix)", dir, c->prefix, SOCKET_NAME,
		    sizeof(c->path) - 1);
}

static void
read_greeting(struct ctl *c)
{
	char greet[1024];
	json_error_t jerr;
	json_t *g, *max;
	ssize_t n = recv(c->fd, greet, sizeof(greet) - 1, 0);

	if (n == 0)
		die("%s closed the connection at once: too many telemetry clients connected?"
		    " (DPDK serves a few at a time; retry)", c->path);
	if (n < 0)
		die("no greeting from %s: %s (is the process behind it a DPDK application?)",
		    c->path, errno == EAGAIN ? "timed out" : strerror(errno));
	greet[n] = '\0';
	g = json_loads(greet, 0, &jerr);
	max = json_object_get(g, "max_output_len");
	c->buf_len = json_is_integer(max) && json_integer_value(max) > 0
		? (size_t)json_integer_value(max) : 16384;
	json_decref(g);
	c->buf = malloc(c->buf_len + 1);
	if (c->buf == NULL)
		die("out of memory");
}

static void
tel_connect(struct ctl *c, const char *explicit_dir)
{
	char dirs[2][SL_PATH_MAX];
	unsigned n = runtime_dirs(explicit_dir, dirs);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = REPLY_TIMEOUT_S };
	struct stat st;
	unsigned i;

	/* The first directory holding our prefix's socket is the one. */
	for (i = 0; i < n; i++) {
		set_path(c, dirs[i]);
		if (stat(c->path, &st) == 0)
			break;
		/* DPDK makes <prefix>/ mode 0700: another user's daemon shows up as EACCES. */
		if (errno == EACCES)
			die("cannot reach %s: %s (a sluiced there belongs to another user: run sluicectl as"
			    " that user or as root)", c->path, strerror(errno));
	}
	if (i == n) {
		set_path(c, dirs[0]);
		die("sluiced does not seem to be running with file prefix '%s': %s: %s"
		    " (start it, or pass --prefix / -c)%s%s%s", c->prefix, c->path, strerror(ENOENT),
		    n > 1 ? "; also looked in " : "", n > 1 ? dirs[1] : "", n > 1 ? "/" : "");
	}

	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;

		if (e == ECONNREFUSED)
			die("sluiced does not seem to be running with file prefix '%s': %s: %s"
			    " (a socket left by a process that has exited; start sluiced)",
			    c->prefix, c->path, strerror(e));
		if (e == EACCES || e == EPERM)
			die("cannot connect to %s: %s (sluiced runs as another user: run sluicectl"
			    " as that user or as root)", c->path, strerror(e));
		die("cannot connect to %s: %s", c->path, strerror(e));
	}
	read_greeting(c);
}

/* ---- asking ------------------------------------------------------------ */

/* Send one command, return the whole reply object {"<cmd>": value}. */
static json_t *
tel_request(struct ctl *c, const char *cmd)
{
	json_error_t jerr;
	json_t *reply;
	ssize_t n;

	if (strlen(cmd) >= MAX_CMD_LEN)
		die("command too long (%zu bytes; telemetry reads at most %d)", strlen(cmd),
		    MAX_CMD_LEN - 1);
	if (send(c->fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0)   /* a closed peer: an error, not SIGPIPE */
		die("sending '%s' to %s: %s", cmd, c->path, strerror(errno));
	n = recv(c->fd, c->buf, c->buf_len, MSG_TRUNC);
	if (n == 0)
		die("sluiced closed the telemetry connection while answering '%s' (did it stop?)", cmd);
	if (n < 0 && errno == EAGAIN)
		die("no answer to '%s' from %s within %d s (is sluiced stuck?)", cmd, c->path,
		    REPLY_TIMEOUT_S);
	if (n < 0)
		die("no answer to '%s' from %s: %s", cmd, c->path, strerror(errno));
	if ((size_t)n > c->buf_len)
		die("the reply to '%s' is larger than the %zu bytes the greeting announced", cmd,
		    c->buf_len);
	c->buf[n] = '\0';
	reply = json_loads(c->buf, 0, &jerr);
	/* A counter past 2^63 does not fit jansson's integer: read such a reply as reals. */
	if (reply == NULL)
		reply = json_loads(c->buf, JSON_DECODE_INT_AS_REAL, &jerr);
	if (!json_is_object(reply))
		die("the reply to '%s' is not a JSON object: %s (line %d): %.200s", cmd, jerr.text,
		    jerr.line, c->buf);
	return reply;
}

/* The value of a /sluice/... command; a null value means sluiced does not know it. */
static json_t *
tel_value(struct ctl *c, const char *cmd, const char *key)
{
	json_t *reply = tel_request(c, cmd);
	json_t *v = json_incref(json_object_get(reply, key));

	json_decref(reply);
	if (!json_is_object(v))
		die("'%s' got no answer from the process with file prefix '%s' (%s):"
		    " is it sluiced, and of the same version as this sluicectl?", cmd, c->prefix, c->path);
	return v;
}

/*
 * A paged /sluice/... command (telemetry.h): ask from row 0, then from
 * the number of rows received so far, until a page comes back empty.
 * Rows are merged into one object in order; a key seen twice (two tenant
 * names that differ only by '.' versus '-', across pages) keeps both.
 */
static json_t *
tel_paged(struct ctl *c, const char *cmd)
{
	json_t *all = json_object();
	size_t first = 0;

	for (int page = 0; page < MAX_PAGES; page++) {
		char req[MAX_CMD_LEN];
		const char *key;
		json_t *v, *row;

		snprintf(req, sizeof(req), "%s,%zu", cmd, first);
		v = tel_value(c, req, cmd);
		if (json_object_size(v) == 0) {
			json_decref(v);
			return all;
		}
		first += json_object_size(v);
		json_object_foreach(v, key, row) {
			char alt[512];
			const char *k = key;     /* the foreach walks by key: never change it */

			if (json_object_get(all, k) != NULL) {
				snprintf(alt, sizeof(alt), "%s_%zu", k, json_object_size(all));
				k = alt;
			}
			json_object_set(all, k, row);
		}
		json_decref(v);
	}
	die("'%s' kept sending pages (%d of them): giving up", cmd, MAX_PAGES);
}

/* ---- printing ---------------------------------------------------------- */

/* One value as table text. */
static void
cell(char *out, size_t len, const json_t *v)
{
	char *dump;

	switch (json_typeof(v)) {
	case JSON_INTEGER:
		snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(out, len, "%.0f", json_real_value(v));
		break;
	case JSON_STRING:
		snprintf(out, len, "%s", json_string_value(v));
		break;
	case JSON_TRUE:
		snprintf(out, len, "true");
		break;
	case JSON_FALSE:
		snprintf(out, len, "false");
		break;
	case JSON_NULL:
		snprintf(out, len, "-");
		break;
	default:
		dump = json_dumps(v, JSON_COMPACT);
		snprintf(out, len, "%s", dump != NULL ? dump : "?");
		free(dump);
		break;
	}
}

static void
print_json(const json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s == NULL)
		die("cannot format the reply as JSON");
	puts(s);
	free(s);
}

static void
print_duration(uint64_t s)
{
	if (s >= 86400)
		printf(" (%llud %02lluh %02llum)", (unsigned long long)(s / 86400),
		       (unsigned long long)(s / 3600 % 24), (unsigned long long)(s / 60 % 60));
	else
		printf(" (%lluh %02llum %02llus)", (unsigned long long)(s / 3600),
		       (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
}

/* key: value lines, aligned; a nested object becomes an indented block. */
static void
print_dict(const json_t *d, int indent)
{
	size_t width = 0;
	const char *key;
	json_t *v;
	char text[256];

	json_object_foreach((json_t *)d, key, v)
		if (!json_is_object(v) && strlen(key) > width)
			width = strlen(key);
	json_object_foreach((json_t *)d, key, v) {
		if (json_is_object(v))
			continue;
		cell(text, sizeof(text), v);
		printf("%*s%-*s  %s", indent, "", (int)width + 1, key, text);
		if (strcmp(key, "uptime_s") == 0 && json_is_integer(v))
			print_duration((uint64_t)json_integer_value(v));
		putchar('\n');
	}
	json_object_foreach((json_t *)d, key, v) {
		if (!json_is_object(v))
			continue;
		printf("%*s%s:\n", indent, "", key);
		print_dict(v, indent + 2);
	}
}

/*
 * A table of rows (objects with the same keys): the first column is the
 * row's key (or its "name" field), then one column per field of the
 * first row, skipping "id" and "name". Numbers right-aligned.
 */
#define MAX_COLS 32

static void
print_table(const char *title, const char *first_col, json_t **rows, const char **names, size_t n)
{
	const char *cols[MAX_COLS];
	size_t width[MAX_COLS + 1];
	size_t ncols = 0;
	const char *key;
	json_t *v;
	char text[256];

	if (n == 0)
		return;
	json_object_foreach(rows[0], key, v) {
		if (strcmp(key, "id") != 0 && strcmp(key, "name") != 0 && ncols < MAX_COLS)
			cols[ncols++] = key;
	}
	width[0] = strlen(first_col);
	for (size_t c = 0; c < ncols; c++)
		width[c + 1] = strlen(cols[c]);
	for (size_t r = 0; r < n; r++) {
		if (strlen(names[r]) > width[0])
			width[0] = strlen(names[r]);
		for (size_t c = 0; c < ncols; c++) {
			cell(text, sizeof(text), json_object_get(rows[r], cols[c]));
			if (strlen(text) > width[c + 1])
				width[c + 1] = strlen(text);
		}
	}

	printf("%s\n", title);
	printf("  %-*s", (int)width[0], first_col);
	for (size_t c = 0; c < ncols; c++)
		printf("  %*s", (int)width[c + 1], cols[c]);
	putchar('\n');
	for (size_t r = 0; r < n; r++) {
		printf("  %-*s", (int)width[0], names[r]);
		for (size_t c = 0; c < ncols; c++) {
			v = json_object_get(rows[r], cols[c]);
			cell(text, sizeof(text), v);
			if (json_is_string(v))
				printf("  %-*s", (int)width[c + 1], text);
			else
				printf("  %*s", (int)width[c + 1], text);
		}
		putchar('\n');
	}
}

/* Rows whose key starts with prefix, in reply order. */
static size_t
select_rows(json_t *all, const char *prefix, bool use_name, json_t **rows, const char **names,
	    size_t cap)
{
	size_t n = 0;
	const char *key;
	json_t *v;

	json_object_foreach(all, key, v) {
		json_t *name = json_object_get(v, "name");

		if (!json_is_object(v) || strncmp(key, prefix, strlen(prefix)) != 0 || n == cap)
			continue;
		rows[n] = v;
		names[n] = use_name && json_is_string(name) ? json_string_value(name) : key;
		n++;
	}
	return n;
}

static void
print_lcores(json_t *all)
{
	size_t cap = json_object_size(all) + 1;
	json_t **rows = calloc(cap, sizeof(*rows));
	const char **names = calloc(cap, sizeof(*names));
	size_t n;

	if (rows == NULL || names == NULL)
		die("out of memory");
	n = select_rows(all, "rx", false, rows, names, cap);
	print_table("rx lcores", "name", rows, names, n);
	if (n == 0)
		printf("rx lcores\n  (none)\n");
	putchar('\n');
	n = select_rows(all, "worker", false, rows, names, cap);
	print_table("workers", "name", rows, names, n);
	if (n == 0)
		printf("workers\n  (none)\n");
	free(rows);
	free(names);
}

static void
print_tenants(json_t *all)
{
	size_t cap = json_object_size(all) + 1;
	json_t **rows = calloc(cap, sizeof(*rows));
	const char **names = calloc(cap, sizeof(*names));
	size_t n;

	if (rows == NULL || names == NULL)
		die("out of memory");
	n = select_rows(all, "", true, rows, names, cap);
	if (n == 0)
		printf("tenants\n  (none configured)\n");
	print_table("tenants", "tenant", rows, names, n);
	free(rows);
	free(names);
}

static void
print_drops(json_t *d)
{
	unsigned long long total = 0;
	const char *key;
	json_t *v;

	json_object_foreach(d, key, v)
		if (json_is_integer(v))
			total += (unsigned long long)json_integer_value(v);
	print_dict(d, 0);
	printf("%s\n", "----");
	printf("total %llu\n", total);
}

/* ---- commands ---------------------------------------------------------- */

static int
run_status(struct ctl *c)
{
	json_t *status = tel_value(c, "/sluice/status", "/sluice/status");
	json_t *lcores = tel_paged(c, "/sluice/lcores");
	json_t *tenants = tel_paged(c, "/sluice/tenants");

	if (c->json) {
		json_t *all = json_pack("{s:o, s:o, s:o}", "/sluice/status", status,
					"/sluice/lcores", lcores, "/sluice/tenants", tenants);

		print_json(all);
		json_decref(all);
		return 0;
	}
	printf("sluiced on file prefix '%s' (%s)\n", c->prefix, c->path);
	print_dict(status, 2);
	putchar('\n');
	print_lcores(lcores);
	putchar('\n');
	print_tenants(tenants);
	json_decref(status);
	json_decref(lcores);
	json_decref(tenants);
	return 0;
}

/* The dict a command returns under its own name (the part before any ','), or NULL. */
static json_t *
tel_dict(struct ctl *c, const char *cmd)
{
	char name[MAX_CMD_LEN];
	json_t *reply, *d;

	snprintf(name, sizeof(name), "%s", cmd);
	name[strcspn(name, ",")] = '\0';
	reply = tel_request(c, cmd);
	d = json_incref(json_object_get(reply, name));
	json_decref(reply);
	if (!json_is_object(d)) {
		json_decref(d);
		return NULL;
	}
	return d;
}

/* --json: the reply as {cmd: value}; otherwise print it for a person. Takes d. */
static int
emit(struct ctl *c, const char *cmd, json_t *d, void (*print)(json_t *))
{
	if (c->json) {
		json_t *wrapped = json_pack("{s:O}", cmd, d);

		print_json(wrapped);
		json_decref(wrapped);
	} else if (print != NULL) {
		print(d);
	}
	json_decref(d);
	return 0;
}

static int
run_paged(struct ctl *c, const char *cmd, void (*print)(json_t *))
{
	return emit(c, cmd, tel_paged(c, cmd), print);
}

static int
run_drops(struct ctl *c, const char *rx)
{
	char cmd[64];
	json_t *d;

	if (rx != NULL)
		snprintf(cmd, sizeof(cmd), "/sluice/drops,%s", rx);
	else
		snprintf(cmd, sizeof(cmd), "/sluice/drops");
	if ((d = tel_dict(c, cmd)) == NULL) {
		if (rx != NULL)
			die("'%s' was refused: there is no rx lcore %s (see 'sluicectl lcores' for"
			    " the rx lcores, numbered from 0)", cmd, rx);
		die("'%s' got no answer from the process with file prefix '%s': is it sluiced?",
		    cmd, c->prefix);
	}
	return emit(c, cmd, d, print_drops);
}

/* rank, key, count of a /sluice/topk reply: parallel arrays "keys" and "counts". */
static void
print_topk(json_t *d)
{
	const json_t *keys = json_object_get(d, "keys");
	const json_t *counts = json_object_get(d, "counts");
	const char *tenant = json_string_value(json_object_get(d, "tenant"));
	size_t n = json_array_size(keys), kw = 3;
	char text[64];

	if (tenant == NULL)
		tenant = "?";
	if (n == 0) {
		printf("tenant %s: no keys counted yet (is its processor topk or tweet, and has it had lines?)\n",
		       tenant);
		return;
	}
	printf("top %zu of tenant %s\n", n, tenant);
	for (size_t i = 0; i < n; i++) {
		const char *k = json_string_value(json_array_get(keys, i));

		if (k != NULL && strlen(k) > kw)
			kw = strlen(k);
	}
	printf("  %4s  %-*s  %12s\n", "rank", (int)kw, "key", "count");
	for (size_t i = 0; i < n; i++) {
		const char *k = json_string_value(json_array_get(keys, i));

		cell(text, sizeof(text), json_array_get(counts, i));
		printf("  %4zu  %-*s  %12s\n", i + 1, (int)kw, k != NULL ? k : "?", text);
	}
}

/* cycles per line for each stage of a /sluice/stages reply */
static void
print_stages(json_t *d)
{
	static const char *const order[] = { "rx", "split", "dispatch", "process", "persist", "persist_io", "ack" };
	json_t *st = json_object_get(d, "stages");
	double lines = (double)json_integer_value(json_object_get(d, "lines"));
	double hz = (double)json_integer_value(json_object_get(d, "tsc_hz"));

	printf("%.0f lines since start; TSC %.2f GHz\n", lines, hz / 1e9);
	printf("  %-11s %16s %14s\n", "stage", "cycles", "cycles/line");
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		double cyc = (double)json_integer_value(json_object_get(st, order[i]));
		printf("  %-11s %16.0f %14.1f%s\n", order[i], cyc, lines > 0 ? cyc / lines : 0.0,
		       strcmp(order[i], "persist_io") == 0 ? "  (waiting for the disk, not CPU)" : "");
	}
}

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 :
	       c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * /sluice/topk sends keys percent-encoded outside printable ASCII (DPDK's
 * telemetry cannot carry UTF-8; see telemetry.c): put the real keys back,
 * for the table and for --json. A key that does not decode to UTF-8 stays
 * as it came.
 */
static void
decode_topk_keys(json_t *d)
{
	json_t *keys = json_object_get(d, "keys");

	for (size_t i = 0; i < json_array_size(keys); i++) {
		const char *k = json_string_value(json_array_get(keys, i));
		char out[256];
		size_t o = 0;
		json_t *s;

		if (k == NULL)
			continue;
		for (; *k != '\0' && o < sizeof(out); k++) {
			if (k[0] == '%' && hexval(k[1]) >= 0 && hexval(k[2]) >= 0) {
				out[o++] = (char)(hexval(k[1]) << 4 | hexval(k[2]));
				k += 2;
			} else {
				out[o++] = *k;
			}
		}
		s = json_stringn(out, o);
		if (s != NULL)
			json_array_set_new(keys, i, s);
	}
}

static int
run_topk(struct ctl *c, const char *tenant)
{
	char cmd[MAX_CMD_LEN];
	json_t *d;

	snprintf(cmd, sizeof(cmd), "/sluice/topk,%s", tenant);
	if ((d = tel_dict(c, cmd)) == NULL)
		die("'%s' was refused: sluiced has no tenant named '%s' (see 'sluicectl tenants';"
		    " names are case-sensitive)", cmd, tenant);
	decode_topk_keys(d);
	return emit(c, cmd, d, print_topk);
}

/* The worker pool: a line of totals, then one row per worker. */
static void
print_workers(json_t *d)
{
	const char *key;
	json_t *v;
	char a[32], b[32], c[32], e[32], f[32], g[32], h[32];

	printf("dispatch %s, %lld of %lld workers active, %lld scale-ups, %lld scale-downs, %lld lines quarantined\n",
	       json_string_value(json_object_get(d, "dispatch")) ? json_string_value(json_object_get(d, "dispatch")) : "?",
	       json_integer_value(json_object_get(d, "n_active")), json_integer_value(json_object_get(d, "n_workers")),
	       json_integer_value(json_object_get(d, "scale_ups")), json_integer_value(json_object_get(d, "scale_downs")),
	       json_integer_value(json_object_get(d, "quarantined")));
	printf("%lld inside a long processor call (over %lld ms), %lld line batches moved off them\n",
	       json_integer_value(json_object_get(d, "n_long")), json_integer_value(json_object_get(d, "long_line_ms")),
	       json_integer_value(json_object_get(d, "redispatched")));
	printf("  %-9s %5s  %-8s %7s %8s %10s %12s %9s %7s\n", "worker", "lcore", "state", "crashes", "restarts", "load",
	       "lines", "call_ms", "moved");
	json_object_foreach((json_t *)d, key, v) {
		const char *state;

		if (!json_is_object(v))
			continue;
		state = json_integer_value(json_object_get(v, "crashed")) ? "crashed" :
			!json_integer_value(json_object_get(v, "running")) ? "stopped" :
			json_integer_value(json_object_get(v, "long_line")) ? "long" :
			json_integer_value(json_object_get(v, "parked")) ? "parked" : "active";
		cell(a, sizeof(a), json_object_get(v, "lcore"));
		cell(b, sizeof(b), json_object_get(v, "crashes"));
		cell(c, sizeof(c), json_object_get(v, "restarts"));
		cell(e, sizeof(e), json_object_get(v, "load"));
		cell(f, sizeof(f), json_object_get(v, "lines"));
		cell(g, sizeof(g), json_object_get(v, "call_ms"));
		cell(h, sizeof(h), json_object_get(v, "redispatched"));
		printf("  %-9s %5s  %-8s %7s %8s %10s %12s %9s %7s\n", key, a, state, b, c, e, f, g, h);
	}
}

/* verb: NULL (show), "kill" or "stall"; n: the worker index for a verb. */
static int
run_workers(struct ctl *c, const char *verb, const char *n)
{
	char cmd[MAX_CMD_LEN];
	json_t *d;

	if (verb != NULL)
		snprintf(cmd, sizeof(cmd), "/sluice/workers/%s,%s", verb, n);
	else
		snprintf(cmd, sizeof(cmd), "/sluice/workers");
	if ((d = tel_dict(c, cmd)) == NULL) {
		if (verb != NULL)
			die("'%s' was refused: no worker %s, or it is down already and restarting"
			    " (see 'sluicectl workers')", cmd, n);
		die("'%s' got no answer from the process with file prefix '%s': is it sluiced?", cmd, c->prefix);
	}
	if (verb != NULL && !c->json) {
		if (strcmp(verb, "kill") == 0)
			printf("worker %s told to crash: its lines go to the other workers, the supervisor restarts it\n", n);
		else
			printf("worker %s told to stall: if it is inside a processor call, it is stopped and restarted"
			       " and its lines go to the other workers; between calls nothing happens\n", n);
	}
	return emit(c, cmd, d, verb != NULL ? NULL : print_workers);
}

static int
run_raw(struct ctl *c, const char *cmd)
{
	json_t *reply = tel_request(c, cmd);
	const char *key;
	json_t *v;
	int rc = 0;

	print_json(reply);
	/* A null value: unknown command, or one that refused its parameter. */
	json_object_foreach(reply, key, v)
		if (json_is_null(v)) {
			fprintf(stderr, "%s: '%s' returned null: unknown command or bad parameter"
				" (try: %s raw /help,%s  or  %s raw /)\n", progname, cmd, progname,
				key, progname);
			rc = EXIT_FAIL;
		}
	json_decref(reply);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "runtime-dir", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL, *prefix = NULL, *runtime_dir = NULL;
	struct ctl c = { .fd = -1 };
	const char *cmd;
	int opt, rc;

	if (argc > 0 && argv[0] != NULL)
		progname = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
	while ((opt = getopt_long(argc, argv, "c:p:jh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'p':
			prefix = optarg;
			break;
		case 'R':
			runtime_dir = optarg;
			break;
		case 'j':
			c.json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);      /* getopt already said what was wrong */
			return EXIT_USAGE;
		}
	}
	if (config != NULL && prefix != NULL)
		usage_error("-c and --prefix both say where sluiced is: pass one of them");
	if (prefix != NULL && (*prefix == '\0' || strchr(prefix, '/') != NULL))
		usage_error("--prefix '%s': a file prefix is a non-empty name without '/'"
			    " (the EAL --file-prefix, e.g. sluice)", prefix);
	if (runtime_dir != NULL && *runtime_dir == '\0')
		usage_error("--runtime-dir: empty directory name");
	if (optind >= argc)
		usage_error("missing command: status, lcores, tenants, drops, workers, topk or raw");

	cmd = argv[optind++];
	if (strcmp(cmd, "raw") == 0) {
		if (argc - optind != 1)
			usage_error("raw takes exactly one telemetry command, e.g. raw /ethdev/stats,0");
		if (argv[optind][0] != '/')
			usage_error("raw '%s': telemetry commands start with '/', e.g. /ethdev/stats,0"
				    " (raw / lists them all)", argv[optind]);
	} else if (strcmp(cmd, "drops") == 0) {
		if (argc - optind > 1)
			usage_error("drops takes at most one argument, the rx lcore index");
		if (argc - optind == 1 && strspn(argv[optind], "0123456789") != strlen(argv[optind]))
			usage_error("drops '%s': the rx lcore index is a number (0 for the first rx lcore)",
				    argv[optind]);
	} else if (strcmp(cmd, "topk") == 0) {
		if (argc - optind != 1)
			usage_error("topk takes exactly one argument, the tenant name (sluicectl topk acme)");
		if (!sl_name_valid(argv[optind], strlen(argv[optind])))
			usage_error("topk '%s': a tenant name is 1-%d bytes of [A-Za-z0-9._-], not starting"
				    " with '.'", argv[optind], SL_NAME_MAX);
	} else if (strcmp(cmd, "workers") == 0) {
		if (argc - optind != 0 && !(argc - optind == 2 && (strcmp(argv[optind], "kill") == 0 ||
								   strcmp(argv[optind], "stall") == 0)))
			usage_error("workers takes no argument, or 'kill N' or 'stall N' (sluicectl workers kill 3)");
		if (argc - optind == 2 && (argv[optind + 1][0] == '\0' ||
					   strspn(argv[optind + 1], "0123456789") != strlen(argv[optind + 1])))
			usage_error("workers %s '%s': the worker index is a number (see 'sluicectl workers')",
				    argv[optind], argv[optind + 1]);
	} else if (strcmp(cmd, "status") == 0 || strcmp(cmd, "lcores") == 0 ||
		   strcmp(cmd, "tenants") == 0 || strcmp(cmd, "stages") == 0) {
		if (optind != argc)
			usage_error("%s takes no arguments ('%s' is extra)", cmd, argv[optind]);
	} else {
		usage_error("unknown command '%s': expected status, lcores, tenants, drops, workers, topk, stages or raw", cmd);
	}

	c.prefix = resolve_prefix(prefix, config);
	tel_connect(&c, runtime_dir);

	if (strcmp(cmd, "status") == 0)
		rc = run_status(&c);
	else if (strcmp(cmd, "lcores") == 0)
		rc = run_paged(&c, "/sluice/lcores", print_lcores);
	else if (strcmp(cmd, "tenants") == 0)
		rc = run_paged(&c, "/sluice/tenants", print_tenants);
	else if (strcmp(cmd, "drops") == 0)
		rc = run_drops(&c, optind < argc ? argv[optind] : NULL);
	else if (strcmp(cmd, "topk") == 0)
		rc = run_topk(&c, argv[optind]);
	else if (strcmp(cmd, "workers") == 0)
		rc = run_workers(&c, optind + 1 < argc ? argv[optind] : NULL, optind + 1 < argc ? argv[optind + 1] : NULL);
	else if (strcmp(cmd, "stages") == 0) {
		json_t *d = tel_dict(&c, "/sluice/stages");
		if (d == NULL)
			die("/sluice/stages was refused: is this sluiced older than the stage counters?");
		rc = emit(&c, "/sluice/stages", d, print_stages);
	}
	else
		rc = run_raw(&c, argv[optind]);

	close(c.fd);
	free(c.buf);
	return rc;
}
