/*  ts_agg.c: the aggregator (ts_agg.h; messages in shared/ts_proto.h).
 *
 *  One thread, one poll loop over three ROUTER sockets: ingest (producers),
 *  control (workers), query (api, CLI). Nothing here blocks: a chunk waits
 *  in the queue until a worker has credit; an acknowledgement waits until
 *  the statistics include the commits it reports; a stats query waits
 *  while the statistics are being rebuilt.
 */
#include "ts_agg.h"
#include "ts_config.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_map.h"
#include "ts_msg.h"
#include "ts_proto.h"
#include "ts_totals.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_WORKERS 256
#define S_MAX_JOBS    100      /* finished jobs kept in the ledger */
#define S_SENDING_MS  2000     /* a job silent this long no longer sends */
#define S_JOB_MAX     64       /* bytes of a job id */

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
    int       held;            /* shards it reports open */
    int       queued;          /* records waiting to commit */
    char      error [512];     /* last error it reported */
    uint64_t  chunks_done;
} s_worker_t;

typedef struct s_chunk {
    char      job [S_JOB_MAX];
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
    char      job [S_JOB_MAX];
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
    char      job [S_JOB_MAX];
    uint64_t  chunk;
    ts_buf_t  header;          /* the "ack" to send */
    uint32_t  nseqs;
    uint32_t *shards;
    uint64_t *seqs;
    uint64_t  lines, blank, imported, duplicates, rejected;
    int64_t   since;           /* when it started waiting */
    struct s_held_ack *next;
} s_held_ack_t;

/*  A delta that came before the one it follows: a shard's old owner's last
 *  delta and its new owner's first travel on different connections and
 *  may arrive in either order. */
typedef struct s_early {
    uint64_t  seq;
    zframe_t *payload;
    int64_t   since;
    struct s_early *next;
} s_early_t;

#define S_GAP_MS        2000   /* a gap in a shard's deltas: rebuild after */
#define S_ACK_WAIT_MS   3000   /* an ack waiting that long for a delta: rebuild */
#define S_GROUPS_LIMIT_MAX 100000 /* rows of a "groups" page (~150 bytes each) */

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
    uint64_t   incarnation;
    int64_t    started;
    bool       assigned_once;

    s_worker_t workers [S_MAX_WORKERS];
    int       *owners;         /* worker slot per shard, -1 none */
    uint64_t   epoch;

    ts_map_t  *chunks;         /* job\0chunk8 -> s_chunk_t (queued or in flight) */
    s_chunk_t *queue_head, *queue_tail;
    uint32_t   queue_len;      /* chunks in the queue */
    bool       more_told;      /* workers were last told producers still send */
    ts_map_t  *jobs;           /* job -> s_job_t */

    /* statistics */
    ts_totals_t *shard_totals;
    uint64_t    *shard_seq;
    bool        *shard_synced;
    s_early_t  **early;        /* per shard: deltas ahead of a gap */
    int64_t     *snap_asked;   /* when a snapshot was last asked for */
    unsigned     unsynced;
    ts_map_t    *groups;       /* name -> ts_totals_t */
    ts_map_t    *models;
    uint64_t     rebuilds;

    s_held_ack_t   *held_acks;
    s_held_query_t *held_queries;
    ts_hdr_t     hdr;          /* scratch for outgoing headers */
    bool         has_rid;      /* the query being answered carried a "rid" */
    uint64_t     rid;
    uint64_t     stats_version;  /* bumps whenever the statistics change */
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

/* --- small helpers ------------------------------------------------------ */

static int64_t
s_now (void)
{
    return zclock_mono ();
}

static void
s_chunk_free (void *p)
{
    s_chunk_t *c = p;
    ts_buf_free (&c->header);
    zframe_destroy (&c->payload);
    free (c);
}

static void
s_job_free (void *p)
{
    s_job_t *j = p;
    zframe_destroy (&j->producer);
    free (j->acked);
    free (j);
}

/* --- metadata ----------------------------------------------------------- */

