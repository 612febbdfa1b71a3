/*  ts_producer.c: one import, from input to acknowledged chunks
 *  (ts_producer.h; the messages are in ts_proto.h; the parts: ts_producer_int.h).
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
#include "ts_producer_int.h"
#include "ts_error.h"
#include "ts_json_out.h"
#include "ts_proto.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

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
ts_producer_new (const ts_producer_opts_t *opts, int *code, char *err, size_t err_size)
{
    assert (opts && code);
    assert (opts->window >= 1 && opts->line_max >= 1);
    assert (opts->chunk_bytes >= TS_CHUNK_MIN_BYTES);
    assert (ts_producer_job_is_valid (opts->job));
    ts_producer_t *self = calloc (1, sizeof *self);
    if (!self) {
        *code = TS_ENOMEM;
        s_emsg (err, err_size, "out of memory");
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
        *code = TS_ENOMEM;
        s_emsg (err, err_size, "out of memory");
        goto fail;
    }
    self->opts.input = self->input_path;
    self->opts.endpoint = self->endpoint;
    self->opts.job = self->job;
    self->opts.profile = self->profile;
    self->opts.rejects_path = self->rejects_path;

    self->input = ts_input_open (self->input_path, code, err, err_size);
    if (!self->input)
        goto fail;
    if (!opts->send_bytes)
        s_ref_init (self);
    self->chunker = ts_chunker_new (self->input, opts->chunk_bytes, opts->line_max);
    if (!self->chunker) {
        *code = TS_ENOMEM;
        s_emsg (err, err_size, "out of memory");
        goto fail;
    }

    int rc = s_make_parent (self->rejects_path);
    if (rc == 0) {
        self->rejects = fopen (self->rejects_path, "we");
        rc = self->rejects ? 0 : -errno;
    }
    if (rc) {
        *code = rc;
        s_emsg (err, err_size, "cannot create the rejects file %s: %s",
                self->rejects_path, strerror (-rc));
        goto fail;
    }

    self->ctx = zmq_ctx_new ();
    self->sock = self->ctx ? zmq_socket (self->ctx, ZMQ_DEALER) : NULL;
    if (!self->sock) {
        *code = -errno;
        s_emsg (err, err_size, "cannot create a ZeroMQ socket: %s", zmq_strerror (errno));
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
        *code = TS_EINVAL;
        s_emsg (err, err_size, "cannot connect to %s: %s", self->endpoint,
                zmq_strerror (errno));
        goto fail;
    }
    *code = 0;
    return self;

fail:
    ts_producer_destroy (&self);
    return NULL;
}

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
        pr_slot_drop_data (self, &self->slots [i]);
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

/* --- the run ---------------------------------------------------------------- */

/*  Hands "done" to the socket, waiting up to TS_PRODUCER_DONE_MS for it to
 *  take it. The message is not acknowledged: it tells the aggregator that
 *  the job is complete, which every ack already says chunk by chunk. */
