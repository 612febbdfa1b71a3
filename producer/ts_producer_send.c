/*  ts_producer_send.c: reading chunks into their slots, sending and
 *  resending them, and the rejects file they end in (parts of the
 *  producer: ts_producer_int.h).
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

/* --- rejects file ----------------------------------------------------------- */

static void
s_rejects_write (ts_producer_t *self, const ts_buf_t *text)
{
    if (text->size == 0 || self->rejects_err)
        return;
    if (fwrite (text->data, 1, text->size, self->rejects) != text->size) {
        self->rejects_err = errno ? -errno : -EIO;
        pr_log (self, TS_LOG_ERROR, "cannot write the rejects file %s: %s",
               self->rejects_path, strerror (-self->rejects_err));
        return;
    }
    self->rejects_written += text->size;
}

/*  Appends one rejects file line: number, reason (tabs and line breaks
 *  made spaces), the line's bytes and `suffix`. */
int
pr_reject_line (ts_buf_t *out, uint64_t line, const char *reason, size_t reason_len,
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
void
pr_retire (ts_producer_t *self, bool all)
{
    while (self->base < self->next) {
        ts_slot_t *slot = pr_slot (self, self->base);
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
int
pr_slot_bytes (ts_producer_t *self, ts_slot_t *slot, int64_t now)
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
        pr_log (self, now >= 0 ? TS_LOG_ERROR : TS_LOG_WARN, "%s: cannot read chunk %" PRIu64
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
int
pr_send_chunk (ts_producer_t *self, ts_slot_t *slot, int64_t now)
{
    if (!self->by_ref && pr_slot_bytes (self, slot, now)) {
        if (slot->sent_ms < 0 && self->unsent > 0)
            self->unsent--;
        slot->sent_ms = now;            /* never sent: the import ends */
        return 0;
    }
    ts_wire_chunk_t m = {
        .job = ts_wire_cstr (self->job), .chunk = slot->chunk, .line0 = slot->line0,
        .lines = slot->lines, .bytes = slot->size, .src = ts_wire_cstr (self->input_path),
        .profile = ts_wire_cstr (self->profile),
        /* lets the workers commit as soon as they are idle, not spaced out
         * for the chunks still to come */
        .last = slot->last,
    };
    if (self->by_ref) {
        /* the workers read the lines from the file: the bytes are not
         * copied through the sockets (nor relayed by the aggregator) */
        m.by_ref = true;
        m.file = ts_wire_cstr (self->ref_path);
        m.off = slot->offset;
        m.fid = ts_wire_cstr (self->ref_fid);
    }
    ts_wire_chunk_encode (&self->hdr, &m);
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
int64_t
pr_resend (ts_producer_t *self, int64_t now, bool all)
{
    int64_t due = INT64_MAX;
    int64_t rto = all ? 0 : self->rto_ms;
    unsigned resent = 0, overdue = 0;
    bool blocked = false;
    for (uint64_t k = self->base; k < self->next; k++) {
        ts_slot_t *slot = pr_slot (self, k);
        if (slot->state != TS_SLOT_INFLIGHT)
            continue;
        bool unsent = slot->sent_ms < 0;
        if (!unsent && now - slot->sent_ms < (int64_t) rto) {
            if (slot->sent_ms + rto < due)
                due = slot->sent_ms + rto;
            continue;
        }
        overdue += !unsent;
        if (blocked || pr_send_chunk (self, slot, now)) {
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
        pr_log (self, TS_LOG_WARN, "the aggregator restarted: sending the %u chunk%s in "
               "flight again", overdue, overdue == 1 ? "" : "s");
    else if (resent) {
        pr_log (self, TS_LOG_WARN, "resent %u chunk%s not acknowledged within %u ms",
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
        out = &pr_slot (self, self->next - 1)->after;
    if (pr_reject_line (out, info->line0, reason, (size_t) n, info->head, info->head_len, "..."))
        pr_log (self, TS_LOG_ERROR, "out of memory: line %" PRIu64 " is missing from the "
               "rejects file", info->line0);
    if (out == &now) {
        s_rejects_write (self, &now);
        ts_buf_free (&now);
    }
    self->lines++;
    self->rejected++;
    self->skipped++;
    pr_log (self, TS_LOG_DEBUG, "line %" PRIu64 " skipped: longer than %zu bytes",
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
void
pr_slot_drop_data (ts_producer_t *self, ts_slot_t *slot)
{
    if (slot->zref && !ts_zref_reclaim (&slot->zref)) {
        slot->data = (ts_buf_t) { 0 };
        return;
    }
    s_pool_put (self, &slot->data);
}

/*  Reads the next chunk into a free slot and sends it. Returns 0, 1 at
 *  the end of the input, or a negative code from the chunker. */
int
pr_read_next (ts_producer_t *self, int64_t now)
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
    ts_slot_t *slot = pr_slot (self, self->next);
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
    pr_send_chunk (self, slot, now);
    return 0;
}
