/*  ts_worker.c: the worker (ts_worker.h; messages in shared/ts_proto.h).
 *
 *  The loop: drain every socket; parse at most one chunk; commit the
 *  shards whose batches are due; heartbeat, resend and retry on timers.
 *  A shard commits when TS_COMMIT_RECORDS records wait for it, when its
 *  oldest batch has waited S_BUSY_DELAY_MS while the worker is busy, or as
 *  soon as the worker has nothing else to do and the aggregator said no
 *  more chunks were queued ("backlog" of the last "work"): during an
 *  import transactions grow to what the producers' window holds (Kyoto
 *  Cabinet rewrites every dirty leaf at commit, so fewer, larger commits
 *  cost much less a record), and when idle latency stays low. While
 *  producers are still sending ("more"), a shard commits when idle only
 *  S_COMMIT_SPACING times its last commit's duration after it: a worker
 *  that keeps up with its input then spends at most a tenth of its time
 *  committing, however large (and slow to commit) its shards grow.
 */
#include "ts_worker.h"
#include "ts_config.h"
#include "ts_error.h"
#include "ts_input.h"
#include "ts_log.h"
#include "ts_map.h"
#include "ts_msg.h"
#include "ts_parse.h"
#include "ts_proto.h"
#include "ts_store.h"
#include "ts_warn.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_WORKERS   256
#define S_JOB_MAX       64
#define S_TX_RECORDS    TS_COMMIT_RECORDS         /* largest transaction */
#define S_BUSY_DELAY_MS 1000                      /* longest wait under load */
#define S_IDLE_MS       2                         /* quiet this long: commit */
#define S_BACKLOG_MS    100  /* more work was announced but has not come: commit */
#define S_COMMIT_SPACING 10  /* idle commits at least this many durations apart */

/*  A batch waiting in an owned shard's queue. */
typedef struct s_batch {
    zframe_t *from;             /* sender on the peer socket; NULL: local */
    char      job [S_JOB_MAX];
    uint64_t  chunk;
    uint32_t  shard;
    uint32_t  n;
    zframe_t *payload;          /* received from a peer, or */
    ts_zref_t *blob;            /* parsed here: the part's records */
    int64_t   received;
    struct s_batch *next;
} s_batch_t;

typedef struct {
    ts_store_t *store;
    bool        wanted;         /* the map gives it to us */
    bool        snap_wanted;
    int64_t     next_open;      /* when to retry a failed open */
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
    char      job [S_JOB_MAX];
    uint64_t  chunk;
    uint64_t  lines, blank, rejected, imported, duplicates;
    ts_buf_t  rejects;          /* packed [line, reason] pairs */
    uint32_t  nrejects;
    ts_warn_t warnings;         /* fields left unknown (ts_warn.h) */
    s_part_t *parts;
    uint32_t  nparts, outstanding;
} s_pending_t;

