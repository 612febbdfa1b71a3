/*  ts_query_plan.c: the two plans of a list (described in ts_query.c):
 *  the walk, one pull cursor per shard on the order's index merged by
 *  picking the least head, and the collect, a heap of the best matches
 *  among the named groups' (or model's) entries (parts of the query
 *  engine: ts_query_int.h).
 */
#include "ts_query_int.h"
#include "ts_error.h"
#include "ts_key.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- walk ----------------------------------------------------------------- */

/*  The key just past every key that starts with the 9 bytes `k` (a tag
 *  and an 8-byte code): the code plus one. False when the code is all
 *  0xff bytes and there is none. */
static bool
s_key_succ (char *k)
{
    for (int i = 8; i >= 1; i--) {
        if ((unsigned char) k [i] != 0xff) {
            k [i]++;
            return true;
        }
        k [i] = 0;
    }
    return false;
}

/*  Fills a scan of index `tag` (T or W) limited to the filter's range on
 *  that index, in the scan's direction: ascending from the low bound to
 *  the high, descending from just past the high bound down to the low. */
void
q_scan_range (ts_scan_t *sc, s_keys_t *kb, char tag, const s_prep_t *pp)
{
    const ts_filter_t *f = pp->f;
    bool has_lo = false, has_hi = false;
    char lo [TS_KEY_MAX], hi [TS_KEY_MAX];
    kb->tag = tag;
    sc->prefix = &kb->tag;
    sc->prefix_len = 1;
    if (tag == TS_TAG_TIME) {
        if ((has_lo = f->has_from))
            ts_key_time (lo, f->from_ms, NULL, 0);
        if ((has_hi = f->has_to))
            ts_key_time (hi, f->to_ms, NULL, 0);
    }
    else if (tag == TS_TAG_REWARD) {
        if ((has_lo = f->has_reward_lo))
            ts_key_reward (lo, f->reward_lo, 0, NULL, 0);
        if ((has_hi = f->has_reward_hi))
            ts_key_reward (hi, f->reward_hi, 0, NULL, 0);
    }
    if (!sc->descending) {
        if (has_lo) {
            memcpy (kb->from, lo, 9);
            sc->from = kb->from;
            sc->from_len = 9;
            sc->from_exclusive = false;
        }
        if (has_hi) {
            memcpy (kb->to, hi, 9);
            sc->to = kb->to;
            sc->to_len = 9;
        }
    }
    else {
        if (has_hi)
            memcpy (kb->from, hi, 9);
        if (has_hi && s_key_succ (kb->from)) {
            sc->from = kb->from;
            sc->from_len = 9;
            sc->from_exclusive = true;      /* its code is above the bound */
        }
        if (has_lo) {
            memcpy (kb->to, lo, 9);
            sc->to = kb->to;
            sc->to_len = 9;
        }
    }
}

/*  Hands one item to the caller, fetching its record when asked (unless
 *  `rec`, its stored form, was read already). Returns emit's answer or an
 *  error. */
static int
s_emit (s_list_t *L, s_part_t *pt, const ts_summary_t *s, const char *sum, size_t sum_len,
        const ts_buf_t *rec)
{
    if (!L->records)
        return L->emit (L->arg, s, sum, sum_len, NULL, 0);
    if (rec && rec->size)
        return L->emit (L->arg, s, sum, sum_len, rec->data, rec->size);
    L->rec.size = 0;
    int rc = ts_store_get (pt->store, s->id, s->id_len, &L->rec);
    if (rc)
        return rc == TS_ENOTFOUND ? TS_ECORRUPT : rc;   /* an entry without its record */
    return L->emit (L->arg, s, sum, sum_len, L->rec.data, L->rec.size);
}

/*  One store's cursor in the merge and its current matching entry. */
typedef struct {
    s_part_t          *pt;
    ts_store_cursor_t *cur;
    bool               live;    /* s and sum hold an entry */
    ts_summary_t       s;       /* borrows the cursor's entry (or rec) */
    const char        *sum;  size_t sum_len;
    bool               by_seq;  /* R: entries hold a sequence, the summary
                                   is read from the record's D entry */
    ts_buf_t           rec;     /* that record */
} s_head_t;

