/*  ts_chunker.h: cuts an input (ts_input.h) into chunks of whole lines,
 *  about `chunk_bytes` each, without parsing them (docs/DESIGN.md, "Processes").
 *
 *  What comes out, in input order, is a sequence of events:
 *    TS_CHUNK_LINES    a chunk: whole lines with their newlines, cut after
 *                      the last newline that fits in `chunk_bytes`; a line
 *                      longer than that travels alone in a chunk of its own;
 *                      the last line of the input may lack its newline.
 *    TS_CHUNK_SKIPPED  a line longer than `line_max` bytes (newline not
 *                      counted): it is not buffered whole but read past, and
 *                      only its number and its first TS_CHUNK_HEAD_BYTES
 *                      bytes are given, to report it as rejected.
 *  A UTF-8 byte order mark at the very start of the input is dropped. So the
 *  chunks put back together are the input without its BOM and without the
 *  skipped lines. Lines count from 1, every line counts (blank ones too),
 *  and "\r\n" is a newline like "\n" (the '\r' stays in the line's bytes).
 *
 *  Cost: a memrchr for the cut and a memchr a line to count lines (and to
 *  measure them when `line_max` is below `chunk_bytes`). A chunk's bytes are
 *  handed over, not copied: only the partial line after the cut is moved.
 *  Memory: one buffer of `chunk_bytes` (up to `line_max` + 1 while one line
 *  longer than a chunk is read), plus whatever the caller keeps.
 */
#ifndef TS_CHUNKER_H
#define TS_CHUNKER_H

#include "ts_input.h"
#include "ts_record.h"       /* ts_buf_t */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_chunker ts_chunker_t;

#define TS_CHUNK_HEAD_BYTES  1024   /* bytes kept of a skipped line */
#define TS_CHUNK_MIN_BYTES   16     /* smallest chunk size accepted */

typedef enum {
    TS_CHUNK_END     = 0,
    TS_CHUNK_LINES   = 1,
    TS_CHUNK_SKIPPED = 2
} ts_chunk_event_t;

typedef struct {
    /*  LINES: number of the chunk's first line and how many lines it has.
     *  SKIPPED: the skipped line's number, and lines = 1. */
    uint64_t    line0;
    uint64_t    lines;
    /*  SKIPPED: the first bytes of the line (at most TS_CHUNK_HEAD_BYTES),
     *  borrowed from the chunker until its next call. */
    const char *head;
    size_t      head_len;
    /*  Where the chunk's (or skipped line's) first byte is in the input's
     *  decompressed bytes (a plain file's: its offset in the file). */
    uint64_t    offset;
} ts_chunk_info_t;

/*  A chunker over `input`, which it borrows (the caller destroys the input
 *  after the chunker). `chunk_bytes` >= TS_CHUNK_MIN_BYTES; `line_max` >= 1.
 *  Returns NULL when out of memory. */
ts_chunker_t *ts_chunker_new (ts_input_t *input, size_t chunk_bytes, size_t line_max);

/*  Frees the chunker (not the input); nulls *self_p; safe on NULL. */
void ts_chunker_destroy (ts_chunker_t **self_p);

/*  The next event (see above), with its facts in *info.
 *  For TS_CHUNK_LINES the chunk's bytes are in *out (out->data, out->size).
 *  `out` belongs to the caller before and after the call, but its memory
 *  may be swapped with the chunker's own buffer: give an empty ts_buf_t or
 *  a buffer you are done with (its bytes are dropped; a large one is freed
 *  rather than kept), and free the one you get with ts_buf_free. *out is
 *  untouched for other events.
 *  Returns the event (TS_CHUNK_END once the input is exhausted, and on
 *  every call after that), or a negative code from ts_input_read (its
 *  message in ts_input_errmsg): -EINTR leaves the chunker as it was, so the
 *  call can be repeated; other errors are final. TS_ENOMEM when a buffer
 *  cannot grow. */
int ts_chunker_next (ts_chunker_t *self, ts_buf_t *out, ts_chunk_info_t *info);

/*  True once the input is read to its end and every byte of it was given
 *  out: the chunk just returned was the last one. (It may also become true
 *  only at the next call, which then returns TS_CHUNK_END.) */
bool ts_chunker_exhausted (const ts_chunker_t *self);

/*  Decompressed bytes read from the input so far (the BOM included). */
uint64_t ts_chunker_bytes_read (const ts_chunker_t *self);

/*  Bytes of the lines skipped so far, their newlines included. */
uint64_t ts_chunker_bytes_skipped (const ts_chunker_t *self);

#ifdef __cplusplus
}
#endif
#endif
