#!/usr/bin/python3
"""e2e_http.py BUILD_DIR: the HTTP gateway (trajstore-http) end to end.

A stack (`trajstore up`, its gateway on a free port) holding a generated dump
and the fixture of http_lib.py, then:
  - every endpoint's body equals the api's ZeroMQ answer to the same request
    (without the envelope), with the filters, sorts and paging;
  - export streams every record, and the gateway's memory does not grow with
    the export's size (it holds one page);
  - errors: JSON with the protocol's codes and statuses (400, 404, 405, 413,
    414, 501, 503/504 with the api stopped), unknown and repeated parameters
    named;
  - auth: a second gateway with a token wants it (401 without, 200 with);
    a non-loopback bind without token or --no-auth is refused; a Host that
    is not local is refused when there is no token;
  - static files: no traversal, no links followed, CSP without inline code;
  - the OpenAPI description lists exactly the server's endpoints and params;
  - a scripted bad-request run (random paths, queries, headers, raw garbage)
    leaves the same process answering;
  - kill -9 of the gateway: the supervisor starts it again, status shows it.
"""
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_lib as L  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HTTP_BIN = os.path.join(BUILD, "http", "trajstore-http")
SANITIZED = "TS_SANITIZE:BOOL=ON" in open(os.path.join(BUILD, "CMakeCache.txt")).read()
ok = L.Checks()


def q(**params):
    """A query string; lists repeat their key."""
    pairs = []
    for k, v in params.items():
        for x in v if isinstance(v, list) else [v]:
            pairs.append((k, x))
    return "?" + urllib.parse.urlencode(pairs) if pairs else ""


def rss_kb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def gateway(st, data, extra, *args):
    """A gateway of our own on a free port, data directory `data`, the
    stack's api: (process, port)."""
    os.mkdir(data)
    p = subprocess.Popen([HTTP_BIN, "--data", data, "--api", st.api_ep, "--http", "127.0.0.1:0", *args],
                         stderr=subprocess.DEVNULL)
    extra.append(p)
    path = os.path.join(data, "http.addr")
    for _ in range(1000):
        if os.path.exists(path):
            return p, urllib.parse.urlsplit(open(path).read().strip()).port
        time.sleep(0.01)
    raise RuntimeError("a gateway of the test wrote no http.addr")


def main():
    st = L.Stack(BUILD)
    tmp = tempfile.mkdtemp(prefix="ts-http-t.")
    extra = []
    try:
        run(st, tmp, extra)
    finally:
        for p in extra:
            if p.poll() is None:
                p.terminate()
                p.wait(10)
        st.finish(ok, tmp, ("http", "api"))
    print(f"e2e_http: {ok.n} checks, {len(ok.failures)} failed")
    sys.exit(1 if ok.failures else 0)


