/*  cli_status.c: `trajstore status`: the supervisor's processes (from its
 *  state file) and the aggregator's view (its "status" reply: workers,
 *  shards, epoch, queue, statistics, jobs), as a table or one JSON object.
 */
#include "cli_common.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_msg.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_JOBS_SHOWN 10          /* the table's recent jobs */

typedef struct {
    ts_cli_paths_t       paths;
    pid_t                sup;           /* 0: no supervisor */
    bool                 has_state;
    ts_cli_state_t       state;
    int                  rc;            /* of the request */
    zframe_t            *reply;
    ts_cli_agg_status_t *agg;           /* decoded reply, or NULL */
    char                 err [256];     /* the aggregator's error */
} s_status_t;

static bool
s_proc_alive (const s_status_t *s, const ts_cli_proc_t *p)
{
    return s->sup && !strcmp (p->state, "running") && ts_cli_pid_is_alive ((pid_t) p->pid);
}

/*  Why there is no answer, in words. */
static void
s_no_answer (const s_status_t *s, char *buf, size_t size)
{
    if (s->rc == TS_EBADREQ)
        snprintf (buf, size, "the aggregator answered with an error: %s", s->err);
    else if (s->rc == TS_EPROTO)
        snprintf (buf, size, "the aggregator's answer does not decode");
    else
        snprintf (buf, size, "the aggregator did not answer on %s within %d s%s",
                  s->paths.query, TS_CLI_ANSWER_MS / 1000,
                  s->sup ? "" : " (no supervisor is running for this data directory: "
                                "start it with trajstore up)");
}

/*  The gateway's URL when its process is alive and says where it listens. */
static bool
s_http_url (const s_status_t *s, char *url, size_t size)
{
    url [0] = 0;
    for (int i = 0; s->sup && s->has_state && i < s->state.nprocs; i++)
        if (!strcmp (s->state.procs [i].name, "http") && s_proc_alive (s, &s->state.procs [i]))
            return ts_cli_http_url (&s->paths, url, size) == 0;
    return false;
}

/* --- JSON --------------------------------------------------------------------- */

static void
s_json_reply_fields (ts_json_out_t *j, zframe_t *reply)
{
    /* every field of the reply but the envelope, as the aggregator sent it,
     * so new fields show up here without a change */
    ts_mp_reader_t r;
    uint32_t n;
    ts_mp_item_t key;
    ts_mp_reader_init (&r, zframe_data (reply), zframe_size (reply));
    if (ts_mp_read_map (&r, &n))
        return;
    for (uint32_t i = 0; i < n; i++) {
        if (ts_mp_next (&r, &key) || key.type != TS_MP_STR)
            return;
        bool envelope = ts_mp_item_is_str (&key, "v") || ts_mp_item_is_str (&key, "t")
                     || ts_mp_item_is_str (&key, "ok");
        if (envelope) {
            if (ts_mp_skip (&r))
                return;
            continue;
        }
        char name [64];
        snprintf (name, sizeof name, "%.*s", (int) key.len, key.ptr);
        ts_json_out_key (j, name);
        if (ts_json_out_mp (j, &r)) {
            ts_json_out_null (j);
            if (ts_mp_skip (&r))
                return;
        }
    }
}

