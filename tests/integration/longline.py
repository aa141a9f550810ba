#!/usr/bin/env python3
"""A CPU-bound line holds up only its own document.

One sluiced (6 workers, min_active 2, max_active 4, stall_ms 60 s, the
default long_line_ms). Two phases, each with a line that spins inside its
processor call for SPIN_MS:

  A. the built-in simulate processor (simulate_mode = spin), a one-line
     document. Once the supervisor shows that worker as inside a long call
     (sluicectl workers: state long, call_ms; /metrics), autoscaling must
     add a worker (the long one does not count), and a 20,000-line CSV
     document of another tenant must complete — its summary arriving while
     the spinning document is still incomplete (decided by the order of
     the two summaries, never by a clock);
  B. an external processor (sluice-proc-spin.so): the spinning line is the
     first of a 3,000-line document whose other lines take 1 ms each, so
     batches of it were queued on the spinning worker before it was found
     long; they must be moved to other
     workers (counted in sluicectl and /metrics), another tenant's document
     again completes first, and the spinning document ends with every line
     ACKed exactly once, its results file in line order.

usage: longline.py BUILD_DIR SOURCE_DIR
"""
import http.client
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
SPIN_MS = 20000
SPIN_SO = os.path.abspath(os.path.join(h.BUILD, "dataplane", "external", "sluice-proc-spin.so"))
TOKENS = {"acme": "acme-longline-token-0123456789", "spin": "spin-longline-token-0123456789",
          "xspin": "xspin-longline-token-0123456789"}
PER_TENANT = {"spin": f"processor = simulate\nsimulate_mode = spin\nsimulate_ms = \"{SPIN_MS},{SPIN_MS}\"\n",
              "xspin": f"processor = {SPIN_SO}\n"}
check = h.Checks()


def send(host, tenant, doc, data, rev=1):
    path = os.path.join(host.work, f"{tenant}-{doc}.csv")
    with open(path, "wb") as f:
        f.write(data)
    return host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant,
                                  "--token", TOKENS[tenant], "--doc", doc, "--rev", str(rev),
                                  "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "120000", path]),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def metrics(host):
    try:
        c = http.client.HTTPConnection("127.0.0.1", host.ws_port, timeout=5)
        c.request("GET", "/metrics")
        body = c.getresponse().read().decode(errors="replace")
        c.close()
        return body
    except OSError:
        return ""


def metric_values(body, name):
    """{worker: value} of a per-worker metric."""
    return {int(m.group(1)): int(m.group(2))
            for m in re.finditer(r"^%s\{worker=\"(\d+)\"\} (\d+)$" % re.escape(name), body, re.M)}


def rows(view):
    return {k: v for k, v in view.items() if k.startswith("worker") and isinstance(v, dict)}


def wait_for(what, timeout=15, step=0.1):
    end = time.time() + timeout
    while time.time() < end:
        r = what()
        if r:
            return r
        time.sleep(step)
    return what()


def long_worker(host):
    """(name, row) of a worker shown inside a long call, or None."""
    _, w = host.sluicectl("workers")
    for k, v in rows(w).items():
        if v.get("long_line") == 1:
            return k, v
    return None


def has_summary(sub):
    return any(m.get("type") == "summary" for m in sub.messages())


def first_summary(a, b, timeout=120):
    """Which of two subscribers sees its summary first: 'a', 'b', or None. b is read
    before a, so 'a' means a's summary was there while b's was not yet."""
    end = time.time() + timeout
    while time.time() < end:
        if has_summary(b):
            return "b"
        if has_summary(a):
            return "a"
        time.sleep(0.05)
    return None


def other_tenant_first(host, label, spin_sub, spin_sender, doc):
    """Send a 20,000-line CSV document for acme; it must be complete before the spinning one."""
    data, expect = h.make_doc(5, 20000)
    sub = h.Subscriber(host, "acme", doc, 1)
    check(f"{label}: subscriber connected", sub.wait_subscribed())
    p = send(host, "acme", doc, data)
    first = first_summary(sub, spin_sub, timeout=SPIN_MS / 1000 * 4)
    check(f"{label}: another tenant's document completes while the spinning line still runs",
          first == "a" and spin_sender.poll() is None,
          f"first summary: {first}; spinning sender still running: {spin_sender.poll() is None}")
    out, err = p.communicate(timeout=120)
    check(f"{label}: its sender finished", p.returncode == 0, out + err)
    sub.wait(timeout=60)
    h.check_doc_acks(check, label, sub, "acme", doc, 1, expect)
    h.check_results_file(check, label, host.data_dir, "acme", doc, 1, expect)


