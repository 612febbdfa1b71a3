/*  trajstore-worker: parses, routes and commits records; serves reads
 *  (see ts_worker.h). main parses options, installs signal handlers, runs
 *  the worker and maps the result to an exit code. */
#include "ts_build.h"
#include "ts_config.h"
#include "ts_daemon.h"
#include "ts_log.h"
#include "ts_reads.h"
#include "ts_worker.h"

#include <czmq.h>
#include <getopt.h>
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
    if (ts_build_version_asked (argc, argv, "trajstore-worker"))
        return 0;
    static struct option opts [] = {
        { "name", required_argument, 0, 'n' }, { "data", required_argument, 0, 'd' },
        { "control", required_argument, 0, 'c' }, { "peer-bind", required_argument, 0, 'b' },
        { "peer-advertise", required_argument, 0, 'a' }, { "log-level", required_argument, 0, 'l' },
        { "tuning", required_argument, 0, 't' }, { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *name = getenv ("TRAJSTORE_WORKER_NAME"), *data = NULL, *control = NULL;
    const char *bind = getenv ("TRAJSTORE_PEER_BIND"), *adv = getenv ("TRAJSTORE_PEER_ADVERTISE");
    const char *tuning = NULL;
    ts_log_level_t level = TS_LOG_INFO;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': name = optarg; break;
        case 'd': data = optarg; break;
        case 'c': control = optarg; break;
        case 'b': bind = optarg; break;
        case 'a': adv = optarg; break;
        case 't': tuning = optarg; break;
        case 'l':
            if (!ts_log_level_parse (optarg, &level)) {
                fprintf (stderr, "trajstore-worker: bad --log-level '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': s_usage (stdout); return 0;
        default: s_usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        s_usage (stderr);
        return 2;
    }
    char namebuf [64];
    if (!name || !*name) {
        snprintf (namebuf, sizeof namebuf, "w%d", (int) getpid ());
        name = namebuf;
    }
    char proc [96];
    snprintf (proc, sizeof proc, "worker[%s]", name);
    ts_log_init (proc, level);
    char dir [TS_PATH_MAX], ep_c [TS_PATH_MAX], ep_b [TS_PATH_MAX + 128];
    if (ts_config_data_dir (data, dir, sizeof dir)
    ||  ts_config_endpoint (control, "control", dir, ep_c, sizeof ep_c)) {
        ts_error ("data directory path too long for ipc endpoints: %s", dir);
        return 2;
    }
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
    ts_worker_config_t cfg = { name, dir, ep_c, ep_b, advertise, tuning, ts_reads_handle };
    ts_worker_t *w = ts_worker_new (&cfg, err, sizeof err);
    if (!w) {
        ts_error ("%s", err);
        return 1;
    }
    int rc = ts_worker_run (w, &s_stop);
    ts_worker_destroy (&w);
    ts_reads_cleanup ();
    return rc ? 1 : 0;
}
