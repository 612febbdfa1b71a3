/*  bench_core.c: single-core throughput of the import hot path, lines ->
 *  records -> shard(s), on one JSONL file held in memory.
 *
 *  Usage: bench_core FILE [--reps N] [--dir TMPDIR] [--json] [--only CASE]
 *                        [--tuning KCTUNING] [--commit-records N]
 *
 *  Measurements (each the best and the median of N repetitions, wall clock,
 *  one thread; MB/s are of input JSON bytes, MB = 10^6 bytes):
 *    parse     every line through ts_parser_parse (default profile) into
 *              one reused scratch buffer
 *    route16   the same, plus ts_shard_of and a msgpack bin copy of each
 *              record into 16 per-shard buffers reset every chunk, as the
 *              worker does with a chunk
 *    store1    parse + route into ONE shard + commit: a fresh store file
 *              each repetition, one batch per ~1 MiB chunk of lines, group
 *              commits (ts_store_put_batches) of >= TS_COMMIT_RECORDS
 *              records, open and close (ts_store_destroy) included
 *    commit1   the commit part of store1 alone, from batches parsed before
 *              the clock starts
 *    store16   store1 into 16 shards, each its own store, each committing
 *              when >= TS_COMMIT_RECORDS records wait for it
 *
 *  The table also gives MB per CPU-second of the process (user + system) of
 *  the repetition that used least: on a shared machine it moves much less
 *  than wall time when other work takes the cores, so it tells a real
 *  change from noise. Under store1 and store16 a line splits the fastest
 *  repetition into parse + route, ts_store_put_batches (inserts and
 *  commits), open and close. --only, --tuning and --commit-records are for
 *  profiling and tuning runs.
 *
 *  What is left out, on purpose: reading the file (the producer's), cutting
 *  chunks (memchr, ~18 GB/s), the worker's padded copy of each chunk (a
 *  memcpy: here the whole file is padded once), and the wire. So the
 *  figures are the ceiling of one worker core, not of the whole pipeline.
 *
 *  Not a test: it is built by `make` and run by `make bench` (bench/run.sh).
 */
#include "bench_common.h"
#include "ts_error.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_proto.h"
#include "ts_record.h"
#include "ts_store.h"

#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_NSHARDS   16
#define S_JOB       "bench"
#define S_MAX_REPS  1000

/*  Kyoto Cabinet tuning for the stores: NULL is the store's own default
 *  (TS_STORE_TUNING); --tuning tries another without touching shared/. */
static const char *s_tuning;

/*  A shard commits when at least this many records wait for it (the
 *  worker's rule); --commit-records tries other group sizes. */
static uint32_t s_commit_records = TS_COMMIT_RECORDS;

/*  --text SPEC: the steps pointers whose text the batches index (the
 *  full-text index, ts_search.h); NULL: none, as --no-text-index. */
static const char *s_text;

/* --- input ------------------------------------------------------------------ */

/*  The file, with TS_PARSE_PADDING zero bytes after its end (simdjson reads
 *  ahead), and its cut into chunks the way the producer cuts: after the
 *  last newline that fits in TS_CHUNK_BYTES, a longer line alone. */
typedef struct {
    char   *data;
    size_t  size;
    size_t *cuts;        /* chunk i is [cuts[i], cuts[i+1]) */
    size_t  nchunks;
    uint64_t lines;
} s_input_t;

