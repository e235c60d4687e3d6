# Two more interop tests (interop/run_extra.py, README "mDNS and TURN runs"), label interop,
# exit 77 (skipped) when Chromium / coturn / the node peers / a network namespace are missing:
#   interop_chromium_mdns  sluice <-> Chromium with .local host candidates, resolved by
#                          sluice's own mDNS query (every scenario, both roles; ~30 s)
#   interop_turn           sluice <-> Chromium, libdatachannel, werift through coturn on
#                          127.0.0.1, relay-only (every scenario, both roles; ~70 s)
# Included from interop/CMakeLists.txt.
find_package(Python3 COMPONENTS Interpreter)
if(TARGET sluice-cli AND Python3_Interpreter_FOUND)
  foreach(case "chromium_mdns:mdns" "turn:turn")
    string(REPLACE ":" ";" _c "${case}")
    list(GET _c 0 _name)
    list(GET _c 1 _case)
    add_test(NAME interop_${_name} COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/run_extra.py
      --cli $<TARGET_FILE:sluice-cli> --cases ${_case} --skip-code 77 --tail 40
      --logs ${CMAKE_BINARY_DIR}/interop-logs/${_name}
      --results ${CMAKE_BINARY_DIR}/interop-${_name}.md)
    set_tests_properties(interop_${_name} PROPERTIES
      LABELS interop SKIP_RETURN_CODE 77 TIMEOUT 600 RUN_SERIAL TRUE)
  endforeach()
endif()
