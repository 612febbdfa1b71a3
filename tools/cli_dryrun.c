/*  cli_dryrun.c: `trajstore import --dry-run FILE`: reads the first
 *  records of FILE (lines of a JSONL dump; records of a JSON document, and
 *  after --join), shows how the first few map under the chosen profile
 *  (id, group, run, model, success, reward, created, steps, and each
 *  field's warning), and scores every built-in profile by the fields it
 *  finds in them, to say which fits the file best. Needs no stack and
 *  stores nothing.
 */
#include "cli_common.h"
#include "cli_docin.h"
#include "ts_error.h"
#include "ts_input.h"
#include "ts_json_out.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SAMPLE  20        /* records scored */
#define S_SHOWN   5         /* records shown */
#define S_FIELDS  7

typedef struct {
    ts_buf_t rec [S_SAMPLE];
    int      n;
} s_sample_t;

static int
s_keep (void *arg, const char *rec, size_t len, const ts_jsondoc_member_t *m, int n)
{
    (void) m; (void) n;
    s_sample_t *s = arg;
    if (s->n == S_SAMPLE)
        return 0;
    ts_buf_t *b = &s->rec [s->n++];
    if (ts_buf_reserve (b, len + TS_PARSE_PADDING))
        return TS_ENOMEM;
    memcpy (b->data, rec, len);
    memset (b->data + len, ' ', TS_PARSE_PADDING);
    b->size = len;
    return 0;
}

/*  The first S_SAMPLE lines of a JSONL input (blank lines skipped, but
 *  counted: *lines gets each kept one's number). */
static int
s_read_lines (const char *path, s_sample_t *s, uint64_t *numbers)
{
    int err = 0;
    char emsg [512] = "";
    ts_input_t *in = ts_input_open (path, &err, emsg, sizeof emsg);
    if (!in) {
        fprintf (stderr, "trajstore import: %s\n", emsg [0] ? emsg : ts_strerror (err));
        return 2;
    }
    ts_buf_t line = { 0 };
    char buf [1 << 16];
    uint64_t number = 1;
    int rc = 0;
    for (;;) {
        ssize_t n = ts_input_read (in, buf, sizeof buf);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            fprintf (stderr, "trajstore import: %s: %s\n", path, ts_strerror ((int) n));
            rc = 2;
            break;
        }
        for (ssize_t i = 0; i <= n && s->n < S_SAMPLE; i++) {
            bool end = i == n;
            if (!end && buf [i] != '\n') {
                if (line.size < TS_LINE_MAX_DEFAULT)
                    ts_buf_append (&line, &buf [i], 1);
                continue;
            }
            if (end && (n > 0 || line.size == 0))
                break;                  /* a line goes on in the next read */
            if (!ts_line_is_blank (line.data ? line.data : "", line.size)) {
                numbers [s->n] = number;
                s_keep (s, line.data, line.size, NULL, 0);
            }
            line.size = 0;
            number++;
        }
        if (n == 0 || s->n == S_SAMPLE)
            break;
    }
    ts_buf_free (&line);
    ts_input_destroy (&in);
    return rc;
}

/*  The run a file's records belong to by default: its name without
 *  directory and .jsonl/.json/.traj/.gz/.zst suffixes. */
static void
s_default_run (const char *path, char *out, size_t size)
{
    const char *base = strrchr (path, '/');
    snprintf (out, size, "%s", strcmp (path, "-") ? (base ? base + 1 : path) : "(stdin: give --run)");
    static const char *const sfx [] = { ".gz", ".zst", ".jsonl", ".json", ".traj" };
    for (bool again = true; again; ) {
        again = false;
        for (size_t i = 0; i < sizeof sfx / sizeof sfx [0]; i++) {
            size_t l = strlen (out), k = strlen (sfx [i]);
            if (l > k && !strcmp (out + l - k, sfx [i])) {
                out [l - k] = 0;
                again = true;
            }
        }
    }
}

