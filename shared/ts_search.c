/*  ts_search.c: the full-text index of a shard and searches over it
 *  (ts_search.h; docs/SEARCH.md).
 *
 *    the steps        a profile's steps pointer (alternatives "/a|/b") is
 *                     resolved on the stored object; each element of the
 *                     array there is a step; every string in it that is not
 *                     a map key is text (message contents, tool call names
 *                     and arguments, tool results), tokenized (ts_text.h)
 *                     with positions counted from 0 in each step and a gap
 *                     of one between strings, so a phrase never spans two
 *    the write side   store_text_add gathers a commit's postings per term
 *                     in memory; store_text_flush writes them, one F entry
 *                     a term, in the commit's transaction: the one function
 *                     through which postings reach the tree
 *    the read side    ts_search_run: each term's postings, intersected,
 *                     phrases checked on positions, ordered, filtered on
 *                     the records' summaries, a snippet cut for each hit
 *    the checker      ts_search_check: digests of the postings against
 *                     digests of the indexed records' text
 */
#include "ts_search.h"
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_msg.h"
#include "ts_mp.h"
#include "ts_profile.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

#define S_DEPTH 64                      /* records nest at most 28 levels */

/* --- varints ------------------------------------------------------------- */

/*  Writes v as a varint at out (room for 10 bytes): its length. */
static size_t
s_varint (char *out, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        out [n++] = (char) (v | 0x80);
        v >>= 7;
    }
    out [n++] = (char) v;
    return n;
}

static int
s_put_varint (ts_buf_t *b, uint64_t v)
{
    char tmp [10];
    return ts_buf_append (b, tmp, s_varint (tmp, v));
}

static bool
s_get_varint (const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t c = *(*p)++;
        x |= (uint64_t) (c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

static uint64_t s_zz (int64_t v) { return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63); }
static int64_t s_unzz (uint64_t v) { return (int64_t) (v >> 1) ^ -(int64_t) (v & 1); }

/*  Makes room for `need` elements of `size` bytes in *arr (capacity *cap,
 *  doubled from at least `first`). 0 or TS_ENOMEM. */
static int
s_grow (void *arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need)
        c *= 2;
    void *x = realloc (*(void **) arr, c * size);
    if (!x)
        return TS_ENOMEM;
    *(void **) arr = x;
    *cap = c;
    return 0;
}

/* --- the steps of a record ----------------------------------------------- */

/*  Positions `r` at the value of one JSON pointer in the msgpack value at
 *  r ("" the whole value; a segment "*" the first member or element). */
static bool
s_pointer (ts_mp_reader_t *r, const char *ptr, size_t plen)
{
    size_t i = 0;
    if (plen == 0)
        return true;
    if (ptr [0] != '/')
        return false;
    while (i < plen) {
        char seg [TS_POINTER_MAX];
        size_t sl = 0;
        i++;                            /* the '/' */
        while (i < plen && ptr [i] != '/' && sl < sizeof seg) {
            if (ptr [i] == '~' && i + 1 < plen && (ptr [i + 1] == '0' || ptr [i + 1] == '1')) {
                seg [sl++] = ptr [i + 1] == '0' ? '~' : '/';
                i += 2;
            }
            else
                seg [sl++] = ptr [i++];
        }
        ts_mp_item_t it;
        if (ts_mp_next (r, &it))
            return false;
        bool star = sl == 1 && seg [0] == '*';
        if (it.type == TS_MP_MAP) {
            bool found = false;
            for (uint32_t k = 0; k < it.len && !found; k++) {
                ts_mp_item_t key;
                if (ts_mp_next (r, &key))
                    return false;
                if (star || (key.type == TS_MP_STR && key.len == sl && !memcmp (key.ptr, seg, sl)))
                    found = true;
                else if (ts_mp_skip (r))
                    return false;
            }
            if (!found)
                return false;
        }
        else if (it.type == TS_MP_ARRAY) {
            uint64_t idx = 0;
            if (!star) {
                if (sl == 0 || sl > 9)
                    return false;
                for (size_t k = 0; k < sl; k++) {
                    if (seg [k] < '0' || seg [k] > '9')
                        return false;
                    idx = idx * 10 + (uint64_t) (seg [k] - '0');
                }
            }
            if (idx >= it.len)
                return false;
            for (uint64_t k = 0; k < idx; k++)
                if (ts_mp_skip (r))
                    return false;
        }
        else
            return false;
    }
    return true;
}

