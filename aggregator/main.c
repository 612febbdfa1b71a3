/*  trajstore-aggregator: the hub of a trajstore (see ts_agg.h).
 *  main parses options, installs signal handlers, runs the aggregator and
 *  maps the result to an exit code. */
#include "ts_agg.h"
#include "ts_build.h"
#include "ts_config.h"
#include "ts_daemon.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile bool s_stop;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: trajstore-aggregator [--data DIR] [--ingest EP] [--control EP] [--query EP]\n"
        "                            [--shards N] [--expect-workers N]\n"
        "                            [--log-level debug|info|warn|error]\n"
        "       trajstore-aggregator --help | --version\n"
        "Endpoints default to $TRAJSTORE_INGEST / _CONTROL / _QUERY, else ipc sockets\n"
        "in the data directory (--data, $TRAJSTORE_DATA, ~/.local/share/trajstore).\n"
        "--shards applies when the store is created (default %d).\n"
        "--expect-workers: after a start, the shards are assigned as soon as that many\n"
        "workers registered, not after the %d ms grace.\n", TS_DEFAULT_SHARDS, TS_REGISTER_GRACE_MS);
}

int
main (int argc, char **argv)
{
    if (ts_build_version_asked (argc, argv, "trajstore-aggregator"))
        return 0;
    static struct option opts [] = {
        { "data", required_argument, 0, 'd' }, { "ingest", required_argument, 0, 'i' },
        { "control", required_argument, 0, 'c' }, { "query", required_argument, 0, 'q' },
        { "shards", required_argument, 0, 's' }, { "log-level", required_argument, 0, 'l' },
        { "expect-workers", required_argument, 0, 'e' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL, *ingest = NULL, *control = NULL, *query = NULL;
    unsigned shards = 0, expect = 0;
    ts_log_level_t level = TS_LOG_INFO;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'i': ingest = optarg; break;
        case 'c': control = optarg; break;
        case 'q': query = optarg; break;
        case 's': {
            char *end;
            long v = strtol (optarg, &end, 10);
            if (*end || v < 1 || v > TS_MAX_SHARDS) {
                fprintf (stderr, "trajstore-aggregator: --shards wants 1..%d, got '%s'\n", TS_MAX_SHARDS, optarg);
                return 2;
            }
            shards = (unsigned) v;
            break;
        }
        case 'e': {
            char *end;
            long v = strtol (optarg, &end, 10);
            if (*end || v < 1 || v > TS_MAX_WORKERS) {
                fprintf (stderr, "trajstore-aggregator: --expect-workers wants 1..%d, got '%s'\n",
                         TS_MAX_WORKERS, optarg);
                return 2;
            }
            expect = (unsigned) v;
            break;
        }
        case 'l':
            if (!ts_log_level_parse (optarg, &level)) {
                fprintf (stderr, "trajstore-aggregator: bad --log-level '%s'\n", optarg);
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
    ts_log_init ("aggregator", level);
    char dir [TS_PATH_MAX], ep_i [TS_PATH_MAX], ep_c [TS_PATH_MAX], ep_q [TS_PATH_MAX];
    if (ts_config_data_dir (data, dir, sizeof dir)
    ||  ts_config_endpoint (ingest, "ingest", dir, ep_i, sizeof ep_i)
    ||  ts_config_endpoint (control, "control", dir, ep_c, sizeof ep_c)
    ||  ts_config_endpoint (query, "query", dir, ep_q, sizeof ep_q)) {
        ts_error ("data directory path too long for ipc endpoints: %s", dir);
        return 2;
    }
    ts_daemon_signals (&s_stop);
    srandom ((unsigned) (zclock_time () ^ getpid ()));
    char err [512];
    ts_agg_config_t cfg = { dir, ep_i, ep_c, ep_q, shards, expect };
    ts_agg_t *agg = ts_agg_new (&cfg, err, sizeof err);
    if (!agg) {
        ts_error ("%s", err);
        return 1;
    }
    int rc = ts_agg_run (agg, &s_stop);
    ts_agg_destroy (&agg);
    return rc ? 1 : 0;
}
