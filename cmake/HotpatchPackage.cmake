# What a Debian user installs: pkg-config files, the man page and the package itself.
#   cpack -G DEB          (in the build directory) -> hotpatch_<version>_amd64.deb
# The package installs under /usr; the CMake package and the pkg-config files are found there by
# find_package(hotpatch) and pkg-config.

file(RELATIVE_PATH HOTPATCH_PC_TO_PREFIX ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" HOTPATCH_PC_TO_PREFIX "${HOTPATCH_PC_TO_PREFIX}")
foreach(pc hotpatch hotpatch-registry)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${pc}.pc.in ${PROJECT_BINARY_DIR}/${pc}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/${pc}.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endforeach()

# The man page is the tool's own --help, so it never says other than the tool does.
find_program(HOTPATCH_HELP2MAN help2man)
if(HOTPATCH_HELP2MAN)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/hotpatch.1
    COMMAND ${HOTPATCH_HELP2MAN} --no-info --no-discard-stderr --version-string=${PROJECT_VERSION}
            "--name=live patching for C and C++ programs" --output=${PROJECT_BINARY_DIR}/hotpatch.1
            $<TARGET_FILE:hotpatch_cli>
    DEPENDS hotpatch_cli
    COMMENT "Man page from hotpatch --help"
    VERBATIM)
  add_custom_target(hotpatch_man ALL DEPENDS ${PROJECT_BINARY_DIR}/hotpatch.1)
  install(FILES ${PROJECT_BINARY_DIR}/hotpatch.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(STATUS "help2man not found: no man page (scripts/install-deps.sh installs it)")
endif()

# The host agent's unit and an example of its configuration (the unit starts once
# /etc/hotpatch/agent.conf exists).
install(FILES ${PROJECT_SOURCE_DIR}/packaging/hotpatch-agent.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/agent.conf.example DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME hotpatch)
set(CPACK_PACKAGE_VENDOR "hotpatch")
set(CPACK_PACKAGE_CONTACT "hotpatch maintainers <hotpatch@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # hotpatch_<version>_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from the libraries the binaries link (dpkg-shlibdeps)
# Loaded when needed, so no link records it: attach walks a borrowed thread's frames with it (without
# it, every word above the stack pointer is taken for a possible frame), the runtime's stack check.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libunwind8")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "Live patching for C and C++ programs on Linux
 A running process gets fixed functions without a restart, from patch shared
 objects it fetches from a signed registry or that an operator sends it.
 This package holds the runtime (libhotpatch, libhotpatch-registry), the
 hotpatch command-line tool, headers, the CMake package and pkg-config files.")
include(CPack)
