/*  ts_store.c: a shard on Kyoto Cabinet's TreeDB and a records file beside
 *  it (ts_store.h, docs/DESIGN.md).
 *
 *  The one subtle part is the group commit in ts_store_put_batches: every
 *  batch is checked against its commit marker, each record's id is looked
 *  up (ids waiting for R, then R: a duplicate is counted and skipped), the
 *  record is queued for the records file and its D entry and index entries
 *  are set, and the totals deltas of the whole call are gathered in small
 *  in-memory tables and written once per group/model at the end, all inside
 *  one soft transaction; the records are written just before it commits.
 */
#include "ts_store.h"
#include "ts_error.h"
#include "ts_input.h"
#include "ts_key.h"
#include "ts_map.h"
#include "ts_mp.h"

#include <errno.h>
#include <kclangc.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* --- ids waiting for the id index ----------------------------------------
 *
 *  Ids are random by nature, so a commit that put its ids into R (id ->
 *  sequence) inserted all over R, and Kyoto Cabinet rewrites (and logs the
 *  old bytes of) every leaf a transaction touches: late in a large import
 *  each commit rewrote most of R for a few thousand records (one shard of
 *  300,000 records: 92 MB per CPU second with R written at every commit,
 *  188 without R). So the ids of new records wait here, in memory, and go
 *  into R sorted, many commits' worth in one pass (s_write_ids). A duplicate is looked for here, then in R.
 *
 *  What is here is not in the file, but nothing is lost: key 'I' holds the
 *  sequence from which R may lack ids (written by the commit that makes
 *  the first id wait, and by every pass), and the records from it on are
 *  in D with their ids, so an open after a crash reads them back into
 *  this table. A shard without 'I' (layout 4) has all its ids in R.
 *
 *  The table is a ts_map from id to sequence (as the value pointer:
 *  sequences start at 1, so never NULL). */
_Static_assert (sizeof (uintptr_t) >= sizeof (uint64_t), "a sequence fits a map value");

struct ts_store {
    KCDB *db;
    dev_t dev;                  /* identity of the file, for the registry */
    ino_t ino;
    bool  registered;
    char *path;
    char  errmsg [512];
    ts_buf_t scratch;
    bool     broken;            /* a commit failed: see ts_store_is_broken */
    bool     has_layout;        /* key V says S_LAYOUT */
    uint64_t next_seq;          /* the sequence of the next record stored */
    ts_map_t *pend;             /* ids stored but not yet in R -> sequence */
    size_t   pend_bytes;        /* of those ids */
    size_t   pend_max;          /* a pass into R at this many ids */
    int      rec_fd;            /* the records file, or -1 */
    char    *rec_path;
    uint64_t rec_end;           /* its committed length (key 'L') */
    uint64_t rec_next;          /* and what the open transaction adds */
    struct iovec *iov;          /* the records it adds, not written yet */
    size_t   niov, iov_cap;
};

/*  The next record sequence is kept under key 'P' (8 bytes), written in
 *  the transaction that uses it, so a rollback takes it back too. */
static const char s_next_key [1] = { 'P' };

/*  The key layout (ts_key.h) a shard was written with, under key 'V',
 *  written with the first commit: 2 since the group and model indexes end
 *  with the sequence, 3 since R holds the sequence alone, 4 since reward
 *  ties are ordered by ingest time, 5 since R may lag behind D (key 'I',
 *  below), 6 since records live in the records file (below). A shard with
 *  records and no 'V' is of layout 1. Shards of layouts 4 and 5 are read
 *  as they are (R complete without 'I', records in D) and say 6 once
 *  written: what they held stays where it is. */
#define S_LAYOUT 6
#define S_LAYOUT_READ 4     /* the oldest read */
static const char s_layout_key [1] = { 'V' };

/*  The number under a one-byte key ('P', 'V', 'N'): true when it holds one. */
static bool
s_get_num (KCDB *db, const char *key, int64_t *v)
{
    char b [16];
    if (kcdbgetbuf (db, key, 1, b, sizeof b) != 8)
        return false;
    *v = ts_key_get_i64 (b);
    return true;
}

static uint64_t
s_load_next_seq (KCDB *db)
{
    int64_t v;
    return s_get_num (db, s_next_key, &v) ? (uint64_t) v : 1;
}

const char *
ts_store_path (const ts_store_t *self)
{
    return self->path;
}

const char *
ts_store_errmsg (const ts_store_t *self)
{
    return self->errmsg;
}

/*  Maps Kyoto Cabinet's error to ours, with the message saved. */
static int
s_kc_error (ts_store_t *self, const char *what)
{
    int saved = errno;
    int code = kcdbecode (self->db);
    snprintf (self->errmsg, sizeof self->errmsg, "%s: %s: %s (%s%s%s)", self->path, what,
              code == KCESYSTEM && saved ? strerror (saved) : kcecodename (code),
              kcdbemsg (self->db), code == KCESYSTEM && saved ? ", " : "",
              code == KCESYSTEM && saved ? kcecodename (code) : "");
    if (code == KCESYSTEM && (saved == ENOSPC || saved == EDQUOT || strstr (kcdbemsg (self->db), "space")))
        return -ENOSPC;
    if (code == KCENOPERM || (code == KCESYSTEM && saved == EACCES))
        return -EACCES;
    if (code == KCEBROKEN)
        return TS_ECORRUPT;
    return TS_ESTORE;
}

/*  Writes the number under a one-byte key; `what` names it in an error. */
static int
s_set_num (ts_store_t *self, const char *key, int64_t v, const char *what)
{
    char b [8];
    ts_key_put_i64 (b, v);
    return kcdbset (self->db, key, 1, b, 8) ? 0 : s_kc_error (self, what);
}

static int s_space_check (ts_store_t *self, size_t bytes);

/*  A pass into R comes when this many ids wait, or their bytes reach
 *  S_PENDING_BYTES: it then costs a few hundred bytes a record instead of
 *  a few KiB, and an open after a crash reads at most this many records
 *  back from D. */
#define S_PENDING_IDS   32768
#define S_PENDING_BYTES (4u << 20)

static const char s_indexed_key [1] = { 'I' };

/*  The sequence of a waiting id: true when it waits. */
static bool
s_pend_find (const ts_store_t *self, const char *id, size_t len, uint64_t *seq)
{
    void *v = ts_map_size (self->pend) ? ts_map_get (self->pend, id, len) : NULL;
    if (v)
        *seq = (uint64_t) (uintptr_t) v;
    return v != NULL;
}

static int
s_pend_add (ts_store_t *self, const char *id, size_t len, uint64_t seq)
{
    if (ts_map_put (self->pend, id, len, (void *) (uintptr_t) seq))
        return TS_ENOMEM;
    self->pend_bytes += len;
    return 0;
}

/*  Forgets the waiting ids of sequence `from` and later: a transaction
 *  that added them rolled back (from 0: all, they are in R now). */
