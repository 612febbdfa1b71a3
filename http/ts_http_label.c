/*  ts_http_label.c: the body of a POST to /v1/labels (ts_http.c, "POST
 *  /v1/labels/{id}") made into the op "label" (docs/HTTP.md).
 */
#include "ts_http.h"
#include "ts_json_out.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"

#include <string.h>

/*  The op "label" of record `id` from a JSON body {"set": {k: v}, "remove":
 *  [k], "author": A}: the body is read by the import's strict parser, as
 *  the value of a line {"id": ID, "label": BODY}, and its fields go to the
 *  api as they are (the api checks them and names the field). `id` NULL:
 *  of every record the filters match, `q` begun with them (s_build of
 *  s_label_where). 0, or -1 with the error in *a. */
int
ts_http_label_request (const char *id, const ts_buf_t *body, ts_req_t *q, ts_hanswer_t *a)
{
    ts_buf_t line = { 0 };
    ts_buf_t out = { 0 };
    ts_profile_t prof;
    char reason [300];
    ts_parser_t *ps = NULL;
    int rc = -1;
    static const char pad [TS_PARSE_PADDING];
    if (!body->size) {
        ts_hanswer_error (a, 400, "BAD_REQUEST", "the body: want a JSON object {\"set\": "
                          "{key: value}, \"remove\": [key], \"author\": name}");
        goto done;
    }
    if (ts_buf_append (&line, "{\"id\":", 6) || ts_json_escape (&line, id ? id : "-", id ? strlen (id) : 1)
    ||  ts_buf_append (&line, ",\"label\":", 9) || ts_buf_append (&line, body->data, body->size)
    ||  ts_buf_append (&line, "}", 1) || ts_buf_append (&line, pad, sizeof pad)
    ||  ts_profile_parse ("default", &prof, reason, sizeof reason)
    ||  !(ps = ts_parser_new (&prof))) {
        ts_hanswer_error (a, 500, "NO_MEMORY", "out of memory");
        goto done;
    }
    ts_summary_t sum;
    const char *obj;
    size_t olen;
    ts_mp_reader_t v;
    uint32_t n;
    if (memchr (body->data, '\n', body->size) || memchr (body->data, '\r', body->size))
        for (size_t i = 0; i < line.size - sizeof pad; i++)
            if (line.data [i] == '\n' || line.data [i] == '\r')
                line.data [i] = ' ';        /* a pretty-printed body is one line */
    if (ts_parser_parse (ps, line.data, line.size - sizeof pad, 1, 0, &out, &sum, reason,
                         sizeof reason)) {
        ts_hanswer_error (a, 400, "BAD_REQUEST", "the body is not a JSON object: %s", reason);
        goto done;
    }
    if (ts_record_split (out.data, out.size, &sum, &obj, &olen)
    ||  !ts_mp_map_find (obj, olen, "label", &v) || ts_mp_read_map (&v, &n)) {
        ts_hanswer_error (a, 400, "BAD_REQUEST", "the body: want a JSON object {\"set\": "
                          "{key: value}, \"remove\": [key], \"author\": name}");
        goto done;
    }
    if (id) {
        ts_req_begin (q, "label");
        ts_req_key (q, "id");
        ts_mp_pack_cstr (&q->pk, id);
    }
    else {
        ts_req_key (q, "where");
        msgpack_pack_true (&q->pk);
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        const uint8_t *start;
        if (ts_mp_read_str (&v, &k, &klen))
            break;
        start = v.p;
        if (ts_mp_skip (&v))
            break;
        if (!((klen == 3 && !memcmp (k, "set", 3)) || (klen == 6 && !memcmp (k, "remove", 6))
              || (klen == 6 && !memcmp (k, "author", 6)))) {
            ts_hanswer_error (a, 400, "BAD_REQUEST", "body field \"%.*s\": unknown (set, remove, "
                              "author)", (int) (klen < 100 ? klen : 100), k);
            ts_req_free (q);
            goto done;
        }
        ts_req_key (q, k [0] == 's' ? "set" : k [0] == 'r' ? "remove" : "author");
        if (ts_buf_append (&q->body, start, (size_t) (v.p - start))) {
            ts_hanswer_error (a, 500, "NO_MEMORY", "out of memory");
            ts_req_free (q);
            goto done;
        }
    }
    rc = 0;
done:
    if (rc && !id)
        ts_req_free (q);                /* begun by the caller */
    ts_parser_destroy (&ps);
    ts_buf_free (&line);
    ts_buf_free (&out);
    return rc;
}
