#!/usr/bin/env python3
"""ACK replay: /v1/acks/<tenant>/<doc>?from=N[&rev=R] first sends the ACKs
of lines >= N read back from the revision's results file, then live ones.

A finished document (with error lines) replayed from line 1 and from the
middle: exactly one ACK per line >= N, the statuses and error messages
the live subscriber saw, one summary. A large document subscribed to
while it is being sent: replay and live together cover every line
exactly once, in line order. Refusals of bad from/rev/keys (HTTP 400,
through sluice-ws's exit status and message), and the replay counter in
/metrics.

usage: replay.py BUILD_DIR SOURCE_DIR
"""
import http.client
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"acme": "acme-replay-token-0123456789"}
check = h.Checks()


class ReplaySub:
    """sluice-ws acks with --from/--rev, writing its messages to a file."""

    def __init__(self, host, doc, name, frm=None, rev=None, summaries=1, timeout=120):
        self.path = os.path.join(host.work, f"replay-{name}.out")
        self.err = os.path.join(host.work, f"replay-{name}.err")
        cmd = [h.tool("client", "sluice-ws"), "acks", "--url", host.url, "--tenant", "acme", "--doc", doc,
               "--token", TOKENS["acme"], "--timeout", str(timeout)]
        if frm is not None:
            cmd += ["--from", str(frm)]
        if rev is not None:
            cmd += ["--rev", str(rev)]
        if summaries:
            cmd += ["--count-summaries", str(summaries)]
        self.p = host.popen(cmd, stdout=open(self.path, "w"), stderr=open(self.err, "w"))

    def wait(self, timeout=120):
        try:
            return self.p.wait(timeout=timeout)
        except Exception:  # noqa: BLE001 - a stuck client is a failure, not a crash
            self.p.kill()
            return None

    def messages(self):
        out = []
        with open(self.path) as f:
            for line in f:
                if line.strip():
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        out.append({"type": "unparsable", "text": line})
        return out

    def stderr(self):
        with open(self.err) as f:
            return f.read()


def acks_of(msgs, doc, rev=1):
    return [m for m in msgs if m.get("type") == "ack" and m.get("doc") == doc and m.get("rev") == rev]


def check_replay(label, msgs, doc, expect, first, rev=1):
    """Lines first.. each exactly once, in line order, statuses right, one summary last."""
    acks = acks_of(msgs, doc, rev)
    want = {l: s for l, s in expect.items() if l >= first}
    seen = {}
    for m in acks:
        for l in range(m["from"], m["to"] + 1):
            seen.setdefault(l, []).append(m["status"])
    dup = [l for l, s in seen.items() if len(s) != 1]
    missing = [l for l in want if l not in seen]
    extra = [l for l in seen if l not in want]
    check(f"{label}: every line >= {first} ACKed exactly once, no other",
          not dup and not missing and not extra, f"dup={dup[:5]} missing={missing[:5]} extra={extra[:5]}")
    wrong = [l for l in want if l in seen and seen[l][0] != want[l]]
    check(f"{label}: statuses match", not wrong, f"wrong={wrong[:5]}")
    ordered = all(a["to"] + 1 == b["from"] for a, b in zip(acks, acks[1:])) and \
        (not acks or acks[0]["from"] == first)
    check(f"{label}: ACKs in line order, contiguous from {first}", ordered,
          json.dumps([(m["from"], m["to"]) for m in acks][:20]))
    summ = [m for m in msgs if m.get("type") == "summary" and m.get("doc") == doc and m.get("rev") == rev]
    n_err = sum(1 for v in expect.values() if v == "error")
    check(f"{label}: one summary, last, with the document's counts",
          len(summ) == 1 and msgs[-1] is summ[0] and summ[0].get("lines") == len(expect)
          and summ[0].get("errors") == n_err and summ[0].get("ok") == len(expect) - n_err
          and summ[0].get("status") == "complete", json.dumps(summ)[:400])


def results_lines(host, doc, rev=1):
    try:
        with open(os.path.join(host.data_dir, "acme", doc, f"{rev}.results")) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def http_get(port, path, token):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, body