static void
s_pend_forget (ts_store_t *self, uint64_t from)
{
    if (from == 0) {
        ts_map_clear (self->pend);
        self->pend_bytes = 0;
        return;
    }
    size_t pos = 0, len;
    const void *id;
    void *v;
    while (ts_map_next (self->pend, &pos, &id, &len, &v))
        if ((uint64_t) (uintptr_t) v >= from) {
            self->pend_bytes -= len;
            ts_map_take (self->pend, id, len);
        }
}

typedef struct {
    const char *id;
    size_t      len;
    uint64_t    seq;
} s_idref_t;

static int
s_idref_cmp (const void *a, const void *b)
{
    const s_idref_t *x = a, *y = b;
    int c = memcmp (x->id, y->id, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/*  Inside the open transaction: every waiting id into R, in key order (so
 *  the pass walks R's leaves once, left to right), and 'I' past the last
 *  record. The table is emptied by the caller once the commit holds. */
static int
s_write_ids (ts_store_t *self)
{
    size_t n = 0, pos = 0, len;
    const void *id;
    void *v;
    s_idref_t *order = malloc (ts_map_size (self->pend) * sizeof *order + 1);
    if (!order)
        return TS_ENOMEM;
    while (ts_map_next (self->pend, &pos, &id, &len, &v))
        order [n++] = (s_idref_t) { id, len, (uint64_t) (uintptr_t) v };
    qsort (order, n, sizeof *order, s_idref_cmp);
    int rc = 0;
    char key [TS_KEY_MAX], seq8 [8];
    for (size_t i = 0; i < n && !rc; i++) {
        ts_key_put_i64 (seq8, (int64_t) order [i].seq);
        size_t klen = ts_key_record (key, order [i].id, order [i].len);
        if (!kcdbset (self->db, key, klen, seq8, 8))
            rc = s_kc_error (self, "write id index");
    }
    free (order);
    if (rc == 0)
        rc = s_set_num (self, s_indexed_key, (int64_t) self->next_seq, "write id index mark");
    return rc;
}

/*  fcntl locks belong to the process: a second handle on the same file in
 *  this process would not be refused by the lock, and closing it would drop
 *  the lock of the first (docs/DESIGN.md, "Storage layout and keys"). So
 *  the process keeps its own list of open shard files, by device and
 *  inode, and refuses a second open. */
enum { S_MAX_OPEN = 4096 };
static pthread_mutex_t s_open_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { dev_t dev; ino_t ino; } s_open [S_MAX_OPEN];
static size_t s_nopen;

/*  Is the file open in this process? Called with s_open_lock held. */
static bool
s_is_open (dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < s_nopen; i++)
        if (s_open [i].dev == dev && s_open [i].ino == ino)
            return true;
    return false;
}

static void
s_unregister (dev_t dev, ino_t ino)
{
    pthread_mutex_lock (&s_open_lock);
    for (size_t i = 0; i < s_nopen; i++)
        if (s_open [i].dev == dev && s_open [i].ino == ino) {
            s_open [i] = s_open [--s_nopen];
            break;
        }
    pthread_mutex_unlock (&s_open_lock);
}

/* --- the records file ------------------------------------------------------
 *
 *  A record's bytes (summary and object) go to the shard's records file,
 *  shard-NNN.rec beside shard-NNN.kct, appended in sequence order, and
 *  its D entry holds where they are: a locator, S_LOC_TAG then the offset
 *  (8 bytes) and the length (4). In the tree, 4 KiB records filled its
 *  leaves: Kyoto Cabinet copied each record into a leaf, the leaf into
 *  its page buffer at commit, and kept every leaf in its page cache;
 *  appended to a file of their own they are written once, from the
 *  chunk's buffer (a 1M import with 2 workers: 31.1 -> 21.8 s, measured
 *  with a probe that wrote records this way).
 *
 *  The file holds committed records only, back to back: a transaction
 *  writes its records (pwritev, from the batches) just before its commit,
 *  and the commit sets key 'L' to the file's new length. A rollback cuts
 *  the file back to 'L', and so does an open (a process that ended between
 *  the write and the commit left a tail that no D entry names). A file
 *  shorter than 'L' lost records: the open refuses it.
 *
 *  S_LOC_TAG is a byte msgpack never uses, so it never starts a record
 *  that layouts 4 and 5 kept in D itself: both kinds are read. */
#define S_LOC_TAG ((char) 0xc1)
#define S_LOC_LEN 13
static const char s_reclen_key [1] = { 'L' };

static void
s_loc_pack (char *b, uint64_t off, uint32_t len)
{
    b [0] = S_LOC_TAG;
    ts_key_put_i64 (b + 1, (int64_t) off);
    for (int i = 0; i < 4; i++)
        b [9 + i] = (char) (len >> (24 - 8 * i));
}

/*  Is a D value a locator? Then where the record is. */
static bool
s_loc_unpack (const char *v, size_t vlen, uint64_t *off, uint32_t *len)
{
    if (vlen != S_LOC_LEN || v [0] != S_LOC_TAG)
        return false;
    *off = (uint64_t) ts_key_get_i64 (v + 1);
    const unsigned char *u = (const unsigned char *) v + 9;
    *len = (uint32_t) u [0] << 24 | (uint32_t) u [1] << 16 | (uint32_t) u [2] << 8 | u [3];
    return true;
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

/*  Opens (creates) the records file and cuts it back to the committed
 *  length. */
static int
s_rec_open (ts_store_t *self)
{
    size_t plen = strlen (self->path);
    if (!(self->rec_path = malloc (plen + 1)))
        return TS_ENOMEM;
    memcpy (self->rec_path, self->path, plen - 4);
    strcpy (self->rec_path + plen - 4, ".rec");
    self->rec_fd = open (self->rec_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->rec_fd < 0)
        return s_rec_error (self, "cannot open", errno);
    int64_t len;
    self->rec_end = s_get_num (self->db, s_reclen_key, &len) ? (uint64_t) len : 0;
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

/*  Inside the open transaction: the locator of a record that will be
 *  written from `ptr` (borrowed until the commit) at the file's end. */
static int
s_rec_add (ts_store_t *self, const char *ptr, uint32_t len, char *loc)
{
    if (self->niov == self->iov_cap) {
        size_t cap = self->iov_cap ? 2 * self->iov_cap : 256;
        struct iovec *v = realloc (self->iov, cap * sizeof *v);
        if (!v)
            return TS_ENOMEM;
        self->iov = v;
        self->iov_cap = cap;
    }
    self->iov [self->niov++] = (struct iovec) { (void *) ptr, len };
    s_loc_pack (loc, self->rec_next, len);
    self->rec_next += len;
    return 0;
}

/*  Inside the open transaction, last: its records into the file, and 'L'. */
static int
s_rec_write (ts_store_t *self)
{
    if (!self->niov)
        return 0;
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
    return s_set_num (self, s_reclen_key, (int64_t) self->rec_next, "write records length");
}

/*  After the transaction: kept (the file's end moves) or not (cut back). */
static void
s_rec_end (ts_store_t *self, bool kept)
{
    if (kept)
        self->rec_end = self->rec_next;
    else if (self->rec_next != self->rec_end) {
        self->rec_next = self->rec_end;
        if (ftruncate (self->rec_fd, (off_t) self->rec_end)) {
            /* the next open cuts it back: nothing names the tail */
        }
    }
    self->niov = 0;
}

/*  Appends the record at `off` to out. */
static int
s_rec_read (ts_store_t *self, uint64_t off, uint32_t len, ts_buf_t *out)
{
    if (off > self->rec_end || len > self->rec_end - off) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a record of %u bytes at %llu lies "
                  "past the committed %llu", self->rec_path, len, (unsigned long long) off,
                  (unsigned long long) self->rec_end);
        return TS_ECORRUPT;
    }
    if (ts_buf_reserve (out, len))
        return TS_ENOMEM;
    ssize_t r = ts_pread_full (self->rec_fd, out->data + out->size, len, off);
    if (r < 0)
        return s_rec_error (self, "read a record", (int) -r);
    if ((size_t) r < len) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: ends before the record of %u "
                  "bytes at %llu", self->rec_path, len, (unsigned long long) off);
        return TS_ECORRUPT;
    }
    out->size += len;
    return 0;
}

