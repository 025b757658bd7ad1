// Pointer stores the engine makes (redirect slots, vtable slots), undone together on failure.
#pragma once

#include "os/linux/code_writer.hpp"

#include <sys/mman.h>

#include <algorithm>
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

/// Stores every pointer; on failure puts back the ones already stored. The order among them does
/// not matter to callers (each pointer is switched atomically on its own), so they go page by page.
inline Status write_pointers(std::vector<PointerWrite> writes) {
  // A pointer that already holds its new value needs no store (a reverted version applied again
  // finds its kept slot still pointing at it); a store skipped is also never undone.
  std::erase_if(writes, [](const PointerWrite& w) {
    return __atomic_load_n(reinterpret_cast<const std::uintptr_t*>(w.at), __ATOMIC_ACQUIRE) == w.after;
  });
  std::stable_sort(writes.begin(), writes.end(), [](const auto& a, const auto& b) { return a.at < b.at; });
  std::vector<os::PointerStore> forward;
  forward.reserve(writes.size());
  for (const auto& w : writes) forward.push_back({w.at, w.after, w.prot});
  std::size_t done = 0;
  auto s = os::store_pointers(forward, done);
  if (!s) {
    std::vector<os::PointerStore> back;
    for (std::size_t k = 0; k < done; ++k) back.push_back({writes[k].at, writes[k].before, writes[k].prot});
    std::size_t ignored = 0;
    (void)os::store_pointers(back, ignored);
  }
  return s;
}

}  // namespace hotpatch::engine
