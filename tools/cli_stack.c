/*  cli_stack.c: `trajstore up`, `down` and `supervise`: starting and
 *  stopping a one-machine stack (cli_common.h, cli_supervisor.h).
 *
 *  `up` takes the pid file's lock (flock, so a supervisor that died leaves
 *  no lock behind, whatever its pid file says), then double-forks a
 *  supervisor that execs `trajstore supervise`, handing it the locked file
 *  and a pipe. The supervisor keeps the lock for its whole life, writes
 *  its pid, starts the children and says "ok" (or why not) on the pipe;
 *  `up` then waits until the aggregator reports every worker alive, every
 *  shard owned and the statistics complete (rebuilt from the shards'
 *  snapshots after a start), and the api answers a count from every
 *  shard: when `up` returns, the first query is answered at the speed of
 *  the ones after it (docs/DESIGN.md, "Decisions": first answers).
 */
#include "cli_common.h"
#include "cli_query.h"
#include "cli_supervisor.h"
#include "ts_config.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_NOTIFY_MS   10000     /* the supervisor says ok within this */
#define S_DOWN_MS     ((TS_SUPERVISOR_STOP_MS) * 4 + 5000)   /* four stages */
#define S_HTTP_WAIT_MS 3000     /* `up` waits this long for the gateway's URL */

/*  Reads an unsigned number in [lo, hi] from an option's value; prints the
 *  problem and returns false otherwise. */
static bool
s_parse_count (const char *cmd, const char *opt, const char *text, long lo, long hi,
               unsigned *value)
{
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf (stderr, "trajstore %s: %s wants a number in %ld..%ld, got '%s'\n",
                 cmd, opt, lo, hi, text);
        ts_cli_usage (stderr, cmd);
        return false;
    }
    *value = (unsigned) v;
    return true;
}

static int
s_paths_error (const char *cmd, int rc)
{
    if (rc == TS_ETOOBIG)
        fprintf (stderr, "trajstore %s: the data directory's path is too long "
                 "(ipc socket paths are limited to 107 bytes)\n", cmd);
    else
        fprintf (stderr, "trajstore %s: cannot make the data directory: %s\n",
                 cmd, ts_strerror (rc));
    return 1;
}

/*  Opens the pid file and takes its lock without waiting. Returns the fd
 *  (close-on-exec), or -1 with errno (EWOULDBLOCK: a supervisor holds it). */
static int
s_lock_pid_file (const char *path)
{
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock (fd, LOCK_EX | LOCK_NB)) {
        int err = errno;
        close (fd);
        errno = err;
        return -1;
    }
    return fd;
}

static long
s_read_pid (int fd)
{
    char buf [32];
    ssize_t n = pread (fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf [n] = 0;
    return strtol (buf, NULL, 10);
}

/* --- up ---------------------------------------------------------------------- */

typedef struct {
    unsigned    workers;
    unsigned    shards;
    const char *log_level;
    const char *http;           /* the gateway's address, NULL: its default */
    bool        no_http;
    const char *compress;       /* --compress, NULL: as the store says */
} s_up_opts_t;

/*  Closes every descriptor from 3 up but `keep1` and `keep2`: a daemon
 *  that kept a pipe of whoever ran `up` open would make them wait for an
 *  end of file that never comes (a shell's $(...), a test runner). */
static void
s_close_inherited (int keep1, int keep2)
{
    int fds [1024], n = 0;
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return;
    struct dirent *e;
    while ((e = readdir (dir)) && n < (int) (sizeof fds / sizeof fds [0])) {
        int fd = atoi (e->d_name);
        if (fd > 2 && fd != keep1 && fd != keep2 && fd != dirfd (dir))
            fds [n++] = fd;
    }
    closedir (dir);
    for (int i = 0; i < n; i++)
        close (fds [i]);
}

/*  In the grandchild: become `trajstore supervise`, keeping the lock and
 *  the notify pipe open across exec. Never returns. */
static void
s_exec_supervisor (const ts_cli_paths_t *p, const s_up_opts_t *o, int lock_fd, int notify_fd)
{
    char exe [PATH_MAX], workers [16], shards [16], lock [16], notify [16];
    ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe [n] = 0;
        fcntl (lock_fd, F_SETFD, 0);
        fcntl (notify_fd, F_SETFD, 0);
        snprintf (workers, sizeof workers, "%u", o->workers);
        snprintf (shards, sizeof shards, "%u", o->shards);
        snprintf (lock, sizeof lock, "%d", lock_fd);
        snprintf (notify, sizeof notify, "%d", notify_fd);
        char *argv [20];
        int a = 0;
        argv [a++] = exe;
        argv [a++] = "supervise";
        argv [a++] = "--data";       argv [a++] = (char *) p->data;
        argv [a++] = "--workers";    argv [a++] = workers;
        if (o->shards) {
            argv [a++] = "--shards";   argv [a++] = shards;
        }
        if (o->log_level) {
            argv [a++] = "--log-level"; argv [a++] = (char *) o->log_level;
        }
        if (o->http) {
            argv [a++] = "--http";     argv [a++] = (char *) o->http;
        }
        if (o->no_http)
            argv [a++] = "--no-http";
        argv [a++] = "--lock-fd";    argv [a++] = lock;
        argv [a++] = "--notify-fd";  argv [a++] = notify;
        argv [a] = NULL;
        execv (exe, argv);
    }
    dprintf (notify_fd, "error cannot run the supervisor (%s): %s\n",
             n > 0 ? exe : "/proc/self/exe", strerror (errno));
    _exit (127);
}

