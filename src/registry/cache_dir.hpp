// Files the registry code writes: crash-safe replacement (temp + fsync + rename) and the client's
// private cache directory.
#pragma once

#include <hotpatch/error.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace hotpatch::registry {

/// Replaces `path` so that readers see the old or the new content, never a mix, even after a crash.
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

/// Reads a whole file, refusing one larger than `max_bytes`.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes);

/// Creates `path` and missing parents with `mode`.
Status make_directories(const std::string& path, mode_t mode);

/// The client's cache: a directory the running user owns with mode 0700, so nobody else can plant
/// a patch object or a state file in it.
class CacheDir {
 public:
  /// Creates the directory (0700) or tightens an existing one the user owns; refuses one owned by
  /// someone else or a symlink.
  static Result<CacheDir> open(const std::string& path);

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  bool exists(std::string_view name) const;
  Result<std::string> read(std::string_view name, std::size_t max_bytes) const {
    return read_file(file(name), max_bytes);
  }
  Status write(std::string_view name, std::string_view data) const {
    return write_file_atomic(file(name), data, 0600);
  }

 private:
  explicit CacheDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

}  // namespace hotpatch::registry