/*  The shard count is fixed when a store is created: kept in DATA/meta. */
static int
s_load_meta (ts_agg_t *self, unsigned want, char *err, size_t err_size)
{
    char path [TS_PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/meta", self->data_dir);
    FILE *f = fopen (path, "r");
    if (f) {
        unsigned n = 0;
        if (fscanf (f, "nshards=%u", &n) != 1 || n == 0 || n > TS_MAX_SHARDS) {
            fclose (f);
            snprintf (err, err_size, "%s: unreadable store metadata (want nshards=N)", path);
            return TS_ECORRUPT;
        }
        fclose (f);
        self->nshards = n;
        return 0;
    }
    if (errno != ENOENT) {
        snprintf (err, err_size, "%s: %s", path, strerror (errno));
        return -errno;
    }
    self->nshards = want ? want : TS_DEFAULT_SHARDS;
    char tmp [TS_PATH_MAX + 32];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    f = fopen (tmp, "w");
    if (!f || fprintf (f, "nshards=%u\n", self->nshards) < 0 || fflush (f) || fsync (fileno (f))) {
        snprintf (err, err_size, "%s: cannot write: %s", tmp, strerror (errno));
        if (f)
            fclose (f);
        return TS_ESTORE;
    }
    fclose (f);
    if (rename (tmp, path)) {
        snprintf (err, err_size, "%s: cannot write: %s", path, strerror (errno));
        return TS_ESTORE;
    }
    return 0;
}

/* --- construction ------------------------------------------------------- */

static zsock_t *
s_bind (const char *endpoint, char *err, size_t err_size)
{
    zsock_t *s = zsock_new (ZMQ_ROUTER);
    if (!s) {
        snprintf (err, err_size, "cannot create a socket");
        return NULL;
    }
    zsock_set_router_handover (s, 1);     /* a restarted peer takes its name back */
    zsock_set_sndhwm (s, 0);
    zsock_set_rcvhwm (s, 0);
    zsock_set_linger (s, 0);
    if (zsock_bind (s, "%s", endpoint) < 0) {
        snprintf (err, err_size, "cannot bind %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&s);
        return NULL;
    }
    return s;
}

static void
s_drop_early (ts_agg_t *self, unsigned shard)
{
    while (self->early && self->early [shard]) {
        s_early_t *e = self->early [shard];
        self->early [shard] = e->next;
        zframe_destroy (&e->payload);
        free (e);
    }
}

static void
s_reset_stats (ts_agg_t *self)
{
    for (unsigned i = 0; i < self->nshards; i++) {
        s_drop_early (self, i);
        ts_totals_init (&self->shard_totals [i]);
        self->shard_seq [i] = 0;
        self->shard_synced [i] = false;
        self->snap_asked [i] = 0;
    }
    self->unsynced = self->nshards;
    ts_map_clear (self->groups);
    ts_map_clear (self->models);
    self->stats_version++;
    free (self->group_sorted);
    self->group_sorted = NULL;
    self->group_sorted_n = 0;
}

ts_agg_t *
ts_agg_new (const ts_agg_config_t *cfg, char *err, size_t err_size)
{
    ts_agg_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    snprintf (self->data_dir, sizeof self->data_dir, "%s", cfg->data_dir);
    int rc = ts_config_mkdirs (self->data_dir);
    if (rc) {
        snprintf (err, err_size, "%s: cannot create the data directory: %s", self->data_dir, strerror (-rc));
        free (self);
        return NULL;
    }
    if (s_load_meta (self, cfg->nshards, err, err_size)) {
        free (self);
        return NULL;
    }
    self->owners = malloc (self->nshards * sizeof *self->owners);
    self->shard_totals = malloc (self->nshards * sizeof *self->shard_totals);
    self->shard_seq = malloc (self->nshards * sizeof *self->shard_seq);
    self->shard_synced = malloc (self->nshards * sizeof *self->shard_synced);
    self->snap_asked = malloc (self->nshards * sizeof *self->snap_asked);
    self->early = calloc (self->nshards, sizeof *self->early);
    self->chunks = ts_map_new (s_chunk_free);
    self->jobs = ts_map_new (s_job_free);
    self->groups = ts_map_new (free);
    self->models = ts_map_new (free);
    if (!self->owners || !self->shard_totals || !self->shard_seq || !self->shard_synced
    ||  !self->snap_asked || !self->early || !self->chunks || !self->jobs || !self->groups || !self->models) {
        snprintf (err, err_size, "out of memory");
        ts_agg_destroy (&self);
        return NULL;
    }
    for (unsigned i = 0; i < self->nshards; i++)
        self->owners [i] = -1;
    s_reset_stats (self);
    if (!(self->ingest = s_bind (cfg->ingest, err, err_size))
    ||  !(self->control = s_bind (cfg->control, err, err_size))
    ||  !(self->query = s_bind (cfg->query, err, err_size))) {
        ts_agg_destroy (&self);
        return NULL;
    }
    self->poller = zpoller_new (self->control, self->ingest, self->query, NULL);
    self->incarnation = ((uint64_t) random () << 32) ^ (uint64_t) random () ^ (uint64_t) zclock_time ();
    self->started = s_now ();
    return self;
}

void
ts_agg_destroy (ts_agg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_agg_t *self = *self_p;
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->ingest);
    zsock_destroy (&self->control);
    zsock_destroy (&self->query);
    for (int i = 0; i < S_MAX_WORKERS; i++)
        zframe_destroy (&self->workers [i].identity);
    ts_map_destroy (&self->chunks);     /* frees queued chunks too */
    ts_map_destroy (&self->jobs);
    ts_map_destroy (&self->groups);
    ts_map_destroy (&self->models);
    while (self->held_acks) {
        s_held_ack_t *a = self->held_acks;
        self->held_acks = a->next;
        ts_buf_free (&a->header);
        free (a->shards);
        free (a->seqs);
        free (a);
    }
    while (self->held_queries) {
        s_held_query_t *q = self->held_queries;
        self->held_queries = q->next;
        zmsg_destroy (&q->msg);
        free (q);
    }
    free (self->owners);
    free (self->shard_totals);
    free (self->shard_seq);
    free (self->shard_synced);
    free (self->snap_asked);
    for (unsigned i = 0; self->early && i < self->nshards; i++)
        s_drop_early (self, i);
    free (self->early);
    free (self->group_sorted);
    ts_buf_free (&self->page_rows);
    ts_hdr_free (&self->hdr);
    free (self);
    *self_p = NULL;
}

/* --- shard map ------------------------------------------------------------ */

static int
s_alive_count (ts_agg_t *self)
{
    int n = 0;
    for (int i = 0; i < S_MAX_WORKERS; i++)
        n += self->workers [i].used && self->workers [i].alive;
    return n;
}

static void
s_send_map (ts_agg_t *self, int w)
{
    s_worker_t *wk = &self->workers [w];
    ts_hdr_t *h = &self->hdr;
    ts_hdr_begin (h, "map", 5);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_uint (h, "inc", self->incarnation);
    ts_hdr_uint (h, "nshards", self->nshards);
    ts_hdr_key (h, "owners");
    msgpack_pack_array (&h->pk, self->nshards);
    for (unsigned i = 0; i < self->nshards; i++)
        msgpack_pack_int (&h->pk, self->owners [i]);
    ts_hdr_key (h, "workers");
    msgpack_pack_array (&h->pk, S_MAX_WORKERS);
    for (int i = 0; i < S_MAX_WORKERS; i++) {
        s_worker_t *x = &self->workers [i];
        if (x->used && x->alive) {
            msgpack_pack_array (&h->pk, 2);
            ts_mp_pack_cstr (&h->pk, x->name);
            ts_mp_pack_cstr (&h->pk, x->peer);
        }
        else
            msgpack_pack_nil (&h->pk);
    }
    ts_hdr_send (h, zsock_resolve (self->control), wk->identity, NULL, 0);
    wk->epoch_seen = self->epoch;
}

static void
s_broadcast_map (ts_agg_t *self)
{
    for (int i = 0; i < S_MAX_WORKERS; i++)
        if (self->workers [i].used && self->workers [i].alive)
            s_send_map (self, i);
}

static void s_request_snapshots (ts_agg_t *self);

/*  Balanced assignment that moves as few shards as it can: a shard stays
 *  with a live owner while that owner is within its fair share; the rest
 *  go to the least loaded. Advances the epoch when anything changed. */
static void
s_assign (ts_agg_t *self)
{
    int alive [S_MAX_WORKERS], n = 0;
    int load [S_MAX_WORKERS] = { 0 };
    for (int i = 0; i < S_MAX_WORKERS; i++)
        if (self->workers [i].used && self->workers [i].alive)
            alive [n++] = i;
    bool changed = false;
    if (n == 0) {
        for (unsigned s = 0; s < self->nshards; s++) {
            changed |= self->owners [s] != -1;
            self->owners [s] = -1;
        }
    }
    else {
        int base = (int) self->nshards / n, extra = (int) self->nshards % n;
        int target [S_MAX_WORKERS] = { 0 };
        for (int k = 0; k < n; k++)
            target [alive [k]] = base + (k < extra ? 1 : 0);
        /* keep what fits */
        for (unsigned s = 0; s < self->nshards; s++) {
            int o = self->owners [s];
            if (o >= 0 && self->workers [o].used && self->workers [o].alive && load [o] < target [o])
                load [o]++;
            else {
                changed |= o != -1;
                self->owners [s] = -1;
            }
        }
        /* place the rest on whoever is furthest below target */
        for (unsigned s = 0; s < self->nshards; s++) {
            if (self->owners [s] != -1)
                continue;
            int best = alive [0];
            for (int k = 1; k < n; k++)
                if (target [alive [k]] - load [alive [k]] > target [best] - load [best])
                    best = alive [k];
            self->owners [s] = best;
            load [best]++;
            changed = true;
        }
    }
    self->assigned_once = true;
    if (changed) {
        self->epoch++;
        ts_info ("shard map epoch %" PRIu64 ": %d live workers", self->epoch, n);
    }
    s_broadcast_map (self);
    s_request_snapshots (self);
}

/* --- statistics ----------------------------------------------------------- */

static void
s_v_shard (void *arg, const ts_totals_t *t)
{
    ts_totals_merge ((ts_totals_t *) arg, t);
}

static void
s_merge_named (ts_map_t *map, const char *name, size_t len, const ts_totals_t *t)
{
    ts_totals_t *cur = ts_map_get (map, name, len);
    if (!cur) {
        cur = malloc (sizeof *cur);
        if (!cur || ts_map_put (map, name, len, cur)) {
            free (cur);
            return;
        }
        ts_totals_init (cur);
    }
    ts_totals_merge (cur, t);
}

typedef struct {
    ts_agg_t *agg;
    unsigned  shard;
} s_apply_t;

static void
s_v_group (void *arg, const char *name, size_t len, const ts_totals_t *t)
{
    s_merge_named (((s_apply_t *) arg)->agg->groups, name, len, t);
}

static void
s_v_model (void *arg, const char *name, size_t len, const ts_totals_t *t)
{
    s_merge_named (((s_apply_t *) arg)->agg->models, name, len, t);
}

static int
s_apply_delta (ts_agg_t *self, unsigned shard, const void *data, size_t len, uint64_t *seq)
{
    ts_totals_t shard_delta;
    ts_totals_init (&shard_delta);
    s_apply_t ap = { self, shard };
    ts_delta_visitor_t v = { NULL, s_v_group, s_v_model, &ap };
    /* the shard part goes to a side total first: a corrupt delta must not
     * leave half of it applied (groups are applied as read, so a corrupt
     * one forces a rebuild below) */
    ts_delta_visitor_t probe = { s_v_shard, NULL, NULL, &shard_delta };
    if (ts_delta_read (data, len, seq, &probe))
        return TS_ECORRUPT;
    if (ts_delta_read (data, len, seq, &v))
        return TS_ECORRUPT;
    ts_totals_merge (&self->shard_totals [shard], &shard_delta);
    self->stats_version++;
    return 0;
}

static void s_release_acks (ts_agg_t *self);

static void
s_start_rebuild (ts_agg_t *self, const char *why)
{
    ts_warn ("rebuilding statistics from shard snapshots: %s", why);
    self->rebuilds++;
    s_reset_stats (self);
    s_request_snapshots (self);
}

/*  Asks the owner of every unsynced shard for a snapshot (again, when the
 *  last request is older than a second: the owner may have changed). */
static void
s_request_snapshots (ts_agg_t *self)
{
    int64_t now = s_now ();
    for (unsigned s = 0; s < self->nshards; s++) {
        if (self->shard_synced [s] || self->owners [s] < 0)
            continue;
        if (self->snap_asked [s] && now - self->snap_asked [s] < 1000)
            continue;
        ts_hdr_begin (&self->hdr, "snapreq", 1);
        ts_hdr_uint (&self->hdr, "shard", s);
        ts_hdr_send (&self->hdr, zsock_resolve (self->control),
                     self->workers [self->owners [s]].identity, NULL, 0);
        self->snap_asked [s] = now;
    }
}

/* --- chunks and jobs ------------------------------------------------------ */

static s_job_t *
s_job (ts_agg_t *self, const char *job, bool create)
{
    s_job_t *j = ts_map_get (self->jobs, job, strlen (job));
    if (j || !create)
        return j;
    /* keep the ledger bounded: drop the oldest finished job */
    if (ts_map_size (self->jobs) >= S_MAX_JOBS) {
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        s_job_t *oldest = NULL;
        while (ts_map_next (self->jobs, &pos, &k, &kl, &v)) {
            s_job_t *x = v;
            if (x->finished && (!oldest || x->finished < oldest->finished))
                oldest = x;
        }
        if (oldest)
            ts_map_delete (self->jobs, oldest->job, strlen (oldest->job));
    }
    j = calloc (1, sizeof *j);
    if (!j)
        return NULL;
    snprintf (j->job, sizeof j->job, "%s", job);
    j->started = j->updated = zclock_time ();
    if (ts_map_put (self->jobs, job, strlen (job), j)) {
        free (j);
        return NULL;
    }
    return j;
}

static bool
s_job_mark_acked (s_job_t *j, uint64_t chunk)
{
    size_t byte = (size_t) (chunk / 8);
    if (byte >= j->acked_bytes) {
        size_t n = j->acked_bytes ? j->acked_bytes : 64;
        while (n <= byte)
            n *= 2;
        uint8_t *p = realloc (j->acked, n);
        if (!p)
            return false;
        memset (p + j->acked_bytes, 0, n - j->acked_bytes);
        j->acked = p;
        j->acked_bytes = n;
    }
    uint8_t bit = (uint8_t) (1u << (chunk % 8));
    if (j->acked [byte] & bit)
        return false;
    j->acked [byte] |= bit;
    return true;
}

static void
s_job_check_done (s_job_t *j)
{
    if (j->done_received && j->chunks_acked >= j->total_chunks && !j->finished)
        j->finished = zclock_time ();
}

/*  A "chunk" from a producer: queue it unless the same chunk is already
 *  queued or being worked on (a resend). */
static void
s_on_chunk (ts_agg_t *self, zframe_t *from, ts_hdrin_t *in, zmsg_t *msg)
{
    char job [S_JOB_MAX];
    if (!ts_hdr_copy_str (in, "job", job, sizeof job) || !*job || zmsg_size (msg) < 1) {
        self->dropped++;
        return;
    }
    uint64_t chunk = ts_hdr_get_uint (in, "chunk", UINT64_MAX);
    if (chunk == UINT64_MAX) {
        self->dropped++;
        return;
    }
    s_job_t *j = s_job (self, job, true);
    if (j) {
        zframe_destroy (&j->producer);
        j->producer = zframe_dup (from);
        j->updated = zclock_time ();
        if (!j->src [0])
            ts_hdr_copy_str (in, "src", j->src, sizeof j->src);
        if (ts_hdr_get_bool (in, "last", false))
            j->last_received = true;
        if (chunk < j->acked_bytes * 8 && (j->acked [chunk / 8] & (1u << (chunk % 8)))) {
            /* acknowledged before, the ack got lost: redo it (cheap: every
             * batch replays from its commit marker) */
        }
    }
    char key [S_JOB_MAX + 16];
    size_t klen = ts_chunk_key (key, job, chunk);
    s_chunk_t *c = ts_map_get (self->chunks, key, klen);
    if (c)
        return;                         /* queued or in flight already */
    c = calloc (1, sizeof *c);
    if (!c)
        return;
    snprintf (c->job, sizeof c->job, "%s", job);
    c->chunk = chunk;
    c->worker = -1;
    c->payload = zmsg_pop (msg);
    /* the same header, retyped "work" */
    ts_hdr_t h = { { 0 }, { 0 } };
    char src [256] = "", profile [1024] = "default";
    ts_hdr_copy_str (in, "src", src, sizeof src);
    ts_hdr_copy_str (in, "profile", profile, sizeof profile);
    uint32_t flen = 0, fidlen = 0;
    const char *file = ts_hdr_get_str (in, "file", &flen);
    const char *fid = ts_hdr_get_str (in, "fid", &fidlen);
    bool by_ref = file && fid;
    ts_hdr_begin (&h, "work", by_ref ? 12 : 9);
    ts_hdr_str (&h, "job", job);
    ts_hdr_uint (&h, "chunk", chunk);
    ts_hdr_uint (&h, "line0", ts_hdr_get_uint (in, "line0", 1));
    ts_hdr_uint (&h, "lines", ts_hdr_get_uint (in, "lines", 0));
    ts_hdr_uint (&h, "bytes", ts_hdr_get_uint (in, "bytes", 0));
    ts_hdr_str (&h, "src", src);
    ts_hdr_str (&h, "profile", profile);
    if (by_ref) {                       /* the lines are in this file */
        ts_hdr_strn (&h, "file", file, flen);
        ts_hdr_uint (&h, "off", ts_hdr_get_uint (in, "off", 0));
        ts_hdr_strn (&h, "fid", fid, fidlen);
    }
    /* "backlog": chunks still queued here when this one leaves, written
     * at dispatch into a fixed-width uint32 */
    ts_hdr_key (&h, "backlog");
    static const char u32 [5] = { (char) 0xce, 0, 0, 0, 0 };
    c->backlog_at = h.buf.size + 1;
    ts_buf_append (&h.buf, u32, sizeof u32);
    /* "more": whether producers are still sending, also set at dispatch */
    ts_hdr_key (&h, "more");
    c->more_at = h.buf.size;
    ts_buf_append (&h.buf, "\xc2", 1);
    c->header = h.buf;
    if (!c->payload || ts_map_put (self->chunks, key, klen, c)) {
        s_chunk_free (c);
        return;
    }
    if (self->queue_tail)
        self->queue_tail->next = c;
    else
        self->queue_head = c;
    self->queue_tail = c;
    self->queue_len++;
}

static void
s_on_done (ts_agg_t *self, ts_hdrin_t *in)
{
    char job [S_JOB_MAX];
    if (!ts_hdr_copy_str (in, "job", job, sizeof job))
        return;
    s_job_t *j = s_job (self, job, false);
    if (!j)
        return;
    j->done_received = true;
    j->total_chunks = ts_hdr_get_uint (in, "chunks", 0);
    j->bytes = ts_hdr_get_uint (in, "bytes", j->bytes);
    s_job_check_done (j);
}

static void s_dispatch_queue (ts_agg_t *self);

/*  Are producers still sending? A job is until its chunk marked last came
 *  (or it is done, failed, or silent for S_SENDING_MS: a producer gone). */
static bool
s_producers_sending (ts_agg_t *self)
{
    int64_t now = zclock_time ();
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (ts_map_next (self->jobs, &pos, &k, &kl, &v)) {
        s_job_t *j = v;
        if (!j->finished && !j->last_received && !j->done_received && !j->error [0]
        &&  now - j->updated < S_SENDING_MS)
            return true;
    }
    return false;
}

/*  Hands queued chunks to workers with credit, most credit first. */
static void
s_dispatch (ts_agg_t *self)
{
    bool had_backlog = self->queue_len > 0;
    s_dispatch_queue (self);
    /* the queue just ran dry, or producers stopped sending since workers
     * were told they were: tell them, so that they commit as soon as they
     * are idle (while producers still send, spaced out: see the worker) */
    if (self->queue_len > 0 || (!had_backlog && !self->more_told))
        return;
    bool more = s_producers_sending (self);
    if (!had_backlog && more)
        return;                         /* nothing new to tell */
    self->more_told = more;
    for (int i = 0; i < S_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (!w->used || !w->alive)
            continue;
        ts_hdr_begin (&self->hdr, "drained", 1);
        ts_hdr_bool (&self->hdr, "more", more);
        ts_hdr_send (&self->hdr, zsock_resolve (self->control), w->identity, NULL, 0);
    }
}

static void
s_dispatch_queue (ts_agg_t *self)
{
    int more = -1;                      /* s_producers_sending, once a pass */
    while (self->queue_head) {
        int best = -1;
        for (int i = 0; i < S_MAX_WORKERS; i++) {
            s_worker_t *w = &self->workers [i];
            if (w->used && w->alive && w->credit > 0 && (best < 0 || w->credit > self->workers [best].credit))
                best = i;
        }
        if (best < 0)
            return;
        s_chunk_t *c = self->queue_head;
        self->queue_head = c->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        self->queue_len--;
        c->next = NULL;
        c->worker = best;
        c->sent = s_now ();
        self->workers [best].credit--;
        /* tells the worker whether more work is on its way: while there
         * is, it lets its batches grow instead of committing when idle */
        if (c->backlog_at + 4 <= c->header.size) {
            uint8_t *b = (uint8_t *) c->header.data + c->backlog_at;
            uint32_t n = self->queue_len;
            b [0] = (uint8_t) (n >> 24); b [1] = (uint8_t) (n >> 16);
            b [2] = (uint8_t) (n >> 8);  b [3] = (uint8_t) n;
        }
        if (c->more_at < c->header.size) {
            if (more < 0)
                more = s_producers_sending (self);
            c->header.data [c->more_at] = (char) (more ? 0xc3 : 0xc2);
            self->more_told = self->more_told || more;
        }
        /* the chunk is kept until acknowledged (to requeue it if the worker
         * is lost); ZFRAME_REUSE hands ZeroMQ a reference, not a copy */
        void *sock = zsock_resolve (self->control);
        zframe_t *id = self->workers [best].identity;
        if (zmq_send (sock, zframe_data (id), zframe_size (id), ZMQ_SNDMORE) >= 0
        &&  zmq_send (sock, c->header.data, c->header.size, ZMQ_SNDMORE) >= 0)
            zframe_send (&c->payload, sock, ZFRAME_REUSE);
    }
}

/*  Puts every chunk in flight at worker w back at the head of the queue. */
static void
s_requeue_worker (ts_agg_t *self, int w)
{
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    int n = 0;
    while (ts_map_next (self->chunks, &pos, &k, &kl, &v)) {
        s_chunk_t *c = v;
        if (c->worker != w)
            continue;
        c->worker = -1;
        c->next = self->queue_head;
        self->queue_head = c;
        if (!self->queue_tail)
            self->queue_tail = c;
        self->queue_len++;
        n++;
    }
    if (n)
        ts_info ("requeued %d chunks of worker %s", n, self->workers [w].name);
}

/* --- acknowledgements ----------------------------------------------------- */

static bool
s_ack_ready (ts_agg_t *self, const s_held_ack_t *a)
{
    for (uint32_t i = 0; i < a->nseqs; i++) {
        unsigned s = a->shards [i];
        if (s >= self->nshards)
            continue;
        if (!self->shard_synced [s] || self->shard_seq [s] < a->seqs [i])
            return false;
    }
    return true;
}

static void
s_send_ack (ts_agg_t *self, s_held_ack_t *a)
{
    s_job_t *j = s_job (self, a->job, false);
    if (!j || !j->producer)
        return;
    if (s_job_mark_acked (j, a->chunk)) {
        j->chunks_acked++;
        j->lines += a->lines;
        j->blank += a->blank;
        j->imported += a->imported;
        j->duplicates += a->duplicates;
        j->rejected += a->rejected;
        j->updated = zclock_time ();
        s_job_check_done (j);
    }
    zmsg_t *m = zmsg_new ();
    zmsg_addmem (m, zframe_data (j->producer), zframe_size (j->producer));
    zmsg_addmem (m, a->header.data, a->header.size);
    zmsg_send (&m, self->ingest);
}

static void
s_release_acks (ts_agg_t *self)
{
    s_held_ack_t **pp = &self->held_acks;
    while (*pp) {
        s_held_ack_t *a = *pp;
        if (s_ack_ready (self, a)) {
            *pp = a->next;
            s_send_ack (self, a);
            ts_buf_free (&a->header);
            free (a->shards);
            free (a->seqs);
            free (a);
        }
        else
            pp = &a->next;
    }
}

/*  Copies the value of `key` from `in` to h under the same key, or an
 *  empty array when it is missing or malformed. */
static void
s_pass_array (ts_hdr_t *h, ts_hdrin_t *in, const char *key)
{
    ts_hdr_key (h, key);
    ts_mp_reader_t r;
    if (ts_hdr_find (in, key, &r)) {
        const uint8_t *start = r.p;
        if (ts_mp_skip (&r) == 0) {
            ts_buf_append (&h->buf, start, (size_t) (r.p - start));
            return;
        }
    }
    msgpack_pack_array (&h->pk, 0);
}

/*  A worker's "chunkdone": the chunk's commits are done. Builds the "ack"
 *  (or "nack") for the producer and holds it until the statistics include
 *  every commit it names. */
static void
s_on_chunkdone (ts_agg_t *self, int w, ts_hdrin_t *in)
{
    char job [S_JOB_MAX];
    if (!ts_hdr_copy_str (in, "job", job, sizeof job))
        return;
    uint64_t chunk = ts_hdr_get_uint (in, "chunk", UINT64_MAX);
    char key [S_JOB_MAX + 16];
    size_t klen = ts_chunk_key (key, job, chunk);
    s_chunk_t *c = ts_map_take (self->chunks, key, klen);
    if (c) {
        if (c->worker < 0) {            /* still queued (a resend): unlink */
            s_chunk_t **pp = &self->queue_head, *prev = NULL;
            while (*pp && *pp != c) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            if (*pp) {
                *pp = c->next;
                self->queue_len--;
                if (self->queue_tail == c)
                    self->queue_tail = prev;
            }
        }
        s_chunk_free (c);
    }
    if (w >= 0)
        self->workers [w].chunks_done++;

    s_held_ack_t *a = calloc (1, sizeof *a);
    if (!a)
        return;
    snprintf (a->job, sizeof a->job, "%s", job);
    a->chunk = chunk;
    ts_hdr_t h = { { 0 }, { 0 } };
    int64_t code = ts_hdr_get_int (in, "code", 0);
    if (code) {
        char msg [512] = "";
        ts_hdr_copy_str (in, "msg", msg, sizeof msg);
        ts_hdr_begin (&h, "nack", 4);
        ts_hdr_str (&h, "job", job);
        ts_hdr_uint (&h, "chunk", chunk);
        ts_hdr_int (&h, "code", code);
        ts_hdr_str (&h, "msg", msg);
        s_job_t *j = s_job (self, job, false);
        if (j)
            snprintf (j->error, sizeof j->error, "%s", msg);
        a->header = h.buf;
        /* a nack carries no counts and waits for nothing */
        if (j && j->producer) {
            zmsg_t *m = zmsg_new ();
            zmsg_addmem (m, zframe_data (j->producer), zframe_size (j->producer));
            zmsg_addmem (m, a->header.data, a->header.size);
            zmsg_send (&m, self->ingest);
        }
        ts_buf_free (&a->header);
        free (a);
        return;
    }
    a->lines = ts_hdr_get_uint (in, "lines", 0);
    a->blank = ts_hdr_get_uint (in, "blank", 0);
    a->imported = ts_hdr_get_uint (in, "imported", 0);
    a->duplicates = ts_hdr_get_uint (in, "duplicates", 0);
    a->rejected = ts_hdr_get_uint (in, "rejected", 0);
    ts_hdr_begin (&h, "ack", 9);
    ts_hdr_str (&h, "job", job);
    ts_hdr_uint (&h, "chunk", chunk);
    ts_hdr_uint (&h, "lines", a->lines);
    ts_hdr_uint (&h, "blank", a->blank);
    ts_hdr_uint (&h, "imported", a->imported);
    ts_hdr_uint (&h, "duplicates", a->duplicates);
    ts_hdr_uint (&h, "rejected", a->rejected);
    /* rejects and field warnings pass through as they came */
    s_pass_array (&h, in, "rejects");
    s_pass_array (&h, in, "warnings");
    ts_mp_reader_t r;
    a->header = h.buf;
    /* the commits it depends on: [[shard, seq]...] */
    if (ts_hdr_find (in, "seqs", &r)) {
        uint32_t n;
        if (ts_mp_read_array (&r, &n) == 0 && n <= TS_MAX_SHARDS) {
            a->shards = calloc (n ? n : 1, sizeof *a->shards);
            a->seqs = calloc (n ? n : 1, sizeof *a->seqs);
            for (uint32_t i = 0; a->shards && a->seqs && i < n; i++) {
                uint32_t two;
                uint64_t s, q;
                if (ts_mp_read_array (&r, &two) || two != 2 || ts_mp_read_uint (&r, &s)
                ||  ts_mp_read_uint (&r, &q))
                    break;
                a->shards [a->nseqs] = (uint32_t) s;
                a->seqs [a->nseqs] = q;
                a->nseqs++;
            }
        }
    }
    a->since = s_now ();
    a->next = self->held_acks;
    self->held_acks = a;
    s_release_acks (self);
}

/* --- workers -------------------------------------------------------------- */

static int
s_worker_by_identity (ts_agg_t *self, zframe_t *id)
{
    for (int i = 0; i < S_MAX_WORKERS; i++)
        if (self->workers [i].used && self->workers [i].identity
        &&  zframe_eq (self->workers [i].identity, id))
            return i;
    return -1;
}

static void
s_worker_lost (ts_agg_t *self, int w, const char *why)
{
    s_worker_t *wk = &self->workers [w];
    if (!wk->alive)
        return;
    ts_warn ("worker %s lost (%s): its shards move", wk->name, why);
    wk->alive = false;
    wk->credit = 0;
    s_requeue_worker (self, w);
}

static void
s_on_register (ts_agg_t *self, zframe_t *from, ts_hdrin_t *in)
{
    char name [64], peer [256];
    if (!ts_hdr_copy_str (in, "worker", name, sizeof name) || !*name
    ||  !ts_hdr_copy_str (in, "peer", peer, sizeof peer) || !*peer) {
        self->dropped++;
        return;
    }
    int w = -1, free_slot = -1;
    for (int i = 0; i < S_MAX_WORKERS; i++) {
        if (self->workers [i].used && !strcmp (self->workers [i].name, name))
            w = i;
        else if (!self->workers [i].used && free_slot < 0)
            free_slot = i;
    }
    if (w < 0)
        w = free_slot;
    if (w < 0) {
        ts_warn ("worker %s refused: %d workers already", name, S_MAX_WORKERS);
        return;
    }
    s_worker_t *wk = &self->workers [w];
    int64_t pid = ts_hdr_get_int (in, "pid", 0);
    if (wk->used && wk->alive && wk->pid != pid)
        s_worker_lost (self, w, "replaced by a new process of the same name");
    if (wk->used && wk->alive)
        s_requeue_worker (self, w);     /* a re-register: its chunks are gone */
    bool fresh = !wk->used;
    zframe_destroy (&wk->identity);
    memset (wk, 0, offsetof (s_worker_t, chunks_done));
    wk->used = true;
    wk->alive = true;
    snprintf (wk->name, sizeof wk->name, "%s", name);
    snprintf (wk->peer, sizeof wk->peer, "%s", peer);
    wk->identity = zframe_dup (from);
    wk->pid = pid;
    wk->last_seen = wk->joined = s_now ();
    wk->credit = (int) ts_hdr_get_int (in, "credit", TS_WORKER_CREDIT);
    ts_info ("worker %s registered (pid %" PRId64 ", peer %s)%s", name, pid, peer,
             fresh ? "" : " again");
    /* after a restart, trust the shards workers hold (no moves) */
    ts_mp_reader_t r;
    uint32_t n;
    if (!self->assigned_once && ts_hdr_find (in, "shards", &r) && ts_mp_read_array (&r, &n) == 0) {
        for (uint32_t i = 0; i < n; i++) {
            uint64_t s;
            if (ts_mp_read_uint (&r, &s))
                break;
            if (s < self->nshards)
                self->owners [s] = w;
        }
    }
    if (self->assigned_once || s_now () - self->started >= TS_REGISTER_GRACE_MS)
        s_assign (self);
}

static void
s_on_heartbeat (ts_agg_t *self, int w, ts_hdrin_t *in)
{
    s_worker_t *wk = &self->workers [w];
    wk->held = (int) ts_hdr_get_int (in, "held", 0);
    wk->queued = (int) ts_hdr_get_int (in, "queued", 0);
    if (!ts_hdr_copy_str (in, "error", wk->error, sizeof wk->error))
        wk->error [0] = 0;
    if (ts_hdr_get_uint (in, "epoch", 0) != self->epoch && self->assigned_once)
        s_send_map (self, w);
}

static void
s_on_delta (ts_agg_t *self, ts_hdrin_t *in, zmsg_t *msg, bool snapshot)
{
    uint64_t shard = ts_hdr_get_uint (in, "shard", UINT64_MAX);
    zframe_t *payload = zmsg_first (msg);
    if (shard >= self->nshards || !payload) {
        self->dropped++;
        return;
    }
    uint64_t seq = ts_hdr_get_uint (in, "seq", 0);
    if (snapshot) {
        if (self->shard_synced [shard])
            return;                     /* an answer to an older request */
        if (s_apply_delta (self, (unsigned) shard, zframe_data (payload), zframe_size (payload), &seq)) {
            s_start_rebuild (self, "a snapshot does not decode");
            return;
        }
        self->shard_seq [shard] = seq;
        self->shard_synced [shard] = true;
        self->unsynced--;
        if (self->unsynced == 0)
            ts_info ("statistics complete (rebuild %" PRIu64 ")", self->rebuilds);
    }
    else {
        if (!self->shard_synced [shard] || seq <= self->shard_seq [shard])
            return;                     /* covered by a snapshot, or a repeat */
        if (seq != self->shard_seq [shard] + 1) {
            /* ahead of a gap: keep it until the gap fills (s_tick rebuilds
             * if it does not, soon) */
            for (s_early_t *e = self->early [shard]; e; e = e->next)
                if (e->seq == seq)
                    return;
            s_early_t *e = calloc (1, sizeof *e);
            if (!e)
                return;
            e->seq = seq;
            e->payload = zframe_dup (payload);
            e->since = s_now ();
            e->next = self->early [shard];
            self->early [shard] = e;
            return;
        }
        if (s_apply_delta (self, (unsigned) shard, zframe_data (payload), zframe_size (payload), &seq)) {
            s_start_rebuild (self, "a delta does not decode");
            return;
        }
        self->shard_seq [shard] = seq;
        /* the deltas that waited for this one */
        for (bool found = true; found && self->shard_synced [shard]; ) {
            found = false;
            for (s_early_t **pp = &self->early [shard]; *pp; pp = &(*pp)->next) {
                s_early_t *e = *pp;
                if (e->seq > self->shard_seq [shard] + 1)
                    continue;
                *pp = e->next;
                uint64_t s2 = e->seq;
                bool apply = s2 == self->shard_seq [shard] + 1;
                int bad = apply ? s_apply_delta (self, (unsigned) shard, zframe_data (e->payload),
                                                 zframe_size (e->payload), &s2) : 0;
                zframe_destroy (&e->payload);
                free (e);
                if (bad) {
                    s_start_rebuild (self, "a delta does not decode");
                    return;
                }
                if (apply) {
                    self->shard_seq [shard] = s2;
                    found = true;
                }
                break;
            }
        }
    }
    s_release_acks (self);
}

static void
s_on_control (ts_agg_t *self)
{
    zmsg_t *msg = zmsg_recv (self->control);
    if (!msg)
        return;
    zframe_t *from = zmsg_pop (msg);
    zframe_t *head = zmsg_pop (msg);
    ts_hdrin_t in;
    if (!from || !head || ts_hdr_parse (&in, zframe_data (head), zframe_size (head))) {
        self->dropped++;
        goto done;
    }
    if (!strcmp (in.type, "register")) {
        s_on_register (self, from, &in);
        goto done;
    }
    int w = s_worker_by_identity (self, from);
    if (w < 0 || !self->workers [w].alive) {
        /* unknown (we restarted, or it was declared dead): it must register.
         * Asked in answer to its heartbeats only, a few times a second:
         * answering every message started a storm of registrations. */
        if (!strcmp (in.type, "hb")) {
            ts_hdr_begin (&self->hdr, "reregister", 1);
            ts_hdr_uint (&self->hdr, "inc", self->incarnation);
            ts_hdr_send (&self->hdr, zsock_resolve (self->control), from, NULL, 0);
        }
        /* its results still count: commits are commits */
        if (!strcmp (in.type, "chunkdone"))
            s_on_chunkdone (self, -1, &in);
        else if (!strcmp (in.type, "delta"))
            s_on_delta (self, &in, msg, false);
        goto done;
    }
    self->workers [w].last_seen = s_now ();
    if (!strcmp (in.type, "hb"))
        s_on_heartbeat (self, w, &in);
    else if (!strcmp (in.type, "credit"))
        self->workers [w].credit += (int) ts_hdr_get_int (&in, "n", 1);
    else if (!strcmp (in.type, "chunkdone"))
        s_on_chunkdone (self, w, &in);
    else if (!strcmp (in.type, "delta"))
        s_on_delta (self, &in, msg, false);
    else if (!strcmp (in.type, "snap"))
        s_on_delta (self, &in, msg, true);
    else if (!strcmp (in.type, "leave")) {
        /* a clean stop: move its shards now, not after missed heartbeats */
        s_worker_lost (self, w, "left");
        s_assign (self);
    }
    else if (!strcmp (in.type, "released"))
        ;                               /* informational: the file lock fences */
    else
        self->dropped++;
done:
    zframe_destroy (&from);
    zframe_destroy (&head);
    zmsg_destroy (&msg);
}

static void
s_on_ingest (ts_agg_t *self)
{
    zmsg_t *msg = zmsg_recv (self->ingest);
    if (!msg)
        return;
    zframe_t *from = zmsg_pop (msg);
    zframe_t *head = zmsg_pop (msg);
    ts_hdrin_t in;
    int rc = head ? ts_hdr_parse (&in, zframe_data (head), zframe_size (head)) : TS_EPROTO;
    if (!from || rc)
        self->dropped++;
    else if (!strcmp (in.type, "chunk"))
        s_on_chunk (self, from, &in, msg);
    else if (!strcmp (in.type, "done"))
        s_on_done (self, &in);
    else if (!strcmp (in.type, "ping")) {
        /* producers learn our incarnation: a new one means that what they
         * had queued here is lost, and they send it again at once */
        ts_hdr_begin (&self->hdr, "pong", 1);
        ts_hdr_uint (&self->hdr, "inc", self->incarnation);
        ts_hdr_send (&self->hdr, zsock_resolve (self->ingest), from, NULL, 0);
    }
    else
        self->dropped++;
    zframe_destroy (&from);
    zframe_destroy (&head);
    zmsg_destroy (&msg);
}

/* --- queries ---------------------------------------------------------------- */

static void
s_pack_totals_map (msgpack_packer *pk, const ts_totals_t *t)
{
    double mean = t->reward_n ? t->reward_sum / (double) t->reward_n : 0;
    double var = t->reward_n ? t->reward_sq / (double) t->reward_n - mean * mean : 0;
    if (var < 0)
        var = 0;
    msgpack_pack_map (pk, 12);
    ts_mp_pack_cstr (pk, "records");       msgpack_pack_uint64 (pk, t->count);
    ts_mp_pack_cstr (pk, "successes");     msgpack_pack_uint64 (pk, t->successes);
    ts_mp_pack_cstr (pk, "success_known"); msgpack_pack_uint64 (pk, t->success_known);
    ts_mp_pack_cstr (pk, "success_rate");
    if (t->success_known) msgpack_pack_double (pk, (double) t->successes / (double) t->success_known);
    else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_n");      msgpack_pack_uint64 (pk, t->reward_n);
    ts_mp_pack_cstr (pk, "reward_mean");
    if (t->reward_n) msgpack_pack_double (pk, mean); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_std");
    if (t->reward_n) msgpack_pack_double (pk, sqrt (var)); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_min");
    if (t->reward_n) msgpack_pack_double (pk, t->reward_min); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_max");
    if (t->reward_n) msgpack_pack_double (pk, t->reward_max); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "steps_mean");
    if (t->steps_n) msgpack_pack_double (pk, (double) t->steps_sum / (double) t->steps_n);
    else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "steps_n");       msgpack_pack_uint64 (pk, t->steps_n);
    ts_mp_pack_cstr (pk, "histogram");
    msgpack_pack_array (pk, TS_HIST_BINS + 2);
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        msgpack_pack_uint64 (pk, t->hist [i]);
}

