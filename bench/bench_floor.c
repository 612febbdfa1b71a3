/*  bench_floor.c: what ZeroMQ itself costs on this machine, so that
 *  bench_query's figures can be read next to the floor of the transport
 *  they cross, measured in the same run. libzmq only (no czmq, nothing of
 *  trajstore), ipc:// endpoints in a temporary directory:
 *
 *    echo    one hop: a client DEALER -> a ROUTER that sends every message
 *            back (a process of its own);
 *    relay   two hops, the shape of trajstore's read path (client -> api
 *            -> worker and back): a client DEALER -> a relay process
 *            (ROUTER front, DEALER back, zmq_proxy) -> the same echo
 *            ROUTER -> back the same way.
 *
 *  Usage:
 *    bench_floor [--bytes B[,B...]] [--n N] [--warmup W] [--concurrency C]
 *                [--seconds S] [--dir DIR] [--json]
 *
 *  For each message size (--bytes, default 100, the same size both ways;
 *  a trajstore get is ~40 bytes out and ~4 KB back: run 100,4096):
 *    echo_1, relay_1   one client (this process), N round trips (--n,
 *                      default 2000) after W untimed ones (--warmup, 100);
 *                      p50/p90/p99/mean/max in ms;
 *    echo_cC, relay_cC C client processes (--concurrency, default 20),
 *                      each its own DEALER, back to back for S seconds
 *                      (--seconds, default 5): requests/s, and p50/p99
 *                      over all the requests (bench_common's harness: a
 *                      latency histogram per client in shared memory,
 *                      merged by this process).
 *  --n 0 skips the one-client cases, --concurrency 0 the others.
 *
 *  A table on stderr, one JSON line per case on stdout with --json, keyed
 *  as bench_query's ("bench":"query","system":"zmq-floor", plus "bytes" and
 *  "hops"). The server and the relay are children of this process, killed
 *  and waited for on every way out (an error, SIGINT, SIGTERM, SIGHUP);
 *  they and the client processes also die with it (PR_SET_PDEATHSIG).
 */
#include "bench_common.h"
#include "bench_zmq.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_PROG            "bench_floor"
#define S_SYSTEM          "zmq-floor"
#define S_TIMEOUT_MS      5000      /* a round trip longer than that fails */
#define S_READY_TIMEOUT_MS 10000    /* the server and relay must be bound by then */
#define S_MAX_SIZES       8
#define S_MAX_BYTES       (16L << 20)

/* --- the child processes, and cleaning up after them ------------------------------ */

/*  The signals that end the main process tidily (after s_cleanup). */
static const int s_signals [] = { SIGINT, SIGTERM, SIGHUP };

static pid_t s_main_pid;
static pid_t s_echo_pid, s_relay_pid;
static char  s_dir [256];                                      /* the temporary directory */
static char  s_echo_path [sizeof s_dir + 8], s_relay_path [sizeof s_dir + 8];  /* its sockets */
static char  s_echo_ep [sizeof s_dir + 16], s_relay_ep [sizeof s_dir + 16];

/*  Kills and reaps the children; removes the sockets and the directory.
 *  Async-signal-safe (the signal handlers call it); does nothing outside
 *  the main process (the client processes inherit the handlers). */
