"""http_lib.py: what the gateway's tests (e2e_http.py, e2e_browser.py) and its
benchmark (bench/http_bench.py) share: a stack in a temporary directory, the
fixture, a ZeroMQ client of the api, HTTP requests, and headless Chromium
driven over the DevTools protocol (Debian's chromium, python3-websocket).

Run with Debian's /usr/bin/python3 (python3-zmq, python3-msgpack,
python3-websocket: scripts/deps.sh).
"""
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import msgpack
import zmq


class Checks:
    """ok(cond, what): counts a check; a failed one is printed and kept."""

    def __init__(self):
        self.failures = []
        self.n = 0

    def __call__(self, cond, what):
        self.n += 1
        if not cond:
            self.failures.append(what)
            print("  FAIL:", str(what)[:1500], file=sys.stderr)
        return cond


class Stack:
    """`trajstore up` in a fresh data directory, its gateway on a free port."""

    def __init__(self, build, workers=2, prefix="ts-http"):
        self.build = build
        self.ts = os.path.join(build, "tools", "trajstore")
        # ipc socket paths are limited to 107 bytes: keep the directory short
        self.data = tempfile.mkdtemp(prefix=prefix + ".", dir="/tmp")
        env = dict(os.environ, TRAJSTORE_HTTP="127.0.0.1:0")
        env.pop("TRAJSTORE_API", None)
        self.env = env
        p = subprocess.run([self.ts, "up", "--data", self.data, "--workers", str(workers)],
                           capture_output=True, text=True, env=env, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"trajstore up: {p.stdout}{p.stderr}")
        self.url = self.wait_url()
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        self.api_ep = f"ipc://{self.data}/api.sock"
        self._sock = None
        self._rid = 0

    def wait_url(self, timeout=15, not_this=None):
        path = os.path.join(self.data, "http.addr")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                url = open(path).read().strip()
                if url and url != not_this:
                    return url
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("the gateway wrote no http.addr: " + self.log("http"))

    def log(self, name, tail=4000):
        try:
            return open(os.path.join(self.data, "logs", name + ".log"), errors="replace").read()[-tail:]
        except OSError:
            return "(no log)"

    def import_file(self, path):
        p = subprocess.run([self.ts, "import", "--data", self.data, "--json", "--quiet", path],
                           capture_output=True, text=True, env=self.env, timeout=300)
        if p.returncode != 0:
            raise RuntimeError(f"import: {p.stdout}{p.stderr}")
        return json.loads(p.stdout)

    def status(self):
        p = subprocess.run([self.ts, "status", "--data", self.data, "--json"],
                           capture_output=True, text=True, env=self.env, timeout=60)
        return json.loads(p.stdout)

    def pid(self, name):
        for pr in self.status()["processes"]:
            if pr["name"] == name:
                return pr["pid"]
        return None

    def zmq(self, op, **fields):
        """One api request over ZeroMQ; the reply map (envelope included)."""
        if self._sock is None:
            self._sock = zmq.Context.instance().socket(zmq.DEALER)
            self._sock.setsockopt(zmq.LINGER, 0)
            self._sock.connect(self.api_ep)
        self._rid += 1
        self._sock.send(msgpack.packb({"v": 1, "op": op, "rid": self._rid, **fields}))
        while True:
            if not self._sock.poll(20000):
                raise TimeoutError("the api did not answer")
            reply = msgpack.unpackb(self._sock.recv(), raw=False)
            if reply.get("rid") == self._rid:
                return reply

    def down(self):
        """Stops the stack, removes its directory; returns what a sanitizer
        wrote into the gateway's log (up to its exit: leaks included)."""
        if self._sock is not None:
            self._sock.close()
        subprocess.run([self.ts, "down", "--data", self.data], capture_output=True, timeout=120)
        log = self.log("http", 200000)
        shutil.rmtree(self.data, ignore_errors=True)
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
        return [line for line in log.splitlines() if any(m in line for m in marks)]

    def finish(self, ok, tmp, logs=("http",)):
        """The end of a gateway test: the logs named in `logs` when a check
        failed, the stack down (a sanitizer report in the gateway's log is a
        failed check), the scratch folder `tmp` removed."""
        if ok.failures:
            for name in logs:
                print(f"===== {name}.log\n{self.log(name)}", file=sys.stderr)
        reports = self.down()
        ok(not reports, f"the gateway's log has sanitizer reports: {reports[:5]}")
        shutil.rmtree(tmp, ignore_errors=True)


def strip(reply):
    """A ZeroMQ reply as the gateway shows it: without v, ok and rid."""
    return {k: v for k, v in reply.items() if k not in ("v", "ok", "rid")}


