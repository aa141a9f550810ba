/*
 * sluice-perf — a load generator for a Sluice appliance that measures
 * what it generates: N tenants x M documents x L lines, sent over SLP
 * (kernel UDP, or DPDK over net_memif) by K sender threads multiplexing the documents' engines
 * (include/sluice/sender.h), every line's ACK followed over the websocket
 * and its latency recorded exactly in a log-linear histogram, and every
 * line checked to be ACKed exactly once with the status it was generated
 * with.
 *
 * Two ways to send:
 *   --rate R > 0   open loop: line i of the global schedule (perf.h) is due
 *                  at t0 + i/R and released to its document's engine then;
 *                  latency = ACK time - due time, so anything that holds
 *                  lines back (sender, network, appliance) counts.
 *   --rate 0       as fast as the appliance's windows allow; latency = ACK
 *                  time - the time the line's last byte first went out.
 *
 * The pieces: perf_docs (documents), perf_send (sender threads),
 * perf_acks (subscribers), perf_hist (histogram), perf_stages (the
 * appliance's cycles per line per stage, via sluicectl). This file reads
 * the options, runs them in order and reports.
 *
 * Exit: 0 when every line was ACKed exactly once as expected, 1 on any
 * violation or failed document, 2 on a usage or set-up error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "perf.h"
#include "perf_acks.h"
#include "perf_docs.h"
#include "perf_hist.h"
#include "perf_send.h"
#include "perf_stages.h"

#define SUBSCRIBE_TIMEOUT_S 30
#define START_LEAD_NS 20000000ull        /* t0 this far after the senders are ready */

static struct perf_run *g_run;

static void on_signal(int sig)
{
	(void)sig;
	if (g_run != NULL)
		atomic_store(&g_run->stop, true);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: sluice-perf --to IP:PORT --ws ws://HOST:PORT [options]\n"
"  documents\n"
"    --tenants N            tenants t0..tN-1 (1)\n"
"    --docs M               documents d0..dM-1 per tenant (1)\n"
"    --lines L              lines per document (10000)\n"
"    --width B              about B bytes per line (64)\n"
"    --shape S              plain | quoted | tweets (plain)\n"
"    --seed X               generator seed (1)\n"
"    --rev R                revision to send (1; must be new for every run against one data dir)\n"
"    --token-format F       tenant i's token, printf with one %%d (sluice-perf-token-%%d;\n"
"                           sluiced wants tokens of 16 bytes or more)\n"
"    --bad-every N          every Nth line invalid (0 = none)\n"
"  sending\n"
"    --to IP:PORT           the appliance's SLP address\n"
"    --transport T          kernel-udp (sendmmsg) | memif (DPDK, one sender thread) (kernel-udp)\n"
"    --memif-socket PATH    memif: sluiced's vdev socket (net_memif0,role=server,socket=PATH)\n"
"    --netns NS             open the UDP sockets in network namespace NS (ip netns)\n"
"    --threads K            sender threads (1)\n"
"    --rate R               lines/s in total, open loop; 0 = as fast as credit allows (0)\n"
"    --tick-us U            open loop: a sender wakes at most every U us (50)\n"
"    --payload P            DATA payload bytes per datagram (1400)\n"
"    --timeout-ms T         a document fails after T ms without an answer (30000)\n"
"  ACKs\n"
"    --ws URL               ws://HOST:PORT of sluiced's control listener\n"
"    --subscribers-per-doc S  identical subscribers per document (1)\n"
"    --slow-subscriber      one more per document that reads --slow-read-ms (10),\n"
"                           then pauses --slow-pause-ms (90); reported on its own\n"
"    --ack-wait S           after the last DONE, wait up to S s for the last ACKs (60)\n"
"  report\n"
"    --prefix P             read per-stage cycles/line with sluicectl --prefix P\n"
"    --sluicectl PATH       the sluicectl to run (default: next to this program, or PATH)\n"
"    --json FILE            write the results as JSON\n");
}

