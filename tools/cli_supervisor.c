/*  cli_supervisor.c: starts, restarts and stops the processes of a
 *  one-machine stack (cli_supervisor.h).
 *
 *  One thread, no handlers: the run loop waits in sigtimedwait for a
 *  child's exit, a stop signal, or the time of the next restart, so every
 *  decision is taken in one place, in order.
 */
#include "cli_supervisor.h"
#include "cli_common.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef enum { S_AGGREGATOR, S_WORKER, S_API, S_HTTP } s_role_t;
typedef enum { S_STOPPED, S_RUNNING, S_BACKOFF } s_state_t;

static const char *const s_state_names [] = { "stopped", "running", "backoff" };

#define S_MAX_ARGS 12

typedef struct {
    char      name [32];
    s_role_t  role;
    char      program [TS_PATH_MAX];
    char     *argv [S_MAX_ARGS + 1];   /* owned, NULL-terminated */
    char      log_path [TS_PATH_MAX];
    s_state_t state;
    pid_t     pid;
    int64_t   started_mono;
    int64_t   started_wall;
    int64_t   restart_at;              /* monotonic, in S_BACKOFF */
    int64_t   backoff_ms;              /* the delay before the next restart */
    uint64_t  restarts;
    char      last_exit [64];
} s_child_t;

struct ts_supervisor {
    char       data_dir [TS_PATH_MAX];
    char       state_file [TS_PATH_MAX];
    char       state_tmp [TS_PATH_MAX + 8];
    s_child_t *children;
    int        nchildren;
    bool       stopping;
    bool       state_warned;           /* a failed state write is logged once */
    int64_t    started_wall;
    ts_hdr_t   hdr;                    /* scratch for the state file */
};

/* --- building ---------------------------------------------------------------- */

/*  Sets the child's argv from the NULL-terminated list of strings that
 *  follows (copied). Returns 0 or TS_ENOMEM. */
static int
s_set_argv (s_child_t *c, ...)
{
    va_list ap;
    int n = 0, rc = 0;
    va_start (ap, c);
    for (const char *a; (a = va_arg (ap, const char *)) && n < S_MAX_ARGS; n++)
        if (!(c->argv [n] = strdup (a)))
            rc = TS_ENOMEM;
    va_end (ap);
    c->argv [n] = NULL;
    return rc;
}

/*  Appends "--flag value" to the child's argv when value is not NULL. */
static int
s_add_opt (s_child_t *c, const char *flag, const char *value)
{
    int n = 0;
    if (!value)
        return 0;
    while (c->argv [n])
        n++;
    if (n + 2 > S_MAX_ARGS)
        return TS_ETOOBIG;
    if (!(c->argv [n] = strdup (flag)) || !(c->argv [n + 1] = strdup (value)))
        return TS_ENOMEM;
    c->argv [n + 2] = NULL;
    return 0;
}

