#!/usr/bin/python3
"""e2e_search.py BUILD_DIR [SCENARIO...]: full-text search end to end (issue #15),
on the real stack (`trajstore up`) in a temporary data directory.

The fixture is written here: agent trajectories whose steps (messages, tool
calls with names and JSON arguments, tool results) mix ASCII words, accented
Latin, Greek and Cyrillic, Chinese, Japanese and Korean text, and code
identifiers (ModuleNotFoundError, os.path.join, get_user_name, HTTPServer).
An oracle here tokenizes every step from the rules of docs/SEARCH.md with
Python's own unicodedata (case folding and accents: casefold, NFD, marks
dropped) and answers each query; `trajstore search` must give exactly those
records (every hit, no miss), newest first, each with the step of its first
hit and a snippet that holds the hit.

Scenarios (default: all, in this order, on one stack):
  oracle    import the fixture (a part with --no-text-index: never found),
            run every query through the CLI and the protocol against the
            oracle, with filters (model, success, run, reward, group) and
            --order relevance (the same set); pages of 7 through "after"
            (and the CLI's --after) equal one page; bad queries and a
            cursor of another search get errors naming the field
  kill      kill -9 of a worker during an import of 20k records: the import
            finishes exact, `check` finds the postings consistent with the
            records and every imported record text-indexed
Run with Debian's /usr/bin/python3 (python3-zmq, python3-msgpack).
"""
import json
import os
import random
import subprocess
import sys
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_lib  # noqa: E402
import e2e_runs  # noqa: E402  (its stack and messages)

fail, step = e2e_runs.fail, e2e_runs.step

SEED = int(os.environ.get("E2E_SEED", "15"))
N_INDEXED = 500
N_PLAIN = 60           # imported with --no-text-index
TOKEN_MAX = 64


# --- the oracle's tokenizer (docs/SEARCH.md) ------------------------------------------

def _cjk(cp):
    return (0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0x3400 <= cp <= 0x4DBF
            or 0x4E00 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF
            or 0x3130 <= cp <= 0x318F or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3FFFF)


def _sep_above(cp):
    return (0x2000 <= cp <= 0x2BFF or 0x2E00 <= cp <= 0x2E7F or 0x3000 <= cp <= 0x303F
            or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFF0F or 0xFF1A <= cp <= 0xFF20
            or 0xFF3B <= cp <= 0xFF40 or 0xFF5B <= cp <= 0xFF65 or 0xFFF0 <= cp <= 0xFFFF
            or 0xE000 <= cp <= 0xF8FF or 0x1F000 <= cp <= 0x1FAFF)


def kind(ch):
    """'conn', 'mark', 'word', 'cjk' or 'sep'."""
    cp = ord(ch)
    if ch in "_.":
        return "conn"
    if cp < 0x530:
        cat = unicodedata.category(ch)
        if cat[0] == "M" or unicodedata.combining(ch):
            return "mark"
        return "word" if cat[0] in "LN" else "sep"
    if _cjk(cp):
        return "cjk"
    return "sep" if _sep_above(cp) else "word"


def fold(ch):
    if ord(ch) >= 0x530:
        return ch
    s = unicodedata.normalize("NFD", ch.casefold())
    return "".join(x for x in s if not unicodedata.combining(x))


def _upper(ch):
    return ord(ch) < 0x530 and unicodedata.category(ch) in ("Lu", "Lt")


def _lower(ch):
    return kind(ch) == "word" and not _upper(ch) and unicodedata.category(ch)[0] != "N"


