# The daemon as a systemd service: sd_notify READY/WATCHDOG/STOPPING against a NOTIFY_SOCKET
# listener of the test's, SIGSTOP silencing the watchdog, per-symbol metrics
# (tests/integration/service_test.py).
foreach(case notify bad_notify_socket)
  add_test(NAME integration.service.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/service_test.py
                   $<TARGET_FILE:feedhandler> $<TARGET_FILE:feedsim> ${case})
  set_tests_properties(integration.service.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 300)
endforeach()
