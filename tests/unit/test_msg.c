/*  test_msg.c: the protocol header helpers and zero-copy payloads (ts_msg.h).
 *
 *  The zero-copy cases send over a real inproc socket pair: the block must
 *  arrive byte for byte, stay alive while a frame holds it even after its
 *  owner let go, and be freed exactly once by whoever lets go last (ASan,
 *  in the sanitizer build, reports a double free or a leak).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ts_msg.h"
#include "ts_wire.h"
#include "ts_error.h"
#include "ts_proto.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void
test_header_round_trip (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdr_begin (&h, TS_MSG_WORK, 4);
    ts_hdr_str (&h, "job", "job-7");
    ts_hdr_uint (&h, "chunk", 12345678901ull);
    ts_hdr_bool (&h, "more", true);
    ts_hdr_bool (&h, "last", false);
    ts_hdrin_t in;
    assert_int_equal (ts_hdr_parse (&in, h.buf.data, h.buf.size), 0);
    assert_string_equal (in.type, "work");
    assert_int_equal (ts_hdr_get_uint (&in, "chunk", 0), 12345678901ull);
    assert_true (ts_hdr_get_bool (&in, "more", false));
    assert_false (ts_hdr_get_bool (&in, "last", true));
    /* absent or of another type: the default */
    assert_true (ts_hdr_get_bool (&in, "absent", true));
    assert_false (ts_hdr_get_bool (&in, "job", false));
    char job [8];
    assert_true (ts_hdr_copy_str (&in, "job", job, sizeof job));
    assert_string_equal (job, "job-7");
    ts_hdr_free (&h);
}

/*  Every type has one name, and the name finds the type again; a header's
 *  type is looked up when it is parsed. */
static void
test_message_names (void **state)
{
    (void) state;
    for (int i = 1; i < TS_MSG_COUNT; i++) {
        const char *name = ts_msg_name ((ts_msg_t) i);
        assert_true (name [0] != 0);
        assert_int_equal (ts_msg_lookup (name, strlen (name)), i);
        for (int j = 1; j < i; j++)
            assert_string_not_equal (name, ts_msg_name ((ts_msg_t) j));
    }
    assert_int_equal (ts_msg_lookup ("chunkdon", 8), TS_MSG_UNKNOWN);
    assert_int_equal (ts_msg_lookup ("chunkdone!", 10), TS_MSG_UNKNOWN);
    assert_string_equal (ts_msg_name (TS_MSG_COUNT), "");
    ts_hdr_t h = { 0 };
    ts_hdr_begin (&h, TS_MSG_LEAVE, 0);
    ts_hdrin_t in;
    assert_int_equal (ts_hdr_parse (&in, h.buf.data, h.buf.size), 0);
    assert_int_equal (in.msg, TS_MSG_LEAVE);
    ts_hdr_free (&h);
}

/*  A header's pairs are counted against what ts_hdr_begin announced: one
 *  too few or too many leaves it incomplete (and ts_hdr_send refuses it). */
static void
test_field_counts (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdr_begin (&h, TS_MSG_CREDIT, 2);
    ts_hdr_int (&h, "n", 1);
    assert_false (ts_hdr_is_complete (&h));
    ts_hdr_key (&h, "shards");
    msgpack_pack_array (&h.pk, 0);
    assert_true (ts_hdr_is_complete (&h));
    ts_hdr_bool (&h, "extra", true);
    assert_false (ts_hdr_is_complete (&h));
    /* pairs packed elsewhere count as many as they hold */
    ts_hdr_t pairs = { 0 };
    ts_hdr_begin (&pairs, TS_MSG_STATS, 0);
    size_t start = pairs.buf.size;
    ts_hdr_str (&pairs, "group", "g");
    ts_hdr_uint (&pairs, "limit", 5);
    ts_hdr_begin (&h, TS_MSG_STATS, 3);
    ts_hdr_uint (&h, "rid", 9);
    ts_hdr_pairs (&h, pairs.buf.data + start, pairs.buf.size - start, 2);
    assert_true (ts_hdr_is_complete (&h));
    ts_hdrin_t in;
    assert_int_equal (ts_hdr_parse (&in, h.buf.data, h.buf.size), 0);
    assert_int_equal (in.nfields, 5);
    assert_int_equal (ts_hdr_get_uint (&in, "limit", 0), 5);
    ts_hdr_free (&pairs);
    ts_hdr_free (&h);
}

/*  The answers about a chunk share their first fields; a failure adds
 *  code and msg, and the counts the caller adds make it complete. */
