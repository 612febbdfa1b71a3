/*  cli_common.c: paths, processes, the state file and the aggregator's
 *  status, for the trajstore CLI's commands (cli_common.h). */
#include "cli_common.h"
#include "ts_build.h"
#include "ts_error.h"
#include "ts_msg.h"
#include "ts_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* --- paths ------------------------------------------------------------------ */

static int
s_fit (int n, size_t size)
{
    return n < 0 || (size_t) n >= size ? TS_ETOOBIG : 0;
}

int
ts_cli_paths_init (ts_cli_paths_t *p, const char *data_flag, bool create)
{
    char raw [TS_PATH_MAX], abs [PATH_MAX];
    memset (p, 0, sizeof *p);
    int rc = ts_config_data_dir (data_flag, raw, sizeof raw);
    if (rc == 0 && create)
        rc = ts_config_mkdirs (raw);
    if (rc)
        return rc;
    /* Absolute, so that the children (started from "/") and every later
     * command name the same sockets whatever their working directory. */
    const char *dir = realpath (raw, abs) ? abs : raw;
    if ((rc = s_fit (snprintf (p->data, sizeof p->data, "%s", dir), sizeof p->data))
    ||  (rc = s_fit (snprintf (p->logs, sizeof p->logs, "%s/logs", dir), sizeof p->logs))
    ||  (rc = s_fit (snprintf (p->pid_file, sizeof p->pid_file, "%s/supervisor.pid", dir),
                     sizeof p->pid_file))
    ||  (rc = s_fit (snprintf (p->state_file, sizeof p->state_file, "%s/supervisor.state", dir),
                     sizeof p->state_file)))
        return rc;
    if (create && (rc = ts_config_mkdirs (p->logs)))
        return rc;
    if ((rc = ts_config_endpoint (NULL, "ingest", p->data, p->ingest, sizeof p->ingest))
    ||  (rc = ts_config_endpoint (NULL, "control", p->data, p->control, sizeof p->control))
    ||  (rc = ts_config_endpoint (NULL, "query", p->data, p->query, sizeof p->query))
    ||  (rc = ts_config_endpoint (NULL, "api", p->data, p->api, sizeof p->api)))
        return rc;
    return 0;
}

int
ts_cli_find_binary (const char *name, const char *subdir, char *buf, size_t size)
{
    return ts_build_find_binary (name, subdir, buf, size);
}

/* --- processes -------------------------------------------------------------- */

/*  The start of /proc/PID/NAME, NUL-terminated in buf (size > 0): the
 *  bytes read, or -1 when the file cannot be opened. */
static ssize_t
s_proc_read (pid_t pid, const char *name, char *buf, size_t size)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, name);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    size_t n = fread (buf, 1, size - 1, f);
    fclose (f);
    buf [n] = 0;
    return (ssize_t) n;
}

bool
ts_cli_pid_is_alive (pid_t pid)
{
    if (pid <= 0 || (kill (pid, 0) && errno != EPERM))
        return false;
    /* A zombie still answers kill (); its state in /proc says what it is.
     * The state follows the command name in parentheses, which may itself
     * hold spaces or parentheses: look after the last ')'. */
    char stat [512];
    if (s_proc_read (pid, "stat", stat, sizeof stat) < 0)
        return true;
    char *close = strrchr (stat, ')');
    return !(close && close [1] == ' ' && (close [2] == 'Z' || close [2] == 'X'));
}

bool
ts_cli_pid_cmdline_has (pid_t pid, const char *needle, const char *needle2)
{
    char cmd [8192];
    ssize_t n = s_proc_read (pid, "cmdline", cmd, sizeof cmd);
    if (n < 0)
        return false;
    for (ssize_t i = 0; i < n; i++)
        if (cmd [i] == 0)
            cmd [i] = ' ';                  /* arguments are NUL-separated */
    return strstr (cmd, needle) && (!needle2 || strstr (cmd, needle2));
}

pid_t
ts_cli_supervisor_pid (const ts_cli_paths_t *p)
{
    FILE *f = fopen (p->pid_file, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf (f, "%ld", &pid) != 1)
        pid = 0;
    fclose (f);
    /* the pid of a supervisor that died may have been reused by another
     * program: only a live "trajstore supervise" counts */
    if (pid <= 0 || !ts_cli_pid_is_alive ((pid_t) pid)
    ||  !ts_cli_pid_cmdline_has ((pid_t) pid, "supervise", NULL))
        return 0;
    return (pid_t) pid;
}

void
ts_cli_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    while (nanosleep (&ts, &ts) && errno == EINTR)
        ;
}

