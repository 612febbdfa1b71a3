/*  ts_check.c: shard consistency checker (ts_check.h). */
#include "ts_check.h"
#include "ts_labels.h"
#include "ts_search.h"
#include "ts_error.h"
#include "ts_key.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    ts_store_t *store;
    ts_check_report_t *rep;
    ts_buf_t val;
    ts_buf_t sum;               /* the record being checked (its summary first) */
    uint64_t expected [5];      /* G, M, W, T, A entries the records call for */
    /* running group/model recount */
    char  cur [TS_KEY_MAX];
    size_t cur_len;
    bool  have_cur;
    ts_totals_t cur_totals;
    bool  model;
    uint64_t seen;
} s_ctx_t;

static void
s_problem (s_ctx_t *c, const char *fmt, ...)
{
    if (c->rep->problems++ == 0) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (c->rep->first_problem, sizeof c->rep->first_problem, fmt, ap);
        va_end (ap);
    }
}

/*  The entry at `key` must exist and hold exactly `sum`. */
static int
s_expect_entry (s_ctx_t *c, const char *key, size_t klen, const char *sum, size_t slen,
                const char *what, const ts_summary_t *s)
{
    c->val.size = 0;
    int rc = ts_store_get_raw (c->store, key, klen, &c->val);
    if (rc == TS_ENOTFOUND) {
        s_problem (c, "record %.*s has no %s index entry", (int) s->id_len, s->id, what);
        return 0;
    }
    if (rc)
        return rc;
    if (c->val.size != slen || memcmp (c->val.data, sum, slen))
        s_problem (c, "record %.*s: %s index entry holds another summary", (int) s->id_len, s->id, what);
    return 0;
}

static int
s_visit_record (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_ctx_t *c = arg;
    ts_summary_t s;
    size_t slen;
    char k [TS_KEY_MAX];
    c->rep->records++;
    if (vlen != 8) {
        s_problem (c, "record entry %.*s does not hold a sequence", (int) (klen - 1), key + 1);
        return 0;
    }
    /* the record under that sequence: its summary is the one every index
     * entry of the record must hold */
    uint64_t seq = (uint64_t) ts_key_get_i64 (val);
    c->sum.size = 0;
    int rc = ts_store_get_raw (c->store, k, ts_key_data (k, seq), &c->sum);
    if (rc == TS_ENOTFOUND) {
        s_problem (c, "record %.*s points at sequence %llu, which holds nothing",
                   (int) (klen - 1), key + 1, (unsigned long long) seq);
        return 0;
    }
    if (rc)
        return rc;
    if (ts_summary_unpack_buf (c->sum.data, c->sum.size, &s, &slen)) {
        s_problem (c, "record %.*s: its data does not decode", (int) (klen - 1), key + 1);
        return 0;
    }
    if (s.id_len != klen - 1 || memcmp (s.id, key + 1, s.id_len))
        s_problem (c, "record key %.*s points at the record of id %.*s", (int) (klen - 1), key + 1,
                   (int) s.id_len, s.id);
    val = c->sum.data;
    ts_totals_add (&c->rep->totals, &s);
    rc = 0;
    if (s.group) {
        c->expected [0]++;
        rc = s_expect_entry (c, k, ts_key_group (k, s.group, s.group_len, seq), val, slen, "group", &s);
    }
    if (!rc && s.model) {
        c->expected [1]++;
        rc = s_expect_entry (c, k, ts_key_model (k, s.model, s.model_len, seq), val, slen, "model", &s);
    }
    if (!rc && s.has_reward) {
        c->expected [2]++;
        rc = s_expect_entry (c, k, ts_key_reward (k, s.reward, s.ingested_ms, s.id, s.id_len),
                             val, slen, "reward", &s);
    }
    if (!rc) {
        c->expected [3]++;
        rc = s_expect_entry (c, k, ts_key_time (k, ts_summary_time (&s), s.id, s.id_len), val, slen, "time", &s);
    }
    if (!rc && s.run) {
        c->expected [4]++;
        rc = s_expect_entry (c, k, ts_key_run (k, s.run, s.run_len, seq), "", 0, "run", &s);
    }
    return rc;
}

/*  Every stored record must be the one its id's entry points at: a record
 *  no id points at is an orphan. */
