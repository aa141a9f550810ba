#!/usr/bin/env python3
"""Benchmark: Sluice next to what a user would pick instead, NATS JetStream.

One run, one machine, the same document bytes for both:

  NATS  a nats-server this script starts (JetStream on, file store in a
        temp dir, loopback, a free port) and build/perf/nats-peer: a
        producer publishes every line to a stream, W workers (a queue group
        on one durable consumer) run Sluice's own processor code on each
        and publish a per-line ACK on acks.<tenant>.<doc>, a subscriber
        takes them. lines/s from the first publish to the last ACK; ACK
        latency percentiles (send -> ACK received), exactly-once counts.
  Sluice sluiced on a veth pair into a namespace (tests/integration/
        harness.py TestHost, as perf/slp_goodput.py), W workers, the same
        processor and column count; sluice-send sends the document, a
        sluice-ws subscriber takes the ACKs. lines/s is sluice-send's, from
        OPEN to DONE (ACKs after fdatasync); "to last ACK" is from starting
        sluice-send to the summary reaching the websocket subscriber, the
        NATS definition. Sluice's ACKs are ranges and its sender does not
        record per-line send times, so no per-line ACK latency here: that
        comes from sluice-perf.

Durability differs and is reported: Sluice ACKs after fdatasync; nats-server
2.9 acknowledges a stored message after write() to its file store and syncs
in the background (no per-message sync option before 2.10).

One unrecorded warm-up of each, then REPEAT rounds, NATS and Sluice
alternating. Prints a Markdown table (medians) and the ratio Sluice / NATS.

usage: perf/nats_vs_sluice.py BUILD_DIR [--lines N] [--width B] [--workers W]
          [--repeat K] [--inflight N] [--tweets] [--json FILE]   (root: namespaces)
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import harness as h  # noqa: E402

TOKEN = "perf-nats-token-0123456789"
SENT = re.compile(r"(\d+) bytes, (\d+) lines .* in ([0-9.]+) s")


class NatsServer:
    """nats-server with JetStream on loopback, a temp store; ended by pid, dir removed."""

    def __init__(self, binary):
        self.dir = tempfile.mkdtemp(prefix="sluice-nats-")
        self.port = h.free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.version = h.run([binary, "--version"]).stdout.strip()
        self.log = os.path.join(self.dir, "nats-server.log")
        self.p = subprocess.Popen([binary, "-js", "-sd", os.path.join(self.dir, "store"), "-p", str(self.port),
                                   "-a", "127.0.0.1", "-l", self.log],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if self.p.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class WsAcks:
    """sluice-ws acks for one document; every message timestamped as it arrives."""

    def __init__(self, host, tenant, doc):
        self.msgs = []
        self.summary_at = None
        self.p = host.popen([h.tool("client", "sluice-ws"), "acks", "--url", host.url, "--tenant", tenant,
                             "--doc", doc, "--token", host.tokens[tenant], "--count-summaries", "1",
                             "--timeout", "600"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.subscribed = threading.Event()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            now = time.monotonic()
            try:
                m = json.loads(line)
            except ValueError:
                continue
            self.msgs.append(m)
            if m.get("type") == "subscribed":
                self.subscribed.set()
            elif m.get("type") == "summary" and self.summary_at is None:
                self.summary_at = now

    def finish(self, timeout=120):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
        self.t.join(timeout=5)


def run_nats(a, server, path, doc, processor, columns):
    out = os.path.join(tempfile.gettempdir(), f"nats-peer-{os.getpid()}.json")
    cmd = [h.tool("perf", "nats-peer"), "--url", server.url, "--workers", str(a.workers), "--inflight", str(a.inflight),
           "--processor", processor,
           "--tenant-columns", str(columns), "--share", os.path.join(SRC, "share", "sluice"), "--tenant", "bench",
           "--doc", doc, "--json", out, path]
    r = h.run(cmd, timeout=900)
    if r.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"nats-peer failed ({r.returncode}): {r.stdout} {r.stderr}")
    with open(out) as f:
        res = json.load(f)
    os.unlink(out)
    return res


def run_sluice(host, tenant, path, doc, rev, n_lines):
    sub = WsAcks(host, tenant, doc)
    if not sub.subscribed.wait(10):
        raise RuntimeError("websocket subscriber did not subscribe")
    t0 = time.monotonic()
    r = h.run(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant, "--token", host.tokens[tenant],
                          "--doc", doc, "--rev", str(rev), "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}",
                          "--timeout-ms", "120000", path]), timeout=900)
    m = SENT.search(r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError(f"sluice-send failed: {r.stdout} {r.stderr}")
    sub.finish()
    seen = h.ack_coverage(sub.msgs, tenant, doc, rev)
    dup = sum(len(v) - 1 for v in seen.values() if len(v) > 1)
    missing = sum(1 for line in range(1, n_lines + 1) if line not in seen)
    lines, secs = int(m[2]), float(m[3])
    to_last = (sub.summary_at - t0) if sub.summary_at else None
    return {"lines": lines, "bytes": int(m[1]), "seconds": secs, "lines_per_s": lines / secs,
            "to_last_ack_s": to_last, "lines_per_s_to_last_ack": lines / to_last if to_last else None,
            "acked": len(seen), "missing": missing, "duplicates": dup,
            "errors": sum(1 for v in seen.values() if v and v[0] != "ok")}


def make_tweets(n):
    with open(os.path.join(SRC, "tests", "fixtures", "tweets.ndjson"), "rb") as f:
        src = [line.rstrip(b"\n") for line in f if line.strip()]
    return b"".join(src[i % len(src)] + b"\n" for i in range(n))


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--lines", type=int, default=200000)
    ap.add_argument("--width", type=int, default=64, help="approximate CSV line width in bytes")
    ap.add_argument("--workers", type=int, default=4, help="workers on both sides")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inflight", type=int, default=256,
                    help="NATS: unconfirmed publishes at a time (more queues lines in the stream: same lines/s, "
                         "higher ACK latency)")
    ap.add_argument("--tweets", action="store_true", help="also a tweet (NDJSON) document of LINES/4 lines")
    ap.add_argument("--nats-server", default=shutil.which("nats-server") or "/usr/sbin/nats-server")
    ap.add_argument("--json")
    a = ap.parse_args()
    h.setup_paths(os.path.abspath(a.build), SRC)
    for t in (h.tool("perf", "nats-peer"), h.tool("control", "sluiced"), h.tool("client", "sluice-send")):
        if not os.path.exists(t):
            print(f"missing {t}: build it (ninja -C {a.build}); nats-peer needs libnats-dev", file=sys.stderr)
            return 1
    if not os.path.exists(a.nats_server):
        print(f"no nats-server at {a.nats_server}: apt-get install nats-server (scripts/install-deps.sh)",
              file=sys.stderr)
        return 1

    share = os.path.abspath(os.path.join(SRC, "share", "sluice"))
    host = h.TestHost("nvs", {"bench": TOKEN, "social": TOKEN.replace("nats", "twts")}, rx_lcores=1, workers=a.workers,
                      extra_dataplane="window_bytes = 1048576\nreorder_frames = 1024\nmbufs = 16383\n"
                                      f"\n[workers]\nshare_dir = {share}\n",
                      tenant_extra="reorder_kb = 65536\n",
                      per_tenant={"social": "processor = tweet\ncolumns = 0\n"})
    # lines of about `width` bytes (the longest numbers set the pad), 4 columns, all valid
    pad = max(1, a.width - len(f"{a.lines},,{a.lines * 7},z\n"))
    cases = [("csv", "bench", "csv", 4, "".join(f"{i},{'y' * pad},{i * 7},z\n"
                                                 for i in range(1, a.lines + 1)).encode())]
    if a.tweets:
        cases.append(("tweet", "social", "tweet", 0, make_tweets(max(1, a.lines // 4))))
    paths = {}
    for name, _, _, _, data in cases:
        paths[name] = os.path.join(host.work, f"{name}.doc")
        with open(paths[name], "wb") as f:
            f.write(data)
    server = NatsServer(a.nats_server)
    results = {name: {"nats": [], "sluice": []} for name, *_ in cases}
    rev = 0
    try:
        if not server.wait_ready():
            print("nats-server did not start; see " + server.log, file=sys.stderr)
            return 1
        if host.net_up().returncode != 0 or not host.start():
            print("could not start the test host:\n" + host.log()[-2000:], file=sys.stderr)
            return 1
        for name, tenant, proc, cols, data in cases:
            n_lines = data.count(b"\n")
            for k in range(a.repeat + 1):     # k == 0: warm-up, not recorded
                rev += 1
                nr = run_nats(a, server, paths[name], f"{name}{rev}", proc, cols)
                sr = run_sluice(host, tenant, paths[name], f"{name}{rev}", rev, n_lines)
                if k > 0:
                    results[name]["nats"].append(nr)
                    results[name]["sluice"].append(sr)
                print(f"# {name} round {k}{' (warm-up)' if k == 0 else ''}: NATS {nr['lines_per_s']:,.0f} lines/s, "
                      f"Sluice {sr['lines_per_s']:,.0f} lines/s", file=sys.stderr, flush=True)
        host.stop()
    finally:
        server.stop()
        host.cleanup(keep=False)

    nproc = os.cpu_count()
    print(f"\nSluice vs NATS JetStream ({server.version}), same machine ({nproc} CPUs), same document, "
          f"{a.workers} workers each, NATS {a.inflight} publishes in flight, median of {a.repeat}\n")
    print("| document | system | lines/s | to last ACK (s) | ACK p50 (ms) | p90 | p99 | p99.9 | max | "
          "missing | dup ACKs | durability when ACKed |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    summary = {}
    for name, *_ in cases:
        n, s = results[name]["nats"], results[name]["sluice"]
        lat = {q: statistics.median(r["ack_latency_us"][q] for r in n) / 1e3
               for q in ("p50", "p90", "p99", "p99_9", "max")}
        nl, sl = med(n, "lines_per_s"), med(s, "lines_per_s")
        sl_last = med(s, "lines_per_s_to_last_ack")
        print(f"| {name} ({n[0]['lines']} lines, {n[0]['bytes']} B) | NATS JetStream | {nl:,.0f} | "
              f"{med(n, 'seconds'):.2f} | {lat['p50']:.1f} | {lat['p90']:.1f} | {lat['p99']:.1f} | "
              f"{lat['p99_9']:.1f} | {lat['max']:.1f} | {max(r['missing'] for r in n)} | "
              f"{max(r['duplicates'] for r in n)} | file store, written, not fsynced |")
        print(f"| {name} | Sluice | {sl:,.0f} | {med(s, 'to_last_ack_s'):.2f} | - | - | - | - | - | "
              f"{max(r['missing'] for r in s)} | {max(r['duplicates'] for r in s)} | fdatasync'ed |")
        print(f"| {name} | **Sluice / NATS** | **{sl / nl:.2f}×** | {sl_last / nl:.2f}× (to last ACK) | "
              f"| | | | | | | |")
        summary[name] = {"nats_lines_per_s": nl, "sluice_lines_per_s": sl, "ratio": sl / nl,
                         "sluice_lines_per_s_to_last_ack": sl_last, "ratio_to_last_ack": sl_last / nl,
                         "nats_ack_latency_ms": lat}
    print("\nSluice lines/s: sluice-send OPEN -> DONE; 'to last ACK': sluice-send start -> summary at the "
          "websocket subscriber (the NATS definition: first publish -> last ACK). Sluice per-line ACK "
          "latency: see sluice-perf.")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"lines": a.lines, "width": a.width, "workers": a.workers, "repeat": a.repeat,
                       "cpus": nproc, "nats_server": server.version, "runs": results, "summary": summary},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
