#include "image/module_list.hpp"

#include "image/elf_file.hpp"
#include "os/linux/loaded_segments.hpp"

#include <climits>
#include <cstddef>
#include <cstring>
#include <link.h>
#include <unistd.h>

namespace hotpatch::image {
namespace {

std::string memory_build_id(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const auto* notes = reinterpret_cast<const std::uint8_t*>(info->dlpi_addr + ph.p_vaddr);
    std::string id = build_id_from_notes(notes, ph.p_memsz);
    if (!id.empty()) return id;
  }
  return {};
}

struct Collect {
  std::vector<LoadedModule> modules;
  ModuleGeneration generation;  // read in the same walk, under the loader's lock: matches the list
  std::uintptr_t probe = 0;  // when set, stop at the module containing it
  bool found = false;
};

int collect(dl_phdr_info* info, std::size_t size, void* arg) {
  auto* c = static_cast<Collect*>(arg);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    c->generation.adds = info->dlpi_adds;
    c->generation.subs = info->dlpi_subs;
  }
  if (c->probe != 0) {
    bool inside = false;
    for (int i = 0; i < info->dlpi_phnum && !inside; ++i) {
      const auto& ph = info->dlpi_phdr[i];
      const std::uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
      inside = ph.p_type == PT_LOAD && c->probe >= lo && c->probe < lo + ph.p_memsz;
    }
    if (!inside) return 0;
    c->found = true;
  }
  LoadedModule m;
  const bool main_program = c->modules.empty() && c->probe == 0 && (info->dlpi_name == nullptr || info->dlpi_name[0] == '\0');
  const bool unnamed = info->dlpi_name == nullptr || info->dlpi_name[0] == '\0';
  m.path = unnamed ? (main_program || c->probe != 0 ? os::executable_path() : std::string()) : info->dlpi_name;
  const char* slash = std::strrchr(m.path.c_str(), '/');
  m.name = slash != nullptr ? slash + 1 : m.path;
  m.base = info->dlpi_addr;
  m.build_id = memory_build_id(info);
  c->modules.push_back(std::move(m));
  return c->probe != 0 ? 1 : 0;
}

}  // namespace

std::vector<LoadedModule> list_modules() {
  Collect c;
  dl_iterate_phdr(collect, &c);
  return std::move(c.modules);
}

const std::vector<LoadedModule>& ModuleSnapshot::current() {
  if (!valid_ || module_generation() != generation_) {
    Collect c;
    dl_iterate_phdr(collect, &c);
    modules_ = std::move(c.modules);
    generation_ = c.generation;
    valid_ = true;
  }
  return modules_;
}

std::optional<LoadedModule> ModuleSnapshot::by_build_id(const std::string& build_id) {
  if (build_id.empty()) return std::nullopt;
  for (const auto& m : current())
    if (m.build_id == build_id) return m;
  return std::nullopt;
}

std::optional<LoadedModule> find_module_by_build_id(const std::string& build_id) {
  if (build_id.empty()) return std::nullopt;
  for (auto& m : list_modules())
    if (m.build_id == build_id) return m;
  return std::nullopt;
}

ModuleGeneration module_generation() {
  ModuleGeneration g;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t size, void* arg) {
        auto* out = static_cast<ModuleGeneration*>(arg);
        if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
          out->adds = info->dlpi_adds;
          out->subs = info->dlpi_subs;
        }
        return 1;  // the counters are the same in every entry
      },
      &g);
  return g;
}

std::optional<LoadedModule> find_module_containing(std::uintptr_t address) {
  Collect c;
  c.probe = address;
  dl_iterate_phdr(collect, &c);
  if (!c.found || c.modules.empty()) return std::nullopt;
  return c.modules.front();
}

}  // namespace hotpatch::image
