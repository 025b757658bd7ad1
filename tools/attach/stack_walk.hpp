// The call frames of a thread of another process, held stopped under ptrace, walked from the call
// frame information (.eh_frame) of the objects it has mapped. Exact where that information
// exists, unlike reading every word of the stack, whose uninitialised slots keep return addresses
// of whatever ran there before.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace hotpatch::attach {

struct StackFrame {
  std::uintptr_t pc = 0;  // the frame's program counter: a return address for all but the first
  std::uintptr_t sp = 0;  // its stack pointer
};

struct StackWalk {
  std::vector<StackFrame> frames;  // innermost first
  bool complete = false;           // the walk reached the outermost frame
  std::string stopped_because;     // why not, when it did not
};

/// Walks the stacks of one process's threads. Made before any thread is held: loading libunwind
/// and reading the objects' frame information once is what keeps the hold short.
class StackWalker {
 public:
  StackWalker();
  ~StackWalker();
  StackWalker(const StackWalker&) = delete;
  StackWalker& operator=(const StackWalker&) = delete;

  /// Walks the frames of thread `tid`, which the caller holds in a ptrace stop, up to `max_frames`.
  StackWalk walk(pid_t tid, std::size_t max_frames = 256) const;

 private:
  void* address_space_ = nullptr;  // libunwind's, caching what it read of the objects
  std::string error_;
};

}  // namespace hotpatch::attach
