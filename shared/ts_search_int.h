/*  ts_search_int.h: what the parts of the full-text index share (the
 *  parts: ts_search.c's opening comment). Not a public interface.
 */
#ifndef TS_SEARCH_INT_H
#define TS_SEARCH_INT_H

#include "ts_search.h"
#include "ts_buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- varints (ts_search_codec.c) ------------------------------------------ */

/*  Writes v as a varint at out (room for 10 bytes): its length. */
size_t search_varint (char *out, uint64_t v);
int search_put_varint (ts_buf_t *b, uint64_t v);
bool search_get_varint (const uint8_t **p, const uint8_t *end, uint64_t *v);

static inline uint64_t search_zz (int64_t v) { return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63); }
static inline int64_t search_unzz (uint64_t v) { return (int64_t) (v >> 1) ^ -(int64_t) (v & 1); }

/*  Makes room for `need` elements of `size` bytes in *arr (capacity *cap,
 *  doubled from at least `first`). 0 or TS_ENOMEM. */
int search_grow (void *arr, size_t *cap, size_t need, size_t size, size_t first);

/* --- one record's posting in an F value ----------------------------------- */

typedef struct {
    uint64_t seq;
    int64_t  time;
    uint32_t tf;
    uint32_t plen;
    const uint8_t *pos;         /* tf (step, pos) pairs, encoded */
} search_post_t;

/*  A segment's times: F seg8 with no term holds, per record that has
 *  postings in the segment, its sequence delta (the first from the
 *  segment's) and its time (zigzag delta): a record's time once a
 *  segment, not once a term and record. */
typedef struct {
    struct search_time { uint64_t seq; int64_t time; } *at;     /* by sequence */
    size_t n, cap;
} search_times_t;

/*  Decodes an F seg8 value into t (replacing what it held). */
int search_times_decode (const uint8_t *p, const uint8_t *end, uint64_t seg, search_times_t *t);
void search_times_free (search_times_t *t);

/*  Decodes one F value (first sequence `first`): calls fn per record,
 *  its time from `times` (the segment's; a record not there is
 *  TS_ECORRUPT), or 0 when times is NULL. */
typedef int (search_post_fn) (void *arg, const search_post_t *p);
int search_block_decode (const uint8_t *p, const uint8_t *end, uint64_t first,
                         const search_times_t *times, search_post_fn *fn, void *arg);

/*  The positions of a posting, as (step << 32 | pos), ascending. */
size_t search_positions (const search_post_t *p, uint64_t *out, size_t max);

/* --- the steps (ts_search_steps.c) ---------------------------------------- */

/*  Called for each text string of each step, with the step's position
 *  counter; it must advance *pos past the string's tokens. */
typedef int (search_str_fn) (void *arg, uint32_t step, const char *s, size_t len, uint32_t *pos);

/*  The steps of an object: resolves the alternatives of `spec` ("/a|/b")
 *  in order; the first present is the steps (*used, *used_len name it, in
 *  spec). Each element of an array there is walked as a step; `only`
 *  (when >= 0) walks that step alone. Another value is no steps. */
int search_walk_steps (const char *obj, size_t olen, const char *spec, size_t slen, int64_t only,
                       const char **used, size_t *used_len, search_str_fn *fn, void *arg);

typedef struct {
    uint32_t off;               /* the term's bytes in the arena */
    uint32_t len;
    uint32_t step, pos;
    uint32_t order;             /* emission order: a stable sort */
} search_tok_t;

/*  One record's tokens (reused from record to record). */
typedef struct {
    ts_buf_t      arena;
    search_tok_t *toks;
    size_t        ntoks, cap;
    uint32_t      step;         /* of the string being tokenized */
    uint64_t     *pairs;        /* one group's (step << 32 | pos) */
    size_t        npairs, pairs_cap;
} search_rec_t;

/*  Called for each distinct term of a record with its positions
 *  (step << 32 | pos, ascending). */
typedef int (search_group_fn) (void *arg, const char *term, size_t len, const uint64_t *pairs,
                               size_t n);

/*  Tokenizes the record's steps and hands each term's positions to fn.
 *  *used names the pointer that held the steps. */
int search_record_terms (search_rec_t *r, const char *obj, size_t olen, const char *spec,
                         size_t slen, const char **used, size_t *used_len, search_group_fn *fn,
                         void *arg);
void search_rec_free (search_rec_t *r);

#endif
