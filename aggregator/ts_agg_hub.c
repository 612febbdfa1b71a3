/*  ts_agg_hub.c: the aggregator's loop, its sockets and the worker
 *  registry (ts_agg.h; the parts: ts_agg_int.h; messages: shared/ts_proto.h).
 *
 *  One thread, one poll loop over three ROUTER sockets: ingest (producers),
 *  control (workers), query (api, CLI). Nothing here blocks: a chunk waits
 *  in the queue until a worker has credit; an acknowledgement waits until
 *  the statistics include the commits it reports; a stats query waits
 *  while the statistics are being rebuilt.
 */
#include "ts_agg_int.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_proto.h"
#include "ts_wire.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

ts_agg_t *
ts_agg_new (const ts_agg_config_t *cfg, char *err, size_t err_size)
{
    assert (cfg && cfg->data_dir && cfg->ingest && cfg->control && cfg->query && err);
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
    self->chunks = ts_map_new (agg_chunk_free);
    self->jobs = ts_map_new (agg_job_free);
    self->groups = ts_map_new (free);
    self->models = ts_map_new (free);
    self->runs = ts_map_new (free);
    self->run_models = ts_map_new (free);
    self->run_meta = ts_map_new (agg_runmeta_free);
    if (!self->owners || !self->shard_totals || !self->shard_seq || !self->shard_synced
    ||  !self->snap_asked || !self->early || !self->chunks || !self->jobs || !self->groups || !self->models
    ||  !self->runs || !self->run_models || !self->run_meta) {
        snprintf (err, err_size, "out of memory");
        ts_agg_destroy (&self);
        return NULL;
    }
    for (unsigned i = 0; i < self->nshards; i++)
        self->owners [i] = -1;
    agg_reset_stats (self);
    agg_runs_load (self);
    if (!(self->ingest = s_bind (cfg->ingest, err, err_size))
    ||  !(self->control = s_bind (cfg->control, err, err_size))
    ||  !(self->query = s_bind (cfg->query, err, err_size))) {
        ts_agg_destroy (&self);
        return NULL;
    }
    self->poller = zpoller_new (self->control, self->ingest, self->query, NULL);
    self->incarnation = ((uint64_t) random () << 32) ^ (uint64_t) random () ^ (uint64_t) zclock_time ();
    self->started = agg_now ();
    self->expect_workers = cfg->expect_workers;
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
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        zframe_destroy (&self->workers [i].identity);
    ts_map_destroy (&self->chunks);     /* frees queued chunks too */
    ts_map_destroy (&self->jobs);
    ts_map_destroy (&self->groups);
    ts_map_destroy (&self->models);
    ts_map_destroy (&self->runs);
    ts_map_destroy (&self->run_models);
    ts_map_destroy (&self->run_meta);
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
        agg_drop_early (self, i);
    free (self->early);
    free (self->group_sorted);
    ts_buf_free (&self->page_rows);
    ts_hdr_free (&self->hdr);
    free (self);
    *self_p = NULL;
}
/* --- workers -------------------------------------------------------------- */

static int
s_worker_by_identity (ts_agg_t *self, zframe_t *id)
{
    for (int i = 0; i < TS_MAX_WORKERS; i++)
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
    agg_requeue_worker (self, w);
}

