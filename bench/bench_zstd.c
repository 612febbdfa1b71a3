/*  bench_zstd: what zstd makes of records as a shard stores them (issue
 *  #18, "Compressed records"; docs/DESIGN.md, "Compressed records").
 *
 *    [BENCH_ZSTD_K=K] bench_zstd [--profile P] [--train N] [--dict-size B] [--loo]
 *                                [--gets N] FILE.jsonl
 *
 *  Every line goes through the line parser (the profile, default
 *  "default") into its stored form, <summary><object> in msgpack; then,
 *  one record at a time, as a shard compresses them: zstd at levels 1, 3,
 *  6, 9 and 19 without a dictionary, and with a dictionary trained
 *  (ZDICT_trainFromBuffer, B bytes, default 65536) on the first N records
 *  (default 2000). Prints one JSON line a case: stored bytes / record
 *  bytes, and the mean times to compress and decompress one record. --loo (for a file of
 *  few distinct records, such as the fixtures): each record is measured
 *  with a dictionary trained on all the others, so a record never meets
 *  a dictionary made from itself. BENCH_ZSTD_K: train with fastCover at
 *  that k (d 8, f 20), one pass, as a shard does, instead of
 *  ZDICT_trainFromBuffer's search over k. --gets N: instead, the records
 *  into a shard stored as they are and one compressed small, and N gets
 *  of random ids from each, interleaved (s_gets).
 */
#include "bench_common.h"
#include "ts_buf.h"
#include "ts_parse.h"
#include "ts_profile.h"
#include "ts_record.h"
#include "ts_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define ZDICT_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

typedef struct {
    ts_buf_t bytes;             /* the records, back to back */
    size_t  *sizes;
    size_t   n, cap;
} s_recs_t;

static void
s_die (const char *what)
{
    fprintf (stderr, "bench_zstd: %s\n", what);
    exit (1);
}

static void
s_load (const char *path, const char *profile, s_recs_t *r)
{
    ts_profile_t prof;
    char err [256];
    if (ts_profile_parse (profile, &prof, err, sizeof err))
        s_die (err);
    ts_parser_t *p = ts_parser_new (&prof);
    FILE *f = fopen (path, "r");
    if (!p || !f)
        s_die ("cannot open the input or make a parser");
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    uint64_t lineno = 0;
    char *pad = NULL;
    size_t padcap = 0;
    while ((len = getline (&line, &lcap, f)) > 0) {
        lineno++;
        if (line [len - 1] == '\n')
            len--;
        if (ts_line_is_blank (line, (size_t) len))
            continue;
        if ((size_t) len + TS_PARSE_PADDING > padcap) {
            padcap = (size_t) len + TS_PARSE_PADDING;
            if (!(pad = realloc (pad, padcap)))
                s_die ("out of memory");
        }
        memcpy (pad, line, (size_t) len);
        memset (pad + len, ' ', TS_PARSE_PADDING);
        size_t had = r->bytes.size;
        ts_summary_t s;
        if (ts_parser_parse (p, pad, (size_t) len, lineno, 1700000000000, &r->bytes, &s, err,
                             sizeof err))
            continue;                   /* a bad line is not a record */
        if (r->n == r->cap) {
            r->cap = r->cap ? 2 * r->cap : 1024;
            if (!(r->sizes = realloc (r->sizes, r->cap * sizeof *r->sizes)))
                s_die ("out of memory");
        }
        r->sizes [r->n++] = r->bytes.size - had;
    }
    free (line);
    free (pad);
    fclose (f);
    ts_parser_destroy (&p);
}

/*  Compresses records [0, n) one by one (skipping `skip`, or none when
 *  it is n) and decompresses each back; adds to *raw, *packed, *usecs. */
