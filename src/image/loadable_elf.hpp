// The structure ld.so trusts in a shared object: ELF header, program headers, dynamic section,
// relocations, symbol, string, hash and version tables. check_loadable_elf() verifies all of it from
// the file's bytes before anything maps them, because ld.so asserts or faults on malformed input
// (DT_RELAENT of 32 aborts the whole process) and a patch is loaded into a process that must survive.
// The view also finds dynamic symbols the way dlsym does, through the object's own hash table.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotpatch::image {

struct LoadSegment {
  std::uint64_t vaddr = 0;
  std::uint64_t memsz = 0;
  std::uint64_t offset = 0;
  std::uint64_t filesz = 0;
  std::uint32_t flags = 0;  ///< PF_R/PF_W/PF_X
};

struct DynamicSymbol {
  std::string name;
  std::uint64_t value = 0;
  std::uint64_t size = 0;
  unsigned char type = 0;        ///< STT_*
  unsigned char bind = 0;        ///< STB_*
  unsigned char visibility = 0;  ///< STV_*
};

/// A shared object whose loader-visible structure passed every check. Refers to the bytes it was
/// made from, which must outlive it.
class LoadableElf {
 public:
  /// The symbol dlsym(handle, name) returns from this object itself; nullopt when it has none.
  std::optional<DynamicSymbol> find_export(std::string_view name) const;
  /// The load segment holding [vaddr, vaddr + size), nullptr when no single one does.
  const LoadSegment* segment_of(std::uint64_t vaddr, std::uint64_t size) const;
  /// Whether [vaddr, vaddr + size) overlaps the range made read-only after relocation.
  bool in_relro(std::uint64_t vaddr, std::uint64_t size) const;

 private:
  friend class LoadableElfChecker;
  const std::uint8_t* file_bytes(std::uint64_t vaddr, std::uint64_t size) const;
  bool symbol_matches(std::uint64_t index, std::string_view name) const;
  DynamicSymbol symbol(std::uint64_t index) const;

  std::span<const std::uint8_t> bytes_;
  std::vector<LoadSegment> loads_;
  std::uint64_t relro_begin_ = 0, relro_end_ = 0;
  std::uint64_t symtab_ = 0, strtab_ = 0, strsz_ = 0, nsyms_ = 0;
  std::uint64_t hash_ = 0, gnu_hash_ = 0, versym_ = 0;  // 0: absent
};

/// Checks the object from its bytes; errors are ErrorCode::malformed_patch naming what is wrong.
Result<LoadableElf> check_loadable_elf(std::span<const std::uint8_t> bytes, const std::string& name);

}  // namespace hotpatch::image
