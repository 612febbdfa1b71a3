/*  cli_query.c: the read commands of the `trajstore` CLI: get, list,
 *  count, export, stats, groups, job and health. Each is a client of
 *  trajstore-api: a DEALER socket on the api endpoint (--api, else
 *  $TRAJSTORE_API, else ipc://DATA/api.sock), one msgpack map out, one
 *  back (docs/PROTOCOL.md describes the ops and their fields). A command that
 *  pages (list --all, export) asks again on the same socket with the
 *  reply's "next".
 *
 *  Output: for a person on a terminal, tables and summaries; for a pipe,
 *  or with --json, JSON (one object a line for listings, so a consumer can
 *  stream them). --table and --json force either. The next page's cursor
 *  of a listing goes to stderr, never into the data on stdout.
 *
 *  Exit status: 0 success; 1 the api answered with an error (printed with
 *  its code and message), or stdout could not be written; 2 bad usage, or
 *  no answer from the api.
 */
#include "cli_common.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_query.h"
#include "ts_record.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define S_ANSWER_MS      15000       /* patience for one reply */
#define S_LIST_PAGE      100         /* list's default page */
#define S_ALL_PAGE       1000        /* list --all's default page */
#define S_EXPORT_PAGE    1000        /* export's default page */
#define S_TEXT_MAX       40          /* widest group or model in a table */
#define S_BAR_WIDTH      40          /* the histogram's longest bar */

/* --- the api client ----------------------------------------------------------- */

typedef struct {
    const char *cmd;                 /* "list": names the command in messages */
    bool        local;               /* the endpoint is the data directory's */
    char        endpoint [TS_PATH_MAX];
    char        data [TS_PATH_MAX];
    zsock_t    *sock;
    uint64_t    rid;                 /* of the request in flight */
    int64_t     answer_ms;           /* patience for one reply (0: S_ANSWER_MS) */
    zframe_t   *reply;               /* the last good reply, owned */
    ts_mp_reader_t map;              /* its top-level map */
} s_client_t;

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
static int
s_client_open (s_client_t *c, const char *cmd, const char *data_flag, const char *api_flag)
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

static void
s_client_close (s_client_t *c)
{
    zframe_destroy (&c->reply);
    zsock_destroy (&c->sock);
}

/*  A request under construction: its key/value pairs (after "v" and "op")
 *  are packed into `body` and counted; the map header goes in front when
 *  it is sent. */
typedef struct {
    ts_buf_t       body;
    msgpack_packer pk;
    uint32_t       n;
} s_req_t;

static void
s_req_begin (s_req_t *q, const char *op)
{
    q->body.size = 0;
    q->n = 0;
    msgpack_packer_init (&q->pk, &q->body, ts_buf_packer_write);
    ts_mp_pack_cstr (&q->pk, "v");
    msgpack_pack_int (&q->pk, 1);
    ts_mp_pack_cstr (&q->pk, "op");
    ts_mp_pack_cstr (&q->pk, op);
    q->n = 2;
}

/*  Adds a key; the caller packs its value with q->pk. */
static void
s_req_key (s_req_t *q, const char *key)
{
    ts_mp_pack_cstr (&q->pk, key);
    q->n++;
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
static int
s_client_call (s_client_t *c, s_req_t *q)
{
    zframe_destroy (&c->reply);
    c->rid++;
    ts_buf_t head = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &head, ts_buf_packer_write);
    msgpack_pack_map (&pk, q->n + 1);
    ts_mp_pack_cstr (&pk, "rid");
    msgpack_pack_uint64 (&pk, c->rid);
    zframe_t *f = head.data && q->body.data ? zframe_new (NULL, head.size + q->body.size) : NULL;
    if (!f) {
        ts_buf_free (&head);
        fprintf (stderr, "trajstore %s: out of memory\n", c->cmd);
        return 2;
    }
    memcpy (zframe_data (f), head.data, head.size);
    memcpy (zframe_data (f) + head.size, q->body.data, q->body.size);
    ts_buf_free (&head);
    /* the patience covers the send too: a DEALER with no peer blocks */
    int64_t patience = c->answer_ms > 0 ? c->answer_ms : S_ANSWER_MS;
    int64_t deadline = ts_cli_mono_ms () + patience;
    bool sent = zframe_send (&f, c->sock, 0) == 0;
    if (!sent)
        zframe_destroy (&f);
    for (;;) {
        int64_t left = deadline - ts_cli_mono_ms ();
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
static bool
s_get_double (const ts_mp_reader_t *map, const char *key, double *v)
{
    ts_mp_reader_t r;
    return ts_mp_reader_map_find (map, key, &r) && ts_mp_read_double (&r, v) == 0;
}

static bool
s_get_int (const ts_mp_reader_t *map, const char *key, int64_t *v)
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

static uint64_t
s_get_uint (const ts_mp_reader_t *map, const char *key)
{
    ts_mp_reader_t r;
    uint64_t v;
    return ts_mp_reader_map_find (map, key, &r) && ts_mp_read_uint (&r, &v) == 0 ? v : 0;
}

/*  -1 when absent or nil, else 0 or 1. */
static int
s_get_bool (const ts_mp_reader_t *map, const char *key)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_mp_reader_map_find (map, key, &r) || ts_mp_next (&r, &it) || it.type != TS_MP_BOOL)
        return -1;
    return it.b;
}

/*  Copies a string (cut to fit, NUL-terminated); false (and "") when absent. */
static bool
s_get_str (const ts_mp_reader_t *map, const char *key, char *buf, size_t size)
{
    ts_mp_reader_t r;
    const char *p;
    uint32_t n;
    buf [0] = 0;
    if (!ts_mp_reader_map_find (map, key, &r) || ts_mp_read_str (&r, &p, &n))
        return false;
    if (n >= size)
        n = (uint32_t) size - 1;
    memcpy (buf, p ? p : "", n);
    buf [n] = 0;
    return true;
}

/*  Writes `buf` and a newline to stdout; false when stdout fails (a closed
 *  pipe, a full disk): the command then stops with status 1. */
static bool
s_write_line (const char *cmd, const char *data, size_t len)
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
static bool
s_print_json_value (const char *cmd, ts_mp_reader_t r, bool skip_envelope)
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
        ok = s_write_line (cmd, buf.data, buf.size);
    ts_buf_free (&buf);
    return ok;
}

