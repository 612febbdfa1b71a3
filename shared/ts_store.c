/*  ts_store.c: a shard on Kyoto Cabinet's TreeDB and a records file beside
 *  it (ts_store.h; docs/DESIGN.md, "Commits and exactly-once").
 *
 *  The one subtle part is the group commit in ts_store_put_batches: every
 *  batch is checked against its commit marker, each record's id is looked
 *  up (ids waiting for R, then R: a duplicate is counted and skipped), the
 *  record is queued for the records file and its D entry and index entries
 *  are set, and the totals deltas of the whole call are gathered in small
 *  in-memory tables and written once per group/model at the end, all inside
 *  one soft transaction; the records are written just before it commits.
 *
 *  The other parts of a shard handle (open and close, the id table, the
 *  records file, metadata, reads) are listed in ts_store_int.h.
 */
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_index.h"
#include "ts_key.h"
#include "ts_labels.h"
#include "ts_mp.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/statvfs.h>
#include <unistd.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

static int s_write_qpend (ts_store_t *self);

/*  A transaction began: what it adds to the waiting entries starts here. */
static void
s_begun (ts_store_t *self)
{
    self->defer_mark = self->defer.size;
    self->ndefer_mark = self->ndefer;
}

int
store_refuse_broken (ts_store_t *self)
{
    snprintf (self->errmsg, sizeof self->errmsg, "%s: an earlier commit failed; the shard "
              "must be reopened by a new process", self->path);
    return TS_ESTORE;
}

/*  Ends the open transaction: commits when rc is 0, else rolls back, and
 *  returns rc or the commit's error. Ids added to the waiting table by the
 *  transaction (sequences from `first` on) go when nothing was kept; all
 *  go when the commit kept them in R (`wrote_ids`). */
int
store_end (ts_store_t *self, int rc, uint64_t first, bool wrote_ids)
{
    if (!kcdbendtran (self->db, rc == 0)) {
        /* Kyoto Cabinet leaves a handle whose commit failed half inside
         * its transaction: beginning another hangs, and closing it writes
         * a broken file. Only a new process can reopen it (the write-ahead
         * log then rolls back to the last commit), so the handle is never
         * used or closed again. */
        int failed = store_kc_error (self, rc == 0 ? "commit" : "roll back");
        if (rc == 0)
            rc = failed;
        self->broken = true;
        size_t len = strlen (self->errmsg);
        snprintf (self->errmsg + len, sizeof self->errmsg - len,
                  "; nothing of this commit is kept, the shard must be reopened");
    }
    store_rec_end (self, rc == 0);
    if (rc) {                           /* rolled back: so is the sequence */
        self->next_seq = store_load_next_seq (self->db);
        store_pend_forget (self, first);
        store_defer_forget (self, false);
        if (!self->broken && store_text_waits (self) && store_text_reload (self))
            self->broken = true;        /* what waits is no longer known */
    }
    else if (wrote_ids) {
        store_pend_forget (self, 0);
        store_defer_forget (self, true);
        ts_map_clear (self->qpend);
        store_text_reset (self);
    }
    return rc;
}

int
ts_store_flush_ids (ts_store_t *self)
{
    assert (self);
    size_t n = ts_map_size (self->pend);
    if (!n && !self->ndefer && !ts_map_size (self->qpend) && !store_text_waits (self))
        return 0;
    if (self->broken)
        return store_refuse_broken (self);
    int rc = store_space_check (self, self->pend_bytes + 32 * n + self->defer.size
                                     + store_text_bytes (self));
    if (rc)
        return rc;
    if (!kcdbbegintran (self->db, 0))
        return store_kc_error (self, "begin transaction");
    s_begun (self);
    rc = s_write_qpend (self);
    if (rc == 0)
        rc = store_write_pending (self);
    return store_end (self, rc, self->next_seq, true);
}

size_t
ts_store_pending_ids (const ts_store_t *self)
{
    return ts_map_size (self->pend);
}

void
ts_store_set_id_batch (ts_store_t *self, size_t ids)
{
    self->pend_max = ids ? ids : S_PENDING_IDS;
}