/*  A value as readers see it: a D entry's record (read into buf, reset),
 *  any other value as it is. */
static int
s_resolve (ts_store_t *self, const char *key, size_t klen, const char **val, size_t *vlen,
           ts_buf_t *buf)
{
    uint64_t off;
    uint32_t len;
    if (klen == 9 && key [0] == TS_TAG_DATA && s_loc_unpack (*val, *vlen, &off, &len)) {
        buf->size = 0;
        int rc = s_rec_read (self, off, len, buf);
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
    uint64_t expect, found, *problems;
    char *first;
    size_t size;
} s_reccheck_t;

static int
s_reccheck_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_reccheck_t *rc = arg;
    uint64_t off;
    uint32_t len;
    if (klen != 9 || !s_loc_unpack (val, vlen, &off, &len))
        return 0;                       /* a record of layout 4 or 5, in D itself */
    if (off != rc->expect && (*rc->problems)++ == 0)
        snprintf (rc->first, rc->size, "%s: the record of sequence %llu lies at byte %llu, "
                  "not right after the one before it (byte %llu)", rc->self->rec_path,
                  (unsigned long long) ts_key_get_i64 (key + 1), (unsigned long long) off,
                  (unsigned long long) rc->expect);
    rc->expect = off + len;
    rc->found++;
    return 0;
}

static int s_scan (ts_store_t *self, const ts_scan_t *sc, ts_store_visit_fn *fn, void *arg,
                   bool resolve);

int
ts_store_check_records (ts_store_t *self, uint64_t *problems, char *first, size_t size)
{
    char d [1] = { TS_TAG_DATA };
    ts_scan_t sc = { .prefix = d, .prefix_len = 1 };
    s_reccheck_t c = { self, 0, 0, problems, first, size };
    int rc = s_scan (self, &sc, s_reccheck_visit, &c, false);
    if (rc == 0 && c.found > 0 && c.expect != self->rec_end && (*problems)++ == 0)
        snprintf (first, size, "%s: the records end at byte %llu, its committed length is %llu",
                  self->rec_path, (unsigned long long) c.expect, (unsigned long long) self->rec_end);
    return rc;
}

/*  Reads the ids of the records from sequence `from` on back from D (an
 *  open after the process ended before they reached R). */
static int
s_reload_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    ts_store_t *self = arg;
    ts_summary_t s;
    if (klen != 9 || ts_summary_unpack_buf (val, vlen, &s, NULL) || !s.id_len) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: a record (key of %zu bytes) does "
                  "not decode", self->path, klen);
        return TS_ECORRUPT;
    }
    if (s_pend_add (self, s.id, s.id_len, (uint64_t) ts_key_get_i64 (key + 1))) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
        return TS_ENOMEM;
    }
    return 0;
}

static int
s_pend_reload (ts_store_t *self, uint64_t from)
{
    char prefix [1] = { TS_TAG_DATA }, key [16];
    ts_scan_t sc = { .prefix = prefix, .prefix_len = 1,
                     .from = key, .from_len = ts_key_data (key, from) };
    int rc = ts_store_scan (self, &sc, s_reload_visit, self);
    if (rc == TS_ESTORE)
        s_kc_error (self, "read records back into the id index");
    return rc;
}

/*  Refuses any use of a handle whose commit failed. */
static int
s_refuse_broken (ts_store_t *self)
{
    snprintf (self->errmsg, sizeof self->errmsg, "%s: an earlier commit failed; the shard "
              "must be reopened by a new process", self->path);
    return TS_ESTORE;
}

/*  Ends the open transaction: commits when rc is 0, else rolls back, and
 *  returns rc or the commit's error. Ids added to the waiting table by the
 *  transaction (sequences from `first` on) go when nothing was kept; all
 *  go when the commit kept them in R (`wrote_ids`). */
static int
s_end (ts_store_t *self, int rc, uint64_t first, bool wrote_ids)
{
    if (!kcdbendtran (self->db, rc == 0)) {
        /* Kyoto Cabinet leaves a handle whose commit failed half inside
         * its transaction: beginning another hangs, and closing it writes
         * a broken file. Only a new process can reopen it (the write-ahead
         * log then rolls back to the last commit), so the handle is never
         * used or closed again. */
        int failed = s_kc_error (self, rc == 0 ? "commit" : "roll back");
        if (rc == 0)
            rc = failed;
        self->broken = true;
        size_t len = strlen (self->errmsg);
        snprintf (self->errmsg + len, sizeof self->errmsg - len,
                  "; nothing of this commit is kept, the shard must be reopened");
    }
    s_rec_end (self, rc == 0);
    if (rc) {                           /* rolled back: so is the sequence */
        self->next_seq = s_load_next_seq (self->db);
        s_pend_forget (self, first);
    }
    else if (wrote_ids)
        s_pend_forget (self, 0);
    return rc;
}

int
ts_store_flush_ids (ts_store_t *self)
{
    size_t n = ts_map_size (self->pend);
    if (!n)
        return 0;
    if (self->broken)
        return s_refuse_broken (self);
    int rc = s_space_check (self, self->pend_bytes + 32 * n);
    if (rc)
        return rc;
    if (!kcdbbegintran (self->db, 0))
        return s_kc_error (self, "begin transaction");
    return s_end (self, s_write_ids (self), self->next_seq, true);
}

size_t
ts_store_pending_ids (const ts_store_t *self)
{
    return ts_map_size (self->pend);
}

void
ts_store_set_id_batch (ts_store_t *self, size_t ids)
{
    self->pend_max = ids ? ids : S_PENDING_IDS;
}

/*  Before a read that goes through R (by key or in id order): the waiting
 *  ids into R, so that it sees them. */
static int
s_settle (ts_store_t *self, const char *key, size_t klen)
{
    if (!ts_map_size (self->pend) || (klen > 0 && key [0] != TS_TAG_RECORD))
        return 0;
    return ts_store_flush_ids (self);
}

/*  Frees what a handle holds besides its Kyoto Cabinet handle. */
static void
s_free (ts_store_t *self)
{
    if (self->rec_fd >= 0)
        close (self->rec_fd);
    free (self->rec_path);
    free (self->iov);
    ts_buf_free (&self->scratch);
    ts_map_destroy (&self->pend);
    free (self->path);
    free (self);
}

