/*  ts_store_rec.c: a shard's records file, its records compressed or not,
 *  and the dictionaries they are compressed with (parts of a shard:
 *  ts_store_int.h).
 */
#include "ts_store_int.h"
#include "ts_error.h"
#include "ts_key.h"
#include "ts_mp.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ts_io.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>
#define ZDICT_STATIC_LINKING_ONLY       /* fastCover with set parameters */
#include <zdict.h>
#include <zstd.h>

/* --- compression: dictionaries and their state ----------------------------
 *
 *  docs/DESIGN.md, "Compressed records". A shard that compresses samples
 *  its first records (S_TRAIN_RECORDS, or S_TRAIN_BYTES of them; stored
 *  compressed without a dictionary meanwhile), trains a dictionary from
 *  them (fastCover, one pass: bench/bench_zstd measured it against
 *  ZDICT_trainFromBuffer's search, a fifth of the time for the same
 *  ratio), writes it under 'K' id in the same transaction and compresses
 *  every later record with it. Each window of S_WINDOW records compressed
 *  with it is compared with the first: a window S_DEGRADE times worse
 *  starts a new sample, and the new dictionary is kept only if it does
 *  better on that sample than the current one (else the window's ratio
 *  becomes the one to compare with). */
#define S_TRAIN_RECORDS 128
#define S_TRAIN_BYTES   (1u << 20)
#define S_DICT_BYTES    32768
#define S_WINDOW        4096
#define S_DEGRADE       1.25
#define S_BETTER        0.9     /* a new dictionary must reach 90 % of the old size */
#define S_DDICTS        8       /* dictionaries kept ready for reads */

struct store_z {
    int        level;           /* 0: records are stored as they are */
    ZSTD_CCtx *cc;
    ZSTD_DCtx *dc;
    ts_buf_t   out;             /* the open transaction's compressed records */
    uint32_t   dict;            /* the dictionary new records use, 0: none */
    ZSTD_CDict *cdict;          /* of it at `level`, or NULL until needed */
    uint32_t   ndicts;          /* the shard's dictionaries (ids 1..ndicts) */
    uint32_t   tx_from;         /* ndicts when the transaction began (rollback) */
    uint32_t   tx_dict;         /* and dict */
    bool       sampling;
    ts_buf_t   samples;
    size_t     sizes [S_TRAIN_RECORDS];
    unsigned   nsamples;
    uint64_t   win_raw, win_packed;
    unsigned   win_n;
    double     base;            /* the first window's ratio, 0: not measured */
    double     last;            /* the last window's */
    pthread_mutex_t rlock;      /* reads: dc, rbuf and the ready dictionaries */
    ts_buf_t   rbuf;
    struct { uint32_t id; ZSTD_DDict *dd; } ready [S_DDICTS];
    unsigned   ready_next;
};

size_t
store_loc_pack (char *b, const store_loc_t *loc)
{
    b [0] = S_LOC_TAG;
    ts_key_put_i64 (b + 1, (int64_t) loc->off);
    uint32_t w [3] = { loc->len, loc->raw, loc->dict };
    for (int k = 0; k < (loc->packed ? 3 : 1); k++)
        for (int i = 0; i < 4; i++)
            b [9 + 4 * k + i] = (char) (w [k] >> (24 - 8 * i));
    return loc->packed ? S_LOC_ZLEN : S_LOC_LEN;
}

static uint32_t
s_get32 (const char *v)
{
    const unsigned char *u = (const unsigned char *) v;
    return (uint32_t) u [0] << 24 | (uint32_t) u [1] << 16 | (uint32_t) u [2] << 8 | u [3];
}

/*  Is a D value a locator? Then where the record is, and how stored. */
bool
store_loc_unpack (const char *v, size_t vlen, store_loc_t *loc)
{
    if ((vlen != S_LOC_LEN && vlen != S_LOC_ZLEN) || v [0] != S_LOC_TAG)
        return false;
    loc->off = (uint64_t) ts_key_get_i64 (v + 1);
    loc->len = s_get32 (v + 9);
    loc->packed = vlen == S_LOC_ZLEN;
    loc->raw = loc->packed ? s_get32 (v + 13) : loc->len;
    loc->dict = loc->packed ? s_get32 (v + 17) : 0;
    return true;
}

