/*  bench_common.h: what the two query benchmarks share (bench_query.c for
 *  trajstore over ZeroMQ, bench_sqlite_query.c for SQLite), so that both
 *  ask the same questions in the same order and report them alike.
 *
 *  - the keys: an "ids file" (one "ID<TAB>GROUP" a line, made from the
 *    dump by `bench_query --extract-ids DUMP`), read into the list of ids
 *    and the list of distinct groups; a seeded generator picks from them,
 *    so two programs with the same seed ask for the same records;
 *  - latencies: sorted samples (one query kind at a time) or histograms
 *    (the concurrent clients: one per child process, in memory shared
 *    with the parent, merged at the end);
 *  - the concurrency harness: C client processes, each with its own
 *    connection, released together, issuing requests back to back for S
 *    seconds;
 *  - one JSON line per case on stdout, a table row on stderr.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- time, random numbers --------------------------------------------------- */

double bq_now (void);                        /* CLOCK_MONOTONIC, seconds */

typedef struct {
    uint64_t s;
} bq_rng_t;

void     bq_rng_seed (bq_rng_t *r, uint64_t seed, uint64_t stream);
uint64_t bq_rng_next (bq_rng_t *r);
size_t   bq_rng_below (bq_rng_t *r, size_t n);   /* 0..n-1; n > 0 */

/* --- keys -------------------------------------------------------------------------- */

typedef struct {
    char   *text;           /* the file, NUL at each TAB and newline */
    char  **ids;
    size_t  nids;
    char  **groups;         /* distinct, sorted */
    size_t  ngroups;
} bq_keys_t;

/*  Loads an ids file. 0, or -1 after saying why on stderr. */
int  bq_keys_load (bq_keys_t *k, const char *path);
void bq_keys_free (bq_keys_t *k);

/* --- latencies --------------------------------------------------------------------- */

typedef struct {
    uint64_t n;
    double   p50, p90, p99, mean, max;   /* milliseconds */
} bq_stats_t;

/*  Sorts the n (> 0) values and returns their median (of an even count:
 *  the mean of the middle two). */
double bq_median (double *t, size_t n);

/*  Sorts the n samples (seconds) and summarises them. */
void bq_stats_of (double *samples, size_t n, bq_stats_t *out);

/*  A latency histogram: 1 microsecond bins up to BQ_HIST_BINS us, the rest
 *  counted in `over` (their sum and maximum are exact). */
#define BQ_HIST_BINS 100000
typedef struct {
    uint64_t count, errors, rows, over;
    double   sum_s, max_s;
    uint32_t bins [BQ_HIST_BINS];
} bq_hist_t;

void bq_hist_add (bq_hist_t *h, double seconds);
void bq_hist_merge (bq_hist_t *into, const bq_hist_t *from);
void bq_hist_stats (const bq_hist_t *h, bq_stats_t *out);

/* --- concurrent clients ------------------------------------------------------------ */

typedef struct {
    /*  In the child: its connection and whatever it needs; NULL on failure
     *  (said on stderr). Called after the fork: nothing of the parent's
     *  connections is shared. */
    void *(*open) (void *ctx, int child);
    /*  One request, chosen with rng. 0 and the rows it returned, or -1. */
    int   (*request) (void *state, bq_rng_t *rng, uint64_t *rows);
    void  (*close) (void *state);
} bq_client_ops_t;

typedef struct {
    int        clients;
    double     seconds;       /* the measured window */
    bq_hist_t  total;         /* merged */
    int        failed;        /* children that could not open or died */
    double     cpu_s;         /* the children's CPU time, user + system */
} bq_conc_t;

/*  Forks `clients` processes; each opens its client, warms it up with a few
 *  untimed requests, then all start at the same instant and issue requests
 *  back to back for `seconds`. Returns 0 (figures in *out, which holds a
 *  large histogram: allocate it), or -1. */
int bq_concurrency (const bq_client_ops_t *ops, void *ctx, int clients, double seconds,
                    uint64_t seed, bq_conc_t *out);

/*  Kills and reaps the client processes of a bq_concurrency under way, if
 *  any: async-signal-safe, for a signal handler of the process that called
 *  bq_concurrency (the clients inherit the handler: check the pid). */