/*  Prints compact JSON text indented, two spaces a level. */
static void
s_print_pretty (FILE *out, const char *s, size_t n)
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
static void
s_format_iso (int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t) (ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000));
    struct tm tm;
    if (!gmtime_r (&t, &tm) || !strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf (buf, size, "%lld", (long long) ms);
}

/*  A number for a table: shortest exact form, "-" when absent. */
static void
s_format_num (bool has, double v, char *buf, size_t size)
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
static void
s_format_ratio (bool has, double v, char *buf, size_t size)
{
    if (!has || isnan (v))
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%.4f", v);
}

/*  Cuts a string for a table column of `width` bytes, marking the cut
 *  with "~" (and not inside a UTF-8 sequence). */
static void
s_cut (char *s, int width)
{
    if ((int) strlen (s) <= width || width < 2)
        return;
    int at = width - 1;
    while (at > 0 && ((unsigned char) s [at] & 0xC0) == 0x80)
        at--;
    s [at] = '~';
    s [at + 1] = 0;
}

/* --- options ---------------------------------------------------------------- */

enum {
    O_DATA = 256, O_API, O_JSON, O_TABLE, O_HELP, O_GROUP, O_MODEL, O_REWARD, O_SUCCESS,
    O_FAILURE, O_CREATED, O_SORT, O_LIMIT, O_CURSOR, O_RECORDS, O_ALL, O_ONLY, O_OFFSET,
    O_QUIET
};

#define S_COMMON_OPTS \
    { "data", required_argument, 0, O_DATA }, { "api", required_argument, 0, O_API }, \
    { "json", no_argument, 0, O_JSON }, { "help", no_argument, 0, O_HELP }

#define S_FILTER_OPTS \
    { "group", required_argument, 0, O_GROUP }, { "model", required_argument, 0, O_MODEL }, \
    { "reward", required_argument, 0, O_REWARD }, { "success", no_argument, 0, O_SUCCESS }, \
    { "failure", no_argument, 0, O_FAILURE }, { "created", required_argument, 0, O_CREATED }, \
    { "sort", required_argument, 0, O_SORT }, { "limit", required_argument, 0, O_LIMIT }

typedef struct {
    const char *data, *api;
    bool        json, table, help;
} s_common_t;

typedef struct {
    const char *groups [TS_QUERY_MAX_GROUPS];
    int         ngroups;
    const char *model;
    bool        has_reward, has_lo, has_hi;
    double      lo, hi;
    int         success;            /* -1: any */
    bool        has_created, has_from, has_to;
    int64_t     from, to;
    const char *sort;
    uint32_t    limit;              /* 0: the command's default */
    const char *cursor;
    bool        records;
} s_filter_t;

static void
s_filter_init (s_filter_t *f)
{
    memset (f, 0, sizeof *f);
    f->success = -1;
}

/*  An unsigned integer option in [lo, hi]. */
static bool
s_parse_uint (const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long x = strtoull (s, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return false;
    *v = x;
    return true;
}

/*  One bound of --reward: empty (none) or a finite number. */
static bool
s_parse_bound (const char *s, size_t n, bool *has, double *v)
{
    char tmp [64], *end;
    *has = n > 0;
    if (n == 0)
        return true;
    if (n >= sizeof tmp)
        return false;
    memcpy (tmp, s, n);
    tmp [n] = 0;
    errno = 0;
    *v = strtod (tmp, &end);
    return !errno && *end == 0 && isfinite (*v);
}

/*  One bound of --created: empty (none), epoch milliseconds, or ISO 8601. */
static bool
s_parse_time (const char *s, size_t n, bool *has, int64_t *ms)
{
    *has = n > 0;
    if (n == 0)
        return true;
    size_t i = s [0] == '-' ? 1 : 0;
    bool digits = i < n;
    for (size_t k = i; k < n; k++)
        digits &= s [k] >= '0' && s [k] <= '9';
    if (digits && n < 19) {
        char tmp [24];
        memcpy (tmp, s, n);
        tmp [n] = 0;
        *ms = strtoll (tmp, NULL, 10);
        return true;
    }
    return ts_parse_iso8601 (s, n, ms) == 0;
}

/*  --created FROM:TO. ISO times hold colons themselves, so the split is
 *  the one colon where both sides read as times ("FROM..TO" also works). */
static bool
s_parse_created (const char *arg, s_filter_t *f)
{
    const char *dots = strstr (arg, "..");
    if (dots)
        return s_parse_time (arg, (size_t) (dots - arg), &f->has_from, &f->from)
            && s_parse_time (dots + 2, strlen (dots + 2), &f->has_to, &f->to);
    int found = 0;
    size_t len = strlen (arg);
    for (size_t i = 0; i < len; i++) {
        bool hf, ht;
        int64_t a, b;
        if (arg [i] == ':' && s_parse_time (arg, i, &hf, &a)
        &&  s_parse_time (arg + i + 1, len - i - 1, &ht, &b)) {
            f->has_from = hf; f->from = a;
            f->has_to = ht;   f->to = b;
            found++;
        }
    }
    return found == 1;
}

static bool
s_sort_valid (const char *s, const char *const *names)
{
    if (*s == '-' || *s == '+')
        s++;
    for (int i = 0; names [i]; i++)
        if (!strcmp (s, names [i]))
            return true;
    return false;
}

static const char *const s_list_sorts [] = { "created", "reward", "id", NULL };
static const char *const s_group_sorts [] = {
    "group", "records", "successes", "success_rate", "reward_mean", "reward_max",
    "pass@1", "pass@5", "pass@10", NULL
};

/*  Handles a common or filter option. Returns 0 when it took `c`, 1 when
 *  `c` is none of them, 2 for a bad value (said on stderr). */
static int
s_take_option (const char *cmd, int c, const char *arg, s_common_t *co, s_filter_t *f)
{
    uint64_t v;
    switch (c) {
    case O_DATA:  co->data = arg; return 0;
    case O_API:   co->api = arg; return 0;
    case O_JSON:  co->json = true; co->table = false; return 0;
    case O_TABLE: co->table = true; co->json = false; return 0;
    case O_HELP:  co->help = true; return 0;
    default: break;
    }
    if (!f)
        return 1;
    switch (c) {
    case O_GROUP:
        if (f->ngroups >= TS_QUERY_MAX_GROUPS) {
            fprintf (stderr, "trajstore %s: at most %d --group\n", cmd, TS_QUERY_MAX_GROUPS);
            return 2;
        }
        f->groups [f->ngroups++] = arg;
        return 0;
    case O_MODEL:
        f->model = arg;
        return 0;
    case O_REWARD: {
        const char *colon = strchr (arg, ':');
        if (!colon || !s_parse_bound (arg, (size_t) (colon - arg), &f->has_lo, &f->lo)
        ||  !s_parse_bound (colon + 1, strlen (colon + 1), &f->has_hi, &f->hi)) {
            fprintf (stderr, "trajstore %s: --reward wants LO:HI (numbers, either may be "
                     "empty), not '%s'\n", cmd, arg);
            return 2;
        }
        f->has_reward = true;
        return 0;
    }
    case O_SUCCESS:
    case O_FAILURE: {
        int want = c == O_SUCCESS;
        if (f->success >= 0 && f->success != want) {
            fprintf (stderr, "trajstore %s: --success and --failure exclude each other\n", cmd);
            return 2;
        }
        f->success = want;
        return 0;
    }
    case O_CREATED:
        if (!s_parse_created (arg, f)) {
            fprintf (stderr, "trajstore %s: --created wants FROM:TO (epoch ms or ISO 8601, "
                     "either may be empty; FROM..TO when a colon is ambiguous), not '%s'\n",
                     cmd, arg);
            return 2;
        }
        f->has_created = true;
        return 0;
    case O_SORT:
        if (!s_sort_valid (arg, s_list_sorts)) {
            fprintf (stderr, "trajstore %s: --sort wants created, reward or id, with '-' for "
                     "descending, not '%s'\n", cmd, arg);
            return 2;
        }
        f->sort = arg;
        return 0;
    case O_LIMIT:
        if (!s_parse_uint (arg, 1, TS_QUERY_MAX_LIMIT, &v)) {
            fprintf (stderr, "trajstore %s: --limit wants 1..%d, not '%s'\n", cmd,
                     TS_QUERY_MAX_LIMIT, arg);
            return 2;
        }
        f->limit = (uint32_t) v;
        return 0;
    case O_CURSOR:
        f->cursor = arg;
        return 0;
    case O_RECORDS:
        f->records = true;
        return 0;
    default:
        return 1;
    }
}

/*  Runs getopt over argv with `opts`, handing common and filter options
 *  to s_take_option and the rest to `extra` (may be NULL). Returns 0, or
 *  the exit code: 2 for bad usage (the usage is printed), or -1 after
 *  --help was printed (exit 0). */
static int
s_parse_args (const char *cmd, int argc, char **argv, const struct option *opts,
              s_common_t *co, s_filter_t *f,
              int (*extra) (const char *cmd, int c, const char *arg, void *ctx), void *ctx)
{
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            c = O_HELP;
        int rc = s_take_option (cmd, c, optarg, co, f);
        if (rc == 1 && extra)
            rc = extra (cmd, c, optarg, ctx);
        if (rc == 2 || rc == 1) {
            ts_cli_usage (stderr, cmd);
            return 2;
        }
    }
    if (co->help) {
        ts_cli_usage (stdout, cmd);
        return -1;
    }
    return 0;
}

