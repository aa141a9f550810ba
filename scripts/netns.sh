#!/bin/sh
# Make or remove a test host: a network namespace with one end of a veth
# pair (198.18.0.1/24 by default); the other end stays in the root
# namespace, unaddressed, for sluiced's net_af_packet port.
#   netns.sh up NS IFACE [HOST_CIDR]   -> IFACE (root ns) <-> IFACE-p (in NS)
#   netns.sh down NS IFACE
set -eu
cmd=$1 ns=$2 ifc=$3 cidr=${4:-198.18.0.1/24}
peer="${ifc}p"
case "$cmd" in
up)
	ip netns add "$ns"
	ip link add "$ifc" type veth peer name "$peer"
	ip link set "$peer" netns "$ns"
	# The root side carries only sluiced's traffic: no IPv6 chatter, no addresses.
	sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1" 2>/dev/null || true
	ip link set "$ifc" up
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$peer.disable_ipv6=1" 2>/dev/null || true
	ip netns exec "$ns" ip addr add "$cidr" dev "$peer"
	ip netns exec "$ns" ip link set "$peer" up
	# veth leaves UDP checksums to "hardware" that does not exist on the far side
	# of an AF_PACKET socket: compute them in software so sluiced can verify them.
	ip netns exec "$ns" ethtool -K "$peer" tx off >/dev/null 2>&1 || true
	;;
down)
	ip link del "$ifc" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	;;
*)
	echo "usage: netns.sh up|down NS IFACE [CIDR]" >&2
	exit 2
	;;
esac
