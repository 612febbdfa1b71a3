/*  test_shardmap.c: shard assignment (ts_shardmap.h) and the ordering of
 *  a shard's statistics deltas (ts_seqwait.h), the two decisions of the
 *  aggregator that are pure functions of their inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ts_error.h"
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
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
