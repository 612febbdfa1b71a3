/*  trajstore-api: the client front door (see ts_api.h, docs/PROTOCOL.md).
 *  main parses options, installs signal handlers, runs the api and maps
 *  the result to an exit code. */
#include "ts_api.h"
#include "ts_build.h"
#include "ts_config.h"
#include "ts_daemon.h"
#include "ts_log.h"

#include <czmq.h>
#include <getopt.h>
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
    if (ts_build_version_asked (argc, argv, "trajstore-api"))
        return 0;
    static struct option opts [] = {
        { "data", required_argument, 0, 'd' }, { "bind", required_argument, 0, 'b' },
        { "query", required_argument, 0, 'q' }, { "log-level", required_argument, 0, 'l' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL, *bind = NULL, *query = NULL;
    ts_log_level_t level = TS_LOG_INFO;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'b': bind = optarg; break;
        case 'q': query = optarg; break;
        case 'l':
            if (!ts_log_level_parse (optarg, &level)) {
                fprintf (stderr, "trajstore-api: bad --log-level '%s'\n", optarg);
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
    ts_log_init ("api", level);
    char dir [TS_PATH_MAX], ep_b [TS_PATH_MAX], ep_q [TS_PATH_MAX];
    if (ts_config_data_dir (data, dir, sizeof dir)
    ||  ts_config_endpoint (bind, "api", dir, ep_b, sizeof ep_b)
    ||  ts_config_endpoint (query, "query", dir, ep_q, sizeof ep_q)) {
        ts_error ("data directory path too long for ipc endpoints: %s", dir);
        return 2;
    }
    ts_daemon_signals (&s_stop);
    char err [512];
    ts_api_config_t cfg = { ep_b, ep_q, dir };
    ts_api_t *api = ts_api_new (&cfg, err, sizeof err);
    if (!api) {
        ts_error ("%s", err);
        return 1;
    }
    int rc = ts_api_run (api, &s_stop);
    ts_api_destroy (&api);
    return rc ? 1 : 0;
}
