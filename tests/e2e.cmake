# End-to-end tests: shell drivers that start the real programs in a
# temporary data directory (included from tests/CMakeLists.txt).
add_test(NAME e2e_cli COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/e2e_cli.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_cli PROPERTIES TIMEOUT 300 LABELS e2e)