static size_t
s_dict_key (char *key, uint32_t id)
{
    key [0] = S_TAG_DICT;
    for (int i = 0; i < 4; i++)
        key [1 + i] = (char) (id >> (24 - 8 * i));
    return 5;
}

int
ts_compress_parse (const char *name, ts_compress_t *out)
{
    static const char *const names [] = { "none", "fast", "small" };
    for (int i = 0; i < 3; i++)
        if (name && !strcmp (name, names [i])) {
            *out = (ts_compress_t) i;
            return 0;
        }
    return TS_EINVAL;
}

const char *
ts_compress_name (ts_compress_t mode)
{
    return mode == TS_COMPRESS_NONE ? "none" : mode == TS_COMPRESS_FAST ? "fast" : "small";
}

void
ts_store_set_compress (ts_store_t *self, ts_compress_t mode)
{
    assert (self);
    int level = mode == TS_COMPRESS_NONE ? 0 : mode == TS_COMPRESS_FAST ? 1 : 3;
    if (level != self->z->level) {
        ZSTD_freeCDict (self->z->cdict);        /* made for the old level */
        self->z->cdict = NULL;
        self->z->level = level;
    }
}

void
ts_store_dicts (ts_store_t *self, uint32_t *count, uint32_t *current)
{
    assert (self && count && current);
    *count = self->z->ndicts;
    *current = self->z->dict;
}

/*  The error of zstd or of its memory, with the message saved. */
static int
s_z_error (ts_store_t *self, const char *what, size_t zrc)
{
    snprintf (self->errmsg, sizeof self->errmsg, "%s: %s: %s", self->rec_path, what,
              zrc ? ZSTD_getErrorName (zrc) : "out of memory");
    return zrc ? TS_ESTORE : TS_ENOMEM;
}

/*  Dictionary `id`'s bytes from the tree (kcfree them), or NULL with the
 *  error saved. */
static char *
s_dict_load (ts_store_t *self, uint32_t id, size_t *len, int *rc)
{
    char key [5];
    char *v = kcdbget (self->db, key, s_dict_key (key, id), len);
    if (!v) {
        if (kcdbecode (self->db) != KCENOREC)
            *rc = store_kc_error (self, "read a dictionary");
        else {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: dictionary %u is missing",
                      self->path, id);
            *rc = TS_ECORRUPT;
        }
    }
    return v;
}

/*  The decompression dictionary `id`, made ready (called with rlock). */
static ZSTD_DDict *
s_ddict (ts_store_t *self, uint32_t id, int *rc)
{
    struct store_z *z = self->z;
    for (unsigned i = 0; i < S_DDICTS; i++)
        if (z->ready [i].dd && z->ready [i].id == id)
            return z->ready [i].dd;
    size_t len;
    char *v = s_dict_load (self, id, &len, rc);
    if (!v)
        return NULL;
    ZSTD_DDict *dd = ZSTD_createDDict (v, len);
    kcfree (v);
    if (!dd) {
        *rc = s_z_error (self, "load a dictionary", 0);
        return NULL;
    }
    unsigned slot = z->ready_next++ % S_DDICTS;
    ZSTD_freeDDict (z->ready [slot].dd);
    z->ready [slot].id = id;
    z->ready [slot].dd = dd;
    return dd;
}

/*  Forgets dictionaries from id `from` on (a rolled-back transaction's). */
static void
s_ddict_forget (struct store_z *z, uint32_t from)
{
    for (unsigned i = 0; i < S_DDICTS; i++)
        if (z->ready [i].dd && z->ready [i].id >= from) {
            ZSTD_freeDDict (z->ready [i].dd);
            z->ready [i].dd = NULL;
        }
}

/*  The compression dictionary of z->dict at z->level, made when needed. */
static int
s_cdict (ts_store_t *self)
{
    struct store_z *z = self->z;
    if (z->cdict || !z->dict)
        return 0;
    size_t len;
    int rc = 0;
    char *v = s_dict_load (self, z->dict, &len, &rc);
    if (!v)
        return rc;
    z->cdict = ZSTD_createCDict (v, len, z->level);
    kcfree (v);
    return z->cdict ? 0 : s_z_error (self, "load a dictionary", 0);
}

