// The int3 code-writing protocol, for entries without a compiler-placed pad (see os/linux/thread_round.hpp for why each step is there):
//   1. register every site (trap and thread-check handlers know its trampoline)
//   2. int3 at byte 0 of every site, sync cores: new callers trap and run the old code whole
//   3. thread check: nobody stands inside bytes 1..4 (skipped when the first instruction covers them)
//   4. bytes 1..4, sync cores         5. byte 0 (the jmp opcode), sync cores
// Removing a jump needs no thread check: a jmp is one instruction, nobody can be inside it.
#include "engine/entry_redirect.hpp"

#include "os/linux/code_writer.hpp"
#include "os/linux/thread_round.hpp"
#include "support/log.hpp"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace hotpatch::engine {
namespace {

using arch::kEntryJumpSize;
using arch::kInt3;

Status write_int3(std::span<EntryRedirect* const> entries, std::size_t& done) {
  for (done = 0; done < entries.size(); ++done) {
    HOTPATCH_TRY(os::write_code(entries[done]->site, &kInt3, 1));
  }
  return {};
}

Status write_tail(std::span<EntryRedirect* const> entries, bool to_jump, std::size_t& done) {
  for (done = 0; done < entries.size(); ++done) {
    const EntryRedirect& e = *entries[done];
    const std::uint8_t* bytes = to_jump ? e.jump.data() : e.plan.original.data();
    HOTPATCH_TRY(os::write_code(e.site + 1, bytes + 1, kEntryJumpSize - 1));
  }
  return {};
}

Status write_head(std::span<EntryRedirect* const> entries, bool to_jump, std::size_t& done) {
  for (done = 0; done < entries.size(); ++done) {
    const EntryRedirect& e = *entries[done];
    const std::uint8_t* bytes = to_jump ? e.jump.data() : e.plan.original.data();
    HOTPATCH_TRY(os::write_code(e.site, bytes, 1));
  }
  return {};
}

// Best effort back to the original bytes for entries that hold an int3 at byte 0 and either the
// original or the jump's bytes 1..4. Returns the first error, if any, for the report.
Status undo_to_original(std::span<EntryRedirect* const> with_int3, std::span<EntryRedirect* const> with_new_tail,
                        std::chrono::milliseconds timeout) {
  Status first;
  std::size_t ignored = 0;
  if (!with_new_tail.empty()) {
    if (auto s = write_tail(with_new_tail, false, ignored); !s && first) first = s;
    if (auto s = os::sync_cores(timeout); !s && first) first = s;
  }
  if (auto s = write_head(with_int3, false, ignored); !s && first) first = s;
  if (auto s = os::sync_cores(timeout); !s && first) first = s;
  return first;
}

Error with_context(Error e, const std::string& step) {
  e.message = step + ": " + e.message;
  return e;
}

// Lines logged once the held threads run again: one of them may hold the log's lock.
thread_local std::vector<std::pair<LogLevel, std::string>> t_deferred_log;

void flush_deferred_log() {
  for (auto& [level, line] : t_deferred_log) log::write(level, line);
  t_deferred_log.clear();
}

// Appends to `e`, and logs, that these functions may keep a temporary int3 (each call then takes
// a trap and runs the previous code, slowly).
Error int3_may_stay(Error e, const std::string& why, std::span<EntryRedirect* const> sites) {
  std::string names;
  for (std::size_t i = 0; i < sites.size() && i < 8; ++i) names += (i ? ", " : "") + sites[i]->name;
  if (sites.size() > 8) names += " and " + std::to_string(sites.size() - 8) + " more";
  e.message += "; " + why + ": " + names + " may keep a temporary int3 at the entry";
  t_deferred_log.emplace_back(LogLevel::error, e.what());
  return e;
}

// A failure whose clean-up also failed: both are reported.
Status with_undo(Status failure, const Status& undo, std::span<EntryRedirect* const> sites) {
  if (undo || failure) return failure;
  return int3_may_stay(failure.error(), "restoring the previous bytes also failed (" + undo.error().what() + ")", sites);
}

// Holds the threads a write cannot otherwise make safe (see os/linux/thread_hold.hpp) around
// `write`, then logs what the window deferred.
template <class Write>
Status while_held(std::chrono::milliseconds timeout, Write&& write) {
  HOTPATCH_LET(hold, os::hold_unreachable_threads(timeout));
  Status s = write();
  os::release_held_threads(hold);
  flush_deferred_log();
  return s;
}

// The writes are complete; a core that misses this serialisation runs the new bytes once it
// next serialises (any interrupt or system call), so the change stands and is recorded.
void warn_late_sync(const Status& s, const char* step) {
  if (!s)
    t_deferred_log.emplace_back(LogLevel::warning, std::string("synchronising cores after ") + step + " failed (" +
                                                       s.error().what() + "); the bytes are written");
}

}  // namespace

