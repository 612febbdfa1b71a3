/*  ts_store_read.c: reads from a shard: by id, by key, scans over a key
 *  range, the statistics snapshot and the pull cursor (parts of a shard:
 *  ts_store_int.h).
 */
#include "ts_store_int.h"
#include "ts_map.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_mp.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Appends record `seq`, the one of `id`. */
static int
s_get_seq (ts_store_t *self, const char *id, size_t id_len, uint64_t seq, ts_buf_t *out)
{
    char key [16];
    int rc = ts_store_get_raw (self, key, ts_key_data (key, seq), out);
    if (rc == TS_ENOTFOUND) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: id %.*s points at a missing record",
                  self->path, (int) id_len, id);
        return TS_ECORRUPT;
    }
    return rc;
}

int
ts_store_get (ts_store_t *self, const char *id, size_t id_len, ts_buf_t *out)
{
    assert (self && id && out);
    char key [TS_KEY_MAX];
    if (id_len > TS_ID_MAX_BYTES)
        return TS_ENOTFOUND;
    uint64_t seq;
    if (store_pend_find (self, id, id_len, &seq))
        return s_get_seq (self, id, id_len, seq, out);
    size_t vlen;
    char *v = kcdbget (self->db, key, ts_key_record (key, id, id_len), &vlen);
    if (!v)
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : store_kc_error (self, "get");
    if (vlen != 8) {
        kcfree (v);
        snprintf (self->errmsg, sizeof self->errmsg, "%s: entry of id %.*s is not a sequence",
                  self->path, (int) id_len, id);
        return TS_ECORRUPT;
    }
    seq = (uint64_t) ts_key_get_i64 (v);
    kcfree (v);
    return s_get_seq (self, id, id_len, seq, out);
}

int
ts_store_get_raw (ts_store_t *self, const char *key, size_t klen, ts_buf_t *out)
{
    assert (self && key && out);
    int rc = store_settle (self, key, klen);
    if (rc)
        return rc;
    size_t vlen;
    char *v = kcdbget (self->db, key, klen, &vlen);
    if (!v)
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : store_kc_error (self, "get");
    store_loc_t loc;
    if (klen == 9 && key [0] == TS_TAG_DATA && store_loc_unpack (v, vlen, &loc))
        rc = store_rec_read (self, (uint64_t) ts_key_get_i64 (key + 1), &loc, out);
    else
        rc = ts_buf_append (out, v, vlen);
    kcfree (v);
    return rc;
}
/*  Compares the first min(len, bound_len) bytes: <0, 0, >0. */
static int
s_cmp_prefix (const char *k, size_t klen, const char *bound, size_t blen)
{
    size_t n = klen < blen ? klen : blen;
    int c = memcmp (k, bound, n);
    if (c)
        return c;
    return klen < blen ? -1 : 0;
}

int
ts_store_scan (ts_store_t *self, const ts_scan_t *sc, ts_store_visit_fn *fn, void *arg)
{
    assert (self && sc && fn);
    return store_scan (self, sc, fn, arg, true);
}

/*  The scan; `resolve`: D's values are the records, else as stored (their
 *  locators). */