/*  Starts a reply to the current query: echoes its "rid" when it had one,
 *  so a client with many queries in flight can match the answers. */
static void
s_reply_begin (ts_agg_t *self, const char *type, uint32_t nfields)
{
    ts_hdr_begin (&self->hdr, type, nfields + (self->has_rid ? 1 : 0));
    if (self->has_rid)
        ts_hdr_uint (&self->hdr, "rid", self->rid);
}

static void
s_reply_error (ts_agg_t *self, zframe_t *to, const char *code, const char *message)
{
    ts_hdr_t *h = &self->hdr;
    s_reply_begin (self, "error", 2);
    ts_hdr_bool (h, "ok", false);
    ts_hdr_key (h, "error");
    msgpack_pack_map (&h->pk, 2);
    ts_mp_pack_cstr (&h->pk, "code");
    ts_mp_pack_cstr (&h->pk, code);
    ts_mp_pack_cstr (&h->pk, "message");
    ts_mp_pack_cstr (&h->pk, message);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

static void
s_pack_job (msgpack_packer *pk, const s_job_t *j)
{
    const char *state = j->error [0] ? "failed" : j->finished ? "done" : "running";
    msgpack_pack_map (pk, 15);
    ts_mp_pack_cstr (pk, "job");          ts_mp_pack_cstr (pk, j->job);
    ts_mp_pack_cstr (pk, "src");          ts_mp_pack_cstr (pk, j->src);
    ts_mp_pack_cstr (pk, "state");        ts_mp_pack_cstr (pk, state);
    ts_mp_pack_cstr (pk, "lines");        msgpack_pack_uint64 (pk, j->lines);
    ts_mp_pack_cstr (pk, "imported");     msgpack_pack_uint64 (pk, j->imported);
    ts_mp_pack_cstr (pk, "duplicates");   msgpack_pack_uint64 (pk, j->duplicates);
    ts_mp_pack_cstr (pk, "rejected");     msgpack_pack_uint64 (pk, j->rejected);
    ts_mp_pack_cstr (pk, "blank");        msgpack_pack_uint64 (pk, j->blank);
    ts_mp_pack_cstr (pk, "bytes");        msgpack_pack_uint64 (pk, j->bytes);
    ts_mp_pack_cstr (pk, "chunks_acked"); msgpack_pack_uint64 (pk, j->chunks_acked);
    ts_mp_pack_cstr (pk, "chunks");       msgpack_pack_uint64 (pk, j->total_chunks);
    ts_mp_pack_cstr (pk, "started_ms");   msgpack_pack_int64 (pk, j->started);
    ts_mp_pack_cstr (pk, "updated_ms");   msgpack_pack_int64 (pk, j->updated);
    ts_mp_pack_cstr (pk, "finished_ms");
    if (j->finished) msgpack_pack_int64 (pk, j->finished); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "error");
    if (j->error [0]) ts_mp_pack_cstr (pk, j->error); else msgpack_pack_nil (pk);
}

