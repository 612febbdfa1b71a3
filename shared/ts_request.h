/*  ts_request.h: client requests, decoded and validated in one place: the
 *  envelope the api reads first (a msgpack map with "v", "op", an optional
 *  "rid" and the op's own fields), and the fields that describe a listing
 *  (filter, order, limit, cursor), for the api (which checks them and
 *  merges the answers) and the workers (which run them). The wire format
 *  is in docs/PROTOCOL.md.
 *
 *  Filter fields of a request map:
 *    "group":   string, or array of strings (at most TS_QUERY_MAX_GROUPS)
 *    "model":   string
 *    "run":     string: records of that run
 *    "reward":  [lo, hi], either may be nil; inclusive
 *    "success": bool
 *    "created": [from, to], epoch milliseconds or ISO 8601 strings, either nil
 *  Order: "sort": "created" | "reward" | "id", with a leading '-' for
 *  descending (default "-created"). "limit": 1..TS_QUERY_MAX_LIMIT
 *  (default 100). "cursor": the "next" string of the previous page.
 *
 *  A cursor is "c1.<hex of msgpack [order, desc, key, id, filter hash]>.<tag>"
 *  where tag is a keyed hash of the rest: a cursor that was altered, or is
 *  used with another filter or order, is refused.
 */
#ifndef TS_REQUEST_H
#define TS_REQUEST_H

#include "ts_query.h"
#include "ts_mp.h"
#include "ts_record.h"
#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    ts_filter_t  filter;
    ts_sort_t    sort;
    uint32_t     limit;
    bool         records;            /* "fields": "record" */
    uint64_t     filter_hash;        /* of the filter and order, for cursors */
    /* storage for the borrowed group pointers */
    const char  *group_ptrs [TS_QUERY_MAX_GROUPS];
    uint32_t     group_lens [TS_QUERY_MAX_GROUPS];
    char         cursor_id [TS_ID_MAX_BYTES + 1];
} ts_listing_t;

/*  The operations a client may ask of the api: the "op" of a request. */
typedef enum {
    TS_OP_GET, TS_OP_LIST, TS_OP_COUNT, TS_OP_EXPORT, TS_OP_CHECK, TS_OP_STATS,
    TS_OP_GROUPS, TS_OP_JOB, TS_OP_HEALTH, TS_OP_RUNS, TS_OP_COMPARE, TS_OP_SEARCH,
    TS_OP_LABELS, TS_OP_DROP, TS_OP_COMPACT, TS_OP_LABEL
} ts_op_t;
#define TS_NOPS 16

/*  Ops the api sends to every worker for the shards it owns (a listing
 *  aside): each answers per shard. */
#define TS_OP_PER_SHARD(op) ((op) == TS_OP_CHECK || (op) == TS_OP_DROP || (op) == TS_OP_COMPACT)

/*  The wire name of an op ("get"); NULL for a value out of range. */
const char *ts_op_name (ts_op_t op);

#define TS_REQUEST_MAX (1u << 20)      /* bytes of one client request */

/*  A client request's envelope, decoded. Strings are borrowed from the
 *  request's bytes. */
typedef struct {
    ts_op_t     op;
    bool        has_rid;        /* "rid": any integer, echoed as it came */
    bool        rid_unsigned;
    int64_t     rid;
    uint64_t    rid_u;
    const char *id;             /* get: the record's id */
    uint32_t    id_len;
    const char *run;            /* drop: the run */
    uint32_t    run_len;
} ts_request_t;

/*  Decodes a client request: the envelope, then the fields of its op (the
 *  listing of list, count, export and search (its filter and limit: ts_search_request) into `listing`, which the caller
 *  provides; `cursor_key` verifies cursors as ts_listing_parse does).
 *  Returns 0, or TS_EBADREQ, TS_ETOOBIG, TS_EVERSION or TS_EUNKNOWNOP (its
 *  ts_errname is the reply's error code) with a message naming the field
 *  in `err`. The rid is set as soon as it is read, so that a refusal can
 *  echo it: on a refusal before it, has_rid is false. */