/*  Called for each text string of each step, with the step's position
 *  counter; it must advance *pos past the string's tokens. */
typedef int (s_str_fn) (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos);

/*  Walks the strings of one value that are not map keys, in order. */
static int
s_walk_value (ts_mp_reader_t *r, uint32_t step, s_str_fn *fn, void *arg)
{
    struct { uint64_t left; bool map, key_next; } st [S_DEPTH];
    int depth = 0, rc = 0;
    uint32_t pos = 0;
    do {
        ts_mp_item_t it;
        if (ts_mp_next (r, &it))
            return TS_ECORRUPT;
        bool key = false;
        if (depth > 0) {
            if (st [depth - 1].map) {
                key = st [depth - 1].key_next;
                st [depth - 1].key_next = !key;
            }
            st [depth - 1].left--;
        }
        if (it.type == TS_MP_STR && !key && it.len > 0) {
            if ((rc = fn (arg, step, it.ptr, it.len, &pos)))
                return rc;
            pos++;                      /* no phrase across two strings */
        }
        if ((it.type == TS_MP_ARRAY || it.type == TS_MP_MAP) && it.len > 0) {
            if (depth == S_DEPTH)
                return TS_ECORRUPT;
            st [depth].left = it.type == TS_MP_MAP ? 2 * (uint64_t) it.len : it.len;
            st [depth].map = it.type == TS_MP_MAP;
            st [depth].key_next = true;
            depth++;
        }
        while (depth > 0 && st [depth - 1].left == 0)
            depth--;
    } while (depth > 0);
    return 0;
}

/*  The steps of an object: resolves the alternatives of `spec` ("/a|/b")
 *  in order; the first present is the steps (*used, *used_len name it, in
 *  spec). Each element of an array there is walked as a step; `only`
 *  (when >= 0) walks that step alone. Another value is no steps. */
static int
s_walk_steps (const char *obj, size_t olen, const char *spec, size_t slen, int64_t only,
              const char **used, size_t *used_len, s_str_fn *fn, void *arg)
{
    *used = spec;
    *used_len = 0;
    size_t a = 0;
    while (a <= slen) {
        size_t b = a;
        while (b < slen && spec [b] != '|')
            b++;
        ts_mp_reader_t r;
        ts_mp_reader_init (&r, obj, olen);
        if (b > a && s_pointer (&r, spec + a, b - a)) {
            *used = spec + a;
            *used_len = b - a;
            ts_mp_item_t it;
            ts_mp_reader_t peek = r;
            if (ts_mp_next (&peek, &it) || it.type != TS_MP_ARRAY)
                return 0;
            r = peek;
            for (uint32_t i = 0; i < it.len; i++) {
                if (only >= 0 && i != (uint64_t) only) {
                    if (ts_mp_skip (&r))
                        return TS_ECORRUPT;
                    continue;
                }
                int rc = s_walk_value (&r, i, fn, arg);
                if (rc)
                    return rc;
                if (only >= 0)
                    break;
            }
            return 0;
        }
        a = b + 1;
    }
    return 0;
}

/* --- one record's terms, grouped ------------------------------------------ */

typedef struct {
    uint32_t off;               /* the term's bytes in the arena */
    uint32_t len;
    uint32_t step, pos;
    uint32_t order;             /* emission order: a stable sort */
} s_tok_t;

typedef struct {
    ts_buf_t  arena;
    s_tok_t  *toks;
    size_t    ntoks, cap;
    uint32_t  step;             /* of the string being tokenized */
    uint64_t *pairs;            /* one group's (step << 32 | pos) */
    size_t    npairs, pairs_cap;
} s_rec_t;

static int
s_tok_emit (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
            size_t off, size_t end)
{
    (void) kind; (void) off; (void) end;
    s_rec_t *r = arg;
    if (s_grow (&r->toks, &r->cap, r->ntoks + 1, sizeof *r->toks, 1024))
        return TS_ENOMEM;
    r->toks [r->ntoks] = (s_tok_t) { (uint32_t) r->arena.size, (uint32_t) len, r->step, pos,
                                     (uint32_t) r->ntoks };
    r->ntoks++;
    return ts_buf_append (&r->arena, tok, len) ? TS_ENOMEM : 0;
}

