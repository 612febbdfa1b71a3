/*  trajstore-api: the client front door (see ts_api.h, docs/PROTOCOL.md).
 *  main parses options, installs signal handlers, runs the api and maps
 *  the result to an exit code. */
#include "ts_api.h"
#include "ts_daemon.h"
#include "ts_log.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>

static volatile bool s_stop;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: trajstore-api [--data DIR] [--bind EP] [--query EP]\n"
        "                     [--log-level debug|info|warn|error]\n"
        "       trajstore-api --help | --version\n"
        "--bind defaults to $TRAJSTORE_API, else ipc://DATA/api.sock (tcp://*:7400 in\n"
        "containers); --query (the aggregator) to $TRAJSTORE_QUERY, else ipc://DATA/query.sock.\n");
}

int
main (int argc, char **argv)
{
    const char *data = NULL;
    ts_log_level_t level = TS_LOG_INFO;
    ts_daemon_ep_t eps [] = { { .name = "api" }, { .name = "query" } };
    const ts_opt_t opts [] = {
        { "bind", TS_OPT_STR, &eps [0].flag, 0, 0 },
        { "query", TS_OPT_STR, &eps [1].flag, 0, 0 },
    };
    int rc = ts_daemon_args (argc, argv, "trajstore-api", s_usage, opts, 2, &data, &level);
    if (rc >= 0)
        return rc;
    ts_log_init ("api", level);
    char dir [TS_PATH_MAX];
    if (ts_daemon_paths (data, dir, eps, 2))
        return 2;
    ts_daemon_signals (&s_stop);
    char err [512];
    ts_api_config_t cfg = { eps [0].ep, eps [1].ep, dir };
    ts_api_t *api = ts_api_new (&cfg, err, sizeof err);
    if (!api) {
        ts_error ("%s", err);
        return 1;
    }
    rc = ts_api_run (api, &s_stop);
    ts_api_destroy (&api);
    return rc ? 1 : 0;
}
