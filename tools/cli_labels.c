/*  cli_labels.c: `trajstore label` (docs/DESIGN.md, "Labels"): labels are
 *  written the way records are, by a trajstore-producer run with --labels
 *  AUTHOR over label lines {"id", "key", "value"}: the same chunks, commit
 *  markers and acknowledgements, so a label is reported stored only once
 *  committed, and a kill anywhere loses or doubles nothing. `--import
 *  FILE` hands the file to it; `ID KEY=VALUE...` and `--where FILTERS
 *  KEY=VALUE...` write their lines down a pipe to it (--where: the ids of
 *  every record the filters match, paged from the api in id order).
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

typedef struct {
    const char *author;
    const char *import;
    bool        where, quiet;
    const char *removes [64];
    int         nremoves;
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
    case O_REMOVE:
        if (o->nremoves == 64) {
            fprintf (stderr, "trajstore %s: at most 64 --remove\n", cmd);
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
                  bool quiet, int *wfd)
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
    char *argv [12];
    int a = 0;
    argv [a++] = producer;
    argv [a++] = "--data";
    argv [a++] = (char *) data;
    argv [a++] = "--labels";
    argv [a++] = (char *) author;
    if (json)
        argv [a++] = "--json";
    if (quiet)
        argv [a++] = "--quiet";
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

int
ts_cli_cmd_label (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS,
        { "author", required_argument, 0, O_AUTHOR }, { "remove", required_argument, 0, O_REMOVE },
        { "where", no_argument, 0, O_WHERE }, { "import", required_argument, 0, O_IMPORT },
        { "quiet", no_argument, 0, O_QUIET },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_label_opts_t o = { 0 };
    s_filter_t *f = malloc (sizeof *f);
    if (!f) {
        fprintf (stderr, "trajstore label: out of memory\n");
        return 1;
    }
    cq_filter_init (f);
    s_client_t c = { 0 };
    /* the arguments are checked before a client is opened: --import needs none */
    int rc = cq_parse_args ("label", argc, argv, opts, &co, f, s_label_extra, &o);
    if (rc) {
        free (f);
        return cq_done (rc);
    }
    const char *user = getenv ("USER");
    const char *author = o.author ? o.author : user && *user ? user : "unknown";
    char **rest = argv + optind;
    int nrest = argc - optind;
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
                                  o.quiet, &fd);
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
    free (f);
    return fed ? fed : rc;
}
