/*  ts_wire.h: the internal messages as typed structs, in the manner of
 *  zproto: one struct, one encode and one decode per message.
 *
 *  A sender fills the struct and calls ts_wire_X_encode, which writes the
 *  whole header into a ts_hdr_t (every field, the count checked by
 *  construction), then sends it with ts_hdr_send or ts_hdr_msg (a payload
 *  frame, when the message has one, goes after it as it is: never copied
 *  into the header). A receiver calls ts_wire_X_decode on the parsed header
 *  (ts_recv, ts_hdr_parse) and gets the struct, or TS_EPROTO when a field is
 *  of the wrong type or a required one is missing: the message is then
 *  counted and dropped, never half-applied. Optional fields absent from the
 *  header take the default their struct names.
 *
 *  Strings and arrays are borrowed: a decoded one points into the header
 *  frame (valid as long as the frame), an encoded one is copied into the
 *  header. docs/INTERNALS.md describes every message: who sends it, who
 *  answers.
 *
 *  Typed here: every producer <-> aggregator, aggregator <-> worker,
 *  worker <-> worker and api <-> worker message, the api's "map" request
 *  and "dropped". Not here: the shard map (ts_shardmap.h has its own
 *  codec) and the query side, whose fields are the client's
 *  (docs/INTERNALS.md, "Why the query side stays field-built").
 */
#ifndef TS_WIRE_H
#define TS_WIRE_H

#include "ts_msg.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  A string field. Decoded: points into the header, not NUL-terminated; ""
 *  when empty; NULL when an optional one is absent. Encoded: NULL is left
 *  out when optional, sent as "" when required. */
typedef struct {
    const char *ptr;
    size_t      len;
} ts_wire_str_t;

static inline ts_wire_str_t
ts_wire_cstr (const char *s)
{
    return (ts_wire_str_t) { s, s ? strlen (s) : 0 };
}

/*  Copies a string field into buf (cut to fit, NUL-terminated); false, and
 *  buf "", when it is absent. */
bool ts_wire_str_copy (ts_wire_str_t s, char *buf, size_t size);

/*  True when the field is present and equal to the C string s. */
bool ts_wire_str_eq (ts_wire_str_t s, const char *c);

/*  An array field: `count` msgpack values packed back to back in `len`
 *  bytes at `items` (the array without its own header, so a sender that
 *  packs items as it goes, or a receiver passing an array on, copies no
 *  more than the items). items NULL: absent (left out when optional, an
 *  empty array when required). Decoded arrays are well formed: every item
 *  skips. */
typedef struct {
    const void *items;
    size_t      len;
    uint32_t    count;
} ts_wire_array_t;

/*  A reader at the array's first item. */
void ts_wire_array_reader (const ts_wire_array_t *a, ts_mp_reader_t *r);

/*  The array field of a whole msgpack array packed at data (len bytes,
 *  header included); items NULL when it is not one. */
ts_wire_array_t ts_wire_array_packed (const void *data, size_t len);

/*  Declares the pair of message NAME:
 *    void ts_wire_NAME_encode (ts_hdr_t *h, const ts_wire_NAME_t *m);
 *      writes the whole header of the message into h (begun afresh);
 *    int  ts_wire_NAME_decode (const ts_hdrin_t *in, ts_wire_NAME_t *m);
 *      0 with *m filled, or TS_EPROTO (another type, a required field
 *      missing, a field of another type, part of a group of fields). */
#define TS_WIRE_CODEC(name) \
    void ts_wire_##name##_encode (ts_hdr_t *h, const ts_wire_##name##_t *m); \
    int  ts_wire_##name##_decode (const ts_hdrin_t *in, ts_wire_##name##_t *m)

/*  Fields marked [group G] are sent together when the struct's bool G is
 *  true and left out when false; decoding sets G when all of them came,
 *  and refuses a header with some but not all. */

/* --- producer <-> aggregator (ingest) ---------------------------------------- */

