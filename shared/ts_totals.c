/*  ts_totals.c: mergeable record totals (ts_totals.h). */
#include "ts_totals.h"
#include "ts_error.h"
#include "ts_mp.h"

#include <math.h>
#include <string.h>

void
ts_totals_init (ts_totals_t *t)
{
    memset (t, 0, sizeof *t);
    t->reward_min = INFINITY;
    t->reward_max = -INFINITY;
}

int
ts_totals_bin (double r)
{
    if (r < 0)
        return 0;
    if (r > 1)
        return TS_HIST_BINS + 1;
    int b = (int) (r * TS_HIST_BINS);
    if (b >= TS_HIST_BINS)
        b = TS_HIST_BINS - 1;
    return b + 1;
}

void
ts_totals_add (ts_totals_t *t, const ts_summary_t *s)
{
    t->count++;
    if (s->success != TS_SUCCESS_UNKNOWN) {
        t->success_known++;
        t->successes += s->success ? 1 : 0;
    }
    if (s->has_reward) {
        t->reward_n++;
        t->reward_sum += s->reward;
        t->reward_sq += s->reward * s->reward;
        if (s->reward < t->reward_min) t->reward_min = s->reward;
        if (s->reward > t->reward_max) t->reward_max = s->reward;
        t->hist [ts_totals_bin (s->reward)]++;
    }
    if (s->has_steps && s->steps >= 0) {
        t->steps_n++;
        t->steps_sum += (uint64_t) s->steps;
    }
}

void
ts_totals_merge (ts_totals_t *d, const ts_totals_t *s)
{
    d->count += s->count;
    d->successes += s->successes;
    d->success_known += s->success_known;
    d->reward_n += s->reward_n;
    d->reward_sum += s->reward_sum;
    d->reward_sq += s->reward_sq;
    if (s->reward_min < d->reward_min) d->reward_min = s->reward_min;
    if (s->reward_max > d->reward_max) d->reward_max = s->reward_max;
    d->steps_n += s->steps_n;
    d->steps_sum += s->steps_sum;
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        d->hist [i] += s->hist [i];
}

int
ts_totals_pack (msgpack_packer *pk, const ts_totals_t *t)
{
    int rc = 0;
    rc |= msgpack_pack_array (pk, 11);
    rc |= msgpack_pack_uint64 (pk, t->count);
    rc |= msgpack_pack_uint64 (pk, t->successes);
    rc |= msgpack_pack_uint64 (pk, t->success_known);
    rc |= msgpack_pack_uint64 (pk, t->reward_n);
    rc |= msgpack_pack_double (pk, t->reward_sum);
    rc |= msgpack_pack_double (pk, t->reward_sq);
    rc |= t->reward_n ? msgpack_pack_double (pk, t->reward_min) : msgpack_pack_nil (pk);
    rc |= t->reward_n ? msgpack_pack_double (pk, t->reward_max) : msgpack_pack_nil (pk);
    rc |= msgpack_pack_uint64 (pk, t->steps_n);
    rc |= msgpack_pack_uint64 (pk, t->steps_sum);
    rc |= msgpack_pack_array (pk, TS_HIST_BINS + 2);
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        rc |= msgpack_pack_uint64 (pk, t->hist [i]);
    return rc ? TS_ENOMEM : 0;
}

int
ts_totals_unpack (const void *data, size_t len, ts_totals_t *t, size_t *consumed)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    uint32_t n, nh;
    ts_mp_reader_init (&r, data, len);
    ts_totals_init (t);
    if (ts_mp_read_array (&r, &n) || n < 11
    ||  ts_mp_read_uint (&r, &t->count) || ts_mp_read_uint (&r, &t->successes)
    ||  ts_mp_read_uint (&r, &t->success_known) || ts_mp_read_uint (&r, &t->reward_n)
    ||  ts_mp_read_double (&r, &t->reward_sum) || ts_mp_read_double (&r, &t->reward_sq))
        return TS_ECORRUPT;
    for (int i = 0; i < 2; i++) {
        if (ts_mp_next (&r, &it))
            return TS_ECORRUPT;
        double v = it.type == TS_MP_FLOAT ? it.f : (i == 0 ? INFINITY : -INFINITY);
        if (it.type != TS_MP_FLOAT && it.type != TS_MP_NIL)
            return TS_ECORRUPT;
        if (i == 0) t->reward_min = v; else t->reward_max = v;
    }
    if (ts_mp_read_uint (&r, &t->steps_n) || ts_mp_read_uint (&r, &t->steps_sum)
    ||  ts_mp_read_array (&r, &nh))
        return TS_ECORRUPT;
    for (uint32_t i = 0; i < nh; i++) {
        uint64_t v;
        if (ts_mp_read_uint (&r, &v))
            return TS_ECORRUPT;
        if (i < TS_HIST_BINS + 2)
            t->hist [i] = v;
    }
    for (uint32_t i = 11; i < n; i++)
        if (ts_mp_skip (&r))
            return TS_ECORRUPT;
    if (consumed)
        *consumed = (size_t) (r.p - (const uint8_t *) data);
    return 0;
}

