# tests/fuzz/fuzz_request.cmake: fuzz_request, the request decoders
# (ts_listing_parse) and the protocol headers under libFuzzer; it seeds its
# empty corpus with valid requests itself.
ts_fuzz_target(fuzz_request ${CMAKE_CURRENT_LIST_DIR}/fuzz_request.c)
