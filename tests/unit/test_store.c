/*  test_store.c: unit tests of one shard (ts_store.h) and of its
 *  consistency checker (ts_check.h).
 *
 *  Covers: open / close / reopen, refused paths and the single-owner lock
 *  (in this process and from other processes); batch commits (one batch,
 *  group commits, duplicates inside and across batches, replays, the
 *  all-or-nothing rule for a corrupt batch); reads (get, every index's
 *  ordered scan, cursor paging, bounds, visitor stop and error); totals
 *  against a recount done here from the inputs; the checker on a healthy
 *  store and on stores damaged on purpose through the raw Kyoto Cabinet
 *  API; and a crash test that SIGKILLs a committing child at random moments
 *  and checks that each reopen finds exactly the committed batches.
 *
 *  Batches are built the way the worker builds them: each JSON line goes
 *  through ts_parser_parse (default profile) into a scratch buffer, and the
 *  record form is appended to the batch as one msgpack bin. Each test runs
 *  in its own temporary directory, removed afterwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "ts_check.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_key.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_record.h"
#include "ts_store.h"
#include "ts_totals.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <kclangc.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* 2026-03-14T09:26:53Z: created times are spread after it */
#define S_BASE_MS   INT64_C (1773480413000)
/* ingest times sit far before any created time, so the T index shows both */
#define S_INGEST_MS INT64_C (1600000000000)
#define S_LINE_MAX  768

/*  The test process: a forked child whose cmocka assertion fails would
 *  unwind into its copy of the test runner and go on running tests, so
 *  the teardown ends any process that is not this one. */
static pid_t s_main_pid;

/* --- inputs --------------------------------------------------------------- */

/*  One input record: what the test puts into its JSON line, kept apart so
 *  that every expectation (summaries, orders, totals) is computed from the
 *  inputs, not from what the library returns. */
typedef struct {
    char id [32];
    bool has_group;   char group [16];
    bool has_model;   char model [16];
    bool has_reward;  double reward;
    int  success;                     /* 0, 1, TS_SUCCESS_UNKNOWN */
    bool has_created; int64_t created_ms;
    bool has_steps;   int steps;
    int64_t ingested_ms;
    size_t len;
    char line [S_LINE_MAX];           /* zero bytes after the line: the parser's padding */
} s_rec_t;

static void
s_cat (s_rec_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (r->line + r->len, S_LINE_MAX - TS_PARSE_PADDING - r->len, fmt, ap);
    va_end (ap);
    assert_true (n > 0 && r->len + (size_t) n < S_LINE_MAX - TS_PARSE_PADDING);
    r->len += (size_t) n;
}

/*  Record k: fields vary with k so that some are absent, rewards tie
 *  (41 values over [0, 1], plus a few outside it), created times tie (4
 *  records a value), and a few lines carry numbers and strings that test
 *  the JSON round trip. The line is written in the form ts_mp_to_json
 *  writes back (no spaces, shortest floats), so the two compare equal. */
static void
s_rec_make (s_rec_t *r, const char *id, unsigned k, int64_t ingested_ms)
{
    memset (r, 0, sizeof *r);
    snprintf (r->id, sizeof r->id, "%s", id);
    r->has_group = k % 29 != 0;
    snprintf (r->group, sizeof r->group, "g%02u", k % 13);
    r->has_model = k % 10 != 9;
    snprintf (r->model, sizeof r->model, "m%u", k % 3);
    r->has_reward = k % 11 != 5;
    r->reward = k % 53 == 0 ? -0.5 : k % 59 == 0 ? 1.5 : (double) (k * 7 % 41) / 40.0;
    r->success = k % 3 == 0 ? TS_SUCCESS_UNKNOWN : (int) (k % 3 == 1);
    r->has_created = k % 7 != 3;
    r->created_ms = S_BASE_MS + (int64_t) (k % 250) * 1000 + 589;
    r->has_steps = k % 6 != 1;
    r->steps = (int) (k % 5);
    r->ingested_ms = ingested_ms;

    s_cat (r, "{\"id\":\"%s\"", r->id);
    if (r->has_group)
        s_cat (r, ",\"data_id\":\"%s\"", r->group);
    if (r->has_model)
        s_cat (r, ",\"model\":\"%s\"", r->model);
    if (r->has_reward) {
        char num [40];
        ts_format_double (r->reward, num);
        s_cat (r, ",\"reward\":%s", num);
    }
    if (r->success != TS_SUCCESS_UNKNOWN)
        s_cat (r, ",\"is_success\":%s", r->success ? "true" : "false");
    if (r->has_created) {
        time_t sec = (time_t) (r->created_ms / 1000);
        struct tm tm;
        char when [40];
        gmtime_r (&sec, &tm);
        strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        s_cat (r, ",\"created_at\":\"%s.%03dZ\"", when, (int) (r->created_ms % 1000));
    }
    if (r->has_steps) {
        s_cat (r, ",\"trajectory\":[");
        for (int i = 0; i < r->steps; i++)
            s_cat (r, "%s{\"role\":\"%s\",\"n\":%d}", i ? "," : "", i % 2 ? "assistant" : "user", i);
        s_cat (r, "]");
    }
    if (k % 17 == 0)
        s_cat (r, ",\"big\":18446744073709551615,\"neg\":-42,\"tiny\":1e-07,"
                  "\"meta\":{\"a\":[1,[2,[3,{}]]],\"b\":null,\"c\":false}");
    if (k % 19 == 0)
        s_cat (r, ",\"note\":\"line\\nbreak \\\"q\\\" \\\\ \xc3\xa9\\u0001\"");
    s_cat (r, ",\"k\":%u}", k);
}

/*  n records "<prefix><k>" for k in [first, first + n). */
static s_rec_t *
s_recs_make (const char *prefix, unsigned first, size_t n)
{
    s_rec_t *recs = calloc (n, sizeof *recs);
    assert_non_null (recs);
    for (size_t i = 0; i < n; i++) {
        unsigned k = first + (unsigned) i;
        char id [32];
        snprintf (id, sizeof id, "%s%05u", prefix, k);
        s_rec_make (&recs [i], id, k, S_INGEST_MS + k);
    }
    return recs;
}

/* --- environment: a temp dir, a parser, a store --------------------------- */

typedef struct {
    char dir [PATH_MAX / 2];
    char path [PATH_MAX];
    ts_parser_t *parser;
    ts_store_t *store;
    ts_buf_t form;          /* scratch: one record form at a time */
    bool plain;             /* s_open: records stored as they are (the
                               tests that read the records file raw) */
} s_env_t;

static void
s_open (s_env_t *env)
{
    int err = 0;
    char emsg [512] = "";
    env->store = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
    if (!env->store)
        fail_msg ("ts_store_open %s: %d %s", env->path, err, emsg);
    assert_int_equal (err, 0);
    if (env->plain)
        ts_store_set_compress (env->store, TS_COMPRESS_NONE);
}

static void
s_close (s_env_t *env)
{
    ts_store_destroy (&env->store);
    assert_null (env->store);
}

static int
s_setup (void **state)
{
    s_env_t *env = calloc (1, sizeof *env);
    if (!env)
        return -1;
    const char *tmp = getenv ("TMPDIR");
    snprintf (env->dir, sizeof env->dir, "%s/test_store_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (env->dir)) {
        free (env);
        return -1;
    }
    snprintf (env->path, sizeof env->path, "%s/shard.kct", env->dir);
    ts_profile_t prof;
    char perr [128];
    if (ts_profile_parse ("default", &prof, perr, sizeof perr)
    ||  !(env->parser = ts_parser_new (&prof))) {
        tu_rmtree (env->dir);
        free (env);
        return -1;
    }
    *state = env;
    return 0;
}

static int
s_teardown (void **state)
{
    s_env_t *env = *state;
    if (getpid () != s_main_pid)
        _exit (99);
    ts_store_destroy (&env->store);
    ts_parser_destroy (&env->parser);
    ts_buf_free (&env->form);
    tu_rmtree (env->dir);
    free (env);
    return 0;
}

/* --- batches -------------------------------------------------------------- */

typedef struct {
    ts_buf_t   records;
    ts_batch_t batch;
} s_batch_t;

static int
s_buf_write (void *data, const char *buf, size_t len)
{
    return ts_buf_append ((ts_buf_t *) data, buf, len) ? -1 : 0;
}

/*  Parses one record's line into env->form (the record form). */
static void
s_parse (s_env_t *env, const s_rec_t *r)
{
    ts_summary_t s;
    char reason [256] = "";
    env->form.size = 0;
    int rc = ts_parser_parse (env->parser, r->line, r->len, 1, r->ingested_ms, &env->form, &s,
                              reason, sizeof reason);
    if (rc)
        fail_msg ("parse %s: %d %s", r->line, rc, reason);
    /* the parser read what the line says: the inputs and the store agree */
    assert_int_equal (s.id_len, strlen (r->id));
    assert_memory_equal (s.id, r->id, s.id_len);
}

/*  Appends one record form, as a msgpack bin, to a batch's records. */
static void
s_append_bin (ts_buf_t *records, const char *form, size_t len)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, records, s_buf_write);
    assert_int_equal (msgpack_pack_bin (&pk, len), 0);
    assert_int_equal (msgpack_pack_bin_body (&pk, form, len), 0);
}

/*  Builds the batch (job, chunk) of records recs[0..n). */
static void
s_batch_build (s_env_t *env, s_batch_t *b, const char *job, uint64_t chunk,
               const s_rec_t *recs, size_t n)
{
    memset (b, 0, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        s_parse (env, &recs [i]);
        s_append_bin (&b->records, env->form.data, env->form.size);
    }
    b->batch.job = job;
    b->batch.job_len = strlen (job);
    b->batch.chunk = chunk;
    b->batch.records = b->records.data;
    b->batch.records_len = b->records.size;
    b->batch.nrecords = (uint32_t) n;
}

static void
s_batch_free (s_batch_t *b)
{
    ts_buf_free (&b->records);
}

/*  Commits batches bs[0..n) in one call; returns the call's code. */
static int
s_put (s_env_t *env, s_batch_t *bs, size_t n, ts_batch_result_t *results)
{
    ts_batch_t batches [16];
    assert_true (n <= 16);
    for (size_t i = 0; i < n; i++)
        batches [i] = bs [i].batch;
    return ts_store_put_batches (env->store, batches, n, results);
}

/*  Loads recs[0..n) as batches of `per_batch` records (job, chunks 0, 1,
 *  ...), `per_call` batches a call, asserting every record is imported.
 *  Returns the number of batches. */
static size_t
s_load (s_env_t *env, const char *job, const s_rec_t *recs, size_t n, size_t per_batch,
        size_t per_call)
{
    size_t nb = (n + per_batch - 1) / per_batch;
    for (size_t first = 0; first < nb; first += per_call) {
        s_batch_t bs [16];
        ts_batch_result_t res [16];
        size_t nc = nb - first < per_call ? nb - first : per_call;
        for (size_t i = 0; i < nc; i++) {
            size_t lo = (first + i) * per_batch;
            size_t cnt = n - lo < per_batch ? n - lo : per_batch;
            s_batch_build (env, &bs [i], job, first + i, recs + lo, cnt);
        }
        int rc = s_put (env, bs, nc, res);
        if (rc)
            fail_msg ("put_batches: %d %s", rc, ts_store_errmsg (env->store));
        for (size_t i = 0; i < nc; i++) {
            assert_int_equal (res [i].imported, bs [i].batch.nrecords);
            assert_int_equal (res [i].duplicates, 0);
            assert_false (res [i].replayed);
            s_batch_free (&bs [i]);
        }
    }
    return nb;
}

/* --- expectations computed from the inputs -------------------------------- */

/*  Totals of the records that `keep` selects, counted here by hand. */
typedef bool (s_keep_fn) (const s_rec_t *r, const char *name);

static bool s_keep_all (const s_rec_t *r, const char *name) { (void) r; (void) name; return true; }
static bool s_keep_group (const s_rec_t *r, const char *g) { return r->has_group && !strcmp (r->group, g); }
static bool s_keep_model (const s_rec_t *r, const char *m) { return r->has_model && !strcmp (r->model, m); }

static void
s_recount (const s_rec_t *recs, size_t n, s_keep_fn *keep, const char *name, ts_totals_t *t)
{
    memset (t, 0, sizeof *t);
    t->reward_min = INFINITY;
    t->reward_max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const s_rec_t *r = &recs [i];
        if (!keep (r, name))
            continue;
        t->count++;
        if (r->success != TS_SUCCESS_UNKNOWN) {
            t->success_known++;
            t->successes += (uint64_t) r->success;
        }
        if (r->has_reward) {
            t->reward_n++;
            t->reward_sum += r->reward;
            t->reward_sq += r->reward * r->reward;
            t->reward_min = fmin (t->reward_min, r->reward);
            t->reward_max = fmax (t->reward_max, r->reward);
            int bin = r->reward < 0 ? 0 : r->reward > 1 ? TS_HIST_BINS + 1
                    : 1 + (r->reward == 1.0 ? TS_HIST_BINS - 1 : (int) (r->reward * TS_HIST_BINS));
            t->hist [bin]++;
        }
        if (r->has_steps) {
            t->steps_n++;
            t->steps_sum += (uint64_t) r->steps;
        }
    }
}

static void
s_assert_totals (const ts_totals_t *got, const ts_totals_t *want)
{
    assert_int_equal (got->count, want->count);
    assert_int_equal (got->successes, want->successes);
    assert_int_equal (got->success_known, want->success_known);
    assert_int_equal (got->reward_n, want->reward_n);
    assert_true (fabs (got->reward_sum - want->reward_sum) <= 1e-9 * fmax (1, fabs (want->reward_sum)));
    assert_true (fabs (got->reward_sq - want->reward_sq) <= 1e-9 * fmax (1, fabs (want->reward_sq)));
    if (want->reward_n) {
        assert_true (got->reward_min == want->reward_min);
        assert_true (got->reward_max == want->reward_max);
    }
    assert_int_equal (got->steps_n, want->steps_n);
    assert_int_equal (got->steps_sum, want->steps_sum);
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        assert_int_equal (got->hist [i], want->hist [i]);
    /* the library's own comparison agrees */
    assert_true (ts_totals_equal (got, want));
}

/* --- scans ---------------------------------------------------------------- */

/*  The keys (and summaries) a scan visited, in order. */
typedef struct {
    ts_buf_t keys;           /* keys back to back */
    size_t  *off, *len;
    size_t   n, cap;
    size_t   limit;          /* 0: no limit; else stop after `limit` keys */
    bool     summaries;      /* values are summaries: check they decode */
    ts_summary_t *sums;      /* when summaries: borrowed from `vals` */
    ts_buf_t vals;
    size_t  *voff;
} s_keys_t;

static void
s_keys_free (s_keys_t *k)
{
    ts_buf_free (&k->keys);
    ts_buf_free (&k->vals);
    free (k->off);
    free (k->len);
    free (k->voff);
    free (k->sums);
    memset (k, 0, sizeof *k);
}

static int
s_collect (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_keys_t *k = arg;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->off = realloc (k->off, k->cap * sizeof *k->off);
        k->len = realloc (k->len, k->cap * sizeof *k->len);
        k->voff = realloc (k->voff, k->cap * sizeof *k->voff);
        assert_non_null (k->off);
        assert_non_null (k->len);
        assert_non_null (k->voff);
    }
    k->off [k->n] = k->keys.size;
    k->len [k->n] = klen;
    k->voff [k->n] = k->vals.size;
    assert_int_equal (ts_buf_append (&k->keys, key, klen), 0);
    assert_int_equal (ts_buf_append (&k->vals, val, vlen), 0);
    k->n++;
    return k->limit && k->n >= k->limit ? 1 : 0;
}

/*  Decodes every collected value as a summary (index entries hold one).
 *  Done after the scan: `vals` moves while it grows. */
static void
s_keys_decode (s_keys_t *k)
{
    k->sums = calloc (k->n ? k->n : 1, sizeof *k->sums);
    assert_non_null (k->sums);
    for (size_t i = 0; i < k->n; i++) {
        size_t end = i + 1 < k->n ? k->voff [i + 1] : k->vals.size;
        size_t used = 0;
        assert_int_equal (ts_summary_unpack_buf (k->vals.data + k->voff [i], end - k->voff [i],
                                                 &k->sums [i], &used), 0);
        assert_int_equal (used, end - k->voff [i]);
    }
}

static const char *
s_key (const s_keys_t *k, size_t i)
{
    return k->keys.data + k->off [i];
}

static void
s_scan (s_env_t *env, const ts_scan_t *sc, s_keys_t *out)
{
    int rc = ts_store_scan (env->store, sc, s_collect, out);
    if (rc)
        fail_msg ("scan: %d %s", rc, ts_store_errmsg (env->store));
}

