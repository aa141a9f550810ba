#!/usr/bin/env python3
"""Crash recovery: sluiced is killed with SIGKILL at several points while
three documents are being sent, and restarted on the same data directory
each time. The senders (the resuming sluice-send) must finish every
document; the result files must hold every line exactly once, in order,
with one summary; and the ACKs seen across all lives — each new
subscriber asking to start after the last line it had — must cover every
line exactly once.

Kill points: (1) mid-transfer, after some lines were ACKed; (2) with a
slow fdatasync (40 ms), shortly after a restart, so the kill lands while
rounds are waiting on the journal's sync; (3) after every document is
complete, before anything else happens ("between documents"). After (3):
the revision registry is intact (the same revision is refused without
RESUME) and a RESUME of the complete revision is answered with its DONE.
A websocket upload is killed mid-way too and resumes with ?resume=1 from
the offset the server names; a resume while it is still open gets 503, a
resume of the complete revision 409, resume=2 400.
Journal segments are 1 MiB here, so segments rotate and are deleted
during the run; after a clean stop one segment is left.

usage: crash.py BUILD_DIR SOURCE_DIR
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
TOKENS = {"acme": "acme-crash-token-0123456789", "social": "social-crash-token-0123456789"}
PER_TENANT = {"social": "processor = tweet\ncolumns = 0\n"}
check = h.Checks()
STORAGE = "batch_min_records = 64\nbatch_records = 1024\njournal_segment_mb = 1\n"
SLOW = "fault_delay_us = 20000\n"     # life 1: rounds of 20 ms, so the kill lands mid-transfer


def write_storage(host, extra):
    """Rewrite the [storage] section's tuning for the next start."""
    with open(host.conf) as f:
        conf = f.read()
    conf = re.sub(r"(\[storage\]\ndata_dir = [^\n]*\n)(.*?)(\n\[tenant)", lambda m: m.group(1) + extra + m.group(3),
                  conf, flags=re.S)
    with open(host.conf, "w") as f:
        f.write(conf)


class Acks:
    """What subscribers have seen of each document across daemon lives."""

    def __init__(self, host, docs, tenant="acme"):
        self.host, self.docs, self.tenant = host, docs, tenant
        self.seen = {d: {} for d in docs}
        self.summaries = {d: [] for d in docs}
        self.subs = {}
        self.life = 0

    def subscribe(self):
        self.life += 1
        self.subs = {}
        for d in self.docs:
            if self.summaries[d]:
                continue           # complete: nothing more to see
            nxt = self.next_line(d)
            self.subs[d] = h.Subscriber(self.host, self.tenant, d, 1, name=f"{d}-life{self.life}",
                                        start_line=nxt, rev=1)
        for d, s in self.subs.items():
            for attempt in range(3):       # a restarted daemon may still be settling: try again
                if s.wait_subscribed():
                    break
                s = self.subs[d] = h.Subscriber(self.host, self.tenant, d, 1,
                                                name=f"{d}-life{self.life}-{attempt + 1}",
                                                start_line=self.next_line(d), rev=1)

    def next_line(self, d):
        n = 1
        while n in self.seen[d]:
            n += 1
        return n

    def collect(self):
        """Fold in what the current subscribers received (call after they ended)."""
        for d, s in self.subs.items():
            for line, st in h.ack_coverage(s.messages(), self.tenant, d, 1).items():
                self.seen[d].setdefault(line, []).extend(st)
            self.summaries[d] += [m for m in s.messages() if m.get("type") == "summary"]

    def acked(self):
        total = 0
        for d, s in self.subs.items():
            total += len(h.ack_coverage(s.messages(), self.tenant, d, 1))
        return total


def kill9(host):
    host.daemon.kill()
    host.daemon.wait()


def http_status(host, path):
    c = http.client.HTTPConnection("127.0.0.1", host.ws_port, timeout=5)
    c.request("GET", path, headers={"Authorization": "Bearer " + TOKENS["acme"]})
    r = c.getresponse()
    body = r.read().decode(errors="replace") + " " + (r.getheader("x-sluice-reason") or "")
    c.close()
    return r.status, body


