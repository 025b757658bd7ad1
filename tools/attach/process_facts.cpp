#include "attach/process_facts.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace hotpatch::attach {
namespace {

std::string proc_path(pid_t pid, pid_t tid, const char* leaf) {
  std::string p = "/proc/" + std::to_string(pid);
  if (tid != 0) p += "/task/" + std::to_string(tid);
  return p + "/" + leaf;
}

Error gone_or_unreadable(const std::string& path, int err) {
  if (err == ENOENT || err == ESRCH) return make_error(ErrorCode::invalid_argument, path, "no such process");
  if (err == EACCES || err == EPERM) return make_error(ErrorCode::permission, path, std::strerror(err));
  return make_error(ErrorCode::io, path, std::strerror(err));
}

// /proc files report size 0: read until EOF.
Result<std::string> slurp(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return gone_or_unreadable(path, errno);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return gone_or_unreadable(path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

template <class T>
bool parse_number(std::string_view s, T& out, int base = 10) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  if (base == 16 && s.starts_with("0x")) s.remove_prefix(2);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && end != s.data();
}

}  // namespace

Result<ProcessStatus> read_status(pid_t pid, pid_t tid) {
  const std::string path = proc_path(pid, tid, "status");
  HOTPATCH_LET(text, slurp(path));
  ProcessStatus s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string_view key(line.data(), colon);
    std::string_view value(line.data() + colon + 1, line.size() - colon - 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (key == "Name") s.name = std::string(value);
    else if (key == "State" && !value.empty()) s.state = value.front();
    else if (key == "PPid") parse_number(value, s.parent);
    else if (key == "TracerPid") parse_number(value, s.tracer);
    else if (key == "Uid") {
      std::istringstream u{std::string(value)};
      u >> s.uid >> s.euid;
    } else if (key == "Seccomp") parse_number(value, s.seccomp);
    else if (key == "NoNewPrivs") s.no_new_privs = value == "1";
    else if (key == "SigIgn") parse_number(value, s.ignored_signals, 16);
  }
  return s;
}

Result<std::vector<Mapping>> read_maps(pid_t pid) {
  const std::string path = proc_path(pid, 0, "maps");
  HOTPATCH_LET(text, slurp(path));
  std::vector<Mapping> maps;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // start-end perms offset dev inode path
    std::istringstream fields(line);
    std::string range, perms, offset, dev, inode;
    fields >> range >> perms >> offset >> dev >> inode;
    auto dash = range.find('-');
    if (dash == std::string::npos || perms.size() < 4) continue;
    Mapping m;
    if (!parse_number(std::string_view(range).substr(0, dash), m.start, 16) ||
        !parse_number(std::string_view(range).substr(dash + 1), m.end, 16)) {
      continue;
    }
    parse_number(offset, m.offset, 16);
    m.readable = perms[0] == 'r';
    m.writable = perms[1] == 'w';
    m.executable = perms[2] == 'x';
    std::string rest;
    std::getline(fields, rest);
    auto first = rest.find_first_not_of(' ');
    if (first != std::string::npos) m.path = rest.substr(first);
    constexpr std::string_view deleted = " (deleted)";
    if (m.path.size() > deleted.size() && m.path.ends_with(deleted)) {
      m.path.resize(m.path.size() - deleted.size());
      m.deleted = true;
    }
    maps.push_back(std::move(m));
  }
  return maps;
}

Result<std::vector<pid_t>> read_threads(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/task";
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return gone_or_unreadable(path, errno);
  std::vector<pid_t> tids;
  while (dirent* e = ::readdir(dir)) {
    pid_t tid = 0;
    if (parse_number(std::string_view(e->d_name), tid) && tid > 0) tids.push_back(tid);
  }
  ::closedir(dir);
  std::sort(tids.begin(), tids.end());
  return tids;
}

