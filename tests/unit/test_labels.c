/*  test_labels.c: labels on one shard (ts_labels.h): label forms travel in
 *  batches beside records; the history is append-only and the latest entry
 *  counts; the index follows it; a label of an unknown record is refused
 *  with its line (also when its batch is replayed); setting the value a key
 *  has is a duplicate; a label and its record in one commit; the checker
 *  finds an index entry gone or added; dropping a run takes its records'
 *  labels; a label line is read from its JSON
 *  object. Checked against an oracle of random operations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ts_check.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_labels.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_query.h"
#include "ts_request.h"
#include "ts_store.h"
#include "test_util.h"

#include <ftw.h>
#include <kclangc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir [256], path [300];
    ts_store_t *store;
    ts_parser_t *parser;
    ts_buf_t batch, form;
    uint32_t n;
} s_env_t;

static int
s_setup (void **state)
{
    s_env_t *env = calloc (1, sizeof *env);
    snprintf (env->dir, sizeof env->dir, "/tmp/test_labels_XXXXXX");
    if (!mkdtemp (env->dir))
        return -1;
    snprintf (env->path, sizeof env->path, "%s/shard.kct", env->dir);
    ts_profile_t prof;
    char perr [128];
    if (ts_profile_parse ("default", &prof, perr, sizeof perr) || !(env->parser = ts_parser_new (&prof)))
        return -1;
    int err;
    char emsg [256];
    env->store = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
    if (!env->store)
        return -1;
    *state = env;
    return 0;
}

static int
s_teardown (void **state)
{
    s_env_t *env = *state;
    ts_store_destroy (&env->store);
    ts_parser_destroy (&env->parser);
    ts_buf_free (&env->batch);
    ts_buf_free (&env->form);
    tu_rmtree (env->dir);
    free (env);
    return 0;
}

static void
s_bin (s_env_t *env, const char *p, size_t len)
{
    msgpack_packer pk;
    msgpack_packer_init (&pk, &env->batch, ts_buf_packer_write);
    assert_int_equal (msgpack_pack_bin (&pk, len), 0);
    assert_int_equal (msgpack_pack_bin_body (&pk, p, len), 0);
    env->n++;
}

static void
s_add_record (s_env_t *env, const char *id, double reward)
{
    char line [256 + TS_PARSE_PADDING] = { 0 };
    int len = snprintf (line, 256, "{\"id\":\"%s\",\"data_id\":\"g\",\"reward\":%g}", id, reward);
    ts_summary_t s;
    char reason [128];
    env->form.size = 0;
    assert_int_equal (ts_parser_parse (env->parser, line, (size_t) len, 1, 1000, &env->form, &s,
                                       reason, sizeof reason), 0);
    s_bin (env, env->form.data, env->form.size);
}

static void
s_add_label (s_env_t *env, const char *id, const char *key, const char *value, uint64_t line)
{
    ts_label_t l = { .id = id, .id_len = (uint32_t) strlen (id), .key = key,
                     .key_len = (uint32_t) strlen (key), .value = value,
                     .value_len = value ? (uint32_t) strlen (value) : 0, .author = "tester",
                     .author_len = 6, .time_ms = 5000 + (int64_t) line, .line = line };
    char why [128];
    assert_int_equal (ts_label_check (&l, why, sizeof why), 0);
    env->form.size = 0;
    assert_int_equal (ts_label_pack (&env->form, &l), 0);
    assert_true (ts_label_is_form (env->form.data, env->form.size));
    s_bin (env, env->form.data, env->form.size);
}

static int
s_commit (s_env_t *env, const char *job, uint64_t chunk, ts_batch_result_t *res)
{
    ts_batch_t b = { .job = job, .job_len = strlen (job), .chunk = chunk,
                     .records = env->batch.data, .records_len = env->batch.size,
                     .nrecords = env->n };
    int rc = ts_store_put_batches (env->store, &b, 1, res);
    env->batch.size = 0;
    env->n = 0;
    return rc;
}

/*  The current value of key on id, or NULL (never set, or removed). */
static const char *
s_value (s_env_t *env, const char *id, const char *key, char *out)
{
    ts_buf_t buf = { 0 };
    const char *v;
    uint32_t vl;
    int rc = ts_store_label_get (env->store, id, strlen (id), key, strlen (key), &buf, &v, &vl);
    const char *r = NULL;
    if (rc == 0 && v) {
        memcpy (out, v, vl);
        out [vl] = 0;
        r = out;
    }
    else if (rc != TS_ENOTFOUND)
        assert_int_equal (rc, 0);
    ts_buf_free (&buf);
    return r;
}

