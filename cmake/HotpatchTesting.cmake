# hotpatch_discover_tests(<target> LABELS <label>... [<gtest_discover_tests options>...])
# gtest_discover_tests with several labels. Its PROPERTIES lose a list's separator on the way to
# the generated file (LABELS "a;b" arrives as "a" and a stray "b"), so the labels are set by a
# script CTest reads after the discovered tests, which name every test of the target.
function(hotpatch_discover_tests target)
  set(one_value DISCOVERY_TIMEOUT DISCOVERY_MODE TEST_PREFIX TEST_SUFFIX WORKING_DIRECTORY)
  set(multi_value LABELS PROPERTIES EXTRA_ARGS)
  cmake_parse_arguments(PARSE_ARGV 1 HP "" "${one_value}" "${multi_value}")
  set(pass)
  foreach(option ${one_value} PROPERTIES EXTRA_ARGS)
    if(DEFINED HP_${option})
      list(APPEND pass ${option} ${HP_${option}})
    endif()
  endforeach()
  gtest_discover_tests(${target} TEST_LIST ${target}_TESTS ${pass} ${HP_UNPARSED_ARGUMENTS})
  set(script ${CMAKE_CURRENT_BINARY_DIR}/${target}_labels.cmake)
  file(WRITE ${script}
    "if(${target}_TESTS)\n"
    "  set_tests_properties(\${${target}_TESTS} PROPERTIES LABELS \"${HP_LABELS}\")\n"
    "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${script})
endfunction()
