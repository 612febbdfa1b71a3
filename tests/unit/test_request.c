/*  test_request.c: unit tests of the listing fields of client requests
 *  (ts_request.h): decoding and validation of every field, with each
 *  refusal naming its field; cursors made by ts_listing_cursor and read
 *  back (signed with the api's key, bound to the filter and the order,
 *  refused when altered in any character, made with another key, or used
 *  with another filter or order); and ts_listing_set_cursor, which the
 *  workers use for the cursor the api decoded.
 *
 *  Requests are written as raw msgpack bytes where one field is the point
 *  (the bytes say exactly what goes on the wire), and through msgpack-c
 *  where a test builds many.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_mp.h"
#include "ts_query.h"
#include "ts_record.h"
#include "ts_request.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY   UINT64_C (0x0123456789abcdef)

/* --- helpers -------------------------------------------------------------- */

/*  A msgpack request under construction (msgpack-c over a ts_buf_t). */
typedef struct {
    ts_buf_t       b;
    msgpack_packer pk;
} s_map_t;

static void
s_map_begin (s_map_t *m, uint32_t npairs)
{
    memset (m, 0, sizeof *m);
    msgpack_packer_init (&m->pk, &m->b, ts_buf_packer_write);
    msgpack_pack_map (&m->pk, npairs);
}

static void
s_str (s_map_t *m, const char *s)
{
    assert_int_equal (ts_mp_pack_cstr (&m->pk, s), 0);
}

static void
s_kv_str (s_map_t *m, const char *key, const char *value)
{
    s_str (m, key);
    s_str (m, value);
}

static void
s_kv_uint (s_map_t *m, const char *key, uint64_t value)
{
    s_str (m, key);
    msgpack_pack_uint64 (&m->pk, value);
}

static ts_listing_t *
s_listing (void)
{
    ts_listing_t *l = malloc (sizeof *l);
    assert_non_null (l);
    return l;
}

/*  Parses `len` bytes; returns ts_listing_parse's code. */
static int
s_parse_raw (ts_listing_t *l, const void *data, size_t len, uint64_t key, char *err)
{
    err [0] = 0;
    return ts_listing_parse (l, data, len, 100, key, err, 256);
}

static int
s_parse (ts_listing_t *l, const s_map_t *m, uint64_t key, char *err)
{
    return s_parse_raw (l, m->b.data, m->b.size, key, err);
}

/*  Asserts a refusal that names `field` ("field \"limit\": ..."). */
static void
s_assert_refused (int rc, const char *err, const char *field, const char *what)
{
    char want [64];
    snprintf (want, sizeof want, "field \"%s\"", field);
    if (rc != TS_EBADREQ || !strstr (err, want)) {
        fprintf (stderr, "case %s: rc %d, err '%s', want TS_EBADREQ naming %s\n", what, rc, err, want);
        fail ();
    }
}

/*  A summary to make cursors from. */
static ts_summary_t
s_summary (const char *id, uint32_t id_len, bool has_reward, double reward, bool has_created,
           int64_t created_ms)
{
    ts_summary_t s;
    memset (&s, 0, sizeof s);
    s.id = id;
    s.id_len = id_len;
    s.has_reward = has_reward;
    s.reward = reward;
    s.success = TS_SUCCESS_UNKNOWN;
    s.has_created = has_created;
    s.created_ms = created_ms;
    s.ingested_ms = INT64_C (1773000000123);
    return s;
}

/*  The request {"model": "m", "group": ["g1", "g2"], "sort": sort,
 *  "limit": 10, ["cursor": cursor]}. */
static void
s_request (s_map_t *m, const char *sort, const char *cursor)
{
    s_map_begin (m, cursor ? 5 : 4);
    s_kv_str (m, "model", "m");
    s_str (m, "group");
    msgpack_pack_array (&m->pk, 2);
    s_str (m, "g1");
    s_str (m, "g2");
    s_kv_str (m, "sort", sort);
    s_kv_uint (m, "limit", 10);
    if (cursor)
        s_kv_str (m, "cursor", cursor);
}

/* --- decoding ------------------------------------------------------------------ */

static void
test_defaults (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    char err [256];
    static const char empty [] = "\x80";
    assert_int_equal (s_parse_raw (l, empty, 1, S_KEY, err), 0);
    assert_int_equal (l->filter.ngroups, 0);
    assert_null (l->filter.model);
    assert_false (l->filter.has_reward_lo);
    assert_false (l->filter.has_reward_hi);
    assert_int_equal (l->filter.success, -1);
    assert_false (l->filter.has_from);
    assert_false (l->filter.has_to);
    assert_int_equal (l->sort.order, TS_ORDER_CREATED);
    assert_true (l->sort.desc);
    assert_false (l->sort.has_cursor);
    assert_int_equal (l->limit, 100);
    assert_false (l->records);
    /* the default limit is the caller's (export's is 1000) */
    assert_int_equal (ts_listing_parse (l, empty, 1, 1000, S_KEY, err, sizeof err), 0);
    assert_int_equal (l->limit, 1000);
    /* fields of other ops pass unnoticed */
    static const char other [] = "\x83\xa1v\x01\xa2op\xa4list\xa3rid\xcd\x01\x00";
    assert_int_equal (s_parse_raw (l, other, sizeof other - 1, S_KEY, err), 0);
    free (l);
}

