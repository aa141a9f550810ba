/*
 * sluiced.c — the daemon: read the config, start EAL, bring up the port,
 * start persistence and the websocket server, launch the rx and worker
 * lcores, run the session manager on the main lcore until SIGINT/SIGTERM,
 * then stop in the order that loses nothing already acknowledged:
 * producers first, then workers (they drain), then persistence (it
 * drains and syncs), then the websocket server, then the port.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include "../config/config.h"
#include "../dataplane/runtime.h"
#include "../dataplane/rx.h"
#include "../dataplane/supervisor.h"
#include "../dataplane/topk.h"
#include "../dataplane/worker.h"
#include "../drivers/port.h"
#include "eal.h"
#include "manager.h"
#include "persist.h"
#include "revisions.h"
#include "telemetry.h"
#include "ws.h"

#define DEFAULT_CONFIG "/etc/sluice/sluice.conf"

static struct sl_runtime rt;

static void
on_signal(int sig)
{
	(void)sig;
	/* Only set the flag: every loop polls it, the main lcore does the teardown. */
	atomic_store(&rt.stop, 1);
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: sluiced [-c CONFIG] [--check-config]\n"
		"  -c, --config FILE   sluice.conf to use (default " DEFAULT_CONFIG ")\n"
		"      --check-config  validate the config and exit (0 = valid)\n"
		"  -h, --help          this text\n"
		"EAL arguments come from the config ([dataplane]); see docs/operations.md.\n");
}

/* Each open document may hold several result files: allow as many descriptors as the system lets us. */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#ifndef SL_SHARE_DIR
#define SL_SHARE_DIR "/usr/local/share/sluice"   /* meson passes <prefix>/<datadir>/sluice */
#endif

/*
 * [workers] share_dir unset: where `meson install` puts the data files.
 * Not a guess relative to the binary: a build tree has no share/ of its
 * own, and a path like <build>/../../share would depend on where the
 * build folder happens to be (and could name a directory anyone can
 * write). Run from a build tree, set share_dir to <source>/share/sluice.
 */
static void
default_share_dir(struct sl_config *cfg)
{
	if (cfg->share_dir[0] == '\0')
		snprintf(cfg->share_dir, sizeof(cfg->share_dir), "%s", SL_SHARE_DIR);
}

/* Every tenant's processor: a built-in by name, or a shared object by path. */
static int
resolve_processors(const struct sl_config *cfg, char *err, size_t errlen)
{
	for (uint32_t t = 0; t < cfg->n_tenants; t++) {
		const char *name = cfg->tenants[t].processor[0] ? cfg->tenants[t].processor : "csv";
		const struct sl_processor *p = sl_processor_builtin(name);
		char why[768];

		if (p == NULL && name[0] == '/')
			p = sl_processor_load(name, why, sizeof(why));
		else if (p == NULL)
			snprintf(why, sizeof(why), "unknown processor '%.64s'; expected csv, ndjson, tweet, topk, "
				 "simulate or the absolute path of a .so", name);
		if (p == NULL) {
			snprintf(err, errlen, "[tenant.%.64s] processor: %.384s", cfg->tenants[t].name, why);
			return -1;
		}
		/* its data files now, not at the first line: a missing lexicon stops the start */
		if (sl_processor_check_data(p, cfg->share_dir, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "[tenant.%.64s] processor %s", cfg->tenants[t].name, why);
			return -1;
		}
		rt.procs[t] = p;
	}
	return 0;
}