ts_supervisor_t *
ts_supervisor_new (const ts_supervisor_config_t *cfg, char *err, size_t err_size)
{
    char agg [TS_PATH_MAX], worker [TS_PATH_MAX], api [TS_PATH_MAX];
    if (ts_cli_find_binary ("trajstore-aggregator", "aggregator", agg, sizeof agg)) {
        snprintf (err, err_size, "trajstore-aggregator not found next to trajstore nor on PATH");
        return NULL;
    }
    if (ts_cli_find_binary ("trajstore-worker", "workers", worker, sizeof worker)) {
        snprintf (err, err_size, "trajstore-worker not found next to trajstore nor on PATH");
        return NULL;
    }
    bool has_api = ts_cli_find_binary ("trajstore-api", "api", api, sizeof api) == 0;
    char http [TS_PATH_MAX];
    bool has_http = has_api && !cfg->no_http
                 && ts_cli_find_binary ("trajstore-http", "http", http, sizeof http) == 0;

    ts_supervisor_t *self = calloc (1, sizeof *self);
    if (!self)
        goto nomem;
    snprintf (self->data_dir, sizeof self->data_dir, "%s", cfg->data_dir);
    snprintf (self->state_file, sizeof self->state_file, "%s", cfg->state_file);
    snprintf (self->state_tmp, sizeof self->state_tmp, "%s.tmp", cfg->state_file);
    self->nchildren = 1 + (int) cfg->workers + (has_api ? 1 : 0) + (has_http ? 1 : 0);
    self->children = calloc ((size_t) self->nchildren, sizeof *self->children);
    if (!self->children)
        goto nomem;

    char shards [16], nworkers [16];
    snprintf (shards, sizeof shards, "%u", cfg->shards);
    snprintf (nworkers, sizeof nworkers, "%u", cfg->workers);
    int rc = 0;
    for (int i = 0; i < self->nchildren; i++) {
        s_child_t *c = &self->children [i];
        if (i == 0) {
            c->role = S_AGGREGATOR;
            snprintf (c->name, sizeof c->name, "aggregator");
            snprintf (c->program, sizeof c->program, "%s", agg);
            rc |= s_set_argv (c, agg, "--data", cfg->data_dir, NULL);
            rc |= s_add_opt (c, "--shards", cfg->shards ? shards : NULL);
            /* the workers it starts: the aggregator need not wait its grace */
            rc |= s_add_opt (c, "--expect-workers", nworkers);
        }
        else if (i <= (int) cfg->workers) {
            c->role = S_WORKER;
            snprintf (c->name, sizeof c->name, "w%d", i);
            snprintf (c->program, sizeof c->program, "%s", worker);
            rc |= s_set_argv (c, worker, "--name", c->name, "--data", cfg->data_dir, NULL);
        }
        else if (i == (int) cfg->workers + 1) {
            c->role = S_API;
            snprintf (c->name, sizeof c->name, "api");
            snprintf (c->program, sizeof c->program, "%s", api);
            rc |= s_set_argv (c, api, "--data", cfg->data_dir, NULL);
        }
        else {
            c->role = S_HTTP;
            snprintf (c->name, sizeof c->name, "http");
            snprintf (c->program, sizeof c->program, "%s", http);
            rc |= s_set_argv (c, http, "--data", cfg->data_dir, NULL);
            rc |= s_add_opt (c, "--http", cfg->http_addr);
        }
        rc |= s_add_opt (c, "--log-level", cfg->log_level);
        if (snprintf (c->log_path, sizeof c->log_path, "%s/%s.log", cfg->logs_dir, c->name)
            >= (int) sizeof c->log_path)
            rc |= TS_ETOOBIG;
        c->backoff_ms = TS_SUPERVISOR_BACKOFF_MIN_MS;
    }
    if (rc) {
        ts_supervisor_destroy (&self);
        snprintf (err, err_size, "cannot prepare the children's command lines (%s)",
                  rc == TS_ETOOBIG ? "a path is too long" : "out of memory");
        return NULL;
    }
    self->started_wall = ts_now_ms ();
    return self;
nomem:
    ts_supervisor_destroy (&self);
    snprintf (err, err_size, "out of memory");
    return NULL;
}

void
ts_supervisor_destroy (ts_supervisor_t **self_p)
{
    ts_supervisor_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; self->children && i < self->nchildren; i++)
        for (int k = 0; self->children [i].argv [k]; k++)
            free (self->children [i].argv [k]);
    free (self->children);
    ts_hdr_free (&self->hdr);
    free (self);
    *self_p = NULL;
}

static bool
s_has_role (const ts_supervisor_t *self, s_role_t role)
{
    for (int i = 0; i < self->nchildren; i++)
        if (self->children [i].role == role)
            return true;
    return false;
}

bool
ts_supervisor_has_api (const ts_supervisor_t *self)
{
    return s_has_role (self, S_API);
}

bool
ts_supervisor_has_http (const ts_supervisor_t *self)
{
    return s_has_role (self, S_HTTP);
}

/* --- the state file --------------------------------------------------------- */

