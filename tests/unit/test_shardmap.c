/*  test_shardmap.c: shard assignment (ts_shardmap.h) and the ordering of
 *  a shard's statistics deltas (ts_seqwait.h), the two decisions of the
 *  aggregator that are pure functions of their inputs; and the shard map
 *  on the wire, as the workers and the api decode it, malformed included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ts_error.h"
#include "ts_mp.h"
#include "ts_msg.h"
#include "ts_proto.h"
#include "ts_seqwait.h"
#include "ts_shardmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define S_SLOTS 8

static void
s_loads (const int *owners, unsigned nshards, int *load)
{
    memset (load, 0, S_SLOTS * sizeof *load);
    for (unsigned s = 0; s < nshards; s++) {
        assert_true (owners [s] >= 0 && owners [s] < S_SLOTS);
        load [owners [s]]++;
    }
}

/*  From nothing: every shard placed, loads within one of each other, and
 *  only on live slots. */
static void
test_assign_balances (void **state)
{
    (void) state;
    int owners [16];
    for (int i = 0; i < 16; i++)
        owners [i] = -1;
    bool alive [S_SLOTS] = { true, false, true, true };
    assert_true (ts_shard_assign (owners, 16, alive, S_SLOTS));
    int load [S_SLOTS];
    s_loads (owners, 16, load);
    assert_int_equal (load [1], 0);
    assert_int_equal (load [0] + load [2] + load [3], 16);
    assert_in_range (load [0], 5, 6);
    assert_in_range (load [2], 5, 6);
    assert_in_range (load [3], 5, 6);
    /* asked again with nothing changed: nothing moves */
    int before [16];
    memcpy (before, owners, sizeof owners);
    assert_false (ts_shard_assign (owners, 16, alive, S_SLOTS));
    assert_memory_equal (before, owners, sizeof owners);
}

/*  A worker joins: it gets its share, and only shards that must move do
 *  (each old owner keeps all it had up to its new share). */
static void
test_assign_moves_few (void **state)
{
    (void) state;
    int owners [12];
    for (int i = 0; i < 12; i++)
        owners [i] = i % 2;                 /* two workers, 6 each */
    bool alive [S_SLOTS] = { true, true, true };
    int before [12];
    memcpy (before, owners, sizeof owners);
    assert_true (ts_shard_assign (owners, 12, alive, S_SLOTS));
    int load [S_SLOTS];
    s_loads (owners, 12, load);
    assert_int_equal (load [0], 4);
    assert_int_equal (load [1], 4);
    assert_int_equal (load [2], 4);
    int moved = 0;
    for (int i = 0; i < 12; i++)
        moved += owners [i] != before [i];
    assert_int_equal (moved, 4);             /* just the newcomer's share */
    for (int i = 0; i < 12; i++)
        if (owners [i] != before [i])
            assert_int_equal (owners [i], 2);
}

/*  A worker dies: its shards go to the others, theirs stay put; with no
 *  worker left every shard is without an owner. */
static void
test_assign_loss (void **state)
{
    (void) state;
    int owners [9] = { 0, 1, 2, 0, 1, 2, 0, 1, 2 };
    bool alive [S_SLOTS] = { true, false, true };
    assert_true (ts_shard_assign (owners, 9, alive, S_SLOTS));
    for (int i = 0; i < 9; i++) {
        assert_int_not_equal (owners [i], 1);
        if (i % 3 != 1)
            assert_int_equal (owners [i], i % 3);
    }
    int load [S_SLOTS];
    s_loads (owners, 9, load);
    assert_in_range (load [0], 4, 5);
    assert_in_range (load [2], 4, 5);
    bool none [S_SLOTS] = { false };
    assert_true (ts_shard_assign (owners, 9, none, S_SLOTS));
    for (int i = 0; i < 9; i++)
        assert_int_equal (owners [i], -1);
    assert_false (ts_shard_assign (owners, 9, none, S_SLOTS));
}

/*  More workers than shards: one shard each at most, the rest idle. */
static void
test_assign_more_workers_than_shards (void **state)
{
    (void) state;
    int owners [3] = { -1, -1, -1 };
    bool alive [S_SLOTS] = { true, true, true, true, true };
    assert_true (ts_shard_assign (owners, 3, alive, S_SLOTS));
    int load [S_SLOTS];
    s_loads (owners, 3, load);
    for (int w = 0; w < S_SLOTS; w++)
        assert_true (load [w] <= 1);
}

