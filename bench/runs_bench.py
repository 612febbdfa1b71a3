#!/usr/bin/python3
"""bench/runs_bench.py OLD_BUILD NEW_BUILD E2E_DIR: reads by run (list/count
--run) of one build against another's, interleaved (3 rounds, each a stack of
2 workers on the same data directory, 30 requests of each kind, medians),
with SQLite (an index on (run, id)) on the same rows as the peer. 20 runs of
5,000 records (100,000), the queries ask for run r07 (5%).
  /usr/bin/python3 bench/runs_bench.py /work/main/build build tests/e2e"""
import json, os, random, sqlite3, statistics, subprocess, sys, tempfile, time
main_b, new_b, e2e = sys.argv[1:4]
sys.path.insert(0, e2e)
import e2e_lib
RUNS, PER = 20, 5000
work = tempfile.mkdtemp(prefix="runbench.", dir="/tmp")
data = os.path.join(work, "data")
rnd = random.Random(7)
files = []
db = sqlite3.connect(os.path.join(work, "s.db"))
db.execute("create table t (id text primary key, grp text, run text, reward real, ok int, body text)")
for r in range(RUNS):
    p = os.path.join(work, "r%02d.jsonl" % r)
    rows = []
    with open(p, "w") as f:
        for i in range(PER):
            d = {"data_id": "q%d" % rnd.randrange(2000), "reward": rnd.random(),
                 "is_success": rnd.random() < 0.4, "pad": "x" * 150}
            line = json.dumps(d)
            f.write(line + "\n")
            rows.append(("r%02d:%d" % (r, i + 1), d["data_id"], "r%02d" % r, d["reward"], int(d["is_success"]), line))
    db.executemany("insert into t values (?,?,?,?,?,?)", rows)
    files.append(p)
db.execute("create index t_run on t (run, id)")
db.commit()
def ts(build, *a):
    return subprocess.run([os.path.join(build, "tools", "trajstore"), a[0], "--data", data] + list(a[1:]),
                          capture_output=True, text=True, check=True)
ts(new_b, "up", "--workers", "2")
e2e_lib.api_retry(data, {"v": 1, "op": "stats"})
p = subprocess.run([os.path.join(new_b, "tools", "trajstore"), "import", "--data", data, "--quiet", "--run-per-file"] + files, capture_output=True, text=True)
print("import exit", p.returncode, p.stderr[-2000:], flush=True)
ts(new_b, "down")
REQ = [("count run", {"op": "count", "run": "r07"}),
       ("count run+success", {"op": "count", "run": "r07", "success": True}),
       ("list run 100", {"op": "list", "run": "r07", "limit": 100}),
       ("list run 100 by reward", {"op": "list", "run": "r07", "limit": 100, "sort": "-reward"})]
SQL = {"count run": "select count(*) from t where run='r07'",
       "count run+success": "select count(*) from t where run='r07' and ok=1",
       "list run 100": "select id from t where run='r07' order by id limit 100",
       "list run 100 by reward": "select id from t where run='r07' order by reward desc limit 100"}
N = 30
res = {}
for rep in range(3):
    for name, build in (("main", main_b), ("new", new_b)):
        ts(build, "up", "--workers", "2")
        e2e_lib.api_retry(data, {"v": 1, "op": "stats"})
        for q, msg in REQ:
            r0 = e2e_lib.api(data, dict(msg, v=1))
            assert r0.get("ok"), r0
            t = []
            for i in range(N):
                a = time.perf_counter()
                e2e_lib.api(data, dict(msg, v=1))
                t.append(time.perf_counter() - a)
            res.setdefault((name, q), []).append(statistics.median(t) * 1000)
        ts(build, "down")
    for q, sql in SQL.items():
        t = []
        for i in range(N):
            a = time.perf_counter()
            db.execute(sql).fetchall()
            t.append(time.perf_counter() - a)
        res.setdefault(("sqlite", q), []).append(statistics.median(t) * 1000)
for q, _ in REQ:
    m, n, s = (statistics.median(res[(k, q)]) for k in ("main", "new", "sqlite"))
    print("%-24s main %8.2f ms  new %8.2f ms  sqlite %7.2f ms  main/new %.1fx  new/sqlite %.1fx"
          % (q, m, n, s, m / n, n / s))
import shutil; shutil.rmtree(work)
