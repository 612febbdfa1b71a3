# End-to-end tests: shell drivers that start the real programs in a
# temporary data directory (included from tests/CMakeLists.txt).
add_test(NAME e2e_cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/e2e_cli.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_cli PROPERTIES TIMEOUT 300 LABELS e2e)

# The container deployment: docker-compose.yml validates (docker-compose 1.29,
# scripts/deps.sh), and its topology runs across network namespaces with the
# environment the file gives each service (tests/e2e_netns.sh; needs root,
# else skipped).
add_test(NAME compose_config COMMAND docker-compose -f ${CMAKE_SOURCE_DIR}/docker-compose.yml config -q)
set_tests_properties(compose_config PROPERTIES LABELS e2e)
add_test(NAME e2e_netns COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e_netns.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_netns PROPERTIES TIMEOUT 300 LABELS e2e SKIP_RETURN_CODE 77)

# The client protocol end to end (tests/e2e_api.sh): the CLI's reads against
# an oracle, export and re-import, bad requests over the wire, the examples.
add_test(NAME e2e_api COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/e2e_api.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_api PROPERTIES TIMEOUT 300 LABELS e2e)
