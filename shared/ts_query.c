/*  ts_query.c: filtered, ordered lists and counts over a worker's shards
 *  (ts_query.h; the key layout is ts_key.h, the design docs/DESIGN.md,
 *  "Storage layout and keys"; the parts: ts_query_int.h).
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
#include "ts_query_int.h"
#include "ts_labels.h"
#include "ts_error.h"
#include "ts_key.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- debugging aids ------------------------------------------------------- */

static _Thread_local ts_query_plan_t s_last_plan;
_Thread_local uint64_t q_last_reads;          /* ts_query_last_reads */
static _Thread_local uint64_t s_last_totals;  /* ts_query_last_totals_reads */
static _Thread_local uint64_t s_last_run_keys;
static _Thread_local ts_query_plan_t s_forced_plan;

ts_query_plan_t
ts_query_last_plan (void)
{
    return s_last_plan;
}

uint64_t
ts_query_last_reads (void)
{
    return q_last_reads;
}

uint64_t
ts_query_last_totals_reads (void)
{
    return s_last_totals;
}

uint64_t
ts_query_last_run_keys (void)
{
    return s_last_run_keys;
}

void
ts_query_force_plan (ts_query_plan_t plan)
{
    s_forced_plan = plan == TS_PLAN_WALK || plan == TS_PLAN_COLLECT ? plan : TS_PLAN_AUTO;
}

/* --- filter and order ----------------------------------------------------- */

/*  Byte order of ids, names and keys: memcmp, then the shorter first.
 *  Returns -1, 0 or 1 (callers negate it). */
int
q_bytes_cmp (const char *a, size_t alen, const char *b, size_t blen)
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
    if (f->run && (!s->run || s->run_len != f->run_len || memcmp (s->run, f->run, f->run_len)))
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
        c = q_bytes_cmp (a->id, a->id_len, b->id, b->id_len);
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

static int
s_str_cmp (const void *a, const void *b)
{
    const s_str_t *x = a, *y = b;
    return q_bytes_cmp (x->p, x->len, y->p, y->len);
}

static bool s_prep_match_fields (const s_prep_t *pp, const ts_summary_t *s);

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
    pp->by_run = f->run != NULL;
    pp->by_label = f->nlabels > 0;
    pp->label_pos = -1;
    if (f->nlabels > TS_QUERY_MAX_LABELS)
        return TS_EINVAL;
    for (uint32_t i = 0; i < f->nlabels; i++) {
        const ts_label_cond_t *c = &f->labels [i];
        if (!c->key || (!c->value && c->value_len))
            return TS_EINVAL;
        if (c->key_len > TS_LABEL_KEY_MAX || (c->value && c->value_len > TS_LABEL_VALUE_MAX)) {
            if (!c->negate)
                pp->empty = true;       /* no such label can be stored */
            continue;
        }
        if (!c->negate && pp->label_pos < 0)
            pp->label_pos = (int) i;
    }
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
    if (pp->by_run && f->run_len > TS_RUN_MAX_BYTES)
        pp->empty = true;
    return 0;
}

static void
s_prep_fini (s_prep_t *pp)
{
    free (pp->groups);
    pp->groups = NULL;
}

/*  The label conditions, from the record's label history (ts_labels.h).
 *  A store that cannot be read matches nothing. */
bool
ts_filter_match_labels (const ts_filter_t *f, ts_store_t *store, const ts_summary_t *s)
{
    ts_buf_t buf = { 0 };
    bool ok = true;
    for (uint32_t i = 0; i < f->nlabels && ok; i++) {
        const ts_label_cond_t *c = &f->labels [i];
        const char *v = NULL;
        uint32_t vl = 0;
        int rc = ts_store_label_get (store, s->id, s->id_len, c->key, c->key_len, &buf, &v, &vl);
        if (rc && rc != TS_ENOTFOUND) {
            ok = false;
            break;
        }
        bool has = rc == 0 && v && (!c->value || (vl == c->value_len && !memcmp (v, c->value, vl)));
        ok = has != c->negate;
    }
    ts_buf_free (&buf);
    return ok;
}

/*  The label index prefix of the first positive label condition. */
size_t
q_label_prefix (const s_prep_t *pp, char *buf)
{
    const ts_label_cond_t *c = &pp->f->labels [pp->label_pos];
    return ts_key_label_index_prefix (buf, c->key, c->key_len, c->value, c->value_len);
}

bool
q_prep_match (const s_prep_t *pp, ts_store_t *store, const ts_summary_t *s)
{
    if (!s_prep_match_fields (pp, s))
        return false;
    return !pp->by_label || ts_filter_match_labels (pp->f, store, s);
}

static bool
s_prep_match_fields (const s_prep_t *pp, const ts_summary_t *s)
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