ts_store_t *
ts_store_open (const char *path, const char *tuning, int *err, char *emsg, size_t emsg_size)
{
    ts_store_t *self = calloc (1, sizeof *self);
    char *full = NULL;
    bool locked = false;
    if (!self || !(self->path = strdup (path)) || !(self->db = kcdbnew ())
    ||  !(self->pend = ts_map_new (NULL))) {
        *err = TS_ENOMEM;
        snprintf (emsg, emsg_size, "%s: out of memory", path);
        goto fail;
    }
    self->rec_fd = -1;
    size_t plen = strlen (path);
    if (plen < 4 || strcmp (path + plen - 4, ".kct")) {
        *err = TS_EINVAL;
        snprintf (emsg, emsg_size, "%s: a shard file name must end in .kct", path);
        goto fail;
    }
    if (!tuning)
        tuning = TS_STORE_TUNING;
    full = malloc (plen + strlen (tuning) + 1);
    if (!full) {
        *err = TS_ENOMEM;
        goto fail;
    }
    strcpy (full, path);
    strcat (full, tuning);
    pthread_mutex_lock (&s_open_lock);
    locked = true;
    struct stat pre;
    if (stat (path, &pre) == 0 && s_is_open (pre.st_dev, pre.st_ino)) {
        *err = TS_ELOCKED;
        snprintf (emsg, emsg_size, "%s: cannot open: already open in this process", path);
        goto fail;
    }
    /* Never KCOTRUNCATE (it empties before locking) nor KCOAUTOTRAN (161
     * records/s); KCOTRYLOCK: a second owner fails at once, not blocks. */
    errno = 0;
    if (!kcdbopen (self->db, full, KCOWRITER | KCOCREATE | KCOTRYLOCK)) {
        int saved = errno;
        int code = kcdbecode (self->db);
        const char *m = kcdbemsg (self->db);
        /* a file that is not a Kyoto Cabinet B+ tree (errno is whatever
         * KC's last system call left: not the reason) */
        bool foreign = code == KCEBROKEN || (code == KCEINVALID && strstr (m, "magic"));
        if (foreign)
            *err = TS_ECORRUPT;
        else if (saved == EACCES && !strstr (m, "lock"))
            *err = -EACCES;
        else if (saved == EAGAIN || saved == EACCES || strstr (m, "lock"))
            *err = TS_ELOCKED;
        else if (saved == ENOSPC)
            *err = -ENOSPC;
        else if (code == KCENOPERM || saved == EROFS || saved == EPERM)
            *err = -EACCES;
        else if (saved == ENOENT)
            *err = -ENOENT;
        else
            *err = TS_ESTORE;
        if (foreign)
            snprintf (emsg, emsg_size, "%s: cannot open: not a shard file, or a damaged one (%s)",
                      path, m);
        else
            snprintf (emsg, emsg_size, "%s: cannot open: %s (%s%s%s)", path,
                      *err == TS_ELOCKED ? "held by another process" : ts_strerror (*err),
                      m, saved ? ", " : "", saved ? strerror (saved) : "");
        goto fail;
    }
    free (full);
    full = NULL;
    self->pend_max = S_PENDING_IDS;
    self->next_seq = s_load_next_seq (self->db);
    int64_t layout;
    bool written = s_get_num (self->db, s_layout_key, &layout);
    if (!written)
        layout = self->next_seq > 1 ? 1 : S_LAYOUT;
    self->has_layout = written && layout == S_LAYOUT;
    if (layout < S_LAYOUT_READ || layout > S_LAYOUT) {
        *err = TS_EVERSION;
        snprintf (emsg, emsg_size, "%s: written with key layout %lld, this trajstore reads "
                  "layouts %d to %d: export it with the trajstore that wrote it and import "
                  "the export into a new data directory", path, (long long) layout,
                  S_LAYOUT_READ, S_LAYOUT);
        kcdbclose (self->db);
        goto fail;
    }
    int rc = s_rec_open (self);
    if (rc) {
        *err = rc;
        snprintf (emsg, emsg_size, "%s", rc == TS_ENOMEM ? "out of memory" : self->errmsg);
        kcdbclose (self->db);
        goto fail;
    }
    int64_t indexed;
    if (s_get_num (self->db, s_indexed_key, &indexed) && (uint64_t) indexed < self->next_seq) {
        rc = s_pend_reload (self, (uint64_t) indexed);
        if (rc) {
            *err = rc;
            snprintf (emsg, emsg_size, "%s", self->errmsg);
            kcdbclose (self->db);
            goto fail;
        }
    }
    struct stat st;
    if (stat (path, &st) == 0 && s_nopen < S_MAX_OPEN) {
        self->dev = st.st_dev;
        self->ino = st.st_ino;
        self->registered = true;
        s_open [s_nopen].dev = st.st_dev;
        s_open [s_nopen].ino = st.st_ino;
        s_nopen++;
    }
    pthread_mutex_unlock (&s_open_lock);
    *err = 0;
    return self;
fail:
    if (locked)
        pthread_mutex_unlock (&s_open_lock);
    free (full);
    if (self) {
        if (self->db)
            kcdbdel (self->db);
        s_free (self);
    }
    return NULL;
}

void
ts_store_destroy (ts_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_store_t *self = *self_p;
    /* R gets the waiting ids now so that the next open need not read
     * them back (if this fails they are still in D: it will) */
    if (!self->broken)
        ts_store_flush_ids (self);
    if (!self->broken) {
        kcdbclose (self->db);
        kcdbdel (self->db);
    }
    /* else: the handle is left as it is (see ts_store_is_broken) */
    if (self->registered)
        s_unregister (self->dev, self->ino);
    s_free (self);
    *self_p = NULL;
}

bool
ts_store_is_broken (const ts_store_t *self)
{
    return self->broken;
}

/*  Refuses a commit the disk cannot take, before Kyoto Cabinet starts it:
 *  a commit that fails halfway leaves a handle only a restart can clear
 *  (ts_store_is_broken). A commit writes its records, their index entries,
 *  the rewritten tree pages and the write-ahead copies of what it changes:
 *  four times the records' bytes and 8 MiB of pages is a safe bound. */
static int
s_space_check (ts_store_t *self, size_t bytes)
{
    char dir [TS_KEY_MAX];
    snprintf (dir, sizeof dir, "%s", self->path);
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = 0;
    else
        snprintf (dir, sizeof dir, ".");
    struct statvfs vfs;
    if (statvfs (dir, &vfs))
        return 0;                       /* cannot tell: let the commit say */
    uint64_t avail = (uint64_t) vfs.f_bavail * vfs.f_frsize;
    uint64_t need = 4 * (uint64_t) bytes + (8u << 20);
    if (avail >= need)
        return 0;
    snprintf (self->errmsg, sizeof self->errmsg,
              "%s: no space left on device: %.1f MiB free, a commit of %.1f MiB needs %.1f MiB",
              self->path, (double) avail / 1048576.0, (double) bytes / 1048576.0,
              (double) need / 1048576.0);
    return -ENOSPC;
}

