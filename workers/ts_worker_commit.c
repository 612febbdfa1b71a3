/*  ts_worker_commit.c: the shards this worker owns: their queues of
 *  batches, opening them, committing them, and the statistics deltas and
 *  snapshots sent to the aggregator (parts of the worker: ts_worker_int.h).
 */
#include "ts_worker_int.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>
#include <unistd.h>

/* --- owned shards: queue and commit ---------------------------------------- */

void
wk_enqueue (ts_worker_t *self, s_batch_t *b)
{
    s_shard_t *sh = &self->shards [b->shard];
    b->received = wk_now ();
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
void
wk_answer_batch (ts_worker_t *self, s_batch_t *b, const ts_batch_result_t *res, uint64_t seq,
                 int code, const char *msg, const char *refused)
{
    static const ts_batch_result_t none;
    if (!res)
        res = &none;
    uint32_t imported = res->imported, duplicates = res->duplicates;
    ts_mp_reader_t rr;
    ts_mp_reader_init (&rr, refused ? refused + res->unknown_off : "", refused ? res->unknown_len : 0);
    if (!b->from) {
        wk_on_part_done (self, b->job, b->chunk, b->shard, imported, duplicates, seq, code, msg,
                         &rr, refused ? res->unknown : 0);
        return;
    }
    ts_hdr_t *h = &self->hdr;
    if (code == 1)
        ts_wire_notowner_encode (h, &(ts_wire_notowner_t) {
            .job = ts_wire_cstr (b->job), .chunk = b->chunk, .shard = b->shard,
            .epoch = self->epoch });
    else {
        ts_wire_batchdone_t m = {
            .job = ts_wire_cstr (b->job), .chunk = b->chunk, .shard = b->shard,
            .failed = code != 0, .code = code, .msg = ts_wire_cstr (msg),
            .committed = code == 0, .imported = imported, .duplicates = duplicates, .seq = seq,
        };
        if (!code && refused && res->unknown)   /* labels of no stored record */
            m.refused = (ts_wire_array_t) { refused + res->unknown_off, res->unknown_len,
                                            res->unknown };
        ts_wire_batchdone_encode (h, &m);
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
        wk_answer_batch (self, b, NULL, 0, code, msg, NULL);
        wk_batch_free (b);
    }
    sh->tail = NULL;
    sh->queued = 0;
}

static void s_store_failed (ts_worker_t *self, unsigned s);

void
wk_send_snapshot (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    self->scratch.size = 0;
    int rc = ts_store_snapshot (sh->store, &self->scratch);
    if (rc) {
        ts_error ("shard %u: snapshot failed: %s", s, ts_strerror (rc));
        return;
    }
    ts_wire_snap_encode (&self->hdr, &(ts_wire_snap_t) { s, ts_store_seq (sh->store) });
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, self->scratch.data, self->scratch.size);
    sh->snap_wanted = false;
}

/*  Asks the kernel to read the tree file of every shard this worker is
 *  given but has not opened into the page cache, all at once, before the
 *  first of them is opened: after a start with a cold page cache, Kyoto
 *  Cabinet's open and a first get or list then find the tree's pages in
 *  memory instead of waiting for the disk at every level, one read at a
 *  time (docs/DESIGN.md, "Decisions": first answers after a start). The
 *  records files, ten times larger, are read a record at a time. A tree of
 *  100,000 records is ~6 MB a shard; the readahead runs in the background. */
