#!/usr/bin/env python3
"""End-to-end: a real sluiced on net_af_packet over a veth pair into a
network namespace this test makes (and removes, whatever happens).

Two tenants, several documents of a few thousand lines each, sent over
SLP with sluice-send and over websocket with sluice-ws; subscribers per
(tenant, document). Asserts: every line ACKed exactly once, ACKs only to
the right subscribers, result files hold one result per line, revision
re-sends rejected on both paths, wrong tokens / unknown tenants / bad
paths refused, hostile datagrams counted without harm, clean shutdown.

usage: e2e.py BUILD_DIR SOURCE_DIR
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BUILD, SRC = sys.argv[1], sys.argv[2]
SLUICED = os.path.join(BUILD, "control", "sluiced")
SLUICECTL = os.path.join(BUILD, "control", "sluicectl")
SEND = os.path.join(BUILD, "client", "sluice-send")
WSC = os.path.join(BUILD, "client", "sluice-ws")
NETNS = os.path.join(SRC, "scripts", "netns.sh")

PID = os.getpid()
NS = f"slt-{PID}"
IFC = f"slt{PID}"
PREFIX = f"sluice-test-{PID}"
HOST_IP, APPLIANCE_IP, SLP_PORT = "198.18.0.1", "198.18.0.2", 7878
TOKENS = {"cocacola": "coke-test-token-0123456789", "pepsico": "pepsi-test-token-9876543210"}

results = {"passed": 0, "failed": 0}
started = []          # Popen objects this test started: the only ones it ends


def check(name, cond, detail=""):
    if cond:
        results["passed"] += 1
        print(f"ok   {name}", flush=True)
    else:
        results["failed"] += 1
        print(f"FAIL {name} {detail}", flush=True)
    return cond


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=kw.pop("timeout", 120), **kw)


def in_ns(cmd):
    return ["ip", "netns", "exec", NS] + cmd


def make_doc(seed, lines, bad_every=0, multiline_every=0):
    """A 4-column CSV; returns (bytes, {line: 'ok'|'error'})."""
    out, expect = [], {}
    for i in range(1, lines + 1):
        if bad_every and i % bad_every == 0:
            out.append(f"{i},short-row,{i * seed}\n")
            expect[i] = "error"
        elif multiline_every and i % multiline_every == 0:
            out.append(f'{i},"two\nlines, quoted",{i * seed},"say ""hi"""\r\n')
            expect[i] = "ok"
        else:
            out.append(f'{i},item-{i % 89},{i * seed},"a, b"\n')
            expect[i] = "ok"
    data = "".join(out)
    if lines % 2:                       # odd docs end without a final newline
        data = data[:-1]
    return data.encode(), expect


