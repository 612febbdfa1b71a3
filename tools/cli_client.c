/*  cli_client.c: the read commands' client of trajstore-api: a DEALER
 *  socket on the api endpoint (--api, else $TRAJSTORE_API, else
 *  ipc://DATA/api.sock), one msgpack map out, one back; and the readers
 *  and printers of its replies (declared in cli_query.h).
 */
#include "cli_query.h"
#include "ts_error.h"
#include "ts_json_out.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <sys/un.h>

/* --- the api client ----------------------------------------------------------- */

/*  True unless connecting to the unix socket at `path` is refused or it
 *  does not exist (any other outcome leaves the verdict to the request). */
static bool
s_ipc_is_listening (const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen (path) >= sizeof addr.sun_path)
        return true;
    strcpy (addr.sun_path, path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return true;
    int rc = connect (fd, (struct sockaddr *) &addr, sizeof addr);
    int err = errno;
    close (fd);
    return rc == 0 || (err != ECONNREFUSED && err != ENOENT);
}

/*  Opens the client: finds the endpoint and connects. Returns 0, or the
 *  exit code (2) after printing why. */
int
cq_client_open (s_client_t *c, const char *cmd, const char *data_flag, const char *api_flag)
{
    memset (c, 0, sizeof *c);
    c->cmd = cmd;
    ts_cli_paths_t p;
    int rc = ts_cli_paths_init (&p, data_flag, false);
    if (rc == 0)
        rc = ts_config_endpoint (api_flag, "api", p.data, c->endpoint, sizeof c->endpoint);
    if (rc) {
        fprintf (stderr, "trajstore %s: bad data directory or api endpoint: %s\n", cmd,
                 ts_strerror (rc));
        return 2;
    }
    snprintf (c->data, sizeof c->data, "%s", p.data);
    const char *env = getenv ("TRAJSTORE_API");
    c->local = !api_flag && !(env && *env);
    /* an ipc socket that is not there, or that nobody listens on (a
     * stopped stack leaves its socket files), cannot answer: say so now,
     * not after the whole wait */
    if (!strncmp (c->endpoint, "ipc://", 6) && !s_ipc_is_listening (c->endpoint + 6)) {
        if (c->local)
            fprintf (stderr, "trajstore %s: no api at %s (is the stack running? start it with "
                     "trajstore up --data %s)\n", cmd, c->endpoint, c->data);
        else
            fprintf (stderr, "trajstore %s: no api at %s (nothing listens there)\n", cmd,
                     c->endpoint);
        return 2;
    }
    c->sock = zsock_new (ZMQ_DEALER);
    if (!c->sock) {
        fprintf (stderr, "trajstore %s: cannot make a socket: %s\n", cmd, zmq_strerror (zmq_errno ()));
        return 2;
    }
    zsock_set_linger (c->sock, 0);
    zsock_set_sndtimeo (c->sock, S_ANSWER_MS);
    char target [sizeof c->endpoint + 32];
    if (zsock_connect (c->sock, "%s", ts_config_connectable (c->endpoint, target, sizeof target)) < 0) {
        fprintf (stderr, "trajstore %s: bad api endpoint %s: %s\n", cmd, c->endpoint,
                 zmq_strerror (zmq_errno ()));
        zsock_destroy (&c->sock);
        return 2;
    }
    return 0;
}

void
cq_client_close (s_client_t *c)
{
    zframe_destroy (&c->reply);
    zsock_destroy (&c->sock);
}

/*  Prints the api's error in the reply map at `map` (code and message). */
static void
s_print_error (const s_client_t *c, const ts_mp_reader_t *map)
{
    ts_mp_reader_t er, v;
    char code [64] = "ERROR", msg [600] = "the api refused the request";
    const char *p;
    uint32_t n;
    if (ts_mp_reader_map_find (map, "error", &er)) {
        v = er;
        if (ts_mp_reader_map_find (&v, "code", &v) && ts_mp_read_str (&v, &p, &n) == 0)
            snprintf (code, sizeof code, "%.*s", (int) n, p ? p : "");
        v = er;
        if (ts_mp_reader_map_find (&v, "message", &v) && ts_mp_read_str (&v, &p, &n) == 0)
            snprintf (msg, sizeof msg, "%.*s", (int) n, p ? p : "");
    }
    fprintf (stderr, "trajstore %s: %s: %s\n", c->cmd, code, msg);
}

/*  Sends the request (with a new "rid") and waits up to S_ANSWER_MS for
 *  its reply. Returns 0 when the api answered "ok": true (c->reply and
 *  c->map hold the reply until the next call); else prints why and returns
 *  the exit code: 1 for an error reply, 2 for no answer or one that does
 *  not decode. */