/*  "chunk" (producer -> aggregator) + payload: whole lines. Answered by
 *  "ack" or "nack". job, chunk: required. line0 (default 1), lines, bytes
 *  (default 0); src, profile: optional; last: the input ends with this
 *  chunk (a hint; default false). [group by_ref] file, off, fid: the lines
 *  are `bytes` bytes at `off` of `file` (absolute), whose identity
 *  (ts_file_id) is `fid`; the payload is then empty. */
typedef struct {
    ts_wire_str_t job;
    uint64_t      chunk;
    uint64_t      line0, lines, bytes;
    ts_wire_str_t src, profile;
    bool          last;
    bool          by_ref;
    ts_wire_str_t file;
    uint64_t      off;
    ts_wire_str_t fid;
} ts_wire_chunk_t;

TS_WIRE_CODEC (chunk);

/*  "done" (producer -> aggregator): the producer sent every chunk of job
 *  (chunks, lines, bytes in all). Not answered. All required. */
typedef struct {
    ts_wire_str_t job;
    uint64_t      chunks, lines, bytes;
} ts_wire_done_t;

TS_WIRE_CODEC (done);

/*  "ping" (producer -> aggregator): answered by "pong". No fields. */
typedef struct {
    char unused;
} ts_wire_ping_t;

TS_WIRE_CODEC (ping);

/*  "pong" (aggregator -> producer), also "reregister" (aggregator ->
 *  worker, the answer to the heartbeat of a worker it does not know): the
 *  aggregator's incarnation `inc` (required); a new one lost what was
 *  queued there. */
typedef struct {
    uint64_t inc;
} ts_wire_pong_t;

TS_WIRE_CODEC (pong);

typedef ts_wire_pong_t ts_wire_reregister_t;

TS_WIRE_CODEC (reregister);

/*  "ack" (aggregator -> producer): chunk `chunk` of job is committed and
 *  counted in the statistics. Counts required; rejects: [[line, reason]...]
 *  (required, may be empty); warnings: [[field, reason, count, first
 *  line]...] (ts_warn.h; optional). */
typedef struct {
    ts_wire_str_t   job;
    uint64_t        chunk;
    uint64_t        lines, blank, imported, duplicates, rejected;
    ts_wire_array_t rejects, warnings;
} ts_wire_ack_t;

TS_WIRE_CODEC (ack);

/*  "nack" (aggregator -> producer): chunk `chunk` cannot be stored. code:
 *  a TS_E* code (a name from ts_errname is read as its code, an unknown
 *  name as TS_ESTORE); msg: why (optional). NO_INPUT: send the bytes. */
typedef struct {
    ts_wire_str_t job;
    uint64_t      chunk;
    int64_t       code;
    ts_wire_str_t msg;
} ts_wire_nack_t;

TS_WIRE_CODEC (nack);

/* --- aggregator <-> worker (control) ------------------------------------------ */

/*  "work" (aggregator -> worker) + payload (as "chunk"): a chunk handed on.
 *  Answered by "chunkdone" (the chunk) and "credit" (room for another).
 *  The fields of "chunk" but `last` (in c), and: backlog, the chunks still
 *  queued after this one (required; always 5 bytes, written in place at
 *  each dispatch: ts_wire_value_at); more, whether producers are still
 *  sending (required, also written in place). */
typedef struct {
    ts_wire_chunk_t c;
    uint32_t        backlog;
    bool            more;
} ts_wire_work_t;

TS_WIRE_CODEC (work);

/*  "chunkdone" (worker -> aggregator): chunk `chunk` of job is parsed and
 *  every part of it committed, or it failed. Not answered: the aggregator
 *  answers the producer, "nack" at once or "ack" once the statistics
 *  include every commit in seqs. job, chunk: required. [group failed]
 *  code, msg. [group counted] lines, blank, imported, duplicates,
 *  rejected; rejects ([[line, reason]...], at most TS_REJECTS_PER_CHUNK),
 *  warnings (ts_warn.h), seqs ([[shard, seq]...]: the commits the ack
 *  waits for). */
