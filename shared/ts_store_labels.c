/*  ts_store_labels.c: labels on a shard's records (the layout and why:
 *  ts_labels.h; docs/DESIGN.md, "Labels"): the label form, the history
 *  and index keys, applying a label inside a group commit, and reads.
 */
#include "ts_labels.h"
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_mp.h"
#include "ts_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FORM_TAG0 ((char) 0xc1)
#define S_FORM_TAG1 'L'

static const char s_lseq_key [1] = { TS_TAG_LABEL_HIST };

/* --- the label form ------------------------------------------------------- */

int
ts_label_check (const ts_label_t *l, char *why, size_t why_size)
{
    if (!l->key || l->key_len == 0 || l->key_len > TS_LABEL_KEY_MAX) {
        snprintf (why, why_size, "key: expected 1 to %d bytes, got %u", TS_LABEL_KEY_MAX,
                  l->key ? l->key_len : 0);
        return TS_EINVAL;
    }
    for (uint32_t i = 0; i < l->key_len; i++)
        if ((unsigned char) l->key [i] < 0x20 || l->key [i] == '=') {
            snprintf (why, why_size, "key: '%.*s' holds a control character or '='",
                      (int) l->key_len, l->key);
            return TS_EINVAL;
        }
    if (l->value && l->value_len > TS_LABEL_VALUE_MAX) {
        snprintf (why, why_size, "value: at most %d bytes, got %u", TS_LABEL_VALUE_MAX, l->value_len);
        return TS_EINVAL;
    }
    if (l->author_len > TS_LABEL_AUTHOR_MAX) {
        snprintf (why, why_size, "author: at most %d bytes, got %u", TS_LABEL_AUTHOR_MAX,
                  l->author_len);
        return TS_EINVAL;
    }
    if (!l->id || l->id_len == 0 || l->id_len > TS_ID_MAX_BYTES) {
        snprintf (why, why_size, "id: expected 1 to %d bytes", TS_ID_MAX_BYTES);
        return TS_EINVAL;
    }
    return 0;
}

int
ts_label_pack (ts_buf_t *out, const ts_label_t *l)
{
    const char tag [2] = { S_FORM_TAG0, S_FORM_TAG1 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, ts_buf_packer_write);
    if (ts_buf_append (out, tag, 2) || msgpack_pack_array (&pk, 6)
    ||  ts_mp_pack_strn (&pk, l->id, l->id_len) || ts_mp_pack_strn (&pk, l->key, l->key_len)
    ||  (l->value ? ts_mp_pack_strn (&pk, l->value, l->value_len) : msgpack_pack_nil (&pk))
    ||  ts_mp_pack_strn (&pk, l->author ? l->author : "", l->author_len)
    ||  msgpack_pack_int64 (&pk, l->time_ms) || msgpack_pack_uint64 (&pk, l->line))
        return TS_ENOMEM;
    return 0;
}

bool
ts_label_is_form (const char *p, size_t len)
{
    return len >= 2 && p [0] == S_FORM_TAG0 && p [1] == S_FORM_TAG1;
}

/*  A string or nil (*s NULL). */
static int
s_read_str_or_nil (ts_mp_reader_t *r, const char **s, uint32_t *len)
{
    ts_mp_reader_t peek = *r;
    ts_mp_item_t it;
    if (ts_mp_next (&peek, &it))
        return -1;
    if (it.type == TS_MP_NIL) {
        *r = peek;
        *s = NULL;
        *len = 0;
        return 0;
    }
    return ts_mp_read_str (r, s, len);
}