static int
s_input_load (s_input_t *in, const char *path)
{
    memset (in, 0, sizeof *in);
    if (bq_file_load ("bench_core", path, TS_PARSE_PADDING, &in->data, &in->size))
        return -1;

    size_t cap = in->size / TS_CHUNK_BYTES + 2;
    in->cuts = malloc (cap * sizeof *in->cuts);
    if (!in->cuts)
        return -1;
    size_t at = 0;
    in->cuts [in->nchunks] = 0;
    while (at < in->size) {
        size_t left = in->size - at;
        size_t end;
        if (left <= TS_CHUNK_BYTES)
            end = in->size;
        else {
            const char *nl = memrchr (in->data + at, '\n', TS_CHUNK_BYTES);
            if (!nl)            /* a line longer than a chunk travels alone */
                nl = memchr (in->data + at, '\n', left);
            end = nl ? (size_t) (nl - in->data) + 1 : in->size;
        }
        if (in->nchunks + 2 > cap) {
            cap *= 2;
            size_t *c = realloc (in->cuts, cap * sizeof *c);
            if (!c)
                return -1;
            in->cuts = c;
        }
        in->cuts [++in->nchunks] = end;
        at = end;
    }
    for (const char *p = in->data, *e = in->data + in->size; p < e; in->lines++) {
        const char *nl = memchr (p, '\n', (size_t) (e - p));
        p = nl ? nl + 1 : e;
    }
    return 0;
}

static void
s_input_free (s_input_t *in)
{
    free (in->data);
    free (in->cuts);
}

/* --- parsing and routing -------------------------------------------------- */

/*  Where a parsed record goes: NULL (parse only), or one pending batch a
 *  shard; `chunk` tells the sink when a new batch starts. */
typedef struct s_shard s_shard_t;

struct s_shard {
    ts_store_t *store;
    ts_buf_t   *bufs;              /* one per pending batch; memory reused */
    ts_batch_t *batches;
    ts_batch_result_t *results;
    size_t      n, cap;            /* pending batches, slots allocated */
    uint32_t    queued;            /* records in the pending batches */
    uint64_t    imported, duplicates, commits;
};

typedef struct {
    ts_parser_t *parser;
    ts_buf_t     scratch;
    uint64_t     records, rejected;
    uint64_t     encoded;          /* bytes of record form produced */
    char         reason [512];
} s_ctx_t;

/*  The pending batch of `sh` for `chunk`, opening one when the last one is
 *  of an earlier chunk. NULL when out of memory. */
static ts_buf_t *
s_shard_batch (s_shard_t *sh, uint64_t chunk)
{
    if (sh->n && sh->batches [sh->n - 1].chunk == chunk)
        return &sh->bufs [sh->n - 1];
    if (sh->n == sh->cap) {
        size_t cap = sh->cap ? sh->cap * 2 : 16;
        ts_buf_t *b = realloc (sh->bufs, cap * sizeof *b);
        if (b)
            sh->bufs = b;
        ts_batch_t *t = realloc (sh->batches, cap * sizeof *t);
        if (t)
            sh->batches = t;
        ts_batch_result_t *r = realloc (sh->results, cap * sizeof *r);
        if (r)
            sh->results = r;
        if (!b || !t || !r)
            return NULL;
        memset (sh->bufs + sh->cap, 0, (cap - sh->cap) * sizeof *b);
        sh->cap = cap;
    }
    ts_batch_t *bt = &sh->batches [sh->n];
    memset (bt, 0, sizeof *bt);
    bt->job = S_JOB;
    bt->job_len = strlen (S_JOB);
    bt->text = s_text;                  /* --text: the full-text index */
    bt->text_len = s_text ? strlen (s_text) : 0;
    bt->chunk = chunk;
    sh->bufs [sh->n].size = 0;
    return &sh->bufs [sh->n++];
}

static void
s_shard_free (s_shard_t *sh)
{
    for (size_t i = 0; i < sh->cap; i++)
        ts_buf_free (&sh->bufs [i]);
    free (sh->bufs);
    free (sh->batches);
    free (sh->results);
    memset (sh, 0, sizeof *sh);
}

/*  Parses chunk `c` of the input. With `shards`, each record goes, as a
 *  msgpack bin, to the pending batch of its shard (nshards of them); with
 *  `flat`, to flat[ts_shard_of] (the worker's per-chunk buffers); with
 *  neither it is dropped (parse only). Returns 0 or a negative error. */
