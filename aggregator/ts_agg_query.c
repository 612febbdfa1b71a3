/*  ts_agg_query.c: the query socket: status, stats, job and the sorted,
 *  paged per-group statistics (parts: ts_agg_int.h).
 */
#include "ts_agg_int.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_mp.h"
#include "ts_proto.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- queries ---------------------------------------------------------------- */

/*  Starts a reply to the current query: echoes its "rid" when it had one,
 *  so a client with many queries in flight can match the answers. */
void
agg_reply_begin (ts_agg_t *self, ts_msg_t type, uint32_t nfields)
{
    ts_hdr_begin (&self->hdr, type, nfields + (self->has_rid ? 1 : 0));
    if (self->has_rid)
        ts_hdr_uint (&self->hdr, "rid", self->rid);
}

void
agg_reply_error (ts_agg_t *self, zframe_t *to, const char *code, const char *message)
{
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_ERROR, 2);
    ts_hdr_bool (h, "ok", false);
    ts_hdr_key (h, "error");
    msgpack_pack_map (&h->pk, 2);
    ts_mp_pack_cstr (&h->pk, "code");
    ts_mp_pack_cstr (&h->pk, code);
    ts_mp_pack_cstr (&h->pk, "message");
    ts_mp_pack_cstr (&h->pk, message);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

static void
s_pack_job (msgpack_packer *pk, const s_job_t *j)
{
    const char *state = j->error [0] ? "failed" : j->finished ? "done" : "running";
    msgpack_pack_map (pk, 15);
    ts_mp_pack_cstr (pk, "job");          ts_mp_pack_cstr (pk, j->job);
    ts_mp_pack_cstr (pk, "src");          ts_mp_pack_cstr (pk, j->src);
    ts_mp_pack_cstr (pk, "state");        ts_mp_pack_cstr (pk, state);
    ts_mp_pack_cstr (pk, "lines");        msgpack_pack_uint64 (pk, j->lines);
    ts_mp_pack_cstr (pk, "imported");     msgpack_pack_uint64 (pk, j->imported);
    ts_mp_pack_cstr (pk, "duplicates");   msgpack_pack_uint64 (pk, j->duplicates);
    ts_mp_pack_cstr (pk, "rejected");     msgpack_pack_uint64 (pk, j->rejected);
    ts_mp_pack_cstr (pk, "blank");        msgpack_pack_uint64 (pk, j->blank);
    ts_mp_pack_cstr (pk, "bytes");        msgpack_pack_uint64 (pk, j->bytes);
    ts_mp_pack_cstr (pk, "chunks_acked"); msgpack_pack_uint64 (pk, j->chunks_acked);
    ts_mp_pack_cstr (pk, "chunks");       msgpack_pack_uint64 (pk, j->total_chunks);
    ts_mp_pack_cstr (pk, "started_ms");   msgpack_pack_int64 (pk, j->started);
    ts_mp_pack_cstr (pk, "updated_ms");   msgpack_pack_int64 (pk, j->updated);
    ts_mp_pack_cstr (pk, "finished_ms");
    if (j->finished) msgpack_pack_int64 (pk, j->finished); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "error");
    if (j->error [0]) ts_mp_pack_cstr (pk, j->error); else msgpack_pack_nil (pk);
}

