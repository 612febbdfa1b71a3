/*  ts_progress.h: the producer's progress display on stderr.
 *
 *  On a terminal, one line that rewrites itself: percent done and a bar
 *  when the input's size is known, MB/s, records/s and the time left.
 *  Elsewhere (a log file, a pipe), a plain line every TS_PROGRESS_LINE_MS.
 *  Anything else written to stderr while a bar is shown must call
 *  ts_progress_clear first, or it lands in the middle of the bar.
 */
#ifndef TS_PROGRESS_H
#define TS_PROGRESS_H

#include "ts_producer.h"

#include <stdint.h>

#define TS_PROGRESS_BAR_MS   250     /* bar redraws at most this often */
#define TS_PROGRESS_LINE_MS  5000    /* a plain line this often */

typedef struct ts_progress ts_progress_t;

/*  A display in `mode` (TS_PROGRESS_NONE gives a display that draws
 *  nothing) for an input of `total` bytes (-1: unknown), started at
 *  `now_ms` (monotonic). NULL when out of memory. */
ts_progress_t *ts_progress_new (ts_progress_mode_t mode, int64_t total, int64_t now_ms);

/*  Clears the bar and frees; nulls *self_p; safe on NULL. */
void ts_progress_destroy (ts_progress_t **self_p);

/*  Shows the state, when it is time to: `consumed` bytes of the input (of
 *  `total`), `bytes` decompressed bytes read, `records` lines acknowledged.
 *  Returns the time of the next update due (monotonic ms), for the caller's
 *  poll timeout; INT64_MAX when it draws nothing. */
int64_t ts_progress_update (ts_progress_t *self, int64_t now_ms, uint64_t consumed,
                            uint64_t bytes, uint64_t records);

/*  Erases the bar (if shown) so that other output starts on a clean line;
 *  the next update draws it again. */
void ts_progress_clear (ts_progress_t *self);

#endif
