/*  ts_reads.c: the worker's read side: "rget", "rlist", "rcount",
 *  "rsearch", "rcheck", and the operator's "rdrop" and "rcompact" from
 *  the api over the peer socket (docs/INTERNALS.md).
 *
 *  Runs on the worker's one thread, between commits, so every answer
 *  reflects exactly the batches committed before the request arrived. A
 *  request naming a shard this worker does not hold (the map moved it, or
 *  it is still opening) is answered NOT_OWNER: the api refreshes its map
 *  and asks again.
 */
#include "ts_reads.h"
#include "ts_check.h"
#include "ts_error.h"
#include "ts_labels.h"
#include "ts_wire.h"
#include "ts_query.h"
#include "ts_request.h"
#include "ts_groups.h"
#include "ts_search.h"
#include "ts_store.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_SHARDS 1024

typedef struct {
    ts_hdr_t hdr;
    ts_buf_t items;
    ts_buf_t rec;
} s_ctx_t;

static s_ctx_t s_ctx;

/*  An "rres" and its payload (NULL: none), copied once into its frame. */
static zmsg_t *
s_answer (const ts_wire_rres_t *m, const void *payload, size_t len)
{
    ts_wire_rres_encode (&s_ctx.hdr, m);
    return ts_hdr_msg (&s_ctx.hdr, payload, len);
}

/*  The answer to request rid, with no payload: its success (code 0) or
 *  its failure (a TS_E* code and why). */
static zmsg_t *
s_reply (uint64_t rid, int code, const char *message)
{
    return s_answer (&(ts_wire_rres_t) { .rid = rid, .ok = !code, .failed = code != 0,
                                         .code = code, .msg = ts_wire_cstr (message) },
                     NULL, 0);
}

/*  The success of request rid, with its payload (the items packed in
 *  s_ctx.items). */
static zmsg_t *
s_reply_items (uint64_t rid)
{
    return s_answer (&(ts_wire_rres_t) { .rid = rid, .ok = true },
                     s_ctx.items.data ? s_ctx.items.data : "", s_ctx.items.size);
}

/*  The stores of the shards a request names; NOT_OWNER when one is not
 *  held here. */
static int
s_stores (ts_worker_t *w, const ts_wire_array_t *shards, ts_store_t **stores, size_t *n)
{
    ts_mp_reader_t r;
    *n = 0;
    if (shards->count > S_MAX_SHARDS)
        return TS_EBADREQ;
    ts_wire_array_reader (shards, &r);
    for (uint32_t i = 0; i < shards->count; i++) {
        uint64_t s;
        if (ts_mp_read_uint (&r, &s))
            return TS_EBADREQ;
        ts_store_t *st = s < ts_worker_nshards (w) ? ts_worker_store (w, (unsigned) s) : NULL;
        if (!st)
            return TS_ENOTFOUND;
        stores [(*n)++] = st;
    }
    return 0;
}

typedef struct {
    uint32_t n;
} s_emit_t;

static int
s_emit (void *arg, const ts_summary_t *s, const char *summary, size_t summary_len,
        const char *record, size_t record_len)
{
    (void) s;
    s_emit_t *e = arg;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &s_ctx.items, ts_buf_packer_write);
    const char *p = record ? record : summary;
    size_t len = record ? record_len : summary_len;
    if (msgpack_pack_bin (&pk, len) || msgpack_pack_bin_body (&pk, p, len))
        return TS_ENOMEM;
    e->n++;
    return 0;
}

/*  A search hit: one bin holding the summary and then [score, time,
 *  step, snippet] (the api merges on them and unpacks the summary as a
 *  list item's). */
static int
s_emit_hit (void *arg, const ts_summary_t *s, const char *summary, size_t summary_len,
            const ts_search_hit_t *hit)
{
    (void) s;
    s_emit_t *e = arg;
    ts_buf_t *b = &s_ctx.rec;
    b->size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, b, ts_buf_packer_write);
    if (ts_buf_append (b, summary, summary_len) || msgpack_pack_array (&pk, 4)
    ||  msgpack_pack_double (&pk, hit->score) || msgpack_pack_int64 (&pk, hit->time)
    ||  msgpack_pack_uint32 (&pk, hit->step)
    ||  ts_mp_pack_strn (&pk, hit->snippet, hit->snippet_len))
        return TS_ENOMEM;
    return s_emit (e, NULL, b->data, b->size, NULL, 0);
}