static void
test_outcome_headers (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdrin_t in;
    ts_hdr_begin_outcome (&h, TS_MSG_BATCHDONE, "j", 7, 0, NULL, 4);
    ts_hdr_uint (&h, "shard", 3);
    ts_hdr_uint (&h, "imported", 10);
    ts_hdr_uint (&h, "duplicates", 1);
    ts_hdr_uint (&h, "seq", 99);
    assert_true (ts_hdr_is_complete (&h));
    assert_int_equal (ts_hdr_parse (&in, h.buf.data, h.buf.size), 0);
    assert_int_equal (in.msg, TS_MSG_BATCHDONE);
    assert_int_equal (in.nfields, 2 + 2 + 4);
    assert_int_equal (ts_hdr_get_uint (&in, "chunk", 0), 7);
    assert_int_equal (ts_hdr_get_int (&in, "code", -1), -1);
    ts_hdr_begin_outcome (&h, TS_MSG_NACK, "j", 8, -10016, "cannot read", 0);
    assert_true (ts_hdr_is_complete (&h));
    assert_int_equal (ts_hdr_parse (&in, h.buf.data, h.buf.size), 0);
    assert_int_equal (ts_hdr_get_int (&in, "code", 0), -10016);
    char m [32];
    assert_true (ts_hdr_copy_str (&in, "msg", m, sizeof m));
    assert_string_equal (m, "cannot read");
    ts_hdr_free (&h);
}

static char *
s_block (size_t size, char fill)
{
    char *p = malloc (size);
    assert_non_null (p);
    memset (p, fill, size);
    return p;
}

static void
test_zref_counts (void **state)
{
    (void) state;
    /* the only holder gets its block back */
    char *data = s_block (1000, 'a');
    ts_zref_t *z = ts_zref_new (data, 1000);
    assert_non_null (z);
    assert_ptr_equal (ts_zref_reclaim (&z), data);
    assert_null (z);
    free (data);

    /* two holders: the first to let go does not get it, the last frees it */
    data = s_block (1000, 'b');
    z = ts_zref_new (data, 1000);
    ts_zref_t *other = ts_zref_ref (z);
    assert_ptr_equal (other, z);
    assert_null (ts_zref_reclaim (&z));
    assert_null (z);
    assert_int_equal (other->data [999], 'b');      /* still there */
    ts_zref_unref (&other);
    assert_null (other);
    ts_zref_unref (&other);                          /* NULL: nothing */
    assert_null (ts_zref_reclaim (&other));
}

static void
test_zref_send (void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new ();
    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    assert_int_equal (zmq_bind (b, "inproc://test-zref"), 0);
    assert_int_equal (zmq_connect (a, "inproc://test-zref"), 0);
    size_t size = 1 << 20;
    char *data = s_block (size, 'c');
    data [0] = 'x';
    data [size - 1] = 'y';
    ts_zref_t *z = ts_zref_new (data, size);

    /* sent twice, the owner lets go before either is received: the
     * frames keep the block, and the last one frees it */
    assert_int_equal (ts_zref_send (z, a, ZMQ_SNDMORE), 0);
    assert_int_equal (ts_zref_send (z, a, 0), 0);
    assert_null (ts_zref_reclaim (&z));
    for (int i = 0; i < 2; i++) {
        zmq_msg_t m;
        zmq_msg_init (&m);
        assert_int_equal (zmq_msg_recv (&m, b, 0), (int) size);
        const char *got = zmq_msg_data (&m);
        assert_int_equal (got [0], 'x');
        assert_int_equal (got [size / 2], 'c');
        assert_int_equal (got [size - 1], 'y');
        assert_int_equal (zmq_msg_more (&m), i == 0);
        zmq_msg_close (&m);
    }

    /* sent, received and closed: the owner is the last and gets it back */
    data = s_block (size, 'd');
    z = ts_zref_new (data, size);
    assert_int_equal (ts_zref_send (z, a, 0), 0);
    zmq_msg_t m;
    zmq_msg_init (&m);
    assert_int_equal (zmq_msg_recv (&m, b, 0), (int) size);
    zmq_msg_close (&m);
    assert_ptr_equal (ts_zref_reclaim (&z), data);
    free (data);

    /* a send that fails (no peer can take it) drops the frame's reference */
    void *lonely = zmq_socket (ctx, ZMQ_DEALER);
    data = s_block (64, 'e');
    z = ts_zref_new (data, 64);
    assert_int_equal (ts_zref_send (z, lonely, ZMQ_DONTWAIT), -1);
    assert_ptr_equal (ts_zref_reclaim (&z), data);
    free (data);

    zmq_close (lonely);
    zmq_close (a);
    zmq_close (b);
    zmq_ctx_term (ctx);
}

