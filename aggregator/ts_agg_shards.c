/*  ts_agg_shards.c: shard assignment and the shard map the aggregator
 *  sends to every live worker (parts: ts_agg_int.h).
 */
#include "ts_agg_int.h"
#include "ts_log.h"
#include "ts_shardmap.h"
#include "ts_mp.h"

#include <inttypes.h>

int
agg_alive_count (ts_agg_t *self)
{
    int n = 0;
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        n += self->workers [i].used && self->workers [i].alive;
    return n;
}

void
agg_send_map (ts_agg_t *self, int w)
{
    s_worker_t *wk = &self->workers [w];
    ts_hdr_t *h = &self->hdr;
    ts_hdr_begin (h, TS_MSG_MAP, 5);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_uint (h, "inc", self->incarnation);
    ts_hdr_uint (h, "nshards", self->nshards);
    ts_hdr_key (h, "owners");
    msgpack_pack_array (&h->pk, self->nshards);
    for (unsigned i = 0; i < self->nshards; i++)
        msgpack_pack_int (&h->pk, self->owners [i]);
    ts_hdr_key (h, "workers");
    msgpack_pack_array (&h->pk, TS_MAX_WORKERS);
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        s_worker_t *x = &self->workers [i];
        if (x->used && x->alive) {
            msgpack_pack_array (&h->pk, 2);
            ts_mp_pack_cstr (&h->pk, x->name);
            ts_mp_pack_cstr (&h->pk, x->peer);
        }
        else
            msgpack_pack_nil (&h->pk);
    }
    ts_hdr_send (h, zsock_resolve (self->control), wk->identity, NULL, 0);
    wk->epoch_seen = self->epoch;
    wk->mapped = true;
}

static void
s_broadcast_map (ts_agg_t *self)
{
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        if (self->workers [i].used && self->workers [i].alive)
            agg_send_map (self, i);
}


/*  Balanced assignment that moves as few shards as it can: a shard stays
 *  with a live owner while that owner is within its fair share; the rest
 *  go to the least loaded. Advances the epoch when anything changed. */
void
agg_assign (ts_agg_t *self)
{
    bool alive [TS_MAX_WORKERS];
    int n = 0;
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        n += alive [i] = self->workers [i].used && self->workers [i].alive;
    bool changed = ts_shard_assign (self->owners, self->nshards, alive, TS_MAX_WORKERS);
    self->assigned_once = true;
    if (changed) {
        self->epoch++;
        ts_info ("shard map epoch %" PRIu64 ": %d live workers", self->epoch, n);
    }
    s_broadcast_map (self);
    agg_request_snapshots (self);
}
