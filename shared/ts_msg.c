/*  ts_msg.c: protocol header helpers (ts_msg.h). */
#include "ts_msg.h"
#include "ts_error.h"
#include "ts_proto.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>


static const char *const s_msg_names [TS_MSG_COUNT] = {
    [TS_MSG_UNKNOWN] = "",
    [TS_MSG_CHUNK] = "chunk", [TS_MSG_DONE] = "done", [TS_MSG_PING] = "ping",
    [TS_MSG_ACK] = "ack", [TS_MSG_NACK] = "nack", [TS_MSG_PONG] = "pong",
    [TS_MSG_REGISTER] = "register", [TS_MSG_HB] = "hb", [TS_MSG_CREDIT] = "credit",
    [TS_MSG_CHUNKDONE] = "chunkdone", [TS_MSG_DELTA] = "delta", [TS_MSG_SNAP] = "snap",
    [TS_MSG_RELEASED] = "released", [TS_MSG_LEAVE] = "leave", [TS_MSG_RESYNC] = "resync",
    [TS_MSG_MAP] = "map", [TS_MSG_WORK] = "work", [TS_MSG_DRAINED] = "drained",
    [TS_MSG_SNAPREQ] = "snapreq", [TS_MSG_REREGISTER] = "reregister",
    [TS_MSG_BATCH] = "batch", [TS_MSG_BATCHDONE] = "batchdone", [TS_MSG_NOTOWNER] = "notowner",
    [TS_MSG_RGET] = "rget", [TS_MSG_RLIST] = "rlist", [TS_MSG_RCOUNT] = "rcount",
    [TS_MSG_RCHECK] = "rcheck", [TS_MSG_RRES] = "rres", [TS_MSG_RSEARCH] = "rsearch",
    [TS_MSG_RDROP] = "rdrop", [TS_MSG_RCOMPACT] = "rcompact",
    [TS_MSG_STATUS] = "status", [TS_MSG_STATS] = "stats", [TS_MSG_GROUPS] = "groups",
    [TS_MSG_JOB] = "job", [TS_MSG_ERROR] = "error",
    [TS_MSG_RUNS] = "runs", [TS_MSG_COMPARE] = "compare", [TS_MSG_DROPPED] = "dropped",
    [TS_MSG_RLABELS] = "rlabels",
    [TS_MSG_STATE] = "state",
};

const char *
ts_msg_name (ts_msg_t type)
{
    return (unsigned) type < TS_MSG_COUNT && s_msg_names [type] ? s_msg_names [type] : "";
}

ts_msg_t
ts_msg_lookup (const char *name, size_t len)
{
    for (int i = 1; i < TS_MSG_COUNT; i++)
        if (strlen (s_msg_names [i]) == len && !memcmp (s_msg_names [i], name, len))
            return (ts_msg_t) i;
    return TS_MSG_UNKNOWN;
}

void
ts_hdr_begin (ts_hdr_t *h, ts_msg_t type, uint32_t nfields)
{
    h->buf.size = 0;
    h->declared = nfields;
    h->written = 0;
    msgpack_packer_init (&h->pk, &h->buf, ts_buf_packer_write);
    msgpack_pack_map (&h->pk, nfields + 2);
    ts_mp_pack_cstr (&h->pk, "v");
    msgpack_pack_int (&h->pk, TS_PROTO_VERSION);
    ts_mp_pack_cstr (&h->pk, "t");
    ts_mp_pack_cstr (&h->pk, ts_msg_name (type));
}

bool
ts_hdr_is_complete (const ts_hdr_t *h)
{
    return h->written == h->declared;
}

void
ts_hdr_key (ts_hdr_t *h, const char *key)
{
    ts_mp_pack_cstr (&h->pk, key);
    h->written++;
}

void
ts_hdr_pairs (ts_hdr_t *h, const void *pairs, size_t len, uint32_t npairs)
{
    ts_buf_append (&h->buf, pairs, len);
    h->written += npairs;
}

void
ts_hdr_str (ts_hdr_t *h, const char *key, const char *value)
{
    ts_hdr_key (h, key);
    ts_mp_pack_cstr (&h->pk, value ? value : "");
}

