// One function's entry redirect: site --jmp--> thunk --jmp [slot]--> active version.
// Switching between patch versions is then one atomic pointer store into the slot; only the first
// apply and the final revert rewrite code. Trampoline, thunk and slot live near the function (rel32
// reach) and are kept for the life of the process: a thread may still be in the trampoline, and
// re-applying reuses them.
#pragma once

#include "arch/x86_64/instruction_scan.hpp"
#include "arch/x86_64/jump_encoding.hpp"

#include <hotpatch/error.hpp>

#include <array>
#include <chrono>
#include <cstdint>
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
};

struct RedirectRequest {
  std::string name;
  std::uintptr_t function = 0;
  arch::EntryPlan plan;
  std::uintptr_t initial_target = 0;  ///< value of the slot when the jump goes live
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

/// Original entry bytes -> jump, for all at once, safe against threads running them (int3 first,
/// thread check, then the jump). On failure every entry is back to its original bytes.
Status install_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

/// Jump -> original entry bytes, byte for byte, for all at once.
Status remove_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

}  // namespace hotpatch::engine
