#!/usr/bin/env python3
"""Each processor on real-looking input, through the whole appliance:
csv with a schema (tests/fixtures/orders.csv), tweets with retweets
(tests/fixtures/tweets.ndjson), the top hashtags of a tweet stream, top-k
of hashtags on a skewed stream, and an external processor loaded from a
shared object built by meson.

Checks the ACKs (exactly once, right verdicts), the result files (in line
order, one result per line), the per-stream record files (normalized
records, tweets, users), sluicectl topk and /v1/topk/<tenant>; and, before
the appliance starts, that a tweet tenant whose lexicon is missing makes
sluiced --check-config fail, and sluiced refuse to start, naming
[workers] share_dir and the path it tried.

usage: processors.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BUILD, SRC = sys.argv[1], sys.argv[2]
h.setup_paths(BUILD, SRC)
TOKENS = {"orders": "orders-proc-token-0123456789", "social": "social-proc-token-0123456789",
          "tags": "tags-proc-token-0123456789", "upper": "upper-proc-token-0123456789",
          "hashtags": "hashtags-proc-token-0123456789"}
with open(os.path.join(SRC, "tests", "fixtures", "orders.schema")) as f:
    SCHEMA = [l.strip() for l in f if l.startswith("schema")][0]
PER_TENANT = {
    "orders": SCHEMA + "\ncolumns = 6\n",
    "social": "processor = tweet\ncolumns = 0\n",
    "hashtags": "processor = tweet\ncolumns = 0\n",
    "tags": "processor = topk\ntopk_column = 2\ntopk_separator = \" \"\ncolumns = 0\n",
    "upper": f"processor = {os.path.abspath(os.path.join(BUILD, 'dataplane', 'external', 'sluice-proc-upper.so'))}\n"
             "columns = 0\n",
}
check = h.Checks()


def send_file(host, tenant, doc, path):
    r = h.run(host.in_ns([h.tool("client", "sluice-send"), "--quiet", "--tenant", tenant, "--token", TOKENS[tenant],
                          "--doc", doc, "--rev", "1", "--to", f"{h.APPLIANCE_IP}:{h.SLP_PORT}", path]))
    return r


def read_jsonl(path):
    return h.read_results(path)


def sluicectl_topk(host, tenant):
    """(exit status, [(key, count), ...]) from sluicectl topk's table."""
    r = h.run([h.tool("control", "sluicectl"), "--prefix", host.prefix, "topk", tenant])
    rows = [l.split() for l in r.stdout.splitlines() if l.strip()[:1].isdigit()]
    return r.returncode, [(p[1], int(p[2])) for p in rows if len(p) >= 3], r.stdout + r.stderr


def wait_topk(host, tenant, done, timeout=30):
    """sluicectl topk until done(rows) holds (workers publish each second and when idle); the last reading."""
    end = time.time() + timeout
    while True:
        rc, rows, text = sluicectl_topk(host, tenant)
        if (rc == 0 and done(rows)) or time.time() >= end:
            return rc, rows, text
        time.sleep(0.2)


def tweet(i, text, hashtags=None, rt=None, user=True):
    t = {"id_str": str(9000 + i), "text": text, "favorite_count": 1, "retweet_count": 0}
    if user:
        t["user"] = {"id_str": str(100 + i % 7), "screen_name": f"u{i % 7}", "followers_count": 10}
    if hashtags is not None:
        t["entities"] = {"hashtags": [{"text": x, "indices": [0, 1]} for x in hashtags]}
    if rt is not None:
        t["retweeted_status"] = rt
    return t


def hashtag_stream():
    """A tweet stream whose top hashtags are known exactly: (lines, [(key, count)] largest first, statuses).
    Fewer than 10 distinct keys, so every worker's top 10 holds all of them and the merge is exact."""
    lines = []
    for i in range(120):            # from the text, any case, once per tweet however often written
        lines.append(tweet(i, ["#Alpha and #ALPHA", "#alpha!", "(#aLpHa) &#39;s #2024"][i % 3]))
    for i in range(90):             # from entities.hashtags, which win over the text
        lines.append(tweet(i, "#notcounted here", hashtags=["Beta"]))
    for i in range(60):             # retweets: the original's hashtags, not the retweet's copy
        lines.append(tweet(i, "RT @o: #outer", rt=tweet(1000 + i, "#Gamma", hashtags=["gamma"])))
    for i in range(40):
        lines.append(tweet(i, "#delta #Delta #DELTA", hashtags=None))
    for i in range(25):             # a full-width number sign
        lines.append(tweet(i, "\uff03epsilon"))
    for i in range(15):             # case folding beyond ASCII
        lines.append(tweet(i, "#T\u00fcrkiye" if i % 2 else "#T\u00dcRKIYE"))
    for i in range(10):
        lines.append(tweet(i, "x", hashtags=["zeta", "Zeta"]))
    bad = [tweet(i, "#bad " * 3, user=False) for i in range(150)]     # not ok: counted nowhere
    rng = random.Random(11)
    docs = [json.dumps(t, ensure_ascii=True) for t in lines + bad]
    rng.shuffle(docs)
    docs += ['{"id_str": "1", "text": "#bad']                         # not JSON
    status = {i + 1: ("error" if '"#bad' in d else "ok") for i, d in enumerate(docs)}
    want = [("#alpha", 120), ("#beta", 90), ("#gamma", 60), ("#delta", 40), ("#epsilon", 25),
            ("#t\u00fcrkiye", 15), ("#zeta", 10)]
    return docs, want, status


