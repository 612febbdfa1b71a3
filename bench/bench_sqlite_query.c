/*  bench_sqlite_query.c: the queries of bench_query.c, asked of SQLite, on
 *  the database bench_sqlite made from the same dump (bench_sqlite FILE
 *  --keep DB --index-created [--covering-group]): the baseline of the
 *  query benchmark.
 *
 *  Usage:
 *    bench_sqlite_query --ids IDS --db DB [--n N] [--warmup W] [--max-seconds S]
 *                       [--seed S] [--only KIND,...] [--records R] [--json]
 *                       [--cache-mib M] [--mmap-mib M]
 *    bench_sqlite_query --ids IDS --db DB --concurrency C --seconds S [...]
 *
 *  Every connection is read-only (the database is in WAL mode, as
 *  bench_sqlite left it) with a page cache of --cache-mib (default 64, the
 *  page cache of one trajstore shard) and --mmap-mib of memory-mapped I/O
 *  (default 0: SQLite's default). Statements are prepared once per
 *  connection and reset between runs; every row's columns are read, as a
 *  client would. The same kinds as bench_query, with the same seed the same
 *  ids and groups in the same order:
 *    get            SELECT raw FROM t WHERE id = ?
 *    get_hot        the same, always the same id
 *    newest         ... ORDER BY created_at DESC LIMIT 100
 *    reward         ... WHERE reward BETWEEN 0.2 AND 0.3 ORDER BY reward LIMIT 100
 *    group_success  ... WHERE data_id = ? AND is_success = 1 ORDER BY created_at DESC LIMIT 100
 *    groups_all     COUNT, SUM(is_success), COUNT(is_success), AVG(reward),
 *                   MAX(reward) ... GROUP BY data_id; success rate and
 *                   pass@1/5/10 computed here, per group (as the aggregator's)
 *    stats          per model: counts, reward sum, sum of squares, min, max and
 *                   the 22 histogram bins (GROUP BY model), totals summed
 *                   here, plus COUNT(DISTINCT data_id); no steps mean
 *                   (json_array_length over every record would dominate)
 *  The summary columns are id, data_id, model, reward, is_success,
 *  created_at (trajstore's summaries also carry steps and ingested_ms).
 *  --concurrency C: C processes, each its own connection, 50/50 get and
 *  one group's newest 100 (... WHERE data_id = ? ORDER BY created_at DESC
 *  LIMIT 100) back to back for S seconds.
 */
#include "bench_common.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define S_PROG "bench_sqlite_query"

#define S_COLS "id, data_id, model, reward, is_success, created_at"


enum {
    Q_GET, Q_NEWEST, Q_REWARD, Q_GROUP_SUCCESS, Q_GROUPS_ALL, Q_STATS, Q_NGROUPS, Q_GROUP,
    Q_COUNT
};

static volatile double s_sink;      /* what the reads read, so they happen */

typedef struct {
    const char      *db;
    const bq_keys_t *keys;
    long             cache_mib, mmap_mib;
} s_ctx_t;

typedef struct {
    sqlite3         *db;
    sqlite3_stmt    *q [Q_COUNT];
    const bq_keys_t *keys;
    int              errors_said;
} s_conn_t;

static char s_stats_sql [4096];

static void
s_make_stats_sql (void)
{
    int n = snprintf (s_stats_sql, sizeof s_stats_sql,
                      "SELECT model, COUNT(*), SUM(is_success), COUNT(is_success), COUNT(reward), "
                      "SUM(reward), SUM(reward * reward), MIN(reward), MAX(reward), "
                      "SUM(reward < 0)");
    for (int b = 0; b < 20; b++)
        n += snprintf (s_stats_sql + n, sizeof s_stats_sql - (size_t) n,
                       b < 19 ? ", SUM(reward >= %.2f AND reward < %.2f)"
                              : ", SUM(reward >= %.2f AND reward <= %.2f)",
                       b * 0.05, (b + 1) * 0.05);
    snprintf (s_stats_sql + n, sizeof s_stats_sql - (size_t) n,
              ", SUM(reward > 1) FROM t GROUP BY model");
}

static void
s_conn_close (void *p)
{
    s_conn_t *c = p;
    if (!c)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize (c->q [i]);
    sqlite3_close (c->db);
    free (c);
}

