# tests/fuzz/fuzz_parse.cmake: fuzz_parse, the line parser under libFuzzer,
# seeded from corpus/parse (see tests/CMakeLists.txt for fuzzing).
ts_fuzz_target(fuzz_parse ${CMAKE_CURRENT_LIST_DIR}/fuzz_parse.c ${CMAKE_CURRENT_LIST_DIR}/corpus/parse)