def missing_lexicon(host):
    """A tweet tenant whose share_dir has no lexicon: refused at --check-config and at start."""
    empty = tempfile.mkdtemp(prefix="sluice-noshare-")
    conf = os.path.join(host.work, "noshare.conf")
    try:
        with open(host.conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(re.sub(r"share_dir = [^\n]*", f"share_dir = {empty}", text))
        want = ["[tenant.social] processor tweet", f"{empty}/lexicon.tsv", "[workers] share_dir"]
        r = h.run([h.tool("control", "sluiced"), "-c", conf, "--check-config"])
        check("--check-config fails when a tweet tenant's lexicon is missing, naming [workers] share_dir "
              "and the path tried", r.returncode == 2 and all(w in r.stderr for w in want), r.stdout + r.stderr)
        p = host.popen([h.tool("control", "sluiced"), "-c", conf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
        try:
            out, _ = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:     # it started after all: stop it, the check fails
            p.kill()
            out, _ = p.communicate()
        check("sluiced refuses to start when a tweet tenant's lexicon is missing, with the same message",
              p.returncode == 2 and "sluiced: ready" not in out and all(w in out for w in want), out[-1500:])
    finally:
        shutil.rmtree(empty, ignore_errors=True)


def main():
    host = h.TestHost("proc", TOKENS, per_tenant=PER_TENANT)      # share_dir: SRC/share/sluice (harness)
    try:
        missing_lexicon(host)
        r = host.net_up()
        if not check("test host namespace created", r.returncode == 0, r.stderr):
            return
        if not check("sluiced starts with csv-schema, tweet, topk and external processors", host.start(),
                     host.log()[-3000:]):
            return

        # --- csv with a schema ----------------------------------------------------------
        orders = os.path.join(SRC, "tests", "fixtures", "orders.csv")
        sub = h.Subscriber(host, "orders", "march", 1)
        sub.wait_subscribed()
        r = send_file(host, "orders", "march", orders)
        check("orders.csv sent", r.returncode == 0, r.stdout + r.stderr)
        sub.wait(timeout=30)
        n_lines = sum(1 for _ in open(orders))
        # line 1 is the header (not an int id); 13 good rows, then 8 bad ones
        expect = {i: ("ok" if 2 <= i <= 14 else "error") for i in range(1, n_lines + 1)}
        h.check_doc_acks(check, "csv schema", sub, "orders", "march", 1, expect)
        res = read_jsonl(os.path.join(host.data_dir, "orders", "march", "1.results"))
        check("csv schema: results file in line order", [x["line"] for x in res] == list(range(1, n_lines + 1)))
        details = {x["line"]: x.get("detail", "") for x in res if x["status"] == "error"}
        check("csv schema: errors name the column and the problem",
              "amount" in details.get(18, "") and "float" in details.get(18, "")
              and "customer" in details.get(16, "") and "paid" in details.get(19, ""), json.dumps(details)[:800])
        recs = read_jsonl(os.path.join(host.data_dir, "orders", "march", "1.records"))
        check("csv schema: one normalized record per good line, in order",
              [x["line"] for x in recs] == list(range(2, 15)), json.dumps(recs[:2]))
        first = recs[0]["record"] if recs else {}
        check("csv schema: records are typed", first.get("order_id") == 1001 and first.get("amount") == 249.99
              and first.get("paid") is True and first.get("customer") == "Acme Corp", json.dumps(first))

        # --- tweets ---------------------------------------------------------------------
        tweets = os.path.join(SRC, "tests", "fixtures", "tweets.ndjson")
        sub = h.Subscriber(host, "social", "stream", 1)
        sub.wait_subscribed()
        r = send_file(host, "social", "stream", tweets)
        check("tweets.ndjson sent", r.returncode == 0, r.stdout + r.stderr)
        sub.wait(timeout=30)
        src = []
        with open(tweets) as f:
            for l in f:
                try:
                    src.append(json.loads(l))
                except ValueError:
                    src.append(None)
        res = read_jsonl(os.path.join(host.data_dir, "social", "stream", "1.results"))
        check("tweets: one result per line, in order", [x["line"] for x in res] == list(range(1, len(src) + 1)))
        check("tweets: a line that is not JSON is an error 'json'",
              all(x["reason"] == "json" for x, s in zip(res, src) if s is None and x["status"] == "error")
              and any(s is None for s in src), json.dumps([x for x in res if x["status"] == "error"])[:600])
        good = [s for x, s in zip(res, src) if x["status"] == "ok"]
        n_rt = sum(1 for s in good if s.get("retweeted_status"))
        tw = read_jsonl(os.path.join(host.data_dir, "social", "stream", "1.tweets"))
        us = read_jsonl(os.path.join(host.data_dir, "social", "stream", "1.users"))
        check("tweets: a tweet record per tweet, retweets extracted as tweets of their own",
              len(tw) == len(good) + n_rt and n_rt > 0, f"{len(tw)} records, {len(good)} ok lines, {n_rt} retweets")
        check("tweets: a user record per tweet, in a separate file", len(us) == len(tw), f"{len(us)} users")
        zero = [t["record"] for t in tw if t["record"].get("engagement") is None]
        check("tweets: zero followers gives engagement null", len(zero) >= 1, json.dumps(tw[:2])[:400])
        pos = [t["record"]["sentiment"] for t in tw if "love" in json.dumps(src[t["line"] - 1] or {}).lower()]
        check("tweets: 'love' scores a positive sentiment", pos and max(pos) > 0, str(pos))

        # --- topk on a skewed stream -----------------------------------------------------
        rng = random.Random(7)
        tags = [f"#t{i}" for i in range(1, 201)]
        weights = [1.0 / i for i in range(1, 201)]
        lines = []
        for i in range(20000):
            picked = rng.choices(tags, weights, k=rng.randint(1, 3))
            lines.append(f"{i},{' '.join(picked)}\n")
        path = os.path.join(host.work, "tags.csv")
        with open(path, "w") as f:
            f.writelines(lines)
        r = send_file(host, "tags", "feed", path)
        check("tag stream sent", r.returncode == 0, r.stdout + r.stderr)
        # workers publish when their input runs dry (and each second): wait for it, bounded
        rc, rows, out = wait_topk(host, "tags", lambda rows: len(rows) == 10 and
                                  [k for k, _ in rows[:3]] == ["#t1", "#t2", "#t3"])
        keys = [k for k, _ in rows]
        check("sluicectl topk shows the top 10", rc == 0 and len(keys) == 10, out)
        check("topk: the three most frequent hashtags come first", keys[:3] == ["#t1", "#t2", "#t3"], str(keys))

        # --- the top hashtags of a tweet stream (processor tweet, no topk configuration) ----
        docs, want, status = hashtag_stream()
        path = os.path.join(host.work, "hashtags.ndjson")
        with open(path, "w") as f:
            f.write("\n".join(docs) + "\n")
        sub = h.Subscriber(host, "hashtags", "stream", 1)
        sub.wait_subscribed()
        r = send_file(host, "hashtags", "stream", path)
        check("hashtag tweet stream sent", r.returncode == 0, r.stdout + r.stderr)
        sub.wait(timeout=30)
        h.check_doc_acks(check, "hashtags", sub, "hashtags", "stream", 1, status)
        rc, rows, out = wait_topk(host, "hashtags", lambda rows: rows == want)
        check("tweet: sluicectl topk shows the stream's hashtags with their exact counts, largest first "
              "(entities or text, case-folded, once per tweet, a retweet's original's, ok lines only)",
              rc == 0 and rows == want, f"got {rows}, want {want}: {out}")
        rc, j = host.sluicectl("topk hashtags")
        check("tweet: sluicectl --json topk gives the keys as they are (UTF-8 too), with their counts",
              rc == 0 and list(zip(j.get("keys", []), j.get("counts", []))) == want, json.dumps(j, ensure_ascii=False))
        status_code, msgs = h.ws_messages(host.ws_port, "/v1/topk/hashtags", TOKENS["hashtags"], 2)
        top = json.loads(msgs[1]).get("top") if len(msgs) == 2 else None
        check("tweet: /v1/topk/<tenant> sends the same top hashtags",
              status_code == 101 and json.loads(msgs[0]) == {"type": "subscribed", "tenant": "hashtags"}
              and [(e["key"], e["count"]) for e in top or []] == want, f"{status_code} {msgs}")
        status_code, msgs = h.ws_messages(host.ws_port, "/v1/topk/hashtags", TOKENS["social"], 1)
        check("tweet: /v1/topk/<tenant> refuses another tenant's token", status_code == 403, f"{status_code} {msgs}")

        # --- an external processor (shared object) ------------------------------------------
        path = os.path.join(host.work, "upper.csv")
        with open(path, "w") as f:
            f.write("hello,world\nsluice\n")
        sub = h.Subscriber(host, "upper", "shout", 1)
        sub.wait_subscribed()
        r = send_file(host, "upper", "shout", path)
        check("external processor document sent", r.returncode == 0, r.stdout + r.stderr)
        sub.wait(timeout=30)
        h.check_doc_acks(check, "external", sub, "upper", "shout", 1, {1: "ok", 2: "ok"})
        up = read_jsonl(os.path.join(host.data_dir, "upper", "shout", "1.upper"))
        check("external processor records written", [x["record"] for x in up] ==
              [{"line": "HELLO,WORLD"}, {"line": "SLUICE"}], json.dumps(up))
        check("sluiced stops cleanly", host.stop() == 0)
    finally:
        host.cleanup(keep=check.failed > 0)


if __name__ == "__main__":
    main()
    sys.exit(check.summary())
