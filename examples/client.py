#!/usr/bin/env python3
"""examples/client.py: a trajstore-api client in Python (docs/PROTOCOL.md).

Needs ZeroMQ and msgpack: on Debian, `apt-get install python3-zmq
python3-msgpack` and run it with /usr/bin/python3. The api endpoint is
$TRAJSTORE_API (`trajstore up` prints it: ipc://DATA/api.sock), else the
default data directory's socket.

    TRAJSTORE_API=ipc:///path/to/data/api.sock /usr/bin/python3 examples/client.py

It asks for the statistics, the groups with the best pass@5, the successful
records of the best group, one record in full, a count, and then pages
through every record in id order with a cursor. Each result is one line of
`what: key=value ...` (tests/e2e/e2e_api.sh reads them back).
"""
import os
import sys

import msgpack
import zmq

TIMEOUT_MS = 15000


class ApiError(Exception):
    """An error reply: code (BAD_REQUEST, NOT_FOUND, ...) and message."""

    def __init__(self, code, message):
        super().__init__(f"{code}: {message}")
        self.code = code


class Client:
    """One DEALER socket to the api; one request in flight at a time."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.rid = 0

    def call(self, op, **fields):
        """Sends {"v": 1, "op": op, **fields}; returns the reply map or
        raises ApiError (an error reply) or TimeoutError (no reply)."""
        self.rid += 1
        self.sock.send(msgpack.packb({"v": 1, "op": op, "rid": self.rid, **fields}))
        while True:
            if not self.sock.poll(TIMEOUT_MS):
                raise TimeoutError(f"the api did not answer on {self.endpoint} "
                                   f"within {TIMEOUT_MS // 1000} s")
            reply = msgpack.unpackb(self.sock.recv(), raw=False)
            if reply.get("rid") == self.rid:     # not a late answer to an earlier one
                break
        if not reply["ok"]:
            raise ApiError(reply["error"]["code"], reply["error"]["message"])
        return reply


def fmt(x):
    """A number for the output: 4 decimals, "-" for nil."""
    return "-" if x is None else f"{x:.4f}"


def default_endpoint():
    data = os.environ.get("TRAJSTORE_DATA") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "trajstore")
    return f"ipc://{data}/api.sock"


def main():
    api = Client(os.environ.get("TRAJSTORE_API") or default_endpoint())

    # statistics of the whole store
    stats = api.call("stats")
    t = stats["totals"]
    print(f"stats: records={t['records']} groups={stats['groups']} "
          f"success_rate={fmt(t['success_rate'])} reward_mean={fmt(t['reward_mean'])}")
    if t["records"] == 0:
        print("the store is empty: import something first (trajstore import FILE)")
        return 0

    # the groups (tasks) most often solved within 5 tries
    groups = api.call("groups", sort="-pass@5", limit=3)["groups"]
    for g in groups:
        print(f"group: {g['group']} records={g['records']} successes={g['successes']} "
              f"pass@1={fmt(g['pass@1'])} pass@5={fmt(g['pass@5'])}")

    # the successful records of the best group, best reward first
    best = groups[0]["group"]
    page = api.call("list", group=best, success=True, sort="-reward", limit=20)
    print(f"list: group={best} success=true count={page['count']}")
    for item in page["items"]:
        print(f"item: {item['id']} model={item['model']} reward={fmt(item['reward'])} "
              f"steps={item['steps']}")

    # one record in full: the original object, keys in their order
    first = page["items"][0]["id"] if page["items"] else None
    if first is not None:
        got = api.call("get", id=first)
        s, record = got["summary"], got["record"]
        print(f"get: id={s['id']} group={s['group']} model={s['model']} "
              f"reward={fmt(s['reward'])} keys={','.join(record.keys())}")

        # how many records of that model have a reward of at least 0.5
        n = api.call("count", model=s["model"], reward=[0.5, None])["count"]
        print(f"count: model={s['model']} reward_min=0.5 count={n}")

    # every record, in id order, a page at a time: "next" is the cursor
    total, pages, cursor, last = 0, 0, None, None
    while True:
        page = api.call("list", sort="id", limit=1000, cursor=cursor)
        for item in page["items"]:
            assert last is None or item["id"].encode() > last.encode(), "out of order"
            last = item["id"]
        total += page["count"]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    print(f"paged: sort=id records={total} pages={pages}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ApiError, TimeoutError) as e:
        print(f"client.py: {e}", file=sys.stderr)
        sys.exit(1)