static void
s_reply_status (ts_agg_t *self, zframe_t *to)
{
    ts_hdr_t *h = &self->hdr;
    int nworkers = 0;
    for (int i = 0; i < S_MAX_WORKERS; i++)
        nworkers += self->workers [i].used;
    s_reply_begin (self, "status", 9);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_uint (h, "nshards", self->nshards);
    ts_hdr_uint (h, "incarnation", self->incarnation);
    ts_hdr_int (h, "uptime_ms", s_now () - self->started);
    ts_hdr_bool (h, "stats_complete", self->unsynced == 0);
    ts_hdr_uint (h, "queued_chunks", ts_map_size (self->chunks));
    ts_hdr_key (h, "workers");
    msgpack_pack_array (&h->pk, nworkers);
    int64_t now = s_now ();
    for (int i = 0; i < S_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (!w->used)
            continue;
        int owned = 0;
        for (unsigned s = 0; s < self->nshards; s++)
            owned += self->owners [s] == i;
        msgpack_pack_map (&h->pk, 9);
        ts_mp_pack_cstr (&h->pk, "name");   ts_mp_pack_cstr (&h->pk, w->name);
        ts_mp_pack_cstr (&h->pk, "peer");   ts_mp_pack_cstr (&h->pk, w->peer);
        ts_mp_pack_cstr (&h->pk, "pid");    msgpack_pack_int64 (&h->pk, w->pid);
        ts_mp_pack_cstr (&h->pk, "alive");  w->alive ? msgpack_pack_true (&h->pk) : msgpack_pack_false (&h->pk);
        ts_mp_pack_cstr (&h->pk, "shards");
        msgpack_pack_array (&h->pk, owned);
        for (unsigned s = 0; s < self->nshards; s++)
            if (self->owners [s] == i)
                msgpack_pack_uint32 (&h->pk, s);
        ts_mp_pack_cstr (&h->pk, "last_seen_ms_ago"); msgpack_pack_int64 (&h->pk, now - w->last_seen);
        ts_mp_pack_cstr (&h->pk, "chunks_done"); msgpack_pack_uint64 (&h->pk, w->chunks_done);
        ts_mp_pack_cstr (&h->pk, "queued");  msgpack_pack_int (&h->pk, w->queued);
        ts_mp_pack_cstr (&h->pk, "error");
        if (w->error [0]) ts_mp_pack_cstr (&h->pk, w->error); else msgpack_pack_nil (&h->pk);
    }
    ts_hdr_key (h, "jobs");
    msgpack_pack_array (&h->pk, ts_map_size (self->jobs));
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (ts_map_next (self->jobs, &pos, &k, &kl, &v))
        s_pack_job (&h->pk, v);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

static void
s_reply_stats (ts_agg_t *self, zframe_t *to)
{
    ts_totals_t all;
    ts_totals_init (&all);
    for (unsigned s = 0; s < self->nshards; s++)
        ts_totals_merge (&all, &self->shard_totals [s]);
    ts_hdr_t *h = &self->hdr;
    s_reply_begin (self, "stats", 5);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "groups", ts_map_size (self->groups));
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_key (h, "totals");
    s_pack_totals_map (&h->pk, &all);
    ts_hdr_key (h, "models");
    msgpack_pack_map (&h->pk, ts_map_size (self->models));
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (ts_map_next (self->models, &pos, &k, &kl, &v)) {
        ts_mp_pack_strn (&h->pk, k, kl);
        s_pack_totals_map (&h->pk, v);
    }
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}


