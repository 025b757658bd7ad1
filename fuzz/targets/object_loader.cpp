// The runtime's linker for patches made from a diff, on arbitrary bytes: every section the bytes
// name is asked for, every symbol resolves to a buffer here. It must refuse or load, never crash;
// what it loads is given back at once.
#include "engine/object_loader.hpp"

#include "check.hpp"

#include <elf.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

unsigned char g_program[4096];

// Section names, read as carefully as the loader itself must (the bytes are hostile).
std::vector<std::string> section_names(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> out;
  Elf64_Ehdr eh;
  if (size < sizeof eh) return out;
  std::memcpy(&eh, data, sizeof eh);
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum > 64 || eh.e_shstrndx >= eh.e_shnum) return out;
  if (eh.e_shoff > size || (size - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum) return out;
  Elf64_Shdr names;
  std::memcpy(&names, data + eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr), sizeof names);
  if (names.sh_offset > size || size - names.sh_offset < names.sh_size) return out;
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr s;
    std::memcpy(&s, data + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof s);
    if (!(s.sh_flags & SHF_ALLOC) || s.sh_name >= names.sh_size) continue;
    const char* n = reinterpret_cast<const char*>(data + names.sh_offset + s.sh_name);
    out.emplace_back(n, strnlen(n, names.sh_size - s.sh_name));
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto sections = section_names(data, size);
  if (sections.empty()) sections.push_back(".text");
  auto lookup = [](const std::string&, bool, const std::string&) -> hotpatch::Result<std::uintptr_t> {
    return reinterpret_cast<std::uintptr_t>(g_program);
  };
  auto loaded = hotpatch::engine::load_object_near({data, size}, sections, reinterpret_cast<std::uintptr_t>(g_program),
                                                   lookup, "fuzz");
  if (loaded) {
    HP_FUZZ_CHECK(loaded->code_base() != 0);
    loaded->unload();
  } else {
    HP_FUZZ_CHECK(!loaded.error().message.empty());
  }
  return 0;
}
