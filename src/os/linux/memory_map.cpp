#include "os/linux/memory_map.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace hotpatch::os {

Result<std::vector<Mapping>> read_memory_map() {
  std::FILE* f = std::fopen("/proc/self/maps", "re");
  if (f == nullptr)
    return make_error(ErrorCode::io, "/proc/self/maps", std::string("cannot open: ") + std::strerror(errno));
  std::vector<Mapping> maps;
  char line[4096];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3) continue;
    Mapping m;
    m.start = start;
    m.end = end;
    m.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
             (perms[2] == 'x' ? PROT_EXEC : 0);
    if (path_at > 0) {
      m.path = line + path_at;
      while (!m.path.empty() && (m.path.back() == '\n' || m.path.back() == ' ')) m.path.pop_back();
    }
    maps.push_back(std::move(m));
  }
  std::fclose(f);
  return maps;
}

std::optional<Mapping> mapping_of(const std::vector<Mapping>& maps, std::uintptr_t address) {
  for (const auto& m : maps)
    if (address >= m.start && address < m.end) return m;
  return std::nullopt;
}

std::size_t page_size() {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace hotpatch::os
