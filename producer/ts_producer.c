/*  ts_producer.c: one import, from input to acknowledged chunks
 *  (ts_producer.h; the messages are in ts_proto.h).
 *
 *  One thread, one poll loop: read a chunk and send it while the window
 *  has room, then wait for acks (or for the socket to take a chunk it could
 *  not take before), resend what is overdue, and repeat.
 *
 *  Chunk k lives in slot k % nslots from the moment it is read until it is
 *  retired, which happens in chunk order once it is acknowledged: that is
 *  when its rejected lines reach the rejects file, so the file is in line
 *  order. A slot holds the chunk's bytes while it is in flight (they are
 *  needed for resends and to find the text of rejected lines), and only
 *  the text of its rejected lines after its ack. A chunk sent as a
 *  reference holds no bytes: when they are needed (the text of a rejected
 *  line, or a worker that cannot read the file) they are read back from
 *  the input, which must not have changed. `inflight` counts the
 *  chunks sent (or waiting for the socket) and not yet answered: it is the
 *  window. The span of slots (TS_PRODUCER_SPAN_FACTOR windows) bounds how
 *  far the producer runs ahead of a chunk that is slow to be acknowledged.
 *
 *  The socket is a DEALER with ZMQ_IMMEDIATE: while no aggregator is
 *  connected, sends fail with EAGAIN instead of queueing, and a chunk that
 *  the socket did not take is sent when it can take it (POLLOUT). Its send
 *  queue is bounded by the window, so neither resends nor an absent
 *  aggregator make memory grow.
 */
#include "ts_producer.h"
#include "ts_progress.h"

#include "ts_chunker.h"
#include "ts_config.h"
#include "ts_error.h"
#include "ts_input.h"
#include "ts_log.h"
#include "ts_msg.h"
#include "ts_proto.h"
#include "ts_warn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

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

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ts_slot_t *
s_slot (ts_producer_t *self, uint64_t chunk)
{
    return &self->slots [chunk % self->nslots];
}

