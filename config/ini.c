/*
 * ini.c — the INI reader behind sluice.conf (see ini.h for the syntax).
 *
 * Why not DPDK's rte_cfgfile: it does not keep line numbers, so a bad
 * value could not be reported at the line the operator must fix, and it
 * lives inside DPDK while `sluiced --check-config` (and the unit tests)
 * must validate a config before EAL is initialised, or without it at all.
 * The reader is small enough that owning it costs less than working
 * around either limitation.
 *
 * The line is parsed in place: trimming writes NULs into the getline
 * buffer and the item's pointers point into it, so they are valid only
 * for the duration of the callback.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ini.h"

struct ini_parser {
	const char *path;
	unsigned line;
	char section[SL_INI_SECTION_MAX + 1];
	unsigned section_line;
	char *err;
	size_t errlen;
};

/*
 * A syntax error at the current line, in the config.h message format:
 * "<file>:<line>: [<section>] <key>: <problem>; expected <what>", with
 * the section and key left out when there is none.
 */
static int syntax_error(const struct ini_parser *p, const char *key,
			const char *problem, const char *expected)
{
	char where[SL_INI_SECTION_MAX + 4];

	if (p->section[0] != '\0')
		snprintf(where, sizeof(where), "[%s]%s", p->section,
			 key != NULL ? " " : "");
	else
		where[0] = '\0';
	snprintf(p->err, p->errlen, "%s:%u: %s%s%s%s; expected %s",
		 p->path, p->line, where, key != NULL ? key : "",
		 where[0] != '\0' || key != NULL ? ": " : "", problem, expected);
	return -1;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static bool key_char_ok(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '.';
}

/* "[name]" with nothing but blanks after the ']'. */
static int parse_header(struct ini_parser *p, char *s,
			sl_ini_handler handler, void *arg)
{
	/* The previous section ends here; errors below are about the new one. */
	p->section[0] = '\0';
	p->section_line = 0;

	char *close = strchr(s, ']');
	if (close == NULL)
		return syntax_error(p, NULL, "section header without a closing ']'",
				    "[name]");
	char *rest = trim(close + 1);
	if (*rest != '\0')
		return syntax_error(p, NULL, "text after the section header's ']'",
				    "nothing after [name] (comments go on their own line)");
	*close = '\0';
	char *name = trim(s + 1);
	if (*name == '\0')
		return syntax_error(p, NULL, "empty section name", "[name]");
	if (strchr(name, '[') != NULL)
		return syntax_error(p, NULL, "'[' inside a section name", "[name]");
	if (strlen(name) > SL_INI_SECTION_MAX)
		return syntax_error(p, NULL, "section name too long",
				    "at most 255 bytes between [ and ]");

	memcpy(p->section, name, strlen(name) + 1);
	p->section_line = p->line;

	struct sl_ini_item item = {
		.file = p->path,
		.line = p->line,
		.section = p->section,
		.section_line = p->section_line,
	};
	return handler(&item, arg, p->err, p->errlen);
}

/*
 * Strip the quotes off a quoted value, in place. Only \" and \\ are
 * escapes; any other backslash stays as written, so Windows-looking
 * paths or regexes survive.
 */
static int unquote(struct ini_parser *p, const char *key, char *v, size_t *len)
{
	char *out = v;
	const char *in = v + 1;

	for (;;) {
		if (*in == '\0')
			return syntax_error(p, key, "quoted value without a closing '\"'",
					    "\"value\"");
		if (*in == '"')
			break;
		if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
			in++;
		*out++ = *in++;
	}
	/* The value is trimmed, so a closing quote must be the last byte. */
	if (in[1] != '\0')
		return syntax_error(p, key, "text after the closing '\"'",
				    "nothing after a quoted value (comments go on their own line)");
	*out = '\0';
	*len = (size_t)(out - v);
	return 0;
}

static int parse_pair(struct ini_parser *p, char *s,
		      sl_ini_handler handler, void *arg)
{
	char *eq = strchr(s, '=');
	if (eq == NULL)
		return syntax_error(p, NULL, "line is neither a [section], a key = value pair nor a comment",
				    "key = value, [section], or a comment starting with # or ;");
	*eq = '\0';
	char *key = trim(s);
	char *value = trim(eq + 1);

	/* The key is not echoed: on a mangled token line it could hold the secret. */
	if (*key == '\0')
		return syntax_error(p, NULL, "'=' without a key before it", "key = value");
	for (const char *c = key; *c != '\0'; c++)
		if (!key_char_ok(*c))
			return syntax_error(p, NULL, "key name has a character other than letters, digits, '_', '-' or '.'",
					    "key = value");

	size_t len = strlen(value);
	if (value[0] == '"') {
		if (unquote(p, key, value, &len) != 0)
			return -1;
	} else {
		/*
		 * Comments only start a line. An operator who writes
		 * "udp_port = 7878  # SLP" most likely meant a comment, and
		 * silently keeping it as part of the value (think data_dir)
		 * would be worse than asking.
		 */
		for (size_t i = 1; i < len; i++)
			if ((value[i] == '#' || value[i] == ';') &&
			    (value[i - 1] == ' ' || value[i - 1] == '\t')) {
				return syntax_error(p, key, "comment after the value",
						    "the comment on its own line, or the value in double quotes");
			}
	}

	struct sl_ini_item item = {
		.file = p->path,
		.line = p->line,
		.section = p->section,
		.section_line = p->section_line,
		.key = key,
		.value = value,
		.value_len = len,
	};
	return handler(&item, arg, p->err, p->errlen);
}

int sl_ini_parse(const char *path, sl_ini_handler handler, void *arg,
		 char *err, size_t errlen)
{
	struct ini_parser p = {
		.path = path,
		.err = err,
		.errlen = errlen,
	};

	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s; expected a readable config file",
			 path, strerror(errno));
		return -1;
	}

	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;

	while (rc == 0 && (n = getline(&buf, &cap, f)) != -1) {
		p.line++;
		if (strlen(buf) != (size_t)n) {
			rc = syntax_error(&p, NULL, "line contains a NUL byte",
					  "a text file");
			break;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = '\0';

		char *s = buf;
		/* Editors on other systems like to start files with a UTF-8 BOM. */
		if (p.line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
			s += 3;
		s = trim(s);

		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[')
			rc = parse_header(&p, s, handler, arg);
		else
			rc = parse_pair(&p, s, handler, arg);
	}

	/* getline returns -1 both at end of file and on error (EISDIR, EIO). */
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: cannot read: %s; expected a readable config file",
			 path, strerror(errno));
		rc = -1;
	}
	free(buf);
	fclose(f);
	return rc;
}
