/*
 * sluice-send.c — send one document to a Sluice appliance over SLP.
 *
 * A thin command line over the sender library (include/sluice/send.h):
 * parse and check the arguments, read the file whole, send, and report in
 * one line. Exit codes let scripts tell the cases apart:
 *
 *   0  the appliance confirmed the document
 *   1  the appliance refused or failed it (reason and code on stderr)
 *   2  bad arguments, or FILE cannot be opened
 *   3  local or network failure (no answer, read error, ...)
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/slp.h"
#include "sluice/send.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_FAILURE_LOCAL 3

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-send --tenant T --token TOK --doc D --rev N --to HOST[:PORT]\n"
		"                   [--payload BYTES] [--timeout-ms MS] [--quiet] FILE\n"
		"\n"
		"Send FILE (or - for standard input) as revision N of document D of tenant T\n"
		"to the appliance at HOST:PORT (UDP, SLP; default port %u).\n"
		"\n"
		"  --tenant T        tenant name, 1 to %u bytes\n"
		"  --token TOK       the tenant's token, 1 to %u bytes\n"
		"  --doc D           document name, 1 to %u bytes\n"
		"  --rev N           revision, a whole number newer than any sent before\n"
		"  --to HOST[:PORT]  appliance address\n"
		"  --payload BYTES   data bytes per datagram, 1 to %u (default 1400)\n"
		"  --timeout-ms MS   give up after MS ms without an answer (default 5000)\n"
		"  --quiet           no progress line\n"
		"\n"
		"Exit status: 0 confirmed, 1 refused by the appliance, 2 bad arguments,\n"
		"3 local or network failure.\n",
		SLP_DEFAULT_PORT, SLP_NAME_MAX, SLP_TOKEN_MAX, SLP_NAME_MAX, SLP_MAX_PAYLOAD);
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

/* Read the whole file (or stdin for "-"). Exits 2 if it cannot be opened, 3 on a read error. */
static uint8_t *read_all(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		bad_arg("cannot open '%s': %s", path, strerror(errno));

	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	for (;;) {
		if (buf == NULL) {
			fprintf(stderr, "sluice-send: out of memory reading '%s' (%zu bytes so far)\n",
				path, n);
			exit(EXIT_FAILURE_LOCAL);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (n < cap) {
			if (ferror(f)) {
				fprintf(stderr, "sluice-send: cannot read '%s': %s\n", path,
					strerror(errno));
				exit(EXIT_FAILURE_LOCAL);
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

int main(int argc, char **argv)
{
	enum { O_TENANT = 1000, O_TOKEN, O_DOC, O_REV, O_TO, O_PAYLOAD, O_TIMEOUT };
	static const struct option longopts[] = {
		{ "tenant", required_argument, NULL, O_TENANT },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "doc", required_argument, NULL, O_DOC },
		{ "rev", required_argument, NULL, O_REV },
		{ "to", required_argument, NULL, O_TO },
		{ "payload", required_argument, NULL, O_PAYLOAD },
		{ "timeout-ms", required_argument, NULL, O_TIMEOUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sl_send_opts o = { 0 };
	bool have_rev = false, quiet = false;
	char *host = NULL;

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
		bad_arg("--tenant is required: the tenant name this document belongs to");
	if (o.token == NULL)
		bad_arg("--token is required: the tenant's token");
	if (o.doc == NULL)
		bad_arg("--doc is required: the document name");
	if (!have_rev)
		bad_arg("--rev is required: the document revision, a whole number");
	if (o.host == NULL)
		bad_arg("--to is required: the appliance address HOST:PORT");
	if (optind == argc)
		bad_arg("FILE is missing: give the file to send, or - for standard input");
	if (argc - optind > 1)
		bad_arg("one FILE at a time: got '%s' and '%s'", argv[optind], argv[optind + 1]);

	const char *path = argv[optind];
	size_t len;
	uint8_t *data = read_all(path, &len);
	o.progress = !quiet && isatty(STDERR_FILENO);

	struct sl_send_result res;
	int rc = sl_send_document(&o, data, len, &res);
	free(data);
	free(host);

	if (rc == 0) {
		printf("sent %s/%s rev %" PRIu64 ": %" PRIu64 " bytes, %" PRIu64 " lines "
		       "(%" PRIu64 " ok, %" PRIu64 " errors) in %.3f s, %" PRIu64 " retransmits\n",
		       o.tenant, o.doc, o.revision, res.bytes, res.lines, res.ok, res.errors,
		       res.seconds, res.retransmits);
		return 0;
	}
	if (rc == 1) {
		fprintf(stderr, "rejected %s/%s rev %" PRIu64 ": %s (code %d)\n",
			o.tenant, o.doc, o.revision, res.reason, res.code);
		return EXIT_REFUSED;
	}
	fprintf(stderr, "sluice-send: %s/%s rev %" PRIu64 " not sent: %s\n",
		o.tenant, o.doc, o.revision, res.reason);
	return EXIT_FAILURE_LOCAL;
}
