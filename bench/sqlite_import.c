/*  sqlite_import.c: the baseline for bench_core: the same JSONL dump
 *  imported into SQLite the way a user would wire it, tuned the way a user
 *  who cares about import speed would tune it.
 *
 *  Usage: bench_sqlite FILE [--reps N] [--dir TMPDIR] [--json]
 *                          [--extract sql|parser] [--page-size BYTES]
 *                          [--commit-rows N] [--keep DB]
 *                          [--index-created] [--covering-group]
 *
 *  One table, t(id TEXT PRIMARY KEY, data_id TEXT, reward REAL,
 *  is_success INTEGER, model TEXT, created_at TEXT, raw TEXT), filled in
 *  one transaction through one prepared INSERT OR IGNORE (duplicates are
 *  skipped, as trajstore skips them), journal_mode=WAL, synchronous=NORMAL,
 *  a 64 MiB page cache (the page cache of one trajstore shard), then
 *  indexes on data_id and reward built after the rows (faster than keeping
 *  them up to date row by row). The columns come either from
 *    sql     json_extract(?1, '$.field') in the INSERT itself (SQLite
 *            parses each line once: the parse is cached for the statement's
 *            other json_extract calls on the same text), or from
 *    parser  our own line parser (simdjson), the fields bound as values;
 *            it also packs msgpack that SQLite does not need, so it flatters
 *            SQLite less than a bare field extractor would.
 *  Time: from open to the commit, index creation included (the figure);
 *  the close (WAL checkpoint into the database file) is reported apart.
 *  --commit-rows N commits every N rows instead, with the indexes made
 *  first, kept up to date row by row: what importing with trajstore's
 *  durability (a commit every ~1000 records) costs SQLite.
 *  MB/s are of input JSON bytes, MB = 10^6 bytes; best and median of N.
 *
 *  For the query benchmark (bench_sqlite_query.c), the database of the
 *  last repetition can be kept (--keep DB), with the indexes SQLite needs
 *  to answer its queries the favourable way: --index-created adds one on
 *  created_at (for "the newest 100"), --covering-group makes the group
 *  index (data_id, is_success, reward, created_at, model), so per-group
 *  statistics and one group's listing never touch the table's rows.
 *  Both are built after the rows, inside the timed transaction.
 */
#include "bench_common.h"
#include "ts_error.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_record.h"

#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_REPS 1000

typedef struct {
    char  *data;          /* the file, TS_PARSE_PADDING zero bytes after */
    size_t size;
} s_input_t;

typedef struct {
    bool  parser;         /* extract with our parser, not json_extract */
    int   page_size;
    long  commit_rows;    /* 0: one transaction, indexes built at the end */
    bool  index_created;  /* also an index on created_at */
    bool  covering_group; /* the group index covers the summary columns */
    bool  keep;           /* keep the database (o->db) of the last run */
    const char *db;       /* database path */
    char  wal [4300], shm [4300];
} s_opts_t;

typedef struct {
    uint64_t records;     /* lines inserted or ignored as duplicates */
    uint64_t inserted;
    uint64_t rejected;
    double   t_commit, t_close;
} s_run_t;

static int
s_input_load (s_input_t *in, const char *path)
{
    memset (in, 0, sizeof *in);
    /* the parser mode's simdjson reads a little past a line's end */
    if (bq_file_load ("bench_sqlite", path, TS_PARSE_PADDING, &in->data, &in->size))
        return -1;
    return 0;
}

static int
s_exec (sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec (db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf (stderr, "bench_sqlite: %s: %s\n", sql, err ? err : sqlite3_errmsg (db));
        sqlite3_free (err);
        return -1;
    }
    return 0;
}

static void
s_remove_db (const s_opts_t *o)
{
    unlink (o->db);
    unlink (o->wal);
    unlink (o->shm);
}

/*  created_ms as ISO 8601 text, what the column holds in sql mode. */
static int
s_iso_time (int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int) (ms - (int64_t) secs * 1000);
    struct tm tm;
    if (!gmtime_r (&secs, &tm))
        return 0;
    return snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/*  Binds the columns of one line in parser mode. 1 bound, 0 a bad line,
 *  -1 an error. */
