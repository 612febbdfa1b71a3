#!/bin/bash
# e2e_scale.sh BUILD_DIR [SCENARIO...]: scaling the workers during imports,
# on the real programs over ZeroMQ, each scenario in a fresh data directory:
#
#   scale_1_3_1   one worker; a 40k-record import; two more workers join
#                 (the map becomes 5/5/6 at a higher epoch, the new workers
#                 open their shards), then both get SIGTERM and hand their
#                 shards back (one worker with 16 shards). Meanwhile a client
#                 queries the api in a loop (count, the 100 newest, gets):
#                 every reply is ok or a retryable UNAVAILABLE / TIMEOUT, and
#                 never wrong (a count never decreases, a list is sorted,
#                 without duplicates, as long as the store allows, its items
#                 equal the input; a record once listed is always found and
#                 equals its input line). At the end the import is exact:
#                 producer exit 0, imported, api count, check and stats all
#                 40000, and every id of the file is gettable, its record
#                 equal to its line.
#   kill_moving   two workers; a 30k-record import; a third worker joins and,
#                 right after the epoch advances (shards in flight between
#                 owners), kill -9 one of the original two; restart it about
#                 1 s later. The import is exact (30000 everywhere, check 0
#                 problems, every id gettable); the query client runs here too.
#   throughput    not a pass/fail test: the time to import the same 20k-record
#                 file into fresh stores with 1, 2 and 4 workers (records/s),
#                 printed for the README.
#
# The import's input is paced (10 MB/s, through a pipe) so that the moves
# happen while chunks flow, and the pacer holds at set points of the file
# until the test has seen each move through, so that no move can miss the
# import however slow the machine. Every wait
# polls a condition (the aggregator's status, the api, a worker's log) with a
# deadline. On failure every log is printed. E2E_KEEP=1 keeps the
# directories; E2E_RATE=MB/s changes the pace (default 10).
set -u

BUILD=${1:?usage: e2e_scale.sh BUILD_DIR [scale_1_3_1|kill_moving|throughput...]}
BUILD=$(cd "$BUILD" && pwd) || exit 2
shift
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
AGG="$BUILD/aggregator/trajstore-aggregator"
WORKER="$BUILD/workers/trajstore-worker"
APIBIN="$BUILD/api/trajstore-api"
PRODUCER="$BUILD/producer/trajstore-producer"
GEN="$BUILD/tools/trajstore-gen"
RATE=$(( ${E2E_RATE:-10} * 1000000 ))

for b in "$AGG" "$WORKER" "$APIBIN" "$PRODUCER" "$GEN"; do
    [ -x "$b" ] || { echo "FAIL: $b is not built" >&2; exit 1; }
done
"$PY" -c 'import zmq, msgpack' 2>/dev/null \
    || { echo "FAIL: $PY lacks zmq or msgpack (python3-zmq, python3-msgpack)" >&2; exit 1; }

TOP=$(mktemp -d /tmp/ts-scale.XXXXXX) || exit 1
HELPER="$TOP/scale.py"
D=""                    # the data directory of the scenario
T=""                    # its scratch directory (input fifo, reports, pids)
SCENARIO=""
T0=$(date +%s)
S0=0

# --- the python side: pacing, waits, the query client, the final checks ----------
cat >"$HELPER" <<'PYEOF'
import json, os, random, re, signal, sys, time
import msgpack, zmq

RETRYABLE = ("UNAVAILABLE", "TIMEOUT")
ID_RE = re.compile(rb'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def die(msg, code=1):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(code)


def opt(args, name, default, conv=str):
    return conv(args[args.index(name) + 1]) if name in args else default


class Conn:
    """One DEALER; a rid in each request, so a late answer is recognised."""
    def __init__(self, endpoint):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.rid = random.randrange(1 << 40)

    def call(self, msg, timeout=15.0):
        self.rid += 1
        msg = dict(msg, rid=self.rid)
        self.sock.send(msgpack.packb(msg))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1):
                return None
            rep = msgpack.unpackb(self.sock.recv(), raw=False, strict_map_key=False)
            if rep.get("rid") == self.rid:
                return rep

    def close(self):
        self.sock.close(0)


def status(data, timeout=2.0):
    c = Conn("ipc://%s/query.sock" % data)
    try:
        return c.call({"v": 1, "t": "status"}, timeout)
    finally:
        c.close()


def alive_map(st):
    return {w["name"]: w for w in st.get("workers", []) if w.get("alive")}