bool
ts_producer_job_is_valid (const char *job)
{
    size_t n = job ? strlen (job) : 0;
    if (n == 0 || n > TS_PRODUCER_JOB_MAX || job [0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = job [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

void
ts_producer_job_random (char *buf)
{
    static const char hex [] = "0123456789abcdef";
    unsigned char bytes [16];
    size_t got = 0;
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (got < sizeof bytes) {
            ssize_t n = read (fd, bytes + got, sizeof bytes - got);
            if (n <= 0 && !(n < 0 && errno == EINTR))
                break;
            if (n > 0)
                got += (size_t) n;
        }
        close (fd);
    }
    if (got < sizeof bytes) {
        /* no /dev/urandom (a bare container): time and pid, mixed */
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t) ts.tv_nsec ^ ((uint64_t) ts.tv_sec << 20) ^ (uint64_t) getpid ();
        for (size_t i = 0; i < sizeof bytes; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            bytes [i] = (unsigned char) x;
        }
    }
    for (size_t i = 0; i < sizeof bytes; i++) {
        buf [2 * i] = hex [bytes [i] >> 4];
        buf [2 * i + 1] = hex [bytes [i] & 15];
    }
    buf [32] = 0;
}

/*  Logs through the progress display, so a bar is not broken by the line. */
#define s_log(self, level, ...) do {                                        \
        ts_progress_clear ((self)->progress);                               \
        ts_log (level, __VA_ARGS__);                                        \
    } while (0)

/* --- lifecycle ----------------------------------------------------------- */

static void
s_emsg (char *emsg, size_t size, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_emsg (char *emsg, size_t size, const char *fmt, ...)
{
    if (!emsg || size == 0)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (emsg, size, fmt, ap);
    va_end (ap);
}

/*  Creates the directory that will hold `path`. 0 or -errno. */
static int
s_make_parent (const char *path)
{
    char dir [TS_PATH_MAX];
    if (snprintf (dir, sizeof dir, "%s", path) >= (int) sizeof dir)
        return -ENAMETOOLONG;
    char *slash = strrchr (dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    return ts_config_mkdirs (dir);
}

/*  Chunks go as references when the input is a plain regular file and
 *  the aggregator is on this machine (an ipc:// endpoint): so are its
 *  workers then, as `trajstore up` starts them. A worker that cannot read
 *  the file answers NO_INPUT, and the bytes travel after all. */
static void
s_ref_init (ts_producer_t *self)
{
    if (ts_input_kind (self->input) != TS_INPUT_PLAIN || strncmp (self->endpoint, "ipc://", 6)
    ||  ts_input_file_id (self->input, self->ref_fid, sizeof self->ref_fid))
        return;
    self->ref_path = realpath (self->input_path, NULL);
    self->by_ref = self->ref_path != NULL;
}

ts_producer_t *
ts_producer_new (const ts_producer_opts_t *opts, int *err, char *emsg, size_t emsg_size)
{
    assert (opts && err);
    assert (opts->window >= 1 && opts->line_max >= 1);
    assert (opts->chunk_bytes >= TS_CHUNK_MIN_BYTES);
    assert (ts_producer_job_is_valid (opts->job));
    ts_producer_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = TS_ENOMEM;
        s_emsg (emsg, emsg_size, "out of memory");
        return NULL;
    }
    self->opts = *opts;
    self->srtt = -1;
    self->rto_ms = opts->resend_ms;
    self->input_path = strdup (opts->input);
    self->endpoint = strdup (opts->endpoint);
    self->job = strdup (opts->job);
    self->profile = strdup (opts->profile ? opts->profile : "default");
    self->rejects_path = strdup (opts->rejects_path);
    self->nslots = opts->window * TS_PRODUCER_SPAN_FACTOR;
    self->slots = calloc (self->nslots, sizeof *self->slots);
    self->pool_max = opts->window + 2;
    self->pool = calloc (self->pool_max, sizeof *self->pool);
    if (!self->input_path || !self->endpoint || !self->job || !self->profile
    ||  !self->rejects_path || !self->slots || !self->pool) {
        *err = TS_ENOMEM;
        s_emsg (emsg, emsg_size, "out of memory");
        goto fail;
    }
    self->opts.input = self->input_path;
    self->opts.endpoint = self->endpoint;
    self->opts.job = self->job;
    self->opts.profile = self->profile;
    self->opts.rejects_path = self->rejects_path;

    self->input = ts_input_open (self->input_path, err, emsg, emsg_size);
    if (!self->input)
        goto fail;
    if (!opts->send_bytes)
        s_ref_init (self);
    self->chunker = ts_chunker_new (self->input, opts->chunk_bytes, opts->line_max);
    if (!self->chunker) {
        *err = TS_ENOMEM;
        s_emsg (emsg, emsg_size, "out of memory");
        goto fail;
    }

    int rc = s_make_parent (self->rejects_path);
    if (rc == 0) {
        self->rejects = fopen (self->rejects_path, "we");
        rc = self->rejects ? 0 : -errno;
    }
    if (rc) {
        *err = rc;
        s_emsg (emsg, emsg_size, "cannot create the rejects file %s: %s",
                self->rejects_path, strerror (-rc));
        goto fail;
    }

    self->ctx = zmq_ctx_new ();
    self->sock = self->ctx ? zmq_socket (self->ctx, ZMQ_DEALER) : NULL;
    if (!self->sock) {
        *err = -errno;
        s_emsg (emsg, emsg_size, "cannot create a ZeroMQ socket: %s", zmq_strerror (errno));
        goto fail;
    }
    int one = 1, zero = 0;
    int hwm = (int) opts->window;
    int hb_ivl = 1000, hb_timeout = 5000;
    zmq_setsockopt (self->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt (self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl);
    zmq_setsockopt (self->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
    char target [TS_PATH_MAX + 32];
    if (zmq_connect (self->sock, ts_config_connectable (self->endpoint, target, sizeof target))) {
        *err = TS_EINVAL;
        s_emsg (emsg, emsg_size, "cannot connect to %s: %s", self->endpoint,
                zmq_strerror (errno));
        goto fail;
    }
    *err = 0;
    return self;

fail:
    ts_producer_destroy (&self);
    return NULL;
}

static void s_slot_drop_data (ts_producer_t *self, ts_slot_t *slot);

void
ts_producer_destroy (ts_producer_t **self_p)
{
    ts_producer_t *self = *self_p;
    if (!self)
        return;
    if (self->sock)
        zmq_close (self->sock);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    if (self->rejects) {                /* never ran: leave no empty file */
        fclose (self->rejects);
        if (self->rejects_written == 0)
            unlink (self->rejects_path);
    }
    for (unsigned i = 0; self->slots && i < self->nslots; i++) {
        s_slot_drop_data (self, &self->slots [i]);
        ts_buf_free (&self->slots [i].data);
        ts_buf_free (&self->slots [i].rejects);
        ts_buf_free (&self->slots [i].after);
    }
    free (self->slots);
    for (unsigned i = 0; i < self->npool; i++)
        ts_buf_free (&self->pool [i]);
    free (self->pool);
    ts_buf_free (&self->hdr.buf);
    ts_chunker_destroy (&self->chunker);
    ts_input_destroy (&self->input);
    ts_progress_destroy (&self->progress);
    free (self->input_path);
    free (self->ref_path);
    free (self->endpoint);
    free (self->job);
    free (self->profile);
    free (self->rejects_path);
    ts_warn_free (&self->warnings);
    free (self);
    *self_p = NULL;
}

/* --- rejects file ----------------------------------------------------------- */

static void
s_rejects_write (ts_producer_t *self, const ts_buf_t *text)
{
    if (text->size == 0 || self->rejects_err)
        return;
    if (fwrite (text->data, 1, text->size, self->rejects) != text->size) {
        self->rejects_err = errno ? -errno : -EIO;
        s_log (self, TS_LOG_ERROR, "cannot write the rejects file %s: %s",
               self->rejects_path, strerror (-self->rejects_err));
        return;
    }
    self->rejects_written += text->size;
}

/*  Appends one rejects file line: number, reason (tabs and line breaks
 *  made spaces), the line's bytes and `suffix`. */
static int
s_reject_line (ts_buf_t *out, uint64_t line, const char *reason, size_t reason_len,
               const char *text, size_t text_len, const char *suffix)
{
    char num [32];
    int n = snprintf (num, sizeof num, "%" PRIu64 "\t", line);
    size_t suffix_len = strlen (suffix);
    if (ts_buf_reserve (out, (size_t) n + reason_len + 2 + text_len + suffix_len))
        return TS_ENOMEM;
    ts_buf_append (out, num, (size_t) n);
    char *r = out->data + out->size;
    for (size_t i = 0; i < reason_len; i++) {
        char c = reason [i];
        r [i] = c == '\t' || c == '\n' || c == '\r' ? ' ' : c;
    }
    out->size += reason_len;
    ts_buf_append (out, "\t", 1);
    ts_buf_append (out, text, text_len);
    ts_buf_append (out, suffix, suffix_len);
    ts_buf_append (out, "\n", 1);
    return 0;
}

/*  Retires the answered chunks at the front, in order: their rejects go to
 *  the file and their slots are free again. With `all`, at the end of a
 *  run, retires every chunk read (what the unanswered ones carry: the
 *  lines the producer skipped after them). */
static void
s_retire (ts_producer_t *self, bool all)
{
    while (self->base < self->next) {
        ts_slot_t *slot = s_slot (self, self->base);
        if (slot->state != TS_SLOT_ANSWERED && !all)
            break;
        s_rejects_write (self, &slot->rejects);
        s_rejects_write (self, &slot->after);
        slot->rejects.size = 0;
        slot->after.size = 0;
        slot->state = TS_SLOT_FREE;
        self->base++;
    }
}

/* --- sending ---------------------------------------------------------------- */

static ts_buf_t s_pool_get (ts_producer_t *self);

/*  Gives a chunk sent as a reference its bytes, read back from the input
 *  (unchanged since the chunk was cut: same identity). Returns 0, or an
 *  error, said once; with `now` >= 0 the import then ends (the bytes must
 *  travel and cannot). */
static int
s_slot_bytes (ts_producer_t *self, ts_slot_t *slot, int64_t now)
{
    if (slot->data.data || slot->size == 0)
        return 0;
    char fid [TS_FILE_ID_MAX];
    ts_buf_t buf = s_pool_get (self);
    int rc = 0;
    if (ts_input_file_id (self->input, fid, sizeof fid) || strcmp (fid, self->ref_fid))
        rc = TS_ENOINPUT;
    else if (ts_buf_reserve (&buf, slot->size))
        rc = TS_ENOMEM;
    else {
        ssize_t n = ts_input_pread (self->input, buf.data, slot->size, slot->offset);
        if (n < 0 || (uint64_t) n != slot->size)
            rc = n < 0 ? (int) n : TS_ENOINPUT;
    }
    if (rc == 0) {
        buf.size = slot->size;
        slot->data = buf;
        return 0;
    }
    ts_buf_free (&buf);
    if (!self->failure)
        s_log (self, now >= 0 ? TS_LOG_ERROR : TS_LOG_WARN, "%s: cannot read chunk %" PRIu64
               " (lines %" PRIu64 "-%" PRIu64 ") back: %s", self->input_path, slot->chunk,
               slot->line0, slot->line0 + slot->lines - 1,
               rc == TS_ENOINPUT ? "the file changed during the import" : ts_strerror (rc));
    if (now >= 0 && !self->failure) {
        self->failure = rc;
        self->drain_until_ms = now + TS_PRODUCER_DRAIN_MS;
    }
    return rc;
}

/*  Hands a chunk to the socket. Returns 0, or 1 when the socket cannot take
 *  it now (no aggregator connected, or its queue is full). */
static int
s_send_chunk (ts_producer_t *self, ts_slot_t *slot, int64_t now)
{
    if (!self->by_ref && s_slot_bytes (self, slot, now)) {
        if (slot->sent_ms < 0 && self->unsent > 0)
            self->unsent--;
        slot->sent_ms = now;            /* never sent: the import ends */
        return 0;
    }
    ts_hdr_begin (&self->hdr, "chunk", self->by_ref ? 11 : 8);
    ts_hdr_str (&self->hdr, "job", self->job);
    ts_hdr_uint (&self->hdr, "chunk", slot->chunk);
    ts_hdr_uint (&self->hdr, "line0", slot->line0);
    ts_hdr_uint (&self->hdr, "lines", slot->lines);
    ts_hdr_uint (&self->hdr, "bytes", slot->size);
    ts_hdr_str (&self->hdr, "src", self->input_path);
    ts_hdr_str (&self->hdr, "profile", self->profile);
    /* lets the workers commit as soon as they are idle, not spaced out
     * for the chunks still to come */
    ts_hdr_bool (&self->hdr, "last", slot->last);
    if (self->by_ref) {
        /* the workers read the lines from the file: the bytes are not
         * copied through the sockets (nor relayed by the aggregator) */
        ts_hdr_str (&self->hdr, "file", self->ref_path);
        ts_hdr_uint (&self->hdr, "off", slot->offset);
        ts_hdr_str (&self->hdr, "fid", self->ref_fid);
    }
    if (zmq_send (self->sock, self->hdr.buf.data, self->hdr.buf.size,
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return 1;
    /* once the first frame is in, the rest of the message always is; the
     * bytes go without a copy, kept until ZeroMQ is done with them too */
    if (self->by_ref)
        zmq_send (self->sock, "", 0, 0);
    else {
        if (!slot->zref)
            slot->zref = ts_zref_new (slot->data.data, slot->data.size);
        if (!slot->zref || ts_zref_send (slot->zref, self->sock, 0))
            zmq_send (self->sock, slot->data.data, slot->data.size, 0);
    }
    if (slot->sent_ms < 0 && self->unsent > 0)
        self->unsent--;
    slot->sent_ms = now;
    slot->sends++;
    return 0;
}

/*  Sends the chunks the socket did not take before, and resends those not
 *  acknowledged within the resend timeout (rto_ms), or every chunk in
 *  flight when `all` (a new aggregator lost them), oldest first. Returns
 *  the time the next resend is due (INT64_MAX: none). */
static int64_t
s_resend (ts_producer_t *self, int64_t now, bool all)
{
    int64_t due = INT64_MAX;
    int64_t rto = all ? 0 : self->rto_ms;
    unsigned resent = 0, overdue = 0;
    bool blocked = false;
    for (uint64_t k = self->base; k < self->next; k++) {
        ts_slot_t *slot = s_slot (self, k);
        if (slot->state != TS_SLOT_INFLIGHT)
            continue;
        bool unsent = slot->sent_ms < 0;
        if (!unsent && now - slot->sent_ms < (int64_t) rto) {
            if (slot->sent_ms + rto < due)
                due = slot->sent_ms + rto;
            continue;
        }
        overdue += !unsent;
        if (blocked || s_send_chunk (self, slot, now)) {
            blocked = true;
            if (!unsent) {
                /* overdue and not taken: try again with the next POLLOUT */
                slot->sent_ms = -1;
                self->unsent++;
            }
            continue;
        }
        if (!unsent)
            resent++;
        if (slot->sent_ms + rto < due)
            due = slot->sent_ms + rto;
    }
    if (all)
        s_log (self, TS_LOG_WARN, "the aggregator restarted: sending the %u chunk%s in "
               "flight again", overdue, overdue == 1 ? "" : "s");
    else if (resent) {
        s_log (self, TS_LOG_WARN, "resent %u chunk%s not acknowledged within %u ms",
               resent, resent == 1 ? "" : "s", self->rto_ms);
        /* a timeout doubles the next one (the aggregator may be slow, or
         * gone: then its successor gets the chunks at a calm pace) */
        self->rto_ms = self->rto_ms * 2 > S_RTO_MAX_MS ? S_RTO_MAX_MS : self->rto_ms * 2;
    }
    return due;
}

/* --- reading ------------------------------------------------------------------ */

/*  A line the chunker skipped: counted as rejected, written to the rejects
 *  file after the chunks before it. */
static void
s_on_skipped (ts_producer_t *self, const ts_chunk_info_t *info)
{
    char reason [64];
    int n = snprintf (reason, sizeof reason, "line longer than %zu bytes", self->opts.line_max);
    ts_buf_t *out;
    ts_buf_t now = { 0 };
    if (self->next == self->base)
        out = &now;                     /* nothing before it is pending */
    else
        out = &s_slot (self, self->next - 1)->after;
    if (s_reject_line (out, info->line0, reason, (size_t) n, info->head, info->head_len, "..."))
        s_log (self, TS_LOG_ERROR, "out of memory: line %" PRIu64 " is missing from the "
               "rejects file", info->line0);
    if (out == &now) {
        s_rejects_write (self, &now);
        ts_buf_free (&now);
    }
    self->lines++;
    self->rejected++;
    self->skipped++;
    s_log (self, TS_LOG_DEBUG, "line %" PRIu64 " skipped: longer than %zu bytes",
           info->line0, self->opts.line_max);
}

/*  A chunk buffer to fill: one done with, or an empty one. */
static ts_buf_t
s_pool_get (ts_producer_t *self)
{
    ts_buf_t b = { 0 };
    if (self->npool > 0)
        b = self->pool [--self->npool];
    return b;
}

/*  Takes back a buffer done with: kept for reuse when it is of the usual
 *  size and the pool has room (window + 2 buffers cover the window, the
 *  chunk being read and the chunker's), else freed. */
static void
s_pool_put (ts_producer_t *self, ts_buf_t *b)
{
    if (b->data && self->npool < self->pool_max && b->cap <= 2 * self->opts.chunk_bytes) {
        b->size = 0;
        self->pool [self->npool++] = *b;
        memset (b, 0, sizeof *b);
    }
    else
        ts_buf_free (b);
}

/*  Lets go of a slot's bytes: back to the pool, unless a frame still in
 *  ZeroMQ holds them (it frees them when done). */
static void
s_slot_drop_data (ts_producer_t *self, ts_slot_t *slot)
{
    if (slot->zref && !ts_zref_reclaim (&slot->zref)) {
        slot->data = (ts_buf_t) { 0 };
        return;
    }
    s_pool_put (self, &slot->data);
}

/*  Reads the next chunk into a free slot and sends it. Returns 0, 1 at
 *  the end of the input, or a negative code from the chunker. */
static int
s_read_next (ts_producer_t *self, int64_t now)
{
    ts_chunk_info_t info;
    ts_buf_t buf = s_pool_get (self);
    int rc;
    while ((rc = ts_chunker_next (self->chunker, &buf, &info)) == TS_CHUNK_SKIPPED)
        s_on_skipped (self, &info);
    if (rc != TS_CHUNK_LINES) {
        s_pool_put (self, &buf);
        return rc == TS_CHUNK_END ? 1 : rc;
    }
    ts_slot_t *slot = s_slot (self, self->next);
    assert (slot->state == TS_SLOT_FREE && slot->data.data == NULL);
    slot->size = buf.size;
    if (self->by_ref)
        s_pool_put (self, &buf);        /* the next chunk is cut in it (still warm) */
    else
        slot->data = buf;
    slot->state = TS_SLOT_INFLIGHT;
    slot->chunk = self->next++;
    slot->line0 = info.line0;
    slot->lines = info.lines;
    slot->offset = info.offset;
    slot->sends = 0;
    slot->sent_ms = -1;
    slot->last = ts_chunker_exhausted (self->chunker);
    self->unsent++;
    if (self->inflight++ == 0)
        self->last_ack_ms = now;        /* the silence clock starts now */
    self->sent_lines += info.lines;
    self->sent_bytes += slot->size;
    s_send_chunk (self, slot, now);
    return 0;
}

/* --- answers ---------------------------------------------------------------- */

typedef struct {
    uint64_t    line;
    const char *reason;
    uint32_t    reason_len;
} ts_reject_t;

static int
s_reject_cmp (const void *a, const void *b)
{
    uint64_t x = ((const ts_reject_t *) a)->line, y = ((const ts_reject_t *) b)->line;
    return x < y ? -1 : x > y;
}

/*  Turns the ack's [[line, reason]...] into rejects file text, taking each
 *  line's bytes from the chunk. Returns how many were listed. */
static uint64_t
s_ack_rejects (ts_producer_t *self, ts_slot_t *slot, const ts_hdrin_t *in)
{
    ts_mp_reader_t r;
    uint32_t n;
    if (!ts_hdr_find (in, "rejects", &r) || ts_mp_read_array (&r, &n) || n == 0)
        return 0;
    ts_reject_t *list = malloc (n * sizeof *list);
    if (!list) {
        s_log (self, TS_LOG_ERROR, "out of memory: the rejects of chunk %" PRIu64
               " are missing from the rejects file", slot->chunk);
        return 0;
    }
    uint32_t count = 0;
    bool sorted = true;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t pair;
        ts_reject_t *rj = &list [count];
        if (ts_mp_read_array (&r, &pair) || pair < 2
        ||  ts_mp_read_uint (&r, &rj->line)
        ||  ts_mp_read_str (&r, &rj->reason, &rj->reason_len))
            break;                          /* malformed: keep what was read */
        for (uint32_t j = 2; j < pair; j++)
            if (ts_mp_skip (&r))
                break;
        if (count > 0 && rj->line < list [count - 1].line)
            sorted = false;
        count++;
    }
    if (count < n)
        s_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": malformed rejects list in the ack",
               slot->chunk);
    if (!sorted)
        qsort (list, count, sizeof *list, s_reject_cmp);

    if (s_slot_bytes (self, slot, -1))
        s_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": the rejects file gets its rejected "
               "lines' numbers and reasons without their text", slot->chunk);
    const char *data = slot->data.data ? slot->data.data : "";
    const char *end = data + slot->data.size;
    const char *pos = data;                 /* start of line `cur` */
    uint64_t cur = slot->line0;
    for (uint32_t i = 0; i < count; i++) {
        ts_reject_t *rj = &list [i];
        const char *text = "";
        size_t text_len = 0;
        if (rj->line >= slot->line0 && rj->line < slot->line0 + slot->lines) {
            while (cur < rj->line && pos < end) {
                const char *nl = memchr (pos, '\n', (size_t) (end - pos));
                pos = nl ? nl + 1 : end;
                cur++;
            }
            const char *nl = memchr (pos, '\n', (size_t) (end - pos));
            text = pos;
            text_len = (size_t) ((nl ? nl : end) - pos);
        }
        else
            s_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": the ack rejects line %" PRIu64
                   ", which is not in the chunk (lines %" PRIu64 "-%" PRIu64 ")",
                   slot->chunk, rj->line, slot->line0, slot->line0 + slot->lines - 1);
        if (s_reject_line (&slot->rejects, rj->line, rj->reason, rj->reason_len,
                           text, text_len, "")) {
            s_log (self, TS_LOG_ERROR, "out of memory: some rejects of chunk %" PRIu64
                   " are missing from the rejects file", slot->chunk);
            break;
        }
    }
    free (list);
    return count;
}

/*  The slot of an answer to chunk `chunk` of our job that is still
 *  unanswered, or NULL (a repeat, another job's, or garbage). */
static ts_slot_t *
s_answer_slot (ts_producer_t *self, const ts_hdrin_t *in, uint64_t *chunk)
{
    uint32_t len;
    const char *job = ts_hdr_get_str (in, "job", &len);
    if (!job || len != strlen (self->job) || memcmp (job, self->job, len) != 0)
        return NULL;
    *chunk = ts_hdr_get_uint (in, "chunk", UINT64_MAX);
    if (*chunk < self->base || *chunk >= self->next)
        return NULL;
    ts_slot_t *slot = s_slot (self, *chunk);
    if (slot->state != TS_SLOT_INFLIGHT || slot->chunk != *chunk)
        return NULL;
    return slot;
}

/*  The slot is answered: its bytes are no longer needed. */
static void
s_answered (ts_producer_t *self, ts_slot_t *slot)
{
    if (slot->sent_ms < 0 && self->unsent > 0)
        self->unsent--;
    slot->state = TS_SLOT_ANSWERED;
    self->inflight--;
    s_slot_drop_data (self, slot);
}

/*  RFC 6298: srtt and rttvar from each round trip, timeout srtt + 4 rttvar,
 *  never under the configured resend_ms nor over S_RTO_MAX_MS. */
static void
s_rtt_sample (ts_producer_t *self, double r)
{
    if (self->srtt < 0) {
        self->srtt = r;
        self->rttvar = r / 2;
    } else {
        self->rttvar = 0.75 * self->rttvar + 0.25 * fabs (self->srtt - r);
        self->srtt = 0.875 * self->srtt + 0.125 * r;
    }
    double rto = self->srtt + 4 * self->rttvar;
    if (rto < self->opts.resend_ms)
        rto = self->opts.resend_ms;
    if (rto > S_RTO_MAX_MS)
        rto = S_RTO_MAX_MS;
    self->rto_ms = (unsigned) rto;
}

static void
s_on_ack (ts_producer_t *self, const ts_hdrin_t *in, int64_t now)
{
    uint64_t chunk;
    ts_slot_t *slot = s_answer_slot (self, in, &chunk);
    if (!slot) {
        s_log (self, TS_LOG_DEBUG, "ignored an ack (a repeat, or not ours)");
        return;
    }
    uint64_t lines = ts_hdr_get_uint (in, "lines", 0);
    uint64_t blank = ts_hdr_get_uint (in, "blank", 0);
    uint64_t imported = ts_hdr_get_uint (in, "imported", 0);
    uint64_t duplicates = ts_hdr_get_uint (in, "duplicates", 0);
    uint64_t rejected = ts_hdr_get_uint (in, "rejected", 0);
    if (lines != slot->lines || blank + imported + duplicates + rejected != lines)
        s_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": the ack counts %" PRIu64 " lines "
               "(%" PRIu64 " imported, %" PRIu64 " duplicates, %" PRIu64 " rejected, %"
               PRIu64 " blank) for %" PRIu64 " lines sent", chunk, lines, imported,
               duplicates, rejected, blank, slot->lines);
    uint64_t listed = rejected ? s_ack_rejects (self, slot, in) : 0;
    ts_mp_reader_t wr;
    if (ts_hdr_find (in, "warnings", &wr) && ts_warn_merge (&self->warnings, &wr))
        s_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": malformed warnings list in the ack", chunk);
    if (listed < rejected)
        self->unlisted += rejected - listed;
    self->lines += lines;
    self->blank += blank;
    self->imported += imported;
    self->duplicates += duplicates;
    self->rejected += rejected;
    self->bytes += slot->size;
    self->last_ack_ms = now;
    self->silent_noticed = false;
    if (slot->sends == 1 && slot->sent_ms >= 0)     /* Karn: never a resent one */
        s_rtt_sample (self, (double) (now - slot->sent_ms));
    s_answered (self, slot);
    s_retire (self, false);
}