def run(st, tmp, extra):
    H, P = st.host, st.port
    gen = os.path.join(tmp, "gen.jsonl")
    subprocess.run([os.path.join(BUILD, "tools", "trajstore-gen"), "--records", "3000", "--seed", "11",
                    "--out", gen], check=True)
    fx = os.path.join(tmp, "fx.jsonl")
    L.write_jsonl(fx, L.fixture_records(big_bytes=0))
    rep = st.import_file(gen)
    st.import_file(fx)
    lines = {}
    for path in (gen, fx):
        for line in open(path, encoding="utf-8"):
            if line.strip():
                lines[json.loads(line)["id"]] = json.loads(line)

    print("--- bodies equal the ZeroMQ answers")
    def same(path, op, **fields):
        s, body = L.get_json(H, P, path)
        z = st.zmq(op, **fields)
        ok(s == 200 and z["ok"], f"{path}: status {s}, zmq ok {z.get('ok')}: {str(body)[:300]}")
        ok(body == L.strip(z), f"{path}: the body differs from the api's answer:\n{str(body)[:400]}\n{str(L.strip(z))[:400]}")
        return body
    same("/v1/stats", "stats")
    same("/v1/count", "count")
    groups = same("/v1/groups" + q(sort="-pass@5", limit=20, only="mixed"), "groups", sort="-pass@5", limit=20, only="mixed")
    g = [x["group"] for x in groups["groups"]]
    same("/v1/groups" + q(sort="group", limit=7, offset=3), "groups", sort="group", limit=7, offset=3)
    models = sorted(same("/v1/stats", "stats")["models"])
    cases = [
        ({}, {}),
        ({"group": g[0]}, {"group": g[0]}),
        ({"group": g[:3]}, {"group": g[:3]}),
        ({"model": models[0], "success": "true"}, {"model": models[0], "success": True}),
        ({"success": "false", "sort": "-reward"}, {"success": False, "sort": "-reward"}),
        ({"reward": "0.2:0.9", "sort": "reward"}, {"reward": [0.2, 0.9], "sort": "reward"}),
        ({"reward": ":0.5"}, {"reward": [None, 0.5]}),
        ({"reward": "0.5:"}, {"reward": [0.5, None]}),
        ({"created": "2026-02-01..2026-03-01T12:00:00Z"}, {"created": ["2026-02-01", "2026-03-01T12:00:00Z"]}),
        ({"created": "1772323000000:"}, {"created": [1772323000000, None]}),
        ({"sort": "id", "limit": "37"}, {"sort": "id", "limit": 37}),
        ({"group": g[1], "fields": "record", "limit": "5"}, {"group": g[1], "fields": "record", "limit": 5}),
        ({"model": "no such model"}, {"model": "no such model"}),
    ]
    for hq, zq in cases:
        same("/v1/records" + q(**hq), "list", **zq)
        cq = {k: v for k, v in hq.items() if k not in ("sort", "limit", "fields")}
        zc = {k: v for k, v in zq.items() if k not in ("sort", "limit", "fields")}
        same("/v1/count" + q(**cq), "count", **zc)
    # labels (issue #15): a label import, then the label filters and endpoints
    labfile = os.path.join(tmp, "labels.jsonl")
    lab_ids = sorted(lines)[:300]
    with open(labfile, "w") as f:
        for i, rid in enumerate(lab_ids):
            f.write(json.dumps({"id": rid, "key": "verdict", "value": ["pass", "fail"][i % 2]}) + "\n")
    p = subprocess.run([st.ts, "label", "--data", st.data, "--json", "--import", labfile],
                       capture_output=True, text=True, env=st.env, timeout=300)
    ok(p.returncode == 0 and json.loads(p.stdout)["imported"] == len(lab_ids), f"label --import: {p.stdout}{p.stderr}")
    for hq, zq in [({"label": "verdict=fail"}, {"label": ["verdict=fail"]}),
                   ({"label": ["verdict", "verdict=pass"], "sort": "id"}, {"label": ["verdict", "verdict=pass"], "sort": "id"}),
                   ({"no_label": "verdict", "limit": "50"}, {"no_label": ["verdict"], "limit": 50})]:
        same("/v1/records" + q(**hq), "list", **zq)
        cq = {k: v for k, v in hq.items() if k not in ("sort", "limit")}
        zc = {k: v for k, v in zq.items() if k not in ("sort", "limit")}
        same("/v1/count" + q(**cq), "count", **zc)
    body = same("/v1/groups" + q(label="verdict=fail", sort="-records", limit="20"), "groups",
                label=["verdict=fail"], sort="-records", limit=20)
    ok(body["total"] > 0 and sum(x["records"] for x in body["groups"]) <= len(lab_ids) // 2,
       f"groups?label=verdict=fail: {str(body)[:300]}")
    same("/v1/groups" + q(no_label="verdict", only="mixed"), "groups", no_label=["verdict"], only="mixed")
    body = same("/v1/labels" + q(key="verdict", per_model="true"), "labels", key="verdict", per_model=True)
    ok(sum(r["totals"]["records"] for r in body["labels"]) == len(lab_ids), f"labels by verdict: {str(body)[:300]}")
    body = same("/v1/labels/" + urllib.parse.quote(lab_ids[1], safe=""), "labels", id=lab_ids[1])
    ok(body["labels"]["verdict"]["value"] == "fail", f"labels of {lab_ids[1]}: {body}")
    # POST /v1/labels/{id}: the op "label" (set, remove), acknowledged once committed
    def post(path, obj=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else json.dumps(obj).encode()
        s, hd, b = L.get(H, P, path, method="POST", body=data, headers={"Content-Type": ctype})
        return s, json.loads(b)
    lid = lab_ids[2]
    lpath = "/v1/labels/" + urllib.parse.quote(lid, safe="")
    s, body = post(lpath, {"set": {"verdict": "http", "note": "a \u00e9 b"}, "remove": ["nope"], "author": "carol"})
    ok(s == 200 and body.get("changed") == 2 and body.get("unchanged") == 1 and body.get("id") == lid,
       f"POST {lpath}: {s} {body}")
    s, body = L.get_json(H, P, lpath)
    ok(body["labels"]["verdict"] == {**body["labels"]["verdict"], "value": "http", "author": "carol"}
       and body["labels"]["note"]["value"] == "a \u00e9 b", f"labels after POST: {body}")
    s, body = post(lpath, {"remove": ["note"]})
    ok(s == 200 and body.get("changed") == 1, f"POST remove: {s} {body}")
    ok("note" not in L.get_json(H, P, lpath)[1]["labels"], "the removed label is gone")
    for path, obj, raw, ctype, status, code, needle in [
            ("/v1/labels/no-such-id", {"set": {"k": "v"}}, None, "application/json", 404, "NOT_FOUND", "no-such-id"),
            (lpath, {"set": ["k"]}, None, "application/json", 400, "BAD_REQUEST", '"set"'),
            (lpath, {"sett": {"k": "v"}}, None, "application/json", 400, "BAD_REQUEST", '"sett"'),
            (lpath, {}, None, "application/json", 400, "BAD_REQUEST", '"set"'),
            (lpath, None, b'{"set": {"k": "v"', "application/json", 400, "BAD_REQUEST", "JSON"),
            (lpath, None, b"[1]", "application/json", 400, "BAD_REQUEST", "body"),
            (lpath, None, b"", "application/json", 400, "BAD_REQUEST", "body"),
            (lpath, {"set": {"k": "v"}}, None, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE", "application/json"),
            (lpath, None, b'{"set": {"k": "' + b"v" * 70000 + b'"}}', "application/json", 413, "TOO_BIG", None),
            ("/v1/labels?sort=id", {"set": {"k": "v"}}, None, "application/json", 400, "BAD_REQUEST", '"sort"'),
            ("/v1/labels?reward=x", {"set": {"k": "v"}}, None, "application/json", 400, "BAD_REQUEST", "reward"),
            ("/v1/labels", {"set": {"k=1": "v"}}, None, "application/json", 400, "BAD_REQUEST", '"set"'),
            ("/v1/runs", {"set": {"k": "v"}}, None, "application/json", 405, "METHOD_NOT_ALLOWED", "POST")]:
        s, body = post(path, obj, raw, ctype)
        e = body.get("error", {})
        ok(s == status and e.get("code") == code and (needle is None or needle in e.get("message", "")),
           f"POST {path[:60]} {str(obj or raw)[:60]}: {s} {body}, want {status} {code} {needle}")
    # POST /v1/labels?FILTERS: the op "label" with "where": every match, counted
    s, body = L.get_json(H, P, "/v1/count" + q(label="verdict=fail"))
    nfail = body["count"]
    s, body = post("/v1/labels" + q(label="verdict=fail"), {"set": {"triage": "http"}, "author": "dan"})
    ok(s == 200 and body.get("matched") == nfail and body.get("changed") == nfail and "id" not in body,
       f"POST /v1/labels?label=verdict=fail: {s} {body}, want {nfail} matched")
    s, body = L.get_json(H, P, "/v1/count" + q(label="triage=http"))
    ok(body["count"] == nfail, f"after POST /v1/labels where: {body['count']} labelled, want {nfail}")
    s, body = post("/v1/labels" + q(label="verdict=fail"), {"set": {"triage": "http"}})
    ok(s == 200 and body.get("changed") == 0 and body.get("unchanged") == nfail, f"again: {s} {body}")
    for rid in ["xss-0", "plain-steps", next(iter(lines))]:
        body = same("/v1/records/" + urllib.parse.quote(rid, safe=""), "get", id=rid)
        ok(body.get("record") == lines[rid], f"get {rid}: the record is the input line")
    s, body = L.get_json(H, P, "/v1/jobs/" + rep["job"])
    ok(s == 200 and body == L.strip(st.zmq("job", job=rep["job"])), f"job: {s} {str(body)[:200]}")
    s, body = L.get_json(H, P, "/v1/health")
    z = st.zmq("health")
    ok(s == 200 and set(body) == set(L.strip(z)) and body["nshards"] == z["nshards"], f"health: {str(body)[:200]}")

    print("--- paging with the cursor")
    got, cursor, pages = [], None, 0
    while True:
        s, body = L.get_json(H, P, "/v1/records" + q(sort="id", limit=451, **({"cursor": cursor} if cursor else {})))
        ok(s == 200, f"page {pages}: {s}")
        got += [i["id"] for i in body["items"]]
        cursor, pages = body["next"], pages + 1
        if cursor is None or pages > 100:
            break
    ok(got == sorted(lines, key=lambda x: x.encode()), f"paging by 451 in id order: {len(got)} ids in {pages} pages")
    s, body = L.get_json(H, P, "/v1/records" + q(sort="-id", limit=5, cursor=cursor or "c1.00.0000000000000000"))
    ok(s == 400 and body["error"]["code"] == "BAD_REQUEST" and "cursor" in body["error"]["message"], f"a bad cursor: {s} {body}")

    print("--- export: every record, flat memory")
    # the gateway's peak resident set before its first export and after
    # exports of all 12 MB by pages of 20 records: a gateway holding the
    # whole export grows by about the export's size, one holding a page by
    # about nothing
    pid = st.pid("http")
    before = rss_kb(pid, "VmHWM")
    size = 0
    for _ in range(3):
        s, hd, data = L.get(H, P, "/v1/export" + q(page=20))
        size = len(data)
    grew = rss_kb(pid, "VmHWM") - before
    print(f"  three exports of {size / 1e6:.1f} MB by pages of 20: the gateway's peak RSS grew {grew} kB")
    if SANITIZED:
        # AddressSanitizer keeps freed memory in quarantine: RSS says nothing
        print("  (a sanitizer build: the memory bound is checked by the plain build only)")
    else:
        ok(size > 10e6 and grew * 1024 < size / 4, f"export memory: peak RSS grew {grew} kB for an export of {size} bytes")
    s, hd, data = L.get(H, P, "/v1/export")
    exported = [json.loads(x) for x in data.decode().splitlines()]
    ok(s == 200 and hd.get("content-type", "").startswith("application/x-ndjson"), f"export: {s} {hd.get('content-type')}")
    ok(sorted(r["id"] for r in exported) == sorted(lines) and all(lines[r["id"]] == r for r in exported),
       f"export: {len(exported)} records, want {len(lines)}, each its input line")
    s, hd, data = L.get(H, P, "/v1/export" + q(group=g[0], sort="id", page=3))
    want = sorted(i for i, r in lines.items() if r.get("data_id") == g[0])
    ok([json.loads(x)["id"] for x in data.decode().splitlines()] == want, "export of one group by pages of 3")

    print("--- errors")
    def err(path, status, code, needle=None, **kw):
        s, hd, data = L.get(H, P, path, **kw)
        try:
            body = json.loads(data)
        except ValueError:
            body = {}
        e = body.get("error", {})
        ok(s == status and e.get("code") == code and (needle is None or needle in e.get("message", "")),
           f"{kw.get('method', 'GET')} {path[:80]}: {s} {data[:300]!r}, want {status} {code} {needle or ''}")
        ok(hd.get("content-type", "").startswith("application/json"), f"{path[:60]}: an error is JSON")
    err("/v1/records/no-such-id", 404, "NOT_FOUND")
    err("/v1/jobs/nope", 404, "NOT_FOUND")
    err("/v1/nothing", 404, "NOT_FOUND")
    err("/v1/records?limt=3", 400, "BAD_REQUEST", '"limt"')
    err("/v1/records?limit=3&limit=4", 400, "BAD_REQUEST", "given 2 times")
    err("/v1/records?limit=0", 400, "BAD_REQUEST", "limit")
    err("/v1/records?limit=-1", 400, "BAD_REQUEST", "limit")
    err("/v1/records?limit=99999", 400, "BAD_REQUEST", "limit")
    err("/v1/records?success=maybe", 400, "BAD_REQUEST", "success")
    err("/v1/records?reward=abc", 400, "BAD_REQUEST", "reward")
    err("/v1/records?reward=0.5", 400, "BAD_REQUEST", "reward")
    err("/v1/records?created=yesterday..", 400, "BAD_REQUEST", "created")
    err("/v1/records?sort=name", 400, "BAD_REQUEST", "sort")
    err("/v1/records?fields=all", 400, "BAD_REQUEST", "fields")
    err("/v1/groups?only=some", 400, "BAD_REQUEST")
    err("/v1/stats?x=1", 400, "BAD_REQUEST", '"x"')
    err("/v1/stats", 405, "METHOD_NOT_ALLOWED", method="POST", body=b"{}")
    err("/v1/stats", 405, "METHOD_NOT_ALLOWED", method="DELETE")
    err("/v1/stats", 413, "TOO_BIG", method="GET", body=b"x" * 5000)
    err("/v1/stats?" + "a" * 70000, 414, "URI_TOO_LONG")
    err("/v1/records?" + "&".join(f"group=g{i}" for i in range(1200)), 400, "BAD_REQUEST")
    s, idx = L.get_json(H, P, "/v1")
    if idx["api"]["runs"]:
        s, body = L.get_json(H, P, "/v1/runs")
        ok(s == 200, f"/v1/runs with an api that knows runs: {s}")
    else:
        err("/v1/runs", 501, "UNKNOWN_OP")
        err("/v1/runs/compare?a=r1&b=r2", 501, "UNKNOWN_OP")
        for path in ("/v1/records", "/v1/count", "/v1/export", "/v1/stats", "/v1/groups"):
            err(path + "?run=r1", 501, "UNKNOWN_OP", "run")
    err("/v1/stats", 403, "FORBIDDEN", headers={"Host": "evil.example:80"})
    s, _, _ = L.get(H, P, "/v1/stats", headers={"Host": f"localhost:{P}"})
    ok(s == 200, f"Host localhost: {s}")

    print("--- static files: traversal, links, headers")
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd", "/.hidden.js",
                 "/static/../CMakeLists.txt", "/%2fetc%2fpasswd", "/app.js/..", "/....//etc/passwd",
                 "/nope.exe", "/app.js%00.html"):
        s, hd, data = L.get(H, P, path)
        # a NUL ends the name (libmicrohttpd decodes it): what is left may
        # name a file of the folder, nothing else
        ok((s in (400, 404) or (s == 200 and "%00" in path)) and b"root:" not in data, f"GET {path}: {s} {data[:100]!r}")
    s, hd, data = L.get(H, P, "/")
    csp = hd.get("content-security-policy", "")
    ok(s == 200 and b"<main" in data, f"GET /: {s}")
    ok("script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp and "style-src 'self'" in csp,
       f"CSP: {csp}")
    ok(hd.get("x-content-type-options") == "nosniff", "nosniff")
    static = os.path.join(SRC, "http", "static")
    for name in os.listdir(static):
        text = open(os.path.join(static, name), encoding="utf-8").read()
        if name.endswith(".html"):
            ok(not re.search(r"<script(?![^>]*\bsrc=)", text) and not re.search(r"\son\w+=", text) and "style=" not in text,
               f"{name}: no inline script, handler or style")
        if name.endswith(".js"):
            ok("innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text
               and "eval(" not in text, f"{name}: no HTML from strings")
        s, hd, data = L.get(H, P, "/" + name)
        ok(s == 200 and data == open(os.path.join(static, name), "rb").read(), f"GET /{name}: {s}")

    print("--- the OpenAPI description against the server's table")
    s, api_doc = L.get_json(H, P, "/v1/openapi.json")
    ok(s == 200 and api_doc.get("openapi", "").startswith("3."), f"openapi.json: {s}")
    doc_paths = set(api_doc["paths"])
    srv = {e["path"]: e for e in idx["endpoints"]}
    ok(doc_paths == set(srv), f"OpenAPI paths {sorted(doc_paths ^ set(srv))} are not both in the server's table")
    comp = api_doc["components"]["parameters"]
    for path, item in api_doc["paths"].items():
        if path not in srv:
            continue
        names = []
        for p in item["get"]["parameters"]:
            p = comp[p["$ref"].split("/")[-1]] if "$ref" in p else p
            if p["in"] == "query":
                names.append(p["name"])
        ok(sorted(names) == sorted(srv[path]["params"]), f"{path}: documented {sorted(names)}, served {sorted(srv[path]['params'])}")
        concrete = path.replace("{id}", "xss-0").replace("{job}", rep["job"])
        if path == "/v1/runs/compare":
            concrete += "?a=no-run&b=no-run"           # 404 from an api that knows runs
        if path == "/v1/search":
            concrete += "?q=error&limit=3"              # q is required
        s, _, _ = L.get(H, P, concrete)
        ok(s in (200, 501) or (s == 404 and "compare" in path), f"GET {concrete} (documented): {s}")

    print("--- auth: a second gateway with a token")
    tokfile = os.path.join(tmp, "token")
    with open(tokfile, "w") as f:
        f.write("s3cret-token-42\n")
    data2 = os.path.join(tmp, "g2")
    _, port2 = gateway(st, data2, extra, "--token-file", tokfile)
    s, hd, data = L.get(H, port2, "/v1/stats")
    ok(s == 401 and json.loads(data)["error"]["code"] == "UNAUTHORIZED" and "bearer" in hd.get("www-authenticate", "").lower(),
       f"no token: {s} {data[:200]!r}")
    for bad in ("Bearer wrong", "Bearer s3cret-token-4", "Bearer s3cret-token-420", "Basic czNjcmV0", "s3cret-token-42"):
        s, _, _ = L.get(H, port2, "/v1/stats", headers={"Authorization": bad})
        ok(s == 401, f"Authorization {bad!r}: {s}")
    s, _, data = L.get(H, port2, "/v1/stats", headers={"Authorization": "Bearer s3cret-token-42", "Host": "evil.example"})
    ok(s == 200, f"the right token (any Host): {s}")
    s, _, _ = L.get(H, port2, "/index.html")
    ok(s == 200, f"the viewer's files need no token: {s}")
    for args, needle in ((["--http", "0.0.0.0:0"], "not a loopback"), (["--http", "[::]:0"], "not a loopback"),
                         (["--http", "nohost:99999"], "port"), (["--http", "1.2.3.4.5:80"], "bad address"),
                         (["--token", "has space"], "token")):
        p = subprocess.run([HTTP_BIN, "--data", data2, "--api", st.api_ep, *args], capture_output=True,
                           text=True, timeout=20, env={k: v for k, v in os.environ.items() if k != "TRAJSTORE_HTTP_TOKEN"})
        ok(p.returncode == 2 and needle in p.stderr, f"trajstore-http {args}: exit {p.returncode}: {p.stderr.strip()[-200:]}")

    print("--- links in the static folder are not followed")
    sdir = os.path.join(tmp, "static")
    os.mkdir(sdir)
    os.symlink("/etc/passwd", os.path.join(sdir, "evil.js"))
    with open(os.path.join(sdir, "fine.js"), "w") as f:
        f.write("export const x = 1;\n")
    _, port3 = gateway(st, os.path.join(tmp, "g3"), extra, "--static", sdir,
                       "--allow-host", "viewer.example,other.example")
    s, _, data = L.get(H, port3, "/evil.js")
    ok(s == 404 and b"root:" not in data, f"a link to /etc/passwd: {s}")
    s, _, data = L.get(H, port3, "/fine.js")
    ok(s == 200 and b"x = 1" in data, f"a plain file: {s}")
    for host, want in (("viewer.example:8080", 200), ("other.example", 200), ("evil.example", 403),
                       ("example", 403), ("127.0.0.1:1", 200)):
        s, _, _ = L.get(H, port3, "/v1/count", headers={"Host": host})
        ok(s == want, f"--allow-host viewer.example,other.example: Host {host}: {s}, want {want}")

    print("--- concurrent first requests (czmq made its context in the first sockets' threads)")
    import threading
    crashed = 0
    for i in range(10):
        pc, pport = gateway(st, os.path.join(tmp, f"c{i}"), extra)
        got = []
        def one():
            try:
                got.append(L.get(H, pport, "/v1/count")[0])
            except OSError as e:
                got.append(str(e))
        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        crashed += pc.poll() is not None or got.count(200) != 8
        pc.terminate()
        pc.wait(10)
    ok(crashed == 0, f"8 concurrent first requests to a new gateway: {crashed} of 10 failed")

    print("--- a scripted bad-request run")
    pid = st.pid("http")
    rnd = random.Random(int(os.environ.get("E2E_SEED", "7")))
    alphabet = "abc/%?&=.:;#[]{}<>\"'\\ \t~!@$^*()+-_0123456789" + "é日\x7f"
    paths = ["/v1/records", "/v1/records/", "/v1/count", "/v1/export", "/v1/groups", "/v1/stats", "/v1/jobs/", "/", "/v1/"]
    keys = ["group", "model", "success", "reward", "created", "sort", "limit", "cursor", "fields", "only", "offset",
            "page", "run", "", "x"]
    for i in range(400):
        path = rnd.choice(paths)
        if rnd.random() < 0.3:
            path += "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 40)))
        parts = []
        for _ in range(rnd.randint(0, 5)):
            v = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 30)))
            parts.append(urllib.parse.quote(rnd.choice(keys), safe="") + ("=" + urllib.parse.quote(v, safe="%") if rnd.random() < 0.9 else ""))
        target = urllib.parse.quote(path, safe="/%?&=") + ("?" + "&".join(parts) if parts else "")
        try:
            s, hd, data = L.get(H, P, target, timeout=30)
            ok(s < 500 or s in (501, 503, 504), f"bad request {target[:120]}: {s} {data[:200]!r}")
            if s >= 400:
                ok(hd.get("content-type", "").startswith("application/json"), f"{target[:80]}: error not JSON")
        except (OSError, ValueError) as e:
            ok(False, f"bad request {target[:120]}: {e}")
    raw = [b"GARBAGE\r\n\r\n", b"GET /v1/stats HTTP/9.9\r\n\r\n", b"GET " + b"/" * 100000 + b" HTTP/1.1\r\n\r\n",
           b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-A: b\r\n" * 5000 + b"\r\n",
           b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
           b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           b"\x00\xff\xfe" * 1000, b"GET /v1/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"GET /v1/sta"]
    for blob in raw:
        with socket.create_connection((H, P), timeout=10) as c:
            try:
                c.sendall(blob)
                c.shutdown(socket.SHUT_WR)
                c.recv(65536)
            except OSError:
                pass
    ok(st.pid("http") == pid, f"the gateway's pid is still {pid}")
    s, body = L.get_json(H, P, "/v1/stats")
    ok(s == 200 and body["totals"]["records"] == len(lines), f"after the bad-request run: {s}")

    print("--- status, and supervision")
    stat = st.status()
    ok(stat["http"]["url"] == st.url and stat["http"]["listening"], f"status --json http: {stat['http']}")
    os.kill(pid, signal.SIGKILL)
    new_url = st.wait_url(timeout=20, not_this=st.url)
    u = urllib.parse.urlsplit(new_url)
    s, body = L.get_json(u.hostname, u.port, "/v1/count")
    ok(s == 200 and body["count"] == len(lines), f"the restarted gateway at {new_url}: {s}")
    procs = {p["name"]: p for p in st.status()["processes"]}
    ok(procs["http"]["restarts"] == 1 and procs["http"]["alive"] and procs["http"]["pid"] != pid,
       f"status after kill -9: {procs['http']}")

    print("--- the api stopped: 504 (no answer), as JSON")
    api_pid = st.pid("api")
    os.kill(api_pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        s, hd, data = L.get(u.hostname, u.port, "/v1/stats", timeout=60)
        ok(s == 504 and json.loads(data)["error"]["code"] == "TIMEOUT", f"a stopped api: {s} {data[:200]!r}")
        print(f"  answered {s} after {time.time() - t0:.1f} s")
    finally:
        os.kill(api_pid, signal.SIGCONT)
    s, _, _ = L.get(u.hostname, u.port, "/v1/stats")
    ok(s == 200, f"after the api resumed: {s}")


if __name__ == "__main__":
    main()