static void
s_cleanup (void)
{
    if (getpid () != s_main_pid)
        return;
    pid_t *kids [] = { &s_relay_pid, &s_echo_pid };
    for (size_t i = 0; i < sizeof kids / sizeof *kids; i++) {
        pid_t pid = *kids [i];
        if (pid <= 0)
            continue;
        *kids [i] = 0;
        kill (pid, SIGTERM);                    /* ours: forked by s_spawn */
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (s_dir [0]) {
        unlink (s_relay_path);
        unlink (s_echo_path);
        rmdir (s_dir);
        s_dir [0] = 0;
    }
}

static void
s_on_signal (int sig)
{
    if (getpid () == s_main_pid)
        bq_concurrency_abort ();
    s_cleanup ();
    signal (sig, SIG_DFL);
    raise (sig);
}

/*  In a child: leaves its signals to the defaults and dies with the main
 *  process. False when that one is already gone. */
static bool
s_child_setup (void)
{
    for (size_t i = 0; i < sizeof s_signals / sizeof *s_signals; i++)
        signal (s_signals [i], SIG_DFL);
    if (prctl (PR_SET_PDEATHSIG, SIGKILL))
        return false;
    return getppid () == s_main_pid;
}

/*  A child's failure: says which zmq call failed and why, tells the main
 *  process (its ready pipe closes without a byte) and ends. */
static void
s_child_die (const char *who, const char *what)
{
    fprintf (stderr, S_PROG ": %s: %s: %s\n", who, what, zmq_strerror (zmq_errno ()));
    _exit (1);
}

/*  A socket of the child's own context (made on the first call). */
static void *
s_child_socket (const char *who, int type)
{
    static void *zctx;
    if (!zctx && !(zctx = zmq_ctx_new ()))
        s_child_die (who, "zmq_ctx_new");
    void *sock = zmq_socket (zctx, type);
    if (!sock)
        s_child_die (who, "zmq_socket");
    return sock;
}

/*  Tells the main process the child is bound. */
static void
s_child_ready (int ready)
{
    if (write (ready, "k", 1) != 1)
        _exit (1);
    close (ready);
}

/*  The echo server: every message back to whoever sent it, all its frames
 *  (the relay's requests carry the client's identity frame too). */
static void
s_echo_main (int ready)
{
    const char *who = "echo server";
    void *sock = s_child_socket (who, ZMQ_ROUTER);
    if (zmq_bind (sock, s_echo_ep))
        s_child_die (who, s_echo_ep);
    s_child_ready (ready);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (;;) {
        if (zmq_msg_recv (&msg, sock, 0) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            s_child_die (who, "zmq_msg_recv");
        }
        int more = zmq_msg_more (&msg);
        /* zmq_msg_send empties msg on success: it is ready for the next */
        while (zmq_msg_send (&msg, sock, more ? ZMQ_SNDMORE : 0) < 0)
            if (zmq_errno () != EINTR)
                s_child_die (who, "zmq_msg_send");
    }
}

/*  The relay: ROUTER in front for the clients, DEALER behind to the echo
 *  server, zmq_proxy between the two (as the api sits between a client
 *  and the workers). */
static void
s_relay_main (int ready)
{
    const char *who = "relay";
    void *front = s_child_socket (who, ZMQ_ROUTER);
    void *back = s_child_socket (who, ZMQ_DEALER);
    if (zmq_connect (back, s_echo_ep))
        s_child_die (who, s_echo_ep);
    if (zmq_bind (front, s_relay_ep))
        s_child_die (who, s_relay_ep);
    s_child_ready (ready);
    zmq_proxy (front, back, NULL);              /* returns on errors only */
    s_child_die (who, "zmq_proxy");
}

/*  Forks a server running `run` and waits until it is bound. Its pid, or
 *  -1 after saying why. */
static pid_t
s_spawn (const char *what, void (*run) (int ready))
{
    int fds [2];
    if (pipe (fds)) {
        fprintf (stderr, S_PROG ": pipe: %s\n", strerror (errno));
        return -1;
    }
    fflush (NULL);
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, S_PROG ": fork: %s\n", strerror (errno));
        close (fds [0]);
        close (fds [1]);
        return -1;
    }
    if (pid == 0) {
        close (fds [0]);
        if (!s_child_setup ())
            _exit (1);
        run (fds [1]);
        _exit (1);
    }
    close (fds [1]);
    struct pollfd pfd = { fds [0], POLLIN, 0 };
    int n;
    while ((n = poll (&pfd, 1, S_READY_TIMEOUT_MS)) < 0 && errno == EINTR)
        ;
    char c = 0;
    ssize_t got = n > 0 ? read (fds [0], &c, 1) : 0;
    close (fds [0]);
    if (got != 1 || c != 'k') {
        fprintf (stderr, S_PROG ": the %s did not start%s\n", what,
                 n == 0 ? " (not bound within 10 s)" : "");
        kill (pid, SIGTERM);                    /* ours: forked above */
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    return pid;
}