static int
s_parse_chunk (s_ctx_t *cx, const s_input_t *in, size_t c, s_shard_t *shards,
               ts_buf_t *flat, uint32_t nshards)
{
    const char *at = in->data + in->cuts [c], *end = in->data + in->cuts [c + 1];
    int64_t now_ms = ts_now_ms ();
    while (at < end) {
        const char *nl = memchr (at, '\n', (size_t) (end - at));
        size_t llen = nl ? (size_t) (nl - at) : (size_t) (end - at);
        if (!ts_line_is_blank (at, llen)) {
            ts_summary_t sum;
            cx->scratch.size = 0;
            int rc = ts_parser_parse (cx->parser, at, llen, 1, now_ms, &cx->scratch, &sum,
                                      cx->reason, sizeof cx->reason);
            if (rc == TS_EBADLINE)
                cx->rejected++;
            else if (rc)
                return rc;
            else {
                cx->records++;
                cx->encoded += cx->scratch.size;
                ts_buf_t *dst = NULL;
                uint32_t s = 0;
                if (shards || flat)
                    s = ts_shard_of (sum.id, sum.id_len, nshards);
                if (shards) {
                    dst = s_shard_batch (&shards [s], c);
                    if (!dst)
                        return TS_ENOMEM;
                    shards [s].batches [shards [s].n - 1].nrecords++;
                    shards [s].queued++;
                }
                else if (flat)
                    dst = &flat [s];
                if (dst) {
                    msgpack_packer pk;
                    msgpack_packer_init (&pk, dst, ts_buf_packer_write);
                    if (msgpack_pack_bin (&pk, cx->scratch.size)
                    ||  msgpack_pack_bin_body (&pk, cx->scratch.data, cx->scratch.size))
                        return TS_ENOMEM;
                }
            }
        }
        at = nl ? nl + 1 : end;
    }
    return 0;
}

/*  Commits batches [from, to) of sh in one call. */
static int
s_commit_range (s_shard_t *sh, size_t from, size_t to)
{
    if (to <= from)
        return 0;
    for (size_t i = from; i < to; i++) {
        sh->batches [i].records = sh->bufs [i].data;
        sh->batches [i].records_len = sh->bufs [i].size;
    }
    int rc = ts_store_put_batches (sh->store, sh->batches + from, to - from, sh->results + from);
    if (rc) {
        fprintf (stderr, "bench_core: commit: %s\n", ts_store_errmsg (sh->store));
        return rc;
    }
    for (size_t i = from; i < to; i++) {
        sh->imported += sh->results [i].imported;
        sh->duplicates += sh->results [i].duplicates;
    }
    sh->commits++;
    return 0;
}

/*  Commits every pending batch of sh (one call) and empties the queue. */
static int
s_shard_commit (s_shard_t *sh)
{
    int rc = s_commit_range (sh, 0, sh->n);
    sh->n = 0;
    sh->queued = 0;
    return rc;
}

/* --- stores ------------------------------------------------------------------ */

static void
s_shard_path (char *buf, size_t size, const char *dir, unsigned s)
{
    /* a bounded directory part: a longer one fails at open, not truncates */
    snprintf (buf, size, "%.3900s/shard-%02u.kct", dir, s);
}

/*  Removes what a repetition left: the shard files, and Kyoto Cabinet's
 *  transaction log should a failed run have kept one. */
static void
s_remove_stores (const char *dir, unsigned nshards)
{
    char path [4096], wal [4200];
    for (unsigned s = 0; s < nshards; s++) {
        s_shard_path (path, sizeof path, dir, s);
        snprintf (wal, sizeof wal, "%s.wal", path);
        unlink (path);
        unlink (wal);
    }
}

static int
s_open_stores (s_shard_t *shards, unsigned nshards, const char *dir)
{
    char path [4096], emsg [600];
    for (unsigned s = 0; s < nshards; s++) {
        int err;
        s_shard_path (path, sizeof path, dir, s);
        shards [s].store = ts_store_open (path, s_tuning, &err, emsg, sizeof emsg);
        if (!shards [s].store) {
            fprintf (stderr, "bench_core: %s\n", emsg);
            return err;
        }
    }
    return 0;
}