static int
s_rec_str (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos)
{
    s_rec_t *r = arg;
    r->step = step;
    return ts_text_tokens (s, len, pos, s_tok_emit, r);
}

static const char *s_sort_arena;

static int
s_tok_cmp (const void *a, const void *b)
{
    const s_tok_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp (s_sort_arena + x->off, s_sort_arena + y->off, n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

/*  Called for each distinct term of a record with its positions
 *  (step << 32 | pos, ascending). */
typedef int (s_group_fn) (void *arg, const char *term, size_t len, const uint64_t *pairs,
                          size_t n);

/*  Tokenizes the record's steps and hands each term's positions to fn.
 *  *used names the pointer that held the steps. */
static int
s_record_terms (s_rec_t *r, const char *obj, size_t olen, const char *spec, size_t slen,
                const char **used, size_t *used_len, s_group_fn *fn, void *arg)
{
    r->arena.size = 0;
    r->ntoks = 0;
    int rc = s_walk_steps (obj, olen, spec, slen, -1, used, used_len, s_rec_str, r);
    if (rc)
        return rc;
    s_sort_arena = r->arena.data;       /* the worker's one thread */
    if (r->ntoks)                       /* toks is NULL before the first token */
        qsort (r->toks, r->ntoks, sizeof *r->toks, s_tok_cmp);
    for (size_t i = 0; i < r->ntoks && !rc; ) {
        size_t j = i;
        r->npairs = 0;
        while (j < r->ntoks && r->toks [j].len == r->toks [i].len
           &&  !memcmp (r->arena.data + r->toks [j].off, r->arena.data + r->toks [i].off, r->toks [i].len)) {
            if (s_grow (&r->pairs, &r->pairs_cap, r->npairs + 1, sizeof *r->pairs, 256))
                return TS_ENOMEM;
            uint64_t pr = (uint64_t) r->toks [j].step << 32 | r->toks [j].pos;
            /* a word and its one part at the same place count once */
            if (r->npairs == 0 || r->pairs [r->npairs - 1] != pr)
                r->pairs [r->npairs++] = pr;
            j++;
        }
        rc = fn (arg, r->arena.data + r->toks [i].off, r->toks [i].len, r->pairs, r->npairs);
        i = j;
    }
    return rc;
}

static void
s_rec_free (s_rec_t *r)
{
    ts_buf_free (&r->arena);
    free (r->toks);
    free (r->pairs);
    memset (r, 0, sizeof *r);
}

/* --- the write side -------------------------------------------------------- */

/*  One term's postings in the open transaction. Tokens arrive in the
 *  record's order, so a term's positions in one record come ascending: the
 *  record's entry is open while they come (S_HDR_MAX bytes held for its
 *  header, then its positions) and closed, the header written and the
 *  positions moved up to it, when another record's token for the term
 *  comes or the postings are written. No per-record sort. */
#define S_HDR_MAX 25                    /* three varints: 10 + 10 + 5 */

typedef struct {
    uint64_t first, last;       /* sequences of the block's first and last closed records */
    int64_t  last_time;
    ts_buf_t buf;
    bool     open;              /* a record's entry is open: */
    uint64_t oseq;              /* its sequence and time */
    int64_t  otime;
    size_t   hdr_at;            /* where its header goes */
    uint32_t n;                 /* its positions so far */
    uint64_t lastpair;          /* the last one (step << 32 | pos) */
} s_block_t;

struct ts_postings {
    ts_map_t *terms;            /* term -> s_block_t */
    uint64_t  seq;              /* the record being added */
    int64_t   time;
    uint32_t  step;             /* the step being tokenized */
    int       rc;
};

static void
s_block_free (void *v)
{
    s_block_t *b = v;
    ts_buf_free (&b->buf);
    free (b);
}

/*  Closes the open entry: its header in front of its positions. */
static void
s_block_close (s_block_t *b)
{
    char hdr [S_HDR_MAX];
    size_t h = s_varint (hdr, b->oseq - b->last);
    h += s_varint (hdr + h, s_zz (b->otime - b->last_time));
    h += s_varint (hdr + h, b->n);
    size_t body = b->buf.size - b->hdr_at - S_HDR_MAX;
    memcpy (b->buf.data + b->hdr_at, hdr, h);
    memmove (b->buf.data + b->hdr_at + h, b->buf.data + b->hdr_at + S_HDR_MAX, body);
    b->buf.size = b->hdr_at + h + body;
    b->last = b->oseq;
    b->last_time = b->otime;
    b->open = false;
}

static int
s_tok_write (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
             size_t off, size_t end)
{
    (void) kind; (void) off; (void) end;
    ts_postings_t *p = arg;
    s_block_t *b = ts_map_get (p->terms, tok, len);
    if (!b) {
        b = calloc (1, sizeof *b);
        if (!b || ts_map_put (p->terms, tok, len, b)) {
            free (b);
            return p->rc = TS_ENOMEM;
        }
        b->first = b->last = p->seq;
    }
    if (b->open && b->oseq != p->seq)
        s_block_close (b);
    uint64_t pair = (uint64_t) p->step << 32 | pos;
    if (!b->open) {
        b->open = true;
        b->oseq = p->seq;
        b->otime = p->time;
        b->hdr_at = b->buf.size;
        b->n = 0;
        char zero [S_HDR_MAX] = { 0 };
        if (ts_buf_append (&b->buf, zero, sizeof zero))
            return p->rc = TS_ENOMEM;
    }
    else if (pair == b->lastpair)
        return 0;                       /* a word and its one part at the same place */
    uint32_t ls = (uint32_t) (b->lastpair >> 32), lp = (uint32_t) b->lastpair;
    bool same = b->n > 0 && ls == p->step;
    uint32_t dstep = b->n > 0 ? p->step - ls : p->step;
    if (s_put_varint (&b->buf, dstep) || s_put_varint (&b->buf, same ? pos - lp : pos))
        return p->rc = TS_ENOMEM;
    b->lastpair = pair;
    b->n++;
    return 0;
}

static int
s_write_str (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos)
{
    ts_postings_t *p = arg;
    p->step = step;
    return ts_text_tokens (s, len, pos, s_tok_write, p);
}

int
store_text_add (ts_store_t *self, uint64_t seq, int64_t time, const char *obj, size_t olen,
                const char *spec, size_t slen)
{
    if (!self->text) {
        self->text = calloc (1, sizeof *self->text);
        if (!self->text || !(self->text->terms = ts_map_new (s_block_free)))
            goto nomem;
    }
    ts_postings_t *p = self->text;
    p->seq = seq;
    p->time = time;
    p->rc = 0;
    const char *used;
    size_t used_len;
    int rc = s_walk_steps (obj, olen, spec, slen, -1, &used, &used_len, s_write_str, p);
    if (rc == TS_ENOMEM || p->rc == TS_ENOMEM)
        goto nomem;
    if (rc) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: record %llu: its steps do not decode",
                  self->path, (unsigned long long) seq);
        return rc;
    }
    char key [9];
    if (!kcdbset (self->db, key, ts_key_text_doc (key, seq), used, used_len))
        return store_kc_error (self, "write text index mark");
    return 0;
nomem:
    snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
    return TS_ENOMEM;
}