uint64_t
ts_store_count (ts_store_t *self)
{
    /* not kcdbcount: that counts every key (index entries, totals, commit
     * markers); the shard totals hold the number of records */
    ts_totals_t t;
    return ts_store_totals (self, &t) == 0 ? t.count : 0;
}

/* --- totals deltas of one transaction ----------------------------------- */

typedef struct {
    const char *name;        /* NULL: empty slot */
    size_t      len;
    ts_totals_t t;
} s_slot_t;

typedef struct {
    s_slot_t *slots;
    size_t    cap;           /* power of two */
    size_t    used;
} s_table_t;

static int
s_table_init (s_table_t *tab, size_t expected)
{
    size_t cap = 16;
    while (cap < 2 * expected)
        cap *= 2;
    tab->slots = calloc (cap, sizeof *tab->slots);
    tab->cap = cap;
    tab->used = 0;
    return tab->slots ? 0 : TS_ENOMEM;
}

static ts_totals_t *
s_table_get (s_table_t *tab, const char *name, size_t len)
{
    size_t i = (size_t) XXH3_64bits (name, len) & (tab->cap - 1);
    while (tab->slots [i].name) {
        if (tab->slots [i].len == len && !memcmp (tab->slots [i].name, name, len))
            return &tab->slots [i].t;
        i = (i + 1) & (tab->cap - 1);
    }
    tab->slots [i].name = name;
    tab->slots [i].len = len;
    ts_totals_init (&tab->slots [i].t);
    tab->used++;
    return &tab->slots [i].t;
}


/*  Reads the totals at key (absent: empty), adds delta, writes back. */
static int
s_merge_totals (ts_store_t *self, const char *key, size_t klen, const ts_totals_t *delta)
{
    ts_totals_t t;
    size_t vlen;
    char *v = kcdbget (self->db, key, klen, &vlen);
    if (v) {
        int rc = ts_totals_unpack (v, vlen, &t, NULL);
        kcfree (v);
        if (rc) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: stored totals do not decode", self->path);
            return TS_ECORRUPT;
        }
    }
    else if (kcdbecode (self->db) != KCENOREC)
        return s_kc_error (self, "read totals");
    else
        ts_totals_init (&t);
    ts_totals_merge (&t, delta);
    self->scratch.size = 0;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &self->scratch, ts_buf_packer_write);
    if (ts_totals_pack (&pk, &t))
        return TS_ENOMEM;
    if (!kcdbset (self->db, key, klen, self->scratch.data, self->scratch.size))
        return s_kc_error (self, "write totals");
    return 0;
}

static int
s_pack_result (ts_buf_t *buf, const ts_batch_result_t *r)
{
    msgpack_packer pk;
    buf->size = 0;
    msgpack_packer_init (&pk, buf, ts_buf_packer_write);
    if (msgpack_pack_array (&pk, 2) || msgpack_pack_uint32 (&pk, r->imported)
    ||  msgpack_pack_uint32 (&pk, r->duplicates))
        return TS_ENOMEM;
    return 0;
}

static int
s_unpack_result (const char *v, size_t vlen, ts_batch_result_t *r)
{
    ts_mp_reader_t rd;
    uint32_t n;
    uint64_t imp, dup;
    ts_mp_reader_init (&rd, v, vlen);
    if (ts_mp_read_array (&rd, &n) || n < 2 || ts_mp_read_uint (&rd, &imp)
    ||  ts_mp_read_uint (&rd, &dup))
        return TS_ECORRUPT;
    r->imported = (uint32_t) imp;
    r->duplicates = (uint32_t) dup;
    r->replayed = true;
    return 0;
}

int
ts_store_batch_result (ts_store_t *self, const char *job, size_t job_len, uint64_t chunk,
                       ts_batch_result_t *result)
{
    char key [TS_KEY_MAX];
    if (job_len > 256)
        return TS_EINVAL;
    size_t klen = ts_key_commit (key, job, job_len, chunk);
    char val [64];
    int32_t vlen = kcdbgetbuf (self->db, key, klen, val, sizeof val);
    if (vlen < 0)
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : s_kc_error (self, "read marker");
    return s_unpack_result (val, (size_t) vlen, result);
}

/*  Writes one batch inside the open transaction. */
static int
s_put_batch (ts_store_t *self, const ts_batch_t *b, ts_batch_result_t *res,
             ts_totals_t *shard, s_table_t *groups, s_table_t *models)
{
    char key [TS_KEY_MAX];
    memset (res, 0, sizeof *res);
    if (b->job_len == 0 || b->job_len > 256) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: bad job id length %zu", self->path, b->job_len);
        return TS_EINVAL;
    }
    size_t mlen = ts_key_commit (key, b->job, b->job_len, b->chunk);
    char mval [64];
    int32_t vlen = kcdbgetbuf (self->db, key, mlen, mval, sizeof mval);
    if (vlen >= 0)
        return s_unpack_result (mval, (size_t) vlen, res);
    if (kcdbecode (self->db) != KCENOREC)
        return s_kc_error (self, "read marker");

    ts_mp_reader_t rd;
    ts_mp_item_t it;
    ts_mp_reader_init (&rd, b->records, b->records_len);
    for (uint32_t i = 0; i < b->nrecords; i++) {
        ts_summary_t s;
        size_t used;
        if (ts_mp_next (&rd, &it) || it.type != TS_MP_BIN
        ||  ts_summary_unpack_buf (it.ptr, it.len, &s, &used)
        ||  s.id_len == 0 || s.id_len > TS_ID_MAX_BYTES
        ||  s.group_len > TS_GROUP_MAX_BYTES || s.model_len > TS_MODEL_MAX_BYTES) {
            snprintf (self->errmsg, sizeof self->errmsg,
                      "%s: record %u of batch (chunk %llu) does not decode", self->path, i,
                      (unsigned long long) b->chunk);
            return TS_ECORRUPT;
        }
        /* an id already stored (by an earlier commit or earlier in this
         * one) waits for R or is in it: a duplicate */
        uint64_t seq = self->next_seq, had;
        if (s_pend_find (self, s.id, s.id_len, &had)) {
            res->duplicates++;
            continue;
        }
        char seq8 [8];
        size_t klen = ts_key_record (key, s.id, s.id_len);
        if (kcdbgetbuf (self->db, key, klen, seq8, sizeof seq8) >= 0) {
            res->duplicates++;
            continue;
        }
        if (kcdbecode (self->db) != KCENOREC)
            return s_kc_error (self, "read id index");
        if (s_pend_add (self, s.id, s.id_len, seq)) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
            return TS_ENOMEM;
        }
        char loc [S_LOC_LEN];
        if (s_rec_add (self, it.ptr, it.len, loc)) {
            snprintf (self->errmsg, sizeof self->errmsg, "%s: out of memory", self->path);
            return TS_ENOMEM;
        }
        klen = ts_key_data (key, seq);
        if (!kcdbset (self->db, key, klen, loc, sizeof loc))
            return s_kc_error (self, "write record");
        self->next_seq++;
        res->imported++;
        /* the summary is the value of every index entry; G and M keys end
         * with the sequence, so they append within the group (model) */
        const char *sum = it.ptr;
        if (s.group) {
            klen = ts_key_group (key, s.group, s.group_len, seq);
            if (!kcdbset (self->db, key, klen, sum, used))
                return s_kc_error (self, "write group index");
            ts_totals_add (s_table_get (groups, s.group, s.group_len), &s);
        }
        if (s.model) {
            klen = ts_key_model (key, s.model, s.model_len, seq);
            if (!kcdbset (self->db, key, klen, sum, used))
                return s_kc_error (self, "write model index");
            ts_totals_add (s_table_get (models, s.model, s.model_len), &s);
        }
        if (s.has_reward) {
            klen = ts_key_reward (key, s.reward, s.ingested_ms, s.id, s.id_len);
            if (!kcdbset (self->db, key, klen, sum, used))
                return s_kc_error (self, "write reward index");
        }
        klen = ts_key_time (key, ts_summary_time (&s), s.id, s.id_len);
        if (!kcdbset (self->db, key, klen, sum, used))
            return s_kc_error (self, "write time index");
        ts_totals_add (shard, &s);
    }
    if (s_pack_result (&self->scratch, res))
        return TS_ENOMEM;
    if (!kcdbset (self->db, key, ts_key_commit (key, b->job, b->job_len, b->chunk),
                  self->scratch.data, self->scratch.size))
        return s_kc_error (self, "write commit marker");
    return 0;
}

