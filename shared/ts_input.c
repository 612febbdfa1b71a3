/*  ts_input.c: an import's input, plain, gzip or zstd (ts_input.h).
 *
 *  Compressed bytes go through one input buffer `in`; decompressed bytes are
 *  written straight into the caller's buffer, so the only copy is the
 *  decompression itself. A plain input is read with read(2) into the
 *  caller's buffer, after the few bytes that were read to tell the format.
 *
 *  gzip is decoded with zlib's inflate rather than gzread: the magic bytes
 *  have already been read when the format is known, and a pipe cannot give
 *  them back to gzdopen. Members follow one another as in gzip -d; zero
 *  bytes after the last member (tape or block padding) are ignored, any
 *  other trailing byte is an error, since it would be data silently lost.
 */
#include "ts_input.h"
#include "ts_io.h"
#include "ts_error.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define TS_INPUT_BUF_BYTES  (256u << 10)   /* compressed bytes read at once */
#define TS_INPUT_PEEK_BYTES 10             /* enough for every magic below */

struct ts_input {
    int      fd;
    bool     own_fd;
    ts_input_kind_t kind;
    char    *path;
    int64_t  total;            /* st_size of a regular file, else -1 */
    uint64_t fd_read;          /* bytes read from fd */

    uint8_t *in;               /* read but not yet consumed: in [ipos, ilen) */
    size_t   ipos, ilen, icap;
    bool     ieof;             /* fd is at its end */

    z_stream z;
    bool     z_ready;
    bool     z_between;        /* a gzip member ended; next: member or end */
    ZSTD_DStream *zs;
    size_t   z_last;           /* last ZSTD_decompressStream hint, 0: frame done */

    bool     done;             /* every output byte has been delivered */
    int      failed;           /* sticky error, 0 when none */
    char     errmsg [256];
};

/*  The input's name in messages: its path, or "stdin". */
static const char *
s_name (const char *path)
{
    return strcmp (path, "-") == 0 ? "stdin" : path;
}

