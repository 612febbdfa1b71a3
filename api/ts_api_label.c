/*  ts_api_label.c: the write op "label" (docs/PROTOCOL.md). Labels have one
 *  write path, the label import (docs/DESIGN.md, "Labels"): the api turns
 *  the request into label lines and runs trajstore-producer --labels AUTHOR
 *  on them, exactly as `trajstore label ID K=V` does. So a label the reply
 *  reports is committed, a retry writes nothing twice (setting a label to
 *  the value it has is a duplicate), and a kill anywhere loses or doubles
 *  nothing. The producer runs beside the loop: its stdout (the JSON report)
 *  is polled with the sockets, and the reply goes out when it ends.
 *
 *  Without an id, `"where": true` labels every record the request's
 *  listing filters match: the api runs `trajstore label --where --request`
 *  on the request instead (it pages the matching ids from this api in id
 *  order and feeds them to the same producer run, as the CLI's --where
 *  does), and answers the count.
 */
#include "ts_api_int.h"
#include "ts_build.h"
#include "ts_error.h"
#include "ts_groups.h"
#include "ts_json_out.h"
#include "ts_labels.h"
#include "ts_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_LABEL_MAX     256          /* labels set or removed by one request */
#define S_LABEL_TIMEOUT 30           /* the producer's --timeout, seconds */

/*  Appends one label line; `value` NULL removes. */
static int
s_line (ts_buf_t *b, const char *id, uint32_t id_len, const char *key, uint32_t key_len,
        const char *value, uint32_t value_len)
{
    if (ts_buf_append (b, "{\"id\":", 6) || ts_json_escape (b, id, id_len)
    ||  ts_buf_append (b, ",\"key\":", 7) || ts_json_escape (b, key, key_len)
    ||  ts_buf_append (b, ",\"value\":", 9)
    ||  (value ? ts_json_escape (b, value, value_len) : ts_buf_append (b, "null", 4))
    ||  ts_buf_append (b, "}\n", 2))
        return TS_ENOMEM;
    return 0;
}

/*  Checks one label and appends its line (`where`: checks only, the
 *  lines are written per match by `trajstore label --where`, which splits
 *  KEY=VALUE at the first '='). 0, or TS_EBADREQ with `err` naming the
 *  field. */
static int
s_add (ts_buf_t *b, const char *field, const ts_label_t *l, bool where, char *err,
       size_t err_size)
{
    char why [200];
    if (ts_label_check (l, why, sizeof why)) {
        snprintf (err, err_size, "field \"%s\": %s", field, why);
        return TS_EBADREQ;
    }
    if (where && memchr (l->key, '=', l->key_len)) {
        snprintf (err, err_size, "field \"%s\": a key with '=' is set by id only, not with "
                  "\"where\"", field);
        return TS_EBADREQ;
    }
    return where ? 0 : s_line (b, l->id, l->id_len, l->key, l->key_len, l->value, l->value_len);
}

/*  "where": the listing's filters are valid, and nothing pages it. */
static int
s_where_check (const ts_hdrin_t *in, char *err, size_t err_size)
{
    static const char *const paging [] = { "sort", "limit", "cursor", "fields" };
    ts_mp_reader_t rd;
    for (size_t i = 0; i < sizeof paging / sizeof paging [0]; i++)
        if (ts_hdr_find (in, paging [i], &rd)) {
            snprintf (err, err_size, "field \"%s\": a label with \"where\" applies to every "
                      "record the filters match (no sort, limit, cursor or fields)", paging [i]);
            return TS_EBADREQ;
        }
    ts_listing_t *lst = malloc (sizeof *lst);
    if (!lst)
        return TS_ENOMEM;
    int rc = ts_listing_parse (lst, in->data, in->len, 1, 0, err, err_size);
    free (lst);
    return rc;
}

/*  Reads the request's fields into label lines in `b` (with "where":
 *  checks them, `b` stays empty); *n counts them. */
