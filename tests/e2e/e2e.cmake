# tests/e2e/e2e.cmake: every end-to-end test (label e2e): drivers that start
# the real programs in a temporary data directory and talk to them.
add_test(NAME e2e_cli COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/e2e_cli.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_cli PROPERTIES TIMEOUT 300 LABELS e2e)

# The import path's exactness under failure (tests/e2e/e2e_import.sh): one test a
# scenario, so that CTest runs them in parallel and reports each. e2e_check
# recounts the shard files of a stopped store offline.
add_executable(e2e_check ${CMAKE_CURRENT_LIST_DIR}/e2e_check.c)
target_link_libraries(e2e_check PRIVATE tsshared)
# (dup_order, "of two lines with one id the first is kept", is not run: chunks
# commit in parallel, so which copy is kept is documented as unspecified)
foreach(scenario bad_lines kill_worker kill_aggregator two_producers sigterm_restart bad_datadir
        file_refs)
  add_test(NAME e2e_import_${scenario}
           COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/e2e_import.sh ${CMAKE_BINARY_DIR} ${scenario})
  set_tests_properties(e2e_import_${scenario} PROPERTIES TIMEOUT 600 LABELS e2e SKIP_RETURN_CODE 77)
endforeach()

# The container deployment: docker-compose.yml validates (docker-compose 1.29,
# scripts/deps.sh), and its topology runs across network namespaces with the
# environment the file gives each service (tests/e2e/e2e_netns.sh; needs root,
# else skipped).
add_test(NAME compose_config COMMAND docker-compose -f ${CMAKE_SOURCE_DIR}/docker-compose.yml config -q)
set_tests_properties(compose_config PROPERTIES LABELS e2e)
add_test(NAME e2e_netns COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/e2e_netns.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_netns PROPERTIES TIMEOUT 300 LABELS e2e SKIP_RETURN_CODE 77)

# The client protocol end to end (tests/e2e/e2e_api.sh): the CLI's reads against
# an oracle, export and re-import, bad requests over the wire, the examples.
add_test(NAME e2e_api COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/e2e_api.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_api PROPERTIES TIMEOUT 300 LABELS e2e)

# Scaling the workers during imports (tests/e2e/e2e_scale.sh): 1 -> 3 -> 1 workers
# under a query load, kill -9 while shards move, and the import throughput
# with 1, 2 and 4 workers (printed, not asserted).
add_test(NAME e2e_scale COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/e2e_scale.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_scale PROPERTIES TIMEOUT 400 LABELS e2e)

# The commit hint (tests/e2e/e2e_hint.py): the aggregator tells workers whether
# producers are still sending, over the wire, with a fake worker and producer.
add_test(NAME e2e_hint COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/e2e_hint.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_hint PROPERTIES TIMEOUT 120 LABELS e2e)

# each framework's fixture through the real stack (tests/fixtures/README.md)
add_test(NAME e2e_formats COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/e2e_formats.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_formats PROPERTIES TIMEOUT 300 LABELS e2e)

# The HTTP gateway and the viewer (tests/e2e/e2e_http.py, tests/e2e/e2e_browser.py,
# both over tests/e2e/http_lib.py): endpoints against the api's ZeroMQ answers,
# errors, limits, auth, a bad-request run; the pages in headless Chromium
# (skipped, 77, when no chromium is installed), screenshots in
# BUILD/screenshots.
add_test(NAME e2e_http COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/e2e_http.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_http PROPERTIES TIMEOUT 400 LABELS e2e)
add_test(NAME e2e_browser COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/e2e_browser.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_browser PROPERTIES TIMEOUT 400 LABELS e2e SKIP_RETURN_CODE 77)

# Runs and attempts (tests/e2e/e2e_runs.py, issue #13): six reflexion-shaped
# trial files imported --run-per-file (records == lines, pass@k against an
# oracle over every trial), re-imports, --set, runs, compare.
add_test(NAME e2e_runs COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/e2e_runs.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_runs PROPERTIES TIMEOUT 600 LABELS e2e)

# The image and docker-compose.yml for real (tests/e2e/e2e_containers.sh):
# podman with runc, podman-compose, the test's own network and volume; skipped
# (77) with the reason when no engine can run here. Alone (RUN_SERIAL): it
# builds an image and runs six containers. Not in the sanitizer build (nosan):
# the containers run the image's own Release build, so a second run would
# test nothing more.
add_test(NAME e2e_containers
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/e2e_containers.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_containers PROPERTIES TIMEOUT 1800 LABELS "containers;nosan"
                     SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)

# Full-text search (tests/e2e/e2e_search.py, issue #15): a fixture of mixed
# scripts and identifiers searched through the CLI and the protocol against a
# Python oracle; kill -9 of a worker during an import leaves postings and
# records consistent (check).
add_test(NAME e2e_search COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/e2e_search.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_search PROPERTIES TIMEOUT 900 LABELS e2e)
# Labels (tests/e2e/e2e_labels.py, issue #15): a label import with kill -9 of a
# worker, re-import, label ID / --where / --remove, filters and totals by label
# against an oracle, check of the label index.
add_test(NAME e2e_labels COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/e2e_labels.py ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_labels PROPERTIES TIMEOUT 600 LABELS e2e)
# Compressed records (tests/e2e/e2e_compress.sh, issue #18): up --compress
# small and none on the same compact dump, exports byte for byte against it,
# the records file smaller, a dictionary in each shard, the setting kept.
add_test(NAME e2e_compress COMMAND sh ${CMAKE_CURRENT_LIST_DIR}/e2e_compress.sh ${CMAKE_BINARY_DIR})
set_tests_properties(e2e_compress PROPERTIES TIMEOUT 300 LABELS e2e)
