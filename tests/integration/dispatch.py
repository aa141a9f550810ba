#!/usr/bin/env python3
"""Least-loaded dispatch beats round-robin on p99 batch completion time
under heavy-tailed CPU-bound work (the direction only; perf/dispatch_p99.py
measures the size). See dispatch_compare.py for the set-up.

usage: dispatch.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import dispatch_compare as dc  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
check = h.Checks()
ll = dc.run_policy("least_loaded")
rr = dc.run_policy("round_robin")
print(json.dumps({"least_loaded": ll, "round_robin": rr}))
check("both runs complete every document", ll["ok"] and rr["ok"])
check("each run used its dispatch policy", ll["dispatch"] == "least_loaded" and rr["dispatch"] == "round_robin")
check("least-loaded has a lower p99 batch completion time than round-robin",
      ll["p99_us"] and rr["p99_us"] and ll["p99_us"] < rr["p99_us"], f"{ll['p99_us']} vs {rr['p99_us']} us")
sys.exit(check.summary())