static void
s_run (const s_recs_t *r, size_t skip, int level, const void *dict, size_t dlen,
       double *raw, double *packed, double *secs, double *csecs, size_t *count)
{
    ZSTD_CCtx *cc = ZSTD_createCCtx ();
    ZSTD_DCtx *dc = ZSTD_createDCtx ();
    ZSTD_CDict *cd = dict ? ZSTD_createCDict (dict, dlen, level) : NULL;
    ZSTD_DDict *dd = dict ? ZSTD_createDDict (dict, dlen) : NULL;
    size_t cap = 0;
    char *out = NULL, *back = NULL;
    const char *at = r->bytes.data;
    for (size_t i = 0; i < r->n; at += r->sizes [i], i++) {
        if (i == skip)
            continue;
        size_t bound = ZSTD_compressBound (r->sizes [i]);
        if (bound > cap) {
            cap = bound;
            if (!(out = realloc (out, cap)) || !(back = realloc (back, cap)))
                s_die ("out of memory");
        }
        double c0 = bq_now ();
        size_t c = cd ? ZSTD_compress_usingCDict (cc, out, cap, at, r->sizes [i], cd)
                      : ZSTD_compressCCtx (cc, out, cap, at, r->sizes [i], level);
        if (ZSTD_isError (c))
            s_die (ZSTD_getErrorName (c));
        *csecs += bq_now () - c0;
        double t0 = bq_now ();
        size_t d = dd ? ZSTD_decompress_usingDDict (dc, back, cap, out, c, dd)
                      : ZSTD_decompressDCtx (dc, back, cap, out, c);
        *secs += bq_now () - t0;
        if (ZSTD_isError (d) || d != r->sizes [i] || memcmp (back, at, d))
            s_die ("a record does not come back");
        *raw += (double) r->sizes [i];
        *packed += (double) c;
        (*count)++;
    }
    free (out);
    free (back);
    ZSTD_freeCDict (cd);
    ZSTD_freeDDict (dd);
    ZSTD_freeCCtx (cc);
    ZSTD_freeDCtx (dc);
}

/*  A dictionary from records [from, to) but `skip`. */
static size_t
s_train (const s_recs_t *r, size_t from, size_t to, size_t skip, void *dict, size_t dcap)
{
    size_t *sizes = malloc ((to - from) * sizeof *sizes);
    ts_buf_t samples = { 0 };
    size_t ns = 0;
    const char *at = r->bytes.data;
    for (size_t i = 0; i < to; at += r->sizes [i], i++) {
        if (i < from || i == skip)
            continue;
        if (ts_buf_append (&samples, at, r->sizes [i]))
            s_die ("out of memory");
        sizes [ns++] = r->sizes [i];
    }
    size_t d;
    if (getenv ("BENCH_ZSTD_K")) {
        ZDICT_fastCover_params_t fp = { .k = (unsigned) atoi (getenv ("BENCH_ZSTD_K")), .d = 8,
                                        .f = 20, .accel = 1 };
        fp.zParams.compressionLevel = 3;
        d = ZDICT_trainFromBuffer_fastCover (dict, dcap, samples.data, sizes, (unsigned) ns, fp);
    }
    else
        d = ZDICT_trainFromBuffer (dict, dcap, samples.data, sizes, (unsigned) ns);
    free (sizes);
    ts_buf_free (&samples);
    if (ZDICT_isError (d))
        s_die (ZDICT_getErrorName (d));
    return d;
}

/*  --gets N: the records into one shard each of none and small (a temp
 *  dir), then N gets of random ids from each, alternating in rounds of
 *  1,000: the time a warm get spends in the store, compressed or not. */
