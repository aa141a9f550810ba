#!/usr/bin/env python3
"""The fast path over a bad network: sluice-send -> sluice-lossy (a relay
that drops, reorders, duplicates and corrupts datagrams in both
directions) -> sluiced with 2 rx lcores (net_af_packet, 2 queue pairs).

For 0 %, 1 %, 5 % and 20 % loss with reordering and duplication, for
corruption alone, and for 20 % loss with corruption of every frame type
in both directions (control frames too: OPEN, FIN, ACCEPT, STATUS, NAK,
DONE, REJECT): every sender exits 0 with the right line counts, the
persisted results match the sent documents line for line, every line is
ACKed exactly once, and the document arrived byte-exact (FIN's CRC32C of
the whole document matched: DONE 0). The appliance's counters must show
the damage was seen (NAKs, held frames, CRC failures), the senders must
have dropped corrupted replies, and both rx lcores must have carried
traffic.

usage: loss.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"cocacola": "coke-loss-token-0123456789", "pepsico": "pepsi-loss-token-9876543210"}
check = h.Checks()

# (name, drop %, reorder %, duplicate %, corrupt %); corruption hits every frame type both ways
LEVELS = [
    ("clean", 0, 0, 0, 0),
    ("loss1", 1, 5, 2, 0),
    ("loss5", 5, 5, 2, 0),
    ("loss20", 20, 5, 2, 0),
    ("corrupt", 0, 0, 0, 5),
    ("loss20c", 20, 5, 2, 10),
]
SENT = re.compile(r"^sent (\S+)/(\S+) rev \d+: (\d+) bytes, (\d+) lines \((\d+) ok, (\d+) errors\)")
CORRUPT_REPLIES = re.compile(r"replies: (\d+) corrupt")


def main():
    host = h.TestHost("loss", TOKENS, rx_lcores=2)
    lossy = h.tool("tests", "tools", "sluice-lossy")
    send = h.tool("client", "sluice-send")
    try:
        if not host.bring_up(check, "sluiced starts with 2 rx lcores on 2 queue pairs"):
            return

        for i, (name, drop, reorder, dup, corrupt) in enumerate(LEVELS):
            port = 9100 + i
            stats = os.path.join(host.work, f"relay-{name}.json")
            relay = host.popen(host.in_ns([lossy, "--listen", f"{h.HOST_IP}:{port}",
                                           "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}",
                                           "--drop", str(drop), "--reorder", str(reorder), "--dup", str(dup),
                                           "--corrupt", str(corrupt),
                                           "--seed", str(1000 + i), "--stats", stats]),
                               stderr=subprocess.DEVNULL)
            big = 20000 if name == "loss20c" else 3000     # the size independent verification used
            docs = {("cocacola", f"{name}-a"): h.make_doc(3 + i, big, bad_every=300, multiline_every=70, width=40),
                    ("pepsico", f"{name}-b"): h.make_doc(7 + i, 2001, bad_every=0, multiline_every=90, width=40)}
            subs = {k: h.Subscriber(host, k[0], k[1], 1) for k in docs}
            check(f"{name}: subscribers connected", all(s.wait_subscribed() for s in subs.values()))
            senders = {}
            for (tenant, doc), (data, _) in docs.items():
                path = os.path.join(host.work, f"{doc}.csv")
                with open(path, "wb") as f:
                    f.write(data)
                senders[(tenant, doc)] = host.popen(
                    host.in_ns([send, "--quiet", "--tenant", tenant, "--token", TOKENS[tenant], "--doc", doc,
                                "--rev", "1", "--to", f"{h.HOST_IP}:{port}", path]),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            corrupt_replies = 0
            for k, p in senders.items():
                try:
                    out, err = p.communicate(timeout=180)
                except subprocess.TimeoutExpired:
                    p.kill()
                    out, err = p.communicate()
                check(f"{name}: sluice-send {k[0]}/{k[1]} exits 0 (confirmed)", p.returncode == 0, out + err)
                # The counts it reports are the appliance's true ones (a DONE that does not add up is ignored).
                m = SENT.search(out)
                expect = docs[k][1]
                n_err = sum(1 for v in expect.values() if v == "error")
                check(f"{name}: sluice-send {k[0]}/{k[1]} reports the true counts and bytes",
                      m is not None and int(m.group(3)) == len(docs[k][0]) and int(m.group(4)) == len(expect)
                      and int(m.group(5)) == len(expect) - n_err and int(m.group(6)) == n_err, out)
                c = CORRUPT_REPLIES.search(out)
                corrupt_replies += int(c.group(1)) if c else 0
            for k, s in subs.items():
                s.wait(timeout=60)
                h.check_doc_acks(check, f"{name}: {k[0]}/{k[1]}", s, k[0], k[1], 1, docs[k][1])
                h.check_results_file(check, f"{name}: {k[0]}/{k[1]}", host.data_dir, k[0], k[1], 1, docs[k][1])
            relay.send_signal(signal.SIGTERM)
            relay.wait(timeout=10)
            try:
                with open(stats) as f:
                    rs = json.load(f)
            except (OSError, ValueError):
                rs = {}
            dirs = [v for v in rs.values() if isinstance(v, dict)]
            if drop:
                check(f"{name}: the relay really dropped datagrams", sum(d.get("dropped", 0) for d in dirs) > 0,
                      json.dumps(rs))
            if corrupt:
                check(f"{name}: the relay really corrupted datagrams", sum(d.get("corrupted", 0) for d in dirs) > 0,
                      json.dumps(rs))
                if drop:
                    # Both directions: replies too (each sender counts the ones that failed their CRC).
                    # Checked where the replies are many (thousands): a short clean run has a few dozen,
                    # and none of them being hit would be luck, not a defect.
                    check(f"{name}: the relay corrupted replies (to_client) as well as frames to the appliance",
                          rs.get("to_client", {}).get("corrupted", 0) > 0
                          and rs.get("to_server", {}).get("corrupted", 0) > 0, json.dumps(rs))
                    check(f"{name}: corrupted replies reached the senders and were dropped by their CRC32C",
                          corrupt_replies > 0, f"{corrupt_replies} corrupt replies; relay {json.dumps(rs)}")

        # --- several documents from one sluice-send (--parallel), straight to the appliance ---------
        files, expects = [], {}
        for j in range(4):
            data, expect = h.make_doc(20 + j, 1500 + 100 * j, bad_every=97, multiline_every=0)
            path = os.path.join(host.work, f"batch{j}.csv")
            with open(path, "wb") as f:
                f.write(data)
            files.append(path)
            expects[f"batch{j}"] = expect
        subs = {d: h.Subscriber(host, "cocacola", d, 1) for d in expects}
        check("parallel: subscribers connected", all(s.wait_subscribed() for s in subs.values()))
        r = h.run(host.in_ns([send, "--quiet", "--parallel", "3", "--tenant", "cocacola", "--token",
                              TOKENS["cocacola"], "--rev", "1", "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}"] + files),
                  timeout=180)
        check("sluice-send --parallel 3 with 4 files exits 0", r.returncode == 0, r.stdout + r.stderr)
        check("sluice-send prints one line per document", sum(1 for l in r.stdout.splitlines() if l.startswith("sent ")) == 4,
              r.stdout)
        for d, s in subs.items():
            s.wait(timeout=60)
            h.check_doc_acks(check, f"parallel: cocacola/{d}", s, "cocacola", d, 1, expects[d])

        rc, d = host.sluicectl("drops")
        check("corrupted DATA was caught by its CRC32C and counted", d.get("slp_checksum", 0) > 0, json.dumps(d))
        rc, lc = host.sluicectl("lcores")
        check("gaps were NAKed and out-of-order frames held",
              sum(v.get("naks_sent", 0) for k, v in lc.items() if k.startswith("rx") and isinstance(v, dict)) > 0
              and sum(v.get("held", 0) for k, v in lc.items() if k.startswith("rx") and isinstance(v, dict)) > 0,
              json.dumps(lc)[:800])
        rx = {k: v for k, v in lc.items() if k.startswith("rx") and isinstance(v, dict)}
        check("both rx lcores carried traffic (flows spread over 2 queues)",
              len(rx) == 2 and all(v.get("rx_packets", 0) > 0 for v in rx.values()), json.dumps(rx))
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
