#!/usr/bin/python3
"""http_bench.py BUILD_DIR [--records N] [--reps R]: the HTTP gateway's figures.

1. Server time for a page of 100 summaries: a stack holding N generated
   records (default 100,000); GET /v1/records?limit=100 with several filters
   and sorts over one keep-alive connection, p50 / p99 of R requests each
   (default 300), next to the same request over ZeroMQ straight to the api
   (what the gateway adds is the difference). Target: <= 20 ms.
2. Time to first render of a 2 MB trajectory in headless Chromium: a fresh
   document each time (about:blank, then the page), from navigation start
   to the first steps in the document and to all of them; median of 5.

Run by bench/run.sh (section "http") or alone. Prints a table in Markdown.
"""
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import http_lib as L  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    args = sys.argv[1:]
    build = os.path.abspath(args[0])
    n = int(args[args.index("--records") + 1]) if "--records" in args else 100000
    reps = int(args[args.index("--reps") + 1]) if "--reps" in args else 300
    st = L.Stack(build, prefix="ts-hb")
    tmp = tempfile.mkdtemp(prefix="ts-hb-t.")
    try:
        gen = os.path.join(tmp, "gen.jsonl")
        subprocess.run([os.path.join(build, "tools", "trajstore-gen"), "--records", str(n), "--seed", "3",
                        "--out", gen], check=True)
        st.import_file(gen)
        os.unlink(gen)
        fx = os.path.join(tmp, "fx.jsonl")
        L.write_jsonl(fx, [r for r in L.fixture_records() if r["id"] == "big-2mb"])
        st.import_file(fx)
        size = len(st.zmq("get", id="big-2mb")["record"]["trajectory"])
        groups = st.zmq("groups", limit=1)["groups"]
        model = sorted(st.zmq("stats")["models"])[0]
        cases = [("newest 100", {"limit": 100}, {"limit": 100}),
                 ("reward 0.2..0.3 by reward", {"reward": "0.2:0.3", "sort": "reward", "limit": 100},
                  {"reward": [0.2, 0.3], "sort": "reward", "limit": 100}),
                 ("one model, successes", {"model": model, "success": "true", "limit": 100},
                  {"model": model, "success": True, "limit": 100}),
                 ("one group", {"group": groups[0]["group"], "limit": 100}, {"group": groups[0]["group"], "limit": 100})]
        print(f"\n### HTTP gateway: a page of 100 summaries, {n:,} records "
              f"(p50 / p99 ms of {reps}, load {os.getloadavg()[0]:.1f})\n")
        print("| listing | HTTP (gateway + api) | ZeroMQ (api alone) | gateway adds (p50) |")
        print("|---|---|---|---|")
        conn = http.client.HTTPConnection(st.host, st.port, timeout=60)
        for name, hq, zq in cases:
            path = "/v1/records?" + "&".join(f"{k}={v}" for k, v in hq.items())
            th, tz = [], []
            for i in range(reps + 10):
                t0 = time.perf_counter()
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                t1 = time.perf_counter()
                st.zmq("list", **zq)
                t2 = time.perf_counter()
                if r.status != 200:
                    raise RuntimeError(f"{path}: {r.status} {body[:200]}")
                if i >= 10:                          # the first ones warm the caches
                    th.append((t1 - t0) * 1000)
                    tz.append((t2 - t1) * 1000)
            print(f"| {name} | {statistics.median(th):.2f} / {pct(th, 99):.2f} | "
                  f"{statistics.median(tz):.2f} / {pct(tz, 99):.2f} | {statistics.median(th) - statistics.median(tz):.2f} |")
        conn.close()

        if not L.chromium_binary():
            print("\n(no chromium: the render figure is skipped)")
            return
        b = L.Browser()
        try:
            first, full = [], []
            for _ in range(5):
                b.navigate("about:blank")
                b.wait("location.href === 'about:blank'")
                b.navigate(st.url + "#/trajectory/big-2mb")
                b.wait("window.tsFullRenderMs !== undefined", timeout=120)
                f, a = b.eval("[window.tsFirstRenderMs, window.tsFullRenderMs]")
                first.append(f)
                full.append(a)
            print(f"\n### A 2 MB trajectory ({size} steps) in headless Chromium, ms from navigation start "
                  f"(median of 5; each run: {', '.join(f'{x:.0f}' for x in first)})\n")
            print("| first steps drawn | all steps drawn |")
            print("|---|---|")
            print(f"| {statistics.median(first):.0f} | {statistics.median(full):.0f} |")
        finally:
            b.close()
    finally:
        st.down()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