/*  A chunk received, not yet parsed. */
typedef struct s_work {
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

    /* the map */
    uint64_t   epoch;
    uint64_t   incarnation;
    unsigned   nshards;
    int       *owners;
    int        me;              /* my slot in the map, -1 unknown */
    s_peer_t   peers [S_MAX_WORKERS];
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

static ts_worker_read_fn *s_read_handler;
static void s_heartbeat (ts_worker_t *self);

void
ts_worker_set_read_handler (ts_worker_read_fn *fn)
{
    s_read_handler = fn;
}

static int64_t
s_now (void)
{
    return zclock_mono ();
}


static void
s_pending_free (void *p)
{
    s_pending_t *c = p;
    for (uint32_t i = 0; i < c->nparts; i++)
        ts_zref_unref (&c->parts [i].payload);
    free (c->parts);
    ts_buf_free (&c->rejects);
    ts_warn_free (&c->warnings);
    free (c);
}

static void
s_parser_free (void *p)
{
    ts_parser_t *ps = p;
    ts_parser_destroy (&ps);
}

static void
s_batch_free (s_batch_t *b)
{
    zframe_destroy (&b->from);
    zframe_destroy (&b->payload);
    ts_zref_unref (&b->blob);
    free (b);
}

/* --- construction ------------------------------------------------------- */

ts_worker_t *
ts_worker_new (const ts_worker_config_t *cfg, char *err, size_t err_size)
{
    ts_worker_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    snprintf (self->name, sizeof self->name, "%s", cfg->name);
    snprintf (self->data_dir, sizeof self->data_dir, "%s", cfg->data_dir);
    snprintf (self->peer_advertise, sizeof self->peer_advertise, "%s",
              cfg->peer_advertise ? cfg->peer_advertise : cfg->peer_bind);
    snprintf (self->tuning, sizeof self->tuning, "%s", cfg->tuning ? cfg->tuning : TS_STORE_TUNING);
    self->me = -1;
    self->ref_fd = -1;
    self->pending = ts_map_new (s_pending_free);
    self->parsers = ts_map_new (s_parser_free);
    char shards_dir [TS_PATH_MAX + 16];
    snprintf (shards_dir, sizeof shards_dir, "%s/shards", self->data_dir);
    int rc = ts_config_mkdirs (shards_dir);
    if (rc) {
        snprintf (err, err_size, "%s: cannot create: %s", shards_dir, strerror (-rc));
        ts_worker_destroy (&self);
        return NULL;
    }
    self->peer = zsock_new (ZMQ_ROUTER);
    self->ctrl = zsock_new (ZMQ_DEALER);
    if (!self->pending || !self->parsers || !self->peer || !self->ctrl) {
        snprintf (err, err_size, "out of memory");
        ts_worker_destroy (&self);
        return NULL;
    }
    zsock_set_sndhwm (self->peer, 0);
    zsock_set_rcvhwm (self->peer, 0);
    zsock_set_linger (self->peer, 0);
    zsock_set_router_mandatory (self->peer, 0);
    if (zsock_bind (self->peer, "%s", cfg->peer_bind) < 0) {
        snprintf (err, err_size, "cannot bind %s: %s", cfg->peer_bind, zmq_strerror (zmq_errno ()));
        ts_worker_destroy (&self);
        return NULL;
    }
    zsock_set_sndhwm (self->ctrl, 0);
    zsock_set_rcvhwm (self->ctrl, 0);
    zsock_set_linger (self->ctrl, 2000);     /* let "leave" and the last acks out */
    zsock_set_identity (self->ctrl, self->name);
    if (zsock_connect (self->ctrl, "%s", cfg->control) < 0) {
        snprintf (err, err_size, "cannot connect to %s: %s", cfg->control, zmq_strerror (zmq_errno ()));
        ts_worker_destroy (&self);
        return NULL;
    }
    return self;
}

static void
s_close_shard (ts_worker_t *self, unsigned s)
{
    if (self->shards && self->shards [s].store) {
        ts_store_destroy (&self->shards [s].store);
        ts_info ("closed shard %u", s);
    }
}

void
ts_worker_destroy (ts_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_worker_t *self = *self_p;
    for (unsigned s = 0; s < self->nshards; s++) {
        s_close_shard (self, s);
        s_batch_t *b = self->shards [s].head;
        while (b) {
            s_batch_t *next = b->next;
            s_batch_free (b);
            b = next;
        }
        ts_buf_free (&self->shard_bufs [s]);
    }
    while (self->work_head) {
        s_work_t *w = self->work_head;
        self->work_head = w->next;
        zframe_destroy (&w->header);
        zframe_destroy (&w->payload);
        free (w);
    }
    for (int i = 0; i < S_MAX_WORKERS; i++)
        zsock_destroy (&self->peers [i].dealer);
    zsock_destroy (&self->ctrl);
    zsock_destroy (&self->peer);
    ts_map_destroy (&self->pending);
    ts_map_destroy (&self->parsers);
    free (self->owners);
    free (self->shards);
    free (self->shard_bufs);
    free (self->shard_counts);
    ts_buf_free (&self->scratch);
    ts_buf_free (&self->chunkbuf);
    if (self->ref_fd >= 0)
        close (self->ref_fd);
    ts_buf_free (&self->delta);
    ts_hdr_free (&self->hdr);
    free (self);
    *self_p = NULL;
}

struct ts_store *
ts_worker_store (ts_worker_t *self, unsigned shard)
{
    return shard < self->nshards ? self->shards [shard].store : NULL;
}

void
ts_worker_heartbeat (ts_worker_t *self)
{
    if (s_now () >= self->next_hb) {
        s_heartbeat (self);
        self->next_hb = s_now () + TS_HEARTBEAT_MS;
    }
}

unsigned
ts_worker_nshards (const ts_worker_t *self)
{
    return self->nshards;
}

unsigned long long
ts_worker_epoch (const ts_worker_t *self)
{
    return self->epoch;
}

/* --- talking to the aggregator --------------------------------------------- */

static void
s_register (ts_worker_t *self)
{
    ts_hdr_t *h = &self->hdr;
    int held = 0;
    for (unsigned s = 0; s < self->nshards; s++)
        held += self->shards [s].store != NULL;
    int credit = TS_WORKER_CREDIT - (int) self->work_count;
    ts_hdr_begin (h, "register", 5);
    ts_hdr_str (h, "worker", self->name);
    ts_hdr_str (h, "peer", self->peer_advertise);
    ts_hdr_int (h, "pid", getpid ());
    ts_hdr_int (h, "credit", credit > 0 ? credit : 0);
    ts_hdr_key (h, "shards");
    msgpack_pack_array (&h->pk, held);
    for (unsigned s = 0; s < self->nshards; s++)
        if (self->shards [s].store)
            msgpack_pack_uint32 (&h->pk, s);
    ts_hdr_send (h, zsock_resolve (self->ctrl), NULL, NULL, 0);
    self->registered = true;
}

static void
s_heartbeat (ts_worker_t *self)
{
    ts_hdr_t *h = &self->hdr;
    int held = 0;
    uint64_t queued = 0;
    const char *error = self->last_error [0] ? self->last_error : NULL;
    for (unsigned s = 0; s < self->nshards; s++) {
        held += self->shards [s].store != NULL;
        queued += self->shards [s].queued;
        if (self->shards [s].wanted && self->shards [s].error [0])
            error = self->shards [s].error;
    }
    ts_hdr_begin (h, "hb", error ? 5 : 4);
    ts_hdr_str (h, "worker", self->name);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_int (h, "held", held);
    ts_hdr_uint (h, "queued", queued);
    if (error)
        ts_hdr_str (h, "error", error);
    ts_hdr_send (h, zsock_resolve (self->ctrl), NULL, NULL, 0);
}

static void
s_send_credit (ts_worker_t *self, int n)
{
    ts_hdr_begin (&self->hdr, "credit", 1);
    ts_hdr_int (&self->hdr, "n", n);
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
}

/* --- pending chunks ------------------------------------------------------- */

static void s_deliver (ts_worker_t *self, s_pending_t *p, s_part_t *part);

/*  Every part committed (or one failed): report the chunk. */
static void
s_chunk_finish (ts_worker_t *self, s_pending_t *p, int code, const char *msg)
{
    ts_hdr_t *h = &self->hdr;
    if (code) {
        ts_hdr_begin (h, "chunkdone", 4);
        ts_hdr_str (h, "job", p->job);
        ts_hdr_uint (h, "chunk", p->chunk);
        ts_hdr_int (h, "code", code);
        ts_hdr_str (h, "msg", msg);
    }
    else {
        ts_hdr_begin (h, "chunkdone", 10);
        ts_hdr_str (h, "job", p->job);
        ts_hdr_uint (h, "chunk", p->chunk);
        ts_hdr_uint (h, "lines", p->lines);
        ts_hdr_uint (h, "blank", p->blank);
        ts_hdr_uint (h, "imported", p->imported);
        ts_hdr_uint (h, "duplicates", p->duplicates);
        ts_hdr_uint (h, "rejected", p->rejected);
        ts_hdr_key (h, "rejects");
        msgpack_pack_array (&h->pk, p->nrejects);
        ts_buf_append (&h->buf, p->rejects.data, p->rejects.size);
        ts_hdr_key (h, "warnings");
        ts_warn_pack (&p->warnings, &h->pk);
        ts_hdr_key (h, "seqs");
        msgpack_pack_array (&h->pk, p->nparts);
        for (uint32_t i = 0; i < p->nparts; i++) {
            msgpack_pack_array (&h->pk, 2);
            msgpack_pack_uint32 (&h->pk, p->parts [i].shard);
            msgpack_pack_uint64 (&h->pk, p->parts [i].seq);
        }
    }
    ts_hdr_send (h, zsock_resolve (self->ctrl), NULL, NULL, 0);
    char key [S_JOB_MAX + 16];
    ts_map_delete (self->pending, key, ts_chunk_key (key, p->job, p->chunk));
}

/*  A part's answer: committed (counts and the commit's sequence), failed
 *  (code and message), or refused because the owner moved (code == 1). */
static void
s_on_part_done (ts_worker_t *self, const char *job, uint64_t chunk, uint32_t shard,
                uint32_t imported, uint32_t duplicates, uint64_t seq, int code, const char *msg)
{
    char key [S_JOB_MAX + 16];
    s_pending_t *p = ts_map_get (self->pending, key, ts_chunk_key (key, job, chunk));
    if (!p)
        return;                         /* a late repeat */
    s_part_t *part = NULL;
    for (uint32_t i = 0; i < p->nparts; i++)
        if (p->parts [i].shard == shard)
            part = &p->parts [i];
    if (!part || part->done)
        return;
    if (code == 1) {                    /* not the owner: resend on a newer map */
        part->sent = 0;
        if (self->epoch > part->epoch_sent)
            s_deliver (self, p, part);
        return;
    }
    if (code) {
        s_chunk_finish (self, p, code, msg);
        return;
    }
    part->done = true;
    part->seq = seq;
    ts_zref_unref (&part->payload);
    p->imported += imported;
    p->duplicates += duplicates;
    if (--p->outstanding == 0)
        s_chunk_finish (self, p, 0, NULL);
}

/* --- owned shards: queue and commit ---------------------------------------- */

static void
s_enqueue (ts_worker_t *self, s_batch_t *b)
{
    s_shard_t *sh = &self->shards [b->shard];
    b->received = s_now ();
    if (!sh->head)
        sh->oldest = b->received;
    if (sh->tail)
        sh->tail->next = b;
    else
        sh->head = b;
    sh->tail = b;
    sh->queued += b->n;
}

/*  Answers one batch: to a peer over the peer socket, or locally. */
static void
s_answer_batch (ts_worker_t *self, s_batch_t *b, uint32_t imported, uint32_t duplicates,
                uint64_t seq, int code, const char *msg)
{
    if (!b->from) {
        s_on_part_done (self, b->job, b->chunk, b->shard, imported, duplicates, seq, code, msg);
        return;
    }
    ts_hdr_t *h = &self->hdr;
    if (code == 1) {
        ts_hdr_begin (h, "notowner", 4);
        ts_hdr_str (h, "job", b->job);
        ts_hdr_uint (h, "chunk", b->chunk);
        ts_hdr_uint (h, "shard", b->shard);
        ts_hdr_uint (h, "epoch", self->epoch);
    }
    else if (code) {
        ts_hdr_begin (h, "batchdone", 5);
        ts_hdr_str (h, "job", b->job);
        ts_hdr_uint (h, "chunk", b->chunk);
        ts_hdr_uint (h, "shard", b->shard);
        ts_hdr_int (h, "code", code);
        ts_hdr_str (h, "msg", msg);
    }
    else {
        ts_hdr_begin (h, "batchdone", 6);
        ts_hdr_str (h, "job", b->job);
        ts_hdr_uint (h, "chunk", b->chunk);
        ts_hdr_uint (h, "shard", b->shard);
        ts_hdr_uint (h, "imported", imported);
        ts_hdr_uint (h, "duplicates", duplicates);
        ts_hdr_uint (h, "seq", seq);
    }
    ts_hdr_send (h, zsock_resolve (self->peer), b->from, NULL, 0);
}

/*  Fails (or bounces, code 1) every batch queued for shard s. */
static void
s_drain_queue (ts_worker_t *self, unsigned s, int code, const char *msg)
{
    s_shard_t *sh = &self->shards [s];
    while (sh->head) {
        s_batch_t *b = sh->head;
        sh->head = b->next;
        s_answer_batch (self, b, 0, 0, 0, code, msg);
        s_batch_free (b);
    }
    sh->tail = NULL;
    sh->queued = 0;
}

static void
s_send_snapshot (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    self->scratch.size = 0;
    int rc = ts_store_snapshot (sh->store, &self->scratch);
    if (rc) {
        ts_error ("shard %u: snapshot failed: %s", s, ts_strerror (rc));
        return;
    }
    ts_hdr_begin (&self->hdr, "snap", 2);
    ts_hdr_uint (&self->hdr, "shard", s);
    ts_hdr_uint (&self->hdr, "seq", ts_store_seq (sh->store));
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, self->scratch.data, self->scratch.size);
    sh->snap_wanted = false;
}

