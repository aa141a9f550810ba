#!/usr/bin/env python3
"""Workers stopped at random moments, many times, while documents stream
through a mix of processors: no line lost, duplicated or corrupted.

One sluiced (4 workers, min_active 2, stall_ms 100, crash_limit 5,
restart_backoff_ms 1). Documents go through csv (with bad and quoted
multi-line rows), the external upper-casing processor (its records are
checked byte for byte), simulate with timers (long work pending across
restarts), simulate spinning a few ms per line (workers inside processor
calls much of the time), and the external spin processor with two lines
that outlast stall_ms (the supervisor stops their worker each time: they
end quarantined as poison, every other line ok).

First, with nothing to do, a stall drill on every worker: each must be
ignored (the workers are between processor calls), none may crash.

Then, with fault_stall_percent, each worker sends itself the stall signal
at 5 % of its line batch hand-overs — right after its results went to
persistence, before its slot is free: the worst moment to unwind (the
supervisor would free results persistence holds and process the lines
again). Every one must be ignored.

Meanwhile (waves of documents go on until enough drills reached a
running worker), drills at random moments on random workers:
  sluicectl workers stall N   the stall signal, wherever worker N is: it
                              must stop the worker only inside the
                              processor call it was aimed at, and be
                              ignored anywhere else (result hand-over,
                              pool operations, the loop);
  sluicectl workers kill N    a crash at the worker's next safe point.
Each document's ACKs must cover every line exactly once with the right
status, its results file hold each line once in order, the upper records
be the upper-cased lines. The daemon must stay up (no fatal signal) and
stop cleanly. Run it against an ASan build too:
  python3 tests/integration/chaos.py BUILD_ASAN_DIR SOURCE_DIR

usage: chaos.py BUILD_DIR SOURCE_DIR [--seed N]
"""
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
# Under ASan: a worker stopped inside a processor call abandons that processor's state by
# design (worker.c); LeakSanitizer is told so, and reports every other leak at exit.
os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                    "lsan.supp"))
os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
SEED = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else int(time.time())
rng = random.Random(SEED)
EXT = os.path.abspath(os.path.join(h.BUILD, "dataplane", "external"))
TOKENS = {"csvt": "csvt-chaos-token-0123456789", "upper": "upper-chaos-token-0123456789",
          "timer": "timer-chaos-token-0123456789", "spin": "spin-chaos-token-0123456789",
          "xstall": "xstall-chaos-token-0123456789", "fast": "fast-chaos-token-0123456789"}
PER_TENANT = {
    "upper": f"processor = {os.path.join(EXT, 'sluice-proc-upper.so')}\ncolumns = 0\n",
    "timer": "processor = simulate\nsimulate_ms = \"1,10\"\n",
    "spin": "processor = simulate\nsimulate_mode = spin\nsimulate_ms = \"1,4\"\n",
    "xstall": f"processor = {os.path.join(EXT, 'sluice-proc-spin.so')}\n",
    "fast": f"processor = {os.path.join(EXT, 'sluice-proc-spin.so')}\n",
}
N_WORKERS = 4
MIN_STALLS, MIN_KILLS = 60, 15   # drills that reached a running worker, at least
MAX_WAVES = 10                   # waves of documents go on until then (bounded)
STALL_LINES = (40, 120)       # xstall lines that spin 400 ms, past stall_ms
check = h.Checks()


def upper_doc(seed, n):
    r = random.Random(seed)
    lines = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz0123456789 -_.") for _ in range(r.randint(1, 60)))
             for _ in range(n)]
    return ("\n".join(lines) + "\n").encode(), {i + 1: "ok" for i in range(n)}, lines