static void
test_fields_valid (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    char err [256];
    s_map_t m;

    /* every field at once, in msgpack-c's encodings */
    s_map_begin (&m, 8);
    s_str (&m, "group");
    msgpack_pack_array (&m.pk, 3);
    s_str (&m, "q-1");
    s_str (&m, "");
    s_str (&m, "q-3");
    s_kv_str (&m, "model", "claude");
    s_kv_str (&m, "run", "gpt4/trial_0");
    s_str (&m, "reward");
    msgpack_pack_array (&m.pk, 2);
    msgpack_pack_double (&m.pk, -0.5);
    msgpack_pack_int (&m.pk, 2);
    s_str (&m, "success");
    msgpack_pack_false (&m.pk);
    s_str (&m, "created");
    msgpack_pack_array (&m.pk, 2);
    s_str (&m, "2026-03-01T00:00:00.250+02:00");
    msgpack_pack_int64 (&m.pk, -5);
    s_kv_str (&m, "sort", "+reward");
    s_kv_str (&m, "fields", "record");
    assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
    assert_int_equal (l->filter.ngroups, 3);
    assert_int_equal (l->filter.group_lens [0], 3);
    assert_memory_equal (l->filter.groups [0], "q-1", 3);
    assert_int_equal (l->filter.group_lens [1], 0);
    assert_int_equal (l->filter.run_len, 12);
    assert_memory_equal (l->filter.run, "gpt4/trial_0", 12);
    assert_non_null (l->filter.groups [1]);
    assert_memory_equal (l->filter.groups [2], "q-3", 3);
    /* group strings borrow the request */
    assert_true (l->filter.groups [0] > m.b.data && l->filter.groups [0] < m.b.data + m.b.size);
    assert_int_equal (l->filter.model_len, 6);
    assert_memory_equal (l->filter.model, "claude", 6);
    assert_true (l->filter.has_reward_lo && l->filter.has_reward_hi);
    assert_true (l->filter.reward_lo == -0.5 && l->filter.reward_hi == 2.0);
    assert_int_equal (l->filter.success, 0);
    assert_true (l->filter.has_from && l->filter.has_to);
    assert_int_equal (l->filter.from_ms, INT64_C (1772316000250));
    assert_int_equal (l->filter.to_ms, -5);
    assert_int_equal (l->sort.order, TS_ORDER_REWARD);
    assert_false (l->sort.desc);
    assert_true (l->records);
    ts_buf_free (&m.b);

    /* one group as a string; nil bounds; nil success, model and group */
    static const char a [] = "\x85\xa5group\xa4q-42\xa6reward\x92\xc0\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00"
                             "\xa7success\xc3\xa7""created\x92\xcf\x00\x00\x01\x9c\xa7\x44\x1c\xe8\xc0"
                             "\xa4sort\xa3-id";
    assert_int_equal (s_parse_raw (l, a, sizeof a - 1, S_KEY, err), 0);
    assert_int_equal (l->filter.ngroups, 1);
    assert_int_equal (l->filter.group_lens [0], 4);
    assert_memory_equal (l->filter.groups [0], "q-42", 4);
    assert_false (l->filter.has_reward_lo);
    assert_true (l->filter.has_reward_hi && l->filter.reward_hi == 0.5);
    assert_int_equal (l->filter.success, 1);
    assert_true (l->filter.has_from && !l->filter.has_to);
    assert_int_equal (l->filter.from_ms, INT64_C (0x19ca7441ce8));
    assert_int_equal (l->sort.order, TS_ORDER_ID);
    assert_true (l->sort.desc);

    static const char nils [] = "\x86\xa5group\xc0\xa5model\xc0\xa7success\xc0\xa6reward\xc0"
                                "\xa7""created\xc0\xa6""cursor\xc0";
    assert_int_equal (s_parse_raw (l, nils, sizeof nils - 1, S_KEY, err), 0);
    assert_int_equal (l->filter.ngroups, 0);
    assert_null (l->filter.model);
    assert_int_equal (l->filter.success, -1);
    assert_false (l->filter.has_reward_lo || l->filter.has_reward_hi);
    assert_false (l->filter.has_from || l->filter.has_to);
    assert_false (l->sort.has_cursor);

    /* the limit's bounds; "summary" fields; every sort spelling */
    static const char lim1 [] = "\x82\xa5limit\x01\xa6""fields\xa7summary";
    assert_int_equal (s_parse_raw (l, lim1, sizeof lim1 - 1, S_KEY, err), 0);
    assert_int_equal (l->limit, 1);
    assert_false (l->records);
    static const char lim2 [] = "\x81\xa5limit\xcd\x27\x10";
    assert_int_equal (s_parse_raw (l, lim2, sizeof lim2 - 1, S_KEY, err), 0);
    assert_int_equal (l->limit, TS_QUERY_MAX_LIMIT);
    static const struct { const char *sort; ts_order_t order; bool desc; } sorts [] = {
        { "created", TS_ORDER_CREATED, false }, { "-created", TS_ORDER_CREATED, true },
        { "reward", TS_ORDER_REWARD, false },   { "-reward", TS_ORDER_REWARD, true },
        { "id", TS_ORDER_ID, false },           { "-id", TS_ORDER_ID, true },
        { "+id", TS_ORDER_ID, false },
    };
    for (size_t i = 0; i < sizeof sorts / sizeof sorts [0]; i++) {
        s_map_begin (&m, 1);
        s_kv_str (&m, "sort", sorts [i].sort);
        assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
        assert_int_equal (l->sort.order, sorts [i].order);
        assert_int_equal (l->sort.desc, sorts [i].desc);
        ts_buf_free (&m.b);
    }

    /* 1000 groups is the most */
    s_map_begin (&m, 1);
    s_str (&m, "group");
    msgpack_pack_array (&m.pk, TS_QUERY_MAX_GROUPS);
    for (int i = 0; i < TS_QUERY_MAX_GROUPS; i++) {
        char g [16];
        snprintf (g, sizeof g, "g%d", i);
        s_str (&m, g);
    }
    assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
    assert_int_equal (l->filter.ngroups, TS_QUERY_MAX_GROUPS);
    assert_int_equal (l->filter.group_lens [999], 4);
    assert_memory_equal (l->filter.groups [999], "g999", 4);
    ts_buf_free (&m.b);
    free (l);
}

