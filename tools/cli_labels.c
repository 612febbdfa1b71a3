/*  cli_labels.c: `trajstore label` (docs/DESIGN.md, "Labels"): labels are
 *  written the way records are, by a trajstore-producer run with --labels
 *  AUTHOR over label lines {"id", "key", "value"}: the same chunks, commit
 *  markers and acknowledgements, so a label is reported stored only once
 *  committed, and a kill anywhere loses or doubles nothing. `--import
 *  FILE` hands the file to it; `ID KEY=VALUE...` and `--where FILTERS
 *  KEY=VALUE...` write their lines down a pipe to it (--where: the ids of
 *  every record the filters match, paged from the api in id order).
 *  `--where --request` reads the filters and labels from a protocol
 *  request on stdin (the api's op `label` without an id runs it so, with
 *  its own --job and --rejects for the producer: docs/PROTOCOL.md).
 */
#include "cli_query.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_labels.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_LABELS_MAX 256    /* label lines a record, as the api's op `label` */
#define S_RAW_MAX    8      /* filter fields of a request */

typedef struct {
    const char *author;
    const char *import;
    bool        where, quiet, request;
    const char *job, *rejects;  /* the producer's, when given */
    const char *removes [S_LABELS_MAX];
    int         nremoves;
    /* --request: its filter fields, each a key and its msgpack value */
    const char *raw_key [S_RAW_MAX];
    const char *raw [S_RAW_MAX];
    size_t      raw_len [S_RAW_MAX];
    int         nraw;
} s_label_opts_t;

static int
s_label_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    s_label_opts_t *o = ctx;
    switch (c) {
    case O_AUTHOR: o->author = arg; return 0;
    case O_IMPORT: o->import = arg; return 0;
    case O_WHERE:  o->where = true; return 0;
    case O_QUIET:  o->quiet = true; return 0;
    case O_REQUEST: o->request = true; return 0;
    case O_JOB:    o->job = arg; return 0;
    case O_REJECTS: o->rejects = arg; return 0;
    case O_REMOVE:
        if (o->nremoves == S_LABELS_MAX) {
            fprintf (stderr, "trajstore %s: at most %d --remove\n", cmd, S_LABELS_MAX);
            return 2;
        }
        o->removes [o->nremoves++] = arg;
        return 0;
    default:
        return 1;
    }
}

/*  Writes all of buf to fd. */
static int
s_write_all (int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write (fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

/*  One label line per KEY=VALUE and per --remove KEY, for record id. */
static int
s_emit_lines (int fd, ts_buf_t *buf, const char *id, size_t id_len, char *const *sets, int nsets,
              const s_label_opts_t *o)
{
    buf->size = 0;
    for (int i = 0; i < nsets + o->nremoves; i++) {
        const char *kv = i < nsets ? sets [i] : o->removes [i - nsets];
        const char *eq = i < nsets ? strchr (kv, '=') : NULL;
        size_t klen = eq ? (size_t) (eq - kv) : strlen (kv);
        if (ts_buf_append (buf, "{\"id\":", 6) || ts_json_escape (buf, id, id_len)
        ||  ts_buf_append (buf, ",\"key\":", 7) || ts_json_escape (buf, kv, klen)
        ||  ts_buf_append (buf, ",\"value\":", 9)
        ||  (eq ? ts_json_escape (buf, eq + 1, strlen (eq + 1)) : ts_buf_append (buf, "null", 4))
        ||  ts_buf_append (buf, "}\n", 2))
            return TS_ENOMEM;
    }
    return s_write_all (fd, buf->data, buf->size) ? -EPIPE : 0;
}

/*  Starts the producer on `input` ("-": *wfd gets the pipe to its stdin). */
static pid_t
s_start_producer (const char *data, const char *author, const char *input, bool json,
                  const s_label_opts_t *o, int *wfd)
{
    char producer [TS_PATH_MAX];
    if (ts_cli_find_binary ("trajstore-producer", "producer", producer, sizeof producer)) {
        fprintf (stderr, "trajstore label: cannot find trajstore-producer\n");
        return -1;
    }
    int pfd [2] = { -1, -1 };
    bool piped = !strcmp (input, "-");
    if (piped && pipe (pfd)) {
        fprintf (stderr, "trajstore label: pipe: %s\n", strerror (errno));
        return -1;
    }
    char *argv [16];
    int a = 0;
    argv [a++] = producer;
    argv [a++] = "--data";
    argv [a++] = (char *) data;
    argv [a++] = "--labels";
    argv [a++] = (char *) author;
    if (json)
        argv [a++] = "--json";
    if (o->quiet)
        argv [a++] = "--quiet";
    if (o->job) {
        argv [a++] = "--job";
        argv [a++] = (char *) o->job;
    }
    if (o->rejects) {
        argv [a++] = "--rejects";
        argv [a++] = (char *) o->rejects;
    }
    argv [a++] = "--";
    argv [a++] = (char *) input;
    argv [a] = NULL;
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "trajstore label: fork: %s\n", strerror (errno));
        return -1;
    }
    if (pid == 0) {
        if (piped) {
            dup2 (pfd [0], STDIN_FILENO);
            close (pfd [0]);
            close (pfd [1]);
        }
        execv (producer, argv);
        fprintf (stderr, "trajstore label: cannot run %s: %s\n", producer, strerror (errno));
        _exit (2);
    }
    if (piped) {
        close (pfd [0]);
        *wfd = pfd [1];
    }
    return pid;
}

