/*  ts_http.h: trajstore-http, the HTTP/JSON gateway and the web viewer's
 *  server (docs/HTTP.md).
 *
 *  It is one more client of trajstore-api: each HTTP request becomes one
 *  msgpack request over ZeroMQ (docs/PROTOCOL.md), and its reply comes back as
 *  JSON, the reply's fields without the envelope ("v", "ok", "rid"). An
 *  error reply becomes {"error": {"code", "message"}} with the HTTP status
 *  of its code (ts_hapi_status). HTTP itself is libmicrohttpd's, one
 *  thread a connection (at most max_connections of them).
 *
 *  Three parts:
 *    ts_http.c      the server: the daemon, authentication, limits,
 *                   security headers, static files
 *    ts_http_route.c the routes and their query parameters: the api
 *                   request each HTTP request becomes
 *    ts_http_api.c  the api client (a pool of DEALER sockets, one in use by
 *                   one thread at a time) and the answers: JSON bodies,
 *                   the NDJSON export stream, the runs capability probe
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include "ts_record.h"
#include "ts_request.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TS_HTTP_DEFAULT_ADDR   "127.0.0.1:7480"
#define TS_HTTP_ANSWER_MS      15000      /* patience for one api reply */
#define TS_HTTP_MAX_CONNS      64         /* connections (= threads) at once */
#define TS_HTTP_IDLE_S         30         /* a connection silent this long is closed */
#define TS_HTTP_URL_MAX        65536      /* bytes of path + query string */
#define TS_HTTP_EXPORT_PAGE    500        /* records an export asks for at a time */

/* --- the api client (ts_http_api.c) ------------------------------------------- */

typedef struct ts_hapi ts_hapi_t;

/*  A client of the api at `endpoint` (connect form), waiting `answer_ms`
 *  for a reply. NULL when out of memory. */
ts_hapi_t *ts_hapi_new (const char *endpoint, int answer_ms);
void ts_hapi_destroy (ts_hapi_t **self_p);

/*  One answer, ready to send: an HTTP status and a JSON body. */
typedef struct {
    unsigned status;
    ts_buf_t body;
} ts_hanswer_t;

/*  Sends the request and waits for the reply; `*reply` is the reply frame
 *  (the caller destroys it). 0, TS_ETIMEOUT (no answer), TS_EPROTO (an
 *  answer that is not a reply map), TS_ENOMEM. */
int ts_hapi_call (ts_hapi_t *self, ts_req_t *q, zframe_t **reply);

/*  Calls the api and makes the HTTP answer: 200 and the reply's fields, or
 *  the error with its status; 504 when the api does not answer. */
void ts_hapi_answer (ts_hapi_t *self, ts_req_t *q, ts_hanswer_t *a);

/*  The HTTP status of a protocol error code ("NOT_FOUND" -> 404...). */
unsigned ts_hapi_status (const char *code);