int
cq_client_call (s_client_t *c, ts_req_t *q)
{
    zframe_destroy (&c->reply);
    c->rid++;
    zframe_t *f = ts_req_frame (q, c->rid);
    if (!f) {
        fprintf (stderr, "trajstore %s: out of memory\n", c->cmd);
        return 2;
    }
    /* the patience covers the send too: a DEALER with no peer blocks */
    int64_t patience = c->answer_ms > 0 ? c->answer_ms : S_ANSWER_MS;
    int64_t deadline = ts_mono_ms () + patience;
    bool sent = zframe_send (&f, c->sock, 0) == 0;
    if (!sent)
        zframe_destroy (&f);
    for (;;) {
        int64_t left = deadline - ts_mono_ms ();
        zmq_pollitem_t item = { zsock_resolve (c->sock), 0, ZMQ_POLLIN, 0 };
        int rc = sent && left > 0 ? zmq_poll (&item, 1, (long) left) : 0;
        if (rc < 0 && zmq_errno () == EINTR)
            continue;
        if (rc <= 0) {
            bool local = c->local;
            fprintf (stderr, "trajstore %s: the api did not answer on %s within %d s%s%s%s\n",
                     c->cmd, c->endpoint, (int) (patience / 1000),
                     local ? " (is the stack running? trajstore status --data " : "",
                     local ? c->data : "", local ? ")" : "");
            return 2;
        }
        zmsg_t *msg = zmsg_recv (c->sock);
        if (!msg)
            continue;
        zframe_t *body = zmsg_pop (msg);
        zmsg_destroy (&msg);
        if (!body)
            continue;
        ts_mp_reader_t map, v;
        uint32_t n;
        uint64_t rid;
        ts_mp_reader_init (&map, zframe_data (body), zframe_size (body));
        ts_mp_reader_t probe = map;
        if (ts_mp_read_map (&probe, &n)) {
            zframe_destroy (&body);
            fprintf (stderr, "trajstore %s: the api's answer is not a msgpack map\n", c->cmd);
            return 2;
        }
        /* an answer to an earlier request (one we gave up on) is not ours */
        if (ts_mp_reader_map_find (&map, "rid", &v) && ts_mp_read_uint (&v, &rid) == 0
        &&  rid != c->rid) {
            zframe_destroy (&body);
            continue;
        }
        ts_mp_item_t ok;
        if (!ts_mp_reader_map_find (&map, "ok", &v) || ts_mp_next (&v, &ok) || ok.type != TS_MP_BOOL) {
            zframe_destroy (&body);
            fprintf (stderr, "trajstore %s: the api's answer has no \"ok\"\n", c->cmd);
            return 2;
        }
        if (!ok.b) {
            s_print_error (c, &map);
            zframe_destroy (&body);
            return 1;
        }
        c->reply = body;
        ts_mp_reader_init (&c->map, zframe_data (body), zframe_size (body));
        return 0;
    }
}

/* --- reading replies ---------------------------------------------------------- */

/*  Field getters over a map (the reader is not moved). Each returns false
 *  when the key is absent, nil or of another type. */
bool
cq_get_double (const ts_mp_reader_t *map, const char *key, double *v)
{
    ts_mp_reader_t r;
    return ts_mp_reader_map_find (map, key, &r) && ts_mp_read_double (&r, v) == 0;
}

bool
cq_get_int (const ts_mp_reader_t *map, const char *key, int64_t *v)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_mp_reader_map_find (map, key, &r) || ts_mp_next (&r, &it))
        return false;
    if (it.type == TS_MP_UINT && it.u <= (uint64_t) INT64_MAX)
        *v = (int64_t) it.u;
    else if (it.type == TS_MP_INT)
        *v = it.i;
    else
        return false;
    return true;
}

uint64_t
cq_get_uint (const ts_mp_reader_t *map, const char *key)
{
    ts_mp_reader_t r;
    uint64_t v;
    return ts_mp_reader_map_find (map, key, &r) && ts_mp_read_uint (&r, &v) == 0 ? v : 0;
}

/*  -1 when absent or nil, else 0 or 1. */
int
cq_get_bool (const ts_mp_reader_t *map, const char *key)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_mp_reader_map_find (map, key, &r) || ts_mp_next (&r, &it) || it.type != TS_MP_BOOL)
        return -1;
    return it.b;
}

/*  Copies a string (cut to fit, NUL-terminated); false (and "") when absent. */
bool
cq_get_str (const ts_mp_reader_t *map, const char *key, char *buf, size_t size)
{
    return ts_mp_reader_map_copy_str (map, key, buf, size);
}

/*  Writes `buf` and a newline to stdout; false when stdout fails (a closed
 *  pipe, a full disk): the command then stops with status 1. */
bool
cq_write_line (const char *cmd, const char *data, size_t len)
{
    if (fwrite (data, 1, len, stdout) != len || fputc ('\n', stdout) == EOF) {
        fprintf (stderr, "trajstore %s: cannot write the output: %s\n", cmd, strerror (errno));
        return false;
    }
    return true;
}

/*  Writes the msgpack value at `r` as one line of JSON. `skip_envelope`
 *  leaves "v", "ok" and "rid" out of a map. Returns false when the output
 *  cannot be written (or the value does not decode: said on stderr). */
