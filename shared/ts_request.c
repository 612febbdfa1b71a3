/*  ts_request.c: client requests: the envelope and the listing fields
 *  (ts_request.h). */
#include "ts_request.h"
#include "ts_search.h"
#include "ts_error.h"
#include "ts_mp.h"
#include "ts_msg.h"
#include "ts_proto.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>


/*  Is the value at the reader nil (the field's default)? */
static bool
s_is_nil (const ts_mp_reader_t *r)
{
    ts_mp_reader_t peek = *r;
    ts_mp_item_t it;
    return ts_mp_next (&peek, &it) == 0 && it.type == TS_MP_NIL;
}

static int
s_fail (char *err, size_t size, const char *fmt, const char *field)
{
    snprintf (err, size, fmt, field);
    return TS_EBADREQ;
}

/*  A time bound: epoch ms (integer or float) or an ISO 8601 string. */
static int
s_time (ts_mp_item_t *it, bool *has, int64_t *ms)
{
    *has = true;
    if (it->type == TS_MP_NIL) { *has = false; return 0; }
    if (it->type == TS_MP_UINT && it->u <= (uint64_t) INT64_MAX) { *ms = (int64_t) it->u; return 0; }
    if (it->type == TS_MP_INT) { *ms = it->i; return 0; }
    if (it->type == TS_MP_FLOAT && isfinite (it->f) && fabs (it->f) < 9e15) { *ms = (int64_t) it->f; return 0; }
    if (it->type == TS_MP_STR && ts_parse_iso8601 (it->ptr, it->len, ms) == 0) return 0;
    return -1;
}

static int
s_number (ts_mp_item_t *it, bool *has, double *v)
{
    *has = true;
    if (it->type == TS_MP_NIL) { *has = false; return 0; }
    if (it->type == TS_MP_FLOAT && isfinite (it->f)) { *v = it->f; return 0; }
    if (it->type == TS_MP_UINT) { *v = (double) it->u; return 0; }
    if (it->type == TS_MP_INT) { *v = (double) it->i; return 0; }
    return -1;
}

/*  A [lo, hi] pair of numbers or times. */
static int
s_range (ts_mp_reader_t *r, bool time, bool *has_lo, void *lo, bool *has_hi, void *hi)
{
    uint32_t n;
    ts_mp_item_t a, b;
    if (ts_mp_read_array (r, &n) || n != 2 || ts_mp_next (r, &a) || ts_mp_next (r, &b))
        return -1;
    if (time)
        return s_time (&a, has_lo, lo) || s_time (&b, has_hi, hi) ? -1 : 0;
    return s_number (&a, has_lo, lo) || s_number (&b, has_hi, hi) ? -1 : 0;
}

void
ts_hex (const uint8_t *p, size_t n, char *out)
{
    static const char hex [] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out [2 * i] = hex [p [i] >> 4];
        out [2 * i + 1] = hex [p [i] & 15];
    }
    out [2 * n] = 0;
}

int
ts_unhex (const char *s, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n / 2; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s [2 * i + (size_t) j];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else return -1;
        }
        out [i] = (uint8_t) v;
    }
    return (n % 2) ? -1 : 0;
}

/*  A field that is a string or nil (absent: left as it is): 0, or -1
 *  when it is something else. */
static int
s_opt_str (const void *data, size_t len, const char *name, const char **p, uint32_t *n)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_mp_map_find (data, len, name, &r))
        return 0;
    if (ts_mp_next (&r, &it) || (it.type != TS_MP_STR && it.type != TS_MP_NIL))
        return -1;
    if (it.type == TS_MP_STR) {
        *p = it.ptr ? it.ptr : "";
        *n = it.len;
    }
    return 0;
}

