#!/usr/bin/python3
"""e2e_labels.py BUILD_DIR: labels end to end (issue #15), on the real stack
(`trajstore up`) in a temporary data directory.

  import    trajstore-gen records, imported
  labels    a label import of N lines (every (id, key) once, some removals of
            labels never set, unknown ids, malformed lines) through the
            producer in small chunks, with `kill -9` of a worker while it
            runs: the report adds up exactly (imported, rejected with the
            unknown ids' line numbers), every label is present exactly once
            (history of length 1), and `check` is clean with the oracle's
            number of labels
  again     the same file again: every label a duplicate, nothing written
  update    `label ID`, `label --where`, `--remove`: history grows by one
            entry each, the latest value counts
  op        the protocol op "label" over ZeroMQ: set and remove on one
            record (acknowledged once committed, author kept), the same
            request again changes nothing, several at once are each
            answered, unknown ids and bad fields are refused naming them;
            with "where" and listing filters, every match against the
            oracle (counted), again nothing changed
  filters   --label/--no-label on count, list, export and groups (per
            group, sorted and paged), and `labels --by KEY --per-model`
            (stats --by label:KEY) against an oracle computed here from
            the input
Run with Debian's /usr/bin/python3 (python3-zmq, python3-msgpack).
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib  # noqa: E402
import e2e_runs  # noqa: E402

SEED = int(os.environ.get("E2E_SEED", "15"))
RECORDS = 3000
KEYS = {"verdict": ["pass", "fail", "tool_misuse", "timeout"], "judge": ["ok", "bad", ""]}


fail, step = e2e_runs.fail, e2e_runs.step


class Stack(e2e_runs.Stack):
    """e2e_runs' stack, and the producer run directly (for --chunk-bytes)."""
    def __init__(self, build):
        super().__init__(build)
        self.producer = os.path.join(build, "producer", "trajstore-producer")


def records_of(path):
    recs = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            recs[o["id"]] = o
    return recs


def make_labels(recs, path):
    """Label lines: every (id, key) at most once; returns (oracle, expect)."""
    rnd = random.Random(SEED)
    ids = sorted(recs)
    lines, oracle = [], {}
    unknown_lines, bad_lines, removals = [], [], 0
    for rid in ids:
        for key, values in KEYS.items():
            r = rnd.random()
            if r < 0.45:
                v = rnd.choice(values)
                oracle[(rid, key)] = v
                lines.append(json.dumps({"id": rid, "key": key, "value": v}))
            elif r < 0.5:
                removals += 1       # removing a label never set: a duplicate
                lines.append(json.dumps({"id": rid, "key": key, "value": None}))
        if rnd.random() < 0.01:
            lines.append(json.dumps({"id": "no-such-" + rid, "key": "verdict", "value": "x"}))
            unknown_lines.append(len(lines))
        if rnd.random() < 0.005:
            lines.append('{"id": "%s", "key": "verdict"' % rid)
            bad_lines.append(len(lines))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return oracle, {"lines": len(lines), "imported": len(oracle), "duplicates": removals,
                    "rejected": len(unknown_lines) + len(bad_lines),
                    "unknown": unknown_lines, "bad": bad_lines}


