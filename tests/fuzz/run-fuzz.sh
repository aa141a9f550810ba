#!/bin/sh
# Run a libFuzzer target for a bounded time from a copy of its seed corpus
# (libFuzzer writes new inputs into the corpus dir; the repo's stays clean).
#   run-fuzz.sh FUZZER CORPUS_DIR SECONDS
set -eu
fuzzer=$(realpath "$1") corpus=$2 secs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/
cd "$work"
# libFuzzer exits 77 on a crash by default, which meson reads as "skipped": make a crash a failure
"$fuzzer" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 -error_exitcode=1 \
	-timeout_exitcode=1 "$work"
