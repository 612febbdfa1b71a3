# Installed like a tool (issue #17; docs/INSTALL.md), a fragment of
# tests/CMakeLists.txt (paths from this file's folder, wherever it is
# included from):
#   install_cli  every program's --version; make install into a DESTDIR,
#                the unit checked by systemd-analyze, the installed CLI
#                running a stack; bash completion (tests/e2e/install_cli.sh)
#   install_man  `trajstore help COMMAND` and each program's --help against
#                the man pages' option lists (tests/e2e/install_man.py)
#   package_deb  the .deb: lintian, then installed, run, removed and purged
#                in a Debian 12 chroot (tests/e2e/package_deb.sh; label package;
#                skipped with the reason when not root or offline)
add_test(NAME install_cli
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install_cli.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(install_cli PROPERTIES TIMEOUT 300 LABELS "e2e;install")
add_test(NAME install_man
         COMMAND python3 ${CMAKE_CURRENT_LIST_DIR}/install_man.py ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
set_tests_properties(install_man PROPERTIES TIMEOUT 60 LABELS install)
add_test(NAME package_deb
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/package_deb.sh ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR})
# nosan: a package of sanitizer-built programs would need the sanitizer
# runtimes in the chroot; the programs it holds are tested under ASan elsewhere
set_tests_properties(package_deb PROPERTIES TIMEOUT 600 LABELS "package;nosan"
                     SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