def get(host, port, path, headers=None, method="GET", body=None, timeout=30):
    """(status, headers dict lower-cased, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        c.close()


def get_json(host, port, path, **kw):
    st, hd, body = get(host, port, path, **kw)
    return st, json.loads(body)


# --- the fixture ------------------------------------------------------------------------

XSS = ['<script>window.tsPwned=1</script>', '"><img src=x onerror="window.tsPwned=2">',
       "<b onmouseover=alert(1)>bold</b>", "javascript:alert(1)", "{{constructor.constructor('window.tsPwned=3')()}}"]


def fixture_records(big_bytes=2 * 1024 * 1024):
    """Hand-made records: XSS-shaped strings everywhere a string can be, the
    three step shapes (OpenAI messages with tool calls, {role, content}
    lists, plain strings), a group whose attempts differ, and one
    trajectory of about `big_bytes` (0: none)."""
    recs = []
    tool_traj = [
        {"role": "system", "content": "You are a careful agent. " + XSS[0]},
        {"role": "user", "content": "Find the capital of " + XSS[1]},
        {"role": "assistant", "content": "I will search.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": json.dumps({"q": XSS[2]})}},
            {"id": "call_2", "type": "function", "function": {"name": "lookup", "arguments": "{\"page\": 2}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "RESULT-ONE: Bern is the capital " + XSS[1]},
        {"role": "tool", "tool_call_id": "call_2", "content": "RESULT-TWO: page 2 says " + XSS[0]},
        {"role": "assistant", "content": "The answer is Bern. " + XSS[4]},
    ]
    for k, (reward, ok) in enumerate([(1.0, True), (0.0, False), (0.5, False)]):
        t = json.loads(json.dumps(tool_traj))
        if k:
            t[5]["content"] = f"The answer is Zurich (attempt {k}). " + XSS[3]
        recs.append({"id": f"xss-{k}", "data_id": "grp-xss<script>", "model": "model-" + XSS[1],
                     "reward": reward, "is_success": ok, "created_at": f"2026-03-0{k + 1}T10:00:00Z",
                     "trajectory": t, "note": XSS[0]})
    recs.append({"id": "plain-steps", "data_id": "grp-plain", "model": "plain-model", "reward": 0.25,
                 "is_success": False, "created_at": "2026-03-05T10:00:00Z",
                 "trajectory": ["look around", "open drawer 1 " + XSS[1], "take key", "STRING-STEP-LAST"]})
    recs.append({"id": "rolecontent", "data_id": "grp-plain", "model": "plain-model", "reward": 0.75,
                 "is_success": True, "created_at": "2026-03-06T10:00:00Z",
                 "trajectory": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi " + XSS[0]},
                                {"role": "user", "content": "bye"}, {"role": "assistant", "content": "ROLE-CONTENT-LAST"}]})
    if big_bytes:
        steps, size, i = [], 0, 0
        while size < big_bytes:
            if i % 2 == 0:
                s = {"role": "assistant", "content": f"step {i}: let me run the tests. " + "x" * 300,
                     "tool_calls": [{"id": f"c{i}", "type": "function",
                                     "function": {"name": "bash", "arguments": json.dumps({"cmd": f"pytest -k t{i}"})}}]}
            else:
                s = {"role": "tool", "tool_call_id": f"c{i - 1}",
                     "content": f"output {i}\n" + ("FAILED test_thing - AssertionError: " + "y" * 80 + "\n") * 40}
            steps.append(s)
            size += len(json.dumps(s))
            i += 1
        recs.append({"id": "big-2mb", "data_id": "grp-big", "model": "swe-model", "reward": 0.0,
                     "is_success": False, "created_at": "2026-03-07T10:00:00Z", "trajectory": steps})
    return recs


def write_jsonl(path, recs):
    with open(path, "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


# --- headless Chromium over the DevTools protocol -------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--disable-default-apps", "--mute-audio",
                  "--remote-debugging-port=0", "--window-size=1280,900", "--hide-scrollbars"]


def chromium_binary():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


class Browser:
    """One headless Chromium with a fresh profile, one page, the DevTools
    protocol over its websocket. Console errors, uncaught exceptions and
    log entries of level error (failed loads, CSP violations) are collected
    in self.errors."""

    def __init__(self, binary=None):
        import websocket                          # python3-websocket
        self.profile = tempfile.mkdtemp(prefix="ts-chromium.")
        self.proc = subprocess.Popen([binary or chromium_binary(), *CHROMIUM_FLAGS,
                                      "--user-data-dir=" + self.profile, "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 30
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        port = int(open(port_file).read().split()[0])
        targets = None
        while time.time() < deadline:
            try:
                st, _, body = get("127.0.0.1", port, "/json/list")
                targets = [t for t in json.loads(body) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        self.ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=60,
                                              suppress_origin=True)
        self.next_id = 0
        self.errors = []
        self.events = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")

    def _event(self, m):
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif meth == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: " + str(d.get("exception", {}).get("description", d.get("text"))))
        elif meth == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.errors.append(f"log ({e.get('source')}): {e.get('text')} {e.get('url', '')}")
        self.events.append(meth)

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self._event(m)

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluate {expr[:80]}: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def wait(self, expr, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                v = self.eval(expr)
                if v:
                    return v
            except RuntimeError:
                pass
            time.sleep(0.05)
        raise TimeoutError("waited in vain for: " + expr)

    def open(self, url, page, timeout=30):
        """Goes to url and waits until the viewer says page `page` is drawn."""
        self.eval("document.body && (document.body.dataset.rendered = '')")
        self.navigate(url)
        return self.wait(f"document.body && document.body.dataset.rendered === {json.dumps(page)}", timeout)

    def screenshot(self, path):
        h = self.eval("Math.min(6000, Math.max(900, document.documentElement.scrollHeight))")
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=int(h), deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        self.call("Emulation.clearDeviceMetricsOverride")
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)
