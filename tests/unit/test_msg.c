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


/*  A message of `type` with every field set (groups on), strings and
 *  arrays pointing at the bytes below. */
static void
s_sample (ts_msg_t type, ts_wire_any_t *m)
{
    static const char items [] = { (char) 0x92, 0x01, (char) 0xa1, 'x', 0x07 };  /* [1, "x"], 7 */
    const ts_wire_array_t arr = { items, sizeof items, 2 };
    const ts_wire_str_t job = ts_wire_cstr ("job-1"), text = ts_wire_cstr ("some text");
    memset (m, 0, sizeof *m);
    switch (type) {
    case TS_MSG_CHUNK:
    case TS_MSG_WORK: {
        ts_wire_chunk_t *c = type == TS_MSG_WORK ? &m->work.c : &m->chunk;
        *c = (ts_wire_chunk_t) { job, 5, 1001, 100, 65536, text, ts_wire_cstr ("default"),
                                 type == TS_MSG_CHUNK, true, ts_wire_cstr ("/in.jsonl"), 4096,
                                 ts_wire_cstr ("1:2:3:4") };
        if (type == TS_MSG_WORK) {
            m->work.backlog = 70000;
            m->work.more = true;
        }
        break;
    }
    case TS_MSG_DONE: m->done = (ts_wire_done_t) { job, 9, 900, 90000 }; break;
    case TS_MSG_PING: break;
    case TS_MSG_PONG: case TS_MSG_REREGISTER: m->pong.inc = 77; break;
    case TS_MSG_ACK:
        m->ack = (ts_wire_ack_t) { job, 5, 10, 1, 6, 2, 1, arr, arr };
        break;
    case TS_MSG_NACK: m->nack = (ts_wire_nack_t) { job, 5, TS_ENOINPUT, text }; break;
    case TS_MSG_CHUNKDONE:
        m->chunkdone = (ts_wire_chunkdone_t) { job, 5, true, TS_ESTORE, text, true,
                                               10, 1, 6, 2, 1, arr, arr, arr };
        break;
    case TS_MSG_BATCH: m->batch = (ts_wire_batch_t) { job, text, 5, 3, 12, 400 }; break;
    case TS_MSG_BATCHDONE:
        m->batchdone = (ts_wire_batchdone_t) { job, 5, 3, true, -1, text, true, 398, 2,
                                               UINT64_C (1) << 40, arr };
        break;
    case TS_MSG_NOTOWNER: m->notowner = (ts_wire_notowner_t) { job, 5, 3, 12 }; break;
    case TS_MSG_REGISTER:
        m->register_ = (ts_wire_register_t) { ts_wire_cstr ("w1"), ts_wire_cstr ("ipc://p"),
                                              4242, 2, arr };
        break;
    case TS_MSG_HB:
        m->hb = (ts_wire_hb_t) { ts_wire_cstr ("w1"), 12, 8, 3999, text };
        break;
    case TS_MSG_LEAVE: m->leave.worker = ts_wire_cstr ("w1"); break;
    case TS_MSG_DELTA: case TS_MSG_SNAP: m->delta = (ts_wire_delta_t) { 1023, 1u << 31 }; break;
    case TS_MSG_RESYNC: m->resync.shard = 7; break;
    case TS_MSG_CREDIT: m->credit.n = 3; break;
    case TS_MSG_DRAINED: m->drained.more = true; break;
    case TS_MSG_SNAPREQ: m->snapreq.shard = 7; break;
    case TS_MSG_RELEASED: m->released = (ts_wire_released_t) { 7, 12 }; break;
    case TS_MSG_RCHECK: case TS_MSG_RCOMPACT: m->rcheck = (ts_wire_rcheck_t) { 99, arr }; break;
    case TS_MSG_RDROP: m->rdrop = (ts_wire_rdrop_t) { 99, arr, ts_wire_cstr ("run-a") }; break;
    case TS_MSG_DROPPED: m->dropped = (ts_wire_dropped_t) { 5, ts_wire_cstr ("run-a") }; break;
    case TS_MSG_RGET: m->rget = (ts_wire_rget_t) { 99, 1023, ts_wire_cstr ("traj-1") }; break;
    case TS_MSG_RLIST: case TS_MSG_RCOUNT: case TS_MSG_RSEARCH:
        m->rlist = (ts_wire_rlist_t) { 99, 100, true, arr, arr };
        break;
    case TS_MSG_RLABELS:
        m->rlabels = (ts_wire_rlabels_t) { 99, arr, ts_wire_cstr ("traj-1"), ts_wire_cstr ("verdict"),
                                           true, true };
        break;
    case TS_MSG_RRES:
        m->rres = (ts_wire_rres_t) { 99, true, true, TS_ENOTOWNER, text, true, 100, true, true,
                                     UINT64_C (1) << 33 };
        break;
    default: fail_msg ("no sample of typed message %s", ts_msg_name (type));
    }
}

