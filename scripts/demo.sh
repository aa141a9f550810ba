#!/bin/sh
# The whole path on a virtual NIC, start to finish:
#   sluiced on net_af_packet over a veth pair into a network namespace;
#   tenants cocacola and pepsico each send two documents with sluice-send;
#   two websocket subscribers print only their own tenant's ACKs;
#   a revision re-send is rejected; then everything started here is stopped.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)

./scripts/install-deps.sh
./scripts/build.sh

NS=sluice-demo IFC=sl-demo0 CONF=$ROOT/config/demo.conf
WORK=/tmp/sluice-demo
BIN=$ROOT/build
APPLIANCE=198.18.0.2:7878 WS=ws://127.0.0.1:8780
COKE_TOKEN=coke-2026-demo-token-7f3a9c PEPSI_TOKEN=pepsi-2026-demo-token-b81e4d
pids=""

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	if [ -n "${SLUICED:-}" ]; then
		kill -TERM "$SLUICED" 2>/dev/null || true
		wait "$SLUICED" 2>/dev/null || true
	fi
	./scripts/netns.sh down "$NS" "$IFC"
	rm -rf /var/run/dpdk/sluice-demo
}
trap cleanup EXIT INT TERM

./scripts/netns.sh down "$NS" "$IFC"
rm -rf "$WORK" && mkdir -p "$WORK"
./scripts/netns.sh up "$NS" "$IFC" 198.18.0.1/24

# documents: 4 columns, a quoted field with a comma and one with a newline,
# and a few broken rows so the ACKs show errors too
make_doc() { # name lines seed
	awk -v n="$2" -v s="$3" 'BEGIN {
		print "id,item,qty,note"
		for (i = 1; i < n; i++) {
			if (i % 997 == 0)      printf "%d,broken-row,%d\n", i, i * s
			else if (i % 500 == 0) printf "%d,\"multi\nline\",%d,\"said \"\"hi\"\"\"\n", i, i * s
			else                   printf "%d,item-%d,%d,\"a, b\"\n", i, i % 97, i * s
		}
	}' > "$WORK/$1.csv"
}
make_doc coke-orders-1 3000 3
make_doc coke-orders-2 2500 5
make_doc pepsi-orders-1 4000 7
make_doc pepsi-orders-2 1500 11

"$BIN/control/sluiced" -c "$CONF" --check-config
"$BIN/control/sluiced" -c "$CONF" > "$WORK/sluiced.log" 2>&1 &
SLUICED=$!
for i in $(seq 1 100); do
	grep -q "sluiced: ready" "$WORK/sluiced.log" && break
	kill -0 "$SLUICED" 2>/dev/null || { cat "$WORK/sluiced.log"; exit 1; }
	sleep 0.2
done
grep "sluiced: ready" "$WORK/sluiced.log"
ip netns exec "$NS" ping -c 1 -W 2 198.18.0.2 >/dev/null && echo "demo: the appliance answers ping at 198.18.0.2"

echo "demo: subscribing: cocacola/orders and pepsico/orders (each with its own token)"
"$BIN/client/sluice-ws" acks --url "$WS" --tenant cocacola --doc orders --token "$COKE_TOKEN" \
	--count-summaries 2 --timeout 60 | sed -u 's/^/[cocacola subscriber] /' &
pids="$pids $!"
"$BIN/client/sluice-ws" acks --url "$WS" --tenant pepsico --doc orders --token "$PEPSI_TOKEN" \
	--count-summaries 2 --timeout 60 | sed -u 's/^/[pepsico subscriber]  /' &
pids="$pids $!"
sleep 1

send() { # tenant token rev file
	ip netns exec "$NS" "$BIN/client/sluice-send" --quiet --tenant "$1" --token "$2" --doc orders \
		--rev "$3" --to "$APPLIANCE" "$WORK/$4.csv"
}
echo "demo: both tenants send orders rev 1 and rev 2 over SLP"
send cocacola "$COKE_TOKEN" 1 coke-orders-1 & a=$!
send pepsico "$PEPSI_TOKEN" 1 pepsi-orders-1 & b=$!
wait $a; wait $b
send cocacola "$COKE_TOKEN" 2 coke-orders-2 & a=$!
send pepsico "$PEPSI_TOKEN" 2 pepsi-orders-2 & b=$!
wait $a; wait $b

echo "demo: cocacola re-sends orders rev 2 (already processed):"
if send cocacola "$COKE_TOKEN" 2 coke-orders-2; then
	echo "demo: ERROR: the re-send was accepted"; exit 1
fi
echo "demo: pepsico tries cocacola's document with its own token:"
ip netns exec "$NS" "$BIN/client/sluice-send" --quiet --tenant cocacola --token "$PEPSI_TOKEN" \
	--doc orders --rev 9 --to "$APPLIANCE" "$WORK/pepsi-orders-2.csv" || true

for p in $pids; do wait "$p" 2>/dev/null || true; done
pids=""
echo "demo: results on disk:"
for f in $(find "$WORK/data" -name '*.results' | sort); do
	printf '  %s: %s lines\n' "${f#$WORK/data/}" "$(wc -l < "$f")"
done
"$BIN/control/sluicectl" --prefix sluice-demo status || true
echo "demo: done; stopping"
