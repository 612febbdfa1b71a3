# tests/unit/test_search.cmake: test_search, the full-text index of a shard
# and searches over it (test_search.c).
ts_unit_test(test_search ${CMAKE_CURRENT_LIST_DIR}/test_search.c)