static uint64_t
s_filter_hash (const ts_listing_t *l)
{
    /* what a cursor is bound to: the filter and the order */
    XXH3_state_t st;
    XXH3_64bits_reset (&st);
    const ts_filter_t *f = &l->filter;
    for (uint32_t i = 0; i < f->ngroups; i++) {
        XXH3_64bits_update (&st, f->groups [i], f->group_lens [i]);
        XXH3_64bits_update (&st, "\0", 1);
    }
    if (f->model)
        XXH3_64bits_update (&st, f->model, f->model_len);
    if (f->run) {
        XXH3_64bits_update (&st, "\1run", 4);
        XXH3_64bits_update (&st, f->run, f->run_len);
    }
    for (uint32_t i = 0; i < f->nlabels; i++) {
        const ts_label_cond_t *c = &f->labels [i];
        XXH3_64bits_update (&st, c->negate ? "\2nol" : "\2lab", 4);
        XXH3_64bits_update (&st, c->key, c->key_len);
        if (c->value) {
            XXH3_64bits_update (&st, "=", 1);
            XXH3_64bits_update (&st, c->value, c->value_len);
        }
    }
    double nums [2] = { f->has_reward_lo ? f->reward_lo : NAN, f->has_reward_hi ? f->reward_hi : NAN };
    int64_t ints [6] = { f->has_reward_lo, f->has_reward_hi, f->success,
                         f->has_from ? f->from_ms : INT64_MIN, f->has_to ? f->to_ms : INT64_MIN,
                         (int64_t) l->sort.order * 2 + l->sort.desc };
    XXH3_64bits_update (&st, nums, sizeof nums);
    XXH3_64bits_update (&st, ints, sizeof ints);
    return XXH3_64bits_digest (&st);
}

int
ts_listing_set_cursor (ts_listing_t *l, const ts_mp_item_t *key, int64_t tie,
                       const char *id, uint32_t id_len)
{
    ts_sort_t *so = &l->sort;
    if (id_len > TS_ID_MAX_BYTES)
        return TS_EBADREQ;
    if (so->order == TS_ORDER_CREATED) {
        if (key->type == TS_MP_INT) so->cur_time = key->i;
        else if (key->type == TS_MP_UINT && key->u <= (uint64_t) INT64_MAX) so->cur_time = (int64_t) key->u;
        else return TS_EBADREQ;
    }
    else if (so->order == TS_ORDER_REWARD) {
        if (key->type == TS_MP_FLOAT) so->cur_reward = key->f;
        else if (key->type == TS_MP_NIL) so->cur_no_reward = true;
        else return TS_EBADREQ;
        so->cur_ingested = tie;
    }
    so->has_cursor = true;
    memcpy (l->cursor_id, id ? id : "", id_len);
    l->cursor_id [id_len] = 0;
    so->cur_id = l->cursor_id;
    so->cur_id_len = id_len;
    return 0;
}

static int
s_parse_cursor (ts_listing_t *l, const char *s, uint32_t n, uint64_t key, char *err, size_t size)
{
    /* c1.<hex>.<16 hex tag> */
    uint8_t raw [1200];
    if (n < 3 + 1 + 17 || memcmp (s, "c1.", 3) || s [n - 17] != '.')
        return s_fail (err, size, "field \"%s\": not a cursor from this store", "cursor");
    size_t hlen = n - 3 - 17;
    if (hlen / 2 > sizeof raw || ts_unhex (s + 3, hlen, raw))
        return s_fail (err, size, "field \"%s\": not a cursor from this store", "cursor");
    uint8_t tag [8];
    if (ts_unhex (s + n - 16, 16, tag))
        return s_fail (err, size, "field \"%s\": not a cursor from this store", "cursor");
    uint64_t want = XXH3_64bits_withSeed (raw, hlen / 2, key), got = 0;
    for (int i = 0; i < 8; i++)
        got = (got << 8) | tag [i];
    if (want != got)
        return s_fail (err, size, "field \"%s\": the cursor was altered or has expired", "cursor");
    ts_mp_reader_t r;
    uint32_t cnt;
    uint64_t order, fh;
    int64_t tie;
    ts_mp_item_t desc, k;
    const char *id;
    uint32_t idlen;
    ts_mp_reader_init (&r, raw, hlen / 2);
    if (ts_mp_read_array (&r, &cnt) || cnt != 6 || ts_mp_read_uint (&r, &order)
    ||  ts_mp_next (&r, &desc) || desc.type != TS_MP_BOOL || ts_mp_next (&r, &k)
    ||  ts_mp_read_str (&r, &id, &idlen) || ts_mp_read_uint (&r, &fh) || ts_mp_read_int (&r, &tie)
    ||  idlen > TS_ID_MAX_BYTES)
        return s_fail (err, size, "field \"%s\": malformed cursor", "cursor");
    if (fh != l->filter_hash || order != (uint64_t) l->sort.order || desc.b != l->sort.desc)
        return s_fail (err, size, "field \"%s\": the cursor belongs to another filter or order", "cursor");
    if (ts_listing_set_cursor (l, &k, tie, id, idlen))
        return s_fail (err, size, "field \"%s\": malformed cursor", "cursor");
    return 0;
}

