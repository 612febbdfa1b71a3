/*  ts_agg_query.c: the query socket: status, stats, job and the sorted,
 *  paged per-group statistics (parts: ts_agg_int.h).
 */
#include "ts_agg_int.h"
#include "ts_groups.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_mp.h"
#include "ts_proto.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- queries ---------------------------------------------------------------- */

/*  Starts a reply to the current query: echoes its "rid" when it had one,
 *  so a client with many queries in flight can match the answers. */
void
agg_reply_begin (ts_agg_t *self, ts_msg_t type, uint32_t nfields)
{
    ts_hdr_begin (&self->hdr, type, nfields + (self->has_rid ? 1 : 0));
    if (self->has_rid)
        ts_hdr_uint (&self->hdr, "rid", self->rid);
}

void
agg_reply_error (ts_agg_t *self, zframe_t *to, const char *code, const char *message)
{
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_ERROR, 2);
    ts_hdr_bool (h, "ok", false);
    ts_hdr_key (h, "error");
    msgpack_pack_map (&h->pk, 2);
    ts_mp_pack_cstr (&h->pk, "code");
    ts_mp_pack_cstr (&h->pk, code);
    ts_mp_pack_cstr (&h->pk, "message");
    ts_mp_pack_cstr (&h->pk, message);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

static void
s_pack_job (msgpack_packer *pk, const s_job_t *j)
{
    const char *state = j->error [0] ? "failed" : j->finished ? "done" : "running";
    msgpack_pack_map (pk, 15);
    ts_mp_pack_cstr (pk, "job");          ts_mp_pack_cstr (pk, j->job);
    ts_mp_pack_cstr (pk, "src");          ts_mp_pack_cstr (pk, j->src);
    ts_mp_pack_cstr (pk, "state");        ts_mp_pack_cstr (pk, state);
    ts_mp_pack_cstr (pk, "lines");        msgpack_pack_uint64 (pk, j->lines);
    ts_mp_pack_cstr (pk, "imported");     msgpack_pack_uint64 (pk, j->imported);
    ts_mp_pack_cstr (pk, "duplicates");   msgpack_pack_uint64 (pk, j->duplicates);
    ts_mp_pack_cstr (pk, "rejected");     msgpack_pack_uint64 (pk, j->rejected);
    ts_mp_pack_cstr (pk, "blank");        msgpack_pack_uint64 (pk, j->blank);
    ts_mp_pack_cstr (pk, "bytes");        msgpack_pack_uint64 (pk, j->bytes);
    ts_mp_pack_cstr (pk, "chunks_acked"); msgpack_pack_uint64 (pk, j->chunks_acked);
    ts_mp_pack_cstr (pk, "chunks");       msgpack_pack_uint64 (pk, j->total_chunks);
    ts_mp_pack_cstr (pk, "started_ms");   msgpack_pack_int64 (pk, j->started);
    ts_mp_pack_cstr (pk, "updated_ms");   msgpack_pack_int64 (pk, j->updated);
    ts_mp_pack_cstr (pk, "finished_ms");
    if (j->finished) msgpack_pack_int64 (pk, j->finished); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "error");
    if (j->error [0]) ts_mp_pack_cstr (pk, j->error); else msgpack_pack_nil (pk);
}

