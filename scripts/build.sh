#!/bin/sh
# Configure (once) and build Sluice into ./build with warnings as errors.
set -eu
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
	meson setup build -Dwerror=true
fi
ninja -C build