int
store_text_flush (ts_store_t *self)
{
    ts_postings_t *p = self->text;
    if (!p || !ts_map_size (p->terms))
        return 0;
    size_t pos = 0, klen;
    const void *k;
    void *v;
    char key [TS_TEXT_TOKEN_MAX + 16];
    int rc = 0;
    while (!rc && ts_map_next (p->terms, &pos, &k, &klen, &v)) {
        s_block_t *b = v;
        if (b->open)
            s_block_close (b);
        key [0] = TS_TAG_TEXT;
        memcpy (key + 1, k, klen);
        key [1 + klen] = 0;
        ts_key_put_i64 (key + 2 + klen, (int64_t) b->first);
        if (!kcdbset (self->db, key, klen + 10, b->buf.data, b->buf.size))
            rc = store_kc_error (self, "write postings");
    }
    store_text_reset (self);
    return rc;
}

void
store_text_reset (ts_store_t *self)
{
    if (self->text)
        ts_map_clear (self->text->terms);
}

void
store_text_free (ts_store_t *self)
{
    if (!self->text)
        return;
    ts_map_destroy (&self->text->terms);
    free (self->text);
    self->text = NULL;
}

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
    uint64_t seq;
    int64_t  time;
    uint32_t tf;
    uint32_t plen;
    const uint8_t *pos;         /* tf (step, pos) pairs, encoded */
} s_post_t;