/*  The items of a list or a search (n of them, more: the shards hold
 *  more), packed in s_ctx.items. */
static zmsg_t *
s_listed (uint64_t rid, uint32_t n, bool more)
{
    return s_answer (&(ts_wire_rres_t) { .rid = rid, .ok = true, .listed = true, .n = n,
                                         .more = more },
                     s_ctx.items.data ? s_ctx.items.data : "", s_ctx.items.size);
}

/*  "rsearch": the request map's search over the named shards. */
static zmsg_t *
s_search (ts_store_t **stores, size_t n, zframe_t *req, uint64_t rid)
{
    ts_listing_t *l = malloc (sizeof *l);
    ts_search_query_t *q = malloc (sizeof *q);
    ts_search_order_t order;
    char err [256];
    zmsg_t *m;
    if (!l || !q)
        m = s_reply (rid, TS_ENOMEM, "out of memory");
    else if (ts_search_request (l, zframe_data (req), zframe_size (req), q, &order, err, sizeof err))
        m = s_reply (rid, TS_EBADREQ, err);
    else {
        s_ctx.items.size = 0;
        s_emit_t e = { 0 };
        bool more = false;
        int rc = ts_search_run (stores, n, q, &l->filter, order, l->limit, s_emit_hit, &e, &more);
        if (rc)
            m = s_reply (rid, rc == TS_ECORRUPT ? TS_ECORRUPT : TS_ESTORE, ts_strerror (rc));
        else
            m = s_listed (rid, e.n, more);
    }
    free (l);
    free (q);
    return m;
}

/*  Applies the cursor the api decoded ("cur": [key, id, ingest time];
 *  absent, none). */
static int
s_cursor (const ts_wire_array_t *cur, ts_listing_t *l)
{
    ts_mp_reader_t r;
    ts_mp_item_t k;
    const char *id;
    uint32_t idlen;
    if (!cur->items)
        return 0;
    ts_wire_array_reader (cur, &r);
    int64_t tie;
    if (cur->count != 3 || ts_mp_next (&r, &k)
    ||  ts_mp_read_str (&r, &id, &idlen) || ts_mp_read_int (&r, &tie) || idlen > TS_ID_MAX_BYTES)
        return TS_EBADREQ;
    return ts_listing_set_cursor (l, &k, tie, id, idlen);
}

/*  "rdrop" (run) and "rcompact": a drop of the run's records, or a
 *  compaction of the records file, on each named shard (ts_store.h), one
 *  report a shard: [{shard, dropped | reclaimed}...]. A drop that changed
 *  a shard has the aggregator rebuild its statistics (resync). Like a
 *  check, it holds the worker; heartbeats go out between transactions. */
static zmsg_t *
s_drop (ts_worker_t *w, const ts_wire_rdrop_t *m, bool drop, const uint64_t *shards,
        uint32_t cnt)
{
    uint64_t rid = m->rid;
    uint32_t run_len = (uint32_t) m->run.len;
    const char *run = m->run.ptr;
    if (drop && (!run || run_len == 0 || m->run.len > TS_RUN_MAX_BYTES))
        return s_reply (rid, TS_EBADREQ, "rdrop needs a run");
    s_ctx.items.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &s_ctx.items, ts_buf_packer_write);
    msgpack_pack_array (&pk, cnt);
    for (uint32_t i = 0; i < cnt; i++) {
        unsigned s = (unsigned) shards [i];
        ts_store_t *st = ts_worker_store (w, s);
        uint64_t n = 0;
        ts_worker_heartbeat (w);
        int rc = drop ? ts_store_drop_run (st, run, run_len, 0, &n)
                      : ts_store_compact (st, &n);
        if (drop && n > 0)
            ts_worker_resync (w, s);
        if (rc) {
            char m [600];
            snprintf (m, sizeof m, "shard %u: %s", s, ts_store_errmsg (st));
            ts_worker_store_failed (w, s);
            return s_reply (rid, rc, m);
        }
        msgpack_pack_map (&pk, 2);
        ts_mp_pack_cstr (&pk, "shard");
        msgpack_pack_uint64 (&pk, s);
        ts_mp_pack_cstr (&pk, drop ? "dropped" : "reclaimed");
        msgpack_pack_uint64 (&pk, n);
    }
    return s_reply_items (rid);
}

