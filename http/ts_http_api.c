/*  ts_http_api.c: the gateway's api client and its answers (ts_http.h).
 *
 *  ZeroMQ sockets are not thread-safe, and libmicrohttpd runs one thread a
 *  connection: the client keeps a pool of DEALER sockets, and a call takes
 *  one, uses it alone and gives it back (the mutex is the memory barrier a
 *  socket needs to move between threads). Each request carries a "rid";
 *  a late reply to a request given up on is recognised and dropped.
 */
#include "ts_http.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_log.h"
#include "ts_mp.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_POOL_MAX 256          /* idle sockets kept */
#define S_RUNS_TTL_MS 5000      /* the runs probe's answer is kept this long */

typedef struct {
    zsock_t *sock;
    uint64_t rid;
} s_conn_t;

struct ts_hapi {
    char            endpoint [1024];
    int             answer_ms;
    pthread_mutex_t lock;
    s_conn_t       *idle [S_POOL_MAX];
    int             nidle;
    int64_t         runs_checked_ms;     /* 0: never */
    bool            runs_known;
};

ts_hapi_t *
ts_hapi_new (const char *endpoint, int answer_ms)
{
    ts_hapi_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->endpoint, sizeof self->endpoint, "%s", endpoint);
    self->answer_ms = answer_ms > 0 ? answer_ms : TS_HTTP_ANSWER_MS;
    pthread_mutex_init (&self->lock, NULL);
    /* czmq makes its context on the first socket, unguarded: here, in one
     * thread, not in the first connections' threads at once (a browser
     * opens six) */
    zsys_init ();
    return self;
}

static void
s_conn_free (s_conn_t *c)
{
    if (c) {
        zsock_destroy (&c->sock);
        free (c);
    }
}

void
ts_hapi_destroy (ts_hapi_t **self_p)
{
    ts_hapi_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->nidle; i++)
        s_conn_free (self->idle [i]);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

static s_conn_t *
s_take (ts_hapi_t *self)
{
    pthread_mutex_lock (&self->lock);
    s_conn_t *c = self->nidle > 0 ? self->idle [--self->nidle] : NULL;
    pthread_mutex_unlock (&self->lock);
    if (c)
        return c;
    c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->sock = zsock_new (ZMQ_DEALER);
    if (!c->sock) {
        free (c);
        return NULL;
    }
    zsock_set_linger (c->sock, 0);
    zsock_set_sndtimeo (c->sock, self->answer_ms);
    zsock_set_rcvhwm (c->sock, 64);
    if (zsock_connect (c->sock, "%s", self->endpoint) < 0) {
        ts_error ("cannot connect to the api at %s: %s", self->endpoint, zmq_strerror (zmq_errno ()));
        s_conn_free (c);
        return NULL;
    }
    return c;
}

static void
s_give (ts_hapi_t *self, s_conn_t *c)
{
    pthread_mutex_lock (&self->lock);
    if (self->nidle < S_POOL_MAX) {
        self->idle [self->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock (&self->lock);
    s_conn_free (c);
}

/* --- requests ----------------------------------------------------------------- */

int
ts_hapi_call (ts_hapi_t *self, ts_req_t *q, zframe_t **reply)
{
    *reply = NULL;
    s_conn_t *c = s_take (self);
    if (!c)
        return TS_ENOMEM;
    c->rid++;
    zframe_t *f = ts_req_frame (q, c->rid);
    if (!f) {
        s_give (self, c);
        return TS_ENOMEM;
    }
    int64_t deadline = ts_mono_ms () + self->answer_ms;
    bool sent = zframe_send (&f, c->sock, 0) == 0;
    if (!sent)
        zframe_destroy (&f);
    int rc = TS_ETIMEOUT;
    while (sent) {
        int64_t left = deadline - ts_mono_ms ();
        zmq_pollitem_t item = { zsock_resolve (c->sock), 0, ZMQ_POLLIN, 0 };
        int n = left > 0 ? zmq_poll (&item, 1, (long) left) : 0;
        if (n < 0 && zmq_errno () == EINTR)
            continue;
        if (n <= 0)
            break;
        zframe_t *body = zframe_recv (c->sock);
        if (!body)
            continue;
        ts_mp_reader_t v;
        uint64_t rid;
        if (ts_mp_map_find (zframe_data (body), zframe_size (body), "rid", &v)
        &&  ts_mp_read_uint (&v, &rid) == 0 && rid != c->rid) {
            zframe_destroy (&body);     /* a late answer to a request given up on */
            continue;
        }
        ts_mp_item_t ok;
        if (!ts_mp_map_find (zframe_data (body), zframe_size (body), "ok", &v)
        ||  ts_mp_next (&v, &ok) || ok.type != TS_MP_BOOL) {
            zframe_destroy (&body);
            rc = TS_EPROTO;
            break;
        }
        *reply = body;
        rc = 0;
        break;
    }
    s_give (self, c);
    return rc;
}

/* --- answers -------------------------------------------------------------------- */

static const struct {
    const char *code;
    unsigned    status;
} s_statuses [] = {
    { "BAD_REQUEST", 400 }, { "VERSION", 400 }, { "UNAUTHORIZED", 401 }, { "FORBIDDEN", 403 },
    { "NOT_FOUND", 404 }, { "METHOD_NOT_ALLOWED", 405 }, { "TOO_BIG", 413 },
    { "URI_TOO_LONG", 414 }, { "UNSUPPORTED_MEDIA_TYPE", 415 }, { "UNKNOWN_OP", 501 },
    { "UNAVAILABLE", 503 }, { "BUSY", 503 }, { "TIMEOUT", 504 },
    { NULL, 500 }                        /* STORE, CORRUPT, NO_MEMORY and anything new */
};

unsigned
ts_hapi_status (const char *code)
{
    int i = 0;
    while (s_statuses [i].code && strcmp (s_statuses [i].code, code))
        i++;
    return s_statuses [i].status;
}

void
ts_hanswer_error (ts_hanswer_t *a, unsigned status, const char *code, const char *fmt, ...)
{
    char msg [1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, sizeof msg, fmt, ap);
    va_end (ap);
    a->status = status;
    a->body.size = 0;
    ts_json_out_t j;
    ts_json_out_init (&j, &a->body);
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "error");
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "code");     ts_json_out_str (&j, code);
    ts_json_out_key (&j, "message");  ts_json_out_str (&j, msg);
    ts_json_out_object_end (&j);
    ts_json_out_object_end (&j);
}

