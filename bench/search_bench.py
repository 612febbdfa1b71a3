#!/usr/bin/python3
"""search_bench.py DATA DUMP OUT.jsonl [N]: full-text search latency of a running
stack (its api at DATA/api.sock) against SQLite FTS5 over the same dump, in
the same run (bench/run.sh, section "search").

Queries (each the first 20 hits, newest first, N times one at a time):
  rare     a tool call id of one record of the dump (its middle line)
  common   "error" (in most records of trajstore-gen's dumps)
  phrase   "backing off and retrying"
  two      error + a word of the rare record's first user message

trajstore: a search request over ZeroMQ to the api (client -> api -> workers,
the hits merged, snippets cut), timed by this client. SQLite: an FTS5 table
(unicode61, diacritics removed) of every string of each record's trajectory
(json_tree values, as trajstore indexes them), joined to the records for
created-time order, the 20 newest chosen before snippet() cuts theirs;
in-process, so no transport at all. The
FTS5 build (from the lines already in a table) is timed too.

One JSON line a (system, query) on OUT: p50/p90 ms and the number of hits.
Run with Debian's /usr/bin/python3 (python3-zmq, python3-msgpack).
"""
import json
import os
import sqlite3
import sys
import tempfile
import time

import msgpack
import zmq


def pick_terms(dump):
    with open(dump, encoding="utf-8") as f:
        lines = f.readlines()
    rec = json.loads(lines[len(lines) // 2])
    rare = None
    word = None
    for st in rec.get("trajectory", []):
        for tc in st.get("tool_calls") or []:
            if tc.get("id"):
                rare = tc["id"]
                break
        if word is None and st.get("role") == "user" and isinstance(st.get("content"), str):
            ws = [w for w in st["content"].split() if w.isalpha() and len(w) > 4]
            word = ws[0] if ws else None
        if rare:
            break
    return lines, rare or rec["id"], word or "price"


def p(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    data, dump, out = sys.argv[1], sys.argv[2], sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    lines, rare, word = pick_terms(dump)
    queries = [("rare", rare), ("common", "error"), ("phrase", '"backing off and retrying"'),
               ("two", "error " + word)]
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect("ipc://%s/api.sock" % data)
    rows = []

    def ts(q):
        sock.send(msgpack.packb({"v": 1, "op": "search", "q": q, "limit": 20}))
        if not sock.poll(30000):
            raise SystemExit("search_bench: the api did not answer")
        r = msgpack.unpackb(sock.recv(), raw=False)
        if not r["ok"]:
            raise SystemExit("search_bench: %s" % r)
        return len(r["items"])

    for name, q in queries:
        ts(q)                                   # warm
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            hits = ts(q)
            t.append((time.perf_counter() - t0) * 1000)
        rows.append({"bench": "search", "system": "trajstore", "case": name, "q": q,
                     "records": len(lines), "hits": hits, "p50_ms": p(t, 0.5), "p90_ms": p(t, 0.9)})

    # SQLite FTS5 over the same records
    tmp = tempfile.mkdtemp(prefix="fts5.", dir=os.path.dirname(os.path.abspath(out)))
    db = sqlite3.connect(os.path.join(tmp, "fts.db"))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE docs (id TEXT, created TEXT, raw TEXT)")
    with db:
        db.executemany("INSERT INTO docs (raw) VALUES (?)", ((l,) for l in lines))
        db.execute("UPDATE docs SET id = json_extract(raw, '$.id'), "
                   "created = json_extract(raw, '$.created_at')")
        db.execute("CREATE INDEX docs_created ON docs (created)")
    t0 = time.perf_counter()
    with db:
        db.execute("CREATE VIRTUAL TABLE fts USING fts5 (body, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        db.execute("INSERT INTO fts (rowid, body) SELECT d.rowid, (SELECT group_concat(value, ' ') "
                   "FROM json_tree (d.raw, '$.trajectory') WHERE type = 'text') FROM docs d")
    build = time.perf_counter() - t0
    rows.append({"bench": "search", "system": "sqlite-fts5", "case": "build", "records": len(lines),
                 "seconds": build})

    def fts_query(q):
        # FTS5 syntax: words AND-ed; a phrase in double quotes as is
        return q if q.startswith('"') else " ".join('"%s"' % w.replace('"', '""') for w in q.split())

    for name, q in queries:
        # its favourable wiring: the 20 newest rowids first, snippets for
        # those alone (snippet() in the outer query of a plain ORDER BY
        # LIMIT is computed for every match: 0.3-1 s for a common term)
        sql = ("SELECT d.id, snippet (fts, 0, '', '', '…', 16) FROM fts JOIN docs d "
               "ON d.rowid = fts.rowid WHERE fts MATCH ?1 AND fts.rowid IN (SELECT f.rowid "
               "FROM fts f JOIN docs d2 ON d2.rowid = f.rowid WHERE f.fts MATCH ?1 "
               "ORDER BY d2.created DESC LIMIT 20) ORDER BY d.created DESC")
        db.execute(sql, (fts_query(q),)).fetchall()
        t = []
        hits = 0
        for _ in range(n):
            t0 = time.perf_counter()
            hits = len(db.execute(sql, (fts_query(q),)).fetchall())
            t.append((time.perf_counter() - t0) * 1000)
        rows.append({"bench": "search", "system": "sqlite-fts5", "case": name, "q": q,
                     "records": len(lines), "hits": hits, "p50_ms": p(t, 0.5), "p90_ms": p(t, 0.9)})
    db.close()
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    os.rmdir(tmp)
    with open(out, "a") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    for r in rows:
        if "p50_ms" in r:
            print("   %-12s %-7s %-8d hits %-3d p50 %7.2f ms  p90 %7.2f ms  %s"
                  % (r["system"], r["case"], r["records"], r["hits"], r["p50_ms"], r["p90_ms"], r["q"]))
        else:
            print("   %-12s %-7s %-8d %.2f s" % (r["system"], r["case"], r["records"], r["seconds"]))


if __name__ == "__main__":
    main()
