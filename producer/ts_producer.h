/*  ts_producer.h: one import: reads an input, cuts it into chunks, sends them
 *  to the aggregator and accounts for every line (docs/DESIGN.md, "Processes";
 *  the messages are in ts_proto.h).
 *
 *  Flow control is a window of credits: at most `window` chunks are
 *  unacknowledged at a time, so memory stays flat whatever the input's
 *  size. A chunk not acknowledged within `resend_ms` is sent again (the
 *  aggregator may have restarted; a chunk stored twice is stored once).
 *  An ack counts once: repeats, and acks of other jobs, are ignored.
 *
 *  Rejected lines are written to the rejects file, one a line,
 *      <line number> TAB <reason> TAB <the line's bytes> LF
 *  in line order: the acks of chunks that come back early wait (as text,
 *  not as chunks) until every earlier chunk is acknowledged, and the
 *  producer never runs more than TS_PRODUCER_SPAN_FACTOR windows ahead of
 *  its oldest unacknowledged chunk. Lines longer than the line limit are
 *  rejected by the producer itself, with their first TS_CHUNK_HEAD_BYTES
 *  bytes followed by "...".
 *
 *  Lifecycle: ts_producer_new, ts_producer_run once, ts_producer_report
 *  (also after a failed or interrupted run: it reports what was
 *  committed), ts_producer_destroy. The producer is program code: it logs
 *  (ts_log.h) and draws progress on stderr, but never prints on stdout.
 */
#ifndef TS_PRODUCER_H
#define TS_PRODUCER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ts_producer ts_producer_t;

#define TS_PRODUCER_SPAN_FACTOR  4       /* chunks ahead of the oldest, in windows */
#define TS_PRODUCER_TIMEOUT_S    120     /* default --timeout */
#define TS_PRODUCER_DRAIN_MS     2000    /* wait for answers after a nack */
#define TS_PRODUCER_JOB_MAX      64      /* longest job id */

typedef enum {
    TS_PROGRESS_NONE,       /* --quiet */
    TS_PROGRESS_BAR,        /* a terminal: one self-rewriting line */
    TS_PROGRESS_LINES       /* a line every TS_PROGRESS_LINE_MS */
} ts_progress_mode_t;

typedef struct {
    const char *input;        /* path, or "-" for stdin */
    const char *endpoint;     /* the aggregator's ingest endpoint */
    const char *job;          /* job id: ts_producer_job_is_valid */
    const char *profile;      /* passed on in every chunk header */
    const char *rejects_path; /* the rejects file (its directory is made) */
    unsigned    window;       /* chunks in flight, >= 1 */
    size_t      line_max;     /* longer lines are rejected, >= 1 */
    size_t      chunk_bytes;  /* about this many bytes a chunk */
    unsigned    resend_ms;    /* resend a chunk unacknowledged this long */
    unsigned    timeout_s;    /* give up after this long without an ack; 0: never */
    bool        send_bytes;   /* chunks always carry their bytes (never a reference) */
    ts_progress_mode_t progress;
} ts_producer_opts_t;

/*  What the import did. Counts add up: lines = imported + duplicates +
 *  rejected + blank, over every line acknowledged or rejected by the
 *  producer; after a failed run, lines not acknowledged are not counted. */
typedef struct {
    uint64_t    lines, imported, duplicates, rejected, blank;
    uint64_t    bytes;            /* input bytes of the lines counted */
    double      seconds;
    double      mb_per_s;         /* bytes / seconds / 1e6 */
    const char *job;
    const char *rejects_file;     /* NULL when nothing was written */
    bool        complete;         /* every line was accounted for */
    const struct ts_warn_s *warnings; /* fields left unknown (ts_warn.h); may be NULL */
} ts_producer_report_t;

/*  True for an acceptable job id: 1 to TS_PRODUCER_JOB_MAX characters of
 *  [A-Za-z0-9_.-], not starting with '.' (it names the rejects file). */
bool ts_producer_job_is_valid (const char *job);

/*  Writes a new random job id (32 hex characters from /dev/urandom) into
 *  `buf` (>= 33 bytes). */
void ts_producer_job_random (char *buf);

/*  Opens the input and the rejects file and connects to the aggregator
 *  (ZeroMQ connects lazily: an aggregator that is not there yet is waited
 *  for by ts_producer_run). Returns the producer, or NULL with *code set
 *  (-errno or TS_E*) and a message naming the file in `err`. */
ts_producer_t *ts_producer_new (const ts_producer_opts_t *opts, int *code,
                                char *err, size_t err_size);

/*  Frees everything; nulls *self_p; safe on NULL and on a producer that
 *  never ran. */
void ts_producer_destroy (ts_producer_t **self_p);

/*  Runs the import until every chunk is acknowledged and "done" is sent, or
 *  until it cannot go on, or *stop becomes non-zero (a signal handler sets
 *  it). Returns 0 when the import completed; -EINTR when stopped;
 *  TS_ETIMEOUT when nothing was acknowledged for timeout_s; the code of a
 *  nack (TS_ENOSPC, TS_ESTORE, ...; TS_ESTORE when it names none); the
 *  input's error (TS_ECORRUPT, -errno); -errno when the rejects file
 *  cannot be written. Each failure is logged once, with its cause. */
int ts_producer_run (ts_producer_t *self, volatile sig_atomic_t *stop);

/*  Fills *report; its strings are borrowed from the producer. */
void ts_producer_report (ts_producer_t *self, ts_producer_report_t *report);

/*  Prints the report on `out`: aligned text, or one JSON object with the
 *  keys lines, imported, duplicates, rejected, blank, bytes, seconds,
 *  mb_per_s, job, rejects_file (null when none), warned (field warnings:
 *  a record with two fields left unknown counts two), warnings ({field:
 *  {reason: {count, first_line}}}). */
void ts_producer_report_print (const ts_producer_report_t *report, FILE *out, bool json);

#endif
