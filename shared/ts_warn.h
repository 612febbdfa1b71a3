/*  ts_warn.h: a tally of field warnings (ts_parse.h): how many records had
 *  a field left unknown, per field and reason, and the first line where
 *  it happened. A worker keeps one per chunk and sends it with the chunk's
 *  "chunkdone" (the aggregator passes it on in the "ack"); the producer
 *  merges the chunks' into the import's. Small and bounded: at most
 *  TS_WARN_KINDS kinds; warnings of further kinds are only counted
 *  (`other`). On the wire a tally is [[field, reason, count, first line]...].
 */
#ifndef TS_WARN_H
#define TS_WARN_H

#include "ts_mp.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TS_WARN_KINDS 32

typedef struct {
    char     field [16];
    char     reason [160];
    uint64_t count;
    uint64_t first_line;
} ts_warn_kind_t;

typedef struct ts_warn_s {
    ts_warn_kind_t *kinds;      /* allocated at the first warning */
    uint32_t        nkinds;
    uint64_t        total;      /* every warning, listed or not */
    uint64_t        other;      /* warnings of kinds beyond TS_WARN_KINDS */
} ts_warn_t;

/*  Adds `count` warnings of (field, reason) first seen at `line`. 0, or
 *  TS_ENOMEM (the warning is then only counted in total and other). */
int ts_warn_add (ts_warn_t *w, const char *field, size_t field_len, const char *reason,
                 size_t reason_len, uint64_t count, uint64_t line);

/*  Packs the tally as [[field, reason, count, first line]...]; the kinds
 *  only counted go as one ["*", "other kinds", other, 0]. */
int ts_warn_pack (const ts_warn_t *w, msgpack_packer *pk);

/*  Merges a packed tally (the reader is at its array) into w. 0, or
 *  TS_EPROTO for a malformed one (what was read stays merged). */
int ts_warn_merge (ts_warn_t *w, ts_mp_reader_t *r);
/*  The same for the array's n items, the reader at the first (an array
 *  field of a typed message: ts_wire.h). */
int ts_warn_merge_items (ts_warn_t *w, ts_mp_reader_t *r, uint32_t n);

/*  Prints the tally: text (one line a kind, indented) or, json, the value
 *  of "warnings": {"field": {"reason": {"count": N, "first_line": L}}}. */
void ts_warn_print (const ts_warn_t *w, FILE *out, bool json);

void ts_warn_reset (ts_warn_t *w);
void ts_warn_free (ts_warn_t *w);

#endif
