/*  test_search.c: the full-text index of a shard (ts_search.h): postings
 *  written with the records, all-terms and phrase queries, identifiers,
 *  accents and CJK, filters, both orders, step indexes and snippets,
 *  records imported without the index, a rolled-back commit leaving no
 *  postings, and the checker finding postings that disagree with the text.
 *  The whole stack is tested against a Python oracle by
 *  tests/e2e/e2e_search.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ts_check.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_search.h"
#include "ts_search_int.h"
#include "ts_store.h"
#include "test_util.h"

#include <kclangc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char s_dir [256];
static char s_path [300];

static const char *s_lines [] = {
    "{\"id\":\"r1\",\"data_id\":\"q1\",\"model\":\"m1\",\"reward\":1,\"is_success\":true,"
    "\"created_at\":1000,\"trajectory\":[{\"role\":\"user\",\"content\":\"import numpy fails\"},"
    "{\"role\":\"assistant\",\"content\":\"ModuleNotFoundError: No module named numpy\"}]}",
    "{\"id\":\"r2\",\"data_id\":\"q1\",\"model\":\"m2\",\"reward\":0,\"is_success\":false,"
    "\"created_at\":2000,\"trajectory\":[{\"role\":\"user\",\"content\":\"Café crème, s'il vous plaît\"},"
    "{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"get_user_name\","
    "\"arguments\":\"{\\\"city\\\": \\\"北京大学\\\"}\"}}]},{\"role\":\"tool\",\"content\":\"module not found\"}]}",
    "{\"id\":\"r3\",\"data_id\":\"q2\",\"model\":\"m1\",\"reward\":0.5,\"is_success\":false,"
    "\"created_at\":3000,\"trajectory\":[{\"role\":\"user\",\"content\":\"found a module, not the error\"}]}",
    "{\"id\":\"r4\",\"data_id\":\"q2\",\"model\":\"m1\",\"reward\":1,\"is_success\":true,"
    "\"created_at\":4000,\"trajectory\":\"not an array: module\"}",
};

/*  A new shard file for each test. */
static void
s_fresh (void)
{
    static int n;
    snprintf (s_path, sizeof s_path, "%s/shard-%03d.kct", s_dir, n++);
}

static ts_store_t *
s_open (void)
{
    int err;
    char emsg [512];
    ts_store_t *st = ts_store_open (s_path, NULL, &err, emsg, sizeof emsg);
    if (!st)
        fail_msg ("open: %s", emsg);
    return st;
}

/*  A store tick that counts. */
static void
s_count_tick (void *arg)
{
    (*(unsigned *) arg)++;
}

/*  Commits lines [a, b) as one batch, text-indexed with `text` (NULL: not). */
static bool s_garbage;      /* s_put ends its batch with a record that does not decode */

static int
s_put (ts_store_t *st, size_t a, size_t b, uint64_t chunk, const char *text)
{
    ts_profile_t prof;
    char err [256];
    assert_int_equal (ts_profile_parse ("default", &prof, err, sizeof err), 0);
    ts_parser_t *ps = ts_parser_new (&prof);
    ts_buf_t form = { 0 }, recs = { 0 };
    for (size_t i = a; i < b; i++) {
        char line [2048];
        size_t len = strlen (s_lines [i]);
        memset (line, ' ', sizeof line);
        memcpy (line, s_lines [i], len);
        ts_summary_t s;
        char reason [256];
        form.size = 0;
        assert_int_equal (ts_parser_parse (ps, line, len, i + 1, 5000 + (int64_t) i, &form, &s,
                                           reason, sizeof reason), 0);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &recs, ts_buf_packer_write);
        msgpack_pack_bin (&pk, form.size);
        msgpack_pack_bin_body (&pk, form.data, form.size);
    }
    if (s_garbage) {
        msgpack_packer pk;
        msgpack_packer_init (&pk, &recs, ts_buf_packer_write);
        msgpack_pack_bin (&pk, 3);
        msgpack_pack_bin_body (&pk, "\x93\x01\x02", 3);
    }
    ts_batch_t bt = { .job = "js", .job_len = 2, .chunk = chunk, .records = recs.data,
                      .records_len = recs.size, .nrecords = (uint32_t) (b - a) + s_garbage,
                      .text = text, .text_len = text ? strlen (text) : 0 };
    ts_batch_result_t res;
    int rc = ts_store_put_batches (st, &bt, 1, &res);
    ts_buf_free (&form);
    ts_buf_free (&recs);
    ts_parser_destroy (&ps);
    return rc;
}