/*  Packs the listing fields of `f` (and `cursor`, when not NULL). */
static void
s_pack_listing (s_req_t *q, const s_filter_t *f, uint32_t limit, const char *cursor)
{
    msgpack_packer *pk = &q->pk;
    if (f->ngroups == 1) {
        s_req_key (q, "group");
        ts_mp_pack_cstr (pk, f->groups [0]);
    }
    else if (f->ngroups > 1) {
        s_req_key (q, "group");
        msgpack_pack_array (pk, (size_t) f->ngroups);
        for (int i = 0; i < f->ngroups; i++)
            ts_mp_pack_cstr (pk, f->groups [i]);
    }
    if (f->model) {
        s_req_key (q, "model");
        ts_mp_pack_cstr (pk, f->model);
    }
    if (f->has_reward) {
        s_req_key (q, "reward");
        msgpack_pack_array (pk, 2);
        if (f->has_lo) msgpack_pack_double (pk, f->lo); else msgpack_pack_nil (pk);
        if (f->has_hi) msgpack_pack_double (pk, f->hi); else msgpack_pack_nil (pk);
    }
    if (f->success >= 0) {
        s_req_key (q, "success");
        if (f->success) msgpack_pack_true (pk); else msgpack_pack_false (pk);
    }
    if (f->has_created) {
        s_req_key (q, "created");
        msgpack_pack_array (pk, 2);
        if (f->has_from) msgpack_pack_int64 (pk, f->from); else msgpack_pack_nil (pk);
        if (f->has_to) msgpack_pack_int64 (pk, f->to); else msgpack_pack_nil (pk);
    }
    if (f->sort) {
        s_req_key (q, "sort");
        ts_mp_pack_cstr (pk, f->sort);
    }
    if (limit) {
        s_req_key (q, "limit");
        msgpack_pack_uint32 (pk, limit);
    }
    if (cursor) {
        s_req_key (q, "cursor");
        ts_mp_pack_cstr (pk, cursor);
    }
}

/*  The start shared by every command: parse, open the client. Returns 0
 *  or the exit code (-1 meaning 0 after --help). */
static int
s_start (const char *cmd, int argc, char **argv, const struct option *opts, s_common_t *co,
         s_filter_t *f, int (*extra) (const char *, int, const char *, void *), void *ctx,
         int nargs, s_client_t *c)
{
    int rc = s_parse_args (cmd, argc, argv, opts, co, f, extra, ctx);
    if (rc)
        return rc;
    if (argc - optind != nargs) {
        ts_cli_usage (stderr, cmd);
        return 2;
    }
    return s_client_open (c, cmd, co->data, co->api);
}

static int
s_done (int rc)
{
    return rc < 0 ? 0 : rc;
}

/* --- get ---------------------------------------------------------------------------- */

