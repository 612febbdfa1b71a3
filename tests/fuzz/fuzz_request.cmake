# tests/fuzz/fuzz_request.cmake: fuzz_request, the request decoders
# (ts_listing_parse) and the protocol headers under libFuzzer; it seeds its
# corpus with valid requests itself, and corpus/request/ keeps the inputs
# that once failed (header-type-with-nul: a type "ack\0\0" read as "ack") and
# seeds of the typed messages (wire-*: ts_wire.h, and wire-map: the shard
# map, ts_shardmap.h).
ts_fuzz_target(fuzz_request ${CMAKE_CURRENT_LIST_DIR}/fuzz_request.c ${CMAKE_CURRENT_LIST_DIR}/corpus/request)
