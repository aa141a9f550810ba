#!/usr/bin/env python3
"""The results file is what docs/operations.md says it is:

- an empty line (LF LF, CRLF CRLF, a blank line before the end) is a line:
  numbered, processed, ACKed, with one result line, and each processor
  gives it the verdict the "Lines, and empty lines" table promises;
- an ok line of the simulate processor carries the drawn time as its
  detail ("N ms", within simulate_ms), in every mode and distribution;
- the file ends with one summary line: complete (code 0) with the
  document's counts, or failed with the SLP code and its text when the
  uploader leaves before fin.

Documents go in over websocket (sluice-ws, and a raw client for the
uploader that leaves early); the verdicts are read from the results files.

usage: results.py BUILD_DIR SOURCE_DIR
"""
import base64
import json
import os
import re
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BUILD, SRC = sys.argv[1], sys.argv[2]
h.setup_paths(BUILD, SRC)
TOKENS = {t: f"{t}-results-token-0123456789" for t in
          ("csvany", "csvfour", "nd", "topkcol", "topkfld", "tw", "sim", "simspin")}
PER_TENANT = {
    "csvany": "columns = 0\n",
    "csvfour": "columns = 4\n",
    "nd": "processor = ndjson\ncolumns = 0\n",
    "topkcol": "processor = topk\ntopk_column = 2\ncolumns = 0\n",
    "topkfld": "processor = topk\ntopk_field = tags\ncolumns = 0\n",
    "tw": "processor = tweet\ncolumns = 0\n",
    "sim": "processor = simulate\nsimulate_ms = \"5,40\"\ncolumns = 0\n",
    "simspin": "processor = simulate\nsimulate_ms = \"1,3\"\nsimulate_mode = spin\nsimulate_dist = pareto\n"
               "columns = 0\n",
}
JSON_EMPTY = "byte 0: text ended where a value was expected"
TOPK_EMPTY = "not valid JSON at " + JSON_EMPTY
check = h.Checks()


def results(host, tenant, doc, rev=1):
    path = os.path.join(host.data_dir, tenant, doc, f"{rev}.results")
    if not os.path.exists(path):
        return [], None
    with open(path) as f:
        rows = [json.loads(l) for l in f if l.strip()]
    summary = rows[-1] if rows and rows[-1].get("summary") is True else None
    return [r for r in rows if r.get("summary") is not True], summary


def upload(host, tenant, doc, data):
    path = os.path.join(host.work, f"{tenant}-{doc}.in")
    with open(path, "wb") as f:
        f.write(data)
    return h.run([h.tool("client", "sluice-ws"), "ingest", "--url", host.url, "--tenant", tenant, "--doc", doc,
                  "--token", TOKENS[tenant], "--rev", "1", "--timeout", "60", path])


