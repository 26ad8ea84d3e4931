# The ThreadSanitizer reports of a `make test TSAN=1` run (tests/CMakeLists.txt).
#   cmake -DDIR=dir -DMODE=clear -P tsan_reports.cmake   empty dir before the tests start
#   cmake -DDIR=dir -DMODE=check -P tsan_reports.cmake   after them: print every report, fail if any
# A report file is named <test>.<pid>, after the test whose process (or child) wrote it.
if(MODE STREQUAL "clear")
  file(REMOVE_RECURSE ${DIR})
  file(MAKE_DIRECTORY ${DIR})
  return()
endif()
file(GLOB reports ${DIR}/*)
if(NOT reports)
  message(STATUS "no ThreadSanitizer reports in ${DIR}")
  return()
endif()
foreach(r ${reports})
  file(READ ${r} text)
  get_filename_component(name ${r} NAME)
  message("==== ${name}\n${text}")
endforeach()
list(LENGTH reports n)
message(FATAL_ERROR "${n} ThreadSanitizer report file(s) in ${DIR} (names are <test>.<pid>)")