typedef struct {
    ts_buf_t  raw;              /* the F values, back to back */
    s_post_t *posts;            /* by sequence */
    size_t    n, cap;
} s_list_t;

typedef struct {
    ts_buf_t raw;
    size_t  *starts;            /* (offset, first seq) pairs */
    size_t   nstarts, cap;
} s_scan_acc_t;

static int
s_list_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_scan_acc_t *a = arg;
    if (klen < 9)
        return TS_ECORRUPT;
    if (s_grow (&a->starts, &a->cap, a->nstarts + 3, sizeof *a->starts, 64))
        return TS_ENOMEM;
    a->starts [a->nstarts++] = a->raw.size;
    a->starts [a->nstarts++] = (size_t) ts_key_get_i64 (key + klen - 8);
    a->starts [a->nstarts++] = vlen;
    return ts_buf_append (&a->raw, val, vlen) ? TS_ENOMEM : 0;
}

/*  Decodes one F value (first sequence `first`): calls fn per record. */
typedef int (s_post_fn) (void *arg, const s_post_t *p);

static int
s_block_decode (const uint8_t *p, const uint8_t *end, uint64_t first, s_post_fn *fn, void *arg)
{
    uint64_t seq = first;
    int64_t time = 0;
    while (p < end) {
        uint64_t d, t, n;
        if (!s_get_varint (&p, end, &d) || !s_get_varint (&p, end, &t) || !s_get_varint (&p, end, &n)
        ||  n == 0 || n > (uint64_t) (end - p))
            return TS_ECORRUPT;
        seq += d;
        time += s_unzz (t);
        s_post_t post = { seq, time, (uint32_t) n, 0, p };
        for (uint64_t i = 0; i < 2 * n; i++) {
            uint64_t x;
            if (!s_get_varint (&p, end, &x))
                return TS_ECORRUPT;
        }
        post.plen = (uint32_t) (p - post.pos);
        int rc = fn (arg, &post);
        if (rc)
            return rc;
    }
    return 0;
}

/*  The positions of a posting, as (step << 32 | pos), ascending. */
static size_t
s_positions (const s_post_t *p, uint64_t *out, size_t max)
{
    const uint8_t *at = p->pos, *end = p->pos + p->plen;
    uint32_t step = 0, pos = 0;
    size_t n = 0;
    for (uint32_t i = 0; i < p->tf && n < max; i++) {
        uint64_t ds, x;
        if (!s_get_varint (&at, end, &ds) || !s_get_varint (&at, end, &x))
            break;
        step += (uint32_t) ds;
        pos = ds == 0 && i ? pos + (uint32_t) x : (uint32_t) x;
        out [n++] = (uint64_t) step << 32 | pos;
    }
    return n;
}

static int
s_list_add (void *arg, const s_post_t *p)
{
    s_list_t *l = arg;
    if (s_grow (&l->posts, &l->cap, l->n + 1, sizeof *l->posts, 256))
        return TS_ENOMEM;
    l->posts [l->n++] = *p;
    return 0;
}