int
ts_label_unpack (const char *p, size_t len, ts_label_t *l)
{
    if (!ts_label_is_form (p, len))
        return TS_ECORRUPT;
    ts_mp_reader_t r;
    uint32_t n;
    uint64_t line;
    ts_mp_reader_init (&r, p + 2, len - 2);
    memset (l, 0, sizeof *l);
    if (ts_mp_read_array (&r, &n) || n != 6 || ts_mp_read_str (&r, &l->id, &l->id_len)
    ||  ts_mp_read_str (&r, &l->key, &l->key_len) || s_read_str_or_nil (&r, &l->value, &l->value_len)
    ||  ts_mp_read_str (&r, &l->author, &l->author_len) || ts_mp_read_int (&r, &l->time_ms)
    ||  ts_mp_read_uint (&r, &line))
        return TS_ECORRUPT;
    if (l->value && !l->value_len)
        l->value = "";                  /* an empty value, not a removal */
    l->line = line;
    char why [160];
    return ts_label_check (l, why, sizeof why) ? TS_ECORRUPT : 0;
}

int
ts_label_from_object (const char *obj, size_t obj_len, const char *author, ts_label_t *l,
                      char *why, size_t why_size)
{
    ts_mp_reader_t r;
    uint32_t n;
    bool has_key = false, has_value = false;
    memset (l, 0, sizeof *l);
    l->author = author ? author : "";
    l->author_len = (uint32_t) strlen (l->author);
    ts_mp_reader_init (&r, obj, obj_len);
    if (ts_mp_read_map (&r, &n)) {
        snprintf (why, why_size, "a label line is an object {\"id\", \"key\", \"value\"}");
        return TS_EBADLINE;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        ts_mp_item_t it;
        if (ts_mp_read_str (&r, &k, &kl) || ts_mp_next (&r, &it)) {
            snprintf (why, why_size, "a label line's member does not decode");
            return TS_EBADLINE;
        }
        const char **dst = NULL;
        uint32_t *dlen = NULL;
        if (kl == 3 && !memcmp (k, "key", 3))
            dst = &l->key, dlen = &l->key_len, has_key = true;
        else if (kl == 5 && !memcmp (k, "value", 5))
            dst = &l->value, dlen = &l->value_len, has_value = true;
        else if (kl == 6 && !memcmp (k, "author", 6))
            dst = &l->author, dlen = &l->author_len;
        else
            continue;                   /* id (the parser read it), or other members */
        if (it.type == TS_MP_STR) {
            *dst = it.len ? (const char *) it.ptr : "";
            *dlen = it.len;
        }
        else if (it.type == TS_MP_NIL && dst == &l->value)
            *dst = NULL;                /* removes the label */
        else {
            snprintf (why, why_size, "%.*s: expected a string%s", (int) kl, k,
                      dst == &l->value ? " or null" : "");
            return TS_EBADLINE;
        }
    }
    if (!has_key || !has_value) {
        snprintf (why, why_size, "a label line needs \"%s\"", has_key ? "value" : "key");
        return TS_EBADLINE;
    }
    return 0;
}

/* --- keys ----------------------------------------------------------------- */

size_t
ts_key_label_hist_prefix (char *buf, const char *id, size_t id_len, const char *key, size_t key_len)
{
    buf [0] = TS_TAG_LABEL_HIST;
    size_t n = 1 + ts_key_put_escaped (buf + 1, id, id_len);
    return key ? n + ts_key_put_escaped (buf + n, key, key_len) : n;
}

size_t
ts_key_label_index_prefix (char *buf, const char *key, size_t key_len,
                           const char *value, size_t value_len)
{
    buf [0] = TS_TAG_LABEL_INDEX;
    size_t n = 1 + ts_key_put_escaped (buf + 1, key, key_len);
    return value ? n + ts_key_put_escaped (buf + n, value, value_len) : n;
}

static size_t
s_index_key (char *buf, const char *key, size_t key_len, const char *value, size_t value_len,
             const char *id, size_t id_len)
{
    size_t n = ts_key_label_index_prefix (buf, key, key_len, value, value_len);
    memcpy (buf + n, id, id_len);
    return n + id_len;
}

/* --- reads ---------------------------------------------------------------- */

typedef struct {
    ts_buf_t *buf;
    bool      found;
} s_last_t;

static int
s_last_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen;
    s_last_t *l = arg;
    l->buf->size = 0;
    if (ts_buf_append (l->buf, val, vlen))
        return TS_ENOMEM;
    l->found = true;
    return 1;
}

