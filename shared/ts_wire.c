/*  ts_wire.c: typed internal messages (ts_wire.h).
 *
 *  Each message is a table of its fields (key, kind, where in the struct,
 *  required, optional with a default, or one of a group); one encoder and
 *  one decoder walk the tables, so a message is described once, its two
 *  directions cannot disagree, and a header's field count is counted, not
 *  written by hand.
 */
#include "ts_wire.h"
#include "ts_error.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

typedef enum {
    S_U64, S_I64, S_BOOL,
    S_STR,          /* ts_wire_str_t */
    S_ARR,          /* ts_wire_array_t */
    S_CODE,         /* int64_t: an error code, read from a number or a name */
    S_U32W          /* uint32_t, always 5 bytes wide (patched in place) */
} s_kind_t;

typedef enum { S_REQUIRED, S_OPTIONAL, S_GROUP } s_how_t;

typedef struct {
    const char *key;
    s_kind_t    kind;
    s_how_t     how;
    size_t      off;           /* of the member in the message's struct */
    int64_t     dflt;          /* S_OPTIONAL: when absent */
    size_t      group;         /* S_GROUP: the offset of the group's bool */
} s_field_t;

#define S_MAX_FIELDS 32

typedef struct {
    ts_msg_t         type;
    const s_field_t *fields;
    uint32_t         nfields;
} s_desc_t;

/* --- strings and arrays ----------------------------------------------------- */

bool
ts_wire_str_copy (ts_wire_str_t s, char *buf, size_t size)
{
    assert (buf && size > 0);
    size_t n = s.ptr ? s.len : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy (buf, s.ptr, n);
    buf [n] = 0;
    return s.ptr != NULL;
}

bool
ts_wire_str_eq (ts_wire_str_t s, const char *c)
{
    return s.ptr && strlen (c) == s.len && !memcmp (s.ptr, c, s.len);
}

void
ts_wire_array_reader (const ts_wire_array_t *a, ts_mp_reader_t *r)
{
    ts_mp_reader_init (r, a->items ? a->items : "", a->items ? a->len : 0);
}

ts_wire_array_t
ts_wire_array_packed (const void *data, size_t len)
{
    ts_wire_array_t a = { 0 };
    ts_mp_reader_t r;
    ts_mp_reader_init (&r, data, len);
    if (ts_mp_read_array (&r, &a.count) == 0) {
        a.items = r.p;
        a.len = (size_t) (r.end - r.p);
    }
    else
        a.count = 0;
    return a;
}

/* --- the codec ------------------------------------------------------------------ */

/*  Whether field f of message m goes on the wire. */
static bool
s_sent (const s_field_t *f, const char *m)
{
    switch (f->how) {
    case S_REQUIRED: return true;
    case S_GROUP: return *(const bool *) (m + f->group);
    case S_OPTIONAL:
        if (f->kind == S_STR)
            return ((const ts_wire_str_t *) (m + f->off))->ptr != NULL;
        if (f->kind == S_ARR)
            return ((const ts_wire_array_t *) (m + f->off))->items != NULL;
        return true;
    }
    return true;
}