static void
s_gets (const s_recs_t *r, size_t gets)
{
    char dir [] = "/tmp/bench_zstd.XXXXXX";
    if (!mkdtemp (dir))
        s_die ("mkdtemp");
    ts_store_t *st [2];
    static const ts_compress_t modes [2] = { TS_COMPRESS_NONE, TS_COMPRESS_SMALL };
    char path [2][64];
    for (int m = 0; m < 2; m++) {
        int err;
        char emsg [512];
        snprintf (path [m], sizeof path [m], "%s/%s.kct", dir, ts_compress_name (modes [m]));
        if (!(st [m] = ts_store_open (path [m], NULL, &err, emsg, sizeof emsg)))
            s_die (emsg);
        ts_store_set_compress (st [m], modes [m]);
        /* batches of 500 records, one commit each */
        const char *at = r->bytes.data;
        for (size_t i = 0; i < r->n; ) {
            ts_buf_t recs = { 0 };
            uint32_t n = 0;
            msgpack_packer pk;
            msgpack_packer_init (&pk, &recs, ts_buf_packer_write);
            for (; i < r->n && n < 500; at += r->sizes [i], i++, n++)
                if (msgpack_pack_bin (&pk, r->sizes [i]) || msgpack_pack_bin_body (&pk, at, r->sizes [i]))
                    s_die ("out of memory");
            ts_batch_t b = { .job = "bench", .job_len = 5, .chunk = i, .records = recs.data,
                             .records_len = recs.size, .nrecords = n };
            ts_batch_result_t res;
            if (ts_store_put_batches (st [m], &b, 1, &res))
                s_die (ts_store_errmsg (st [m]));
            ts_buf_free (&recs);
        }
    }
    /* the ids, from each record's summary */
    const char **ids = malloc (r->n * sizeof *ids);
    size_t *idl = malloc (r->n * sizeof *idl);
    const char *at = r->bytes.data;
    for (size_t i = 0; i < r->n; at += r->sizes [i], i++) {
        ts_summary_t sum;
        if (ts_summary_unpack_buf (at, r->sizes [i], &sum, NULL))
            s_die ("a record without a summary");
        ids [i] = sum.id;
        idl [i] = sum.id_len;
    }
    double secs [2] = { 0, 0 }, cpu [2] = { 0, 0 };
    size_t done [2] = { 0, 0 };
    /* each get's wall time, for the p50: on a loaded machine the mean is
     * mostly the time the thread waited for a core; the thread's CPU time
     * a round of 1,000 says what the get itself costs */
    double *lat [2];
    size_t cap = gets + 1000;
    if (!(lat [0] = malloc (cap * sizeof (double))) || !(lat [1] = malloc (cap * sizeof (double))))
        s_die ("out of memory");
    ts_buf_t got = { 0 };
    uint64_t x = 88172645463325252u;
    while (done [1] < gets)
        for (int m = 0; m < 2; m++) {
            double c0 = bq_cpu_self ();
            for (int k = 0; k < 1000; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                size_t i = x % r->n;
                got.size = 0;
                double t0 = bq_now ();
                if (ts_store_get (st [m], ids [i], idl [i], &got))
                    s_die (ts_store_errmsg (st [m]));
                double t = bq_now () - t0;
                secs [m] += t;
                lat [m][done [m]++] = t;
            }
            cpu [m] += bq_cpu_self () - c0;
        }
    for (int m = 0; m < 2; m++) {
        struct stat sb;
        char rec [64];
        snprintf (rec, sizeof rec, "%.*s.rec", (int) strlen (path [m]) - 4, path [m]);
        stat (rec, &sb);
        bq_stats_t q;
        bq_stats_of (lat [m], done [m], &q);
        printf ("{\"mode\":\"gets\",\"compress\":\"%s\",\"gets\":%zu,\"get_us_mean\":%.2f,"
                "\"get_us_p50\":%.2f,\"get_cpu_us_mean\":%.2f,\"records_file_bytes\":%lld}\n",
                ts_compress_name (modes [m]), done [m], secs [m] * 1e6 / (double) done [m],
                q.p50 * 1e3, cpu [m] * 1e6 / (double) done [m],
                (long long) sb.st_size);
        free (lat [m]);
        ts_store_destroy (&st [m]);
        unlink (path [m]);
        unlink (rec);
        char wal [80];
        snprintf (wal, sizeof wal, "%s.wal", path [m]);
        unlink (wal);
    }
    rmdir (dir);
    ts_buf_free (&got);
    free (ids);
    free (idl);
}