void
ts_cli_print_log_tail (FILE *out, const char *path, int lines)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (out, "  (no log at %s: %s)\n", path, strerror (errno));
        return;
    }
    /* the last 64 KiB hold the last lines of any sane log */
    static char buf [65536];
    long start = 0;
    if (fseek (f, 0, SEEK_END) == 0) {
        long size = ftell (f);
        start = size > (long) sizeof buf - 1 ? size - (long) sizeof buf + 1 : 0;
    }
    fseek (f, start, SEEK_SET);
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf [n] = 0;
    if (n > 0 && buf [n - 1] == '\n')
        buf [--n] = 0;
    size_t from = n;
    for (int seen = 0; from > 0; from--)
        if (buf [from - 1] == '\n' && ++seen == lines)
            break;
    fprintf (out, "--- last lines of %s ---\n", path);
    if (n == 0)
        fprintf (out, "  (empty)\n");
    for (char *line = buf + from; n > 0 && line && *line; ) {
        char *nl = strchr (line, '\n');
        if (nl)
            *nl = 0;
        fprintf (out, "  %s\n", line);
        line = nl ? nl + 1 : NULL;
    }
}

void
ts_cli_format_duration (int64_t ms, char *buf, size_t size)
{
    if (ms < 0)
        ms = 0;
    if (ms < 60000)
        snprintf (buf, size, "%.1fs", (double) ms / 1000.0);
    else if (ms < 3600000)
        snprintf (buf, size, "%dm%02ds", (int) (ms / 60000), (int) (ms / 1000 % 60));
    else
        snprintf (buf, size, "%dh%02dm", (int) (ms / 3600000), (int) (ms / 60000 % 60));
}

/* --- msgpack maps ------------------------------------------------------------- */

bool
ts_cli_mp_find (const ts_mp_reader_t *map, const char *key, ts_mp_reader_t *value)
{
    return ts_mp_reader_map_find (map, key, value);
}

static int64_t
s_get_int (const ts_mp_reader_t *map, const char *key, int64_t dflt)
{
    ts_mp_reader_t r;
    int64_t v;
    return ts_cli_mp_find (map, key, &r) && ts_mp_read_int (&r, &v) == 0 ? v : dflt;
}

static uint64_t
s_get_uint (const ts_mp_reader_t *map, const char *key)
{
    ts_mp_reader_t r;
    uint64_t v;
    return ts_cli_mp_find (map, key, &r) && ts_mp_read_uint (&r, &v) == 0 ? v : 0;
}

static bool
s_get_bool (const ts_mp_reader_t *map, const char *key, bool *is_nil)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    bool found = ts_cli_mp_find (map, key, &r) && ts_mp_next (&r, &it) == 0;
    if (is_nil)
        *is_nil = !found || it.type == TS_MP_NIL;
    return found && it.type == TS_MP_BOOL && it.b;
}

/*  Copies a string value (cut to fit); "" when absent or not a string. */
static void
s_get_str (const ts_mp_reader_t *map, const char *key, char *buf, size_t size)
{
    ts_mp_reader_map_copy_str (map, key, buf, size);
}

/* --- the state file ------------------------------------------------------------ */

int
ts_cli_state_load (const char *path, ts_cli_state_t *st)
{
    memset (st, 0, sizeof *st);
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    static char buf [1 << 16];          /* a few dozen processes: a few KB */
    ssize_t n = read (fd, buf, sizeof buf);
    int err = errno;
    close (fd);
    if (n < 0)
        return -err;
    ts_hdrin_t in;
    int rc = ts_hdr_parse (&in, buf, (size_t) n);
    if (rc)
        return rc == TS_EVERSION ? rc : TS_ECORRUPT;
    if (in.msg != TS_MSG_STATE)
        return TS_ECORRUPT;
    st->pid = ts_hdr_get_int (&in, "pid", 0);
    st->started_ms = ts_hdr_get_int (&in, "started_ms", 0);
    st->stopping = ts_hdr_get_bool (&in, "stopping", false);
    ts_mp_reader_t r;
    uint32_t count;
    if (!ts_hdr_find (&in, "processes", &r) || ts_mp_read_array (&r, &count))
        return TS_ECORRUPT;
    for (uint32_t i = 0; i < count && st->nprocs < TS_CLI_MAX_PROCS; i++) {
        ts_cli_proc_t *p = &st->procs [st->nprocs++];
        s_get_str (&r, "name", p->name, sizeof p->name);
        s_get_str (&r, "state", p->state, sizeof p->state);
        s_get_str (&r, "last_exit", p->last_exit, sizeof p->last_exit);
        p->pid = s_get_int (&r, "pid", 0);
        p->restarts = s_get_uint (&r, "restarts");
        p->started_ms = s_get_int (&r, "started_ms", 0);
        if (ts_mp_skip (&r))
            return TS_ECORRUPT;
    }
    return 0;
}

