/*  ts_store_ids.c: ids waiting for a shard's id index R (parts of a shard:
 *  ts_store_int.h).
 */
#include "ts_store_int.h"
#include "ts_index.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_mp.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- ids waiting for the id index ----------------------------------------
 *
 *  Ids are random by nature, so a commit that put its ids into R (id ->
 *  sequence) inserted all over R, and Kyoto Cabinet rewrites (and logs the
 *  old bytes of) every leaf a transaction touches: late in a large import
 *  each commit rewrote most of R for a few thousand records (one shard of
 *  300,000 records: 92 MB per CPU second with R written at every commit,
 *  188 without R). So the ids of new records wait here, in memory, and go
 *  into R sorted, many commits' worth in one pass (store_write_ids). A duplicate is looked for here, then in R.
 *
 *  What is here is not in the file, but nothing is lost: key 'I' holds the
 *  sequence from which R may lack ids (written by the commit that makes
 *  the first id wait, and by every pass), and the records from it on are
 *  in D with their ids, so an open after a crash reads them back into
 *  this table. A shard without 'I' (layout 4) has all its ids in R.
 *
 *  The table is a ts_map from id to sequence (as the value pointer:
 *  sequences start at 1, so never NULL). */
/*  The sequence of a waiting id: true when it waits. */
bool
store_pend_find (const ts_store_t *self, const char *id, size_t len, uint64_t *seq)
{
    void *v = ts_map_size (self->pend) ? ts_map_get (self->pend, id, len) : NULL;
    if (v)
        *seq = (uint64_t) (uintptr_t) v;
    return v != NULL;
}

int
store_pend_add (ts_store_t *self, const char *id, size_t len, uint64_t seq)
{
    if (ts_map_put (self->pend, id, len, (void *) (uintptr_t) seq))
        return TS_ENOMEM;
    self->pend_bytes += len;
    return 0;
}

/*  Forgets the waiting ids of sequence `from` and later: a transaction
 *  that added them rolled back (from 0: all, they are in R now). */
void
store_pend_forget (ts_store_t *self, uint64_t from)
{
    if (from == 0) {
        ts_map_clear (self->pend);
        self->pend_bytes = 0;
        return;
    }
    size_t pos = 0, len;
    const void *id;
    void *v;
    while (ts_map_next (self->pend, &pos, &id, &len, &v))
        if ((uint64_t) (uintptr_t) v >= from) {
            self->pend_bytes -= len;
            ts_map_take (self->pend, id, len);
        }
}

/* --- index entries waiting ------------------------------------------------
 *
 *  The same holds for every other index once the input is not in their
 *  order: created times spread over months, continuous rewards and
 *  interleaved groups put a commit's G, W and T entries all over those
 *  ranges, and Kyoto Cabinet rewrote (and logged) most of their leaves at
 *  every commit (issue 18: 1M records 3x slower a record than 100k; the
 *  profile in docs/DESIGN.md, "Index entries waiting"). So the entries of
 *  new records wait here too, in one buffer appended in sequence order,
 *  and reach the tree with the ids, sorted, in one pass: a pass rewrites
 *  each leaf once for up to 32,768 records (or S_PENDING_ENTRY_BYTES of
 *  entries) instead of once a commit.
 *
 *  Any index goes through it: store_index_record makes a record's entries
 *  (the only place that knows them), store_defer queues one. Reads see
 *  them by settling first (store_settle: a read of a tag that has entries
 *  waiting makes the pass, ts_store.c). Key 'O' says from which sequence
 *  entries wait; an open reads them back from D as it does the ids, and
 *  the transaction that adds entries and fails drops them again. */

static int
s_defer_append (ts_buf_t *to, const char *key, size_t klen, const char *val, size_t vlen)
{
    uint32_t h [2] = { (uint32_t) klen, (uint32_t) vlen };
    size_t had = to->size;
    if (ts_buf_append (to, h, sizeof h) || ts_buf_append (to, key, klen)
    ||  (vlen && ts_buf_append (to, val, vlen))) {
        to->size = had;
        return TS_ENOMEM;
    }
    return 0;
}

