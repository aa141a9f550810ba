/*
 * sluice-send.c — send documents to a Sluice appliance over SLP.
 *
 * A thin command line over the sender library (include/sluice/send.h):
 * parse and check the arguments, then send each FILE as one document,
 * up to --parallel of them at once (one thread each: the library keeps
 * no global state), and report one line per document. Exit codes let
 * scripts tell the cases apart:
 *
 *   0  the appliance confirmed every document
 *   1  the appliance refused or failed at least one (reason and code on stderr)
 *   2  bad arguments, or a FILE cannot be opened (nothing was sent)
 *   3  local or network failure for at least one document (wins over 1)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/slp.h"
#include "sluice/send.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_FAILURE_LOCAL 3
#define PARALLEL_MAX 64
#define PROGRESS_EVERY_MS 250

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-send --tenant T --token TOK --to HOST[:PORT] --rev N [--doc D]\n"
		"                   [--parallel N] [--payload BYTES] [--timeout-ms MS] [--resume]\n"
		"                   [--quiet]\n"
		"                   FILE...\n"
		"\n"
		"Send each FILE as revision N of a document of tenant T to the appliance at\n"
		"HOST:PORT (UDP, SLP; default port %u). With one FILE (or - for standard\n"
		"input) the document is named by --doc. With several, each document is named\n"
		"after its file: the base name without its last extension (orders.csv -> orders).\n"
		"\n"
		"  --tenant T        tenant name, 1 to %u bytes\n"
		"  --token TOK       the tenant's token, 1 to %u bytes\n"
		"  --doc D           document name, 1 to %u bytes (one FILE only)\n"
		"  --rev N           revision, a whole number newer than any sent before\n"
		"  --to HOST[:PORT]  appliance address\n"
		"  --parallel N      send up to N documents at once, 1 to %u (default 1)\n"
		"  --payload BYTES   data bytes per datagram, 1 to %u (default 1400)\n"
		"  --timeout-ms MS   give up after MS ms without any answer (default 30000)\n"
		"  --resume          go on with revision N where an earlier run stopped (this\n"
		"                    sender or the appliance died): the appliance continues\n"
		"                    from the lines it had made durable, or reports the result\n"
		"                    if N had already completed. Same FILE and --rev as before.\n"
		"                    (A restart of the appliance during a send is resumed\n"
		"                    without this option.)\n"
		"  --quiet           no progress line\n"
		"\n"
		"Exit status: 0 all confirmed, 1 some refused by the appliance, 2 bad arguments,\n"
		"3 some local or network failure.\n",
		SLP_DEFAULT_PORT, SLP_NAME_MAX, SLP_TOKEN_MAX, SLP_NAME_MAX, PARALLEL_MAX,
		SLP_MAX_PAYLOAD);
}

static void __attribute__((noreturn, format(printf, 1, 2))) bad_arg(const char *fmt, ...)
{
	va_list ap;
	fputs("sluice-send: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(sluice-send --help for usage)\n", stderr);
	exit(EXIT_USAGE);
}

/* A whole unsigned decimal number in [min, max], or exit naming the option. */
static uint64_t parse_uint(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	const char *p = s;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == s || *p != '\0')
		bad_arg("%s '%s': expected a whole number from %" PRIu64 " to %" PRIu64,
			opt, s, min, max);
	errno = 0;
	unsigned long long v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v < min || v > max)
		bad_arg("%s '%s': out of range, expected %" PRIu64 " to %" PRIu64,
			opt, s, min, max);
	return v;
}

static const char *parse_name(const char *opt, const char *s, size_t max)
{
	size_t l = strlen(s);
	if (l < 1 || l > max)
		bad_arg("%s: expected 1 to %zu bytes, got %zu", opt, max, l);
	return s;
}