static int
s_wait_producer (pid_t pid)
{
    int status = 0;
    while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED (status))
        return WEXITSTATUS (status) <= 2 ? WEXITSTATUS (status) : 2;
    fprintf (stderr, "trajstore label: the producer died of signal %d\n",
             WIFSIGNALED (status) ? WTERMSIG (status) : 0);
    return 2;
}

/*  --where: every matching record's id, a page at a time in id order,
 *  each followed by its label lines. The count of matches, or -1. */
static int64_t
s_where (s_client_t *c, s_filter_t *f, int fd, char *const *sets, int nsets,
         const s_label_opts_t *o)
{
    ts_req_t q = { 0 };
    ts_buf_t buf = { 0 };
    char *cursor = NULL;
    int64_t matched = 0;
    f->sort = "id";
    for (;;) {
        ts_req_begin (&q, "list");
        cq_pack_listing (&q, f, TS_QUERY_MAX_LIMIT, cursor);
        for (int i = 0; i < o->nraw; i++) {
            ts_req_key (&q, o->raw_key [i]);
            if (ts_buf_append (&q.body, o->raw [i], o->raw_len [i])) {
                matched = -1;
                goto out;
            }
        }
        if (cq_client_call (c, &q)) {
            matched = -1;
            break;
        }
        ts_mp_reader_t items, next;
        uint32_t n;
        if (!ts_mp_reader_map_find (&c->map, "items", &items) || ts_mp_read_array (&items, &n)) {
            fprintf (stderr, "trajstore label: the api's answer has no items\n");
            matched = -1;
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            ts_mp_reader_t item = items, idr;
            const char *id;
            uint32_t idlen;
            if (ts_mp_skip (&items) || !ts_mp_reader_map_find (&item, "id", &idr)
            ||  ts_mp_read_str (&idr, &id, &idlen)) {
                fprintf (stderr, "trajstore label: an item of the api's answer has no id\n");
                matched = -1;
                goto out;
            }
            if (s_emit_lines (fd, &buf, id, idlen, sets, nsets, o)) {
                fprintf (stderr, "trajstore label: the producer stopped reading\n");
                matched = -1;
                goto out;
            }
            matched++;
        }
        free (cursor);
        cursor = NULL;
        const char *p;
        uint32_t len;
        if (ts_mp_reader_map_find (&c->map, "next", &next) && ts_mp_read_str (&next, &p, &len) == 0)
            cursor = strndup (p ? p : "", len);
        if (!cursor)
            break;
    }
out:
    free (cursor);
    ts_buf_free (&q.body);
    ts_buf_free (&buf);
    return matched;
}

/*  --request: reads a protocol request (the op `label` with "where") from
 *  stdin: its filter fields into o's raw fields, "set" as KEY=VALUE
 *  strings into sets, "remove" and "author" into o. The strings live in
 *  `pool` (freed by the caller). 0, or 2 with the reason on stderr. */
