/*  ts_api.c: the api process (ts_api.h; client protocol in PROTOCOL.md;
 *  worker reads in workers/ts_reads.c; aggregator queries in
 *  aggregator/ts_agg.c).
 *
 *  Every client request gets an internal request id ("rid"); the pieces
 *  it needs (one worker for a get, every worker for a list or count, the
 *  aggregator for statistics) are asked with that rid, and the answer is
 *  assembled when the last piece is back. The shard map comes from the
 *  aggregator's "status" and is refreshed every second, and at once when a
 *  worker says it no longer holds a shard (the request is then asked
 *  again on the new map).
 */
#include "ts_api.h"
#include "ts_config.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_log.h"
#include "ts_map.h"
#include "ts_msg.h"
#include "ts_proto.h"
#include "ts_query.h"
#include "ts_request.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_WORKERS     256
#define S_TIMEOUT_MS      10000        /* a worker or the aggregator must answer */
#define S_RETRIES         5            /* re-asks after NOT_OWNER */
#define S_MAP_EVERY_MS    1000
#define S_CACHE_BYTES     (64u << 20)  /* records kept for gets */

typedef struct {
    char     name [64];
    char     peer [256];
    bool     alive;
    zsock_t *dealer;
} s_worker_t;

typedef struct {
    uint64_t   rid;
    ts_op_t     op;
    zframe_t  *client;          /* routing id */
    bool       delim;           /* a REQ client: keep the empty frame */
    zframe_t  *request;         /* the request map (listing fields borrow it) */
    bool       has_client_rid;
    int64_t    client_rid;      /* any integer; echoed as it came */
    bool       client_rid_unsigned;
    uint64_t   client_rid_u;
    ts_listing_t *listing;
    int        waiting;         /* answers outstanding */
    int        retries;
    bool       parked;          /* waiting for a fresh map */
    int64_t    deadline;
    uint64_t   count;
    zframe_t  *parts [S_MAX_WORKERS];
    bool       more [S_MAX_WORKERS];
    int        nparts;
    zframe_t  *agg_reply;
} s_req_t;

/*  A record kept for gets. A stored record never changes (a duplicate is
 *  not written again, nothing is updated in place), so a cached copy can
 *  never be stale: no invalidation is needed. Absence is not cached: the
 *  record may arrive any moment. */
typedef struct s_cached {
    char   *data;               /* record form: summary + object */
    size_t  len;
    size_t  id_len;
    struct s_cached *prev, *next;
    char    id [];
} s_cached_t;

struct ts_api {
    ts_map_t   *cache;          /* id -> s_cached_t */
    s_cached_t *lru_head, *lru_tail;
    size_t      cache_bytes;
    zsock_t   *front;
    zsock_t   *agg;
    uint64_t   cursor_key;
    unsigned   nshards;
    int        owners [TS_MAX_SHARDS];
    uint64_t   epoch;
    bool       have_map;
    s_worker_t workers [S_MAX_WORKERS];
    int64_t    map_asked;
    ts_map_t  *reqs;            /* rid (8 bytes) -> s_req_t */
    uint64_t   next_rid;
    ts_buf_t   out;             /* reply body: key/value pairs */
    uint32_t   out_n;
    msgpack_packer pk;
    ts_hdr_t   hdr;
    ts_buf_t   tmp;
    uint64_t   served;
    uint64_t   map_gen;         /* bumps when the map (and dealers) change */
};

static int64_t
s_now (void)
{
    return zclock_mono ();
}

static void
s_req_free (void *p)
{
    s_req_t *r = p;
    zframe_destroy (&r->client);
    zframe_destroy (&r->request);
    zframe_destroy (&r->agg_reply);
    for (int i = 0; i < r->nparts; i++)
        zframe_destroy (&r->parts [i]);
    free (r->listing);
    free (r);
}

/* --- construction --------------------------------------------------------- */

static uint64_t
s_cursor_key (const char *data_dir)
{
    /* cursors stay valid across api restarts when the key is kept: the
     * data directory holds it when there is one (else: per process) */
    uint64_t key = 0;
    char path [TS_PATH_MAX + 32];
    const char *env = getenv ("TRAJSTORE_CURSOR_KEY");
    if (env && *env)
        return strtoull (env, NULL, 16) ^ UINT64_C (0x9e3779b97f4a7c15);
    snprintf (path, sizeof path, "%s/cursor.key", data_dir);
    FILE *f = fopen (path, "r");
    if (f) {
        if (fscanf (f, "%" SCNx64, &key) != 1)
            key = 0;
        fclose (f);
    }
    if (key)
        return key;
    f = fopen ("/dev/urandom", "r");
    if (f) {
        if (fread (&key, sizeof key, 1, f) != 1)
            key = 0;
        fclose (f);
    }
    if (!key)
        key = (uint64_t) zclock_time () * UINT64_C (6364136223846793005);
    f = fopen (path, "w");
    if (f) {
        fprintf (f, "%016" PRIx64 "\n", key);
        fclose (f);
    }
    return key;
}