typedef struct {
    ts_wire_str_t   job;
    uint64_t        chunk;
    bool            failed;
    int64_t         code;
    ts_wire_str_t   msg;
    bool            counted;
    uint64_t        lines, blank, imported, duplicates, rejected;
    ts_wire_array_t rejects, warnings, seqs;
} ts_wire_chunkdone_t;

TS_WIRE_CODEC (chunkdone);

/*  "register" (worker -> aggregator): worker (its name), peer (the
 *  endpoint other workers and the api reach it at), pid (required); credit:
 *  the chunks it can take (default TS_WORKER_CREDIT); shards: [shard...]
 *  it holds open (optional; trusted after an aggregator's restart).
 *  Answered by "map" once shards are assigned. */
typedef struct {
    ts_wire_str_t   worker, peer;
    int64_t         pid, credit;
    ts_wire_array_t shards;
} ts_wire_register_t;

TS_WIRE_CODEC (register);

/*  "hb" (worker -> aggregator), every TS_HEARTBEAT_MS: worker, epoch (of
 *  its map), held (shards open), queued (records waiting to commit), all
 *  required; error: its last error (optional). Answered by "map" when its
 *  epoch is not the current one, by "reregister" when the aggregator does
 *  not know it. */
typedef struct {
    ts_wire_str_t worker;
    uint64_t      epoch;
    int64_t       held;
    uint64_t      queued;
    ts_wire_str_t error;
} ts_wire_hb_t;

TS_WIRE_CODEC (hb);

/*  "leave" (worker -> aggregator): worker is stopping cleanly; its shards
 *  move now. Not answered. */
typedef struct {
    ts_wire_str_t worker;
} ts_wire_leave_t;

TS_WIRE_CODEC (leave);

/*  "delta" (worker -> aggregator) + payload: the totals a commit into shard
 *  `shard` added (ts_totals.h's delta form); seq: the commit's sequence
 *  (both required). "snap" (worker -> aggregator, the answer to
 *  "snapreq") + payload: the shard's whole totals at seq. Not answered: a
 *  gap in seqs makes the aggregator ask for a "snap". */
typedef struct {
    uint64_t shard, seq;
} ts_wire_delta_t;

TS_WIRE_CODEC (delta);

typedef ts_wire_delta_t ts_wire_snap_t;

TS_WIRE_CODEC (snap);

/*  "resync" (worker -> aggregator): a drop changed shard `shard`'s totals
 *  with no delta (required); the aggregator rebuilds its statistics from
 *  snapshots. */
typedef struct {
    uint64_t shard;
} ts_wire_resync_t;

TS_WIRE_CODEC (resync);

/*  "credit" (worker -> aggregator): the worker can take n more chunks.
 *  n: optional, default 1. */
typedef struct {
    int64_t n;
} ts_wire_credit_t;

TS_WIRE_CODEC (credit);

/*  "drained" (aggregator -> worker): the queue ran dry, or producers
 *  stopped sending. more: whether producers still send; optional, default
 *  false. */
typedef struct {
    bool more;
} ts_wire_drained_t;

TS_WIRE_CODEC (drained);

/*  "snapreq" (aggregator -> worker): send a "snap" of shard `shard`
 *  (required). */
typedef struct {
    uint64_t shard;
} ts_wire_snapreq_t;

TS_WIRE_CODEC (snapreq);

/*  "released" (worker -> aggregator): the worker closed shard `shard` at
 *  map epoch `epoch` (both required). Informational: the file lock fences. */
typedef struct {
    uint64_t shard;
    uint64_t epoch;
} ts_wire_released_t;

TS_WIRE_CODEC (released);

/* --- worker <-> worker (peer) ---------------------------------------------------- */

/*  "batch" (worker -> the worker owning shard `shard`) + payload: n records
 *  (ts_record.h's bin form) of chunk `chunk` of job, routed by map epoch
 *  `epoch`. text: the profile's text spec (ts_profile_text_spec;
 *  optional). Answered by "batchdone" once committed, or "notowner". */
