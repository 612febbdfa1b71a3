/*  ts_check.h: the consistency checker of a shard.
 *
 *  Verifies, against the records themselves: every record has exactly the
 *  index entries its summary calls for, each holding that summary; no index
 *  entry lacks its record; the shard totals, every group's and every
 *  model's totals equal a recount; a record of a run has its run index
 *  entry (A, empty). Memory stays flat: groups and models are recounted by walking
 *  their (ordered) index ranges one at a time.
 */
#ifndef TS_CHECK_H
#define TS_CHECK_H

#include "ts_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t records;          /* R entries */
    uint64_t index_entries;    /* G, W, T, M, A entries */
    uint64_t groups, models;   /* Q and X entries */
    uint64_t batches;          /* C markers */
    uint64_t postings;         /* (term, record) pairs in F entries */
    uint64_t text_indexed;     /* records with their text indexed (H) */
    uint64_t labels;           /* current labels (ts_labels.h), each checked
                                  against the label index */
    uint64_t problems;
    char     first_problem [512];
    ts_totals_t totals;        /* the recount of the shard */
} ts_check_report_t;

/*  Checks the store. Returns 0 when consistent, TS_EINCONSISTENT (see
 *  report->problems and first_problem), or an error reading the store. */
int ts_check_store (ts_store_t *store, ts_check_report_t *report);

#ifdef __cplusplus
}
#endif
#endif
