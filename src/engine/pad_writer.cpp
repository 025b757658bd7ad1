// The pad protocol, for entries with a compiler-placed pad (arch/x86_64/entry_pad.hpp). First the
// pad's jump to the thunk (no thread executes the pad yet), sync cores; then the two entry bytes
// walk through these states, one byte per step, each step followed by a core sync:
//   original (90 90, or clang's 66 90)  <->  90 90  <->  90 D  <->  EB D (the short jump)
// Installing walks right, removing walks left. Each state is whole instructions for a thread
// standing anywhere in it, and each step changes one byte, so a thread sees the old or the new
// byte, never half of a change. The sync after each step follows Intel's rule for cross-modifying
// code (a processor serialises before it runs code another one changed; docs/performance.md has
// what this relies on): no core can combine a byte of one step with a stale byte of an earlier one
// (say EB with the original 90, a jump to nowhere).
//
// The pad keeps its jump after a removal. A thread that took the short jump can be preempted on the
// pad's first byte, just before the jump, for as long as the scheduler likes; taking a 5-byte jump
// back to NOPs under it cannot be done through valid states, and proving nobody is there is the
// thread round this protocol exists to avoid. The pad is outside the function (the compiler put it
// there for this use), the jump leads to the thunk, which lives as long as the process, and a later
// apply finds it in place.
#include "engine/entry_redirect.hpp"

#include "os/linux/code_writer.hpp"
#include "os/linux/thread_round.hpp"
#include "support/log.hpp"

#include <array>
#include <cstring>
#include <vector>

namespace hotpatch::engine {
namespace {

using arch::kNop;
using arch::kPadSize;

enum State { original = 0, two_nops = 1, displaced = 2, armed = 3 };

std::array<std::uint8_t, 2> bytes_of(const EntryRedirect& e, int state) {
  const auto& p = *e.pad;
  switch (state) {
    case original: return p.entry;
    case two_nops: return {kNop, p.entry[1]};
    case displaced: return {kNop, p.short_jump[1]};
    default: return p.short_jump;
  }
}

Error with_context(Error e, const std::string& step) {
  e.message = step + ": " + e.message;
  return e;
}

// One step for every entry: the byte that differs between the two adjacent states, then a sync.
// On failure the entries are back in `from` (as far as writing allows) and the error says why.
// `last` marks the step that completes the walk: its writes stand even if the sync fails, since a
// core that missed it runs the new bytes once it next serialises (any interrupt or system call).
Status step(std::span<EntryRedirect* const> entries, int from, int to, bool last, std::chrono::milliseconds timeout) {
  // The byte that differs, if any (gcc's entries start in the two-NOP state).
  auto differing = [&](const EntryRedirect& e) -> int {
    const auto a = bytes_of(e, from), b = bytes_of(e, to);
    return a[0] != b[0] ? 0 : a[1] != b[1] ? 1 : -1;
  };
  std::size_t done = 0;
  std::size_t written = 0;
  Status result;
  for (; done < entries.size() && result; ++done) {
    const int i = differing(*entries[done]);
    if (i < 0) continue;
    result = os::write_code(entries[done]->site + i, &bytes_of(*entries[done], to)[i], 1);
    if (!result) break;
    ++written;
  }
  if (result && written == 0) return {};  // no byte changed (gcc's entries start as two NOPs): nothing to sync
  if (result) {
    auto s = os::sync_cores(timeout);
    if (s) return {};
    if (last) {
      log::warning("synchronising cores after an entry-pad write failed (" + s.error().what() + "); the bytes are written");
      return {};
    }
    result = with_context(s.error(), "synchronising cores after writing entry bytes");
  }
  for (std::size_t k = 0; k < done; ++k) {
    if (const int i = differing(*entries[k]); i >= 0)
      (void)os::write_code(entries[k]->site + i, &bytes_of(*entries[k], from)[i], 1);
  }
  (void)os::sync_cores(timeout);
  return result;
}

// Walks every entry from state `from` to `to`; on failure walks back to `from` and reports.
Status walk(std::span<EntryRedirect* const> entries, int from, int to, std::chrono::milliseconds timeout) {
  const int dir = to > from ? 1 : -1;
  for (int at = from; at != to; at += dir) {
    if (auto s = step(entries, at, at + dir, at + dir == to, timeout); !s) {
      for (int back = at; back != from; back -= dir) {
        if (auto u = step(entries, back, back - dir, false, timeout); !u) {
          Error e = s.error();
          e.message += "; going back also failed (" + u.error().what() +
                       "); the entries hold whole instructions, so callers run the old or the new code";
          log::write(LogLevel::error, e.what());
          return e;
        }
      }
      return s;
    }
  }
  return {};
}

// Pads this transaction wrote: unreachable until an entry's byte 0 changes, so they may go back to
// the compiler's NOPs. (A pad that already held the jump may have a caller on it: never these.)
Status restore_pads(std::span<EntryRedirect* const> written) {
  Status first;
  for (const EntryRedirect* e : written)
    if (auto s = os::write_code(e->pad_address(), e->pad->pad.data(), kPadSize); !s && first) first = s;
  return first;
}

Status with_undo(Status failure, const Status& undo) {
  if (undo || failure) return failure;
  Error e = failure.error();
  e.message += "; restoring the pads also failed (" + undo.error().what() + "); no entry leads to them";
  return e;
}

}  // namespace

Status write_pads(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout,
                  std::vector<EntryRedirect*>& written) {
  written.clear();
  if (entries.empty()) return {};
  HOTPATCH_TRY(os::prepare_sync_cores());
  std::vector<EntryRedirect*> pads;  // those still holding the compiler's NOPs
  for (EntryRedirect* e : entries)
    if (std::memcmp(reinterpret_cast<const void*>(e->pad_address()), e->pad_jump.data(), kPadSize) != 0) pads.push_back(e);
  if (pads.empty()) return {};
  for (std::size_t i = 0; i < pads.size(); ++i) {
    if (auto s = os::write_code(pads[i]->pad_address(), pads[i]->pad_jump.data(), kPadSize); !s)
      return with_undo(s, restore_pads(std::span(pads).first(i)));
  }
  // Before any entry leads to a pad, every core must see the pad's jump whole.
  if (auto s = os::sync_cores(timeout); !s)
    return with_undo(with_context(s.error(), "synchronising cores after the pad jumps"), restore_pads(pads));
  written = std::move(pads);
  return {};
}

Status unwrite_pads(std::span<EntryRedirect* const> written) { return restore_pads(written); }

Status arm_pads(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  return walk(entries, original, armed, timeout);
}

Status install_pad_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  std::vector<EntryRedirect*> written;
  HOTPATCH_TRY(write_pads(entries, timeout, written));
  // Not restored after a failed arm: some entry may have led to its pad for a moment.
  return arm_pads(entries, timeout);
}

Status remove_pad_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  HOTPATCH_TRY(os::prepare_sync_cores());
  return walk(entries, armed, original, timeout);
}

}  // namespace hotpatch::engine
