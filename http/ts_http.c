/*  ts_http.c: the gateway's server: libmicrohttpd, authentication, limits,
 *  headers and the viewer's static files (ts_http.h, docs/HTTP.md). Which
 *  api request a URL becomes is the routes' part (ts_http_route.c).
 */
#include "ts_http.h"
#include "ts_error.h"
#include "ts_log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_STATIC_MAX    (8u << 20)
#define S_EXPORT_BLOCK  (64u << 10)
#define S_POST_MAX      (64u << 10)   /* bytes of a POST body */
#define S_LABEL_PATH    "/v1/labels/"

struct ts_http {
    struct MHD_Daemon *mhd;
    ts_hapi_t  *api;
    int         static_fd;               /* -1: no viewer files */
    char        static_dir [1024];
    char        token [512];
    size_t      token_len;
    bool        check_host;              /* no token: Host must be local or allowed */
    char        allow_hosts [512];       /* ",a,b," */
    char        url [128];
    char        addr_file [1024];
};

/* --- a request's query parameters -------------------------------------------------- */

static enum MHD_Result
s_collect (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    ts_hargs_t *a = cls;
    if (a->n == TS_HTTP_MAX_ARGS) {
        a->too_many = true;
        return MHD_NO;
    }
    a->key [a->n] = key;
    a->val [a->n] = value ? value : "";
    a->n++;
    return MHD_YES;
}


/* --- responses ------------------------------------------------------------------------- */

