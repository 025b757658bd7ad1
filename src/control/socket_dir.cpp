#include "control/socket_dir.hpp"

#include "control/unix_socket.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstdio>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::control {

std::string default_socket_dir() {
  if (const char* dir = std::getenv("HOTPATCH_CONTROL_DIR"); dir != nullptr && *dir != '\0') return dir;
  if (::geteuid() == 0) return "/run/hotpatch";
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg != nullptr && *xdg == '/') {
    struct stat st {};
    if (::stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid()) {
      return std::string(xdg) + "/hotpatch";
    }
  }
  return "/tmp/hotpatch-" + std::to_string(::geteuid());
}

namespace {

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

Status prepare_socket_dir(const std::string& dir) {
  if (dir.empty() || dir.front() != '/') {
    return make_error(ErrorCode::invalid_argument, dir, "socket directory must be an absolute path");
  }
  bool created = ::mkdir(dir.c_str(), 0700) == 0;
  if (!created && errno != EEXIST) {
    return make_error(ErrorCode::io, dir, "cannot create socket directory: " + errno_text(errno));
  }
  // Everything below is asked of the directory itself, through one descriptor, so a rename or a
  // symlink swapped in between cannot make us judge one directory and change another.
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOTDIR || errno == ELOOP) {
      return make_error(ErrorCode::permission, dir, "socket directory is not a directory (or is a symlink)");
    }
    return make_error(ErrorCode::io, dir, "cannot open socket directory: " + errno_text(errno));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return make_error(ErrorCode::io, dir, "cannot inspect socket directory: " + errno_text(errno));
  }
  if (st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, dir,
                      "socket directory belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
                          std::to_string(::geteuid()) + ")");
  }
  if (created) {
    // mkdir's mode went through the umask; ours was just made, so its mode is ours to set.
    if (::fchmod(fd.get(), 0700) != 0) {
      return make_error(ErrorCode::permission, dir, "cannot make socket directory private: " + errno_text(errno));
    }
    return {};
  }
  // A directory someone else made is never changed: a shared one (say mode 1777) would lose its
  // purpose for everyone using it. One others can write is refused: they could replace our socket.
  if ((st.st_mode & 022) != 0) {
    return make_error(ErrorCode::permission, dir,
                      "socket directory has mode " + octal_mode(st.st_mode) +
                          ", writable by group or others; use a private directory (mode 0700) of this user");
  }
  return {};
}

std::string socket_path(const std::string& dir, pid_t pid) { return dir + "/" + std::to_string(pid) + ".sock"; }

std::optional<pid_t> pid_of_socket_name(std::string_view name) {
  constexpr std::string_view suffix = ".sock";
  if (!name.ends_with(suffix) || name.size() == suffix.size()) return std::nullopt;
  std::string_view digits = name.substr(0, name.size() - suffix.size());
  pid_t pid = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc{} || end != digits.data() + digits.size() || pid <= 0) return std::nullopt;
  return pid;
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A zombie has exited already; only its parent has not collected it yet. Read with read(2): a
  // process that is reaped meanwhile makes the read fail with ESRCH, which an istreambuf_iterator
  // would throw out of (terminating whatever process runs this, the patched one included).
  std::string stat;
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno != ENOENT;
  char buf[1024];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      ::close(fd);
      return err != ESRCH;
    }
    stat.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  auto paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || (stat[paren + 2] != 'Z' && stat[paren + 2] != 'X');
}

std::vector<pid_t> remove_stale_sockets(const std::string& dir) {
  std::vector<pid_t> removed;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return removed;
  while (dirent* e = ::readdir(d)) {
    auto pid = pid_of_socket_name(e->d_name);
    if (!pid || process_alive(*pid)) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) removed.push_back(*pid);
  }
  ::closedir(d);
  return removed;
}

}  // namespace hotpatch::control