ts_api_t *
ts_api_new (const ts_api_config_t *cfg, char *err, size_t err_size)
{
    ts_api_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    ts_config_mkdirs (cfg->data_dir);
    self->cursor_key = s_cursor_key (cfg->data_dir);
    self->reqs = ts_map_new (s_req_free);
    self->cache = ts_map_new (NULL);
    self->front = zsock_new (ZMQ_ROUTER);
    self->agg = zsock_new (ZMQ_DEALER);
    if (!self->reqs || !self->cache || !self->front || !self->agg) {
        snprintf (err, err_size, "out of memory");
        ts_api_destroy (&self);
        return NULL;
    }
    for (unsigned s = 0; s < TS_MAX_SHARDS; s++)
        self->owners [s] = -1;
    zsock_set_sndhwm (self->front, 0);
    zsock_set_rcvhwm (self->front, 0);
    zsock_set_linger (self->front, 0);
    zsock_set_maxmsgsize (self->front, 16 * TS_REQUEST_MAX);
    if (zsock_bind (self->front, "%s", cfg->bind) < 0) {
        snprintf (err, err_size, "cannot bind %s: %s", cfg->bind, zmq_strerror (zmq_errno ()));
        ts_api_destroy (&self);
        return NULL;
    }
    zsock_set_linger (self->agg, 0);
    if (zsock_connect (self->agg, "%s", cfg->query) < 0) {
        snprintf (err, err_size, "cannot connect to %s: %s", cfg->query, zmq_strerror (zmq_errno ()));
        ts_api_destroy (&self);
        return NULL;
    }
    self->next_rid = 1;
    return self;
}

void
ts_api_destroy (ts_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_api_t *self = *self_p;
    ts_map_destroy (&self->reqs);
    ts_map_destroy (&self->cache);
    while (self->lru_head) {
        s_cached_t *e = self->lru_head;
        self->lru_head = e->next;
        free (e->data);
        free (e);
    }
    for (int i = 0; i < S_MAX_WORKERS; i++)
        zsock_destroy (&self->workers [i].dealer);
    zsock_destroy (&self->front);
    zsock_destroy (&self->agg);
    ts_buf_free (&self->out);
    ts_buf_free (&self->tmp);
    ts_hdr_free (&self->hdr);
    free (self);
    *self_p = NULL;
}

/* --- replies -------------------------------------------------------------- */

/*  A reply is built as key/value pairs in self->out, counted in out_n, and
 *  sent behind a map header of that count. */
#define S_OUT_HEAD   5              /* room for the largest map header */
#define S_OUT_GIVE   (64u << 10)    /* replies this large are not copied */

static void
s_out_begin (ts_api_t *self, s_req_t *r, bool ok)
{
    static const char room [S_OUT_HEAD];
    self->out.size = 0;
    self->out_n = 0;
    ts_buf_append (&self->out, room, S_OUT_HEAD);
    msgpack_packer_init (&self->pk, &self->out, ts_buf_packer_write);
    ts_mp_pack_cstr (&self->pk, "v");
    msgpack_pack_int (&self->pk, TS_PROTO_VERSION);
    ts_mp_pack_cstr (&self->pk, "ok");
    if (ok) msgpack_pack_true (&self->pk); else msgpack_pack_false (&self->pk);
    self->out_n = 2;
    if (r && r->has_client_rid) {
        ts_mp_pack_cstr (&self->pk, "rid");
        if (r->client_rid_unsigned)
            msgpack_pack_uint64 (&self->pk, r->client_rid_u);
        else
            msgpack_pack_int64 (&self->pk, r->client_rid);
        self->out_n++;
    }
}

static void
s_out_key (ts_api_t *self, const char *key)
{
    ts_mp_pack_cstr (&self->pk, key);
    self->out_n++;
}

/*  A map header, packed by msgpack-c into the room it needs at most. */
typedef struct {
    char   b [S_OUT_HEAD];
    size_t n;
} s_head_t;

static int
s_head_write (void *data, const char *buf, size_t len)
{
    s_head_t *h = data;
    if (h->n + len > sizeof h->b)
        return -1;
    memcpy (h->b + h->n, buf, len);
    h->n += len;
    return 0;
}

static void
s_free_buf (void *data, void *hint)
{
    (void) data;
    free (hint);
}

/*  Sends the reply: the map header goes into the room s_out_begin left in
 *  front of the pairs, and a large reply (the rows of "groups", a page of
 *  records) is handed to ZeroMQ as it is instead of being copied. */