/*  "rcheck": the consistency checker over the named shards (records
 *  against index entries against totals), one report a shard. It holds the
 *  worker for as long as it reads: an operator's request, not a hot path. */
static zmsg_t *
s_check (ts_worker_t *w, ts_hdrin_t *in, uint64_t rid)
{
    ts_wire_any_t m;
    ts_mp_reader_t r;
    uint32_t cnt;
    uint64_t shards [S_MAX_SHARDS];
    if (ts_wire_decode (in, &m))
        return s_reply (rid, TS_EBADREQ, in->msg == TS_MSG_RDROP
                        ? "rdrop needs a run and a shard list" : "bad shard list");
    /* rcheck and rcompact are rdrop less the run */
    ts_wire_rdrop_t op = in->msg == TS_MSG_RDROP ? m.rdrop
                       : (ts_wire_rdrop_t) { m.rcheck.rid, m.rcheck.shards, { 0 } };
    cnt = op.shards.count;
    ts_wire_array_reader (&op.shards, &r);
    if (cnt > S_MAX_SHARDS)
        return s_reply (rid, TS_EBADREQ, "bad shard list");
    for (uint32_t i = 0; i < cnt; i++)
        if (ts_mp_read_uint (&r, &shards [i]) || shards [i] >= ts_worker_nshards (w)
        ||  !ts_worker_store (w, (unsigned) shards [i]))
            return s_reply (rid, TS_ENOTOWNER, "shard not held here");
    if (in->msg != TS_MSG_RCHECK)
        return s_drop (w, &op, in->msg == TS_MSG_RDROP, shards, cnt);
    s_ctx.items.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &s_ctx.items, ts_buf_packer_write);
    msgpack_pack_array (&pk, cnt);
    for (uint32_t i = 0; i < cnt; i++) {
        ts_store_t *st = ts_worker_store (w, (unsigned) shards [i]);
        ts_check_report_t rep;
        ts_worker_heartbeat (w);        /* a shard at a time: stay alive (and
                                           within one: the store's tick) */
        int rc = ts_check_store (st, &rep);
        msgpack_pack_map (&pk, 12);
        ts_mp_pack_cstr (&pk, "labels");        msgpack_pack_uint64 (&pk, rep.labels);
        ts_mp_pack_cstr (&pk, "shard");         msgpack_pack_uint64 (&pk, shards [i]);
        ts_mp_pack_cstr (&pk, "path");          ts_mp_pack_cstr (&pk, ts_store_path (st));
        ts_mp_pack_cstr (&pk, "records");       msgpack_pack_uint64 (&pk, rep.records);
        ts_mp_pack_cstr (&pk, "index_entries"); msgpack_pack_uint64 (&pk, rep.index_entries);
        ts_mp_pack_cstr (&pk, "groups");        msgpack_pack_uint64 (&pk, rep.groups);
        ts_mp_pack_cstr (&pk, "models");        msgpack_pack_uint64 (&pk, rep.models);
        ts_mp_pack_cstr (&pk, "batches");       msgpack_pack_uint64 (&pk, rep.batches);
        ts_mp_pack_cstr (&pk, "postings");      msgpack_pack_uint64 (&pk, rep.postings);
        ts_mp_pack_cstr (&pk, "text_indexed");  msgpack_pack_uint64 (&pk, rep.text_indexed);
        ts_mp_pack_cstr (&pk, "problems");
        msgpack_pack_uint64 (&pk, rc == 0 || rc == TS_EINCONSISTENT ? rep.problems : rep.problems + 1);
        ts_mp_pack_cstr (&pk, "first_problem");
        if (rc && rc != TS_EINCONSISTENT)
            ts_mp_pack_cstr (&pk, ts_store_errmsg (st));
        else if (rep.problems)
            ts_mp_pack_cstr (&pk, rep.first_problem);
        else
            msgpack_pack_nil (&pk);
    }
    return s_reply_items (rid);
}