static void *
s_conn_open (void *ctxp, int child)
{
    const s_ctx_t *ctx = ctxp;
    (void) child;
    static const char *const sql [Q_COUNT] = {
        [Q_GET] = "SELECT raw FROM t WHERE id = ?1",
        [Q_NEWEST] = "SELECT " S_COLS " FROM t ORDER BY created_at DESC LIMIT 100",
        [Q_REWARD] = "SELECT " S_COLS " FROM t WHERE reward BETWEEN 0.2 AND 0.3 ORDER BY reward LIMIT 100",
        [Q_GROUP_SUCCESS] = "SELECT " S_COLS " FROM t WHERE data_id = ?1 AND is_success = 1 "
                            "ORDER BY created_at DESC LIMIT 100",
        [Q_GROUPS_ALL] = "SELECT data_id, COUNT(*), SUM(is_success), COUNT(is_success), AVG(reward), "
                         "MAX(reward) FROM t GROUP BY data_id",
        [Q_STATS] = s_stats_sql,
        [Q_NGROUPS] = "SELECT COUNT(DISTINCT data_id) FROM t",
        [Q_GROUP] = "SELECT " S_COLS " FROM t WHERE data_id = ?1 ORDER BY created_at DESC LIMIT 100",
    };
    s_conn_t *c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->keys = ctx->keys;
    if (sqlite3_open_v2 (ctx->db, &c->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf (stderr, S_PROG ": %s: %s\n", ctx->db, c->db ? sqlite3_errmsg (c->db) : "out of memory");
        s_conn_close (c);
        return NULL;
    }
    char pragmas [200];
    snprintf (pragmas, sizeof pragmas, "PRAGMA cache_size=-%ld; PRAGMA mmap_size=%lld;",
              ctx->cache_mib * 1024, (long long) ctx->mmap_mib << 20);
    char *err = NULL;
    if (sqlite3_exec (c->db, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        fprintf (stderr, S_PROG ": %s: %s\n", pragmas, err ? err : sqlite3_errmsg (c->db));
        sqlite3_free (err);
        s_conn_close (c);
        return NULL;
    }
    for (int i = 0; i < Q_COUNT; i++)
        if (sqlite3_prepare_v3 (c->db, sql [i], -1, SQLITE_PREPARE_PERSISTENT, &c->q [i], NULL) != SQLITE_OK) {
            fprintf (stderr, S_PROG ": prepare %s: %s\n", sql [i], sqlite3_errmsg (c->db));
            s_conn_close (c);
            return NULL;
        }
    return c;
}

static int
s_failed (s_conn_t *c, sqlite3_stmt *st)
{
    if (c->errors_said++ < 3)
        fprintf (stderr, S_PROG ": %s: %s\n", sqlite3_sql (st), sqlite3_errmsg (c->db));
    sqlite3_reset (st);
    return -1;
}

/*  The end of a loop over a statement's rows (`r`: its last step): 0 with
 *  the rows counted and their sum kept (the loop cannot be optimised
 *  away), or -1. */
static int
s_end_rows (s_conn_t *c, sqlite3_stmt *st, int r, double sink, uint64_t n, uint64_t *rows)
{
    if (r != SQLITE_DONE)
        return s_failed (c, st);
    sqlite3_reset (st);
    s_sink += sink;
    *rows = n;
    return 0;
}

/*  Runs a summary listing to its end, reading every column of every row. */
static int
s_rows (s_conn_t *c, sqlite3_stmt *st, uint64_t *rows)
{
    int r;
    uint64_t n = 0;
    double sink = 0;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        const unsigned char *id = sqlite3_column_text (st, 0);
        const unsigned char *group = sqlite3_column_text (st, 1);
        const unsigned char *model = sqlite3_column_text (st, 2);
        const unsigned char *created = sqlite3_column_text (st, 5);
        sink += sqlite3_column_double (st, 3) + sqlite3_column_int (st, 4)
              + (id ? id [0] : 0) + (group ? group [0] : 0) + (model ? model [0] : 0)
              + (created ? created [0] : 0);
        n++;
    }
    return s_end_rows (c, st, r, sink, n, rows);
}

static int
s_get (s_conn_t *c, const char *id, uint64_t *rows)
{
    sqlite3_stmt *st = c->q [Q_GET];
    sqlite3_bind_text (st, 1, id, -1, SQLITE_STATIC);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        const void *raw = sqlite3_column_blob (st, 0);
        int len = sqlite3_column_bytes (st, 0);
        s_sink += raw && len ? ((const unsigned char *) raw) [len - 1] : 0;
        *rows = 1;
        r = sqlite3_step (st);
    }
    if (r != SQLITE_DONE)
        return s_failed (c, st);
    sqlite3_reset (st);
    return *rows == 1 ? 0 : -1;
}

