#include "make_patch/scratch_dir.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace hotpatch::make_patch {

namespace fs = std::filesystem;

Result<ScratchDir> ScratchDir::create() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/hotpatch-make-patch.XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr)
    return make_error(ErrorCode::io, pattern, std::string("cannot create the scratch directory: ") + std::strerror(errno));
  return ScratchDir(std::string(buf.data()));
}

ScratchDir::ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)), keep_(other.keep_) {
  other.path_.clear();
}

ScratchDir::~ScratchDir() {
  if (path_.empty() || keep_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Status copy_tree(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directory(to, ec);
  if (ec) return make_error(ErrorCode::io, to, "cannot create: " + ec.message());
  for (auto it = fs::recursive_directory_iterator(from, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(from);
    if (it.depth() == 0 && rel == ".git") {
      it.disable_recursion_pending();
      continue;
    }
    // A CMake build directory inside the tree (project/build) holds outputs, not sources, and
    // often more bytes than the sources: never copied.
    if (it->is_directory(ec) && fs::exists(it->path() / "CMakeCache.txt", ec)) {
      it.disable_recursion_pending();
      continue;
    }
    const fs::path dest = fs::path(to) / rel;
    const auto status = it->symlink_status(ec);
    if (ec) break;
    if (fs::is_symlink(status)) fs::copy_symlink(it->path(), dest, ec);
    else if (fs::is_directory(status)) fs::create_directory(dest, ec);
    else if (fs::is_regular_file(status)) fs::copy_file(it->path(), dest, ec);
    // Sockets, fifos and devices are no part of a build.
    if (ec) return make_error(ErrorCode::io, it->path().string(), "cannot copy into the scratch directory: " + ec.message());
  }
  if (ec) return make_error(ErrorCode::io, from, "cannot copy the tree: " + ec.message());
  return {};
}

std::string normal_path(const std::string& path, const std::string& base) {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base) / p;
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool is_under(const std::string& path, const std::string& root) {
  if (root == "/") return !path.empty() && path.front() == '/';
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

std::string relative_to(const std::string& path, const std::string& root) {
  if (path == root) return {};
  return path.substr(root == "/" ? 1 : root.size() + 1);
}

}  // namespace hotpatch::make_patch
