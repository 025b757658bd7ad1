// Who may control this process: the kernel's rule for a ptrace attach (Yama aside), so the control
// socket never hands out more than a debugger of the same user could take anyway.
#pragma once

#include "control/unix_socket.hpp"

#include <hotpatch/error.hpp>

#include <cstdint>
#include <sys/types.h>

namespace hotpatch::control {

/// The credentials the kernel weighs for a ptrace attach, as this process holds them now.
struct ProcessCredentials {
  uid_t uid = 0, euid = 0, suid = 0;
  gid_t gid = 0, egid = 0, sgid = 0;
  bool dumpable = true;
  /// Of every thread: a debugger attached to any one of them reaches the whole process.
  std::uint64_t permitted_caps = 0;
  /// False when some thread holds other ids than the one that asked: such a process answers root
  /// only.
  bool threads_agree = true;
};

/// Reads them for the calling thread (getresuid, getresgid, PR_GET_DUMPABLE, capget) and adds every
/// other thread's from /proc/self/task. Called per connection: credentials change at run time.
ProcessCredentials current_process_credentials();

/// Accepts root (peer euid 0), or a peer whose euid equals all of the process's uids and whose egid
/// equals all of its gids while the process is dumpable and holds no permitted capabilities.
/// Otherwise a permission error saying which part of the rule failed.
Status may_control(const PeerCredentials& peer, const ProcessCredentials& self);

}  // namespace hotpatch::control