static void
s_out_send (ts_api_t *self, zframe_t *client, bool delim)
{
    void *sock = zsock_resolve (self->front);
    if (self->out.size < S_OUT_HEAD) {
        ts_error ("out of memory building a reply: dropped");
        return;
    }
    s_head_t head = { .n = 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &head, s_head_write);
    msgpack_pack_map (&pk, self->out_n);
    char *start = self->out.data + S_OUT_HEAD - head.n;
    memcpy (start, head.b, head.n);
    size_t len = self->out.size - (S_OUT_HEAD - head.n);
    zmq_send (sock, zframe_data (client), zframe_size (client), ZMQ_SNDMORE);
    if (delim)
        zmq_send (sock, "", 0, ZMQ_SNDMORE);
    zmq_msg_t m;
    if (len >= S_OUT_GIVE && zmq_msg_init_data (&m, start, len, s_free_buf, self->out.data) == 0) {
        self->out = (ts_buf_t) { 0 };           /* ZeroMQ frees it when sent */
        if (zmq_msg_send (&m, sock, 0) < 0)
            zmq_msg_close (&m);
    } else
        zmq_send (sock, start, len, 0);
    self->served++;
}

static void
s_send_error (ts_api_t *self, zframe_t *client, bool delim, s_req_t *r,
              const char *code, const char *message)
{
    s_out_begin (self, r, false);
    s_out_key (self, "error");
    msgpack_pack_map (&self->pk, 2);
    ts_mp_pack_cstr (&self->pk, "code");
    ts_mp_pack_cstr (&self->pk, code);
    ts_mp_pack_cstr (&self->pk, "message");
    ts_mp_pack_cstr (&self->pk, message);
    s_out_send (self, client, delim);
}

