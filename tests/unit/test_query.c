/*  test_query.c: unit tests of filtered, ordered lists and counts over
 *  shards (ts_query.h), and of the store's pull cursor (ts_store.h).
 *
 *  Four shards get ~3,000 generated records (groups of about ten, with
 *  names that are prefixes of each other and one holding a NUL byte; four
 *  models of uneven sizes; rewards with exact ties, outside [0, 1], -0.0,
 *  or absent; success true, false or unknown; created times with ties or
 *  absent, then the ingest time, which ties with created times too; ids
 *  of varying length, some with non-ASCII bytes). Lines go through
 *  ts_parser_parse and ts_store_put_batches, as the worker sends them.
 *
 *  The expectations come from a brute-force oracle: the records as the
 *  test generated them, filtered and sorted here by the test's own code.
 *  Random filters x every order x both directions x limits 1, 7, 100,
 *  10000 are paged through with cursors built from each page's last item,
 *  under the plan the totals choose and under each plan forced; the pages
 *  must join into the oracle's list exactly, with *more right, summaries
 *  and records (when asked) equal to what was stored, and counts equal to
 *  the oracle's. Other tests pin the plan choice, the number of entries a
 *  list reads ("the 100 newest" reads about 100), the edges of the API,
 *  and the pull cursor against ts_store_scan.
 *
 *  TS_TEST_SEED in the environment changes the random filters (the seed
 *  is printed when a check fails).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"
#include "ts_check.h"

#include "ts_error.h"
#include "ts_key.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_query.h"
#include "ts_record.h"
#include "ts_store.h"

#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define S_NSTORES   4
#define S_NRECS     3000        /* ids are a permutation of 0..3000: keep below 3001 */
#define S_NGROUPS   300
#define S_BASE_MS   INT64_C (1773480413000)
#define S_LINE_MAX  512

/* --- the records, as the test made them ----------------------------------- */

typedef struct {
    char id [24];       uint32_t id_len;
    bool has_group;     char group [16];  uint32_t group_len;
    bool has_model;     char model [8];   uint32_t model_len;
    bool has_reward;    double reward;
    int  success;
    bool has_created;   int64_t created_ms;
    int64_t ingested_ms;
    int  run;           /* -1: none; else run "r<run>" */
    uint32_t store;
} s_rec_t;

#define S_NRUNS 4
static const char *const s_runs [S_NRUNS] = { "r0", "r1", "r2", "r3" };

typedef struct {
    char dir [PATH_MAX / 2];
    ts_store_t *stores [S_NSTORES];
    s_rec_t *recs;
    size_t   nrecs;
    uint64_t seed;
    uint64_t rng;
    unsigned auto_plans [8];    /* plans the totals chose, by ts_query_plan_t */
} s_env_t;

static s_env_t *s_env;

static uint64_t
s_rand (void)
{
    return tu_splitmix64 (&s_env->rng);
}

static unsigned
s_pick (unsigned n)
{
    return (unsigned) (s_rand () % n);
}

static void
s_rec_gen (s_rec_t *r, unsigned k)
{
    memset (r, 0, sizeof *r);
    /* 37 is invertible mod 3001: distinct ids of 2 to 5 digits, so that
     * some ids are prefixes of others; a few end in a two-byte character */
    unsigned idn = (k * 37u) % 3001u;
    r->id_len = (uint32_t) snprintf (r->id, sizeof r->id, k % 50 == 7 ? "q%u\xc3\xa9" : "q%u", idn);
    r->store = ts_shard_of (r->id, r->id_len, S_NSTORES);

    unsigned u = s_pick (100);
    r->has_group = u >= 4;
    if (u >= 4 && u < 6) {
        /* "a" and "a\0b": the key escaping must keep them apart */
        memcpy (r->group, "a\0b", 3);
        r->group_len = u == 4 ? 1 : 3;
    }
    else if (u >= 6)
        r->group_len = (uint32_t) snprintf (r->group, sizeof r->group, "g%u", s_pick (S_NGROUPS));

    u = s_pick (100);
    r->has_model = u >= 2;
    r->model_len = (uint32_t) snprintf (r->model, sizeof r->model, "m%d",
                                        u < 50 ? 0 : u < 78 ? 1 : u < 94 ? 2 : 3);
    u = s_pick (100);
    static const double common [4] = { 0, 0.25, 0.5, 1 };
    static const double odd [4] = { -1, 2.5, -0.25, -0.0 };
    r->has_reward = u >= 10;
    r->reward = u < 40 ? common [s_pick (4)] : u < 45 ? odd [s_pick (4)] : (double) s_pick (1001) / 1000.0;

    u = s_pick (3);
    r->success = u == 0 ? TS_SUCCESS_UNKNOWN : u == 1;
    r->has_created = s_pick (100) < 85;
    r->created_ms = S_BASE_MS + (int64_t) s_pick (500) * 1000;
    r->ingested_ms = S_BASE_MS + (int64_t) s_pick (1000) * 500;
    /* runs of uneven sizes (60%, 25%, 10%, 5%), a few records of none;
     * from k, so that the random stream above stays as it was */
    unsigned m = k % 20;
    r->run = k % 101 == 0 ? -1 : m < 12 ? 0 : m < 17 ? 1 : m < 19 ? 2 : 3;
}

static int
s_line (const s_rec_t *r, char *line)
{
    size_t n = 0;
    n += (size_t) snprintf (line + n, S_LINE_MAX - n, "{\"id\":\"%s\"", r->id);
    if (r->has_group) {
        if (r->group_len == 3 && r->group [1] == 0)
            n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"data_id\":\"a\\u0000b\"");
        else
            n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"data_id\":\"%.*s\"",
                                    (int) r->group_len, r->group);
    }
    if (r->has_model)
        n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"model\":\"%s\"", r->model);
    if (r->has_reward) {
        char num [40];
        if (r->reward == 0 && signbit (r->reward))
            strcpy (num, "-0.0");       /* "-0" would read as the integer 0 */
        else
            ts_format_double (r->reward, num);
        n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"reward\":%s", num);
    }
    if (r->success != TS_SUCCESS_UNKNOWN)
        n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"is_success\":%s",
                                r->success ? "true" : "false");
    if (r->has_created) {
        if (r->created_ms % 3 == 0)     /* some as epoch milliseconds */
            n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"created_at\":%" PRId64, r->created_ms);
        else {
            time_t sec = (time_t) (r->created_ms / 1000);
            struct tm tm;
            char when [40];
            gmtime_r (&sec, &tm);
            strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
            n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"created_at\":\"%s.%03dZ\"", when,
                                    (int) (r->created_ms % 1000));
        }
    }
    n += (size_t) snprintf (line + n, S_LINE_MAX - n, ",\"trajectory\":[{\"role\":\"user\"}]}");
    assert_true (n < S_LINE_MAX - TS_PARSE_PADDING);
    memset (line + n, 0, TS_PARSE_PADDING);
    return (int) n;
}

