#include "image/elf_file.hpp"

#include <cerrno>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

namespace hotpatch::image {

struct ElfFile::Impl {
  std::string path;
  std::vector<std::uint8_t> bytes;  // backing store for from_memory()
  int fd = -1;
  Elf* elf = nullptr;
  ~Impl() {
    if (elf != nullptr) elf_end(elf);
    if (fd >= 0) ::close(fd);
  }
  template <class F>
  void for_each_section(F&& f) const {
    std::size_t shstrndx = 0;
    if (elf_getshdrstrndx(elf, &shstrndx) != 0) return;
    for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
      GElf_Shdr shdr;
      if (gelf_getshdr(scn, &shdr) == nullptr) continue;
      const char* name = elf_strptr(elf, shstrndx, shdr.sh_name);
      if (!f(scn, shdr, name != nullptr ? name : "")) return;
    }
  }
};

ElfFile::ElfFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ElfFile::ElfFile(ElfFile&&) noexcept = default;
ElfFile& ElfFile::operator=(ElfFile&&) noexcept = default;
ElfFile::~ElfFile() = default;

namespace {

Status check_header(Elf* elf, const std::string& path) {
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) return make_error(ErrorCode::malformed_patch, path, "not an ELF file");
  GElf_Ehdr ehdr;
  if (gelf_getehdr(elf, &ehdr) == nullptr || gelf_getclass(elf) != ELFCLASS64 || ehdr.e_machine != EM_X86_64)
    return make_error(ErrorCode::malformed_patch, path, "not an x86-64 ELF64 file");
  return {};
}

bool libelf_ready() {
  static const bool initialised = elf_version(EV_CURRENT) != EV_NONE;
  return initialised;
}

}  // namespace

Result<ElfFile> ElfFile::open(const std::string& path) {
  if (!libelf_ready()) return make_error(ErrorCode::internal, "libelf", "library version mismatch");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (impl->fd < 0) return make_error(ErrorCode::io, path, std::string("cannot open: ") + std::strerror(errno));
  impl->elf = elf_begin(impl->fd, ELF_C_READ_MMAP, nullptr);
  HOTPATCH_TRY(check_header(impl->elf, path));
  return ElfFile(std::move(impl));
}

Result<ElfFile> ElfFile::from_memory(std::vector<std::uint8_t> bytes, const std::string& name) {
  if (!libelf_ready()) return make_error(ErrorCode::internal, "libelf", "library version mismatch");
  auto impl = std::make_unique<Impl>();
  impl->path = name;
  impl->bytes = std::move(bytes);
  if (impl->bytes.empty()) return make_error(ErrorCode::malformed_patch, name, "not an ELF file (it is empty)");
  impl->elf = elf_memory(reinterpret_cast<char*>(impl->bytes.data()), impl->bytes.size());
  HOTPATCH_TRY(check_header(impl->elf, name));
  return ElfFile(std::move(impl));
}

const std::vector<std::uint8_t>& ElfFile::bytes() const { return impl_->bytes; }

const std::string& ElfFile::path() const { return impl_->path; }

std::string to_hex(const std::uint8_t* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[bytes[i] >> 4];
    out += digits[bytes[i] & 15];
  }
  return out;
}

std::string build_id_from_notes(const std::uint8_t* notes, std::size_t size) {
  std::size_t off = 0;
  auto align4 = [](std::size_t v) { return (v + 3) & ~std::size_t{3}; };
  while (off + sizeof(Elf64_Nhdr) <= size) {
    Elf64_Nhdr nh;
    std::memcpy(&nh, notes + off, sizeof nh);
    const std::size_t name_at = off + sizeof nh;
    const std::size_t desc_at = name_at + align4(nh.n_namesz);
    if (nh.n_namesz > size || nh.n_descsz > size || desc_at + nh.n_descsz > size) break;
    if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(notes + name_at, "GNU", 4) == 0)
      return to_hex(notes + desc_at, nh.n_descsz);
    off = desc_at + align4(nh.n_descsz);
  }
  return {};
}

