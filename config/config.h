/*
 * config.h — sluice.conf: the schema, its parsed form, and validation.
 *
 * The file is INI. Every mistake is reported as
 *   "<file>:<line>: [<section>] <key>: <what is wrong>; <what is expected>"
 * so an operator at 3 a.m. can fix it without reading code.
 * Parsing never touches DPDK: sluiced --check-config and the unit tests
 * use it before (or without) EAL.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_NAME_MAX 64          /* tenant and document names, bytes */
#define SL_TOKEN_MAX 128        /* tenant token, bytes */
#define SL_MAX_TENANTS 1024
#define SL_MAX_RX_LCORES 16
#define SL_MAX_WORKERS 64       /* all sockets together */
#define SL_PATH_MAX 512

enum sl_idle_mode {
	SL_IDLE_ADAPTIVE = 0,   /* spin a little, then yield, then sleep with a growing cap */
	SL_IDLE_BUSY = 1,       /* poll forever: dedicated cores only */
};

enum sl_ack_policy {
	SL_ACK_PERSISTED = 0,   /* ACK only after the line's result is durable (default) */
	SL_ACK_PROCESSED = 1,   /* ACK as soon as the worker processed it */
};

enum sl_dispatch_mode {
	SL_DISPATCH_LEAST_LOADED = 0,  /* fewest lines outstanding (queued, processing, pending) */
	SL_DISPATCH_ROUND_ROBIN = 1,
	SL_DISPATCH_HASH_DOCUMENT = 2, /* one worker per document: its lines are processed in order */
};

#define SL_SCHEMA_MAX_COLUMNS 64

enum sl_col_type { SL_COL_STRING = 0, SL_COL_INT, SL_COL_FLOAT, SL_COL_BOOL, SL_COL_TIMESTAMP };

struct sl_schema_col {
	char name[SL_NAME_MAX + 1];
	uint8_t type;                  /* enum sl_col_type */
	uint8_t required;              /* an empty field is an error */
};

struct sl_tenant_conf {
	char name[SL_NAME_MAX + 1];
	char token[SL_TOKEN_MAX + 1];
	uint32_t columns;              /* expected CSV column count; 0 = any */
	enum sl_ack_policy ack;
	uint32_t max_streams;          /* concurrent SLP/websocket documents in flight (default 64) */
	uint32_t max_document_mb;      /* largest document in MiB; 0 = no limit */
	uint32_t reorder_kb;           /* out-of-order bytes held for this tenant per rx lcore (KiB) */

	/* processing */
	char processor[SL_PATH_MAX];   /* csv (default) | ndjson | tweet | topk | simulate | a path to a .so */
	uint32_t n_schema;             /* csv: typed columns (0 = no schema) */
	struct sl_schema_col schema[SL_SCHEMA_MAX_COLUMNS];
	uint32_t topk_column;          /* topk over CSV: 1-based column; 0 = use topk_field (NDJSON) */
	char topk_field[SL_NAME_MAX + 1]; /* topk over NDJSON: field name (string or array of strings) */
	char topk_separator;           /* several keys in one column, e.g. ' ' for "#a #b"; 0 = one key */
	uint32_t simulate_min_ms;      /* simulate: work time drawn from a normal distribution */
	uint32_t simulate_max_ms;      /*   with mean (min+max)/2 and sd (max-min)/6, clamped to [min, max] */
	uint8_t simulate_spin;         /* simulate_mode = spin: burn the CPU for the time (CPU-bound work) instead of a timer */
	uint8_t simulate_pareto;       /* simulate_dist = pareto: heavy tail (alpha 1.5 from MIN), clamped to MAX */
};

struct sl_config {
	char path[SL_PATH_MAX];        /* the file this was read from */

