// The process's own mappings, read from /proc/self/maps.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch::os {

struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  int prot = 0;  ///< PROT_* bits
  std::string path;
};

Result<std::vector<Mapping>> read_memory_map();

/// The mapping that holds `address`, if any.
std::optional<Mapping> mapping_of(const std::vector<Mapping>& maps, std::uintptr_t address);

std::size_t page_size();

}  // namespace hotpatch::os