/*  Advances a head to its store's next matching entry, or leaves it dead
 *  at the end of the scan or once the store's bound is reached. */
static int
s_head_next (s_head_t *h, const s_prep_t *pp)
{
    h->live = false;
    while (h->pt->seen < h->pt->bound) {
        const char *k, *v;
        size_t klen, vlen, used;
        int rc = ts_store_cursor_next (h->cur, &k, &klen, &v, &vlen);
        if (rc == TS_ENOTFOUND)
            return 0;
        if (rc)
            return rc;
        q_last_reads++;
        if (h->by_seq) {
            char dk [16];
            if (vlen != 8)
                return TS_ECORRUPT;
            h->rec.size = 0;
            rc = ts_store_get_raw (h->pt->store, dk, ts_key_data (dk, (uint64_t) ts_key_get_i64 (v)),
                                   &h->rec);
            if (rc)
                return rc == TS_ENOTFOUND ? TS_ECORRUPT : rc;   /* an id without its record */
            v = h->rec.data;
            vlen = h->rec.size;
        }
        if (ts_summary_unpack_buf (v, vlen, &h->s, &used))
            return TS_ECORRUPT;
        if (!q_prep_match (pp, h->pt->store, &h->s))
            continue;
        h->pt->seen++;
        h->live = true;
        h->sum = v;
        h->sum_len = used;
        return 0;
    }
    return 0;
}

int
q_walk (s_list_t *L, s_part_t *parts, size_t nparts, bool *more)
{
    const ts_sort_t *sort = L->sort;
    char tag = sort->order == TS_ORDER_CREATED ? TS_TAG_TIME
             : sort->order == TS_ORDER_REWARD ? TS_TAG_REWARD : TS_TAG_RECORD;
    s_head_t *heads = calloc (nparts ? nparts : 1, sizeof *heads);
    s_keys_t *kb = malloc (sizeof *kb);
    int rc = heads && kb ? 0 : TS_ENOMEM;
    for (size_t i = 0; i < nparts && rc == 0; i++) {
        heads [i].pt = &parts [i];
        heads [i].by_seq = tag == TS_TAG_RECORD;
        if (parts [i].bound == 0)
            continue;                   /* nothing here can match */
        ts_scan_t sc = { .descending = sort->desc };
        q_scan_range (&sc, kb, tag, L->pp);
        if (sort->has_cursor) {
            /* start after the cursor, unless the range starts later */
            size_t clen = tag == TS_TAG_TIME
                        ? ts_key_time (kb->cur, sort->cur_time, sort->cur_id, sort->cur_id_len)
                        : tag == TS_TAG_REWARD
                        ? ts_key_reward (kb->cur, sort->cur_reward, sort->cur_ingested,
                                         sort->cur_id ? sort->cur_id : "", sort->cur_id_len)
                        : ts_key_record (kb->cur, sort->cur_id, sort->cur_id_len);
            int c = sc.from ? q_bytes_cmp (kb->cur, clen, sc.from, sc.from_len) : 0;
            if (!sc.from || (sort->desc ? c <= 0 : c >= 0)) {
                sc.from = kb->cur;
                sc.from_len = clen;
                sc.from_exclusive = true;
            }
        }
        if (!(heads [i].cur = ts_store_cursor_new (parts [i].store, &sc)))
            rc = TS_ENOMEM;
        else
            rc = s_head_next (&heads [i], L->pp);
    }
    uint32_t emitted = 0;
    bool stopped = false;
    while (rc == 0) {
        s_head_t *best = NULL;
        for (size_t i = 0; i < nparts; i++)
            if (heads [i].live && (!best || ts_sort_cmp (sort, &heads [i].s, &best->s) < 0))
                best = &heads [i];
        if (!best)
            break;
        if (emitted >= L->limit || stopped) {
            *more = true;
            break;
        }
        rc = s_emit (L, best->pt, &best->s, best->sum, best->sum_len, best->by_seq ? &best->rec : NULL);
        if (rc > 0) {
            stopped = true;
            rc = 0;
        }
        emitted++;
        if (rc == 0)
            rc = s_head_next (best, L->pp);
    }
    for (size_t i = 0; heads && i < nparts; i++) {
        ts_store_cursor_destroy (&heads [i].cur);
        ts_buf_free (&heads [i].rec);
    }
    free (heads);
    free (kb);
    return rc;
}