static void
s_on_register (ts_agg_t *self, zframe_t *from, ts_hdrin_t *in)
{
    ts_wire_register_t m;
    char name [64], peer [256];
    if (ts_wire_register_decode (in, &m) || !m.worker.len || !m.peer.len) {
        self->dropped++;
        return;
    }
    ts_wire_str_copy (m.worker, name, sizeof name);
    ts_wire_str_copy (m.peer, peer, sizeof peer);
    int w = -1, free_slot = -1;
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        if (self->workers [i].used && !strcmp (self->workers [i].name, name))
            w = i;
        else if (!self->workers [i].used && free_slot < 0)
            free_slot = i;
    }
    if (w < 0)
        w = free_slot;
    if (w < 0) {
        ts_warn ("worker %s refused: %d workers already", name, TS_MAX_WORKERS);
        return;
    }
    s_worker_t *wk = &self->workers [w];
    int64_t pid = m.pid;
    if (wk->used && wk->alive && wk->pid != pid)
        s_worker_lost (self, w, "replaced by a new process of the same name");
    if (wk->used && wk->alive)
        agg_requeue_worker (self, w);     /* a re-register: its chunks are gone */
    bool fresh = !wk->used;
    zframe_destroy (&wk->identity);
    memset (wk, 0, offsetof (s_worker_t, chunks_done));
    wk->used = true;
    wk->alive = true;
    snprintf (wk->name, sizeof wk->name, "%s", name);
    snprintf (wk->peer, sizeof wk->peer, "%s", peer);
    wk->identity = zframe_dup (from);
    wk->pid = pid;
    wk->last_seen = wk->joined = agg_now ();
    wk->credit = (int) m.credit;
    ts_info ("worker %s registered (pid %" PRId64 ", peer %s)%s", name, pid, peer,
             fresh ? "" : " again");
    /* after a restart, trust the shards workers hold (no moves) */
    if (!self->assigned_once) {
        ts_mp_reader_t r;
        ts_wire_array_reader (&m.shards, &r);
        for (uint32_t i = 0; i < m.shards.count; i++) {
            uint64_t s;
            if (ts_mp_read_uint (&r, &s))
                break;
            if (s < self->nshards)
                self->owners [s] = w;
        }
    }
    /* after a start: every worker gets a chance to say which shards it
     * still holds, for the grace or until the expected ones are all here */
    if (self->assigned_once || agg_now () - self->started >= TS_REGISTER_GRACE_MS
    ||  (self->expect_workers && (unsigned) agg_alive_count (self) >= self->expect_workers))
        agg_assign (self);
}

static void
s_on_heartbeat (ts_agg_t *self, int w, ts_hdrin_t *in)
{
    s_worker_t *wk = &self->workers [w];
    ts_wire_hb_t m;
    if (ts_wire_hb_decode (in, &m)) {
        self->dropped++;
        return;
    }
    wk->held = (int) m.held;
    wk->queued = (int) m.queued;
    ts_wire_str_copy (m.error, wk->error, sizeof wk->error);
    /* a worker with an older map, or one that registered again since it
     * was last sent one (a register clears `mapped`, and no chunk goes to
     * it until it has a map): it gets the map */
    if (self->assigned_once && (m.epoch != self->epoch || !wk->mapped))
        agg_send_map (self, w);
}
/*  A drop changed a shard's totals with no delta: the snapshots say what
 *  is left (a rebuild is rare: one per drop). */
static void
s_on_resync (ts_agg_t *self, ts_hdrin_t *in)
{
    ts_wire_resync_t m;
    if (ts_wire_resync_decode (in, &m))
        self->dropped++;
    else
        agg_start_rebuild (self, "a shard dropped records");
}

static void
s_on_control (ts_agg_t *self)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, self->control, true))
        return;
    ts_hdrin_t *in = &rv.in;
    zframe_t *from = rv.from;
    if (!from || rv.rc) {
        self->dropped++;
        goto done;
    }
    if (in->msg == TS_MSG_REGISTER) {
        s_on_register (self, from, in);
        goto done;
    }
    int w = s_worker_by_identity (self, from);
    if (w < 0 || !self->workers [w].alive) {
        /* unknown (we restarted, or it was declared dead): it must register.
         * Asked in answer to its heartbeats only, a few times a second:
         * answering every message started a storm of registrations. */
        if (in->msg == TS_MSG_HB) {
            ts_wire_reregister_encode (&self->hdr, &(ts_wire_reregister_t) { self->incarnation });
            ts_hdr_send (&self->hdr, zsock_resolve (self->control), from, NULL, 0);
        }
        /* its results still count: commits are commits */
        if (in->msg == TS_MSG_CHUNKDONE)
            agg_on_chunkdone (self, -1, in);
        else if (in->msg == TS_MSG_DELTA)
            agg_on_delta (self, in, rv.rest, false);
        else if (in->msg == TS_MSG_RESYNC)
            s_on_resync (self, in);
        goto done;
    }
    self->workers [w].last_seen = agg_now ();
    switch (in->msg) {
    case TS_MSG_HB:
        s_on_heartbeat (self, w, in);
        break;
    case TS_MSG_CREDIT: {
        ts_wire_credit_t m;
        if (ts_wire_credit_decode (in, &m))
            self->dropped++;
        else
            self->workers [w].credit += (int) m.n;
        break;
    }
    case TS_MSG_CHUNKDONE:
        agg_on_chunkdone (self, w, in);
        break;
    case TS_MSG_DELTA:
    case TS_MSG_SNAP:
        agg_on_delta (self, in, rv.rest, in->msg == TS_MSG_SNAP);
        break;
    case TS_MSG_LEAVE:
        if (ts_wire_leave_decode (in, &(ts_wire_leave_t) { 0 })) {
            self->dropped++;
            break;
        }
        /* a clean stop: move its shards now, not after missed heartbeats */
        s_worker_lost (self, w, "left");
        agg_assign (self);
        break;
    case TS_MSG_RELEASED: {
        ts_wire_released_t m;           /* informational: the file lock fences */
        if (ts_wire_released_decode (in, &m))
            self->dropped++;
        break;
    }
    case TS_MSG_RESYNC:
        s_on_resync (self, in);
        break;
    default:
        self->dropped++;
    }