/*  Are the server and the relay still there? Says so when not. */
static bool
s_servers_alive (void)
{
    struct {
        pid_t *pid;
        const char *what;
    } kids [] = { { &s_echo_pid, "echo server" }, { &s_relay_pid, "relay" } };
    bool ok = true;
    for (size_t i = 0; i < sizeof kids / sizeof *kids; i++) {
        int status;
        if (*kids [i].pid > 0 && waitpid (*kids [i].pid, &status, WNOHANG) == *kids [i].pid) {
            fprintf (stderr, S_PROG ": the %s (pid %d) ended (status %d)\n", kids [i].what,
                     (int) *kids [i].pid, status);
            *kids [i].pid = 0;
            ok = false;
        }
    }
    return ok;
}

/* --- the client ----------------------------------------------------------------- */

typedef struct {
    const char *endpoint;
    size_t      bytes;
} s_target_t;

typedef struct {
    bq_dealer_t d;
    char       *out;
    size_t      bytes;
    uint64_t    seq;
} s_client_t;

static void
s_client_close (void *p)
{
    s_client_t *c = p;
    if (!c)
        return;
    bq_dealer_close (&c->d);
    free (c->out);
    free (c);
}

/*  A DEALER connected to the target; in a client process (bench_common's
 *  harness forks them), one that dies with the main process too. */
static void *
s_client_open (void *targetp, int child)
{
    const s_target_t *t = targetp;
    (void) child;
    if (getpid () != s_main_pid && !s_child_setup ())
        return NULL;
    s_client_t *c = calloc (1, sizeof *c);
    if (!c || !(c->out = calloc (1, t->bytes))) {
        fprintf (stderr, S_PROG ": out of memory\n");
        free (c);
        return NULL;
    }
    c->bytes = t->bytes;
    if (bq_dealer_open (&c->d, S_PROG, t->endpoint)) {
        free (c->out);
        free (c);
        return NULL;
    }
    return c;
}

/*  One round trip: the message out (its sequence number in its first
 *  bytes), the echo back. 0, or -1. */
static int
s_round_trip (void *state, bq_rng_t *rng, uint64_t *rows)
{
    s_client_t *c = state;
    (void) rng;
    uint64_t seq = ++c->seq;
    size_t tag = c->bytes < sizeof seq ? c->bytes : sizeof seq;
    memcpy (c->out, &seq, tag);
    if (bq_dealer_send (&c->d, c->out, c->bytes))
        return -1;
    for (;;) {
        if (bq_dealer_recv (&c->d, S_TIMEOUT_MS))
            return -1;
        zmq_msg_t *r = &c->d.reply;
        if (zmq_msg_size (r) != c->bytes || zmq_msg_more (r))
            return bq_dealer_fail (&c->d, "the echo is not the message sent");
        if (!memcmp (zmq_msg_data (r), c->out, tag))
            break;
        /* a late echo of an earlier message (it timed out): the next */
    }
    *rows = 1;
    return 0;
}

/* --- the cases ------------------------------------------------------------------- */

typedef struct {
    const char *name;           /* "echo", "relay" */
    const char *what;
    int         hops;
    const char *endpoint;
} s_path_t;

/*  A case's name ("echo_1", "relay_c20") and its JSON members beyond
 *  bench_query's. */
typedef struct {
    char kase [32], extra [64];
} s_names_t;

static void
s_names (s_names_t *nm, const s_path_t *p, size_t bytes, bool concurrent, long clients)
{
    snprintf (nm->kase, sizeof nm->kase, "%s_%s%ld", p->name, concurrent ? "c" : "", clients);
    snprintf (nm->extra, sizeof nm->extra, "\"bytes\":%zu,\"hops\":%d", bytes, p->hops);
}

/*  One client, this process: `warmup` untimed round trips, then n timed
 *  ones (stops at the first failure). 0, or 1. */
