/*
 * ini.h — a small INI reader that remembers where everything came from.
 *
 * It knows only the syntax: `[section]` headers, `key = value` lines,
 * comments (a line whose first non-blank character is '#' or ';') and
 * blank lines. Surrounding whitespace is trimmed; a value written in
 * double quotes keeps its spaces and '#'/';' characters ("\"" and "\\"
 * escape a quote and a backslash inside quotes). What the sections and
 * keys mean is the caller's business: the reader hands every header and
 * every pair to a callback together with its line number, so the caller
 * can say "sluice.conf:12: [dataplane] udp_port: ..." about any of them.
 *
 * The reader touches no DPDK and allocates only its line buffer.
 */
#ifndef SLUICE_INI_H
#define SLUICE_INI_H

#include <stddef.h>

#define SL_INI_SECTION_MAX 255  /* longest section name, bytes */

/* One event: a section header (key == NULL) or a key = value pair. */
struct sl_ini_item {
	const char *file;         /* the path given to sl_ini_parse */
	unsigned line;            /* 1-based line of this header or pair */
	const char *section;      /* current section name; "" before the first header */
	unsigned section_line;    /* line of the current section's header; 0 before it */
	const char *key;          /* NULL for a section header */
	const char *value;        /* unquoted and trimmed; NULL for a section header */
	size_t value_len;         /* strlen(value); values never contain NUL */
};

/*
 * Called for each item in file order. Return 0 to go on; anything else
 * stops the parse, and sl_ini_parse returns it. A handler that fails
 * writes its own message into err.
 */
typedef int (*sl_ini_handler)(const struct sl_ini_item *item, void *arg,
			      char *err, size_t errlen);

/*
 * Read the file at path and feed it to handler. Returns 0 when the whole
 * file was read, -1 on a syntax or I/O error (one message in err, of the
 * form "<file>:<line>: [<section>]: <problem>; expected <what>"), or the
 * handler's non-zero return value.
 */
int sl_ini_parse(const char *path, sl_ini_handler handler, void *arg,
		 char *err, size_t errlen);

#endif