/*  A nack's code: a name from ts_errname or a number; TS_ESTORE if none. */
static int
s_nack_code (const ts_hdrin_t *in, char *name, size_t size)
{
    static const int codes [] = {
        TS_ENOTFOUND, TS_EBADLINE, TS_EBADREQ, TS_ESTORE, TS_ELOCKED, TS_ECORRUPT,
        TS_ENOMEM, TS_ETOOBIG, TS_EPROTO, TS_ETIMEOUT, TS_EVERSION, TS_EBUSY,
        TS_EINVAL, TS_ENOSPC, TS_EINCONSISTENT, TS_ENOINPUT
    };
    int64_t num;
    if (ts_hdr_copy_str (in, "code", name, size)) {
        for (size_t i = 0; i < sizeof codes / sizeof codes [0]; i++)
            if (strcmp (name, ts_errname (codes [i])) == 0)
                return codes [i];
        return TS_ESTORE;
    }
    num = ts_hdr_get_int (in, "code", 0);
    if (num < 0 && num > INT32_MIN) {
        snprintf (name, size, "%s", ts_errname ((int) num));
        return (int) num;
    }
    snprintf (name, size, "%s", ts_errname (TS_ESTORE));
    return TS_ESTORE;
}

static void
s_on_nack (ts_producer_t *self, const ts_hdrin_t *in, int64_t now)
{
    uint64_t chunk;
    ts_slot_t *slot = s_answer_slot (self, in, &chunk);
    if (!slot)
        return;
    char name [32];
    int code = s_nack_code (in, name, sizeof name);
    uint32_t mlen = 0;
    const char *msg = ts_hdr_get_str (in, "msg", &mlen);
    if (!msg || mlen == 0) {
        msg = ts_strerror (code);
        mlen = (uint32_t) strlen (msg);
    }
    if (code == TS_ENOINPUT) {
        /* a worker could not read the lines from the file (another
         * machine, another file system, the file changed): from now on
         * the bytes travel with the chunks, this one first */
        if (self->by_ref)
            s_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": %.*s; sending the lines themselves "
                   "from now on", chunk, (int) mlen, msg);
        self->by_ref = false;
        int64_t sent = slot->sent_ms;
        if (s_send_chunk (self, slot, now) && sent >= 0) {
            slot->sent_ms = -1;         /* not taken: sent again when it can be */
            self->unsent++;
        }
        return;
    }
    if (!self->failure) {
        s_log (self, TS_LOG_ERROR, "the import cannot go on: chunk %" PRIu64 " (lines %"
               PRIu64 "-%" PRIu64 ") cannot be stored: %.*s (%s)", chunk, slot->line0,
               slot->line0 + slot->lines - 1, (int) mlen, msg, name);
        self->failure = code;
        self->drain_until_ms = now + TS_PRODUCER_DRAIN_MS;
    }
    else
        s_log (self, TS_LOG_DEBUG, "chunk %" PRIu64 " cannot be stored either: %.*s",
               chunk, (int) mlen, msg);
    s_answered (self, slot);
    s_retire (self, false);
}