void
ts_hdr_strn (ts_hdr_t *h, const char *key, const char *value, size_t len)
{
    ts_hdr_key (h, key);
    ts_mp_pack_strn (&h->pk, value, len);
}

void
ts_hdr_int (ts_hdr_t *h, const char *key, int64_t value)
{
    ts_hdr_key (h, key);
    msgpack_pack_int64 (&h->pk, value);
}

void
ts_hdr_uint (ts_hdr_t *h, const char *key, uint64_t value)
{
    ts_hdr_key (h, key);
    msgpack_pack_uint64 (&h->pk, value);
}

void
ts_hdr_bool (ts_hdr_t *h, const char *key, bool value)
{
    ts_hdr_key (h, key);
    if (value)
        msgpack_pack_true (&h->pk);
    else
        msgpack_pack_false (&h->pk);
}

void
ts_hdr_double (ts_hdr_t *h, const char *key, double value)
{
    ts_hdr_key (h, key);
    msgpack_pack_double (&h->pk, value);
}

void
ts_hdr_free (ts_hdr_t *h)
{
    ts_buf_free (&h->buf);
}

zmsg_t *
ts_hdr_msg (ts_hdr_t *h, const void *payload, size_t payload_len)
{
    assert (ts_hdr_is_complete (h));
    if (!ts_hdr_is_complete (h))
        return NULL;
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, h->buf.data, h->buf.size);
    if (payload)
        zmsg_addmem (msg, payload, payload_len);
    return msg;
}

int
ts_hdr_send (ts_hdr_t *h, void *sock, zframe_t *to, const void *payload, size_t payload_len)
{
    zmsg_t *msg = ts_hdr_msg (h, payload, payload_len);
    if (!msg)
        return -1;
    if (to)
        zmsg_pushmem (msg, zframe_data (to), zframe_size (to));
    return zmsg_send (&msg, sock);
}

int
ts_hdr_parse (ts_hdrin_t *in, const void *data, size_t len)
{
    ts_mp_reader_t r;
    memset (in, 0, sizeof *in);
    in->data = data;
    in->len = len;
    ts_mp_reader_init (&r, data, len);
    if (ts_mp_read_map (&r, &in->nfields))
        return TS_EPROTO;
    in->version = ts_hdr_get_int (in, "v", -1);
    uint32_t tlen;
    const char *t = ts_hdr_get_str (in, "t", &tlen);
    /* a NUL inside the type would make in->type (a C string) name another
     * type than the one looked up: malformed */
    if (!t || tlen == 0 || tlen >= sizeof in->type_buf || memchr (t, 0, tlen))
        return TS_EPROTO;
    memcpy (in->type_buf, t, tlen);
    in->type_buf [tlen] = 0;
    in->type = in->type_buf;
    in->msg = ts_msg_lookup (t, tlen);
    if (in->version != TS_PROTO_VERSION)
        return TS_EVERSION;
    return 0;
}

zsock_t *
ts_dealer_new (const char *endpoint)
{
    zsock_t *s = zsock_new (ZMQ_DEALER);
    if (s) {
        zsock_set_sndhwm (s, 0);
        zsock_set_rcvhwm (s, 0);
        zsock_set_linger (s, 0);
        if (zsock_connect (s, "%s", endpoint) < 0)
            zsock_destroy (&s);
    }
    return s;
}

bool
ts_recv (ts_recv_t *rv, void *sock, bool router)
{
    memset (rv, 0, sizeof *rv);
    rv->rc = TS_EPROTO;
    rv->rest = zmsg_recv (sock);
    if (!rv->rest)
        return false;
    if (router)
        rv->from = zmsg_pop (rv->rest);
    rv->head = zmsg_pop (rv->rest);
    if (rv->head)
        rv->rc = ts_hdr_parse (&rv->in, zframe_data (rv->head), zframe_size (rv->head));
    return true;
}

void
ts_recv_free (ts_recv_t *rv)
{
    zframe_destroy (&rv->from);
    zframe_destroy (&rv->head);
    zmsg_destroy (&rv->rest);
}

