/*  ts_store_drop.c: dropping a run's records from a shard, and compacting
 *  the records file afterwards (parts of a shard: ts_store_int.h; the
 *  design: docs/DESIGN.md, "Dropping a run").
 *
 *  A drop is durable before it starts and idempotent after: a first
 *  transaction writes the marker `d run`; then each transaction takes up to
 *  `per_txn` of the run's records (from its run index A), removes each
 *  one's D, R and every index entry ts_index_entries lists, recounts the
 *  totals it touched (Q of its groups and X of its models from their
 *  indexes, S from the time index: min and max cannot be subtracted, and
 *  sums recounted carry no drift), adds the records' bytes to the freed
 *  count `f`, and advances the commit sequence N; the transaction that
 *  finds no record left removes the marker. A process killed at any point
 *  leaves either the marker and a committed prefix of the drop, or
 *  nothing: the next open of the shard finds the marker and the owner
 *  finishes the drop (ts_store_drop_resume). Totals always agree with the
 *  records a commit left, so `trajstore check` is clean between steps too.
 *
 *  The bytes of dropped records stay in the records file until a
 *  compaction (ts_store_compact) writes the live records into a new
 *  generation of the file, points their D entries there and switches the
 *  generation `g` in one commit; an open removes the other generation's
 *  file, whichever side of that commit a crash fell on.
 */
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_index.h"
#include "ts_io.h"
#include "ts_key.h"
#include "ts_labels.h"
#include "ts_mp.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char s_freed_key [1] = { 'f' };
#define S_DROP_TAG 'd'

uint64_t
ts_store_freed_bytes (ts_store_t *self)
{
    int64_t v;
    return store_get_num (self->db, s_freed_key, &v) ? (uint64_t) v : 0;
}

static size_t
s_marker_key (char *key, const char *run, size_t run_len)
{
    key [0] = S_DROP_TAG;
    memcpy (key + 1, run, run_len);
    return 1 + run_len;
}

/* --- one step ------------------------------------------------------------- */

typedef struct {
    uint64_t *seqs;
    size_t    n, max;
} s_collect_t;

static int
s_collect_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) val; (void) vlen;
    s_collect_t *c = arg;
    if (klen < 9)
        return 0;
    c->seqs [c->n++] = (uint64_t) ts_key_get_i64 (key + klen - 8);
    return c->n < c->max ? 0 : 1;
}

static int
s_remove_entry (void *arg, const char *key, size_t klen, bool holds_summary, const char *what)
{
    (void) holds_summary;
    ts_store_t *self = arg;
    if (kcdbremove (self->db, key, klen) || kcdbecode (self->db) == KCENOREC)
        return 0;
    char doing [64];
    snprintf (doing, sizeof doing, "remove %s index entry", what);
    return store_kc_error (self, doing);
}

/*  Recounts the totals under `tkey` from the summaries under `prefix`
 *  (G or M of one name, or all of T), and writes them, or removes them
 *  when no record is left (`keep_empty`: S stays, empty). */
typedef struct {
    ts_totals_t t;
} s_recount_t;

static int
s_recount_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen;
    ts_summary_t s;
    if (ts_summary_unpack_buf (val, vlen, &s, NULL))
        return TS_ECORRUPT;
    ts_totals_add (&((s_recount_t *) arg)->t, &s);
    return 0;
}

static int
s_recount (ts_store_t *self, const char *prefix, size_t plen, const char *tkey, size_t tlen,
           bool keep_empty)
{
    s_recount_t rc0;
    ts_totals_init (&rc0.t);
    ts_scan_t sc = { .prefix = prefix, .prefix_len = plen };
    int rc = store_scan (self, &sc, s_recount_visit, &rc0, false);
    if (rc == TS_ECORRUPT)
        snprintf (self->errmsg, sizeof self->errmsg, "%s: an index entry does not decode",
                  self->path);
    if (rc)
        return rc;
    if (rc0.t.count == 0 && !keep_empty) {
        if (kcdbremove (self->db, tkey, tlen) || kcdbecode (self->db) == KCENOREC)
            return 0;
        return store_kc_error (self, "remove totals");
    }
    self->scratch.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->scratch, ts_buf_packer_write);
    if (ts_totals_pack (&pk, &rc0.t))
        return TS_ENOMEM;
    if (!kcdbset (self->db, tkey, tlen, self->scratch.data, self->scratch.size))
        return store_kc_error (self, "write totals");
    return 0;
}