/*  Starts the supervisor in the background, detached (double fork and
 *  setsid: it is nobody's child and can never get a terminal). Waits for
 *  its "ok". Returns its pid, or 0 after printing why it did not start. */
static pid_t
s_start_supervisor (const ts_cli_paths_t *p, const s_up_opts_t *o, int lock_fd)
{
    int pipefd [2];
    if (pipe2 (pipefd, O_CLOEXEC)) {
        fprintf (stderr, "trajstore up: pipe: %s\n", strerror (errno));
        return 0;
    }
    fflush (NULL);                      /* no buffered output twice */
    pid_t child = fork ();
    if (child < 0) {
        fprintf (stderr, "trajstore up: fork: %s\n", strerror (errno));
        close (pipefd [0]);
        close (pipefd [1]);
        return 0;
    }
    if (child == 0) {
        close (pipefd [0]);
        setsid ();
        pid_t grandchild = fork ();
        if (grandchild == 0) {
            /* nothing of the caller's terminal or pipes goes with us: the
             * supervisor's output goes to its log, its words to the pipe.
             * (The two we keep move above 2 first, should the caller have
             * run us with a standard descriptor closed.) */
            int lock = lock_fd > 2 ? lock_fd : fcntl (lock_fd, F_DUPFD_CLOEXEC, 3);
            int notify = pipefd [1] > 2 ? pipefd [1] : fcntl (pipefd [1], F_DUPFD_CLOEXEC, 3);
            int null = open ("/dev/null", O_RDWR);
            if (null >= 0) {
                dup2 (null, STDIN_FILENO);
                dup2 (null, STDOUT_FILENO);
                dup2 (null, STDERR_FILENO);
                if (null > 2)
                    close (null);
            }
            s_close_inherited (lock, notify);
            s_exec_supervisor (p, o, lock, notify);
        }
        if (grandchild < 0)
            dprintf (pipefd [1], "error fork: %s\n", strerror (errno));
        _exit (0);
    }
    close (pipefd [1]);
    waitpid (child, NULL, 0);

    /* the supervisor's first words: "ok PID" or "error MESSAGE" */
    char msg [1024];
    size_t len = 0;
    int64_t deadline = ts_mono_ms () + S_NOTIFY_MS;
    while (len < sizeof msg - 1) {
        struct pollfd pfd = { pipefd [0], POLLIN, 0 };
        int64_t left = deadline - ts_mono_ms ();
        if (left <= 0 || poll (&pfd, 1, (int) left) <= 0)
            break;
        ssize_t n = read (pipefd [0], msg + len, sizeof msg - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
        if (memchr (msg, '\n', len))
            break;
    }
    close (pipefd [0]);
    msg [len] = 0;
    msg [strcspn (msg, "\n")] = 0;
    if (!strncmp (msg, "ok ", 3))
        return (pid_t) strtol (msg + 3, NULL, 10);
    char log [TS_PATH_MAX + 32];
    snprintf (log, sizeof log, "%s/supervisor.log", p->logs);
    if (!strncmp (msg, "error ", 6))
        fprintf (stderr, "trajstore up: the supervisor did not start: %s\n", msg + 6);
    else {
        /* it died or hangs without a word: its log may say why */
        fprintf (stderr, "trajstore up: the supervisor did not report within %d s\n",
                 S_NOTIFY_MS / 1000);
        ts_cli_print_log_tail (stderr, log, TS_CLI_LOG_TAIL);
    }
    return 0;
}

/*  True when the aggregator answers and reports `workers` live workers
 *  (w1..wN) owning every shard, and its statistics complete (every shard
 *  opened by its owner and its snapshot merged); also true, with *broken
 *  set to that worker, when everything but the statistics is there and a
 *  worker reports an error (a shard it cannot open): waiting longer would
 *  not help. Fills *st when it answered. */
static bool
s_stack_is_ready (const ts_cli_paths_t *p, unsigned workers, ts_cli_agg_status_t *st,
                  bool *answered, const ts_cli_worker_t **broken)
{
    zframe_t *reply = NULL;
    *answered = false;
    *broken = NULL;
    if (ts_cli_request (p->query, TS_MSG_STATUS, 500, &reply))
        return false;
    char err [256];
    int rc = ts_cli_agg_status_parse (zframe_data (reply), zframe_size (reply), st,
                                      err, sizeof err);
    zframe_destroy (&reply);
    if (rc)
        return false;
    *answered = true;
    const ts_cli_worker_t *failing = NULL;
    for (unsigned i = 1; i <= workers; i++) {
        char name [16];
        snprintf (name, sizeof name, "w%u", i);
        const ts_cli_worker_t *w = ts_cli_agg_worker (st, name);
        if (!w || !w->alive)
            return false;
        if (w->error [0] && !failing)
            failing = w;
    }
    if (!st->nshards || st->assigned != st->nshards)
        return false;
    if (!st->stats_complete && failing)
        *broken = failing;
    return st->stats_complete || failing;
}

/*  Asks the api for a count of every record, which needs its shard map,
 *  its connections to every worker and every worker's shards open: the
 *  path of every read. Returns 0 once answered, else why not in `why`. */
static int
s_api_answers (const ts_cli_paths_t *p, int64_t deadline, char *why, size_t why_size)
{
    s_client_t c;
    if (cq_client_open (&c, "up", p->data, NULL)) {
        snprintf (why, why_size, "the api does not listen on %s", p->api);
        return -1;
    }
    ts_req_t q = { 0 };
    ts_req_begin (&q, "count");
    int rc = -1;
    while (rc && ts_mono_ms () < deadline) {
        c.answer_ms = deadline - ts_mono_ms ();
        rc = cq_client_call (&c, &q);
        if (rc)
            ts_cli_sleep_ms (100);      /* an error reply: the map may be moving */
    }
    if (rc)
        snprintf (why, why_size, "the api at %s does not answer a count", p->api);
    ts_req_free (&q);
    cq_client_close (&c);
    return rc ? -1 : 0;
}

/*  After a timeout: names what is missing and shows the tail of its log. */
static void
s_explain_not_ready (const ts_cli_paths_t *p, unsigned workers, bool answered,
                     const ts_cli_agg_status_t *st)
{
    char what [TS_PATH_MAX + 128], log [TS_PATH_MAX + 64], wname [16];
    const char *name = "aggregator";
    if (!answered)
        snprintf (what, sizeof what, "the aggregator does not answer on %s", p->query);
    else {
        name = NULL;
        for (unsigned i = 1; i <= workers && !name; i++) {
            snprintf (wname, sizeof wname, "w%u", i);
            const ts_cli_worker_t *w = ts_cli_agg_worker (st, wname);
            if (!w || !w->alive) {
                name = wname;
                snprintf (what, sizeof what, "worker %s %s", wname,
                          w ? "is registered but not alive" : "never registered with the aggregator");
            }
        }
        if (!name) {
            name = "aggregator";
            if (st->assigned < st->nshards || !st->nshards)
                snprintf (what, sizeof what, "only %u of %llu shards are assigned to live workers",
                          st->assigned, (unsigned long long) st->nshards);
            else
                snprintf (what, sizeof what, "the statistics are still being rebuilt from the "
                          "snapshots of %llu shards (queries of records are answered already)",
                          (unsigned long long) st->nshards);
        }
    }
    fprintf (stderr, "trajstore up: not ready after %d s: %s\n", TS_CLI_UP_TIMEOUT_MS / 1000, what);
    ts_cli_state_t state;
    if (ts_cli_state_load (p->state_file, &state) == 0)
        for (int i = 0; i < state.nprocs; i++)
            if (!strcmp (state.procs [i].name, name) && state.procs [i].restarts > 0)
                fprintf (stderr, "  %s was restarted %llu times (last exit: %s)\n", name,
                         (unsigned long long) state.procs [i].restarts,
                         state.procs [i].last_exit [0] ? state.procs [i].last_exit : "-");
    snprintf (log, sizeof log, "%s/%s.log", p->logs, name);
    ts_cli_print_log_tail (stderr, log, TS_CLI_LOG_TAIL);
    fprintf (stderr, "the stack keeps trying in the background; stop it with: "
             "trajstore down --data %s\n", p->data);
}

/*  The gateway's line: its URL once it listens (it writes DATA/http.addr),
 *  or why there is none. */
static void
s_print_http (const ts_cli_paths_t *p, bool wanted)
{
    char bin [TS_PATH_MAX], url [256];
    if (!wanted || ts_cli_find_binary ("trajstore-http", "http", bin, sizeof bin)) {
        printf ("  http     not started (%s)\n", wanted ? "no trajstore-http program" : "--no-http");
        return;
    }
    int64_t deadline = ts_mono_ms () + S_HTTP_WAIT_MS;
    while (ts_cli_http_url (p, url, sizeof url) && ts_mono_ms () < deadline)
        ts_cli_sleep_ms (50);
    if (url [0])
        printf ("  http     %s\n", url);
    else
        printf ("  http     not listening yet (see %s/http.log)\n", p->logs);
}

static void
s_print_summary (const ts_cli_paths_t *p, const s_up_opts_t *o, pid_t sup,
                 const ts_cli_agg_status_t *st)
{
    char api [TS_PATH_MAX];
    bool has_api = ts_cli_find_binary ("trajstore-api", "api", api, sizeof api) == 0;
    printf ("trajstore is up (supervisor pid %d)\n", (int) sup);
    printf ("  data     %s\n", p->data);
    printf ("  ingest   %s\n", p->ingest);
    printf ("  query    %s\n", p->query);
    if (has_api)
        printf ("  api      %s\n", p->api);
    else
        printf ("  api      not started (no trajstore-api program)\n");
    s_print_http (p, has_api && !o->no_http);
    printf ("  shards   %llu (epoch %llu)\n", (unsigned long long) st->nshards,
            (unsigned long long) st->epoch);
    printf ("  workers  %u:", st->alive);
    for (int i = 0; i < st->nworkers; i++)
        if (st->workers [i].alive)
            printf (" %s (pid %lld, %u shards)", st->workers [i].name,
                    (long long) st->workers [i].pid, st->workers [i].nshards);
    printf ("\n  logs     %s/\n", p->logs);
    printf ("stop with: trajstore down --data %s\n", p->data);
}

int
ts_cli_cmd_up (int argc, char **argv)
{
    static struct option opts [] = {
        { "workers", required_argument, 0, 'w' }, { "data", required_argument, 0, 'd' },
        { "shards", required_argument, 0, 's' }, { "log-level", required_argument, 0, 'l' },
        { "http", required_argument, 0, 'H' }, { "no-http", no_argument, 0, 'n' },
        { "compress", required_argument, 0, 'c' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    s_up_opts_t o = { 2, 0, NULL, NULL, false, NULL };
    ts_compress_t compress;
    const char *data = NULL;
    ts_log_level_t level;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (!s_parse_count ("up", "--workers", optarg, 1, TS_CLI_MAX_WORKERS, &o.workers))
                return 2;
            break;
        case 's':
            if (!s_parse_count ("up", "--shards", optarg, 1, TS_MAX_SHARDS, &o.shards))
                return 2;
            break;
        case 'd': data = optarg; break;
        case 'l':
            if (!ts_log_level_parse (optarg, &level)) {
                fprintf (stderr, "trajstore up: bad --log-level '%s' (debug, info, warn, error)\n", optarg);
                ts_cli_usage (stderr, "up");
                return 2;
            }
            o.log_level = optarg;
            break;
        case 'H': o.http = optarg; break;
        case 'n': o.no_http = true; break;
        case 'c':
            if (ts_compress_parse (optarg, &compress)) {
                fprintf (stderr, "trajstore up: bad --compress '%s' (none, fast, small)\n", optarg);
                ts_cli_usage (stderr, "up");
                return 2;
            }
            o.compress = optarg;
            break;
        case 'h': ts_cli_usage (stdout, "up"); return 0;
        default: ts_cli_usage (stderr, "up"); return 2;
        }
    }
    if (optind < argc) {
        ts_cli_usage (stderr, "up");
        return 2;
    }
    ts_cli_paths_t p;
    int rc = ts_cli_paths_init (&p, data, true);
    if (rc)
        return s_paths_error ("up", rc);

    int lock_fd = s_lock_pid_file (p.pid_file);
    if (lock_fd < 0 && errno == EWOULDBLOCK) {
        pid_t pid = ts_cli_supervisor_pid (&p);
        char who [48] = "";
        if (pid)
            snprintf (who, sizeof who, " (supervisor pid %d)", (int) pid);
        fprintf (stderr, "trajstore up: trajstore is already running for %s%s\n"
                 "stop it first with: trajstore down --data %s\n", p.data, who, p.data);
        return 1;
    }
    if (lock_fd < 0) {
        fprintf (stderr, "trajstore up: cannot open %s: %s\n", p.pid_file, strerror (errno));
        return 1;
    }
    /* processes of an earlier supervisor that was killed would fight the
     * new ones for the sockets and shard files */
    ts_cli_state_t state;
    int orphans [TS_CLI_MAX_PROCS];
    int norphans = ts_cli_state_load (p.state_file, &state) == 0
                 ? ts_cli_state_orphans (&state, p.data, orphans) : 0;
    if (norphans > 0) {
        fprintf (stderr, "trajstore up: processes of an earlier run are still alive:");
        for (int i = 0; i < norphans; i++)
            fprintf (stderr, " %s (pid %lld)", state.procs [orphans [i]].name,
                     (long long) state.procs [orphans [i]].pid);
        fprintf (stderr, "\nstop them first with: trajstore down --data %s\n", p.data);
        unlink (p.pid_file);            /* ours, locked: no supervisor runs */
        close (lock_fd);
        return 1;
    }

    long stale = s_read_pid (lock_fd);
    if (stale > 0) {
        /* nobody held the lock: the supervisor that wrote this is gone */
        fprintf (stderr, "trajstore up: removed a stale pid file (supervisor pid %ld is gone)\n", stale);
        if (ftruncate (lock_fd, 0)) { /* rewritten by the new supervisor anyway */ }
    }
    if (o.compress) {                   /* the store keeps it: later ups need not say it */
        char err [TS_PATH_MAX + 128];
        if (ts_config_compress_write (p.data, compress, err, sizeof err)) {
            fprintf (stderr, "trajstore up: %s\n", err);
            unlink (p.pid_file);
            close (lock_fd);
            return 1;
        }
    }

    pid_t sup = s_start_supervisor (&p, &o, lock_fd);
    close (lock_fd);                    /* the supervisor holds the lock now */
    if (!sup)
        return 1;

    ts_cli_agg_status_t *st = calloc (1, sizeof *st);
    if (!st) {
        fprintf (stderr, "trajstore up: out of memory\n");
        return 1;
    }
    bool answered = false, ready = false;
    const ts_cli_worker_t *broken = NULL;
    int64_t deadline = ts_mono_ms () + TS_CLI_UP_TIMEOUT_MS;
    while (!(ready = s_stack_is_ready (&p, o.workers, st, &answered, &broken))) {
        if (!ts_cli_pid_is_alive (sup)) {
            char log [TS_PATH_MAX + 32];
            snprintf (log, sizeof log, "%s/supervisor.log", p.logs);
            fprintf (stderr, "trajstore up: the supervisor (pid %d) exited\n", (int) sup);
            ts_cli_print_log_tail (stderr, log, TS_CLI_LOG_TAIL);
            free (st);
            return 2;
        }
        if (ts_mono_ms () >= deadline)
            break;
        ts_cli_sleep_ms (100);
    }
    char why [TS_PATH_MAX + 64];
    char api_bin [TS_PATH_MAX];
    if (!ready)
        s_explain_not_ready (&p, o.workers, answered, st);
    else if (broken)
        fprintf (stderr, "trajstore up: worker %s reports: %s\n"
                 "  statistics and reads of its shards wait until that is fixed "
                 "(trajstore health --data %s)\n", broken->name, broken->error, p.data);
    else if (ts_cli_find_binary ("trajstore-api", "api", api_bin, sizeof api_bin) == 0
         &&  s_api_answers (&p, deadline, why, sizeof why)) {
        ready = false;
        fprintf (stderr, "trajstore up: not ready after %d s: %s\n", TS_CLI_UP_TIMEOUT_MS / 1000, why);
        char log [TS_PATH_MAX + 32];
        snprintf (log, sizeof log, "%s/api.log", p.logs);
        ts_cli_print_log_tail (stderr, log, TS_CLI_LOG_TAIL);
        fprintf (stderr, "the stack keeps trying in the background; stop it with: "
                 "trajstore down --data %s\n", p.data);
    }
    if (ready)
        s_print_summary (&p, &o, sup, st);
    free (st);
    return ready ? 0 : 2;
}

/* --- supervise ------------------------------------------------------------------ */

static void
s_on_sigchld (int sig)
{
    (void) sig;                         /* only so SIGCHLD is not ignored */
}

int
ts_cli_cmd_supervise (int argc, char **argv)
{
    static struct option opts [] = {
        { "workers", required_argument, 0, 'w' }, { "data", required_argument, 0, 'd' },
        { "shards", required_argument, 0, 's' }, { "log-level", required_argument, 0, 'l' },
        { "lock-fd", required_argument, 0, 'L' }, { "notify-fd", required_argument, 0, 'N' },
        { "http", required_argument, 0, 'H' }, { "no-http", no_argument, 0, 'n' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *http = NULL;
    bool no_http = false;
    unsigned workers = 2, shards = 0, lock = 0, notify = 0;
    bool has_lock = false, has_notify = false;
    const char *data = NULL, *log_level = NULL;
    ts_log_level_t level = TS_LOG_INFO;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'w':
            if (!s_parse_count ("supervise", "--workers", optarg, 1, TS_CLI_MAX_WORKERS, &workers))
                return 2;
            break;
        case 's':
            if (!s_parse_count ("supervise", "--shards", optarg, 1, TS_MAX_SHARDS, &shards))
                return 2;
            break;
        case 'L':
            if (!s_parse_count ("supervise", "--lock-fd", optarg, 0, INT_MAX, &lock))
                return 2;
            has_lock = true;
            break;
        case 'N':
            if (!s_parse_count ("supervise", "--notify-fd", optarg, 0, INT_MAX, &notify))
                return 2;
            has_notify = true;
            break;
        case 'd': data = optarg; break;
        case 'l':
            if (!ts_log_level_parse (optarg, &level)) {
                fprintf (stderr, "trajstore supervise: bad --log-level '%s'\n", optarg);
                ts_cli_usage (stderr, "supervise");
                return 2;
            }
            log_level = optarg;
            break;
        case 'H': http = optarg; break;
        case 'n': no_http = true; break;
        case 'h': ts_cli_usage (stdout, "supervise"); return 0;
        default: ts_cli_usage (stderr, "supervise"); return 2;
        }
    }
    if (optind < argc) {
        ts_cli_usage (stderr, "supervise");
        return 2;
    }
    int notify_fd = has_notify ? (int) notify : -1;
    if (notify_fd >= 0)
        fcntl (notify_fd, F_SETFD, FD_CLOEXEC);     /* never to the children */
    ts_cli_paths_t p;
    int rc = ts_cli_paths_init (&p, data, true);
    if (rc) {
        if (notify_fd >= 0)
            dprintf (notify_fd, "error bad data directory: %s\n", ts_strerror (rc));
        return s_paths_error ("supervise", rc);
    }
    ts_log_init ("supervisor", level);

    /* Run by `up`: the lock comes with us. Run by hand (in a container, or
     * under another service manager), in the foreground: take it here. */
    int lock_fd = has_lock ? (int) lock : s_lock_pid_file (p.pid_file);
    if (lock_fd < 0) {
        fprintf (stderr, "trajstore supervise: %s\n", errno == EWOULDBLOCK
                 ? "a supervisor is already running for this data directory"
                 : strerror (errno));
        return 1;
    }
    fcntl (lock_fd, F_SETFD, FD_CLOEXEC);
    if (has_notify) {
        /* in the background: our output goes to our log, not a terminal */
        char log [TS_PATH_MAX + 32];
        snprintf (log, sizeof log, "%s/supervisor.log", p.logs);
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
            close (fd);
        }
        if (null >= 0) {
            dup2 (null, STDIN_FILENO);
            close (null);
        }
        if (chdir ("/")) { /* nothing depends on it: paths are absolute */ }
    }
    char pid [32];
    int n = snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
    if (ftruncate (lock_fd, 0) || pwrite (lock_fd, pid, (size_t) n, 0) != n)
        ts_warn ("cannot write %s: %s", p.pid_file, strerror (errno));

    /* the workers of one machine each bind their own socket: variables
     * meant for a single container's worker must not reach all of them */
    unsetenv ("TRAJSTORE_WORKER_NAME");
    unsetenv ("TRAJSTORE_PEER_BIND");
    unsetenv ("TRAJSTORE_PEER_ADVERTISE");

    sigset_t set;
    ts_supervisor_sigset (&set);
    sigprocmask (SIG_BLOCK, &set, NULL);
    signal (SIGCHLD, s_on_sigchld);
    signal (SIGPIPE, SIG_IGN);

    char err [512];
    ts_supervisor_config_t cfg = { p.data, p.logs, p.state_file, workers, shards, log_level,
                                   http, no_http };
    ts_supervisor_t *sup = ts_supervisor_new (&cfg, err, sizeof err);
    rc = sup ? ts_supervisor_start (sup, err, sizeof err) : -1;
    if (rc) {
        ts_error ("%s", err);
        if (notify_fd >= 0)
            dprintf (notify_fd, "error %s\n", err);
        if (sup)
            ts_supervisor_stop (sup);
        ts_supervisor_destroy (&sup);
        unlink (p.pid_file);
        close (lock_fd);
        return 1;
    }
    if (notify_fd >= 0) {
        dprintf (notify_fd, "ok %d\n", (int) getpid ());
        close (notify_fd);
    }
    ts_supervisor_run (sup);
    ts_supervisor_destroy (&sup);
    /* unlink while still holding the lock, so a new `up` never finds our
     * file after we are gone and mistakes it for a live one */
    unlink (p.pid_file);
    close (lock_fd);
    ts_info ("stopped");
    return 0;
}

