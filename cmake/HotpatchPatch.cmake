# CMake helpers for programs that take patches and for the patches themselves.
#
#   hotpatch_make_patchable(<target> [PAD_ALL_FUNCTIONS])
#       Adds the flags that keep patches correct: no inlining or IPA across non-static functions
#       (-flive-patching=inline-only-static where g++ has it) and a GNU build-id to bind patches to.
#       PAD_ALL_FUNCTIONS gives every function of the target the entry pad HOTPATCH_PATCHABLE gives
#       one (-fpatchable-function-entry=7,5): all of them are then patched without a trap.
#
#   hotpatch_add_patch(<name> TARGET <program-or-library> | TARGET_FILE <path>  VERSION <n> [ID <id>]
#                      [ABOUT <text>] SOURCES <src>... [OUTPUT_DIRECTORY <dir>])
#       Builds <name>.so, a patch bound to the build-id of <target> as it is linked now, or of the
#       file at <path> (a program you did not build: /usr/sbin/nginx). Works in C, C++ or mixed
#       projects.
#
#   hotpatch_add_patch_from_diff(<name> TARGET <program-or-library> | TARGET_FILE <path>
#                                DIFF <fix.diff>... VERSION <n> [ID <id>] [ABOUT <text>]
#                                [SOURCE_DIR <dir>] [COMPILE_COMMANDS <file>] [OUTPUT_DIRECTORY <dir>])
#       Builds <name>.so with `hotpatch make-patch` from the fix's diff (-p1, as git diff writes it,
#       relative to SOURCE_DIR, default the project's source directory), for <target> as it is
#       built now. COMPILE_COMMANDS defaults to ${CMAKE_BINARY_DIR}/compile_commands.json: set
#       CMAKE_EXPORT_COMPILE_COMMANDS ON.
include_guard(GLOBAL)
set(HOTPATCH_CMAKE_HELPERS_DIR ${CMAKE_CURRENT_LIST_DIR})

function(hotpatch_make_patchable target)
  cmake_parse_arguments(PARSE_ARGV 1 HP "PAD_ALL_FUNCTIONS" "" "")
  include(CheckCompilerFlag)
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  foreach(lang C CXX)
    if(lang IN_LIST languages)
      check_compiler_flag(${lang} -flive-patching=inline-only-static HOTPATCH_${lang}_HAS_LIVE_PATCHING)
      if(HOTPATCH_${lang}_HAS_LIVE_PATCHING)
        target_compile_options(${target} PRIVATE
          $<$<COMPILE_LANGUAGE:${lang}>:-flive-patching=inline-only-static>)
      endif()
      if(HP_PAD_ALL_FUNCTIONS)
        check_compiler_flag(${lang} -fpatchable-function-entry=7,5 HOTPATCH_${lang}_HAS_ENTRY_PADS)
        if(HOTPATCH_${lang}_HAS_ENTRY_PADS)
          target_compile_options(${target} PRIVATE
            $<$<COMPILE_LANGUAGE:${lang}>:-fpatchable-function-entry=7,5>)
        else()
          message(WARNING "hotpatch_make_patchable(${target} PAD_ALL_FUNCTIONS): the ${lang} compiler has no "
            "-fpatchable-function-entry; its functions are patched with a temporary int3")
        endif()
      endif()
    endif()
  endforeach()
  target_link_options(${target} PRIVATE -Wl,--build-id=sha1)
endfunction()