static int
s_print_json (const s_status_t *s)
{
    ts_buf_t buf = { 0 };
    ts_json_out_t j;
    ts_json_out_init (&j, &buf);
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "data");        ts_json_out_str (&j, s->paths.data);
    ts_json_out_key (&j, "running");     ts_json_out_bool (&j, s->agg != NULL);

    ts_json_out_key (&j, "supervisor");
    if (s->sup) {
        ts_json_out_object_begin (&j);
        ts_json_out_key (&j, "pid");     ts_json_out_int (&j, s->sup);
        ts_json_out_key (&j, "started_ms");
        if (s->has_state) ts_json_out_int (&j, s->state.started_ms); else ts_json_out_null (&j);
        ts_json_out_key (&j, "stopping"); ts_json_out_bool (&j, s->has_state && s->state.stopping);
        ts_json_out_object_end (&j);
    }
    else
        ts_json_out_null (&j);

    ts_json_out_key (&j, "processes");
    ts_json_out_array_begin (&j);
    for (int i = 0; s->sup && s->has_state && i < s->state.nprocs; i++) {
        const ts_cli_proc_t *p = &s->state.procs [i];
        ts_json_out_object_begin (&j);
        ts_json_out_key (&j, "name");       ts_json_out_str (&j, p->name);
        ts_json_out_key (&j, "pid");        ts_json_out_int (&j, p->pid);
        ts_json_out_key (&j, "alive");      ts_json_out_bool (&j, s_proc_alive (s, p));
        ts_json_out_key (&j, "state");      ts_json_out_str (&j, p->state);
        ts_json_out_key (&j, "restarts");   ts_json_out_uint (&j, p->restarts);
        ts_json_out_key (&j, "last_exit");  ts_json_out_str (&j, p->last_exit [0] ? p->last_exit : NULL);
        ts_json_out_key (&j, "started_ms"); ts_json_out_int (&j, p->started_ms);
        ts_json_out_object_end (&j);
    }
    ts_json_out_array_end (&j);

    /* the gateway: its URL while its process runs (DATA/http.addr) */
    ts_json_out_key (&j, "http");
    ts_json_out_object_begin (&j);
    char url [256];
    bool http = s_http_url (s, url, sizeof url);
    ts_json_out_key (&j, "url");         ts_json_out_str (&j, http ? url : NULL);
    ts_json_out_key (&j, "listening");   ts_json_out_bool (&j, http);
    ts_json_out_object_end (&j);

    /* the figures a script wants most, without walking the lists */
    ts_json_out_key (&j, "nshards");
    if (s->agg) ts_json_out_uint (&j, s->agg->nshards); else ts_json_out_null (&j);
    ts_json_out_key (&j, "workers_alive");
    if (s->agg) ts_json_out_uint (&j, s->agg->alive); else ts_json_out_null (&j);
    ts_json_out_key (&j, "shards_assigned");
    if (s->agg) ts_json_out_uint (&j, s->agg->assigned); else ts_json_out_null (&j);

    ts_json_out_key (&j, "aggregator");
    ts_json_out_object_begin (&j);
    ts_json_out_key (&j, "endpoint");    ts_json_out_str (&j, s->paths.query);
    ts_json_out_key (&j, "answered");    ts_json_out_bool (&j, s->agg != NULL);
    ts_json_out_key (&j, "error");
    if (s->agg)
        ts_json_out_null (&j);
    else {
        char why [TS_PATH_MAX + 256];
        s_no_answer (s, why, sizeof why);
        ts_json_out_str (&j, why);
    }
    if (s->agg)
        s_json_reply_fields (&j, s->reply);
    ts_json_out_object_end (&j);
    ts_json_out_object_end (&j);

    int rc = ts_json_out_error (&j);
    if (rc == 0) {
        fwrite (buf.data, 1, buf.size, stdout);
        fputc ('\n', stdout);
    }
    else
        fprintf (stderr, "trajstore status: cannot write JSON: %s\n", ts_strerror (rc));
    ts_buf_free (&buf);
    return rc;
}

/* --- the table ------------------------------------------------------------------ */

static void
s_print_processes (const s_status_t *s)
{
    char up [32];
    if (!s->sup) {
        printf ("no supervisor is running for %s\n", s->paths.data);
        int idx [TS_CLI_MAX_PROCS];
        int n = s->has_state ? ts_cli_state_orphans (&s->state, s->paths.data, idx) : 0;
        if (n > 0) {
            printf ("processes of a supervisor that died are still running:");
            for (int i = 0; i < n; i++)
                printf (" %s (pid %lld)", s->state.procs [idx [i]].name,
                        (long long) s->state.procs [idx [i]].pid);
            printf ("\n(trajstore down stops them)\n");
        }
        return;
    }
    ts_cli_format_duration (s->has_state ? ts_now_ms () - s->state.started_ms : 0, up, sizeof up);
    printf ("trajstore at %s: supervisor pid %d, up %s%s\n", s->paths.data, (int) s->sup, up,
            s->has_state && s->state.stopping ? " (stopping)" : "");
    if (!s->has_state)
        return;
    printf ("\n%-12s %8s  %-5s  %8s  %s\n", "PROCESS", "PID", "ALIVE", "RESTARTS", "LAST EXIT");
    for (int i = 0; i < s->state.nprocs; i++) {
        const ts_cli_proc_t *p = &s->state.procs [i];
        bool alive = s_proc_alive (s, p);
        char pid [24];
        snprintf (pid, sizeof pid, "%lld", (long long) p->pid);
        printf ("%-12s %8s  %-5s  %8llu  %s\n", p->name, p->pid ? pid : "-",
                alive ? "yes" : strcmp (p->state, "backoff") ? "no" : "wait",
                (unsigned long long) p->restarts, p->last_exit [0] ? p->last_exit : "-");
    }
    char url [256];
    if (s_http_url (s, url, sizeof url))
        printf ("\nhttp: %s\n", url);
}