static int
s_read_request (s_label_opts_t *o, ts_buf_t *req, char **sets, int *nsets, ts_buf_t *pool)
{
    static const char *const filters [S_RAW_MAX] = TS_LISTING_FILTERS;
    char chunk [65536];
    size_t got;
    while ((got = fread (chunk, 1, sizeof chunk, stdin)) > 0)
        if (req->size + got > TS_REQUEST_MAX || ts_buf_append (req, chunk, got))
            goto bad;
    /* each string NUL-terminated at an offset into pool, and what it is
     * ('s'et, 'r'emove, 'a'uthor): pointers are taken once pool is whole */
    size_t offs [2 * S_LABELS_MAX + 1];
    char kinds [2 * S_LABELS_MAX + 1];
    int nstr = 0;
    ts_mp_reader_t rd;
    uint32_t n;
    ts_mp_reader_init (&rd, req->data, req->size);
    if (ts_mp_read_map (&rd, &n))
        goto bad;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        if (ts_mp_read_str (&rd, &k, &klen))
            goto bad;
        ts_mp_reader_t v = rd;
        if (ts_mp_skip (&rd))
            goto bad;
        for (int f = 0; f < S_RAW_MAX; f++)
            if (strlen (filters [f]) == klen && !memcmp (filters [f], k, klen)) {
                o->raw_key [o->nraw] = filters [f];
                o->raw [o->nraw] = (const char *) v.p;
                o->raw_len [o->nraw++] = (size_t) (rd.p - v.p);
            }
        char kind = klen == 3 && !memcmp (k, "set", 3) ? 's'
                  : klen == 6 && !memcmp (k, "remove", 6) ? 'r'
                  : klen == 6 && !memcmp (k, "author", 6) ? 'a' : 0;
        uint32_t m = 1;
        if ((kind == 's' && ts_mp_read_map (&v, &m)) || (kind == 'r' && ts_mp_read_array (&v, &m)))
            goto bad;
        for (uint32_t j = 0; kind && j < m; j++) {
            const char *a, *b = NULL;
            uint32_t alen, blen = 0;
            if (ts_mp_read_str (&v, &a, &alen) || (kind == 's' && ts_mp_read_str (&v, &b, &blen))
            ||  nstr == 2 * S_LABELS_MAX + 1)
                goto bad;
            kinds [nstr] = kind;
            offs [nstr++] = pool->size;
            if (ts_buf_append (pool, a ? a : "", alen)
            ||  (kind == 's' && (ts_buf_append (pool, "=", 1) || ts_buf_append (pool, b ? b : "", blen)))
            ||  ts_buf_append (pool, "", 1))
                goto bad;
        }
    }
    for (int i = 0; i < nstr; i++) {
        char *str = pool->data + offs [i];
        if (kinds [i] == 'a')
            o->author = str;
        else if (kinds [i] == 'r' && o->nremoves < S_LABELS_MAX)
            o->removes [o->nremoves++] = str;
        else if (kinds [i] == 's' && *nsets < S_LABELS_MAX)
            sets [(*nsets)++] = str;
        else
            goto bad;
    }
    return 0;
bad:
    fprintf (stderr, "trajstore label: --request: stdin is not a label request the api "
             "accepts\n");
    return 2;
}