static void
s_encode (ts_hdr_t *h, const s_desc_t *d, const void *msg)
{
    assert (h && msg);
    const char *m = msg;
    uint32_t n = 0;
    for (uint32_t i = 0; i < d->nfields; i++)
        n += s_sent (&d->fields [i], m);
    ts_hdr_begin (h, d->type, n);
    for (uint32_t i = 0; i < d->nfields; i++) {
        const s_field_t *f = &d->fields [i];
        const void *at = m + f->off;
        if (!s_sent (f, m))
            continue;
        switch (f->kind) {
        case S_U64: ts_hdr_uint (h, f->key, *(const uint64_t *) at); break;
        case S_I64:
        case S_CODE: ts_hdr_int (h, f->key, *(const int64_t *) at); break;
        case S_BOOL: ts_hdr_bool (h, f->key, *(const bool *) at); break;
        case S_STR: {
            const ts_wire_str_t *s = at;
            ts_hdr_strn (h, f->key, s->ptr ? s->ptr : "", s->ptr ? s->len : 0);
            break;
        }
        case S_ARR: {
            const ts_wire_array_t *a = at;
            ts_hdr_key (h, f->key);
            msgpack_pack_array (&h->pk, a->items ? a->count : 0);
            if (a->items)
                ts_buf_append (&h->buf, a->items, a->len);
            break;
        }
        case S_U32W: {
            uint32_t v = *(const uint32_t *) at;
            const char b [5] = { (char) 0xce, (char) (v >> 24), (char) (v >> 16),
                                 (char) (v >> 8), (char) v };
            ts_hdr_key (h, f->key);
            ts_buf_append (&h->buf, b, sizeof b);
            break;
        }
        }
    }
    assert (ts_hdr_is_complete (h));
}

/*  An error code: a number, or a name from ts_errname. */
static int
s_read_code (ts_mp_reader_t *r, int64_t *code)
{
    ts_mp_reader_t again = *r;
    if (ts_mp_read_int (r, code) == 0)
        return 0;
    const char *p;
    uint32_t n;
    if (ts_mp_read_str (&again, &p, &n))
        return TS_EPROTO;
    *r = again;
    for (int c = TS_EBASE - 1; c >= TS_ENOTOWNER; c--)
        if (strlen (ts_errname (c)) == n && !memcmp (ts_errname (c), p, n)) {
            *code = c;
            return 0;
        }
    *code = TS_ESTORE;
    return 0;
}

/*  Reads field f's value into the struct at m. */
static int
s_read_field (const s_field_t *f, ts_mp_reader_t *r, char *m)
{
    void *at = m + f->off;
    ts_mp_item_t it;
    switch (f->kind) {
    case S_U64: return ts_mp_read_uint (r, at);
    case S_I64: return ts_mp_read_int (r, at);
    case S_CODE: return s_read_code (r, at);
    case S_BOOL:
        if (ts_mp_next (r, &it) || it.type != TS_MP_BOOL)
            return TS_EPROTO;
        *(bool *) at = it.b;
        return 0;
    case S_U32W: {
        uint64_t v;
        if (ts_mp_read_uint (r, &v) || v > UINT32_MAX)
            return TS_EPROTO;
        *(uint32_t *) at = (uint32_t) v;
        return 0;
    }
    case S_STR: {
        ts_wire_str_t *s = at;
        uint32_t n;
        if (ts_mp_read_str (r, &s->ptr, &n))
            return TS_EPROTO;
        s->len = n;
        if (!n)
            s->ptr = "";
        return 0;
    }
    case S_ARR: {
        ts_wire_array_t *a = at;
        if (ts_mp_read_array (r, &a->count))
            return TS_EPROTO;
        const uint8_t *start = r->p;
        for (uint32_t i = 0; i < a->count; i++)
            if (ts_mp_skip (r))
                return TS_EPROTO;
        a->items = start;
        a->len = (size_t) (r->p - start);
        return 0;
    }
    }
    return TS_EPROTO;
}

/*  Field f absent: its default. */
static void
s_default (const s_field_t *f, char *m)
{
    void *at = m + f->off;
    switch (f->kind) {
    case S_U64: *(uint64_t *) at = (uint64_t) f->dflt; break;
    case S_I64:
    case S_CODE: *(int64_t *) at = f->dflt; break;
    case S_BOOL: *(bool *) at = f->dflt != 0; break;
    case S_U32W: *(uint32_t *) at = (uint32_t) f->dflt; break;
    case S_STR: *(ts_wire_str_t *) at = (ts_wire_str_t) { 0 }; break;
    case S_ARR: *(ts_wire_array_t *) at = (ts_wire_array_t) { 0 }; break;
    }
}