#define S_RAW(field, bytes) { field, bytes, sizeof bytes - 1, #bytes }

static void
test_fields_refused (void **state)
{
    (void) state;
    static const struct {
        const char *field;
        const char *data;
        size_t      len;
        const char *text;
    } cases [] = {
        S_RAW ("group",   "\x81\xa5group\x05"),
        S_RAW ("group",   "\x81\xa5group\xc3"),
        S_RAW ("group",   "\x81\xa5group\x80"),
        S_RAW ("group",   "\x81\xa5group\x90"),
        S_RAW ("group",   "\x81\xa5group\x92\xa1x\x05"),
        S_RAW ("group",   "\x81\xa5group\x91\xc0"),
        S_RAW ("group",   "\x81\xa5group\xdc\x03\xe9"),            /* 1001 (and truncated) */
        S_RAW ("group",   "\x81\xa5group"),                        /* no value */
        S_RAW ("group",   "\x81\xa5group\xa5q"),                   /* truncated string */
        S_RAW ("model",   "\x81\xa5model\x05"),
        S_RAW ("model",   "\x81\xa5model\x91\xa1m"),
        S_RAW ("model",   "\x81\xa5model"),
        S_RAW ("run",     "\x81\xa3run\x05"),
        S_RAW ("run",     "\x81\xa3run\x91\xa1r"),
        S_RAW ("reward",  "\x81\xa6reward\x05"),
        S_RAW ("reward",  "\x81\xa6reward\xa3\x30\x3a\x31"),
        S_RAW ("reward",  "\x81\xa6reward\x91\x05"),
        S_RAW ("reward",  "\x81\xa6reward\x93\x00\x01\x02"),
        S_RAW ("reward",  "\x81\xa6reward\x92\xa1x\xc0"),
        S_RAW ("reward",  "\x81\xa6reward\x92\xc3\xc0"),
        S_RAW ("reward",  "\x81\xa6reward\x92\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\xc0"),   /* NaN */
        S_RAW ("reward",  "\x81\xa6reward\x92\xc0\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00"),   /* inf */
        S_RAW ("reward",  "\x81\xa6reward\x92\x00"),
        S_RAW ("reward",  "\x81\xa6reward"),
        S_RAW ("success", "\x81\xa7success\xa3yes"),
        S_RAW ("success", "\x81\xa7success\x01"),
        S_RAW ("success", "\x81\xa7success\x90"),
        S_RAW ("created", "\x81\xa7""created\x92\xa9yesterday\xc0"),
        S_RAW ("created", "\x81\xa7""created\x92\xc0\xaa""2026-13-01"),
        S_RAW ("created", "\x81\xa7""created\x91\x00"),
        S_RAW ("created", "\x81\xa7""created\x92\xc2\xc0"),
        S_RAW ("created", "\x81\xa7""created\x92\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00\xc0"),  /* inf */
        S_RAW ("created", "\x81\xa7""created\x92\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xc0"),  /* > INT64_MAX */
        S_RAW ("created", "\x81\xa7""created\xa4\x32\x30\x32\x36"),
        S_RAW ("sort",    "\x81\xa4sort\xa4name"),
        S_RAW ("sort",    "\x81\xa4sort\xa0"),
        S_RAW ("sort",    "\x81\xa4sort\xa1-"),
        S_RAW ("sort",    "\x81\xa4sort\xa4--id"),
        S_RAW ("sort",    "\x81\xa4sort\xa8""Created "),
        S_RAW ("sort",    "\x81\xa4sort\xb1-created-created-"),     /* 17 bytes */
        S_RAW ("sort",    "\x81\xa4sort\x02"),
        S_RAW ("sort",    "\x81\xa4sort\xa7kreated"),              /* the names' lengths */
        S_RAW ("sort",    "\x81\xa4sort\xa7-reword"),
        S_RAW ("sort",    "\x81\xa4sort\xa2ib"),
        S_RAW ("sort",    "\x81\xa4sort\xa6+idid+"),
        S_RAW ("limit",   "\x81\xa5limit\x00"),
        S_RAW ("limit",   "\x81\xa5limit\xcd\x27\x11"),
        S_RAW ("limit",   "\x81\xa5limit\xff"),
        S_RAW ("limit",   "\x81\xa5limit\xa1\x35"),
        S_RAW ("limit",   "\x81\xa5limit\xcb\x40\x14\x00\x00\x00\x00\x00\x00"),  /* 5.0 */
        S_RAW ("limit",   "\x81\xa5limit\xcf\x00\x00\x00\x01\x00\x00\x00\x05"),  /* 2^32 + 5 */
        S_RAW ("fields",  "\x81\xa6""fields\xa3""all"),
        S_RAW ("fields",  "\x81\xa6""fields\xa7records"),
        S_RAW ("fields",  "\x81\xa6""fields\x01"),
        S_RAW ("cursor",  "\x81\xa6""cursor\x05"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xc3"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xa5hello"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xa0"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c1.00.0000000000000000"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c1.9.00000000000000000"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c1.zz.0000000000000000"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c1.90.000000000000000g"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c2.90.0000000000000000"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c1.90x0000000000000000"),
        S_RAW ("cursor",  "\x81\xa6""cursor\xb6" "c1.90.0000000000000000"),
        S_RAW ("cursor",  "\x81\xa6""cursor"),
    };
    ts_listing_t *l = s_listing ();
    char err [256];
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        int rc = s_parse_raw (l, cases [i].data, cases [i].len, S_KEY, err);
        s_assert_refused (rc, err, cases [i].field, cases [i].text);
    }

    /* more than 1000 groups, well formed */
    s_map_t m;
    s_map_begin (&m, 1);
    s_str (&m, "group");
    msgpack_pack_array (&m.pk, TS_QUERY_MAX_GROUPS + 1);
    for (int i = 0; i <= TS_QUERY_MAX_GROUPS; i++)
        s_str (&m, "g");
    s_assert_refused (s_parse (l, &m, S_KEY, err), err, "group", "1001 groups");
    ts_buf_free (&m.b);

    /* the first bad field is the one named, in the order the fields are read */
    static const char two [] = "\x82\xa5limit\x00\xa5model\x05";
    s_assert_refused (s_parse_raw (l, two, sizeof two - 1, S_KEY, err), err, "model", "model and limit");

    /* key 0 (the workers') does not look at the cursor at all */
    static const char junk [] = "\x81\xa6""cursor\xa5hello";
    assert_int_equal (s_parse_raw (l, junk, sizeof junk - 1, 0, err), 0);
    assert_false (l->sort.has_cursor);
    free (l);
}