/*  Writes {"error": {"code", "message"}} with `status` into *a. */
void ts_hanswer_error (ts_hanswer_t *a, unsigned status, const char *code,
                       const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

/*  True when the api knows the op "runs" (asked at most every 5 s);
 *  false also when it did not answer. */
bool ts_hapi_knows_runs (ts_hapi_t *self);

/*  The op "label" of record `id` from a POST's JSON body {"set": {k: v},
 *  "remove": [k], "author": A} (the import's strict parser reads it; its
 *  fields go to the api, which checks them). `id` NULL: "where", `q`
 *  begun with the filters by the caller. 0, or -1 with the error in *a
 *  (and `q` freed). */
int ts_http_label_request (const char *id, const ts_buf_t *body, ts_req_t *q, ts_hanswer_t *a);

/*  An export in progress: the request (without its cursor) and the page
 *  being sent. ts_hexport_start asks for the first page: 0, or the error
 *  answer in *a. ts_hexport_read copies up to `max` bytes of NDJSON into
 *  `buf`, asking for the next page when this one is sent: bytes copied,
 *  0 at the end, -1 when the api failed mid-stream (the connection is
 *  then cut, so a client never mistakes a part for the whole). */
typedef struct ts_hexport ts_hexport_t;
ts_hexport_t *ts_hexport_start (ts_hapi_t *api, ts_req_t *q, ts_hanswer_t *a);
ssize_t ts_hexport_read (ts_hexport_t *x, char *buf, size_t max);
void ts_hexport_free (ts_hexport_t *x);

/* --- the routes (ts_http_route.c) ------------------------------------------------ */

#define TS_HTTP_MAX_ARGS 1100   /* query parameters a request (1000 groups and the rest) */

typedef enum {
    TS_HROUTE_API,          /* one api request, its reply as JSON */
    TS_HROUTE_EXPORT,       /* pages of export, streamed as NDJSON */
    TS_HROUTE_PROFILES,     /* the built-in profiles (answered here) */
    TS_HROUTE_OPENAPI,      /* openapi.json of the static folder */
    TS_HROUTE_INDEX         /* the route table */
} ts_hroute_kind_t;

typedef struct {
    const char *path;                    /* "{x}" is the last segment, taken whole */
    ts_hroute_kind_t kind;
    const char *op;
    const char *id_field;                /* the field the {x} segment becomes */
    const char *params [16];
} ts_hroute_t;

/*  A request's query parameters, in the order given. */
typedef struct {
    const char *key [TS_HTTP_MAX_ARGS];
    const char *val [TS_HTTP_MAX_ARGS];
    int         n;
    bool        too_many;                /* more than TS_HTTP_MAX_ARGS */
} ts_hargs_t;

/*  The route of `url`, or NULL; `*arg` is the {x} segment (NULL when none). */
const ts_hroute_t *ts_hroute_find (const char *url, const char **arg);

/*  The api request of route `r` from the query parameters; 0, or -1 with
 *  the error answer in *a (400 for a parameter the route does not take). */
int ts_hroute_request (ts_hapi_t *api, const ts_hroute_t *r, const char *arg,
                       const ts_hargs_t *args, ts_req_t *q, ts_hanswer_t *a);

/*  GET /v1: the route table, and what the api behind knows. */
void ts_hroute_index (ts_hapi_t *api, ts_hanswer_t *a);

/*  GET /v1/profiles: the built-in profiles, their specs and where each
 *  keeps its steps, so the viewer finds the messages of a record without
 *  a copy of the table. */
void ts_hroute_profiles (ts_hanswer_t *a);

/*  POST /v1/labels: the op "label" with "where" (its filters as query
 *  parameters, the change in the body: ts_http_label_request). */
extern const ts_hroute_t ts_hroute_label_where;

/* --- the server (ts_http.c) ----------------------------------------------------- */

typedef struct {
    const char *addr;            /* "HOST:PORT", "[V6]:PORT" or "PORT" */
    const char *api;             /* the api endpoint to connect to */
    const char *static_dir;      /* the viewer's files */
    const char *token;           /* bearer token, or NULL */
    bool        no_auth;         /* allow a non-loopback bind without a token */
    const char *allow_hosts;     /* without a token, Host names accepted besides
                                    the local ones ("a,b", "*": any), or NULL */
    const char *addr_file;       /* where to write the URL once listening, or NULL */
    unsigned    max_connections;
    int         answer_ms;
} ts_http_config_t;

typedef struct ts_http ts_http_t;

/*  Checks the configuration, binds and starts serving (in libmicrohttpd's
 *  threads). NULL with a message in `err` when the address is bad, a
 *  non-loopback bind has neither a token nor no_auth, the static folder
 *  cannot be opened, or the bind fails. */
ts_http_t *ts_http_start (const ts_http_config_t *cfg, char *err, size_t err_size);

/*  The URL it listens on ("http://127.0.0.1:7480/"). */
const char *ts_http_url (const ts_http_t *self);

/*  Stops serving (waits for the connections' threads) and frees. */
void ts_http_stop (ts_http_t **self_p);

/*  Parses a listen address; "localhost" is 127.0.0.1. Fills the socket
 *  address and says whether it is a loopback one. 0 or TS_EINVAL with a
 *  message in err. (Exposed for the tests' sake.) */
struct sockaddr_storage;
int ts_http_parse_addr (const char *text, struct sockaddr_storage *sa, bool *loopback,
                        char *err, size_t err_size);

#endif
