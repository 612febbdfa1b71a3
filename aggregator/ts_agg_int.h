/*  ts_agg_int.h: what the parts of the aggregator share (not a public API).
 *
 *  The aggregator is one object (struct ts_agg) in one thread; its parts
 *  are split by what they do, not by what they own:
 *
 *    ts_agg_hub.c     the loop, the sockets, the worker registry
 *    ts_agg_shards.c  shard assignment and the map sent to the workers
 *    ts_agg_ledger.c  the chunk queue, the job ledger, held acknowledgements
 *    ts_agg_stats.c   statistics: deltas, gaps, rebuilds from snapshots
 *    ts_agg_query.c   the query socket: status, stats and group pages
 *
 *  Calls go one way: hub -> shards -> stats -> ledger, and hub -> query
 *  -> ledger; every part includes this header and no other part.
 */
#ifndef TS_AGG_INT_H
#define TS_AGG_INT_H

#include "ts_agg.h"
#include "ts_config.h"
#include "ts_map.h"
#include "ts_wire.h"
#include "ts_proto.h"
#include "ts_seqwait.h"
#include "ts_shardmap.h"
#include "ts_totals.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define S_MAX_JOBS    100      /* finished jobs kept in the ledger */
#define S_SENDING_MS  2000     /* a job silent this long no longer sends */

typedef struct {
    bool      used;
    bool      alive;
    char      name [64];
    char      peer [256];
    zframe_t *identity;
    int64_t   pid;
    int64_t   last_seen;
    int64_t   joined;
    int       credit;
    uint64_t  epoch_seen;
    bool      mapped;          /* it was sent a shard map (since it registered) */
    int       held;            /* shards it reports open */
    int       queued;          /* records waiting to commit */
    char      error [512];     /* last error it reported */
    uint64_t  chunks_done;
} s_worker_t;

typedef struct s_chunk {
    char      job [TS_JOB_MAX];
    uint64_t  chunk;
    ts_buf_t  header;          /* the "work" header to send */
    size_t    backlog_at;      /* where its "backlog" value goes (uint32) */
    size_t    more_at;         /* where its "more" value goes (bool) */
    zframe_t *payload;
    int       worker;          /* slot in flight, -1 queued */
    int64_t   sent;
    struct s_chunk *next;      /* queue link */
} s_chunk_t;

typedef struct {
    char      job [TS_JOB_MAX];
    char      src [256];
    zframe_t *producer;        /* routing id of the latest sender */
    int64_t   started, updated, finished;
    uint64_t  lines, blank, imported, duplicates, rejected, bytes;
    uint64_t  chunks_acked, total_chunks;
    bool      done_received;
    bool      last_received;   /* the chunk marked last came */
    char      error [512];
    uint8_t  *acked;           /* bitmap of acknowledged chunk numbers */
    size_t    acked_bytes;
} s_job_t;

/*  An acknowledgement held until the statistics include its commits. */
typedef struct s_held_ack {
    char      job [TS_JOB_MAX];
    uint64_t  chunk;
    ts_buf_t  header;          /* the "ack" to send */
    uint32_t  nseqs;
    uint32_t *shards;
    uint64_t *seqs;
    uint64_t  lines, blank, imported, duplicates, rejected;
    int64_t   since;           /* when it started waiting */
    struct s_held_ack *next;
} s_held_ack_t;


#define S_GAP_MS        2000   /* a gap in a shard's deltas: rebuild after */
#define S_ACK_WAIT_MS   3000   /* an ack waiting that long for a delta: rebuild */

/*  A query waiting for the statistics to be rebuilt. */
typedef struct s_held_query {
    zmsg_t   *msg;             /* identity + frames as received */
    int64_t   since;
    struct s_held_query *next;
} s_held_query_t;

struct ts_agg {
    zsock_t   *ingest, *control, *query;
    zpoller_t *poller;
    char       data_dir [TS_PATH_MAX];
    unsigned   nshards;
    unsigned   expect_workers;  /* ts_agg_config_t */
    uint64_t   incarnation;
    int64_t    started;
    bool       assigned_once;

    s_worker_t workers [TS_MAX_WORKERS];
    int       *owners;         /* worker slot per shard, -1 none */
    uint64_t   epoch;
    ts_shardmap_t map_out;     /* the "map" being sent (agg_send_map) */

    ts_map_t  *chunks;         /* job\0chunk8 -> s_chunk_t (queued or in flight) */
    s_chunk_t *queue_head, *queue_tail;
    uint32_t   queue_len;      /* chunks in the queue */
    bool       more_told;      /* workers were last told producers still send */
    ts_map_t  *jobs;           /* job -> s_job_t */