/*  Opens a shard the map gives us. The previous owner may still hold the
 *  file while it finishes its last batch: the lock says so (TS_ELOCKED),
 *  and we try again shortly. */
static void
s_try_open (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    if (sh->store || !sh->wanted || s_now () < sh->next_open)
        return;
    char path [TS_PATH_MAX + 32], emsg [512];
    int err;
    ts_config_shard_path (self->data_dir, s, path, sizeof path);
    sh->store = ts_store_open (path, self->tuning, &err, emsg, sizeof emsg);
    if (!sh->store) {
        sh->next_open = s_now () + (err == TS_ELOCKED ? 50 : 1000);
        if (err != TS_ELOCKED) {
            if (strcmp (sh->error, emsg))
                ts_error ("shard %u: %s", s, emsg);
            snprintf (sh->error, sizeof sh->error, "%s", emsg);
            sh->open_error = err;
            /* batches waiting for it cannot be stored: say why, once */
            s_drain_queue (self, s, err, emsg);
        }
        return;
    }
    sh->error [0] = 0;
    sh->open_error = 0;
    ts_info ("opened shard %u (epoch %" PRIu64 ", %" PRIu64 " records)", s, self->epoch,
             ts_store_count (sh->store));
    if (sh->snap_wanted)
        s_send_snapshot (self, s);
}

/*  CPU time of this thread: a commit's wall time on a busy machine also
 *  counts the time other processes ran. */
