/*  ts_api_route.c: the shard map the api reads from the aggregator, and
 *  the dispatch of a request's pieces: one worker for a get, every worker
 *  for a list or count, the aggregator for statistics (parts of the api:
 *  ts_api_int.h).
 */
#include "ts_api_int.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_log.h"
#include "ts_proto.h"
#include "ts_query.h"
#include "ts_shardmap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the map ---------------------------------------------------------------- */

void
api_ask_map (ts_api_t *self)
{
    ts_wire_mapreq_encode (&self->hdr, &(ts_wire_mapreq_t) { 0 });
    ts_hdr_send (&self->hdr, zsock_resolve (self->agg), NULL, NULL, 0);
    self->map_asked = api_now ();
}

/*  Parks a request until the next map: what it gathered so far is dropped
 *  (it is asked again from scratch). */
static void
s_req_park (s_req_t *r)
{
    r->parked = true;
    for (int i = 0; i < r->nparts; i++)
        zframe_destroy (&r->parts [i]);
    r->nparts = 0;
    r->waiting = 0;
    r->count = 0;
}

/*  A "map" from the aggregator (the answer to api_ask_map; the same
 *  message the workers get): who is alive, who owns which shard. */
void
api_on_map (ts_api_t *self, ts_hdrin_t *in)
{
    ts_shardmap_t *m = &self->map_in;
    if (ts_shardmap_decode (in, m))
        return;
    unsigned nshards = m->nshards;
    /* the api's slot of each of the map's: by name, else a free one */
    int slot_of [TS_MAX_WORKERS];
    bool seen [TS_MAX_WORKERS] = { false };
    for (unsigned i = 0; i < m->nworkers; i++) {
        const ts_shardmap_worker_t *mw = &m->workers [i];
        slot_of [i] = -1;
        if (!mw->name [0])
            continue;
        int slot = -1;
        for (int w = 0; w < TS_MAX_WORKERS && slot < 0; w++)
            if (self->workers [w].name [0] && !strcmp (self->workers [w].name, mw->name))
                slot = w;
        for (int w = 0; w < TS_MAX_WORKERS && slot < 0; w++)
            if (!self->workers [w].name [0])
                slot = w;
        if (slot < 0)
            continue;
        s_worker_t *wk = &self->workers [slot];
        if (!wk->dealer || strcmp (wk->peer, mw->peer)) {
            zsock_destroy (&wk->dealer);
            wk->dealer = ts_dealer_new (mw->peer);
            if (wk->dealer)
                zsock_set_rcvtimeo (wk->dealer, 0);     /* read until empty (ts_api_run) */
        }
        snprintf (wk->name, sizeof wk->name, "%s", mw->name);
        snprintf (wk->peer, sizeof wk->peer, "%s", mw->peer);
        wk->alive = true;
        seen [slot] = true;
        slot_of [i] = slot;
    }
    int owners [TS_MAX_SHARDS];
    for (unsigned s = 0; s < nshards; s++)
        owners [s] = m->owners [s] >= 0 ? slot_of [m->owners [s]] : -1;
    bool lost = false;
    for (int w = 0; w < TS_MAX_WORKERS; w++)
        if (!seen [w] && self->workers [w].alive) {
            self->workers [w].alive = false;
            zsock_destroy (&self->workers [w].dealer);
            self->workers [w].name [0] = 0;
            lost = true;
        }
    if (lost) {
        /* answers from a worker that left will not come: ask again */
        size_t p2 = 0;
        void *v2;
        while (ts_map_next (self->reqs, &p2, NULL, NULL, &v2)) {
            s_req_t *r = v2;
            if (!r->parked && r->waiting > 0 && (r->op <= TS_OP_CHECK || TS_OP_PER_SHARD (r->op)
                                                 || r->op == TS_OP_SEARCH || r->op == TS_OP_LABELS))
                s_req_park (r);
        }
    }
    self->nshards = nshards;
    memcpy (self->owners, owners, nshards * sizeof *owners);
    self->epoch = m->epoch;
    self->have_map = true;
    self->map_gen++;
    /* requests parked for a map go again */
    s_req_t *parked [1024];
    int np = api_collect (self, api_is_parked, 0, parked, 1024);
    for (int i = 0; i < np; i++) {
        /* a new rid: answers to the earlier attempt are then ignored */
        s_req_t *r = ts_map_take (self->reqs, &parked [i]->rid, sizeof parked [i]->rid);
        r->rid = self->next_rid++;
        r->parked = false;
        if (ts_map_put (self->reqs, &r->rid, sizeof r->rid, r)) {
            api_send_error (self, r->client, r->delim, r, ts_errname (TS_ENOMEM), "out of memory");
            api_req_free (r);
            continue;
        }
        api_dispatch (self, r);
    }
}

/* --- dispatch --------------------------------------------------------------- */

void
api_park (ts_api_t *self, s_req_t *r, const char *why)
{
    if (++r->retries > S_RETRIES) {
        api_finish_error (self, r, ts_errname (TS_EUNAVAILABLE), why);
        return;
    }
    s_req_park (r);
    if (api_now () - self->map_asked > 100)
        api_ask_map (self);
}

