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
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"cocacola": "coke-test-token-0123456789", "pepsico": "pepsi-test-token-9876543210",
          "tiny": "tiny-test-token-0123456789"}
# "tiny" exists to hit limits: one document in flight, 1 MiB documents at most
PER_TENANT = {"tiny": "max_streams = 1\nmax_document_mb = 1\n"}
APPLIANCE_IP, SLP_PORT = h.APPLIANCE_IP, h.SLP_PORT
# Raw SLP clients run in the test's namespace with slpwire.py (next to this file) importable.
PY = ["env", "PYTHONPATH=" + os.path.dirname(os.path.abspath(__file__)), "python3"]
check = h.Checks()
wait_for = h.wait_for



def http_get(port, path, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    body = r.read().decode(errors="replace")
    c.close()
    return r.status, body


def send(host, tenant, token, doc, rev, data, name):
    path = os.path.join(host.work, f"{name}.csv")
    with open(path, "wb") as f:
        f.write(data)
    return host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant, "--token", token,
                                  "--doc", doc, "--rev", str(rev), "--to", f"{APPLIANCE_IP}:{SLP_PORT}", path]),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


HOSTILE = r'''
import socket, struct, sys
from slpwire import frame, data_frame, crc32c, DATA, FIN, STATUS, OPEN
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
good_open = frame(OPEN, struct.pack(">QBBBB", 1, 8, 1, 1, 0) + b"cocacolaxo", 0, 7)
frames = [
    b"", b"\x53", b"SL\x02",                              # short
    data_frame(0, b"x", 0, 7, magic=0x1234),               # bad magic
    data_frame(0, b"x", 0, 7, ver=9),                      # bad version
    data_frame(0, b"x", 0, 7, ver=1),                      # SLP v1 (no frame CRC): not understood
    frame(0x42, b"", 0, 7),                                # unknown type
    data_frame(0, b"xyz", 0, 7, length=1000),              # length mismatch
    frame(DATA, b"", 0, 7, length=2),                      # too short to hold its CRC
    frame(DATA, struct.pack(">Q", 0), 0, 7),               # empty DATA
    data_frame(0, b"x" * 1460, 0, 7),                      # oversize DATA
    frame(FIN, b"\x00" * 5, 0, 7),                         # FIN too short
    data_frame(0, b"a,b,c,d\n", 0, 7, crc=1),              # DATA that fails its CRC
    good_open[:-5] + bytes([good_open[-5] ^ 4]) + good_open[-4:],   # an OPEN corrupted in flight
    frame(FIN, struct.pack(">QI", 10, 0), 0x00010002, 7, crc=0),    # a FIN corrupted in flight
    data_frame(0, b"a,b,c,d\n", 0x00ff0001, 7),            # DATA for no stream
    frame(FIN, struct.pack(">QI", 10, 0), 0x00010002, 7),  # FIN before any OPEN
    frame(STATUS, struct.pack(">QIQ", 0, 0, 0), 0, 7),     # a STATUS sent to the appliance
]
for _ in range(20):
    for f in frames:
        s.sendto(f, dst)
print(len(frames) * 20)
'''


RAW_CLIENT = r"""
import json, socket, struct, sys, random
from slpwire import frame, data_frame, fin_frame, open_frame, parse, crc32c
dst = (sys.argv[1], int(sys.argv[2])); tenant, token = sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2.0); s.connect(dst)
def recv():
    r = parse(s.recv(2048))
    return r if r["crc_ok"] else {"t": -1}
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
    r = expect(0x81, send=open_frame(rev, tenant, token, doc, session))
    return r["stream"], session
out = {}
payload = b"1,a,2,b\n"
# CRC mismatch: the document fails with code 7
st, se = open_doc("crc-doc", 1)
s.send(data_frame(0, payload, st, se)); expect(0x83)
out["crc"] = expect(0x84, send=fin_frame(len(payload), crc32c(payload) ^ 1, st, se))
# DATA after the document is done: answered with DONE again
out["after_fin"] = expect(0x84, send=data_frame(0, payload, st, se))
# FIN shorter than the data received: the document fails with code 8
st, se = open_doc("len-doc", 1)
s.send(data_frame(0, payload, st, se)); expect(0x83)
out["length"] = expect(0x84, send=fin_frame(4, crc32c(payload[:4]), st, se))
# a gap, and a FIN claiming more than was received: STATUS tells the position, no DONE
st, se = open_doc("gap-doc", 1)
s.send(data_frame(0, payload, st, se)); expect(0x83)
out["gap"] = expect(0x83, send=data_frame(100, payload, st, se))
out["early_fin"] = expect(0x83, send=fin_frame(100, 0, st, se))
# then the rest arrives in order and the document completes
s.send(data_frame(8, payload, st, se)); expect(0x83)
out["gap_done"] = expect(0x84, send=fin_frame(16, crc32c(payload * 2), st, se))
# retransmitted OPEN of a finished stream: answered again, never opened twice
print(json.dumps(out))
"""