static void
s_fail_msg (char *emsg, size_t emsg_size, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_fail_msg (char *emsg, size_t emsg_size, const char *fmt, ...)
{
    if (!emsg || emsg_size == 0)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (emsg, emsg_size, fmt, ap);
    va_end (ap);
}

/*  Records a sticky failure with its message; returns `code`. */
static int
s_fail (ts_input_t *self, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (ts_input_t *self, int code, const char *fmt, ...)
{
    int n = snprintf (self->errmsg, sizeof self->errmsg, "%s: ", s_name (self->path));
    if (n < 0 || (size_t) n >= sizeof self->errmsg)
        n = 0;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->errmsg + n, sizeof self->errmsg - (size_t) n, fmt, ap);
    va_end (ap);
    self->failed = code;
    return code;
}

/*  One read(2) of the file: the bytes read (0 at its end, which is
 *  remembered), -EINTR, or another -errno (sticky, via s_fail). */
static ssize_t
s_read_fd (ts_input_t *self, void *buf, size_t size)
{
    ssize_t n = read (self->fd, buf, size);
    if (n < 0) {
        if (errno == EINTR)
            return -EINTR;
        int code = -errno;
        return s_fail (self, code, "read failed: %s", strerror (-code));
    }
    if (n == 0)
        self->ieof = true;
    self->fd_read += (uint64_t) n;
    return n;
}

/*  Reads more of the file into `in` so that at least `need` unconsumed bytes
 *  are there, or the file has ended. Returns 0, -EINTR (nothing changed
 *  but what was already read), or another -errno (sticky). */
static int
s_fill (ts_input_t *self, size_t need)
{
    if (need > self->icap)
        need = self->icap;
    if (self->ipos > 0 && self->ilen - self->ipos < need) {
        memmove (self->in, self->in + self->ipos, self->ilen - self->ipos);
        self->ilen -= self->ipos;
        self->ipos = 0;
    }
    while (!self->ieof && self->ilen - self->ipos < need) {
        ssize_t n = s_read_fd (self, self->in + self->ilen, self->icap - self->ilen);
        if (n < 0)
            return (int) n;
        self->ilen += (size_t) n;
    }
    return 0;
}

static size_t
s_avail (const ts_input_t *self)
{
    return self->ilen - self->ipos;
}

static bool
s_starts (const ts_input_t *self, const void *magic, size_t len)
{
    return s_avail (self) >= len && memcmp (self->in + self->ipos, magic, len) == 0;
}

ts_input_t *
ts_input_open (const char *path, int *code, char *err, size_t err_size)
{
    assert (code);
    if (!path || !*path) {
        *code = TS_EINVAL;
        s_fail_msg (err, err_size, "no input file given");
        return NULL;
    }
    ts_input_t *self = calloc (1, sizeof *self);
    if (!self)
        goto nomem;
    self->fd = -1;
    self->total = -1;
    self->path = strdup (path);
    self->icap = TS_INPUT_BUF_BYTES;
    self->in = malloc (self->icap);
    if (!self->path || !self->in)
        goto nomem;

    if (strcmp (path, "-") == 0)
        self->fd = STDIN_FILENO;
    else {
        self->fd = open (path, O_RDONLY | O_CLOEXEC);
        if (self->fd < 0) {
            *code = -errno;
            s_fail_msg (err, err_size, "cannot open %s: %s", path, strerror (errno));
            goto fail;
        }
        self->own_fd = true;
    }
    struct stat st;
    if (fstat (self->fd, &st) == 0) {
        if (S_ISDIR (st.st_mode)) {
            *code = -EISDIR;
            s_fail_msg (err, err_size, "cannot read %s: it is a directory", s_name (path));
            goto fail;
        }
        if (S_ISREG (st.st_mode))
            self->total = (int64_t) st.st_size;
    }
    if (self->total > 0)
        posix_fadvise (self->fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    int rc = s_fill (self, TS_INPUT_PEEK_BYTES);
    if (rc) {                       /* -EINTR too: a signal is to be heard */
        *code = rc;
        s_fail_msg (err, err_size, "cannot read %s: %s", s_name (path), strerror (-rc));
        goto fail;
    }

    static const uint8_t gz [] = { 0x1f, 0x8b };
    static const uint8_t zst [] = { 0x28, 0xb5, 0x2f, 0xfd };
    static const uint8_t xz [] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };
    static const uint8_t bz0 [] = { 'B', 'Z', 'h' };
    static const uint8_t bz1 [] = { '1', 'A', 'Y', '&', 'S', 'Y' };
    if (s_starts (self, gz, sizeof gz)) {
        self->kind = TS_INPUT_GZIP;
        if (inflateInit2 (&self->z, 15 + 16) != Z_OK)
            goto nomem;
        self->z_ready = true;
    }
    else
    if (s_starts (self, zst, sizeof zst)) {
        self->kind = TS_INPUT_ZSTD;
        self->zs = ZSTD_createDStream ();
        if (!self->zs)
            goto nomem;
        ZSTD_initDStream (self->zs);
        self->z_last = 1;
    }
    else
    if (s_starts (self, xz, sizeof xz)
    || (s_avail (self) >= 10 && s_starts (self, bz0, sizeof bz0)
        && self->in [self->ipos + 3] >= '1' && self->in [self->ipos + 3] <= '9'
        && memcmp (self->in + self->ipos + 4, bz1, sizeof bz1) == 0)) {
        *code = TS_EINVAL;
        s_fail_msg (err, err_size, "%s is %s-compressed, which is not supported: "
                    "decompress it into a pipe (%s -dc FILE | trajstore-producer -)",
                    s_name (path), self->in [self->ipos] == 'B' ? "bzip2" : "xz",
                    self->in [self->ipos] == 'B' ? "bzip2" : "xz");
        goto fail;
    }
    else
        self->kind = TS_INPUT_PLAIN;
    *code = 0;
    return self;

nomem:
    *code = TS_ENOMEM;
    s_fail_msg (err, err_size, "cannot read %s: out of memory", s_name (path));
fail:
    ts_input_destroy (&self);
    return NULL;
}

void
ts_input_destroy (ts_input_t **self_p)
{
    ts_input_t *self = *self_p;
    if (!self)
        return;
    if (self->own_fd && self->fd >= 0)
        close (self->fd);
    if (self->z_ready)
        inflateEnd (&self->z);
    ZSTD_freeDStream (self->zs);
    free (self->in);
    free (self->path);
    free (self);
    *self_p = NULL;
}

static ssize_t
s_read_plain (ts_input_t *self, uint8_t *buf, size_t size)
{
    if (s_avail (self) > 0) {
        size_t n = s_avail (self) < size ? s_avail (self) : size;
        memcpy (buf, self->in + self->ipos, n);
        self->ipos += n;
        return (ssize_t) n;
    }
    if (self->ieof)
        return 0;
    return s_read_fd (self, buf, size);
}

/*  Between two gzip members: another member starts (1f 8b), or only zero
 *  padding is left. Returns 1 when a member follows, 0 at the end, or a
 *  negative code. */
static int
s_gzip_next_member (ts_input_t *self)
{
    for (;;) {
        int rc = s_fill (self, 2);
        if (rc)
            return rc;
        if (s_avail (self) == 0)
            return 0;
        const uint8_t *p = self->in + self->ipos;
        if (p [0] == 0x1f && s_avail (self) >= 2 && p [1] == 0x8b)
            return 1;
        size_t zeros = 0;
        while (zeros < s_avail (self) && p [zeros] == 0)
            zeros++;
        if (zeros == 0)
            return s_fail (self, TS_ECORRUPT,
                           "trailing garbage after gzip data (at compressed byte %llu)",
                           (unsigned long long) ts_input_consumed (self));
        self->ipos += zeros;
    }
}

static ssize_t
s_read_gzip (ts_input_t *self, uint8_t *buf, size_t size)
{
    z_stream *z = &self->z;
    z->next_out = buf;
    z->avail_out = size > UINT32_MAX ? UINT32_MAX : (uInt) size;
    uInt want = z->avail_out;
    for (;;) {
        if (self->z_between) {
            int more = s_gzip_next_member (self);
            if (more < 0)
                return more;
            if (more == 0) {
                self->done = true;
                return 0;
            }
            inflateReset (z);
            self->z_between = false;
        }
        if (s_avail (self) == 0 && !self->ieof) {
            int rc = s_fill (self, 1);
            if (rc)
                return rc;
        }
        z->next_in = self->in + self->ipos;
        z->avail_in = (uInt) s_avail (self);
        int ret = inflate (z, Z_NO_FLUSH);
        self->ipos = self->ilen - z->avail_in;
        size_t produced = want - z->avail_out;
        if (ret == Z_STREAM_END)
            self->z_between = true;
        else
        if (ret == Z_DATA_ERROR || ret == Z_NEED_DICT)
            return s_fail (self, TS_ECORRUPT, "corrupt gzip data: %s (at compressed byte %llu)",
                           z->msg ? z->msg : "invalid data",
                           (unsigned long long) ts_input_consumed (self));
        else
        if (ret == Z_MEM_ERROR)
            return s_fail (self, TS_ENOMEM, "out of memory decompressing gzip data");
        else
        if (ret == Z_BUF_ERROR || ret == Z_OK) {
            /* no progress is possible without more input */
            if (produced == 0 && s_avail (self) == 0 && self->ieof)
                return s_fail (self, TS_ECORRUPT,
                               "gzip data ends early: the file is truncated "
                               "(after %llu compressed bytes)",
                               (unsigned long long) ts_input_consumed (self));
        }
        if (produced > 0)
            return (ssize_t) produced;
    }
}

static ssize_t
s_read_zstd (ts_input_t *self, uint8_t *buf, size_t size)
{
    ZSTD_outBuffer out = { buf, size, 0 };
    for (;;) {
        ZSTD_inBuffer in = { self->in + self->ipos, s_avail (self), 0 };
        size_t r = ZSTD_decompressStream (self->zs, &out, &in);
        self->ipos += in.pos;
        if (ZSTD_isError (r))
            return s_fail (self, TS_ECORRUPT, "corrupt zstd data: %s (at compressed byte %llu)",
                           ZSTD_getErrorName (r),
                           (unsigned long long) ts_input_consumed (self));
        if (in.pos > 0 || out.pos > 0)
            self->z_last = r;           /* an idle call only hints at a next frame */
        if (out.pos > 0)
            return (ssize_t) out.pos;
        if (s_avail (self) == 0) {
            if (self->ieof) {
                if (self->z_last != 0)
                    return s_fail (self, TS_ECORRUPT,
                                   "zstd data ends early: the file is truncated "
                                   "(after %llu compressed bytes)",
                                   (unsigned long long) ts_input_consumed (self));
                self->done = true;
                return 0;
            }
            int rc = s_fill (self, 1);
            if (rc)
                return rc;
        }
    }
}

ssize_t
ts_input_read (ts_input_t *self, void *buf, size_t size)
{
    assert (self && (buf || size == 0));
    if (self->failed)
        return self->failed;
    if (self->done || size == 0)
        return 0;
    switch (self->kind) {
    case TS_INPUT_GZIP: return s_read_gzip (self, buf, size);
    case TS_INPUT_ZSTD: return s_read_zstd (self, buf, size);
    default:            return s_read_plain (self, buf, size);
    }
}

ts_input_kind_t
ts_input_kind (const ts_input_t *self)
{
    return self->kind;
}

void
ts_file_id (const struct stat *st, char *buf, size_t size)
{
    snprintf (buf, size, "%llu:%llu:%lld:%lld.%09ld", (unsigned long long) st->st_dev,
              (unsigned long long) st->st_ino, (long long) st->st_size,
              (long long) st->st_mtim.tv_sec, (long) st->st_mtim.tv_nsec);
}

int
ts_input_file_id (const ts_input_t *self, char *buf, size_t size)
{
    struct stat st;
    if (!self->own_fd || fstat (self->fd, &st) || !S_ISREG (st.st_mode))
        return -1;
    ts_file_id (&st, buf, size);
    return 0;
}

ssize_t
ts_input_pread (const ts_input_t *self, void *buf, size_t size, uint64_t off)
{
    if (!self->own_fd || self->kind != TS_INPUT_PLAIN || self->total < 0)
        return -EINVAL;
    return ts_pread_full (self->fd, buf, size, off);
}

const char *
ts_input_kind_name (ts_input_kind_t kind)
{
    switch (kind) {
    case TS_INPUT_GZIP: return "gzip";
    case TS_INPUT_ZSTD: return "zstd";
    default:            return "plain";
    }
}

uint64_t
ts_input_consumed (const ts_input_t *self)
{
    return self->fd_read - s_avail (self);
}

int64_t
ts_input_total (const ts_input_t *self)
{
    return self->total;
}

const char *
ts_input_path (const ts_input_t *self)
{
    return self->path;
}

const char *
ts_input_errmsg (const ts_input_t *self)
{
    return self->errmsg;
}