/*  Every typed message comes back as it went, its header complete (the
 *  field count is the table's, not a number written by hand); a header of
 *  another type is refused; and with any one of its fields left out, the
 *  decoder refuses it or gives that field its default, never garbage. */
static void
test_wire_every_message (void **state)
{
    (void) state;
    int typed = 0;
    ts_hdr_t h = { 0 };
    for (int t = 1; t < TS_MSG_COUNT; t++) {
        if (!ts_wire_typed ((ts_msg_t) t))
            continue;
        typed++;
        ts_wire_any_t m, back;
        ts_hdrin_t in;
        s_sample ((ts_msg_t) t, &m);
        ts_wire_encode (&h, (ts_msg_t) t, &m);
        s_parse (&in, &h);
        assert_int_equal (in.msg, t);
        memset (&back, 0x5a, sizeof back);
        assert_int_equal (ts_wire_decode (&in, &back), 0);
        assert_true (ts_wire_equal ((ts_msg_t) t, &m, &back));
        /* the same bytes under another type's name */
        in.msg = (ts_msg_t) (t == TS_MSG_CREDIT ? TS_MSG_DRAINED : TS_MSG_CREDIT);
        ts_wire_any_t other;
        int rc = ts_wire_decode (&in, &other);
        assert_true (rc == 0 || rc == TS_EPROTO);
        /* each field left out in turn (the pairs after v and t) */
        ts_mp_reader_t r;
        uint32_t npairs;
        ts_mp_reader_init (&r, h.buf.data, h.buf.size);
        assert_int_equal (ts_mp_read_map (&r, &npairs), 0);
        for (uint32_t drop = 2; drop < npairs; drop++) {
            ts_hdr_t cut = { 0 };
            ts_mp_reader_t p;
            ts_mp_reader_init (&p, h.buf.data, h.buf.size);
            ts_mp_read_map (&p, &npairs);
            msgpack_packer_init (&cut.pk, &cut.buf, ts_buf_packer_write);
            msgpack_pack_map (&cut.pk, npairs - 1);
            for (uint32_t i = 0; i < npairs; i++) {
                const uint8_t *at = p.p;
                assert_int_equal (ts_mp_skip (&p), 0);
                assert_int_equal (ts_mp_skip (&p), 0);
                if (i != drop)
                    ts_buf_append (&cut.buf, at, (size_t) (p.p - at));
            }
            ts_hdrin_t cin;
            assert_int_equal (ts_hdr_parse (&cin, cut.buf.data, cut.buf.size), 0);
            rc = ts_wire_decode (&cin, &back);
            assert_true (rc == 0 || rc == TS_EPROTO);
            if (rc == 0)
                assert_false (ts_wire_equal ((ts_msg_t) t, &m, &back));
            ts_hdr_free (&cut);
        }
    }
    assert_int_equal (typed, 32);
    ts_hdr_free (&h);
}

/*  Groups go together: left out when their bool is false, refused when
 *  only part of them came. */