def load_input(path):
    """The file's lines by id: id -> (offset, length)."""
    with open(path, "rb") as f:
        data = f.read()
    idx, pos = {}, 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        end = len(data) if nl < 0 else nl
        if end > pos:
            m = ID_RE.search(data, pos, min(end, pos + 400))
            rid = json.loads(b'"' + m.group(1) + b'"') if m else json.loads(data[pos:end])["id"]
            idx[rid] = (pos, end - pos)
        pos = end + 1
    return data, idx


def same_record(data, idx, rid, record):
    off, n = idx[rid]
    return json.loads(data[off:off + n]) == record


# --- pace FILE RATE [--gate FRACTION:PATH]...: the file to stdout at RATE bytes/s,
# holding at each FRACTION of it until PATH exists
def cmd_pace(a):
    path, rate = a[0], float(a[1])
    gates = []
    for i, x in enumerate(a):
        if x == "--gate":
            frac, p = a[i + 1].split(":", 1)
            gates.append((float(frac), p))
    with open(path, "rb") as f:
        data = f.read()
    gates = sorted((int(fr * len(data)), p) for fr, p in gates)
    out = sys.stdout.buffer
    t0, sent, step = time.monotonic(), 0, 256 * 1024
    try:
        while sent < len(data):
            while gates and sent >= gates[0][0]:
                out.flush()
                held = time.monotonic()
                while not os.path.exists(gates[0][1]):
                    time.sleep(0.02)
                t0 += time.monotonic() - held        # the pace resumes, no burst
                gates.pop(0)
            lim = gates[0][0] if gates else len(data)
            n = min(step, lim - sent) or step
            out.write(data[sent:sent + n])
            sent += n
            ahead = sent / rate - (time.monotonic() - t0)
            if ahead > 0:
                time.sleep(ahead)
        out.flush()
    except BrokenPipeError:
        sys.exit(1)


# --- status DATA: the aggregator's status as JSON
def cmd_status(a):
    st = status(a[0], 3.0)
    if st is None:
        die("the aggregator does not answer status")
    print(json.dumps(st, default=str))


# --- wait-map DATA --alive a,b --shards 5,5,6 [--epoch-gt E] [--timeout S]:
# until exactly those workers are alive, own those numbers of shards (any
# order) and cover every shard, and the epoch is above E; prints the epoch
def cmd_wait_map(a):
    data = a[0]
    names = sorted(opt(a, "--alive", "").split(","))
    want = sorted(int(x) for x in opt(a, "--shards", "").split(","))
    egt = opt(a, "--epoch-gt", -1, int)
    stats = "--stats" in a
    end = time.monotonic() + opt(a, "--timeout", 60.0, float)
    why = "no status"
    while True:
        st = status(data, 1.0)
        if st is not None:
            al = alive_map(st)
            got = sorted(len(w["shards"]) for w in al.values())
            owned = sorted(s for w in al.values() for s in w["shards"])
            if sorted(al) != names:
                why = "alive workers %s, want %s" % (sorted(al), names)
            elif got != want or owned != list(range(st["nshards"])):
                why = "shards per worker %s (covering %d), want %s" % (got, len(set(owned)), want)
            elif st["epoch"] <= egt:
                why = "epoch %d, want above %d" % (st["epoch"], egt)
            elif stats and not st.get("stats_complete"):
                why = "statistics not complete"
            else:
                print(st["epoch"])
                return
        if time.monotonic() > end:
            die("the shard map did not settle: %s\nlast status: %s" % (why, json.dumps(st, default=str)))
        time.sleep(0.05)


def held_from_log(path):
    """The shards a worker holds open, from its log (its latest process)."""
    held = set()
    try:
        with open(path, errors="replace") as f:
            for line in f:
                if " ready: peer " in line:
                    held = set()
                m = re.search(r"\b(opened|closed) shard (\d+)", line)
                if m:
                    (held.add if m.group(1) == "opened" else held.discard)(int(m.group(2)))
    except FileNotFoundError:
        pass
    return held


# --- wait-held DATA [--timeout S]: until every alive worker holds open (by
# its log) exactly the shards the map gives it; prints "name:n ..."
def cmd_wait_held(a):
    data = a[0]
    end = time.monotonic() + opt(a, "--timeout", 60.0, float)
    while True:
        st = status(data, 1.0)
        why = "no status"
        if st is not None:
            why = None
            for name, w in sorted(alive_map(st).items()):
                held = held_from_log("%s/logs/%s.log" % (data, name))
                if held != set(w["shards"]):
                    why = "%s holds %s, the map gives it %s" % (name, sorted(held), sorted(w["shards"]))
                    break
            if why is None:
                print(" ".join("%s:%d" % (n, len(w["shards"])) for n, w in sorted(alive_map(st).items())))
                return
        if time.monotonic() > end:
            die("the workers do not hold their shards: %s" % why)
        time.sleep(0.05)


