/*  cli_query.c: the read commands of the `trajstore` CLI: get, list,
 *  count and export here, stats, groups, job, health and check in
 *  cli_report.c, with the options they share. Each is a client of
 *  trajstore-api: a DEALER socket on the api endpoint (--api, else
 *  $TRAJSTORE_API, else ipc://DATA/api.sock), one msgpack map out, one
 *  back (docs/PROTOCOL.md describes the ops and their fields). A command that
 *  pages (list --all, export) asks again on the same socket with the
 *  reply's "next".
 *
 *  Output: for a person on a terminal, tables and summaries; for a pipe,
 *  or with --json, JSON (one object a line for listings, so a consumer can
 *  stream them). --table and --json force either. The next page's cursor
 *  of a listing goes to stderr, never into the data on stdout.
 *
 *  Exit status: 0 success; 1 the api answered with an error (printed with
 *  its code and message), or stdout could not be written; 2 bad usage, or
 *  no answer from the api.
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

/* --- options ---------------------------------------------------------------- */

s_filter_t *
cq_filter_new (const char *cmd)
{
    s_filter_t *f = calloc (1, sizeof *f);
    if (!f) {
        fprintf (stderr, "trajstore %s: out of memory\n", cmd);
        return NULL;
    }
    f->success = -1;
    return f;
}