/*  Queues one entry into `to` (NULL: the shard's waiting entries). */
int
store_defer (ts_store_t *self, ts_buf_t *to, const char *key, size_t klen,
             const char *val, size_t vlen)
{
    if (s_defer_append (to ? to : &self->defer, key, klen, val, vlen)) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
        return TS_ENOMEM;
    }
    if (!to) {
        self->ndefer++;
        self->defer_tags [(unsigned char) key [0] >> 3] |= (uint8_t) (1u << (key [0] & 7));
    }
    return 0;
}

/*  The index entries of the record of summary `s` (its packed form `sum`)
 *  stored under `seq`: the summary is the value of every entry but A's;
 *  G, M and A keys end with the sequence. */
typedef struct {
    ts_store_t *self;
    ts_buf_t   *to;
    const char *sum;
    size_t      sum_len;
} s_defer_entry_t;

static int
s_defer_entry (void *arg, const char *key, size_t klen, bool holds_summary, const char *what)
{
    (void) what;
    s_defer_entry_t *d = arg;
    return store_defer (d->self, d->to, key, klen, holds_summary ? d->sum : "",
                        holds_summary ? d->sum_len : 0);
}

/*  The list of entries is ts_index_entries' (ts_index.h), the one drop
 *  removes too. */
int
store_index_record (ts_store_t *self, ts_buf_t *to, const ts_summary_t *s,
                    const char *sum, size_t sum_len, uint64_t seq)
{
    s_defer_entry_t d = { self, to, sum, sum_len };
    return ts_index_entries (s, sum, sum_len, seq, s_defer_entry, &d);
}

/*  The totals waiting for a group's Q entry in `map` (the shard's or a
 *  check's), made empty when absent; NULL: out of memory. A commit merges
 *  its groups' totals into Q only in a pass: into the same leaves all
 *  over Q otherwise, once the groups interleave (100,000 groups at 1M). */
ts_totals_t *
store_qpend_slot (ts_store_t *self, ts_map_t *map, const char *group, size_t len)
{
    ts_totals_t *t = ts_map_get (map, group, len);
    if (t)
        return t;
    if (!(t = malloc (sizeof *t)) || (ts_totals_init (t), ts_map_put (map, group, len, t))) {
        free (t);
        snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
        return NULL;
    }
    return t;
}

/*  Does an entry of this tag wait? */
bool
store_defer_waits (const ts_store_t *self, char tag)
{
    return self->ndefer && (self->defer_tags [(unsigned char) tag >> 3] & (1u << (tag & 7)));
}

/*  Drops the entries the open transaction added (all: every entry, the
 *  pass has written them). */
void
store_defer_forget (ts_store_t *self, bool all)
{
    self->defer.size = all ? 0 : self->defer_mark;
    self->ndefer = all ? 0 : self->ndefer_mark;
    if (self->ndefer == 0)
        memset (self->defer_tags, 0, sizeof self->defer_tags);
}

int
store_ent_cmp (const void *a, const void *b)
{
    const store_ent_t *x = a, *y = b;
    int c = memcmp (x->key, y->key, x->klen < y->klen ? x->klen : y->klen);
    return c ? c : (x->klen > y->klen) - (x->klen < y->klen);
}

/*  Inside the open transaction: every waiting id into R and every waiting
 *  entry into its index, all in key order (so the pass walks each index's
 *  leaves once, left to right), and 'I' and 'O' past the last record. The
 *  caller empties the table and the buffer once the commit holds. */
