/*  test_record.c: unit tests of the record model around the parser: the
 *  msgpack pull reader (ts_mp.h), msgpack -> JSON and double formatting,
 *  ISO 8601 times, summaries, ids and shards (ts_record.h), the
 *  order-preserving key codes (ts_key.h), totals (ts_totals.h) and field
 *  profiles (ts_profile.h).
 *
 *  Where a result can be computed another way (timegm for dates, XXH3 for
 *  ids, a plain comparison for key order, printf precision search for the
 *  shortest double) the test computes it that way instead of restating the
 *  implementation's own arithmetic.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_key.h"
#include "ts_mp.h"
#include "ts_profile.h"
#include "ts_record.h"
#include "ts_totals.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* --- helpers -------------------------------------------------------------- */

/*  Own PRNG (splitmix64): fixed seeds make every run test the same values,
 *  independent of the C library's rand(). */
static uint64_t
s_rand (uint64_t *state)
{
    return tu_splitmix64 (state);
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

/*  A msgpack value written through msgpack-c, the encoder the store uses. */
typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer  pk;
} s_mp_t;

static void
s_mp_init (s_mp_t *m)
{
    msgpack_sbuffer_init (&m->sb);
    msgpack_packer_init (&m->pk, &m->sb, msgpack_sbuffer_write);
}

static void
s_mp_fini (s_mp_t *m)
{
    msgpack_sbuffer_destroy (&m->sb);
}

static void
s_pk_str (s_mp_t *m, const char *s, size_t len)
{
    assert_int_equal (ts_mp_pack_strn (&m->pk, s, len), 0);
}

/*  ts_mp_to_json of `data` must succeed and give exactly `expect`. */
static void
s_expect_json (const void *data, size_t len, const char *expect)
{
    ts_buf_t out = { 0 };
    assert_int_equal (ts_mp_to_json (data, len, &out), 0);
    if (out.size != strlen (expect) || memcmp (out.data, expect, out.size) != 0)
        fail_msg ("json '%.*s' != expected '%s'", (int) out.size, out.data, expect);
    ts_buf_free (&out);
}

/*  JSON text of a single double packed as msgpack float64. */
static void
s_expect_double_json (double v, const char *expect)
{
    s_mp_t m;
    s_mp_init (&m);
    assert_int_equal (msgpack_pack_double (&m.pk, v), 0);
    s_expect_json (m.sb.data, m.sb.size, expect);
    s_mp_fini (&m);
}

/* --- ts_mp reader ----------------------------------------------------------- */

/*  One encoded item per msgpack format family, with what the reader must
 *  report. `off` is where a str/bin/ext payload starts. */
typedef struct {
    const char   *name;
    uint8_t       bytes [24];
    size_t        len;
    ts_mp_type_t  type;
    uint64_t      u;
    int64_t       i;
    double        f;
    bool          b;
    uint32_t      count;      /* str/bin/ext length, array/map count */
    size_t        off;
    int8_t        ext;
} s_mp_case_t;

