/*  ts_labels_stats.c: statistics by label (ts_labels.h): per label value
 *  (and model), the totals of the records whose latest value it is, read
 *  from the label index (b key value id -> summary), so only labelled
 *  records are read.
 */
#include "ts_labels.h"
#include "ts_error.h"
#include "ts_map.h"
#include "ts_mp.h"
#include "ts_query.h"
#include "ts_totals.h"

#include <stdlib.h>
#include <string.h>

struct ts_label_acc {
    ts_map_t *rows;             /* key \0 value \0 [model] -> s_row_t */
};

typedef struct {
    ts_totals_t t;
    uint32_t    key_len, value_len, model_len;
    bool        has_model;
    char        name [];        /* key, value, model back to back */
} s_row_t;

ts_label_acc_t *
ts_label_acc_new (void)
{
    ts_label_acc_t *self = calloc (1, sizeof *self);
    if (self && !(self->rows = ts_map_new (free))) {
        free (self);
        self = NULL;
    }
    return self;
}

void
ts_label_acc_destroy (ts_label_acc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_map_destroy (&(*self_p)->rows);
    free (*self_p);
    *self_p = NULL;
}

static int
s_add (ts_label_acc_t *self, const char *key, uint32_t kl, const char *value, uint32_t vl,
       const char *model, uint32_t ml, bool has_model, const ts_totals_t *t)
{
    char name [TS_LABEL_KEY_MAX + TS_LABEL_VALUE_MAX + 1024 + 4];
    if (kl > TS_LABEL_KEY_MAX || vl > TS_LABEL_VALUE_MAX || ml > 1024)
        return TS_ECORRUPT;
    size_t n = 0;
    memcpy (name, key, kl);
    n += kl;
    name [n++] = 0;
    memcpy (name + n, value, vl);
    n += vl;
    name [n++] = 0;
    name [n++] = has_model;
    memcpy (name + n, model, ml);
    n += ml;
    s_row_t *row = ts_map_get (self->rows, name, n);
    if (!row) {
        row = calloc (1, sizeof *row + kl + vl + ml);
        if (!row)
            return TS_ENOMEM;
        ts_totals_init (&row->t);
        row->key_len = kl;
        row->value_len = vl;
        row->model_len = ml;
        row->has_model = has_model;
        memcpy (row->name, key, kl);
        memcpy (row->name + kl, value, vl);
        memcpy (row->name + kl + vl, model, ml);
        if (ts_map_put (self->rows, name, n, row)) {
            free (row);
            return TS_ENOMEM;
        }
    }
    ts_totals_merge (&row->t, t);
    return 0;
}

int
ts_label_acc_add_rows (ts_label_acc_t *self, const char *rows, size_t len)
{
    ts_mp_reader_t r;
    uint32_t n;
    ts_mp_reader_init (&r, rows, len);
    if (ts_mp_read_array (&r, &n))
        return TS_ECORRUPT;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t four, kl, vl, ml = 0;
        const char *k, *v, *m = "";
        ts_mp_item_t it;
        ts_totals_t t;
        size_t used;
        if (ts_mp_read_array (&r, &four) || four != 4 || ts_mp_read_str (&r, &k, &kl)
        ||  ts_mp_read_str (&r, &v, &vl) || ts_mp_next (&r, &it)
        ||  (it.type != TS_MP_NIL && it.type != TS_MP_STR)
        ||  ts_totals_unpack (r.p, (size_t) (r.end - r.p), &t, &used))
            return TS_ECORRUPT;
        r.p += used;
        if (it.type == TS_MP_STR) {
            m = it.len ? it.ptr : "";
            ml = it.len;
        }
        int rc = s_add (self, k ? k : "", kl, v ? v : "", vl, m, ml, it.type == TS_MP_STR, &t);
        if (rc)
            return rc;
    }
    return 0;
}

