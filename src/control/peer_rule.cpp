#include "control/peer_rule.hpp"

#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <linux/capability.h>
#include <string>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace hotpatch::control {
namespace {

struct TaskRights {
  std::string ids;          // the Uid: and Gid: lines: equal text, equal ids
  std::uint64_t caps = 0;   // CapPrm:
  bool read = false;
};

TaskRights rights_of_task(const std::string& status_path) {
  std::ifstream in(status_path);
  TaskRights r;
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("Uid:") || line.starts_with("Gid:")) {
      r.ids += line + "\n";
    } else if (line.starts_with("CapPrm:")) {
      r.caps = std::strtoull(line.c_str() + 7, nullptr, 16);
      r.read = true;
    }
  }
  return r;
}

// Capabilities and ids are per thread (capset, raw setresuid), and a debugger attached to any
// thread reaches the whole process: every thread counts.
void add_other_threads(ProcessCredentials& c) {
  const TaskRights mine = rights_of_task("/proc/thread-self/status");
  DIR* d = ::opendir("/proc/self/task");
  if (!mine.read || d == nullptr) {
    if (d != nullptr) ::closedir(d);
    c.threads_agree = false;
    return;
  }
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    TaskRights theirs = rights_of_task(std::string("/proc/self/task/") + e->d_name + "/status");
    // A thread that exited between readdir and the read has no rights left to compare.
    if (!theirs.read) continue;
    c.permitted_caps |= theirs.caps;
    if (theirs.ids != mine.ids) c.threads_agree = false;
  }
  ::closedir(d);
}

std::uint64_t permitted_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  // When the kernel will not tell, assume the worst: the process then answers root only.
  if (::syscall(SYS_capget, &header, data) != 0) return ~std::uint64_t{0};
  return std::uint64_t{data[0].permitted} | (std::uint64_t{data[1].permitted} << 32);
}

// A capability set as /proc/PID/status shows it.
std::string capability_mask(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Error refused(const std::string& why) { return make_error(ErrorCode::permission, "control", why); }

}  // namespace

ProcessCredentials current_process_credentials() {
  ProcessCredentials c;
  ::getresuid(&c.uid, &c.euid, &c.suid);
  ::getresgid(&c.gid, &c.egid, &c.sgid);
  c.dumpable = ::prctl(PR_GET_DUMPABLE) == 1;
  c.permitted_caps = permitted_capabilities();
  add_other_threads(c);
  return c;
}

Status may_control(const PeerCredentials& peer, const ProcessCredentials& self) {
  if (peer.uid == 0) return {};
  const std::string ids = "uid " + std::to_string(self.euid) + " (real " + std::to_string(self.uid) + ", saved " +
                          std::to_string(self.suid) + ")";
  if (self.uid != self.euid || self.suid != self.euid || self.euid == 0) {
    return refused("this process runs as " + ids + ": only root may control it");
  }
  if (peer.uid != self.euid) {
    return refused("this process runs as " + ids + ": only uid " + std::to_string(self.euid) +
                   " or root may control it");
  }
  const std::string groups = "gid " + std::to_string(self.egid) + " (real " + std::to_string(self.gid) + ", saved " +
                             std::to_string(self.sgid) + ")";
  if (self.gid != self.egid || self.sgid != self.egid) {
    return refused("this process runs as " + groups + ": only root may control it");
  }
  if (peer.gid != self.egid) {
    return refused("this process runs as " + groups + ": only a peer whose effective group is " +
                   std::to_string(self.egid) + ", or root, may control it");
  }
  if (!self.dumpable) return refused("this process changed its credentials (not dumpable): only root may control it");
  if (self.permitted_caps != 0) {
    return refused("this process holds capabilities (CapPrm " + capability_mask(self.permitted_caps) +
                   "): only root may control it");
  }
  if (!self.threads_agree) {
    return refused("the threads of this process run with different user or group ids: only root may control it");
  }
  return {};
}

}  // namespace hotpatch::control
