#!/usr/bin/python3
"""e2e_runs.py BUILD_DIR [SCENARIO...]: runs and attempts end to end (issue #13),
on the real stack (`trajstore up`) in a temporary data directory.

The fixture is written here: six trial files of one reflexion-shaped benchmark
(reflexion's env_results_trial_N.jsonl: one line per environment, keyed by
`name`, with `memory` and `is_success`), where an environment solved in one
trial stays solved and its later lines are byte-identical (as reflexion
writes them), so neither the name nor the content tells attempts apart.

Scenarios (default: all, in this order, on one stack):
  import    `import --run-per-file --profile reflexion` of the six files:
            records == lines, per-run counts, and per group the records,
            successes and pass@1/5/10 equal an oracle computed here over all
            six trials; `--run` filters of list/count/export
  reimport  one file again into its run: every line a duplicate; the same
            file into another run (--run): every line a new attempt
  set       --set model=... fills the model index; other keys are run
            metadata; stdin without --run is refused
  runs      `runs` against an oracle per run (records, groups, pass@k),
            stats and groups of one run, `compare` of two trials
  models    `stats --run` per model, and the run's own totals (reward std,
            min, max, histogram) against an oracle: one run holding two models named by
            the records, records of none, and a file imported with --set
            model=...; its per-model totals equal an oracle over the lines
            and `count --run --model`; the same file in a second run, which
            is then dropped: the first run's models stay exact, the
            dropped run has none (the rebuild from snapshots)
  restart   `check` is clean; kill -9 of the aggregator: `runs` answers the
            same after its restart (rebuilt from the shards' snapshots)
  drop      `drop --run` of one trial: its records gone, `check` clean, stats
            (per run and model too) and per-group pass@k equal a recount of what `export` returns and
            an oracle over the other trials; `runs` no longer lists it;
            `compact` gives the space back and reads stay; the trial
            imported again is new attempts
  dropkill  kill -9 of a worker while it drops a large run (60,000
            records): after its restart the drop is finished (never half:
            the run has no record left), `check` is clean, stats equal a
            recount
Run with Debian's /usr/bin/python3 (python3-zmq, python3-msgpack).
"""
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib  # noqa: E402

TRIALS = 6
ENVS = 134            # reflexion's ALFWorld has 134 environments
SEED = int(os.environ.get("E2E_SEED", "13"))


