#!/usr/bin/env python3
"""Every refusal of the HTTP/websocket listener, on the wire, as
docs/websocket.md ("Refusals") promises: a real HTTP answer with the
status, the reason in the body and in the x-sluice-reason header, then the
connection closed; for plain GETs and for websocket upgrades alike.

Covers the gate in front of libwebsockets (control/gate.c): traversal in
every spelling (.., %2e%2e, %2F, %5C, double encoding, //), %00 in the path
and the query, bad escapes, a 5,000-byte path (414), a head over 8 KiB
(431), a head that never ends (408), too many connections at once (503);
and the routing behind it: bad names, unknown routes, bad queries, unknown
tenant, missing and wrong tokens. Good requests (sent whole, or a byte at a
time) still get through, and the refusals are counted.

Raw sockets on loopback, no client library: what is checked is exactly
what goes over the wire.

usage: urls.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

h.setup_paths(sys.argv[1], sys.argv[2])
TOKENS = {"cocacola": "coke-url-token-0123456789", "pepsico": "pepsi-url-token-9876543210"}
UPGRADE = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n")
CLOSE = "Connection: close\r\n"          # for answers that are not refusals: no keep-alive wait
check = h.Checks()


def exchange(port, raw, timeout=10, chunk=None, pause=0.0):
    """Send raw bytes (in chunks of `chunk` bytes, `pause` apart), read until the server closes
    or `timeout`. Returns (status or None, {header: value}, body bytes, closed by the server)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        if chunk:
            for i in range(0, len(raw), chunk):
                s.sendall(raw[i:i + chunk])
                time.sleep(pause)
        else:
            s.sendall(raw)
        data, closed, end = b"", False, time.time() + timeout
        s.settimeout(0.5)
        while time.time() < end:
            try:
                b = s.recv(65536)
            except socket.timeout:
                if data.startswith(b"HTTP/1.1 101"):
                    break                       # an open websocket: the server keeps it
                continue
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            data += b
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = None
    if lines and lines[0].startswith("HTTP/1.1 "):
        try:
            status = int(lines[0].split(" ")[1])
        except ValueError:
            pass
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body, closed


def request(target, token=None, upgrade=False, extra=""):
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}{UPGRADE if upgrade else ''}{extra}\r\n"
            ).encode("latin-1")


def refused(port, label, raw, status, why):
    st, hdrs, body, closed = exchange(port, raw)
    reason = hdrs.get("x-sluice-reason", "")
    text = body.decode("utf-8", "replace").strip()
    return check(f"{label}: {status} '{why}...' with x-sluice-reason and the same text, then closed",
                 st == status and why in reason and reason == text and closed,
                 f"got {st} header={reason!r} body={text[:160]!r} closed={closed}")