LIMITS_CLIENT = r"""
import json, socket, struct, sys, random, time
from slpwire import frame, data_frame, open_frame, parse, FIN
dst = (sys.argv[1], int(sys.argv[2])); tokens = json.loads(sys.argv[3])
class Stream:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); self.s.settimeout(1.0); self.s.connect(dst)
        self.session = random.getrandbits(32); self.stream = 0
    def frame(self, t, body):
        return frame(t, body, self.stream, self.session)
    def data(self, off, payload):
        return data_frame(off, payload, self.stream, self.session)
    def recv(self):
        r = parse(self.s.recv(2048))
        return r if r["crc_ok"] else {"t": -1}
    def expect(self, types, send=None, tries=4):
        for _ in range(tries):
            if send: self.s.send(send)
            try:
                while True:
                    r = self.recv()
                    if r["t"] in types: return r
            except socket.timeout:
                continue
        return None
    def open(self, tenant, doc, rev):
        r = self.expect((0x81, 0x82), send=open_frame(rev, tenant, tokens[tenant], doc, self.session))
        if r and r["t"] == 0x81: self.stream = r["stream"]
        return r
out = {}
a = Stream(); out["tiny_first"] = a.open("tiny", "a", 1)
b = Stream(); out["tiny_second"] = b.open("tiny", "b", 1)
c = Stream(); out["other_tenant"] = c.open("pepsico", "limits", 1)
# a frame far beyond the window, and a FIN before any data: answered with STATUS at 0
out["beyond_window"] = a.expect((0x83,), send=a.data(50_000_000, b"1,a,2,b\n"))
out["fin_before_data"] = a.expect((0x83,), send=a.frame(3, struct.pack(">QI", 8, 0)))
# a document growing past max_document_mb fails with code 13 (DONE comes by itself). Sent the
# way a sender does, from the position each STATUS reports: a frame the window or back-pressure
# refused is sent again, so how fast the appliance drains does not matter
chunk = b"1,a,2,b\n" * 180
pos, end, out["too_large"] = 0, time.time() + 120, None
a.s.settimeout(0.05)
while out["too_large"] is None and time.time() < end:
    for k in range(16):
        a.s.send(a.data(pos + k * len(chunk), chunk))
    try:
        while out["too_large"] is None:
            r = a.recv()
            if r["t"] == 0x84: out["too_large"] = r
            elif r["t"] == 0x83: pos = max(pos, r["pos"])
    except socket.timeout:
        pass
# the slot is freed once the failed document is wound up: tiny may open another then
end = time.time() + 60
while True:
    d = Stream(); r = d.open("tiny", "c", 1)
    if not (r and r["t"] == 0x82 and r.get("code") == 12) or time.time() >= end: break
    time.sleep(0.2)
out["tiny_after"] = r
# an idle stream is failed and freed; the sender is told with DONE 11, unasked: wait for it
end, out["idle"] = time.time() + 60, None
while out["idle"] is None and time.time() < end:
    try:
        r = d.recv()
        if r["t"] == 0x84: out["idle"] = r
    except socket.timeout:
        pass
print(json.dumps(out))
"""