/*  Packs a table's entries as [[name, totals]...]. */
static int
s_pack_table (msgpack_packer *pk, const s_table_t *tab)
{
    int rc = msgpack_pack_array (pk, tab->used);
    for (size_t i = 0; i < tab->cap && !rc; i++) {
        const s_slot_t *sl = &tab->slots [i];
        if (!sl->name)
            continue;
        rc = msgpack_pack_array (pk, 2) || ts_mp_pack_strn (pk, sl->name, sl->len)
          || ts_totals_pack (pk, &sl->t);
    }
    return rc ? TS_ENOMEM : 0;
}

static const char s_seq_key [1] = { 'N' };

uint64_t
ts_store_seq (ts_store_t *self)
{
    int64_t v;
    return s_get_num (self->db, s_seq_key, &v) ? (uint64_t) v : 0;
}

static int
s_flush_table (ts_store_t *self, s_table_t *tab, bool model)
{
    char key [TS_KEY_MAX];
    for (size_t i = 0; i < tab->cap; i++) {
        s_slot_t *sl = &tab->slots [i];
        if (!sl->name)
            continue;
        size_t klen = model ? ts_key_model_totals (key, sl->name, sl->len)
                            : ts_key_group_totals (key, sl->name, sl->len);
        int rc = s_merge_totals (self, key, klen, &sl->t);
        if (rc)
            return rc;
    }
    return 0;
}

int
ts_store_put_batches (ts_store_t *self, const ts_batch_t *batches, size_t n,
                      ts_batch_result_t *results)
{
    return ts_store_put_batches_delta (self, batches, n, results, NULL);
}

int
ts_store_put_batches_delta (ts_store_t *self, const ts_batch_t *batches, size_t n,
                            ts_batch_result_t *results, ts_buf_t *delta)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += batches [i].nrecords;
    s_table_t groups = { 0 }, models = { 0 };
    ts_totals_t shard;
    ts_totals_init (&shard);
    if (s_table_init (&groups, total) || s_table_init (&models, total)) {
        free (groups.slots);
        free (models.slots);
        return TS_ENOMEM;
    }
    int rc = 0;
    uint64_t seq = 0;
    uint64_t first = self->next_seq;    /* of what this call adds */
    size_t waited = ts_map_size (self->pend);
    bool wrote_ids = false;
    if (self->broken) {
        rc = s_refuse_broken (self);
        goto done;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += batches [i].records_len;
    if ((rc = s_space_check (self, bytes)))
        goto done;
    if (!kcdbbegintran (self->db, 0)) {
        rc = s_kc_error (self, "begin transaction");
        goto done;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = s_put_batch (self, &batches [i], &results [i], &shard, &groups, &models);
    }
    if (rc == 0 && shard.count > 0) {
        char key [1] = { TS_TAG_SHARD_TOTALS };
        rc = s_merge_totals (self, key, 1, &shard);
        if (rc == 0)
            rc = s_flush_table (self, &groups, false);
        if (rc == 0)
            rc = s_flush_table (self, &models, true);
        if (rc == 0)
            rc = s_set_num (self, s_next_key, (int64_t) self->next_seq, "write record sequence");
        if (rc == 0 && !self->has_layout)
            rc = s_set_num (self, s_layout_key, S_LAYOUT, "write key layout");
        if (rc == 0) {
            seq = ts_store_seq (self) + 1;
            rc = s_set_num (self, s_seq_key, (int64_t) seq, "write sequence");
        }
    }
    size_t waiting = ts_map_size (self->pend);
    if (rc == 0 && (waiting >= self->pend_max || self->pend_bytes >= S_PENDING_BYTES)) {
        rc = s_write_ids (self);
        wrote_ids = true;
    }
    else if (rc == 0 && waited == 0 && waiting > 0)     /* the first to wait */
        rc = s_set_num (self, s_indexed_key, (int64_t) first, "write id index mark");
    if (rc == 0)
        rc = s_rec_write (self);
    rc = s_end (self, rc, first, wrote_ids);
    if (rc == 0 && shard.count > 0)
        self->has_layout = true;
    if (rc == 0 && delta && shard.count > 0) {
        msgpack_packer pk;
        msgpack_packer_init (&pk, delta, ts_buf_packer_write);
        if (msgpack_pack_array (&pk, 4) || msgpack_pack_uint64 (&pk, seq)
        ||  ts_totals_pack (&pk, &shard) || s_pack_table (&pk, &groups)
        ||  s_pack_table (&pk, &models))
            rc = TS_ENOMEM;     /* committed; only the delta is lost */
    }
done:
    free (groups.slots);
    free (models.slots);
    return rc;
}

/*  Appends record `seq`, the one of `id`. */
static int
s_get_seq (ts_store_t *self, const char *id, size_t id_len, uint64_t seq, ts_buf_t *out)
{
    char key [16];
    int rc = ts_store_get_raw (self, key, ts_key_data (key, seq), out);
    if (rc == TS_ENOTFOUND) {
        snprintf (self->errmsg, sizeof self->errmsg, "%s: id %.*s points at a missing record",
                  self->path, (int) id_len, id);
        return TS_ECORRUPT;
    }
    return rc;
}

int
ts_store_get (ts_store_t *self, const char *id, size_t id_len, ts_buf_t *out)
{
    char key [TS_KEY_MAX];
    if (id_len > TS_ID_MAX_BYTES)
        return TS_ENOTFOUND;
    uint64_t seq;
    if (s_pend_find (self, id, id_len, &seq))
        return s_get_seq (self, id, id_len, seq, out);
    size_t vlen;
    char *v = kcdbget (self->db, key, ts_key_record (key, id, id_len), &vlen);
    if (!v)
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : s_kc_error (self, "get");
    if (vlen != 8) {
        kcfree (v);
        snprintf (self->errmsg, sizeof self->errmsg, "%s: entry of id %.*s is not a sequence",
                  self->path, (int) id_len, id);
        return TS_ECORRUPT;
    }
    seq = (uint64_t) ts_key_get_i64 (v);
    kcfree (v);
    return s_get_seq (self, id, id_len, seq, out);
}

