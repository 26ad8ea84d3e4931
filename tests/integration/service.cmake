# The daemon as a systemd service: sd_notify READY/WATCHDOG/STOPPING against a NOTIFY_SOCKET
# listener of the test's, SIGSTOP silencing the watchdog, per-symbol metrics
# (tests/integration/service_test.py); [feed] realtime_priority: the engine thread alone on
# SCHED_FIFO, and a clear failure without the privilege.
foreach(case notify bad_notify_socket realtime realtime_denied)
  add_test(NAME integration.service.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/service_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim> ${case})
  set_tests_properties(integration.service.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endforeach()