/*  Removes one record (sequence `seq`) and every entry it has; notes its
 *  group and model in `groups` and `models`, its bytes in *freed. */
static int
s_drop_record (ts_store_t *self, uint64_t seq, const char *run, size_t run_len,
               ts_map_t *groups, ts_map_t *models, uint64_t *freed, ts_buf_t *buf)
{
    char key [TS_KEY_MAX];
    size_t dlen = ts_key_data (key, seq);
    size_t vlen;
    char *v = kcdbget (self->db, key, dlen, &vlen);
    if (!v) {
        if (kcdbecode (self->db) != KCENOREC)
            return store_kc_error (self, "read record");
        /* a run index entry without its record: remove it alone */
        return s_remove_entry (self, key, ts_key_run (key, run, run_len, seq), false, "run");
    }
    store_loc_t loc;
    buf->size = 0;
    int rc = 0;
    if (store_loc_unpack (v, vlen, &loc)) {
        rc = store_rec_read (self, seq, &loc, buf);
        *freed += loc.len;
    }
    else
        rc = ts_buf_append (buf, v, vlen) ? TS_ENOMEM : 0;      /* layouts 4, 5 */
    kcfree (v);
    if (rc)
        return rc;
    ts_summary_t s;
    if (ts_summary_unpack_buf (buf->data, buf->size, &s, NULL)) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: the record of sequence %llu does "
                  "not decode", self->path, (unsigned long long) seq);
        return TS_ECORRUPT;
    }
    if ((s.group && ts_map_put (groups, s.group, s.group_len, (void *) 1))
    ||  (s.model && ts_map_put (models, s.model, s.model_len, (void *) 1)))
        return TS_ENOMEM;
    rc = ts_index_entries (&s, buf->data, buf->size, seq, s_remove_entry, self);
    /* its labels, and the mark that its text is indexed: the postings of
     * its commit stay (they hold other records' too) and are passed over
     * by search and check, as the sequence is never used again */
    if (!rc)
        rc = ts_store_labels_forget (self, s.id, s.id_len);
    if (!rc)
        rc = s_remove_entry (self, key, ts_key_text_doc (key, seq), false, "text");
    if (!rc)
        rc = s_remove_entry (self, key, ts_key_record (key, s.id, s.id_len), false, "id");
    if (!rc)
        rc = s_remove_entry (self, key, ts_key_data (key, seq), false, "record");
    return rc;
}

/*  One transaction of a drop: up to `per_txn` records of the run, or, when
 *  none is left, the marker. *n: records dropped; *done: the marker went. */
static int
s_step (ts_store_t *self, const char *run, size_t run_len, size_t per_txn, uint64_t *n,
        bool *done)
{
    *n = 0;
    *done = false;
    /* ids waiting for R go there first: the drop then removes R entries
     * only, and a rollback has nothing in memory to restore */
    int rc = ts_store_flush_ids (self);
    if (rc)
        return rc;
    char prefix [TS_KEY_MAX], key [TS_KEY_MAX];
    s_collect_t c = { malloc (per_txn * sizeof (uint64_t)), 0, per_txn };
    ts_map_t *groups = ts_map_new (NULL), *models = ts_map_new (NULL);
    ts_buf_t buf = { 0 };
    if (!c.seqs || !groups || !models) {
        rc = TS_ENOMEM;
        goto out;
    }
    ts_scan_t sc = { .prefix = prefix, .prefix_len = ts_key_run_prefix (prefix, run, run_len) };
    rc = store_scan (self, &sc, s_collect_visit, &c, false);
    if (rc)
        goto out;
    if ((rc = store_space_check (self, 64 * c.n)))
        goto out;
    if (!kcdbbegintran (self->db, 0)) {
        rc = store_kc_error (self, "begin transaction");
        goto out;
    }
    uint64_t freed = 0;
    for (size_t i = 0; i < c.n && !rc; i++)
        rc = s_drop_record (self, c.seqs [i], run, run_len, groups, models, &freed, &buf);
    /* the totals of what this step touched, recounted */
    size_t pos = 0, klen;
    const void *name;
    void *unused;
    while (!rc && ts_map_next (groups, &pos, &name, &klen, &unused))
        rc = s_recount (self, prefix, ts_key_group_prefix (prefix, name, klen),
                        key, ts_key_group_totals (key, name, klen), false);
    pos = 0;
    while (!rc && ts_map_next (models, &pos, &name, &klen, &unused))
        rc = s_recount (self, prefix, ts_key_model_prefix (prefix, name, klen),
                        key, ts_key_model_totals (key, name, klen), false);
    if (!rc && c.n > 0) {
        char t = TS_TAG_TIME, s = TS_TAG_SHARD_TOTALS;
        rc = s_recount (self, &t, 1, &s, 1, true);
    }
    if (!rc && freed)
        rc = store_set_num (self, s_freed_key, (int64_t) (ts_store_freed_bytes (self) + freed),
                            "write freed bytes");
    if (!rc && c.n > 0)
        rc = store_set_num (self, (const char []) { 'N' }, (int64_t) ts_store_seq (self) + 1,
                            "write sequence");
    if (!rc && c.n == 0) {
        klen = s_marker_key (key, run, run_len);
        if (!kcdbremove (self->db, key, klen) && kcdbecode (self->db) != KCENOREC)
            rc = store_kc_error (self, "remove drop marker");
        *done = true;
    }
    rc = store_end (self, rc, self->next_seq, false);
    if (!rc)
        *n = c.n;
    else
        *done = false;
out:
    free (c.seqs);
    ts_map_destroy (&groups);
    ts_map_destroy (&models);
    ts_buf_free (&buf);
    return rc;
}