static int64_t
s_cpu_usecs (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*  After a failed write into shard s: its error for `trajstore health`,
 *  and leaving when the handle cannot be used again. */
static void
s_store_failed (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    snprintf (sh->error, sizeof sh->error, "%s", ts_store_errmsg (sh->store));
    if (ts_store_is_broken (sh->store) && !self->fatal) {
        ts_error ("shard %u cannot be used again by this process: leaving, so that "
                  "a restart reopens it at its last commit", s);
        self->fatal = true;
    }
}

/*  Writes the ids that wait in shard s's memory into its id index. */
static void
s_flush_ids (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    int64_t t0 = zclock_usecs ();
    size_t n = ts_store_pending_ids (sh->store);
    if (ts_store_flush_ids (sh->store)) {
        ts_error ("shard %u: writing %zu ids into the id index failed: %s", s, n,
                  ts_store_errmsg (sh->store));
        s_store_failed (self, s);
    }
    else
        ts_debug ("shard %u: %zu ids into the id index in %.2f ms", s, n,
                  (double) (zclock_usecs () - t0) / 1000.0);
    ts_worker_heartbeat (self);
}

/*  Commits what waits for shard s, in transactions of up to S_TX_RECORDS,
 *  sends the totals delta to the aggregator, then answers each batch. The
 *  delta goes first: the aggregator holds a chunk's ack until the
 *  statistics include its commits, so the order only saves it waiting. */
static void
s_commit (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    if (!sh->head)
        return;
    if (!sh->wanted) {
        s_drain_queue (self, s, 1, "not the owner");
        return;
    }
    if (!sh->store) {
        s_try_open (self, s);
        if (!sh->store)
            return;
    }
    int64_t started = s_now ();
    while (sh->head) {
        ts_batch_t batches [512];
        ts_batch_result_t results [512];
        s_batch_t *list [512];
        size_t n = 0;
        uint32_t records = 0;
        for (s_batch_t *b = sh->head; b && n < 512 && (n == 0 || records + b->n <= S_TX_RECORDS); b = b->next) {
            batches [n].job = b->job;
            batches [n].job_len = strlen (b->job);
            batches [n].chunk = b->chunk;
            batches [n].records = b->blob ? b->blob->data : (const char *) zframe_data (b->payload);
            batches [n].records_len = b->blob ? b->blob->size : zframe_size (b->payload);
            batches [n].nrecords = b->n;
            list [n++] = b;
            records += b->n;
        }
        self->delta.size = 0;
        int64_t t0 = zclock_usecs (), c0 = s_cpu_usecs ();
        int rc = ts_store_put_batches_delta (sh->store, batches, n, results, &self->delta);
        ts_debug ("shard %u: committed %zu batches, %u records in %.2f ms (%.2f ms CPU)", s, n,
                  records, (double) (zclock_usecs () - t0) / 1000.0,
                  (double) (s_cpu_usecs () - c0) / 1000.0);
        uint64_t seq = ts_store_seq (sh->store);
        if (rc == 0 && self->delta.size) {
            ts_hdr_begin (&self->hdr, "delta", 2);
            ts_hdr_uint (&self->hdr, "shard", s);
            ts_hdr_uint (&self->hdr, "seq", seq);
            ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, self->delta.data, self->delta.size);
        }
        if (rc) {
            ts_error ("shard %u: commit of %zu batches failed: %s", s, n, ts_store_errmsg (sh->store));
            s_store_failed (self, s);
        }
        /* unlink, then answer (answering a local batch may queue more) */
        sh->head = list [n - 1]->next;
        if (!sh->head)
            sh->tail = NULL;
        sh->queued -= records;
        sh->oldest = sh->head ? sh->head->received : 0;
        for (size_t i = 0; i < n; i++) {
            if (rc)
                s_answer_batch (self, list [i], 0, 0, 0, rc, ts_store_errmsg (sh->store));
            else
                s_answer_batch (self, list [i], results [i].imported, results [i].duplicates, seq, 0, NULL);
            s_batch_free (list [i]);
        }
        /* a commit into a large store can take a second on a busy machine,
         * and several shards commit in a row: stay alive between them */
        ts_worker_heartbeat (self);
        if (rc)
            break;
    }
    sh->committed_at = s_now ();
    sh->commit_ms = sh->committed_at - started;
}

/* --- parsing ---------------------------------------------------------------- */

/*  Sends a part to its shard's owner (or queues it here). */
static void
s_deliver (ts_worker_t *self, s_pending_t *p, s_part_t *part)
{
    int owner = self->owners ? self->owners [part->shard] : -1;
    part->epoch_sent = self->epoch;
    part->sent = s_now ();
    part->sent_to = owner;
    if (owner < 0)
        return;                         /* no owner yet: the timer retries */
    if (owner == self->me) {
        s_batch_t *b = calloc (1, sizeof *b);
        if (!b)
            return;
        snprintf (b->job, sizeof b->job, "%s", p->job);
        b->chunk = p->chunk;
        b->shard = part->shard;
        b->n = part->n;
        b->blob = ts_zref_ref (part->payload);
        s_enqueue (self, b);
        return;
    }
    s_peer_t *peer = &self->peers [owner];
    if (!peer->dealer)
        return;
    ts_hdr_t *h = &self->hdr;
    ts_hdr_begin (h, "batch", 5);
    ts_hdr_str (h, "job", p->job);
    ts_hdr_uint (h, "chunk", p->chunk);
    ts_hdr_uint (h, "shard", part->shard);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_uint (h, "n", part->n);
    void *sock = zsock_resolve (peer->dealer);
    if (zmq_send (sock, h->buf.data, h->buf.size, ZMQ_SNDMORE) >= 0)
        ts_zref_send (part->payload, sock, 0);
}

static ts_parser_t *
s_parser (ts_worker_t *self, const char *spec, char *err, size_t err_size)
{
    ts_parser_t *ps = ts_map_get (self->parsers, spec, strlen (spec));
    if (ps)
        return ps;
    ts_profile_t prof;
    if (ts_profile_parse (spec, &prof, err, err_size))
        return NULL;
    ps = ts_parser_new (&prof);
    if (!ps || ts_map_put (self->parsers, spec, strlen (spec), ps)) {
        ts_parser_destroy (&ps);
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    return ps;
}

static void
s_add_reject (s_pending_t *p, uint64_t line, const char *reason)
{
    p->rejected++;
    if (p->nrejects >= TS_REJECTS_PER_CHUNK)
        return;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &p->rejects, ts_buf_packer_write);
    msgpack_pack_array (&pk, 2);
    msgpack_pack_uint64 (&pk, line);
    ts_mp_pack_cstr (&pk, reason);
    p->nrejects++;
}

/*  Reads the lines of a chunk sent as a reference ("file", "off", "fid",
 *  "bytes") into chunkbuf, followed by the parser's padding. 0, or
 *  TS_ENOINPUT with the reason in `err`: the producer then sends the
 *  bytes themselves. */