/*  An unsigned integer option in [lo, hi]. */
bool
cq_parse_uint (const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return false;
    errno = 0;
    unsigned long long x = strtoull (s, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return false;
    *v = x;
    return true;
}

/*  One bound of --created: empty (none), epoch milliseconds, or ISO 8601. */
static bool
s_parse_time (const char *s, size_t n, bool *has, int64_t *ms)
{
    *has = n > 0;
    if (n == 0)
        return true;
    size_t i = s [0] == '-' ? 1 : 0;
    bool digits = i < n;
    for (size_t k = i; k < n; k++)
        digits &= s [k] >= '0' && s [k] <= '9';
    if (digits && n < 19) {
        char tmp [24];
        memcpy (tmp, s, n);
        tmp [n] = 0;
        *ms = strtoll (tmp, NULL, 10);
        return true;
    }
    return ts_parse_iso8601 (s, n, ms) == 0;
}

/*  --created FROM:TO. ISO times hold colons themselves, so the split is
 *  the one colon where both sides read as times ("FROM..TO" also works). */
static bool
s_parse_created (const char *arg, s_filter_t *f)
{
    const char *dots = strstr (arg, "..");
    if (dots)
        return s_parse_time (arg, (size_t) (dots - arg), &f->has_from, &f->from)
            && s_parse_time (dots + 2, strlen (dots + 2), &f->has_to, &f->to);
    int found = 0;
    size_t len = strlen (arg);
    for (size_t i = 0; i < len; i++) {
        bool hf, ht;
        int64_t a, b;
        if (arg [i] == ':' && s_parse_time (arg, i, &hf, &a)
        &&  s_parse_time (arg + i + 1, len - i - 1, &ht, &b)) {
            f->has_from = hf; f->from = a;
            f->has_to = ht;   f->to = b;
            found++;
        }
    }
    return found == 1;
}

bool
cq_sort_valid (const char *s, const char *const *names)
{
    if (*s == '-' || *s == '+')
        s++;
    for (int i = 0; names [i]; i++)
        if (!strcmp (s, names [i]))
            return true;
    return false;
}

static const char *const s_list_sorts [] = { "created", "reward", "id", NULL };

/*  Handles a common or filter option. Returns 0 when it took `c`, 1 when
 *  `c` is none of them, 2 for a bad value (said on stderr). */
static int
s_take_option (const char *cmd, int c, const char *arg, s_common_t *co, s_filter_t *f)
{
    uint64_t v;
    switch (c) {
    case O_DATA:  co->data = arg; return 0;
    case O_API:   co->api = arg; return 0;
    case O_JSON:  co->json = true; co->table = false; return 0;
    case O_TABLE: co->table = true; co->json = false; return 0;
    case O_HELP:  co->help = true; return 0;
    default: break;
    }
    if (!f)
        return 1;
    switch (c) {
    case O_GROUP:
        if (f->ngroups >= TS_QUERY_MAX_GROUPS) {
            fprintf (stderr, "trajstore %s: at most %d --group\n", cmd, TS_QUERY_MAX_GROUPS);
            return 2;
        }
        f->groups [f->ngroups++] = arg;
        return 0;
    case O_MODEL:
        f->model = arg;
        return 0;
    case O_RUN:
        f->run = arg;
        return 0;
    case O_LABEL:
    case O_NO_LABEL:
        if (f->nlabels >= TS_QUERY_MAX_LABELS) {
            fprintf (stderr, "trajstore %s: at most %d --label and --no-label\n", cmd,
                     TS_QUERY_MAX_LABELS);
            return 2;
        }
        if (!*arg || *arg == '=' || (c == O_NO_LABEL && strchr (arg, '='))) {
            fprintf (stderr, "trajstore %s: --%s wants %s, not '%s'\n", cmd,
                     c == O_LABEL ? "label" : "no-label", c == O_LABEL ? "KEY=VALUE or KEY" : "KEY",
                     arg);
            return 2;
        }
        f->labels [f->nlabels] = arg;
        f->no_label [f->nlabels++] = c == O_NO_LABEL;
        return 0;
    case O_REWARD: {
        if (!ts_req_range (arg, &f->has_lo, &f->lo, &f->has_hi, &f->hi)) {
            fprintf (stderr, "trajstore %s: --reward wants LO:HI (numbers, either may be "
                     "empty), not '%s'\n", cmd, arg);
            return 2;
        }
        f->has_reward = true;
        return 0;
    }
    case O_SUCCESS:
    case O_FAILURE: {
        int want = c == O_SUCCESS;
        if (f->success >= 0 && f->success != want) {
            fprintf (stderr, "trajstore %s: --success and --failure exclude each other\n", cmd);
            return 2;
        }
        f->success = want;
        return 0;
    }
    case O_CREATED:
        if (!s_parse_created (arg, f)) {
            fprintf (stderr, "trajstore %s: --created wants FROM:TO (epoch ms or ISO 8601, "
                     "either may be empty; FROM..TO when a colon is ambiguous), not '%s'\n",
                     cmd, arg);
            return 2;
        }
        f->has_created = true;
        return 0;
    case O_SORT:
        if (!cq_sort_valid (arg, s_list_sorts)) {
            fprintf (stderr, "trajstore %s: --sort wants created, reward or id, with '-' for "
                     "descending, not '%s'\n", cmd, arg);
            return 2;
        }
        f->sort = arg;
        return 0;
    case O_LIMIT:
        if (!cq_parse_uint (arg, 1, TS_QUERY_MAX_LIMIT, &v)) {
            fprintf (stderr, "trajstore %s: --limit wants 1..%d, not '%s'\n", cmd,
                     TS_QUERY_MAX_LIMIT, arg);
            return 2;
        }
        f->limit = (uint32_t) v;
        return 0;
    case O_CURSOR:
        f->cursor = arg;
        return 0;
    case O_RECORDS:
        f->records = true;
        return 0;
    default:
        return 1;
    }
}

/*  Runs getopt over argv with `opts`, handing common and filter options
 *  to s_take_option and the rest to `extra` (may be NULL). Returns 0, or
 *  the exit code: 2 for bad usage (the usage is printed), or -1 after
 *  --help was printed (exit 0). */
int
cq_parse_args (const char *cmd, int argc, char **argv, const struct option *opts,
              s_common_t *co, s_filter_t *f,
              int (*extra) (const char *cmd, int c, const char *arg, void *ctx), void *ctx)
{
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h')
            c = O_HELP;
        int rc = s_take_option (cmd, c, optarg, co, f);
        if (rc == 1 && extra)
            rc = extra (cmd, c, optarg, ctx);
        if (rc == 2 || rc == 1) {
            ts_cli_usage (stderr, cmd);
            return 2;
        }
    }
    if (co->help) {
        ts_cli_usage (stdout, cmd);
        return -1;
    }
    return 0;
}

/*  Does the filter select anything (a command that takes filters only
 *  with another option asks)? */