/*  "rlabels": with an id, that record's labels and their history
 *  ([labels map, history array]); else the totals by label of the named
 *  shards' records that the request's listing fields select
 *  ([[key, value, model|nil, totals]...], ts_labels.h). */
static zmsg_t *
s_labels (ts_worker_t *w, const ts_wire_rlabels_t *m, zmsg_t *rest, ts_store_t **stores,
          size_t n)
{
    uint64_t rid = m->rid;
    const char *id = m->id.ptr;
    size_t idlen = m->id.len;
    int rc = 0;
    s_ctx.items.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &s_ctx.items, ts_buf_packer_write);
    if (id) {
        uint32_t nl, nh;
        s_ctx.rec.size = 0;
        rc = ts_store_labels_of (stores [0], id, idlen, false, &s_ctx.rec, &nl);
        size_t split = s_ctx.rec.size;
        if (!rc)
            rc = ts_store_labels_of (stores [0], id, idlen, true, &s_ctx.rec, &nh);
        if (!rc) {
            msgpack_pack_array (&pk, 2);
            msgpack_pack_map (&pk, nl);
            ts_buf_append (&s_ctx.items, s_ctx.rec.data, split);
            msgpack_pack_array (&pk, nh);
            ts_buf_append (&s_ctx.items, s_ctx.rec.data + split, s_ctx.rec.size - split);
        }
        if (rc)
            return s_reply (rid, TS_ESTORE, ts_store_errmsg (stores [0]));
    }
    else {
        zframe_t *req = zmsg_first (rest);
        ts_listing_t *l = malloc (sizeof *l);
        char err [256];
        if (!l)
            return s_reply (rid, TS_ENOMEM, "out of memory");
        ts_label_acc_t *acc = ts_label_acc_new ();
        if (!req || ts_listing_parse (l, zframe_data (req), zframe_size (req), 100, 0, err, sizeof err)) {
            free (l);
            ts_label_acc_destroy (&acc);
            return s_reply (rid, TS_EBADREQ, "bad listing fields");
        }
        if (m->per_group)                   /* "groups" with labels */
            rc = ts_groups_totals (stores, n, &l->filter, &pk);
        else {
            rc = acc ? ts_labels_totals (stores, n, &l->filter, m->key.ptr, m->key.len,
                                         m->per_model, acc) : TS_ENOMEM;
            if (!rc)
                rc = ts_label_acc_pack_rows (acc, &pk);
        }
        ts_label_acc_destroy (&acc);
        free (l);
        ts_worker_heartbeat (w);
        if (rc)
            return s_reply (rid, TS_ESTORE, ts_strerror (rc));
    }
    return s_reply_items (rid);
}

/*  "rget": the record with the id asked, from the one shard holding it. */
static zmsg_t *
s_get (ts_worker_t *w, const ts_wire_rget_t *m)
{
    ts_store_t *st = m->shard < ts_worker_nshards (w) ? ts_worker_store (w, (unsigned) m->shard)
                                                      : NULL;
    if (!st)
        return s_reply (m->rid, TS_ENOTOWNER, "shard not held here");
    s_ctx.rec.size = 0;
    int rc = ts_store_get (st, m->id.ptr, m->id.len, &s_ctx.rec);
    if (rc == TS_ENOTFOUND)
        return s_reply (m->rid, TS_ENOTFOUND, "no record with that id");
    if (rc)
        return s_reply (m->rid, TS_ESTORE, ts_store_errmsg (st));
    return s_answer (&(ts_wire_rres_t) { .rid = m->rid, .ok = true },
                     s_ctx.rec.data ? s_ctx.rec.data : "", s_ctx.rec.size);
}

/*  "rlist", "rcount": the listing fields of the request map over the
 *  named shards, with the api's settled limit, record mode and cursor. */
