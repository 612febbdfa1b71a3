# tests/unit/test_labels.cmake: test_labels, labels on one shard: history,
# index, exactly-once accounting and the checker (test_labels.c).
ts_unit_test(test_labels ${CMAKE_CURRENT_LIST_DIR}/test_labels.c)