done:
    ts_recv_free (&rv);
}

static void
s_on_ingest (ts_agg_t *self)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, self->ingest, true))
        return;
    if (!rv.from || rv.rc)
        self->dropped++;
    else if (rv.in.msg == TS_MSG_CHUNK)
        agg_on_chunk (self, rv.from, &rv.in, rv.rest);
    else if (rv.in.msg == TS_MSG_DONE)
        agg_on_done (self, &rv.in);
    else if (rv.in.msg == TS_MSG_PING) {
        /* producers learn our incarnation: a new one means that what they
         * had queued here is lost, and they send it again at once */
        ts_wire_pong_encode (&self->hdr, &(ts_wire_pong_t) { self->incarnation });
        ts_hdr_send (&self->hdr, zsock_resolve (self->ingest), rv.from, NULL, 0);
    }
    else
        self->dropped++;
    ts_recv_free (&rv);
}

/* --- the loop ------------------------------------------------------------- */

static void
s_tick (ts_agg_t *self)
{
    int64_t now = agg_now ();
    bool lost = false;
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (w->used && w->alive && now - w->last_seen > TS_WORKER_DEAD_MS) {
            s_worker_lost (self, i, "missed heartbeats");
            lost = true;
        }
    }
    /* a worker gone for a minute leaves the table (status shows it as
     * not alive until then, so an operator sees what happened) */
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
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
                 && agg_alive_count (self) > 0))
        agg_assign (self);
    agg_stats_check (self, now);
    if (self->held_queries)
        agg_retry_queries (self);
}

int
ts_agg_run (ts_agg_t *self, volatile bool *stop)
{
    assert (self && stop);
    ts_info ("ready: %u shards, data %s", self->nshards, self->data_dir);
    int64_t next_tick = agg_now () + 100;
    while (!*stop) {
        int64_t wait = next_tick - agg_now ();
        void *which = zpoller_wait (self->poller, (int) (wait > 0 ? wait : 0));
        if (zpoller_terminated (self->poller) && !which)
            break;
        /* drain every socket before dispatching, so a burst is one pass */
        for (int round = 0; round < 1000; round++) {
            bool any = false;
            while (zsock_events (self->control) & ZMQ_POLLIN) { s_on_control (self); any = true; }
            /* before any query sees the statistics complete (`up` waits
             * for that): the first "groups" then finds the order made */
            if (self->groups_warm) {
                self->groups_warm = false;
                agg_groups_warm (self);
            }
            while (zsock_events (self->ingest) & ZMQ_POLLIN) { s_on_ingest (self); any = true; }
            while (zsock_events (self->query) & ZMQ_POLLIN) { agg_on_query (self); any = true; }
            agg_dispatch (self);
            if (!any)
                break;
        }
        if (agg_now () >= next_tick) {
            s_tick (self);
            next_tick = agg_now () + 100;
        }
    }
    ts_info ("stopping");
    return 0;
}
