/*  cli_report.c: the read commands of the `trajstore` CLI that report on
 *  the store as a whole: stats, groups, job, health and check (the rest
 *  and the options they share: cli_query.c; the client: cli_client.c).
 */
#include "cli_query.h"
#include "ts_error.h"
#include "ts_json_out.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const s_group_sorts [] = {
    "group", "records", "successes", "success_rate", "reward_mean", "reward_max",
    "pass@1", "pass@5", "pass@10", NULL
};
/* --- stats ------------------------------------------------------------------------------- */

/*  The totals map T of a stats reply (docs/PROTOCOL.md). */
typedef struct {
    uint64_t records, successes, success_known, reward_n, steps_n;
    bool     has_rate, has_mean, has_std, has_min, has_max, has_steps;
    double   rate, mean, std, min, max, steps;
    uint64_t hist [22];
    int      nhist;
} s_totals_t;

static void
s_totals_from (const ts_mp_reader_t *t, s_totals_t *o)
{
    memset (o, 0, sizeof *o);
    o->records = cq_get_uint (t, "records");
    o->successes = cq_get_uint (t, "successes");
    o->success_known = cq_get_uint (t, "success_known");
    o->reward_n = cq_get_uint (t, "reward_n");
    o->steps_n = cq_get_uint (t, "steps_n");
    o->has_rate = cq_get_double (t, "success_rate", &o->rate);
    o->has_mean = cq_get_double (t, "reward_mean", &o->mean);
    o->has_std = cq_get_double (t, "reward_std", &o->std);
    o->has_min = cq_get_double (t, "reward_min", &o->min);
    o->has_max = cq_get_double (t, "reward_max", &o->max);
    o->has_steps = cq_get_double (t, "steps_mean", &o->steps);
    ts_mp_reader_t h;
    uint32_t n;
    if (ts_mp_reader_map_find (t, "histogram", &h) && ts_mp_read_array (&h, &n) == 0)
        for (uint32_t i = 0; i < n && i < 22; i++)
            if (ts_mp_read_uint (&h, &o->hist [o->nhist++]))
                break;
}

static void
s_print_totals (const s_totals_t *t, uint64_t groups)
{
    char a [40], b [40], c [40], d [40];
    printf ("records     %llu", (unsigned long long) t->records);
    if (groups)
        printf (" in %llu group%s", (unsigned long long) groups, groups == 1 ? "" : "s");
    printf ("\n");
    if (t->has_rate)
        printf ("successes   %llu of %llu with a known outcome (success rate %.2f%%)\n",
                (unsigned long long) t->successes, (unsigned long long) t->success_known,
                100.0 * t->rate);
    else
        printf ("successes   %llu (no record has a known outcome)\n",
                (unsigned long long) t->successes);
    if (t->reward_n) {
        cq_format_ratio (t->has_mean, t->mean, a, sizeof a);
        cq_format_ratio (t->has_std, t->std, b, sizeof b);
        cq_format_num (t->has_min, t->min, c, sizeof c);
        cq_format_num (t->has_max, t->max, d, sizeof d);
        printf ("reward      mean %s  std %s  min %s  max %s  (%llu with a reward)\n", a, b, c, d,
                (unsigned long long) t->reward_n);
    }
    else
        printf ("reward      no record has a reward\n");
    if (t->has_steps && t->steps_n)
        printf ("steps       mean %.2f  (%llu with steps)\n", t->steps,
                (unsigned long long) t->steps_n);
}

