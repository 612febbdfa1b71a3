# Unit tests of the producer side: ts_input and ts_chunker (test_chunker.c),
# and trajstore-producer against a fake aggregator (test_producer_fake.c).
ts_unit_test(test_chunker test_chunker.c)

# The fake aggregator runs the real binary, whose path it takes as its
# argument: ts_unit_test takes no arguments, so this one is spelt out.
if(TARGET trajstore-producer)
  add_executable(test_producer_fake test_producer_fake.c)
  target_link_libraries(test_producer_fake PRIVATE tsshared PkgConfig::CMOCKA)
  add_dependencies(test_producer_fake trajstore-producer)
  add_test(NAME test_producer_fake
           COMMAND test_producer_fake $<TARGET_FILE:trajstore-producer>)
  set_tests_properties(test_producer_fake PROPERTIES TIMEOUT 300 LABELS unit)
endif()