std::string ElfFile::build_id() const {
  std::string id;
  impl_->for_each_section([&](Elf_Scn* scn, const GElf_Shdr& shdr, const char*) {
    if (shdr.sh_type != SHT_NOTE) return true;
    Elf_Data* data = elf_rawdata(scn, nullptr);
    if (data != nullptr && data->d_buf != nullptr)
      id = build_id_from_notes(static_cast<const std::uint8_t*>(data->d_buf), data->d_size);
    return id.empty();
  });
  return id;
}

bool ElfFile::has_symtab() const {
  bool found = false;
  impl_->for_each_section([&](Elf_Scn*, const GElf_Shdr& shdr, const char*) {
    found = shdr.sh_type == SHT_SYMTAB;
    return !found;
  });
  return found;
}

std::vector<ElfSymbol> ElfFile::defined_symbols() const {
  const unsigned wanted = has_symtab() ? SHT_SYMTAB : SHT_DYNSYM;
  std::vector<ElfSymbol> out;
  impl_->for_each_section([&](Elf_Scn* scn, const GElf_Shdr& shdr, const char*) {
    if (shdr.sh_type != wanted || shdr.sh_entsize == 0) return true;
    Elf_Data* data = elf_getdata(scn, nullptr);
    if (data == nullptr) return true;
    const std::size_t count = data->d_size / shdr.sh_entsize;
    out.reserve(out.size() + count);
    const char* unit = "";  // locals follow the STT_FILE symbol of their unit
    bool localized = false;
    for (std::size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
      const unsigned char type = GELF_ST_TYPE(sym.st_info);
      if (type == STT_FILE) {
        const char* file = elf_strptr(impl_->elf, shdr.sh_link, sym.st_name);
        unit = file != nullptr ? file : "";
        // The linker puts the globals it made local (hidden visibility, as a static library's
        // internal functions often are) after an STT_FILE with no name.
        localized = *unit == '\0';
        continue;
      }
      if (sym.st_shndx == SHN_UNDEF || sym.st_name == 0) continue;
      if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC) continue;
      const char* name = elf_strptr(impl_->elf, shdr.sh_link, sym.st_name);
      if (name == nullptr || *name == '\0') continue;
      auto bind = static_cast<unsigned char>(GELF_ST_BIND(sym.st_info));
      // Global when the program was linked, and one of a kind: the units' code reaches it as such.
      if (bind == STB_LOCAL && localized) bind = STB_GLOBAL;
      out.push_back({name, sym.st_value, sym.st_size, type, bind, bind == STB_LOCAL ? unit : ""});
    }
    return true;
  });
  return out;
}

std::optional<std::vector<std::uint8_t>> ElfFile::section(const std::string& wanted) const {
  std::optional<std::vector<std::uint8_t>> out;
  impl_->for_each_section([&](Elf_Scn* scn, const GElf_Shdr& shdr, const char* name) {
    if (wanted != name) return true;
    out.emplace();
    if (shdr.sh_type == SHT_NOBITS) return false;
    Elf_Data* data = elf_rawdata(scn, nullptr);
    if (data != nullptr && data->d_buf != nullptr) {
      const auto* p = static_cast<const std::uint8_t*>(data->d_buf);
      out->assign(p, p + data->d_size);
    }
    return false;
  });
  return out;
}

std::optional<ElfFile::SectionPlace> ElfFile::loaded_section(const std::string& wanted) const {
  std::optional<SectionPlace> out;
  impl_->for_each_section([&](Elf_Scn*, const GElf_Shdr& shdr, const char* name) {
    if (wanted != name) return true;
    if (shdr.sh_flags & SHF_ALLOC) out = SectionPlace{shdr.sh_addr, shdr.sh_size};
    return false;
  });
  return out;
}

}  // namespace hotpatch::image
