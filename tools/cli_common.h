/*  cli_common.h: what the commands of the `trajstore` CLI share.
 *
 *  The CLI runs a whole stack on one machine (the embedded default): one
 *  data directory holds the shards, the ipc sockets (ts_config.h), the
 *  logs (DATA/logs/<process>.log), the supervisor's pid file
 *  (DATA/supervisor.pid, locked with flock by the running supervisor) and
 *  its state file (DATA/supervisor.state, msgpack, see cli_supervisor.h).
 *
 *  Each command is a function of (argc, argv), argv [0] being the command's
 *  name, that parses its own options and returns the process's exit code:
 *  0 success, 1 failure, 2 usage error or no answer. The command table
 *  lives in trajstore.c; a new command is one more ts_cli_cmd_* function
 *  and one more row there.
 */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include "ts_config.h"
#include "ts_mp.h"
#include "ts_proto.h"
#include "ts_record.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define TS_CLI_MAX_WORKERS   64                  /* --workers limit */
#define TS_CLI_MAX_PROCS     (TS_CLI_MAX_WORKERS + 3)   /* + aggregator, api, http */
#define TS_CLI_ANSWER_MS     2000                /* a status query's patience */
#define TS_CLI_UP_TIMEOUT_MS 60000               /* `up` waits this long for ready */
#define TS_CLI_LOG_TAIL      20                  /* log lines shown on failure */

/* --- commands (one file each) ------------------------------------------ */

int ts_cli_cmd_up (int argc, char **argv);         /* cli_stack.c */
int ts_cli_cmd_down (int argc, char **argv);       /* cli_stack.c */
int ts_cli_cmd_supervise (int argc, char **argv);  /* cli_stack.c */
int ts_cli_cmd_status (int argc, char **argv);     /* cli_status.c */
int ts_cli_cmd_import (int argc, char **argv);     /* cli_import.c */
struct cli_join;
/*  `import --dry-run FILE`: the first records mapped under the profile, and
 *  how well each built-in profile fits; stores nothing (cli_dryrun.c). */
int ts_cli_import_dry_run (const char *file, const char *profile, bool strict, const char *run,
                           const char *const *sets, int nsets, const char *ids,
                           struct cli_join *join, bool json);

/*  Prints the usage of one command (or of all when `command` is NULL) on
 *  `out`. Commands call it for a bad option, on stderr. (trajstore.c) */
void ts_cli_usage (FILE *out, const char *command);

/* --- where a stack lives -------------------------------------------------- */

typedef struct {
    char data [TS_PATH_MAX];        /* absolute when the directory exists */
    char logs [TS_PATH_MAX];
    char pid_file [TS_PATH_MAX];
    char state_file [TS_PATH_MAX];
    char ingest [TS_PATH_MAX];
    char control [TS_PATH_MAX];
    char query [TS_PATH_MAX];
    char api [TS_PATH_MAX];
} ts_cli_paths_t;

/*  Fills *p from --data (`data_flag`, may be NULL) and the environment
 *  (ts_config.h). With `create`, makes the data and log directories first.
 *  Returns 0; TS_ETOOBIG (a path, or an ipc endpoint, too long); -errno
 *  when a directory cannot be made. */
int ts_cli_paths_init (ts_cli_paths_t *p, const char *data_flag, bool create);

/*  Finds a sibling program `name` (e.g. "trajstore-worker"):
 *  ts_build_find_binary (the api, too, runs a sibling: the producer).
 *  Writes its path into buf. Returns 0 or TS_ENOTFOUND. */
int ts_cli_find_binary (const char *name, const char *subdir, char *buf, size_t size);

/*  The pid of the supervisor running for this data directory, or 0 when
 *  none runs (no pid file, or its pid is gone or is another program). */
pid_t ts_cli_supervisor_pid (const ts_cli_paths_t *p);

/*  True when `pid` is a live process (not a zombie). */
bool ts_cli_pid_is_alive (pid_t pid);

/*  True when live process `pid`'s command line contains `needle` (and,
 *  when `needle2` is not NULL, that too). */
bool ts_cli_pid_cmdline_has (pid_t pid, const char *needle, const char *needle2);

/*  The URL the HTTP gateway of this data directory listens on, as it
 *  wrote it into DATA/http.addr once listening (it removes the file when
 *  it stops). Returns 0, or -errno with buf [0] == 0. */
int ts_cli_http_url (const ts_cli_paths_t *p, char *buf, size_t size);