int
store_scan (ts_store_t *self, const ts_scan_t *sc, ts_store_visit_fn *fn, void *arg, bool resolve)
{
    int rc = store_settle (self, sc->prefix, sc->prefix_len);
    if (rc)
        return rc;
    KCCUR *cur = kcdbcursor (self->db);
    if (!cur)
        return TS_ENOMEM;
    ts_buf_t rec = { 0 };               /* a D entry's record, read for fn */
    bool ok;
    if (!sc->descending) {
        if (sc->from)
            ok = kccurjumpkey (cur, sc->from, sc->from_len);
        else
            ok = kccurjumpkey (cur, sc->prefix, sc->prefix_len);
    }
    else if (sc->from)
        ok = kccurjumpbackkey (cur, sc->from, sc->from_len);
    else {
        /* just past the prefix range: the prefix with its last byte + 1
         * (a prefix of all 0xff bytes has no end key: scan from the end) */
        char end [TS_KEY_MAX];
        size_t elen = sc->prefix_len;
        memcpy (end, sc->prefix, elen);
        while (elen > 0 && (unsigned char) end [elen - 1] == 0xff)
            elen--;
        if (elen == 0)
            ok = kccurjumpback (cur);
        else {
            end [elen - 1]++;
            ok = kccurjumpbackkey (cur, end, elen);
        }
    }
    if (!ok) {
        int code = kccurecode (cur);
        kccurdel (cur);
        return code == KCENOREC ? 0 : TS_ESTORE;
    }
    for (;;) {
        size_t klen, vlen;
        const char *vbuf;
        char *kbuf = kccurget (cur, &klen, &vbuf, &vlen, 0);
        if (!kbuf) {
            if (kccurecode (cur) != KCENOREC)
                rc = TS_ESTORE;
            break;
        }
        store_tick_step (self);
        bool in_prefix = klen >= sc->prefix_len && !memcmp (kbuf, sc->prefix, sc->prefix_len);
        bool skip = false;
        if (!in_prefix) {
            /* descending from past the range may start on a larger key */
            if (sc->descending && memcmp (kbuf, sc->prefix, klen < sc->prefix_len ? klen : sc->prefix_len) >= 0)
                skip = true;
            else {
                kcfree (kbuf);
                break;
            }
        }
        if (!skip && sc->from && sc->from_exclusive && klen == sc->from_len
        &&  !memcmp (kbuf, sc->from, klen))
            skip = true;
        if (!skip && sc->to) {
            int c = s_cmp_prefix (kbuf, klen, sc->to, sc->to_len);
            if (sc->descending ? c < 0 : c > 0) {
                kcfree (kbuf);
                break;
            }
        }
        if (!skip && resolve && (rc = store_resolve (self, kbuf, klen, &vbuf, &vlen, &rec))) {
            kcfree (kbuf);
            break;
        }
        if (!skip) {
            rc = fn (kbuf, klen, vbuf, vlen, arg);
            if (rc) {
                kcfree (kbuf);
                if (rc > 0)
                    rc = 0;
                break;
            }
        }
        kcfree (kbuf);
        if (!(sc->descending ? kccurstepback (cur) : kccurstep (cur))) {
            if (kccurecode (cur) != KCENOREC)
                rc = TS_ESTORE;
            break;
        }
    }
    kccurdel (cur);
    ts_buf_free (&rec);
    return rc;
}

/*  Snapshot: collects Q or X entries as [[name, totals]...]. The count is
 *  not known before the scan, so entries go to a side buffer first. */
typedef struct {
    ts_buf_t  items;
    uint32_t  n;
    int       rc;
} s_snap_t;

static int
s_snap_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_snap_t *sn = arg;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sn->items, ts_buf_packer_write);
    ts_totals_t t;
    if (ts_totals_unpack (val, vlen, &t, NULL))
        return TS_ECORRUPT;
    if (msgpack_pack_array (&pk, 2) || ts_mp_pack_strn (&pk, key + 1, klen - 1)
    ||  ts_totals_pack (&pk, &t))
        return TS_ENOMEM;
    sn->n++;
    return 0;
}

/*  The runs' totals per group are not stored (ts_key.h): a snapshot
 *  recounts them from the time index, whose entries hold the summaries
 *  (the run index's are empty). */
/*  Adds a summary to the totals of `map` named `name` (made when absent). */
static int
s_snap_add (ts_map_t *map, const char *name, size_t n, const ts_summary_t *s)
{
    ts_totals_t *t = ts_map_get (map, name, n);
    if (!t) {
        if (!(t = malloc (sizeof *t)) || ts_map_put (map, name, n, t)) {
            free (t);
            return TS_ENOMEM;
        }
        ts_totals_init (t);
    }
    ts_totals_add (t, s);
    return 0;
}

typedef struct {
    ts_map_t *groups;        /* U name -> a run's totals in a group */
    ts_map_t *models;        /* ts_delta_run_model_name -> its totals */
} s_snap_runs_t;

static int
s_snap_run_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen;
    s_snap_runs_t *sr = arg;
    ts_summary_t s;
    if (ts_summary_unpack_buf (val, vlen, &s, NULL))
        return TS_ECORRUPT;
    if (!s.run)
        return 0;
    char name [TS_KEY_MAX];
    size_t n = ts_key_run_totals (name, s.run, s.run_len, s.group, s.group_len);
    int rc = s_snap_add (sr->groups, name, n, &s);
    if (rc)
        return rc;
    n = ts_delta_run_model_name (name, sizeof name, &s);
    return n ? s_snap_add (sr->models, name, n, &s) : TS_ECORRUPT;
}

