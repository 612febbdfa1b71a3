/*  ts_agg_runs.c: import runs (parts: ts_agg_int.h). A run's statistics are
 *  its totals in each group, merged from the shards' deltas like the
 *  groups' (self->runs, "run\0group"); what the totals cannot say (the
 *  files imported into it, its --set metadata, when it was first and last
 *  imported into) is noted from the first chunk of each import and kept in
 *  DATA/runs, rewritten whole (it is small: one entry a run).
 *
 *  "runs":    every run: records, groups, successes, success rate, mean
 *             reward, pass@1/5/10 averaged over its groups, files, set,
 *             first_ms, last_ms
 *  "compare": a, b: per group both sides and the difference, largest change
 *             first; both sides' summaries; the groups only one side has
 */
#include "ts_agg_int.h"
#include "ts_groups.h"
#include "ts_error.h"
#include "ts_log.h"
#include "ts_mp.h"
#include "ts_profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RUN_FILES_MAX 64      /* files named per run (more are counted) */

typedef struct {
    int64_t first_ms, last_ms;  /* wall clock */
    uint32_t nfiles, files_total;
    char    *files [S_RUN_FILES_MAX];
    int      nsets;
    ts_profile_set_t sets [TS_PROFILE_SETS];
} s_runmeta_t;

void
agg_runmeta_free (void *p)
{
    s_runmeta_t *m = p;
    if (!m)
        return;
    for (uint32_t i = 0; i < m->nfiles; i++)
        free (m->files [i]);
    free (m);
}

static void
s_meta_path (const ts_agg_t *self, char *path, size_t size)
{
    snprintf (path, size, "%s/runs", self->data_dir);
}

static int
s_meta_add_file (s_runmeta_t *m, const char *file, size_t len)
{
    for (uint32_t i = 0; i < m->nfiles; i++)
        if (strlen (m->files [i]) == len && !memcmp (m->files [i], file, len))
            return 0;
    m->files_total++;
    if (m->nfiles == S_RUN_FILES_MAX)
        return 0;
    char *copy = malloc (len + 1);
    if (!copy)
        return TS_ENOMEM;
    memcpy (copy, file, len);
    copy [len] = 0;
    m->files [m->nfiles++] = copy;
    return 0;
}

static void
s_meta_set (s_runmeta_t *m, const char *key, const char *value)
{
    int i = 0;
    while (i < m->nsets && strcmp (m->sets [i].key, key))
        i++;
    if (i == TS_PROFILE_SETS)
        return;
    snprintf (m->sets [i].key, sizeof m->sets [i].key, "%s", key);
    snprintf (m->sets [i].value, sizeof m->sets [i].value, "%s", value);
    if (i == m->nsets)
        m->nsets++;
}

static s_runmeta_t *
s_meta_get (ts_agg_t *self, const char *run, size_t len)
{
    s_runmeta_t *m = ts_map_get (self->run_meta, run, len);
    if (m)
        return m;
    m = calloc (1, sizeof *m);
    if (!m || ts_map_put (self->run_meta, run, len, m)) {
        free (m);
        return NULL;
    }
    return m;
}

/*  Writes DATA/runs: [[run, first_ms, last_ms, files_total, [file...],
 *  [[key, value]...]]...], through a temporary file and a rename. */
