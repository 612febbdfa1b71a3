/*  ts_record.c: summaries, record framing, number formatting, time
 *  parsing, ids and shard hashing (see ts_record.h). */
#include "ts_record.h"
#include "ts_error.h"
#include "ts_mp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

int64_t
ts_summary_time (const ts_summary_t *s)
{
    return s->has_created ? s->created_ms : s->ingested_ms;
}

int64_t
ts_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
ts_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
s_pack_opt_str (msgpack_packer *pk, const char *s, uint32_t len)
{
    if (!s)
        return msgpack_pack_nil (pk) ? TS_ENOMEM : 0;
    return ts_mp_pack_strn (pk, s, len);
}

int
ts_summary_pack (msgpack_packer *pk, const ts_summary_t *s)
{
    int rc = 0;
    rc |= msgpack_pack_array (pk, 9);
    rc |= ts_mp_pack_strn (pk, s->id, s->id_len);
    rc |= s_pack_opt_str (pk, s->group, s->group_len);
    rc |= s_pack_opt_str (pk, s->model, s->model_len);
    rc |= s->has_reward ? msgpack_pack_double (pk, s->reward) : msgpack_pack_nil (pk);
    rc |= s->success == TS_SUCCESS_UNKNOWN ? msgpack_pack_nil (pk)
        : s->success ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
    rc |= s->has_created ? msgpack_pack_int64 (pk, s->created_ms) : msgpack_pack_nil (pk);
    rc |= s->has_steps ? msgpack_pack_int64 (pk, s->steps) : msgpack_pack_nil (pk);
    rc |= msgpack_pack_int64 (pk, s->ingested_ms);
    rc |= s_pack_opt_str (pk, s->run, s->run_len);
    return rc ? TS_ENOMEM : 0;
}

static int
s_read_opt_str (ts_mp_reader_t *r, const char **p, uint32_t *len)
{
    ts_mp_item_t it;
    if (ts_mp_next (r, &it))
        return TS_ECORRUPT;
    if (it.type == TS_MP_NIL) { *p = NULL; *len = 0; return 0; }
    if (it.type != TS_MP_STR)
        return TS_ECORRUPT;
    *p = it.ptr ? it.ptr : "";
    *len = it.len;
    return 0;
}

static int
s_read_opt_int (ts_mp_reader_t *r, bool *has, int64_t *v)
{
    ts_mp_item_t it;
    if (ts_mp_next (r, &it))
        return TS_ECORRUPT;
    *has = true;
    if (it.type == TS_MP_NIL) { *has = false; *v = 0; }
    else if (it.type == TS_MP_INT) *v = it.i;
    else if (it.type == TS_MP_UINT && it.u <= (uint64_t) INT64_MAX) *v = (int64_t) it.u;
    else return TS_ECORRUPT;
    return 0;
}

int
ts_summary_unpack_buf (const void *data, size_t len, ts_summary_t *s, size_t *consumed)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    uint32_t n;
    ts_mp_reader_init (&r, data, len);
    memset (s, 0, sizeof *s);
    if (ts_mp_read_array (&r, &n) || n < 8)
        return TS_ECORRUPT;
    if (ts_mp_read_str (&r, &s->id, &s->id_len)
    ||  s_read_opt_str (&r, &s->group, &s->group_len)
    ||  s_read_opt_str (&r, &s->model, &s->model_len))
        return TS_ECORRUPT;
    if (!s->id)
        s->id = "";
    if (ts_mp_next (&r, &it))
        return TS_ECORRUPT;
    if (it.type == TS_MP_FLOAT) { s->has_reward = true; s->reward = it.f; }
    else if (it.type != TS_MP_NIL) return TS_ECORRUPT;
    if (ts_mp_next (&r, &it))
        return TS_ECORRUPT;
    if (it.type == TS_MP_BOOL) s->success = it.b;
    else if (it.type == TS_MP_NIL) s->success = TS_SUCCESS_UNKNOWN;
    else return TS_ECORRUPT;
    bool has_ingested;
    if (s_read_opt_int (&r, &s->has_created, &s->created_ms)
    ||  s_read_opt_int (&r, &s->has_steps, &s->steps)
    ||  s_read_opt_int (&r, &has_ingested, &s->ingested_ms))
        return TS_ECORRUPT;
    if (n > 8 && s_read_opt_str (&r, &s->run, &s->run_len))
        return TS_ECORRUPT;
    for (uint32_t i = 9; i < n; i++)           /* newer fields: skip */
        if (ts_mp_skip (&r))
            return TS_ECORRUPT;
    if (consumed)
        *consumed = (size_t) (r.p - (const uint8_t *) data);
    return 0;
}

