/*  test_chunker.c: unit tests of ts_input (plain, gzip, zstd, pipes, bad
 *  data) and ts_chunker (cuts at newlines, line numbers, BOM, CRLF, last
 *  line without newline, lines longer than a chunk, lines over the limit).
 *
 *  Every chunking is checked twice: against the invariants of a chunk
 *  (s_chunk_all) and against a plain reference model that splits the input
 *  into lines one by one (s_model).
 *
 *  `test_chunker --bench FILE [CHUNK_BYTES]` measures the chunker's
 *  throughput on FILE instead of testing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "ts_chunker.h"
#include "ts_error.h"
#include "ts_input.h"
#include "ts_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static char s_dir [256];
static unsigned s_files;

/* --- helpers ---------------------------------------------------------------- */

static uint64_t s_rng = 88172645463325252ull;

static uint64_t
s_rand (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

/*  Writes `len` bytes to a new file in the test directory; returns its path
 *  (static storage, one of a few). */
static const char *
s_file (const void *data, size_t len)
{
    static char paths [8][300];
    char *path = paths [s_files % 8];
    snprintf (path, 300, "%s/f%u", s_dir, s_files++);
    FILE *f = fopen (path, "wb");
    assert_non_null (f);
    if (len)
        assert_int_equal (fwrite (data, 1, len, f), len);
    assert_int_equal (fclose (f), 0);
    return path;
}

/*  gzip of data in `members` members (split evenly; a member may be empty). */
static ts_buf_t
s_gzip (const char *data, size_t len, unsigned members)
{
    ts_buf_t out = { 0 };
    size_t part = members > 1 ? len / (members - 1) + 1 : len;
    size_t off = 0;
    for (unsigned m = 0; m < members; m++) {
        size_t n = m + 1 == members ? len - off : (part < len - off ? part : len - off);
        z_stream z;
        memset (&z, 0, sizeof z);
        assert_int_equal (deflateInit2 (&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        size_t bound = deflateBound (&z, (uLong) n) + 64;
        assert_int_equal (ts_buf_reserve (&out, bound), 0);
        z.next_in = (Bytef *) (data + off);
        z.avail_in = (uInt) n;
        z.next_out = (Bytef *) out.data + out.size;
        z.avail_out = (uInt) bound;
        assert_int_equal (deflate (&z, Z_FINISH), Z_STREAM_END);
        out.size += bound - z.avail_out;
        deflateEnd (&z);
        off += n;
    }
    return out;
}

/*  zstd of data in `frames` frames. */
static ts_buf_t
s_zstd (const char *data, size_t len, unsigned frames)
{
    ts_buf_t out = { 0 };
    size_t part = frames > 1 ? len / frames + 1 : len;
    size_t off = 0;
    ZSTD_CCtx *cctx = ZSTD_createCCtx ();
    assert_non_null (cctx);
    ZSTD_CCtx_setParameter (cctx, ZSTD_c_checksumFlag, 1);  /* as the zstd tool does */
    for (unsigned f = 0; f < frames; f++) {
        size_t n = f + 1 == frames ? len - off : (part < len - off ? part : len - off);
        size_t bound = ZSTD_compressBound (n);
        assert_int_equal (ts_buf_reserve (&out, bound), 0);
        size_t r = ZSTD_compress2 (cctx, out.data + out.size, bound, data + off, n);
        assert_false (ZSTD_isError (r));
        out.size += r;
        off += n;
    }
    ZSTD_freeCCtx (cctx);
    return out;
}

typedef struct {
    uint64_t line0, lines;
    size_t   off, len;           /* in `all` */
} chunk_t;

typedef struct {
    ts_buf_t all;                /* the chunks, put back together */
    chunk_t  chunks [4096];
    size_t   nchunks;
    uint64_t skipped [4096];     /* numbers of the skipped lines */
    size_t   skipped_head [4096]; /* and how many bytes of them were given */
    size_t   nskipped;
    int64_t  total;              /* ts_input_total */
    int      error;              /* the chunker's final code, 0 when none */
    uint64_t bytes_read, bytes_skipped;
    size_t   max_cap;            /* largest chunk buffer seen */
    bool     last_marked;        /* exhausted right after the last chunk */
} result_t;

static void
s_result_free (result_t *r)
{
    ts_buf_free (&r->all);
    free (r);
}

/*  Chunks the file at `path`, checking every chunk's invariants. */
static result_t *
s_chunk_all (const char *path, size_t chunk_bytes, size_t line_max)
{
    result_t *r = calloc (1, sizeof *r);
    assert_non_null (r);
    int err;
    char emsg [256];
    ts_input_t *input = ts_input_open (path, &err, emsg, sizeof emsg);
    assert_non_null (input);
    r->total = ts_input_total (input);
    ts_chunker_t *chunker = ts_chunker_new (input, chunk_bytes, line_max);
    assert_non_null (chunker);
    ts_buf_t buf = { 0 };
    ts_chunk_info_t info;
    uint64_t expect_line = 1, next_offset = 0;
    bool last_had_newline = true, exhausted = false;
    /* a plain file's chunks are its bytes at their offsets (what a worker
     * reads when a chunk travels as a reference) */
    int fd = ts_input_kind (input) == TS_INPUT_PLAIN ? open (path, O_RDONLY) : -1;
    struct stat st;
    if (fd >= 0 && (fstat (fd, &st) || !S_ISREG (st.st_mode))) {
        close (fd);                     /* a pipe: no offsets to read at */
        fd = -1;
    }
    char *at_off = NULL;
    int rc;
    while ((rc = ts_chunker_next (chunker, &buf, &info)) > 0) {
        /* "exhausted" is never said while something is still to come */
        assert_false (exhausted);
        exhausted = ts_chunker_exhausted (chunker);
        r->last_marked = exhausted && rc == TS_CHUNK_LINES;
        if (rc == TS_CHUNK_SKIPPED) {
            assert_true (r->nskipped < 4096);
            assert_int_equal (info.line0, expect_line);
            assert_int_equal (info.lines, 1);
            assert_true (info.head_len <= TS_CHUNK_HEAD_BYTES);
            assert_null (memchr (info.head, '\n', info.head_len));
            r->skipped_head [r->nskipped] = info.head_len;
            r->skipped [r->nskipped++] = info.line0;
            expect_line++;
            continue;
        }
        assert_int_equal (rc, TS_CHUNK_LINES);
        assert_true (info.offset >= next_offset);
        next_offset = info.offset + buf.size;
        if (fd >= 0) {
            at_off = realloc (at_off, buf.size);
            assert_non_null (at_off);
            assert_int_equal (pread (fd, at_off, buf.size, (off_t) info.offset), (ssize_t) buf.size);
            assert_memory_equal (at_off, buf.data, buf.size);
        }
        /* a chunk without a final newline can only be the input's last */
        assert_true (last_had_newline);
        assert_true (buf.size > 0);
        assert_true (r->nchunks < 4096);
        assert_int_equal (info.line0, expect_line);
        uint64_t newlines = 0;
        size_t longest = 0, start = 0;
        for (size_t i = 0; i < buf.size; i++)
            if (buf.data [i] == '\n') {
                newlines++;
                if (i - start > longest)
                    longest = i - start;
                start = i + 1;
            }
        if (buf.size - start > longest)
            longest = buf.size - start;
        last_had_newline = buf.data [buf.size - 1] == '\n';
        assert_int_equal (info.lines, newlines + !last_had_newline);
        assert_true (longest <= line_max);
        if (buf.size > chunk_bytes)
            assert_int_equal (info.lines, 1);   /* only a long line is alone */
        chunk_t *c = &r->chunks [r->nchunks++];
        c->line0 = info.line0;
        c->lines = info.lines;
        c->off = r->all.size;
        c->len = buf.size;
        assert_int_equal (ts_buf_append (&r->all, buf.data, buf.size), 0);
        if (buf.cap > r->max_cap)
            r->max_cap = buf.cap;
        expect_line += info.lines;
    }
    if (fd >= 0)
        close (fd);
    free (at_off);
    r->error = rc;
    if (rc == 0) {
        assert_true (ts_chunker_exhausted (chunker));
        assert_int_equal (ts_chunker_next (chunker, &buf, &info), TS_CHUNK_END);
    }
    r->bytes_read = ts_chunker_bytes_read (chunker);
    r->bytes_skipped = ts_chunker_bytes_skipped (chunker);
    ts_buf_free (&buf);
    ts_chunker_destroy (&chunker);
    assert_null (chunker);
    ts_input_destroy (&input);
    assert_null (input);
    return r;
}

/*  The reference: the input split into lines one by one. */
static void
s_model (const char *data, size_t len, size_t line_max, ts_buf_t *kept,
         uint64_t *skipped, size_t *nskipped, uint64_t *lines)
{
    if (len >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0) {
        data += 3;
        len -= 3;
    }
    *nskipped = 0;
    *lines = 0;
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr (data + start, '\n', len - start);
        size_t end = nl ? (size_t) (nl - data) : len;
        ++*lines;
        if (end - start > line_max)
            skipped [(*nskipped)++] = *lines;
        else
            assert_int_equal (ts_buf_append (kept, data + start, end - start + (nl != NULL)), 0);
        start = end + 1;
    }
}

/*  Chunks `data` as a file and checks the result against the model. */
static result_t *
s_check (const char *data, size_t len, size_t chunk_bytes, size_t line_max)
{
    result_t *r = s_chunk_all (s_file (data, len), chunk_bytes, line_max);
    assert_int_equal (r->error, 0);
    ts_buf_t kept = { 0 };
    uint64_t *skipped = malloc (len * sizeof *skipped + 8), lines;
    size_t nskipped;
    assert_non_null (skipped);
    s_model (data, len, line_max, &kept, skipped, &nskipped, &lines);
    assert_int_equal (r->all.size, kept.size);
    if (kept.size)
        assert_memory_equal (r->all.data, kept.data, kept.size);
    assert_int_equal (r->nskipped, nskipped);
    for (size_t i = 0; i < nskipped; i++)
        assert_int_equal (r->skipped [i], skipped [i]);
    uint64_t counted = r->nskipped;
    for (size_t i = 0; i < r->nchunks; i++)
        counted += r->chunks [i].lines;
    assert_int_equal (counted, lines);
    assert_int_equal (r->bytes_read, len);
    bool bom = len >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0;
    assert_int_equal (r->bytes_skipped, len - kept.size - (bom ? 3 : 0));
    ts_buf_free (&kept);
    free (skipped);
    return r;
}

/*  Random JSONL-like text: `n` lines of random lengths (mostly short, some
 *  longer than `long_len`), some blank, some CRLF. */
static ts_buf_t
s_text (size_t n, size_t long_len, bool final_newline)
{
    ts_buf_t b = { 0 };
    for (size_t i = 0; i < n; i++) {
        uint64_t x = s_rand ();
        size_t len = x % 7 == 0 ? 0 : (size_t) (x >> 8) % 120;
        if (x % 53 == 0)
            len = long_len + (size_t) (x >> 20) % (long_len + 1);
        char line [8192];
        if (len > sizeof line - 2)
            len = sizeof line - 2;
        for (size_t j = 0; j < len; j++)
            line [j] = (char) ('a' + (s_rand () % 26));
        if (len)
            line [0] = '{';
        bool crlf = x % 11 == 0;
        assert_int_equal (ts_buf_append (&b, line, len), 0);
        if (crlf)
            ts_buf_append (&b, "\r", 1);
        if (i + 1 < n || final_newline)
            ts_buf_append (&b, "\n", 1);
    }
    return b;
}

/* --- tests: chunker ------------------------------------------------------------- */

static void
test_empty (void **state)
{
    (void) state;
    result_t *r = s_check ("", 0, 64, 1000);
    assert_int_equal (r->nchunks, 0);
    assert_int_equal (r->nskipped, 0);
    s_result_free (r);
    r = s_check ("\xEF\xBB\xBF", 3, 64, 1000);          /* a BOM alone */
    assert_int_equal (r->nchunks, 0);
    s_result_free (r);
}

static void
test_simple (void **state)
{
    (void) state;
    const char *text = "{\"a\":1}\n\n{\"b\":2}\n";
    result_t *r = s_check (text, strlen (text), 1024, 1000);
    assert_int_equal (r->nchunks, 1);
    assert_int_equal (r->chunks [0].line0, 1);
    assert_int_equal (r->chunks [0].lines, 3);
    assert_int_equal (r->chunks [0].len, strlen (text));
    assert_true (r->last_marked);               /* the file ended in it */
    s_result_free (r);
}

static void
test_bom (void **state)
{
    (void) state;
    const char *text = "\xEF\xBB\xBF{\"a\":1}\n{\"b\":2}";
    result_t *r = s_check (text, strlen (text), 1024, 1000);
    assert_int_equal (r->nchunks, 1);
    assert_int_equal (r->chunks [0].lines, 2);
    assert_int_equal (r->all.size, strlen (text) - 3);
    assert_memory_equal (r->all.data, "{\"a\":1}\n{\"b\":2}", r->all.size);
    s_result_free (r);
    /* a BOM later in the input is data, not dropped */
    const char *mid = "{}\n\xEF\xBB\xBF{}\n";
    r = s_check (mid, strlen (mid), 1024, 1000);
    assert_int_equal (r->all.size, strlen (mid));
    s_result_free (r);
}

static void
test_crlf (void **state)
{
    (void) state;
    const char *text = "{\"a\":1}\r\n{\"b\":2}\r\n\r\n{\"c\":3}\r\n";
    result_t *r = s_check (text, strlen (text), 16, 1000);
    uint64_t lines = 0;
    for (size_t i = 0; i < r->nchunks; i++) {
        chunk_t *c = &r->chunks [i];
        /* cut after "\r\n", never between '\r' and '\n' */
        assert_int_equal (r->all.data [c->off + c->len - 1], '\n');
        assert_int_equal (r->all.data [c->off + c->len - 2], '\r');
        lines += c->lines;
    }
    assert_int_equal (lines, 4);
    s_result_free (r);
}

static void
test_no_final_newline (void **state)
{
    (void) state;
    const char *text = "{\"a\":1}\n{\"b\":2}\n{\"c\":3}";
    result_t *r = s_check (text, strlen (text), 20, 1000);
    chunk_t *last = &r->chunks [r->nchunks - 1];
    assert_int_equal (last->line0 + last->lines - 1, 3);
    assert_int_equal (r->all.data [r->all.size - 1], '}');
    s_result_free (r);
    r = s_check ("x", 1, 16, 1000);                      /* one byte, one line */
    assert_int_equal (r->nchunks, 1);
    assert_int_equal (r->chunks [0].lines, 1);
    s_result_free (r);
}

static void
test_long_line_own_chunk (void **state)
{
    (void) state;
    ts_buf_t b = { 0 };
    ts_buf_append (&b, "{\"a\":1}\n", 8);
    for (int i = 0; i < 500; i++)
        ts_buf_append (&b, "y", 1);
    ts_buf_append (&b, "\n{\"b\":2}\n", 9);
    result_t *r = s_check (b.data, b.size, 64, 100000);
    assert_int_equal (r->nchunks, 3);
    assert_int_equal (r->chunks [1].line0, 2);
    assert_int_equal (r->chunks [1].lines, 1);
    assert_int_equal (r->chunks [1].len, 501);
    assert_int_equal (r->chunks [2].line0, 3);
    s_result_free (r);
    /* the same long line last, without its newline */
    b.size -= 9;
    r = s_check (b.data, b.size, 64, 100000);
    assert_int_equal (r->nchunks, 2);
    assert_int_equal (r->chunks [1].len, 500);
    s_result_free (r);
    ts_buf_free (&b);
}

static void
test_over_limit (void **state)
{
    (void) state;
    /* line 2 (5000 bytes) and line 5 (last, no newline) are over 100 */
    ts_buf_t b = { 0 };
    ts_buf_append (&b, "{\"a\":1}\n", 8);
    for (int i = 0; i < 5000; i++)
        ts_buf_append (&b, "z", 1);
    ts_buf_append (&b, "\n{\"b\":2}\n\n", 10);
    for (int i = 0; i < 300; i++)
        ts_buf_append (&b, "w", 1);
    for (size_t chunk = 16; chunk <= 4096; chunk *= 4) {
        result_t *r = s_check (b.data, b.size, chunk, 100);
        assert_int_equal (r->nskipped, 2);
        assert_int_equal (r->skipped [0], 2);
        assert_int_equal (r->skipped [1], 5);
        assert_int_equal (r->skipped_head [0], TS_CHUNK_HEAD_BYTES);
        assert_int_equal (r->skipped_head [1], 300);
        s_result_free (r);
    }
    ts_buf_free (&b);
}

static void
test_over_limit_streams (void **state)
{
    (void) state;
    /* a 10 MiB line is read past, not held: buffers stay near a chunk */
    size_t big = 10u << 20;
    char *data = malloc (big + 32);
    assert_non_null (data);
    memcpy (data, "{}\n", 3);
    memset (data + 3, 'q', big);
    memcpy (data + 3 + big, "\n{\"after\":1}\n", 13);
    result_t *r = s_check (data, big + 16, 4096, 8192);
    assert_int_equal (r->nskipped, 1);
    assert_int_equal (r->skipped [0], 2);
    assert_int_equal (r->nchunks, 2);
    assert_int_equal (r->chunks [1].line0, 3);
    assert_true (r->max_cap <= 2 * 8192 + 2);
    assert_int_equal (r->bytes_skipped, big + 1);
    s_result_free (r);
    free (data);
}

static void
test_random (void **state)
{
    (void) state;
    static const size_t chunks [] = { 16, 17, 64, 100, 1000, 4096 };
    static const size_t limits [] = { 5, 50, 100, 150, 1u << 20 };
    for (int seed = 1; seed <= 12; seed++) {
        s_rng = 0x9E3779B97F4A7C15ull * (uint64_t) seed;
        bool final_newline = seed % 3 != 0;
        ts_buf_t text = s_text (400, 200, final_newline);
        if (seed % 4 == 0) {                      /* with a BOM */
            ts_buf_t b = { 0 };
            ts_buf_append (&b, "\xEF\xBB\xBF", 3);
            ts_buf_append (&b, text.data, text.size);
            ts_buf_free (&text);
            text = b;
        }
        for (size_t i = 0; i < sizeof chunks / sizeof chunks [0]; i++)
            for (size_t j = 0; j < sizeof limits / sizeof limits [0]; j++)
                s_result_free (s_check (text.data, text.size, chunks [i], limits [j]));
        ts_buf_free (&text);
    }
}

static void
test_chunk_size (void **state)
{
    (void) state;
    /* 100-byte lines in 1000-byte chunks: exactly 10 lines a chunk */
    ts_buf_t b = { 0 };
    char line [100];
    memset (line, 'x', 99);
    line [99] = '\n';
    for (int i = 0; i < 95; i++)
        ts_buf_append (&b, line, 100);
    result_t *r = s_check (b.data, b.size, 1000, 1000);
    assert_int_equal (r->nchunks, 10);
    for (size_t i = 0; i < r->nchunks; i++) {
        assert_int_equal (r->chunks [i].line0, 1 + 10 * i);
        assert_int_equal (r->chunks [i].lines, i < 9 ? 10 : 5);
    }
    s_result_free (r);
    ts_buf_free (&b);
}

/* --- tests: compressed input ------------------------------------------------------ */

static void
s_assert_same_chunks (const result_t *a, const result_t *b)
{
    assert_int_equal (a->error, 0);
    assert_int_equal (b->error, 0);
    assert_int_equal (a->nchunks, b->nchunks);
    assert_int_equal (a->all.size, b->all.size);
    assert_memory_equal (a->all.data, b->all.data, a->all.size);
    for (size_t i = 0; i < a->nchunks; i++) {
        assert_int_equal (a->chunks [i].line0, b->chunks [i].line0);
        assert_int_equal (a->chunks [i].lines, b->chunks [i].lines);
        assert_int_equal (a->chunks [i].len, b->chunks [i].len);
    }
    assert_int_equal (a->nskipped, b->nskipped);
}

static void
s_kind_is (const char *path, ts_input_kind_t kind)
{
    int err;
    ts_input_t *in = ts_input_open (path, &err, NULL, 0);
    assert_non_null (in);
    assert_int_equal (ts_input_kind (in), kind);
    ts_input_destroy (&in);
}

static void
test_compressed_same_as_plain (void **state)
{
    (void) state;
    s_rng = 12345;
    ts_buf_t text = s_text (3000, 3000, false);
    result_t *plain = s_check (text.data, text.size, 4096, 4000);
    assert_true (plain->nchunks > 10);
    assert_true (plain->nskipped > 0);

    unsigned parts [] = { 1, 3 };
    for (int i = 0; i < 2; i++) {
        ts_buf_t gz = s_gzip (text.data, text.size, parts [i]);
        const char *path = s_file (gz.data, gz.size);
        s_kind_is (path, TS_INPUT_GZIP);
        result_t *r = s_chunk_all (path, 4096, 4000);
        s_assert_same_chunks (plain, r);
        s_result_free (r);
        ts_buf_free (&gz);

        ts_buf_t zs = s_zstd (text.data, text.size, parts [i]);
        path = s_file (zs.data, zs.size);
        s_kind_is (path, TS_INPUT_ZSTD);
        r = s_chunk_all (path, 4096, 4000);
        s_assert_same_chunks (plain, r);
        s_result_free (r);
        ts_buf_free (&zs);
    }
    s_result_free (plain);
    ts_buf_free (&text);
}

static void
test_gzip_multi_member (void **state)
{
    (void) state;
    /* members split lines in the middle; one member is empty; zero
     * padding follows the last (as tape and block devices leave it) */
    const char *a = "{\"a\":1}\n{\"b\":", *b = "2}\n{\"c\":3}\n";
    ts_buf_t gz = s_gzip (a, strlen (a), 1);
    ts_buf_t g2 = s_gzip ("", 0, 1);
    ts_buf_t g3 = s_gzip (b, strlen (b), 1);
    ts_buf_append (&gz, g2.data, g2.size);
    ts_buf_append (&gz, g3.data, g3.size);
    ts_buf_append (&gz, "\0\0\0\0\0\0\0\0", 8);
    result_t *r = s_chunk_all (s_file (gz.data, gz.size), 1024, 1000);
    assert_int_equal (r->error, 0);
    assert_int_equal (r->nchunks, 1);
    assert_int_equal (r->chunks [0].lines, 3);
    assert_int_equal (r->all.size, strlen (a) + strlen (b));
    assert_memory_equal (r->all.data, "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n", r->all.size);
    s_result_free (r);
    ts_buf_free (&gz);
    ts_buf_free (&g2);
    ts_buf_free (&g3);
}

static void
test_bad_compressed (void **state)
{
    (void) state;
    s_rng = 777;
    ts_buf_t text = s_text (2000, 300, true);
    ts_buf_t gz = s_gzip (text.data, text.size, 1);
    ts_buf_t zs = s_zstd (text.data, text.size, 1);

    /* truncated */
    result_t *r = s_chunk_all (s_file (gz.data, gz.size / 2), 4096, 1u << 20);
    assert_int_equal (r->error, TS_ECORRUPT);
    s_result_free (r);
    r = s_chunk_all (s_file (zs.data, zs.size / 2), 4096, 1u << 20);
    assert_int_equal (r->error, TS_ECORRUPT);
    s_result_free (r);
    /* flipped bytes in the middle: a bad block or a bad CRC */
    for (size_t i = gz.size / 2; i < gz.size / 2 + 16; i++)
        gz.data [i] ^= 0x5a;
    r = s_chunk_all (s_file (gz.data, gz.size), 4096, 1u << 20);
    assert_int_equal (r->error, TS_ECORRUPT);
    s_result_free (r);
    for (size_t i = zs.size / 2; i < zs.size / 2 + 16; i++)
        zs.data [i] ^= 0x5a;
    r = s_chunk_all (s_file (zs.data, zs.size), 4096, 1u << 20);
    assert_int_equal (r->error, TS_ECORRUPT);
    s_result_free (r);
    /* trailing garbage after a good member */
    ts_buf_t g = s_gzip ("{}\n", 3, 1);
    ts_buf_append (&g, "garbage", 7);
    r = s_chunk_all (s_file (g.data, g.size), 4096, 1u << 20);
    assert_int_equal (r->error, TS_ECORRUPT);
    s_result_free (r);

    /* the message names the file */
    int err;
    const char *path = s_file (g.data, g.size);
    ts_input_t *in = ts_input_open (path, &err, NULL, 0);
    assert_non_null (in);
    char buf [64];
    ssize_t n;
    while ((n = ts_input_read (in, buf, sizeof buf)) > 0)
        ;
    assert_int_equal (n, TS_ECORRUPT);
    assert_non_null (strstr (ts_input_errmsg (in), path));
    assert_non_null (strstr (ts_input_errmsg (in), "trailing garbage"));
    assert_int_equal (ts_input_read (in, buf, sizeof buf), TS_ECORRUPT);   /* sticky */
    ts_input_destroy (&in);

    ts_buf_free (&g);
    ts_buf_free (&gz);
    ts_buf_free (&zs);
    ts_buf_free (&text);
}

/*  Writes `len` bytes into a pipe from a child process, in small writes
 *  (so that the reader gets many short reads). Returns the child's pid and
 *  the read end in *fd. */
static pid_t
s_pipe_from (const char *data, size_t len, int *fd)
{
    pid_t pid = tu_fork_pipe (fd);
    assert_true (pid >= 0);
    if (pid == 0) {
        size_t off = 0;
        while (off < len) {
            size_t n = len - off < 777 ? len - off : 777;
            ssize_t w = write (*fd, data + off, n);
            if (w <= 0)
                _exit (1);
            off += (size_t) w;
        }
        _exit (0);
    }
    return pid;
}

static void
test_pipe (void **state)
{
    (void) state;
    s_rng = 4242;
    ts_buf_t text = s_text (2000, 300, true);
    result_t *plain = s_check (text.data, text.size, 4096, 1u << 20);
    ts_buf_t gz = s_gzip (text.data, text.size, 2);
    ts_buf_t zs = s_zstd (text.data, text.size, 2);
    const ts_buf_t *inputs [] = { &text, &gz, &zs };
    for (int i = 0; i < 3; i++) {
        int fd = -1, status;
        pid_t pid = s_pipe_from (inputs [i]->data, inputs [i]->size, &fd);
        char path [64];
        snprintf (path, sizeof path, "/dev/fd/%d", fd);
        result_t *r = s_chunk_all (path, 4096, 1u << 20);
        assert_int_equal (r->total, -1);        /* a pipe has no size */
        s_assert_same_chunks (plain, r);
        s_result_free (r);
        close (fd);
        assert_int_equal (waitpid (pid, &status, 0), pid);
        assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
    s_result_free (plain);
    ts_buf_free (&zs);
    ts_buf_free (&gz);
    ts_buf_free (&text);
}

static void
test_input_errors (void **state)
{
    (void) state;
    int err;
    char emsg [256];
    char path [300];
    snprintf (path, sizeof path, "%s/no-such-file.jsonl", s_dir);
    assert_null (ts_input_open (path, &err, emsg, sizeof emsg));
    assert_int_equal (err, -ENOENT);
    assert_non_null (strstr (emsg, path));
    assert_null (ts_input_open (s_dir, &err, emsg, sizeof emsg));
    assert_int_equal (err, -EISDIR);
    const char xz [] = "\xFD" "7zXZ\0\0\0\0\0\0\0";
    assert_null (ts_input_open (s_file (xz, sizeof xz), &err, emsg, sizeof emsg));
    assert_int_equal (err, TS_EINVAL);
    assert_non_null (strstr (emsg, "xz"));
    const char bz [] = "BZh91AY&SY\0\0\0";
    assert_null (ts_input_open (s_file (bz, sizeof bz), &err, emsg, sizeof emsg));
    assert_int_equal (err, TS_EINVAL);
    /* text that merely starts like bzip2 is text */
    const char *bzt = "BZh is not bzip2\n";
    ts_input_t *in = ts_input_open (s_file (bzt, strlen (bzt)), &err, emsg, sizeof emsg);
    assert_non_null (in);
    assert_int_equal (ts_input_kind (in), TS_INPUT_PLAIN);
    ts_input_destroy (&in);
    ts_input_destroy (&in);                 /* safe on NULL */
}

static void
test_input_progress (void **state)
{
    (void) state;
    s_rng = 99;
    ts_buf_t text = s_text (5000, 300, true);
    ts_buf_t gz = s_gzip (text.data, text.size, 1);
    const ts_buf_t *files [] = { &text, &gz };
    for (int i = 0; i < 2; i++) {
        int err;
        ts_input_t *in = ts_input_open (s_file (files [i]->data, files [i]->size), &err, NULL, 0);
        assert_non_null (in);
        assert_int_equal (ts_input_total (in), (int64_t) files [i]->size);
        char buf [1000];
        size_t total = 0;
        uint64_t last = 0;
        ssize_t n;
        while ((n = ts_input_read (in, buf, sizeof buf)) > 0) {
            total += (size_t) n;
            assert_true (ts_input_consumed (in) >= last);
            last = ts_input_consumed (in);
        }
        assert_int_equal (n, 0);
        assert_int_equal (total, text.size);
        assert_int_equal (ts_input_consumed (in), files [i]->size);
        ts_input_destroy (&in);
    }
    ts_buf_free (&gz);
    ts_buf_free (&text);
}

/* --- setup, and the benchmark ---------------------------------------------------------- */

static int
s_setup (void **state)
{
    (void) state;
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/test_chunker.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    char path [300];
    for (unsigned i = 0; i < s_files; i++) {
        snprintf (path, sizeof path, "%s/f%u", s_dir, i);
        unlink (path);
    }
    rmdir (s_dir);
    return 0;
}

static double
s_secs (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/*  Reads FILE through the chunker (and once through ts_input alone) and
 *  prints the throughput: the median of 5 runs. */
static int
s_bench (const char *path, size_t chunk_bytes)
{
    double chunk_t [5], read_t [5];
    uint64_t bytes = 0, lines = 0, chunks = 0;
    /* page-aligned, plus a little: read(2) into a buffer that sits 1 to 31
     * bytes after the file offset (mod 4096) copies 5x slower here, which
     * is what a plain malloc'd megabyte (16 bytes into its page) gets */
    char *mem = aligned_alloc (4096, chunk_bytes + 8192), *buf = mem + 256;
    for (int run = 0; run < 5; run++) {
        int err;
        char emsg [256];
        ts_input_t *in = ts_input_open (path, &err, emsg, sizeof emsg);
        if (!in) {
            fprintf (stderr, "%s\n", emsg);
            return 2;
        }
        double t0 = s_secs ();
        ssize_t n;
        bytes = 0;
        while ((n = ts_input_read (in, buf, chunk_bytes)) > 0)
            bytes += (uint64_t) n;
        read_t [run] = s_secs () - t0;
        ts_input_destroy (&in);

        in = ts_input_open (path, &err, emsg, sizeof emsg);
        ts_chunker_t *ch = ts_chunker_new (in, chunk_bytes, TS_LINE_MAX_DEFAULT);
        ts_buf_t out = { 0 };
        ts_chunk_info_t info;
        int rc;
        lines = chunks = 0;
        t0 = s_secs ();
        while ((rc = ts_chunker_next (ch, &out, &info)) > 0) {
            lines += info.lines;
            chunks += rc == TS_CHUNK_LINES;
        }
        chunk_t [run] = s_secs () - t0;
        ts_buf_free (&out);
        ts_chunker_destroy (&ch);
        ts_input_destroy (&in);
        if (rc < 0) {
            fprintf (stderr, "chunker failed: %s\n", ts_strerror (rc));
            return 2;
        }
    }
    for (int i = 0; i < 5; i++)             /* sort, for the medians */
        for (int j = i + 1; j < 5; j++) {
            if (chunk_t [j] < chunk_t [i]) { double t = chunk_t [i]; chunk_t [i] = chunk_t [j]; chunk_t [j] = t; }
            if (read_t [j] < read_t [i]) { double t = read_t [i]; read_t [i] = read_t [j]; read_t [j] = t; }
        }
    printf ("%s: %.1f MB, %llu lines, %llu chunks of %zu bytes\n", path, (double) bytes / 1e6,
            (unsigned long long) lines, (unsigned long long) chunks, chunk_bytes);
    printf ("ts_input_read alone: median %.3f s = %.2f GB/s (best %.2f GB/s)\n",
            read_t [2], (double) bytes / read_t [2] / 1e9, (double) bytes / read_t [0] / 1e9);
    printf ("input + chunker:     median %.3f s = %.2f GB/s (best %.2f GB/s)\n",
            chunk_t [2], (double) bytes / chunk_t [2] / 1e9, (double) bytes / chunk_t [0] / 1e9);
    free (mem);
    return 0;
}

int
main (int argc, char *argv [])
{
    if (argc >= 3 && strcmp (argv [1], "--bench") == 0)
        return s_bench (argv [2], argc >= 4 ? (size_t) strtoull (argv [3], NULL, 10)
                                            : TS_CHUNK_BYTES);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_empty),
        cmocka_unit_test (test_simple),
        cmocka_unit_test (test_bom),
        cmocka_unit_test (test_crlf),
        cmocka_unit_test (test_no_final_newline),
        cmocka_unit_test (test_long_line_own_chunk),
        cmocka_unit_test (test_over_limit),
        cmocka_unit_test (test_over_limit_streams),
        cmocka_unit_test (test_random),
        cmocka_unit_test (test_chunk_size),
        cmocka_unit_test (test_compressed_same_as_plain),
        cmocka_unit_test (test_gzip_multi_member),
        cmocka_unit_test (test_bad_compressed),
        cmocka_unit_test (test_pipe),
        cmocka_unit_test (test_input_errors),
        cmocka_unit_test (test_input_progress),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