typedef struct {
    char out [2048];
    size_t len;
} s_hits_t;

static int
s_emit (void *arg, const ts_summary_t *s, const char *summary, size_t slen,
        const ts_search_hit_t *hit)
{
    (void) summary; (void) slen;
    s_hits_t *h = arg;
    h->len += (size_t) snprintf (h->out + h->len, sizeof h->out - h->len, "%.*s@%u[%.*s] ",
                                 (int) s->id_len, s->id, hit->step, (int) hit->snippet_len,
                                 hit->snippet);
    return 0;
}

/*  The hits of a query as "id@step[snippet] ...". */
static const char *
s_search (ts_store_t *st, const char *q, const ts_filter_t *f, ts_search_order_t order,
          uint32_t limit, bool *more)
{
    static s_hits_t h;
    memset (&h, 0, sizeof h);
    ts_search_query_t qq;
    char err [256];
    int rc = ts_search_parse (q, strlen (q), &qq, err, sizeof err);
    if (rc)
        fail_msg ("parse '%s': %s", q, err);
    ts_filter_t any;
    ts_filter_init (&any);
    bool m;
    assert_int_equal (ts_search_run (&st, 1, &qq, f ? f : &any, order, limit, s_emit, &h,
                                     more ? more : &m), 0);
    return h.out;
}

/*  Only the ids of the hits. */
static const char *
s_ids (ts_store_t *st, const char *q)
{
    static char out [256];
    const char *all = s_search (st, q, NULL, TS_SEARCH_NEWEST, 100, NULL);
    size_t n = 0;
    out [0] = 0;
    for (const char *p = all; *p; ) {
        const char *at = strchr (p, '@');
        n += (size_t) snprintf (out + n, sizeof out - n, "%.*s ", (int) (at - p), p);
        int depth = 0;
        for (p = at; *p; p++) {
            if (*p == '[') depth++;
            if (*p == ']' && --depth == 0) break;
        }
        p += 2;
    }
    return out;
}

static int
s_setup (void **state)
{
    (void) state;
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/test_search.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp (s_dir))
        return -1;
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    char cmd [400];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    return system (cmd);
}

static void
s_check_ok (ts_store_t *st, uint64_t indexed)
{
    ts_check_report_t rep;
    int rc = ts_check_store (st, &rep);
    if (rc)
        fail_msg ("check: %d: %s", rc, rep.first_problem);
    assert_int_equal (rep.text_indexed, indexed);
}