int
ts_cli_cmd_label (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS,
        { "author", required_argument, 0, O_AUTHOR }, { "remove", required_argument, 0, O_REMOVE },
        { "where", no_argument, 0, O_WHERE }, { "import", required_argument, 0, O_IMPORT },
        { "quiet", no_argument, 0, O_QUIET },
        /* the api's (op `label` with "where"): not in the usage */
        { "request", no_argument, 0, O_REQUEST }, { "job", required_argument, 0, O_JOB },
        { "rejects", required_argument, 0, O_REJECTS },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_label_opts_t o = { 0 };
    s_filter_t *f = cq_filter_new ("label");
    if (!f)
        return 1;
    s_client_t c = { 0 };
    /* the arguments are checked before a client is opened: --import needs none */
    int rc = cq_parse_args ("label", argc, argv, opts, &co, f, s_label_extra, &o);
    if (rc) {
        free (f);
        return cq_done (rc);
    }
    char **rest = argv + optind;
    int nrest = argc - optind;
    ts_buf_t req = { 0 }, pool = { 0 };
    char *req_sets [S_LABELS_MAX];
    if (o.request) {
        int nsets = 0;
        if (!o.where || nrest || o.nremoves || cq_filter_used (f)) {
            fprintf (stderr, "trajstore label: --request goes with --where alone\n");
            rc = 2;
        }
        else
            rc = s_read_request (&o, &req, req_sets, &nsets, &pool);
        if (rc) {
            ts_buf_free (&req);
            ts_buf_free (&pool);
            free (f);
            return rc;
        }
        rest = req_sets;
        nrest = nsets;
        if (!o.author)
            o.author = "api";           /* the op's default */
    }
    const char *user = getenv ("USER");
    const char *author = o.author ? o.author : user && *user ? user : "unknown";
    const char *id = NULL;
    if (!o.import && !o.where && nrest > 0) {
        id = rest [0];
        rest++;
        nrest--;
    }
    bool filtered = cq_filter_used (f);
    const char *why = NULL;
    if (o.import && (o.where || filtered || nrest || o.nremoves))
        why = "--import FILE takes no id, filters, KEY=VALUE or --remove";
    else if (!o.import && !o.where && !id)
        why = "give an ID, --where FILTERS, or --import FILE";
    else if (!o.import && !o.where && filtered)
        why = "filters go with --where";
    else if (!o.import && nrest + o.nremoves == 0)
        why = "give KEY=VALUE or --remove KEY";
    for (int i = 0; !why && !o.import && i < nrest + o.nremoves; i++) {
        const char *kv = i < nrest ? rest [i] : o.removes [i - nrest];
        const char *eq = strchr (kv, '=');
        size_t klen = i < nrest ? (eq ? (size_t) (eq - kv) : 0) : strlen (kv);
        char msg [200];
        ts_label_t l = { .id = "x", .id_len = 1, .key = kv, .key_len = (uint32_t) klen,
                         .value = eq ? eq + 1 : NULL, .value_len = eq ? (uint32_t) strlen (eq + 1) : 0,
                         .author = author, .author_len = (uint32_t) strlen (author) };
        if (i < nrest && !eq) {
            fprintf (stderr, "trajstore label: '%s' is not KEY=VALUE\n", kv);
            why = "";
        }
        else if (ts_label_check (&l, msg, sizeof msg)) {
            fprintf (stderr, "trajstore label: '%s': %s\n", kv, msg);
            why = "";
        }
    }
    if (why) {
        if (*why)
            fprintf (stderr, "trajstore label: %s\n", why);
        ts_cli_usage (stderr, "label");
        free (f);
        return 2;
    }
    ts_cli_paths_t paths;
    if (ts_cli_paths_init (&paths, co.data, false)) {
        free (f);
        return 2;
    }
    if (o.where && (rc = cq_client_open (&c, "label", co.data, co.api))) {
        free (f);
        return rc;
    }
    int fd = -1;
    pid_t pid = s_start_producer (paths.data, author, o.import ? o.import : "-", co.json,
                                  &o, &fd);
    if (pid < 0) {
        if (o.where)
            cq_client_close (&c);
        free (f);
        return 2;
    }
    void (*old_int) (int) = signal (SIGINT, SIG_IGN);
    void (*old_pipe) (int) = signal (SIGPIPE, SIG_IGN);
    int fed = 0;
    if (id) {
        ts_buf_t buf = { 0 };
        fed = s_emit_lines (fd, &buf, id, strlen (id), rest, nrest, &o) ? 2 : 0;
        ts_buf_free (&buf);
    }
    else if (o.where) {
        int64_t matched = s_where (&c, f, fd, rest, nrest, &o);
        if (matched < 0)
            fed = 2;
        else if (!o.quiet)
            fprintf (stderr, "trajstore label: %lld records match; %d label line%s each\n",
                     (long long) matched, nrest + o.nremoves, nrest + o.nremoves == 1 ? "" : "s");
        cq_client_close (&c);
    }
    if (fd >= 0)
        close (fd);
    rc = s_wait_producer (pid);
    signal (SIGINT, old_int);
    signal (SIGPIPE, old_pipe);
    ts_buf_free (&req);
    ts_buf_free (&pool);
    free (f);
    return fed ? fed : rc;
}

/* --- trajstore labels, stats/groups --by label:KEY ---------------------------- */

typedef struct {
    const char *by;
    bool        per_model;
} s_labels_opts_t;

