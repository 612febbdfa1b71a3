/*  ts_wire.c: typed internal messages (ts_wire.h). */
#include "ts_wire.h"
#include "ts_error.h"

#include <assert.h>

/*  Field readers: 0 with the value (the default when absent and not
 *  required), or TS_EPROTO (present with another type, or required and
 *  absent). */
static int
s_get_uint (const ts_hdrin_t *in, const char *key, bool required, uint64_t dflt, uint64_t *v)
{
    ts_mp_reader_t r;
    if (!ts_hdr_find (in, key, &r)) {
        *v = dflt;
        return required ? TS_EPROTO : 0;
    }
    return ts_mp_read_uint (&r, v) ? TS_EPROTO : 0;
}

static int
s_get_int (const ts_hdrin_t *in, const char *key, bool required, int64_t dflt, int64_t *v)
{
    ts_mp_reader_t r;
    if (!ts_hdr_find (in, key, &r)) {
        *v = dflt;
        return required ? TS_EPROTO : 0;
    }
    return ts_mp_read_int (&r, v) ? TS_EPROTO : 0;
}

static int
s_get_bool (const ts_hdrin_t *in, const char *key, bool required, bool dflt, bool *v)
{
    ts_mp_reader_t r;
    ts_mp_item_t it;
    if (!ts_hdr_find (in, key, &r)) {
        *v = dflt;
        return required ? TS_EPROTO : 0;
    }
    if (ts_mp_next (&r, &it) || it.type != TS_MP_BOOL)
        return TS_EPROTO;
    *v = it.b;
    return 0;
}

/*  A decoder is handed the header of its own type only. */
#define S_EXPECT(in, type) \
    do { assert (in); if ((in)->msg != (type)) return TS_EPROTO; } while (0)

void
ts_wire_credit_encode (ts_hdr_t *h, const ts_wire_credit_t *m)
{
    ts_hdr_begin (h, TS_MSG_CREDIT, 1);
    ts_hdr_int (h, "n", m->n);
    assert (ts_hdr_is_complete (h));
}

int
ts_wire_credit_decode (const ts_hdrin_t *in, ts_wire_credit_t *m)
{
    S_EXPECT (in, TS_MSG_CREDIT);
    return s_get_int (in, "n", false, 1, &m->n);
}

void
ts_wire_drained_encode (ts_hdr_t *h, const ts_wire_drained_t *m)
{
    ts_hdr_begin (h, TS_MSG_DRAINED, 1);
    ts_hdr_bool (h, "more", m->more);
    assert (ts_hdr_is_complete (h));
}

int
ts_wire_drained_decode (const ts_hdrin_t *in, ts_wire_drained_t *m)
{
    S_EXPECT (in, TS_MSG_DRAINED);
    return s_get_bool (in, "more", false, false, &m->more);
}

void
ts_wire_snapreq_encode (ts_hdr_t *h, const ts_wire_snapreq_t *m)
{
    ts_hdr_begin (h, TS_MSG_SNAPREQ, 1);
    ts_hdr_uint (h, "shard", m->shard);
    assert (ts_hdr_is_complete (h));
}

int
ts_wire_snapreq_decode (const ts_hdrin_t *in, ts_wire_snapreq_t *m)
{
    S_EXPECT (in, TS_MSG_SNAPREQ);
    return s_get_uint (in, "shard", true, 0, &m->shard);
}

void
ts_wire_released_encode (ts_hdr_t *h, const ts_wire_released_t *m)
{
    ts_hdr_begin (h, TS_MSG_RELEASED, 2);
    ts_hdr_uint (h, "shard", m->shard);
    ts_hdr_uint (h, "epoch", m->epoch);
    assert (ts_hdr_is_complete (h));
}

int
ts_wire_released_decode (const ts_hdrin_t *in, ts_wire_released_t *m)
{
    S_EXPECT (in, TS_MSG_RELEASED);
    int rc = s_get_uint (in, "shard", true, 0, &m->shard);
    return rc ? rc : s_get_uint (in, "epoch", true, 0, &m->epoch);
}
