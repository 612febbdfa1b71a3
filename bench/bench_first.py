#!/usr/bin/env python3
"""bench/bench_first.py: the first answers after a start, and many Python
clients (bench/run.sh's `first` and `clients` sections).

    bench_first.py first --api ipc://DATA/api.sock --case get|group|stats_groups \
        --ids IDS [--seed N]
    bench_first.py first --sqlite DB --case get|group|stats_groups --ids IDS
    bench_first.py clients --api ENDPOINT --ids IDS --clients 20 --seconds 10
    bench_first.py clients --sqlite DB --ids IDS --clients 20 --seconds 10
    bench_first.py clients --api ENDPOINT --ids IDS --clients 4 --stop-file F \
        --missing-ok        (readers during an import: until F exists)

`first` times one request (or, for stats_groups, `stats` then every group)
from a process that has its modules loaded but no connection yet: the
connection is part of the time, as it is for a user's first query. It
prints one JSON line: {"case", "system", "ms", "rows"}, and for the api
"decode_ms": the part of ms spent in msgpack.unpackb.

`clients` starts N processes, each with one REQ socket (what users write:
python3-zmq and msgpack) or one read-only SQLite connection, alternating a
get and a one-group list (limit 100, newest first) for S seconds, and
prints one JSON line: requests, req/s, p50/p99 in ms, errors, the clients'
CPU per request. With --stop-file the clients run until that file exists
(an import's end) instead of for S seconds; --missing-ok counts a get of a
record not stored yet (NOT_FOUND) as an answer, not an error.

IDS is bench_query --extract-ids's "ID<TAB>GROUP" list of the dump. Needs
/usr/bin/python3 with python3-zmq and python3-msgpack (Debian packages).
"""
import argparse
import json
import multiprocessing
import os
import random
import resource
import sqlite3
import sys
import time

import msgpack
import zmq

TIMEOUT_MS = 15000
S_COLS = "id, data_id, model, reward, is_success, created_at"


def load_keys(path):
    ids, groups, seen = [], [], set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            i, _, g = line.rstrip("\n").partition("\t")
            ids.append(i)
            if g and g not in seen:
                seen.add(g)
                groups.append(g)
    if not ids or not groups:
        sys.exit(f"bench_first.py: no ids or groups in {path}")
    return ids, groups


class Api:
    """One REQ socket to the api."""

    def __init__(self, endpoint, missing_ok=False):
        self.sock = zmq.Context.instance().socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.missing_ok = missing_ok
        self.decode_s = 0.0     # time in msgpack.unpackb: the client's part

    def call(self, op, **fields):
        self.sock.send(msgpack.packb({"v": 1, "op": op, **fields}))
        if not self.sock.poll(TIMEOUT_MS):
            raise TimeoutError(f"no answer to {op} within {TIMEOUT_MS // 1000} s")
        raw = self.sock.recv()
        t0 = time.perf_counter()
        reply = msgpack.unpackb(raw, raw=False)
        self.decode_s += time.perf_counter() - t0
        if not reply.get("ok"):
            if self.missing_ok and reply.get("error", {}).get("code") == "NOT_FOUND":
                return None
            raise RuntimeError(f"{op}: {reply.get('error')}")
        return reply

    def get(self, i):
        return 1 if self.call("get", id=i) else 0

    def group(self, g):
        return len(self.call("list", group=g, limit=100)["items"])

    def stats_groups(self):
        self.call("stats")
        return len(self.call("groups", limit=100000)["groups"])


class Lite:
    """One read-only SQLite connection (bench_sqlite's table t)."""

    def __init__(self, db):
        self.db = sqlite3.connect(f"file:{db}?mode=ro", uri=True)

    def get(self, i):
        return len(self.db.execute("SELECT raw FROM t WHERE id = ?", (i,)).fetchall())

    def group(self, g):
        return len(self.db.execute(f"SELECT {S_COLS} FROM t WHERE data_id = ? "
                                   "ORDER BY created_at DESC LIMIT 100", (g,)).fetchall())

    def stats_groups(self):
        self.db.execute("SELECT model, COUNT(*), SUM(is_success), AVG(reward) FROM t "
                        "GROUP BY model").fetchall()
        return len(self.db.execute("SELECT data_id, COUNT(*), SUM(is_success), "
                                   "COUNT(is_success), AVG(reward), MAX(reward) FROM t "
                                   "GROUP BY data_id").fetchall())


