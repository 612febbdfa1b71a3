# tests/unit/test_parse.cmake: test_parse, the strict line parser, each
# reject reason, the built-in profiles and a lossless round trip (test_parse.c).
ts_unit_test(test_parse ${CMAKE_CURRENT_LIST_DIR}/test_parse.c)