/*  "label" (KEY=VALUE or KEY) or "no_label" (KEY): a string or an array
 *  of them, added to the filter's label conditions. */
static int
s_labels (ts_listing_t *l, const void *data, size_t len, const char *field, bool negate,
          char *err, size_t size)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_mp_map_find (data, len, field, &r))
        return 0;
    if (ts_mp_next (&r, &it))
        return s_fail (err, size, "field \"%s\": malformed", field);
    if (it.type == TS_MP_NIL)
        return 0;
    bool array = it.type == TS_MP_ARRAY;
    uint32_t n = array ? it.len : 1;
    if (!array && it.type != TS_MP_STR)
        return s_fail (err, size, "field \"%s\": want a string or an array of strings", field);
    for (uint32_t i = 0; i < n; i++) {
        if (array && ts_mp_next (&r, &it))
            return s_fail (err, size, "field \"%s\": malformed", field);
        if (it.type != TS_MP_STR)
            return s_fail (err, size, "field \"%s\": every label must be a string", field);
        if (l->filter.nlabels == TS_QUERY_MAX_LABELS)
            return s_fail (err, size, "field \"%s\": at most 8 label conditions", field);
        const char *s = it.ptr ? it.ptr : "";
        const char *eq = memchr (s, '=', it.len);
        ts_label_cond_t *c = &l->filter.labels [l->filter.nlabels++];
        c->key = s;
        c->key_len = eq ? (uint32_t) (eq - s) : it.len;
        c->value = eq ? eq + 1 : NULL;
        c->value_len = eq ? it.len - c->key_len - 1 : 0;
        c->negate = negate;
        if (c->key_len == 0 || (negate && eq))
            return s_fail (err, size, negate ? "field \"%s\": want a KEY"
                                             : "field \"%s\": want \"KEY=VALUE\" or \"KEY\"", field);
    }
    return 0;
}