static void
s_finish_error (ts_api_t *self, s_req_t *r, const char *code, const char *message)
{
    s_send_error (self, r->client, r->delim, r, code, message);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  Gathers up to `max` requests for which pred (r, arg) holds: a request
 *  table must not change while it is walked, so callers act afterwards. */
static int
s_collect (ts_api_t *self, bool (*pred) (const s_req_t *, int64_t), int64_t arg,
           s_req_t **out, int max)
{
    size_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    int n = 0;
    while (n < max && ts_map_next (self->reqs, &pos, &k, &kl, &v))
        if (pred (v, arg))
            out [n++] = v;
    return n;
}

static bool
s_is_parked (const s_req_t *r, int64_t arg)
{
    (void) arg;
    return r->parked;
}

static bool
s_is_late (const s_req_t *r, int64_t now)
{
    return r->deadline && now > r->deadline;
}

/* --- the map ---------------------------------------------------------------- */

static void
s_ask_map (ts_api_t *self)
{
    ts_hdr_begin (&self->hdr, "status", 1);
    ts_hdr_uint (&self->hdr, "rid", 0);
    ts_hdr_send (&self->hdr, zsock_resolve (self->agg), NULL, NULL, 0);
    self->map_asked = s_now ();
}

static void s_dispatch (ts_api_t *self, s_req_t *r);

/*  A "status" from the aggregator: who is alive, who owns which shard. */
static void
s_on_map (ts_api_t *self, ts_hdrin_t *in)
{
    ts_mp_reader_t r;
    uint32_t n;
    unsigned nshards = (unsigned) ts_hdr_get_uint (in, "nshards", 0);
    if (nshards == 0 || nshards > TS_MAX_SHARDS
    ||  !ts_hdr_find (in, "workers", &r) || ts_mp_read_array (&r, &n) || n > S_MAX_WORKERS)
        return;
    int owners [TS_MAX_SHARDS];
    for (unsigned s = 0; s < nshards; s++)
        owners [s] = -1;
    bool seen [S_MAX_WORKERS] = { false };
    for (uint32_t i = 0; i < n; i++) {
        uint32_t fields;
        char name [64] = "", peer [256] = "";
        bool alive = false;
        uint32_t shards_at = 0, nsh = 0;
        ts_mp_reader_t shards_r = { 0 };
        if (ts_mp_read_map (&r, &fields))
            return;
        for (uint32_t f = 0; f < fields; f++) {
            ts_mp_item_t k, v;
            if (ts_mp_next (&r, &k))
                return;
            ts_mp_reader_t before = r;
            if (ts_mp_next (&r, &v))
                return;
            if (ts_mp_item_is_str (&k, "name") && v.type == TS_MP_STR && v.len < sizeof name) {
                memcpy (name, v.ptr, v.len);
                name [v.len] = 0;
            }
            else if (ts_mp_item_is_str (&k, "peer") && v.type == TS_MP_STR && v.len < sizeof peer) {
                memcpy (peer, v.ptr, v.len);
                peer [v.len] = 0;
            }
            else if (ts_mp_item_is_str (&k, "alive") && v.type == TS_MP_BOOL)
                alive = v.b;
            else if (ts_mp_item_is_str (&k, "shards") && v.type == TS_MP_ARRAY) {
                shards_r = r;
                nsh = v.len;
                shards_at = 1;
            }
            /* skip the rest of a container value */
            if (v.type == TS_MP_ARRAY || v.type == TS_MP_MAP) {
                r = before;
                if (ts_mp_skip (&r))
                    return;
            }
        }
        if (!name [0] || !alive)
            continue;
        /* the slot of this worker: by name, else a free one */
        int slot = -1;
        for (int w = 0; w < S_MAX_WORKERS && slot < 0; w++)
            if (self->workers [w].name [0] && !strcmp (self->workers [w].name, name))
                slot = w;
        for (int w = 0; w < S_MAX_WORKERS && slot < 0; w++)
            if (!self->workers [w].name [0])
                slot = w;
        if (slot < 0)
            continue;
        s_worker_t *wk = &self->workers [slot];
        if (!wk->dealer || strcmp (wk->peer, peer)) {
            zsock_destroy (&wk->dealer);
            wk->dealer = zsock_new (ZMQ_DEALER);
            if (wk->dealer) {
                zsock_set_sndhwm (wk->dealer, 0);
                zsock_set_rcvhwm (wk->dealer, 0);
                zsock_set_linger (wk->dealer, 0);
                if (zsock_connect (wk->dealer, "%s", peer) < 0)
                    zsock_destroy (&wk->dealer);
            }
        }
        snprintf (wk->name, sizeof wk->name, "%s", name);
        snprintf (wk->peer, sizeof wk->peer, "%s", peer);
        wk->alive = true;
        seen [slot] = true;
        for (uint32_t k = 0; shards_at && k < nsh; k++) {
            uint64_t s;
            if (ts_mp_read_uint (&shards_r, &s))
                break;
            if (s < nshards)
                owners [s] = slot;
        }
    }
    bool lost = false;
    for (int w = 0; w < S_MAX_WORKERS; w++)
        if (!seen [w] && self->workers [w].alive) {
            self->workers [w].alive = false;
            zsock_destroy (&self->workers [w].dealer);
            self->workers [w].name [0] = 0;
            lost = true;
        }
    if (lost) {
        /* answers from a worker that left will not come: ask again */
        size_t p2 = 0;
        const void *k2;
        size_t kl2;
        void *v2;
        while (ts_map_next (self->reqs, &p2, &k2, &kl2, &v2)) {
            s_req_t *r = v2;
            if (!r->parked && r->waiting > 0 && r->op <= TS_OP_CHECK) {
                r->parked = true;
                for (int i = 0; i < r->nparts; i++)
                    zframe_destroy (&r->parts [i]);
                r->nparts = 0;
                r->waiting = 0;
                r->count = 0;
            }
        }
    }
    self->nshards = nshards;
    memcpy (self->owners, owners, nshards * sizeof *owners);
    self->epoch = ts_hdr_get_uint (in, "epoch", 0);
    self->have_map = true;
    self->map_gen++;
    /* requests parked for a map go again */
    s_req_t *parked [1024];
    int np = s_collect (self, s_is_parked, 0, parked, 1024);
    for (int i = 0; i < np; i++) {
        /* a new rid: answers to the earlier attempt are then ignored */
        s_req_t *r = ts_map_take (self->reqs, &parked [i]->rid, sizeof parked [i]->rid);
        r->rid = self->next_rid++;
        r->parked = false;
        if (ts_map_put (self->reqs, &r->rid, sizeof r->rid, r)) {
            s_send_error (self, r->client, r->delim, r, "NO_MEMORY", "out of memory");
            s_req_free (r);
            continue;
        }
        s_dispatch (self, r);
    }
}

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

static const s_cached_t *
s_cache_get (ts_api_t *self, const char *id, size_t len)
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
static void
s_reply_record (ts_api_t *self, s_req_t *r, const void *data, size_t len)
{
    ts_summary_t s;
    const char *obj;
    size_t olen;
    if (ts_record_split (data, len, &s, &obj, &olen)) {
        s_finish_error (self, r, "CORRUPT", "the stored record does not decode");
        return;
    }
    s_out_begin (self, r, true);
    s_out_key (self, "summary");
    ts_summary_pack_map (&self->pk, &s, 0);
    s_out_key (self, "record");
    ts_buf_append (&self->out, obj, olen);
    s_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/* --- dispatch --------------------------------------------------------------- */

static void
s_park (ts_api_t *self, s_req_t *r, const char *why)
{
    if (++r->retries > S_RETRIES) {
        s_finish_error (self, r, "UNAVAILABLE", why);
        return;
    }
    r->parked = true;
    for (int i = 0; i < r->nparts; i++)
        zframe_destroy (&r->parts [i]);
    r->nparts = 0;
    r->waiting = 0;
    r->count = 0;
    if (s_now () - self->map_asked > 100)
        s_ask_map (self);
}

static void
s_send_to_agg (ts_api_t *self, s_req_t *r, const char *type)
{
    /* the client's fields pass through; "t" and "rid" are ours */
    ts_hdr_t *h = &self->hdr;
    ts_mp_reader_t rd;
    uint32_t n, kept = 0;
    ts_mp_reader_init (&rd, zframe_data (r->request), zframe_size (r->request));
    self->tmp.size = 0;
    if (ts_mp_read_map (&rd, &n) == 0) {
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *start = rd.p;
            ts_mp_item_t k;
            if (ts_mp_next (&rd, &k) || ts_mp_skip (&rd))
                break;
            if (k.type == TS_MP_STR && (ts_mp_item_is_str (&k, "v") || ts_mp_item_is_str (&k, "t")
                                        || ts_mp_item_is_str (&k, "rid") || ts_mp_item_is_str (&k, "op")))
                continue;
            ts_buf_append (&self->tmp, start, (size_t) (rd.p - start));
            kept++;
        }
    }
    ts_hdr_begin (h, type, kept + 1);
    ts_hdr_uint (h, "rid", r->rid);
    ts_buf_append (&h->buf, self->tmp.data, self->tmp.size);
    ts_hdr_send (h, zsock_resolve (self->agg), NULL, NULL, 0);
    r->waiting = 1;
}

/*  Sends a read to worker `w` for the shards it owns. */
static void
s_send_read (ts_api_t *self, s_req_t *r, int w, const char *type)
{
    ts_hdr_t *h = &self->hdr;
    int owned = 0;
    for (unsigned s = 0; s < self->nshards; s++)
        owned += self->owners [s] == w;
    if (r->op == TS_OP_CHECK) {
        ts_hdr_begin (h, type, 2);
        ts_hdr_uint (h, "rid", r->rid);
        ts_hdr_key (h, "shards");
        msgpack_pack_array (&h->pk, owned);
        for (unsigned s = 0; s < self->nshards; s++)
            if (self->owners [s] == w)
                msgpack_pack_uint32 (&h->pk, s);
        ts_hdr_send (h, zsock_resolve (self->workers [w].dealer), NULL, NULL, 0);
        r->waiting++;
        return;
    }
    const ts_sort_t *so = &r->listing->sort;
    /* the limit and the record mode as the api settled them (an export
     * has its own defaults): the workers must not re-derive them */
    ts_hdr_begin (h, type, 5);
    ts_hdr_uint (h, "rid", r->rid);
    ts_hdr_uint (h, "limit", r->listing->limit);
    ts_hdr_bool (h, "records", r->listing->records);
    ts_hdr_key (h, "shards");
    msgpack_pack_array (&h->pk, owned);
    for (unsigned s = 0; s < self->nshards; s++)
        if (self->owners [s] == w)
            msgpack_pack_uint32 (&h->pk, s);
    ts_hdr_key (h, "cur");
    if (!so->has_cursor)
        msgpack_pack_nil (&h->pk);
    else {
        msgpack_pack_array (&h->pk, 3);
        if (so->order == TS_ORDER_CREATED)
            msgpack_pack_int64 (&h->pk, so->cur_time);
        else if (so->order == TS_ORDER_REWARD && !so->cur_no_reward)
            msgpack_pack_double (&h->pk, so->cur_reward);
        else if (so->order == TS_ORDER_REWARD)
            msgpack_pack_nil (&h->pk);
        else
            msgpack_pack_int64 (&h->pk, 0);
        ts_mp_pack_strn (&h->pk, so->cur_id, so->cur_id_len);
        msgpack_pack_int64 (&h->pk, so->cur_ingested);
    }
    ts_hdr_send (h, zsock_resolve (self->workers [w].dealer), NULL,
                 zframe_data (r->request), zframe_size (r->request));
    r->waiting++;
}

static void
s_dispatch (ts_api_t *self, s_req_t *r)
{
    /* a check reads every shard whole: it has minutes, not seconds */
    r->deadline = s_now () + (r->op == TS_OP_CHECK ? 30 * S_TIMEOUT_MS : S_TIMEOUT_MS);
    switch (r->op) {
    case TS_OP_STATS:  s_send_to_agg (self, r, "stats"); return;
    case TS_OP_GROUPS: s_send_to_agg (self, r, "groups"); return;
    case TS_OP_JOB:    s_send_to_agg (self, r, "job"); return;
    case TS_OP_HEALTH: s_send_to_agg (self, r, "status"); return;
    default: break;
    }
    if (!self->have_map) {
        s_park (self, r, "no shard map from the aggregator yet");
        return;
    }
    for (unsigned s = 0; s < self->nshards; s++) {
        int o = self->owners [s];
        if (o < 0 || !self->workers [o].dealer) {
            char why [96];
            snprintf (why, sizeof why, "shard %u has no live owner", s);
            s_park (self, r, why);
            return;
        }
    }
    if (r->op == TS_OP_GET) {
        uint32_t idlen;
        ts_hdrin_t in = { 0 };
        in.data = (const char *) zframe_data (r->request);
        in.len = zframe_size (r->request);
        const char *id = ts_hdr_get_str (&in, "id", &idlen);
        unsigned shard = ts_shard_of (id, idlen, self->nshards);
        ts_hdr_t *h = &self->hdr;
        ts_hdr_begin (h, "rget", 3);
        ts_hdr_uint (h, "rid", r->rid);
        ts_hdr_uint (h, "shard", shard);
        ts_hdr_strn (h, "id", id, idlen);
        ts_hdr_send (h, zsock_resolve (self->workers [self->owners [shard]].dealer), NULL, NULL, 0);
        r->waiting = 1;
        return;
    }
    const char *type = r->op == TS_OP_COUNT ? "rcount" : r->op == TS_OP_CHECK ? "rcheck" : "rlist";
    for (int w = 0; w < S_MAX_WORKERS; w++) {
        bool owns = false;
        for (unsigned s = 0; s < self->nshards && !owns; s++)
            owns = self->owners [s] == w;
        if (owns)
            s_send_read (self, r, w, type);
    }
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
    s_stream_t st [S_MAX_WORKERS];
    bool more = false;
    for (int i = 0; i < r->nparts; i++) {
        st [i].p = zframe_data (r->parts [i]);
        st [i].end = st [i].p + zframe_size (r->parts [i]);
        s_stream_next (&st [i]);
        more |= r->more [i];
    }
    bool is_export = r->op == TS_OP_EXPORT;
    s_out_begin (self, r, true);
    s_out_key (self, is_export ? "lines" : "items");
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
                s_finish_error (self, r, "CORRUPT", "a stored record does not decode");
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
    s_out_key (self, "count");
    msgpack_pack_uint32 (&self->pk, emitted);
    s_out_key (self, "next");
    char cursor [2 * TS_ID_MAX_BYTES + 256];
    if (more && emitted && ts_listing_cursor (l, &last, self->cursor_key, cursor, sizeof cursor) == 0)
        ts_mp_pack_cstr (&self->pk, cursor);
    else
        msgpack_pack_nil (&self->pk);
    s_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  The workers' shard reports, as one list, with the totals. */
static void
s_finish_check (ts_api_t *self, s_req_t *r)
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
            if (ts_mp_reader_map_find (&one, "problems", &v) && ts_mp_read_uint (&v, &x) == 0)
                problems += x;
            if (ts_mp_reader_map_find (&one, "records", &v) && ts_mp_read_uint (&v, &x) == 0)
                records += x;
            const uint8_t *start = rd.p;
            if (ts_mp_skip (&rd))
                break;
            ts_buf_append (&self->tmp, start, (size_t) (rd.p - start));
            nshards++;
        }
    }
    s_out_begin (self, r, true);
    s_out_key (self, "problems");
    msgpack_pack_uint64 (&self->pk, problems);
    s_out_key (self, "records");
    msgpack_pack_uint64 (&self->pk, records);
    s_out_key (self, "shards");
    msgpack_pack_array (&self->pk, nshards);
    ts_buf_append (&self->out, self->tmp.data, self->tmp.size);
    s_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  Passes the aggregator's answer on: every field but its "v", "t", "ok"
 *  and "rid" (ours), under the client's envelope. */