static const s_mp_case_t s_mp_cases [] = {
    { .name = "nil",       .bytes = { 0xc0 }, .len = 1, .type = TS_MP_NIL },
    { .name = "false",     .bytes = { 0xc2 }, .len = 1, .type = TS_MP_BOOL, .b = false },
    { .name = "true",      .bytes = { 0xc3 }, .len = 1, .type = TS_MP_BOOL, .b = true },
    { .name = "fixint 0",  .bytes = { 0x00 }, .len = 1, .type = TS_MP_UINT, .u = 0 },
    { .name = "fixint 127",.bytes = { 0x7f }, .len = 1, .type = TS_MP_UINT, .u = 127 },
    { .name = "negfix -1", .bytes = { 0xff }, .len = 1, .type = TS_MP_INT, .i = -1 },
    { .name = "negfix -32",.bytes = { 0xe0 }, .len = 1, .type = TS_MP_INT, .i = -32 },
    { .name = "uint8",     .bytes = { 0xcc, 0xff }, .len = 2, .type = TS_MP_UINT, .u = 255 },
    { .name = "uint16",    .bytes = { 0xcd, 0x01, 0x00 }, .len = 3, .type = TS_MP_UINT, .u = 256 },
    { .name = "uint32",    .bytes = { 0xce, 0x00, 0x01, 0x00, 0x00 }, .len = 5, .type = TS_MP_UINT, .u = 65536 },
    { .name = "uint64",    .bytes = { 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, .len = 9, .type = TS_MP_UINT, .u = UINT64_MAX },
    { .name = "int8 -128", .bytes = { 0xd0, 0x80 }, .len = 2, .type = TS_MP_INT, .i = -128 },
    /* a non-negative value in a signed format reads as UINT: one type per value */
    { .name = "int8 5",    .bytes = { 0xd0, 0x05 }, .len = 2, .type = TS_MP_UINT, .u = 5 },
    { .name = "int16",     .bytes = { 0xd1, 0x80, 0x00 }, .len = 3, .type = TS_MP_INT, .i = -32768 },
    { .name = "int32",     .bytes = { 0xd2, 0x80, 0x00, 0x00, 0x00 }, .len = 5, .type = TS_MP_INT, .i = INT32_MIN },
    { .name = "int64",     .bytes = { 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0 }, .len = 9, .type = TS_MP_INT, .i = INT64_MIN },
    { .name = "int64 pos", .bytes = { 0xd3, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, .len = 9, .type = TS_MP_UINT, .u = INT64_MAX },
    { .name = "float32",   .bytes = { 0xca, 0x3f, 0xc0, 0x00, 0x00 }, .len = 5, .type = TS_MP_FLOAT, .f = 1.5 },
    { .name = "float64",   .bytes = { 0xcb, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a }, .len = 9, .type = TS_MP_FLOAT, .f = 0.1 },
    { .name = "fixstr",    .bytes = { 0xa3, 'a', 'b', 'c' }, .len = 4, .type = TS_MP_STR, .count = 3, .off = 1 },
    { .name = "fixstr 0",  .bytes = { 0xa0 }, .len = 1, .type = TS_MP_STR, .count = 0, .off = 1 },
    { .name = "str8",      .bytes = { 0xd9, 0x03, 'x', 'y', 'z' }, .len = 5, .type = TS_MP_STR, .count = 3, .off = 2 },
    { .name = "str16",     .bytes = { 0xda, 0x00, 0x02, 'h', 'i' }, .len = 5, .type = TS_MP_STR, .count = 2, .off = 3 },
    { .name = "str32",     .bytes = { 0xdb, 0x00, 0x00, 0x00, 0x01, 'q' }, .len = 6, .type = TS_MP_STR, .count = 1, .off = 5 },
    { .name = "bin8",      .bytes = { 0xc4, 0x02, 0x01, 0x02 }, .len = 4, .type = TS_MP_BIN, .count = 2, .off = 2 },
    { .name = "bin16",     .bytes = { 0xc5, 0x00, 0x01, 0xff }, .len = 4, .type = TS_MP_BIN, .count = 1, .off = 3 },
    { .name = "bin32",     .bytes = { 0xc6, 0x00, 0x00, 0x00, 0x00 }, .len = 5, .type = TS_MP_BIN, .count = 0, .off = 5 },
    { .name = "fixext1",   .bytes = { 0xd4, 0x05, 0xaa }, .len = 3, .type = TS_MP_EXT, .count = 1, .off = 2, .ext = 5 },
    { .name = "fixext2",   .bytes = { 0xd5, 0xfe, 0xaa, 0xbb }, .len = 4, .type = TS_MP_EXT, .count = 2, .off = 2, .ext = -2 },
    { .name = "fixext4",   .bytes = { 0xd6, 0x01, 1, 2, 3, 4 }, .len = 6, .type = TS_MP_EXT, .count = 4, .off = 2, .ext = 1 },
    { .name = "fixext8",   .bytes = { 0xd7, 0x02, 1, 2, 3, 4, 5, 6, 7, 8 }, .len = 10, .type = TS_MP_EXT, .count = 8, .off = 2, .ext = 2 },
    { .name = "fixext16",  .bytes = { 0xd8, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 }, .len = 18,
                   .type = TS_MP_EXT, .count = 16, .off = 2, .ext = 3 },
    { .name = "ext8",      .bytes = { 0xc7, 0x03, 0x07, 'a', 'b', 'c' }, .len = 6, .type = TS_MP_EXT, .count = 3, .off = 3, .ext = 7 },
    { .name = "ext16",     .bytes = { 0xc8, 0x00, 0x01, 0x07, 'x' }, .len = 5, .type = TS_MP_EXT, .count = 1, .off = 4, .ext = 7 },
    { .name = "ext32",     .bytes = { 0xc9, 0x00, 0x00, 0x00, 0x00, 0x09 }, .len = 6, .type = TS_MP_EXT, .count = 0, .off = 6, .ext = 9 },
    { .name = "fixarray",  .bytes = { 0x93, 0x01, 0x02, 0x03 }, .len = 4, .type = TS_MP_ARRAY, .count = 3 },
    { .name = "fixarray 0",.bytes = { 0x90 }, .len = 1, .type = TS_MP_ARRAY, .count = 0 },
    { .name = "array16",   .bytes = { 0xdc, 0x00, 0x02, 0xc0, 0xc0 }, .len = 5, .type = TS_MP_ARRAY, .count = 2 },
    { .name = "array32",   .bytes = { 0xdd, 0x00, 0x00, 0x00, 0x01, 0xc0 }, .len = 6, .type = TS_MP_ARRAY, .count = 1 },
    { .name = "fixmap",    .bytes = { 0x81, 0xa1, 'k', 0x01 }, .len = 4, .type = TS_MP_MAP, .count = 1 },
    { .name = "fixmap 0",  .bytes = { 0x80 }, .len = 1, .type = TS_MP_MAP, .count = 0 },
    { .name = "map16",     .bytes = { 0xde, 0x00, 0x01, 0xa1, 'k', 0xc3 }, .len = 6, .type = TS_MP_MAP, .count = 1 },
    { .name = "map32",     .bytes = { 0xdf, 0x00, 0x00, 0x00, 0x01, 0xa0, 0x90 }, .len = 7, .type = TS_MP_MAP, .count = 1 },
};
#define S_MP_NCASES (sizeof s_mp_cases / sizeof s_mp_cases [0])

static bool
s_is_container (ts_mp_type_t t)
{
    return t == TS_MP_ARRAY || t == TS_MP_MAP;
}

static void
test_mp_every_type (void **state)
{
    (void) state;
    for (size_t k = 0; k < S_MP_NCASES; k++) {
        const s_mp_case_t *c = &s_mp_cases [k];
        ts_mp_reader_t r;
        ts_mp_item_t it;
        ts_mp_reader_init (&r, c->bytes, c->len);
        if (ts_mp_next (&r, &it) != 0)
            fail_msg ("%s: ts_mp_next failed", c->name);
        if (it.type != c->type)
            fail_msg ("%s: type %d, expected %d", c->name, it.type, c->type);
        switch (c->type) {
        case TS_MP_BOOL:  assert_true (it.b == c->b); break;
        case TS_MP_UINT:  assert_true (it.u == c->u); break;
        case TS_MP_INT:   assert_true (it.i == c->i); break;
        case TS_MP_FLOAT: assert_true (it.f == c->f); break;
        case TS_MP_STR: case TS_MP_BIN: case TS_MP_EXT:
            assert_int_equal (it.len, c->count);
            /* zero-copy: the payload is borrowed from the input */
            assert_ptr_equal (it.ptr, (const char *) c->bytes + c->off);
            if (c->type == TS_MP_EXT)
                assert_int_equal (it.ext_type, c->ext);
            break;
        case TS_MP_ARRAY: case TS_MP_MAP:
            assert_int_equal (it.len, c->count);
            break;
        default:
            break;
        }
        if (!s_is_container (c->type))
            assert_true (ts_mp_at_end (&r));
        /* skip consumes exactly the whole value, elements included */
        ts_mp_reader_init (&r, c->bytes, c->len);
        assert_int_equal (ts_mp_skip (&r), 0);
        assert_true (ts_mp_at_end (&r));
    }
}

static void
test_mp_truncated (void **state)
{
    (void) state;
    for (size_t k = 0; k < S_MP_NCASES; k++) {
        const s_mp_case_t *c = &s_mp_cases [k];
        for (size_t cut = 0; cut < c->len; cut++) {
            ts_mp_reader_t r;
            ts_mp_item_t it;
            ts_mp_reader_init (&r, c->bytes, cut);
            if (ts_mp_skip (&r) != TS_EPROTO)
                fail_msg ("%s cut at %zu: skip did not fail", c->name, cut);
            /* a scalar's header or payload is cut: next itself must fail */
            ts_mp_reader_init (&r, c->bytes, cut);
            if (!s_is_container (c->type) && ts_mp_next (&r, &it) != TS_EPROTO)
                fail_msg ("%s cut at %zu: next did not fail", c->name, cut);
            /* nor may to_json or depth read past the cut */
            ts_buf_t out = { 0 };
            if (c->type != TS_MP_BIN && c->type != TS_MP_EXT)
                assert_int_equal (ts_mp_to_json (c->bytes, cut, &out), TS_ECORRUPT);
            ts_buf_free (&out);
            assert_int_equal (ts_mp_depth (c->bytes, cut), TS_EPROTO);
        }
    }
    /* 0xc1 is reserved */
    static const uint8_t reserved [] = { 0xc1 };
    ts_mp_reader_t r;
    ts_mp_item_t it;
    ts_mp_reader_init (&r, reserved, 1);
    assert_int_equal (ts_mp_next (&r, &it), TS_EPROTO);
}

/*  ts_mp_skip has its own fast walk (type bytes and lengths only): it must
 *  agree with a walk built on ts_mp_next, on valid and on broken input. */
static int
s_skip_by_next (ts_mp_reader_t *r)
{
    uint64_t pending = 1;
    ts_mp_item_t it;
    while (pending > 0) {
        if (ts_mp_next (r, &it))
            return TS_EPROTO;
        pending--;
        if (it.type == TS_MP_ARRAY)
            pending += it.len;
        else if (it.type == TS_MP_MAP)
            pending += 2 * (uint64_t) it.len;
    }
    return 0;
}

static void
test_mp_skip_agrees (void **state)
{
    (void) state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t buf [64];
    int valid = 0;
    for (int round = 0; round < 200000; round++) {
        size_t len = 1 + round % (sizeof buf);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            /* mostly small lengths and counts, so that many inputs are
             * valid msgpack and the walks go deep */
            uint8_t b = (uint8_t) x;
            buf [i] = (x >> 8) % 4 ? b : (uint8_t) (b & 0x03);
        }
        ts_mp_reader_t a, b;
        ts_mp_reader_init (&a, buf, len);
        ts_mp_reader_init (&b, buf, len);
        int ra = ts_mp_skip (&a), rb = s_skip_by_next (&b);
        if (ra != rb || (ra == 0 && a.p != b.p))
            fail_msg ("round %d (%zu bytes, first 0x%02x): skip %d at %td, by next %d at %td",
                      round, len, buf [0], ra, a.p - buf, rb, b.p - buf);
        valid += ra == 0;
    }
    /* the generator must exercise both outcomes */
    assert_true (valid > 10000 && valid < 190000);
}

static void
test_mp_forged_counts (void **state)
{
    (void) state;
    ts_mp_reader_t r;
    ts_mp_item_t it;
    /* counts far larger than the bytes left: refused at the header */
    static const uint8_t arr [] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0, 0xc0 };
    static const uint8_t map [] = { 0xdf, 0x7f, 0xff, 0xff, 0xff, 0xc0, 0xc0 };
    static const uint8_t str [] = { 0xdb, 0xff, 0xff, 0xff, 0xff, 'a' };
    static const uint8_t fixmap [] = { 0x82, 0xc0, 0xc0, 0xc0 };   /* needs 4 */
    ts_mp_reader_init (&r, arr, sizeof arr);
    assert_int_equal (ts_mp_next (&r, &it), TS_EPROTO);
    ts_mp_reader_init (&r, map, sizeof map);
    assert_int_equal (ts_mp_next (&r, &it), TS_EPROTO);
    ts_mp_reader_init (&r, str, sizeof str);
    assert_int_equal (ts_mp_next (&r, &it), TS_EPROTO);
    ts_mp_reader_init (&r, fixmap, sizeof fixmap);
    assert_int_equal (ts_mp_next (&r, &it), TS_EPROTO);

    /* Nested forgery: each header claims as many elements as there are
     * bytes left, so every count passes its own check. Walking it must
     * still end (in error) after at most one step per byte. */
    enum { N = 1 << 20 };
    uint8_t *buf = malloc (N);
    assert_non_null (buf);
    for (size_t i = 0; i + 3 <= N; i += 3) {
        size_t left = N - i - 3;
        uint16_t n = left > 0xffff ? 0xffff : (uint16_t) left;
        buf [i] = 0xdc; buf [i + 1] = (uint8_t) (n >> 8); buf [i + 2] = (uint8_t) n;
    }
    buf [N - 1] = 0xc0;
    double t0 = s_now ();
    ts_mp_reader_init (&r, buf, N);
    assert_int_equal (ts_mp_skip (&r), TS_EPROTO);
    ts_buf_t out = { 0 };
    assert_int_equal (ts_mp_to_json (buf, N, &out), TS_ECORRUPT);
    ts_buf_free (&out);
    int d = ts_mp_depth (buf, N);
    assert_true (d == TS_EPROTO || d > 0);   /* capped or error, never a hang */
    double took = s_now () - t0;
    /* a linear walk of 1 MiB is milliseconds even under ASan */
    if (took > 5.0)
        fail_msg ("forged counts took %.2f s", took);
    free (buf);
}