/*  A history value [value|nil, author, time_ms]. */
static int
s_hist_unpack (const char *v, size_t vlen, const char **value, uint32_t *value_len,
               const char **author, uint32_t *author_len, int64_t *time_ms)
{
    ts_mp_reader_t r;
    uint32_t n;
    ts_mp_reader_init (&r, v, vlen);
    if (ts_mp_read_array (&r, &n) || n != 3 || s_read_str_or_nil (&r, value, value_len)
    ||  ts_mp_read_str (&r, author, author_len) || ts_mp_read_int (&r, time_ms))
        return TS_ECORRUPT;
    if (*value && !*value_len)
        *value = "";
    return 0;
}

int
ts_store_label_get (ts_store_t *self, const char *id, size_t id_len, const char *key,
                    size_t key_len, ts_buf_t *buf, const char **value, uint32_t *value_len)
{
    char prefix [TS_KEY_MAX];
    if (id_len > TS_ID_MAX_BYTES || key_len > TS_LABEL_KEY_MAX)
        return TS_ENOTFOUND;
    ts_scan_t sc = { .prefix = prefix, .descending = true };
    sc.prefix_len = ts_key_label_hist_prefix (prefix, id, id_len, key, key_len);
    s_last_t l = { .buf = buf };
    int rc = ts_store_scan (self, &sc, s_last_visit, &l);
    if (rc)
        return rc;
    if (!l.found)
        return TS_ENOTFOUND;
    const char *author;
    uint32_t alen;
    int64_t t;
    if (s_hist_unpack (buf->data, buf->size, value, value_len, &author, &alen, &t)) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a label entry of %.*s does not decode",
                  self->path, (int) id_len, id);
        return TS_ECORRUPT;
    }
    return 0;
}

/*  One record's label history, walked key by key (its entries are in key
 *  order, then in time order): `entry` sees every entry, `latest` the
 *  latest entry of each key whose label is set (not removed). Either may
 *  be NULL. `hkey` is the history entry's own key, `k` the label key. */
typedef struct {
    int (*entry) (void *arg, const char *hkey, size_t hklen, const char *k, size_t kl,
                  const char *val, size_t vlen);
    int (*latest) (void *arg, const char *k, size_t kl, const char *value, uint32_t vlen,
                   const char *author, uint32_t alen, int64_t t);
    void     *arg;
    /* the walk's own: the current key and its latest entry */
    char      key [TS_KEY_MAX];
    size_t    key_len, id_prefix;
    ts_buf_t  last;
} s_walk_t;

static int
s_walk_flush (s_walk_t *w)
{
    if (!w->key_len || !w->last.size)
        return 0;
    const char *value, *author;
    uint32_t vlen, alen;
    int64_t t;
    if (s_hist_unpack (w->last.data, w->last.size, &value, &vlen, &author, &alen, &t))
        return TS_ECORRUPT;
    w->last.size = 0;
    if (!value)
        return 0;                       /* removed */
    return w->latest (w->arg, w->key, w->key_len, value, vlen, author, alen, t);
}

static int
s_walk_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_walk_t *w = arg;
    char k [TS_KEY_MAX];
    size_t kl, pos = w->id_prefix;
    if (klen < pos + 8 || ts_key_get_escaped (key, klen - 8, &pos, k, &kl) || pos != klen - 8)
        return TS_ECORRUPT;
    if (kl != w->key_len || memcmp (k, w->key, kl)) {
        int rc = s_walk_flush (w);
        if (rc)
            return rc;
        memcpy (w->key, k, kl);
        w->key_len = kl;
    }
    int rc = w->entry ? w->entry (w->arg, key, klen, k, kl, val, vlen) : 0;
    if (rc || !w->latest)
        return rc;
    w->last.size = 0;
    return ts_buf_append (&w->last, val, vlen) ? TS_ENOMEM : 0;
}

/*  Walks the history of record `id` (s_walk_t); 0, TS_ECORRUPT (an entry
 *  that does not decode) or what a visitor returned. */
