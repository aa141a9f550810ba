#!/usr/bin/env python3
"""Benchmark: SLP fast-path goodput at 0 % and 5 % loss, side by side.

One run, one sluiced (net_af_packet on a veth pair into a namespace the
benchmark makes), one document. The same document is sent (new revision
each time) through the sluice-lossy relay at 0 % loss — the baseline —
and at 5 % loss (both directions, plus 5 % reordering and 2 %
duplication), alternating, REPEAT times each; also once directly without
the relay, to show what the relay itself costs. One unrecorded warm-up run
comes first. Time is sluice-send's,
from OPEN to DONE, so it includes splitting, the workers, io_uring
persistence with fdatasync and the ACK fan-out. Reported: lines/s,
Gbit/s of document bytes, and the ratio 5 % / 0 % (medians).

usage: perf/slp_goodput.py BUILD_DIR [--lines N] [--width B] [--repeat K] [--json FILE]
(needs root: namespaces). Prints a Markdown table; writes JSON if asked.
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import harness as h  # noqa: E402

TOKEN = "perf-goodput-token-0123456789"
SENT = re.compile(r"(\d+) bytes, (\d+) lines .* in ([0-9.]+) s, (\d+) retransmits")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--lines", type=int, default=300000)
    ap.add_argument("--width", type=int, default=64, help="approximate line width in bytes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    h.setup_paths(os.path.abspath(a.build), SRC)

    host = h.TestHost("perf", {"bench": TOKEN}, rx_lcores=1, extra_dataplane="window_bytes = 1048576\nreorder_frames = 1024\nmbufs = 16383\n",
                      tenant_extra="reorder_kb = 65536\n")
    # lines of about `width` bytes, 4 columns, all valid
    pad = max(1, a.width - 24)
    doc = "".join(f"{i},{'y' * pad},{i * 7},z\n" for i in range(1, a.lines + 1)).encode()
    path = os.path.join(host.work, "doc.csv")
    with open(path, "wb") as f:
        f.write(doc)
    rows = {"direct": [], "relay 0%": [], "relay 5%": []}
    rev = 0
    try:
        if host.net_up().returncode != 0 or not host.start():
            print("could not start the test host:\n" + host.log()[-2000:], file=sys.stderr)
            return 1
        relays = {}
        for name, port, drop, reorder, dup in (("relay 0%", 9200, 0, 0, 0), ("relay 5%", 9201, 5, 5, 2)):
            relays[name] = (port, host.popen(host.in_ns([h.tool("tests", "tools", "sluice-lossy"),
                                                         "--listen", f"{h.HOST_IP}:{port}",
                                                         "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}",
                                                         "--drop", str(drop), "--reorder", str(reorder),
                                                         "--dup", str(dup), "--seed", "42"]),
                                             stderr=subprocess.DEVNULL))
        # one unrecorded warm-up run (page cache, first files), then the pairs, then direct
        plan = ["warm-up"] + ["relay 0%", "relay 5%"] * a.repeat + ["direct"]
        for name in plan:
            rev += 1
            via = "relay 0%" if name == "warm-up" else name
            to = f"{h.APPLIANCE_IP}:{h.SLP_PORT}" if via == "direct" else f"{h.HOST_IP}:{relays[via][0]}"
            r = h.run(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", "bench", "--token", TOKEN,
                                  "--doc", "goodput", "--rev", str(rev), "--to", to, path]), timeout=600)
            m = SENT.search(r.stdout)
            if r.returncode != 0 or not m:
                print(f"{name}: send failed: {r.stdout} {r.stderr}", file=sys.stderr)
                return 1
            nbytes, lines, secs, rexmit = int(m[1]), int(m[2]), float(m[3]), int(m[4])
            if name == "warm-up":
                continue
            rows[name].append({"bytes": nbytes, "lines": lines, "seconds": secs, "retransmits": rexmit,
                               "lines_per_s": lines / secs, "gbit_per_s": nbytes * 8 / secs / 1e9})
        for _, p in relays.values():
            p.send_signal(signal.SIGTERM)
        host.stop()
    finally:
        host.cleanup(keep=False)

    med = {k: statistics.median(r["lines_per_s"] for r in v) for k, v in rows.items()}
    gb = {k: statistics.median(r["gbit_per_s"] for r in v) for k, v in rows.items()}
    print(f"SLP goodput, {a.lines} lines of ~{a.width} B ({len(doc)} bytes), "
          f"median of {a.repeat} (direct: 1), sluice-send -> sluiced (ACK after fdatasync)\n")
    print("| path | lines/s | Gbit/s | retransmits | vs relay 0% |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for k in rows:
        rx = statistics.median(r["retransmits"] for r in rows[k])
        print(f"| {k} | {med[k]:,.0f} | {gb[k]:.3f} | {rx:.0f} | {med[k] / med['relay 0%']:.2f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"lines": a.lines, "width": a.width, "runs": rows, "median_lines_per_s": med,
                       "ratio_5_over_0": med["relay 5%"] / med["relay 0%"]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