bool
ts_hdr_find (const ts_hdrin_t *in, const char *key, ts_mp_reader_t *value)
{
    return ts_mp_map_find (in->data, in->len, key, value);
}

int64_t
ts_hdr_get_int (const ts_hdrin_t *in, const char *key, int64_t dflt)
{
    ts_mp_reader_t r;
    int64_t v;
    if (!ts_hdr_find (in, key, &r) || ts_mp_read_int (&r, &v))
        return dflt;
    return v;
}

uint64_t
ts_hdr_get_uint (const ts_hdrin_t *in, const char *key, uint64_t dflt)
{
    ts_mp_reader_t r;
    uint64_t v;
    if (!ts_hdr_find (in, key, &r) || ts_mp_read_uint (&r, &v))
        return dflt;
    return v;
}

double
ts_hdr_get_double (const ts_hdrin_t *in, const char *key, double dflt)
{
    ts_mp_reader_t r;
    double v;
    if (!ts_hdr_find (in, key, &r) || ts_mp_read_double (&r, &v))
        return dflt;
    return v;
}

bool
ts_hdr_get_bool (const ts_hdrin_t *in, const char *key, bool dflt)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_hdr_find (in, key, &r) || ts_mp_next (&r, &it) || it.type != TS_MP_BOOL)
        return dflt;
    return it.b;
}

const char *
ts_hdr_get_str (const ts_hdrin_t *in, const char *key, uint32_t *len)
{
    ts_mp_reader_t r;
    const char *p;
    uint32_t n;
    if (!ts_hdr_find (in, key, &r) || ts_mp_read_str (&r, &p, &n))
        return NULL;
    if (len)
        *len = n;
    return p ? p : "";
}

bool
ts_hdr_copy_str (const ts_hdrin_t *in, const char *key, char *buf, size_t size)
{
    uint32_t n;
    const char *p = ts_hdr_get_str (in, key, &n);
    if (!p || size == 0)
        return false;
    if (n >= size)
        n = (uint32_t) size - 1;
    memcpy (buf, p, n);
    buf [n] = 0;
    return true;
}

size_t
ts_chunk_key (char *key, const char *job, uint64_t chunk)
{
    size_t n = strlen (job);
    memcpy (key, job, n);
    key [n] = 0;
    memcpy (key + n + 1, &chunk, 8);
    return n + 9;
}

/* --- zero-copy payloads ------------------------------------------------------ */

ts_zref_t *
ts_zref_new (char *data, size_t size)
{
    ts_zref_t *z = malloc (sizeof *z);
    if (!z)
        return NULL;
    z->data = data;
    z->size = size;
    atomic_init (&z->refs, 1);
    return z;
}

ts_zref_t *
ts_zref_ref (ts_zref_t *z)
{
    atomic_fetch_add_explicit (&z->refs, 1, memory_order_relaxed);
    return z;
}

char *
ts_zref_reclaim (ts_zref_t **zp)
{
    ts_zref_t *z = *zp;
    *zp = NULL;
    if (!z || atomic_fetch_sub_explicit (&z->refs, 1, memory_order_acq_rel) != 1)
        return NULL;
    char *data = z->data;
    free (z);
    return data;
}

void
ts_zref_unref (ts_zref_t **zp)
{
    free (ts_zref_reclaim (zp));
}

/*  ZeroMQ's free function: its frame is done with the block. */
static void
s_zref_free (void *data, void *hint)
{
    (void) data;
    ts_zref_t *z = hint;
    ts_zref_unref (&z);
}

int
ts_zref_send (ts_zref_t *z, void *sock, int flags)
{
    zmq_msg_t m;
    ts_zref_ref (z);
    if (zmq_msg_init_data (&m, z->data, z->size, s_zref_free, z)) {
        ts_zref_unref (&z);
        return -1;
    }
    if (zmq_msg_send (&m, sock, flags) < 0) {
        int e = errno;
        zmq_msg_close (&m);             /* calls s_zref_free */
        errno = e;
        return -1;
    }
    return 0;
}
