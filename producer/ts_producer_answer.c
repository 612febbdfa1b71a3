/*  ts_producer_answer.c: the aggregator's answers to the producer: acks
 *  (with their rejected lines), nacks and pongs (parts of the producer:
 *  ts_producer_int.h).
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
s_ack_rejects (ts_producer_t *self, ts_slot_t *slot, const ts_wire_ack_t *m)
{
    ts_mp_reader_t r;
    uint32_t n = m->rejects.count;
    if (n == 0)
        return 0;
    ts_wire_array_reader (&m->rejects, &r);
    ts_reject_t *list = malloc (n * sizeof *list);
    if (!list) {
        pr_log (self, TS_LOG_ERROR, "out of memory: the rejects of chunk %" PRIu64
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
        pr_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": malformed rejects list in the ack",
               slot->chunk);
    if (!sorted)
        qsort (list, count, sizeof *list, s_reject_cmp);

    if (pr_slot_bytes (self, slot, -1))
        pr_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": the rejects file gets its rejected "
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
            pr_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": the ack rejects line %" PRIu64
                   ", which is not in the chunk (lines %" PRIu64 "-%" PRIu64 ")",
                   slot->chunk, rj->line, slot->line0, slot->line0 + slot->lines - 1);
        if (pr_reject_line (&slot->rejects, rj->line, rj->reason, rj->reason_len,
                           text, text_len, "")) {
            pr_log (self, TS_LOG_ERROR, "out of memory: some rejects of chunk %" PRIu64
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
s_answer_slot (ts_producer_t *self, ts_wire_str_t job, uint64_t chunk)
{
    if (!ts_wire_str_eq (job, self->job))
        return NULL;
    if (chunk < self->base || chunk >= self->next)
        return NULL;
    ts_slot_t *slot = pr_slot (self, chunk);
    if (slot->state != TS_SLOT_INFLIGHT || slot->chunk != chunk)
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
    pr_slot_drop_data (self, slot);
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
s_on_ack (ts_producer_t *self, const ts_wire_ack_t *a, int64_t now)
{
    const ts_wire_ack_t m = *a;
    uint64_t chunk = m.chunk;
    ts_slot_t *slot = s_answer_slot (self, m.job, chunk);
    if (!slot) {
        pr_log (self, TS_LOG_DEBUG, "ignored an ack (a repeat, or not ours)");
        return;
    }
    uint64_t lines = m.lines, blank = m.blank, imported = m.imported;
    uint64_t duplicates = m.duplicates, rejected = m.rejected;
    if (lines != slot->lines || blank + imported + duplicates + rejected != lines)
        pr_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": the ack counts %" PRIu64 " lines "
               "(%" PRIu64 " imported, %" PRIu64 " duplicates, %" PRIu64 " rejected, %"
               PRIu64 " blank) for %" PRIu64 " lines sent", chunk, lines, imported,
               duplicates, rejected, blank, slot->lines);
    uint64_t listed = rejected ? s_ack_rejects (self, slot, &m) : 0;
    ts_mp_reader_t wr;
    ts_wire_array_reader (&m.warnings, &wr);
    if (m.warnings.items && ts_warn_merge_items (&self->warnings, &wr, m.warnings.count))
        pr_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": malformed warnings list in the ack", chunk);
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
    pr_retire (self, false);
}

static void
s_on_nack (ts_producer_t *self, const ts_wire_nack_t *n, int64_t now)
{
    const ts_wire_nack_t m = *n;
    uint64_t chunk = m.chunk;
    ts_slot_t *slot = s_answer_slot (self, m.job, chunk);
    if (!slot)
        return;
    /* a code that is no error of ours: the store's */
    int code = m.code < 0 && m.code > INT32_MIN ? (int) m.code : TS_ESTORE;
    const char *name = ts_errname (code);
    size_t mlen = m.msg.len;
    const char *msg = m.msg.ptr;
    if (!msg || mlen == 0) {
        msg = ts_strerror (code);
        mlen = (uint32_t) strlen (msg);
    }
    if (code == TS_ENOINPUT) {
        /* a worker could not read the lines from the file (another
         * machine, another file system, the file changed): from now on
         * the bytes travel with the chunks, this one first */
        if (self->by_ref)
            pr_log (self, TS_LOG_WARN, "chunk %" PRIu64 ": %.*s; sending the lines themselves "
                   "from now on", chunk, (int) mlen, msg);
        self->by_ref = false;
        int64_t sent = slot->sent_ms;
        if (pr_send_chunk (self, slot, now) && sent >= 0) {
            slot->sent_ms = -1;         /* not taken: sent again when it can be */
            self->unsent++;
        }
        return;
    }
    if (!self->failure) {
        pr_log (self, TS_LOG_ERROR, "the import cannot go on: chunk %" PRIu64 " (lines %"
               PRIu64 "-%" PRIu64 ") cannot be stored: %.*s (%s)", chunk, slot->line0,
               slot->line0 + slot->lines - 1, (int) mlen, msg, name);
        self->failure = code;
        self->drain_until_ms = now + TS_PRODUCER_DRAIN_MS;
    }
    else
        pr_log (self, TS_LOG_DEBUG, "chunk %" PRIu64 " cannot be stored either: %.*s",
               chunk, (int) mlen, msg);
    s_answered (self, slot);
    pr_retire (self, false);
}

/*  A "pong": the aggregator's incarnation. A new one lost our chunks. */
static void
s_on_pong (ts_producer_t *self, const ts_wire_pong_t *m, int64_t now)
{
    uint64_t inc = m->inc;
    if (!inc)
        return;
    self->pong_ms = now;
    if (self->agg_inc && inc != self->agg_inc) {
        /* a new aggregator, new round trips: start over from resend_ms */
        self->srtt = -1;
        self->rto_ms = self->opts.resend_ms;
        pr_resend (self, now, true);
    }
    self->agg_inc = inc;
}

/*  Handles every message waiting on the socket. */
void
pr_receive (ts_producer_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (;;) {
        if (zmq_msg_recv (&msg, self->sock, ZMQ_DONTWAIT) < 0)
            break;
        bool more = zmq_msg_more (&msg);
        ts_hdrin_t in;
        ts_wire_any_t m;
        int rc = ts_hdr_parse (&in, zmq_msg_data (&msg), zmq_msg_size (&msg));
        int64_t now = pr_now_ms ();
        if (rc == 0 && in.msg != TS_MSG_ACK && in.msg != TS_MSG_NACK && in.msg != TS_MSG_PONG)
            pr_log (self, TS_LOG_DEBUG, "dropped a message of type %s", in.type);
        else
        if (rc || (rc = ts_wire_decode (&in, &m)))
            pr_log (self, TS_LOG_DEBUG, "dropped a message: %s", ts_strerror (rc));
        else
        if (in.msg == TS_MSG_ACK)
            s_on_ack (self, &m.ack, now);
        else
        if (in.msg == TS_MSG_NACK)
            s_on_nack (self, &m.nack, now);
        else
            s_on_pong (self, &m.pong, now);
        while (more) {                      /* frames we have no use for */
            if (zmq_msg_recv (&msg, self->sock, 0) < 0)
                break;
            more = zmq_msg_more (&msg);
        }
    }
    zmq_msg_close (&msg);
}
