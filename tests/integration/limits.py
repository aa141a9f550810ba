#!/usr/bin/env python3
"""Sizes and limits, through the whole appliance.

1. Long lines, big records: lines of 16,383 bytes and of max_line_bytes
   (30720) whose every byte escapes the long way (6 bytes each) go through
   csv with a schema, ndjson, tweet, an external processor (the example)
   and an external processor that returns PENDING (its records are staged
   and placed by the worker): every line is ACKed ok once, and its record
   is whole in the output file.
2. pending_timeout_ms: a line whose long work never completes (the test
   processor loses its cookie) is ACKed error "timeout"; the document
   completes.
3. max_document_mb on websocket ingest: an upload that passes it is
   refused (error 413), the lines before the limit are ACKed, the
   document's summary says failed (TOO_LARGE), a counter says so; an
   uploader that keeps sending is closed with 4413; an upload under the
   limit still completes.
4. held_max_mb: with a line that never returns and a long timeout, the
   document's later results pile up in persistence; past the bound the
   document fails (summary, SLP DONE 14) with the missing lines ACKed as
   errors "no_result", each line exactly once, while another document
   sent at the same time completes untouched; sluiced still stops (pending
   lines are left after a grace period).

usage: limits.py BUILD_DIR SOURCE_DIR
"""
import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BUILD, SRC = sys.argv[1], sys.argv[2]
h.setup_paths(BUILD, SRC)
check = h.Checks()
MAX_LINE = 30720
UPPER = os.path.abspath(os.path.join(BUILD, "dataplane", "external", "sluice-proc-upper.so"))
PENDING = os.path.abspath(os.path.join(BUILD, "tests", "unit", "sluice-proc-pending.so"))
SHARE = os.path.abspath(os.path.join(SRC, "share", "sluice"))


def write(host, name, data):
    path = os.path.join(host.work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def send(host, tenant, doc, path, rev=1, timeout=180):
    try:
        return h.run(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant,
                                 "--token", host.tokens[tenant], "--doc", doc, "--rev", str(rev),
                                 "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", path]), timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([], None, "", f"sluice-send did not finish within {timeout} s")


def records(host, tenant, doc, stream):
    return {r["line"]: r["record"] for r in h.read_results(os.path.join(host.data_dir, tenant, doc, f"1.{stream}"))}


def metrics(host):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{host.ws_port}/metrics", timeout=10) as r:
            return r.read().decode()
    except OSError as e:
        return f"unreachable: {e}"


def metric_sum(text, name):
    total = 0
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def doc_over_sub(host, tenant, doc, path, label, expect):
    """Send path over SLP with a subscriber; check ACKs (exactly once, statuses) and the results file."""
    sub = h.Subscriber(host, tenant, doc, 1)
    sub.wait_subscribed()
    r = send(host, tenant, doc, path)
    check(f"{label}: sent", r.returncode == 0, r.stdout + r.stderr)
    sub.wait(timeout=60)
    h.check_doc_acks(check, label, sub, tenant, doc, 1, expect)
    h.check_results_file(check, label, host.data_dir, tenant, doc, 1, expect)


# ---- 1. long lines, big records ------------------------------------------------------------------