static int
s_walk (ts_store_t *self, const char *id, size_t id_len, s_walk_t *w)
{
    char prefix [TS_KEY_MAX];
    ts_scan_t sc = { .prefix = prefix };
    sc.prefix_len = w->id_prefix = ts_key_label_hist_prefix (prefix, id, id_len, NULL, 0);
    int rc = ts_store_scan (self, &sc, s_walk_visit, w);
    if (rc == 0 && w->latest)
        rc = s_walk_flush (w);
    ts_buf_free (&w->last);
    return rc;
}

/*  ts_store_labels_of: each entry (history), or each key's latest value. */
typedef struct {
    msgpack_packer pk;
    uint32_t       n;
} s_of_t;

static int
s_of_entry (void *arg, const char *hkey, size_t hklen, const char *k, size_t kl,
            const char *val, size_t vlen)
{
    (void) hkey; (void) hklen;
    s_of_t *o = arg;
    const char *value, *author;
    uint32_t vl, al;
    int64_t t;
    if (s_hist_unpack (val, vlen, &value, &vl, &author, &al, &t))
        return TS_ECORRUPT;
    o->n++;
    if (msgpack_pack_array (&o->pk, 4) || ts_mp_pack_strn (&o->pk, k, kl)
    ||  (value ? ts_mp_pack_strn (&o->pk, value, vl) : msgpack_pack_nil (&o->pk))
    ||  ts_mp_pack_strn (&o->pk, author, al) || msgpack_pack_int64 (&o->pk, t))
        return TS_ENOMEM;
    return 0;
}

static int
s_of_latest (void *arg, const char *k, size_t kl, const char *value, uint32_t vlen,
             const char *author, uint32_t alen, int64_t t)
{
    s_of_t *o = arg;
    msgpack_packer *pk = &o->pk;
    o->n++;
    if (ts_mp_pack_strn (pk, k, kl) || msgpack_pack_map (pk, 3)
    ||  ts_mp_pack_cstr (pk, "value") || ts_mp_pack_strn (pk, value, vlen)
    ||  ts_mp_pack_cstr (pk, "author") || ts_mp_pack_strn (pk, author, alen)
    ||  ts_mp_pack_cstr (pk, "time_ms") || msgpack_pack_int64 (pk, t))
        return TS_ENOMEM;
    return 0;
}

int
ts_store_labels_of (ts_store_t *self, const char *id, size_t id_len, bool history,
                    ts_buf_t *out, uint32_t *n)
{
    *n = 0;
    if (id_len == 0 || id_len > TS_ID_MAX_BYTES)
        return 0;
    s_walk_t *w = calloc (1, sizeof *w);
    if (!w)
        return TS_ENOMEM;
    s_of_t o = { .n = 0 };
    msgpack_packer_init (&o.pk, out, ts_buf_packer_write);
    w->arg = &o;
    if (history)
        w->entry = s_of_entry;
    else
        w->latest = s_of_latest;
    int rc = s_walk (self, id, id_len, w);
    if (rc == TS_ECORRUPT)
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a label entry of %.*s does not decode",
                  self->path, (int) id_len, id);
    *n = o.n;
    free (w);
    return rc;
}

typedef struct {
    ts_label_index_fn *fn;
    void *arg;
    char key [TS_KEY_MAX], value [TS_KEY_MAX];
} s_ix_t;

static int
s_ix_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_ix_t *x = arg;
    size_t pos = 1, kl, vl;
    if (ts_key_get_escaped (key, klen, &pos, x->key, &kl)
    ||  ts_key_get_escaped (key, klen, &pos, x->value, &vl) || pos >= klen)
        return TS_ECORRUPT;
    return x->fn (x->arg, x->key, kl, x->value, vl, key + pos, klen - pos, val, vlen);
}

