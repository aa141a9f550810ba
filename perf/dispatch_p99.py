#!/usr/bin/env python3
"""Benchmark: least-loaded vs round-robin dispatch, p99 batch completion
time under heavy-tailed CPU-bound work, side by side in one run.

Same set-up as tests/integration/dispatch_compare.py (2 workers, batches of
8 lines, simulate spin with Pareto work times 1..100 ms, documents paced
so the workers are ~60 % busy), run REPEAT times per policy, alternating.
Prints a Markdown table of p50/p90/p99 (medians over the repeats) and the
ratio round-robin / least-loaded.

usage: perf/dispatch_p99.py BUILD_DIR [--repeat K] [--docs N]   (root: namespaces)
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import harness as h  # noqa: E402
import dispatch_compare as dc  # noqa: E402


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
            r = dc.run_policy(policy, docs=a.docs)
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
    print(f"\nround_robin / least_loaded at p99: {med['round_robin']['p99_us'] / med['least_loaded']['p99_us']:.2f}"
          f" (completion), {med['round_robin']['wait_p99_us'] / max(med['least_loaded']['wait_p99_us'], 1):.2f}"
          " (time queued)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