def big_records(host):
    # csv with schema "id:int, note:string"
    notes = {1: "hello", 2: "a" * 16381, 3: "\x01" * (MAX_LINE - 2), 4: "\"" * ((MAX_LINE - 4) // 2),
             5: "b" * 16000, 6: "x\ny" * ((MAX_LINE - 4) // 3)}
    out = []
    for i in range(1, 7):
        n = notes[i]
        if '"' in n or "\n" in n:
            out.append(f'{i},"' + n.replace('"', '""') + '"')
        else:
            out.append(f"{i},{n}")
    for i in range(7, 207):
        notes[i] = f"short {i}"
        out.append(f"{i},short {i}")
    lines = [l.encode("latin-1") for l in out]
    check("csv: line 2 is 16,383 bytes and lines 3, 4 are max_line_bytes",
          len(lines[1]) == 16383 and len(lines[2]) == MAX_LINE and len(lines[3]) == MAX_LINE,
          str([len(l) for l in lines[:6]]))
    path = write(host, "schema.csv", b"\n".join(lines) + b"\n")
    expect = {i: "ok" for i in notes}
    doc_over_sub(host, "schema", "long", path, "csv schema, long lines", expect)
    recs = records(host, "schema", "long", "records")
    bad = [i for i in notes if recs.get(i) != {"id": i, "note": notes[i]}]
    check("csv schema: every record whole (16,383 bytes; max_line_bytes of control bytes, of quotes, "
          "of newlines)", not bad, f"bad lines {bad[:5]}: " + str({i: str(recs.get(i))[:80] for i in bad[:3]}))

    # ndjson: a long object is re-emitted whole
    objs = {1: {"k": "v"}, 2: {"k": "z" * (MAX_LINE - 20), "n": 1}, 3: {"a": ["q" * 9000, "r" * 9000], "b": True}}
    path = write(host, "long.ndjson", b"".join(json.dumps(o, separators=(", ", ": ")).encode() + b"\n"
                                              for o in objs.values()))
    doc_over_sub(host, "nd", "long", path, "ndjson, long objects", {i: "ok" for i in objs})
    recs = records(host, "nd", "long", "records")
    check("ndjson: every record whole", all(recs.get(i) == o for i, o in objs.items()),
          str({i: str(r)[:60] for i, r in recs.items()}))

    # tweet: a very long screen name and long ids
    name = "n" * 20000
    tw = {"id_str": "9" * 300, "text": "love it", "user": {"id_str": "7" * 200, "screen_name": name,
                                                           "followers_count": 3},
          "favorite_count": 1, "retweet_count": 2}
    path = write(host, "long.ndjson", (json.dumps(tw) + "\n" + json.dumps(dict(tw, id_str="5")) + "\n").encode())
    doc_over_sub(host, "tw", "long", path, "tweet, long screen name and ids", {1: "ok", 2: "ok"})
    users = records(host, "tw", "long", "users")
    tweets = records(host, "tw", "long", "tweets")
    check("tweet: the long records whole", users.get(1, {}).get("screen_name") == name and
          tweets.get(1, {}).get("id") == "9" * 300 and tweets.get(1, {}).get("user") == "7" * 200,
          str(users.get(1))[:100] + str(tweets.get(1))[:100])

    # the example external processor: a line of control bytes, upper-cased and escaped
    ups = {1: "small", 2: "\x02" * MAX_LINE, 3: "mixed\x03" * 3000}
    path = write(host, "up.csv", b"\n".join(v.encode() for v in ups.values()) + b"\n")
    doc_over_sub(host, "up", "long", path, "external processor, long lines", {i: "ok" for i in ups})
    recs = records(host, "up", "long", "upper")
    check("external processor: every record whole", all(recs.get(i) == {"line": v.upper()} for i, v in ups.items()),
          str({i: str(r)[:60] for i, r in recs.items()}))

    # an external processor that returns PENDING: records staged, then placed (large batches)
    pend = {i: f"line {i}" for i in range(1, 301)}
    pend[5] = "\x01" * MAX_LINE
    pend[6] = "y" * 20000
    pend[150] = "\x04" * MAX_LINE
    path = write(host, "pend.csv", b"\n".join(v.encode() for v in pend.values()) + b"\n")
    doc_over_sub(host, "pend", "long", path, "pending processor, long lines", {i: "ok" for i in pend})
    recs = records(host, "pend", "long", "echo")
    bad = [i for i, v in pend.items() if recs.get(i) != {"line": v}]
    check("pending processor: every record whole", not bad, f"bad lines {bad[:5]}")
    _, lc = host.sluicectl("lcores")
    large = sum(v.get("large_results", 0) for k, v in lc.items() if k.startswith("worker"))
    check("sluicectl lcores: large result batches were used", large >= 5, json.dumps(lc)[:600])
    check("/metrics: sluice_worker_large_results_total", metric_sum(metrics(host), "sluice_worker_large_results_total")
          == large)


# ---- 2. pending_timeout_ms ----------------------------------------------------------------------------

def pending_timeout(host):
    lines = {i: f"line {i}" for i in range(1, 201)}
    lines[77] = "this one is #LOSE# forever"
    path = write(host, "lose.csv", b"\n".join(v.encode() for v in lines.values()) + b"\n")
    expect = {i: "ok" for i in lines}
    expect[77] = "error"
    doc_over_sub(host, "pend", "lose", path, "a lost line", expect)
    res = {r["line"]: r for r in h.read_results(os.path.join(host.data_dir, "pend", "lose", "1.results"))}
    r77 = res.get(77, {})
    check("the lost line's error names the timeout", r77.get("reason") == "timeout" and
          "pending_timeout_ms" in r77.get("detail", "") and "1000 ms" in r77.get("detail", ""), json.dumps(r77))
    _, lc = host.sluicectl("lcores")
    n = sum(v.get("pending_timeouts", 0) for k, v in lc.items() if k.startswith("worker"))
    check("sluicectl lcores: pending_timeouts counts it", n == 1, json.dumps(lc)[:600])
    check("/metrics: sluice_worker_pending_timeouts_total", metric_sum(metrics(host),
                                                                       "sluice_worker_pending_timeouts_total") == 1)


# ---- 3. max_document_mb on websocket ingest ----------------------------------------------------------

def raw_upload(host, tenant, doc, data, wait_s=20):
    """A websocket uploader that never closes by itself: send data as 16 KiB binary frames, then
    read until the server closes. Returns (text messages, close code or None)."""
    s = socket.create_connection(("127.0.0.1", host.ws_port), timeout=wait_s)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /v1/ingest/{tenant}/{doc}?rev=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Authorization: Bearer {host.tokens[tenant]}\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return [], None
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        return [head.decode(errors="replace")], None
    try:
        for off in range(0, len(data), 16384):
            part, mask = data[off:off + 16384], os.urandom(4)
            hdr = bytes([0x82, 0x80 | 126]) + struct.pack("!H", len(part)) if len(part) < 65536 else None
            s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(part)))
    except OSError:
        pass                            # the server may close while we still send: read what it said
    texts, code, end = [], None, time.time() + wait_s
    while time.time() < end:
        while len(buf) >= 2:
            op, n, at = buf[0] & 0x0f, buf[1] & 0x7f, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, at = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, at = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < at + n:
                break
            payload, buf = buf[at:at + n], buf[at + n:]
            if op == 1:
                texts.append(json.loads(payload))
            elif op == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                s.close()
                return texts, code
        try:
            chunk = s.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    s.close()
    return texts, code


def ws_too_large(host):
    # 1 MiB limit; about 1.5 MiB of 4-column lines
    rows = [f"{i},item-{i:06d},{i * 3},padding-padding-padding\n" for i in range(1, 40001)]
    data = "".join(rows).encode()
    check("the upload is larger than 1 MiB", len(data) > (1 << 20) + 100000, str(len(data)))
    path = write(host, "big.csv", data)
    sub = h.Subscriber(host, "small", "big", 1)
    sub.wait_subscribed()
    out = os.path.join(host.work, "ingest-big.out")
    err = os.path.join(host.work, "ingest-big.err")
    p = host.popen([h.tool("client", "sluice-ws"), "ingest", "--url", host.url, "--tenant", "small", "--doc", "big",
                    "--token", host.tokens["small"], "--rev", "1", "--timeout", "60", path],
                   stdout=open(out, "w"), stderr=open(err, "w"))
    rc = p.wait(timeout=90)
    msgs = [json.loads(l) for l in open(out) if l.strip()]
    errs = [m for m in msgs if m.get("type") == "error"]
    check("the upload is refused: exit 1", rc == 1, f"rc {rc}: {open(err).read()}")
    check("error 413 names max_document_mb and the tenant", len(errs) == 1 and errs[0].get("code") == 413 and
          "max_document_mb" in errs[0].get("reason", "") and "small" in errs[0].get("reason", "") and
          "1 MiB" in errs[0].get("reason", ""), json.dumps(msgs)[:600])
    sub.wait(timeout=60)
    ms = sub.messages()
    summ = [m for m in ms if m.get("type") == "summary"]
    check("subscribers get one summary: failed, too large", len(summ) == 1 and summ[0].get("status") == "failed"
          and "max_document" in summ[0].get("reason", ""), json.dumps(summ))
    n = summ[0].get("lines", 0) if summ else 0
    seen = h.ack_coverage(ms, "small", "big", 1)
    # as on SLP, the bytes before the limit are the document: its last line may be cut (then an error)
    check("the lines before the limit are ACKed, exactly once, ok but maybe the cut last one",
          1000 < n < len(rows) and sorted(seen) == list(range(1, n + 1)) and
          all(v == ["ok"] for l, v in seen.items() if l < n) and len(seen.get(n, [])) == 1,
          f"{n} lines in the summary, {len(seen)} ACKed")
    # an uploader that does not close on the error is closed by the server, with 4413
    texts, code = raw_upload(host, "small", "big-raw", data)
    check("an uploader that keeps sending after the error is closed with 4413",
          code == 4413 and any(t.get("type") == "error" and t.get("code") == 413 for t in texts),
          f"close {code}, messages {json.dumps(texts)[:400]}")
    _, st = host.sluicectl("raw /sluice/status")
    check("sluicectl status: ws.ingest_too_large is 2", st.get("ws", {}).get("ingest_too_large") == 2,
          json.dumps(st.get("ws")))
    check("/metrics: sluice_ws_ingest_too_large_total 2",
          metric_sum(metrics(host), "sluice_ws_ingest_too_large_total") == 2)

    # under the limit: a whole document still goes through
    path = write(host, "fits.csv", "".join(rows[:1000]).encode())
    r = h.run([h.tool("client", "sluice-ws"), "ingest", "--url", host.url, "--tenant", "small", "--doc", "fits",
               "--token", host.tokens["small"], "--rev", "1", "--timeout", "60", path], timeout=90)
    done = [json.loads(l) for l in r.stdout.splitlines() if '"done"' in l]
    check("an upload under max_document_mb completes", r.returncode == 0 and len(done) == 1 and
          done[0].get("status") == "complete" and done[0].get("lines") == 1000, r.stdout + r.stderr)


def main_a():
    tokens = {"schema": "schema-limits-token-0123456789", "nd": "ndjson-limits-token-0123456789",
              "tw": "tweet-limits-token-0123456789", "up": "upper-limits-token-0123456789",
              "pend": "pending-limits-token-0123456789", "small": "small-limits-token-0123456789"}
    per = {"schema": "schema = \"id:int, note:string\"\ncolumns = 2\n",
           "nd": "processor = ndjson\ncolumns = 0\n",
           "tw": "processor = tweet\ncolumns = 0\n",
           "up": f"processor = {UPPER}\ncolumns = 0\n",
           "pend": f"processor = {PENDING}\ncolumns = 0\n",
           "small": "max_document_mb = 1\n"}
    host = h.TestHost("limits", tokens, workers=2, per_tenant=per,
                      extra_dataplane=f"max_line_bytes = {MAX_LINE}\n[workers]\nshare_dir = {SHARE}\n"
                                      "pending_timeout_ms = 1000\n")
    try:
        r = host.net_up()
        if not check("test host namespace created", r.returncode == 0, r.stderr):
            return
        if not check("sluiced starts (max_line_bytes 30720, pending_timeout_ms 1000)", host.start(),
                     host.log()[-3000:]):
            return
        parts = os.environ.get("LIMITS_PARTS", "records,timeout,ws").split(",")
        if "records" in parts:
            big_records(host)
        if "timeout" in parts:
            pending_timeout(host)
        if "ws" in parts:
            ws_too_large(host)
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


# ---- 4. held_max_mb -----------------------------------------------------------------------------------

def main_b():
    tokens = {"pend": "pending-held-token-0123456789", "other": "other-held-token-0123456789"}
    per = {"pend": f"processor = {PENDING}\ncolumns = 0\n"}
    # one worker: its batches finish in line order, so the only line missing is the lost one's batch
    host = h.TestHost("held", tokens, workers=1, per_tenant=per,
                      extra_dataplane="batches = 256\n[workers]\npending_timeout_ms = 3600000\n",
                      extra_storage="held_max_mb = 1\n")
    try:
        r = host.net_up()
        if not check("test host namespace created", r.returncode == 0, r.stderr):
            return
        if not check("sluiced starts (batches 256, held_max_mb 1, pending_timeout_ms 1 h)", host.start(),
                     host.log()[-3000:]):
            return
        # the result pool (4 x 256) runs below a quarter free after ~770 held batches, then ~1 MiB of
        # copies: about 950 batches of up to 64 lines; 150000 lines leave a wide margin
        n_lines = 150000
        body = ["#LOSE# line 1"] + [f"l{i}" for i in range(2, n_lines + 1)]
        stuck = write(host, "stuck.csv", ("\n".join(body) + "\n").encode())
        other_doc, other_expect = h.make_doc(5, 20000)
        other = write(host, "other.csv", other_doc)
        sub_s = h.Subscriber(host, "pend", "stuck", 1)
        sub_o = h.Subscriber(host, "other", "fine", 1)
        sub_s.wait_subscribed()
        sub_o.wait_subscribed()
        ps = host.popen(host.in_ns([h.tool("client", "sluice-send"), "--tenant", "pend", "--token", tokens["pend"],
                                    "--doc", "stuck", "--rev", "1", "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}",
                                    "--timeout-ms", "120000", stuck]),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        po = host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", "other", "--token",
                                    tokens["other"], "--doc", "fine", "--rev", "1", "--to",
                                    f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "120000", other]),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out_s, err_s = ps.communicate(timeout=200)
        except subprocess.TimeoutExpired:
            ps.kill()
            out_s, err_s = ps.communicate()
        try:
            out_o, err_o = po.communicate(timeout=200)
        except subprocess.TimeoutExpired:
            po.kill()
            out_o, err_o = po.communicate()
        check("the stuck document's sender is told it failed (DONE 14, held_max_mb)",
              ps.returncode != 0 and "held_max_mb" in out_s + err_s, f"rc {ps.returncode}: {out_s}{err_s}")
        check("the other document's sender completes", po.returncode == 0, out_o + err_o)
        sub_s.wait(timeout=60)
        sub_o.wait(timeout=60)

        ms = sub_s.messages()
        seen = h.ack_coverage(ms, "pend", "stuck", 1)
        summ = [m for m in ms if m.get("type") == "summary"]
        check("stuck: every line ACKed exactly once", sorted(seen) == list(range(1, n_lines + 1)) and
              all(len(v) == 1 for v in seen.values()), f"{len(seen)} lines ACKed")
        errors = sorted(l for l, v in seen.items() if v == ["error"])
        check("stuck: line 1 is an error, and the errors are the first lines", errors[:1] == [1] and
              errors == list(range(1, len(errors) + 1)) and len(errors) <= 64, str(errors[:10]))
        check("stuck: one summary, failed, naming held_max_mb", len(summ) == 1 and summ[0].get("status") == "failed"
              and "held_max_mb" in summ[0].get("reason", "") and summ[0].get("errors") == len(errors)
              and summ[0].get("lines") == n_lines, json.dumps(summ))
        res = h.read_results(os.path.join(host.data_dir, "pend", "stuck", "1.results"))
        check("stuck: results file in line order, one per line", [r["line"] for r in res] == list(range(1, n_lines + 1)))
        err_res = [r for r in res if r["status"] == "error"]
        check("stuck: the missing lines are 'no_result', saying why", err_res and
              all(r.get("reason") == "no_result" and "held_max_mb" in r.get("detail", "") for r in err_res),
              json.dumps(err_res[:2]))
        h.check_doc_acks(check, "other document", sub_o, "other", "fine", 1, other_expect)
        h.check_results_file(check, "other document", host.data_dir, "other", "fine", 1, other_expect)
        _, st = host.sluicectl("raw /sluice/status")
        ps_ = st.get("persist", {})
        check("sluicectl status: a document given up, its lines counted, copies were held",
              ps_.get("docs_given_up") == 1 and ps_.get("lines_given_up") == len(errors) and
              ps_.get("held_copies", 0) > 0, json.dumps(ps_))
        m = metrics(host)
        check("/metrics: sluice_persist_docs_given_up_total 1, held bytes back under the bound",
              metric_sum(m, "sluice_persist_docs_given_up_total") == 1 and
              metric_sum(m, "sluice_persist_held_bytes") <= (1 << 20))
        check("sluiced stops with a line still pending (after its grace period)", host.stop(timeout=60) == 0)
        check("the stop says which lines were left pending", "still pending" in host.log(), host.log()[-1500:])
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    which = os.environ.get("LIMITS_ONLY", "ab")
    if "a" in which:
        main_a()
    if "b" in which:
        main_b()
    sys.exit(check.summary())
