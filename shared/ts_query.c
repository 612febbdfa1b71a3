/*  ts_query.c: filtered, ordered lists and counts over a worker's shards
 *  (ts_query.h; the key layout is ts_key.h, the design docs/DESIGN.md,
 *  "Storage layout and keys").
 *
 *  The value of a G, M, W or T entry is the record's summary; an R entry
 *  holds the record's sequence, and a walk over R reads each summary from
 *  the record's D entry. Within a shard the byte order of the T, W and R
 *  indexes is the list order (key code, then raw id bytes; W has the
 *  ingest time between them, as reward ties are ordered), so a list is
 *  either
 *
 *    a walk:    one pull cursor per shard on the order's index (T, W, R),
 *               started at the cursor's key or the filter's range, merged
 *               by picking the least head each step, filtering summaries;
 *               "the 100 newest" reads 100 entries plus one per shard;
 *    a collect: the G (or M) prefixes of the filter's groups (or model) in
 *               every shard, keeping the best limit + 1 matches in a heap,
 *               then sorting them; it reads at most the named entries.
 *               Within a prefix, G and M entries are in import order (their
 *               keys end with the record's sequence): nothing here reads
 *               their keys or relies on their order, only on the summaries.
 *
 *  The totals choose: collect reads the named groups' (or the model's)
 *  entry count, the walk about (limit + 1) / selectivity. They also give each
 *  shard an upper bound on its matches (0: the shard is skipped; reached:
 *  its walk stops without reading to the end of the index).
 */
#include "ts_query.h"
#include "ts_error.h"
#include "ts_key.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- debugging aids ------------------------------------------------------- */

static _Thread_local ts_query_plan_t s_last_plan;
static _Thread_local uint64_t s_last_reads;
static _Thread_local ts_query_plan_t s_forced_plan;

ts_query_plan_t
ts_query_last_plan (void)
{
    return s_last_plan;
}

uint64_t
ts_query_last_reads (void)
{
    return s_last_reads;
}

void
ts_query_force_plan (ts_query_plan_t plan)
{
    s_forced_plan = plan == TS_PLAN_WALK || plan == TS_PLAN_COLLECT ? plan : TS_PLAN_AUTO;
}

/* --- filter and order ----------------------------------------------------- */

/*  Byte order of ids, names and keys: memcmp, then the shorter first.
 *  Returns -1, 0 or 1 (callers negate it). */