static zmsg_t *
s_list (const ts_wire_rlist_t *m, ts_msg_t type, zframe_t *req, ts_store_t **stores, size_t n)
{
    ts_listing_t l;
    char err [256];
    /* key 0: the api checked the cursor; it passes the decoded one in "cur" */
    if (ts_listing_parse (&l, zframe_data (req), zframe_size (req), 100, 0, err, sizeof err)
    ||  s_cursor (&m->cur, &l))
        return s_reply (m->rid, TS_EBADREQ, "bad listing fields");
    /* the api's settled limit and record mode win over the defaults */
    if (m->limit >= 1 && m->limit <= TS_QUERY_MAX_LIMIT)
        l.limit = (uint32_t) m->limit;
    l.records = m->records;
    int rc;
    if (type == TS_MSG_RCOUNT) {
        uint64_t count = 0;
        rc = ts_query_count (stores, n, &l.filter, &count);
        if (rc)
            return s_reply (m->rid, TS_ESTORE, ts_strerror (rc));
        return s_answer (&(ts_wire_rres_t) { .rid = m->rid, .ok = true, .counted = true,
                                             .count = count }, NULL, 0);
    }
    s_ctx.items.size = 0;
    s_emit_t e = { 0 };
    bool more = false;
    rc = ts_query_list (stores, n, &l.filter, &l.sort, l.limit, l.records, s_emit, &e, &more);
    if (rc)
        return s_reply (m->rid, TS_ESTORE, ts_strerror (rc));
    return s_listed (m->rid, e.n, more);
}

zmsg_t *
ts_reads_handle (ts_worker_t *w, const void *hdr, size_t hdr_len, zmsg_t *rest)
{
    ts_hdrin_t in;
    if (ts_hdr_parse (&in, hdr, hdr_len))
        return s_reply (0, TS_EBADREQ, "not a trajstore read request");
    /* read on its own too: a request that does not decode is answered */
    uint64_t rid = ts_hdr_get_uint (&in, "rid", 0);
    if (in.msg == TS_MSG_RCHECK || in.msg == TS_MSG_RDROP || in.msg == TS_MSG_RCOMPACT)
        return s_check (w, &in, rid);
    if (in.msg != TS_MSG_RGET && in.msg != TS_MSG_RLIST && in.msg != TS_MSG_RCOUNT
    &&  in.msg != TS_MSG_RSEARCH && in.msg != TS_MSG_RLABELS)
        return s_reply (rid, TS_EUNKNOWNOP, "unknown read request");
    ts_wire_any_t m;
    if (ts_wire_decode (&in, &m))
        return s_reply (rid, TS_EBADREQ, in.msg == TS_MSG_RGET ? "rget needs a shard and an id"
                                                               : "bad read request fields");
    if (in.msg == TS_MSG_RGET)
        return s_get (w, &m.rget);
    ts_store_t *stores [S_MAX_SHARDS];
    size_t n = 0;
    int rc = s_stores (w, in.msg == TS_MSG_RLABELS ? &m.rlabels.shards : &m.rlist.shards,
                       stores, &n);
    if (rc == TS_ENOTFOUND)
        return s_reply (rid, TS_ENOTOWNER, "shard not held here");
    if (rc)
        return s_reply (rid, TS_EBADREQ, "bad shard list");
    if (in.msg == TS_MSG_RLABELS) {
        if (m.rlabels.id.ptr && n != 1)
            return s_reply (rid, TS_EBADREQ, "rlabels of an id names its one shard");
        return s_labels (w, &m.rlabels, rest, stores, n);
    }
    zframe_t *req = zmsg_first (rest);
    if (!req)
        return s_reply (rid, TS_EBADREQ, "the request map is missing");
    if (in.msg == TS_MSG_RSEARCH)
        return s_search (stores, n, req, rid);
    return s_list (&m.rlist, in.msg, req, stores, n);
}

void
ts_reads_cleanup (void)
{
    ts_hdr_free (&s_ctx.hdr);
    ts_buf_free (&s_ctx.items);
    ts_buf_free (&s_ctx.rec);
}
