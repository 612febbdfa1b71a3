/*  ts_query.h: filtered, ordered reads over a worker's shards.
 *
 *  A list is answered from the indexes' summaries: it walks the index of
 *  its sort order in every shard at once (a k-way merge of cursors, so
 *  "the 100 newest" reads about 100 entries, not 100 per shard), filtering
 *  on the summary, unless the filter names groups (or a model) so few
 *  records that collecting those and sorting them is cheaper: the plan
 *  picks whichever the shards' totals say reads less. Records themselves
 *  are read only when asked for, and only for the items returned.
 *
 *  Order is total: by the sort key, then by id (in reward order, by reward,
 *  then ingest time, earlier imports first, then id: the reward index's
 *  order, ts_key.h), so a cursor (the last item's key and id) continues
 *  exactly where a page ended, and a page deep in a listing costs what the
 *  first costs.
 *
 *  A list in reward order holds only the records that have a reward: the
 *  reward index has no others, and finding them would mean walking a
 *  whole other index for every last page. So it lists what the filter
 *  plus "has a reward" selects (a filter with has_reward_lo = -INFINITY
 *  counts the same set), and a cursor with cur_no_reward has nothing
 *  after it. ts_sort_cmp still orders every summary.
 */
#ifndef TS_QUERY_H
#define TS_QUERY_H

#include "ts_record.h"
#include "ts_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_QUERY_MAX_GROUPS 1000
#define TS_QUERY_MAX_LIMIT  10000
#define TS_QUERY_MAX_LABELS 8

/*  A label condition (ts_labels.h): the record's latest value of `key` is
 *  `value` (value NULL: it has the key, any value); negated: it has not. */
typedef struct {
    const char *key;    uint32_t key_len;
    const char *value;  uint32_t value_len;
    bool        negate;
} ts_label_cond_t;

typedef struct {
    uint32_t     ngroups;                 /* 0: any group */
    const char **groups;                  /* borrowed */
    uint32_t    *group_lens;
    const char  *model;  uint32_t model_len;   /* NULL: any */
    const char  *run;    uint32_t run_len;     /* NULL: any run */
    bool    has_reward_lo; double reward_lo;   /* inclusive bounds */
    bool    has_reward_hi; double reward_hi;
    int     success;                      /* 0, 1, or -1 for any */
    bool    has_from; int64_t from_ms;    /* created (sort) time, inclusive */
    bool    has_to;   int64_t to_ms;
    uint32_t        nlabels;              /* label conditions, all must hold */
    ts_label_cond_t labels [TS_QUERY_MAX_LABELS];
} ts_filter_t;

typedef enum { TS_ORDER_CREATED = 0, TS_ORDER_REWARD = 1, TS_ORDER_ID = 2 } ts_order_t;

typedef struct {
    ts_order_t order;
    bool       desc;
    /* continue strictly after this item (in the list's direction) */
    bool        has_cursor;
    double      cur_reward;               /* TS_ORDER_REWARD */
    int64_t     cur_ingested;             /* ... its tie-break before the id */
    int64_t     cur_time;                 /* TS_ORDER_CREATED */
    const char *cur_id;  uint32_t cur_id_len;
    bool        cur_no_reward;            /* cursor item had no reward */
} ts_sort_t;

/*  An empty filter (matches everything). */
void ts_filter_init (ts_filter_t *f);

/*  Does a summary pass the filter? */
bool ts_filter_match (const ts_filter_t *f, const ts_summary_t *s);

/*  Do the filter's label conditions hold for the record of `s`, held by
 *  `store` (its latest labels, ts_labels.h)? True when it has none. */
bool ts_filter_match_labels (const ts_filter_t *f, ts_store_t *store, const ts_summary_t *s);

/*  Compares two summaries in the list order (key, then id; reward ties by
 *  ingest time before the id; records without
 *  a reward sort after all others in either direction, among themselves by
 *  id in the list's direction): <0, 0, >0. Ids compare as bytes (memcmp,
 *  then the shorter first); `desc` reverses key and id. */
