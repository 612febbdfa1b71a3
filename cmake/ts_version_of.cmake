# ts_version_of(SRC BASE OUTVAR): the version of the tree at SRC.
#   a tag vX.Y.Z on HEAD               X.Y.Z
#   N commits after tag vX.Y.Z         X.Y.Z+N.gHASH
#   no tag (BASE = project version)    BASE+gitN.gHASH (N: commits in history)
#   uncommitted changes                ... .dirty appended
#   not a git checkout (a tarball)     BASE
# The form is also a valid Debian upstream version (the package's version).
function(ts_version_of src base outvar)
  set(version "${base}")
  find_package(Git QUIET)
  if(GIT_FOUND AND EXISTS "${src}/.git")
    execute_process(COMMAND "${GIT_EXECUTABLE}" describe --tags --match "v[0-9]*" --long --dirty
                    WORKING_DIRECTORY "${src}" OUTPUT_VARIABLE desc
                    RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(rc EQUAL 0 AND desc MATCHES "^v([0-9][^-]*)-([0-9]+)-g([0-9a-f]+)(-dirty)?$")
      set(version "${CMAKE_MATCH_1}")
      if(NOT CMAKE_MATCH_2 EQUAL 0)
        set(version "${version}+${CMAKE_MATCH_2}.g${CMAKE_MATCH_3}")
      endif()
      if(CMAKE_MATCH_4)
        set(version "${version}.dirty")
      endif()
    else()
      execute_process(COMMAND "${GIT_EXECUTABLE}" rev-list --count HEAD
                      WORKING_DIRECTORY "${src}" OUTPUT_VARIABLE count
                      RESULT_VARIABLE rc1 OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      execute_process(COMMAND "${GIT_EXECUTABLE}" describe --always --dirty --abbrev=7
                      WORKING_DIRECTORY "${src}" OUTPUT_VARIABLE hash
                      RESULT_VARIABLE rc2 OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(rc1 EQUAL 0 AND rc2 EQUAL 0 AND hash MATCHES "^([0-9a-f]+)(-dirty)?$")
        set(version "${base}+git${count}.g${CMAKE_MATCH_1}")
        if(CMAKE_MATCH_2)
          set(version "${version}.dirty")
        endif()
      endif()
    endif()
  endif()
  set(${outvar} "${version}" PARENT_SCOPE)
endfunction()