static void
test_mp_typed_readers (void **state)
{
    (void) state;
    s_mp_t m;
    s_mp_init (&m);
    msgpack_pack_array (&m.pk, 8);
    s_pk_str (&m, "key", 3);
    msgpack_pack_uint64 (&m.pk, UINT64_MAX);
    msgpack_pack_int64 (&m.pk, INT64_MIN);
    msgpack_pack_uint64 (&m.pk, (uint64_t) INT64_MAX + 1);
    msgpack_pack_int64 (&m.pk, -7);
    msgpack_pack_uint64 (&m.pk, 12);
    msgpack_pack_double (&m.pk, 2.5);
    msgpack_pack_map (&m.pk, 0);

    ts_mp_reader_t r;
    uint32_t n;
    const char *s;
    uint32_t sl;
    uint64_t u;
    int64_t i;
    double f;
    ts_mp_reader_init (&r, m.sb.data, m.sb.size);
    assert_int_equal (ts_mp_read_array (&r, &n), 0);
    assert_int_equal (n, 8);
    assert_int_equal (ts_mp_read_str (&r, &s, &sl), 0);
    assert_int_equal (sl, 3);
    assert_memory_equal (s, "key", 3);
    assert_int_equal (ts_mp_read_uint (&r, &u), 0);
    assert_true (u == UINT64_MAX);
    assert_int_equal (ts_mp_read_int (&r, &i), 0);
    assert_true (i == INT64_MIN);
    /* above INT64_MAX does not fit an int64: refused, not wrapped */
    assert_int_equal (ts_mp_read_int (&r, &i), TS_EPROTO);
    assert_int_equal (ts_mp_read_double (&r, &f), 0);
    assert_true (f == -7.0);
    assert_int_equal (ts_mp_read_int (&r, &i), 0);
    assert_true (i == 12);
    assert_int_equal (ts_mp_read_double (&r, &f), 0);
    assert_true (f == 2.5);
    assert_int_equal (ts_mp_read_map (&r, &n), 0);
    assert_int_equal (n, 0);
    assert_true (ts_mp_at_end (&r));

    /* wrong types are refused */
    ts_mp_reader_init (&r, m.sb.data, m.sb.size);
    assert_int_equal (ts_mp_read_map (&r, &n), TS_EPROTO);
    ts_mp_reader_init (&r, m.sb.data, m.sb.size);
    assert_int_equal (ts_mp_read_array (&r, &n), 0);
    assert_int_equal (ts_mp_read_uint (&r, &u), TS_EPROTO);

    ts_mp_item_t it;
    ts_mp_reader_init (&r, m.sb.data, m.sb.size);
    assert_int_equal (ts_mp_next (&r, &it), 0);
    assert_false (ts_mp_item_is_str (&it, "key"));
    assert_int_equal (ts_mp_next (&r, &it), 0);
    assert_true (ts_mp_item_is_str (&it, "key"));
    assert_false (ts_mp_item_is_str (&it, "ke"));
    assert_false (ts_mp_item_is_str (&it, "keys"));
    s_mp_fini (&m);
}

static void
test_mp_depth (void **state)
{
    (void) state;
    static const uint8_t scalar [] = { 0x01 };
    static const uint8_t flat [] = { 0x81, 0xa1, 'a', 0x01 };
    static const uint8_t empty [] = { 0x80 };
    /* {"a":[1,[2]]} */
    static const uint8_t three [] = { 0x81, 0xa1, 'a', 0x92, 0x01, 0x91, 0x02 };
    /* [[[]],[]]: the deepest branch counts, not the last one */
    static const uint8_t sib [] = { 0x92, 0x91, 0x90, 0x90 };
    /* [[],[[]]] */
    static const uint8_t sib2 [] = { 0x92, 0x90, 0x91, 0x90 };
    assert_int_equal (ts_mp_depth (scalar, sizeof scalar), 0);
    assert_int_equal (ts_mp_depth (flat, sizeof flat), 1);
    assert_int_equal (ts_mp_depth (empty, sizeof empty), 1);
    assert_int_equal (ts_mp_depth (three, sizeof three), 3);
    assert_int_equal (ts_mp_depth (sib, sizeof sib), 3);
    assert_int_equal (ts_mp_depth (sib2, sizeof sib2), 3);
    assert_int_equal (ts_mp_depth (three, sizeof three - 1), TS_EPROTO);

    uint8_t deep [1000];
    memset (deep, 0x91, sizeof deep);
    deep [sizeof deep - 1] = 0x90;
    assert_int_equal (ts_mp_depth (deep, sizeof deep), 1000);
}

/* --- ts_mp_to_json ---------------------------------------------------------- */

static void
test_to_json_strings (void **state)
{
    (void) state;
    s_mp_t m;
    s_mp_init (&m);
    static const char s [] = "q\"b\\n\nr\rt\tb\bf\f\x01\x1f\x7f" "\xc3\xa9\xf0\x9f\x9a\x80/";
    static const char nul [] = { 'a', 0, 'b' };
    msgpack_pack_map (&m.pk, 2);
    s_pk_str (&m, s, sizeof s - 1);
    s_pk_str (&m, nul, sizeof nul);
    s_pk_str (&m, "", 0);
    s_pk_str (&m, "\x10", 1);
    /* control characters become \u00XX, the common ones their short
     * escapes; DEL, '/' and UTF-8 pass through unchanged */
    s_expect_json (m.sb.data, m.sb.size,
                   "{\"q\\\"b\\\\n\\nr\\rt\\tb\\bf\\f\\u0001\\u001f\x7f\xc3\xa9\xf0\x9f\x9a\x80/\":"
                   "\"a\\u0000b\",\"\":\"\\u0010\"}");
    s_mp_fini (&m);
}

static void
test_to_json_numbers (void **state)
{
    (void) state;
    /* floats keep a '.' or an exponent, so they read back as floats */
    s_expect_double_json (1.0, "1.0");
    s_expect_double_json (-0.0, "-0.0");
    s_expect_double_json (0.0, "0.0");
    s_expect_double_json (100.0, "100.0");
    s_expect_double_json (-2.5, "-2.5");
    /* shortest text that reads back to the same double */
    s_expect_double_json (0.1, "0.1");
    s_expect_double_json (0.1 + 0.2, "0.30000000000000004");
    s_expect_double_json (1e-7, "1e-07");
    s_expect_double_json (5e-324, "5e-324");
    s_expect_double_json (2.2250738585072014e-308, "2.2250738585072014e-308");
    s_expect_double_json (1.7976931348623157e308, "1.7976931348623157e+308");
    s_expect_double_json (1e21, "1e+21");
    s_expect_double_json (123456789012345678.0, "1.2345678901234568e+17");

    s_mp_t m;
    s_mp_init (&m);
    msgpack_pack_array (&m.pk, 6);
    msgpack_pack_uint64 (&m.pk, UINT64_MAX);
    msgpack_pack_int64 (&m.pk, INT64_MIN);
    msgpack_pack_int64 (&m.pk, 0);
    msgpack_pack_int64 (&m.pk, -1);
    msgpack_pack_float (&m.pk, 1.5f);
    msgpack_pack_nil (&m.pk);
    s_expect_json (m.sb.data, m.sb.size,
                   "[18446744073709551615,-9223372036854775808,0,-1,1.5,null]");
    s_mp_fini (&m);
}

static void
test_to_json_containers (void **state)
{
    (void) state;
    static const uint8_t empty_map [] = { 0x80 };
    static const uint8_t empty_arr [] = { 0x90 };
    s_expect_json (empty_map, 1, "{}");
    s_expect_json (empty_arr, 1, "[]");

    s_mp_t m;
    s_mp_init (&m);
    msgpack_pack_map (&m.pk, 3);
    s_pk_str (&m, "a", 1);
    msgpack_pack_array (&m.pk, 4);
    msgpack_pack_int64 (&m.pk, 1);
    msgpack_pack_map (&m.pk, 1);
    s_pk_str (&m, "b", 1);
    msgpack_pack_array (&m.pk, 0);
    msgpack_pack_map (&m.pk, 0);
    msgpack_pack_array (&m.pk, 1);
    msgpack_pack_array (&m.pk, 0);
    s_pk_str (&m, "c", 1);
    msgpack_pack_map (&m.pk, 3);
    s_pk_str (&m, "d", 1);
    msgpack_pack_nil (&m.pk);
    s_pk_str (&m, "e", 1);
    msgpack_pack_true (&m.pk);
    s_pk_str (&m, "f", 1);
    msgpack_pack_false (&m.pk);
    /* duplicate keys are written as they are, in order */
    s_pk_str (&m, "a", 1);
    msgpack_pack_int64 (&m.pk, 2);
    s_expect_json (m.sb.data, m.sb.size,
                   "{\"a\":[1,{\"b\":[]},{},[[]]],\"c\":{\"d\":null,\"e\":true,\"f\":false},\"a\":2}");
    s_mp_fini (&m);

    /* deeper than the walker's built-in stack (64): it must grow */
    enum { D = 300 };
    uint8_t deep [D + 1];
    char expect [2 * D + 8];
    memset (deep, 0x91, D);
    deep [D] = 0x07;
    memset (expect, '[', D);
    expect [D] = '7';
    memset (expect + D + 1, ']', D);
    expect [2 * D + 1] = 0;
    s_expect_json (deep, sizeof deep, expect);
}

static void
test_to_json_rejects (void **state)
{
    (void) state;
    ts_buf_t out = { 0 };
    static const uint8_t int_key [] = { 0x81, 0x01, 0x02 };       /* {1:2} */
    static const uint8_t bin [] = { 0xc4, 0x01, 0x00 };
    static const uint8_t ext [] = { 0xd4, 0x01, 0x00 };
    static const uint8_t reserved [] = { 0x91, 0xc1 };
    static const uint8_t short_arr [] = { 0x92, 0x01 };
    assert_int_equal (ts_mp_to_json (int_key, sizeof int_key, &out), TS_ECORRUPT);
    assert_int_equal (ts_mp_to_json (bin, sizeof bin, &out), TS_ECORRUPT);
    assert_int_equal (ts_mp_to_json (ext, sizeof ext, &out), TS_ECORRUPT);
    assert_int_equal (ts_mp_to_json (reserved, sizeof reserved, &out), TS_ECORRUPT);
    assert_int_equal (ts_mp_to_json (short_arr, sizeof short_arr, &out), TS_ECORRUPT);
    assert_int_equal (ts_mp_to_json ("", 0, &out), TS_ECORRUPT);
    ts_buf_free (&out);
}

