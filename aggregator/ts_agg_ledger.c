/*  ts_agg_ledger.c: the chunk queue and its dispatch by credit, the job
 *  ledger, and the acknowledgements held until the statistics include the
 *  commits they report (parts: ts_agg_int.h).
 */
#include "ts_agg_int.h"
#include "ts_profile.h"
#include "ts_log.h"
#include "ts_mp.h"
#include "ts_proto.h"
#include "ts_wire.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
agg_chunk_free (void *p)
{
    s_chunk_t *c = p;
    ts_buf_free (&c->header);
    zframe_destroy (&c->payload);
    free (c);
}

void
agg_job_free (void *p)
{
    s_job_t *j = p;
    zframe_destroy (&j->producer);
    free (j->acked);
    free (j);
}

/* --- chunks and jobs ------------------------------------------------------ */

s_job_t *
agg_job (ts_agg_t *self, const char *job, bool create)
{
    s_job_t *j = ts_map_get (self->jobs, job, strlen (job));
    if (j || !create)
        return j;
    /* keep the ledger bounded: drop the oldest finished job */
    if (ts_map_size (self->jobs) >= S_MAX_JOBS) {
        size_t pos = 0;
        void *v;
        s_job_t *oldest = NULL;
        while (ts_map_next (self->jobs, &pos, NULL, NULL, &v)) {
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
void
agg_on_chunk (ts_agg_t *self, zframe_t *from, ts_hdrin_t *in, zmsg_t *msg)
{
    ts_wire_work_t w = { 0 };
    char job [TS_JOB_MAX];
    if (ts_wire_chunk_decode (in, &w.c) || !w.c.job.len || zmsg_size (msg) < 1
    ||  w.c.chunk == UINT64_MAX) {
        self->dropped++;
        return;
    }
    ts_wire_str_copy (w.c.job, job, sizeof job);
    uint64_t chunk = w.c.chunk;
    s_job_t *j = agg_job (self, job, true);
    if (j) {
        zframe_destroy (&j->producer);
        j->producer = zframe_dup (from);
        j->updated = zclock_time ();
        if (!j->src [0]) {              /* the import's first chunk here */
            char profile [TS_PROFILE_SPEC_MAX] = "default";
            ts_wire_str_copy (w.c.src, j->src, sizeof j->src);
            if (w.c.profile.ptr)
                ts_wire_str_copy (w.c.profile, profile, sizeof profile);
            agg_runs_note (self, profile, j->src);
        }
        if (w.c.last)
            j->last_received = true;
        if (chunk < j->acked_bytes * 8 && (j->acked [chunk / 8] & (1u << (chunk % 8)))) {
            /* acknowledged before, the ack got lost: redo it (cheap: every
             * batch replays from its commit marker) */
        }
    }
    char key [TS_JOB_MAX + 16];
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
    /* the same fields, as "work"; "backlog" (chunks still queued here when
     * this one leaves) and "more" (whether producers are still sending)
     * are written in place at each dispatch */
    ts_hdr_t h = { 0 };
    ts_wire_work_encode (&h, &w);
    c->backlog_at = ts_wire_value_at (&h, "backlog") + 1;
    c->more_at = ts_wire_value_at (&h, "more");
    c->header = h.buf;
    if (!c->payload || ts_map_put (self->chunks, key, klen, c)) {
        agg_chunk_free (c);
        return;
    }
    if (self->queue_tail)
        self->queue_tail->next = c;
    else
        self->queue_head = c;
    self->queue_tail = c;
    self->queue_len++;
}

void
agg_on_done (ts_agg_t *self, ts_hdrin_t *in)
{
    ts_wire_done_t m;
    char job [TS_JOB_MAX];
    if (ts_wire_done_decode (in, &m)) {
        self->dropped++;
        return;
    }
    ts_wire_str_copy (m.job, job, sizeof job);
    s_job_t *j = agg_job (self, job, false);
    if (!j)
        return;
    j->done_received = true;
    j->total_chunks = m.chunks;
    j->bytes = m.bytes;
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
    void *v;
    while (ts_map_next (self->jobs, &pos, NULL, NULL, &v)) {
        s_job_t *j = v;
        if (!j->finished && !j->last_received && !j->done_received && !j->error [0]
        &&  now - j->updated < S_SENDING_MS)
            return true;
    }
    return false;
}

/*  Hands queued chunks to workers with credit, most credit first. */
void
agg_dispatch (ts_agg_t *self)
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
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (!w->used || !w->alive)
            continue;
        ts_wire_drained_encode (&self->hdr, &(ts_wire_drained_t) { .more = more });
        ts_hdr_send (&self->hdr, zsock_resolve (self->control), w->identity, NULL, 0);
    }
}

static void
s_dispatch_queue (ts_agg_t *self)
{
    int more = -1;                      /* s_producers_sending, once a pass */
    while (self->queue_head) {
        /* only to a worker that has a shard map: one registered in the
         * grace after a start has none yet and could not route the chunk */
        int best = -1;
        for (int i = 0; i < TS_MAX_WORKERS; i++) {
            s_worker_t *w = &self->workers [i];
            if (w->used && w->alive && w->mapped && w->credit > 0
            &&  (best < 0 || w->credit > self->workers [best].credit))
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
        c->sent = agg_now ();
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
void
agg_requeue_worker (ts_agg_t *self, int w)
{
    size_t pos = 0;
    void *v;
    int n = 0;
    while (ts_map_next (self->chunks, &pos, NULL, NULL, &v)) {
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
    s_job_t *j = agg_job (self, a->job, false);
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

void
agg_release_acks (ts_agg_t *self)
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

/*  A worker's "chunkdone": the chunk's commits are done. Builds the "ack"
 *  (or "nack") for the producer and holds it until the statistics include
 *  every commit it names. */
void
agg_on_chunkdone (ts_agg_t *self, int w, ts_hdrin_t *in)
{
    ts_wire_chunkdone_t d;
    char job [TS_JOB_MAX];
    if (ts_wire_chunkdone_decode (in, &d)) {
        self->dropped++;
        return;
    }
    ts_wire_str_copy (d.job, job, sizeof job);
    uint64_t chunk = d.chunk;
    char key [TS_JOB_MAX + 16];
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
        agg_chunk_free (c);
    }
    if (w >= 0)
        self->workers [w].chunks_done++;

    s_held_ack_t *a = calloc (1, sizeof *a);
    if (!a)
        return;
    snprintf (a->job, sizeof a->job, "%s", job);
    a->chunk = chunk;
    ts_hdr_t h = { 0 };
    if (d.failed && d.code) {
        char msg [512] = "";
        ts_wire_str_copy (d.msg, msg, sizeof msg);
        ts_wire_nack_encode (&h, &(ts_wire_nack_t) {
            .job = ts_wire_cstr (job), .chunk = chunk, .code = d.code, .msg = ts_wire_cstr (msg) });
        s_job_t *j = agg_job (self, job, false);
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
    a->lines = d.lines;
    a->blank = d.blank;
    a->imported = d.imported;
    a->duplicates = d.duplicates;
    a->rejected = d.rejected;
    /* rejects and field warnings pass through as they came */
    ts_wire_ack_encode (&h, &(ts_wire_ack_t) {
        .job = ts_wire_cstr (job), .chunk = chunk, .lines = a->lines, .blank = a->blank,
        .imported = a->imported, .duplicates = a->duplicates, .rejected = a->rejected,
        .rejects = d.rejects,
        .warnings = d.warnings.items ? d.warnings : (ts_wire_array_t) { "", 0, 0 } });
    a->header = h.buf;
    /* the commits it depends on: [[shard, seq]...] */
    uint32_t n = d.seqs.count;
    if (n <= TS_MAX_SHARDS) {
        ts_mp_reader_t r;
        ts_wire_array_reader (&d.seqs, &r);
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
    a->since = agg_now ();
    a->next = self->held_acks;
    self->held_acks = a;
    agg_release_acks (self);
}
