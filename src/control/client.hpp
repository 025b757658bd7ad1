// The CLI's side of the control protocol: one request, one response, with a deadline, and an error
// that says what happened to the process when there is no answer.
#pragma once

#include "control/protocol.hpp"

#include <chrono>
#include <string>
#include <string_view>
#include <cstddef>
#include <sys/types.h>
#include <vector>

namespace hotpatch::control {

struct CallOptions {
  std::chrono::milliseconds timeout{10'000};
  int pass_fd = -1;  ///< descriptor to attach to the request (apply)
};

/// Sends `request` to process `pid` at `socket` and reads its response. A stale socket (nobody
/// listening) is removed and reported; a process that exits or hangs up before answering, or does
/// not answer in time, is an error saying so.
Result<Response> call(pid_t pid, const std::string& socket, const Request& request, const CallOptions& options = {});

struct Endpoint {
  pid_t pid = 0;
  std::string socket;
};

/// call() on every endpoint, `parallel` at a time, so that a process that never answers costs one
/// deadline, not one deadline per silent process. Answers come back in the order of `endpoints`.
std::vector<Result<Response>> call_each(const std::vector<Endpoint>& endpoints, const Request& request,
                                        const CallOptions& options, std::size_t parallel = 16);

/// A sealed memory file holding `data`, to attach to an apply request: neither the sender nor anyone
/// holding the descriptor can change it after this, so what the process loads is what was checked.
Result<int> sealed_copy(const std::string& name, std::string_view data);

/// find_socket() then call().
Result<Response> call_pid(pid_t pid, const Request& request, const CallOptions& options = {});

}  // namespace hotpatch::control
