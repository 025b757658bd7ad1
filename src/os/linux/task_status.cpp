#include "os/linux/task_status.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace hotpatch::os {

std::vector<int> other_threads() {
  std::vector<int> tids;
  const int self = static_cast<int>(syscall(SYS_gettid));
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      const int tid = std::atoi(e->d_name);
      if (tid > 0 && tid != self) tids.push_back(tid);
    }
    closedir(d);
  }
  return tids;
}

std::optional<std::uintptr_t> blocked_user_pc(int tid) {
  auto c = blocked_user_context(tid);
  if (!c) return std::nullopt;
  return c->pc;
}

std::optional<UserContext> blocked_user_context(int tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  if (std::strncmp(buf, "running", 7) == 0) return std::nullopt;
  // "nr a1 .. a6 sp pc" or "-1 sp pc": the PC is the last field.
  char* last = std::strrchr(buf, ' ');
  if (last == nullptr) return std::nullopt;
  const std::uintptr_t pc = std::strtoull(last + 1, nullptr, 16);
  if (pc == 0) return std::nullopt;
  *last = '\0';
  const char* before = std::strrchr(buf, ' ');
  const std::uintptr_t sp = before != nullptr ? std::strtoull(before + 1, nullptr, 16) : 0;
  return UserContext{sp, pc};
}

bool thread_exists(int tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d", tid);
  return ::access(path, F_OK) == 0;
}

std::string describe_thread(int tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/comm", tid);
  std::string name;
  if (std::FILE* f = std::fopen(path, "re")) {
    char buf[64] = {};
    if (std::fgets(buf, sizeof buf, f) != nullptr) name = buf;
    std::fclose(f);
  }
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return "thread " + std::to_string(tid) + (name.empty() ? "" : " (" + name + ")");
}

bool signal_blocked(int tid, int sig) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return false;  // exited
  char line[256];
  bool blocked = true;  // unreadable: assume the worst
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "SigBlk:", 7) != 0) continue;
    const unsigned long long mask = std::strtoull(line + 7, nullptr, 16);
    blocked = (mask >> (sig - 1)) & 1u;
    break;
  }
  std::fclose(f);
  return blocked;
}

std::optional<std::string> status_field(int tid, const char* name) {
  char path[64];
  if (tid == 0) std::snprintf(path, sizeof path, "/proc/self/status");
  else std::snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) return std::nullopt;
  const std::size_t len = std::strlen(name);
  char line[512];
  std::optional<std::string> value;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, name, len) != 0) continue;
    std::string v = line + len;
    const auto first = v.find_first_not_of(" \t");
    const auto last = v.find_last_not_of(" \t\n");
    value = first == std::string::npos ? std::string() : v.substr(first, last - first + 1);
    break;
  }
  std::fclose(f);
  return value;
}

std::optional<std::uint64_t> blocked_signals(int tid) {
  auto v = status_field(tid, "SigBlk:");
  if (!v) return std::nullopt;
  return std::strtoull(v->c_str(), nullptr, 16);
}

std::optional<std::uint64_t> pending_signals(int tid) {
  auto own = status_field(tid, "SigPnd:");
  auto shared = status_field(tid, "ShdPnd:");
  if (!own || !shared) return std::nullopt;
  return std::strtoull(own->c_str(), nullptr, 16) | std::strtoull(shared->c_str(), nullptr, 16);
}

bool indirect_branch_tracking_enforced() {
  static const bool enforced = [] {
    auto features = status_field(0, "x86_Thread_features:");
    return features && features->find("ibt") != std::string::npos;
  }();
  return enforced;
}

std::optional<std::string> read_small_file(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace hotpatch::os