/*  A "pong": the aggregator's incarnation. A new one lost our chunks. */
static void
s_on_pong (ts_producer_t *self, const ts_hdrin_t *in, int64_t now)
{
    uint64_t inc = ts_hdr_get_uint (in, "inc", 0);
    if (!inc)
        return;
    self->pong_ms = now;
    if (self->agg_inc && inc != self->agg_inc) {
        /* a new aggregator, new round trips: start over from resend_ms */
        self->srtt = -1;
        self->rto_ms = self->opts.resend_ms;
        s_resend (self, now, true);
    }
    self->agg_inc = inc;
}

/*  Handles every message waiting on the socket. */
static void
s_receive (ts_producer_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (;;) {
        if (zmq_msg_recv (&msg, self->sock, ZMQ_DONTWAIT) < 0)
            break;
        bool more = zmq_msg_more (&msg);
        ts_hdrin_t in;
        int rc = ts_hdr_parse (&in, zmq_msg_data (&msg), zmq_msg_size (&msg));
        int64_t now = s_now_ms ();
        if (rc)
            s_log (self, TS_LOG_DEBUG, "dropped a message: %s", ts_strerror (rc));
        else
        if (strcmp (in.type, "ack") == 0)
            s_on_ack (self, &in, now);
        else
        if (strcmp (in.type, "nack") == 0)
            s_on_nack (self, &in, now);
        else
        if (strcmp (in.type, "pong") == 0)
            s_on_pong (self, &in, now);
        else
            s_log (self, TS_LOG_DEBUG, "dropped a message of type %s", in.type);
        while (more) {                      /* frames we have no use for */
            if (zmq_msg_recv (&msg, self->sock, 0) < 0)
                break;
            more = zmq_msg_more (&msg);
        }
    }
    zmq_msg_close (&msg);
}

