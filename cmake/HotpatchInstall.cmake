# Install rules and the package config, so other projects can:
#   find_package(hotpatch REQUIRED)
#   target_link_libraries(app PRIVATE hotpatch::runtime)  and  hotpatch_add_patch(...)
#   target_link_libraries(app PRIVATE hotpatch::registry)  for RegistryClient
include(CMakePackageConfigHelpers)

install(TARGETS hotpatch_runtime hotpatch_registry_library hotpatch_patch_api EXPORT hotpatchTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hotpatch DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${PROJECT_BINARY_DIR}/include/hotpatch/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/hotpatch)

set(HOTPATCH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hotpatch)
install(EXPORT hotpatchTargets NAMESPACE hotpatch:: DESTINATION ${HOTPATCH_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/hotpatchConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hotpatchConfig.cmake INSTALL_DESTINATION ${HOTPATCH_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hotpatchConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/hotpatchConfig.cmake
  ${PROJECT_BINARY_DIR}/hotpatchConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/HotpatchPatch.cmake
  ${PROJECT_SOURCE_DIR}/cmake/HotpatchGenerateTarget.cmake
  DESTINATION ${HOTPATCH_CMAKE_DIR})
