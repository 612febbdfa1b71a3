/*  ts_groups.h: the rows of a "groups" answer (docs/PROTOCOL.md): per
 *  group records, successes, success rate, mean and max reward, pass@1,
 *  pass@5, pass@10; sorted by a column, filtered by "only", paged by
 *  "offset" and "limit". The aggregator answers from its totals; the api,
 *  when the request has label conditions (which no totals count), from
 *  per-group totals the workers count over the matching records
 *  (ts_groups_totals).
 */
#ifndef TS_GROUPS_H
#define TS_GROUPS_H

#include "ts_buf.h"
#include "ts_msg.h"
#include "ts_query.h"
#include "ts_store.h"
#include "ts_totals.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_GROUPS_LIMIT_MAX 100000      /* rows of a page (~150 bytes each) */

/*  The unbiased pass@k estimator (Chen et al. 2021): 1 - C(n-c, k) / C(n, k),
 *  computed as a product to stay exact in doubles; NAN when n < k. */
double ts_pass_at (uint64_t n, uint64_t c, unsigned k);

/*  Packs v, or nil for NAN. */
void ts_pack_opt (msgpack_packer *pk, double v);

typedef struct {
    const char        *name;
    size_t             len;
    const ts_totals_t *t;
} ts_group_row_t;

/*  A page's fields: "sort" (a column, '-' descending; default "group"),
 *  "only" ("pass" 1, "fail" 2, "mixed" 3; 0 none), "limit" (default 100,
 *  1..TS_GROUPS_LIMIT_MAX), "offset" (default 0). */
typedef struct {
    int     col;
    bool    desc;
    int     only;
    int64_t limit, offset;
} ts_groups_page_t;

/*  Reads a page's fields from a request. 0, or TS_EBADREQ with a message
 *  naming the field. */
int ts_groups_request (const ts_hdrin_t *in, ts_groups_page_t *pg, char *err, size_t err_size);

/*  Sorts rows ascending by column `col` (blank values last), then by name. */
void ts_groups_sort (ts_group_row_t *rows, size_t n, int col);

/*  Packs the page of sorted rows into `out` (an array of row maps), with
 *  the rows "only" keeps (*total) and the next page's offset (*next, -1:
 *  none). 0 or TS_ENOMEM. */
int ts_groups_pack_page (const ts_group_row_t *rows, size_t n, const ts_groups_page_t *pg,
                         ts_buf_t *out, size_t *total, int64_t *next);

/*  Per group, the totals of the records of `n` stores (NULL skipped) that
 *  filter `f` matches (records without a group left out), packed as
 *  [[group, totals]...] (ts_totals_pack). 0, or a store's error. */
int ts_groups_totals (ts_store_t *const *stores, size_t n, const ts_filter_t *f,
                      msgpack_packer *pk);

#ifdef __cplusplus
}
#endif
#endif
