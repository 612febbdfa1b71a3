/*  trajstore-worker: parses, routes and commits records; serves reads
 *  (see ts_worker.h). main parses options, installs signal handlers, runs
 *  the worker and maps the result to an exit code. */
#include "ts_daemon.h"
#include "ts_log.h"
#include "ts_reads.h"
#include "ts_worker.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile bool s_stop;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: trajstore-worker [--name NAME] [--data DIR] [--control EP]\n"
        "                        [--peer-bind EP] [--peer-advertise EP]\n"
        "                        [--log-level debug|info|warn|error]\n"
        "       trajstore-worker --help | --version\n"
        "NAME defaults to $TRAJSTORE_WORKER_NAME, else w<pid>. The peer endpoint\n"
        "defaults to $TRAJSTORE_PEER_BIND, else ipc://DATA/worker-NAME.sock; with\n"
        "tcp, --peer-advertise (or $TRAJSTORE_PEER_ADVERTISE) is how others reach it.\n");
}

int
main (int argc, char **argv)
{
    const char *name = getenv ("TRAJSTORE_WORKER_NAME"), *data = NULL;
    const char *bind = getenv ("TRAJSTORE_PEER_BIND"), *adv = getenv ("TRAJSTORE_PEER_ADVERTISE");
    const char *tuning = NULL;
    ts_log_level_t level = TS_LOG_INFO;
    ts_daemon_ep_t control = { .name = "control" };
    const ts_opt_t opts [] = {
        { "name", TS_OPT_STR, &name, 0, 0 },
        { "control", TS_OPT_STR, &control.flag, 0, 0 },
        { "peer-bind", TS_OPT_STR, &bind, 0, 0 },
        { "peer-advertise", TS_OPT_STR, &adv, 0, 0 },
        { "tuning", TS_OPT_STR, &tuning, 0, 0 },
    };
    int rc = ts_daemon_args (argc, argv, "trajstore-worker", s_usage, opts, 5, &data, &level);
    if (rc >= 0)
        return rc;
    char namebuf [64];
    if (!name || !*name) {
        snprintf (namebuf, sizeof namebuf, "w%d", (int) getpid ());
        name = namebuf;
    }
    char proc [96];
    snprintf (proc, sizeof proc, "worker[%s]", name);
    ts_log_init (proc, level);
    char dir [TS_PATH_MAX], ep_b [TS_PATH_MAX + 128];
    if (ts_daemon_paths (data, dir, &control, 1))
        return 2;
    if (bind && *bind)
        snprintf (ep_b, sizeof ep_b, "%s", bind);
    else
        snprintf (ep_b, sizeof ep_b, "ipc://%s/worker-%s.sock", dir, name);
    ts_daemon_signals (&s_stop);
    /* a wildcard address cannot be reached by peers: it needs an advertised one */
    const char *advertise = adv && *adv ? adv : ep_b;
    if (!strncmp (advertise, "tcp://*", 7) || !strncmp (advertise, "tcp://0.0.0.0", 13)) {
        ts_error ("peer endpoint %s is a wildcard bind: give --peer-advertise (or "
                  "$TRAJSTORE_PEER_ADVERTISE) with an address the others can reach, "
                  "e.g. tcp://HOSTNAME:7200", ep_b);
        return 2;
    }
    char err [512];
    ts_worker_config_t cfg = { name, dir, control.ep, ep_b, advertise, tuning, ts_reads_handle };
    ts_worker_t *w = ts_worker_new (&cfg, err, sizeof err);
    if (!w) {
        ts_error ("%s", err);
        return 1;
    }
    rc = ts_worker_run (w, &s_stop);
    ts_worker_destroy (&w);
    ts_reads_cleanup ();
    return rc ? 1 : 0;
}