/* --- ts_format_double ------------------------------------------------------- */

/*  Significant digits of a %g-style text: the mantissa's digits without
 *  leading or trailing zeros ("100.0" has 1, "0.0120" has 2). */
static int
s_sig_digits (const char *s)
{
    char d [64];
    int n = 0;
    for (; *s && *s != 'e' && *s != 'E' && n < (int) sizeof d; s++)
        if (*s >= '0' && *s <= '9' && (n > 0 || *s != '0'))
            d [n++] = *s;
    while (n > 0 && d [n - 1] == '0')
        n--;
    return n ? n : 1;
}

/*  Checks the contract on one value: reads back bit-exactly, stays a float,
 *  and no text with fewer significant digits would read back. */
static void
s_check_format (double v)
{
    char buf [32], shorter [400];
    int n = ts_format_double (v, buf);
    assert_int_equal (n, (int) strlen (buf));
    double back = strtod (buf, NULL);
    if (memcmp (&back, &v, sizeof v) != 0)
        fail_msg ("%.17g formats as '%s' which reads back as %.17g", v, buf, back);
    assert_non_null (strpbrk (buf, ".e"));
    int digits = s_sig_digits (buf);
    if (digits > 1) {
        snprintf (shorter, sizeof shorter, "%.*g", digits - 1, v);
        if (strtod (shorter, NULL) == v)
            fail_msg ("%.17g formats as '%s' but '%s' is shorter", v, buf, shorter);
    }
}

static void
test_format_double (void **state)
{
    (void) state;
    static const double fixed [] = {
        0.0, -0.0, 1.0, -1.0, 0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 1e-7, 1e7, 1e15, 1e16, 1e17,
        1e22, 1e23, 5e-324, 1e-323, 2.2250738585072009e-308, 2.2250738585072014e-308,
        DBL_MAX, -DBL_MAX, DBL_EPSILON, 1 + DBL_EPSILON, 9007199254740993.0,
        0.30000000000000004, 123.456, 4.35, 0.000001, 1e-5, 299792458.0
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed [0]; i++)
        s_check_format (fixed [i]);

    char buf [32];
    assert_int_equal (ts_format_double (NAN, buf), 4);
    assert_string_equal (buf, "null");
    assert_int_equal (ts_format_double (-INFINITY, buf), 4);
    assert_string_equal (buf, "null");
    ts_format_double (42.0, buf);
    assert_string_equal (buf, "42.0");

    /* random bit patterns cover every exponent, subnormals included */
    uint64_t seed = 0x5eed0001;
    for (int k = 0; k < 20000; k++) {
        uint64_t bits = s_rand (&seed);
        if (k % 10 == 0)
            bits &= UINT64_C (0x800fffffffffffff);     /* a subnormal */
        double v;
        memcpy (&v, &bits, sizeof v);
        if (isfinite (v))
            s_check_format (v);
    }
}

/* --- ts_parse_iso8601 ------------------------------------------------------- */

/*  Epoch ms through the C library's timegm, the independent reference. */
static int64_t
s_timegm_ms (int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = { 0 };
    tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d;
    tm.tm_hour = h; tm.tm_min = mi; tm.tm_sec = s;
    return (int64_t) timegm (&tm) * 1000;
}

static int64_t
s_iso (const char *s)
{
    int64_t ms = INT64_MIN;
    if (ts_parse_iso8601 (s, strlen (s), &ms) != 0)
        fail_msg ("'%s' was refused", s);
    return ms;
}

