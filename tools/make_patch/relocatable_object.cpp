#include "make_patch/relocatable_object.hpp"

#include <elf.h>
#include <fcntl.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hotpatch::make_patch {

bool pc_relative(std::uint32_t type) {
  return type == R_X86_64_PC32 || type == R_X86_64_PLT32 || type == R_X86_64_GOTPCREL ||
         type == R_X86_64_GOTPCRELX || type == R_X86_64_REX_GOTPCRELX || type == R_X86_64_PC64;
}

Result<Object> read_object(const std::string& path) {
  if (elf_version(EV_CURRENT) == EV_NONE) return make_error(ErrorCode::internal, "libelf", "version mismatch");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::io, path, std::string("cannot open: ") + std::strerror(errno));
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  auto done = [&](Result<Object> r) {
    if (elf != nullptr) elf_end(elf);
    ::close(fd);
    return r;
  };
  GElf_Ehdr eh{};
  if (elf == nullptr || gelf_getehdr(elf, &eh) == nullptr || eh.e_ident[EI_CLASS] != ELFCLASS64)
    return done(make_error(ErrorCode::invalid_argument, path, "not a 64-bit ELF object"));
  if (eh.e_type != ET_REL || eh.e_machine != EM_X86_64)
    return done(make_error(ErrorCode::invalid_argument, path, "not an x86-64 relocatable object (.o)"));
  std::size_t shstrndx = 0;
  if (elf_getshdrstrndx(elf, &shstrndx) != 0) return done(make_error(ErrorCode::invalid_argument, path, "no section names"));
  Object obj;
  obj.path = path;
  std::size_t count = 0;
  elf_getshdrnum(elf, &count);
  obj.sections.resize(count);
  std::size_t symtab = 0;
  for (std::size_t i = 1; i < count; ++i) {
    Elf_Scn* scn = elf_getscn(elf, i);
    Section& s = obj.sections[i];
    if (scn == nullptr || gelf_getshdr(scn, &s.header) == nullptr) continue;
    const char* name = elf_strptr(elf, shstrndx, s.header.sh_name);
    s.name = name != nullptr ? name : "";
    if (s.header.sh_type != SHT_NOBITS) {
      if (Elf_Data* d = elf_getdata(scn, nullptr); d != nullptr && d->d_buf != nullptr)
        s.bytes.assign(static_cast<const std::uint8_t*>(d->d_buf), static_cast<const std::uint8_t*>(d->d_buf) + d->d_size);
    }
    if (s.header.sh_type == SHT_SYMTAB) symtab = i;
  }
  if (symtab == 0) return done(make_error(ErrorCode::invalid_argument, path, "has no symbol table"));
  {
    Elf_Scn* scn = elf_getscn(elf, symtab);
    Elf_Data* d = elf_getdata(scn, nullptr);
    const auto& h = obj.sections[symtab].header;
    const std::size_t n = h.sh_entsize != 0 && d != nullptr ? d->d_size / h.sh_entsize : 0;
    obj.symbols.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(d, static_cast<int>(i), &sym) == nullptr) continue;
      Symbol& s = obj.symbols[i];
      const char* name = elf_strptr(elf, h.sh_link, sym.st_name);
      s.name = name != nullptr ? name : "";
      s.type = GELF_ST_TYPE(sym.st_info);
      s.bind = GELF_ST_BIND(sym.st_info);
      s.section = sym.st_shndx;
      s.value = sym.st_value;
      s.size = sym.st_size;
      if (s.type == STT_SECTION && s.section < obj.sections.size()) s.name = obj.sections[s.section].name;
    }
  }
  for (std::size_t i = 1; i < count; ++i) {
    const auto& h = obj.sections[i].header;
    if (h.sh_type != SHT_RELA || h.sh_link != symtab) continue;
    Elf_Data* d = elf_getdata(elf_getscn(elf, i), nullptr);
    const std::size_t n = h.sh_entsize != 0 && d != nullptr ? d->d_size / h.sh_entsize : 0;
    auto& list = obj.relocations[h.sh_info];
    for (std::size_t k = 0; k < n; ++k) {
      GElf_Rela r;
      if (gelf_getrela(d, static_cast<int>(k), &r) == nullptr) continue;
      list.push_back({r.r_offset, static_cast<std::uint32_t>(GELF_R_TYPE(r.r_info)), GELF_R_SYM(r.r_info), r.r_addend});
    }
    std::sort(list.begin(), list.end(), [](const Relocation& a, const Relocation& b) { return a.offset < b.offset; });
  }
  return done(std::move(obj));
}

}  // namespace hotpatch::make_patch