function(hotpatch_add_patch name)
  cmake_parse_arguments(PARSE_ARGV 1 HP "" "TARGET;TARGET_FILE;VERSION;ID;ABOUT;OUTPUT_DIRECTORY" "SOURCES")
  if((NOT HP_TARGET AND NOT HP_TARGET_FILE) OR NOT HP_VERSION OR NOT HP_SOURCES)
    message(FATAL_ERROR "hotpatch_add_patch(${name}): TARGET (or TARGET_FILE), VERSION and SOURCES are required")
  endif()
  if(HP_TARGET AND HP_TARGET_FILE)
    message(FATAL_ERROR "hotpatch_add_patch(${name}): give TARGET or TARGET_FILE, not both")
  endif()
  if(HP_TARGET_FILE)
    if(NOT IS_ABSOLUTE "${HP_TARGET_FILE}" OR NOT EXISTS "${HP_TARGET_FILE}")
      message(FATAL_ERROR "hotpatch_add_patch(${name}): TARGET_FILE '${HP_TARGET_FILE}' is not an existing absolute path")
    endif()
    set(module ${HP_TARGET_FILE})
    set(module_depends ${HP_TARGET_FILE})
    get_filename_component(module_label ${HP_TARGET_FILE} NAME)
  else()
    set(module $<TARGET_FILE:${HP_TARGET}>)
    set(module_depends ${HP_TARGET})
    set(module_label ${HP_TARGET})
  endif()
  if(NOT HP_VERSION MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "hotpatch_add_patch(${name}): VERSION must be a positive integer, got '${HP_VERSION}'")
  endif()
  if(NOT HP_ID)
    set(HP_ID ${name})
  endif()
  if(NOT HP_ID MATCHES "^[A-Za-z0-9._-]+$")
    message(FATAL_ERROR "hotpatch_add_patch(${name}): ID may hold letters, digits, '.', '_' and '-' only")
  endif()
  if(NOT HP_ABOUT)
    set(HP_ABOUT "${HP_ID} version ${HP_VERSION}")
  endif()

  # The record that binds the patch is written in the project's language: a C++-only project does
  # not compile a .c file, and the patch would be refused for having no record.
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if("C" IN_LIST languages)
    set(generated ${CMAKE_CURRENT_BINARY_DIR}/${name}_hotpatch_target.c)
  elseif("CXX" IN_LIST languages)
    set(generated ${CMAKE_CURRENT_BINARY_DIR}/${name}_hotpatch_target.cpp)
  else()
    message(FATAL_ERROR "hotpatch_add_patch(${name}): the project enables neither C nor CXX")
  endif()
  add_custom_command(
    OUTPUT ${generated}
    COMMAND ${CMAKE_COMMAND}
      -DMODULE=${module}
      -DOUTPUT=${generated}
      -DPATCH_ID=${HP_ID}
      -DPATCH_VERSION=${HP_VERSION}
      "-DPATCH_ABOUT=${HP_ABOUT}"
      -P ${HOTPATCH_CMAKE_HELPERS_DIR}/HotpatchGenerateTarget.cmake
    DEPENDS ${module_depends} ${HOTPATCH_CMAKE_HELPERS_DIR}/HotpatchGenerateTarget.cmake
    COMMENT "Binding patch ${name} to the build-id of ${module_label}"
    VERBATIM)

  add_library(${name} MODULE ${HP_SOURCES} ${generated})
  set_target_properties(${name} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  if(HP_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${HP_OUTPUT_DIRECTORY})
  endif()
  if(TARGET hotpatch::patch_api)
    target_link_libraries(${name} PRIVATE hotpatch::patch_api)
  endif()
  target_link_options(${name} PRIVATE -Wl,--build-id=sha1)
endfunction()

# The hotpatch tool: this build's, or the one installed beside this file (<prefix>/lib/cmake/hotpatch).
function(hotpatch_tool_path out)
  if(TARGET hotpatch_cli)
    set(${out} $<TARGET_FILE:hotpatch_cli> PARENT_SCOPE)
    return()
  endif()
  find_program(HOTPATCH_TOOL hotpatch HINTS ${HOTPATCH_CMAKE_HELPERS_DIR}/../../../bin NO_DEFAULT_PATH)
  find_program(HOTPATCH_TOOL hotpatch)
  if(NOT HOTPATCH_TOOL)
    message(FATAL_ERROR "hotpatch: the hotpatch tool was not found (looked beside ${HOTPATCH_CMAKE_HELPERS_DIR} and in PATH)")
  endif()
  set(${out} ${HOTPATCH_TOOL} PARENT_SCOPE)
endfunction()

function(hotpatch_add_patch_from_diff name)
  cmake_parse_arguments(PARSE_ARGV 1 HP "" "TARGET;TARGET_FILE;VERSION;ID;ABOUT;SOURCE_DIR;COMPILE_COMMANDS;OUTPUT_DIRECTORY"
    "DIFF")
  if((NOT HP_TARGET AND NOT HP_TARGET_FILE) OR NOT HP_VERSION OR NOT HP_DIFF)
    message(FATAL_ERROR "hotpatch_add_patch_from_diff(${name}): TARGET (or TARGET_FILE), DIFF and VERSION are required")
  endif()
  if(HP_TARGET AND HP_TARGET_FILE)
    message(FATAL_ERROR "hotpatch_add_patch_from_diff(${name}): give TARGET or TARGET_FILE, not both")
  endif()
  if(NOT HP_VERSION MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "hotpatch_add_patch_from_diff(${name}): VERSION must be a positive integer, got '${HP_VERSION}'")
  endif()
  if(NOT HP_ID)
    set(HP_ID ${name})
  endif()
  if(NOT HP_ID MATCHES "^[A-Za-z0-9._-]+$")
    message(FATAL_ERROR "hotpatch_add_patch_from_diff(${name}): ID may hold letters, digits, '.', '_' and '-' only")
  endif()
  if(NOT HP_SOURCE_DIR)
    set(HP_SOURCE_DIR ${PROJECT_SOURCE_DIR})
  endif()
  if(NOT HP_COMPILE_COMMANDS)
    if(NOT CMAKE_EXPORT_COMPILE_COMMANDS)
      message(FATAL_ERROR "hotpatch_add_patch_from_diff(${name}): set CMAKE_EXPORT_COMPILE_COMMANDS ON (or give "
        "COMPILE_COMMANDS): the patch is compiled with the commands that built ${HP_TARGET}${HP_TARGET_FILE}")
    endif()
    set(HP_COMPILE_COMMANDS ${CMAKE_BINARY_DIR}/compile_commands.json)
  endif()
  if(HP_TARGET_FILE)
    if(NOT IS_ABSOLUTE "${HP_TARGET_FILE}" OR NOT EXISTS "${HP_TARGET_FILE}")
      message(FATAL_ERROR "hotpatch_add_patch_from_diff(${name}): TARGET_FILE '${HP_TARGET_FILE}' is not an existing absolute path")
    endif()
    set(module ${HP_TARGET_FILE})
    set(module_depends ${HP_TARGET_FILE})
  else()
    set(module $<TARGET_FILE:${HP_TARGET}>)
    set(module_depends ${HP_TARGET})
  endif()
  set(diff_args)
  set(diff_files)
  foreach(d IN LISTS HP_DIFF)
    get_filename_component(d ${d} ABSOLUTE)
    list(APPEND diff_args --diff ${d})
    list(APPEND diff_files ${d})
  endforeach()
  set(about_args)
  if(HP_ABOUT)
    set(about_args --about ${HP_ABOUT})
  endif()
  if(NOT HP_OUTPUT_DIRECTORY)
    set(HP_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  endif()
  set(output ${HP_OUTPUT_DIRECTORY}/${name}.so)
  hotpatch_tool_path(tool)
  add_custom_command(
    OUTPUT ${output}
    COMMAND ${tool} make-patch --source ${HP_SOURCE_DIR} --compile-commands ${HP_COMPILE_COMMANDS} --target ${module}
      ${diff_args} --id ${HP_ID} --patch-version ${HP_VERSION} ${about_args} -o ${output}
    DEPENDS ${module_depends} ${diff_files}
    COMMENT "Making patch ${name} from ${HP_DIFF}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${output})
endfunction()