int
ts_store_get_raw (ts_store_t *self, const char *key, size_t klen, ts_buf_t *out)
{
    int rc = s_settle (self, key, klen);
    if (rc)
        return rc;
    size_t vlen;
    char *v = kcdbget (self->db, key, klen, &vlen);
    if (!v)
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : s_kc_error (self, "get");
    uint64_t off;
    uint32_t len;
    if (klen == 9 && key [0] == TS_TAG_DATA && s_loc_unpack (v, vlen, &off, &len))
        rc = s_rec_read (self, off, len, out);
    else
        rc = ts_buf_append (out, v, vlen);
    kcfree (v);
    return rc;
}

static int
s_get_totals (ts_store_t *self, const char *key, size_t klen, ts_totals_t *out)
{
    size_t vlen;
    char *v = kcdbget (self->db, key, klen, &vlen);
    if (!v) {
        ts_totals_init (out);
        return kcdbecode (self->db) == KCENOREC ? TS_ENOTFOUND : s_kc_error (self, "get totals");
    }
    int rc = ts_totals_unpack (v, vlen, out, NULL);
    kcfree (v);
    return rc ? TS_ECORRUPT : 0;
}

int
ts_store_totals (ts_store_t *self, ts_totals_t *out)
{
    char key [1] = { TS_TAG_SHARD_TOTALS };
    int rc = s_get_totals (self, key, 1, out);
    return rc == TS_ENOTFOUND ? 0 : rc;
}

int
ts_store_group_totals (ts_store_t *self, const char *group, size_t len, ts_totals_t *out)
{
    char key [TS_KEY_MAX];
    if (len > TS_GROUP_MAX_BYTES)
        return TS_ENOTFOUND;
    return s_get_totals (self, key, ts_key_group_totals (key, group, len), out);
}

int
ts_store_model_totals (ts_store_t *self, const char *model, size_t len, ts_totals_t *out)
{
    char key [TS_KEY_MAX];
    if (len > TS_MODEL_MAX_BYTES)
        return TS_ENOTFOUND;
    return s_get_totals (self, key, ts_key_model_totals (key, model, len), out);
}

/*  Compares the first min(len, bound_len) bytes: <0, 0, >0. */
static int
s_cmp_prefix (const char *k, size_t klen, const char *bound, size_t blen)
{
    size_t n = klen < blen ? klen : blen;
    int c = memcmp (k, bound, n);
    if (c)
        return c;
    return klen < blen ? -1 : 0;
}

int
ts_store_scan (ts_store_t *self, const ts_scan_t *sc, ts_store_visit_fn *fn, void *arg)
{
    return s_scan (self, sc, fn, arg, true);
}

/*  The scan; `resolve`: D's values are the records, else as stored (their
 *  locators). */
static int
s_scan (ts_store_t *self, const ts_scan_t *sc, ts_store_visit_fn *fn, void *arg, bool resolve)
{
    int rc = s_settle (self, sc->prefix, sc->prefix_len);
    if (rc)
        return rc;
    KCCUR *cur = kcdbcursor (self->db);
    if (!cur)
        return TS_ENOMEM;
    ts_buf_t rec = { 0 };               /* a D entry's record, read for fn */
    bool ok;
    if (!sc->descending) {
        if (sc->from)
            ok = kccurjumpkey (cur, sc->from, sc->from_len);
        else
            ok = kccurjumpkey (cur, sc->prefix, sc->prefix_len);
    }
    else if (sc->from)
        ok = kccurjumpbackkey (cur, sc->from, sc->from_len);
    else {
        /* just past the prefix range: the prefix with its last byte + 1
         * (a prefix of all 0xff bytes has no end key: scan from the end) */
        char end [TS_KEY_MAX];
        size_t elen = sc->prefix_len;
        memcpy (end, sc->prefix, elen);
        while (elen > 0 && (unsigned char) end [elen - 1] == 0xff)
            elen--;
        if (elen == 0)
            ok = kccurjumpback (cur);
        else {
            end [elen - 1]++;
            ok = kccurjumpbackkey (cur, end, elen);
        }
    }
    if (!ok) {
        int code = kccurecode (cur);
        kccurdel (cur);
        return code == KCENOREC ? 0 : TS_ESTORE;
    }
    for (;;) {
        size_t klen, vlen;
        const char *vbuf;
        char *kbuf = kccurget (cur, &klen, &vbuf, &vlen, 0);
        if (!kbuf) {
            if (kccurecode (cur) != KCENOREC)
                rc = TS_ESTORE;
            break;
        }
        bool in_prefix = klen >= sc->prefix_len && !memcmp (kbuf, sc->prefix, sc->prefix_len);
        bool skip = false;
        if (!in_prefix) {
            /* descending from past the range may start on a larger key */
            if (sc->descending && memcmp (kbuf, sc->prefix, klen < sc->prefix_len ? klen : sc->prefix_len) >= 0)
                skip = true;
            else {
                kcfree (kbuf);
                break;
            }
        }
        if (!skip && sc->from && sc->from_exclusive && klen == sc->from_len
        &&  !memcmp (kbuf, sc->from, klen))
            skip = true;
        if (!skip && sc->to) {
            int c = s_cmp_prefix (kbuf, klen, sc->to, sc->to_len);
            if (sc->descending ? c < 0 : c > 0) {
                kcfree (kbuf);
                break;
            }
        }
        if (!skip && resolve && (rc = s_resolve (self, kbuf, klen, &vbuf, &vlen, &rec))) {
            kcfree (kbuf);
            break;
        }
        if (!skip) {
            rc = fn (kbuf, klen, vbuf, vlen, arg);
            if (rc) {
                kcfree (kbuf);
                if (rc > 0)
                    rc = 0;
                break;
            }
        }
        kcfree (kbuf);
        if (!(sc->descending ? kccurstepback (cur) : kccurstep (cur))) {
            if (kccurecode (cur) != KCENOREC)
                rc = TS_ESTORE;
            break;
        }
    }
    kccurdel (cur);
    ts_buf_free (&rec);
    return rc;
}

/*  Snapshot: collects Q or X entries as [[name, totals]...]. The count is
 *  not known before the scan, so entries go to a side buffer first. */
typedef struct {
    ts_buf_t  items;
    uint32_t  n;
    int       rc;
} s_snap_t;

static int
s_snap_visit (const char *key, size_t klen, const char *val, size_t vlen, void *arg)
{
    s_snap_t *sn = arg;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sn->items, ts_buf_packer_write);
    ts_totals_t t;
    if (ts_totals_unpack (val, vlen, &t, NULL))
        return TS_ECORRUPT;
    if (msgpack_pack_array (&pk, 2) || ts_mp_pack_strn (&pk, key + 1, klen - 1)
    ||  ts_totals_pack (&pk, &t))
        return TS_ENOMEM;
    sn->n++;
    return 0;
}

