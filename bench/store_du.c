/*  store_du: where a store's bytes go (issue #18). For each shard file
 *  given (shard-NNN.kct, read-only, no lock: run it on a stopped stack),
 *  the key and value bytes summed by the key's first byte (its tag), and
 *  the tree file's size against those live bytes: what Kyoto Cabinet's
 *  pages, alignment and free blocks add. Then the records files (.rec*)
 *  beside it. The totals of every shard last.
 *
 *      store_du [--each] [--postings] DATA/shards/shard-*.kct
 *
 *  --postings: the F values taken apart (issue #15's size): the bytes of
 *  the (step, position) pairs against the rest (per record its sequence
 *  delta and term frequency, each field's bytes; the segments' times,
 *  F seg8, once a record), and what
 *  zstd (level 3, each value alone) makes of the values whole, without
 *  positions, and of the sequence deltas alone.
 */
#include "ts_store.h"
#include "ts_search_int.h"

#include <zstd.h>

#include <kclangc.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    uint64_t n [256], kb [256], vb [256];
    uint64_t file, rec, leaves, inners;
    uint64_t posts, pos_b, nopos_b, z_b, z_nopos_b;    /* --postings */
    uint64_t seq_b, time_b, tf_b, z_seq_b;              /* the rest, by field */
} s_du_t;

static bool s_postings;

static int
s_post (void *arg, const search_post_t *p)
{
    s_du_t *du = arg;
    du->posts++;
    du->pos_b += p->plen;
    return 0;
}

/*  One F value: its positions' bytes, zstd of it whole and without them. */
static void
s_postings_of (s_du_t *du, const char *v, size_t vlen, ts_buf_t *nopos, ts_buf_t *seqs,
               ts_buf_t *z)
{
    const uint8_t *p = (const uint8_t *) v, *end = p + vlen;
    if (search_block_decode (p, end, 0, NULL, s_post, du))
        return;
    /* the headers alone: the value with each record's positions cut out */
    nopos->size = seqs->size = 0;
    while (p < end) {
        const uint8_t *h = p, *at;
        uint64_t d, n, x;
        search_get_varint (&p, end, &d);
        ts_buf_append (seqs, h, (size_t) (p - h));
        du->seq_b += (size_t) (p - h);
        at = p;
        search_get_varint (&p, end, &n);
        du->tf_b += (size_t) (p - at);
        ts_buf_append (nopos, h, (size_t) (p - h));
        for (uint64_t i = 0; i < 2 * n; i++)
            search_get_varint (&p, end, &x);
    }
    du->nopos_b += nopos->size;
    size_t bound = ZSTD_compressBound (vlen);
    if (ts_buf_reserve (z, bound))
        return;
    size_t zn = ZSTD_compress (z->data, bound, v, vlen, 3);
    du->z_b += ZSTD_isError (zn) ? vlen : zn;
    zn = ZSTD_compress (z->data, bound, nopos->data, nopos->size, 3);
    du->z_nopos_b += ZSTD_isError (zn) ? nopos->size : zn;
    zn = ZSTD_compress (z->data, bound, seqs->data, seqs->size, 3);
    du->z_seq_b += ZSTD_isError (zn) ? seqs->size : zn;
}

static long long
s_status (KCDB *db, const char *name)
{
    char *st = kcdbstatus (db);
    long long v = -1;
    size_t nl = strlen (name);
    for (char *line = st; line && *line; ) {
        char *end = strchr (line, '\n');
        if (!strncmp (line, name, nl) && line [nl] == '\t')
            v = atoll (line + nl + 1);
        line = end ? end + 1 : NULL;
    }
    kcfree (st);
    return v;
}

/*  Sizes of the records files beside a tree: path minus ".kct" + ".rec*". */
static uint64_t
s_rec_bytes (const char *path)
{
    char dir [4096], base [1024];
    const char *slash = strrchr (path, '/');
    snprintf (dir, sizeof dir, "%.*s", slash ? (int) (slash - path) : 1, slash ? path : ".");
    snprintf (base, sizeof base, "%.*s.rec", (int) (strlen (slash ? slash + 1 : path) - 4),
              slash ? slash + 1 : path);
    uint64_t total = 0;
    DIR *d = opendir (dir);
    struct dirent *e;
    while (d && (e = readdir (d)))
        if (!strncmp (e->d_name, base, strlen (base))) {
            char full [8192];
            struct stat sb;
            snprintf (full, sizeof full, "%s/%s", dir, e->d_name);
            if (stat (full, &sb) == 0)
                total += (uint64_t) sb.st_size;
        }
    if (d)
        closedir (d);
    return total;
}

