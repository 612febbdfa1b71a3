/*  ts_store_ids.c: ids waiting for a shard's id index R (parts of a shard:
 *  ts_store_int.h).
 */
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_mp.h"

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

typedef struct {
    const char *id;
    size_t      len;
    uint64_t    seq;
} s_idref_t;

static int
s_idref_cmp (const void *a, const void *b)
{
    const s_idref_t *x = a, *y = b;
    int c = memcmp (x->id, y->id, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/*  Inside the open transaction: every waiting id into R, in key order (so
 *  the pass walks R's leaves once, left to right), and 'I' past the last
 *  record. The table is emptied by the caller once the commit holds. */
int
store_write_ids (ts_store_t *self)
{
    size_t n = 0, pos = 0, len;
    const void *id;
    void *v;
    s_idref_t *order = malloc (ts_map_size (self->pend) * sizeof *order + 1);
    if (!order)
        return TS_ENOMEM;
    while (ts_map_next (self->pend, &pos, &id, &len, &v))
        order [n++] = (s_idref_t) { id, len, (uint64_t) (uintptr_t) v };
    qsort (order, n, sizeof *order, s_idref_cmp);
    int rc = 0;
    char key [TS_KEY_MAX], seq8 [8];
    for (size_t i = 0; i < n && !rc; i++) {
        ts_key_put_i64 (seq8, (int64_t) order [i].seq);
        size_t klen = ts_key_record (key, order [i].id, order [i].len);
        if (!kcdbset (self->db, key, klen, seq8, 8))
            rc = store_kc_error (self, "write id index");
    }
    free (order);
    if (rc == 0)
        rc = store_set_num (self, s_indexed_key, (int64_t) self->next_seq, "write id index mark");
    return rc;
}

/*  Reads the ids of the records from sequence `from` on back from D (an
 *  open after the process ended before they reached R). */
static int
s_reload_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    ts_store_t *self = arg;
    ts_summary_t s;
    if (klen != 9 || ts_summary_unpack_buf (val, vlen, &s, NULL) || !s.id_len) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a record (key of %zu bytes) does "
                  "not decode", self->path, klen);
        return TS_ECORRUPT;
    }
    if (store_pend_add (self, s.id, s.id_len, (uint64_t) ts_key_get_i64 (key + 1))) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
        return TS_ENOMEM;
    }
    return 0;
}

int
store_pend_reload (ts_store_t *self, uint64_t from)
{
    char prefix [1] = { TS_TAG_DATA }, key [16];
    ts_scan_t sc = { .prefix = prefix, .prefix_len = 1,
                     .from = key, .from_len = ts_key_data (key, from) };
    int rc = ts_store_scan (self, &sc, s_reload_visit, self);
    if (rc == TS_ESTORE)
        store_kc_error (self, "read records back into the id index");
    return rc;
}

/*  Refuses any use of a handle whose commit failed. */
