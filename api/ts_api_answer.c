/*  ts_api_answer.c: the record cache of gets, and the answers assembled
 *  from the pieces the workers and the aggregator send back (parts of the
 *  api: ts_api_int.h).
 */
#include "ts_api_int.h"
#include "ts_search.h"
#include "ts_labels.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_log.h"
#include "ts_proto.h"
#include "ts_query.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- the record cache ---------------------------------------------------------- */

static void
s_lru_unlink (ts_api_t *self, s_cached_t *e)
{
    if (e->prev) e->prev->next = e->next; else self->lru_head = e->next;
    if (e->next) e->next->prev = e->prev; else self->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void
s_lru_push (ts_api_t *self, s_cached_t *e)
{
    e->next = self->lru_head;
    e->prev = NULL;
    if (self->lru_head)
        self->lru_head->prev = e;
    self->lru_head = e;
    if (!self->lru_tail)
        self->lru_tail = e;
}

const s_cached_t *
api_cache_get (ts_api_t *self, const char *id, size_t len)
{
    s_cached_t *e = ts_map_get (self->cache, id, len);
    if (e) {
        s_lru_unlink (self, e);
        s_lru_push (self, e);
    }
    return e;
}

static void
s_cache_put (ts_api_t *self, const char *id, size_t id_len, const void *data, size_t len)
{
    if (len > S_CACHE_BYTES / 64 || ts_map_get (self->cache, id, id_len))
        return;
    s_cached_t *e = malloc (sizeof *e + id_len);
    char *copy = malloc (len);
    if (!e || !copy || ts_map_put (self->cache, id, id_len, e)) {
        free (e);
        free (copy);
        return;
    }
    memcpy (copy, data, len);
    memcpy (e->id, id, id_len);
    e->id_len = id_len;
    e->data = copy;
    e->len = len;
    s_lru_push (self, e);
    self->cache_bytes += len + id_len;
    while (self->cache_bytes > S_CACHE_BYTES && self->lru_tail) {
        s_cached_t *old = self->lru_tail;
        s_lru_unlink (self, old);
        ts_map_take (self->cache, old->id, old->id_len);
        self->cache_bytes -= old->len + old->id_len;
        free (old->data);
        free (old);
    }
}

/*  Answers a get from the record form. */
void
api_reply_record (ts_api_t *self, s_req_t *r, const void *data, size_t len)
{
    ts_summary_t s;
    const char *obj;
    size_t olen;
    if (ts_record_split (data, len, &s, &obj, &olen)) {
        api_finish_error (self, r, ts_errname (TS_ECORRUPT), "the stored record does not decode");
        return;
    }
    api_out_begin (self, r, true);
    api_out_key (self, "summary");
    ts_summary_pack_map (&self->pk, &s, 0);
    api_out_key (self, "record");
    ts_buf_append (&self->out, obj, olen);
    api_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/* --- assembling answers ------------------------------------------------------ */

typedef struct {
    const uint8_t *p, *end;     /* remaining bins of one worker */
    ts_summary_t   s;
    const char    *item;        /* current item bytes */
    size_t         item_len;
    bool           has;
} s_stream_t;

static bool
s_stream_next (s_stream_t *st)
{
    ts_mp_reader_t rd = { st->p, st->end };
    ts_mp_item_t it;
    st->has = false;
    if (st->p >= st->end || ts_mp_next (&rd, &it) || it.type != TS_MP_BIN)
        return false;
    st->p = rd.p;
    st->item = it.ptr;
    st->item_len = it.len;
    if (ts_summary_unpack_buf (it.ptr, it.len, &st->s, NULL))
        return false;
    st->has = true;
    return true;
}

/*  The k-way merge of the workers' ordered answers, up to the limit. */
static void
s_finish_list (ts_api_t *self, s_req_t *r)
{
    ts_listing_t *l = r->listing;
    s_stream_t st [TS_MAX_WORKERS];
    bool more = false;
    for (int i = 0; i < r->nparts; i++) {
        st [i].p = zframe_data (r->parts [i]);
        st [i].end = st [i].p + zframe_size (r->parts [i]);
        s_stream_next (&st [i]);
        more |= r->more [i];
    }
    bool is_export = r->op == TS_OP_EXPORT;
    api_out_begin (self, r, true);
    api_out_key (self, is_export ? "lines" : "items");
    ts_buf_t lines = { 0 };
    /* items are packed into tmp first: their count is known at the end */
    self->tmp.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->tmp, ts_buf_packer_write);
    uint32_t emitted = 0;
    ts_summary_t last;
    char lastid [TS_ID_MAX_BYTES];
    while (emitted < l->limit) {
        int best = -1;
        for (int i = 0; i < r->nparts; i++)
            if (st [i].has && (best < 0 || ts_sort_cmp (&l->sort, &st [i].s, &st [best].s) < 0))
                best = i;
        if (best < 0)
            break;
        s_stream_t *b = &st [best];
        if (is_export) {
            ts_summary_t s2;
            const char *obj;
            size_t olen;
            if (ts_record_split (b->item, b->item_len, &s2, &obj, &olen)
            ||  ts_mp_to_json (obj, olen, &lines)) {
                ts_buf_free (&lines);
                api_finish_error (self, r, ts_errname (TS_ECORRUPT), "a stored record does not decode");
                return;
            }
            ts_buf_append (&lines, "\n", 1);
        }
        else {
            bool with_record = l->records;
            ts_summary_pack_map (&pk, &b->s, with_record ? 1 : 0);
            if (with_record) {
                ts_summary_t s2;
                const char *obj;
                size_t olen;
                ts_mp_pack_cstr (&pk, "record");
                if (ts_record_split (b->item, b->item_len, &s2, &obj, &olen) == 0)
                    ts_buf_append (&self->tmp, obj, olen);
                else
                    msgpack_pack_nil (&pk);
            }
        }
        last = b->s;
        memcpy (lastid, b->s.id, b->s.id_len);
        last.id = lastid;
        emitted++;
        s_stream_next (b);
    }
    for (int i = 0; i < r->nparts; i++)
        more |= st [i].has;
    if (is_export)
        ts_mp_pack_strn (&self->pk, lines.data ? lines.data : "", lines.size);
    else {
        msgpack_pack_array (&self->pk, emitted);
        ts_buf_append (&self->out, self->tmp.data, self->tmp.size);
    }
    ts_buf_free (&lines);
    api_out_key (self, "count");
    msgpack_pack_uint32 (&self->pk, emitted);
    api_out_key (self, "next");
    char cursor [2 * TS_ID_MAX_BYTES + 256];
    if (more && emitted && ts_listing_cursor (l, &last, self->cursor_key, cursor, sizeof cursor) == 0)
        ts_mp_pack_cstr (&self->pk, cursor);
    else
        msgpack_pack_nil (&self->pk);
    api_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  The workers' shard reports, as one list, with the totals of their
 *  fields `k1` and `k2` (NULL: none): "problems" and "records" of a check,
 *  "dropped" of a drop, "reclaimed" of a compaction. */
static void
s_finish_shards (ts_api_t *self, s_req_t *r, const char *k1, const char *k2)
{
    uint64_t problems = 0, records = 0;
    uint32_t nshards = 0;
    self->tmp.size = 0;
    for (int i = 0; i < r->nparts; i++) {
        ts_mp_reader_t rd;
        uint32_t n;
        ts_mp_reader_init (&rd, zframe_data (r->parts [i]), zframe_size (r->parts [i]));
        if (ts_mp_read_array (&rd, &n))
            continue;
        for (uint32_t k = 0; k < n; k++) {
            ts_mp_reader_t one = rd, v;
            uint64_t x;
            if (ts_mp_reader_map_find (&one, k1, &v) && ts_mp_read_uint (&v, &x) == 0)
                problems += x;
            one = rd;
            if (k2 && ts_mp_reader_map_find (&one, k2, &v) && ts_mp_read_uint (&v, &x) == 0)
                records += x;
            const uint8_t *start = rd.p;
            if (ts_mp_skip (&rd))
                break;
            ts_buf_append (&self->tmp, start, (size_t) (rd.p - start));
            nshards++;
        }
    }
    api_out_begin (self, r, true);
    api_out_key (self, k1);
    msgpack_pack_uint64 (&self->pk, problems);
    if (k2) {
        api_out_key (self, k2);
        msgpack_pack_uint64 (&self->pk, records);
    }
    api_out_key (self, "shards");
    msgpack_pack_array (&self->pk, nshards);
    ts_buf_append (&self->out, self->tmp.data, self->tmp.size);
    api_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  The hit after a stream's summary: [score, time, step, snippet]. */
typedef struct {
    double      score;
    int64_t     time;
    uint64_t    step;
    const char *snippet;
    uint32_t    snippet_len;
} s_hit_t;

static bool
s_hit_of (const s_stream_t *st, s_hit_t *h)
{
    size_t used;
    ts_summary_t s;
    uint32_t n;
    if (ts_summary_unpack_buf (st->item, st->item_len, &s, &used))
        return false;
    ts_mp_reader_t rd;
    ts_mp_reader_init (&rd, st->item + used, st->item_len - used);
    return ts_mp_read_array (&rd, &n) == 0 && n == 4 && ts_mp_read_double (&rd, &h->score) == 0
        && ts_mp_read_int (&rd, &h->time) == 0 && ts_mp_read_uint (&rd, &h->step) == 0
        && ts_mp_read_str (&rd, &h->snippet, &h->snippet_len) == 0;
}

/*  "search": the workers' hits merged in the search's order, up to its
 *  limit (docs/PROTOCOL.md). */
static void
s_finish_search (ts_api_t *self, s_req_t *r)
{
    ts_search_query_t *q = malloc (sizeof *q);
    ts_listing_t *l = malloc (sizeof *l);
    ts_search_order_t order = TS_SEARCH_NEWEST;
    char err [256];
    if (!q || !l || ts_search_request (l, zframe_data (r->request), zframe_size (r->request), q,
                                       &order, err, sizeof err)) {
        free (q);
        free (l);
        api_finish_error (self, r, ts_errname (TS_ENOMEM), "out of memory");
        return;
    }
    free (l);
    s_stream_t st [TS_MAX_WORKERS];
    s_hit_t hit [TS_MAX_WORKERS];
    bool more = false;
    for (int i = 0; i < r->nparts; i++) {
        st [i].p = zframe_data (r->parts [i]);
        st [i].end = st [i].p + zframe_size (r->parts [i]);
        st [i].has = s_stream_next (&st [i]) && s_hit_of (&st [i], &hit [i]);
        more |= r->more [i];
    }
    api_out_begin (self, r, true);
    api_out_key (self, "items");
    self->tmp.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->tmp, ts_buf_packer_write);
    uint32_t emitted = 0;
    char next [TS_SEARCH_CURSOR_MAX];       /* after the last hit emitted */
    next [0] = 0;
    while (emitted < r->listing->limit) {
        int best = -1;
        for (int i = 0; i < r->nparts; i++)
            if (st [i].has && (best < 0
                || ts_search_cmp (order, hit [i].score, hit [i].time, st [i].s.id, st [i].s.id_len,
                                  hit [best].score, hit [best].time, st [best].s.id,
                                  st [best].s.id_len) < 0))
                best = i;
        if (best < 0)
            break;
        const s_hit_t *h = &hit [best];
        ts_summary_pack_map (&pk, &st [best].s, 3);
        ts_mp_pack_cstr (&pk, "step");
        msgpack_pack_uint64 (&pk, h->step);
        ts_mp_pack_cstr (&pk, "snippet");
        ts_mp_pack_strn (&pk, h->snippet, h->snippet_len);
        ts_mp_pack_cstr (&pk, "score");
        msgpack_pack_double (&pk, h->score);
        if (ts_search_cursor (q, order, h->score, h->time, st [best].s.id, st [best].s.id_len,
                              next, sizeof next))
            next [0] = 0;
        emitted++;
        st [best].has = s_stream_next (&st [best]) && s_hit_of (&st [best], &hit [best]);
    }
    for (int i = 0; i < r->nparts; i++)
        more |= st [i].has;
    msgpack_pack_array (&self->pk, emitted);
    ts_buf_append (&self->out, self->tmp.data, self->tmp.size);
    api_out_key (self, "count");
    msgpack_pack_uint32 (&self->pk, emitted);
    api_out_key (self, "more");
    if (more) msgpack_pack_true (&self->pk); else msgpack_pack_false (&self->pk);
    api_out_key (self, "next");             /* the next page's "after" */
    if (more && next [0]) ts_mp_pack_cstr (&self->pk, next); else msgpack_pack_nil (&self->pk);
    free (q);
    api_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  "labels": one record's labels and history as its owner sent them, or
 *  the workers' totals by label merged (ts_labels.h). */
static void
s_finish_labels (ts_api_t *self, s_req_t *r)
{
    ts_hdrin_t in = { 0 };
    in.data = (const char *) zframe_data (r->request);
    in.len = zframe_size (r->request);
    uint32_t idlen;
    const char *id = ts_hdr_get_str (&in, "id", &idlen);
    if (id) {
        ts_mp_reader_t rd, map;
        uint32_t two;
        ts_mp_reader_init (&rd, zframe_data (r->parts [0]), zframe_size (r->parts [0]));
        if (r->nparts != 1 || ts_mp_read_array (&rd, &two) || two != 2 || (map = rd, ts_mp_skip (&rd))) {
            api_finish_error (self, r, ts_errname (TS_ECORRUPT), "a worker's labels do not decode");
            return;
        }
        api_out_begin (self, r, true);
        api_out_key (self, "id");
        ts_mp_pack_strn (&self->pk, id, idlen);
        api_out_key (self, "labels");
        ts_buf_append (&self->out, map.p, (size_t) (rd.p - map.p));
        api_out_key (self, "history");
        ts_buf_append (&self->out, rd.p, (size_t) (rd.end - rd.p));
    }
    else {
        ts_label_acc_t *acc = ts_label_acc_new ();
        int rc = acc ? 0 : TS_ENOMEM;
        for (int i = 0; i < r->nparts && !rc; i++)
            rc = ts_label_acc_add_rows (acc, (const char *) zframe_data (r->parts [i]),
                                        zframe_size (r->parts [i]));
        if (rc) {
            ts_label_acc_destroy (&acc);
            api_finish_error (self, r, ts_errname (rc == TS_ENOMEM ? TS_ENOMEM : TS_ECORRUPT),
                              "a worker's totals by label do not decode");
            return;
        }
        api_out_begin (self, r, true);
        api_out_key (self, "labels");
        ts_label_acc_pack_client (acc, &self->pk);
        ts_label_acc_destroy (&acc);
    }
    api_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  Passes the aggregator's answer on: every field but its "v", "t", "ok"
 *  and "rid" (ours), under the client's envelope. */
static void
s_finish_agg (ts_api_t *self, s_req_t *r, ts_hdrin_t *in, zframe_t *body)
{
    if (!ts_hdr_get_bool (in, "ok", false)) {
        char code [32], msg [512] = "the aggregator refused";
        snprintf (code, sizeof code, "%s", ts_errname (TS_EUNAVAILABLE));
        ts_mp_reader_t er;
        if (ts_hdr_find (in, "error", &er)) {
            const uint8_t *p = er.p;
            ts_hdrin_t e = { 0 };
            e.data = (const char *) p;
            e.len = (size_t) (er.end - er.p);
            ts_hdr_copy_str (&e, "code", code, sizeof code);
            ts_hdr_copy_str (&e, "message", msg, sizeof msg);
        }
        api_finish_error (self, r, code, msg);
        return;
    }
    api_out_begin (self, r, true);
    static const char *const ours [] = { "v", "t", "ok", "rid", "body", NULL };
    self->out_n += ts_mp_map_copy_pairs (in->data, in->len, ours, &self->out);
    /* a large value (the rows of "groups") comes packed in a frame of its
     * own, named by "body": appended as it is, not walked */
    char body_key [32];
    if (body && zframe_size (body) > 0 && ts_hdr_copy_str (in, "body", body_key, sizeof body_key)) {
        api_out_key (self, body_key);
        if (ts_buf_append (&self->out, zframe_data (body), zframe_size (body))) {
            api_finish_error (self, r, ts_errname (TS_ENOMEM), "out of memory");
            return;
        }
    }
    if (r->op == TS_OP_HEALTH) {
        api_out_key (self, "api");
        msgpack_pack_map (&self->pk, 3);
        ts_mp_pack_cstr (&self->pk, "requests_served");
        msgpack_pack_uint64 (&self->pk, self->served);
        ts_mp_pack_cstr (&self->pk, "requests_in_flight");
        msgpack_pack_uint64 (&self->pk, ts_map_size (self->reqs));
        ts_mp_pack_cstr (&self->pk, "map_epoch");
        msgpack_pack_uint64 (&self->pk, self->epoch);
    }
    api_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  One message from the aggregator, read without waiting: false when none
 *  was there. */
bool
api_on_agg (ts_api_t *self)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, self->agg, false))
        return false;
    if (rv.rc == 0) {
        uint64_t rid = ts_hdr_get_uint (&rv.in, "rid", UINT64_MAX);
        if (rv.in.msg == TS_MSG_MAP)
            api_on_map (self, &rv.in);
        else {
            s_req_t *r = ts_map_get (self->reqs, &rid, sizeof rid);
            if (r && !r->parked)
                s_finish_agg (self, r, &rv.in, zmsg_first (rv.rest));
        }
    }
    ts_recv_free (&rv);
    return true;
}

/*  One answer from a worker, read without waiting: false when none was
 *  there. */
bool
api_on_worker (ts_api_t *self, zsock_t *dealer)
{
    ts_recv_t rv;
    if (!ts_recv (&rv, dealer, false))
        return false;
    ts_hdrin_t in = rv.in;
    zmsg_t *msg = rv.rest;
    if (rv.rc) {
        ts_recv_free (&rv);
        return true;
    }
    ts_wire_rres_t res;
    s_req_t *r = NULL;
    if (ts_wire_rres_decode (&in, &res) == 0)
        r = ts_map_get (self->reqs, &res.rid, sizeof res.rid);
    if (!r || r->parked || r->waiting <= 0) {
        ts_recv_free (&rv);
        return true;            /* late: answered already, or asked again (or
                                   not an "rres": dropped) */
    }
    if (res.failed && res.code == TS_ENOTOWNER)
        api_park (self, r, "shards are moving; retry");
    else if (res.failed && r->op == TS_OP_GET && res.code == TS_ENOTFOUND)
        api_finish_error (self, r, ts_errname (TS_ENOTFOUND), "no record with that id");
    else if (res.failed) {
        char m [512];
        ts_wire_str_copy (res.msg, m, sizeof m);
        api_finish_error (self, r, ts_errname ((int) res.code), m);
    }
    else if (r->op == TS_OP_GET) {
        zframe_t *rec = zmsg_first (msg);
        ts_summary_t s;
        if (rec && ts_summary_unpack_buf (zframe_data (rec), zframe_size (rec), &s, NULL) == 0)
            s_cache_put (self, s.id, s.id_len, zframe_data (rec), zframe_size (rec));
        if (rec)
            api_reply_record (self, r, zframe_data (rec), zframe_size (rec));
        else
            api_finish_error (self, r, ts_errname (TS_ECORRUPT), "the stored record does not decode");
    }
    else if (r->op == TS_OP_COUNT) {
        r->count += res.count;
        if (--r->waiting == 0) {
            api_out_begin (self, r, true);
            api_out_key (self, "count");
            msgpack_pack_uint64 (&self->pk, r->count);
            api_out_send (self, r->client, r->delim);
            ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
        }
    }
    else if (TS_OP_PER_SHARD (r->op) || r->op == TS_OP_LABELS || r->op == TS_OP_GROUPS) {
        zframe_t *items = zmsg_pop (msg);
        if (r->nparts < TS_MAX_WORKERS)
            r->parts [r->nparts++] = items ? items : zframe_new_empty ();
        else
            zframe_destroy (&items);
        if (--r->waiting > 0)
            ;
        else if (r->op == TS_OP_LABELS)
            s_finish_labels (self, r);
        else if (r->op == TS_OP_GROUPS)
            api_finish_groups (self, r);
        else if (r->op == TS_OP_CHECK)
            s_finish_shards (self, r, "problems", "records");
        else if (r->op == TS_OP_COMPACT)
            s_finish_shards (self, r, "reclaimed", NULL);
        else {
            /* the run's files and times go too; the aggregator rebuilds
             * its statistics on the shards' resyncs */
            ts_hdrin_t q = { 0 };
            q.data = (const char *) zframe_data (r->request);
            q.len = zframe_size (r->request);
            uint32_t rlen;
            const char *run = ts_hdr_get_str (&q, "run", &rlen);
            ts_wire_dropped_encode (&self->hdr, &(ts_wire_dropped_t) {
                .rid = 0, .run = { run ? run : "", run ? rlen : 0 } });
            ts_hdr_send (&self->hdr, zsock_resolve (self->agg), NULL, NULL, 0);
            s_finish_shards (self, r, "dropped", NULL);
        }
    }
    else {
        zframe_t *items = zmsg_pop (msg);
        if (r->nparts < TS_MAX_WORKERS) {
            r->more [r->nparts] = res.more;
            r->parts [r->nparts++] = items ? items : zframe_new_empty ();
        }
        else
            zframe_destroy (&items);
        if (--r->waiting == 0) {
            if (r->op == TS_OP_SEARCH)
                s_finish_search (self, r);
            else
                s_finish_list (self, r);
        }
    }
    ts_recv_free (&rv);
    return true;
}