def tokens(text, pos=0):
    """[(token, position, is_part)] and the next position."""
    out = []
    i, n = 0, len(text)
    while i < n:
        k = kind(text[i])
        if k == "cjk":
            j = i
            while j < n and kind(text[j]) == "cjk":
                j += 1
            run = text[i:j]
            if len(run) == 1:
                out.append((run, pos, False))
                pos += 1
            else:
                for a in range(len(run) - 1):
                    out.append((run[a:a + 2], pos, False))
                    pos += 1
            i = j
            continue
        if k != "word":
            i += 1
            continue
        # a word: word characters and marks, connectors between two of them
        j = i
        while j < n:
            kj = kind(text[j])
            if kj in ("word", "mark"):
                j += 1
            elif kj == "conn" and j + 1 < n and kind(text[j + 1]) == "word":
                j += 1
            else:
                break
        word = text[i:j]
        i = j
        # parts: at connectors, then camelCase (a lower/digit before an upper,
        # or an upper before an upper followed by a lower)
        parts = []
        for seg in word.replace(".", "_").split("_"):
            if not seg:
                continue
            cur = ""
            chars = [c for c in seg]
            for x, c in enumerate(chars):
                if cur and _upper(c):
                    prev = [p for p in cur if kind(p) != "mark"]
                    prev = prev[-1] if prev else None
                    nxt = [q for q in chars[x + 1:] if kind(q) != "mark"]
                    nxt = nxt[0] if nxt else None
                    if prev is not None and (not _upper(prev) or (nxt is not None and _lower(nxt))):
                        parts.append(cur)
                        cur = ""
                cur += c
            parts.append(cur)
        whole = "".join(fold(c) for c in word)
        if 0 < len(whole.encode()) <= TOKEN_MAX:
            out.append((whole, pos, False))
        if len(parts) > 1:
            for x, p in enumerate(parts):
                f = "".join(fold(c) for c in p)
                if 0 < len(f.encode()) <= TOKEN_MAX:
                    out.append((f, pos + x, True))
        pos += max(1, len(parts))
    return out, pos


