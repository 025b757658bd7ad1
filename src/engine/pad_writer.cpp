// The pad protocol, for entries with a compiler-placed pad (arch/x86_64/entry_pad.hpp):
//   1. the pad's jump to the thunk (no thread executes the pad yet), sync cores
//   2. the entry's byte 1 (the short jump's displacement), sync cores
//   3. the entry's byte 0 (the short jump's opcode), sync cores
// and removal in the reverse order (byte 0, sync, byte 1, sync). Each write is one byte (or, in
// step 1, bytes no thread can be executing), and each leaves an instruction stream valid wherever a
// thread stands: 90 90 -> 90 D -> EB D. The synchronisation between writes is what the Intel and
// AMD rules on cross-modifying code ask for: every core executes a serialising instruction before
// it can fetch the next changed byte, so no core ever combines a new byte 0 with a stale byte 1.
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

#include <cstring>
#include <vector>

namespace hotpatch::engine {
namespace {

using arch::kPadSize;

// Byte `index` of every entry's short jump (`armed`) or original NOPs; `done` counts entries written.
Status write_entry_byte(std::span<EntryRedirect* const> entries, std::size_t index, bool armed, std::size_t& done) {
  for (done = 0; done < entries.size(); ++done) {
    const EntryRedirect& e = *entries[done];
    const std::uint8_t b = armed ? e.pad->short_jump[index] : e.pad->entry[index];
    HOTPATCH_TRY(os::write_code(e.site + index, &b, 1));
  }
  return {};
}

Error with_context(Error e, const std::string& step) {
  e.message = step + ": " + e.message;
  return e;
}

// A failure whose clean-up also failed: both are reported.
Status with_undo(Status failure, const Status& undo) {
  if (undo || failure) return failure;
  Error e = failure.error();
  e.message += "; restoring the previous entry bytes also failed (" + undo.error().what() +
               "); the entries hold whole one-byte instructions, so callers run the previous code";
  log::write(LogLevel::error, e.what());
  return e;
}

// Entry byte `index` back to armed/unarmed for every entry, then sync: the undo of one step.
Status put_back(std::span<EntryRedirect* const> entries, std::size_t index, bool armed,
                std::chrono::milliseconds timeout) {
  std::size_t ignored = 0;
  HOTPATCH_TRY(write_entry_byte(entries, index, armed, ignored));
  return os::sync_cores(timeout);
}

// Pads this transaction wrote: unreachable until an entry's byte 0 changes, so they may go back to
// the compiler's NOPs. (A pad that already held the jump may have a caller on it: never these.)
Status restore_pads(std::span<EntryRedirect* const> written) {
  Status first;
  for (const EntryRedirect* e : written)
    if (auto s = os::write_code(e->pad_address(), e->pad->pad.data(), kPadSize); !s && first) first = s;
  return first;
}

}  // namespace

Status write_pads(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout,
                  std::vector<EntryRedirect*>& written) {
  written.clear();
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
  std::size_t done = 0;
  if (auto s = write_entry_byte(entries, 1, true, done); !s) return with_undo(s, put_back(entries.first(done), 1, false, timeout));
  if (auto s = os::sync_cores(timeout); !s)
    return with_undo(with_context(s.error(), "synchronising cores after the short jumps' displacement"),
                     put_back(entries, 1, false, timeout));
  if (auto s = write_entry_byte(entries, 0, true, done); !s) {
    Status undo = put_back(entries.first(done), 0, false, timeout);
    if (undo) undo = put_back(entries, 1, false, timeout);
    return with_undo(s, undo);
  }
  // The writes are complete; a core that misses this serialisation runs the short jump once it next
  // serialises (any interrupt or system call), so the change stands.
  if (auto s = os::sync_cores(timeout); !s)
    log::warning("synchronising cores after the short jumps went live failed (" + s.error().what() +
                 "); the bytes are written");
  return {};
}

Status install_pad_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  std::vector<EntryRedirect*> written;
  HOTPATCH_TRY(write_pads(entries, timeout, written));
  // A pad that was NOPs before this call stays unreachable until an arm reaches byte 0, and is not
  // restored after a failed arm: some entries may have led to it for a moment.
  return arm_pads(entries, timeout);
}

Status remove_pad_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  std::size_t done = 0;
  if (auto s = write_entry_byte(entries, 0, false, done); !s)
    return with_undo(s, put_back(entries.first(done), 0, true, timeout));
  // Unsynchronised, a core could still hold the old opcode when byte 1 changes under it: back to
  // the jump rather than on.
  if (auto s = os::sync_cores(timeout); !s)
    return with_undo(with_context(s.error(), "synchronising cores after the short jumps' opcode"),
                     put_back(entries, 0, true, timeout));
  if (auto s = write_entry_byte(entries, 1, false, done); !s) {
    // Back to EB D: the displacement first, so no entry ever reads EB 90.
    Status undo = put_back(entries.first(done), 1, true, timeout);
    if (undo) undo = put_back(entries, 0, true, timeout);
    return with_undo(s, undo);
  }
  if (auto s = os::sync_cores(timeout); !s)
    log::warning("synchronising cores after the entries' NOPs were restored failed (" + s.error().what() +
                 "); the bytes are written");
  return {};
}

}  // namespace hotpatch::engine