static void
s_free_seq (void *item)
{
    free (item);
}

static uint64_t *
s_item (uint64_t v)
{
    uint64_t *p = malloc (sizeof *p);
    assert_non_null (p);
    *p = v;
    return p;
}

/*  Deltas 1, 4, 3, 2 arrive in that order: 1 applies, 4 and 3 wait, 2
 *  applies and releases 3 then 4, in order. */
static void
test_gap_fills (void **state)
{
    (void) state;
    ts_seqwait_t w = { 0 };
    uint64_t last = 0, seq;
    assert_int_equal (ts_seq_judge (last, 1), TS_SEQ_NEXT);
    last = 1;
    assert_int_equal (ts_seq_judge (last, 4), TS_SEQ_EARLY);
    assert_int_equal (ts_seqwait_hold (&w, 4, s_item (4), 100), 0);
    assert_int_equal (ts_seq_judge (last, 3), TS_SEQ_EARLY);
    assert_int_equal (ts_seqwait_hold (&w, 3, s_item (3), 110), 0);
    assert_null (ts_seqwait_take (&w, last, &seq));      /* 2 is missing */
    assert_int_equal (ts_seq_judge (last, 2), TS_SEQ_NEXT);
    last = 2;
    uint64_t *p = ts_seqwait_take (&w, last, &seq);
    assert_non_null (p);
    assert_int_equal (seq, 3);
    assert_int_equal (*p, 3);
    free (p);
    last = 3;
    p = ts_seqwait_take (&w, last, &seq);
    assert_non_null (p);
    assert_int_equal (seq, 4);
    free (p);
    last = 4;
    assert_null (ts_seqwait_take (&w, last, &seq));
    assert_null (w.head);
}

/*  A repeat is old; a second copy of a held delta is refused; a gap that
 *  does not fill goes stale after its time. */
static void
test_gap_repeats_and_staleness (void **state)
{
    (void) state;
    ts_seqwait_t w = { 0 };
    assert_int_equal (ts_seq_judge (5, 5), TS_SEQ_OLD);
    assert_int_equal (ts_seq_judge (5, 2), TS_SEQ_OLD);
    uint64_t *seven = s_item (7);
    assert_int_equal (ts_seqwait_hold (&w, 7, seven, 1000), 0);
    uint64_t *again = s_item (7);
    assert_int_equal (ts_seqwait_hold (&w, 7, again, 1001), 1);
    free (again);                            /* refused: still the caller's */
    assert_false (ts_seqwait_is_stale (&w, 2000, 2000));
    assert_false (ts_seqwait_is_stale (&w, 3000, 2000));
    assert_true (ts_seqwait_is_stale (&w, 3001, 2000));
    /* a snapshot moved the shard past it: taken out as old, not applied */
    uint64_t seq;
    uint64_t *p = ts_seqwait_take (&w, 9, &seq);
    assert_ptr_equal (p, seven);
    assert_int_equal (seq, 7);
    assert_true (seq != 9 + 1);
    free (p);
    /* clear hands every item back */
    assert_int_equal (ts_seqwait_hold (&w, 12, s_item (12), 0), 0);
    assert_int_equal (ts_seqwait_hold (&w, 14, s_item (14), 0), 0);
    ts_seqwait_clear (&w, s_free_seq);
    assert_null (w.head);
}

/* --- the map on the wire (ts_shardmap_encode / ts_shardmap_decode) --------- */

/*  h's header parsed into *in (which borrows h's buffer). */
static void
s_parse (ts_hdr_t *h, ts_hdrin_t *in)
{
    assert_int_equal (ts_hdr_parse (in, h->buf.data, h->buf.size), 0);
}

static ts_shardmap_t s_map, s_out;

/*  The map message decodes to what was encoded: owners, free slots,
 *  names and peers, epoch and incarnation. */