/* --- per-group statistics ------------------------------------------------ */

/*  The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k),
 *  computed as a product to stay exact in doubles; NAN when n < k. */
static double
s_pass_at (uint64_t n, uint64_t c, unsigned k)
{
    if (n < k)
        return NAN;
    if (n - c < k)
        return 1.0;
    if (k == 1)                 /* exactly c/n (1 - (n-c)/n rounds) */
        return (double) c / (double) n;
    double prod = 1.0;
    for (unsigned i = 0; i < k; i++)
        prod *= (double) (n - c - i) / (double) (n - i);
    return 1.0 - prod;
}

typedef struct {
    const char *name;
    size_t      len;
    const ts_totals_t *t;
} s_group_row_t;

enum { S_COL_GROUP, S_COL_RECORDS, S_COL_SUCCESSES, S_COL_RATE, S_COL_MEAN, S_COL_MAX,
       S_COL_PASS1, S_COL_PASS5, S_COL_PASS10, S_NCOLS };
static const char *s_col_names [S_NCOLS] = {
    "group", "records", "successes", "success_rate", "reward_mean", "reward_max",
    "pass@1", "pass@5", "pass@10"
};

static double
s_col_value (const ts_totals_t *t, int col)
{
    /* success counts use the records whose success is known */
    uint64_t n = t->success_known, c = t->successes;
    switch (col) {
    case S_COL_RECORDS:   return (double) t->count;
    case S_COL_SUCCESSES: return (double) t->successes;
    case S_COL_RATE:      return n ? (double) c / (double) n : NAN;
    case S_COL_MEAN:      return t->reward_n ? t->reward_sum / (double) t->reward_n : NAN;
    case S_COL_MAX:       return t->reward_n ? t->reward_max : NAN;
    case S_COL_PASS1:     return s_pass_at (n, c, 1);
    case S_COL_PASS5:     return s_pass_at (n, c, 5);
    case S_COL_PASS10:    return s_pass_at (n, c, 10);
    default:              return 0;
    }
}

