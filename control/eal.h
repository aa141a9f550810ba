/*
 * eal.h — EAL arguments built from sluice.conf, so an operator never
 * writes an EAL command line: lcore layout (main, rx, workers per NUMA
 * socket), the port (vdev or PCI allow-list), memory and file prefix.
 */
#ifndef SLUICE_EAL_H
#define SLUICE_EAL_H

#include <stddef.h>

#include "../config/config.h"

#define SL_EAL_MAX_ARGS 64

struct sl_eal_args {
	int argc;
	char *argv[SL_EAL_MAX_ARGS];
	char buf[4096];               /* the strings argv points into */
	unsigned n_sockets;
	unsigned n_workers;
};

/* Build the arguments. 0, or -1 with a message. */
int sl_eal_args_build(const struct sl_config *cfg, struct sl_eal_args *a, char *err, size_t errlen);

#endif