/*  Scans a whole prefix in one direction. */
static void
s_scan_prefix (s_env_t *env, const char *prefix, size_t plen, bool desc, s_keys_t *out)
{
    memset (out, 0, sizeof *out);
    ts_scan_t sc = { .prefix = prefix, .prefix_len = plen, .descending = desc };
    s_scan (env, &sc, out);
}

/*  Byte order of (a, alen) vs (b, blen), as the B+ tree orders keys. */
static int
s_bytecmp (const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp (a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/*  Every key, strictly increasing (or decreasing). */
static void
s_assert_ordered (const s_keys_t *k, bool desc)
{
    for (size_t i = 1; i < k->n; i++) {
        int c = s_bytecmp (s_key (k, i - 1), k->len [i - 1], s_key (k, i), k->len [i]);
        if (desc ? c <= 0 : c >= 0)
            fail_msg ("keys %zu and %zu out of order", i - 1, i);
    }
}

/*  Two key lists hold the same keys in the same order. */
static void
s_assert_same_keys (const s_keys_t *a, const s_keys_t *b)
{
    assert_int_equal (a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal (a->len [i], b->len [i]);
        assert_memory_equal (s_key (a, i), s_key (b, i), a->len [i]);
    }
}

/*  A whole-store snapshot: every key and value, in order, so "nothing
 *  changed" can be checked byte for byte. */
static void
s_snapshot (s_env_t *env, ts_buf_t *out)
{
    s_keys_t k;
    s_scan_prefix (env, "", 0, false, &k);
    out->size = 0;
    assert_int_equal (ts_buf_append (out, &k.n, sizeof k.n), 0);
    assert_int_equal (ts_buf_append (out, k.keys.data, k.keys.size), 0);
    assert_int_equal (ts_buf_append (out, k.vals.data, k.vals.size), 0);
    for (size_t i = 0; i < k.n; i++)
        assert_int_equal (ts_buf_append (out, &k.len [i], sizeof k.len [i]), 0);
    s_keys_free (&k);
}

static void
s_assert_same_buf (const ts_buf_t *a, const ts_buf_t *b)
{
    assert_int_equal (a->size, b->size);
    assert_memory_equal (a->data, b->data, a->size);
}

/* --- open / close --------------------------------------------------------- */

static void
test_open_reopen_keeps_data (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 40);
    s_open (env);
    assert_int_equal (ts_store_count (env->store), 0);
    assert_string_equal (ts_store_path (env->store), env->path);
    s_load (env, "job-a", recs, 40, 10, 2);
    assert_int_equal (ts_store_count (env->store), 40);
    ts_buf_t before = { 0 }, after = { 0 };
    s_snapshot (env, &before);
    s_close (env);

    s_open (env);
    assert_int_equal (ts_store_count (env->store), 40);
    s_snapshot (env, &after);
    s_assert_same_buf (&before, &after);
    ts_batch_result_t res;
    assert_int_equal (ts_store_batch_result (env->store, "job-a", 5, 3, &res), 0);
    assert_int_equal (res.imported, 10);
    ts_totals_t got, want;
    assert_int_equal (ts_store_totals (env->store, &got), 0);
    s_recount (recs, 40, s_keep_all, NULL, &want);
    s_assert_totals (&got, &want);
    ts_buf_free (&before);
    ts_buf_free (&after);
    free (recs);
}

/*  A file under a shard's name that is not a Kyoto Cabinet B+ tree: refused
 *  with a message that says so, not with whatever errno KC's last system
 *  call left (it said "No such file or directory" of a file that exists),
 *  and left as it was. */
static void
test_open_foreign_file (void **state)
{
    s_env_t *env = *state;
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/foreign.kct", env->dir);
    static const char text [] = "not a Kyoto Cabinet file\n";
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    assert_int_equal (fputs (text, f) >= 0, 1);
    assert_int_equal (fclose (f), 0);
    int err = 0;
    char emsg [512] = "";
    ts_store_t *st = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
    assert_null (st);
    assert_int_equal (err, TS_ECORRUPT);
    if (!strstr (emsg, path) || !strstr (emsg, "not a shard file"))
        fail_msg ("message \"%s\"", emsg);
    struct stat sb;
    assert_int_equal (stat (path, &sb), 0);
    assert_int_equal (sb.st_size, (off_t) strlen (text));
}

static void
test_open_bad_name (void **state)
{
    s_env_t *env = *state;
    static const char *const names [] = { "shard.db", "shard.kch", "kct", "shard.kct.bak", "" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        char path [PATH_MAX] = "";
        if (*names [i])
            snprintf (path, sizeof path, "%s/%s", env->dir, names [i]);
        int err = 0;
        char emsg [512] = "";
        ts_store_t *st = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
        assert_null (st);
        assert_int_equal (err, TS_EINVAL);
        assert_non_null (strstr (emsg, path));
        /* refused before anything touched the disk */
        if (*path)
            assert_int_not_equal (access (path, F_OK), 0);
    }
}

/*  Exit codes of a child that tries to open a shard. */
enum {
    S_CHILD_OPENED = 0, S_CHILD_LOCKED = 1, S_CHILD_OTHER = 2, S_CHILD_LOCKED_MSG = 3,
    S_CHILD_DENIED = 4, S_CHILD_NO_SETUID = 5
};

/*  Tries to open `path` and reports through the exit code. A refusal must
 *  name the path, and a locked file must say so ("another process" when
 *  the lock is another process's fcntl lock). */
static int
s_try_open (const char *path, bool want_other_process)
{
    int err = 0;
    char emsg [512] = "";
    ts_store_t *st = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
    if (st) {
        ts_store_destroy (&st);
        return S_CHILD_OPENED;
    }
    if (err == -EACCES && strstr (emsg, path))
        return S_CHILD_DENIED;
    if (err != TS_ELOCKED)
        return S_CHILD_OTHER;
    if (!strstr (emsg, path) || (want_other_process && !strstr (emsg, "another process")))
        return S_CHILD_LOCKED_MSG;
    return S_CHILD_LOCKED;
}

static int
s_wait_exit (pid_t pid)
{
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    return WEXITSTATUS (status);
}

static void
test_open_unwritable (void **state)
{
    s_env_t *env = *state;
    int err = 0;
    char emsg [512] = "";
    char path [PATH_MAX];

    /* a missing directory: an error naming the path, never a crash */
    snprintf (path, sizeof path, "%s/no/such/dir/shard.kct", env->dir);
    ts_store_t *st = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
    assert_null (st);
    assert_true (err < 0);
    assert_int_not_equal (err, TS_ELOCKED);
    assert_non_null (strstr (emsg, path));

    /* a read-only directory: root bypasses permissions, so only as a user */
    char ro [PATH_MAX / 2 + 8];
    snprintf (ro, sizeof ro, "%s/ro", env->dir);
    assert_int_equal (mkdir (ro, 0700), 0);
    assert_int_equal (chmod (ro, 0500), 0);
    snprintf (path, sizeof path, "%s/shard.kct", ro);
    emsg [0] = 0;
    st = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
    if (geteuid () != 0) {
        assert_null (st);
        assert_int_equal (err, -EACCES);
        assert_non_null (strstr (emsg, path));
    }
    else {
        /* root bypasses permissions: the check runs in a child that drops
         * to nobody, when the system lets it */
        ts_store_destroy (&st);
        snprintf (path, sizeof path, "%s/other.kct", ro);
        assert_int_equal (chmod (env->dir, 0755), 0);
        pid_t pid = fork ();
        assert_true (pid >= 0);
        if (pid == 0) {
            if (setgid (65534) || setuid (65534))
                _exit (S_CHILD_NO_SETUID);
            _exit (s_try_open (path, false));
        }
        int code = s_wait_exit (pid);
        if (code == S_CHILD_NO_SETUID)
            print_message ("running as root and cannot drop to nobody: read-only check skipped\n");
        else
            assert_int_equal (code, S_CHILD_DENIED);
    }
    chmod (ro, 0700);
}

static void
test_open_twice_in_process (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 10);
    s_open (env);
    int err = 0;
    char emsg [512] = "";
    ts_store_t *second = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
    assert_null (second);
    assert_int_equal (err, TS_ELOCKED);
    assert_non_null (strstr (emsg, env->path));
    /* the same file by another name is the same file */
    char alias [PATH_MAX];
    snprintf (alias, sizeof alias, "%s/./shard.kct", env->dir);
    second = ts_store_open (alias, NULL, &err, emsg, sizeof emsg);
    assert_null (second);
    assert_int_equal (err, TS_ELOCKED);
    /* the refused opens did not disturb the first handle */
    s_load (env, "job", recs, 10, 10, 1);
    assert_int_equal (ts_store_count (env->store), 10);
    free (recs);
}

/*  A plain forked child: it shares this process's memory image at the
 *  fork, but not its fcntl lock. */
static int
s_fork_try_open (const char *path)
{
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0)
        _exit (s_try_open (path, false));
    return s_wait_exit (pid);
}

/*  A forked child that execs this test binary: a fresh process with no
 *  state inherited, so only the file lock can refuse it. */
static int
s_exec_try_open (const char *path)
{
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        execl ("/proc/self/exe", "test_store", "--try-open", path, (char *) NULL);
        _exit (S_CHILD_OTHER + 100);
    }
    return s_wait_exit (pid);
}

static void
test_open_locked_by_other_process (void **state)
{
    s_env_t *env = *state;
    s_open (env);
    assert_int_equal (s_fork_try_open (env->path), S_CHILD_LOCKED);
    assert_int_equal (s_exec_try_open (env->path), S_CHILD_LOCKED);
    /* a refused second open inside this process must not drop our lock */
    int err = 0;
    char emsg [256];
    assert_null (ts_store_open (env->path, NULL, &err, emsg, sizeof emsg));
    assert_int_equal (s_exec_try_open (env->path), S_CHILD_LOCKED);
    /* once closed, another process may own it */
    s_close (env);
    assert_int_equal (s_exec_try_open (env->path), S_CHILD_OPENED);
    assert_int_equal (s_fork_try_open (env->path), S_CHILD_OPENED);
    /* and the child's close released it for us again */
    s_open (env);
}

/* --- put_batches ---------------------------------------------------------- */

static void
test_put_one_batch (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 30);
    s_open (env);
    s_batch_t b;
    s_batch_build (env, &b, "job-1", 7, recs, 30);
    ts_batch_result_t res = { .imported = 99, .duplicates = 99, .replayed = true };
    assert_int_equal (s_put (env, &b, 1, &res), 0);
    assert_int_equal (res.imported, 30);
    assert_int_equal (res.duplicates, 0);
    assert_false (res.replayed);
    assert_int_equal (ts_store_count (env->store), 30);
    ts_batch_result_t marker;
    assert_int_equal (ts_store_batch_result (env->store, "job-1", 5, 7, &marker), 0);
    assert_int_equal (marker.imported, 30);
    assert_int_equal (marker.duplicates, 0);
    assert_true (marker.replayed);
    /* markers are per (job, chunk) */
    assert_int_equal (ts_store_batch_result (env->store, "job-1", 5, 6, &marker), TS_ENOTFOUND);
    assert_int_equal (ts_store_batch_result (env->store, "job-2", 5, 7, &marker), TS_ENOTFOUND);
    assert_int_equal (ts_store_batch_result (env->store, "job-", 4, 7, &marker), TS_ENOTFOUND);
    /* an empty call commits nothing and fails nothing */
    assert_int_equal (ts_store_put_batches (env->store, NULL, 0, NULL), 0);
    assert_int_equal (ts_store_count (env->store), 30);
    s_batch_free (&b);
    free (recs);
}

static void
test_put_group_commit (void **state)
{
    s_env_t *env = *state;
    enum { NB = 12 };
    s_rec_t *recs = s_recs_make ("r", 0, 300);
    s_open (env);
    s_batch_t bs [NB];
    ts_batch_result_t res [NB];
    size_t at = 0;
    for (int i = 0; i < NB; i++) {
        size_t n = (size_t) (i * 5) % 37;      /* uneven sizes, one empty batch */
        s_batch_build (env, &bs [i], i % 2 ? "job-odd" : "job-even", (uint64_t) (100 + i), recs + at, n);
        at += n;
    }
    assert_int_equal (s_put (env, bs, NB, res), 0);
    for (int i = 0; i < NB; i++) {
        assert_int_equal (res [i].imported, bs [i].batch.nrecords);
        assert_int_equal (res [i].duplicates, 0);
        assert_false (res [i].replayed);
        ts_batch_result_t m;
        assert_int_equal (ts_store_batch_result (env->store, bs [i].batch.job, bs [i].batch.job_len,
                                                 bs [i].batch.chunk, &m), 0);
        assert_int_equal (m.imported, bs [i].batch.nrecords);
        assert_true (m.replayed);
        s_batch_free (&bs [i]);
    }
    assert_int_equal (ts_store_count (env->store), at);
    ts_totals_t got, want;
    assert_int_equal (ts_store_totals (env->store, &got), 0);
    s_recount (recs, at, s_keep_all, NULL, &want);
    s_assert_totals (&got, &want);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.batches, NB);
    free (recs);
}

static void
test_put_duplicate_in_batch (void **state)
{
    s_env_t *env = *state;
    s_rec_t recs [4];
    s_rec_make (&recs [0], "a", 1, S_INGEST_MS);
    s_rec_make (&recs [1], "b", 2, S_INGEST_MS);
    s_rec_make (&recs [2], "a", 1, S_INGEST_MS);     /* same id, same content */
    s_rec_make (&recs [3], "a", 3, S_INGEST_MS);     /* same id, other content: last, so
                                                        a rewrite would show */
    s_open (env);
    s_batch_t b;
    s_batch_build (env, &b, "job", 0, recs, 4);
    ts_batch_result_t res;
    assert_int_equal (s_put (env, &b, 1, &res), 0);
    assert_int_equal (res.imported, 2);
    assert_int_equal (res.duplicates, 2);
    assert_int_equal (ts_store_count (env->store), 2);
    /* the first "a" is the one kept */
    ts_buf_t got = { 0 };
    assert_int_equal (ts_store_get (env->store, "a", 1, &got), 0);
    s_parse (env, &recs [0]);
    assert_int_equal (got.size, env->form.size);
    assert_memory_equal (got.data, env->form.data, got.size);
    /* totals count each stored record once */
    ts_totals_t tot, want;
    assert_int_equal (ts_store_totals (env->store, &tot), 0);
    s_recount (recs, 2, s_keep_all, NULL, &want);
    s_assert_totals (&tot, &want);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.records, 2);
    ts_buf_free (&got);
    s_batch_free (&b);
}

static void
test_put_duplicate_across_batches (void **state)
{
    s_env_t *env = *state;
    s_rec_t first [3], later [3];
    s_rec_make (&first [0], "x1", 1, S_INGEST_MS);
    s_rec_make (&first [1], "x2", 2, S_INGEST_MS);
    s_rec_make (&first [2], "x3", 4, S_INGEST_MS);
    s_rec_make (&later [0], "x2", 12, S_INGEST_MS + 5);   /* dup: another group, reward */
    s_rec_make (&later [1], "x4", 7, S_INGEST_MS + 5);
    s_rec_make (&later [2], "x1", 1, S_INGEST_MS + 5);    /* dup: same line */
    s_open (env);
    s_batch_t b1, b2;
    s_batch_build (env, &b1, "job-1", 0, first, 3);
    s_batch_build (env, &b2, "job-2", 0, later, 3);
    ts_batch_result_t r1, r2;
    assert_int_equal (s_put (env, &b1, 1, &r1), 0);
    ts_buf_t x2_before = { 0 }, x2_after = { 0 };
    assert_int_equal (ts_store_get (env->store, "x2", 2, &x2_before), 0);
    assert_int_equal (s_put (env, &b2, 1, &r2), 0);
    assert_int_equal (r2.imported, 1);
    assert_int_equal (r2.duplicates, 2);
    assert_false (r2.replayed);
    assert_int_equal (ts_store_count (env->store), 4);
    /* not rewritten: the record and its indexes still those of the first */
    assert_int_equal (ts_store_get (env->store, "x2", 2, &x2_after), 0);
    s_assert_same_buf (&x2_before, &x2_after);
    ts_totals_t got, want;
    s_rec_t kept [4] = { first [0], first [1], first [2], later [1] };
    assert_int_equal (ts_store_totals (env->store, &got), 0);
    s_recount (kept, 4, s_keep_all, NULL, &want);
    s_assert_totals (&got, &want);
    /* groups count only what was written: the duplicate's group (g12)
     * exists only if a kept record has it */
    for (int i = 0; i < 3; i++) {
        const char *g = later [i].group;
        s_recount (kept, 4, s_keep_group, g, &want);
        int rc = ts_store_group_totals (env->store, g, strlen (g), &got);
        if (want.count == 0)
            assert_int_equal (rc, TS_ENOTFOUND);
        else {
            assert_int_equal (rc, 0);
            s_assert_totals (&got, &want);
        }
    }
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    ts_buf_free (&x2_before);
    ts_buf_free (&x2_after);
    s_batch_free (&b1);
    s_batch_free (&b2);
}

