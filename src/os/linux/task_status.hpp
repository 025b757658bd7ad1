// What /proc/self/task says about the process's other threads, read without stopping them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hotpatch::os {

/// Thread ids of the process, except the calling thread.
std::vector<int> other_threads();

/// The user-mode PC of a thread blocked in the kernel (from /proc/self/task/<tid>/syscall), or
/// nothing when it is running, has exited or the file cannot be read.
std::optional<std::uintptr_t> blocked_user_pc(int tid);

/// The same with the user stack pointer.
struct UserContext {
  std::uintptr_t sp = 0;
  std::uintptr_t pc = 0;
};
std::optional<UserContext> blocked_user_context(int tid);

bool thread_exists(int tid);

/// "thread <tid> (<comm>)", for messages.
std::string describe_thread(int tid);

/// True when the thread has `sig` blocked (SigBlk in /proc/self/task/<tid>/status), or when that
/// cannot be read from a thread that still exists.
bool signal_blocked(int tid, int sig);

/// SigBlk of a thread, or nothing when it has exited.
std::optional<std::uint64_t> blocked_signals(int tid);

/// Signals waiting for a thread: its own (SigPnd) and the process's (ShdPnd).
std::optional<std::uint64_t> pending_signals(int tid);

/// The value of a "Name:" line of /proc/self/task/<tid>/status (/proc/self/status for tid 0),
/// without surrounding blanks.
std::optional<std::string> status_field(int tid, const char* name);

/// True when the kernel enforces indirect-branch tracking for this process (x86_Thread_features
/// in /proc/self/status lists "ibt"; Linux does not enable user IBT today).
bool indirect_branch_tracking_enforced();

/// The first bytes (up to 4 KiB) of a small file such as a sysctl, or nothing.
std::optional<std::string> read_small_file(const char* path);

}  // namespace hotpatch::os