/* --- collect -------------------------------------------------------------- */

/*  A kept item: its summary bytes, owned, and the store it came from. */
typedef struct {
    char        *buf;
    size_t       cap, len;
    ts_summary_t s;             /* borrows buf */
    s_part_t    *pt;
} s_item_t;

/*  The best `cap` (limit + 1) matches so far in a max-heap: the worst kept
 *  item on top, replaced by any better one. Memory follows the limit, not
 *  the size of the groups. */
typedef struct {
    const s_prep_t  *pp;
    const ts_sort_t *sort;
    s_item_t  *pool;
    s_item_t **heap;
    uint32_t   n, cap;
    s_part_t  *pt;              /* the store being scanned */
} s_collect_t;

static int
s_heap_cmp (const s_collect_t *c, uint32_t i, uint32_t j)
{
    return ts_sort_cmp (c->sort, &c->heap [i]->s, &c->heap [j]->s);
}

static void
s_heap_swap (s_collect_t *c, uint32_t i, uint32_t j)
{
    s_item_t *t = c->heap [i];
    c->heap [i] = c->heap [j];
    c->heap [j] = t;
}

static void
s_heap_up (s_collect_t *c, uint32_t i)
{
    while (i > 0 && s_heap_cmp (c, i, (i - 1) / 2) > 0) {
        s_heap_swap (c, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

/*  Sifts down within the first n items. */
static void
s_heap_down (s_collect_t *c, uint32_t i, uint32_t n)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && s_heap_cmp (c, l, m) > 0)
            m = l;
        if (r < n && s_heap_cmp (c, r, m) > 0)
            m = r;
        if (m == i)
            return;
        s_heap_swap (c, i, m);
        i = m;
    }
}

static int
s_item_set (s_item_t *it, const char *sum, size_t len, s_part_t *pt)
{
    if (it->cap < len) {
        size_t cap = len < 256 ? 256 : len;
        char *b = realloc (it->buf, cap);
        if (!b)
            return TS_ENOMEM;
        it->buf = b;
        it->cap = cap;
    }
    memcpy (it->buf, sum, len);
    it->len = len;
    it->pt = pt;
    return ts_summary_unpack_buf (it->buf, len, &it->s, NULL) ? TS_ECORRUPT : 0;
}

static int
s_collect_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen;
    s_collect_t *c = arg;
    ts_summary_t s;
    size_t used;
    q_last_reads++;
    if (ts_summary_unpack_buf (val, vlen, &s, &used))
        return TS_ECORRUPT;
    /* a list match: the reward order lists only records with a reward,
     * and its bounds count only those */
    if (!q_prep_match (c->pp, c->pt->store, &s) || (c->sort->order == TS_ORDER_REWARD && !s.has_reward))
        return 0;
    c->pt->seen++;
    int stop = c->pt->seen >= c->pt->bound;     /* the store has no more matches */
    if (!ts_sort_after_cursor (c->sort, &s))
        return stop;
    int rc;
    if (c->n < c->cap) {
        c->heap [c->n] = &c->pool [c->n];
        if ((rc = s_item_set (c->heap [c->n], val, used, c->pt)))
            return rc;
        s_heap_up (c, c->n++);
    }
    else if (ts_sort_cmp (c->sort, &s, &c->heap [0]->s) < 0) {
        if ((rc = s_item_set (c->heap [0], val, used, c->pt)))
            return rc;
        s_heap_down (c, 0, c->n);
    }
    return stop;
}

