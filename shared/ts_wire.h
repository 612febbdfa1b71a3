/*  ts_wire.h: the internal messages as typed structs, in the manner of
 *  zproto: one struct, one encode and one decode per message.
 *
 *  A sender fills the struct and calls ts_wire_X_encode, which writes the
 *  whole header into a ts_hdr_t (every field, the count checked by
 *  construction), then sends it with ts_hdr_send or ts_hdr_msg. A receiver
 *  calls ts_wire_X_decode on the parsed header (ts_recv, ts_hdr_parse) and
 *  gets the struct, or TS_EPROTO when a field is of the wrong type or a
 *  required one is missing: the message is then counted and dropped, never
 *  half-applied. Optional fields absent from the header take the default
 *  their struct names. docs/INTERNALS.md describes every message.
 *
 *  Converted so far: "credit", "drained", "snapreq", "released". The other
 *  messages still go through the field calls of ts_msg.h (ts_hdr_begin,
 *  ts_hdr_get_*), which stay for them and for branches adding messages;
 *  each moves here in a commit of its own.
 */
#ifndef TS_WIRE_H
#define TS_WIRE_H

#include "ts_msg.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Declares the pair of message NAME:
 *    void ts_wire_NAME_encode (ts_hdr_t *h, const ts_wire_NAME_t *m);
 *      writes the whole header of the message into h (begun afresh);
 *    int  ts_wire_NAME_decode (const ts_hdrin_t *in, ts_wire_NAME_t *m);
 *      0 with *m filled, or TS_EPROTO (another type, a required field
 *      missing, a field of another type). */
#define TS_WIRE_CODEC(name) \
    void ts_wire_##name##_encode (ts_hdr_t *h, const ts_wire_##name##_t *m); \
    int  ts_wire_##name##_decode (const ts_hdrin_t *in, ts_wire_##name##_t *m)

/*  "credit" (worker -> aggregator): the worker can take n more chunks.
 *  n: optional, default 1. */
typedef struct {
    int64_t n;
} ts_wire_credit_t;

TS_WIRE_CODEC (credit);

/*  "drained" (aggregator -> worker): the queue ran dry, or producers
 *  stopped sending. more: whether producers still send; optional, default
 *  false. */
typedef struct {
    bool more;
} ts_wire_drained_t;

TS_WIRE_CODEC (drained);

/*  "snapreq" (aggregator -> worker): send a "snap" of shard `shard`
 *  (required). */
typedef struct {
    uint64_t shard;
} ts_wire_snapreq_t;

TS_WIRE_CODEC (snapreq);

/*  "released" (worker -> aggregator): the worker closed shard `shard` at
 *  map epoch `epoch` (both required). Informational: the file lock fences. */
typedef struct {
    uint64_t shard;
    uint64_t epoch;
} ts_wire_released_t;

TS_WIRE_CODEC (released);

#ifdef __cplusplus
}
#endif
#endif
