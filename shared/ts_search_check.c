/*  ts_search_check.c: the checker of a shard's postings (ts_search.h,
 *  ts_search_check).
 */
#include "ts_search_int.h"
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_profile.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/*  One (term, record) pair's digest: its positions, seeded by the term
 *  and the sequence. Summed (mod 2^64) on both sides. */
static uint64_t
s_digest (const char *term, size_t len, uint64_t seq, const uint64_t *pairs, size_t n)
{
    uint64_t seed = XXH3_64bits (term, len) ^ (seq * 0x9E3779B97F4A7C15ull);
    return XXH3_64bits_withSeed (pairs, n * sizeof *pairs, seed);
}

/*  A record's (sequence, time) digest, summed as the positions' are. */
static uint64_t
s_time_digest (uint64_t seq, int64_t time)
{
    uint64_t v [2] = { seq, (uint64_t) time };
    return XXH3_64bits (v, sizeof v);
}

typedef struct {
    ts_store_t *store;
    uint64_t   *problems;
    char       *first;
    size_t      size;
    uint64_t    sum, count;     /* over what the records call for */
    uint64_t    psum, pcount;   /* over the postings */
    uint64_t    tsum, tcount;   /* the records' times: what the records call for */
    uint64_t    tpsum, tpcount; /* and what the segments' times hold */
    search_times_t times;       /* of the segment being read */
    int64_t     times_seg;
    uint64_t    indexed;
    uint64_t    seq;            /* the record being read */
    search_rec_t     rec;
    ts_buf_t    val;
    const char *term;           /* of the F entry being read */
    size_t      term_len;
    uint64_t   *pairs;
    size_t      pairs_cap;
} s_check_t;

static void s_check_problem (s_check_t *c, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_check_problem (s_check_t *c, const char *fmt, ...)
{
    if ((*c->problems)++ == 0) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (c->first, c->size, fmt, ap);
        va_end (ap);
    }
}

static int
s_check_group (void *arg, const char *term, size_t len, const uint64_t *pairs, size_t n)
{
    s_check_t *c = arg;
    c->sum += s_digest (term, len, c->seq, pairs, n);
    c->count++;
    return 0;
}

/*  H seq: the record is there, and its text's digests are summed. */
static int
s_check_doc (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_check_t *c = arg;
    if (klen != 9) {
        s_check_problem (c, "a text index mark has a key of %zu bytes", klen);
        return 0;
    }
    c->seq = (uint64_t) ts_key_get_i64 (key + 1);
    c->indexed++;
    char dkey [9];
    c->val.size = 0;
    int rc = ts_store_get_raw (c->store, dkey, ts_key_data (dkey, c->seq), &c->val);
    if (rc == TS_ENOTFOUND) {
        s_check_problem (c, "sequence %llu is marked text-indexed but holds no record",
                         (unsigned long long) c->seq);
        return 0;
    }
    if (rc)
        return rc;
    ts_summary_t s;
    size_t used;
    const char *u;
    size_t ul;
    char spec [TS_POINTER_MAX + 1];
    snprintf (spec, sizeof spec, "%.*s", (int) (vlen < TS_POINTER_MAX ? vlen : TS_POINTER_MAX), val);
    uint64_t had = c->count;
    if (ts_summary_unpack_buf (c->val.data, c->val.size, &s, &used)
    ||  search_record_terms (&c->rec, c->val.data + used, c->val.size - used, spec, strlen (spec),
                        &u, &ul, s_check_group, c))
        s_check_problem (c, "the record at sequence %llu: its text does not decode",
                         (unsigned long long) c->seq);
    else if (c->count > had) {          /* it has postings: its time is in their segment */
        c->tsum += s_time_digest (c->seq, ts_summary_time (&s));
        c->tcount++;
    }
    return 0;
}

/*  Whether postings naming seq count: 1 the record is text-indexed, 0
 *  not (a dropped record's postings stay with its commit's: no record;
 *  a record there but not indexed is a problem), < 0 an error. */
