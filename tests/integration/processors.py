#!/usr/bin/env python3
"""Each processor on real-looking input, through the whole appliance:
csv with a schema (tests/fixtures/orders.csv), tweets with retweets
(tests/fixtures/tweets.ndjson), top-k of hashtags on a skewed stream, and
an external processor loaded from a shared object built by meson.

Checks the ACKs (exactly once, right verdicts), the result files (in line
order, one result per line), the per-stream record files (normalized
records, tweets, users) and sluicectl topk.

usage: processors.py BUILD_DIR SOURCE_DIR
"""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

BUILD, SRC = sys.argv[1], sys.argv[2]
h.setup_paths(BUILD, SRC)
TOKENS = {"orders": "orders-proc-token-0123456789", "social": "social-proc-token-0123456789",
          "tags": "tags-proc-token-0123456789", "upper": "upper-proc-token-0123456789"}
with open(os.path.join(SRC, "tests", "fixtures", "orders.schema")) as f:
    SCHEMA = [l.strip() for l in f if l.startswith("schema")][0]
PER_TENANT = {
    "orders": SCHEMA + "\ncolumns = 6\n",
    "social": "processor = tweet\ncolumns = 0\n",
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


def main():
    host = h.TestHost("proc", TOKENS, per_tenant=PER_TENANT,
                      extra_dataplane=f"\n[workers]\nshare_dir = {os.path.abspath(os.path.join(SRC, 'share', 'sluice'))}\n")
    try:
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
        # the view refreshes every second
        import time
        time.sleep(2.5)
        r = h.run([h.tool("control", "sluicectl"), "--prefix", host.prefix, "topk", "tags"])
        out = r.stdout
        top_lines = [l.split() for l in out.splitlines() if l.strip()[:1].isdigit()]
        keys = [p[1] for p in top_lines if len(p) >= 3]
        check("sluicectl topk shows the top 10", r.returncode == 0 and len(keys) == 10, out + r.stderr)
        check("topk: the three most frequent hashtags come first", keys[:3] == ["#t1", "#t2", "#t3"], str(keys))

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