static int
s_read_ref (ts_worker_t *self, const ts_hdrin_t *in, char *err, size_t err_size)
{
    uint32_t flen = 0, fidlen = 0;
    const char *file = ts_hdr_get_str (in, "file", &flen);
    const char *fid = ts_hdr_get_str (in, "fid", &fidlen);
    uint64_t off = ts_hdr_get_uint (in, "off", 0);
    uint64_t bytes = ts_hdr_get_uint (in, "bytes", 0);
    if (!file || !fid || flen == 0 || flen >= sizeof self->ref_path || bytes > (UINT64_C (1) << 32)) {
        snprintf (err, err_size, "a chunk reference without a usable file, identity or size");
        return TS_ENOINPUT;
    }
    if (self->ref_fd < 0 || strlen (self->ref_path) != flen || memcmp (self->ref_path, file, flen)) {
        if (self->ref_fd >= 0)
            close (self->ref_fd);
        memcpy (self->ref_path, file, flen);
        self->ref_path [flen] = 0;
        self->ref_fd = open (self->ref_path, O_RDONLY | O_CLOEXEC);
        if (self->ref_fd < 0) {
            snprintf (err, err_size, "worker %s cannot open %s: %s", self->name, self->ref_path,
                      strerror (errno));
            self->ref_path [0] = 0;
            return TS_ENOINPUT;
        }
    }
    struct stat st;
    char id [TS_FILE_ID_MAX];
    if (fstat (self->ref_fd, &st)) {
        snprintf (err, err_size, "worker %s cannot stat %s: %s", self->name, self->ref_path,
                  strerror (errno));
        return TS_ENOINPUT;
    }
    ts_file_id (&st, id, sizeof id);
    if (strlen (id) != fidlen || memcmp (id, fid, fidlen)) {
        /* another file by that name, or the same one changed since the
         * producer opened it: reopened for the next chunk */
        snprintf (err, err_size, "%s is not the file the producer reads (changed, or another "
                  "machine's)", self->ref_path);
        close (self->ref_fd);
        self->ref_fd = -1;
        return TS_ENOINPUT;
    }
    self->chunkbuf.size = 0;
    if (ts_buf_reserve (&self->chunkbuf, (size_t) bytes + TS_PARSE_PADDING)) {
        snprintf (err, err_size, "out of memory");
        return TS_ENOINPUT;
    }
    ssize_t n = ts_pread_full (self->ref_fd, self->chunkbuf.data, (size_t) bytes, off);
    if (n < 0 || (uint64_t) n < bytes) {
        snprintf (err, err_size, "worker %s cannot read %s at %" PRIu64 ": %s", self->name,
                  self->ref_path, off + (uint64_t) (n < 0 ? 0 : n),
                  n < 0 ? strerror ((int) -n) : "the file ends there");
        return TS_ENOINPUT;
    }
    memset (self->chunkbuf.data + bytes, 0, TS_PARSE_PADDING);
    self->chunkbuf.size = (size_t) bytes;
    return 0;
}

/*  Parses one chunk into per-shard parts and sends them on. */
static void
s_parse_chunk (ts_worker_t *self, s_work_t *w)
{
    ts_hdrin_t in;
    char job [S_JOB_MAX], profile [1024] = "default", err [512];
    if (ts_hdr_parse (&in, zframe_data (w->header), zframe_size (w->header))
    ||  !ts_hdr_copy_str (&in, "job", job, sizeof job)) {
        self->dropped++;
        return;
    }
    uint64_t chunk = ts_hdr_get_uint (&in, "chunk", 0);
    uint64_t line0 = ts_hdr_get_uint (&in, "line0", 1);
    ts_hdr_copy_str (&in, "profile", profile, sizeof profile);
    char key [S_JOB_MAX + 16];
    size_t klen = ts_chunk_key (key, job, chunk);
    if (ts_map_get (self->pending, key, klen))
        return;                         /* already waiting for its parts */

    s_pending_t *p = calloc (1, sizeof *p);
    if (!p)
        return;
    snprintf (p->job, sizeof p->job, "%s", job);
    p->chunk = chunk;
    if (ts_map_put (self->pending, key, klen, p)) {
        s_pending_free (p);
        return;
    }
    ts_parser_t *ps = s_parser (self, profile, err, sizeof err);
    if (!ps) {
        char m [sizeof profile + sizeof err + 32];
        snprintf (m, sizeof m, "bad profile '%s': %s", profile, err);
        s_chunk_finish (self, p, TS_EINVAL, m);
        return;
    }
    if (!self->nshards) {               /* no map yet: cannot route */
        s_chunk_finish (self, p, TS_EBUSY, "worker has no shard map yet");
        return;
    }
    for (unsigned s = 0; s < self->nshards; s++) {
        self->shard_bufs [s].size = 0;
        self->shard_counts [s] = 0;
    }
    /* Lines are parsed where they are: simdjson reads a little past each
     * line's end, which inside the chunk is the next lines. The lines that
     * end too close to the chunk's end are parsed from a padded copy. */
    const char *at = (const char *) zframe_data (w->payload);
    const char *end = at + zframe_size (w->payload);
    bool padded = false;
    if (ts_hdr_get_str (&in, "file", NULL)) {
        int rc = s_read_ref (self, &in, err, sizeof err);
        if (rc) {
            s_chunk_finish (self, p, rc, err);
            return;
        }
        at = self->chunkbuf.data;
        end = at + self->chunkbuf.size;
        padded = true;                  /* read with the padding after it */
    }
    uint64_t line = line0;
    int64_t now_ms = ts_now_ms ();
    char reason [512];
    while (at < end) {
        const char *nl = memchr (at, '\n', (size_t) (end - at));
        size_t llen = nl ? (size_t) (nl - at) : (size_t) (end - at);
        if (!padded && (size_t) (end - at) < llen + TS_PARSE_PADDING) {
            size_t rest = (size_t) (end - at);
            self->chunkbuf.size = 0;
            if (ts_buf_reserve (&self->chunkbuf, rest + TS_PARSE_PADDING)) {
                s_chunk_finish (self, p, TS_ENOMEM, "out of memory");
                return;
            }
            memcpy (self->chunkbuf.data, at, rest);
            memset (self->chunkbuf.data + rest, 0, TS_PARSE_PADDING);
            at = self->chunkbuf.data;
            end = at + rest;
            nl = nl ? at + llen : NULL;
            padded = true;
        }
        p->lines++;
        if (ts_line_is_blank (at, llen))
            p->blank++;
        else {
            ts_summary_t sum;
            self->scratch.size = 0;
            int rc = ts_parser_parse (ps, at, llen, now_ms, &self->scratch, &sum, reason, sizeof reason);
            if (rc == TS_EBADLINE)
                s_add_reject (p, line, reason);
            else if (rc)
                s_add_reject (p, line, ts_strerror (rc));
            else {
                const ts_parse_warning_t *wl;
                int nw = ts_parser_warnings (ps, &wl);
                for (int i = 0; i < nw; i++)
                    ts_warn_add (&p->warnings, wl [i].field, strlen (wl [i].field),
                                 wl [i].reason, strlen (wl [i].reason), 1, line);
                uint32_t s = ts_shard_of (sum.id, sum.id_len, self->nshards);
                msgpack_packer pk;
                msgpack_packer_init (&pk, &self->shard_bufs [s], ts_buf_packer_write);
                msgpack_pack_bin (&pk, self->scratch.size);
                msgpack_pack_bin_body (&pk, self->scratch.data, self->scratch.size);
                self->shard_counts [s]++;
            }
        }
        line++;
        at = nl ? nl + 1 : end;
    }
    uint32_t nparts = 0;
    for (unsigned s = 0; s < self->nshards; s++)
        nparts += self->shard_counts [s] > 0;
    if (nparts == 0) {
        s_chunk_finish (self, p, 0, NULL);
        return;
    }
    p->parts = calloc (nparts, sizeof *p->parts);
    if (!p->parts) {
        s_chunk_finish (self, p, TS_ENOMEM, "out of memory");
        return;
    }
    for (unsigned s = 0; s < self->nshards; s++) {
        if (!self->shard_counts [s])
            continue;
        s_part_t *part = &p->parts [p->nparts++];
        part->shard = s;
        part->n = self->shard_counts [s];
        /* the part takes the buffer; room for the next chunk's is reserved
         * now without being touched (pages come when written) */
        ts_buf_t *sb = &self->shard_bufs [s];
        char *data = realloc (sb->data, sb->size);      /* shrinks in place */
        if (data)
            sb->data = data;
        part->payload = ts_zref_new (sb->data, sb->size);
        if (part->payload)
            *sb = (ts_buf_t) { 0 };
        if (!part->payload || ts_buf_reserve (sb, part->payload->size)) {
            s_chunk_finish (self, p, TS_ENOMEM, "out of memory");
            return;
        }
    }
    p->outstanding = p->nparts;
    for (uint32_t i = 0; i < p->nparts; i++)
        s_deliver (self, p, &p->parts [i]);
}

