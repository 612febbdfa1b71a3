/*  bench_common.c: see bench_common.h. */
#include "bench_common.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BQ_WARMUP_REQUESTS 10        /* untimed, per child, before the start */
#define BQ_READY_TIMEOUT_S 60.0      /* the children must be connected by then */

double
bq_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void
bq_sleep (double seconds)
{
    if (seconds <= 0)
        return;
    struct timespec ts;
    ts.tv_sec = (time_t) seconds;
    ts.tv_nsec = (long) ((seconds - (double) ts.tv_sec) * 1e9);
    while (nanosleep (&ts, &ts) && errno == EINTR)
        ;
}

/* --- random numbers: splitmix64 to seed, xorshift64* ------------------------ */

void
bq_rng_seed (bq_rng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t z = seed * UINT64_C (0x9e3779b97f4a7c15) + stream + 1;
    z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
    z ^= z >> 31;
    r->s = z ? z : UINT64_C (0x2545f4914f6cdd1d);
}

uint64_t
bq_rng_next (bq_rng_t *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * UINT64_C (0x2545f4914f6cdd1d);
}

size_t
bq_rng_below (bq_rng_t *r, size_t n)
{
    return (size_t) (bq_rng_next (r) % (uint64_t) n);
}

/* --- keys -------------------------------------------------------------------- */