int
ts_store_snapshot (ts_store_t *self, ts_buf_t *out)
{
    ts_totals_t shard;
    int rc = ts_store_totals (self, &shard);
    if (rc)
        return rc;
    msgpack_packer pk;
    msgpack_packer_init (&pk, out, ts_buf_packer_write);
    if (msgpack_pack_array (&pk, 4) || msgpack_pack_uint64 (&pk, ts_store_seq (self))
    ||  ts_totals_pack (&pk, &shard))
        return TS_ENOMEM;
    static const char tags [2] = { TS_TAG_GROUP_TOTALS, TS_TAG_MODEL_TOTALS };
    for (int i = 0; i < 2; i++) {
        s_snap_t sn = { { 0 }, 0, 0 };
        ts_scan_t sc = { .prefix = &tags [i], .prefix_len = 1 };
        rc = ts_store_scan (self, &sc, s_snap_visit, &sn);
        if (rc == 0 && (msgpack_pack_array (&pk, sn.n) || ts_buf_append (out, sn.items.data, sn.items.size)))
            rc = TS_ENOMEM;
        ts_buf_free (&sn.items);
        if (rc)
            return rc;
    }
    return 0;
}

/* --- pull cursor ---------------------------------------------------------- */

/*  The scan's bounds live in `bytes` (prefix, then from, then to), copied
 *  at creation so that callers can build them in stack buffers. */
struct ts_store_cursor {
    ts_store_t *store;
    KCCUR *cur;
    ts_buf_t rec;               /* the current D entry's record */
    char  *kbuf;                /* the current entry (Kyoto Cabinet's), or NULL */
    bool   started;
    bool   ended;
    bool   descending;
    bool   from_exclusive;
    const char *prefix; size_t prefix_len;
    const char *from;   size_t from_len;     /* NULL: none */
    const char *to;     size_t to_len;       /* NULL: none */
    char   bytes [];
};

ts_store_cursor_t *
ts_store_cursor_new (ts_store_t *self, const ts_scan_t *scan)
{
    if (s_settle (self, scan->prefix, scan->prefix_len))
        return NULL;
    size_t flen = scan->from ? scan->from_len : 0;
    size_t tlen = scan->to ? scan->to_len : 0;
    ts_store_cursor_t *c = calloc (1, sizeof *c + scan->prefix_len + flen + tlen + 1);
    if (!c)
        return NULL;
    if (!(c->cur = kcdbcursor (self->db))) {
        free (c);
        return NULL;
    }
    c->store = self;
    char *p = c->bytes;
    memcpy (p, scan->prefix, scan->prefix_len);
    c->prefix = p;
    c->prefix_len = scan->prefix_len;
    p += scan->prefix_len;
    if (scan->from) {
        memcpy (p, scan->from, flen);
        c->from = p;
        c->from_len = flen;
        p += flen;
    }
    if (scan->to) {
        memcpy (p, scan->to, tlen);
        c->to = p;
        c->to_len = tlen;
    }
    c->descending = scan->descending;
    c->from_exclusive = scan->from_exclusive;
    return c;
}

void
ts_store_cursor_destroy (ts_store_cursor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ts_store_cursor_t *self = *self_p;
    if (self->kbuf)
        kcfree (self->kbuf);
    if (self->cur)
        kccurdel (self->cur);
    ts_buf_free (&self->rec);
    free (self);
    *self_p = NULL;
}

/*  Byte order of keys: memcmp, then the shorter first. */
static int
s_key_cmp (const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp (a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/*  Places the Kyoto Cabinet cursor where the scan starts (as in
 *  ts_store_scan). */
static bool
s_cursor_jump (ts_store_cursor_t *self)
{
    if (!self->descending)
        return self->from ? kccurjumpkey (self->cur, self->from, self->from_len)
                          : kccurjumpkey (self->cur, self->prefix, self->prefix_len);
    if (self->from)
        return kccurjumpbackkey (self->cur, self->from, self->from_len);
    char end [TS_KEY_MAX];
    size_t elen = self->prefix_len < TS_KEY_MAX ? self->prefix_len : TS_KEY_MAX;
    memcpy (end, self->prefix, elen);
    while (elen > 0 && (unsigned char) end [elen - 1] == 0xff)
        elen--;
    if (elen == 0)
        return kccurjumpback (self->cur);
    end [elen - 1]++;
    return kccurjumpbackkey (self->cur, end, elen);
}

/*  What to do with a key met while stepping: 0 take it, 1 step over it,
 *  -1 the scan has ended. */
static int
s_cursor_judge (const ts_store_cursor_t *self, const char *k, size_t klen)
{
    if (klen < self->prefix_len || memcmp (k, self->prefix, self->prefix_len)) {
        /* a backward scan can start above the prefix's range: step down */
        if (self->descending && s_key_cmp (k, klen, self->prefix, self->prefix_len) > 0)
            return 1;
        return -1;
    }
    if (self->from) {
        int c = s_key_cmp (k, klen, self->from, self->from_len);
        if (c == 0 && self->from_exclusive)
            return 1;
        /* Kyoto Cabinet lands on the last key <= from going backward and
         * the first >= from going forward; checked here all the same */
        if (self->descending ? c > 0 : c < 0)
            return 1;
    }
    if (self->to) {
        int c = s_cmp_prefix (k, klen, self->to, self->to_len);
        if (self->descending ? c < 0 : c > 0)
            return -1;
    }
    return 0;
}

int
ts_store_cursor_next (ts_store_cursor_t *self, const char **key, size_t *key_len,
                      const char **val, size_t *val_len)
{
    if (self->ended)
        return TS_ENOTFOUND;
    bool ok;
    if (!self->started) {
        self->started = true;
        ok = s_cursor_jump (self);
    }
    else {
        kcfree (self->kbuf);
        self->kbuf = NULL;
        ok = self->descending ? kccurstepback (self->cur) : kccurstep (self->cur);
    }
    for (;;) {
        char *k = NULL;
        size_t klen = 0, vlen = 0;
        const char *vbuf = NULL;
        if (ok)
            k = kccurget (self->cur, &klen, &vbuf, &vlen, 0);
        if (!k) {
            self->ended = true;
            return kccurecode (self->cur) == KCENOREC ? TS_ENOTFOUND : TS_ESTORE;
        }
        int verdict = s_cursor_judge (self, k, klen);
        if (verdict == 0) {
            int rc = s_resolve (self->store, k, klen, &vbuf, &vlen, &self->rec);
            if (rc) {
                kcfree (k);
                self->ended = true;
                return rc;
            }
            self->kbuf = k;
            *key = k;
            *key_len = klen;
            *val = vbuf;
            *val_len = vlen;
            return 0;
        }
        kcfree (k);
        if (verdict < 0) {
            self->ended = true;
            return TS_ENOTFOUND;
        }
        ok = self->descending ? kccurstepback (self->cur) : kccurstep (self->cur);
    }
}