int
ts_record_split (const void *data, size_t len, ts_summary_t *s,
                 const char **obj, size_t *obj_len)
{
    size_t used;
    if (ts_summary_unpack_buf (data, len, s, &used))
        return TS_ECORRUPT;
    *obj = (const char *) data + used;
    *obj_len = len - used;
    return 0;
}

/* --- numbers ----------------------------------------------------------- */

int
ts_format_double (double v, char *buf)
{
    if (!isfinite (v))                  /* cannot come from JSON input */
        return snprintf (buf, 32, "null");
    /* For a normal double, when a text of at most 15 digits reads back to
     * it, %.15g is that text (DBL_DIG), so the search starts at 15. A
     * subnormal has fewer significant bits, DBL_DIG does not hold, and its
     * shortest form may be shorter (5e-324): search it from 1. */
    int n = 0;
    for (int prec = isnormal (v) ? 15 : 1; prec <= 17; prec++) {
        n = snprintf (buf, 32, "%.*g", prec, v);
        if (strtod (buf, NULL) == v)
            break;
    }
    if (!strpbrk (buf, ".eEn")) {       /* keep it a float: 1 -> 1.0 */
        buf [n++] = '.';
        buf [n++] = '0';
        buf [n] = 0;
    }
    return n;
}

/* --- time --------------------------------------------------------------- */

static int
s_digits (const char *s, size_t len, size_t *pos, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*pos >= len || s [*pos] < '0' || s [*pos] > '9')
            return -1;
        v = v * 10 + (s [(*pos)++] - '0');
    }
    *value = v;
    return 0;
}

/*  Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t
s_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned) (y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

int
ts_parse_iso8601 (const char *s, size_t len, int64_t *ms)
{
    static const int mdays [] = {31,29,31,30,31,30,31,31,30,31,30,31};
    size_t p = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0, frac_ms = 0, off_min = 0;
    if (s_digits (s, len, &p, 4, &y) || p >= len || s [p++] != '-'
    ||  s_digits (s, len, &p, 2, &mo) || p >= len || s [p++] != '-'
    ||  s_digits (s, len, &p, 2, &d))
        return TS_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays [mo - 1])
        return TS_EINVAL;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return TS_EINVAL;
    if (p < len) {
        if (s [p] != 'T' && s [p] != 't' && s [p] != ' ')
            return TS_EINVAL;
        p++;
        if (s_digits (s, len, &p, 2, &h) || p >= len || s [p++] != ':'
        ||  s_digits (s, len, &p, 2, &mi))
            return TS_EINVAL;
        if (p < len && s [p] == ':') {
            p++;
            if (s_digits (s, len, &p, 2, &sec))
                return TS_EINVAL;
            if (p < len && (s [p] == '.' || s [p] == ',')) {
                p++;
                int scale = 100, nd = 0;
                while (p < len && s [p] >= '0' && s [p] <= '9') {
                    frac_ms += (s [p++] - '0') * scale;
                    scale /= 10;
                    nd++;
                }
                if (nd == 0)
                    return TS_EINVAL;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return TS_EINVAL;
        if (p < len) {
            if (s [p] == 'Z' || s [p] == 'z')
                p++;
            else if (s [p] == '+' || s [p] == '-') {
                int sign = s [p++] == '-' ? -1 : 1, oh, om = 0;
                if (s_digits (s, len, &p, 2, &oh))
                    return TS_EINVAL;
                if (p < len && s [p] == ':')
                    p++;
                if (p < len && s_digits (s, len, &p, 2, &om))
                    return TS_EINVAL;
                if (oh > 23 || om > 59)
                    return TS_EINVAL;
                off_min = sign * (oh * 60 + om);
            }
            else
                return TS_EINVAL;
        }
        if (p != len)
            return TS_EINVAL;
    }
    int64_t days = s_days_from_civil (y, (unsigned) mo, (unsigned) d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

/* --- ids and shards ----------------------------------------------------- */

void
ts_hash_id (const void *line, size_t len, char out [33])
{
    static const char hex [] = "0123456789abcdef";
    XXH128_hash_t h = XXH3_128bits (line, len);
    uint64_t parts [2] = { h.high64, h.low64 };
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < 16; i++)
            out [p * 16 + i] = hex [(parts [p] >> (60 - 4 * i)) & 15];
    out [32] = 0;
}

uint32_t
ts_shard_of (const char *id, size_t len, uint32_t nshards)
{
    return (uint32_t) (XXH3_64bits (id, len) % nshards);
}
