/*  e2e_check: offline recount of a stopped store, for the end-to-end
 *  tests (tests/e2e/e2e_import.sh).
 *
 *      e2e_check [--ids FILE] DATA_DIR
 *
 *  Opens every DATA_DIR/shards/shard-*.kct (every process of the store must
 *  have stopped: an open shard is locked), runs the consistency checker
 *  (ts_check_store) on each and prints one JSON object on stdout:
 *
 *      {"shards": S, "records": N, "problems": P, "first_problem": "..." | null,
 *       "totals": {"records", "successes", "success_known", "reward_n",
 *                  "reward_sum", "reward_min", "reward_max", "steps_n",
 *                  "steps_sum", "histogram"},
 *       "per_shard": [{"shard": "shard-000.kct", "records": n, "problems": p}...]}
 *
 *  With --ids, also writes every record id to FILE, one a line (the ids of
 *  the R entries, in key order within each shard).
 *
 *  Exit status: 0 consistent, 1 an inconsistency (or a shard that cannot be
 *  opened or read), 2 bad usage or no shards directory.
 */
#include "ts_check.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_store.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_json_str (FILE *out, const char *s)
{
    fputc ('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            fprintf (out, "\\%c", c);
        else if (c < 0x20)
            fprintf (out, "\\u%04x", c);
        else
            fputc (c, out);
    }
    fputc ('"', out);
}

static void
s_json_double (FILE *out, double v)
{
    if (isfinite (v))
        fprintf (out, "%.17g", v);
    else
        fputs ("null", out);
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
s_write_id (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) val;
    (void) vlen;
    FILE *out = arg;
    if (klen < 1)
        return 0;
    fwrite (key + 1, 1, klen - 1, out);
    fputc ('\n', out);
    return ferror (out) ? TS_ESTORE : 0;
}

int
main (int argc, char **argv)
{
    const char *ids_path = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv [i], "--ids") && i + 1 < argc)
            ids_path = argv [++i];
        else if (argv [i][0] == '-' || dir) {
            fprintf (stderr, "usage: e2e_check [--ids FILE] DATA_DIR\n");
            return 2;
        }
        else
            dir = argv [i];
    }
    if (!dir) {
        fprintf (stderr, "usage: e2e_check [--ids FILE] DATA_DIR\n");
        return 2;
    }
    char shards [4096];
    snprintf (shards, sizeof shards, "%s/shards", dir);
    DIR *d = opendir (shards);
    if (!d) {
        fprintf (stderr, "e2e_check: %s: cannot open the shards directory\n", shards);
        return 2;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (strncmp (e->d_name, "shard-", 6) || len < 5 || strcmp (e->d_name + len - 4, ".kct"))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            names = realloc (names, cap * sizeof *names);
            if (!names)
                return 2;
        }
        names [n++] = strdup (e->d_name);
    }
    closedir (d);
    if (n)
        qsort (names, n, sizeof *names, s_cmp);

    FILE *ids = NULL;
    if (ids_path && !(ids = fopen (ids_path, "w"))) {
        fprintf (stderr, "e2e_check: %s: cannot write\n", ids_path);
        return 2;
    }
    ts_totals_t all;
    ts_totals_init (&all);
    uint64_t records = 0, problems = 0;
    char first [16384] = "";
    int failed = 0;
    /* per-shard lines, written after the summary fields */
    char *per = NULL;
    size_t per_size = 0;
    FILE *pf = open_memstream (&per, &per_size);
    for (size_t i = 0; i < n; i++) {
        char path [4400], emsg [512];
        int err = 0;
        snprintf (path, sizeof path, "%.4000s/%.255s", shards, names [i]);
        ts_store_t *st = ts_store_open (path, NULL, &err, emsg, sizeof emsg);
        uint64_t shard_records = 0, shard_problems = 0;
        if (!st) {
            failed = 1;
            shard_problems = 1;
            if (!first [0])
                snprintf (first, sizeof first, "%s: cannot open: %s", path, emsg);
        }
        else {
            ts_check_report_t rep;
            int rc = ts_check_store (st, &rep);
            shard_records = rep.records;
            shard_problems = rep.problems;
            if (rc && rc != TS_EINCONSISTENT) {
                failed = 1;
                shard_problems++;
                if (!first [0])
                    snprintf (first, sizeof first, "%s: cannot check: %s (%s)", path,
                              ts_strerror (rc), ts_store_errmsg (st));
            }
            else if (rep.problems && !first [0])
                snprintf (first, sizeof first, "%s: %s", path, rep.first_problem);
            if (rep.problems)
                failed = 1;
            /* the recount must also be what the shard says it holds */
            if (!rc && ts_store_count (st) != rep.records) {
                failed = 1;
                shard_problems++;
                if (!first [0])
                    snprintf (first, sizeof first, "%s: the store counts %llu records, the "
                              "check found %llu", path,
                              (unsigned long long) ts_store_count (st),
                              (unsigned long long) rep.records);
            }
            ts_totals_merge (&all, &rep.totals);
            if (ids) {
                char prefix = TS_TAG_RECORD;
                ts_scan_t scan = { &prefix, 1, NULL, 0, false, NULL, 0, false };
                int src = ts_store_scan (st, &scan, s_write_id, ids);
                if (src) {
                    failed = 1;
                    shard_problems++;
                    if (!first [0])
                        snprintf (first, sizeof first, "%s: cannot list the ids: %s", path,
                                  ts_strerror (src));
                }
            }
            ts_store_destroy (&st);
        }
        records += shard_records;
        problems += shard_problems;
        fprintf (pf, "%s{\"shard\": ", i ? ", " : "");
        s_json_str (pf, names [i]);
        fprintf (pf, ", \"records\": %llu, \"problems\": %llu}",
                 (unsigned long long) shard_records, (unsigned long long) shard_problems);
        free (names [i]);
    }
    free (names);
    fclose (pf);
    if (ids && fclose (ids)) {
        fprintf (stderr, "e2e_check: %s: cannot write\n", ids_path);
        failed = 1;
    }

    printf ("{\"shards\": %zu, \"records\": %llu, \"problems\": %llu, \"first_problem\": ", n,
            (unsigned long long) records, (unsigned long long) problems);
    if (first [0])
        s_json_str (stdout, first);
    else
        fputs ("null", stdout);
    printf (", \"totals\": {\"records\": %llu, \"successes\": %llu, \"success_known\": %llu, "
            "\"reward_n\": %llu, \"reward_sum\": ",
            (unsigned long long) all.count, (unsigned long long) all.successes,
            (unsigned long long) all.success_known, (unsigned long long) all.reward_n);
    s_json_double (stdout, all.reward_sum);
    fputs (", \"reward_min\": ", stdout);
    if (all.reward_n) s_json_double (stdout, all.reward_min); else fputs ("null", stdout);
    fputs (", \"reward_max\": ", stdout);
    if (all.reward_n) s_json_double (stdout, all.reward_max); else fputs ("null", stdout);
    printf (", \"steps_n\": %llu, \"steps_sum\": %llu, \"histogram\": [",
            (unsigned long long) all.steps_n, (unsigned long long) all.steps_sum);
    for (int i = 0; i < TS_HIST_BINS + 2; i++)
        printf ("%s%llu", i ? ", " : "", (unsigned long long) all.hist [i]);
    printf ("]}, \"per_shard\": [%s]}\n", per ? per : "");
    free (per);
    if (n == 0) {
        fprintf (stderr, "e2e_check: %s: no shard files\n", shards);
        return 1;
    }
    return failed ? 1 : 0;
}