static void
s_headers (struct MHD_Response *resp, const char *ctype, bool api)
{
    MHD_add_response_header (resp, "Content-Type", ctype);
    MHD_add_response_header (resp, "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
    MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (resp, "X-Frame-Options", "DENY");
    MHD_add_response_header (resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (resp, "Cache-Control", api ? "no-store" : "no-cache");
}

static enum MHD_Result
s_send (struct MHD_Connection *conn, ts_hanswer_t *a)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer (
        a->body.size, a->body.data ? a->body.data : "", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    s_headers (resp, "application/json; charset=utf-8", true);
    if (a->status == 401)
        MHD_add_response_header (resp, "WWW-Authenticate", "Bearer realm=\"trajstore\"");
    if (a->status == 405)
        MHD_add_response_header (resp, "Allow", "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (conn, a->status, resp);
    MHD_destroy_response (resp);
    return rc;
}

static ssize_t
s_export_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    ssize_t n = ts_hexport_read (cls, buf, max);
    return n > 0 ? n : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void
s_export_done (void *cls)
{
    ts_hexport_free (cls);
}

static enum MHD_Result
s_send_export (ts_http_t *self, struct MHD_Connection *conn, ts_req_t *q, ts_hanswer_t *a)
{
    ts_hexport_t *x = ts_hexport_start (self->api, q, a);
    if (!x)
        return s_send (conn, a);
    struct MHD_Response *resp = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, S_EXPORT_BLOCK, s_export_reader, x, s_export_done);
    if (!resp) {
        ts_hexport_free (x);
        return MHD_NO;
    }
    s_headers (resp, "application/x-ndjson; charset=utf-8", true);
    enum MHD_Result rc = MHD_queue_response (conn, 200, resp);
    MHD_destroy_response (resp);
    return rc;
}

/* --- static files ------------------------------------------------------------------------ */

static const struct {
    const char *ext, *ctype;
} s_types [] = {
    { ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
    { ".css", "text/css; charset=utf-8" }, { ".json", "application/json; charset=utf-8" },
    { ".svg", "image/svg+xml" }, { ".png", "image/png" }, { ".txt", "text/plain; charset=utf-8" },
    { NULL, NULL }
};

/*  Serves one file of the static folder. Names are one path segment of
 *  [A-Za-z0-9._-], not starting with '.', of a known type, opened relative
 *  to the folder without following links: nothing outside it can be named. */
static enum MHD_Result
s_static (ts_http_t *self, struct MHD_Connection *conn, const char *url, ts_hanswer_t *a)
{
    const char *name = strcmp (url, "/") ? url + 1 : "index.html";
    size_t n = strlen (name);
    const char *ctype = NULL;
    for (int i = 0; s_types [i].ext && n < 128; i++) {
        size_t e = strlen (s_types [i].ext);
        if (n > e && !strcmp (name + n - e, s_types [i].ext))
            ctype = s_types [i].ctype;
    }
    if (!ctype || name [0] == '.' || strspn (name, "abcdefghijklmnopqrstuvwxyz"
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n) {
        ts_hanswer_error (a, 404, "NOT_FOUND", "no such page: %.200s", url);
        return s_send (conn, a);
    }
    if (self->static_fd < 0) {
        ts_hanswer_error (a, 404, "NOT_FOUND", "the viewer's files are not installed "
                          "(trajstore-http --static DIR)");
        return s_send (conn, a);
    }
    int fd = openat (self->static_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat (fd, &st) || !S_ISREG (st.st_mode) || (uint64_t) st.st_size > S_STATIC_MAX) {
        if (fd >= 0)
            close (fd);
        ts_hanswer_error (a, 404, "NOT_FOUND", "no such file: %.200s", name);
        return s_send (conn, a);
    }
    struct MHD_Response *resp = MHD_create_response_from_fd ((size_t) st.st_size, fd);
    if (!resp) {
        close (fd);
        return MHD_NO;
    }
    s_headers (resp, ctype, false);
    enum MHD_Result rc = MHD_queue_response (conn, 200, resp);
    MHD_destroy_response (resp);
    return rc;
}

/* --- POST /v1/labels/{id}, /v1/labels (ts_http_label.c) ------------------------------------ */
/*  A POST's body, gathered over the calls of one request (its con_cls;
 *  the other con_cls values are the marks 1 and 2). Its api request:
 *  ts_hroute_label. */
typedef struct {
    ts_buf_t body;
} s_post_t;

static bool
s_is_post (void *con_cls)
{
    return con_cls && con_cls != (void *) 1 && con_cls != (void *) 2;
}

/* --- access ------------------------------------------------------------------------------ */

/*  Compares the request's "Authorization: Bearer T" with the token in time
 *  that depends on the token's length only. */
static bool
s_authorized (const ts_http_t *self, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp (h, "Bearer ", 7))
        return false;
    h += 7;
    size_t hlen = strlen (h);
    volatile unsigned char diff = hlen != self->token_len;
    for (size_t i = 0; i < self->token_len; i++)
        diff |= (unsigned char) (self->token [i] ^ (i < hlen ? h [i] : 0));
    return diff == 0;
}

/*  A gateway without a token trusts whoever can reach it, which a web page
 *  could through DNS rebinding: its Host must then be local, or one of
 *  --allow-host's names. */
static bool
s_host_is_local (const ts_http_t *self, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Host");
    if (!h)
        return true;                    /* HTTP/1.0: no name to rebind */
    char host [256];
    snprintf (host, sizeof host, "%s", h);
    char *end = host [0] == '[' ? strchr (host, ']') : strrchr (host, ':');
    if (host [0] == '[' && end)
        end [1] = 0;
    else if (end)
        *end = 0;
    struct in_addr a4;
    char item [260];
    snprintf (item, sizeof item, ",%s,", host);
    return !strcasecmp (host, "localhost") || !strcmp (host, "[::1]")
        || (inet_pton (AF_INET, host, &a4) == 1 && (ntohl (a4.s_addr) >> 24) == 127)
        || strstr (self->allow_hosts, ",*,") || strcasestr (self->allow_hosts, item);
}

static enum MHD_Result
s_handle (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void) version;
    ts_http_t *self = cls;
    ts_hanswer_t a = { 0 };
    enum MHD_Result rc;
    if (!*con_cls) {
        /* the headers are in: what needs no body is refused now, before
         * any body is read */
        *con_cls = (void *) 2;
        const char *cl = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Content-Length");
        const char *te = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Transfer-Encoding");
        const char *ct = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Content-Type");
        bool label_url = (!strncmp (url, S_LABEL_PATH, strlen (S_LABEL_PATH))
                          && url [strlen (S_LABEL_PATH)]) || !strcmp (url, ts_hroute_label_where.path);
        if (!strcmp (method, "POST") && label_url) {
            /* application/json only: a page of another site cannot send
             * it without the browser asking this gateway first (CORS) */
            if (!ct || strncasecmp (ct, "application/json", 16))
                ts_hanswer_error (&a, 415, "UNSUPPORTED_MEDIA_TYPE", "POST %s: want the body as "
                                  "Content-Type: application/json", S_LABEL_PATH "{id}");
            else if (cl && strtoull (cl, NULL, 10) > S_POST_MAX)
                ts_hanswer_error (&a, 413, "TOO_BIG", "a POST body is at most %u bytes",
                                  S_POST_MAX);
            else {
                s_post_t *p = calloc (1, sizeof *p);
                if (!p)
                    return MHD_NO;
                *con_cls = p;
                return MHD_YES;
            }
        }
        else if (!strcmp (method, "POST"))
            ts_hanswer_error (&a, 405, "METHOD_NOT_ALLOWED", "POST: only %s{id} and %s take a "
                              "POST", S_LABEL_PATH, ts_hroute_label_where.path);
        else if (strcmp (method, "GET") && strcmp (method, "HEAD"))
            ts_hanswer_error (&a, 405, "METHOD_NOT_ALLOWED", "%.16s: only GET, HEAD and POST "
                              "(labels) are served", method);
        else if ((cl && strcmp (cl, "0")) || te)
            ts_hanswer_error (&a, 413, "TOO_BIG", "a request has no body here (GET only)");
        else
            return MHD_YES;
        rc = s_send (conn, &a);
        ts_buf_free (&a.body);
        return rc;
    }
    s_post_t *post = s_is_post (*con_cls) ? *con_cls : NULL;
    if (*upload_size > 0) {
        if (post && post->body.size + *upload_size <= S_POST_MAX
        &&  ts_buf_append (&post->body, upload, *upload_size) == 0) {
            *upload_size = 0;
            return MHD_YES;
        }
        if (post)                       /* over the limit: answered once it is all in */
            post->body.size = S_POST_MAX + 1;
        *upload_size = 0;
        return MHD_YES;
    }
    bool is_api = !strcmp (url, "/v1") || !strncmp (url, "/v1/", 4);
    if (self->check_host && !s_host_is_local (self, conn)) {
        ts_hanswer_error (&a, 403, "FORBIDDEN", "Host is not this machine: a gateway without a "
                          "token answers only requests to localhost, 127.0.0.1, [::1] and the "
                          "names of --allow-host");
        rc = s_send (conn, &a);
    }
    else if (!is_api)
        rc = s_static (self, conn, url, &a);
    else if (self->token_len && !s_authorized (self, conn)) {
        ts_hanswer_error (&a, 401, "UNAUTHORIZED", "want the header Authorization: Bearer TOKEN");
        rc = s_send (conn, &a);
    }
    else {
        const char *arg;
        const ts_hroute_t *r = ts_hroute_find (url, &arg);
        ts_hargs_t *args = calloc (1, sizeof *args);
        ts_req_t q = { 0 };
        if (!args) {
            ts_hanswer_error (&a, 500, "NO_MEMORY", "out of memory");
            rc = s_send (conn, &a);
        }
        else if (!r) {
            ts_hanswer_error (&a, 404, "NOT_FOUND", "no endpoint %.200s (GET /v1 lists them)", url);
            rc = s_send (conn, &a);
        }
        else if (MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, s_collect, args) < 0) {
            rc = MHD_NO;
        }
        else if (r->kind == TS_HROUTE_INDEX || r->kind == TS_HROUTE_PROFILES || r->kind == TS_HROUTE_OPENAPI) {
            if (args->n > 0)
                ts_hanswer_error (&a, 400, "BAD_REQUEST", "parameter \"%.100s\": %s takes no "
                                  "parameters", args->key [0], r->path);
            else if (r->kind == TS_HROUTE_OPENAPI) {
                free (args);
                return s_static (self, conn, "/openapi.json", &a);
            }
            else if (r->kind == TS_HROUTE_INDEX)
                ts_hroute_index (self->api, &a);
            else
                ts_hroute_profiles (&a);
            rc = s_send (conn, &a);
        }
        else if (post && post->body.size > S_POST_MAX) {
            ts_hanswer_error (&a, 413, "TOO_BIG", "a POST body is at most %u bytes", S_POST_MAX);
            rc = s_send (conn, &a);
        }
        else if (post && r->id_field && args->n > 0) {
            ts_hanswer_error (&a, 400, "BAD_REQUEST", "parameter \"%.100s\": POST %s{id} takes "
                              "its fields in the body", args->key [0], S_LABEL_PATH);
            rc = s_send (conn, &a);
        }
        else if (post && !r->id_field
                 ? ts_hroute_request (self->api, &ts_hroute_label_where, NULL, args, &q, &a)
                   || ts_http_label_request (NULL, &post->body, &q, &a)
                 : post ? ts_http_label_request (arg, &post->body, &q, &a)
                        : ts_hroute_request (self->api, r, arg, args, &q, &a))
            rc = s_send (conn, &a);
        else if (r->kind == TS_HROUTE_EXPORT) {
            rc = s_send_export (self, conn, &q, &a);
            ts_req_free (&q);
        }
        else {
            ts_hapi_answer (self->api, &q, &a);
            ts_req_free (&q);
            rc = s_send (conn, &a);
        }
        free (args);
    }
    if (a.status >= 500)
        ts_warn ("%s %.200s: %u %.*s", method, url, a.status,
                 (int) (a.body.size < 300 ? a.body.size : 300), a.body.data ? a.body.data : "");
    else
        ts_debug ("%s %.200s: %u", method, url, a.status ? a.status : 200);
    ts_buf_free (&a.body);
    return rc;
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    (void) toe;
    if (s_is_post (*con_cls)) {
        s_post_t *p = *con_cls;
        ts_buf_free (&p->body);
        free (p);
    }
    *con_cls = NULL;
}

/*  Refuses a URL longer than TS_HTTP_URL_MAX before anything reads it
 *  (libmicrohttpd's own limit, its memory pool, answers in HTML). */
static void *
s_uri_log (void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void) cls;
    (void) conn;
    return strlen (uri) > TS_HTTP_URL_MAX ? (void *) 1 : NULL;
}