/* --- the map ----------------------------------------------------------------- */

static int
s_resize (ts_worker_t *self, unsigned nshards)
{
    if (self->nshards == nshards)
        return 0;
    if (self->nshards) {
        ts_error ("the shard count changed from %u to %u: refusing", self->nshards, nshards);
        return TS_EINVAL;
    }
    self->owners = malloc (nshards * sizeof *self->owners);
    self->shards = calloc (nshards, sizeof *self->shards);
    self->shard_bufs = calloc (nshards, sizeof *self->shard_bufs);
    self->shard_counts = calloc (nshards, sizeof *self->shard_counts);
    if (!self->owners || !self->shards || !self->shard_bufs || !self->shard_counts)
        return TS_ENOMEM;
    for (unsigned s = 0; s < nshards; s++)
        self->owners [s] = -1;
    self->nshards = nshards;
    return 0;
}

static void
s_on_map (ts_worker_t *self, ts_hdrin_t *in)
{
    uint64_t epoch = ts_hdr_get_uint (in, "epoch", 0);
    uint64_t inc = ts_hdr_get_uint (in, "inc", 0);
    unsigned nshards = (unsigned) ts_hdr_get_uint (in, "nshards", 0);
    if (nshards == 0 || nshards > TS_MAX_SHARDS || s_resize (self, nshards))
        return;
    if (inc == self->incarnation && epoch < self->epoch)
        return;                         /* an old map */
    ts_mp_reader_t r;
    uint32_t n;
    if (!ts_hdr_find (in, "owners", &r) || ts_mp_read_array (&r, &n) || n != nshards)
        return;
    int owners [TS_MAX_SHARDS];
    for (uint32_t s = 0; s < n; s++) {
        int64_t o;
        if (ts_mp_read_int (&r, &o))
            return;
        owners [s] = o >= 0 && o < S_MAX_WORKERS ? (int) o : -1;
    }
    /* workers: [[name, peer] | nil ...] by slot */
    if (!ts_hdr_find (in, "workers", &r) || ts_mp_read_array (&r, &n) || n > S_MAX_WORKERS)
        return;
    int me = -1;
    for (uint32_t i = 0; i < n; i++) {
        ts_mp_item_t it;
        ts_mp_reader_t peek = r;
        if (ts_mp_next (&peek, &it))
            return;
        s_peer_t *pe = &self->peers [i];
        if (it.type == TS_MP_NIL) {
            r = peek;
            zsock_destroy (&pe->dealer);
            pe->name [0] = pe->peer [0] = 0;
            continue;
        }
        uint32_t two, nl, pl;
        const char *name, *peer;
        if (ts_mp_read_array (&r, &two) || two != 2 || ts_mp_read_str (&r, &name, &nl)
        ||  ts_mp_read_str (&r, &peer, &pl) || nl >= sizeof pe->name || pl >= sizeof pe->peer)
            return;
        if (nl == strlen (self->name) && !memcmp (name, self->name, nl)) {
            me = (int) i;
            zsock_destroy (&pe->dealer);
        }
        else if (!pe->dealer || strlen (pe->peer) != pl || memcmp (pe->peer, peer, pl)) {
            zsock_destroy (&pe->dealer);
            char ep [256];
            memcpy (ep, peer, pl);
            ep [pl] = 0;
            pe->dealer = zsock_new (ZMQ_DEALER);
            if (pe->dealer) {
                zsock_set_sndhwm (pe->dealer, 0);
                zsock_set_rcvhwm (pe->dealer, 0);
                zsock_set_linger (pe->dealer, 0);
                if (zsock_connect (pe->dealer, "%s", ep) < 0)
                    zsock_destroy (&pe->dealer);
            }
        }
        memcpy (pe->name, name, nl);
        pe->name [nl] = 0;
        memcpy (pe->peer, peer, pl);
        pe->peer [pl] = 0;
    }
    for (uint32_t i = n; i < S_MAX_WORKERS; i++)
        zsock_destroy (&self->peers [i].dealer);
    bool changed = epoch != self->epoch || inc != self->incarnation;
    self->epoch = epoch;
    self->incarnation = inc;
    self->me = me;
    memcpy (self->owners, owners, nshards * sizeof *owners);
    if (changed)
        ts_info ("map epoch %" PRIu64 ": slot %d", epoch, me);
    for (unsigned s = 0; s < nshards; s++) {
        s_shard_t *sh = &self->shards [s];
        bool wanted = me >= 0 && owners [s] == me;
        if (sh->wanted && !wanted) {
            /* hand it over: commit what is queued, then let go of the file */
            s_commit (self, s);
            s_close_shard (self, s);
            sh->snap_wanted = false;
            ts_hdr_begin (&self->hdr, "released", 2);
            ts_hdr_uint (&self->hdr, "shard", s);
            ts_hdr_uint (&self->hdr, "epoch", epoch);
            ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
        }
        sh->wanted = wanted;
        if (wanted && !sh->store)
            sh->next_open = 0;
    }
    /* parts sent to an owner that changed go to the new one */
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (ts_map_next (self->pending, &pos, &k, &kl, &v)) {
        s_pending_t *p = v;
        for (uint32_t i = 0; i < p->nparts; i++) {
            s_part_t *part = &p->parts [i];
            if (!part->done && (part->sent == 0 || part->sent_to != owners [part->shard]))
                s_deliver (self, p, part);
        }
    }
}