bool
cq_filter_used (const s_filter_t *f)
{
    return f->ngroups || f->model || f->run || f->has_reward || f->success >= 0
        || f->has_created || f->nlabels;
}

/*  Packs the listing fields of `f` (and `cursor`, when not NULL). */
void
cq_pack_listing (ts_req_t *q, const s_filter_t *f, uint32_t limit, const char *cursor)
{
    msgpack_packer *pk = &q->pk;
    if (f->ngroups == 1) {
        ts_req_key (q, "group");
        ts_mp_pack_cstr (pk, f->groups [0]);
    }
    else if (f->ngroups > 1) {
        ts_req_key (q, "group");
        msgpack_pack_array (pk, (size_t) f->ngroups);
        for (int i = 0; i < f->ngroups; i++)
            ts_mp_pack_cstr (pk, f->groups [i]);
    }
    if (f->model) {
        ts_req_key (q, "model");
        ts_mp_pack_cstr (pk, f->model);
    }
    if (f->run) {
        ts_req_key (q, "run");
        ts_mp_pack_cstr (pk, f->run);
    }
    for (int neg = 0; neg < 2; neg++) {
        int n = 0;
        for (int i = 0; i < f->nlabels; i++)
            n += f->no_label [i] == neg;
        if (!n)
            continue;
        ts_req_key (q, neg ? "no_label" : "label");
        msgpack_pack_array (pk, (size_t) n);
        for (int i = 0; i < f->nlabels; i++)
            if (f->no_label [i] == neg)
                ts_mp_pack_cstr (pk, f->labels [i]);
    }
    if (f->has_reward) {
        ts_req_key (q, "reward");
        msgpack_pack_array (pk, 2);
        if (f->has_lo) msgpack_pack_double (pk, f->lo); else msgpack_pack_nil (pk);
        if (f->has_hi) msgpack_pack_double (pk, f->hi); else msgpack_pack_nil (pk);
    }
    if (f->success >= 0) {
        ts_req_key (q, "success");
        if (f->success) msgpack_pack_true (pk); else msgpack_pack_false (pk);
    }
    if (f->has_created) {
        ts_req_key (q, "created");
        msgpack_pack_array (pk, 2);
        if (f->has_from) msgpack_pack_int64 (pk, f->from); else msgpack_pack_nil (pk);
        if (f->has_to) msgpack_pack_int64 (pk, f->to); else msgpack_pack_nil (pk);
    }
    if (f->sort) {
        ts_req_key (q, "sort");
        ts_mp_pack_cstr (pk, f->sort);
    }
    if (limit) {
        ts_req_key (q, "limit");
        msgpack_pack_uint32 (pk, limit);
    }
    if (cursor) {
        ts_req_key (q, "cursor");
        ts_mp_pack_cstr (pk, cursor);
    }
}

/*  The start shared by every command: parse, open the client. Returns 0
 *  or the exit code (-1 meaning 0 after --help). */
int
cq_start (const char *cmd, int argc, char **argv, const struct option *opts, s_common_t *co,
         s_filter_t *f, int (*extra) (const char *, int, const char *, void *), void *ctx,
         int nargs, s_client_t *c)
{
    int rc = cq_parse_args (cmd, argc, argv, opts, co, f, extra, ctx);
    if (rc)
        return rc;
    if (argc - optind != nargs) {
        ts_cli_usage (stderr, cmd);
        return 2;
    }
    return cq_client_open (c, cmd, co->data, co->api);
}

int
cq_done (int rc)
{
    return rc < 0 ? 0 : rc;
}

/* --- get ---------------------------------------------------------------------------- */