void bq_concurrency_abort (void);

/* --- input files --------------------------------------------------------------------- */

/*  Where temporary files go: `dir` when given and not empty, else $TMPDIR
 *  when set and not empty, else /tmp. */
const char *bq_tmpdir (const char *dir);

/*  Reads a whole regular file into *data (malloc'ed, the caller frees),
 *  with `padding` zero bytes after its end (the parser reads a little past
 *  a line). 0, or -1 with a message naming `prog` and the file on stderr. */
int bq_file_load (const char *prog, const char *path, size_t padding, char **data, size_t *size);

/* --- one query kind at a time ------------------------------------------------------- */

/*  The query kinds both clients (trajstore over ZeroMQ, SQLite embedded)
 *  time one at a time, with their names and descriptions. */
typedef enum {
    K_GET, K_GET_HOT, K_NEWEST, K_REWARD, K_GROUP_SUCCESS, K_GROUPS_ALL, K_STATS, K_COUNT
} bq_kind_t;

typedef struct {
    const char *name, *what;
} bq_kind_desc_t;

extern const bq_kind_desc_t bq_kinds [K_COUNT];

/*  One request of a kind on a client's connection: 0 and the rows it
 *  returned, or -1. */
typedef int (bq_one_fn) (void *conn, bq_kind_t kind, bq_rng_t *rng, uint64_t *rows);

typedef struct {
    const char *prog;         /* for messages */
    const char *system;       /* "trajstore", "sqlite" */
    const char *request;      /* what one is called in messages: "request", "query" */
    const char *only;         /* comma-separated kinds, NULL for all */
    long n, warmup, max_seconds, seed, records;
    FILE *json;               /* JSON lines, or NULL */
} bq_series_t;

/*  Times every kind (or those in `only`): `warmup` untimed requests (at
 *  most a fifth of max_seconds), then up to n timed ones within
 *  max_seconds, reported with bq_report. Returns 0, or 1 when a kind
 *  failed (every warm-up request, or any timed one). */
int bq_run_series (const bq_series_t *cfg, bq_one_fn *one, void *conn);

/*  bq_concurrency with `ops` run and reported (bq_report, without a
 *  header) as case `kase` of `system`. Returns 0, or 1 when clients failed. */
int bq_run_clients (const char *system, const char *kase, const char *what, const char *extra,
                    const bq_client_ops_t *ops, void *ctx, long clients, long seconds, long seed,
                    long records, FILE *json);

/*  The concurrent mix (bq_concurrency with `ops`) run and reported, after
 *  a header, as case "mix_cN" of `system`. Returns 0, or 1 when clients failed. */
int bq_run_mix (const char *system, const char *where, const bq_client_ops_t *ops, void *ctx,
                long clients, long seconds, long seed, long records, FILE *json);

/*  A query benchmark's run: the concurrent mix when clients > 0, else one
 *  client (ops->open (ctx, 0)) timing the kinds of `series` one at a time
 *  with `one`, after a header naming `where`. Returns 0, or 1. */
int bq_run_queries (const bq_series_t *series, const char *where, const bq_client_ops_t *ops,
                    void *ctx, long clients, long seconds, bq_one_fn *one);

/* --- reporting ----------------------------------------------------------------------- */

/*  One case: a JSON line on `json` (when not NULL) and a table row on
 *  `table`. `rows` is the mean number of rows (items, groups) a request
 *  returned; rps is 0 for the one-at-a-time cases; cpu_us the client's CPU
 *  time per request (user + system, microseconds); `extra`, when not NULL,
 *  more members for the JSON line ("\"bytes\":100"), appended last. */
void bq_report (FILE *json, FILE *table, const char *system, const char *kase,
                const char *what, uint64_t records, const bq_stats_t *st, double rows,
                uint64_t errors, int clients, double seconds, double rps, double cpu_us,
                const char *extra);

/*  This process's CPU time so far (user + system), seconds. */
double bq_cpu_self (void);
void bq_report_header (FILE *table, const char *system, const char *where);

/*  Parses a positive integer option value in [lo, hi]; exits 2 otherwise. */
long bq_parse_long (const char *prog, const char *opt, const char *text, long lo, long hi);

#endif