static void
test_not_a_map (void **state)
{
    (void) state;
    /* ts_listing_parse reads fields out of a map; anything else has none,
     * which gives the defaults (the api refuses non-maps before this) */
    ts_listing_t *l = s_listing ();
    char err [256];
    static const char *const inputs [] = { "", "\x91\xa5group", "\xc1", "\x05" };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs [0]; i++) {
        assert_int_equal (s_parse_raw (l, inputs [i], strlen (inputs [i]), S_KEY, err), 0);
        assert_int_equal (l->filter.ngroups, 0);
        assert_int_equal (l->limit, 100);
    }
    free (l);
}

/* --- cursors ------------------------------------------------------------------ */

/*  Makes a cursor after `s` for a listing of `sort` and reads it back. */
static void
s_round_trip (const char *sort, const ts_summary_t *s)
{
    ts_listing_t *l = s_listing (), *l2 = s_listing ();
    char err [256], cursor [2 * TS_ID_MAX_BYTES + 256];
    s_map_t m;
    s_request (&m, sort, NULL);
    assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
    ts_buf_free (&m.b);
    assert_int_equal (ts_listing_cursor (l, s, S_KEY, cursor, sizeof cursor), 0);
    assert_memory_equal (cursor, "c1.", 3);
    s_request (&m, sort, cursor);
    int rc = s_parse (l2, &m, S_KEY, err);
    if (rc)
        fprintf (stderr, "sort %s: %s\n", sort, err);
    assert_int_equal (rc, 0);
    ts_buf_free (&m.b);
    const ts_sort_t *so = &l2->sort;
    assert_true (so->has_cursor);
    assert_int_equal (l2->filter_hash, l->filter_hash);
    assert_int_equal (so->cur_id_len, s->id_len);
    assert_memory_equal (so->cur_id, s->id, s->id_len);
    assert_int_equal (so->cur_id [s->id_len], 0);
    if (so->order == TS_ORDER_CREATED)
        assert_int_equal (so->cur_time, ts_summary_time (s));
    if (so->order == TS_ORDER_REWARD) {
        assert_int_equal (so->cur_no_reward, !s->has_reward);
        if (s->has_reward)
            assert_memory_equal (&so->cur_reward, &s->reward, sizeof s->reward);
    }
    /* the cursor stands for `s`: `s` is not after it, and neither is
     * anything before it in the list order */
    assert_false (ts_sort_after_cursor (so, s));
    free (l);
    free (l2);
}