static int
s_labels_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    (void) cmd;
    s_labels_opts_t *o = ctx;
    switch (c) {
    case O_BY:        o->by = arg; return 0;
    case O_PER_MODEL: o->per_model = true; return 0;
    default:          return 1;
    }
}

/*  One record's labels: KEY=VALUE (author, time) lines, then the history
 *  with --history... here always: a person triaging wants to see both. */
static int
s_print_record_labels (s_client_t *c, bool json)
{
    if (json)
        return cq_print_json_value ("labels", c->map, true) ? 0 : 1;
    ts_mp_reader_t labels, hist;
    uint32_t n;
    if (!ts_mp_reader_map_find (&c->map, "labels", &labels) || ts_mp_read_map (&labels, &n)
    ||  !ts_mp_reader_map_find (&c->map, "history", &hist)) {
        fprintf (stderr, "trajstore labels: the api's answer has no labels\n");
        return 2;
    }
    if (n == 0)
        printf ("(no labels)\n");
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t kl;
        char value [TS_LABEL_VALUE_MAX + 1] = "", author [TS_LABEL_AUTHOR_MAX + 1] = "", when [40];
        int64_t t = 0;
        if (ts_mp_read_str (&labels, &k, &kl))
            return 2;
        cq_get_str (&labels, "value", value, sizeof value);
        cq_get_str (&labels, "author", author, sizeof author);
        cq_get_int (&labels, "time_ms", &t);
        cq_format_iso (t, when, sizeof when);
        printf ("%.*s=%s  (%s, %s)\n", (int) kl, k, value, author, when);
        if (ts_mp_skip (&labels))
            return 2;
    }
    uint32_t nh;
    if (ts_mp_read_array (&hist, &nh) == 0 && nh > 0) {
        printf ("history:\n");
        for (uint32_t i = 0; i < nh; i++) {
            uint32_t four, kl, vl, al;
            const char *k, *v, *a;
            int64_t t;
            ts_mp_item_t it;
            char when [40];
            if (ts_mp_read_array (&hist, &four) || four != 4 || ts_mp_read_str (&hist, &k, &kl)
            ||  ts_mp_next (&hist, &it) || ts_mp_read_str (&hist, &a, &al) || ts_mp_read_int (&hist, &t))
                return 2;
            v = it.type == TS_MP_STR ? it.ptr : NULL;
            vl = it.type == TS_MP_STR ? it.len : 0;
            cq_format_iso (t, when, sizeof when);
            if (v)
                printf ("  %s  %.*s  %.*s=%.*s\n", when, (int) al, a, (int) kl, k, (int) vl, v);
            else
                printf ("  %s  %.*s  removed %.*s\n", when, (int) al, a, (int) kl, k);
        }
    }
    return 0;
}

/*  Totals by label value (and model): a table, or one JSON object a row. */
static int
s_print_label_rows (s_client_t *c, const char *cmd, bool json, bool per_model)
{
    ts_mp_reader_t rows;
    uint32_t n;
    if (!ts_mp_reader_map_find (&c->map, "labels", &rows) || ts_mp_read_array (&rows, &n)) {
        fprintf (stderr, "trajstore %s: the api's answer has no labels\n", cmd);
        return 2;
    }
    if (json)
        return cq_print_rows (cmd, rows, n);
    if (n == 0) {
        printf ("(no labels)\n");
        return 0;
    }
    int kw = cq_name_width (rows, n, "key", 3), vw = cq_name_width (rows, n, "value", 5);
    int mw = per_model ? cq_name_width (rows, n, "model", 5) : 0;
    printf ("%-*s  %-*s  ", kw, "key", vw, "value");
    if (per_model)
        printf ("%-*s  ", mw, "model");
    printf ("%9s  %9s  %8s  %11s\n", "records", "successes", "success", "reward_mean");
    for (uint32_t i = 0; i < n; i++) {
        char key [TS_LABEL_KEY_MAX + 1] = "", value [TS_LABEL_VALUE_MAX + 1] = "", model [256] = "";
        char rate [32], mean [32];
        ts_mp_reader_t t;
        cq_get_str (&rows, "key", key, sizeof key);
        cq_get_str (&rows, "value", value, sizeof value);
        cq_get_str (&rows, "model", model, sizeof model);
        double sr = 0, rm = 0;
        bool has_sr = false, has_rm = false;
        uint64_t records = 0, successes = 0;
        if (ts_mp_reader_map_find (&rows, "totals", &t)) {
            records = cq_get_uint (&t, "records");
            successes = cq_get_uint (&t, "successes");
            has_sr = cq_get_double (&t, "success_rate", &sr);
            has_rm = cq_get_double (&t, "reward_mean", &rm);
        }
        cq_format_ratio (has_sr, sr, rate, sizeof rate);
        if (has_rm)
            snprintf (mean, sizeof mean, "%.4f", rm);
        else
            snprintf (mean, sizeof mean, "-");
        cq_cut (key, kw);
        cq_cut (value, vw);
        printf ("%-*s  %-*s  ", kw, key, vw, value);
        if (per_model) {
            cq_cut (model, mw);
            printf ("%-*s  ", mw, model);
        }
        printf ("%9llu  %9llu  %8s  %11s\n", (unsigned long long) records,
                (unsigned long long) successes, rate, mean);
        if (ts_mp_skip (&rows))
            break;
    }
    return 0;
}