int
ts_cli_cmd_get (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = s_start ("get", argc, argv, opts, &co, NULL, NULL, NULL, 1, &c);
    if (rc)
        return s_done (rc);
    const char *id = argv [optind];
    s_req_t q = { 0 };
    s_req_begin (&q, "get");
    s_req_key (&q, "id");
    ts_mp_pack_cstr (&q.pk, id);
    rc = s_client_call (&c, &q);
    ts_mp_reader_t rec;
    if (rc == 0 && !ts_mp_reader_map_find (&c.map, "record", &rec)) {
        fprintf (stderr, "trajstore get: the api's answer has no record\n");
        rc = 2;
    }
    if (rc == 0) {
        ts_buf_t buf = { 0 };
        int jrc = ts_mp_to_json (rec.p, (size_t) (rec.end - rec.p), &buf);
        if (jrc) {
            fprintf (stderr, "trajstore get: the record does not convert to JSON: %s\n",
                     ts_strerror (jrc));
            rc = 1;
        }
        else if (!co.json && isatty (STDOUT_FILENO))
            s_print_pretty (stdout, buf.data, buf.size);
        else if (!s_write_line ("get", buf.data, buf.size))
            rc = 1;
        ts_buf_free (&buf);
    }
    ts_buf_free (&q.body);
    s_client_close (&c);
    return rc;
}

/* --- list ----------------------------------------------------------------------------- */

typedef struct {
    bool all;
} s_list_extra_t;

static int
s_list_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    (void) cmd;
    (void) arg;
    s_list_extra_t *x = ctx;
    if (c == O_ALL) {
        x->all = true;
        return 0;
    }
    return 1;
}

/*  One row of the listing table, from an item map. */
typedef struct {
    char id [TS_ID_MAX_BYTES + 1];
    char group [TS_GROUP_MAX_BYTES + 1], model [TS_MODEL_MAX_BYTES + 1];
    char reward [40], success [8], created [40], steps [24];
} s_row_t;

static void
s_row_from (const ts_mp_reader_t *item, s_row_t *row)
{
    double d;
    int64_t i;
    if (!s_get_str (item, "id", row->id, sizeof row->id))
        snprintf (row->id, sizeof row->id, "-");
    if (!s_get_str (item, "group", row->group, sizeof row->group))
        snprintf (row->group, sizeof row->group, "-");
    if (!s_get_str (item, "model", row->model, sizeof row->model))
        snprintf (row->model, sizeof row->model, "-");
    s_cut (row->group, S_TEXT_MAX);
    s_cut (row->model, S_TEXT_MAX);
    bool has = s_get_double (item, "reward", &d);
    s_format_num (has, d, row->reward, sizeof row->reward);
    int b = s_get_bool (item, "success");
    snprintf (row->success, sizeof row->success, "%s", b < 0 ? "-" : b ? "yes" : "no");
    if (s_get_int (item, "created_ms", &i))
        s_format_iso (i, row->created, sizeof row->created);
    else
        snprintf (row->created, sizeof row->created, "-");
    if (s_get_int (item, "steps", &i))
        snprintf (row->steps, sizeof row->steps, "%lld", (long long) i);
    else
        snprintf (row->steps, sizeof row->steps, "-");
}

typedef struct {
    int id, group, model, reward;
    bool header_done;
} s_widths_t;

/*  Prints one page of items as table rows; the widths come from the
 *  first page (a later, wider value pushes its row's columns). */
static void
s_list_table (ts_mp_reader_t items, uint32_t n, s_widths_t *w)
{
    s_row_t row;
    if (!w->header_done) {
        w->id = 2; w->group = 5; w->model = 5; w->reward = 6;
        ts_mp_reader_t r = items;
        for (uint32_t i = 0; i < n; i++) {
            s_row_from (&r, &row);
            if (ts_mp_skip (&r))
                break;
            int l;
            if ((l = (int) strlen (row.id)) > w->id) w->id = l;
            if ((l = (int) strlen (row.group)) > w->group) w->group = l;
            if ((l = (int) strlen (row.model)) > w->model) w->model = l;
            if ((l = (int) strlen (row.reward)) > w->reward) w->reward = l;
        }
        printf ("%-*s  %-*s  %-*s  %*s  %-7s  %-20s  %5s\n", w->id, "ID", w->group, "GROUP",
                w->model, "MODEL", w->reward, "REWARD", "SUCCESS", "CREATED", "STEPS");
        w->header_done = true;
    }
    for (uint32_t i = 0; i < n; i++) {
        s_row_from (&items, &row);
        if (ts_mp_skip (&items))
            break;
        printf ("%-*s  %-*s  %-*s  %*s  %-7s  %-20s  %5s\n", w->id, row.id, w->group, row.group,
                w->model, row.model, w->reward, row.reward, row.success, row.created, row.steps);
    }
}

int
ts_cli_cmd_list (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS,
        { "table", no_argument, 0, O_TABLE }, { "cursor", required_argument, 0, O_CURSOR },
        { "records", no_argument, 0, O_RECORDS }, { "all", no_argument, 0, O_ALL },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_filter_t *f = malloc (sizeof *f);
    if (!f) {
        fprintf (stderr, "trajstore list: out of memory\n");
        return 1;
    }
    s_filter_init (f);
    s_list_extra_t x = { false };
    s_client_t c;
    int rc = s_start ("list", argc, argv, opts, &co, f, s_list_extra, &x, 0, &c);
    if (rc) {
        free (f);
        return s_done (rc);
    }
    bool table = co.table || (!co.json && isatty (STDOUT_FILENO));
    uint32_t limit = f->limit ? f->limit : x.all ? S_ALL_PAGE : S_LIST_PAGE;
    char *cursor = f->cursor ? strdup (f->cursor) : NULL;
    s_widths_t widths = { 0 };
    uint64_t shown = 0;
    s_req_t q = { 0 };
    for (;;) {
        s_req_begin (&q, "list");
        s_pack_listing (&q, f, limit, cursor);
        if (f->records) {
            s_req_key (&q, "fields");
            ts_mp_pack_cstr (&q.pk, "record");
        }
        if ((rc = s_client_call (&c, &q)))
            break;
        ts_mp_reader_t items, next;
        uint32_t n;
        if (!ts_mp_reader_map_find (&c.map, "items", &items) || ts_mp_read_array (&items, &n)) {
            fprintf (stderr, "trajstore list: the api's answer has no items\n");
            rc = 2;
            break;
        }
        if (table)
            s_list_table (items, n, &widths);
        else {
            for (uint32_t i = 0; i < n && rc == 0; i++) {
                if (!s_print_json_value ("list", items, false))
                    rc = 1;
                if (ts_mp_skip (&items))
                    break;
            }
            if (rc)
                break;
        }
        shown += n;
        free (cursor);
        cursor = NULL;
        const char *p;
        uint32_t len;
        if (ts_mp_reader_map_find (&c.map, "next", &next) && ts_mp_read_str (&next, &p, &len) == 0)
            cursor = strndup (p ? p : "", len);
        if (!cursor || !x.all)
            break;
    }
    if (rc == 0) {
        if (table && shown == 0)
            printf ("(no records match)\n");
        if (fflush (stdout)) {
            fprintf (stderr, "trajstore list: cannot write the output: %s\n", strerror (errno));
            rc = 1;
        }
        else if (cursor)
            fprintf (stderr, "next page: --cursor %s\n", cursor);
    }
    free (cursor);
    ts_buf_free (&q.body);
    s_client_close (&c);
    free (f);
    return rc;
}