def documents(wave):
    """{(tenant, doc): (bytes, expect, extra)} for one wave."""
    docs = {}
    for k in range(2):
        data, expect = h.make_doc(wave * 10 + k + 1, 4000, bad_every=7, multiline_every=13)
        docs[("csvt", f"w{wave}-c{k}")] = (data, expect, None)
    data, expect, lines = upper_doc(wave, 3000)
    docs[("upper", f"w{wave}-u")] = (data, expect, lines)
    docs[("timer", f"w{wave}-t")] = ("".join(f"{i},t\n" for i in range(1, 1501)).encode(),
                                     {i: "ok" for i in range(1, 1501)}, None)
    docs[("spin", f"w{wave}-s")] = ("".join(f"{i},s\n" for i in range(1, 401)).encode(),
                                    {i: "ok" for i in range(1, 401)}, None)
    # lines with next to no work: the workers spend their time in our own code (taking,
    # handing over, pools), where a stall signal must never unwind them
    docs[("fast", f"w{wave}-f")] = ("".join(f"0,{i}\n" for i in range(1, 30001)).encode(),
                                    {i: "ok" for i in range(1, 30001)}, None)
    return docs


def stall_document():
    rows, expect = [], {}
    for i in range(1, 201):
        rows.append(f"400,stall-{i}\n" if i in STALL_LINES else f"0,line-{i}\n")
        expect[i] = "error" if i in STALL_LINES else "ok"
    return "".join(rows).encode(), expect


class Stream:
    """One document: its subscriber and its sender."""

    def __init__(self, host, tenant, doc, data, expect, extra=None):
        self.tenant, self.doc, self.expect, self.extra = tenant, doc, expect, extra
        self.sub = h.Subscriber(host, tenant, doc, 1)
        self.sub.wait_subscribed()
        path = os.path.join(host.work, f"{tenant}-{doc}.in")
        with open(path, "wb") as f:
            f.write(data)
        self.sender = host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant,
                                             "--token", TOKENS[tenant], "--doc", doc, "--rev", "1",
                                             "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "240000",
                                             path]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def drill_counts(log):
    return (sum(1 for v, _, rc in log if v == "stall" and rc == 0),
            sum(1 for v, _, rc in log if v == "kill" and rc == 0))


def drills(host, stop, log):
    """Stall and kill drills at random moments until enough reached a running worker (or stop)."""
    ctl = [h.tool("control", "sluicectl"), "--prefix", host.prefix, "workers"]
    while not stop.is_set():
        stalls, kills = drill_counts(log)
        if stalls >= MIN_STALLS and kills >= MIN_KILLS:
            return
        verb = "stall" if rng.random() < 0.75 else "kill"
        w = rng.randrange(N_WORKERS)
        r = subprocess.run(ctl + [verb, str(w)], capture_output=True, text=True, timeout=30)
        log.append((verb, w, r.returncode))
        time.sleep(rng.uniform(0, 0.03))


def check_upper(host, s):
    path = os.path.join(host.data_dir, s.tenant, s.doc, "1.upper")
    recs = h.read_results(path)
    got = [(r.get("line"), r.get("record", {}).get("line")) for r in recs]
    want = [(i + 1, l.upper()) for i, l in enumerate(s.extra)]
    bad = [(g, w) for g, w in zip(got, want) if g != w]
    check(f"{s.doc}: upper records are the upper-cased lines, once each, in order",
          len(got) == len(want) and not bad, f"{len(got)} records for {len(want)} lines; first wrong: {bad[:3]}")


