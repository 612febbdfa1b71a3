/*  ts_shardmap.h: which worker owns which shard.
 *
 *  The aggregator keeps the map (an owner slot per shard, -1 for none) and
 *  sends it to every worker in a "map" message (docs/INTERNALS.md); this
 *  module decides it (ts_shard_assign), writes it (ts_shardmap_encode) and
 *  reads it back into one struct for the worker and the api
 *  (ts_shardmap_decode). Slots are indexes into a table of TS_MAX_WORKERS
 *  workers.
 */
#ifndef TS_SHARDMAP_H
#define TS_SHARDMAP_H

#include "ts_msg.h"
#include "ts_proto.h"

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Balanced assignment that moves as few shards as it can: a shard stays
 *  with a live owner while that owner is within its fair share (nshards /
 *  live workers, the first nshards % live ones taking one more); the rest
 *  go to whoever is furthest below its share. With no live worker every
 *  shard is left without an owner. `alive` has `nslots` entries; owners
 *  names slots below nslots, or -1. Returns true when any owner changed. */
bool ts_shard_assign (int *owners, unsigned nshards, const bool *alive, int nslots);

/*  A worker of the map: its name (empty: a free slot) and the endpoint of
 *  its peer socket. The sizes bound what a decoded map accepts. */
typedef struct {
    char name [64];
    char peer [256];
} ts_shardmap_worker_t;

/*  The shard map as one struct. */
typedef struct {
    uint64_t epoch;             /* advances when an owner changes */
    uint64_t inc;               /* the aggregator's incarnation */
    unsigned nshards;           /* 1 .. TS_MAX_SHARDS */
    int      owners [TS_MAX_SHARDS];    /* slot below nworkers, or -1 */
    unsigned nworkers;          /* slots in workers, <= TS_MAX_WORKERS */
    ts_shardmap_worker_t workers [TS_MAX_WORKERS];
} ts_shardmap_t;

/*  Writes the "map" message (aggregator -> worker, api) into h, begun afresh:
 *  epoch, inc, nshards, owners [slot | -1 per shard], workers [[name,
 *  peer] | nil per slot]. */
void ts_shardmap_encode (ts_hdr_t *h, const ts_shardmap_t *m);

/*  Reads a "map" message (the workers get it on the control socket, the
 *  api asks for it on the query socket). 0 with *m filled, or TS_EPROTO
 *  (another type, nshards absent or out of 1..TS_MAX_SHARDS, an array
 *  that does not decode or is too long, a name or peer too long, owners
 *  not nshards long): *m is then not to be used and nothing is
 *  half-applied. Owners outside the workers' slots read as -1. */
int ts_shardmap_decode (const ts_hdrin_t *in, ts_shardmap_t *m);

#ifdef __cplusplus
}
#endif
#endif
