/*
 * test_config.c — sluice.conf parsing and validation.
 *
 * Loads the shipped configs (found through $SLUICE_SRC, the source root)
 * and inline ones written to temporary files, checks the parsed values,
 * then walks every rejection path: each bad input must fail with one
 * message naming the file, the line, the section, the key and what is
 * expected. No DPDK involved.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

#include "check.h"

/* Write text to a fresh temporary file; its path goes into path (>= 32 bytes). */
static void write_temp(const char *text, size_t len, char *path)
{
	strcpy(path, "/tmp/sluice-test-cfg-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		exit(2);
	}
	if (write(fd, text, len) != (ssize_t)len) {
		perror("write");
		exit(2);
	}
	close(fd);
}

static struct sl_config *cfg;
static char err[1024];
static char tmp_path[64];

/* Load inline text; the temp file is removed afterwards, its name kept in tmp_path. */
static int load_text_len(const char *text, size_t len)
{
	err[0] = '\0';
	write_temp(text, len, tmp_path);
	int rc = sl_config_load(tmp_path, cfg, err, sizeof(err));
	unlink(tmp_path);
	return rc;
}

static int load_text(const char *text)
{
	return load_text_len(text, strlen(text));
}

static int load_shipped(const char *rel)
{
	const char *src = getenv("SLUICE_SRC");
	char path[1024];

	if (src == NULL) {
		fprintf(stderr, "    SLUICE_SRC is not set (the source root)\n");
		return -2;
	}
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	err[0] = '\0';
	int rc = sl_config_load(path, cfg, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "    %s\n", err);
	return rc;
}

/* ---- good configs ----------------------------------------------------- */

static void test_demo_conf(void)
{
	CHECK(load_shipped("config/demo.conf") == 0);
	CHECK(strcmp(cfg->vdev, "net_af_packet0,iface=sl-demo0") == 0);
	CHECK(cfg->pci[0] == '\0');
	CHECK(cfg->ip == ((198u << 24) | (18u << 16) | (0u << 8) | 2u));
	CHECK(cfg->udp_port == 7878);
	CHECK(cfg->rx_lcores == 1);
	CHECK(cfg->workers_per_socket == 10);
	CHECK(cfg->idle == SL_IDLE_ADAPTIVE);
	CHECK(cfg->no_huge == true);
	CHECK(cfg->memory_mb == 1024);
	CHECK(strcmp(cfg->file_prefix, "sluice-demo") == 0);
	CHECK(strcmp(cfg->listen_addr, "127.0.0.1") == 0);
	CHECK(cfg->listen_port == 8780);
	CHECK(strcmp(cfg->data_dir, "/tmp/sluice-demo/data") == 0);
	CHECK(cfg->n_tenants == 2);
	CHECK(strcmp(cfg->tenants[0].name, "cocacola") == 0);
	CHECK(strcmp(cfg->tenants[0].token, "coke-2026-demo-token-7f3a9c") == 0);
	CHECK(cfg->tenants[0].columns == 4);
	CHECK(cfg->tenants[0].ack == SL_ACK_PERSISTED);
	CHECK(strcmp(cfg->tenants[1].name, "pepsico") == 0);
	CHECK(strcmp(cfg->tenants[1].token, "pepsi-2026-demo-token-b81e4d") == 0);
	CHECK(cfg->tenants[1].columns == 4);
	CHECK(sl_config_tenant_find(cfg, "pepsico", 7) == 1);
	CHECK(strstr(cfg->path, "config/demo.conf") != NULL);
	/* keys the demo leaves out keep their defaults */
	CHECK(cfg->mbufs == 8191);
	CHECK(cfg->subscriber_queue == 65536);
	CHECK(cfg->batch_records == 4096);
	report("demo.conf loads with the demo's values");
}

static void test_example_conf(void)
{
	CHECK(load_shipped("config/sluice.conf.example") == 0);
	CHECK(strcmp(cfg->vdev, "net_af_packet0,iface=eth1") == 0);
	CHECK(cfg->ip == 0xc6120002u);
	CHECK(cfg->udp_port == 7878);
	CHECK(cfg->max_line_bytes == 16384);
	CHECK(cfg->window_bytes == 262144);
	CHECK(cfg->no_huge == false);
	CHECK(strcmp(cfg->data_dir, "/var/lib/sluice") == 0);
	CHECK(cfg->n_tenants == 4);
	CHECK(strcmp(cfg->tenants[0].name, "acme") == 0);
	CHECK(cfg->tenants[0].columns == 12);
	CHECK(cfg->tenants[1].ack == SL_ACK_PROCESSED);
	CHECK(strcmp(cfg->tenants[1].name, "globex-eu") == 0);
	CHECK(cfg->dispatch == SL_DISPATCH_LEAST_LOADED && cfg->workers_min == 2 && cfg->workers_max == 10);
	CHECK(cfg->crash_limit == 3 && cfg->poison_marker[0] == '\0' && cfg->share_dir[0] == '\0');
	CHECK(strcmp(cfg->tenants[2].name, "orders") == 0 && cfg->tenants[2].n_schema == 6 &&
	      cfg->tenants[2].columns == 6 && cfg->tenants[2].schema[5].required == 0);
	CHECK(strcmp(cfg->tenants[3].processor, "tweet") == 0);
	report("sluice.conf.example loads");
}

/* tests/fixtures/orders.schema is the schema line the integration tests put in a tenant. */
static void test_orders_schema(void)
{
	const char *src = getenv("SLUICE_SRC");
	char path[1024], line[512], text[1024];
	FILE *f;

	CHECK(src != NULL);
	snprintf(path, sizeof(path), "%s/tests/fixtures/orders.schema", src ? src : ".");
	f = fopen(path, "r");
	CHECK(f != NULL);
	line[0] = '\0';
	while (f != NULL && fgets(line, sizeof(line), f) != NULL && strncmp(line, "schema", 6) != 0)
		;
	if (f != NULL)
		fclose(f);
	snprintf(text, sizeof(text), "[dataplane]\nip = 10.1.2.3\n[storage]\ndata_dir = /s\n"
		 "[tenant.orders]\ntoken = 0123456789abcdef\n%s", line);
	CHECK(load_text(text) == 0);
	if (err[0] != '\0')
		fprintf(stderr, "    %s\n", err);
	const struct sl_tenant_conf *t = &cfg->tenants[0];
	CHECK(t->n_schema == 6 && t->columns == 6);
	CHECK(strcmp(t->schema[0].name, "order_id") == 0 && t->schema[0].type == SL_COL_INT);
	CHECK(strcmp(t->schema[2].name, "amount") == 0 && t->schema[2].type == SL_COL_FLOAT);
	CHECK(strcmp(t->schema[4].name, "ordered_at") == 0 && t->schema[4].type == SL_COL_TIMESTAMP);
	CHECK(strcmp(t->schema[5].name, "note") == 0 && !t->schema[5].required);
	report("tests/fixtures/orders.schema loads");
}

