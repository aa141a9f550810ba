/*
 * eal.c — the EAL command line, from the config and the machine's NUMA
 * layout (read from sysfs before EAL exists).
 *
 * Lcore ids: 0 is the main lcore (session manager), 1..R the rx lcores,
 * then workers_per_socket workers for each NUMA socket. Each worker is
 * pinned to the CPU set of its socket; on a small machine many lcores
 * share a few CPUs, which is why idle loops back off (idle.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eal.h"

#define MAX_NODES 8

struct numa_node {
	int id;
	char cpulist[256];   /* sysfs format: "0-3,8-11" */
	int first_cpu;
};

static int
read_nodes(struct numa_node *nodes, int max)
{
	DIR *d = opendir("/sys/devices/system/node");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL && n < max) {
		char path[512];
		FILE *f;

		if (strncmp(e->d_name, "node", 4) != 0 || !isdigit((unsigned char)e->d_name[4]))
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/node/%s/cpulist", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(nodes[n].cpulist, sizeof(nodes[n].cpulist), f) != NULL) {
			nodes[n].cpulist[strcspn(nodes[n].cpulist, "\n")] = '\0';
			if (nodes[n].cpulist[0] != '\0') {
				nodes[n].id = atoi(e->d_name + 4);
				nodes[n].first_cpu = atoi(nodes[n].cpulist);
				n++;
			}
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Without sysfs NUMA info: one socket with every CPU we may run on. */
static int
single_node(struct numa_node *node)
{
	cpu_set_t set;
	size_t len = 0;
	int first = -1;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	node->cpulist[0] = '\0';
	for (int cpu = 0; cpu < CPU_SETSIZE && len + 8 < sizeof(node->cpulist); cpu++) {
		if (!CPU_ISSET(cpu, &set))
			continue;
		if (first < 0)
			first = cpu;
		len += (size_t)snprintf(node->cpulist + len, sizeof(node->cpulist) - len, "%s%d", len ? "," : "", cpu);
	}
	node->id = 0;
	node->first_cpu = first < 0 ? 0 : first;
	return 1;
}

/* Every i-th CPU of a sysfs cpulist, for placing the rx lcores. */
static int
nth_cpu(const char *cpulist, unsigned i)
{
	int cpus[1024], n = 0;
	const char *p = cpulist;

	while (*p && n < 1024) {
		int a = (int)strtol(p, (char **)&p, 10), b = a;
		if (*p == '-')
			b = (int)strtol(p + 1, (char **)&p, 10);
		for (int c = a; c <= b && n < 1024; c++)
			cpus[n++] = c;
		if (*p == ',')
			p++;
		else if (*p != '\0')
			break;
	}
	return n == 0 ? 0 : cpus[i % (unsigned)n];
}

static int
push(struct sl_eal_args *a, size_t *used, const char *s)
{
	size_t len = strlen(s) + 1;

	if (a->argc >= SL_EAL_MAX_ARGS - 1 || *used + len > sizeof(a->buf))
		return -1;
	memcpy(a->buf + *used, s, len);
	a->argv[a->argc++] = a->buf + *used;
	*used += len;
	return 0;
}

int
sl_eal_args_build(const struct sl_config *cfg, struct sl_eal_args *a, char *err, size_t errlen)
{
	struct numa_node nodes[MAX_NODES];
	char lcores[1024], tmp[512];
	size_t used = 0, len;
	int n_nodes = read_nodes(nodes, MAX_NODES);
	unsigned next = 1, bad = 0;

	memset(a, 0, sizeof(*a));
	if (n_nodes == 0)
		n_nodes = single_node(nodes);
	if (n_nodes == 0) {
		snprintf(err, errlen, "cannot find any CPU to run on (sysfs and sched_getaffinity both failed)");
		return -1;
	}
	a->n_sockets = (unsigned)n_nodes;
	a->n_workers = cfg->workers_per_socket * (unsigned)n_nodes;
	if (a->n_workers > SL_MAX_WORKERS) {
		snprintf(err, errlen, "[dataplane] workers_per_socket = %u on %d sockets makes %u workers; "
			 "expected at most %u in all", cfg->workers_per_socket, n_nodes, a->n_workers, SL_MAX_WORKERS);
		return -1;
	}

	/* main lcore on the first CPU of node 0; rx lcores on the following CPUs of node 0 */
	len = (size_t)snprintf(lcores, sizeof(lcores), "0@%d", nodes[0].first_cpu);
	for (unsigned i = 0; i < cfg->rx_lcores; i++, next++)
		len += (size_t)snprintf(lcores + len, sizeof(lcores) - len, ",%u@%d", next,
					nth_cpu(nodes[0].cpulist, i + 1));
	for (int n = 0; n < n_nodes; n++) {
		unsigned first = next, last = next + cfg->workers_per_socket - 1;

		len += (size_t)snprintf(lcores + len, sizeof(lcores) - len, ",(%u-%u)@(%s)", first, last,
					nodes[n].cpulist);
		next = last + 1;
	}
	if (len >= sizeof(lcores)) {
		snprintf(err, errlen, "the lcore layout does not fit an EAL argument; use fewer workers");
		return -1;
	}

	bad |= (unsigned)push(a, &used, "sluiced");
	bad |= (unsigned)push(a, &used, "--lcores");
	bad |= (unsigned)push(a, &used, lcores);
	bad |= (unsigned)push(a, &used, "--main-lcore");
	bad |= (unsigned)push(a, &used, "0");
	/* rte_member logs every sketch it makes at DEBUG by default */
	bad |= (unsigned)push(a, &used, "--log-level=lib.member:warning");
	bad |= (unsigned)push(a, &used, "--file-prefix");
	bad |= (unsigned)push(a, &used, cfg->file_prefix);
	if (cfg->no_huge) {
		bad |= (unsigned)push(a, &used, "--no-huge");
		snprintf(tmp, sizeof(tmp), "%u", cfg->memory_mb);
		bad |= (unsigned)push(a, &used, "-m");
		bad |= (unsigned)push(a, &used, tmp);
	}
	if (cfg->vdev[0] != '\0') {
		/* A vdev only: allow no PCI device, so the host's NICs are never touched. */
		bad |= (unsigned)push(a, &used, "-a");
		bad |= (unsigned)push(a, &used, "0000:00:00.0");
		bad |= (unsigned)push(a, &used, "--vdev");
		bad |= (unsigned)push(a, &used, cfg->vdev);
	} else if (cfg->pci[0] != '\0') {
		bad |= (unsigned)push(a, &used, "-a");
		bad |= (unsigned)push(a, &used, cfg->pci);
	}
	/* eal_args: split on spaces (no quoting: EAL arguments do not need it) */
	snprintf(tmp, sizeof(tmp), "%s", cfg->eal_extra);
	for (char *save = NULL, *tok = strtok_r(tmp, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		bad |= (unsigned)push(a, &used, tok);
	if (bad) {
		snprintf(err, errlen, "too many EAL arguments; shorten [dataplane] eal_args");
		return -1;
	}
	a->argv[a->argc] = NULL;
	return 0;
}