static void
test_wire_groups (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdrin_t in;
    ts_wire_chunkdone_t d = { .job = ts_wire_cstr ("j"), .chunk = 1, .counted = true, .lines = 3,
                              .rejected = 3 };
    ts_wire_chunkdone_encode (&h, &d);
    s_parse (&in, &h);
    assert_int_equal (in.nfields, 2 + 2 + 8);       /* v, t, job, chunk, the counts */
    ts_wire_chunkdone_t back;
    assert_int_equal (ts_wire_chunkdone_decode (&in, &back), 0);
    assert_false (back.failed);
    assert_true (back.counted);
    assert_int_equal (back.rejects.count, 0);       /* required in the group: [] */
    assert_non_null (back.rejects.items);

    /* a chunk by reference without its file's identity */
    ts_hdr_begin (&h, TS_MSG_CHUNK, 4);
    ts_hdr_str (&h, "job", "j");
    ts_hdr_uint (&h, "chunk", 0);
    ts_hdr_str (&h, "file", "/x");
    ts_hdr_uint (&h, "off", 0);
    s_parse (&in, &h);
    ts_wire_chunk_t c;
    assert_int_equal (ts_wire_chunk_decode (&in, &c), TS_EPROTO);
    /* without any: the bytes are in the payload, defaults apply */
    ts_hdr_begin (&h, TS_MSG_CHUNK, 2);
    ts_hdr_str (&h, "job", "j");
    ts_hdr_uint (&h, "chunk", 0);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_chunk_decode (&in, &c), 0);
    assert_false (c.by_ref);
    assert_int_equal (c.line0, 1);
    assert_null (c.profile.ptr);
    assert_null (c.file.ptr);
    ts_hdr_free (&h);
}

/*  Arrays must be arrays whose every item reads; strings are borrowed from
 *  the header; a key given twice counts once, the first; a nack's code may
 *  be a name; the work's backlog is 5 bytes wide and patched in place. */
