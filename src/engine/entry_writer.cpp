// The code-writing protocol (see os/linux/thread_round.hpp for why each step is there):
//   1. register every site (trap and thread-check handlers know its trampoline)
//   2. int3 at byte 0 of every site, sync cores: new callers trap and run the old code whole
//   3. thread check: nobody stands inside bytes 1..4 (skipped when the first instruction covers them)
//   4. bytes 1..4, sync cores         5. byte 0 (the jmp opcode), sync cores
// Removing a jump needs no thread check: a jmp is one instruction, nobody can be inside it.
#include "engine/entry_redirect.hpp"

#include "os/linux/code_writer.hpp"
#include "os/linux/thread_round.hpp"

#include <algorithm>
#include <cstring>

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

}  // namespace

static Status install_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);
static Status remove_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout);

Status install_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
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
  // Threads that an int3 would kill or a round cannot reach are stopped for the whole window.
  HOTPATCH_LET(hold, os::hold_unreachable_threads(timeout));
  Status s = install_held(entries, timeout);
  os::release_held_threads(hold);
  return s;
}

static Status install_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  std::size_t done = 0;
  if (auto s = write_int3(entries, done); !s) {
    (void)undo_to_original(entries.first(done), {}, timeout);
    return s;
  }
  if (auto s = os::sync_cores(timeout); !s) {
    (void)undo_to_original(entries, {}, timeout);
    return with_context(s.error(), "synchronising cores after the int3");
  }
  const bool check = std::any_of(entries.begin(), entries.end(), [](const EntryRedirect* e) { return e->plan.needs_thread_check(); });
  if (check) {
    if (auto c = os::check_threads(timeout); !c) {
      (void)undo_to_original(entries, {}, timeout);
      return c.error();
    }
  }
  if (auto s = write_tail(entries, true, done); !s) {
    (void)undo_to_original(entries, entries.first(done), timeout);
    return s;
  }
  if (auto s = os::sync_cores(timeout); !s) {
    (void)undo_to_original(entries, entries, timeout);
    return with_context(s.error(), "synchronising cores after the jump's displacement");
  }
  if (auto s = write_head(entries, true, done); !s) {
    // Entries [0, done) are live jumps: take them back out the same careful way.
    (void)remove_held(entries.first(done), timeout);
    (void)undo_to_original(entries.subspan(done), entries.subspan(done), timeout);
    return s;
  }
  return os::sync_cores(timeout);
}

Status remove_jumps(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  if (entries.empty()) return {};
  HOTPATCH_LET(hold, os::hold_unreachable_threads(timeout));
  Status s = remove_held(entries, timeout);
  os::release_held_threads(hold);
  return s;
}

static Status remove_held(std::span<EntryRedirect* const> entries, std::chrono::milliseconds timeout) {
  std::size_t done = 0;
  auto back_to_jump = [&](std::span<EntryRedirect* const> int3_sites) {
    std::size_t ignored = 0;
    (void)write_head(int3_sites, true, ignored);
    (void)os::sync_cores(timeout);
  };
  if (auto s = write_int3(entries, done); !s) {
    back_to_jump(entries.first(done));
    return s;
  }
  if (auto s = os::sync_cores(timeout); !s) {
    back_to_jump(entries);
    return with_context(s.error(), "synchronising cores after the int3");
  }
  if (auto s = write_tail(entries, false, done); !s) {
    std::size_t ignored = 0;
    (void)write_tail(entries.first(done), true, ignored);
    (void)os::sync_cores(timeout);
    back_to_jump(entries);
    return s;
  }
  HOTPATCH_TRY(os::sync_cores(timeout));
  HOTPATCH_TRY(write_head(entries, false, done));
  return os::sync_cores(timeout);
}

}  // namespace hotpatch::engine