/*  Packs the snapshot's runs parts: [[run, group|nil, totals]...], then
 *  [[run, model, totals]...]. */
static int
s_snap_runs (ts_store_t *self, msgpack_packer *pk)
{
    s_snap_runs_t sr = { ts_map_new (free), ts_map_new (free) };
    int rc = sr.groups && sr.models ? 0 : TS_ENOMEM;
    char tag = TS_TAG_TIME;
    ts_scan_t sc = { .prefix = &tag, .prefix_len = 1 };
    if (rc == 0)
        rc = ts_store_scan (self, &sc, s_snap_run_visit, &sr);
    if (rc == 0 && msgpack_pack_array (pk, ts_map_size (sr.groups)))
        rc = TS_ENOMEM;
    size_t pos = 0, klen, rlen, glen;
    const void *key;
    void *t;
    char run [TS_KEY_MAX];
    const char *group;
    while (rc == 0 && ts_map_next (sr.groups, &pos, &key, &klen, &t))
        if (ts_key_run_totals_parse (key, klen, run, &rlen, &group, &glen)
        ||  ts_delta_pack_run (pk, run, rlen, group, glen, t))
            rc = TS_ENOMEM;
    if (rc == 0 && msgpack_pack_array (pk, ts_map_size (sr.models)))
        rc = TS_ENOMEM;
    pos = 0;
    while (rc == 0 && ts_map_next (sr.models, &pos, &key, &klen, &t))
        rc = ts_delta_pack_run_model (pk, key, klen, t);
    ts_map_destroy (&sr.groups);
    ts_map_destroy (&sr.models);
    return rc;
}

int
ts_store_snapshot (ts_store_t *self, ts_buf_t *out)
{
    assert (self && out);
    ts_totals_t shard;
    int rc = ts_store_totals (self, &shard);
    if (rc)
        return rc;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, ts_buf_packer_write);
    if (msgpack_pack_array (&pk, 6) || msgpack_pack_uint64 (&pk, ts_store_seq (self))
    ||  ts_totals_pack (&pk, &shard))
        return TS_ENOMEM;
    static const char tags [2] = { TS_TAG_GROUP_TOTALS, TS_TAG_MODEL_TOTALS };
    for (int i = 0; i < 2; i++) {
        s_snap_t sn = { { 0 }, 0, 0 };
        ts_scan_t sc = { .prefix = &tags [i], .prefix_len = 1 };
        rc = ts_store_scan (self, &sc, s_snap_visit, &sn);
        if (rc == 0 && (msgpack_pack_array (&pk, sn.n) || ts_buf_append (out, sn.items.data, sn.items.size)))
            rc = TS_ENOMEM;
        ts_buf_free (&sn.items);
        if (rc)
            return rc;
    }
    return s_snap_runs (self, &pk);
}

/* --- pull cursor ---------------------------------------------------------- */

/*  The scan's bounds live in `bytes` (prefix, then from, then to), copied
 *  at creation so that callers can build them in stack buffers. */
struct ts_store_cursor {
    ts_store_t *store;
    KCCUR *cur;
    ts_buf_t rec;               /* the current D entry's record */
    char  *kbuf;                /* the current entry (Kyoto Cabinet's), or NULL */
    bool   started;
    bool   ended;
    bool   descending;
    bool   from_exclusive;
    const char *prefix; size_t prefix_len;
    const char *from;   size_t from_len;     /* NULL: none */
    const char *to;     size_t to_len;       /* NULL: none */
    char   bytes [];
};

ts_store_cursor_t *
ts_store_cursor_new (ts_store_t *self, const ts_scan_t *scan)
{
    assert (self && scan);
    if (store_settle (self, scan->prefix, scan->prefix_len))
        return NULL;
    size_t flen = scan->from ? scan->from_len : 0;
    size_t tlen = scan->to ? scan->to_len : 0;
    ts_store_cursor_t *c = calloc (1, sizeof *c + scan->prefix_len + flen + tlen + 1);
    if (!c)
        return NULL;
    if (!(c->cur = kcdbcursor (self->db))) {
        free (c);
        return NULL;
    }
    c->store = self;
    char *p = c->bytes;
    memcpy (p, scan->prefix, scan->prefix_len);
    c->prefix = p;
    c->prefix_len = scan->prefix_len;
    p += scan->prefix_len;
    if (scan->from) {
        memcpy (p, scan->from, flen);
        c->from = p;
        c->from_len = flen;
        p += flen;
    }
    if (scan->to) {
        memcpy (p, scan->to, tlen);
        c->to = p;
        c->to_len = tlen;
    }
    c->descending = scan->descending;
    c->from_exclusive = scan->from_exclusive;
    return c;
}