/*  The summary the store should hold for r (strings borrow r). */
static void
s_rec_summary (const s_rec_t *r, ts_summary_t *s)
{
    memset (s, 0, sizeof *s);
    s->id = r->id;
    s->id_len = r->id_len;
    s->group = r->has_group ? r->group : NULL;
    s->group_len = r->has_group ? r->group_len : 0;
    s->model = r->has_model ? r->model : NULL;
    s->model_len = r->has_model ? r->model_len : 0;
    s->has_reward = r->has_reward;
    s->reward = r->has_reward ? r->reward : 0;
    s->success = r->success;
    s->has_created = r->has_created;
    s->created_ms = r->has_created ? r->created_ms : 0;
    s->ingested_ms = r->ingested_ms;
    s->run = r->run >= 0 ? s_runs [r->run] : NULL;
    s->run_len = r->run >= 0 ? 2 : 0;
}

static void
s_assert_summary (const ts_summary_t *s, const s_rec_t *r)
{
    assert_int_equal (s->id_len, r->id_len);
    assert_memory_equal (s->id, r->id, r->id_len);
    assert_int_equal (s->group != NULL, r->has_group);
    if (r->has_group) {
        assert_int_equal (s->group_len, r->group_len);
        assert_memory_equal (s->group, r->group, r->group_len);
    }
    assert_int_equal (s->model != NULL, r->has_model);
    if (r->has_model) {
        assert_int_equal (s->model_len, r->model_len);
        assert_memory_equal (s->model, r->model, r->model_len);
    }
    assert_int_equal (s->has_reward, r->has_reward);
    if (r->has_reward)
        assert_true (s->reward == r->reward);
    assert_int_equal (s->success, r->success);
    assert_int_equal (s->has_created, r->has_created);
    if (r->has_created)
        assert_int_equal (s->created_ms, r->created_ms);
    assert_int_equal (s->ingested_ms, r->ingested_ms);
    assert_int_equal (s->run != NULL, r->run >= 0);
    if (r->run >= 0) {
        assert_int_equal (s->run_len, 2);
        assert_memory_equal (s->run, s_runs [r->run], 2);
    }
}

/* --- the oracle ----------------------------------------------------------- */

static int64_t
s_time (const s_rec_t *r)
{
    return r->has_created ? r->created_ms : r->ingested_ms;
}

static int
s_id_cmp (const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp (a, b, alen < blen ? alen : blen);
    if (c)
        return c < 0 ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

/*  The list order, written from the contract: key, then id bytes; records
 *  without a reward last in the reward order, by id in the list's way. */
static int
s_cmp (ts_order_t order, bool desc, const s_rec_t *a, const s_rec_t *b)
{
    if (order == TS_ORDER_REWARD && a->has_reward != b->has_reward)
        return a->has_reward ? -1 : 1;
    int c = 0;
    if (order == TS_ORDER_CREATED)
        c = s_time (a) < s_time (b) ? -1 : s_time (a) > s_time (b);
    else if (order == TS_ORDER_REWARD && a->has_reward) {
        /* reward ties: earlier imports first, then the id */
        c = a->reward < b->reward ? -1 : a->reward > b->reward;
        if (c == 0)
            c = a->ingested_ms < b->ingested_ms ? -1 : a->ingested_ms > b->ingested_ms;
    }
    if (c == 0)
        c = s_id_cmp (a->id, a->id_len, b->id, b->id_len);
    return desc ? -c : c;
}

static bool
s_match (const ts_filter_t *f, const s_rec_t *r)
{
    if (f->ngroups) {
        bool hit = false;
        for (uint32_t i = 0; i < f->ngroups && !hit; i++)
            hit = r->has_group && r->group_len == f->group_lens [i]
               && !memcmp (r->group, f->groups [i], r->group_len);
        if (!hit)
            return false;
    }
    if (f->model && !(r->has_model && r->model_len == f->model_len
                      && !memcmp (r->model, f->model, f->model_len)))
        return false;
    if (f->has_reward_lo && !(r->has_reward && r->reward >= f->reward_lo))
        return false;
    if (f->has_reward_hi && !(r->has_reward && r->reward <= f->reward_hi))
        return false;
    if (f->success != TS_SUCCESS_UNKNOWN && r->success != f->success)
        return false;
    if (f->has_from && s_time (r) < f->from_ms)
        return false;
    if (f->has_to && s_time (r) > f->to_ms)
        return false;
    if (f->run && !(r->run >= 0 && f->run_len == 2 && !memcmp (f->run, s_runs [r->run], 2)))
        return false;
    return true;
}

static ts_order_t s_qorder;
static bool       s_qdesc;

static int
s_qcmp (const void *a, const void *b)
{
    return s_cmp (s_qorder, s_qdesc, *(const s_rec_t *const *) a, *(const s_rec_t *const *) b);
}

/*  The oracle's list: matching records (with a reward, in reward order),
 *  sorted. Caller frees. */
static const s_rec_t **
s_oracle (const ts_filter_t *f, ts_order_t order, bool desc, size_t *n)
{
    const s_rec_t **v = malloc ((s_env->nrecs + 1) * sizeof *v);
    assert_non_null (v);
    *n = 0;
    for (size_t i = 0; i < s_env->nrecs; i++) {
        const s_rec_t *r = &s_env->recs [i];
        if (s_match (f, r) && (order != TS_ORDER_REWARD || r->has_reward))
            v [(*n)++] = r;
    }
    s_qorder = order;
    s_qdesc = desc;
    qsort (v, *n, sizeof *v, s_qcmp);
    return v;
}

static uint64_t
s_oracle_count (const ts_filter_t *f)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s_env->nrecs; i++)
        n += s_match (f, &s_env->recs [i]);
    return n;
}

/* --- environment ---------------------------------------------------------- */

static int
s_buf_write (void *data, const char *buf, size_t len)
{
    return ts_buf_append ((ts_buf_t *) data, buf, len) ? -1 : 0;
}

static void s_mid_load_check (uint32_t st, const bool *loaded);

/*  Commits the records of one store and one run (-1: none), 250 to a
 *  batch, through `parser` (whose profile names that run), in a random
 *  order (times, rewards and groups all over their ranges). Passes into the
 *  indexes come every 300 records, so reads meet entries both in the tree
 *  and waiting: after about a third of the batches a random count and the
 *  checker run against what is loaded so far. */
