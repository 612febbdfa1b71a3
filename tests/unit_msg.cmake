# tests/unit_msg.cmake: unit tests of the protocol header helpers and the
# zero-copy payloads shared with ZeroMQ (test_msg.c).
ts_unit_test(test_msg test_msg.c)