typedef struct {
    uint64_t n;
    char last_id [64];
} s_count_t;

static int
s_count (void *arg, const char *key, size_t key_len, const char *value, size_t value_len,
         const char *id, size_t id_len, const char *summary, size_t summary_len)
{
    (void) key; (void) key_len; (void) value; (void) value_len;
    s_count_t *c = arg;
    ts_summary_t s;
    assert_int_equal (ts_summary_unpack_buf (summary, summary_len, &s, NULL), 0);
    assert_int_equal (s.id_len, id_len);
    assert_memory_equal (s.id, id, id_len);
    c->n++;
    snprintf (c->last_id, sizeof c->last_id, "%.*s", (int) id_len, id);
    return 0;
}

static uint64_t
s_index_count (s_env_t *env, const char *key, const char *value)
{
    s_count_t c = { 0 };
    assert_int_equal (ts_store_label_index_scan (env->store, key, key ? strlen (key) : 0, value,
                                                 value ? strlen (value) : 0, s_count, &c), 0);
    return c.n;
}

static void
s_check_clean (s_env_t *env, uint64_t labels)
{
    ts_check_report_t rep;
    int rc = ts_check_store (env->store, &rep);
    if (rc)
        fail_msg ("check: %d %s", rc, rep.first_problem);
    assert_int_equal (rep.labels, labels);
}

static void
test_set_get_remove (void **state)
{
    s_env_t *env = *state;
    ts_batch_result_t r;
    char v [600];
    s_add_record (env, "r1", 0.5);
    s_add_record (env, "r2", 1.0);
    assert_int_equal (s_commit (env, "job", 0, &r), 0);
    assert_int_equal (r.imported, 2);

    s_add_label (env, "r1", "verdict", "fail", 1);
    s_add_label (env, "r2", "verdict", "pass", 2);
    s_add_label (env, "nope", "verdict", "pass", 3);        /* unknown id */
    s_add_label (env, "r1", "note", "", 4);                 /* empty value */
    s_add_label (env, "r1", "verdict", "tool_misuse", 5);   /* same commit, later */
    s_add_label (env, "r2", "verdict", "pass", 6);          /* duplicate */
    s_add_label (env, "r2", "gone", NULL, 7);               /* removing what is not there */
    assert_int_equal (s_commit (env, "lab", 0, &r), 0);
    assert_int_equal (r.imported, 4);
    assert_int_equal (r.duplicates, 2);
    assert_int_equal (r.unknown, 1);
    /* the refused one is named with its line */
    ts_mp_reader_t rd;
    uint32_t two, idl;
    uint64_t line;
    const char *id;
    ts_mp_reader_init (&rd, ts_store_unknown_labels (env->store) + r.unknown_off, r.unknown_len);
    assert_int_equal (ts_mp_read_array (&rd, &two), 0);
    assert_int_equal (ts_mp_read_uint (&rd, &line), 0);
    assert_int_equal (ts_mp_read_str (&rd, &id, &idl), 0);
    assert_int_equal (line, 3);
    assert_memory_equal (id, "nope", 4);

    /* a replay: the same counts and the same refused line, nothing written */
    s_add_label (env, "r1", "verdict", "other", 1);
    assert_int_equal (s_commit (env, "lab", 0, &r), 0);
    assert_true (r.replayed);
    assert_int_equal (r.imported, 4);
    assert_int_equal (r.unknown, 1);
    assert_true (r.unknown_len > 0);
    assert_string_equal (s_value (env, "r1", "verdict", v), "tool_misuse");
    assert_string_equal (s_value (env, "r1", "note", v), "");
    assert_string_equal (s_value (env, "r2", "verdict", v), "pass");
    assert_null (s_value (env, "r2", "gone", v));
    assert_int_equal (s_index_count (env, "verdict", NULL), 2);
    assert_int_equal (s_index_count (env, "verdict", "fail"), 0);
    assert_int_equal (s_index_count (env, "verdict", "tool_misuse"), 1);
    assert_int_equal (s_index_count (env, NULL, NULL), 3);
    s_check_clean (env, 3);

    /* removal is one more entry; the history keeps all */
    s_add_label (env, "r1", "verdict", NULL, 1);
    assert_int_equal (s_commit (env, "lab2", 0, &r), 0);
    assert_int_equal (r.imported, 1);
    assert_null (s_value (env, "r1", "verdict", v));
    assert_int_equal (s_index_count (env, "verdict", NULL), 1);
    ts_buf_t out = { 0 };
    uint32_t n;
    assert_int_equal (ts_store_labels_of (env->store, "r1", 2, true, &out, &n), 0);
    assert_int_equal (n, 4);                /* note, fail, tool_misuse, removal */
    out.size = 0;
    assert_int_equal (ts_store_labels_of (env->store, "r1", 2, false, &out, &n), 0);
    assert_int_equal (n, 1);                /* note */
    ts_buf_free (&out);
    s_check_clean (env, 2);

    /* a label and its record in one commit */
    s_add_record (env, "r3", 0.25);
    s_add_label (env, "r3", "verdict", "fail", 1);
    assert_int_equal (s_commit (env, "mix", 0, &r), 0);
    assert_int_equal (r.imported, 2);
    assert_string_equal (s_value (env, "r3", "verdict", v), "fail");
    s_check_clean (env, 3);

    /* survives a reopen */
    ts_store_destroy (&env->store);
    int err;
    char emsg [256];
    env->store = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
    assert_non_null (env->store);
    assert_string_equal (s_value (env, "r3", "verdict", v), "fail");
    s_check_clean (env, 3);
}

