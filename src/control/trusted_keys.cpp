// The keys a process pins, read from files once at start. Whoever can write a key file decides what
// code this process runs, so the files are held to the rule ssh holds authorized_keys to: owned by
// this user or root and writable by nobody else. Opened non-blocking, so a FIFO planted under a
// key's name is refused instead of hanging the preload constructor before main().
#include <hotpatch/control.hpp>

#include "registry/minisign.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <utility>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch {
namespace {

constexpr std::size_t max_key_file_bytes = 4096;
constexpr std::size_t max_keys_in_directory = 64;

class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::string mode_text(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Owned by us or root, writable by nobody else.
std::optional<std::string> ownership_problem(const struct stat& st) {
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return "is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
           std::to_string(::geteuid()) + ") or root";
  }
  if ((st.st_mode & 022) != 0) return "is writable by group or others (mode " + mode_text(st.st_mode) + ")";
  return std::nullopt;
}

Result<std::string> read_key(int fd, const std::string& path, std::string_view source) {
  auto bad = [&](const std::string& why) { return make_error(ErrorCode::invalid_argument, std::string(source), path + " " + why); };
  struct stat st {};
  if (::fstat(fd, &st) != 0) return bad("cannot be inspected: " + std::string(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return bad("is not a regular file");
  if (auto why = ownership_problem(st)) return bad(*why);
  if (static_cast<std::size_t>(st.st_size) > max_key_file_bytes) {
    return bad("is larger than " + std::to_string(max_key_file_bytes) + " bytes: not a minisign public key");
  }
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pread(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return bad("cannot be read: " + std::string(std::strerror(errno)));
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  auto key = registry::minisign::parse_public_key(text);
  if (!key) return bad("is not a minisign public key (" + key.error().message + ")");
  return registry::minisign::format_public_key(*key);
}

Status read_directory(int dir_fd, const std::string& path, std::string_view source, std::vector<std::string>& out) {
  auto bad = [&](const std::string& why) { return make_error(ErrorCode::invalid_argument, std::string(source), path + " " + why); };
  DIR* d = ::fdopendir(dir_fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(dir_fd);
    return bad("cannot be listed: " + std::string(std::strerror(err)));
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name.size() > 4 && name.ends_with(".pub") && name.front() != '.') names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.size() > max_keys_in_directory) {
    ::closedir(d);
    return bad("holds more than " + std::to_string(max_keys_in_directory) + " .pub files");
  }
  Status status;
  for (const auto& name : names) {
    // Inside a directory we vouched for, a symlink could point anywhere: not followed.
    OwnedFd fd(::openat(::dirfd(d), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
      const int err = errno;
      status = make_error(ErrorCode::invalid_argument, std::string(source),
                          path + "/" + name + " cannot be opened: " + std::strerror(err) +
                              (err == ELOOP ? " (a symlink)" : ""));
      break;
    }
    auto key = read_key(fd.get(), path + "/" + name, source);
    if (!key) {
      status = key.error();
      break;
    }
    out.push_back(std::move(*key));
  }
  ::closedir(d);
  if (!status) return status;
  if (names.empty()) return bad("holds no .pub key file");
  return {};
}

}  // namespace

Result<std::vector<std::string>> load_trusted_keys(std::string_view spec, std::string_view source) {
  std::vector<std::string> keys;
  std::size_t entries = 0;
  for (std::size_t start = 0; start <= spec.size();) {
    std::size_t comma = std::min(spec.find(',', start), spec.size());
    std::string path(spec.substr(start, comma - start));
    start = comma + 1;
    path.erase(0, path.find_first_not_of(" \t"));
    path.erase(path.find_last_not_of(" \t") + 1);
    if (path.empty()) continue;
    ++entries;
    if (path.front() != '/') {
      return make_error(ErrorCode::invalid_argument, std::string(source),
                        "'" + path + "' is not an absolute path to a minisign .pub file or key directory");
    }
    OwnedFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) {
      return make_error(ErrorCode::invalid_argument, std::string(source),
                        path + " cannot be opened: " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      return make_error(ErrorCode::invalid_argument, std::string(source), path + " cannot be inspected");
    }
    if (S_ISDIR(st.st_mode)) {
      if (auto why = ownership_problem(st)) {
        return make_error(ErrorCode::invalid_argument, std::string(source), path + " " + *why);
      }
      HOTPATCH_TRY(read_directory(fd.release(), path, source, keys));
    } else {
      HOTPATCH_LET(key, read_key(fd.get(), path, source));
      keys.push_back(std::move(key));
    }
  }
  if (entries == 0) {
    return make_error(ErrorCode::invalid_argument, std::string(source), "names no key file");
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

}  // namespace hotpatch
