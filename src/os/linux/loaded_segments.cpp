#include "os/linux/loaded_segments.hpp"

#include <elf.h>
#include <link.h>
#include <unistd.h>

namespace hotpatch::os {
namespace {

struct Search {
  std::uintptr_t address = 0;
  bool main_code = false;  // look for the main program's code instead of an address
  bool first = true;
  std::optional<LoadedSegment> found;
};

std::string module_path(const dl_phdr_info* info, bool is_main) {
  if (!is_main && info->dlpi_name != nullptr && *info->dlpi_name != '\0') return info->dlpi_name;
  return executable_path();
}

int visit(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  const bool is_main = s->first;
  s->first = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
    const std::uintptr_t hi = lo + ph.p_memsz;
    const bool executable = (ph.p_flags & PF_X) && (ph.p_flags & PF_R);
    const bool hit = s->main_code ? executable : (s->address >= lo && s->address < hi);
    if (!hit) continue;
    s->found = LoadedSegment{lo, hi, executable, module_path(info, is_main)};
    return 1;
  }
  return s->main_code ? 1 : 0;  // the main program comes first
}

}  // namespace

const std::string& executable_path() {
  // Read once: the program cannot change under a running process (only its name on disk can,
  // and a file found under the old name is checked by build-id wherever it is read).
  static const std::string path = [] {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("/proc/self/exe");
  }();
  return path;
}

std::optional<LoadedSegment> segment_containing(std::uintptr_t address) {
  Search s;
  s.address = address;
  dl_iterate_phdr(visit, &s);
  return s.found;
}

std::optional<LoadedSegment> main_program_code() {
  Search s;
  s.main_code = true;
  dl_iterate_phdr(visit, &s);
  return s.found;
}

}  // namespace hotpatch::os