static void
s_reply_status (ts_agg_t *self, zframe_t *to)
{
    ts_hdr_t *h = &self->hdr;
    int nworkers = 0;
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        nworkers += self->workers [i].used;
    agg_reply_begin (self, TS_MSG_STATUS, 9);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_uint (h, "nshards", self->nshards);
    ts_hdr_uint (h, "incarnation", self->incarnation);
    ts_hdr_int (h, "uptime_ms", agg_now () - self->started);
    ts_hdr_bool (h, "stats_complete", self->unsynced == 0);
    ts_hdr_uint (h, "queued_chunks", ts_map_size (self->chunks));
    ts_hdr_key (h, "workers");
    msgpack_pack_array (&h->pk, nworkers);
    int64_t now = agg_now ();
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (!w->used)
            continue;
        int owned = 0;
        for (unsigned s = 0; s < self->nshards; s++)
            owned += self->owners [s] == i;
        msgpack_pack_map (&h->pk, 9);
        ts_mp_pack_cstr (&h->pk, "name");   ts_mp_pack_cstr (&h->pk, w->name);
        ts_mp_pack_cstr (&h->pk, "peer");   ts_mp_pack_cstr (&h->pk, w->peer);
        ts_mp_pack_cstr (&h->pk, "pid");    msgpack_pack_int64 (&h->pk, w->pid);
        ts_mp_pack_cstr (&h->pk, "alive");  w->alive ? msgpack_pack_true (&h->pk) : msgpack_pack_false (&h->pk);
        ts_mp_pack_cstr (&h->pk, "shards");
        msgpack_pack_array (&h->pk, owned);
        for (unsigned s = 0; s < self->nshards; s++)
            if (self->owners [s] == i)
                msgpack_pack_uint32 (&h->pk, s);
        ts_mp_pack_cstr (&h->pk, "last_seen_ms_ago"); msgpack_pack_int64 (&h->pk, now - w->last_seen);
        ts_mp_pack_cstr (&h->pk, "chunks_done"); msgpack_pack_uint64 (&h->pk, w->chunks_done);
        ts_mp_pack_cstr (&h->pk, "queued");  msgpack_pack_int (&h->pk, w->queued);
        ts_mp_pack_cstr (&h->pk, "error");
        if (w->error [0]) ts_mp_pack_cstr (&h->pk, w->error); else msgpack_pack_nil (&h->pk);
    }
    ts_hdr_key (h, "jobs");
    msgpack_pack_array (&h->pk, ts_map_size (self->jobs));
    size_t pos = 0;
    void *v;
    while (ts_map_next (self->jobs, &pos, NULL, NULL, &v))
        s_pack_job (&h->pk, v);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

/*  Packs {model: totals} of one run: the entries of self->run_models
 *  named "run\0model". */
static void
s_pack_run_models (ts_agg_t *self, msgpack_packer *pk, const char *run, size_t run_len)
{
    size_t n = 0, pos = 0, kl;
    const void *k;
    void *v;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            msgpack_pack_map (pk, n);
        pos = 0;
        while (ts_map_next (self->run_models, &pos, &k, &kl, &v)) {
            const char *key = k;
            if (kl <= run_len || key [run_len] != 0 || memcmp (key, run, run_len))
                continue;
            if (pass == 0)
                n++;
            else {
                ts_mp_pack_strn (pk, key + run_len + 1, kl - run_len - 1);
                ts_totals_pack_map (pk, v);
            }
        }
    }
}

/*  "stats"; with "run": that run's totals, groups and models (its totals
 *  per model, from the deltas' run-model part). */
static void
s_reply_stats (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in)
{
    ts_totals_t all;
    ts_totals_init (&all);
    uint32_t run_len = 0;
    const char *run = ts_hdr_get_str (in, "run", &run_len);
    size_t groups = ts_map_size (self->groups);
    if (run) {
        agg_run_row_t *rr;
        ssize_t m = agg_run_rows (self, run, run_len, &rr);
        if (m < 0) {
            agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
            return;
        }
        groups = 0;
        for (ssize_t i = 0; i < m; i++) {
            ts_totals_merge (&all, rr [i].t);
            groups += rr [i].group != NULL;
        }
        free (rr);
    }
    else
        for (unsigned s = 0; s < self->nshards; s++)
            ts_totals_merge (&all, &self->shard_totals [s]);
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_STATS, 5);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "groups", groups);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_key (h, "totals");
    ts_totals_pack_map (&h->pk, &all);
    ts_hdr_key (h, "models");
    if (run)
        s_pack_run_models (self, &h->pk, run, run_len);
    else {
        msgpack_pack_map (&h->pk, ts_map_size (self->models));
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        while (ts_map_next (self->models, &pos, &k, &kl, &v)) {
            ts_mp_pack_strn (&h->pk, k, kl);
            ts_totals_pack_map (&h->pk, v);
        }
    }
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}


/* --- per-group statistics ------------------------------------------------ */

/*  The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k),
 *  computed as a product to stay exact in doubles; NAN when n < k. */
double
agg_pass_at (uint64_t n, uint64_t c, unsigned k)
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

typedef struct {
    const char *name;
    size_t      len;
    const ts_totals_t *t;
} s_group_row_t;

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
    case S_COL_PASS1:     return agg_pass_at (n, c, 1);
    case S_COL_PASS5:     return agg_pass_at (n, c, 5);
    case S_COL_PASS10:    return agg_pass_at (n, c, 10);
    default:              return 0;
    }
}