static int s_sort_col;

/*  Ascending by the column (blank values last), then by group name. */
static int
s_row_cmp (const void *pa, const void *pb)
{
    const s_group_row_t *a = pa, *b = pb;
    if (s_sort_col != S_COL_GROUP) {
        double x = s_col_value (a->t, s_sort_col), y = s_col_value (b->t, s_sort_col);
        bool xn = isnan (x), yn = isnan (y);
        if (xn != yn)
            return xn ? 1 : -1;
        if (!xn && x != y)
            return x < y ? -1 : 1;
    }
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp (a->name, b->name, n);
    return c ? c : (a->len < b->len ? -1 : a->len > b->len);
}

static void
s_pack_opt (msgpack_packer *pk, double v)
{
    if (isnan (v))
        msgpack_pack_nil (pk);
    else
        msgpack_pack_double (pk, v);
}

/*  Sorts the groups by column `col` (cached until the statistics change),
 *  selects a page and packs its rows into self->page_rows, with the page's
 *  total and next offset. 0, or -1 when out of memory. */
static int
s_pack_groups_page (ts_agg_t *self, int col, bool desc, int only_kind, int64_t offset, int64_t limit)
{
    /* the sorted order, rebuilt only when the statistics changed */
    size_t n = ts_map_size (self->groups);
    if (!self->group_sorted || self->group_sorted_version != self->stats_version
    ||  self->group_sorted_col != col || self->group_sorted_n != n) {
        s_group_row_t *rows = malloc ((n ? n : 1) * sizeof *rows);
        if (!rows)
            return -1;
        size_t pos = 0, i = 0;
        const void *k;
        size_t kl;
        void *v;
        while (ts_map_next (self->groups, &pos, &k, &kl, &v) && i < n) {
            rows [i].name = k;
            rows [i].len = kl;
            rows [i].t = v;
            i++;
        }
        s_sort_col = col;
        qsort (rows, i, sizeof *rows, s_row_cmp);
        free (self->group_sorted);
        self->group_sorted = (void **) rows;
        self->group_sorted_n = i;
        self->group_sorted_col = col;
        self->group_sorted_version = self->stats_version;
    }
    s_group_row_t *rows = (s_group_row_t *) self->group_sorted;
    n = self->group_sorted_n;
    /* select: walk in the asked direction, filter, skip offset, take limit */
    s_group_row_t **page = malloc ((size_t) limit * sizeof *page);
    if (!page)
        return -1;
    /* blank values (rate of a group without known success, pass@k with
     * n < k) sort last in both directions: descending walks the valued
     * rows backwards, then the blanks */
    size_t valued = n;
    while (col != S_COL_GROUP && valued > 0 && isnan (s_col_value (rows [valued - 1].t, col)))
        valued--;
    size_t taken = 0, matched = 0;
    for (size_t k = 0; k < n; k++) {
        s_group_row_t *r = &rows [!desc ? k : k < valued ? valued - 1 - k : k];
        const ts_totals_t *t = r->t;
        if (only_kind == 1 && !(t->success_known > 0 && t->successes == t->success_known)) continue;
        if (only_kind == 2 && !(t->success_known > 0 && t->successes == 0)) continue;
        if (only_kind == 3 && !(t->successes > 0 && t->successes < t->success_known)) continue;
        if (matched++ < (size_t) offset)
            continue;
        if (taken < (size_t) limit)
            page [taken++] = r;
    }
    msgpack_packer pk;
    self->page_rows.size = 0;
    msgpack_packer_init (&pk, &self->page_rows, ts_buf_packer_write);
    /* about 150 bytes a row: one allocation instead of many */
    int rc = ts_buf_reserve (&self->page_rows, taken * 160 + 16);
    msgpack_pack_array (&pk, taken);
    for (size_t k = 0; k < taken && rc == 0; k++) {
        const ts_totals_t *t = page [k]->t;
        msgpack_pack_map (&pk, S_NCOLS);
        ts_mp_pack_cstr (&pk, "group");
        ts_mp_pack_strn (&pk, page [k]->name, page [k]->len);
        ts_mp_pack_cstr (&pk, "records");
        msgpack_pack_uint64 (&pk, t->count);
        ts_mp_pack_cstr (&pk, "successes");
        msgpack_pack_uint64 (&pk, t->successes);
        for (int c2 = S_COL_RATE; c2 < S_NCOLS; c2++) {
            ts_mp_pack_cstr (&pk, s_col_names [c2]);
            s_pack_opt (&pk, s_col_value (t, c2));
        }
    }
    free (page);
    self->page_valid = rc == 0 && self->page_rows.size > 0;
    self->page_version = self->stats_version;
    self->page_col = col;
    self->page_desc = desc;
    self->page_only = only_kind;
    self->page_offset = offset;
    self->page_limit = limit;
    self->page_total = matched;
    self->page_next = (size_t) offset + taken < matched ? offset + (int64_t) taken : -1;
    return self->page_valid ? 0 : -1;
}