def job_of(st, job):
    for j in st.get("jobs", []):
        if j.get("job") == job:
            return j
    return None


# --- wait-acked DATA JOB N [--timeout S]: until the job has N chunks acked;
# prints the number acked; exit 3 when the job finished first
def cmd_wait_acked(a):
    data, job, n = a[0], a[1], int(a[2])
    end = time.monotonic() + opt(a, "--timeout", 120.0, float)
    while True:
        st = status(data, 1.0)
        j = job_of(st, job) if st else None
        if j and j["state"] != "running":
            die("job %s is %s already (%d chunks acked)" % (job, j["state"], j["chunks_acked"]), 3)
        if j and j["chunks_acked"] >= n:
            print(j["chunks_acked"])
            return
        if time.monotonic() > end:
            die("job %s did not reach %d acked chunks: %s" % (job, n, j))
        time.sleep(0.05)


# --- kill-on-epoch DATA EPOCH PID READY [--timeout S]: polls the status
# every millisecond or so (READY is created after the first answer); the
# moment the epoch is above EPOCH, kill -9 PID; prints what it saw
def cmd_kill_on_epoch(a):
    data, e0, pid, ready = a[0], int(a[1]), int(a[2]), a[3]
    end = time.monotonic() + opt(a, "--timeout", 60.0, float)
    c = Conn("ipc://%s/query.sock" % data)
    polls, t_old = 0, None
    while True:
        st = c.call({"v": 1, "t": "status"}, 1.0)
        polls += 1
        if st and st["epoch"] > e0:
            os.kill(pid, signal.SIGKILL)
            t_kill = time.monotonic()
            sizes = {n: len(w["shards"]) for n, w in alive_map(st).items()}
            print("epoch %d seen after %d polls, w1 killed %.1f ms after the last poll at epoch %d; map %s"
                  % (st["epoch"], polls, (t_kill - t_old) * 1000 if t_old else -1, e0, sizes))
            return
        if st and polls == 1:
            open(ready, "w").close()
        if st:
            t_old = time.monotonic()
        if time.monotonic() > end:
            die("the epoch did not advance past %d" % e0)
        time.sleep(0.001)


