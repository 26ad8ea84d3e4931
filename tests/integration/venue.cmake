# Venue parsers against an independent oracle: every corpus file, through `feedhandler replay`,
# compared field by field with what tests/integration/venue_oracle.py computes in Python.
add_test(NAME integration.venue_oracle
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/venue_oracle.py
                 $<TARGET_FILE:feedhandler>)
set_tests_properties(integration.venue_oracle PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                     LABELS "integration;venue" TIMEOUT 600)

add_test(NAME integration.replay
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/replay_test.py
                 $<TARGET_FILE:feedhandler>)
set_tests_properties(integration.replay PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                     LABELS "integration;venue" TIMEOUT 120)
