#include "control/discovery.hpp"

#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::control {
namespace {

// Variables of another process, which name the socket directory it chose.
std::string environ_value(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string key = name + "=";
  for (std::size_t at = 0; at < all.size();) {
    std::size_t end = all.find('\0', at);
    if (end == std::string::npos) end = all.size();
    if (all.compare(at, key.size(), key) == 0) return all.substr(at + key.size(), end - at - key.size());
    at = end + 1;
  }
  return {};
}

void add(std::vector<std::string>& dirs, std::string dir) {
  if (!dir.empty() && dir.front() == '/' && std::find(dirs.begin(), dirs.end(), dir) == dirs.end())
    dirs.push_back(std::move(dir));
}

std::vector<std::string> dirs_for_uid(uid_t uid) {
  std::vector<std::string> dirs;
  if (const char* d = std::getenv("HOTPATCH_CONTROL_DIR")) add(dirs, d);
  if (uid == ::geteuid()) add(dirs, default_socket_dir());
  if (uid == 0) add(dirs, "/run/hotpatch");
  add(dirs, "/run/user/" + std::to_string(uid) + "/hotpatch");
  add(dirs, "/tmp/hotpatch-" + std::to_string(uid));
  return dirs;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace

Result<uid_t> process_owner(pid_t pid) {
  struct stat st {};
  if (pid <= 0 || ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) {
    return make_error(ErrorCode::invalid_argument, "process " + std::to_string(pid), "does not exist");
  }
  return st.st_uid;
}

Result<std::string> find_socket(pid_t pid) {
  const std::string who = "process " + std::to_string(pid);
  auto owner = process_owner(pid);
  if (!owner) {
    for (const auto& dir : dirs_for_uid(::geteuid())) {
      std::string path = socket_path(dir, pid);
      if (exists(path) && ::unlink(path.c_str()) == 0) {
        return make_error(ErrorCode::invalid_argument, who, "is not running; removed its stale control socket " + path);
      }
    }
    return owner.error();
  }
  if (::geteuid() != 0 && *owner != ::geteuid()) {
    return make_error(ErrorCode::permission, who,
                      "belongs to uid " + std::to_string(*owner) + "; only that user or root may control it");
  }
  std::vector<std::string> dirs;
  add(dirs, environ_value(pid, "HOTPATCH_CONTROL_DIR"));
  if (std::string xdg = environ_value(pid, "XDG_RUNTIME_DIR"); !xdg.empty()) add(dirs, xdg + "/hotpatch");
  for (auto& d : dirs_for_uid(*owner)) add(dirs, std::move(d));
  // A process that changed user after it started (a server dropping root) keeps its first socket.
  for (auto& d : dirs_for_uid(::geteuid())) add(dirs, std::move(d));
  for (const auto& dir : dirs) {
    std::string path = socket_path(dir, pid);
    if (exists(path)) return path;
  }
  return make_error(ErrorCode::invalid_argument, who,
                    "has no control endpoint (start it with LD_PRELOAD=libhotpatch.so HOTPATCH_CONTROL=1, or have "
                    "it call hotpatch::enable_control())");
}

SocketScan scan_sockets() {
  std::vector<std::string> dirs = dirs_for_uid(::geteuid());
  if (::geteuid() == 0) {
    for (const char* parent : {"/run/user", "/tmp"}) {
      DIR* d = ::opendir(parent);
      if (d == nullptr) continue;
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (std::string(parent) == "/run/user" && name != "." && name != "..") add(dirs, "/run/user/" + name + "/hotpatch");
        if (std::string(parent) == "/tmp" && name.starts_with("hotpatch-") && name.size() > 9 &&
            name.find_first_not_of("0123456789", 9) == std::string::npos) {
          add(dirs, "/tmp/" + name);
        }
      }
      ::closedir(d);
    }
  }
  SocketScan scan;
  std::set<pid_t> seen;
  for (const auto& dir : dirs) {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      auto pid = pid_of_socket_name(e->d_name);
      if (!pid) continue;
      std::string path = dir + "/" + e->d_name;
      if (!process_alive(*pid)) {
        if (::unlink(path.c_str()) == 0) scan.removed.emplace_back(*pid, path);
      } else if (seen.insert(*pid).second) {
        scan.sockets.emplace_back(*pid, path);
      }
    }
    ::closedir(d);
  }
  std::sort(scan.sockets.begin(), scan.sockets.end());
  return scan;
}

}  // namespace hotpatch::control
