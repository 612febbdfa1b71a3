/*  ts_chunker.c: cutting an input into chunks of whole lines (ts_chunker.h).
 *
 *  The working buffer `w` holds the bytes read but not yet handed out; they
 *  start at the beginning of line number `line`. Each call reads until `w`
 *  holds a chunk's worth (or the input ends), cuts after the last newline
 *  in the first `chunk_bytes` bytes, counts the lines before the cut, and
 *  hands the buffer over, keeping only the partial line after the cut (moved
 *  into the buffer the caller gave back). A line with no newline in the
 *  first `chunk_bytes` bytes is read on, up to `line_max` + 1 bytes: if it
 *  ends before, it is a chunk of its own; if not, it is reported and the
 *  rest of it is read and dropped piece by piece (`skipping`).
 */
#include "ts_chunker.h"
#include "ts_error.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

struct ts_chunker {
    ts_input_t *input;          /* borrowed */
    size_t   chunk_bytes;
    size_t   line_max;
    ts_buf_t w;                 /* unconsumed bytes, from the start of `line` */
    uint64_t line;              /* number of the line at w.data [0] */
    bool     bom_checked;
    bool     eof;               /* the input has no more bytes */
    bool     skipping;          /* dropping the rest of a skipped line */
    int      failed;            /* final error, 0 when none */
    uint64_t bytes_read;
    uint64_t bytes_skipped;
    char     head [TS_CHUNK_HEAD_BYTES];
};

/*  How much of a line is read before it is known to be too long: past the
 *  limit, and at least the head that is reported of it. */
static size_t
s_hold (const ts_chunker_t *self)
{
    return self->line_max + 1 > TS_CHUNK_HEAD_BYTES ? self->line_max + 1 : TS_CHUNK_HEAD_BYTES;
}

/*  Makes room for `n` bytes in `w`, growing by doubling but never past what
 *  the longest acceptable line needs, so that a long line costs what it
 *  weighs and no more. Returns 0 or TS_ENOMEM (w untouched). */
static int
s_reserve (ts_chunker_t *self, size_t n)
{
    if (n <= self->w.cap)
        return 0;
    size_t cap = self->w.cap * 2;
    size_t most = s_hold (self) > self->chunk_bytes ? s_hold (self) : self->chunk_bytes;
    if (cap > most)
        cap = most;
    if (cap < n)
        cap = n;
    char *p = realloc (self->w.data, cap);
    if (!p)
        return TS_ENOMEM;
    self->w.data = p;
    self->w.cap = cap;
    return 0;
}

/*  Gives back the memory of a buffer grown for a long line, once the bytes
 *  it holds fit in a normal one. */
static void
s_shrink (ts_chunker_t *self)
{
    if (self->w.cap <= 2 * self->chunk_bytes || self->w.size > self->chunk_bytes)
        return;
    char *p = realloc (self->w.data, self->chunk_bytes);
    if (p) {
        self->w.data = p;
        self->w.cap = self->chunk_bytes;
    }
}

/*  Reads until `w` holds at least `want` bytes or the input ends. Returns
 *  0 or the input's negative code (what was read so far stays in `w`). */
static int
s_fill (ts_chunker_t *self, size_t want)
{
    int rc = s_reserve (self, want);
    if (rc)
        return rc;
    while (self->w.size < want && !self->eof) {
        ssize_t n = ts_input_read (self->input, self->w.data + self->w.size,
                                   want - self->w.size);
        if (n < 0)
            return (int) n;
        if (n == 0)
            self->eof = true;
        self->w.size += (size_t) n;
        self->bytes_read += (uint64_t) n;
    }
    return 0;
}

/*  Drops the first `n` bytes of `w`. */
static void
s_drop (ts_chunker_t *self, size_t n)
{
    assert (n <= self->w.size);
    memmove (self->w.data, self->w.data + n, self->w.size - n);
    self->w.size -= n;
}

/*  Counts the newlines in data [0, len), 64 bytes a step with SSE2: on
 *  short lines a memchr a line costs twice as much. */
