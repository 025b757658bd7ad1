#include "make_patch/target_symbols.hpp"

#include "image/debug_file.hpp"
#include "image/elf_file.hpp"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace hotpatch::make_patch {
namespace {

// The whole .symtab in order: the file attribution of locals depends on it, which
// ElfFile::defined_symbols does not keep.
Status read_symtab(const std::string& path, TargetSymbols& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::io, path, std::string("cannot open: ") + std::strerror(errno));
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  Status status = make_error(ErrorCode::invalid_argument, path, "has no .symtab");
  for (Elf_Scn* scn = elf != nullptr ? elf_nextscn(elf, nullptr) : nullptr; scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != SHT_SYMTAB || sh.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) break;
    std::string file;
    bool localized = false;
    const std::size_t count = data->d_size / sh.sh_entsize;
    for (std::size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
      const unsigned type = GELF_ST_TYPE(sym.st_info), bind = GELF_ST_BIND(sym.st_info);
      if (type == STT_FILE) {
        file = name != nullptr ? name : "";
        // After an STT_FILE with no name the linker lists the globals it made local (hidden
        // visibility): globals of the program for a patch's purposes.
        localized = file.empty();
        continue;
      }
      if (name == nullptr || *name == '\0' || sym.st_shndx == SHN_UNDEF) continue;
      if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC) continue;
      const bool local = bind == STB_LOCAL && !localized;
      TargetSymbol s{name, sym.st_size, type != STT_OBJECT, local, local ? file : std::string{}};
      out.by_name.emplace(s.name, std::move(s));
    }
    status = {};
    break;
  }
  if (elf != nullptr) elf_end(elf);
  ::close(fd);
  return status;
}

}  // namespace

std::vector<const TargetSymbol*> TargetSymbols::globals(const std::string& name) const {
  std::vector<const TargetSymbol*> out;
  for (auto [it, end] = by_name.equal_range(name); it != end; ++it)
    if (!it->second.local) out.push_back(&it->second);
  return out;
}

std::vector<const TargetSymbol*> TargetSymbols::locals(const std::string& name) const {
  std::vector<const TargetSymbol*> out;
  for (auto [it, end] = by_name.equal_range(name); it != end; ++it)
    if (it->second.local) out.push_back(&it->second);
  return out;
}

Result<TargetSymbols> read_target_symbols(const std::string& target) {
  auto file = image::ElfFile::open(target);
  if (!file) return make_error(ErrorCode::invalid_argument, target, "is not a usable target: " + file.error().message);
  TargetSymbols out;
  out.path = target;
  out.build_id = file->build_id();
  out.symbols_from = target;
  // A PIE executable is ET_DYN too: only a shared library lacks an interpreter.
  out.shared_library = file->section(".interp") == std::nullopt && file->loaded_section(".dynamic").has_value();
  if (!file->has_symtab()) {
    auto found = image::find_debug_file(*file, target, out.build_id);
    if (!found.file) {
      std::string why = "is stripped (no .symtab) and no separate debug file with its build-id '" + out.build_id +
                        "' was found (by build-id under the debug directories, or by its .gnu_debuglink name)";
      for (const auto& r : found.refused) why += "\n  refused " + r;
      return make_error(ErrorCode::symbol_not_found, target, why);
    }
    out.symbols_from = found.path;
  }
  HOTPATCH_TRY(read_symtab(out.symbols_from, out));
  return out;
}

}  // namespace hotpatch::make_patch