def main():
    host = h.TestHost("urls", TOKENS)
    port = host.ws_port
    coke = TOKENS["cocacola"]
    try:
        if not host.bring_up(check, "sluiced starts"):
            return

        long_name = "a" * 5000
        cases = [
            # traversal, every spelling: a bad path, whatever it would fold to
            ("/v1/acks/cocacola/..", 400, "bad path: '.' and '..' segments"),
            ("/v1/acks/cocacola/%2e%2e", 400, "bad path: '.' and '..' segments"),
            ("/v1/acks/cocacola/.%2E", 400, "bad path: '.' and '..' segments"),
            ("/v1/acks/cocacola/../pepsico/orders", 400, "bad path: '.' and '..' segments"),
            ("/v1/acks/cocacola/%2e%2e/pepsico/orders", 400, "bad path: '.' and '..' segments"),
            ("/v1/acks/./cocacola/orders", 400, "bad path: '.' and '..' segments"),
            ("/v1/acks/cocacola/..%2Fpepsico%2Forders", 400, "bad path: an encoded '/' (%2F)"),
            ("/v1/acks/cocacola/%2e%2e%2fpepsico%2forders", 400, "bad path: an encoded '/' (%2F)"),
            ("/v1/acks/cocacola/..%5Cpepsico", 400, "bad path: '\\' is not allowed"),
            ("/v1/acks/cocacola/..\\pepsico", 400, "bad path: '\\' is not allowed"),
            ("/v1/acks/cocacola/%252e%252e", 400, "bad path: an encoded '%' (%25)"),
            ("/v1/acks/cocacola/..%252Fpepsico", 400, "bad path: an encoded '%' (%25)"),
            ("/v1/acks//cocacola/orders", 400, "bad path: empty segment"),
            ("/metrics/../healthz", 400, "bad path: '.' and '..' segments"),
            # bytes lws would drop the connection over, or answer with its own 403
            ("/v1/acks/cocacola/a%00b", 400, "bad path: %00"),
            ("/v1/acks/cocacola/orders?token=%00", 400, "bad query: %00"),
            ("/v1/acks/cocacola/a%2", 400, "bad path: '%' must be followed by two hex digits"),
            ("/v1/acks/cocacola/a%zz", 400, "bad path: '%' must be followed by two hex digits"),
            ("/v1/acks/cocacola/or;ders", 400, "bad path: ';' is not allowed"),
            ("/v1/acks/cocacola/orders?" + "&".join(f"p{i}=1" for i in range(20)), 400,
             "bad query: more than 16 parameters"),
            ("/v1/acks/cocacola/" + long_name, 414, "request target longer than 2048 bytes"),
            # names, routes and queries, judged by the routing behind the gate
            ("/v1/acks/cocacola/.hidden", 400, "bad path: document name"),
            ("/v1/acks/cocacola/" + "x" * 80, 400, "bad path: document name"),
            ("/v1/acks/cocacola/a%20b", 400, "bad path: document name"),
            ("/v1/acks/coca%20cola/orders", 400, "bad path: tenant name"),
            ("/v1/acks/cocacola", 400, "bad path: expected /v1/acks/<tenant>/<doc>"),
            ("/v1/acks/cocacola/orders/more", 400, "bad path: expected /v1/acks/<tenant>/<doc>"),
            ("/v1/nothing/cocacola/orders", 400, "bad path: expected /v1/acks/<tenant>/<doc>"),
            ("/v1/ingest/cocacola?rev=1", 400, "bad path: expected /v1/ingest/<tenant>/<doc>"),
            ("/v1/ingest/cocacola/.x?rev=1", 400, "bad path: document name"),
            ("/v1/topk/cocacola/orders", 400, "bad path: expected /v1/topk/<tenant>"),
            ("/v1/topk/.cocacola", 400, "bad path: tenant name"),
            ("/v1/topk/fanta", 404, "unknown tenant"),
            ("/v1/acks/cocacola/orders?from=0", 400, "from must be a line number"),
            ("/v1/acks/cocacola/orders?form=1", 400, "unknown query parameter 'form'"),
            ("/v1/acks/cocacola/orders?rev=2", 400, "rev needs from"),
            ("/v1/ingest/cocacola/orders", 400, "rev must be a positive integer"),
            ("/v1/ingest/cocacola/orders?rev=1&resume=2", 400, "resume must be 1 or 0"),
            ("/v1/acks/fanta/orders", 404, "unknown tenant"),
        ]
        for target, status, why in cases:
            for up in (False, True):
                refused(port, f"{'upgrade' if up else 'GET'} {target[:60]}", request(target, coke, up), status, why)

        for up in (False, True):
            kind = "upgrade" if up else "GET"
            refused(port, f"{kind} without a token", request("/v1/acks/cocacola/orders", None, up), 401,
                    "missing token")
            refused(port, f"{kind} with another tenant's token",
                    request("/v1/acks/cocacola/orders", TOKENS["pepsico"], up), 403,
                    "token does not match tenant cocacola")
        refused(port, "GET of an unknown route", request("/nothing"), 404, "not found: the endpoints are")
        refused(port, "a head over 8 KiB", request("/healthz", extra="Cookie: " + "c" * 9000 + "\r\n"), 431,
                "request line and headers longer than 8192 bytes")
        refused(port, "a request line that is not HTTP", b"HELLO\r\n\r\n", 400, "bad request line")

        # --- what must still get through ---------------------------------------------------
        st, _, body, _ = exchange(port, request("/healthz", extra=CLOSE))
        check("GET /healthz answers 200 ok", st == 200 and body.strip() == b"ok", f"{st} {body[:80]!r}")
        st, _, body, _ = exchange(port, request("/v1/acks/cocacola/orders", coke, True), timeout=5)
        check("a websocket subscription is upgraded and greeted",
              st == 101 and b'"type":"subscribed"' in body, f"{st} {body[:200]!r}")
        st, _, body, _ = exchange(port, request("/v1/acks/cocacola/orders?from=1", coke, True), timeout=5,
                                  chunk=7, pause=0.02)
        check("a subscription whose head arrives 7 bytes at a time is upgraded",
              st == 101 and b'"type":"subscribed"' in body, f"{st} {body[:200]!r}")

        # --- a head that never ends: 408 after the gate's 10 s -----------------------------
        st, hdrs, body, closed = exchange(port, b"GET /v1/acks/cocacola/orders HTTP/1.1\r\nHost: x\r\n",
                                          timeout=30)
        check("a head that never ends is answered 408 with the reason, then closed",
              st == 408 and "not received within" in hdrs.get("x-sluice-reason", "") and closed,
              f"{st} {hdrs} {body[:100]!r}")

        # --- too many connections sending their head at once: 503 --------------------------
        # Heads in progress hold the gate's 256 slots (until their 10 s run out); a refused peer's
        # slot may linger a moment. So: keep adding idle heads and, from 256 on, try a request,
        # until one is refused. It must be, while at least 256 heads are in progress.
        idle, busy = [], None
        while len(idle) < 300 and busy is None:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"GET /heal")                     # a head in progress
            idle.append(s)
            if len(idle) >= 256:
                st, hdrs, body, closed = exchange(port, request("/healthz", extra=CLOSE))
                if st == 503:
                    busy = (len(idle), hdrs, body, closed)
        check("with 256 heads in progress, one more connection is answered 503 with the reason, then closed",
              busy is not None and busy[0] >= 256 and "too many connections" in busy[1].get("x-sluice-reason", "")
              and busy[3], str(busy)[:300])
        for s in idle:
            s.close()
        end = time.time() + 10
        st = None
        while time.time() < end and st != 200:          # the gate frees the slots as the peers leave
            st, _, _, _ = exchange(port, request("/healthz", extra=CLOSE))
        check("after they leave, requests are served again", st == 200, f"last status {st}")

        # --- counted, and visible ----------------------------------------------------------
        st, _, body, _ = exchange(port, request("/metrics", extra=CLOSE))
        metrics = {}
        for line in body.decode().splitlines():
            if line.startswith("sluice_ws_") and " " in line:
                k, v = line.rsplit(" ", 1)
                metrics[k] = int(v)
        n_gate = sum(1 for _, s, w in cases if not w.startswith(("bad path: document", "bad path: tenant",
                                                                     "bad path: expected", "from", "unknown",
                                                                     "rev", "resume")))
        n_gate *= 2                                     # each was sent as a GET and as an upgrade
        check("/metrics counts the gate's refusals, timeouts and overload",
              metrics.get("sluice_ws_refused_url_total", 0) >= n_gate and
              metrics.get("sluice_ws_gate_timeouts_total", 0) >= 1 and
              metrics.get("sluice_ws_gate_busy_total", 0) >= 1, json.dumps(metrics))
        rc, status = host.sluicectl("raw /sluice/status")
        ws = status.get("ws", {}) if isinstance(status, dict) else {}
        check("sluicectl status shows them", rc == 0 and ws.get("refused_url", 0) >= n_gate
              and ws.get("gate_timeouts", 0) >= 1 and ws.get("gate_busy", 0) >= 1, json.dumps(ws))

        check("sluiced survived all of it", host.daemon.poll() is None)
        rc = host.stop()
        check("sluiced stops cleanly", rc == 0, f"rc={rc}")
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
