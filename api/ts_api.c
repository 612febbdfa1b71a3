/*  ts_api.c: the api process (ts_api.h; client protocol in docs/PROTOCOL.md;
 *  worker reads in workers/ts_reads.c; aggregator queries in
 *  aggregator/ts_agg_query.c; the parts of the api: ts_api_int.h).
 *
 *  Every client request gets an internal request id ("rid"); the pieces
 *  it needs (one worker for a get, every worker for a list or count, the
 *  aggregator for statistics) are asked with that rid, and the answer is
 *  assembled when the last piece is back. The shard map comes from the
 *  aggregator (a "map" asked on its query socket, the message the workers
 *  get) and is refreshed every second, and at once when a
 *  worker says it no longer holds a shard (the request is then asked
 *  again on the new map).
 */
#include "ts_api_int.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_log.h"
#include "ts_proto.h"
#include "ts_query.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
api_req_free (void *p)
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
    assert (cfg && err);
    ts_api_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "out of memory");
        return NULL;
    }
    ts_config_mkdirs (cfg->data_dir);
    self->cursor_key = s_cursor_key (cfg->data_dir);
    snprintf (self->data_dir, sizeof self->data_dir, "%s", cfg->data_dir);
    self->reqs = ts_map_new (api_req_free);
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
    /* the loop reads each socket until it is empty: a receive that finds
     * nothing says so at once, instead of an events query before each
     * message (one system call and a command check less per message) */
    zsock_set_rcvtimeo (self->front, 0);
    zsock_set_rcvtimeo (self->agg, 0);
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
    api_label_stop (self);
    ts_map_destroy (&self->reqs);
    ts_map_destroy (&self->cache);
    while (self->lru_head) {
        s_cached_t *e = self->lru_head;
        self->lru_head = e->next;
        free (e->data);
        free (e);
    }
    for (int i = 0; i < TS_MAX_WORKERS; i++)
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

void
api_out_begin (ts_api_t *self, s_req_t *r, bool ok)
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

void
api_out_key (ts_api_t *self, const char *key)
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

/*  Sends the reply: the map header goes into the room api_out_begin left in
 *  front of the pairs, and a large reply (the rows of "groups", a page of
 *  records) is handed to ZeroMQ as it is instead of being copied. */
void
api_out_send (ts_api_t *self, zframe_t *client, bool delim)
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

void
api_send_error (ts_api_t *self, zframe_t *client, bool delim, s_req_t *r,
              const char *code, const char *message)
{
    api_out_begin (self, r, false);
    api_out_key (self, "error");
    msgpack_pack_map (&self->pk, 2);
    ts_mp_pack_cstr (&self->pk, "code");
    ts_mp_pack_cstr (&self->pk, code);
    ts_mp_pack_cstr (&self->pk, "message");
    ts_mp_pack_cstr (&self->pk, message);
    api_out_send (self, client, delim);
}

void
api_finish_error (ts_api_t *self, s_req_t *r, const char *code, const char *message)
{
    api_send_error (self, r->client, r->delim, r, code, message);
    ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
}

/*  Gathers up to `max` requests for which pred (r, arg) holds: a request
 *  table must not change while it is walked, so callers act afterwards. */
int
api_collect (ts_api_t *self, bool (*pred) (const s_req_t *, int64_t), int64_t arg,
           s_req_t **out, int max)
{
    size_t pos = 0;
    void *v;
    int n = 0;
    while (n < max && ts_map_next (self->reqs, &pos, NULL, NULL, &v))
        if (pred (v, arg))
            out [n++] = v;
    return n;
}

bool
api_is_parked (const s_req_t *r, int64_t arg)
{
    (void) arg;
    return r->parked;
}

static bool
s_is_late (const s_req_t *r, int64_t now)
{
    return r->deadline && now > r->deadline;
}

/* --- requests ------------------------------------------------------------------ */

/*  One client request, read without waiting (the front's receive timeout
 *  is 0): false when none was there. */
