#include "control/socket_dir.hpp"

#include "control/unix_socket.hpp"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <dirent.h>
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

Status prepare_socket_dir(const std::string& dir) {
  if (dir.empty() || dir.front() != '/') {
    return make_error(ErrorCode::invalid_argument, dir, "socket directory must be an absolute path");
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ErrorCode::io, dir, "cannot create socket directory: " + errno_text(errno));
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return make_error(ErrorCode::io, dir, "cannot inspect socket directory: " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::permission, dir, "socket directory is not a directory (or is a symlink)");
  }
  if (st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, dir,
                      "socket directory belongs to uid " + std::to_string(st.st_uid) + ", not to this user (uid " +
                          std::to_string(::geteuid()) + ")");
  }
  if ((st.st_mode & 077) != 0 && ::chmod(dir.c_str(), 0700) != 0) {
    return make_error(ErrorCode::permission, dir, "cannot make socket directory private: " + errno_text(errno));
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
  // A zombie has exited already; only its parent has not collected it yet.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
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