int
ts_label_acc_pack_rows (ts_label_acc_t *self, msgpack_packer *pk)
{
    int rc = msgpack_pack_array (pk, ts_map_size (self->rows));
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    while (!rc && ts_map_next (self->rows, &pos, &k, &kl, &v)) {
        const s_row_t *row = v;
        rc = msgpack_pack_array (pk, 4) || ts_mp_pack_strn (pk, row->name, row->key_len)
          || ts_mp_pack_strn (pk, row->name + row->key_len, row->value_len)
          || (row->has_model ? ts_mp_pack_strn (pk, row->name + row->key_len + row->value_len,
                                                row->model_len)
                             : msgpack_pack_nil (pk))
          || ts_totals_pack (pk, &row->t);
    }
    return rc ? TS_ENOMEM : 0;
}

static int
s_bytes_cmp (const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp (a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

static int
s_row_cmp (const void *x, const void *y)
{
    const s_row_t *a = *(const s_row_t *const *) x, *b = *(const s_row_t *const *) y;
    int c = s_bytes_cmp (a->name, a->key_len, b->name, b->key_len);
    if (!c)
        c = s_bytes_cmp (a->name + a->key_len, a->value_len, b->name + b->key_len, b->value_len);
    if (!c)
        c = s_bytes_cmp (a->name + a->key_len + a->value_len, a->model_len,
                         b->name + b->key_len + b->value_len, b->model_len);
    return c;
}

int
ts_label_acc_pack_client (ts_label_acc_t *self, msgpack_packer *pk)
{
    size_t n = ts_map_size (self->rows), i = 0, pos = 0;
    const s_row_t **rows = malloc ((n ? n : 1) * sizeof *rows);
    if (!rows)
        return TS_ENOMEM;
    const void *k;
    size_t kl;
    void *v;
    while (ts_map_next (self->rows, &pos, &k, &kl, &v))
        rows [i++] = v;
    qsort (rows, n, sizeof *rows, s_row_cmp);
    int rc = msgpack_pack_array (pk, n);
    for (i = 0; i < n && !rc; i++) {
        const s_row_t *row = rows [i];
        rc = msgpack_pack_map (pk, row->has_model ? 4 : 3)
          || ts_mp_pack_cstr (pk, "key") || ts_mp_pack_strn (pk, row->name, row->key_len)
          || ts_mp_pack_cstr (pk, "value")
          || ts_mp_pack_strn (pk, row->name + row->key_len, row->value_len);
        if (!rc && row->has_model)
            rc = ts_mp_pack_cstr (pk, "model")
              || ts_mp_pack_strn (pk, row->name + row->key_len + row->value_len, row->model_len);
        if (!rc) {
            rc = ts_mp_pack_cstr (pk, "totals");
            ts_totals_pack_map (pk, &row->t);
        }
    }
    free (rows);
    return rc ? TS_ENOMEM : 0;
}

typedef struct {
    ts_store_t        *store;
    const ts_filter_t *f;
    bool               per_model;
    ts_label_acc_t    *acc;
} s_tot_t;

static int
s_tot_visit (void *arg, const char *key, size_t key_len, const char *value, size_t value_len,
             const char *id, size_t id_len, const char *summary, size_t summary_len)
{
    (void) id; (void) id_len;
    s_tot_t *x = arg;
    ts_summary_t s;
    if (ts_summary_unpack_buf (summary, summary_len, &s, NULL))
        return TS_ECORRUPT;
    if (x->f && (!ts_filter_match (x->f, &s) || !ts_filter_match_labels (x->f, x->store, &s)))
        return 0;
    ts_totals_t t;
    ts_totals_init (&t);
    ts_totals_add (&t, &s);
    bool m = x->per_model && s.model;
    return s_add (x->acc, key, (uint32_t) key_len, value, (uint32_t) value_len,
                  m ? s.model : "", m ? s.model_len : 0, x->per_model, &t);
}

int
ts_labels_totals (ts_store_t *const *stores, size_t n, const void *filter, const char *key,
                  size_t key_len, bool per_model, ts_label_acc_t *acc)
{
    for (size_t i = 0; i < n; i++) {
        if (!stores [i])
            continue;
        s_tot_t x = { stores [i], filter, per_model, acc };
        int rc = ts_store_label_index_scan (stores [i], key, key_len, NULL, 0, s_tot_visit, &x);
        if (rc)
            return rc;
    }
    return 0;
}