/* --- count ------------------------------------------------------------------------------ */

int
ts_cli_cmd_count (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, S_FILTER_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_filter_t *f = malloc (sizeof *f);
    if (!f) {
        fprintf (stderr, "trajstore count: out of memory\n");
        return 1;
    }
    s_filter_init (f);
    s_client_t c;
    int rc = s_start ("count", argc, argv, opts, &co, f, NULL, NULL, 0, &c);
    if (rc) {
        free (f);
        return s_done (rc);
    }
    /* sort and limit do not change a count: they are accepted (a list's
     * command line can be turned into a count by its name alone) */
    s_req_t q = { 0 };
    s_req_begin (&q, "count");
    f->sort = NULL;
    s_pack_listing (&q, f, 0, NULL);
    if ((rc = s_client_call (&c, &q)) == 0) {
        uint64_t n = s_get_uint (&c.map, "count");
        if (co.json)
            printf ("{\"count\":%llu}\n", (unsigned long long) n);
        else
            printf ("%llu\n", (unsigned long long) n);
        if (fflush (stdout))
            rc = 1;
    }
    ts_buf_free (&q.body);
    s_client_close (&c);
    free (f);
    return rc;
}

/* --- export ------------------------------------------------------------------------------ */

static int
s_export_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    (void) cmd;
    (void) arg;
    if (c != O_QUIET)
        return 1;
    *(bool *) ctx = true;
    return 0;
}

int
ts_cli_cmd_export (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS, { "quiet", no_argument, 0, O_QUIET }, { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_filter_t *f = malloc (sizeof *f);
    if (!f) {
        fprintf (stderr, "trajstore export: out of memory\n");
        return 1;
    }
    s_filter_init (f);
    bool quiet = false;
    s_client_t c;
    int rc = s_start ("export", argc, argv, opts, &co, f, s_export_extra, &quiet, 0, &c);
    if (rc) {
        free (f);
        return s_done (rc);
    }
    uint32_t limit = f->limit ? f->limit : S_EXPORT_PAGE;
    bool progress = !quiet && isatty (STDERR_FILENO);
    uint64_t total = 0, done = 0;
    s_req_t q = { 0 };
    if (progress) {
        /* the whole, for "n of total": one count of the same filter */
        s_req_begin (&q, "count");
        s_pack_listing (&q, f, 0, NULL);
        if ((rc = s_client_call (&c, &q)) == 0)
            total = s_get_uint (&c.map, "count");
    }
    char *cursor = NULL;
    int64_t shown_ms = 0;
    while (rc == 0) {
        s_req_begin (&q, "export");
        /* "limit" and "fields" are sent although docs/PROTOCOL.md gives export
         * these defaults: the workers (workers/ts_reads.c) take neither
         * from the op, and without them a page loses records */
        s_pack_listing (&q, f, limit, cursor);
        s_req_key (&q, "fields");
        ts_mp_pack_cstr (&q.pk, "record");
        if ((rc = s_client_call (&c, &q)))
            break;
        ts_mp_reader_t v;
        const char *lines;
        uint32_t len;
        if (!ts_mp_reader_map_find (&c.map, "lines", &v) || ts_mp_read_str (&v, &lines, &len)) {
            fprintf (stderr, "trajstore export: the api's answer has no lines\n");
            rc = 2;
            break;
        }
        if (len && fwrite (lines, 1, len, stdout) != len) {
            fprintf (stderr, "trajstore export: cannot write the output: %s\n", strerror (errno));
            rc = 1;
            break;
        }
        done += s_get_uint (&c.map, "count");
        free (cursor);
        cursor = NULL;
        const char *p;
        uint32_t n;
        if (ts_mp_reader_map_find (&c.map, "next", &v) && ts_mp_read_str (&v, &p, &n) == 0)
            cursor = strndup (p ? p : "", n);
        if (progress && (!cursor || ts_cli_mono_ms () - shown_ms >= 200)) {
            fprintf (stderr, "\rexported %llu of %llu records", (unsigned long long) done,
                     (unsigned long long) total);
            shown_ms = ts_cli_mono_ms ();
        }
        if (!cursor)
            break;
    }
    if (progress && shown_ms)
        fputc ('\n', stderr);
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore export: cannot write the output: %s\n", strerror (errno));
        rc = 1;
    }
    free (cursor);
    ts_buf_free (&q.body);
    s_client_close (&c);
    free (f);
    return rc;
}

/* --- stats ------------------------------------------------------------------------------- */

/*  The totals map T of a stats reply (docs/PROTOCOL.md). */
typedef struct {
    uint64_t records, successes, success_known, reward_n, steps_n;
    bool     has_rate, has_mean, has_std, has_min, has_max, has_steps;
    double   rate, mean, std, min, max, steps;
    uint64_t hist [22];
    int      nhist;
} s_totals_t;

static void
s_totals_from (const ts_mp_reader_t *t, s_totals_t *o)
{
    memset (o, 0, sizeof *o);
    o->records = s_get_uint (t, "records");
    o->successes = s_get_uint (t, "successes");
    o->success_known = s_get_uint (t, "success_known");
    o->reward_n = s_get_uint (t, "reward_n");
    o->steps_n = s_get_uint (t, "steps_n");
    o->has_rate = s_get_double (t, "success_rate", &o->rate);
    o->has_mean = s_get_double (t, "reward_mean", &o->mean);
    o->has_std = s_get_double (t, "reward_std", &o->std);
    o->has_min = s_get_double (t, "reward_min", &o->min);
    o->has_max = s_get_double (t, "reward_max", &o->max);
    o->has_steps = s_get_double (t, "steps_mean", &o->steps);
    ts_mp_reader_t h;
    uint32_t n;
    if (ts_mp_reader_map_find (t, "histogram", &h) && ts_mp_read_array (&h, &n) == 0)
        for (uint32_t i = 0; i < n && i < 22; i++)
            if (ts_mp_read_uint (&h, &o->hist [o->nhist++]))
                break;
}