typedef struct {
    ts_wire_str_t job, text;
    uint64_t      chunk, shard, epoch, n;
} ts_wire_batch_t;

TS_WIRE_CODEC (batch);

/*  "batchdone" (owner -> the worker that sent the batch): job, chunk, shard
 *  (required); [group failed] code, msg; [group committed] imported,
 *  duplicates, seq (the commit's sequence); refused: [[line, id]...], the
 *  labels whose record is stored nowhere (optional). */
typedef struct {
    ts_wire_str_t   job;
    uint64_t        chunk, shard;
    bool            failed;
    int64_t         code;
    ts_wire_str_t   msg;
    bool            committed;
    uint64_t        imported, duplicates, seq;
    ts_wire_array_t refused;
} ts_wire_batchdone_t;

TS_WIRE_CODEC (batchdone);

/*  "notowner" (a worker -> the sender of a batch): shard `shard` is not
 *  held here (at map epoch `epoch`); resend after the next map. All
 *  required. */
typedef struct {
    ts_wire_str_t job;
    uint64_t      chunk, shard, epoch;
} ts_wire_notowner_t;

TS_WIRE_CODEC (notowner);

/* --- api -> worker and aggregator: operations on shards ------------------------ */

/*  "rcheck", "rcompact" (api -> worker, on its peer socket): check, or
 *  compact the records files of, the shards listed (shards: [numbers]; the
 *  worker must hold each). rid: the api's request id, echoed. Answered by
 *  "rres" (a report a shard). Both required. */
typedef struct {
    uint64_t        rid;
    ts_wire_array_t shards;
} ts_wire_rcheck_t;

TS_WIRE_CODEC (rcheck);

typedef ts_wire_rcheck_t ts_wire_rcompact_t;

TS_WIRE_CODEC (rcompact);

/*  "rdrop" (api -> worker): drop run `run`'s records from the shards
 *  listed; as "rcheck" otherwise. All required. Each shard it changed
 *  makes the worker send "resync". */
typedef struct {
    uint64_t        rid;
    ts_wire_array_t shards;
    ts_wire_str_t   run;
} ts_wire_rdrop_t;

TS_WIRE_CODEC (rdrop);

/*  "dropped" (api -> aggregator, on its query socket): run `run` was
 *  dropped from every shard; its files and times go too. rid: optional
 *  (0); run: required. Not answered. */
typedef struct {
    uint64_t      rid;
    ts_wire_str_t run;
} ts_wire_dropped_t;

TS_WIRE_CODEC (dropped);

/* --- api <-> worker: reads --------------------------------------------------------- */

/*  "rget" (api -> the worker holding shard `shard`): the record whose id
 *  is `id`. rid: the api's request id, echoed in the answer. All
 *  required. Answered by "rres" + the record as stored. */
typedef struct {
    uint64_t      rid, shard;
    ts_wire_str_t id;
} ts_wire_rget_t;

TS_WIRE_CODEC (rget);

/*  "rlist", "rcount", "rsearch" (api -> each worker, for the shards it
 *  holds) + payload: the client's request map, as it came (its listing or
 *  search fields, read by the worker). rid, limit and records (as the api
 *  settled them: the worker does not re-derive them), shards ([numbers])
 *  required; cur: [key, id, ingested], the cursor the api decoded
 *  (optional: absent, no cursor). Answered by "rres". */
typedef struct {
    uint64_t        rid, limit;
    bool            records;
    ts_wire_array_t shards, cur;
} ts_wire_rlist_t;

TS_WIRE_CODEC (rlist);

typedef ts_wire_rlist_t ts_wire_rcount_t;

TS_WIRE_CODEC (rcount);

typedef ts_wire_rlist_t ts_wire_rsearch_t;

TS_WIRE_CODEC (rsearch);

