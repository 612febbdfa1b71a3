/*  ts_index.h: a record's index entries, listed in one place (ts_index.c).
 *
 *  A stored record has its D entry (where it is), its R entry (its id) and
 *  index entries derived from it: G (group), M (model), A (run), W (reward),
 *  T (time); ts_key.h has their layouts. The commit writes exactly the
 *  entries this lists and `trajstore drop` removes exactly them, so a new
 *  index (labels, search postings, ...) is added here once and is then
 *  both written and dropped.
 */
#ifndef TS_INDEX_H
#define TS_INDEX_H

#include "ts_record.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Called once per index entry of a record: its key (valid for the call),
 *  whether its value is the record's summary (else it is empty: the key
 *  says it all) and a name for messages ("group"). Returns 0 to go on, or
 *  an error that ends the walk. */
typedef int (ts_index_fn) (void *arg, const char *key, size_t klen, bool holds_summary,
                           const char *what);

/*  Lists the index entries of the record `s` stored under sequence `seq`;
 *  `form` (form_len bytes) is the whole record form (<summary><object>)
 *  for indexes that read the object. Returns 0 or the callback's error. */
int ts_index_entries (const ts_summary_t *s, const char *form, size_t form_len, uint64_t seq,
                      ts_index_fn *fn, void *arg);

#ifdef __cplusplus
}
#endif
#endif
