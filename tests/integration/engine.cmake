# The connection engine end to end: the real feedhandler against feedsim over TLS (Binance and
# Kraken in one process, each Kraken protocol version), hostile servers and an independent
# python3-websockets peer. tests/integration/engine_test.py holds the checks, one TEST per
# CTest test; engine_compare.py compares the sink's output with feedsim's truth log.
set(FH_ENGINE_CASES steady_v2 steady_v1 faults faults_v1 watchdog rotation hostile peer
                    backpressure backpressure_stop flap flap_budget
                    binary scheme_case)
foreach(case ${FH_ENGINE_CASES})
  add_test(NAME integration.engine.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/engine_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim> ${case})
  set_tests_properties(integration.engine.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS "integration;engine" TIMEOUT 300)
endforeach()