int
store_write_pending (ts_store_t *self)
{
    int rc = store_text_flush (self);   /* the postings: a segment of their own */
    if (rc)
        return rc;
    size_t n = 0, pos = 0, len;
    const void *id;
    void *v;
    size_t nids = ts_map_size (self->pend);
    store_ent_t *order = malloc ((nids + self->ndefer) * sizeof *order + 1);
    if (!order)
        return TS_ENOMEM;
    char *keys = malloc (self->pend_bytes + nids * 9 + 1);      /* R keys and values */
    if (!keys) {
        free (order);
        return TS_ENOMEM;
    }
    char *at = keys;
    while (ts_map_next (self->pend, &pos, &id, &len, &v)) {
        size_t klen = ts_key_record (at, id, len);
        ts_key_put_i64 (at + klen, (int64_t) (uintptr_t) v);
        order [n++] = (store_ent_t) { at, klen, at + klen, 8 };
        at += klen + 8;
    }
    for (size_t off = 0; off < self->defer.size; ) {
        uint32_t h [2];
        memcpy (h, self->defer.data + off, sizeof h);
        const char *k = self->defer.data + off + sizeof h;
        order [n++] = (store_ent_t) { k, h [0], k + h [0], h [1] };
        off += sizeof h + h [0] + h [1];
    }
    qsort (order, n, sizeof *order, store_ent_cmp);
    for (size_t i = 0; i < n && !rc; i++) {
        if (!kcdbset (self->db, order [i].key, order [i].klen, order [i].val, order [i].vlen))
            rc = store_kc_error (self, order [i].key [0] == TS_TAG_RECORD ? "write id index"
                                                                          : "write index entries");
        store_tick_step (self);
    }
    free (keys);
    free (order);
    if (rc == 0)
        rc = store_set_num (self, s_indexed_key, (int64_t) self->next_seq, "write id index mark");
    if (rc == 0)
        rc = store_set_num (self, s_entries_key, (int64_t) self->next_seq, "write index entries mark");
    return rc;
}

/*  Reads the ids of the records from sequence `ids_from` on and the index
 *  entries of those from `entries_from` on back from D (an open after the
 *  process ended before they reached the tree); UINT64_MAX: none. */
typedef struct {
    ts_store_t *self;
    uint64_t    ids_from, entries_from;
    ts_buf_t   *to;             /* where entries go (NULL: the shard's) */
    ts_map_t   *groups;         /* and group totals */
    uint64_t    ids;            /* records from ids_from on seen */
    bool        ids_differ;     /* (to set) one of them does not wait as it should */
    bool        text_only;      /* the postings alone (store_text_reload) */
    uint64_t    upto;           /* (text_only) stop before this record, */
    size_t      text_max;       /* or once this many bytes of postings wait (0: none) */
    uint64_t    next;           /* where a stopped scan goes on */
} s_reload_t;

static int
s_reload_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_reload_t *r = arg;
    ts_store_t *self = r->self;
    ts_summary_t s;
    size_t used;
    if (klen != 9 || ts_summary_unpack_buf (val, vlen, &s, &used) || !s.id_len) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a record (key of %zu bytes) does "
                  "not decode", self->path, klen);
        return TS_ECORRUPT;
    }
    uint64_t seq = (uint64_t) ts_key_get_i64 (key + 1);
    if (r->upto && seq >= r->upto)
        return 1;
    /* the postings too, into the shard's (a check compares them in the tree) */
    int rc = !r->to && seq >= r->entries_from
           ? store_text_readd (self, seq, ts_summary_time (&s), val + used, vlen - used) : 0;
    if (rc || r->text_only) {
        r->next = seq + 1;
        return rc == 0 && r->text_max && store_text_bytes (self) >= r->text_max ? 1 : rc;
    }
    if (seq >= r->ids_from) {
        r->ids++;
        uint64_t had;
        if (r->to && !(store_pend_find (self, s.id, s.id_len, &had) && had == seq))
            r->ids_differ = true;
        if (!r->to && store_pend_add (self, s.id, s.id_len, seq)) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
            return TS_ENOMEM;
        }
    }
    if (seq < r->entries_from)
        return 0;
    if (s.group) {
        ts_totals_t *t = store_qpend_slot (self, r->groups, s.group, s.group_len);
        if (!t)
            return TS_ENOMEM;
        ts_totals_add (t, &s);
    }
    return store_index_record (self, r->to, &s, val, used, seq);
}