static void
s_meta_save (ts_agg_t *self)
{
    ts_buf_t b = { 0 };
    msgpack_packer pk;
    msgpack_packer_init (&pk, &b, ts_buf_packer_write);
    msgpack_pack_array (&pk, ts_map_size (self->run_meta));
    size_t pos = 0, kl;
    const void *k;
    void *v;
    while (ts_map_next (self->run_meta, &pos, &k, &kl, &v)) {
        const s_runmeta_t *m = v;
        msgpack_pack_array (&pk, 6);
        ts_mp_pack_strn (&pk, k, kl);
        msgpack_pack_int64 (&pk, m->first_ms);
        msgpack_pack_int64 (&pk, m->last_ms);
        msgpack_pack_uint32 (&pk, m->files_total);
        msgpack_pack_array (&pk, m->nfiles);
        for (uint32_t i = 0; i < m->nfiles; i++)
            ts_mp_pack_cstr (&pk, m->files [i]);
        msgpack_pack_array (&pk, (size_t) m->nsets);
        for (int i = 0; i < m->nsets; i++) {
            msgpack_pack_array (&pk, 2);
            ts_mp_pack_cstr (&pk, m->sets [i].key);
            ts_mp_pack_cstr (&pk, m->sets [i].value);
        }
    }
    char path [TS_PATH_MAX + 16], tmp [TS_PATH_MAX + 32];
    s_meta_path (self, path, sizeof path);
    snprintf (tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen (tmp, "w");
    bool ok = f && fwrite (b.data, 1, b.size, f) == b.size;
    ok = f && fclose (f) == 0 && ok;
    if (!ok || rename (tmp, path))
        ts_warn ("cannot write %s: the runs' files and times are kept in memory only", path);
    ts_buf_free (&b);
}

void
agg_runs_forget (ts_agg_t *self, const char *run, size_t len)
{
    if (ts_map_delete (self->run_meta, run, len))
        s_meta_save (self);
}

void
agg_runs_load (ts_agg_t *self)
{
    char path [TS_PATH_MAX + 16];
    s_meta_path (self, path, sizeof path);
    ts_buf_t b = { 0 };
    if (ts_buf_append_file (&b, path) && b.size == 0)
        return;                         /* none, or not readable: nothing to load */
    ts_mp_reader_t r;
    uint32_t nruns, six, nf, ns, two;
    ts_mp_reader_init (&r, b.data, b.size);
    bool bad = ts_mp_read_array (&r, &nruns) != 0;
    for (uint32_t i = 0; i < nruns && !bad; i++) {
        const char *run, *s1, *s2;
        uint32_t rl, l1, l2;
        ts_mp_item_t a, z, t;
        if (ts_mp_read_array (&r, &six) || six < 6 || ts_mp_read_str (&r, &run, &rl)
        ||  ts_mp_next (&r, &a) || ts_mp_next (&r, &z) || ts_mp_next (&r, &t)
        ||  ts_mp_read_array (&r, &nf)) {
            bad = true;
            break;
        }
        s_runmeta_t *m = s_meta_get (self, run ? run : "", rl);
        if (!m)
            break;
        m->first_ms = a.type == TS_MP_INT ? a.i : (int64_t) a.u;
        m->last_ms = z.type == TS_MP_INT ? z.i : (int64_t) z.u;
        for (uint32_t j = 0; j < nf && !bad; j++)
            bad = ts_mp_read_str (&r, &s1, &l1) || s_meta_add_file (m, s1 ? s1 : "", l1);
        m->files_total = (uint32_t) t.u > m->files_total ? (uint32_t) t.u : m->files_total;
        bad = bad || ts_mp_read_array (&r, &ns);
        for (uint32_t j = 0; j < ns && !bad; j++) {
            char key [TS_SET_KEY_MAX], val [TS_SET_VALUE_MAX];
            bad = ts_mp_read_array (&r, &two) || two != 2 || ts_mp_read_str (&r, &s1, &l1)
               || ts_mp_read_str (&r, &s2, &l2) || l1 >= sizeof key || l2 >= sizeof val;
            if (!bad) {
                memcpy (key, s1, l1);
                key [l1] = 0;
                memcpy (val, s2, l2);
                val [l2] = 0;
                s_meta_set (m, key, val);
            }
        }
    }
    if (bad)
        ts_warn ("%s does not decode: some runs' files and times are lost", path);
    ts_buf_free (&b);
}

void
agg_runs_note (ts_agg_t *self, const char *profile, const char *src)
{
    ts_profile_t *p = malloc (sizeof *p);
    char err [256];
    if (!p || ts_profile_parse (profile, p, err, sizeof err) || !p->run [0]) {
        free (p);
        return;             /* a chunk of no run: the workers say what is wrong */
    }
    s_runmeta_t *m = s_meta_get (self, p->run, strlen (p->run));
    if (m) {
        int64_t now = ts_now_ms ();
        if (!m->first_ms)
            m->first_ms = now;
        m->last_ms = now;
        /* a document the CLI converted arrives on stdin: its name is
         * the profile's file= when it shares its run (several .traj) */
        const char *f = !strcmp (src, "-") && p->file [0] ? p->file : src;
        s_meta_add_file (m, f, strlen (f));
        for (int i = 0; i < p->nsets; i++)
            s_meta_set (m, p->sets [i].key, p->sets [i].value);
        s_meta_save (self);
    }
    free (p);
}

/* --- a run's groups ---------------------------------------------------------- */

/*  The entries of self->runs whose run is `run`, or of every run (run
 *  NULL), sorted by run then group: *rows gets them (free it), the count
 *  comes back (or -1 when out of memory). */
ssize_t
agg_run_rows (ts_agg_t *self, const char *run, size_t rlen, agg_run_row_t **rows)
{
    size_t cap = ts_map_size (self->runs), n = 0, pos = 0, kl;
    const void *k;
    void *v;
    *rows = malloc ((cap ? cap : 1) * sizeof **rows);
    if (!*rows)
        return -1;
    while (ts_map_next (self->runs, &pos, &k, &kl, &v) && n < cap) {
        const char *key = k, *nul = memchr (key, 0, kl);
        if (!nul)
            continue;
        size_t l = (size_t) (nul - key);
        if (run && (l != rlen || memcmp (key, run, rlen)))
            continue;
        agg_run_row_t *row = &(*rows) [n++];
        row->run = key;
        row->run_len = l;
        row->group = l + 1 < kl ? nul + 1 : NULL;
        row->group_len = kl - l - 1;
        row->t = v;
    }
    qsort (*rows, n, sizeof **rows, agg_run_row_cmp);
    return (ssize_t) n;
}

int
agg_run_row_cmp (const void *pa, const void *pb)
{
    const agg_run_row_t *a = pa, *b = pb;
    size_t n = a->run_len < b->run_len ? a->run_len : b->run_len;
    int c = memcmp (a->run, b->run, n);
    if (c || a->run_len != b->run_len)
        return c ? c : a->run_len < b->run_len ? -1 : 1;
    if (!a->group || !b->group)
        return !a->group ? (b->group ? -1 : 0) : 1;       /* no group first */
    n = a->group_len < b->group_len ? a->group_len : b->group_len;
    c = memcmp (a->group, b->group, n);
    return c ? c : a->group_len < b->group_len ? -1 : a->group_len > b->group_len;
}

/*  Packs one run's summary from its rows [0, n): a map. */
static void
s_pack_run (ts_agg_t *self, msgpack_packer *pk, const agg_run_row_t *rows, size_t n)
{
    ts_totals_t all;
    ts_totals_init (&all);
    double pass_sum [3] = { 0, 0, 0 };
    uint64_t pass_n [3] = { 0, 0, 0 }, groups = 0;
    static const unsigned ks [3] = { 1, 5, 10 };
    for (size_t i = 0; i < n; i++) {
        ts_totals_merge (&all, rows [i].t);
        if (!rows [i].group)
            continue;
        groups++;
        for (int k = 0; k < 3; k++) {
            double p = ts_pass_at (rows [i].t->success_known, rows [i].t->successes, ks [k]);
            if (!isnan (p)) {
                pass_sum [k] += p;
                pass_n [k]++;
            }
        }
    }
    const s_runmeta_t *m = n ? ts_map_get (self->run_meta, rows [0].run, rows [0].run_len) : NULL;
    msgpack_pack_map (pk, 15);
    ts_mp_pack_cstr (pk, "run");
    ts_mp_pack_strn (pk, n ? rows [0].run : "", n ? rows [0].run_len : 0);
    ts_mp_pack_cstr (pk, "records");      msgpack_pack_uint64 (pk, all.count);
    ts_mp_pack_cstr (pk, "groups");       msgpack_pack_uint64 (pk, groups);
    ts_mp_pack_cstr (pk, "successes");    msgpack_pack_uint64 (pk, all.successes);
    ts_mp_pack_cstr (pk, "success_known"); msgpack_pack_uint64 (pk, all.success_known);
    ts_mp_pack_cstr (pk, "success_rate");
    ts_pack_opt (pk, all.success_known ? (double) all.successes / (double) all.success_known : NAN);
    ts_mp_pack_cstr (pk, "reward_mean");
    ts_pack_opt (pk, all.reward_n ? all.reward_sum / (double) all.reward_n : NAN);
    for (int k = 0; k < 3; k++) {
        char name [16];
        snprintf (name, sizeof name, "pass@%u", ks [k]);
        ts_mp_pack_cstr (pk, name);
        ts_pack_opt (pk, pass_n [k] ? pass_sum [k] / (double) pass_n [k] : NAN);
    }
    ts_mp_pack_cstr (pk, "files");
    msgpack_pack_array (pk, m ? m->nfiles : 0);
    for (uint32_t i = 0; m && i < m->nfiles; i++)
        ts_mp_pack_cstr (pk, m->files [i]);
    ts_mp_pack_cstr (pk, "files_total");  msgpack_pack_uint32 (pk, m ? m->files_total : 0);
    ts_mp_pack_cstr (pk, "set");
    msgpack_pack_map (pk, m ? (size_t) m->nsets : 0);
    for (int i = 0; m && i < m->nsets; i++) {
        ts_mp_pack_cstr (pk, m->sets [i].key);
        ts_mp_pack_cstr (pk, m->sets [i].value);
    }
    ts_mp_pack_cstr (pk, "first_ms");
    if (m && m->first_ms) msgpack_pack_int64 (pk, m->first_ms); else msgpack_pack_nil (pk);
    ts_mp_pack_cstr (pk, "last_ms");
    if (m && m->last_ms) msgpack_pack_int64 (pk, m->last_ms); else msgpack_pack_nil (pk);
}

void
agg_reply_runs (ts_agg_t *self, zframe_t *to)
{
    agg_run_row_t *rows;
    ssize_t n = agg_run_rows (self, NULL, 0, &rows);
    if (n < 0) {
        agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
        return;
    }
    size_t nruns = 0;
    for (ssize_t i = 0; i < n; i++)
        nruns += i == 0 || rows [i].run_len != rows [i - 1].run_len
              || memcmp (rows [i].run, rows [i - 1].run, rows [i].run_len);
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_RUNS, 2);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_key (h, "runs");
    msgpack_pack_array (&h->pk, nruns);
    for (ssize_t i = 0; i < n; ) {
        ssize_t j = i + 1;
        while (j < n && rows [j].run_len == rows [i].run_len
               && !memcmp (rows [j].run, rows [i].run, rows [i].run_len))
            j++;
        s_pack_run (self, &h->pk, rows + i, (size_t) (j - i));
        i = j;
    }
    free (rows);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}

