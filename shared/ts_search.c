/*  ts_search.c: full-text queries over a shard's postings (ts_search.h;
 *  docs/SEARCH.md). The parts:
 *
 *    ts_search_steps.c  the steps: a profile's steps pointer (alternatives
 *                       "/a|/b") resolved on the stored object; each element
 *                       of the array there is a step; every string in it
 *                       that is not a map key is text (message contents,
 *                       tool call names and arguments, tool results),
 *                       tokenized (ts_text.h) with positions counted from 0
 *                       in each step and a gap of one between strings, so a
 *                       phrase never spans two
 *    ts_search_write.c  the write side: store_text_add gathers postings per
 *                       term in memory; store_text_flush writes them: the
 *                       one function through which postings reach the tree
 *    ts_search_codec.c  varints and the decoding of an F value
 *    ts_search.c        the read side: parsing a query; ts_search_run: each
 *                       term's postings, intersected, phrases checked on
 *                       positions, ordered, filtered on the records'
 *                       summaries, a snippet cut for each hit
 *    ts_search_check.c  the checker: digests of the postings against
 *                       digests of the indexed records' text
 */
#include "ts_search_int.h"
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_msg.h"
#include "ts_mp.h"

#include <assert.h>
#include <math.h>
#include <xxhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- queries --------------------------------------------------------------- */

typedef struct {
    ts_search_query_t *q;
    uint32_t base;              /* the clause's first position */
    bool     phrase;            /* inside quotes: one clause */
    bool     started;
    bool     last_cjk;          /* the last token was a CJK one */
    int      rc;
} s_parse_t;

static int
s_q_emit (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
          size_t off, size_t end)
{
    (void) off; (void) end;
    s_parse_t *p = arg;
    ts_search_query_t *q = p->q;
    if (kind == TS_TOK_PART)
        return 0;                       /* an identifier is searched whole */
    if (q->nterms == TS_SEARCH_TERMS_MAX)
        return p->rc = TS_ETOOBIG;
    /* a word outside quotes is a clause of its own, and so is each CJK
     * run (its bigrams consecutive): a new clause unless this token
     * continues the current one */
    bool cont = p->started && (p->phrase || (kind == TS_TOK_CJK && p->last_cjk
                && q->terms [q->nterms - 1].rel + p->base + 1 == pos));
    p->last_cjk = kind == TS_TOK_CJK;
    if (!cont) {
        if (q->nclauses == TS_SEARCH_CLAUSES_MAX)
            return p->rc = TS_ETOOBIG;
        q->clauses [q->nclauses++] = (ts_search_clause_t) { q->nterms, 0 };
        p->base = pos;
        p->started = true;
    }
    ts_search_term_t *t = &q->terms [q->nterms++];
    memcpy (t->text, tok, len);
    t->text [len] = 0;
    t->len = (uint32_t) len;
    t->rel = pos - p->base;
    q->clauses [q->nclauses - 1].n++;
    return 0;
}

int
ts_search_parse (const char *text, size_t len, ts_search_query_t *q, char *err, size_t esz)
{
    memset (q, 0, sizeof *q);
    if (len > TS_SEARCH_QUERY_MAX) {
        snprintf (err, esz, "the query is longer than %d bytes", TS_SEARCH_QUERY_MAX);
        return TS_EINVAL;
    }
    size_t i = 0;
    uint32_t pos = 0;
    while (i < len) {
        bool phrase = text [i] == '"';
        size_t a = phrase ? i + 1 : i, b = a;
        if (phrase) {
            while (b < len && text [b] != '"')
                b++;
            if (b == len) {
                snprintf (err, esz, "the query has an unclosed quote");
                return TS_EINVAL;
            }
        }
        else
            while (b < len && text [b] != '"')
                b++;
        s_parse_t p = { q, 0, phrase, false, false, 0 };
        pos += 2;                       /* nothing continues across a quote */
        ts_text_tokens (text + a, b - a, &pos, s_q_emit, &p);
        if (p.rc) {
            snprintf (err, esz, "the query has more than %d words or %d terms",
                      TS_SEARCH_CLAUSES_MAX, TS_SEARCH_TERMS_MAX);
            return TS_EINVAL;
        }
        i = phrase ? b + 1 : b;
    }
    if (q->nclauses == 0) {
        snprintf (err, esz, "the query has no word to search for");
        return TS_EINVAL;
    }
    return 0;
}