static int
s_run_one (const s_path_t *p, size_t bytes, long n, long warmup, FILE *json)
{
    s_target_t t = { p->endpoint, bytes };
    s_client_t *c = s_client_open (&t, 0);
    double *samples = malloc ((size_t) n * sizeof *samples);
    if (!c || !samples) {
        s_client_close (c);
        free (samples);
        return 1;
    }
    bq_rng_t rng;
    bq_rng_seed (&rng, 1, 0);
    uint64_t rows;
    int rc = 0;
    for (long i = 0; i < warmup && rc == 0; i++)
        rc = s_round_trip (c, &rng, &rows);
    size_t got = 0;
    uint64_t errors = 0;
    double cpu0 = bq_cpu_self ();
    for (long i = 0; i < n && rc == 0; i++) {
        double t0 = bq_now ();
        if (s_round_trip (c, &rng, &rows)) {
            errors++;
            rc = 1;
            break;
        }
        samples [got++] = bq_now () - t0;
    }
    double cpu = bq_cpu_self () - cpu0;
    s_client_close (c);                         /* no context left before the next fork */
    if (rc == 0 || got > 0) {
        s_names_t nm;
        s_names (&nm, p, bytes, false, 1);
        bq_stats_t st;
        bq_stats_of (samples, got, &st);
        bq_report (json, stderr, S_SYSTEM, nm.kase, p->what, 0, &st, 1, errors, 1, 0, 0,
                   got ? cpu / (double) (got + errors) * 1e6 : 0, nm.extra);
    }
    free (samples);
    return rc ? 1 : 0;
}

/*  `clients` client processes for `seconds`. 0, or 1. */
static int
s_run_clients (const s_path_t *p, size_t bytes, long clients, long seconds, FILE *json)
{
    static const bq_client_ops_t ops = { s_client_open, s_round_trip, s_client_close };
    s_target_t t = { p->endpoint, bytes };
    s_names_t nm;
    s_names (&nm, p, bytes, true, clients);
    return bq_run_clients (S_SYSTEM, nm.kase, p->what, nm.extra, &ops, &t, clients, seconds, 1, 0,
                           json);
}

/* --- main -------------------------------------------------------------------------- */

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: " S_PROG " [--bytes B[,B...]] [--n N] [--warmup W] [--concurrency C]\n"
             "                   [--seconds S] [--dir DIR] [--json]\n"
             "  the round trip of a B-byte message (default 100) over ipc://, one hop\n"
             "  (DEALER -> ROUTER echo) and two (DEALER -> ROUTER/DEALER zmq_proxy -> echo):\n"
             "  one client, N round trips (default 2000, 0: none) after W (100);\n"
             "  C client processes (default 20, 0: none) for S seconds (default 5);\n"
             "  sockets in a temporary directory under DIR (default $TMPDIR or /tmp);\n"
             "  a table on stderr, JSON lines on stdout with --json\n");
}

/*  "100,4096" into sizes; exits 2 on anything else. */
static int
s_parse_sizes (const char *text, size_t *sizes)
{
    int n = 0;
    const char *at = text;
    for (;;) {
        const char *comma = strchr (at, ',');
        size_t len = comma ? (size_t) (comma - at) : strlen (at);
        char one [24];
        if (n == S_MAX_SIZES || len == 0 || len >= sizeof one) {
            fprintf (stderr, S_PROG ": --bytes wants up to %d sizes, comma-separated, got '%s'\n",
                     S_MAX_SIZES, text);
            exit (2);
        }
        memcpy (one, at, len);
        one [len] = 0;
        sizes [n++] = (size_t) bq_parse_long (S_PROG, "--bytes", one, 1, S_MAX_BYTES);
        if (!comma)
            return n;
        at = comma + 1;
    }
}

