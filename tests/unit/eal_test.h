/*
 * eal_test.h — for the unit tests that need an EAL (mempools, rte_member):
 * start one that touches nothing of the machine's (--no-huge, no PCI, no
 * shared config, no telemetry, a file prefix of the test's own), and
 * remove the runtime directory EAL leaves behind even so.
 */
#ifndef SLUICE_TEST_EAL_H
#define SLUICE_TEST_EAL_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>

/* Start EAL as "<name>-<pid>"; prefix (64 bytes) receives the file prefix. 0, or -1 if EAL would not start. */
static inline int
test_eal_start(const char *argv0, const char *name, char prefix[64])
{
	char *eal[] = { (char *)argv0, "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
			"--file-prefix", prefix, "--log-level", "lib.member:error",
			"--log-level", "lib.eal:error", "--no-telemetry" };

	snprintf(prefix, 64, "%s-%d", name, (int)getpid());
	return rte_eal_init((int)RTE_DIM(eal), eal) < 0 ? -1 : 0;
}

/* EAL leaves its runtime directory behind even with --no-shconf: the test made it, the test removes it. */
static inline void
test_eal_remove_runtime_dir(const char *prefix)
{
	char dir[512], path[1024];
	DIR *d;
	struct dirent *e;

	snprintf(dir, sizeof(dir), "%s/dpdk/%s", getuid() == 0 ? "/var/run" :
		 (getenv("XDG_RUNTIME_DIR") ? getenv("XDG_RUNTIME_DIR") : "/tmp"), prefix);
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

#endif
