/*  trajstore-aggregator: the hub of a trajstore (see ts_agg.h).
 *  main parses options, installs signal handlers, runs the aggregator and
 *  maps the result to an exit code. */
#include "ts_agg.h"
#include "ts_daemon.h"
#include "ts_log.h"
#include "ts_proto.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

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
    const char *data = NULL;
    ts_log_level_t level = TS_LOG_INFO;
    unsigned shards = 0, expect = 0;
    ts_daemon_ep_t eps [] = {
        { .name = "ingest" }, { .name = "control" }, { .name = "query" }
    };
    const ts_opt_t opts [] = {
        { "ingest", TS_OPT_STR, &eps [0].flag, 0, 0 },
        { "control", TS_OPT_STR, &eps [1].flag, 0, 0 },
        { "query", TS_OPT_STR, &eps [2].flag, 0, 0 },
        { "shards", TS_OPT_UINT, &shards, 1, TS_MAX_SHARDS },
        { "expect-workers", TS_OPT_UINT, &expect, 1, TS_MAX_WORKERS },
    };
    int rc = ts_daemon_args (argc, argv, "trajstore-aggregator", s_usage, opts, 5, &data, &level);
    if (rc >= 0)
        return rc;
    ts_log_init ("aggregator", level);
    char dir [TS_PATH_MAX];
    if (ts_daemon_paths (data, dir, eps, 3))
        return 2;
    ts_daemon_signals (&s_stop);
    srandom ((unsigned) (zclock_time () ^ getpid ()));
    char err [512];
    ts_agg_config_t cfg = { dir, eps [0].ep, eps [1].ep, eps [2].ep, shards, expect };
    ts_agg_t *agg = ts_agg_new (&cfg, err, sizeof err);
    if (!agg) {
        ts_error ("%s", err);
        return 1;
    }
    rc = ts_agg_run (agg, &s_stop);
    ts_agg_destroy (&agg);
    return rc ? 1 : 0;
}
