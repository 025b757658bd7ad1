// One thread of another process, stopped with PTRACE_SEIZE + PTRACE_INTERRUPT (the other threads
// keep running), made to call functions, and put back exactly as it was: general and extended
// registers, signal mask, and a system call it was blocked in, which resumes as if never
// interrupted. x86-64 only: the register conventions are in held_thread.cpp.
#pragma once

#include <hotpatch/error.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <sys/types.h>
#include <sys/user.h>
#include <vector>

namespace hotpatch::attach {

class HeldThread {
 public:
  /// Stops thread `tid` of process `pid`. An EPERM from the kernel comes back as ErrorCode::permission.
  static Result<HeldThread> seize(pid_t pid, pid_t tid);

  /// Lets thread `tid` run on to its next entry into a system call `wanted` accepts (it passes
  /// through others) and stops it there, before the call starts: for a busy thread that is never
  /// found blocked. At `deadline` it is let go where it is, and the error says so. A system call
  /// it is stopped at is issued again, unchanged, when it is let go.
  static Result<HeldThread> seize_at_syscall_entry(pid_t pid, pid_t tid, bool (*wanted)(long nr),
                                                   std::chrono::steady_clock::time_point deadline);

  HeldThread(HeldThread&& other) noexcept;
  HeldThread& operator=(HeldThread&&) = delete;
  HeldThread(const HeldThread&) = delete;
  ~HeldThread();  ///< puts the thread back if release() was not called

  /// The registers it was stopped with.
  const user_regs_struct& registers() const { return saved_; }
  /// The signal mask it was stopped with (bit n-1 for signal n).
  std::uint64_t signal_mask() const { return saved_mask_; }
  /// The thread was stopped inside system call `nr` (not at its end): the registers say it will
  /// restart or return EINTR.
  bool stopped_in_syscall(long nr) const;
  /// Stopped on entry to a system call (seize_at_syscall_entry), not inside one.
  bool at_syscall_entry() const { return at_entry_; }
  /// A signal arrived for the thread while it was being stopped; release() hands it back.
  int pending_signal() const { return pending_signal_; }

  /// Copies `bytes` below the thread's stack pointer (past the red zone and anything pushed
  /// before) and returns their address; they stay there until release().
  Result<std::uintptr_t> push(std::string_view bytes);

  /// While calls run, the thread blocks every signal but the synchronous ones (so no handler of
  /// the program runs on top of the call); `keep_mask` leaves its own mask in place, for threads
  /// stopped in a system call that installed a temporary one (ppoll, epoll_pwait, sigsuspend).
  void set_keep_mask(bool keep) { keep_mask_ = keep; }

  /// Calls `function(args...)` on the thread and returns its rax. The call returns to address 0:
  /// the fault that follows is caught here and never reaches the program.
  Result<std::uint64_t> call(std::uintptr_t function, std::initializer_list<std::uint64_t> args);

  /// Restores registers, extended state and mask and lets the thread go. Idempotent.
  Status release();

  /// Time since the thread was stopped.
  std::chrono::microseconds held_for() const;

 private:
  HeldThread() = default;
  Status restore();

  pid_t pid_ = 0;
  pid_t tid_ = 0;
  bool attached_ = false;
  bool changed_ = false;
  bool mask_changed_ = false;
  bool keep_mask_ = false;
  bool at_entry_ = false;  // stopped on entry to a system call (seize_at_syscall_entry)
  int pending_signal_ = 0;
  user_regs_struct saved_{};
  std::vector<unsigned char> xstate_;
  std::uint64_t saved_mask_ = 0;
  std::uintptr_t scratch_ = 0;  // lowest byte pushed so far
  std::chrono::steady_clock::time_point since_;
};

}  // namespace hotpatch::attach
