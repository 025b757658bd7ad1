// The ELF reader on mutated files: open, build-id, symbols, sections, and the patch manifest reader
// on top (what `hotpatch inspect` and every apply do with a file nobody has checked yet). The bytes
// go through a memfd, because the reader takes a path like the engine does.
#include "check.hpp"
#include "image/elf_file.hpp"

#include <hotpatch/runtime.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

int memfd() {
  static int fd = ::memfd_create("hp-fuzz-elf", MFD_CLOEXEC);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = memfd();
  HP_FUZZ_CHECK(fd >= 0);
  HP_FUZZ_CHECK(::ftruncate(fd, 0) == 0);
  HP_FUZZ_CHECK(::pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  if (auto file = hotpatch::image::ElfFile::open(path)) {
    const std::string id = file->build_id();
    HP_FUZZ_CHECK(id.size() % 2 == 0);
    for (const auto& s : file->defined_symbols()) HP_FUZZ_CHECK(!s.name.empty());
    (void)file->has_symtab();
    (void)file->section(".hotpatch");
    (void)file->section(".text");
  }
  (void)hotpatch::read_patch_manifest(path);
  return 0;
}