/*  The compressed size of the samples with cdict (NULL: without one). */
static size_t
s_sample_size (struct store_z *z, const ZSTD_CDict *cdict, char *buf, size_t cap)
{
    size_t total = 0;
    const char *at = z->samples.data;
    for (unsigned i = 0; i < z->nsamples; at += z->sizes [i], i++) {
        size_t c = cdict ? ZSTD_compress_usingCDict (z->cc, buf, cap, at, z->sizes [i], cdict)
                         : ZSTD_compressCCtx (z->cc, buf, cap, at, z->sizes [i], z->level);
        total += ZSTD_isError (c) ? z->sizes [i] : c;
    }
    return total;
}

/*  Trains a dictionary from the samples; when it does better than the
 *  current one, writes it under K (inside the open transaction) and new
 *  records use it. A sample zstd cannot train from (too few or too alike
 *  records) leaves the current dictionary in place. */
static int
s_train (ts_store_t *self)
{
    struct store_z *z = self->z;
    z->sampling = false;
    char *dict = malloc (S_DICT_BYTES);
    size_t cap = ZSTD_compressBound (S_TRAIN_BYTES);
    char *buf = malloc (cap);
    int rc = 0;
    if (!dict || !buf) {
        rc = s_z_error (self, "train a dictionary", 0);
        goto done;
    }
    ZDICT_fastCover_params_t fp = { .k = 1000, .d = 8, .f = 20, .accel = 1 };
    fp.zParams.compressionLevel = z->level;
    size_t len = ZDICT_trainFromBuffer_fastCover (dict, S_DICT_BYTES, z->samples.data, z->sizes,
                                                  z->nsamples, fp);
    if (ZDICT_isError (len))
        goto done;                      /* sampled again after a window */
    ZSTD_CDict *cd = ZSTD_createCDict (dict, len, z->level);
    if (!cd) {
        rc = s_z_error (self, "train a dictionary", 0);
        goto done;
    }
    if ((rc = s_cdict (self))) {
        ZSTD_freeCDict (cd);
        goto done;
    }
    size_t mine = s_sample_size (z, cd, buf, cap);
    if (z->dict && (double) mine > S_BETTER * (double) s_sample_size (z, z->cdict, buf, cap)) {
        ZSTD_freeCDict (cd);            /* no better: the data changed for good */
        z->base = z->last;
        goto done;
    }
    char key [5];
    if (!kcdbset (self->db, key, s_dict_key (key, z->ndicts + 1), dict, len)) {
        ZSTD_freeCDict (cd);
        rc = store_kc_error (self, "write a dictionary");
        goto done;
    }
    ZSTD_freeCDict (z->cdict);
    z->cdict = cd;
    z->dict = ++z->ndicts;
    z->base = 0;
done:
    z->nsamples = 0;
    ts_buf_free (&z->samples);          /* up to 1 MiB a shard, seldom needed again */
    z->win_raw = z->win_packed = 0;
    z->win_n = 0;
    free (dict);
    free (buf);
    return rc;
}
/*  The error of a system call on the records file, with the message saved. */
static int
s_rec_error (ts_store_t *self, const char *what, int e)
{
    snprintf (self->errmsg, sizeof self->errmsg, "%s: %s: %s", self->rec_path, what,
              strerror (e));
    if (e == ENOSPC || e == EDQUOT)
        return -ENOSPC;
    if (e == EACCES || e == EPERM || e == EROFS)
        return -EACCES;
    return TS_ESTORE;
}

/*  The path of generation `gen` of the records file: shard-NNN.rec, then
 *  shard-NNN.rec.1, .2, ... (a compaction writes the next; ts_store_drop.c).
 *  Malloc'd, or NULL. */
char *
store_rec_path (const ts_store_t *self, uint64_t gen)
{
    size_t plen = strlen (self->path);
    char *p = malloc (plen + 24);
    if (!p)
        return NULL;
    memcpy (p, self->path, plen - 4);
    if (gen == 0)
        strcpy (p + plen - 4, ".rec");
    else
        snprintf (p + plen - 4, 28, ".rec.%llu", (unsigned long long) gen);
    return p;
}