/*  The error of a reply map whose "ok" is false. */
static void
s_error_from_reply (ts_hanswer_t *a, const void *data, size_t len)
{
    char code [64] = "ERROR", msg [700] = "the api refused the request";
    ts_mp_reader_t er, v;
    const char *p;
    uint32_t n;
    if (ts_mp_map_find (data, len, "error", &er)) {
        if (ts_mp_reader_map_find (&er, "code", &v) && ts_mp_read_str (&v, &p, &n) == 0)
            snprintf (code, sizeof code, "%.*s", (int) n, p ? p : "");
        if (ts_mp_reader_map_find (&er, "message", &v) && ts_mp_read_str (&v, &p, &n) == 0)
            snprintf (msg, sizeof msg, "%.*s", (int) n, p ? p : "");
    }
    ts_hanswer_error (a, ts_hapi_status (code), code, "%s", msg);
}

/*  The answer to a call that did not end in a reply. */
static void
s_error_no_reply (ts_hapi_t *self, ts_hanswer_t *a, int rc)
{
    if (rc == TS_ETIMEOUT)
        ts_hanswer_error (a, 504, "TIMEOUT", "the api did not answer on %s within %d s",
                          self->endpoint, self->answer_ms / 1000);
    else if (rc == TS_EPROTO)
        ts_hanswer_error (a, 502, "BAD_GATEWAY", "the api's answer is not a reply map");
    else
        ts_hanswer_error (a, 500, "NO_MEMORY", "out of memory");
}

/*  True when the reply's "ok" is true (the caller checked it is a bool). */
static bool
s_reply_ok (zframe_t *reply)
{
    ts_mp_reader_t v;
    ts_mp_item_t ok;
    return ts_mp_map_find (zframe_data (reply), zframe_size (reply), "ok", &v)
        && ts_mp_next (&v, &ok) == 0 && ok.b;
}

/*  The reply's fields but the envelope, as one JSON object. */
static int
s_reply_json (zframe_t *reply, ts_buf_t *out)
{
    ts_mp_reader_t r;
    uint32_t n;
    ts_mp_item_t key;
    ts_json_out_t j;
    ts_json_out_init (&j, out);
    ts_mp_reader_init (&r, zframe_data (reply), zframe_size (reply));
    if (ts_mp_read_map (&r, &n))
        return TS_EPROTO;
    ts_json_out_object_begin (&j);
    for (uint32_t i = 0; i < n; i++) {
        if (ts_mp_next (&r, &key) || key.type != TS_MP_STR)
            return TS_EPROTO;
        if (ts_mp_item_is_str (&key, "v") || ts_mp_item_is_str (&key, "ok")
        ||  ts_mp_item_is_str (&key, "rid")) {
            if (ts_mp_skip (&r))
                return TS_EPROTO;
            continue;
        }
        char name [128];
        snprintf (name, sizeof name, "%.*s", (int) key.len, key.ptr ? key.ptr : "");
        ts_json_out_key (&j, name);
        if (ts_json_out_mp (&j, &r))
            return TS_EPROTO;
    }
    ts_json_out_object_end (&j);
    return ts_json_out_error (&j);
}

void
ts_hapi_answer (ts_hapi_t *self, ts_req_t *q, ts_hanswer_t *a)
{
    zframe_t *reply = NULL;
    int rc = ts_hapi_call (self, q, &reply);
    if (rc)
        s_error_no_reply (self, a, rc);
    else if (!s_reply_ok (reply))
        s_error_from_reply (a, zframe_data (reply), zframe_size (reply));
    else {
        a->status = 200;
        a->body.size = 0;
        if (s_reply_json (reply, &a->body))
            ts_hanswer_error (a, 502, "BAD_GATEWAY", "the api's reply does not convert to JSON");
    }
    zframe_destroy (&reply);
}