def upload_and_leave(host, tenant, doc, data):
    """A websocket uploader that sends data and disconnects before {"op":"fin"}."""
    s = socket.create_connection(("127.0.0.1", host.ws_port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /v1/ingest/{tenant}/{doc}?rev=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {TOKENS[tenant]}\r\n\r\n").encode())
    got = b""
    while b"\r\n\r\n" not in got:
        b = s.recv(4096)
        if not b:
            break
        got += b
    ok = got.startswith(b"HTTP/1.1 101")
    # wait for {"type":"accepted"} (an unmasked text frame from the server)
    end = time.time() + 10
    while ok and b"accepted" not in got and time.time() < end:
        got += s.recv(4096)
    mask = os.urandom(4)
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    s.sendall(struct.pack("!BBH", 0x82, 0x80 | 126, len(data)) + mask + payload)
    # leave without fin: end our side (the frame goes before it), read until the server hangs up
    s.shutdown(socket.SHUT_WR)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    s.close()
    return ok and b"accepted" in got, got[:300]


def wait_summary(host, tenant, doc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        rows, summary = results(host, tenant, doc)
        if summary is not None:
            return rows, summary
        time.sleep(0.2)
    return results(host, tenant, doc)


def check_doc(tenant, doc, rows, summary, want):
    """want: [(status, reason or None, detail-regex or None, fields or None)] per line."""
    label = f"{tenant}/{doc}"
    check(f"{label}: one result line per line, numbered 1..{len(want)} in order",
          [r.get("line") for r in rows] == list(range(1, len(want) + 1)), json.dumps(rows)[:600])
    for i, (status, reason, detail, fields) in enumerate(want):
        r = rows[i] if i < len(rows) else {}
        good = r.get("status") == status and r.get("reason") == reason
        if detail is not None:
            good = good and re.fullmatch(detail, str(r.get("detail"))) is not None
        else:
            good = good and "detail" not in r if status == "ok" else good
        if fields is not None:
            good = good and r.get("fields") == fields
        check(f"{label}: line {i + 1} is {status}"
              + (f": {reason}" if reason else "") + (f", detail /{detail}/" if detail else "")
              + (f", {fields} fields" if fields is not None else ""), good, json.dumps(r))
    n_err = sum(1 for w in want if w[0] == "error")
    check(f"{label}: the last line is the summary: complete, {len(want)} lines, {n_err} errors, code 0",
          summary == {"summary": True, "lines": len(want), "ok": len(want) - n_err, "errors": n_err,
                      "status": "complete", "code": 0}, json.dumps(summary))


def main():
    share = os.path.abspath(os.path.join(SRC, "share", "sluice"))
    host = h.TestHost("results", TOKENS, per_tenant=PER_TENANT, workers=4,
                      extra_dataplane=f"\n[workers]\nshare_dir = {share}\n")
    try:
        if not host.bring_up(check, "sluiced starts"):
            return

        csv = b"a,b,c,d\n\r\na,b,c,d\n\n"            # line 2 empty (CRLF), line 4 blank before the end
        ndj = b'{"tags":["x"]}\n\n{"tags":["y"]}\n\n'
        with open(os.path.join(SRC, "tests", "fixtures", "tweets.ndjson"), "rb") as f:
            tweet = f.readline().rstrip(b"\n")
        tw = tweet + b"\n\n" + tweet + b"\r\n\r\n"
        sim = b"x\n\ny\n\n"
        docs = {
            "csvany": (csv, [("ok", None, None, 4), ("ok", None, None, 1), ("ok", None, None, 4),
                             ("ok", None, None, 1)]),
            "csvfour": (csv, [("ok", None, None, 4), ("error", "columns", "expected 4 columns, got 1", None),
                              ("ok", None, None, 4), ("error", "columns", "expected 4 columns, got 1", None)]),
            "nd": (ndj, [("ok", None, None, 1), ("error", "json", JSON_EMPTY, None), ("ok", None, None, 1),
                         ("error", "json", JSON_EMPTY, None)]),
            "topkcol": (csv, [("ok", None, None, 1), ("ok", None, None, 0), ("ok", None, None, 1),
                              ("ok", None, None, 0)]),
            "topkfld": (ndj, [("ok", None, None, 1), ("error", "json", TOPK_EMPTY, None), ("ok", None, None, 1),
                              ("error", "json", TOPK_EMPTY, None)]),
            "tw": (tw, [("ok", None, None, None), ("error", "json", JSON_EMPTY, None), ("ok", None, None, None),
                        ("error", "json", JSON_EMPTY, None)]),
            "sim": (sim, [("ok", None, r"([5-9]|[1-3][0-9]|40) ms", 0)] * 4),
            "simspin": (sim, [("ok", None, r"[1-3] ms", 0)] * 4),
        }
        for tenant, (data, want) in docs.items():
            r = upload(host, tenant, "empties", data)
            check(f"{tenant}: upload with empty lines completes with {len(want)} lines",
                  r.returncode == 0 and f'"lines":{len(want)}' in r.stdout, r.stdout + r.stderr)
            rows, summary = wait_summary(host, tenant, "empties")
            check_doc(tenant, "empties", rows, summary, want)

        # --- an uploader that leaves before fin: the summary says failed, with the code and its text ---
        ok, got = upload_and_leave(host, "csvany", "left", b"1,2\n3,4\n5")
        check("raw uploader is accepted", ok, repr(got))
        rows, summary = wait_summary(host, "csvany", "left")
        check("left before fin: every byte received is processed (3 lines, the partial last one too)",
              [r.get("line") for r in rows] == [1, 2, 3], json.dumps(rows))
        check("left before fin: the summary line says failed, with the counts, the SLP code and its text",
              summary is not None and summary.get("status") == "failed" and summary.get("lines") == 3
              and summary.get("ok") == 3 and summary.get("errors") == 0 and summary.get("code") == 8
              and "length" in summary.get("reason", ""), json.dumps(summary))

        rc = host.stop()
        check("sluiced stops cleanly", rc == 0, f"rc={rc}")
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