static void
s_send_to_agg (ts_api_t *self, s_req_t *r, ts_msg_t type)
{
    /* the client's fields pass through; "t" and "rid" are ours */
    ts_hdr_t *h = &self->hdr;
    static const char *const ours [] = { "v", "t", "rid", "op", NULL };
    self->tmp.size = 0;
    uint32_t kept = ts_mp_map_copy_pairs (zframe_data (r->request), zframe_size (r->request),
                                          ours, &self->tmp);
    ts_hdr_begin (h, type, kept + 1);
    ts_hdr_uint (h, "rid", r->rid);
    ts_hdr_pairs (h, self->tmp.data, self->tmp.size, kept);
    ts_hdr_send (h, zsock_resolve (self->agg), NULL, NULL, 0);
    r->waiting = 1;
}

/*  How many shards worker w owns. */
static int
s_owned (ts_api_t *self, int w)
{
    int owned = 0;
    for (unsigned s = 0; s < self->nshards; s++)
        owned += self->owners [s] == w;
    return owned;
}

/*  The "shards" field of a read, those worker w owns: packed at the end
 *  of self->tmp (valid until it grows again). */
static ts_wire_array_t
s_pack_shards (ts_api_t *self, int w)
{
    ts_buf_t *b = &self->tmp;
    size_t at = b->size;
    msgpack_packer pk;
    msgpack_packer_init (&pk, b, ts_buf_packer_write);
    msgpack_pack_array (&pk, s_owned (self, w));
    for (unsigned s = 0; s < self->nshards; s++)
        if (self->owners [s] == w)
            msgpack_pack_uint32 (&pk, s);
    return ts_wire_array_packed (b->data + at, b->size - at);
}

/*  Sends a read to worker `w` for the shards it owns. */
static void
s_send_read (ts_api_t *self, s_req_t *r, int w, ts_msg_t type)
{
    ts_hdr_t *h = &self->hdr;
    if (TS_OP_PER_SHARD (r->op)) {
        uint32_t rlen = 0;
        const char *run = NULL;
        if (r->op == TS_OP_DROP) {
            ts_hdrin_t in = { 0 };
            in.data = (const char *) zframe_data (r->request);
            in.len = zframe_size (r->request);
            run = ts_hdr_get_str (&in, "run", &rlen);
        }
        self->tmp.size = 0;
        ts_wire_rdrop_t m = { r->rid, s_pack_shards (self, w), { run ? run : "", rlen } };
        if (type == TS_MSG_RDROP)
            ts_wire_rdrop_encode (h, &m);
        else                            /* rcheck, rcompact: the same less the run */
            ts_wire_encode (h, type, &(ts_wire_any_t) { .rcheck = { m.rid, m.shards } });
        ts_hdr_send (h, zsock_resolve (self->workers [w].dealer), NULL, NULL, 0);
        r->waiting++;
        return;
    }
    const ts_sort_t *so = &r->listing->sort;
    /* the cursor as the api decoded it, then the shards, packed in scratch */
    ts_buf_t *b = &self->tmp;
    b->size = 0;
    if (so->has_cursor) {
        msgpack_packer pk;
        msgpack_packer_init (&pk, b, ts_buf_packer_write);
        msgpack_pack_array (&pk, 3);
        if (so->order == TS_ORDER_CREATED)
            msgpack_pack_int64 (&pk, so->cur_time);
        else if (so->order == TS_ORDER_REWARD && !so->cur_no_reward)
            msgpack_pack_double (&pk, so->cur_reward);
        else if (so->order == TS_ORDER_REWARD)
            msgpack_pack_nil (&pk);
        else
            msgpack_pack_int64 (&pk, 0);
        ts_mp_pack_strn (&pk, so->cur_id, so->cur_id_len);
        msgpack_pack_int64 (&pk, so->cur_ingested);
    }
    size_t cur_end = b->size;
    /* the limit and the record mode as the api settled them (an export
     * has its own defaults): the workers must not re-derive them */
    ts_wire_rlist_t m = { .rid = r->rid, .limit = r->listing->limit,
                          .records = r->listing->records, .shards = s_pack_shards (self, w) };
    if (so->has_cursor)
        m.cur = ts_wire_array_packed (b->data, cur_end);
    ts_wire_encode (h, type, &(ts_wire_any_t) { .rlist = m });   /* rlist, rcount, rsearch */
    ts_hdr_send (h, zsock_resolve (self->workers [w].dealer), NULL,
                 zframe_data (r->request), zframe_size (r->request));
    r->waiting++;
}

/*  "labels": with an id, to the owner of its shard; else to every worker
 *  for the shards it owns, with the client's request (its filter) as the
 *  payload (docs/INTERNALS.md, "rlabels"). */