int
ts_cli_cmd_get (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_client_t c;
    int rc = cq_start ("get", argc, argv, opts, &co, NULL, NULL, NULL, 1, &c);
    if (rc)
        return cq_done (rc);
    const char *id = argv [optind];
    ts_req_t q = { 0 };
    ts_req_begin (&q, "get");
    ts_req_key (&q, "id");
    ts_mp_pack_cstr (&q.pk, id);
    rc = cq_client_call (&c, &q);
    ts_mp_reader_t rec;
    if (rc == 0 && !ts_mp_reader_map_find (&c.map, "record", &rec)) {
        fprintf (stderr, "trajstore get: the api's answer has no record\n");
        rc = 2;
    }
    if (rc == 0) {
        ts_buf_t buf = { 0 };
        int jrc = ts_mp_to_json (rec.p, (size_t) (rec.end - rec.p), &buf);
        if (jrc) {
            fprintf (stderr, "trajstore get: the record does not convert to JSON: %s\n",
                     ts_strerror (jrc));
            rc = 1;
        }
        else if (!co.json && isatty (STDOUT_FILENO)) {
            cq_print_pretty (stdout, buf.data, buf.size);
            rc = cq_show_labels (&c, id);
        }
        else if (!cq_write_line ("get", buf.data, buf.size))
            rc = 1;
        ts_buf_free (&buf);
    }
    ts_buf_free (&q.body);
    cq_client_close (&c);
    return rc;
}

/* --- list ----------------------------------------------------------------------------- */

typedef struct {
    bool all;
} s_list_extra_t;

static int
s_list_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    (void) cmd;
    (void) arg;
    s_list_extra_t *x = ctx;
    if (c == O_ALL) {
        x->all = true;
        return 0;
    }
    return 1;
}

/*  One row of the listing table, from an item map. */
typedef struct {
    char id [TS_ID_MAX_BYTES + 1];
    char group [TS_GROUP_MAX_BYTES + 1], model [TS_MODEL_MAX_BYTES + 1];
    char reward [40], success [8], created [40], steps [24];
} s_row_t;

static void
s_row_from (const ts_mp_reader_t *item, s_row_t *row)
{
    double d;
    int64_t i;
    if (!cq_get_str (item, "id", row->id, sizeof row->id))
        snprintf (row->id, sizeof row->id, "-");
    if (!cq_get_str (item, "group", row->group, sizeof row->group))
        snprintf (row->group, sizeof row->group, "-");
    if (!cq_get_str (item, "model", row->model, sizeof row->model))
        snprintf (row->model, sizeof row->model, "-");
    cq_cut (row->group, S_TEXT_MAX);
    cq_cut (row->model, S_TEXT_MAX);
    bool has = cq_get_double (item, "reward", &d);
    cq_format_num (has, d, row->reward, sizeof row->reward);
    int b = cq_get_bool (item, "success");
    snprintf (row->success, sizeof row->success, "%s", b < 0 ? "-" : b ? "yes" : "no");
    if (cq_get_int (item, "created_ms", &i))
        cq_format_iso (i, row->created, sizeof row->created);
    else
        snprintf (row->created, sizeof row->created, "-");
    if (cq_get_int (item, "steps", &i))
        snprintf (row->steps, sizeof row->steps, "%lld", (long long) i);
    else
        snprintf (row->steps, sizeof row->steps, "-");
}

typedef struct {
    int id, group, model, reward;
    bool header_done;
} s_widths_t;

/*  Prints one page of items as table rows; the widths come from the
 *  first page (a later, wider value pushes its row's columns). */
static void
s_list_table (ts_mp_reader_t items, uint32_t n, s_widths_t *w)
{
    s_row_t row;
    if (!w->header_done) {
        w->id = 2; w->group = 5; w->model = 5; w->reward = 6;
        ts_mp_reader_t r = items;
        for (uint32_t i = 0; i < n; i++) {
            s_row_from (&r, &row);
            if (ts_mp_skip (&r))
                break;
            int l;
            if ((l = (int) strlen (row.id)) > w->id) w->id = l;
            if ((l = (int) strlen (row.group)) > w->group) w->group = l;
            if ((l = (int) strlen (row.model)) > w->model) w->model = l;
            if ((l = (int) strlen (row.reward)) > w->reward) w->reward = l;
        }
        printf ("%-*s  %-*s  %-*s  %*s  %-7s  %-20s  %5s\n", w->id, "ID", w->group, "GROUP",
                w->model, "MODEL", w->reward, "REWARD", "SUCCESS", "CREATED", "STEPS");
        w->header_done = true;
    }
    for (uint32_t i = 0; i < n; i++) {
        s_row_from (&items, &row);
        if (ts_mp_skip (&items))
            break;
        printf ("%-*s  %-*s  %-*s  %*s  %-7s  %-20s  %5s\n", w->id, row.id, w->group, row.group,
                w->model, row.model, w->reward, row.reward, row.success, row.created, row.steps);
    }
}