static void
s_print (const char *file, const char *mode, int level, size_t dict, double raw, double packed,
         double secs, double csecs, size_t count, double train_secs)
{
    printf ("{\"file\":\"%s\",\"mode\":\"%s\",\"level\":%d,\"dict_bytes\":%zu,\"records\":%zu,"
            "\"record_bytes_mean\":%.0f,\"ratio\":%.4f,\"compress_us_per_record\":%.2f,\"decompress_us_per_record\":%.2f,"
            "\"train_seconds\":%.3f}\n", file, mode, level, dict, count, raw / (double) count,
            packed / raw, csecs * 1e6 / (double) count, secs * 1e6 / (double) count, train_secs);
    fflush (stdout);
}

int
main (int argc, char **argv)
{
    const char *profile = "default", *file = NULL;
    size_t train = 2000, dsize = 65536;
    bool loo = false;
    size_t gets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv [i], "--profile") && i + 1 < argc)
            profile = argv [++i];
        else if (!strcmp (argv [i], "--train") && i + 1 < argc)
            train = strtoul (argv [++i], NULL, 10);
        else if (!strcmp (argv [i], "--dict-size") && i + 1 < argc)
            dsize = strtoul (argv [++i], NULL, 10);
        else if (!strcmp (argv [i], "--loo"))
            loo = true;
        else if (!strcmp (argv [i], "--gets") && i + 1 < argc)
            gets = strtoul (argv [++i], NULL, 10);
        else if (argv [i][0] != '-' && !file)
            file = argv [i];
        else {
            fprintf (stderr, "usage: bench_zstd [--profile P] [--train N] [--dict-size B] "
                     "[--loo] [--gets N] FILE.jsonl\n");
            return 2;
        }
    }
    if (!file) {
        fprintf (stderr, "usage: bench_zstd [--profile P] [--train N] [--dict-size B] "
                 "[--loo] [--gets N] FILE.jsonl\n");
        return 2;
    }
    s_recs_t r = { 0 };
    s_load (file, profile, &r);
    if (r.n < 2)
        s_die ("fewer than 2 records");
    if (train > r.n)
        train = r.n;
    if (gets) {
        s_gets (&r, gets);
        free (r.sizes);
        ts_buf_free (&r.bytes);
        return 0;
    }
    static const int levels [] = { 1, 3, 6, 9, 19 };
    void *dict = malloc (dsize);
    if (!dict)
        s_die ("out of memory");
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        double raw = 0, packed = 0, secs = 0, csecs = 0;
        size_t count = 0;
        s_run (&r, r.n, levels [l], NULL, 0, &raw, &packed, &secs, &csecs, &count);
        s_print (file, "no-dict", levels [l], 0, raw, packed, secs, csecs, count, 0);
    }
    for (size_t l = 0; l < sizeof levels / sizeof *levels; l++) {
        double raw = 0, packed = 0, secs = 0, csecs = 0, tsecs = 0;
        size_t count = 0, dlen = 0;
        if (loo) {
            for (size_t i = 0; i < r.n; i++) {
                double t0 = bq_now ();
                dlen = s_train (&r, 0, r.n, i, dict, dsize);
                tsecs += bq_now () - t0;
                /* only record i, with the others' dictionary */
                s_recs_t one = { .n = 1 };
                size_t off = 0;
                for (size_t k = 0; k < i; k++)
                    off += r.sizes [k];
                one.bytes.data = r.bytes.data + off;
                one.sizes = &r.sizes [i];
                s_run (&one, 1, levels [l], dict, dlen, &raw, &packed, &secs, &csecs, &count);
            }
            tsecs /= (double) r.n;
        }
        else {
            double t0 = bq_now ();
            dlen = s_train (&r, 0, train, r.n, dict, dsize);
            tsecs = bq_now () - t0;
            s_run (&r, r.n, levels [l], dict, dlen, &raw, &packed, &secs, &csecs, &count);
        }
        s_print (file, loo ? "dict-leave-one-out" : "dict", levels [l], dlen, raw, packed, secs,
                 csecs, count, tsecs);
    }
    free (dict);
    free (r.sizes);
    ts_buf_free (&r.bytes);
    return 0;
}