static void
s_close_stores (s_shard_t *shards, unsigned nshards)
{
    for (unsigned s = 0; s < nshards; s++)
        ts_store_destroy (&shards [s].store);
}

/* --- timing and reporting ---------------------------------------------- */

/*  The CPU time of the process (bq_cpu_self) is reported beside wall
 *  time: on a shared machine it moves less when other work takes the
 *  cores, which tells a real change from noise. */

typedef struct {
    const char *file;
    size_t      bytes;
    bool        json;
    int         reps;
    const char *only;     /* run this case alone (for profiling), or NULL */
} s_report_t;

static bool
s_wanted (const s_report_t *rp, const char *name)
{
    return !rp->only || !strcmp (rp->only, name);
}

/*  Prints one measurement from its repetitions' times (sorted here). */
static void
s_report (const s_report_t *rp, const char *name, const char *what, uint64_t records,
          double *t, double *cpu, int n, const char *extra)
{
    /* the times in run order first: a slow first repetition shows warm-up */
    char times [S_MAX_REPS * 12 + 16];
    size_t tl = 0;
    for (int i = 0; i < n && tl < sizeof times - 12; i++)
        tl += (size_t) snprintf (times + tl, sizeof times - tl, "%s%.4f", i ? "," : "", t [i]);
    double median = bq_median (t, (size_t) n), best = t [0];
    bq_median (cpu, (size_t) n);
    double cpu_best = cpu [0];
    double mb = (double) rp->bytes / 1e6;
    if (rp->json) {
        printf ("{\"bench\":\"core\",\"case\":\"%s\",\"what\":\"%s\",\"file\":\"%s\","
                "\"bytes\":%zu,\"records\":%" PRIu64 ",\"reps\":%d,"
                "\"best_s\":%.6f,\"median_s\":%.6f,"
                "\"mb_s\":%.1f,\"mb_s_median\":%.1f,"
                "\"rec_s\":%.0f,\"rec_s_median\":%.0f,\"times_s\":[%s],"
                "\"cpu_best_s\":%.6f,\"cpu_mb_s\":%.1f%s%s}\n",
                name, what, rp->file, rp->bytes, records, n, best, median,
                mb / best, mb / median, (double) records / best, (double) records / median,
                times, cpu_best, mb / cpu_best, extra ? "," : "", extra ? extra : "");
        fflush (stdout);
    }
    /* the table goes to stderr under --json, so stdout stays JSON lines */
    FILE *out = rp->json ? stderr : stdout;
    fprintf (out, "%-9s %-36s %9.1f %9.1f %11.0f %11.0f %9.1f\n", name, what,
             mb / best, mb / median, (double) records / best, (double) records / median,
             mb / cpu_best);
    fflush (out);
}

/* --- the measurements -------------------------------------------------- */

static int
s_bench_parse (s_ctx_t *cx, const s_input_t *in, const s_report_t *rp)
{
    double t [S_MAX_REPS], cpu [S_MAX_REPS];
    for (int r = 0; r < rp->reps; r++) {
        cx->records = cx->rejected = cx->encoded = 0;
        double t0 = bq_now (), c0 = bq_cpu_self ();
        for (size_t c = 0; c < in->nchunks; c++) {
            int rc = s_parse_chunk (cx, in, c, NULL, NULL, 0);
            if (rc)
                return rc;
        }
        t [r] = bq_now () - t0;
        cpu [r] = bq_cpu_self () - c0;
    }
    char extra [160];
    snprintf (extra, sizeof extra, "\"rejected\":%" PRIu64 ",\"encoded_bytes\":%" PRIu64,
              cx->rejected, cx->encoded);
    s_report (rp, "parse", "parse only (ts_parser_parse)", cx->records, t, cpu, rp->reps, extra);
    return 0;
}