static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *s < '0' || *s > '9' || *end != '\0' || x < min || x > max) {
		fprintf(stderr, "sluice-perf: %s '%s': expected a whole number from %" PRIu64
			" to %" PRIu64 "\n", opt, s, min, max);
		return -1;
	}
	*v = x;
	return 0;
}

/* The token format must take exactly one int and nothing else. */
static int check_token_format(const char *f)
{
	int ints = 0;
	for (const char *p = f; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		if (p[1] != 'd')
			return -1;
		ints++;
		p++;
	}
	return ints == 1 ? 0 : -1;
}

static int parse_args(int argc, char **argv, struct perf_cfg *c)
{
	static const struct option opts[] = {
		{ "tenants", required_argument, NULL, 'N' }, { "docs", required_argument, NULL, 'M' },
		{ "lines", required_argument, NULL, 'L' }, { "width", required_argument, NULL, 'w' },
		{ "shape", required_argument, NULL, 's' }, { "seed", required_argument, NULL, 'S' },
		{ "rev", required_argument, NULL, 'r' },
		{ "token-format", required_argument, NULL, 'k' },
		{ "bad-every", required_argument, NULL, 'b' }, { "to", required_argument, NULL, 't' },
		{ "netns", required_argument, NULL, 'n' }, { "threads", required_argument, NULL, 'K' },
		{ "rate", required_argument, NULL, 'R' }, { "tick-us", required_argument, NULL, 'T' },
		{ "payload", required_argument, NULL, 'p' },
		{ "timeout-ms", required_argument, NULL, 'o' }, { "ws", required_argument, NULL, 'W' },
		{ "subscribers-per-doc", required_argument, NULL, 'x' },
		{ "slow-subscriber", no_argument, NULL, 'y' },
		{ "slow-read-ms", required_argument, NULL, 'Y' },
		{ "slow-pause-ms", required_argument, NULL, 'Z' },
		{ "ack-wait", required_argument, NULL, 'a' }, { "prefix", required_argument, NULL, 'P' },
		{ "sluicectl", required_argument, NULL, 'C' }, { "json", required_argument, NULL, 'j' },
		{ "transport", required_argument, NULL, 'X' },
		{ "memif-socket", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int o;
	bool memif = false;
	const char *memif_socket = NULL;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int rc = 0;
		switch (o) {
		case 'N': rc = parse_u64("--tenants", optarg, 1, 100000, &v); c->tenants = (unsigned)v; break;
		case 'M': rc = parse_u64("--docs", optarg, 1, 100000, &v); c->docs = (unsigned)v; break;
		case 'L': rc = parse_u64("--lines", optarg, 1, 1ull << 32, &c->lines); break;
		case 'w': rc = parse_u64("--width", optarg, 8, 30000, &v); c->width = (unsigned)v; break;
		case 's':
			if (perf_shape_parse(optarg, &c->shape) < 0) {
				fprintf(stderr, "sluice-perf: --shape '%s': expected plain, quoted or tweets\n",
					optarg);
				return -1;
			}
			break;
		case 'S': rc = parse_u64("--seed", optarg, 0, UINT64_MAX, &c->seed); break;
		case 'r': rc = parse_u64("--rev", optarg, 1, UINT64_MAX, &c->rev); break;
		case 'k':
			if (check_token_format(optarg) < 0) {
				fprintf(stderr, "sluice-perf: --token-format '%s': needs exactly one %%d (the "
					"tenant index) and no other %% conversion\n", optarg);
				return -1;
			}
			c->token_format = optarg;
			break;
		case 'b': rc = parse_u64("--bad-every", optarg, 0, UINT32_MAX, &v); c->bad_every = (unsigned)v; break;
		case 't': c->to = optarg; break;
		case 'n': c->netns = optarg; break;
		case 'K': rc = parse_u64("--threads", optarg, 1, 256, &v); c->threads = (unsigned)v; break;
		case 'R': {
			char *end;
			c->rate = strtod(optarg, &end);
			if (*end != '\0' || !(c->rate >= 0) || c->rate > 1e10) {
				fprintf(stderr, "sluice-perf: --rate '%s': expected lines per second, "
					"0 (as fast as credit allows) up to 1e10\n", optarg);
				return -1;
			}
			break;
		}
		case 'T': rc = parse_u64("--tick-us", optarg, 1, 1000000, &v); c->tick_us = (unsigned)v; break;
		case 'p': rc = parse_u64("--payload", optarg, 1, 1444, &v); c->payload = (unsigned)v; break;
		case 'o': rc = parse_u64("--timeout-ms", optarg, 100, 3600000, &v); c->timeout_ms = (unsigned)v; break;
		case 'W': c->ws_url = optarg; break;
		case 'x': rc = parse_u64("--subscribers-per-doc", optarg, 1, 100000, &v); c->subs_per_doc = (unsigned)v; break;
		case 'y': c->slow_sub = true; break;
		case 'Y': rc = parse_u64("--slow-read-ms", optarg, 1, 600000, &v); c->slow_read_ms = (unsigned)v; break;
		case 'Z': rc = parse_u64("--slow-pause-ms", optarg, 1, 600000, &v); c->slow_pause_ms = (unsigned)v; break;
		case 'a': rc = parse_u64("--ack-wait", optarg, 1, 86400, &v); c->ack_wait_s = (unsigned)v; break;
		case 'P': c->prefix = optarg; break;
		case 'C': c->sluicectl = optarg; break;
		case 'j': c->json_path = optarg; break;
		case 'X':
			if (strcmp(optarg, "memif") != 0 && strcmp(optarg, "kernel-udp") != 0) {
				fprintf(stderr, "sluice-perf: --transport '%s': expected kernel-udp or memif\n",
					optarg);
				return -1;
			}
			memif = strcmp(optarg, "memif") == 0;
			break;
		case 'm': memif_socket = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
		if (rc < 0)
			return -1;
	}
	if (optind != argc) {
		fprintf(stderr, "sluice-perf: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (memif != (memif_socket != NULL)) {
		fprintf(stderr, "sluice-perf: %s\n", memif ? "--transport memif needs --memif-socket PATH "
			"(the socket of sluiced's net_memif0,role=server vdev)" :
			"--memif-socket is only for --transport memif");
		return -1;
	}
	if (memif && (c->threads > 1 || c->netns != NULL)) {
		fprintf(stderr, "sluice-perf: --transport memif drives one port queue from one thread; "
			"drop %s\n", c->threads > 1 ? "--threads" : "--netns (memif needs no namespace)");
		return -1;
	}
	c->memif_socket = memif_socket;
	if (c->to == NULL || c->ws_url == NULL) {
		fprintf(stderr, "sluice-perf: %s is required\n", c->to == NULL ? "--to IP:PORT" : "--ws URL");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* sluicectl next to us (build/perf/../control/sluicectl), else from PATH. */
static const char *find_sluicectl(char *buf, size_t cap)
{
	char self[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			int w = snprintf(buf, cap, "%s/../control/sluicectl", self);
			if (w > 0 && (size_t)w < cap && access(buf, X_OK) == 0)
				return buf;
		}
	}
	return "sluicectl";
}

static int make_docs(struct perf_run *r)
{
	const struct perf_cfg *c = &r->cfg;
	char err[256];
	r->ndocs = c->tenants * c->docs;
	r->docs = calloc(r->ndocs, sizeof *r->docs);
	if (r->docs == NULL) {
		fprintf(stderr, "sluice-perf: out of memory for %u documents\n", r->ndocs);
		return -1;
	}
	for (unsigned j = 0; j < r->ndocs; j++) {
		struct perf_doc *d = &r->docs[j];
		d->run = r;
		d->j = j;
		d->tenant = j / c->docs;
		snprintf(d->tenant_name, sizeof d->tenant_name, "t%u", d->tenant);
		snprintf(d->name, sizeof d->name, "d%u", j % c->docs);
		snprintf(d->token, sizeof d->token, c->token_format, (int)d->tenant);
		if (perf_doc_make(d, c, err, sizeof err) < 0) {
			fprintf(stderr, "sluice-perf: %s\n", err);
			return -1;
		}
		if (!r->open_loop) {
			d->sent_ns = calloc(d->lines, sizeof *d->sent_ns);
			if (d->sent_ns == NULL) {
				fprintf(stderr, "sluice-perf: out of memory for send times\n");
				return -1;
			}
		}
	}
	return 0;
}

/* ---- the report ------------------------------------------------------ */

struct report {
	uint64_t lines, bytes, violations, failed_docs;
	double seconds, send_seconds;
	struct perf_send_stats st;
	struct perf_ack_totals t;
	struct perf_stages before, after;
};

static const double pcts[] = { 50, 90, 99, 99.9 };
static const char *const pct_names[] = { "p50", "p90", "p99", "p99.9" };

static void print_hist(const char *what, const struct perf_hist *h)
{
	if (h->count == 0) {
		printf("  %-22s no samples\n", what);
		return;
	}
	printf("  %-22s", what);
	for (unsigned i = 0; i < 4; i++)
		printf(" %s %.1f", pct_names[i], (double)perf_hist_pct(h, pcts[i]) / 1e3);
	printf(" max %.1f us (%" PRIu64 " samples)\n", (double)h->max / 1e3, h->count);
}

static void print_report(const struct perf_run *r, const struct report *rp)
{
	const struct perf_cfg *c = &r->cfg;
	printf("sluice-perf: %u tenants x %u docs x %" PRIu64 " lines (%s, ~%u B), %u sender "
	       "thread(s), %s -> %s%s%s\n", c->tenants, c->docs, c->lines,
	       perf_shape_name(c->shape), c->width, c->threads,
	       c->memif_socket ? "DPDK memif" : "kernel UDP", c->to, c->netns ? " from netns " : "",
	       c->netns ? c->netns : "");
	if (r->open_loop)
		printf("  mode: open loop at %.0f lines/s; latency from each line's scheduled time\n",
		       c->rate);
	else
		printf("  mode: as fast as credit allows; latency from the first send of each line's "
		       "last byte\n");
	printf("  %" PRIu64 " lines, %" PRIu64 " bytes in %.3f s (first due -> last ACK): "
	       "%.0f lines/s, %.3f Gbit/s; senders done after %.3f s\n", rp->lines, rp->bytes,
	       rp->seconds, rp->seconds > 0 ? (double)rp->lines / rp->seconds : 0.0,
	       rp->seconds > 0 ? (double)rp->bytes * 8 / rp->seconds / 1e9 : 0.0, rp->send_seconds);
	printf("  latency (us):\n");
	print_hist(r->cfg.subs_per_doc > 1 ? "subscribers" : "subscriber", &rp->t.lat);
	if (c->slow_sub) {
		print_hist("slow subscriber", &rp->t.slow_lat);
		printf("  slow subscribers: %u, %u culled by the server (4008), %u complete\n",
		       rp->t.slow_subs, rp->t.slow_culled, rp->t.slow_complete);
	}
	printf("  sender: %" PRIu64 " datagrams (%" PRIu64 " sendmmsg calls, %" PRIu64
	       " send errors), %" PRIu64 " retransmits, %" PRIu64 " NAKs, %" PRIu64
	       " probes, %" PRIu64 " resumes, %" PRIu64 " replies\n", rp->st.datagrams,
	       rp->st.sendmmsg_calls, rp->st.send_errors, rp->st.retransmits, rp->st.naks,
	       rp->st.rto_probes, rp->st.resumes, rp->st.replies);
	if (c->prefix != NULL) {
		if (!rp->before.ok || !rp->after.ok) {
			printf("  stages: skipped: %s\n", rp->before.ok ? rp->after.why : rp->before.why);
		} else {
			uint64_t dl = rp->after.lines - rp->before.lines;
			printf("  appliance cycles/line (%" PRIu64 " lines, TSC %.2f GHz):", dl,
			       rp->after.tsc_hz / 1e9);
			for (unsigned i = 0; i < rp->after.n; i++)
				printf(" %s %.1f", rp->after.name[i], dl ? (double)(rp->after.cycles[i] -
				       (i < rp->before.n ? rp->before.cycles[i] : 0)) / (double)dl : 0.0);
			printf("\n");
		}
	}
	printf("  exactly-once: %s\n", rp->violations == 0 ? "PASS (every line ACKed once, "
	       "statuses as generated, one summary per document)" : "FAIL");
}

static json_t *hist_json(const struct perf_hist *h)
{
	json_t *o = json_object();
	json_object_set_new(o, "samples", json_integer((json_int_t)h->count));
	for (unsigned i = 0; i < 4; i++)
		json_object_set_new(o, pct_names[i], json_real((double)perf_hist_pct(h, pcts[i]) / 1e3));
	json_object_set_new(o, "max", json_real((double)h->max / 1e3));
	json_object_set_new(o, "min", json_real(h->count ? (double)h->min / 1e3 : 0.0));
	json_object_set_new(o, "mean", json_real(h->count ? h->sum / (double)h->count / 1e3 : 0.0));
	json_t *b = json_array();       /* [lo_us, hi_us, count] of each non-empty bucket */
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++) {
		if (h->b[i] == 0)
			continue;
		uint64_t lo, hi;
		perf_hist_bounds(i, &lo, &hi);
		json_array_append_new(b, json_pack("[f,f,I]", (double)lo / 1e3, (double)hi / 1e3,
						   (json_int_t)h->b[i]));
	}
	json_object_set_new(o, "buckets", b);
	return o;
}

static int write_json(const struct perf_run *r, const struct report *rp)
{
	const struct perf_cfg *c = &r->cfg;
	json_t *cfg = json_pack("{s:i,s:i,s:I,s:i,s:s,s:I,s:I,s:i,s:s,s:s,s:i,s:f,s:i,s:i,s:i,s:b}",
				"tenants", c->tenants, "docs", c->docs, "lines", (json_int_t)c->lines,
				"width", c->width, "shape", perf_shape_name(c->shape),
				"seed", (json_int_t)c->seed, "rev", (json_int_t)c->rev,
				"bad_every", c->bad_every, "to", c->to, "ws", c->ws_url,
				"threads", c->threads, "rate", c->rate, "payload", c->payload ? c->payload : 1400,
				"tick_us", c->tick_us, "subscribers_per_doc", c->subs_per_doc,
				"slow_subscriber", c->slow_sub);
	json_t *o = json_object();
	json_object_set_new(o, "config", cfg);
	json_object_set_new(o, "transport", json_string(c->memif_socket ? "memif" : "kernel-udp"));
	json_object_set_new(o, "mode", json_string(r->open_loop ? "open-loop" : "credit"));
	json_object_set_new(o, "latency_from", json_string(r->open_loop ? "scheduled" : "first-send"));
	json_object_set_new(o, "lines", json_integer((json_int_t)rp->lines));
	json_object_set_new(o, "bytes", json_integer((json_int_t)rp->bytes));
	json_object_set_new(o, "seconds", json_real(rp->seconds));
	json_object_set_new(o, "send_seconds", json_real(rp->send_seconds));
	json_object_set_new(o, "lines_per_s", json_real(rp->seconds > 0 ? (double)rp->lines / rp->seconds : 0));
	json_object_set_new(o, "gbit_per_s", json_real(rp->seconds > 0 ? (double)rp->bytes * 8 / rp->seconds / 1e9 : 0));
	json_object_set_new(o, "latency_us", hist_json(&rp->t.lat));
	json_object_set_new(o, "acks", json_pack("{s:I,s:I,s:I,s:i}", "messages",
			    (json_int_t)rp->t.messages, "lines", (json_int_t)rp->t.ack_lines,
			    "summaries", (json_int_t)rp->t.summaries, "subscribers", rp->t.subs));
	/* Per document: when its sender got DONE (every line durable or
	 * processed, as the tenant's ack says), for fairness between them. */
	json_t *docs = json_array();
	for (unsigned j = 0; j < r->ndocs; j++) {
		const struct perf_doc *d = &r->docs[j];
		double done_s = d->done_ns > r->t0 ? (double)(d->done_ns - r->t0) / 1e9 : 0.0;
		json_array_append_new(docs, json_pack("{s:s,s:s,s:I,s:I,s:f,s:b}", "tenant",
				      d->tenant_name, "doc", d->name, "lines", (json_int_t)d->lines,
				      "bytes", (json_int_t)d->len, "done_s", done_s,
				      "ok", d->done_ns != 0 && d->rc == 0));
	}
	json_object_set_new(o, "docs", docs);
	if (c->slow_sub) {
		json_object_set_new(o, "slow_latency_us", hist_json(&rp->t.slow_lat));
		json_object_set_new(o, "slow_subscribers", json_pack("{s:i,s:i,s:i}", "count",
				    rp->t.slow_subs, "culled", rp->t.slow_culled, "complete",
				    rp->t.slow_complete));
	}
	json_object_set_new(o, "exactly_once", json_pack("{s:b,s:I,s:I}", "pass", rp->violations == 0,
			    "violations", (json_int_t)rp->violations, "failed_docs",
			    (json_int_t)rp->failed_docs));
	json_t *stages = json_null();
	if (c->prefix != NULL && rp->before.ok && rp->after.ok) {
		uint64_t dl = rp->after.lines - rp->before.lines;
		stages = json_object();
		for (unsigned i = 0; i < rp->after.n; i++)
			json_object_set_new(stages, rp->after.name[i], json_real(dl ? (double)(
				rp->after.cycles[i] - (i < rp->before.n ? rp->before.cycles[i] : 0)) /
				(double)dl : 0.0));
		json_object_set_new(o, "stage_lines", json_integer((json_int_t)dl));
		json_object_set_new(o, "tsc_hz", json_real(rp->after.tsc_hz));
	}
	json_object_set_new(o, "stage_cycles_per_line", stages);
	json_object_set_new(o, "sender", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			    "datagrams", (json_int_t)rp->st.datagrams,
			    "retransmits", (json_int_t)rp->st.retransmits,
			    "naks", (json_int_t)rp->st.naks, "probes", (json_int_t)rp->st.rto_probes,
			    "resumes", (json_int_t)rp->st.resumes,
			    "sendmmsg_calls", (json_int_t)rp->st.sendmmsg_calls,
			    "send_errors", (json_int_t)rp->st.send_errors,
			    "replies", (json_int_t)rp->st.replies));
	int rc = json_dump_file(o, c->json_path, JSON_INDENT(1));
	json_decref(o);
	if (rc != 0) {
		fprintf(stderr, "sluice-perf: cannot write %s\n", c->json_path);
		return -1;
	}
	return 0;
}

/* ---- the run --------------------------------------------------------- */

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Wait for every document's sender; a progress line on stderr each second. */
static void wait_senders(struct perf_run *r)
{
	uint64_t next = perf_now() + 1000000000ull;
	while (atomic_load(&r->docs_done) < r->ndocs && !atomic_load(&r->stop)) {
		usleep(5000);
		if (perf_now() >= next && isatty(2)) {
			fprintf(stderr, "\rsluice-perf: %u of %u documents done ", atomic_load(&r->docs_done),
				r->ndocs);
			next += 1000000000ull;
		}
	}
	if (isatty(2))
		fprintf(stderr, "\r%50s\r", "");
}

int main(int argc, char **argv)
{
	static struct perf_run run;
	struct perf_run *r = &run;
	struct perf_cfg *c = &r->cfg;
	*c = (struct perf_cfg){
		.tenants = 1, .docs = 1, .lines = 10000, .width = 64, .shape = PERF_PLAIN, .seed = 1,
		.rev = 1, .token_format = "sluice-perf-token-%d", .threads = 1, .tick_us = 50,
		.timeout_ms = 30000, .subs_per_doc = 1, .slow_read_ms = 10, .slow_pause_ms = 90,
		.ack_wait_s = 60,
	};
	if (parse_args(argc, argv, c) < 0)
		return 2;
	char ctlbuf[PATH_MAX];
	if (c->sluicectl == NULL)
		c->sluicectl = find_sluicectl(ctlbuf, sizeof ctlbuf);
	r->open_loop = c->rate > 0;
	g_run = r;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	if (make_docs(r) < 0)
		return 2;
	if (c->threads > r->ndocs)
		c->threads = r->ndocs;
	struct report rp;
	memset(&rp, 0, sizeof rp);
	for (unsigned j = 0; j < r->ndocs; j++)
		rp.bytes += r->docs[j].len;
	rp.lines = c->lines * r->ndocs;
	if (c->prefix != NULL)
		perf_stages_read(c->sluicectl, c->prefix, &rp.before);

	char err[512];
	struct perf_acks *acks = perf_acks_start(r, err, sizeof err);
	if (acks == NULL || perf_acks_wait_subscribed(acks, SUBSCRIBE_TIMEOUT_S, err, sizeof err) < 0) {
		fprintf(stderr, "sluice-perf: %s\n", err);
		perf_acks_free(acks);
		return 2;
	}
	struct perf_sender **senders = calloc(c->threads, sizeof *senders);
	for (unsigned k = 0; senders != NULL && k < c->threads; k++) {
		senders[k] = perf_sender_start(r, k, err, sizeof err);
		if (senders[k] == NULL) {
			fprintf(stderr, "sluice-perf: %s\n", err);
			return 2;
		}
	}
	if (senders == NULL) {
		fprintf(stderr, "sluice-perf: out of memory\n");
		return 2;
	}
	r->t0 = perf_now() + START_LEAD_NS;
	unsigned started = 0;
	for (; started < c->threads; started++)
		if (perf_sender_run(senders[started], err, sizeof err) < 0) {
			fprintf(stderr, "sluice-perf: %s\n", err);
			atomic_store(&r->stop, true);
			break;
		}
	wait_senders(r);
	for (unsigned k = 0; k < started; k++)
		perf_sender_join(senders[k], &rp.st);
	free(senders);
	uint64_t send_end = 0;
	for (unsigned j = 0; j < r->ndocs; j++) {
		const struct perf_doc *d = &r->docs[j];
		if (d->done_ns > send_end)
			send_end = d->done_ns;
		if (d->done_ns == 0 || d->rc != 0) {
			rp.failed_docs++;
			if (rp.failed_docs <= 5)
				fprintf(stderr, "  FAIL %s/%s: sender: %s\n", d->tenant_name, d->name,
					d->done_ns ? d->res.reason : "not finished (interrupted)");
		}
	}
	rp.send_seconds = send_end > r->t0 ? (double)(send_end - r->t0) / 1e9 : 0.0;

	uint64_t until = perf_now() + (uint64_t)c->ack_wait_s * 1000000000ull;
	while (!perf_acks_complete(acks, false) && perf_now() < until && !atomic_load(&r->stop))
		usleep(5000);
	while (!perf_acks_complete(acks, true) && perf_now() < until && !atomic_load(&r->stop))
		usleep(5000);
	perf_acks_stop(acks);
	if (c->prefix != NULL)
		perf_stages_read(c->sluicectl, c->prefix, &rp.after);
	fflush(stdout);
	rp.violations = perf_acks_verify(acks, stdout, &rp.t) + rp.failed_docs;
	uint64_t end = rp.t.last_ack_ns ? rp.t.last_ack_ns : perf_now();
	rp.seconds = end > r->t0 ? (double)(end - r->t0) / 1e9 : 0.0;
	print_report(r, &rp);
	int rc = rp.violations ? 1 : 0;
	if (c->json_path != NULL && write_json(r, &rp) < 0)
		rc = rc ? rc : 2;
	perf_acks_free(acks);
	for (unsigned j = 0; j < r->ndocs; j++)
		perf_doc_free(&r->docs[j]);
	free(r->docs);
	return rc;
}