static void
s_write_state (ts_supervisor_t *self)
{
    ts_hdr_t *h = &self->hdr;
    ts_hdr_begin (h, TS_MSG_STATE, 5);
    ts_hdr_int (h, "pid", getpid ());
    ts_hdr_int (h, "started_ms", self->started_wall);
    ts_hdr_str (h, "data", self->data_dir);
    ts_hdr_bool (h, "stopping", self->stopping);
    ts_hdr_key (h, "processes");
    msgpack_pack_array (&h->pk, (size_t) self->nchildren);
    for (int i = 0; i < self->nchildren; i++) {
        s_child_t *c = &self->children [i];
        msgpack_pack_map (&h->pk, 7);
        ts_mp_pack_cstr (&h->pk, "name");       ts_mp_pack_cstr (&h->pk, c->name);
        ts_mp_pack_cstr (&h->pk, "state");      ts_mp_pack_cstr (&h->pk, s_state_names [c->state]);
        ts_mp_pack_cstr (&h->pk, "pid");        msgpack_pack_int64 (&h->pk, c->pid);
        ts_mp_pack_cstr (&h->pk, "restarts");   msgpack_pack_uint64 (&h->pk, c->restarts);
        ts_mp_pack_cstr (&h->pk, "last_exit");
        if (c->last_exit [0]) ts_mp_pack_cstr (&h->pk, c->last_exit); else msgpack_pack_nil (&h->pk);
        ts_mp_pack_cstr (&h->pk, "started_ms"); msgpack_pack_int64 (&h->pk, c->started_wall);
        ts_mp_pack_cstr (&h->pk, "program");    ts_mp_pack_cstr (&h->pk, c->program);
    }
    /* write aside, then rename: a reader sees the old file or the new one,
     * never half of one */
    int fd = open (self->state_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0;
    if (ok) {
        ok = write (fd, h->buf.data, h->buf.size) == (ssize_t) h->buf.size;
        ok &= close (fd) == 0;
        ok = ok && rename (self->state_tmp, self->state_file) == 0;
    }
    if (!ok && !self->state_warned) {
        ts_warn ("cannot write %s: %s", self->state_file, strerror (errno));
        self->state_warned = true;
    }
    else if (ok)
        self->state_warned = false;
}

/* --- children ------------------------------------------------------------------ */

static int
s_spawn (ts_supervisor_t *self, s_child_t *c, char *err, size_t err_size)
{
    int log = open (c->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        int rc = -errno;
        snprintf (err, err_size, "cannot open %s: %s", c->log_path, strerror (errno));
        return rc;
    }
    int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = fork ();
    if (pid < 0) {
        int rc = -errno;
        snprintf (err, err_size, "cannot start %s: fork: %s", c->name, strerror (errno));
        close (log);
        if (null >= 0)
            close (null);
        return rc;
    }
    if (pid == 0) {
        /* the child: a clean signal state (the mask and dispositions would
         * otherwise pass through exec), its log as stdout and stderr */
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGCHLD, SIG_DFL);
        signal (SIGPIPE, SIG_DFL);
        signal (SIGHUP, SIG_DFL);
        if (null >= 0)
            dup2 (null, STDIN_FILENO);
        dup2 (log, STDOUT_FILENO);
        dup2 (log, STDERR_FILENO);
        execv (c->program, c->argv);
        dprintf (STDERR_FILENO, "trajstore supervisor: cannot run %s: %s\n",
                 c->program, strerror (errno));
        _exit (127);
    }
    close (log);
    if (null >= 0)
        close (null);
    c->pid = pid;
    c->state = S_RUNNING;
    c->started_mono = ts_mono_ms ();
    c->started_wall = ts_now_ms ();
    ts_info ("started %s (pid %d)%s", c->name, (int) pid, c->restarts ? " again" : "");
    s_write_state (self);
    return 0;
}

static void
s_describe_exit (int status, char *buf, size_t size)
{
    if (WIFEXITED (status))
        snprintf (buf, size, "exit %d", WEXITSTATUS (status));
    else if (WIFSIGNALED (status))
        snprintf (buf, size, "signal %d (%s)", WTERMSIG (status), strsignal (WTERMSIG (status)));
    else
        snprintf (buf, size, "status %d", status);
}

static s_child_t *
s_child_by_pid (ts_supervisor_t *self, pid_t pid)
{
    for (int i = 0; i < self->nchildren; i++)
        if (self->children [i].state == S_RUNNING && self->children [i].pid == pid)
            return &self->children [i];
    return NULL;
}

/*  Collects every child that exited; schedules restarts unless stopping. */
static void
s_reap (ts_supervisor_t *self)
{
    int status;
    pid_t pid;
    bool changed = false;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        s_child_t *c = s_child_by_pid (self, pid);
        if (!c)
            continue;
        changed = true;
        s_describe_exit (status, c->last_exit, sizeof c->last_exit);
        c->pid = 0;
        if (self->stopping) {
            c->state = S_STOPPED;
            ts_info ("%s (pid %d) stopped: %s", c->name, (int) pid, c->last_exit);
            continue;
        }
        int64_t now = ts_mono_ms (), ran = now - c->started_mono;
        if (ran >= TS_SUPERVISOR_HEALTHY_MS)
            c->backoff_ms = TS_SUPERVISOR_BACKOFF_MIN_MS;
        c->state = S_BACKOFF;
        c->restart_at = now + c->backoff_ms;
        char took [32];
        ts_cli_format_duration (ran, took, sizeof took);
        ts_warn ("%s (pid %d) exited after %s: %s; restarting in %lld ms (see %s)",
                 c->name, (int) pid, took, c->last_exit, (long long) c->backoff_ms, c->log_path);
        c->backoff_ms *= 2;
        if (c->backoff_ms > TS_SUPERVISOR_BACKOFF_MAX_MS)
            c->backoff_ms = TS_SUPERVISOR_BACKOFF_MAX_MS;
    }
    if (changed)
        s_write_state (self);
}