def step_strings(v, is_key=False):
    """The strings of a step that are not map keys, in order."""
    if isinstance(v, str):
        if v:
            yield v
    elif isinstance(v, list):
        for x in v:
            yield from step_strings(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from step_strings(x)


def index_record(rec):
    """{token: sorted [(step, pos)]} of the record's trajectory."""
    idx = {}
    steps = rec.get("trajectory")
    if not isinstance(steps, list):
        return idx
    for s, st in enumerate(steps):
        pos = 0
        for text in step_strings(st):
            toks, pos = tokens(text, pos)
            pos += 1
            for t, p, _ in toks:
                idx.setdefault(t, set()).add((s, p))
    return {t: sorted(v) for t, v in idx.items()}


def parse_query(q):
    """Clauses: lists of (token, relative position)."""
    clauses = []
    parts = q.split('"')
    for n, seg in enumerate(parts):
        phrase = n % 2 == 1
        toks, _ = tokens(seg)
        toks = [(t, p) for t, p, part in toks if not part]
        if phrase:
            if toks:
                clauses.append([(t, p - toks[0][1]) for t, p in toks])
            continue
        cur = []
        for t, p in toks:
            cjk = all(_cjk(ord(c)) for c in t)
            if cur and cjk and cur[-1][2] and p == cur[-1][1] + 1:
                cur.append((t, p, True))
            else:
                if cur:
                    clauses.append([(x, y - cur[0][1]) for x, y, _ in cur])
                cur = [(t, p, cjk)]
        if cur:
            clauses.append([(x, y - cur[0][1]) for x, y, _ in cur])
    return clauses


def match(idx, clauses):
    """The first hit (step, pos) of a record matching every clause, or None."""
    best = None
    for cl in clauses:
        t0, r0 = cl[0]
        found = None
        for (s, p) in idx.get(cl[0][0], []):
            if p < r0:
                continue
            base = p - r0
            if all((s, base + r) in set(idx.get(t, [])) for t, r in cl[1:]):
                found = (s, p)
                break
        if found is None:
            return None
        best = found if best is None or found < best else best
    return best


# --- the fixture ---------------------------------------------------------------

WORDS = ["the", "tool", "returned", "error", "timeout", "retry", "answer", "file", "search",
         "connection", "refused", "price", "order", "cancel", "weather", "shipping", "alpha",
         "zebra", "quokka"]
ACCENTED = ["Café", "CRÈME", "brûlée", "naïve", "Zürich", "smörgåsbord", "ÉTÉ", "São",
            "Ελλάδα", "ΣΟΦΊΑ", "σοφία", "Москва", "Ёлка", "привет", "Straße"]
CJK = ["北京大学", "東京タワー", "한국어", "中文测试", "データベース", "日本語のテキスト"]
IDENT = ["ModuleNotFoundError", "os.path.join", "get_user_name", "HTTPServer", "parseJSON",
         "snake_case_name", "numpy.linalg.norm", "KeyError", "self.cache_size"]
MODELS = ["gpt-4o", "claude-3-5-sonnet", "qwen2.5-72b"]


def sentence(rnd, rare=False):
    pool = WORDS + ACCENTED + CJK + IDENT
    n = rnd.randint(3, 12)
    out = []
    for _ in range(n):
        w = rnd.choice(pool)
        out.append(w)
    if rare:
        out.append("xylophone%d" % rnd.randint(0, 3))
    sep = rnd.choice([" ", ", ", "; ", " - ", "\n", "：", " "])
    return sep.join(out) + rnd.choice([".", "!", "?", ""])


def make_record(rnd, i, created):
    steps = [{"role": "system", "content": "You are a helpful agent."},
             {"role": "user", "content": sentence(rnd, rnd.random() < 0.05)}]
    for _ in range(rnd.randint(1, 4)):
        if rnd.random() < 0.5:
            name = rnd.choice(["search_web", "get_user_name", "read_file", "run_python"])
            args = json.dumps({"query": sentence(rnd), "path": "/tmp/%s.py" % rnd.choice(IDENT)},
                              ensure_ascii=rnd.random() < 0.3)
            steps.append({"role": "assistant", "content": None,
                          "tool_calls": [{"id": "call_%d" % rnd.randint(0, 99), "type": "function",
                                          "function": {"name": name, "arguments": args}}]})
            steps.append({"role": "tool", "name": name, "content": sentence(rnd)})
        else:
            steps.append({"role": "assistant", "content": sentence(rnd)})
    return {"id": "rec-%04d" % i, "data_id": "q-%03d" % (i % 40), "model": rnd.choice(MODELS),
            "reward": rnd.choice([0.0, 0.5, 1.0]), "is_success": rnd.random() < 0.5,
            "created_at": created, "trajectory": steps}


def make_fixture(work):
    rnd = random.Random(SEED)
    recs = [make_record(rnd, i, 1767225600000 + 1000 * rnd.randint(0, 10 ** 6))
            for i in range(N_INDEXED + N_PLAIN)]
    a = os.path.join(work, "indexed.jsonl")
    b = os.path.join(work, "plain.jsonl")
    with open(a, "w") as f:
        for r in recs[:N_INDEXED]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(b, "w") as f:
        for r in recs[N_INDEXED:]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return recs, a, b


# --- the stack -----------------------------------------------------------------

class Stack(e2e_runs.Stack):
    def search(self, q, *args):
        p = self.run("search", "--data", self.data, "--json", "--limit", "10000", q, *args)
        return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]

    def call(self, msg):
        """An api request whose error replies are returned, not failed on."""
        return e2e_lib.api_retry(self.data, dict(msg, v=1))