static void
s_reply_status (ts_agg_t *self, zframe_t *to)
{
    ts_hdr_t *h = &self->hdr;
    int nworkers = 0;
    for (int i = 0; i < TS_MAX_WORKERS; i++)
        nworkers += self->workers [i].used;
    agg_reply_begin (self, TS_MSG_STATUS, 9);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_uint (h, "nshards", self->nshards);
    ts_hdr_uint (h, "incarnation", self->incarnation);
    ts_hdr_int (h, "uptime_ms", agg_now () - self->started);
    ts_hdr_bool (h, "stats_complete", self->unsynced == 0);
    ts_hdr_uint (h, "queued_chunks", ts_map_size (self->chunks));
    ts_hdr_key (h, "workers");
    msgpack_pack_array (&h->pk, nworkers);
    int64_t now = agg_now ();
    for (int i = 0; i < TS_MAX_WORKERS; i++) {
        s_worker_t *w = &self->workers [i];
        if (!w->used)
            continue;
        int owned = 0;
        for (unsigned s = 0; s < self->nshards; s++)
            owned += self->owners [s] == i;
        msgpack_pack_map (&h->pk, 9);
        ts_mp_pack_cstr (&h->pk, "name");   ts_mp_pack_cstr (&h->pk, w->name);
        ts_mp_pack_cstr (&h->pk, "peer");   ts_mp_pack_cstr (&h->pk, w->peer);
        ts_mp_pack_cstr (&h->pk, "pid");    msgpack_pack_int64 (&h->pk, w->pid);
        ts_mp_pack_cstr (&h->pk, "alive");  w->alive ? msgpack_pack_true (&h->pk) : msgpack_pack_false (&h->pk);
        ts_mp_pack_cstr (&h->pk, "shards");
        msgpack_pack_array (&h->pk, owned);
        for (unsigned s = 0; s < self->nshards; s++)
            if (self->owners [s] == i)
                msgpack_pack_uint32 (&h->pk, s);
        ts_mp_pack_cstr (&h->pk, "last_seen_ms_ago"); msgpack_pack_int64 (&h->pk, now - w->last_seen);
        ts_mp_pack_cstr (&h->pk, "chunks_done"); msgpack_pack_uint64 (&h->pk, w->chunks_done);
        ts_mp_pack_cstr (&h->pk, "queued");  msgpack_pack_int (&h->pk, w->queued);
        ts_mp_pack_cstr (&h->pk, "error");
        if (w->error [0]) ts_mp_pack_cstr (&h->pk, w->error); else msgpack_pack_nil (&h->pk);
    }
    ts_hdr_key (h, "jobs");
    msgpack_pack_array (&h->pk, ts_map_size (self->jobs));
    size_t pos = 0;
    void *v;
    while (ts_map_next (self->jobs, &pos, NULL, NULL, &v))
        s_pack_job (&h->pk, v);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

/*  Packs {model: totals} of one run: the entries of self->run_models
 *  named "run\0model". */
static void
s_pack_run_models (ts_agg_t *self, msgpack_packer *pk, const char *run, size_t run_len)
{
    size_t n = 0, pos = 0, kl;
    const void *k;
    void *v;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            msgpack_pack_map (pk, n);
        pos = 0;
        while (ts_map_next (self->run_models, &pos, &k, &kl, &v)) {
            const char *key = k;
            if (kl <= run_len || key [run_len] != 0 || memcmp (key, run, run_len))
                continue;
            if (pass == 0)
                n++;
            else {
                ts_mp_pack_strn (pk, key + run_len + 1, kl - run_len - 1);
                ts_totals_pack_map (pk, v);
            }
        }
    }
}

/*  Sums a run's whole totals into `t`: its self->run_models entries, those
 *  of its models ("run\0model") and of its records without one ("run"). */
static void
s_run_whole_totals (ts_agg_t *self, const char *run, size_t run_len, ts_totals_t *t)
{
    size_t pos = 0, kl;
    const void *k;
    void *v;
    while (ts_map_next (self->run_models, &pos, &k, &kl, &v)) {
        const char *key = k;
        if (kl >= run_len && (kl == run_len || key [run_len] == 0) && !memcmp (key, run, run_len))
            ts_totals_merge (t, v);
    }
}

/*  "stats"; with "run": that run's totals, groups and models (its totals
 *  per model, from the deltas' run-model part, whose entries sum to the
 *  run's whole totals: reward std, min, max and histogram as the store's;
 *  the runs part's counts stand when a shard of an older build left the
 *  sum short). */
static void
s_reply_stats (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in)
{
    ts_totals_t all;
    ts_totals_init (&all);
    uint32_t run_len = 0;
    const char *run = ts_hdr_get_str (in, "run", &run_len);
    size_t groups = ts_map_size (self->groups);
    if (run) {
        agg_run_row_t *rr;
        ssize_t m = agg_run_rows (self, run, run_len, &rr);
        if (m < 0) {
            agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
            return;
        }
        groups = 0;
        for (ssize_t i = 0; i < m; i++) {
            ts_totals_merge (&all, rr [i].t);
            groups += rr [i].group != NULL;
        }
        free (rr);
        ts_totals_t whole;
        ts_totals_init (&whole);
        s_run_whole_totals (self, run, run_len, &whole);
        if (whole.count == all.count && whole.successes == all.successes
        &&  whole.reward_n == all.reward_n)
            all = whole;
    }
    else
        for (unsigned s = 0; s < self->nshards; s++)
            ts_totals_merge (&all, &self->shard_totals [s]);
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_STATS, 5);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "groups", groups);
    ts_hdr_uint (h, "epoch", self->epoch);
    ts_hdr_key (h, "totals");
    ts_totals_pack_map (&h->pk, &all);
    ts_hdr_key (h, "models");
    if (run)
        s_pack_run_models (self, &h->pk, run, run_len);
    else {
        msgpack_pack_map (&h->pk, ts_map_size (self->models));
        size_t pos = 0;
        const void *k;
        size_t kl;
        void *v;
        while (ts_map_next (self->models, &pos, &k, &kl, &v)) {
            ts_mp_pack_strn (&h->pk, k, kl);
            ts_totals_pack_map (&h->pk, v);
        }
    }
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}


/* --- per-group statistics ------------------------------------------------ */

