// Decides whether a function can take an entry jump, and relocates the instructions the jump
// overwrites into a trampoline (so a thread caught inside them can finish them elsewhere).
#pragma once

#include <hotpatch/error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch::arch {

/// Longest run of whole instructions a 5-byte jump can overwrite (4 bytes + one maximal instruction).
inline constexpr std::size_t kMaxOverwritten = 4 + 15;
inline constexpr std::uint8_t kNoBoundary = 0xFF;

/// Where and what the entry jump overwrites in one function.
struct EntryPlan {
  std::size_t site_offset = 0;        ///< jump position from the symbol (4 after an endbr64)
  std::size_t overwritten = 0;        ///< whole instructions covered by the jump, from the site
  std::size_t first_instruction = 0;  ///< length of the instruction at the site
  std::array<std::uint8_t, kMaxOverwritten> original{};  ///< bytes [site, site + overwritten)
  /// True when a thread can stand strictly inside the jump's 5 bytes (an instruction starts there).
  bool needs_thread_check() const { return first_instruction < 5; }
};

/// Checks `code` (a function of `size` bytes at `address`) and plans its entry jump. Refuses, with
/// the reason, functions too short, undecodable, with a call in the overwritten bytes, or with a
/// branch anywhere in the function that lands inside those bytes.
/// An endbr64 is kept (the jump goes after it) unless the function is too short for that and
/// `ibt_enforced` is false: without indirect-branch tracking the endbr64 is a NOP and may be
/// overwritten like any instruction.
Result<EntryPlan> plan_entry(const std::uint8_t* code, std::size_t size, std::uint64_t address,
                             const std::string& name, bool ibt_enforced = true);

/// The overwritten instructions relocated to `trampoline_address`, followed by a jump back to the
/// first byte after them. offset_map[i] is where the instruction at site+i starts in the copy.
struct RelocatedEntry {
  std::vector<std::uint8_t> bytes;
  std::array<std::uint8_t, kMaxOverwritten> offset_map{};
};

Result<RelocatedEntry> relocate_entry(const EntryPlan& plan, std::uint64_t site_address,
                                      std::uint64_t trampoline_address, const std::string& name);

/// Upper bound of RelocatedEntry::bytes.size(), for reserving trampoline space.
inline constexpr std::size_t kMaxTrampolineSize = 64;

}  // namespace hotpatch::arch
