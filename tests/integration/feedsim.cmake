# feedsim (tools/feedsim): unit tests of its pure parts, and conformance tests in which
# independent clients (python3-websockets, urllib, a raw-socket WebSocket client) talk to a
# real feedsim process on ephemeral loopback ports. Each test file starts its own feedsim
# instances, so the tests can run in parallel. See docs/FEEDSIM.md.
if(TARGET feedsim_unit)
  add_test(NAME unit.feedsim COMMAND feedsim_unit)
  set_tests_properties(unit.feedsim PROPERTIES ENVIRONMENT "${FH_TEST_ENV}" LABELS unit
                       TIMEOUT 120)
endif()

if(TARGET feedsim)
  foreach(area binance kraken rest faults hostile tls replay cli)
    add_test(NAME integration.feedsim_${area}
             COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/feedsim_${area}.py
                     $<TARGET_FILE:feedsim>)
    set_tests_properties(integration.feedsim_${area} PROPERTIES
                         ENVIRONMENT "${FH_TEST_ENV}" LABELS "integration;feedsim"
                         TIMEOUT 300)
  endforeach()
endif()