int
ts_search_request (ts_listing_t *l, const void *data, size_t len, ts_search_query_t *q,
                   ts_search_order_t *order, char *err, size_t esz)
{
    ts_hdrin_t in = { 0 };
    in.data = data;
    in.len = len;
    static const char *const refused [] = { "sort", "cursor", "fields" };
    static const char *const why [] = {
        "search orders by \"order\": newest or relevance",
        "search pages with \"after\": the \"next\" of the page before",
        "search answers summaries with their step and snippet" };
    for (int i = 0; i < 3; i++) {
        ts_mp_reader_t r;
        if (ts_hdr_find (&in, refused [i], &r)) {
            snprintf (err, esz, "field \"%s\": %s", refused [i], why [i]);
            return TS_EBADREQ;
        }
    }
    int rc = ts_listing_parse (l, data, len, TS_SEARCH_DEFAULT_LIMIT, 0, err, esz);
    if (rc)
        return rc;
    uint32_t qlen;
    const char *text = ts_hdr_get_str (&in, "q", &qlen);
    if (!text) {
        snprintf (err, esz, "field \"q\": want a string, the words to search for");
        return TS_EBADREQ;
    }
    char why2 [200];
    if (ts_search_parse (text, qlen, q, why2, sizeof why2)) {
        snprintf (err, esz, "field \"q\": %s", why2);
        return TS_EBADREQ;
    }
    *order = TS_SEARCH_NEWEST;
    ts_mp_reader_t r;
    if (ts_hdr_find (&in, "order", &r)) {
        char o [16] = "";
        if (!ts_hdr_copy_str (&in, "order", o, sizeof o)
        ||  (strcmp (o, "newest") && strcmp (o, "relevance"))) {
            snprintf (err, esz, "field \"order\": want \"newest\" or \"relevance\"");
            return TS_EBADREQ;
        }
        *order = o [0] == 'r' ? TS_SEARCH_RELEVANCE : TS_SEARCH_NEWEST;
    }
    q->hash = XXH3_64bits_withSeed (text, qlen, l->filter_hash) + (uint64_t) *order;
    if (ts_hdr_find (&in, "after", &r))
        return ts_search_after_parse (q, *order, &r, err, esz);
    return 0;
}

/* --- the read side ------------------------------------------------------- */

typedef struct {
    ts_buf_t  raw;              /* the F values, back to back */
    search_post_t *posts;       /* by sequence */
    size_t    n, cap;
} s_list_t;

typedef struct {
    ts_buf_t  raw;
    size_t   *starts;           /* (offset, segment's index, length) triples */
    size_t    nstarts, cap;
    uint64_t *segs;             /* the store's segments, ascending */
    size_t    nsegs, segs_cap;
    search_times_t *times;      /* each segment's, read when a term is in it */
    bool     *timed;
    size_t    times_cap;
} s_scan_acc_t;

static int
s_seg_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) val; (void) vlen;
    if (klen < 9)
        return TS_ECORRUPT;
    *(uint64_t *) arg = (uint64_t) ts_key_get_i64 (key + 1);
    return 1;
}

/*  The segments of a store (F seg8 term: the first key from F seg8 on
 *  names the next one), one jump a segment. */
static int
s_load_segments (ts_store_t *st, s_scan_acc_t *acc)
{
    char tag = TS_TAG_TEXT, from [9];
    uint64_t next = 1;
    acc->nsegs = 0;
    for (;;) {
        uint64_t seg = 0;
        ts_scan_t sc = { .prefix = &tag, .prefix_len = 1,
                         .from = from, .from_len = ts_key_text_segment (from, next) };
        int rc = ts_store_scan (st, &sc, s_seg_visit, &seg);
        if (rc || seg == 0)
            return rc;
        if (seg < next)                 /* not a segment key: ts_search_check says so */
            return 0;
        if (search_grow (&acc->segs, &acc->segs_cap, acc->nsegs + 1, sizeof *acc->segs, 16))
            return TS_ENOMEM;
        if (acc->nsegs == acc->times_cap) {
            size_t had = acc->times_cap, c = had;
            if (search_grow (&acc->times, &c, had + 1, sizeof *acc->times, 16))
                return TS_ENOMEM;
            memset (acc->times + had, 0, (c - had) * sizeof *acc->times);
            if (search_grow (&acc->timed, &acc->times_cap, had + 1, sizeof *acc->timed, 16))
                return TS_ENOMEM;
        }
        acc->timed [acc->nsegs] = false;
        acc->segs [acc->nsegs++] = seg;
        next = seg + 1;
    }
}

