/*  ts_api_int.h: what the parts of the api share (not a public API; the
 *  api's API is ts_api.h).
 *
 *    ts_api.c         construction, replies, client requests, the loop
 *    ts_api_route.c   the shard map and sending each request's pieces to
 *                     the workers or the aggregator
 *    ts_api_answer.c  the record cache and assembling the answers
 *    ts_api_label.c   the write op "label": a label import it runs
 */
#ifndef TS_API_INT_H
#define TS_API_INT_H

#include "ts_api.h"
#include "ts_config.h"
#include "ts_map.h"
#include "ts_wire.h"
#include "ts_proto.h"
#include "ts_request.h"
#include "ts_shardmap.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

static inline int64_t
api_now (void)
{
    return zclock_mono ();
}

#define S_TIMEOUT_MS      10000        /* a worker or the aggregator must answer */
#define S_RETRIES         5            /* re-asks after NOT_OWNER */
#define S_MAP_EVERY_MS    1000
#define S_CACHE_BYTES     (64u << 20)  /* records kept for gets */

typedef struct {
    char     name [64];
    char     peer [256];
    bool     alive;
    zsock_t *dealer;
} s_worker_t;

typedef struct {
    uint64_t   rid;
    ts_op_t     op;
    zframe_t  *client;          /* routing id */
    bool       delim;           /* a REQ client: keep the empty frame */
    zframe_t  *request;         /* the request map (listing fields borrow it) */
    bool       has_client_rid;
    int64_t    client_rid;      /* any integer; echoed as it came */
    bool       client_rid_unsigned;
    uint64_t   client_rid_u;
    ts_listing_t *listing;
    int        waiting;         /* answers outstanding */
    int        retries;
    bool       parked;          /* waiting for a fresh map */
    int64_t    deadline;
    uint64_t   count;
    zframe_t  *parts [TS_MAX_WORKERS];
    bool       more [TS_MAX_WORKERS];
    int        nparts;
    zframe_t  *agg_reply;
} s_req_t;

/*  A record kept for gets. A stored record never changes (a duplicate is
 *  not written again, nothing is updated in place), so a cached copy can
 *  never be stale: no invalidation is needed. Absence is not cached: the
 *  record may arrive any moment. */
typedef struct s_cached {
    char   *data;               /* record form: summary + object */
    size_t  len;
    size_t  id_len;
    struct s_cached *prev, *next;
    char    id [];
} s_cached_t;

/*  A label request's producer run (ts_api_label.c). */
#define TS_API_LABEL_JOBS 8
typedef struct {
    uint64_t rid;               /* the request it answers */
    pid_t    pid;
    int      fd;                /* its stdout: the JSON report */
    int      labels;            /* lines it was given (where: lines a record) */
    bool     where;             /* labels every record a filter matches */
    ts_buf_t out;
    char     job [64];
    char     rejects [TS_PATH_MAX + 80];
} s_label_job_t;

struct ts_api {
    ts_map_t   *cache;          /* id -> s_cached_t */
    s_cached_t *lru_head, *lru_tail;
    size_t      cache_bytes;
    zsock_t   *front;
    zsock_t   *agg;
    uint64_t   cursor_key;
    unsigned   nshards;
    int        owners [TS_MAX_SHARDS];
    uint64_t   epoch;
    bool       have_map;
    ts_shardmap_t map_in;       /* the last map decoded (api_on_map) */
    s_worker_t workers [TS_MAX_WORKERS];
    int64_t    map_asked;
    ts_map_t  *reqs;            /* rid (8 bytes) -> s_req_t */
    uint64_t   next_rid;
    ts_buf_t   out;             /* reply body: key/value pairs */
    uint32_t   out_n;
    msgpack_packer pk;
    ts_hdr_t   hdr;
    ts_buf_t   tmp;
    uint64_t   served;
    uint64_t   map_gen;         /* bumps when the map (and dealers) change */
    char       data_dir [TS_PATH_MAX];
    s_label_job_t label_jobs [TS_API_LABEL_JOBS];
    int        nlabel_jobs;
};

/* ts_api.c */
void api_req_free (void *p);
void api_out_begin (ts_api_t *self, s_req_t *r, bool ok);
void api_send_labels (ts_api_t *self, s_req_t *r);
void api_out_key (ts_api_t *self, const char *key);
void api_out_send (ts_api_t *self, zframe_t *client, bool delim);
void api_send_error (ts_api_t *self, zframe_t *client, bool delim, s_req_t *r, const char *code, const char *message);
void api_finish_error (ts_api_t *self, s_req_t *r, const char *code, const char *message);
int api_collect (ts_api_t *self, bool (*pred) (const s_req_t *, int64_t), int64_t arg, s_req_t **out, int max);
bool api_is_parked (const s_req_t *r, int64_t arg);

/* ts_api_route.c */
void api_ask_map (ts_api_t *self);
void api_on_map (ts_api_t *self, ts_hdrin_t *in);
void api_park (ts_api_t *self, s_req_t *r, const char *why);
void api_dispatch (ts_api_t *self, s_req_t *r);

/* ts_api_answer.c */
const s_cached_t * api_cache_get (ts_api_t *self, const char *id, size_t len);
void api_reply_record (ts_api_t *self, s_req_t *r, const void *data, size_t len);
bool api_on_agg (ts_api_t *self);
bool api_on_worker (ts_api_t *self, zsock_t *dealer);

/* ts_api_label.c */
void api_label_start (ts_api_t *self, s_req_t *r);
void api_label_read (ts_api_t *self, int i);
/*  "groups" with label conditions: no totals count them, so the workers
 *  count per group over the matching records ("rlabels" with per_group)
 *  and the api merges and pages them (ts_groups.h). */
bool api_groups_labelled (const s_req_t *r);
int api_groups_payload (ts_api_t *self, s_req_t *r, ts_buf_t *out);
void api_finish_groups (ts_api_t *self, s_req_t *r);
void api_label_stop (ts_api_t *self);

#endif