/* --- sockets ----------------------------------------------------------------- */

static void
s_on_ctrl (ts_worker_t *self)
{
    zmsg_t *msg = zmsg_recv (self->ctrl);
    if (!msg)
        return;
    zframe_t *head = zmsg_pop (msg);
    ts_hdrin_t in;
    if (!head || ts_hdr_parse (&in, zframe_data (head), zframe_size (head))) {
        self->dropped++;
    }
    else if (!strcmp (in.type, "map"))
        s_on_map (self, &in);
    else if (!strcmp (in.type, "work")) {
        self->backlog = ts_hdr_get_uint (&in, "backlog", 0);
        self->more = ts_hdr_get_bool (&in, "more", false);
        self->work_at = s_now ();
        s_work_t *w = calloc (1, sizeof *w);
        if (w) {
            w->header = head;
            head = NULL;
            w->payload = zmsg_pop (msg);
            if (!w->payload)
                w->payload = zframe_new_empty ();
            if (self->work_tail)
                self->work_tail->next = w;
            else
                self->work_head = w;
            self->work_tail = w;
            self->work_count++;
        }
    }
    else if (!strcmp (in.type, "drained")) {
        self->backlog = 0;          /* no more chunks queued for now */
        self->more = ts_hdr_get_bool (&in, "more", false);
    }
    else if (!strcmp (in.type, "snapreq")) {
        uint64_t s = ts_hdr_get_uint (&in, "shard", UINT64_MAX);
        if (s < self->nshards && self->shards [s].wanted) {
            self->shards [s].snap_wanted = true;
            if (self->shards [s].store)
                s_send_snapshot (self, (unsigned) s);
        }
    }
    else if (!strcmp (in.type, "reregister")) {
        ts_info ("the aggregator asks us to register (it restarted?)");
        s_register (self);
    }
    else
        self->dropped++;
    zframe_destroy (&head);
    zmsg_destroy (&msg);
}

/*  The peer socket: batches from other workers, reads from the api. */
static void
s_on_peer (ts_worker_t *self)
{
    zmsg_t *msg = zmsg_recv (self->peer);
    if (!msg)
        return;
    zframe_t *from = zmsg_pop (msg);
    zframe_t *head = zmsg_pop (msg);
    ts_hdrin_t in;
    int rc = head ? ts_hdr_parse (&in, zframe_data (head), zframe_size (head)) : TS_EPROTO;
    if (!from || rc) {
        self->dropped++;
        if (from && s_read_handler && head) {
            /* let the read side answer malformed requests with an error */
            zmsg_t *reply = s_read_handler (self, zframe_data (head), zframe_size (head), msg);
            if (reply) {
                zmsg_pushmem (reply, zframe_data (from), zframe_size (from));
                zmsg_send (&reply, self->peer);
            }
        }
    }
    else if (!strcmp (in.type, "batch")) {
        s_batch_t *b = calloc (1, sizeof *b);
        uint64_t shard = ts_hdr_get_uint (&in, "shard", UINT64_MAX);
        if (b && ts_hdr_copy_str (&in, "job", b->job, sizeof b->job) && shard < self->nshards) {
            b->from = from;
            from = NULL;
            b->chunk = ts_hdr_get_uint (&in, "chunk", 0);
            b->shard = (uint32_t) shard;
            b->n = (uint32_t) ts_hdr_get_uint (&in, "n", 0);
            b->payload = zmsg_pop (msg);
            if (!b->payload)
                b->payload = zframe_new_empty ();
            if (!self->shards [shard].wanted) {
                s_answer_batch (self, b, 0, 0, 0, 1, "not the owner");
                s_batch_free (b);
            }
            else
                s_enqueue (self, b);
        }
        else {
            free (b);
            self->dropped++;
        }
    }
    else if (s_read_handler) {
        zmsg_t *reply = s_read_handler (self, zframe_data (head), zframe_size (head), msg);
        if (reply) {
            zmsg_pushmem (reply, zframe_data (from), zframe_size (from));
            zmsg_send (&reply, self->peer);
        }
    }
    else
        self->dropped++;
    zframe_destroy (&from);
    zframe_destroy (&head);
    zmsg_destroy (&msg);
}

/*  Answers from owners to the parts we sent them. */
static void
s_on_dealer (ts_worker_t *self, zsock_t *dealer)
{
    zmsg_t *msg = zmsg_recv (dealer);
    if (!msg)
        return;
    zframe_t *head = zmsg_first (msg);
    ts_hdrin_t in;
    char job [S_JOB_MAX], m [512] = "";
    if (!head || ts_hdr_parse (&in, zframe_data (head), zframe_size (head))
    ||  !ts_hdr_copy_str (&in, "job", job, sizeof job)) {
        self->dropped++;
        zmsg_destroy (&msg);
        return;
    }
    uint64_t chunk = ts_hdr_get_uint (&in, "chunk", 0);
    uint32_t shard = (uint32_t) ts_hdr_get_uint (&in, "shard", 0);
    if (!strcmp (in.type, "batchdone")) {
        int code = (int) ts_hdr_get_int (&in, "code", 0);
        ts_hdr_copy_str (&in, "msg", m, sizeof m);
        s_on_part_done (self, job, chunk, shard,
                        (uint32_t) ts_hdr_get_uint (&in, "imported", 0),
                        (uint32_t) ts_hdr_get_uint (&in, "duplicates", 0),
                        ts_hdr_get_uint (&in, "seq", 0), code == 1 ? TS_EPROTO : code, m);
    }
    else if (!strcmp (in.type, "notowner"))
        s_on_part_done (self, job, chunk, shard, 0, 0, 0, 1, NULL);
    else
        self->dropped++;
    zmsg_destroy (&msg);
}