Result<ThreadActivity> read_activity(pid_t pid, pid_t tid) {
  const std::string path = proc_path(pid, tid, "syscall");
  HOTPATCH_LET(text, slurp(path));
  ThreadActivity a;
  a.tid = tid;
  if (text.starts_with("running")) {
    a.running = true;
    return a;
  }
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty() || !parse_number(words[0], a.syscall)) {
    return make_error(ErrorCode::parse, path, "unexpected contents '" + text + "'");
  }
  if (a.syscall == -1 && words.size() >= 3) {
    parse_number(words[1], a.sp, 16);
    parse_number(words[2], a.pc, 16);
  } else if (words.size() >= 9) {
    for (int i = 0; i < 6; ++i) parse_number(words[1 + i], a.args[i], 16);
    parse_number(words[7], a.sp, 16);
    parse_number(words[8], a.pc, 16);
  }
  return a;
}

Result<std::uintptr_t> loader_base(pid_t pid) {
  const std::string path = proc_path(pid, 0, "auxv");
  HOTPATCH_LET(text, slurp(path));
  for (std::size_t at = 0; at + sizeof(Elf64_auxv_t) <= text.size(); at += sizeof(Elf64_auxv_t)) {
    Elf64_auxv_t entry;
    std::memcpy(&entry, text.data() + at, sizeof entry);
    if (entry.a_type == AT_NULL) break;
    if (entry.a_type == AT_BASE) return static_cast<std::uintptr_t>(entry.a_un.a_val);
  }
  return std::uintptr_t{0};
}

Result<uid_t> proc_dir_owner(pid_t pid) {
  // The directory keeps the process's user; the files in it turn to root.
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return gone_or_unreadable(path, errno);
  return st.st_uid;
}

Result<bool> same_filesystem_view(pid_t pid) {
  for (const char* leaf : {"ns/mnt", "root"}) {
    const std::string theirs = proc_path(pid, 0, leaf);
    const std::string ours = std::string("/proc/self/") + leaf;
    struct stat a {}, b {};
    if (::stat(theirs.c_str(), &a) != 0) return gone_or_unreadable(theirs, errno);
    if (::stat(ours.c_str(), &b) != 0) return gone_or_unreadable(ours, errno);
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) return false;
  }
  return true;
}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string syscall_name(long nr) {
  switch (nr) {
    case SYS_read: return "read";
    case SYS_readv: return "readv";
    case SYS_pread64: return "pread64";
    case SYS_write: return "write";
    case SYS_poll: return "poll";
    case SYS_ppoll: return "ppoll";
    case SYS_select: return "select";
    case SYS_pselect6: return "pselect6";
    case SYS_epoll_wait: return "epoll_wait";
    case SYS_epoll_pwait: return "epoll_pwait";
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2: return "epoll_pwait2";
#endif
    case SYS_nanosleep: return "nanosleep";
    case SYS_clock_nanosleep: return "clock_nanosleep";
    case SYS_accept: return "accept";
    case SYS_accept4: return "accept4";
    case SYS_recvfrom: return "recvfrom";
    case SYS_recvmsg: return "recvmsg";
    case SYS_wait4: return "wait4";
    case SYS_waitid: return "waitid";
    case SYS_pause: return "pause";
    case SYS_rt_sigsuspend: return "rt_sigsuspend";
    case SYS_rt_sigtimedwait: return "rt_sigtimedwait";
    case SYS_futex: return "futex";
    case SYS_connect: return "connect";
    case SYS_sendto: return "sendto";
    case SYS_sendmsg: return "sendmsg";
    case SYS_openat: return "openat";
    case SYS_flock: return "flock";
    case SYS_fcntl: return "fcntl";
    case SYS_semop: return "semop";
    case SYS_semtimedop: return "semtimedop";
    case SYS_msgrcv: return "msgrcv";
    case SYS_io_getevents: return "io_getevents";
    case SYS_io_uring_enter: return "io_uring_enter";
    case SYS_restart_syscall: return "restart_syscall";
    default: return "syscall " + std::to_string(nr);
  }
}

}  // namespace hotpatch::attach
