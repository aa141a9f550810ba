/*
 * sluice-ws — the tenant's websocket client for sluiced.
 *
 *   sluice-ws acks   --url ws://HOST:PORT --tenant T --doc D --token TOK
 *                    [--from N [--rev R]] [--count-summaries N] [--timeout S]
 *   sluice-ws ingest --url ws://HOST:PORT --tenant T --doc D --token TOK
 *                    --rev N [--resume] [--timeout S] FILE|-
 *
 * Every message the server sends is printed as one line on stdout,
 * flushed at once, so scripts can follow ACKs as they come. The token
 * travels in the Authorization header, never in the URL. For acks,
 * --from and --rev go to the server as given (?from=N&rev=R): the server
 * decides what a valid line or revision is, and its refusal says why.
 *
 * Exit status: 0 done (N summaries seen; upload "done" and complete),
 * 1 refused or failed (reason on stderr), 2 usage or timeout,
 * 3 could not connect, or the connection was lost.
 *
 * Links libwebsockets only: it is what a tenant would build.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#define CHUNK (16u * 1024u)          /* bytes per binary message when uploading */
#define MSG_MAX (1u << 20)           /* longest server message we accept */

enum mode { MODE_ACKS, MODE_INGEST };

static struct {
	enum mode mode;
	const char *url, *tenant, *doc, *token, *file;
	uint64_t rev;
	const char *from_arg, *rev_arg;  /* acks: passed on as they are */
	long count;                   /* acks: summaries to wait for; 0 = forever */
	long timeout;                 /* seconds; 0 = none */

	struct lws_context *ctx;
	struct lws *wsi;
	lws_sorted_usec_list_t timer;
	char auth[300];

	FILE *in;
	bool eof, fin_sent, sending;
	bool resume;                  /* ingest: ask to go on after a restart (?resume=1) */

	char *msg;                    /* message being reassembled */
	size_t msg_len, msg_cap;
	bool msg_too_long;

	long summaries;
	bool closing;                 /* we decided to close: send a close frame */
	bool finished;                /* leave the service loop */
	int exit_code;                /* -1 until decided */
	lws_usec_t give_up_at;        /* after a decision, do not wait forever for CLOSED */

	unsigned char buf[LWS_PRE + CHUNK];
} cl = { .exit_code = -1 };

static void
usage(FILE *f)
{
	fprintf(f,
		"usage:\n"
		"  sluice-ws acks   --url ws://HOST:PORT --tenant T --doc D --token TOK\n"
		"                   [--from N [--rev R]] [--count-summaries N] [--timeout S]\n"
		"  sluice-ws ingest --url ws://HOST:PORT --tenant T --doc D --token TOK\n"
		"                   --rev N [--resume] [--timeout S] FILE|-\n"
		"\n"
		"acks:   print every ACK message of the document, one JSON object per line;\n"
		"        exit 0 after N summaries (default: run until killed or --timeout).\n"
		"        --from N: first the ACKs of lines >= N of revision R (default: the\n"
		"        highest accepted) replayed from the results file, then live ones.\n"
		"ingest: upload FILE ('-' = stdin) as revision N in 16 KiB binary frames,\n"
		"        then {\"op\":\"fin\"}; print the server's messages; exit 0 on \"done\".\n"
		"        --resume: after an appliance restart, go on from the byte the server\n"
		"        says is durable (FILE must be a file, the same bytes as before).\n"
		"\n"
		"exit status: 0 ok, 1 refused or failed, 2 usage or timeout, 3 connection failed or lost\n");
}

/* Decide how we end (first decision wins) and close the connection. */
static void
finish(int code)
{
	if (cl.exit_code < 0)
		cl.exit_code = code;
	if (cl.give_up_at == 0)
		cl.give_up_at = lws_now_usecs() + 2 * LWS_US_PER_SEC;
	if (cl.wsi != NULL && !cl.closing) {
		cl.closing = true;
		lws_callback_on_writable(cl.wsi);
	} else if (cl.wsi == NULL) {
		cl.finished = true;
	}
}

static void
on_timeout(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	if (cl.mode == MODE_ACKS && cl.count == 0) {
		finish(0);       /* "run for S seconds" was the plan */
		return;
	}
	fprintf(stderr, "sluice-ws: timeout after %ld s\n", cl.timeout);
	finish(2);
}

/* The value of "key":"..." in a flat JSON object, copied into out. */
static bool
json_str(const char *js, const char *key, char *out, size_t cap)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *p = strstr(js, pat);
	if (p == NULL)
		return false;
	p += strlen(pat);
	size_t n = 0;
	while (p[n] != '\0' && p[n] != '"')
		n++;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static void