int
main (int argc, char **argv)
{
    const char *dir = NULL;
    size_t sizes [S_MAX_SIZES] = { 100 };
    int nsizes = 1;
    long n = 2000, warmup = 100, clients = 20, seconds = 5;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv [i], *v = i + 1 < argc ? argv [i + 1] : NULL;
        if (!strcmp (a, "--bytes") && v)              { nsizes = s_parse_sizes (v, sizes); i++; }
        else if (!strcmp (a, "--n") && v)             { n = bq_parse_long (S_PROG, a, v, 0, 100000000); i++; }
        else if (!strcmp (a, "--warmup") && v)        { warmup = bq_parse_long (S_PROG, a, v, 0, 1000000); i++; }
        else if (!strcmp (a, "--concurrency") && v)   { clients = bq_parse_long (S_PROG, a, v, 0, 1000); i++; }
        else if (!strcmp (a, "--seconds") && v)       { seconds = bq_parse_long (S_PROG, a, v, 1, 86400); i++; }
        else if (!strcmp (a, "--dir") && v)           { dir = v; i++; }
        else if (!strcmp (a, "--json"))                 json = true;
        else {
            s_usage ();
            return 2;
        }
    }
    if (n == 0 && clients == 0) {
        fprintf (stderr, S_PROG ": --n 0 and --concurrency 0: nothing to measure\n");
        s_usage ();
        return 2;
    }
    dir = bq_tmpdir (dir);
    /* ipc:// paths must fit a sockaddr_un: DIR/bench_floor.XXXXXX/relay */
    if (strlen (dir) + sizeof "/bench_floor.XXXXXX/relay" > sizeof ((struct sockaddr_un *) 0)->sun_path) {
        fprintf (stderr, S_PROG ": --dir %s: too long a path for ipc:// sockets\n", dir);
        return 2;
    }
    s_main_pid = getpid ();
    /* the handlers before the directory and the children exist */
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    for (size_t i = 0; i < sizeof s_signals / sizeof *s_signals; i++)
        sigaction (s_signals [i], &sa, NULL);
    snprintf (s_dir, sizeof s_dir, "%s/bench_floor.XXXXXX", dir);
    if (!mkdtemp (s_dir)) {
        fprintf (stderr, S_PROG ": mkdtemp %s: %s\n", s_dir, strerror (errno));
        s_dir [0] = 0;
        return 1;
    }
    snprintf (s_echo_path, sizeof s_echo_path, "%s/echo", s_dir);
    snprintf (s_relay_path, sizeof s_relay_path, "%s/relay", s_dir);
    snprintf (s_echo_ep, sizeof s_echo_ep, "ipc://%s", s_echo_path);
    snprintf (s_relay_ep, sizeof s_relay_ep, "ipc://%s", s_relay_path);
    atexit (s_cleanup);

    /* the servers first: no ZeroMQ context exists in this process at a fork */
    if ((s_echo_pid = s_spawn ("echo server", s_echo_main)) < 0
    ||  (s_relay_pid = s_spawn ("relay", s_relay_main)) < 0)
        return 1;
    const s_path_t paths [] = {
        { "echo", "DEALER -> ROUTER echo, 1 hop each way", 1, s_echo_ep },
        { "relay", "DEALER -> ROUTER/DEALER zmq_proxy -> ROUTER echo, 2 hops each way", 2, s_relay_ep },
    };
    FILE *jout = json ? stdout : NULL;
    int rc = 0;
    for (int b = 0; b < nsizes && rc == 0; b++) {
        char where [sizeof s_dir + 64];
        snprintf (where, sizeof where, "ipc:// in %s, %zu-byte messages both ways", s_dir, sizes [b]);
        bq_report_header (stderr, S_SYSTEM, where);
        for (size_t p = 0; p < 2 && rc == 0 && n > 0; p++)
            rc = !s_servers_alive () || s_run_one (&paths [p], sizes [b], n, warmup, jout);
        for (size_t p = 0; p < 2 && rc == 0 && clients > 0; p++)
            rc = !s_servers_alive () || s_run_clients (&paths [p], sizes [b], clients, seconds, jout);
    }
    if (!s_servers_alive ())                    /* says so, if that was why */
        rc = 1;
    s_cleanup ();
    return rc;
}