static void
s_finish_agg (ts_api_t *self, s_req_t *r, ts_hdrin_t *in, zframe_t *body)
{
    if (!ts_hdr_get_bool (in, "ok", false)) {
        char code [32] = "UNAVAILABLE", msg [512] = "the aggregator refused";
        ts_mp_reader_t er;
        if (ts_hdr_find (in, "error", &er)) {
            const uint8_t *p = er.p;
            ts_hdrin_t e = { 0 };
            e.data = (const char *) p;
            e.len = (size_t) (er.end - er.p);
            ts_hdr_copy_str (&e, "code", code, sizeof code);
            ts_hdr_copy_str (&e, "message", msg, sizeof msg);
        }
        s_finish_error (self, r, code, msg);
        return;
    }
    s_out_begin (self, r, true);
    ts_mp_reader_t rd;
    uint32_t n;
    ts_mp_reader_init (&rd, in->data, in->len);
    if (ts_mp_read_map (&rd, &n) == 0) {
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *start = rd.p;
            ts_mp_item_t k;
            if (ts_mp_next (&rd, &k) || ts_mp_skip (&rd))
                break;
            if (ts_mp_item_is_str (&k, "v") || ts_mp_item_is_str (&k, "t")
            ||  ts_mp_item_is_str (&k, "ok") || ts_mp_item_is_str (&k, "rid")
            ||  ts_mp_item_is_str (&k, "body"))
                continue;
            ts_buf_append (&self->out, start, (size_t) (rd.p - start));
            self->out_n++;
        }
    }
    /* a large value (the rows of "groups") comes packed in a frame of its
     * own, named by "body": appended as it is, not walked */
    char body_key [32];
    if (body && zframe_size (body) > 0 && ts_hdr_copy_str (in, "body", body_key, sizeof body_key)) {
        s_out_key (self, body_key);
        if (ts_buf_append (&self->out, zframe_data (body), zframe_size (body))) {
            s_finish_error (self, r, "NO_MEMORY", "out of memory");
            return;
        }
    }
    if (r->op == TS_OP_HEALTH) {
        s_out_key (self, "api");
        msgpack_pack_map (&self->pk, 3);
        ts_mp_pack_cstr (&self->pk, "requests_served");
        msgpack_pack_uint64 (&self->pk, self->served);
        ts_mp_pack_cstr (&self->pk, "requests_in_flight");
        msgpack_pack_uint64 (&self->pk, ts_map_size (self->reqs));
        ts_mp_pack_cstr (&self->pk, "map_epoch");
        msgpack_pack_uint64 (&self->pk, self->epoch);
    }
    s_out_send (self, r->client, r->delim);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

