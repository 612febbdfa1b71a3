/*  bench_query.c: query latency and throughput of a running trajstore, as a
 *  client in its own process over ZeroMQ (a DEALER socket to the api,
 *  msgpack requests as docs/PROTOCOL.md describes them).
 *
 *  Usage:
 *    bench_query --extract-ids DUMP > IDS      the "ID<TAB>GROUP" list of a dump
 *    bench_query --ids IDS (--data DIR | --api ENDPOINT) [options]
 *
 *  One at a time (the default): each query kind is asked N times (--n,
 *  default 2000; at most --max-seconds per kind, default 5, so a slow kind
 *  ends early and says how many it asked), after --warmup untimed ones
 *  (default 100, in at most a fifth of --max-seconds):
 *    get            get one record by id (ids drawn at random from IDS)
 *    get_hot        get the same record again and again (the api keeps
 *                   records it fetched: the floor of a get, client <-> api)
 *    newest         list the 100 newest (sort -created)
 *    reward         reward in [0.2, 0.3], the first 100 by reward
 *    group_success  one group (drawn at random), success true
 *    groups_all     "groups": the statistics of every group (limit 100000,
 *                   paged with offset until next is nil)
 *    stats          "stats": totals and per model
 *  p50/p90/p99/mean/max in ms, per kind; --only KIND[,KIND] picks some.
 *
 *  --concurrency C --seconds S: C client processes, each its own socket,
 *  issuing a 50/50 mix of get and one-group lists (limit 100, sort
 *  -created) back to back for S seconds; requests/s and p50/p99 over all.
 *
 *  The same seed (--seed) asks for the same ids and groups in the same
 *  order as bench_sqlite_query. JSON lines on stdout with --json, a table
 *  on stderr.
 */
#include "bench_common.h"
#include "bench_zmq.h"

#include "ts_error.h"
#include "ts_mp.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_PROG        "bench_query"
#define S_TIMEOUT_MS  15000
#define S_LIST_LIMIT  100
#define S_GROUPS_PAGE 100000


static volatile double s_sink;      /* what the reads read, so they happen */

typedef struct {
    const char      *endpoint;
    const bq_keys_t *keys;
} s_ctx_t;

typedef struct {
    bq_dealer_t      d;
    uint64_t         rid;
    ts_buf_t         req;
    msgpack_packer   pk;
    const bq_keys_t *keys;
    int              errors_said;
} s_client_t;

/* --- the connection ------------------------------------------------------------- */

static void
s_client_close (void *p)
{
    s_client_t *c = p;
    if (!c)
        return;
    bq_dealer_close (&c->d);
    ts_buf_free (&c->req);
    free (c);
}

static void *
s_client_open (void *ctxp, int child)
{
    const s_ctx_t *ctx = ctxp;
    (void) child;
    s_client_t *c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->keys = ctx->keys;
    if (bq_dealer_open (&c->d, S_PROG, ctx->endpoint)) {
        free (c);
        return NULL;
    }
    msgpack_packer_init (&c->pk, &c->req, ts_buf_packer_write);
    return c;
}

/*  Starts a request map: v, op, rid and `extra` more pairs to come. */
static void
s_begin (s_client_t *c, const char *op, uint32_t extra)
{
    c->req.size = 0;
    msgpack_pack_map (&c->pk, 3 + extra);
    ts_mp_pack_cstr (&c->pk, "v");
    msgpack_pack_int (&c->pk, 1);
    ts_mp_pack_cstr (&c->pk, "op");
    ts_mp_pack_cstr (&c->pk, op);
    ts_mp_pack_cstr (&c->pk, "rid");
    msgpack_pack_uint64 (&c->pk, ++c->rid);
}

static void
s_say_error (s_client_t *c, const char *data, size_t len)
{
    if (c->errors_said++ >= 3)
        return;
    ts_mp_reader_t er, v;
    const char *code = "?", *msg = "?";
    uint32_t cl = 1, ml = 1;
    if (ts_mp_map_find (data, len, "error", &er)) {
        if (ts_mp_reader_map_find (&er, "code", &v))
            ts_mp_read_str (&v, &code, &cl);
        if (ts_mp_reader_map_find (&er, "message", &v))
            ts_mp_read_str (&v, &msg, &ml);
    }
    fprintf (stderr, S_PROG ": the api refused: %.*s: %.*s\n", (int) cl, code, (int) ml, msg);
}