/*  Dropping a run takes its records' labels with them: every history
 *  entry, and the index entry of each key's latest value (a removed key
 *  has none); the labels of the other run stay. */
static void
test_drop_forgets_labels (void **state)
{
    s_env_t *env = *state;
    ts_batch_result_t r;
    char v [600];
    ts_parser_t *keep = env->parser;
    const char *runs [2] = { "keep", "gone" }, *ids [2] = { "k1", "d1" };
    for (int i = 0; i < 2; i++) {
        ts_profile_t prof;
        char spec [64], perr [128];
        snprintf (spec, sizeof spec, "default,run=%s", runs [i]);
        assert_int_equal (ts_profile_parse (spec, &prof, perr, sizeof perr), 0);
        env->parser = ts_parser_new (&prof);
        assert_non_null (env->parser);
        s_add_record (env, ids [i], 0.5);
        ts_parser_destroy (&env->parser);
    }
    env->parser = keep;
    assert_int_equal (s_commit (env, "recs", 0, &r), 0);
    s_add_label (env, "k1", "verdict", "fail", 1);
    s_add_label (env, "d1", "verdict", "fail", 2);
    s_add_label (env, "d1", "note", "x", 3);
    assert_int_equal (s_commit (env, "lab", 0, &r), 0);
    s_add_label (env, "d1", "verdict", "pass", 1);
    s_add_label (env, "d1", "note", NULL, 2);
    assert_int_equal (s_commit (env, "lab2", 0, &r), 0);
    s_check_clean (env, 2);

    uint64_t dropped;
    assert_int_equal (ts_store_drop_run (env->store, "gone", 4, 0, &dropped), 0);
    assert_int_equal (dropped, 1);
    ts_buf_t out = { 0 };
    uint32_t n;
    assert_int_equal (ts_store_labels_of (env->store, "d1", 2, true, &out, &n), 0);
    assert_int_equal (n, 0);                /* no history entry left */
    assert_null (s_value (env, "d1", "verdict", v));
    assert_int_equal (s_index_count (env, NULL, NULL), 1);
    assert_int_equal (s_index_count (env, "verdict", "fail"), 1);
    assert_int_equal (s_index_count (env, "verdict", "pass"), 0);
    assert_string_equal (s_value (env, "k1", "verdict", v), "fail");
    out.size = 0;
    assert_int_equal (ts_store_labels_of (env->store, "k1", 2, true, &out, &n), 0);
    assert_int_equal (n, 1);
    s_check_clean (env, 1);
    ts_buf_free (&out);
}

