#include "registry/cache_dir.hpp"

#include "registry/cache_entry.hpp"
#include "support/unique_fd.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace hotpatch::registry {
namespace {

Error sys_error(const std::string& path, const char* what) {
  return make_error(ErrorCode::io, path, std::string(what) + ": " + std::strerror(errno));
}

// All of `data`, then fsync; on failure, what failed ("cannot write", "cannot sync").
const char* write_and_sync(int fd, std::string_view data) {
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return "cannot write";
    done += static_cast<std::size_t>(n);
  }
  return ::fsync(fd) != 0 ? "cannot sync" : nullptr;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string dir = parent_of(path);
  std::string tmp = path + ".tmp.XXXXXX";
  UniqueFd f(::mkostemp(tmp.data(), O_CLOEXEC));
  if (f.get() < 0) return sys_error(path, "cannot create temporary file");
  auto fail = [&](const char* what) {
    Error e = sys_error(path, what);
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(f.get(), mode) != 0) return fail("cannot set mode");
  if (const char* failed = write_and_sync(f.get(), data)) return fail(failed);
  if (::close(f.release()) != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename into place");
  // The rename is durable only once the directory entry is on disk.
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.get() >= 0) ::fsync(d.get());
  return {};
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  UniqueFd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.get() < 0) return sys_error(path, "cannot open");
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(path, "cannot read");
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return make_error(ErrorCode::too_large, path, "is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Status make_directories(const std::string& path, mode_t mode) {
  if (path.empty()) return make_error(ErrorCode::invalid_argument, path, "empty directory path");
  for (std::size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return sys_error(prefix, "cannot create directory");
    if (pos == std::string::npos) break;
  }
  return {};
}

namespace {

std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// Temporary names are unpredictable and created with O_EXCL, so nothing planted under a guessed
// name can be written through.
Result<std::string> temporary_name() {
  std::uint8_t random[12];
  if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
    return make_error(ErrorCode::io, "cache", std::string("cannot get random bytes: ") + std::strerror(errno));
  }
  std::string name = ".tmp-";
  for (auto b : random) {
    static constexpr char hex[] = "0123456789abcdef";
    name += hex[b >> 4];
    name += hex[b & 15];
  }
  return name;
}

}  // namespace

CacheDir::CacheDir(CacheDir&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), warnings_(std::move(other.warnings_)) {}

CacheDir& CacheDir::operator=(CacheDir&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    warnings_ = std::move(other.warnings_);
  }
  return *this;
}

CacheDir::~CacheDir() {
  if (fd_ >= 0) ::close(fd_);
}

Result<CacheDir> CacheDir::open(const std::string& requested) {
  if (requested.empty()) return make_error(ErrorCode::invalid_argument, "cache_dir", "is not set");
  std::string path = without_trailing_slashes(requested);
  std::string parent = parent_of(path);
  if (parent != "/" && parent != ".") HOTPATCH_TRY(make_directories(parent, 0700));
  bool created = ::mkdir(path.c_str(), 0700) == 0;
  if (!created && errno != EEXIST) return sys_error(path, "cannot create directory");
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return sys_error(path, "cannot stat cache directory");
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::permission, path, "cache path is not a directory (or is a symlink)");
  }
  // From here on everything goes through this descriptor: swapping the path for a link later
  // changes nothing.
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP || errno == ENOTDIR) {
      return make_error(ErrorCode::permission, path, "cache path is not a directory (or is a symlink)");
    }
    return sys_error(path, "cannot open cache directory");
  }
  CacheDir dir(fd, path);
  if (::fstat(fd, &st) != 0) return sys_error(path, "cannot stat cache directory");
  if (st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, path,
                      "cache directory is owned by uid " + std::to_string(st.st_uid) + ", not by this user");
  }
  if ((st.st_mode & 07777) != 0700) {
    if (::fchmod(fd, 0700) != 0) return sys_error(path, "cannot make cache directory private (0700)");
    // Only a directory others could write to can hold entries they planted.
    if (!created && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
      dir.warnings_.push_back(make_error(
          ErrorCode::permission, path,
          "cache directory had mode " + octal_mode(st.st_mode) +
              ", writable by other users; made it private (0700), and its entries are trusted only after checks"));
    }
  }
  dir.remove_untrusted();
  return dir;
}

