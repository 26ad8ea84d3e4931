# The Schema Registry: does the registry we test with answer as Confluent's REST API documents,
# and does feedhandler work with a real registry, not only with our stand-in?
#   standin   tests/tools/registry_standin.py, which the Kafka tests (kafka.cmake) use
#   apicurio  Apicurio Registry's Confluent-compatible API (/apis/ccompat/v7): a JVM that
#             scripts/registry-local starts for the test's lifetime (Java 17; tools/registry/,
#             built by scripts/install-deps into a cache outside the repository); 3-5 s to start
# registry_conformance.py checks every call feedhandler and our consumers make against the
# documented answers (status, Content-Type, body fields, error codes); Apicurio's few
# differences are listed in it with what each means for feedhandler. registry_test.py runs
# feedsim -> feedhandler -> mockbroker with a refusing, a missing, a pre-filled and an empty
# registry, and reads the topic back with the registry's schemas.
foreach(kind standin apicurio)
  add_test(NAME integration.registry.conformance.${kind}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/registry_conformance.py
                   --registry ${kind})
  add_test(NAME integration.registry.${kind}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/registry_test.py --registry ${kind}
                   incompatible unreachable existing readback)
  set_tests_properties(integration.registry.conformance.${kind} integration.registry.${kind}
                       PROPERTIES ENVIRONMENT "${FH_TEST_ENV}" LABELS "integration;registry"
                       TIMEOUT 600)
endforeach()
# One Apicurio JVM at a time (the first run may also build it: about a minute).
set_tests_properties(integration.registry.conformance.apicurio integration.registry.apicurio
                     PROPERTIES RESOURCE_LOCK apicurio)
