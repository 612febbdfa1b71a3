# tests/unit/test_store.cmake: test_store, the shard store and its
# consistency checker (test_store.c).
ts_unit_test(test_store ${CMAKE_CURRENT_LIST_DIR}/test_store.c)