/*  Before a read that goes through an index (by key or in its order) of
 *  which something waits (R: ids; any tag: its entries), or through the
 *  whole tree: the pass that writes what waits, so that it sees them. */
int
store_settle (ts_store_t *self, const char *key, size_t klen)
{
    bool waits = klen == 0 ? (ts_map_size (self->pend) || self->ndefer || ts_map_size (self->qpend)
                              || store_text_waits (self))
               : key [0] == TS_TAG_RECORD ? ts_map_size (self->pend) > 0
               : key [0] == TS_TAG_TEXT ? store_text_waits (self)
               : key [0] == TS_TAG_GROUP_TOTALS ? ts_map_size (self->qpend) > 0
               : store_defer_waits (self, key [0]);
    return waits ? ts_store_flush_ids (self) : 0;
}

/*  Refuses a commit the disk cannot take, before Kyoto Cabinet starts it:
 *  a commit that fails halfway leaves a handle only a restart can clear
 *  (ts_store_is_broken). A commit writes its records, their index entries,
 *  the rewritten tree pages and the write-ahead copies of what it changes:
 *  four times the records' bytes and 8 MiB of pages is a safe bound. */
int
store_space_check (ts_store_t *self, size_t bytes)
{
    char dir [TS_KEY_MAX];
    snprintf (dir, sizeof dir, "%s", self->path);
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf (dir, sizeof dir, ".");
    struct statvfs vfs;
    if (statvfs (dir, &vfs))
        return 0;                       /* cannot tell: let the commit say */
    uint64_t avail = (uint64_t) vfs.f_bavail * vfs.f_frsize;
    uint64_t need = 4 * (uint64_t) bytes + (8u << 20);
    if (avail >= need)
        return 0;
    snprintf (self->errmsg, sizeof self->errmsg,
              "%s: no space left on device: %.1f MiB free, a commit of %.1f MiB needs %.1f MiB",
              self->path, (double) avail / 1048576.0, (double) bytes / 1048576.0,
              (double) need / 1048576.0);
    return -ENOSPC;
}

uint64_t
ts_store_count (ts_store_t *self)
{
    assert (self);
    /* not kcdbcount: that counts every key (index entries, totals, commit
     * markers); the shard totals hold the number of records */
    ts_totals_t t;
    return ts_store_totals (self, &t) == 0 ? t.count : 0;
}

/* --- totals deltas of one transaction ----------------------------------- */

typedef struct {
    const char *name;        /* NULL: empty slot */
    size_t      len;
    ts_totals_t t;
} s_slot_t;

typedef struct {
    s_slot_t *slots;
    size_t    cap;           /* power of two */
    size_t    used;
} s_table_t;

static int
s_table_init (s_table_t *tab, size_t expected)
{
    size_t cap = 16;
    while (cap < 2 * expected)
        cap *= 2;
    tab->slots = calloc (cap, sizeof *tab->slots);
    tab->cap = cap;
    tab->used = 0;
    return tab->slots ? 0 : TS_ENOMEM;
}

static ts_totals_t *
s_table_get (s_table_t *tab, const char *name, size_t len)
{
    size_t i = (size_t) XXH3_64bits (name, len) & (tab->cap - 1);
    while (tab->slots [i].name) {
        if (tab->slots [i].len == len && !memcmp (tab->slots [i].name, name, len))
            return &tab->slots [i].t;
        i = (i + 1) & (tab->cap - 1);
    }
    tab->slots [i].name = name;
    tab->slots [i].len = len;
    ts_totals_init (&tab->slots [i].t);
    tab->used++;
    return &tab->slots [i].t;
}