static int
s_lines (const s_req_t *r, ts_buf_t *b, int *n, ts_label_t *l, bool *where, char *err,
         size_t err_size)
{
    ts_hdrin_t in = { 0 };
    in.data = (const char *) zframe_data (r->request);
    in.len = zframe_size (r->request);
    ts_mp_reader_t rd;
    ts_mp_item_t it;
    memset (l, 0, sizeof *l);
    l->id = ts_hdr_get_str (&in, "id", &l->id_len);
    *where = false;
    if (ts_hdr_find (&in, "where", &rd)) {
        if (ts_mp_next (&rd, &it) || it.type != TS_MP_BOOL || !it.b || l->id) {
            snprintf (err, err_size, "field \"where\": want true, and no \"id\" (it labels "
                      "every record the listing filters match)");
            return TS_EBADREQ;
        }
        *where = true;
        l->id = "x";                    /* each match's, in the lines */
        l->id_len = 1;
        int rc = s_where_check (&in, err, err_size);
        if (rc)
            return rc;
    }
    if (!l->id || l->id_len == 0 || l->id_len > TS_ID_MAX_BYTES) {
        snprintf (err, err_size, "field \"id\": want the record's id (a non-empty string of at "
                  "most %d bytes), or \"where\": true with listing filters to label every "
                  "record they match", TS_ID_MAX_BYTES);
        return TS_EBADREQ;
    }
    l->author = "api";
    l->author_len = 3;
    if (ts_hdr_find (&in, "author", &rd)) {
        if (ts_mp_next (&rd, &it) || it.type != TS_MP_STR || it.len == 0) {
            snprintf (err, err_size, "field \"author\": want a non-empty string");
            return TS_EBADREQ;
        }
        l->author = it.ptr;
        l->author_len = it.len;
    }
    *n = 0;
    int rc;
    if (ts_hdr_find (&in, "set", &rd)) {
        uint32_t pairs;
        if (ts_mp_read_map (&rd, &pairs)) {
            snprintf (err, err_size, "field \"set\": want a map {key: value} of strings");
            return TS_EBADREQ;
        }
        for (uint32_t i = 0; i < pairs; i++, (*n)++) {
            if (*n == S_LABEL_MAX) {
                snprintf (err, err_size, "field \"set\": at most %d labels a request", S_LABEL_MAX);
                return TS_EBADREQ;
            }
            if (ts_mp_read_str (&rd, &l->key, &l->key_len)
            ||  ts_mp_read_str (&rd, &l->value, &l->value_len)) {
                snprintf (err, err_size, "field \"set\": want a map {key: value} of strings "
                          "(entry %u is not)", i + 1);
                return TS_EBADREQ;
            }
            if ((rc = s_add (b, "set", l, *where, err, err_size)))
                return rc;
        }
    }
    if (ts_hdr_find (&in, "remove", &rd)) {
        uint32_t keys;
        if (ts_mp_read_array (&rd, &keys)) {
            snprintf (err, err_size, "field \"remove\": want an array of label keys");
            return TS_EBADREQ;
        }
        for (uint32_t i = 0; i < keys; i++, (*n)++) {
            if (*n == S_LABEL_MAX) {
                snprintf (err, err_size, "field \"remove\": at most %d labels a request",
                          S_LABEL_MAX);
                return TS_EBADREQ;
            }
            if (ts_mp_read_str (&rd, &l->key, &l->key_len)) {
                snprintf (err, err_size, "field \"remove\": element %u is not a string", i + 1);
                return TS_EBADREQ;
            }
            l->value = NULL;
            l->value_len = 0;
            if ((rc = s_add (b, "remove", l, *where, err, err_size)))
                return rc;
        }
    }
    if (*n == 0) {
        snprintf (err, err_size, "fields \"set\" and \"remove\": want at least one label to set "
                  "or remove");
        return TS_EBADREQ;
    }
    return 0;
}

/*  Writes the lines to an unlinked temporary file: the producer's stdin.
 *  The fd, or -1 (errno). */