/*  "groups": per group records, successes, success rate, mean and max
 *  reward, pass@1/5/10; "only": "pass" | "fail" | "mixed"; "sort": a
 *  column, '-' for descending; "limit" (default 100, at most 10000) and
 *  "offset" to page. Sorting is cached until the statistics change. */
static void
s_reply_groups (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in)
{
    char sort [32] = "group", only [16] = "";
    static const struct { const char *key; bool text; } fields [] = {
        { "sort", true }, { "only", true }, { "limit", false }, { "offset", false }
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++) {
        /* absent or nil: the default; otherwise the right type or an error */
        ts_mp_reader_t r;
        ts_mp_item_t it;
        if (!ts_hdr_find (in, fields [i].key, &r) || ts_mp_next (&r, &it) || it.type == TS_MP_NIL)
            continue;
        bool ok = fields [i].text ? it.type == TS_MP_STR
                                  : it.type == TS_MP_UINT || it.type == TS_MP_INT;
        if (!ok) {
            char m [96];
            snprintf (m, sizeof m, "field \"%s\": want %s", fields [i].key,
                      fields [i].text ? "a string" : "an integer");
            s_reply_error (self, to, "BAD_REQUEST", m);
            return;
        }
    }
    ts_hdr_copy_str (in, "sort", sort, sizeof sort);
    bool desc = sort [0] == '-';
    const char *colname = desc || sort [0] == '+' ? sort + 1 : sort;
    int col = -1;
    for (int i = 0; i < S_NCOLS; i++)
        if (!strcmp (colname, s_col_names [i]))
            col = i;
    if (col < 0) {
        s_reply_error (self, to, "BAD_REQUEST", "field \"sort\": want one of group, records, "
                       "successes, success_rate, reward_mean, reward_max, pass@1, pass@5, pass@10");
        return;
    }
    int only_kind = 0;          /* 1 all pass, 2 all fail, 3 mixed */
    if (ts_hdr_copy_str (in, "only", only, sizeof only) && only [0]) {
        if (!strcmp (only, "pass")) only_kind = 1;
        else if (!strcmp (only, "fail")) only_kind = 2;
        else if (!strcmp (only, "mixed")) only_kind = 3;
        else {
            s_reply_error (self, to, "BAD_REQUEST", "field \"only\": want \"pass\", \"fail\" or \"mixed\"");
            return;
        }
    }
    int64_t limit = ts_hdr_get_int (in, "limit", 100);
    int64_t offset = ts_hdr_get_int (in, "offset", 0);
    if (limit < 1 || limit > S_GROUPS_LIMIT_MAX || offset < 0) {
        s_reply_error (self, to, "BAD_REQUEST", "field \"limit\" wants 1..100000 and \"offset\" >= 0");
        return;
    }
    if (!self->page_valid || self->page_version != self->stats_version || self->page_col != col
    ||  self->page_desc != desc || self->page_only != only_kind || self->page_offset != offset
    ||  self->page_limit != limit) {
        if (s_pack_groups_page (self, col, desc, only_kind, offset, limit)) {
            s_reply_error (self, to, "NO_MEMORY", "out of memory");
            return;
        }
    }
    /* the rows travel as a second frame: the api appends them to its
     * reply as the value of "groups" without walking them */
    ts_hdr_t *h = &self->hdr;
    s_reply_begin (self, "groups", 4);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "total", self->page_total);
    ts_hdr_key (h, "next");
    if (self->page_next >= 0)
        msgpack_pack_uint64 (&h->pk, (uint64_t) self->page_next);
    else
        msgpack_pack_nil (&h->pk);
    ts_hdr_str (h, "body", "groups");
    ts_hdr_send (h, zsock_resolve (self->query), to, self->page_rows.data, self->page_rows.size);
}

