/*  ts_agg_shards.c: shard assignment and the shard map the aggregator
 *  sends to every live worker (parts: ts_agg_int.h).
 */
#include "ts_agg_int.h"
#include "ts_log.h"
#include "ts_shardmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int
agg_alive_count (ts_agg_t *self)
{
    int n = 0;
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        n += self->workers [i].used && self->workers [i].alive;
    return n;
}

/*  The "map" message of the current map into self->hdr: the one encoding
 *  the workers (on the control socket) and the api (on the query socket)
 *  both read. */
static void
s_encode_map (ts_agg_t *self)
{
    ts_shardmap_t *m = &self->map_out;
    m->epoch = self->epoch;
    m->inc = self->incarnation;
    m->nshards = self->nshards;
    memcpy (m->owners, self->owners, self->nshards * sizeof *m->owners);
    m->nworkers = TS_MAX_WORKERS;
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        s_worker_t *x = &self->workers [i];
        ts_shardmap_worker_t *mw = &m->workers [i];
        if (x->used && x->alive) {
            snprintf (mw->name, sizeof mw->name, "%s", x->name);
            snprintf (mw->peer, sizeof mw->peer, "%s", x->peer);
        }
        else
            mw->name [0] = mw->peer [0] = 0;
    }
    ts_shardmap_encode (&self->hdr, m);
}

void
agg_send_map (ts_agg_t *self, int w)
{
    s_worker_t *wk = &self->workers [w];
    s_encode_map (self);
    ts_hdr_t *h = &self->hdr;
    ts_hdr_send (h, zsock_resolve (self->control), wk->identity, NULL, 0);
    wk->epoch_seen = self->epoch;
    wk->mapped = true;
}

void
agg_reply_map (ts_agg_t *self, zframe_t *to)
{
    s_encode_map (self);
    ts_hdr_send (&self->hdr, zsock_resolve (self->query), to, NULL, 0);
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