static int s_sort_col;

/*  Ascending by the column (blank values last), then by group name. */
static int
s_row_cmp (const void *pa, const void *pb)
{
    const s_group_row_t *a = pa, *b = pb;
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
agg_pack_opt (msgpack_packer *pk, double v)
{
    if (isnan (v))
        msgpack_pack_nil (pk);
    else
        msgpack_pack_double (pk, v);
}

/*  Sorts the groups by column `col` (cached until the statistics change),
 *  selects a page and packs its rows into self->page_rows, with the page's
 *  total and next offset. 0, or -1 when out of memory. */
static int
s_pack_groups_page (ts_agg_t *self, int col, bool desc, int only_kind, int64_t offset, int64_t limit,
                    const char *run, size_t run_len)
{
    s_group_row_t *run_rows = NULL;
    size_t n = ts_map_size (self->groups);
    if (run) {
        /* one run's groups: its totals per group, sorted for this answer */
        agg_run_row_t *rr;
        ssize_t m = agg_run_rows (self, run, run_len, &rr);
        run_rows = m < 0 ? NULL : malloc (((size_t) m + 1) * sizeof *run_rows);
        if (!run_rows) {
            free (m < 0 ? NULL : rr);
            return -1;
        }
        n = 0;
        for (ssize_t i = 0; i < m; i++)
            if (rr [i].group)
                run_rows [n++] = (s_group_row_t) { rr [i].group, rr [i].group_len, rr [i].t };
        free (rr);
        s_sort_col = col;
        qsort (run_rows, n, sizeof *run_rows, s_row_cmp);
    }
    /* the sorted order, rebuilt only when the statistics changed */
    else if (!self->group_sorted || self->group_sorted_version != self->stats_version
    ||  self->group_sorted_col != col || self->group_sorted_n != n) {
        s_group_row_t *rows = malloc ((n ? n : 1) * sizeof *rows);
        if (!rows)
            return -1;
        size_t pos = 0, i = 0;
        const void *k;
        size_t kl;
        void *v;
        while (ts_map_next (self->groups, &pos, &k, &kl, &v) && i < n) {
            rows [i].name = k;
            rows [i].len = kl;
            rows [i].t = v;
            i++;
        }
        s_sort_col = col;
        qsort (rows, i, sizeof *rows, s_row_cmp);
        free (self->group_sorted);
        self->group_sorted = (void **) rows;
        self->group_sorted_n = i;
        self->group_sorted_col = col;
        self->group_sorted_version = self->stats_version;
    }
    s_group_row_t *rows = run ? run_rows : (s_group_row_t *) self->group_sorted;
    if (!run)
        n = self->group_sorted_n;
    /* select: walk in the asked direction, filter, skip offset, take limit */
    s_group_row_t **page = malloc ((size_t) limit * sizeof *page);
    if (!page) {
        free (run_rows);
        return -1;
    }
    /* blank values (rate of a group without known success, pass@k with
     * n < k) sort last in both directions: descending walks the valued
     * rows backwards, then the blanks */
    size_t valued = n;
    while (col != S_COL_GROUP && valued > 0 && isnan (s_col_value (rows [valued - 1].t, col)))
        valued--;
    size_t taken = 0, matched = 0;
    for (size_t k = 0; k < n; k++) {
        s_group_row_t *r = &rows [!desc ? k : k < valued ? valued - 1 - k : k];
        const ts_totals_t *t = r->t;
        if (only_kind == 1 && !(t->success_known > 0 && t->successes == t->success_known)) continue;
        if (only_kind == 2 && !(t->success_known > 0 && t->successes == 0)) continue;
        if (only_kind == 3 && !(t->successes > 0 && t->successes < t->success_known)) continue;
        if (matched++ < (size_t) offset)
            continue;
        if (taken < (size_t) limit)
            page [taken++] = r;
    }
    msgpack_packer pk;
    self->page_rows.size = 0;
    msgpack_packer_init (&pk, &self->page_rows, ts_buf_packer_write);
    /* about 150 bytes a row: one allocation instead of many */
    int rc = ts_buf_reserve (&self->page_rows, taken * 160 + 16);
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
            agg_pack_opt (&pk, s_col_value (t, c2));
        }
    }
    free (page);
    free (run_rows);
    /* a run's page is not kept: the cache is keyed without runs */
    self->page_valid = rc == 0 && self->page_rows.size > 0 && !run;
    self->page_version = self->stats_version;
    self->page_col = col;
    self->page_desc = desc;
    self->page_only = only_kind;
    self->page_offset = offset;
    self->page_limit = limit;
    self->page_total = matched;
    self->page_next = (size_t) offset + taken < matched ? offset + (int64_t) taken : -1;
    return rc == 0 && self->page_rows.size > 0 ? 0 : -1;
}