static enum MHD_Result
s_handle_checked (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    if (*con_cls == (void *) 1) {
        *con_cls = NULL;
        ts_hanswer_t a = { 0 };
        ts_hanswer_error (&a, 414, "URI_TOO_LONG", "the URL is longer than %d bytes", TS_HTTP_URL_MAX);
        enum MHD_Result rc = s_send (conn, &a);
        ts_buf_free (&a.body);
        return rc;
    }
    return s_handle (cls, conn, url, method, version, upload, upload_size, con_cls);
}

/* --- starting and stopping ------------------------------------------------------------ */

int
ts_http_parse_addr (const char *text, struct sockaddr_storage *sa, bool *loopback,
                    char *err, size_t size)
{
    char host [256] = "127.0.0.1", port [16];
    const char *colon = text [0] == '[' ? strstr (text, "]:") : strrchr (text, ':');
    if (!colon) {
        snprintf (port, sizeof port, "%s", text);
    }
    else {
        size_t hl = (size_t) (colon - text) - (text [0] == '[');
        const char *hs = text + (text [0] == '[');
        if (hl == 0 || hl >= sizeof host) {
            snprintf (err, size, "bad address \"%.100s\": want HOST:PORT, [IPv6]:PORT or PORT", text);
            return TS_EINVAL;
        }
        memcpy (host, hs, hl);
        host [hl] = 0;
        snprintf (port, sizeof port, "%s", colon + 1 + (text [0] == '['));
    }
    if (!port [0] || strspn (port, "0123456789") != strlen (port) || atol (port) > 65535) {
        snprintf (err, size, "bad address \"%.100s\": the port must be a number from 0 to 65535", text);
        return TS_EINVAL;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_NUMERICSERV | AI_PASSIVE }, *res = NULL;
    int g = getaddrinfo (!strcmp (host, "localhost") ? "127.0.0.1" : host, port, &hints, &res);
    if (g || !res) {
        snprintf (err, size, "bad address \"%.100s\": %s", text, gai_strerror (g));
        return TS_EINVAL;
    }
    memset (sa, 0, sizeof *sa);
    memcpy (sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo (res);
    if (sa->ss_family == AF_INET)
        *loopback = (ntohl (((struct sockaddr_in *) sa)->sin_addr.s_addr) >> 24) == 127;
    else
        *loopback = IN6_IS_ADDR_LOOPBACK (&((struct sockaddr_in6 *) sa)->sin6_addr);
    return 0;
}

static void
s_write_addr_file (const char *path, const char *url)
{
    char tmp [1100];
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    bool ok = f && fprintf (f, "%s\n", url) > 0;
    ok = f && fclose (f) == 0 && ok;
    if (!ok || rename (tmp, path))
        ts_warn ("cannot write %s: %s", path, strerror (errno));
}

ts_http_t *
ts_http_start (const ts_http_config_t *cfg, char *err, size_t size)
{
    struct sockaddr_storage sa;
    bool loopback = false;
    if (ts_http_parse_addr (cfg->addr, &sa, &loopback, err, size))
        return NULL;
    if (cfg->token && (!cfg->token [0] || strlen (cfg->token) >= 512 || strpbrk (cfg->token, " \t\r\n"))) {
        snprintf (err, size, "the token must be 1 to 511 characters without spaces");
        return NULL;
    }
    if (!loopback && !cfg->token && !cfg->no_auth) {
        snprintf (err, size, "%s is not a loopback address: give a bearer token (--token-file, "
                  "$TRAJSTORE_HTTP_TOKEN) or say --no-auth", cfg->addr);
        return NULL;
    }
    ts_http_t *self = calloc (1, sizeof *self);
    if (!self || !(self->api = ts_hapi_new (cfg->api, cfg->answer_ms))) {
        free (self);
        snprintf (err, size, "out of memory");
        return NULL;
    }
    if (cfg->token) {
        snprintf (self->token, sizeof self->token, "%s", cfg->token);
        self->token_len = strlen (self->token);
    }
    self->check_host = !cfg->token;
    snprintf (self->allow_hosts, sizeof self->allow_hosts, ",%s,", cfg->allow_hosts ? cfg->allow_hosts : "");
    self->static_fd = -1;
    if (cfg->static_dir) {
        snprintf (self->static_dir, sizeof self->static_dir, "%s", cfg->static_dir);
        self->static_fd = open (cfg->static_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (self->static_fd < 0)
            ts_warn ("the viewer's folder %s: %s (the JSON endpoints work; the pages do not)",
                     cfg->static_dir, strerror (errno));
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                   | MHD_USE_ERROR_LOG | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    self->mhd = MHD_start_daemon (flags, 0, NULL, NULL, s_handle_checked, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &sa,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) (cfg->max_connections ? cfg->max_connections
                                                                     : TS_HTTP_MAX_CONNS),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) TS_HTTP_IDLE_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (2 * TS_HTTP_URL_MAX + 65536),
        MHD_OPTION_URI_LOG_CALLBACK, s_uri_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, NULL,
        MHD_OPTION_END);
    if (!self->mhd) {
        snprintf (err, size, "cannot listen on %s: %s", cfg->addr, strerror (errno));
        ts_http_stop (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    char host [INET6_ADDRSTRLEN] = "";
    if (sa.ss_family == AF_INET)
        inet_ntop (AF_INET, &((struct sockaddr_in *) &sa)->sin_addr, host, sizeof host);
    else
        inet_ntop (AF_INET6, &((struct sockaddr_in6 *) &sa)->sin6_addr, host, sizeof host);
    snprintf (self->url, sizeof self->url, sa.ss_family == AF_INET6 ? "http://[%s]:%u/"
              : "http://%s:%u/", host, port);
    if (cfg->addr_file) {
        snprintf (self->addr_file, sizeof self->addr_file, "%s", cfg->addr_file);
        s_write_addr_file (self->addr_file, self->url);
    }
    return self;
}

const char *
ts_http_url (const ts_http_t *self)
{
    return self->url;
}

void
ts_http_stop (ts_http_t **self_p)
{
    ts_http_t *self = *self_p;
    if (!self)
        return;
    if (self->mhd)
        MHD_stop_daemon (self->mhd);
    if (self->addr_file [0])
        unlink (self->addr_file);
    if (self->static_fd >= 0)
        close (self->static_fd);
    ts_hapi_destroy (&self->api);
    free (self);
    *self_p = NULL;
}