def main():
    host = h.TestHost("lng", TOKENS, workers=6, per_tenant=PER_TENANT,
                      extra_dataplane="\n[workers]\nmin_active = 2\nmax_active = 4\nscale_quiet_ms = 500\n"
                                      "stall_ms = 60000\n")
    try:
        if not host.bring_up(check, "sluiced starts"):
            return
        _, w0 = host.sluicectl("workers")
        check("starts with min_active workers active", w0.get("n_active") == 2, json.dumps(w0)[:400])

        # --- A: the simulate processor spinning on a one-line document -------------------
        spin_sub = h.Subscriber(host, "spin", "one", 1)
        check("A: subscriber connected (spin)", spin_sub.wait_subscribed())
        spin = send(host, "spin", "one", b"1,spin\n")
        # waits are bounded well below SPIN_MS, so the next steps still happen during the spin
        found = wait_for(lambda: long_worker(host), timeout=5)
        if check("A: sluicectl workers shows a worker inside a long call", found is not None,
                 json.dumps(host.sluicectl("workers")[1])[:600]):
            name, row = found
            check("A: ... with the age of its call", row.get("call_ms", 0) >= 100, json.dumps(row))
            r = h.run([h.tool("control", "sluicectl"), "--prefix", host.prefix, "workers"])
            check("A: the table shows its state as long",
                  re.search(r"^\s*%s\s+\d+\s+long\s" % name, r.stdout, re.M) is not None, r.stdout)
            idx = int(name[len("worker"):])
            body = metrics(host)
            check("A: /metrics shows it inside a long call",
                  metric_values(body, "sluice_worker_long_line").get(idx) == 1
                  and metric_values(body, "sluice_worker_call_ms").get(idx, 0) >= 100,
                  "\n".join(l for l in body.splitlines() if "long_line" in l or "call_ms" in l))
        n_active = wait_for(lambda: host.sluicectl("workers")[1].get("n_active", 0) >= 3, timeout=5)
        check("A: autoscaling adds a worker while one is inside a long call", n_active,
              json.dumps(host.sluicectl("workers")[1])[:400])
        other_tenant_first(host, "A", spin_sub, spin, "csv-a")
        out, err = spin.communicate(timeout=SPIN_MS / 1000 * 4)
        check("A: the spinning document completes", spin.returncode == 0, out + err)
        spin_sub.wait(timeout=60)
        h.check_doc_acks(check, "A spinning", spin_sub, "spin", "one", 1, {1: "ok"})
        gone = wait_for(lambda: long_worker(host) is None, timeout=10)
        check("A: the worker is no longer shown long once the line is done", gone)

        # --- B: an external processor spinning on the first line of a long document --------
        n_x = 3000
        # the other lines take 1 ms each, so the free workers' loads grow and least-loaded
        # queues some batches behind the spinning line before the supervisor marks it long
        xdata = (f"{SPIN_MS},first\n" + "".join(f"1,line-{i}\n" for i in range(2, n_x + 1))).encode()
        xexpect = {i: "ok" for i in range(1, n_x + 1)}
        xsub = h.Subscriber(host, "xspin", "big", 1)
        check("B: subscriber connected (xspin)", xsub.wait_subscribed())
        xspin = send(host, "xspin", "big", xdata)
        found = wait_for(lambda: long_worker(host), timeout=5)
        check("B: the external processor's worker is shown inside a long call", found is not None)
        moved = wait_for(lambda: host.sluicectl("workers")[1].get("redispatched", 0) > 0, timeout=5)
        _, wv = host.sluicectl("workers")
        check("B: batches queued on the spinning worker were moved to others (sluicectl)", moved,
              json.dumps(wv)[:600])
        body = metrics(host)
        check("B: /metrics counts the moved batches",
              sum(metric_values(body, "sluice_worker_redispatched_batches_total").values()) > 0,
              "\n".join(l for l in body.splitlines() if "redispatched" in l))
        other_tenant_first(host, "B", xsub, xspin, "csv-b")
        out, err = xspin.communicate(timeout=SPIN_MS / 1000 * 4)
        check("B: the spinning document completes", xspin.returncode == 0, out + err)
        xsub.wait(timeout=60)
        h.check_doc_acks(check, "B spinning", xsub, "xspin", "big", 1, xexpect)
        h.check_results_file(check, "B spinning", host.data_dir, "xspin", "big", 1, xexpect)
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
