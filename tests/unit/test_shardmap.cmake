# tests/unit/test_shardmap.cmake: test_shardmap, the aggregator's pure
# decisions: shard assignment (ts_shardmap.h) and the ordering of a shard's
# deltas around a gap (ts_seqwait.h), in test_shardmap.c.
ts_unit_test(test_shardmap ${CMAKE_CURRENT_LIST_DIR}/test_shardmap.c)