static bool
s_close (double a, double b)
{
    if (a == b)
        return true;
    double scale = fmax (fabs (a), fabs (b));
    return fabs (a - b) <= 1e-9 * scale;
}

bool
ts_totals_equal (const ts_totals_t *a, const ts_totals_t *b)
{
    if (a->count != b->count || a->successes != b->successes
    ||  a->success_known != b->success_known || a->reward_n != b->reward_n
    ||  a->steps_n != b->steps_n || a->steps_sum != b->steps_sum)
        return false;
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        if (a->hist [i] != b->hist [i])
            return false;
    if (a->reward_n == 0)
        return true;
    return s_close (a->reward_sum, b->reward_sum) && s_close (a->reward_sq, b->reward_sq)
        && a->reward_min == b->reward_min && a->reward_max == b->reward_max;
}

int
ts_delta_read (const void *data, size_t len, uint64_t *seq, const ts_delta_visitor_t *v)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    uint32_t n;
    size_t used;
    ts_totals_t t;
    ts_mp_reader_init (&r, data, len);
    if (ts_mp_read_array (&r, &n) || n < 4 || ts_mp_read_uint (&r, seq))
        return TS_ECORRUPT;
    /* shard totals, or nil */
    ts_mp_reader_t peek = r;
    if (ts_mp_next (&peek, &it))
        return TS_ECORRUPT;
    if (it.type == TS_MP_NIL)
        r = peek;
    else {
        if (ts_totals_unpack (r.p, (size_t) (r.end - r.p), &t, &used))
            return TS_ECORRUPT;
        r.p += used;
        if (v->shard)
            v->shard (v->arg, &t);
    }
    for (int part = 0; part < 2; part++) {
        uint32_t m;
        if (ts_mp_read_array (&r, &m))
            return TS_ECORRUPT;
        for (uint32_t i = 0; i < m; i++) {
            uint32_t two;
            const char *name;
            uint32_t nlen;
            if (ts_mp_read_array (&r, &two) || two != 2 || ts_mp_read_str (&r, &name, &nlen)
            ||  ts_totals_unpack (r.p, (size_t) (r.end - r.p), &t, &used))
                return TS_ECORRUPT;
            r.p += used;
            if (!name)
                name = "";
            if (part == 0 && v->group)
                v->group (v->arg, name, nlen, &t);
            if (part == 1 && v->model)
                v->model (v->arg, name, nlen, &t);
        }
    }
    uint32_t m = 0;
    if (n > 4 && ts_mp_read_array (&r, &m))
        return TS_ECORRUPT;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t three;
        const char *run, *group;
        uint32_t rlen, glen;
        uint32_t five;
        uint64_t u [4];
        ts_mp_item_t sum;
        if (ts_mp_read_array (&r, &three) || three != 3 || ts_mp_read_str (&r, &run, &rlen)
        ||  ts_mp_next (&r, &it) || (it.type != TS_MP_STR && it.type != TS_MP_NIL)
        ||  ts_mp_read_array (&r, &five) || five != 5
        ||  ts_mp_read_uint (&r, &u [0]) || ts_mp_read_uint (&r, &u [1])
        ||  ts_mp_read_uint (&r, &u [2]) || ts_mp_read_uint (&r, &u [3])
        ||  ts_mp_next (&r, &sum) || sum.type != TS_MP_FLOAT)
            return TS_ECORRUPT;
        ts_totals_init (&t);
        t.count = u [0];
        t.successes = u [1];
        t.success_known = u [2];
        t.reward_n = u [3];
        t.reward_sum = sum.f;
        group = it.type == TS_MP_STR ? (it.ptr ? it.ptr : "") : NULL;
        glen = it.type == TS_MP_STR ? it.len : 0;
        if (v->run)
            v->run (v->arg, run ? run : "", rlen, group, glen, &t);
    }
    m = 0;
    if (n > 5 && ts_mp_read_array (&r, &m))
        return TS_ECORRUPT;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t three;
        const char *run, *model;
        uint32_t rlen, mlen;
        if (ts_mp_read_array (&r, &three) || three != 3 || ts_mp_read_str (&r, &run, &rlen)
        ||  ts_mp_next (&r, &it) || (it.type != TS_MP_STR && it.type != TS_MP_NIL)
        ||  ts_totals_unpack (r.p, (size_t) (r.end - r.p), &t, &used))
            return TS_ECORRUPT;
        r.p += used;
        /* nil: the run's records without a model */
        model = it.type == TS_MP_STR ? (it.ptr ? it.ptr : "") : NULL;
        mlen = it.type == TS_MP_STR ? it.len : 0;
        if (v->run_model)
            v->run_model (v->arg, run ? run : "", rlen, model, mlen, &t);
    }
    return 0;
}