/*  Opens (creates) the records file of the shard's generation (key 'g'),
 *  removes the files of the generations next to it (a compaction that a
 *  crash interrupted, before or after its commit) and cuts the file back
 *  to the committed length. */
int
store_rec_open (ts_store_t *self)
{
    struct store_z *z = self->z = calloc (1, sizeof *self->z);
    if (!z)
        return TS_ENOMEM;
    pthread_mutex_init (&z->rlock, NULL);
    if (!(z->cc = ZSTD_createCCtx ()) || !(z->dc = ZSTD_createDCtx ()))
        return TS_ENOMEM;
    ts_store_set_compress (self, TS_COMPRESS_DEFAULT);
    /* the dictionaries are K 1..n: the last key under K says n */
    KCCUR *cur = kcdbcursor (self->db);
    if (!cur)
        return TS_ENOMEM;
    char last [5] = { S_TAG_DICT, (char) 0xff, (char) 0xff, (char) 0xff, (char) 0xff };
    if (kccurjumpbackkey (cur, last, sizeof last)) {
        size_t klen, vlen;
        const char *v;
        char *k = kccurget (cur, &klen, &v, &vlen, 0);
        if (k && klen == 5 && k [0] == S_TAG_DICT)
            z->ndicts = s_get32 (k + 1);
        kcfree (k);
    }
    kccurdel (cur);
    z->dict = z->ndicts;
    z->sampling = z->ndicts == 0;
    int64_t g;
    uint64_t gen = store_get_num (self->db, s_recgen_key, &g) ? (uint64_t) g : 0;
    for (int side = -1; side <= 1; side += 2) {
        if (gen == 0 && side < 0)
            continue;
        char *other = store_rec_path (self, gen + (uint64_t) (int64_t) side);
        if (!other)
            return TS_ENOMEM;
        if (unlink (other) && errno != ENOENT) {
            int e = errno;
            snprintf (self->errmsg, sizeof self->errmsg, "%s: cannot remove: %s", other,
                      strerror (e));
            free (other);
            return TS_ESTORE;
        }
        free (other);
    }
    if (!(self->rec_path = store_rec_path (self, gen)))
        return TS_ENOMEM;
    self->rec_fd = open (self->rec_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->rec_fd < 0)
        return s_rec_error (self, "cannot open", errno);
    int64_t len;
    self->rec_end = store_get_num (self->db, s_reclen_key, &len) ? (uint64_t) len : 0;
    self->rec_next = self->rec_end;
    struct stat st;
    if (fstat (self->rec_fd, &st))
        return s_rec_error (self, "cannot open", errno);
    if ((uint64_t) st.st_size < self->rec_end) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: holds %llu bytes, the shard's "
                  "records need %llu: it was cut short or replaced", self->rec_path,
                  (unsigned long long) st.st_size, (unsigned long long) self->rec_end);
        return TS_ECORRUPT;
    }
    if ((uint64_t) st.st_size > self->rec_end && ftruncate (self->rec_fd, (off_t) self->rec_end))
        return s_rec_error (self, "cannot cut back to its committed length", errno);
    return 0;
}

/*  Closes the records file and frees the compression state. */
void
store_rec_close (ts_store_t *self)
{
    if (self->rec_fd >= 0)
        close (self->rec_fd);
    struct store_z *z = self->z;
    if (!z)
        return;
    ZSTD_freeCCtx (z->cc);
    ZSTD_freeDCtx (z->dc);
    ZSTD_freeCDict (z->cdict);
    s_ddict_forget (z, 0);
    ts_buf_free (&z->out);
    ts_buf_free (&z->samples);
    ts_buf_free (&z->rbuf);
    pthread_mutex_destroy (&z->rlock);
    free (z);
    self->z = NULL;
}

/*  Makes room for one more record in the transaction's list. */
static int
s_iov_push (ts_store_t *self, const char *ptr, size_t len, const char *raw, size_t raw_len)
{
    if (self->niov == self->iov_cap) {
        size_t cap = self->iov_cap ? 2 * self->iov_cap : 256;
        struct iovec *v = realloc (self->iov, cap * sizeof *v);
        if (v)
            self->iov = v;
        struct iovec *r = v ? realloc (self->iov_raw, cap * sizeof *r) : NULL;
        if (!r) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
            return TS_ENOMEM;
        }
        self->iov_raw = r;
        self->iov_cap = cap;
    }
    /* the record as given stays readable until the commit (raw) */
    self->iov_raw [self->niov] = (struct iovec) { (void *) raw, raw_len };
    self->iov [self->niov++] = (struct iovec) { (void *) ptr, len };
    return 0;
}

