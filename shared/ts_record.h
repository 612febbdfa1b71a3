/*  ts_record.h: the record model. A record is one input line: its summary
 *  (the indexed fields) and the whole object as msgpack, key order kept.
 *
 *  The record form: <summary msgpack><object msgpack> (two values, back to
 *  back, so the object keeps its own nesting depth). Records travel in
 *  this form between processes and are stored in it in the shard's
 *  records file, where the D entry of their sequence points (R maps an id
 *  to that sequence; shards of layouts 4 and 5 hold it in D itself: see
 *  ts_key.h).
 *
 *  Summary msgpack: [id, group|nil, model|nil, reward|nil, success|nil,
 *                    created_ms|nil, steps|nil, ingested_ms, run|nil]
 *  Summaries written before runs existed have 8 elements: their run is
 *  absent (read as NULL); a reader skips elements after the ones it knows.
 */
#ifndef TS_RECORD_H
#define TS_RECORD_H

#include "ts_buf.h"

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Deepest nesting a record may have (its top object is level 1). msgpack-c
 *  reads at most 32 levels; replies wrap a record in up to 3 more (reply
 *  map, items array, item map), so 28 keeps every record readable by any
 *  msgpack-c client, both as stored and inside any reply. */
#define TS_MAX_DEPTH      28
#define TS_ID_MAX_BYTES   512    /* longer ids are rejected */
#define TS_GROUP_MAX_BYTES 512
#define TS_MODEL_MAX_BYTES 256
#define TS_RUN_MAX_BYTES   128    /* a run's name (ts_profile.h) */

enum { TS_SUCCESS_UNKNOWN = -1 };

typedef struct {
    const char *id;    uint32_t id_len;
    const char *group; uint32_t group_len;   /* NULL when absent */
    const char *model; uint32_t model_len;   /* NULL when absent */
    bool    has_reward;  double  reward;
    int     success;                          /* 0, 1 or TS_SUCCESS_UNKNOWN */
    bool    has_created; int64_t created_ms;
    bool    has_steps;   int64_t steps;
    int64_t ingested_ms;                      /* when the worker parsed it */
    const char *run;   uint32_t run_len;     /* the import's run; NULL when
                                                absent (older stores) */
} ts_summary_t;

/*  The time a record sorts by: created time, else ingest time. */
int64_t ts_summary_time (const ts_summary_t *s);

/*  Appends the summary's msgpack to the packer. Returns 0 or TS_ENOMEM. */
int ts_summary_pack (msgpack_packer *pk, const ts_summary_t *s);

/*  Reads one summary from `data`; *consumed (may be NULL) gets its size.
 *  Strings borrow `data`.
 *  Returns 0 or TS_ECORRUPT. */
int ts_summary_unpack_buf (const void *data, size_t len, ts_summary_t *s,
                           size_t *consumed);

/*  Splits a stored/travelling record into its summary and its object.
 *  Borrowed pointers into `data`. Returns 0 or TS_ECORRUPT. */
int ts_record_split (const void *data, size_t len, ts_summary_t *s,
                     const char **obj, size_t *obj_len);


/*  Shortest round-trip text of a double into buf (>= 32 bytes); returns length. */
int ts_format_double (double v, char *buf);

/*  Parses an ISO 8601 / RFC 3339 time ("2026-03-14T09:26:53.589Z",
 *  "2026-03-14 09:26:53+02:00", "2026-03-14") into epoch milliseconds.
 *  Returns 0 or TS_EINVAL. */
int ts_parse_iso8601 (const char *s, size_t len, int64_t *ms);

/*  The id of a record that has none: 32 hex characters of the XXH3 128-bit
 *  hash of `len` bytes; the parser hashes the record's stored msgpack, so
 *  the same object with other white space gets the same id. `out` must
 *  hold 33 bytes. */
void ts_hash_id (const void *line, size_t len, char out [33]);

/*  Shard of an id: a 64-bit hash of its bytes modulo `nshards`. */
uint32_t ts_shard_of (const char *id, size_t len, uint32_t nshards);

/*  Milliseconds since the epoch, wall clock. */
int64_t ts_now_ms (void);

/*  Milliseconds on the monotonic clock (for timeouts and intervals: it
 *  never goes back when the wall clock is set). */
int64_t ts_mono_ms (void);

#ifdef __cplusplus
}
#endif
#endif