int
ts_listing_parse (ts_listing_t *l, const void *data, size_t len, uint32_t default_limit,
                  uint64_t key, char *err, size_t size)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    memset (l, 0, sizeof *l);
    ts_filter_init (&l->filter);
    l->filter.groups = l->group_ptrs;
    l->filter.group_lens = l->group_lens;
    l->sort.order = TS_ORDER_CREATED;
    l->sort.desc = true;
    l->limit = default_limit;

    if (ts_mp_map_find (data, len, "group", &r)) {
        if (ts_mp_next (&r, &it))
            return s_fail (err, size, "field \"%s\": malformed", "group");
        if (it.type == TS_MP_STR) {
            l->group_ptrs [0] = it.ptr ? it.ptr : "";
            l->group_lens [0] = it.len;
            l->filter.ngroups = 1;
        }
        else if (it.type == TS_MP_ARRAY) {
            if (it.len > TS_QUERY_MAX_GROUPS)
                return s_fail (err, size, "field \"%s\": at most 1000 groups", "group");
            for (uint32_t i = 0; i < it.len; i++) {
                const char *p;
                uint32_t n;
                if (ts_mp_read_str (&r, &p, &n))
                    return s_fail (err, size, "field \"%s\": every group must be a string", "group");
                l->group_ptrs [i] = p ? p : "";
                l->group_lens [i] = n;
            }
            l->filter.ngroups = it.len;
            if (it.len == 0)
                return s_fail (err, size, "field \"%s\": an empty list matches nothing", "group");
        }
        else if (it.type != TS_MP_NIL)
            return s_fail (err, size, "field \"%s\": want a string or an array of strings", "group");
    }
    const char *bad = s_opt_str (data, len, "model", &l->filter.model, &l->filter.model_len) ? "model"
                    : s_opt_str (data, len, "run", &l->filter.run, &l->filter.run_len) ? "run" : NULL;
    if (bad)
        return s_fail (err, size, "field \"%s\": want a string", bad);
    if (s_labels (l, data, len, "label", false, err, size)
    ||  s_labels (l, data, len, "no_label", true, err, size))
        return TS_EBADREQ;
    if (ts_mp_map_find (data, len, "reward", &r)) {
        ts_mp_reader_t peek = r;
        if (ts_mp_next (&peek, &it))
            return s_fail (err, size, "field \"%s\": malformed", "reward");
        if (it.type != TS_MP_NIL
        &&  s_range (&r, false, &l->filter.has_reward_lo, &l->filter.reward_lo,
                     &l->filter.has_reward_hi, &l->filter.reward_hi))
            return s_fail (err, size, "field \"%s\": want [lo, hi] with numbers or nil", "reward");
    }
    if (ts_mp_map_find (data, len, "success", &r)) {
        if (ts_mp_next (&r, &it) || (it.type != TS_MP_BOOL && it.type != TS_MP_NIL))
            return s_fail (err, size, "field \"%s\": want true, false or nil", "success");
        l->filter.success = it.type == TS_MP_BOOL ? it.b : -1;
    }
    if (ts_mp_map_find (data, len, "created", &r)) {
        ts_mp_reader_t peek = r;
        if (ts_mp_next (&peek, &it))
            return s_fail (err, size, "field \"%s\": malformed", "created");
        if (it.type != TS_MP_NIL
        &&  s_range (&r, true, &l->filter.has_from, &l->filter.from_ms,
                     &l->filter.has_to, &l->filter.to_ms))
            return s_fail (err, size, "field \"%s\": want [from, to]: epoch ms, ISO 8601 or nil", "created");
    }
    if (ts_mp_map_find (data, len, "sort", &r) && !s_is_nil (&r)) {
        const char *s;
        uint32_t n;
        if (ts_mp_read_str (&r, &s, &n) || n == 0 || n > 16)
            return s_fail (err, size, "field \"%s\": want \"created\", \"reward\" or \"id\", '-' for descending", "sort");
        bool desc = s [0] == '-';
        if (desc || s [0] == '+') { s++; n--; }
        if (n == 7 && !memcmp (s, "created", 7)) l->sort.order = TS_ORDER_CREATED;
        else if (n == 6 && !memcmp (s, "reward", 6)) l->sort.order = TS_ORDER_REWARD;
        else if (n == 2 && !memcmp (s, "id", 2)) l->sort.order = TS_ORDER_ID;
        else
            return s_fail (err, size, "field \"%s\": want \"created\", \"reward\" or \"id\", '-' for descending", "sort");
        l->sort.desc = desc;
    }
    if (ts_mp_map_find (data, len, "limit", &r) && !s_is_nil (&r)) {
        uint64_t v;
        if (ts_mp_read_uint (&r, &v) || v < 1 || v > TS_QUERY_MAX_LIMIT)
            return s_fail (err, size, "field \"%s\": want an integer from 1 to 10000", "limit");
        l->limit = (uint32_t) v;
    }
    if (ts_mp_map_find (data, len, "fields", &r) && !s_is_nil (&r)) {
        const char *s;
        uint32_t n;
        if (ts_mp_read_str (&r, &s, &n) || !((n == 6 && !memcmp (s, "record", 6)) || (n == 7 && !memcmp (s, "summary", 7))))
            return s_fail (err, size, "field \"%s\": want \"summary\" or \"record\"", "fields");
        l->records = n == 6;
    }
    l->filter_hash = s_filter_hash (l);
    if (key != 0 && ts_mp_map_find (data, len, "cursor", &r)) {
        if (ts_mp_next (&r, &it))
            return s_fail (err, size, "field \"%s\": malformed", "cursor");
        if (it.type == TS_MP_STR)
            return s_parse_cursor (l, it.ptr ? it.ptr : "", it.len, key, err, size);
        if (it.type != TS_MP_NIL)
            return s_fail (err, size, "field \"%s\": want the \"next\" string of a page", "cursor");
    }
    return 0;
}

