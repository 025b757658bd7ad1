// A pad is used only when two independent witnesses agree: the module's own list of
// compiler-placed NOP areas, and the bytes in memory now (still the compiler's NOPs, inside one
// executable segment with the function).
#include "engine/entry_redirect.hpp"

#include "image/patchable_entries.hpp"
#include "os/linux/loaded_segments.hpp"

namespace hotpatch::engine {

std::optional<arch::PadPlan> find_entry_pad(const LoadedModule& module, std::uintptr_t function, std::size_t size) {
  if (size == 0 || function < arch::kPadSize) return std::nullopt;
  const std::uintptr_t pad = function - arch::kPadSize;
  if (!image::lists_patchable_entry(module, pad)) return std::nullopt;
  auto segment = os::segment_containing(pad);
  if (!segment || !segment->executable || function + size > segment->hi) return std::nullopt;
  return arch::plan_entry_pad(reinterpret_cast<const std::uint8_t*>(pad), size);
}

}  // namespace hotpatch::engine
