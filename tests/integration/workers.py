#!/usr/bin/env python3
"""Workers under stress: poison lines, workers killed mid-document, long
work in flight, autoscaling.

One sluiced (10 workers, min_active 2) with a poison marker and
crash_limit 2. Checks:
  - a CSV document with poison lines: every other line ACKed exactly once
    and ok; each poison line crashes workers crash_limit times, then is
    quarantined: ACKed once as error "poison" and written to the
    document's dead-letter file; the crashes and restarts are counted;
  - a long-work (simulate) document while workers are killed with
    sluicectl: nothing lost, no ACK duplicated, killed workers restarted;
  - many lines in flight per worker (simulate), and the number of active
    workers rises under that load and falls back to min_active when idle.

usage: workers.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"acme": "acme-workers-token-0123456789", "slow": "slow-workers-token-0123456789"}
PER_TENANT = {"slow": "processor = simulate\nsimulate_ms = \"1000,3000\"\n"}
POISON = "POISON-PILL"
check = h.Checks()


def workers_view(host):
    rc, w = host.sluicectl("workers")
    return w


def send(host, tenant, doc, data, rev=1):
    path = os.path.join(host.work, f"{tenant}-{doc}.csv")
    with open(path, "wb") as f:
        f.write(data)
    return host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant,
                                  "--token", TOKENS[tenant], "--doc", doc, "--rev", str(rev),
                                  "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "60000", path]),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def main():
    host = h.TestHost("wrk", TOKENS, per_tenant=PER_TENANT,
                      extra_dataplane="\n[workers]\nmin_active = 2\nmax_active = 10\nscale_quiet_ms = 500\n"
                                      f"crash_limit = 2\nrestart_backoff_ms = 20\npoison_marker = {POISON}\n")
    try:
        if not host.bring_up(check, "sluiced starts"):
            return
        w0 = workers_view(host)
        check("starts with min_active workers active", w0.get("n_active") == 2, json.dumps(w0)[:500])

        # --- poison lines ------------------------------------------------------------
        data, expect = h.make_doc(3, 3000, bad_every=0, multiline_every=0)
        lines = data.decode().split("\n")
        poison_lines = [700, 2100]
        for n in poison_lines:
            lines[n - 1] = f"{n},{POISON},1,x"
            expect[n] = "error"
        data = "\n".join(lines).encode()
        sub = h.Subscriber(host, "acme", "poisoned", 1)
        check("subscriber connected", sub.wait_subscribed())
        p = send(host, "acme", "poisoned", data)
        out, err = p.communicate(timeout=120)
        check("the poisoned document completes", p.returncode == 0, out + err)
        sub.wait(timeout=60)
        h.check_doc_acks(check, "poisoned", sub, "acme", "poisoned", 1, expect)
        acks = [m for m in sub.messages() if m.get("type") == "ack" and m.get("status") == "error"]
        check("poison lines are ACKed as error 'poison'",
              sorted(m["from"] for m in acks if m.get("reason") == "poison") == poison_lines, json.dumps(acks)[:600])
        dl = os.path.join(host.data_dir, "acme", "poisoned", "1.deadletter")
        dead = []
        if os.path.exists(dl):
            with open(dl) as f:
                dead = [json.loads(x) for x in f if x.strip()]
        check("poison lines are in the dead-letter file",
              sorted(d.get("line") for d in dead) == poison_lines and all(POISON in d.get("raw", "") for d in dead),
              json.dumps(dead)[:400])
        w1 = workers_view(host)
        rows = [v for k, v in w1.items() if k.startswith("worker") and isinstance(v, dict)]
        crashes = sum(v.get("crashes", 0) for v in rows)
        check("each poison line crashed workers crash_limit (2) times", crashes == 4, json.dumps(w1)[:800])
        def restarted(w):
            rows = [v for k, v in w.items() if k.startswith("worker") and isinstance(v, dict)]
            return sum(v.get("restarts", 0) for v in rows) >= 4 and all(v.get("running") == 1 for v in rows)
        end = time.time() + 30           # restarts come after a back-off: wait for them, bounded
        while not restarted(w1) and time.time() < end:
            time.sleep(0.1)
            w1 = workers_view(host)
        check("crashed workers were restarted", restarted(w1), json.dumps(w1)[:800])

        # --- long work in flight, workers killed mid-document, autoscaling ----------------
        n_slow = 20000
        slow = "".join(f"{i},task-{i}\n" for i in range(1, n_slow + 1)).encode()
        slow_expect = {i: "ok" for i in range(1, n_slow + 1)}
        sub = h.Subscriber(host, "slow", "tasks", 1)
        check("subscriber connected (slow)", sub.wait_subscribed())
        p = send(host, "slow", "tasks", slow)
        max_active, max_inflight, killed = 0, 0, 0
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < 90:
            w = workers_view(host)
            max_active = max(max_active, w.get("n_active", 0))
            for k, v in w.items():
                if k.startswith("worker") and isinstance(v, dict):
                    max_inflight = max(max_inflight, v.get("load", 0))
            if killed < 3 and time.time() - t0 > 0.4 * (killed + 1):
                r = h.run([h.tool("control", "sluicectl"), "--prefix", host.prefix, "workers", "kill", str(killed)])
                killed += r.returncode == 0
            time.sleep(0.1)
        out, err = p.communicate(timeout=120)
        check("the long-work document completes while workers are killed", p.returncode == 0, out + err)
        check("sluicectl workers kill worked 3 times", killed == 3)
        sub.wait(timeout=60)
        h.check_doc_acks(check, "slow (killed workers)", sub, "slow", "tasks", 1, slow_expect)
        h.check_results_file(check, "slow (killed workers)", host.data_dir, "slow", "tasks", 1, slow_expect)
        check("a worker held many long lines in flight at once", max_inflight >= 500, f"max load {max_inflight}")
        check("active workers scaled up under load", max_active > 2, f"max n_active {max_active}")
        end = time.time() + 60           # one worker less per scale_quiet_ms: bounded, generously
        w = workers_view(host)
        while time.time() < end and w.get("n_active") != 2:
            time.sleep(0.5)
            w = workers_view(host)
        check("active workers scaled back down to min_active when idle", w.get("n_active") == 2,
              json.dumps({k: w.get(k) for k in ("n_active", "scale_ups", "scale_downs")}))
        check("scale events are counted", w.get("scale_ups", 0) > 0 and w.get("scale_downs", 0) > 0, json.dumps(w)[:300])
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