static void
test_cursor_round_trip (void **state)
{
    (void) state;
    static const char *const sorts [] = { "created", "-created", "reward", "-reward", "id", "-id" };
    char long_id [TS_ID_MAX_BYTES];
    for (size_t i = 0; i < sizeof long_id; i++)
        long_id [i] = (char) (i * 7 + 1);           /* bytes of every kind, NULs too */
    long_id [100] = 0;
    ts_summary_t sums [] = {
        s_summary ("traj-1-42", 9, true, 0.25, true, INT64_C (1772323200000)),
        s_summary ("traj-1-43", 9, false, 0, true, INT64_C (1772323200000)),
        s_summary ("x", 1, true, -0.0, false, 0),
        s_summary ("y", 1, true, -1e300, true, INT64_C (-62135596800000)),
        s_summary ("", 0, true, 5e-324, true, INT64_MAX),
        s_summary (long_id, sizeof long_id, true, 1.0, true, INT64_MIN),
    };
    for (size_t i = 0; i < sizeof sorts / sizeof sorts [0]; i++)
        for (size_t k = 0; k < sizeof sums / sizeof sums [0]; k++)
            s_round_trip (sorts [i], &sums [k]);
}

static void
test_cursor_buffer (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    char err [256], buf [2 * TS_ID_MAX_BYTES + 256];
    static const char req [] = "\x81\xa4sort\xa2id";
    assert_int_equal (s_parse_raw (l, req, sizeof req - 1, S_KEY, err), 0);
    ts_summary_t s = s_summary ("traj-7", 6, true, 0.5, true, 1000);
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, buf, sizeof buf), 0);
    size_t need = strlen (buf) + 1;
    /* "c1." + hex + "." + 16 hex digits of tag, and a NUL */
    assert_int_equal (buf [need - 18], '.');
    char small [sizeof buf];
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, small, need), 0);
    assert_string_equal (small, buf);
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, small, need - 1), TS_ETOOBIG);
    /* the longest id fits the api's buffer */
    char long_id [TS_ID_MAX_BYTES];
    memset (long_id, 'z', sizeof long_id);
    s = s_summary (long_id, sizeof long_id, true, 0.5, true, INT64_MIN);
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, buf, sizeof buf), 0);
    /* the same summary, key and listing make the same cursor */
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, small, sizeof small), 0);
    assert_string_equal (small, buf);
    free (l);
}

static void
test_cursor_tampered (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    char err [256], cursor [512], bad [sizeof cursor + 2];
    s_map_t m;
    s_request (&m, "-reward", NULL);
    assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
    ts_buf_free (&m.b);
    ts_summary_t s = s_summary ("traj-9-1", 8, true, 0.75, true, INT64_C (1772323200000));
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, cursor, sizeof cursor), 0);
    size_t n = strlen (cursor);

    /* every character changed, to each of a few others */
    static const char repl [] = "0179afc.xA-";
    int refused = 0;
    for (size_t i = 0; i < n; i++) {
        for (const char *r = repl; *r; r++) {
            if (*r == cursor [i])
                continue;
            memcpy (bad, cursor, n + 1);
            bad [i] = *r;
            s_request (&m, "-reward", bad);
            s_assert_refused (s_parse (l, &m, S_KEY, err), err, "cursor", bad);
            ts_buf_free (&m.b);
            refused++;
        }
    }
    assert_true (refused >= 9 * (int) n);
    /* cut short, one character more, doubled */
    for (size_t cut = 0; cut < n; cut++) {
        memcpy (bad, cursor, cut);
        bad [cut] = 0;
        s_request (&m, "-reward", bad);
        s_assert_refused (s_parse (l, &m, S_KEY, err), err, "cursor", bad);
        ts_buf_free (&m.b);
    }
    snprintf (bad, sizeof bad, "%s0", cursor);
    s_request (&m, "-reward", bad);
    s_assert_refused (s_parse (l, &m, S_KEY, err), err, "cursor", bad);
    ts_buf_free (&m.b);

    /* a hex digit changed in the body: the tag no longer matches */
    memcpy (bad, cursor, n + 1);
    bad [5] = bad [5] == '0' ? '1' : '0';
    s_request (&m, "-reward", bad);
    s_assert_refused (s_parse (l, &m, S_KEY, err), err, "cursor", bad);
    assert_non_null (strstr (err, "altered"));
    ts_buf_free (&m.b);

    /* another key (another store, or a new key file) */
    s_request (&m, "-reward", cursor);
    s_assert_refused (s_parse (l, &m, S_KEY + 1, err), err, "cursor", "another key");
    assert_non_null (strstr (err, "altered"));
    assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
    ts_buf_free (&m.b);
    free (l);
}