/*  Sorts the groups by column `col` (cached until the statistics change),
 *  selects a page and packs its rows into self->page_rows, with the page's
 *  total and next offset. 0, or -1 when out of memory. */
static int
s_pack_groups_page (ts_agg_t *self, const ts_groups_page_t *pg, const char *run, size_t run_len)
{
    ts_group_row_t *run_rows = NULL;
    size_t n = ts_map_size (self->groups);
    int col = pg->col;
    if (run) {
        /* one run's groups: its totals per group, sorted for this answer */
        agg_run_row_t *rr;
        ssize_t m = agg_run_rows (self, run, run_len, &rr);
        run_rows = m < 0 ? NULL : malloc (((size_t) m + 1) * sizeof *run_rows);
        if (!run_rows) {
            free (m < 0 ? NULL : rr);
            return -1;
        }
        n = 0;
        for (ssize_t i = 0; i < m; i++)
            if (rr [i].group)
                run_rows [n++] = (ts_group_row_t) { rr [i].group, rr [i].group_len, rr [i].t };
        free (rr);
        ts_groups_sort (run_rows, n, col);
    }
    /* the sorted order, rebuilt only when the statistics changed */
    else if (!self->group_sorted || self->group_sorted_version != self->stats_version
    ||  self->group_sorted_col != col || self->group_sorted_n != n) {
        ts_group_row_t *rows = malloc ((n ? n : 1) * sizeof *rows);
        if (!rows)
            return -1;
        size_t pos = 0, i = 0;
        const void *k;
        size_t kl;
        void *v;
        while (ts_map_next (self->groups, &pos, &k, &kl, &v) && i < n) {
            rows [i].name = k;
            rows [i].len = kl;
            rows [i].t = v;
            i++;
        }
        ts_groups_sort (rows, i, col);
        free (self->group_sorted);
        self->group_sorted = (void **) rows;
        self->group_sorted_n = i;
        self->group_sorted_col = col;
        self->group_sorted_version = self->stats_version;
    }
    ts_group_row_t *rows = run ? run_rows : (ts_group_row_t *) self->group_sorted;
    if (!run)
        n = self->group_sorted_n;
    size_t total;
    int64_t next;
    int rc = ts_groups_pack_page (rows, n, pg, &self->page_rows, &total, &next);
    free (run_rows);
    /* a run's page is not kept: the cache is keyed without runs */
    self->page_valid = rc == 0 && self->page_rows.size > 0 && !run;
    self->page_version = self->stats_version;
    self->page_col = col;
    self->page_desc = pg->desc;
    self->page_only = pg->only;
    self->page_offset = pg->offset;
    self->page_limit = pg->limit;
    self->page_total = total;
    self->page_next = next;
    return rc == 0 && self->page_rows.size > 0 ? 0 : -1;
}

/*  Orders the groups by name and packs the default page (the first 100)
 *  once the statistics are complete after a start: a dashboard's first
 *  "groups" then finds the order made (10,000 groups: sorting them was
 *  most of the first answer's time in the aggregator) and its page packed. */
void
agg_groups_warm (ts_agg_t *self)
{
    int64_t t0 = agg_now ();
    ts_groups_page_t pg = { .col = 0, .desc = false, .only = 0, .limit = 100, .offset = 0 };
    if (s_pack_groups_page (self, &pg, NULL, 0) == 0)
        ts_info ("groups ordered: %zu in %" PRId64 " ms", self->group_sorted_n, agg_now () - t0);
}

/*  "groups": per group records, successes, success rate, mean and max
 *  reward, pass@1/5/10; "only": "pass" | "fail" | "mixed"; "sort": a
 *  column, '-' for descending; "limit" (default 100, at most 10000) and
 *  "offset" to page. Sorting is cached until the statistics change. */
static void
s_reply_groups (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in)
{
    ts_groups_page_t pg;
    char err [200];
    if (ts_groups_request (in, &pg, err, sizeof err)) {
        agg_reply_error (self, to, ts_errname (TS_EBADREQ), err);
        return;
    }
    uint32_t run_len = 0;
    const char *run = ts_hdr_get_str (in, "run", &run_len);
    if (run || !self->page_valid || self->page_version != self->stats_version
    ||  self->page_col != pg.col || self->page_desc != pg.desc || self->page_only != pg.only
    ||  self->page_offset != pg.offset || self->page_limit != pg.limit) {
        if (s_pack_groups_page (self, &pg, run, run_len)) {
            agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
            return;
        }
    }
    /* the rows travel as a second frame: the api appends them to its
     * reply as the value of "groups" without walking them */
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_GROUPS, 4);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_uint (h, "total", self->page_total);
    ts_hdr_key (h, "next");
    if (self->page_next >= 0)
        msgpack_pack_uint64 (&h->pk, (uint64_t) self->page_next);
    else
        msgpack_pack_nil (&h->pk);
    ts_hdr_str (h, "body", "groups");
    ts_hdr_send (h, zsock_resolve (self->query), to, self->page_rows.data, self->page_rows.size);
}