int
ts_delta_pack_run_model (msgpack_packer *pk, const char *name, size_t len, const ts_totals_t *t)
{
    size_t rlen = strnlen (name, len);
    int rc = msgpack_pack_array (pk, 3) || ts_mp_pack_strn (pk, name, rlen)
          || (rlen == len ? msgpack_pack_nil (pk)
                          : ts_mp_pack_strn (pk, name + rlen + 1, len - rlen - 1))
          || ts_totals_pack (pk, t);
    return rc ? TS_ENOMEM : 0;
}

size_t
ts_delta_run_model_name (char *buf, size_t size, const ts_summary_t *s)
{
    size_t n = (size_t) s->run_len + (s->model ? 1 + (size_t) s->model_len : 0);
    if (n > size)
        return 0;
    memcpy (buf, s->run, s->run_len);
    if (s->model) {
        buf [s->run_len] = 0;
        memcpy (buf + s->run_len + 1, s->model, s->model_len);
    }
    return n;
}

int
ts_delta_pack_run (msgpack_packer *pk, const char *run, size_t run_len,
                   const char *group, size_t group_len, const ts_totals_t *t)
{
    int rc = msgpack_pack_array (pk, 3) || ts_mp_pack_strn (pk, run, run_len)
          || (group ? ts_mp_pack_strn (pk, group, group_len) : msgpack_pack_nil (pk))
          || msgpack_pack_array (pk, 5) || msgpack_pack_uint64 (pk, t->count)
          || msgpack_pack_uint64 (pk, t->successes) || msgpack_pack_uint64 (pk, t->success_known)
          || msgpack_pack_uint64 (pk, t->reward_n) || msgpack_pack_double (pk, t->reward_sum);
    return rc ? TS_ENOMEM : 0;
}

/*  Totals as a client reads them (PROTOCOL.md, `stats`: T). */
void
ts_totals_pack_map (msgpack_packer *pk, const ts_totals_t *t)
{
    double mean = t->reward_n ? t->reward_sum / (double) t->reward_n : 0;
    double var = t->reward_n ? t->reward_sq / (double) t->reward_n - mean * mean : 0;
    if (var < 0)
        var = 0;
    msgpack_pack_map (pk, 12);
    ts_mp_pack_cstr (pk, "records");       msgpack_pack_uint64 (pk, t->count);
    ts_mp_pack_cstr (pk, "successes");     msgpack_pack_uint64 (pk, t->successes);
    ts_mp_pack_cstr (pk, "success_known"); msgpack_pack_uint64 (pk, t->success_known);
    ts_mp_pack_cstr (pk, "success_rate");
    if (t->success_known) msgpack_pack_double (pk, (double) t->successes / (double) t->success_known);
    else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_n");      msgpack_pack_uint64 (pk, t->reward_n);
    ts_mp_pack_cstr (pk, "reward_mean");
    if (t->reward_n) msgpack_pack_double (pk, mean); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_std");
    if (t->reward_n) msgpack_pack_double (pk, sqrt (var)); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_min");
    if (t->reward_n) msgpack_pack_double (pk, t->reward_min); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "reward_max");
    if (t->reward_n) msgpack_pack_double (pk, t->reward_max); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "steps_mean");
    if (t->steps_n) msgpack_pack_double (pk, (double) t->steps_sum / (double) t->steps_n);
    else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "steps_n");       msgpack_pack_uint64 (pk, t->steps_n);
    ts_mp_pack_cstr (pk, "histogram");
    msgpack_pack_array (pk, TS_HIST_BINS + 2);
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        msgpack_pack_uint64 (pk, t->hist [i]);
}

