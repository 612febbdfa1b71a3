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
#include "ts_worker_int.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ts_parse.h"
#include "ts_wire.h"

#include <unistd.h>

static void s_heartbeat (ts_worker_t *self);

void
wk_pending_free (void *p)
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

void
wk_batch_free (s_batch_t *b)
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
    assert (cfg && cfg->name && cfg->data_dir && cfg->control && cfg->peer_bind && err);
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
    self->read_handler = cfg->read_handler;
    self->me = -1;
    self->ref_fd = -1;
    self->pending = ts_map_new (wk_pending_free);
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

void
wk_close_shard (ts_worker_t *self, unsigned s)
{
    if (self->shards && self->shards [s].store) {
        ts_store_destroy (&self->shards [s].store);
        self->shards [s].prefetched = false;
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
        wk_close_shard (self, s);
        s_batch_t *b = self->shards [s].head;
        while (b) {
            s_batch_t *next = b->next;
            wk_batch_free (b);
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
    for (int i = 0; i < TS_MAX_WORKERS; i++)
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
    ts_buf_free (&self->label_form);
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
    assert (self);
    return shard < self->nshards ? self->shards [shard].store : NULL;
}

void
ts_worker_heartbeat (ts_worker_t *self)
{
    if (wk_now () >= self->next_hb) {
        s_heartbeat (self);
        self->next_hb = wk_now () + TS_HEARTBEAT_MS;
    }
}

void
ts_worker_tick (void *worker)
{
    ts_worker_heartbeat (worker);
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
    /* the shards held, packed in scratch */
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->scratch, ts_buf_packer_write);
    self->scratch.size = 0;
    msgpack_pack_array (&pk, held);
    for (unsigned s = 0; s < self->nshards; s++)
        if (self->shards [s].store)
            msgpack_pack_uint32 (&pk, s);
    ts_wire_register_encode (h, &(ts_wire_register_t) {
        .worker = ts_wire_cstr (self->name), .peer = ts_wire_cstr (self->peer_advertise),
        .pid = getpid (), .credit = credit > 0 ? credit : 0,
        .shards = ts_wire_array_packed (self->scratch.data, self->scratch.size) });
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
    ts_wire_hb_encode (h, &(ts_wire_hb_t) {
        .worker = ts_wire_cstr (self->name), .epoch = self->epoch, .held = held,
        .queued = queued, .error = ts_wire_cstr (error) });
    ts_hdr_send (h, zsock_resolve (self->ctrl), NULL, NULL, 0);
}

static void
s_send_credit (ts_worker_t *self, int n)
{
    ts_wire_credit_encode (&self->hdr, &(ts_wire_credit_t) { .n = n });
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
}

/* --- sockets ----------------------------------------------------------------- */

static void
s_on_ctrl (ts_worker_t *self)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, self->ctrl, false))
        return;
    ts_hdrin_t *in = &rv.in;
    if (rv.rc) {
        self->dropped++;
        goto done;
    }
    switch (in->msg) {
    case TS_MSG_MAP:
        wk_on_map (self, in);
        break;
    case TS_MSG_WORK: {
        ts_wire_work_t m;
        if (ts_wire_work_decode (in, &m) || !m.c.job.len) {
            self->dropped++;
            s_send_credit (self, 1);    /* the aggregator counted it as taken */
            break;
        }
        self->backlog = m.backlog;
        self->more = m.more;
        self->work_at = wk_now ();
        s_work_t *w = calloc (1, sizeof *w);
        if (w) {
            w->m = m;
            w->header = rv.head;        /* `in` borrows it: used no more below */
            rv.head = NULL;
            w->payload = zmsg_pop (rv.rest);
            if (!w->payload)
                w->payload = zframe_new_empty ();
            if (self->work_tail)
                self->work_tail->next = w;
            else
                self->work_head = w;
            self->work_tail = w;
            self->work_count++;
        }
        break;
    }
    case TS_MSG_DRAINED: {
        ts_wire_drained_t m;
        if (ts_wire_drained_decode (in, &m)) {
            self->dropped++;
            break;
        }
        self->backlog = 0;          /* no more chunks queued for now */
        self->more = m.more;
        break;
    }
    case TS_MSG_SNAPREQ: {
        ts_wire_snapreq_t m;
        if (ts_wire_snapreq_decode (in, &m)) {
            self->dropped++;
            break;
        }
        uint64_t s = m.shard;
        if (s < self->nshards && self->shards [s].wanted) {
            self->shards [s].snap_wanted = true;
            if (self->shards [s].store)
                wk_send_snapshot (self, (unsigned) s);
        }
        break;
    }
    case TS_MSG_REREGISTER:
        if (ts_wire_reregister_decode (in, &(ts_wire_reregister_t) { 0 })) {
            self->dropped++;
            break;
        }
        ts_info ("the aggregator asks us to register (it restarted?)");
        s_register (self);
        break;
    default:
        self->dropped++;
    }
