# Read by ctest after the discovered tests are defined. gtest_discover_tests() of CMake 3.25 splits
# list-valued properties, so the tests of patch_security_tests get both their labels here.
if(patch_security_tests_TESTS)
  set_tests_properties(${patch_security_tests_TESTS} PROPERTIES LABELS "unit;security")
endif()
