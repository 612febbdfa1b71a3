/*  ts_json_out.c: the streaming JSON writer, the one JSON string escaper,
 *  and msgpack -> JSON (ts_json_out.h). */
#include "ts_json_out.h"
#include "ts_error.h"
#include "ts_mp.h"

#include <stdio.h>
#include <string.h>

void
ts_json_out_init (ts_json_out_t *j, ts_buf_t *out)
{
    memset (j, 0, sizeof *j);
    j->out = out;
}

static void
s_append (ts_json_out_t *j, const char *s, size_t len)
{
    if (!j->rc && ts_buf_append (j->out, s, len))
        j->rc = TS_ENOMEM;
}

/*  Before any value or key: the separator its position needs. A value at
 *  the top level may follow another (several documents on one buffer are
 *  the caller's business, so nothing is written between them). */
static bool
s_before_value (ts_json_out_t *j)
{
    if (j->rc)
        return false;
    if (j->depth > 0 && j->is_object [j->depth] && !j->after_key) {
        j->rc = TS_EINVAL;              /* an object member without a key */
        return false;
    }
    if (j->after_key)
        j->after_key = false;
    else if (j->depth > 0 && j->has_items [j->depth])
        s_append (j, ",", 1);
    if (j->depth > 0)
        j->has_items [j->depth] = true;
    return !j->rc;
}

static void
s_open (ts_json_out_t *j, bool object)
{
    if (!s_before_value (j))
        return;
    if (j->depth == TS_JSON_OUT_MAX_DEPTH) {
        j->rc = TS_EINVAL;
        return;
    }
    s_append (j, object ? "{" : "[", 1);
    j->depth++;
    j->is_object [j->depth] = object;
    j->has_items [j->depth] = false;
}

static void
s_close (ts_json_out_t *j, bool object)
{
    if (j->rc)
        return;
    if (j->depth == 0 || j->is_object [j->depth] != object || j->after_key) {
        j->rc = TS_EINVAL;
        return;
    }
    s_append (j, object ? "}" : "]", 1);
    j->depth--;
}

void ts_json_out_object_begin (ts_json_out_t *j) { s_open (j, true); }
void ts_json_out_object_end (ts_json_out_t *j)   { s_close (j, true); }
void ts_json_out_array_begin (ts_json_out_t *j)  { s_open (j, false); }
void ts_json_out_array_end (ts_json_out_t *j)    { s_close (j, false); }

void
ts_json_out_key (ts_json_out_t *j, const char *key)
{
    if (j->rc)
        return;
    if (j->depth == 0 || !j->is_object [j->depth] || j->after_key || !key) {
        j->rc = TS_EINVAL;
        return;
    }
    if (j->has_items [j->depth])
        s_append (j, ",", 1);
    if (!j->rc && ts_json_escape (j->out, key, strlen (key)))
        j->rc = TS_ENOMEM;
    s_append (j, ":", 1);
    j->after_key = true;
}

void
ts_json_out_strn (ts_json_out_t *j, const char *s, size_t len)
{
    if (!s_before_value (j))
        return;
    if (!s)
        s_append (j, "null", 4);
    else if (ts_json_escape (j->out, s, len))
        j->rc = TS_ENOMEM;
}

void
ts_json_out_str (ts_json_out_t *j, const char *s)
{
    ts_json_out_strn (j, s, s ? strlen (s) : 0);
}

void
ts_json_out_int (ts_json_out_t *j, int64_t v)
{
    char num [32];
    int n = snprintf (num, sizeof num, "%lld", (long long) v);
    if (s_before_value (j))
        s_append (j, num, (size_t) n);
}

void
ts_json_out_uint (ts_json_out_t *j, uint64_t v)
{
    char num [32];
    int n = snprintf (num, sizeof num, "%llu", (unsigned long long) v);
    if (s_before_value (j))
        s_append (j, num, (size_t) n);
}

void
ts_json_out_double (ts_json_out_t *j, double v)
{
    char num [40];
    int n = ts_format_double (v, num);  /* "null" when not finite */
    if (s_before_value (j))
        s_append (j, num, (size_t) n);
}

