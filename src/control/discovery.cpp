#include "control/discovery.hpp"

#include "control/socket_dir.hpp"
#include "control/unix_socket.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <filesystem>
#include <set>
#include <string_view>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::control {
namespace {

// A directory we would look in, and who must own it for its sockets to mean anything.
struct Candidate {
  std::string dir;
  uid_t owner = 0;
  bool root_too = false;  ///< root may own it instead (a directory a process was told to use)
};

// A candidate opened without following a symlink and found to belong to its rightful owner.
struct OpenedDir {
  Fd fd;
  uid_t owner = 0;
  bool owned_as_named = false;  ///< owned by the uid it is for, not by root standing in for it
  std::string refusal;  ///< why it is not used; empty with an invalid fd when it does not exist
};

constexpr std::size_t max_environ_bytes = 1024 * 1024;

std::optional<unsigned long> parse_number(std::string_view text) {
  unsigned long n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// Variables of another process, which name the socket directory it chose.
std::string environ_value(pid_t pid, std::string_view name) {
  Fd fd(::open(("/proc/" + std::to_string(pid) + "/environ").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return {};
  std::string all;
  char buf[16384];
  for (ssize_t n; all.size() < max_environ_bytes && (n = ::read(fd.get(), buf, sizeof buf)) > 0;) {
    all.append(buf, static_cast<std::size_t>(n));
  }
  const std::string key = std::string(name) + "=";
  for (std::size_t at = 0; at < all.size();) {
    std::size_t end = all.find('\0', at);
    if (end == std::string::npos) end = all.size();
    if (all.compare(at, key.size(), key) == 0) return all.substr(at + key.size(), end - at - key.size());
    at = end + 1;
  }
  return {};
}

void add(std::vector<Candidate>& dirs, std::string dir, uid_t owner, bool root_too = false) {
  if (dir.empty() || dir.front() != '/') return;
  auto same = [&](const Candidate& c) { return c.dir == dir; };
  if (std::find_if(dirs.begin(), dirs.end(), same) == dirs.end()) dirs.push_back({std::move(dir), owner, root_too});
}

// The well-known directories of `uid`; the caller's own choices count only for the caller's uid.
void add_dirs_of(std::vector<Candidate>& dirs, uid_t uid) {
  const uid_t me = ::geteuid();
  if (uid == me) {
    if (const char* d = std::getenv("HOTPATCH_CONTROL_DIR")) add(dirs, d, me);
    add(dirs, default_socket_dir(), me);
  }
  if (uid == 0) add(dirs, "/run/hotpatch", 0);
  add(dirs, "/run/user/" + std::to_string(uid) + "/hotpatch", uid);
  add(dirs, "/tmp/hotpatch-" + std::to_string(uid), uid);
}

OpenedDir open_dir(const Candidate& c) {
  OpenedDir out;
  // O_NONBLOCK: a FIFO planted under the name must not hang us (O_DIRECTORY refuses it anyway).
  Fd fd(::open(c.dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ELOOP || errno == ENOTDIR) out.refusal = c.dir + ": is not a directory (or is a symlink); ignored";
    else if (errno != ENOENT) out.refusal = c.dir + ": cannot open: " + errno_text(errno) + "; ignored";
    return out;
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    out.refusal = c.dir + ": cannot inspect: " + errno_text(errno) + "; ignored";
    return out;
  }
  if (st.st_uid != c.owner && !(c.root_too && st.st_uid == 0)) {
    out.refusal = c.dir + ": belongs to uid " + std::to_string(st.st_uid) + ", not to uid " + std::to_string(c.owner) +
                  "; ignored";
    return out;
  }
  // Whoever else may write there could plant or swap sockets.
  if ((st.st_mode & 022) != 0) {
    out.refusal = c.dir + ": is writable by group or others; ignored";
    return out;
  }
  out.fd = std::move(fd);
  out.owner = st.st_uid;
  out.owned_as_named = st.st_uid == c.owner;
  return out;
}

enum class Entry { absent, socket, refused };

// `name` in an opened directory must be a socket (not a symlink to one) of the directory's owner or root.
Entry check_entry(const OpenedDir& d, const char* name, struct stat& st, std::string* refusal) {
  if (::fstatat(d.fd.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) return Entry::absent;
  if (!S_ISSOCK(st.st_mode)) {
    if (refusal) *refusal = "is not a socket; ignored";
    return Entry::refused;
  }
  if (st.st_uid != d.owner && st.st_uid != 0) {
    if (refusal) *refusal = "belongs to uid " + std::to_string(st.st_uid) + ", not to the directory's owner; ignored";
    return Entry::refused;
  }
  return Entry::socket;
}

// Only the caller's own directories are cleaned, and only of sockets. A root-owned directory that a
// process of another user merely names (any root directory could be named) is never cleaned.
bool remove_if_stale_socket(const OpenedDir& d, const char* name) {
  if (d.owner != ::geteuid() || !d.owned_as_named) return false;
  struct stat st {};
  if (check_entry(d, name, st, nullptr) != Entry::socket) return false;
  return ::unlinkat(d.fd.get(), name, 0) == 0;
}

// Processes the caller may control, with their owners: every process for root, else its own.
std::vector<std::pair<pid_t, uid_t>> controllable_processes() {
  std::vector<std::pair<pid_t, uid_t>> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  const uid_t me = ::geteuid();
  while (dirent* e = ::readdir(proc)) {
    auto pid = parse_number(e->d_name);
    if (!pid || *pid == 0 || *pid > 0x7fffffffUL) continue;
    struct stat st {};
    if (::fstatat(::dirfd(proc), e->d_name, &st, 0) != 0) continue;
    if (me == 0 || st.st_uid == me) out.emplace_back(static_cast<pid_t>(*pid), st.st_uid);
  }
  ::closedir(proc);
  return out;
}

// Root's view of other users' well-known directories: the uid is in the name and must own it.
void add_every_users_dirs(std::vector<Candidate>& dirs) {
  for (std::string parent : {"/run/user", "/tmp"}) {
    DIR* d = ::opendir(parent.c_str());
    if (d == nullptr) continue;
    while (dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (parent == "/tmp" && !name.starts_with("hotpatch-")) continue;
      auto uid = parse_number(parent == "/tmp" ? name.substr(9) : name);
      if (!uid || *uid >= static_cast<unsigned long>(static_cast<uid_t>(-1))) continue;
      const auto owner = static_cast<uid_t>(*uid);
      add(dirs, parent == "/tmp" ? "/tmp/" + std::string(name) : "/run/user/" + std::string(name) + "/hotpatch", owner);
    }
    ::closedir(d);
  }
}

std::string who(pid_t pid) { return "process " + std::to_string(pid); }

}  // namespace

Result<uid_t> process_owner(pid_t pid) {
  struct stat st {};
  if (pid <= 0 || ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) != 0) {
    return make_error(ErrorCode::invalid_argument, who(pid), "does not exist");
  }
  return st.st_uid;
}

Result<std::string> find_socket(pid_t pid) {
  const uid_t me = ::geteuid();
  const std::string name = std::to_string(pid) + ".sock";
  auto owner = process_owner(pid);
  if (!owner) {
    std::vector<Candidate> mine;
    add_dirs_of(mine, me);
    for (const auto& c : mine) {
      OpenedDir d = open_dir(c);
      if (d.fd.valid() && remove_if_stale_socket(d, name.c_str())) {
        return make_error(ErrorCode::invalid_argument, who(pid),
                          "is not running; removed its stale control socket " + c.dir + "/" + name);
      }
    }
    return owner.error();
  }
  if (me != 0 && *owner != me) {
    return make_error(ErrorCode::permission, who(pid),
                      "belongs to uid " + std::to_string(*owner) + "; only that user or root may control it");
  }
  std::vector<Candidate> dirs;
  add(dirs, environ_value(pid, "HOTPATCH_CONTROL_DIR"), *owner, /*root_too=*/true);
  if (std::string xdg = environ_value(pid, "XDG_RUNTIME_DIR"); !xdg.empty()) add(dirs, xdg + "/hotpatch", *owner);
  add_dirs_of(dirs, *owner);
  // A process that changed user after it started (a server dropping root) keeps its first socket.
  add_dirs_of(dirs, me);
  std::string refused;
  for (const auto& c : dirs) {
    OpenedDir d = open_dir(c);
    if (!d.fd.valid()) continue;
    struct stat st {};
    std::string why;
    switch (check_entry(d, name.c_str(), st, &why)) {
      case Entry::socket: return c.dir + "/" + name;
      case Entry::refused:
        if (refused.empty()) refused = c.dir + "/" + name + " " + why;
        break;
      case Entry::absent: break;
    }
  }
  if (!refused.empty()) return make_error(ErrorCode::permission, who(pid), "has no usable control endpoint: " + refused);
  return make_error(ErrorCode::invalid_argument, who(pid),
                    "has no control endpoint (start it with LD_PRELOAD=libhotpatch.so HOTPATCH_CONTROL=1, or have "
                    "it call hotpatch::enable_control())");
}

SocketScan scan_sockets(const ScanScope& scope) {
  const uid_t me = ::geteuid();
  const bool every_user = scope.every_user && me == 0;
  std::vector<Candidate> dirs;
  add_dirs_of(dirs, me);
  if (every_user) add_every_users_dirs(dirs);
  // Directories chosen with HOTPATCH_CONTROL_DIR are only known to the processes that chose them.
  for (const auto& [pid, uid] : controllable_processes()) {
    add(dirs, environ_value(pid, "HOTPATCH_CONTROL_DIR"), uid, /*root_too=*/true);
  }

  SocketScan scan;
  std::set<pid_t> seen;
  std::set<std::pair<dev_t, ino_t>> visited;
  for (const auto& c : dirs) {
    OpenedDir d = open_dir(c);
    if (!d.fd.valid()) {
      if (!d.refusal.empty()) scan.ignored.push_back(std::move(d.refusal));
      continue;
    }
    if (d.owner != me && !every_user) continue;
    struct stat dst {};
    if (::fstat(d.fd.get(), &dst) != 0 || !visited.emplace(dst.st_dev, dst.st_ino).second) continue;
    DIR* listing = ::fdopendir(::dup(d.fd.get()));
    if (listing == nullptr) continue;
    while (dirent* e = ::readdir(listing)) {
      auto pid = pid_of_socket_name(e->d_name);
      if (!pid) continue;
      const std::string path = c.dir + "/" + e->d_name;
      if (!process_alive(*pid)) {
        if (remove_if_stale_socket(d, e->d_name)) scan.removed.emplace_back(*pid, path);
        continue;
      }
      struct stat st {};
      std::string why;
      Entry entry = check_entry(d, e->d_name, st, &why);
      if (entry == Entry::refused) scan.ignored.push_back(path + ": " + why);
      if (entry == Entry::socket && seen.insert(*pid).second) scan.sockets.push_back({*pid, path, d.owner});
    }
    ::closedir(listing);
  }
  std::sort(scan.sockets.begin(), scan.sockets.end(), [](const auto& a, const auto& b) { return a.pid < b.pid; });
  return scan;
}

bool remove_unserved_socket(const std::string& path) {
  std::filesystem::path p(path);
  const std::string name = p.filename().string();
  if (!pid_of_socket_name(name)) return false;
  OpenedDir d = open_dir({p.parent_path().string(), ::geteuid(), false});
  return d.fd.valid() && remove_if_stale_socket(d, name.c_str());
}

}  // namespace hotpatch::control