static void
s_on_agg (ts_api_t *self)
{
    zmsg_t *msg = zmsg_recv (self->agg);
    if (!msg)
        return;
    zframe_t *head = zmsg_first (msg);
    ts_hdrin_t in;
    if (head && ts_hdr_parse (&in, zframe_data (head), zframe_size (head)) == 0) {
        uint64_t rid = ts_hdr_get_uint (&in, "rid", UINT64_MAX);
        if (rid == 0 && !strcmp (in.type, "status"))
            s_on_map (self, &in);
        else {
            s_req_t *r = ts_map_get (self->reqs, &rid, sizeof rid);
            if (r && !r->parked)
                s_finish_agg (self, r, &in, zmsg_next (msg));
        }
    }
    zmsg_destroy (&msg);
}

static void
s_on_worker (ts_api_t *self, zsock_t *dealer)
{
    zmsg_t *msg = zmsg_recv (dealer);
    if (!msg)
        return;
    zframe_t *head = zmsg_pop (msg);
    ts_hdrin_t in;
    if (!head || ts_hdr_parse (&in, zframe_data (head), zframe_size (head))) {
        zframe_destroy (&head);
        zmsg_destroy (&msg);
        return;
    }
    uint64_t rid = ts_hdr_get_uint (&in, "rid", UINT64_MAX);
    s_req_t *r = ts_map_get (self->reqs, &rid, sizeof rid);
    if (!r || r->parked || r->waiting <= 0) {
        zframe_destroy (&head);
        zmsg_destroy (&msg);
        return;                 /* late: answered already, or asked again */
    }
    char code [32] = "";
    ts_hdr_copy_str (&in, "code", code, sizeof code);
    if (!strcmp (code, "NOT_OWNER")) {
        s_park (self, r, "shards are moving; retry");
    }
    else if (code [0] && r->op == TS_OP_GET && !strcmp (code, "NOT_FOUND"))
        s_finish_error (self, r, "NOT_FOUND", "no record with that id");
    else if (code [0]) {
        char m [512] = "a worker failed";
        ts_hdr_copy_str (&in, "msg", m, sizeof m);
        s_finish_error (self, r, code, m);
    }
    else if (r->op == TS_OP_GET) {
        zframe_t *rec = zmsg_first (msg);
        ts_summary_t s;
        if (rec && ts_summary_unpack_buf (zframe_data (rec), zframe_size (rec), &s, NULL) == 0)
            s_cache_put (self, s.id, s.id_len, zframe_data (rec), zframe_size (rec));
        if (rec)
            s_reply_record (self, r, zframe_data (rec), zframe_size (rec));
        else
            s_finish_error (self, r, "CORRUPT", "the stored record does not decode");
    }
    else if (r->op == TS_OP_COUNT) {
        r->count += ts_hdr_get_uint (&in, "count", 0);
        if (--r->waiting == 0) {
            s_out_begin (self, r, true);
            s_out_key (self, "count");
            msgpack_pack_uint64 (&self->pk, r->count);
            s_out_send (self, r->client, r->delim);
            ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
        }
    }
    else if (r->op == TS_OP_CHECK) {
        zframe_t *items = zmsg_pop (msg);
        if (r->nparts < S_MAX_WORKERS)
            r->parts [r->nparts++] = items ? items : zframe_new_empty ();
        else
            zframe_destroy (&items);
        if (--r->waiting == 0)
            s_finish_check (self, r);
    }
    else {
        zframe_t *items = zmsg_pop (msg);
        if (r->nparts < S_MAX_WORKERS) {
            r->more [r->nparts] = ts_hdr_get_bool (&in, "more", false);
            r->parts [r->nparts++] = items ? items : zframe_new_empty ();
        }
        else
            zframe_destroy (&items);
        if (--r->waiting == 0)
            s_finish_list (self, r);
    }
    zframe_destroy (&head);
    zmsg_destroy (&msg);
}

