# tests/unit/test_chunker.cmake: test_chunker, the producer's input side:
# ts_input (plain, gzip, zstd, stdin) and ts_chunker (test_chunker.c).
ts_unit_test(test_chunker ${CMAKE_CURRENT_LIST_DIR}/test_chunker.c)
