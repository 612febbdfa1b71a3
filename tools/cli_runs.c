/*  cli_runs.c: the read commands of the `trajstore` CLI about import runs:
 *  `runs` (every run and its statistics) and `compare RUN_A RUN_B` (per
 *  group, side by side). A table on a terminal (or --table), else the
 *  api's answer as JSON.
 */
#include "cli_query.h"
#include "ts_error.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/*  A ratio column of map `m`: "-" when absent. */
static void
s_ratio (const ts_mp_reader_t *m, const char *key, char *buf, size_t size)
{
    double d;
    bool has = cq_get_double (m, key, &d);
    cq_format_ratio (has, d, buf, size);
}

/*  Ends a command: flushes stdout (a full disk or a closed pipe is an
 *  error), frees the request and the client. */
static int
s_finish (const char *cmd, int rc, ts_req_t *q, s_client_t *c)
{
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore %s: cannot write the output: %s\n", cmd, strerror (errno));
        rc = 1;
    }
    ts_buf_free (&q->body);
    cq_client_close (c);
    return rc;
}

/* --- runs -------------------------------------------------------------------------------- */

int
ts_cli_cmd_runs (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, { "table", no_argument, 0, O_TABLE }, { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = cq_start ("runs", argc, argv, opts, &co, NULL, NULL, NULL, 0, &c);
    if (rc)
        return cq_done (rc);
    bool table = co.table || (!co.json && isatty (STDOUT_FILENO));
    ts_req_t q = { 0 };
    ts_req_begin (&q, "runs");
    rc = cq_client_call (&c, &q);
    ts_mp_reader_t runs;
    uint32_t n = 0;
    if (rc == 0)
        rc = cq_rows (&c, "runs", "runs", &runs, &n);
    if (rc == 0 && !table)
        rc = cq_print_rows ("runs", runs, n);
    else if (rc == 0) {
        int w = cq_name_width (runs, n, "run", 3);
        char name [TS_RUN_MAX_BYTES + 1];
        printf ("%-*s  %8s  %7s  %7s  %7s  %7s  %7s  %7s  %-20s\n", w, "RUN", "RECORDS", "GROUPS",
                "RATE", "REWARD", "PASS@1", "PASS@5", "PASS@10", "LAST IMPORT");
        for (uint32_t i = 0; i < n; i++) {
            char v [5][40], when [40] = "-";
            static const char *const cols [5] = { "success_rate", "reward_mean", "pass@1",
                                                  "pass@5", "pass@10" };
            cq_get_str (&runs, "run", name, sizeof name);
            cq_cut (name, S_TEXT_MAX);
            for (int k = 0; k < 5; k++)
                s_ratio (&runs, cols [k], v [k], sizeof v [k]);
            int64_t last;
            if (cq_get_int (&runs, "last_ms", &last))
                cq_format_iso (last, when, sizeof when);
            printf ("%-*s  %8llu  %7llu  %7s  %7s  %7s  %7s  %7s  %-20s\n", w, name,
                    (unsigned long long) cq_get_uint (&runs, "records"),
                    (unsigned long long) cq_get_uint (&runs, "groups"),
                    v [0], v [1], v [2], v [3], v [4], when);
            /* what --set said, and the files, on a line of their own */
            ts_mp_reader_t set, files;
            uint32_t ns = 0, nf = 0;
            if (ts_mp_reader_map_find (&runs, "set", &set) && ts_mp_read_map (&set, &ns) == 0 && ns) {
                printf ("%*s  set:", w, "");
                for (uint32_t k = 0; k < ns; k++) {
                    const char *a, *b;
                    uint32_t al, bl;
                    if (ts_mp_read_str (&set, &a, &al) || ts_mp_read_str (&set, &b, &bl))
                        break;
                    printf (" %.*s=%.*s", (int) al, a ? a : "", (int) bl, b ? b : "");
                }
                printf ("\n");
            }
            if (ts_mp_reader_map_find (&runs, "files", &files) && ts_mp_read_array (&files, &nf) == 0
            &&  nf) {
                uint64_t total = cq_get_uint (&runs, "files_total");
                printf ("%*s  files:", w, "");
                for (uint32_t k = 0; k < nf; k++) {
                    const char *a;
                    uint32_t al;
                    if (ts_mp_read_str (&files, &a, &al))
                        break;
                    printf (" %.*s", (int) al, a ? a : "");
                }
                if (total > nf)
                    printf (" (and %llu more)", (unsigned long long) (total - nf));
                printf ("\n");
            }
            if (ts_mp_skip (&runs))
                break;
        }
        if (n == 0)
            printf ("(no runs: trajstore import --run NAME FILE)\n");
    }
    return s_finish ("runs", rc, &q, &c);
}

/* --- compare -------------------------------------------------------------------------------- */

typedef struct {
    uint64_t limit;
    bool     has_limit;
} s_compare_opts_t;

static int
s_compare_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    s_compare_opts_t *o = ctx;
    if (c != O_LIMIT)
        return 1;
    if (!cq_parse_uint (arg, 1, UINT32_MAX, &o->limit)) {
        fprintf (stderr, "trajstore %s: --limit wants a number >= 1, not '%s'\n", cmd, arg);
        return 2;
    }
    o->has_limit = true;
    return 0;
}