/*  Sends the request and waits for the reply that carries its rid; the
 *  reply's bytes in *data. 0 when "ok" is true, -1 otherwise. */
static int
s_call (s_client_t *c, const char **data, size_t *len)
{
    if (bq_dealer_send (&c->d, c->req.data, c->req.size))
        return -1;
    for (;;) {
        if (bq_dealer_recv (&c->d, S_TIMEOUT_MS))
            return -1;
        *data = zmq_msg_data (&c->d.reply);
        *len = zmq_msg_size (&c->d.reply);
        ts_mp_reader_t v;
        uint64_t rid;
        if (!ts_mp_map_find (*data, *len, "rid", &v) || ts_mp_read_uint (&v, &rid) || rid != c->rid)
            continue;                   /* a late answer to an earlier request */
        ts_mp_item_t ok;
        if (ts_mp_map_find (*data, *len, "ok", &v) && ts_mp_next (&v, &ok) == 0
        &&  ok.type == TS_MP_BOOL && ok.b)
            return 0;
        s_say_error (c, *data, *len);
        return -1;
    }
}

/*  The items of a list reply, each looked at as a client would (its id). */
static int
s_walk_items (const char *data, size_t len, uint64_t *rows)
{
    ts_mp_reader_t r, v;
    uint32_t n;
    if (!ts_mp_map_find (data, len, "items", &r) || ts_mp_read_array (&r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *id;
        uint32_t idl;
        if (!ts_mp_reader_map_find (&r, "id", &v) || ts_mp_read_str (&v, &id, &idl) || ts_mp_skip (&r))
            return -1;
    }
    *rows = n;
    return 0;
}

/* --- the requests --------------------------------------------------------------- */

static int
s_get (s_client_t *c, const char *id, uint64_t *rows)
{
    const char *data;
    size_t len;
    s_begin (c, "get", 1);
    ts_mp_pack_cstr (&c->pk, "id");
    ts_mp_pack_cstr (&c->pk, id);
    if (s_call (c, &data, &len))
        return -1;
    ts_mp_reader_t v;
    if (!ts_mp_map_find (data, len, "record", &v))
        return -1;
    *rows = 1;
    return 0;
}

static int
s_list_group (s_client_t *c, const char *group, bool success, uint64_t *rows)
{
    const char *data;
    size_t len;
    s_begin (c, "list", success ? 3 : 2);
    ts_mp_pack_cstr (&c->pk, "group");
    ts_mp_pack_cstr (&c->pk, group);
    if (success) {
        ts_mp_pack_cstr (&c->pk, "success");
        msgpack_pack_true (&c->pk);
    }
    ts_mp_pack_cstr (&c->pk, "limit");
    msgpack_pack_int (&c->pk, S_LIST_LIMIT);
    if (s_call (c, &data, &len))
        return -1;
    return s_walk_items (data, len, rows);
}

static int
s_one (s_client_t *c, bq_kind_t kind, bq_rng_t *rng, uint64_t *rows)
{
    const bq_keys_t *k = c->keys;
    const char *data;
    size_t len;
    *rows = 0;
    switch (kind) {
    case K_GET:
        return s_get (c, k->ids [bq_rng_below (rng, k->nids)], rows);
    case K_GET_HOT:
        return s_get (c, k->ids [0], rows);
    case K_NEWEST:
        s_begin (c, "list", 1);
        ts_mp_pack_cstr (&c->pk, "limit");
        msgpack_pack_int (&c->pk, S_LIST_LIMIT);
        if (s_call (c, &data, &len))
            return -1;
        return s_walk_items (data, len, rows);
    case K_REWARD:
        s_begin (c, "list", 3);
        ts_mp_pack_cstr (&c->pk, "reward");
        msgpack_pack_array (&c->pk, 2);
        msgpack_pack_double (&c->pk, 0.2);
        msgpack_pack_double (&c->pk, 0.3);
        ts_mp_pack_cstr (&c->pk, "sort");
        ts_mp_pack_cstr (&c->pk, "reward");
        ts_mp_pack_cstr (&c->pk, "limit");
        msgpack_pack_int (&c->pk, S_LIST_LIMIT);
        if (s_call (c, &data, &len))
            return -1;
        return s_walk_items (data, len, rows);
    case K_GROUP_SUCCESS:
        return s_list_group (c, k->groups [bq_rng_below (rng, k->ngroups)], true, rows);
    case K_GROUPS_ALL: {
        uint64_t offset = 0;
        for (;;) {
            s_begin (c, "groups", 2);
            ts_mp_pack_cstr (&c->pk, "limit");
            msgpack_pack_int (&c->pk, S_GROUPS_PAGE);
            ts_mp_pack_cstr (&c->pk, "offset");
            msgpack_pack_uint64 (&c->pk, offset);
            if (s_call (c, &data, &len))
                return -1;
            ts_mp_reader_t r, v;
            uint32_t n;
            if (!ts_mp_map_find (data, len, "groups", &r) || ts_mp_read_array (&r, &n))
                return -1;
            for (uint32_t i = 0; i < n; i++) {
                ts_mp_item_t it;
                /* a client reads the figures: one of them, at least */
                if (!ts_mp_reader_map_find (&r, "success_rate", &v) || ts_mp_next (&v, &it)
                ||  ts_mp_skip (&r))
                    return -1;
                s_sink += it.type == TS_MP_FLOAT ? it.f : 0;
            }
            *rows += n;
            ts_mp_item_t next;
            if (!ts_mp_map_find (data, len, "next", &v) || ts_mp_next (&v, &next))
                return -1;
            if (next.type != TS_MP_UINT || n == 0)
                return 0;
            offset = next.u;
        }
    }
    case K_STATS: {
        s_begin (c, "stats", 0);
        if (s_call (c, &data, &len))
            return -1;
        ts_mp_reader_t v;
        uint64_t groups;
        if (!ts_mp_map_find (data, len, "groups", &v) || ts_mp_read_uint (&v, &groups))
            return -1;
        *rows = 1;
        return 0;
    }
    default:
        return -1;
    }
}

static int
s_one_any (void *conn, bq_kind_t kind, bq_rng_t *rng, uint64_t *rows)
{
    return s_one ((s_client_t *) conn, kind, rng, rows);
}

/*  The concurrent clients' request: get or one group's list, 50/50. */
static int
s_mix (void *state, bq_rng_t *rng, uint64_t *rows)
{
    s_client_t *c = state;
    const bq_keys_t *k = c->keys;
    *rows = 0;
    if (bq_rng_next (rng) & 1)
        return s_get (c, k->ids [bq_rng_below (rng, k->nids)], rows);
    return s_list_group (c, k->groups [bq_rng_below (rng, k->ngroups)], false, rows);
}

/* --- the ids of a dump --------------------------------------------------------- */

static int
s_extract_ids (const char *path)
{
    FILE *f = strcmp (path, "-") ? fopen (path, "rb") : stdin;
    if (!f) {
        fprintf (stderr, S_PROG ": %s: %s\n", path, strerror (errno));
        return 1;
    }
    ts_profile_t prof;
    char err [256];
    ts_parser_t *ps = NULL;
    if (ts_profile_parse ("default", &prof, err, sizeof err) || !(ps = ts_parser_new (&prof))) {
        fprintf (stderr, S_PROG ": no parser: %s\n", err);
        return 1;
    }
    char *line = NULL, *pad = NULL;
    size_t cap = 0, padcap = 0, bad = 0, n = 0;
    ssize_t got;
    ts_buf_t out = { 0 };
    ts_summary_t s;
    while ((got = getline (&line, &cap, f)) > 0) {
        size_t len = (size_t) got;
        while (len && (line [len - 1] == '\n' || line [len - 1] == '\r'))
            len--;
        if (ts_line_is_blank (line, len))
            continue;
        if (padcap < len + TS_PARSE_PADDING) {
            padcap = (len + TS_PARSE_PADDING) * 2;
            free (pad);
            pad = malloc (padcap);
            if (!pad) {
                fprintf (stderr, S_PROG ": out of memory\n");
                return 1;
            }
        }
        memcpy (pad, line, len);
        memset (pad + len, 0, TS_PARSE_PADDING);
        out.size = 0;
        if (ts_parser_parse (ps, pad, len, 1, 0, &out, &s, err, sizeof err)) {
            bad++;
            continue;
        }
        printf ("%.*s\t%.*s\n", (int) s.id_len, s.id, s.group ? (int) s.group_len : 0,
                s.group ? s.group : "");
        n++;
    }
    free (line);
    free (pad);
    ts_buf_free (&out);
    ts_parser_destroy (&ps);
    if (f != stdin)
        fclose (f);
    fprintf (stderr, S_PROG ": %zu ids (%zu lines refused)\n", n, bad);
    return fflush (stdout) ? 1 : 0;
}

/* --- main ---------------------------------------------------------------------- */

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: " S_PROG " --extract-ids DUMP > IDS\n"
             "       " S_PROG " --ids IDS (--data DIR | --api ENDPOINT) [--n N] [--warmup W]\n"
             "                   [--max-seconds S] [--seed S] [--only KIND,...] [--records R] [--json]\n"
             "       " S_PROG " --ids IDS (--data DIR | --api ENDPOINT) --concurrency C --seconds S\n"
             "                   [--seed S] [--records R] [--json]\n"
             "kinds: get, get_hot, newest, reward, group_success, groups_all, stats\n");
}