/*  The op "labels" for `cmd`: by KEY (NULL: every key), filters in f. */
static int
s_labels_call (const char *cmd, s_client_t *c, const s_filter_t *f, const char *id,
               const char *by, bool per_model, bool json)
{
    ts_req_t q = { 0 };
    ts_req_begin (&q, "labels");
    if (id) {
        ts_req_key (&q, "id");
        ts_mp_pack_cstr (&q.pk, id);
    }
    else {
        cq_pack_listing (&q, f, 0, NULL);
        if (by) {
            ts_req_key (&q, "key");
            ts_mp_pack_cstr (&q.pk, by);
        }
        ts_req_key (&q, "per_model");
        if (per_model) msgpack_pack_true (&q.pk); else msgpack_pack_false (&q.pk);
    }
    int rc = cq_client_call (c, &q);
    if (rc == 0)
        rc = id ? s_print_record_labels (c, json) : s_print_label_rows (c, cmd, json, per_model);
    ts_buf_free (&q.body);
    return rc;
}

/*  trajstore labels [FILTERS] [--by KEY] [--per-model] [ID], and the
 *  `--by label:KEY` of stats and groups (cmd names which). */
int
ts_cli_labels_run (const char *cmd, int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS, { "table", no_argument, 0, O_TABLE },
        { "by", required_argument, 0, O_BY }, { "per-model", no_argument, 0, O_PER_MODEL },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_labels_opts_t o = { 0 };
    s_filter_t *f = cq_filter_new (cmd);
    if (!f)
        return 1;
    int rc = cq_parse_args (cmd, argc, argv, opts, &co, f, s_labels_extra, &o);
    const char *by = o.by;
    if (rc == 0 && strcmp (cmd, "labels")) {
        /* stats/groups --by label:KEY */
        if (!by || strncmp (by, "label:", 6) || !by [6]) {
            fprintf (stderr, "trajstore %s: --by wants label:KEY, not '%s'\n", cmd, by ? by : "");
            rc = 2;
        }
        else
            by += 6;
    }
    const char *id = NULL;
    if (rc == 0 && argc - optind == 1 && !strcmp (cmd, "labels") && !by && !cq_filter_used (f))
        id = argv [optind];
    else if (rc == 0 && argc - optind != 0) {
        ts_cli_usage (stderr, cmd);
        rc = 2;
    }
    s_client_t c;
    if (rc == 0 && (rc = cq_client_open (&c, cmd, co.data, co.api)) == 0) {
        bool json = co.json || (!co.table && !isatty (STDOUT_FILENO));
        rc = s_labels_call (cmd, &c, f, id, by, o.per_model, json);
        cq_client_close (&c);
    }
    free (f);
    return cq_done (rc);
}

int
ts_cli_cmd_labels (int argc, char **argv)
{
    return ts_cli_labels_run ("labels", argc, argv);
}

bool
cq_wants_by_label (int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp (argv [i], "--by") || !strncmp (argv [i], "--by=", 5))
            return true;
    return false;
}

/*  export --with-labels KEY: each record as its original JSON with one
 *  more member, KEY, holding its labels {key: value}. Pages of records
 *  come from `list` (fields record: the id and the record), each record's
 *  labels from op `labels` (its shard's owner). The record itself stays as
 *  stored; without --with-labels export gives the original line. */