static int
s_list_add (void *arg, const search_post_t *p)
{
    s_list_t *l = arg;
    if (search_grow (&l->posts, &l->cap, l->n + 1, sizeof *l->posts, 256))
        return TS_ENOMEM;
    l->posts [l->n++] = *p;
    return 0;
}

/*  Reads the times of segment i (F seg8) into acc->times [i], once. */
static int
s_load_times (ts_store_t *st, s_scan_acc_t *acc, size_t i)
{
    char key [9];
    ts_buf_t v = { 0 };
    int rc = ts_store_get_raw (st, key, ts_key_text_segment (key, acc->segs [i]), &v);
    if (rc == TS_ENOTFOUND)
        rc = TS_ECORRUPT;               /* a segment without its times */
    if (!rc)
        rc = search_times_decode ((const uint8_t *) v.data, (const uint8_t *) v.data + v.size,
                                  acc->segs [i], &acc->times [i]);
    ts_buf_free (&v);
    acc->timed [i] = rc == 0;
    return rc;
}

/*  Reads the postings of one term in one store into l (replacing them):
 *  its entry in each of the store's segments (acc->segs), in order. */
static int
s_load_list (ts_store_t *st, const ts_search_term_t *t, s_list_t *l, s_scan_acc_t *acc)
{
    char key [TS_TEXT_TOKEN_MAX + 16];
    acc->raw.size = 0;
    acc->nstarts = 0;
    int rc = 0;
    for (size_t i = 0; i < acc->nsegs && !rc; i++) {
        size_t prefix = ts_key_text_segment (key, acc->segs [i]), had = acc->raw.size;
        memcpy (key + prefix, t->text, t->len);
        rc = ts_store_get_raw (st, key, prefix + t->len, &acc->raw);
        if (rc == TS_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (!rc && !acc->timed [i])
            rc = s_load_times (st, acc, i);
        if (rc || search_grow (&acc->starts, &acc->cap, acc->nstarts + 3, sizeof *acc->starts, 64))
            return rc ? rc : TS_ENOMEM;
        acc->starts [acc->nstarts++] = had;
        acc->starts [acc->nstarts++] = i;
        acc->starts [acc->nstarts++] = acc->raw.size - had;
    }
    if (rc)
        return rc;
    l->n = 0;
    ts_buf_t had = l->raw;              /* the read bytes become the list's */
    l->raw = acc->raw;
    acc->raw = had;
    acc->raw.size = 0;
    for (size_t i = 0; i < acc->nstarts && !rc; i += 3) {
        const uint8_t *p = (const uint8_t *) l->raw.data + acc->starts [i];
        size_t seg = acc->starts [i + 1];
        rc = search_block_decode (p, p + acc->starts [i + 2], acc->segs [seg], &acc->times [seg],
                                  s_list_add, l);
    }
    return rc;
}

static bool
s_find (const s_list_t *l, uint64_t seq, size_t *at)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (l->posts [mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return lo < l->n && l->posts [lo].seq == seq;
}

static bool
s_has_pair (const uint64_t *a, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a [mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a [lo] == v;
}

typedef struct {
    uint32_t store;
    uint64_t seq;
    int64_t  time;
    double   score;
    uint64_t first;             /* the first hit: step << 32 | pos; S_UNCHECKED: */
    size_t   idx;               /* phrases not checked yet: its postings' indexes at s->idx [idx..] */
} s_cand_t;

#define S_UNCHECKED UINT64_MAX

typedef struct {
    const ts_search_query_t *q;
    s_list_t *all;                              /* [store * nterms + term] */
    s_list_t *lists;                            /* the row of the store being read */
    uint64_t *pa [TS_SEARCH_TERMS_MAX];         /* decoded positions */
    size_t    pa_cap [TS_SEARCH_TERMS_MAX];
    s_cand_t *cands;
    size_t    ncands, cap;
    size_t   *idx;                              /* of candidates whose phrases wait */
    size_t    nidx, idx_cap;
    bool      lazy;                             /* phrases checked as hits are taken */
    double    idf [TS_SEARCH_TERMS_MAX];
} s_search_t;

/*  Decodes term j's positions of posting p into s->pa[j]; their count. */
static size_t
s_decode_into (s_search_t *s, uint32_t j, const search_post_t *p)
{
    if (search_grow (&s->pa [j], &s->pa_cap [j], p->tf, sizeof *s->pa [j], 16))
        return 0;
    return search_positions (p, s->pa [j], p->tf);
}

/*  Does the record whose postings are at idx[] match every clause? Sets
 *  *first to its earliest hit. */
static bool
s_match (s_search_t *s, const size_t *idx, uint64_t *first)
{
    const ts_search_query_t *q = s->q;
    uint64_t best = UINT64_MAX;
    size_t np [TS_SEARCH_TERMS_MAX];
    for (uint32_t c = 0; c < q->nclauses; c++) {
        const ts_search_clause_t *cl = &q->clauses [c];
        uint32_t t0 = cl->first;
        if (cl->n == 1) {               /* one word: its first position is the hit */
            uint64_t first1;
            const search_post_t *p1 = &s->lists [t0].posts [idx [t0]];
            if (search_positions (p1, &first1, 1) != 1)
                return false;
            if (first1 < best)
                best = first1;
            continue;
        }
        for (uint32_t k = 0; k < cl->n; k++)
            np [t0 + k] = s_decode_into (s, t0 + k, &s->lists [t0 + k].posts [idx [t0 + k]]);
        bool ok = false;
        for (size_t i = 0; i < np [t0] && !ok; i++) {
            uint64_t o = s->pa [t0][i];
            uint32_t pos0 = (uint32_t) o;
            if (pos0 < q->terms [t0].rel)
                continue;
            uint64_t base = o - q->terms [t0].rel;
            ok = true;
            for (uint32_t k = 1; k < cl->n && ok; k++)
                ok = s_has_pair (s->pa [t0 + k], np [t0 + k], base + q->terms [t0 + k].rel);
            if (ok && o < best)
                best = o;
        }
        if (!ok)
            return false;
    }
    *first = best;
    return true;
}

/*  The candidates of one store: records in every term's list whose
 *  clauses match. */
static int
s_store_cands (s_search_t *s, uint32_t store)
{
    const ts_search_query_t *q = s->q;
    uint32_t small = 0;
    for (uint32_t j = 1; j < q->nterms; j++)
        if (s->lists [j].n < s->lists [small].n)
            small = j;
    for (size_t i = 0; i < s->lists [small].n; i++) {
        uint64_t seq = s->lists [small].posts [i].seq;
        size_t idx [TS_SEARCH_TERMS_MAX];
        bool all = true;
        for (uint32_t j = 0; j < q->nterms && all; j++)
            all = j == small ? (idx [j] = i, true) : s_find (&s->lists [j], seq, &idx [j]);
        uint64_t first = S_UNCHECKED;
        size_t at = s->nidx;
        if (!all)
            continue;
        if (s->lazy) {                  /* newest first: check phrases as hits are taken */
            if (search_grow (&s->idx, &s->idx_cap, s->nidx + q->nterms, sizeof *s->idx, 1024))
                return TS_ENOMEM;
            memcpy (s->idx + s->nidx, idx, q->nterms * sizeof *idx);
            s->nidx += q->nterms;
        }
        else if (!s_match (s, idx, &first))
            continue;
        if (search_grow (&s->cands, &s->cap, s->ncands + 1, sizeof *s->cands, 256))
            return TS_ENOMEM;
        double score = 0;
        for (uint32_t j = 0; j < q->nterms; j++) {
            double tf = s->lists [j].posts [idx [j]].tf;
            score += s->idf [j] * tf * 2.2 / (tf + 1.2);
        }
        s->cands [s->ncands++] = (s_cand_t) { store, seq, s->lists [small].posts [i].time, score,
                                              first, at };
    }
    return 0;
}

static int
s_cmp_newest (const void *a, const void *b)
{
    const s_cand_t *x = a, *y = b;
    if (x->time != y->time)
        return x->time > y->time ? -1 : 1;
    if (x->store != y->store)
        return x->store < y->store ? -1 : 1;
    return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static int
s_cmp_relevance (const void *a, const void *b)
{
    const s_cand_t *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return s_cmp_newest (a, b);
}

/*  Moves element i of a heap of n down to its place (the first in `cmp`
 *  order at the root). */
static void
s_sift (s_cand_t *h, size_t n, size_t i, int (*cmp) (const void *, const void *))
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cmp (&h [l], &h [m]) < 0)
            m = l;
        if (r < n && cmp (&h [r], &h [m]) < 0)
            m = r;
        if (m == i)
            return;
        s_cand_t t = h [i];
        h [i] = h [m];
        h [m] = t;
        i = m;
    }
}

int
ts_search_cmp (ts_search_order_t order, double sa, int64_t ta, const char *ida, size_t la,
               double sb, int64_t tb, const char *idb, size_t lb)
{
    if (order == TS_SEARCH_RELEVANCE && sa != sb)
        return sa > sb ? -1 : 1;
    if (ta != tb)
        return ta > tb ? -1 : 1;
    size_t n = la < lb ? la : lb;
    int c = memcmp (ida, idb, n);
    if (c)
        return -c;
    return la == lb ? 0 : la > lb ? -1 : 1;
}

/* --- snippets ------------------------------------------------------------ */

#define S_SNIP_BEFORE 80
#define S_SNIP_AFTER  160

typedef struct {
    uint32_t target;            /* the position looked for */
    bool     found;
    size_t   off, end;          /* its token's bytes */
    const char *str;
    size_t   len;
} s_snip_t;

static int
s_snip_tok (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
            size_t off, size_t end)
{
    (void) tok; (void) len; (void) kind;
    s_snip_t *sn = arg;
    if (pos == sn->target && !sn->found) {
        sn->found = true;
        sn->off = off;
        sn->end = end;
        return 1;
    }
    return 0;
}

static int
s_snip_str (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos)
{
    (void) step;
    s_snip_t *sn = arg;
    uint32_t at = *pos;
    int rc = ts_text_tokens (s, len, pos, s_snip_tok, sn);
    if (rc == 1) {
        sn->str = s;
        sn->len = len;
        return 1;
    }
    (void) at;
    return rc;
}

/*  The snippet of the hit at `first` in the object: up to S_SNIP_BEFORE
 *  bytes before its token and S_SNIP_AFTER after, at character
 *  boundaries, white space runs made one space, "…" where cut. */
static int
s_snippet (const char *obj, size_t olen, const char *spec, size_t slen, uint64_t first,
           ts_buf_t *out)
{
    s_snip_t sn = { .target = (uint32_t) first };
    const char *used;
    size_t used_len;
    int rc = search_walk_steps (obj, olen, spec, slen, (int64_t) (first >> 32), &used, &used_len,
                           s_snip_str, &sn);
    out->size = 0;
    if (rc < 0)
        return rc;
    if (!sn.found)
        return 0;
    size_t a = sn.off > S_SNIP_BEFORE ? sn.off - S_SNIP_BEFORE : 0;
    size_t b = sn.end + S_SNIP_AFTER < sn.len ? sn.end + S_SNIP_AFTER : sn.len;
    while (a > 0 && (sn.str [a] & 0xC0) == 0x80)
        a++;
    while (b < sn.len && (sn.str [b] & 0xC0) == 0x80)
        b--;
    if (a > 0 && ts_buf_append (out, "\xe2\x80\xa6", 3))
        return TS_ENOMEM;
    bool space = false;
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char) sn.str [i];
        bool ws = c == ' ' || c == '\n' || c == '\r' || c == '\t';
        if (ws && space)
            continue;
        space = ws;
        char ch = ws ? ' ' : (c < 0x20 ? ' ' : (char) c);
        if (ts_buf_append (out, &ch, 1))
            return TS_ENOMEM;
    }
    if (b < sn.len && ts_buf_append (out, "\xe2\x80\xa6", 3))
        return TS_ENOMEM;
    return 0;
}