/* HOST or HOST:PORT. host is a copy the caller keeps for the whole run. */
static void parse_to(const char *s, char **host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	size_t hl = colon ? (size_t)(colon - s) : strlen(s);
	if (hl == 0)
		bad_arg("--to '%s': expected HOST:PORT, e.g. 10.0.0.2:%u", s, SLP_DEFAULT_PORT);
	*host = strndup(s, hl);
	if (*host == NULL)
		bad_arg("out of memory");
	*port = SLP_DEFAULT_PORT;
	if (colon)
		*port = (uint16_t)parse_uint("--to port", colon + 1, 1, 65535);
}

/* "dir/orders.csv" -> "orders": the document name for one of several files. */
static char *name_from_path(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strrchr(base, '.');
	size_t l = dot && dot != base ? (size_t)(dot - base) : strlen(base);
	if (l < 1 || l > SLP_NAME_MAX)
		bad_arg("'%s': the document name taken from it ('%.*s') must be 1 to %u bytes; "
			"rename the file or send it alone with --doc", path, (int)l, base,
			SLP_NAME_MAX);
	char *name = strndup(base, l);
	if (name == NULL)
		bad_arg("out of memory");
	return name;
}

/*
 * Read the whole file (or stdin for "-"). On failure returns NULL with a
 * message in err; never exits, since it runs in the sending threads.
 */
static uint8_t *read_all(const char *path, size_t *len, char *err, size_t errcap)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char eb[128];
	if (f == NULL) {
		snprintf(err, errcap, "cannot open '%s': %s", path,
			 strerror_r(errno, eb, sizeof eb));
		return NULL;
	}
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (buf == NULL) {
			snprintf(err, errcap, "out of memory reading '%s' (%zu bytes so far)",
				 path, n);
			break;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n < cap) {
			if (ferror(f)) {
				snprintf(err, errcap, "cannot read '%s': %s", path,
					 strerror_r(errno, eb, sizeof eb));
				free(buf);
				buf = NULL;
				break;
			}
			if (feof(f))
				break;
			continue;
		}
		cap *= 2;
		uint8_t *nb = realloc(buf, cap);
		if (nb == NULL)
			free(buf);
		buf = nb;
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

/* ---- sending several documents ---------------------------------------- */

struct job {
	const char *path;
	struct sl_send_opts o;          /* o.doc differs per job */
	struct sl_send_result res;
	int rc;                         /* sl_send_document's, or -1 for a read failure */
};

struct run {
	struct job *jobs;
	size_t njobs;
	atomic_size_t next;             /* next job to take */
	atomic_size_t finished;
	atomic_uint_fast64_t confirmed; /* bytes confirmed, all documents */
	atomic_uint_fast64_t lines;     /* lines in confirmed documents */
	pthread_mutex_t out;            /* one line at a time on stdout/stderr */
	bool progress;
	bool progress_shown;            /* a progress line is on the terminal: clear it first */
};

static void count_confirmed(void *arg, uint64_t more)
{
	struct run *r = arg;
	atomic_fetch_add(&r->confirmed, more);
}

static void report(struct run *r, const struct job *j)
{
	const struct sl_send_opts *o = &j->o;
	const struct sl_send_result *res = &j->res;
	pthread_mutex_lock(&r->out);
	if (r->progress_shown) {
		fputs("\r\033[K", stderr);
		r->progress_shown = false;
	}
	if (j->rc == 0) {
		printf("sent %s/%s rev %" PRIu64 ": %" PRIu64 " bytes, %" PRIu64 " lines "
		       "(%" PRIu64 " ok, %" PRIu64 " errors) in %.3f s, %" PRIu64 " retransmits, "
		       "%" PRIu64 " resumes",
		       o->tenant, o->doc, o->revision, res->bytes, res->lines, res->ok, res->errors,
		       res->seconds, res->retransmits, res->resumes);
		if (res->resumes > 0)
			printf(" (last from byte %" PRIu64 ")", res->resumed_from);
		/* Damage seen on the way back, when there was any. */
		if (res->corrupt > 0 || res->ignored > 0 || res->rewinds > 0)
			printf(", replies: %" PRIu64 " corrupt, %" PRIu64 " implausible, %" PRIu64
			       " window overruns", res->corrupt, res->ignored, res->rewinds);
		putchar('\n');
		fflush(stdout);
	} else if (j->rc == 1) {
		fprintf(stderr, "rejected %s/%s rev %" PRIu64 ": %s (code %d)\n",
			o->tenant, o->doc, o->revision, res->reason, res->code);
	} else {
		fprintf(stderr, "sluice-send: %s/%s rev %" PRIu64 " not sent: %s\n",
			o->tenant, o->doc, o->revision, res->reason);
	}
	pthread_mutex_unlock(&r->out);
}