/*  Reads the totals at key (absent: empty), adds delta, writes back. */
static int
s_merge_totals (ts_store_t *self, const char *key, size_t klen, const ts_totals_t *delta)
{
    ts_totals_t t;
    size_t vlen;
    char *v = kcdbget (self->db, key, klen, &vlen);
    if (v) {
        int rc = ts_totals_unpack (v, vlen, &t, NULL);
        kcfree (v);
        if (rc) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: stored totals do not decode", self->path);
            return TS_ECORRUPT;
        }
    }
    else if (kcdbecode (self->db) != KCENOREC)
        return store_kc_error (self, "read totals");
    else
        ts_totals_init (&t);
    ts_totals_merge (&t, delta);
    self->scratch.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->scratch, ts_buf_packer_write);
    if (ts_totals_pack (&pk, &t))
        return TS_ENOMEM;
    if (!kcdbset (self->db, key, klen, self->scratch.data, self->scratch.size))
        return store_kc_error (self, "write totals");
    return 0;
}

/*  A commit marker: [imported, duplicates], and for a batch that refused
 *  labels, [imported, duplicates, refused, bin of their [line, id] pairs]
 *  so that a replay reports them again. */
static int
s_pack_result (ts_store_t *self, ts_buf_t *buf, const ts_batch_result_t *r)
{
    msgpack_packer pk;
    buf->size = 0;
    msgpack_packer_init (&pk, buf, ts_buf_packer_write);
    if (msgpack_pack_array (&pk, r->unknown ? 4 : 2) || msgpack_pack_uint32 (&pk, r->imported)
    ||  msgpack_pack_uint32 (&pk, r->duplicates))
        return TS_ENOMEM;
    if (r->unknown && (msgpack_pack_uint32 (&pk, r->unknown) || msgpack_pack_bin (&pk, r->unknown_len)
                       || msgpack_pack_bin_body (&pk, self->unknown.data + r->unknown_off,
                                                 r->unknown_len)))
        return TS_ENOMEM;
    return 0;
}

static int
s_unpack_result (ts_store_t *self, const char *v, size_t vlen, ts_batch_result_t *r)
{
    ts_mp_reader_t rd;
    uint32_t n;
    uint64_t imp, dup, unk = 0;
    ts_mp_item_t list = { 0 };
    ts_mp_reader_init (&rd, v, vlen);
    if (ts_mp_read_array (&rd, &n) || n < 2 || ts_mp_read_uint (&rd, &imp)
    ||  ts_mp_read_uint (&rd, &dup)
    ||  (n >= 4 && (ts_mp_read_uint (&rd, &unk) || ts_mp_next (&rd, &list) || list.type != TS_MP_BIN)))
        return TS_ECORRUPT;
    r->imported = (uint32_t) imp;
    r->duplicates = (uint32_t) dup;
    r->replayed = true;
    r->unknown = (uint32_t) unk;
    r->unknown_off = self->unknown.size;
    r->unknown_len = unk ? list.len : 0;
    if (unk && ts_buf_append (&self->unknown, list.ptr, list.len))
        return TS_ENOMEM;
    return 0;
}

const char *
ts_store_unknown_labels (const ts_store_t *self)
{
    return self->unknown.data;
}

/*  One label form of a batch (ts_labels.h), inside the transaction. */
static int
s_put_label (ts_store_t *self, const char *form, size_t len, ts_batch_result_t *res)
{
    int done;
    ts_label_t l;
    int rc = ts_store_label_apply (self, form, len, &done, &l);
    if (rc)
        return rc;
    if (done > 0)
        res->imported++;
    else if (done == 0)
        res->duplicates++;
    else {
        msgpack_packer pk;
        msgpack_packer_init (&pk, &self->unknown, ts_buf_packer_write);
        if (msgpack_pack_array (&pk, 2) || msgpack_pack_uint64 (&pk, l.line)
        ||  ts_mp_pack_strn (&pk, l.id, l.id_len))
            return TS_ENOMEM;
        res->unknown++;
        res->unknown_len = self->unknown.size - res->unknown_off;
    }
    return 0;
}

int
ts_store_batch_result (ts_store_t *self, const char *job, size_t job_len, uint64_t chunk,
                       ts_batch_result_t *result)
{
    assert (self && job);
    char key [TS_KEY_MAX];
    if (job_len > 256)
        return TS_EINVAL;
    size_t klen = ts_key_commit (key, job, job_len, chunk);
    char val [64];
    int32_t vlen = kcdbgetbuf (self->db, key, klen, val, sizeof val);
    if (vlen < 0)
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : store_kc_error (self, "read marker");
    self->unknown.size = 0;
    return s_unpack_result (self, val, (size_t) vlen, result);
}

