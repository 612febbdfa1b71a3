/*  ts_groups.c: the rows of a "groups" answer (ts_groups.h), for the
 *  aggregator's totals and for the api's merge of the workers' per-group
 *  totals of the records a label condition selects.
 */
#include "ts_groups.h"
#include "ts_error.h"
#include "ts_map.h"
#include "ts_mp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double
ts_pass_at (uint64_t n, uint64_t c, unsigned k)
{
    if (n < k)
        return NAN;
    if (n - c < k)
        return 1.0;
    if (k == 1)                 /* exactly c/n (1 - (n-c)/n rounds) */
        return (double) c / (double) n;
    double prod = 1.0;
    for (unsigned i = 0; i < k; i++)
        prod *= (double) (n - c - i) / (double) (n - i);
    return 1.0 - prod;
}

void
ts_pack_opt (msgpack_packer *pk, double v)
{
    if (isnan (v))
        msgpack_pack_nil (pk);
    else
        msgpack_pack_double (pk, v);
}

enum { S_COL_GROUP, S_COL_RECORDS, S_COL_SUCCESSES, S_COL_RATE, S_COL_MEAN, S_COL_MAX,
       S_COL_PASS1, S_COL_PASS5, S_COL_PASS10, S_NCOLS };
static const char *s_col_names [S_NCOLS] = {
    "group", "records", "successes", "success_rate", "reward_mean", "reward_max",
    "pass@1", "pass@5", "pass@10"
};

static double
s_col_value (const ts_totals_t *t, int col)
{
    /* success counts use the records whose success is known */
    uint64_t n = t->success_known, c = t->successes;
    switch (col) {
    case S_COL_RECORDS:   return (double) t->count;
    case S_COL_SUCCESSES: return (double) t->successes;
    case S_COL_RATE:      return n ? (double) c / (double) n : NAN;
    case S_COL_MEAN:      return t->reward_n ? t->reward_sum / (double) t->reward_n : NAN;
    case S_COL_MAX:       return t->reward_n ? t->reward_max : NAN;
    case S_COL_PASS1:     return ts_pass_at (n, c, 1);
    case S_COL_PASS5:     return ts_pass_at (n, c, 5);
    case S_COL_PASS10:    return ts_pass_at (n, c, 10);
    default:              return 0;
    }
}

static int s_sort_col;          /* of the qsort running (one thread a process sorts) */

/*  Ascending by the column (blank values last), then by group name. */
static int
s_row_cmp (const void *pa, const void *pb)
{
    const ts_group_row_t *a = pa, *b = pb;
    if (s_sort_col != S_COL_GROUP) {
        double x = s_col_value (a->t, s_sort_col), y = s_col_value (b->t, s_sort_col);
        bool xn = isnan (x), yn = isnan (y);
        if (xn != yn)
            return xn ? 1 : -1;
        if (!xn && x != y)
            return x < y ? -1 : 1;
    }
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp (a->name, b->name, n);
    return c ? c : (a->len < b->len ? -1 : a->len > b->len);
}

void
ts_groups_sort (ts_group_row_t *rows, size_t n, int col)
{
    s_sort_col = col;
    qsort (rows, n, sizeof *rows, s_row_cmp);
}

int
ts_groups_request (const ts_hdrin_t *in, ts_groups_page_t *pg, char *err, size_t esz)
{
    char sort [32] = "group", only [16] = "";
    static const struct { const char *key; bool text; } fields [] = {
        { "sort", true }, { "only", true }, { "limit", false }, { "offset", false }
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++) {
        /* absent or nil: the default; otherwise the right type or an error */
        ts_mp_reader_t r;
        ts_mp_item_t it;
        if (!ts_hdr_find (in, fields [i].key, &r) || ts_mp_next (&r, &it) || it.type == TS_MP_NIL)
            continue;
        bool ok = fields [i].text ? it.type == TS_MP_STR
                                  : it.type == TS_MP_UINT || it.type == TS_MP_INT;
        if (!ok) {
            snprintf (err, esz, "field \"%s\": want %s", fields [i].key,
                      fields [i].text ? "a string" : "an integer");
            return TS_EBADREQ;
        }
    }
    ts_hdr_copy_str (in, "sort", sort, sizeof sort);
    pg->desc = sort [0] == '-';
    const char *colname = pg->desc || sort [0] == '+' ? sort + 1 : sort;
    pg->col = -1;
    for (int i = 0; i < S_NCOLS; i++)
        if (!strcmp (colname, s_col_names [i]))
            pg->col = i;
    if (pg->col < 0) {
        snprintf (err, esz, "field \"sort\": want one of group, records, successes, success_rate, "
                  "reward_mean, reward_max, pass@1, pass@5, pass@10");
        return TS_EBADREQ;
    }
    pg->only = 0;
    if (ts_hdr_copy_str (in, "only", only, sizeof only) && only [0]) {
        if (!strcmp (only, "pass")) pg->only = 1;
        else if (!strcmp (only, "fail")) pg->only = 2;
        else if (!strcmp (only, "mixed")) pg->only = 3;
        else {
            snprintf (err, esz, "field \"only\": want \"pass\", \"fail\" or \"mixed\"");
            return TS_EBADREQ;
        }
    }
    pg->limit = ts_hdr_get_int (in, "limit", 100);
    pg->offset = ts_hdr_get_int (in, "offset", 0);
    if (pg->limit < 1 || pg->limit > TS_GROUPS_LIMIT_MAX || pg->offset < 0) {
        snprintf (err, esz, "field \"limit\" wants 1..%d and \"offset\" >= 0", TS_GROUPS_LIMIT_MAX);
        return TS_EBADREQ;
    }
    return 0;
}