void
ts_json_out_bool (ts_json_out_t *j, bool v)
{
    if (s_before_value (j))
        s_append (j, v ? "true" : "false", v ? 4 : 5);
}

void
ts_json_out_null (ts_json_out_t *j)
{
    if (s_before_value (j))
        s_append (j, "null", 4);
}

int
ts_json_out_mp (ts_json_out_t *j, ts_mp_reader_t *r)
{
    if (j->rc)
        return j->rc;
    ts_mp_reader_t peek = *r;
    ts_mp_item_t it;
    if (ts_mp_next (&peek, &it))
        return TS_ECORRUPT;
    if (it.type != TS_MP_ARRAY && it.type != TS_MP_MAP) {
        switch (it.type) {
        case TS_MP_NIL:   ts_json_out_null (j); break;
        case TS_MP_BOOL:  ts_json_out_bool (j, it.b); break;
        case TS_MP_UINT:  ts_json_out_uint (j, it.u); break;
        case TS_MP_INT:   ts_json_out_int (j, it.i); break;
        case TS_MP_FLOAT: ts_json_out_double (j, it.f); break;
        case TS_MP_STR:   ts_json_out_strn (j, it.ptr ? it.ptr : "", it.len); break;
        default:          ts_json_out_null (j); break;   /* bin, ext: no JSON form */
        }
        *r = peek;
        return j->rc;
    }
    /* A container: measure it, then let ts_mp_to_json write it. Its text
     * goes to a scratch buffer first, so a value that turns out malformed
     * halfway leaves neither half a value nor a dangling comma behind. */
    ts_mp_reader_t end = *r;
    if (ts_mp_skip (&end))
        return TS_ECORRUPT;
    ts_buf_t text = { 0 };
    int rc = ts_mp_to_json (r->p, (size_t) (end.p - r->p), &text);
    if (rc == 0 && s_before_value (j))
        s_append (j, text.data, text.size);
    ts_buf_free (&text);
    if (rc == TS_ENOMEM)
        j->rc = rc;
    if (rc)
        return rc;
    *r = end;
    return j->rc;
}

int
ts_json_out_error (const ts_json_out_t *j)
{
    if (j->rc)
        return j->rc;
    return j->depth != 0 || j->after_key ? TS_EINVAL : 0;
}

/*  Length of the valid UTF-8 sequence at s (1 to 4), or 0 when the bytes
 *  there are not one (overlong forms, surrogates and values past U+10FFFF
 *  included, as RFC 3629 says). */
static size_t
s_utf8_len (const unsigned char *s, size_t left)
{
    unsigned char c = s [0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;          /* range of the 2nd byte */
    if (c < 0x80)
        return 1;
    else if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    }
    else
        return 0;
    if (left < n || s [1] < lo || s [1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s [i] < 0x80 || s [i] > 0xbf)
            return 0;
    return n;
}

int
ts_json_escape (ts_buf_t *out, const char *s, size_t len)
{
    static const char hex [] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *) s;
    if (ts_buf_append (out, "\"", 1))
        return TS_ENOMEM;
    size_t start = 0, i = 0;
    while (i < len) {
        unsigned char c = p [i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;                        /* ASCII text, the common case */
            continue;
        }
        size_t n = c >= 0x20 && c != '"' && c != '\\' ? s_utf8_len (p + i, len - i) : 1;
        if (c >= 0x20 && c != '"' && c != '\\' && n > 0) {
            i += n;                     /* plain text: copied in one run below */
            continue;
        }
        if (ts_buf_append (out, s + start, i - start))
            return TS_ENOMEM;
        char esc [8];
        size_t elen = 2;
        esc [0] = '\\';
        switch (c) {
        case '"':  esc [1] = '"'; break;
        case '\\': esc [1] = '\\'; break;
        case '\n': esc [1] = 'n'; break;
        case '\r': esc [1] = 'r'; break;
        case '\t': esc [1] = 't'; break;
        case '\b': esc [1] = 'b'; break;
        case '\f': esc [1] = 'f'; break;
        default:
            if (c < 0x20) {
                memcpy (esc, "\\u00", 4);
                esc [4] = hex [c >> 4];
                esc [5] = hex [c & 15];
                elen = 6;
            }
            else {                      /* not UTF-8: U+FFFD, one byte eaten */
                memcpy (esc, "\xef\xbf\xbd", 3);
                elen = 3;
            }
        }
        if (ts_buf_append (out, esc, elen))
            return TS_ENOMEM;
        i++;
        start = i;
    }
    if (ts_buf_append (out, s + start, len - start) || ts_buf_append (out, "\"", 1))
        return TS_ENOMEM;
    return 0;
}