/*  Writes one batch inside the open transaction. */
/*  The runs' totals of one transaction, for its delta, are keyed by their
 *  U name (ts_key.h; not stored), built here: the table borrows names, so
 *  the names live in a list of blocks that never move. */
typedef struct s_keyblk {
    struct s_keyblk *next;
    size_t used;
    char   bytes [64 * 1024];
} s_keyblk_t;

/*  The totals in `tab` named `key` (copied into the blocks when new). */
static ts_totals_t *
s_named_totals (s_table_t *tab, s_keyblk_t **blk, const char *key, size_t klen)
{
    if (!*blk || (*blk)->used + klen > sizeof (*blk)->bytes) {
        s_keyblk_t *b = malloc (sizeof *b);
        if (!b)
            return NULL;
        b->next = *blk;
        b->used = 0;
        *blk = b;
    }
    char *at = (*blk)->bytes + (*blk)->used;
    memcpy (at, key, klen);
    size_t had = tab->used;
    ts_totals_t *t = s_table_get (tab, at, klen);
    if (tab->used != had)               /* a new name: the copy stays */
        (*blk)->used += klen;
    return t;
}

/*  Adds a record of a run to its run's totals in its group (U name) and
 *  in its model (ts_delta_run_model_name: "run" alone without a model). */
static int
s_run_totals_add (s_table_t *runs, s_table_t *run_models, s_keyblk_t **blk,
                  const ts_summary_t *s)
{
    char key [TS_KEY_MAX];
    size_t klen = ts_key_run_totals (key, s->run, s->run_len, s->group, s->group_len);
    ts_totals_t *t = s_named_totals (runs, blk, key, klen);
    if (!t)
        return TS_ENOMEM;
    ts_totals_add (t, s);
    klen = ts_delta_run_model_name (key, sizeof key, s);
    if (klen == 0)
        return TS_ECORRUPT;     /* summaries hold shorter names (ts_record.h) */
    t = s_named_totals (run_models, blk, key, klen);
    if (!t)
        return TS_ENOMEM;
    ts_totals_add (t, s);
    return 0;
}

