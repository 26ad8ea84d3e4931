# Codec integration tests (src/codec): our Avro encoding decoded by an independent
# implementation, python3-avro, and our schema fingerprint checked against its canonical form.
add_test(NAME integration.avro_crossdecode
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/avro_crossdecode.py
                 $<TARGET_FILE:avro_sample> 2000)
set_tests_properties(integration.avro_crossdecode PROPERTIES
                     ENVIRONMENT "${FH_TEST_ENV}" LABELS integration TIMEOUT 300)
# The same for gap records (schemas/gap.avsc): edge-value and randomized records from
# tests/tools/gap_sample, decoded by python3-avro and compared with their JSON lines.
add_test(NAME integration.avro_crossdecode.gap
         COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/avro_crossdecode.py --schema gap
                 $<TARGET_FILE:gap_sample> 2000)
set_tests_properties(integration.avro_crossdecode.gap PROPERTIES
                     ENVIRONMENT "${FH_TEST_ENV}" LABELS integration TIMEOUT 300)
