/*  ts_producer_int.h: what the parts of the producer share (not a public
 *  API; the producer's API is ts_producer.h).
 *
 *    ts_producer.c         lifecycle, the run loop, the report
 *    ts_producer_send.c    reading chunks, sending and resending them, the
 *                          rejects file
 *    ts_producer_answer.c  acks, nacks and pongs from the aggregator
 */
#ifndef TS_PRODUCER_INT_H
#define TS_PRODUCER_INT_H

#include "ts_producer.h"
#include "ts_progress.h"
#include "ts_chunker.h"
#include "ts_config.h"
#include "ts_input.h"
#include "ts_log.h"
#include "ts_wire.h"
#include "ts_warn.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define S_RTO_MAX_MS 60000     /* the longest resend timeout */
#define S_PING_MS    1000      /* ping the aggregator this often while waiting */

#define TS_PRODUCER_WAIT_NOTICE_MS  3000    /* say that the aggregator is silent */
#define TS_PRODUCER_DONE_MS         1000    /* try this long to hand over "done" */
#define TS_PRODUCER_LINGER_MS       2000    /* let "done" leave before exiting */
#define TS_PRODUCER_POLL_MAX_MS     1000

typedef enum {
    TS_SLOT_FREE,
    TS_SLOT_INFLIGHT,       /* read, sent or waiting to be sent, not answered */
    TS_SLOT_ANSWERED        /* acked or nacked, waiting to be retired */
} ts_slot_state_t;

typedef struct {
    ts_slot_state_t state;
    uint64_t chunk;
    uint64_t line0, lines;
    uint64_t offset;        /* of its first byte in the input */
    uint64_t size;          /* of the chunk */
    ts_buf_t data;          /* its bytes, while in flight (a reference: when needed) */
    ts_zref_t *zref;        /* ... shared with ZeroMQ once sent */
    int64_t  sent_ms;       /* last send (monotonic), -1: not taken by the socket */
    unsigned sends;
    bool     last;          /* nothing of the input comes after it */
    ts_buf_t rejects;       /* rejects file text of its ack */
    ts_buf_t after;         /* ... of lines skipped right after it */
} ts_slot_t;

struct ts_producer {
    ts_producer_opts_t opts;      /* strings point into the copies below */
    char    *input_path, *endpoint, *job, *profile, *rejects_path;
    /* chunks of a plain file go as references (file, offset, identity)
     * while the workers can read the file themselves */
    bool     by_ref;
    char    *ref_path;              /* the input's absolute path */
    char     ref_fid [TS_FILE_ID_MAX];  /* its identity (ts_file_id) */
    ts_input_t   *input;
    ts_chunker_t *chunker;
    FILE    *rejects;
    uint64_t rejects_written;     /* bytes written to the rejects file */
    int      rejects_err;         /* first write error, -errno */
    void    *ctx, *sock;
    ts_hdr_t hdr;

    ts_slot_t *slots;
    unsigned nslots;
    uint64_t base;                /* oldest chunk not retired */
    uint64_t next;                /* number of the next chunk to read */
    unsigned inflight;
    unsigned unsent;              /* in flight but not taken by the socket yet */
    ts_buf_t *pool;               /* chunk buffers done with, for reuse */
    unsigned npool, pool_max;
    bool     input_done;          /* the chunker said END, or failed */

    /* accounting */
    uint64_t lines, imported, duplicates, rejected, blank, bytes;
    uint64_t skipped;             /* lines rejected by the producer */
    uint64_t sent_lines, sent_bytes;
    uint64_t unlisted;            /* rejected lines an ack did not list */
    ts_warn_t warnings;           /* fields left unknown, from the acks */

    int      failure;             /* why the run stopped early, 0: it did not */
    int64_t  start_ms, end_ms;
    int64_t  last_ack_ms;         /* last ack, or when the window last filled */
    /* the resend timeout follows the acks' round trips as TCP's does
     * (RFC 6298): a chunk waits in the aggregator's queue behind the whole
     * window, so a fixed timeout resent chunks that were merely queued */
    double   srtt, rttvar;        /* ms; srtt < 0: no sample yet */
    unsigned rto_ms;              /* current resend timeout */
    /* a restarted aggregator has lost what was queued in it: pings answered
     * with its incarnation tell, and everything in flight goes again at
     * once instead of after the (long, under load) resend timeout */
    uint64_t agg_inc;             /* 0: not heard yet */
    int64_t  pong_ms;             /* when the last pong came */
    int64_t  next_ping_ms;
    int64_t  drain_until_ms;      /* after a nack: wait for answers until then */
    bool     silent_noticed;
    bool     ran;
    ts_progress_t *progress;
};

/*  Logs through the progress display, so a bar is not broken by the line. */
#define pr_log(self, level, ...) do {                                        \
        ts_progress_clear ((self)->progress);                               \
        ts_log (level, __VA_ARGS__);                                        \
    } while (0)

/* ts_producer_send.c */
int pr_reject_line (ts_buf_t *out, uint64_t line, const char *reason, size_t reason_len, const char *text, size_t text_len, const char *suffix);
void pr_retire (ts_producer_t *self, bool all);
int pr_slot_bytes (ts_producer_t *self, ts_slot_t *slot, int64_t now);
int pr_send_chunk (ts_producer_t *self, ts_slot_t *slot, int64_t now);
int64_t pr_resend (ts_producer_t *self, int64_t now, bool all);
void pr_slot_drop_data (ts_producer_t *self, ts_slot_t *slot);
int pr_read_next (ts_producer_t *self, int64_t now);

/* ts_producer_answer.c */
void pr_receive (ts_producer_t *self);

static inline int64_t
pr_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline ts_slot_t *
pr_slot (ts_producer_t *self, uint64_t chunk)
{
    return &self->slots [chunk % self->nslots];
}

#endif
