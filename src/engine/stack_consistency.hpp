// The opt-in stack check (HOTPATCH_CONSISTENCY(stack)): a patch set switches only at a moment when
// no thread has any function it replaces on its stack, as kpatch and the kernel's livepatch
// guarantee. Threads walk their own stacks with libunwind, loaded only when a patch asks for this.
#pragma once

#include "os/linux/thread_round.hpp"

#include <hotpatch/error.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace hotpatch::engine {

struct CheckedFunction {
  std::string symbol;
  os::CodeRange code;
};

/// Returns once no thread is inside any of `functions` (retried with a growing pause until
/// `deadline` passes), or fails with function_in_use naming the thread, the frame and the function.
Status wait_until_no_stack_uses(const std::vector<CheckedFunction>& functions, std::chrono::milliseconds deadline,
                                std::chrono::milliseconds thread_timeout);

}  // namespace hotpatch::engine
