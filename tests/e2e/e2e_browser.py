#!/usr/bin/python3
"""e2e_browser.py BUILD_DIR: the viewer's pages in headless Chromium.

A stack holding a generated dump and the fixture of http_lib.py (strings
shaped like XSS in every field, the three step shapes, a 2 MB trajectory);
Debian's chromium driven over the DevTools protocol. For each page: it
loads with no console error, no uncaught exception and no failed load or
CSP violation; what it shows is checked against the api's ZeroMQ answers;
a screenshot goes to BUILD/screenshots/PAGE.png. Exits 77 (skipped) when
no chromium is installed.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_lib as L  # noqa: E402

BUILD = os.path.abspath(sys.argv[1])
SHOTS = os.path.join(BUILD, "screenshots")
ok = L.Checks()


def main():
    if not L.chromium_binary():
        print("e2e_browser: no chromium (apt-get install chromium): skipped")
        sys.exit(77)
    os.makedirs(SHOTS, exist_ok=True)
    st = L.Stack(BUILD, prefix="ts-br")
    tmp = tempfile.mkdtemp(prefix="ts-br-t.")
    b = None
    try:
        b = L.Browser()
        run(st, b, tmp)
    finally:
        if b:
            b.close()
        st.finish(ok, tmp)
    print(f"e2e_browser: {ok.n} checks, {len(ok.failures)} failed; screenshots in {SHOTS}")
    sys.exit(1 if ok.failures else 0)


def page(b, url, name, shot=None):
    """Opens a page, waits until it is drawn, checks the console stayed clean."""
    b.errors.clear()
    try:
        b.open(url, name)
    except TimeoutError:
        ok(False, f"{url}: not drawn; the page says: {b.eval('document.body.innerText.slice(0, 500)')!r}")
    if shot:
        b.screenshot(os.path.join(SHOTS, shot + ".png"))
    ok(not b.errors, f"{url}: console errors {b.errors}")
    box = b.eval("(document.querySelector('.error') || {}).textContent")
    ok(box is None, f"{url}: an error box: {box}")


def texts(b, selector):
    return b.eval(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)")


def run(st, b, tmp):
    gen = os.path.join(tmp, "gen.jsonl")
    subprocess.run([os.path.join(BUILD, "tools", "trajstore-gen"), "--records", "400", "--seed", "5",
                    "--out", gen], check=True)
    fx = os.path.join(tmp, "fx.jsonl")
    recs = L.fixture_records()
    L.write_jsonl(fx, recs)
    st.import_file(gen)
    st.import_file(fx)
    U = st.url
    stats = st.zmq("stats")

    print("--- overview")
    page(b, U + "#/overview", "overview", "overview")
    cards = texts(b, "#totals .card-value")
    ok(cards[:2] == [f"{stats['totals']['records']:,}", f"{stats['groups']:,}"], f"overview totals {cards}, "
       f"want {stats['totals']['records']} records and {stats['groups']} groups")
    ok(cards[2] == f"{100 * stats['totals']['success_rate']:.1f}%", f"overview success rate {cards[2]}")
    ok(b.eval("document.querySelectorAll('svg.histogram rect.bar').length") == 22, "the histogram has 22 bars")
    models = texts(b, "table.models tbody tr td:first-child")
    ok(sorted(models) == sorted(stats["models"]), f"per-model rows {models}")

    print("--- groups: filter, sort, attempts")
    page(b, U + "#/groups", "groups")
    all_rows = b.eval("document.querySelectorAll('table.groups tbody tr').length")
    b.eval("document.querySelector('button[data-only=mixed]').click()")
    b.wait("location.hash.includes('only=mixed') && document.body.dataset.rendered === 'groups'")
    got = b.eval("[...document.querySelectorAll('table.groups tbody tr')].map(r => r.dataset.group)")
    want = [g["group"] for g in st.zmq("groups", only="mixed", sort="-records", limit=100)["groups"]]
    ok(got == want and len(got) != all_rows, f"mixed groups: {len(got)} rows of {all_rows}, want {len(want)}")
    ok(not b.errors, f"groups filter: console errors {b.errors}")
    b.eval("[...document.querySelectorAll('table.groups th button')].find(x => x.textContent.startsWith('pass@5')).click()")
    b.wait("location.hash.includes('sort=-pass%405') && document.body.dataset.rendered === 'groups'")
    got = b.eval("[...document.querySelectorAll('table.groups tbody tr')].map(r => r.dataset.group)")
    want = [g["group"] for g in st.zmq("groups", only="mixed", sort="-pass@5", limit=100)["groups"]]
    ok(got == want, "groups sorted by pass@5, descending, as the api sorts them")
    page(b, U + "#/groups?sort=group", "groups")
    b.eval("document.querySelector('tr[data-group=\"grp-xss<script>\"] button.group-open').click()")
    b.wait("document.querySelectorAll('table.attempt-list tbody tr').length === 3")
    b.screenshot(os.path.join(SHOTS, "groups.png"))
    ok(sorted(texts(b, "table.attempt-list a.id")) == ["xss-0", "xss-1", "xss-2"], "the XSS group's attempts")
    b.eval("document.querySelectorAll('table.attempt-list input[type=checkbox]')[0].click();"
           "document.querySelectorAll('table.attempt-list input[type=checkbox]')[2].click();"
           "document.querySelector('button.compare-btn').click()")
    b.wait("document.body.dataset.rendered === 'compare'")
    ok(len(texts(b, "table.compare th a.id")) == 2, "compare opened from the group's attempts")

    print("--- records: a filter changes the list; load more")
    page(b, U + "#/records", "records", "records")
    n_all = b.eval("document.querySelectorAll('table.records tbody tr').length")
    total = st.zmq("count")["count"]
    ok(n_all == 50 and f"{total:,} records match" in b.eval("document.getElementById('records-count').textContent"),
       f"records: {n_all} rows, {total} in all")
    b.errors.clear()
    b.eval("const f = document.getElementById('filters'); f.elements.model.value = 'plain-model';"
           "f.elements.success.value = 'true'; f.requestSubmit()")
    b.wait("location.hash.includes('model=plain-model') && document.body.dataset.rendered === 'records'")
    ids = texts(b, "table.records a.id")
    ok(ids == ["rolecontent"], f"model=plain-model&success=true: {ids}")
    ok(not b.errors, f"records filter: console errors {b.errors}")
    page(b, U + "#/records?reward_lo=0.2&reward_hi=0.6&sort=reward&limit=10", "records")
    want = [i["id"] for i in st.zmq("list", reward=[0.2, 0.6], sort="reward", limit=20)["items"]]
    b.eval("document.getElementById('more').click()")
    b.wait("document.querySelectorAll('table.records tbody tr').length === 20")
    ok(texts(b, "table.records a.id") == want, "reward 0.2..0.6 by reward, two pages of 10 (load more)")
    page(b, U + "#/records?created_from=2026-03-02&created_to=2026-03-05T23:00:00Z&sort=created", "records")
    ok(texts(b, "table.records a.id") == ["xss-1", "xss-2", "plain-steps"], f"created range: {texts(b, 'table.records a.id')}")

    print("--- trajectory: every step, tool results beside their calls, XSS as text")
    page(b, U + "#/trajectory/xss-0", "trajectory", "trajectory")
    ok(b.eval("document.querySelectorAll('#steps .step').length") == 6, "xss-0: 6 steps")
    results = texts(b, ".call-row .tool-result")
    ok(len(results) == 2 and results[0].startswith("RESULT-ONE") and results[1].startswith("RESULT-TWO"),
       f"the tool results beside their calls: {results}")
    calls = texts(b, ".call-row .call-name")
    ok(calls == ["search", "lookup"], f"tool calls: {calls}")
    body = b.eval("document.body.innerText")
    for x in (L.XSS[0], L.XSS[1], L.XSS[2], L.XSS[4]):
        ok(x in body or x.replace('"', '\\"') in body, f"the text {x!r} shows as text")
    ok(b.eval("window.tsPwned === undefined"), "no record string ran as code")
    ok(b.eval("document.querySelectorAll('img').length === 0 && document.scripts.length === 1"),
       "no element came from a record string")
    b.eval("document.querySelector('button[data-tab=raw]').click()")
    b.wait("document.getElementById('raw').textContent.includes('\"id\": \"xss-0\"')")
    ok(b.eval("location.hash.includes('tab=raw')"), "the raw tab is in the URL")
    page(b, U + "#/trajectory/xss-1", "trajectory")
    ok(b.eval("document.querySelector('#attempt-nav a.prev').getAttribute('href')") == "#/trajectory/xss-0"
       and b.eval("document.querySelector('#attempt-nav a.next').getAttribute('href')") == "#/trajectory/xss-2",
       "previous and next attempts of xss-1")
    for rid, n, last in (("plain-steps", 4, "STRING-STEP-LAST"), ("rolecontent", 4, "ROLE-CONTENT-LAST")):
        page(b, U + "#/trajectory/" + rid, "trajectory")
        steps = texts(b, "#steps .step pre.content")
        ok(len(steps) == n and steps[-1].endswith(last), f"{rid}: {len(steps)} steps, last {steps[-1:]}")
    gid = urllib.parse.quote(recs[0]["id"])
    page(b, U + "#/trajectory/" + gid + "?tab=raw", "trajectory")
    ok(b.eval("!document.getElementById('raw').hidden && document.getElementById('steps').hidden"), "?tab=raw opens on raw")

    print("--- labels on the trajectory page: add one, see it, remove it")
    page(b, U + "#/trajectory/xss-0", "trajectory")
    ok(texts(b, "#labels li") == ["no labels"], f"xss-0 starts without labels: {texts(b, '#labels li')}")
    value = L.XSS[1]
    b.errors.clear()
    b.eval("{ const f = document.getElementById('label-form'); f.elements.label.value = "
           + json.dumps("verdict=" + value) + "; f.requestSubmit() }")
    b.wait("document.querySelector('#labels li[data-key=verdict]') !== null")
    shown = texts(b, "#labels li[data-key=verdict] code")
    ok(shown == ["verdict=" + value], f"the label shows, as text: {shown}")
    got = st.zmq("labels", id="xss-0")["labels"]
    ok(got.get("verdict", {}).get("value") == value, f"the label is stored: {got}")
    ok(b.eval("document.getElementById('label-status').textContent") == "saved", "the editor says saved")
    page(b, U + "#/trajectory/xss-0?tab=messages", "trajectory", "trajectory-labels")
    ok(texts(b, "#labels li[data-key=verdict] code") == ["verdict=" + value], "the label is there on a fresh load")
    b.eval("document.querySelector('#labels li[data-key=verdict] button.remove').click()")
    b.wait("document.querySelector('#labels li[data-key=verdict]') === null")
    ok("verdict" not in st.zmq("labels", id="xss-0")["labels"], "removed through the page")
    b.eval("{ const f = document.getElementById('label-form'); f.elements.label.value = 'no equals'; f.requestSubmit() }")
    ok("key=value" in b.eval("document.getElementById('label-status').textContent"), "a bad label is refused by the form")
    ok(not b.errors and b.eval("window.tsPwned === undefined"), f"labels: console errors {b.errors}")

    print("--- search")
    page(b, U + "#/search", "search", "search")
    b.eval("{ const f = document.getElementById('search-form'); f.elements.q.value = 'RESULT-ONE'; f.requestSubmit() }")
    b.wait("location.hash.includes('q=RESULT-ONE') && document.body.dataset.rendered === 'search'")
    want = [i["id"] for i in st.zmq("search", q="RESULT-ONE", limit=50)["items"]]
    got = texts(b, "table.search a.id")
    ok(want and "xss-0" in want and got == want, f"search RESULT-ONE: shown {got}, the api {want}")
    ok(all(s for s in texts(b, "table.search .snippet")), "each hit has a snippet")
    # a generated record with tool calls, for the README
    sample = next(json.loads(line)["id"] for line in open(gen, encoding="utf-8")
                  if '"tool_calls"' in line and 8 <= len(json.loads(line)["trajectory"]) <= 12)
    page(b, U + "#/trajectory/" + urllib.parse.quote(sample), "trajectory", "trajectory-sample")

    print("--- a 2 MB trajectory")
    big = st.zmq("get", id="big-2mb")["summary"]
    page(b, U + "#/trajectory/big-2mb", "trajectory")
    n = b.eval("document.querySelectorAll('#steps .step').length")
    ok(n == big["steps"], f"big-2mb: {n} steps drawn, {big['steps']} in the record")
    last_result = b.eval("[...document.querySelectorAll('.call-row .tool-result')].pop().textContent")
    ok(last_result.startswith(f"output {big['steps'] - 1 if big['steps'] % 2 == 0 else big['steps'] - 2}"),
       f"the last tool result: {last_result[:40]!r}")
    t0, first, full = b.eval("[window.tsRenderStartMs, window.tsFirstRenderMs, window.tsFullRenderMs]")
    print(f"  first steps drawn {first - t0:.0f} ms after the page was asked for, all {big['steps']} at "
          f"{full - t0:.0f} ms (not asserted: bench/http_bench.py measures it)")
    b.eval("window.scrollTo(0, 0)")
    b.screenshot(os.path.join(SHOTS, "trajectory-2mb.png"))

    print("--- compare")
    page(b, U + "#/compare?a=xss-0&b=xss-2", "compare", "compare")
    ok(texts(b, "table.compare th a.id") == ["xss-0", "xss-2"], "both sides")
    ok(b.eval("document.querySelectorAll('table.compare tbody tr').length") == 6
       and b.eval("document.querySelectorAll('table.compare tbody tr.differ').length") == 1,
       "6 aligned steps, 1 differs")
    marks = texts(b, "table.compare mark")
    ok(len(marks) == 2 and "Bern" in marks[0] and "Zurich" in marks[1], f"the differences highlighted: {marks}")
    page(b, U + "#/compare?group=" + urllib.parse.quote("grp-plain"), "compare")
    ok(len(b.eval("[...document.querySelectorAll('ul.pick li')]")) == 2, "compare: pick from a group's attempts")
    b.eval("document.querySelectorAll('ul.pick li')[0].querySelector('button').click();"
           "document.querySelectorAll('ul.pick li')[1].querySelectorAll('button')[1].click();"
           "document.getElementById('compare-form').requestSubmit()")
    b.wait("document.body.dataset.rendered === 'compare' && document.querySelectorAll('table.compare tbody tr').length === 4")
    ok(not b.errors, f"compare by picking: console errors {b.errors}")
    ok(b.eval("window.tsPwned === undefined"), "no record string ran as code, on any page")

    print("--- a gateway with a token: the viewer asks for it once")
    gdata = os.path.join(tmp, "g-token")
    os.mkdir(gdata)
    tok = os.path.join(tmp, "token")
    with open(tok, "w") as f:
        f.write("viewer-token-7\n")
    g = subprocess.Popen([os.path.join(BUILD, "http", "trajstore-http"), "--data", gdata, "--api", st.api_ep,
                          "--http", "127.0.0.1:0", "--token-file", tok], stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if os.path.exists(os.path.join(gdata, "http.addr")):
                break
            time.sleep(0.01)
        url = open(os.path.join(gdata, "http.addr")).read().strip()
        b.navigate("about:blank")
        b.wait("location.href === 'about:blank'")
        b.navigate(url + "#/overview")
        b.wait("document.querySelector('form.token input[name=token]') !== null")
        ok(b.eval("document.querySelector('.error').textContent").startswith("UNAUTHORIZED"), "401: the token form")
        b.eval("const f = document.querySelector('form.token'); f.elements.token.value = 'viewer-token-7'; f.requestSubmit()")
        b.wait("document.body.dataset.rendered === 'overview' && document.querySelectorAll('#totals .card').length > 0")
        ok(texts(b, "#totals .card-value")[0] == f"{stats['totals']['records']:,}", "with the token: the overview")
        ok(b.eval("sessionStorage.getItem('trajstore-token')") == "viewer-token-7" and "token" not in b.eval("location.href"),
           "the token is kept in the session, not in the URL")
        b.eval("sessionStorage.clear()")
    finally:
        g.terminate()
        g.wait(10)

    print("--- an unknown record: a clean error")
    b.navigate(U + "#/overview")
    b.wait("document.body.dataset.rendered === 'overview'")
    b.open(U + "#/trajectory/no-such-id", "trajectory")
    ok("NOT_FOUND" in b.eval("document.querySelector('.error').textContent"), "an unknown id says NOT_FOUND")


if __name__ == "__main__":
    main()