/*  "rlabels" (api -> worker): rid, shards required. With id (optional):
 *  that record's labels and history (shards names its one shard). Without:
 *  the totals by label of the records the payload (the client's request
 *  map) selects; key: of that label only (optional); per_model: split by
 *  model (optional, default false); per_group (optional, default false):
 *  a "groups" with label conditions, the payload its filters alone, the
 *  answer per-group totals of the matching records. Answered by "rres". */
typedef struct {
    uint64_t        rid;
    ts_wire_array_t shards;
    ts_wire_str_t   id, key;
    bool            per_model;
    bool            per_group;
} ts_wire_rlabels_t;

TS_WIRE_CODEC (rlabels);

/*  "rres" (worker -> api) + payload (the record, items, rows or reports,
 *  as the request's type names): the answer to every r* request. rid:
 *  required (0 when the request had none); ok: required, false when
 *  failed. [group failed] code (a TS_E* code; NOT_OWNER: the api refreshes
 *  its map and asks again), msg. [group listed] (rlist, rsearch) n, the
 *  items in the payload, and more, whether the shards hold more. [group
 *  counted] (rcount) count. */
typedef struct {
    uint64_t      rid;
    bool          ok;
    bool          failed;
    int64_t       code;
    ts_wire_str_t msg;
    bool          listed;
    uint64_t      n;
    bool          more;
    bool          counted;
    uint64_t      count;
} ts_wire_rres_t;

TS_WIRE_CODEC (rres);

/*  "map" asked (api -> aggregator): no fields. Answered by the "map" the
 *  workers get (ts_shardmap.h's codec, not this one: the same type name
 *  carries the answer, so this pair is not in ts_wire_typed's table). */
typedef struct {
    char unused;
} ts_wire_mapreq_t;

TS_WIRE_CODEC (mapreq);

/* --- every typed message ------------------------------------------------------ */

/*  For the fuzz target and the tests, which take messages of any type. */
typedef union {
    ts_wire_chunk_t chunk; ts_wire_done_t done; ts_wire_ping_t ping; ts_wire_pong_t pong;
    ts_wire_ack_t ack; ts_wire_nack_t nack; ts_wire_work_t work;
    ts_wire_chunkdone_t chunkdone; ts_wire_batch_t batch; ts_wire_batchdone_t batchdone;
    ts_wire_notowner_t notowner; ts_wire_register_t register_; ts_wire_hb_t hb;
    ts_wire_leave_t leave; ts_wire_delta_t delta; ts_wire_resync_t resync;
    ts_wire_rcheck_t rcheck; ts_wire_rdrop_t rdrop; ts_wire_dropped_t dropped;
    ts_wire_credit_t credit; ts_wire_drained_t drained; ts_wire_snapreq_t snapreq;
    ts_wire_released_t released; ts_wire_reregister_t reregister;
    ts_wire_rget_t rget; ts_wire_rlist_t rlist; ts_wire_rlabels_t rlabels;
    ts_wire_rres_t rres;
} ts_wire_any_t;

/*  True when messages of `type` have a typed codec here. */
bool ts_wire_typed (ts_msg_t type);
/*  Decodes a message of whichever typed type in->msg is (TS_EPROTO for
 *  one with no codec). */
int ts_wire_decode (const ts_hdrin_t *in, ts_wire_any_t *m);
/*  Encodes m as a message of `type` (one that ts_wire_typed). */
void ts_wire_encode (ts_hdr_t *h, ts_msg_t type, const ts_wire_any_t *m);
/*  True when a and b, messages of `type`, hold the same values (strings
 *  and arrays compared by their bytes). */
bool ts_wire_equal (ts_msg_t type, const ts_wire_any_t *a, const ts_wire_any_t *b);
/*  Where the value of `key` starts in the header built in h (to patch a
 *  fixed-width value in place before each send); 0 when absent. */
size_t ts_wire_value_at (const ts_hdr_t *h, const char *key);

#ifdef __cplusplus
}
#endif
#endif