/* --- requests ------------------------------------------------------------------ */

static void
s_on_client (ts_api_t *self)
{
    zmsg_t *msg = zmsg_recv (self->front);
    if (!msg)
        return;
    zframe_t *client = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    bool delim = false;
    if (body && zframe_size (body) == 0 && zmsg_size (msg) > 0) {
        delim = true;                   /* REQ client: empty delimiter */
        zframe_destroy (&body);
        body = zmsg_pop (msg);
    }
    char err [300];
    if (!client)
        goto done;
    /* the envelope (ts_request.h): a map with "v": 1, a known "op" and
     * that op's fields; an error reply echoes the "rid" once it is read */
    s_req_t *r = calloc (1, sizeof *r);
    ts_listing_t *listing = malloc (sizeof *listing);
    if (!r || !listing) {
        s_send_error (self, client, delim, NULL, "NO_MEMORY", "out of memory");
        free (r);
        free (listing);
        goto done;
    }
    ts_request_t rq;
    int rc = ts_request_parse (&rq, body ? zframe_data (body) : NULL, body ? zframe_size (body) : 0,
                               self->cursor_key, listing, err, sizeof err);
    r->has_client_rid = rq.has_rid;
    r->client_rid_unsigned = rq.rid_unsigned;
    r->client_rid = rq.rid;
    r->client_rid_u = rq.rid_u;
    if (rc) {
        s_send_error (self, client, delim, r, ts_errname (rc), err);
        free (listing);
        free (r);
        goto done;
    }
    r->op = rq.op;
    r->rid = self->next_rid++;
    r->delim = delim;
    if (r->op == TS_OP_LIST || r->op == TS_OP_COUNT || r->op == TS_OP_EXPORT)
        r->listing = listing;
    else
        free (listing);
    r->client = client;
    client = NULL;
    r->request = body;
    body = NULL;
    if (ts_map_put (self->reqs, &r->rid, sizeof r->rid, r)) {
        s_send_error (self, r->client, delim, r, "NO_MEMORY", "out of memory");
        s_req_free (r);
        goto done;
    }
    if (r->op == TS_OP_GET) {
        const s_cached_t *hit = s_cache_get (self, rq.id, rq.id_len);
        if (hit) {
            s_reply_record (self, r, hit->data, hit->len);
            goto done;
        }
    }
    s_dispatch (self, r);
done:
    zframe_destroy (&client);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
}

