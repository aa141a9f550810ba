/*
 * perf_stages.c — reading /sluice/stages through sluicectl (perf_stages.h).
 *
 * sluicectl, not the DPDK telemetry socket directly: it knows where the
 * socket of a --prefix lives and already speaks the protocol. Its JSON
 * reply is {"/sluice/stages": {"lines": n, "stages": {...}, "tsc_hz": hz}}
 * (or the inner object alone); a missing command or an older sluiced
 * simply leaves the stages out of the report.
 */
#include "perf_stages.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The reply as a string, from a child process without a shell. */
static char *run_capture(const char *prog, const char *prefix, int *status)
{
	int fds[2];
	if (pipe(fds) < 0)
		return NULL;
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp(prog, prog, "--prefix", prefix, "--json", "raw", "/sluice/stages", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;
	while (buf != NULL && (n = read(fds[0], buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			char *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
	}
	close(fds[0]);
	waitpid(pid, status, 0);
	if (buf != NULL)
		buf[len] = '\0';
	return buf;
}

void perf_stages_read(const char *sluicectl, const char *prefix, struct perf_stages *st)
{
	memset(st, 0, sizeof *st);
	int status = 0;
	char *out = run_capture(sluicectl, prefix, &status);
	if (out == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(st->why, sizeof st->why, "`%s --prefix %s --json raw /sluice/stages` %s",
			 sluicectl, prefix, WIFEXITED(status) && WEXITSTATUS(status) == 127 ?
			 "could not be run (give --sluicectl PATH)" : "failed (is sluiced running "
			 "with that file prefix, and new enough to have /sluice/stages?)");
		free(out);
		return;
	}
	json_error_t jerr;
	json_t *root = json_loads(out, 0, &jerr);
	free(out);
	json_t *d = root;
	if (json_is_object(root) && json_object_size(root) == 1 &&
	    json_object_get(root, "/sluice/stages") != NULL)
		d = json_object_get(root, "/sluice/stages");
	json_t *stages = json_object_get(d, "stages");
	if (!json_is_object(stages)) {
		snprintf(st->why, sizeof st->why, "/sluice/stages answered without a \"stages\" object");
		json_decref(root);
		return;
	}
	st->lines = (uint64_t)json_integer_value(json_object_get(d, "lines"));
	st->tsc_hz = json_number_value(json_object_get(d, "tsc_hz"));
	const char *key;
	json_t *v;
	json_object_foreach(stages, key, v) {
		if (st->n == PERF_STAGES_MAX)
			break;
		snprintf(st->name[st->n], sizeof st->name[st->n], "%s", key);
		st->cycles[st->n] = (uint64_t)json_integer_value(v);
		st->n++;
	}
	st->ok = true;
	json_decref(root);
}
