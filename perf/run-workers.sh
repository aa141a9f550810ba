#!/bin/sh
# The workers benchmark in one run: processors on one core (lines/s,
# cycles/line, next to the memchr bound), then least-loaded vs round-robin
# p99 under heavy-tailed work. Root (network namespaces). Usage:
#   perf/run-workers.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
"$build/perf/bench-processors" . 200000
echo
python3 perf/dispatch_p99.py "$build" --repeat 3