on_message(const char *js)
{
	char type[32] = "", status[32] = "", reason[256] = "";

	fputs(js, stdout);
	fputc('\n', stdout);
	fflush(stdout);

	json_str(js, "type", type, sizeof(type));
	if (strcmp(type, "error") == 0) {
		json_str(js, "reason", reason, sizeof(reason));
		fprintf(stderr, "sluice-ws: server refused: %s\n", reason);
		finish(1);
	} else if (strcmp(type, "summary") == 0 && cl.mode == MODE_ACKS) {
		cl.summaries++;
		if (cl.count > 0 && cl.summaries >= cl.count)
			finish(0);
	} else if (strcmp(type, "accepted") == 0 && cl.mode == MODE_INGEST) {
		/* a resumed upload goes on at the byte the server names */
		const char *o = strstr(js, "\"offset\":");
		unsigned long long off = o != NULL ? strtoull(o + 9, NULL, 10) : 0;

		if (off > 0 && fseeko(cl.in, (off_t)off, SEEK_SET) != 0) {
			fprintf(stderr, "sluice-ws: cannot resume at byte %llu of %s: %s (a file, not stdin, "
				"is needed to resume)\n", off, cl.file, strerror(errno));
			finish(1);
			return;
		}
		if (off > 0)
			fprintf(stderr, "sluice-ws: resuming at byte %llu\n", off);
		cl.sending = true;
		lws_callback_on_writable(cl.wsi);
	} else if (strcmp(type, "done") == 0 && cl.mode == MODE_INGEST) {
		json_str(js, "status", status, sizeof(status));
		if (strcmp(status, "complete") == 0) {
			finish(0);
		} else {
			json_str(js, "reason", reason, sizeof(reason));
			fprintf(stderr, "sluice-ws: document %s: %s\n", status, reason);
			finish(1);
		}
	}
}

static int
on_receive(struct lws *wsi, const void *in, size_t len)
{
	if (lws_is_first_fragment(wsi)) {
		cl.msg_len = 0;
		cl.msg_too_long = false;
	}
	if (cl.msg_len + len + 1 > MSG_MAX) {
		cl.msg_too_long = true;
	} else {
		if (cl.msg_len + len + 1 > cl.msg_cap) {
			size_t cap = cl.msg_cap ? cl.msg_cap : 4096;
			while (cap < cl.msg_len + len + 1)
				cap *= 2;
			char *m = realloc(cl.msg, cap);
			if (m == NULL) {
				fprintf(stderr, "sluice-ws: out of memory\n");
				finish(1);
				return 0;
			}
			cl.msg = m;
			cl.msg_cap = cap;
		}
		memcpy(cl.msg + cl.msg_len, in, len);
		cl.msg_len += len;
		cl.msg[cl.msg_len] = '\0';
	}
	if (!lws_is_final_fragment(wsi))
		return 0;
	if (cl.msg_too_long) {
		fprintf(stderr, "sluice-ws: ignored a server message longer than %u bytes\n", MSG_MAX);
		return 0;
	}
	if (cl.msg_len > 0)
		on_message(cl.msg);
	return 0;
}

