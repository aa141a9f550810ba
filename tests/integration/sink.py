#!/usr/bin/env python3
"""A full disk in the middle of a run: the data directory is a small
tmpfs the test mounts; three documents whose results do not fit are sent
at once. The appliance must report the sink unhealthy, ACK nothing it has
not written, hold the senders back (credit) instead of dropping, and once
the test grows the filesystem, finish everything: every line ACKed exactly
once, every result file complete, the sink healthy again with the time it
was not counted.

usage: sink.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"acme": "acme-sink-token-0123456789"}
check = h.Checks()


def persist_view(host):
    rc, st = host.sluicectl("raw /sluice/status")
    return st.get("persist", {}) if isinstance(st, dict) else {}


def main():
    mnt = tempfile.mkdtemp(prefix="sluice-sink-")
    r = h.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt])
    if not check("a 3 MiB tmpfs is mounted for the data directory", r.returncode == 0, r.stderr):
        return
    host = h.TestHost("sink", TOKENS, data_dir=os.path.join(mnt, "data"))   # on the small filesystem
    try:
        if not host.bring_up(check, "sluiced starts"):
            return
        docs = {f"big{j}": h.make_doc(5 + j, 40000, bad_every=1000, width=10) for j in range(3)}
        subs, senders = h.start_documents(host, "acme", docs)
        unhealthy = False
        end = time.time() + 60
        while time.time() < end:
            pv = persist_view(host)
            if pv.get("sink") == "unhealthy":
                unhealthy = True
                break
            time.sleep(0.2)
        check("the sink is reported unhealthy when the disk fills", unhealthy, json.dumps(persist_view(host)))
        time.sleep(1.5)
        states = [p.poll() for p in senders.values()]
        # a document that fit before the disk filled may have completed; none may fail
        check("senders are held back, not failed, while the disk is full",
              any(x is None for x in states) and all(x in (None, 0) for x in states), str(states))
        acked = sum(len(h.ack_coverage(s.messages(), "acme", d, 1)) for d, s in subs.items())
        written = 0
        for d in docs:
            try:
                with open(os.path.join(host.data_dir, "acme", d, "1.results")) as f:
                    written += sum(1 for l in f if '"summary":true' not in l)
            except OSError:
                pass
        check("nothing is ACKed that is not written", acked <= written, f"{acked} ACKed, {written} written")

        r = h.run(["mount", "-o", "remount,size=64m", mnt])
        check("the filesystem is grown", r.returncode == 0, r.stderr)
        h.finish_documents(check, host, "acme", docs, subs, senders, "after the disk recovers")
        pv = persist_view(host)
        check("the sink is healthy again and the unhealthy time was counted",
              pv.get("sink") == "healthy" and pv.get("unhealthy_ms_total", 0) > 0 and pv.get("write_errors", 0) > 0,
              json.dumps(pv))
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)
        subprocess.run(["umount", mnt], capture_output=True)
        os.rmdir(mnt)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