QUERIES = [
    # ASCII: common, rare, several words, a phrase
    "error", "quokka", "xylophone2", "error timeout", "zebra quokka alpha",
    '"connection refused"', '"the tool returned"', "ERROR",
    # accented Latin, Greek, Cyrillic, folded either way
    "café", "CAFE", "creme brulee", "zurich", "SMÖRGÅSBORD", "ete", "sao",
    "ελλαδα", "ΕΛΛΆΔΑ", "σοφια", "москва", "елка", "strasse",
    # CJK: words, a single bigram, a run across the fixture's words
    "北京大学", "北京", "東京タワー", "한국어", "测试", "データ", "日本語",
    # identifiers whole and by their parts, and a phrase of parts
    "ModuleNotFoundError", "found", "os.path.join", "path", "get_user_name", "user",
    "HTTPServer", "http", "server", "parseJSON", "json", "numpy.linalg.norm", "linalg",
    "self.cache_size", "cache", '"module not found error"', '"get user name"',
    # mixed
    "error 北京大学 café", "KeyError zurich",
]


def expect(recs, clauses, pred=lambda r: True):
    """[(created, id, first hit)] of the indexed records matching, newest first."""
    out = []
    for r in recs[:N_INDEXED]:
        if not pred(r):
            continue
        hit = match(r["_idx"], clauses)
        if hit is not None:
            out.append((r["created_at"], r["id"], hit))
    out.sort(key=lambda x: (x[0], x[1]), reverse=True)
    return out


def check_hits(st, what, got, want, recs_by_id):
    got_ids = [h["id"] for h in got]
    want_ids = [w[1] for w in want]
    if got_ids != want_ids:
        missing = sorted(set(want_ids) - set(got_ids))[:5]
        extra = sorted(set(got_ids) - set(want_ids))[:5]
        fail("%s: %d hits, the oracle %d (missing %s, extra %s, or another order)"
             % (what, len(got_ids), len(want_ids), missing, extra))
    for h, w in zip(got, want):
        if h["step"] != w[2][0]:
            fail("%s: %s: first hit in step %s, the oracle says step %d"
                 % (what, h["id"], h["step"], w[2][0]))
        if not h["snippet"]:
            fail("%s: %s: empty snippet" % (what, h["id"]))