static void
test_map_round_trip (void **state)
{
    (void) state;
    memset (&s_map, 0, sizeof s_map);
    s_map.epoch = 42;
    s_map.inc = 7;
    s_map.nshards = 5;
    s_map.nworkers = TS_MAX_WORKERS;
    strcpy (s_map.workers [0].name, "w0");
    strcpy (s_map.workers [0].peer, "tcp://127.0.0.1:5000");
    strcpy (s_map.workers [3].name, "w3");
    strcpy (s_map.workers [3].peer, "ipc:///tmp/w3");
    int owners [5] = { 0, 3, -1, 3, 0 };
    memcpy (s_map.owners, owners, sizeof owners);
    ts_hdr_t h = { 0 };
    ts_shardmap_encode (&h, &s_map);
    ts_hdrin_t in;
    s_parse (&h, &in);
    assert_int_equal (in.msg, TS_MSG_MAP);
    memset (&s_out, 0xff, sizeof s_out);
    assert_int_equal (ts_shardmap_decode (&in, &s_out), 0);
    assert_int_equal (s_out.epoch, 42);
    assert_int_equal (s_out.inc, 7);
    assert_int_equal (s_out.nshards, 5);
    assert_int_equal (s_out.nworkers, TS_MAX_WORKERS);
    assert_memory_equal (s_out.owners, owners, sizeof owners);
    assert_string_equal (s_out.workers [0].name, "w0");
    assert_string_equal (s_out.workers [0].peer, "tcp://127.0.0.1:5000");
    assert_string_equal (s_out.workers [3].name, "w3");
    assert_string_equal (s_out.workers [3].peer, "ipc:///tmp/w3");
    assert_string_equal (s_out.workers [1].name, "");
    assert_string_equal (s_out.workers [TS_MAX_WORKERS - 1].name, "");
    ts_hdr_free (&h);
}

/*  A map whose owners name a slot past the workers array: that shard has
 *  no owner. */
static void
test_map_owner_out_of_range (void **state)
{
    (void) state;
    ts_hdr_t h = { 0 };
    ts_hdr_begin (&h, TS_MSG_MAP, 4);
    ts_hdr_uint (&h, "epoch", 3);
    ts_hdr_uint (&h, "nshards", 3);
    ts_hdr_key (&h, "owners");
    msgpack_pack_array (&h.pk, 3);
    msgpack_pack_int (&h.pk, 1);
    msgpack_pack_int (&h.pk, 2);
    msgpack_pack_int (&h.pk, -5);
    ts_hdr_key (&h, "workers");
    msgpack_pack_array (&h.pk, 2);
    msgpack_pack_nil (&h.pk);
    msgpack_pack_array (&h.pk, 2);
    ts_mp_pack_cstr (&h.pk, "b");
    ts_mp_pack_cstr (&h.pk, "ipc://b");
    ts_hdrin_t in;
    s_parse (&h, &in);
    assert_int_equal (ts_shardmap_decode (&in, &s_out), 0);
    assert_int_equal (s_out.inc, 0);            /* absent: 0 */
    assert_int_equal (s_out.owners [0], 1);
    assert_int_equal (s_out.owners [1], -1);
    assert_int_equal (s_out.owners [2], -1);
    assert_string_equal (s_out.workers [1].peer, "ipc://b");
    ts_hdr_free (&h);
}

/*  Builds a "map" header with the given nshards, owners count, workers
 *  and one worker entry shaped by `bad`, and returns the decoder's answer. */
enum { S_OK, S_NO_NSHARDS, S_ZERO_NSHARDS, S_HUGE_NSHARDS, S_SHORT_OWNERS, S_OWNER_STR,
       S_TOO_MANY_WORKERS, S_ENTRY_ONE, S_ENTRY_INT, S_LONG_NAME, S_LONG_PEER, S_NO_WORKERS,
       S_WORKERS_MAP, S_LAST };

