/*  test_map.c: ts_map (ts_map.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ts_map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int s_freed;

static void
s_free (void *v)
{
    s_freed++;
    free (v);
}

static ts_map_t *
s_filled (int n)
{
    ts_map_t *m = ts_map_new (s_free);
    assert_non_null (m);
    for (int i = 0; i < n; i++) {
        char key [16];
        int *v = malloc (sizeof *v);
        assert_non_null (v);
        *v = i;
        assert_int_equal (ts_map_put (m, key, (size_t) snprintf (key, sizeof key, "k%d", i), v), 0);
    }
    return m;
}

static void
test_put_get_take_delete (void **state)
{
    (void) state;
    s_freed = 0;
    ts_map_t *m = s_filled (100);
    assert_int_equal (ts_map_size (m), 100);
    int *v = ts_map_get (m, "k42", 3);
    assert_non_null (v);
    assert_int_equal (*v, 42);
    assert_null (ts_map_get (m, "k100", 4));
    v = ts_map_take (m, "k7", 2);
    assert_non_null (v);
    assert_int_equal (*v, 7);
    free (v);
    assert_int_equal (s_freed, 0);
    assert_true (ts_map_delete (m, "k8", 2));
    assert_false (ts_map_delete (m, "k8", 2));
    assert_int_equal (s_freed, 1);
    assert_int_equal (ts_map_size (m), 98);
    ts_map_destroy (&m);
    assert_null (m);
    assert_int_equal (s_freed, 99);
}

/*  The walk visits every entry once, with or without the key wanted, and
 *  survives deleting the entry just returned. */
static void
test_walk (void **state)
{
    (void) state;
    ts_map_t *m = s_filled (300);
    int seen [300] = { 0 };
    size_t pos = 0, len;
    const void *key;
    void *v;
    while (ts_map_next (m, &pos, &key, &len, &v)) {
        char want [16];
        int n = snprintf (want, sizeof want, "k%d", *(int *) v);
        assert_int_equal (len, (size_t) n);
        assert_memory_equal (key, want, len);
        seen [*(int *) v]++;
    }
    for (int i = 0; i < 300; i++)
        assert_int_equal (seen [i], 1);
    pos = 0;
    int count = 0;
    while (ts_map_next (m, &pos, NULL, NULL, &v)) {
        count++;
        if (*(int *) v % 2) {
            char key2 [16];
            assert_true (ts_map_delete (m, key2, (size_t) snprintf (key2, sizeof key2, "k%d", *(int *) v)));
        }
    }
    assert_int_equal (count, 300);
    assert_int_equal (ts_map_size (m), 150);
    pos = 0;
    count = 0;
    while (ts_map_next (m, &pos, NULL, NULL, NULL))
        count++;
    assert_int_equal (count, 150);
    ts_map_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_put_get_take_delete),
        cmocka_unit_test (test_walk),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