def ingest_cmd(host, path, resume=False):
    return ([h.tool("client", "sluice-ws"), "ingest", "--url", host.url, "--tenant", "acme", "--doc", "upload",
             "--token", TOKENS["acme"], "--rev", "1", "--timeout", "120"] + (["--resume"] if resume else []) + [path])


def websocket_upload(host):
    """A websocket upload killed mid-way resumes from the offset the server names."""
    data, expect = h.make_doc(77, 400000, bad_every=900)
    path = os.path.join(host.work, "upload.csv")
    with open(path, "wb") as f:
        f.write(data)
    acks = Acks(host, {"upload": (data, expect)})
    acks.subscribe()
    # the test feeds the upload: it holds the rest back, so the upload is still open when the
    # resume is tried and when sluiced is killed, however fast the machine is
    up = host.popen(ingest_cmd(host, "-"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=open(os.path.join(host.work, "upload-life1.err"), "w"))
    up.stdin.write(data[:len(data) // 3])
    up.stdin.flush()
    end = time.time() + 60
    while acks.acked() < 3000 and up.poll() is None and time.time() < end:
        time.sleep(0.02)
    r = h.run(ingest_cmd(host, path, resume=True), timeout=30)
    check("a resume while the upload is still open is refused (503, still being received)",
          r.returncode == 1 and "still being received" in r.stderr, r.stdout[-300:] + r.stderr[-500:])
    running = up.poll() is None
    kill9(host)
    check("websocket: killed while the upload was running", running)
    try:
        up.stdin.close()
    except OSError:
        pass                   # it saw the server go and exited first
    try:
        up.wait(timeout=20)
    except subprocess.TimeoutExpired:
        up.kill()              # cleanup's job in any case; what matters is the resume below
        up.wait()
    for s in acks.subs.values():
        s.wait(timeout=10)
    acks.collect()
    if not check("websocket: sluiced restarts", host.start(append=True), host.log()[-3000:]):
        return
    acks.subscribe()
    r = h.run(ingest_cmd(host, path, resume=True), timeout=180)
    m = re.search(r"resuming at byte (\d+)", r.stderr)
    check("websocket: the upload resumes past its start and completes",
          r.returncode == 0 and m is not None and int(m.group(1)) > 0, r.stderr[-800:])
    for s in acks.subs.values():
        s.wait(timeout=60)
    acks.collect()
    seen = acks.seen["upload"]
    dup = [line for line, st in seen.items() if len(st) != 1]
    missing = [line for line in expect if line not in seen]
    check("websocket upload: every line ACKed exactly once across the crash", not dup and not missing,
          f"dup={dup[:5]} missing={missing[:5]}")
    h.check_results_file(check, "websocket upload", host.data_dir, "acme", "upload", 1, expect)
    r = h.run(ingest_cmd(host, path, resume=True), timeout=30)
    check("websocket: resuming a complete revision is refused with its counts (409)",
          r.returncode == 1 and "already complete" in r.stderr, r.stderr[-500:])
    status, body = http_status(host, "/v1/ingest/acme/upload?rev=1&resume=2")
    check("websocket: resume=2 is refused (400)", status == 400 and "resume must be 1 or 0" in body, f"{status} {body}")


def tweets_doc(n):
    """n NDJSON tweets (every 5th a retweet, which makes two tweet records; every 97th not JSON);
    returns the bytes, the expected statuses and the tweet records each line must produce."""
    def tweet(i, text, rt=None):
        t = {"id_str": str(5000 + i), "id": 5000 + i, "text": text,
             "user": {"id_str": str(1000 + i % 50), "id": 1000 + i % 50, "screen_name": f"user{i % 50}",
                      "followers_count": 10 * (i % 7)},
             "favorite_count": i % 13, "retweet_count": i % 11, "lang": "en"}
        if rt is not None:
            t["retweeted_status"] = rt
        return t
    lines, expect, records = [], {}, {}
    for i in range(1, n + 1):
        if i % 97 == 0:
            lines.append('{"id": 1, "text": "broken')
            expect[i] = "error"
            continue
        text = f"I love release {i}, amazing work! " + "x" * (i % 40)
        rt = tweet(i + 100000, "the original " + text) if i % 5 == 0 else None
        lines.append(json.dumps(tweet(i, "RT " + text if rt else text, rt)))
        expect[i] = "ok"
        records[i] = 2 if rt else 1
    return ("\n".join(lines) + "\n").encode(), expect, records


def check_tweet_records(host, doc, records):
    """Every line's tweet records are in <rev>.tweets exactly once (retweets make two)."""
    got = {}
    path = os.path.join(host.data_dir, "social", doc, "1.tweets")
    if not check(f"{doc}: the tweet records file exists", os.path.exists(path), path):
        return
    with open(path) as f:
        for raw in f:
            r = json.loads(raw)
            got[r["line"]] = got.get(r["line"], 0) + 1
    wrong = [line for line in set(got) | set(records) if got.get(line, 0) != records.get(line, 0)]
    check(f"{doc}: every line's tweet records written exactly once across the crashes", not wrong,
          f"{len(wrong)} lines wrong, e.g. {[(w, got.get(w), records.get(w)) for w in sorted(wrong)[:5]]}")


def main():
    host = h.TestHost("crash", TOKENS, extra_storage=STORAGE + SLOW, per_tenant=PER_TENANT)
    try:
        if not host.bring_up(check, "sluiced starts"):
            return
        docs = {f"doc{j}": h.make_doc(20 + j, 150000, bad_every=700, width=48) for j in range(3)}
        total = sum(len(e) for _, e in docs.values())
        acks = Acks(host, docs)
        acks.subscribe()
        tdata, texpect, trecords = tweets_doc(40000)
        tdocs = {"tweets": (tdata, texpect)}
        tacks = Acks(host, tdocs, tenant="social")
        tacks.subscribe()
        total += len(texpect)
        _, senders = h.start_documents(host, "acme", docs, timeout_ms=90000)
        _t, tsenders = h.start_documents(host, "social", tdocs, timeout_ms=90000)
        for s in list(_.values()) + list(_t.values()):   # start_documents' own subscribers: not needed
            s.p.kill()
        senders.update(tsenders)
        every = [acks, tacks]

        # (1) mid-transfer, once some lines are ACKed
        end = time.time() + 60
        # every document in flight: kill once each has some lines ACKed, none near its end
        def progress():
            return [len(h.ack_coverage(s.messages(), a.tenant, d, 1)) / len(a.docs[d][1])
                    for a in every for d, s in a.subs.items()]
        while min(progress()) < 0.02 and max(progress()) < 0.3 and time.time() < end:
            time.sleep(0.02)
        check("(1) sluiced was alive until the kill", host.daemon.poll() is None, f"exit {host.daemon.returncode}")
        kill9(host)
        time.sleep(0.3)
        for a in every:
            for s in a.subs.values():
                s.wait(timeout=10)
            a.collect()
        n1 = sum(len(v) for a in every for v in a.seen.values())
        check("(1) killed mid-transfer after some ACKs", 0 < n1 < total, f"{n1} of {total} ACKed")

        # (2) a slow journal sync: kill while rounds wait on it
        write_storage(host, STORAGE + "fault_delay_us = 40000\n")
        if not check("(2) sluiced restarts after kill -9", host.start(append=True), host.log()[-3000:]):
            return
        check("(2) the restart found unfinished documents in the journal",
              "unfinished documents" in host.log()[host.log_mark:], host.log()[host.log_mark:][-1500:])
        for a in every:
            a.subscribe()
        end = time.time() + 60
        while sum(a.acked() for a in every) < 2000 and time.time() < end:
            time.sleep(0.05)
        check("(2) sluiced was alive until the kill", host.daemon.poll() is None, f"exit {host.daemon.returncode}")
        kill9(host)
        time.sleep(0.3)
        for a in every:
            for s in a.subs.values():
                s.wait(timeout=10)
            a.collect()
        n2 = sum(len(v) for a in every for v in a.seen.values())
        check("(2) killed during slow syncs, after more lines were ACKed", n2 > n1, f"{n1} -> {n2}")

        # the last life: to the end
        write_storage(host, STORAGE)
        if not check("(3) sluiced restarts again", host.start(append=True), host.log()[-3000:]):
            return
        for a in every:
            a.subscribe()
        for d, p in senders.items():
            try:
                out, err = p.communicate(timeout=240)
            except Exception:
                p.kill()
                out, err = p.communicate()
            check(f"{d}: the sender completes across two crashes", p.returncode == 0, out + err)
            m = re.search(r"(\d+) resumes", out + err)
            check(f"{d}: the sender resumed", m is not None and int(m.group(1)) >= 1, out + err)
        check("sluiced is still running after the documents (did not die)", host.daemon.poll() is None,
              f"exit status {host.daemon.returncode}: " + host.log()[-1500:])
        for a in every:
            for s in a.subs.values():
                s.wait(timeout=60)
            a.collect()
        for a, d, expect in [(acks, d, e) for d, (_, e) in docs.items()] + [(tacks, "tweets", texpect)]:
            seen = a.seen[d]
            dup = [line for line, st in seen.items() if len(st) != 1]
            missing = [line for line in expect if line not in seen]
            wrong = [line for line in expect if line in seen and seen[line][0] != expect[line]]
            check(f"{d}: every line ACKed exactly once across three lives", not dup and not missing,
                  f"dup={dup[:5]} missing={missing[:5]} ({len(seen)} of {len(expect)})")
            check(f"{d}: ACK statuses match", not wrong, str(wrong[:5]))
            check(f"{d}: one summary", len(a.summaries[d]) == 1, str(a.summaries[d]))
            h.check_results_file(check, d, host.data_dir, a.tenant, d, 1, expect)
        check_tweet_records(host, "tweets", trecords)

        rc, st = host.sluicectl("raw /sluice/status")
        ps = st.get("persist", {})
        check("journal segments were rotated and deleted during the run",
              ps.get("checkpoints", 0) >= 2 and ps.get("segments_deleted", 0) >= 1, str(ps))
        check("documents were resumed from a durable position past their start",
              re.search(r"resumed at line [1-9]\d*, byte [1-9]", host.log()) is not None,
              "\n".join(l for l in host.log().splitlines() if "resumed" in l)[:800])

        # (3) between documents: everything complete, kill, restart
        kill9(host)
        if not check("(3) sluiced restarts after a kill between documents", host.start(append=True),
                     host.log()[-3000:]):
            return
        data, expect = docs["doc0"]
        path = os.path.join(host.work, "acme-doc0.csv")
        base = [h.tool("client", "sluice-send"), "--quiet", "--tenant", "acme", "--token", TOKENS["acme"],
                "--doc", "doc0", "--rev", "1", "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", "--timeout-ms", "10000"]
        r = h.run(host.in_ns(base + [path]))
        check("the revision registry survived: revision 1 again is refused",
              r.returncode == 1 and "not newer" in r.stdout + r.stderr, r.stdout + r.stderr)
        r = h.run(host.in_ns(base + ["--resume", path]))
        check("RESUME of the complete revision is answered with its DONE", r.returncode == 0, r.stdout + r.stderr)
        h.check_results_file(check, "doc0 after the resumed DONE", host.data_dir, "acme", "doc0", 1, expect)
        websocket_upload(host)
        check("sluiced stops cleanly", host.stop() == 0)
        segs = [f for f in os.listdir(os.path.join(host.data_dir, "journal")) if f.endswith(".sj")]
        check("after a clean stop one journal segment is left", len(segs) == 1, str(segs))
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
