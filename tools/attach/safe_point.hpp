// Whether a thread of another process may be made to call dlopen now. The injected code takes the
// dynamic loader's lock, malloc's and, through the runtime, stdio's and pthread_create's: the
// hijacked thread must hold none of them, or it waits for itself for ever. A thread blocked in a
// system call that no such code makes while holding one (epoll_wait, nanosleep, accept, ...) is
// safe, unless its stack shows it is inside stdio, malloc or the loader (fgets blocked in read).
// The stack is walked frame by frame from the call frame information of the mapped objects
// (libunwind over ptrace); only where that walk stops short are the words above the last frame
// read as possible return addresses.
#pragma once

#include "attach/process_facts.hpp"
#include "attach/remote_memory.hpp"
#include "attach/stack_walk.hpp"

#include <optional>
#include <string>
#include <vector>

namespace hotpatch::attach {

/// Why a system call is no place to stop in, or nullopt when it is one.
std::optional<std::string> syscall_problem(long nr);

/// True for the calls that install a temporary signal mask for their duration: the thread's
/// mask must be left alone while it is held.
bool installs_temporary_mask(long nr);

class SafePointJudge {
 public:
  SafePointJudge(pid_t pid, std::vector<Mapping> maps, const RemoteModule& libc);

  /// What on the stack of thread `tid` (held under ptrace, its stack pointer `sp`) says it may
  /// hold a lock the injected code needs.
  std::optional<std::string> stack_problem(pid_t tid, std::uintptr_t sp) const;

  /// How many bytes of stack are free below `sp` (the call runs there); 0 if sp is in no mapping.
  std::size_t room_below(std::uintptr_t sp) const;

 private:
  const Mapping* mapping_of(std::uintptr_t address) const;
  bool follows_a_call(std::uintptr_t address) const;
  /// What code at `pc` (a frame's program counter, or a return address) says, if anything.
  std::optional<std::string> code_problem(std::uintptr_t pc) const;
  /// The conservative reading: words above `sp` that look like return addresses.
  std::optional<std::string> scan_problem(std::uintptr_t sp, std::uintptr_t from) const;

  pid_t pid_;
  std::vector<Mapping> maps_;
  const RemoteModule& libc_;
  StackWalker walker_;
};

}  // namespace hotpatch::attach
