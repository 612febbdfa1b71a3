# Installing trajstore: `make install` (PREFIX, DESTDIR) and `make deb`
# (CPack); docs/INSTALL.md says what goes where and why. Included last from
# the top CMakeLists.txt, when every program's target exists.
#
#   bin/                         trajstore and its programs (the CLI finds
#                                them next to itself), trajstore-http when built
#   share/man/man1, man8         the man pages, generated from docs/man/*.scd
#   share/bash-completion/...    the bash completion (packaging/completion/)
#   share/trajstore/static/      the HTTP gateway's files (http/static/)
#   share/doc/trajstore/         README, PROTOCOL, copyright, changelog
#   lib/systemd/system/          trajstore.service (/lib/... for prefix /usr)
#   etc/default/trajstore        its settings (/etc/... for prefix /usr)

option(TS_INSTALL_SERVICE "Install the systemd unit and its /etc/default file" ON)

# --- man pages ---------------------------------------------------------------
# scdoc (Debian package scdoc): the source reads like the page, it is one
# small C program, and the roff it writes is clean. help2man would build
# pages from --help, which has no room for descriptions or per-command
# sections; pandoc would pull in a 100 MB toolchain for a few pages.
find_program(TS_SCDOC scdoc)
find_program(TS_GZIP gzip)
file(GLOB _ts_man_sources ${PROJECT_SOURCE_DIR}/docs/man/*.scd)
if(TS_SCDOC AND TS_GZIP)
  set(_ts_man_pages)
  foreach(src ${_ts_man_sources})
    get_filename_component(name ${src} NAME)
    string(REGEX REPLACE "\\.scd$" "" page ${name})          # trajstore.1
    string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
    string(REGEX REPLACE "\\.[0-9]$" "" program ${page})
    if(NOT TARGET ${program})
      continue()                # e.g. trajstore-http without libmicrohttpd
    endif()
    set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      # scdoc first, alone: in a pipe into gzip its error was lost and a
      # cut-short page installed
      COMMAND sh -c "'${TS_SCDOC}' < '${src}' > '${out}.roff' && '${TS_GZIP}' -9n < '${out}.roff' > '${out}.tmp' && mv '${out}.tmp' '${out}' && rm '${out}.roff'"
      DEPENDS ${src} COMMENT "man page ${page}" VERBATIM)
    list(APPEND _ts_man_pages ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(man ALL DEPENDS ${_ts_man_pages})
else()
  message(WARNING "scdoc or gzip not found: no man pages (sh scripts/deps.sh installs scdoc)")
endif()

# --- programs ----------------------------------------------------------------
# (each folder's CMakeLists.txt installs its own program into bin/)
if(TARGET trajstore-http)
  install(TARGETS trajstore-http RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(EXISTS ${PROJECT_SOURCE_DIR}/http/static)
  # the gateway finds them under ts_build_datadir ()/static
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/http/static/
          DESTINATION ${CMAKE_INSTALL_DATADIR}/trajstore/static)
endif()

# --- completion --------------------------------------------------------------
set(_ts_compdir ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/completion/trajstore.bash
        DESTINATION ${_ts_compdir} RENAME trajstore)
# bash-completion loads a file by the command's name: the other programs'
# names link to the same file
install(CODE "
  foreach(p trajstore-producer trajstore-aggregator trajstore-worker trajstore-api trajstore-gen)
    set(link \"\${CMAKE_INSTALL_PREFIX}/${_ts_compdir}/\${p}\")
    message(STATUS \"Installing: \$ENV{DESTDIR}\${link}\")
    file(CREATE_LINK trajstore \"\$ENV{DESTDIR}\${link}\" SYMBOLIC)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES \"\${link}\")   # for make uninstall
  endforeach()")

# --- documentation -----------------------------------------------------------
include(${CMAKE_CURRENT_LIST_DIR}/ts_version_of.cmake)
ts_version_of("${PROJECT_SOURCE_DIR}" "${PROJECT_VERSION}" TS_PACKAGE_VERSION)
set(TS_PACKAGE_MAINTAINER "trajstore maintainers <trajstore@example.org>"
    CACHE STRING "The Maintainer field of the Debian package and its changelog")
# A Debian changelog for the one version built (the git history has the
# changes); dated by the last commit, so that the same tree gives the same file.
find_package(Git QUIET)
set(_ts_date "")
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} log -1 --format=%cD
                  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} OUTPUT_VARIABLE _ts_date
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
endif()
if(NOT _ts_date)
  string(TIMESTAMP _ts_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
endif()
file(WRITE ${CMAKE_BINARY_DIR}/install/changelog
"trajstore (${TS_PACKAGE_VERSION}) unstable; urgency=medium

  * Built from the source tree of this version; the changes are in its
    git history.

 -- ${TS_PACKAGE_MAINTAINER}  ${_ts_date}
")
execute_process(COMMAND ${TS_GZIP} -9nf ${CMAKE_BINARY_DIR}/install/changelog)
set(_ts_docs)
foreach(doc README.md PROTOCOL.md docs/PROTOCOL.md docs/INSTALL.md)
  if(EXISTS ${PROJECT_SOURCE_DIR}/${doc})
    list(APPEND _ts_docs ${PROJECT_SOURCE_DIR}/${doc})
  endif()
endforeach()
install(FILES ${_ts_docs} ${PROJECT_SOURCE_DIR}/packaging/debian/copyright
              ${CMAKE_BINARY_DIR}/install/changelog.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- the service -------------------------------------------------------------
# Where the unit and its settings go depends on the prefix of the install
# itself (cmake --install --prefix, CPack's /usr): decided at install time.
if(TS_INSTALL_SERVICE)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/ts_install_service.cmake.in
                 ${CMAKE_BINARY_DIR}/install/ts_install_service.cmake @ONLY)
  install(SCRIPT ${CMAKE_BINARY_DIR}/install/ts_install_service.cmake)
endif()

# --- the Debian package (make deb) -------------------------------------------
file(WRITE ${CMAKE_BINARY_DIR}/install/conffiles "/etc/default/trajstore\n")
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME trajstore)
set(CPACK_PACKAGE_VERSION ${TS_PACKAGE_VERSION})
set(CPACK_PACKAGE_CONTACT "${TS_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "store and query LLM-agent trajectories")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "trajstore imports JSONL dumps of LLM-agent trajectories (plain, gzip or
zstd) into sharded Kyoto Cabinet stores and answers queries over ZeroMQ:
records by id, filtered lists, counts, exports, and statistics per group
of attempts (success rate, reward, pass@k).
.
This package holds the trajstore command, its aggregator, worker, API and
producer programs (the API is the front door of
the read commands), and a systemd service that runs them as the trajstore
user with the data in /var/lib/trajstore.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# the libraries' packages from what the programs link (dpkg-shlibdeps),
# and adduser for the postinst
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm
    ${CMAKE_BINARY_DIR}/install/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_STRIP_FILES TRUE)
# install with DESTDIR and prefix /usr, so that the install script above
# sees the package's prefix and puts the unit in /lib, the settings in /etc
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