def metric(port, name):
    status, body = http_get(port, "/metrics", "")
    for line in body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def main():
    host = h.TestHost("replay", TOKENS)
    try:
        if not host.bring_up(check, "sluiced starts"):
            return

        # --- a finished document ------------------------------------------------------
        docs = {"done": h.make_doc(3, 3000, bad_every=97, multiline_every=211)}
        expect = docs["done"][1]
        subs, senders = h.start_documents(host, "acme", docs)
        h.finish_documents(check, host, "acme", docs, subs, senders, "(live reference)", results=False)
        live = subs["done"].messages()
        live_errors = sorted(json.dumps(m, sort_keys=True) for m in acks_of(live, "done")
                             if m["status"] == "error")

        s = ReplaySub(host, "done", "from1", frm=1)
        rc = s.wait()
        msgs = s.messages()
        check("from=1: sluice-ws exits 0 after the summary", rc == 0, s.stderr())
        check("from=1: greeted with from and rev",
              bool(msgs) and msgs[0] == {"type": "subscribed", "tenant": "acme", "doc": "done", "from": 1, "rev": 1},
              json.dumps(msgs[:1]))
        check_replay("from=1 (finished)", msgs, "done", expect, 1)
        rep_errors = sorted(json.dumps(m, sort_keys=True) for m in acks_of(msgs, "done") if m["status"] == "error")
        check("from=1: error ACKs are the very messages live sent", rep_errors == live_errors,
              f"{rep_errors[:2]} vs {live_errors[:2]}")

        for frm in (1234, 3000):
            s = ReplaySub(host, "done", f"from{frm}", frm=frm, rev=1)
            rc = s.wait()
            check(f"from={frm}&rev=1: sluice-ws exits 0", rc == 0, s.stderr())
            check_replay(f"from={frm}&rev=1 (finished)", s.messages(), "done", expect, frm)

        s = ReplaySub(host, "done", "beyond", frm=5000)
        rc = s.wait()
        msgs = s.messages()
        check("from beyond the last line: only the summary",
              rc == 0 and not acks_of(msgs, "done") and [m["type"] for m in msgs] == ["subscribed", "summary"],
              json.dumps(msgs)[:300])

        s = ReplaySub(host, "done", "norev", frm=1, rev=9, summaries=0, timeout=5)
        rc = s.wait()
        msgs = s.messages()
        check("a revision without results file: greeting only, subscription stays live",
              rc == 0 and [m.get("type") for m in msgs] == ["subscribed"] and msgs[0].get("rev") == 9,
              json.dumps(msgs)[:300] + s.stderr())
        s = ReplaySub(host, "never-sent", "nodoc", frm=1, summaries=0, timeout=5)
        rc = s.wait()
        msgs = s.messages()
        check("a document never sent: rev 0, greeting only",
              rc == 0 and [m.get("type") for m in msgs] == ["subscribed"] and msgs[0].get("rev") == 0,
              json.dumps(msgs)[:300] + s.stderr())
        s = ReplaySub(host, "done", "live", summaries=0, timeout=5)
        s.wait()
        msgs = s.messages()
        check("without from: live only, greeting unchanged",
              msgs == [{"type": "subscribed", "tenant": "acme", "doc": "done"}], json.dumps(msgs)[:300])

        # --- subscribing while a large document is being sent (SLP) --------------------
        big = h.make_doc(7, 400000, bad_every=1009, width=8)
        path = os.path.join(host.work, "big.csv")
        with open(path, "wb") as f:
            f.write(big[0])
        sender = host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", "acme",
                                        "--token", TOKENS["acme"], "--doc", "big", "--rev", "1",
                                        "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "240000", path]),
                            stdout=open(os.path.join(host.work, "big.send"), "w"), stderr=subprocess.STDOUT)
        end = time.time() + 60
        while time.time() < end and results_lines(host, "big") < 1000 and sender.poll() is None:
            time.sleep(0.005)
        # how far it got is up to the machine; the paced upload below is the strict case
        print(f"# SLP subscriber joined at {results_lines(host, 'big')} result lines, "
              f"sender {'running' if sender.poll() is None else 'done'}", flush=True)
        slp_sub = ReplaySub(host, "big", "slp-mid", frm=1, timeout=240)
        try:
            rc = sender.wait(timeout=240)
        except subprocess.TimeoutExpired:
            sender.kill()
            rc = None
        check("the large document is sent over SLP", rc == 0, f"rc={rc}")
        rc = slp_sub.wait(timeout=120)
        check("SLP mid-flight (from=1): sluice-ws exits 0", rc == 0, slp_sub.stderr())
        check_replay("SLP mid-flight replay + live", slp_sub.messages(), "big", big[1], 1)

        # --- the same over a websocket upload whose pace the test sets --------------------
        # Subscribers join between chunks, so the document is certainly in flight; the last
        # asks for lines live has not reached: live ranges below its from are cut or left out.
        paced = h.make_doc(11, 200000, bad_every=997)
        data = paced[0]
        up = host.popen([h.tool("client", "sluice-ws"), "ingest", "--url", host.url, "--tenant", "acme",
                         "--doc", "paced", "--token", TOKENS["acme"], "--rev", "1", "--timeout", "240", "-"],
                        stdin=subprocess.PIPE, stdout=open(os.path.join(host.work, "paced.up"), "w"),
                        stderr=subprocess.STDOUT)
        fifth = len(data) // 5
        mid = []
        for k, frm in enumerate((1, 150000, 20000, 1)):
            up.stdin.write(data[k * fifth:(k + 1) * fifth])
            up.stdin.flush()
            want = (k + 1) * 40000 - 5000
            end = time.time() + 30
            while time.time() < end and results_lines(host, "paced") < want:
                time.sleep(0.01)
            at = results_lines(host, "paced")
            sub = ReplaySub(host, "paced", f"paced{k}", frm=frm, timeout=240)
            end = time.time() + 10
            while time.time() < end and not os.path.getsize(sub.path):
                time.sleep(0.01)
            mid.append((frm, at, sub))
        check("paced upload: subscribers joined while the document was in flight",
              all(0 < at < 200000 for _, at, _ in mid), str([(f, at) for f, at, _ in mid]))
        up.stdin.write(data[4 * fifth:])
        up.stdin.close()
        try:
            rc = up.wait(timeout=240)
        except subprocess.TimeoutExpired:
            up.kill()
            rc = None
        check("the paced upload completes", rc == 0, f"rc={rc}")
        for i, (frm, at, sub) in enumerate(mid):
            rc = sub.wait(timeout=120)
            check(f"paced #{i} (from={frm}, file had {at} lines): sluice-ws exits 0", rc == 0, sub.stderr())
            check_replay(f"paced #{i} replay + live", sub.messages(), "paced", paced[1], frm)

        n = metric(host.ws_port, "sluice_ws_replayed_messages_total")
        check("/metrics counts replayed messages", n is not None and n > 0, f"{n}")

        # --- refusals -------------------------------------------------------------------
        for args, word in ((["--from", "0"], "from must be"), (["--from", "abc"], "from must be"),
                           (["--from", "-1"], "from must be"), (["--from", ""], "from must be"),
                           (["--from", "1", "--rev", "0"], "rev must be"),
                           (["--from", "1", "--rev", "abc"], "rev must be")):
            r = h.run([h.tool("client", "sluice-ws"), "acks", "--url", host.url, "--tenant", "acme", "--doc", "done",
                       "--token", TOKENS["acme"], "--timeout", "5"] + args)
            check(f"sluice-ws acks {' '.join(args)!s}: refused with HTTP 400 naming the parameter",
                  r.returncode == 1 and "HTTP 400" in r.stderr and word in r.stderr, r.stdout + r.stderr)
        for query, word in (("?from=1&bogus=2", "unknown query parameter 'bogus'"),
                            ("?from=1&from=2", "from given twice"),
                            ("?rev=1", "rev needs from"),
                            ("?from=1.5", "from must be"), ("?&from=0", "from must be"),
                            ("?from=1&rev=2&rev=3", "rev given twice"), ("?from=1&x%0d%0ay=1", "unknown query parameter 'x")):
            status, body = http_get(host.ws_port, "/v1/acks/acme/done" + query, TOKENS["acme"])
            check(f"GET /v1/acks/acme/done{query}: 400 {word}", status == 400 and word in body, f"{status} {body}")
        status, body = http_get(host.ws_port, "/v1/acks/acme/done?from=7&rev=2", TOKENS["acme"])
        check("GET with good from and rev passes the checks (426: use a websocket)", status == 426, f"{status} {body}")

        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
