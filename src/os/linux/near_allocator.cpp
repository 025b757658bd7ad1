#include "os/linux/near_allocator.hpp"

#include "os/linux/memory_map.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>

namespace hotpatch::os {
namespace {

constexpr std::uintptr_t kLowestAddress = 1ul << 20;          // stay clear of mmap_min_addr
constexpr std::uintptr_t kHighestAddress = (1ul << 47) - (1ul << 20);

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%#lx", static_cast<unsigned long>(v));
  return buf;
}

std::uint64_t distance(std::uintptr_t a, std::uintptr_t b) { return a > b ? a - b : b - a; }

}  // namespace

Result<std::uintptr_t> map_near(std::uintptr_t near, std::size_t size, std::uint64_t max_distance) {
  const std::size_t page = page_size();
  if (size == 0 || size > max_distance)
    return make_error(ErrorCode::internal, hex(near), "cannot map " + std::to_string(size) + " bytes within " +
                                                          std::to_string(max_distance >> 20) + " MiB of it");
  size = (size + page - 1) & ~(page - 1);
  for (int attempt = 0; attempt < 8; ++attempt) {
    auto maps = read_memory_map();
    if (!maps) return maps.error();
    std::sort(maps->begin(), maps->end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    // Candidate: in each gap, the page-aligned spot closest to `near` (a guard page on each side).
    std::uintptr_t best = 0;
    std::uint64_t best_distance = UINT64_MAX;
    std::uintptr_t gap_start = kLowestAddress;
    for (std::size_t i = 0; i <= maps->size(); ++i) {
      const std::uintptr_t gap_end = i < maps->size() ? (*maps)[i].start : kHighestAddress;
      if (gap_end > gap_start && gap_end - gap_start > size + 2 * page) {
        const std::uintptr_t lo = gap_start + page, hi = gap_end - page - size;
        std::uintptr_t spot = std::clamp<std::uintptr_t>(near & ~(page - 1), lo, hi);
        const std::uint64_t d = std::max(distance(spot, near), distance(spot + size, near));
        if (d <= max_distance && d < best_distance) {
          best = spot;
          best_distance = d;
        }
      }
      if (i < maps->size()) gap_start = std::max(gap_start, (*maps)[i].end);
    }
    if (best == 0)
      return make_error(ErrorCode::internal, hex(near),
                        "no free address range within " + std::to_string(max_distance >> 20) + " MiB");
    void* p = ::mmap(reinterpret_cast<void*>(best), size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == reinterpret_cast<void*>(best)) return best;
    if (p != MAP_FAILED) ::munmap(p, size);  // old kernels ignore the flag and place it elsewhere
    if (p == MAP_FAILED && errno != EEXIST)
      return make_error(ErrorCode::internal, hex(best), std::string("mmap near code failed: ") + std::strerror(errno));
  }
  return make_error(ErrorCode::internal, hex(near), "could not map memory near the code (address space races)");
}

void unmap(std::uintptr_t address, std::size_t size) { ::munmap(reinterpret_cast<void*>(address), size); }

Status protect_code(std::uintptr_t address, std::size_t size) {
  if (::mprotect(reinterpret_cast<void*>(address), size, PROT_READ | PROT_EXEC) != 0)
    return make_error(ErrorCode::write_denied, hex(address),
                      std::string("making trampoline memory executable was denied: mprotect: ") + std::strerror(errno) +
                          " (a W^X policy forbids new executable memory in this process: systemd's "
                          "MemoryDenyWriteExecute=, SELinux's execmem, or a seccomp filter)");
  return {};
}

Status protect_read_only(std::uintptr_t address, std::size_t size) {
  if (::mprotect(reinterpret_cast<void*>(address), size, PROT_READ) != 0)
    return make_error(ErrorCode::internal, hex(address), std::string("mprotect(PROT_READ) failed: ") + std::strerror(errno));
  return {};
}

}  // namespace hotpatch::os
