# tests/unit/test_producer_fake.cmake: test_producer_fake, the real
# trajstore-producer against a fake aggregator (test_producer_fake.c).
# The test takes the producer binary's path as its argument, which
# ts_unit_test does not pass: so it is spelt out.
if(TARGET trajstore-producer)
  add_executable(test_producer_fake ${CMAKE_CURRENT_LIST_DIR}/test_producer_fake.c)
  target_link_libraries(test_producer_fake PRIVATE tsshared PkgConfig::CMOCKA)
  add_dependencies(test_producer_fake trajstore-producer)
  add_test(NAME test_producer_fake
           COMMAND test_producer_fake $<TARGET_FILE:trajstore-producer>)
  set_tests_properties(test_producer_fake PROPERTIES TIMEOUT 300 LABELS unit)
endif()