static int
s_bench_route (s_ctx_t *cx, const s_input_t *in, const s_report_t *rp)
{
    double t [S_MAX_REPS], cpu [S_MAX_REPS];
    ts_buf_t flat [S_NSHARDS] = { { 0 } };
    int rc = 0;
    for (int r = 0; r < rp->reps && rc == 0; r++) {
        cx->records = cx->rejected = cx->encoded = 0;
        double t0 = bq_now (), c0 = bq_cpu_self ();
        for (size_t c = 0; c < in->nchunks && rc == 0; c++) {
            for (unsigned s = 0; s < S_NSHARDS; s++)
                flat [s].size = 0;
            rc = s_parse_chunk (cx, in, c, NULL, flat, S_NSHARDS);
        }
        t [r] = bq_now () - t0;
        cpu [r] = bq_cpu_self () - c0;
    }
    for (unsigned s = 0; s < S_NSHARDS; s++)
        ts_buf_free (&flat [s]);
    if (rc == 0)
        s_report (rp, "route16", "parse + route to 16 shard buffers", cx->records, t, cpu,
                  rp->reps, NULL);
    return rc;
}

/*  parse + encode + commit into nshards stores, each committing when at
 *  least TS_COMMIT_RECORDS records wait for it (after a whole chunk, as
 *  the worker's queue fills a chunk at a time). */
static int
s_bench_store (s_ctx_t *cx, const s_input_t *in, const s_report_t *rp, const char *dir,
               unsigned nshards, const char *name, const char *what)
{
    double t [S_MAX_REPS], cpu [S_MAX_REPS];
    s_shard_t shards [S_NSHARDS] = { { 0 } };
    int rc = 0;
    uint64_t commits = 0, imported = 0, dups = 0;
    off_t file_bytes = 0;
    /* where the time of the fastest repetition went: open, parse + route,
     * ts_store_put_batches (inserts and commits), close */
    double ph [4] = { 0 }, best = 0;
    for (int r = 0; r < rp->reps && rc == 0; r++) {
        s_remove_stores (dir, nshards);
        for (unsigned s = 0; s < nshards; s++)
            shards [s].imported = shards [s].duplicates = shards [s].commits = 0;
        cx->records = cx->rejected = cx->encoded = 0;
        double t0 = bq_now (), c0 = bq_cpu_self (), p [4] = { 0 }, m;
        rc = s_open_stores (shards, nshards, dir);
        p [0] = bq_now () - t0;
        for (size_t c = 0; c < in->nchunks && rc == 0; c++) {
            m = bq_now ();
            rc = s_parse_chunk (cx, in, c, shards, NULL, nshards);
            p [1] += bq_now () - m;
            m = bq_now ();
            for (unsigned s = 0; s < nshards && rc == 0; s++)
                if (shards [s].queued >= s_commit_records)
                    rc = s_shard_commit (&shards [s]);
            p [2] += bq_now () - m;
        }
        m = bq_now ();
        for (unsigned s = 0; s < nshards && rc == 0; s++)
            rc = s_shard_commit (&shards [s]);
        p [2] += bq_now () - m;
        m = bq_now ();
        s_close_stores (shards, nshards);
        p [3] = bq_now () - m;
        t [r] = bq_now () - t0;
        cpu [r] = bq_cpu_self () - c0;
        if (r == 0 || t [r] < best) {
            best = t [r];
            memcpy (ph, p, sizeof ph);
        }
        commits = imported = dups = 0;
        file_bytes = 0;
        for (unsigned s = 0; s < nshards; s++) {
            commits += shards [s].commits;
            imported += shards [s].imported;
            dups += shards [s].duplicates;
            char path [4096];
            struct stat st;
            s_shard_path (path, sizeof path, dir, s);
            if (stat (path, &st) == 0)
                file_bytes += st.st_size;
        }
    }
    s_remove_stores (dir, nshards);
    for (unsigned s = 0; s < nshards; s++)
        s_shard_free (&shards [s]);
    if (rc)
        return rc;
    if (imported + dups != cx->records)
        fprintf (stderr, "bench_core: %s: %" PRIu64 " records parsed but %" PRIu64
                 " stored\n", name, cx->records, imported + dups);
    char extra [400];
    snprintf (extra, sizeof extra, "\"shards\":%u,\"commits\":%" PRIu64 ",\"imported\":%" PRIu64
              ",\"duplicates\":%" PRIu64 ",\"store_bytes\":%lld,\"best_open_s\":%.6f,"
              "\"best_parse_s\":%.6f,\"best_put_s\":%.6f,\"best_close_s\":%.6f",
              nshards, commits, imported, dups, (long long) file_bytes, ph [0], ph [1], ph [2], ph [3]);
    s_report (rp, name, what, cx->records, t, cpu, rp->reps, extra);
    fprintf (rp->json ? stderr : stdout,
             "%-9s   fastest rep: parse+route %.0f%%, put_batches %.0f%% (%" PRIu64 " commits), "
             "open %.0f%%, close %.0f%%\n", "", 100 * ph [1] / best, 100 * ph [2] / best, commits,
             100 * ph [0] / best, 100 * ph [3] / best);
    return 0;
}

