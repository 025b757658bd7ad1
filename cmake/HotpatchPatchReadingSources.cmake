# The runtime's code that reads and checks a patch object without loading it, relative to the
# source root: compiled into the command-line tool (tools/) and into the fuzz project (fuzz/, a
# project of its own built with clang, which cannot use the main project's targets).
set(HOTPATCH_PATCH_READING_SOURCES
  src/support/error.cpp
  src/support/log.cpp
  src/support/content_hash.cpp
  src/image/elf_file.cpp
  src/image/module_list.cpp
  src/image/loadable_elf_check.cpp
  src/image/loadable_elf_lookup.cpp
  src/engine/manifest.cpp
  src/engine/patch_object.cpp
  src/engine/patch_validation.cpp
  src/os/linux/libc_loader.cpp
  src/os/linux/loaded_segments.cpp
)