static void
test_queries (void **state)
{
    (void) state;
    s_fresh ();
    ts_store_t *st = s_open ();
    assert_int_equal (s_put (st, 0, 2, 0, "/trajectory"), 0);
    assert_int_equal (s_put (st, 2, 4, 1, "/nothere|/trajectory"), 0);

    assert_string_equal (s_ids (st, "module"), "r3 r2 r1 ");   /* newest first */
    assert_string_equal (s_ids (st, "MODULE found"), "r3 r2 r1 ");
    assert_string_equal (s_ids (st, "\"module not found\""), "r2 r1 ");  /* r1 via the identifier */
    assert_string_equal (s_ids (st, "\"not found\" error"), "r1 ");
    assert_string_equal (s_ids (st, "ModuleNotFoundError"), "r1 ");
    assert_string_equal (s_ids (st, "modulenotfounderror numpy"), "r1 ");
    assert_string_equal (s_ids (st, "cafe"), "r2 ");
    assert_string_equal (s_ids (st, "CAFÉ Crème"), "r2 ");
    assert_string_equal (s_ids (st, "北京"), "r2 ");
    assert_string_equal (s_ids (st, "北京大学"), "r2 ");
    assert_string_equal (s_ids (st, "京学"), "");
    assert_string_equal (s_ids (st, "get_user_name"), "r2 ");
    assert_string_equal (s_ids (st, "user"), "r3 r2 r1 ");   /* "user" is a role: a value */
    assert_string_equal (s_ids (st, "city"), "r2 ");      /* a key inside an argument string */
    assert_string_equal (s_ids (st, "role"), "");         /* map keys are not text */
    assert_string_equal (s_ids (st, "array"), "");        /* r4's steps are not an array */
    assert_string_equal (s_ids (st, "zebra"), "");
    assert_string_equal (s_ids (st, "module zebra"), "");

    /* steps and snippets */
    assert_string_equal (s_search (st, "numpy", NULL, TS_SEARCH_NEWEST, 10, NULL),
                         "r1@0[import numpy fails] ");
    assert_string_equal (s_search (st, "\"no module\"", NULL, TS_SEARCH_NEWEST, 10, NULL),
                         "r1@1[ModuleNotFoundError: No module named numpy] ");
    assert_string_equal (s_search (st, "北京大学", NULL, TS_SEARCH_NEWEST, 10, NULL),
                         "r2@1[{\"city\": \"北京大学\"}] ");

    /* filters, limits, relevance */
    ts_filter_t f;
    ts_filter_init (&f);
    f.model = "m1";
    f.model_len = 2;
    assert_string_equal (s_search (st, "module", &f, TS_SEARCH_NEWEST, 10, NULL),
                         "r3@0[found a module, not the error] r1@1[ModuleNotFoundError: No module named numpy] ");
    bool more = false;
    s_search (st, "module", NULL, TS_SEARCH_NEWEST, 2, &more);
    assert_true (more);
    s_search (st, "module", NULL, TS_SEARCH_NEWEST, 3, &more);
    assert_false (more);
    const char *rel = s_search (st, "module found", NULL, TS_SEARCH_RELEVANCE, 10, NULL);
    assert_true (strstr (rel, "r1@") && strstr (rel, "r2@") && strstr (rel, "r3@"));

    s_check_ok (st, 4);
    ts_store_destroy (&st);
}

/*  Postings wait in memory across commits and reach the tree in the pass
 *  as one segment (F seg8 term, seg8 its first record's sequence); a
 *  search makes the pass first; a process that ends before the pass
 *  leaves them to be read back from the records at the next open. */
static void
test_segments (void **state)
{
    (void) state;
    s_fresh ();
    ts_store_t *st = s_open ();
    assert_int_equal (s_put (st, 0, 1, 0, "/trajectory"), 0);
    assert_int_equal (ts_store_flush_ids (st), 0);                  /* segment 1: r1 */
    assert_int_equal (s_put (st, 1, 2, 1, "/trajectory"), 0);       /* r2 waits */
    assert_string_equal (s_ids (st, "cafe"), "r2 ");                /* a pass first: segment 2 */
    ts_store_destroy (&st);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {                     /* r3 and r4 committed, their postings waiting */
        st = s_open ();
        _exit (s_put (st, 2, 4, 2, "/trajectory") == 0 ? 0 : 11);
    }
    int status;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    st = s_open ();                     /* r3's postings read back from the record */
    assert_string_equal (s_ids (st, "module"), "r3 r2 r1 ");
    assert_string_equal (s_ids (st, "numpy"), "r1 ");               /* the first segment only */
    assert_string_equal (s_ids (st, "cafe"), "r2 ");                /* the middle one */
    assert_string_equal (s_ids (st, "error found"), "r3 r1 ");
    assert_string_equal (s_ids (st, "\"module not found\""), "r2 r1 ");
    assert_string_equal (s_ids (st, "zebra"), "");
    char key [32];
    ts_buf_t v = { 0 };
    for (uint64_t seg = 1; seg <= 4; seg++) {
        size_t n = ts_key_text_segment (key, seg);
        memcpy (key + n, "module", 6);
        v.size = 0;
        /* r4's steps are not an array: marked, no postings */
        assert_int_equal (ts_store_get_raw (st, key, n + 6, &v), seg < 4 ? 0 : TS_ENOTFOUND);
    }
    ts_buf_free (&v);
    s_check_ok (st, 4);
    ts_store_destroy (&st);
}

