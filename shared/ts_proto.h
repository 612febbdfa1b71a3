/*  ts_proto.h: the messages between trajstore's processes.
 *
 *  A message is one or two ZeroMQ frames: a header (a msgpack map) and, for
 *  bulk data, a payload frame of raw bytes. Every header carries
 *  "v" (TS_PROTO_VERSION) and "t" (its type, below). A process that gets a
 *  header it cannot decode, of another version or of an unknown type,
 *  counts and drops it (a peer) or answers with an error (a client); it
 *  never stops for it. ROUTER sockets add the sender's identity frame in
 *  front, as usual.
 *
 *  Sockets (default endpoints: ipc sockets in the data directory D):
 *    aggregator ROUTER  ingest   ipc://D/ingest.sock   <- producers (DEALER)
 *    aggregator ROUTER  control  ipc://D/control.sock  <- workers (DEALER)
 *    aggregator ROUTER  query    ipc://D/query.sock    <- api, CLI (DEALER/REQ)
 *    worker     ROUTER  peer     ipc://D/worker-NAME.sock <- other workers, api
 *    api        ROUTER  api      ipc://D/api.sock      <- clients
 *
 *  Producer -> aggregator (ingest)
 *    "chunk"  job, chunk, line0, lines, bytes, src, profile, last
 *                                                           + payload: whole lines;
 *             profile: the spec with the import's run, file, ids and set
 *             items (ts_profile.h), which name records and fill constants;
 *             last: the input ends with this chunk (a hint: may be missing)
 *             [file, off, fid]: a chunk of a plain file sent over ipc:// goes
 *             as a reference, with an empty payload: the lines are `bytes`
 *             bytes at offset `off` of `file` (absolute path), whose identity
 *             (ts_file_id: device, inode, size, mtime) is `fid`. A worker
 *             that cannot read them so answers code NO_INPUT, and the
 *             producer then sends the bytes, that chunk and all after it
 *    "done"   job, chunks, lines, bytes                     (producer has sent all)
 *    "ping"                                                 (-> "pong")
 *  Aggregator -> producer
 *    "ack"    job, chunk, <counts>, rejects, warnings       chunk fully committed
 *    "nack"   job, chunk, code, msg                         chunk cannot be stored
 *                                                           (NO_INPUT: send the bytes)
 *    "pong"   inc                                           its incarnation: a new
 *                                                           one lost what was queued
 *  <counts> = lines, blank, imported, duplicates, rejected;
 *  rejects  = [[line number, reason], ...] (line numbers count from 1)
 *  warnings = [[field, reason, count, first line], ...]: records stored with
 *             a field left unknown (ts_warn.h); may be missing (none)
 *
 *  Worker -> aggregator (control)
 *    "register" worker, peer, pid, credit, shards ([held shard numbers])
 *    "hb"       worker, epoch, held, queued, [error]
 *    "credit"   n                                           ready for n chunks
 *    "chunkdone" job, chunk, <counts>, rejects, warnings, seqs ([[shard, seq]...]:
 *               the commits the ack waits for)  | job, chunk, code, msg on failure
 *    "delta"    shard, seq                      + payload: totals delta (ts_delta:
 *                                                 shard, groups, models, runs)
 *    "snap"     shard, seq                      + payload: totals (ts_delta form)
 *    "released" shard, epoch
 *    "leave"    worker                          a clean stop: its shards move now
 *    "resync"   shard                           a drop changed its totals: rebuild
 *  Aggregator -> worker
 *    "map"      epoch, inc, nshards, owners ([worker index per shard, -1: none]),
 *               workers ([[name, peer endpoint]...])
 *    "work"     job, chunk, line0, lines, bytes, src, profile, [file, off, fid,]
 *               backlog, more                           + payload (as "chunk");
 *               backlog: chunks still queued after this one; more: whether
 *               producers are still sending (no chunk marked last yet)
 *    "drained"  more                    the queue ran dry, or "more" became false
 *    "snapreq"  shard                                   send a "snap" of it
 *    "reregister" inc                 answer to the heartbeat of an unknown worker
 *
 *  Worker -> worker (peer)
 *    "batch"    job, chunk, shard, epoch, n         + payload: n bin records
 *    "batchdone" job, chunk, shard, imported, duplicates | code, msg
 *    "notowner" job, chunk, shard, epoch            resend after the next map
 *
 *  Every message above has a typed struct, encode and decode in ts_wire.h
 *  (the map: ts_shardmap.h), which says which fields are required.
 *
 *  Query side (api <-> aggregator, api <-> worker): see docs/INTERNALS.md,
 *  which lists every message with its fields; the client protocol is in
 *  docs/PROTOCOL.md.
 */
