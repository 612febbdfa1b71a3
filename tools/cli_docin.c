/*  cli_docin.c: JSON documents and --join for `trajstore import`
 *  (cli_docin.h). */
#include "cli_docin.h"
#include "ts_error.h"
#include "ts_input.h"
#include "ts_map.h"
#include "ts_record.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  A joined record: its members but the key, as `"name":value` pieces
 *  packed one after the other, each preceded by its length. */
typedef struct {
    ts_buf_t pieces;
} s_joined_t;

struct cli_join {
    char      key [128];
    ts_map_t *rows;         /* key value's JSON text -> s_joined_t */
    uint64_t  duplicates;   /* join rows whose key was seen before */
    char      path [1024];
};

static void
s_joined_free (void *p)
{
    s_joined_t *j = p;
    ts_buf_free (&j->pieces);
    free (j);
}

static int
s_piece (s_joined_t *j, const char *key, size_t klen, const char *val, size_t vlen)
{
    uint32_t n = (uint32_t) (klen + vlen + 3);
    if (ts_buf_append (&j->pieces, &n, sizeof n) || ts_buf_append (&j->pieces, "\"", 1)
    ||  ts_buf_append (&j->pieces, key, klen) || ts_buf_append (&j->pieces, "\":", 2)
    ||  ts_buf_append (&j->pieces, val, vlen))
        return TS_ENOMEM;
    return 0;
}

/*  A row under `id` (its JSON text); NULL when the id was seen before. */
static s_joined_t *
s_row (cli_join_t *self, const char *id, size_t id_len)
{
    if (ts_map_get (self->rows, id, id_len)) {
        self->duplicates++;
        return NULL;
    }
    s_joined_t *j = calloc (1, sizeof *j);
    if (!j || ts_map_put (self->rows, id, id_len, j)) {
        free (j);
        return NULL;
    }
    return j;
}

/*  The strings of a JSON array's text, each as its JSON text (quoted). */
static void
s_report_ids (cli_join_t *self, const char *text, size_t len, bool resolved)
{
    for (size_t i = 0; i < len; i++) {
        if (text [i] != '"')
            continue;
        size_t start = i++;
        while (i < len && text [i] != '"')
            i += text [i] == '\\' ? 2 : 1;
        if (i >= len)
            return;
        s_joined_t *j = s_row (self, text + start, i - start + 1);
        if (j)
            s_piece (j, "resolved", 8, resolved ? "true" : "false", resolved ? 4 : 5);
    }
}

static int
s_join_row (void *arg, const char *rec, size_t len, const ts_jsondoc_member_t *m, int n)
{
    (void) rec; (void) len;
    cli_join_t *self = arg;
    /* a SWE-bench harness run report: its id lists */
    static const struct { const char *name; bool resolved; } lists [] = {
        { "resolved_ids", true }, { "unresolved_ids", false },
        { "error_ids", false }, { "empty_patch_ids", false },
    };
    bool report = false;
    for (int i = 0; i < n; i++)
        for (size_t l = 0; l < sizeof lists / sizeof lists [0]; l++)
            if (m [i].key_len == strlen (lists [l].name)
            &&  !memcmp (m [i].key, lists [l].name, m [i].key_len)) {
                s_report_ids (self, m [i].val, m [i].val_len, lists [l].resolved);
                report = true;
            }
    if (report)
        return 0;
    size_t klen = strlen (self->key);
    int at = -1;
    for (int i = 0; i < n && at < 0; i++)
        if (m [i].key_len == klen && !memcmp (m [i].key, self->key, klen))
            at = i;
    if (at < 0)
        return 0;                       /* no key: nothing to join it by */
    s_joined_t *j = s_row (self, m [at].val, m [at].val_len);
    for (int i = 0; j && i < n; i++)
        if (i != at && s_piece (j, m [i].key, m [i].key_len, m [i].val, m [i].val_len))
            return TS_ENOMEM;
    return 0;
}

