/*  ts_wire.c: typed internal messages (ts_wire.h).
 *
 *  Each message is a table of its fields (key, type, where in the struct,
 *  required or its default); one encoder and one decoder walk the tables,
 *  so a message is described once and its two directions cannot disagree.
 */
#include "ts_wire.h"
#include "ts_error.h"

#include <assert.h>
#include <stddef.h>
#include <string.h>

typedef enum { S_U64, S_I64, S_BOOL } s_kind_t;

typedef struct {
    const char *key;
    s_kind_t    kind;
    size_t      off;           /* of the member in the message's struct */
    bool        required;
    int64_t     dflt;          /* when optional and absent */
} s_field_t;

typedef struct {
    ts_msg_t         type;
    const s_field_t *fields;
    uint32_t         nfields;
} s_desc_t;

static void
s_encode (ts_hdr_t *h, const s_desc_t *d, const void *m)
{
    assert (h && m);
    const char *base = m;
    ts_hdr_begin (h, d->type, d->nfields);
    for (uint32_t i = 0; i < d->nfields; i++) {
        const s_field_t *f = &d->fields [i];
        switch (f->kind) {
        case S_U64: ts_hdr_uint (h, f->key, *(const uint64_t *) (base + f->off)); break;
        case S_I64: ts_hdr_int (h, f->key, *(const int64_t *) (base + f->off)); break;
        case S_BOOL: ts_hdr_bool (h, f->key, *(const bool *) (base + f->off)); break;
        }
    }
    assert (ts_hdr_is_complete (h));
}

/*  0 with every field set, or TS_EPROTO: a header of another type, a
 *  required field absent, a field of another type. */
static int
s_decode (const ts_hdrin_t *in, const s_desc_t *d, void *m)
{
    assert (in && m);
    if (in->msg != d->type)
        return TS_EPROTO;
    char *base = m;
    for (uint32_t i = 0; i < d->nfields; i++) {
        const s_field_t *f = &d->fields [i];
        void *at = base + f->off;
        ts_mp_reader_t r;
        ts_mp_item_t it;
        if (!ts_hdr_find (in, f->key, &r)) {
            if (f->required)
                return TS_EPROTO;
            switch (f->kind) {
            case S_U64: *(uint64_t *) at = (uint64_t) f->dflt; break;
            case S_I64: *(int64_t *) at = f->dflt; break;
            case S_BOOL: *(bool *) at = f->dflt != 0; break;
            }
            continue;
        }
        int bad = 0;
        switch (f->kind) {
        case S_U64: bad = ts_mp_read_uint (&r, (uint64_t *) at); break;
        case S_I64: bad = ts_mp_read_int (&r, (int64_t *) at); break;
        case S_BOOL:
            bad = ts_mp_next (&r, &it) || it.type != TS_MP_BOOL;
            if (!bad)
                *(bool *) at = it.b;
            break;
        }
        if (bad)
            return TS_EPROTO;
    }
    return 0;
}

#define S_REQ(T, key, kind, member) { key, kind, offsetof (T, member), true, 0 }
#define S_OPT(T, key, kind, member, dflt) { key, kind, offsetof (T, member), false, dflt }
#define S_DESC(type, fields) { type, fields, sizeof fields / sizeof fields [0] }
/*  The pair of functions of message `name`, described by s_<name>. */
#define S_CODEC(name) \
    void ts_wire_##name##_encode (ts_hdr_t *h, const ts_wire_##name##_t *m) \
    { s_encode (h, &s_##name, m); } \
    int ts_wire_##name##_decode (const ts_hdrin_t *in, ts_wire_##name##_t *m) \
    { return s_decode (in, &s_##name, m); }

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