/*  Orders the groups by name and packs the default page (the first 100)
 *  once the statistics are complete after a start: a dashboard's first
 *  "groups" then finds the order made (10,000 groups: sorting them was
 *  most of the first answer's time in the aggregator) and its page packed. */
void
agg_groups_warm (ts_agg_t *self)
{
    int64_t t0 = agg_now ();
    if (s_pack_groups_page (self, S_COL_GROUP, false, 0, 0, 100, NULL, 0) == 0)
        ts_info ("groups ordered: %zu in %" PRId64 " ms", self->group_sorted_n, agg_now () - t0);
}

/*  "groups": per group records, successes, success rate, mean and max
 *  reward, pass@1/5/10; "only": "pass" | "fail" | "mixed"; "sort": a
 *  column, '-' for descending; "limit" (default 100, at most 10000) and
 *  "offset" to page. Sorting is cached until the statistics change. */
static void
s_reply_groups (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in)
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
            char m [96];
            snprintf (m, sizeof m, "field \"%s\": want %s", fields [i].key,
                      fields [i].text ? "a string" : "an integer");
            agg_reply_error (self, to, ts_errname (TS_EBADREQ), m);
            return;
        }
    }
    ts_hdr_copy_str (in, "sort", sort, sizeof sort);
    bool desc = sort [0] == '-';
    const char *colname = desc || sort [0] == '+' ? sort + 1 : sort;
    int col = -1;
    for (int i = 0; i < S_NCOLS; i++)
        if (!strcmp (colname, s_col_names [i]))
            col = i;
    if (col < 0) {
        agg_reply_error (self, to, ts_errname (TS_EBADREQ), "field \"sort\": want one of group, records, "
                       "successes, success_rate, reward_mean, reward_max, pass@1, pass@5, pass@10");
        return;
    }
    int only_kind = 0;          /* 1 all pass, 2 all fail, 3 mixed */
    if (ts_hdr_copy_str (in, "only", only, sizeof only) && only [0]) {
        if (!strcmp (only, "pass")) only_kind = 1;
        else if (!strcmp (only, "fail")) only_kind = 2;
        else if (!strcmp (only, "mixed")) only_kind = 3;
        else {
            agg_reply_error (self, to, ts_errname (TS_EBADREQ), "field \"only\": want \"pass\", \"fail\" or \"mixed\"");
            return;
        }
    }
    int64_t limit = ts_hdr_get_int (in, "limit", 100);
    int64_t offset = ts_hdr_get_int (in, "offset", 0);
    if (limit < 1 || limit > S_GROUPS_LIMIT_MAX || offset < 0) {
        agg_reply_error (self, to, ts_errname (TS_EBADREQ), "field \"limit\" wants 1..100000 and \"offset\" >= 0");
        return;
    }
    uint32_t run_len = 0;
    const char *run = ts_hdr_get_str (in, "run", &run_len);
    if (run || !self->page_valid || self->page_version != self->stats_version || self->page_col != col
    ||  self->page_desc != desc || self->page_only != only_kind || self->page_offset != offset
    ||  self->page_limit != limit) {
        if (s_pack_groups_page (self, col, desc, only_kind, offset, limit, run, run_len)) {
            agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
            return;
        }
    }
    /* the rows travel as a second frame: the api appends them to its
     * reply as the value of "groups" without walking them */
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_GROUPS, 4);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "total", self->page_total);
    ts_hdr_key (h, "next");
    if (self->page_next >= 0)
        msgpack_pack_uint64 (&h->pk, (uint64_t) self->page_next);
    else
        msgpack_pack_nil (&h->pk);
    ts_hdr_str (h, "body", "groups");
    ts_hdr_send (h, zsock_resolve (self->query), to, self->page_rows.data, self->page_rows.size);
}

