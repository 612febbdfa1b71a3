# tests/unit_request.cmake: unit tests of the listing fields of client
# requests and their cursors (test_request.c), and (with -DTS_FUZZ=ON and a
# compiler that has libFuzzer, i.e. clang) a fuzz target for the request
# decoders, ts_listing_parse and the protocol headers:
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTS_FUZZ=ON
#   cmake --build build-fuzz --target fuzz_request
#   build-fuzz/tests/fuzz_request -max_total_time=60 build-fuzz/tests/fuzz_request.corpus
# (the target seeds an empty first corpus directory with valid requests).
ts_unit_test(test_request test_request.c)

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
    # The library is instrumented for coverage and checked by the same
    # sanitizers as the target (unit_parse.cmake may have said so already:
    # CMake drops repeated options).
    set(_ts_fuzz_san -fsanitize=address,undefined -fno-sanitize-recover=undefined
                     -fno-omit-frame-pointer)
    target_compile_options(tsshared PRIVATE -fsanitize=fuzzer-no-link ${_ts_fuzz_san})
    target_link_options(tsshared INTERFACE -fsanitize=address,undefined)
    add_executable(fuzz_request fuzz_request.c)
    if(TARGET fuzzers)
      add_dependencies(fuzzers fuzz_request)
    endif()
    target_compile_options(fuzz_request PRIVATE -fsanitize=fuzzer ${_ts_fuzz_san})
    target_link_options(fuzz_request PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_request PRIVATE tsshared)
    # libFuzzer writes what it finds into the first corpus directory: a
    # scratch one in the build tree; crash inputs land in the build tree too.
    set(_ts_fuzz_out ${CMAKE_CURRENT_BINARY_DIR}/fuzz_request.corpus)
    file(MAKE_DIRECTORY ${_ts_fuzz_out})
    add_test(NAME fuzz_request
             COMMAND fuzz_request -max_total_time=30 -rss_limit_mb=2048
                     -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz_request-
                     ${_ts_fuzz_out})
    set_tests_properties(fuzz_request PROPERTIES LABELS fuzz TIMEOUT 300)
  else()
    message(WARNING "TS_FUZZ: ${CMAKE_C_COMPILER_ID} cannot build libFuzzer targets "
                    "(use CC=clang CXX=clang++); fuzz_request is not built")
  endif()
endif()