/* --- timers ------------------------------------------------------------------ */

static void
s_resend_overdue (ts_worker_t *self)
{
    int64_t now = s_now ();
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (ts_map_next (self->pending, &pos, &k, &kl, &v)) {
        s_pending_t *p = v;
        for (uint32_t i = 0; i < p->nparts; i++) {
            s_part_t *part = &p->parts [i];
            if (!part->done && part->sent_to != self->me
            &&  (part->sent_to < 0 || now - part->sent > TS_BATCH_RESEND_MS))
                s_deliver (self, p, part);
        }
    }
}

/* --- the loop ------------------------------------------------------------------- */

int
ts_worker_run (ts_worker_t *self, volatile bool *stop)
{
    ts_info ("ready: peer %s", self->peer_advertise);
    s_register (self);
    self->next_hb = s_now () + TS_HEARTBEAT_MS;
    int64_t next_resend = s_now () + 500;
    zmq_pollitem_t items [2 + S_MAX_WORKERS];
    zsock_t *dealers [S_MAX_WORKERS];
    while (!*stop && !self->fatal) {
        int n = 0, nd = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->ctrl), 0, ZMQ_POLLIN, 0 };
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->peer), 0, ZMQ_POLLIN, 0 };
        for (int i = 0; i < S_MAX_WORKERS; i++)
            if (self->peers [i].dealer) {
                dealers [nd++] = self->peers [i].dealer;
                items [n++] = (zmq_pollitem_t) { zsock_resolve (self->peers [i].dealer), 0, ZMQ_POLLIN, 0 };
            }
        /* how long may we sleep? */
        int64_t now = s_now ();
        int64_t wait = self->next_hb - now;
        bool queued = false;
        for (unsigned s = 0; s < self->nshards; s++)
            if (self->shards [s].head || (self->shards [s].wanted && !self->shards [s].store))
                queued = true;
        /* with batches waiting and nothing to parse, wait a moment for more
         * work: commits then come in fewer, larger transactions */
        if (self->work_head)
            wait = 0;
        else if (queued && wait > S_IDLE_MS)
            wait = S_IDLE_MS;
        if (wait > 50)
            wait = 50;
        int events = zmq_poll (items, n, wait < 0 ? 0 : (long) wait);
        if (events < 0 && zmq_errno () == ETERM)
            break;
        /* drain everything that is there */
        for (int round = 0; round < 10000; round++) {
            bool any = false;
            if (zsock_events (self->ctrl) & ZMQ_POLLIN) { s_on_ctrl (self); any = true; }
            if (zsock_events (self->peer) & ZMQ_POLLIN) { s_on_peer (self); any = true; }
            for (int i = 0; i < nd; i++)
                if (dealers [i] && zsock_events (dealers [i]) & ZMQ_POLLIN) {
                    s_on_dealer (self, dealers [i]);
                    any = true;
                    break;      /* the map may have replaced the dealers */
                }
            if (!any)
                break;
            /* a map can destroy dealers: refresh the list */
            nd = 0;
            for (int i = 0; i < S_MAX_WORKERS; i++)
                if (self->peers [i].dealer)
                    dealers [nd++] = self->peers [i].dealer;
        }
        /* parse one chunk */
        if (self->work_head) {
            s_work_t *w = self->work_head;
            self->work_head = w->next;
            if (!self->work_head)
                self->work_tail = NULL;
            self->work_count--;
            s_parse_chunk (self, w);
            zframe_destroy (&w->header);
            zframe_destroy (&w->payload);
            free (w);
            s_send_credit (self, 1);
        }
        /* commit what is due */
        now = s_now ();
        /* idle: nothing to parse, nothing came, and no more work announced
         * (or announced but late): commit now rather than wait for company */
        bool idle = self->work_head == NULL && events == 0
                 && (self->backlog == 0 || now - self->work_at >= S_BACKLOG_MS);
        for (unsigned s = 0; s < self->nshards; s++) {
            s_shard_t *sh = &self->shards [s];
            if (sh->wanted && !sh->store) {
                s_try_open (self, s);
                /* reopening after a crash replays the write-ahead log, for
                 * up to seconds a shard: keep the heartbeat going */
                ts_worker_heartbeat (self);
            }
            if (!sh->head)
                continue;
            /* an idle commit while producers still send is spaced to cost at
             * most a tenth of the time: larger stores commit less often */
            int64_t space = S_COMMIT_SPACING * sh->commit_ms;
            if (space > S_BUSY_DELAY_MS)
                space = S_BUSY_DELAY_MS;
            bool spaced = !self->more || now - sh->committed_at >= space;
            if ((idle && spaced) || sh->queued >= TS_COMMIT_RECORDS || now - sh->oldest >= S_BUSY_DELAY_MS)
                s_commit (self, s);
        }
        /* imports done: the ids still waiting go into the id index now,
         * not at the next read in id order or after a crash */
        if (idle && !self->more)
            for (unsigned s = 0; s < self->nshards; s++)
                if (self->shards [s].store && !self->shards [s].head
                &&  ts_store_pending_ids (self->shards [s].store))
                    s_flush_ids (self, s);
        if (now >= self->next_hb) {
            s_heartbeat (self);
            self->next_hb = now + TS_HEARTBEAT_MS;
        }
        if (now >= next_resend) {
            s_resend_overdue (self);
            next_resend = now + 500;
        }
    }
    /* leaving: commit what we hold, tell the aggregator, close */
    ts_info ("stopping: committing queued batches and closing shards");
    for (unsigned s = 0; s < self->nshards; s++)
        s_commit (self, s);
    ts_hdr_begin (&self->hdr, "leave", 1);
    ts_hdr_str (&self->hdr, "worker", self->name);
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
    for (unsigned s = 0; s < self->nshards; s++)
        s_close_shard (self, s);
    return self->fatal ? TS_ESTORE : 0;
}