static int
s_put_batch (ts_store_t *self, const ts_batch_t *b, ts_batch_result_t *res,
             ts_totals_t *shard, s_table_t *groups, s_table_t *models,
             s_table_t *runs, s_table_t *run_models, s_keyblk_t **keys)
{
    char key [TS_KEY_MAX];
    memset (res, 0, sizeof *res);
    res->unknown_off = self->unknown.size;
    if (b->job_len == 0 || b->job_len > 256) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: bad job id length %zu", self->path, b->job_len);
        return TS_EINVAL;
    }
    size_t mlen = ts_key_commit (key, b->job, b->job_len, b->chunk);
    char mval [64];
    int32_t vlen = kcdbgetbuf (self->db, key, mlen, mval, sizeof mval);
    if (vlen >= 0)
        return s_unpack_result (self, mval, (size_t) vlen, res);
    if (kcdbecode (self->db) != KCENOREC)
        return store_kc_error (self, "read marker");

    ts_mp_reader_t rd;
    ts_mp_item_t it;
    ts_mp_reader_init (&rd, b->records, b->records_len);
    for (uint32_t i = 0; i < b->nrecords; i++) {
        ts_summary_t s;
        size_t used;
        int nx = ts_mp_next (&rd, &it);
        if (nx == 0 && it.type == TS_MP_BIN && ts_label_is_form (it.ptr, it.len)) {
            int rc = s_put_label (self, it.ptr, it.len, res);
            if (rc)
                return rc;
            continue;
        }
        if (nx || it.type != TS_MP_BIN
        ||  ts_summary_unpack_buf (it.ptr, it.len, &s, &used)
        ||  s.id_len == 0 || s.id_len > TS_ID_MAX_BYTES
        ||  s.group_len > TS_GROUP_MAX_BYTES || s.model_len > TS_MODEL_MAX_BYTES
        ||  s.run_len > TS_RUN_MAX_BYTES) {
            snprintf (self->errmsg, sizeof self->errmsg,
                      "%s: record %u of batch (chunk %llu) does not decode", self->path, i,
                      (unsigned long long) b->chunk);
            return TS_ECORRUPT;
        }
        /* an id already stored (by an earlier commit or earlier in this
         * one) waits for R or is in it: a duplicate */
        uint64_t seq = self->next_seq, had;
        if (store_pend_find (self, s.id, s.id_len, &had)) {
            res->duplicates++;
            continue;
        }
        char seq8 [8];
        size_t klen = ts_key_record (key, s.id, s.id_len);
        if (kcdbgetbuf (self->db, key, klen, seq8, sizeof seq8) >= 0) {
            res->duplicates++;
            continue;
        }
        if (kcdbecode (self->db) != KCENOREC)
            return store_kc_error (self, "read id index");
        if (store_pend_add (self, s.id, s.id_len, seq)) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
            return TS_ENOMEM;
        }
        char loc [S_LOC_MAX];
        size_t loc_len;
        int rc = store_rec_add (self, it.ptr, it.len, loc, &loc_len);
        if (rc)
            return rc;
        klen = ts_key_data (key, seq);
        if (!kcdbset (self->db, key, klen, loc, loc_len))
            return store_kc_error (self, "write record");
        self->next_seq++;
        res->imported++;
        /* its index entries wait for the pass (ts_store_ids.c; the list
         * of them is ts_index_entries, which drop removes too) */
        const char *sum = it.ptr;
        if (store_index_record (self, NULL, &s, sum, used, seq))
            return TS_ENOMEM;
        if (s.group)
            ts_totals_add (s_table_get (groups, s.group, s.group_len), &s);
        if (s.model)
            ts_totals_add (s_table_get (models, s.model, s.model_len), &s);
        int rrc = s.run ? s_run_totals_add (runs, run_models, keys, &s) : 0;
        if (rrc)
            return rrc;
        if (b->text) {
            int rc = store_text_add (self, seq, ts_summary_time (&s), it.ptr + used, it.len - used,
                                     b->text, b->text_len);
            if (rc)
                return rc;
        }
        ts_totals_add (shard, &s);
    }
    if (s_pack_result (self, &self->scratch, res))
        return TS_ENOMEM;
    if (!kcdbset (self->db, key, ts_key_commit (key, b->job, b->job_len, b->chunk),
                  self->scratch.data, self->scratch.size))
        return store_kc_error (self, "write commit marker");
    return 0;
}

/*  Packs a table's entries as [[name, totals]...]. */
static int
s_pack_table (msgpack_packer *pk, const s_table_t *tab)
{
    int rc = msgpack_pack_array (pk, tab->used);
    for (size_t i = 0; i < tab->cap && !rc; i++) {
        const s_slot_t *sl = &tab->slots [i];
        if (!sl->name)
            continue;
        rc = msgpack_pack_array (pk, 2) || ts_mp_pack_strn (pk, sl->name, sl->len)
          || ts_totals_pack (pk, &sl->t);
    }
    return rc ? TS_ENOMEM : 0;
}

/*  Packs the runs' table (named by U keys) as [[run, group|nil, totals]...]. */
static int
s_pack_runs (msgpack_packer *pk, const s_table_t *tab)
{
    int rc = msgpack_pack_array (pk, tab->used);
    for (size_t i = 0; i < tab->cap && !rc; i++) {
        const s_slot_t *sl = &tab->slots [i];
        char run [TS_KEY_MAX];
        size_t rlen, glen;
        const char *group;
        if (!sl->name)
            continue;
        if (ts_key_run_totals_parse (sl->name, sl->len, run, &rlen, &group, &glen))
            return TS_ECORRUPT;
        rc = ts_delta_pack_run (pk, run, rlen, group, glen, &sl->t);
    }
    return rc ? TS_ENOMEM : 0;
}