bool
ts_hapi_knows_runs (ts_hapi_t *self)
{
    int64_t now = ts_mono_ms ();
    pthread_mutex_lock (&self->lock);
    bool fresh = self->runs_checked_ms && now - self->runs_checked_ms < S_RUNS_TTL_MS;
    bool known = self->runs_known;
    pthread_mutex_unlock (&self->lock);
    if (fresh)
        return known;
    ts_req_t q = { 0 };
    ts_req_begin (&q, "runs");
    zframe_t *reply = NULL;
    int rc = ts_hapi_call (self, &q, &reply);
    ts_req_free (&q);
    if (rc)
        return false;                   /* no answer: ask again next time */
    known = true;
    ts_mp_reader_t v;
    const char *code;
    uint32_t n;
    if (!s_reply_ok (reply)
    &&  ts_mp_map_find (zframe_data (reply), zframe_size (reply), "error", &v)
    &&  ts_mp_reader_map_find (&v, "code", &v) && ts_mp_read_str (&v, &code, &n) == 0
    &&  n == 10 && !memcmp (code, "UNKNOWN_OP", 10))
        known = false;
    zframe_destroy (&reply);
    pthread_mutex_lock (&self->lock);
    self->runs_known = known;
    self->runs_checked_ms = now;
    pthread_mutex_unlock (&self->lock);
    return known;
}

/* --- the export stream ----------------------------------------------------------- */

struct ts_hexport {
    ts_hapi_t *api;
    ts_req_t  req;                  /* without "cursor" */
    zframe_t  *page;                 /* the reply being sent */
    const char *lines;               /* into page */
    uint32_t   len, at;
    char      *next;                 /* the next page's cursor, or NULL: last page */
};

/*  Asks for the page after x->next (the first when NULL); 0 or an error. */
static int
s_export_page (ts_hexport_t *x, ts_hanswer_t *a)
{
    ts_req_t q = { 0 };
    if (ts_buf_append (&q.body, x->req.body.data, x->req.body.size)) {
        ts_hanswer_error (a, 500, "NO_MEMORY", "out of memory");
        return TS_ENOMEM;
    }
    msgpack_packer_init (&q.pk, &q.body, ts_buf_packer_write);
    q.n = x->req.n + 1;
    ts_mp_pack_cstr (&q.pk, "cursor");
    if (x->next) ts_mp_pack_cstr (&q.pk, x->next); else msgpack_pack_nil (&q.pk);
    zframe_destroy (&x->page);
    free (x->next);
    x->next = NULL;
    x->lines = NULL;
    x->len = x->at = 0;
    int rc = ts_hapi_call (x->api, &q, &x->page);
    ts_req_free (&q);
    if (rc) {
        s_error_no_reply (x->api, a, rc);
        return rc;
    }
    const void *d = zframe_data (x->page);
    size_t n = zframe_size (x->page);
    if (!s_reply_ok (x->page)) {
        s_error_from_reply (a, d, n);
        return TS_EBADREQ;
    }
    ts_mp_reader_t v;
    const char *next;
    uint32_t nlen;
    if (!ts_mp_map_find (d, n, "lines", &v) || ts_mp_read_str (&v, &x->lines, &x->len)) {
        ts_hanswer_error (a, 502, "BAD_GATEWAY", "the api's export page has no \"lines\"");
        return TS_EPROTO;
    }
    if (ts_mp_map_find (d, n, "next", &v) && ts_mp_read_str (&v, &next, &nlen) == 0) {
        x->next = strndup (next ? next : "", nlen);
        if (!x->next) {
            ts_hanswer_error (a, 500, "NO_MEMORY", "out of memory");
            return TS_ENOMEM;
        }
    }
    return 0;
}

ts_hexport_t *
ts_hexport_start (ts_hapi_t *api, ts_req_t *q, ts_hanswer_t *a)
{
    ts_hexport_t *x = calloc (1, sizeof *x);
    if (!x) {
        ts_hanswer_error (a, 500, "NO_MEMORY", "out of memory");
        return NULL;
    }
    x->api = api;
    x->req = *q;                        /* takes the request's buffer */
    memset (q, 0, sizeof *q);
    if (s_export_page (x, a)) {
        ts_hexport_free (x);
        return NULL;
    }
    return x;
}

ssize_t
ts_hexport_read (ts_hexport_t *x, char *buf, size_t max)
{
    while (x->at == x->len) {
        if (!x->next)
            return 0;
        ts_hanswer_t a = { 0 };
        int rc = s_export_page (x, &a);
        if (rc)
            ts_warn ("export cut short: %.*s", (int) a.body.size, a.body.data ? a.body.data : "");
        ts_buf_free (&a.body);
        if (rc)
            return -1;
    }
    size_t n = x->len - x->at;
    if (n > max)
        n = max;
    memcpy (buf, x->lines + x->at, n);
    x->at += (uint32_t) n;
    return (ssize_t) n;
}

void
ts_hexport_free (ts_hexport_t *x)
{
    if (!x)
        return;
    zframe_destroy (&x->page);
    ts_req_free (&x->req);
    free (x->next);
    free (x);
}