/*  Compresses a record onto z->out: its size there, 0 when it would not
 *  shrink (stored as it is), or an error. */
static int
s_compress (ts_store_t *self, const char *ptr, uint32_t len, size_t *clen)
{
    struct store_z *z = self->z;
    *clen = 0;
    int rc = s_cdict (self);
    if (rc)
        return rc;
    size_t bound = ZSTD_compressBound (len);
    if (ts_buf_reserve (&z->out, bound))
        return s_z_error (self, "compress a record", 0);
    char *dst = z->out.data + z->out.size;
    size_t c = z->cdict ? ZSTD_compress_usingCDict (z->cc, dst, bound, ptr, len, z->cdict)
                        : ZSTD_compressCCtx (z->cc, dst, bound, ptr, len, z->level);
    if (ZSTD_isError (c))
        return s_z_error (self, "compress a record", c);
    if (c >= len)
        return 0;
    z->out.size += c;
    *clen = c;
    return 0;
}

/*  After a record was compressed to clen bytes: the sample and the
 *  windows that decide when to train a dictionary. */
static int
s_observe (ts_store_t *self, const char *ptr, uint32_t len, size_t clen)
{
    struct store_z *z = self->z;
    if (z->sampling) {
        if (z->samples.size + len <= S_TRAIN_BYTES) {
            if (ts_buf_append (&z->samples, ptr, len))
                return s_z_error (self, "keep a sample", 0);
            z->sizes [z->nsamples++] = len;
        }
        if (z->nsamples == S_TRAIN_RECORDS || z->samples.size + len > S_TRAIN_BYTES)
            return s_train (self);
        return 0;
    }
    z->win_raw += len;
    z->win_packed += clen ? clen : len;
    if (++z->win_n < S_WINDOW)
        return 0;
    z->last = (double) z->win_packed / (double) z->win_raw;
    if (!z->dict || (z->base > 0 && z->last > S_DEGRADE * z->base))
        z->sampling = true;             /* no dictionary yet, or it no longer fits */
    else if (z->base == 0)
        z->base = z->last;
    z->win_raw = z->win_packed = 0;
    z->win_n = 0;
    return 0;
}

/*  Inside the open transaction: the locator (loc, *loc_len bytes) of a
 *  record that will be written at the file's end, from `ptr` (borrowed
 *  until the commit) or compressed. */
int
store_rec_add (ts_store_t *self, const char *ptr, uint32_t len, char *loc, size_t *loc_len)
{
    struct store_z *z = self->z;
    store_loc_t l = { self->rec_next, len, len, 0, false };
    const char *raw = ptr;
    if (z->level) {
        if (!self->niov) {              /* the transaction's first record */
            z->tx_from = z->ndicts;
            z->tx_dict = z->dict;
        }
        size_t clen;
        uint32_t dict = z->dict;        /* s_observe may train a new one */
        int rc = s_compress (self, ptr, len, &clen);
        if (rc == 0)
            rc = s_observe (self, ptr, len, clen);
        if (rc)
            return rc;
        if (clen) {
            l = (store_loc_t) { self->rec_next, (uint32_t) clen, len, dict, true };
            ptr = NULL;                 /* in z->out */
        }
    }
    int rc = s_iov_push (self, ptr, l.len, raw, len);
    if (rc)
        return rc;
    store_loc_pack (loc, &l);
    *loc_len = l.packed ? S_LOC_ZLEN : S_LOC_LEN;
    self->rec_next += l.len;
    return 0;
}

