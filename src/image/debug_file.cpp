#include "image/debug_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace hotpatch::image {
namespace {

std::vector<std::string> debug_directories() {
  const char* env = std::getenv("HOTPATCH_DEBUG_DIRECTORY");
  const std::string list = env != nullptr && *env != '\0' ? env : "/usr/lib/debug";
  std::vector<std::string> dirs;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(':', start), list.size());
    std::string dir = list.substr(start, end - start);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (!dir.empty()) dirs.push_back(std::move(dir));
    start = end + 1;
  }
  return dirs;
}

// The name in .gnu_debuglink: a NUL-terminated file name (then padding and a CRC, which the
// build-id check makes redundant). Only a plain name counts: a path could point anywhere.
std::string debuglink_name(const ElfFile& module) {
  auto section = module.section(".gnu_debuglink");
  if (!section || section->empty()) return {};
  const auto end = std::find(section->begin(), section->end(), std::uint8_t{0});
  std::string name(section->begin(), end);
  if (end == section->end() || name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return {};
  return name;
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Opens `path` if it is a debug file this process may trust; returns why not otherwise, or "" when
// there is no file there at all.
std::string try_candidate(const std::string& path, const std::string& build_id, std::optional<ElfFile>& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? "" : std::string("cannot open: ") + std::strerror(errno);
  struct stat st{};
  std::string why;
  if (::fstat(fd, &st) != 0) why = std::string("cannot stat: ") + std::strerror(errno);
  else if (!S_ISREG(st.st_mode)) why = "not a regular file";
  else if (st.st_uid != 0 && st.st_uid != ::geteuid())
    why = "owned by uid " + std::to_string(st.st_uid) + ", neither root nor this process's user";
  else if (st.st_mode & (S_IWGRP | S_IWOTH)) why = "writable by group or others";
  if (!why.empty()) {
    ::close(fd);
    return why;
  }
  // Read through the descriptor checked above, not the path, which may have changed since.
  auto file = ElfFile::open("/proc/self/fd/" + std::to_string(fd));
  ::close(fd);
  if (!file) return file.error().message;
  const std::string id = file->build_id();
  if (id != build_id) return "build-id '" + id + "' is not the module's: the debug file of another build";
  if (!file->has_symtab()) return "has no .symtab";
  out = std::move(*file);
  return {};
}

}  // namespace

DebugFileSearch find_debug_file(const ElfFile& module, const std::string& module_path, const std::string& build_id) {
  DebugFileSearch result;
  if (build_id.size() < 4) return result;  // no build-id: nothing could prove a debug file is this build's
  const auto dirs = debug_directories();
  std::vector<std::string> candidates;
  for (const auto& dir : dirs)
    candidates.push_back(dir + "/.build-id/" + build_id.substr(0, 2) + "/" + build_id.substr(2) + ".debug");
  if (const std::string name = debuglink_name(module); !name.empty()) {
    const std::string here = directory_of(module_path);
    candidates.push_back(here + "/" + name);
    candidates.push_back(here + "/.debug/" + name);
    for (const auto& dir : dirs) candidates.push_back(dir + (here.front() == '/' ? "" : "/") + here + "/" + name);
  }
  for (const auto& path : candidates) {
    if (path == module_path) continue;
    std::optional<ElfFile> file;
    const std::string why = try_candidate(path, build_id, file);
    if (file) {
      result.file = std::move(file);
      result.path = path;
      return result;
    }
    if (!why.empty()) result.refused.push_back(path + ": " + why);
  }
  return result;
}

}  // namespace hotpatch::image
