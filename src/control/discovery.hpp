// Finding control sockets from outside: the socket of one process, or every socket this user (or
// root) may talk to. Stale sockets of dead processes found on the way are removed and reported.
#pragma once

#include <hotpatch/error.hpp>

#include <string>
#include <sys/types.h>
#include <vector>

namespace hotpatch::control {

struct SocketScan {
  std::vector<std::pair<pid_t, std::string>> sockets;  ///< live processes, by pid
  std::vector<std::pair<pid_t, std::string>> removed;  ///< stale sockets removed
};

/// The socket of process `pid`. Refuses another user's process (unless we are root), reports a
/// process that is gone (removing its stale socket) or has no endpoint.
Result<std::string> find_socket(pid_t pid);

/// Every socket in the directories this user can use (all users' directories for root).
SocketScan scan_sockets();

/// The uid owning process `pid`, or an error when it does not exist.
Result<uid_t> process_owner(pid_t pid);

}  // namespace hotpatch::control
