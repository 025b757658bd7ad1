// Maps memory within rel32 reach of a code address: trampolines, thunks and version slots must be
// reachable from the function they serve (and reach back into it) with 32-bit displacements.
#pragma once

#include <hotpatch/error.hpp>

#include <cstddef>
#include <cstdint>

namespace hotpatch::os {

/// A private read-write anonymous mapping of `size` bytes (rounded up to pages) whose every byte
/// lies within `max_distance` of `near`.
Result<std::uintptr_t> map_near(std::uintptr_t near, std::size_t size, std::uint64_t max_distance);

/// Gives the mapping back (used only for blocks no thread could ever have executed).
void unmap(std::uintptr_t address, std::size_t size);

/// Makes [address, address+size) executable and read-only, or read-only data.
Status protect_code(std::uintptr_t address, std::size_t size);
Status protect_read_only(std::uintptr_t address, std::size_t size);

}  // namespace hotpatch::os
