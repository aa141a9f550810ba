#!/bin/sh
# Install what Sluice needs to build, test and run its demo: Debian packages only.
set -eu
PKGS="build-essential meson ninja-build pkg-config clang libclang-rt-14-dev
      libdpdk-dev dpdk dpdk-dev libwebsockets-dev liburing-dev libjansson-dev
      iproute2 ethtool iputils-ping python3 procps fio libcsv-dev nats-server libnats-dev gnuplot-nox"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "install-deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
else
	echo "install-deps: all packages present"
fi