static void
s_prefetch_trees (ts_worker_t *self)
{
    char path [TS_PATH_MAX + 32];
    for (unsigned s = 0; s < self->nshards; s++) {
        s_shard_t *sh = &self->shards [s];
        if (!sh->wanted || sh->store || sh->prefetched)
            continue;
        sh->prefetched = true;
        ts_config_shard_path (self->data_dir, s, path, sizeof path);
        int fd = open (path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;                   /* a new shard: nothing to read */
        (void) posix_fadvise (fd, 0, 0, POSIX_FADV_WILLNEED);
        close (fd);
    }
}

/*  Opens a shard the map gives us. The previous owner may still hold the
 *  file while it finishes its last batch: the lock says so (TS_ELOCKED),
 *  and we try again shortly. */
void
wk_try_open (ts_worker_t *self, unsigned s)
{
    s_shard_t *sh = &self->shards [s];
    if (sh->store || !sh->wanted || wk_now () < sh->next_open)
        return;
    char path [TS_PATH_MAX + 32], emsg [512];
    int err;
    if (!sh->prefetched)
        s_prefetch_trees (self);
    ts_config_shard_path (self->data_dir, s, path, sizeof path);
    /* the heartbeat goes on through what holds the thread for long (the
     * open's re-tokenizing or migration, a drop, a compaction, a check's
     * scans) */
    sh->store = ts_store_open_ticking (path, self->tuning, ts_worker_tick, self, &err, emsg,
                                       sizeof emsg);
    if (!sh->store) {
        sh->next_open = wk_now () + (err == TS_ELOCKED ? 50 : 1000);
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
    ts_compress_t mode;
    if (ts_config_compress_read (self->data_dir, &mode, emsg, sizeof emsg))
        ts_error ("shard %u: %s", s, emsg);
    ts_store_set_compress (sh->store, mode);
    ts_info ("opened shard %u (epoch %" PRIu64 ", %" PRIu64 " records, new records "
             "compressed: %s)", s, self->epoch, ts_store_count (sh->store),
             ts_compress_name (mode));
    /* a drop that a kill interrupted is finished before anything else */
    if (ts_store_drop_pending (sh->store)) {
        uint64_t n = 0;
        int rc = ts_store_drop_resume (sh->store, 0, &n);
        ts_info ("shard %u: finished an interrupted drop: %" PRIu64 " more records removed%s%s",
                 s, n, rc ? ": " : "", rc ? ts_store_errmsg (sh->store) : "");
        if (rc)
            s_store_failed (self, s);
        ts_worker_resync (self, s);
    }
    if (sh->snap_wanted)
        wk_send_snapshot (self, s);
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

void
ts_worker_store_failed (ts_worker_t *self, unsigned s)
{
    s_store_failed (self, s);
}

void
ts_worker_resync (ts_worker_t *self, unsigned s)
{
    ts_wire_resync_encode (&self->hdr, &(ts_wire_resync_t) { s });
    ts_hdr_send (&self->hdr, zsock_resolve (self->ctrl), NULL, NULL, 0);
}

/*  Writes the ids that wait in shard s's memory into its id index. */
void
wk_flush_ids (ts_worker_t *self, unsigned s)
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

/*  Commits what waits for shard s, in transactions of up to S_TX_RECORDS
 *  (all of it, or with `all` false only the first transaction: the loop
 *  answers reads between two transactions), sends the totals delta to the aggregator, then answers each batch. The
 *  delta goes first: the aggregator holds a chunk's ack until the
 *  statistics include its commits, so the order only saves it waiting. */
void
wk_commit (ts_worker_t *self, unsigned s, bool all)
{
    s_shard_t *sh = &self->shards [s];
    if (!sh->head)
        return;
    if (!sh->wanted) {
        s_drain_queue (self, s, 1, "not the owner");
        return;
    }
    if (!sh->store) {
        wk_try_open (self, s);
        if (!sh->store)
            return;
    }
    int64_t started = wk_now ();
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
            batches [n].text = b->text [0] ? b->text : NULL;
            batches [n].text_len = strlen (b->text);
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
            ts_wire_delta_encode (&self->hdr, &(ts_wire_delta_t) { s, seq });
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
                wk_answer_batch (self, list [i], NULL, 0, rc, ts_store_errmsg (sh->store), NULL);
            else
                wk_answer_batch (self, list [i], &results [i], seq, 0, NULL,
                                 ts_store_unknown_labels (sh->store));
            wk_batch_free (list [i]);
        }
        /* a commit into a large store can take a second on a busy machine,
         * and several shards commit in a row: stay alive between them */
        ts_worker_heartbeat (self);
        if (rc || !all)
            break;
    }
    sh->committed_at = wk_now ();
    sh->commit_ms = sh->committed_at - started;
}