static void send_one(struct run *r, struct job *j)
{
	size_t len = 0;
	char err[sizeof j->res.reason];
	uint8_t *data = read_all(j->path, &len, err, sizeof err);
	if (data == NULL) {
		memset(&j->res, 0, sizeof j->res);
		j->res.code = -1;
		snprintf(j->res.reason, sizeof j->res.reason, "%s", err);
		j->rc = -1;
	} else {
		j->rc = sl_send_document(&j->o, data, len, &j->res);
		free(data);
	}
	if (j->rc == 0)
		atomic_fetch_add(&r->lines, j->res.lines);
	report(r, j);
}

static void *worker(void *arg)
{
	struct run *r = arg;
	for (;;) {
		size_t i = atomic_fetch_add(&r->next, 1);
		if (i >= r->njobs)
			break;
		send_one(r, &r->jobs[i]);
		atomic_fetch_add(&r->finished, 1);
	}
	return NULL;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The main thread's job while the workers send: one aggregate progress line. */
static void watch(struct run *r)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (atomic_load(&r->finished) < r->njobs) {
		struct timespec nap = { 0, PROGRESS_EVERY_MS * 1000000L };
		nanosleep(&nap, NULL);
		if (!r->progress)
			continue;
		double secs = seconds_since(&t0);
		double mb = (double)atomic_load(&r->confirmed) / 1e6;
		pthread_mutex_lock(&r->out);
		fprintf(stderr, "\r%zu/%zu documents  %.1f MB  %.1f MB/s  %" PRIu64 " lines  ",
			(size_t)atomic_load(&r->finished), r->njobs, mb,
			secs > 0 ? mb / secs : 0.0, (uint64_t)atomic_load(&r->lines));
		r->progress_shown = true;
		pthread_mutex_unlock(&r->out);
	}
	if (r->progress_shown)
		fputs("\r\033[K", stderr);
}