static void
test_cursor_other_filter (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    char err [256], cursor [512];
    s_map_t m;
    /* the cursor of {"model": "m", "group": ["g1", "g2"], "reward": [0.1, nil],
     * "success": true, "created": [1000, 2000], "sort": "created"} */
    static const char base [] = "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
                                "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
                                "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0"
                                "\xa4sort\xa7""created";
    assert_int_equal (s_parse_raw (l, base, sizeof base - 1, S_KEY, err), 0);
    ts_summary_t s = s_summary ("traj-3", 6, true, 0.5, true, 1500);
    assert_int_equal (ts_listing_cursor (l, &s, S_KEY, cursor, sizeof cursor), 0);

    /* each variation of one field moves the cursor to another listing */
    static const struct { const char *what; const char *data; size_t len; } others [] = {
#define S_V(what, bytes) { what, bytes, sizeof bytes - 1 }
        S_V ("model", "\x86\xa5model\xa1n\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("no model", "\x85\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("one group less", "\x86\xa5model\xa1m\xa5group\x91\xa2g1"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("groups joined", "\x86\xa5model\xa1m\xa5group\x91\xa4g1g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("reward lo", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xc9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("reward hi", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\x01"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("success", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc2\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("no success", "\x85\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("created from", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe9\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("created to", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xc0\xa4sort\xa7""created"),
        S_V ("descending", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa8-created"),
        S_V ("a run", "\x87\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2\xa3run\xa1r"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa7""created"),
        S_V ("id order", "\x86\xa5model\xa1m\xa5group\x92\xa2g1\xa2g2"
             "\xa6reward\x92\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xc0"
             "\xa7success\xc3\xa7""created\x92\xcd\x03\xe8\xcd\x07\xd0\xa4sort\xa2id"),
#undef S_V
    };
    for (size_t i = 0; i < sizeof others / sizeof others [0]; i++) {
        s_map_begin (&m, 0);
        m.b.size = 0;
        /* the variation's map, one pair more: the cursor */
        char head = (char) (others [i].data [0] + 1);
        ts_buf_append (&m.b, &head, 1);
        ts_buf_append (&m.b, others [i].data + 1, others [i].len - 1);
        s_kv_str (&m, "cursor", cursor);
        int rc = s_parse (l, &m, S_KEY, err);
        s_assert_refused (rc, err, "cursor", others [i].what);
        if (!strstr (err, "another filter or order")) {
            fprintf (stderr, "case %s: %s\n", others [i].what, err);
            fail ();
        }
        ts_buf_free (&m.b);
    }

    /* the same filter is the same listing, whatever else changes: fields
     * in another order, another limit, records, a created bound written
     * as ISO 8601, a string group for a one-group list */
    s_map_begin (&m, 9);
    s_kv_str (&m, "cursor", cursor);
    s_kv_str (&m, "sort", "created");
    s_kv_uint (&m, "limit", 7);
    s_kv_str (&m, "fields", "record");
    s_str (&m, "created");
    msgpack_pack_array (&m.pk, 2);
    s_str (&m, "1970-01-01T00:00:01Z");
    msgpack_pack_double (&m.pk, 2000.0);
    s_str (&m, "success");
    msgpack_pack_true (&m.pk);
    s_str (&m, "reward");
    msgpack_pack_array (&m.pk, 2);
    msgpack_pack_double (&m.pk, 0.1);
    msgpack_pack_nil (&m.pk);
    s_str (&m, "group");
    msgpack_pack_array (&m.pk, 2);
    s_str (&m, "g1");
    s_str (&m, "g2");
    s_kv_str (&m, "model", "m");
    assert_int_equal (s_parse (l, &m, S_KEY, err), 0);
    assert_true (l->sort.has_cursor);
    assert_int_equal (l->limit, 7);
    assert_int_equal (l->sort.cur_time, 1500);
    ts_buf_free (&m.b);
    free (l);
}

/* --- ts_listing_set_cursor --------------------------------------------------------- */

static void
test_set_cursor (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    char err [256];
    ts_mp_item_t k;
    static const char created [] = "\x81\xa4sort\xa7""created";
    static const char reward [] = "\x81\xa4sort\xa7-reward";
    static const char id [] = "\x81\xa4sort\xa2id";

    /* created order: an integer key, either sign */
    assert_int_equal (s_parse_raw (l, created, sizeof created - 1, 0, err), 0);
    memset (&k, 0, sizeof k);
    k.type = TS_MP_INT;
    k.i = -5;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, "a", 1), 0);
    assert_true (l->sort.has_cursor);
    assert_int_equal (l->sort.cur_time, -5);
    k.type = TS_MP_UINT;
    k.u = (uint64_t) INT64_MAX;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, "a", 1), 0);
    assert_int_equal (l->sort.cur_time, INT64_MAX);
    k.u = (uint64_t) INT64_MAX + 1;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, "a", 1), TS_EBADREQ);
    k.type = TS_MP_FLOAT;
    k.f = 5.0;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, "a", 1), TS_EBADREQ);
    k.type = TS_MP_NIL;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, "a", 1), TS_EBADREQ);
    k.type = TS_MP_STR;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, "a", 1), TS_EBADREQ);

    /* reward order: a float, or nil for the records without a reward */
    assert_int_equal (s_parse_raw (l, reward, sizeof reward - 1, 0, err), 0);
    k.type = TS_MP_FLOAT;
    k.f = 0.125;
    assert_int_equal (ts_listing_set_cursor (l, &k, 7, "b", 1), 0);
    assert_true (l->sort.cur_reward == 0.125 && !l->sort.cur_no_reward);
    assert_int_equal (l->sort.cur_ingested, 7);         /* reward ties: ingest time */
    assert_int_equal (s_parse_raw (l, reward, sizeof reward - 1, 0, err), 0);
    k.type = TS_MP_NIL;
    assert_int_equal (ts_listing_set_cursor (l, &k, 7, "b", 1), 0);
    assert_true (l->sort.cur_no_reward);
    k.type = TS_MP_INT;
    k.i = -1;
    assert_int_equal (ts_listing_set_cursor (l, &k, 7, "b", 1), TS_EBADREQ);
    k.type = TS_MP_UINT;
    k.u = 1;
    assert_int_equal (ts_listing_set_cursor (l, &k, 7, "b", 1), TS_EBADREQ);

    /* id order: the key is not looked at */
    assert_int_equal (s_parse_raw (l, id, sizeof id - 1, 0, err), 0);
    static const ts_mp_type_t any [] = { TS_MP_NIL, TS_MP_INT, TS_MP_STR, TS_MP_MAP, TS_MP_FLOAT };
    for (size_t i = 0; i < sizeof any / sizeof any [0]; i++) {
        memset (&k, 0, sizeof k);
        k.type = any [i];
        assert_int_equal (ts_listing_set_cursor (l, &k, 0, "c", 1), 0);
    }

    /* the id is copied into the listing, NUL-terminated, up to the limit */
    char idbuf [TS_ID_MAX_BYTES + 1];
    memset (idbuf, 'q', sizeof idbuf);
    idbuf [3] = 0;
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, idbuf, TS_ID_MAX_BYTES), 0);
    memset (idbuf, 'r', sizeof idbuf);
    assert_int_equal (l->sort.cur_id_len, TS_ID_MAX_BYTES);
    assert_ptr_equal (l->sort.cur_id, l->cursor_id);
    assert_int_equal (l->sort.cur_id [0], 'q');
    assert_int_equal (l->sort.cur_id [3], 0);
    assert_int_equal (l->sort.cur_id [TS_ID_MAX_BYTES], 0);
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, idbuf, TS_ID_MAX_BYTES + 1), TS_EBADREQ);
    assert_int_equal (ts_listing_set_cursor (l, &k, 0, NULL, 0), 0);
    assert_int_equal (l->sort.cur_id_len, 0);
    assert_string_equal (l->sort.cur_id, "");
    free (l);
}

