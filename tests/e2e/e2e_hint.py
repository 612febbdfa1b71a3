#!/usr/bin/python3
"""e2e_hint.py BUILD: the aggregator tells workers whether producers are
still sending ("more" in "work" and "drained"), the hint that spaces out
their commits during an import and lets them commit at once after it.

A real trajstore-aggregator; a fake worker and a fake producer speak the
wire protocol (shared/ts_proto.h) to it over ipc:
  - chunks not marked last go out with more = true;
  - the chunk marked last goes out with more = false, and the queue running
    dry then says "drained" with more = false;
  - a job that stops sending without a last chunk (a producer gone) counts
    as sending for about 2 s, then "drained" says more = false;
  - a chunk that arrives before the aggregator has assigned shards reaches
    a worker only after that worker's map.
Exit 0 when all hold, 1 with the reason otherwise.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import msgpack
import zmq

V = 1  # TS_PROTO_VERSION


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def hdr(t, **fields):
    m = {"v": V, "t": t}
    m.update(fields)
    return msgpack.packb(m)


def main():
    build = sys.argv[1]
    agg_bin = os.path.join(build, "aggregator", "trajstore-aggregator")
    d = tempfile.mkdtemp(prefix="ts-hint-")
    agg = subprocess.Popen([agg_bin, "--data", d, "--shards", "2", "--log-level", "debug"],
                           stdout=open(os.path.join(d, "agg.log"), "w"), stderr=subprocess.STDOUT)
    ctx = zmq.Context()
    worker = ctx.socket(zmq.DEALER)
    producer = ctx.socket(zmq.DEALER)
    for s in (worker, producer):
        s.setsockopt(zmq.LINGER, 0)
    try:
        worker.connect("ipc://%s/control.sock" % d)
        producer.connect("ipc://%s/ingest.sock" % d)

        def recv_worker(want, timeout):
            """The next message of type `want` the fake worker gets: (header, frames)."""
            until = time.time() + timeout
            while time.time() < until:
                if agg.poll() is not None:
                    fail("the aggregator exited with %s" % agg.returncode)
                if not worker.poll(100):
                    continue
                frames = worker.recv_multipart()
                h = msgpack.unpackb(frames[0], raw=False, strict_map_key=False)
                if h.get("t") == want:
                    return h, frames[1:]
                if h.get("t") == "work":
                    fail("unexpected work: %r" % h)
            return None, None

        def chunk(job, n, last):
            payload = b'{"id":"%s-%d"}\n' % (job.encode(), n)
            f = dict(job=job, chunk=n, line0=n + 1, lines=1, bytes=len(payload),
                     src="hint", profile="default")
            if last is not None:
                f["last"] = last
            producer.send_multipart([hdr("chunk", **f), payload])

        # register (again until the aggregator is up and answers with a map);
        # a chunk sent at once lands in the aggregator's first 600 ms, while
        # it waits for workers before it assigns shards: it must not reach a
        # worker before that worker's map (recv_worker fails on "work" while
        # it waits for the map), or the worker could not route it
        worker.send(hdr("register", worker="fw", peer="ipc://%s/fw.sock" % d,
                        pid=os.getpid(), credit=8, shards=[]))
        chunk("z", 0, True)
        for _ in range(100):
            h, _ = recv_worker("map", 0.2)
            if h:
                break
            worker.send(hdr("register", worker="fw", peer="ipc://%s/fw.sock" % d,
                            pid=os.getpid(), credit=8, shards=[]))
        else:
            fail("the aggregator never sent a map")
        h, frames = recv_worker("work", 5)
        if not h or h.get("job") != "z":
            fail("the chunk sent before the map never came after it: %r" % (h,))

        def drained_false(timeout):
            """Waits for a "drained" saying more = false (skipping those that
            say producers still send); returns it or None."""
            until = time.time() + timeout
            while time.time() < until:
                h, _ = recv_worker("drained", until - time.time())
                if h and h.get("more") is False:
                    return h
                if h and h.get("more") is not True:
                    fail("drained with more = %r" % h.get("more"))
            return None

        def expect_work(job, n, more):
            h, frames = recv_worker("work", 5)
            if not h:
                fail("no work for %s chunk %d" % (job, n))
            if h.get("job") != job or h.get("chunk") != n:
                fail("work for %r chunk %r, expected %s %d" % (h.get("job"), h.get("chunk"), job, n))
            if h.get("more") is not more:
                fail("%s chunk %d: more = %r, expected %r" % (job, n, h.get("more"), more))
            if not frames or not frames[0].startswith(b'{"id"'):
                fail("work without its payload")

        # job a: two chunks, the second marked last
        chunk("a", 0, False)
        expect_work("a", 0, True)
        chunk("a", 1, True)
        expect_work("a", 1, False)
        t0 = time.time()
        if not drained_false(5):
            fail("no drained with more = false after the last chunk")
        if time.time() - t0 > 1.0:
            fail("drained with more = false came %.2f s after the last chunk" % (time.time() - t0))

        # job b: a producer that goes away without a last chunk (an old
        # producer says nothing about it: counted as still sending)
        t0 = time.time()
        chunk("b", 0, None)
        expect_work("b", 0, True)
        h = drained_false(6)
        waited = time.time() - t0
        if not h:
            fail("a silent job still counts as sending after 6 s")
        if waited < 1.5:
            fail("a silent job stopped counting as sending after %.2f s (expected ~2 s)" % waited)
        print("ok: more = true while sending, false after the last chunk, and %.1f s "
              "after a producer went silent" % waited)
    finally:
        worker.close(0)
        producer.close(0)
        ctx.term()
        agg.send_signal(signal.SIGTERM)
        try:
            agg.wait(10)
        except subprocess.TimeoutExpired:
            agg.kill()
        if os.environ.get("TS_TEST_VERBOSE"):
            print(open(os.path.join(d, "agg.log")).read())
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