int
ts_store_label_index_scan (ts_store_t *self, const char *key, size_t key_len,
                           const char *value, size_t value_len, ts_label_index_fn *fn, void *arg)
{
    char prefix [TS_KEY_MAX];
    if ((key && key_len > TS_LABEL_KEY_MAX) || (value && value_len > TS_LABEL_VALUE_MAX))
        return 0;                       /* no such label can be stored */
    s_ix_t *x = malloc (sizeof *x);
    if (!x)
        return TS_ENOMEM;
    x->fn = fn;
    x->arg = arg;
    ts_scan_t sc = { .prefix = prefix };
    if (key)
        sc.prefix_len = ts_key_label_index_prefix (prefix, key, key_len, value, value_len);
    else {
        prefix [0] = TS_TAG_LABEL_INDEX;
        sc.prefix_len = 1;
    }
    int rc = ts_store_scan (self, &sc, s_ix_visit, x);
    free (x);
    return rc;
}

/* --- writes (inside a group commit) --------------------------------------- */

/*  The record's summary bytes into buf (the record may be queued by this
 *  very transaction: store_rec_read reads those from memory). */
static int
s_summary_of (ts_store_t *self, uint64_t seq, ts_buf_t *buf, size_t *used)
{
    char dk [16];
    buf->size = 0;
    int rc = ts_store_get_raw (self, dk, ts_key_data (dk, seq), buf);
    if (rc)
        return rc == TS_ENOTFOUND ? TS_ECORRUPT : rc;
    ts_summary_t s;
    return ts_summary_unpack_buf (buf->data, buf->size, &s, used) ? TS_ECORRUPT : 0;
}

int
ts_store_label_apply (ts_store_t *self, const char *form, size_t len, int *done, ts_label_t *l)
{
    *done = 0;
    if (ts_label_unpack (form, len, l)) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a label form does not decode", self->path);
        return TS_ECORRUPT;
    }
    /* the record: waiting for R, or in it */
    uint64_t seq;
    char key [TS_KEY_MAX];
    if (!store_pend_find (self, l->id, l->id_len, &seq)) {
        char seq8 [8];
        size_t klen = ts_key_record (key, l->id, l->id_len);
        if (kcdbgetbuf (self->db, key, klen, seq8, sizeof seq8) != 8) {
            if (kcdbecode (self->db) != KCENOREC)
                return store_kc_error (self, "read id index");
            *done = -1;
            return 0;
        }
        seq = (uint64_t) ts_key_get_i64 (seq8);
    }
    ts_buf_t cur = { 0 };
    const char *cv = NULL;
    uint32_t cvl = 0;
    int rc = ts_store_label_get (self, l->id, l->id_len, l->key, l->key_len, &cur, &cv, &cvl);
    bool had = rc == 0 && cv;
    if (rc && rc != TS_ENOTFOUND)
        goto out;
    rc = 0;
    if ((had && l->value && cvl == l->value_len && !memcmp (cv, l->value, cvl))
    ||  (!had && !l->value))
        goto out;                       /* already so: a duplicate */
    /* the history entry, under the shard's next label sequence */
    int64_t lseq = 0;
    store_get_num (self->db, s_lseq_key, &lseq);
    size_t klen = ts_key_label_hist_prefix (key, l->id, l->id_len, l->key, l->key_len);
    ts_key_put_i64 (key + klen, lseq);
    klen += 8;
    self->scratch.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->scratch, ts_buf_packer_write);
    if (msgpack_pack_array (&pk, 3)
    ||  (l->value ? ts_mp_pack_strn (&pk, l->value, l->value_len) : msgpack_pack_nil (&pk))
    ||  ts_mp_pack_strn (&pk, l->author, l->author_len) || msgpack_pack_int64 (&pk, l->time_ms)) {
        rc = TS_ENOMEM;
        goto out;
    }
    if (!kcdbset (self->db, key, klen, self->scratch.data, self->scratch.size)) {
        rc = store_kc_error (self, "write label");
        goto out;
    }
    if ((rc = store_set_num (self, s_lseq_key, lseq + 1, "write label sequence")))
        goto out;
    /* the index follows the latest value */
    if (had) {
        klen = s_index_key (key, l->key, l->key_len, cv, cvl, l->id, l->id_len);
        if (!kcdbremove (self->db, key, klen) && kcdbecode (self->db) != KCENOREC) {
            rc = store_kc_error (self, "remove label index entry");
            goto out;
        }
    }
    if (l->value) {
        size_t used;
        if ((rc = s_summary_of (self, seq, &cur, &used))) {
            if (rc == TS_ECORRUPT)
                snprintf (self->errmsg, sizeof self->errmsg, "%s: the record of %.*s does not "
                          "decode", self->path, (int) l->id_len, l->id);
            goto out;
        }
        klen = s_index_key (key, l->key, l->key_len, l->value, l->value_len, l->id, l->id_len);
        if (!kcdbset (self->db, key, klen, cur.data, used)) {
            rc = store_kc_error (self, "write label index");
            goto out;
        }
    }
    *done = 1;