/* --- the run ---------------------------------------------------------------- */

/*  Hands "done" to the socket, waiting up to TS_PRODUCER_DONE_MS for it to
 *  take it. The message is not acknowledged: it tells the aggregator that
 *  the job is complete, which every ack already says chunk by chunk. */
static void
s_send_done (ts_producer_t *self)
{
    ts_hdr_begin (&self->hdr, "done", 4);
    ts_hdr_str (&self->hdr, "job", self->job);
    ts_hdr_uint (&self->hdr, "chunks", self->next);
    ts_hdr_uint (&self->hdr, "lines", self->sent_lines);
    ts_hdr_uint (&self->hdr, "bytes", self->sent_bytes);
    int64_t until = s_now_ms () + TS_PRODUCER_DONE_MS;
    while (zmq_send (self->sock, self->hdr.buf.data, self->hdr.buf.size, ZMQ_DONTWAIT) < 0) {
        int64_t left = until - s_now_ms ();
        if (left <= 0) {
            s_log (self, TS_LOG_WARN, "could not send \"done\" to %s (every chunk was "
                   "acknowledged: nothing is lost)", self->endpoint);
            return;
        }
        zmq_pollitem_t item = { self->sock, 0, ZMQ_POLLOUT, 0 };
        zmq_poll (&item, 1, (long) left);
    }
    int linger = TS_PRODUCER_LINGER_MS;
    zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger);
}