static int
s_bind_parsed (sqlite3_stmt *st, ts_parser_t *ps, ts_buf_t *scratch, const char *line,
               size_t len)
{
    ts_summary_t s;
    char reason [256], when [40];
    scratch->size = 0;
    int rc = ts_parser_parse (ps, line, len, 1, 0, scratch, &s, reason, sizeof reason);
    if (rc == TS_EBADLINE)
        return 0;
    if (rc)
        return -1;
    /* the summary's strings live in the parser until its next call: the
     * statement runs before that, so no copies */
    sqlite3_bind_text (st, 1, s.id, (int) s.id_len, SQLITE_STATIC);
    if (s.group)
        sqlite3_bind_text (st, 2, s.group, (int) s.group_len, SQLITE_STATIC);
    else
        sqlite3_bind_null (st, 2);
    if (s.has_reward)
        sqlite3_bind_double (st, 3, s.reward);
    else
        sqlite3_bind_null (st, 3);
    if (s.success != TS_SUCCESS_UNKNOWN)
        sqlite3_bind_int (st, 4, s.success);
    else
        sqlite3_bind_null (st, 4);
    if (s.model)
        sqlite3_bind_text (st, 5, s.model, (int) s.model_len, SQLITE_STATIC);
    else
        sqlite3_bind_null (st, 5);
    int wl = s.has_created ? s_iso_time (s.created_ms, when, sizeof when) : 0;
    if (wl > 0)
        sqlite3_bind_text (st, 6, when, wl, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null (st, 6);
    sqlite3_bind_text (st, 7, line, (int) len, SQLITE_STATIC);
    return 1;
}

/*  The indexes: group (data_id) and reward, and those asked for. */
static int
s_indexes (sqlite3 *db, const s_opts_t *o)
{
    if (s_exec (db, o->covering_group
                    ? "CREATE INDEX t_data_id ON t (data_id, is_success, reward, created_at, model)"
                    : "CREATE INDEX t_data_id ON t (data_id)")
    ||  s_exec (db, "CREATE INDEX t_reward ON t (reward)"))
        return -1;
    if (o->index_created && s_exec (db, "CREATE INDEX t_created ON t (created_at)"))
        return -1;
    return 0;
}

/*  One import, from a missing database to a committed one (and closed). */
static int
s_import (const s_input_t *in, const s_opts_t *o, ts_parser_t *ps, s_run_t *run)
{
    static const char *const sql_extract =
        "INSERT OR IGNORE INTO t (id, data_id, reward, is_success, model, created_at, raw) "
        "VALUES (json_extract(?1, '$.id'), json_extract(?1, '$.data_id'), "
        "json_extract(?1, '$.reward'), json_extract(?1, '$.is_success'), "
        "json_extract(?1, '$.model'), json_extract(?1, '$.created_at'), ?1)";
    static const char *const sql_values =
        "INSERT OR IGNORE INTO t (id, data_id, reward, is_success, model, created_at, raw) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ts_buf_t scratch = { 0 };
    char pragmas [300];
    long pending = 0;
    int rc = -1;
    memset (run, 0, sizeof *run);
    s_remove_db (o);

    double t0 = bq_now ();
    if (sqlite3_open_v2 (o->db, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf (stderr, "bench_sqlite: %s: %s\n", o->db, db ? sqlite3_errmsg (db) : "out of memory");
        goto done;
    }
    /* page_size first: it only applies before the first table exists */
    snprintf (pragmas, sizeof pragmas,
              "PRAGMA page_size=%d; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
              "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;", o->page_size);
    if (s_exec (db, pragmas)
    ||  s_exec (db, "CREATE TABLE t (id TEXT PRIMARY KEY, data_id TEXT, reward REAL, "
                    "is_success INTEGER, model TEXT, created_at TEXT, raw TEXT)"))
        goto done;
    if (o->commit_rows && s_indexes (db, o))
        goto done;
    if (s_exec (db, "BEGIN"))
        goto done;
    if (sqlite3_prepare_v3 (db, o->parser ? sql_values : sql_extract, -1,
                            SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        fprintf (stderr, "bench_sqlite: prepare: %s\n", sqlite3_errmsg (db));
        goto done;
    }
    const char *at = in->data, *end = in->data + in->size;
    while (at < end) {
        const char *nl = memchr (at, '\n', (size_t) (end - at));
        size_t len = nl ? (size_t) (nl - at) : (size_t) (end - at);
        const char *line = at;
        at = nl ? nl + 1 : end;
        if (len && line [len - 1] == '\r')
            len--;
        if (ts_line_is_blank (line, len))
            continue;
        if (o->parser) {
            int b = s_bind_parsed (st, ps, &scratch, line, len);
            if (b < 0)
                goto done;
            if (b == 0) {
                run->rejected++;
                continue;
            }
        }
        else
            sqlite3_bind_text (st, 1, line, (int) len, SQLITE_STATIC);
        int sr = sqlite3_step (st);
        if (sr == SQLITE_DONE) {
            run->records++;
            run->inserted += (uint64_t) sqlite3_changes (db);
        }
        else if (sr == SQLITE_ERROR && !o->parser)
            run->rejected++;            /* malformed JSON: json_extract refused it */
        else {
            fprintf (stderr, "bench_sqlite: insert: %s\n", sqlite3_errmsg (db));
            goto done;
        }
        sqlite3_reset (st);
        if (o->commit_rows && ++pending >= o->commit_rows) {
            if (s_exec (db, "COMMIT") || s_exec (db, "BEGIN"))
                goto done;
            pending = 0;
        }
    }
    sqlite3_finalize (st);
    st = NULL;
    if (!o->commit_rows && s_indexes (db, o))
        goto done;
    if (s_exec (db, "COMMIT"))
        goto done;
    run->t_commit = bq_now () - t0;
    if (sqlite3_close (db) != SQLITE_OK) {
        fprintf (stderr, "bench_sqlite: close: %s\n", sqlite3_errmsg (db));
        goto done;
    }
    db = NULL;
    run->t_close = bq_now () - t0;
    rc = 0;
done:
    sqlite3_finalize (st);
    sqlite3_close (db);
    ts_buf_free (&scratch);
    return rc;
}

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: bench_sqlite FILE [--reps N] [--dir TMPDIR] [--json]\n"
             "                         [--extract sql|parser] [--page-size BYTES]\n"
             "                         [--commit-rows N] [--keep DB] [--index-created]\n"
             "                         [--covering-group]\n"
             "  --extract sql     columns by json_extract in the INSERT (default)\n"
             "  --extract parser  columns by trajstore's line parser, bound as values\n"
             "  --page-size B     SQLite page size (default 4096)\n"
             "  --commit-rows N   commit every N rows, indexes made first (default:\n"
             "                    one transaction, indexes built at the end)\n"
             "  --keep DB         make the database at DB and keep it (the last run's)\n"
             "  --index-created   also an index on created_at\n"
             "  --covering-group  the group index covers (data_id, is_success, reward,\n"
             "                    created_at, model)\n");
}

int
main (int argc, char **argv)
{
    const char *file = NULL, *base = NULL, *keep = NULL;
    int reps = 5;
    bool json = false;
    s_opts_t o = { .page_size = 4096 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv [i], "--reps") && i + 1 < argc) {
            char *e;
            long v = strtol (argv [++i], &e, 10);
            if (*e || v < 1 || v > S_MAX_REPS) {
                fprintf (stderr, "bench_sqlite: --reps wants 1..%d\n", S_MAX_REPS);
                return 2;
            }
            reps = (int) v;
        }
        else if (!strcmp (argv [i], "--dir") && i + 1 < argc)
            base = argv [++i];
        else if (!strcmp (argv [i], "--json"))
            json = true;
        else if (!strcmp (argv [i], "--extract") && i + 1 < argc) {
            const char *m = argv [++i];
            if (strcmp (m, "sql") && strcmp (m, "parser")) {
                s_usage ();
                return 2;
            }
            o.parser = !strcmp (m, "parser");
        }
        else if (!strcmp (argv [i], "--page-size") && i + 1 < argc) {
            char *e;
            long v = strtol (argv [++i], &e, 10);
            if (*e || v < 512 || v > 65536 || (v & (v - 1))) {
                fprintf (stderr, "bench_sqlite: --page-size wants a power of two, 512..65536\n");
                return 2;
            }
            o.page_size = (int) v;
        }
        else if (!strcmp (argv [i], "--commit-rows") && i + 1 < argc) {
            char *e;
            long v = strtol (argv [++i], &e, 10);
            if (*e || v < 0) {
                fprintf (stderr, "bench_sqlite: --commit-rows wants a count (0: one transaction)\n");
                return 2;
            }
            o.commit_rows = v;
        }
        else if (!strcmp (argv [i], "--keep") && i + 1 < argc)
            keep = argv [++i];
        else if (!strcmp (argv [i], "--index-created"))
            o.index_created = true;
        else if (!strcmp (argv [i], "--covering-group"))
            o.covering_group = true;
        else if (argv [i][0] == '-' || file) {
            s_usage ();
            return 2;
        }
        else
            file = argv [i];
    }
    if (!file) {
        s_usage ();
        return 2;
    }
    base = bq_tmpdir (base);

    s_input_t in;
    if (s_input_load (&in, file)) {
        free (in.data);
        return 1;
    }
    char dir [4096] = "", db [4200];
    if (keep) {
        if (strlen (keep) >= sizeof db - 8) {
            fprintf (stderr, "bench_sqlite: --keep: path too long\n");
            free (in.data);
            return 2;
        }
        snprintf (db, sizeof db, "%s", keep);
        o.keep = true;
    }
    else {
        snprintf (dir, sizeof dir, "%s/bench_sqlite-XXXXXX", base);
        if (!mkdtemp (dir)) {
            fprintf (stderr, "bench_sqlite: mkdtemp %s: %s\n", dir, strerror (errno));
            free (in.data);
            return 1;
        }
        snprintf (db, sizeof db, "%s/t.db", dir);
    }
    o.db = db;
    snprintf (o.wal, sizeof o.wal, "%s-wal", db);
    snprintf (o.shm, sizeof o.shm, "%s-shm", db);

    ts_parser_t *ps = NULL;
    if (o.parser) {
        ts_profile_t prof;
        char perr [256];
        if (ts_profile_parse ("default", &prof, perr, sizeof perr) || !(ps = ts_parser_new (&prof))) {
            fprintf (stderr, "bench_sqlite: no parser: %s\n", perr);
            if (dir [0])
                rmdir (dir);
            free (in.data);
            return 1;
        }
    }

    double tc [S_MAX_REPS], tx [S_MAX_REPS];
    s_run_t run = { 0 };
    long long db_bytes = 0;
    int rc = 0;
    for (int r = 0; r < reps && rc == 0; r++) {
        rc = s_import (&in, &o, ps, &run);
        tc [r] = run.t_commit;
        tx [r] = run.t_close;
        struct stat st;
        if (rc == 0 && stat (db, &st) == 0)
            db_bytes = (long long) st.st_size;
    }
    if (!o.keep || rc) {
        s_remove_db (&o);
        if (dir [0])
            rmdir (dir);
    }
    ts_parser_destroy (&ps);
    if (rc) {
        free (in.data);
        return 1;
    }

    double mb = (double) in.size / 1e6, rec = (double) run.records;
    double med = bq_median (tc, (size_t) reps), best = tc [0];
    double medx = bq_median (tx, (size_t) reps), bestx = tx [0];
    const char *mode = o.parser ? "parser" : "sql";
    if (json)
        printf ("{\"bench\":\"sqlite\",\"case\":\"sqlite_%s\",\"extract\":\"%s\",\"file\":\"%s\","
                "\"bytes\":%zu,\"records\":%" PRIu64 ",\"inserted\":%" PRIu64 ",\"rejected\":%" PRIu64
                ",\"reps\":%d,\"page_size\":%d,\"commit_rows\":%ld,\"best_s\":%.6f,\"median_s\":%.6f,"
                "\"mb_s\":%.1f,\"mb_s_median\":%.1f,\"rec_s\":%.0f,\"rec_s_median\":%.0f,"
                "\"close_best_s\":%.6f,\"close_median_s\":%.6f,\"db_bytes\":%lld,"
                "\"index_created\":%s,\"covering_group\":%s}\n",
                mode, mode, file, in.size, run.records, run.inserted, run.rejected, reps,
                o.page_size, o.commit_rows, best, med, mb / best, mb / med, rec / best, rec / med, bestx, medx,
                db_bytes, o.index_created ? "true" : "false", o.covering_group ? "true" : "false");
    /* the same columns as bench_core's table, so the two read side by side */
    FILE *out = json ? stderr : stdout;
    char what [80], txs [32];
    if (o.commit_rows)
        snprintf (txs, sizeof txs, "tx/%ld", o.commit_rows);
    else
        snprintf (txs, sizeof txs, "1 tx");
    snprintf (what, sizeof what, "%s, page %d, %s",
              o.parser ? "parser" : "json_extract", o.page_size, txs);
    fprintf (out, "%-9s %-36s %9.1f %9.1f %11.0f %11.0f\n", "sqlite", what,
             mb / best, mb / med, rec / best, rec / med);
    fprintf (out, "%-9s %-36s %9.1f %9.1f %11.0f %11.0f\n", "", "  the same, to close (checkpoint)",
             mb / bestx, mb / medx, rec / bestx, rec / medx);
    free (in.data);
    return 0;
}
