// Which protocol writes which entry, and all-or-nothing over a set that mixes both. On install the
// pads' jumps go first (no entry leads there yet), then the int3 protocol, then the short jumps: a
// refusal of the int3 part (a thread that cannot be stopped, say) leaves the pads exactly as the
// compiler made them. On removal the short jumps go first: they need no thread stopped, so undoing
// them after a failure of the int3 part is cheap.
#include "engine/entry_redirect.hpp"

#include <cstring>
#include <vector>

namespace hotpatch::engine {
namespace {

void split(std::span<EntryRedirect* const> entries, std::vector<EntryRedirect*>& padded,
           std::vector<EntryRedirect*>& trapped) {
  for (EntryRedirect* e : entries) (e->pad ? padded : trapped).push_back(e);
}

Status also_failed(Status failure, const Status& undo) {
  if (undo || failure) return failure;
  Error e = failure.error();
  e.message += "; undoing the other entries also failed (" + undo.error().what() + ")";
  return e;
}

}  // namespace

bool jump_in_place(const EntryRedirect& e) {
  const auto* site = reinterpret_cast<const void*>(e.site);
  if (!e.pad) return std::memcmp(site, e.jump.data(), e.jump.size()) == 0;
  return std::memcmp(site, e.pad->short_jump.data(), e.pad->short_jump.size()) == 0 &&
         std::memcmp(reinterpret_cast<const void*>(e.pad_address()), e.pad_jump.data(), e.pad_jump.size()) == 0;
}

Status install_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  std::vector<EntryRedirect*> padded, trapped;
  split(entries, padded, trapped);
  std::vector<EntryRedirect*> written;
  HOTPATCH_TRY(write_pads(padded, timeout, written));
  if (auto s = install_trap_jumps(trapped, timeout); !s) return also_failed(s, unwrite_pads(written));
  if (auto s = arm_pads(padded, timeout); !s) return also_failed(s, remove_trap_jumps(trapped, timeout));
  return {};
}

Status remove_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  std::vector<EntryRedirect*> padded, trapped;
  split(entries, padded, trapped);
  HOTPATCH_TRY(remove_pad_jumps(padded, timeout));
  if (auto s = remove_trap_jumps(trapped, timeout); !s) return also_failed(s, install_pad_jumps(padded, timeout));
  return {};
}

}  // namespace hotpatch::engine