def sc_oracle(st, recs, a, b, work):
    step("import: %d records indexed, %d with --no-text-index" % (N_INDEXED, N_PLAIN))
    st.run("import", "--quiet", "--data", st.data, "--run", "idx", a)
    st.run("import", "--quiet", "--data", st.data, "--run", "plain", "--no-text-index", b)
    for r in recs:
        r["_idx"] = index_record(r)
    by_id = {r["id"]: r for r in recs}
    nonempty = 0
    for q in QUERIES:
        clauses = parse_query(q)
        want = expect(recs, clauses)
        nonempty += bool(want)
        got = st.search(q)
        check_hits(st, "search %r" % q, got, want, by_id)
        # the plain run's records hold the same words but are never found
        if any(h["run"] == "plain" for h in got):
            fail("search %r found a record imported with --no-text-index" % q)
    if nonempty < len(QUERIES) - 1:
        fail("the fixture leaves %d queries without a hit" % (len(QUERIES) - nonempty))
    step("%d queries equal the oracle (CLI)" % len(QUERIES))

    # the protocol directly, with each filter, the limit and relevance order
    filters = [
        ({"model": "gpt-4o"}, lambda r: r["model"] == "gpt-4o"),
        ({"success": True}, lambda r: r["is_success"]),
        ({"reward": [0.5, None]}, lambda r: r["reward"] >= 0.5),
        ({"group": ["q-001", "q-007"]}, lambda r: r["data_id"] in ("q-001", "q-007")),
        ({"run": "idx", "success": False, "model": "qwen2.5-72b"},
         lambda r: not r["is_success"] and r["model"] == "qwen2.5-72b"),
        ({"run": "plain"}, lambda r: False),
    ]
    for q in ["error", "café", "北京大学", "found", '"connection refused"']:
        clauses = parse_query(q)
        for fields, pred in filters:
            want = expect(recs, clauses, pred)
            r = st.call(dict(fields, op="search", q=q, limit=10000))
            if not r.get("ok"):
                fail("search %r %s: %s" % (q, fields, r))
            check_hits(st, "search %r %s" % (q, fields), r["items"], want, by_id)
        want = expect(recs, clauses)
        r = st.call({"op": "search", "q": q, "limit": 3})
        if [h["id"] for h in r["items"]] != [w[1] for w in want[:3]] or r["more"] != (len(want) > 3):
            fail("search %r limit 3: %s" % (q, r))
        r = st.call({"op": "search", "q": q, "limit": 10000, "order": "relevance"})
        if sorted(h["id"] for h in r["items"]) != sorted(w[1] for w in want):
            fail("search %r by relevance: another set of records" % q)
        scores = [h["score"] for h in r["items"]]
        if scores != sorted(scores, reverse=True):
            fail("search %r by relevance: scores not descending: %s" % (q, scores[:10]))
    step("filters, limit and relevance over the protocol equal the oracle")

    # pages through "after": every hit once, in the order of one big page
    for q, fields, order in [("error", {}, "newest"), ("found", {"success": False}, "newest"),
                             ("error timeout", {}, "relevance"), ("北京大学", {}, "newest")]:
        whole = st.call(dict(fields, op="search", q=q, limit=10000, order=order))
        if whole.get("next") is not None:
            fail("search %r: a last page with a next cursor: %s" % (q, whole["next"]))
        ids, after, pages = [], None, 0
        while True:
            msg = dict(fields, op="search", q=q, limit=7, order=order)
            if after:
                msg["after"] = after
            r = st.call(msg)
            if not r.get("ok"):
                fail("search %r page %d: %s" % (q, pages, r))
            ids += [h["id"] for h in r["items"]]
            pages += 1
            after = r.get("next")
            if bool(after) != r["more"]:
                fail("search %r page %d: more %s, next %r" % (q, pages, r["more"], after))
            if not after:
                break
        if ids != [h["id"] for h in whole["items"]] or (len(ids) > 7) != (pages > 1):
            fail("search %r %s by %s in pages of 7: %d hits in %d pages, one page has %d"
                 % (q, fields, order, len(ids), pages, len(whole["items"])))
    r = st.call({"op": "search", "q": "error", "limit": 2})
    r2 = st.call({"op": "search", "q": "café", "limit": 2, "after": r["next"]})
    if r2.get("ok") or '"after"' not in r2["error"]["message"]:
        fail("a cursor of another search: %s" % r2)
    p = st.run("search", "--data", st.data, "--limit", "2", "error")
    cur = [l.split("--after ", 1)[1] for l in p.stderr.splitlines() if "--after " in l]
    p2 = st.run("search", "--data", st.data, "--json", "--limit", "2", "--after", cur[0] if cur else "",
                "error", check=False)
    got = [json.loads(l)["id"] for l in p2.stdout.splitlines() if l.strip()]
    want = [w[1] for w in expect(recs, parse_query("error"))[2:4]]
    if not cur or got != want:
        fail("search --after (CLI): %s %s, want %s" % (p.stderr, got, want))
    step("pages through \"after\" (protocol and --after) give every hit once, in order")

    # snippets hold the hit (a word search: its folded form is in the snippet's)
    for h in st.search("quokka"):
        if "quokka" not in "".join(fold(c) for c in h["snippet"]):
            fail("snippet of %s does not hold the hit: %r" % (h["id"], h["snippet"]))
    # bad requests name the field
    for msg, field in [({"op": "search"}, '"q"'), ({"op": "search", "q": "   "}, '"q"'),
                       ({"op": "search", "q": '"open'}, '"q"'),
                       ({"op": "search", "q": "x", "order": "oldest"}, '"order"'),
                       ({"op": "search", "q": "x", "sort": "id"}, '"sort"'),
                       ({"op": "search", "q": "x", "limit": 0}, '"limit"')]:
        r = st.call(msg)
        if r.get("ok") or r["error"]["code"] != "BAD_REQUEST" or field not in r["error"]["message"]:
            fail("%s: want BAD_REQUEST naming %s, got %s" % (msg, field, r))
    p = st.run("search", "--data", st.data, "--order", "sideways", "x", check=False)
    if p.returncode != 2 or "--order" not in p.stderr:
        fail("search --order sideways: exit %d, %s" % (p.returncode, p.stderr))
    step("snippets hold the hit; bad requests name their field")
    check = json.loads(st.run("check", "--json", "--data", st.data).stdout)
    indexed = sum(s.get("text_indexed", 0) for s in check["shards"])
    if check["problems"] != 0 or indexed != N_INDEXED:
        fail("check: %d problems, %d records text-indexed (want %d): %s"
             % (check["problems"], indexed, N_INDEXED, check.get("first_problem")))
    step("check: postings equal the records' text; %d records text-indexed" % indexed)