void
api_send_labels (ts_api_t *self, s_req_t *r)
{
    ts_hdrin_t in = { 0 };
    in.data = (const char *) zframe_data (r->request);
    in.len = zframe_size (r->request);
    uint32_t idlen, klen;
    const char *id = ts_hdr_get_str (&in, "id", &idlen);
    const char *key = ts_hdr_get_str (&in, "key", &klen);
    bool per_model = ts_hdr_get_bool (&in, "per_model", false);
    ts_hdr_t *h = &self->hdr;
    if (id) {
        unsigned shard = ts_shard_of (id, idlen, self->nshards);
        const uint8_t one [] = { 0x91, 0xce, (uint8_t) (shard >> 24), (uint8_t) (shard >> 16),
                                 (uint8_t) (shard >> 8), (uint8_t) shard };    /* [shard] */
        ts_wire_rlabels_encode (h, &(ts_wire_rlabels_t) { .rid = r->rid,
            .shards = ts_wire_array_packed (one, sizeof one), .id = { id, idlen } });
        ts_hdr_send (h, zsock_resolve (self->workers [self->owners [shard]].dealer), NULL, NULL, 0);
        r->waiting = 1;
        return;
    }
    /* groups: the request's filters alone, counted per group */
    bool per_group = r->op == TS_OP_GROUPS;
    self->tmp.size = 0;
    if (per_group && api_groups_payload (self, r, &self->tmp))
        return;
    size_t psize = self->tmp.size;      /* the payload, then each worker's shards */
    for (int w = 0; w < TS_MAX_WORKERS; w++) {
        if (!s_owned (self, w))
            continue;
        self->tmp.size = psize;
        ts_wire_rlabels_encode (h, &(ts_wire_rlabels_t) { .rid = r->rid,
            .shards = s_pack_shards (self, w), .key = { key, key ? klen : 0 },
            .per_model = per_model, .per_group = per_group });
        ts_hdr_send (h, zsock_resolve (self->workers [w].dealer), NULL,
                     per_group ? (const void *) self->tmp.data : (const void *) zframe_data (r->request),
                     per_group ? psize : zframe_size (r->request));
        r->waiting++;
    }
}

void
api_dispatch (ts_api_t *self, s_req_t *r)
{
    /* a check reads every shard whole, a drop or a compaction rewrites
     * parts of it: they have minutes, not seconds */
    r->deadline = api_now () + (TS_OP_PER_SHARD (r->op) ? 30 * S_TIMEOUT_MS : S_TIMEOUT_MS);
    switch (r->op) {
    case TS_OP_STATS:  s_send_to_agg (self, r, TS_MSG_STATS); return;
    case TS_OP_GROUPS:
        if (api_groups_labelled (r))
            break;                      /* the workers count them */
        s_send_to_agg (self, r, TS_MSG_GROUPS);
        return;
    case TS_OP_JOB:    s_send_to_agg (self, r, TS_MSG_JOB); return;
    case TS_OP_HEALTH: s_send_to_agg (self, r, TS_MSG_STATUS); return;
    case TS_OP_RUNS:   s_send_to_agg (self, r, TS_MSG_RUNS); return;
    case TS_OP_COMPARE: s_send_to_agg (self, r, TS_MSG_COMPARE); return;
    default: break;
    }
    if (!self->have_map) {
        api_park (self, r, "no shard map from the aggregator yet");
        return;
    }
    for (unsigned s = 0; s < self->nshards; s++) {
        int o = self->owners [s];
        if (o < 0 || !self->workers [o].dealer) {
            char why [96];
            snprintf (why, sizeof why, "shard %u has no live owner", s);
            api_park (self, r, why);
            return;
        }
    }
    if (r->op == TS_OP_LABELS || r->op == TS_OP_GROUPS) {
        api_send_labels (self, r);
        return;
    }
    if (r->op == TS_OP_GET) {
        uint32_t idlen;
        ts_hdrin_t in = { 0 };
        in.data = (const char *) zframe_data (r->request);
        in.len = zframe_size (r->request);
        const char *id = ts_hdr_get_str (&in, "id", &idlen);
        unsigned shard = ts_shard_of (id, idlen, self->nshards);
        ts_hdr_t *h = &self->hdr;
        ts_wire_rget_encode (h, &(ts_wire_rget_t) { r->rid, shard, { id, idlen } });
        ts_hdr_send (h, zsock_resolve (self->workers [self->owners [shard]].dealer), NULL, NULL, 0);
        r->waiting = 1;
        return;
    }
    ts_msg_t type = r->op == TS_OP_COUNT ? TS_MSG_RCOUNT : r->op == TS_OP_CHECK ? TS_MSG_RCHECK
                  : r->op == TS_OP_SEARCH ? TS_MSG_RSEARCH
                  : r->op == TS_OP_DROP ? TS_MSG_RDROP : r->op == TS_OP_COMPACT ? TS_MSG_RCOMPACT
                  : TS_MSG_RLIST;
    for (int w = 0; w < TS_MAX_WORKERS; w++)
        if (s_owned (self, w))
            s_send_read (self, r, w, type);
}