static void
s_iso (int64_t ms, char *out, size_t size)
{
    time_t t = (time_t) (ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    gmtime_r (&t, &tm);
    size_t n = strftime (out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (out + n, size - n, ".%03dZ", (int) (((ms % 1000) + 1000) % 1000));
}

/*  Which fields a parse found (bits in the order of S_FIELD_NAMES). */
static const char *const S_FIELD_NAMES [S_FIELDS] = {
    "id", "group", "model", "reward", "success", "created", "steps"
};

static int
s_found (const ts_parser_t *ps, const ts_summary_t *s, bool found [S_FIELDS])
{
    found [0] = ts_parser_id_found (ps);
    found [1] = s->group != NULL;
    found [2] = s->model != NULL;
    found [3] = s->has_reward;
    found [4] = s->success != TS_SUCCESS_UNKNOWN;
    found [5] = s->has_created;
    found [6] = s->has_steps;
    int n = 0;
    for (int i = 0; i < S_FIELDS; i++)
        n += found [i];
    return n;
}

/*  Parses record `line` of the sample with ps: 0 and *sum, or the reason. */
static int
s_parse (ts_parser_t *ps, ts_buf_t *rec, uint64_t line, ts_summary_t *sum, char *reason,
         size_t size)
{
    ts_buf_t out = { 0 };
    int rc = ts_parser_parse (ps, rec->data, rec->size, line, 0, &out, sum, reason, size);
    ts_buf_free (&out);
    if (rc && rc != TS_EBADLINE)
        snprintf (reason, size, "%s", ts_strerror (rc));
    return rc;
}

static void
s_show (ts_json_out_t *j, FILE *out, ts_parser_t *ps, ts_buf_t *rec, uint64_t line,
        const char *run)
{
    ts_summary_t s;
    char reason [512] = "", num [32], created [40] = "-";
    int rc = s_parse (ps, rec, line, &s, reason, sizeof reason);
    if (j) {
        ts_json_out_object_begin (j);
        ts_json_out_key (j, "line"); ts_json_out_uint (j, line);
    }
    if (rc) {
        if (j) { ts_json_out_key (j, "rejected"); ts_json_out_str (j, reason); }
        else fprintf (out, "  line %" PRIu64 ": REJECTED: %s\n", line, reason);
        if (j) ts_json_out_object_end (j);
        return;
    }
    if (s.has_created)
        s_iso (s.created_ms, created, sizeof created);
    if (s.has_reward)
        ts_format_double (s.reward, num);
    const char *success = s.success == TS_SUCCESS_UNKNOWN ? NULL : s.success ? "true" : "false";
    /* the id as it will be stored: the record's own, the run's line
     * (RUN[:FILE]:LINE, for an id that does not name one attempt), or a
     * hash of the record */
    ts_id_source_t from = ts_parser_id_source (ps);
    bool hashed = from == TS_ID_FROM_CONTENT;
    const char *id_from = hashed ? "hash" : from == TS_ID_FROM_LINE ? "line" : "profile";
    if (j) {
        ts_json_out_key (j, "id"); ts_json_out_strn (j, s.id, s.id_len);
        ts_json_out_key (j, "id_from"); ts_json_out_str (j, id_from);
        ts_json_out_key (j, "group");
        if (s.group) ts_json_out_strn (j, s.group, s.group_len); else ts_json_out_null (j);
        ts_json_out_key (j, "run"); ts_json_out_str (j, run);
        ts_json_out_key (j, "model");
        if (s.model) ts_json_out_strn (j, s.model, s.model_len); else ts_json_out_null (j);
        ts_json_out_key (j, "success");
        if (success) ts_json_out_bool (j, s.success); else ts_json_out_null (j);
        ts_json_out_key (j, "reward");
        if (s.has_reward) ts_json_out_double (j, s.reward); else ts_json_out_null (j);
        ts_json_out_key (j, "created");
        if (s.has_created) ts_json_out_str (j, created); else ts_json_out_null (j);
        ts_json_out_key (j, "steps");
        if (s.has_steps) ts_json_out_int (j, s.steps); else ts_json_out_null (j);
        ts_json_out_key (j, "warnings");
        ts_json_out_array_begin (j);
    }
    else
        fprintf (out, "  line %" PRIu64 ": id=%.*s%s group=%.*s run=%s model=%.*s success=%s "
                 "reward=%s created=%s steps=%" PRId64 "%s\n", line, (int) s.id_len, s.id,
                 hashed ? " (hash: no id in the record)"
                 : from == TS_ID_FROM_LINE ? " (the run's line: the record's id does not name one attempt)" : "",
                 s.group ? (int) s.group_len : 1, s.group ? s.group : "-", run,
                 s.model ? (int) s.model_len : 1, s.model ? s.model : "-",
                 success ? success : "-", s.has_reward ? num : "-", created,
                 s.has_steps ? s.steps : (int64_t) -1, s.has_steps ? "" : " (none)");
    const ts_parse_warning_t *w;
    int nw = ts_parser_warnings (ps, &w);
    for (int i = 0; i < nw; i++) {
        if (j) {
            char text [256];
            snprintf (text, sizeof text, "%s: %s", w [i].field, w [i].reason);
            ts_json_out_str (j, text);
        }
        else
            fprintf (out, "    warning: %s left unknown: %s\n", w [i].field, w [i].reason);
    }
    if (j) {
        ts_json_out_array_end (j);
        ts_json_out_object_end (j);
    }
}

int
ts_cli_import_dry_run (const char *file, const char *profile, bool strict, const char *run_flag,
                       const char *const *sets, int nsets, const char *ids,
                       struct cli_join *join, bool json)
{
    s_sample_t sample = { 0 };
    uint64_t numbers [S_SAMPLE], records = 0, matched = 0;
    bool doc = join || (strcmp (file, "-") && cli_docin_is_document (file));
    int rc = doc ? cli_docin_run (file, TS_LINE_MAX_DEFAULT, join, S_SAMPLE, s_keep, &sample,
                                  &records, &matched)
                 : s_read_lines (file, &sample, numbers);
    if (doc)
        for (int i = 0; i < S_SAMPLE; i++)
            numbers [i] = (uint64_t) i + 1;
    char base [4096], spec [4096], err [256] = "", run [256];
    snprintf (base, sizeof base, "%s%s", profile ? profile : "default", strict ? ",strict=1" : "");
    /* the spec the import would send (run, file, ids, set items): the ids
     * shown are then the ids the records would be stored under. Standard
     * input has no name: without --run, its run is shown as "stdin". */
    const char *r = run_flag ? run_flag : strcmp (file, "-") ? NULL : "stdin";
    ts_profile_t prof;
    if (rc == 0 && (ts_profile_import_spec (base, file, r, sets, nsets, ids, spec, sizeof spec,
                                            err, sizeof err)
                    || ts_profile_parse (spec, &prof, err, sizeof err))) {
        fprintf (stderr, "trajstore import: %s\n", err);
        rc = 2;
    }
    if (rc) {
        for (int i = 0; i < S_SAMPLE; i++)
            ts_buf_free (&sample.rec [i]);
        return 2;
    }
    if (r)
        snprintf (run, sizeof run, "%s", r);
    else
        s_default_run (file, run, sizeof run);
    ts_buf_t jbuf = { 0 };
    ts_json_out_t jo, *j = NULL;
    if (json) {
        ts_json_out_init (&jo, &jbuf);
        j = &jo;
        ts_json_out_object_begin (j);
        ts_json_out_key (j, "file"); ts_json_out_str (j, file);
        ts_json_out_key (j, "document"); ts_json_out_bool (j, doc);
        ts_json_out_key (j, "profile"); ts_json_out_str (j, spec);
        ts_json_out_key (j, "id_per_attempt"); ts_json_out_bool (j, ts_profile_id_per_attempt (&prof));
        ts_json_out_key (j, "records");
        ts_json_out_array_begin (j);
    }
    else
        printf ("%s: %d record%s read%s; profile %s (its id %s)\n", file, sample.n,
                sample.n == 1 ? "" : "s", doc ? " (records of a JSON document)" : "", spec,
                ts_profile_id_per_attempt (&prof) ? "names one attempt"
                                                  : "does not name one attempt: a run tells them apart");
    ts_parser_t *ps = ts_parser_new (&prof);
    for (int i = 0; ps && i < sample.n && i < S_SHOWN; i++)
        s_show (j, stdout, ps, &sample.rec [i], numbers [i], run);
    ts_parser_destroy (&ps);
    if (j) {
        ts_json_out_array_end (j);
        ts_json_out_key (j, "fit");
        ts_json_out_array_begin (j);
    }
    else
        printf ("profile fit (fields found per record, of %d):\n", S_FIELDS);

    /* every built-in profile on the whole sample */
    const char *best = NULL;
    double best_score = -1;
    for (int p = 0; ts_profile_names [p]; p++) {
        ts_profile_t bp;
        ts_profile_parse (ts_profile_names [p], &bp, NULL, 0);
        ts_parser_t *bps = ts_parser_new (&bp);
        int counts [S_FIELDS] = { 0 }, total = 0, rejected = 0;
        for (int i = 0; bps && i < sample.n; i++) {
            ts_summary_t s;
            char reason [256];
            bool found [S_FIELDS];
            if (s_parse (bps, &sample.rec [i], (uint64_t) i + 1, &s, reason, sizeof reason)) {
                rejected++;
                continue;
            }
            total += s_found (bps, &s, found);
            for (int f = 0; f < S_FIELDS; f++)
                counts [f] += found [f];
        }
        ts_parser_destroy (&bps);
        double score = sample.n ? (double) total / sample.n : 0;
        if (score > best_score) {
            best_score = score;
            best = ts_profile_names [p];
        }
        if (j) {
            ts_json_out_object_begin (j);
            ts_json_out_key (j, "profile"); ts_json_out_str (j, ts_profile_names [p]);
            ts_json_out_key (j, "score"); ts_json_out_double (j, score);
            ts_json_out_key (j, "rejected"); ts_json_out_int (j, rejected);
            ts_json_out_key (j, "found");
            ts_json_out_object_begin (j);
            for (int f = 0; f < S_FIELDS; f++) {
                ts_json_out_key (j, S_FIELD_NAMES [f]);
                ts_json_out_int (j, counts [f]);
            }
            ts_json_out_object_end (j);
            ts_json_out_object_end (j);
        }
        else {
            printf ("  %-11s %4.1f ", ts_profile_names [p], score);
            for (int f = 0; f < S_FIELDS; f++)
                if (counts [f])
                    printf (" %s%s", S_FIELD_NAMES [f], counts [f] < sample.n ? "(some)" : "");
            if (rejected)
                printf ("  (%d rejected)", rejected);
            printf ("\n");
        }
    }
    if (j) {
        ts_json_out_array_end (j);
        ts_json_out_key (j, "best"); ts_json_out_str (j, best ? best : "default");
        ts_json_out_object_end (j);
        fwrite (jbuf.data, 1, jbuf.size, stdout);
        fputc ('\n', stdout);
    }
    else
        printf ("best fit: %s (--profile %s); nothing was stored\n", best, best);
    ts_buf_free (&jbuf);
    for (int i = 0; i < S_SAMPLE; i++)
        ts_buf_free (&sample.rec [i]);
    return 0;
}