static void
test_put_replay (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 120);
    s_rec_t *other = s_recs_make ("o", 500, 40);
    s_open (env);
    s_batch_t bs [3];
    ts_batch_result_t res [3];
    s_batch_build (env, &bs [0], "job", 0, recs, 40);
    s_batch_build (env, &bs [1], "job", 1, recs + 40, 40);
    /* batch 2 repeats 10 ids of batch 0: counts must come back with them */
    memcpy (&other [0], &recs [0], 10 * sizeof *recs);
    s_batch_build (env, &bs [2], "job", 2, other, 40);
    assert_int_equal (s_put (env, bs, 3, res), 0);
    assert_int_equal (res [2].imported, 30);
    assert_int_equal (res [2].duplicates, 10);

    uint64_t count = ts_store_count (env->store);
    ts_totals_t tot_before, tot_after;
    assert_int_equal (ts_store_totals (env->store, &tot_before), 0);
    ts_buf_t before = { 0 }, after = { 0 };
    s_snapshot (env, &before);

    /* each replayed alone, then all together in reverse */
    for (int i = 0; i < 3; i++) {
        ts_batch_result_t r;
        assert_int_equal (s_put (env, &bs [i], 1, &r), 0);
        assert_true (r.replayed);
        assert_int_equal (r.imported, res [i].imported);
        assert_int_equal (r.duplicates, res [i].duplicates);
    }
    s_batch_t rev [3] = { bs [2], bs [1], bs [0] };
    ts_batch_result_t rr [3];
    assert_int_equal (s_put (env, rev, 3, rr), 0);
    for (int i = 0; i < 3; i++) {
        assert_true (rr [i].replayed);
        assert_int_equal (rr [i].imported, res [2 - i].imported);
        assert_int_equal (rr [i].duplicates, res [2 - i].duplicates);
    }
    /* a replay carrying other records (a resent chunk cut differently):
     * the marker decides, nothing of it is written */
    s_batch_t changed;
    s_batch_build (env, &changed, "job", 1, recs + 80, 40);
    ts_batch_result_t again;
    assert_int_equal (s_put (env, &changed, 1, &again), 0);
    assert_true (again.replayed);
    assert_int_equal (again.imported, 40);
    assert_int_equal (ts_store_get (env->store, recs [80].id, strlen (recs [80].id), &after), TS_ENOTFOUND);

    assert_int_equal (ts_store_count (env->store), count);
    assert_int_equal (ts_store_totals (env->store, &tot_after), 0);
    assert_memory_equal (&tot_before, &tot_after, sizeof tot_before);
    s_snapshot (env, &after);
    s_assert_same_buf (&before, &after);

    ts_buf_free (&before);
    ts_buf_free (&after);
    for (int i = 0; i < 3; i++)
        s_batch_free (&bs [i]);
    s_batch_free (&changed);
    free (recs);
    free (other);
}

static void
test_put_replay_in_same_call (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 50);
    s_open (env);
    s_batch_t bs [2];
    s_batch_build (env, &bs [0], "job", 0, recs, 30);
    s_batch_build (env, &bs [1], "job", 1, recs + 30, 20);
    s_batch_t call [4] = { bs [0], bs [1], bs [0], bs [1] };
    ts_batch_result_t res [4];
    assert_int_equal (s_put (env, call, 4, res), 0);
    assert_false (res [0].replayed);
    assert_false (res [1].replayed);
    assert_true (res [2].replayed);
    assert_true (res [3].replayed);
    assert_int_equal (res [0].imported, 30);
    assert_int_equal (res [2].imported, 30);
    assert_int_equal (res [2].duplicates, 0);
    assert_int_equal (res [1].imported, 20);
    assert_int_equal (res [3].imported, 20);
    assert_int_equal (ts_store_count (env->store), 50);
    ts_totals_t got, want;
    assert_int_equal (ts_store_totals (env->store, &got), 0);
    s_recount (recs, 50, s_keep_all, NULL, &want);
    s_assert_totals (&got, &want);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.batches, 2);
    for (int i = 0; i < 2; i++)
        s_batch_free (&bs [i]);
    free (recs);
}

/*  Corrupt variants of a batch's records buffer. */
enum { S_BAD_COUNT, S_BAD_SUMMARY, S_BAD_NOT_BIN, S_BAD_TRUNCATED, S_BAD_EMPTY_ID, S_BAD_KINDS };

static void
s_batch_corrupt (s_env_t *env, s_batch_t *b, int kind, const s_rec_t *recs)
{
    s_batch_build (env, b, "job", 1, recs, 3);
    switch (kind) {
    case S_BAD_COUNT:           /* says more records than it has */
        b->batch.nrecords = 4;
        break;
    case S_BAD_SUMMARY: {       /* a bin whose summary is not a summary */
        static const char junk [] = "\x93\x01\xc0";
        s_append_bin (&b->records, junk, sizeof junk - 1);
        b->batch.nrecords++;
        break;
    }
    case S_BAD_NOT_BIN: {       /* a str where a bin belongs */
        msgpack_packer pk;
        msgpack_packer_init (&pk, &b->records, s_buf_write);
        ts_mp_pack_cstr (&pk, "not a record");
        b->batch.nrecords++;
        break;
    }
    case S_BAD_TRUNCATED:       /* the last record cut short */
        b->records.size -= 5;
        break;
    case S_BAD_EMPTY_ID: {      /* a well-formed summary with an empty id */
        ts_buf_t form = { 0 };
        msgpack_packer pk;
        msgpack_packer_init (&pk, &form, s_buf_write);
        ts_summary_t s = { .id = "", .id_len = 0, .success = TS_SUCCESS_UNKNOWN };
        assert_int_equal (ts_summary_pack (&pk, &s), 0);
        msgpack_pack_map (&pk, 0);
        s_append_bin (&b->records, form.data, form.size);
        b->batch.nrecords++;
        ts_buf_free (&form);
        break;
    }
    }
    b->batch.records = b->records.data;
    b->batch.records_len = b->records.size;
}

static void
test_put_corrupt_all_or_nothing (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 100);
    s_rec_t *fresh = s_recs_make ("f", 0, 100);
    s_open (env);
    /* something stored already: it must survive the failed calls intact */
    s_load (env, "base", recs, 20, 10, 2);
    ts_buf_t before = { 0 }, after = { 0 };
    s_snapshot (env, &before);
    for (int kind = 0; kind < S_BAD_KINDS; kind++) {
        s_batch_t bs [3];
        ts_batch_result_t res [3];
        s_batch_build (env, &bs [0], "job", 0, fresh, 10);           /* good, first */
        s_batch_corrupt (env, &bs [1], kind, fresh + 10);            /* bad */
        s_batch_build (env, &bs [2], "job", 2, fresh + 20, 10);      /* good, after */
        int rc = s_put (env, bs, 3, res);
        if (rc != TS_ECORRUPT)
            fail_msg ("corruption kind %d: put returned %d", kind, rc);
        assert_true (strlen (ts_store_errmsg (env->store)) > 0);
        /* nothing of the call: no records, no markers, no totals */
        ts_batch_result_t m;
        for (uint64_t c = 0; c < 3; c++)
            assert_int_equal (ts_store_batch_result (env->store, "job", 3, c, &m), TS_ENOTFOUND);
        assert_int_equal (ts_store_get (env->store, fresh [0].id, strlen (fresh [0].id), &after),
                          TS_ENOTFOUND);
        assert_int_equal (ts_store_count (env->store), 20);
        s_snapshot (env, &after);
        s_assert_same_buf (&before, &after);
        for (int i = 0; i < 3; i++)
            s_batch_free (&bs [i]);
    }
    /* the store still takes good batches after the failures */
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    s_load (env, "job", fresh, 30, 10, 3);
    assert_int_equal (ts_store_count (env->store), 50);
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    ts_buf_free (&before);
    ts_buf_free (&after);
    free (recs);
    free (fresh);
}

/* --- reads ---------------------------------------------------------------- */

/*  A store of 1000 records in batches of 50, 4 batches a call. */
enum { S_N = 1000 };

static s_rec_t *
s_load_standard (s_env_t *env)
{
    s_rec_t *recs = s_recs_make ("r", 0, S_N);
    s_open (env);
    s_load (env, "job", recs, S_N, 50, 4);
    return recs;
}

static void
test_get (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 60);
    s_open (env);
    s_load (env, "job", recs, 60, 20, 3);
    ts_buf_t got = { 0 }, json = { 0 };
    for (size_t i = 0; i < 60; i++) {
        const s_rec_t *r = &recs [i];
        got.size = 0;
        assert_int_equal (ts_store_get (env->store, r->id, strlen (r->id), &got), 0);
        /* exactly the record form the parser made */
        s_parse (env, r);
        assert_int_equal (got.size, env->form.size);
        assert_memory_equal (got.data, env->form.data, got.size);
        /* summary: what the line says */
        ts_summary_t s;
        const char *obj;
        size_t olen;
        assert_int_equal (ts_record_split (got.data, got.size, &s, &obj, &olen), 0);
        assert_int_equal (s.id_len, strlen (r->id));
        assert_memory_equal (s.id, r->id, s.id_len);
        assert_int_equal (s.group != NULL, r->has_group);
        if (r->has_group) {
            assert_int_equal (s.group_len, strlen (r->group));
            assert_memory_equal (s.group, r->group, s.group_len);
        }
        assert_int_equal (s.model != NULL, r->has_model);
        if (r->has_model) {
            assert_int_equal (s.model_len, strlen (r->model));
            assert_memory_equal (s.model, r->model, s.model_len);
        }
        assert_int_equal (s.has_reward, r->has_reward);
        if (r->has_reward)
            assert_true (s.reward == r->reward);
        assert_int_equal (s.success, r->success);
        assert_int_equal (s.has_created, r->has_created);
        if (r->has_created)
            assert_int_equal (s.created_ms, r->created_ms);
        assert_int_equal (s.has_steps, r->has_steps);
        if (r->has_steps)
            assert_int_equal (s.steps, r->steps);
        assert_int_equal (s.ingested_ms, r->ingested_ms);
        /* object: the input line, byte for byte */
        json.size = 0;
        assert_int_equal (ts_mp_to_json (obj, olen, &json), 0);
        if (json.size != r->len || memcmp (json.data, r->line, r->len))
            fail_msg ("round trip of %s:\n in  %s\n out %.*s", r->id, r->line, (int) json.size, json.data);
    }
    /* missing ids, including a prefix and an extension of stored ones */
    got.size = 0;
    assert_int_equal (ts_store_get (env->store, "r0000", 5, &got), TS_ENOTFOUND);
    assert_int_equal (ts_store_get (env->store, "r000000", 7, &got), TS_ENOTFOUND);
    assert_int_equal (ts_store_get (env->store, "nope", 4, &got), TS_ENOTFOUND);
    assert_int_equal (got.size, 0);
    ts_buf_free (&got);
    ts_buf_free (&json);
    free (recs);
}

/*  The sequence a stored record got: its R entry (8 bytes). */
static uint64_t
s_stored_seq (s_env_t *env, const char *id, size_t id_len)
{
    char key [TS_KEY_MAX];
    ts_buf_t v = { 0 };
    assert_int_equal (ts_store_get_raw (env->store, key, ts_key_record (key, id, id_len), &v), 0);
    assert_int_equal (v.size, 8);
    uint64_t seq = (uint64_t) ts_key_get_i64 (v.data);
    ts_buf_free (&v);
    return seq;
}

/*  Index entries of a named index (G or M) hold exactly the records of
 *  that name, each with its record's summary, under its record's
 *  sequence: in the order the records were stored. */
static void
s_check_named_scan (s_env_t *env, const s_rec_t *recs, bool model)
{
    size_t *order = calloc (S_N, sizeof *order);
    assert_non_null (order);
    for (int desc = 0; desc < 2; desc++) {
        size_t seen = 0;
        for (unsigned g = 0; g < 13; g++) {
            char name [16], prefix [TS_KEY_MAX];
            snprintf (name, sizeof name, model ? "m%u" : "g%02u", g);
            size_t plen = model ? ts_key_model_prefix (prefix, name, strlen (name))
                                : ts_key_group_prefix (prefix, name, strlen (name));
            s_keys_t k;
            s_scan_prefix (env, prefix, plen, desc, &k);
            s_keys_decode (&k);
            s_assert_ordered (&k, desc);
            /* the input records of that name, in the order they were stored */
            size_t want = 0;
            for (size_t i = 0; i < S_N; i++)
                if (model ? s_keep_model (&recs [i], name) : s_keep_group (&recs [i], name))
                    order [want++] = i;
            assert_int_equal (k.n, want);
            uint64_t prev_seq = 0;
            for (size_t i = 0; i < k.n; i++) {
                const ts_summary_t *s = &k.sums [i];
                const char *nm = model ? s->model : s->group;
                assert_non_null (nm);
                assert_int_equal (model ? s->model_len : s->group_len, strlen (name));
                assert_memory_equal (nm, name, strlen (name));
                /* the entries come in the order the records were stored */
                const s_rec_t *r = &recs [order [desc ? k.n - 1 - i : i]];
                assert_int_equal (s->id_len, strlen (r->id));
                assert_memory_equal (s->id, r->id, s->id_len);
                /* the key ends in the record's sequence, rising with the key */
                assert_int_equal (k.len [i], plen + 8);
                uint64_t seq = (uint64_t) ts_key_get_i64 (s_key (&k, i) + plen);
                assert_true (seq == s_stored_seq (env, s->id, s->id_len));
                if (i > 0)
                    assert_true (desc ? seq < prev_seq : seq > prev_seq);
                prev_seq = seq;
            }
            seen += k.n;
            s_keys_free (&k);
        }
        size_t want_all = 0;
        for (size_t i = 0; i < S_N; i++)
            want_all += model ? recs [i].has_model : recs [i].has_group;
        assert_int_equal (seen, want_all);
    }
    free (order);
}

static void
test_scan_group_and_model (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    s_check_named_scan (env, recs, false);
    s_check_named_scan (env, recs, true);
    /* a group whose name is a prefix of others' names stays apart:
     * "g0" is not "g00".."g09" */
    char prefix [TS_KEY_MAX];
    size_t plen = ts_key_group_prefix (prefix, "g0", 2);
    s_keys_t k;
    s_scan_prefix (env, prefix, plen, false, &k);
    assert_int_equal (k.n, 0);
    s_keys_free (&k);
    s_scan_prefix (env, prefix, plen, true, &k);
    assert_int_equal (k.n, 0);
    s_keys_free (&k);
    free (recs);
}

/*  The order of a numeric index: (value, id), ascending. */
/*  The reward index's order: reward, then ingest time, then id. */
static int
s_cmp_reward (const ts_summary_t *a, const ts_summary_t *b)
{
    if (a->reward != b->reward)
        return a->reward < b->reward ? -1 : 1;
    if (a->ingested_ms != b->ingested_ms)
        return a->ingested_ms < b->ingested_ms ? -1 : 1;
    return s_bytecmp (a->id, a->id_len, b->id, b->id_len);
}

static void
test_scan_reward (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    size_t want = 0;
    for (size_t i = 0; i < S_N; i++)
        want += recs [i].has_reward;
    char prefix [1] = { TS_TAG_REWARD };
    for (int desc = 0; desc < 2; desc++) {
        s_keys_t k;
        s_scan_prefix (env, prefix, 1, desc, &k);
        s_keys_decode (&k);
        assert_int_equal (k.n, want);
        bool saw_tie = false;
        for (size_t i = 0; i < k.n; i++) {
            const ts_summary_t *s = &k.sums [i];
            assert_true (s->has_reward);
            /* key: tag, reward, ingest time, id */
            assert_true (ts_key_get_double (s_key (&k, i) + 1) == s->reward);
            assert_int_equal (ts_key_get_i64 (s_key (&k, i) + 9), s->ingested_ms);
            assert_int_equal (k.len [i], 17 + s->id_len);
            assert_memory_equal (s_key (&k, i) + 17, s->id, s->id_len);
            if (i > 0) {
                const ts_summary_t *p = &k.sums [i - 1];
                int c = s_cmp_reward (p, s);
                if (desc ? c <= 0 : c >= 0)
                    fail_msg ("reward order broken at %zu: %.17g %.*s then %.17g %.*s", i,
                              p->reward, (int) p->id_len, p->id, s->reward, (int) s->id_len, s->id);
                saw_tie |= p->reward == s->reward;
            }
        }
        assert_true (saw_tie);          /* the data has ties: ordered by ingest time, id */
        /* the extremes include the out-of-range rewards */
        assert_true (k.sums [0].reward == (desc ? 1.5 : -0.5));
        s_keys_free (&k);
    }
    free (recs);
}

