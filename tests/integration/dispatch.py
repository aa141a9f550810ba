#!/usr/bin/env python3
"""Dispatch policies, on what each one promises — never on speed (how much
least-loaded gains over round-robin at p99 is measured, not asserted, by
perf/dispatch_p99.py).

One sluiced per policy, 2 workers always active ([workers] min_active =
max_active = 2), batches of at most 8 lines. In every phase each document
is ACKed exactly once per line, with its results file in line order.

  round_robin     with one worker holding lines that take an hour (a
                  "slow" tenant: simulate, so they stay outstanding for the
                  whole test), documents sent at once: the two workers
                  took the same number of their batches, give or take one
                  — the next worker in turn, whatever the load (least-
                  loaded would send nearly all of them to the other);
  hash_document   documents sent one after another: each document's lines
                  were all processed by one worker (the per-worker line
                  counters move on one worker only, by the document's line
                  count);
  least_loaded    slow documents of one batch, sent one at a time (the
                  loads only change when the test sends): each goes to a
                  worker that had no more lines outstanding than the
                  other, e.g. after loads (1, 6) the next five single
                  lines all go to the first worker (round-robin would
                  alternate and fail this).

Every wait is bounded by a timeout; no check compares times.

usage: dispatch.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"work": "work-dispatch-token-0123456789", "slow": "slow-dispatch-token-0123456789"}
SLOW = "processor = simulate\nsimulate_ms = \"3600000,3600000\"\ncolumns = 0\n"   # an hour per line
check = h.Checks()
wait_for = h.wait_for


def make_host(policy, per_tenant=None):
    return h.TestHost("dsp", TOKENS, workers=2, per_tenant=per_tenant,
                      extra_dataplane=f"batch_lines = 8\n\n[workers]\nmin_active = 2\nmax_active = 2\n"
                                      f"dispatch = {policy}\nstall_ms = 60000\n"
                                      # the slow lines take an hour: they must not time out meanwhile
                                      f"pending_timeout_ms = 7200000\n")


def start(host, policy):
    r = host.net_up()
    if not check(f"{policy}: test host namespace created", r.returncode == 0, r.stderr):
        return False
    if not check(f"{policy}: sluiced starts", host.start(), host.log()[-3000:]):
        return False
    rc, w = host.sluicectl("workers")
    return check(f"{policy}: sluiced runs that policy with 2 active workers",
                 w.get("dispatch") == policy and w.get("n_active") == 2, json.dumps(w)[:600])


def per_worker(host, cmd, field):
    """{worker index: field} from sluicectl workers / lcores."""
    rc, d = host.sluicectl(cmd)
    return {int(k[len("worker"):]): v.get(field, 0) for k, v in d.items()
            if k.startswith("worker") and k[len("worker"):].isdigit() and isinstance(v, dict)}



def send_slow(host, name, n):
    """A slow document of n lines (one datagram: one batch); its sender never gets DONE (ended at cleanup)."""
    path = os.path.join(host.work, f"{name}.csv")
    with open(path, "w") as f:
        f.writelines(f"{name},{i},x,y\n" for i in range(n))
    host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", "slow",
                           "--token", TOKENS["slow"], "--doc", name, "--rev", "1",
                           "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "600000", path]),
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def send_docs(host, tenant, docs, what):
    """Send {doc: (bytes, expect)} at once and check every line ACKed once, results in order."""
    subs, senders = h.start_documents(host, tenant, docs)
    h.finish_documents(check, host, tenant, docs, subs, senders, what)


def round_robin():
    host = make_host("round_robin", per_tenant={"slow": SLOW})
    try:
        if not start(host, "round_robin"):
            return
        send_slow(host, "slow0", 6)
        loads = wait_for(lambda: per_worker(host, "workers", "load"), lambda v: sum(v.values()) == 6)
        if not check("round_robin: one worker holds 6 slow lines", sorted(loads.values()) == [0, 6], str(loads)):
            return
        docs = {f"rr{j}": h.make_doc(3 + j, 300 + 7 * j, bad_every=50) for j in range(4)}
        send_docs(host, "work", docs, "(round_robin)")
        total = sum(len(e) for _, e in docs.values())
        # a worker counts a batch's lines just after handing its results on: wait for the last ones
        lines = wait_for(lambda: per_worker(host, "workers", "lines"), lambda v: sum(v.values()) == total)
        check("round_robin: the workers processed every line", sum(lines.values()) == total, str(lines))
        batches = per_worker(host, "lcores", "batches")       # finished ones: the slow batch is not
        check("round_robin: the workers took the same number of batches give or take one, "
              "the one holding slow lines included",
              len(batches) == 2 and min(batches.values()) > 0
              and max(batches.values()) - min(batches.values()) <= 1,
              f"batches {batches}, slow lines outstanding {loads}")
        # the slow lines stay outstanding: sluiced is not asked to stop cleanly here (hash_document is)
    finally:
        host.cleanup(keep=check.failed > 0)


def hash_document():
    host = make_host("hash_document")
    try:
        if not start(host, "hash_document"):
            return
        spread = []
        for j in range(6):
            doc = f"hd{j}"
            data, expect = h.make_doc(11 + j, 200 + 40 * j, bad_every=30)
            before = per_worker(host, "workers", "lines")
            send_docs(host, "work", {doc: (data, expect)}, "(hash_document)")
            after = wait_for(lambda: per_worker(host, "workers", "lines"),
                             lambda v: sum(v.values()) - sum(before.values()) == len(expect))
            moved = {w: after[w] - before.get(w, 0) for w in after if after[w] != before.get(w, 0)}
            check(f"hash_document: every line of {doc} was processed by one worker",
                  len(moved) == 1 and list(moved.values()) == [len(expect)],
                  f"lines per worker moved by {moved}, the document has {len(expect)}")
            spread.append(next(iter(moved), None))
        print(f"# workers of the documents: {spread}", flush=True)
        check("hash_document: sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


def least_loaded():
    host = make_host("least_loaded", per_tenant={"slow": SLOW})
    try:
        if not start(host, "least_loaded"):
            return
        loads = per_worker(host, "workers", "load")
        sent = 0
        # one document = one batch: a line or six (one datagram, split in one go)
        for step, n in enumerate([1, 6, 1, 1, 1, 1, 1]):
            send_slow(host, f"slow{step}", n)
            sent += n
            now = wait_for(lambda: per_worker(host, "workers", "load"), lambda v: sum(v.values()) == sent)
            if not check(f"least_loaded: step {step}: the {n} slow line(s) are outstanding",
                         sum(now.values()) == sent, f"loads {now}, {sent} sent"):
                return
            rose = [w for w in now if now[w] != loads.get(w, 0)]
            if len(rose) == 1:
                w = rose[0]
                check(f"least_loaded: step {step}: the batch went to a least-loaded worker",
                      all(loads.get(w, 0) <= loads.get(o, 0) for o in loads),
                      f"loads before {loads}, after {now}")
            else:
                # the six lines came in two batches: each went to the least loaded then, so the
                # loads cannot differ by more than the last batch
                check(f"least_loaded: step {step}: the batches went to the least-loaded workers",
                      max(now.values()) - min(now.values()) <= n, f"loads before {loads}, after {now}")
            loads = now
        # short work still flows, every line once (the slow lines stay outstanding: no clean stop)
        docs = {f"fast{j}": h.make_doc(5 + j, 500, bad_every=40) for j in range(2)}
        send_docs(host, "work", docs, "(least_loaded, beside outstanding slow lines)")
    finally:
        host.cleanup(keep=check.failed > 0)


def main():
    round_robin()
    hash_document()
    least_loaded()


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