/*  The commit part of store1 alone: every chunk parsed into its batch
 *  before the clock starts, then open, group commits of at least
 *  TS_COMMIT_RECORDS records, close. */
static int
s_bench_commit (s_ctx_t *cx, const s_input_t *in, const s_report_t *rp, const char *dir)
{
    double t [S_MAX_REPS], cpu [S_MAX_REPS];
    s_shard_t sh = { 0 };
    cx->records = cx->rejected = cx->encoded = 0;
    int rc = 0;
    for (size_t c = 0; c < in->nchunks && rc == 0; c++)
        rc = s_parse_chunk (cx, in, c, &sh, NULL, 1);
    for (int r = 0; r < rp->reps && rc == 0; r++) {
        s_remove_stores (dir, 1);
        sh.imported = sh.duplicates = sh.commits = 0;
        double t0 = bq_now (), c0 = bq_cpu_self ();
        rc = s_open_stores (&sh, 1, dir);
        size_t from = 0;
        uint32_t queued = 0;
        for (size_t i = 0; i < sh.n && rc == 0; i++) {
            queued += sh.batches [i].nrecords;
            if (queued >= s_commit_records || i + 1 == sh.n) {
                rc = s_commit_range (&sh, from, i + 1);
                from = i + 1;
                queued = 0;
            }
        }
        s_close_stores (&sh, 1);
        t [r] = bq_now () - t0;
        cpu [r] = bq_cpu_self () - c0;
    }
    s_remove_stores (dir, 1);
    uint64_t records = cx->records, commits = sh.commits;
    s_shard_free (&sh);
    if (rc)
        return rc;
    char extra [120];
    snprintf (extra, sizeof extra, "\"shards\":1,\"commits\":%" PRIu64, commits);
    s_report (rp, "commit1", "commit only, 1 shard (pre-parsed)", records, t, cpu, rp->reps, extra);
    return 0;
}

/* --- main ------------------------------------------------------------------ */

static void
s_usage (void)
{
    fprintf (stderr,
             "usage: bench_core FILE [--reps N] [--dir TMPDIR] [--json]\n"
             "  FILE        a JSONL dump (trajstore-gen), read whole into memory\n"
             "  --reps N    repetitions of each measurement (default 5)\n"
             "  --dir D     where the temporary shard files go (default $TMPDIR or /tmp)\n"
             "  --json      one JSON object a measurement on stdout (table on stderr)\n"
             "  --only C    run case C alone (parse, route16, store1, commit1, store16),\n"
             "              e.g. under perf record\n"
             "  --tuning T  Kyoto Cabinet tuning of the stores (default \"" TS_STORE_TUNING "\")\n"
             "  --commit-records N  group commit size (default TS_COMMIT_RECORDS, %u)\n"
             "  --text SPEC the batches' text is indexed from these steps pointers\n"
             "              (full-text search; default: not indexed)\n",
             (unsigned) TS_COMMIT_RECORDS);
}

