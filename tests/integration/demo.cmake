# `make demo` (scripts/demo) cannot rot: tests/integration/demo_test.py runs the demo script
# against this build, waits for decoded trades and status lines, stops it (a Ctrl-C to its
# process group; SIGTERM to the demo alone in the fallback case) and checks that nothing it
# started is left running and that its temporary directory is gone. "kafka" uses Apache Kafka
# (scripts/kafka-local, the jars scripts/install-deps caches) where Java is there, "fallback"
# hides Java to check the mock cluster fallback and its one-line notice. No time is asserted.
foreach(case kafka fallback)
  add_test(NAME integration.demo.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/demo_test.py ${case})
  set_tests_properties(integration.demo.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;demo" TIMEOUT 600)
endforeach()
