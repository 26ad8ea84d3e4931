# The deployment files: deploy/docker (image, container config), deploy/compose.yml and
# deploy/k8s, checked against the real binary (tests/integration/deploy_test.py, one CASE per
# test). A case whose tool is missing here (docker compose / docker-compose; hadolint and
# kubernetes-validate, installed by deploy/docker/lint --fetch and deploy/k8s/validate
# --fetch) exits 77 after its other checks: reported as skipped, never as passed.
# The plain pass only: deployment files, not the C code the sanitizer passes are for.
if(FH_SANITIZE OR FH_TSAN)
  return()
endif()
foreach(case container_config dockerfile compose k8s lint)
  add_test(NAME integration.deploy.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/deploy_test.py
                   $<TARGET_FILE:feedhandler> ${case})
  set_tests_properties(integration.deploy.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77)
endforeach()