static void
s_print_totals (const s_totals_t *t, uint64_t groups)
{
    char a [40], b [40], c [40], d [40];
    printf ("records     %llu", (unsigned long long) t->records);
    if (groups)
        printf (" in %llu group%s", (unsigned long long) groups, groups == 1 ? "" : "s");
    printf ("\n");
    if (t->has_rate)
        printf ("successes   %llu of %llu with a known outcome (success rate %.2f%%)\n",
                (unsigned long long) t->successes, (unsigned long long) t->success_known,
                100.0 * t->rate);
    else
        printf ("successes   %llu (no record has a known outcome)\n",
                (unsigned long long) t->successes);
    if (t->reward_n) {
        s_format_ratio (t->has_mean, t->mean, a, sizeof a);
        s_format_ratio (t->has_std, t->std, b, sizeof b);
        s_format_num (t->has_min, t->min, c, sizeof c);
        s_format_num (t->has_max, t->max, d, sizeof d);
        printf ("reward      mean %s  std %s  min %s  max %s  (%llu with a reward)\n", a, b, c, d,
                (unsigned long long) t->reward_n);
    }
    else
        printf ("reward      no record has a reward\n");
    if (t->has_steps && t->steps_n)
        printf ("steps       mean %.2f  (%llu with steps)\n", t->steps,
                (unsigned long long) t->steps_n);
}

static void
s_print_histogram (const s_totals_t *t)
{
    uint64_t max = 0;
    for (int i = 0; i < t->nhist; i++)
        if (t->hist [i] > max)
            max = t->hist [i];
    if (t->nhist != 22 || max == 0)
        return;
    printf ("\nreward histogram\n");
    for (int i = 0; i < 22; i++) {
        char label [24];
        if (i == 0)
            snprintf (label, sizeof label, "< 0");
        else if (i == 21)
            snprintf (label, sizeof label, "> 1");
        else
            snprintf (label, sizeof label, "[%.2f, %.2f%s", (i - 1) * 0.05, i * 0.05,
                      i == 20 ? "]" : ")");
        int bar = (int) ((t->hist [i] * S_BAR_WIDTH + max - 1) / max);
        char bars [S_BAR_WIDTH + 1];
        memset (bars, '#', (size_t) bar);
        bars [bar] = 0;
        printf ("  %-13s %8llu  %s\n", label, (unsigned long long) t->hist [i], bars);
    }
}