/*  The last hit of a page, for its cursor, and the ids of the pages. */
typedef struct {
    char     ids [256];
    size_t   len;
    char     last [64];
    uint32_t last_len;
    double   score;
    int64_t  time;
} s_page_t;

static int
s_page_emit (void *arg, const ts_summary_t *s, const char *summary, size_t slen,
             const ts_search_hit_t *hit)
{
    (void) summary; (void) slen;
    s_page_t *pg = arg;
    pg->len += (size_t) snprintf (pg->ids + pg->len, sizeof pg->ids - pg->len, "%.*s ",
                                  (int) s->id_len, s->id);
    memcpy (pg->last, s->id, s->id_len);
    pg->last_len = s->id_len;
    pg->score = hit->score;
    pg->time = hit->time;
    return 0;
}

/*  A search request map {"q", "order", "limit", ["after"]} decoded by
 *  ts_search_request: its code (err gets the message). */
static int
s_request (const char *q, const char *order, uint32_t limit, const char *after,
           ts_listing_t *l, ts_search_query_t *qq, ts_search_order_t *o, char *err, size_t esz)
{
    ts_buf_t b = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &b, ts_buf_packer_write);
    msgpack_pack_map (&pk, after ? 4 : 3);
    ts_mp_pack_cstr (&pk, "q");      ts_mp_pack_cstr (&pk, q);
    ts_mp_pack_cstr (&pk, "order");  ts_mp_pack_cstr (&pk, order);
    ts_mp_pack_cstr (&pk, "limit");  msgpack_pack_uint32 (&pk, limit);
    if (after) {
        ts_mp_pack_cstr (&pk, "after");
        ts_mp_pack_cstr (&pk, after);
    }
    int rc = ts_search_request (l, b.data, b.size, qq, o, err, esz);
    ts_buf_free (&b);
    return rc;
}

/*  Every hit of q, one page of `limit` at a time through "after": the ids. */
static const char *
s_paged (ts_store_t *st, const char *q, const char *order, uint32_t limit)
{
    static s_page_t pg;
    memset (&pg, 0, sizeof pg);
    ts_listing_t *l = malloc (sizeof *l);
    ts_search_query_t *qq = malloc (sizeof *qq);
    assert_non_null (l);
    assert_non_null (qq);
    char cur [TS_SEARCH_CURSOR_MAX], err [256];
    bool more = true, first = true;
    for (int pages = 0; more; pages++) {
        assert_true (pages < 10);
        ts_search_order_t o;
        if (s_request (q, order, limit, first ? NULL : cur, l, qq, &o, err, sizeof err))
            fail_msg ("page %d: %s", pages, err);
        size_t before = pg.len;
        assert_int_equal (ts_search_run (&st, 1, qq, &l->filter, o, l->limit, s_page_emit, &pg,
                                         &more), 0);
        assert_true (pg.len > before || !more);
        assert_int_equal (ts_search_cursor (qq, o, pg.score, pg.time, pg.last, pg.last_len,
                                            cur, sizeof cur), 0);
        first = false;
    }
    free (l);
    free (qq);
    return pg.ids;
}

/*  "after": pages of one hit, then two, give every hit once in order; a
 *  cursor of another search, or garbled, is refused naming the field. */