static void
test_scan_time (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    char prefix [1] = { TS_TAG_TIME };
    for (int desc = 0; desc < 2; desc++) {
        s_keys_t k;
        s_scan_prefix (env, prefix, 1, desc, &k);
        s_keys_decode (&k);
        assert_int_equal (k.n, S_N);        /* every record has a time */
        size_t ingest_only = 0;
        for (size_t i = 0; i < k.n; i++) {
            const ts_summary_t *s = &k.sums [i];
            int64_t t = ts_summary_time (s);
            assert_int_equal (ts_key_get_i64 (s_key (&k, i) + 1), t);
            ingest_only += !s->has_created;
            if (i > 0) {
                const ts_summary_t *p = &k.sums [i - 1];
                int64_t pt = ts_summary_time (p);
                int c = pt != t ? (pt < t ? -1 : 1) : s_bytecmp (p->id, p->id_len, s->id, s->id_len);
                if (desc ? c <= 0 : c >= 0)
                    fail_msg ("time order broken at %zu", i);
            }
        }
        size_t want = 0;
        for (size_t i = 0; i < S_N; i++)
            want += !recs [i].has_created;
        assert_int_equal (ingest_only, want);
        s_keys_free (&k);
    }
    free (recs);
}

static void
test_scan_records (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    char prefix [1] = { TS_TAG_RECORD };
    s_keys_t k;
    s_scan_prefix (env, prefix, 1, false, &k);
    assert_int_equal (k.n, S_N);
    s_assert_ordered (&k, false);
    /* recs are made in id order: the scan lists them in that order */
    for (size_t i = 0; i < k.n; i++) {
        assert_int_equal (k.len [i], 1 + strlen (recs [i].id));
        assert_memory_equal (s_key (&k, i) + 1, recs [i].id, k.len [i] - 1);
    }
    s_keys_free (&k);
    s_scan_prefix (env, prefix, 1, true, &k);
    assert_int_equal (k.n, S_N);
    s_assert_ordered (&k, true);
    assert_memory_equal (s_key (&k, 0) + 1, recs [S_N - 1].id, k.len [0] - 1);
    s_keys_free (&k);
    free (recs);
}

/*  Pages through a prefix `page` keys at a time, each page continuing
 *  from the last key of the previous one (exclusive), as a client's
 *  cursor does. */
static void
s_page_through (s_env_t *env, const char *prefix, size_t plen, bool desc, size_t page,
                s_keys_t *out)
{
    memset (out, 0, sizeof *out);
    char from [TS_KEY_MAX];
    size_t from_len = 0;
    bool have_from = false;
    size_t pages = 0;
    for (;;) {
        s_keys_t pg;
        memset (&pg, 0, sizeof pg);
        pg.limit = page;
        ts_scan_t sc = { .prefix = prefix, .prefix_len = plen, .descending = desc,
                         .from = have_from ? from : NULL, .from_len = from_len,
                         .from_exclusive = true };
        s_scan (env, &sc, &pg);
        assert_true (pg.n <= page);
        for (size_t i = 0; i < pg.n; i++)
            s_collect (s_key (&pg, i), pg.len [i], "", 0, out);
        pages++;
        assert_true (pages < 10000);
        if (pg.n < page) {
            s_keys_free (&pg);
            break;
        }
        from_len = pg.len [pg.n - 1];
        memcpy (from, s_key (&pg, pg.n - 1), from_len);
        have_from = true;
        s_keys_free (&pg);
    }
}

static void
test_scan_paging (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    const char tags [] = { TS_TAG_RECORD, TS_TAG_REWARD, TS_TAG_TIME, TS_TAG_GROUP };
    for (size_t t = 0; t < sizeof tags; t++) {
        for (int desc = 0; desc < 2; desc++) {
            s_keys_t full, paged;
            s_scan_prefix (env, &tags [t], 1, desc, &full);
            assert_true (full.n > 900);
            s_page_through (env, &tags [t], 1, desc, 37, &paged);
            s_assert_ordered (&paged, desc);            /* no dups, no backtracking */
            s_assert_same_keys (&paged, &full);         /* no gaps */
            s_keys_free (&full);
            s_keys_free (&paged);
        }
    }
    /* a cursor key that is not stored (deleted since) still continues at
     * the next key in order, inclusive or not */
    char prefix [1] = { TS_TAG_RECORD }, from [TS_KEY_MAX];
    size_t flen = ts_key_record (from, "r00500x", 7);
    for (int desc = 0; desc < 2; desc++) {
        for (int excl = 0; excl < 2; excl++) {
            s_keys_t k;
            memset (&k, 0, sizeof k);
            k.limit = 1;
            ts_scan_t sc = { .prefix = prefix, .prefix_len = 1, .from = from, .from_len = flen,
                             .from_exclusive = excl, .descending = desc };
            s_scan (env, &sc, &k);
            assert_int_equal (k.n, 1);
            assert_memory_equal (s_key (&k, 0) + 1, desc ? "r00500" : "r00501", 6);
            s_keys_free (&k);
        }
    }
    /* inclusive from a stored key starts on it */
    flen = ts_key_record (from, "r00500", 6);
    for (int desc = 0; desc < 2; desc++) {
        s_keys_t k;
        memset (&k, 0, sizeof k);
        k.limit = 2;
        ts_scan_t sc = { .prefix = prefix, .prefix_len = 1, .from = from, .from_len = flen,
                         .descending = desc };
        s_scan (env, &sc, &k);
        assert_int_equal (k.n, 2);
        assert_memory_equal (s_key (&k, 0) + 1, "r00500", 6);
        assert_memory_equal (s_key (&k, 1) + 1, desc ? "r00499" : "r00501", 6);
        s_keys_free (&k);
    }
    free (recs);
}

static void
test_scan_to_bound (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    size_t want = 0;
    for (size_t i = 0; i < S_N; i++)
        want += recs [i].has_reward && recs [i].reward >= 0.2 && recs [i].reward <= 0.3;
    assert_true (want > 0);
    char prefix [1] = { TS_TAG_REWARD }, lo [TS_KEY_MAX], hi [TS_KEY_MAX], past [TS_KEY_MAX];
    size_t lo_len = ts_key_reward (lo, 0.2, 0, NULL, 0);
    size_t hi_len = ts_key_reward (hi, 0.3, 0, NULL, 0);
    /* ascending [0.2, 0.3]: from the first key >= 0.2, to the last <= 0.3
     * (`to` compares its first 9 bytes: every id at 0.3 is in) */
    s_keys_t k;
    memset (&k, 0, sizeof k);
    ts_scan_t up = { .prefix = prefix, .prefix_len = 1, .from = lo, .from_len = lo_len,
                     .to = hi, .to_len = hi_len };
    s_scan (env, &up, &k);
    s_keys_decode (&k);
    assert_int_equal (k.n, want);
    bool saw_lo = false, saw_hi = false;
    for (size_t i = 0; i < k.n; i++) {
        assert_true (k.sums [i].reward >= 0.2 && k.sums [i].reward <= 0.3);
        saw_lo |= k.sums [i].reward == 0.2;
        saw_hi |= k.sums [i].reward == 0.3;
    }
    assert_true (saw_lo && saw_hi);         /* both ends are inclusive */
    s_keys_free (&k);

    /* descending [0.3, 0.2]: from just above 0.3, down to 0.2 */
    size_t past_len = ts_key_reward (past, nextafter (0.3, 1.0), 0, NULL, 0);
    memset (&k, 0, sizeof k);
    ts_scan_t down = { .prefix = prefix, .prefix_len = 1, .from = past, .from_len = past_len,
                       .to = lo, .to_len = lo_len, .descending = true };
    s_scan (env, &down, &k);
    s_keys_decode (&k);
    assert_int_equal (k.n, want);
    s_assert_ordered (&k, true);
    for (size_t i = 0; i < k.n; i++)
        assert_true (k.sums [i].reward >= 0.2 && k.sums [i].reward <= 0.3);
    s_keys_free (&k);

    /* `to` alone, from the start of the prefix: rewards <= 0.0 */
    char zero [TS_KEY_MAX];
    size_t zero_len = ts_key_reward (zero, 0.0, 0, NULL, 0);
    want = 0;
    for (size_t i = 0; i < S_N; i++)
        want += recs [i].has_reward && recs [i].reward <= 0.0;
    memset (&k, 0, sizeof k);
    ts_scan_t low = { .prefix = prefix, .prefix_len = 1, .to = zero, .to_len = zero_len };
    s_scan (env, &low, &k);
    assert_int_equal (k.n, want);
    s_keys_free (&k);
    /* an empty range */
    memset (&k, 0, sizeof k);
    ts_scan_t none = { .prefix = prefix, .prefix_len = 1, .from = hi, .from_len = hi_len,
                       .to = lo, .to_len = lo_len };
    s_scan (env, &none, &k);
    assert_int_equal (k.n, 0);
    s_keys_free (&k);
    free (recs);
}

typedef struct {
    int calls;
    int stop_at;
    int ret;
} s_stopper_t;

static int
s_stopper (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen; (void) val; (void) vlen;
    s_stopper_t *st = arg;
    return ++st->calls == st->stop_at ? st->ret : 0;
}

static void
test_scan_visitor_stop_and_error (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    char prefix [1] = { TS_TAG_RECORD };
    for (int desc = 0; desc < 2; desc++) {
        ts_scan_t sc = { .prefix = prefix, .prefix_len = 1, .descending = desc };
        s_stopper_t st = { .stop_at = 5, .ret = 1 };
        assert_int_equal (ts_store_scan (env->store, &sc, s_stopper, &st), 0);
        assert_int_equal (st.calls, 5);
        st = (s_stopper_t) { .stop_at = 3, .ret = TS_EBADREQ };
        assert_int_equal (ts_store_scan (env->store, &sc, s_stopper, &st), TS_EBADREQ);
        assert_int_equal (st.calls, 3);
        st = (s_stopper_t) { .stop_at = 1, .ret = -ENOSPC };
        assert_int_equal (ts_store_scan (env->store, &sc, s_stopper, &st), -ENOSPC);
        assert_int_equal (st.calls, 1);
        /* a visitor that never stops sees everything */
        st = (s_stopper_t) { .stop_at = -1 };
        assert_int_equal (ts_store_scan (env->store, &sc, s_stopper, &st), 0);
        assert_int_equal (st.calls, S_N);
    }
    free (recs);
}

/*  Puts one record built by hand (a summary and an empty object), for
 *  names the JSON path cannot produce. */
static void
s_put_raw_record (s_env_t *env, const char *id, const char *group, size_t glen,
                  const char *model, size_t mlen, uint64_t chunk)
{
    ts_buf_t form = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &form, s_buf_write);
    ts_summary_t s = { .id = id, .id_len = (uint32_t) strlen (id), .group = group,
                       .group_len = (uint32_t) glen, .model = model, .model_len = (uint32_t) mlen,
                       .has_reward = true, .reward = 0.5, .success = 1, .ingested_ms = S_INGEST_MS };
    assert_int_equal (ts_summary_pack (&pk, &s), 0);
    assert_int_equal (msgpack_pack_map (&pk, 0), 0);
    s_batch_t b;
    memset (&b, 0, sizeof b);
    s_append_bin (&b.records, form.data, form.size);
    b.batch = (ts_batch_t) { .job = "raw", .job_len = 3, .chunk = chunk, .records = b.records.data,
                             .records_len = b.records.size, .nrecords = 1 };
    ts_batch_result_t res;
    assert_int_equal (s_put (env, &b, 1, &res), 0);
    assert_int_equal (res.imported, 1);
    s_batch_free (&b);
    ts_buf_free (&form);
}

static void
test_scan_descending_at_end_of_keyspace (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 30);
    s_open (env);
    s_load (env, "job", recs, 30, 30, 1);
    /* models whose names are all 0xff bytes: their totals keys ("X" ff..)
     * are the last keys of the file, and the prefix "X\xff\xff" has no key
     * just past it */
    s_put_raw_record (env, "z1", "g00", 3, "\xff\xff", 2, 100);
    s_put_raw_record (env, "z2", "g00", 3, "\xff\xff\xff", 3, 101);
    s_put_raw_record (env, "z3", "g00", 3, "\xfe", 1, 102);

    /* 'X' is the last tag: model totals, descending, end at the file's end */
    char x [1] = { TS_TAG_MODEL_TOTALS };
    s_keys_t k;
    s_scan_prefix (env, x, 1, true, &k);
    assert_int_equal (k.n, 6);             /* m0 m1 m2 fe ffff ffffff */
    s_assert_ordered (&k, true);
    assert_memory_equal (s_key (&k, 0), "X\xff\xff\xff", 4);
    assert_memory_equal (s_key (&k, 5), "Xm0", 3);
    s_keys_free (&k);

    s_scan_prefix (env, "X\xff\xff", 3, true, &k);
    assert_int_equal (k.n, 2);
    assert_int_equal (k.len [0], 4);
    assert_int_equal (k.len [1], 3);
    s_keys_free (&k);
    s_scan_prefix (env, "X\xff\xff", 3, false, &k);
    assert_int_equal (k.n, 2);
    assert_int_equal (k.len [0], 3);
    s_keys_free (&k);

    /* the empty prefix: the whole file, descending, is the ascending
     * scan reversed */
    s_keys_t up, down;
    s_scan_prefix (env, "", 0, false, &up);
    s_scan_prefix (env, "", 0, true, &down);
    assert_int_equal (up.n, down.n);
    assert_true (up.n > 33);
    for (size_t i = 0; i < up.n; i++) {
        size_t j = up.n - 1 - i;
        assert_int_equal (up.len [i], down.len [j]);
        assert_memory_equal (s_key (&up, i), s_key (&down, j), up.len [i]);
    }
    s_keys_free (&up);
    s_keys_free (&down);

    /* a prefix whose end key (its last byte + 1) is itself stored: a
     * descending scan of "Qg00" jumps back from "Qg01", a stored key,
     * and must not visit it */
    s_scan_prefix (env, "Qg00", 4, true, &k);
    assert_int_equal (k.n, 1);
    assert_int_equal (k.len [0], 4);
    assert_memory_equal (s_key (&k, 0), "Qg00", 4);
    s_keys_free (&k);
    /* and descending over a model index prefix whose next name is stored */
    char mp [TS_KEY_MAX];
    size_t mplen = ts_key_model_prefix (mp, "\xfe", 1);
    s_scan_prefix (env, mp, mplen, true, &k);
    s_keys_decode (&k);
    assert_int_equal (k.n, 1);
    assert_int_equal (k.len [0], mplen + 8);
    assert_true ((uint64_t) ts_key_get_i64 (s_key (&k, 0) + mplen) == s_stored_seq (env, "z3", 2));
    assert_int_equal (k.sums [0].id_len, 2);
    assert_memory_equal (k.sums [0].id, "z3", 2);
    s_keys_free (&k);

    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.models, 6);
    free (recs);
}

/* --- totals --------------------------------------------------------------- */

static void
test_totals (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    ts_totals_t got, want;
    assert_int_equal (ts_store_totals (env->store, &got), 0);
    s_recount (recs, S_N, s_keep_all, NULL, &want);
    s_assert_totals (&got, &want);
    assert_true (want.hist [0] > 0 && want.hist [TS_HIST_BINS + 1] > 0);  /* outliers present */
    for (unsigned g = 0; g < 13; g++) {
        char name [16];
        snprintf (name, sizeof name, "g%02u", g);
        assert_int_equal (ts_store_group_totals (env->store, name, strlen (name), &got), 0);
        s_recount (recs, S_N, s_keep_group, name, &want);
        assert_true (want.count > 0);
        s_assert_totals (&got, &want);
    }
    for (unsigned m = 0; m < 3; m++) {
        char name [16];
        snprintf (name, sizeof name, "m%u", m);
        assert_int_equal (ts_store_model_totals (env->store, name, strlen (name), &got), 0);
        s_recount (recs, S_N, s_keep_model, name, &want);
        s_assert_totals (&got, &want);
    }
    assert_int_equal (ts_store_group_totals (env->store, "g13", 3, &got), TS_ENOTFOUND);
    assert_int_equal (ts_store_group_totals (env->store, "g0", 2, &got), TS_ENOTFOUND);
    assert_int_equal (ts_store_group_totals (env->store, "", 0, &got), TS_ENOTFOUND);
    assert_int_equal (ts_store_model_totals (env->store, "m3", 2, &got), TS_ENOTFOUND);
    /* survives a reopen */
    s_close (env);
    s_open (env);
    assert_int_equal (ts_store_group_totals (env->store, "g05", 3, &got), 0);
    s_recount (recs, S_N, s_keep_group, "g05", &want);
    s_assert_totals (&got, &want);
    /* an empty store has empty shard totals, not an error */
    s_close (env);
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/empty.kct", env->dir);
    int err;
    char emsg [256];
    ts_store_t *empty = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
    assert_non_null (empty);
    assert_int_equal (ts_store_totals (empty, &got), 0);
    assert_int_equal (got.count, 0);
    assert_int_equal (ts_store_count (empty), 0);
    ts_store_destroy (&empty);
    free (recs);
}