void
ts_store_cursor_destroy (ts_store_cursor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_store_cursor_t *self = *self_p;
    if (self->kbuf)
        kcfree (self->kbuf);
    if (self->cur)
        kccurdel (self->cur);
    ts_buf_free (&self->rec);
    free (self);
    *self_p = NULL;
}

/*  Byte order of keys: memcmp, then the shorter first. */
static int
s_key_cmp (const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp (a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/*  Places the Kyoto Cabinet cursor where the scan starts (as in
 *  ts_store_scan). */
static bool
s_cursor_jump (ts_store_cursor_t *self)
{
    if (!self->descending)
        return self->from ? kccurjumpkey (self->cur, self->from, self->from_len)
                          : kccurjumpkey (self->cur, self->prefix, self->prefix_len);
    if (self->from)
        return kccurjumpbackkey (self->cur, self->from, self->from_len);
    char end [TS_KEY_MAX];
    size_t elen = self->prefix_len < TS_KEY_MAX ? self->prefix_len : TS_KEY_MAX;
    memcpy (end, self->prefix, elen);
    while (elen > 0 && (unsigned char) end [elen - 1] == 0xff)
        elen--;
    if (elen == 0)
        return kccurjumpback (self->cur);
    end [elen - 1]++;
    return kccurjumpbackkey (self->cur, end, elen);
}

/*  What to do with a key met while stepping: 0 take it, 1 step over it,
 *  -1 the scan has ended. */
static int
s_cursor_judge (const ts_store_cursor_t *self, const char *k, size_t klen)
{
    if (klen < self->prefix_len || memcmp (k, self->prefix, self->prefix_len)) {
        /* a backward scan can start above the prefix's range: step down */
        if (self->descending && s_key_cmp (k, klen, self->prefix, self->prefix_len) > 0)
            return 1;
        return -1;
    }
    if (self->from) {
        int c = s_key_cmp (k, klen, self->from, self->from_len);
        if (c == 0 && self->from_exclusive)
            return 1;
        /* Kyoto Cabinet lands on the last key <= from going backward and
         * the first >= from going forward; checked here all the same */
        if (self->descending ? c > 0 : c < 0)
            return 1;
    }
    if (self->to) {
        int c = s_cmp_prefix (k, klen, self->to, self->to_len);
        if (self->descending ? c < 0 : c > 0)
            return -1;
    }
    return 0;
}

int
ts_store_cursor_next (ts_store_cursor_t *self, const char **key, size_t *key_len,
                      const char **val, size_t *val_len)
{
    assert (self && key && key_len);
    if (self->ended)
        return TS_ENOTFOUND;
    bool ok;
    if (!self->started) {
        self->started = true;
        ok = s_cursor_jump (self);
    }
    else {
        kcfree (self->kbuf);
        self->kbuf = NULL;
        ok = self->descending ? kccurstepback (self->cur) : kccurstep (self->cur);
    }
    for (;;) {
        char *k = NULL;
        size_t klen = 0, vlen = 0;
        const char *vbuf = NULL;
        if (ok)
            k = kccurget (self->cur, &klen, &vbuf, &vlen, 0);
        if (!k) {
            self->ended = true;
            return kccurecode (self->cur) == KCENOREC ? TS_ENOTFOUND : TS_ESTORE;
        }
        int verdict = s_cursor_judge (self, k, klen);
        if (verdict == 0) {
            int rc = store_resolve (self->store, k, klen, &vbuf, &vlen, &self->rec);
            if (rc) {
                kcfree (k);
                self->ended = true;
                return rc;
            }
            self->kbuf = k;
            *key = k;
            *key_len = klen;
            *val = vbuf;
            *val_len = vlen;
            return 0;
        }
        kcfree (k);
        if (verdict < 0) {
            self->ended = true;
            return TS_ENOTFOUND;
        }
        ok = self->descending ? kccurstepback (self->cur) : kccurstep (self->cur);
    }
}
