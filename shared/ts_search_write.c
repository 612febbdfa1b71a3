/*  ts_search_write.c: the postings writer of a shard (ts_search_int.h):
 *  store_text_add gathers a commit's postings per term in memory;
 *  store_text_flush writes them as one segment (F seg8 term, one entry a
 *  term, and F seg8 alone: the records' times) in the commit's
 *  transaction: the one function through which postings reach the tree.
 */
#include "ts_search_int.h"
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_key.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* --- the write side -------------------------------------------------------- */

/*  One term's postings waiting for the pass. Tokens arrive in the
 *  record's order, so a term's positions in one record come ascending: the
 *  record's entry is open while they come and closed when another
 *  record's token for the term comes or the postings are written. Its
 *  header (sequence delta, then the count) is written as it
 *  opens, with one byte held for the count: a count over 127 moves the
 *  positions up at the close, any other needs no move. No per-record
 *  sort. */
typedef struct {
    uint64_t last;              /* sequence of the block's last record (at first the
                                 * segment's, so the first delta is from it) */
    ts_buf_t buf;
    bool     open;              /* a record's entry is open: */
    size_t   count_at;          /* where its count goes */
    uint32_t n;                 /* its positions so far */
    uint64_t lastpair;          /* the last one (step << 32 | pos) */
    uint32_t len;
    char     term [];           /* the term's bytes, beside what a token updates,
                                 * then S_INLINE bytes: buf's first storage */
} s_block_t;

/*  Blocks are cut from chunks freed together at the reset, with their
 *  first S_INLINE bytes of postings beside the term: most terms are rare
 *  and never need more, so a new term costs no malloc (the allocator's
 *  calls and frees were ~6% of bench_core commit1 --text samples). */
#define S_INLINE     32
#define S_CHUNK      (1u << 20)

typedef struct s_chunk {
    struct s_chunk *next;
    size_t          used;
    char            mem [];
} s_chunk_t;

/*  The terms: open addressing over (hash, block). Not a ts_map: its key
 *  copy is one more allocation a term and one more cache miss a token
 *  (the key compare was ~8% of a worker's samples). */
typedef struct {
    uint64_t   hash;
    s_block_t *b;               /* NULL: empty */
} s_slot_t;

#define S_SLOTS_KEPT 65536              /* slots (1 MiB) a reset keeps */

/*  Tokens wait in a batch of S_BATCH before they reach their terms: each
 *  one's slot is prefetched as it comes, so the slot reads of a batch
 *  overlap instead of each token waiting for its own cache miss (the
 *  slot load was ~half of s_tok_write's samples). A token not in the
 *  string (folded by the tokenizer, borrowed for the call) is copied. */
#define S_BATCH 64

typedef struct {
    uint64_t    hash;
    const char *tok;
    uint32_t    len, pos;
} s_tok_t;

struct ts_postings {
    s_slot_t *slots;            /* the terms */
    size_t    cap, nterms;
    uint64_t  seg;              /* the segment: the first record's sequence (0: none yet) */
    uint64_t  seq;              /* the record being added */
    int64_t   time;
    bool      timed;            /* the record's time is in `times` */
    ts_buf_t  times;            /* the segment's: per record with postings, */
    uint64_t  times_seq;        /* its sequence delta and time (zigzag */
    int64_t   times_time;       /* delta) from the last one's */
    uint32_t  step;             /* the step being tokenized */
    int       rc;
    size_t    bytes;            /* about what the postings take in memory */
    s_chunk_t *chunks;          /* the blocks' memory, the newest first */
    const char *str;            /* the string being tokenized */
    size_t    str_len;
    int       nbatch;
    s_tok_t   batch [S_BATCH];
    char      copies [S_BATCH * TS_TEXT_TOKEN_MAX];
};

/*  n bytes (a multiple of 8) from the chunks; NULL: out of memory. */
static void *
s_alloc (ts_postings_t *p, size_t n)
{
    s_chunk_t *c = p->chunks;
    if (!c || c->used + n > S_CHUNK - sizeof *c) {
        c = malloc (S_CHUNK);
        if (!c)
            return NULL;
        c->next = p->chunks;
        c->used = 0;
        p->chunks = c;
        p->bytes += S_CHUNK;
    }
    void *at = c->mem + c->used;
    c->used += n;
    return at;
}

static bool
s_inline (const s_block_t *b)
{
    return b->buf.data == b->term + b->len;
}

/*  Room for `extra` more bytes of postings: the inline bytes first, then
 *  a malloc'd buffer (counted in p->bytes). */