def sc_kill(st, recs, a, b, work):
    big = os.path.join(work, "big.jsonl")
    subprocess.run([st.gen, "--records", "20000", "--seed", str(SEED), "--out", big], check=True)
    step("import 20k records; kill -9 worker w1 while it commits")
    before = st.call({"op": "stats"})["totals"]["records"]
    imp = subprocess.Popen([st.ts, "import", "--quiet", "--json", "--data", st.data, "--run",
                            "big", big], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and imp.poll() is None:
        r = e2e_lib.api(st.data, {"v": 1, "op": "stats"}, 2.0)
        if r and r.get("ok") and r["totals"]["records"] > before + 3000:
            status = json.loads(st.run("status", "--json", "--data", st.data).stdout)
            pid = [x["pid"] for x in status["processes"] if x["name"] == "w1"][0]
            os.kill(pid, 9)
            killed = True
            break
        time.sleep(0.05)
    out, err = imp.communicate(timeout=600)
    if not killed:
        fail("the import ended before a worker could be killed")
    if imp.returncode != 0:
        fail("the import after kill -9 exited %d: %s %s" % (imp.returncode, out, err))
    rep = json.loads(out.splitlines()[-1])
    if rep["imported"] + rep["duplicates"] != 20000:
        fail("the import after kill -9: %s" % rep)
    e2e_lib.api_retry(st.data, {"v": 1, "op": "stats"})
    # the restarted worker takes its shards back a moment after the import
    # ends: until then check answers UNAVAILABLE (no live owner), and says so
    deadline = time.monotonic() + 60
    while True:
        p = st.run("check", "--json", "--data", st.data, check=False)
        if p.returncode == 0 or "UNAVAILABLE" not in p.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check = json.loads(p.stdout)
    indexed = sum(s.get("text_indexed", 0) for s in check["shards"])
    total = check["records"]
    if check["problems"] != 0:
        fail("check after kill -9: %s" % check.get("first_problem"))
    if indexed != total - N_PLAIN:
        fail("after kill -9: %d records, %d text-indexed (want all but the %d plain ones)"
             % (total, indexed, N_PLAIN))
    got = st.search("smörgåsbord", "--run", "big")
    if not got:
        fail("after kill -9: the imported records are not found")
    step("exact import, check clean: %d records, %d text-indexed" % (total, indexed))


SCENARIOS = [("oracle", sc_oracle), ("kill", sc_kill)]


def main():
    st, want, work = Stack.from_argv("e2e_search", SCENARIOS)
    with st.session(work, "e2e_search"):
        recs, a, b = make_fixture(work)
        st.run("up", "--workers", "2", "--data", st.data, "--no-http")
        e2e_lib.api_retry(st.data, {"v": 1, "op": "stats"})
        if "oracle" not in want and "kill" in want:
            st.run("import", "--quiet", "--data", st.data, "--run", "plain", "--no-text-index", b)
        for name, fn in SCENARIOS:
            if name in want:
                fn(st, recs, a, b, work)


if __name__ == "__main__":
    main()