static void
test_iso8601_valid (void **state)
{
    (void) state;
    int64_t base = s_timegm_ms (2026, 3, 14, 9, 26, 53);
    assert_true (s_iso ("1970-01-01T00:00:00Z") == 0);
    assert_true (s_iso ("1970-01-01") == 0);
    assert_true (s_iso ("1969-12-31T23:59:59Z") == -1000);
    assert_true (s_iso ("2026-03-14T09:26:53Z") == base);
    assert_true (s_iso ("2026-03-14t09:26:53z") == base);
    assert_true (s_iso ("2026-03-14T09:26:53") == base);
    assert_true (s_iso ("2026-03-14T09:26:53.589Z") == base + 589);
    assert_true (s_iso ("2026-03-14T09:26:53.5Z") == base + 500);
    assert_true (s_iso ("2026-03-14T09:26:53.05Z") == base + 50);
    assert_true (s_iso ("2026-03-14T09:26:53,25Z") == base + 250);
    /* sub-millisecond digits are dropped */
    assert_true (s_iso ("2026-03-14T09:26:53.123456789Z") == base + 123);
    assert_true (s_iso ("2026-03-14 09:26:53Z") == base);
    /* +02:00 is two hours ahead of UTC: the same instant is 2 h earlier */
    assert_true (s_iso ("2026-03-14 09:26:53+02:00") == base - 2 * 3600000);
    assert_true (s_iso ("2026-03-14T09:26:53+0200") == base - 2 * 3600000);
    assert_true (s_iso ("2026-03-14T09:26:53-05:30") == base + 5 * 3600000 + 30 * 60000);
    assert_true (s_iso ("2026-03-14T09:26:53.589+00:00") == base + 589);
    assert_true (s_iso ("2026-03-14") == s_timegm_ms (2026, 3, 14, 0, 0, 0));
    assert_true (s_iso ("2024-02-29T12:00:00Z") == s_timegm_ms (2024, 2, 29, 12, 0, 0));
    assert_true (s_iso ("2000-02-29") == s_timegm_ms (2000, 2, 29, 0, 0, 0));

    /* every day of 1899..2101 agrees with timegm (leap years, centuries) */
    static const int mdays [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    uint64_t seed = 0x1505;
    for (int y = 1899; y <= 2101; y++)
        for (int mo = 1; mo <= 12; mo++) {
            bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            int nd = mdays [mo - 1] + (mo == 2 && leap);
            for (int d = 1; d <= nd; d++) {
                int h = (int) (s_rand (&seed) % 24), mi = (int) (s_rand (&seed) % 60);
                int sec = (int) (s_rand (&seed) % 60);
                char text [40];
                snprintf (text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, h, mi, sec);
                if (s_iso (text) != s_timegm_ms (y, mo, d, h, mi, sec))
                    fail_msg ("'%s' differs from timegm", text);
            }
        }
}

static void
test_iso8601_invalid (void **state)
{
    (void) state;
    static const char *const bad [] = {
        "", "garbage", "2026", "2026-03", "2026-13-01", "2026-00-10", "2026-01-32",
        "2026-01-00", "2026-04-31", "2026-02-30", "2023-02-29", "1900-02-29",
        "2026-3-14", "26-03-14", "2026/03/14", "2026-03-14x", "2026-03-14T",
        "2026-03-14T09", "2026-03-14T09:26:53Zjunk", "2026-03-14T09:26:53 ",
        "2026-03-14T24:00:00Z", "2026-03-14T09:60:00Z", "2026-03-14T09:26:61Z",
        "2026-03-14T09:26:53.Z", "2026-03-14T09:26:53+2", "2026-03-14T09:26:53+24:00",
        "2026-03-14T09:26:53+02:60", "2026-03-14T09:26:53Q", " 2026-03-14",
        "2026-03-14T9:26:53Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        int64_t ms = 0;
        if (ts_parse_iso8601 (bad [i], strlen (bad [i]), &ms) != TS_EINVAL)
            fail_msg ("'%s' was accepted as %lld", bad [i], (long long) ms);
    }
    /* the length bounds the text: no reading past it, no NUL needed */
    int64_t ms;
    assert_int_equal (ts_parse_iso8601 ("2026-03-14T09:26:53Z", 7, &ms), TS_EINVAL);
    assert_int_equal (ts_parse_iso8601 ("2026-03-14T09:26:53Z", 10, &ms), 0);
    assert_true (ms == s_timegm_ms (2026, 3, 14, 0, 0, 0));
}

/* --- summaries ---------------------------------------------------------------- */

static void
test_summary_round_trip (void **state)
{
    (void) state;
    ts_summary_t full = {
        .id = "rec-1", .id_len = 5, .group = "g\0x", .group_len = 3,
        .model = "m", .model_len = 1, .has_reward = true, .reward = -0.25,
        .success = 1, .has_created = true, .created_ms = -5,
        .has_steps = true, .steps = 12, .ingested_ms = 1700000000000,
        .run = "trial_0", .run_len = 7
    };
    ts_summary_t bare = {
        .id = "x", .id_len = 1, .success = TS_SUCCESS_UNKNOWN, .ingested_ms = 7
    };
    const ts_summary_t *cases [] = { &full, &bare };
    for (int k = 0; k < 2; k++) {
        const ts_summary_t *a = cases [k];
        s_mp_t m;
        s_mp_init (&m);
        assert_int_equal (ts_summary_pack (&m.pk, a), 0);
        msgpack_pack_map (&m.pk, 0);        /* the object that follows */
        ts_summary_t b;
        const char *obj;
        size_t obj_len;
        assert_int_equal (ts_record_split (m.sb.data, m.sb.size, &b, &obj, &obj_len), 0);
        assert_int_equal (obj_len, 1);
        assert_int_equal ((uint8_t) obj [0], 0x80);
        assert_int_equal (b.id_len, a->id_len);
        assert_memory_equal (b.id, a->id, a->id_len);
        assert_true ((b.group == NULL) == (a->group == NULL));
        assert_true ((b.model == NULL) == (a->model == NULL));
        if (a->group) {
            assert_int_equal (b.group_len, a->group_len);
            assert_memory_equal (b.group, a->group, a->group_len);
        }
        assert_true (b.has_reward == a->has_reward && b.reward == a->reward);
        assert_int_equal (b.success, a->success);
        assert_true (b.has_created == a->has_created && b.created_ms == a->created_ms);
        assert_true (b.has_steps == a->has_steps && b.steps == a->steps);
        assert_true (b.ingested_ms == a->ingested_ms);
        assert_true ((b.run == NULL) == (a->run == NULL));
        if (a->run) {
            assert_int_equal (b.run_len, a->run_len);
            assert_memory_equal (b.run, a->run, a->run_len);
        }
        assert_true (ts_summary_time (&b) == (a->has_created ? a->created_ms : a->ingested_ms));
        /* every strict prefix of the summary is corrupt */
        size_t used;
        ts_summary_t c;
        assert_int_equal (ts_summary_unpack_buf (m.sb.data, m.sb.size, &c, &used), 0);
        assert_int_equal (used, m.sb.size - 1);
        for (size_t cut = 0; cut < used; cut++)
            assert_int_equal (ts_summary_unpack_buf (m.sb.data, cut, &c, NULL), TS_ECORRUPT);
        s_mp_fini (&m);
    }
}

/*  A summary written before runs (8 elements) reads with no run, and one
 *  from a later build (more elements) reads with the ones known. */
static void
test_summary_older_newer (void **state)
{
    (void) state;
    for (int n = 8; n <= 10; n += 2) {
        s_mp_t m;
        s_mp_init (&m);
        msgpack_pack_array (&m.pk, (size_t) n);
        ts_mp_pack_cstr (&m.pk, "id-1");
        for (int i = 1; i < 7; i++)
            msgpack_pack_nil (&m.pk);
        msgpack_pack_int64 (&m.pk, 42);
        if (n > 8) {
            ts_mp_pack_cstr (&m.pk, "r");
            msgpack_pack_true (&m.pk);
        }
        ts_summary_t s;
        size_t used;
        assert_int_equal (ts_summary_unpack_buf (m.sb.data, m.sb.size, &s, &used), 0);
        assert_int_equal (used, m.sb.size);
        assert_int_equal (s.ingested_ms, 42);
        if (n == 8)
            assert_null (s.run);
        else
            assert_true (s.run_len == 1 && s.run [0] == 'r');
        s_mp_fini (&m);
    }
}

/* --- ids and shards ----------------------------------------------------------- */

static void
test_hash_id (void **state)
{
    (void) state;
    char a [33], b [33], ref [33];
    /* pinned: stored ids must not change between versions (dedupe across
     * imports depends on it); this is XXH3-128 of the empty input */
    ts_hash_id ("", 0, a);
    assert_string_equal (a, "99aa06d3014798d86001c324468d497f");

    static const char line [] = "{\"reward\":1}";
    ts_hash_id (line, sizeof line - 1, a);
    ts_hash_id (line, sizeof line - 1, b);
    assert_string_equal (a, b);
    assert_int_equal (strlen (a), 32);
    assert_int_equal (strspn (a, "0123456789abcdef"), 32);
    XXH128_hash_t h = XXH3_128bits (line, sizeof line - 1);
    snprintf (ref, sizeof ref, "%016llx%016llx",
              (unsigned long long) h.high64, (unsigned long long) h.low64);
    assert_string_equal (a, ref);

    ts_hash_id (line, sizeof line - 2, b);      /* one byte less */
    assert_string_not_equal (a, b);
}

static void
test_shard_of (void **state)
{
    (void) state;
    enum { N = 10000, S = 16 };
    int count [S] = { 0 };
    char id [32];
    for (int i = 0; i < N; i++) {
        int n = snprintf (id, sizeof id, "rec-%d", i);
        uint32_t s = ts_shard_of (id, (size_t) n, S);
        assert_true (s < S);
        assert_int_equal (ts_shard_of (id, (size_t) n, S), s);   /* stable */
        count [s]++;
        assert_true (ts_shard_of (id, (size_t) n, 7) < 7);
        assert_int_equal (ts_shard_of (id, (size_t) n, 1), 0);
    }
    /* expected 625 each, sd ~24: +-20% is about 5 sd */
    for (int s = 0; s < S; s++)
        if (count [s] < N / S * 8 / 10 || count [s] > N / S * 12 / 10)
            fail_msg ("shard %d got %d of %d ids", s, count [s], N);
}

/* --- keys ------------------------------------------------------------------- */

static int
s_sign (int v)
{
    return (v > 0) - (v < 0);
}

static void
test_key_double_order (void **state)
{
    (void) state;
    /* strictly increasing, except -0.0 and 0.0 which must be equal */
    static const double sorted [] = {
        -INFINITY, -DBL_MAX, -1e300, -1e10, -1.5, -1.0, -0.5, -DBL_MIN * 2, -DBL_MIN,
        -1e-320, -5e-324, -0.0, 0.0, 5e-324, 1e-320, DBL_MIN, 1e-300, 1e-7, 0.1, 0.5,
        1.0, 1.0 + DBL_EPSILON, 2.0, 1e10, 9007199254740993.0, 1e300, DBL_MAX, INFINITY
    };
    enum { N = sizeof sorted / sizeof sorted [0] };
    char k [N][8];
    for (int i = 0; i < N; i++)
        ts_key_put_double (k [i], sorted [i]);
    for (int i = 0; i + 1 < N; i++) {
        int c = memcmp (k [i], k [i + 1], 8);
        if (sorted [i] == sorted [i + 1]) {
            if (c != 0)
                fail_msg ("%g and %g have different keys", sorted [i], sorted [i + 1]);
        }
        else if (c >= 0)
            fail_msg ("key of %g does not sort before key of %g", sorted [i], sorted [i + 1]);
    }
    for (int i = 0; i < N; i++) {
        double back = ts_key_get_double (k [i]);
        assert_true (back == sorted [i]);
        assert_false (signbit (back) && back == 0);     /* -0.0 is kept as 0.0 */
    }
    /* random pairs: byte order is numeric order */
    uint64_t seed = 0xd0b1e;
    for (int n = 0; n < 50000; n++) {
        uint64_t ba = s_rand (&seed), bb = n % 3 ? s_rand (&seed) : ba ^ (s_rand (&seed) & 0xff);
        double a, b;
        memcpy (&a, &ba, 8);
        memcpy (&b, &bb, 8);
        if (isnan (a) || isnan (b))
            continue;
        char ka [8], kb [8];
        ts_key_put_double (ka, a);
        ts_key_put_double (kb, b);
        if (s_sign (memcmp (ka, kb, 8)) != (a > b) - (a < b))
            fail_msg ("keys of %.17g and %.17g are out of order", a, b);
        if (ts_key_get_double (ka) != a)
            fail_msg ("%.17g does not decode back", a);
    }
}

static void
test_key_i64_order (void **state)
{
    (void) state;
    static const int64_t sorted [] = {
        INT64_MIN, INT64_MIN + 1, -4294967296, -65536, -256, -1, 0, 1, 255, 256,
        65536, 4294967296, INT64_MAX - 1, INT64_MAX
    };
    enum { N = sizeof sorted / sizeof sorted [0] };
    char k [N][8];
    for (int i = 0; i < N; i++) {
        ts_key_put_i64 (k [i], sorted [i]);
        assert_true (ts_key_get_i64 (k [i]) == sorted [i]);
    }
    for (int i = 0; i + 1 < N; i++)
        assert_true (memcmp (k [i], k [i + 1], 8) < 0);
    uint64_t seed = 0x164;
    for (int n = 0; n < 50000; n++) {
        int64_t a = (int64_t) s_rand (&seed), b = (int64_t) s_rand (&seed);
        if (n % 2)
            b = a + (int64_t) (s_rand (&seed) % 5) - 2;   /* near neighbours */
        char ka [8], kb [8];
        ts_key_put_i64 (ka, a);
        ts_key_put_i64 (kb, b);
        assert_int_equal (s_sign (memcmp (ka, kb, 8)), (a > b) - (a < b));
        assert_true (ts_key_get_i64 (ka) == a);
    }
}

/*  Compares two keys as the store's B+ tree does: bytes, then length. */
static int
s_keycmp (const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp (a, b, al < bl ? al : bl);
    return c ? s_sign (c) : (al > bl) - (al < bl);
}

/*  A sequence as the store hands them out: from 1 up, below 2^63 (the
 *  8-byte code is that of a signed number). Often a small one. */
static uint64_t
s_rand_seq (uint64_t *seed)
{
    uint64_t r = s_rand (seed);
    return r % 3 ? r % 16 : r >> 1;
}

static void
test_key_group_escaping (void **state)
{
    (void) state;
    char k1 [TS_KEY_MAX], k2 [TS_KEY_MAX], k3 [TS_KEY_MAX];
    size_t n1 = ts_key_group (k1, "g", 1, INT64_MAX);
    size_t n2 = ts_key_group (k2, "g\0x", 3, 1);
    size_t n3 = ts_key_group (k3, "ga", 2, 0);
    /* "g" < "g\0x" < "ga" as strings, whatever the sequences that follow */
    assert_int_equal (s_keycmp (k1, n1, k2, n2), -1);
    assert_int_equal (s_keycmp (k2, n2, k3, n3), -1);
    assert_int_equal (k1 [0], TS_TAG_GROUP);

    /* Property: key order is (group, sequence) order, for strings made of
     * the bytes that matter to the escaping (0x00, 0x01, 0xff) and a letter. */
    static const char alphabet [] = { 0x00, 0x01, (char) 0xff, 'a' };
    uint64_t seed = 0x6e5c;
    for (int n = 0; n < 20000; n++) {
        char g [2][6];
        size_t gl [2];
        uint64_t seq [2];
        for (int s = 0; s < 2; s++) {
            gl [s] = s_rand (&seed) % 6;
            for (size_t i = 0; i < gl [s]; i++)
                g [s][i] = alphabet [s_rand (&seed) % 4];
            seq [s] = s_rand_seq (&seed);
        }
        if (n % 4 == 0) {               /* often the same group */
            gl [1] = gl [0];
            memcpy (g [1], g [0], gl [0]);
        }
        int want = s_keycmp (g [0], gl [0], g [1], gl [1]);
        if (want == 0)
            want = (seq [0] > seq [1]) - (seq [0] < seq [1]);
        size_t a = ts_key_group (k1, g [0], gl [0], seq [0]);
        size_t b = ts_key_group (k2, g [1], gl [1], seq [1]);
        assert_int_equal (s_keycmp (k1, a, k2, b), want);
        size_t ma = ts_key_model (k1, g [0], gl [0], seq [0]);
        size_t mb = ts_key_model (k2, g [1], gl [1], seq [1]);
        assert_int_equal (s_keycmp (k1, ma, k2, mb), want);
        assert_int_equal (k1 [0], TS_TAG_MODEL);
    }
}

/*  Within one group (model), keys come in sequence order, so records
 *  stored one after another append at the end of the group's range. */
static void
test_key_group_sequence_order (void **state)
{
    (void) state;
    static const char *const names [] = { "g", "", "g\0", "\xff\xff" };
    static const size_t name_len [] = { 1, 0, 2, 2 };
    char prev [TS_KEY_MAX], k [TS_KEY_MAX], d [TS_KEY_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        for (int model = 0; model < 2; model++) {
            size_t plen = 0;
            for (uint64_t seq = 1; seq < 5000; seq += 1 + seq / 7) {
                size_t kl = model ? ts_key_model (k, names [i], name_len [i], seq)
                                  : ts_key_group (k, names [i], name_len [i], seq);
                if (seq > 1)
                    assert_int_equal (s_keycmp (prev, plen, k, kl), -1);
                /* the key ends with the D key's sequence bytes */
                assert_int_equal (ts_key_data (d, seq), 9);
                assert_memory_equal (k + kl - 8, d + 1, 8);
                assert_true ((uint64_t) ts_key_get_i64 (k + kl - 8) == seq);
                memcpy (prev, k, kl);
                plen = kl;
            }
        }
}

static void
test_key_group_prefix_range (void **state)
{
    (void) state;
    char lo [TS_KEY_MAX], hi [TS_KEY_MAX], k [TS_KEY_MAX], mlo [TS_KEY_MAX];
    size_t nlo = ts_key_group_prefix (lo, "ab", 2);
    size_t nmlo = ts_key_model_prefix (mlo, "ab", 2);
    assert_int_equal (nmlo, nlo);
    assert_int_equal (mlo [0], TS_TAG_MODEL);
    assert_memory_equal (mlo + 1, lo + 1, nlo - 1);
    memcpy (hi, lo, nlo);
    hi [nlo - 1]++;                     /* prefix-end: the prefix's successor */
    size_t nhi = nlo;
    static const char *const others [] = { "abc", "a", "b", "", "ab\xff", "aa", "ac" };
    static const size_t other_len [] = { 3, 1, 1, 0, 3, 2, 2 };
    uint64_t seed = 0xab;
    for (int n = 0; n < 5000; n++) {
        uint64_t seq = n < 2 ? (uint64_t) n * INT64_MAX : s_rand_seq (&seed);
        size_t kl = ts_key_group (k, "ab", 2, seq);
        assert_int_equal (kl, nlo + 8);
        assert_true (memcmp (k, lo, nlo) == 0);
        assert_true (s_keycmp (k, kl, lo, nlo) >= 0);
        assert_true (s_keycmp (k, kl, hi, nhi) < 0);
        for (size_t o = 0; o < sizeof others / sizeof others [0]; o++) {
            kl = ts_key_group (k, others [o], other_len [o], seq);
            bool inside = s_keycmp (k, kl, lo, nlo) >= 0 && s_keycmp (k, kl, hi, nhi) < 0;
            if (inside)
                fail_msg ("a key of group '%s' falls inside the range of 'ab'", others [o]);
        }
        /* "ab\0..." is the sneaky one: it shares the bytes "ab" and a 0 */
        static const char nul_group [] = { 'a', 'b', 0, 'x' };
        kl = ts_key_group (k, nul_group, sizeof nul_group, seq);
        assert_false (s_keycmp (k, kl, lo, nlo) >= 0 && s_keycmp (k, kl, hi, nhi) < 0);
        /* a model key starts with its model's prefix the same way */
        kl = ts_key_model (k, "ab", 2, seq);
        assert_int_equal (kl, nmlo + 8);
        assert_memory_equal (k, mlo, nmlo);
    }
}

static void
test_key_layouts (void **state)
{
    (void) state;
    char k [TS_KEY_MAX], a [TS_KEY_MAX], b [TS_KEY_MAX];
    /* exact bytes: the layout is on disk, it must not drift (ts_key.h) */
    size_t n = ts_key_group (k, "g\0h", 3, 2);
    assert_int_equal (n, 1 + 4 + 2 + 8);
    assert_memory_equal (k, "Gg\0\xffh\0\1\x80\0\0\0\0\0\0\2", n);
    n = ts_key_group_prefix (k, "g\0h", 3);
    assert_int_equal (n, 1 + 4 + 2);
    assert_memory_equal (k, "Gg\0\xffh\0\1", n);
    n = ts_key_model (k, "m", 1, 0x0102030405);
    assert_int_equal (n, 4 + 8);
    assert_memory_equal (k, "Mm\0\1\x80\0\0\x01\x02\x03\x04\x05", n);
    n = ts_key_model_prefix (k, "m", 1);
    assert_int_equal (n, 4);
    assert_memory_equal (k, "Mm\0\1", n);
    n = ts_key_data (k, 2);
    assert_int_equal (n, 9);
    assert_memory_equal (k, "D\x80\0\0\0\0\0\0\2", n);
    n = ts_key_reward (k, 0.5, 2, "r", 1);            /* 0.5 is 0x3fe0..., sign bit set */
    assert_int_equal (n, 18);
    assert_memory_equal (k, "W\xbf\xe0\0\0\0\0\0\0\x80\0\0\0\0\0\0\2r", n);
    n = ts_key_reward (k, 0.5, 2, NULL, 0);           /* every entry of that reward */
    assert_int_equal (n, 9);
    n = ts_key_time (k, 1, NULL, 0);
    assert_memory_equal (k, "T\x80\0\0\0\0\0\0\1", 9);
    n = ts_key_commit (k, "j", 1, 2);
    assert_int_equal (n, 1 + 3 + 8);
    assert_memory_equal (k, "Cj\0\1\x80\0\0\0\0\0\0\2", n);
    n = ts_key_record (k, "id1", 3);
    assert_int_equal (n, 4);
    assert_memory_equal (k, "Rid1", 4);
    assert_int_equal (ts_key_record (k, NULL, 0), 1);
    n = ts_key_reward (k, 0.5, 0, "x", 1);
    assert_int_equal (n, 18);
    assert_int_equal (k [0], TS_TAG_REWARD);
    assert_true (ts_key_get_double (k + 1) == 0.5);
    n = ts_key_time (k, -1, "x", 1);
    assert_int_equal (n, 10);
    assert_int_equal (k [0], TS_TAG_TIME);
    assert_true (ts_key_get_i64 (k + 1) == -1);
    /* reward index: reward first, then ingest time, then id */
    size_t na = ts_key_reward (a, -0.5, 9, "zz", 2), nb = ts_key_reward (b, 0.25, 1, "a", 1);
    assert_int_equal (s_keycmp (a, na, b, nb), -1);
    na = ts_key_reward (a, 0.25, -1, "zz", 2);
    assert_int_equal (s_keycmp (a, na, b, nb), -1);
    na = ts_key_reward (a, 0.25, 1, "0", 1);
    assert_int_equal (s_keycmp (a, na, b, nb), -1);
    /* commit markers of one job sort by chunk number */
    na = ts_key_commit (a, "job", 3, 9);
    nb = ts_key_commit (b, "job", 3, 10);
    assert_int_equal (s_keycmp (a, na, b, nb), -1);
    assert_int_equal (ts_key_group_totals (k, "g", 1), 2);
    assert_memory_equal (k, "Qg", 2);
    assert_int_equal (ts_key_model_totals (k, "m", 1), 2);
    assert_memory_equal (k, "Xm", 2);
    /* the longest escaped group (model, job) plus a sequence fits TS_KEY_MAX */
    char g [TS_GROUP_MAX_BYTES];
    memset (g, 0, sizeof g);
    assert_int_equal (ts_key_group (k, g, sizeof g, INT64_MAX), 1 + 2 * sizeof g + 2 + 8);
    assert_true (ts_key_group (k, g, sizeof g, INT64_MAX) <= TS_KEY_MAX);
    char m [TS_MODEL_MAX_BYTES];
    memset (m, 0, sizeof m);
    assert_true (ts_key_model (k, m, sizeof m, INT64_MAX) <= TS_KEY_MAX);
}

/* --- totals ----------------------------------------------------------------- */

static void
test_totals_bins (void **state)
{
    (void) state;
    assert_int_equal (ts_totals_bin (0.0), 1);
    assert_int_equal (ts_totals_bin (-0.0), 1);
    assert_int_equal (ts_totals_bin (5e-324), 1);
    assert_int_equal (ts_totals_bin (0.049), 1);
    assert_int_equal (ts_totals_bin (0.05), 2);
    assert_int_equal (ts_totals_bin (0.5), TS_HIST_BINS / 2 + 1);
    assert_int_equal (ts_totals_bin (0.999), TS_HIST_BINS);
    assert_int_equal (ts_totals_bin (1.0), TS_HIST_BINS);        /* last regular bin */
    assert_int_equal (ts_totals_bin (nextafter (1.0, 2.0)), TS_HIST_BINS + 1);
    assert_int_equal (ts_totals_bin (7.0), TS_HIST_BINS + 1);
    assert_int_equal (ts_totals_bin (-5e-324), 0);
    assert_int_equal (ts_totals_bin (-1.0), 0);
    /* bins are monotonic in the reward */
    int prev = 0;
    for (int i = -10; i <= 1010; i++) {
        int b = ts_totals_bin (i / 1000.0);
        assert_true (b >= prev && b >= 0 && b <= TS_HIST_BINS + 1);
        prev = b;
    }
}

static void
s_random_summary (uint64_t *seed, ts_summary_t *s)
{
    memset (s, 0, sizeof *s);
    s->id = "r";
    s->id_len = 1;
    uint64_t r = s_rand (seed);
    s->success = (int) (r % 3) - 1;
    s->has_reward = (r >> 8) % 4 != 0;
    s->reward = (double) (s_rand (seed) % 1400) / 1000.0 - 0.2;      /* -0.2 .. 1.2 */
    s->has_steps = (r >> 16) % 2;
    s->steps = (int64_t) ((r >> 24) % 300);
}

static void
test_totals_add_merge (void **state)
{
    (void) state;
    ts_totals_t t;
    ts_totals_init (&t);
    ts_summary_t s = { .id = "a", .id_len = 1, .success = 1, .has_reward = true,
                       .reward = 0.5, .has_steps = true, .steps = 4 };
    ts_totals_add (&t, &s);
    s.success = 0; s.reward = 1.0; s.steps = 6;
    ts_totals_add (&t, &s);
    s.success = TS_SUCCESS_UNKNOWN; s.has_reward = false; s.has_steps = false;
    ts_totals_add (&t, &s);
    assert_true (t.count == 3 && t.successes == 1 && t.success_known == 2);
    assert_true (t.reward_n == 2 && t.reward_sum == 1.5 && t.reward_sq == 1.25);
    assert_true (t.reward_min == 0.5 && t.reward_max == 1.0);
    assert_true (t.steps_n == 2 && t.steps_sum == 10);
    assert_true (t.hist [ts_totals_bin (0.5)] == 1 && t.hist [TS_HIST_BINS] == 1);

    /* (A+B)+C == A+(B+C) == everything added into one */
    enum { N = 3000 };
    ts_totals_t part [3], all, left, right;
    uint64_t seed = 0x707;
    for (int p = 0; p < 3; p++)
        ts_totals_init (&part [p]);
    ts_totals_init (&all);
    for (int i = 0; i < N; i++) {
        s_random_summary (&seed, &s);
        ts_totals_add (&part [i % 3], &s);
        ts_totals_add (&all, &s);
    }
    left = part [0];
    ts_totals_merge (&left, &part [1]);
    ts_totals_merge (&left, &part [2]);
    right = part [1];
    ts_totals_merge (&right, &part [2]);
    ts_totals_t a = part [0];
    ts_totals_merge (&a, &right);
    assert_true (ts_totals_equal (&left, &a));
    assert_true (ts_totals_equal (&left, &all));
    assert_true (all.count == N);
    uint64_t hist_sum = 0;
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        hist_sum += all.hist [i];
    assert_true (hist_sum == all.reward_n);
    assert_true (all.hist [0] > 0 && all.hist [TS_HIST_BINS + 1] > 0);

    /* merging empty totals changes nothing, min/max included */
    ts_totals_t empty;
    ts_totals_init (&empty);
    a = all;
    ts_totals_merge (&a, &empty);
    assert_true (ts_totals_equal (&a, &all));
    ts_totals_merge (&empty, &all);
    assert_true (ts_totals_equal (&empty, &all));

    /* equality is not vacuous: each difference is seen */
    a = all; a.count++;
    assert_false (ts_totals_equal (&a, &all));
    a = all; a.hist [5]++;
    assert_false (ts_totals_equal (&a, &all));
    a = all; a.reward_sum += 1e-3;
    assert_false (ts_totals_equal (&a, &all));
    a = all; a.reward_max = 2.0;
    assert_false (ts_totals_equal (&a, &all));
}

static void
test_totals_pack (void **state)
{
    (void) state;
    uint64_t seed = 0x9ac;
    for (int round = 0; round < 50; round++) {
        ts_totals_t t, back;
        ts_summary_t s;
        ts_totals_init (&t);
        for (int i = 0; i < round * 7; i++) {
            s_random_summary (&seed, &s);
            ts_totals_add (&t, &s);
        }
        s_mp_t m;
        s_mp_init (&m);
        assert_int_equal (ts_totals_pack (&m.pk, &t), 0);
        size_t used = 0;
        assert_int_equal (ts_totals_unpack (m.sb.data, m.sb.size, &back, &used), 0);
        assert_int_equal (used, m.sb.size);
        /* bit-exact, not only ts_totals_equal: doubles travel as doubles */
        assert_true (back.count == t.count && back.successes == t.successes);
        assert_true (back.success_known == t.success_known && back.reward_n == t.reward_n);
        assert_true (back.reward_sum == t.reward_sum && back.reward_sq == t.reward_sq);
        assert_true (back.reward_min == t.reward_min && back.reward_max == t.reward_max);
        assert_true (back.steps_n == t.steps_n && back.steps_sum == t.steps_sum);
        assert_memory_equal (back.hist, t.hist, sizeof t.hist);
        for (size_t cut = 0; cut < m.sb.size; cut += 3)
            assert_int_equal (ts_totals_unpack (m.sb.data, cut, &back, NULL), TS_ECORRUPT);
        s_mp_fini (&m);
    }
}

/* --- profiles --------------------------------------------------------------- */

static void
s_profile_ok (const char *spec, ts_profile_t *p)
{
    char err [256] = "";
    if (ts_profile_parse (spec, p, err, sizeof err) != 0)
        fail_msg ("'%s' refused: %s", spec, err);
}

/*  A spec must be refused with a message containing `part`. */
static void
s_profile_bad (const char *spec, const char *part)
{
    ts_profile_t p;
    char err [256] = "";
    if (ts_profile_parse (spec, &p, err, sizeof err) != TS_EINVAL)
        fail_msg ("'%s' was accepted", spec);
    if (!strstr (err, part))
        fail_msg ("'%s': message '%s' does not name '%s'", spec, err, part);
}

static void
s_expect_field (const ts_field_t *f, const char *want)
{
    char got [1024] = "";
    for (int a = 0; a < f->nalts; a++)
        for (int p = 0; p < f->alts [a].nparts; p++) {
            strcat (got, p ? "+" : (a ? "|" : ""));
            strcat (got, f->alts [a].parts [p]);
        }
    assert_string_equal (got, want);
}

static void
test_profile_builtins (void **state)
{
    (void) state;
    ts_profile_t p;
    int n = 0;
    for (int i = 0; ts_profile_names [i]; i++, n++) {
        s_profile_ok (ts_profile_names [i], &p);
        assert_string_equal (p.name, ts_profile_names [i]);
        assert_true (p.id.nalts > 0 || !strcmp (p.name, "verl"));   /* verl dumps have none */
        assert_false (p.coerce);
    }
    assert_int_equal (n, 8);

    s_profile_ok ("default", &p);
    s_expect_field (&p.id, "/id");
    s_expect_field (&p.group, "/data_id");
    s_expect_field (&p.model, "/model");
    s_expect_field (&p.reward, "/reward");
    s_expect_field (&p.success, "/is_success");
    s_expect_field (&p.created, "/created_at");
    s_expect_field (&p.steps, "/trajectory");
    assert_int_equal (p.success_kind, TS_SUCCESS_FROM_FIELD);

    /* empty and NULL specs mean "default" */
    ts_profile_t q;
    s_profile_ok ("", &q);
    assert_memory_equal (&p, &q, sizeof p);
    assert_int_equal (ts_profile_parse (NULL, &q, NULL, 0), 0);
    assert_memory_equal (&p, &q, sizeof p);

    s_profile_ok ("tau", &p);
    s_expect_field (&p.id, "/task_id+/trial");
    s_expect_field (&p.model, "/model|/info/model");
    assert_int_equal (p.success_kind, TS_SUCCESS_REWARD_GE);
    assert_true (p.success_threshold == 1.0);

    s_profile_ok ("swe", &p);
    s_expect_field (&p.id, "/id|/instance_id+/model_name_or_path|/instance_id");
    s_expect_field (&p.success, "/resolved");

    s_profile_ok ("agentbench", &p);
    assert_int_equal (p.success_kind, TS_SUCCESS_FROM_FIELD);
    s_expect_field (&p.steps, "/output/history|/history");
    s_expect_field (&p.created, "/time|/created_at");

    s_profile_ok ("reflexion", &p);
    s_expect_field (&p.id, "/task_id|/name");
    s_expect_field (&p.success, "/is_solved|/is_success");

    /* which ids name one attempt (the runs of part B need it) */
    static const struct { const char *name; bool per_attempt; } ids [] = {
        { "default", true }, { "tau", false }, { "swe", false }, { "agentbench", false },
        { "reflexion", false }, { "verl", false }, { "verifiers", false }, { "inspect", true },
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        s_profile_ok (ids [i].name, &p);
        if (ts_profile_id_per_attempt (&p) != ids [i].per_attempt)
            fail_msg ("%s: id_per_attempt %d", ids [i].name, ts_profile_id_per_attempt (&p));
    }
    /* another id is not per attempt unless said; the flag alone keeps the id */
    s_profile_ok ("inspect,id=/id", &p);
    assert_false (ts_profile_id_per_attempt (&p));
    s_profile_ok ("tau,id=/run_uuid,id_per_attempt=1", &p);
    assert_true (ts_profile_id_per_attempt (&p));
    s_profile_ok ("inspect,model=/m", &p);
    assert_true (ts_profile_id_per_attempt (&p));
    s_profile_ok ("verl,strict=1", &p);
    assert_true (p.strict);
    s_expect_field (&p.group, "#/input|#/prompt");
    s_profile_ok ("group=/task+/id", &p);
    assert_int_equal (p.group.alts [0].nparts, 2);
}

static void
test_profile_overrides (void **state)
{
    (void) state;
    ts_profile_t p;
    s_profile_ok ("default,reward=/info/reward_info/reward,group=/question_id", &p);
    s_expect_field (&p.reward, "/info/reward_info/reward");
    s_expect_field (&p.group, "/question_id");
    s_expect_field (&p.id, "/id");                 /* untouched fields stay */
    assert_string_equal (p.name, "default+");

    s_profile_ok ("tau,model=/agent", &p);
    s_expect_field (&p.model, "/agent");
    s_expect_field (&p.id, "/task_id+/trial");
    assert_string_equal (p.name, "tau+");

    /* overrides alone apply to default */
    s_profile_ok ("id=/task_id+/trial", &p);
    s_expect_field (&p.id, "/task_id+/trial");
    s_expect_field (&p.group, "/data_id");
    assert_int_equal (p.id.alts [0].nparts, 2);

    s_profile_ok ("success=reward>=0.5", &p);
    assert_int_equal (p.success_kind, TS_SUCCESS_REWARD_GE);
    assert_true (p.success_threshold == 0.5);

    s_profile_ok ("success=/status==completedCorrect", &p);
    assert_int_equal (p.success_kind, TS_SUCCESS_EQUALS);
    s_expect_field (&p.success, "/status");
    assert_string_equal (p.success_equals, "completedCorrect");

    s_profile_ok ("group=/task_id|/name", &p);
    assert_int_equal (p.group.nalts, 2);
    s_expect_field (&p.group, "/task_id|/name");

    s_profile_ok ("default,model=,coerce=1", &p);
    assert_int_equal (p.model.nalts, 0);            /* disabled */
    assert_true (p.coerce);

    /* a later override of the same field replaces the earlier one */
    s_profile_ok ("agentbench,success=/ok", &p);
    assert_int_equal (p.success_kind, TS_SUCCESS_FROM_FIELD);
    s_expect_field (&p.success, "/ok");
}

static void
test_profile_errors (void **state)
{
    (void) state;
    s_profile_bad ("foo=/x", "unknown field 'foo'");
    s_profile_bad ("default,colour=/c", "unknown field 'colour'");
    s_profile_bad ("bogus", "unknown profile 'bogus");
    s_profile_bad ("reward=reward", "starts with '/'");
    s_profile_bad ("reward=reward", "'reward'");
    s_profile_bad ("id=/a|b", "'b'");
    s_profile_bad ("model=/a+/b", "'+'");
    s_profile_bad ("model=/a+/b", "/a+/b");
    s_profile_bad ("reward=/a+/b", "/a+/b");
    s_profile_bad ("success=reward>=high", "success=reward>=high");
    s_profile_bad ("success=reward>=", "success=reward>=");
    s_profile_bad ("success=status==x", "status==x");
    s_profile_bad ("default,tau", "'tau'");
    s_profile_bad ("model=/a|/b|/c|/d|/e", "too many alternatives");
    s_profile_bad ("id=/a+/b+/c+/d+/e", "too many '+' parts in '/a+/b+/c+/d+/e'");
    /* a NULL message buffer is allowed */
    ts_profile_t p;
    assert_int_equal (ts_profile_parse ("nope", &p, NULL, 0), TS_EINVAL);
}

/*  Parsed profiles are equal when every field is (the name is not part of
 *  the spec text). The threshold and the comparison text only mean
 *  something for their own success kind: an override can leave the base
 *  profile's behind, unused. */
static void
s_expect_same_profile (const ts_profile_t *a, const ts_profile_t *b, const char *spec)
{
    if (memcmp (&a->id, &b->id, sizeof a->id) || memcmp (&a->group, &b->group, sizeof a->group)
    ||  memcmp (&a->model, &b->model, sizeof a->model) || memcmp (&a->reward, &b->reward, sizeof a->reward)
    ||  memcmp (&a->success, &b->success, sizeof a->success)
    ||  memcmp (&a->created, &b->created, sizeof a->created) || memcmp (&a->steps, &b->steps, sizeof a->steps)
    ||  a->success_kind != b->success_kind || a->coerce != b->coerce
    ||  a->grades != b->grades || a->strict != b->strict || a->id_per_attempt != b->id_per_attempt
    ||  (a->success_kind == TS_SUCCESS_REWARD_GE && a->success_threshold != b->success_threshold)
    ||  (a->success_kind == TS_SUCCESS_EQUALS && strcmp (a->success_equals, b->success_equals)))
        fail_msg ("profile '%s' changed through format/parse", spec);
}

static void
test_profile_format_round_trip (void **state)
{
    (void) state;
    static const char *const specs [] = {
        "default", "tau", "swe", "agentbench", "reflexion", "verl", "verifiers", "inspect",
        "verl,strict=1", "inspect,id=/id", "default,id_per_attempt=0,grades=1",
        "default,reward=/info/reward_info/reward,group=/question_id",
        "id=/task_id+/trial", "success=reward>=0.5", "success=reward>=0.123456789",
        "success=reward>=-1e-9", "success=/status==completedCorrect",
        "default,model=,steps=,coerce=1", "reflexion,id=/a+/b+/c|/d",
        "agentbench,success=/ok", "tau,success=/solved|/done", "swe,success=reward>=1e-300",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs [0]; i++) {
        ts_profile_t a, b;
        char text [2048], again [2048], err [256] = "";
        s_profile_ok (specs [i], &a);
        assert_int_equal (ts_profile_format (&a, text, sizeof text), 0);
        if (ts_profile_parse (text, &b, err, sizeof err) != 0)
            fail_msg ("'%s' formats as '%s', refused: %s", specs [i], text, err);
        s_expect_same_profile (&a, &b, specs [i]);
        assert_int_equal (ts_profile_format (&b, again, sizeof again), 0);
        assert_string_equal (text, again);

        /* a buffer too small is reported, never a silently cut spec */
        size_t need = strlen (text) + 1;
        for (size_t size = 2; size < need; size++) {
            char small [2048];
            if (ts_profile_format (&a, small, size) == 0)
                fail_msg ("'%s' into %zu bytes (needs %zu): reported success with '%s'",
                          specs [i], size, need, small);
        }
        /* it needs one spare byte beyond the text (its "nothing written
         * yet" marker): exactly strlen + 1 is reported too small */
        char exact [2048];
        assert_int_equal (ts_profile_format (&a, exact, need + 1), 0);
        assert_string_equal (exact, text);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_mp_every_type),
        cmocka_unit_test (test_mp_truncated),
        cmocka_unit_test (test_mp_forged_counts),
        cmocka_unit_test (test_mp_skip_agrees),
        cmocka_unit_test (test_mp_typed_readers),
        cmocka_unit_test (test_mp_depth),
        cmocka_unit_test (test_to_json_strings),
        cmocka_unit_test (test_to_json_numbers),
        cmocka_unit_test (test_to_json_containers),
        cmocka_unit_test (test_to_json_rejects),
        cmocka_unit_test (test_format_double),
        cmocka_unit_test (test_iso8601_valid),
        cmocka_unit_test (test_iso8601_invalid),
        cmocka_unit_test (test_summary_round_trip),
        cmocka_unit_test (test_summary_older_newer),
        cmocka_unit_test (test_hash_id),
        cmocka_unit_test (test_shard_of),
        cmocka_unit_test (test_key_double_order),
        cmocka_unit_test (test_key_i64_order),
        cmocka_unit_test (test_key_group_escaping),
        cmocka_unit_test (test_key_group_sequence_order),
        cmocka_unit_test (test_key_group_prefix_range),
        cmocka_unit_test (test_key_layouts),
        cmocka_unit_test (test_totals_bins),
        cmocka_unit_test (test_totals_add_merge),
        cmocka_unit_test (test_totals_pack),
        cmocka_unit_test (test_profile_builtins),
        cmocka_unit_test (test_profile_overrides),
        cmocka_unit_test (test_profile_errors),
        cmocka_unit_test (test_profile_format_round_trip),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