static Status install_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);
static Status remove_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

Status install_trap_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  std::vector<os::SiteRecord> sites;
  for (const EntryRedirect* e : entries) {
    os::SiteRecord r;
    r.site = e->site;
    r.trampoline = e->trampoline;
    r.length = static_cast<std::uint8_t>(e->plan.overwritten);
    std::copy(e->relocated.offset_map.begin(), e->relocated.offset_map.end(), r.offset_map);
    sites.push_back(r);
  }
  HOTPATCH_TRY(os::register_sites(sites));
  return while_held(timeout, [&] { return install_held(entries, timeout); });
}

static Status install_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  std::size_t done = 0;
  if (auto s = write_int3(entries, done); !s) return with_undo(s, undo_to_original(entries.first(done), {}, timeout), entries.first(done));
  if (auto s = os::sync_cores(timeout); !s)
    return with_undo(with_context(s.error(), "synchronising cores after the int3"), undo_to_original(entries, {}, timeout), entries);
  const bool check = std::any_of(entries.begin(), entries.end(), [](const EntryRedirect* e) { return e->plan.needs_thread_check(); });
  if (check) {
    if (auto c = os::check_threads(timeout); !c) return with_undo(c.error(), undo_to_original(entries, {}, timeout), entries);
  }
  if (auto s = write_tail(entries, true, done); !s) return with_undo(s, undo_to_original(entries, entries.first(done), timeout), entries);
  if (auto s = os::sync_cores(timeout); !s)
    return with_undo(with_context(s.error(), "synchronising cores after the jump's displacement"),
                     undo_to_original(entries, entries, timeout), entries);
  if (auto s = write_head(entries, true, done); !s) {
    // Entries [0, done) are live jumps: take them back out the same careful way.
    Status undo = remove_held(entries.first(done), timeout);
    if (auto rest = undo_to_original(entries.subspan(done), entries.subspan(done), timeout); !rest && undo) undo = rest;
    return with_undo(s, undo, entries);
  }
  warn_late_sync(os::sync_cores(timeout), "the jumps went live");
  return {};
}

Status remove_trap_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  return while_held(timeout, [&] { return remove_held(entries, timeout); });
}

static Status remove_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  std::size_t done = 0;
  auto back_to_jump = [&](std::span<EntryRedirect* const> int3_sites) -> Status {
    std::size_t ignored = 0;
    HOTPATCH_TRY(write_head(int3_sites, true, ignored));
    return os::sync_cores(timeout);
  };
  if (auto s = write_int3(entries, done); !s) return with_undo(s, back_to_jump(entries.first(done)), entries.first(done));
  if (auto s = os::sync_cores(timeout); !s)
    return with_undo(with_context(s.error(), "synchronising cores after the int3"), back_to_jump(entries), entries);
  if (auto s = write_tail(entries, false, done); !s) {
    std::size_t ignored = 0;
    Status undo = write_tail(entries.first(done), true, ignored);
    if (undo) undo = os::sync_cores(timeout);
    if (undo) undo = back_to_jump(entries);
    return with_undo(s, undo, entries);
  }
  // Every site now holds an int3 and the original bytes after it: writing byte 0 finishes the
  // revert whatever the synchronisation said, which is better than leaving the traps.
  warn_late_sync(os::sync_cores(timeout), "the original bytes after the int3");
  if (auto s = write_head(entries, false, done); !s)
    return int3_may_stay(s.error(), "the revert stopped there", entries.subspan(done));
  warn_late_sync(os::sync_cores(timeout), "the revert");
  return {};
}

}  // namespace hotpatch::engine