/*  Runs the drop of `run` to its end, the store's tick between transactions. */
static int
s_finish (ts_store_t *self, const char *run, size_t run_len, size_t per_txn, uint64_t *dropped)
{
    for (;;) {
        uint64_t n;
        bool done;
        int rc = s_step (self, run, run_len, per_txn, &n, &done);
        if (rc)
            return rc;
        *dropped += n;
        if (done)
            return 0;
        store_tick (self);
    }
}

int
ts_store_drop_run (ts_store_t *self, const char *run, size_t run_len, size_t per_txn,
                   uint64_t *dropped)
{
    assert (self && run && dropped);
    *dropped = 0;
    if (self->broken)
        return store_refuse_broken (self);
    if (run_len == 0 || run_len > TS_RUN_MAX_BYTES) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a run name has 1 to %d bytes",
                  self->path, TS_RUN_MAX_BYTES);
        return TS_EINVAL;
    }
    if (per_txn == 0)
        per_txn = TS_STORE_DROP_PER_TXN;
    /* no record of the run here: nothing to mark */
    char prefix [TS_KEY_MAX];
    s_collect_t c = { (uint64_t [1]) { 0 }, 0, 1 };
    ts_scan_t sc = { .prefix = prefix, .prefix_len = ts_key_run_prefix (prefix, run, run_len) };
    int rc = store_scan (self, &sc, s_collect_visit, &c, false);
    if (rc || c.n == 0)
        return rc;
    /* the marker, durable before anything goes */
    if (!kcdbbegintran (self->db, 0))
        return store_kc_error (self, "begin transaction");
    char key [TS_KEY_MAX];
    size_t klen = s_marker_key (key, run, run_len);
    rc = kcdbset (self->db, key, klen, "", 0) ? 0 : store_kc_error (self, "write drop marker");
    rc = store_end (self, rc, self->next_seq, false);
    if (rc)
        return rc;
    return s_finish (self, run, run_len, per_txn, dropped);
}

/*  The runs whose drop a marker says is under way. */
typedef struct {
    char   run [TS_RUN_MAX_BYTES + 1];
    size_t len;
    bool   found;
} s_marker_t;

static int
s_marker_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) val; (void) vlen;
    s_marker_t *m = arg;
    if (klen < 2 || klen - 1 > TS_RUN_MAX_BYTES)
        return 0;
    memcpy (m->run, key + 1, klen - 1);
    m->len = klen - 1;
    m->found = true;
    return 1;
}

static int
s_next_marker (ts_store_t *self, s_marker_t *m)
{
    char tag = S_DROP_TAG;
    ts_scan_t sc = { .prefix = &tag, .prefix_len = 1 };
    m->found = false;
    return store_scan (self, &sc, s_marker_visit, m, false);
}

bool
ts_store_drop_pending (ts_store_t *self)
{
    s_marker_t m;
    return s_next_marker (self, &m) == 0 && m.found;
}

int
ts_store_drop_resume (ts_store_t *self, size_t per_txn, uint64_t *dropped)
{
    assert (self && dropped);
    *dropped = 0;
    if (self->broken)
        return store_refuse_broken (self);
    if (per_txn == 0)
        per_txn = TS_STORE_DROP_PER_TXN;
    for (;;) {
        s_marker_t m;
        int rc = s_next_marker (self, &m);
        if (rc || !m.found)
            return rc;
        uint64_t n = 0;
        rc = s_finish (self, m.run, m.len, per_txn, &n);
        *dropped += n;
        if (rc)
            return rc;
    }
}

