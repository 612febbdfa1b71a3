/*  ts_shardmap.h: which worker owns which shard.
 *
 *  The aggregator keeps the map (an owner slot per shard, -1 for none) and
 *  sends it to every worker in a "map" message (docs/INTERNALS.md); this
 *  module decides it. Slots are indexes into a table of TS_MAX_WORKERS
 *  workers.
 */
#ifndef TS_SHARDMAP_H
#define TS_SHARDMAP_H

#include <stdbool.h>

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

#ifdef __cplusplus
}
#endif
#endif