int
main (int argc, char **argv)
{
    const char *file = NULL, *base = NULL;
    s_report_t rp = { .reps = 5 };
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv [i], "--reps") && i + 1 < argc) {
            char *end;
            long v = strtol (argv [++i], &end, 10);
            if (*end || v < 1 || v > S_MAX_REPS) {
                fprintf (stderr, "bench_core: --reps wants 1..%d\n", S_MAX_REPS);
                return 2;
            }
            rp.reps = (int) v;
        }
        else if (!strcmp (argv [i], "--dir") && i + 1 < argc)
            base = argv [++i];
        else if (!strcmp (argv [i], "--text") && i + 1 < argc)
            s_text = argv [++i];
        else if (!strcmp (argv [i], "--json"))
            rp.json = true;
        else if (!strcmp (argv [i], "--only") && i + 1 < argc)
            rp.only = argv [++i];
        else if (!strcmp (argv [i], "--tuning") && i + 1 < argc)
            s_tuning = argv [++i];
        else if (!strcmp (argv [i], "--commit-records") && i + 1 < argc) {
            char *end;
            long v = strtol (argv [++i], &end, 10);
            if (*end || v < 1 || v > 100000000) {
                fprintf (stderr, "bench_core: --commit-records wants a positive count\n");
                return 2;
            }
            s_commit_records = (uint32_t) v;
        }
        else if (argv [i][0] == '-' || file) {
            s_usage ();
            return 2;
        }
        else
            file = argv [i];
    }
    if (!file) {
        s_usage ();
        return 2;
    }
    base = bq_tmpdir (base);

    s_input_t in;
    if (s_input_load (&in, file)) {
        s_input_free (&in);
        return 1;
    }
    rp.file = file;
    rp.bytes = in.size;

    char dir [4096];
    snprintf (dir, sizeof dir, "%s/bench_core-XXXXXX", base);
    if (!mkdtemp (dir)) {
        fprintf (stderr, "bench_core: mkdtemp %s: %s\n", dir, strerror (errno));
        s_input_free (&in);
        return 1;
    }

    ts_profile_t prof;
    char perr [256];
    s_ctx_t cx = { 0 };
    if (ts_profile_parse ("default", &prof, perr, sizeof perr) || !(cx.parser = ts_parser_new (&prof))) {
        fprintf (stderr, "bench_core: no parser: %s\n", perr);
        rmdir (dir);
        s_input_free (&in);
        return 1;
    }

    FILE *hdr = rp.json ? stderr : stdout;
    fprintf (hdr, "# %s: %.1f MB, %" PRIu64 " lines, %zu chunks of <= %u bytes, %d reps, "
             "stores in %s, tuning %s, commits of >= %u records\n", file, (double) in.size / 1e6,
             in.lines, in.nchunks, (unsigned) TS_CHUNK_BYTES, rp.reps, dir,
             s_tuning ? s_tuning : TS_STORE_TUNING, (unsigned) s_commit_records);
    fprintf (hdr, "%-9s %-36s %9s %9s %11s %11s %9s\n", "case", "what", "best MB/s", "med MB/s",
             "best rec/s", "med rec/s", "MB/cpu-s");

    int rc = 0;
    if (rc == 0 && s_wanted (&rp, "parse"))
        rc = s_bench_parse (&cx, &in, &rp);
    if (rc == 0 && s_wanted (&rp, "route16"))
        rc = s_bench_route (&cx, &in, &rp);
    if (rc == 0 && s_wanted (&rp, "store1"))
        rc = s_bench_store (&cx, &in, &rp, dir, 1, "store1", "parse + encode + commit, 1 shard");
    if (rc == 0 && s_wanted (&rp, "commit1"))
        rc = s_bench_commit (&cx, &in, &rp, dir);
    if (rc == 0 && s_wanted (&rp, "store16"))
        rc = s_bench_store (&cx, &in, &rp, dir, S_NSHARDS, "store16",
                            "parse + encode + commit, 16 shards");
    if (rc)
        fprintf (stderr, "bench_core: failed: %s\n", ts_strerror (rc));

    ts_parser_destroy (&cx.parser);
    ts_buf_free (&cx.scratch);
    rmdir (dir);
    s_input_free (&in);
    return rc ? 1 : 0;
}
