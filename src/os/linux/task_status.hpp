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

bool thread_exists(int tid);

/// "thread <tid> (<comm>)", for messages.
std::string describe_thread(int tid);

/// True when the thread has `sig` blocked (SigBlk in /proc/self/task/<tid>/status), or when that
/// cannot be read from a thread that still exists.
bool signal_blocked(int tid, int sig);

}  // namespace hotpatch::os