static int
s_group (s_conn_t *c, int q, const char *group, uint64_t *rows)
{
    sqlite3_stmt *st = c->q [q];
    sqlite3_bind_text (st, 1, group, -1, SQLITE_STATIC);
    return s_rows (c, st, rows);
}

/*  pass@k = 1 - C(n-c, k) / C(n, k); NaN when n < k. */
static double
s_pass_at (int64_t n, int64_t c, int k)
{
    if (n < k)
        return NAN;
    if (n - c < k)
        return 1.0;
    double q = 1.0;
    for (int i = 0; i < k; i++)
        q *= (double) (n - c - i) / (double) (n - i);
    return 1.0 - q;
}

static int
s_groups_all (s_conn_t *c, uint64_t *rows)
{
    sqlite3_stmt *st = c->q [Q_GROUPS_ALL];
    int r;
    uint64_t n = 0;
    double sink = 0;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        const unsigned char *group = sqlite3_column_text (st, 0);
        int64_t known = sqlite3_column_int64 (st, 3), succ = sqlite3_column_int64 (st, 2);
        double rate = known ? (double) succ / (double) known : NAN;
        double p1 = s_pass_at (known, succ, 1), p5 = s_pass_at (known, succ, 5);
        double p10 = s_pass_at (known, succ, 10);
        sink += (double) sqlite3_column_int64 (st, 1) + sqlite3_column_double (st, 4)
              + sqlite3_column_double (st, 5) + (group ? group [0] : 0);
        if (!isnan (rate))
            sink += rate;
        if (!isnan (p10))
            sink += p1 + p5 + p10;
        n++;
    }
    return s_end_rows (c, st, r, sink, n, rows);
}

static int
s_stats (s_conn_t *c, uint64_t *rows)
{
    sqlite3_stmt *st = c->q [Q_STATS];
    int r;
    int64_t records = 0, succ = 0, known = 0, rn = 0, hist [22] = { 0 };
    double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        const unsigned char *model = sqlite3_column_text (st, 0);
        int64_t m_rn = sqlite3_column_int64 (st, 4);
        double m_sum = sqlite3_column_double (st, 5), m_sq = sqlite3_column_double (st, 6);
        /* per model: what the reply would carry */
        double mean = m_rn ? m_sum / (double) m_rn : NAN;
        double var = m_rn > 1 ? (m_sq - m_sum * mean) / (double) (m_rn - 1) : NAN;
        if (!isnan (var) && var > 0)
            s_sink += sqrt (var) + (model ? model [0] : 0);
        records += sqlite3_column_int64 (st, 1);
        succ += sqlite3_column_int64 (st, 2);
        known += sqlite3_column_int64 (st, 3);
        rn += m_rn;
        sum += m_sum;
        sq += m_sq;
        if (m_rn) {
            double a = sqlite3_column_double (st, 7), b = sqlite3_column_double (st, 8);
            mn = a < mn ? a : mn;
            mx = b > mx ? b : mx;
        }
        for (int b = 0; b < 22; b++)
            hist [b] += sqlite3_column_int64 (st, 9 + b);
    }
    if (r != SQLITE_DONE)
        return s_failed (c, st);
    sqlite3_reset (st);
    st = c->q [Q_NGROUPS];
    if (sqlite3_step (st) != SQLITE_ROW)
        return s_failed (c, st);
    int64_t groups = sqlite3_column_int64 (st, 0);
    sqlite3_reset (st);
    double mean = rn ? sum / (double) rn : NAN;
    s_sink += (double) (records + succ + known + groups + hist [20]) + (rn ? mean + mn + mx + sq : 0);
    *rows = 1;
    return 0;
}

static int
s_one (s_conn_t *c, bq_kind_t kind, bq_rng_t *rng, uint64_t *rows)
{
    const bq_keys_t *k = c->keys;
    *rows = 0;
    switch (kind) {
    case K_GET:           return s_get (c, k->ids [bq_rng_below (rng, k->nids)], rows);
    case K_GET_HOT:       return s_get (c, k->ids [0], rows);
    case K_NEWEST:        return s_rows (c, c->q [Q_NEWEST], rows);
    case K_REWARD:        return s_rows (c, c->q [Q_REWARD], rows);
    case K_GROUP_SUCCESS: return s_group (c, Q_GROUP_SUCCESS, k->groups [bq_rng_below (rng, k->ngroups)], rows);
    case K_GROUPS_ALL:    return s_groups_all (c, rows);
    case K_STATS:         return s_stats (c, rows);
    default:              return -1;
    }
}