int
ts_cli_cmd_stats (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = s_start ("stats", argc, argv, opts, &co, NULL, NULL, NULL, 0, &c);
    if (rc)
        return s_done (rc);
    s_req_t q = { 0 };
    s_req_begin (&q, "stats");
    rc = s_client_call (&c, &q);
    if (rc == 0 && co.json) {
        if (!s_print_json_value ("stats", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t t, models;
        s_totals_t tot;
        uint32_t n;
        if (!ts_mp_reader_map_find (&c.map, "totals", &t)) {
            fprintf (stderr, "trajstore stats: the api's answer has no totals\n");
            rc = 2;
            goto done;
        }
        s_totals_from (&t, &tot);
        s_print_totals (&tot, s_get_uint (&c.map, "groups"));
        s_print_histogram (&tot);
        if (ts_mp_reader_map_find (&c.map, "models", &models) && ts_mp_read_map (&models, &n) == 0
        &&  n > 0) {
            /* names first, for the column's width */
            int w = 5;
            ts_mp_reader_t r = models;
            for (uint32_t i = 0; i < n; i++) {
                const char *p;
                uint32_t len;
                if (ts_mp_read_str (&r, &p, &len) || ts_mp_skip (&r))
                    break;
                if ((int) len > w)
                    w = len > S_TEXT_MAX ? S_TEXT_MAX : (int) len;
            }
            printf ("\nper model\n%-*s  %8s  %9s  %8s  %8s  %8s  %8s  %8s  %10s\n", w, "MODEL",
                    "RECORDS", "SUCCESSES", "RATE", "REWARD", "STD", "MIN", "MAX", "STEPS");
            for (uint32_t i = 0; i < n; i++) {
                const char *p;
                uint32_t len;
                if (ts_mp_read_str (&models, &p, &len))
                    break;
                char name [TS_MODEL_MAX_BYTES + 1], rate [24], mean [24], sd [24], mn [40], mx [40], st [24];
                snprintf (name, sizeof name, "%.*s", (int) len, p ? p : "");
                s_cut (name, S_TEXT_MAX);
                s_totals_t m;
                s_totals_from (&models, &m);
                if (ts_mp_skip (&models))
                    break;
                s_format_ratio (m.has_rate, m.rate, rate, sizeof rate);
                s_format_ratio (m.has_mean, m.mean, mean, sizeof mean);
                s_format_ratio (m.has_std, m.std, sd, sizeof sd);
                s_format_num (m.has_min, m.min, mn, sizeof mn);
                s_format_num (m.has_max, m.max, mx, sizeof mx);
                if (m.has_steps && m.steps_n)
                    snprintf (st, sizeof st, "%.2f", m.steps);
                else
                    snprintf (st, sizeof st, "-");
                printf ("%-*s  %8llu  %9llu  %8s  %8s  %8s  %8s  %8s  %10s\n", w, name,
                        (unsigned long long) m.records, (unsigned long long) m.successes,
                        rate, mean, sd, mn, mx, st);
            }
        }
    }
done:
    ts_buf_free (&q.body);
    s_client_close (&c);
    return rc;
}

/* --- groups ------------------------------------------------------------------------------- */

typedef struct {
    const char *only, *sort;
    uint64_t    limit, offset;
    bool        has_limit, has_offset;
} s_groups_opts_t;

static int
s_groups_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    s_groups_opts_t *g = ctx;
    switch (c) {
    case O_ONLY:
        if (strcmp (arg, "pass") && strcmp (arg, "fail") && strcmp (arg, "mixed")) {
            fprintf (stderr, "trajstore %s: --only wants pass, fail or mixed, not '%s'\n", cmd, arg);
            return 2;
        }
        g->only = arg;
        return 0;
    case O_SORT:
        if (!s_sort_valid (arg, s_group_sorts)) {
            fprintf (stderr, "trajstore %s: --sort wants one of group, records, successes, "
                     "success_rate, reward_mean, reward_max, pass@1, pass@5, pass@10 "
                     "('-' for descending), not '%s'\n", cmd, arg);
            return 2;
        }
        g->sort = arg;
        return 0;
    case O_LIMIT:
        if (!s_parse_uint (arg, 1, 100000, &g->limit)) {
            fprintf (stderr, "trajstore %s: --limit wants 1..100000, not '%s'\n", cmd, arg);
            return 2;
        }
        g->has_limit = true;
        return 0;
    case O_OFFSET:
        if (!s_parse_uint (arg, 0, UINT32_MAX, &g->offset)) {
            fprintf (stderr, "trajstore %s: --offset wants a number >= 0, not '%s'\n", cmd, arg);
            return 2;
        }
        g->has_offset = true;
        return 0;
    default:
        return 1;
    }
}

int
ts_cli_cmd_groups (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, { "table", no_argument, 0, O_TABLE },
        { "only", required_argument, 0, O_ONLY }, { "sort", required_argument, 0, O_SORT },
        { "limit", required_argument, 0, O_LIMIT }, { "offset", required_argument, 0, O_OFFSET },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_groups_opts_t g = { 0 };
    s_client_t c;
    int rc = s_start ("groups", argc, argv, opts, &co, NULL, s_groups_extra, &g, 0, &c);
    if (rc)
        return s_done (rc);
    bool table = co.table || (!co.json && isatty (STDOUT_FILENO));
    s_req_t q = { 0 };
    s_req_begin (&q, "groups");
    if (g.only) {
        s_req_key (&q, "only");
        ts_mp_pack_cstr (&q.pk, g.only);
    }
    if (g.sort) {
        s_req_key (&q, "sort");
        ts_mp_pack_cstr (&q.pk, g.sort);
    }
    if (g.has_limit) {
        s_req_key (&q, "limit");
        msgpack_pack_uint64 (&q.pk, g.limit);
    }
    if (g.has_offset) {
        s_req_key (&q, "offset");
        msgpack_pack_uint64 (&q.pk, g.offset);
    }
    rc = s_client_call (&c, &q);
    ts_mp_reader_t groups, next;
    uint32_t n = 0;
    if (rc == 0 && (!ts_mp_reader_map_find (&c.map, "groups", &groups)
                    || ts_mp_read_array (&groups, &n))) {
        fprintf (stderr, "trajstore groups: the api's answer has no groups\n");
        rc = 2;
    }
    if (rc == 0 && !table) {
        for (uint32_t i = 0; i < n && rc == 0; i++) {
            if (!s_print_json_value ("groups", groups, false))
                rc = 1;
            if (ts_mp_skip (&groups))
                break;
        }
    }
    else if (rc == 0) {
        int w = 5;
        ts_mp_reader_t r = groups;
        char name [TS_GROUP_MAX_BYTES + 1];
        for (uint32_t i = 0; i < n; i++) {
            s_get_str (&r, "group", name, sizeof name);
            s_cut (name, S_TEXT_MAX);
            if ((int) strlen (name) > w)
                w = (int) strlen (name);
            if (ts_mp_skip (&r))
                break;
        }
        static const char *const cols [] = {
            "success_rate", "reward_mean", "reward_max", "pass@1", "pass@5", "pass@10"
        };
        printf ("%-*s  %7s  %9s  %7s  %7s  %7s  %7s  %7s  %7s\n", w, "GROUP", "RECORDS",
                "SUCCESSES", "RATE", "REWARD", "MAX", "PASS@1", "PASS@5", "PASS@10");
        for (uint32_t i = 0; i < n; i++) {
            char v [6][40];
            if (!s_get_str (&groups, "group", name, sizeof name))
                snprintf (name, sizeof name, "-");
            s_cut (name, S_TEXT_MAX);
            for (int k = 0; k < 6; k++) {
                double d;
                bool has = s_get_double (&groups, cols [k], &d);
                if (k == 2)
                    s_format_num (has, d, v [k], sizeof v [k]);
                else
                    s_format_ratio (has, d, v [k], sizeof v [k]);
            }
            printf ("%-*s  %7llu  %9llu  %7s  %7s  %7s  %7s  %7s  %7s\n", w, name,
                    (unsigned long long) s_get_uint (&groups, "records"),
                    (unsigned long long) s_get_uint (&groups, "successes"),
                    v [0], v [1], v [2], v [3], v [4], v [5]);
            if (ts_mp_skip (&groups))
                break;
        }
        uint64_t total = s_get_uint (&c.map, "total"), off;
        if (n == 0)
            printf ("(no groups match)\n");
        fflush (stdout);
        if (ts_mp_reader_map_find (&c.map, "next", &next) && ts_mp_read_uint (&next, &off) == 0)
            fprintf (stderr, "%llu groups in all; next page: --offset %llu\n",
                     (unsigned long long) total, (unsigned long long) off);
    }
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore groups: cannot write the output: %s\n", strerror (errno));
        rc = 1;
    }
    ts_buf_free (&q.body);
    s_client_close (&c);
    return rc;
}

/* --- job ----------------------------------------------------------------------------------- */

int
ts_cli_cmd_job (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = s_start ("job", argc, argv, opts, &co, NULL, NULL, NULL, 1, &c);
    if (rc)
        return s_done (rc);
    s_req_t q = { 0 };
    s_req_begin (&q, "job");
    s_req_key (&q, "job");
    ts_mp_pack_cstr (&q.pk, argv [optind]);
    rc = s_client_call (&c, &q);
    ts_mp_reader_t job;
    if (rc == 0 && !ts_mp_reader_map_find (&c.map, "job", &job)) {
        fprintf (stderr, "trajstore job: the api's answer has no job\n");
        rc = 2;
    }
    if (rc == 0 && co.json) {
        if (!s_print_json_value ("job", job, false))
            rc = 1;
    }
    else if (rc == 0) {
        char id [80], src [TS_PATH_MAX], state [24], err [512], when [40], took [32];
        s_get_str (&job, "job", id, sizeof id);
        s_get_str (&job, "src", src, sizeof src);
        s_get_str (&job, "state", state, sizeof state);
        printf ("job          %s\nsource       %s\nstate        %s\n", id, src, state);
        printf ("lines        %llu\nimported     %llu\nduplicates   %llu\nrejected     %llu\n"
                "blank        %llu\nbytes        %llu\nchunks       %llu of %llu acknowledged\n",
                (unsigned long long) s_get_uint (&job, "lines"),
                (unsigned long long) s_get_uint (&job, "imported"),
                (unsigned long long) s_get_uint (&job, "duplicates"),
                (unsigned long long) s_get_uint (&job, "rejected"),
                (unsigned long long) s_get_uint (&job, "blank"),
                (unsigned long long) s_get_uint (&job, "bytes"),
                (unsigned long long) s_get_uint (&job, "chunks_acked"),
                (unsigned long long) s_get_uint (&job, "chunks"));
        int64_t started, updated, finished;
        if (s_get_int (&job, "started_ms", &started)) {
            s_format_iso (started, when, sizeof when);
            printf ("started      %s\n", when);
            bool fin = s_get_int (&job, "finished_ms", &finished) && finished > 0;
            if (fin || s_get_int (&job, "updated_ms", &updated)) {
                ts_cli_format_duration ((fin ? finished : updated) - started, took, sizeof took);
                printf ("%s %s\n", fin ? "took        " : "running for ", took);
            }
        }
        if (s_get_str (&job, "error", err, sizeof err) && err [0])
            printf ("error        %s\n", err);
    }
    ts_buf_free (&q.body);
    s_client_close (&c);
    return rc;
}

