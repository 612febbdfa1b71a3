/*  ts_daemon.h: what every long-running trajstore process does at start:
 *  read its options, find its endpoints, install its signal handlers. */
#ifndef TS_DAEMON_H
#define TS_DAEMON_H

#include "ts_config.h"
#include "ts_log.h"

#include <stdbool.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  SIGINT and SIGTERM set *stop (the process finishes what it holds and
 *  leaves), SIGPIPE is ignored, and czmq is kept from installing handlers
 *  of its own. Call before creating any socket. */
void ts_daemon_signals (volatile bool *stop);

/*  One option of a daemon, besides those every daemon has. */
typedef enum {
    TS_OPT_STR,        /* --name VALUE: *(const char **) value = VALUE */
    TS_OPT_UINT,       /* --name N, lo <= N <= hi: *(unsigned *) value = N */
    TS_OPT_FLAG        /* --name: *(bool *) value = true */
} ts_opt_kind_t;

typedef struct {
    const char   *name;        /* without the dashes */
    ts_opt_kind_t kind;
    void         *value;
    unsigned      lo, hi;      /* TS_OPT_UINT's range */
} ts_opt_t;

/*  Reads a daemon's command line: --version and --help (usage to stdout),
 *  --data DIR into *data, --log-level into *level, and the `nopts` options
 *  of `opts`. `prog` names the program in errors ("trajstore-api: bad
 *  --log-level 'x'"); `usage` prints its usage, to stderr after a bad
 *  option or an operand. Returns -1 to go on, else the exit status: 0
 *  after --help or --version, 2 for a bad command line. */
int ts_daemon_args (int argc, char **argv, const char *prog, void (*usage) (FILE *out),
                    const ts_opt_t *opts, int nopts, const char **data, ts_log_level_t *level);

/*  An endpoint a daemon binds or connects to: its flag (NULL: from the
 *  environment or the data directory, ts_config_endpoint) and its name. */
typedef struct {
    const char *flag;
    const char *name;          /* "ingest", "control", "query", "api" */
    char        ep [TS_PATH_MAX];
} ts_daemon_ep_t;

/*  Resolves the data directory (`data`: --data or NULL) into dir
 *  (TS_PATH_MAX bytes) and each of the `n` endpoints. Returns 0, or 2 (the
 *  exit status) after logging that the path is too long. */
int ts_daemon_paths (const char *data, char *dir, ts_daemon_ep_t *eps, int n);

#ifdef __cplusplus
}
#endif
#endif
