/*  ts_shardmap.c: shard assignment (ts_shardmap.h). */
#include "ts_shardmap.h"
#include "ts_proto.h"

#include <assert.h>
#include <stddef.h>

bool
ts_shard_assign (int *owners, unsigned nshards, const bool *alive, int nslots)
{
    assert (owners && alive && nslots >= 0 && nslots <= TS_MAX_WORKERS);
    int live [TS_MAX_WORKERS], n = 0;
    int load [TS_MAX_WORKERS] = { 0 };
    for (int i = 0; i < nslots; i++)
        if (alive [i])
            live [n++] = i;
    bool changed = false;
    if (n == 0) {
        for (unsigned s = 0; s < nshards; s++) {
            changed |= owners [s] != -1;
            owners [s] = -1;
        }
        return changed;
    }
    int base = (int) nshards / n, extra = (int) nshards % n;
    int target [TS_MAX_WORKERS] = { 0 };
    for (int k = 0; k < n; k++)
        target [live [k]] = base + (k < extra ? 1 : 0);
    /* keep what fits */
    for (unsigned s = 0; s < nshards; s++) {
        int o = owners [s];
        if (o >= 0 && o < nslots && alive [o] && load [o] < target [o])
            load [o]++;
        else {
            changed |= o != -1;
            owners [s] = -1;
        }
    }
    /* place the rest on whoever is furthest below target */
    for (unsigned s = 0; s < nshards; s++) {
        if (owners [s] != -1)
            continue;
        int best = live [0];
        for (int k = 1; k < n; k++)
            if (target [live [k]] - load [live [k]] > target [best] - load [best])
                best = live [k];
        owners [s] = best;
        load [best]++;
        changed = true;
    }
    return changed;
}