static int
s_visit_data (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_ctx_t *c = arg;
    ts_summary_t s;
    char k [TS_KEY_MAX];
    c->seen++;
    if (klen != 9 || ts_summary_unpack_buf (val, vlen, &s, NULL)) {
        s_problem (c, "a stored record does not decode");
        return 0;
    }
    c->val.size = 0;
    int rc = ts_store_get_raw (c->store, k, ts_key_record (k, s.id, s.id_len), &c->val);
    if (rc == TS_ENOTFOUND || (rc == 0 && (c->val.size != 8
        || memcmp (c->val.data, key + 1, 8))))
        s_problem (c, "the record stored at sequence %llu (id %.*s) is not the one its id points at",
                   (unsigned long long) ts_key_get_i64 (key + 1), (int) s.id_len, s.id);
    else if (rc)
        return rc;
    return 0;
}

static int
s_count (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    (void) key; (void) klen; (void) val; (void) vlen;
    ((s_ctx_t *) arg)->seen++;
    return 0;
}

/*  Compares the recount of the current group/model with its stored totals. */
static int
s_close_current (s_ctx_t *c)
{
    if (!c->have_cur)
        return 0;
    ts_totals_t stored;
    int rc = c->model ? ts_store_model_totals (c->store, c->cur, c->cur_len, &stored)
                      : ts_store_group_totals (c->store, c->cur, c->cur_len, &stored);
    if (rc == TS_ENOTFOUND)
        s_problem (c, "%s %.*s has records but no totals", c->model ? "model" : "group",
                   (int) c->cur_len, c->cur);
    else if (rc)
        return rc;
    else if (!ts_totals_equal (&stored, &c->cur_totals))
        s_problem (c, "%s %.*s: totals (count %llu) disagree with a recount (count %llu)",
                   c->model ? "model" : "group", (int) c->cur_len, c->cur,
                   (unsigned long long) stored.count, (unsigned long long) c->cur_totals.count);
    c->have_cur = false;
    return 0;
}

/*  A G or M entry must be filed under its summary's name and the sequence
 *  of a stored record that starts with that summary (the D walk has
 *  checked that each stored record is the one its id points at). */
static int
s_check_named_key (s_ctx_t *c, const char *key, size_t klen, const char *val, size_t vlen,
                   const ts_summary_t *s, const char *name, size_t nlen)
{
    const char *what = c->model ? "model" : "group";
    char k [TS_KEY_MAX];
    if (klen < 9) {
        s_problem (c, "%s index entry of %.*s has a key too short for a sequence", what,
                   (int) s->id_len, s->id);
        return 0;
    }
    uint64_t seq = (uint64_t) ts_key_get_i64 (key + klen - 8);
    size_t want = c->model ? ts_key_model (k, name, nlen, seq) : ts_key_group (k, name, nlen, seq);
    if (want != klen || memcmp (k, key, klen)) {
        s_problem (c, "%s index entry of %.*s (%s %.*s, sequence %llu) is filed under another %s",
                   what, (int) s->id_len, s->id, what, (int) nlen, name,
                   (unsigned long long) seq, what);
        return 0;
    }
    c->val.size = 0;
    int rc = ts_store_get_raw (c->store, k, ts_key_data (k, seq), &c->val);
    if (rc == TS_ENOTFOUND)
        s_problem (c, "%s %.*s index entry of %.*s points at sequence %llu, which holds nothing",
                   what, (int) nlen, name, (int) s->id_len, s->id, (unsigned long long) seq);
    else if (rc)
        return rc;
    else if (c->val.size < vlen || memcmp (c->val.data, val, vlen))
        s_problem (c, "%s %.*s index entry of %.*s points at sequence %llu, which holds another record",
                   what, (int) nlen, name, (int) s->id_len, s->id, (unsigned long long) seq);
    return 0;
}

/*  Walks a G or M range: entries arrive grouped by name, so one running
 *  recount suffices. Also checks each entry's key and record. */
static int
s_visit_named (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_ctx_t *c = arg;
    ts_summary_t s;
    c->seen++;
    if (ts_summary_unpack_buf (val, vlen, &s, NULL)) {
        s_problem (c, "an index entry does not decode");
        return 0;
    }
    const char *name = c->model ? s.model : s.group;
    size_t nlen = c->model ? s.model_len : s.group_len;
    if (!name) {
        s_problem (c, "%s index entry of %.*s has no %s", c->model ? "model" : "group",
                   (int) s.id_len, s.id, c->model ? "model" : "group");
        return 0;
    }
    int rc = s_check_named_key (c, key, klen, val, vlen, &s, name, nlen);
    if (rc)
        return rc;
    if (!c->have_cur || c->cur_len != nlen || memcmp (c->cur, name, nlen)) {
        rc = s_close_current (c);
        if (rc)
            return rc;
        memcpy (c->cur, name, nlen);
        c->cur_len = nlen;
        c->have_cur = true;
        ts_totals_init (&c->cur_totals);
        if (c->model) c->rep->models++; else c->rep->groups++;
    }
    ts_totals_add (&c->cur_totals, &s);
    return 0;
}