/*  Inside the open transaction, last: its records into the file, and 'L'. */
int
store_rec_write (ts_store_t *self)
{
    if (!self->niov)
        return 0;
    const char *packed = self->z->out.data;     /* the NULL bases, in order */
    for (size_t i = 0; i < self->niov; i++)
        if (!self->iov [i].iov_base) {
            self->iov [i].iov_base = (void *) packed;
            packed += self->iov [i].iov_len;
        }
    uint64_t off = self->rec_end;
    struct iovec *v = self->iov;
    size_t n = self->niov;
    while (n > 0) {
        ssize_t w = pwritev (self->rec_fd, v, n > IOV_MAX ? IOV_MAX : (int) n, (off_t) off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return s_rec_error (self, "write records", errno);
        }
        off += (uint64_t) w;
        while (n > 0 && (size_t) w >= v->iov_len) {
            w -= (ssize_t) v->iov_len;
            v++;
            n--;
        }
        if (n > 0) {
            v->iov_base = (char *) v->iov_base + w;
            v->iov_len -= (size_t) w;
        }
    }
    return store_set_num (self, s_reclen_key, (int64_t) self->rec_next, "write records length");
}

/*  After the transaction: kept (the file's end moves) or not (cut back,
 *  and a dictionary it trained is forgotten with it). */
void
store_rec_end (ts_store_t *self, bool kept)
{
    struct store_z *z = self->z;
    if (kept)
        self->rec_end = self->rec_next;
    else {
        if (self->rec_next != self->rec_end) {
            self->rec_next = self->rec_end;
            if (ftruncate (self->rec_fd, (off_t) self->rec_end)) {
                /* the next open cuts it back: nothing names the tail */
            }
        }
        if (self->niov && z->level && z->ndicts != z->tx_from) {
            pthread_mutex_lock (&z->rlock);
            s_ddict_forget (z, z->tx_from + 1);
            pthread_mutex_unlock (&z->rlock);
            z->ndicts = z->tx_from;
            z->dict = z->tx_dict;
            z->sampling = !z->dict;     /* its sample went with it */
            ZSTD_freeCDict (z->cdict);
            z->cdict = NULL;
        }
    }
    z->out.size = 0;
    self->niov = 0;
}

/*  Appends record `seq`, stored where `loc` says, to out. */
int
store_rec_read (ts_store_t *self, uint64_t seq, const store_loc_t *loc, ts_buf_t *out)
{
    if (loc->off >= self->rec_end && loc->off < self->rec_next) {
        /* queued by the open transaction (a label set on a record stored
         * in the same commit): its bytes as given, still in the batch's
         * memory */
        uint64_t at = self->rec_end;
        for (size_t i = 0; i < self->niov; at += self->iov [i].iov_len, i++)
            if (at == loc->off && self->iov [i].iov_len == loc->len)
                return ts_buf_append (out, self->iov_raw [i].iov_base, self->iov_raw [i].iov_len)
                       ? TS_ENOMEM : 0;
    }
    if (loc->off > self->rec_end || loc->len > self->rec_end - loc->off) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: record %llu (%u bytes at %llu) lies "
                  "past the committed %llu", self->rec_path, (unsigned long long) seq, loc->len,
                  (unsigned long long) loc->off, (unsigned long long) self->rec_end);
        return TS_ECORRUPT;
    }
    struct store_z *z = self->z;
    ts_buf_t *to = out;
    if (loc->packed) {
        pthread_mutex_lock (&z->rlock);
        to = &z->rbuf;
        to->size = 0;
    }
    int rc = 0;
    if (ts_buf_reserve (to, loc->len)) {
        rc = TS_ENOMEM;
        goto done;
    }
    ssize_t r = ts_pread_full (self->rec_fd, to->data + to->size, loc->len, loc->off);
    if (r < 0) {
        rc = s_rec_error (self, "read a record", (int) -r);
        goto done;
    }
    if ((size_t) r < loc->len) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: ends before record %llu (%u bytes at "
                  "%llu)", self->rec_path, (unsigned long long) seq, loc->len,
                  (unsigned long long) loc->off);
        rc = TS_ECORRUPT;
        goto done;
    }
    to->size += loc->len;
    if (!loc->packed)
        return 0;
    ZSTD_DDict *dd = NULL;
    if (loc->dict && !(dd = s_ddict (self, loc->dict, &rc)))
        goto done;
    /* the frame says its length too: a damaged locator or frame is told
     * before any memory is taken for it */
    unsigned long long says = ZSTD_getFrameContentSize (to->data, to->size);
    if (says != loc->raw) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: record %llu (%u bytes at %llu) is "
                  "not the compressed record of %u bytes its locator says", self->rec_path,
                  (unsigned long long) seq, loc->len, (unsigned long long) loc->off, loc->raw);
        rc = TS_ECORRUPT;
        goto done;
    }
    if (ts_buf_reserve (out, loc->raw)) {
        rc = TS_ENOMEM;
        goto done;
    }
    char *dst = out->data + out->size;
    size_t d = dd ? ZSTD_decompress_usingDDict (z->dc, dst, loc->raw, to->data, to->size, dd)
                  : ZSTD_decompressDCtx (z->dc, dst, loc->raw, to->data, to->size);
    if (ZSTD_isError (d) || d != loc->raw) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: record %llu (%u bytes at %llu, "
                  "dictionary %u) does not decompress to its %u bytes: %s", self->rec_path,
                  (unsigned long long) seq, loc->len, (unsigned long long) loc->off, loc->dict,
                  loc->raw, ZSTD_isError (d) ? ZSTD_getErrorName (d) : "another length");
        rc = TS_ECORRUPT;
        goto done;
    }
    out->size += d;
