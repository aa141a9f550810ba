#!/bin/sh
# Install what is needed, build, and run the whole test suite (meson test).
# Also builds with ASan/UBSan and runs the unit tests and the chaos integration
# test (workers stopped at random moments) there.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
if [ ! -f build-asan/build.ninja ]; then
	meson setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
fi
ninja -C build-asan
status=0
meson test -C build --print-errorlogs --num-processes 1 || status=1
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	meson test -C build-asan --suite unit --suite asan-integration --print-errorlogs || status=1
python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
exit $status
