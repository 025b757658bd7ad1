# Build step: a demo signing key (made once) and a fresh registry holding version 1 of the demo
# patch. The cache goes too: it remembers index versions, and a fresh registry starts again at 1.
foreach(var HOTPATCH DEMO_DIR PATCH)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "publish_demo_registry.cmake needs -D${var}=...")
  endif()
endforeach()
if(NOT EXISTS ${DEMO_DIR}/demo.key)
  execute_process(COMMAND ${HOTPATCH} keygen -s ${DEMO_DIR}/demo.key -p ${DEMO_DIR}/demo.pub
    RESULT_VARIABLE rc OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "hotpatch keygen failed")
  endif()
endif()
file(REMOVE_RECURSE ${DEMO_DIR}/registry ${DEMO_DIR}/cache)
execute_process(COMMAND ${HOTPATCH} publish --registry ${DEMO_DIR}/registry --key ${DEMO_DIR}/demo.key
  --name demo ${PATCH} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "publishing the demo patch failed")
endif()
