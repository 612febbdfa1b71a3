# tests/unit/test_msg.cmake: test_msg, the protocol header helpers and the
# zero-copy payloads shared with ZeroMQ (test_msg.c).
ts_unit_test(test_msg ${CMAKE_CURRENT_LIST_DIR}/test_msg.c)