static int
s_reload (ts_store_t *self, s_reload_t *r)
{
    uint64_t from = r->ids_from < r->entries_from ? r->ids_from : r->entries_from;
    if (from >= self->next_seq)
        return 0;
    char prefix [1] = { TS_TAG_DATA }, key [16];
    ts_scan_t sc = { .prefix = prefix, .prefix_len = 1,
                     .from = key, .from_len = ts_key_data (key, from) };
    int rc = ts_store_scan (self, &sc, s_reload_visit, r);
    if (rc == TS_ESTORE)
        store_kc_error (self, "read records back into the waiting indexes");
    return rc;
}

int
store_pend_reload (ts_store_t *self, uint64_t ids_from, uint64_t entries_from)
{
    s_reload_t r = { self, ids_from, entries_from, NULL, self->qpend, 0, false, false, 0, 0, 0 };
    return s_reload (self, &r);
}

/*  A transaction that added postings rolled back: they are mixed into
 *  every term's, so what waits is read back from the records from 'O' on
 *  (rare: a refused batch, a full disk). */
int
store_text_reload (ts_store_t *self)
{
    int64_t from;
    store_text_reset (self);
    if (!store_get_num (self->db, s_entries_key, &from))
        return 0;
    s_reload_t r = { self, UINT64_MAX, (uint64_t) from, NULL, NULL, 0, false, true, 0, 0, 0 };
    return s_reload (self, &r);
}

/*  Is there a key with this tag? */
static bool
s_has_tag (ts_store_t *self, char tag)
{
    KCCUR *cur = kcdbcursor (self->db);
    size_t klen;
    char *k = cur && kccurjumpkey (cur, &tag, 1) ? kccurgetkey (cur, &klen, false) : NULL;
    bool has = k && klen > 0 && k [0] == tag;
    kcfree (k);
    if (cur)
        kccurdel (cur);
    return has;
}

/*  Removes every F key, S_MIGRATE_KEYS a transaction. */
static int
s_text_remove_all (ts_store_t *self)
{
    char tag = TS_TAG_TEXT;
    for (bool more = true; more; ) {
        if (!kcdbbegintran (self->db, 0))
            return store_kc_error (self, "begin transaction");
        KCCUR *cur = kcdbcursor (self->db);
        int rc = cur ? 0 : TS_ENOMEM;
        size_t n = 0, klen;
        more = cur && kccurjumpkey (cur, &tag, 1);
        while (rc == 0 && more && n < S_MIGRATE_KEYS) {
            char *k = kccurgetkey (cur, &klen, false);
            more = k && klen > 0 && k [0] == tag;
            kcfree (k);
            if (more && !kccurremove (cur))
                rc = store_kc_error (self, "remove old postings");
            n++;
        }
        if (cur)
            kccurdel (cur);
        if (!kcdbendtran (self->db, rc == 0) && rc == 0)
            rc = store_kc_error (self, "commit");
        if (rc)
            return rc;
    }
    return 0;
}

/*  Layouts before 8 kept the postings as F term 0x00 seq8 (one key a term
 *  a commit). An open for writing removes them and writes them again as
 *  segments (F seg8 term) from the records that have an H mark, those
 *  before 'O' (from 'O' on store_pend_reload re-tokenizes them into what
 *  waits), one segment a transaction of S_PENDING_TEXT_BYTES; then 'V'
 *  says 8. Interrupted, the next open starts over: 'V' still names the
 *  old layout, and the removal takes what had been written again. */