/*  Answers one query; returns false when it must wait for the statistics. */
static bool
s_answer (ts_agg_t *self, zmsg_t *msg)
{
    zframe_t *from = zmsg_first (msg);
    zframe_t *head = zmsg_next (msg);
    ts_hdrin_t in;
    if (!from)
        return true;
    if (!head) {
        s_reply_error (self, from, "BAD_REQUEST", "empty request");
        return true;
    }
    int rc = ts_hdr_parse (&in, zframe_data (head), zframe_size (head));
    self->has_rid = false;
    if (rc != TS_EPROTO) {
        ts_mp_reader_t rr;
        self->has_rid = ts_hdr_find (&in, "rid", &rr) && ts_mp_read_uint (&rr, &self->rid) == 0;
    }
    if (rc == TS_EVERSION) {
        s_reply_error (self, from, "VERSION", "unsupported protocol version (want \"v\": 1)");
        return true;
    }
    if (rc) {
        s_reply_error (self, from, "BAD_REQUEST", "request is not a msgpack map with \"v\" and \"t\"");
        return true;
    }
    if (!strcmp (in.type, "status"))
        s_reply_status (self, from);
    else if (!strcmp (in.type, "stats")) {
        if (self->unsynced > 0)
            return false;
        s_reply_stats (self, from);
    }
    else if (!strcmp (in.type, "groups")) {
        if (self->unsynced > 0)
            return false;
        s_reply_groups (self, from, &in);
    }
    else if (!strcmp (in.type, "job")) {
        char job [S_JOB_MAX];
        s_job_t *j = ts_hdr_copy_str (&in, "job", job, sizeof job) ? s_job (self, job, false) : NULL;
        if (!j)
            s_reply_error (self, from, "NOT_FOUND", "no such job");
        else {
            s_reply_begin (self, "job", 2);
            ts_hdr_bool (&self->hdr, "ok", true);
            ts_hdr_key (&self->hdr, "job");
            s_pack_job (&self->hdr.pk, j);
            ts_hdr_send (&self->hdr, zsock_resolve (self->query), from, NULL, 0);
        }
    }
    else {
        char m [96];
        snprintf (m, sizeof m, "unknown request type \"%s\"", in.type);
        s_reply_error (self, from, "UNKNOWN_OP", m);
    }
    return true;
}

static void
s_on_query (ts_agg_t *self)
{
    zmsg_t *msg = zmsg_recv (self->query);
    if (!msg)
        return;
    if (s_answer (self, msg)) {
        zmsg_destroy (&msg);
        return;
    }
    s_held_query_t *q = calloc (1, sizeof *q);
    if (!q) {
        zmsg_destroy (&msg);
        return;
    }
    q->msg = msg;
    q->since = s_now ();
    q->next = self->held_queries;
    self->held_queries = q;
}

static void
s_retry_queries (ts_agg_t *self)
{
    s_held_query_t **pp = &self->held_queries;
    int64_t now = s_now ();
    while (*pp) {
        s_held_query_t *q = *pp;
        bool done = s_answer (self, q->msg);
        if (!done && now - q->since > 5000) {
            s_reply_error (self, zmsg_first (q->msg), "UNAVAILABLE",
                           "statistics are being rebuilt from the shards; retry shortly");
            done = true;
        }
        if (done) {
            *pp = q->next;
            zmsg_destroy (&q->msg);
            free (q);
        }
        else
            pp = &q->next;
    }
}

/* --- the loop ------------------------------------------------------------- */

static void
s_tick (ts_agg_t *self)
{
    int64_t now = s_now ();
    bool lost = false;
    for (int i = 0; i < S_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (w->used && w->alive && now - w->last_seen > TS_WORKER_DEAD_MS) {
            s_worker_lost (self, i, "missed heartbeats");
            lost = true;
        }
    }
    /* a worker gone for a minute leaves the table (status shows it as
     * not alive until then, so an operator sees what happened) */
    for (int i = 0; i < S_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        bool owns = false;
        for (unsigned s = 0; s < self->nshards && !owns; s++)
            owns = self->owners [s] == i;
        if (w->used && !w->alive && !owns && now - w->last_seen > 60000) {
            zframe_destroy (&w->identity);
            memset (w, 0, sizeof *w);
        }
    }
    if (lost || (!self->assigned_once && now - self->started >= TS_REGISTER_GRACE_MS
                 && s_alive_count (self) > 0))
        s_assign (self);
    /* a gap that does not fill, or an ack waiting for a delta that never
     * comes (its worker died between commit and send): the deltas cannot
     * tell what happened, the shards' snapshots can */
    const char *why = NULL;
    for (unsigned s = 0; s < self->nshards && !why; s++)
        for (s_early_t *e = self->early [s]; e && !why; e = e->next)
            if (now - e->since > S_GAP_MS)
                why = "a gap in a shard's deltas did not fill";
    for (s_held_ack_t *a = self->held_acks; a && !why; a = a->next)
        if (now - a->since > S_ACK_WAIT_MS && self->unsynced == 0)
            why = "an acknowledgement waited too long for a delta";
    if (why) {
        s_start_rebuild (self, why);
        for (s_held_ack_t *a = self->held_acks; a; a = a->next)
            a->since = now;
    }
    if (self->unsynced)
        s_request_snapshots (self);
    if (self->held_queries)
        s_retry_queries (self);
}

int
ts_agg_run (ts_agg_t *self, volatile bool *stop)
{
    ts_info ("ready: %u shards, data %s", self->nshards, self->data_dir);
    int64_t next_tick = s_now () + 100;
    while (!*stop) {
        int64_t wait = next_tick - s_now ();
        void *which = zpoller_wait (self->poller, (int) (wait > 0 ? wait : 0));
        if (zpoller_terminated (self->poller) && !which)
            break;
        /* drain every socket before dispatching, so a burst is one pass */
        for (int round = 0; round < 1000; round++) {
            bool any = false;
            while (zsock_events (self->control) & ZMQ_POLLIN) { s_on_control (self); any = true; }
            while (zsock_events (self->ingest) & ZMQ_POLLIN) { s_on_ingest (self); any = true; }
            while (zsock_events (self->query) & ZMQ_POLLIN) { s_on_query (self); any = true; }
            s_dispatch (self);
            if (!any)
                break;
        }
        if (s_now () >= next_tick) {
            s_tick (self);
            next_tick = s_now () + 100;
        }
    }
    ts_info ("stopping");
    return 0;
}