static int
s_reserve (ts_postings_t *p, s_block_t *b, size_t extra)
{
    if (b->buf.size + extra <= b->buf.cap)
        return 0;
    size_t had = b->buf.cap;
    if (s_inline (b)) {
        size_t cap = 2 * had;
        while (cap < b->buf.size + extra)
            cap *= 2;
        char *data = malloc (cap);
        if (!data)
            return TS_ENOMEM;
        memcpy (data, b->buf.data, b->buf.size);
        b->buf.data = data;
        b->buf.cap = cap;
        had = 0;
    }
    else if (ts_buf_reserve (&b->buf, extra))
        return TS_ENOMEM;
    p->bytes += b->buf.cap - had;
    return 0;
}

static int
s_rehash (ts_postings_t *p)
{
    size_t cap = p->cap ? 2 * p->cap : 1024;
    s_slot_t *slots = calloc (cap, sizeof *slots);
    if (!slots)
        return TS_ENOMEM;
    for (size_t i = 0; i < p->cap; i++)
        if (p->slots [i].b) {
            size_t j = (size_t) p->slots [i].hash & (cap - 1);
            while (slots [j].b)
                j = (j + 1) & (cap - 1);
            slots [j] = p->slots [i];
        }
    free (p->slots);
    p->slots = slots;
    p->cap = cap;
    return 0;
}

/*  The block of a term of hash h, made when new (room for it made by
 *  s_tok_write); NULL: out of memory. */
static s_block_t *
s_term (ts_postings_t *p, const char *tok, size_t len, uint64_t h)
{
    size_t i = (size_t) h & (p->cap - 1);
    for (; p->slots [i].b; i = (i + 1) & (p->cap - 1)) {
        s_block_t *b = p->slots [i].b;
        if (p->slots [i].hash == h && b->len == len && !memcmp (b->term, tok, len))
            return b;
    }
    s_block_t *b = s_alloc (p, (sizeof *b + len + S_INLINE + 7) & ~(size_t) 7);
    if (!b)
        return NULL;
    memset (b, 0, sizeof *b);
    memcpy (b->term, tok, len);
    b->len = (uint32_t) len;
    b->last = p->seg;
    b->buf.data = b->term + len;
    b->buf.cap = S_INLINE;
    p->slots [i] = (s_slot_t) { h, b };
    p->nterms++;
    p->bytes += 2 * sizeof (s_slot_t);
    return b;
}

/*  Closes the open entry: its count in the byte held for it. */
static int
s_block_close (ts_postings_t *p, s_block_t *b)
{
    char cnt [5];
    size_t h = search_varint (cnt, b->n);
    if (h > 1) {
        if (s_reserve (p, b, h - 1))
            return TS_ENOMEM;
        char *at = b->buf.data + b->count_at;
        memmove (at + h, at + 1, b->buf.size - b->count_at - 1);
        b->buf.size += h - 1;
    }
    memcpy (b->buf.data + b->count_at, cnt, h);
    b->open = false;
    return 0;
}

/*  Appends two varints (room for 20 bytes made first). */
static int
s_put2 (ts_postings_t *p, s_block_t *b, uint64_t x, uint64_t y)
{
    if (s_reserve (p, b, 20))
        return TS_ENOMEM;
    ts_buf_t *buf = &b->buf;
    buf->size += search_varint (buf->data + buf->size, x);
    buf->size += search_varint (buf->data + buf->size, y);
    return 0;
}

/*  Appends the record's sequence and time deltas to the segment's time
 *  table: once a record, at its first token. */
static int
s_put_time (ts_postings_t *p)
{
    ts_buf_t *buf = &p->times;
    size_t had = buf->cap;
    if (ts_buf_reserve (buf, 20))
        return TS_ENOMEM;
    buf->size += search_varint (buf->data + buf->size, p->seq - p->times_seq);
    buf->size += search_varint (buf->data + buf->size, search_zz (p->time - p->times_time));
    p->bytes += buf->cap - had;
    return 0;
}