static int
bq_cmp_str (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

int
bq_keys_load (bq_keys_t *k, const char *path)
{
    memset (k, 0, sizeof *k);
    FILE *f = fopen (path, "rb");
    struct stat st;
    if (!f || fstat (fileno (f), &st)) {
        fprintf (stderr, "bench: %s: %s\n", path, strerror (errno));
        if (f)
            fclose (f);
        return -1;
    }
    size_t size = (size_t) st.st_size;
    k->text = malloc (size + 1);
    if (!k->text || fread (k->text, 1, size, f) != size) {
        fprintf (stderr, "bench: %s: cannot read it\n", path);
        fclose (f);
        bq_keys_free (k);
        return -1;
    }
    fclose (f);
    k->text [size] = 0;
    size_t lines = 0;
    for (size_t i = 0; i < size; i++)
        lines += k->text [i] == '\n';
    k->ids = malloc ((lines + 1) * sizeof *k->ids);
    char **groups = malloc ((lines + 1) * sizeof *groups);
    if (!k->ids || !groups) {
        fprintf (stderr, "bench: out of memory\n");
        free (groups);
        bq_keys_free (k);
        return -1;
    }
    size_t ng = 0;
    char *at = k->text, *end = k->text + size;
    while (at < end) {
        char *nl = memchr (at, '\n', (size_t) (end - at));
        if (!nl)
            nl = end;
        *nl = 0;
        char *tab = strchr (at, '\t');
        if (tab && tab > at) {
            *tab = 0;
            k->ids [k->nids++] = at;
            if (tab [1])
                groups [ng++] = tab + 1;
        }
        at = nl + 1;
    }
    qsort (groups, ng, sizeof *groups, bq_cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < ng; i++)
        if (u == 0 || strcmp (groups [u - 1], groups [i]))
            groups [u++] = groups [i];
    k->groups = groups;
    k->ngroups = u;
    if (k->nids == 0 || k->ngroups == 0) {
        fprintf (stderr, "bench: %s: no \"ID<TAB>GROUP\" lines\n", path);
        bq_keys_free (k);
        return -1;
    }
    return 0;
}

void
bq_keys_free (bq_keys_t *k)
{
    free (k->text);
    free (k->ids);
    free (k->groups);
    memset (k, 0, sizeof *k);
}

/* --- latencies ------------------------------------------------------------------ */

static int
bq_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/*  The nearest-rank percentile of sorted samples. */
static double
bq_rank (const double *s, size_t n, double q)
{
    size_t i = (size_t) ceil (q * (double) n);
    return s [i > 0 ? i - 1 : 0];
}

double
bq_median (double *t, size_t n)
{
    qsort (t, n, sizeof *t, bq_cmp_double);
    return n % 2 ? t [n / 2] : (t [n / 2 - 1] + t [n / 2]) / 2;
}

void
bq_stats_of (double *samples, size_t n, bq_stats_t *out)
{
    memset (out, 0, sizeof *out);
    if (n == 0)
        return;
    qsort (samples, n, sizeof *samples, bq_cmp_double);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += samples [i];
    out->n = n;
    out->p50 = bq_rank (samples, n, 0.50) * 1e3;
    out->p90 = bq_rank (samples, n, 0.90) * 1e3;
    out->p99 = bq_rank (samples, n, 0.99) * 1e3;
    out->mean = sum / (double) n * 1e3;
    out->max = samples [n - 1] * 1e3;
}

void
bq_hist_add (bq_hist_t *h, double seconds)
{
    double us = seconds * 1e6;
    if (us < 0)
        us = 0;
    if (us < BQ_HIST_BINS)
        h->bins [(size_t) us]++;
    else
        h->over++;
    h->count++;
    h->sum_s += seconds;
    if (seconds > h->max_s)
        h->max_s = seconds;
}

void
bq_hist_merge (bq_hist_t *into, const bq_hist_t *from)
{
    for (size_t i = 0; i < BQ_HIST_BINS; i++)
        into->bins [i] += from->bins [i];
    into->count += from->count;
    into->errors += from->errors;
    into->rows += from->rows;
    into->over += from->over;
    into->sum_s += from->sum_s;
    if (from->max_s > into->max_s)
        into->max_s = from->max_s;
}

/*  The nearest-rank percentile, as the bin's upper edge (ms); samples past
 *  the last bin report the maximum. */
static double
bq_hist_rank (const bq_hist_t *h, double q)
{
    uint64_t want = (uint64_t) ceil (q * (double) h->count), seen = 0;
    if (want == 0)
        want = 1;
    for (size_t i = 0; i < BQ_HIST_BINS; i++) {
        seen += h->bins [i];
        if (seen >= want)
            return (double) (i + 1) * 1e-3;
    }
    return h->max_s * 1e3;
}

void
bq_hist_stats (const bq_hist_t *h, bq_stats_t *out)
{
    memset (out, 0, sizeof *out);
    if (h->count == 0)
        return;
    out->n = h->count;
    out->p50 = bq_hist_rank (h, 0.50);
    out->p90 = bq_hist_rank (h, 0.90);
    out->p99 = bq_hist_rank (h, 0.99);
    out->mean = h->sum_s / (double) h->count * 1e3;
    out->max = h->max_s * 1e3;
}

/*  The CPU time (user + system, seconds) of this process or of its
 *  children waited for so far. */
static double
bq_cpu_of (int who)
{
    struct rusage ru;
    if (getrusage (who, &ru))
        return 0;
    return (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec * 1e-6
         + (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec * 1e-6;
}

double
bq_cpu_self (void)
{
    return bq_cpu_of (RUSAGE_SELF);
}

static double
bq_cpu_children (void)
{
    return bq_cpu_of (RUSAGE_CHILDREN);
}

/* --- concurrent clients ---------------------------------------------------------- */

typedef struct {
    int       ready;                /* children connected and warmed up */
    int       failed;
    int       go;                   /* set once start_at and end_at are */
    double    start_at;             /* set by the parent once all are ready */
    double    end_at;
    bq_hist_t hist [];              /* one per child */
} bq_shared_t;

static void
bq_child (const bq_client_ops_t *ops, void *ctx, int child, uint64_t seed, bq_shared_t *sh)
{
    bq_hist_t *h = &sh->hist [child];
    bq_rng_t rng;
    uint64_t rows;
    bq_rng_seed (&rng, seed, 1000 + (uint64_t) child);
    void *st = ops->open (ctx, child);
    if (st)
        for (int i = 0; i < BQ_WARMUP_REQUESTS; i++)
            if (ops->request (st, &rng, &rows)) {
                fprintf (stderr, "bench: client %d: its first requests failed\n", child);
                ops->close (st);
                st = NULL;
                break;
            }
    if (!st) {
        __atomic_add_fetch (&sh->failed, 1, __ATOMIC_SEQ_CST);
        __atomic_add_fetch (&sh->ready, 1, __ATOMIC_SEQ_CST);
        _exit (1);
    }
    __atomic_add_fetch (&sh->ready, 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n (&sh->go, __ATOMIC_SEQ_CST))
        bq_sleep (0.001);
    double start = sh->start_at, end = sh->end_at;
    bq_sleep (start - bq_now ());
    for (;;) {
        double t0 = bq_now ();
        if (t0 >= end)
            break;
        rows = 0;
        int rc = ops->request (st, &rng, &rows);
        double t1 = bq_now ();
        if (rc)
            h->errors++;
        else {
            bq_hist_add (h, t1 - t0);
            h->rows += rows;
        }
    }
    ops->close (st);
    fflush (NULL);
    _exit (0);
}

/*  The client processes of the bq_concurrency under way, for
 *  bq_concurrency_abort: pids [0..started), 0 once reaped. */
static pid_t *volatile bq_running_pids;
static volatile int    bq_running_n;

void
bq_concurrency_abort (void)
{
    pid_t *pids = bq_running_pids;
    int n = bq_running_n;
    if (!pids)
        return;
    for (int i = 0; i < n; i++)
        if (pids [i] > 0)
            kill (pids [i], SIGKILL);       /* ours: forked by bq_concurrency */
    for (int i = 0; i < n; i++)
        if (pids [i] > 0)
            while (waitpid (pids [i], NULL, 0) < 0 && errno == EINTR)
                ;
}

int
bq_concurrency (const bq_client_ops_t *ops, void *ctx, int clients, double seconds,
                uint64_t seed, bq_conc_t *out)
{
    memset (out, 0, sizeof *out);
    out->clients = clients;
    out->seconds = seconds;
    size_t size = sizeof (bq_shared_t) + (size_t) clients * sizeof (bq_hist_t);
    bq_shared_t *sh = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        fprintf (stderr, "bench: mmap: %s\n", strerror (errno));
        return -1;
    }
    memset (sh, 0, size);
    pid_t *pids = calloc ((size_t) clients, sizeof *pids);
    if (!pids) {
        munmap (sh, size);
        return -1;
    }
    /* RUSAGE_CHILDREN counts every child this process ever waited for:
     * the figure of these ones is the difference */
    double cpu0 = bq_cpu_children ();
    fflush (NULL);
    int started = 0, rc = 0;
    bq_running_pids = pids;
    for (; started < clients; started++) {
        pid_t pid = fork ();
        if (pid < 0) {
            fprintf (stderr, "bench: fork: %s\n", strerror (errno));
            rc = -1;
            break;
        }
        if (pid == 0)
            bq_child (ops, ctx, started, seed, sh);
        pids [started] = pid;
        bq_running_n = started + 1;
    }
    double deadline = bq_now () + BQ_READY_TIMEOUT_S;
    while (rc == 0 && __atomic_load_n (&sh->ready, __ATOMIC_SEQ_CST) < started) {
        if (bq_now () > deadline) {
            fprintf (stderr, "bench: the clients were not ready within %.0f s\n", BQ_READY_TIMEOUT_S);
            rc = -1;
            break;
        }
        bq_sleep (0.002);
    }
    if (rc == 0 && sh->failed) {
        fprintf (stderr, "bench: %d of %d clients failed to start\n", sh->failed, clients);
        rc = -1;
    }
    double start = bq_now () + 0.05;
    sh->start_at = start;
    sh->end_at = rc == 0 ? start + seconds : start;
    __atomic_store_n (&sh->go, 1, __ATOMIC_SEQ_CST);
    for (int i = 0; i < started; i++) {
        int status;
        if (rc && pids [i] > 0)
            kill (pids [i], SIGTERM);       /* ours: forked above */
        while (waitpid (pids [i], &status, 0) < 0 && errno == EINTR)
            ;
        pids [i] = 0;
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
            out->failed++;
    }
    bq_running_pids = NULL;
    bq_running_n = 0;
    out->cpu_s = bq_cpu_children () - cpu0;
    for (int i = 0; i < started; i++)
        bq_hist_merge (&out->total, &sh->hist [i]);
    free (pids);
    munmap (sh, size);
    if (rc == 0 && out->failed) {
        fprintf (stderr, "bench: %d clients did not end well\n", out->failed);
        rc = -1;
    }
    return rc;
}

/* --- reporting ---------------------------------------------------------------- */

void
bq_report_header (FILE *table, const char *system, const char *where)
{
    fprintf (table, "# %s: %s\n", system, where);
    fprintf (table, "%-10s %-14s %7s %8s %8s %8s %8s %8s %8s %9s %6s %8s\n", "system", "case", "n",
             "p50 ms", "p90 ms", "p99 ms", "mean ms", "max ms", "rows", "req/s", "errors", "cpu us");
}

void
bq_report (FILE *json, FILE *table, const char *system, const char *kase, const char *what,
           uint64_t records, const bq_stats_t *st, double rows, uint64_t errors, int clients,
           double seconds, double rps, double cpu_us, const char *extra)
{
    if (json)
        fprintf (json,
                 "{\"bench\":\"query\",\"system\":\"%s\",\"case\":\"%s\",\"what\":\"%s\","
                 "\"records\":%llu,\"n\":%llu,\"p50_ms\":%.4f,\"p90_ms\":%.4f,\"p99_ms\":%.4f,"
                 "\"mean_ms\":%.4f,\"max_ms\":%.4f,\"rows\":%.2f,\"errors\":%llu,\"clients\":%d,"
                 "\"seconds\":%.2f,\"rps\":%.1f,\"client_cpu_us\":%.1f%s%s}\n",
                 system, kase, what, (unsigned long long) records, (unsigned long long) st->n,
                 st->p50, st->p90, st->p99, st->mean, st->max, rows, (unsigned long long) errors,
                 clients, seconds, rps, cpu_us, extra ? "," : "", extra ? extra : "");
    fprintf (table, "%-10s %-14s %7llu %8.3f %8.3f %8.3f %8.3f %8.2f %8.1f %9.0f %6llu %8.1f\n", system,
             kase, (unsigned long long) st->n, st->p50, st->p90, st->p99, st->mean, st->max, rows,
             rps, (unsigned long long) errors, cpu_us);
    if (json)
        fflush (json);
    fflush (table);
}

long
bq_parse_long (const char *prog, const char *opt, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        fprintf (stderr, "%s: %s wants a number in %ld..%ld, got '%s'\n", prog, opt, lo, hi, text);
        exit (2);
    }
    return v;
}

/* --- one query kind at a time ------------------------------------------------------- */

const bq_kind_desc_t bq_kinds [K_COUNT] = {
    { "get", "get by id" },
    { "get_hot", "get of one id again and again" },
    { "newest", "list 100 newest" },
    { "reward", "reward in [0.2,0.3] first 100 by reward" },
    { "group_success", "one group and success" },
    { "groups_all", "stats of every group" },
    { "stats", "totals and per model" },
};

/*  Is the kind named in the comma-separated list? */
static bool
s_listed (const char *only, const char *name)
{
    size_t nl = strlen (name);
    for (const char *p = only; p && *p; ) {
        if (!strncmp (p, name, nl) && (p [nl] == ',' || p [nl] == 0))
            return true;
        p = strchr (p, ',');
        p = p ? p + 1 : NULL;
    }
    return false;
}

int
bq_run_series (const bq_series_t *cfg, bq_one_fn *one, void *conn)
{
    double *samples = malloc ((size_t) (cfg->n > 0 ? cfg->n : 1) * sizeof *samples);
    if (!samples)
        return 1;
    int rc = 0;
    for (int k = 0; k < K_COUNT; k++) {
        if (cfg->only && !s_listed (cfg->only, bq_kinds [k].name))
            continue;
        bq_rng_t rng;
        bq_rng_seed (&rng, (uint64_t) cfg->seed, (uint64_t) k);
        uint64_t rows = 0, total_rows = 0, errors = 0;
        /* the warm-up takes at most a fifth of the time allowed */
        long warm = 0;
        double warm_until = bq_now () + (double) cfg->max_seconds / 5;
        for (; warm < cfg->warmup && bq_now () < warm_until; warm++)
            if (one (conn, (bq_kind_t) k, &rng, &rows))
                errors++;
        if (warm > 0 && errors == (uint64_t) warm) {
            fprintf (stderr, "%s: %s: every warm-up %s failed\n", cfg->prog, bq_kinds [k].name,
                     cfg->request);
            rc = 1;
            continue;
        }
        errors = 0;
        size_t got = 0;
        double until = bq_now () + (double) cfg->max_seconds, cpu0 = bq_cpu_self ();
        for (long i = 0; i < cfg->n; i++) {
            double t0 = bq_now ();
            if (t0 > until)
                break;
            int r = one (conn, (bq_kind_t) k, &rng, &rows);
            double t1 = bq_now ();
            if (r) {
                errors++;
                continue;
            }
            samples [got++] = t1 - t0;
            total_rows += rows;
        }
        bq_stats_t st;
        bq_stats_of (samples, got, &st);
        bq_report (cfg->json, stderr, cfg->system, bq_kinds [k].name, bq_kinds [k].what,
                   (uint64_t) cfg->records, &st, got ? (double) total_rows / (double) got : 0,
                   errors, 1, 0, 0,
                   got ? (bq_cpu_self () - cpu0) / (double) (got + errors) * 1e6 : 0, NULL);
        if (errors)
            rc = 1;
    }
    free (samples);
    return rc;
}

/* --- input files --------------------------------------------------------------------- */

const char *
bq_tmpdir (const char *dir)
{
    if (!dir || !*dir)
        dir = getenv ("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

int
bq_file_load (const char *prog, const char *path, size_t padding, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "%s: %s: %s\n", prog, path, strerror (errno));
        return -1;
    }
    struct stat st;
    if (fstat (fileno (f), &st) || !S_ISREG (st.st_mode)) {
        fprintf (stderr, "%s: %s: not a regular file\n", prog, path);
        fclose (f);
        return -1;
    }
    size_t n = (size_t) st.st_size;
    char *buf = malloc (n + padding);
    if (!buf || fread (buf, 1, n, f) != n) {
        fprintf (stderr, "%s: %s: cannot read whole file\n", prog, path);
        free (buf);
        fclose (f);
        return -1;
    }
    fclose (f);
    memset (buf + n, 0, padding);
    *data = buf;
    *size = n;
    return 0;
}

int
bq_run_clients (const char *system, const char *kase, const char *what, const char *extra,
                const bq_client_ops_t *ops, void *ctx, long clients, long seconds, long seed,
                long records, FILE *json)
{
    bq_conc_t *res = malloc (sizeof *res);
    if (!res)
        return 1;
    int rc = bq_concurrency (ops, ctx, (int) clients, (double) seconds, (uint64_t) seed, res);
    bq_stats_t st;
    bq_hist_stats (&res->total, &st);
    bq_report (json, stderr, system, kase, what, (uint64_t) records, &st,
               st.n ? (double) res->total.rows / (double) st.n : 0, res->total.errors, (int) clients,
               (double) seconds, (double) st.n / (double) seconds,
               st.n ? res->cpu_s / (double) (st.n + res->total.errors) * 1e6 : 0, extra);
    free (res);
    return rc ? 1 : 0;
}

int
bq_run_mix (const char *system, const char *where, const bq_client_ops_t *ops, void *ctx,
            long clients, long seconds, long seed, long records, FILE *json)
{
    char kase [32];
    snprintf (kase, sizeof kase, "mix_c%ld", clients);
    bq_report_header (stderr, system, where);
    return bq_run_clients (system, kase, "get or one-group list 50/50", NULL, ops, ctx, clients,
                           seconds, seed, records, json);
}

int
bq_run_queries (const bq_series_t *series, const char *where, const bq_client_ops_t *ops,
                void *ctx, long clients, long seconds, bq_one_fn *one)
{
    if (clients > 0)
        return bq_run_mix (series->system, where, ops, ctx, clients, seconds, series->seed,
                           series->records, series->json);
    void *conn = ops->open (ctx, 0);
    if (!conn)
        return 1;
    bq_report_header (stderr, series->system, where);
    int rc = bq_run_series (series, one, conn);
    ops->close (conn);
    return rc;
}