static int
s_bytes_cmp (const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp (a, b, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

void
ts_filter_init (ts_filter_t *f)
{
    memset (f, 0, sizeof *f);
    f->success = TS_SUCCESS_UNKNOWN;
}

/*  Everything but the groups. */
static bool
s_match_rest (const ts_filter_t *f, const ts_summary_t *s)
{
    if (f->model && (!s->model || s->model_len != f->model_len
                     || memcmp (s->model, f->model, f->model_len)))
        return false;
    /* a record without a reward is outside any reward range */
    if (f->has_reward_lo && !(s->has_reward && s->reward >= f->reward_lo))
        return false;
    if (f->has_reward_hi && !(s->has_reward && s->reward <= f->reward_hi))
        return false;
    if (f->success >= 0 && s->success != f->success)
        return false;
    if (f->has_from || f->has_to) {
        int64_t t = ts_summary_time (s);
        if ((f->has_from && t < f->from_ms) || (f->has_to && t > f->to_ms))
            return false;
    }
    return true;
}

bool
ts_filter_match (const ts_filter_t *f, const ts_summary_t *s)
{
    if (f->ngroups) {
        if (!s->group)
            return false;
        uint32_t i = 0;
        for (; i < f->ngroups; i++)
            if (f->group_lens [i] == s->group_len
            &&  (s->group_len == 0 || !memcmp (f->groups [i], s->group, s->group_len)))
                break;
        if (i == f->ngroups)
            return false;
    }
    return s_match_rest (f, s);
}

int
ts_sort_cmp (const ts_sort_t *sort, const ts_summary_t *a, const ts_summary_t *b)
{
    int c = 0;
    if (sort->order == TS_ORDER_CREATED) {
        int64_t ta = ts_summary_time (a), tb = ts_summary_time (b);
        c = (ta > tb) - (ta < tb);
    }
    else if (sort->order == TS_ORDER_REWARD) {
        /* the tail of records without a reward is not reversed by desc */
        if (a->has_reward != b->has_reward)
            return a->has_reward ? -1 : 1;
        if (a->has_reward) {
            /* ties: earlier imports first (the reward index's order) */
            c = (a->reward > b->reward) - (a->reward < b->reward);
            if (c == 0)
                c = (a->ingested_ms > b->ingested_ms) - (a->ingested_ms < b->ingested_ms);
        }
    }
    if (c == 0)
        c = s_bytes_cmp (a->id, a->id_len, b->id, b->id_len);
    return sort->desc ? -c : c;
}

bool
ts_sort_after_cursor (const ts_sort_t *sort, const ts_summary_t *s)
{
    if (!sort->has_cursor)
        return true;
    /* the cursor as a summary with its key: ts_sort_cmp then decides */
    ts_summary_t c;
    memset (&c, 0, sizeof c);
    c.id = sort->cur_id ? sort->cur_id : "";
    c.id_len = sort->cur_id ? sort->cur_id_len : 0;
    c.has_reward = !sort->cur_no_reward;
    c.reward = sort->cur_reward;
    c.ingested_ms = sort->cur_ingested;
    c.has_created = true;
    c.created_ms = sort->cur_time;
    c.success = TS_SUCCESS_UNKNOWN;
    return ts_sort_cmp (sort, s, &c) > 0;
}

/* --- prepared filter ------------------------------------------------------ */

typedef struct {
    const char *p;
    uint32_t    len;
} s_str_t;

/*  The filter with its groups sorted and deduplicated: a repeated group
 *  must not be collected (or counted) twice, and a list of many groups is
 *  searched in log time. Groups and models longer than any stored one
 *  cannot match, and are dropped before they reach a key buffer. */
typedef struct {
    const ts_filter_t *f;
    bool     by_group;          /* the filter names groups */
    s_str_t *groups;            /* those that can match, sorted, unique */
    uint32_t ngroups;
    bool     by_model;
    bool     by_reward;         /* has a reward bound */
    bool     by_time;           /* has a created bound */
    bool     empty;             /* nothing can match */
} s_prep_t;

static int
s_str_cmp (const void *a, const void *b)
{
    const s_str_t *x = a, *y = b;
    return s_bytes_cmp (x->p, x->len, y->p, y->len);
}

static int
s_prep_init (s_prep_t *pp, const ts_filter_t *f)
{
    memset (pp, 0, sizeof *pp);
    pp->f = f;
    if (f->ngroups > TS_QUERY_MAX_GROUPS || (f->ngroups && (!f->groups || !f->group_lens)))
        return TS_EINVAL;
    if ((f->has_reward_lo && isnan (f->reward_lo)) || (f->has_reward_hi && isnan (f->reward_hi)))
        return TS_EINVAL;
    if (f->success < -1 || f->success > 1)
        return TS_EINVAL;
    pp->by_group = f->ngroups > 0;
    pp->by_model = f->model != NULL;
    pp->by_reward = f->has_reward_lo || f->has_reward_hi;
    pp->by_time = f->has_from || f->has_to;
    if (pp->by_group) {
        pp->groups = malloc (f->ngroups * sizeof *pp->groups);
        if (!pp->groups)
            return TS_ENOMEM;
        for (uint32_t i = 0; i < f->ngroups; i++) {
            if (!f->groups [i] && f->group_lens [i]) {
                free (pp->groups);
                pp->groups = NULL;
                return TS_EINVAL;
            }
            if (f->group_lens [i] <= TS_GROUP_MAX_BYTES)
                pp->groups [pp->ngroups++] = (s_str_t) { f->groups [i] ? f->groups [i] : "",
                                                         f->group_lens [i] };
        }
        qsort (pp->groups, pp->ngroups, sizeof *pp->groups, s_str_cmp);
        uint32_t u = 0;
        for (uint32_t i = 0; i < pp->ngroups; i++)
            if (u == 0 || s_str_cmp (&pp->groups [u - 1], &pp->groups [i]))
                pp->groups [u++] = pp->groups [i];
        pp->ngroups = u;
        if (u == 0)
            pp->empty = true;
    }
    if (pp->by_model && f->model_len > TS_MODEL_MAX_BYTES)
        pp->empty = true;
    return 0;
}

static void
s_prep_fini (s_prep_t *pp)
{
    free (pp->groups);
    pp->groups = NULL;
}

static bool
s_prep_match (const s_prep_t *pp, const ts_summary_t *s)
{
    if (pp->by_group) {
        if (!s->group)
            return false;
        s_str_t key = { s->group, s->group_len };
        uint32_t lo = 0, hi = pp->ngroups;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            int c = s_str_cmp (&pp->groups [mid], &key);
            if (c == 0)
                break;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo >= hi)
            return false;
    }
    return s_match_rest (pp->f, s);
}

/* --- what the totals tell ------------------------------------------------- */

/*  One store and what its totals say about the filter. */
typedef struct {
    ts_store_t *store;
    ts_totals_t shard;
    ts_totals_t groups;         /* the filter's groups, merged */
    ts_totals_t model;
    uint64_t    bound;          /* at most this many records here match */
    uint64_t    seen;           /* matches met so far by a walk or scan */
} s_part_t;

/*  An upper bound on the records of `t` that pass the filter (and have a
 *  reward, when `reward`). Exact when the filter asks for nothing but
 *  success and `reward` is false. Reward bounds use the histogram: bins
 *  are monotone in the reward, so every reward in range lies in the bins
 *  from the low bound's to the high bound's. */
static uint64_t
s_bound (const s_prep_t *pp, const ts_totals_t *t, bool reward)
{
    const ts_filter_t *f = pp->f;
    uint64_t b = t->count;
    uint64_t succ = f->success == 1 ? t->successes
                  : f->success == 0 ? t->success_known - t->successes : b;
    if (succ < b)
        b = succ;
    if ((reward || pp->by_reward) && t->reward_n < b)
        b = t->reward_n;
    if (pp->by_reward) {
        int b0 = f->has_reward_lo ? ts_totals_bin (f->reward_lo) : 0;
        int b1 = f->has_reward_hi ? ts_totals_bin (f->reward_hi) : TS_HIST_BINS + 1;
        uint64_t h = 0;
        for (int i = b0; i <= b1; i++)
            h += t->hist [i];
        if (h < b)
            b = h;
    }
    return b;
}

/*  Reads each store's totals (one read for the shard, one per group, one
 *  for the model) and its bound into parts[0 .. *nparts), skipping NULL
 *  stores. `reward`: only records with a reward count (the reward order).
 *  Returns 0 or the store's error. */
static int
s_parts_load (ts_store_t *const *stores, size_t n, const s_prep_t *pp, bool reward,
              s_part_t *parts, size_t *nparts)
{
    const ts_filter_t *f = pp->f;
    *nparts = 0;
    for (size_t i = 0; i < n; i++) {
        if (!stores [i])
            continue;
        s_part_t *pt = &parts [(*nparts)++];
        memset (pt, 0, sizeof *pt);
        pt->store = stores [i];
        int rc = ts_store_totals (pt->store, &pt->shard);
        if (rc)
            return rc;
        pt->bound = s_bound (pp, &pt->shard, reward);
        ts_totals_init (&pt->groups);
        ts_totals_init (&pt->model);
        if (pp->by_group) {
            for (uint32_t g = 0; g < pp->ngroups; g++) {
                ts_totals_t t;
                rc = ts_store_group_totals (pt->store, pp->groups [g].p, pp->groups [g].len, &t);
                if (rc == 0)
                    ts_totals_merge (&pt->groups, &t);
                else if (rc != TS_ENOTFOUND)
                    return rc;
            }
            uint64_t b = s_bound (pp, &pt->groups, reward);
            if (b < pt->bound)
                pt->bound = b;
        }
        if (pp->by_model) {
            int rc2 = ts_store_model_totals (pt->store, f->model, f->model_len, &pt->model);
            if (rc2 && rc2 != TS_ENOTFOUND)
                return rc2;
            uint64_t b = s_bound (pp, &pt->model, reward);
            if (b < pt->bound)
                pt->bound = b;
        }
    }
    return 0;
}

/*  Estimated records of `t` inside the filter's reward range: bins wholly
 *  inside count fully, bins the range cuts count half. */
static double
s_reward_estimate (const s_prep_t *pp, const ts_totals_t *t)
{
    const ts_filter_t *f = pp->f;
    double lo = f->has_reward_lo ? f->reward_lo : -INFINITY;
    double hi = f->has_reward_hi ? f->reward_hi : INFINITY;
    int b0 = ts_totals_bin (lo), b1 = ts_totals_bin (hi);
    double est = 0;
    for (int b = b0; b <= b1; b++) {
        bool whole = true;
        if (b >= 1 && b <= TS_HIST_BINS) {
            double blo = (double) (b - 1) / TS_HIST_BINS, bhi = (double) b / TS_HIST_BINS;
            whole = lo <= blo && hi >= bhi;
        }
        est += whole ? (double) t->hist [b] : 0.5 * (double) t->hist [b];
    }
    return est;
}

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

/*  Key buffers of one scan. */
typedef struct {
    char tag;
    char from [TS_KEY_MAX];
    char to [TS_KEY_MAX];
    char cur [TS_KEY_MAX];
} s_keys_t;

/*  Fills a scan of index `tag` (T or W) limited to the filter's range on
 *  that index, in the scan's direction: ascending from the low bound to
 *  the high, descending from just past the high bound down to the low. */
static void
s_scan_range (ts_scan_t *sc, s_keys_t *kb, char tag, const s_prep_t *pp)
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

/*  The list's whole state. */
typedef struct {
    const s_prep_t   *pp;
    const ts_sort_t  *sort;
    uint32_t          limit;
    bool              records;
    ts_query_emit_fn *emit;
    void             *arg;
    ts_buf_t          rec;      /* a fetched record */
} s_list_t;

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
        s_last_reads++;
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
        if (!s_prep_match (pp, &h->s))
            continue;
        h->pt->seen++;
        h->live = true;
        h->sum = v;
        h->sum_len = used;
        return 0;
    }
    return 0;
}

