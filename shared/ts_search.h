/*  ts_search.h: full-text search over a shard's steps (docs/SEARCH.md).
 *
 *  Index (written by ts_store_put_batches, in the transaction that stores
 *  the records; keys in ts_key.h):
 *
 *    F term 0x00 seq8    the postings of one term for the records of one
 *                        commit, seq8 the first record's sequence; the
 *                        value, per record in sequence order: varint
 *                        sequence delta, zigzag varint time delta (the
 *                        record's created, else ingest, time), varint
 *                        count, then each (step, position) as varint step
 *                        delta and varint position (a delta within the
 *                        same step)
 *    H seq8              the record was text-indexed, with this pointer
 *                        (its steps array; "" when it had none of the
 *                        profile's steps pointers)
 *
 *  A term never holds a 0x00 byte (ts_text.h separates on it), so F term
 *  0x00 is the prefix of one term. One F entry a term a commit, not one
 *  a term a record: a commit of 4,000 records writes each distinct term
 *  once.
 *
 *  Query: words, all of which must match (AND); a "quoted phrase" matches
 *  its words at consecutive positions within one step; an identifier
 *  matches as written whole ("ModuleNotFoundError") or one part of one
 *  ("NotFound" is not a part; "found" is); a CJK run matches its bigrams
 *  consecutively. Folding as in ts_text.h.
 */
#ifndef TS_SEARCH_H
#define TS_SEARCH_H

#include "ts_query.h"
#include "ts_record.h"
#include "ts_request.h"
#include "ts_store.h"
#include "ts_text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_SEARCH_QUERY_MAX   1024      /* bytes of a query */
#define TS_SEARCH_TERMS_MAX   32        /* tokens of a query, all clauses */
#define TS_SEARCH_CLAUSES_MAX 16

typedef struct {
    char     text [TS_TEXT_TOKEN_MAX + 1];
    uint32_t len;
    uint32_t rel;       /* position relative to the clause's first token */
} ts_search_term_t;

/*  A clause: one word, or a phrase / CJK run (its tokens at rel). */
typedef struct {
    uint32_t first, n;  /* terms [first .. first + n) */
} ts_search_clause_t;

typedef struct {
    ts_search_term_t   terms [TS_SEARCH_TERMS_MAX];
    uint32_t           nterms;
    ts_search_clause_t clauses [TS_SEARCH_CLAUSES_MAX];
    uint32_t           nclauses;
    /* a page after a hit ("after", ts_search_request): only hits that
     * come after (score, time, id) in the search's order */
    bool               has_after;
    double             after_score;
    int64_t            after_time;
    char               after_id [TS_ID_MAX_BYTES + 1];
    uint32_t           after_id_len;
    uint64_t           hash;        /* of q, the order and the filters: a
                                       cursor names the search it pages */
} ts_search_query_t;

/*  Parses a query. 0, or TS_EINVAL with the reason in err (empty, too
 *  long, an unclosed quote, too many words, nothing searchable). */
int ts_search_parse (const char *q, size_t len, ts_search_query_t *out, char *err, size_t err_size);

typedef enum { TS_SEARCH_NEWEST = 0, TS_SEARCH_RELEVANCE = 1 } ts_search_order_t;

typedef struct {
    double      score;          /* BM25-like, over this worker's shards */
    int64_t     time;           /* created, else ingest, time */
    uint32_t    step;           /* the step of the first hit */
    const char *snippet;        /* text around it (UTF-8), borrowed */
    size_t      snippet_len;
} ts_search_hit_t;

/*  Called for each hit, in order; 0 to go on, or a negative error. */
typedef int (ts_search_emit_fn) (void *arg, const ts_summary_t *s, const char *summary,
                                 size_t summary_len, const ts_search_hit_t *hit);

/*  Searches `n` stores (NULL entries skipped): up to `limit` records that
 *  match `q` and `f` (and come after q's "after" hit, when it has one),
 *  newest first (time, then id, descending) or by relevance (score, then
 *  time). *more when there are more. 0, TS_EINVAL, emit's error,
 *  TS_ECORRUPT or TS_ESTORE. */
int ts_search_run (ts_store_t *const *stores, size_t n, const ts_search_query_t *q,
                   const ts_filter_t *f, ts_search_order_t order, uint32_t limit,
                   ts_search_emit_fn *emit, void *arg, bool *more);

#define TS_SEARCH_DEFAULT_LIMIT 20

/*  Decodes a "search" request map (docs/PROTOCOL.md): "q" into *q, "order"
 *  ("newest", the default, or "relevance"), "after" (the "next" of the
 *  page before, for this q, order and filters) into q's after fields, and
 *  the listing filters and "limit" (default 20) into *l; "sort", "cursor"
 *  and "fields" are refused. 0, or TS_EBADREQ with a message naming the
 *  field. */
int ts_search_request (ts_listing_t *l, const void *data, size_t len, ts_search_query_t *q,
                       ts_search_order_t *order, char *err, size_t err_size);

/*  The "after" cursor of the page that ends with a hit (its score, time
 *  and id) of search `q`: "s1.<hex of msgpack [order, score, time, id,
 *  hash]>", NUL-terminated (TS_SEARCH_CURSOR_MAX bytes). 0 or TS_ENOMEM. */
#define TS_SEARCH_CURSOR_MAX (2 * (TS_ID_MAX_BYTES + 48) + 8)
int ts_search_cursor (const ts_search_query_t *q, ts_search_order_t order, double score,
                      int64_t time, const char *id, size_t id_len, char *buf, size_t size);

/*  Reads an "after" value (`r` at it) of a search of `order` whose hash
 *  ts_search_request set into q's after fields. 0, or TS_EBADREQ with a
 *  message naming "after" (not a cursor, or one of another search). */
int ts_search_after_parse (ts_search_query_t *q, ts_search_order_t order, ts_mp_reader_t *r,
                           char *err, size_t err_size);

/*  Order of two hits for a merge across workers: <0 when a comes first. */
int ts_search_cmp (ts_search_order_t order, double score_a, int64_t time_a, const char *id_a,
                   size_t id_a_len, double score_b, int64_t time_b, const char *id_b,
                   size_t id_b_len);

/*  The checker's part (ts_check.c): the postings equal what the indexed
 *  records' text calls for (a sum of digests over every (term, record)
 *  on both sides, so memory stays flat), every posting and H entry names
 *  a stored record. Adds problems to *problems, the first one's text to
 *  `first` when it is the first; counts into *postings and *indexed.
 *  0, or an error reading the store. */
int ts_search_check (ts_store_t *store, uint64_t *problems, char *first, size_t size,
                     uint64_t *postings, uint64_t *indexed);

#ifdef __cplusplus
}
#endif
#endif
