#include "image/patchable_entries.hpp"

#include "image/elf_file.hpp"
#include "os/linux/loaded_segments.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace hotpatch::image {
namespace {

struct Cache {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<const std::vector<std::uintptr_t>>> by_key;  // path, build-id, base
};

Cache& cache() {
  static Cache c;
  return c;
}

// The table as the loader relocated it: in the file, a PIE's or shared object's entries are zero
// with the address in a relocation, so memory is the place to read them. The range is checked to
// be one loaded segment of the module first, so a bogus section header cannot make us read
// unmapped memory.
std::vector<std::uintptr_t> read_table(const LoadedModule& module) {
  std::vector<std::uintptr_t> out;
  auto file = ElfFile::open(module.path);
  if (!file || file->build_id() != module.build_id) return out;
  auto place = file->loaded_section("__patchable_function_entries");
  if (!place || place->size == 0 || place->size % sizeof(std::uintptr_t) != 0) return out;
  const std::uintptr_t lo = module.base + place->address;
  const std::uintptr_t hi = lo + place->size;
  if (lo % alignof(std::uintptr_t) != 0 || hi < lo) return out;
  auto first = os::segment_containing(lo);
  if (!first || hi > first->hi) return out;
  out.resize(place->size / sizeof(std::uintptr_t));
  std::memcpy(out.data(), reinterpret_cast<const void*>(lo), place->size);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

bool lists_patchable_entry(const LoadedModule& module, std::uintptr_t address) {
  if (module.path.empty()) return false;
  const std::string key = module.path + "#" + module.build_id + "#" + std::to_string(module.base);
  std::shared_ptr<const std::vector<std::uintptr_t>> table;
  {
    auto& c = cache();
    std::lock_guard lock(c.mutex);
    auto it = c.by_key.find(key);
    if (it == c.by_key.end())
      it = c.by_key.emplace(key, std::make_shared<const std::vector<std::uintptr_t>>(read_table(module))).first;
    table = it->second;
  }
  return std::binary_search(table->begin(), table->end(), address);
}

}  // namespace hotpatch::image
