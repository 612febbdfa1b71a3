/*  test_parse.c: unit tests of the line parser (ts_parse.h): every kind of
 *  rejected line with its own reason, field extraction for each built-in
 *  profile, numbers and strings kept exactly, and a seeded property test:
 *  random JSON -> parse -> msgpack -> JSON -> parse must be lossless and
 *  byte-identical, and agree with an independent encoder (the generator's
 *  own msgpack) and an independent decoder (msgpack-c's unpacker).
 *
 *  Lines are always copied into a buffer with TS_PARSE_PADDING bytes after
 *  their end (the parser's contract), and that padding is filled with JSON
 *  punctuation so that reading it as content would show up as a failure.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_jsondoc.h"
#include "ts_record.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- helpers -------------------------------------------------------------- */

static ts_parser_t *
s_parser (const char *spec)
{
    ts_profile_t pr;
    char err [256] = "";
    if (ts_profile_parse (spec, &pr, err, sizeof err) != 0)
        fail_msg ("profile '%s': %s", spec, err);
    ts_parser_t *p = ts_parser_new (&pr);
    assert_non_null (p);
    return p;
}

/*  Parses `len` bytes of `line` from a padded copy. */
static int
s_parse_n (ts_parser_t *p, const char *line, size_t len, ts_buf_t *out,
           ts_summary_t *sum, char *reason, size_t reason_size)
{
    char *copy = malloc (len + TS_PARSE_PADDING);
    assert_non_null (copy);
    memcpy (copy, line, len);
    memset (copy + len, '}', TS_PARSE_PADDING);
    int rc = ts_parser_parse (p, copy, len, 1, 1234, out, sum, reason, reason_size);
    free (copy);
    return rc;
}

/*  Parses a line that must be accepted; `json` (may be NULL) gets the
 *  stored object as JSON text, NUL-terminated; `obj` (may be NULL) gets a
 *  copy of the object's msgpack. *sum borrows the parser until its next
 *  call: callers read it before parsing again. */
static void
s_accept_n (ts_parser_t *p, const char *line, size_t len, ts_summary_t *sum,
            ts_buf_t *json, ts_buf_t *obj)
{
    ts_buf_t out = { 0 };
    ts_summary_t tmp, stored;
    char reason [256] = "";
    int rc = s_parse_n (p, line, len, &out, sum ? sum : &tmp, reason, sizeof reason);
    if (rc != 0)
        fail_msg ("refused (%d: %s): %.*s", rc, reason, (int) len, line);
    const char *o;
    size_t ol;
    assert_int_equal (ts_record_split (out.data, out.size, &stored, &o, &ol), 0);
    if (sum) {
        /* the stored summary is the one returned */
        assert_int_equal (stored.id_len, sum->id_len);
        assert_memory_equal (stored.id, sum->id, sum->id_len);
        assert_int_equal (stored.success, sum->success);
        assert_true (stored.has_reward == sum->has_reward && stored.reward == sum->reward);
        assert_true (stored.created_ms == sum->created_ms && stored.steps == sum->steps);
    }
    if (json) {
        json->size = 0;
        assert_int_equal (ts_mp_to_json (o, ol, json), 0);
        assert_int_equal (ts_buf_append (json, "", 1), 0);
        json->size--;
    }
    if (obj) {
        obj->size = 0;
        assert_int_equal (ts_buf_append (obj, o, ol), 0);
    }
    ts_buf_free (&out);
}

static void
s_accept (ts_parser_t *p, const char *line, ts_summary_t *sum, ts_buf_t *json)
{
    s_accept_n (p, line, strlen (line), sum, json, NULL);
}

/*  The line must be accepted and its object read back as exactly `want`. */
static void
s_round (ts_parser_t *p, const char *line, const char *want)
{
    ts_buf_t json = { 0 };
    s_accept (p, line, NULL, &json);
    if (strcmp (json.data, want) != 0)
        fail_msg ("'%s' reads back as '%s', expected '%s'", line, json.data, want);
    ts_buf_free (&json);
}

/*  The id a record without one gets: the hash of its stored object. */
static void
s_object_hash (ts_parser_t *p, const char *line, char hex [33])
{
    ts_summary_t sum;
    ts_buf_t obj = { 0 };
    s_accept_n (p, line, strlen (line), &sum, NULL, &obj);
    ts_hash_id (obj.data, obj.size, hex);
    ts_buf_free (&obj);
}

static bool
s_str_is (const char *s, uint32_t len, const char *want)
{
    return s && len == strlen (want) && memcmp (s, want, len) == 0;
}

static void
s_expect_str (const char *s, uint32_t len, const char *want)
{
    if (!s_str_is (s, len, want))
        fail_msg ("got '%.*s', expected '%s'", s ? (int) len : 6, s ? s : "(null)", want);
}

static int64_t
s_iso_ms (const char *s)
{
    int64_t ms;
    assert_int_equal (ts_parse_iso8601 (s, strlen (s), &ms), 0);
    return ms;
}

/* --- rejections --------------------------------------------------------------- */

typedef struct {
    const char *kind;
    const char *line;     /* NUL-terminated unless len is given */
    size_t      len;
    const char *want;     /* substring of the reason */
} s_bad_t;

static const s_bad_t s_bad_lines [] = {
    { "invalid UTF-8",          "{\"a\":\"caf\xe9\"}", 0, "invalid UTF-8" },
    { "invalid UTF-8 byte",     "{\"a\":\"\xff\"}", 0, "invalid UTF-8" },
    { "overlong UTF-8",         "{\"a\":\"\xc0\xaf\"}", 0, "overlong UTF-8" },
    { "overlong 3-byte",        "{\"a\":\"\xe0\x80\xaf\"}", 0, "overlong UTF-8" },
    { "encoded surrogate",      "{\"a\":\"\xed\xa0\x80\"}", 0, "UTF-8 encoded surrogate" },
    { "above U+10FFFF",         "{\"a\":\"\xf4\x90\x80\x80\"}", 0, "above U+10FFFF" },
    { "lone high surrogate",    "{\"a\":\"\\ud83dx\"}", 0, "high half without a low half" },
    { "high then non-low",      "{\"a\":\"\\ud83d\\u0041\"}", 0, "high half without a low half" },
    { "lone low surrogate",     "{\"a\":\"\\ude80\"}", 0, "low half without a high half" },
    { "NaN",                    "{\"a\":NaN}", 0, "Infinity/NaN is not JSON" },
    { "Infinity",               "{\"a\":Infinity}", 0, "Infinity/NaN is not JSON" },
    { "-Infinity",              "{\"a\":-Infinity}", 0, "Infinity/NaN is not JSON" },
    { "single-quoted key",      "{'a':1}", 0, "single-quoted string" },
    { "single-quoted value",    "{\"a\":'x'}", 0, "single-quoted string" },
    { "trailing comma object",  "{\"a\":1,}", 0, "trailing comma before '}' at column 8" },
    { "trailing comma array",   "{\"a\":[1,2,]}", 0, "trailing comma before ']'" },
    { "trailing garbage",       "{\"a\":1} x", 0, "unexpected characters after the object" },
    { "two objects",            "{\"a\":1}{}", 0, "unexpected characters after the object" },
    { "top-level array",        "[1,2]", 0, "the line is a JSON array, not an object" },
    { "top-level string",       "\"x\"", 0, "the line is a JSON string, not an object" },
    { "top-level integer",      "42", 0, "the line is a JSON integer, not an object" },
    { "top-level float",        "4.5", 0, "the line is a JSON float, not an object" },
    { "top-level null",         "null", 0, "the line is a JSON null, not an object" },
    { "integer > uint64 max",   "{\"a\":18446744073709551616}", 0, "integer does not fit 64 bits" },
    { "integer < int64 min",    "{\"a\":-9223372036854775809}", 0, "integer does not fit 64 bits" },
    { "float 1e400",            "{\"a\":1e400}", 0, "out of the range of a 64-bit float" },
    { "float -1e400",           "{\"a\":-1e400}", 0, "out of the range of a 64-bit float" },
    { "truncated line",         "{\"id\":\"a\",\"x\":[1,2", 0, "unclosed array (line truncated?)" },
    { "truncated object",       "{\"id\":\"a\",\"x\":1", 0, "unclosed object (line truncated?)" },
    { "unterminated string",    "{\"id\":\"a", 0, "unterminated string" },
    { "truncated UTF-8",        "{\"a\":\"\xe2\x82", 0, "truncated UTF-8 sequence" },
    { "control char in string", "{\"a\":\"x\ty\"}", 0, "control character inside a string" },
    { "NUL in string",          "{\"a\":\"x\0y\"}", 11, "control character inside a string" },
    { "invalid escape",         "{\"a\":\"\\x41\"}", 0, "invalid escape in a string" },
    { "invalid \\u escape",     "{\"a\":\"\\u12g4\"}", 0, "invalid \\u escape" },
    { "leading zero",           "{\"a\":01}", 0, "number with a leading zero" },
    { "bare decimal point",     "{\"a\":1.}", 0, "a digit must follow the decimal point" },
    { "bad literal",            "{\"a\":tru}", 0, "invalid literal" },
    { "unquoted key",           "{a:1}", 0, "expected a string key" },
    { "missing colon",          "{\"a\" 1}", 0, "expected ':' after the key" },
    { "missing comma",          "{\"a\":1 \"b\":2}", 0, "expected ',' or '}'" },
    { "empty line",             "", 0, "expected a value" },
    { "reward of wrong type",   "{\"reward\":\"high\"}", 0, "field reward (/reward): expected a number, got string" },
    { "success of wrong type",  "{\"is_success\":\"yes\"}", 0, "field success (/is_success): expected a bool or 0/1, got string" },
    { "success 2",              "{\"is_success\":2}", 0, "field success (/is_success): expected a bool or 0/1, got another number" },
    { "success 1.0",            "{\"is_success\":1.0}", 0, "field success (/is_success): expected a bool or 0/1, got another number" },
    { "created not ISO 8601",   "{\"created_at\":\"yesterday\"}", 0, "field created (/created_at): not an ISO 8601 time" },
    { "created bad date",       "{\"created_at\":\"2026-02-30\"}", 0, "field created (/created_at): not an ISO 8601 time" },
    { "created a bool",         "{\"created_at\":true}", 0, "field created (/created_at): expected an ISO 8601 string or epoch number, got bool" },
    { "created out of range",   "{\"created_at\":1e300}", 0, "field created (/created_at): epoch time out of range" },
    { "steps not an array",     "{\"trajectory\":{\"a\":1}}", 0, "field steps (/trajectory): expected an array, got object" },
    { "id an object",           "{\"id\":{\"a\":1}}", 0, "field id (/id): expected a string or a number, got object" },
    { "id a bool",              "{\"id\":false}", 0, "field id (/id): expected a string or a number, got bool" },
    { "id empty",               "{\"id\":\"\"}", 0, "field id (/id): must not be empty" },
    { "group an array",         "{\"data_id\":[1]}", 0, "field group (/data_id): expected a string or a number, got array" },
};
#define S_NBAD (sizeof s_bad_lines / sizeof s_bad_lines [0])