    /* statistics */
    ts_totals_t *shard_totals;
    uint64_t    *shard_seq;
    bool        *shard_synced;
    ts_seqwait_t *early;       /* per shard: deltas ahead of a gap (ts_seqwait.h) */
    int64_t     *snap_asked;   /* when a snapshot was last asked for */
    unsigned     unsynced;
    ts_map_t    *groups;       /* name -> ts_totals_t */
    ts_map_t    *models;
    ts_map_t    *runs;          /* "run\0group" -> a run's totals in a group */
    ts_map_t    *run_models;    /* "run\0model" -> a run's totals of a model */
    ts_map_t    *run_meta;      /* run -> its files, set, times (ts_agg_runs.c) */
    uint64_t     rebuilds;

    s_held_ack_t   *held_acks;
    s_held_query_t *held_queries;
    ts_hdr_t     hdr;          /* scratch for outgoing headers */
    bool         has_rid;      /* the query being answered carried a "rid" */
    uint64_t     rid;
    uint64_t     stats_version;  /* bumps whenever the statistics change */
    bool         groups_warm;    /* they just became complete: the loop orders
                                    the groups before a "groups" asks */
    void       **group_sorted;   /* cached group order for "groups" */
    size_t       group_sorted_n;
    int          group_sorted_col;
    uint64_t     group_sorted_version;
    /* the last "groups" page, packed: asked again with the same statistics
     * and parameters, it is sent as it is (a dashboard polling every
     * group costs a copy, not 10,000 rows packed again) */
    ts_buf_t     page_rows;      /* the msgpack array of rows */
    bool         page_valid;
    uint64_t     page_version;
    int          page_col, page_only;
    bool         page_desc;
    int64_t      page_offset, page_limit;
    uint64_t     page_total;
    int64_t      page_next;      /* -1: nil */
    uint64_t     dropped;      /* malformed messages */
};

static inline int64_t
agg_now (void)
{
    return zclock_mono ();
}

/* ts_agg_shards.c */
int  agg_alive_count (ts_agg_t *self);
void agg_send_map (ts_agg_t *self, int w);
/*  Answers a "map" asked on the query socket (the api's) with the map. */
void agg_reply_map (ts_agg_t *self, zframe_t *to);
void agg_assign (ts_agg_t *self);

/* ts_agg_stats.c */
void agg_drop_early (ts_agg_t *self, unsigned shard);
void agg_reset_stats (ts_agg_t *self);
void agg_start_rebuild (ts_agg_t *self, const char *why);
void agg_request_snapshots (ts_agg_t *self);
void agg_on_delta (ts_agg_t *self, ts_hdrin_t *in, zmsg_t *msg, bool snapshot);
void agg_stats_check (ts_agg_t *self, int64_t now);

/* ts_agg_ledger.c */
void     agg_chunk_free (void *p);
void     agg_job_free (void *p);
s_job_t *agg_job (ts_agg_t *self, const char *job, bool create);
void     agg_on_chunk (ts_agg_t *self, zframe_t *from, ts_hdrin_t *in, zmsg_t *msg);
void     agg_on_done (ts_agg_t *self, ts_hdrin_t *in);
void     agg_dispatch (ts_agg_t *self);
void     agg_requeue_worker (ts_agg_t *self, int w);
void     agg_release_acks (ts_agg_t *self);
void     agg_on_chunkdone (ts_agg_t *self, int w, ts_hdrin_t *in);

/* ts_agg_query.c */
void agg_on_query (ts_agg_t *self);
void agg_groups_warm (ts_agg_t *self);
void agg_reply_begin (ts_agg_t *self, ts_msg_t type, uint32_t nfields);
void agg_reply_error (ts_agg_t *self, zframe_t *to, const char *code, const char *message);

/* ts_agg_runs.c */
typedef struct {
    const char *run;   size_t run_len;
    const char *group; size_t group_len;     /* NULL: the run's records without one */
    const ts_totals_t *t;
} agg_run_row_t;
void    agg_runmeta_free (void *p);
void    agg_runs_load (ts_agg_t *self);
/*  Forgets a dropped run's files, --set metadata and times (DATA/runs). */
void    agg_runs_forget (ts_agg_t *self, const char *run, size_t len);
void    agg_runs_note (ts_agg_t *self, const char *profile, const char *src);
ssize_t agg_run_rows (ts_agg_t *self, const char *run, size_t rlen, agg_run_row_t **rows);
int     agg_run_row_cmp (const void *a, const void *b);
void    agg_reply_runs (ts_agg_t *self, zframe_t *to);
void    agg_reply_compare (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in);
void agg_retry_queries (ts_agg_t *self);

#endif
