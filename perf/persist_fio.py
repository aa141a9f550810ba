#!/usr/bin/env python3
"""Benchmark: Sluice's persistence throughput next to the machine's bound,
measured by fio in the same run, in the same directory.

The persist thread makes each round ("batch") durable with sequential
appends to one journal file and ONE fdatasync on it. The bound for that
pattern is what fio gets from the same file system doing the same thing:
sequential writes of B bytes, an fdatasync after each, where B is the mean
journal bytes per batch Sluice just wrote.

Each round (--repeat K):
  1. sluiced (net_af_packet on a veth pair into a namespace made here, the
     harness of tests/integration) with its data_dir on a directory under
     /var/tmp, not tmpfs; 4 CSV documents of --lines lines in all, sent at
     once with sluice-send (tenant: processor csv, ack = persisted), each
     sender ending on DONE, i.e. when all its lines are durable. The
     persist counters of `sluicectl status` are read before and after:
     records/s and MB/s over the persist busy time (busy_ns) and over the
     wall time of the sends, B = journal bytes / journal syncs, and the
     batch size the AIMD controller settled on;
  2. fio in a sibling directory of the data_dir: --rw=write --bs=B rounded
     to 4 KiB --fdatasync=1 --direct=0, appending to a new file
     (--fallocate=none: the file grows as the journal does), io_uring and
     sync engines, plus io_uring into a file fio preallocated (its
     default) for comparison. A 1 s calibration run sizes each file for
     about 7 s of writing.
The bound = fio syncs/s x B. Ratios: Sluice's journal MB/s over fio's MB/s,
and Sluice's batches/s over fio's syncs/s (which is also Sluice's MB/s over
the bound), each over the persist busy time (if the daemon reports busy_ns)
and over the wall time. Medians over the K rounds of each round's figures.

Counters used: persist.journal_bytes, journal_syncs and busy_ns if the
daemon has them; otherwise bytes (result-file bytes) and batches stand in
for the journal, and busy-time figures are n/a.

usage: perf/persist_fio.py [BUILD_DIR] [--lines N] [--width B] [--repeat K]
                           [--out DIR] [--keep]
(needs root: namespaces; needs fio). Prints a Markdown table; writes JSON
to DIR (default perf/results/). Everything it made is removed unless --keep.
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import harness as h  # noqa: E402

TOKEN = "perf-persist-fio-token-0123456789"
TENANT = "bench"
N_DOCS = 4
BASE = "/var/tmp"                 # on disk: /tmp may be tmpfs on other machines
FIO_SECONDS = 7                   # aim for this much writing per fio run
FIO_CAP_SECONDS = 20              # and stop a run that takes longer
FIO_VARIANTS = (                  # name, engine, extra options
    ("io_uring, append", "io_uring", ["--fallocate=none"]),
    ("sync, append", "sync", ["--fallocate=none"]),
    ("io_uring, preallocated", "io_uring", []),
)
MB = 1e6


def settle():
    """Write back what the last step left dirty (result files, a deleted fio file's discard)
    before the next measurement, so neither side pays for the other."""
    os.sync()
    time.sleep(1.0)


def fs_of(path):
    """(type per `stat -f -c %T`, type per findmnt, device, mount options)."""
    st = h.run(["stat", "-f", "-c", "%T", path]).stdout.strip()
    fm = h.run(["findmnt", "-n", "-T", path, "-o", "FSTYPE,SOURCE,OPTIONS"]).stdout.split()
    return {"stat_f": st, "fstype": fm[0] if fm else "?", "source": fm[1] if len(fm) > 1 else "?",
            "options": fm[2] if len(fm) > 2 else "?"}


def persist_row(host):
    """The persist dict of `sluicectl status` (the reply may hold several endpoints)."""
    rc, doc = host.sluicectl("status")
    if "persist" not in doc:
        doc = doc.get("/sluice/status", {})
    row = doc.get("persist")
    if rc != 0 or not isinstance(row, dict):
        raise RuntimeError(f"sluicectl status gave no persist row (exit {rc}): {doc}")
    return row


def make_doc(d, lines, width):
    """A 4-column CSV of `lines` lines of about `width` bytes, all valid."""
    pad = "y" * max(1, width - 22)
    return "".join(f"{i},{d}{pad},{i * 7},z\n" for i in range(1, lines + 1)).encode()


def send_docs(host, paths, rev, timeout=900):
    """Send every document at once; returns the wall seconds until the last DONE."""
    t0 = time.monotonic()
    procs = {}
    for d, path in paths.items():
        procs[d] = host.popen(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", TENANT,
                                          "--token", TOKEN, "--doc", d, "--rev", str(rev),
                                          "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}",
                                          "--timeout-ms", str(timeout * 1000), path]),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failed = []
    for d, p in procs.items():
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
        if p.returncode != 0:
            failed.append(f"{d}: exit {p.returncode}: {out.strip()} {err.strip()}")
    wall = time.monotonic() - t0
    if failed:
        raise RuntimeError("sluice-send failed:\n  " + "\n  ".join(failed))
    return wall


def wait_settled(host, before, docs, lines, timeout=30):
    """The persist row once the sent documents are complete and every record counted."""
    end = time.time() + timeout
    while True:
        row = persist_row(host)
        if (row["docs_completed"] - before["docs_completed"] >= docs
                and row["records"] - before["records"] >= lines) or time.time() > end:
            return row
        time.sleep(0.1)


def sluice_round(host, paths, rev, lines):
    settle()
    before = persist_row(host)
    wall = send_docs(host, paths, rev)
    after = wait_settled(host, before, len(paths), lines)

    def delta(key):
        return after[key] - before[key] if key in after and key in before else None

    journal = "journal_bytes" in after and "journal_syncs" in after
    jbytes = delta("journal_bytes") if journal else delta("bytes")
    jsyncs = delta("journal_syncs") if journal else delta("batches")
    busy_s = delta("busy_ns") / 1e9 if "busy_ns" in after else None
    records, rbytes, batches = delta("records"), delta("bytes"), delta("batches")
    if records < lines:
        raise RuntimeError(f"only {records} of {lines} records persisted")
    if not batches or not jsyncs:
        raise RuntimeError(f"no persist batches counted: {before} -> {after}")
    r = {"wall_s": wall, "busy_s": busy_s, "journal_counters": journal, "records": records,
         "result_bytes": rbytes, "journal_bytes": jbytes, "batches": batches, "journal_syncs": jsyncs,
         "fsyncs": delta("fsyncs"), "batch_limit_end": after["batch_limit"],
         "records_per_batch": records / batches, "journal_bytes_per_sync": jbytes / jsyncs,
         "write_errors": delta("write_errors"), "retries": delta("retries")}
    for span, secs in (("wall", wall), ("busy", busy_s)):
        ok = secs is not None and secs > 0
        r[f"records_per_s_{span}"] = records / secs if ok else None
        r[f"result_mb_per_s_{span}"] = rbytes / secs / MB if ok else None
        r[f"journal_mb_per_s_{span}"] = jbytes / secs / MB if ok else None
        r[f"syncs_per_s_{span}"] = jsyncs / secs if ok else None
    return r


def fio(dirpath, name, engine, extra, bs, size, runtime):
    """One fio job; returns write IOPS, bytes/s, fdatasyncs, seconds."""
    os.makedirs(dirpath, exist_ok=True)
    cmd = ["fio", f"--name={name}", f"--directory={dirpath}", f"--ioengine={engine}", "--rw=write",
           f"--bs={bs}", "--fdatasync=1", f"--size={size}", "--direct=0", f"--runtime={runtime}",
           "--output-format=json"] + extra
    settle()
    r = h.run(cmd, timeout=runtime + 120)
    try:
        job = json.loads(r.stdout[r.stdout.index("{"):])["jobs"][0]
    except (ValueError, KeyError, IndexError):
        raise RuntimeError(f"fio failed (exit {r.returncode}): {' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    shutil.rmtree(dirpath, ignore_errors=True)
    w = job["write"]
    secs = w["runtime"] / 1000.0
    syncs = job.get("sync", {}).get("lat_ns", {}).get("N", w["total_ios"])
    return {"cmd": " ".join(cmd), "iops": w["iops"], "bytes_per_s": w["bw_bytes"], "ios": w["total_ios"],
            "syncs": syncs, "seconds": secs, "syncs_per_s": syncs / secs if secs else 0.0,
            "sync_lat_mean_us": job.get("sync", {}).get("lat_ns", {}).get("mean", 0) / 1000.0}


def fio_round(base, bs):
    """Calibrate for ~1 s, then each variant sized for about FIO_SECONDS of writing."""
    cal = fio(os.path.join(base, "fio-cal"), "journal", "io_uring", ["--fallocate=none"], bs, 1 << 30, 1)
    size = max(bs * 64, int(cal["bytes_per_s"] * FIO_SECONDS))
    size = (size + (1 << 20) - 1) // (1 << 20) << 20                     # whole MiB
    free = shutil.disk_usage(base).free
    if size > free // 4:
        size = max(bs * 64, (free // 4) // bs * bs)
    out = {}
    for name, engine, extra in FIO_VARIANTS:
        out[name] = fio(os.path.join(base, "fio"), "journal", engine, extra, bs, size, FIO_CAP_SECONDS)
        out[name]["size"] = size
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.path.join(SRC, "build"))
    ap.add_argument("--lines", type=int, default=2000000, help="lines in all, over 4 documents")
    ap.add_argument("--width", type=int, default=64, help="approximate line width in bytes")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (Sluice run + fio runs); medians reported")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="directory for the JSON result")
    ap.add_argument("--keep", action="store_true", help="keep the work directory and data_dir")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("persist_fio: needs root (network namespaces); run with sudo", file=sys.stderr)
        return 2
    if shutil.which("fio") is None:
        print("persist_fio: fio not found; install it: apt-get install fio (scripts/install-deps.sh)",
              file=sys.stderr)
        return 2
    if a.lines < N_DOCS or a.width < 28 or a.repeat < 1:
        print("persist_fio: need --lines >= 4, --width >= 28, --repeat >= 1", file=sys.stderr)
        return 2
    build = os.path.abspath(a.build)
    if not os.path.exists(os.path.join(build, "control", "sluiced")):
        print(f"persist_fio: no {build}/control/sluiced; build first (ninja -C {build})", file=sys.stderr)
        return 2
    h.setup_paths(build, SRC)

    base = tempfile.mkdtemp(prefix="sluice-persist-fio-", dir=BASE)
    data_dir = os.path.join(base, "data")
    fs = fs_of(base)
    host = h.TestHost("pfio", {TENANT: TOKEN}, rx_lcores=1, data_dir=data_dir,
                      extra_dataplane="window_bytes = 1048576\nreorder_frames = 1024\nmbufs = 16383\n",
                      tenant_extra="processor = csv\nack = persisted\nreorder_kb = 65536\n")
    rounds = []
    load = [os.getloadavg()[0]]       # other work on the machine skews both sides: say so
    per_doc = a.lines // N_DOCS
    lines = per_doc * N_DOCS
    paths, warm, doc_bytes = {}, {}, 0
    try:
        for k in range(N_DOCS):
            d = f"pf{k}"
            paths[d] = os.path.join(host.work, f"{d}.csv")
            warm[d] = os.path.join(host.work, f"{d}-warm.csv")
            data = make_doc(d, per_doc, a.width)
            doc_bytes += len(data)
            with open(paths[d], "wb") as f:
                f.write(data)
            with open(warm[d], "wb") as f:
                f.write(make_doc(d, min(per_doc, 20000), a.width))
        if host.net_up().returncode != 0 or not host.start():
            print("persist_fio: could not start the test host:\n" + host.log()[-2000:], file=sys.stderr)
            return 1
        # one unrecorded warm-up (first files, page cache, the AIMD controller's start)
        send_docs(host, warm, 1)
        for i in range(a.repeat):
            s = sluice_round(host, paths, i + 2, lines)
            bs = max(4096, int(round(s["journal_bytes_per_sync"] / 4096.0)) * 4096)
            f = fio_round(base, bs)
            rounds.append({"sluice": s, "fio_bs": bs, "fio": f})
            print(f"round {i + 1}/{a.repeat}: sluice {s['journal_mb_per_s_wall']:.1f} MB/s journal (wall), "
                  f"B={s['journal_bytes_per_sync']:.0f}; fio io_uring "
                  f"{f[FIO_VARIANTS[0][0]]['bytes_per_s'] / MB:.1f} MB/s at bs={bs}", file=sys.stderr, flush=True)
        host.stop()
        load.append(os.getloadavg()[0])
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        print(f"persist_fio: {e}\n" + host.log()[-2000:], file=sys.stderr)
        return 1
    finally:
        host.cleanup(keep=a.keep)
        if a.keep:
            print(f"kept {base} (data_dir and fio directory)", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)

    return report(a, rounds, lines, doc_bytes, fs, load)


def report(a, rounds, lines, doc_bytes, fs, load):
    """Medians over the rounds: the Markdown tables on stdout, the JSON file in a.out."""
    journal = rounds[0]["sluice"]["journal_counters"]
    spans = ("busy", "wall")
    # The bound and the ratios within each round, then medians. Sluice MB/s over the bound equals
    # batches/s over fio's syncs/s (both are B x rate), so the MB ratio is taken over fio's own
    # MB/s: it differs only by the rounding of B to fio's block size.
    for r in rounds:
        s = r["sluice"]
        for f in r["fio"].values():
            f["bound_mb_per_s"] = f["syncs_per_s"] * s["journal_bytes_per_sync"] / MB
            for sp in spans:
                mbs, sps = s[f"journal_mb_per_s_{sp}"], s[f"syncs_per_s_{sp}"]
                f[f"ratio_mb_{sp}"] = mbs / (f["bytes_per_s"] / MB) if mbs is not None else None
                f[f"ratio_syncs_{sp}"] = sps / f["syncs_per_s"] if sps is not None else None
    nums = [k for k, v in rounds[0]["sluice"].items()
            if not isinstance(v, bool) and (v is None or isinstance(v, (int, float)))]
    S = {k: med(r["sluice"][k] for r in rounds) for k in nums}
    S["fsyncs_per_batch"] = med(r["sluice"]["fsyncs"] / r["sluice"]["batches"] for r in rounds)
    S["busy_ms_per_batch"] = med(r["sluice"]["busy_s"] * 1000 / r["sluice"]["batches"]
                                 if r["sluice"]["busy_s"] is not None else None for r in rounds)
    B = S["journal_bytes_per_sync"]
    F = {}
    for name, _, _ in FIO_VARIANTS:
        F[name] = {k: med(r["fio"][name][k] for r in rounds)
                   for k in ("syncs_per_s", "bytes_per_s", "sync_lat_mean_us", "bound_mb_per_s", "ratio_mb_busy",
                             "ratio_mb_wall", "ratio_syncs_busy", "ratio_syncs_wall")}
        F[name]["fio_mb_per_s"] = F[name].pop("bytes_per_s") / MB
    bs = statistics.median(r["fio_bs"] for r in rounds)

    jname = "journal bytes" if journal else "persisted bytes (no journal counters: bytes/batches stand in)"
    print(f"\nPersistence vs fio: {lines:,} lines of ~{a.width} B ({doc_bytes / MB:.1f} MB) in {N_DOCS} documents, "
          f"csv, ack = persisted; median of {a.repeat}. Directory {BASE} on {fs['fstype']} "
          f"(stat -f: {fs['stat_f']}) {fs['source']}; fio {h.run(['fio', '--version']).stdout.strip()}, "
          f"kernel {platform.release()}; load average (1 min) {load[0]:.1f} at the start, {load[-1]:.1f} at the end.\n")
    print("| Sluice | over busy time | over wall time |")
    print("| --- | ---: | ---: |")
    print(f"| seconds | {fmt(S.get('busy_s'), '.2f')} | {S['wall_s']:.2f} |")
    print(f"| records/s | {fmt(S.get('records_per_s_busy'), ',.0f')} | {S['records_per_s_wall']:,.0f} |")
    print(f"| result-file MB/s | {fmt(S.get('result_mb_per_s_busy'), '.1f')} | {S['result_mb_per_s_wall']:.1f} |")
    print(f"| {'journal' if journal else 'persisted (no journal counters)'} MB/s | "
          f"{fmt(S.get('journal_mb_per_s_busy'), '.1f')} | {S['journal_mb_per_s_wall']:.1f} |")
    print(f"| batches (journal syncs)/s | {fmt(S.get('syncs_per_s_busy'), ',.0f')} | {S['syncs_per_s_wall']:,.0f} |")
    print(f"\nB = {B:,.0f} {jname} per batch; {S['records_per_batch']:,.0f} records per batch "
          f"(mean), batch_limit at the end {S['batch_limit_end']:,.0f}; fdatasyncs per batch "
          f"{S['fsyncs_per_batch']:.2f}; write + sync time per batch {fmt(S['busy_ms_per_batch'], '.2f')} ms. "
          f"fio block size {bs:,.0f} B (median; each round used its own B).\n")
    print(f"| fio, bs {bs:,.0f}, fdatasync=1 | fio MB/s | syncs/s | sync mean µs | bound = syncs/s × B, MB/s "
          f"| Sluice MB/s ÷ fio MB/s, busy | … wall | Sluice batches/s ÷ fio syncs/s (= ÷ bound), busy | … wall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, f in F.items():
        print(f"| {name} | {f['fio_mb_per_s']:.1f} | {f['syncs_per_s']:,.0f} | {f['sync_lat_mean_us']:,.0f} | "
              f"{f['bound_mb_per_s']:.1f} | {fmt(f['ratio_mb_busy'], '.2f')} | {f['ratio_mb_wall']:.2f} | "
              f"{fmt(f['ratio_syncs_busy'], '.2f')} | {f['ratio_syncs_wall']:.2f} |")
    print("\n(Ratios are medians of each round's ratio; the bound uses that round's B.)")

    os.makedirs(a.out, exist_ok=True)
    out = os.path.join(a.out, f"persist_fio-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}.json")
    with open(out, "w") as fh:
        json.dump({"lines": lines, "width": a.width, "docs": N_DOCS, "doc_bytes": doc_bytes, "repeat": a.repeat,
                   "filesystem": fs, "journal_counters": journal, "loadavg_1min": load,
                   "median": {"sluice": S, "fio": F, "fio_bs": bs}, "rounds": rounds}, fh, indent=1)
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