def producer_labels(st, path, chunk_bytes=None):
    args = [st.producer, "--data", st.data, "--labels", "e2e-judge", "--json", "--quiet"]
    if chunk_bytes:     # small chunks, few in flight: the import lasts seconds
        args += ["--chunk-bytes", str(chunk_bytes), "--window", "2"]
    return subprocess.Popen(args + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def finish(p):
    out, err = p.communicate(timeout=300)
    if p.returncode not in (0, 1):
        fail("label import exited %d: %s %s" % (p.returncode, out, err))
    return json.loads(out)


def pid_of(st, name):
    status = json.loads(st.run("status", "--json", "--data", st.data).stdout)
    return [x["pid"] for x in status["processes"] if x["name"] == name][0]


def check_report(rep, expect, what):
    for k in ("lines", "imported", "duplicates", "rejected"):
        if rep[k] != expect[k]:
            fail("%s: %s is %s, want %s (%s)" % (what, k, rep[k], expect[k], rep))
    with open(rep["rejects_file"]) as f:
        rejects = [l.split("\t") for l in f.read().splitlines()]
    got_unknown = sorted(int(r[0]) for r in rejects if "no record with id" in r[1])
    got_bad = sorted(int(r[0]) for r in rejects if "no record with id" not in r[1])
    if got_unknown != expect["unknown"] or got_bad != expect["bad"]:
        fail("%s: rejects name lines %s / %s, want %s / %s" % (what, got_unknown, got_bad,
                                                                 expect["unknown"], expect["bad"]))


def check_exact(st, recs, oracle, history_len):
    """Every record's labels equal the oracle, each with its history length."""
    for rid in sorted(recs):
        r = st.api({"op": "labels", "id": rid})
        got = {k: v["value"] for k, v in r["labels"].items()}
        want = {k: v for (i, k), v in oracle.items() if i == rid}
        if got != want:
            fail("labels of %s: %s, want %s" % (rid, got, want))
        per_key = {}
        for k, _v, _a, _t in r["history"]:
            per_key[k] = per_key.get(k, 0) + 1
        for k in want:
            if per_key.get(k) != history_len.get((rid, k), 1):
                fail("history of %s %s has %s entries, want %s: %s" % (
                    rid, k, per_key.get(k), history_len.get((rid, k), 1), r["history"]))


def check_clean(st, labels):
    p = st.run("check", "--json", "--data", st.data)
    rep = json.loads(p.stdout)
    if rep["problems"] != 0:
        fail("check: %s" % p.stdout)
    n = sum(s.get("labels", 0) for s in rep["shards"])
    if n != labels:
        fail("check counted %d labels, want %d" % (n, labels))


def check_filters(st, recs, oracle):
    def has(rid, key, value=None):
        v = oracle.get((rid, key))
        return v is not None and (value is None or v == value)

    cases = [
        ({"label": ["verdict=fail"]}, lambda r: has(r, "verdict", "fail")),
        ({"label": ["verdict"]}, lambda r: has(r, "verdict")),
        ({"no_label": ["verdict"]}, lambda r: not has(r, "verdict")),
        ({"label": ["judge="]}, lambda r: has(r, "judge", "")),
        ({"label": ["verdict=pass", "judge"], "success": True},
         lambda r: has(r, "verdict", "pass") and has(r, "judge") and recs[r].get("is_success") is True),
        ({"label": ["verdict=tool_misuse"], "no_label": ["judge"]},
         lambda r: has(r, "verdict", "tool_misuse") and not has(r, "judge")),
    ]
    for filt, pred in cases:
        want = sorted(r for r in recs if pred(r))
        n = st.api(dict(filt, op="count"))["count"]
        if n != len(want):
            fail("count %s: %d, want %d" % (filt, n, len(want)))
        got, cursor = [], None
        while True:
            page = st.api(dict(filt, op="list", sort="id", limit=97, cursor=cursor))
            got += [i["id"] for i in page["items"]]
            cursor = page["next"]
            if cursor is None:
                break
        if got != want:
            fail("list %s: %d ids, want %d (first difference %s)" % (
                filt, len(got), len(want), next((a, b) for a, b in zip(got + [None], want + [None]) if a != b)))
    # groups over the records a label condition selects: per group against
    # the oracle, sorted and paged as the aggregator's groups
    for filt, pred in cases[:3] + cases[5:]:
        want = {}
        for r in recs:
            if not pred(r) or recs[r].get("data_id") is None:
                continue
            w = want.setdefault(recs[r]["data_id"], [0, 0, 0])
            w[0] += 1
            ok = recs[r].get("is_success")
            w[1] += ok is True
            w[2] += isinstance(ok, bool)
        g = st.api(dict(filt, op="groups", limit=100000))
        got = {x["group"]: x for x in g["groups"]}
        if g["total"] != len(want) or set(got) != set(want):
            fail("groups %s: %d groups, want %d" % (filt, g["total"], len(want)))
        for name, (n, c, known) in want.items():
            x = got[name]
            p1 = e2e_lib.pass_at(known, c, 1)
            if x["records"] != n or x["successes"] != c or not e2e_runs.close(x["pass@1"], p1) \
               or not e2e_runs.close(x["pass@5"], e2e_lib.pass_at(known, c, 5)):
                fail("groups %s: group %s %s, want records %d successes %d pass@1 %s" % (
                    filt, name, x, n, c, p1))
        whole = st.api(dict(filt, op="groups", sort="-pass@1", limit=100000))["groups"]
        page = st.api(dict(filt, op="groups", sort="-pass@1", limit=5, offset=3))
        if page["groups"] != whole[3:8] or page["next"] != (8 if len(whole) > 8 else None):
            fail("groups %s sorted -pass@1, offset 3 limit 5: %s, want %s" % (
                filt, [x["group"] for x in page["groups"]], [x["group"] for x in whole[3:8]]))
    r = e2e_lib.api(st.data, {"v": 1, "op": "groups", "label": ["verdict"], "sort": "nope"})
    if r.get("ok") or '"sort"' not in r["error"]["message"]:
        fail("groups with a label and a bad sort: %s" % r)
    r = e2e_lib.api(st.data, {"v": 1, "op": "groups", "label": [7]})
    if r.get("ok") or r["error"]["code"] != "BAD_REQUEST":
        fail("groups with a bad label: %s" % r)
    p = st.run("groups", "--data", st.data, "--json", "--label", "verdict=fail", "--no-label", "judge")
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    api_rows = st.api({"op": "groups", "label": ["verdict=fail"], "no_label": ["judge"]})["groups"]
    if rows != api_rows or not rows:
        fail("groups --label --no-label (CLI): %d rows, the op %d" % (len(rows), len(api_rows)))

    # the CLI: export of a label filter, and --with-labels
    p = st.run("export", "--data", st.data, "--label", "verdict=timeout", "--quiet",
               "--with-labels", "_labels")
    lines = [json.loads(l) for l in p.stdout.splitlines()]
    want = sorted(r for r in recs if has(r, "verdict", "timeout"))
    if sorted(o["id"] for o in lines) != want:
        fail("export --label verdict=timeout: %d records, want %d" % (len(lines), len(want)))
    for o in lines:
        lab = o.pop("_labels")
        if lab != {k: v for (i, k), v in oracle.items() if i == o["id"]} or o != recs[o["id"]]:
            fail("export --with-labels of %s: %s" % (o["id"], lab))
    # by label value and model
    rows = st.api({"op": "labels", "key": "verdict", "per_model": True})["labels"]
    want = {}
    for (rid, key), v in oracle.items():
        if key != "verdict":
            continue
        rec = recs[rid]
        w = want.setdefault((v, rec.get("model")), [0, 0, 0, 0.0])
        w[0] += 1
        w[1] += rec.get("is_success") is True
        if isinstance(rec.get("reward"), (int, float)):
            w[2] += 1
            w[3] += rec["reward"]
    got = {(r["value"], r.get("model")): r["totals"] for r in rows}
    if set(got) != set(want):
        fail("labels by verdict per model: rows %s, want %s" % (sorted(got), sorted(want)))
    for k, (n, s, rn, rs) in want.items():
        t = got[k]
        if t["records"] != n or t["successes"] != s or t["reward_n"] != rn \
           or (rn and abs(t["reward_mean"] - rs / rn) > 1e-9):
            fail("labels by verdict %s: %s, want records %d successes %d reward mean %s" % (
                k, t, n, s, rs / rn if rn else None))
    p = st.run("stats", "--data", st.data, "--by", "label:verdict", "--json")
    if len(p.stdout.splitlines()) != len({v for (v, _m) in want}):
        fail("stats --by label:verdict printed %s" % p.stdout)


def label_op(st, recs, oracle, history):
    """The protocol op "label" (the api runs a label import for it)."""
    def bump(rid, key):
        history[(rid, key)] = history.get((rid, key), 1 if (rid, key) in oracle else 0) + 1

    rid = sorted(recs)[2]
    req = {"op": "label", "id": rid, "set": {"verdict": "proto", "empty": ""},
           "remove": ["judge"], "author": "bob"}
    had_judge = (rid, "judge") in oracle
    r = st.api(req)
    want = (3, 0) if had_judge else (2, 1)     # removing an unset label: nothing to do
    if (r.get("changed"), r.get("unchanged")) != want or r.get("id") != rid:
        fail("label op: %s, want changed/unchanged %s" % (r, want))
    for k, v in (("verdict", "proto"), ("empty", "")):
        bump(rid, k)
        oracle[(rid, k)] = v
    if had_judge:
        bump(rid, "judge")
        del oracle[(rid, "judge")]
    got = st.api({"op": "labels", "id": rid})["labels"]
    if got["verdict"]["author"] != "bob" or got["empty"]["value"] != "":
        fail("label op: labels read back %s" % got)
    r = st.api(req)
    if (r.get("changed"), r.get("unchanged")) != (0, 3):
        fail("label op again: %s, want nothing changed" % r)

    # several requests at once on one socket: each answered, by its rid
    import msgpack
    import zmq
    s = zmq.Context.instance().socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    s.connect("ipc://%s/api.sock" % st.data)
    many = sorted(recs)[3:8]
    for i, r_id in enumerate(many):
        s.send(msgpack.packb({"v": 1, "op": "label", "rid": i, "id": r_id,
                              "set": {"batch": "b%d" % i}}))
    seen = {}
    deadline = time.monotonic() + 60
    while len(seen) < len(many) and time.monotonic() < deadline:
        if s.poll(1000):
            m = msgpack.unpackb(s.recv(), raw=False)
            seen[m.get("rid")] = m
    s.close(0)
    for i, r_id in enumerate(many):
        m = seen.get(i)
        if not m or not m.get("ok") or m.get("id") != r_id or m.get("changed") != 1:
            fail("label op %d of %d at once: %s" % (i, len(many), m))
        bump(r_id, "batch")
        oracle[(r_id, "batch")] = "b%d" % i

    # "where": every record the listing filters match, counted
    model = recs[sorted(recs)[4]]["model"]
    match = sorted(r for r in recs if recs[r].get("model") == model
                   and oracle.get((r, "verdict")) == "timeout")
    if not match:
        fail("label op where: the oracle has no match: the test proves nothing")
    req = {"op": "label", "where": True, "model": model, "label": ["verdict=timeout"],
           "set": {"where_op": "a=b"}, "remove": ["note"], "author": "carol"}
    had_note = [r for r in match if (r, "note") in oracle]
    r = st.api(req)
    if (r.get("matched"), r.get("changed"), r.get("unchanged")) != \
            (len(match), len(match) + len(had_note), len(match) - len(had_note)):
        fail("label op where: %s, want %d matched (%d with a note)" % (r, len(match), len(had_note)))
    for r_id in match:
        bump(r_id, "where_op")
        oracle[(r_id, "where_op")] = "a=b"
        if (r_id, "note") in oracle:
            bump(r_id, "note")
            del oracle[(r_id, "note")]
    got = st.api({"op": "labels", "id": match[0]})["labels"]
    if got["where_op"]["author"] != "carol" or got["where_op"]["value"] != "a=b":
        fail("label op where: labels read back %s" % got)
    r = st.api(req)
    if (r.get("matched"), r.get("changed"), r.get("unchanged")) != (len(match), 0, 2 * len(match)):
        fail("label op where again: %s, want nothing changed" % r)
    r = st.api({"op": "label", "where": True, "run": "no-such-run", "set": {"k": "v"}})
    if (r.get("matched"), r.get("changed")) != (0, 0):
        fail("label op where matching nothing: %s" % r)

    for bad, code, names in (
            ({"where": True, "id": rid, "set": {"k": "v"}}, "BAD_REQUEST", '"where"'),
            ({"where": 1, "set": {"k": "v"}}, "BAD_REQUEST", '"where"'),
            ({"where": True, "set": {"k": "v"}, "limit": 5}, "BAD_REQUEST", '"limit"'),
            ({"where": True, "set": {"k": "v"}, "reward": "high"}, "BAD_REQUEST", '"reward"'),
            ({"where": True, "set": {"k=1": "v"}}, "BAD_REQUEST", '"set"'),
            ({"id": "no-such-record", "set": {"k": "v"}}, "NOT_FOUND", "no-such-record"),
            ({"id": rid, "set": ["k"]}, "BAD_REQUEST", '"set"'),
            ({"id": rid, "set": {"k": 1}}, "BAD_REQUEST", '"set"'),
            ({"id": rid, "remove": "k"}, "BAD_REQUEST", '"remove"'),
            ({"id": rid, "set": {"k" * 200: "v"}}, "BAD_REQUEST", '"set"'),
            ({"id": rid}, "BAD_REQUEST", '"set"'),
            ({"set": {"k": "v"}}, "BAD_REQUEST", '"id"'),
            ({"id": rid, "set": {"k": "v"}, "author": 7}, "BAD_REQUEST", '"author"')):
        r = e2e_lib.api_retry(st.data, dict(bad, v=1, op="label"))
        err = r.get("error", {})
        if r.get("ok") or err.get("code") != code or names not in err.get("message", ""):
            fail("label op %s: %s, want %s naming %s" % (bad, r, code, names))


def main():
    st, _, work = Stack.from_argv("e2e_labels")
    with st.session(work, "e2e_labels"):
        step("import %d records" % RECORDS)
        recs_path = os.path.join(work, "recs.jsonl")
        subprocess.run([st.gen, "--records", str(RECORDS),
                        "--seed", str(SEED), "--out", recs_path], check=True)
        recs = records_of(recs_path)
        st.run("up", "--workers", "2", "--no-http", "--data", st.data)
        e2e_lib.api_retry(st.data, {"v": 1, "op": "stats"})
        st.run("import", "--quiet", "--data", st.data, recs_path)

        step("label import with kill -9 of a worker in the middle")
        lab_path = os.path.join(work, "labels.jsonl")
        oracle, expect = make_labels(recs, lab_path)
        p = producer_labels(st, lab_path, chunk_bytes=1024)
        time.sleep(0.5)
        os.kill(pid_of(st, "w1"), 9)
        if p.poll() is not None:
            fail("the label import ended before the kill: the test proves nothing")
        rep = finish(p)
        check_report(rep, expect, "label import")
        e2e_lib.api_retry(st.data, {"v": 1, "op": "stats"})
        check_exact(st, recs, oracle, {})
        check_clean(st, len(oracle))

        step("the same labels again: all duplicates")
        rep = finish(producer_labels(st, lab_path))
        again = dict(expect, imported=0, duplicates=expect["imported"] + expect["duplicates"])
        check_report(rep, again, "label re-import")
        check_exact(st, recs, oracle, {})

        step("label ID, --where, --remove: one more history entry each")
        history = {}
        rid = sorted(recs)[0]
        st.run("label", "--data", st.data, "--author", "alice", rid, "verdict=reviewed", "note=x y")
        for k, v in (("verdict", "reviewed"), ("note", "x y")):
            history[(rid, k)] = history.get((rid, k), 1 if (rid, k) in oracle else 0) + 1
            oracle[(rid, k)] = v
        model = recs[sorted(recs)[1]]["model"]
        where = sorted(r for r in recs if recs[r].get("model") == model
                       and oracle.get((r, "verdict")) == "fail")
        p = st.run("label", "--data", st.data, "--where", "--model", model, "--label",
                   "verdict=fail", "--remove", "judge", "triage=done", check=False)
        if p.returncode not in (0, 1) or ("%d records match" % len(where)) not in p.stderr:
            fail("label --where: %s %s" % (p.stdout, p.stderr))
        for r in where:
            history[(r, "triage")] = 1
            oracle[(r, "triage")] = "done"
            if (r, "judge") in oracle:
                del oracle[(r, "judge")]
        check_exact(st, recs, oracle, history)
        check_clean(st, len(oracle))

        step("the protocol op label: set, remove, again, several at once, refusals")
        label_op(st, recs, oracle, history)
        check_exact(st, recs, oracle, history)
        check_clean(st, len(oracle))

        step("filters and totals by label against the oracle")
        check_filters(st, recs, oracle)


if __name__ == "__main__":
    main()