/*  Answers one query; returns false when it must wait for the statistics. */
static bool
s_answer (ts_agg_t *self, zmsg_t *msg)
{
    zframe_t *from = zmsg_first (msg);
    zframe_t *head = zmsg_next (msg);
    ts_hdrin_t in;
    if (!from)
        return true;
    if (!head) {
        agg_reply_error (self, from, ts_errname (TS_EBADREQ), "empty request");
        return true;
    }
    int rc = ts_hdr_parse (&in, zframe_data (head), zframe_size (head));
    self->has_rid = false;
    if (rc != TS_EPROTO) {
        ts_mp_reader_t rr;
        self->has_rid = ts_hdr_find (&in, "rid", &rr) && ts_mp_read_uint (&rr, &self->rid) == 0;
    }
    if (rc == TS_EVERSION) {
        agg_reply_error (self, from, ts_errname (TS_EVERSION), "unsupported protocol version (want \"v\": 1)");
        return true;
    }
    if (rc) {
        agg_reply_error (self, from, ts_errname (TS_EBADREQ), "request is not a msgpack map with \"v\" and \"t\"");
        return true;
    }
    if (in.msg == TS_MSG_STATUS)
        s_reply_status (self, from);
    else if (in.msg == TS_MSG_MAP && ts_wire_mapreq_decode (&in, &(ts_wire_mapreq_t) { 0 }) == 0)
        agg_reply_map (self, from);
    else if (in.msg == TS_MSG_STATS) {
        if (self->unsynced > 0)
            return false;
        s_reply_stats (self, from, &in);
    }
    else if (in.msg == TS_MSG_GROUPS) {
        if (self->unsynced > 0)
            return false;
        s_reply_groups (self, from, &in);
    }
    else if (in.msg == TS_MSG_RUNS || in.msg == TS_MSG_COMPARE) {
        if (self->unsynced > 0)
            return false;
        if (in.msg == TS_MSG_RUNS)
            agg_reply_runs (self, from);
        else
            agg_reply_compare (self, from, &in);
    }
    else if (in.msg == TS_MSG_DROPPED) {
        /* the api dropped a run: its files and times go too (nothing is
         * answered: the api has answered its client) */
        ts_wire_dropped_t m;
        if (ts_wire_dropped_decode (&in, &m))
            self->dropped++;
        else
            agg_runs_forget (self, m.run.ptr, (uint32_t) m.run.len);
    }
    else if (in.msg == TS_MSG_JOB) {
        char job [TS_JOB_MAX];
        s_job_t *j = ts_hdr_copy_str (&in, "job", job, sizeof job) ? agg_job (self, job, false) : NULL;
        if (!j)
            agg_reply_error (self, from, ts_errname (TS_ENOTFOUND), "no such job");
        else {
            agg_reply_begin (self, TS_MSG_JOB, 2);
            ts_hdr_bool (&self->hdr, "ok", true);
            ts_hdr_key (&self->hdr, "job");
            s_pack_job (&self->hdr.pk, j);
            ts_hdr_send (&self->hdr, zsock_resolve (self->query), from, NULL, 0);
        }
    }
    else {
        char m [96];
        snprintf (m, sizeof m, "unknown request type \"%s\"", in.type);
        agg_reply_error (self, from, ts_errname (TS_EUNKNOWNOP), m);
    }
    return true;
}

void
agg_on_query (ts_agg_t *self)
{
    zmsg_t *msg = zmsg_recv (self->query);
    if (!msg)
        return;
    if (s_answer (self, msg)) {
        zmsg_destroy (&msg);
        return;
    }
    s_held_query_t *q = calloc (1, sizeof *q);
    if (!q) {
        zmsg_destroy (&msg);
        return;
    }
    q->msg = msg;
    q->since = agg_now ();
    q->next = self->held_queries;
    self->held_queries = q;
}

void
agg_retry_queries (ts_agg_t *self)
{
    s_held_query_t **pp = &self->held_queries;
    int64_t now = agg_now ();
    while (*pp) {
        s_held_query_t *q = *pp;
        bool done = s_answer (self, q->msg);
        if (!done && now - q->since > 5000) {
            agg_reply_error (self, zmsg_first (q->msg), ts_errname (TS_EUNAVAILABLE),
                           "statistics are being rebuilt from the shards; retry shortly");
            done = true;
        }
        if (done) {
            *pp = q->next;
            zmsg_destroy (&q->msg);
            free (q);
        }
        else
            pp = &q->next;
    }
}