int
ts_listing_cursor (const ts_listing_t *l, const ts_summary_t *s, uint64_t key, char *buf, size_t size)
{
    ts_buf_t raw = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &raw, ts_buf_packer_write);
    msgpack_pack_array (&pk, 6);
    msgpack_pack_uint32 (&pk, (uint32_t) l->sort.order);
    if (l->sort.desc) msgpack_pack_true (&pk); else msgpack_pack_false (&pk);
    if (l->sort.order == TS_ORDER_CREATED)
        msgpack_pack_int64 (&pk, ts_summary_time (s));
    else if (l->sort.order == TS_ORDER_REWARD && s->has_reward)
        msgpack_pack_double (&pk, s->reward);
    else
        msgpack_pack_nil (&pk);
    ts_mp_pack_strn (&pk, s->id, s->id_len);
    msgpack_pack_uint64 (&pk, l->filter_hash);
    msgpack_pack_int64 (&pk, s->ingested_ms);       /* reward ties */
    int rc = 0;
    if (!raw.data || 3 + 2 * raw.size + 18 > size)
        rc = TS_ETOOBIG;
    else {
        memcpy (buf, "c1.", 3);
        ts_hex ((const uint8_t *) raw.data, raw.size, buf + 3);
        size_t at = 3 + 2 * raw.size;
        buf [at++] = '.';
        uint64_t tag = XXH3_64bits_withSeed (raw.data, raw.size, key);
        uint8_t t [8];
        for (int i = 7; i >= 0; i--, tag >>= 8)
            t [i] = (uint8_t) (tag & 0xff);
        ts_hex (t, 8, buf + at);
    }
    ts_buf_free (&raw);
    return rc;
}

int
ts_summary_pack_map (msgpack_packer *pk, const ts_summary_t *s, uint32_t extra)
{
    int rc = msgpack_pack_map (pk, 9 + extra);
    rc |= ts_mp_pack_cstr (pk, "id");
    rc |= ts_mp_pack_strn (pk, s->id, s->id_len);
    rc |= ts_mp_pack_cstr (pk, "group");
    rc |= s->group ? ts_mp_pack_strn (pk, s->group, s->group_len) : msgpack_pack_nil (pk);
    rc |= ts_mp_pack_cstr (pk, "model");
    rc |= s->model ? ts_mp_pack_strn (pk, s->model, s->model_len) : msgpack_pack_nil (pk);
    rc |= ts_mp_pack_cstr (pk, "reward");
    rc |= s->has_reward ? msgpack_pack_double (pk, s->reward) : msgpack_pack_nil (pk);
    rc |= ts_mp_pack_cstr (pk, "success");
    rc |= s->success < 0 ? msgpack_pack_nil (pk) : s->success ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
    rc |= ts_mp_pack_cstr (pk, "created_ms");
    rc |= s->has_created ? msgpack_pack_int64 (pk, s->created_ms) : msgpack_pack_nil (pk);
    rc |= ts_mp_pack_cstr (pk, "ingested_ms");
    rc |= msgpack_pack_int64 (pk, s->ingested_ms);
    rc |= ts_mp_pack_cstr (pk, "steps");
    rc |= s->has_steps ? msgpack_pack_int64 (pk, s->steps) : msgpack_pack_nil (pk);
    rc |= ts_mp_pack_cstr (pk, "run");
    rc |= s->run ? ts_mp_pack_strn (pk, s->run, s->run_len) : msgpack_pack_nil (pk);
    return rc ? TS_ENOMEM : 0;
}

/* --- the envelope ------------------------------------------------------------ */

static const char *s_op_names [TS_NOPS] = {
    "get", "list", "count", "export", "check", "stats", "groups", "job", "health", "runs",
    "compare", "search", "labels", "drop", "compact", "label"
};

const char *
ts_op_name (ts_op_t op)
{
    return (unsigned) op < TS_NOPS ? s_op_names [op] : NULL;
}