static void
s_load_store (ts_parser_t *parser, uint32_t st, int run, uint64_t *chunk)
{
    ts_buf_t records = { 0 }, form = { 0 };
    char line [S_LINE_MAX];
    uint32_t nb = 0;
    size_t *perm = malloc (s_env->nrecs * sizeof *perm);
    bool *loaded = calloc (s_env->nrecs, sizeof *loaded);
    assert_non_null (perm);
    assert_non_null (loaded);
    for (size_t i = 0; i < s_env->nrecs; i++) {
        size_t j = s_pick ((unsigned) i + 1);
        perm [i] = perm [j];
        perm [j] = i;
        /* the runs before this one (loaded in order, -1 first) are in */
        loaded [i] = s_env->recs [i].store == st && s_env->recs [i].run < run;
    }
    ts_store_set_id_batch (s_env->stores [st], 300);
    for (size_t p = 0; p <= s_env->nrecs; p++) {
        size_t i = p < s_env->nrecs ? perm [p] : s_env->nrecs;
        if (i < s_env->nrecs && s_env->recs [i].store == st && s_env->recs [i].run == run) {
            const s_rec_t *r = &s_env->recs [i];
            loaded [i] = true;
            int len = s_line (r, line);
            ts_summary_t s;
            char reason [256] = "";
            form.size = 0;
            int rc = ts_parser_parse (parser, line, (size_t) len, 1, r->ingested_ms, &form, &s,
                                      reason, sizeof reason);
            if (rc)
                fail_msg ("parse %s: %d %s", line, rc, reason);
            s_assert_summary (&s, r);       /* the oracle and the parser agree */
            msgpack_packer pk;
            msgpack_packer_init (&pk, &records, s_buf_write);
            assert_int_equal (msgpack_pack_bin (&pk, form.size), 0);
            assert_int_equal (msgpack_pack_bin_body (&pk, form.data, form.size), 0);
            nb++;
        }
        if (nb == 250 || (i == s_env->nrecs && nb)) {
            ts_batch_t b = { .job = "jq", .job_len = 2, .chunk = (*chunk)++,
                             .records = records.data, .records_len = records.size, .nrecords = nb };
            ts_batch_result_t res;
            int rc = ts_store_put_batches (s_env->stores [st], &b, 1, &res);
            if (rc)
                fail_msg ("put: %d %s", rc, ts_store_errmsg (s_env->stores [st]));
            assert_int_equal (res.imported, nb);
            records.size = 0;
            nb = 0;
            if (s_pick (3) == 0)
                s_mid_load_check (st, loaded);
        }
    }
    ts_buf_free (&records);
    ts_buf_free (&form);
    free (perm);
    free (loaded);
}

static int
s_group_setup (void **state)
{
    (void) state;
    s_env = calloc (1, sizeof *s_env);
    if (!s_env)
        return -1;
    const char *seed = getenv ("TS_TEST_SEED");
    s_env->seed = seed && *seed ? strtoull (seed, NULL, 10) : 20261129;
    s_env->rng = s_env->seed;
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_env->dir, sizeof s_env->dir, "%s/test_query_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (s_env->dir))
        return -1;
    s_env->nrecs = S_NRECS;
    s_env->recs = calloc (S_NRECS, sizeof *s_env->recs);
    if (!s_env->recs)
        return -1;
    for (unsigned k = 0; k < S_NRECS; k++)
        s_rec_gen (&s_env->recs [k], k);
    ts_profile_t prof;
    char perr [128];
    ts_parser_t *parsers [S_NRUNS + 1] = { NULL };     /* [0]: no run; [1 + r]: run r */
    for (int r = 0; r <= S_NRUNS; r++) {
        char spec [32];
        snprintf (spec, sizeof spec, r ? "default,run=%s" : "default", r ? s_runs [r - 1] : "");
        if (ts_profile_parse (spec, &prof, perr, sizeof perr) || !(parsers [r] = ts_parser_new (&prof)))
            return -1;
    }
    uint64_t chunk = 0;
    for (uint32_t st = 0; st < S_NSTORES; st++) {
        char path [PATH_MAX];
        char emsg [512] = "";
        int err = 0;
        snprintf (path, sizeof path, "%s/shard%u.kct", s_env->dir, st);
        s_env->stores [st] = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
        if (!s_env->stores [st]) {
            fprintf (stderr, "open %s: %d %s\n", path, err, emsg);
            return -1;
        }
        for (int r = 0; r <= S_NRUNS; r++)
            s_load_store (parsers [r], st, r - 1, &chunk);
    }
    for (int r = 0; r <= S_NRUNS; r++)
        ts_parser_destroy (&parsers [r]);
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    for (int st = 0; st < S_NSTORES; st++)
        ts_store_destroy (&s_env->stores [st]);
    tu_rmtree (s_env->dir);
    free (s_env->recs);
    free (s_env);
    s_env = NULL;
    return 0;
}

/* --- paging through a list ------------------------------------------------ */

typedef struct {
    const s_rec_t **want;       /* the oracle's list */
    size_t   nwant;
    size_t   pos;               /* index in `want` of the next item expected */
    uint32_t got;               /* items of this page */
    bool     records;
    uint32_t stop_after;        /* emit answers 1 after this many (0: never) */
    int      fail_with;         /* emit answers this error at once (0: never) */
    /* the last item, to continue from */
    char     last_id [64];
    uint32_t last_id_len;
    int64_t  last_time;
    int64_t  last_ingested;
    double   last_reward;
    bool     last_has_reward;
} s_page_t;

static int
s_page_emit (void *arg, const ts_summary_t *s, const char *sum, size_t sum_len,
             const char *rec, size_t rec_len)
{
    s_page_t *p = arg;
    if (p->fail_with)
        return p->fail_with;
    if (p->pos >= p->nwant)
        fail_msg ("seed %" PRIu64 ": an item past the oracle's %zu", s_env->seed, p->nwant);
    const s_rec_t *w = p->want [p->pos];
    if (s->id_len != w->id_len || memcmp (s->id, w->id, w->id_len))
        fail_msg ("seed %" PRIu64 ": item %zu is %.*s, the oracle has %s", s_env->seed, p->pos,
                  (int) s->id_len, s->id, w->id);
    s_assert_summary (s, w);
    /* the summary bytes are that summary */
    ts_summary_t s2;
    size_t used;
    assert_int_equal (ts_summary_unpack_buf (sum, sum_len, &s2, &used), 0);
    assert_int_equal (used, sum_len);
    s_assert_summary (&s2, w);
    if (p->records) {
        assert_non_null (rec);
        ts_buf_t b = { 0 };
        assert_int_equal (ts_store_get (s_env->stores [w->store], w->id, w->id_len, &b), 0);
        assert_int_equal (rec_len, b.size);
        assert_memory_equal (rec, b.data, b.size);
        assert_true (rec_len >= sum_len);
        assert_memory_equal (rec, sum, sum_len);      /* a record starts with its summary */
        ts_buf_free (&b);
    }
    else
        assert_null (rec);
    assert_true (s->id_len <= sizeof p->last_id);
    memcpy (p->last_id, s->id, s->id_len);
    p->last_id_len = s->id_len;
    p->last_time = ts_summary_time (s);
    p->last_ingested = s->ingested_ms;
    p->last_reward = s->reward;
    p->last_has_reward = s->has_reward;
    p->pos++;
    p->got++;
    return p->stop_after && p->got >= p->stop_after ? 1 : 0;
}

static void
s_sort_from (ts_sort_t *sort, const s_page_t *p)
{
    sort->has_cursor = true;
    sort->cur_id = p->last_id;
    sort->cur_id_len = p->last_id_len;
    sort->cur_time = p->last_time;
    sort->cur_ingested = p->last_ingested;
    sort->cur_reward = p->last_reward;
    sort->cur_no_reward = !p->last_has_reward;
}

static void
s_sort_from_rec (ts_sort_t *sort, const s_rec_t *r)
{
    sort->has_cursor = true;
    sort->cur_id = r->id;
    sort->cur_id_len = r->id_len;
    sort->cur_time = s_time (r);
    sort->cur_ingested = r->ingested_ms;
    sort->cur_reward = r->reward;
    sort->cur_no_reward = !r->has_reward;
}

/*  Pages through the list of `f` `limit` items at a time, each page going
 *  on from the last item of the one before, until the end or `max_items`;
 *  every item and *more checked against the oracle. */
