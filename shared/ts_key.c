/*  ts_key.c: shard key builders (layout in ts_key.h). */
#include "ts_key.h"
#include <string.h>

size_t
ts_key_put_escaped (char *buf, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        buf [n++] = s [i];
        if (s [i] == 0)
            buf [n++] = (char) 0xff;
    }
    buf [n++] = 0;
    buf [n++] = 1;
    return n;
}

static size_t
s_put_raw (char *buf, const char *s, size_t len)
{
    if (s && len)
        memcpy (buf, s, len);
    return s ? len : 0;
}

size_t
ts_key_record (char *buf, const char *id, size_t id_len)
{
    buf [0] = TS_TAG_RECORD;
    return 1 + s_put_raw (buf + 1, id, id_len);
}

/*  A tag and a sequence: the keys of D and H. */
static size_t
s_seq_key (char *buf, char tag, uint64_t seq)
{
    buf [0] = tag;
    ts_key_put_i64 (buf + 1, (int64_t) seq);
    return 9;
}

size_t
ts_key_data (char *buf, uint64_t seq)
{
    return s_seq_key (buf, TS_TAG_DATA, seq);
}

size_t
ts_key_text_doc (char *buf, uint64_t seq)
{
    return s_seq_key (buf, TS_TAG_TEXT_DOC, seq);
}

size_t
ts_key_text_segment (char *buf, uint64_t seg)
{
    return s_seq_key (buf, TS_TAG_TEXT, seg);
}

/*  tag, escaped name: the prefix of a G, M or C key */
static size_t
s_put_named (char *buf, char tag, const char *name, size_t name_len)
{
    buf [0] = tag;
    return 1 + ts_key_put_escaped (buf + 1, name, name_len);
}

/*  tag, escaped name, 8-byte number */
static size_t
s_put_named_num (char *buf, char tag, const char *name, size_t name_len, uint64_t num)
{
    size_t n = s_put_named (buf, tag, name, name_len);
    ts_key_put_i64 (buf + n, (int64_t) num);
    return n + 8;
}

size_t
ts_key_group (char *buf, const char *group, size_t group_len, uint64_t seq)
{
    return s_put_named_num (buf, TS_TAG_GROUP, group, group_len, seq);
}

size_t
ts_key_group_prefix (char *buf, const char *group, size_t group_len)
{
    return s_put_named (buf, TS_TAG_GROUP, group, group_len);
}

size_t
ts_key_model (char *buf, const char *model, size_t model_len, uint64_t seq)
{
    return s_put_named_num (buf, TS_TAG_MODEL, model, model_len, seq);
}

size_t
ts_key_model_prefix (char *buf, const char *model, size_t model_len)
{
    return s_put_named (buf, TS_TAG_MODEL, model, model_len);
}

size_t
ts_key_run (char *buf, const char *run, size_t run_len, uint64_t seq)
{
    return s_put_named_num (buf, TS_TAG_RUN, run, run_len, seq);
}

size_t
ts_key_run_prefix (char *buf, const char *run, size_t run_len)
{
    return s_put_named (buf, TS_TAG_RUN, run, run_len);
}

size_t
ts_key_run_totals_prefix (char *buf, const char *run, size_t run_len)
{
    return s_put_named (buf, TS_TAG_RUN_TOTALS, run, run_len);
}

size_t
ts_key_run_totals (char *buf, const char *run, size_t run_len, const char *group, size_t group_len)
{
    size_t n = s_put_named (buf, TS_TAG_RUN_TOTALS, run, run_len);
    return n + s_put_raw (buf + n, group, group ? group_len : 0);
}

int
ts_key_get_escaped (const char *key, size_t klen, size_t *pos, char *out, size_t *out_len)
{
    size_t n = 0, i = *pos;
    for (;;) {
        if (i >= klen)
            return -1;
        if (key [i] != 0) {
            out [n++] = key [i++];
            continue;
        }
        if (i + 1 >= klen)
            return -1;
        if (key [i + 1] == 1)
            break;                      /* the end of the string */
        if ((unsigned char) key [i + 1] != 0xff)
            return -1;
        out [n++] = 0;
        i += 2;
    }
    *pos = i + 2;
    *out_len = n;
    return 0;
}

int
ts_key_run_totals_parse (const char *key, size_t klen, char *run, size_t *run_len,
                         const char **group, size_t *group_len)
{
    if (klen < 3 || key [0] != TS_TAG_RUN_TOTALS)
        return -1;
    size_t i = 1;
    if (ts_key_get_escaped (key, klen, &i, run, run_len))
        return -1;
    *group = i < klen ? key + i : NULL;
    *group_len = klen - i;
    return 0;
}

void
ts_key_put_i64 (char *out, int64_t v)
{
    uint64_t u = (uint64_t) v ^ (UINT64_C (1) << 63);
    for (int i = 7; i >= 0; i--, u >>= 8)
        out [i] = (char) (u & 0xff);
}

int64_t
ts_key_get_i64 (const char *in)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | (unsigned char) in [i];
    return (int64_t) (u ^ (UINT64_C (1) << 63));
}

void
ts_key_put_double (char *out, double v)
{
    /* IEEE 754 bits: flip all bits of negatives, the sign bit of the rest;
     * then unsigned byte order is numeric order. -0.0 is stored as 0.0. */
    uint64_t u;
    if (v == 0)
        v = 0;
    memcpy (&u, &v, 8);
    u = (u >> 63) ? ~u : u | (UINT64_C (1) << 63);
    for (int i = 7; i >= 0; i--, u >>= 8)
        out [i] = (char) (u & 0xff);
}

double
ts_key_get_double (const char *in)
{
    uint64_t u = 0;
    double v;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | (unsigned char) in [i];
    u = (u >> 63) ? u & ~(UINT64_C (1) << 63) : ~u;
    memcpy (&v, &u, 8);
    return v;
}

size_t
ts_key_reward (char *buf, double reward, int64_t ingested_ms, const char *id, size_t id_len)
{
    buf [0] = TS_TAG_REWARD;
    ts_key_put_double (buf + 1, reward);
    if (!id)
        return 9;                       /* the prefix of every entry of that reward */
    ts_key_put_i64 (buf + 9, ingested_ms);
    return 17 + s_put_raw (buf + 17, id, id_len);
}

size_t
ts_key_time (char *buf, int64_t ms, const char *id, size_t id_len)
{
    buf [0] = TS_TAG_TIME;
    ts_key_put_i64 (buf + 1, ms);
    return 9 + s_put_raw (buf + 9, id, id_len);
}

size_t
ts_key_commit (char *buf, const char *job, size_t job_len, uint64_t chunk)
{
    return s_put_named_num (buf, TS_TAG_COMMIT, job, job_len, chunk);
}

size_t
ts_key_group_totals (char *buf, const char *group, size_t group_len)
{
    buf [0] = TS_TAG_GROUP_TOTALS;
    return 1 + s_put_raw (buf + 1, group, group_len);
}

size_t
ts_key_model_totals (char *buf, const char *model, size_t model_len)
{
    buf [0] = TS_TAG_MODEL_TOTALS;
    return 1 + s_put_raw (buf + 1, model, model_len);
}