/*  Parses a line that must be refused; returns its reason (static). Also
 *  checks that `out` is left exactly as it was. */
static const char *
s_refuse_n (ts_parser_t *p, const char *line, size_t len)
{
    static char reason [512];
    ts_buf_t out = { 0 };
    ts_summary_t sum;
    static const char before [] = "earlier record bytes";
    assert_int_equal (ts_buf_append (&out, before, sizeof before), 0);
    reason [0] = 0;
    int rc = s_parse_n (p, line, len, &out, &sum, reason, sizeof reason);
    if (rc != TS_EBADLINE)
        fail_msg ("accepted (%d): %.*s", rc, (int) (len > 200 ? 200 : len), line);
    assert_int_equal (out.size, sizeof before);
    assert_memory_equal (out.data, before, sizeof before);
    assert_true (reason [0] != 0);
    ts_buf_free (&out);
    return reason;
}

static const char *
s_refuse (ts_parser_t *p, const char *line)
{
    return s_refuse_n (p, line, strlen (line));
}

static void
test_rejections (void **state)
{
    (void) state;
    /* strict: a misfit of any field rejects, with the reason that a
     * non-strict parse puts in its warning (test_warnings) */
    ts_parser_t *p = s_parser ("default,strict=1");
    static char reasons [S_NBAD][512];
    for (size_t i = 0; i < S_NBAD; i++) {
        const s_bad_t *b = &s_bad_lines [i];
        size_t len = b->len ? b->len : strlen (b->line);
        snprintf (reasons [i], sizeof reasons [i], "%s", s_refuse_n (p, b->line, len));
        if (!strstr (reasons [i], b->want))
            fail_msg ("%s: reason '%s' lacks '%s'", b->kind, reasons [i], b->want);
    }
    /* each kind has its own reason: no reason matches another kind's text */
    for (size_t i = 0; i < S_NBAD; i++)
        for (size_t j = 0; j < S_NBAD; j++)
            if (strcmp (s_bad_lines [i].want, s_bad_lines [j].want) != 0
            &&  strstr (reasons [i], s_bad_lines [j].want))
                fail_msg ("%s: reason '%s' is also the reason for %s",
                          s_bad_lines [i].kind, reasons [i], s_bad_lines [j].kind);

    /* columns point at the problem (1-based) */
    assert_non_null (strstr (s_refuse (p, "{\"a\":1} x"), "at column 9"));
    assert_non_null (strstr (s_refuse (p, "{\"a\":1,\"b\":\"\xc0\xaf\"}"), "at column 13"));

    /* the parser keeps working after refusals */
    ts_summary_t sum;
    s_accept (p, "{\"id\":\"after\"}", &sum, NULL);
    s_expect_str (sum.id, sum.id_len, "after");

    /* a small reason buffer is cut, still terminated */
    char small [8];
    ts_buf_t out = { 0 };
    memset (small, 'x', sizeof small);
    assert_int_equal (s_parse_n (p, "{\"a\":NaN}", 9, &out, &sum, small, sizeof small), TS_EBADLINE);
    assert_int_equal (strlen (small), sizeof small - 1);
    assert_int_equal (out.size, 0);
    ts_buf_free (&out);
    ts_parser_destroy (&p);
    assert_null (p);
    ts_parser_destroy (&p);         /* safe twice */
}

static void
test_id_limits (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    char line [TS_ID_MAX_BYTES + 64];
    ts_summary_t sum;
    /* exactly the limit is fine, one byte more is refused */
    int n = snprintf (line, sizeof line, "{\"id\":\"%0*d\"}", TS_ID_MAX_BYTES, 7);
    s_accept_n (p, line, (size_t) n, &sum, NULL, NULL);
    assert_int_equal (sum.id_len, TS_ID_MAX_BYTES);
    n = snprintf (line, sizeof line, "{\"id\":\"%0*d\"}", TS_ID_MAX_BYTES + 1, 7);
    const char *r = s_refuse_n (p, line, (size_t) n);
    if (!strstr (r, "field id (/id): longer than 512 bytes"))
        fail_msg ("reason '%s'", r);
    /* a number id is its text */
    s_accept (p, "{\"id\":12}", &sum, NULL);
    s_expect_str (sum.id, sum.id_len, "12");
    s_accept (p, "{\"id\":-3}", &sum, NULL);
    s_expect_str (sum.id, sum.id_len, "-3");
    s_accept (p, "{\"id\":18446744073709551615}", &sum, NULL);
    s_expect_str (sum.id, sum.id_len, "18446744073709551615");
    s_accept (p, "{\"id\":1.5}", &sum, NULL);
    s_expect_str (sum.id, sum.id_len, "1.5");
    ts_parser_destroy (&p);
}

/*  `{"a":` then `depth - 1` nested containers: `depth` levels in all. */
static char *
s_nested (int depth, bool arrays, size_t *len)
{
    size_t cap = (size_t) depth * 8 + 16, n = 0;
    char *s = malloc (cap);
    assert_non_null (s);
    s [n++] = '{';
    s [n++] = '"'; s [n++] = 'a'; s [n++] = '"'; s [n++] = ':';
    for (int i = 1; i < depth - 1; i++) {
        if (arrays)
            s [n++] = '[';
        else {
            memcpy (s + n, "{\"a\":", 5);
            n += 5;
        }
    }
    if (depth > 1) {
        memcpy (s + n, arrays ? "[7]" : "{}", arrays ? 3 : 2);   /* the deepest level */
        n += arrays ? 3 : 2;
    }
    else {
        s [n++] = '1';
    }
    for (int i = 1; i < depth - 1; i++)
        s [n++] = arrays ? ']' : '}';
    s [n++] = '}';
    *len = n;
    return s;
}

static void
test_depth_limit (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    char want [64];
    snprintf (want, sizeof want, "nesting deeper than %d levels", TS_MAX_DEPTH);
    for (int arrays = 0; arrays < 2; arrays++) {
        size_t len;
        char *line = s_nested (TS_MAX_DEPTH, arrays, &len);
        ts_buf_t obj = { 0 };
        s_accept_n (p, line, len, NULL, NULL, &obj);
        /* exactly TS_MAX_DEPTH stored, and msgpack-c can read it */
        assert_int_equal (ts_mp_depth (obj.data, obj.size), TS_MAX_DEPTH);
        msgpack_unpacked u;
        size_t off = 0;
        msgpack_unpacked_init (&u);
        assert_int_equal (msgpack_unpack_next (&u, obj.data, obj.size, &off), MSGPACK_UNPACK_SUCCESS);
        assert_int_equal (off, obj.size);
        msgpack_unpacked_destroy (&u);
        ts_buf_free (&obj);
        free (line);

        static const int too_deep [] = { TS_MAX_DEPTH + 1, TS_MAX_DEPTH + 2, 100, 1000, 5000 };
        for (size_t k = 0; k < sizeof too_deep / sizeof too_deep [0]; k++) {
            line = s_nested (too_deep [k], arrays, &len);
            const char *r = s_refuse_n (p, line, len);
            if (!strstr (r, want))
                fail_msg ("depth %d (%s): reason '%s'", too_deep [k], arrays ? "arrays" : "objects", r);
            free (line);
        }
    }
    /* the diagnostic pass agrees on the limit */
    size_t len;
    char reason [128];
    char *line = s_nested (TS_MAX_DEPTH, false, &len);
    assert_int_equal (ts_json_diagnose (line, len, reason, sizeof reason), 0);
    free (line);
    line = s_nested (TS_MAX_DEPTH + 1, false, &len);
    assert_int_equal (ts_json_diagnose (line, len, reason, sizeof reason), TS_EBADLINE);
    assert_non_null (strstr (reason, want));
    free (line);
    ts_parser_destroy (&p);
}