static void
s_check_pages (const ts_filter_t *f, ts_order_t order, bool desc, uint32_t limit, bool records,
               size_t max_items, ts_query_plan_t force)
{
    size_t nwant;
    const s_rec_t **want = s_oracle (f, order, desc, &nwant);
    s_page_t p = { .want = want, .nwant = nwant, .records = records };
    ts_sort_t sort = { .order = order, .desc = desc };
    ts_query_force_plan (force);
    for (;;) {
        bool more = !0;
        p.got = 0;
        int rc = ts_query_list (s_env->stores, S_NSTORES, f, &sort, limit, records, s_page_emit, &p, &more);
        if (rc)
            fail_msg ("seed %" PRIu64 ": list: %d", s_env->seed, rc);
        if (force == TS_PLAN_AUTO)
            s_env->auto_plans [ts_query_last_plan ()]++;
        else if (f->ngroups || f->model)
            assert_int_equal (ts_query_last_plan (), force);
        assert_true (p.got <= limit);
        if (more != (p.pos < nwant))
            fail_msg ("seed %" PRIu64 ": more %d after %zu of %zu (order %d desc %d limit %u plan %d)",
                      s_env->seed, more, p.pos, nwant, order, desc, limit, ts_query_last_plan ());
        if (p.got < limit && more)
            fail_msg ("a short page with more after it");
        if (!more || p.pos >= max_items)
            break;
        s_sort_from (&sort, &p);
    }
    ts_query_force_plan (TS_PLAN_AUTO);
    if (max_items >= nwant)
        assert_int_equal (p.pos, nwant);
    free (want);
}

/*  One page after the cursor of an arbitrary record (matching or not):
 *  the items strictly after it in the list order. */
static void
s_check_from_rec (const ts_filter_t *f, ts_order_t order, bool desc, uint32_t limit,
                  const s_rec_t *from)
{
    size_t nall;
    const s_rec_t **all = s_oracle (f, order, desc, &nall);
    size_t first = 0;
    while (first < nall && s_cmp (order, desc, all [first], from) <= 0)
        first++;
    /* the reward order has no records without a reward, so nothing
     * follows one of them */
    if (order == TS_ORDER_REWARD && !from->has_reward)
        first = nall;
    s_page_t p = { .want = all + first, .nwant = nall - first };
    ts_sort_t sort = { .order = order, .desc = desc };
    s_sort_from_rec (&sort, from);
    bool more;
    assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, f, &sort, limit, false, s_page_emit,
                                     &p, &more), 0);
    assert_int_equal (p.got, p.nwant < limit ? p.nwant : limit);
    assert_int_equal (more, p.nwant > limit);
    free (all);
}

/* --- random filters ------------------------------------------------------- */

typedef struct {
    ts_filter_t f;
    const char *groups [3];
    uint32_t    lens [3];
    char        names [3][16];
} s_filt_t;

static const double s_reward_marks [] = { -1, -0.25, 0, 0.25, 0.3, 0.5, 0.777, 1, 2.5 };

static void
s_filt_random (s_filt_t *q)
{
    ts_filter_init (&q->f);
    unsigned u = s_pick (4);
    uint32_t ng = u < 2 ? 0 : u == 2 ? 1 : 3;
    for (uint32_t i = 0; i < ng; i++) {
        unsigned v = s_pick (20);
        if (v == 0)
            q->lens [i] = (uint32_t) snprintf (q->names [i], 16, "nosuch");
        else if (v == 1) {
            memcpy (q->names [i], "a\0b", 3);
            q->lens [i] = s_pick (2) ? 1 : 3;
        }
        else if (v == 2 && i > 0) {
            memcpy (q->names [i], q->names [0], 16);        /* a repeated group */
            q->lens [i] = q->lens [0];
        }
        else
            q->lens [i] = (uint32_t) snprintf (q->names [i], 16, "g%u", s_pick (S_NGROUPS));
        q->groups [i] = q->names [i];
    }
    q->f.ngroups = ng;
    q->f.groups = q->groups;
    q->f.group_lens = q->lens;
    if (s_pick (10) < 3) {
        static const char *models [] = { "m0", "m1", "m2", "m3", "m9" };
        q->f.model = models [s_pick (5)];
        q->f.model_len = (uint32_t) strlen (q->f.model);
    }
    const size_t nm = sizeof s_reward_marks / sizeof s_reward_marks [0];
    if (s_pick (10) < 3) {
        q->f.has_reward_lo = true;
        q->f.reward_lo = s_pick (2) ? s_reward_marks [s_pick ((unsigned) nm)] : (double) s_pick (1001) / 1000.0;
    }
    if (s_pick (10) < 3) {
        q->f.has_reward_hi = true;
        q->f.reward_hi = s_pick (2) ? s_reward_marks [s_pick ((unsigned) nm)] : (double) s_pick (1001) / 1000.0;
    }
    u = s_pick (10);
    q->f.success = u < 3 ? 1 : u < 5 ? 0 : TS_SUCCESS_UNKNOWN;
    if (s_pick (10) < 3) {
        /* the smaller runs (and one of no record): a forced collect of a
         * run reads all its records on every page (test_plans covers the
         * big run's walk) */
        static const char *runs [] = { "r2", "r3", "r9" };
        q->f.run = runs [s_pick (3)];
        q->f.run_len = 2;
    }
    if (s_pick (4) == 0) {
        q->f.has_from = true;
        q->f.from_ms = S_BASE_MS + (int64_t) s_pick (500) * 1000 - (s_pick (2) ? 0 : 1);
    }
    if (s_pick (4) == 0) {
        q->f.has_to = true;
        q->f.to_ms = S_BASE_MS + (int64_t) s_pick (500) * 1000 + (s_pick (2) ? 0 : 1);
    }
}

static int
s_count_emit (void *arg, const ts_summary_t *s, const char *sum, size_t sum_len,
              const char *rec, size_t rec_len)
{
    (void) s; (void) sum; (void) sum_len; (void) rec; (void) rec_len;
    (*(unsigned *) arg)++;
    return 0;
}

/*  Halfway through loading store st: a random filter's count and list
 *  over it equal the loaded records' (entries waiting or not), and the
 *  checker finds what waits exactly what the records call for. */