/* --- msgpack -> JSON ---------------------------------------------------- */

int
ts_mp_to_json (const void *data, size_t len, ts_buf_t *out)
{
    /* Iterative walk with an explicit stack, so nesting depth costs heap,
     * not C stack. A frame counts the items left in its container (2 per
     * map pair); when a value completes, its parent either closes or gets
     * a separator (':' after a key, ',' otherwise). */
    typedef struct { uint64_t left, total; bool map; } frame_t;
    frame_t stack_small [64];
    frame_t *stack = stack_small;
    size_t cap = 64, top = 0;
    ts_mp_reader_t r;
    ts_mp_item_t it;
    char num [40];
    int rc = 0, n;
    ts_mp_reader_init (&r, data, len);

    for (;;) {
        bool want_key = top > 0 && stack [top - 1].map
                     && (stack [top - 1].total - stack [top - 1].left) % 2 == 0;
        if (ts_mp_next (&r, &it) || (want_key && it.type != TS_MP_STR)) {
            rc = TS_ECORRUPT;
            goto end;
        }
        switch (it.type) {
        case TS_MP_NIL:   rc = ts_buf_append (out, "null", 4); break;
        case TS_MP_BOOL:  rc = it.b ? ts_buf_append (out, "true", 4)
                                    : ts_buf_append (out, "false", 5); break;
        case TS_MP_UINT:  n = snprintf (num, sizeof num, "%llu", (unsigned long long) it.u);
                          rc = ts_buf_append (out, num, (size_t) n); break;
        case TS_MP_INT:   n = snprintf (num, sizeof num, "%lld", (long long) it.i);
                          rc = ts_buf_append (out, num, (size_t) n); break;
        case TS_MP_FLOAT: n = ts_format_double (it.f, num);
                          rc = ts_buf_append (out, num, (size_t) n); break;
        case TS_MP_STR:   rc = ts_json_escape (out, it.ptr, it.len); break;
        case TS_MP_ARRAY:
        case TS_MP_MAP: {
            bool map = it.type == TS_MP_MAP;
            uint64_t items = map ? 2 * (uint64_t) it.len : it.len;
            if (ts_buf_append (out, map ? "{" : "[", 1)) { rc = TS_ENOMEM; goto end; }
            if (items == 0) {
                rc = ts_buf_append (out, map ? "}" : "]", 1);
                break;
            }
            if (top == cap) {
                frame_t *bigger = malloc (2 * cap * sizeof *bigger);
                if (!bigger) { rc = TS_ENOMEM; goto end; }
                memcpy (bigger, stack, top * sizeof *bigger);
                if (stack != stack_small)
                    free (stack);
                stack = bigger;
                cap *= 2;
            }
            stack [top].map = map;
            stack [top].left = stack [top].total = items;
            top++;
            continue;               /* first item follows, no separator */
        }
        default:                    /* bin and ext never come from JSON */
            rc = TS_ECORRUPT;
        }
        if (rc)
            goto end;
        /* a value completed: close finished containers, then separate */
        for (;;) {
            if (top == 0)
                goto end;
            frame_t *f = &stack [top - 1];
            f->left--;
            if (f->left > 0) {
                const char *sep = f->map && (f->total - f->left) % 2 == 1 ? ":" : ",";
                if (ts_buf_append (out, sep, 1)) { rc = TS_ENOMEM; goto end; }
                break;
            }
            if (ts_buf_append (out, f->map ? "}" : "]", 1)) { rc = TS_ENOMEM; goto end; }
            top--;
        }
    }
end:
    if (stack != stack_small)
        free (stack);
    return rc;
}