static int
s_input (const char *dir, const ts_buf_t *b)
{
    char path [TS_PATH_MAX];
    if (snprintf (path, sizeof path, "%s/label-XXXXXX", dir) >= (int) sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = mkstemp (path);
    if (fd < 0)
        return -1;
    unlink (path);
    const char *p = b->data;
    size_t left = b->size;
    while (left) {
        ssize_t w = write (fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close (fd);
            errno = e;
            return -1;
        }
        p += w;
        left -= (size_t) w;
    }
    if (lseek (fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close (fd);
        errno = e;
        return -1;
    }
    return fd;
}

void
api_label_start (ts_api_t *self, s_req_t *r)
{
    char err [600];
    ts_label_t l;
    int n = 0;
    bool where;
    self->tmp.size = 0;
    int rc = s_lines (r, &self->tmp, &n, &l, &where, err, sizeof err);
    if (rc) {
        api_finish_error (self, r, ts_errname (rc), rc == TS_ENOMEM ? "out of memory" : err);
        return;
    }
    if (self->nlabel_jobs == TS_API_LABEL_JOBS) {
        api_finish_error (self, r, ts_errname (TS_EBUSY), "too many label requests at once: "
                          "try again in a moment");
        return;
    }
    char producer [TS_PATH_MAX], author [TS_LABEL_AUTHOR_MAX + 1];
    if (where ? ts_build_find_binary ("trajstore", "tools", producer, sizeof producer)
              : ts_build_find_binary ("trajstore-producer", "producer", producer, sizeof producer)) {
        api_finish_error (self, r, ts_errname (TS_EUNAVAILABLE), where
                          ? "label: cannot find trajstore beside trajstore-api"
                          : "label: cannot find trajstore-producer beside trajstore-api");
        return;
    }
    memcpy (author, l.author, l.author_len);
    author [l.author_len] = 0;
    s_label_job_t *j = &self->label_jobs [self->nlabel_jobs];
    memset (j, 0, sizeof *j);
    char job [sizeof j->job];
    snprintf (job, sizeof job, "api-label-%d-%" PRIu64, (int) getpid (), r->rid);
    memcpy (j->job, job, sizeof job);
    snprintf (j->rejects, sizeof j->rejects, "%s/rejects/%s.tsv", self->data_dir, job);
    if (where) {
        /* the request itself is `trajstore label --where --request`'s input */
        self->tmp.size = 0;
        if (ts_buf_append (&self->tmp, zframe_data (r->request), zframe_size (r->request))) {
            api_finish_error (self, r, ts_errname (TS_ENOMEM), "out of memory");
            return;
        }
    }
    int in = s_input (self->data_dir, &self->tmp);
    int out [2] = { -1, -1 };
    if (in < 0 || pipe2 (out, O_CLOEXEC)) {
        snprintf (err, sizeof err, "label: cannot prepare the label import: %s", strerror (errno));
        if (in >= 0)
            close (in);
        api_finish_error (self, r, ts_errname (TS_EUNAVAILABLE), err);
        return;
    }
    char timeout [16];
    snprintf (timeout, sizeof timeout, "%d", S_LABEL_TIMEOUT);
    char *argv [] = { producer, "--data", self->data_dir, "--labels", author, "--json",
                      "--quiet", "--job", j->job, "--rejects", j->rejects, "--timeout", timeout,
                      "--", "-", NULL };
    char *argv_where [] = { producer, "label", "--data", self->data_dir, "--where", "--request",
                            "--json", "--quiet", "--job", j->job, "--rejects", j->rejects, NULL };
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (in, STDIN_FILENO);
        dup2 (out [1], STDOUT_FILENO);
        execv (producer, where ? argv_where : argv);
        fprintf (stderr, "trajstore-api: cannot run %s: %s\n", producer, strerror (errno));
        _exit (2);
    }
    int fork_errno = errno;
    close (in);
    close (out [1]);
    if (pid < 0) {
        close (out [0]);
        snprintf (err, sizeof err, "label: fork: %s", strerror (fork_errno));
        api_finish_error (self, r, ts_errname (TS_EUNAVAILABLE), err);
        return;
    }
    j->pid = pid;
    j->fd = out [0];
    j->rid = r->rid;
    j->labels = n;
    j->where = where;
    self->nlabel_jobs++;
    /* the producer gives up after S_LABEL_TIMEOUT s without an ack */
    r->deadline = api_now () + (S_LABEL_TIMEOUT + 15) * 1000;
    ts_debug ("label: job %s, %d label(s) of %s", j->job, n, where ? "every match" : "one record");
}

/*  A count from the producer's JSON report (ts_producer_report_print);
 *  false when it is not there. */
static bool
s_report_num (const char *report, const char *key, uint64_t *v)
{
    char pat [40];
    snprintf (pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr (report, pat);
    if (!p)
        return false;
    char *end;
    errno = 0;
    *v = strtoull (p + strlen (pat), &end, 10);
    return end != p + strlen (pat) && !errno;
}

/*  The reason of the first line of a rejects file (line TAB reason TAB
 *  bytes), into buf. */
static void
s_first_reject (const char *path, char *buf, size_t size)
{
    snprintf (buf, size, "the label was refused (see %s)", path);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char line [1024];
    if (fgets (line, sizeof line, f)) {
        char *a = strchr (line, '\t');
        char *b = a ? strchr (a + 1, '\t') : NULL;
        if (b)
            snprintf (buf, size, "%.*s", (int) (b - a - 1), a + 1);
    }
    fclose (f);
}

static void
s_label_end (ts_api_t *self, s_label_job_t *j)
{
    int status = 0;
    while (waitpid (j->pid, &status, 0) < 0 && errno == EINTR)
        ;
    close (j->fd);
    j->fd = -1;
    s_req_t *r = ts_map_get (self->reqs, &j->rid, sizeof j->rid);
    if (ts_buf_append (&j->out, "", 1))     /* NUL-terminates the report */
        j->out.size = 0;
    const char *report = j->out.size ? j->out.data : "";
    uint64_t lines = 0, imported = 0, duplicates = 0, rejected = 0;
    bool have = s_report_num (report, "lines", &lines)
             && s_report_num (report, "imported", &imported)
             && s_report_num (report, "duplicates", &duplicates)
             && s_report_num (report, "rejected", &rejected);
    int code = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
    char msg [700];
    if (!r)
        ts_warn ("label: job %s ended after its request was answered (exit %d)", j->job, code);
    else if (!have || code < 0 || code > 1 || (!j->where && lines < (uint64_t) j->labels)
             || (j->where && lines % (uint64_t) j->labels)) {
        snprintf (msg, sizeof msg, "label: the label import (job %s) did not complete (exit %d): "
                  "the labels reported stored by `labels` are committed; sending the same "
                  "request again is safe", j->job, code);
        ts_warn ("%s", msg);
        api_finish_error (self, r, ts_errname (TS_EUNAVAILABLE), msg);
    }
    else if (rejected) {
        s_first_reject (j->rejects, msg, sizeof msg);
        api_finish_error (self, r, ts_errname (strstr (msg, "no record") ? TS_ENOTFOUND
                                                                         : TS_EBADREQ), msg);
    }
    else {
        uint32_t id_len;
        ts_hdrin_t in = { 0 };
        in.data = (const char *) zframe_data (r->request);
        in.len = zframe_size (r->request);
        const char *id = ts_hdr_get_str (&in, "id", &id_len);
        api_out_begin (self, r, true);
        if (j->where) {
            api_out_key (self, "matched");
            msgpack_pack_uint64 (&self->pk, lines / (uint64_t) j->labels);
        }
        else {
            api_out_key (self, "id");
            ts_mp_pack_strn (&self->pk, id, id_len);
        }
        api_out_key (self, "changed");
        msgpack_pack_uint64 (&self->pk, imported);
        api_out_key (self, "unchanged");
        msgpack_pack_uint64 (&self->pk, duplicates);
        api_out_key (self, "job");
        ts_mp_pack_cstr (&self->pk, j->job);
        api_out_send (self, r->client, r->delim);
        ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
    }
    unlink (j->rejects);                    /* its reason is in the reply */
    ts_buf_free (&j->out);
    *j = self->label_jobs [--self->nlabel_jobs];
}

void
api_label_read (ts_api_t *self, int i)
{
    s_label_job_t *j = &self->label_jobs [i];
    char buf [4096];
    ssize_t got = read (j->fd, buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (got > 0 && j->out.size < 65536) {
        if (ts_buf_append (&j->out, buf, (size_t) got))
            j->out.size = 0;
        return;
    }
    if (got > 0)
        return;                             /* more than a report: ignored */
    s_label_end (self, j);
}

void
api_label_stop (ts_api_t *self)
{
    for (int i = 0; i < self->nlabel_jobs; i++) {
        s_label_job_t *j = &self->label_jobs [i];
        int status;
        while (waitpid (j->pid, &status, 0) < 0 && errno == EINTR)
            ;
        close (j->fd);
        ts_buf_free (&j->out);
    }
    self->nlabel_jobs = 0;
}

/* --- groups with label conditions ----------------------------------------- */

bool
api_groups_labelled (const s_req_t *r)
{
    ts_hdrin_t in = { 0 };
    in.data = (const char *) zframe_data (r->request);
    in.len = zframe_size (r->request);
    ts_mp_reader_t rd;
    return ts_hdr_find (&in, "label", &rd) || ts_hdr_find (&in, "no_label", &rd);
}

/*  Checks the page fields and the filters of a labelled "groups" and
 *  writes the filters alone into `out` (the workers' payload). 0, or -1
 *  when the request was answered with its error. */
int
api_groups_payload (ts_api_t *self, s_req_t *r, ts_buf_t *out)
{
    ts_hdrin_t in = { 0 };
    in.data = (const char *) zframe_data (r->request);
    in.len = zframe_size (r->request);
    ts_groups_page_t pg;
    char err [300];
    ts_listing_t *l = malloc (sizeof *l);
    int rc = l ? ts_groups_request (&in, &pg, err, sizeof err) : TS_ENOMEM;
    if (rc == 0)
        rc = ts_listing_filter_map (in.data, in.len, out);
    if (rc == 0)
        rc = ts_listing_parse (l, out->data, out->size, 1, 0, err, sizeof err);
    free (l);
    if (rc)
        api_finish_error (self, r, ts_errname (rc), rc == TS_ENOMEM ? "out of memory" : err);
    return rc ? -1 : 0;
}

/*  The workers' per-group totals ([[group, totals]...] each) merged, then
 *  sorted and paged as the aggregator's "groups" (ts_groups.h). */
void
api_finish_groups (ts_api_t *self, s_req_t *r)
{
    ts_hdrin_t in = { 0 };
    in.data = (const char *) zframe_data (r->request);
    in.len = zframe_size (r->request);
    ts_groups_page_t pg;
    char err [300];
    ts_map_t *merged = ts_map_new (free);
    int rc = merged ? ts_groups_request (&in, &pg, err, sizeof err) : TS_ENOMEM;
    for (int i = 0; i < r->nparts && rc == 0; i++) {
        ts_mp_reader_t rd;
        uint32_t n;
        ts_mp_reader_init (&rd, zframe_data (r->parts [i]), zframe_size (r->parts [i]));
        if (ts_mp_read_array (&rd, &n))
            rc = TS_ECORRUPT;
        for (uint32_t k = 0; k < n && rc == 0; k++) {
            uint32_t two, glen;
            const char *g;
            ts_totals_t t;
            size_t used;
            if (ts_mp_read_array (&rd, &two) || two != 2 || ts_mp_read_str (&rd, &g, &glen)
            ||  ts_totals_unpack (rd.p, (size_t) (rd.end - rd.p), &t, &used)) {
                rc = TS_ECORRUPT;
                break;
            }
            rd.p += used;
            ts_totals_t *cur = ts_map_get (merged, g ? g : "", glen);
            if (!cur) {
                if (!(cur = malloc (sizeof *cur)) || ts_map_put (merged, g ? g : "", glen, cur)) {
                    free (cur);
                    rc = TS_ENOMEM;
                    break;
                }
                ts_totals_init (cur);
            }
            ts_totals_merge (cur, &t);
        }
    }
    size_t n = merged ? ts_map_size (merged) : 0, total = 0;
    int64_t next = -1;
    ts_group_row_t *rows = rc == 0 ? malloc ((n ? n : 1) * sizeof *rows) : NULL;
    if (rc == 0 && !rows)
        rc = TS_ENOMEM;
    if (rc == 0) {
        size_t pos = 0, kl, i = 0;
        const void *k;
        void *v;
        while (ts_map_next (merged, &pos, &k, &kl, &v) && i < n)
            rows [i++] = (ts_group_row_t) { k, kl, v };
        ts_groups_sort (rows, i, pg.col);
        rc = ts_groups_pack_page (rows, i, &pg, &self->tmp, &total, &next);
    }
    if (rc == 0) {
        api_out_begin (self, r, true);
        api_out_key (self, "total");
        msgpack_pack_uint64 (&self->pk, total);
        api_out_key (self, "next");
        if (next >= 0) msgpack_pack_int64 (&self->pk, next); else msgpack_pack_nil (&self->pk);
        api_out_key (self, "groups");
        ts_buf_append (&self->out, self->tmp.data, self->tmp.size);
        api_out_send (self, r->client, r->delim);
        ts_map_delete (self->reqs, &r->rid, sizeof r->rid);
    }
    else
        api_finish_error (self, r, ts_errname (rc), rc == TS_EBADREQ ? err
                          : rc == TS_ENOMEM ? "out of memory" : "a worker's groups do not decode");
    free (rows);
    ts_map_destroy (&merged);
}