/* --- checker -------------------------------------------------------------- */

static void
test_check_healthy (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_load_standard (env);
    ts_check_report_t rep;
    int rc = ts_check_store (env->store, &rep);
    if (rc)
        fail_msg ("check: %d: %s", rc, rep.first_problem);
    uint64_t entries = 0;
    bool groups [13] = { false }, models [3] = { false };
    for (size_t i = 0; i < S_N; i++) {
        entries += 1u + recs [i].has_group + recs [i].has_model + recs [i].has_reward;
        if (recs [i].has_group)
            groups [atoi (recs [i].group + 1)] = true;
        if (recs [i].has_model)
            models [atoi (recs [i].model + 1)] = true;
    }
    uint64_t ng = 0, nm = 0;
    for (int i = 0; i < 13; i++) ng += groups [i];
    for (int i = 0; i < 3; i++) nm += models [i];
    assert_int_equal (rep.records, S_N);
    assert_int_equal (rep.index_entries, entries);
    assert_int_equal (rep.groups, ng);
    assert_int_equal (rep.models, nm);
    assert_int_equal (rep.batches, S_N / 50);
    assert_int_equal (rep.problems, 0);
    ts_totals_t want;
    s_recount (recs, S_N, s_keep_all, NULL, &want);
    s_assert_totals (&rep.totals, &want);
    free (recs);
}

/*  Kinds of damage done through the raw Kyoto Cabinet API. */
enum {
    S_DMG_DEL_GROUP_ENTRY, S_DMG_DEL_REWARD_ENTRY, S_DMG_ORPHAN_REWARD, S_DMG_ORPHAN_GROUP,
    S_DMG_GROUP_TOTALS, S_DMG_SHARD_TOTALS, S_DMG_MODEL_TOTALS, S_DMG_STRAY_GROUP_TOTALS,
    S_DMG_ENTRY_VALUE, S_DMG_DEL_RECORD, S_DMG_GROUP_OTHER_RECORD, S_DMG_MODEL_NO_RECORD,
    S_DMG_MODEL_OTHER_RECORD, S_DMG_ID_NOT_SEQ, S_DMG_ID_OTHER_RECORD, S_DMG_RECORD_MOVED,
    S_DMG_KINDS
};

/*  What first_problem must mention for each kind. */
static const char *const s_dmg_words [S_DMG_KINDS][2] = {
    [S_DMG_DEL_GROUP_ENTRY]    = { "r00002", "group index" },
    [S_DMG_DEL_REWARD_ENTRY]   = { "r00002", "reward index" },
    [S_DMG_ORPHAN_REWARD]      = { "reward index", "entries" },
    /* its sequence points at no record */
    [S_DMG_ORPHAN_GROUP]       = { "group g03 index entry of ghost", "holds nothing" },
    [S_DMG_GROUP_TOTALS]       = { "group g04", "totals" },
    [S_DMG_SHARD_TOTALS]       = { "shard totals", "recount" },
    [S_DMG_MODEL_TOTALS]       = { "model m1", "totals" },
    [S_DMG_STRAY_GROUP_TOTALS] = { "group totals", "groups have records" },
    [S_DMG_ENTRY_VALUE]        = { "r00002", "time index" },
    /* the record is still stored, but no id points at it any more */
    [S_DMG_DEL_RECORD]         = { "r00002", "not the one its id points at" },
    /* a g02 entry at the sequence (and with the summary) of r00003, of g03 */
    [S_DMG_GROUP_OTHER_RECORD] = { "group index entry of r00003", "filed under another group" },
    /* a second m2 entry of r00002, at a sequence no record has */
    [S_DMG_MODEL_NO_RECORD]    = { "model m2 index entry of r00002", "holds nothing" },
    /* a second m2 entry of r00002, at the sequence of r00003, of m0 */
    [S_DMG_MODEL_OTHER_RECORD] = { "model m2 index entry of r00002", "holds another record" },
    /* r00002's bytes copied to the end of the records file and its D entry
     * pointed there: every record reads right, but the file has a gap */
    [S_DMG_RECORD_MOVED]       = { ".rec: the record of sequence", "not right after" },
    /* r00002's id entry holds 9 bytes, not a sequence */
    [S_DMG_ID_NOT_SEQ]         = { "record entry r00002", "does not hold a sequence" },
    /* r00002's id entry holds the sequence of r00003 */
    [S_DMG_ID_OTHER_RECORD]    = { "record key r00002", "record of id r00003" },
};

static void
s_pack_totals (ts_buf_t *out, const ts_totals_t *t)
{
    msgpack_packer pk;
    out->size = 0;
    msgpack_packer_init (&pk, out, s_buf_write);
    assert_int_equal (ts_totals_pack (&pk, t), 0);
}

/*  Reads, changes and writes back a totals value. */
static void
s_kc_bump_totals (KCDB *db, const char *key, size_t klen, int64_t delta)
{
    size_t vlen;
    char *v = kcdbget (db, key, klen, &vlen);
    assert_non_null (v);
    ts_totals_t t;
    assert_int_equal (ts_totals_unpack (v, vlen, &t, NULL), 0);
    kcfree (v);
    t.count = (uint64_t) ((int64_t) t.count + delta);
    ts_buf_t buf = { 0 };
    s_pack_totals (&buf, &t);
    assert_true (kcdbset (db, key, klen, buf.data, buf.size));
    ts_buf_free (&buf);
}

/*  The records file beside a shard file (.kct -> .rec). */
static void
s_rec_path (const char *path, char *out, size_t size)
{
    size_t n = strlen (path);
    assert_true (n > 4 && n < size);
    snprintf (out, size, "%.*s.rec", (int) (n - 4), path);
}

/*  Is a D value a locator (0xc1, offset, length: the record is in the
 *  records file)? Then where the record is. */
static bool
s_kc_locator (const char *v, size_t vlen, uint64_t *off, size_t *len)
{
    if (vlen != 13 || (unsigned char) v [0] != 0xc1)
        return false;
    *off = (uint64_t) ts_key_get_i64 (v + 1);
    const unsigned char *u = (const unsigned char *) v + 9;
    *len = (size_t) u [0] << 24 | (size_t) u [1] << 16 | (size_t) u [2] << 8 | u [3];
    return true;
}

/*  The record of a D value read with the raw API: the value itself
 *  (layouts 4 and 5), or what its locator names in the records file of
 *  the shard at `path`. free it. */
static char *
s_kc_data (const char *path, const char *v, size_t vlen, size_t *len)
{
    uint64_t off;
    if (!s_kc_locator (v, vlen, &off, len)) {
        char *copy = malloc (vlen);
        assert_non_null (copy);
        memcpy (copy, v, vlen);
        *len = vlen;
        return copy;
    }
    char rp [PATH_MAX];
    s_rec_path (path, rp, sizeof rp);
    int fd = open (rp, O_RDONLY);
    assert_true (fd >= 0);
    char *rec = malloc (*len);
    assert_non_null (rec);
    assert_int_equal (pread (fd, rec, *len, (off_t) off), (ssize_t) *len);
    close (fd);
    return rec;
}

/*  Turns a closed shard into the form of layouts 4 and 5: every record in
 *  its D entry, no records file, no 'L' key. */
static void
s_inline_records (const char *path)
{
    KCDB *db = kcdbnew ();
    assert_non_null (db);
    if (!tu_kc_open (db, path, KCOWRITER))
        fail_msg ("kcdbopen %s: %s", path, kcdbemsg (db));
    KCCUR *cur = kcdbcursor (db);
    char d [1] = { TS_TAG_DATA };
    size_t n = 0;
    bool more = kccurjumpkey (cur, d, 1);
    while (more) {
        size_t klen, vlen, len;
        const char *v;
        char *k = kccurget (cur, &klen, &v, &vlen, false);
        if (!k || k [0] != TS_TAG_DATA) {
            kcfree (k);
            break;
        }
        char *rec = s_kc_data (path, v, vlen, &len);
        assert_true (len != vlen || memcmp (rec, v, len));      /* was a locator */
        kcfree (k);
        more = kccursetvalue (cur, rec, len, true);
        free (rec);
        n++;
    }
    kccurdel (cur);
    assert_true (n > 0);
    assert_true (kcdbremove (db, "L", 1));
    assert_true (kcdbclose (db));
    kcdbdel (db);
    char rp [PATH_MAX];
    s_rec_path (path, rp, sizeof rp);
    assert_int_equal (unlink (rp), 0);
}

/*  The summary (its length in *used) and the sequence of a stored record,
 *  read from its R entry with the raw API. free the summary. */
static char *
s_kc_record (KCDB *db, const char *path, const s_rec_t *r, size_t *used, uint64_t *seq)
{
    char rk [TS_KEY_MAX];
    size_t vlen;
    char *v = kcdbget (db, rk, ts_key_record (rk, r->id, strlen (r->id)), &vlen);
    assert_non_null (v);
    assert_int_equal (vlen, 8);                 /* R holds the sequence */
    *seq = (uint64_t) ts_key_get_i64 (v);
    kcfree (v);
    v = kcdbget (db, rk, ts_key_data (rk, *seq), &vlen);
    assert_non_null (v);                        /* the record: its summary first */
    size_t len;
    char *rec = s_kc_data (path, v, vlen, &len);
    kcfree (v);
    ts_summary_t s;
    assert_int_equal (ts_summary_unpack_buf (rec, len, &s, used), 0);
    assert_true (*used < len);
    return rec;
}

/*  Damages the (closed) store file with the raw API. The record r00002
 *  has group g02, model m2, a reward, and a created time; r00003 has
 *  group g03 and model m0. */
static void
s_damage (const char *path, int kind, const s_rec_t *recs)
{
    KCDB *db = kcdbnew ();
    assert_non_null (db);
    if (!tu_kc_open (db, path, KCOWRITER))
        fail_msg ("kcdbopen %s: %s", path, kcdbemsg (db));
    const s_rec_t *r = &recs [2], *r3 = &recs [3];
    assert_true (r->has_group && r->has_model && r->has_reward && r->has_created);
    assert_true (r3->has_group && strcmp (r3->group, r->group) && r3->has_model
                 && strcmp (r3->model, r->model));
    size_t idl = strlen (r->id), used, used3;
    uint64_t seq, seq3;
    char *sum = s_kc_record (db, path, r, &used, &seq);
    char *sum3 = s_kc_record (db, path, r3, &used3, &seq3);
    char key [TS_KEY_MAX];
    size_t klen;
    ts_buf_t val = { 0 };
    switch (kind) {
    case S_DMG_DEL_GROUP_ENTRY:
        klen = ts_key_group (key, r->group, strlen (r->group), seq);
        assert_true (kcdbremove (db, key, klen));
        break;
    case S_DMG_DEL_REWARD_ENTRY:
        klen = ts_key_reward (key, r->reward, r->ingested_ms, r->id, idl);
        assert_true (kcdbremove (db, key, klen));
        break;
    case S_DMG_ORPHAN_REWARD:
    case S_DMG_ORPHAN_GROUP: {
        /* an entry holding a well-formed summary of a record that is not stored */
        msgpack_packer pk;
        msgpack_packer_init (&pk, &val, s_buf_write);
        ts_summary_t s = { .id = "ghost", .id_len = 5, .group = "g03", .group_len = 3,
                           .has_reward = true, .reward = 0.25, .success = 1,
                           .ingested_ms = S_INGEST_MS };
        assert_int_equal (ts_summary_pack (&pk, &s), 0);
        klen = kind == S_DMG_ORPHAN_REWARD ? ts_key_reward (key, 0.25, S_INGEST_MS, "ghost", 5)
                                           : ts_key_group (key, "g03", 3, 1000000);
        assert_true (kcdbset (db, key, klen, val.data, val.size));
        break;
    }
    case S_DMG_GROUP_TOTALS:
        s_kc_bump_totals (db, key, ts_key_group_totals (key, "g04", 3), 3);
        break;
    case S_DMG_SHARD_TOTALS: {
        char s [1] = { TS_TAG_SHARD_TOTALS };
        s_kc_bump_totals (db, s, 1, -1);
        break;
    }
    case S_DMG_MODEL_TOTALS:
        s_kc_bump_totals (db, key, ts_key_model_totals (key, "m1", 2), 1);
        break;
    case S_DMG_STRAY_GROUP_TOTALS: {
        ts_totals_t t;
        ts_totals_init (&t);
        t.count = 1;
        s_pack_totals (&val, &t);
        klen = ts_key_group_totals (key, "nobody", 6);
        assert_true (kcdbset (db, key, klen, val.data, val.size));
        break;
    }
    case S_DMG_ENTRY_VALUE:
        /* the time entry holds the summary of another record */
        klen = ts_key_time (key, r->created_ms, r->id, idl);
        assert_true (kcdbset (db, key, klen, sum3, used3));
        break;
    case S_DMG_DEL_RECORD:
        klen = ts_key_record (key, r->id, idl);
        assert_true (kcdbremove (db, key, klen));
        break;
    case S_DMG_GROUP_OTHER_RECORD:
        klen = ts_key_group (key, r->group, strlen (r->group), seq3);
        assert_true (kcdbadd (db, key, klen, sum3, used3));
        break;
    case S_DMG_MODEL_NO_RECORD:
    case S_DMG_MODEL_OTHER_RECORD:
        klen = ts_key_model (key, r->model, strlen (r->model),
                             kind == S_DMG_MODEL_NO_RECORD ? 1000000 : seq3);
        assert_true (kcdbadd (db, key, klen, sum, used));
        break;
    case S_DMG_ID_NOT_SEQ:
    case S_DMG_ID_OTHER_RECORD: {
        char v [9] = { 0 };
        ts_key_put_i64 (v, (int64_t) seq3);
        klen = ts_key_record (key, r->id, idl);
        assert_true (kcdbset (db, key, klen, v, kind == S_DMG_ID_NOT_SEQ ? 9 : 8));
        break;
    }
    case S_DMG_RECORD_MOVED: {
        char rk [TS_KEY_MAX], rp [PATH_MAX], loc [16];
        size_t dlen = ts_key_data (rk, seq), len;
        uint64_t off;
        assert_int_equal (kcdbgetbuf (db, rk, dlen, loc, sizeof loc), 13);
        assert_true (s_kc_locator (loc, 13, &off, &len));
        char *rec = s_kc_data (path, loc, 13, &len);
        s_rec_path (path, rp, sizeof rp);
        int fd = open (rp, O_WRONLY | O_APPEND);
        assert_true (fd >= 0);
        off_t end = lseek (fd, 0, SEEK_END);
        assert_int_equal (write (fd, rec, len), (ssize_t) len);
        close (fd);
        free (rec);
        ts_key_put_i64 (loc + 1, (int64_t) end);
        assert_true (kcdbset (db, rk, dlen, loc, 13));
        char lv [8];
        ts_key_put_i64 (lv, (int64_t) end + (int64_t) len);
        assert_true (kcdbset (db, "L", 1, lv, 8));
        break;
    }
    }
    free (sum);
    free (sum3);
    ts_buf_free (&val);
    assert_true (kcdbclose (db));
    kcdbdel (db);
}

static void
test_check_detects_damage (void **state)
{
    s_env_t *env = *state;
    env->plain = true;                  /* s_damage reads and moves records raw */
    s_rec_t *recs = s_recs_make ("r", 0, 200);
    for (int kind = 0; kind < S_DMG_KINDS; kind++) {
        snprintf (env->path, sizeof env->path, "%s/damage%d.kct", env->dir, kind);
        s_open (env);
        s_load (env, "job", recs, 200, 50, 2);
        ts_check_report_t rep;
        assert_int_equal (ts_check_store (env->store, &rep), 0);
        s_close (env);
        s_damage (env->path, kind, recs);
        s_open (env);
        int rc = ts_check_store (env->store, &rep);
        if (rc != TS_EINCONSISTENT)
            fail_msg ("damage %d: check returned %d (%s)", kind, rc, rep.first_problem);
        assert_true (rep.problems >= 1);
        for (int w = 0; w < 2; w++)
            if (!strstr (rep.first_problem, s_dmg_words [kind][w]))
                fail_msg ("damage %d: first problem \"%s\" does not mention \"%s\"", kind,
                          rep.first_problem, s_dmg_words [kind][w]);
        s_close (env);
    }
    free (recs);
}