int
ts_request_parse (ts_request_t *rq, const void *data, size_t len, uint64_t cursor_key,
                  ts_listing_t *listing, char *err, size_t err_size)
{
    memset (rq, 0, sizeof *rq);
    if (len == 0) {
        snprintf (err, err_size, "empty request: send one msgpack map");
        return TS_EBADREQ;
    }
    if (len > TS_REQUEST_MAX) {
        snprintf (err, err_size, "request larger than 1 MiB");
        return TS_ETOOBIG;
    }
    ts_hdrin_t in = { 0 };
    in.data = (const char *) data;
    in.len = len;
    ts_mp_reader_t rd;
    uint32_t nf;
    ts_mp_reader_init (&rd, in.data, in.len);
    if (ts_mp_read_map (&rd, &nf)) {
        snprintf (err, err_size, "the request is not a msgpack map");
        return TS_EBADREQ;
    }
    ts_mp_reader_t rr;
    ts_mp_item_t rit;
    if (ts_hdr_find (&in, "rid", &rr) && ts_mp_next (&rr, &rit) == 0) {
        if (rit.type == TS_MP_UINT) {
            rq->has_rid = rq->rid_unsigned = true;
            rq->rid_u = rit.u;
        }
        else if (rit.type == TS_MP_INT) {
            rq->has_rid = true;
            rq->rid = rit.i;
        }
    }
    if (ts_hdr_get_int (&in, "v", -1) != TS_PROTO_VERSION) {
        snprintf (err, err_size, "field \"v\": want 1 (the protocol version)");
        return TS_EVERSION;
    }
    char op [32] = "";
    if (!ts_hdr_copy_str (&in, "op", op, sizeof op)) {
        snprintf (err, err_size, "field \"op\": missing or not a string");
        return TS_EBADREQ;
    }
    int opi = -1;
    for (int i = 0; i < TS_NOPS; i++)
        if (!strcmp (op, s_op_names [i]))
            opi = i;
    if (opi < 0) {
        snprintf (err, err_size, "field \"op\": unknown operation \"%.40s\" (get, list, count, "
                  "export, check, stats, groups, job, health, runs, compare, search, labels, drop, "
                  "compact, label)", op);
        return TS_EUNKNOWNOP;
    }
    rq->op = (ts_op_t) opi;
    if (rq->op == TS_OP_GET) {
        rq->id = ts_hdr_get_str (&in, "id", &rq->id_len);
        if (!rq->id || rq->id_len == 0 || rq->id_len > TS_ID_MAX_BYTES) {
            snprintf (err, err_size, "field \"id\": want a non-empty string of at most 512 bytes");
            return TS_EBADREQ;
        }
    }
    else if (rq->op == TS_OP_LIST || rq->op == TS_OP_COUNT || rq->op == TS_OP_EXPORT) {
        int rc = ts_listing_parse (listing, in.data, in.len, rq->op == TS_OP_EXPORT ? 1000 : 100,
                                   cursor_key, err, err_size);
        if (rc)
            return rc;
        if (rq->op == TS_OP_EXPORT)
            listing->records = true;
    }
    else if (rq->op == TS_OP_SEARCH) {
        ts_search_query_t *q = malloc (sizeof *q);
        ts_search_order_t order;
        int rc = q ? ts_search_request (listing, in.data, in.len, q, &order, err, err_size)
                   : TS_ENOMEM;
        free (q);
        if (rc)
            return rc;
    }
    else if (rq->op == TS_OP_LABELS) {
        /* one record's labels ("id"), or totals by label over a listing's
         * filter ("key": one key, else every key; "per_model") */
        ts_mp_reader_t r;
        ts_mp_item_t it;
        if (ts_hdr_find (&in, "id", &r)) {
            rq->id = ts_hdr_get_str (&in, "id", &rq->id_len);
            if (!rq->id || rq->id_len == 0 || rq->id_len > TS_ID_MAX_BYTES) {
                snprintf (err, err_size, "field \"id\": want a non-empty string of at most 512 bytes");
                return TS_EBADREQ;
            }
        }
        if (ts_hdr_find (&in, "key", &r) && (ts_mp_next (&r, &it)
            || (it.type != TS_MP_NIL && (it.type != TS_MP_STR || it.len == 0 || it.len > 128)))) {
            snprintf (err, err_size, "field \"key\": want a label key (1 to 128 bytes)");
            return TS_EBADREQ;
        }
        if (ts_hdr_find (&in, "per_model", &r) && (ts_mp_next (&r, &it)
            || (it.type != TS_MP_BOOL && it.type != TS_MP_NIL))) {
            snprintf (err, err_size, "field \"per_model\": want true or false");
            return TS_EBADREQ;
        }
        int rc = ts_listing_parse (listing, in.data, in.len, 100, 0, err, err_size);
        if (rc)
            return rc;
    }
    else if (rq->op == TS_OP_DROP) {
        rq->run = ts_hdr_get_str (&in, "run", &rq->run_len);
        if (!rq->run || rq->run_len == 0 || rq->run_len > TS_RUN_MAX_BYTES) {
            snprintf (err, err_size, "field \"run\": want the run's name (1 to %d bytes)",
                      TS_RUN_MAX_BYTES);
            return TS_EBADREQ;
        }
    }
    else if (rq->op == TS_OP_JOB) {
        char job [64];
        if (!ts_hdr_copy_str (&in, "job", job, sizeof job) || !job [0]) {
            snprintf (err, err_size, "field \"job\": want the job id");
            return TS_EBADREQ;
        }
    }
    return 0;
}

