// Helpers for the security tests: preloaded targets that announce on stdout when they are ready,
// and control requests sent from a forked child running as another user.
#pragma once

#include "control/client.hpp"
#include "test_support.hpp"

#include <string>
#include <sys/types.h>

namespace hotpatch::test {

/// Environment that preloads the runtime with the control socket in `socket_dir`.
Env preloaded_env(const std::string& socket_dir);

/// Waits until `file` contains `text` (a target's "ready" line).
bool output_shows(const std::string& file, const std::string& text,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

/// Sends `request` to `pid` at `socket` as uid/gid `id`; "ok" or the error the caller got.
std::string call_as(uid_t id, pid_t pid, const std::string& socket, const control::Request& request);

/// Same, as this process: "ok" or "code: what".
std::string call_here(pid_t pid, const std::string& socket, const control::Request& request,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

/// Lets every user reach `socket` through its directory and its parent: the file permissions then
/// decide nothing, so what is refused is refused by the endpoint.
void open_up(const std::string& socket);

}  // namespace hotpatch::test