out:
    ts_buf_free (&cur);
    return rc;
}

/* --- check ---------------------------------------------------------------- */

typedef struct {
    ts_store_t *store;
    uint64_t   *problems;
    char       *first;
    size_t      size;
    uint64_t    labels;
    ts_buf_t    buf, rec;
    /* history walk: the current (id, key) and its latest entry */
    char        id [TS_KEY_MAX], key [TS_KEY_MAX];
    size_t      id_len, key_len;
    ts_buf_t    last;
} s_chk_t;

static void
s_problem (s_chk_t *c, const char *fmt, const char *a, size_t alen, const char *b, size_t blen)
{
    if (++*c->problems == 1 || !c->first [0])
        snprintf (c->first, c->size, fmt, (int) alen, a, (int) blen, b);
}

/*  The latest entry of one (id, key) against the index. */
static int
s_chk_flush (s_chk_t *c)
{
    if (!c->id_len || !c->last.size)
        return 0;
    const char *value, *author;
    uint32_t vl, al;
    int64_t t;
    if (s_hist_unpack (c->last.data, c->last.size, &value, &vl, &author, &al, &t)) {
        s_problem (c, "label history of %.*s, key %.*s: an entry does not decode",
                   c->id, c->id_len, c->key, c->key_len);
        return 0;
    }
    c->last.size = 0;
    if (!value)
        return 0;
    c->labels++;
    char key [TS_KEY_MAX];
    size_t klen = s_index_key (key, c->key, c->key_len, value, vl, c->id, c->id_len);
    c->buf.size = 0;
    int rc = ts_store_get_raw (c->store, key, klen, &c->buf);
    if (rc == TS_ENOTFOUND) {
        s_problem (c, "record %.*s: label %.*s has no label index entry", c->id, c->id_len,
                   c->key, c->key_len);
        return 0;
    }
    if (rc)
        return rc;
    c->rec.size = 0;
    rc = ts_store_get (c->store, c->id, c->id_len, &c->rec);
    if (rc == TS_ENOTFOUND) {
        s_problem (c, "record %.*s: labelled (%.*s) but not stored", c->id, c->id_len,
                   c->key, c->key_len);
        return 0;
    }
    if (rc)
        return rc;
    ts_summary_t s;
    size_t used;
    if (ts_summary_unpack_buf (c->rec.data, c->rec.size, &s, &used) || used != c->buf.size
    ||  memcmp (c->rec.data, c->buf.data, used))
        s_problem (c, "record %.*s: the label index entry of %.*s is not its summary",
                   c->id, c->id_len, c->key, c->key_len);
    return 0;
}

static int
s_chk_hist (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_chk_t *c = arg;
    char id [TS_KEY_MAX], k [TS_KEY_MAX];
    size_t il, kl, pos = 1;
    if (klen == 1)
        return 0;                       /* the label sequence */
    if (klen < 9 || ts_key_get_escaped (key, klen - 8, &pos, id, &il)
    ||  ts_key_get_escaped (key, klen - 8, &pos, k, &kl) || pos != klen - 8) {
        s_problem (c, "a label history key does not decode%.*s%.*s", "", 0, "", 0);
        return 0;
    }
    if (il != c->id_len || kl != c->key_len || memcmp (id, c->id, il) || memcmp (k, c->key, kl)) {
        int rc = s_chk_flush (c);
        if (rc)
            return rc;
        memcpy (c->id, id, il);
        c->id_len = il;
        memcpy (c->key, k, kl);
        c->key_len = kl;
    }
    c->last.size = 0;
    return ts_buf_append (&c->last, val, vlen) ? TS_ENOMEM : 0;
}