/* --- summaries for clients ---------------------------------------------------------- */

static void
test_summary_pack_map (void **state)
{
    (void) state;
    ts_buf_t b = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &b, ts_buf_packer_write);
    ts_summary_t s = s_summary ("t-1", 3, true, 0.5, false, 0);
    s.group = "g";
    s.group_len = 1;
    s.success = 1;
    s.run = "trial_0";
    s.run_len = 7;
    assert_int_equal (ts_summary_pack_map (&pk, &s, 1), 0);
    ts_mp_pack_cstr (&pk, "record");
    msgpack_pack_nil (&pk);
    ts_buf_t json = { 0 };
    assert_int_equal (ts_mp_to_json (b.data, b.size, &json), 0);
    ts_buf_append (&json, "", 1);
    assert_string_equal (json.data, "{\"id\":\"t-1\",\"group\":\"g\",\"model\":null,\"reward\":0.5,"
                         "\"success\":true,\"created_ms\":null,\"ingested_ms\":1773000000123,"
                         "\"steps\":null,\"run\":\"trial_0\",\"record\":null}");
    ts_buf_free (&json);
    ts_buf_free (&b);
}

/*  The envelope (ts_request_parse): each refusal carries the code the api
 *  answers with (its ts_errname) and a message; the rid is echoed once
 *  read; an accepted get has its id, a list its listing. */
/*  "LO:HI" of --reward and reward=: either side may be empty; anything
 *  else is refused. */
static void
test_range (void **state)
{
    (void) state;
    bool hl = false, hh = false;
    double lo = 0, hi = 0;
    assert_true (ts_req_range ("0.5:1", &hl, &lo, &hh, &hi));
    assert_true (hl && hh);
    assert_true (lo == 0.5 && hi == 1.0);
    assert_true (ts_req_range (":-2", &hl, &lo, &hh, &hi));
    assert_false (hl);
    assert_true (hh && hi == -2.0);
    assert_true (ts_req_range ("3:", &hl, &lo, &hh, &hi));
    assert_true (hl && lo == 3.0 && !hh);
    assert_true (ts_req_range (":", &hl, &lo, &hh, &hi));
    assert_false (hl || hh);
    assert_false (ts_req_range ("1", &hl, &lo, &hh, &hi));
    assert_false (ts_req_range ("x:1", &hl, &lo, &hh, &hi));
    assert_false (ts_req_range ("1:2:3", &hl, &lo, &hh, &hi));
    assert_false (ts_req_range ("inf:", &hl, &lo, &hh, &hi));
    assert_false (ts_req_range ("nan:1", &hl, &lo, &hh, &hi));
    assert_false (ts_req_range ("1e999:", &hl, &lo, &hh, &hi));
}