static int
s_decode_bad_map (int bad)
{
    ts_hdr_t h = { 0 };
    unsigned nshards = bad == S_ZERO_NSHARDS ? 0 : bad == S_HUGE_NSHARDS ? TS_MAX_SHARDS + 1 : 2;
    ts_hdr_begin (&h, TS_MSG_MAP, bad == S_NO_NSHARDS || bad == S_NO_WORKERS ? 2 : 3);
    if (bad != S_NO_NSHARDS)
        ts_hdr_uint (&h, "nshards", nshards);
    ts_hdr_key (&h, "owners");
    unsigned nowners = bad == S_SHORT_OWNERS ? 1 : nshards;
    msgpack_pack_array (&h.pk, nowners);
    for (unsigned i = 0; i < nowners; i++)
        if (bad == S_OWNER_STR)
            ts_mp_pack_cstr (&h.pk, "0");
        else
            msgpack_pack_int (&h.pk, 0);
    if (bad != S_NO_WORKERS) {
        ts_hdr_key (&h, "workers");
        if (bad == S_WORKERS_MAP)
            msgpack_pack_map (&h.pk, 0);
        else if (bad == S_TOO_MANY_WORKERS) {
            msgpack_pack_array (&h.pk, TS_MAX_WORKERS + 1);
            for (int i = 0; i <= TS_MAX_WORKERS; i++)
                msgpack_pack_nil (&h.pk);
        }
        else {
            msgpack_pack_array (&h.pk, 1);
            char name [100], peer [300];
            memset (name, 'n', sizeof name);
            name [bad == S_LONG_NAME ? 64 : 4] = 0;
            memset (peer, 'p', sizeof peer);
            peer [bad == S_LONG_PEER ? 256 : 4] = 0;
            if (bad == S_ENTRY_INT)
                msgpack_pack_int (&h.pk, 3);
            else {
                msgpack_pack_array (&h.pk, bad == S_ENTRY_ONE ? 1 : 2);
                ts_mp_pack_cstr (&h.pk, name);
                if (bad != S_ENTRY_ONE)
                    ts_mp_pack_cstr (&h.pk, peer);
            }
        }
    }
    ts_hdrin_t in;
    s_parse (&h, &in);
    int rc = ts_shardmap_decode (&in, &s_out);
    ts_hdr_free (&h);
    return rc;
}

static void
test_map_malformed (void **state)
{
    (void) state;
    assert_int_equal (s_decode_bad_map (S_OK), 0);
    assert_string_equal (s_out.workers [0].name, "nnnn");
    for (int bad = S_OK + 1; bad < S_LAST; bad++) {
        int rc = s_decode_bad_map (bad);
        if (rc != TS_EPROTO)
            fail_msg ("malformed map %d decoded (rc %d)", bad, rc);
    }
}

/*  The map's fields under another type (the aggregator's "status"
 *  reply) are not a map; under "map" they are. */
static void
test_other_type_refused (void **state)
{
    (void) state;
    const ts_msg_t types [2] = { TS_MSG_STATUS, TS_MSG_MAP };
    for (int i = 0; i < 2; i++) {
        ts_hdr_t h = { 0 };
        ts_hdr_begin (&h, types [i], 3);
        ts_hdr_uint (&h, "nshards", 1);
        ts_hdr_key (&h, "owners");
        msgpack_pack_array (&h.pk, 1);
        msgpack_pack_int (&h.pk, -1);
        ts_hdr_key (&h, "workers");
        msgpack_pack_array (&h.pk, 0);
        ts_hdrin_t in;
        s_parse (&h, &in);
        assert_int_equal (ts_shardmap_decode (&in, &s_out), types [i] == TS_MSG_MAP ? 0 : TS_EPROTO);
        ts_hdr_free (&h);
    }
    assert_int_equal (s_out.owners [0], -1);
    assert_int_equal (s_out.nworkers, 0);
}

/*  Every prefix of a valid map (a truncated frame) is refused or parsed,
 *  never read past its end (the sanitizer build checks the reads). */
static void
test_map_truncated (void **state)
{
    (void) state;
    memset (&s_map, 0, sizeof s_map);
    s_map.nshards = 3;
    s_map.nworkers = 4;
    strcpy (s_map.workers [2].name, "w2");
    strcpy (s_map.workers [2].peer, "ipc://w2");
    s_map.owners [0] = s_map.owners [1] = s_map.owners [2] = 2;
    ts_hdr_t h = { 0 };
    ts_shardmap_encode (&h, &s_map);
    for (size_t len = 0; len < h.buf.size; len++) {
        char *copy = malloc (len ? len : 1);
        assert_non_null (copy);
        memcpy (copy, h.buf.data, len);
        ts_hdrin_t in;
        if (ts_hdr_parse (&in, copy, len) == 0)
            assert_int_equal (ts_shardmap_decode (&in, &s_out), TS_EPROTO);
        free (copy);
    }
    ts_hdr_free (&h);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_assign_balances),
        cmocka_unit_test (test_assign_moves_few),
        cmocka_unit_test (test_assign_loss),
        cmocka_unit_test (test_assign_more_workers_than_shards),
        cmocka_unit_test (test_gap_fills),
        cmocka_unit_test (test_gap_repeats_and_staleness),
        cmocka_unit_test (test_map_round_trip),
        cmocka_unit_test (test_map_owner_out_of_range),
        cmocka_unit_test (test_map_malformed),
        cmocka_unit_test (test_other_type_refused),
        cmocka_unit_test (test_map_truncated),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