int
store_text_migrate (ts_store_t *self, uint64_t upto)
{
    if (!s_has_tag (self, TS_TAG_TEXT) && !s_has_tag (self, TS_TAG_TEXT_DOC))
        return 0;                       /* nothing indexed: 'V' goes with the next commit */
    int rc = s_text_remove_all (self);
    for (uint64_t from = 1; rc == 0 && from < upto; ) {
        s_reload_t r = { self, UINT64_MAX, from, NULL, NULL, 0, false, true, upto,
                         S_PENDING_TEXT_BYTES, upto };
        rc = s_reload (self, &r);
        if (rc == 0 && !kcdbbegintran (self->db, 0))
            rc = store_kc_error (self, "begin transaction");
        else if (rc == 0) {
            rc = store_text_flush (self);
            if (!kcdbendtran (self->db, rc == 0) && rc == 0)
                rc = store_kc_error (self, "commit");
        }
        store_text_reset (self);
        from = r.next > from ? r.next : upto;
    }
    if (rc == 0 && !kcdbbegintran (self->db, 0))
        rc = store_kc_error (self, "begin transaction");
    else if (rc == 0) {
        rc = store_set_num (self, s_layout_key, S_LAYOUT, "write key layout");
        if (!kcdbendtran (self->db, rc == 0) && rc == 0)
            rc = store_kc_error (self, "commit");
    }
    if (rc == 0)
        self->has_layout = true;
    return rc;
}

/*  What is waiting must be exactly what the records from 'I' and 'O' on
 *  call for (they are what an open after a crash would rebuild): the
 *  same ids with their sequences, the same entries in the same order. */
int
ts_store_check_pending (ts_store_t *self, uint64_t *problems, char *first, size_t first_size)
{
    assert (self && problems && (first || first_size == 0));
    int64_t ids_from = INT64_MAX, entries_from = INT64_MAX;
    if (!store_get_num (self->db, s_indexed_key, &ids_from))
        ids_from = INT64_MAX;
    if (!store_get_num (self->db, s_entries_key, &entries_from))
        entries_from = INT64_MAX;
    ts_buf_t want = { 0 };
    ts_map_t *groups = ts_map_new (free);
    if (!groups)
        return TS_ENOMEM;
    s_reload_t r = { self, (uint64_t) ids_from, (uint64_t) entries_from, &want, groups, 0, false,
                     false, 0, 0, 0 };
    int rc = s_reload (self, &r);
    const char *what = NULL;
    if (rc == 0) {
        size_t pos = 0, len;
        const void *id;
        void *v;
        while (!what && ts_map_next (self->pend, &pos, &id, &len, &v))
            if ((uint64_t) (uintptr_t) v < (uint64_t) ids_from)
                what = "an id waits for the id index from before its mark ('I')";
        if (!what && (r.ids_differ || r.ids != ts_map_size (self->pend)))
            what = "the ids waiting for the id index are not those of the records from its mark ('I')";
        else if (!what && (want.size != self->defer.size
                 || (want.size && memcmp (want.data, self->defer.data, want.size))))
            what = "the index entries waiting are not those of the records from their mark ('O')";
        pos = 0;
        const void *g;
        void *t;
        while (!what && ts_map_next (self->qpend, &pos, &g, &len, &t)) {
            ts_totals_t *w = ts_map_get (groups, g, len);
            if (((ts_totals_t *) t)->count && !(w && ts_totals_equal (w, t)))
                what = "the group totals waiting are not those of the records from their mark ('O')";
        }
        pos = 0;
        while (!what && ts_map_next (groups, &pos, &g, &len, &t)) {
            ts_totals_t *w = ts_map_get (self->qpend, g, len);
            if (!w || w->count != ((ts_totals_t *) t)->count)
                what = "a group's records from the mark ('O') have no totals waiting";
        }
    }
    ts_map_destroy (&groups);
    if (what) {
        if ((*problems)++ == 0)
            snprintf (first, first_size, "%s: %s", self->path, what);
    }
    ts_buf_free (&want);
    return rc;
}

/*  Refuses any use of a handle whose commit failed. */
