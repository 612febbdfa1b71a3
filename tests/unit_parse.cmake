# tests/unit_parse.cmake: unit tests of the record model and the line
# parser, and (with -DTS_FUZZ=ON and a compiler that has libFuzzer, i.e.
# clang) a fuzz target for the parser:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTS_FUZZ=ON
#   cmake --build build-fuzz --target fuzz_parse
#   build-fuzz/tests/fuzz_parse -max_total_time=60 tests/fuzz_corpus/parse
ts_unit_test(test_parse test_parse.c)
ts_unit_test(test_record test_record.c)

if(TS_FUZZ)
  include(CheckCSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=fuzzer)
  check_c_source_compiles([[
    #include <stddef.h>
    #include <stdint.h>
    int LLVMFuzzerTestOneInput (const uint8_t *d, size_t n) { (void) d; (void) n; return 0; }
  ]] TS_HAVE_LIBFUZZER)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(TS_HAVE_LIBFUZZER)
    # The library is instrumented for coverage (no libFuzzer main of its
    # own) and checked by the same sanitizers as the target; everything
    # else that links it then needs the sanitizer runtimes at link time.
    set(_ts_fuzz_san -fsanitize=address,undefined -fno-sanitize-recover=undefined
                     -fno-omit-frame-pointer)
    target_compile_options(tsshared PRIVATE -fsanitize=fuzzer-no-link ${_ts_fuzz_san})
    target_link_options(tsshared INTERFACE -fsanitize=address,undefined)
    add_executable(fuzz_parse fuzz_parse.c)
    add_dependencies(fuzzers fuzz_parse)
    target_compile_options(fuzz_parse PRIVATE -fsanitize=fuzzer ${_ts_fuzz_san})
    target_link_options(fuzz_parse PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_parse PRIVATE tsshared)
    # libFuzzer writes what it finds into the first corpus directory: a
    # scratch one in the build tree, so the seeds in the source tree stay
    # as committed; crash inputs land in the build tree too.
    set(_ts_fuzz_out ${CMAKE_CURRENT_BINARY_DIR}/fuzz_parse.corpus)
    file(MAKE_DIRECTORY ${_ts_fuzz_out})
    add_test(NAME fuzz_parse
             COMMAND fuzz_parse -max_total_time=30 -rss_limit_mb=2048
                     -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz_parse-
                     ${_ts_fuzz_out} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_corpus/parse)
    set_tests_properties(fuzz_parse PROPERTIES LABELS fuzz TIMEOUT 300)
  else()
    message(WARNING "TS_FUZZ: ${CMAKE_C_COMPILER_ID} cannot build libFuzzer targets "
                    "(use CC=clang CXX=clang++); fuzz_parse is not built")
  endif()
endif()