static void
test_blank_and_crlf (void **state)
{
    (void) state;
    assert_true (ts_line_is_blank ("", 0));
    assert_true (ts_line_is_blank ("   ", 3));
    assert_true (ts_line_is_blank (" \t \r", 4));
    assert_true (ts_line_is_blank ("\r", 1));
    assert_false (ts_line_is_blank (" x ", 3));
    assert_false (ts_line_is_blank ("{}", 2));
    assert_false (ts_line_is_blank ("\n", 1));
    assert_false (ts_line_is_blank ("\0", 1));
    assert_true (ts_line_is_blank ("  x", 2));       /* only `len` bytes count */

    ts_parser_t *p = s_parser ("default");
    ts_buf_t a = { 0 }, b = { 0 };
    ts_summary_t sum;
    char id_lf [33];
    /* a final '\r' (CRLF files) is ignored: same object, same hash id */
    s_accept (p, "{\"x\":1}", &sum, &a);
    memcpy (id_lf, sum.id, 32);
    s_accept (p, "{\"x\":1}\r", &sum, &b);
    assert_string_equal (a.data, b.data);
    assert_int_equal (sum.id_len, 32);
    assert_memory_equal (sum.id, id_lf, 32);
    s_accept (p, "{\"id\":\"crlf\"} \r", &sum, NULL);
    s_expect_str (sum.id, sum.id_len, "crlf");
    /* only a final one: a '\r' inside is white space to JSON, kept out of ids */
    s_accept (p, "{\"x\":\r1}", &sum, &b);
    assert_string_equal (b.data, "{\"x\":1}");
    ts_buf_free (&a);
    ts_buf_free (&b);
    ts_parser_destroy (&p);
}

/* --- field extraction ----------------------------------------------------------- */

static void
test_profile_default (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    ts_summary_t s;
    s_accept (p, "{\"id\":\"run-0001\",\"data_id\":\"math/q17\",\"model\":\"gpt-4o-2024-08-06\","
                 "\"reward\":0.75,\"is_success\":true,\"created_at\":\"2024-05-01T12:00:00.250Z\","
                 "\"trajectory\":[{\"role\":\"user\",\"content\":\"Solve x+1=2\"},"
                 "{\"role\":\"assistant\",\"content\":\"x=1\",\"tool_calls\":[]},"
                 "{\"role\":\"user\",\"content\":\"ok\"}],\"meta\":{\"seed\":3}}", &s, NULL);
    s_expect_str (s.id, s.id_len, "run-0001");
    s_expect_str (s.group, s.group_len, "math/q17");
    s_expect_str (s.model, s.model_len, "gpt-4o-2024-08-06");
    assert_true (s.has_reward && s.reward == 0.75);
    assert_int_equal (s.success, 1);
    assert_true (s.has_created && s.created_ms == s_iso_ms ("2024-05-01T12:00:00Z") + 250);
    assert_true (s.has_steps && s.steps == 3);
    assert_true (s.ingested_ms == 1234);

    /* missing optional fields: absent, not zero */
    s_accept (p, "{\"id\":\"bare\",\"other\":1}", &s, NULL);
    s_expect_str (s.id, s.id_len, "bare");
    assert_null (s.group);
    assert_null (s.model);
    assert_false (s.has_reward);
    assert_int_equal (s.success, TS_SUCCESS_UNKNOWN);
    assert_false (s.has_created);
    assert_false (s.has_steps);
    assert_true (ts_summary_time (&s) == 1234);

    /* null counts as absent */
    s_accept (p, "{\"id\":\"n\",\"reward\":null,\"is_success\":null,\"model\":null}", &s, NULL);
    assert_false (s.has_reward);
    assert_int_equal (s.success, TS_SUCCESS_UNKNOWN);
    assert_null (s.model);

    /* numbers as group and model are their text; an integer reward is fine */
    s_accept (p, "{\"id\":\"k\",\"data_id\":42,\"reward\":1,\"trajectory\":[]}", &s, NULL);
    s_expect_str (s.group, s.group_len, "42");
    assert_true (s.has_reward && s.reward == 1.0);
    assert_true (s.has_steps && s.steps == 0);
    ts_parser_destroy (&p);
}

static void
test_profile_success_values (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default,strict=1");
    ts_summary_t s;
    s_accept (p, "{\"is_success\":true}", &s, NULL);
    assert_int_equal (s.success, 1);
    s_accept (p, "{\"is_success\":false}", &s, NULL);
    assert_int_equal (s.success, 0);
    s_accept (p, "{\"is_success\":1}", &s, NULL);
    assert_int_equal (s.success, 1);
    s_accept (p, "{\"is_success\":0}", &s, NULL);
    assert_int_equal (s.success, 0);
    /* 2, -1 and strings are refused without coerce */
    s_refuse (p, "{\"is_success\":2}");
    s_refuse (p, "{\"is_success\":-1}");
    s_refuse (p, "{\"is_success\":\"true\"}");
    s_refuse (p, "{\"reward\":\"0.5\"}");
    ts_parser_destroy (&p);

    p = s_parser ("default,coerce=1,strict=1");
    s_accept (p, "{\"reward\":\"0.5\",\"is_success\":\"true\"}", &s, NULL);
    assert_true (s.has_reward && s.reward == 0.5);
    assert_int_equal (s.success, 1);
    s_accept (p, "{\"reward\":\"-1e-3\",\"is_success\":\"false\"}", &s, NULL);
    assert_true (s.reward == -1e-3);
    assert_int_equal (s.success, 0);
    /* coerce reads numbers, not any text */
    const char *r = s_refuse (p, "{\"reward\":\"high\"}");
    assert_non_null (strstr (r, "field reward (/reward): expected a number, got string"));
    s_refuse (p, "{\"reward\":\"\"}");
    s_refuse (p, "{\"reward\":\"0.5x\"}");
    s_refuse (p, "{\"reward\":\"inf\"}");
    s_refuse (p, "{\"is_success\":\"yes\"}");
    s_refuse (p, "{\"is_success\":\"TRUE\"}");
    ts_parser_destroy (&p);

    /* the stored object keeps the original text, whatever the summary says */
    p = s_parser ("default,coerce=1");
    s_round (p, "{\"reward\":\"0.5\",\"is_success\":\"true\"}", "{\"reward\":\"0.5\",\"is_success\":\"true\"}");
    ts_parser_destroy (&p);
}

static void
test_profile_created (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    ts_summary_t s;
    int64_t base = s_iso_ms ("2024-05-01T12:00:00Z");
    s_accept (p, "{\"created_at\":\"2024-05-01T14:00:00+02:00\"}", &s, NULL);
    assert_true (s.has_created && s.created_ms == base);
    /* epoch seconds, integer and fractional */
    s_accept (p, "{\"created_at\":1714564800}", &s, NULL);
    assert_true (s.created_ms == base);
    s_accept (p, "{\"created_at\":1714564800.25}", &s, NULL);
    assert_true (s.created_ms == base + 250);
    /* epoch milliseconds */
    s_accept (p, "{\"created_at\":1714564800123}", &s, NULL);
    assert_true (s.created_ms == base + 123);
    s_accept (p, "{\"created_at\":0}", &s, NULL);
    assert_true (s.has_created && s.created_ms == 0);
    assert_true (ts_summary_time (&s) == 0);     /* created wins over ingest time */
    ts_parser_destroy (&p);
}

static void
test_profile_tau (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("tau");
    ts_summary_t s;
    s_accept (p, "{\"task_id\":12,\"trial\":3,\"reward\":1.0,\"info\":{\"model\":\"claude-3-5-sonnet\","
                 "\"reward_info\":{\"reward\":1.0,\"actions\":[]}},\"timestamp\":\"2024-05-01 12:00:00Z\","
                 "\"traj\":[{\"role\":\"system\"},{\"role\":\"user\"},{\"role\":\"assistant\"}]}", &s, NULL);
    s_expect_str (s.id, s.id_len, "12:3");
    s_expect_str (s.group, s.group_len, "12");
    s_expect_str (s.model, s.model_len, "claude-3-5-sonnet");     /* second alternative */
    assert_true (s.reward == 1.0);
    assert_int_equal (s.success, 1);                               /* reward >= 1 */
    assert_true (s.has_created && s.created_ms == s_iso_ms ("2024-05-01T12:00:00Z"));
    assert_true (s.steps == 3);

    s_accept (p, "{\"task_id\":12,\"trial\":4,\"reward\":0.0,\"model\":\"m\"}", &s, NULL);
    s_expect_str (s.id, s.id_len, "12:4");
    s_expect_str (s.model, s.model_len, "m");                      /* first alternative */
    assert_int_equal (s.success, 0);
    s_accept (p, "{\"task_id\":\"retail-7\",\"trial\":0,\"reward\":0.999}", &s, NULL);
    s_expect_str (s.id, s.id_len, "retail-7:0");
    assert_int_equal (s.success, 0);
    /* no reward: success unknown, not false */
    s_accept (p, "{\"task_id\":1,\"trial\":1}", &s, NULL);
    assert_int_equal (s.success, TS_SUCCESS_UNKNOWN);
    /* a composite id with a part missing is no id: the object's hash */
    static const char no_trial [] = "{\"task_id\":1}";
    char hex [33];
    s_accept (p, no_trial, &s, NULL);
    s_object_hash (p, no_trial, hex);
    s_expect_str (s.id, s.id_len, hex);
    s_expect_str (s.group, s.group_len, "1");
    ts_parser_destroy (&p);
}

static void
test_profile_swe (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("swe");
    ts_summary_t s;
    s_accept (p, "{\"instance_id\":\"django__django-11099\",\"model_name_or_path\":\"swe-agent-gpt4\","
                 "\"resolved\":false,\"messages\":[{\"role\":\"user\"},{\"role\":\"assistant\"}],"
                 "\"patch\":\"diff --git a/x b/x\\n\"}", &s, NULL);
    s_expect_str (s.id, s.id_len, "django__django-11099:swe-agent-gpt4");
    s_expect_str (s.group, s.group_len, "django__django-11099");
    s_expect_str (s.model, s.model_len, "swe-agent-gpt4");
    assert_int_equal (s.success, 0);
    assert_true (s.steps == 2);

    s_accept (p, "{\"id\":\"run-9\",\"instance_id\":\"astropy-1\",\"resolved\":true,"
                 "\"history\":[1,2,3,4]}", &s, NULL);
    s_expect_str (s.id, s.id_len, "run-9");
    assert_null (s.model);
    assert_int_equal (s.success, 1);
    assert_true (s.steps == 4);                                     /* third alternative */

    s_accept (p, "{\"instance_id\":\"sympy-2\"}", &s, NULL);
    s_expect_str (s.id, s.id_len, "sympy-2");                      /* last alternative */
    ts_parser_destroy (&p);
}

