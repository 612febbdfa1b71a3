# Unit tests of filtered, ordered lists and counts over shards (test_query.c).
ts_unit_test(test_query test_query.c)
