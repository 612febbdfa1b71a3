/*  fuzz_parse.c: libFuzzer target for the line parser (ts_parse.h).
 *
 *  Every input is one line. The parser must never crash or leak on it, and
 *  whatever it accepts must survive the store's round trip unchanged:
 *  stored msgpack -> JSON -> parsed again gives the same msgpack and the
 *  same JSON text. The strict diagnostic checker runs on every input too
 *  (it is the slow path, but it also reads untrusted lines), and must
 *  accept everything the fast parser accepted. Any mismatch aborts, which
 *  libFuzzer reports as a crash with the input saved.
 */
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_record.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ts_parser_t *s_parser;
static ts_parser_t *s_reparser;     /* second parser: the first one's summary stays valid */

static void
s_die (const char *what, const uint8_t *data, size_t size)
{
    fprintf (stderr, "fuzz_parse: %s\ninput (%zu bytes): %.*s\n", what, size,
             (int) (size > 500 ? 500 : size), (const char *) data);
    abort ();
}

/*  Copies into a buffer with the padding the parser reads ahead into. The
 *  padding is JSON punctuation, so reading it as content would show up. */
static char *
s_padded (const void *data, size_t size)
{
    char *buf = malloc (size + TS_PARSE_PADDING);
    if (!buf)
        abort ();
    if (size)
        memcpy (buf, data, size);
    memset (buf + size, '}', TS_PARSE_PADDING);
    return buf;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_parser) {
        ts_profile_t pr;
        char err [256];
        if (ts_profile_parse ("default", &pr, err, sizeof err))
            abort ();
        s_parser = ts_parser_new (&pr);
        s_reparser = ts_parser_new (&pr);
        if (!s_parser || !s_reparser)
            abort ();
    }
    char reason [256], diag [256];
    int checked = ts_json_diagnose ((const char *) data, size, diag, sizeof diag);

    char *line = s_padded (data, size);
    ts_buf_t out = { 0 }, json1 = { 0 }, json2 = { 0 }, out2 = { 0 };
    ts_summary_t sum, sum2, split;
    reason [0] = 0;
    int rc = ts_parser_parse (s_parser, line, size, 1, 0, &out, &sum, reason, sizeof reason);
    if (rc == TS_EBADLINE) {
        if (out.size != 0)
            s_die ("refused line left bytes in out", data, size);
        if (!reason [0] || !memchr (reason, 0, sizeof reason))
            s_die ("refused line without a reason", data, size);
    }
    else if (rc != 0)
        s_die ("unexpected error code", data, size);
    else {
        if (checked != 0)
            s_die ("parser accepted what the strict checker refused", data, size);
        const char *obj, *obj2;
        size_t obj_len, obj2_len;
        if (ts_record_split (out.data, out.size, &split, &obj, &obj_len))
            s_die ("stored record does not split", data, size);
        if (split.id_len != sum.id_len || memcmp (split.id, sum.id, sum.id_len))
            s_die ("stored id differs from the summary", data, size);
        int depth = ts_mp_depth (obj, obj_len);
        if (depth < 1 || depth > TS_MAX_DEPTH)
            s_die ("stored object too deep", data, size);
        if (ts_mp_to_json (obj, obj_len, &json1))
            s_die ("stored object does not convert to JSON", data, size);
        char *line2 = s_padded (json1.data, json1.size);
        rc = ts_parser_parse (s_reparser, line2, json1.size, 1, 0, &out2, &sum2, reason, sizeof reason);
        free (line2);
        if (rc)
            s_die ("JSON written back is refused", data, size);
        if (ts_record_split (out2.data, out2.size, &split, &obj2, &obj2_len))
            s_die ("second record does not split", data, size);
        if (obj2_len != obj_len || memcmp (obj, obj2, obj_len))
            s_die ("round trip changed the msgpack", data, size);
        if (ts_mp_to_json (obj2, obj2_len, &json2))
            s_die ("second object does not convert", data, size);
        if (json2.size != json1.size || memcmp (json1.data, json2.data, json1.size))
            s_die ("round trip changed the JSON text", data, size);
    }
    free (line);
    ts_buf_free (&out);
    ts_buf_free (&out2);
    ts_buf_free (&json1);
    ts_buf_free (&json2);
    return 0;
}