/* --- compare ------------------------------------------------------------------- */

typedef struct {
    const agg_run_row_t *a, *b;     /* NULL: the group is not in that run */
    double change;                  /* |success rate b - a| */
} s_pair_t;

static int
s_pair_cmp (const void *pa, const void *pb)
{
    const s_pair_t *x = pa, *y = pb;
    bool xn = isnan (x->change), yn = isnan (y->change);
    if (xn != yn)
        return xn ? 1 : -1;
    if (!xn && x->change != y->change)
        return x->change > y->change ? -1 : 1;
    agg_run_row_t ga = *x->a, gb = *y->a;
    ga.run_len = gb.run_len = 0;        /* by group alone */
    return agg_run_row_cmp (&ga, &gb);
}

static const unsigned s_ks [3] = { 1, 5, 10 };

static double
s_rate (const ts_totals_t *t)
{
    return t->success_known ? (double) t->successes / (double) t->success_known : NAN;
}

static void
s_pack_side (msgpack_packer *pk, const ts_totals_t *t)
{
    msgpack_pack_map (pk, 7);
    ts_mp_pack_cstr (pk, "records");      msgpack_pack_uint64 (pk, t->count);
    ts_mp_pack_cstr (pk, "successes");    msgpack_pack_uint64 (pk, t->successes);
    ts_mp_pack_cstr (pk, "success_rate"); ts_pack_opt (pk, s_rate (t));
    ts_mp_pack_cstr (pk, "reward_mean");
    ts_pack_opt (pk, t->reward_n ? t->reward_sum / (double) t->reward_n : NAN);
    for (int k = 0; k < 3; k++) {
        char name [16];
        snprintf (name, sizeof name, "pass@%u", s_ks [k]);
        ts_mp_pack_cstr (pk, name);
        ts_pack_opt (pk, ts_pass_at (t->success_known, t->successes, s_ks [k]));
    }
}

