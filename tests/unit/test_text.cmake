# tests/unit/test_text.cmake: test_text, the full-text tokenizer (test_text.c).
ts_unit_test(test_text ${CMAKE_CURRENT_LIST_DIR}/test_text.c)