static bool
s_on_client (ts_api_t *self)
{
    zmsg_t *msg = zmsg_recv (self->front);
    if (!msg)
        return false;
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
        api_send_error (self, client, delim, NULL, ts_errname (TS_ENOMEM), "out of memory");
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
        api_send_error (self, client, delim, r, ts_errname (rc), err);
        free (listing);
        free (r);
        goto done;
    }
    r->op = rq.op;
    r->rid = self->next_rid++;
    r->delim = delim;
    if (r->op == TS_OP_LIST || r->op == TS_OP_COUNT || r->op == TS_OP_EXPORT
    ||  r->op == TS_OP_SEARCH)
        r->listing = listing;
    else
        free (listing);
    r->client = client;
    client = NULL;
    r->request = body;
    body = NULL;
    if (ts_map_put (self->reqs, &r->rid, sizeof r->rid, r)) {
        api_send_error (self, r->client, delim, r, ts_errname (TS_ENOMEM), "out of memory");
        api_req_free (r);
        goto done;
    }
    if (r->op == TS_OP_LABEL) {
        api_label_start (self, r);
        goto done;
    }
    if (r->op == TS_OP_GET) {
        const s_cached_t *hit = api_cache_get (self, rq.id, rq.id_len);
        if (hit) {
            api_reply_record (self, r, hit->data, hit->len);
            goto done;
        }
    }
    api_dispatch (self, r);
done:
    zframe_destroy (&client);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    return true;
}

static void
s_expire (ts_api_t *self)
{
    s_req_t *late [256];
    int n = api_collect (self, s_is_late, api_now (), late, 256);
    for (int i = 0; i < n; i++)
        api_finish_error (self, late [i], ts_errname (TS_ETIMEOUT), "a worker or the aggregator did not answer in 10 s");
}

int
ts_api_run (ts_api_t *self, volatile bool *stop)
{
    assert (self && stop);
    ts_info ("ready");
    api_ask_map (self);
    zmq_pollitem_t items [2 + TS_MAX_WORKERS + TS_API_LABEL_JOBS];
    zsock_t *dealers [TS_MAX_WORKERS];
    int64_t next_tick = api_now () + 100;
    while (!*stop) {
        int n = 0, nd = 0;
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->front), 0, ZMQ_POLLIN, 0 };
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->agg), 0, ZMQ_POLLIN, 0 };
        for (int i = 0; i < TS_MAX_WORKERS; i++)
            if (self->workers [i].dealer) {
                dealers [nd++] = self->workers [i].dealer;
                items [n++] = (zmq_pollitem_t) { zsock_resolve (self->workers [i].dealer), 0, ZMQ_POLLIN, 0 };
            }
        int nl = self->nlabel_jobs, first_label = n;
        for (int i = 0; i < nl; i++)
            items [n++] = (zmq_pollitem_t) { NULL, self->label_jobs [i].fd, ZMQ_POLLIN, 0 };
        int64_t wait = next_tick - api_now ();
        if (zmq_poll (items, n, wait > 0 ? (long) wait : 0) < 0 && zmq_errno () == ETERM)
            break;
        uint64_t gen = self->map_gen;
        if (items [1].revents & ZMQ_POLLIN)
            while (api_on_agg (self))
                ;
        for (int i = 0; i < nd && gen == self->map_gen; i++)
            if (items [2 + i].revents & ZMQ_POLLIN)
                while (api_on_worker (self, dealers [i]))
                    ;
        /* a label job that ends moves the last one into its place */
        for (int i = nl - 1; i >= 0; i--)
            if (items [first_label + i].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
                api_label_read (self, i);
        /* a map update may have replaced dealers: poll rebuilds them */
        if (items [0].revents & ZMQ_POLLIN)
            for (int k = 0; k < 256 && s_on_client (self); k++)
                ;
        if (api_now () >= next_tick) {
            if (api_now () - self->map_asked >= S_MAP_EVERY_MS)
                api_ask_map (self);
            s_expire (self);
            next_tick = api_now () + 100;
        }
    }
    ts_info ("stopping");
    return 0;
}