static void
s_print_aggregator (const s_status_t *s)
{
    const ts_cli_agg_status_t *a = s->agg;
    char up [32];
    ts_cli_format_duration (a->uptime_ms, up, sizeof up);
    printf ("\naggregator: epoch %llu, %llu shards (%u assigned), %llu queued chunk%s, "
            "statistics %s, up %s\n",
            (unsigned long long) a->epoch, (unsigned long long) a->nshards, a->assigned,
            (unsigned long long) a->queued_chunks, a->queued_chunks == 1 ? "" : "s",
            a->stats_complete ? "complete" : "being rebuilt", up);
    printf ("\n%-12s %8s  %-5s  %6s  %s\n", "WORKER", "PID", "ALIVE", "SHARDS", "WHICH");
    for (int i = 0; i < a->nworkers; i++) {
        const ts_cli_worker_t *w = &a->workers [i];
        printf ("%-12s %8lld  %-5s  %6u  %s%s%s\n", w->name, (long long) w->pid,
                w->alive ? "yes" : "no", w->nshards, w->shards [0] ? w->shards : "-",
                w->error [0] ? "  error: " : "", w->error);
    }
    if (a->njobs == 0) {
        printf ("\nno jobs yet\n");
        return;
    }
    printf ("\n%-32s  %-20s  %-7s  %9s  %9s  %10s  %8s  %9s  %7s\n", "JOB", "SRC", "STATE",
            "LINES", "IMPORTED", "DUPLICATES", "REJECTED", "PROGRESS", "ELAPSED");
    for (int i = 0; i < a->njobs && i < S_JOBS_SHOWN; i++) {
        const ts_cli_job_t *j = &a->jobs [i];
        char progress [48], elapsed [32], src [24];
        const char *base = strrchr (j->src, '/');
        base = base ? base + 1 : j->src;
        /* the end of a long name tells files apart better than its start */
        size_t len = strlen (base);
        if (len > 20)
            snprintf (src, sizeof src, "...%.17s", base + len - 17);
        else
            snprintf (src, sizeof src, "%.20s", base);
        if (j->chunks)
            snprintf (progress, sizeof progress, "%llu/%llu",
                      (unsigned long long) j->chunks_acked, (unsigned long long) j->chunks);
        else
            snprintf (progress, sizeof progress, "%llu/?", (unsigned long long) j->chunks_acked);
        ts_cli_format_duration ((j->finished ? j->finished_ms : j->updated_ms) - j->started_ms,
                                elapsed, sizeof elapsed);
        printf ("%-32s  %-20s  %-7s  %9llu  %9llu  %10llu  %8llu  %9s  %7s\n", j->job, src,
                j->state, (unsigned long long) j->lines, (unsigned long long) j->imported,
                (unsigned long long) j->duplicates, (unsigned long long) j->rejected,
                progress, elapsed);
    }
    if (a->njobs > S_JOBS_SHOWN)
        printf ("(%d older jobs not shown; --json lists them all)\n", a->njobs - S_JOBS_SHOWN);
}

/* --- the command -------------------------------------------------------------------- */

int
ts_cli_cmd_status (int argc, char **argv)
{
    static struct option opts [] = {
        { "data", required_argument, 0, 'd' }, { "json", no_argument, 0, 'j' },
        { "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 }
    };
    const char *data = NULL;
    bool json = false;
    int c;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'j': json = true; break;
        case 'h': ts_cli_usage (stdout, "status"); return 0;
        default: ts_cli_usage (stderr, "status"); return 2;
        }
    }
    if (optind < argc) {
        ts_cli_usage (stderr, "status");
        return 2;
    }
    s_status_t *s = calloc (1, sizeof *s);
    if (!s) {
        fprintf (stderr, "trajstore status: out of memory\n");
        return 1;
    }
    int rc = ts_cli_paths_init (&s->paths, data, false);
    if (rc) {
        fprintf (stderr, "trajstore status: bad data directory: %s\n", ts_strerror (rc));
        free (s);
        return 2;
    }
    s->sup = ts_cli_supervisor_pid (&s->paths);
    s->has_state = ts_cli_state_load (s->paths.state_file, &s->state) == 0;

    /* With no supervisor and no socket file, nobody can answer: say so
     * now rather than after the full wait. */
    struct stat st;
    const char *ipc = strncmp (s->paths.query, "ipc://", 6) ? NULL : s->paths.query + 6;
    if (!s->sup && ipc && stat (ipc, &st) != 0)
        s->rc = TS_ETIMEOUT;
    else
        s->rc = ts_cli_request (s->paths.query, TS_MSG_STATUS, TS_CLI_ANSWER_MS, &s->reply);
    if (s->rc == 0) {
        s->agg = calloc (1, sizeof *s->agg);
        if (!s->agg)
            s->rc = TS_ENOMEM;
        else if ((s->rc = ts_cli_agg_status_parse (zframe_data (s->reply), zframe_size (s->reply),
                                                   s->agg, s->err, sizeof s->err))) {
            free (s->agg);
            s->agg = NULL;
        }
    }
    int exit_code = s->agg ? 0 : 2;
    if (json) {
        if (s_print_json (s))
            exit_code = 1;
    }
    else {
        s_print_processes (s);
        if (s->agg)
            s_print_aggregator (s);
    }
    if (!s->agg) {
        char why [TS_PATH_MAX + 256];
        s_no_answer (s, why, sizeof why);
        fprintf (stderr, "trajstore status: %s\n", why);
    }
    zframe_destroy (&s->reply);
    free (s->agg);
    free (s);
    return exit_code;
}
