# The Kafka sink end to end (src/sink): tests/tools/sinkdrive (the daemon's sink factory fed
# with synthetic trades) -> tests/tools/mockbroker (librdkafka's mock cluster) -> kcat and
# python3-confluent-kafka + python3-avro, with tests/tools/registry_standin.py as the Schema
# Registry. tests/integration/kafka_test.py holds the cases; `--producer daemon` runs the
# same cases through feedsim -> feedhandler once the engine produces to Kafka.
# Only the outage case takes long (its 60 s outage is the requirement); the others are short.
set(FH_KAFKA_CASES
    "readback\;180"
    "readback_variants\;180"
    "outage\;420"
    "slow_broker\;300"
    "kill9\;300"
    "torn_segment\;180"
    "sigterm\;180")
foreach(item ${FH_KAFKA_CASES})
  list(GET item 0 case)
  list(GET item 1 timeout)
  add_test(NAME integration.kafka.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/kafka_test.py ${case})
  set_tests_properties(integration.kafka.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;kafka" TIMEOUT ${timeout})
endforeach()
add_test(NAME integration.kafka.registry
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/kafka_test.py registry_incompatible
                 registry_unreachable registry_existing)
set_tests_properties(integration.kafka.registry PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                     LABELS "integration;kafka" TIMEOUT 120)