#ifndef TS_PROTO_H
#define TS_PROTO_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_PROTO_VERSION   1

/*  Every message type: the "t" of a header. ts_hdr_parse looks the name up
 *  (ts_hdrin_t.msg; TS_MSG_UNKNOWN for a name not here) so that receivers
 *  switch on the enum; ts_hdr_begin writes the name. docs/INTERNALS.md
 *  gives each one's sender, receiver and fields. */
typedef enum {
    TS_MSG_UNKNOWN = 0,
    /* producer -> aggregator (ingest) */
    TS_MSG_CHUNK, TS_MSG_DONE, TS_MSG_PING,
    /* aggregator -> producer */
    TS_MSG_ACK, TS_MSG_NACK, TS_MSG_PONG,
    /* worker -> aggregator (control) */
    TS_MSG_REGISTER, TS_MSG_HB, TS_MSG_CREDIT, TS_MSG_CHUNKDONE, TS_MSG_DELTA,
    TS_MSG_SNAP, TS_MSG_RELEASED, TS_MSG_LEAVE, TS_MSG_RESYNC,
    /* aggregator -> worker */
    TS_MSG_MAP, TS_MSG_WORK, TS_MSG_DRAINED, TS_MSG_SNAPREQ, TS_MSG_REREGISTER,
    /* worker -> worker (peer) */
    TS_MSG_BATCH, TS_MSG_BATCHDONE, TS_MSG_NOTOWNER,
    /* api -> worker (peer) reads, and their answer */
    TS_MSG_RGET, TS_MSG_RLIST, TS_MSG_RCOUNT, TS_MSG_RCHECK, TS_MSG_RRES, TS_MSG_RSEARCH,
    TS_MSG_RDROP, TS_MSG_RCOMPACT,
    /* api, CLI -> aggregator (query), answered with the same type or "error" */
    TS_MSG_STATUS, TS_MSG_STATS, TS_MSG_GROUPS, TS_MSG_JOB, TS_MSG_ERROR,
    TS_MSG_RUNS, TS_MSG_COMPARE, TS_MSG_DROPPED,
    /* api -> worker (peer): labels of a record, or totals by label */
    TS_MSG_RLABELS,
    /* the supervisor's state file (one header, no socket) */
    TS_MSG_STATE,
    TS_MSG_COUNT
} ts_msg_t;

/*  The wire name of a message type ("chunkdone"); "" for TS_MSG_UNKNOWN
 *  or a value out of range. */
const char *ts_msg_name (ts_msg_t type);

/*  The type named by `len` bytes at `name`; TS_MSG_UNKNOWN for none. */
ts_msg_t ts_msg_lookup (const char *name, size_t len);

/*  Timings. */
#define TS_HEARTBEAT_MS        200    /* worker -> aggregator */
#define TS_WORKER_DEAD_MS      3000   /* missed heartbeats: shards move */
#define TS_AGG_SILENT_MS       1500   /* worker re-registers after this */
#define TS_CHUNK_RESEND_MS     15000  /* producer resends an unacked chunk
                                         (at least; a restarted aggregator is
                                         found by pings, at once) */
#define TS_BATCH_RESEND_MS     3000   /* worker resends an unanswered batch */
#define TS_COMMIT_RECORDS      4000   /* a shard commits when this many wait */
#define TS_REGISTER_GRACE_MS   600    /* a new aggregator waits for workers */

/*  Sizes. */
#define TS_CHUNK_BYTES         (1u << 20)      /* ~1 MiB of whole lines */
#define TS_LINE_MAX_DEFAULT    (64u << 20)     /* longer lines are rejected */
#define TS_WINDOW_CHUNKS       128             /* producer chunks in flight (MiB):
                                                  bounds how large commits grow */
#define TS_WORKER_CREDIT       4               /* chunks a worker holds */
#define TS_DEFAULT_SHARDS      16
#define TS_MAX_SHARDS          1024
#define TS_REJECTS_PER_CHUNK   10000           /* reasons sent back per chunk */
#define TS_MAX_WORKERS         256             /* slots of the map's "workers"
                                                  array, and of every table
                                                  indexed by them */
#define TS_JOB_MAX             64              /* bytes of a job id, NUL included */

#ifdef __cplusplus
}
#endif
#endif