/* One lws_write per WRITEABLE: a data chunk, then the fin message. */
static int
on_writeable(struct lws *wsi)
{
	if (cl.closing) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"bye", 3);
		return -1;
	}
	if (cl.mode != MODE_INGEST || !cl.sending || cl.fin_sent)
		return 0;
	if (lws_send_pipe_choked(wsi)) {
		lws_callback_on_writable(wsi);
		return 0;
	}

	unsigned char *p = cl.buf + LWS_PRE;
	if (!cl.eof) {
		size_t n = fread(p, 1, CHUNK, cl.in);
		if (n < CHUNK) {
			if (ferror(cl.in)) {
				fprintf(stderr, "sluice-ws: cannot read %s: %s\n", cl.file, strerror(errno));
				finish(1);
				return 0;
			}
			cl.eof = true;
		}
		if (n > 0) {
			if (lws_write(wsi, p, n, LWS_WRITE_BINARY) < (int)n) {
				fprintf(stderr, "sluice-ws: write failed\n");
				return -1;
			}
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	static const char fin[] = "{\"op\":\"fin\"}";
	memcpy(p, fin, sizeof(fin) - 1);
	if (lws_write(wsi, p, sizeof(fin) - 1, LWS_WRITE_TEXT) < (int)sizeof(fin) - 1)
		return -1;
	cl.fin_sent = true;
	return 0;
}

static void
on_connection_error(struct lws *wsi, const char *why, size_t len)
{
	unsigned status = wsi != NULL ? lws_http_client_http_response(wsi) : 0;
	char reason[300] = "";

	if (wsi != NULL && status >= 400 &&
	    lws_hdr_custom_copy(wsi, reason, (int)sizeof(reason), "x-sluice-reason:", 16) < 0)
		reason[0] = '\0';
	if (status >= 400) {
		fprintf(stderr, "sluice-ws: server refused: HTTP %u%s%s\n", status,
			reason[0] != '\0' ? ": " : "", reason);
		if (cl.exit_code < 0)
			cl.exit_code = 1;
	} else {
		fprintf(stderr, "sluice-ws: cannot connect to %s: %.*s\n", cl.url,
			(int)len, why != NULL ? why : "unknown error");
		if (cl.exit_code < 0)
			cl.exit_code = 3;
	}
	cl.wsi = NULL;
	cl.finished = true;
}

static void
on_peer_close(const unsigned char *in, size_t len)
{
	if (len < 2)
		return;
	unsigned code = (unsigned)in[0] << 8 | in[1];
	int rlen = (int)len - 2;

	if (code >= 4000) {
		fprintf(stderr, "sluice-ws: closed by server: %u %.*s\n", code, rlen, (const char *)in + 2);
		if (cl.exit_code < 0)
			cl.exit_code = 1;
	} else if (code != LWS_CLOSE_STATUS_NORMAL) {
		fprintf(stderr, "sluice-ws: closed by server: %u %.*s\n", code, rlen, (const char *)in + 2);
	}
}

static int
callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = (unsigned char **)in, *end = *p + len;
		if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
						 (const unsigned char *)cl.auth, (int)strlen(cl.auth), p, end))
			return -1;
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		on_connection_error(wsi, in, in != NULL ? strlen(in) : 0);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		on_peer_close(in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		cl.wsi = NULL;
		if (cl.exit_code < 0) {
			fprintf(stderr, "sluice-ws: connection to %s lost\n", cl.url);
			cl.exit_code = 3;
		}
		cl.finished = true;
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{ .name = "sluice", .callback = callback },
	{ .name = NULL, .callback = NULL },
};