int
ts_cli_cmd_list (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS,
        { "table", no_argument, 0, O_TABLE }, { "cursor", required_argument, 0, O_CURSOR },
        { "records", no_argument, 0, O_RECORDS }, { "all", no_argument, 0, O_ALL },
        { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_filter_t *f = cq_filter_new ("list");
    if (!f)
        return 1;
    s_list_extra_t x = { false };
    s_client_t c;
    int rc = cq_start ("list", argc, argv, opts, &co, f, s_list_extra, &x, 0, &c);
    if (rc) {
        free (f);
        return cq_done (rc);
    }
    bool table = co.table || (!co.json && isatty (STDOUT_FILENO));
    uint32_t limit = f->limit ? f->limit : x.all ? S_ALL_PAGE : S_LIST_PAGE;
    char *cursor = f->cursor ? strdup (f->cursor) : NULL;
    s_widths_t widths = { 0 };
    uint64_t shown = 0;
    ts_req_t q = { 0 };
    for (;;) {
        ts_req_begin (&q, "list");
        cq_pack_listing (&q, f, limit, cursor);
        if (f->records) {
            ts_req_key (&q, "fields");
            ts_mp_pack_cstr (&q.pk, "record");
        }
        if ((rc = cq_client_call (&c, &q)))
            break;
        ts_mp_reader_t items, next;
        uint32_t n;
        if (!ts_mp_reader_map_find (&c.map, "items", &items) || ts_mp_read_array (&items, &n)) {
            fprintf (stderr, "trajstore list: the api's answer has no items\n");
            rc = 2;
            break;
        }
        if (table)
            s_list_table (items, n, &widths);
        else {
            for (uint32_t i = 0; i < n && rc == 0; i++) {
                if (!cq_print_json_value ("list", items, false))
                    rc = 1;
                if (ts_mp_skip (&items))
                    break;
            }
            if (rc)
                break;
        }
        shown += n;
        free (cursor);
        cursor = NULL;
        const char *p;
        uint32_t len;
        if (ts_mp_reader_map_find (&c.map, "next", &next) && ts_mp_read_str (&next, &p, &len) == 0)
            cursor = strndup (p ? p : "", len);
        if (!cursor || !x.all)
            break;
    }
    if (rc == 0) {
        if (table && shown == 0)
            printf ("(no records match)\n");
        if (fflush (stdout)) {
            fprintf (stderr, "trajstore list: cannot write the output: %s\n", strerror (errno));
            rc = 1;
        }
        else if (cursor)
            fprintf (stderr, "next page: --cursor %s\n", cursor);
    }
    free (cursor);
    ts_buf_free (&q.body);
    cq_client_close (&c);
    free (f);
    return rc;
}

/* --- count ------------------------------------------------------------------------------ */

int
ts_cli_cmd_count (int argc, char **argv)
{
    static const struct option opts [] = { S_COMMON_OPTS, S_FILTER_OPTS, { 0, 0, 0, 0 } };
    s_common_t co = { 0 };
    s_filter_t *f = cq_filter_new ("count");
    if (!f)
        return 1;
    s_client_t c;
    int rc = cq_start ("count", argc, argv, opts, &co, f, NULL, NULL, 0, &c);
    if (rc) {
        free (f);
        return cq_done (rc);
    }
    /* sort and limit do not change a count: they are accepted (a list's
     * command line can be turned into a count by its name alone) */
    ts_req_t q = { 0 };
    ts_req_begin (&q, "count");
    f->sort = NULL;
    cq_pack_listing (&q, f, 0, NULL);
    if ((rc = cq_client_call (&c, &q)) == 0) {
        uint64_t n = cq_get_uint (&c.map, "count");
        if (co.json)
            printf ("{\"count\":%llu}\n", (unsigned long long) n);
        else
            printf ("%llu\n", (unsigned long long) n);
        if (fflush (stdout))
            rc = 1;
    }
    ts_buf_free (&q.body);
    cq_client_close (&c);
    free (f);
    return rc;
}

/* --- export ------------------------------------------------------------------------------ */

typedef struct {
    bool        quiet;
    const char *with_labels;
} s_export_opts_t;

static int
s_export_extra (const char *cmd, int c, const char *arg, void *ctx)
{
    (void) cmd;
    s_export_opts_t *o = ctx;
    if (c == O_QUIET)
        o->quiet = true;
    else if (c == O_WITH_LABELS)
        o->with_labels = arg;
    else
        return 1;
    return 0;
}

int
ts_cli_cmd_export (int argc, char **argv)
{
    static const struct option opts [] = {
        S_COMMON_OPTS, S_FILTER_OPTS, { "quiet", no_argument, 0, O_QUIET },
        { "with-labels", required_argument, 0, O_WITH_LABELS }, { 0, 0, 0, 0 }
    };
    s_common_t co = { 0 };
    s_filter_t *f = cq_filter_new ("export");
    if (!f)
        return 1;
    s_export_opts_t xo = { 0 };
    s_client_t c;
    int rc = cq_start ("export", argc, argv, opts, &co, f, s_export_extra, &xo, 0, &c);
    if (rc) {
        free (f);
        return cq_done (rc);
    }
    bool quiet = xo.quiet;
    if (xo.with_labels) {
        rc = cq_export_with_labels (&c, f, xo.with_labels, f->limit ? f->limit : S_EXPORT_PAGE);
        if (rc == 0 && fflush (stdout)) {
            fprintf (stderr, "trajstore export: cannot write the output: %s\n", strerror (errno));
            rc = 1;
        }
        cq_client_close (&c);
        free (f);
        return rc;
    }
    uint32_t limit = f->limit ? f->limit : S_EXPORT_PAGE;
    bool progress = !quiet && isatty (STDERR_FILENO);
    uint64_t total = 0, done = 0;
    ts_req_t q = { 0 };
    if (progress) {
        /* the whole, for "n of total": one count of the same filter */
        ts_req_begin (&q, "count");
        cq_pack_listing (&q, f, 0, NULL);
        if ((rc = cq_client_call (&c, &q)) == 0)
            total = cq_get_uint (&c.map, "count");
    }
    char *cursor = NULL;
    int64_t shown_ms = 0;
    while (rc == 0) {
        ts_req_begin (&q, "export");
        /* "limit" and "fields" are sent although docs/PROTOCOL.md gives export
         * these defaults: the workers (workers/ts_reads.c) take neither
         * from the op, and without them a page loses records */
        cq_pack_listing (&q, f, limit, cursor);
        ts_req_key (&q, "fields");
        ts_mp_pack_cstr (&q.pk, "record");
        if ((rc = cq_client_call (&c, &q)))
            break;
        ts_mp_reader_t v;
        const char *lines;
        uint32_t len;
        if (!ts_mp_reader_map_find (&c.map, "lines", &v) || ts_mp_read_str (&v, &lines, &len)) {
            fprintf (stderr, "trajstore export: the api's answer has no lines\n");
            rc = 2;
            break;
        }
        if (len && fwrite (lines, 1, len, stdout) != len) {
            fprintf (stderr, "trajstore export: cannot write the output: %s\n", strerror (errno));
            rc = 1;
            break;
        }
        done += cq_get_uint (&c.map, "count");
        free (cursor);
        cursor = NULL;
        const char *p;
        uint32_t n;
        if (ts_mp_reader_map_find (&c.map, "next", &v) && ts_mp_read_str (&v, &p, &n) == 0)
            cursor = strndup (p ? p : "", n);
        if (progress && (!cursor || ts_mono_ms () - shown_ms >= 200)) {
            fprintf (stderr, "\rexported %llu of %llu records", (unsigned long long) done,
                     (unsigned long long) total);
            shown_ms = ts_mono_ms ();
        }
        if (!cursor)
            break;
    }
    if (progress && shown_ms)
        fputc ('\n', stderr);
    if (rc == 0 && fflush (stdout)) {
        fprintf (stderr, "trajstore export: cannot write the output: %s\n", strerror (errno));
        rc = 1;
    }
    free (cursor);
    ts_buf_free (&q.body);
    cq_client_close (&c);
    free (f);
    return rc;
}