/*  Answers one query; returns false when it must wait for the statistics. */
static bool
s_answer (ts_agg_t *self, zmsg_t *msg)
{
    zframe_t *from = zmsg_first (msg);
    zframe_t *head = zmsg_next (msg);
    ts_hdrin_t in;
    if (!from)
        return true;
    if (!head) {
        agg_reply_error (self, from, ts_errname (TS_EBADREQ), "empty request");
        return true;
    }
    int rc = ts_hdr_parse (&in, zframe_data (head), zframe_size (head));
    self->has_rid = false;
    if (rc != TS_EPROTO) {
        ts_mp_reader_t rr;
        self->has_rid = ts_hdr_find (&in, "rid", &rr) && ts_mp_read_uint (&rr, &self->rid) == 0;
    }
    if (rc == TS_EVERSION) {
        agg_reply_error (self, from, ts_errname (TS_EVERSION), "unsupported protocol version (want \"v\": 1)");
        return true;
    }
    if (rc) {
        agg_reply_error (self, from, ts_errname (TS_EBADREQ), "request is not a msgpack map with \"v\" and \"t\"");
        return true;
    }
    if (in.msg == TS_MSG_STATUS)
        s_reply_status (self, from);
    else if (in.msg == TS_MSG_MAP && ts_wire_mapreq_decode (&in, &(ts_wire_mapreq_t) { 0 }) == 0)
        agg_reply_map (self, from);
    else if (in.msg == TS_MSG_STATS) {
        if (self->unsynced > 0)
            return false;
        s_reply_stats (self, from, &in);
    }
    else if (in.msg == TS_MSG_GROUPS) {
        if (self->unsynced > 0)
            return false;
        s_reply_groups (self, from, &in);
    }
    else if (in.msg == TS_MSG_RUNS || in.msg == TS_MSG_COMPARE) {
        if (self->unsynced > 0)
            return false;
        if (in.msg == TS_MSG_RUNS)
            agg_reply_runs (self, from);
        else
            agg_reply_compare (self, from, &in);
    }
    else if (in.msg == TS_MSG_DROPPED) {
        /* the api dropped a run: its files and times go too (nothing is
         * answered: the api has answered its client) */
        ts_wire_dropped_t m;
        if (ts_wire_dropped_decode (&in, &m))
            self->dropped++;
        else
            agg_runs_forget (self, m.run.ptr, (uint32_t) m.run.len);
    }
    else if (in.msg == TS_MSG_JOB) {
        char job [TS_JOB_MAX];
        s_job_t *j = ts_hdr_copy_str (&in, "job", job, sizeof job) ? agg_job (self, job, false) : NULL;
        if (!j)
            agg_reply_error (self, from, ts_errname (TS_ENOTFOUND), "no such job");
        else {
            agg_reply_begin (self, TS_MSG_JOB, 2);
            ts_hdr_bool (&self->hdr, "ok", true);
            ts_hdr_key (&self->hdr, "job");
            s_pack_job (&self->hdr.pk, j);
            ts_hdr_send (&self->hdr, zsock_resolve (self->query), from, NULL, 0);
        }
    }
    else {
        char m [96];
        snprintf (m, sizeof m, "unknown request type \"%s\"", in.type);
        agg_reply_error (self, from, ts_errname (TS_EUNKNOWNOP), m);
    }
    return true;
}

void
agg_on_query (ts_agg_t *self)
{
    zmsg_t *msg = zmsg_recv (self->query);
    if (!msg)
        return;
    if (s_answer (self, msg)) {
        zmsg_destroy (&msg);
        return;
    }
    s_held_query_t *q = calloc (1, sizeof *q);
    if (!q) {
        zmsg_destroy (&msg);
        return;
    }
    q->msg = msg;
    q->since = agg_now ();
    q->next = self->held_queries;
    self->held_queries = q;
}

void
agg_retry_queries (ts_agg_t *self)
{
    s_held_query_t **pp = &self->held_queries;
    int64_t now = agg_now ();
    while (*pp) {
        s_held_query_t *q = *pp;
        bool done = s_answer (self, q->msg);
        if (!done && now - q->since > 5000) {
            agg_reply_error (self, zmsg_first (q->msg), ts_errname (TS_EUNAVAILABLE),
                           "statistics are being rebuilt from the shards; retry shortly");
            done = true;
        }
        if (done) {
            *pp = q->next;
            zmsg_destroy (&q->msg);
            free (q);
        }
        else
            pp = &q->next;
    }
}