/*  0 with every field set, or TS_EPROTO: a header of another type, a
 *  required field absent, a field of another type, a group in part. One
 *  pass over the header's pairs; a key repeated counts once, the first
 *  (as ts_hdr_find reads it); keys not in the table are skipped. */
static int
s_decode (const ts_hdrin_t *in, const s_desc_t *d, void *msg)
{
    assert (in && msg && d->nfields <= S_MAX_FIELDS);
    if (in->msg != d->type)
        return TS_EPROTO;
    char *m = msg;
    uint32_t seen = 0, npairs;
    ts_mp_reader_t r;
    ts_mp_reader_init (&r, in->data, in->len);
    if (ts_mp_read_map (&r, &npairs))
        return TS_EPROTO;
    for (uint32_t p = 0; p < npairs; p++) {
        const char *key;
        uint32_t klen, i = d->nfields;
        if (ts_mp_read_str (&r, &key, &klen))
            return TS_EPROTO;
        for (uint32_t j = 0; j < d->nfields && i == d->nfields; j++)
            if (!(seen & (1u << j)) && strlen (d->fields [j].key) == klen
            &&  !memcmp (d->fields [j].key, key, klen))
                i = j;
        if (i == d->nfields) {
            if (ts_mp_skip (&r))
                return TS_EPROTO;
            continue;
        }
        if (s_read_field (&d->fields [i], &r, m))
            return TS_EPROTO;
        seen |= 1u << i;
    }
    for (uint32_t i = 0; i < d->nfields; i++) {      /* groups: none yet */
        const s_field_t *f = &d->fields [i];
        if (f->how == S_GROUP)
            *(bool *) (m + f->group) = false;
    }
    for (uint32_t i = 0; i < d->nfields; i++) {
        const s_field_t *f = &d->fields [i];
        if (f->how == S_GROUP && (seen & (1u << i)))
            *(bool *) (m + f->group) = true;
    }
    for (uint32_t i = 0; i < d->nfields; i++) {
        const s_field_t *f = &d->fields [i];
        if (seen & (1u << i))
            continue;
        if (f->how == S_REQUIRED || (f->how == S_GROUP && *(bool *) (m + f->group)))
            return TS_EPROTO;
        s_default (f, m);
    }
    return 0;
}

static bool
s_equal (const s_desc_t *d, const void *a, const void *b)
{
    const char *x = a, *y = b;
    for (uint32_t i = 0; i < d->nfields; i++) {
        const s_field_t *f = &d->fields [i];
        const char *p = x + f->off, *q = y + f->off;
        bool same = true;
        switch (f->kind) {
        case S_U64: same = *(const uint64_t *) p == *(const uint64_t *) q; break;
        case S_I64:
        case S_CODE: same = *(const int64_t *) p == *(const int64_t *) q; break;
        case S_BOOL: same = *(const bool *) p == *(const bool *) q; break;
        case S_U32W: same = *(const uint32_t *) p == *(const uint32_t *) q; break;
        case S_STR: {
            const ts_wire_str_t *s = (const void *) p, *t = (const void *) q;
            same = !s->ptr == !t->ptr && s->len == t->len && (!s->len || !memcmp (s->ptr, t->ptr, s->len));
            break;
        }
        case S_ARR: {
            const ts_wire_array_t *s = (const void *) p, *t = (const void *) q;
            same = !s->items == !t->items && s->count == t->count && s->len == t->len
                && (!s->len || !memcmp (s->items, t->items, s->len));
            break;
        }
        }
        if (!same)
            return false;
    }
    return true;
}

size_t
ts_wire_value_at (const ts_hdr_t *h, const char *key)
{
    ts_mp_reader_t r;
    if (!ts_mp_map_find (h->buf.data, h->buf.size, key, &r))
        return 0;
    return (size_t) ((const char *) r.p - h->buf.data);
}

/* --- the messages ----------------------------------------------------------------- */

