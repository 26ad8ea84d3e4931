# feedcmp (tools/feedcmp, issue 14): its comparisons on files, no broker needed
# (tests/integration/feedcmp_test.py).
add_test(NAME integration.feedcmp.files
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/feedcmp_test.py)
set_tests_properties(integration.feedcmp.files PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                     LABELS "integration;feedcmp" TIMEOUT 120)