/*  Sleeps `ms` milliseconds (restarted on EINTR). */
void ts_cli_sleep_ms (int ms);

/*  Prints the last `lines` lines of the file at `path` on `out`, each
 *  indented, under a heading naming the file; says so when it cannot be
 *  read. */
void ts_cli_print_log_tail (FILE *out, const char *path, int lines);

/*  "1.2s", "3m04s", "2h05m": a short human duration. */
void ts_cli_format_duration (int64_t ms, char *buf, size_t size);

/* --- the supervisor's state file ------------------------------------------ */

typedef struct {
    char     name [32];
    char     state [16];            /* "running", "backoff", "stopped" */
    int64_t  pid;                   /* 0 when not running */
    uint64_t restarts;
    char     last_exit [64];        /* "" when it never exited */
    int64_t  started_ms;            /* wall clock of the latest start */
} ts_cli_proc_t;

typedef struct {
    int64_t       pid;              /* the supervisor's */
    int64_t       started_ms;
    bool          stopping;
    int           nprocs;
    ts_cli_proc_t procs [TS_CLI_MAX_PROCS];
} ts_cli_state_t;

/*  Reads the state file. Returns 0; -errno (-ENOENT: no file); TS_ECORRUPT
 *  when it does not decode; TS_EVERSION for another format version. */
int ts_cli_state_load (const char *path, ts_cli_state_t *st);

/*  The processes listed in `st` (of an earlier run) that are still alive
 *  and are trajstore programs of data directory `data`: their indexes go
 *  into `idx`. Returns how many. */
int ts_cli_state_orphans (const ts_cli_state_t *st, const char *data, int idx [TS_CLI_MAX_PROCS]);

/*  Stops the processes of `st` listed in `idx`: SIGTERM, up to
 *  `grace_ms` to exit, then SIGKILL. Workers first, the aggregator last. */
void ts_cli_stop_orphans (const ts_cli_state_t *st, const int *idx, int n, int grace_ms);

/* --- talking to the aggregator ---------------------------------------------- */

/*  Sends {"v":1,"t":type} to the aggregator's query endpoint and waits up
 *  to timeout_ms for the reply. On success *reply is a new zframe_t (the
 *  reply's header) the caller destroys. Returns 0, TS_ETIMEOUT, or
 *  TS_EPROTO when the reply is not a protocol header. */
int ts_cli_request (const char *endpoint, ts_msg_t type, int timeout_ms,
                    zframe_t **reply);

/*  One worker, as the aggregator's status reply lists it. */
typedef struct {
    char     name [64];
    int64_t  pid;
    bool     alive;
    uint32_t nshards;
    char     shards [160];          /* "0-7,9" (cut with "..." when long) */
    int      queued;
    char     error [160];
} ts_cli_worker_t;

typedef struct {
    char     job [72];
    char     src [256];
    char     state [16];
    uint64_t lines, imported, duplicates, rejected;
    uint64_t chunks_acked, chunks;
    int64_t  started_ms, updated_ms, finished_ms;   /* aggregator's clock */
    bool     finished;
} ts_cli_job_t;

/*  The aggregator's "status" reply, decoded (see s_reply_status in
 *  aggregator/ts_agg.c). About 150 KB: allocate it, not on the stack.
 *  Workers beyond 256 and jobs beyond 128 are left out. */
typedef struct {
    uint64_t epoch, nshards, incarnation, queued_chunks;
    int64_t  uptime_ms;
    bool     stats_complete;
    unsigned assigned;              /* shards owned by a live worker */
    unsigned alive;                 /* live workers */
    int      nworkers;
    ts_cli_worker_t workers [256];
    int      njobs;
    ts_cli_job_t jobs [128];        /* newest first */
} ts_cli_agg_status_t;

/*  Decodes a status reply. Returns 0, TS_EPROTO (not a status reply), or
 *  the aggregator's error as TS_EBADREQ with its message in `err`. */
int ts_cli_agg_status_parse (const void *data, size_t len, ts_cli_agg_status_t *st,
                             char *err, size_t err_size);

/*  The worker named `name` in *st, or NULL. */
const ts_cli_worker_t *ts_cli_agg_worker (const ts_cli_agg_status_t *st, const char *name);

/*  Finds `key` in the msgpack map at `map` (the reader is not moved); on
 *  success `value` is positioned at its value. */
bool ts_cli_mp_find (const ts_mp_reader_t *map, const char *key, ts_mp_reader_t *value);

#endif
