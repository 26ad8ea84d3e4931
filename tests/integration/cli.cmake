# The feedhandler command line, end to end: the real binary on real files
# (tests/integration/cli_test.py holds the checks, one CASE per test).
foreach(case version help usage_errors check_ok check_errors run config_keys)
  add_test(NAME integration.cli.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/cli_test.py $<TARGET_FILE:feedhandler>
                   ${PROJECT_VERSION} ${case})
  set_tests_properties(integration.cli.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 120)
endforeach()
