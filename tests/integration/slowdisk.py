#!/usr/bin/env python3
"""A slow disk: the writer's test-only latency makes every fdatasync take
40 ms. The adaptive batch must grow from its minimum (each full batch is
written and synced inside the target, set at 5 s so that no machine's
load can make a batch miss it: growing is checked, not the speed), the
senders must be throttled by credit rather than the appliance's memory
growing (its RSS stays under a fixed bound), and every line is ACKed
exactly once.

usage: slowdisk.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"acme": "acme-slow-token-0123456789"}
check = h.Checks()
RSS_BOUND_MB = 1400      # EAL's 1 GiB (no hugepages) plus the process; the pools bound the rest


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def main():
    # few line batches (256 x 64 lines): the documents cannot all sit in memory, credit must shrink
    host = h.TestHost("slow", TOKENS, extra_dataplane="batches = 256\n",
                      extra_storage="fault_delay_us = 40000\nbatch_min_records = 64\nbatch_records = 2048\n"
                                    "batch_target_us = 5000000\n")
    try:
        if not host.bring_up(check, "sluiced starts with a slow disk"):
            return
        rc, st = host.sluicectl("raw /sluice/status")
        first_limit = st.get("persist", {}).get("batch_limit")
        check("the batch starts at batch_min_records", first_limit == 64, json.dumps(st.get("persist")))
        docs = {f"doc{j}": h.make_doc(3 + j, 30000, bad_every=900) for j in range(3)}
        subs, senders = h.start_documents(host, "acme", docs)
        max_limit, max_rss = 0, 0
        while any(p.poll() is None for p in senders.values()):
            rc, st = host.sluicectl("raw /sluice/status")
            max_limit = max(max_limit, st.get("persist", {}).get("batch_limit", 0))
            max_rss = max(max_rss, rss_mb(host.daemon.pid))
            time.sleep(0.2)
        h.finish_documents(check, host, "acme", docs, subs, senders, "on a slow disk", results=False)
        check("the adaptive batch grew under the target latency", max_limit >= 512, f"max batch_limit {max_limit}")
        rc, dr = host.sluicectl("drops")
        check("senders were throttled by credit (frames refused under pressure)",
              dr.get("slp_pressure_drops", 0) > 0, json.dumps(dr)[:400])
        check(f"memory stayed bounded (RSS <= {RSS_BOUND_MB} MB)", 0 < max_rss <= RSS_BOUND_MB, f"{max_rss} MB")
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