/*  Adds one token at `pos` of the step being tokenized. */
static int
s_tok_add (ts_postings_t *p, const s_tok_t *t)
{
    uint32_t pos = t->pos;
    s_block_t *b = s_term (p, t->tok, t->len, t->hash);
    if (!b)
        return p->rc = TS_ENOMEM;
    if (b->open && b->last != p->seq && s_block_close (p, b))
        return p->rc = TS_ENOMEM;
    uint64_t pair = (uint64_t) p->step << 32 | pos;
    if (!p->timed) {                    /* the record's first token */
        if (s_put_time (p))
            return p->rc = TS_ENOMEM;
        p->timed = true;
        p->times_seq = p->seq;
        p->times_time = p->time;
    }
    if (!b->open) {
        if (s_reserve (p, b, 20))
            return p->rc = TS_ENOMEM;
        b->buf.size += search_varint (b->buf.data + b->buf.size, p->seq - b->last);
        b->open = true;
        b->last = p->seq;
        b->count_at = b->buf.size++;    /* reserved by s_reserve's 20 bytes */
        b->n = 0;
    }
    else if (pair == b->lastpair)
        return 0;                       /* a word and its one part at the same place */
    uint32_t ls = (uint32_t) (b->lastpair >> 32), lp = (uint32_t) b->lastpair;
    bool same = b->n > 0 && ls == p->step;
    uint32_t dstep = b->n > 0 ? p->step - ls : p->step;
    if (s_put2 (p, b, dstep, same ? pos - lp : pos))
        return p->rc = TS_ENOMEM;
    b->lastpair = pair;
    b->n++;
    return 0;
}

static int
s_batch_add (ts_postings_t *p)
{
    int rc = 0;
    for (int i = 0; i < p->nbatch && !rc; i++)
        rc = s_tok_add (p, &p->batch [i]);
    p->nbatch = 0;
    return rc;
}

static int
s_tok_write (void *arg, const char *tok, size_t len, uint32_t pos, ts_tok_kind_t kind,
             size_t off, size_t end)
{
    (void) kind; (void) off; (void) end;
    ts_postings_t *p = arg;
    if (p->nbatch == 0                  /* room for a batch of new terms */
    &&  (p->nterms + S_BATCH) * 4 > p->cap * 3 && s_rehash (p))
        return p->rc = TS_ENOMEM;
    s_tok_t *t = &p->batch [p->nbatch];
    uintptr_t at = (uintptr_t) tok, str = (uintptr_t) p->str;
    if (at >= str && at + len <= str + p->str_len)
        t->tok = tok;
    else {
        char *c = p->copies + (size_t) p->nbatch * TS_TEXT_TOKEN_MAX;
        memcpy (c, tok, len);
        t->tok = c;
    }
    t->len = (uint32_t) len;
    t->pos = pos;
    t->hash = XXH3_64bits (tok, len);
    __builtin_prefetch (&p->slots [(size_t) t->hash & (p->cap - 1)]);
    return ++p->nbatch == S_BATCH ? s_batch_add (p) : 0;
}

static int
s_write_str (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos)
{
    ts_postings_t *p = arg;
    p->step = step;
    p->str = s;
    p->str_len = len;
    int rc = ts_text_tokens (s, len, pos, s_tok_write, p);
    int rc2 = s_batch_add (p);
    return rc ? rc : rc2;
}

/*  Adds the postings of record `seq` to those waiting; *used names the
 *  pointer its steps came from. */
static int
s_text_add (ts_store_t *self, uint64_t seq, int64_t time, const char *obj, size_t olen,
            const char *spec, size_t slen, const char **used, size_t *used_len)
{
    if (!self->text) {
        self->text = calloc (1, sizeof *self->text);
        if (!self->text)
            goto nomem;
    }
    store_tick (self);                  /* a record's tokens: the longest step of a commit */
    ts_postings_t *p = self->text;
    if (p->seg == 0)
        p->seg = p->times_seq = seq;
    p->seq = seq;
    p->time = time;
    p->timed = false;
    p->rc = 0;
    int rc = search_walk_steps (obj, olen, spec, slen, -1, used, used_len, s_write_str, p);
    if (rc == TS_ENOMEM || p->rc == TS_ENOMEM)
        goto nomem;
    if (rc)
        snprintf (self->errmsg, sizeof self->errmsg, "%s: record %llu: its steps do not decode",
                  self->path, (unsigned long long) seq);
    return rc;
nomem:
    snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
    return TS_ENOMEM;
}

int
store_text_add (ts_store_t *self, uint64_t seq, int64_t time, const char *obj, size_t olen,
                const char *spec, size_t slen)
{
    const char *used;
    size_t used_len;
    int rc = s_text_add (self, seq, time, obj, olen, spec, slen, &used, &used_len);
    if (rc)
        return rc;
    char key [9];
    if (!kcdbset (self->db, key, ts_key_text_doc (key, seq), used, used_len))
        return store_kc_error (self, "write text index mark");
    return 0;
}

