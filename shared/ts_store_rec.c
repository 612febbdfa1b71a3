/*  ts_store_rec.c: a shard's records file (parts of a shard: ts_store_int.h).
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
#include <sys/stat.h>
#include <unistd.h>

void
store_loc_pack (char *b, uint64_t off, uint32_t len)
{
    b [0] = S_LOC_TAG;
    ts_key_put_i64 (b + 1, (int64_t) off);
    for (int i = 0; i < 4; i++)
        b [9 + i] = (char) (len >> (24 - 8 * i));
}

/*  Is a D value a locator? Then where the record is. */
bool
store_loc_unpack (const char *v, size_t vlen, uint64_t *off, uint32_t *len)
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

/*  Inside the open transaction: the locator of a record that will be
 *  written from `ptr` (borrowed until the commit) at the file's end. */
int
store_rec_add (ts_store_t *self, const char *ptr, uint32_t len, char *loc)
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
    store_loc_pack (loc, self->rec_next, len);
    self->rec_next += len;
    return 0;
}

/*  Inside the open transaction, last: its records into the file, and 'L'. */
int
store_rec_write (ts_store_t *self)
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
    return store_set_num (self, s_reclen_key, (int64_t) self->rec_next, "write records length");
}

/*  After the transaction: kept (the file's end moves) or not (cut back). */
void
store_rec_end (ts_store_t *self, bool kept)
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
int
store_rec_read (ts_store_t *self, uint64_t off, uint32_t len, ts_buf_t *out)
{
    if (off >= self->rec_end && off < self->rec_next) {
        /* queued by the open transaction (a label set on a record stored
         * in the same commit): still in the batch's memory */
        uint64_t at = self->rec_end;
        for (size_t i = 0; i < self->niov; at += self->iov [i].iov_len, i++)
            if (at == off && self->iov [i].iov_len == len)
                return ts_buf_append (out, self->iov [i].iov_base, len) ? TS_ENOMEM : 0;
    }
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
int
store_resolve (ts_store_t *self, const char *key, size_t klen, const char **val, size_t *vlen,
           ts_buf_t *buf)
{
    uint64_t off;
    uint32_t len;
    if (klen == 9 && key [0] == TS_TAG_DATA && store_loc_unpack (*val, *vlen, &off, &len)) {
        buf->size = 0;
        int rc = store_rec_read (self, off, len, buf);
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
    uint64_t off;
    uint32_t len;
    if (klen != 9 || !store_loc_unpack (val, vlen, &off, &len))
        return 0;                       /* a record of layout 4 or 5, in D itself */
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