/*  One side's line of the summary: records, groups, rate, pass@k. */
static void
s_print_side (const char *label, const ts_mp_reader_t *m)
{
    char v [4][40], name [TS_RUN_MAX_BYTES + 1] = "";
    static const char *const cols [4] = { "success_rate", "pass@1", "pass@5", "pass@10" };
    cq_get_str (m, "run", name, sizeof name);
    for (int k = 0; k < 4; k++)
        s_ratio (m, cols [k], v [k], sizeof v [k]);
    printf ("%s %s: %llu records, %llu groups, rate %s, pass@1 %s, pass@5 %s, pass@10 %s\n",
            label, name, (unsigned long long) cq_get_uint (m, "records"),
            (unsigned long long) cq_get_uint (m, "groups"), v [0], v [1], v [2], v [3]);
}

int
ts_cli_cmd_compare (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, { "table", no_argument, 0, O_TABLE },
        { "limit", required_argument, 0, O_LIMIT }, { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_compare_opts_t o = { 0 };
    s_client_t c;
    int rc = cq_start ("compare", argc, argv, opts, &co, NULL, s_compare_extra, &o, 2, &c);
    if (rc)
        return cq_done (rc);
    bool table = co.table || (!co.json && isatty (STDOUT_FILENO));
    ts_req_t q = { 0 };
    ts_req_begin (&q, "compare");
    ts_req_key (&q, "a");
    ts_mp_pack_cstr (&q.pk, argv [optind]);
    ts_req_key (&q, "b");
    ts_mp_pack_cstr (&q.pk, argv [optind + 1]);
    rc = cq_client_call (&c, &q);
    ts_mp_reader_t a, b, paired, groups;
    uint32_t n = 0;
    if (rc == 0 && (!ts_mp_reader_map_find (&c.map, "a", &a) || !ts_mp_reader_map_find (&c.map, "b", &b)
                    || !ts_mp_reader_map_find (&c.map, "paired", &paired)
                    || !ts_mp_reader_map_find (&c.map, "groups", &groups)
                    || ts_mp_read_array (&groups, &n))) {
        fprintf (stderr, "trajstore compare: the api's answer is not a comparison\n");
        rc = 2;
    }
    if (rc == 0 && !table) {
        if (!cq_print_json_value ("compare", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        s_print_side ("A", &a);
        s_print_side ("B", &b);
        ts_mp_reader_t pa, pb;
        char ra [40], rb [40];
        if (ts_mp_reader_map_find (&paired, "a", &pa) && ts_mp_reader_map_find (&paired, "b", &pb)) {
            s_ratio (&pa, "success_rate", ra, sizeof ra);
            s_ratio (&pb, "success_rate", rb, sizeof rb);
            printf ("paired over %llu common groups: rate A %s, B %s\n\n",
                    (unsigned long long) cq_get_uint (&paired, "groups"), ra, rb);
        }
        char name [TS_GROUP_MAX_BYTES + 1];
        uint32_t shown = o.has_limit && o.limit < n ? (uint32_t) o.limit : n;
        int w = cq_name_width (groups, shown, "group", 5);
        printf ("%-*s  %5s  %7s  %5s  %7s  %8s  %8s  %8s\n", w, "GROUP", "A-N", "A-RATE", "B-N",
                "B-RATE", "CHANGE", "PASS@1+", "PASS@5+");
        for (uint32_t i = 0; i < shown; i++) {
            ts_mp_reader_t sa, sb, d;
            char v [5][40];
            cq_get_str (&groups, "group", name, sizeof name);
            cq_cut (name, S_TEXT_MAX);
            bool ok = ts_mp_reader_map_find (&groups, "a", &sa) && ts_mp_reader_map_find (&groups, "b", &sb)
                   && ts_mp_reader_map_find (&groups, "diff", &d);
            if (!ok)
                break;
            s_ratio (&sa, "success_rate", v [0], sizeof v [0]);
            s_ratio (&sb, "success_rate", v [1], sizeof v [1]);
            s_ratio (&d, "success_rate", v [2], sizeof v [2]);
            s_ratio (&d, "pass@1", v [3], sizeof v [3]);
            s_ratio (&d, "pass@5", v [4], sizeof v [4]);
            printf ("%-*s  %5llu  %7s  %5llu  %7s  %8s  %8s  %8s\n", w, name,
                    (unsigned long long) cq_get_uint (&sa, "records"), v [0],
                    (unsigned long long) cq_get_uint (&sb, "records"), v [1], v [2], v [3], v [4]);
            if (ts_mp_skip (&groups))
                break;
        }
        if (shown < n)
            printf ("(%u more groups: --limit N, or --json for all)\n", n - shown);
        static const char *const only [2] = { "only_a", "only_b" };
        for (int s = 0; s < 2; s++) {
            ts_mp_reader_t list;
            uint32_t m = 0;
            if (ts_mp_reader_map_find (&c.map, only [s], &list) && ts_mp_read_array (&list, &m) == 0 && m)
                printf ("%u groups only in %s (%s)\n", m, s ? "B" : "A", argv [optind + s]);
        }
    }
    return s_finish ("compare", rc, &q, &c);
}

/* --- drop, compact ---------------------------------------------------------------------- */

typedef struct {
    const char *run;
} s_drop_opts_t;

static int
s_drop_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    s_drop_opts_t *o = ctx;
    if (c != O_RUN)
        return 1;
    size_t len = strlen (arg);
    if (len == 0 || len > TS_RUN_MAX_BYTES) {
        fprintf (stderr, "trajstore %s: --run wants a run's name (1 to %d bytes)\n", cmd,
                 TS_RUN_MAX_BYTES);
        return 2;
    }
    o->run = arg;
    return 0;
}

/*  trajstore drop --run NAME / trajstore compact: every shard drops the
 *  run's records (crash-safe: a shard finishes an interrupted drop when it
 *  is next opened), or compacts its records file; one line a shard that
 *  changed, then the total. */
static int
s_shard_op (const char *cmd, int argc, char **argv)
{
    bool drop = !strcmp (cmd, "drop");
    static const struct option drop_opts [] = {
        S_COMMON_OPTS, { "run", required_argument, 0, O_RUN }, { 0, 0, 0, 0 }
    };
    static const struct option compact_opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_drop_opts_t o = { 0 };
    s_client_t c;
    int rc = cq_start (cmd, argc, argv, drop ? drop_opts : compact_opts, &co, NULL,
                       drop ? s_drop_extra : NULL, &o, 0, &c);
    if (rc)
        return cq_done (rc);
    ts_req_t q = { 0 };
    if (drop && !o.run) {
        fprintf (stderr, "trajstore drop: which run? --run NAME (trajstore runs lists them)\n");
        cq_client_close (&c);
        return 2;
    }
    c.answer_ms = 300000;               /* it rewrites shards */
    ts_req_begin (&q, cmd);
    if (drop) {
        ts_req_key (&q, "run");
        ts_mp_pack_cstr (&q.pk, o.run);
    }
    rc = cq_client_call (&c, &q);
    const char *key = drop ? "dropped" : "reclaimed";
    if (rc == 0 && co.json) {
        if (!cq_print_json_value (cmd, c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t shards;
        uint32_t n;
        if (ts_mp_reader_map_find (&c.map, "shards", &shards) && ts_mp_read_array (&shards, &n) == 0)
            for (uint32_t i = 0; i < n; i++) {
                uint64_t v = cq_get_uint (&shards, key);
                if (v)
                    printf ("shard %llu: %llu %s\n", (unsigned long long) cq_get_uint (&shards, "shard"),
                            (unsigned long long) v, drop ? "records dropped" : "bytes reclaimed");
                if (ts_mp_skip (&shards))
                    break;
            }
        if (drop)
            printf ("run %s: %llu records dropped\n", o.run,
                    (unsigned long long) cq_get_uint (&c.map, key));
        else
            printf ("%llu bytes reclaimed\n", (unsigned long long) cq_get_uint (&c.map, key));
    }
    return s_finish (cmd, rc, &q, &c);
}

int
ts_cli_cmd_drop (int argc, char **argv)
{
    return s_shard_op ("drop", argc, argv);
}

int
ts_cli_cmd_compact (int argc, char **argv)
{
    return s_shard_op ("compact", argc, argv);
}