int ts_sort_cmp (const ts_sort_t *sort, const ts_summary_t *a, const ts_summary_t *b);

/*  Is the summary strictly after the cursor? (true when there is none)
 *  The cursor stands for a summary with its key and id (cur_no_reward: one
 *  without a reward, in the tail of the reward order). */
bool ts_sort_after_cursor (const ts_sort_t *sort, const ts_summary_t *s);

/*  Called for each item of a list, in order. `summary` is the summary's
 *  msgpack bytes, `record` the whole stored record form (summary + object)
 *  when records were asked for, else NULL. Return 0 to go on, 1 to stop,
 *  or a negative error. Borrowed for the call. */
typedef int (ts_query_emit_fn) (void *arg, const ts_summary_t *s,
                                const char *summary, size_t summary_len,
                                const char *record, size_t record_len);

/*  Lists up to `limit` items matching `f` in `sort` order over `n` stores
 *  (NULL entries are skipped). *more is set when more items exist after the
 *  last one emitted (also when `emit` stopped the list). `emit` must not
 *  write to the stores: their cursors are open while it runs. Returns 0,
 *  TS_EINVAL (limit above TS_QUERY_MAX_LIMIT, more than TS_QUERY_MAX_GROUPS
 *  groups, a NaN bound, a bad order or success value), emit's negative
 *  error, TS_ECORRUPT or TS_ESTORE.
 *
 *  The plan (ts_query.c): walk the order's index (T created, W reward, R
 *  id) in every store as one merge, filtering summaries; or, when the
 *  filter names groups or a model, collect their index entries (G or M
 *  prefixes, whichever holds fewer) and sort them. Collect runs when the
 *  entries it reads (exact, from the totals) are at most what the walk is
 *  estimated to read: (limit + 1) / selectivity, the selectivity taken
 *  from the totals (groups, model, success, reward histogram), capped at
 *  the walked index's size. */
int ts_query_list (ts_store_t *const *stores, size_t n, const ts_filter_t *f,
                   const ts_sort_t *sort, uint32_t limit, bool records,
                   ts_query_emit_fn *emit, void *arg, bool *more);

/*  Counts the records matching `f` over `n` stores: from the totals when
 *  the filter allows (no bounds, and not both groups and a model),
 *  else by scanning the cheapest index: the group or model prefixes (exact
 *  sizes), the reward range (sized from the histogram), the created range.
 *  Returns 0, TS_EINVAL (as for ts_query_list), TS_ECORRUPT or TS_ESTORE. */
int ts_query_count (ts_store_t *const *stores, size_t n, const ts_filter_t *f, uint64_t *count);

/*  Debugging aids, for tests and benchmarks: what the calling thread's
 *  last ts_query_list or ts_query_count did. */
typedef enum {
    TS_PLAN_AUTO = 0,       /* (ts_query_force_plan) let the totals choose */
    TS_PLAN_WALK,           /* list: merged walk of the order's index */
    TS_PLAN_COLLECT,        /* list: collect group/model entries and sort */
    TS_PLAN_TOTALS,         /* count: from the totals alone */
    TS_PLAN_SCAN            /* count: scan of one index */
} ts_query_plan_t;

/*  The plan that ran; TS_PLAN_AUTO when the call ended before one did
 *  (bad arguments, a filter nothing can match). */
ts_query_plan_t ts_query_last_plan (void);

/*  Index entries (R entries for the id order) read by the last call. */
uint64_t ts_query_last_reads (void);

/*  Totals records (shard, group, model) read by the last call. */
uint64_t ts_query_last_totals_reads (void);
/*  Run index entries the last call counted to learn a run's size (apart
 *  from its reads: they are keys only, and stop once the plan is sure). */
uint64_t ts_query_last_run_keys (void);

/*  Makes the calling thread's lists use `plan` (WALK or COLLECT; COLLECT
 *  only applies to filters with groups or a model, others walk), or AUTO
 *  to let the totals choose again: tests run both plans on one filter. */
void ts_query_force_plan (ts_query_plan_t plan);

#ifdef __cplusplus
}
#endif
#endif