static void
test_profile_agentbench (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("agentbench");
    ts_summary_t s;
    /* a runs.jsonl line: status and history under /output, time an object */
    s_accept (p, "{\"index\":5,\"error\":null,\"info\":null,\"output\":{\"index\":5,"
                 "\"status\":\"completed\",\"result\":{\"result\":true},\"history\":"
                 "[{\"role\":\"user\"},{\"role\":\"agent\"}]},\"time\":{\"timestamp\":"
                 "1737138741900,\"str\":\"2025-01-17 10:32:21\"}}", &s, NULL);
    s_expect_str (s.id, s.id_len, "5");
    s_expect_str (s.group, s.group_len, "5");
    assert_int_equal (s.success, 1);
    assert_true (s.has_created && s.created_ms == 1737138741900);
    assert_true (s.steps == 2);
    s_accept (p, "{\"index\":6,\"output\":{\"status\":\"completed\",\"result\":{\"result\":false}}}",
              &s, NULL);
    assert_int_equal (s.success, 0);
    /* a sample that did not complete has no result: success unknown */
    s_accept (p, "{\"index\":8,\"output\":{\"status\":\"agent context limit\",\"result\":null}}",
              &s, NULL);
    assert_int_equal (s.success, TS_SUCCESS_UNKNOWN);
    assert_false (s.has_created);
    ts_parser_destroy (&p);
}

/*  A misfit field other than the id: the record is kept with that field
 *  unknown and one warning naming the field, the pointer and the problem;
 *  the id's problems still reject. */
static void
test_warnings (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    ts_summary_t s;
    const ts_parse_warning_t *w;
    s_accept (p, "{\"id\":\"a\",\"reward\":\"high\",\"is_success\":2,\"created_at\":{\"x\":1},"
                 "\"trajectory\":{},\"data_id\":[1],\"model\":\"m\"}", &s, NULL);
    s_expect_str (s.id, s.id_len, "a");
    s_expect_str (s.model, s.model_len, "m");
    assert_false (s.has_reward);
    assert_int_equal (s.success, TS_SUCCESS_UNKNOWN);
    assert_false (s.has_created);
    assert_false (s.has_steps);
    assert_null (s.group);
    assert_int_equal (ts_parser_warnings (p, &w), 5);
    assert_string_equal (w [0].field, "group");
    assert_string_equal (w [0].reason, "/data_id: expected a string or a number, got array");
    assert_string_equal (w [1].field, "reward");
    assert_string_equal (w [1].reason, "/reward: expected a number, got string");
    assert_string_equal (w [2].field, "success");
    assert_string_equal (w [3].field, "created");
    assert_string_equal (w [3].reason, "/created_at: an object without timestamp, $date or str");
    assert_string_equal (w [4].field, "steps");
    assert_string_equal (w [4].reason, "/trajectory: expected an array, got object");
    /* the next line starts with no warnings */
    s_accept (p, "{\"id\":\"b\",\"reward\":1}", &s, NULL);
    assert_int_equal (ts_parser_warnings (p, &w), 0);
    /* the id still rejects */
    const char *r = s_refuse (p, "{\"id\":{\"a\":1},\"reward\":1}");
    assert_non_null (strstr (r, "field id (/id): expected a string or a number, got object"));
    s_refuse (p, "{\"id\":\"\"}");
    ts_parser_destroy (&p);

    /* strict: the same line is refused, naming the first misfit */
    p = s_parser ("default,strict=1");
    r = s_refuse (p, "{\"id\":\"a\",\"reward\":\"high\"}");
    assert_non_null (strstr (r, "field reward (/reward): expected a number, got string"));
    ts_parser_destroy (&p);
}

/*  Times: ISO 8601 with and without a zone, fractions, epoch s and ms (as
 *  numbers or strings of digits), and objects holding one. */
