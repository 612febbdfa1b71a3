/*  ts_query_int.h: what the parts of the query engine share (not a public
 *  API; the engine's API is ts_query.h).
 *
 *    ts_query.c       filters and orders, the prepared filter, what the
 *                     totals tell, the choice of plan, list and count
 *    ts_query_plan.c  the two plans: a walk over an order's index, and a
 *                     collect over the named groups' (or model's) entries
 */
#ifndef TS_QUERY_INT_H
#define TS_QUERY_INT_H

#include "ts_key.h"
#include "ts_query.h"
#include "ts_store.h"
#include "ts_totals.h"

#include <stdbool.h>
#include <stdint.h>

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
    bool     by_run;            /* names a run: no totals count it */
    bool     by_label;          /* has label conditions: no totals count them */
    int      label_pos;         /* the first positive one (its index entries
                                   can be collected), or -1 */
    bool     empty;             /* nothing can match */
} s_prep_t;

/*  One store and what its totals say about the filter. */
typedef struct {
    ts_store_t *store;
    ts_totals_t shard;
    ts_totals_t groups;         /* the filter's groups, merged */
    ts_totals_t model;
    uint64_t    run_count;      /* the filter's run: its records here (run index;
                                   0 until counted, s_parts_count_run) */
    uint64_t    bound;          /* at most this many records here match */
    uint64_t    seen;           /* matches met so far by a walk or scan */
} s_part_t;
/*  Where a collect finds its entries: the named groups' prefixes, the
 *  model's, or the run's (run index entries, each record's summary read
 *  through its D entry). */
typedef enum { Q_FROM_GROUPS, Q_FROM_MODEL, Q_FROM_RUN, Q_FROM_LABEL } q_source_t;

/*  A run index entry costs about this many index entries to read: its
 *  summary comes from the records file (measured: bench in the commit). */
#define Q_RUN_READ_COST 4.0

/*  Key buffers of one scan. */
typedef struct {
    char tag;
    char from [TS_KEY_MAX];
    char to [TS_KEY_MAX];
    char cur [TS_KEY_MAX];
} s_keys_t;
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

/* ts_query.c */
extern _Thread_local uint64_t q_last_reads;     /* entries read by the last call */
int q_bytes_cmp (const char *a, size_t alen, const char *b, size_t blen);
bool q_prep_match (const s_prep_t *pp, ts_store_t *store, const ts_summary_t *s);
size_t q_label_prefix (const s_prep_t *pp, char *buf);

/* ts_query_plan.c */
void q_scan_range (ts_scan_t *sc, s_keys_t *kb, char tag, const s_prep_t *pp);
int q_walk (s_list_t *L, s_part_t *parts, size_t nparts, bool *more);
int q_collect (s_list_t *L, s_part_t *parts, size_t nparts, q_source_t from, bool *more);
/*  Visits the records of the filter's run in one store (its run index),
 *  with each record as the value (it starts with the summary). */
int q_run_scan (s_part_t *pt, const ts_filter_t *f, ts_store_visit_fn *fn, void *arg);

#endif