/* s as a URL query value: unreserved bytes as they are, the rest %XX; cut to fit. */
static void
url_encode(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 <= cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			out[o++] = (char)ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

static bool
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*v = x;
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "tenant", required_argument, NULL, 't' },
		{ "doc", required_argument, NULL, 'd' },
		{ "token", required_argument, NULL, 'k' },
		{ "rev", required_argument, NULL, 'r' },
		{ "from", required_argument, NULL, 'f' },
		{ "resume", no_argument, NULL, 'R' },
		{ "count-summaries", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "acks") == 0) {
		cl.mode = MODE_ACKS;
	} else if (strcmp(argv[1], "ingest") == 0) {
		cl.mode = MODE_INGEST;
	} else {
		fprintf(stderr, "sluice-ws: unknown command '%s': use acks or ingest\n", argv[1]);
		usage(stderr);
		return 2;
	}
	optind = 2;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': cl.url = optarg; break;
		case 't': cl.tenant = optarg; break;
		case 'd': cl.doc = optarg; break;
		case 'k': cl.token = optarg; break;
		case 'f':
			cl.from_arg = optarg;
			break;
		case 'R':
			cl.resume = true;
			break;
		case 'r':
			cl.rev_arg = optarg;
			if (cl.mode == MODE_ACKS)
				break;          /* the server checks it */
			if (!parse_u64(optarg, &cl.rev) || cl.rev == 0) {
				fprintf(stderr, "sluice-ws: --rev '%s': expected a positive integer\n", optarg);
				return 2;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, &v) || v == 0 || v > 1000000000) {
				fprintf(stderr, "sluice-ws: --count-summaries '%s': expected a positive integer\n", optarg);
				return 2;
			}
			cl.count = (long)v;
			break;
		case 'T':
			if (!parse_u64(optarg, &v) || v == 0 || v > 86400 * 365) {
				fprintf(stderr, "sluice-ws: --timeout '%s': expected seconds, a positive integer\n", optarg);
				return 2;
			}
			cl.timeout = (long)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	const char *missing = cl.url == NULL ? "--url" : cl.tenant == NULL ? "--tenant" :
			      cl.doc == NULL ? "--doc" : cl.token == NULL ? "--token" :
			      (cl.mode == MODE_INGEST && cl.rev == 0) ? "--rev" : NULL;
	if (missing != NULL) {
		fprintf(stderr, "sluice-ws: %s is required\n", missing);
		usage(stderr);
		return 2;
	}
	if (cl.mode == MODE_INGEST) {
		if (optind != argc - 1) {
			fprintf(stderr, "sluice-ws: ingest needs exactly one FILE (or - for stdin)\n");
			return 2;
		}
		cl.file = argv[optind];
		cl.in = strcmp(cl.file, "-") == 0 ? stdin : fopen(cl.file, "rb");
		if (cl.in == NULL) {
			fprintf(stderr, "sluice-ws: cannot open %s: %s\n", cl.file, strerror(errno));
			return 2;
		}
	} else if (optind != argc) {
		fprintf(stderr, "sluice-ws: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cl.mode == MODE_INGEST && cl.from_arg != NULL) {
		fprintf(stderr, "sluice-ws: --from is for acks (replay from a line); ingest sends a whole document\n");
		return 2;
	}
	if (cl.mode == MODE_ACKS && cl.rev_arg != NULL && cl.from_arg == NULL) {
		fprintf(stderr, "sluice-ws: --rev needs --from N (the first line to replay)\n");
		return 2;
	}

	/* ws://host:port[/prefix] */
	char urlbuf[512];
	const char *prot, *addr, *prefix;
	int port;
	snprintf(urlbuf, sizeof(urlbuf), "%s", cl.url);
	if (lws_parse_uri(urlbuf, &prot, &addr, &port, &prefix) ||
	    (strcmp(prot, "ws") != 0 && strcmp(prot, "wss") != 0)) {
		fprintf(stderr, "sluice-ws: --url '%s': expected ws://HOST:PORT or wss://HOST:PORT\n", cl.url);
		return 2;
	}
	bool tls = strcmp(prot, "wss") == 0;     /* lws_parse_uri defaulted the port */

	/* lws_parse_uri drops the leading '/' of the path */
	char path[512];
	size_t plen = strlen(prefix);
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	if (cl.mode == MODE_ACKS) {
		char query[200] = "";
		if (cl.from_arg != NULL) {
			char f[80], r[80];
			url_encode(f, sizeof(f), cl.from_arg);
			url_encode(r, sizeof(r), cl.rev_arg != NULL ? cl.rev_arg : "");
			snprintf(query, sizeof(query), "?from=%s%s%s", f, cl.rev_arg != NULL ? "&rev=" : "", r);
		}
		snprintf(path, sizeof(path), "%s%.*s/v1/acks/%s/%s%s", plen ? "/" : "", (int)plen, prefix,
			 cl.tenant, cl.doc, query);
	} else
		snprintf(path, sizeof(path), "%s%.*s/v1/ingest/%s/%s?rev=%" PRIu64 "%s", plen ? "/" : "",
			 (int)plen, prefix, cl.tenant, cl.doc, cl.rev, cl.resume ? "&resume=1" : "");
	snprintf(cl.auth, sizeof(cl.auth), "Bearer %s", cl.token);

	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	if (tls)
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	cl.ctx = lws_create_context(&info);
	if (cl.ctx == NULL) {
		fprintf(stderr, "sluice-ws: cannot create the libwebsockets context\n");
		return 3;
	}

	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.context = cl.ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = path;
	ci.host = addr;
	ci.origin = addr;
	ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	ci.protocol = NULL;        /* the server's only protocol; no header needed */
	ci.pwsi = &cl.wsi;
	if (lws_client_connect_via_info(&ci) == NULL && !cl.finished) {
		fprintf(stderr, "sluice-ws: cannot connect to %s\n", cl.url);
		lws_context_destroy(cl.ctx);
		return 3;
	}
	if (cl.timeout > 0)
		lws_sul_schedule(cl.ctx, 0, &cl.timer, on_timeout, cl.timeout * LWS_US_PER_SEC);

	while (!cl.finished) {
		if (lws_service(cl.ctx, 0) < 0)
			break;
		if (cl.give_up_at != 0 && lws_now_usecs() > cl.give_up_at)
			break;
	}
	lws_sul_cancel(&cl.timer);
	lws_context_destroy(cl.ctx);
	if (cl.in != NULL && cl.in != stdin)
		fclose(cl.in);
	free(cl.msg);
	return cl.exit_code < 0 ? 3 : cl.exit_code;
}