static void
s_mid_load_check (uint32_t st, const bool *loaded)
{
    s_filt_t q;
    s_filt_random (&q);
    uint64_t want = 0, count = 0, want_listed = 0;
    unsigned listed = 0;
    ts_sort_t sort;
    memset (&sort, 0, sizeof sort);
    sort.order = (ts_order_t) s_pick (3);
    sort.desc = s_pick (2);
    for (size_t i = 0; i < s_env->nrecs; i++)
        if (loaded [i] && s_match (&q.f, &s_env->recs [i])) {
            want++;             /* a list in reward order leaves out records without one */
            want_listed += sort.order != TS_ORDER_REWARD || s_env->recs [i].has_reward;
        }
    bool waited = ts_store_pending_ids (s_env->stores [st]) > 0;
    /* a group's totals hold its loaded records, waiting ones included */
    const s_rec_t *pick = &s_env->recs [s_pick ((unsigned) s_env->nrecs)];
    if (pick->has_group) {
        uint64_t in_group = 0;
        for (size_t i = 0; i < s_env->nrecs; i++)
            in_group += loaded [i] && s_env->recs [i].has_group
                     && s_env->recs [i].group_len == pick->group_len
                     && !memcmp (s_env->recs [i].group, pick->group, pick->group_len);
        ts_totals_t t;
        int rc = ts_store_group_totals (s_env->stores [st], pick->group, pick->group_len, &t);
        assert_true (rc == 0 || rc == TS_ENOTFOUND);
        if (t.count != in_group)
            fail_msg ("seed %" PRIu64 ": store %u mid-load: group %.*s totals %" PRIu64
                      ", loaded %" PRIu64, s_env->seed, st, (int) pick->group_len, pick->group,
                      t.count, in_group);
    }
    assert_int_equal (ts_query_count (&s_env->stores [st], 1, &q.f, &count), 0);
    if (count != want)
        fail_msg ("seed %" PRIu64 ": store %u mid-load: count %" PRIu64 ", oracle %" PRIu64,
                  s_env->seed, st, count, want);
    bool more = true;
    assert_int_equal (ts_query_list (&s_env->stores [st], 1, &q.f, &sort, TS_QUERY_MAX_LIMIT,
                                     false, s_count_emit, &listed, &more), 0);
    if (listed != want_listed || more)
        fail_msg ("seed %" PRIu64 ": store %u mid-load (%s waiting): listed %u"
                  ", oracle %" PRIu64, s_env->seed, st, waited ? "entries" : "nothing",
                  listed, want_listed);
    if (s_pick (3) == 0) {
        ts_check_report_t rep;
        int rc = ts_check_store (s_env->stores [st], &rep);
        if (rc)
            fail_msg ("store %u mid-load: check %d: %s", st, rc, rep.first_problem);
    }
}

/* --- tests ---------------------------------------------------------------- */

/*  Random filters against the oracle: every order, both directions, every
 *  limit, paged to the end (the small limits for their first pages, then
 *  from arbitrary cursors), under the chosen plan and each forced one. */
static void
test_random_filters (void **state)
{
    (void) state;
    static const uint32_t limits [4] = { 1, 7, 100, 10000 };
    static const size_t caps [4] = { 12, 70, SIZE_MAX, SIZE_MAX };
    unsigned nfilters = 120;
    for (unsigned i = 0; i < nfilters; i++) {
        s_filt_t q;
        s_filt_random (&q);
        const ts_filter_t *f = &q.f;
        uint64_t count;
        assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, f, &count), 0);
        if (count != s_oracle_count (f))
            fail_msg ("seed %" PRIu64 ": filter %u: count %" PRIu64 ", oracle %" PRIu64,
                      s_env->seed, i, count, s_oracle_count (f));
        for (int order = 0; order < 3; order++)
            for (int desc = 0; desc < 2; desc++) {
                for (int l = 0; l < 4; l++)
                    s_check_pages (f, (ts_order_t) order, desc, limits [l], (i + (unsigned) l) % 3 == 0,
                                   caps [l], TS_PLAN_AUTO);
                if (f->ngroups || f->model) {
                    s_check_pages (f, (ts_order_t) order, desc, 7, i % 2, 70, TS_PLAN_WALK);
                    s_check_pages (f, (ts_order_t) order, desc, 100, false, SIZE_MAX, TS_PLAN_WALK);
                    s_check_pages (f, (ts_order_t) order, desc, 7, i % 2, 70, TS_PLAN_COLLECT);
                    s_check_pages (f, (ts_order_t) order, desc, 100, false, SIZE_MAX, TS_PLAN_COLLECT);
                }
                for (int k = 0; k < 3; k++)
                    s_check_from_rec (f, (ts_order_t) order, desc, 7,
                                      &s_env->recs [s_pick ((unsigned) s_env->nrecs)]);
            }
    }
    /* the totals chose each plan somewhere */
    assert_true (s_env->auto_plans [TS_PLAN_WALK] > 0);
    assert_true (s_env->auto_plans [TS_PLAN_COLLECT] > 0);
}

/*  The filters of each kind alone, and the unfiltered list, fully paged. */
static void
test_simple_filters (void **state)
{
    (void) state;
    const char *g [2] = { "g7", "a" };
    uint32_t gl [2] = { 2, 1 };
    for (int kind = 0; kind < 8; kind++) {
        ts_filter_t f;
        ts_filter_init (&f);
        switch (kind) {
        case 1: f.ngroups = 1; f.groups = g; f.group_lens = gl; break;
        case 2: f.model = "m3"; f.model_len = 2; break;
        case 3: f.has_reward_lo = true; f.reward_lo = 0.25; f.has_reward_hi = true; f.reward_hi = 0.5; break;
        case 4: f.success = 0; break;
        case 5: f.has_from = true; f.from_ms = S_BASE_MS + 100000; f.has_to = true; f.to_ms = S_BASE_MS + 200000; break;
        case 6: f.ngroups = 2; f.groups = g; f.group_lens = gl; f.success = 1; break;
        case 7: f.has_reward_hi = true; f.reward_hi = 0; break;    /* -0.0, 0 and below */
        default: break;
        }
        uint64_t count;
        assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
        assert_int_equal (count, s_oracle_count (&f));
        for (int order = 0; order < 3; order++)
            for (int desc = 0; desc < 2; desc++) {
                s_check_pages (&f, (ts_order_t) order, desc, 100, kind == 1, SIZE_MAX, TS_PLAN_AUTO);
                s_check_pages (&f, (ts_order_t) order, desc, 10000, false, SIZE_MAX, TS_PLAN_AUTO);
                s_check_pages (&f, (ts_order_t) order, desc, 3, false, 30, TS_PLAN_AUTO);
            }
    }
}

/*  "The 100 newest" over 4 stores reads 100 entries and one more per store
 *  (the merge's heads), on the first page and deep in the list; so do the
 *  other orders and a range start. */
static void
test_reads (void **state)
{
    (void) state;
    ts_filter_t f;
    ts_filter_init (&f);
    for (int order = 0; order < 3; order++)
        for (int desc = 0; desc < 2; desc++) {
            size_t n;
            const s_rec_t **want = s_oracle (&f, (ts_order_t) order, desc, &n);
            for (int deep = 0; deep < 2; deep++) {
                s_page_t p = { .want = want, .nwant = n };
                ts_sort_t sort = { .order = (ts_order_t) order, .desc = desc };
                if (deep) {
                    s_sort_from_rec (&sort, want [999]);
                    p.want = want + 1000;
                    p.nwant = n - 1000;
                }
                bool more;
                assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &f, &sort, 100, false,
                                                 s_page_emit, &p, &more), 0);
                assert_int_equal (p.got, 100);
                assert_true (more);
                assert_int_equal (ts_query_last_plan (), TS_PLAN_WALK);
                if (ts_query_last_reads () > 100 + 2 * S_NSTORES)
                    fail_msg ("order %d desc %d deep %d: %" PRIu64 " entries read for 100 items",
                              order, desc, deep, ts_query_last_reads ());
            }
            free (want);
        }
    /* a range start: created order from a bound, reward order from a bound */
    ts_filter_t r;
    ts_filter_init (&r);
    r.has_from = true;
    r.from_ms = S_BASE_MS + 250000;
    r.has_reward_hi = true;
    r.reward_hi = 0.6;
    for (int order = 0; order < 2; order++) {
        ts_filter_t one = r;
        if (order == TS_ORDER_CREATED)
            one.has_reward_hi = false;
        else
            one.has_from = false;
        size_t n;
        const s_rec_t **want = s_oracle (&one, (ts_order_t) order, order == TS_ORDER_REWARD, &n);
        s_page_t p = { .want = want, .nwant = n };
        ts_sort_t sort = { .order = (ts_order_t) order, .desc = order == TS_ORDER_REWARD };
        bool more;
        assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &one, &sort, 100, false,
                                         s_page_emit, &p, &more), 0);
        assert_int_equal (p.got, 100);
        assert_true (ts_query_last_reads () <= 100 + 2 * S_NSTORES);
        free (want);
    }
}

