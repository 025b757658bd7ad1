// Stopping the threads the signal-based write protocol cannot reach, for the microseconds of a write.
//
// A thread that blocks SIGTRAP must never execute a temporary int3: the kernel forces a blocked
// synchronous trap to its default action, and the whole process dies. A running thread that blocks
// the check signal cannot be asked where it stands. Such threads are stopped with ptrace for the
// write window, by a tracer the runtime creates for the purpose (a thread group cannot trace its own
// threads): a process sharing our memory, running only raw system calls, killed if the thread that
// created it dies.
//
// A held thread resumes exactly where it was: a PC inside overwritten bytes moves to the same
// instruction in the site's trampoline; a system call the stop interrupted restarts (the kernel
// restarts most by itself; the few that return EINTR after any stop are restarted by the tracer
// when no signal is waiting for the thread); its signal mask is what it was. While held, SIGTRAP
// and the check signal are unblocked in its mask, so that if the tracer is killed mid-write, the
// threads the kernel releases meet a handled int3, not a fatal one.
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace hotpatch::os {

/// Why a thread must be held, from its signal mask and state.
struct HoldReason {
  int tid = 0;
  std::uint64_t blocked = 0;  ///< SigBlk
  bool blocks_trap = false;
  bool blocks_check = false;
};

/// The other threads that block SIGTRAP, and the running ones that block `check_signal`.
std::vector<HoldReason> threads_to_hold(int check_signal);

class ThreadHold {
 public:
  /// Stops every thread in `threads` (other threads of this process) and unblocks `unblock_mask`
  /// in each one's signal mask. On failure nothing stays stopped, and the error names the thread
  /// and the reason (ptrace refused: not dumpable, a seccomp filter, Yama; or it did not stop).
  static Result<ThreadHold> stop(std::span<const HoldReason> threads, std::uint64_t unblock_mask,
                                 std::chrono::milliseconds timeout);

  ThreadHold();
  ThreadHold(ThreadHold&&) noexcept;
  ThreadHold& operator=(ThreadHold&&) noexcept;
  ThreadHold(const ThreadHold&) = delete;
  ThreadHold& operator=(const ThreadHold&) = delete;
  ~ThreadHold();  ///< releases, relocating nothing

  /// Thread ids stopped now.
  const std::vector<int>& held() const;

  /// Resumes every held thread. `relocate` maps the PC a thread stopped at to the PC it continues
  /// at (the identity for PCs outside every overwritten site). Returns how many threads moved.
  /// `relocate_nested`, given a held thread's stack pointer, moves the interrupted contexts of its
  /// own signal handlers out of overwritten bytes and says how many it moved.
  Result<std::size_t> release(const std::function<std::uintptr_t(std::uintptr_t)>& relocate,
                              const std::function<std::size_t(std::uintptr_t)>& relocate_nested = {});

 private:
  struct Tracer;
  std::unique_ptr<Tracer> tracer_;
  std::vector<int> held_;
};

}  // namespace hotpatch::os
