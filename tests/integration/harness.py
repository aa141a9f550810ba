"""Shared pieces of the integration tests: a test host (network namespace
+ veth), a sluiced started on net_af_packet with a config written for the
test, websocket subscribers, documents with known per-line verdicts, and
the checks every test repeats. Everything a test starts is recorded here
and ended by pid in cleanup(), whatever happened.

Paths: the build folder (BUILD) and the source root (SRC) are what meson
passes; nothing here assumes where one lies relative to the other. Data
files come from SRC (every config sets [workers] share_dir to
SRC/share/sluice), programs from BUILD."""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

BUILD = SRC = None
HOST_IP, APPLIANCE_IP, SLP_PORT = "198.18.0.1", "198.18.0.2", 7878


def setup_paths(build, src):
    global BUILD, SRC
    BUILD, SRC = build, src


def tool(*parts):
    return os.path.join(BUILD, *parts)


def share_dir():
    """The shipped data files (the tweet lexicon), from the source tree."""
    return os.path.abspath(os.path.join(SRC, "share", "sluice"))


def with_share_dir(extra):
    """extra (text that follows [dataplane]) with [workers] share_dir set, unless it sets it."""
    if "share_dir" in extra:
        return extra
    line = f"share_dir = {share_dir()}\n"
    if "[workers]\n" in extra:
        return extra.replace("[workers]\n", "[workers]\n" + line, 1)
    return extra + "\n[workers]\n" + line


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}", flush=True)
        return cond

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def wait_for(read, done, timeout=30, every=0.1):
    """read() until done(value) or the timeout bounds the wait; the last value read."""
    end = time.time() + timeout
    while True:
        v = read()
        if done(v) or time.time() >= end:
            return v
        time.sleep(every)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def run(cmd, timeout=120, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def make_doc(seed, lines, bad_every=0, multiline_every=0, width=0):
    """A 4-column CSV; returns (bytes, {line: 'ok'|'error'})."""
    out, expect = [], {}
    pad = "x" * width
    for i in range(1, lines + 1):
        if bad_every and i % bad_every == 0:
            out.append(f"{i},short-row,{i * seed}\n")
            expect[i] = "error"
        elif multiline_every and i % multiline_every == 0:
            out.append(f'{i},"two\nlines, quoted",{i * seed},"say ""hi"""\r\n')
            expect[i] = "ok"
        else:
            out.append(f'{i},item-{i % 89}{pad},{i * seed},"a, b"\n')
            expect[i] = "ok"
    data = "".join(out)
    if lines % 2:                       # odd docs end without a final newline
        data = data[:-1]
    return data.encode(), expect


class TestHost:
    """A sluiced on one end of a veth pair, a network namespace on the other."""

    def __init__(self, name, tenants, rx_lcores=1, workers=10, extra_dataplane="", tenant_extra="",
                 per_tenant=None, extra_storage="", data_dir=None):
        pid = os.getpid()
        self.ns = f"{name}-{pid}"[:15]
        self.ifc = f"{name[:4]}{pid}"[:13]
        self.prefix = f"sluice-{name}-{pid}"
        self.work = tempfile.mkdtemp(prefix=f"sluice-{name}-")
        self.data_dir = data_dir or os.path.join(self.work, "data")
        self.ws_port = free_port()
        self.url = f"ws://127.0.0.1:{self.ws_port}"
        self.tokens = tenants
        self.started = []
        self.daemon = None
        self.log_mark = 0
        self.log_path = os.path.join(self.work, "sluiced.log")
        vdev = f"net_af_packet0,iface={self.ifc}" + (f",qpairs={rx_lcores}" if rx_lcores > 1 else "")
        extra_dataplane = with_share_dir(extra_dataplane)
        self.conf = os.path.join(self.work, "sluice.conf")
        with open(self.conf, "w") as f:
            f.write(f"[dataplane]\nvdev = {vdev}\nip = {APPLIANCE_IP}\nudp_port = {SLP_PORT}\n"
                    f"rx_lcores = {rx_lcores}\nworkers_per_socket = {workers}\nidle = adaptive\n"
                    f"no_huge = true\nmemory_mb = 1024\nfile_prefix = {self.prefix}\n{extra_dataplane}\n"
                    f"[control]\nlisten = 127.0.0.1\nport = {self.ws_port}\n\n"
                    f"[storage]\ndata_dir = {self.data_dir}\n{extra_storage}\n")
            for t, tok in tenants.items():
                own = (per_tenant or {}).get(t, "")
                cols = "" if "columns" in own else "columns = 4\n"
                f.write(f"[tenant.{t}]\ntoken = {tok}\n{cols}{tenant_extra}\n{own}\n")

    def bring_up(self, check, what="sluiced starts", **start_kw):
        """The test host's namespace, then sluiced: each a check; True when both are up."""
        r = self.net_up()
        if not check("test host namespace created", r.returncode == 0, r.stderr):
            return False
        return check(what, self.start(**start_kw), self.log()[-3000:])

    def in_ns(self, cmd):
        return ["ip", "netns", "exec", self.ns] + cmd

    def net_up(self):
        netns = os.path.join(SRC, "scripts", "netns.sh")
        subprocess.run([netns, "down", self.ns, self.ifc], capture_output=True)
        return run([netns, "up", self.ns, self.ifc, f"{HOST_IP}/24"])

    def start(self, timeout=30, append=False):
        """Start sluiced; append=True keeps the log of an earlier run (a restart)."""
        if append:
            self.log_mark = len(self.log())
        else:
            self.log_mark = 0
        log = open(self.log_path, "a" if append else "w")
        self.daemon = subprocess.Popen([tool("control", "sluiced"), "-c", self.conf], stdout=log,
                                       stderr=subprocess.STDOUT)
        self.started.append(self.daemon)
        end = time.time() + timeout
        while time.time() < end:
            if "sluiced: ready" in self.log()[self.log_mark:]:
                return True
            if self.daemon.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def popen(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.started.append(p)
        return p

    def sluicectl(self, cmd):
        r = run([tool("control", "sluicectl"), "--prefix", self.prefix, "--json"] + cmd.split())
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            return r.returncode, {}
        # replies are {"/sluice/<cmd>": {...}}; hand back the inner dict
        if isinstance(doc, dict) and len(doc) == 1 and next(iter(doc)).startswith("/"):
            doc = next(iter(doc.values()))
        return r.returncode, doc if isinstance(doc, dict) else {}

    def stop(self, timeout=120):
        """SIGTERM, and sluiced's exit status. The bound is generous: on a loaded machine a clean
        stop (drain, last sync, closing connections) can take many seconds; one that does not end
        at all returns None, after printing where each thread of sluiced waits."""
        if self.daemon is None or self.daemon.poll() is not None:
            return self.daemon.returncode if self.daemon else None
        self.daemon.send_signal(signal.SIGTERM)
        t0 = time.time()
        try:
            rc = self.daemon.wait(timeout=timeout)
            if time.time() - t0 > 5:
                print(f"# sluiced took {time.time() - t0:.1f} s to stop (load {os.getloadavg()[0]:.1f})", flush=True)
            return rc
        except subprocess.TimeoutExpired:
            print(f"sluiced (pid {self.daemon.pid}) still running {timeout} s after SIGTERM; its threads:")
            task = f"/proc/{self.daemon.pid}/task"
            for tid in sorted(os.listdir(task)) if os.path.isdir(task) else []:
                try:
                    with open(f"{task}/{tid}/comm") as f, open(f"{task}/{tid}/wchan") as g:
                        print(f"  {tid} {f.read().strip()} waits in {g.read().strip() or '(running)'}")
                except OSError:
                    pass
            return None

    def cleanup(self, keep):
        for p in self.started:
            if p.poll() is None:
                p.kill()
                p.wait()
        netns = os.path.join(SRC, "scripts", "netns.sh")
        subprocess.run([netns, "down", self.ns, self.ifc], capture_output=True)
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        if keep:
            print(f"kept {self.work} for inspection (sluiced.log, subscriber outputs)")
            print(self.log()[-4000:])
        else:
            shutil.rmtree(self.work, ignore_errors=True)


class Subscriber:
    def __init__(self, host, tenant, doc, summaries, name=None, token=None, start_line=None, rev=None):
        """start_line: ask for the ACKs from that line on (replayed, then live)."""
        name = name or f"{tenant}-{doc}"
        self.path = os.path.join(host.work, f"sub-{name}.out")
        self.err = os.path.join(host.work, f"sub-{name}.err")
        self.tenant, self.doc = tenant, doc
        extra = (["--from", str(start_line)] if start_line else []) + (["--rev", str(rev)] if rev else [])
        self.p = host.popen([tool("client", "sluice-ws"), "acks", "--url", host.url, "--tenant", tenant,
                             "--doc", doc, "--token", token or host.tokens[tenant],
                             "--count-summaries", str(summaries), "--timeout", "120"] + extra,
                            stdout=open(self.path, "w"), stderr=open(self.err, "w"))

    def messages(self):
        msgs = []
        with open(self.path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        msgs.append(json.loads(line))
                    except ValueError:
                        msgs.append({"type": "unparsable", "text": line})
        return msgs

    def wait_subscribed(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            if any(m.get("type") == "subscribed" for m in self.messages()):
                return True
            if self.p.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def wait(self, timeout=60):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()


def ack_coverage(msgs, tenant, doc, rev):
    """line -> list of statuses, from ack ranges for (tenant, doc, rev)."""
    seen = {}
    for m in msgs:
        if m.get("type") == "ack" and m.get("tenant") == tenant and m.get("doc") == doc and m.get("rev") == rev:
            for line in range(m["from"], m["to"] + 1):
                seen.setdefault(line, []).append(m["status"])
    return seen


def check_doc_acks(check, label, sub, tenant, doc, rev, expect):
    msgs = sub.messages()
    seen = ack_coverage(msgs, tenant, doc, rev)
    dup = [l for l, s in seen.items() if len(s) != 1]
    missing = [l for l in expect if l not in seen]
    extra = [l for l in seen if l not in expect]
    wrong = [l for l in expect if l in seen and seen[l][0] != expect[l]]
    check(f"{label}: every line ACKed exactly once", not dup and not missing and not extra,
          f"dup={dup[:5]} missing={missing[:5]} extra={extra[:5]}")
    check(f"{label}: ACK status matches each line", not wrong, f"wrong={wrong[:5]}")
    summ = [m for m in msgs if m.get("type") == "summary" and m.get("doc") == doc and m.get("rev") == rev]
    n_err = sum(1 for v in expect.values() if v == "error")
    check(f"{label}: one summary with the right counts",
          len(summ) == 1 and summ[0].get("lines") == len(expect) and summ[0].get("errors") == n_err
          and summ[0].get("ok") == len(expect) - n_err and summ[0].get("status") == "complete", str(summ))


def check_results_file(check, label, data_dir, tenant, doc, rev, expect):
    path = os.path.join(data_dir, tenant, doc, f"{rev}.results")
    if not check(f"{label}: results file exists", os.path.exists(path), path):
        return
    lines, order, summaries, last = {}, [], [], None
    with open(path) as f:
        for raw in f:
            r = json.loads(raw)
            last = r
            if r.get("summary") is True:
                summaries.append(r)
                continue
            lines.setdefault(r["line"], []).append(r["status"])
            order.append(r["line"])
    check(f"{label}: results file holds one result per line",
          sorted(lines) == sorted(expect) and all(len(v) == 1 for v in lines.values()),
          f"{len(lines)} distinct of {len(expect)}")
    check(f"{label}: results file in line order", order == sorted(order))
    check(f"{label}: results file statuses match", all(lines.get(l, ["?"])[0] == s for l, s in expect.items()))
    n_err = sum(1 for s in expect.values() if s != "ok")
    check(f"{label}: results file ends with one summary with the right counts",
          len(summaries) == 1 and last is summaries[0] and summaries[0].get("lines") == len(expect)
          and summaries[0].get("errors") == n_err and summaries[0].get("ok") == len(expect) - n_err,
          str(summaries))


def read_results(path):
    """The per-line results of a results file (its summary line left out)."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in (json.loads(l) for l in f if l.strip()) if r.get("summary") is not True]


def start_documents(host, tenant, docs, rev=1, timeout_ms=120000):
    """Subscribe to and send {doc: (bytes, expect)} at once over SLP; returns (subs, senders)."""
    subs = {d: Subscriber(host, tenant, d, 1) for d in docs}
    for s in subs.values():
        s.wait_subscribed()
    senders = {}
    for d, (data, _) in docs.items():
        path = os.path.join(host.work, f"{tenant}-{d}.csv")
        with open(path, "wb") as f:
            f.write(data)
        senders[d] = host.popen(host.in_ns([tool("client", "sluice-send"), "--quiet", "--tenant", tenant,
                                            "--token", host.tokens[tenant], "--doc", d, "--rev", str(rev),
                                            "--to", f"{APPLIANCE_IP}:{SLP_PORT}", "--timeout-ms", str(timeout_ms),
                                            path]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subs, senders


def finish_documents(check, host, tenant, docs, subs, senders, what, rev=1, results=True):
    """Wait for the senders (exit 0), then check every line ACKed exactly once (and the result files)."""
    for d, p in senders.items():
        try:
            out, err = p.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        check(f"{d}: sluice-send completes {what}", p.returncode == 0, out + err)
    for d, s in subs.items():
        s.wait(timeout=60)
        check_doc_acks(check, d, s, tenant, d, rev, docs[d][1])
        if results:
            check_results_file(check, d, host.data_dir, tenant, d, rev, docs[d][1])


def ws_messages(port, path, token, count, timeout=15):
    """A minimal websocket client for endpoints sluice-ws does not speak (/v1/topk):
    (HTTP status, the first `count` text messages, or fewer if the server closed or
    `timeout` passed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    end = time.time() + timeout
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                   f"Authorization: Bearer {token}\r\n\r\n").encode())
        buf = b""

        def need(n):
            nonlocal buf
            while len(buf) < n:
                s.settimeout(max(0.1, end - time.time()))
                chunk = s.recv(65536)
                if not chunk:
                    raise EOFError
                buf += chunk

        while b"\r\n\r\n" not in buf:
            need(len(buf) + 1)
        head, buf = buf.split(b"\r\n\r\n", 1)
        status = int(head.split()[1])
        msgs = []
        if status != 101:
            return status, msgs
        try:
            while len(msgs) < count and time.time() < end:
                need(2)
                op, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
                if n == 126:
                    need(4)
                    n, off = struct.unpack(">H", buf[2:4])[0], 4
                elif n == 127:
                    need(10)
                    n, off = struct.unpack(">Q", buf[2:10])[0], 10
                need(off + n)           # the server never masks its frames
                payload, buf = buf[off:off + n], buf[off + n:]
                if op == 1:
                    msgs.append(payload.decode())
                elif op == 8:
                    break
        except (EOFError, socket.timeout):
            pass
        return status, msgs
    finally:
        s.close()