/*  The totals pick collect for a small group and walk for a big model; a
 *  collect reads no more than the group's entries; counts use the totals
 *  whenever they can. */
static void
test_plans (void **state)
{
    (void) state;
    /* one group: collect, reading only its entries */
    const char *g [1] = { "g42" };
    uint32_t gl [1] = { 3 };
    ts_filter_t f;
    ts_filter_init (&f);
    f.ngroups = 1;
    f.groups = g;
    f.group_lens = gl;
    uint64_t in_group = s_oracle_count (&f);
    assert_true (in_group > 0);
    s_check_pages (&f, TS_ORDER_CREATED, true, 100, true, SIZE_MAX, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_COLLECT);
    assert_true (ts_query_last_reads () <= in_group);
    /* its totals: the group's in each store, the shard's only where the
     * group is; a group no store holds reads no shard totals at all */
    size_t nw;
    const s_rec_t **w = s_oracle (&f, TS_ORDER_CREATED, true, &nw);
    bool held [S_NSTORES] = { false };
    uint64_t nheld = 0;
    for (size_t i = 0; i < nw; i++)
        if (!held [w [i]->store]) {
            held [w [i]->store] = true;
            nheld++;
        }
    free (w);
    assert_int_equal (ts_query_last_totals_reads (), S_NSTORES + nheld);
    const char *none [1] = { "no-such-group" };
    uint32_t nonel [1] = { 13 };
    f.groups = none;
    f.group_lens = nonel;
    s_check_pages (&f, TS_ORDER_CREATED, true, 100, true, SIZE_MAX, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_totals_reads (), S_NSTORES);
    f.groups = g;
    f.group_lens = gl;

    /* the biggest model with a small limit: walk */
    ts_filter_init (&f);
    f.model = "m0";
    f.model_len = 2;
    s_check_pages (&f, TS_ORDER_CREATED, true, 7, false, 7, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_WALK);
    assert_true (ts_query_last_reads () < 40);
    /* the smallest model with a limit above its size: collect */
    f.model = "m3";
    s_check_pages (&f, TS_ORDER_REWARD, false, 10000, false, SIZE_MAX, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_COLLECT);

    /* a small run (5%): collected from the run index, reading its records
     * only; a count of it from its run index entries, reading no summary;
     * with a success filter, a scan of the run's records alone */
    ts_filter_init (&f);
    f.run = "r3";
    f.run_len = 2;
    uint64_t in_run = s_oracle_count (&f);
    assert_true (in_run > 0 && in_run < S_NRECS / 10);
    s_check_pages (&f, TS_ORDER_CREATED, true, 100, true, SIZE_MAX, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_COLLECT);
    assert_true (ts_query_last_reads () <= in_run);
    uint64_t rc_count;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &rc_count), 0);
    assert_int_equal (rc_count, in_run);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_TOTALS);
    assert_int_equal (ts_query_last_reads (), 0);
    f.success = 1;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &rc_count), 0);
    assert_int_equal (rc_count, s_oracle_count (&f));
    assert_int_equal (ts_query_last_plan (), TS_PLAN_SCAN);
    assert_true (ts_query_last_reads () <= in_run);
    /* the biggest run (60%) with a small limit: walk */
    ts_filter_init (&f);
    f.run = "r0";
    f.run_len = 2;
    s_check_pages (&f, TS_ORDER_CREATED, true, 7, false, 7, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_WALK);
    assert_true (ts_query_last_reads () < 40);
    /* in reward order: its size is counted only until it cannot be
     * collected (sqrt ((limit + 1) records / 4) entries), not to its end;
     * the first store, a sample, is over its share of that already */
    uint64_t in_r0 = s_oracle_count (&f);
    s_check_pages (&f, TS_ORDER_REWARD, true, 7, false, 7, TS_PLAN_AUTO);
    assert_int_equal (ts_query_last_plan (), TS_PLAN_WALK);
    assert_true (ts_query_last_reads () < 40);
    assert_true (ts_query_last_run_keys () > 0);
    assert_true (ts_query_last_run_keys () <= (uint64_t) sqrt (8.0 * S_NRECS / 4) + 2);
    assert_true (ts_query_last_run_keys () < in_r0 / 4);
    assert_true (ts_query_last_run_keys ()
                 <= ((uint64_t) sqrt (8.0 * S_NRECS / 4) + 1) * 3 / (2 * S_NSTORES) + 2);
    /* a count of it (with a filter the totals cannot answer) stops as soon */
    f.success = 1;
    ts_filter_t fg = f;
    fg.ngroups = 1;
    fg.groups = g;
    fg.group_lens = gl;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &fg, &rc_count), 0);
    assert_int_equal (rc_count, s_oracle_count (&fg));
    assert_true (ts_query_last_run_keys () <= in_group / 4 + 2);

    /* counts: from the totals, reading no entry */
    const char *g3 [3] = { "g1", "g10", "g100" };
    uint32_t gl3 [3] = { 2, 3, 4 };
    for (int kind = 0; kind < 5; kind++) {
        ts_filter_init (&f);
        if (kind == 1) { f.ngroups = 3; f.groups = g3; f.group_lens = gl3; }
        if (kind == 2) { f.model = "m1"; f.model_len = 2; }
        if (kind == 3) { f.model = "m2"; f.model_len = 2; f.success = 0; }
        if (kind == 4) { f.ngroups = 3; f.groups = g3; f.group_lens = gl3; f.success = 1; }
        uint64_t count;
        assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
        assert_int_equal (count, s_oracle_count (&f));
        assert_int_equal (ts_query_last_plan (), TS_PLAN_TOTALS);
        assert_int_equal (ts_query_last_reads (), 0);
    }
    /* counts that scan: the group's entries, not more */
    ts_filter_init (&f);
    f.ngroups = 1;
    f.groups = g;
    f.group_lens = gl;
    f.model = "m0";
    f.model_len = 2;
    uint64_t count;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
    assert_int_equal (count, s_oracle_count (&f));
    assert_int_equal (ts_query_last_plan (), TS_PLAN_SCAN);
    assert_true (ts_query_last_reads () <= in_group);
    ts_filter_init (&f);
    f.has_reward_lo = true;
    f.reward_lo = 1.5;                  /* only the 2.5s: a few entries of W */
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
    assert_int_equal (count, s_oracle_count (&f));
    assert_int_equal (ts_query_last_plan (), TS_PLAN_SCAN);
    assert_true (ts_query_last_reads () <= count);
}


/*  Argument checks, NULL stores, emit stopping or failing, limit 0,
 *  repeated and unknown groups, names that only differ after a NUL. */
