// A private scratch directory for make-patch: the copies of the user's tree and everything compiled
// from them live here, so the user's tree and build directory are never written.
#pragma once

#include <hotpatch/error.hpp>

#include <string>

namespace hotpatch::make_patch {

class ScratchDir {
 public:
  /// mkdtemp under $TMPDIR (or /tmp), mode 0700: other users can neither read the sources nor plant
  /// files the compiler would pick up.
  static Result<ScratchDir> create();

  ScratchDir(ScratchDir&& other) noexcept;
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir();

  const std::string& path() const { return path_; }
  /// Leaves the directory in place when this object goes (to look at what was compiled).
  void keep() { keep_ = true; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
  bool keep_ = false;
};

/// Copies the tree at `from` to `to` (which must not exist): regular files with their modes,
/// symbolic links as links. A top-level .git is left out: nothing compiles from it and it may be
/// large.
Status copy_tree(const std::string& from, const std::string& to);

/// `path` made absolute and lexically normal (no ".", "..", or doubled slashes); symbolic links are
/// not followed, so a path keeps the spelling the build recorded.
std::string normal_path(const std::string& path, const std::string& base);

/// Whether `path` is `root` or below it; both normal absolute paths.
bool is_under(const std::string& path, const std::string& root);
/// The part of `path` below `root` ("" for root itself); `path` must be under it.
std::string relative_to(const std::string& path, const std::string& root);

}  // namespace hotpatch::make_patch
