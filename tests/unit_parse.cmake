# tests/unit_parse.cmake: unit tests of the record model and the line
# parser, and a fuzz target for the parser (seeds in fuzz_corpus/parse;
# see tests/CMakeLists.txt for fuzzing).
ts_unit_test(test_parse test_parse.c)
ts_unit_test(test_record test_record.c)
ts_fuzz_target(fuzz_parse fuzz_parse.c ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_corpus/parse)