static void
test_check_finds_damage (void **state)
{
    s_env_t *env = *state;
    ts_batch_result_t r;
    s_add_record (env, "x1", 0.5);
    s_add_label (env, "x1", "k", "v", 1);
    assert_int_equal (s_commit (env, "j", 0, &r), 0);
    s_check_clean (env, 1);
    ts_store_destroy (&env->store);
    /* remove the index entry behind the store's back */
    KCDB *db = kcdbnew ();
    assert_true (tu_kc_open (db, env->path, KCOWRITER));
    char key [TS_KEY_MAX];
    size_t klen = ts_key_label_index_prefix (key, "k", 1, "v", 1);
    memcpy (key + klen, "x1", 2);
    assert_true (kcdbremove (db, key, klen + 2));
    klen = ts_key_label_index_prefix (key, "k", 1, "w", 1);
    memcpy (key + klen, "x1", 2);
    assert_true (kcdbset (db, key, klen + 2, "", 0));
    kcdbclose (db);
    kcdbdel (db);
    int err;
    char emsg [256];
    env->store = ts_store_open (env->path, NULL, &err, emsg, sizeof emsg);
    ts_check_report_t rep;
    assert_int_equal (ts_check_store (env->store, &rep), TS_EINCONSISTENT);
    assert_int_equal (rep.problems, 2);
    assert_non_null (strstr (rep.first_problem, "no label index entry"));
}

/*  Random sets and removals against an oracle of the latest values. */
static void
test_random_oracle (void **state)
{
    s_env_t *env = *state;
    ts_batch_result_t r;
    enum { NREC = 40, NKEY = 3, NVAL = 4, ROUNDS = 30 };
    int oracle [NREC][NKEY];                /* -1 none, else value index */
    char id [16], key [16], val [16], v [600];
    for (int i = 0; i < NREC; i++) {
        snprintf (id, sizeof id, "id%02d", i);
        s_add_record (env, id, i / 40.0);
        for (int k = 0; k < NKEY; k++)
            oracle [i][k] = -1;
    }
    assert_int_equal (s_commit (env, "recs", 0, &r), 0);
    srand (7);
    uint64_t expect_imported = 0, expect_dup = 0, got_imported = 0, got_dup = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (int j = 0; j < 20; j++) {
            int i = rand () % NREC, k = rand () % NKEY, x = rand () % (NVAL + 1) - 1;
            snprintf (id, sizeof id, "id%02d", i);
            snprintf (key, sizeof key, "k%d", k);
            snprintf (val, sizeof val, "v%d", x);
            s_add_label (env, id, key, x < 0 ? NULL : val, (uint64_t) j + 1);
            if (oracle [i][k] == x)
                expect_dup++;
            else
                expect_imported++;
            oracle [i][k] = x;
        }
        char job [16];
        snprintf (job, sizeof job, "r%d", round);
        assert_int_equal (s_commit (env, job, 0, &r), 0);
        got_imported += r.imported;
        got_dup += r.duplicates;
    }
    assert_int_equal (got_imported, expect_imported);
    assert_int_equal (got_dup, expect_dup);
    uint64_t labels = 0;
    for (int i = 0; i < NREC; i++)
        for (int k = 0; k < NKEY; k++) {
            snprintf (id, sizeof id, "id%02d", i);
            snprintf (key, sizeof key, "k%d", k);
            const char *got = s_value (env, id, key, v);
            if (oracle [i][k] < 0)
                assert_null (got);
            else {
                snprintf (val, sizeof val, "v%d", oracle [i][k]);
                assert_string_equal (got, val);
                labels++;
            }
        }
    for (int k = 0; k < NKEY; k++)
        for (int x = 0; x < NVAL; x++) {
            uint64_t n = 0;
            for (int i = 0; i < NREC; i++)
                n += oracle [i][k] == x;
            snprintf (key, sizeof key, "k%d", k);
            snprintf (val, sizeof val, "v%d", x);
            assert_int_equal (s_index_count (env, key, val), n);
        }
    s_check_clean (env, labels);
}