int
cq_export_with_labels (s_client_t *c, const s_filter_t *f, const char *member, uint32_t limit)
{
    ts_req_t q = { 0 };
    ts_buf_t line = { 0 };
    char *cursor = NULL;
    int rc = 0;
    for (;;) {
        ts_req_begin (&q, "list");
        cq_pack_listing (&q, f, limit, cursor);
        ts_req_key (&q, "fields");
        ts_mp_pack_cstr (&q.pk, "record");
        if ((rc = cq_client_call (c, &q)))
            break;
        zframe_t *page = zframe_dup (c->reply);     /* the label calls replace c->reply */
        ts_mp_reader_t pm, items, next;
        uint32_t n;
        ts_mp_reader_init (&pm, zframe_data (page), zframe_size (page));
        free (cursor);
        cursor = NULL;
        const char *p;
        uint32_t len;
        if (ts_mp_reader_map_find (&pm, "next", &next) && ts_mp_read_str (&next, &p, &len) == 0)
            cursor = strndup (p ? p : "", len);
        if (!ts_mp_reader_map_find (&pm, "items", &items) || ts_mp_read_array (&items, &n)) {
            fprintf (stderr, "trajstore export: the api's answer has no items\n");
            rc = 2;
        }
        for (uint32_t i = 0; rc == 0 && i < n; i++) {
            ts_mp_reader_t item = items, idr, rec, labels;
            const char *id;
            uint32_t idlen;
            if (ts_mp_skip (&items) || !ts_mp_reader_map_find (&item, "id", &idr)
            ||  ts_mp_read_str (&idr, &id, &idlen) || !ts_mp_reader_map_find (&item, "record", &rec)) {
                fprintf (stderr, "trajstore export: an item has no id or record\n");
                rc = 2;
                break;
            }
            line.size = 0;
            if (ts_mp_to_json (rec.p, (size_t) (rec.end - rec.p), &line) || line.size < 2
            ||  line.data [line.size - 1] != '}') {
                fprintf (stderr, "trajstore export: record %.*s does not convert to a JSON object\n",
                         (int) idlen, id);
                rc = 1;
                break;
            }
            ts_req_begin (&q, "labels");
            ts_req_key (&q, "id");
            ts_mp_pack_strn (&q.pk, id, idlen);
            if ((rc = cq_client_call (c, &q)))
                break;
            uint32_t nl;
            if (!ts_mp_reader_map_find (&c->map, "labels", &labels) || ts_mp_read_map (&labels, &nl)) {
                fprintf (stderr, "trajstore export: the api's answer has no labels\n");
                rc = 2;
                break;
            }
            /* {...} -> {..., "KEY": {"k": "v", ...}} */
            line.size--;
            if (line.size > 1 && ts_buf_append (&line, ",", 1))
                rc = TS_ENOMEM;
            ts_json_escape (&line, member, strlen (member));
            ts_buf_append (&line, ":{", 2);
            for (uint32_t k = 0; k < nl && rc == 0; k++) {
                const char *kk;
                uint32_t kl;
                ts_mp_reader_t v;
                if (ts_mp_read_str (&labels, &kk, &kl) || !ts_mp_reader_map_find (&labels, "value", &v)
                ||  ts_mp_read_str (&v, &p, &len) || ts_mp_skip (&labels)) {
                    rc = 2;
                    break;
                }
                if (k)
                    ts_buf_append (&line, ",", 1);
                ts_json_escape (&line, kk, kl);
                ts_buf_append (&line, ":", 1);
                ts_json_escape (&line, p ? p : "", len);
            }
            ts_buf_append (&line, "}}", 2);
            if (rc == 0 && !cq_write_line ("export", line.data, line.size))
                rc = 1;
        }
        zframe_destroy (&page);
        if (rc || !cursor)
            break;
    }
    free (cursor);
    ts_buf_free (&q.body);
    ts_buf_free (&line);
    return rc;
}

/*  After `get` on a terminal: the record's labels, as `labels ID` shows
 *  them (a pipe gets the original line alone). */
int
cq_show_labels (s_client_t *c, const char *id)
{
    printf ("labels:\n");
    return s_labels_call ("get", c, NULL, id, NULL, false, false);
}
