/*  ts_warn.c: the field-warning tally (ts_warn.h). */
#include "ts_warn.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_record.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void
s_put_str (FILE *out, const char *s)
{
    ts_buf_t b = { 0 };
    if (ts_json_escape (&b, s, strlen (s)) == 0)
        fwrite (b.data, 1, b.size, out);
    else
        fputs ("\"?\"", out);
    ts_buf_free (&b);
}

static void
s_copy (char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy (dst, src, len);
    dst [len] = 0;
}

int
ts_warn_add (ts_warn_t *w, const char *field, size_t field_len, const char *reason,
             size_t reason_len, uint64_t count, uint64_t line)
{
    w->total += count;
    ts_warn_kind_t probe;
    s_copy (probe.field, sizeof probe.field, field, field_len);
    s_copy (probe.reason, sizeof probe.reason, reason, reason_len);
    for (uint32_t i = 0; i < w->nkinds; i++) {
        ts_warn_kind_t *k = &w->kinds [i];
        if (!strcmp (k->field, probe.field) && !strcmp (k->reason, probe.reason)) {
            k->count += count;
            if (line && (k->first_line == 0 || line < k->first_line))
                k->first_line = line;
            return 0;
        }
    }
    if (!w->kinds)
        w->kinds = calloc (TS_WARN_KINDS, sizeof *w->kinds);
    if (!w->kinds || w->nkinds == TS_WARN_KINDS) {
        w->other += count;
        return w->kinds ? 0 : TS_ENOMEM;
    }
    probe.count = count;
    probe.first_line = line;
    w->kinds [w->nkinds++] = probe;
    return 0;
}

int
ts_warn_pack (const ts_warn_t *w, msgpack_packer *pk)
{
    int rc = msgpack_pack_array (pk, w->nkinds + (w->other > 0));
    for (uint32_t i = 0; i < w->nkinds && rc == 0; i++) {
        const ts_warn_kind_t *k = &w->kinds [i];
        rc = msgpack_pack_array (pk, 4) || ts_mp_pack_cstr (pk, k->field)
          || ts_mp_pack_cstr (pk, k->reason) || msgpack_pack_uint64 (pk, k->count)
          || msgpack_pack_uint64 (pk, k->first_line);
    }
    if (rc == 0 && w->other)
        rc = msgpack_pack_array (pk, 4) || ts_mp_pack_cstr (pk, "*")
          || ts_mp_pack_cstr (pk, "other kinds") || msgpack_pack_uint64 (pk, w->other)
          || msgpack_pack_uint64 (pk, 0);
    return rc ? TS_ENOMEM : 0;
}

int
ts_warn_merge (ts_warn_t *w, ts_mp_reader_t *r)
{
    uint32_t n;
    if (ts_mp_read_array (r, &n))
        return TS_EPROTO;
    return ts_warn_merge_items (w, r, n);
}

int
ts_warn_merge_items (ts_warn_t *w, ts_mp_reader_t *r, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t m;
        const char *field, *reason;
        uint32_t flen, rlen;
        uint64_t count, line;
        if (ts_mp_read_array (r, &m) || m < 4
        ||  ts_mp_read_str (r, &field, &flen) || ts_mp_read_str (r, &reason, &rlen)
        ||  ts_mp_read_uint (r, &count) || ts_mp_read_uint (r, &line))
            return TS_EPROTO;
        for (uint32_t j = 4; j < m; j++)
            if (ts_mp_skip (r))
                return TS_EPROTO;
        if (flen == 1 && field [0] == '*') {
            w->other += count;
            w->total += count;
        }
        else
            ts_warn_add (w, field, flen, reason, rlen, count, line);
    }
    return 0;
}

void
ts_warn_print (const ts_warn_t *w, FILE *out, bool json)
{
    if (!json) {
        for (uint32_t i = 0; i < w->nkinds; i++)
            fprintf (out, "    %-8s %" PRIu64 " (first at line %" PRIu64 "): %s\n",
                     w->kinds [i].field, w->kinds [i].count, w->kinds [i].first_line,
                     w->kinds [i].reason);
        if (w->other)
            fprintf (out, "    %" PRIu64 " more of other kinds\n", w->other);
        return;
    }
    fputc ('{', out);
    bool *done = w->nkinds ? calloc (w->nkinds, sizeof *done) : NULL;
    bool first_field = true;
    for (uint32_t i = 0; i < w->nkinds; i++) {
        if (done && done [i])
            continue;
        if (!first_field)
            fputc (',', out);
        first_field = false;
        s_put_str (out, w->kinds [i].field);
        fputs (":{", out);
        /* this field's reasons, together (done: already printed) */
        for (uint32_t j = i; j < w->nkinds; j++) {
            if (strcmp (w->kinds [j].field, w->kinds [i].field) || (done && done [j]))
                continue;
            if (j != i)
                fputc (',', out);
            if (done)
                done [j] = true;
            s_put_str (out, w->kinds [j].reason);
            fprintf (out, ":{\"count\":%" PRIu64 ",\"first_line\":%" PRIu64 "}",
                     w->kinds [j].count, w->kinds [j].first_line);
        }
        fputc ('}', out);
    }
    if (w->other)
        fprintf (out, "%s\"*\":{\"other kinds\":{\"count\":%" PRIu64 ",\"first_line\":0}}",
                 first_field ? "" : ",", w->other);
    fputc ('}', out);
    free (done);
}

void
ts_warn_reset (ts_warn_t *w)
{
    w->nkinds = 0;
    w->total = w->other = 0;
}

void
ts_warn_free (ts_warn_t *w)
{
    free (w->kinds);
    *w = (ts_warn_t) { 0 };
}