/*  True while chunks may be sent: always, but after a nack (which stops
 *  everything but listening for the answers already due). */
static bool
s_sending (const ts_producer_t *self)
{
    return !self->failure || self->drain_until_ms == INT64_MAX;
}

/*  True when the next chunk may be read: the window has room, the span
 *  too, and nothing went wrong. */
static bool
s_can_read (const ts_producer_t *self)
{
    return !self->input_done && !self->failure && self->inflight < self->opts.window
        && self->next < self->base + self->nslots;
}

int
ts_producer_run (ts_producer_t *self, volatile sig_atomic_t *stop)
{
    assert (self && stop && !self->ran);
    self->ran = true;
    int64_t now = s_now_ms ();
    self->start_ms = now;
    self->last_ack_ms = now;
    self->progress = ts_progress_new (self->opts.progress, ts_input_total (self->input), now);
    s_log (self, TS_LOG_INFO, "importing %s (%s) as job %s into %s%s", self->input_path,
           ts_input_kind_name (ts_input_kind (self->input)), self->job, self->endpoint,
           self->by_ref ? "; chunks go as references, the workers read the lines from the file"
                        : "");

    int rc = 0;
    while (!*stop) {
        /* one chunk at a time, so that acks, resends and progress keep up */
        if (s_can_read (self)) {
            rc = s_read_next (self, s_now_ms ());
            if (rc == -EINTR)
                rc = 0;                     /* a signal: *stop says whether to go on */
            else
            if (rc) {
                self->input_done = true;
                if (rc < 0) {
                    s_log (self, TS_LOG_ERROR, "%s", ts_input_errmsg (self->input)[0]
                           ? ts_input_errmsg (self->input) : ts_strerror (rc));
                    self->failure = rc;
                    /* the chunks in flight are good: let them be acknowledged */
                    self->drain_until_ms = INT64_MAX;
                }
                rc = 0;
            }
            if (*stop)
                break;
        }
        now = s_now_ms ();
        if (self->inflight == 0 && (self->input_done || self->failure))
            break;
        if (self->failure && now >= self->drain_until_ms)
            break;

        int64_t due = INT64_MAX;
        if (s_sending (self))
            due = s_resend (self, now, false);
        if (self->inflight > 0 && s_sending (self)) {
            if (now >= self->next_ping_ms) {
                /* not taken (not connected yet): again shortly */
                ts_hdr_begin (&self->hdr, "ping", 0);
                bool took = zmq_send (self->sock, self->hdr.buf.data, self->hdr.buf.size,
                                      ZMQ_DONTWAIT) >= 0;
                self->next_ping_ms = now + (took ? S_PING_MS : S_PING_MS / 20);
            }
            if (self->next_ping_ms < due)
                due = self->next_ping_ms;
            int64_t silent = now - self->last_ack_ms;
            if (self->opts.timeout_s && silent >= (int64_t) self->opts.timeout_s * 1000) {
                bool up = self->pong_ms && now - self->pong_ms < 3 * S_PING_MS;
                s_log (self, TS_LOG_ERROR, "giving up: no acknowledgement from the aggregator "
                       "at %s for %u s (%u chunk%s unacknowledged); %s", self->endpoint,
                       self->opts.timeout_s, self->inflight, self->inflight == 1 ? "" : "s",
                       up ? "it answers pings: are workers running? (trajstore status)"
                          : "is it running?");
                rc = TS_ETIMEOUT;
                break;
            }
            /* quiet spells of seconds are normal on a large store (commits
             * take long): say so only when the aggregator is silent too */
            int64_t heard = self->last_ack_ms > self->pong_ms ? self->last_ack_ms : self->pong_ms;
            int64_t notice_at = heard + TS_PRODUCER_WAIT_NOTICE_MS;
            if (!self->silent_noticed && now >= notice_at) {
                s_log (self, TS_LOG_WARN, "no answer from the aggregator at %s yet; "
                       "waiting (up to %u s)", self->endpoint, self->opts.timeout_s);
                self->silent_noticed = true;
            }
            int64_t give_up = self->last_ack_ms + (int64_t) self->opts.timeout_s * 1000;
            if (self->opts.timeout_s && give_up < due)
                due = give_up;
            if (!self->silent_noticed && notice_at < due)
                due = notice_at;
        }
        int64_t tick = ts_progress_update (self->progress, now, ts_input_consumed (self->input),
                                           ts_chunker_bytes_read (self->chunker), self->lines);
        if (tick < due)
            due = tick;
        if (self->failure && self->drain_until_ms < due)
            due = self->drain_until_ms;
        long timeout = s_can_read (self) ? 0 : (long) (due - now);
        if (timeout < 0)
            timeout = 0;
        if (timeout > TS_PRODUCER_POLL_MAX_MS)
            timeout = TS_PRODUCER_POLL_MAX_MS;
        zmq_pollitem_t item = { self->sock, 0, ZMQ_POLLIN, 0 };
        if (self->unsent > 0 && s_sending (self))
            item.events |= ZMQ_POLLOUT;
        if (zmq_poll (&item, 1, timeout) > 0) {
            if (item.revents & ZMQ_POLLIN)
                s_receive (self);
            if (item.revents & ZMQ_POLLOUT)
                s_resend (self, s_now_ms (), false);
        }
    }
    ts_progress_clear (self->progress);
    self->end_ms = s_now_ms ();

    if (*stop && rc == 0) {
        s_log (self, TS_LOG_WARN, "interrupted: stopping with %u chunk%s unacknowledged",
               self->inflight, self->inflight == 1 ? "" : "s");
        rc = -EINTR;
    }
    if (rc == 0 && self->failure)
        rc = self->failure;
    if (rc == 0 && self->inflight == 0 && self->input_done)
        s_send_done (self);

    /* whatever happened, what was answered goes to the rejects file */
    s_retire (self, true);
    if (self->rejects) {
        if (fclose (self->rejects) && !self->rejects_err) {
            self->rejects_err = -errno;
            s_log (self, TS_LOG_ERROR, "cannot write the rejects file %s: %s",
                   self->rejects_path, strerror (errno));
        }
        self->rejects = NULL;
        if (self->rejects_written == 0)
            unlink (self->rejects_path);
    }
    if (self->unlisted)
        s_log (self, TS_LOG_WARN, "%" PRIu64 " rejected line%s not listed by the aggregator "
               "(it lists at most %u a chunk): they are not in the rejects file",
               self->unlisted, self->unlisted == 1 ? " was" : "s were", TS_REJECTS_PER_CHUNK);
    if (rc == 0 && self->rejects_err)
        rc = self->rejects_err;
    return rc;
}