static void
s_print_histogram (const s_totals_t *t)
{
    uint64_t max = 0;
    for (int i = 0; i < t->nhist; i++)
        if (t->hist [i] > max)
            max = t->hist [i];
    if (t->nhist != 22 || max == 0)
        return;
    printf ("\nreward histogram\n");
    for (int i = 0; i < 22; i++) {
        char label [24];
        if (i == 0)
            snprintf (label, sizeof label, "< 0");
        else if (i == 21)
            snprintf (label, sizeof label, "> 1");
        else
            snprintf (label, sizeof label, "[%.2f, %.2f%s", (i - 1) * 0.05, i * 0.05,
                      i == 20 ? "]" : ")");
        int bar = (int) ((t->hist [i] * S_BAR_WIDTH + max - 1) / max);
        char bars [S_BAR_WIDTH + 1];
        memset (bars, '#', (size_t) bar);
        bars [bar] = 0;
        printf ("  %-13s %8llu  %s\n", label, (unsigned long long) t->hist [i], bars);
    }
}

/*  --run RUN of stats and groups: `ctx` is where the name goes. */
static int
s_run_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    (void) cmd;
    if (c != O_RUN)
        return 1;
    *(const char **) ctx = arg;
    return 0;
}

int
ts_cli_cmd_stats (int argc, char **argv)
{
    if (cq_wants_by_label (argc, argv))     /* totals by label value: cli_labels.c */
        return ts_cli_labels_run ("stats", argc, argv);
    static const struct option opts [] = {
        S_COMMON_OPTS, { "run", required_argument, 0, O_RUN }, { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_client_t c;
    const char *run = NULL;
    int rc = cq_start ("stats", argc, argv, opts, &co, NULL, s_run_extra, &run, 0, &c);
    if (rc)
        return cq_done (rc);
    ts_req_t q = { 0 };
    ts_req_begin (&q, "stats");
    if (run) {
        ts_req_key (&q, "run");
        ts_mp_pack_cstr (&q.pk, run);
    }
    rc = cq_client_call (&c, &q);
    if (rc == 0 && co.json) {
        if (!cq_print_json_value ("stats", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t t, models;
        s_totals_t tot;
        uint32_t n;
        if (!ts_mp_reader_map_find (&c.map, "totals", &t)) {
            fprintf (stderr, "trajstore stats: the api's answer has no totals\n");
            rc = 2;
            goto done;
        }
        s_totals_from (&t, &tot);
        s_print_totals (&tot, cq_get_uint (&c.map, "groups"));
        s_print_histogram (&tot);
        if (ts_mp_reader_map_find (&c.map, "models", &models) && ts_mp_read_map (&models, &n) == 0
        &&  n > 0) {
            /* names first, for the column's width */
            int w = 5;
            ts_mp_reader_t r = models;
            for (uint32_t i = 0; i < n; i++) {
                const char *p;
                uint32_t len;
                if (ts_mp_read_str (&r, &p, &len) || ts_mp_skip (&r))
                    break;
                if ((int) len > w)
                    w = len > S_TEXT_MAX ? S_TEXT_MAX : (int) len;
            }
            printf ("\nper model\n%-*s  %8s  %9s  %8s  %8s  %8s  %8s  %8s  %10s\n", w, "MODEL",
                    "RECORDS", "SUCCESSES", "RATE", "REWARD", "STD", "MIN", "MAX", "STEPS");
            for (uint32_t i = 0; i < n; i++) {
                const char *p;
                uint32_t len;
                if (ts_mp_read_str (&models, &p, &len))
                    break;
                char name [TS_MODEL_MAX_BYTES + 1], rate [24], mean [24], sd [24], mn [40], mx [40], st [24];
                snprintf (name, sizeof name, "%.*s", (int) len, p ? p : "");
                cq_cut (name, S_TEXT_MAX);
                s_totals_t m;
                s_totals_from (&models, &m);
                if (ts_mp_skip (&models))
                    break;
                cq_format_ratio (m.has_rate, m.rate, rate, sizeof rate);
                cq_format_ratio (m.has_mean, m.mean, mean, sizeof mean);
                cq_format_ratio (m.has_std, m.std, sd, sizeof sd);
                cq_format_num (m.has_min, m.min, mn, sizeof mn);
                cq_format_num (m.has_max, m.max, mx, sizeof mx);
                if (m.has_steps && m.steps_n)
                    snprintf (st, sizeof st, "%.2f", m.steps);
                else
                    snprintf (st, sizeof st, "-");
                printf ("%-*s  %8llu  %9llu  %8s  %8s  %8s  %8s  %8s  %10s\n", w, name,
                        (unsigned long long) m.records, (unsigned long long) m.successes,
                        rate, mean, sd, mn, mx, st);
            }
        }
    }
done:
    ts_buf_free (&q.body);
    cq_client_close (&c);
    return rc;
}

/* --- groups ------------------------------------------------------------------------------- */

typedef struct {
    const char *run;            /* first: s_run_extra's place */
    const char *only, *sort;
    uint64_t    limit, offset;
    bool        has_limit, has_offset;
    /* --label KEY[=VALUE], --no-label KEY: counted over those records */
    const char *labels [2][TS_QUERY_MAX_LABELS];
    int         nlabels [2];
} s_groups_opts_t;

static int
s_groups_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    s_groups_opts_t *g = ctx;
    switch (c) {
    case O_ONLY:
        if (strcmp (arg, "pass") && strcmp (arg, "fail") && strcmp (arg, "mixed")) {
            fprintf (stderr, "trajstore %s: --only wants pass, fail or mixed, not '%s'\n", cmd, arg);
            return 2;
        }
        g->only = arg;
        return 0;
    case O_SORT:
        if (!cq_sort_valid (arg, s_group_sorts)) {
            fprintf (stderr, "trajstore %s: --sort wants one of group, records, successes, "
                     "success_rate, reward_mean, reward_max, pass@1, pass@5, pass@10 "
                     "('-' for descending), not '%s'\n", cmd, arg);
            return 2;
        }
        g->sort = arg;
        return 0;
    case O_LIMIT:
        if (!cq_parse_uint (arg, 1, 100000, &g->limit)) {
            fprintf (stderr, "trajstore %s: --limit wants 1..100000, not '%s'\n", cmd, arg);
            return 2;
        }
        g->has_limit = true;
        return 0;
    case O_OFFSET:
        if (!cq_parse_uint (arg, 0, UINT32_MAX, &g->offset)) {
            fprintf (stderr, "trajstore %s: --offset wants a number >= 0, not '%s'\n", cmd, arg);
            return 2;
        }
        g->has_offset = true;
        return 0;
    case O_LABEL:
    case O_NO_LABEL: {
        int neg = c == O_NO_LABEL;
        if (g->nlabels [0] + g->nlabels [1] == TS_QUERY_MAX_LABELS) {
            fprintf (stderr, "trajstore %s: at most %d --label/--no-label\n", cmd,
                     TS_QUERY_MAX_LABELS);
            return 2;
        }
        g->labels [neg][g->nlabels [neg]++] = arg;
        return 0;
    }
    default:
        return s_run_extra (cmd, c, arg, &g->run);
    }
}

int
ts_cli_cmd_groups (int argc, char **argv)
{
    if (cq_wants_by_label (argc, argv))     /* totals by label value: cli_labels.c */
        return ts_cli_labels_run ("groups", argc, argv);
    static const struct option opts [] = {
        S_COMMON_OPTS, { "table", no_argument, 0, O_TABLE },
        { "only", required_argument, 0, O_ONLY }, { "sort", required_argument, 0, O_SORT },
        { "limit", required_argument, 0, O_LIMIT }, { "offset", required_argument, 0, O_OFFSET },
        { "run", required_argument, 0, O_RUN }, { "label", required_argument, 0, O_LABEL },
        { "no-label", required_argument, 0, O_NO_LABEL }, { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_groups_opts_t g = { 0 };
    s_client_t c;
    int rc = cq_start ("groups", argc, argv, opts, &co, NULL, s_groups_extra, &g, 0, &c);
    if (rc)
        return cq_done (rc);
    bool table = co.table || (!co.json && isatty (STDOUT_FILENO));
    ts_req_t q = { 0 };
    ts_req_begin (&q, "groups");
    if (g.only) {
        ts_req_key (&q, "only");
        ts_mp_pack_cstr (&q.pk, g.only);
    }
    if (g.sort) {
        ts_req_key (&q, "sort");
        ts_mp_pack_cstr (&q.pk, g.sort);
    }
    if (g.has_limit) {
        ts_req_key (&q, "limit");
        msgpack_pack_uint64 (&q.pk, g.limit);
    }
    if (g.has_offset) {
        ts_req_key (&q, "offset");
        msgpack_pack_uint64 (&q.pk, g.offset);
    }
    if (g.run) {
        ts_req_key (&q, "run");
        ts_mp_pack_cstr (&q.pk, g.run);
    }
    for (int neg = 0; neg < 2; neg++) {
        if (!g.nlabels [neg])
            continue;
        ts_req_key (&q, neg ? "no_label" : "label");
        msgpack_pack_array (&q.pk, (size_t) g.nlabels [neg]);
        for (int i = 0; i < g.nlabels [neg]; i++)
            ts_mp_pack_cstr (&q.pk, g.labels [neg][i]);
    }
    rc = cq_client_call (&c, &q);
    ts_mp_reader_t groups, next;
    uint32_t n = 0;
    if (rc == 0)
        rc = cq_rows (&c, "groups", "groups", &groups, &n);
    if (rc == 0 && !table)
        rc = cq_print_rows ("groups", groups, n);
    else if (rc == 0) {
        int w = cq_name_width (groups, n, "group", 5);
        char name [TS_GROUP_MAX_BYTES + 1];
        static const char *const cols [] = {
            "success_rate", "reward_mean", "reward_max", "pass@1", "pass@5", "pass@10"
        };
        printf ("%-*s  %7s  %9s  %7s  %7s  %7s  %7s  %7s  %7s\n", w, "GROUP", "RECORDS",
                "SUCCESSES", "RATE", "REWARD", "MAX", "PASS@1", "PASS@5", "PASS@10");
        for (uint32_t i = 0; i < n; i++) {
            char v [6][40];
            if (!cq_get_str (&groups, "group", name, sizeof name))
                snprintf (name, sizeof name, "-");
            cq_cut (name, S_TEXT_MAX);
            for (int k = 0; k < 6; k++) {
                double d;
                bool has = cq_get_double (&groups, cols [k], &d);
                if (k == 2)
                    cq_format_num (has, d, v [k], sizeof v [k]);
                else
                    cq_format_ratio (has, d, v [k], sizeof v [k]);
            }
            printf ("%-*s  %7llu  %9llu  %7s  %7s  %7s  %7s  %7s  %7s\n", w, name,
                    (unsigned long long) cq_get_uint (&groups, "records"),
                    (unsigned long long) cq_get_uint (&groups, "successes"),
                    v [0], v [1], v [2], v [3], v [4], v [5]);
            if (ts_mp_skip (&groups))
                break;
        }
        uint64_t total = cq_get_uint (&c.map, "total"), off;
        if (n == 0)
            printf ("(no groups match)\n");
        fflush (stdout);
        if (ts_mp_reader_map_find (&c.map, "next", &next) && ts_mp_read_uint (&next, &off) == 0)
            fprintf (stderr, "%llu groups in all; next page: --offset %llu\n",
                     (unsigned long long) total, (unsigned long long) off);
    }
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore groups: cannot write the output: %s\n", strerror (errno));
        rc = 1;
    }
    ts_buf_free (&q.body);
    cq_client_close (&c);
    return rc;
}

/* --- job ----------------------------------------------------------------------------------- */

int
ts_cli_cmd_job (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = cq_start ("job", argc, argv, opts, &co, NULL, NULL, NULL, 1, &c);
    if (rc)
        return cq_done (rc);
    ts_req_t q = { 0 };
    ts_req_begin (&q, "job");
    ts_req_key (&q, "job");
    ts_mp_pack_cstr (&q.pk, argv [optind]);
    rc = cq_client_call (&c, &q);
    ts_mp_reader_t job;
    if (rc == 0 && !ts_mp_reader_map_find (&c.map, "job", &job)) {
        fprintf (stderr, "trajstore job: the api's answer has no job\n");
        rc = 2;
    }
    if (rc == 0 && co.json) {
        if (!cq_print_json_value ("job", job, false))
            rc = 1;
    }
    else if (rc == 0) {
        char id [80], src [TS_PATH_MAX], state [24], err [512], when [40], took [32];
        cq_get_str (&job, "job", id, sizeof id);
        cq_get_str (&job, "src", src, sizeof src);
        cq_get_str (&job, "state", state, sizeof state);
        printf ("job          %s\nsource       %s\nstate        %s\n", id, src, state);
        printf ("lines        %llu\nimported     %llu\nduplicates   %llu\nrejected     %llu\n"
                "blank        %llu\nbytes        %llu\nchunks       %llu of %llu acknowledged\n",
                (unsigned long long) cq_get_uint (&job, "lines"),
                (unsigned long long) cq_get_uint (&job, "imported"),
                (unsigned long long) cq_get_uint (&job, "duplicates"),
                (unsigned long long) cq_get_uint (&job, "rejected"),
                (unsigned long long) cq_get_uint (&job, "blank"),
                (unsigned long long) cq_get_uint (&job, "bytes"),
                (unsigned long long) cq_get_uint (&job, "chunks_acked"),
                (unsigned long long) cq_get_uint (&job, "chunks"));
        int64_t started, updated, finished;
        if (cq_get_int (&job, "started_ms", &started)) {
            cq_format_iso (started, when, sizeof when);
            printf ("started      %s\n", when);
            bool fin = cq_get_int (&job, "finished_ms", &finished) && finished > 0;
            if (fin || cq_get_int (&job, "updated_ms", &updated)) {
                ts_cli_format_duration ((fin ? finished : updated) - started, took, sizeof took);
                printf ("%s %s\n", fin ? "took        " : "running for ", took);
            }
        }
        if (cq_get_str (&job, "error", err, sizeof err) && err [0])
            printf ("error        %s\n", err);
    }
    ts_buf_free (&q.body);
    cq_client_close (&c);
    return rc;
}

/* --- health --------------------------------------------------------------------------------- */

int
ts_cli_cmd_health (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = cq_start ("health", argc, argv, opts, &co, NULL, NULL, NULL, 0, &c);
    if (rc)
        return cq_done (rc);
    ts_req_t q = { 0 };
    ts_req_begin (&q, "health");
    rc = cq_client_call (&c, &q);
    if (rc == 0 && co.json) {
        if (!cq_print_json_value ("health", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t api, workers, jobs;
        uint32_t n;
        int complete = cq_get_bool (&c.map, "stats_complete");
        printf ("api          %s\n", c.endpoint);
        printf ("epoch        %llu, %llu shards\n", (unsigned long long) cq_get_uint (&c.map, "epoch"),
                (unsigned long long) cq_get_uint (&c.map, "nshards"));
        printf ("statistics   %s\n", complete == 1 ? "complete" : complete == 0 ? "being rebuilt" : "-");
        printf ("queued       %llu chunks\n", (unsigned long long) cq_get_uint (&c.map, "queued_chunks"));
        if (ts_mp_reader_map_find (&c.map, "api", &api))
            printf ("requests     %llu served, %llu in flight (map epoch %llu)\n",
                    (unsigned long long) cq_get_uint (&api, "requests_served"),
                    (unsigned long long) cq_get_uint (&api, "requests_in_flight"),
                    (unsigned long long) cq_get_uint (&api, "map_epoch"));
        if (ts_mp_reader_map_find (&c.map, "jobs", &jobs) && ts_mp_read_array (&jobs, &n) == 0)
            printf ("jobs         %u known\n", n);
        if (ts_mp_reader_map_find (&c.map, "workers", &workers)
        &&  ts_mp_read_array (&workers, &n) == 0) {
            unsigned alive = 0;
            printf ("\n%-12s %8s  %-5s  %6s  %6s\n", "WORKER", "PID", "ALIVE", "SHARDS", "QUEUED");
            for (uint32_t i = 0; i < n; i++) {
                char name [64];
                int64_t pid = 0;
                ts_mp_reader_t sh;
                uint32_t nsh = 0;
                cq_get_str (&workers, "name", name, sizeof name);
                cq_get_int (&workers, "pid", &pid);
                int a = cq_get_bool (&workers, "alive");
                alive += a == 1;
                if (ts_mp_reader_map_find (&workers, "shards", &sh))
                    ts_mp_read_array (&sh, &nsh);
                printf ("%-12s %8lld  %-5s  %6u  %6llu\n", name, (long long) pid,
                        a == 1 ? "yes" : "no", nsh,
                        (unsigned long long) cq_get_uint (&workers, "queued"));
                /* what keeps it from its shards (a full disk, a shard it
                 * cannot open): the reason the rest of the table lacks */
                char error [512];
                if (cq_get_str (&workers, "error", error, sizeof error) && error [0])
                    printf ("  error: %s\n", error);
                if (ts_mp_skip (&workers))
                    break;
            }
            printf ("(%u of %u workers alive)\n", alive, n);
        }
    }
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore health: cannot write the output: %s\n", strerror (errno));
        rc = 1;
    }
    ts_buf_free (&q.body);
    cq_client_close (&c);
    return rc;
}

/* --- check ------------------------------------------------------------------------------------ */

/*  trajstore check: the consistency checker on every shard of the running
 *  store (records against index entries against totals, no orphans), one
 *  line a shard; exit 1 when anything is wrong. */
int
ts_cli_cmd_check (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = cq_start ("check", argc, argv, opts, &co, NULL, NULL, NULL, 0, &c);
    if (rc)
        return cq_done (rc);
    ts_req_t q = { 0 };
    c.answer_ms = 300000;               /* it reads every shard whole */
    ts_req_begin (&q, "check");
    rc = cq_client_call (&c, &q);
    uint64_t problems = rc == 0 ? cq_get_uint (&c.map, "problems") : 0;
    if (rc == 0 && co.json) {
        if (!cq_print_json_value ("check", c.map, true))
            rc = 1;
    }
    else if (rc == 0) {
        ts_mp_reader_t shards;
        uint32_t n;
        printf ("%-5s %10s %10s %8s %7s %8s  %s\n", "SHARD", "RECORDS", "INDEX", "GROUPS",
                "MODELS", "BATCHES", "STATE");
        if (ts_mp_reader_map_find (&c.map, "shards", &shards) && ts_mp_read_array (&shards, &n) == 0) {
            for (uint32_t i = 0; i < n; i++) {
                char first [512] = "";
                uint64_t p = cq_get_uint (&shards, "problems");
                cq_get_str (&shards, "first_problem", first, sizeof first);
                printf ("%-5llu %10llu %10llu %8llu %7llu %8llu  %s%s\n",
                        (unsigned long long) cq_get_uint (&shards, "shard"),
                        (unsigned long long) cq_get_uint (&shards, "records"),
                        (unsigned long long) cq_get_uint (&shards, "index_entries"),
                        (unsigned long long) cq_get_uint (&shards, "groups"),
                        (unsigned long long) cq_get_uint (&shards, "models"),
                        (unsigned long long) cq_get_uint (&shards, "batches"),
                        p ? "PROBLEM: " : "ok", first);
                if (ts_mp_skip (&shards))
                    break;
            }
        }
        printf ("%llu records, %llu problems\n",
                (unsigned long long) cq_get_uint (&c.map, "records"), (unsigned long long) problems);
    }
    if (rc == 0 && problems)
        rc = 1;
    ts_buf_free (&q.body);
    cq_client_close (&c);
    return rc;
}