static uint64_t
s_count_newlines (const char *data, size_t len)
{
    uint64_t n = 0;
    size_t i = 0;
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8 ('\n'), zero = _mm_setzero_si128 ();
    while (len - i >= 64) {
        /* byte counters (each match adds 1: 0 - -1) for at most 255 steps */
        size_t steps = (len - i) / 64;
        if (steps > 255)
            steps = 255;
        __m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
        for (size_t s = 0; s < steps; s++, i += 64) {
            const __m128i *p = (const __m128i *) (const void *) (data + i);
            a0 = _mm_sub_epi8 (a0, _mm_cmpeq_epi8 (_mm_loadu_si128 (p), nl));
            a1 = _mm_sub_epi8 (a1, _mm_cmpeq_epi8 (_mm_loadu_si128 (p + 1), nl));
            a2 = _mm_sub_epi8 (a2, _mm_cmpeq_epi8 (_mm_loadu_si128 (p + 2), nl));
            a3 = _mm_sub_epi8 (a3, _mm_cmpeq_epi8 (_mm_loadu_si128 (p + 3), nl));
        }
        __m128i sum = _mm_add_epi64 (_mm_add_epi64 (_mm_sad_epu8 (a0, zero), _mm_sad_epu8 (a1, zero)),
                                     _mm_add_epi64 (_mm_sad_epu8 (a2, zero), _mm_sad_epu8 (a3, zero)));
        n += (uint64_t) _mm_cvtsi128_si64 (sum)
           + (uint64_t) _mm_cvtsi128_si64 (_mm_unpackhi_epi64 (sum, sum));
    }
#endif
    for (; i < len; i++)
        n += data [i] == '\n';
    return n;
}

/*  Counts the lines of data [0, len) (the last one may lack its newline).
 *  When a line is longer than `line_max`, stops there: *bad gets its
 *  offset and the count is of the lines before it. Else *bad = SIZE_MAX. */
static uint64_t
s_count_lines (const char *data, size_t len, size_t line_max, size_t *bad)
{
    const char *s = data, *end = data + len, *q;
    uint64_t n = 0;
    *bad = SIZE_MAX;
    if (len <= line_max)            /* no line can be too long: only count */
        return len ? s_count_newlines (data, len) + (data [len - 1] != '\n') : 0;
    while (s < end) {
        q = memchr (s, '\n', (size_t) (end - s));
        if ((size_t) ((q ? q : end) - s) > line_max) {
            *bad = (size_t) (s - data);
            return n;
        }
        n++;
        if (!q)
            break;
        s = q + 1;
    }
    return n;
}

/*  Reports the line at w.data [0], `len` bytes of which are in `w`, as
 *  skipped, and drops those bytes, and its newline when `has_newline` (the
 *  newline follows them in `w`). When the newline has not been read yet,
 *  the rest of the line is dropped as it comes (s_skip_rest). */
static int
s_skip (ts_chunker_t *self, size_t len, bool has_newline, ts_chunk_info_t *info)
{
    size_t head = len < TS_CHUNK_HEAD_BYTES ? len : TS_CHUNK_HEAD_BYTES;
    memcpy (self->head, self->w.data, head);
    info->offset = self->bytes_read - self->w.size;
    info->line0 = self->line++;
    info->lines = 1;
    info->head = self->head;
    info->head_len = head;
    len += has_newline;
    self->bytes_skipped += len;
    s_drop (self, len);
    self->skipping = !has_newline && !self->eof;
    s_shrink (self);
    return TS_CHUNK_SKIPPED;
}

/*  Hands w.data [0, cut), `lines` lines, over to the caller in *out, and
 *  keeps the rest in the buffer the caller gave. */
static int
s_emit (ts_chunker_t *self, size_t cut, uint64_t lines, ts_buf_t *out, ts_chunk_info_t *info)
{
    size_t tail = self->w.size - cut;
    info->offset = self->bytes_read - self->w.size;
    ts_buf_t next = *out;
    if (next.cap > 2 * self->chunk_bytes) {
        ts_buf_free (&next);                /* grown for a long line once */
    }
    size_t need = tail > self->chunk_bytes ? tail : self->chunk_bytes;
    if (next.cap < need) {
        char *p = realloc (next.data, need);
        if (!p) {
            *out = next;
            return TS_ENOMEM;
        }
        next.data = p;
        next.cap = need;
    }
    if (tail)
        memcpy (next.data, self->w.data + cut, tail);
    next.size = tail;

    *out = self->w;
    out->size = cut;
    self->w = next;
    info->line0 = self->line;
    info->lines = lines;
    info->head = NULL;
    info->head_len = 0;
    self->line += lines;
    return TS_CHUNK_LINES;
}

ts_chunker_t *
ts_chunker_new (ts_input_t *input, size_t chunk_bytes, size_t line_max)
{
    assert (input);
    assert (chunk_bytes >= TS_CHUNK_MIN_BYTES);
    assert (line_max >= 1);
    ts_chunker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->input = input;
    self->chunk_bytes = chunk_bytes;
    self->line_max = line_max;
    self->line = 1;
    self->w.data = malloc (chunk_bytes);
    if (!self->w.data) {
        free (self);
        return NULL;
    }
    self->w.cap = chunk_bytes;
    return self;
}