class Subscriber:
    def __init__(self, work, url, tenant, doc, token, summaries, name):
        self.path = os.path.join(work, f"sub-{name}.out")
        self.err = os.path.join(work, f"sub-{name}.err")
        self.tenant, self.doc = tenant, doc
        self.p = subprocess.Popen([WSC, "acks", "--url", url, "--tenant", tenant, "--doc", doc,
                                   "--token", token, "--count-summaries", str(summaries),
                                   "--timeout", "90"],
                                  stdout=open(self.path, "w"), stderr=open(self.err, "w"))
        started.append(self.p)

    def messages(self):
        msgs = []
        with open(self.path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        msgs.append(json.loads(line))
                    except ValueError:
                        msgs.append({"type": "unparsable", "text": line})
        return msgs

    def wait_subscribed(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if any(m.get("type") == "subscribed" for m in self.messages()):
                return True
            if self.p.poll() is not None:
                return False
            time.sleep(0.05)
        return False


def ack_coverage(msgs, tenant, doc, rev):
    """line -> list of statuses, from this subscriber's ack ranges for (tenant, doc, rev)."""
    seen = {}
    for m in msgs:
        if m.get("type") == "ack" and m.get("tenant") == tenant and m.get("doc") == doc and m.get("rev") == rev:
            for line in range(m["from"], m["to"] + 1):
                seen.setdefault(line, []).append(m["status"])
    return seen


def check_doc_acks(label, sub, tenant, doc, rev, expect):
    msgs = sub.messages()
    seen = ack_coverage(msgs, tenant, doc, rev)
    dup = [l for l, s in seen.items() if len(s) != 1]
    missing = [l for l in expect if l not in seen]
    extra = [l for l in seen if l not in expect]
    wrong = [l for l in expect if l in seen and seen[l][0] != expect[l]]
    check(f"{label}: every line ACKed exactly once", not dup and not missing and not extra,
          f"dup={dup[:5]} missing={missing[:5]} extra={extra[:5]}")
    check(f"{label}: ACK status matches each line", not wrong, f"wrong={wrong[:5]}")
    summ = [m for m in msgs if m.get("type") == "summary" and m.get("doc") == doc and m.get("rev") == rev]
    n_err = sum(1 for v in expect.values() if v == "error")
    check(f"{label}: one summary with the right counts",
          len(summ) == 1 and summ[0].get("lines") == len(expect) and summ[0].get("errors") == n_err
          and summ[0].get("ok") == len(expect) - n_err and summ[0].get("status") == "complete", str(summ))


def check_results_file(label, data_dir, tenant, doc, rev, expect):
    path = os.path.join(data_dir, tenant, doc, f"{rev}.results")
    if not check(f"{label}: results file exists", os.path.exists(path), path):
        return
    lines = {}
    with open(path) as f:
        for raw in f:
            r = json.loads(raw)
            lines.setdefault(r["line"], []).append(r["status"])
    check(f"{label}: results file holds one result per line",
          sorted(lines) == sorted(expect) and all(len(v) == 1 for v in lines.values()),
          f"{len(lines)} distinct of {len(expect)}")
    check(f"{label}: results file statuses match", all(lines.get(l, ["?"])[0] == s for l, s in expect.items()))


def sluicectl_json(cmd):
    r = run([SLUICECTL, "--prefix", PREFIX, "--json", cmd])
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError:
        return r.returncode, {}


def http_get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, body


def send(work, tenant, token, doc, rev, data, name):
    path = os.path.join(work, f"{name}.csv")
    with open(path, "wb") as f:
        f.write(data)
    return subprocess.Popen(in_ns([SEND, "--quiet", "--tenant", tenant, "--token", token, "--doc", doc,
                                   "--rev", str(rev), "--to", f"{APPLIANCE_IP}:{SLP_PORT}", path]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


HOSTILE = r'''
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
def hdr(t, body, magic=0x534C, ver=1, stream=0, session=7, length=None):
    return struct.pack(">HBBHHII", magic, ver, t, 0, len(body) if length is None else length, stream, session) + body
frames = [
    b"", b"\x53", b"SL\x01",                               # short
    hdr(2, struct.pack(">Q", 0) + b"x", magic=0x1234),     # bad magic
    hdr(2, struct.pack(">Q", 0) + b"x", ver=9),            # bad version
    hdr(0x42, b""),                                        # unknown type
    hdr(2, struct.pack(">Q", 0) + b"xyz", length=1000),    # length mismatch
    hdr(2, struct.pack(">Q", 0)),                          # empty DATA
    hdr(2, struct.pack(">Q", 0) + b"x" * 1460),            # oversize DATA
    hdr(3, b"\x00" * 5),                                   # FIN too short
    hdr(2, struct.pack(">Q", 0) + b"a,b,c,d\n", stream=0x00ff0001),   # DATA for no stream
    hdr(3, struct.pack(">QI", 10, 0), stream=0x00010002),  # FIN before any OPEN
    hdr(0x83, struct.pack(">QI", 0, 0)),                   # a STATUS sent to the appliance
]
for _ in range(20):
    for f in frames:
        s.sendto(f, dst)
print(len(frames) * 20)
'''


RAW_CLIENT = r"""
import json, socket, struct, sys, random
dst = (sys.argv[1], int(sys.argv[2])); tenant, token = sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2.0); s.connect(dst)
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
def frame(t, body, stream, session):
    return struct.pack(">HBBHHII", 0x534C, 1, t, 0, len(body), stream, session) + body
def recv():
    d = s.recv(2048)
    magic, ver, t, flags, ln, stream, session = struct.unpack(">HBBHHII", d[:16])
    b = d[16:]
    if t in (0x81, 0x83): return {"t": t, "stream": stream, "pos": struct.unpack(">QI", b[:12])[0]}
    if t == 0x82: return {"t": t, "code": struct.unpack(">H", b[:2])[0], "reason": b[2:].decode()}
    if t == 0x84:
        code, _, lines, ok, err = struct.unpack(">HHQQQ", b[:28])
        return {"t": t, "code": code, "lines": lines, "reason": b[28:].decode()}
    return {"t": t}
def expect(t, tries=5, send=None):
    for _ in range(tries):
        if send: s.send(send)
        try:
            while True:
                r = recv()
                if r["t"] == t: return r
        except socket.timeout:
            continue
    return None
def open_doc(doc, rev):
    session = random.getrandbits(32)
    t, k, d = tenant.encode(), token.encode(), doc.encode()
    body = struct.pack(">QBBBB", rev, len(t), len(k), len(d), 0) + t + k + d
    r = expect(0x81, send=frame(1, body, 0, session))
    return r["stream"], session
out = {}
payload = b"1,a,2,b\n"
# CRC mismatch: the document fails with code 7
st, se = open_doc("crc-doc", 1)
s.send(frame(2, struct.pack(">Q", 0) + payload, st, se)); expect(0x83)
out["crc"] = expect(0x84, send=frame(3, struct.pack(">QI", len(payload), crc32c(payload) ^ 1), st, se))
# DATA after the document is done: answered with DONE again
out["after_fin"] = expect(0x84, send=frame(2, struct.pack(">Q", 0) + payload, st, se))
# FIN shorter than the data received: the document fails with code 8
st, se = open_doc("len-doc", 1)
s.send(frame(2, struct.pack(">Q", 0) + payload, st, se)); expect(0x83)
out["length"] = expect(0x84, send=frame(3, struct.pack(">QI", 4, crc32c(payload[:4])), st, se))
# a gap, and a FIN claiming more than was received: STATUS tells the position, no DONE
st, se = open_doc("gap-doc", 1)
s.send(frame(2, struct.pack(">Q", 0) + payload, st, se)); expect(0x83)
out["gap"] = expect(0x83, send=frame(2, struct.pack(">Q", 100) + payload, st, se))
out["early_fin"] = expect(0x83, send=frame(3, struct.pack(">QI", 100, 0), st, se))
# then the rest arrives in order and the document completes
s.send(frame(2, struct.pack(">Q", 8) + payload, st, se)); expect(0x83)
out["gap_done"] = expect(0x84, send=frame(3, struct.pack(">QI", 16, crc32c(payload * 2)), st, se))
# retransmitted OPEN of a finished stream: answered again, never opened twice
print(json.dumps(out))
"""


def main():
    work = tempfile.mkdtemp(prefix="sluice-e2e-")
    data_dir = os.path.join(work, "data")
    ws_port = free_port()
    url = f"ws://127.0.0.1:{ws_port}"
    conf = os.path.join(work, "sluice.conf")
    with open(conf, "w") as f:
        f.write(f"""
[dataplane]
vdev = net_af_packet0,iface={IFC}
ip = {APPLIANCE_IP}
udp_port = {SLP_PORT}
rx_lcores = 1
workers_per_socket = 10
idle = adaptive
no_huge = true
memory_mb = 1024
file_prefix = {PREFIX}

[control]
listen = 127.0.0.1
port = {ws_port}

[storage]
data_dir = {data_dir}

[tenant.cocacola]
token = {TOKENS['cocacola']}
columns = 4

[tenant.pepsico]
token = {TOKENS['pepsico']}
columns = 4
""")
    daemon = None
    try:
        subprocess.run([NETNS, "down", NS, IFC], capture_output=True)
        r = run([NETNS, "up", NS, IFC, f"{HOST_IP}/24"])
        if not check("test host namespace created", r.returncode == 0, r.stderr):
            return
        r = run([SLUICED, "-c", conf, "--check-config"])
        check("sluiced --check-config accepts the config", r.returncode == 0, r.stderr)

        log = open(os.path.join(work, "sluiced.log"), "w")
        daemon = subprocess.Popen([SLUICED, "-c", conf], stdout=log, stderr=subprocess.STDOUT)
        started.append(daemon)
        ready = False
        for _ in range(150):
            if "sluiced: ready" in open(os.path.join(work, "sluiced.log")).read():
                ready = True
                break
            if daemon.poll() is not None:
                break
            time.sleep(0.2)
        if not check("sluiced starts and reports ready", ready,
                     open(os.path.join(work, "sluiced.log")).read()[-3000:]):
            return

        r = run(in_ns(["ping", "-c", "2", "-W", "2", APPLIANCE_IP]))
        check("appliance answers ARP and ICMP echo", r.returncode == 0, r.stdout + r.stderr)

        # --- subscribers, before the documents exist -------------------------------
        docs = {
            ("cocacola", "orders"): make_doc(3, 3000, bad_every=250, multiline_every=100),
            ("cocacola", "stock"): make_doc(5, 2001, bad_every=0, multiline_every=333),
            ("pepsico", "orders"): make_doc(7, 4000, bad_every=400, multiline_every=0),
            ("pepsico", "stock"): make_doc(11, 1500, bad_every=150, multiline_every=50),
        }
        subs = {}
        for (tenant, doc) in docs:
            subs[(tenant, doc)] = Subscriber(work, url, tenant, doc, TOKENS[tenant], 1, f"{tenant}-{doc}")
        all_subscribed = all(s.wait_subscribed() for s in subs.values())
        check("subscribers connect before their documents exist", all_subscribed,
              " ".join(open(s.err).read() for s in subs.values()))

        # --- four documents at once over SLP, hostile frames in the middle -----------
        senders = {k: send(work, k[0], TOKENS[k[0]], k[1], 1, v[0], f"{k[0]}-{k[1]}") for k, v in docs.items()}
        hostile = run(in_ns(["python3", "-c", HOSTILE, APPLIANCE_IP, str(SLP_PORT)]))
        check("hostile datagrams sent", hostile.returncode == 0, hostile.stderr)
        for k, p in senders.items():
            out, err = p.communicate(timeout=120)
            check(f"sluice-send {k[0]}/{k[1]} rev 1 confirmed", p.returncode == 0, out + err)
            check(f"sluice-send {k[0]}/{k[1]} reports the line count",
                  f"{len(docs[k][1])} lines" in out, out)
        for k, s in subs.items():
            try:
                s.p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                s.p.kill()
            check_doc_acks(f"{k[0]}/{k[1]}", s, k[0], k[1], 1, docs[k][1])
            foreign = [m for m in s.messages() if m.get("type") in ("ack", "summary")
                       and (m.get("tenant"), m.get("doc")) != k]
            check(f"{k[0]}/{k[1]} subscriber sees only its own tenant and document", not foreign, str(foreign[:3]))
            check_results_file(f"{k[0]}/{k[1]}", data_dir, k[0], k[1], 1, docs[k][1])

        rc, drops = sluicectl_json("drops")
        d = drops.get("/sluice/drops", drops)
        bad = sum(v for k, v in d.items() if isinstance(v, int) and k.startswith("slp_"))
        check("hostile datagrams are counted", rc == 0 and bad >= 13 * 20, json.dumps(d)[:600])
        check("sluiced survived the hostile datagrams", daemon.poll() is None)

        # --- revisions on the UDP path ----------------------------------------------
        data, _ = docs[("cocacola", "orders")]
        for rev in (1, 0):
            p = send(work, "cocacola", TOKENS["cocacola"], "orders", rev, data, "resend")
            out, err = p.communicate(timeout=60)
            check(f"SLP re-send of cocacola/orders rev {rev} is rejected",
                  p.returncode == 1 and "not newer" in err, f"rc={p.returncode} {out} {err}")
        # same document name, other tenant: independent revisions
        p = send(work, "pepsico", TOKENS["pepsico"], "orders", 2, b"1,a,2,b\n", "pepsi-rev2")
        out, err = p.communicate(timeout=60)
        check("a newer revision is accepted", p.returncode == 0, out + err)

        # --- wrong token, unknown tenant, bad name on SLP ----------------------------
        p = send(work, "cocacola", TOKENS["pepsico"], "orders", 50, data, "wrongtoken")
        out, err = p.communicate(timeout=60)
        check("SLP with another tenant's token is refused", p.returncode == 1 and "token" in err, err)
        p = send(work, "fanta", TOKENS["cocacola"], "orders", 1, data, "unknown")
        out, err = p.communicate(timeout=60)
        check("SLP from an unknown tenant is refused", p.returncode == 1 and "unknown tenant" in err, err)
        p = send(work, "cocacola", TOKENS["cocacola"], "..", 1, data, "badname")
        out, err = p.communicate(timeout=60)
        check("SLP with a bad document name is refused", p.returncode == 1 and "name" in err, err)

        # --- SLP failure paths with a raw client ------------------------------------------
        r = run(in_ns(["python3", "-c", RAW_CLIENT, APPLIANCE_IP, str(SLP_PORT), "cocacola", TOKENS["cocacola"]]))
        try:
            raw = json.loads(r.stdout)
        except ValueError:
            raw = {}
        check("FIN with a wrong CRC32C fails the document (DONE code 7)",
              (raw.get("crc") or {}).get("code") == 7 and "CRC32C" in (raw.get("crc") or {}).get("reason", ""),
              r.stdout + r.stderr)
        check("DATA after the document is done is answered with DONE", (raw.get("after_fin") or {}).get("code") == 7,
              r.stdout)
        check("FIN shorter than the data fails the document (DONE code 8)", (raw.get("length") or {}).get("code") == 8,
              r.stdout)
        check("a gap is answered with STATUS at the contiguous position", (raw.get("gap") or {}).get("pos") == 8,
              r.stdout)
        check("a FIN past the received data is answered with STATUS", (raw.get("early_fin") or {}).get("pos") == 8,
              r.stdout)
        check("after the gap is filled the document completes",
              (raw.get("gap_done") or {}).get("code") == 0 and (raw.get("gap_done") or {}).get("lines") == 2, r.stdout)
        rc, drops = sluicectl_json("drops")
        d = drops.get("/sluice/drops", drops)
        check("checksum, length, gap and after-FIN frames are counted",
              d.get("slp_checksum_failed", 0) >= 1 and d.get("slp_length_failed", 0) >= 1
              and d.get("slp_out_of_order", 0) >= 1 and d.get("slp_after_fin", 0) >= 1, json.dumps(d)[:600])
        for path, want, label in [
            ("/v1/ingest/cocacola/newdoc", 400, "ingest without rev"),
            ("/v1/ingest/cocacola/newdoc?rev=abc", 400, "ingest with rev=abc"),
            ("/v1/ingest/cocacola/newdoc?rev=0", 400, "ingest with rev=0"),
        ]:
            status, body = http_get(ws_port, path, {"Authorization": "Bearer " + TOKENS["cocacola"]})
            check(f"HTTP {path} ({label}) refused with {want}", status == want, f"{status} {body[:200]}")

        # --- websocket ingest ----------------------------------------------------------
        ws_doc, ws_expect = make_doc(13, 2500, bad_every=500, multiline_every=125)
        ws_file = os.path.join(work, "ws-upload.csv")
        with open(ws_file, "wb") as f:
            f.write(ws_doc)
        sub = Subscriber(work, url, "pepsico", "upload", TOKENS["pepsico"], 1, "pepsico-upload")
        check("upload subscriber connects", sub.wait_subscribed())
        r = run([WSC, "ingest", "--url", url, "--tenant", "pepsico", "--doc", "upload", "--token",
                 TOKENS["pepsico"], "--rev", "1", ws_file])
        check("websocket upload completes", r.returncode == 0 and '"done"' in r.stdout, r.stdout + r.stderr)
        try:
            sub.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sub.p.kill()
        check_doc_acks("pepsico/upload (websocket)", sub, "pepsico", "upload", 1, ws_expect)
        check_results_file("pepsico/upload (websocket)", data_dir, "pepsico", "upload", 1, ws_expect)
        r = run([WSC, "ingest", "--url", url, "--tenant", "pepsico", "--doc", "upload", "--token",
                 TOKENS["pepsico"], "--rev", "1", ws_file])
        check("websocket re-upload of the same revision is rejected",
              r.returncode == 1 and "not newer" in (r.stdout + r.stderr), r.stdout + r.stderr)
        r = run([WSC, "ingest", "--url", url, "--tenant", "cocacola", "--doc", "orders", "--token",
                 TOKENS["cocacola"], "--rev", "1", ws_file])
        check("websocket upload of a revision already sent over SLP is rejected",
              r.returncode == 1 and "not newer" in (r.stdout + r.stderr), r.stdout + r.stderr)

        # --- websocket refusals --------------------------------------------------------
        r = run([WSC, "acks", "--url", url, "--tenant", "cocacola", "--doc", "orders", "--token",
                 TOKENS["pepsico"], "--timeout", "5"])
        check("subscriber with another tenant's token is refused", r.returncode == 1, r.stdout + r.stderr)
        r = run([WSC, "acks", "--url", url, "--tenant", "cocacola", "--doc", "orders", "--token",
                 "not-a-token-at-all-xxxx", "--timeout", "5"])
        check("subscriber with a wrong token is refused", r.returncode == 1, r.stdout + r.stderr)
        for path, hdrs, want, label in [
            ("/v1/acks/cocacola/orders", {}, 401, "missing token"),
            ("/v1/acks/cocacola/orders", {"Authorization": "Bearer " + TOKENS["pepsico"]}, 403, "other tenant's token"),
            ("/v1/acks/fanta/orders", {"Authorization": "Bearer " + TOKENS["cocacola"]}, 404, "unknown tenant"),
            ("/v1/acks/cocacola/..", {"Authorization": "Bearer " + TOKENS["cocacola"]}, 400, "'..' as document"),
            ("/v1/acks/cocacola/%2e%2e", {"Authorization": "Bearer " + TOKENS["cocacola"]}, 400, "'%2e%2e' as document"),
            ("/v1/acks/cocacola/.hidden", {"Authorization": "Bearer " + TOKENS["cocacola"]}, 400, "leading dot"),
            ("/v1/acks/cocacola/" + "x" * 80, {"Authorization": "Bearer " + TOKENS["cocacola"]}, 400, "over-long name"),
            ("/v1/acks/cocacola/a%20b", {"Authorization": "Bearer " + TOKENS["cocacola"]}, 400, "bad characters"),
            ("/v1/acks/cocacola", {"Authorization": "Bearer " + TOKENS["cocacola"]}, 400, "missing document"),
        ]:
            try:
                status, body = http_get(ws_port, path, hdrs)
            except Exception as e:  # noqa: BLE001 - report, don't crash the suite
                status, body = -1, str(e)
            check(f"HTTP {path[:40]} ({label}) refused with {want}", status == want, f"{status} {body[:200]}")
        status, body = http_get(ws_port, "/metrics")
        check("/metrics serves counters", status == 200 and "sluice_" in body, body[:200])

        # --- operator view ---------------------------------------------------------------
        r = run([SLUICECTL, "--prefix", PREFIX, "status"])
        check("sluicectl status shows tenants and lcores", r.returncode == 0 and "cocacola" in r.stdout
              and "worker" in r.stdout, r.stdout[-1500:] + r.stderr)
        rc, tenants = sluicectl_json("tenants")
        t = tenants.get("/sluice/tenants", tenants)
        check("per-tenant counters count bad tokens",
              isinstance(t.get("cocacola"), dict) and t["cocacola"].get("bad_token", 0) >= 1, json.dumps(t)[:400])

        # --- clean shutdown ----------------------------------------------------------------
        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            rc = None
        check("sluiced stops cleanly on SIGTERM", rc == 0, f"rc={rc}")
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
        subprocess.run([NETNS, "down", NS, IFC], capture_output=True)
        shutil.rmtree(f"/var/run/dpdk/{PREFIX}", ignore_errors=True)
        if results["failed"] == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work} for inspection (sluiced.log, subscriber outputs)")
            try:
                print(open(os.path.join(work, "sluiced.log")).read()[-4000:])
            except OSError:
                pass
    print(f"{results['passed']} passed, {results['failed']} failed")


if __name__ == "__main__":
    main()
    sys.exit(1 if results["failed"] else 0)