typedef struct {
    s_part_t *pt;
    ts_store_visit_fn *fn;
    void     *arg;
    ts_buf_t  rec;
} s_runvisit_t;

static int
s_run_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) val; (void) vlen;
    s_runvisit_t *rv = arg;
    char dkey [TS_KEY_MAX];
    if (klen < 9)
        return TS_ECORRUPT;
    rv->rec.size = 0;
    int rc = ts_store_get_raw (rv->pt->store, dkey,
                               ts_key_data (dkey, (uint64_t) ts_key_get_i64 (key + klen - 8)),
                               &rv->rec);
    if (rc == TS_ENOTFOUND)
        return TS_ECORRUPT;             /* check names it: a run entry without its record */
    if (rc)
        return rc;
    return rv->fn (key, klen, rv->rec.data, rv->rec.size, rv->arg);
}

int
q_run_scan (s_part_t *pt, const ts_filter_t *f, ts_store_visit_fn *fn, void *arg)
{
    char prefix [TS_KEY_MAX];
    ts_scan_t sc = { .prefix = prefix, .prefix_len = ts_key_run_prefix (prefix, f->run, f->run_len) };
    s_runvisit_t rv = { pt, fn, arg, { 0 } };
    int rc = ts_store_scan (pt->store, &sc, s_run_visit, &rv);
    ts_buf_free (&rv.rec);
    return rc;
}

/*  Scans the named groups' (or the model's, or the run's) entries:
 *  whichever holds fewest. */
static int
s_collect_scan (s_collect_t *c, s_part_t *parts, size_t nparts, q_source_t from)
{
    const ts_filter_t *f = c->pp->f;
    char prefix [TS_KEY_MAX];
    bool by_model = from == Q_FROM_MODEL;
    for (size_t i = 0; i < nparts; i++) {
        c->pt = &parts [i];
        if (from == Q_FROM_RUN) {
            int rc = c->pt->bound ? q_run_scan (c->pt, f, s_collect_visit, c) : 0;
            if (rc)
                return rc;
            continue;
        }
        bool by_label = from == Q_FROM_LABEL;
        uint32_t nscans = by_model || by_label ? 1 : c->pp->ngroups;
        for (uint32_t g = 0; g < nscans && c->pt->seen < c->pt->bound; g++) {
            ts_scan_t sc = { .prefix = prefix };
            sc.prefix_len = by_label ? q_label_prefix (c->pp, prefix)
                          : by_model ? ts_key_model_prefix (prefix, f->model, f->model_len)
                          : ts_key_group_prefix (prefix, c->pp->groups [g].p, c->pp->groups [g].len);
            int rc = ts_store_scan (c->pt->store, &sc, s_collect_visit, c);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int
q_collect (s_list_t *L, s_part_t *parts, size_t nparts, q_source_t from, bool *more)
{
    s_collect_t c = { .pp = L->pp, .sort = L->sort, .cap = L->limit + 1 };
    c.pool = calloc (c.cap, sizeof *c.pool);
    c.heap = calloc (c.cap, sizeof *c.heap);
    int rc = c.pool && c.heap ? 0 : TS_ENOMEM;
    if (rc == 0)
        rc = s_collect_scan (&c, parts, nparts, from);
    if (rc == 0) {
        /* heap sort: the worst item goes to the end each round */
        for (uint32_t k = c.n; k > 1; k--) {
            s_heap_swap (&c, 0, k - 1);
            s_heap_down (&c, 0, k - 1);
        }
        uint32_t emitted = 0;
        while (rc == 0 && emitted < c.n && emitted < L->limit) {
            s_item_t *it = c.heap [emitted++];
            rc = s_emit (L, it->pt, &it->s, it->buf, it->len, NULL);
        }
        if (rc > 0)
            rc = 0;
        *more = c.n > emitted;
    }
    for (uint32_t i = 0; c.pool && i < c.cap; i++)
        free (c.pool [i].buf);
    free (c.pool);
    free (c.heap);
    return rc;
}
