# tests/unit/test_record.cmake: test_record, the record model around the
# parser: msgpack reader, msgpack to JSON, times, summaries, ids and shards,
# key codes, totals and profiles (test_record.c).
ts_unit_test(test_record ${CMAKE_CURRENT_LIST_DIR}/test_record.c)