static void
s_send_done (ts_producer_t *self)
{
    ts_wire_done_encode (&self->hdr, &(ts_wire_done_t) {
        .job = ts_wire_cstr (self->job), .chunks = self->next, .lines = self->sent_lines,
        .bytes = self->sent_bytes });
    int64_t until = pr_now_ms () + TS_PRODUCER_DONE_MS;
    while (zmq_send (self->sock, self->hdr.buf.data, self->hdr.buf.size, ZMQ_DONTWAIT) < 0) {
        int64_t left = until - pr_now_ms ();
        if (left <= 0) {
            pr_log (self, TS_LOG_WARN, "could not send \"done\" to %s (every chunk was "
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
    int64_t now = pr_now_ms ();
    self->start_ms = now;
    self->last_ack_ms = now;
    self->progress = ts_progress_new (self->opts.progress, ts_input_total (self->input), now);
    pr_log (self, TS_LOG_INFO, "importing %s (%s) as job %s into %s%s", self->input_path,
           ts_input_kind_name (ts_input_kind (self->input)), self->job, self->endpoint,
           self->by_ref ? "; chunks go as references, the workers read the lines from the file"
                        : "");

    int rc = 0;
    while (!*stop) {
        /* one chunk at a time, so that acks, resends and progress keep up */
        if (s_can_read (self)) {
            rc = pr_read_next (self, pr_now_ms ());
            if (rc == -EINTR)
                rc = 0;                     /* a signal: *stop says whether to go on */
            else
            if (rc) {
                self->input_done = true;
                if (rc < 0) {
                    pr_log (self, TS_LOG_ERROR, "%s", ts_input_errmsg (self->input)[0]
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
        now = pr_now_ms ();
        if (self->inflight == 0 && (self->input_done || self->failure))
            break;
        if (self->failure && now >= self->drain_until_ms)
            break;

        int64_t due = INT64_MAX;
        if (s_sending (self))
            due = pr_resend (self, now, false);
        if (self->inflight > 0 && s_sending (self)) {
            if (now >= self->next_ping_ms) {
                /* not taken (not connected yet): again shortly */
                ts_wire_ping_encode (&self->hdr, &(ts_wire_ping_t) { 0 });
                bool took = zmq_send (self->sock, self->hdr.buf.data, self->hdr.buf.size,
                                      ZMQ_DONTWAIT) >= 0;
                self->next_ping_ms = now + (took ? S_PING_MS : S_PING_MS / 20);
            }
            if (self->next_ping_ms < due)
                due = self->next_ping_ms;
            int64_t silent = now - self->last_ack_ms;
            if (self->opts.timeout_s && silent >= (int64_t) self->opts.timeout_s * 1000) {
                bool up = self->pong_ms && now - self->pong_ms < 3 * S_PING_MS;
                pr_log (self, TS_LOG_ERROR, "giving up: no acknowledgement from the aggregator "
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
                pr_log (self, TS_LOG_WARN, "no answer from the aggregator at %s yet; "
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
                pr_receive (self);
            if (item.revents & ZMQ_POLLOUT)
                pr_resend (self, pr_now_ms (), false);
        }
    }
    ts_progress_clear (self->progress);
    self->end_ms = pr_now_ms ();

    if (*stop && rc == 0) {
        pr_log (self, TS_LOG_WARN, "interrupted: stopping with %u chunk%s unacknowledged",
               self->inflight, self->inflight == 1 ? "" : "s");
        rc = -EINTR;
    }
    if (rc == 0 && self->failure)
        rc = self->failure;
    if (rc == 0 && self->inflight == 0 && self->input_done)
        s_send_done (self);

    /* whatever happened, what was answered goes to the rejects file */
    pr_retire (self, true);
    if (self->rejects) {
        if (fclose (self->rejects) && !self->rejects_err) {
            self->rejects_err = -errno;
            pr_log (self, TS_LOG_ERROR, "cannot write the rejects file %s: %s",
                   self->rejects_path, strerror (errno));
        }
        self->rejects = NULL;
        if (self->rejects_written == 0)
            unlink (self->rejects_path);
    }
    if (self->unlisted)
        pr_log (self, TS_LOG_WARN, "%" PRIu64 " rejected line%s not listed by the aggregator "
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
    int64_t end = self->end_ms ? self->end_ms : pr_now_ms ();
    report->seconds = self->ran ? (double) (end - self->start_ms) / 1000.0 : 0;
    report->mb_per_s = report->seconds > 0 ? (double) report->bytes / report->seconds / 1e6 : 0;
    report->job = self->job;
    report->rejects_file = self->rejects_written ? self->rejects_path : NULL;
    report->complete = self->ran && self->input_done && !self->failure && self->inflight == 0;
    report->warnings = &self->warnings;
}

/*  A string as JSON (ts_json_escape) to `out`. */
static void
s_json_str (FILE *out, const char *s)
{
    ts_buf_t b = { 0 };
    if (ts_json_escape (&b, s, strlen (s)) == 0)
        fwrite (b.data, 1, b.size, out);
    ts_buf_free (&b);
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
