# The engine's WebSocket client (src/net/ws.c) against independent peers: python3-websockets
# servers and hostile raw asyncio servers, plain and TLS, driven through tests/tools/wscat
# (tests/integration/ws_client_test.py holds the checks, one CASE per test).
set(FH_WS_CLIENT_CASES
    plain_echo tls_echo ipv6 fragmented_plain fragmented_tls backpressure refused
    wrong_accept http_status oversize malformed masked_frame bad_utf8 garbage_after_handshake
    garbage_instead_of_http silence silence_tls eof_no_close peer_close tls_wrong_host
    tls_unknown_ca tls_no_verify)
foreach(case ${FH_WS_CLIENT_CASES})
  add_test(NAME integration.ws_client.${case}
           COMMAND ${FH_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/ws_client_test.py $<TARGET_FILE:wscat>
                   ${case})
  set_tests_properties(integration.ws_client.${case} PROPERTIES ENVIRONMENT "${FH_TEST_ENV}"
                       LABELS integration TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()