cli_join_t *
cli_join_load (const char *spec, size_t record_max, char *err, size_t err_size)
{
    const char *colon = strrchr (spec, ':');
    if (!colon || colon == spec || !colon [1] || strlen (colon + 1) >= 128
    ||  (size_t) (colon - spec) >= 1024) {
        snprintf (err, err_size, "--join wants FILE:KEY (a results file and the member "
                  "both sides share, e.g. results.jsonl:instance_id), not '%s'", spec);
        return NULL;
    }
    cli_join_t *self = calloc (1, sizeof *self);
    if (!self || !(self->rows = ts_map_new (s_joined_free))) {
        free (self);
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    memcpy (self->path, spec, (size_t) (colon - spec));
    snprintf (self->key, sizeof self->key, "%s", colon + 1);
    uint64_t records = 0, matched = 0;
    if (cli_docin_run (self->path, record_max, NULL, 0, s_join_row, self, &records, &matched)) {
        snprintf (err, err_size, "cannot read the join file %s (above)", self->path);
        cli_join_destroy (&self);
        return NULL;
    }
    if (ts_map_size (self->rows) == 0) {
        snprintf (err, err_size, "the join file %s has no record with a member \"%s\" "
                  "(nor is it a SWE-bench report with resolved_ids)", self->path, self->key);
        cli_join_destroy (&self);
        return NULL;
    }
    if (self->duplicates)
        fprintf (stderr, "trajstore import: %s: %" PRIu64 " rows repeat an earlier %s; "
                 "the first one is joined\n", self->path, self->duplicates, self->key);
    return self;
}

void
cli_join_destroy (cli_join_t **self_p)
{
    if (self_p && *self_p) {
        ts_map_destroy (&(*self_p)->rows);
        free (*self_p);
        *self_p = NULL;
    }
}

static bool
s_has_member (const ts_jsondoc_member_t *m, int n, const char *piece, size_t plen)
{
    /* piece: "name":value */
    const char *end = memchr (piece + 1, '"', plen - 1);
    size_t klen = end ? (size_t) (end - piece - 1) : 0;
    for (int i = 0; i < n; i++)
        if (m [i].key_len == klen && !memcmp (m [i].key, piece + 1, klen))
            return true;
    return false;
}

/*  Writes `rec` into *out with the pieces of `j` it lacks added (j NULL,
 *  or rec not an object: as it is). Returns the length, or -1. */
static long
s_add_pieces (const s_joined_t *j, const char *rec, size_t len,
              const ts_jsondoc_member_t *members, int nmembers, char **out, size_t *out_size)
{
    size_t need = len + 1 + (j ? j->pieces.size : 0);
    if (need > *out_size) {
        char *p = realloc (*out, need);
        if (!p)
            return -1;
        *out = p;
        *out_size = need;
    }
    if (!j || len < 2 || rec [len - 1] != '}') {
        memcpy (*out, rec, len);
        return (long) len;
    }
    size_t w = len - 1;                 /* without the closing brace */
    memcpy (*out, rec, w);
    bool empty = len == 2;
    for (size_t at = 0; at + sizeof (uint32_t) <= j->pieces.size; ) {
        uint32_t n;
        memcpy (&n, j->pieces.data + at, sizeof n);
        const char *piece = j->pieces.data + at + sizeof n;
        at += sizeof n + n;
        if (s_has_member (members, nmembers, piece, n))
            continue;
        if (!empty)
            (*out) [w++] = ',';
        empty = false;
        memcpy (*out + w, piece, n);
        w += n;
    }
    (*out) [w++] = '}';
    return (long) w;
}

long
cli_join_apply (cli_join_t *self, const char *rec, size_t len,
                const ts_jsondoc_member_t *members, int nmembers,
                char **out, size_t *out_size, bool *matched)
{
    s_joined_t *j = NULL;
    size_t klen = strlen (self->key);
    for (int i = 0; i < nmembers && !j; i++)
        if (members [i].key_len == klen && !memcmp (members [i].key, self->key, klen))
            j = ts_map_get (self->rows, members [i].val, members [i].val_len);
    *matched = j && len >= 2 && rec [len - 1] == '}';
    return s_add_pieces (j, rec, len, members, nmembers, out, out_size);
}

/*  The instance a SWE-agent trajectory is about, from its file's name
 *  (SWE-agent writes <instance_id>.traj and does not repeat the id inside):
 *  "django__django-11099.traj" -> "django__django-11099". False for other
 *  files, and for names that would need escaping in JSON. */
static bool
s_traj_instance (const char *path, char *out, size_t size)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    snprintf (out, size, "%s", base);
    bool traj = false;
    static const char *const sfx [] = { ".gz", ".zst", ".json", ".traj" };
    for (bool again = true; again; ) {
        again = false;
        for (size_t i = 0; i < sizeof sfx / sizeof sfx [0]; i++) {
            size_t l = strlen (out), k = strlen (sfx [i]);
            if (l > k && !strcmp (out + l - k, sfx [i])) {
                traj |= i == 3;
                out [l - k] = 0;
                again = true;
            }
        }
    }
    for (const char *c = out; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == '"' || *c == '\\')
            return false;
    return traj && out [0];
}