def main():
    print(f"seed {SEED}")
    host = h.TestHost("chaos", TOKENS, workers=N_WORKERS, per_tenant=PER_TENANT,
                      extra_dataplane="batch_lines = 8\n\n[workers]\nmin_active = 2\nmax_active = 4\nscale_quiet_ms = 500\n"
                                      "stall_ms = 100\ncrash_limit = 5\nrestart_backoff_ms = 1\nfault_stall_percent = 5\n")
    stop = threading.Event()
    log = []
    driller = None
    try:
        if not host.bring_up(check, "sluiced starts"):
            return
        # --- stall drills on idle workers: all ignored ------------------------------------
        ctl = [h.tool("control", "sluicectl"), "--prefix", host.prefix, "workers"]
        accepted = 0
        for _ in range(3):
            for w in range(N_WORKERS):
                accepted += h.run(ctl + ["stall", str(w)]).returncode == 0
                time.sleep(0.05)
        time.sleep(0.2)
        _, wv = host.sluicectl("workers")
        rows = [v for k, v in wv.items() if k.startswith("worker") and isinstance(v, dict)]
        check("idle: every stall drill was accepted", accepted == 3 * N_WORKERS, f"{accepted}")
        check("idle: a stall signal between processor calls stops no worker",
              sum(v.get("crashes", 0) for v in rows) == 0 and all(v.get("running") == 1 for v in rows),
              json.dumps(wv)[:800])
        check("idle: each worker ignored the signals", all(v.get("stall_ignored", 0) >= 1 for v in rows),
              json.dumps(wv)[:800])

        # --- documents streaming, drills at random moments -------------------------------
        streams = []
        driller = threading.Thread(target=drills, args=(host, stop, log), daemon=True)
        driller.start()
        data, expect = stall_document()
        streams.append(Stream(host, "xstall", "stalls", data, expect))
        # waves of documents while the drills go on (until they reach their counts, not a time)
        wave = 0
        while wave < MAX_WAVES and host.daemon.poll() is None and (wave == 0 or driller.is_alive()):
            for (tenant, doc), (data, expect, extra) in documents(wave).items():
                streams.append(Stream(host, tenant, doc, data, expect, extra))
            wave += 1
            time.sleep(1.5)
        print(f"{wave} waves of documents")
        # every document to its end (the drills stop once they reached their counts)
        end = time.time() + 240
        while time.time() < end and any(s.sender.poll() is None for s in streams):
            if host.daemon.poll() is not None:
                break
            time.sleep(0.2)
        driller.join(timeout=120)     # until the drills reached their counts (bounded)
        stop.set()
        driller.join(timeout=60)
        alive = host.daemon.poll() is None
        check("sluiced stayed up through every drill", alive, host.log()[-3000:])
        stalls, kills = drill_counts(log)
        print(f"drills: {stalls} stall, {kills} kill ({len(log)} attempted)")
        _, wv = host.sluicectl("workers")
        rows = [v for k, v in wv.items() if k.startswith("worker") and isinstance(v, dict)]
        crashes = sum(v.get("crashes", 0) for v in rows)
        ignored = sum(v.get("stall_ignored", 0) for v in rows)
        print(f"workers: {crashes} crashes, {ignored} stall signals ignored, "
              f"{wv.get('redispatched', 0)} batches moved off long calls")
        check("the drills ran many times", stalls >= MIN_STALLS and kills >= MIN_KILLS, f"{stalls} stall, {kills} kill")
        # (a kill asked for in the last moments may not have been acted on yet)
        check("workers were stopped and restarted", crashes > 0 and crashes + N_WORKERS >= kills, json.dumps(wv)[:600])
        check("stall signals outside the stalled call were ignored (fault_stall_percent, drills)",
              ignored > 100, json.dumps(wv)[:600])
        for s in streams:
            # the bound above is spent: a sender still running has failed (no second wait each)
            try:
                out, err = s.sender.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                s.sender.kill()
                out, err = s.sender.communicate()
            ok = check(f"{s.tenant}/{s.doc}: sluice-send completes", s.sender.returncode == 0, (out + err)[-500:])
            s.sub.wait(timeout=60 if ok else 2)
            h.check_doc_acks(check, f"{s.tenant}/{s.doc}", s.sub, s.tenant, s.doc, 1, s.expect)
            h.check_results_file(check, f"{s.tenant}/{s.doc}", host.data_dir, s.tenant, s.doc, 1, s.expect)
            if s.tenant == "upper":
                check_upper(host, s)
        poison = [m for m in streams[0].sub.messages() if m.get("type") == "ack" and m.get("status") == "error"]
        check("lines that outlast stall_ms end quarantined as poison",
              sorted(m["from"] for m in poison if m.get("reason") == "poison") == list(STALL_LINES),
              json.dumps(poison)[:400])
        log_text = host.log()
        check("no fatal signal and no sanitizer report in the log",
              "fatal signal" not in log_text and "ERROR: AddressSanitizer" not in log_text
              and "runtime error:" not in log_text, log_text[-3000:])
        check("sluiced stops cleanly", host.stop() == 0, host.log()[-2000:])
    finally:
        stop.set()
        if driller is not None:
            driller.join(timeout=40)   # its sluicectl calls end (each is bounded) before we clean up
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
