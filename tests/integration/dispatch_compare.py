"""Least-loaded against round-robin under heavy-tailed, CPU-bound work:
shared by tests/integration/dispatch.py (asserts the direction) and
perf/dispatch_p99.py (measures the size).

One sluiced per policy, 2 workers always active (one per CPU here), batches of 8 lines,
tenant processor simulate in spin mode with a Pareto (alpha 1.5) work
time from MIN ms clamped at MAX ms. Documents arrive paced (one every
`gap` seconds), so dispatch happens while earlier heavy lines still
occupy their workers — the case where the policy matters. Measured: the
workers' batch completion time (dispatch to results handed on),
p50/p90/p99 from sluiced's own histogram (/sluice/workers)."""
import os
import subprocess
import time

import harness as h

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
