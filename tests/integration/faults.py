#!/usr/bin/env python3
"""A failing disk: the writer's test-only fault injection turns 10 % of
writes and syncs into EIO and reports 20 % of writes as short. Every retry
path runs (short-write resubmission, failed write, failed fdatasync and
the rewrite of the whole round after it). Every line must still be
ACKed exactly once and every result file must hold one result per line.

usage: faults.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"acme": "acme-faults-token-0123456789"}
check = h.Checks()


def main():
    host = h.TestHost("flt", TOKENS, extra_storage="fault_eio_percent = 10\nfault_short_percent = 20\n"
                                                  "batch_records = 256\n")
    try:
        if not host.bring_up(check, "sluiced starts with fault injection on"):
            return
        docs = {f"doc{j}": h.make_doc(3 + j, 15000, bad_every=700, multiline_every=300) for j in range(3)}
        subs, senders = h.start_documents(host, "acme", docs)
        h.finish_documents(check, host, "acme", docs, subs, senders, "on a failing disk")
        rc, st = host.sluicectl("raw /sluice/status")
        pv = st.get("persist", {})
        check("write errors happened and were retried", pv.get("write_errors", 0) > 10 and pv.get("retries", 0) > 10,
              json.dumps(pv))
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