void
ts_chunker_destroy (ts_chunker_t **self_p)
{
    ts_chunker_t *self = *self_p;
    if (!self)
        return;
    ts_buf_free (&self->w);
    free (self);
    *self_p = NULL;
}

/*  Drops bytes of a skipped line until its newline or the end of the input.
 *  Returns 0 once done, or a negative code. */
static int
s_skip_rest (ts_chunker_t *self)
{
    while (self->skipping) {
        char *nl = self->w.size ? memchr (self->w.data, '\n', self->w.size) : NULL;
        if (nl) {
            size_t n = (size_t) (nl - self->w.data) + 1;
            self->bytes_skipped += n;
            s_drop (self, n);
            self->skipping = false;
            break;
        }
        self->bytes_skipped += self->w.size;
        self->w.size = 0;
        if (self->eof) {
            self->skipping = false;
            break;
        }
        int rc = s_fill (self, self->chunk_bytes);
        if (rc)
            return rc;
    }
    s_shrink (self);
    return 0;
}

/*  Cuts the next chunk out of `w` (reading as needed). Returns the event,
 *  or a negative code (what was read stays in `w`). */
static int
s_next (ts_chunker_t *self, ts_buf_t *out, ts_chunk_info_t *info)
{
    int rc;
    if (self->skipping && (rc = s_skip_rest (self)) != 0)
        return rc;
    if ((rc = s_fill (self, self->chunk_bytes)) != 0)
        return rc;
    if (!self->bom_checked) {
        /* s_fill read a whole chunk or the whole input: 3 bytes if any */
        if (self->w.size >= 3 && memcmp (self->w.data, "\xEF\xBB\xBF", 3) == 0)
            s_drop (self, 3);
        self->bom_checked = true;
    }
    if (self->w.size == 0)
        return TS_CHUNK_END;

    const char *data = self->w.data;
    size_t lim = self->w.size < self->chunk_bytes ? self->w.size : self->chunk_bytes;
    size_t cut = 0;
    if (self->eof && self->w.size <= self->chunk_bytes)
        cut = self->w.size;                     /* the rest of the input */
    else {
        const char *nl = memrchr (data, '\n', lim);
        if (nl)
            cut = (size_t) (nl - data) + 1;
    }

    if (cut == 0) {
        /* The first line is longer than a chunk: read on to its end, or
         * until it is known to be longer than line_max (and its head is
         * there to report). */
        size_t from = lim, hold = s_hold (self);
        for (;;) {
            const char *nl = memchr (self->w.data + from, '\n', self->w.size - from);
            if (nl) {
                size_t len = (size_t) (nl - self->w.data);
                if (len > self->line_max)
                    return s_skip (self, len, true, info);
                return s_emit (self, len + 1, 1, out, info);
            }
            if (self->w.size >= hold || self->eof) {
                if (self->w.size > self->line_max)
                    return s_skip (self, self->w.size, false, info);
                return s_emit (self, self->w.size, 1, out, info);  /* last line */
            }
            from = self->w.size;
            size_t want = self->w.size + self->chunk_bytes;
            if (want > hold)
                want = hold;
            if ((rc = s_fill (self, want)) != 0)
                return rc;
        }
    }

    size_t bad;
    uint64_t lines = s_count_lines (data, cut, self->line_max, &bad);
    if (bad == SIZE_MAX)
        return s_emit (self, cut, lines, out, info);
    if (bad > 0)
        return s_emit (self, bad, lines, out, info);
    /* the first line is too long, and ends inside the cut */
    const char *nl = memchr (data, '\n', cut);
    return s_skip (self, nl ? (size_t) (nl - data) : cut, nl != NULL, info);
}

int
ts_chunker_next (ts_chunker_t *self, ts_buf_t *out, ts_chunk_info_t *info)
{
    assert (self && out && info);
    if (self->failed)
        return self->failed;
    int rc = s_next (self, out, info);
    if (rc < 0 && rc != -EINTR)
        self->failed = rc;
    return rc;
}

bool
ts_chunker_exhausted (const ts_chunker_t *self)
{
    return self->eof && self->w.size == 0 && !self->skipping;
}

uint64_t
ts_chunker_bytes_read (const ts_chunker_t *self)
{
    return self->bytes_read;
}

uint64_t
ts_chunker_bytes_skipped (const ts_chunker_t *self)
{
    return self->bytes_skipped;
}