def fail(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    raise SystemExit(1)


def step(msg):
    print("---", msg, flush=True)


# --- the fixture -------------------------------------------------------------------

def make_fixture(dirname):
    """Writes env_results_trial_{0..5}.jsonl; returns [(path, [line...])]."""
    rnd = random.Random(SEED)
    solved = {}
    files = []
    for t in range(TRIALS):
        lines = []
        for e in range(ENVS):
            name = "env_%d" % e
            if name in solved:
                # solved before: reflexion writes the same line again
                line = solved[name]
            else:
                ok = rnd.random() < 0.3
                memory = ["reflection %d of %s" % (i, name) for i in range(t)]
                line = json.dumps({"name": name, "memory": memory, "is_success": ok},
                                  separators=(",", ":"))
                if ok:
                    solved[name] = line
            lines.append(line)
        path = os.path.join(dirname, "env_results_trial_%d.jsonl" % t)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        files.append((path, lines))
    # the premise of the test: whole lines repeat across trials
    first = set(files[0][1])
    if not any(l in first for l in files[1][1]):
        fail("the fixture has no byte-identical lines across trials")
    return files


def oracle_groups(files):
    """group -> (records, successes) over every line of every file."""
    g = {}
    for _, lines in files:
        for l in lines:
            d = json.loads(l)
            n, c = g.get(d["name"], (0, 0))
            g[d["name"]] = (n + 1, c + (1 if d["is_success"] else 0))
    return g


# --- the stack -----------------------------------------------------------------------

class Stack:
    def __init__(self, build):
        self.ts = os.path.join(build, "tools", "trajstore")
        self.gen = os.path.join(build, "tools", "trajstore-gen")
        self.data = tempfile.mkdtemp(prefix="ts-runs.", dir="/tmp")

    @classmethod
    def from_argv(cls, name, scenarios=()):
        """A driver's command line, BUILD_DIR [SCENARIO...]: its stack, the
        scenarios asked for (every one of `scenarios` when none is named),
        and a scratch folder for its inputs (for session to remove)."""
        if len(sys.argv) < 2:
            fail("usage: %s.py BUILD_DIR%s" % (name, " [SCENARIO...]" if scenarios else ""))
        want = sys.argv[2:] or [n for n, _ in scenarios]
        work = tempfile.mkdtemp(prefix="ts-%s-in." % name.split("_")[-1], dir="/tmp")
        return cls(os.path.abspath(sys.argv[1])), want, work

    @contextlib.contextmanager
    def session(self, work, name):
        """A test's life of the stack: its logs when the test fails; down,
        and the data and `work` folders removed, always; "NAME: ok" last."""
        ok = False
        try:
            yield
            ok = True
        finally:
            if not ok:
                self.logs()
            self.run("down", "--data", self.data, check=False)
            shutil.rmtree(self.data, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
        print("%s: ok" % name)

    def run(self, *args, stdin=None, check=True):
        p = subprocess.run([self.ts] + list(args), input=stdin, capture_output=True,
                           text=True, timeout=300)
        if check and p.returncode != 0:
            fail("trajstore %s exited %d: %s %s" % (" ".join(args), p.returncode,
                                                     p.stdout, p.stderr))
        return p

    def json(self, *args):
        p = self.run(*args, "--json", "--data", self.data)
        try:
            return json.loads(p.stdout)
        except ValueError:
            fail("trajstore %s --json printed no JSON: %r" % (" ".join(args), p.stdout))

    def imports(self, *args, stdin=None):
        """An import with --json: the list of its reports (one a file)."""
        p = self.run("import", "--json", "--quiet", "--data", self.data, *args,
                     stdin=stdin, check=False)
        if p.returncode != 0:
            fail("import %s exited %d: %s %s" % (args, p.returncode, p.stdout, p.stderr))
        return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def api(self, msg):
        r = e2e_lib.api_retry(self.data, dict(msg, v=1))
        if not r.get("ok"):
            fail("api %s: %s" % (msg, r))
        return r

    def logs(self):
        d = os.path.join(self.data, "logs")
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            sys.stderr.write("===== %s\n" % f)
            with open(os.path.join(d, f), errors="replace") as fh:
                sys.stderr.write(fh.read()[-4000:])


def count(st, **filt):
    return st.api(dict(filt, op="count"))["count"]


# --- scenarios -----------------------------------------------------------------------

def sc_import(st, files, work):
    step("import --run-per-file --profile reflexion: six trials")
    reps = st.imports("--profile", "reflexion", "--run-per-file", *[p for p, _ in files])
    if len(reps) != TRIALS:
        fail("%d reports for %d files" % (len(reps), TRIALS))
    for rep, (path, lines) in zip(reps, files):
        if rep["imported"] != len(lines) or rep["duplicates"] or rep["rejected"]:
            fail("%s: %s" % (path, rep))
    total = sum(len(l) for _, l in files)
    if count(st) != total:
        fail("records %d != lines %d" % (count(st), total))
    stats = st.api({"op": "stats"})
    if stats["totals"]["records"] != total:
        fail("stats counts %d records, not %d" % (stats["totals"]["records"], total))

    step("pass@k per group == the oracle over all six trials")
    want = oracle_groups(files)
    got = st.api({"op": "groups", "limit": 100000})["groups"]
    if len(got) != len(want):
        fail("%d groups, expected %d" % (len(got), len(want)))
    for g in got:
        n, c = want[g["group"]]
        if g["records"] != n or g["successes"] != c:
            fail("group %s: %d records %d successes, expected %d %d" %
                 (g["group"], g["records"], g["successes"], n, c))
        for k in (1, 5, 10):
            w = e2e_lib.pass_at(n, c, k)
            v = g["pass@%d" % k]
            if (w is None) != (v is None) or (w is not None and abs(w - v) > 1e-12):
                fail("group %s pass@%d = %s, expected %s" % (g["group"], k, v, w))

    step("--run filters: list, count, export")
    for t, (path, lines) in enumerate(files):
        run = "env_results_trial_%d" % t
        if count(st, run=run) != len(lines):
            fail("count run=%s is %d, not %d" % (run, count(st, run=run), len(lines)))
    run = "env_results_trial_2"
    items = st.api({"op": "list", "run": run, "sort": "id", "limit": 1000})["items"]
    if len(items) != ENVS or any(i["run"] != run for i in items):
        fail("list run=%s: %d items, runs %s" % (run, len(items), {i["run"] for i in items}))
    ids = sorted(i["id"] for i in items)
    if ids != sorted("%s:%d" % (run, n) for n in range(1, ENVS + 1)):
        fail("list run=%s: ids are not the run's lines: %s..." % (run, ids[:3]))
    p = st.run("export", "--run", run, "--quiet", "--data", st.data)
    got = sorted(p.stdout.splitlines())
    if got != sorted(files[2][1]):
        fail("export --run %s is not the file's lines" % run)
    p = st.run("count", "--run", run, "--success", "--json", "--data", st.data)
    ok = sum(1 for l in files[2][1] if json.loads(l)["is_success"])
    if json.loads(p.stdout)["count"] != ok:
        fail("count --run --success: %s, expected %d" % (p.stdout, ok))


def sc_reimport(st, files, work):
    step("re-import of one file into its run: all duplicates")
    path, lines = files[3]
    before = count(st)
    rep = st.imports("--profile", "reflexion", path)[0]
    if rep["duplicates"] != len(lines) or rep["imported"]:
        fail("re-import: %s" % rep)
    if count(st) != before:
        fail("re-import changed the count")
    step("the same file into another run: new attempts")
    rep = st.imports("--profile", "reflexion", "--run", "again", path)[0]
    if rep["imported"] != len(lines) or rep["duplicates"]:
        fail("another run: %s" % rep)
    if count(st, run="again") != len(lines) or count(st) != before + len(lines):
        fail("another run: counts %d / %d" % (count(st, run="again"), count(st)))
    step("--id content: today's identity (the name) folds them into one")
    rep = st.imports("--profile", "reflexion", "--run", "content", "--id", "content", path)[0]
    if rep["imported"] != len(lines) or rep["duplicates"]:
        fail("--id content, first: %s" % rep)
    rep = st.imports("--profile", "reflexion", "--run", "content2", "--id", "content", path)[0]
    if rep["duplicates"] != len(lines):
        fail("--id content, again in another run: %s" % rep)


def sc_set(st, files, work):
    step("--set model=... and metadata; stdin needs --run")
    dump = os.path.join(work, "plain.jsonl")
    with open(dump, "w") as f:
        for i in range(50):
            f.write(json.dumps({"data_id": "q%d" % (i % 10), "reward": i / 50,
                                "is_success": i % 3 == 0}) + "\n")
    rep = st.imports("--set", "model=gpt-4o", "--set", "temperature=0.7", dump)[0]
    if rep["imported"] != 50:
        fail("--set import: %s" % rep)
    if count(st, model="gpt-4o") != 50 or count(st, run="plain") != 50:
        fail("--set model: model count %d, run count %d" %
             (count(st, model="gpt-4o"), count(st, run="plain")))
    if "gpt-4o" not in st.api({"op": "stats"})["models"]:
        fail("stats has no model gpt-4o")
    with open(dump) as f:
        text = f.read()
    p = st.run("import", "--data", st.data, "-", stdin=text, check=False)
    if p.returncode != 2 or "--run" not in p.stderr:
        fail("stdin without --run: exit %d, %s" % (p.returncode, p.stderr))
    rep = st.imports("--run", "piped", "-", stdin=text)[0]
    if rep["imported"] != 50 or count(st, run="piped") != 50:
        fail("stdin --run piped: %s" % rep)
    p = st.run("import", "--data", st.data, "--run", "a,b", dump, check=False)
    if p.returncode != 2 or "run" not in p.stderr:
        fail("a run name with ',': exit %d, %s" % (p.returncode, p.stderr))


def run_oracle(lines):
    g = oracle_groups([(None, lines)])
    out = {"records": len(lines), "groups": len(g),
           "successes": sum(c for _, c in g.values())}
    for k in (1, 5, 10):
        ps = [e2e_lib.pass_at(n, c, k) for n, c in g.values() if n >= k]
        out["pass@%d" % k] = sum(ps) / len(ps) if ps else None
    return out


def close(a, b):
    return (a is None) == (b is None) and (a is None or abs(a - b) < 1e-9)


def sc_runs(st, files, work):
    step("runs: every run with its records, groups, pass@k, files, set")
    runs = {r["run"]: r for r in st.api({"op": "runs"})["runs"]}
    for t, (path, lines) in enumerate(files):
        r = runs.get("env_results_trial_%d" % t)
        if not r:
            fail("runs lists no env_results_trial_%d: %s" % (t, sorted(runs)))
        want = run_oracle(lines)
        for k, v in want.items():
            if not close(r[k], v):
                fail("run trial %d: %s = %s, expected %s" % (t, k, r[k], v))
        if r["files"] != [path] or not r["first_ms"] or r["last_ms"] < r["first_ms"]:
            fail("run trial %d: files %s, first %s last %s" % (t, r["files"], r["first_ms"],
                                                              r["last_ms"]))
    plain = runs.get("plain")
    if plain and plain["set"] != {"model": "gpt-4o", "temperature": "0.7"}:
        fail("run plain: set %s" % plain["set"])
    p = st.run("runs", "--data", st.data)
    if "env_results_trial_0" not in p.stdout:
        fail("trajstore runs prints no trial: %s" % p.stdout)
    step("stats and groups of one run")
    lines = files[1][1]
    s = st.api({"op": "stats", "run": "env_results_trial_1"})
    if s["totals"]["records"] != len(lines) or s["groups"] != ENVS:
        fail("stats run=: %s" % s["totals"])
    g = st.api({"op": "groups", "run": "env_results_trial_1", "limit": 1000})
    if g["total"] != ENVS or any(x["records"] != 1 for x in g["groups"]):
        fail("groups run=: total %d" % g["total"])

    step("compare RUN_A RUN_B: per group, largest change first")
    a, b = files[0][1], files[5][1]
    c = st.api({"op": "compare", "a": "env_results_trial_0", "b": "env_results_trial_5"})
    oa, ob = oracle_groups([(None, a)]), oracle_groups([(None, b)])
    if len(c["groups"]) != len(set(oa) & set(ob)) or c["only_a"] or c["only_b"]:
        fail("compare: %d paired groups" % len(c["groups"]))
    changes = [abs(x["diff"]["success_rate"]) for x in c["groups"]]
    if changes != sorted(changes, reverse=True):
        fail("compare: not sorted by the largest change")
    for x in c["groups"]:
        na, ca = oa[x["group"]]
        nb, cb = ob[x["group"]]
        if not close(x["diff"]["success_rate"], cb / nb - ca / na):
            fail("compare %s: %s" % (x["group"], x))
    if c["a"]["records"] != len(a) or c["b"]["records"] != len(b):
        fail("compare totals: %s %s" % (c["a"], c["b"]))
    c = st.api({"op": "compare", "a": "env_results_trial_0", "b": "plain"})
    if c["groups"] or len(c["only_a"]) != ENVS or len(c["only_b"]) != 10:
        fail("compare with disjoint groups: %d paired, %d only a, %d only b" %
             (len(c["groups"]), len(c["only_a"]), len(c["only_b"])))
    r = e2e_lib.api(st.data, {"v": 1, "op": "compare", "a": "nope", "b": "plain"})
    if r.get("ok") or r["error"]["code"] != "NOT_FOUND":
        fail("compare with an unknown run: %s" % r)
    p = st.run("compare", "env_results_trial_0", "env_results_trial_5", "--data", st.data)
    if "env_" not in p.stdout:
        fail("trajstore compare prints no group: %s" % p.stdout)


def model_oracle(rows):
    """model -> totals over (model, success, reward) rows (model None: in no model)."""
    out = {}
    for m, ok, rw in rows:
        if m is None:
            continue
        t = out.setdefault(m, {"records": 0, "successes": 0, "success_known": 0,
                               "reward_n": 0, "rewards": []})
        t["records"] += 1
        if ok is not None:
            t["success_known"] += 1
            t["successes"] += 1 if ok else 0
        if rw is not None:
            t["reward_n"] += 1
            t["rewards"].append(rw)
    return out


def check_run_models(st, run, want, what):
    """stats run=RUN: its models equal the oracle `want` (model_oracle) and
    each one's count through the run and model indexes."""
    got = st.api({"op": "stats", "run": run})["models"]
    if set(got) != set(want):
        fail("%s: stats run=%s models %s, expected %s" % (what, run, sorted(got), sorted(want)))
    for m, w in want.items():
        g = got[m]
        for k in ("records", "successes", "success_known", "reward_n"):
            if g[k] != w[k]:
                fail("%s: run %s model %s: %s = %s, expected %s" % (what, run, m, k, g[k], w[k]))
        rs = w["rewards"]
        if rs and not (close(g["reward_mean"], sum(rs) / len(rs))
                       and close(g["reward_min"], min(rs)) and close(g["reward_max"], max(rs))):
            fail("%s: run %s model %s rewards %s, expected mean %s min %s max %s" %
                 (what, run, m, g, sum(rs) / len(rs), min(rs), max(rs)))
        if count(st, run=run, model=m) != w["records"]:
            fail("%s: count run=%s model=%s is %d, stats %d" %
                 (what, run, m, count(st, run=run, model=m), w["records"]))


def hist_bin(r):
    """The histogram bin of a reward (ts_totals.h: below 0, 20 over [0, 1], above 1)."""
    return 0 if r < 0 else 21 if r > 1 else min(int(r * 20), 19) + 1


def check_run_totals(st, run, rows, what):
    """stats run=RUN: the run's own totals (records without a model too)
    equal an oracle over its (model, success, reward) rows, reward std,
    min, max and histogram as the store-wide stats give them."""
    got = st.api({"op": "stats", "run": run})["totals"]
    rs = [rw for _, _, rw in rows if rw is not None]
    known = [ok for _, ok, _ in rows if ok is not None]
    want = {"records": len(rows), "success_known": len(known),
            "successes": sum(1 for ok in known if ok), "reward_n": len(rs)}
    hist = [0] * 22
    for r in rs:
        hist[hist_bin(r)] += 1
    want["histogram"] = hist
    if rs:
        mean = sum(rs) / len(rs)
        want.update(reward_mean=mean, reward_min=min(rs), reward_max=max(rs),
                    reward_std=(sum((r - mean) ** 2 for r in rs) / len(rs)) ** 0.5)
    else:
        want.update(reward_mean=None, reward_min=None, reward_max=None, reward_std=None)
    for k, v in want.items():
        g = got.get(k)
        if not (same(g, v) or (isinstance(v, float) and isinstance(g, float) and abs(g - v) < 1e-7)):
            fail("%s: stats run=%s totals %s = %s, expected %s" % (what, run, k, g, v))


def list_rows(st, run):
    """(model, success, reward) of every record of a run, from `list`."""
    rows, cursor = [], None
    while True:
        r = st.api({"op": "list", "run": run, "limit": 10000, "cursor": cursor})
        rows += [(i["model"], i["success"], i["reward"]) for i in r["items"]]
        cursor = r.get("next")
        if not cursor:
            return rows


def sc_models(st, files, work):
    step("stats --run per model: models from the records and from --set")
    mixed = os.path.join(work, "mixed.jsonl")
    rows = []
    with open(mixed, "w") as f:
        for i in range(90):
            d = {"data_id": "m%d" % (i % 12), "is_success": i % 4 == 0}
            if i % 5:
                d["reward"] = (i % 9) / 8
            m = ("gpt-4o", "claude-3-5-sonnet", None)[i % 3]
            if m:
                d["model"] = m
            f.write(json.dumps(d) + "\n")
            rows.append((m, d["is_success"], d.get("reward")))
    extra = os.path.join(work, "extra.jsonl")
    with open(extra, "w") as f:
        for i in range(40):
            f.write(json.dumps({"data_id": "m%d" % (i % 12), "reward": i / 40,
                                "is_success": i % 2 == 0}) + "\n")
            rows.append(("llama-3-70b", i % 2 == 0, i / 40))
    for run in ("mixed", "mixed2"):
        rep = st.imports("--run", run, mixed)[0]
        if rep["imported"] != 90:
            fail("import %s: %s" % (run, rep))
        rep = st.imports("--run", run, "--set", "model=llama-3-70b", extra)[0]
        if rep["imported"] != 40:
            fail("import %s --set model: %s" % (run, rep))
    want = model_oracle(rows)
    if len(want) != 3:
        fail("the oracle has %d models, not 3" % len(want))
    for run in ("mixed", "mixed2"):
        check_run_models(st, run, want, "after the imports")
        check_run_totals(st, run, rows, "after the imports")
    p = st.run("stats", "--run", "mixed", "--data", st.data)
    if "per model" not in p.stdout or "llama-3-70b" not in p.stdout:
        fail("trajstore stats --run prints no model: %s" % p.stdout)
    # a run of no model: an empty split
    s = st.api({"op": "stats", "run": "env_results_trial_0"})
    if s["models"]:
        fail("a run of no model has models %s" % s["models"])

    step("drop --run mixed2: mixed's models stay exact, mixed2 has none")
    p = st.run("drop", "--run", "mixed2", "--json", "--data", st.data)
    if json.loads(p.stdout)["dropped"] != 130:
        fail("drop mixed2: %s" % p.stdout)
    check_run_models(st, "mixed", want, "after the drop")
    check_run_models(st, "mixed2", {}, "after the drop")
    check_run_models(st, "mixed", model_oracle(list_rows(st, "mixed")), "recount after the drop")
    check_run_totals(st, "mixed", rows, "after the drop")
    check_run_totals(st, "mixed2", [], "after the drop")


def same(a, b):
    """Equal, floats to 1e-9 (sums of the same rewards merged in another
    order differ in the last bits)."""
    if isinstance(a, float) and isinstance(b, float):
        return close(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def sc_restart(st, files, work):
    step("check: every record of a run has its run index entry")
    p = st.run("check", "--json", "--data", st.data)
    if json.loads(p.stdout)["problems"] != 0:
        fail("check: %s" % p.stdout)
    step("kill -9 the aggregator: the runs come back the same from the shards")
    before = st.api({"op": "runs"})["runs"]
    status = st.json("status")
    pid = [x["pid"] for x in status["processes"] if x["name"] == "aggregator"][0]
    os.kill(pid, 9)
    deadline = time.monotonic() + 60
    while True:
        r = e2e_lib.api(st.data, {"v": 1, "op": "runs"}, 5.0)
        if r and r.get("ok") and same(r["runs"], before):
            break
        if time.monotonic() > deadline:
            fail("after the aggregator's restart, runs is %s, not %s" % (r, before))
        time.sleep(0.3)


def recount(st):
    """Per group (records, successes) and the totals, counted here from
    every record `export` returns (the independent recount)."""
    p = st.run("export", "--quiet", "--data", st.data)
    g = {}
    total = succ = 0
    for l in p.stdout.splitlines():
        d = json.loads(l)
        name = d.get("name", d.get("data_id"))
        ok = 1 if d.get("is_success") else 0
        n, c = g.get(name, (0, 0))
        g[name] = (n + 1, c + ok)
        total += 1
        succ += ok
    return g, total, succ


def check_stats(st, what):
    """stats, groups and check agree with a recount of the records."""
    p = st.run("check", "--json", "--data", st.data)
    if json.loads(p.stdout)["problems"] != 0:
        fail("%s: check: %s" % (what, p.stdout))
    g, total, succ = recount(st)
    stats = st.api({"op": "stats"})
    if stats["totals"]["records"] != total or stats["totals"]["successes"] != succ:
        fail("%s: stats %s, recount %d records %d successes" % (what, stats["totals"], total, succ))
    got = {x["group"]: x for x in st.api({"op": "groups", "limit": 100000})["groups"]}
    if set(got) != set(g):
        fail("%s: groups %d, recount %d" % (what, len(got), len(g)))
    for name, (n, c) in g.items():
        x = got[name]
        if x["records"] != n or x["successes"] != c:
            fail("%s: group %s: %d/%d, recount %d/%d" % (what, name, x["records"],
                                                          x["successes"], n, c))
        for k in (1, 5, 10):
            if not close(x["pass@%d" % k], e2e_lib.pass_at(n, c, k)):
                fail("%s: group %s pass@%d %s, recount %s" % (what, name, k, x["pass@%d" % k],
                                                               e2e_lib.pass_at(n, c, k)))
    # every run's totals per model: a recount of its records' summaries
    for r in st.api({"op": "runs"})["runs"]:
        rows = list_rows(st, r["run"])
        check_run_models(st, r["run"], model_oracle(rows), what)
        check_run_totals(st, r["run"], rows, what)
    return g


def sc_drop(st, files, work):
    step("drop --run: one trial's records, index entries and totals go")
    run = "env_results_trial_2"
    before = count(st)
    p = st.run("drop", "--run", run, "--json", "--data", st.data)
    if json.loads(p.stdout)["dropped"] != ENVS:
        fail("drop: %s" % p.stdout)
    if count(st) != before - ENVS or count(st, run=run) != 0:
        fail("after drop: %d records, %d in the run" % (count(st), count(st, run=run)))
    if st.api({"op": "list", "run": run})["items"]:
        fail("list --run of a dropped run is not empty")
    step("check is clean; stats and pass@k equal a recount and the oracle")
    g = check_stats(st, "after drop")
    # the oracle: the other five trials, and trial 3 twice more (runs
    # "again" and "content" of the reimport scenario, when it ran)
    kept = [f for t, f in enumerate(files) if t != 2]
    extra = count(st, run="again") and count(st, run="content")
    want = oracle_groups(kept + ([files[3], files[3]] if extra else []))
    for name, (n, c) in want.items():
        if g.get(name) != (n, c):
            fail("group %s: %s, oracle %s" % (name, g.get(name), (n, c)))
    runs = [r["run"] for r in st.api({"op": "runs"})["runs"]]
    if run in runs:
        fail("runs still lists %s" % run)
    r = e2e_lib.api(st.data, {"v": 1, "op": "drop"})
    if r.get("ok") or r["error"]["code"] != "BAD_REQUEST" or "run" not in r["error"]["message"]:
        fail("drop without a run: %s" % r)
    p = st.run("drop", "--run", run, "--json", "--data", st.data)
    if json.loads(p.stdout)["dropped"] != 0:
        fail("a second drop: %s" % p.stdout)

    step("compact: the space comes back, reads stay")
    p = st.run("compact", "--json", "--data", st.data)
    if json.loads(p.stdout)["reclaimed"] <= 0:
        fail("compact reclaimed nothing: %s" % p.stdout)
    p = st.run("export", "--run", "env_results_trial_4", "--quiet", "--data", st.data)
    if sorted(p.stdout.splitlines()) != sorted(files[4][1]):
        fail("export after compact is not the file's lines")
    check_stats(st, "after compact")
    p = st.run("compact", "--json", "--data", st.data)
    if json.loads(p.stdout)["reclaimed"] != 0:
        fail("a second compact: %s" % p.stdout)

    step("the dropped trial imported again: new attempts")
    rep = st.imports("--profile", "reflexion", files[2][0])[0]
    if rep["imported"] != ENVS or rep["duplicates"]:
        fail("re-import after drop: %s" % rep)
    if count(st, run=run) != ENVS:
        fail("re-import after drop: %d in the run" % count(st, run=run))
    check_stats(st, "after the re-import")


def sc_dropkill(st, files, work):
    step("kill -9 of a worker during the drop of a large run")
    big = os.path.join(work, "big.jsonl")
    with open(big, "w") as f:
        for i in range(60000):
            f.write('{"data_id":"b%d","is_success":%s,"reward":%s}\n' %
                    (i % 500, "true" if i % 3 == 0 else "false", (i % 7) / 7))
    logs = os.path.join(st.data, "logs")
    interrupted = False
    for attempt in range(4):
        rep = st.imports("--run", "big", big)[0]
        if rep["imported"] != 60000:
            fail("big import: %s" % rep)
        status = st.json("status")
        pid = [x["pid"] for x in status["processes"] if x["name"] == "w1"][0]
        drop = subprocess.Popen([st.ts, "drop", "--run", "big", "--json", "--data", st.data],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.15 + 0.2 * attempt)
        os.kill(pid, 9)
        # the interrupted call may wait for the killed worker's answer
        # until its deadline: not waited for. Asked again, the drop ends
        # (every shard's owner has then finished what was marked)
        time.sleep(0.5)
        drop.kill()
        drop.communicate()
        deadline = time.monotonic() + 180
        while True:
            r = e2e_lib.api(st.data, {"v": 1, "op": "drop", "run": "big"}, 20.0)
            if r and r.get("ok"):
                break
            if time.monotonic() > deadline:
                fail("drop after the kill: %s" % r)
            time.sleep(0.5)
        if count(st, run="big") != 0:
            fail("after the kill and the drop, %d records of the run" % count(st, run="big"))
        check_stats(st, "after a worker was killed mid-drop")
        text = ""
        for name in os.listdir(logs):
            with open(os.path.join(logs, name), errors="replace") as fh:
                text += fh.read()
        if "finished an interrupted drop" in text:
            print("kill %d landed during the drop" % (attempt + 1), flush=True)
            interrupted = True
            break
    if not interrupted:
        fail("no kill landed during a drop in 4 tries (no shard finished an interrupted one)")


SCENARIOS = [("import", sc_import), ("reimport", sc_reimport), ("set", sc_set),
             ("runs", sc_runs), ("models", sc_models), ("restart", sc_restart), ("drop", sc_drop),
             ("dropkill", sc_dropkill)]


def main():
    st, want, work = Stack.from_argv("e2e_runs", SCENARIOS)
    with st.session(work, "e2e_runs"):
        files = make_fixture(work)
        st.run("up", "--workers", "2", "--data", st.data)
        e2e_lib.api_retry(st.data, {"v": 1, "op": "stats"})
        for name, fn in SCENARIOS:
            if name in want:
                fn(st, files, work)


if __name__ == "__main__":
    main()
