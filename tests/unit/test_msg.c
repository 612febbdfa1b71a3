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
#include "ts_proto.h"

#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void
test_header_round_trip (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdr_begin (&h, "work", 4);
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

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_header_round_trip),
        cmocka_unit_test (test_zref_counts),
        cmocka_unit_test (test_zref_send),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