/*  Restarts the children whose delay has passed; returns how many
 *  milliseconds until the next one is due (at most `wait_ms`). */
static int64_t
s_restart_due (ts_supervisor_t *self, int64_t wait_ms)
{
    int64_t now = ts_mono_ms ();
    for (int i = 0; i < self->nchildren; i++) {
        s_child_t *c = &self->children [i];
        if (c->state != S_BACKOFF)
            continue;
        if (c->restart_at <= now) {
            char err [512];
            c->restarts++;
            if (s_spawn (self, c, err, sizeof err)) {
                /* fork or the log failed: try again later, like an exit */
                ts_error ("%s; retrying in %lld ms", err, (long long) c->backoff_ms);
                c->restart_at = now + c->backoff_ms;
                c->backoff_ms = c->backoff_ms * 2 > TS_SUPERVISOR_BACKOFF_MAX_MS
                              ? TS_SUPERVISOR_BACKOFF_MAX_MS : c->backoff_ms * 2;
            }
        }
        if (c->state == S_BACKOFF && c->restart_at - now < wait_ms)
            wait_ms = c->restart_at - now;
    }
    return wait_ms < 1 ? 1 : wait_ms;
}

int
ts_supervisor_start (ts_supervisor_t *self, char *err, size_t err_size)
{
    for (int i = 0; i < self->nchildren; i++) {
        int rc = s_spawn (self, &self->children [i], err, err_size);
        if (rc)
            return rc;
    }
    return 0;
}

void
ts_supervisor_sigset (sigset_t *set)
{
    sigemptyset (set);
    sigaddset (set, SIGCHLD);
    sigaddset (set, SIGTERM);
    sigaddset (set, SIGINT);
    sigaddset (set, SIGHUP);
}

/*  Waits up to `ms` for a signal of the set; returns it, or 0. */
static int
s_wait_signal (int64_t ms)
{
    sigset_t set;
    ts_supervisor_sigset (&set);
    struct timespec ts = { (time_t) (ms / 1000), (long) (ms % 1000) * 1000000L };
    int sig = sigtimedwait (&set, NULL, &ts);
    return sig > 0 ? sig : 0;
}

int
ts_supervisor_run (ts_supervisor_t *self)
{
    ts_info ("supervising %d processes, data %s", self->nchildren, self->data_dir);
    while (!self->stopping) {
        /* the 1 s ceiling is a safety net only: SIGCHLD wakes us at once */
        int64_t wait_ms = s_restart_due (self, 1000);
        int sig = s_wait_signal (wait_ms);
        s_reap (self);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
            ts_info ("stopping (%s)", strsignal (sig));
            break;
        }
    }
    ts_supervisor_stop (self);
    return 0;
}

static int
s_running (ts_supervisor_t *self, s_role_t role)
{
    int n = 0;
    for (int i = 0; i < self->nchildren; i++)
        n += self->children [i].role == role && self->children [i].state == S_RUNNING;
    return n;
}

static void
s_stop_role (ts_supervisor_t *self, s_role_t role)
{
    for (int i = 0; i < self->nchildren; i++) {
        s_child_t *c = &self->children [i];
        if (c->role != role)
            continue;
        if (c->state == S_BACKOFF)
            c->state = S_STOPPED;
        else if (c->state == S_RUNNING)
            kill (c->pid, SIGTERM);
    }
    int64_t deadline = ts_mono_ms () + TS_SUPERVISOR_STOP_MS;
    while (s_running (self, role) > 0 && ts_mono_ms () < deadline) {
        s_wait_signal (100);            /* a second SIGTERM changes nothing */
        s_reap (self);
    }
    for (int i = 0; i < self->nchildren; i++) {
        s_child_t *c = &self->children [i];
        if (c->role != role || c->state != S_RUNNING)
            continue;
        ts_warn ("%s (pid %d) still running after %d ms: killing it",
                 c->name, (int) c->pid, TS_SUPERVISOR_STOP_MS);
        kill (c->pid, SIGKILL);
        int status;
        if (waitpid (c->pid, &status, 0) == c->pid)
            s_describe_exit (status, c->last_exit, sizeof c->last_exit);
        c->pid = 0;
        c->state = S_STOPPED;
    }
}

void
ts_supervisor_stop (ts_supervisor_t *self)
{
    self->stopping = true;
    s_write_state (self);
    /* workers first, so none loses its aggregator halfway through a
     * commit; the aggregator last, so the others can say goodbye to it */
    s_stop_role (self, S_WORKER);
    s_stop_role (self, S_HTTP);
    s_stop_role (self, S_API);
    s_stop_role (self, S_AGGREGATOR);
    s_write_state (self);
}
