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

struct sl_tenant_conf {
	char name[SL_NAME_MAX + 1];
	char token[SL_TOKEN_MAX + 1];
	uint32_t columns;              /* expected CSV column count; 0 = any */
	enum sl_ack_policy ack;
	uint32_t max_streams;          /* concurrent SLP/websocket documents in flight (default 64) */
	uint32_t max_document_mb;      /* largest document in MiB; 0 = no limit */
	uint32_t reorder_kb;           /* out-of-order bytes held for this tenant per rx lcore (KiB) */
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
	uint32_t window_bytes;         /* SLP credit granted to a sender */
	uint32_t streams_per_lcore;    /* SLP stream table size per rx lcore */
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

	/* [storage] */
	char data_dir[SL_PATH_MAX];
	uint32_t batch_records;        /* most result records per write+fdatasync batch */

	/* [tenant.<name>] sections, in file order */
	uint32_t n_tenants;
	struct sl_tenant_conf tenants[SL_MAX_TENANTS];
};

/*
 * Load and validate a config file. On error returns -1 and writes one
 * human-readable message (file, line, section, key, what is expected)
 * into err. The struct is heap-sized (~200 KiB): allocate it, don't put
 * it on a small stack.
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