static void
test_edges (void **state)
{
    (void) state;
    ts_filter_t f;
    ts_sort_t sort = { .order = TS_ORDER_CREATED };
    bool more;
    unsigned n = 0;
    ts_filter_init (&f);
    assert_int_equal (f.success, -1);
    assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &f, &sort, TS_QUERY_MAX_LIMIT + 1,
                                     false, s_count_emit, &n, &more), TS_EINVAL);
    sort.order = (ts_order_t) 7;
    assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &f, &sort, 1, false, s_count_emit,
                                     &n, &more), TS_EINVAL);
    sort.order = TS_ORDER_ID;
    f.success = 2;
    assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &f, &sort, 1, false, s_count_emit,
                                     &n, &more), TS_EINVAL);
    uint64_t count;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), TS_EINVAL);
    ts_filter_init (&f);
    f.has_reward_lo = true;
    f.reward_lo = NAN;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), TS_EINVAL);
    ts_filter_init (&f);
    f.ngroups = TS_QUERY_MAX_GROUPS + 1;
    const char *many [TS_QUERY_MAX_GROUPS + 1];
    uint32_t many_lens [TS_QUERY_MAX_GROUPS + 1];
    for (int i = 0; i <= TS_QUERY_MAX_GROUPS; i++) {
        many [i] = "g1";
        many_lens [i] = 2;
    }
    f.groups = many;
    f.group_lens = many_lens;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), TS_EINVAL);
    /* the most groups allowed, all the same one: counted once */
    f.ngroups = TS_QUERY_MAX_GROUPS;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
    assert_int_equal (count, s_oracle_count (&f));
    s_check_pages (&f, TS_ORDER_ID, false, 100, false, SIZE_MAX, TS_PLAN_AUTO);
    s_check_pages (&f, TS_ORDER_ID, false, 100, false, SIZE_MAX, TS_PLAN_WALK);

    /* NULL stores are skipped; no stores lists nothing */
    ts_filter_init (&f);
    ts_store_t *gaps [S_NSTORES * 2] = { NULL };
    for (int i = 0; i < S_NSTORES; i++)
        gaps [2 * i + 1] = s_env->stores [i];
    sort = (ts_sort_t) { .order = TS_ORDER_REWARD, .desc = true };
    size_t nwant;
    const s_rec_t **want = s_oracle (&f, TS_ORDER_REWARD, true, &nwant);
    s_page_t p = { .want = want, .nwant = nwant };
    assert_int_equal (ts_query_list (gaps, S_NSTORES * 2, &f, &sort, 50, false, s_page_emit, &p,
                                     &more), 0);
    assert_int_equal (p.got, 50);
    assert_true (more);
    assert_int_equal (ts_query_count (gaps, S_NSTORES * 2, &f, &count), 0);
    assert_int_equal (count, s_env->nrecs);
    free (want);
    n = 0;
    assert_int_equal (ts_query_list (gaps, 0, &f, &sort, 50, false, s_count_emit, &n, &more), 0);
    assert_int_equal (n, 0);
    assert_false (more);
    assert_int_equal (ts_query_count (gaps, 0, &f, &count), 0);
    assert_int_equal (count, 0);

    /* emit stops after 3: more is still told; an error comes back as is */
    for (int plan = TS_PLAN_WALK; plan <= TS_PLAN_COLLECT; plan++) {
        ts_filter_t fm;
        ts_filter_init (&fm);
        fm.model = "m1";
        fm.model_len = 2;
        want = s_oracle (&fm, TS_ORDER_CREATED, false, &nwant);
        p = (s_page_t) { .want = want, .nwant = nwant, .stop_after = 3, .records = true };
        sort = (ts_sort_t) { .order = TS_ORDER_CREATED };
        ts_query_force_plan ((ts_query_plan_t) plan);
        assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &fm, &sort, 10, true, s_page_emit,
                                         &p, &more), 0);
        assert_int_equal (p.got, 3);
        assert_true (more);
        p = (s_page_t) { .want = want, .nwant = nwant, .fail_with = TS_EBUSY };
        assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &fm, &sort, 10, true, s_page_emit,
                                         &p, &more), TS_EBUSY);
        /* limit 0: nothing, but whether there is something */
        n = 0;
        assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &fm, &sort, 0, false, s_count_emit,
                                         &n, &more), 0);
        assert_int_equal (n, 0);
        assert_true (more);
        ts_query_force_plan (TS_PLAN_AUTO);
        free (want);
    }

    /* "a" is not "a\0b", nor a prefix of it in the index */
    const char *ga [1] = { "a\0b" };
    uint32_t gal [1] = { 1 };
    ts_filter_init (&f);
    f.ngroups = 1;
    f.groups = ga;
    f.group_lens = gal;
    for (int len = 1; len <= 3; len += 2) {
        gal [0] = (uint32_t) len;
        assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
        assert_int_equal (count, s_oracle_count (&f));
        assert_true (count > 0);
        s_check_pages (&f, TS_ORDER_ID, true, 100, false, SIZE_MAX, TS_PLAN_COLLECT);
        s_check_pages (&f, TS_ORDER_ID, true, 100, false, SIZE_MAX, TS_PLAN_WALK);
    }
    /* a group or model longer than any stored one matches nothing */
    char longname [600];
    memset (longname, 'x', sizeof longname);
    ga [0] = longname;
    gal [0] = sizeof longname;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
    assert_int_equal (count, 0);
    n = 0;
    assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &f, &sort, 5, false, s_count_emit,
                                     &n, &more), 0);
    assert_int_equal (n, 0);
    assert_false (more);
    ts_filter_init (&f);
    f.model = longname;
    f.model_len = sizeof longname;
    assert_int_equal (ts_query_count (s_env->stores, S_NSTORES, &f, &count), 0);
    assert_int_equal (count, 0);

    /* the reward order ends with the rewarded records */
    ts_filter_init (&f);
    sort = (ts_sort_t) { .order = TS_ORDER_REWARD, .has_cursor = true, .cur_no_reward = true,
                         .cur_id = "q1", .cur_id_len = 2 };
    n = 0;
    assert_int_equal (ts_query_list (s_env->stores, S_NSTORES, &f, &sort, 5, false, s_count_emit,
                                     &n, &more), 0);
    assert_int_equal (n, 0);
    assert_false (more);
}

