#!/usr/bin/env python3
"""The operator docs name everything the code accepts or says.

- every key of config/config.c's two key tables (global_keys: the
  [dataplane], [control], [storage] and [workers] keys; tenant_keys: the
  [tenant.<name>] keys) has a row in its section's table in
  docs/operations.md, and appears in config/sluice.conf.example (set, or
  commented out, in its section; tenant keys in the tenant comment block);
- every line result reason of dataplane/reason.c has a row in the reason
  table of docs/websocket.md.

The tables are read from the C source, so a key or reason added without its
documentation fails here, naming it.

usage: docs_check.py SOURCE_DIR
"""
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SLUICE_SRC", ".")
failures = []


def read(rel):
    with open(os.path.join(SRC, rel), encoding="utf-8") as f:
        return f.read()


def check(cond, what):
    if not cond:
        failures.append(what)


def config_keys():
    """[(section, key)] in the order of config.c's tables."""
    text = read("config/config.c")
    keys = re.findall(r'\{\s*SEC_(DATAPLANE|CONTROL|STORAGE|WORKERS|TENANT),\s*"([a-z0-9_]+)"', text)
    # the tables must be where we think they are: a parser that finds nothing proves nothing
    check(len(keys) >= 40, f"config/config.c: found only {len(keys)} keys in the key tables: "
          "has the table format changed? update tests/unit/docs_check.py")
    return [(sec.lower(), key) for sec, key in keys]


def md_section(text, heading):
    """The text from a '### heading' line to the next heading of level <= 3."""
    m = re.search(r"^### " + re.escape(heading) + r"\s*$", text, re.M)
    if m is None:
        return None
    rest = text[m.end():]
    n = re.search(r"^#{1,3} ", rest, re.M)
    return rest[: n.start()] if n else rest


def ini_section(text, name):
    """The example's lines from [name] to the next section header."""
    m = re.search(r"^\[" + re.escape(name) + r"\]\s*$", text, re.M)
    if m is None:
        return None
    rest = text[m.end():]
    n = re.search(r"^\[", rest, re.M)
    return rest[: n.start()] if n else rest


def check_config():
    ops = read("docs/operations.md")
    example = read("config/sluice.conf.example")
    for sec, key in config_keys():
        heading = "`[tenant.<name>]`" if sec == "tenant" else f"`[{sec}]`"
        table = md_section(ops, heading)
        check(table is not None, f"docs/operations.md: no section '### {heading}'")
        if table is not None:
            check(re.search(r"^\| `" + re.escape(key) + r"` \|", table, re.M) is not None,
                  f"docs/operations.md: [{sec}] {key} has no row in the '### {heading}' table")
        if sec == "tenant":
            # documented in the comment block before the first [tenant.*] section
            ok = re.search(r"^#\s+" + re.escape(key) + r"\s", example, re.M) is not None
            check(ok, f"config/sluice.conf.example: tenant key {key} is not described "
                  "in the [tenant.<name>] comment block ('#   " + key + "  ...')")
        else:
            part = ini_section(example, sec)
            check(part is not None, f"config/sluice.conf.example: no [{sec}] section")
            if part is not None:
                ok = re.search(r"^[#;]?\s*" + re.escape(key) + r"\s*=", part, re.M) is not None
                check(ok, f"config/sluice.conf.example: [{sec}] {key} is missing "
                      f"(set it, or show it commented out: '# {key} = ...')")


def check_reasons():
    names = re.findall(r'\[SL_R_[A-Z_]+\]\s*=\s*"([a-z_]+)"', read("dataplane/reason.c"))
    check(len(names) >= 10, f"dataplane/reason.c: found only {len(names)} reason names: "
          "has the table format changed? update tests/unit/docs_check.py")
    ws = read("docs/websocket.md")
    for name in names:
        if name == "ok":
            continue        # SL_R_NONE: not an error reason
        check(re.search(r"^\| `" + re.escape(name) + r"` \|", ws, re.M) is not None,
              f"docs/websocket.md: reason '{name}' (dataplane/reason.c) has no row in the reason table")


check_config()
check_reasons()
for f in failures:
    print("FAIL " + f)
print(f"{len(failures)} undocumented" if failures else "ok   every config key and reason is documented")
sys.exit(1 if failures else 0)
