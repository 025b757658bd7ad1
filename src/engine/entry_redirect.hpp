// One function's entry redirect: site --jmp--> thunk --jmp [slot]--> active version. A function
// with a compiler-placed pad (arch/x86_64/entry_pad.hpp) goes site --jmp short--> pad --jmp--> thunk,
// written without any trap.
// Switching between patch versions is then one atomic pointer store into the slot; only the first
// apply and the final revert rewrite code. Trampoline, thunk and slot live near the function (rel32
// reach) and are kept for the life of the process: a thread may still be in the trampoline, and
// re-applying reuses them.
#pragma once

#include "arch/x86_64/entry_pad.hpp"
#include "arch/x86_64/instruction_scan.hpp"
#include "arch/x86_64/jump_encoding.hpp"

#include <hotpatch/error.hpp>
#include <hotpatch/runtime.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace hotpatch::engine {

struct EntryRedirect {
  std::string name;
  std::uintptr_t function = 0;
  std::uintptr_t site = 0;
  std::uintptr_t trampoline = 0;
  std::uintptr_t thunk = 0;
  std::uintptr_t slot = 0;
  arch::EntryPlan plan;
  arch::RelocatedEntry relocated;
  std::array<std::uint8_t, arch::kEntryJumpSize> jump{};  ///< site -> thunk
  std::optional<arch::PadPlan> pad;                        ///< set: the entry has a compiler-placed pad
  std::array<std::uint8_t, arch::kPadSize> pad_jump{};     ///< pad -> thunk, when `pad` is set
  std::uintptr_t pad_address() const { return function - arch::kPadSize; }
};

struct RedirectRequest {
  std::string name;
  std::uintptr_t function = 0;
  arch::EntryPlan plan;
  std::uintptr_t initial_target = 0;  ///< value of the slot when the jump goes live
  std::optional<arch::PadPlan> pad;
};

/// Memory mapped for a batch of redirects; unmapped only if the batch never went live.
struct RedirectBlock {
  std::uintptr_t base = 0;
  std::size_t size = 0;
};

/// Builds trampolines, thunks and slots for `requests`, grouping functions that lie close together
/// into one mapping each. Code pages end up read+execute, slot pages read-only.
Status build_redirects(std::span<const RedirectRequest> requests, std::vector<EntryRedirect>& out,
                       std::vector<RedirectBlock>& blocks);

/// The compiler-placed pad of the function at `function` (`size` bytes) in `module`, when the
/// module lists it and its bytes are still the compiler's NOPs (a jump someone else wrote there
/// means: not ours to use). Nullopt otherwise: the function takes the int3 protocol.
std::optional<arch::PadPlan> find_entry_pad(const LoadedModule& module, std::uintptr_t function, std::size_t size);

/// Original entry bytes -> jump, for all at once, safe against threads running them; on failure
/// every entry is back to its original bytes. Entries with a pad take the pad protocol, the others
/// the int3 one.
Status install_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

/// Jump -> original entry bytes, byte for byte, for all at once.
Status remove_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

/// How many of `entries` have a pad (for EngineStats::pad_writes).
inline std::uint64_t count_padded(std::span<EntryRedirect* const> entries) {
  std::uint64_t n = 0;
  for (const EntryRedirect* e : entries) n += e->pad.has_value();
  return n;
}

/// True when the entry holds the jump install_jumps wrote (a module loaded again at the same
/// address holds its original bytes instead). Reads the entry: its module must be mapped.
bool jump_in_place(const EntryRedirect& entry);

/// The int3 protocol (entry_writer.cpp): int3 first, thread check, then the jump.
Status install_trap_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);
Status remove_trap_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

/// The pad protocol (pad_writer.cpp): the pad's jump, then the entry's short jump byte by byte.
/// No trap, no thread check, no thread held. The pad keeps its jump on removal (see there).
Status install_pad_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);
Status remove_pad_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);
/// The pad protocol's steps, for sets that mix both: the pads' jumps (unreachable yet; `written`
/// gets the pads that held NOPs), taking those back out while still unreachable, and the entries'
/// short jumps.
Status write_pads(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout,
                  std::vector<EntryRedirect*>& written);
Status unwrite_pads(std::span<EntryRedirect* const> written);
Status arm_pads(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

}  // namespace hotpatch::engine