int ts_request_parse (ts_request_t *rq, const void *data, size_t len, uint64_t cursor_key,
                      ts_listing_t *listing, char *err, size_t err_size);

/*  Decodes the listing fields of a request map (`data` stays borrowed: the
 *  group strings point into it). `default_limit` applies when "limit" is
 *  absent. Returns 0, or TS_EBADREQ with a message naming the field in
 *  `err`. `key` verifies the cursor's tag; key 0 skips the cursor (the
 *  workers get it already decoded from the api). */
int ts_listing_parse (ts_listing_t *l, const void *data, size_t len, uint32_t default_limit,
                      uint64_t key, char *err, size_t err_size);

/*  Sets the listing's cursor from its parts: the sort key as a msgpack item
 *  (an integer for created time, a float or nil for reward, anything for
 *  id order), the ingest time that breaks reward ties (ignored by the other
 *  orders) and the id. 0 or TS_EBADREQ. */
int ts_listing_set_cursor (ts_listing_t *l, const ts_mp_item_t *key, int64_t tie,
                           const char *id, uint32_t id_len);

/*  The listing filter fields of a request map ("group", "model", "run",
 *  "reward", "success", "created", "label", "no_label"), as they are, into
 *  `out` as a map of their own (what a worker needs of a request whose
 *  other fields are not a listing's). 0, TS_EBADREQ (not a map) or
 *  TS_ENOMEM. */
#define TS_LISTING_FILTERS { "group", "model", "run", "reward", "success", "created", "label", \
                             "no_label" }
int ts_listing_filter_map (const void *data, size_t len, ts_buf_t *out);

/*  Hex of `n` bytes into out (2n + 1 chars, NUL-terminated); and back,
 *  `n` hex digits into n / 2 bytes (0, or -1: not lowercase hex pairs). */
void ts_hex (const uint8_t *p, size_t n, char *out);
int ts_unhex (const char *s, size_t n, uint8_t *out);

/*  Writes the cursor that continues after summary `s` (NUL-terminated). */
int ts_listing_cursor (const ts_listing_t *l, const ts_summary_t *s, uint64_t key,
                       char *buf, size_t size);

/*  Packs a summary as a client-facing map {id, group, model, reward,
 *  success, created_ms, ingested_ms, steps, run} (+ "record" added by
 *  caller when `extra` > 0: the map is opened with 9 + extra pairs). */
int ts_summary_pack_map (msgpack_packer *pk, const ts_summary_t *s, uint32_t extra);

/*  A client request under construction (the CLI's, the HTTP gateway's):
 *  "v" and "op" and then its fields are packed into `body` and counted in
 *  `n`; the map header goes in front when it is sent. Start from a zeroed
 *  struct; ts_req_begin starts a request (again in the same buffer, for a
 *  client that pages); ts_req_key adds a key, whose value the caller packs
 *  on `pk`; ts_req_free frees the buffer. */
typedef struct {
    ts_buf_t       body;
    msgpack_packer pk;
    uint32_t       n;
} ts_req_t;

void ts_req_begin (ts_req_t *q, const char *op);
void ts_req_key (ts_req_t *q, const char *key);
void ts_req_free (ts_req_t *q);
/*  The request as one frame: the map header (its fields and "rid", first),
 *  then the body. NULL when out of memory. */
zframe_t *ts_req_frame (const ts_req_t *q, uint64_t rid);

/*  A number range "LO:HI" as the CLI (--reward) and the gateway (reward=)
 *  take it: either side may be empty (no bound), else a finite number.
 *  Returns false when the text is not such a range. */
bool ts_req_range (const char *text, bool *has_lo, double *lo, bool *has_hi, double *hi);

#ifdef __cplusplus
}
#endif
#endif