int
main (int argc, char **argv)
{
    const char *ids = NULL, *data = NULL, *api = NULL, *only = NULL;
    long n = 2000, warmup = 100, clients = 0, seconds = 10, max_seconds = 5, seed = 1, records = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv [i], *v = i + 1 < argc ? argv [i + 1] : NULL;
        if (!strcmp (a, "--extract-ids") && v)
            return s_extract_ids (v);
        else if (!strcmp (a, "--ids") && v)           { ids = v; i++; }
        else if (!strcmp (a, "--data") && v)          { data = v; i++; }
        else if (!strcmp (a, "--api") && v)           { api = v; i++; }
        else if (!strcmp (a, "--only") && v)          { only = v; i++; }
        else if (!strcmp (a, "--n") && v)             { n = bq_parse_long (S_PROG, a, v, 1, 100000000); i++; }
        else if (!strcmp (a, "--warmup") && v)        { warmup = bq_parse_long (S_PROG, a, v, 0, 1000000); i++; }
        else if (!strcmp (a, "--max-seconds") && v)   { max_seconds = bq_parse_long (S_PROG, a, v, 1, 86400); i++; }
        else if (!strcmp (a, "--concurrency") && v)   { clients = bq_parse_long (S_PROG, a, v, 1, 1000); i++; }
        else if (!strcmp (a, "--seconds") && v)       { seconds = bq_parse_long (S_PROG, a, v, 1, 86400); i++; }
        else if (!strcmp (a, "--seed") && v)          { seed = bq_parse_long (S_PROG, a, v, 0, 1L << 40); i++; }
        else if (!strcmp (a, "--records") && v)       { records = bq_parse_long (S_PROG, a, v, 0, 1L << 40); i++; }
        else if (!strcmp (a, "--json"))                 json = true;
        else {
            s_usage ();
            return 2;
        }
    }
    if (!ids || (!data && !api)) {
        s_usage ();
        return 2;
    }
    char endpoint [4200];
    if (api)
        snprintf (endpoint, sizeof endpoint, "%s", api);
    else
        snprintf (endpoint, sizeof endpoint, "ipc://%s/api.sock", data);
    bq_keys_t keys;
    if (bq_keys_load (&keys, ids))
        return 1;
    if (!records)
        records = (long) keys.nids;
    s_ctx_t ctx = { endpoint, &keys };
    FILE *jout = json ? stdout : NULL;
    /* with clients, the children make their own sockets: nothing of
     * ZeroMQ exists in this process before the fork */
    static const bq_client_ops_t ops = { s_client_open, s_mix, s_client_close };
    bq_series_t series = { S_PROG, "trajstore", "request", only, n, warmup, max_seconds, seed,
                           records, jout };
    int rc = bq_run_queries (&series, endpoint, &ops, &ctx, clients, seconds, s_one_any);
    bq_keys_free (&keys);
    return rc;
}
