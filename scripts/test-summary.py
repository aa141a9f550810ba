#!/usr/bin/env python3
"""Print one closing line for CI: 'N passed, N failed, N skipped' over meson test logs."""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                res = r.get("result")
                if res == "OK":
                    passed += 1
                elif res in ("SKIP",):
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
