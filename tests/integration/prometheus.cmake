# The operations kit (issue 16) against Debian's prometheus package: the alert rules and the
# Grafana dashboard checked by promtool (rules, their unit tests, every metric name documented,
# every dashboard expression parsing), then a real Prometheus scraping feedsim -> feedhandler ->
# Apache Kafka (scripts/kafka-local): its counters equal the trades feedsim sent, and the
# alerts fire when the broker, the venues or the handler go away and resolve when they are
# back. tests/integration/prometheus_test.py holds the cases, one per test.
# The plain pass only, like kafka.real.cluster3: rules and a dashboard are files, and the
# sanitizer passes already drive the same outages through integration.kafka.*.
if(FH_SANITIZE OR FH_TSAN)
  return()
endif()
set(FH_PROMETHEUS_CASES "promtool\;120" "scrape\;400" "alerts\;600")
foreach(item ${FH_PROMETHEUS_CASES})
  list(GET item 0 case)
  list(GET item 1 timeout)
  add_test(NAME integration.prometheus.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/prometheus_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim> ${case})
  set(labels "integration;prometheus")
  if(NOT case STREQUAL "promtool")
    list(APPEND labels realkafka)
  endif()
  set_tests_properties(integration.prometheus.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "${labels}" TIMEOUT ${timeout})
endforeach()