/* --- down ----------------------------------------------------------------------- */

int
ts_cli_cmd_down (int argc, char **argv)
{
    static struct option opts [] = {
        { "data", required_argument, 0, 'd' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'h': ts_cli_usage (stdout, "down"); return 0;
        default: ts_cli_usage (stderr, "down"); return 2;
        }
    }
    if (optind < argc) {
        ts_cli_usage (stderr, "down");
        return 2;
    }
    ts_cli_paths_t p;
    int rc = ts_cli_paths_init (&p, data, false);
    if (rc)
        return s_paths_error ("down", rc);

    pid_t sup = ts_cli_supervisor_pid (&p);
    if (sup && kill (sup, SIGTERM) == 0) {
        int64_t deadline = ts_mono_ms () + S_DOWN_MS;
        while (ts_cli_pid_is_alive (sup) && ts_mono_ms () < deadline)
            ts_cli_sleep_ms (50);
        if (ts_cli_pid_is_alive (sup)) {
            fprintf (stderr, "trajstore down: the supervisor (pid %d) did not stop within %d s: "
                     "killing it\n", (int) sup, S_DOWN_MS / 1000);
            kill (sup, SIGKILL);
        }
    }
    /* whatever a killed supervisor left behind: its children, its pid file */
    ts_cli_state_t state;
    int orphans [TS_CLI_MAX_PROCS];
    int norphans = ts_cli_state_load (p.state_file, &state) == 0
                 ? ts_cli_state_orphans (&state, p.data, orphans) : 0;
    if (norphans > 0) {
        fprintf (stderr, "trajstore down: stopping %d process%s left by a supervisor that died\n",
                 norphans, norphans > 1 ? "es" : "");
        ts_cli_stop_orphans (&state, orphans, norphans, TS_SUPERVISOR_STOP_MS);
    }
    if (!sup) {
        /* a pid file nobody holds locked is stale; one that is locked
         * belongs to a supervisor that is starting: leave it */
        int fd = s_lock_pid_file (p.pid_file);
        if (fd >= 0) {
            unlink (p.pid_file);
            close (fd);
        }
        if (norphans == 0) {
            printf ("trajstore is not running for %s\n", p.data);
            return 0;
        }
    }
    printf ("stopped\n");
    return 0;
}