static void
test_times (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    ts_summary_t s;
    int64_t base = s_iso_ms ("2025-01-17T10:32:21Z");
    static const struct { const char *line; int64_t add; } cases [] = {
        { "{\"created_at\":\"2025-01-17T10:32:21Z\"}", 0 },
        { "{\"created_at\":\"2025-01-17T10:32:21\"}", 0 },              /* no zone: UTC */
        { "{\"created_at\":\"2025-01-17 10:32:21\"}", 0 },
        { "{\"created_at\":\"2025-01-17T10:32:21.900Z\"}", 900 },
        { "{\"created_at\":\"2025-01-17T10:32:21.123456+00:00\"}", 123 },
        { "{\"created_at\":\"2025-01-17T11:32:21+01:00\"}", 0 },
        { "{\"created_at\":1737109941}", 0 },
        { "{\"created_at\":1737109941.5}", 500 },
        { "{\"created_at\":1737109941900}", 900 },
        { "{\"created_at\":\"1737109941900\"}", 900 },
        { "{\"created_at\":{\"timestamp\":1737109941900,\"str\":\"2025-01-17 10:32:21\"}}", 900 },
        { "{\"created_at\":{\"str\":\"2025-01-17 10:32:21\"}}", 0 },
        { "{\"created_at\":{\"$date\":\"2025-01-17T10:32:21.000Z\"}}", 0 },
        { "{\"created_at\":{\"$date\":{\"$numberLong\":\"1737109941000\"}}}", 0 },
        { "{\"created_at\":{\"$date\":1737109941000}}", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const ts_parse_warning_t *w;
        s_accept (p, cases [i].line, &s, NULL);
        if (!s.has_created || s.created_ms != base + cases [i].add || ts_parser_warnings (p, &w))
            fail_msg ("%s: has %d, %lld, want %lld", cases [i].line, s.has_created,
                      (long long) s.created_ms, (long long) (base + cases [i].add));
    }
    ts_parser_destroy (&p);
}

/*  The profiles added for RL frameworks and inspect_ai. */
static void
test_profile_rl_and_inspect (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("verl");
    ts_summary_t s;
    char group [64];
    s_accept (p, "{\"input\":\"What is 2+2?\",\"output\":\"4\",\"score\":1.0,\"step\":10}", &s, NULL);
    assert_int_equal (s.group_len, 32);                 /* the prompt's hash */
    snprintf (group, sizeof group, "%.*s", (int) s.group_len, s.group);
    assert_true (s.reward == 1.0 && s.success == 1);
    s_accept (p, "{\"input\":\"What is 2+2?\",\"output\":\"5\",\"score\":0,\"step\":10}", &s, NULL);
    s_expect_str (s.group, s.group_len, group);         /* same prompt, same group */
    assert_int_equal (s.success, 0);
    s_accept (p, "{\"input\":\"What is 3+3?\",\"score\":0}", &s, NULL);
    assert_true (strncmp (group, s.group, 32) != 0);
    ts_parser_destroy (&p);

    p = s_parser ("verifiers");
    s_accept (p, "{\"example_id\":3,\"prompt\":[],\"completion\":[{\"role\":\"assistant\"}],"
                 "\"reward\":1.0}", &s, NULL);
    s_expect_str (s.group, s.group_len, "3");
    assert_true (s.success == 1 && s.steps == 1);
    s_accept (p, "{\"group_id\":\"g7\",\"example_id\":3,\"reward\":0.25}", &s, NULL);
    s_expect_str (s.group, s.group_len, "g7");
    assert_int_equal (s.success, 0);
    ts_parser_destroy (&p);

    p = s_parser ("inspect");
    s_accept (p, "{\"eval\":{\"task\":\"gsm8k\",\"model\":\"openai/gpt-4o\",\"created\":"
                 "\"2025-01-20T10:15:00+00:00\"},\"id\":2,\"epoch\":1,\"messages\":[{},{}],"
                 "\"scores\":{\"match\":{\"value\":\"C\"}},\"uuid\":\"u1\"}", &s, NULL);
    s_expect_str (s.id, s.id_len, "u1");
    s_expect_str (s.group, s.group_len, "gsm8k:2");
    s_expect_str (s.model, s.model_len, "openai/gpt-4o");
    assert_true (s.reward == 1.0 && s.success == 1 && s.steps == 2);
    assert_true (s.created_ms == s_iso_ms ("2025-01-20T10:15:00Z"));
    s_accept (p, "{\"eval\":{\"task\":\"t\"},\"id\":\"x\",\"scores\":{\"s\":{\"value\":\"P\"}},"
                 "\"uuid\":\"u2\"}", &s, NULL);
    assert_true (s.reward == 0.5 && s.success == 0);
    s_accept (p, "{\"eval\":{\"task\":\"t\"},\"id\":\"x\",\"scores\":{\"s\":{\"value\":0.75}},"
                 "\"uuid\":\"u3\"}", &s, NULL);
    assert_true (s.reward == 0.75 && s.success == 0);
    ts_parser_destroy (&p);
}

static void
test_profile_reflexion (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("reflexion");
    ts_summary_t s;
    s_accept (p, "{\"name\":\"alfworld/pick_and_place_7\",\"is_solved\":true,\"model\":\"llama\","
                 "\"steps\":[\"go to shelf 1\",\"take mug 1\"]}", &s, NULL);
    s_expect_str (s.id, s.id_len, "alfworld/pick_and_place_7");
    s_expect_str (s.group, s.group_len, "alfworld/pick_and_place_7");
    assert_int_equal (s.success, 1);
    assert_true (s.steps == 2);
    s_accept (p, "{\"task_id\":\"webshop-3\",\"name\":\"n\",\"is_success\":0,\"history\":[]}", &s, NULL);
    s_expect_str (s.id, s.id_len, "webshop-3");                    /* /task_id before /name */
    s_expect_str (s.group, s.group_len, "webshop-3");
    assert_int_equal (s.success, 0);                                /* second alternative */
    /* the first alternative present wins even when a later one is too */
    s_accept (p, "{\"name\":\"x\",\"is_solved\":false,\"is_success\":true}", &s, NULL);
    assert_int_equal (s.success, 0);
    ts_parser_destroy (&p);
}

static void
test_hash_ids (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    ts_summary_t s;
    char a [33], b [33], want [33];
    static const char line [] = "{\"reward\":0.5,\"data_id\":\"q\"}";
    s_accept (p, line, &s, NULL);
    assert_int_equal (s.id_len, 32);
    memcpy (a, s.id, 32);
    a [32] = 0;
    assert_int_equal (strspn (a, "0123456789abcdef"), 32);
    s_object_hash (p, line, want);
    assert_string_equal (a, want);                /* the hash of the stored object */
    s_accept (p, line, &s, NULL);
    assert_memory_equal (s.id, a, 32);           /* identical line, identical id */
    /* same JSON value, other white space: the same record, the same id */
    s_accept (p, "{ \"reward\": 0.5, \"data_id\": \"q\" }", &s, NULL);
    memcpy (b, s.id, 32);
    b [32] = 0;
    assert_string_equal (a, b);
    /* another key order is another object: another id */
    s_accept (p, "{\"data_id\":\"q\",\"reward\":0.5}", &s, NULL);
    assert_false (s.id_len == 32 && memcmp (s.id, a, 32) == 0);
    s_accept (p, "{\"reward\":0.6,\"data_id\":\"q\"}", &s, NULL);
    assert_false (s.id_len == 32 && memcmp (s.id, a, 32) == 0);
    ts_parser_destroy (&p);
}

/* --- values kept exactly ---------------------------------------------------- */

static void
test_numbers (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    s_round (p, "{\"i\":1,\"z\":0,\"u\":18446744073709551615,\"n\":-42,\"m\":-9223372036854775808,"
                "\"big\":9223372036854775807,\"big1\":9223372036854775808}",
             "{\"i\":1,\"z\":0,\"u\":18446744073709551615,\"n\":-42,\"m\":-9223372036854775808,"
             "\"big\":9223372036854775807,\"big1\":9223372036854775808}");
    /* 0.1+0.2 needs all 17 digits; floats stay floats */
    s_round (p, "{\"f\":0.30000000000000004,\"g\":0.1,\"one\":1.0,\"e1\":1.5e3,\"e2\":2E-2,"
                "\"e3\":1e+2,\"e4\":-1.25E+1,\"tiny\":5e-324,\"max\":1.7976931348623157e308,"
                "\"z\":-0.0,\"zz\":0.0,\"under\":1e-400}",
             "{\"f\":0.30000000000000004,\"g\":0.1,\"one\":1.0,\"e1\":1500.0,\"e2\":0.02,"
             "\"e3\":100.0,\"e4\":-12.5,\"tiny\":5e-324,\"max\":1.7976931348623157e+308,"
             "\"z\":-0.0,\"zz\":0.0,\"under\":0.0}");

    /* the msgpack types: int vs float vs uint, and -0.0's sign */
    ts_buf_t obj = { 0 };
    static const char line [] = "{\"a\":3,\"b\":-3,\"c\":3.0,\"d\":-0.0,\"e\":18446744073709551615,\"f\":0.30000000000000004}";
    s_accept_n (p, line, sizeof line - 1, NULL, NULL, &obj);
    ts_mp_reader_t r;
    ts_mp_item_t it;
    uint32_t n;
    ts_mp_reader_init (&r, obj.data, obj.size);
    assert_int_equal (ts_mp_read_map (&r, &n), 0);
    assert_int_equal (n, 6);
    static const ts_mp_type_t types [] = { TS_MP_UINT, TS_MP_INT, TS_MP_FLOAT, TS_MP_FLOAT, TS_MP_UINT, TS_MP_FLOAT };
    for (uint32_t i = 0; i < n; i++) {
        assert_int_equal (ts_mp_next (&r, &it), 0);         /* key */
        assert_int_equal (ts_mp_next (&r, &it), 0);
        assert_int_equal (it.type, types [i]);
        if (i == 3)
            assert_true (it.f == 0 && signbit (it.f));
        if (i == 4)
            assert_true (it.u == UINT64_MAX);
        if (i == 5)
            assert_true (it.f == 0.1 + 0.2);
    }
    ts_buf_free (&obj);
    ts_parser_destroy (&p);
}

static void
test_strings (void **state)
{
    (void) state;
    ts_parser_t *p = s_parser ("default");
    ts_buf_t obj = { 0 };
    /* \u00e9, a surrogate pair, \u0000 inside a string, "\/", escapes */
    static const char line [] = "{\"s\":\"caf\\u00e9 \\ud83d\\ude80 a\\u0000b \\/ \\\"q\\\" \\\\ \\n\\t\\b\\f\\r\","
                                "\"raw\":\"caf\xc3\xa9 \xf0\x9f\x9a\x80 \xe2\x80\xa8\","
                                "\"k\\u0000ey\":1,\"\":\"\"}";
    s_accept_n (p, line, sizeof line - 1, NULL, NULL, &obj);
    static const char want_s [] = "caf\xc3\xa9 \xf0\x9f\x9a\x80 a\0b / \"q\" \\ \n\t\b\f\r";
    static const char want_raw [] = "caf\xc3\xa9 \xf0\x9f\x9a\x80 \xe2\x80\xa8";
    static const char want_key [] = "k\0ey";
    ts_mp_reader_t r;
    const char *s;
    uint32_t n, sl;
    ts_mp_reader_init (&r, obj.data, obj.size);
    assert_int_equal (ts_mp_read_map (&r, &n), 0);
    assert_int_equal (n, 4);
    assert_int_equal (ts_mp_read_str (&r, &s, &sl), 0);
    assert_int_equal (ts_mp_read_str (&r, &s, &sl), 0);
    assert_int_equal (sl, sizeof want_s - 1);
    assert_memory_equal (s, want_s, sl);                 /* decoded, NUL included */
    assert_int_equal (ts_mp_read_str (&r, &s, &sl), 0);
    assert_int_equal (ts_mp_read_str (&r, &s, &sl), 0);
    assert_int_equal (sl, sizeof want_raw - 1);
    assert_memory_equal (s, want_raw, sl);
    assert_int_equal (ts_mp_read_str (&r, &s, &sl), 0);
    assert_int_equal (sl, sizeof want_key - 1);
    assert_memory_equal (s, want_key, sl);
    ts_buf_free (&obj);

    /* written back: UTF-8 as it is, only what must be escaped is */
    s_round (p, line, "{\"s\":\"caf\xc3\xa9 \xf0\x9f\x9a\x80 a\\u0000b / \\\"q\\\" \\\\ \\n\\t\\b\\f\\r\","
                      "\"raw\":\"caf\xc3\xa9 \xf0\x9f\x9a\x80 \xe2\x80\xa8\",\"k\\u0000ey\":1,\"\":\"\"}");
    ts_parser_destroy (&p);
}

static void
test_duplicate_keys (void **state)
{
    (void) state;
    /* Duplicate keys are kept as they are, in order: the store is lossless
     * and does not pick a winner. For the indexed fields the first
     * occurrence counts (JSON pointer lookup finds the first). */
    ts_parser_t *p = s_parser ("default");
    ts_summary_t s;
    s_round (p, "{\"k\":1,\"k\":2,\"j\":3,\"k\":{\"x\":1,\"x\":[]}}",
             "{\"k\":1,\"k\":2,\"j\":3,\"k\":{\"x\":1,\"x\":[]}}");
    s_accept (p, "{\"id\":\"first\",\"id\":\"second\"}", &s, NULL);
    s_expect_str (s.id, s.id_len, "first");
    /* key order is the input's, not sorted */
    s_round (p, "{\"z\":1,\"a\":2,\"m\":3}", "{\"z\":1,\"a\":2,\"m\":3}");
    ts_parser_destroy (&p);
}

/* --- the property test ---------------------------------------------------------- */

/*  Own PRNG (splitmix64) with fixed seeds: every run tests the same lines. */
static uint64_t
s_rand (uint64_t *state)
{
    return tu_splitmix64 (state);
}

/*  The generator writes the JSON text and, independently of the parser,
 *  the msgpack that text must become (through msgpack-c's packer). */
typedef struct {
    uint64_t         seed;
    ts_buf_t         text;
    msgpack_sbuffer  sb;
    msgpack_packer   pk;
    ts_buf_t         str;          /* bytes of the string being generated */
    int              budget;       /* values left for this record */
    int              deepest;      /* deepest container level written */
} s_gen_t;

static uint64_t
s_pick (s_gen_t *g, uint64_t n)
{
    return s_rand (&g->seed) % n;
}

static void
s_emit (s_gen_t *g, const char *s, size_t n)
{
    assert_int_equal (ts_buf_append (&g->text, s, n), 0);
}

static void
s_emits (s_gen_t *g, const char *s)
{
    s_emit (g, s, strlen (s));
}

/*  Optional white space between tokens (no '\n': the line is one line). */
static void
s_gen_ws (s_gen_t *g)
{
    if (s_pick (g, 8) == 0)
        s_emits (g, s_pick (g, 2) ? " " : "\t ");
}

static void
s_utf8 (ts_buf_t *b, uint32_t cp)
{
    char u [4];
    size_t n;
    if (cp < 0x80)         { u [0] = (char) cp; n = 1; }
    else if (cp < 0x800)   { u [0] = (char) (0xc0 | cp >> 6); u [1] = (char) (0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) { u [0] = (char) (0xe0 | cp >> 12); u [1] = (char) (0x80 | ((cp >> 6) & 0x3f));
                             u [2] = (char) (0x80 | (cp & 0x3f)); n = 3; }
    else                   { u [0] = (char) (0xf0 | cp >> 18); u [1] = (char) (0x80 | ((cp >> 12) & 0x3f));
                             u [2] = (char) (0x80 | ((cp >> 6) & 0x3f)); u [3] = (char) (0x80 | (cp & 0x3f)); n = 4; }
    assert_int_equal (ts_buf_append (b, u, n), 0);
}

static void
s_gen_u_escape (s_gen_t *g, uint32_t unit)
{
    char e [8];
    snprintf (e, sizeof e, s_pick (g, 2) ? "\\u%04x" : "\\u%04X", unit);
    s_emits (g, e);
}

/*  One random code point, written raw or escaped; its UTF-8 goes to g->str. */
static void
s_gen_char (s_gen_t *g)
{
    uint32_t cp;
    switch (s_pick (g, 10)) {
    case 0: case 1: case 2: case 3:
        cp = 0x20 + (uint32_t) s_pick (g, 0x5f);            /* printable ASCII */
        break;
    case 4:
        cp = (uint32_t) s_pick (g, 0x20);                   /* control */
        break;
    case 5:
        cp = "\"\\/"[s_pick (g, 3)];
        break;
    case 6:
        cp = 0x80 + (uint32_t) s_pick (g, 0x780);           /* 2-byte */
        break;
    case 7:
        do cp = 0x800 + (uint32_t) s_pick (g, 0xf800);     /* 3-byte, no surrogates */
        while (cp >= 0xd800 && cp <= 0xdfff);
        break;
    case 8:
        cp = 0x1f300 + (uint32_t) s_pick (g, 0x800);        /* emoji */
        break;
    default:
        cp = 0x10000 + (uint32_t) s_pick (g, 0x100000);     /* any 4-byte */
        break;
    }
    s_utf8 (&g->str, cp);
    bool escape = s_pick (g, 3) == 0;
    if (cp < 0x20) {
        static const char shorts [] = "\b\f\n\r\t";
        const char *sh = cp ? strchr (shorts, (int) cp) : NULL;
        if (sh && s_pick (g, 2)) {
            char e [3] = { '\\', "bfnrt"[sh - shorts], 0 };
            s_emits (g, e);
        }
        else
            s_gen_u_escape (g, cp);                          /* must be escaped */
    }
    else if (cp == '"' || cp == '\\') {
        if (escape)
            s_gen_u_escape (g, cp);
        else {
            char e [3] = { '\\', (char) cp, 0 };
            s_emits (g, e);
        }
    }
    else if (!escape)
        s_utf8 (&g->text, cp);
    else if (cp == '/')
        s_emits (g, "\\/");
    else if (cp < 0x10000)
        s_gen_u_escape (g, cp);
    else {
        uint32_t v = cp - 0x10000;                           /* surrogate pair */
        s_gen_u_escape (g, 0xd800 + (v >> 10));
        s_gen_u_escape (g, 0xdc00 + (v & 0x3ff));
    }
}

static void
s_gen_string (s_gen_t *g)
{
    size_t n;
    switch (s_pick (g, 6)) {
    case 0:  n = 0; break;
    case 1:  n = 20 + s_pick (g, 200); break;
    default: n = 1 + s_pick (g, 10); break;
    }
    g->str.size = 0;
    s_emits (g, "\"");
    for (size_t i = 0; i < n; i++)
        s_gen_char (g);
    s_emits (g, "\"");
    msgpack_pack_str (&g->pk, g->str.size);
    msgpack_pack_str_body (&g->pk, g->str.data, g->str.size);
}

static void
s_gen_number (s_gen_t *g)
{
    char t [64];
    switch (s_pick (g, 9)) {
    case 0: {
        int64_t v = (int64_t) s_pick (g, 201) - 100;
        snprintf (t, sizeof t, "%lld", (long long) v);
        msgpack_pack_int64 (&g->pk, v);
        break;
    }
    case 1: {
        int64_t v = (int64_t) s_rand (&g->seed);         /* anywhere in int64 */
        if (s_pick (g, 8) == 0)
            v = s_pick (g, 2) ? INT64_MIN : INT64_MAX;
        snprintf (t, sizeof t, "%lld", (long long) v);
        msgpack_pack_int64 (&g->pk, v);
        break;
    }
    case 2: {
        uint64_t v = s_rand (&g->seed) | (UINT64_C (1) << 63);   /* above INT64_MAX */
        if (s_pick (g, 8) == 0)
            v = UINT64_MAX;
        snprintf (t, sizeof t, "%llu", (unsigned long long) v);
        msgpack_pack_uint64 (&g->pk, v);
        break;
    }
    case 3: case 4: case 5: {
        double v;
        if (s_pick (g, 2)) {
            uint64_t bits;
            do {
                bits = s_rand (&g->seed);
                memcpy (&v, &bits, sizeof v);
            } while (!isfinite (v));
        }
        else {
            static const double nice [] = { 0.0, -0.0, 1.0, -1.0, 0.1, 0.5, 1e-7, 5e-324, 1e300, 123.0 };
            v = s_pick (g, 3) ? (double) (int64_t) s_pick (g, 2001) / 1000.0 - 1.0
                              : nice [s_pick (g, sizeof nice / sizeof nice [0])];
        }
        /* %.17g always reads back to the same double */
        int form = (int) s_pick (g, 4);
        snprintf (t, sizeof t, form == 0 ? "%.17e" : form == 1 ? "%.17E" : "%.17g", v);
        if (!strpbrk (t, ".eE"))
            strcat (t, ".0");                             /* keep it a float */
        msgpack_pack_double (&g->pk, v);
        break;
    }
    case 6:
        strcpy (t, "true");
        msgpack_pack_true (&g->pk);
        break;
    case 7:
        strcpy (t, "false");
        msgpack_pack_false (&g->pk);
        break;
    default:
        strcpy (t, "null");
        msgpack_pack_nil (&g->pk);
        break;
    }
    s_emits (g, t);
}

static void s_gen_value (s_gen_t *g, int level, int force);

/*  A container at `level` (the record is level 1). When `force` is above
 *  `level`, one of its children continues down to exactly `force`. */
static void
s_gen_container (s_gen_t *g, bool object, int level, int force)
{
    if (level > g->deepest)
        g->deepest = level;
    size_t n;
    switch (s_pick (g, 8)) {
    case 0:  n = 0; break;                                      /* empty */
    case 1:  n = 20 + s_pick (g, 80); break;                    /* wide */
    default: n = 1 + s_pick (g, 5); break;
    }
    if (force > level && n == 0)
        n = 1;
    size_t forced_at = force > level ? s_pick (g, n) : n;
    /* keys already used, for duplicates: texts and their bytes */
    enum { KEEP = 4 };
    ts_buf_t key_text [KEEP] = { { 0 } }, key_bytes [KEEP] = { { 0 } };
    size_t nkeys = 0;

    s_emits (g, object ? "{" : "[");
    s_gen_ws (g);
    if (object)
        msgpack_pack_map (&g->pk, n);
    else
        msgpack_pack_array (&g->pk, n);
    for (size_t i = 0; i < n; i++) {
        if (i) {
            s_emits (g, ",");
            s_gen_ws (g);
        }
        if (object) {
            if (nkeys && s_pick (g, 8) == 0) {                  /* a duplicate key */
                size_t k = s_pick (g, nkeys);
                s_emit (g, key_text [k].data, key_text [k].size);
                msgpack_pack_str (&g->pk, key_bytes [k].size);
                msgpack_pack_str_body (&g->pk, key_bytes [k].data, key_bytes [k].size);
            }
            else {
                size_t start = g->text.size;
                s_gen_string (g);
                size_t k = nkeys < KEEP ? nkeys++ : s_pick (g, KEEP);
                key_text [k].size = key_bytes [k].size = 0;
                assert_int_equal (ts_buf_append (&key_text [k], g->text.data + start, g->text.size - start), 0);
                assert_int_equal (ts_buf_append (&key_bytes [k], g->str.data, g->str.size), 0);
            }
            s_gen_ws (g);
            s_emits (g, ":");
            s_gen_ws (g);
        }
        s_gen_value (g, level + 1, i == forced_at ? force : 0);
        s_gen_ws (g);
    }
    s_emits (g, object ? "}" : "]");
    for (size_t k = 0; k < KEEP; k++) {
        ts_buf_free (&key_text [k]);
        ts_buf_free (&key_bytes [k]);
    }
}

static void
s_gen_value (s_gen_t *g, int level, int force)
{
    g->budget--;
    if (force >= level) {
        s_gen_container (g, s_pick (g, 2), level, force);
        return;
    }
    /* containers get rarer with depth and stop at the limit */
    bool container = level <= TS_MAX_DEPTH && g->budget > 0
                  && s_pick (g, 100) < (uint64_t) (level < 4 ? 35 : 15);
    if (container)
        s_gen_container (g, s_pick (g, 2), level, 0);
    else if (s_pick (g, 3) == 0)
        s_gen_string (g);
    else
        s_gen_number (g);
}

/*  One random record: the text in g->text, the expected msgpack in g->sb. */
static void
s_gen_record (s_gen_t *g)
{
    g->text.size = 0;
    msgpack_sbuffer_clear (&g->sb);
    g->deepest = 0;
    g->budget = 1 + (int) s_pick (g, 150);
    int force = 0;
    if (s_pick (g, 10) == 0)           /* one record in ten goes deep */
        force = s_pick (g, 2) ? TS_MAX_DEPTH : 2 + (int) s_pick (g, TS_MAX_DEPTH - 1);
    s_gen_ws (g);
    s_gen_container (g, true, 1, force);
    s_gen_ws (g);
}

/*  msgpack-c must read the stored object, alone and inside the three levels
 *  a reply adds (reply map, items array, item map), and re-encode it to the
 *  very same bytes. */
static void
s_check_msgpack_c (const char *obj, size_t len)
{
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init (&u);
    if (msgpack_unpack_next (&u, obj, len, &off) != MSGPACK_UNPACK_SUCCESS)
        fail_msg ("msgpack-c cannot unpack a stored object");
    assert_int_equal (off, len);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init (&sb);
    msgpack_packer_init (&pk, &sb, msgpack_sbuffer_write);
    assert_int_equal (msgpack_pack_object (&pk, u.data), 0);
    assert_int_equal (sb.size, len);
    assert_memory_equal (sb.data, obj, len);

    msgpack_sbuffer_clear (&sb);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str_with_body (&pk, "items", 5);
    msgpack_pack_array (&pk, 1);
    msgpack_pack_map (&pk, 1);
    msgpack_pack_str_with_body (&pk, "record", 6);
    msgpack_sbuffer_write (&sb, obj, len);
    off = 0;
    if (msgpack_unpack_next (&u, sb.data, sb.size, &off) != MSGPACK_UNPACK_SUCCESS)
        fail_msg ("msgpack-c cannot unpack a stored object inside a reply");
    assert_int_equal (off, sb.size);
    msgpack_sbuffer_destroy (&sb);
    msgpack_unpacked_destroy (&u);
}

static void
s_dump_on_failure (const char *what, const ts_buf_t *text, int record)
{
    fail_msg ("record %d: %s\nline: %.*s", record, what,
              (int) (text->size > 2000 ? 2000 : text->size), text->data);
}

static void
test_property_round_trip (void **state)
{
    (void) state;
    /* no indexed fields: any random object is a valid record */
    ts_parser_t *p = s_parser ("id=,group=,model=,reward=,success=,created=,steps=");
    static const uint64_t seeds [] = { 1, 0xc0ffee, 20260314 };
    enum { PER_SEED = 1000 };
    s_gen_t g = { 0 };
    msgpack_sbuffer_init (&g.sb);
    msgpack_packer_init (&g.pk, &g.sb, msgpack_sbuffer_write);
    ts_buf_t obj1 = { 0 }, obj2 = { 0 }, json1 = { 0 }, json2 = { 0 };
    int at_max_depth = 0, wide = 0, total = 0;
    size_t bytes = 0;

    for (size_t si = 0; si < sizeof seeds / sizeof seeds [0]; si++) {
        g.seed = seeds [si];
        for (int k = 0; k < PER_SEED; k++, total++) {
            s_gen_record (&g);
            bytes += g.text.size;
            ts_summary_t sum;
            s_accept_n (p, g.text.data, g.text.size, &sum, &json1, &obj1);
            /* the parser agrees with the independent encoding */
            if (obj1.size != g.sb.size || memcmp (obj1.data, g.sb.data, obj1.size) != 0)
                s_dump_on_failure ("stored msgpack differs from the generator's", &g.text, total);
            /* no id field: the id is the hash of the stored object */
            char hex [33];
            ts_hash_id (obj1.data, obj1.size, hex);
            if (!s_str_is (sum.id, sum.id_len, hex))
                s_dump_on_failure ("id is not the object's hash", &g.text, total);
            if (ts_mp_depth (obj1.data, obj1.size) != g.deepest)
                s_dump_on_failure ("stored depth differs", &g.text, total);
            /* lossless: JSON out, parsed again, is the same msgpack ... */
            s_accept_n (p, json1.data, json1.size, NULL, &json2, &obj2);
            if (obj2.size != obj1.size || memcmp (obj2.data, obj1.data, obj1.size) != 0)
                s_dump_on_failure ("re-parsed JSON gives other msgpack", &json1, total);
            /* ... and the same text: ts_mp_to_json is a fixed point */
            if (json2.size != json1.size || memcmp (json2.data, json1.data, json1.size) != 0)
                s_dump_on_failure ("JSON text changed on the second round", &json1, total);
            /* and the strict checker accepts what the fast parser accepted */
            char reason [256];
            if (ts_json_diagnose (g.text.data, g.text.size, reason, sizeof reason) != 0)
                s_dump_on_failure (reason, &g.text, total);
            s_check_msgpack_c (obj1.data, obj1.size);
            at_max_depth += g.deepest == TS_MAX_DEPTH;
            wide += obj1.size > 2000;
        }
    }
    /* the generator covered what it claims to */
    assert_true (at_max_depth >= 50);
    assert_true (wide >= 50);
    print_message ("property: %d records, %zu bytes, %d at depth %d\n",
                   total, bytes, at_max_depth, TS_MAX_DEPTH);
    ts_buf_free (&obj1);
    ts_buf_free (&obj2);
    ts_buf_free (&json1);
    ts_buf_free (&json2);
    ts_buf_free (&g.text);
    ts_buf_free (&g.str);
    msgpack_sbuffer_destroy (&g.sb);
    ts_parser_destroy (&p);
}

/*  Sanity of the generator itself: the property test is worthless if its
 *  expected msgpack could be wrong in the same way as the parser. A few
 *  hand-checked escapes through the same code path. */
static void
test_generator_escapes (void **state)
{
    (void) state;
    ts_buf_t b = { 0 };
    s_utf8 (&b, 0xe9);
    s_utf8 (&b, 0x1f680);
    s_utf8 (&b, 0x20ac);
    s_utf8 (&b, 0x41);
    assert_int_equal (b.size, 2 + 4 + 3 + 1);
    assert_memory_equal (b.data, "\xc3\xa9\xf0\x9f\x9a\x80\xe2\x82\xac" "A", b.size);
    ts_buf_free (&b);
}

/* --- JSON documents (ts_jsondoc.h) ----------------------------------------- */

typedef struct {
    char text [8][512];
    int  n;
    char members [8][256];      /* key=value;... of each record */
} s_docout_t;

static int
s_doc_emit (void *arg, const char *rec, size_t len, const ts_jsondoc_member_t *m, int n)
{
    s_docout_t *o = arg;
    assert_true (o->n < 8);
    snprintf (o->text [o->n], sizeof o->text [0], "%.*s", (int) len, rec);
    o->members [o->n][0] = 0;
    for (int i = 0; i < n; i++) {
        char one [128];
        snprintf (one, sizeof one, "%.*s=%.*s;", (int) m [i].key_len, m [i].key,
                  (int) m [i].val_len, m [i].val);
        strncat (o->members [o->n], one, sizeof o->members [0] - strlen (o->members [o->n]) - 1);
    }
    o->n++;
    return 0;
}

/*  Splits `doc` fed in pieces of `step` bytes; returns the rc of finish. */
static int
s_split (const char *doc, size_t step, s_docout_t *o, char *err, size_t err_size)
{
    memset (o, 0, sizeof *o);
    ts_jsondoc_t *d = ts_jsondoc_new (1000, s_doc_emit, o);
    assert_non_null (d);
    size_t len = strlen (doc);
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += step)
        rc = ts_jsondoc_feed (d, doc + at, at + step > len ? len - at : step);
    if (rc == 0)
        rc = ts_jsondoc_finish (d);
    snprintf (err, err_size, "%s", ts_jsondoc_error (d));
    ts_jsondoc_destroy (&d);
    return rc;
}

static void
test_jsondoc (void **state)
{
    (void) state;
    s_docout_t o;
    char err [256];
    for (size_t step = 1; step <= 64; step *= 4) {     /* any cut of the input */
        /* one object, pretty-printed */
        assert_int_equal (s_split ("{\n  \"a\": 1,\n  \"b\": [1, 2],\n  \"s\": \"x y\\\"}\"\n}\n",
                                   step, &o, err, sizeof err), 0);
        assert_int_equal (o.n, 1);
        assert_string_equal (o.text [0], "{\"a\":1,\"b\":[1,2],\"s\":\"x y\\\"}\"}");
        assert_string_equal (o.members [0], "a=1;b=[1,2];s=\"x y\\\"}\";");
        /* an array of records, and a scalar in it (the parser rejects it later) */
        assert_int_equal (s_split ("[{\"x\": 1}, {\"y\": {\"z\": []}}, 5]", step, &o, err,
                                   sizeof err), 0);
        assert_int_equal (o.n, 3);
        assert_string_equal (o.text [1], "{\"y\":{\"z\":[]}}");
        assert_string_equal (o.text [2], "5");
        /* JSONL: top-level objects one after the other */
        assert_int_equal (s_split ("{\"i\":1}\n{\"i\":2}\n\n{\"i\":3}", step, &o, err, sizeof err), 0);
        assert_int_equal (o.n, 3);
        assert_string_equal (o.text [2], "{\"i\":3}");
        /* an inspect_ai log: each sample, with the log's eval first */
        assert_int_equal (s_split ("{\"version\":2,\"eval\":{\"task\":\"t\",\"model\":\"m\"},"
                                   "\"plan\":{},\"samples\":[{\"id\":1,\"s\":\"]\"},{}],"
                                   "\"reductions\":[{\"x\":\"}\"}]}", step, &o, err, sizeof err), 0);
        assert_int_equal (o.n, 2);
        assert_string_equal (o.text [0], "{\"eval\":{\"task\":\"t\",\"model\":\"m\"},\"id\":1,\"s\":\"]\"}");
        assert_string_equal (o.members [0], "eval={\"task\":\"t\",\"model\":\"m\"};id=1;s=\"]\";");
        assert_string_equal (o.text [1], "{\"eval\":{\"task\":\"t\",\"model\":\"m\"}}");
        /* "samples" without an eval before it is just a member */
        assert_int_equal (s_split ("{\"samples\":[1,2],\"eval\":{}}", step, &o, err, sizeof err), 0);
        assert_int_equal (o.n, 1);
    }
    /* a raw line break inside a string stays on the line, still invalid */
    assert_int_equal (s_split ("[{\"a\":\"x\ny\"}]", 1, &o, err, sizeof err), 0);
    assert_string_equal (o.text [0], "{\"a\":\"x\ry\"}");
    /* errors name the byte and the record */
    assert_int_equal (s_split ("[{\"a\":1},{\"b\":", 3, &o, err, sizeof err), TS_EBADLINE);
    assert_non_null (strstr (err, "record 2: the document ends inside a record"));
    assert_int_equal (s_split ("[{\"a\":\"x", 3, &o, err, sizeof err), TS_EBADLINE);
    assert_non_null (strstr (err, "inside a string"));
    assert_int_equal (s_split ("{}}", 1, &o, err, sizeof err), TS_EBADLINE);
    assert_int_equal (s_split ("42", 1, &o, err, sizeof err), TS_EBADLINE);
    assert_non_null (strstr (err, "byte 0, record 1"));
    /* a record over the limit */
    char big [1200] = "[{\"a\":\"";
    memset (big + 7, 'x', 1100);
    strcpy (big + 1107, "\"}]");
    assert_int_equal (s_split (big, 64, &o, err, sizeof err), TS_EBADLINE);
    assert_non_null (strstr (err, "larger than 1000 bytes"));
}

/* --- attempt identity and the import's context (ts_profile.h) ---------------- */

/*  Parses `line` as line `lineno` under `spec`; *id gets the record's id
 *  (NUL-terminated), run/model (may be NULL) its run and model. */
static void
s_ident (const char *spec, const char *line, uint64_t lineno, char *id, size_t id_size,
         char *run, char *model)
{
    ts_parser_t *p = s_parser (spec);
    size_t len = strlen (line);
    char *copy = malloc (len + TS_PARSE_PADDING);
    assert_non_null (copy);
    memcpy (copy, line, len);
    memset (copy + len, '}', TS_PARSE_PADDING);
    ts_buf_t out = { 0 };
    ts_summary_t sum, stored;
    char reason [256] = "";
    int rc = ts_parser_parse (p, copy, len, lineno, 1234, &out, &sum, reason, sizeof reason);
    if (rc)
        fail_msg ("refused under '%s': %s", spec, reason);
    const char *o;
    size_t ol;
    assert_int_equal (ts_record_split (out.data, out.size, &stored, &o, &ol), 0);
    assert_true (stored.id_len < id_size);
    memcpy (id, stored.id, stored.id_len);
    id [stored.id_len] = 0;
    if (run) {
        run [0] = 0;
        if (stored.run)
            snprintf (run, 256, "%.*s", (int) stored.run_len, stored.run);
    }
    if (model) {
        model [0] = 0;
        if (stored.model)
            snprintf (model, 256, "%.*s", (int) stored.model_len, stored.model);
    }
    ts_buf_free (&out);
    free (copy);
    ts_parser_destroy (&p);
}

static void
test_attempt_identity (void **state)
{
    (void) state;
    const char *env = "{\"name\":\"env_0\",\"memory\":[],\"is_success\":true}";
    char id [600], run [256], model [256];
    /* reflexion's /name is a task, not an attempt: the run's line names it */
    s_ident ("reflexion,run=trial_0", env, 3, id, sizeof id, run, NULL);
    assert_string_equal (id, "trial_0:3");
    assert_string_equal (run, "trial_0");
    s_ident ("reflexion,run=trial_1", env, 3, id, sizeof id, run, NULL);
    assert_string_equal (id, "trial_1:3");
    s_ident ("reflexion,run=all,file=trial_1", env, 7, id, sizeof id, run, NULL);
    assert_string_equal (id, "all:trial_1:7");
    assert_string_equal (run, "all");
    /* AgentBench's /index neither */
    s_ident ("agentbench,run=gpt4", "{\"index\":5,\"output\":{}}", 1, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "gpt4:1");
    /* an explicit per-attempt id is kept, in any run */
    s_ident ("default,run=a", "{\"id\":\"t-9\",\"data_id\":\"q\"}", 3, id, sizeof id, run, NULL);
    assert_string_equal (id, "t-9");
    assert_string_equal (run, "a");
    /* reflexion's ids are its tasks' (/task_id|/name), whatever else a line holds */
    s_ident ("reflexion,run=a", "{\"id\":\"r-1\",\"name\":\"env_0\"}", 3, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "a:3");
    /* tau's task_id+trial repeats in every run (trial 0.. each time) */
    s_ident ("tau,run=a", "{\"task_id\":4,\"trial\":2}", 9, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "a:9");
    /* an id the user names is the record's own only when the spec says so */
    s_ident ("reflexion,id=/name,run=a", env, 3, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "a:3");
    s_ident ("reflexion,id=/name,id_per_attempt=1,run=a", env, 3, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "env_0");
    s_ident ("default,run=a", "{\"data_id\":\"q\"}", 12, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "a:12");
    /* ids=line: always the line; ids=content: the store before runs */
    s_ident ("default,run=a,ids=line", "{\"id\":\"t-9\"}", 4, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "a:4");
    s_ident ("reflexion,run=a,ids=content", env, 3, id, sizeof id, NULL, NULL);
    assert_string_equal (id, "env_0");
    s_ident ("default,run=a,ids=content", "{\"data_id\":\"q\"}", 3, id, sizeof id, run, NULL);
    assert_int_equal (strlen (id), 32);
    assert_string_equal (run, "a");
    /* no run (a caller that gives none): as before runs */
    s_ident ("reflexion", env, 3, id, sizeof id, run, NULL);
    assert_string_equal (id, "env_0");
    assert_string_equal (run, "");
    /* set.model fills the model of records that name none */
    s_ident ("default,run=a,set.model=gpt-4o,set.temperature=0.7", "{\"id\":\"x\"}", 1,
             id, sizeof id, NULL, model);
    assert_string_equal (model, "gpt-4o");
    s_ident ("default,run=a,set.model=gpt-4o", "{\"id\":\"x\",\"model\":\"m\"}", 1,
             id, sizeof id, NULL, model);
    assert_string_equal (model, "m");
}

static void
test_attempt_profile (void **state)
{
    (void) state;
    ts_profile_t p;
    char err [256];
    assert_int_equal (ts_profile_parse ("reflexion", &p, err, sizeof err), 0);
    assert_false (ts_profile_id_per_attempt (&p));  /* /task_id|/name: the task's */
    assert_string_equal (p.name, "reflexion");
    assert_int_equal (ts_profile_parse ("reflexion,run=t0,set.model=m,ids=line", &p, err, sizeof err), 0);
    assert_string_equal (p.name, "reflexion");  /* the context is not an override */
    assert_string_equal (p.run, "t0");
    assert_int_equal (p.ids, TS_IDS_LINE);
    assert_string_equal (ts_profile_set_value (&p, "model"), "m");
    assert_null (ts_profile_set_value (&p, "temperature"));
    assert_int_equal (ts_profile_parse ("default,ids=hash", &p, err, sizeof err), TS_EINVAL);
    assert_non_null (strstr (err, "ids"));
    assert_int_equal (ts_profile_parse ("default,run=", &p, err, sizeof err), TS_EINVAL);
    assert_non_null (strstr (err, "run"));
    assert_int_equal (ts_profile_parse ("default,set.=x", &p, err, sizeof err), TS_EINVAL);
    char bad [200];
    memset (bad, 'r', sizeof bad - 1);
    bad [sizeof bad - 1] = 0;
    char spec [300];
    snprintf (spec, sizeof spec, "default,run=%s", bad);
    assert_int_equal (ts_profile_parse (spec, &p, err, sizeof err), TS_EINVAL);
    assert_int_equal (ts_profile_check_text ("run", "a\tb", 10, err, sizeof err), TS_EINVAL);
    assert_int_equal (ts_profile_check_text ("run", "a,b", 10, err, sizeof err), TS_EINVAL);
    assert_int_equal (ts_profile_check_text ("run", "gpt-4o/trial 1", 20, err, sizeof err), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rejections),
        cmocka_unit_test (test_id_limits),
        cmocka_unit_test (test_depth_limit),
        cmocka_unit_test (test_blank_and_crlf),
        cmocka_unit_test (test_profile_default),
        cmocka_unit_test (test_profile_success_values),
        cmocka_unit_test (test_profile_created),
        cmocka_unit_test (test_profile_tau),
        cmocka_unit_test (test_profile_swe),
        cmocka_unit_test (test_profile_agentbench),
        cmocka_unit_test (test_profile_reflexion),
        cmocka_unit_test (test_warnings),
        cmocka_unit_test (test_times),
        cmocka_unit_test (test_profile_rl_and_inspect),
        cmocka_unit_test (test_jsondoc),
        cmocka_unit_test (test_hash_ids),
        cmocka_unit_test (test_attempt_identity),
        cmocka_unit_test (test_attempt_profile),
        cmocka_unit_test (test_numbers),
        cmocka_unit_test (test_strings),
        cmocka_unit_test (test_duplicate_keys),
        cmocka_unit_test (test_generator_escapes),
        cmocka_unit_test (test_property_round_trip),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
