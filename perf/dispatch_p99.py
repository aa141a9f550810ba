#!/usr/bin/env python3
"""Benchmark: least-loaded vs round-robin dispatch, p99 batch completion
time under heavy-tailed CPU-bound work, side by side in one run.

One sluiced per policy, 2 workers always active (one per CPU here), batches
of 8 lines, tenant processor simulate in spin mode with a Pareto (alpha
1.5) work time from 1 ms clamped at 100 ms. Documents arrive paced (one
every 40 ms, so the workers are ~60 % busy): dispatch happens while earlier
heavy lines still occupy their workers, the case where the policy matters.
Measured: the workers' batch completion time (dispatch to results handed
on), p50/p90/p99 from sluiced's own histogram (/sluice/workers). Run
REPEAT times per policy, alternating. Prints a Markdown table of p50/p90/
p99 (medians over the repeats) and the ratio round-robin / least-loaded.

This is a measurement, reported and never asserted: on shared CPUs one
run's p99 rests on a handful of batches and on what else the machine is
doing. What each policy promises is tested by tests/integration/dispatch.py.
The only failure here is a document that did not complete.

usage: perf/dispatch_p99.py BUILD_DIR [--repeat K] [--docs N]   (root: namespaces)
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import harness as h  # noqa: E402

TOKEN = "dispatch-compare-token-0123456789"


def run_policy(policy, docs=150, lines=16, gap=0.04, min_ms=1, max_ms=100, workers=2):
    host = h.TestHost("dsp", {"work": TOKEN},
                      extra_dataplane=f"batch_lines = 8\n\n[workers]\nmin_active = {workers}\nmax_active = {workers}\n"
                                      f"dispatch = {policy}\nstall_ms = 60000\n",
                      workers=workers,
                      per_tenant={"work": f"processor = simulate\nsimulate_mode = spin\nsimulate_dist = pareto\n"
                                          f"simulate_ms = \"{min_ms},{max_ms}\"\ncolumns = 0\n"})
    result = None
    try:
        if host.net_up().returncode != 0 or not host.start():
            raise RuntimeError("test host did not start: " + host.log()[-2000:])
        paths = []
        for d in range(docs):
            path = os.path.join(host.work, f"d{d}.csv")
            with open(path, "w") as f:
                f.writelines(f"{d}-{i},{'p' * 60}\n" for i in range(lines))
            paths.append(path)
        procs = []
        t0 = time.time()
        for d, path in enumerate(paths):
            procs.append(host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", "work",
                                                "--token", TOKEN, "--doc", f"d{d}", "--rev", "1",
                                                "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "120000",
                                                path]),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            time.sleep(gap)
        ok = all(p.wait(timeout=300) == 0 for p in procs)
        elapsed = time.time() - t0
        rc, w = host.sluicectl("workers")
        result = {"policy": policy, "ok": ok, "seconds": elapsed,
                  "p50_us": w.get("batch_us_p50"), "p90_us": w.get("batch_us_p90"),
                  "p99_us": w.get("batch_us_p99"), "max_us": w.get("batch_us_max"),
                  "wait_p50_us": w.get("wait_us_p50"), "wait_p99_us": w.get("wait_us_p99"),
                  "dispatch": w.get("dispatch"),
                  "lines_per_worker": [v.get("lines", 0) for k, v in sorted(w.items())
                                       if k.startswith("worker") and isinstance(v, dict)]}
        host.stop()
    finally:
        host.cleanup(keep=False)
    return result


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--docs", type=int, default=150)
    a = ap.parse_args()
    h.setup_paths(os.path.abspath(a.build), SRC)
    runs = {"least_loaded": [], "round_robin": []}
    for _ in range(a.repeat):
        for policy in runs:
            r = run_policy(policy, docs=a.docs)
            if not r["ok"]:
                print(f"{policy}: a document failed", file=sys.stderr)
                return 1
            runs[policy].append(r)
    med = {p: {k: statistics.median(r[k] for r in v)
               for k in ("p50_us", "p90_us", "p99_us", "wait_p50_us", "wait_p99_us")}
           for p, v in runs.items()}
    print(f"Dispatch under heavy-tailed CPU-bound work ({a.docs} documents x 16 lines, "
          f"median of {a.repeat} runs each, batch completion time in ms)\n")
    print("| policy | p50 | p90 | p99 | queued p50 | queued p99 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for p, m in med.items():
        print(f"| {p} | {m['p50_us'] / 1000:.1f} | {m['p90_us'] / 1000:.1f} | {m['p99_us'] / 1000:.1f} "
              f"| {m['wait_p50_us'] / 1000:.1f} | {m['wait_p99_us'] / 1000:.1f} |")
    print(f"\nround_robin / least_loaded at p99: {ratio(med['round_robin']['p99_us'], med['least_loaded']['p99_us'])}"
          f" (completion), {ratio(med['round_robin']['wait_p99_us'], max(med['least_loaded']['wait_p99_us'] or 0, 1))}"
          " (time queued)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