static void
test_envelope (void **state)
{
    (void) state;
    ts_listing_t *l = s_listing ();
    ts_request_t rq;
    char err [300];
    assert_int_equal (ts_request_parse (&rq, "", 0, S_KEY, l, err, sizeof err), TS_EBADREQ);
    assert_string_equal (ts_errname (TS_EBADREQ), "BAD_REQUEST");
    assert_non_null (strstr (err, "empty request"));
    assert_int_equal (ts_request_parse (&rq, "\x93", 1, S_KEY, l, err, sizeof err), TS_EBADREQ);
    assert_false (rq.has_rid);

    s_map_t m;
    s_map_begin (&m, 2);
    s_kv_uint (&m, "v", 2);
    s_kv_uint (&m, "rid", 77);
    assert_int_equal (ts_request_parse (&rq, m.b.data, m.b.size, S_KEY, l, err, sizeof err),
                      TS_EVERSION);
    assert_string_equal (ts_errname (TS_EVERSION), "VERSION");
    assert_true (rq.has_rid && rq.rid_unsigned);
    assert_int_equal (rq.rid_u, 77);
    ts_buf_free (&m.b);

    s_map_begin (&m, 2);
    s_kv_uint (&m, "v", 1);
    s_kv_str (&m, "op", "delete");
    assert_int_equal (ts_request_parse (&rq, m.b.data, m.b.size, S_KEY, l, err, sizeof err),
                      TS_EUNKNOWNOP);
    assert_string_equal (ts_errname (TS_EUNKNOWNOP), "UNKNOWN_OP");
    assert_non_null (strstr (err, "\"delete\""));
    ts_buf_free (&m.b);

    s_map_begin (&m, 2);
    s_kv_uint (&m, "v", 1);
    s_kv_str (&m, "op", "get");
    assert_int_equal (ts_request_parse (&rq, m.b.data, m.b.size, S_KEY, l, err, sizeof err),
                      TS_EBADREQ);
    assert_non_null (strstr (err, "field \"id\""));
    ts_buf_free (&m.b);

    s_map_begin (&m, 3);
    s_kv_uint (&m, "v", 1);
    s_kv_str (&m, "op", "get");
    s_kv_str (&m, "id", "run-1");
    assert_int_equal (ts_request_parse (&rq, m.b.data, m.b.size, S_KEY, l, err, sizeof err), 0);
    assert_int_equal (rq.op, TS_OP_GET);
    assert_int_equal (rq.id_len, 5);
    assert_memory_equal (rq.id, "run-1", 5);
    assert_string_equal (ts_op_name (rq.op), "get");
    ts_buf_free (&m.b);

    s_map_begin (&m, 3);
    s_kv_uint (&m, "v", 1);
    s_kv_str (&m, "op", "export");
    s_kv_uint (&m, "limit", 7);
    assert_int_equal (ts_request_parse (&rq, m.b.data, m.b.size, S_KEY, l, err, sizeof err), 0);
    assert_int_equal (rq.op, TS_OP_EXPORT);
    assert_int_equal (l->limit, 7);
    assert_true (l->records);
    ts_buf_free (&m.b);

    /* "label" (the write op: the api checks its fields) is an op */
    s_map_begin (&m, 3);
    s_kv_uint (&m, "v", 1);
    s_kv_str (&m, "op", "label");
    s_kv_str (&m, "id", "run-1");
    assert_int_equal (ts_request_parse (&rq, m.b.data, m.b.size, S_KEY, l, err, sizeof err), 0);
    assert_int_equal (rq.op, TS_OP_LABEL);
    assert_string_equal (ts_op_name (rq.op), "label");
    assert_null (ts_op_name ((ts_op_t) TS_NOPS));
    ts_buf_free (&m.b);

    /* the other wire codes are names of the error space too */
    assert_string_equal (ts_errname (TS_EUNAVAILABLE), "UNAVAILABLE");
    assert_string_equal (ts_errname (TS_ENOTOWNER), "NOT_OWNER");
    free (l);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_fields_valid),
        cmocka_unit_test (test_fields_refused),
        cmocka_unit_test (test_not_a_map),
        cmocka_unit_test (test_cursor_round_trip),
        cmocka_unit_test (test_cursor_buffer),
        cmocka_unit_test (test_cursor_tampered),
        cmocka_unit_test (test_cursor_other_filter),
        cmocka_unit_test (test_set_cursor),
        cmocka_unit_test (test_envelope),
        cmocka_unit_test (test_range),
        cmocka_unit_test (test_summary_pack_map),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
