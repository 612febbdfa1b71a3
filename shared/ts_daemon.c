/*  ts_daemon.c: the start of the long-running processes (ts_daemon.h). */
#include "ts_daemon.h"
#include "ts_build.h"

#include <assert.h>
#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static volatile bool *s_stop;

static void
s_on_signal (int sig)
{
    (void) sig;
    if (s_stop)
        *s_stop = true;
}

void
ts_daemon_signals (volatile bool *stop)
{
    s_stop = stop;
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
}

/*  getopt_long's codes: the table's options from 256 on. */
enum { S_OPT_DATA = 'd', S_OPT_LOG = 'l', S_OPT_HELP = 'h', S_OPT_FIRST = 256 };
#define S_OPTS_MAX 16

/*  Stores one of the table's options; false (after saying why) for a bad value. */
static bool
s_opt_set (const char *prog, const ts_opt_t *o, const char *arg)
{
    switch (o->kind) {
    case TS_OPT_STR:
        *(const char **) o->value = arg;
        return true;
    case TS_OPT_FLAG:
        *(bool *) o->value = true;
        return true;
    case TS_OPT_UINT: {
        char *end;
        long v = strtol (arg, &end, 10);
        if (*end || v < (long) o->lo || v > (long) o->hi) {
            fprintf (stderr, "%s: --%s wants %u..%u, got '%s'\n", prog, o->name, o->lo, o->hi, arg);
            return false;
        }
        *(unsigned *) o->value = (unsigned) v;
        return true;
    }
    }
    return false;
}

int
ts_daemon_args (int argc, char **argv, const char *prog, void (*usage) (FILE *out),
                const ts_opt_t *opts, int nopts, const char **data, ts_log_level_t *level)
{
    assert (prog && usage && data && level && nopts >= 0 && nopts <= S_OPTS_MAX);
    if (ts_build_version_asked (argc, argv, prog))
        return 0;
    struct option lopts [S_OPTS_MAX + 4];
    int n = 0;
    lopts [n++] = (struct option) { "data", required_argument, 0, S_OPT_DATA };
    lopts [n++] = (struct option) { "log-level", required_argument, 0, S_OPT_LOG };
    lopts [n++] = (struct option) { "help", no_argument, 0, S_OPT_HELP };
    for (int i = 0; i < nopts; i++)
        lopts [n++] = (struct option) {
            opts [i].name, opts [i].kind == TS_OPT_FLAG ? no_argument : required_argument,
            0, S_OPT_FIRST + i
        };
    lopts [n] = (struct option) { 0, 0, 0, 0 };
    int c;
    while ((c = getopt_long (argc, argv, "h", lopts, NULL)) != -1) {
        if (c >= S_OPT_FIRST && c < S_OPT_FIRST + nopts) {
            if (!s_opt_set (prog, &opts [c - S_OPT_FIRST], optarg))
                return 2;
            continue;
        }
        switch (c) {
        case S_OPT_DATA: *data = optarg; break;
        case S_OPT_LOG:
            if (!ts_log_level_parse (optarg, level)) {
                fprintf (stderr, "%s: bad --log-level '%s'\n", prog, optarg);
                return 2;
            }
            break;
        case S_OPT_HELP: usage (stdout); return 0;
        default: usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        usage (stderr);
        return 2;
    }
    return -1;
}

int
ts_daemon_paths (const char *data, char *dir, ts_daemon_ep_t *eps, int n)
{
    bool bad = ts_config_data_dir (data, dir, TS_PATH_MAX) != 0;
    for (int i = 0; i < n && !bad; i++)
        bad = ts_config_endpoint (eps [i].flag, eps [i].name, dir, eps [i].ep, sizeof eps [i].ep) != 0;
    if (bad) {
        ts_error ("data directory path too long for ipc endpoints: %s", dir);
        return 2;
    }
    return 0;
}