/*  The api's reads of workers: what each side relies on. */
static void
test_wire_reads (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdrin_t in;
    /* a success: no code, no msg, nothing listed or counted */
    ts_wire_rres_encode (&h, &(ts_wire_rres_t) { .rid = 7, .ok = true });
    s_parse (&in, &h);
    assert_int_equal (in.nfields, 4);                   /* v, t, rid, ok */
    ts_wire_rres_t res;
    memset (&res, 0x5a, sizeof res);
    assert_int_equal (ts_wire_rres_decode (&in, &res), 0);
    assert_true (res.ok && !res.failed && !res.listed && !res.counted);
    assert_int_equal (res.rid, 7);
    assert_int_equal (res.count, 0);
    assert_false (res.more);
    /* a failure carries its code as a number, and its msg */
    ts_wire_rres_encode (&h, &(ts_wire_rres_t) { .rid = 8, .failed = true, .code = TS_ENOTOWNER,
                                                 .msg = ts_wire_cstr ("shard not held here") });
    s_parse (&in, &h);
    assert_int_equal (ts_wire_rres_decode (&in, &res), 0);
    assert_true (res.failed && !res.ok);
    assert_int_equal (res.code, TS_ENOTOWNER);
    assert_true (ts_wire_str_eq (res.msg, "shard not held here"));
    /* a code with no msg, a count of another type: refused */
    ts_hdr_begin (&h, TS_MSG_RRES, 3);
    ts_hdr_uint (&h, "rid", 8);
    ts_hdr_bool (&h, "ok", false);
    ts_hdr_int (&h, "code", TS_ESTORE);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_rres_decode (&in, &res), TS_EPROTO);
    ts_hdr_begin (&h, TS_MSG_RRES, 3);
    ts_hdr_uint (&h, "rid", 8);
    ts_hdr_bool (&h, "ok", true);
    ts_hdr_str (&h, "count", "12");
    s_parse (&in, &h);
    assert_int_equal (ts_wire_rres_decode (&in, &res), TS_EPROTO);
    /* an answer with no rid is nobody's */
    ts_hdr_begin (&h, TS_MSG_RRES, 1);
    ts_hdr_bool (&h, "ok", true);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_rres_decode (&in, &res), TS_EPROTO);

    /* a list with no cursor leaves "cur" out; its shards come as packed */
    static const char shards [] = { (char) 0x92, 0x03, (char) 0xcd, 0x03, (char) 0xff };  /* [3, 1023] */
    ts_wire_rlist_t l = { .rid = 5, .limit = 100, .records = false,
                          .shards = ts_wire_array_packed (shards, sizeof shards) };
    assert_int_equal (l.shards.count, 2);
    ts_wire_encode (&h, TS_MSG_RCOUNT, &(ts_wire_any_t) { .rlist = l });
    s_parse (&in, &h);
    assert_int_equal (in.msg, TS_MSG_RCOUNT);
    assert_null (ts_hdr_get_str (&in, "cur", NULL));
    assert_false (ts_hdr_find (&in, "cur", &(ts_mp_reader_t) { 0 }));
    ts_wire_any_t back;
    assert_int_equal (ts_wire_decode (&in, &back), 0);
    assert_null (back.rlist.cur.items);
    assert_int_equal (back.rlist.shards.count, 2);
    assert_memory_equal (back.rlist.shards.items, shards + 1, sizeof shards - 1);
    /* an rlist's limit is required (the worker must not re-derive it), a
     * cursor that is not an array refused */
    ts_hdr_begin (&h, TS_MSG_RLIST, 3);
    ts_hdr_uint (&h, "rid", 5);
    ts_hdr_bool (&h, "records", false);
    ts_hdr_key (&h, "shards");
    msgpack_pack_array (&h.pk, 0);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_decode (&in, &back), TS_EPROTO);
    ts_hdr_begin (&h, TS_MSG_RLIST, 5);
    ts_hdr_uint (&h, "rid", 5);
    ts_hdr_uint (&h, "limit", 100);
    ts_hdr_bool (&h, "records", false);
    ts_hdr_key (&h, "shards");
    msgpack_pack_array (&h.pk, 0);
    ts_hdr_key (&h, "cur");
    msgpack_pack_nil (&h.pk);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_decode (&in, &back), TS_EPROTO);

    /* a get needs its id and its shard */
    ts_hdr_begin (&h, TS_MSG_RGET, 2);
    ts_hdr_uint (&h, "rid", 5);
    ts_hdr_uint (&h, "shard", 3);
    s_parse (&in, &h);
    assert_int_equal (ts_wire_decode (&in, &back), TS_EPROTO);
    /* labels: absent id and key are NULL, per_model false */
    ts_hdr_begin (&h, TS_MSG_RLABELS, 2);
    ts_hdr_uint (&h, "rid", 5);
    ts_hdr_key (&h, "shards");
    msgpack_pack_array (&h.pk, 0);
    s_parse (&in, &h);
    ts_wire_rlabels_t lb;
    memset (&lb, 0x5a, sizeof lb);
    assert_int_equal (ts_wire_rlabels_decode (&in, &lb), 0);
    assert_null (lb.id.ptr);
    assert_null (lb.key.ptr);
    assert_false (lb.per_model);

    /* the api's "map" request: no fields, and only of type "map" */
    ts_wire_mapreq_encode (&h, &(ts_wire_mapreq_t) { 0 });
    s_parse (&in, &h);
    assert_int_equal (in.msg, TS_MSG_MAP);
    assert_int_equal (in.nfields, 2);
    ts_wire_mapreq_t mq;
    assert_int_equal (ts_wire_mapreq_decode (&in, &mq), 0);
    assert_false (ts_wire_typed (TS_MSG_MAP));      /* the answer has its own codec */
    in.msg = TS_MSG_STATUS;
    assert_int_equal (ts_wire_mapreq_decode (&in, &mq), TS_EPROTO);
    ts_hdr_free (&h);
}