bool
cli_docin_is_traj (const char *path)
{
    const char *base = strrchr (path, '/');
    base = base ? base + 1 : path;
    size_t l = strlen (base);
    static const char *const comp [] = { ".gz", ".zst" };
    for (size_t c = 0; c < 2; c++) {
        size_t k = strlen (comp [c]);
        if (l > k && !strncmp (base + l - k, comp [c], k))
            l -= k;
    }
    if (l > 5 && !strncmp (base + l - 5, ".json", 5))
        l -= 5;
    return l > 5 && !strncmp (base + l - 5, ".traj", 5);
}

int
cli_docin_traj_run (const char *path, char *out, size_t size)
{
    char *real = realpath (path, NULL);
    if (!real)
        return -1;
    char own [4096];
    const char *base = strrchr (path, '/');
    snprintf (own, sizeof own, "%s", base ? base + 1 : path);
    char *dot = strstr (own, ".traj");
    if (dot)
        *dot = 0;                       /* the instance */
    int rc = -1;
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr (real, '/');
        if (!slash || slash == real)
            break;                      /* at the root: no name */
        *slash = 0;
        const char *dir = strrchr (real, '/') + 1;
        if (up == 0 && !strcmp (dir, own))
            continue;                   /* RUN_DIR/<instance>/<instance>.traj */
        if (strlen (dir) > 0 && strlen (dir) < size) {
            snprintf (out, size, "%s", dir);
            rc = 0;
        }
        break;
    }
    free (real);
    return rc;
}

bool
cli_docin_is_document (const char *path)
{
    static const char *const comp [] = { "", ".gz", ".zst" };
    static const char *const kinds [] = { ".json", ".traj" };
    size_t len = strlen (path);
    for (size_t c = 0; c < 3; c++)
        for (size_t k = 0; k < 2; k++) {
            size_t cl = strlen (comp [c]), kl = strlen (kinds [k]);
            if (len > cl + kl && !strcmp (path + len - cl, comp [c])
            &&  !strncmp (path + len - cl - kl, kinds [k], kl))
                return true;
        }
    return false;
}

typedef struct {
    cli_join_t *join;
    s_joined_t *instance;           /* "instance_id" of a .traj file, or NULL */
    char      *ibuf;
    size_t     ibuf_size;
    ts_jsondoc_emit_fn *emit;
    void     *arg;
    uint64_t  limit, count, matched;
    char     *buf;
    size_t    buf_size;
} s_run_t;

#define S_LIMIT_REACHED 1