/*  The typed messages (ts_wire.h): what encode writes decode reads back;
 *  an absent optional field takes its default, an absent required one or
 *  a field of another type is refused, and so is a header of another type. */
static void
s_parse (ts_hdrin_t *in, const ts_hdr_t *h)
{
    assert_true (ts_hdr_is_complete (h));
    assert_int_equal (ts_hdr_parse (in, h->buf.data, h->buf.size), 0);
}

static void
test_wire_round_trips (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdrin_t in;
    ts_wire_credit_encode (&h, &(ts_wire_credit_t) { .n = 7 });
    s_parse (&in, &h);
    assert_int_equal (in.msg, TS_MSG_CREDIT);
    ts_wire_credit_t c = { 0 };
    assert_int_equal (ts_wire_credit_decode (&in, &c), 0);
    assert_int_equal (c.n, 7);
    ts_wire_drained_t d = { false };
    assert_int_equal (ts_wire_drained_decode (&in, &d), TS_EPROTO);   /* another type */

    ts_wire_drained_encode (&h, &(ts_wire_drained_t) { .more = true });
    s_parse (&in, &h);
    assert_int_equal (ts_wire_drained_decode (&in, &d), 0);
    assert_true (d.more);

    ts_wire_snapreq_encode (&h, &(ts_wire_snapreq_t) { .shard = 1023 });
    s_parse (&in, &h);
    ts_wire_snapreq_t q = { 0 };
    assert_int_equal (ts_wire_snapreq_decode (&in, &q), 0);
    assert_int_equal (q.shard, 1023);

    ts_wire_released_encode (&h, &(ts_wire_released_t) { .shard = 3, .epoch = UINT64_MAX });
    s_parse (&in, &h);
    ts_wire_released_t r = { 0 };
    assert_int_equal (ts_wire_released_decode (&in, &r), 0);
    assert_int_equal (r.shard, 3);
    assert_true (r.epoch == UINT64_MAX);
    ts_hdr_free (&h);
}

static void
test_wire_refusals (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdrin_t in;
    /* optional fields absent: their defaults */
    ts_hdr_begin (&h, TS_MSG_CREDIT, 0);
    s_parse (&in, &h);
    ts_wire_credit_t c = { 0 };
    assert_int_equal (ts_wire_credit_decode (&in, &c), 0);
    assert_int_equal (c.n, 1);
    ts_hdr_begin (&h, TS_MSG_DRAINED, 0);
    s_parse (&in, &h);
    ts_wire_drained_t d = { true };
    assert_int_equal (ts_wire_drained_decode (&in, &d), 0);
    assert_false (d.more);
    /* of another type */
    ts_hdr_begin (&h, TS_MSG_CREDIT, 1);
    ts_hdr_str (&h, "n", "3");
    s_parse (&in, &h);
    assert_int_equal (ts_wire_credit_decode (&in, &c), TS_EPROTO);
    ts_hdr_begin (&h, TS_MSG_DRAINED, 1);
    ts_hdr_int (&h, "more", 1);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_drained_decode (&in, &d), TS_EPROTO);
    ts_hdr_begin (&h, TS_MSG_SNAPREQ, 1);
    ts_hdr_int (&h, "shard", -1);
    s_parse (&in, &h);
    ts_wire_snapreq_t q = { 0 };
    assert_int_equal (ts_wire_snapreq_decode (&in, &q), TS_EPROTO);
    /* required fields absent */
    ts_hdr_begin (&h, TS_MSG_SNAPREQ, 0);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_snapreq_decode (&in, &q), TS_EPROTO);
    ts_hdr_begin (&h, TS_MSG_RELEASED, 1);
    ts_hdr_uint (&h, "shard", 2);
    s_parse (&in, &h);
    ts_wire_released_t r = { 0 };
    assert_int_equal (ts_wire_released_decode (&in, &r), TS_EPROTO);
    ts_hdr_free (&h);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_header_round_trip),
        cmocka_unit_test (test_message_names),
        cmocka_unit_test (test_field_counts),
        cmocka_unit_test (test_outcome_headers),
        cmocka_unit_test (test_zref_counts),
        cmocka_unit_test (test_zref_send),
        cmocka_unit_test (test_wire_round_trips),
        cmocka_unit_test (test_wire_refusals),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