static int
s_indexed (s_check_t *c, uint64_t seq)
{
    char key [9];
    c->val.size = 0;
    int rc = ts_store_get_raw (c->store, key, ts_key_text_doc (key, seq), &c->val);
    if (rc != TS_ENOTFOUND)
        return rc ? rc : 1;
    c->val.size = 0;
    rc = ts_store_get_raw (c->store, key, ts_key_data (key, seq), &c->val);
    if (rc == TS_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    s_check_problem (c, "postings name sequence %llu, which is not text-indexed",
                     (unsigned long long) seq);
    return 0;
}

static int
s_check_post (void *arg, const search_post_t *p)
{
    s_check_t *c = arg;
    if (search_grow (&c->pairs, &c->pairs_cap, p->tf, sizeof *c->pairs, 16))
        return TS_ENOMEM;
    size_t n = search_positions (p, c->pairs, p->tf);
    int rc = s_indexed (c, p->seq);
    if (rc <= 0)
        return rc;
    c->psum += s_digest (c->term, c->term_len, p->seq, c->pairs, n);
    c->pcount++;
    return 0;
}

/*  F seg8: the segment's times, each record's digest. */
static int
s_check_times (s_check_t *c, int64_t seg, const uint8_t *p, size_t vlen)
{
    c->times_seg = 0;
    int rc = search_times_decode (p, p + vlen, (uint64_t) seg, &c->times);
    if (rc == TS_ECORRUPT) {
        s_check_problem (c, "the times of segment %lld do not decode", (long long) seg);
        return 0;
    }
    for (size_t i = 0; i < c->times.n && !rc; i++) {
        rc = s_indexed (c, c->times.at [i].seq);
        if (rc == 1) {
            c->tpsum += s_time_digest (c->times.at [i].seq, c->times.at [i].time);
            c->tpcount++;
            rc = 0;
        }
    }
    c->times_seg = seg;
    return rc;
}

/*  F seg8 term: each posting's digest. */
static int
s_check_block (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_check_t *c = arg;
    int64_t seg = klen >= 9 ? ts_key_get_i64 (key + 1) : 0;
    if (seg <= 0 || memchr (key + 9, 0, klen - 9)) {
        s_check_problem (c, "a postings key of %zu bytes is malformed", klen);
        return 0;
    }
    const uint8_t *p = (const uint8_t *) val;
    if (klen == 9)
        return s_check_times (c, seg, p, vlen);
    if (c->times_seg != seg) {          /* F seg8 comes first in a segment */
        s_check_problem (c, "segment %lld has postings but no times", (long long) seg);
        return 0;
    }
    c->term = key + 9;
    c->term_len = klen - 9;
    int rc = search_block_decode (p, p + vlen, (uint64_t) seg, &c->times, s_check_post, c);
    if (rc == TS_ECORRUPT) {
        s_check_problem (c, "the postings of a term (%zu bytes) do not decode", vlen);
        return 0;
    }
    return rc;
}

int
ts_search_check (ts_store_t *store, uint64_t *problems, char *first, size_t size,
                 uint64_t *postings, uint64_t *indexed)
{
    s_check_t c;
    memset (&c, 0, sizeof c);
    c.store = store;
    c.problems = problems;
    c.first = first;
    c.size = size;
    uint64_t had = *problems;
    char tag = TS_TAG_TEXT_DOC;
    ts_scan_t sc = { .prefix = &tag, .prefix_len = 1 };
    int rc = ts_store_scan (store, &sc, s_check_doc, &c);
    if (!rc) {
        tag = TS_TAG_TEXT;
        rc = ts_store_scan (store, &sc, s_check_block, &c);
    }
    if (!rc && had == *problems && (c.count != c.pcount || c.sum != c.psum)) {
        s_check_problem (&c, "postings disagree with the text of the indexed records: "
                         "%llu postings stored, the text calls for %llu",
                         (unsigned long long) c.pcount, (unsigned long long) c.count);
    }
    if (!rc && had == *problems && (c.tcount != c.tpcount || c.tsum != c.tpsum)) {
        s_check_problem (&c, "the segments' times disagree with the indexed records: "
                         "%llu stored, the records call for %llu",
                         (unsigned long long) c.tpcount, (unsigned long long) c.tcount);
    }
    *postings = c.pcount;
    *indexed = c.indexed;
    search_rec_free (&c.rec);
    ts_buf_free (&c.val);
    free (c.pairs);
    search_times_free (&c.times);
    return rc;
}