int
ts_cli_state_orphans (const ts_cli_state_t *st, const char *data, int idx [TS_CLI_MAX_PROCS])
{
    int n = 0;
    for (int i = 0; i < st->nprocs; i++) {
        pid_t pid = (pid_t) st->procs [i].pid;
        /* a pid alone may have been reused: it must still be one of ours,
         * started on this data directory */
        if (pid > 0 && ts_cli_pid_is_alive (pid)
        &&  ts_cli_pid_cmdline_has (pid, "trajstore-", data))
            idx [n++] = i;
    }
    return n;
}

int
ts_cli_http_url (const ts_cli_paths_t *p, char *buf, size_t size)
{
    char path [TS_PATH_MAX + 16];
    snprintf (path, sizeof path, "%s/http.addr", p->data);
    buf [0] = 0;
    FILE *f = fopen (path, "r");
    if (!f)
        return -errno;
    if (!fgets (buf, (int) size, f))
        buf [0] = 0;
    fclose (f);
    buf [strcspn (buf, "\r\n")] = 0;
    return buf [0] ? 0 : -ENOENT;
}

void
ts_cli_stop_orphans (const ts_cli_state_t *st, const int *idx, int n, int grace_ms)
{
    /* the same order as the supervisor's: workers, the gateway, the api,
     * the aggregator */
    static const char *const order [] = { "w", "http", "api", "aggregator" };
    for (int stage = 0; stage < 4; stage++) {
        pid_t pids [TS_CLI_MAX_PROCS];
        int m = 0;
        for (int k = 0; k < n; k++) {
            const ts_cli_proc_t *p = &st->procs [idx [k]];
            bool match = stage == 0 ? p->name [0] == 'w' : !strcmp (p->name, order [stage]);
            if (match && kill ((pid_t) p->pid, SIGTERM) == 0)
                pids [m++] = (pid_t) p->pid;
        }
        int64_t deadline = ts_mono_ms () + grace_ms;
        for (int k = 0; k < m; k++) {
            while (ts_cli_pid_is_alive (pids [k]) && ts_mono_ms () < deadline)
                ts_cli_sleep_ms (50);
            if (ts_cli_pid_is_alive (pids [k]))
                kill (pids [k], SIGKILL);
        }
    }
}

/* --- the aggregator ------------------------------------------------------------ */

int
ts_cli_request (const char *endpoint, ts_msg_t type, int timeout_ms, zframe_t **reply)
{
    *reply = NULL;
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock)
        return TS_ENOMEM;
    /* never wait at exit for a request nobody took */
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, timeout_ms);
    zsock_set_sndtimeo (sock, timeout_ms);
    int rc = TS_ETIMEOUT;
    char target [TS_PATH_MAX + 32];
    if (zsock_connect (sock, "%s", ts_config_connectable (endpoint, target, sizeof target)) == 0) {
        ts_hdr_t h = { 0 };
        ts_hdr_begin (&h, type, 0);
        if (ts_hdr_send (&h, zsock_resolve (sock), NULL, NULL, 0) == 0) {
            zmsg_t *msg = zmsg_recv (sock);
            if (msg) {
                *reply = zmsg_pop (msg);
                rc = *reply ? 0 : TS_EPROTO;
                zmsg_destroy (&msg);
            }
        }
        ts_hdr_free (&h);
    }
    else
        rc = TS_EINVAL;
    zsock_destroy (&sock);
    return rc;
}

/*  "0-7,9,12-15" from the shard numbers of an array, cut with "..." when
 *  it does not fit. */
static void
s_format_shards (ts_mp_reader_t *r, uint32_t count, char *buf, size_t size)
{
    size_t len = 0;
    int64_t first = -1, last = -2;
    buf [0] = 0;
    for (uint32_t i = 0; i <= count; i++) {
        uint64_t s = 0;
        bool end = i == count;
        if (!end && ts_mp_read_uint (r, &s))
            end = true;
        if (!end && (int64_t) s == last + 1) {
            last = (int64_t) s;
            continue;
        }
        if (first >= 0 && len + 1 < size) {
            int n = first == last
                  ? snprintf (buf + len, size - len, "%s%lld", len ? "," : "", (long long) first)
                  : snprintf (buf + len, size - len, "%s%lld-%lld", len ? "," : "",
                              (long long) first, (long long) last);
            if (n < 0 || (size_t) n >= size - len) {
                if (size > 4)
                    strcpy (buf + size - 4, "...");
                len = size;
            }
            else
                len += (size_t) n;
        }
        if (end)
            break;
        first = last = (int64_t) s;
    }
}