static void
s_expire (ts_api_t *self)
{
    s_req_t *late [256];
    int n = s_collect (self, s_is_late, s_now (), late, 256);
    for (int i = 0; i < n; i++)
        s_finish_error (self, late [i], "TIMEOUT", "a worker or the aggregator did not answer in 10 s");
}

int
ts_api_run (ts_api_t *self, volatile bool *stop)
{
    ts_info ("ready");
    s_ask_map (self);
    zmq_pollitem_t items [2 + S_MAX_WORKERS];
    zsock_t *dealers [S_MAX_WORKERS];
    int64_t next_tick = s_now () + 100;
    while (!*stop) {
        int n = 0, nd = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->front), 0, ZMQ_POLLIN, 0 };
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->agg), 0, ZMQ_POLLIN, 0 };
        for (int i = 0; i < S_MAX_WORKERS; i++)
            if (self->workers [i].dealer) {
                dealers [nd++] = self->workers [i].dealer;
                items [n++] = (zmq_pollitem_t) { zsock_resolve (self->workers [i].dealer), 0, ZMQ_POLLIN, 0 };
            }
        int64_t wait = next_tick - s_now ();
        if (zmq_poll (items, n, wait > 0 ? (long) wait : 0) < 0 && zmq_errno () == ETERM)
            break;
        uint64_t gen = self->map_gen;
        if (items [1].revents & ZMQ_POLLIN)
            while (zsock_events (self->agg) & ZMQ_POLLIN)
                s_on_agg (self);
        for (int i = 0; i < nd && gen == self->map_gen; i++)
            if (items [2 + i].revents & ZMQ_POLLIN)
                while (dealers [i] && (zsock_events (dealers [i]) & ZMQ_POLLIN))
                    s_on_worker (self, dealers [i]);
        /* a map update may have replaced dealers: poll rebuilds them */
        if (items [0].revents & ZMQ_POLLIN)
            for (int k = 0; k < 256 && (zsock_events (self->front) & ZMQ_POLLIN); k++)
                s_on_client (self);
        if (s_now () >= next_tick) {
            if (s_now () - self->map_asked >= S_MAP_EVERY_MS)
                s_ask_map (self);
            s_expire (self);
            next_tick = s_now () + 100;
        }
    }
    ts_info ("stopping");
    return 0;
}