static void
test_label_line (void **state)
{
    s_env_t *env = *state;
    struct { const char *line; int rc; const char *why; } cases [] = {
        { "{\"id\":\"a\",\"key\":\"verdict\",\"value\":\"pass\"}", 0, NULL },
        { "{\"id\":\"a\",\"key\":\"verdict\",\"value\":null,\"author\":\"judge\"}", 0, NULL },
        { "{\"id\":\"a\",\"key\":\"verdict\"}", TS_EBADLINE, "needs \"value\"" },
        { "{\"id\":\"a\",\"value\":\"x\"}", TS_EBADLINE, "needs \"key\"" },
        { "{\"id\":\"a\",\"key\":\"k\",\"value\":3}", TS_EBADLINE, "value: expected a string or null" },
        { "{\"id\":\"a\",\"key\":7,\"value\":\"x\"}", TS_EBADLINE, "key: expected a string" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char line [256 + TS_PARSE_PADDING] = { 0 };
        size_t len = strlen (cases [i].line);
        memcpy (line, cases [i].line, len);
        ts_summary_t s;
        char why [160] = "";
        env->form.size = 0;
        assert_int_equal (ts_parser_parse (env->parser, line, len, 1, 1, &env->form, &s, why,
                                           sizeof why), 0);
        const char *obj;
        size_t olen;
        assert_int_equal (ts_record_split (env->form.data, env->form.size, &s, &obj, &olen), 0);
        ts_label_t l;
        int rc = ts_label_from_object (obj, olen, "me", &l, why, sizeof why);
        assert_int_equal (rc, cases [i].rc);
        if (rc)
            assert_non_null (strstr (why, cases [i].why));
        else if (i == 1) {
            assert_null (l.value);
            assert_memory_equal (l.author, "judge", 5);
        }
        else
            assert_memory_equal (l.author, "me", 2);
    }
}

/*  The listing fields "label" and "no_label": strings or arrays, every
 *  element read, bad ones refused naming the field, and bound to cursors. */
static void
test_listing_fields (void **state)
{
    (void) state;
    ts_buf_t req = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &req, ts_buf_packer_write);
    msgpack_pack_map (&pk, 2);
    ts_mp_pack_cstr (&pk, "label");
    msgpack_pack_array (&pk, 3);
    ts_mp_pack_cstr (&pk, "verdict=fail");
    ts_mp_pack_cstr (&pk, "judge");
    ts_mp_pack_cstr (&pk, "note=");
    ts_mp_pack_cstr (&pk, "no_label");
    ts_mp_pack_cstr (&pk, "triage");
    ts_listing_t *l = malloc (sizeof *l), *l2 = malloc (sizeof *l2);
    char err [256];
    assert_int_equal (ts_listing_parse (l, req.data, req.size, 100, 0, err, sizeof err), 0);
    assert_int_equal (l->filter.nlabels, 4);
    assert_memory_equal (l->filter.labels [0].key, "verdict", 7);
    assert_memory_equal (l->filter.labels [0].value, "fail", 4);
    assert_int_equal (l->filter.labels [1].key_len, 5);
    assert_null (l->filter.labels [1].value);
    assert_non_null (l->filter.labels [2].value);
    assert_int_equal (l->filter.labels [2].value_len, 0);
    assert_true (l->filter.labels [3].negate);
    /* another label filter: another cursor binding */
    req.size = 0;
    msgpack_pack_map (&pk, 1);
    ts_mp_pack_cstr (&pk, "label");
    ts_mp_pack_cstr (&pk, "verdict=pass");
    assert_int_equal (ts_listing_parse (l2, req.data, req.size, 100, 0, err, sizeof err), 0);
    assert_int_equal (l2->filter.nlabels, 1);
    assert_true (l->filter_hash != l2->filter_hash);
    const char *bad [] = { "=x", "", NULL };
    for (int i = 0; bad [i]; i++) {
        req.size = 0;
        msgpack_pack_map (&pk, 1);
        ts_mp_pack_cstr (&pk, "label");
        ts_mp_pack_cstr (&pk, bad [i]);
        assert_int_equal (ts_listing_parse (l2, req.data, req.size, 100, 0, err, sizeof err), TS_EBADREQ);
        assert_non_null (strstr (err, "\"label\""));
    }
    req.size = 0;
    msgpack_pack_map (&pk, 1);
    ts_mp_pack_cstr (&pk, "no_label");
    ts_mp_pack_cstr (&pk, "k=v");
    assert_int_equal (ts_listing_parse (l2, req.data, req.size, 100, 0, err, sizeof err), TS_EBADREQ);
    assert_non_null (strstr (err, "\"no_label\""));
    req.size = 0;
    msgpack_pack_map (&pk, 1);
    ts_mp_pack_cstr (&pk, "label");
    msgpack_pack_array (&pk, 9);
    for (int i = 0; i < 9; i++)
        ts_mp_pack_cstr (&pk, "k");
    assert_int_equal (ts_listing_parse (l2, req.data, req.size, 100, 0, err, sizeof err), TS_EBADREQ);
    free (l);
    free (l2);
    ts_buf_free (&req);
}

typedef struct {
    char ids [64][16];
    int  n;
} s_ids_t;