/* --- report ----------------------------------------------------------------- */

void
ts_producer_report (ts_producer_t *self, ts_producer_report_t *report)
{
    memset (report, 0, sizeof *report);
    report->lines = self->lines;
    report->imported = self->imported;
    report->duplicates = self->duplicates;
    report->rejected = self->rejected;
    report->blank = self->blank;
    report->bytes = self->bytes + (self->chunker ? ts_chunker_bytes_skipped (self->chunker) : 0);
    int64_t end = self->end_ms ? self->end_ms : s_now_ms ();
    report->seconds = self->ran ? (double) (end - self->start_ms) / 1000.0 : 0;
    report->mb_per_s = report->seconds > 0 ? (double) report->bytes / report->seconds / 1e6 : 0;
    report->job = self->job;
    report->rejects_file = self->rejects_written ? self->rejects_path : NULL;
    report->complete = self->ran && self->input_done && !self->failure && self->inflight == 0;
    report->warnings = &self->warnings;
}

static void
s_json_str (FILE *out, const char *s)
{
    fputc ('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char) *s;
        if (c == '"' || c == '\\')
            fprintf (out, "\\%c", c);
        else
        if (c < 0x20)
            fprintf (out, "\\u%04x", c);
        else
            fputc (c, out);
    }
    fputc ('"', out);
}