static void
test_pages (void **state)
{
    (void) state;
    s_fresh ();
    ts_store_t *st = s_open ();
    assert_int_equal (s_put (st, 0, 2, 0, "/trajectory"), 0);
    assert_int_equal (s_put (st, 2, 4, 1, "/nothere|/trajectory"), 0);
    assert_string_equal (s_paged (st, "module", "newest", 1), "r3 r2 r1 ");
    assert_string_equal (s_paged (st, "module", "newest", 2), "r3 r2 r1 ");
    char all [256];
    snprintf (all, sizeof all, "%s", s_paged (st, "module found", "relevance", 100));
    assert_string_equal (s_paged (st, "module found", "relevance", 1), all);

    ts_listing_t *l = malloc (sizeof *l);
    ts_search_query_t *qq = malloc (sizeof *qq);
    ts_search_order_t o;
    char cur [TS_SEARCH_CURSOR_MAX], err [256];
    assert_int_equal (s_request ("module", "newest", 1, NULL, l, qq, &o, err, sizeof err), 0);
    assert_int_equal (ts_search_cursor (qq, o, 0, 5, "r2", 2, cur, sizeof cur), 0);
    assert_int_equal (s_request ("module", "newest", 1, cur, l, qq, &o, err, sizeof err), 0);
    assert_true (qq->has_after && qq->after_time == 5 && qq->after_id_len == 2);
    assert_int_equal (s_request ("numpy", "newest", 1, cur, l, qq, &o, err, sizeof err),
                      TS_EBADREQ);
    assert_non_null (strstr (err, "\"after\""));
    assert_int_equal (s_request ("module", "relevance", 1, cur, l, qq, &o, err, sizeof err),
                      TS_EBADREQ);
    cur [strlen (cur) - 1] = 'x';
    assert_int_equal (s_request ("module", "newest", 1, cur, l, qq, &o, err, sizeof err),
                      TS_EBADREQ);
    assert_int_equal (s_request ("module", "newest", 1, "s1.", l, qq, &o, err, sizeof err),
                      TS_EBADREQ);
    free (l);
    free (qq);
    ts_store_destroy (&st);
}

/*  The shard at s_path opened with Kyoto Cabinet alone. */
static KCDB *
s_kc_open (uint32_t mode)
{
    KCDB *db = kcdbnew ();
    if (!tu_kc_open (db, s_path, mode))
        fail_msg ("kcdbopen %s: %s", s_path, kcdbemsg (db));
    return db;
}

/*  Rewrites the shard at s_path as the previous key layout (7) left it:
 *  each postings entry F seg8 term as F term 0x00 seq8 (that release's key,
 *  one a term a commit; the values stay in the new shape, which the
 *  migration does not read: it re-tokenizes the records), no segment
 *  times (F seg8), 'V' 7; `half`: as if a migration had been interrupted, one entry
 *  in the new shape with a value that decodes to nothing right. */
static void
s_make_layout7 (bool half)
{
    KCDB *db = s_kc_open (KCOWRITER);
    KCCUR *cur = kcdbcursor (db);
    char tag = TS_TAG_TEXT;
    ts_buf_t old = { 0 };               /* key length, key, value length, value */
    size_t n = 0;
    bool more = kccurjumpkey (cur, &tag, 1);
    while (more) {
        size_t klen, vlen;
        const char *v;
        char *k = kccurget (cur, &klen, &v, &vlen, false);
        if (!k || k [0] != TS_TAG_TEXT) {
            kcfree (k);
            break;
        }
        if (klen == 9) {                /* a segment's times: layout 7 had none */
            kcfree (k);
            more = kccurremove (cur);
            continue;
        }
        char key [128];
        key [0] = TS_TAG_TEXT;
        memcpy (key + 1, k + 9, klen - 9);
        key [klen - 8] = 0;
        memcpy (key + klen - 7, k + 1, 8);
        uint32_t h [2] = { (uint32_t) klen + 1, (uint32_t) vlen };
        assert_int_equal (ts_buf_append (&old, h, sizeof h), 0);
        assert_int_equal (ts_buf_append (&old, key, klen + 1), 0);
        assert_int_equal (ts_buf_append (&old, v, vlen), 0);
        kcfree (k);
        more = kccurremove (cur);
        n++;
    }
    kccurdel (cur);
    assert_true (n > 10);
    for (size_t off = 0; off < old.size; ) {
        uint32_t h [2];
        memcpy (h, old.data + off, sizeof h);
        assert_true (kcdbset (db, old.data + off + sizeof h, h [0],
                              old.data + off + sizeof h + h [0], h [1]));
        off += sizeof h + h [0] + h [1];
    }
    if (half) {
        char key [32];
        size_t klen = ts_key_text_segment (key, 2);
        memcpy (key + klen, "module", 6);
        assert_true (kcdbset (db, key, klen + 6, "\x05\x01\x02", 3));
    }
    char v7 [8];
    ts_key_put_i64 (v7, 7);
    assert_true (kcdbset (db, "V", 1, v7, 8));
    assert_true (kcdbclose (db));
    kcdbdel (db);
    ts_buf_free (&old);
}