# --- client DATA FILE STOPFILE OUT: queries the api in a loop until STOPFILE
# exists; writes a summary to OUT; exit 1 when a reply was wrong
def cmd_client(a):
    data, path, stop, out = a[0], a[1], a[2], a[3]
    content, idx = load_input(path)
    ids = list(idx)
    total = len(ids)
    rng = random.Random(int(os.environ.get("E2E_SEED", "0") or 0))
    api = Conn("ipc://%s/api.sock" % data)
    info = {"requests": 0, "iterations": 0, "ok": {}, "errors": {}, "max_ms": {},
            "violations": [], "events": [], "last_count": None, "seen": 0}
    seen, seen_list = set(), []
    last_count = 0
    top_key = last_key = None
    t0 = time.monotonic()

    def bad(what):
        if len(info["violations"]) < 50:
            info["violations"].append("+%.2fs %s" % (time.monotonic() - t0, what))
        sys.stderr.write("VIOLATION: %s\n" % what)

    def ask(op, allowed=(), **fields):
        t = time.monotonic()
        rep = api.call(dict({"v": 1, "op": op}, **fields), 15.0)
        ms = (time.monotonic() - t) * 1000
        info["requests"] += 1
        info["max_ms"][op] = max(info["max_ms"].get(op, 0), round(ms, 1))
        if ms > 500 and len(info["events"]) < 40:
            info["events"].append("+%.2fs %s took %d ms" % (time.monotonic() - t0, op, ms))
        if rep is None:
            bad("%s: no reply within 15 s" % op)
            return None
        if rep.get("ok") is True:
            info["ok"][op] = info["ok"].get(op, 0) + 1
            return rep
        err = rep.get("error") or {}
        code = err.get("code")
        key = "%s %s" % (op, code)
        info["errors"][key] = info["errors"].get(key, 0) + 1
        if len(info["events"]) < 40 and code not in allowed:
            info["events"].append("+%.2fs %s: %s %s" % (time.monotonic() - t0, op, code, err.get("message")))
        if code in RETRYABLE or code in allowed:
            return rep
        bad("%s %s: %s %s" % (op, json.dumps(fields, default=str), code, err.get("message")))
        return rep

    def check_get(rep, rid):
        if rep is None or not rep.get("ok"):
            return
        s = rep.get("summary") or {}
        if s.get("id") != rid:
            bad("get %s answered the summary of %r" % (rid, s.get("id")))
        elif not same_record(content, idx, rid, rep.get("record")):
            bad("get %s: the record differs from its input line" % rid)

    while not os.path.exists(stop):
        info["iterations"] += 1
        # count: never decreases, never above the file
        before = last_count
        rep = ask("count")
        if rep and rep.get("ok"):
            c = rep.get("count")
            if not isinstance(c, int) or c < 0 or c > total:
                bad("count %r is not in 0..%d" % (c, total))
            elif c < last_count:
                bad("count decreased from %d to %d" % (last_count, c))
            else:
                last_count = c
        # the 100 newest: sorted by (created, id) descending, no duplicates,
        # as many as the store has (up to 100), each equal to its input line
        before = last_count
        rep = ask("list", limit=100)
        if rep and rep.get("ok"):
            items = rep.get("items") or []
            keys = [(it.get("created_ms") or 0, (it.get("id") or "").encode()) for it in items]
            if rep.get("count") != len(items):
                bad("list: count %r but %d items" % (rep.get("count"), len(items)))
            if len(items) > 100 or len(items) < min(100, before):
                bad("list: %d items after a count of %d" % (len(items), before))
            if len({k[1] for k in keys}) != len(keys):
                bad("list: duplicate ids")
            if any(keys[i] <= keys[i + 1] for i in range(len(keys) - 1)):
                bad("list: not sorted newest first: %s" % keys[:5])
            if keys:
                if top_key is not None and keys[0] < top_key:
                    bad("list: the newest record went back from %s to %s" % (top_key, keys[0]))
                top_key = max(top_key or keys[0], keys[0])
                if len(keys) == 100:
                    if last_key is not None and keys[-1] < last_key:
                        bad("list: the 100th newest went back from %s to %s" % (last_key, keys[-1]))
                    last_key = max(last_key or keys[-1], keys[-1])
            for it in items:
                rid = it.get("id")
                if rid not in idx:
                    bad("list: id %r is not in the input" % rid)
                    continue
                off, n = idx[rid]
                rec = json.loads(content[off:off + n])
                want = (rec.get("data_id"), rec.get("model"), rec.get("reward"), rec.get("is_success"))
                got = (it.get("group"), it.get("model"), it.get("reward"), it.get("success"))
                if want != got:
                    bad("list: summary of %s is %s, its line says %s" % (rid, got, want))
                if rid not in seen:
                    seen.add(rid)
                    seen_list.append(rid)
        # a record listed before is committed: found, and equal to its line
        if seen_list:
            rid = rng.choice(seen_list)
            rep = ask("get", id=rid)          # NOT_FOUND is wrong here
            check_get(rep, rid)
        # any id of the file: found (equal) or not yet imported
        rid = rng.choice(ids)
        check_get(ask("get", ("NOT_FOUND",), id=rid), rid)
        time.sleep(0.01)
    info["last_count"] = last_count
    info["seen"] = len(seen)
    info["seconds"] = round(time.monotonic() - t0, 1)
    with open(out, "w") as f:
        json.dump(info, f, indent=1, default=str)
    api.close()
    sys.exit(1 if info["violations"] else 0)


def retry_call(api, msg, timeout=60.0, wait=15.0):
    """An api request, asked again while the answer is a retryable error
    (no answer at all within `wait` is final: the api must answer reads in
    10 s; a check re-reads every record and its text, and takes longer)."""
    end = time.monotonic() + timeout
    while True:
        rep = api.call(msg, wait)
        if rep is None or rep.get("ok") or (rep.get("error") or {}).get("code") not in RETRYABLE:
            return rep
        if time.monotonic() > end:
            return rep
        time.sleep(0.1)