static int
s_scan_prefix (s_ctx_t *c, char tag, ts_store_visit_fn *fn)
{
    ts_scan_t sc = { .prefix = &tag, .prefix_len = 1 };
    return ts_store_scan (c->store, &sc, fn, c);
}

int
ts_check_store (ts_store_t *store, ts_check_report_t *rep)
{
    s_ctx_t c;
    memset (&c, 0, sizeof c);
    memset (rep, 0, sizeof *rep);
    ts_totals_init (&rep->totals);
    c.store = store;
    c.rep = rep;
    /* what waits for the indexes first: the scans below write it into
     * the tree (they settle), and then check it there */
    int rc = ts_store_check_pending (store, &rep->problems, rep->first_problem,
                                     sizeof rep->first_problem);
    if (!rc)
        rc = s_scan_prefix (&c, TS_TAG_RECORD, s_visit_record);
    if (!rc) {
        c.seen = 0;
        rc = s_scan_prefix (&c, TS_TAG_DATA, s_visit_data);
        if (!rc && c.seen != rep->records)
            s_problem (&c, "%llu records stored, %llu ids point at records",
                       (unsigned long long) c.seen, (unsigned long long) rep->records);
    }
    if (!rc)        /* the records file: the committed records back to back */
        rc = ts_store_check_records (store, &rep->problems, rep->first_problem,
                                     sizeof rep->first_problem);
    if (!rc)        /* the full-text index against the indexed records' text */
        rc = ts_search_check (store, &rep->problems, rep->first_problem,
                              sizeof rep->first_problem, &rep->postings, &rep->text_indexed);

    /* no orphans: each index holds exactly the entries the records call for */
    static const char tags [5] = { TS_TAG_GROUP, TS_TAG_MODEL, TS_TAG_REWARD, TS_TAG_TIME,
                                   TS_TAG_RUN };
    static const char *names [5] = { "group", "model", "reward", "time", "run" };
    for (int i = 0; i < 5 && !rc; i++) {
        c.seen = 0;
        c.have_cur = false;
        c.model = tags [i] == TS_TAG_MODEL;
        if (i < 2) {
            rc = s_scan_prefix (&c, tags [i], s_visit_named);
            if (!rc)
                rc = s_close_current (&c);
        }
        else
            rc = s_scan_prefix (&c, tags [i], s_count);
        rep->index_entries += c.seen;
        if (!rc && c.seen != c.expected [i])
            s_problem (&c, "%s index has %llu entries, the records call for %llu", names [i],
                       (unsigned long long) c.seen, (unsigned long long) c.expected [i]);
    }
    /* no totals without records */
    uint64_t groups = 0, models = 0;
    if (!rc) {
        c.seen = 0;
        rc = s_scan_prefix (&c, TS_TAG_GROUP_TOTALS, s_count);
        groups = c.seen;
    }
    if (!rc) {
        c.seen = 0;
        rc = s_scan_prefix (&c, TS_TAG_MODEL_TOTALS, s_count);
        models = c.seen;
    }
    if (!rc) {
        c.seen = 0;
        rc = s_scan_prefix (&c, TS_TAG_COMMIT, s_count);
        rep->batches = c.seen;
    }
    if (!rc && groups != rep->groups)
        s_problem (&c, "%llu group totals stored, %llu groups have records",
                   (unsigned long long) groups, (unsigned long long) rep->groups);
    if (!rc && models != rep->models)
        s_problem (&c, "%llu model totals stored, %llu models have records",
                   (unsigned long long) models, (unsigned long long) rep->models);
    if (!rc) {
        ts_totals_t stored;
        rc = ts_store_totals (store, &stored);
        if (!rc && !ts_totals_equal (&stored, &rep->totals))
            s_problem (&c, "shard totals (count %llu) disagree with a recount (count %llu)",
                       (unsigned long long) stored.count, (unsigned long long) rep->totals.count);
    }
    /* the label index against the label history (ts_labels.h) */
    if (!rc)
        rc = ts_store_labels_check (store, &rep->labels, &rep->problems, rep->first_problem,
                                    sizeof rep->first_problem);
    ts_buf_free (&c.val);
    ts_buf_free (&c.sum);
    if (rc)
        return rc;
    return rep->problems ? TS_EINCONSISTENT : 0;
}
