#include "registry/cache_dir.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::registry {
namespace {

Error sys_error(const std::string& path, const char* what) {
  return make_error(ErrorCode::io, path, std::string(what) + ": " + std::strerror(errno));
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string dir = parent_of(path);
  std::string tmp = path + ".tmp.XXXXXX";
  Fd f;
  f.fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (f.fd < 0) return sys_error(path, "cannot create temporary file");
  auto fail = [&](const char* what) {
    Error e = sys_error(path, what);
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(f.fd, mode) != 0) return fail("cannot set mode");
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = ::write(f.fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(f.fd) != 0) return fail("cannot sync");
  if (::close(f.fd) != 0) {
    f.fd = -1;
    return fail("cannot close");
  }
  f.fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename into place");
  // The rename is durable only once the directory entry is on disk.
  Fd d;
  d.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d.fd >= 0) ::fsync(d.fd);
  return {};
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) return sys_error(path, "cannot open");
  std::string out;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
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

bool CacheDir::exists(std::string_view name) const {
  struct stat st {};
  return ::stat(file(name).c_str(), &st) == 0;
}

Result<CacheDir> CacheDir::open(const std::string& path) {
  if (path.empty()) return make_error(ErrorCode::invalid_argument, "cache_dir", "is not set");
  HOTPATCH_TRY(make_directories(path, 0700));
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return sys_error(path, "cannot stat cache directory");
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::permission, path, "cache path is not a directory (or is a symlink)");
  }
  if (st.st_uid != ::geteuid()) {
    return make_error(ErrorCode::permission, path,
                      "cache directory is owned by uid " + std::to_string(st.st_uid) + ", not by this user");
  }
  if ((st.st_mode & 0777) != 0700 && ::chmod(path.c_str(), 0700) != 0) {
    return sys_error(path, "cannot make cache directory private (0700)");
  }
  return CacheDir(path);
}

}  // namespace hotpatch::registry
