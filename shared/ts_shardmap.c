/*  ts_shardmap.c: shard assignment and the map on the wire
 *  (ts_shardmap.h). */
#include "ts_shardmap.h"
#include "ts_error.h"
#include "ts_mp.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

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

/* --- the map on the wire ---------------------------------------------------- */

void
ts_shardmap_encode (ts_hdr_t *h, const ts_shardmap_t *m)
{
    assert (h && m && m->nshards <= TS_MAX_SHARDS && m->nworkers <= TS_MAX_WORKERS);
    ts_hdr_begin (h, TS_MSG_MAP, 5);
    ts_hdr_uint (h, "epoch", m->epoch);
    ts_hdr_uint (h, "inc", m->inc);
    ts_hdr_uint (h, "nshards", m->nshards);
    ts_hdr_key (h, "owners");
    msgpack_pack_array (&h->pk, m->nshards);
    for (unsigned i = 0; i < m->nshards; i++)
        msgpack_pack_int (&h->pk, m->owners [i]);
    ts_hdr_key (h, "workers");
    msgpack_pack_array (&h->pk, m->nworkers);
    for (unsigned i = 0; i < m->nworkers; i++) {
        const ts_shardmap_worker_t *w = &m->workers [i];
        if (w->name [0]) {
            msgpack_pack_array (&h->pk, 2);
            ts_mp_pack_cstr (&h->pk, w->name);
            ts_mp_pack_cstr (&h->pk, w->peer);
        }
        else
            msgpack_pack_nil (&h->pk);
    }
    assert (ts_hdr_is_complete (h));
}

/*  A string item into buf (size bytes, NUL included): false when it is
 *  not a string or does not fit. */
static bool
s_copy_str (const ts_mp_item_t *v, char *buf, size_t size)
{
    if (v->type != TS_MP_STR || v->len >= size)
        return false;
    memcpy (buf, v->ptr, v->len);
    buf [v->len] = 0;
    return true;
}

/*  The map's owners and workers (by slot). */
static int
s_decode_map (const ts_hdrin_t *in, ts_shardmap_t *m)
{
    ts_mp_reader_t r;
    uint32_t n;
    if (!ts_hdr_find (in, "workers", &r) || ts_mp_read_array (&r, &n) || n > TS_MAX_WORKERS)
        return TS_EPROTO;
    m->nworkers = n;
    for (uint32_t i = 0; i < n; i++) {
        ts_shardmap_worker_t *w = &m->workers [i];
        ts_mp_item_t it, name, peer;
        ts_mp_reader_t peek = r;
        if (ts_mp_next (&peek, &it))
            return TS_EPROTO;
        if (it.type == TS_MP_NIL) {
            r = peek;
            continue;
        }
        uint32_t two;
        if (ts_mp_read_array (&r, &two) || two != 2
        ||  ts_mp_next (&r, &name) || !s_copy_str (&name, w->name, sizeof w->name)
        ||  ts_mp_next (&r, &peer) || !s_copy_str (&peer, w->peer, sizeof w->peer))
            return TS_EPROTO;
    }
    if (!ts_hdr_find (in, "owners", &r) || ts_mp_read_array (&r, &n) || n != m->nshards)
        return TS_EPROTO;
    for (uint32_t s = 0; s < n; s++) {
        int64_t o;
        if (ts_mp_read_int (&r, &o))
            return TS_EPROTO;
        m->owners [s] = o >= 0 && o < (int64_t) m->nworkers ? (int) o : -1;
    }
    m->inc = ts_hdr_get_uint (in, "inc", 0);
    return 0;
}

int
ts_shardmap_decode (const ts_hdrin_t *in, ts_shardmap_t *m)
{
    assert (in && m);
    if (in->msg != TS_MSG_MAP)
        return TS_EPROTO;
    memset (m->workers, 0, sizeof m->workers);
    m->epoch = ts_hdr_get_uint (in, "epoch", 0);
    uint64_t nshards = ts_hdr_get_uint (in, "nshards", 0);
    if (nshards == 0 || nshards > TS_MAX_SHARDS)
        return TS_EPROTO;
    m->nshards = (unsigned) nshards;
    return s_decode_map (in, m);
}