/*  A shard of layout 7 (postings F term 0x00 seq8) opened for writing:
 *  its postings are removed and written again as segments, once, and
 *  'V' says 8; an interrupted migration (V still 7, some new entries)
 *  starts over, and records from 'O' on (a crash left their entries
 *  waiting) are read back as after a crash. The hits are those of the
 *  freshly indexed shard. */
static void
test_layout7_migrated (void **state)
{
    (void) state;
    static const char *queries [] = {
        "module", "\"module not found\"", "numpy", "cafe", "北京大学", "error found", "user",
        "get_user_name", "zebra"
    };
    enum { NQ = sizeof queries / sizeof queries [0] };
    char want [NQ][256];
    for (int half = 0; half < 2; half++) {
        s_fresh ();
        ts_store_t *st = s_open ();
        for (size_t i = 0; i < (half ? 2 : 4); i++) {   /* one record a segment, */
            assert_int_equal (s_put (st, i, i + 1, i, "/trajectory"), 0);    /* as a commit */
            assert_int_equal (ts_store_flush_ids (st), 0);
        }
        if (!half) {
            for (size_t q = 0; q < NQ; q++)
                snprintf (want [q], sizeof want [q], "%s", s_ids (st, queries [q]));
            assert_string_equal (want [0], "r3 r2 r1 ");
        }
        ts_store_destroy (&st);
        pid_t pid = half ? fork () : 1;
        assert_true (pid >= 0);
        if (pid == 0) {                 /* r3 and r4 from 'O' on, their postings waiting */
            st = s_open ();
            _exit (s_put (st, 2, 4, 2, "/trajectory") == 0 ? 0 : 11);
        }
        int status;
        if (half) {
            assert_int_equal (waitpid (pid, &status, 0), pid);
            assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        }
        s_make_layout7 (half);
        /* the migration ticks: a worker's heartbeat goes on through it */
        unsigned ticks = 0;
        int err;
        char emsg [512];
        st = ts_store_open_ticking (s_path, NULL, s_count_tick, &ticks, &err, emsg, sizeof emsg);
        if (!st)
            fail_msg ("open: %s", emsg);
        assert_true (ticks >= 4);                       /* a record re-tokenized, a tick */
        for (size_t q = 0; q < NQ; q++)
            assert_string_equal (s_ids (st, queries [q]), want [q]);
        s_check_ok (st, 4);
        ts_store_destroy (&st);
        KCDB *db = s_kc_open (KCOREADER);
        char v [8];
        assert_int_equal (kcdbgetbuf (db, "V", 1, v, sizeof v), 8);
        assert_int_equal (ts_key_get_i64 (v), TS_KEY_LAYOUT);
        assert_int_equal (TS_KEY_LAYOUT, 8);
        kcdbclose (db);
        kcdbdel (db);
    }
}