/*  ts_filter_match on hand-made summaries: the rules of the contract. */
static void
test_filter_match (void **state)
{
    (void) state;
    ts_summary_t s;
    memset (&s, 0, sizeof s);
    s.id = "x";
    s.id_len = 1;
    s.success = TS_SUCCESS_UNKNOWN;
    s.ingested_ms = 500;
    ts_filter_t f;
    ts_filter_init (&f);
    assert_true (ts_filter_match (&f, &s));
    /* no reward fails any reward bound, however wide */
    f.has_reward_lo = true;
    f.reward_lo = -INFINITY;
    assert_false (ts_filter_match (&f, &s));
    s.has_reward = true;
    s.reward = -1e300;
    assert_true (ts_filter_match (&f, &s));
    f.has_reward_hi = true;
    f.reward_hi = -1e300;                               /* bounds are inclusive */
    assert_true (ts_filter_match (&f, &s));
    f.reward_hi = -2e300;
    assert_false (ts_filter_match (&f, &s));
    /* unknown success fails both 0 and 1 */
    ts_filter_init (&f);
    f.success = 0;
    assert_false (ts_filter_match (&f, &s));
    f.success = 1;
    assert_false (ts_filter_match (&f, &s));
    s.success = 1;
    assert_true (ts_filter_match (&f, &s));
    /* created range: the ingest time stands in for a missing created time */
    ts_filter_init (&f);
    f.has_from = true;
    f.from_ms = 500;
    f.has_to = true;
    f.to_ms = 500;
    assert_true (ts_filter_match (&f, &s));
    s.has_created = true;
    s.created_ms = 501;
    assert_false (ts_filter_match (&f, &s));
    /* groups: any of the list, byte for byte; none fails a group filter */
    ts_filter_init (&f);
    const char *gs [2] = { "ab", "a\0" };
    uint32_t gl [2] = { 2, 2 };
    f.ngroups = 2;
    f.groups = gs;
    f.group_lens = gl;
    assert_false (ts_filter_match (&f, &s));
    s.group = "a";
    s.group_len = 1;
    assert_false (ts_filter_match (&f, &s));
    s.group = "a\0";
    s.group_len = 2;
    assert_true (ts_filter_match (&f, &s));
    /* a run: byte for byte; a record of no run (an older store) fails it */
    f.run = "t0";
    f.run_len = 2;
    assert_false (ts_filter_match (&f, &s));
    s.run = "t";
    s.run_len = 1;
    assert_false (ts_filter_match (&f, &s));
    s.run = "t0";
    s.run_len = 2;
    assert_true (ts_filter_match (&f, &s));
    f.model = "m";
    f.model_len = 1;
    assert_false (ts_filter_match (&f, &s));
    s.model = "m";
    s.model_len = 1;
    assert_true (ts_filter_match (&f, &s));
}

/*  ts_sort_cmp and ts_sort_after_cursor agree with the oracle's order on
 *  random pairs, and the order is a total one (antisymmetric, and only a
 *  summary equals itself). */
static void
test_sort (void **state)
{
    (void) state;
    for (int i = 0; i < 20000; i++) {
        const s_rec_t *a = &s_env->recs [s_pick (S_NRECS)];
        const s_rec_t *b = &s_env->recs [s_pick (S_NRECS)];
        ts_summary_t sa, sb;
        s_rec_summary (a, &sa);
        s_rec_summary (b, &sb);
        for (int order = 0; order < 3; order++)
            for (int desc = 0; desc < 2; desc++) {
                ts_sort_t sort = { .order = (ts_order_t) order, .desc = desc };
                int c = ts_sort_cmp (&sort, &sa, &sb);
                int want = s_cmp ((ts_order_t) order, desc, a, b);
                assert_int_equal ((c > 0) - (c < 0), want);
                int r = ts_sort_cmp (&sort, &sb, &sa);
                assert_int_equal ((r > 0) - (r < 0), -want);
                assert_int_equal (c == 0, a == b);
                assert_true (ts_sort_after_cursor (&sort, &sa));     /* no cursor */
                s_sort_from_rec (&sort, b);
                assert_int_equal (ts_sort_after_cursor (&sort, &sa), want > 0);
            }
    }
}

/* --- the pull cursor ------------------------------------------------------ */

typedef struct {
    ts_buf_t keys;
    size_t   n;
} s_keys_t;

static int
s_keys_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) val; (void) vlen;
    s_keys_t *k = arg;
    uint32_t len = (uint32_t) klen;
    assert_int_equal (ts_buf_append (&k->keys, &len, sizeof len), 0);
    assert_int_equal (ts_buf_append (&k->keys, key, klen), 0);
    k->n++;
    return 0;
}

/*  The cursor yields what ts_store_scan visits, for scans of every shape. */
static void
test_store_cursor (void **state)
{
    (void) state;
    char g [TS_KEY_MAX], lo [TS_KEY_MAX], hi [TS_KEY_MAX], mid [TS_KEY_MAX];
    size_t glen = ts_key_group_prefix (g, "g1", 2);
    size_t lolen = ts_key_time (lo, S_BASE_MS + 100000, NULL, 0);
    size_t hilen = ts_key_time (hi, S_BASE_MS + 300000, NULL, 0);
    const s_rec_t *r = &s_env->recs [17];
    size_t midlen = ts_key_time (mid, s_time (r), r->id, r->id_len);
    char t = TS_TAG_TIME, w = TS_TAG_REWARD;
    ts_scan_t scans [] = {
        { .prefix = &t, .prefix_len = 1 },
        { .prefix = &t, .prefix_len = 1, .descending = true },
        { .prefix = &w, .prefix_len = 1, .descending = true },
        { .prefix = g, .prefix_len = glen },
        { .prefix = g, .prefix_len = glen, .descending = true },
        { .prefix = &t, .prefix_len = 1, .from = lo, .from_len = lolen, .to = hi, .to_len = hilen },
        { .prefix = &t, .prefix_len = 1, .from = hi, .from_len = hilen, .to = lo, .to_len = lolen,
          .descending = true },
        { .prefix = &t, .prefix_len = 1, .from = mid, .from_len = midlen, .from_exclusive = true },
        { .prefix = &t, .prefix_len = 1, .from = mid, .from_len = midlen, .from_exclusive = true,
          .descending = true },
        { .prefix = &t, .prefix_len = 1, .from = mid, .from_len = midlen, .descending = true },
        { .prefix = "Gzz", .prefix_len = 3 },
        { .prefix = "Gzz", .prefix_len = 3, .descending = true },
    };
    for (size_t i = 0; i < sizeof scans / sizeof scans [0]; i++)
        for (int st = 0; st < S_NSTORES; st++) {
            s_keys_t want = { { 0 }, 0 };
            assert_int_equal (ts_store_scan (s_env->stores [st], &scans [i], s_keys_visit, &want), 0);
            ts_store_cursor_t *c = ts_store_cursor_new (s_env->stores [st], &scans [i]);
            assert_non_null (c);
            size_t off = 0, n = 0;
            const char *k, *v;
            size_t klen, vlen;
            int rc;
            while ((rc = ts_store_cursor_next (c, &k, &klen, &v, &vlen)) == 0) {
                uint32_t len;
                assert_true (off + sizeof len <= want.keys.size);
                memcpy (&len, want.keys.data + off, sizeof len);
                off += sizeof len;
                assert_int_equal (len, klen);
                assert_memory_equal (want.keys.data + off, k, klen);
                off += klen;
                n++;
            }
            assert_int_equal (rc, TS_ENOTFOUND);
            assert_int_equal (ts_store_cursor_next (c, &k, &klen, &v, &vlen), TS_ENOTFOUND);
            assert_int_equal (n, want.n);
            if (i == 0)
                assert_true (n > 500);
            ts_store_cursor_destroy (&c);
            assert_null (c);
            ts_store_cursor_destroy (&c);
            ts_buf_free (&want.keys);
        }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_filter_match),
        cmocka_unit_test (test_sort),
        cmocka_unit_test (test_store_cursor),
        cmocka_unit_test (test_edges),
        cmocka_unit_test (test_reads),
        cmocka_unit_test (test_plans),
        cmocka_unit_test (test_simple_filters),
        cmocka_unit_test (test_random_filters),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
