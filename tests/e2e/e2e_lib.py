#!/usr/bin/python3
"""e2e_lib.py: helpers of tests/e2e/e2e_import.sh (run with Debian's /usr/bin/python3,
which has python3-zmq and python3-msgpack).

    oracle FILE OUT.json [--ids OUT.ids] [--run R]  what a strict RFC 8259 importer
                                            must make of FILE (imported into run R:
                                            by default its name without .jsonl etc.)
    mkdump GEN.jsonl OUT.jsonl              GEN plus hand-made lines of every kind (scenario 1)
    status DATA                             the aggregator's status, as JSON
    wait-ready DATA --workers w1,w2 [--timeout S] [--no-api] [--no-stats]
    wait-job DATA JOB --acked N [--timeout S]   until the job has N chunks acked (exit 3: it ended first)
    wait-gone DATA NAME [--timeout S]       until the aggregator has no live worker NAME
    api DATA JSON [--timeout S]             one api request, the reply as JSON
    ids DATA OUT                            page through every id (list, sort id) into OUT
    check-report REPORT.json ORACLE.json [--reimport PREV.json | --after N] | REPORT.json --partial
    check-rejects REJECTS.tsv ORACLE.json [--input FILE]
    check-ids GOT.ids ORACLE.ids ORACLE.json [ORACLE2.ids ORACLE2.json...] [--what TEXT]
    check-stats STATS.json CHECK.json       api stats == offline recount
    check-get DATA FILE ID... [--first]     each stored record is exactly one of FILE's lines with its id
    check-sample DATA FILE N                N random lines of FILE read back exactly
    mkrace OUT                              the dump of the dup_order scenario
    json FILE EXPR                          prints EXPR over the JSON in FILE (bound to d)
    rand LO HI                              a random float in [LO, HI] (seeded by $E2E_SEED)

api, ids, check-get and check-sample take for DATA also the api's endpoint
(tcp://127.0.0.1:PORT: a stack in containers, tests/e2e_containers.sh).

Every check prints "FAIL: ..." on stderr and exits 1 when it does not hold.
"""
import json
import math
import os
import random
import re
import sys
import time

UTF8_BOM = b"\xef\xbb\xbf"
MAX_DEPTH = 28
INT_MIN, UINT_MAX = -(1 << 63), (1 << 64) - 1


def pass_at(n, c, k):
    """pass@k of a group of n attempts with c successes (docs/PROTOCOL.md):
    None when n < k."""
    if n < k:
        return None
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def die(msg):
    sys.stderr.write("FAIL: %s\n" % msg)
    sys.exit(1)


# --- the oracle -------------------------------------------------------------------
#
# Independent of the C code: Python's json module (strict about control characters,
# trailing commas, single quotes, trailing data) with what it lets through closed
# off: NaN/Infinity, numbers out of range, lone surrogates (json decodes "\ud800"
# into a lone code point, a valid pair into one astral character), invalid UTF-8
# (bytes decoded strictly first), nesting deeper than 28; then the default
# profile's field rules.

class Bad(Exception):
    pass


def _const(name):
    raise Bad("constant %s" % name)


def _int(text):
    v = int(text)
    if v < INT_MIN or v > UINT_MAX:
        raise Bad("integer out of range")
    return v


def _float(text):
    v = float(text)
    if not math.isfinite(v):
        raise Bad("number out of range")
    return v


SURROGATE_RE = re.compile("[\ud800-\udfff]")
# strict UTF-8 cannot carry a surrogate: only a \\uD800-\\uDFFF escape can
SURROGATE_ESCAPE_RE = re.compile(rb"\\u[dD][89abAB]|\\u[dD][c-fC-F]")


def _walk(v, level, strings):
    """Checks depth (the record is level 1) and, with `strings`, that no string
    (key or value) holds a lone surrogate."""
    if isinstance(v, str):
        if strings and SURROGATE_RE.search(v):
            raise Bad("lone surrogate")
    elif isinstance(v, dict):
        if level > MAX_DEPTH:
            raise Bad("too deep")
        for k, x in v.items():
            _walk(k, level + 1, strings)
            _walk(x, level + 1, strings)
    elif isinstance(v, list):
        if level > MAX_DEPTH:
            raise Bad("too deep")
        for x in v:
            _walk(x, level + 1, strings)


ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})"
                    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                    r"(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)?)?", re.ASCII)
MDAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _iso8601(s):
    m = ISO_RE.fullmatch(s)
    if not m:
        return False
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if not 1 <= mo <= 12 or not 1 <= d <= MDAYS[mo - 1]:
        return False
    if mo == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)):
        return False
    for g, hi in ((4, 23), (5, 59), (6, 60), (7, 23), (8, 59)):
        if m.group(g) is not None and int(m.group(g)) > hi:
            return False
    return True


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v, limit):
    """The text of an id/group/model: a string or a number; None when absent."""
    if v is None:
        return None
    if isinstance(v, str):
        t = v
    elif isinstance(v, bool) or not _is_num(v):
        raise Bad("id/group/model of another type")
    elif isinstance(v, int):
        t = str(v)
    else:
        t = repr(v)          # not used by the test data: ids are strings or ints
    if t == "" or len(t.encode("utf-8", "surrogatepass")) > limit:
        raise Bad("empty or too long")
    return t


def classify(raw):
    """(kind, key, warned): kind 'blank', 'reject' or 'record'; key the id:
    explicit ids as str, None for the others (the store names them by the
    import's run and the line number: the caller keys them by line); warned:
    fields left unknown for their type."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if all(c in b" \t\r" for c in raw):
        return "blank", None, 0
    try:
        text = raw.decode("utf-8", "strict")
        obj = json.loads(text, parse_constant=_const, parse_int=_int, parse_float=_float)
        if not isinstance(obj, dict):
            raise Bad("not an object")
        _walk(obj, 1, SURROGATE_ESCAPE_RE.search(raw) is not None)
        rid = _text(obj.get("id"), 512)
    except (Bad, ValueError, RecursionError, UnicodeDecodeError):
        return "reject", None, 0
    # any other field that does not fit is left unknown with a warning (the
    # line is kept: only a strict profile rejects it)
    warned = 0
    for check in _FIELD_CHECKS:
        try:
            check(obj)
        except Bad:
            warned += 1
    return "record", rid, warned


def _check_reward(obj):
    r = obj.get("reward")
    if r is not None and not _is_num(r):
        raise Bad("reward")


def _check_success(obj):
    s = obj.get("is_success")
    if s is not None and not isinstance(s, bool) and not (type(s) is int and s in (0, 1)):
        raise Bad("is_success")


def _check_created(obj):
    c = obj.get("created_at")
    if c is not None:
        if isinstance(c, str):
            if not _iso8601(c):
                raise Bad("created_at")
        elif _is_num(c):
            if not abs(c) < 1e15:
                raise Bad("created_at range")
        else:
            raise Bad("created_at type")


def _check_steps(obj):
    t = obj.get("trajectory")
    if t is not None and not isinstance(t, list):
        raise Bad("trajectory")


_FIELD_CHECKS = (lambda o: _text(o.get("data_id"), 512), lambda o: _text(o.get("model"), 256),
                 _check_reward, _check_success, _check_created, _check_steps)



def split_lines(data):
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def run_of_path(path):
    """The run an import of `path` goes to by default (ts_profile_run_of_path)."""
    name = os.path.basename(path)
    cut = True
    while cut:
        cut = False
        for sfx in (".gz", ".zst", ".jsonl", ".json"):
            if len(name) > len(sfx) and name.endswith(sfx):
                name = name[:-len(sfx)]
                cut = True
    return name


def cmd_oracle(args):
    path, out = args[0], args[1]
    ids_out = args[args.index("--ids") + 1] if "--ids" in args else None
    run = args[args.index("--run") + 1] if "--run" in args else run_of_path(path)
    with open(path, "rb") as f:
        lines = split_lines(f.read())
    seen = set()
    blank = accepted = 0
    rejected = []
    explicit = []
    hashed = warned = 0
    for n, raw in enumerate(lines, 1):
        kind, key, w = classify(raw)
        warned += w
        if kind == "blank":
            blank += 1
        elif kind == "reject":
            rejected.append(n)
        else:
            accepted += 1
            if key is None:             # no id: "RUN:LINE" (issue #13, attempt identity)
                key = "%s:%d" % (run, n)
            if key not in seen:
                seen.add(key)
                if isinstance(key, tuple):
                    hashed += 1
                else:
                    explicit.append(key)
    res = {"lines": len(lines), "blank": blank, "rejected": len(rejected),
           "accepted": accepted, "imported": len(seen), "duplicates": accepted - len(seen),
           "hashed_ids": hashed, "warned": warned, "rejected_lines": rejected}
    with open(out, "w") as f:
        json.dump(res, f)
    if ids_out:
        with open(ids_out, "w", encoding="utf-8", errors="surrogatepass") as f:
            for i in sorted(explicit):
                f.write(i + "\n")
    short = dict(res)
    del short["rejected_lines"]
    print(json.dumps(short))


# --- the scenario 1 dump -------------------------------------------------------------

def _rec(rid, **kw):
    o = {"id": rid, "data_id": "q-hand", "model": "hand-model",
         "created_at": "2026-03-14T09:26:53.589Z", "reward": 0.5, "is_success": False,
         "trajectory": [{"role": "user", "content": "hi"}]}
    if rid is _DROP:
        del o["id"]
    for k, v in kw.items():
        if v is _DROP:
            o.pop(k, None)
        else:
            o[k] = v
    return json.dumps(o, ensure_ascii=False).encode("utf-8")


_DROP = object()


def _nested(depth):
    """A record whose nesting depth is exactly `depth` (the record is 1)."""
    inner = "0"
    for _ in range(depth - 1):
        inner = "[" + inner + "]"
    return ('{"id": "hand-depth-%d", "data_id": "q-hand", "deep": %s}' % (depth, inner)).encode()


def hand_lines():
    """(bytes, note) pairs: every kind of line the importer must get right."""
    L = []
    add = lambda b, note: L.append((b, note))
    # good lines, some of them edge cases a lax or an over-strict parser gets wrong
    add(_rec("hand-ok-1"), "good")
    add(_rec("hand-crlf") + b"\r", "good with CRLF")
    add(b"   \t" + _rec("hand-lead-ws") + b"  \t ", "good, surrounded by blanks")
    add(_rec("hand-pair", note="rocket \\ud83d\\ude80") .replace(b"\\\\u", b"\\u"), "valid surrogate pair")
    add(_rec("hand-int-max", big=(1 << 63) - 1, neg=-(1 << 63), ubig=(1 << 64) - 1), "integer limits")
    add(_rec("hand-null-fields", reward=None, is_success=None, created_at=None, trajectory=None,
             data_id=None, model=None), "null fields are absent")
    add(_rec("hand-no-fields", reward=_DROP, is_success=_DROP, created_at=_DROP,
             trajectory=_DROP, data_id=_DROP, model=_DROP), "only an id")
    add(_rec("hand-succ-1", is_success=1), "is_success 1")
    add(_rec("hand-succ-0", is_success=0), "is_success 0")
    add(_rec("hand-epoch", created_at=1700000000), "created_at epoch seconds")
    add(_rec("hand-date", created_at="2024-05-16"), "created_at date only")
    add(_rec("hand-offset", created_at="2024-02-29T10:20:30+02:00"), "created_at with offset")
    add(_rec("hand-reward-int", reward=1), "integer reward")
    add(_rec("hand-unicode-ü東🚀", model="modèle"), "non-ASCII id")
    add(_rec(12345), "numeric id")
    add(_nested(MAX_DEPTH), "nesting at the limit")
    add(_rec("hand-ok-1", reward=0.9), "same id, other content: a duplicate")
    add(_rec(_DROP, note="no id A"), "no id (hash id)")
    add(_rec(_DROP, note="no id A"), "no id, same bytes: a duplicate")
    add(_rec(None, note="no id B"), "id null: a hash id too")
    add(_rec("x" * 512), "id of 512 bytes")
    # blank lines
    for b in (b"", b"   ", b"\t", b"\r", b" \t \r"):
        add(b, "blank")
    # bad lines
    bad = [
        b'{"id": "bad-nan", "reward": NaN}',
        b'{"id": "bad-inf", "reward": Infinity}',
        b'{"id": "bad-ninf", "reward": -Infinity}',
        b"{'id': 'bad-single-quotes'}",
        b'{"id": "bad-trailing-comma",}',
        b'{"id": "bad-trailing-comma-array", "trajectory": [1, 2,]}',
        b'{"id": "bad-garbage"} x',
        b'{"id": "bad-two-objects"} {"id": "bad-two-objects-2"}',
        b'{"id": "bad-unclosed"',
        b'{"id": "bad-utf8-ff", "t": "caf\xff"}',
        b'{"id": "bad-utf8-overlong", "t": "\xc0\xaf"}',
        b'{"id": "bad-utf8-surrogate", "t": "\xed\xa0\x80"}',
        b'{"id": "bad-utf8-truncated", "t": "\xe6\x9d"}',
        b'{"id": "bad-lone-high", "t": "\\ud800"}',
        b'{"id": "bad-lone-low", "t": "\\udc00"}',
        b'{"id": "bad-high-then-ascii", "t": "\\ud800\\u0041"}',
        b'{"id": "bad-reversed-pair", "t": "\\udc00\\ud800"}',
        b'{"id": "bad-lone-in-key", "\\ud800": 1}',
        b'{"id": "bad-int-too-big", "n": 18446744073709551616}',
        b'{"id": "bad-int-too-small", "n": -9223372036854775809}',
        b'{"id": "bad-float-overflow", "n": 1e400}',
        b'["bad-array"]',
        b'"bad-string"',
        b'42',
        b'null',
        b'true',
        _nested(MAX_DEPTH + 1),
        _rec("bad-reward-str", reward="high"),
        _rec("bad-reward-bool", reward=True),
        _rec("bad-success-2", is_success=2),
        _rec("bad-success-str", is_success="yes"),
        _rec("bad-success-float", is_success=1.0),
        _rec("bad-created-word", created_at="yesterday"),
        _rec("bad-created-month", created_at="2024-13-01"),
        _rec("bad-created-feb30", created_at="2024-02-30"),
        _rec("bad-created-bool", created_at=True),
        _rec("bad-traj-object", trajectory={"role": "user"}),
        _rec("bad-traj-string", trajectory="abc"),
        _rec(""),
        _rec(True),
        _rec("y" * 513),
        _rec("bad-group-list", data_id=["a"]),
        _rec("bad-model-long", model="m" * 257),
        b'{"id": "bad-raw-tab", "t": "a\tb"}',
        b'{"id": "bad-nul", "t": "a\x00b"}',
        b'\x0c{"id": "bad-formfeed-ws"}',
        b'\x0c',
        UTF8_BOM + _rec("bad-bom-mid-file"),
        b'{"id": "bad-leading-zero", "n": 012}',
        b'{"id": "bad-hex", "n": 0x10}',
        b'{"id": "bad-plus", "n": +1}',
        b'{"id": "bad-comment"} // c',
        b'{"id": "bad-escape", "t": "\\x41"}',
    ]
    for b in bad:
        add(b, "bad")
    return L


def _huge_line(rid, size):
    steps = []
    total = 0
    k = 0
    while total < size:
        c = "step %d: " % k + "lorem ipsum dolor sit amet, Zürich 東京 🚀 " * 40
        steps.append({"role": "assistant" if k % 2 else "tool", "content": c})
        total += len(c.encode()) + 40
        k += 1
    return json.dumps({"id": rid, "data_id": "q-huge", "model": "hand-model", "reward": 1.0,
                       "is_success": True, "created_at": "2026-01-01T00:00:00Z",
                       "trajectory": steps}, ensure_ascii=False).encode()


def cmd_mkdump(args):
    """GEN -> OUT: a BOM first; every 37th generated line with CRLF; hand-made
    lines spread through the file; a ~3 MB line (and a duplicate of its id);
    a generated line repeated at the end; the last line without a newline."""
    src, out = args[0], args[1]
    with open(src, "rb") as f:
        gen = f.read().split(b"\n")
    if gen and gen[-1] == b"":
        gen.pop()
    hand = hand_lines()
    rng = random.Random(7)
    lines = []
    step = max(1, len(gen) // (len(hand) + 1))
    hi = 0
    for i, g in enumerate(gen):
        lines.append(g + b"\r" if i % 37 == 5 else g)
        if i % step == step - 1 and hi < len(hand):
            lines.append(hand[hi][0])
            hi += 1
    for b, _ in hand[hi:]:
        lines.append(b)
    mid = len(lines) // 2
    lines.insert(mid, _huge_line("hand-huge", 3 * 1024 * 1024))
    lines.append(_huge_line("hand-huge", 1024 * 1024 + 100))        # same id: a duplicate
    lines.append(gen[rng.randrange(len(gen))])                       # an exact repeat
    lines.append(_rec("hand-last-no-newline"))
    data = UTF8_BOM + b"\n".join(lines)                              # no final newline
    with open(out, "wb") as f:
        f.write(data)
    print("%d lines, %d bytes" % (len(lines), len(data)))


# --- talking to the stack --------------------------------------------------------------

def _zmq():
    import zmq
    return zmq


def request(endpoint, msg, timeout):
    """One request on a fresh DEALER; the reply map, or None on timeout."""
    import msgpack
    zmq = _zmq()
    ctx = zmq.Context.instance()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 0)
    try:
        s.connect(endpoint)
        s.send(msgpack.packb(msg))
        if not s.poll(int(timeout * 1000)):
            return None
        return msgpack.unpackb(s.recv(), raw=False, strict_map_key=False)
    finally:
        s.close(0)


def agg_status(data, timeout=2.0):
    return request("ipc://%s/query.sock" % data, {"v": 1, "t": "status"}, timeout)


def api(data, msg, timeout=15.0):
    """DATA is a data directory (its api socket) or an api endpoint
    (tcp://HOST:PORT: the api of a stack in containers)."""
    endpoint = data if "://" in data else "ipc://%s/api.sock" % data
    return request(endpoint, msg, timeout)


def _default(o):
    if isinstance(o, bytes):
        return o.hex()
    raise TypeError(type(o))


def _opt(args, name, default, conv=float):
    return conv(args[args.index(name) + 1]) if name in args else default


def cmd_status(args):
    st = agg_status(args[0], _opt(args, "--timeout", 3.0))
    if st is None:
        die("the aggregator did not answer a status request")
    print(json.dumps(st, default=_default))


def ready_problem(data, names, want_api, want_stats=True):
    st = agg_status(data, 1.0)
    if st is None:
        return "the aggregator does not answer status"
    alive = {w["name"]: w for w in st.get("workers", []) if w.get("alive")}
    missing = [n for n in names if n not in alive]
    if missing:
        return "workers not alive: %s" % missing
    owned = sorted(s for w in alive.values() for s in w.get("shards", []))
    if owned != list(range(st["nshards"])):
        return "shards not all assigned to live workers: %s" % owned
    if want_stats and not st.get("stats_complete"):
        return "statistics not complete yet"
    if want_api:
        r = api(data, {"v": 1, "op": "count"}, 2.0)
        if r is None:
            return "the api does not answer"
        if not r.get("ok"):
            return "the api answers count with %s" % r.get("error")
    return None


def cmd_wait_ready(args):
    data = args[0]
    names = _opt(args, "--workers", "w1,w2", str).split(",")
    timeout = _opt(args, "--timeout", 60.0)
    want_api = "--no-api" not in args
    want_stats = "--no-stats" not in args
    deadline = time.monotonic() + timeout
    while True:
        why = ready_problem(data, names, want_api, want_stats)
        if why is None:
            return
        if time.monotonic() > deadline:
            die("the stack was not ready within %g s: %s" % (timeout, why))
        time.sleep(0.05)


def cmd_wait_job(args):
    data, job = args[0], args[1]
    acked = _opt(args, "--acked", 1, int)
    timeout = _opt(args, "--timeout", 120.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = agg_status(data, 1.0)
        if st is not None:
            for j in st.get("jobs", []):
                if j.get("job") == job:
                    if j.get("chunks_acked", 0) >= acked:
                        print(j.get("chunks_acked"))
                        return
                    if j.get("finished_ms") is not None or j.get("state") != "running":
                        print("job %s ended (%s) before %d chunks were acked" %
                              (job, j.get("state"), acked), file=sys.stderr)
                        sys.exit(3)
        time.sleep(0.02)
    die("job %s: %d chunks not acked within %g s" % (job, acked, timeout))


def cmd_wait_gone(args):
    data, name = args[0], args[1]
    timeout = _opt(args, "--timeout", 30.0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = agg_status(data, 1.0)
        if st is not None and not any(w["name"] == name and w.get("alive")
                                      for w in st.get("workers", [])):
            return
        time.sleep(0.05)
    die("worker %s still alive at the aggregator after %g s" % (name, timeout))


def api_retry(data, msg, timeout=60.0):
    """An api request, retried on no answer, UNAVAILABLE and TIMEOUT until the
    deadline (the stack may be settling after a failure)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        r = api(data, msg, 15.0)
        if r is not None and (r.get("ok") or r.get("error", {}).get("code") not in
                              ("UNAVAILABLE", "TIMEOUT")):
            return r
        last = r
        if time.monotonic() > deadline:
            die("api %s: no good answer within %g s (last: %s)" % (msg, timeout, last))
        time.sleep(0.2)


def cmd_api(args):
    r = api_retry(args[0], json.loads(args[1]), _opt(args, "--timeout", 60.0))
    print(json.dumps(r, default=_default))


def cmd_ids(args):
    data, out = args[0], args[1]
    ids = []
    cursor = None
    while True:
        req = {"v": 1, "op": "list", "sort": "id", "limit": 10000}
        if cursor is not None:
            req["cursor"] = cursor
        r = api_retry(data, req)
        if not r.get("ok"):
            die("list failed: %s" % r.get("error"))
        ids.extend(it["id"] for it in r["items"])
        cursor = r.get("next")
        if cursor is None:
            break
    dups = len(ids) - len(set(ids))
    if dups:
        die("the listing holds %d ids more than once" % dups)
    if ids != sorted(ids, key=lambda s: s.encode("utf-8", "surrogatepass")):
        die("the listing sorted by id is not in id order")
    with open(out, "w", encoding="utf-8", errors="surrogatepass") as f:
        for i in ids:
            f.write(i + "\n")
    print(len(ids))


# --- checks ------------------------------------------------------------------------------

def _parse_line(raw):
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return json.loads(raw.decode("utf-8"), parse_constant=_const, parse_int=_int,
                      parse_float=_float)


def cmd_check_get(args):
    """check-get DATA FILE ID... [--first]: the stored record of each ID is
    exactly (key order, types, values) one of FILE's accepted lines with that
    id; with --first, the first of them. Prints which line it is."""
    first = "--first" in args
    args = [a for a in args if a != "--first"]
    data, path, ids = args[0], args[1], args[2:]
    with open(path, "rb") as f:
        lines = split_lines(f.read())
    cands = {rid: [] for rid in ids}
    for n, raw in enumerate(lines, 1):
        kind, key, _ = classify(raw)
        if kind == "record" and key in cands:
            cands[key].append((n, raw))
    for rid in ids:
        cs = cands[rid]
        if not cs:
            die("no accepted line of %s has the id %r" % (path, rid))
        r = api_retry(data, {"v": 1, "op": "get", "id": rid})
        if not r.get("ok"):
            die("get %r: %s" % (rid, r.get("error")))
        got = json.dumps(r["record"], ensure_ascii=False)
        for k, (n, raw) in enumerate(cs):
            if json.dumps(_parse_line(raw), ensure_ascii=False) == got:
                which = "the first" if k == 0 else "occurrence %d of %d" % (k + 1, len(cs))
                if k and first:
                    die("id %r: the store kept line %d (%s), not the first occurrence, line %d"
                        % (rid, n, which, cs[0][0]))
                print("id %r: stored record = line %d (%s%s)" %
                      (rid, n, which, "" if len(cs) == 1 else " of %d lines with this id" % len(cs)))
                break
        else:
            die("id %r: the stored record is none of the %d accepted lines with that id "
                "(lines %s): %s" % (rid, len(cs), [n for n, _ in cs], got[:300]))


def cmd_check_sample(args):
    """check-sample DATA FILE N: N random accepted lines with an id (seeded by
    $E2E_SEED) come back from get exactly as they were written (for files whose
    repeated ids are exact repeats, as trajstore-gen writes them)."""
    data, path, n = args[0], args[1], int(args[2])
    with open(path, "rb") as f:
        lines = split_lines(f.read())
    rng = random.Random((os.environ.get("E2E_SEED") or "") + ":sample:" + path)
    order = list(range(len(lines)))
    rng.shuffle(order)
    done = 0
    for i in order:
        if done == n:
            break
        kind, key, _ = classify(lines[i])
        if kind != "record" or key is None:
            continue
        r = api_retry(data, {"v": 1, "op": "get", "id": key})
        if not r.get("ok"):
            die("get %r (line %d): %s" % (key, i + 1, r.get("error")))
        if json.dumps(r["record"], ensure_ascii=False) != json.dumps(_parse_line(lines[i]), ensure_ascii=False):
            die("the stored record of %r is not line %d as written" % (key, i + 1))
        done += 1
    print("%d sampled records read back exactly" % done)


def cmd_mkrace(args):
    """mkrace OUT: X's first occurrence is a ~20 MB line (a slow chunk of its own),
    its second a small line right after (the next chunk, parsed in parallel by
    the other worker); Y the other way round (small first, ~5 MB second)."""
    out = args[0]
    big = lambda rid, note, n: {"id": rid, "data_id": "q-race", "model": "m", "reward": 1.0,
                                "is_success": True, "note": note,
                                "trajectory": [{"role": "tool", "content": "x" * 1000}] * n}
    small = lambda rid, note: {"id": rid, "data_id": "q-race", "model": "m", "reward": 0.0,
                               "is_success": False, "note": note, "trajectory": []}
    with open(out, "w") as f:
        f.write(json.dumps(big("race-x", "first", 20000)) + "\n")
        f.write(json.dumps(small("race-x", "second")) + "\n")
        f.write(json.dumps(small("race-y", "first")) + "\n")
        for k in range(200):
            f.write(json.dumps(small("race-filler-%d" % k, "only")) + "\n")
        f.write(json.dumps(big("race-y", "second", 5000)) + "\n")

def _load(path):
    with open(path) as f:
        return json.load(f)


def cmd_check_report(args):
    rep = _load(args[0])
    got = {k: rep.get(k) for k in ("lines", "imported", "duplicates", "rejected", "blank")}
    if got["lines"] != got["imported"] + got["duplicates"] + got["rejected"] + got["blank"]:
        die("the report does not add up: %s" % got)
    if "--partial" in args:
        return
    orc = _load(args[1])
    want = {k: orc[k] for k in ("lines", "imported", "duplicates", "rejected", "blank")}
    if "--after" in args:       # N of the file's ids were stored before
        n = int(args[args.index("--after") + 1])
        want["imported"] -= n
        want["duplicates"] += n
    if "--reimport" in args:
        prev = _load(args[args.index("--reimport") + 1])
        want["imported"] = 0
        want["duplicates"] = prev["imported"] + prev["duplicates"]
    if got != want:
        die("the report %s is not the expected %s" % (got, want))
    # every parsed line's misfit fields are warnings, duplicates' included
    if "warned" in rep and "warned" in orc and rep["warned"] != orc["warned"]:
        die("the report warns %s times, the oracle %s" % (rep["warned"], orc["warned"]))


def cmd_check_rejects(args):
    """Rejects file entries are LINE<tab>REASON<tab>TEXT: exactly the oracle's
    rejected lines, in order, each with a reason and (with --input) the
    line's own bytes."""
    path, orc = args[0], _load(args[1])
    lines = None
    if "--input" in args:
        with open(args[args.index("--input") + 1], "rb") as f:
            lines = split_lines(f.read())
    nums = []
    if os.path.exists(path):
        with open(path, "rb") as f:
            for entry in f.read().split(b"\n"):
                if not entry:
                    continue
                parts = entry.split(b"\t", 2)
                if len(parts) != 3 or not parts[1].strip():
                    die("a rejects file entry is not LINE, REASON, TEXT: %r" % entry[:200])
                n = int(parts[0])
                nums.append(n)
                if lines is not None and (n > len(lines) or parts[2] != lines[n - 1]):
                    die("the rejects file entry of line %d does not hold the line's text: %r"
                        % (n, entry[:200]))
    want = orc["rejected_lines"]
    if nums != want:
        extra = sorted(set(nums) - set(want))
        missing = sorted(set(want) - set(nums))
        die("the rejects file lists %d lines, the oracle %d; listed but accepted by the oracle: "
            "%s; rejected by the oracle but not listed: %s; in order: %s" %
            (len(nums), len(want), extra[:20], missing[:20], nums == sorted(nums)))


def _read_ids(path):
    with open(path, "rb") as f:
        return [l.decode("utf-8", "surrogatepass") for l in f.read().split(b"\n") if l]


HASH_RE = re.compile(r"[0-9a-f]{32}")


def cmd_check_ids(args):
    """GOT.ids then (ORACLE.ids ORACLE.json) pairs: GOT must be the union."""
    what = _opt(args, "--what", args[0], str)
    if "--what" in args:
        i = args.index("--what")
        args = args[:i] + args[i + 2:]
    got, want, orc = _read_ids(args[0]), [], {"hashed_ids": 0}
    for ids_path, orc_path in zip(args[1::2], args[2::2]):
        want += _read_ids(ids_path)
        orc["hashed_ids"] += _load(orc_path)["hashed_ids"]
    if len(got) != len(set(got)):
        die("%s: %d ids more than once" % (what, len(got) - len(set(got))))
    gs, ws = set(got), set(want)
    missing = ws - gs
    extra = gs - ws
    hashed = [i for i in extra if HASH_RE.fullmatch(i)]
    other = sorted(extra - set(hashed))
    if missing or other or len(hashed) != orc["hashed_ids"]:
        die("%s: %d ids, want %d + %d hash ids: missing %s; unexpected %s; hash-like extra %d" %
            (what, len(got), len(ws), orc["hashed_ids"], sorted(missing)[:10], other[:10],
             len(hashed)))


def cmd_check_stats(args):
    stats, chk = _load(args[0]), _load(args[1])
    if not stats.get("ok"):
        die("stats failed: %s" % stats.get("error"))
    t, c = stats["totals"], chk["totals"]
    bad = []
    for k in ("records", "successes", "success_known", "reward_n", "steps_n", "histogram"):
        if t.get(k) != c.get(k):
            bad.append("%s: stats %s, recount %s" % (k, t.get(k), c.get(k)))
    def close(a, b):
        return (a is None and b is None) or (a is not None and b is not None and
                                             math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12))
    n = c["reward_n"]
    if not close(t.get("reward_mean"), c["reward_sum"] / n if n else None):
        bad.append("reward_mean: stats %s, recount %s" % (t.get("reward_mean"),
                                                          c["reward_sum"] / n if n else None))
    for k in ("reward_min", "reward_max"):
        if not close(t.get(k), c.get(k)):
            bad.append("%s: stats %s, recount %s" % (k, t.get(k), c.get(k)))
    sn = c["steps_n"]
    if not close(t.get("steps_mean"), c["steps_sum"] / sn if sn else None):
        bad.append("steps_mean: stats %s, recount %s" % (t.get("steps_mean"),
                                                         c["steps_sum"] / sn if sn else None))
    if bad:
        die("stats differ from the offline recount: " + "; ".join(bad))


def cmd_json(args):
    print(eval(args[1], {"d": _load(args[0])}))


def cmd_rand(args):
    seed = os.environ.get("E2E_SEED")
    r = random.Random((seed or "") + ":" + ":".join(args)) if seed else random.Random()
    print("%.3f" % r.uniform(float(args[0]), float(args[1])))


COMMANDS = {
    "oracle": cmd_oracle, "mkdump": cmd_mkdump, "status": cmd_status,
    "wait-ready": cmd_wait_ready, "wait-job": cmd_wait_job, "wait-gone": cmd_wait_gone,
    "api": cmd_api, "ids": cmd_ids, "check-report": cmd_check_report,
    "check-rejects": cmd_check_rejects, "check-ids": cmd_check_ids,
    "check-stats": cmd_check_stats, "json": cmd_json, "rand": cmd_rand,
    "check-get": cmd_check_get, "mkrace": cmd_mkrace, "check-sample": cmd_check_sample,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.stderr.write(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](sys.argv[2:])
