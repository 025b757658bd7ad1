// Writes into executable and read-only memory of this process without ever leaving a page writable.
#pragma once

#include <hotpatch/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace hotpatch::os {

/// Writes `n` bytes of code at `address`. First choice: pwrite to /proc/self/mem, which the kernel
/// allows into read-only text (FOLL_FORCE), so no page ever becomes writable. Fallback, when that is
/// blocked: mprotect the page(s) writable+executable for the write and back at once (executable the
/// whole time, because other threads may be running code on the same page). HOTPATCH_CODE_WRITE=
/// proc_mem|mprotect forces one. A refusal of both returns write_denied, saying what each answered.
Status write_code(std::uintptr_t address, const std::uint8_t* bytes, std::size_t n);

/// Stores an aligned pointer atomically into data that may be read-only (RELRO vtables, version
/// slots): the page is made writable (never executable) just for the store. `known_prot` (PROT_*
/// bits), when the caller knows them, saves reading /proc/self/maps.
Status store_pointer(std::uintptr_t address, std::uintptr_t value, int known_prot = -1);

struct PointerStore {
  std::uintptr_t address = 0;
  std::uintptr_t value = 0;
  int known_prot = -1;  ///< PROT_* bits of the page when known, -1 to look them up
};

/// The same for many pointers, in order; consecutive stores into one page share one protection
/// change (a thousand version slots cost two mprotect calls per page, not per slot). `done` says
/// how many were stored, also on failure.
Status store_pointers(std::span<const PointerStore> stores, std::size_t& done);

}  // namespace hotpatch::os