/*  Packs the run-model table as [[run, model|nil, totals]...]. */
static int
s_pack_run_models (msgpack_packer *pk, const s_table_t *tab)
{
    int rc = msgpack_pack_array (pk, tab->used);
    for (size_t i = 0; i < tab->cap && !rc; i++) {
        const s_slot_t *sl = &tab->slots [i];
        if (sl->name)
            rc = ts_delta_pack_run_model (pk, sl->name, sl->len, &sl->t);
    }
    return rc ? TS_ENOMEM : 0;
}

static const char s_seq_key [1] = { 'N' };

uint64_t
ts_store_seq (ts_store_t *self)
{
    assert (self);
    int64_t v;
    return store_get_num (self->db, s_seq_key, &v) ? (uint64_t) v : 0;
}

/*  Adds a table's totals to the stored ones, under the Q (tag) or X keys
 *  of its names. */
static int
s_flush_table (ts_store_t *self, s_table_t *tab, char tag)
{
    char key [TS_KEY_MAX];
    for (size_t i = 0; i < tab->cap; i++) {
        s_slot_t *sl = &tab->slots [i];
        if (!sl->name)
            continue;
        size_t klen = tag == TS_TAG_MODEL_TOTALS ? ts_key_model_totals (key, sl->name, sl->len)
                                                 : ts_key_group_totals (key, sl->name, sl->len);
        int rc = s_merge_totals (self, key, klen, &sl->t);
        if (rc)
            return rc;
    }
    return 0;
}

/*  A waiting slot for each group of the table (before the commit). */
static int
s_qpend_reserve (ts_store_t *self, s_table_t *tab)
{
    for (size_t i = 0; i < tab->cap; i++)
        if (tab->slots [i].name
        &&  !store_qpend_slot (self, self->qpend, tab->slots [i].name, tab->slots [i].len))
            return TS_ENOMEM;
    return 0;
}

/*  The table's totals into their waiting slots (after the commit). */
static void
s_qpend_add (ts_store_t *self, s_table_t *tab)
{
    for (size_t i = 0; i < tab->cap; i++)
        if (tab->slots [i].name) {
            ts_totals_t *t = ts_map_get (self->qpend, tab->slots [i].name, tab->slots [i].len);
            assert (t);
            ts_totals_merge (t, &tab->slots [i].t);
        }
}

/*  Inside a pass: the waiting group totals into Q, in key order. */
static int
s_write_qpend (ts_store_t *self)
{
    size_t n = 0, pos = 0, len;
    const void *name;
    void *v;
    store_ent_t *order = malloc (ts_map_size (self->qpend) * sizeof *order + 1);
    if (!order)
        return TS_ENOMEM;
    while (ts_map_next (self->qpend, &pos, &name, &len, &v))
        if (((ts_totals_t *) v)->count)         /* (a rolled-back commit's slot) */
            order [n++] = (store_ent_t) { name, len, v, 0 };
    qsort (order, n, sizeof *order, store_ent_cmp);
    int rc = 0;
    char key [TS_KEY_MAX];
    for (size_t i = 0; i < n && !rc; i++)
        rc = s_merge_totals (self, key, ts_key_group_totals (key, order [i].key, order [i].klen),
                             order [i].val);
    free (order);
    return rc;
}

int
ts_store_put_batches (ts_store_t *self, const ts_batch_t *batches, size_t n,
                      ts_batch_result_t *results)
{
    assert (self && (batches || n == 0));
    return ts_store_put_batches_delta (self, batches, n, results, NULL);
}