done:
    if (loc->packed)
        pthread_mutex_unlock (&z->rlock);
    return rc;
}

/*  A value as readers see it: a D entry's record (read into buf, reset),
 *  any other value as it is. */
int
store_resolve (ts_store_t *self, const char *key, size_t klen, const char **val, size_t *vlen,
           ts_buf_t *buf)
{
    store_loc_t loc;
    if (klen == 9 && key [0] == TS_TAG_DATA && store_loc_unpack (*val, *vlen, &loc)) {
        buf->size = 0;
        int rc = store_rec_read (self, (uint64_t) ts_key_get_i64 (key + 1), &loc, buf);
        if (rc)
            return rc;
        *val = buf->data;
        *vlen = buf->size;
    }
    return 0;
}

/*  ts_store_check_records's walk over D's entries as stored. */
typedef struct {
    ts_store_t *self;
    uint64_t expect, found, gaps, *problems;
    char *first;
    size_t size;
} s_reccheck_t;

static int
s_reccheck_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_reccheck_t *rc = arg;
    store_loc_t loc;
    if (klen != 9 || !store_loc_unpack (val, vlen, &loc))
        return 0;                       /* a record of layout 4 or 5, in D itself */
    uint64_t off = loc.off;
    uint32_t len = loc.len;
    /* records lie in sequence order; the gaps are dropped records' bytes */
    if (off < rc->expect && (*rc->problems)++ == 0)
        snprintf (rc->first, rc->size, "%s: the record of sequence %llu lies at byte %llu, "
                  "not right after the one before it (which ends at byte %llu)", rc->self->rec_path,
                  (unsigned long long) ts_key_get_i64 (key + 1), (unsigned long long) off,
                  (unsigned long long) rc->expect);
    if (off > rc->expect)
        rc->gaps += off - rc->expect;
    rc->expect = off + len;
    rc->found++;
    return 0;
}

int
ts_store_check_records (ts_store_t *self, uint64_t *problems, char *first, size_t size)
{
    assert (self && problems && first);
    char d [1] = { TS_TAG_DATA };
    ts_scan_t sc = { .prefix = d, .prefix_len = 1 };
    s_reccheck_t c = { self, 0, 0, 0, problems, first, size };
    int rc = store_scan (self, &sc, s_reccheck_visit, &c, false);
    if (rc)
        return rc;
    if (c.expect > self->rec_end && (*problems)++ == 0)
        snprintf (first, size, "%s: the records end at byte %llu, past its committed length %llu",
                  self->rec_path, (unsigned long long) c.expect, (unsigned long long) self->rec_end);
    else if (c.expect <= self->rec_end) {
        /* every byte is a live record's or a dropped one's, counted in 'f' */
        uint64_t unused = c.gaps + (self->rec_end - c.expect);
        uint64_t freed = ts_store_freed_bytes (self);
        if (unused != freed && (*problems)++ == 0)
            snprintf (first, size, "%s: %llu bytes lie between or after the records, the "
                      "dropped records account for %llu", self->rec_path,
                      (unsigned long long) unused, (unsigned long long) freed);
    }
    return 0;
}
