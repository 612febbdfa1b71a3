# tests/unit/test_query.cmake: test_query, filtered, ordered lists and
# counts over shards (test_query.c).
ts_unit_test(test_query ${CMAKE_CURRENT_LIST_DIR}/test_query.c)