/*  A shard of another key layout is refused at open with a message that
 *  says what to do, never read as if it were of this one: one written
 *  before layouts were recorded (records, no 'V' key) and one that says
 *  it is of a later layout. A new empty shard opens and gets this layout
 *  with its first commit. */
static void
test_layout_version (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("r", 0, 100);
    for (int kind = 0; kind < 2; kind++) {
        snprintf (env->path, sizeof env->path, "%s/layout%d.kct", env->dir, kind);
        s_open (env);
        s_load (env, "job", recs, 100, 50, 1);
        s_close (env);
        KCDB *db = kcdbnew ();
        assert_non_null (db);
        if (!tu_kc_open (db, env->path, KCOWRITER))
            fail_msg ("kcdbopen %s: %s", env->path, kcdbemsg (db));
        char v [16];
        assert_int_equal (kcdbgetbuf (db, "V", 1, v, sizeof v), 8);
        assert_int_equal (ts_key_get_i64 (v), TS_KEY_LAYOUT);
        if (kind == 0)
            assert_true (kcdbremove (db, "V", 1));
        else {
            ts_key_put_i64 (v, TS_KEY_LAYOUT + 1);
            assert_true (kcdbset (db, "V", 1, v, 8));
        }
        assert_true (kcdbclose (db));
        kcdbdel (db);
        int err = 0;
        char emsg [512];
        ts_store_t *st = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
        assert_null (st);
        assert_int_equal (err, TS_EVERSION);
        char want [32];
        snprintf (want, sizeof want, "key layout %d", kind == 0 ? 1 : TS_KEY_LAYOUT + 1);
        if (!strstr (emsg, want) || !strstr (emsg, "export"))
            fail_msg ("layout %d: message \"%s\"", kind, emsg);
        /* refused without harm: the file is not held, and opens again */
        st = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
        assert_null (st);
        assert_int_equal (err, TS_EVERSION);
    }
    free (recs);
}

/* --- ids waiting for the id index ---------------------------------------- */

/*  Commits batches of `recs` under `job`, one call, and checks each
 *  batch's counts. */
static void
s_put_expect (s_env_t *env, const char *job, const s_rec_t *const *parts, const size_t *lens,
              size_t n, const uint32_t *imported, const uint32_t *duplicates)
{
    s_batch_t bs [4];
    ts_batch_result_t res [4];
    assert_true (n <= 4);
    for (size_t i = 0; i < n; i++)
        s_batch_build (env, &bs [i], job, i, parts [i], lens [i]);
    if (s_put (env, bs, n, res))
        fail_msg ("put_batches: %s", ts_store_errmsg (env->store));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal (res [i].imported, imported [i]);
        assert_int_equal (res [i].duplicates, duplicates [i]);
        s_batch_free (&bs [i]);
    }
}

/*  Every id of recs[lo, hi) gets its own record back. */
static void
s_expect_gets (s_env_t *env, const s_rec_t *recs, size_t lo, size_t hi)
{
    ts_buf_t got = { 0 };
    for (size_t i = lo; i < hi; i++) {
        got.size = 0;
        int rc = ts_store_get (env->store, recs [i].id, strlen (recs [i].id), &got);
        if (rc)
            fail_msg ("get %s: %d %s", recs [i].id, rc, ts_store_errmsg (env->store));
        s_parse (env, &recs [i]);
        assert_int_equal (got.size, env->form.size);
        assert_memory_equal (got.data, env->form.data, got.size);
    }
    ts_buf_free (&got);
}

static int
s_count_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen; (void) val; (void) vlen;
    ++*(size_t *) arg;
    return 0;
}

/*  How many R entries the shard has (a scan over R: the waiting ids go
 *  into R first). */
static size_t
s_count_ids (s_env_t *env)
{
    char prefix [1] = { TS_TAG_RECORD };
    ts_scan_t sc = { .prefix = prefix, .prefix_len = 1 };
    size_t n = 0;
    assert_int_equal (ts_store_scan (env->store, &sc, s_count_visit, &n), 0);
    return n;
}

/*  New ids wait in memory and reach R many commits at a time. While they
 *  wait a get finds them, and a duplicate is one whether its first copy
 *  waits, is in R, or is earlier in the same batch; a commit that leaves
 *  the set number waiting puts them all in R; a scan over R sees every
 *  id; a process that ends without closing leaves them to be read back
 *  from the records at the next open. */
static void
test_ids_wait (void **state)
{
    s_env_t *env = *state;
    enum { N = 300 };
    s_rec_t *recs = s_recs_make ("w", 0, N);
    s_open (env);
    ts_store_set_id_batch (env->store, 120);
    s_load (env, "a", recs, 100, 20, 2);            /* commits of 40, 40, 20 */
    assert_int_equal (ts_store_pending_ids (env->store), 100);
    s_expect_gets (env, recs, 0, 100);
    s_load (env, "b", recs + 100, 100, 20, 2);      /* 140 waiting: a pass */
    assert_int_equal (ts_store_pending_ids (env->store), 60);
    s_expect_gets (env, recs, 0, 200);
    {   /* duplicates of ids in R, of waiting ids, and within a batch */
        s_rec_t twice [2] = { recs [200], recs [200] };
        const s_rec_t *parts [3] = { recs, recs + 150, twice };
        size_t lens [3] = { 10, 10, 2 };
        uint32_t imp [3] = { 0, 0, 1 }, dup [3] = { 10, 10, 1 };
        s_put_expect (env, "c", parts, lens, 3, imp, dup);
    }
    assert_int_equal (ts_store_pending_ids (env->store), 61);
    assert_int_equal (s_count_ids (env), 201);
    assert_int_equal (ts_store_pending_ids (env->store), 0);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.problems, 0);
    ts_store_destroy (&env->store);

    /* a process that ends with ids waiting, not closing its shard */
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        int err;
        char emsg [512];
        if (!(env->store = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg)))
            _exit (10);
        ts_store_set_id_batch (env->store, 1000);
        s_load (env, "d", recs + 201, 99, 20, 1);
        _exit (ts_store_pending_ids (env->store) == 99 ? 0 : 11);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    s_open (env);
    assert_int_equal (ts_store_pending_ids (env->store), 99);      /* read back */
    s_expect_gets (env, recs, 0, N);
    {
        const s_rec_t *parts [2] = { recs + 250, recs + 5 };
        size_t lens [2] = { 3, 3 };
        uint32_t imp [2] = { 0, 0 }, dup [2] = { 3, 3 };
        s_put_expect (env, "e", parts, lens, 2, imp, dup);
    }
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.problems, 0);
    assert_int_equal (s_count_ids (env), N);
    free (recs);
}

/*  Shards of layouts 4 (every id in R, no 'I' key) and 5 ('I'), both
 *  with their records in D, open and are read as they are; records added
 *  go to the records file beside them, both kinds are read, duplicates are
 *  found among both, the check passes, and the shard says layout 6. */
static void
test_layout4_read (void **state)
{
    s_env_t *env = *state;
    env->plain = true;                  /* s_inline_records reads records raw */
    s_rec_t *recs = s_recs_make ("f", 0, 40);
    for (int layout = 4; layout <= 5; layout++) {
        snprintf (env->path, sizeof env->path, "%s/old%d.kct", env->dir, layout);
        s_open (env);
        s_load (env, "a", recs, 30, 10, 1);
        s_close (env);                              /* every id into R */
        s_inline_records (env->path);
        KCDB *db = kcdbnew ();
        assert_non_null (db);
        if (!tu_kc_open (db, env->path, KCOWRITER))
            fail_msg ("kcdbopen %s: %s", env->path, kcdbemsg (db));
        char v [16];
        ts_key_put_i64 (v, layout);
        assert_true (kcdbset (db, "V", 1, v, 8));
        if (layout == 4)
            assert_true (kcdbremove (db, "I", 1));
        assert_true (kcdbclose (db));
        kcdbdel (db);
        s_open (env);
        assert_int_equal (ts_store_pending_ids (env->store), 0);
        s_expect_gets (env, recs, 0, 30);
        {
            const s_rec_t *parts [1] = { recs + 25 };
            size_t lens [1] = { 15 };
            uint32_t imp [1] = { 10 }, dup [1] = { 5 };
            s_put_expect (env, "b", parts, lens, 1, imp, dup);
        }
        s_expect_gets (env, recs, 0, 40);
        ts_check_report_t rep;
        assert_int_equal (ts_check_store (env->store, &rep), 0);
        assert_int_equal (rep.records, 40);
        s_close (env);
        s_open (env);                               /* and again, reopened */
        s_expect_gets (env, recs, 0, 40);
        s_close (env);
        db = kcdbnew ();
        assert_true (tu_kc_open (db, env->path, KCOREADER));
        assert_int_equal (kcdbgetbuf (db, "V", 1, v, sizeof v), 8);
        assert_int_equal (ts_key_get_i64 (v), TS_KEY_LAYOUT);
        assert_true (kcdbclose (db));
        kcdbdel (db);
    }
    free (recs);
}

/*  The size of a file, or -1 when there is none. */
static off_t
s_file_size (const char *path)
{
    struct stat st;
    return stat (path, &st) ? -1 : st.st_size;
}

/*  Records live in the records file beside the shard, which holds
 *  committed records only: a tail past the committed length (a process
 *  that ended between writing its records and its commit) is cut off at
 *  open; a rolled-back commit leaves the file as it was; a file cut short
 *  or lost is refused at open, naming it. */
static void
test_records_file (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("q", 0, 120);
    char rp [PATH_MAX];
    s_rec_path (env->path, rp, sizeof rp);
    s_open (env);
    s_load (env, "a", recs, 60, 20, 1);
    s_close (env);
    off_t committed = s_file_size (rp);
    assert_true (committed > 60 * 100);

    /* a tail no commit names */
    int fd = open (rp, O_WRONLY | O_APPEND);
    assert_true (fd >= 0);
    char junk [5000];
    memset (junk, 0x5a, sizeof junk);
    assert_int_equal (write (fd, junk, sizeof junk), (ssize_t) sizeof junk);
    close (fd);
    s_open (env);
    assert_int_equal (s_file_size (rp), committed);
    s_expect_gets (env, recs, 0, 60);

    /* a call whose second batch does not decode: nothing of it is kept */
    s_batch_t bs [2];
    ts_batch_result_t res [2];
    s_batch_build (env, &bs [0], "b", 0, recs + 60, 10);
    s_batch_build (env, &bs [1], "b", 1, recs + 70, 10);
    bs [1].batch.nrecords++;
    assert_int_equal (s_put (env, bs, 2, res), TS_ECORRUPT);
    assert_int_equal (s_file_size (rp), committed);
    ts_buf_t got = { 0 };
    assert_int_equal (ts_store_get (env->store, recs [60].id, strlen (recs [60].id), &got),
                      TS_ENOTFOUND);
    bs [1].batch.nrecords--;
    assert_int_equal (s_put (env, bs, 2, res), 0);
    assert_int_equal (res [0].imported + res [1].imported, 20);
    s_batch_free (&bs [0]);
    s_batch_free (&bs [1]);
    s_load (env, "c", recs + 80, 40, 20, 2);
    s_expect_gets (env, recs, 0, 120);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.records, 120);
    s_close (env);
    committed = s_file_size (rp);

    /* cut short, then lost */
    for (int lost = 0; lost < 2; lost++) {
        if (lost)
            assert_int_equal (unlink (rp), 0);
        else
            assert_int_equal (truncate (rp, committed - 1), 0);
        int err = 0;
        char emsg [512];
        ts_store_t *st = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
        assert_null (st);
        assert_int_equal (err, TS_ECORRUPT);
        if (!strstr (emsg, rp) || !strstr (emsg, "cut short"))
            fail_msg ("records file %s: message \"%s\"", lost ? "lost" : "cut short", emsg);
    }
    ts_buf_free (&got);
    free (recs);
}

/* --- compressed records (docs/DESIGN.md, "Compressed records") ----------- */

/*  How many D entries are plain (13-byte) and compressed (21-byte)
 *  locators, read with the raw API from the closed shard at `path`. */
static void
s_count_locators (const char *path, size_t *plain, size_t *packed)
{
    KCDB *db = kcdbnew ();
    assert_non_null (db);
    if (!tu_kc_open (db, path, KCOREADER))
        fail_msg ("kcdbopen %s: %s", path, kcdbemsg (db));
    KCCUR *cur = kcdbcursor (db);
    *plain = *packed = 0;
    bool more = kccurjumpkey (cur, "D", 1);
    while (more) {
        size_t klen, vlen;
        const char *v;
        char *k = kccurget (cur, &klen, &v, &vlen, false);
        if (!k || k [0] != TS_TAG_DATA) {
            kcfree (k);
            break;
        }
        assert_int_equal ((unsigned char) v [0], 0xc1);
        if (vlen == 13)
            ++*plain;
        else if (vlen == 21)
            ++*packed;
        else
            fail_msg ("a D value of %zu bytes", vlen);
        kcfree (k);
        more = kccurstep (cur);
    }
    kccurdel (cur);
    assert_true (kcdbclose (db));
    kcdbdel (db);
}

/*  Bytes the records take as the parser makes them. */
static size_t
s_form_bytes (s_env_t *env, const s_rec_t *recs, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        s_parse (env, &recs [i]);
        total += env->form.size;
    }
    return total;
}

static void
s_check_ok (s_env_t *env, uint64_t records)
{
    ts_check_report_t rep;
    int rc = ts_check_store (env->store, &rep);
    if (rc)
        fail_msg ("check: %d %s", rc, rep.first_problem);
    assert_int_equal (rep.records, records);
}

/*  The shard's dictionaries: how many, and the one in use. */
static void
s_expect_dicts (s_env_t *env, uint32_t count, uint32_t current)
{
    uint32_t c, cur;
    ts_store_dicts (env->store, &c, &cur);
    assert_int_equal (c, count);
    assert_int_equal (cur, current);
}

/*  Compressed records come back byte for byte, after a reopen too; the
 *  shard trained a dictionary from its first records, and the records
 *  file is smaller than the records. */
static void
test_compress_round_trip (void **state)
{
    s_env_t *env = *state;
    size_t n = 1000;
    s_rec_t *recs = s_recs_make ("z", 0, n);
    s_open (env);
    s_expect_dicts (env, 0, 0);
    s_load (env, "a", recs, n, 50, 2);
    s_expect_dicts (env, 1, 1);
    s_expect_gets (env, recs, 0, n);
    s_check_ok (env, n);
    s_close (env);
    size_t plain, packed;
    s_count_locators (env->path, &plain, &packed);
    assert_int_equal (plain + packed, n);
    assert_true (packed >= n * 9 / 10);
    char rp [PATH_MAX];
    s_rec_path (env->path, rp, sizeof rp);
    off_t size = s_file_size (rp);
    size_t raw = s_form_bytes (env, recs, n);
    if ((double) size > 0.5 * (double) raw)
        fail_msg ("records file %lld bytes for %zu bytes of records", (long long) size, raw);
    s_open (env);
    s_expect_dicts (env, 1, 1);
    s_expect_gets (env, recs, 0, n);
    s_close (env);
    free (recs);
}

/*  A shard written uncompressed, then small, then fast, then none again:
 *  every record reads back, whatever its locator, and check agrees. */
static void
test_compress_mixed (void **state)
{
    s_env_t *env = *state;
    size_t n = 800;
    s_rec_t *recs = s_recs_make ("x", 0, n);
    static const ts_compress_t modes [] = { TS_COMPRESS_NONE, TS_COMPRESS_SMALL,
                                            TS_COMPRESS_FAST, TS_COMPRESS_NONE };
    for (int m = 0; m < 4; m++) {
        s_open (env);
        ts_store_set_compress (env->store, modes [m]);
        char job [8];
        snprintf (job, sizeof job, "j%d", m);
        s_load (env, job, recs + m * 200, 200, 40, 2);
        s_expect_gets (env, recs, 0, (size_t) (m + 1) * 200);
        s_close (env);
    }
    size_t plain, packed;
    s_count_locators (env->path, &plain, &packed);
    assert_true (plain >= 400 && packed >= 300 && plain + packed == n);
    s_open (env);
    s_expect_gets (env, recs, 0, n);
    s_check_ok (env, n);
    s_close (env);
    free (recs);
}

/*  Records of another shape make the dictionary's ratio degrade: the
 *  shard samples them and trains a second one, and the records of both
 *  stay readable. */