/*  Counts run index entries, stopping once the run has more than `cap`
 *  in the stores counted so far (`left` of the cap remains). */
typedef struct {
    uint64_t n, left;
} s_tally_t;

static int
s_tally (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen; (void) val; (void) vlen;
    s_tally_t *t = arg;
    t->n++;
    return t->n > t->left;
}

/*  Counts the filter's run in each store (its run index entries: keys
 *  only, ~1-3 us each) until more than `cap` are found in all. A store
 *  counted to the end gets its run_count and a bound of it; when the cap
 *  is passed, *run_over is set, and the run's size is unknown but above
 *  the cap (the stores not finished keep their bounds). A run's records
 *  are spread over the shards by their ids' hash, so the first store is
 *  a sample: more than its share of the cap (with half again for chance)
 *  there, and the run is taken as over it. Returns 0 or the store's
 *  error. */
static int
s_parts_count_run (const s_prep_t *pp, s_part_t *parts, size_t nparts, uint64_t cap,
                   bool *run_over)
{
    const ts_filter_t *f = pp->f;
    char prefix [TS_KEY_MAX];
    ts_scan_t sc = { .prefix = prefix, .prefix_len = ts_key_run_prefix (prefix, f->run, f->run_len) };
    uint64_t sum = 0;
    *run_over = false;
    for (size_t i = 0; i < nparts; i++) {
        s_part_t *pt = &parts [i];
        s_tally_t t = { 0, cap - sum };
        uint64_t share = cap < UINT64_MAX / 4 ? cap * 3 / (2 * nparts) + 1 : cap;
        if (i == 0 && nparts > 1 && share < t.left)
            t.left = share;
        int rc = ts_store_scan (pt->store, &sc, s_tally, &t);
        if (rc)
            return rc;
        s_last_run_keys += t.n;
        if (t.n > t.left) {
            *run_over = true;
            return 0;
        }
        sum += t.n;
        pt->run_count = t.n;
        if (pt->run_count < pt->bound)
            pt->bound = pt->run_count;
    }
    return 0;
}

