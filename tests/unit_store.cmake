# Unit tests of the shard store and its consistency checker (test_store.c).
ts_unit_test(test_store test_store.c)