/*  The unpaired groups of one side, as [{group, a|b: side}...]. */
static void
s_pack_groups_only (msgpack_packer *pk, const s_pair_t *pairs, size_t np, bool a_side)
{
    size_t count = 0;
    for (size_t i = 0; i < np; i++)
        count += a_side ? pairs [i].b == NULL : pairs [i].a == NULL;
    msgpack_pack_array (pk, count);
    for (size_t i = 0; i < np; i++) {
        const agg_run_row_t *r = a_side ? (pairs [i].b ? NULL : pairs [i].a)
                                        : (pairs [i].a ? NULL : pairs [i].b);
        if (!r)
            continue;
        msgpack_pack_map (pk, 2);
        ts_mp_pack_cstr (pk, "group");
        ts_mp_pack_strn (pk, r->group, r->group_len);
        ts_mp_pack_cstr (pk, a_side ? "a" : "b");
        s_pack_side (pk, r->t);
    }
}

void
agg_reply_compare (ts_agg_t *self, zframe_t *to, ts_hdrin_t *in)
{
    uint32_t al = 0, bl = 0;
    const char *a = ts_hdr_get_str (in, "a", &al), *b = ts_hdr_get_str (in, "b", &bl);
    if (!a || !b) {
        agg_reply_error (self, to, ts_errname (TS_EBADREQ), "field \"a\" and field \"b\": want two run names");
        return;
    }
    agg_run_row_t *ra, *rb;
    ssize_t na = agg_run_rows (self, a, al, &ra), nb = na < 0 ? -1 : agg_run_rows (self, b, bl, &rb);
    if (na < 0 || nb < 0) {
        if (na >= 0)
            free (ra);
        agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
        return;
    }
    if (na == 0 || nb == 0) {
        char m [TS_RUN_NAME_MAX + 64];
        snprintf (m, sizeof m, "no run \"%.*s\" (trajstore runs lists them)",
                  na == 0 ? (int) al : (int) bl, na == 0 ? a : b);
        agg_reply_error (self, to, ts_errname (TS_ENOTFOUND), m);
        free (ra);
        free (rb);
        return;
    }
    /* both sorted by group (records without a group first, left out): a merge */
    s_pair_t *pairs = malloc ((size_t) (na + nb) * sizeof *pairs);
    size_t np = 0;
    ssize_t i = 0, j = 0;
    while (pairs && (i < na || j < nb)) {
        if (i < na && !ra [i].group) { i++; continue; }
        if (j < nb && !rb [j].group) { j++; continue; }
        int c = i >= na ? 1 : j >= nb ? -1 : 0;
        if (c == 0) {
            agg_run_row_t x = ra [i], y = rb [j];
            x.run_len = y.run_len = 0;
            c = agg_run_row_cmp (&x, &y);
        }
        s_pair_t *p = &pairs [np++];
        p->a = c <= 0 ? &ra [i++] : NULL;
        p->b = c >= 0 ? &rb [j++] : NULL;
        p->change = p->a && p->b ? fabs (s_rate (p->b->t) - s_rate (p->a->t)) : NAN;
    }
    if (!pairs) {
        free (ra);
        free (rb);
        agg_reply_error (self, to, ts_errname (TS_ENOMEM), "out of memory");
        return;
    }
    /* the paired groups first, by the largest change; then those of one side */
    size_t paired = 0;
    for (size_t k = 0; k < np; k++)
        if (pairs [k].a && pairs [k].b) {
            s_pair_t t = pairs [paired];
            pairs [paired++] = pairs [k];
            pairs [k] = t;
        }
    qsort (pairs, paired, sizeof *pairs, s_pair_cmp);
    ts_totals_t ta, tb;
    ts_totals_init (&ta);
    ts_totals_init (&tb);
    for (size_t k = 0; k < paired; k++) {
        ts_totals_merge (&ta, pairs [k].a->t);
        ts_totals_merge (&tb, pairs [k].b->t);
    }
    ts_hdr_t *h = &self->hdr;
    agg_reply_begin (self, TS_MSG_COMPARE, 7);
    ts_hdr_bool (h, "ok", true);
    ts_hdr_key (h, "a");
    s_pack_run (self, &h->pk, ra, (size_t) na);
    ts_hdr_key (h, "b");
    s_pack_run (self, &h->pk, rb, (size_t) nb);
    ts_hdr_key (h, "paired");           /* both sides over their common groups */
    msgpack_pack_map (&h->pk, 3);
    ts_mp_pack_cstr (&h->pk, "groups");
    msgpack_pack_uint64 (&h->pk, paired);
    ts_mp_pack_cstr (&h->pk, "a");
    s_pack_side (&h->pk, &ta);
    ts_mp_pack_cstr (&h->pk, "b");
    s_pack_side (&h->pk, &tb);
    ts_hdr_key (h, "groups");
    msgpack_pack_array (&h->pk, paired);
    for (size_t k = 0; k < paired; k++) {
        const ts_totals_t *x = pairs [k].a->t, *y = pairs [k].b->t;
        msgpack_pack_map (&h->pk, 4);
        ts_mp_pack_cstr (&h->pk, "group");
        ts_mp_pack_strn (&h->pk, pairs [k].a->group, pairs [k].a->group_len);
        ts_mp_pack_cstr (&h->pk, "a");
        s_pack_side (&h->pk, x);
        ts_mp_pack_cstr (&h->pk, "b");
        s_pack_side (&h->pk, y);
        ts_mp_pack_cstr (&h->pk, "diff");   /* b - a */
        msgpack_pack_map (&h->pk, 4);
        ts_mp_pack_cstr (&h->pk, "success_rate");
        ts_pack_opt (&h->pk, s_rate (y) - s_rate (x));
        for (int q = 0; q < 3; q++) {
            char name [16];
            snprintf (name, sizeof name, "pass@%u", s_ks [q]);
            ts_mp_pack_cstr (&h->pk, name);
            ts_pack_opt (&h->pk, ts_pass_at (y->success_known, y->successes, s_ks [q])
                                - ts_pass_at (x->success_known, x->successes, s_ks [q]));
        }
    }
    ts_hdr_key (h, "only_a");
    s_pack_groups_only (&h->pk, pairs + paired, np - paired, true);
    ts_hdr_key (h, "only_b");
    s_pack_groups_only (&h->pk, pairs + paired, np - paired, false);
    free (pairs);
    free (ra);
    free (rb);
    ts_hdr_send (h, zsock_resolve (self->query), to, NULL, 0);
}