# --- verify DATA FILE N: count, stats, check == N; every id of FILE gettable
# and equal to its line; prints one summary line
def cmd_verify(a):
    data, path, n = a[0], a[1], int(a[2])
    content, idx = load_input(path)
    api = Conn("ipc://%s/api.sock" % data)
    problems = []
    rep = retry_call(api, {"v": 1, "op": "count"})
    if not rep or rep.get("count") != n:
        problems.append("api count: %s, want %d" % (rep, n))
    rep = retry_call(api, {"v": 1, "op": "stats"})
    recs = ((rep or {}).get("totals") or {}).get("records")
    if recs != n:
        problems.append("api stats records: %s, want %d" % (recs if rep and rep.get("ok") else rep, n))
    e_before = (status(data) or {}).get("epoch")
    tc = time.monotonic()
    rep = retry_call(api, {"v": 1, "op": "check"}, 120.0, 120.0)
    check_s = time.monotonic() - tc
    e_after = (status(data) or {}).get("epoch")
    if not rep or not rep.get("ok") or rep.get("problems") != 0 or rep.get("records") != n:
        bad = [s for s in (rep or {}).get("shards", []) if s.get("problems")]
        problems.append("api check: problems %s, records %s, want 0 and %d; %s" % (
            (rep or {}).get("problems"), (rep or {}).get("records"), n, bad[:3] if bad else rep))
    nshards = len((rep or {}).get("shards", []))
    # every id, 64 requests in flight
    t0 = time.monotonic()
    todo = list(idx)
    pending, missing, differ, errors = {}, [], [], {}
    sock = api.sock
    rid = 1 << 50
    attempts = {}
    deadline = time.monotonic() + 180
    while todo or pending:
        while todo and len(pending) < 64:
            i = todo.pop()
            rid += 1
            pending[rid] = i
            attempts[i] = attempts.get(i, 0) + 1
            sock.send(msgpack.packb({"v": 1, "op": "get", "id": i, "rid": rid}))
        if time.monotonic() > deadline or not sock.poll(15000):
            problems.append("gets: %d requests unanswered" % len(pending))
            break
        rep = msgpack.unpackb(sock.recv(), raw=False, strict_map_key=False)
        i = pending.pop(rep.get("rid"), None)
        if i is None:
            continue
        if rep.get("ok"):
            if (rep.get("summary") or {}).get("id") != i or not same_record(content, idx, i, rep.get("record")):
                differ.append(i)
            continue
        code = (rep.get("error") or {}).get("code")
        if code in RETRYABLE and attempts[i] < 20:
            todo.append(i)
            continue
        errors[code] = errors.get(code, 0) + 1
        if code == "NOT_FOUND":
            missing.append(i)
    if missing:
        problems.append("%d ids of the file are not found, e.g. %s" % (len(missing), missing[:3]))
    if differ:
        problems.append("%d records differ from their lines, e.g. %s" % (len(differ), differ[:3]))
    if errors:
        problems.append("gets failed: %s" % errors)
    api.close()
    print("count %d, stats %d, check %d shards 0 problems (%.1f s, epoch %s -> %s), %d gets ok in %.1f s%s" % (
        n, n, nshards, check_s, e_before, e_after, len(idx) - len(missing) - len(differ), time.monotonic() - t0,
        "" if not problems else " -- PROBLEMS"))
    if problems:
        die("\n  ".join(problems))


# --- report REPORT.json N: the producer's report says N lines, N imported
def cmd_report(a):
    with open(a[0]) as f:
        text = f.read()
    try:
        r = json.loads(text)
    except ValueError:
        die("the producer's report is not JSON: %r" % text[:500])
    n = int(a[1])
    want = {"lines": n, "imported": n, "duplicates": 0, "rejected": 0}
    got = {k: r.get(k) for k in want}
    if got != want:
        die("the producer reports %s, want %s" % (got, want))
    print("%.3f %.2f" % (r.get("seconds", 0), r.get("mb_per_s", 0)))


# --- job DATA JOB: the aggregator's ledger says the job is done and exact
def cmd_job(a):
    data, job, n = a[0], a[1], int(a[2])
    st = status(data, 3.0)
    j = job_of(st, job) if st else None
    if not j or j["state"] != "done" or j["imported"] != n or j["lines"] != n:
        die("the aggregator's job %s: %s" % (job, j))
    errs = {w["name"]: w["error"] for w in st["workers"] if w.get("alive") and w.get("error")}
    if errs:
        die("workers report errors: %s" % errs)


# --- epoch DATA: prints the map's epoch
def cmd_epoch(a):
    st = status(a[0], 3.0)
    if st is None:
        die("the aggregator does not answer status")
    print(st["epoch"])


CMDS = {"pace": cmd_pace, "status": cmd_status, "wait-map": cmd_wait_map,
        "wait-held": cmd_wait_held, "wait-acked": cmd_wait_acked,
        "kill-on-epoch": cmd_kill_on_epoch, "client": cmd_client, "verify": cmd_verify,
        "report": cmd_report, "job": cmd_job, "epoch": cmd_epoch}

