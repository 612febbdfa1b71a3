/*  ts_agg_stats.c: the merged statistics: sequence-numbered deltas from
 *  the shards' owners, deltas held ahead of a gap, and rebuilds from shard
 *  snapshots when the deltas cannot tell what happened (parts: ts_agg_int.h).
 */
#include "ts_agg_int.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_log.h"
#include "ts_seqwait.h"
#include "ts_wire.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void
s_frame_free (void *item)
{
    zframe_t *f = item;
    zframe_destroy (&f);
}

void
agg_drop_early (ts_agg_t *self, unsigned shard)
{
    if (self->early)
        ts_seqwait_clear (&self->early [shard], s_frame_free);
}

void
agg_reset_stats (ts_agg_t *self)
{
    for (unsigned i = 0; i < self->nshards; i++) {
        agg_drop_early (self, i);
        ts_totals_init (&self->shard_totals [i]);
        self->shard_seq [i] = 0;
        self->shard_synced [i] = false;
        self->snap_asked [i] = 0;
    }
    self->unsynced = self->nshards;
    ts_map_clear (self->groups);
    ts_map_clear (self->models);
    ts_map_clear (self->runs);
    ts_map_clear (self->run_models);
    self->stats_version++;
    free (self->group_sorted);
    self->group_sorted = NULL;
    self->group_sorted_n = 0;
}

/* --- statistics ----------------------------------------------------------- */

static void
s_v_shard (void *arg, const ts_totals_t *t)
{
    ts_totals_merge ((ts_totals_t *) arg, t);
}

static void
s_merge_named (ts_map_t *map, const char *name, size_t len, const ts_totals_t *t)
{
    ts_totals_t *cur = ts_map_get (map, name, len);
    if (!cur) {
        cur = malloc (sizeof *cur);
        if (!cur || ts_map_put (map, name, len, cur)) {
            free (cur);
            return;
        }
        ts_totals_init (cur);
    }
    ts_totals_merge (cur, t);
}

typedef struct {
    ts_agg_t *agg;
    unsigned  shard;
} s_apply_t;

static void
s_v_group (void *arg, const char *name, size_t len, const ts_totals_t *t)
{
    s_merge_named (((s_apply_t *) arg)->agg->groups, name, len, t);
}

static void
s_v_model (void *arg, const char *name, size_t len, const ts_totals_t *t)
{
    s_merge_named (((s_apply_t *) arg)->agg->models, name, len, t);
}

/*  Merges t under "a\0b" (b NULL: "a\0"; a run name holds no NUL,
 *  ts_profile.h). */
static void
s_merge_pair (ts_map_t *map, const char *a, size_t alen, const char *b, size_t blen,
              const ts_totals_t *t)
{
    char key [TS_KEY_MAX];
    if (alen + 1 + blen > sizeof key)
        return;
    memcpy (key, a, alen);
    key [alen] = 0;
    if (b)
        memcpy (key + alen + 1, b, blen);
    s_merge_named (map, key, alen + 1 + blen, t);
}

/*  A run's totals in one group: under "run\0group" ("run\0" alone for its
 *  records without a group). */
static void
s_v_run (void *arg, const char *run, size_t rlen, const char *group, size_t glen,
         const ts_totals_t *t)
{
    s_merge_pair (((s_apply_t *) arg)->agg->runs, run, rlen, group, glen, t);
}

/*  A run's totals of one model: under "run\0model"; of its records
 *  without a model (model NULL), under "run" alone. */
static void
s_v_run_model (void *arg, const char *run, size_t rlen, const char *model, size_t mlen,
               const ts_totals_t *t)
{
    ts_agg_t *self = ((s_apply_t *) arg)->agg;
    if (model)
        s_merge_pair (self->run_models, run, rlen, model, mlen, t);
    else
        s_merge_named (self->run_models, run, rlen, t);
}

static int
s_apply_delta (ts_agg_t *self, unsigned shard, const void *data, size_t len, uint64_t *seq)
{
    ts_totals_t shard_delta;
    ts_totals_init (&shard_delta);
    s_apply_t ap = { self, shard };
    ts_delta_visitor_t v = { NULL, s_v_group, s_v_model, &ap, s_v_run, s_v_run_model };
    /* the shard part goes to a side total first: a corrupt delta must not
     * leave half of it applied (groups are applied as read, so a corrupt
     * one forces a rebuild below) */
    ts_delta_visitor_t probe = { s_v_shard, NULL, NULL, &shard_delta, NULL, NULL };
    if (ts_delta_read (data, len, seq, &probe))
        return TS_ECORRUPT;
    if (ts_delta_read (data, len, seq, &v))
        return TS_ECORRUPT;
    ts_totals_merge (&self->shard_totals [shard], &shard_delta);
    self->stats_version++;
    return 0;
}