def main():
    # idle streams expire after 5 s: past sluice-send's longest probe interval (2 s), so a sender
    # held at window 0 by a slow disk is never taken for idle; the idle check waits for it
    host = h.TestHost("e2e", TOKENS, extra_dataplane="stream_idle_ms = 5000\n", per_tenant=PER_TENANT)
    data_dir, ws_port, url, work = host.data_dir, host.ws_port, host.url, host.work
    WSC, SLUICED = h.tool("client", "sluice-ws"), h.tool("control", "sluiced")
    run, in_ns = h.run, host.in_ns
    try:
        r = host.net_up()
        if not check("test host namespace created", r.returncode == 0, r.stderr):
            return
        r = run([SLUICED, "-c", host.conf, "--check-config"])
        check("sluiced --check-config accepts the config", r.returncode == 0, r.stderr)

        if not check("sluiced starts and reports ready", host.start(), host.log()[-3000:]):
            return
        daemon = host.daemon

        r = run(in_ns(["ping", "-c", "2", "-W", "2", APPLIANCE_IP]))
        check("appliance answers ARP and ICMP echo", r.returncode == 0, r.stdout + r.stderr)

        # --- subscribers, before the documents exist -------------------------------
        docs = {
            ("cocacola", "orders"): h.make_doc(3, 3000, bad_every=250, multiline_every=100),
            ("cocacola", "stock"): h.make_doc(5, 2001, bad_every=0, multiline_every=333),
            ("pepsico", "orders"): h.make_doc(7, 4000, bad_every=400, multiline_every=0),
            ("pepsico", "stock"): h.make_doc(11, 1500, bad_every=150, multiline_every=50),
        }
        subs = {}
        for (tenant, doc) in docs:
            subs[(tenant, doc)] = h.Subscriber(host, tenant, doc, 1)
        all_subscribed = all(s.wait_subscribed() for s in subs.values())
        check("subscribers connect before their documents exist", all_subscribed,
              " ".join(open(s.err).read() for s in subs.values()))

        # --- four documents at once over SLP, hostile frames in the middle -----------
        senders = {k: send(host, k[0], TOKENS[k[0]], k[1], 1, v[0], f"{k[0]}-{k[1]}") for k, v in docs.items()}
        hostile = run(in_ns(PY + ["-c", HOSTILE, APPLIANCE_IP, str(SLP_PORT)]))
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
            h.check_doc_acks(check, f"{k[0]}/{k[1]}", s, k[0], k[1], 1, docs[k][1])
            foreign = [m for m in s.messages() if m.get("type") in ("ack", "summary")
                       and (m.get("tenant"), m.get("doc")) != k]
            check(f"{k[0]}/{k[1]} subscriber sees only its own tenant and document", not foreign, str(foreign[:3]))
            h.check_results_file(check, f"{k[0]}/{k[1]}", data_dir, k[0], k[1], 1, docs[k][1])

        check("sluiced survived the hostile datagrams", daemon.poll() is None)
        # counted: a second burst on a quiet link (in the middle of the transfers, the kernel may
        # drop some of them when its packet ring is full, which says nothing about sluiced)
        rc, d0 = host.sluicectl("drops")
        hostile = run(in_ns(PY + ["-c", HOSTILE, APPLIANCE_IP, str(SLP_PORT)]))
        want = int(hostile.stdout.strip() or 0)
        slp = lambda d: sum(v for k, v in d.items() if isinstance(v, int) and k.startswith("slp_"))  # noqa: E731
        d = wait_for(lambda: host.sluicectl("drops")[1], lambda d: slp(d) - slp(d0) >= want)
        check("hostile datagrams are counted", hostile.returncode == 0 and want > 0
              and slp(d) - slp(d0) >= want, f"{slp(d) - slp(d0)} of {want}: " + json.dumps(d)[:600])
        check("corrupted OPEN, FIN and DATA are dropped by the frame CRC32C",
              d.get("slp_checksum", 0) - d0.get("slp_checksum", 0) >= 3 * 20, json.dumps(d)[:600])

        # --- revisions on the UDP path ----------------------------------------------
        data, _ = docs[("cocacola", "orders")]
        for rev in (1, 0):
            p = send(host, "cocacola", TOKENS["cocacola"], "orders", rev, data, "resend")
            out, err = p.communicate(timeout=60)
            check(f"SLP re-send of cocacola/orders rev {rev} is rejected",
                  p.returncode == 1 and "not newer" in err, f"rc={p.returncode} {out} {err}")
        # same document name, other tenant: independent revisions
        p = send(host, "pepsico", TOKENS["pepsico"], "orders", 2, b"1,a,2,b\n", "pepsi-rev2")
        out, err = p.communicate(timeout=60)
        check("a newer revision is accepted", p.returncode == 0, out + err)

        # --- wrong token, unknown tenant, bad name on SLP ----------------------------
        p = send(host, "cocacola", TOKENS["pepsico"], "orders", 50, data, "wrongtoken")
        out, err = p.communicate(timeout=60)
        check("SLP with another tenant's token is refused", p.returncode == 1 and "token" in err, err)
        p = send(host, "fanta", TOKENS["cocacola"], "orders", 1, data, "unknown")
        out, err = p.communicate(timeout=60)
        check("SLP from an unknown tenant is refused", p.returncode == 1 and "unknown tenant" in err, err)
        p = send(host, "cocacola", TOKENS["cocacola"], "..", 1, data, "badname")
        out, err = p.communicate(timeout=60)
        check("SLP with a bad document name is refused", p.returncode == 1 and "name" in err, err)

        # --- SLP failure paths with a raw client ------------------------------------------
        r = run(in_ns(PY + ["-c", RAW_CLIENT, APPLIANCE_IP, str(SLP_PORT), "cocacola", TOKENS["cocacola"]]))
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
        rc, d = host.sluicectl("drops")
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

        # --- per-tenant limits, window, idle timeout (raw SLP) -----------------------------
        r = run(in_ns(PY + ["-c", LIMITS_CLIENT, APPLIANCE_IP, str(SLP_PORT), json.dumps(TOKENS)]), timeout=400)
        try:
            lim = json.loads(r.stdout)
        except ValueError:
            lim = {}
        g = lambda k, f: (lim.get(k) or {}).get(f)  # noqa: E731
        check("a tenant's first document is accepted", g("tiny_first", "t") == 0x81, r.stdout + r.stderr)
        check("a tenant over max_streams is refused (REJECT 12)", g("tiny_second", "code") == 12, r.stdout)
        check("another tenant is unaffected by that limit", g("other_tenant", "t") == 0x81, r.stdout)
        check("DATA far beyond the window is answered with STATUS at 0", g("beyond_window", "pos") == 0, r.stdout)
        check("... and that STATUS says the DATA went beyond the window (SLP_F_BEYOND)",
              (g("beyond_window", "flags") or 0) & 0x0002, r.stdout)
        check("FIN before any data is answered with STATUS at 0", g("fin_before_data", "pos") == 0, r.stdout)
        check("a document over max_document_mb fails (DONE 13)", g("too_large", "code") == 13, r.stdout)
        check("the tenant's slot is released after the failure", g("tiny_after", "t") == 0x81, r.stdout)
        check("an idle stream is failed and the sender told (DONE 11)", g("idle", "code") == 11, r.stdout)
        rc, d = host.sluicectl("drops")
        check("beyond-window and too-large are counted",
              d.get("slp_beyond_window", 0) >= 1 and d.get("slp_too_large", 0) >= 1, json.dumps(d)[:600])

        # --- websocket ingest ----------------------------------------------------------
        ws_doc, ws_expect = h.make_doc(13, 2500, bad_every=500, multiline_every=125)
        ws_file = os.path.join(work, "ws-upload.csv")
        with open(ws_file, "wb") as f:
            f.write(ws_doc)
        sub = h.Subscriber(host, "pepsico", "upload", 1)
        check("upload subscriber connects", sub.wait_subscribed())
        r = run([WSC, "ingest", "--url", url, "--tenant", "pepsico", "--doc", "upload", "--token",
                 TOKENS["pepsico"], "--rev", "1", ws_file])
        check("websocket upload completes", r.returncode == 0 and '"done"' in r.stdout, r.stdout + r.stderr)
        try:
            sub.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sub.p.kill()
        h.check_doc_acks(check, "pepsico/upload (websocket)", sub, "pepsico", "upload", 1, ws_expect)
        h.check_results_file(check, "pepsico/upload (websocket)", data_dir, "pepsico", "upload", 1, ws_expect)
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
        r = run([h.tool("control", "sluicectl"), "--prefix", host.prefix, "status"])
        check("sluicectl status shows tenants and lcores", r.returncode == 0 and "cocacola" in r.stdout
              and "worker" in r.stdout, r.stdout[-1500:] + r.stderr)
        rc, t = host.sluicectl("tenants")
        check("per-tenant counters count bad tokens",
              isinstance(t.get("cocacola"), dict) and t["cocacola"].get("bad_token", 0) >= 1, json.dumps(t)[:400])
        rc, sg = host.sluicectl("stages")
        stages = sg.get("stages", {})
        check("sluicectl stages counts lines and the cycles of every busy stage",
              sg.get("lines", 0) > 0 and sg.get("tsc_hz", 0) > 0 and
              all(stages.get(k, 0) > 0 for k in ("rx", "split", "dispatch", "process", "persist", "persist_io")),
              json.dumps(sg))
        r = run([h.tool("control", "sluicectl"), "--prefix", host.prefix, "stages"])
        check("sluicectl stages prints cycles per line", r.returncode == 0 and "cycles/line" in r.stdout
              and "process" in r.stdout, r.stdout + r.stderr)

        # --- clean shutdown ----------------------------------------------------------------
        rc = host.stop()
        check("sluiced stops cleanly on SIGTERM", rc == 0, f"rc={rc}")
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