int
ts_groups_pack_page (const ts_group_row_t *rows, size_t n, const ts_groups_page_t *pg,
                     ts_buf_t *out, size_t *total, int64_t *next)
{
    const ts_group_row_t **page = malloc ((size_t) pg->limit * sizeof *page);
    if (!page)
        return TS_ENOMEM;
    /* blank values (rate of a group without known success, pass@k with
     * n < k) sort last in both directions: descending walks the valued
     * rows backwards, then the blanks */
    size_t valued = n;
    while (pg->col != S_COL_GROUP && valued > 0 && isnan (s_col_value (rows [valued - 1].t, pg->col)))
        valued--;
    size_t taken = 0, matched = 0;
    for (size_t k = 0; k < n; k++) {
        const ts_group_row_t *r = &rows [!pg->desc ? k : k < valued ? valued - 1 - k : k];
        const ts_totals_t *t = r->t;
        if (pg->only == 1 && !(t->success_known > 0 && t->successes == t->success_known)) continue;
        if (pg->only == 2 && !(t->success_known > 0 && t->successes == 0)) continue;
        if (pg->only == 3 && !(t->successes > 0 && t->successes < t->success_known)) continue;
        if (matched++ < (size_t) pg->offset)
            continue;
        if (taken < (size_t) pg->limit)
            page [taken++] = r;
    }
    msgpack_packer pk;
    out->size = 0;
    msgpack_packer_init (&pk, out, ts_buf_packer_write);
    /* about 150 bytes a row: one allocation instead of many */
    int rc = ts_buf_reserve (out, taken * 160 + 16) ? TS_ENOMEM : 0;
    msgpack_pack_array (&pk, taken);
    for (size_t k = 0; k < taken && rc == 0; k++) {
        const ts_totals_t *t = page [k]->t;
        msgpack_pack_map (&pk, S_NCOLS);
        ts_mp_pack_cstr (&pk, "group");
        ts_mp_pack_strn (&pk, page [k]->name, page [k]->len);
        ts_mp_pack_cstr (&pk, "records");
        msgpack_pack_uint64 (&pk, t->count);
        ts_mp_pack_cstr (&pk, "successes");
        msgpack_pack_uint64 (&pk, t->successes);
        for (int c2 = S_COL_RATE; c2 < S_NCOLS; c2++) {
            ts_mp_pack_cstr (&pk, s_col_names [c2]);
            ts_pack_opt (&pk, s_col_value (t, c2));
        }
    }
    free (page);
    *total = matched;
    *next = (size_t) pg->offset + taken < matched ? pg->offset + (int64_t) taken : -1;
    return rc;
}

/* --- per-group totals of the matching records (workers) ------------------- */

typedef struct {
    ts_map_t *groups;           /* name -> ts_totals_t */
    char      last [TS_ID_MAX_BYTES];
    uint32_t  last_len;
    int       rc;
} s_tot_t;

static int
s_tot_emit (void *arg, const ts_summary_t *s, const char *summary, size_t summary_len,
            const char *record, size_t record_len)
{
    (void) summary; (void) summary_len; (void) record; (void) record_len;
    s_tot_t *x = arg;
    memcpy (x->last, s->id, s->id_len);
    x->last_len = s->id_len;
    if (!s->group)
        return 0;
    ts_totals_t *t = ts_map_get (x->groups, s->group, s->group_len);
    if (!t) {
        t = malloc (sizeof *t);
        if (!t || ts_map_put (x->groups, s->group, s->group_len, t)) {
            free (t);
            return TS_ENOMEM;
        }
        ts_totals_init (t);
    }
    ts_totals_add (t, s);
    return 0;
}

int
ts_groups_totals (ts_store_t *const *stores, size_t n, const ts_filter_t *f, msgpack_packer *pk)
{
    s_tot_t x = { ts_map_new (free), "", 0, 0 };
    if (!x.groups)
        return TS_ENOMEM;
    /* the matches in id order, a page at a time (the plan the filter's
     * indexes allow: the label index for a label, the run's for a run) */
    ts_sort_t sort = { .order = TS_ORDER_ID };
    bool more = true;
    int rc = 0;
    while (more && rc == 0) {
        rc = ts_query_list (stores, n, f, &sort, TS_QUERY_MAX_LIMIT, false, s_tot_emit, &x, &more);
        sort.has_cursor = true;
        sort.cur_id = x.last;
        sort.cur_id_len = x.last_len;
    }
    if (rc == 0 && msgpack_pack_array (pk, ts_map_size (x.groups)))
        rc = TS_ENOMEM;
    size_t pos = 0, kl;
    const void *k;
    void *v;
    while (rc == 0 && ts_map_next (x.groups, &pos, &k, &kl, &v))
        if (msgpack_pack_array (pk, 2) || ts_mp_pack_strn (pk, k, kl) || ts_totals_pack (pk, v))
            rc = TS_ENOMEM;
    ts_map_destroy (&x.groups);
    return rc;
}
