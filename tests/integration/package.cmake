# The installation and the Debian package (cmake/Packaging.cmake, deploy/systemd, deploy/debian,
# docs/man): tests/integration/package_test.py holds the checks, one CASE per test. `deb` is
# skipped (exit 77) where cpack, dpkg-deb, dpkg-shlibdeps or lintian is missing, `unit` where
# systemd-analyze is. Nothing is installed on the machine: everything goes to temporary
# directories.
# The plain pass only: these check files and a packaging, not the C code the sanitizer passes
# are for (a sanitized binary is no product, and cpack would rebuild it), and CI's time is
# bounded.
if(FH_SANITIZE OR FH_TSAN)
  return()
endif()
foreach(case man unit install deb)
  add_test(NAME integration.package.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/package_test.py $<TARGET_FILE:feedhandler>
                   $<TARGET_FILE:feedsim> ${PROJECT_VERSION} ${case})
  set_tests_properties(integration.package.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endforeach()