if __name__ == "__main__":
    CMDS[sys.argv[1]](sys.argv[2:])
PYEOF

h () { "$PY" "$HELPER" "$@"; }

step () {
    echo "--- [$SCENARIO +$(( $(date +%s) - S0 ))s] $*"
}

# process and log helpers shared by the drivers
. "$(dirname "$0")/e2e_procs.sh"

print_logs () {
    [ -n "$D" ] || return
    print_files "$D"/logs/*.log "$T"/*.err "$T"/*.json
}

fail () {
    echo "FAIL [$SCENARIO +$(( $(date +%s) - S0 ))s]: $*" >&2
    print_logs
    exit 1
}

# --- processes: each started here, its pid in T/run/NAME.pid ---------------------



# stop NAME...: SIGTERM; each must end with status 0 within 30 s
stop () {
    term "$@"
    for n in "$@"; do
        p=$(pid_of "$n")
        [ -n "$p" ] || continue
        wait_exit "$n" 30 || fail "$n (pid $p) did not stop within 30 s of SIGTERM"
        [ "$RC" -eq 0 ] || fail "$n (pid $p) stopped with status $RC after SIGTERM"
    done
}

# kill_ours: kill -9 every process this script started that still runs (by
# the pids it recorded, checked against the command line)
kill_ours () {
    [ -n "$T" ] && [ -d "$T/run" ] || return 0
    for f in "$T"/run/*.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        if is_alive "$p" && grep -qF "$TOP" "/proc/$p/cmdline" 2>/dev/null; then
            kill -KILL "$p" 2>/dev/null
            wait "$p" 2>/dev/null
        fi
        rm -f "$f"
    done
}

cleanup () {
    kill_ours
    if [ "${E2E_KEEP:-0}" = 1 ]; then
        echo "kept $TOP"
    else
        rm -rf "$TOP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# new_scenario NAME: fresh D and T under TOP
new_scenario () {
    kill_ours
    SCENARIO=$1
    S0=$(date +%s)
    D="$TOP/$1"
    T="$TOP/$1.t"
    mkdir -p "$D/logs" "$T/run"
}

# end_scenario: everything stopped cleanly, the data directory removed
end_scenario () {
    stop api
    for f in "$T"/run/w*.pid; do
        [ -f "$f" ] || continue
        stop "$(basename "$f" .pid)"
    done
    stop aggregator
    kill_ours
    rebuilds=$(cat "$D"/logs/*.log | grep -c "rebuilding statistics")
    errors=$(cat "$D"/logs/*.log | grep -c " ERROR ")
    missed=$(grep -h "lost (missed heartbeats)" "$D/logs/aggregator.log")
    step "logs: $errors errors, $rebuilds statistics rebuilds, $(printf '%s' "$missed" | grep -c .) workers declared lost for missed heartbeats"
    [ -z "$missed" ] || printf '%s\n' "$missed" | sed 's/^/    NOTE: /'
    [ "${E2E_KEEP:-0}" = 1 ] || rm -rf "$D"
}

# gen N SEED: a generated input (kept for the run), its path in IN
gen () {
    IN="$TOP/gen-$1-$2.jsonl"
    [ -s "$IN" ] || "$GEN" --records "$1" --seed "$2" --out "$IN" >/dev/null \
        || { echo "FAIL: trajstore-gen --records $1 --seed $2 exited $?" >&2; exit 1; }
}

# import_paced JOB FILE GATE...: the producer reads FILE from a pipe, paced
# at RATE, holding at each GATE (FRACTION:PATH) until PATH exists
import_paced () {
    job=$1 file=$2
    shift 2
    gates=""
    for g in "$@"; do gates="$gates --gate $g"; done
    mkfifo "$T/in.fifo"
    # shellcheck disable=SC2086
    "$PY" "$HELPER" pace "$file" "$RATE" $gates >"$T/in.fifo" 2>>"$T/pacer.err" &
    echo $! >"$T/run/pacer.pid"
    "$PRODUCER" --data "$D" --job "$job" --json --quiet --run "$job" - <"$T/in.fifo" \
        >"$T/report.json" 2>>"$D/logs/producer.log" &
    echo $! >"$T/run/producer.pid"
}

# start_client: the query loop (stops when T/client.stop exists)
start_client () {
    "$PY" "$HELPER" client "$D" "$1" "$T/client.stop" "$T/client.json" 2>>"$T/client.err" &
    echo $! >"$T/run/client.pid"
}

# stop_client: its summary printed; a wrong answer fails the scenario
stop_client () {
    touch "$T/client.stop"
    wait_exit client 60 || fail "the query client did not stop"
    "$PY" - "$T/client.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("    client: %d iterations, %d requests in %s s; ok %s; errors %s; slowest (ms) %s; %d distinct records listed (each got again once at random)"
      % (d["iterations"], d["requests"], d["seconds"], d["ok"], d["errors"] or "none", d["max_ms"], d["seen"]))
for e in d["events"][:12]:
    print("      " + e)
for v in d["violations"]:
    print("    WRONG: " + v)
EOF
    [ "$RC" -eq 0 ] || fail "the query client saw wrong answers (above)"
}

# finish_import N SECONDS: the producer ends with 0 and reports N imported
finish_import () {
    wait_exit producer "$2" || fail "the import did not finish within $2 s"
    [ "$RC" -eq 0 ] || fail "the producer exited $RC: $(cat "$T/report.json")"
    rep=$(h report "$T/report.json" "$1") || fail "the producer's report is wrong"
    wait_exit pacer 10 || fail "the pacer did not end"
}

# finish_checked JOB INPUT N: the paced import of N records ends, the query
# client stops, and the job ledger and the store hold exactly the input
finish_checked () {
    finish_import "$3" 180
    set -- "$@" $rep
    step "import done: $3 imported in $4 s ($5 MB/s, paced)"
    stop_client
    h job "$D" "$1" "$3" || fail "the aggregator's job ledger"
    v=$(h verify "$D" "$2" "$3") || fail "the store after the import: $v"
    step "$v"
    end_scenario
}

# --- scenarios ---------------------------------------------------------------------

scenario_scale_1_3_1 () {
    N=40000
    gen $N 11
    in=$IN
    new_scenario scale_1_3_1
    start_agg
    start_worker w1
    start_api
    e0=$(h wait-map "$D" --alive w1 --shards 16 --stats --timeout 30) || fail "w1 did not get the 16 shards"
    h wait-held "$D" --timeout 30 >/dev/null || fail "w1 does not hold its shards"
    step "one worker, epoch $e0; import of $N records (paced at $((RATE / 1000000)) MB/s) and the query client start"
    start_client "$in"
    import_paced scale "$in" "0.45:$T/phase1" "0.8:$T/phase2"
    a=$(h wait-acked "$D" scale 4 --timeout 60) || fail "the import does not progress"
    step "$a chunks acked: w2 and w3 start"
    start_worker w2
    start_worker w3
    e1=$(h wait-map "$D" --alive w1,w2,w3 --shards 5,5,6 --epoch-gt "$e0" --timeout 30) \
        || fail "the shards did not move to w2 and w3"
    held=$(h wait-held "$D" --timeout 30) || fail "the moved shards were not opened by their new owners"
    a=$(h wait-acked "$D" scale 1 --timeout 5) || fail "the import ended before the scale-up was seen through"
    step "epoch $e1: 3 workers hold $held; $a chunks acked"
    touch "$T/phase1"
    a=$(h wait-acked "$D" scale $((a + 8)) --timeout 60) || fail "the import does not progress on 3 workers"
    step "$a chunks acked on 3 workers: SIGTERM w2 and w3"
    term w2 w3
    e2=$(h wait-map "$D" --alive w1 --shards 16 --epoch-gt "$e1" --timeout 30) \
        || fail "the shards did not go back to w1"
    for w in w2 w3; do
        wait_exit $w 30 || fail "$w did not stop within 30 s of SIGTERM"
        [ "$RC" -eq 0 ] || fail "$w stopped with status $RC after SIGTERM"
    done
    h wait-held "$D" --timeout 30 >/dev/null || fail "w1 did not reopen the shards it got back"
    a=$(h wait-acked "$D" scale 1 --timeout 5) || fail "the import ended before the scale-down was seen through"
    step "epoch $e2: w1 holds the 16 shards again, w2 and w3 exited 0; $a chunks acked"
    touch "$T/phase2"
    finish_checked scale "$in" $N
}

scenario_kill_moving () {
    N=30000
    gen $N 12
    in=$IN
    new_scenario kill_moving
    start_agg
    start_worker w1
    start_worker w2
    start_api
    e0=$(h wait-map "$D" --alive w1,w2 --shards 8,8 --stats --timeout 30) || fail "w1, w2 did not get 8 shards each"
    h wait-held "$D" --timeout 30 >/dev/null || fail "w1, w2 do not hold their shards"
    step "two workers, epoch $e0; import of $N records and the query client start"
    start_client "$in"
    import_paced kill "$in" "0.6:$T/phase1"
    a=$(h wait-acked "$D" kill 4 --timeout 60) || fail "the import does not progress"
    step "$a chunks acked: w3 starts; w1 is killed with -9 as soon as the epoch advances"
    victim=$(pid_of w1)
    disown "$victim"                    # (no "Killed" notice from bash)
    "$PY" "$HELPER" kill-on-epoch "$D" "$e0" "$victim" "$T/killer.ready" --timeout 60 \
        >"$T/killer.out" 2>>"$T/killer.err" &
    echo $! >"$T/run/killer.pid"
    end=$(( $(date +%s) + 30 ))
    until [ -e "$T/killer.ready" ]; do
        is_alive "$(pid_of killer)" && [ "$(date +%s)" -lt "$end" ] || fail "the epoch watcher did not start"
        sleep 0.02
    done
    start_worker w3
    wait_exit killer 60 || fail "the epoch did not advance for w3"
    [ "$RC" -eq 0 ] || fail "the epoch watcher failed: $(cat "$T/killer.err")"
    end=$(( $(date +%s) + 10 ))
    while is_alive "$victim"; do
        [ "$(date +%s)" -lt "$end" ] || fail "w1 (pid $victim) survived kill -9"
        sleep 0.02
    done
    rm -f "$T/run/w1.pid"
    step "$(cat "$T/killer.out")"
    sleep 1                             # the restart comes about 1 s later
    start_worker w1
    step "w1 restarted (pid $(pid_of w1))"
    e1=$(h wait-map "$D" --alive w1,w2,w3 --shards 5,5,6 --stats --timeout 60) \
        || fail "the map did not settle on 3 workers"
    held=$(h wait-held "$D" --timeout 60) || fail "the workers do not hold their shards"
    a=$(h wait-acked "$D" kill 1 --timeout 5) || fail "the import ended before the kill was seen through"
    step "epoch $e1: $held; $a chunks acked"
    touch "$T/phase1"
    finish_checked kill "$in" $N
}

scenario_throughput () {
    N=20000
    REPS=${E2E_REPS:-3}
    gen $N 13
    in=$IN
    mb=$(( $(wc -c <"$in") / 1000000 ))
    results=""
    for k in 1 2 4; do
        secs=""
        for r in $(seq 1 "$REPS"); do
            new_scenario "throughput"
            SCENARIO="throughput $k/$r"
            start_agg
            names="" shards=""
            for i in $(seq 1 $k); do
                start_worker "w$i"
                names="$names${names:+,}w$i"
                shards="$shards${shards:+,}$((16 / k))"
            done
            h wait-map "$D" --alive "$names" --shards "$shards" --stats --timeout 30 >/dev/null \
                || fail "$k workers did not get their shards"
            h wait-held "$D" --timeout 30 >/dev/null || fail "the workers do not hold their shards"
            "$PRODUCER" --data "$D" --job tp --json --quiet "$in" >"$T/report.json" 2>>"$D/logs/producer.log" \
                || fail "the producer exited $?: $(cat "$T/report.json")"
            rep=$(h report "$T/report.json" $N) || fail "the producer's report is wrong"
            set -- $rep
            secs="$secs $1"
            step "$k worker(s): $N records in $1 s"
            end_scenario
        done
        # shellcheck disable=SC2086
        line=$("$PY" - $N $k $mb $secs <<'EOF'
import statistics, sys
n, k, mb = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = sorted(float(x) for x in sys.argv[4:])
m = statistics.median(s)
print("%d worker%s  %6.2f s  %7.0f records/s  %6.1f MB/s   (runs: %s s)"
      % (k, " " if k == 1 else "s", m, n / m, mb / m, " ".join("%.2f" % x for x in s)))
EOF
)
        results="$results    $line
"
    done
    SCENARIO=throughput
    echo "=== import throughput: $N records ($mb MB), fresh store each run, median of $REPS;" \
         "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%s' "$results"
}

# throughput is a measurement, not a test: it runs only when named (the
# benchmarks in bench/ are where figures come from)
[ $# -gt 0 ] || set -- scale_1_3_1 kill_moving
for s in "$@"; do
    case $s in
        scale_1_3_1|kill_moving|throughput) ;;
        *) echo "unknown scenario $s" >&2; exit 2 ;;
    esac
done
for s in "$@"; do
    t=$(date +%s)
    "scenario_$s"
    echo "PASS [$s] in $(( $(date +%s) - t )) s"
done
echo "e2e_scale: all passed in $(( $(date +%s) - T0 )) s"