int
ts_store_put_batches_delta (ts_store_t *self, const ts_batch_t *batches, size_t n,
                            ts_batch_result_t *results, ts_buf_t *delta)
{
    assert (self && (batches || n == 0));
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += batches [i].nrecords;
    s_table_t groups = { 0 }, models = { 0 }, runs = { 0 }, run_models = { 0 };
    s_keyblk_t *keys = NULL;
    ts_totals_t shard;
    ts_totals_init (&shard);
    if (s_table_init (&groups, total) || s_table_init (&models, total)
    ||  s_table_init (&runs, total) || s_table_init (&run_models, total)) {
        free (groups.slots);
        free (models.slots);
        free (runs.slots);
        free (run_models.slots);
        return TS_ENOMEM;
    }
    int rc = 0;
    uint64_t seq = 0;
    uint64_t first = self->next_seq;    /* of what this call adds */
    size_t waited = ts_map_size (self->pend);
    bool wrote_ids = false;
    self->unknown.size = 0;
    if (self->broken) {
        rc = store_refuse_broken (self);
        goto done;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += batches [i].records_len;
    if ((rc = store_space_check (self, bytes)))
        goto done;
    if (!kcdbbegintran (self->db, 0)) {
        rc = store_kc_error (self, "begin transaction");
        goto done;
    }
    s_begun (self);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = s_put_batch (self, &batches [i], &results [i], &shard, &groups, &models, &runs,
                          &run_models, &keys);
    }
    size_t waiting = ts_map_size (self->pend);
    bool pass = waiting >= self->pend_max || self->pend_bytes >= S_PENDING_BYTES
             || self->defer.size >= S_PENDING_ENTRY_BYTES
             || store_text_bytes (self) >= S_PENDING_TEXT_BYTES;
    if (rc == 0 && shard.count > 0) {
        char key [1] = { TS_TAG_SHARD_TOTALS };
        rc = s_merge_totals (self, key, 1, &shard);
        /* the groups' totals into Q in a pass, else they wait (slots
         * made now: once committed, adding to them cannot fail) */
        if (rc == 0)
            rc = pass ? s_flush_table (self, &groups, TS_TAG_GROUP_TOTALS)
                      : s_qpend_reserve (self, &groups);
        if (rc == 0)
            rc = s_flush_table (self, &models, TS_TAG_MODEL_TOTALS);

        if (rc == 0)
            rc = store_set_num (self, s_next_key, (int64_t) self->next_seq, "write record sequence");
        if (rc == 0 && !self->has_layout)
            rc = store_set_num (self, s_layout_key, S_LAYOUT, "write key layout");
        if (rc == 0) {
            seq = ts_store_seq (self) + 1;
            rc = store_set_num (self, s_seq_key, (int64_t) seq, "write sequence");
        }
    }
    if (rc == 0 && pass) {
        rc = s_write_qpend (self);
        if (rc == 0)
            rc = store_write_pending (self);
        wrote_ids = true;
    }
    else if (rc == 0) {                 /* the first to wait sets the marks */
        if (waited == 0 && waiting > 0)
            rc = store_set_num (self, s_indexed_key, (int64_t) first, "write id index mark");
        if (rc == 0 && self->ndefer_mark == 0 && self->ndefer > 0)
            rc = store_set_num (self, s_entries_key, (int64_t) first, "write index entries mark");
    }
    if (rc == 0)
        rc = store_rec_write (self);
    rc = store_end (self, rc, first, wrote_ids);
    if (rc == 0 && shard.count > 0)
        self->has_layout = true;
    if (rc == 0 && !pass)
        s_qpend_add (self, &groups);
    if (rc == 0 && delta && shard.count > 0) {
        msgpack_packer pk;
        msgpack_packer_init (&pk, delta, ts_buf_packer_write);
        if (msgpack_pack_array (&pk, 6) || msgpack_pack_uint64 (&pk, seq)
        ||  ts_totals_pack (&pk, &shard) || s_pack_table (&pk, &groups)
        ||  s_pack_table (&pk, &models) || s_pack_runs (&pk, &runs)
        ||  s_pack_run_models (&pk, &run_models))
            rc = TS_ENOMEM;     /* committed; only the delta is lost */
    }
done:
    free (groups.slots);
    free (models.slots);
    free (runs.slots);
    free (run_models.slots);
    while (keys) {
        s_keyblk_t *next = keys->next;
        free (keys);
        keys = next;
    }
    return rc;
}

void
ts_store_set_tick (ts_store_t *self, ts_store_tick_fn *fn, void *arg)
{
    assert (self);
    self->tick = fn;
    self->tick_arg = arg;
}

void
store_tick (ts_store_t *self)
{
    if (self->tick)
        self->tick (self->tick_arg);
}