/*  Adds the postings of record `seq` again, from the record and its H
 *  mark (none: not text-indexed): what waited for the pass when it was
 *  committed (read back by store_pend_reload, store_text_reload). */
int
store_text_readd (ts_store_t *self, uint64_t seq, int64_t time, const char *obj, size_t olen)
{
    char key [9];
    size_t len;
    char *spec = kcdbget (self->db, key, ts_key_text_doc (key, seq), &len);
    if (!spec)
        return kcdbecode (self->db) == KCENOREC ? 0 : store_kc_error (self, "read text index mark");
    const char *u;
    size_t ulen;
    int rc = s_text_add (self, seq, time, obj, olen, spec, len, &u, &ulen);
    kcfree (spec);
    return rc;
}

bool
store_text_waits (const ts_store_t *self)
{
    return self->text && self->text->nterms > 0;
}

size_t
store_text_bytes (const ts_store_t *self)
{
    return self->text ? self->text->bytes : 0;
}

typedef struct {
    uint64_t    head;           /* the term's first 8 bytes, big-endian: most */
    const char *term;           /* comparisons end there, without a read of */
    size_t      len;            /* the term's bytes */
    s_block_t  *b;
} s_term_t;

static int
s_term_cmp (const void *a, const void *b)
{
    const s_term_t *x = a, *y = b;
    if (x->head != y->head)
        return x->head < y->head ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n > 8 ? memcmp (x->term + 8, y->term + 8, n - 8) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static uint64_t
s_head (const char *term, size_t len)
{
    uint64_t h = 0;
    for (size_t i = 0; i < 8; i++)
        h = h << 8 | (i < len ? (unsigned char) term [i] : 0);
    return h;
}

/*  The segment's keys, F seg8 term, follow every earlier segment's (its
 *  sequence is past theirs), and are written in key order: Kyoto Cabinet
 *  appends leaves at the end of F instead of rewriting leaves all over
 *  it (docs/SEARCH.md, "Segments"). */
int
store_text_flush (ts_store_t *self)
{
    ts_postings_t *p = self->text;
    size_t n = p ? p->nterms : 0;
    if (n == 0)
        return 0;
    s_term_t *order = malloc (n * sizeof *order);
    if (!order) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
        return TS_ENOMEM;
    }
    size_t i = 0;
    for (size_t j = 0; j < p->cap; j++) {
        s_block_t *b = p->slots [j].b;
        if (b)
            order [i++] = (s_term_t) { s_head (b->term, b->len), b->term, b->len, b };
    }
    qsort (order, n, sizeof *order, s_term_cmp);
    char key [TS_TEXT_TOKEN_MAX + 16];
    size_t prefix = ts_key_text_segment (key, p->seg);
    int rc = 0;
    if (!kcdbset (self->db, key, prefix, p->times.data, p->times.size))     /* first in key order */
        rc = store_kc_error (self, "write postings' times");
    for (i = 0; i < n && !rc; i++) {
        s_block_t *b = order [i].b;
        if (b->open && s_block_close (p, b)) {
            rc = TS_ENOMEM;
            break;
        }
        memcpy (key + prefix, order [i].term, order [i].len);
        if (!kcdbset (self->db, key, prefix + order [i].len, b->buf.data, b->buf.size))
            rc = store_kc_error (self, "write postings");
        store_tick_step (self);
    }
    free (order);
    return rc;
}

void
store_text_reset (ts_store_t *self)
{
    if (self->text) {
        ts_postings_t *p = self->text;
        for (size_t j = 0; j < p->cap; j++)
            if (p->slots [j].b && !s_inline (p->slots [j].b))
                ts_buf_free (&p->slots [j].b->buf);
        while (p->chunks) {
            s_chunk_t *c = p->chunks;
            p->chunks = c->next;
            free (c);
        }
        if (p->cap > S_SLOTS_KEPT) {    /* a pass's table: not held while idle */
            free (p->slots);
            p->slots = NULL;
            p->cap = 0;
        }
        else if (p->cap)
            memset (p->slots, 0, p->cap * sizeof *p->slots);
        p->nterms = 0;
        p->seg = 0;
        p->bytes = 0;
        p->times.size = 0;
        p->times_time = 0;
        if (p->times.cap > S_SLOTS_KEPT * sizeof *p->slots)
            ts_buf_free (&p->times);    /* as the slots: not held while idle */
    }
}

void
store_text_free (ts_store_t *self)
{
    if (!self->text)
        return;
    store_text_reset (self);
    ts_buf_free (&self->text->times);
    free (self->text->slots);
    free (self->text);
    self->text = NULL;
}

