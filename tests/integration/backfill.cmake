# REST gap backfill end to end (issue 13): feedsim with skip, omit and throttling faults ->
# feedhandler -> a file, compared with feedsim's truth log; REST through a logging proxy
# (tests/integration/backfill_test.py).
set(FH_BACKFILL_CASES skip throttle throttle_kraken disabled rest_down kafka cli)
foreach(case ${FH_BACKFILL_CASES})
  add_test(NAME integration.backfill.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/backfill_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim> ${case})
  set_tests_properties(integration.backfill.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;backfill" TIMEOUT 400)
endforeach()
# The same must-show against Apache Kafka (scripts/kafka-local, one broker), in the plain
# build only: under the sanitizers the mockbroker case runs the same handler code, and the
# broker adds nothing but minutes to CI.
if(NOT FH_SANITIZE AND NOT FH_TSAN)
  add_test(NAME integration.backfill.kafka_real
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/backfill_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim> kafka_real)
  set_tests_properties(integration.backfill.kafka_real PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;backfill;realkafka" TIMEOUT 600)
endif()