/* --- a search ------------------------------------------------------------- */

static void
s_search_free (s_search_t *s, size_t nlists)
{
    for (size_t j = 0; s->all && j < nlists; j++) {
        ts_buf_free (&s->all [j].raw);
        free (s->all [j].posts);
    }
    for (uint32_t j = 0; j < TS_SEARCH_TERMS_MAX; j++)
        free (s->pa [j]);
    free (s->all);
    free (s->cands);
    free (s->idx);
}

/*  The steps pointer a record was indexed with (its H entry). */
static int
s_doc_spec (ts_store_t *st, uint64_t seq, ts_buf_t *out)
{
    char key [9];
    out->size = 0;
    return ts_store_get_raw (st, key, ts_key_text_doc (key, seq), out);
}

int
ts_search_run (ts_store_t *const *stores, size_t n, const ts_search_query_t *q,
               const ts_filter_t *f, ts_search_order_t order, uint32_t limit,
               ts_search_emit_fn *emit, void *arg, bool *more)
{
    *more = false;
    if (limit == 0 || limit > TS_QUERY_MAX_LIMIT || q->nterms == 0)
        return TS_EINVAL;
    s_search_t s;
    memset (&s, 0, sizeof s);
    s.q = q;
    s_scan_acc_t acc = { 0 };
    ts_buf_t rec = { 0 }, spec = { 0 }, snip = { 0 };
    int rc = 0;
    /* every term's postings in every store: the document frequencies
     * are over all of them */
    double nrec = 0, df [TS_SEARCH_TERMS_MAX] = { 0 };
    size_t nlists = n * q->nterms;
    s.all = calloc (nlists ? nlists : 1, sizeof *s.all);
    if (!s.all)
        rc = TS_ENOMEM;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!stores [i])
            continue;
        nrec += (double) ts_store_count (stores [i]);
        rc = s_load_segments (stores [i], &acc);
        for (uint32_t j = 0; j < q->nterms && !rc; j++) {
            s_list_t *l = &s.all [i * q->nterms + j];
            rc = s_load_list (stores [i], &q->terms [j], l, &acc);
            df [j] += (double) l->n;
        }
    }
    for (uint32_t j = 0; j < q->nterms; j++)
        s.idf [j] = log (1.0 + (nrec - df [j] + 0.5) / (df [j] + 0.5));
    /* newest first, a phrase is checked only for the records taken, in
     * order: a common phrase's first 20 hits, not every match's positions */
    for (uint32_t c = 0; c < q->nclauses; c++)
        s.lazy |= order == TS_SEARCH_NEWEST && q->clauses [c].n > 1;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!stores [i])
            continue;
        s.lists = &s.all [i * q->nterms];
        rc = s_store_cands (&s, (uint32_t) i);
    }
    /* a heap, not a sort: only the first few are usually taken */
    int (*cmp) (const void *, const void *) =
        order == TS_SEARCH_RELEVANCE ? s_cmp_relevance : s_cmp_newest;
    size_t left = rc ? 0 : s.ncands;
    for (size_t i = left / 2; i-- > 0; )
        s_sift (s.cands, left, i, cmp);
    uint32_t emitted = 0;
    while (left > 0 && !rc) {
        s_cand_t top = s.cands [0];
        s.cands [0] = s.cands [--left];
        s_sift (s.cands, left, 0, cmp);
        s_cand_t *cd = &top;
        /* a page after a hit: those before it in the order are passed
         * without reading their records, unless they tie on it */
        if (q->has_after && (order == TS_SEARCH_RELEVANCE ? cd->score > q->after_score
                             || (cd->score == q->after_score && cd->time > q->after_time)
                                                          : cd->time > q->after_time))
            continue;
        if (cd->first == S_UNCHECKED) {
            s.lists = &s.all [cd->store * q->nterms];
            if (!s_match (&s, s.idx + cd->idx, &cd->first))
                continue;
        }
        ts_store_t *st = stores [cd->store];
        char key [9];
        rec.size = 0;
        rc = ts_store_get_raw (st, key, ts_key_data (key, cd->seq), &rec);
        if (rc == TS_ENOTFOUND) {       /* dropped (drop --run): its postings stay */
            rc = 0;
            continue;
        }
        ts_summary_t sum;
        size_t used;
        if (!rc && ts_summary_unpack_buf (rec.data, rec.size, &sum, &used))
            rc = TS_ECORRUPT;
        if (rc)
            break;
        if (q->has_after && ts_search_cmp (order, cd->score, cd->time, sum.id, sum.id_len,
                                           q->after_score, q->after_time, q->after_id,
                                           q->after_id_len) <= 0)
            continue;
        if (!ts_filter_match (f, &sum) || (f->nlabels && !ts_filter_match_labels (f, st, &sum)))
            continue;
        if (emitted == limit) {
            *more = true;
            break;
        }
        rc = s_doc_spec (st, cd->seq, &spec);
        if (rc == TS_ENOTFOUND)         /* the checker reports it */
            rc = 0;
        if (!rc)
            rc = s_snippet (rec.data + used, rec.size - used, spec.data ? spec.data : "", spec.size,
                            cd->first, &snip);
        if (rc)
            break;
        ts_search_hit_t hit = { cd->score, cd->time, (uint32_t) (cd->first >> 32),
                                snip.data ? snip.data : "", snip.size };
        rc = emit (arg, &sum, rec.data, used, &hit);
        emitted++;
    }
    s_search_free (&s, nlists);
    ts_buf_free (&acc.raw);
    free (acc.starts);
    free (acc.segs);
    for (size_t i = 0; i < acc.times_cap; i++)
        search_times_free (&acc.times [i]);
    free (acc.times);
    free (acc.timed);
    ts_buf_free (&rec);
    ts_buf_free (&spec);
    ts_buf_free (&snip);
    return rc;
}

/* --- the checker ---------------------------------------------------------- */