static int
s_chk_index (void *arg, const char *key, size_t key_len, const char *value, size_t value_len,
             const char *id, size_t id_len, const char *summary, size_t summary_len)
{
    (void) summary; (void) summary_len;
    s_chk_t *c = arg;
    const char *cv;
    uint32_t cvl;
    int rc = ts_store_label_get (c->store, id, id_len, key, key_len, &c->buf, &cv, &cvl);
    if (rc && rc != TS_ENOTFOUND)
        return rc;
    if (rc || !cv || cvl != value_len || memcmp (cv, value, cvl))
        s_problem (c, "record %.*s: a label index entry for %.*s that is not its latest value",
                   id, id_len, key, key_len);
    return 0;
}

int
ts_store_labels_check (ts_store_t *self, uint64_t *labels, uint64_t *problems, char *first,
                       size_t size)
{
    s_chk_t *c = calloc (1, sizeof *c);
    if (!c)
        return TS_ENOMEM;
    c->store = self;
    c->problems = problems;
    c->first = first;
    c->size = size;
    char prefix [1] = { TS_TAG_LABEL_HIST };
    ts_scan_t sc = { .prefix = prefix, .prefix_len = 1 };
    int rc = ts_store_scan (self, &sc, s_chk_hist, c);
    if (rc == 0)
        rc = s_chk_flush (c);
    if (rc == 0)
        rc = ts_store_label_index_scan (self, NULL, 0, NULL, 0, s_chk_index, c);
    *labels = c->labels;
    ts_buf_free (&c->buf);
    ts_buf_free (&c->rec);
    ts_buf_free (&c->last);
    free (c);
    return rc;
}

/* --- a dropped record's labels ------------------------------------------- */

/*  The keys ts_store_labels_forget removes: [u32 len, bytes]... */
typedef struct {
    ts_buf_t    keys;
    const char *id;
    size_t      id_len;
} s_forget_t;

static int
s_forget_add (s_forget_t *f, const char *key, size_t klen)
{
    uint32_t n = (uint32_t) klen;
    return ts_buf_append (&f->keys, &n, sizeof n) || ts_buf_append (&f->keys, key, klen)
         ? TS_ENOMEM : 0;
}

/*  Every history entry goes... */
static int
s_forget_entry (void *arg, const char *hkey, size_t hklen, const char *k, size_t kl,
                const char *val, size_t vlen)
{
    (void) k; (void) kl; (void) val; (void) vlen;
    return s_forget_add (arg, hkey, hklen);
}

/*  ...and the index entry of each key's latest value. */
static int
s_forget_latest (void *arg, const char *k, size_t kl, const char *value, uint32_t vlen,
                 const char *author, uint32_t alen, int64_t t)
{
    (void) author; (void) alen; (void) t;
    s_forget_t *f = arg;
    char key [TS_KEY_MAX];
    return s_forget_add (f, key, s_index_key (key, k, kl, value, vlen, f->id, f->id_len));
}

int
ts_store_labels_forget (ts_store_t *self, const char *id, size_t id_len)
{
    if (id_len == 0 || id_len > TS_ID_MAX_BYTES)
        return 0;
    s_walk_t *w = calloc (1, sizeof *w);
    if (!w)
        return TS_ENOMEM;
    s_forget_t f = { .id = id, .id_len = id_len };
    w->entry = s_forget_entry;
    w->latest = s_forget_latest;
    w->arg = &f;
    int rc = s_walk (self, id, id_len, w);
    for (size_t p = 0; !rc && p + sizeof (uint32_t) <= f.keys.size;) {
        uint32_t n;
        memcpy (&n, f.keys.data + p, sizeof n);
        p += sizeof n;
        if (!kcdbremove (self->db, f.keys.data + p, n) && kcdbecode (self->db) != KCENOREC)
            rc = store_kc_error (self, "remove a dropped record's label");
        p += n;
    }
    ts_buf_free (&f.keys);
    free (w);
    return rc;
}
