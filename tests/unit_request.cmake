# tests/unit_request.cmake: unit tests of the listing fields of client
# requests and their cursors (test_request.c), and a fuzz target for the
# request decoders, ts_listing_parse and the protocol headers (it seeds
# its empty corpus with valid requests itself).
ts_unit_test(test_request test_request.c)
ts_fuzz_target(fuzz_request fuzz_request.c)
