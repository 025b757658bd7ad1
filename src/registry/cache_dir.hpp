// Files the registry code writes: crash-safe replacement (temp + fsync + rename) and the client's
// private cache directory.
#pragma once

#include <hotpatch/error.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <sys/stat.h>
#include <sys/types.h>

namespace hotpatch::registry {

/// Replaces `path` so that readers see the old or the new content, never a mix, even after a crash.
Status write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

/// Reads a whole file, refusing one larger than `max_bytes`.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes);

/// Creates `path` and missing parents with `mode`.
Status make_directories(const std::string& path, mode_t mode);

/// The client's cache: a directory the running user owns with mode 0700, so nobody else can plant
/// a patch object or a state file in it. Every access goes through a descriptor of the directory
/// opened once without following links, and every entry is checked (regular file, owned by this
/// user, not writable by others) on the descriptor that is then read: a directory that was open to
/// others earlier may still hold entries they planted, which are removed instead of used.
class CacheDir {
 public:
  /// Creates the directory (0700) or tightens an existing one the user owns; refuses one owned by
  /// someone else or a symlink. Removes entries that cannot be trusted.
  static Result<CacheDir> open(const std::string& path);

  CacheDir(CacheDir&& other) noexcept;
  CacheDir& operator=(CacheDir&& other) noexcept;
  CacheDir(const CacheDir&) = delete;
  CacheDir& operator=(const CacheDir&) = delete;
  ~CacheDir();

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

  /// The content of entry `name`; nullopt when there is none or when it could not be trusted, in
  /// which case it was removed and the reason added to the warnings. Never blocks on a FIFO or
  /// device: the entry is checked before it is opened and again on the open descriptor.
  Result<std::optional<std::string>> read(std::string_view name, std::size_t max_bytes);

  /// Replaces entry `name` (mode 0600) so that readers see the old or the new content, never a mix.
  Status write(std::string_view name, std::string_view data) const;

  /// Names of the entries, "." and ".." left out.
  std::vector<std::string> names() const;
  Status remove(std::string_view name) const;

  /// Entries refused and removed, and repairs made, since the last call.
  std::vector<Error> take_warnings();

 private:
  CacheDir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  void remove_untrusted();
  std::optional<std::string> refuse(const std::string& name, const struct stat& st, const std::string& why);

  int fd_ = -1;
  std::string path_;
  std::vector<Error> warnings_;
};

}  // namespace hotpatch::registry
