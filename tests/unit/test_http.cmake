# tests/unit/test_http.cmake: test_http, the HTTP gateway's addresses,
# statuses and refusals (test_http.c), built with its sources when
# libmicrohttpd is (http/CMakeLists.txt makes PkgConfig::MHD global).
if(TARGET trajstore-http)
  ts_unit_test(test_http ${CMAKE_CURRENT_LIST_DIR}/test_http.c
               ${CMAKE_SOURCE_DIR}/http/ts_http.c ${CMAKE_SOURCE_DIR}/http/ts_http_route.c ${CMAKE_SOURCE_DIR}/http/ts_http_api.c
               ${CMAKE_SOURCE_DIR}/http/ts_http_label.c)
  target_include_directories(test_http PRIVATE ${CMAKE_SOURCE_DIR}/http)
  target_link_libraries(test_http PRIVATE PkgConfig::MHD)
endif()
