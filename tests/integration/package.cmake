# The installation and the Debian package (cmake/Packaging.cmake, deploy/systemd, deploy/debian,
# docs/man): tests/integration/package_test.py holds the checks, one CASE per test. `deb` is
# skipped (exit 77) where cpack, dpkg-deb, dpkg-shlibdeps or lintian is missing, `unit` where
# systemd-analyze is. Nothing is installed on the machine: everything goes to temporary
# directories.
# `deb` packages the plain build only: a sanitized binary is no product (and cpack rebuilds).
set(FH_PACKAGE_CASES man unit install)
if(NOT FH_SANITIZE AND NOT FH_TSAN)
  list(APPEND FH_PACKAGE_CASES deb)
endif()
foreach(case ${FH_PACKAGE_CASES})
  add_test(NAME integration.package.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/package_test.py $<TARGET_FILE:feedhandler>
                   $<TARGET_FILE:feedsim> ${PROJECT_VERSION} ${case})
  set_tests_properties(integration.package.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endforeach()