/*  Reads each store's totals (one per group, then, when the store holds
 *  one of them, one for the shard and one for the model) and its bound
 *  into parts[0 .. *nparts), skipping NULL stores (a run's entries are
 *  counted apart: s_parts_count_run). `reward`: only records with a
 *  reward count (the reward order).
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
        ts_totals_init (&pt->shard);
        ts_totals_init (&pt->groups);
        ts_totals_init (&pt->model);
        int rc;
        if (pp->by_group) {
            /* the groups first: a shard without them has nothing to
             * match, and its other totals are not read (a one-group list
             * meets most shards so: half its totals reads went there);
             * its records then stay out of the plan's estimates, which
             * are about the shards that are read */
            for (uint32_t g = 0; g < pp->ngroups; g++) {
                ts_totals_t t;
                rc = ts_store_group_totals (pt->store, pp->groups [g].p, pp->groups [g].len, &t);
                s_last_totals++;
                if (rc == 0)
                    ts_totals_merge (&pt->groups, &t);
                else if (rc != TS_ENOTFOUND)
                    return rc;
            }
            if (pt->groups.count == 0)
                continue;                       /* bound 0: skipped */
        }
        rc = ts_store_totals (pt->store, &pt->shard);
        s_last_totals++;
        if (rc)
            return rc;
        pt->bound = s_bound (pp, &pt->shard, reward);
        if (pp->by_group) {
            uint64_t b = s_bound (pp, &pt->groups, reward);
            if (b < pt->bound)
                pt->bound = b;
        }
        if (pp->by_model) {
            int rc2 = ts_store_model_totals (pt->store, f->model, f->model_len, &pt->model);
            s_last_totals++;
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
/*  The shards' totals summed: the whole shard, the filter's groups, its model. */
static void
s_sum_parts (const s_part_t *parts, size_t nparts, ts_totals_t *shard, ts_totals_t *groups,
             ts_totals_t *model)
{
    ts_totals_init (shard);
    ts_totals_init (groups);
    ts_totals_init (model);
    for (size_t i = 0; i < nparts; i++) {
        ts_totals_merge (shard, &parts [i].shard);
        ts_totals_merge (groups, &parts [i].groups);
        ts_totals_merge (model, &parts [i].model);
    }
}

/*  The share of the store the filter's groups, model and success keep
 *  (the planner's selectivity before the run and the reward range). */
static double
s_sel_fields (const s_prep_t *pp, const ts_totals_t *shard, const ts_totals_t *groups,
              const ts_totals_t *model)
{
    double total = shard->count ? (double) shard->count : 1;
    double sel = 1;
    if (pp->by_group)
        sel *= (double) groups->count / total;
    if (pp->by_model)
        sel *= (double) model->count / total;
    if (pp->f->success == 1)
        sel *= (double) shard->successes / total;
    else if (pp->f->success == 0)
        sel *= (double) (shard->success_known - shard->successes) / total;
    return sel;
}

/*  The records a named group or model holds (the collect's source when
 *  the run is not read). */
static double
s_named (const s_prep_t *pp, const ts_totals_t *groups, const ts_totals_t *model, bool *by_model)
{
    *by_model = pp->by_model && (!pp->by_group || model->count < groups->count);
    return (double) (*by_model ? model->count : groups->count);
}

/*  How far s_choose needs the run's size: a run larger than this is never
 *  collected (s_choose: it collects when run * Q_RUN_READ_COST is at most
 *  the walk's estimate, which falls as the run grows) nor preferred to a
 *  named group or model. Counting a large run to its end cost a sorted
 *  listing of a 5% run more than its walk (bench/runs_bench.py). */
static uint64_t
s_run_cap (const s_prep_t *pp, const ts_sort_t *sort, uint32_t limit, const s_part_t *parts,
           size_t nparts)
{
    ts_totals_t shard, groups, model;
    s_sum_parts (parts, nparts, &shard, &groups, &model);
    bool by_model;
    double cap, total = shard.count ? (double) shard.count : 1;
    if (pp->label_pos >= 0 && !pp->by_group && !pp->by_model)
        return 0;                       /* collected from the run whatever its size */
    if (sort->order == TS_ORDER_REWARD) {
        /* 4 run <= (limit + 1) total / (sel run), and <= the reward range */
        double sel = s_sel_fields (pp, &shard, &groups, &model);
        double range = pp->by_reward ? s_reward_estimate (pp, &shard) : (double) shard.reward_n;
        cap = sqrt (((double) limit + 1) * total / (Q_RUN_READ_COST * (sel > 0 ? sel : 1e-6)));
        if (cap > range / Q_RUN_READ_COST)
            cap = range / Q_RUN_READ_COST;
    }
    else
        cap = total / Q_RUN_READ_COST;  /* the walk is taken as the whole index */
    if (pp->by_group || pp->by_model) {
        double named = s_named (pp, &groups, &model, &by_model) / Q_RUN_READ_COST;
        if (named > cap)
            cap = named;
    }
    return cap >= (double) UINT64_MAX / 2 ? UINT64_MAX / 2 : (uint64_t) cap + 1;
}

/*  `run`: the run's records (INFINITY: more than s_run_cap). */
static ts_query_plan_t
s_choose (const s_prep_t *pp, const ts_sort_t *sort, uint32_t limit, const s_part_t *parts,
          size_t nparts, double run, q_source_t *from)
{
    ts_totals_t shard, groups, model;
    s_sum_parts (parts, nparts, &shard, &groups, &model);
    bool by_model;
    double named = s_named (pp, &groups, &model, &by_model);
    *from = by_model ? Q_FROM_MODEL : Q_FROM_GROUPS;
    /* the run's entries cost more each (a records file read), and are
     * few when the run is a small part of the store */
    if (pp->by_run && (!(pp->by_group || pp->by_model) || run * Q_RUN_READ_COST < named))
        *from = Q_FROM_RUN;
    /* the label index holds just the labelled records: collected from it
     * unless a group, model or run names fewer */
    else if (pp->label_pos >= 0 && !pp->by_group && !pp->by_model)
        *from = Q_FROM_LABEL;
    if (!pp->by_group && !pp->by_model && !pp->by_run && pp->label_pos < 0)
        return TS_PLAN_WALK;
    if (s_forced_plan != TS_PLAN_AUTO)
        return s_forced_plan;
    if (pp->label_pos >= 0)
        return TS_PLAN_COLLECT;
    double total = shard.count ? (double) shard.count : 1;
    double sel = s_sel_fields (pp, &shard, &groups, &model);
    if (*from == Q_FROM_RUN)
        sel *= run / total;
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
    /* a run's records were imported together and are named RUN:LINE when
     * they have no id of their own: in time and id order they lie
     * together, and a walk may pass most of the store before it meets
     * them (measured: a 5% run's first 100 by time, walked, 139 ms against
     * 95 collected). Rewards do not follow imports: there the matches are
     * spread, and a walk finds 100 soon (13 ms against 85 collected). */
    if (*from == Q_FROM_RUN && sort->order != TS_ORDER_REWARD)
        walk = range;
    double collect = *from == Q_FROM_RUN ? run * Q_RUN_READ_COST : named;
    return collect <= walk ? TS_PLAN_COLLECT : TS_PLAN_WALK;
}

int
ts_query_list (ts_store_t *const *stores, size_t n, const ts_filter_t *f,
               const ts_sort_t *sort, uint32_t limit, bool records,
               ts_query_emit_fn *emit, void *arg, bool *more)
{
    *more = false;
    s_last_plan = TS_PLAN_AUTO;
    q_last_reads = 0;
    s_last_totals = 0;
    s_last_run_keys = 0;
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
        q_source_t from;
        double run = 0;
        if (pp.by_run) {
            bool over;
            rc = s_parts_count_run (&pp, parts, nparts, s_run_cap (&pp, sort, limit, parts, nparts),
                                    &over);
            for (size_t i = 0; i < nparts; i++)
                run += (double) parts [i].run_count;
            if (over)
                run = INFINITY;
        }
        s_last_plan = s_choose (&pp, sort, limit, parts, nparts, run, &from);
        if (rc == 0)
            rc = s_last_plan == TS_PLAN_COLLECT ? q_collect (&L, parts, nparts, from, more)
                                                : q_walk (&L, parts, nparts, more);
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
    q_last_reads++;
    if (ts_summary_unpack_buf (val, vlen, &s, NULL))
        return TS_ECORRUPT;
    if (!q_prep_match (c->pp, c->pt->store, &s))
        return 0;
    c->count++;
    return ++c->pt->seen >= c->pt->bound;       /* no more matches here */
}

int
ts_query_count (ts_store_t *const *stores, size_t n, const ts_filter_t *f, uint64_t *count)
{
    *count = 0;
    s_last_plan = TS_PLAN_AUTO;
    q_last_reads = 0;
    s_last_totals = 0;
    s_last_run_keys = 0;
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
    bool run_only = pp.by_run && !pp.by_group && !pp.by_model && !pp.by_reward && !pp.by_time
                 && !pp.by_label && f->success == -1;
    bool over = false;
    if (rc == 0 && run_only) {
        /* the run index entries are the run's records */
        s_last_plan = TS_PLAN_TOTALS;
        rc = s_parts_count_run (&pp, parts, nparts, UINT64_MAX / 2, &over);
        for (size_t i = 0; i < nparts; i++)
            *count += parts [i].run_count;
    }
    else if (rc == 0 && !pp.by_reward && !pp.by_time && !pp.by_run && !pp.by_label
             && !(pp.by_group && pp.by_model)) {
        /* the bound is exact for these filters: count, or the successes */
        s_last_plan = TS_PLAN_TOTALS;
        for (size_t i = 0; i < nparts; i++)
            *count += parts [i].bound;
    }
    else if (rc == 0) {
        s_last_plan = TS_PLAN_SCAN;
        ts_totals_t shard, groups, model;
        s_sum_parts (parts, nparts, &shard, &groups, &model);
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
        if (pp.by_group && (double) groups.count <= best) {
            tag = TS_TAG_GROUP;
            best = (double) groups.count;
        }
        /* the run's entries, counted only as far as they could be fewer */
        uint64_t run = 0;
        if (pp.by_run)
            rc = s_parts_count_run (&pp, parts, nparts,
                                    (uint64_t) (best / Q_RUN_READ_COST) + 1, &over);
        for (size_t i = 0; i < nparts; i++)
            run += parts [i].run_count;
        if (pp.by_run && !over && (double) run * Q_RUN_READ_COST < best)
            tag = TS_TAG_RUN;
        else if (pp.label_pos >= 0)
            tag = TS_TAG_LABEL_INDEX;   /* just the labelled records */
        s_keys_t *kb = malloc (sizeof *kb);
        if (!kb && rc == 0)
            rc = TS_ENOMEM;
        for (size_t i = 0; i < nparts && rc == 0; i++) {
            s_count_t c = { .pp = &pp, .pt = &parts [i] };
            if (tag == TS_TAG_RUN) {
                rc = parts [i].bound ? q_run_scan (&parts [i], f, s_count_visit, &c) : 0;
                *count += c.count;
                continue;
            }
            uint32_t nscans = tag == TS_TAG_GROUP ? pp.ngroups : 1;
            for (uint32_t g = 0; g < nscans && rc == 0 && parts [i].seen < parts [i].bound; g++) {
                ts_scan_t sc = { .prefix = kb->from };
                if (tag == TS_TAG_GROUP)
                    sc.prefix_len = ts_key_group_prefix (kb->from, pp.groups [g].p, pp.groups [g].len);
                else if (tag == TS_TAG_LABEL_INDEX)
                    sc.prefix_len = q_label_prefix (&pp, kb->from);
                else if (tag == TS_TAG_MODEL)
                    sc.prefix_len = ts_key_model_prefix (kb->from, f->model, f->model_len);
                else
                    q_scan_range (&sc, kb, tag, &pp);
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