static int
s_run_emit (void *arg, const char *rec, size_t len, const ts_jsondoc_member_t *m, int n)
{
    s_run_t *r = arg;
    int rc;
    ts_jsondoc_member_t more [TS_JSONDOC_MEMBERS + 1];
    if (r->instance && n > 0 && n < TS_JSONDOC_MEMBERS
    &&  !s_has_member (m, n, r->instance->pieces.data + sizeof (uint32_t),
                       r->instance->pieces.size - sizeof (uint32_t))) {
        /* a trajectory without its instance's id: the file's name says it
         * (before the join, which matches on it) */
        long w = s_add_pieces (r->instance, rec, len, m, n, &r->ibuf, &r->ibuf_size);
        if (w < 0)
            return TS_ENOMEM;
        memcpy (more, m, (size_t) n * sizeof *m);
        const char *piece = r->ibuf + len - 1 + (len > 2);      /* "instance_id":"..." */
        more [n] = (ts_jsondoc_member_t) { .key = piece + 1, .key_len = 11,
                                           .val = piece + 14, .val_len = (size_t) w - (size_t) (piece + 14 - r->ibuf) - 1 };
        m = more;
        n++;
        rec = r->ibuf;
        len = (size_t) w;
    }
    if (r->join) {
        bool matched;
        long w = cli_join_apply (r->join, rec, len, m, n, &r->buf, &r->buf_size, &matched);
        if (w < 0)
            return TS_ENOMEM;
        r->matched += matched;
        rc = r->emit (r->arg, r->buf, (size_t) w, NULL, 0);
    }
    else
        rc = r->emit (r->arg, rec, len, m, n);
    if (rc == 0 && ++r->count == r->limit)
        return S_LIMIT_REACHED;
    return rc;
}

int
cli_docin_run (const char *path, size_t record_max, cli_join_t *join, uint64_t limit,
               ts_jsondoc_emit_fn *emit, void *arg, uint64_t *records, uint64_t *matched)
{
    int err = 0;
    char emsg [512] = "";
    s_run_t r = { .join = join, .emit = emit, .arg = arg, .limit = limit };
    char inst [512];
    s_joined_t instance = { { 0 } };
    if (s_traj_instance (path, inst, sizeof inst)) {
        char val [520];
        int vl = snprintf (val, sizeof val, "\"%s\"", inst);
        if (s_piece (&instance, "instance_id", 11, val, (size_t) vl))
            return 2;
        r.instance = &instance;
    }
    ts_input_t *in = ts_input_open (path, &err, emsg, sizeof emsg);
    if (!in) {
        fprintf (stderr, "trajstore import: %s\n", emsg [0] ? emsg : ts_strerror (err));
        return 2;
    }
    ts_jsondoc_t *doc = ts_jsondoc_new (record_max, s_run_emit, &r);
    char *buf = malloc (1 << 16);
    int rc = doc && buf ? 0 : TS_ENOMEM;
    while (rc == 0) {
        ssize_t n = ts_input_read (in, buf, 1 << 16);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fprintf (stderr, "trajstore import: %s: %s\n", path,
                     n == TS_ECORRUPT ? "compressed data does not decode" : strerror ((int) -n));
            rc = 2;
            break;
        }
        rc = n == 0 ? ts_jsondoc_finish (doc) : ts_jsondoc_feed (doc, buf, (size_t) n);
        if (n == 0)
            break;
    }
    if (rc == S_LIMIT_REACHED)
        rc = 0;
    else if (rc == TS_EBADLINE)
        fprintf (stderr, "trajstore import: %s: %s\n", path, ts_jsondoc_error (doc));
    else if (rc && rc != 2)
        fprintf (stderr, "trajstore import: %s: %s\n", path, ts_strerror (rc));
    *records = r.count;
    *matched = r.matched;
    free (buf);
    free (r.buf);
    free (r.ibuf);
    ts_buf_free (&instance.pieces);
    ts_jsondoc_destroy (&doc);
    ts_input_destroy (&in);
    return rc ? 2 : 0;
}