static void
test_compress_retrain (void **state)
{
    s_env_t *env = *state;
    size_t n = 9000, half = 4500;
    s_rec_t *recs = s_recs_make ("w", 0, n);
    /* the second half carries a long text (a "tool schema") the first
     * dictionary never saw, the same in each of them */
    char schema [321];
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 320; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        schema [i] = "abcdefghijklmnopqrstuvwxyz0123456789 "[x % 37];
    }
    schema [320] = 0;
    for (size_t i = half; i < n; i++) {
        s_rec_t *r = &recs [i];
        r->len--;                       /* the closing brace */
        r->line [r->len] = 0;
        s_cat (r, ",\"tools\":\"%s\"}", schema);
    }
    s_open (env);
    s_load (env, "a", recs, half, 100, 4);
    s_expect_dicts (env, 1, 1);
    s_load (env, "b", recs + half, n - half, 100, 4);
    s_expect_dicts (env, 2, 2);
    s_expect_gets (env, recs, 0, n);
    s_check_ok (env, n);
    s_close (env);
    s_open (env);                       /* the newest is the one in use */
    s_expect_dicts (env, 2, 2);
    s_expect_gets (env, recs, 0, n);
    s_close (env);
    free (recs);
}

/*  A call that trains the shard's first dictionary and then fails: the
 *  dictionary goes with its records (the handle forgets it too), and the
 *  retried call trains it again. */
static void
test_compress_rollback (void **state)
{
    s_env_t *env = *state;
    s_rec_t *recs = s_recs_make ("v", 0, 300);
    s_open (env);
    s_load (env, "a", recs, 100, 50, 1);
    s_expect_dicts (env, 0, 0);
    s_batch_t bs [2];
    ts_batch_result_t res [2];
    s_batch_build (env, &bs [0], "b", 0, recs + 100, 100);     /* the 128th record */
    s_batch_build (env, &bs [1], "b", 1, recs + 200, 100);
    bs [1].batch.nrecords++;                                    /* does not decode */
    assert_int_equal (s_put (env, bs, 2, res), TS_ECORRUPT);
    s_expect_dicts (env, 0, 0);
    bs [1].batch.nrecords--;
    assert_int_equal (s_put (env, bs, 2, res), 0);
    s_expect_dicts (env, 1, 1);
    s_batch_free (&bs [0]);
    s_batch_free (&bs [1]);
    s_expect_gets (env, recs, 0, 300);
    s_close (env);
    s_open (env);
    s_expect_dicts (env, 1, 1);
    s_expect_gets (env, recs, 0, 300);
    s_check_ok (env, 300);
    s_close (env);
    free (recs);
}

/*  A compressed record whose bytes were damaged: its get fails with an
 *  error naming the record, the others still read, check reports it. */
static void
test_compress_corrupt (void **state)
{
    s_env_t *env = *state;
    size_t n = 400;
    s_rec_t *recs = s_recs_make ("c", 0, n);
    s_open (env);
    s_load (env, "a", recs, n, 50, 2);
    s_close (env);
    /* the locator of the record of sequence 301 */
    KCDB *db = kcdbnew ();
    assert_non_null (db);
    assert_true (tu_kc_open (db, env->path, KCOREADER));
    char key [16], loc [32];
    assert_int_equal (kcdbgetbuf (db, key, ts_key_data (key, 301), loc, sizeof loc), 21);
    assert_true (kcdbclose (db));
    kcdbdel (db);
    uint64_t off = (uint64_t) ts_key_get_i64 (loc + 1);
    unsigned clen = (unsigned) (unsigned char) loc [11] << 8 | (unsigned char) loc [12];
    char rp [PATH_MAX];
    s_rec_path (env->path, rp, sizeof rp);
    int fd = open (rp, O_RDWR);
    assert_true (fd >= 0);
    char junk [64];
    memset (junk, 0xa5, sizeof junk);
    size_t at = clen / 3, len = clen - at < sizeof junk ? clen - at : sizeof junk;
    assert_int_equal (pwrite (fd, junk, len, (off_t) (off + at)), (ssize_t) len);
    close (fd);
    s_open (env);
    ts_buf_t got = { 0 };
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        got.size = 0;
        int rc = ts_store_get (env->store, recs [i].id, strlen (recs [i].id), &got);
        if (rc == 0)
            continue;
        assert_int_equal (rc, TS_ECORRUPT);
        const char *msg = ts_store_errmsg (env->store);
        if (!strstr (msg, "record 301") || !strstr (msg, rp))
            fail_msg ("the error names neither the record nor the file: %s", msg);
        bad++;
    }
    assert_int_equal (bad, 1);
    ts_check_report_t rep;
    int rc = ts_check_store (env->store, &rep);
    assert_true (rc != 0);
    s_close (env);
    ts_buf_free (&got);
    free (recs);
}

/*  The tree's options as Kyoto Cabinet says them ("opts" of its status). */
static int
s_tree_opts (const char *path)
{
    KCDB *db = kcdbnew ();
    assert_non_null (db);
    if (!tu_kc_open (db, path, KCOREADER))
        fail_msg ("kcdbopen %s: %s", path, kcdbemsg (db));
    char *st = kcdbstatus (db);
    assert_non_null (st);
    const char *at = strstr (st, "\nopts\t");
    assert_non_null (at);
    int opts = atoi (at + 6);
    kcfree (st);
    assert_true (kcdbclose (db));
    kcdbdel (db);
    return opts;
}

/*  A new shard's tree writes its pages compressed; one created without
 *  (before TS_STORE_TUNING said opts=c) keeps its pages as they are, and
 *  either is read whatever tuning opens it. */
static void
test_tree_compressed (void **state)
{
    s_env_t *env = *state;
    size_t n = 300;
    s_rec_t *recs = s_recs_make ("z", 0, n);
    s_open (env);
    s_load (env, "a", recs, n, 50, 2);
    s_close (env);
    enum { S_KC_COMPRESS = 1 << 2 };         /* HashDB::TCOMPRESS */
    assert_true (s_tree_opts (env->path) & S_KC_COMPRESS);
    /* a tuning that names no compressor still reads it */
    int err = 0;
    char emsg [512] = "";
    env->store = ts_store_open (env->path, "#psiz=32768#pccap=1m", &err, emsg, sizeof emsg);
    if (!env->store)
        fail_msg ("ts_store_open %s: %s", env->path, emsg);
    s_expect_gets (env, recs, 0, n);
    s_close (env);

    /* a tree created without page compression stays without */
    char old [PATH_MAX];
    snprintf (old, sizeof old, "%s/old.kct", env->dir);
    env->store = ts_store_open (old, "#psiz=32768#pccap=16m#msiz=0", &err, emsg, sizeof emsg);
    if (!env->store)
        fail_msg ("ts_store_open %s: %s", old, emsg);
    s_load (env, "a", recs, n / 2, 50, 2);
    s_close (env);
    assert_false (s_tree_opts (old) & S_KC_COMPRESS);
    env->store = ts_store_open (old, NULL, &err, emsg, sizeof emsg);
    if (!env->store)
        fail_msg ("ts_store_open %s: %s", old, emsg);
    s_load (env, "b", recs + n / 2, n - n / 2, 50, 2);
    s_expect_gets (env, recs, 0, n);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.problems, 0);
    s_close (env);
    assert_false (s_tree_opts (old) & S_KC_COMPRESS);
    free (recs);
}

/* --- crash test ----------------------------------------------------------- */

enum { S_CRASH_BATCHES = 600, S_CRASH_PER_BATCH = 50, S_CRASH_ROUNDS = 5 };
#define S_CRASH_JOB "crash-job"

static uint64_t
s_rand (uint64_t *s)
{
    /* xorshift64*: a fixed sequence per seed, the same in both processes */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C (2685821657736338717);
}

/*  The records of crash batch c (the same every time it is made). */
static void
s_crash_recs (unsigned c, s_rec_t *recs)
{
    for (unsigned j = 0; j < S_CRASH_PER_BATCH; j++) {
        char id [32];
        unsigned k = c * S_CRASH_PER_BATCH + j;
        snprintf (id, sizeof id, "c%03u-%02u", c, j);
        s_rec_make (&recs [j], id, k, S_INGEST_MS + k);
    }
}

/*  The child: commits batches 0..199 in calls of 1-4 batches (replaying
 *  what an earlier round committed), and after each commit writes the
 *  number of batches committed so far to `fd`. Never returns. */
static void
s_crash_child (s_env_t *env, uint64_t seed, int fd)
{
    int err;
    char emsg [512];
    ts_store_t *st = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
    if (!st)
        _exit (10);
    env->store = st;
    /* ids reach R every few commits: a kill lands before, in and after
     * such passes */
    ts_store_set_id_batch (st, 700);
    static s_rec_t recs [4][S_CRASH_PER_BATCH];
    s_batch_t bs [4];
    ts_batch_result_t res [4];
    uint32_t done = 0;
    while (done < S_CRASH_BATCHES) {
        uint32_t n = 1 + (uint32_t) (s_rand (&seed) % 4);
        if (n > S_CRASH_BATCHES - done)
            n = S_CRASH_BATCHES - done;
        for (uint32_t i = 0; i < n; i++) {
            s_crash_recs (done + i, recs [i]);
            s_batch_build (env, &bs [i], S_CRASH_JOB, done + i, recs [i], S_CRASH_PER_BATCH);
        }
        if (s_put (env, bs, n, res))
            _exit (11);
        for (uint32_t i = 0; i < n; i++) {
            /* a replay gives back the first commit's counts */
            if (res [i].imported != S_CRASH_PER_BATCH || res [i].duplicates)
                _exit (12);
            s_batch_free (&bs [i]);
        }
        done += n;
        if (write (fd, &done, sizeof done) != sizeof done)
            _exit (13);
    }
    ts_store_destroy (&env->store);
    _exit (0);
}

/*  After a kill: the store is consistent and holds exactly a prefix of
 *  batches [0, k) with all their records, k >= what the child reported
 *  and at most one call (4 batches) beyond it. Returns k. */
static uint32_t
s_crash_verify (s_env_t *env, uint32_t prev, uint32_t reported, uint64_t seed)
{
    s_open (env);
    ts_check_report_t rep;
    int rc = ts_check_store (env->store, &rep);
    if (rc)
        fail_msg ("seed %llu: check after kill: %d: %s", (unsigned long long) seed, rc,
                  rep.first_problem);
    uint32_t k = 0;
    bool gap = false;
    ts_buf_t got = { 0 };
    static s_rec_t recs [S_CRASH_PER_BATCH];
    for (uint32_t c = 0; c < S_CRASH_BATCHES; c++) {
        ts_batch_result_t m;
        rc = ts_store_batch_result (env->store, S_CRASH_JOB, strlen (S_CRASH_JOB), c, &m);
        bool committed = rc == 0;
        if (!committed)
            assert_int_equal (rc, TS_ENOTFOUND);
        else {
            if (gap)
                fail_msg ("seed %llu: batch %u committed after an uncommitted one",
                          (unsigned long long) seed, c);
            assert_int_equal (m.imported, S_CRASH_PER_BATCH);
            assert_int_equal (m.duplicates, 0);
            k = c + 1;
        }
        gap |= !committed;
        /* all of a committed batch's records, none of another's */
        s_crash_recs (c, recs);
        for (unsigned j = 0; j < S_CRASH_PER_BATCH; j++) {
            got.size = 0;
            rc = ts_store_get (env->store, recs [j].id, strlen (recs [j].id), &got);
            if (committed != (rc == 0))
                fail_msg ("seed %llu: batch %u (%s): record %s %s", (unsigned long long) seed, c,
                          committed ? "committed" : "not committed", recs [j].id,
                          rc == 0 ? "present" : "missing");
            if (committed && j == 0) {
                s_parse (env, &recs [j]);
                assert_int_equal (got.size, env->form.size);
                assert_memory_equal (got.data, env->form.data, got.size);
            }
        }
    }
    ts_buf_free (&got);
    uint32_t lo = prev > reported ? prev : reported;
    uint32_t hi = prev > reported + 4 ? prev : reported + 4;
    if (k < lo || k > hi)
        fail_msg ("seed %llu: %u batches committed; before %u, child reported %u",
                  (unsigned long long) seed, k, prev, reported);
    assert_int_equal (rep.records, (uint64_t) k * S_CRASH_PER_BATCH);
    assert_int_equal (rep.batches, k);
    assert_int_equal (rep.totals.count, (uint64_t) k * S_CRASH_PER_BATCH);
    assert_int_equal (ts_store_count (env->store), (uint64_t) k * S_CRASH_PER_BATCH);
    s_close (env);
    return k;
}

static void
test_crash_recovery (void **state)
{
    s_env_t *env = *state;
    uint32_t committed = 0;
    int killed = 0;
    /* seeds differ from run to run; TEST_STORE_SEED replays a failed run */
    const char *fixed = getenv ("TEST_STORE_SEED");
    uint64_t base = fixed ? strtoull (fixed, NULL, 0) : (uint64_t) time (NULL) ^ (uint64_t) getpid ();
    print_message ("crash test: TEST_STORE_SEED=%llu\n", (unsigned long long) base);
    for (int round = 0; round < S_CRASH_ROUNDS; round++) {
        uint64_t seed = UINT64_C (0x9e3779b97f4a7c15) * (uint64_t) (round + 1) + base;
        uint64_t rs = seed | 1;         /* xorshift never leaves 0 */
        unsigned delay_ms = 5 + (unsigned) (s_rand (&rs) % 296);
        int fd = -1;
        pid_t pid = tu_fork_pipe (&fd);
        assert_true (pid >= 0);
        if (pid == 0)
            s_crash_child (env, rs, fd);
        struct timespec ts = { .tv_sec = delay_ms / 1000, .tv_nsec = (long) (delay_ms % 1000) * 1000000L };
        nanosleep (&ts, NULL);
        kill (pid, SIGKILL);
        int status;
        assert_int_equal (waitpid (pid, &status, 0), pid);
        if (WIFSIGNALED (status))
            killed++;
        else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
            fail_msg ("seed %llu: child failed with status %d", (unsigned long long) seed, status);
        /* the last count the child wrote: batches committed this round */
        uint32_t reported = 0, v;
        while (read (fd, &v, sizeof v) == (ssize_t) sizeof v)
            reported = v;
        close (fd);
        uint32_t k = s_crash_verify (env, committed, reported, seed);
        print_message ("crash round %d: seed %llu, kill after %u ms: child reported %u, %u committed\n",
                       round, (unsigned long long) seed, delay_ms, reported, k);
        committed = k;
    }
    /* the kills must have landed while the child worked (a finished child
     * proves nothing about recovery) */
    assert_true (killed > 0);
}

/* --- main ----------------------------------------------------------------- */

/*  Collects a delta's runs part: counts per "run/group" text. */
typedef struct {
    char     names [16][64];
    uint64_t counts [16];
    int      n;
} s_runs_seen_t;

static void
s_seen_run (void *arg, const char *run, size_t rlen, const char *group, size_t glen,
            const ts_totals_t *t)
{
    s_runs_seen_t *rs = arg;
    char name [64];
    snprintf (name, sizeof name, "%.*s/%.*s", (int) rlen, run, group ? (int) glen : 1,
              group ? group : "-");
    int i = 0;
    while (i < rs->n && strcmp (rs->names [i], name))
        i++;
    assert_true (i < 16);
    if (i == rs->n)
        snprintf (rs->names [rs->n++], sizeof rs->names [0], "%s", name);
    rs->counts [i] += t->count;
}

static void
s_seen_run_model (void *arg, const char *run, size_t rlen, const char *model, size_t mlen,
                  const ts_totals_t *t)
{
    s_runs_seen_t *rs = arg;
    char name [48];
    /* nil: the run's records without a model */
    snprintf (name, sizeof name, "%.*s model %.*s", (int) rlen, run, model ? (int) mlen : 1,
              model ? model : "-");
    int i = 0;
    while (i < rs->n && strcmp (rs->names [i], name))
        i++;
    assert_true (i < 15);
    if (i == rs->n) {
        snprintf (rs->names [rs->n++], sizeof rs->names [0], "%s", name);
        snprintf (rs->names [rs->n++], sizeof rs->names [0], "%s successes", name);
    }
    rs->counts [i] += t->count;
    rs->counts [i + 1] += t->successes;
}

static uint64_t
s_seen_count (const s_runs_seen_t *rs, const char *name)
{
    for (int i = 0; i < rs->n; i++)
        if (!strcmp (rs->names [i], name))
            return rs->counts [i];
    return 0;
}

/*  Records of runs: each gets an A entry and counts in its run's totals
 *  per group (U), which the delta, the snapshot and the check agree on. */
