// Read-only view of an ELF file on disk: sections, symbols, GNU build-id (through libelf).
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch::image {

struct ElfSymbol {
  std::string name;
  std::uint64_t value = 0;
  std::uint64_t size = 0;
  unsigned char type = 0;  ///< STT_*
  unsigned char bind = 0;  ///< STB_*
  std::string unit;        ///< a local symbol's translation unit (the STT_FILE before it), else empty
};

class ElfFile {
 public:
  /// Opens and checks an ELF64 x86-64 file. Errors name the path and the reason.
  static Result<ElfFile> open(const std::string& path);
  /// The same over bytes already read (`name` is for messages); the view keeps the bytes.
  static Result<ElfFile> from_memory(std::vector<std::uint8_t> bytes, const std::string& name);

  ElfFile(ElfFile&&) noexcept;
  ElfFile& operator=(ElfFile&&) noexcept;
  ~ElfFile();

  const std::string& path() const;
  /// The bytes given to from_memory() (empty for files opened by path).
  const std::vector<std::uint8_t>& bytes() const;
  /// Lower-case hex GNU build-id, empty when the file has none.
  std::string build_id() const;
  /// Defined symbols from .symtab when the file has one (it holds static functions), else .dynsym.
  std::vector<ElfSymbol> defined_symbols() const;
  bool has_symtab() const;
  /// Contents of the named section; nullopt when absent.
  std::optional<std::vector<std::uint8_t>> section(const std::string& name) const;
  /// Where the named section is loaded (sh_addr, before the module's base is added) and its size;
  /// nullopt when absent or not part of the loaded image (not SHF_ALLOC).
  struct SectionPlace {
    std::uint64_t address = 0;
    std::uint64_t size = 0;
  };
  std::optional<SectionPlace> loaded_section(const std::string& name) const;

 private:
  struct Impl;
  explicit ElfFile(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Lower-case hex of a byte string.
std::string to_hex(const std::uint8_t* bytes, std::size_t n);

/// Finds the GNU build-id in a run of ELF notes (memory image or file section).
std::string build_id_from_notes(const std::uint8_t* notes, std::size_t size);

}  // namespace hotpatch::image
