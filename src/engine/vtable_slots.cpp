#include "engine/vtable_slots.hpp"

#include "image/module_list.hpp"
#include "image/symbol_index.hpp"

#include <cstring>

namespace hotpatch::engine {

std::vector<std::uintptr_t> find_vtable_slots(std::uintptr_t function) {
  std::vector<std::uintptr_t> slots;
  for (const auto& module : image::list_modules()) {
    auto vtables = image::vtables_of(module);
    if (!vtables) continue;  // modules without a readable file have no vtables we can name
    for (const auto& vt : *vtables) {
      const std::uintptr_t first = (vt.address + sizeof(void*) - 1) & ~(sizeof(void*) - 1);
      for (std::uintptr_t at = first; at + sizeof(void*) <= vt.address + vt.size; at += sizeof(void*)) {
        std::uintptr_t value;
        std::memcpy(&value, reinterpret_cast<const void*>(at), sizeof value);
        if (value == function) slots.push_back(at);
      }
    }
  }
  return slots;
}

}  // namespace hotpatch::engine