static int
s_walk (s_list_t *L, s_part_t *parts, size_t nparts, bool *more)
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
        s_scan_range (&sc, kb, tag, L->pp);
        if (sort->has_cursor) {
            /* start after the cursor, unless the range starts later */
            size_t clen = tag == TS_TAG_TIME
                        ? ts_key_time (kb->cur, sort->cur_time, sort->cur_id, sort->cur_id_len)
                        : tag == TS_TAG_REWARD
                        ? ts_key_reward (kb->cur, sort->cur_reward, sort->cur_ingested,
                                         sort->cur_id ? sort->cur_id : "", sort->cur_id_len)
                        : ts_key_record (kb->cur, sort->cur_id, sort->cur_id_len);
            int c = sc.from ? s_bytes_cmp (kb->cur, clen, sc.from, sc.from_len) : 0;
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
    s_last_reads++;
    if (ts_summary_unpack_buf (val, vlen, &s, &used))
        return TS_ECORRUPT;
    /* a list match: the reward order lists only records with a reward,
     * and its bounds count only those */
    if (!s_prep_match (c->pp, &s) || (c->sort->order == TS_ORDER_REWARD && !s.has_reward))
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

/*  Scans the named groups' (or the model's) prefixes: whichever totals
 *  say holds fewer entries. */
static int
s_collect_scan (s_collect_t *c, s_part_t *parts, size_t nparts, bool by_model)
{
    const ts_filter_t *f = c->pp->f;
    char prefix [TS_KEY_MAX];
    for (size_t i = 0; i < nparts; i++) {
        c->pt = &parts [i];
        uint32_t nscans = by_model ? 1 : c->pp->ngroups;
        for (uint32_t g = 0; g < nscans && c->pt->seen < c->pt->bound; g++) {
            ts_scan_t sc = { .prefix = prefix };
            sc.prefix_len = by_model ? ts_key_model_prefix (prefix, f->model, f->model_len)
                          : ts_key_group_prefix (prefix, c->pp->groups [g].p, c->pp->groups [g].len);
            int rc = ts_store_scan (c->pt->store, &sc, s_collect_visit, c);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int
s_collect (s_list_t *L, s_part_t *parts, size_t nparts, bool by_model, bool *more)
{
    s_collect_t c = { .pp = L->pp, .sort = L->sort, .cap = L->limit + 1 };
    c.pool = calloc (c.cap, sizeof *c.pool);
    c.heap = calloc (c.cap, sizeof *c.heap);
    int rc = c.pool && c.heap ? 0 : TS_ENOMEM;
    if (rc == 0)
        rc = s_collect_scan (&c, parts, nparts, by_model);
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

/* --- list ----------------------------------------------------------------- */

/*  The sort's arguments are sane. */
static bool
s_sort_valid (const ts_sort_t *sort)
{
    if (sort->order != TS_ORDER_CREATED && sort->order != TS_ORDER_REWARD
    &&  sort->order != TS_ORDER_ID)
        return false;
    if (sort->has_cursor && (sort->cur_id_len > TS_ID_MAX_BYTES || (!sort->cur_id && sort->cur_id_len)))
        return false;
    return !(sort->has_cursor && sort->order == TS_ORDER_REWARD && !sort->cur_no_reward
             && isnan (sort->cur_reward));
}

/*  Chooses the plan from the totals (ts_query.h): collect when it reads
 *  no more entries than the walk is estimated to. */
static ts_query_plan_t
s_choose (const s_prep_t *pp, const ts_sort_t *sort, uint32_t limit, const s_part_t *parts,
          size_t nparts, bool *by_model)
{
    const ts_filter_t *f = pp->f;
    ts_totals_t shard, groups, model;
    ts_totals_init (&shard);
    ts_totals_init (&groups);
    ts_totals_init (&model);
    for (size_t i = 0; i < nparts; i++) {
        ts_totals_merge (&shard, &parts [i].shard);
        ts_totals_merge (&groups, &parts [i].groups);
        ts_totals_merge (&model, &parts [i].model);
    }
    *by_model = pp->by_model && (!pp->by_group || model.count < groups.count);
    if (!pp->by_group && !pp->by_model)
        return TS_PLAN_WALK;
    if (s_forced_plan != TS_PLAN_AUTO)
        return s_forced_plan;
    double total = shard.count ? (double) shard.count : 1;
    double sel = 1;
    if (pp->by_group)
        sel *= (double) groups.count / total;
    if (pp->by_model)
        sel *= (double) model.count / total;
    if (f->success == 1)
        sel *= (double) shard.successes / total;
    else if (f->success == 0)
        sel *= (double) (shard.success_known - shard.successes) / total;
    /* the reward walk starts and stops at the reward bounds: they narrow
     * the walked range, not the share of it that matches */
    double range = total;
    if (pp->by_reward && sort->order != TS_ORDER_REWARD)
        sel *= s_reward_estimate (pp, &shard) / total;
    else if (sort->order == TS_ORDER_REWARD)
        range = pp->by_reward ? s_reward_estimate (pp, &shard) : (double) shard.reward_n;
    if (sel < 1e-6)
        sel = 1e-6;
    double walk = ((double) limit + 1) / sel;
    if (walk > range)
        walk = range;
    double collect = (double) (*by_model ? model.count : groups.count);
    return collect <= walk ? TS_PLAN_COLLECT : TS_PLAN_WALK;
}

int
ts_query_list (ts_store_t *const *stores, size_t n, const ts_filter_t *f,
               const ts_sort_t *sort, uint32_t limit, bool records,
               ts_query_emit_fn *emit, void *arg, bool *more)
{
    *more = false;
    s_last_plan = TS_PLAN_AUTO;
    s_last_reads = 0;
    if (limit > TS_QUERY_MAX_LIMIT || !s_sort_valid (sort))
        return TS_EINVAL;
    s_prep_t pp;
    int rc = s_prep_init (&pp, f);
    if (rc)
        return rc;
    /* the reward order lists only records with a reward (ts_query.h):
     * nothing follows one without */
    if (pp.empty || (sort->order == TS_ORDER_REWARD && sort->has_cursor && sort->cur_no_reward)) {
        s_prep_fini (&pp);
        return 0;
    }
    s_part_t *parts = calloc (n ? n : 1, sizeof *parts);
    size_t nparts = 0;
    rc = parts ? s_parts_load (stores, n, &pp, sort->order == TS_ORDER_REWARD, parts, &nparts)
               : TS_ENOMEM;
    if (rc == 0) {
        s_list_t L = { .pp = &pp, .sort = sort, .limit = limit, .records = records,
                       .emit = emit, .arg = arg };
        bool by_model;
        s_last_plan = s_choose (&pp, sort, limit, parts, nparts, &by_model);
        rc = s_last_plan == TS_PLAN_COLLECT ? s_collect (&L, parts, nparts, by_model, more)
                                            : s_walk (&L, parts, nparts, more);
        ts_buf_free (&L.rec);
    }
    free (parts);
    s_prep_fini (&pp);
    return rc;
}

/* --- count ---------------------------------------------------------------- */

typedef struct {
    const s_prep_t *pp;
    s_part_t       *pt;
    uint64_t        count;
} s_count_t;

static int
s_count_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen;
    s_count_t *c = arg;
    ts_summary_t s;
    s_last_reads++;
    if (ts_summary_unpack_buf (val, vlen, &s, NULL))
        return TS_ECORRUPT;
    if (!s_prep_match (c->pp, &s))
        return 0;
    c->count++;
    return ++c->pt->seen >= c->pt->bound;       /* no more matches here */
}

int
ts_query_count (ts_store_t *const *stores, size_t n, const ts_filter_t *f, uint64_t *count)
{
    *count = 0;
    s_last_plan = TS_PLAN_AUTO;
    s_last_reads = 0;
    s_prep_t pp;
    int rc = s_prep_init (&pp, f);
    if (rc)
        return rc;
    if (pp.empty) {
        s_last_plan = TS_PLAN_TOTALS;
        s_prep_fini (&pp);
        return 0;
    }
    s_part_t *parts = calloc (n ? n : 1, sizeof *parts);
    size_t nparts = 0;
    rc = parts ? s_parts_load (stores, n, &pp, false, parts, &nparts) : TS_ENOMEM;
    if (rc == 0 && !pp.by_reward && !pp.by_time && !(pp.by_group && pp.by_model)) {
        /* the bound is exact for these filters: count, or the successes */
        s_last_plan = TS_PLAN_TOTALS;
        for (size_t i = 0; i < nparts; i++)
            *count += parts [i].bound;
    }
    else if (rc == 0) {
        s_last_plan = TS_PLAN_SCAN;
        ts_totals_t shard, groups, model;
        ts_totals_init (&shard);
        ts_totals_init (&groups);
        ts_totals_init (&model);
        for (size_t i = 0; i < nparts; i++) {
            ts_totals_merge (&shard, &parts [i].shard);
            ts_totals_merge (&groups, &parts [i].groups);
            ts_totals_merge (&model, &parts [i].model);
        }
        /* the cheapest index the filter can use: group and model prefixes
         * have exact sizes, the reward range an estimate, the created
         * range none (taken as the whole index) */
        char tag = TS_TAG_TIME;
        double best = (double) shard.count;
        if (pp.by_reward && s_reward_estimate (&pp, &shard) < best) {
            tag = TS_TAG_REWARD;
            best = s_reward_estimate (&pp, &shard);
        }
        if (pp.by_model && (double) model.count <= best) {
            tag = TS_TAG_MODEL;
            best = (double) model.count;
        }
        if (pp.by_group && (double) groups.count <= best)
            tag = TS_TAG_GROUP;
        s_keys_t *kb = malloc (sizeof *kb);
        if (!kb)
            rc = TS_ENOMEM;
        for (size_t i = 0; i < nparts && rc == 0; i++) {
            s_count_t c = { .pp = &pp, .pt = &parts [i] };
            uint32_t nscans = tag == TS_TAG_GROUP ? pp.ngroups : 1;
            for (uint32_t g = 0; g < nscans && rc == 0 && parts [i].seen < parts [i].bound; g++) {
                ts_scan_t sc = { .prefix = kb->from };
                if (tag == TS_TAG_GROUP)
                    sc.prefix_len = ts_key_group_prefix (kb->from, pp.groups [g].p, pp.groups [g].len);
                else if (tag == TS_TAG_MODEL)
                    sc.prefix_len = ts_key_model_prefix (kb->from, f->model, f->model_len);
                else
                    s_scan_range (&sc, kb, tag, &pp);
                rc = ts_store_scan (parts [i].store, &sc, s_count_visit, &c);
            }
            *count += c.count;
        }
        free (kb);
    }
    free (parts);
    s_prep_fini (&pp);
    if (rc)
        *count = 0;
    return rc;
}