static int
s_collect_ids (void *arg, const ts_summary_t *s, const char *summary, size_t summary_len,
               const char *record, size_t record_len)
{
    (void) summary; (void) summary_len; (void) record; (void) record_len;
    s_ids_t *x = arg;
    assert_true (x->n < 64);
    snprintf (x->ids [x->n++], 16, "%.*s", (int) s->id_len, s->id);
    return 0;
}

/*  Lists and counts with label conditions equal an oracle under both
 *  plans (collect from the label index, walk with a check a candidate),
 *  in pages continued by cursor. */
static void
test_query_labels (void **state)
{
    s_env_t *env = *state;
    ts_batch_result_t r;
    enum { NREC = 40 };
    int verdict [NREC];                     /* -1 none, 0 pass, 1 fail */
    char id [16];
    for (int i = 0; i < NREC; i++) {
        snprintf (id, sizeof id, "q%02d", i);
        s_add_record (env, id, (i % 10) / 10.0);
    }
    assert_int_equal (s_commit (env, "recs", 0, &r), 0);
    for (int i = 0; i < NREC; i++) {
        snprintf (id, sizeof id, "q%02d", i);
        verdict [i] = i % 3 == 0 ? -1 : i % 3 == 1 ? 0 : 1;
        if (verdict [i] >= 0)
            s_add_label (env, id, "verdict", verdict [i] ? "fail" : "pass", (uint64_t) i + 1);
    }
    assert_int_equal (s_commit (env, "labs", 0, &r), 0);
    struct { const char *key, *value; bool negate; int want; double lo; } cases [] = {
        { "verdict", "fail", false, 1, -1 },
        { "verdict", NULL, false, 2, -1 },
        { "verdict", NULL, true, -1, -1 },
        { "verdict", "pass", false, 0, 0.5 },
    };
    ts_store_t *stores [1] = { env->store };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        ts_filter_t f;
        ts_filter_init (&f);
        f.nlabels = 1;
        f.labels [0] = (ts_label_cond_t) { cases [c].key, 7, cases [c].value,
                                           cases [c].value ? (uint32_t) strlen (cases [c].value) : 0,
                                           cases [c].negate };
        if (cases [c].lo >= 0) {
            f.has_reward_lo = true;
            f.reward_lo = cases [c].lo;
        }
        int want = 0;
        for (int i = 0; i < NREC; i++) {
            bool ok = cases [c].want == 2 ? verdict [i] >= 0
                    : cases [c].want == -1 ? verdict [i] < 0 : verdict [i] == cases [c].want;
            want += ok && (cases [c].lo < 0 || (i % 10) / 10.0 >= cases [c].lo);
        }
        uint64_t count;
        assert_int_equal (ts_query_count (stores, 1, &f, &count), 0);
        assert_int_equal (count, want);
        for (int plan = 0; plan < 2; plan++) {
            ts_query_force_plan (plan ? TS_PLAN_COLLECT : TS_PLAN_WALK);
            ts_sort_t sort = { .order = TS_ORDER_ID };
            s_ids_t all = { .n = 0 };
            for (;;) {              /* pages of 4, each after the last id */
                s_ids_t page = { .n = 0 };
                bool more;
                assert_int_equal (ts_query_list (stores, 1, &f, &sort, 4, false, s_collect_ids,
                                                 &page, &more), 0);
                for (int k = 0; k < page.n; k++)
                    memcpy (all.ids [all.n++], page.ids [k], 16);
                if (!more)
                    break;
                sort.has_cursor = true;
                sort.cur_id = all.ids [all.n - 1];
                sort.cur_id_len = (uint32_t) strlen (all.ids [all.n - 1]);
            }
            assert_int_equal (all.n, want);
            for (int k = 1; k < all.n; k++)
                assert_true (strcmp (all.ids [k - 1], all.ids [k]) < 0);
            for (int k = 0; k < all.n; k++) {
                int i = atoi (all.ids [k] + 1);
                bool ok = cases [c].want == 2 ? verdict [i] >= 0
                        : cases [c].want == -1 ? verdict [i] < 0 : verdict [i] == cases [c].want;
                assert_true (ok);
            }
        }
        ts_query_force_plan (TS_PLAN_AUTO);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_set_get_remove, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_drop_forgets_labels, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_check_finds_damage, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_random_oracle, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_label_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_listing_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_query_labels, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
