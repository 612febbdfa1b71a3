/*  ts_worker_int.h: what the parts of the worker share (not a public API;
 *  the worker's API is ts_worker.h).
 *
 *    ts_worker.c         construction, the sockets, the timers, the loop
 *    ts_worker_route.c   parsing chunks and routing their parts to the
 *                        shards' owners (the shard map)
 *    ts_worker_commit.c  the owned shards: their queues and commits
 */
#ifndef TS_WORKER_INT_H
#define TS_WORKER_INT_H

#include "ts_worker.h"
#include "ts_config.h"
#include "ts_map.h"
#include "ts_profile.h"
#include "ts_wire.h"
#include "ts_proto.h"
#include "ts_shardmap.h"
#include "ts_store.h"
#include "ts_warn.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

static inline int64_t
wk_now (void)
{
    return zclock_mono ();
}

#define S_TX_RECORDS    TS_COMMIT_RECORDS         /* largest transaction */
#define S_BUSY_DELAY_MS 1000                      /* longest wait under load */
#define S_IDLE_MS       2                         /* quiet this long: commit */
#define S_BACKLOG_MS    100  /* more work was announced but has not come: commit */
#define S_COMMIT_SPACING 10  /* idle commits at least this many durations apart */

/*  A batch waiting in an owned shard's queue. */
typedef struct s_batch {
    zframe_t *from;             /* sender on the peer socket; NULL: local */
    char      job [TS_JOB_MAX];
    uint64_t  chunk;
    uint32_t  shard;
    uint32_t  n;
    zframe_t *payload;          /* received from a peer, or */
    ts_zref_t *blob;            /* parsed here: the part's records */
    int64_t   received;
    char      text [TS_TEXT_SPEC_MAX];  /* steps pointers to index ("": none) */
    struct s_batch *next;
} s_batch_t;

typedef struct {
    ts_store_t *store;
    bool        wanted;         /* the map gives it to us */
    bool        snap_wanted;
    int64_t     next_open;      /* when to retry a failed open */
    bool        prefetched;     /* its tree file was asked into the page cache */
    int         open_error;
    char        error [512];
    s_batch_t  *head, *tail;
    uint32_t    queued;         /* records */
    int64_t     oldest;
    int64_t     committed_at;   /* when its last commit ended */
    int64_t     commit_ms;      /* and how long it took */
} s_shard_t;

/*  One part of a parsed chunk: the batch for one shard. */
typedef struct {
    uint32_t  shard;
    uint32_t  n;
    ts_zref_t *payload;         /* kept to send again until committed; shared
                                 * with a local batch and ZeroMQ, not copied */
    bool      done;
    uint64_t  seq;
    int64_t   sent;
    uint64_t  epoch_sent;
    int       sent_to;          /* owner slot it went to */
} s_part_t;

/*  A chunk parsed here, waiting for its parts to commit. */
typedef struct {
    char      job [TS_JOB_MAX];
    uint64_t  chunk;
    uint64_t  lines, blank, rejected, imported, duplicates;
    ts_buf_t  rejects;          /* packed [line, reason] pairs */
    uint32_t  nrejects;
    ts_warn_t warnings;         /* fields left unknown (ts_warn.h) */
    s_part_t *parts;
    uint32_t  nparts, outstanding;
    char      text [TS_TEXT_SPEC_MAX];  /* the profile's text spec (ts_profile_text_spec) */
} s_pending_t;

/*  A chunk received, not yet parsed. */
typedef struct s_work {
    ts_wire_work_t m;           /* decoded: points into header */
    zframe_t *header;
    zframe_t *payload;
    struct s_work *next;
} s_work_t;

typedef struct {
    char     name [64];
    char     peer [256];
    zsock_t *dealer;            /* to that worker's peer socket */
} s_peer_t;

struct ts_worker {
    char       name [64];
    char       data_dir [TS_PATH_MAX];
    char       peer_advertise [256];
    char       tuning [256];
    zsock_t   *ctrl;            /* DEALER to the aggregator */
    zsock_t   *peer;            /* ROUTER for peers and the api */
    ts_worker_read_fn *read_handler;    /* reads from the api (config) */

    /* the map */
    uint64_t   epoch;
    uint64_t   incarnation;
    unsigned   nshards;
    unsigned   commit_next;     /* the shard whose commit comes first next turn */
    bool       commit_due;      /* a shard due a commit waits for the next turn */
    int       *owners;
    int        me;              /* my slot in the map, -1 unknown */
    s_peer_t   peers [TS_MAX_WORKERS];
    ts_shardmap_t map_in;       /* the last "map" decoded (wk_on_map) */
    s_shard_t *shards;

    s_work_t  *work_head, *work_tail;
    unsigned   work_count;
    uint64_t   backlog;         /* chunks the aggregator still had queued */
    bool       more;            /* producers are still sending */
    int64_t    work_at;         /* when the last chunk came */
    ts_map_t  *pending;         /* job\0chunk8 -> s_pending_t */
    ts_map_t  *parsers;         /* profile spec -> ts_parser_t */

    ts_buf_t  *shard_bufs;      /* per shard, while parsing a chunk */
    uint32_t  *shard_counts;
    ts_buf_t   scratch, chunkbuf, delta;
    ts_buf_t   label_form;      /* one label form of a label import */
    /* chunks sent as references: the file they are read from, kept open
     * (their lines are read into chunkbuf) */
    int        ref_fd;
    char       ref_path [4096];
    ts_hdr_t   hdr;
    int64_t    next_hb;
    bool       registered;
    bool       leaving;
    bool       fatal;           /* a shard's handle broke: exit, restart reopens */
    uint64_t   dropped;
    char       last_error [256];
};

/* ts_worker.c */
void wk_pending_free (void *p);
void wk_batch_free (s_batch_t *b);
void wk_close_shard (ts_worker_t *self, unsigned s);

/* ts_worker_route.c */
/*  `refused`: the labels of the part whose record is not stored, nrefused
 *  [line, id] pairs (ts_labels.h), or NULL. */
void wk_on_part_done (ts_worker_t *self, const char *job, uint64_t chunk, uint32_t shard, uint32_t imported, uint32_t duplicates, uint64_t seq, int code, const char *msg, ts_mp_reader_t *refused, uint32_t nrefused);
void wk_deliver (ts_worker_t *self, s_pending_t *p, s_part_t *part);
/*  Delivers every pending part not yet answered for which `due` is true. */
void wk_redeliver (ts_worker_t *self, bool (*due) (const ts_worker_t *self, const s_part_t *part,
                                                    int64_t now));
void wk_parse_chunk (ts_worker_t *self, s_work_t *w);
void wk_on_map (ts_worker_t *self, ts_hdrin_t *in);

/* ts_worker_commit.c */
void wk_enqueue (ts_worker_t *self, s_batch_t *b);
void wk_answer_batch (ts_worker_t *self, s_batch_t *b, const ts_batch_result_t *res, uint64_t seq, int code, const char *msg, const char *refused);
void wk_send_snapshot (ts_worker_t *self, unsigned s);
void wk_try_open (ts_worker_t *self, unsigned s);
void wk_flush_ids (ts_worker_t *self, unsigned s);
void wk_commit (ts_worker_t *self, unsigned s, bool all);

#endif