/* --- compaction ----------------------------------------------------------- */

static int
s_write_full (int fd, const char *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite (fd, p, n, (off_t) off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        p += w;
        n -= (size_t) w;
        off += (uint64_t) w;
    }
    return 0;
}

int
ts_store_compact (ts_store_t *self, uint64_t *reclaimed)
{
    assert (self && reclaimed);
    *reclaimed = 0;
    if (self->broken)
        return store_refuse_broken (self);
    int rc = ts_store_flush_ids (self);
    if (rc || ts_store_freed_bytes (self) == 0)
        return rc;
    int64_t g;
    uint64_t gen = store_get_num (self->db, s_recgen_key, &g) ? (uint64_t) g : 0;
    char *npath = store_rec_path (self, gen + 1);
    if (!npath)
        return TS_ENOMEM;
    if ((rc = store_space_check (self, self->rec_end - ts_store_freed_bytes (self)))) {
        free (npath);
        return rc;
    }
    int fd = open (npath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: cannot create: %s", npath,
                  strerror (errno));
        free (npath);
        return TS_ESTORE;
    }
    KCCUR *cur = NULL;
    ts_buf_t buf = { 0 };
    uint64_t end = 0, n = 0;
    if (!kcdbbegintran (self->db, 0)) {
        rc = store_kc_error (self, "begin transaction");
        goto fail;
    }
    /* every D entry, in sequence order: its record goes to the new file's
     * end and the entry is pointed there, in the one transaction */
    char d = TS_TAG_DATA;
    if (!(cur = kcdbcursor (self->db))) {
        rc = TS_ENOMEM;
        goto end;
    }
    bool more = kccurjumpkey (cur, &d, 1);
    while (more) {
        size_t klen, vlen;
        const char *v;
        char *k = kccurget (cur, &klen, &v, &vlen, 0);
        if (!k)
            break;
        store_loc_t at;
        bool is_d = klen == 9 && k [0] == TS_TAG_DATA;
        bool loc = is_d && store_loc_unpack (v, vlen, &at);
        uint64_t seq = is_d ? (uint64_t) ts_key_get_i64 (k + 1) : 0;
        kcfree (k);
        if (!is_d)
            break;
        if (!loc) {                     /* a record of layout 4 or 5, in D */
            more = kccurstep (cur);
            continue;
        }
        /* the bytes as stored (compressed ones stay so): a copy */
        store_loc_t stored = at;
        stored.packed = false;
        buf.size = 0;
        if ((rc = store_rec_read (self, seq, &stored, &buf)))
            break;
        int e = s_write_full (fd, buf.data, buf.size, end);
        if (e) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: write: %s", npath, strerror (e));
            rc = e == ENOSPC ? -ENOSPC : TS_ESTORE;
            break;
        }
        char nloc [S_LOC_ZLEN];
        at.off = end;
        size_t nlen = store_loc_pack (nloc, &at);
        end += at.len;
        if (!kccursetvalue (cur, nloc, nlen, 1)) {
            more = false;
            if (kccurecode (cur) != KCENOREC)
                rc = store_kc_error (self, "point a record at its new place");
        }
        if (++n % 4096 == 0)
            store_tick (self);
    }
    kccurdel (cur);
    if (!rc && fsync (fd)) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: fsync: %s", npath, strerror (errno));
        rc = TS_ESTORE;
    }
    if (!rc)
        rc = store_set_num (self, s_reclen_key, (int64_t) end, "write records length");
    if (!rc)
        rc = store_set_num (self, s_freed_key, 0, "write freed bytes");
    if (!rc)
        rc = store_set_num (self, s_recgen_key, (int64_t) (gen + 1), "write records generation");
end:
    rc = store_end (self, rc, self->next_seq, false);
    if (rc)
        goto fail;
    /* committed: the new generation is the file; the old one goes */
    *reclaimed = self->rec_end - end;
    close (self->rec_fd);
    unlink (self->rec_path);
    free (self->rec_path);
    self->rec_path = npath;
    self->rec_fd = fd;
    self->rec_end = self->rec_next = end;
    ts_buf_free (&buf);
    return 0;
fail:
    close (fd);
    unlink (npath);
    free (npath);
    ts_buf_free (&buf);
    return rc;
}