static int
s_du (const char *path, s_du_t *du)
{
    KCDB *db = kcdbnew ();
    char full [4096];
    snprintf (full, sizeof full, "%s" TS_STORE_ZCOMP, path);
    if (!kcdbopen (db, full, KCOREADER | KCONOLOCK)) {
        fprintf (stderr, "store_du: %s: %s\n", path, kcdbemsg (db));
        kcdbdel (db);
        return -1;
    }
    KCCUR *cur = kcdbcursor (db);
    kccurjump (cur);
    size_t ksz, vsz;
    const char *vp;
    char *kp;
    ts_buf_t nopos = { 0 }, seqs = { 0 }, z = { 0 };
    while ((kp = kccurget (cur, &ksz, &vp, &vsz, 1))) {
        unsigned char tag = ksz ? (unsigned char) kp [0] : 0;
        du->n [tag]++;
        du->kb [tag] += ksz;
        du->vb [tag] += vsz;
        if (s_postings && tag == 'F' && ksz == 9)
            du->time_b += vsz;          /* a segment's times (F seg8) */
        else if (s_postings && tag == 'F')
            s_postings_of (du, vp, vsz, &nopos, &seqs, &z);
        kcfree (kp);
    }
    kccurdel (cur);
    ts_buf_free (&nopos);
    ts_buf_free (&seqs);
    ts_buf_free (&z);
    long long lc = s_status (db, "lcnt"), ic = s_status (db, "icnt");
    du->leaves += lc > 0 ? (uint64_t) lc : 0;
    du->inners += ic > 0 ? (uint64_t) ic : 0;
    kcdbclose (db);
    kcdbdel (db);
    struct stat sb;
    if (stat (path, &sb) == 0)
        du->file += (uint64_t) sb.st_size;
    du->rec += s_rec_bytes (path);
    return 0;
}

static void
s_print (const char *name, const s_du_t *du)
{
    uint64_t live = 0;
    printf ("%s\n  tag  entries      key B    value B  total MB  B/entry\n", name);
    for (int t = 0; t < 256; t++) {
        if (!du->n [t])
            continue;
        uint64_t b = du->kb [t] + du->vb [t];
        live += b;
        printf ("  %c  %9llu %10llu %10llu %9.2f %8.1f\n", t >= 32 && t < 127 ? t : '?',
                (unsigned long long) du->n [t], (unsigned long long) du->kb [t],
                (unsigned long long) du->vb [t], b / 1e6, (double) b / (double) du->n [t]);
    }
    printf ("  tree file %.2f MB, live key+value %.2f MB (%.2fx), %llu leaves %llu inner nodes\n"
            "  records files %.2f MB; store %.2f MB\n",
            du->file / 1e6, live / 1e6, live ? (double) du->file / (double) live : 0,
            (unsigned long long) du->leaves, (unsigned long long) du->inners,
            du->rec / 1e6, (du->file + du->rec) / 1e6);
    if (s_postings && du->vb ['F'])
        printf ("  postings (F values): %llu record entries, %.2f MB: positions %.2f MB, "
                "the rest %.2f MB (sequence deltas %.2f, times %.2f, frequencies %.2f)\n"
                "  zstd -3 a value: whole %.2f MB, without positions %.2f MB, sequence deltas "
                "alone %.2f MB\n",
                (unsigned long long) du->posts, du->vb ['F'] / 1e6, du->pos_b / 1e6,
                du->nopos_b / 1e6, du->seq_b / 1e6, du->time_b / 1e6, du->tf_b / 1e6,
                du->z_b / 1e6, du->z_nopos_b / 1e6, du->z_seq_b / 1e6);
}

int
main (int argc, char **argv)
{
    int each = 0, first = 1;
    for (; first < argc && argv [first][0] == '-'; first++) {
        if (!strcmp (argv [first], "--each"))
            each = 1;
        else if (!strcmp (argv [first], "--postings"))
            s_postings = true;
        else
            break;
    }
    if (first >= argc) {
        fprintf (stderr, "usage: store_du [--each] [--postings] SHARD.kct...\n");
        return 2;
    }
    s_du_t *all = calloc (1, sizeof *all), *one = calloc (1, sizeof *one);
    if (!all || !one)
        return 1;
    for (int i = first; i < argc; i++) {
        memset (one, 0, sizeof *one);
        if (s_du (argv [i], one))
            return 1;
        if (each)
            s_print (argv [i], one);
        for (int t = 0; t < 256; t++) {
            all->n [t] += one->n [t];
            all->kb [t] += one->kb [t];
            all->vb [t] += one->vb [t];
        }
        all->file += one->file;
        all->rec += one->rec;
        all->leaves += one->leaves;
        all->inners += one->inners;
        all->posts += one->posts;
        all->pos_b += one->pos_b;
        all->nopos_b += one->nopos_b;
        all->z_b += one->z_b;
        all->z_nopos_b += one->z_nopos_b;
        all->seq_b += one->seq_b;
        all->time_b += one->time_b;
        all->tf_b += one->tf_b;
        all->z_seq_b += one->z_seq_b;
    }
    s_print ("all shards", all);
    free (all);
    free (one);
    return 0;
}
