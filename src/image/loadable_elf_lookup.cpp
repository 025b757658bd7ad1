// Symbol lookup as ld.so does it for dlsym on this object: through DT_GNU_HASH when present (it is
// preferred), else DT_HASH, skipping entries ld.so skips (undefined, local, value 0, hidden version).
// The tables were bounds-checked by check_loadable_elf(), so reads here stay inside the bytes.
#include "image/loadable_elf.hpp"

#include <elf.h>

#include <cstring>

namespace hotpatch::image {
namespace {

std::uint32_t gnu_hash(std::string_view name) {
  std::uint32_t h = 5381;
  for (unsigned char c : name) h = h * 33 + c;
  return h;
}

std::uint32_t sysv_hash(std::string_view name) {
  std::uint32_t h = 0;
  for (unsigned char c : name) {
    h = (h << 4) + c;
    const std::uint32_t g = h & 0xf0000000u;
    if (g != 0) h ^= g >> 24;
    h &= ~g;
  }
  return h;
}

template <class T>
T load(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

DynamicSymbol LoadableElf::symbol(std::uint64_t index) const {
  const auto s = load<Elf64_Sym>(file_bytes(symtab_ + index * sizeof(Elf64_Sym), sizeof(Elf64_Sym)));
  const auto* strings = reinterpret_cast<const char*>(file_bytes(strtab_, strsz_));
  DynamicSymbol out;
  if (s.st_name < strsz_) out.name = strings + s.st_name;  // NUL-terminated: checked
  out.value = s.st_value;
  out.size = s.st_size;
  out.type = ELF64_ST_TYPE(s.st_info);
  out.bind = ELF64_ST_BIND(s.st_info);
  out.visibility = ELF64_ST_VISIBILITY(s.st_other);
  return out;
}

bool LoadableElf::symbol_matches(std::uint64_t index, std::string_view name) const {
  if (index >= nsyms_) return false;
  const auto s = load<Elf64_Sym>(file_bytes(symtab_ + index * sizeof(Elf64_Sym), sizeof(Elf64_Sym)));
  const unsigned type = ELF64_ST_TYPE(s.st_info), bind = ELF64_ST_BIND(s.st_info);
  if (s.st_shndx == SHN_UNDEF || (s.st_value == 0 && type != STT_TLS)) return false;
  if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) return false;
  if (versym_ != 0 && (load<std::uint16_t>(file_bytes(versym_ + 2 * index, 2)) & 0x8000) != 0) return false;
  const auto* strings = reinterpret_cast<const char*>(file_bytes(strtab_, strsz_));
  if (s.st_name >= strsz_) return false;
  return std::string_view(strings + s.st_name) == name;
}

std::optional<DynamicSymbol> LoadableElf::find_export(std::string_view name) const {
  if (gnu_hash_ != 0) {
    const std::uint8_t* head = file_bytes(gnu_hash_, 16);
    const auto nbuckets = load<std::uint32_t>(head), symoffset = load<std::uint32_t>(head + 4);
    const auto bloom_size = load<std::uint32_t>(head + 8), shift = load<std::uint32_t>(head + 12);
    const std::uint32_t h = gnu_hash(name);
    const auto word = load<std::uint64_t>(file_bytes(gnu_hash_ + 16 + 8 * ((h / 64) & (bloom_size - 1)), 8));
    const std::uint64_t mask = (1ull << (h % 64)) | (1ull << ((h >> shift) % 64));
    if ((word & mask) != mask) return std::nullopt;
    const std::uint64_t buckets_at = gnu_hash_ + 16 + 8 * std::uint64_t{bloom_size};
    const auto first = load<std::uint32_t>(file_bytes(buckets_at + 4 * std::uint64_t{h % nbuckets}, 4));
    if (first == 0) return std::nullopt;
    const std::uint64_t chain_at = buckets_at + 4 * std::uint64_t{nbuckets};
    for (std::uint64_t i = first;; ++i) {
      const auto h2 = load<std::uint32_t>(file_bytes(chain_at + 4 * (i - symoffset), 4));
      if (((h2 ^ h) >> 1) == 0 && symbol_matches(i, name)) return symbol(i);
      if (h2 & 1) return std::nullopt;
    }
  }
  const std::uint8_t* head = file_bytes(hash_, 8);
  const auto nbucket = load<std::uint32_t>(head);
  const std::uint32_t h = sysv_hash(name);
  for (std::uint64_t i = load<std::uint32_t>(head + 8 + 4 * std::uint64_t{h % nbucket}); i != 0;
       i = load<std::uint32_t>(head + 8 + 4 * (std::uint64_t{nbucket} + i)))
    if (symbol_matches(i, name)) return symbol(i);
  return std::nullopt;
}

}  // namespace hotpatch::image