static int
s_one_any (void *conn, bq_kind_t kind, bq_rng_t *rng, uint64_t *rows)
{
    return s_one ((s_conn_t *) conn, kind, rng, rows);
}

static int
s_mix (void *state, bq_rng_t *rng, uint64_t *rows)
{
    s_conn_t *c = state;
    const bq_keys_t *k = c->keys;
    *rows = 0;
    if (bq_rng_next (rng) & 1)
        return s_get (c, k->ids [bq_rng_below (rng, k->nids)], rows);
    return s_group (c, Q_GROUP, k->groups [bq_rng_below (rng, k->ngroups)], rows);
}

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: " S_PROG " --ids IDS --db DB [--n N] [--warmup W] [--max-seconds S] [--seed S]\n"
             "                   [--only KIND,...] [--records R] [--json] [--cache-mib M] [--mmap-mib M]\n"
             "       " S_PROG " --ids IDS --db DB --concurrency C --seconds S [...]\n"
             "kinds: get, get_hot, newest, reward, group_success, groups_all, stats\n");
}

int
main (int argc, char **argv)
{
    const char *ids = NULL, *db = NULL, *only = NULL;
    long n = 2000, warmup = 100, clients = 0, seconds = 10, max_seconds = 5, seed = 1, records = 0;
    long cache_mib = 64, mmap_mib = 0;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv [i], *v = i + 1 < argc ? argv [i + 1] : NULL;
        if (!strcmp (a, "--ids") && v)                { ids = v; i++; }
        else if (!strcmp (a, "--db") && v)            { db = v; i++; }
        else if (!strcmp (a, "--only") && v)          { only = v; i++; }
        else if (!strcmp (a, "--n") && v)             { n = bq_parse_long (S_PROG, a, v, 1, 100000000); i++; }
        else if (!strcmp (a, "--warmup") && v)        { warmup = bq_parse_long (S_PROG, a, v, 0, 1000000); i++; }
        else if (!strcmp (a, "--max-seconds") && v)   { max_seconds = bq_parse_long (S_PROG, a, v, 1, 86400); i++; }
        else if (!strcmp (a, "--concurrency") && v)   { clients = bq_parse_long (S_PROG, a, v, 1, 1000); i++; }
        else if (!strcmp (a, "--seconds") && v)       { seconds = bq_parse_long (S_PROG, a, v, 1, 86400); i++; }
        else if (!strcmp (a, "--seed") && v)          { seed = bq_parse_long (S_PROG, a, v, 0, 1L << 40); i++; }
        else if (!strcmp (a, "--records") && v)       { records = bq_parse_long (S_PROG, a, v, 0, 1L << 40); i++; }
        else if (!strcmp (a, "--cache-mib") && v)     { cache_mib = bq_parse_long (S_PROG, a, v, 1, 1L << 20); i++; }
        else if (!strcmp (a, "--mmap-mib") && v)      { mmap_mib = bq_parse_long (S_PROG, a, v, 0, 1L << 20); i++; }
        else if (!strcmp (a, "--json"))                 json = true;
        else {
            s_usage ();
            return 2;
        }
    }
    if (!ids || !db) {
        s_usage ();
        return 2;
    }
    bq_keys_t keys;
    if (bq_keys_load (&keys, ids))
        return 1;
    if (!records)
        records = (long) keys.nids;
    s_make_stats_sql ();
    s_ctx_t ctx = { db, &keys, cache_mib, mmap_mib };
    FILE *jout = json ? stdout : NULL;
    char where [4300];
    snprintf (where, sizeof where, "%s (read-only, cache %ld MiB, mmap %ld MiB)", db, cache_mib, mmap_mib);
    static const bq_client_ops_t ops = { s_conn_open, s_mix, s_conn_close };
    bq_series_t series = { S_PROG, "sqlite", "query", only, n, warmup, max_seconds, seed,
                           records, jout };
    int rc = bq_run_queries (&series, where, &ops, &ctx, clients, seconds, s_one_any);
    bq_keys_free (&keys);
    return rc;
}