int main(int argc, char **argv)
{
	enum { O_TENANT = 1000, O_TOKEN, O_DOC, O_REV, O_TO, O_PAYLOAD, O_TIMEOUT, O_PARALLEL,
	       O_RESUME };
	static const struct option longopts[] = {
		{ "tenant", required_argument, NULL, O_TENANT },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "doc", required_argument, NULL, O_DOC },
		{ "rev", required_argument, NULL, O_REV },
		{ "to", required_argument, NULL, O_TO },
		{ "payload", required_argument, NULL, O_PAYLOAD },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "parallel", required_argument, NULL, O_PARALLEL },
		{ "resume", no_argument, NULL, O_RESUME },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sl_send_opts o = { 0 };
	bool have_rev = false, quiet = false;
	char *host = NULL;
	unsigned parallel = 1;

	opterr = 0;     /* our own messages, naming the option */
	int c;
	while ((c = getopt_long(argc, argv, ":qh", longopts, NULL)) != -1) {
		switch (c) {
		case O_TENANT: o.tenant = parse_name("--tenant", optarg, SLP_NAME_MAX); break;
		case O_TOKEN: o.token = parse_name("--token", optarg, SLP_TOKEN_MAX); break;
		case O_DOC: o.doc = parse_name("--doc", optarg, SLP_NAME_MAX); break;
		case O_REV:
			o.revision = parse_uint("--rev", optarg, 0, UINT64_MAX);
			have_rev = true;
			break;
		case O_TO:
			free(host);
			parse_to(optarg, &host, &o.port);
			o.host = host;
			break;
		case O_PAYLOAD:
			o.payload = (uint32_t)parse_uint("--payload", optarg, 1, SLP_MAX_PAYLOAD);
			break;
		case O_TIMEOUT:
			o.timeout_ms = (uint32_t)parse_uint("--timeout-ms", optarg, 1, UINT32_MAX);
			break;
		case O_PARALLEL:
			parallel = (unsigned)parse_uint("--parallel", optarg, 1, PARALLEL_MAX);
			break;
		case O_RESUME: o.resume = 1; break;
		case 'q': quiet = true; break;
		case 'h': usage(stdout); return 0;
		case ':':
			bad_arg("%s needs a value", argv[optind - 1]);
		default:
			if (optopt > 0 && optopt < 128)
				bad_arg("unknown option '-%c'", optopt);
			bad_arg("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (o.tenant == NULL)
		bad_arg("--tenant is required: the tenant name these documents belong to");
	if (o.token == NULL)
		bad_arg("--token is required: the tenant's token");
	if (!have_rev)
		bad_arg("--rev is required: the document revision, a whole number");
	if (o.host == NULL)
		bad_arg("--to is required: the appliance address HOST:PORT");
	if (optind == argc)
		bad_arg("FILE is missing: give the file(s) to send, or - for standard input");

	size_t nfiles = (size_t)(argc - optind);
	if (nfiles == 1 && o.doc == NULL)
		bad_arg("--doc is required with one FILE: the document name");
	if (nfiles > 1 && o.doc != NULL)
		bad_arg("--doc names one document; with several files each is named after its file");

	struct run r = { .njobs = nfiles };
	r.jobs = calloc(nfiles, sizeof *r.jobs);
	if (r.jobs == NULL)
		bad_arg("out of memory");
	for (size_t i = 0; i < nfiles; i++) {
		const char *path = argv[optind + (int)i];
		struct job *j = &r.jobs[i];
		j->path = path;
		j->o = o;
		if (nfiles > 1) {
			if (strcmp(path, "-") == 0)
				bad_arg("standard input (-) can only be sent alone, with --doc");
			j->o.doc = name_from_path(path);
			for (size_t k = 0; k < i; k++)
				if (strcmp(r.jobs[k].o.doc, j->o.doc) == 0)
					bad_arg("'%s' and '%s' would both be document '%s': "
						"send them separately with --doc",
						r.jobs[k].path, path, j->o.doc);
		}
		/* Refuse up front what cannot be opened: nothing is sent then. */
		if (strcmp(path, "-") != 0) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				bad_arg("cannot open '%s': %s", path, strerror(errno));
			struct stat st;
			if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
				bad_arg("'%s' is a directory, not a file", path);
			close(fd);
		}
	}

	r.progress = !quiet && isatty(STDERR_FILENO);
	pthread_mutex_init(&r.out, NULL);
	for (size_t i = 0; i < nfiles; i++) {
		r.jobs[i].o.on_confirmed = count_confirmed;
		r.jobs[i].o.on_confirmed_arg = &r;
	}

	if (parallel > nfiles)
		parallel = (unsigned)nfiles;
	pthread_t tids[PARALLEL_MAX];
	unsigned started = 0;
	for (; started < parallel; started++) {
		int e = pthread_create(&tids[started], NULL, worker, &r);
		if (e != 0) {
			/* Fewer threads is still correct: the others take the jobs. */
			if (started == 0) {
				fprintf(stderr, "sluice-send: cannot start a sending thread: %s\n",
					strerror(e));
				return EXIT_FAILURE_LOCAL;
			}
			break;
		}
	}
	watch(&r);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);

	int status = 0;
	for (size_t i = 0; i < nfiles; i++) {
		if (r.jobs[i].rc < 0)
			status = EXIT_FAILURE_LOCAL;
		else if (r.jobs[i].rc == 1 && status == 0)
			status = EXIT_REFUSED;
		if (nfiles > 1)
			free((char *)r.jobs[i].o.doc);
	}
	free(r.jobs);
	free(host);
	pthread_mutex_destroy(&r.out);
	return status;
}
