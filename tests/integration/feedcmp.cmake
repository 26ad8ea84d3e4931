# feedcmp (tools/feedcmp, issue 14): its comparisons on files, no broker needed
# (tests/integration/feedcmp_test.py).
add_test(NAME integration.feedcmp.files
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/feedcmp_test.py)
set_tests_properties(integration.feedcmp.files PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                     LABELS "integration;feedcmp" TIMEOUT 120)

# The parallel run (issue 14, must-show 1): the Python baseline and feedhandler on one feedsim
# feed into two topics of one Apache Kafka broker, compared by feedcmp. The plain build only.
if(NOT FH_SANITIZE AND NOT FH_TSAN)
  add_test(NAME integration.feedcmp.parallel
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/parallel_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim>)
  set_tests_properties(integration.feedcmp.parallel PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;feedcmp;realkafka" TIMEOUT 400)
  # Must-show 3: a topic audited against feedsim's REST history (omitted trades missing on the
  # topic, skipped ids absent on both, agreement before the faults).
  add_test(NAME integration.feedcmp.audit
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/audit_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim>)
  set_tests_properties(integration.feedcmp.audit PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;feedcmp;realkafka" TIMEOUT 600)
  # tools/feedcmp/rest_source.py against feedsim's REST: exact windows, paging, Binance weight
  # and 429 Retry-After (waits for feedsim's next minute), Kraken throttling, truncated history.
  add_test(NAME integration.feedcmp.rest
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/feedcmp_rest_check.py
                   $<TARGET_FILE:feedsim>)
  set_tests_properties(integration.feedcmp.rest PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;feedcmp" TIMEOUT 300)
endif()