static void
test_not_indexed_and_rollback (void **state)
{
    (void) state;
    s_fresh ();
    ts_store_t *st = s_open ();
    assert_int_equal (s_put (st, 0, 2, 0, NULL), 0);            /* --no-text-index */
    assert_string_equal (s_ids (st, "module"), "");
    assert_int_equal (s_put (st, 2, 3, 1, "/trajectory"), 0);
    assert_string_equal (s_ids (st, "module"), "r3 ");
    s_check_ok (st, 1);
    /* a replayed batch adds nothing */
    assert_int_equal (s_put (st, 2, 3, 1, "/trajectory"), 0);
    s_check_ok (st, 1);
    /* a commit that fails leaves no postings (nor marks) behind */
    s_garbage = true;
    assert_int_equal (s_put (st, 0, 2, 2, "/trajectory"), TS_ECORRUPT);
    s_garbage = false;
    assert_string_equal (s_ids (st, "module"), "r3 ");
    assert_string_equal (s_ids (st, "numpy"), "");
    s_check_ok (st, 1);
    /* r1 and r2 were stored without the index: again, they are duplicates
     * and stay unindexed (the copy stored first stays) */
    assert_int_equal (s_put (st, 0, 2, 2, "/trajectory"), 0);
    assert_string_equal (s_ids (st, "module"), "r3 ");
    s_check_ok (st, 1);
    ts_store_destroy (&st);

    /* the same with postings waiting for the pass when the commit fails:
     * they stay, those of the failed commit go */
    s_fresh ();
    st = s_open ();
    assert_int_equal (s_put (st, 2, 3, 1, "/trajectory"), 0);  /* r3 waits */
    s_garbage = true;
    assert_int_equal (s_put (st, 0, 2, 2, "/trajectory"), TS_ECORRUPT);
    s_garbage = false;
    /* r4 takes the sequence r1 had in the failed commit */
    assert_int_equal (s_put (st, 3, 4, 3, "/trajectory"), 0);
    assert_string_equal (s_ids (st, "module"), "r3 ");
    assert_string_equal (s_ids (st, "numpy"), "");
    s_check_ok (st, 2);
    ts_store_destroy (&st);
}

static void
test_check_finds (void **state)
{
    (void) state;
    s_fresh ();
    ts_store_t *st = s_open ();
    assert_int_equal (s_put (st, 0, 3, 0, "/trajectory"), 0);
    ts_store_destroy (&st);
    /* remove one term's postings behind the store's back */
    KCDB *db = kcdbnew ();
    assert_true (tu_kc_open (db, s_path, KCOWRITER));
    char key [32];
    size_t n = ts_key_text_segment (key, 1);     /* the one commit's segment */
    memcpy (key + n, "numpy", 5);
    assert_true (kcdbremove (db, key, n + 5));
    kcdbclose (db);
    kcdbdel (db);
    st = s_open ();
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (st, &rep), TS_EINCONSISTENT);
    assert_non_null (strstr (rep.first_problem, "postings disagree"));
    ts_store_destroy (&st);
    /* the segment's times (F seg8): one record's moved, then none */
    for (int gone = 0; gone < 2; gone++) {
        s_fresh ();
        st = s_open ();
        assert_int_equal (s_put (st, 0, 3, 0, "/trajectory"), 0);
        ts_store_destroy (&st);
        db = kcdbnew ();
        assert_true (tu_kc_open (db, s_path, KCOWRITER));
        n = ts_key_text_segment (key, 1);
        size_t vlen;
        char *v = kcdbget (db, key, n, &vlen);
        assert_non_null (v);
        search_times_t t = { 0 };
        assert_int_equal (search_times_decode ((const uint8_t *) v, (const uint8_t *) v + vlen, 1,
                                               &t), 0);
        kcfree (v);
        assert_int_equal (t.n, 3);
        ts_buf_t moved = { 0 };
        for (size_t i = 0; i < t.n; i++) {
            assert_int_equal (search_put_varint (&moved, t.at [i].seq - (i ? t.at [i - 1].seq : 1)), 0);
            int64_t d = t.at [i].time - (i ? t.at [i - 1].time : 0) + (i == 1);
            assert_int_equal (search_put_varint (&moved, search_zz (d)), 0);
        }
        search_times_free (&t);
        assert_true (gone ? kcdbremove (db, key, n) : kcdbset (db, key, n, moved.data, moved.size));
        ts_buf_free (&moved);
        kcdbclose (db);
        kcdbdel (db);
        st = s_open ();
        assert_int_equal (ts_check_store (st, &rep), TS_EINCONSISTENT);
        assert_non_null (strstr (rep.first_problem, gone ? "has postings but no times"
                                                         : "times disagree"));
        /* a search of a segment without its times is refused, not unordered */
        if (gone) {
            ts_search_query_t q;
            char err [256];
            assert_int_equal (ts_search_parse ("module", 6, &q, err, sizeof err), 0);
            ts_filter_t any;
            ts_filter_init (&any);
            static s_hits_t h;
            bool more;
            assert_int_equal (ts_search_run (&st, 1, &q, &any, TS_SEARCH_NEWEST, 20, s_emit, &h,
                                             &more), TS_ECORRUPT);
        }
        ts_store_destroy (&st);
    }
}