done:
    ts_recv_free (&rv);
}

/*  Hands a read (or a message that does not decode) to the read handler
 *  and sends its reply back to `from`. */
static void
s_read (ts_worker_t *self, zframe_t *from, zframe_t *head, zmsg_t *rest)
{
    zmsg_t *reply = self->read_handler (self, zframe_data (head), zframe_size (head), rest);
    if (reply) {
        zmsg_pushmem (reply, zframe_data (from), zframe_size (from));
        zmsg_send (&reply, self->peer);
    }
}

/*  The peer socket: batches from other workers, reads from the api. */
static void
s_on_peer (ts_worker_t *self)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, self->peer, true))
        return;
    ts_hdrin_t *in = &rv.in;
    if (!rv.from || rv.rc) {
        self->dropped++;
        /* let the read side answer malformed requests with an error */
        if (rv.from && self->read_handler && rv.head)
            s_read (self, rv.from, rv.head, rv.rest);
    }
    else if (in->msg == TS_MSG_BATCH) {
        ts_wire_batch_t m;
        s_batch_t *b = calloc (1, sizeof *b);
        if (b && !ts_wire_batch_decode (in, &m) && m.shard < self->nshards) {
            uint64_t shard = m.shard;
            ts_wire_str_copy (m.job, b->job, sizeof b->job);
            b->from = rv.from;
            rv.from = NULL;
            b->chunk = m.chunk;
            b->shard = (uint32_t) shard;
            b->n = (uint32_t) m.n;
            ts_wire_str_copy (m.text, b->text, sizeof b->text);
            b->payload = zmsg_pop (rv.rest);
            if (!b->payload)
                b->payload = zframe_new_empty ();
            if (!self->shards [shard].wanted) {
                wk_answer_batch (self, b, NULL, 0, 1, "not the owner", NULL);
                wk_batch_free (b);
            }
            else
                wk_enqueue (self, b);
        }
        else {
            free (b);
            self->dropped++;
        }
    }
    else if (self->read_handler)
        s_read (self, rv.from, rv.head, rv.rest);
    else
        self->dropped++;
    ts_recv_free (&rv);
}

/*  Answers from owners to the parts we sent them. */
static void
s_on_dealer (ts_worker_t *self, zsock_t *dealer)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, dealer, false))
        return;
    ts_hdrin_t *in = &rv.in;
    ts_wire_any_t m;
    char job [TS_JOB_MAX], msg [512];
    if (rv.rc || (in->msg != TS_MSG_BATCHDONE && in->msg != TS_MSG_NOTOWNER)
    ||  ts_wire_decode (in, &m)) {
        self->dropped++;
        ts_recv_free (&rv);
        return;
    }
    if (in->msg == TS_MSG_BATCHDONE) {
        const ts_wire_batchdone_t *d = &m.batchdone;
        int code = d->failed ? (int) d->code : 0;
        ts_mp_reader_t refused;
        ts_wire_str_copy (d->job, job, sizeof job);
        ts_wire_str_copy (d->msg, msg, sizeof msg);
        ts_wire_array_reader (&d->refused, &refused);
        wk_on_part_done (self, job, d->chunk, (uint32_t) d->shard, (uint32_t) d->imported,
                         (uint32_t) d->duplicates, d->seq, code == 1 ? TS_EPROTO : code, msg,
                         &refused, d->refused.count);
    }
    else {
        ts_wire_str_copy (m.notowner.job, job, sizeof job);
        wk_on_part_done (self, job, m.notowner.chunk, (uint32_t) m.notowner.shard, 0, 0, 0, 1,
                         NULL, NULL, 0);
    }
    ts_recv_free (&rv);
}

