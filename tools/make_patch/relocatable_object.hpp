// A relocatable object (.o) read whole: sections, symbols, and the relocations of each section,
// for comparing units function by function and for reading what a function refers to.
#pragma once

#include <hotpatch/error.hpp>

#include <gelf.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct Section {
  std::string name;
  GElf_Shdr header{};
  std::vector<std::uint8_t> bytes;  // empty for NOBITS
};

struct Symbol {
  std::string name;
  unsigned char type = 0;
  unsigned char bind = 0;
  std::size_t section = 0;
  std::uint64_t value = 0;
  std::uint64_t size = 0;
};

struct Relocation {
  std::uint64_t offset = 0;
  std::uint32_t type = 0;
  std::size_t symbol = 0;
  std::int64_t addend = 0;
};

// One relocatable object, read whole: sections, symbols, and the relocations of each section.
struct Object {
  std::string path;
  std::vector<Section> sections;
  std::vector<Symbol> symbols;
  std::map<std::size_t, std::vector<Relocation>> relocations;  // by the section they apply to
};

/// Whether a relocation's field is PC-relative: its addend then counts from the end of the 4-byte
/// field, so the place it means is 4 bytes further than the addend says.
bool pc_relative(std::uint32_t type);

/// Reads an x86-64 ET_REL object. Errors name the file.
Result<Object> read_object(const std::string& path);

}  // namespace hotpatch::make_patch