#define S_REQ(T, key, kind, member) { key, kind, S_REQUIRED, offsetof (T, member), 0, 0 }
#define S_OPT(T, key, kind, member, dflt) { key, kind, S_OPTIONAL, offsetof (T, member), dflt, 0 }
#define S_IN(T, group, key, kind, member) \
    { key, kind, S_GROUP, offsetof (T, member), 0, offsetof (T, group) }
#define S_DESC(type, fields) { type, fields, sizeof fields / sizeof fields [0] }
/*  The pair of functions of message `name`, described by s_<name>. */
#define S_CODEC(name) \
    void ts_wire_##name##_encode (ts_hdr_t *h, const ts_wire_##name##_t *m) \
    { s_encode (h, &s_##name, m); } \
    int ts_wire_##name##_decode (const ts_hdrin_t *in, ts_wire_##name##_t *m) \
    { return s_decode (in, &s_##name, m); }

/* producer <-> aggregator */

static const s_field_t s_chunk_fields [] = {
    S_REQ (ts_wire_chunk_t, "job", S_STR, job),
    S_REQ (ts_wire_chunk_t, "chunk", S_U64, chunk),
    S_OPT (ts_wire_chunk_t, "line0", S_U64, line0, 1),
    S_OPT (ts_wire_chunk_t, "lines", S_U64, lines, 0),
    S_OPT (ts_wire_chunk_t, "bytes", S_U64, bytes, 0),
    S_OPT (ts_wire_chunk_t, "src", S_STR, src, 0),
    S_OPT (ts_wire_chunk_t, "profile", S_STR, profile, 0),
    S_OPT (ts_wire_chunk_t, "last", S_BOOL, last, false),
    S_IN (ts_wire_chunk_t, by_ref, "file", S_STR, file),
    S_IN (ts_wire_chunk_t, by_ref, "off", S_U64, off),
    S_IN (ts_wire_chunk_t, by_ref, "fid", S_STR, fid),
};
static const s_desc_t s_chunk = S_DESC (TS_MSG_CHUNK, s_chunk_fields);
S_CODEC (chunk)

static const s_field_t s_done_fields [] = {
    S_REQ (ts_wire_done_t, "job", S_STR, job),
    S_REQ (ts_wire_done_t, "chunks", S_U64, chunks),
    S_REQ (ts_wire_done_t, "lines", S_U64, lines),
    S_REQ (ts_wire_done_t, "bytes", S_U64, bytes),
};
static const s_desc_t s_done = S_DESC (TS_MSG_DONE, s_done_fields);
S_CODEC (done)

static const s_desc_t s_ping = { TS_MSG_PING, NULL, 0 };
S_CODEC (ping)

static const s_field_t s_pong_fields [] = {
    S_REQ (ts_wire_pong_t, "inc", S_U64, inc),
};
static const s_desc_t s_pong = S_DESC (TS_MSG_PONG, s_pong_fields);
S_CODEC (pong)
static const s_desc_t s_reregister = S_DESC (TS_MSG_REREGISTER, s_pong_fields);
S_CODEC (reregister)

static const s_field_t s_ack_fields [] = {
    S_REQ (ts_wire_ack_t, "job", S_STR, job),
    S_REQ (ts_wire_ack_t, "chunk", S_U64, chunk),
    S_REQ (ts_wire_ack_t, "lines", S_U64, lines),
    S_REQ (ts_wire_ack_t, "blank", S_U64, blank),
    S_REQ (ts_wire_ack_t, "imported", S_U64, imported),
    S_REQ (ts_wire_ack_t, "duplicates", S_U64, duplicates),
    S_REQ (ts_wire_ack_t, "rejected", S_U64, rejected),
    S_REQ (ts_wire_ack_t, "rejects", S_ARR, rejects),
    S_OPT (ts_wire_ack_t, "warnings", S_ARR, warnings, 0),
};
static const s_desc_t s_ack = S_DESC (TS_MSG_ACK, s_ack_fields);
S_CODEC (ack)

static const s_field_t s_nack_fields [] = {
    S_REQ (ts_wire_nack_t, "job", S_STR, job),
    S_REQ (ts_wire_nack_t, "chunk", S_U64, chunk),
    S_REQ (ts_wire_nack_t, "code", S_CODE, code),
    S_OPT (ts_wire_nack_t, "msg", S_STR, msg, 0),
};
static const s_desc_t s_nack = S_DESC (TS_MSG_NACK, s_nack_fields);
S_CODEC (nack)

/* aggregator <-> worker */

#define S_OUTCOME(T) \
    S_IN (T, failed, "code", S_I64, code), \
    S_IN (T, failed, "msg", S_STR, msg)

static const s_field_t s_chunkdone_fields [] = {
    S_REQ (ts_wire_chunkdone_t, "job", S_STR, job),
    S_REQ (ts_wire_chunkdone_t, "chunk", S_U64, chunk),
    S_OUTCOME (ts_wire_chunkdone_t),
    S_IN (ts_wire_chunkdone_t, counted, "lines", S_U64, lines),
    S_IN (ts_wire_chunkdone_t, counted, "blank", S_U64, blank),
    S_IN (ts_wire_chunkdone_t, counted, "imported", S_U64, imported),
    S_IN (ts_wire_chunkdone_t, counted, "duplicates", S_U64, duplicates),
    S_IN (ts_wire_chunkdone_t, counted, "rejected", S_U64, rejected),
    S_IN (ts_wire_chunkdone_t, counted, "rejects", S_ARR, rejects),
    S_IN (ts_wire_chunkdone_t, counted, "warnings", S_ARR, warnings),
    S_IN (ts_wire_chunkdone_t, counted, "seqs", S_ARR, seqs),
};
static const s_desc_t s_chunkdone = S_DESC (TS_MSG_CHUNKDONE, s_chunkdone_fields);
S_CODEC (chunkdone)

static const s_field_t s_work_fields [] = {
    S_REQ (ts_wire_work_t, "job", S_STR, c.job),
    S_REQ (ts_wire_work_t, "chunk", S_U64, c.chunk),
    S_OPT (ts_wire_work_t, "line0", S_U64, c.line0, 1),
    S_OPT (ts_wire_work_t, "lines", S_U64, c.lines, 0),
    S_OPT (ts_wire_work_t, "bytes", S_U64, c.bytes, 0),
    S_OPT (ts_wire_work_t, "src", S_STR, c.src, 0),
    S_OPT (ts_wire_work_t, "profile", S_STR, c.profile, 0),
    S_IN (ts_wire_work_t, c.by_ref, "file", S_STR, c.file),
    S_IN (ts_wire_work_t, c.by_ref, "off", S_U64, c.off),
    S_IN (ts_wire_work_t, c.by_ref, "fid", S_STR, c.fid),
    S_REQ (ts_wire_work_t, "backlog", S_U32W, backlog),
    S_REQ (ts_wire_work_t, "more", S_BOOL, more),
};
static const s_desc_t s_work = S_DESC (TS_MSG_WORK, s_work_fields);
S_CODEC (work)

static const s_field_t s_register_fields [] = {
    S_REQ (ts_wire_register_t, "worker", S_STR, worker),
    S_REQ (ts_wire_register_t, "peer", S_STR, peer),
    S_REQ (ts_wire_register_t, "pid", S_I64, pid),
    S_OPT (ts_wire_register_t, "credit", S_I64, credit, TS_WORKER_CREDIT),
    S_OPT (ts_wire_register_t, "shards", S_ARR, shards, 0),
};
static const s_desc_t s_register = S_DESC (TS_MSG_REGISTER, s_register_fields);
S_CODEC (register)

static const s_field_t s_hb_fields [] = {
    S_REQ (ts_wire_hb_t, "worker", S_STR, worker),
    S_REQ (ts_wire_hb_t, "epoch", S_U64, epoch),
    S_REQ (ts_wire_hb_t, "held", S_I64, held),
    S_REQ (ts_wire_hb_t, "queued", S_U64, queued),
    S_OPT (ts_wire_hb_t, "error", S_STR, error, 0),
};
static const s_desc_t s_hb = S_DESC (TS_MSG_HB, s_hb_fields);
S_CODEC (hb)

static const s_field_t s_leave_fields [] = {
    S_REQ (ts_wire_leave_t, "worker", S_STR, worker),
};
static const s_desc_t s_leave = S_DESC (TS_MSG_LEAVE, s_leave_fields);
S_CODEC (leave)

static const s_field_t s_delta_fields [] = {
    S_REQ (ts_wire_delta_t, "shard", S_U64, shard),
    S_REQ (ts_wire_delta_t, "seq", S_U64, seq),
};
static const s_desc_t s_delta = S_DESC (TS_MSG_DELTA, s_delta_fields);
S_CODEC (delta)
static const s_desc_t s_snap = S_DESC (TS_MSG_SNAP, s_delta_fields);
S_CODEC (snap)

static const s_field_t s_resync_fields [] = {
    S_REQ (ts_wire_resync_t, "shard", S_U64, shard),
};
static const s_desc_t s_resync = S_DESC (TS_MSG_RESYNC, s_resync_fields);
S_CODEC (resync)

static const s_field_t s_credit_fields [] = {
    S_OPT (ts_wire_credit_t, "n", S_I64, n, 1),
};
static const s_desc_t s_credit = S_DESC (TS_MSG_CREDIT, s_credit_fields);
S_CODEC (credit)

static const s_field_t s_drained_fields [] = {
    S_OPT (ts_wire_drained_t, "more", S_BOOL, more, false),
};
static const s_desc_t s_drained = S_DESC (TS_MSG_DRAINED, s_drained_fields);
S_CODEC (drained)

static const s_field_t s_snapreq_fields [] = {
    S_REQ (ts_wire_snapreq_t, "shard", S_U64, shard),
};
static const s_desc_t s_snapreq = S_DESC (TS_MSG_SNAPREQ, s_snapreq_fields);
S_CODEC (snapreq)

static const s_field_t s_released_fields [] = {
    S_REQ (ts_wire_released_t, "shard", S_U64, shard),
    S_REQ (ts_wire_released_t, "epoch", S_U64, epoch),
};
static const s_desc_t s_released = S_DESC (TS_MSG_RELEASED, s_released_fields);
S_CODEC (released)

/* worker <-> worker */

static const s_field_t s_batch_fields [] = {
    S_REQ (ts_wire_batch_t, "job", S_STR, job),
    S_OPT (ts_wire_batch_t, "text", S_STR, text, 0),
    S_REQ (ts_wire_batch_t, "chunk", S_U64, chunk),
    S_REQ (ts_wire_batch_t, "shard", S_U64, shard),
    S_REQ (ts_wire_batch_t, "epoch", S_U64, epoch),
    S_REQ (ts_wire_batch_t, "n", S_U64, n),
};
static const s_desc_t s_batch = S_DESC (TS_MSG_BATCH, s_batch_fields);
S_CODEC (batch)

static const s_field_t s_batchdone_fields [] = {
    S_REQ (ts_wire_batchdone_t, "job", S_STR, job),
    S_REQ (ts_wire_batchdone_t, "chunk", S_U64, chunk),
    S_OUTCOME (ts_wire_batchdone_t),
    S_REQ (ts_wire_batchdone_t, "shard", S_U64, shard),
    S_IN (ts_wire_batchdone_t, committed, "imported", S_U64, imported),
    S_IN (ts_wire_batchdone_t, committed, "duplicates", S_U64, duplicates),
    S_IN (ts_wire_batchdone_t, committed, "seq", S_U64, seq),
    S_OPT (ts_wire_batchdone_t, "refused", S_ARR, refused, 0),
};
static const s_desc_t s_batchdone = S_DESC (TS_MSG_BATCHDONE, s_batchdone_fields);
S_CODEC (batchdone)

static const s_field_t s_notowner_fields [] = {
    S_REQ (ts_wire_notowner_t, "job", S_STR, job),
    S_REQ (ts_wire_notowner_t, "chunk", S_U64, chunk),
    S_REQ (ts_wire_notowner_t, "shard", S_U64, shard),
    S_REQ (ts_wire_notowner_t, "epoch", S_U64, epoch),
};
static const s_desc_t s_notowner = S_DESC (TS_MSG_NOTOWNER, s_notowner_fields);
S_CODEC (notowner)

/* api -> worker and aggregator */

static const s_field_t s_rcheck_fields [] = {
    S_REQ (ts_wire_rcheck_t, "rid", S_U64, rid),
    S_REQ (ts_wire_rcheck_t, "shards", S_ARR, shards),
};
static const s_desc_t s_rcheck = S_DESC (TS_MSG_RCHECK, s_rcheck_fields);
S_CODEC (rcheck)
static const s_desc_t s_rcompact = S_DESC (TS_MSG_RCOMPACT, s_rcheck_fields);
S_CODEC (rcompact)

static const s_field_t s_rdrop_fields [] = {
    S_REQ (ts_wire_rdrop_t, "rid", S_U64, rid),
    S_REQ (ts_wire_rdrop_t, "run", S_STR, run),
    S_REQ (ts_wire_rdrop_t, "shards", S_ARR, shards),
};
static const s_desc_t s_rdrop = S_DESC (TS_MSG_RDROP, s_rdrop_fields);
S_CODEC (rdrop)

static const s_field_t s_dropped_fields [] = {
    S_OPT (ts_wire_dropped_t, "rid", S_U64, rid, 0),
    S_REQ (ts_wire_dropped_t, "run", S_STR, run),
};
static const s_desc_t s_dropped = S_DESC (TS_MSG_DROPPED, s_dropped_fields);
S_CODEC (dropped)

/* api <-> worker: reads */

static const s_field_t s_rget_fields [] = {
    S_REQ (ts_wire_rget_t, "rid", S_U64, rid),
    S_REQ (ts_wire_rget_t, "shard", S_U64, shard),
    S_REQ (ts_wire_rget_t, "id", S_STR, id),
};
static const s_desc_t s_rget = S_DESC (TS_MSG_RGET, s_rget_fields);
S_CODEC (rget)

static const s_field_t s_rlist_fields [] = {
    S_REQ (ts_wire_rlist_t, "rid", S_U64, rid),
    S_REQ (ts_wire_rlist_t, "limit", S_U64, limit),
    S_REQ (ts_wire_rlist_t, "records", S_BOOL, records),
    S_REQ (ts_wire_rlist_t, "shards", S_ARR, shards),
    S_OPT (ts_wire_rlist_t, "cur", S_ARR, cur, 0),
};
static const s_desc_t s_rlist = S_DESC (TS_MSG_RLIST, s_rlist_fields);
S_CODEC (rlist)
static const s_desc_t s_rcount = S_DESC (TS_MSG_RCOUNT, s_rlist_fields);
S_CODEC (rcount)
static const s_desc_t s_rsearch = S_DESC (TS_MSG_RSEARCH, s_rlist_fields);
S_CODEC (rsearch)

static const s_field_t s_rlabels_fields [] = {
    S_REQ (ts_wire_rlabels_t, "rid", S_U64, rid),
    S_REQ (ts_wire_rlabels_t, "shards", S_ARR, shards),
    S_OPT (ts_wire_rlabels_t, "id", S_STR, id, 0),
    S_OPT (ts_wire_rlabels_t, "per_model", S_BOOL, per_model, false),
    S_OPT (ts_wire_rlabels_t, "key", S_STR, key, 0),
    S_OPT (ts_wire_rlabels_t, "per_group", S_BOOL, per_group, false),
};
static const s_desc_t s_rlabels = S_DESC (TS_MSG_RLABELS, s_rlabels_fields);
S_CODEC (rlabels)

static const s_field_t s_rres_fields [] = {
    S_REQ (ts_wire_rres_t, "rid", S_U64, rid),
    S_REQ (ts_wire_rres_t, "ok", S_BOOL, ok),
    S_OUTCOME (ts_wire_rres_t),
    S_IN (ts_wire_rres_t, listed, "n", S_U64, n),
    S_IN (ts_wire_rres_t, listed, "more", S_BOOL, more),
    S_IN (ts_wire_rres_t, counted, "count", S_U64, count),
};
static const s_desc_t s_rres = S_DESC (TS_MSG_RRES, s_rres_fields);
S_CODEC (rres)

/*  Not in the table below: "map" names the shard map's answer too. */
static const s_desc_t s_mapreq = { TS_MSG_MAP, NULL, 0 };
S_CODEC (mapreq)

/*  Every typed message: X (type, name). */
#define S_TYPED(X) \
    X (TS_MSG_CHUNK, chunk) X (TS_MSG_DONE, done) X (TS_MSG_PING, ping) \
    X (TS_MSG_PONG, pong) X (TS_MSG_ACK, ack) X (TS_MSG_NACK, nack) X (TS_MSG_WORK, work) \
    X (TS_MSG_REREGISTER, reregister) X (TS_MSG_CREDIT, credit) \
    X (TS_MSG_DRAINED, drained) X (TS_MSG_SNAPREQ, snapreq) X (TS_MSG_RELEASED, released) \
    X (TS_MSG_CHUNKDONE, chunkdone) X (TS_MSG_BATCH, batch) X (TS_MSG_BATCHDONE, batchdone) \
    X (TS_MSG_NOTOWNER, notowner) X (TS_MSG_REGISTER, register) X (TS_MSG_HB, hb) \
    X (TS_MSG_LEAVE, leave) X (TS_MSG_DELTA, delta) X (TS_MSG_SNAP, snap) X (TS_MSG_RESYNC, resync) \
    X (TS_MSG_RCHECK, rcheck) X (TS_MSG_RCOMPACT, rcompact) X (TS_MSG_RDROP, rdrop) \
    X (TS_MSG_DROPPED, dropped) X (TS_MSG_RGET, rget) X (TS_MSG_RLIST, rlist) \
    X (TS_MSG_RCOUNT, rcount) X (TS_MSG_RSEARCH, rsearch) X (TS_MSG_RLABELS, rlabels) \
    X (TS_MSG_RRES, rres)

/*  Every typed message, by type. */
static const s_desc_t *const s_descs [TS_MSG_COUNT] = {
#define S_ENTRY(type, name) [type] = &s_##name,
    S_TYPED (S_ENTRY)
#undef S_ENTRY
};

bool
ts_wire_typed (ts_msg_t type)
{
    return (unsigned) type < TS_MSG_COUNT && s_descs [type];
}

int
ts_wire_decode (const ts_hdrin_t *in, ts_wire_any_t *m)
{
    if (!ts_wire_typed (in->msg))
        return TS_EPROTO;
    return s_decode (in, s_descs [in->msg], m);
}

void
ts_wire_encode (ts_hdr_t *h, ts_msg_t type, const ts_wire_any_t *m)
{
    assert (ts_wire_typed (type));
    s_encode (h, s_descs [type], m);
}

bool
ts_wire_equal (ts_msg_t type, const ts_wire_any_t *a, const ts_wire_any_t *b)
{
    assert (ts_wire_typed (type));
    return s_equal (s_descs [type], a, b);
}