def connect(args):
    return Api(args.api, args.missing_ok) if args.api else Lite(args.sqlite)


def system(args):
    return "trajstore" if args.api else "sqlite"


def cmd_first(args):
    ids, groups = load_keys(args.ids)
    rng = random.Random(args.seed)
    i, g = rng.choice(ids), rng.choice(groups)
    t0 = time.perf_counter()
    c = connect(args)
    if args.case == "get":
        rows = c.get(i)
    elif args.case == "group":
        rows = c.group(g)
    else:
        rows = c.stats_groups()
    ms = (time.perf_counter() - t0) * 1e3
    line = {"bench": "first", "system": system(args), "case": args.case, "ms": round(ms, 3),
            "rows": rows}
    if args.api:
        # of ms, the client's msgpack decoding (1.45 MB for every group at
        # 100k): what the stack cannot make faster
        line["decode_ms"] = round(c.decode_s * 1e3, 3)
    print(json.dumps(line))


def client(args, ids, groups, k, start, q):
    rng = random.Random(args.seed * 1000 + k)
    c = connect(args)
    lat, errors, n = [], 0, 0
    while time.time() < start:
        time.sleep(0.001)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    end = start + args.seconds
    while True:
        if args.stop_file:
            if n % 16 == 0 and os.path.exists(args.stop_file):
                break
        elif time.time() >= end:
            break
        t0 = time.perf_counter()
        try:
            if n & 1:
                c.group(rng.choice(groups))
            else:
                c.get(rng.choice(ids))
        except (RuntimeError, TimeoutError) as e:
            errors += 1
            if errors == 1:
                print(f"bench_first.py: client {k}: {e}", file=sys.stderr)
            if isinstance(e, TimeoutError):
                break
        lat.append(time.perf_counter() - t0)
        n += 1
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    q.put((lat, errors, cpu, time.time() - start))


def cmd_clients(args):
    ids, groups = load_keys(args.ids)
    q = multiprocessing.Queue()
    start = time.time() + 1.0 + args.clients * 0.05     # every client connected first
    procs = [multiprocessing.Process(target=client, args=(args, ids, groups, k, start, q))
             for k in range(args.clients)]
    for p in procs:
        p.start()
    lat, errors, cpu, secs = [], 0, 0.0, 0.0
    for _ in procs:
        l, e, c, s = q.get()
        lat.extend(l)
        errors += e
        cpu += c
        secs = max(secs, s)
    for p in procs:
        p.join()
    lat.sort()
    n = len(lat)

    def pct(p):
        return round(lat[min(n - 1, int(p * n))] * 1e3, 3) if n else 0

    print(json.dumps({"bench": "clients", "system": system(args),
                      "case": f"py_mix_c{args.clients}" + ("_import" if args.stop_file else ""),
                      "clients": args.clients, "seconds": round(secs, 2), "n": n,
                      "rps": round(n / secs, 1) if secs > 0 else 0, "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "errors": errors, "client_cpu_us": round(cpu / n * 1e6, 1) if n else 0}))


def main():
    ap = argparse.ArgumentParser(prog="bench_first.py")
    ap.add_argument("what", choices=["first", "clients"])
    side = ap.add_mutually_exclusive_group(required=True)
    side.add_argument("--api", help="the api's endpoint (ipc://DATA/api.sock)")
    side.add_argument("--sqlite", help="bench_sqlite's database of the same dump")
    ap.add_argument("--ids", required=True, help="bench_query --extract-ids's list")
    ap.add_argument("--case", choices=["get", "group", "stats_groups"], default="get")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--stop-file", help="run until this file exists, not for --seconds")
    ap.add_argument("--missing-ok", action="store_true", help="NOT_FOUND is an answer")
    args = ap.parse_args()
    if args.what == "first":
        cmd_first(args)
    else:
        cmd_clients(args)


if __name__ == "__main__":
    main()
