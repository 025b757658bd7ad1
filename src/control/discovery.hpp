// Finding control sockets from outside: the socket of one process, or every socket this user (or
// root) may talk to. Root runs this over directories other users control, so nothing here follows a
// symlink, trusts a directory its rightful owner does not own, or removes anything but a stale
// socket in a directory of the caller's own.
#pragma once

#include <hotpatch/error.hpp>

#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

namespace hotpatch::control {

struct FoundSocket {
  pid_t pid = 0;
  std::string path;
  uid_t dir_owner = 0;  ///< owner of the directory it was found in
};

struct SocketScan {
  std::vector<FoundSocket> sockets;                    ///< live processes, by pid
  std::vector<std::pair<pid_t, std::string>> removed;  ///< stale sockets removed
  std::vector<std::string> ignored;                    ///< directories and files passed over, and why
};

struct ScanScope {
  /// Root only: also directories owned by other users. Otherwise only directories owned by the
  /// caller count (for root: root's processes and the workers root started).
  bool every_user = false;
};

/// The socket of process `pid`. Refuses another user's process (unless we are root), reports a
/// process that is gone (removing its stale socket from our own directory) or has no endpoint.
Result<std::string> find_socket(pid_t pid);

/// Every socket in the directories the scope covers: the well-known ones and the HOTPATCH_CONTROL_DIR
/// of every process the caller may control.
SocketScan scan_sockets(const ScanScope& scope = {});

/// Removes `path` when it is a socket in a directory owned by the caller. A process that found
/// nobody serving a socket uses this; returns true when it was removed.
bool remove_unserved_socket(const std::string& path);

/// The uid owning process `pid`, or an error when it does not exist.
Result<uid_t> process_owner(pid_t pid);

}  // namespace hotpatch::control