std::optional<std::string> CacheDir::refuse(const std::string& name, const struct stat& st, const std::string& why) {
  std::string message = why + "; refused and removed from the cache";
  if (::unlinkat(fd_, name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    message = why + "; refused, but could not remove it: " + std::strerror(errno);
  }
  warnings_.push_back(make_error(ErrorCode::permission, file(name), message));
  return std::nullopt;
}

// Only lstat-like checks here: listing and judging entries never opens one, so a FIFO or a
// device cannot block or be triggered.
void CacheDir::remove_untrusted() {
  uid_t euid = ::geteuid();
  for (const auto& name : names()) {
    struct stat st {};
    if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (auto why = untrusted_entry_reason(st, euid)) refuse(name, st, *why);
  }
}

Result<std::optional<std::string>> CacheDir::read(std::string_view name_view, std::size_t max_bytes) {
  using Found = std::optional<std::string>;
  const std::string name(name_view);
  const uid_t euid = ::geteuid();
  struct stat st {};
  if (::fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Found{};
    return sys_error(file(name), "cannot stat cache entry");
  }
  if (auto why = untrusted_entry_reason(st, euid)) return refuse(name, st, *why);
  UniqueFd f(::openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  if (f.get() < 0) {
    if (errno == ENOENT) return Found{};
    if (errno == ELOOP) {
      st.st_mode = S_IFLNK;
      return refuse(name, st, "is a symbolic link, not a regular file");
    }
    return sys_error(file(name), "cannot open cache entry");
  }
  // The entry may have been replaced between the check above and the open: judge what was opened.
  if (::fstat(f.get(), &st) != 0) return sys_error(file(name), "cannot stat cache entry");
  if (auto why = untrusted_entry_reason(st, euid)) return refuse(name, st, *why);
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return make_error(ErrorCode::too_large, file(name), "is larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(f.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(file(name), "cannot read");
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      return make_error(ErrorCode::too_large, file(name), "is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  return Found{std::move(out)};
}

Status CacheDir::write(std::string_view name_view, std::string_view data) const {
  const std::string name(name_view);
  HOTPATCH_LET(tmp, temporary_name());
  UniqueFd f(::openat(fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (f.get() < 0) return sys_error(file(name), "cannot create temporary file");
  auto fail = [&](const char* what) {
    Error e = sys_error(file(name), what);
    ::unlinkat(fd_, tmp.c_str(), 0);
    return e;
  };
  // The umask may have taken bits away, never added any; set the exact mode.
  if (::fchmod(f.get(), 0600) != 0) return fail("cannot set mode");
  if (const char* failed = write_and_sync(f.get(), data)) return fail(failed);
  if (::close(f.release()) != 0) return fail("cannot close");
  if (::renameat(fd_, tmp.c_str(), fd_, name.c_str()) != 0) return fail("cannot rename into place");
  // The rename is durable only once the directory entry is on disk.
  ::fsync(fd_);
  return {};
}

std::vector<std::string> CacheDir::names() const {
  std::vector<std::string> out;
  int fd = ::dup(fd_);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return out;
  }
  // The duplicate shares the directory offset with fd_: start from the beginning every time.
  ::rewinddir(d);
  while (const dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(d);
  return out;
}

Status CacheDir::remove(std::string_view name) const {
  if (::unlinkat(fd_, std::string(name).c_str(), 0) != 0 && errno != ENOENT) {
    return sys_error(file(name), "cannot remove");
  }
  return {};
}

std::vector<Error> CacheDir::take_warnings() { return std::exchange(warnings_, {}); }

}  // namespace hotpatch::registry