	/* [dataplane] */
	char vdev[256];                /* e.g. "net_af_packet0,iface=sl0,qpairs=1"; empty = first probed port */
	char pci[64];                  /* PCI address of a real NIC; exclusive with vdev */
	uint32_t ip;                   /* appliance IPv4 address, host byte order */
	uint16_t udp_port;             /* SLP port */
	uint32_t rx_lcores;            /* rx lcores = rx queues (1..SL_MAX_RX_LCORES) */
	uint32_t workers_per_socket;   /* default 10 */
	enum sl_idle_mode idle;
	uint32_t mbufs;                /* mbuf pool size */
	uint32_t batches;              /* line batch pool size */
	uint32_t max_line_bytes;       /* longest accepted line */
	uint32_t large_results;        /* large result batches (a line whose output does not fit an ordinary one) */
	uint32_t window_bytes;         /* SLP credit granted to a sender */
	uint32_t streams_per_lcore;    /* SLP stream table size per rx lcore */
	uint32_t batch_lines;          /* most lines per batch (8..64): small batches spread heavy work finer */
	uint32_t reorder_frames;       /* out-of-order DATA frames held per stream (0 = in order only) */
	uint32_t nak_delay_us;         /* a gap is NAKed after this long, and again every 4x this */
	uint32_t stream_idle_ms;       /* a silent stream is failed and freed after this long */
	bool no_huge;                  /* run EAL with --no-huge (tests, demo) */
	uint32_t memory_mb;            /* EAL -m when no_huge */
	char file_prefix[64];          /* EAL --file-prefix; also where sluicectl finds us */
	char eal_extra[256];           /* extra EAL arguments, space separated (expert knob) */

	/* [control] */
	char listen_addr[64];          /* websocket/HTTP listen address */
	uint16_t listen_port;
	uint32_t subscriber_queue;     /* max queued messages per subscriber before it is culled */

	/* [workers] */
	enum sl_dispatch_mode dispatch;
	uint32_t workers_min;          /* active workers never fewer (per socket) */
	uint32_t workers_max;          /* nor more (per socket; <= workers_per_socket) */
	uint32_t scale_quiet_ms;       /* scale down after this long with little to do */
	uint32_t crash_limit;          /* a line that crashed workers this many times is quarantined */
	uint32_t stall_ms;             /* a worker inside one processor call this long is restarted */
	uint32_t long_line_ms;         /* inside one call this long: no new batches, its queued ones move */
	uint32_t restart_backoff_ms;   /* first restart delay; doubles per crash of the same worker, max 5 s */
	uint32_t pending_timeout_ms;   /* a PENDING line not completed this long after it started is an error */
	char poison_marker[64];        /* a line containing this crashes its worker (drills, tests); "" = off */
	uint32_t fault_stall_percent;  /* TESTS ONLY: share of batch hand-overs at which the worker sends itself the stall signal */
	char share_dir[SL_PATH_MAX];   /* shipped data files (lexicon); default: next to the binary, ../share/sluice */

	/* [storage] */
	char data_dir[SL_PATH_MAX];
	uint32_t batch_records;        /* most result records per write+fdatasync batch */
	uint32_t batch_min_records;    /* the adaptive batch never shrinks below this */
	uint32_t batch_target_us;      /* write+fdatasync latency the batch size steers toward */
	uint32_t journal_segment_mb;   /* journal segment size: checkpoint and rotate past it */
	uint32_t held_max_mb;          /* heap copies of early result batches, at most; past it a document fails */
	uint32_t fault_delay_us;       /* TESTS ONLY: add this much latency to every fdatasync (a slow disk) */
	uint32_t fault_eio_percent;    /* TESTS ONLY: fail this share of writes/syncs with EIO */
	uint32_t fault_short_percent;  /* TESTS ONLY: report this share of writes as short */

	/* [tenant.<name>] sections, in file order */
	uint32_t n_tenants;
	struct sl_tenant_conf tenants[SL_MAX_TENANTS];
};

/*
 * Load and validate a config file. On error returns -1 and writes one
 * human-readable message (file, line, section, key, what is expected)
 * into err. The struct is ~5 MiB (1024 tenant slots): allocate it, don't
 * put it on a stack.
 */
int sl_config_load(const char *path, struct sl_config *cfg, char *err, size_t errlen);

/* Fill every field with its default (what an empty file means). */
void sl_config_defaults(struct sl_config *cfg);

/* Index of the tenant with this name, or -1. */
int sl_config_tenant_find(const struct sl_config *cfg, const char *name, size_t len);

/*
 * A tenant or document name is 1..SL_NAME_MAX bytes of [A-Za-z0-9._-],
 * does not start with '.', and is not "." or "..": it becomes a
 * directory name under the data dir, so nothing else is allowed.
 */
bool sl_name_valid(const char *s, size_t len);

#endif