/*  w2 before w10: shorter names first, then in byte order. */
static int
s_worker_by_name (const void *a, const void *b)
{
    const ts_cli_worker_t *x = a, *y = b;
    size_t lx = strlen (x->name), ly = strlen (y->name);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp (x->name, y->name);
}

static int
s_job_newest_first (const void *a, const void *b)
{
    const ts_cli_job_t *x = a, *y = b;
    return x->started_ms < y->started_ms ? 1 : x->started_ms > y->started_ms ? -1 : 0;
}

int
ts_cli_agg_status_parse (const void *data, size_t len, ts_cli_agg_status_t *st,
                         char *err, size_t err_size)
{
    memset (st, 0, sizeof *st);
    ts_hdrin_t in;
    if (ts_hdr_parse (&in, data, len))
        return TS_EPROTO;
    if (!ts_hdr_get_bool (&in, "ok", false)) {
        ts_mp_reader_t e;
        snprintf (err, err_size, "the aggregator answered with an error");
        if (ts_hdr_find (&in, "error", &e))
            s_get_str (&e, "message", err, err_size);
        return TS_EBADREQ;
    }
    if (in.msg != TS_MSG_STATUS)
        return TS_EPROTO;
    st->epoch = ts_hdr_get_uint (&in, "epoch", 0);
    st->nshards = ts_hdr_get_uint (&in, "nshards", 0);
    st->incarnation = ts_hdr_get_uint (&in, "incarnation", 0);
    st->uptime_ms = ts_hdr_get_int (&in, "uptime_ms", 0);
    st->stats_complete = ts_hdr_get_bool (&in, "stats_complete", false);
    st->queued_chunks = ts_hdr_get_uint (&in, "queued_chunks", 0);

    ts_mp_reader_t r;
    uint32_t count;
    if (!ts_hdr_find (&in, "workers", &r) || ts_mp_read_array (&r, &count))
        return TS_EPROTO;
    for (uint32_t i = 0; i < count; i++) {
        if (st->nworkers < (int) (sizeof st->workers / sizeof st->workers [0])) {
            ts_cli_worker_t *w = &st->workers [st->nworkers++];
            s_get_str (&r, "name", w->name, sizeof w->name);
            s_get_str (&r, "error", w->error, sizeof w->error);
            w->pid = s_get_int (&r, "pid", 0);
            w->alive = s_get_bool (&r, "alive", NULL);
            w->queued = (int) s_get_int (&r, "queued", 0);
            ts_mp_reader_t sh;
            uint32_t ns;
            if (ts_cli_mp_find (&r, "shards", &sh) && ts_mp_read_array (&sh, &ns) == 0) {
                w->nshards = ns;
                ts_mp_reader_t list = sh;
                s_format_shards (&list, ns, w->shards, sizeof w->shards);
            }
            if (w->alive) {
                st->alive++;
                st->assigned += w->nshards;
            }
        }
        if (ts_mp_skip (&r))
            return TS_EPROTO;
    }
    qsort (st->workers, (size_t) st->nworkers, sizeof st->workers [0], s_worker_by_name);
    if (ts_hdr_find (&in, "jobs", &r) && ts_mp_read_array (&r, &count) == 0) {
        for (uint32_t i = 0; i < count; i++) {
            if (st->njobs < (int) (sizeof st->jobs / sizeof st->jobs [0])) {
                ts_cli_job_t *j = &st->jobs [st->njobs++];
                s_get_str (&r, "job", j->job, sizeof j->job);
                s_get_str (&r, "src", j->src, sizeof j->src);
                s_get_str (&r, "state", j->state, sizeof j->state);
                j->lines = s_get_uint (&r, "lines");
                j->imported = s_get_uint (&r, "imported");
                j->duplicates = s_get_uint (&r, "duplicates");
                j->rejected = s_get_uint (&r, "rejected");
                j->chunks_acked = s_get_uint (&r, "chunks_acked");
                j->chunks = s_get_uint (&r, "chunks");
                j->started_ms = s_get_int (&r, "started_ms", 0);
                j->updated_ms = s_get_int (&r, "updated_ms", 0);
                bool nil;
                (void) s_get_bool (&r, "finished_ms", &nil);
                j->finished = !nil;
                j->finished_ms = s_get_int (&r, "finished_ms", 0);
            }
            if (ts_mp_skip (&r))
                return TS_EPROTO;
        }
        qsort (st->jobs, (size_t) st->njobs, sizeof st->jobs [0], s_job_newest_first);
    }
    return 0;
}

const ts_cli_worker_t *
ts_cli_agg_worker (const ts_cli_agg_status_t *st, const char *name)
{
    for (int i = 0; i < st->nworkers; i++)
        if (!strcmp (st->workers [i].name, name))
            return &st->workers [i];
    return NULL;
}