static void
test_parse (void **state)
{
    (void) state;
    ts_search_query_t q;
    char err [256];
    assert_int_equal (ts_search_parse ("", 0, &q, err, sizeof err), TS_EINVAL);
    assert_non_null (strstr (err, "no word"));
    assert_int_equal (ts_search_parse ("\"open", 5, &q, err, sizeof err), TS_EINVAL);
    assert_non_null (strstr (err, "unclosed quote"));
    assert_int_equal (ts_search_parse ("!!! ...", 7, &q, err, sizeof err), TS_EINVAL);
    const char *two = "a \"b c\" 北京大学";
    assert_int_equal (ts_search_parse (two, strlen (two), &q, err, sizeof err), 0);
    assert_int_equal (q.nclauses, 3);
    assert_int_equal (q.clauses [1].n, 2);
    assert_int_equal (q.clauses [2].n, 3);
    assert_int_equal (q.terms [q.clauses [2].first + 2].rel, 2);
    /* a CJK run right after a word is a clause of its own */
    const char *mixed = "error 北京大学";
    assert_int_equal (ts_search_parse (mixed, strlen (mixed), &q, err, sizeof err), 0);
    assert_int_equal (q.nclauses, 2);
    assert_int_equal (q.clauses [0].n, 1);
    assert_int_equal (q.clauses [1].n, 3);
    char many [400] = "";
    for (int i = 0; i < 40; i++)
        strcat (many, "w ");
    assert_int_equal (ts_search_parse (many, strlen (many), &q, err, sizeof err), TS_EINVAL);
}

/*  What the profile says is indexed: its steps pointers, none with notext=1
 *  (import --no-text-index) or without a steps pointer (verl); notext
 *  survives the spec's round trip. */
static void
test_profile_text (void **state)
{
    (void) state;
    ts_profile_t p;
    char err [256], buf [TS_TEXT_SPEC_MAX], spec [TS_PROFILE_SPEC_MAX];
    assert_int_equal (ts_profile_parse ("tau", &p, err, sizeof err), 0);
    assert_int_equal (ts_profile_text_spec (&p, buf, sizeof buf), (int) strlen ("/traj|/messages"));
    assert_string_equal (buf, "/traj|/messages");
    assert_int_equal (ts_profile_parse ("default,notext=1", &p, err, sizeof err), 0);
    assert_int_equal (ts_profile_text_spec (&p, buf, sizeof buf), 0);
    assert_int_equal (ts_profile_format (&p, spec, sizeof spec), 0);
    assert_non_null (strstr (spec, "notext=1"));
    assert_int_equal (ts_profile_parse ("verl", &p, err, sizeof err), 0);
    assert_int_equal (ts_profile_text_spec (&p, buf, sizeof buf), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_parse),
        cmocka_unit_test (test_profile_text),
        cmocka_unit_test (test_queries),
        cmocka_unit_test (test_segments),
        cmocka_unit_test (test_pages),
        cmocka_unit_test (test_layout7_migrated),
        cmocka_unit_test (test_not_indexed_and_rollback),
        cmocka_unit_test (test_check_finds),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