void
ts_producer_report_print (const ts_producer_report_t *r, FILE *out, bool json)
{
    if (json) {
        fprintf (out, "{\"lines\":%" PRIu64 ",\"imported\":%" PRIu64 ",\"duplicates\":%"
                 PRIu64 ",\"rejected\":%" PRIu64 ",\"blank\":%" PRIu64 ",\"bytes\":%" PRIu64
                 ",\"seconds\":%.3f,\"mb_per_s\":%.2f,\"job\":", r->lines, r->imported,
                 r->duplicates, r->rejected, r->blank, r->bytes, r->seconds, r->mb_per_s);
        s_json_str (out, r->job);
        fputs (",\"rejects_file\":", out);
        if (r->rejects_file)
            s_json_str (out, r->rejects_file);
        else
            fputs ("null", out);
        fprintf (out, ",\"warned\":%" PRIu64 ",\"warnings\":", r->warnings ? r->warnings->total : 0);
        if (r->warnings)
            ts_warn_print (r->warnings, out, true);
        else
            fputs ("{}", out);
        fputs ("}\n", out);
    }
    else {
        fprintf (out, "%s\n", r->complete ? "import complete" : "import INCOMPLETE");
        fprintf (out, "  lines         %" PRIu64 "\n", r->lines);
        fprintf (out, "  imported      %" PRIu64 "\n", r->imported);
        fprintf (out, "  duplicates    %" PRIu64 "\n", r->duplicates);
        fprintf (out, "  rejected      %" PRIu64 "\n", r->rejected);
        fprintf (out, "  blank         %" PRIu64 "\n", r->blank);
        fprintf (out, "  bytes         %" PRIu64 "\n", r->bytes);
        fprintf (out, "  seconds       %.3f\n", r->seconds);
        fprintf (out, "  MB/s          %.2f\n", r->mb_per_s);
        fprintf (out, "  rejects file  %s\n", r->rejects_file ? r->rejects_file : "none");
        if (r->warnings && r->warnings->total) {
            fprintf (out, "  warnings      %" PRIu64 " (fields left unknown; --strict rejects "
                     "such lines)\n", r->warnings->total);
            ts_warn_print (r->warnings, out, false);
        }
        fprintf (out, "  job           %s\n", r->job);
    }
    fflush (out);
}