static void
test_runs_index_and_totals (void **state)
{
    s_env_t *env = *state;
    s_open (env);
    static const struct { const char *id, *run, *group; int success; const char *model; } recs [] = {
        { "t0:1", "t0", "env_0", 1, "m1" }, { "t0:2", "t0", "env_1", 0, "m2" },
        { "t0:3", "t0", NULL, 0, "m1" },
        { "t1:1", "t1", "env_0", 1, "m1" }, { "t1:2", "t1", "env_1", 1, NULL },
        { "t1:3", "t1", "env_1", 0, "m1" },
        { "x", NULL, "env_0", 1, "m1" },                /* a record of no run */
    };
    size_t nrecs = sizeof recs / sizeof recs [0];
    ts_buf_t form = { 0 };
    s_batch_t b;
    memset (&b, 0, sizeof b);
    for (size_t i = 0; i < nrecs; i++) {
        msgpack_packer pk;
        form.size = 0;
        msgpack_packer_init (&pk, &form, s_buf_write);
        ts_summary_t sm = { .id = recs [i].id, .id_len = (uint32_t) strlen (recs [i].id),
                            .group = recs [i].group,
                            .group_len = recs [i].group ? (uint32_t) strlen (recs [i].group) : 0,
                            .success = recs [i].success, .ingested_ms = S_INGEST_MS,
                            .run = recs [i].run,
                            .run_len = recs [i].run ? (uint32_t) strlen (recs [i].run) : 0,
                            .model = recs [i].model,
                            .model_len = recs [i].model ? (uint32_t) strlen (recs [i].model) : 0 };
        assert_int_equal (ts_summary_pack (&pk, &sm), 0);
        assert_int_equal (msgpack_pack_map (&pk, 0), 0);
        s_append_bin (&b.records, form.data, form.size);
    }
    b.batch = (ts_batch_t) { .job = "runs", .job_len = 4, .chunk = 0, .records = b.records.data,
                             .records_len = b.records.size, .nrecords = (uint32_t) nrecs };
    ts_batch_result_t res;
    ts_buf_t delta = { 0 };
    assert_int_equal (ts_store_put_batches_delta (env->store, &b.batch, 1, &res, &delta), 0);
    assert_int_equal (res.imported, nrecs);

    /* the delta's runs part */
    s_runs_seen_t seen = { 0 };
    uint64_t seq;
    ts_delta_visitor_t v = { .run = s_seen_run, .run_model = s_seen_run_model, .arg = &seen };
    assert_int_equal (ts_delta_read (delta.data, delta.size, &seq, &v), 0);
    assert_int_equal (seen.n, 5 + 2 * 4);   /* a model entry counts records and successes */
    assert_int_equal (s_seen_count (&seen, "t0/env_0"), 1);
    assert_int_equal (s_seen_count (&seen, "t0/-"), 1);
    assert_int_equal (s_seen_count (&seen, "t1/env_1"), 2);
    /* and per model, whole totals (a record without one under a nil
     * model: the model entries of a run sum to its totals) */
    assert_int_equal (s_seen_count (&seen, "t1 model -"), 1);
    assert_int_equal (s_seen_count (&seen, "t1 model - successes"), 1);
    assert_int_equal (s_seen_count (&seen, "t0 model m1"), 2);
    assert_int_equal (s_seen_count (&seen, "t0 model m2"), 1);
    assert_int_equal (s_seen_count (&seen, "t1 model m1"), 2);
    assert_int_equal (s_seen_count (&seen, "t0 model m1 successes"), 1);
    /* the snapshot says the same */
    s_runs_seen_t snap = { 0 };
    ts_buf_t sb = { 0 };
    v.arg = &snap;
    assert_int_equal (ts_store_snapshot (env->store, &sb), 0);
    assert_int_equal (ts_delta_read (sb.data, sb.size, &seq, &v), 0);
    assert_int_equal (snap.n, 5 + 2 * 4);
    for (int i = 0; i < seen.n; i++)
        assert_int_equal (s_seen_count (&snap, seen.names [i]), seen.counts [i]);

    /* the run index: a run's records by prefix */
    char key [TS_KEY_MAX];
    ts_scan_t sc = { .prefix = key, .prefix_len = ts_key_run_prefix (key, "t1", 2) };
    size_t cnt = 0;
    assert_int_equal (ts_store_scan (env->store, &sc, s_count_visit, &cnt), 0);
    assert_int_equal (cnt, 3);

    /* a U key reads back */
    char run [TS_KEY_MAX];
    size_t rl, gl;
    const char *g;
    size_t kl = ts_key_run_totals (key, "a\0b", 3, "env_0", 5);
    assert_int_equal (ts_key_run_totals_parse (key, kl, run, &rl, &g, &gl), 0);
    assert_true (rl == 3 && !memcmp (run, "a\0b", 3) && gl == 5 && !memcmp (g, "env_0", 5));
    kl = ts_key_run_totals (key, "a", 1, NULL, 0);
    assert_int_equal (ts_key_run_totals_parse (key, kl, run, &rl, &g, &gl), 0);
    assert_null (g);
    assert_int_equal (ts_key_run_totals_parse (key, kl - 1, run, &rl, &g, &gl), -1);

    /* the check finds every A entry; reopened, the same */
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.index_entries, 6 + 7 + 6 + 6);   /* G, T, A, M (no reward) */
    s_close (env);
    s_open (env);
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.problems, 0);
    ts_buf_free (&sb);
    ts_buf_free (&delta);
    ts_buf_free (&form);
    s_batch_free (&b);
}

/* --- dropping a run, compaction ------------------------------------------- */

/*  Loads recs[0..n) as records of `run` (the parser of profile
 *  "default,run=RUN"), batches of 50 under `job`. */
static void
s_load_run (s_env_t *env, const char *run, const char *job, const s_rec_t *recs, size_t n)
{
    ts_profile_t prof;
    char spec [64], perr [128];
    snprintf (spec, sizeof spec, "default,run=%s", run);
    assert_int_equal (ts_profile_parse (spec, &prof, perr, sizeof perr), 0);
    ts_parser_t *keep = env->parser;
    env->parser = ts_parser_new (&prof);
    assert_non_null (env->parser);
    s_load (env, job, recs, n, 50, 4);
    ts_parser_destroy (&env->parser);
    env->parser = keep;
}

static void
s_tick (void *arg)
{
    (*(unsigned *) arg)++;
}

/*  The store holds exactly recs[0..n): the check is clean, the shard,
 *  group and model totals equal a recount from the inputs, every record
 *  reads back as parsed, and none of gone[0..ngone) is found. */
static void
s_assert_holds (s_env_t *env, const s_rec_t *recs, size_t n, const s_rec_t *gone, size_t ngone,
                const char *run)
{
    ts_check_report_t rep;
    int rc = ts_check_store (env->store, &rep);
    if (rc)
        fail_msg ("check: %d: %s", rc, rep.first_problem);
    assert_int_equal (rep.records, n);
    ts_totals_t got, want;
    assert_int_equal (ts_store_totals (env->store, &got), 0);
    s_recount (recs, n, s_keep_all, NULL, &want);
    s_assert_totals (&got, &want);
    for (unsigned k = 0; k < 13 + 3; k++) {       /* groups g00..g12, models m0..m2 */
        bool model = k >= 13;
        char name [16];
        snprintf (name, sizeof name, model ? "m%u" : "g%02u", model ? k - 13 : k);
        s_recount (recs, n, model ? s_keep_model : s_keep_group, name, &want);
        rc = model ? ts_store_model_totals (env->store, name, strlen (name), &got)
                   : ts_store_group_totals (env->store, name, strlen (name), &got);
        if (want.count == 0)
            assert_int_equal (rc, TS_ENOTFOUND);
        else {
            assert_int_equal (rc, 0);
            s_assert_totals (&got, &want);
        }
    }
    ts_buf_t out = { 0 };
    for (size_t i = 0; i < n; i++) {
        out.size = 0;
        assert_int_equal (ts_store_get (env->store, recs [i].id, strlen (recs [i].id), &out), 0);
        ts_summary_t s;
        assert_int_equal (ts_summary_unpack_buf (out.data, out.size, &s, NULL), 0);
        assert_int_equal (s.id_len, strlen (recs [i].id));
        assert_memory_equal (s.id, recs [i].id, s.id_len);
    }
    for (size_t i = 0; i < ngone; i++) {
        out.size = 0;
        assert_int_equal (ts_store_get (env->store, gone [i].id, strlen (gone [i].id), &out),
                          TS_ENOTFOUND);
    }
    ts_buf_free (&out);
    /* the run index has nothing left of the dropped run */
    char key [TS_KEY_MAX];
    ts_scan_t sc = { .prefix = key, .prefix_len = ts_key_run_prefix (key, run, strlen (run)) };
    size_t cnt = 0;
    assert_int_equal (ts_store_scan (env->store, &sc, s_count_visit, &cnt), 0);
    assert_int_equal (cnt, 0);
}

/*  drop --run: a run's records go with every entry and total; the other
 *  run's stay exact; the freed bytes are counted and a compaction gives
 *  them back; the same lines can then come back as new records. */
static void
test_drop_run (void **state)
{
    s_env_t *env = *state;
    s_open (env);
    enum { NKEEP = 300, NGONE = 500 };
    s_rec_t *keep = s_recs_make ("a", 0, NKEEP), *gone = s_recs_make ("b", 7, NGONE);
    s_load_run (env, "keep", "j1", keep, NKEEP);
    s_load_run (env, "gone", "j2", gone, NGONE);
    uint64_t seq0 = ts_store_seq (env->store);
    /* a run with no record here writes nothing */
    uint64_t dropped = 99;
    assert_int_equal (ts_store_drop_run (env->store, "none", 4, 0, &dropped), 0);
    assert_int_equal (dropped, 0);
    assert_int_equal (ts_store_seq (env->store), seq0);

    unsigned ticks = 0;                 /* the store's tick, between transactions */
    ts_store_set_tick (env->store, s_tick, &ticks);
    assert_int_equal (ts_store_drop_run (env->store, "gone", 4, 64, &dropped), 0);
    ts_store_set_tick (env->store, NULL, NULL);
    assert_int_equal (dropped, NGONE);
    assert_true (ticks >= NGONE / 64);
    assert_false (ts_store_drop_pending (env->store));
    assert_true (ts_store_seq (env->store) > seq0);     /* the totals changed: a new sequence */
    s_assert_holds (env, keep, NKEEP, gone, NGONE, "gone");
    uint64_t freed = ts_store_freed_bytes (env->store);
    assert_true (freed > 0);
    s_close (env);
    s_open (env);
    s_assert_holds (env, keep, NKEEP, gone, NGONE, "gone");

    /* compaction: the freed bytes go, reads stay */
    char rec [PATH_MAX + 8];
    snprintf (rec, sizeof rec, "%.*s.rec", (int) strlen (env->path) - 4, env->path);
    struct stat st;
    assert_int_equal (stat (rec, &st), 0);
    off_t before = st.st_size;
    uint64_t reclaimed = 0;
    assert_int_equal (ts_store_compact (env->store, &reclaimed), 0);
    assert_int_equal (reclaimed, freed);
    assert_int_equal (ts_store_freed_bytes (env->store), 0);
    assert_int_equal (stat (rec, &st), -1);             /* generation 0 is gone */
    char rec1 [PATH_MAX + 16];
    snprintf (rec1, sizeof rec1, "%.*s.1", (int) strlen (rec), rec);
    assert_int_equal (stat (rec1, &st), 0);
    assert_int_equal ((uint64_t) st.st_size, (uint64_t) before - freed);
    s_assert_holds (env, keep, NKEEP, gone, NGONE, "gone");
    for (size_t i = 0; i < NKEEP; i += 37) {            /* whole records, byte for byte */
        ts_buf_t out = { 0 };
        assert_int_equal (ts_store_get (env->store, keep [i].id, strlen (keep [i].id), &out), 0);
        s_parse (env, &keep [i]);
        ts_summary_t a, b;
        size_t alen, blen;
        assert_int_equal (ts_summary_unpack_buf (out.data, out.size, &a, &alen), 0);
        assert_int_equal (ts_summary_unpack_buf (env->form.data, env->form.size, &b, &blen), 0);
        assert_int_equal (out.size - alen, env->form.size - blen);
        assert_memory_equal (out.data + alen, env->form.data + blen, out.size - alen);
        ts_buf_free (&out);
    }
    /* nothing to compact a second time */
    assert_int_equal (ts_store_compact (env->store, &reclaimed), 0);
    assert_int_equal (reclaimed, 0);
    s_close (env);
    s_open (env);
    s_assert_holds (env, keep, NKEEP, gone, NGONE, "gone");

    /* the dropped lines are new records again */
    s_load_run (env, "gone", "j3", gone, NGONE);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), 0);
    assert_int_equal (rep.records, NKEEP + NGONE);
    free (keep);
    free (gone);
}

/*  The drop's child tells the parent after each transaction. */
static void
s_tick_pipe (void *arg)
{
    char c = 1;
    if (write (*(int *) arg, &c, 1) < 0)
        _exit (3);
}

/*  A child opens the shard and drops run "gone" (16 records a
 *  transaction), or compacts; it gets SIGKILL `ms` milliseconds after its
 *  drop's first transaction (a compaction: after its start), so that on
 *  a slow machine too the kill lands during the work. */
static void
s_killed_during (s_env_t *env, bool compact, unsigned ms)
{
    int fds [2];
    assert_int_equal (pipe (fds), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        close (fds [0]);
        s_open (env);
        uint64_t n;
        if (compact) {
            s_tick_pipe (&fds [1]);
            ts_store_compact (env->store, &n);
        }
        else {
            ts_store_set_tick (env->store, s_tick_pipe, &fds [1]);
            ts_store_drop_run (env->store, "gone", 4, 16, &n);
        }
        _exit (0);
    }
    close (fds [1]);
    char c;
    if (read (fds [0], &c, 1) < 0)         /* the first transaction (or the child's end) */
        fail_msg ("read from the child: %s", strerror (errno));
    struct timespec ts = { 0, (long) ms * 1000000L };
    nanosleep (&ts, NULL);
    kill (pid, SIGKILL);
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    close (fds [0]);                    /* open until now: no SIGPIPE ends it first */
}

/*  kill -9 during a drop: the reopened shard has the marker and a prefix
 *  of the drop committed, its check is clean, and resuming finishes it. A
 *  kill during a compaction leaves one whole generation. */
static void
test_drop_crash (void **state)
{
    s_env_t *env = *state;
    enum { NKEEP = 200, NGONE = 3000 };
    s_rec_t *keep = s_recs_make ("a", 0, NKEEP), *gone = s_recs_make ("b", 3, NGONE);
    int interrupted = 0;
    for (int round = 0; round < 4; round++) {
        s_open (env);
        char job [16];
        snprintf (job, sizeof job, "g%d", round);
        if (round == 0)
            s_load_run (env, "keep", "k", keep, NKEEP);
        s_load_run (env, "gone", job, gone, NGONE);
        s_close (env);
        s_killed_during (env, false, 5 * round);
        s_open (env);
        ts_check_report_t rep;
        int rc = ts_check_store (env->store, &rep);
        if (rc)
            fail_msg ("round %d: check after kill: %d: %s", round, rc, rep.first_problem);
        bool pending = ts_store_drop_pending (env->store);
        if (pending) {
            interrupted++;
            assert_true (rep.records > NKEEP);      /* dropped in part */
        }
        /* a marker: the resume finishes the drop; none: the child had
         * not begun it (all still there) or had ended it (none left) */
        uint64_t n;
        if (pending)
            assert_int_equal (ts_store_drop_resume (env->store, 0, &n), 0);
        else {
            assert_true (rep.records == NKEEP || rep.records == NKEEP + NGONE);
            assert_int_equal (ts_store_drop_run (env->store, "gone", 4, 0, &n), 0);
        }
        assert_int_equal (n, rep.records - NKEEP);
        s_assert_holds (env, keep, NKEEP, gone, NGONE, "gone");
        s_close (env);
    }
    print_message ("drop crash: %d of 4 kills landed during the drop\n", interrupted);
    assert_true (interrupted > 0);

    /* a compaction killed at some moment: the open finds one generation */
    for (int round = 0; round < 3; round++) {
        s_killed_during (env, true, 2 * round);
        s_open (env);
        s_assert_holds (env, keep, NKEEP, gone, NGONE, "gone");
        s_close (env);
    }
    free (keep);
    free (gone);
}

int
main (int argc, char **argv)
{
    /* the lock test's exec'd child */
    if (argc == 3 && !strcmp (argv [1], "--try-open"))
        return s_try_open (argv [2], true);
    s_main_pid = getpid ();

    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_open_reopen_keeps_data, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_bad_name, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_foreign_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_unwritable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_twice_in_process, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_open_locked_by_other_process, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_one_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_group_commit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_duplicate_in_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_duplicate_across_batches, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_replay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_replay_in_same_call, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_put_corrupt_all_or_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_get, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_group_and_model, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_reward, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_time, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_records, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_paging, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_to_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_visitor_stop_and_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_scan_descending_at_end_of_keyspace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_totals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_check_healthy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_layout_version, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ids_wait, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_layout4_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_records_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_check_detects_damage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compress_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compress_mixed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compress_retrain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compress_rollback, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_compress_corrupt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tree_compressed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_crash_recovery, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_runs_index_and_totals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_drop_run, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_drop_crash, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