bool
cq_print_json_value (const char *cmd, ts_mp_reader_t r, bool skip_envelope)
{
    ts_buf_t buf = { 0 };
    ts_json_out_t j;
    ts_json_out_init (&j, &buf);
    int rc = 0;
    if (skip_envelope) {
        uint32_t n;
        ts_mp_item_t key;
        rc = ts_mp_read_map (&r, &n) ? TS_ECORRUPT : 0;
        ts_json_out_object_begin (&j);
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            if (ts_mp_next (&r, &key) || key.type != TS_MP_STR) {
                rc = TS_ECORRUPT;
                break;
            }
            if (ts_mp_item_is_str (&key, "v") || ts_mp_item_is_str (&key, "ok")
            ||  ts_mp_item_is_str (&key, "rid")) {
                rc = ts_mp_skip (&r) ? TS_ECORRUPT : 0;
                continue;
            }
            char name [128];
            snprintf (name, sizeof name, "%.*s", (int) key.len, key.ptr ? key.ptr : "");
            ts_json_out_key (&j, name);
            rc = ts_json_out_mp (&j, &r);
        }
        ts_json_out_object_end (&j);
    }
    else
        rc = ts_json_out_mp (&j, &r);
    if (rc == 0)
        rc = ts_json_out_error (&j);
    bool ok = true;
    if (rc) {
        fprintf (stderr, "trajstore %s: the api's answer does not convert to JSON: %s\n", cmd,
                 ts_strerror (rc));
        ok = false;
    }
    else
        ok = cq_write_line (cmd, buf.data, buf.size);
    ts_buf_free (&buf);
    return ok;
}

/*  Prints compact JSON text indented, two spaces a level. */
void
cq_print_pretty (FILE *out, const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s [i];
        if (in_str) {
            fputc (ch, out);
            if (esc)
                esc = false;
            else if (ch == '\\')
                esc = true;
            else if (ch == '"')
                in_str = false;
            continue;
        }
        switch (ch) {
        case '"':
            in_str = true;
            fputc (ch, out);
            break;
        case '{':
        case '[':
            fputc (ch, out);
            if (i + 1 < n && (s [i + 1] == '}' || s [i + 1] == ']')) {
                fputc (s [++i], out);           /* {} and [] stay on one line */
                break;
            }
            depth++;
            fprintf (out, "\n%*s", 2 * depth, "");
            break;
        case '}':
        case ']':
            depth--;
            fprintf (out, "\n%*s%c", 2 * (depth > 0 ? depth : 0), "", ch);
            break;
        case ',':
            fprintf (out, ",\n%*s", 2 * depth, "");
            break;
        case ':':
            fputs (": ", out);
            break;
        default:
            fputc (ch, out);
        }
    }
    fputc ('\n', out);
}

/*  "2026-03-01T00:00:03Z" from epoch milliseconds. */
void
cq_format_iso (int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t) (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    if (!gmtime_r (&t, &tm) || !strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (buf, size, "%lld", (long long) ms);
}

/*  A number for a table: shortest exact form, "-" when absent. */
void
cq_format_num (bool has, double v, char *buf, size_t size)
{
    char tmp [40];
    if (!has || isnan (v))
        snprintf (buf, size, "-");
    else {
        ts_format_double (v, tmp);
        snprintf (buf, size, "%s", tmp);
    }
}

/*  A ratio for a table: four decimals, "-" when absent. */
void
cq_format_ratio (bool has, double v, char *buf, size_t size)
{
    if (!has || isnan (v))
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%.4f", v);
}

/*  Cuts a string for a table column of `width` bytes, marking the cut
 *  with "~" (and not inside a UTF-8 sequence). */
void
cq_cut (char *s, int width)
{
    if ((int) strlen (s) <= width || width < 2)
        return;
    int at = width - 1;
    while (at > 0 && ((unsigned char) s [at] & 0xC0) == 0x80)
        at--;
    s [at] = '~';
    s [at + 1] = 0;
}

/*  The array under `key` of the answer: 0 with *rows at its first item and
 *  *n items, or 2 (said on stderr) when there is none. */
int
cq_rows (const s_client_t *c, const char *cmd, const char *key, ts_mp_reader_t *rows, uint32_t *n)
{
    *n = 0;
    if (!ts_mp_reader_map_find (&c->map, key, rows) || ts_mp_read_array (rows, n)) {
        fprintf (stderr, "trajstore %s: the api's answer has no %s\n", cmd, key);
        return 2;
    }
    return 0;
}

/*  Prints `n` rows as one JSON object a line: 0, or 1 when output fails. */
int
cq_print_rows (const char *cmd, ts_mp_reader_t rows, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!cq_print_json_value (cmd, rows, false))
            return 1;
        if (ts_mp_skip (&rows))
            break;
    }
    return 0;
}

/*  The width of a table's first column: the widest `key` text of the
 *  first `n` rows, cut to S_TEXT_MAX, at least `min`. */
int
cq_name_width (ts_mp_reader_t rows, uint32_t n, const char *key, int min)
{
    char name [TS_GROUP_MAX_BYTES + 1];
    int w = min;
    for (uint32_t i = 0; i < n; i++) {
        if (cq_get_str (&rows, key, name, sizeof name)) {
            cq_cut (name, S_TEXT_MAX);
            if ((int) strlen (name) > w)
                w = (int) strlen (name);
        }
        if (ts_mp_skip (&rows))
            break;
    }
    return w;
}
