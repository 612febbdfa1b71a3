// examples/client.mjs: a trajstore-api client in Node (docs/PROTOCOL.md).
//
// Needs the npm packages of package.json (zeromq 6, @msgpack/msgpack 3):
// `npm install` in this folder. The api endpoint is $TRAJSTORE_API
// (`trajstore up` prints it: ipc://DATA/api.sock), else the default data
// directory's socket.
//
//     TRAJSTORE_API=ipc:///path/to/data/api.sock node examples/client.mjs
//
// It does what client.py does, line for line: the statistics, the groups
// with the best pass@5, the successful records of the best group, one
// record in full, a count, and a walk through every record in id order
// with a cursor; each result is one line of `what: key=value ...`.
import { Dealer } from "zeromq";
import { encode, decode } from "@msgpack/msgpack";
import { homedir } from "node:os";
import { join } from "node:path";

const TIMEOUT_MS = 15000;

function defaultEndpoint() {
  const data = process.env.TRAJSTORE_DATA
    || join(process.env.XDG_DATA_HOME || join(homedir(), ".local/share"), "trajstore");
  return `ipc://${data}/api.sock`;
}

class ApiError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

// One DEALER socket to the api; one request in flight at a time.
class Client {
  constructor(endpoint) {
    this.endpoint = endpoint;
    this.sock = new Dealer({ linger: 0, receiveTimeout: TIMEOUT_MS });
    this.sock.connect(endpoint);
    this.rid = 0;
  }

  // Sends {v: 1, op, ...fields}; resolves to the reply map, or rejects
  // with an ApiError (an error reply) or an error for no reply in time.
  async call(op, fields = {}) {
    this.rid += 1;
    await this.sock.send(encode({ v: 1, op, rid: this.rid, ...fields }));
    for (;;) {
      let frame;
      try {
        [frame] = await this.sock.receive();
      } catch (e) {
        if (e.code === "EAGAIN")
          throw new Error(`the api did not answer on ${this.endpoint} within ${TIMEOUT_MS / 1000} s`);
        throw e;
      }
      const reply = decode(frame);
      if (reply.rid !== this.rid)      // a late answer to an earlier request
        continue;
      if (!reply.ok)
        throw new ApiError(reply.error.code, reply.error.message);
      return reply;
    }
  }

  close() {
    this.sock.close();
  }
}

// A number for the output: 4 decimals, "-" for nil.
const fmt = (x) => (x === null || x === undefined ? "-" : x.toFixed(4));

async function main() {
  const api = new Client(process.env.TRAJSTORE_API || defaultEndpoint());
  try {
    // statistics of the whole store
    const stats = await api.call("stats");
    const t = stats.totals;
    console.log(`stats: records=${t.records} groups=${stats.groups} `
      + `success_rate=${fmt(t.success_rate)} reward_mean=${fmt(t.reward_mean)}`);
    if (t.records === 0) {
      console.log("the store is empty: import something first (trajstore import FILE)");
      return 0;
    }

    // the groups (tasks) most often solved within 5 tries
    const { groups } = await api.call("groups", { sort: "-pass@5", limit: 3 });
    for (const g of groups)
      console.log(`group: ${g.group} records=${g.records} successes=${g.successes} `
        + `pass@1=${fmt(g["pass@1"])} pass@5=${fmt(g["pass@5"])}`);

    // the successful records of the best group, best reward first
    const best = groups[0].group;
    let page = await api.call("list", { group: best, success: true, sort: "-reward", limit: 20 });
    console.log(`list: group=${best} success=true count=${page.count}`);
    for (const item of page.items)
      console.log(`item: ${item.id} model=${item.model} reward=${fmt(item.reward)} steps=${item.steps}`);

    // one record in full: the original object, keys in their order
    if (page.items.length > 0) {
      const { summary: s, record } = await api.call("get", { id: page.items[0].id });
      console.log(`get: id=${s.id} group=${s.group} model=${s.model} `
        + `reward=${fmt(s.reward)} keys=${Object.keys(record).join(",")}`);

      // how many records of that model have a reward of at least 0.5
      const { count } = await api.call("count", { model: s.model, reward: [0.5, null] });
      console.log(`count: model=${s.model} reward_min=0.5 count=${count}`);
    }

    // every record, in id order, a page at a time: "next" is the cursor
    let total = 0, pages = 0, cursor = null, last = null;
    for (;;) {
      page = await api.call("list", { sort: "id", limit: 1000, cursor });
      for (const item of page.items) {
        if (last !== null && Buffer.compare(Buffer.from(item.id), Buffer.from(last)) <= 0)
          throw new Error("out of order");
        last = item.id;
      }
      total += page.count;
      pages += 1;
      cursor = page.next;
      if (cursor === null || cursor === undefined)
        break;
    }
    console.log(`paged: sort=id records=${total} pages=${pages}`);
    return 0;
  } finally {
    api.close();
  }
}

main().then(
  (code) => { process.exitCode = code; },
  (e) => { console.error(`client.mjs: ${e.message}`); process.exitCode = 1; },
);
