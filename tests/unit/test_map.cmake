# tests/unit/test_map.cmake: test_map, the in-memory hash map every process
# keeps its tables in (ts_map.h): put, get, take, delete, and the walk.
ts_unit_test(test_map ${CMAKE_CURRENT_LIST_DIR}/test_map.c)