/* --- timers ------------------------------------------------------------------ */

/*  A part sent to another worker and not answered in time, or not sent. */
static bool
s_overdue (const ts_worker_t *self, const s_part_t *part, int64_t now)
{
    return part->sent_to != self->me
        && (part->sent_to < 0 || now - part->sent > TS_BATCH_RESEND_MS);
}

static void
s_resend_overdue (ts_worker_t *self)
{
    wk_redeliver (self, s_overdue);
}

/* --- the loop ------------------------------------------------------------------- */

int
ts_worker_run (ts_worker_t *self, volatile bool *stop)
{
    assert (self && stop);
    ts_info ("ready: peer %s", self->peer_advertise);
    s_register (self);
    self->next_hb = wk_now () + TS_HEARTBEAT_MS;
    int64_t next_resend = wk_now () + 500;
    zmq_pollitem_t items [2 + TS_MAX_WORKERS];
    zsock_t *dealers [TS_MAX_WORKERS];
    while (!*stop && !self->fatal) {
        int n = 0, nd = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->ctrl), 0, ZMQ_POLLIN, 0 };
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->peer), 0, ZMQ_POLLIN, 0 };
        for (int i = 0; i < TS_MAX_WORKERS; i++)
            if (self->peers [i].dealer) {
                dealers [nd++] = self->peers [i].dealer;
                items [n++] = (zmq_pollitem_t) { zsock_resolve (self->peers [i].dealer), 0, ZMQ_POLLIN, 0 };
            }
        /* how long may we sleep? */
        int64_t now = wk_now ();
        int64_t wait = self->next_hb - now;
        bool queued = false;
        for (unsigned s = 0; s < self->nshards; s++)
            if (self->shards [s].head || (self->shards [s].wanted && !self->shards [s].store))
                queued = true;
        /* with batches waiting and nothing to parse, wait a moment for more
         * work: commits then come in fewer, larger transactions */
        if (self->work_head || self->commit_due)
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
            for (int i = 0; i < TS_MAX_WORKERS; i++)
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
            wk_parse_chunk (self, w);
            zframe_destroy (&w->header);
            zframe_destroy (&w->payload);
            free (w);
            s_send_credit (self, 1);
        }
        /* commit what is due */
        now = wk_now ();
        /* idle: nothing to parse, nothing came, and no more work announced
         * (or announced but late): commit now rather than wait for company */
        bool idle = self->work_head == NULL && events == 0
                 && (self->backlog == 0 || now - self->work_at >= S_BACKLOG_MS);
        /* at most one commit a turn, the shards taken in turn: the reads
         * that came meanwhile are answered between two shards' commits
         * instead of after all of them (a turn of 8 due shards took over a
         * second under load, and every read waited for all of it) */
        bool committed = false;
        self->commit_due = false;
        for (unsigned k = 0; k < self->nshards; k++) {
            unsigned s = (self->commit_next + k) % self->nshards;
            s_shard_t *sh = &self->shards [s];
            if (sh->wanted && !sh->store) {
                wk_try_open (self, s);
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
            if ((idle && spaced) || sh->queued >= TS_COMMIT_RECORDS || now - sh->oldest >= S_BUSY_DELAY_MS) {
                if (committed) {
                    self->commit_due = true;
                    continue;
                }
                wk_commit (self, s, false);    /* one transaction */
                committed = true;
                self->commit_next = (s + 1) % self->nshards;
            }
        }
        /* imports done: the ids still waiting go into the id index now,
         * not at the next read in id order or after a crash */
        if (idle && !self->more)
            for (unsigned s = 0; s < self->nshards; s++)
                if (self->shards [s].store && !self->shards [s].head
                &&  ts_store_pending_ids (self->shards [s].store))
                    wk_flush_ids (self, s);
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
        wk_commit (self, s, true);
    ts_wire_leave_encode (&self->hdr, &(ts_wire_leave_t) { ts_wire_cstr (self->name) });
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
    for (unsigned s = 0; s < self->nshards; s++)
        wk_close_shard (self, s);
    return self->fatal ? TS_ESTORE : 0;
}
