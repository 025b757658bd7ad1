// Where control sockets live: one private directory per user, one socket per process, named by pid.
// Shared by the endpoint (which creates the directory and its socket) and the CLI (which finds them).
#pragma once

#include <hotpatch/error.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace hotpatch::control {

/// The directory this process uses: HOTPATCH_CONTROL_DIR, else /run/hotpatch for root, else
/// $XDG_RUNTIME_DIR/hotpatch, else /tmp/hotpatch-<uid>.
std::string default_socket_dir();

/// Creates the directory (mode 0700, whatever the umask) or checks an existing one without ever
/// changing it: it must be a real directory owned by this user that neither group nor others may
/// write, so nobody else can plant or replace a socket in it.
Status prepare_socket_dir(const std::string& dir);

std::string socket_path(const std::string& dir, pid_t pid);

/// The pid a socket file name stands for ("1234.sock" -> 1234).
std::optional<pid_t> pid_of_socket_name(std::string_view name);

/// True while a process with this pid exists (ours or another user's).
bool process_alive(pid_t pid);

/// Removes the sockets of dead processes from `dir`; returns their pids.
std::vector<pid_t> remove_stale_sockets(const std::string& dir);

}  // namespace hotpatch::control