static void test_defaults(void)
{
	CHECK(load_text("[dataplane]\nip = 10.1.2.3\n[storage]\ndata_dir = /srv/s\n"
			"[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->vdev[0] == '\0' && cfg->pci[0] == '\0');
	CHECK(cfg->ip == 0x0a010203u);
	CHECK(cfg->udp_port == 7878);
	CHECK(cfg->rx_lcores == 1);
	CHECK(cfg->workers_per_socket == 10);
	CHECK(cfg->idle == SL_IDLE_ADAPTIVE);
	CHECK(cfg->mbufs == 8191);
	CHECK(cfg->batches == 2047);
	CHECK(cfg->max_line_bytes == 16384);
	CHECK(cfg->window_bytes == 262144);
	CHECK(cfg->streams_per_lcore == 1024);
	CHECK(cfg->no_huge == false);
	CHECK(cfg->memory_mb == 1024);
	CHECK(strcmp(cfg->file_prefix, "sluice") == 0);
	CHECK(cfg->eal_extra[0] == '\0');
	CHECK(strcmp(cfg->listen_addr, "127.0.0.1") == 0);
	CHECK(cfg->listen_port == 8080);
	CHECK(cfg->subscriber_queue == 65536);
	CHECK(cfg->batch_records == 4096);
	CHECK(cfg->n_tenants == 1);
	CHECK(cfg->tenants[0].columns == 0);
	CHECK(cfg->tenants[0].ack == SL_ACK_PERSISTED);
	CHECK(cfg->reorder_frames == 128 && cfg->nak_delay_us == 500 && cfg->stream_idle_ms == 30000);
	CHECK(cfg->batch_lines == 64);
	CHECK(cfg->tenants[0].max_streams == 64 && cfg->tenants[0].max_document_mb == 0);
	CHECK(cfg->tenants[0].reorder_kb == 4096);
	CHECK(cfg->large_results == 64 && cfg->held_max_mb == 256 && cfg->pending_timeout_ms == 60000);
	report("left-out keys take their defaults");
}

static void test_defaults_function(void)
{
	memset(cfg, 0x5a, sizeof(*cfg));
	sl_config_defaults(cfg);
	CHECK(cfg->udp_port == 7878 && cfg->listen_port == 8080);
	CHECK(cfg->n_tenants == 0 && cfg->data_dir[0] == '\0' && cfg->ip == 0);
	CHECK(strcmp(cfg->file_prefix, "sluice") == 0);
	report("sl_config_defaults fills every field");
}

static void test_syntax_variants(void)
{
	/* BOM, CRLF, ; and # comments, indentation, quotes, escapes, booleans */
	const char *text =
		"\xef\xbb\xbf# comment\r\n"
		"; another comment\r\n"
		"\r\n"
		"  [ dataplane ]  \r\n"
		"\tip\t=\t192.168.7.9  \r\n"
		"eal_args = \"  --log-level=8 # keep  \"\r\n"
		"vdev=net_ring0\r\n"
		"no_huge = YES\r\n"
		"idle = Busy\r\n"
		"   # indented comment\r\n"
		"[storage]\r\n"
		"data_dir = \"/data/with space\"\r\n"
		"[tenant.A_b.c-9]\r\n"
		"token = \"tok\\\"en-with;#-and\\\\-x\"\r\n"
		"ack = processed\r\n"
		"columns = 0\r\n";
	CHECK(load_text(text) == 0);
	if (err[0] != '\0')
		fprintf(stderr, "    %s\n", err);
	CHECK(cfg->ip == 0xc0a80709u);
	CHECK(strcmp(cfg->eal_extra, "  --log-level=8 # keep  ") == 0);
	CHECK(strcmp(cfg->vdev, "net_ring0") == 0);
	CHECK(cfg->no_huge == true);
	CHECK(cfg->idle == SL_IDLE_BUSY);
	CHECK(strcmp(cfg->data_dir, "/data/with space") == 0);
	CHECK(strcmp(cfg->tenants[0].name, "A_b.c-9") == 0);
	CHECK(strcmp(cfg->tenants[0].token, "tok\"en-with;#-and\\-x") == 0);
	CHECK(cfg->tenants[0].ack == SL_ACK_PROCESSED);
	report("syntax: BOM, CRLF, comments, whitespace, quotes and escapes");
}

static void test_booleans(void)
{
	static const struct { const char *s; bool v; } cases[] = {
		{ "true", true }, { "false", false }, { "yes", true },
		{ "no", false }, { "1", true }, { "0", false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "[dataplane]\nip = 1.2.3.4\nno_huge = %s\n[storage]\ndata_dir = /d\n"
			 "[tenant.a]\ntoken = 0123456789abcdef\n", cases[i].s);
		CHECK(load_text(text) == 0);
		CHECK(cfg->no_huge == cases[i].v);
	}
	report("booleans: true/false/yes/no/1/0");
}

static void test_limits_accepted(void)
{
	const char *lo =
		"[dataplane]\npci = 0000:3b:00.0\nip = 1.0.0.1\nudp_port = 1\nrx_lcores = 1\n"
		"workers_per_socket = 1\nmbufs = 1023\nbatches = 64\nmax_line_bytes = 64\n"
		"window_bytes = 4096\nstreams_per_lcore = 1\nmemory_mb = 128\nfile_prefix = a\n"
		"[control]\nlisten = 0.0.0.0\nport = 1\nsubscriber_queue = 16\n"
		"[storage]\ndata_dir = /\nbatch_records = 1\n"
		"[tenant.x]\ntoken = 0123456789abcdef\ncolumns = 0\n";
	CHECK(load_text(lo) == 0);
	if (err[0] != '\0')
		fprintf(stderr, "    %s\n", err);
	CHECK(strcmp(cfg->pci, "0000:3b:00.0") == 0);
	CHECK(cfg->udp_port == 1 && cfg->mbufs == 1023 && cfg->batches == 64);
	CHECK(cfg->max_line_bytes == 64 && cfg->window_bytes == 4096);
	CHECK(cfg->subscriber_queue == 16 && cfg->batch_records == 1);
	CHECK(strcmp(cfg->listen_addr, "0.0.0.0") == 0);

	char tok128[129];
	memset(tok128, 'z', 128);
	tok128[128] = '\0';
	char hi[2048];
	snprintf(hi, sizeof(hi),
		 "[dataplane]\nip = 223.255.255.254\nudp_port = 65535\nrx_lcores = 16\n"
		 "workers_per_socket = 64\nmbufs = 16777215\nbatches = 16777215\n"
		 "max_line_bytes = 30720\nwindow_bytes = 67108864\nstreams_per_lcore = 65536\n"
		 "memory_mb = 65536\nfile_prefix = %s\n"
		 "[control]\nport = 65535\nsubscriber_queue = 16777216\n"
		 "[storage]\ndata_dir = /d\nbatch_records = 1048576\n"
		 "[tenant.%s]\ntoken = %s\ncolumns = 4096\n",
		 "abcdefghij-abcdefghij_abcdefghij-abcdefghij_abcdefghij-abcdefgh",
		 "n123456789012345678901234567890123456789012345678901234567890123",
		 tok128);
	CHECK(load_text(hi) == 0);
	if (err[0] != '\0')
		fprintf(stderr, "    %s\n", err);
	CHECK(cfg->ip == 0xdffffffeu && cfg->udp_port == 65535 && cfg->rx_lcores == 16);
	CHECK(cfg->workers_per_socket == 64 && cfg->window_bytes == 64u << 20);
	CHECK(cfg->streams_per_lcore == 65536 && cfg->memory_mb == 65536);
	CHECK(strlen(cfg->file_prefix) == 63);
	CHECK(strlen(cfg->tenants[0].name) == 64);
	CHECK(strlen(cfg->tenants[0].token) == 128);
	CHECK(cfg->tenants[0].columns == 4096);
	CHECK(cfg->subscriber_queue == 16777216 && cfg->batch_records == 1048576);
	report("every range accepts its bounds");
}

static void test_workers_and_processors(void)
{
	/* Defaults of the new keys. */
	CHECK(load_text("[dataplane]\nip = 10.1.2.3\n[storage]\ndata_dir = /s\n"
			"[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->dispatch == SL_DISPATCH_LEAST_LOADED);
	CHECK(cfg->workers_min == 2 && cfg->workers_max == 10);
	CHECK(cfg->scale_quiet_ms == 2000 && cfg->crash_limit == 3 && cfg->stall_ms == 10000);
	CHECK(cfg->restart_backoff_ms == 100 && cfg->long_line_ms == 200);
	CHECK(cfg->poison_marker[0] == '\0' && cfg->share_dir[0] == '\0');
	CHECK(strcmp(cfg->tenants[0].processor, "csv") == 0);
	CHECK(cfg->tenants[0].n_schema == 0 && cfg->tenants[0].columns == 0);
	CHECK(cfg->tenants[0].topk_column == 0 && cfg->tenants[0].topk_field[0] == '\0');
	CHECK(cfg->tenants[0].topk_separator == 0);
	CHECK(cfg->tenants[0].simulate_min_ms == 50 && cfg->tenants[0].simulate_max_ms == 500);

	/* One worker per socket: the default min_active (2) follows it down. */
	CHECK(load_text("[dataplane]\nip = 10.1.2.3\nworkers_per_socket = 1\n[storage]\ndata_dir = /s\n"
			"[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->workers_min == 1 && cfg->workers_max == 1);

	/* long_line_ms left out under a short stall_ms: half of it, so it still comes first. */
	CHECK(load_text("[workers]\nstall_ms = 300\n[dataplane]\nip = 10.1.2.3\n[storage]\ndata_dir = /s\n"
			"[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->stall_ms == 300 && cfg->long_line_ms == 150);
	CHECK(load_text("[workers]\nlong_line_ms = 1\n[dataplane]\nip = 10.1.2.3\n[storage]\ndata_dir = /s\n"
			"[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->long_line_ms == 1);

	/* Everything set, [workers] before the workers_per_socket it depends on. */
	const char *text =
		"[workers]\ndispatch = hash_document\nmin_active = 3\nmax_active = 8\n"
		"scale_quiet_ms = 100\ncrash_limit = 100\nstall_ms = 3600000\nrestart_backoff_ms = 60000\n"
		"poison_marker = \"#KILL ME#\"\nshare_dir = /opt/sluice/share\n"
		"[dataplane]\nip = 10.1.2.3\nworkers_per_socket = 8\n[storage]\ndata_dir = /s\n"
		"[tenant.orders]\ntoken = 0123456789abcdef\nprocessor = CSV\n"
		"schema = \" id:int , price:float,paid:bool?,\tat:timestamp,note:STRING? \"\n"
		"[tenant.orders2]\ntoken = 0123456789abcdeg\ncolumns = 2\nschema = a:int,b:int?\n"
		"[tenant.tags]\ntoken = 0123456789abcdeh\nprocessor = topk\ntopk_column = 3\ntopk_separator = \" \"\n"
		"[tenant.tagsj]\ntoken = 0123456789abcdei\nprocessor = topk\ntopk_field = entities.hashtags\n"
		"[tenant.slow]\ntoken = 0123456789abcdej\nprocessor = simulate\nsimulate_ms = \" 7 , 7 \"\n"
		"[tenant.ext]\ntoken = 0123456789abcdek\nprocessor = /usr/lib/sluice/libsluice-proc-upper.so\n"
		"[tenant.tw]\ntoken = 0123456789abcdel\nprocessor = tweet\n"
		"[tenant.nd]\ntoken = 0123456789abcdem\nprocessor = ndjson\n";
	CHECK(load_text(text) == 0);
	if (err[0] != '\0')
		fprintf(stderr, "    %s\n", err);
	CHECK(cfg->dispatch == SL_DISPATCH_HASH_DOCUMENT);
	CHECK(cfg->workers_min == 3 && cfg->workers_max == 8);
	CHECK(cfg->scale_quiet_ms == 100 && cfg->crash_limit == 100 && cfg->stall_ms == 3600000);
	CHECK(cfg->restart_backoff_ms == 60000);
	CHECK(strcmp(cfg->poison_marker, "#KILL ME#") == 0);
	CHECK(strcmp(cfg->share_dir, "/opt/sluice/share") == 0);
	CHECK(cfg->n_tenants == 8);
	const struct sl_tenant_conf *t = &cfg->tenants[0];
	CHECK(strcmp(t->processor, "csv") == 0);
	CHECK(t->n_schema == 5 && t->columns == 5);
	CHECK(strcmp(t->schema[0].name, "id") == 0 && t->schema[0].type == SL_COL_INT && t->schema[0].required);
	CHECK(strcmp(t->schema[1].name, "price") == 0 && t->schema[1].type == SL_COL_FLOAT && t->schema[1].required);
	CHECK(strcmp(t->schema[2].name, "paid") == 0 && t->schema[2].type == SL_COL_BOOL && !t->schema[2].required);
	CHECK(strcmp(t->schema[3].name, "at") == 0 && t->schema[3].type == SL_COL_TIMESTAMP && t->schema[3].required);
	CHECK(strcmp(t->schema[4].name, "note") == 0 && t->schema[4].type == SL_COL_STRING && !t->schema[4].required);
	t = &cfg->tenants[1];
	CHECK(t->n_schema == 2 && t->columns == 2 && t->schema[1].required == 0);
	t = &cfg->tenants[2];
	CHECK(strcmp(t->processor, "topk") == 0 && t->topk_column == 3 && t->topk_separator == ' ');
	t = &cfg->tenants[3];
	CHECK(t->topk_column == 0 && strcmp(t->topk_field, "entities.hashtags") == 0 && t->topk_separator == 0);
	t = &cfg->tenants[4];
	CHECK(strcmp(t->processor, "simulate") == 0 && t->simulate_min_ms == 7 && t->simulate_max_ms == 7);
	CHECK(strcmp(cfg->tenants[5].processor, "/usr/lib/sluice/libsluice-proc-upper.so") == 0);
	CHECK(strcmp(cfg->tenants[6].processor, "tweet") == 0);
	CHECK(strcmp(cfg->tenants[7].processor, "ndjson") == 0);

	/* Other dispatch spellings. */
	CHECK(load_text("[workers]\ndispatch = Round_Robin\n[dataplane]\nip = 10.1.2.3\n[storage]\ndata_dir = /s\n"
			"[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->dispatch == SL_DISPATCH_ROUND_ROBIN);
	CHECK(load_text("[workers]\ndispatch = least_loaded\nmin_active = 10\n[dataplane]\nip = 10.1.2.3\n"
			"[storage]\ndata_dir = /s\n[tenant.t1]\ntoken = 0123456789abcdef\n") == 0);
	CHECK(cfg->dispatch == SL_DISPATCH_LEAST_LOADED && cfg->workers_min == 10 && cfg->workers_max == 10);
	report("[workers] keys and per-tenant processor keys");
}

static void test_max_tenants(void)
{
	size_t cap = 64 + (size_t)SL_MAX_TENANTS * 64;
	char *text = malloc(cap);
	size_t used = (size_t)snprintf(text, cap, "[dataplane]\nip = 1.2.3.4\n[storage]\ndata_dir = /d\n");
	for (int i = 0; i < SL_MAX_TENANTS; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "[tenant.t%d]\ntoken = token-%012d\n", i, i);
	CHECK(load_text(text) == 0);
	CHECK(cfg->n_tenants == SL_MAX_TENANTS);
	CHECK(sl_config_tenant_find(cfg, "t1023", 5) == 1023);
	free(text);
	report("1024 tenants are accepted");
}

static void test_name_valid(void)
{
	char n64[65], n65[66];
	memset(n64, 'a', 64);
	n64[64] = '\0';
	memset(n65, 'a', 65);
	n65[65] = '\0';

	CHECK(sl_name_valid("acme", 4));
	CHECK(sl_name_valid("A-b_c.9", 7));
	CHECK(sl_name_valid("a..b", 4));
	CHECK(sl_name_valid(n64, 64));
	CHECK(!sl_name_valid(n65, 65));
	CHECK(!sl_name_valid("", 0));
	CHECK(!sl_name_valid(NULL, 0));
	CHECK(!sl_name_valid(".", 1));
	CHECK(!sl_name_valid("..", 2));
	CHECK(!sl_name_valid(".hidden", 7));
	CHECK(!sl_name_valid("a/b", 3));
	CHECK(!sl_name_valid("a b", 3));
	CHECK(!sl_name_valid("caf\xc3\xa9", 5));
	CHECK(!sl_name_valid("a\0b", 3));
	/* len is honoured: the name need not be NUL-terminated */
	CHECK(sl_name_valid("abc/def", 3));
	report("sl_name_valid");
}

static void test_tenant_find(void)
{
	CHECK(load_text("[dataplane]\nip = 1.2.3.4\n[storage]\ndata_dir = /d\n"
			"[tenant.ab]\ntoken = 0123456789abcdef\n"
			"[tenant.abc]\ntoken = 0123456789abcdeg\n") == 0);
	CHECK(sl_config_tenant_find(cfg, "ab", 2) == 0);
	CHECK(sl_config_tenant_find(cfg, "abc", 3) == 1);
	CHECK(sl_config_tenant_find(cfg, "abcd", 3) == 1);    /* prefix of a longer buffer */
	CHECK(sl_config_tenant_find(cfg, "a", 1) == -1);
	CHECK(sl_config_tenant_find(cfg, "abcd", 4) == -1);
	CHECK(sl_config_tenant_find(cfg, "", 0) == -1);
	report("sl_config_tenant_find");
}

/* ---- rejections ------------------------------------------------------- */

/* Lines 1-4: a valid [storage] and tenant; every file below builds on it. */
#define HEAD "[storage]\ndata_dir = /d\n[tenant.a]\ntoken = 0123456789abcdef\n"
/* Lines 5-6: [dataplane] with its required ip; the next line is 7. */
#define DP HEAD "[dataplane]\nip = 10.0.0.1\n"
/* Line 7: [control]; the next line is 8. */
#define CT DP "[control]\n"
/* Line 7: a second tenant; the next line is 8. */
#define TB DP "[tenant.b]\n"
/* Line 7: [workers]; the next line is 8. */
#define WK DP "[workers]\n"
/* After a tenant's keys: the rest of a valid file, for the whole-file checks. */
#define TAIL "[dataplane]\nip = 10.0.0.1\n"

struct reject_case {
	const char *name;
	const char *text;
	int line;               /* expected line; 0 = the message has no line */
	const char *where;      /* "[section] key:" as it must appear */
	const char *expected;   /* must appear after "; expected " */
	const char *also;       /* another substring that must appear, or NULL */
};

static const struct reject_case rejects[] = {
	/* ini syntax */
	{ "header without ']'", DP "[control\n", 7, "", "[name]", "closing ']'" },
	{ "text after header", DP "[control] # c\n", 7, "", "nothing after [name]", NULL },
	{ "empty section name", DP "[ ]\n", 7, "", "[name]", "empty section name" },
	{ "line without '='", DP "udp_port 7878\n", 7, "[dataplane]:", "key = value, [section]", NULL },
	{ "'=' without key", DP " = 7878\n", 7, "[dataplane]:", "key = value", "without a key" },
	{ "bad key characters", DP "udp port = 7878\n", 7, "[dataplane]:", "key = value", "letters, digits" },
	{ "unterminated quote", DP "eal_args = \"--abc\n", 7, "[dataplane] eal_args:", "\"value\"", "closing '\"'" },
	{ "text after quote", DP "eal_args = \"--abc\" x\n", 7, "[dataplane] eal_args:", "nothing after a quoted value", NULL },
	{ "comment after value", DP "udp_port = 7878 # SLP\n", 7, "[dataplane] udp_port:", "the comment on its own line", NULL },
	{ "';' comment after value", DP "udp_port = 7878\t; SLP\n", 7, "[dataplane] udp_port:", "the comment on its own line", NULL },
	{ "key outside any section", "udp_port = 7878\n" HEAD, 1, "udp_port:", "a [section] header above it", NULL },

	/* sections */
	{ "unknown section, suggestion", DP "[contrl]\n", 7, "[contrl]:", "one of [dataplane], [control], [storage], [workers], [tenant.<name>]", "did you mean [control]?" },
	{ "unknown section", DP "[logging]\n", 7, "[logging]:", "one of [dataplane]", "unknown section" },
	{ "tenant without dot", DP "[tenant-x]\n", 7, "[tenant-x]:", "one of [dataplane]", "did you mean [tenant.<name>]?" },
	{ "tenant without name", DP "[tenant]\n", 7, "[tenant]:", "one of [dataplane]", "did you mean [tenant.<name>]?" },
	{ "tenant empty name", DP "[tenant.]\n", 7, "[tenant.]:", "1 to 64 characters of A-Z a-z 0-9 . _ -", "not a valid tenant name" },
	{ "tenant name with space", DP "[tenant.a b]\n", 7, "[tenant.a b]:", "1 to 64 characters", NULL },
	{ "tenant name with slash", DP "[tenant.a/b]\n", 7, "[tenant.a/b]:", "1 to 64 characters", NULL },
	{ "tenant name starts with dot", DP "[tenant..x]\n", 7, "[tenant..x]:", "not starting with '.'", NULL },
	{ "tenant name too long", DP "[tenant.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n", 7,
	  "[tenant.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]:", "1 to 64 characters", NULL },
	{ "duplicate tenant", DP "[tenant.a]\n", 7, "[tenant.a]:", "each tenant once", "first at line 3" },
	{ "duplicate section", DP "[dataplane]\n", 7, "[dataplane]:", "each section once", "first at line 5" },

	/* keys */
	{ "unknown key, suggestion", DP "udp_prot = 1\n", 7, "[dataplane] udp_prot:", "one of vdev, pci, ip, udp_port", "did you mean udp_port?" },
	{ "unknown key, 2 edits", DP "rx_lcore_ = 1\n", 7, "[dataplane] rx_lcore_:", "one of vdev", "did you mean rx_lcores?" },
	{ "unknown key, no suggestion", DP "colour = red\n", 7, "[dataplane] colour:", "one of vdev, pci, ip", "unknown key;" },
	{ "key of another section", DP "data_dir = /x\n", 7, "[dataplane] data_dir:", "one of vdev", "unknown key;" },
	{ "unknown tenant key", TB "tokn = 0123456789abcdef\n", 8, "[tenant.b] tokn:", "one of token, columns, ack", "did you mean token?" },
	{ "unknown control key", CT "prot = 80\n", 8, "[control] prot:", "one of listen, port, subscriber_queue", "did you mean port?" },
	{ "duplicate key", DP "udp_port = 1\nudp_port = 2\n", 8, "[dataplane] udp_port:", "each key once per section", "first at line 7" },
	{ "unknown workers key", WK "min_actve = 2\n", 8, "[workers] min_actve:", "one of dispatch, min_active, max_active", "did you mean min_active?" },
	{ "duplicate tenant key", HEAD "columns = 1\ncolumns = 2\n", 6, "[tenant.a] columns:", "each key once per section", "first at line 5" },

	/* numbers */
	{ "not a number", DP "udp_port = 78x\n", 7, "[dataplane] udp_port:", "a whole number from 1 to 65535", "\"78x\" is not a whole number" },
	{ "number with space", DP "udp_port = 78 78\n", 7, "[dataplane] udp_port:", "a whole number from 1 to 65535", "not a whole number" },
	{ "hex number", DP "mbufs = 0x1fff\n", 7, "[dataplane] mbufs:", "a whole number from 1023 to 16777215", "not a whole number" },
	{ "plus sign", DP "rx_lcores = +2\n", 7, "[dataplane] rx_lcores:", "a whole number from 1 to 16", "not a whole number" },
	{ "negative", DP "rx_lcores = -2\n", 7, "[dataplane] rx_lcores:", "a whole number from 1 to 16", "-2 is negative" },
	{ "empty number", DP "rx_lcores =\n", 7, "[dataplane] rx_lcores:", "a whole number from 1 to 16", ": empty;" },
	{ "overflow", DP "mbufs = 99999999999999999999\n", 7, "[dataplane] mbufs:", "a whole number from 1023 to 16777215", "out of range" },
	{ "overflow then junk", DP "mbufs = 99999999999x\n", 7, "[dataplane] mbufs:", "a whole number", "not a whole number" },
	{ "udp_port 0", DP "udp_port = 0\n", 7, "[dataplane] udp_port:", "a whole number from 1 to 65535", "0 is out of range" },
	{ "udp_port 65536", DP "udp_port = 65536\n", 7, "[dataplane] udp_port:", "a whole number from 1 to 65535", "out of range" },
	{ "rx_lcores 17", DP "rx_lcores = 17\n", 7, "[dataplane] rx_lcores:", "a whole number from 1 to 16", "17 is out of range" },
	{ "rx_lcores 0", DP "rx_lcores = 0\n", 7, "[dataplane] rx_lcores:", "a whole number from 1 to 16", NULL },
	{ "workers 65", DP "workers_per_socket = 65\n", 7, "[dataplane] workers_per_socket:", "a whole number from 1 to 64", NULL },
	{ "workers 0", DP "workers_per_socket = 0\n", 7, "[dataplane] workers_per_socket:", "a whole number from 1 to 64", NULL },
	{ "mbufs too few", DP "mbufs = 1022\n", 7, "[dataplane] mbufs:", "a whole number from 1023 to 16777215", NULL },
	{ "batches 63", DP "batches = 63\n", 7, "[dataplane] batches:", "a whole number from 64 to 16777215", NULL },
	{ "max_line_bytes 63", DP "max_line_bytes = 63\n", 7, "[dataplane] max_line_bytes:", "a whole number from 64 to 30720 (a line must fit in a 32 KiB batch)", NULL },
	{ "max_line_bytes 30721", DP "max_line_bytes = 30721\n", 7, "[dataplane] max_line_bytes:", "a whole number from 64 to 30720", NULL },
	{ "window_bytes 4095", DP "window_bytes = 4095\n", 7, "[dataplane] window_bytes:", "a whole number from 4096 to 67108864", NULL },
	{ "window_bytes too big", DP "window_bytes = 67108865\n", 7, "[dataplane] window_bytes:", "a whole number from 4096 to 67108864", NULL },
	{ "streams 0", DP "streams_per_lcore = 0\n", 7, "[dataplane] streams_per_lcore:", "a whole number from 1 to 65536", NULL },
	{ "streams 65537", DP "streams_per_lcore = 65537\n", 7, "[dataplane] streams_per_lcore:", "a whole number from 1 to 65536", NULL },
	{ "memory_mb 127", DP "memory_mb = 127\n", 7, "[dataplane] memory_mb:", "a whole number from 128 to 65536", NULL },
	{ "memory_mb 65537", DP "memory_mb = 65537\n", 7, "[dataplane] memory_mb:", "a whole number from 128 to 65536", NULL },
	{ "port 0", CT "port = 0\n", 8, "[control] port:", "a whole number from 1 to 65535", NULL },
	{ "port 70000", CT "port = 70000\n", 8, "[control] port:", "a whole number from 1 to 65535", NULL },
	{ "subscriber_queue 15", CT "subscriber_queue = 15\n", 8, "[control] subscriber_queue:", "a whole number from 16 to 16777216", NULL },
	{ "subscriber_queue too big", CT "subscriber_queue = 16777217\n", 8, "[control] subscriber_queue:", "a whole number from 16 to 16777216", NULL },
	{ "batch_records 0", "[storage]\ndata_dir = /d\nbatch_records = 0\n", 3, "[storage] batch_records:", "a whole number from 1 to 1048576", NULL },
	{ "batch_records too big", "[storage]\nbatch_records = 1048577\n", 2, "[storage] batch_records:", "a whole number from 1 to 1048576", NULL },
	{ "batch_target_us 99", "[storage]\nbatch_target_us = 99\n", 2, "[storage] batch_target_us:", "a whole number from 100 to 10000000", NULL },
	{ "fault_delay_us too big", "[storage]\nfault_delay_us = 1000001\n", 2, "[storage] fault_delay_us:", "a whole number from 0 to 1000000", NULL },
	{ "fault_eio_percent 51", "[storage]\nfault_eio_percent = 51\n", 2, "[storage] fault_eio_percent:", "a whole number from 0 to 50", NULL },
	{ "fault_short_percent 51", "[storage]\nfault_short_percent = 51\n", 2, "[storage] fault_short_percent:", "a whole number from 0 to 50", NULL },
	{ "columns 4097", HEAD "columns = 4097\n", 5, "[tenant.a] columns:", "a whole number from 0 to 4096", NULL },
	{ "columns junk", HEAD "columns = four\n", 5, "[tenant.a] columns:", "a whole number from 0 to 4096", NULL },
	{ "batch_lines 7", DP "batch_lines = 7\n", 7, "[dataplane] batch_lines:", "a whole number from 8 to 64", NULL },
	{ "batch_lines 65", DP "batch_lines = 65\n", 7, "[dataplane] batch_lines:", "a whole number from 8 to 64", NULL },
	{ "reorder_frames 1025", DP "reorder_frames = 1025\n", 7, "[dataplane] reorder_frames:", "a whole number from 0 to 1024", NULL },
	{ "nak_delay_us 9", DP "nak_delay_us = 9\n", 7, "[dataplane] nak_delay_us:", "a whole number from 10 to 1000000", NULL },
	{ "stream_idle_ms 99", DP "stream_idle_ms = 99\n", 7, "[dataplane] stream_idle_ms:", "a whole number from 100 to 86400000", NULL },
	{ "max_streams 0", HEAD "max_streams = 0\n", 5, "[tenant.a] max_streams:", "a whole number from 1 to 65536", NULL },
	{ "max_document_mb too big", HEAD "max_document_mb = 1048577\n", 5, "[tenant.a] max_document_mb:", "a whole number from 0 to 1048576", NULL },
	{ "reorder_kb 15", HEAD "reorder_kb = 15\n", 5, "[tenant.a] reorder_kb:", "a whole number from 16 to 1048576", NULL },

	/* other kinds */
	{ "bad boolean", DP "no_huge = maybe\n", 7, "[dataplane] no_huge:", "true or false", "\"maybe\" is not true or false" },
	{ "bad idle", DP "idle = lazy\n", 7, "[dataplane] idle:", "adaptive or busy", NULL },
	{ "bad ack", HEAD "ack = never\n", 5, "[tenant.a] ack:", "persisted or processed", NULL },
	{ "bad simulate_mode", HEAD "processor = simulate\nsimulate_mode = sleep\n", 6, "[tenant.a] simulate_mode:", "timer (long work held in flight) or spin", "is neither timer nor spin" },
	{ "bad simulate_dist", HEAD "processor = simulate\nsimulate_dist = zipf\n", 6, "[tenant.a] simulate_dist:", "normal or pareto", NULL },
	{ "simulate_mode without simulate", HEAD "simulate_mode = spin\n" TAIL, 5, "[tenant.a] simulate_mode:", "simulate_* keys only with processor = simulate", NULL },
	{ "ip not an address", HEAD "[dataplane]\nip = 10.0.0\n", 6, "[dataplane] ip:", "unicast IPv4 address in dotted form", "\"10.0.0\" is not an IPv4 address" },
	{ "ip hostname", HEAD "[dataplane]\nip = sluice.local\n", 6, "[dataplane] ip:", "IPv4 address", NULL },
	{ "ip 0.0.0.0", HEAD "[dataplane]\nip = 0.0.0.0\n", 6, "[dataplane] ip:", "unicast IPv4", "not a unicast address" },
	{ "ip multicast", HEAD "[dataplane]\nip = 239.1.1.1\n", 6, "[dataplane] ip:", "unicast IPv4", "not a unicast address" },
	{ "ip broadcast", HEAD "[dataplane]\nip = 255.255.255.255\n", 6, "[dataplane] ip:", "unicast IPv4", NULL },
	{ "listen not an address", CT "listen = localhost\n", 8, "[control] listen:", "an IPv4 address to listen on", "\"localhost\" is not an IPv4 address" },
	{ "file_prefix bad char", DP "file_prefix = a.b\n", 7, "[dataplane] file_prefix:", "1 to 63 characters of A-Z a-z 0-9 _ -", NULL },
	{ "file_prefix empty", DP "file_prefix =\n", 7, "[dataplane] file_prefix:", "1 to 63 characters", "empty" },
	{ "file_prefix too long", DP "file_prefix = abcdefghij-abcdefghij_abcdefghij-abcdefghij_abcdefghij-abcdefghi\n", 7,
	  "[dataplane] file_prefix:", "1 to 63 characters", "64 bytes long" },
	{ "vdev with space", DP "vdev = net_tap0, iface=x\n", 7, "[dataplane] vdev:", "a DPDK virtual device", "contains a space" },
	{ "pci with space", DP "pci = \"0000:3b:00.0 \"\n", 7, "[dataplane] pci:", "a PCI address", NULL },
	{ "vdev too long", DP "vdev = net_ring0,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 7,
	  "[dataplane] vdev:", "a DPDK virtual device", "the limit is 255" },
	{ "eal_args control char", DP "eal_args = --a\x01\n", 7, "[dataplane] eal_args:", "extra EAL arguments", NULL },
	{ "data_dir relative", "[storage]\ndata_dir = var/lib/sluice\n", 2, "[storage] data_dir:", "an absolute directory path, e.g. data_dir = /var/lib/sluice", "not an absolute path" },
	{ "data_dir empty", "[storage]\ndata_dir =\n", 2, "[storage] data_dir:", "an absolute directory path", ": empty;" },

	/* tokens (never echoed) */
	{ "token too short", DP "[tenant.b]\ntoken = short-hunter\n", 8, "[tenant.b] token:", "16 to 128 printable ASCII characters without spaces", "12 bytes long" },
	{ "token with space", DP "[tenant.b]\ntoken = \"hunter hunter hunter\"\n", 8, "[tenant.b] token:", "16 to 128 printable ASCII", "contains a space" },
	{ "token too long", DP "[tenant.b]\ntoken = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 8,
	  "[tenant.b] token:", "16 to 128 printable ASCII", "129 bytes long" },
	{ "token non-ASCII", DP "[tenant.b]\ntoken = hunter-hunter-h\xc3\xa9\n", 8, "[tenant.b] token:", "16 to 128 printable ASCII", "non-printable" },
	{ "token duplicate", DP "[tenant.b]\ntoken = 0123456789abcdef\n", 8, "[tenant.b] token:", "a different token for every tenant", "same token as [tenant.a] (line 4)" },
	{ "token missing", DP "[tenant.b]\ncolumns = 3\n", 7, "[tenant.b] token:", "16 to 128 printable ASCII", "missing" },

	/* whole-file checks */
	{ "ip missing, section present", HEAD "[dataplane]\nudp_port = 1\n", 5, "[dataplane] ip:", "unicast IPv4 address", "missing" },
	{ "ip missing, section absent", HEAD, 0, "[dataplane] ip:", "unicast IPv4 address", "missing" },
	{ "data_dir missing, section absent", "[dataplane]\nip = 1.2.3.4\n[tenant.a]\ntoken = 0123456789abcdef\n", 0,
	  "[storage] data_dir:", "an absolute directory path, e.g. data_dir = /var/lib/sluice", ": missing;" },
	{ "data_dir missing, section present", "[dataplane]\nip = 1.2.3.4\n[storage]\nbatch_records = 5\n[tenant.a]\ntoken = 0123456789abcdef\n", 3,
	  "[storage] data_dir:", "an absolute directory path", "missing" },
	{ "no tenant", "[dataplane]\nip = 1.2.3.4\n[storage]\ndata_dir = /d\n", 0, "[tenant.<name>]:", "at least one tenant", "no tenant" },
	{ "empty file", "", 0, "[dataplane] ip:", "IPv4", "missing" },
	{ "vdev and pci", DP "vdev = net_ring0\npci = 0000:01:00.0\n", 8, "[dataplane] pci:", "only one of vdev or pci", "set together with vdev (line 7)" },
	{ "pci and vdev", DP "pci = 0000:01:00.0\nvdev = net_ring0\n", 8, "[dataplane] vdev:", "only one of vdev or pci", "set together with pci (line 7)" },
	{ "first error wins", DP "udp_port = x\nrx_lcores = 99\n", 7, "[dataplane] udp_port:", "a whole number", NULL },

	/* [workers] */
	{ "dispatch unknown", WK "dispatch = fastest\n", 8, "[workers] dispatch:", "least_loaded, round_robin or hash_document", "\"fastest\" is not a dispatch mode" },
	{ "min_active 0", WK "min_active = 0\n", 8, "[workers] min_active:", "a whole number from 1 to 64", "0 is out of range" },
	{ "min_active 65", WK "min_active = 65\n", 8, "[workers] min_active:", "a whole number from 1 to 64", NULL },
	{ "max_active 0", WK "max_active = 0\n", 8, "[workers] max_active:", "a whole number from 1 to 64", NULL },
	{ "max_active over workers_per_socket", WK "max_active = 11\n", 8, "[workers] max_active:",
	  "at most [dataplane] workers_per_socket", "11 is more than workers_per_socket = 10 (the default)" },
	{ "max_active over workers_per_socket (set)", HEAD "[workers]\nmax_active = 6\n[dataplane]\nip = 10.0.0.1\nworkers_per_socket = 4\n", 6,
	  "[workers] max_active:", "at most [dataplane] workers_per_socket", "(line 9)" },
	{ "min_active over max_active", WK "min_active = 5\nmax_active = 4\n", 9, "[workers] max_active:",
	  "min_active <= max_active", "min_active = 5 is more than max_active = 4 (lines 8 and 9)" },
	{ "min_active over workers_per_socket", WK "min_active = 12\n", 8, "[workers] min_active:",
	  "at most [dataplane] workers_per_socket", "12 is more than workers_per_socket = 10" },
	{ "scale_quiet_ms 99", WK "scale_quiet_ms = 99\n", 8, "[workers] scale_quiet_ms:", "a whole number from 100 to 3600000", NULL },
	{ "crash_limit 0", WK "crash_limit = 0\n", 8, "[workers] crash_limit:", "a whole number from 1 to 100", NULL },
	{ "crash_limit 101", WK "crash_limit = 101\n", 8, "[workers] crash_limit:", "a whole number from 1 to 100", NULL },
	{ "stall_ms 3600001", WK "stall_ms = 3600001\n", 8, "[workers] stall_ms:", "a whole number from 100 to 3600000", NULL },
	{ "long_line_ms 0", WK "long_line_ms = 0\n", 8, "[workers] long_line_ms:", "a whole number from 1 to 3600000", NULL },
	{ "long_line_ms not below stall_ms", WK "long_line_ms = 10000\n", 8, "[workers] long_line_ms:",
	  "long_line_ms below stall_ms", "10000 is not below stall_ms = 10000 (the default)" },
	{ "long_line_ms over stall_ms (set)", WK "stall_ms = 500\nlong_line_ms = 900\n", 9, "[workers] long_line_ms:",
	  "long_line_ms below stall_ms", "900 is not below stall_ms = 500 (line 8)" },
	{ "restart_backoff_ms 0", WK "restart_backoff_ms = 0\n", 8, "[workers] restart_backoff_ms:", "a whole number from 1 to 60000", NULL },
	{ "restart_backoff_ms 60001", WK "restart_backoff_ms = 60001\n", 8, "[workers] restart_backoff_ms:", "a whole number from 1 to 60000", NULL },
	{ "poison_marker empty", WK "poison_marker = \"\"\n", 8, "[workers] poison_marker:", "1 to 63 printable ASCII characters", ": empty;" },
	{ "poison_marker too long", WK "poison_marker = 0123456789012345678901234567890123456789012345678901234567890123\n", 8,
	  "[workers] poison_marker:", "1 to 63 printable ASCII characters", "64 bytes long" },
	{ "poison_marker control byte", WK "poison_marker = a\x01b\n", 8, "[workers] poison_marker:", "1 to 63 printable", "control or non-ASCII" },
	{ "share_dir relative", WK "share_dir = share/sluice\n", 8, "[workers] share_dir:", "an absolute directory path", "not an absolute path" },

	/* [tenant.x] processors */
	{ "processor unknown", HEAD "processor = xml\n", 5, "[tenant.a] processor:", "csv, ndjson, tweet, topk, simulate, or an absolute path", "\"xml\" is neither a built-in" },
	{ "processor empty", HEAD "processor =\n", 5, "[tenant.a] processor:", "csv, ndjson", ": empty;" },
	{ "processor relative .so", HEAD "processor = lib/x.so\n", 5, "[tenant.a] processor:", "an absolute path to a shared object", "neither a built-in" },
	{ "processor not .so", HEAD "processor = /opt/x.dll\n", 5, "[tenant.a] processor:", "ending in .so", "does not name a .so file" },
	{ "processor bare .so", HEAD "processor = /opt/.so\n", 5, "[tenant.a] processor:", "ending in .so", "does not name a .so file" },
	{ "schema empty", HEAD "schema = \"\"\n", 5, "[tenant.a] schema:", "\"name:type, ...\"", ": empty;" },
	{ "schema bad type", HEAD "schema = \"id:int, price:money\"\n", 5, "[tenant.a] schema:", "int, float, bool, string or timestamp", "column 'price': \"money\" is not a type" },
	{ "schema no type", HEAD "schema = \"id:int, price\"\n", 5, "[tenant.a] schema:", "name:type", "column 'price' has no ':type'" },
	{ "schema no name", HEAD "schema = \"id:int, :float\"\n", 5, "[tenant.a] schema:", "name:type", "column 2 has no name" },
	{ "schema empty column", HEAD "schema = \"id:int,,x:int\"\n", 5, "[tenant.a] schema:", "name:type", "column 2 has no name" },
	{ "schema bad name", HEAD "schema = \"i\\\"d:int\"\n", 5, "[tenant.a] schema:", "name:type", "is not a name of 1 to 64 characters" },
	{ "schema junk after type", HEAD "schema = \"id:int?x\"\n", 5, "[tenant.a] schema:", "name:type", "unexpected 'x' after the type" },
	{ "schema duplicate name", HEAD "schema = \"id:int, id:string\"\n", 5, "[tenant.a] schema:", "name:type", "column 'id' named twice (columns 1 and 2)" },
	{ "schema vs columns", HEAD "columns = 3\nschema = \"id:int, n:string\"\n" TAIL, 6, "[tenant.a] schema:",
	  "columns equal to the number of schema columns", "schema has 2 columns but columns = 3 (lines 5 and 6)" },
	{ "columns vs schema", HEAD "schema = \"id:int\"\ncolumns = 2\n" TAIL, 6, "[tenant.a] columns:",
	  "columns equal to the number of schema columns", "schema has 1 column but columns = 2" },
	{ "schema without csv", HEAD "processor = ndjson\nschema = \"id:int\"\n" TAIL, 6, "[tenant.a] schema:",
	  "schema only with processor = csv", "processor is ndjson (line 5)" },
	{ "topk without column or field", HEAD "processor = topk\n" TAIL, 5, "[tenant.a] processor:",
	  "topk_column = <1-based CSV column> or topk_field", "without topk_column or topk_field" },
	{ "topk with column and field", HEAD "processor = topk\ntopk_column = 2\ntopk_field = tags\n" TAIL, 7, "[tenant.a] topk_field:",
	  "only one of topk_column (CSV) and topk_field (NDJSON)", "set together with topk_column (line 6)" },
	{ "topk_column without topk", HEAD "topk_column = 2\n" TAIL, 5, "[tenant.a] topk_column:",
	  "topk_* keys only with processor = topk", "processor is csv (the default)" },
	{ "topk_field without topk", HEAD "processor = tweet\ntopk_field = x\n" TAIL, 6, "[tenant.a] topk_field:",
	  "topk_* keys only with processor = topk", "processor is tweet (line 5)" },
	{ "topk_separator without topk", HEAD "topk_separator = \" \"\n" TAIL, 5, "[tenant.a] topk_separator:",
	  "only with processor = topk", NULL },
	{ "topk_column 0", HEAD "processor = topk\ntopk_column = 0\n", 6, "[tenant.a] topk_column:", "a whole number from 1 to 4096", NULL },
	{ "topk_column 4097", HEAD "processor = topk\ntopk_column = 4097\n", 6, "[tenant.a] topk_column:", "a whole number from 1 to 4096", NULL },
	{ "topk_field with space", HEAD "processor = topk\ntopk_field = \"a b\"\n", 6, "[tenant.a] topk_field:", "a JSON member name", "has a space, a quote" },
	{ "topk_field empty", HEAD "processor = topk\ntopk_field = \"\"\n", 6, "[tenant.a] topk_field:", "a JSON member name", ": empty;" },
	{ "topk_field too long", HEAD "processor = topk\ntopk_field = a1234567890123456789012345678901234567890123456789012345678901234\n", 6,
	  "[tenant.a] topk_field:", "a JSON member name", "65 bytes long" },
	{ "topk_separator two chars", HEAD "processor = topk\ntopk_column = 1\ntopk_separator = ab\n", 7, "[tenant.a] topk_separator:",
	  "one character", "\"ab\" is not one printable character" },
	{ "topk_separator empty", HEAD "processor = topk\ntopk_column = 1\ntopk_separator = \"\"\n", 7, "[tenant.a] topk_separator:",
	  "one character", "is not one printable character" },
	{ "simulate_ms without simulate", HEAD "simulate_ms = 1,2\n" TAIL, 5, "[tenant.a] simulate_ms:",
	  "simulate_* keys only with processor = simulate", "processor is csv (the default)" },
	{ "simulate_ms one number", HEAD "processor = simulate\nsimulate_ms = 50\n", 6, "[tenant.a] simulate_ms:",
	  "\"MIN,MAX\" in milliseconds", "not two numbers separated by a comma" },
	{ "simulate_ms not numbers", HEAD "processor = simulate\nsimulate_ms = 5x,9\n", 6, "[tenant.a] simulate_ms:",
	  "\"MIN,MAX\"", "is not two whole numbers" },
	{ "simulate_ms zero", HEAD "processor = simulate\nsimulate_ms = 0,9\n", 6, "[tenant.a] simulate_ms:",
	  "each from 1 to 3600000", "out of range" },
	{ "simulate_ms too big", HEAD "processor = simulate\nsimulate_ms = 1,3600001\n", 6, "[tenant.a] simulate_ms:",
	  "each from 1 to 3600000", "out of range" },
	{ "simulate_ms min over max", HEAD "processor = simulate\nsimulate_ms = 500,50\n", 6, "[tenant.a] simulate_ms:",
	  "MIN <= MAX", "MIN 500 is more than MAX 50" },

	/* sizes and limits */
	{ "large_results 0", DP "large_results = 0\n", 7, "[dataplane] large_results:", "a whole number from 1 to 65536",
	  "0 is out of range" },
	{ "held_max_mb 0", "[storage]\ndata_dir = /d\nheld_max_mb = 0\n", 3, "[storage] held_max_mb:",
	  "a whole number from 1 to 65536", "0 is out of range" },
	{ "pending_timeout_ms 99", WK "pending_timeout_ms = 99\n", 8, "[workers] pending_timeout_ms:",
	  "a whole number from 100 to 86400000", NULL },
	{ "simulate_ms past pending_timeout_ms (default)", HEAD "processor = simulate\nsimulate_ms = 100,60000\n" TAIL, 6,
	  "[tenant.a] simulate_ms:", "below [workers] pending_timeout_ms",
	  "simulated work of up to 60000 ms would time out: pending_timeout_ms = 60000 (the default)" },
	{ "simulate default past pending_timeout_ms (set)", HEAD "processor = simulate\n" TAIL "[workers]\npending_timeout_ms = 400\n",
	  5, "[tenant.a] processor:", "below [workers] pending_timeout_ms", "up to 500 ms would time out: pending_timeout_ms = 400 (line 9)" },
};

static void check_reject(const struct reject_case *rc)
{
	CHECK(load_text(rc->text) == -1);

	char prefix[128];
	if (rc->line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: %s", tmp_path, rc->line, rc->where);
	else
		snprintf(prefix, sizeof(prefix), "%s: %s", tmp_path, rc->where);
	/* The message starts with the file, line, section and key. */
	CHECK(strncmp(err, prefix, strlen(prefix)) == 0);

	const char *exp = strstr(err, "; expected ");
	CHECK(exp != NULL);
	CHECK(exp != NULL && strstr(exp, rc->expected) != NULL);
	if (rc->also != NULL)
		CHECK(strstr(err, rc->also) != NULL);
	/* No message leaks a token from the test inputs. */
	CHECK(strstr(err, "0123456789abcdef") == NULL);
	CHECK(strstr(err, "hunter") == NULL);
	if (cur_failed)
		fprintf(stderr, "    got:  %s\n    want: %s ... ; expected %s\n",
			err, prefix, rc->expected);
	else if (getenv("VERBOSE") != NULL)     /* to read the messages as an operator would */
		printf("     %s\n", err);
	char name[128];
	snprintf(name, sizeof(name), "rejects: %s", rc->name);
	report(name);
}

static void test_reject_nul_byte(void)
{
	static const char text[] = DP "udp_port = 1\0\n";
	CHECK(load_text_len(text, sizeof(text) - 1) == -1);
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "%s:7: [dataplane]: line contains a NUL byte", tmp_path);
	CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
	CHECK(strstr(err, "; expected a text file") != NULL);
	report("rejects: NUL byte");
}

static void test_reject_missing_file(void)
{
	err[0] = '\0';
	CHECK(sl_config_load("/nonexistent/sluice.conf", cfg, err, sizeof(err)) == -1);
	CHECK(strstr(err, "/nonexistent/sluice.conf: cannot open: ") == err);
	CHECK(strstr(err, strerror(ENOENT)) != NULL);
	CHECK(strstr(err, "; expected a readable config file") != NULL);
	report("rejects: missing file");
}

static void test_reject_directory(void)
{
	err[0] = '\0';
	CHECK(sl_config_load("/tmp", cfg, err, sizeof(err)) == -1);
	CHECK(strstr(err, "/tmp: cannot ") == err);
	CHECK(strstr(err, strerror(EISDIR)) != NULL);
	CHECK(strstr(err, "; expected a readable config file") != NULL);
	report("rejects: a directory");
}

static void test_reject_unreadable(void)
{
	if (geteuid() == 0) {
		/* root reads anything: the mode cannot make the file unreadable */
		report("rejects: unreadable file (skipped as root)");
		return;
	}
	write_temp(HEAD, strlen(HEAD), tmp_path);
	chmod(tmp_path, 0);
	CHECK(sl_config_load(tmp_path, cfg, err, sizeof(err)) == -1);
	CHECK(strstr(err, strerror(EACCES)) != NULL);
	unlink(tmp_path);
	report("rejects: unreadable file");
}

static void test_reject_too_many_tenants(void)
{
	size_t cap = 64 + (size_t)(SL_MAX_TENANTS + 1) * 64;
	char *text = malloc(cap);
	size_t used = (size_t)snprintf(text, cap, "[dataplane]\nip = 1.2.3.4\n[storage]\ndata_dir = /d\n");
	for (int i = 0; i <= SL_MAX_TENANTS; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "[tenant.t%d]\ntoken = token-%012d\n", i, i);
	CHECK(load_text(text) == -1);
	char prefix[128];
	/* 4 head lines, 2 lines per tenant: tenant 1024 starts at line 2053 */
	snprintf(prefix, sizeof(prefix), "%s:%d: [tenant.t1024]: too many tenants; expected at most 1024",
		 tmp_path, 4 + 2 * SL_MAX_TENANTS + 1);
	CHECK(strncmp(err, prefix, strlen(prefix)) == 0);
	if (cur_failed)
		fprintf(stderr, "    got: %s\n", err);
	free(text);
	report("rejects: too many tenants");
}

static void test_small_err_buffer(void)
{
	/* A short buffer truncates the message but never overflows it. */
	char small[24];
	memset(small, 'X', sizeof(small));
	write_temp(DP "udp_port = x\n", strlen(DP "udp_port = x\n"), tmp_path);
	CHECK(sl_config_load(tmp_path, cfg, small, 16) == -1);
	unlink(tmp_path);
	CHECK(strlen(small) == 15);
	CHECK(small[16] == 'X');
	report("a short error buffer is truncated, not overrun");
}

int main(void)
{
	cfg = malloc(sizeof(*cfg));
	if (cfg == NULL)
		return 2;

	test_demo_conf();
	test_example_conf();
	test_defaults();
	test_defaults_function();
	test_syntax_variants();
	test_booleans();
	test_limits_accepted();
	test_workers_and_processors();
	test_orders_schema();
	test_max_tenants();
	test_name_valid();
	test_tenant_find();

	for (size_t i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++)
		check_reject(&rejects[i]);
	test_reject_nul_byte();
	test_reject_missing_file();
	test_reject_directory();
	test_reject_unreadable();
	test_reject_too_many_tenants();
	test_small_err_buffer();

	free(cfg);
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
