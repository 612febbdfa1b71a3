# tests/unit_shardmap.cmake: unit tests of the aggregator's pure decisions:
# shard assignment (ts_shardmap.h) and the ordering of a shard's deltas
# around a gap (ts_seqwait.h), in test_shardmap.c.
ts_unit_test(test_shardmap test_shardmap.c)