static void
print_ready(const struct sl_config *cfg, const struct sl_port *port)
{
	char ip[16];
	uint32_t a = cfg->ip;

	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
	printf("sluiced: ready: port %u (%s) %s udp/%u, %u rx lcore(s), %u workers, "
	       "websocket %s:%u, data %s, %u tenant(s)\n",
	       port->port_id, port->driver, ip, cfg->udp_port, rt.n_rx, rt.n_workers, cfg->listen_addr,
	       cfg->listen_port, cfg->data_dir, cfg->n_tenants);
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = DEFAULT_CONFIG;
	bool check_only = false;
	struct sl_config *cfg;
	struct sl_eal_args eal;
	struct sl_port port;
	struct sl_revisions *revs = NULL;
	struct sl_recovery *rec = NULL;
	struct sl_rx_ctx *rx[SL_MAX_RX_LCORES] = { NULL };
	static struct sl_worker_arg wargs[SL_MAX_WORKERS];
	struct sl_supervisor *sup = NULL;
	char err[1024];
	int opt, status = 1;

	while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': path = optarg; break;
		case 'C': check_only = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fprintf(stderr, "sluiced: out of memory\n");
		return 1;
	}
	if (sl_config_load(path, cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		free(cfg);
		return 2;
	}
	if (sl_eal_args_build(cfg, &eal, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s: %s\n", path, err);
		free(cfg);
		return 2;
	}
	default_share_dir(cfg);
	if (resolve_processors(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s: %s\n", path, err);
		free(cfg);
		return 2;
	}
	if (check_only) {
		printf("sluiced: %s is valid: %u tenant(s), %u rx lcore(s), %u workers on %u socket(s)\n", path,
		       cfg->n_tenants, cfg->rx_lcores, eal.n_workers, eal.n_sockets);
		free(cfg);
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	raise_fd_limit();

	if (rte_eal_init(eal.argc, eal.argv) < 0) {
		fprintf(stderr, "sluiced: EAL init failed: %s (arguments from %s [dataplane])\n",
			rte_strerror(rte_errno), path);
		free(cfg);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	if (sl_runtime_create(&rt, cfg, err, sizeof(err)) != 0 ||
	    sl_port_start(&port, cfg, rt.n_rx, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		goto out_eal;
	}
	rt.port_id = port.port_id;
	rt.mbuf_pool = port.mbuf_pool;
	if (sl_topk_area_create(rt.n_workers, cfg->n_tenants) != 0) {
		fprintf(stderr, "sluiced: out of memory for the top-k snapshots\n");
		goto out_port;
	}

	if ((revs = sl_revisions_open(cfg->data_dir, err, sizeof(err))) == NULL ||
	    sl_recovery_run(cfg->data_dir, &rec, err, sizeof(err)) != 0 ||
	    sl_rx_setup(&rt, rx, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		goto out_port;
	}
	rt.recovery = rec;
	if (sl_recovery_unfinished(rec) > 0)
		printf("sluiced: journal: %zu unfinished documents; their senders may resume "
		       "(%" PRIu64 " journal records replayed)\n", sl_recovery_unfinished(rec),
		       sl_recovery_records(rec));
	/* The websocket thread first: it sets rt.wake_ws, which persistence calls. */
	if (sl_ws_start(&rt, revs, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		goto out_port;
	}
	if (sl_persist_start(&rt, rec, err, sizeof(err)) != 0) {
		fprintf(stderr, "sluiced: %s\n", err);
		atomic_store(&rt.stop, 1);
		sl_ws_stop(&rt);
		goto out_port;
	}
	sl_telemetry_register(&rt);
	sl_worker_signals_init();
	for (unsigned w = 0; w < rt.n_workers; w++) {
		wargs[w].rt = &rt;
		wargs[w].index = w;
	}
	if ((sup = sl_supervisor_create(&rt, wargs)) == NULL) {
		fprintf(stderr, "sluiced: out of memory for the supervisor\n");
		atomic_store(&rt.stop, 1);
		atomic_store(&rt.stop_workers, 1);
		sl_persist_stop(&rt);
		sl_ws_stop(&rt);
		goto out_port;
	}

	for (unsigned w = 0; w < rt.n_workers; w++) {
		wargs[w].rt = &rt;
		wargs[w].index = w;
		rte_eal_remote_launch(sl_worker_main, &wargs[w], rt.worker_lcore[w]);
	}
	for (unsigned i = 0; i < rt.n_rx; i++)
		rte_eal_remote_launch(sl_rx_main, rx[i], rt.rx_lcore[i]);
	print_ready(cfg, &port);

	sl_manager_run(&rt, revs, sup);

	printf("sluiced: stopping\n");
	for (unsigned i = 0; i < rt.n_rx; i++)
		rte_eal_wait_lcore(rt.rx_lcore[i]);
	/* Relay what the rx lcores said last (END of documents they finished). */
	while (sl_manager_poll(&rt, revs) > 0)
		;
	sl_supervisor_flush(sup);
	atomic_store(&rt.stop_workers, 1);
	for (unsigned w = 0; w < rt.n_workers; w++)
		rte_eal_wait_lcore(rt.worker_lcore[w]);
	sl_persist_stop(&rt);
	sl_ws_stop(&rt);
	sl_supervisor_free(sup);
	status = 0;

out_port:
	for (unsigned i = 0; i < rt.n_rx; i++)
		sl_rx_teardown(rx[i], 1);
	sl_port_stop(&port);
	if (revs != NULL)
		sl_revisions_close(revs);
	sl_recovery_free(rec);
out_eal:
	sl_runtime_destroy(&rt);
	rte_eal_cleanup();
	sl_topk_area_free();
	free(cfg);
	printf("sluiced: stopped\n");
	return status;
}
