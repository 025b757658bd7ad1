# The runtime's layers depend one way: support <- arch <- os <- image <- engine <- capi <- control,
# and the registry beside control. Each layer is an object library compiled against an include tree
# of its own, made at configure time, that holds only itself and the layers below it: a header of a
# layer above is simply not there, so an upward #include fails to compile. Tests and tools, above
# every layer, include the whole of src/.

# hotpatch_layer(<target> SEES <dir>... [FILES <src-relative header>...])
function(hotpatch_layer target)
  cmake_parse_arguments(L "" "" "SEES;FILES" ${ARGN})
  set(tree ${PROJECT_BINARY_DIR}/layers/${target})
  file(REMOVE_RECURSE ${tree})
  file(MAKE_DIRECTORY ${tree})
  foreach(dir IN LISTS L_SEES)
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${dir} ${tree}/${dir} SYMBOLIC)
  endforeach()
  foreach(header IN LISTS L_FILES)
    get_filename_component(parent ${header} DIRECTORY)
    file(MAKE_DIRECTORY ${tree}/${parent})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${header} ${tree}/${header} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PRIVATE ${tree})
endfunction()

# An object library of the runtime: position-independent, hidden by default, public headers and
# the generated version header in reach, warnings as errors.
function(hotpatch_runtime_layer target)
  cmake_parse_arguments(L "" "" "SOURCES;SEES;FILES;LINK" ${ARGN})
  add_library(${target} OBJECT ${L_SOURCES})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include ${PROJECT_BINARY_DIR}/include)
  target_compile_definitions(${target} PRIVATE HOTPATCH_BUILDING_LIBRARY)
  if(L_LINK)
    target_link_libraries(${target} PRIVATE ${L_LINK})
  endif()
  hotpatch_layer(${target} SEES ${L_SEES} FILES ${L_FILES})
  hotpatch_warnings(${target})
endfunction()
