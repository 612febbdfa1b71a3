# tests/unit/test_request.cmake: test_request, the listing fields of client
# requests and their signed cursors (test_request.c).
ts_unit_test(test_request ${CMAKE_CURRENT_LIST_DIR}/test_request.c)
