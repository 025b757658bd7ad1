// Pointer stores the engine makes (redirect slots, vtable slots), undone together on failure.
#pragma once

#include "os/linux/code_writer.hpp"

#include <sys/mman.h>

#include <cstdint>
#include <vector>

namespace hotpatch::engine {

struct PointerWrite {
  std::uintptr_t at = 0;
  std::uintptr_t before = 0;
  std::uintptr_t after = 0;
  int prot = -1;  // known protection of the page (our own slots), -1 to look it up
};

inline constexpr int kSlotProt = PROT_READ;  // redirect slots are read-only between switches

/// Stores every pointer; on failure puts back the ones already stored.
inline Status write_pointers(const std::vector<PointerWrite>& writes) {
  for (std::size_t i = 0; i < writes.size(); ++i) {
    if (auto s = os::store_pointer(writes[i].at, writes[i].after, writes[i].prot); !s) {
      for (std::size_t k = i; k-- > 0;) (void)os::store_pointer(writes[k].at, writes[k].before, writes[k].prot);
      return s;
    }
  }
  return {};
}

}  // namespace hotpatch::engine
