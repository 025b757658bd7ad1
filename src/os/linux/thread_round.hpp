// Keeping other threads safe while function entries are rewritten under them.
//
// A thread preempted strictly inside the bytes an entry jump overwrites (say at f+3) would resume in
// the middle of the new jump. Atomic stores and the int3-first protocol alone do not help (measured:
// crashes at f+3 within seconds). So, after a temporary int3 at every site is visible, each other
// thread is checked once: a thread blocked in the kernel is checked by reading its user PC from
// /proc/self/task/<tid>/syscall (no interruption); any other thread gets a signal whose handler
// moves a PC found inside overwritten bytes to the same instruction in a relocated copy of them
// (the site's trampoline). A caller that hits the temporary int3 is sent to the trampoline too, i.e.
// it runs the whole old version. Sites are registered for the life of the process because a trap
// taken just before a write can be handled just after it.
#pragma once

#include "arch/x86_64/instruction_scan.hpp"
#include "os/linux/thread_hold.hpp"

#include <hotpatch/error.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>

namespace hotpatch::os {

struct SiteRecord {
  std::uintptr_t site = 0;        ///< address of the entry jump
  std::uintptr_t trampoline = 0;  ///< relocated copy of the overwritten instructions
  std::uint8_t length = 0;        ///< overwritten bytes
  std::uint8_t offset_map[arch::kMaxOverwritten] = {};  ///< site offset -> trampoline offset
};

/// Installs the SIGTRAP and check-signal handlers once (HOTPATCH_SIGNAL picks the signal number,
/// default SIGRTMAX-3) and registers `sites` permanently.
Status register_sites(std::span<const SiteRecord> sites);

struct ThreadCheck {
  std::size_t threads = 0;    ///< other threads seen
  std::size_t signalled = 0;  ///< threads that got the check signal
  std::size_t blocked = 0;    ///< threads proven safe from their blocked-in-kernel PC
  std::size_t deferred = 0;   ///< signalled threads not yet scheduled: they run the handler first
};

/// Makes sure no other thread stands strictly inside registered entry bytes (moving any that does).
/// Fails with threads_unresponsive, naming the threads, when one does not answer within `timeout`.
Result<ThreadCheck> check_threads(std::chrono::milliseconds timeout);

/// Makes every thread of the process execute a serialising instruction before it next runs user
/// code, as cross-modifying code requires (membarrier SYNC_CORE; a signal round where unsupported).
Status sync_cores(std::chrono::milliseconds timeout);

/// Sets up what sync_cores needs (membarrier registration, the check signal's handler) once, so
/// that a setting that cannot work (HOTPATCH_SIGNAL) fails a write before its first byte.
Status prepare_sync_cores();

/// Stops, for one write window, the threads a signal round cannot make safe: those that block
/// SIGTRAP (an int3 would kill the process) and running ones that block the check signal. While
/// held they are left out of rounds. Fails, naming the thread, what it blocks and why it cannot be
/// stopped, before anything is written.
Result<ThreadHold> hold_unreachable_threads(std::chrono::milliseconds timeout);

/// Resumes the held threads; one stopped inside registered entry bytes continues at the same
/// instruction in the site's trampoline. A tracer that failed is logged, not returned: the write
/// itself is complete, and the threads were let go with SIGTRAP unblocked.
void release_held_threads(ThreadHold& hold);

/// Code a stack check looks for: [lo, hi).
struct CodeRange {
  std::uintptr_t lo = 0;
  std::uintptr_t hi = 0;
};

/// Walks the stack of the thread it runs in, from the context its signal interrupted; returns the
/// index of the first frame whose PC lies in the ranges the caller published (setting `pc`), -1 for
/// none, -2 when the stack could not be walked. Runs in a signal handler: async-signal-safe only.
using StackProbe = int (*)(const void* interrupted, std::uintptr_t* pc);

/// A thread found inside one of the ranges.
struct StackFinding {
  int tid = 0;
  int frame = 0;             ///< 0: the thread is executing there now
  std::uintptr_t pc = 0;
  bool from_scan = false;    ///< a thread asleep in the kernel: a return address found on its stack
};

/// Looks at every other thread's stack once. A running thread walks its own, in the check signal's
/// handler, with `probe`. A thread asleep in a system call is not woken (it would see EINTR): its
/// stack is scanned for return addresses into `ranges` instead, which may find a stale one (a
/// finding, never a miss). Fails when a thread does not answer within `timeout` (it blocks the
/// check signal), naming it.
Result<std::optional<StackFinding>> probe_stacks(StackProbe probe, std::span<const CodeRange> ranges,
                                                  std::chrono::milliseconds timeout);

struct SafetyCounters {
  std::uint64_t rounds = 0;
  std::uint64_t relocated = 0;
  std::uint64_t trap_redirects = 0;
  std::uint64_t held = 0;
};
SafetyCounters safety_counters();

}  // namespace hotpatch::os