void
agg_start_rebuild (ts_agg_t *self, const char *why)
{
    ts_warn ("rebuilding statistics from shard snapshots: %s", why);
    self->rebuilds++;
    agg_reset_stats (self);
    agg_request_snapshots (self);
}

/*  Asks the owner of every unsynced shard for a snapshot (again, when the
 *  last request is older than a second: the owner may have changed). */
void
agg_request_snapshots (ts_agg_t *self)
{
    int64_t now = agg_now ();
    for (unsigned s = 0; s < self->nshards; s++) {
        if (self->shard_synced [s] || self->owners [s] < 0)
            continue;
        if (self->snap_asked [s] && now - self->snap_asked [s] < 1000)
            continue;
        ts_wire_snapreq_encode (&self->hdr, &(ts_wire_snapreq_t) { .shard = s });
        ts_hdr_send (&self->hdr, zsock_resolve (self->control),
                     self->workers [self->owners [s]].identity, NULL, 0);
        self->snap_asked [s] = now;
    }
}
void
agg_on_delta (ts_agg_t *self, ts_hdrin_t *in, zmsg_t *msg, bool snapshot)
{
    ts_wire_delta_t m;                  /* a "snap" has the same fields */
    zframe_t *payload = zmsg_first (msg);
    if ((snapshot ? ts_wire_snap_decode (in, &m) : ts_wire_delta_decode (in, &m))
    ||  m.shard >= self->nshards || !payload) {
        self->dropped++;
        return;
    }
    uint64_t shard = m.shard, seq = m.seq;
    if (snapshot) {
        if (self->shard_synced [shard])
            return;                     /* an answer to an older request */
        if (s_apply_delta (self, (unsigned) shard, zframe_data (payload), zframe_size (payload), &seq)) {
            agg_start_rebuild (self, "a snapshot does not decode");
            return;
        }
        self->shard_seq [shard] = seq;
        self->shard_synced [shard] = true;
        self->unsynced--;
        if (self->unsynced == 0) {
            ts_info ("statistics complete (rebuild %" PRIu64 ")", self->rebuilds);
            self->groups_warm = true;
        }
    }
    else {
        ts_seq_verdict_t v = ts_seq_judge (self->shard_seq [shard], seq);
        if (!self->shard_synced [shard] || v == TS_SEQ_OLD)
            return;                     /* covered by a snapshot, or a repeat */
        if (v == TS_SEQ_EARLY) {
            /* ahead of a gap: keep it until the gap fills (agg_stats_check
             * rebuilds if it does not, soon) */
            zframe_t *copy = zframe_dup (payload);
            if (copy && ts_seqwait_hold (&self->early [shard], seq, copy, agg_now ()))
                zframe_destroy (&copy);
            return;
        }
        if (s_apply_delta (self, (unsigned) shard, zframe_data (payload), zframe_size (payload), &seq)) {
            agg_start_rebuild (self, "a delta does not decode");
            return;
        }
        self->shard_seq [shard] = seq;
        /* the deltas that waited for this one */
        while (self->shard_synced [shard]) {
            uint64_t s2;
            zframe_t *e = ts_seqwait_take (&self->early [shard], self->shard_seq [shard], &s2);
            if (!e)
                break;
            bool apply = s2 == self->shard_seq [shard] + 1;
            int bad = apply ? s_apply_delta (self, (unsigned) shard, zframe_data (e),
                                             zframe_size (e), &s2) : 0;
            zframe_destroy (&e);
            if (bad) {
                agg_start_rebuild (self, "a delta does not decode");
                return;
            }
            if (!apply)
                break;
            self->shard_seq [shard] = s2;
        }
    }
    agg_release_acks (self);
}

/*  A gap that does not fill, or an ack waiting for a delta that never
 *  comes (its worker died between commit and send): the deltas cannot
 *  tell what happened, the shards' snapshots can. Called every tick. */
void
agg_stats_check (ts_agg_t *self, int64_t now)
{
    const char *why = NULL;
    for (unsigned s = 0; s < self->nshards && !why; s++)
        if (ts_seqwait_is_stale (&self->early [s], now, S_GAP_MS))
            why = "a gap in a shard's deltas did not fill";
    for (s_held_ack_t *a = self->held_acks; a && !why; a = a->next)
        if (now - a->since > S_ACK_WAIT_MS && self->unsynced == 0)
            why = "an acknowledgement waited too long for a delta";
    if (why) {
        agg_start_rebuild (self, why);
        for (s_held_ack_t *a = self->held_acks; a; a = a->next)
            a->since = now;
    }
    if (self->unsynced)
        agg_request_snapshots (self);
}