void
ts_req_begin (ts_req_t *q, const char *op)
{
    assert (q && op);
    q->body.size = 0;
    msgpack_packer_init (&q->pk, &q->body, ts_buf_packer_write);
    ts_mp_pack_cstr (&q->pk, "v");
    msgpack_pack_int (&q->pk, TS_PROTO_VERSION);
    ts_mp_pack_cstr (&q->pk, "op");
    ts_mp_pack_cstr (&q->pk, op);
    q->n = 2;
}

void
ts_req_key (ts_req_t *q, const char *key)
{
    ts_mp_pack_cstr (&q->pk, key);
    q->n++;
}

void
ts_req_free (ts_req_t *q)
{
    ts_buf_free (&q->body);
}

/*  One side of a range: empty (none) or a finite number. */
static bool
s_range_bound (const char *s, size_t n, bool *has, double *v)
{
    char tmp [64], *end;
    *has = n > 0;
    if (n == 0)
        return true;
    if (n >= sizeof tmp)
        return false;
    memcpy (tmp, s, n);
    tmp [n] = 0;
    errno = 0;
    *v = strtod (tmp, &end);
    return !errno && *end == 0 && isfinite (*v);
}

bool
ts_req_range (const char *text, bool *has_lo, double *lo, bool *has_hi, double *hi)
{
    const char *colon = strchr (text, ':');
    return colon && s_range_bound (text, (size_t) (colon - text), has_lo, lo)
        && s_range_bound (colon + 1, strlen (colon + 1), has_hi, hi);
}

zframe_t *
ts_req_frame (const ts_req_t *q, uint64_t rid)
{
    ts_buf_t head = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &head, ts_buf_packer_write);
    msgpack_pack_map (&pk, q->n + 1);
    ts_mp_pack_cstr (&pk, "rid");
    msgpack_pack_uint64 (&pk, rid);
    zframe_t *f = head.data && q->body.data ? zframe_new (NULL, head.size + q->body.size) : NULL;
    if (f) {
        memcpy (zframe_data (f), head.data, head.size);
        memcpy (zframe_data (f) + head.size, q->body.data, q->body.size);
    }
    ts_buf_free (&head);
    return f;
}

int
ts_listing_filter_map (const void *data, size_t len, ts_buf_t *out)
{
    static const char *const filters [] = TS_LISTING_FILTERS;
    const size_t nf = sizeof filters / sizeof filters [0];
    const uint8_t *at [sizeof filters / sizeof filters [0]], *end [sizeof filters / sizeof filters [0]];
    uint32_t n, found = 0;
    ts_mp_reader_t rd;
    ts_mp_reader_init (&rd, data, len);
    if (ts_mp_read_map (&rd, &n))
        return TS_EBADREQ;
    memset (at, 0, sizeof at);
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        if (ts_mp_read_str (&rd, &k, &klen))
            return TS_EBADREQ;
        const uint8_t *v = rd.p;
        if (ts_mp_skip (&rd))
            return TS_EBADREQ;
        for (size_t f = 0; f < nf; f++)
            if (strlen (filters [f]) == klen && !memcmp (filters [f], k, klen) && !at [f]) {
                at [f] = v;
                end [f] = rd.p;
                found++;
            }
    }
    msgpack_packer pk;
    out->size = 0;
    msgpack_packer_init (&pk, out, ts_buf_packer_write);
    int rc = msgpack_pack_map (&pk, found);
    for (size_t f = 0; f < nf && !rc; f++)
        if (at [f])
            rc = ts_mp_pack_cstr (&pk, filters [f])
              || ts_buf_append (out, (const char *) at [f], (size_t) (end [f] - at [f]));
    return rc ? TS_ENOMEM : 0;
}