/*  Reads the postings of one term in one store into l (replacing them). */
static int
s_load_list (ts_store_t *st, const ts_search_term_t *t, s_list_t *l, s_scan_acc_t *acc)
{
    char prefix [TS_TEXT_TOKEN_MAX + 2];
    prefix [0] = TS_TAG_TEXT;
    memcpy (prefix + 1, t->text, t->len);
    prefix [1 + t->len] = 0;
    acc->raw.size = 0;
    acc->nstarts = 0;
    ts_scan_t sc = { .prefix = prefix, .prefix_len = t->len + 2 };
    int rc = ts_store_scan (st, &sc, s_list_visit, acc);
    if (rc)
        return rc;
    l->n = 0;
    ts_buf_t had = l->raw;              /* the scan's bytes become the list's */
    l->raw = acc->raw;
    acc->raw = had;
    acc->raw.size = 0;
    for (size_t i = 0; i < acc->nstarts && !rc; i += 3) {
        const uint8_t *p = (const uint8_t *) l->raw.data + acc->starts [i];
        rc = s_block_decode (p, p + acc->starts [i + 2], acc->starts [i + 1], s_list_add, l);
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
s_decode_into (s_search_t *s, uint32_t j, const s_post_t *p)
{
    if (s_grow (&s->pa [j], &s->pa_cap [j], p->tf, sizeof *s->pa [j], 16))
        return 0;
    return s_positions (p, s->pa [j], p->tf);
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
            const s_post_t *p1 = &s->lists [t0].posts [idx [t0]];
            if (s_positions (p1, &first1, 1) != 1)
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
            if (s_grow (&s->idx, &s->idx_cap, s->nidx + q->nterms, sizeof *s->idx, 1024))
                return TS_ENOMEM;
            memcpy (s->idx + s->nidx, idx, q->nterms * sizeof *idx);
            s->nidx += q->nterms;
        }
        else if (!s_match (s, idx, &first))
            continue;
        if (s_grow (&s->cands, &s->cap, s->ncands + 1, sizeof *s->cands, 256))
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
    int rc = s_walk_steps (obj, olen, spec, slen, (int64_t) (first >> 32), &used, &used_len,
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
    ts_buf_free (&rec);
    ts_buf_free (&spec);
    ts_buf_free (&snip);
    return rc;
}

/* --- the checker ---------------------------------------------------------- */

/*  One (term, record) pair's digest: its positions, seeded by the term
 *  and the sequence. Summed (mod 2^64) on both sides. */
static uint64_t
s_digest (const char *term, size_t len, uint64_t seq, const uint64_t *pairs, size_t n)
{
    uint64_t seed = XXH3_64bits (term, len) ^ (seq * 0x9E3779B97F4A7C15ull);
    return XXH3_64bits_withSeed (pairs, n * sizeof *pairs, seed);
}

typedef struct {
    ts_store_t *store;
    uint64_t   *problems;
    char       *first;
    size_t      size;
    uint64_t    sum, count;     /* over what the records call for */
    uint64_t    psum, pcount;   /* over the postings */
    uint64_t    indexed;
    uint64_t    seq;            /* the record being read */
    s_rec_t     rec;
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
    if (ts_summary_unpack_buf (c->val.data, c->val.size, &s, &used)
    ||  s_record_terms (&c->rec, c->val.data + used, c->val.size - used, spec, strlen (spec),
                        &u, &ul, s_check_group, c))
        s_check_problem (c, "the record at sequence %llu: its text does not decode",
                         (unsigned long long) c->seq);
    return 0;
}

static int
s_check_post (void *arg, const s_post_t *p)
{
    s_check_t *c = arg;
    if (s_grow (&c->pairs, &c->pairs_cap, p->tf, sizeof *c->pairs, 16))
        return TS_ENOMEM;
    size_t n = s_positions (p, c->pairs, p->tf);
    char key [9];
    c->val.size = 0;
    int rc = ts_store_get_raw (c->store, key, ts_key_text_doc (key, p->seq), &c->val);
    if (rc == TS_ENOTFOUND) {
        /* a dropped record's postings stay with its commit's: no record */
        c->val.size = 0;
        rc = ts_store_get_raw (c->store, key, ts_key_data (key, p->seq), &c->val);
        if (rc == TS_ENOTFOUND)
            return 0;
        if (rc)
            return rc;
        s_check_problem (c, "postings name sequence %llu, which is not text-indexed",
                         (unsigned long long) p->seq);
        return 0;
    }
    if (rc)
        return rc;
    c->psum += s_digest (c->term, c->term_len, p->seq, c->pairs, n);
    c->pcount++;
    return 0;
}

/*  F term 0x00 seq8: each posting's digest. */
static int
s_check_block (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_check_t *c = arg;
    const char *nul = klen > 10 ? memchr (key + 1, 0, klen - 1) : NULL;
    if (!nul || (size_t) (nul - key) != klen - 9) {
        s_check_problem (c, "a postings key of %zu bytes is malformed", klen);
        return 0;
    }
    c->term = key + 1;
    c->term_len = klen - 10;
    const uint8_t *p = (const uint8_t *) val;
    int rc = s_block_decode (p, p + vlen, (uint64_t) ts_key_get_i64 (key + klen - 8), s_check_post, c);
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
    *postings = c.pcount;
    *indexed = c.indexed;
    s_rec_free (&c.rec);
    ts_buf_free (&c.val);
    free (c.pairs);
    return rc;
}