static void
test_wire_fields (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdrin_t in;
    ts_wire_ack_t a;
    ts_hdr_begin (&h, TS_MSG_ACK, 8);
    ts_hdr_str (&h, "job", "j");
    ts_hdr_uint (&h, "chunk", 0);
    ts_hdr_uint (&h, "lines", 0);
    ts_hdr_uint (&h, "blank", 0);
    ts_hdr_uint (&h, "imported", 0);
    ts_hdr_uint (&h, "duplicates", 0);
    ts_hdr_uint (&h, "rejected", 0);
    ts_hdr_str (&h, "rejects", "[]");
    s_parse (&in, &h);
    assert_int_equal (ts_wire_ack_decode (&in, &a), TS_EPROTO);
    /* an array that claims more items than it holds */
    static const char lying [] = { (char) 0x93, 0x01 };
    ts_hdr_begin (&h, TS_MSG_REGISTER, 4);
    ts_hdr_str (&h, "worker", "w");
    ts_hdr_str (&h, "peer", "p");
    ts_hdr_int (&h, "pid", 1);
    ts_hdr_key (&h, "shards");
    ts_buf_append (&h.buf, lying, sizeof lying);
    ts_hdrin_t bad;
    assert_int_equal (ts_hdr_parse (&bad, h.buf.data, h.buf.size), 0);
    ts_wire_register_t r;
    assert_int_equal (ts_wire_register_decode (&bad, &r), TS_EPROTO);

    ts_hdr_begin (&h, TS_MSG_LEAVE, 2);
    ts_hdr_str (&h, "worker", "first");
    ts_hdr_str (&h, "worker", "second");
    s_parse (&in, &h);
    ts_wire_leave_t l;
    assert_int_equal (ts_wire_leave_decode (&in, &l), 0);
    assert_true (ts_wire_str_eq (l.worker, "first"));
    assert_true (l.worker.ptr > h.buf.data && l.worker.ptr < h.buf.data + h.buf.size);
    char small [4];
    assert_true (ts_wire_str_copy (l.worker, small, sizeof small));
    assert_string_equal (small, "fir");
    assert_false (ts_wire_str_copy ((ts_wire_str_t) { 0 }, small, sizeof small));
    assert_string_equal (small, "");

    ts_hdr_begin (&h, TS_MSG_NACK, 3);
    ts_hdr_str (&h, "job", "j");
    ts_hdr_uint (&h, "chunk", 2);
    ts_hdr_str (&h, "code", "NO_INPUT");
    s_parse (&in, &h);
    ts_wire_nack_t n;
    assert_int_equal (ts_wire_nack_decode (&in, &n), 0);
    assert_int_equal (n.code, TS_ENOINPUT);
    assert_null (n.msg.ptr);
    ts_hdr_begin (&h, TS_MSG_NACK, 3);
    ts_hdr_str (&h, "job", "j");
    ts_hdr_uint (&h, "chunk", 2);
    ts_hdr_str (&h, "code", "NO_SUCH_NAME");
    s_parse (&in, &h);
    assert_int_equal (ts_wire_nack_decode (&in, &n), 0);
    assert_int_equal (n.code, TS_ESTORE);

    ts_wire_work_t w = { .c = { .job = ts_wire_cstr ("j") }, .backlog = 0, .more = false };
    ts_wire_work_encode (&h, &w);
    size_t b = ts_wire_value_at (&h, "backlog"), m = ts_wire_value_at (&h, "more");
    assert_true (b > 0 && m > 0);
    assert_int_equal ((uint8_t) h.buf.data [b], 0xce);
    h.buf.data [b + 3] = 1;                 /* 256 */
    h.buf.data [m] = (char) 0xc3;           /* true */
    s_parse (&in, &h);
    ts_wire_work_t back;
    assert_int_equal (ts_wire_work_decode (&in, &back), 0);
    assert_int_equal (back.backlog, 256);
    assert_true (back.more);
    assert_int_equal (ts_wire_value_at (&h, "absent"), 0);
    ts_hdr_free (&h);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_header_round_trip),
        cmocka_unit_test (test_message_names),
        cmocka_unit_test (test_field_counts),
        cmocka_unit_test (test_zref_counts),
        cmocka_unit_test (test_zref_send),
        cmocka_unit_test (test_wire_round_trips),
        cmocka_unit_test (test_wire_refusals),
        cmocka_unit_test (test_wire_every_message),
        cmocka_unit_test (test_wire_groups),
        cmocka_unit_test (test_wire_fields),
        cmocka_unit_test (test_wire_reads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
