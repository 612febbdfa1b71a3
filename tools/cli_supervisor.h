/*  cli_supervisor.h: the supervisor of a one-machine stack: it starts the
 *  aggregator, N workers (w1..wN), the api (when its program exists) and
 *  the HTTP gateway "http" (when its program exists and it is wanted),
 *  restarts whichever exits, and stops them all in order.
 *
 *  Each child's stdout and stderr are appended to DATA/logs/<name>.log. A
 *  child that exits while the supervisor is not stopping is started again
 *  after a delay that starts at TS_SUPERVISOR_BACKOFF_MIN_MS and doubles
 *  with each quick exit up to TS_SUPERVISOR_BACKOFF_MAX_MS; a child that
 *  ran TS_SUPERVISOR_HEALTHY_MS or longer starts over from the minimum.
 *
 *  The state file (DATA/supervisor.state) is replaced (write, then rename)
 *  whenever something changes. It is a msgpack map, a protocol header
 *  (ts_msg.h) of type "state":
 *      pid, started_ms, data, stopping,
 *      processes: [{name, state ("running" | "backoff" | "stopped"), pid
 *                   (0 when not running), restarts, last_exit (text or
 *                   nil), started_ms (wall clock), program}]
 *  Readers: ts_cli_state_load (cli_common.h).
 *
 *  Signals: the caller blocks SIGCHLD, SIGTERM, SIGINT and SIGHUP before
 *  ts_supervisor_start, and ts_supervisor_run waits for them with
 *  sigtimedwait, so no handler runs and no child event is lost between a
 *  check and a wait. Children start with every signal unblocked and at its
 *  default.
 */
#ifndef CLI_SUPERVISOR_H
#define CLI_SUPERVISOR_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define TS_SUPERVISOR_BACKOFF_MIN_MS 100
#define TS_SUPERVISOR_BACKOFF_MAX_MS 10000
#define TS_SUPERVISOR_HEALTHY_MS     30000
#define TS_SUPERVISOR_STOP_MS        10000   /* grace for each stage of a stop */

typedef struct ts_supervisor ts_supervisor_t;

typedef struct {
    const char *data_dir;        /* absolute */
    const char *logs_dir;
    const char *state_file;
    unsigned    workers;         /* 1..TS_CLI_MAX_WORKERS */
    unsigned    shards;          /* 0: the aggregator's default */
    const char *log_level;       /* NULL: the children's default */
    const char *http_addr;       /* the gateway's --http, NULL: its default */
    bool        no_http;         /* start no gateway */
} ts_supervisor_config_t;

/*  Finds the programs (cli_common.h, ts_cli_find_binary) and prepares the
 *  children; starts nothing. NULL when the aggregator's or the worker's
 *  program is missing, with a message in `err`. Strings are copied. */
ts_supervisor_t *ts_supervisor_new (const ts_supervisor_config_t *cfg, char *err,
                                    size_t err_size);

/*  Starts every child: the aggregator first, then the workers, then the
 *  api and the gateway. Returns 0, or -errno when a log file cannot be opened or fork
 *  fails (the message in `err`); children already started keep running
 *  until ts_supervisor_stop. */
int ts_supervisor_start (ts_supervisor_t *self, char *err, size_t err_size);

/*  True when the api (the gateway) is among the children. */
bool ts_supervisor_has_api (const ts_supervisor_t *self);
bool ts_supervisor_has_http (const ts_supervisor_t *self);

/*  The signals the supervisor waits for (SIGCHLD, SIGTERM, SIGINT,
 *  SIGHUP), which its caller blocks before starting it. */
void ts_supervisor_sigset (sigset_t *set);

/*  Supervises until one of SIGTERM, SIGINT or SIGHUP arrives (they must be
 *  blocked, see above), then stops the children (ts_supervisor_stop).
 *  Returns 0. */
int ts_supervisor_run (ts_supervisor_t *self);

/*  Stops the children: SIGTERM to the workers, up to
 *  TS_SUPERVISOR_STOP_MS for them to exit, SIGKILL for the rest; then the
 *  gateway, the api, the aggregator, the same way. Safe to call twice. */
void ts_supervisor_stop (ts_supervisor_t *self);

/*  Frees the supervisor (its children must be stopped); nulls *self_p;
 *  safe on NULL. */
void ts_supervisor_destroy (ts_supervisor_t **self_p);

#endif