/* --- health --------------------------------------------------------------------------------- */

int
ts_cli_cmd_health (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = s_start ("health", argc, argv, opts, &co, NULL, NULL, NULL, 0, &c);
    if (rc)
        return s_done (rc);
    s_req_t q = { 0 };
    s_req_begin (&q, "health");
    rc = s_client_call (&c, &q);
    if (rc == 0 && co.json) {
        if (!s_print_json_value ("health", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t api, workers, jobs;
        uint32_t n;
        int complete = s_get_bool (&c.map, "stats_complete");
        printf ("api          %s\n", c.endpoint);
        printf ("epoch        %llu, %llu shards\n", (unsigned long long) s_get_uint (&c.map, "epoch"),
                (unsigned long long) s_get_uint (&c.map, "nshards"));
        printf ("statistics   %s\n", complete == 1 ? "complete" : complete == 0 ? "being rebuilt" : "-");
        printf ("queued       %llu chunks\n", (unsigned long long) s_get_uint (&c.map, "queued_chunks"));
        if (ts_mp_reader_map_find (&c.map, "api", &api))
            printf ("requests     %llu served, %llu in flight (map epoch %llu)\n",
                    (unsigned long long) s_get_uint (&api, "requests_served"),
                    (unsigned long long) s_get_uint (&api, "requests_in_flight"),
                    (unsigned long long) s_get_uint (&api, "map_epoch"));
        if (ts_mp_reader_map_find (&c.map, "jobs", &jobs) && ts_mp_read_array (&jobs, &n) == 0)
            printf ("jobs         %u known\n", n);
        if (ts_mp_reader_map_find (&c.map, "workers", &workers)
        &&  ts_mp_read_array (&workers, &n) == 0) {
            unsigned alive = 0;
            printf ("\n%-12s %8s  %-5s  %6s  %6s\n", "WORKER", "PID", "ALIVE", "SHARDS", "QUEUED");
            for (uint32_t i = 0; i < n; i++) {
                char name [64];
                int64_t pid = 0;
                ts_mp_reader_t sh;
                uint32_t nsh = 0;
                s_get_str (&workers, "name", name, sizeof name);
                s_get_int (&workers, "pid", &pid);
                int a = s_get_bool (&workers, "alive");
                alive += a == 1;
                if (ts_mp_reader_map_find (&workers, "shards", &sh))
                    ts_mp_read_array (&sh, &nsh);
                printf ("%-12s %8lld  %-5s  %6u  %6llu\n", name, (long long) pid,
                        a == 1 ? "yes" : "no", nsh,
                        (unsigned long long) s_get_uint (&workers, "queued"));
                /* what keeps it from its shards (a full disk, a shard it
                 * cannot open): the reason the rest of the table lacks */
                char error [512];
                if (s_get_str (&workers, "error", error, sizeof error) && error [0])
                    printf ("  error: %s\n", error);
                if (ts_mp_skip (&workers))
                    break;
            }
            printf ("(%u of %u workers alive)\n", alive, n);
        }
    }
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore health: cannot write the output: %s\n", strerror (errno));
        rc = 1;
    }
    ts_buf_free (&q.body);
    s_client_close (&c);
    return rc;
}

/* --- check ------------------------------------------------------------------------------------ */

/*  trajstore check: the consistency checker on every shard of the running
 *  store (records against index entries against totals, no orphans), one
 *  line a shard; exit 1 when anything is wrong. */
int
ts_cli_cmd_check (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = s_start ("check", argc, argv, opts, &co, NULL, NULL, NULL, 0, &c);
    if (rc)
        return s_done (rc);
    s_req_t q = { 0 };
    c.answer_ms = 300000;               /* it reads every shard whole */
    s_req_begin (&q, "check");
    rc = s_client_call (&c, &q);
    uint64_t problems = rc == 0 ? s_get_uint (&c.map, "problems") : 0;
    if (rc == 0 && co.json) {
        if (!s_print_json_value ("check", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t shards;
        uint32_t n;
        printf ("%-5s %10s %10s %8s %7s %8s  %s\n", "SHARD", "RECORDS", "INDEX", "GROUPS",
                "MODELS", "BATCHES", "STATE");
        if (ts_mp_reader_map_find (&c.map, "shards", &shards) && ts_mp_read_array (&shards, &n) == 0) {
            for (uint32_t i = 0; i < n; i++) {
                char first [512] = "";
                uint64_t p = s_get_uint (&shards, "problems");
                s_get_str (&shards, "first_problem", first, sizeof first);
                printf ("%-5llu %10llu %10llu %8llu %7llu %8llu  %s%s\n",
                        (unsigned long long) s_get_uint (&shards, "shard"),
                        (unsigned long long) s_get_uint (&shards, "records"),
                        (unsigned long long) s_get_uint (&shards, "index_entries"),
                        (unsigned long long) s_get_uint (&shards, "groups"),
                        (unsigned long long) s_get_uint (&shards, "models"),
                        (unsigned long long) s_get_uint (&shards, "batches"),
                        p ? "PROBLEM: " : "ok", first);
                if (ts_mp_skip (&shards))
                    break;
            }
        }
        printf ("%llu records, %llu problems\n",
                (unsigned long long) s_get_uint (&c.map, "records"), (unsigned long long) problems);
    }
    if (rc == 0 && problems)
        rc = 1;
    ts_buf_free (&q.body);
    s_client_close (&c);
    return rc;
}
