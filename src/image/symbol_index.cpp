#include "image/symbol_index.hpp"
#include "support/hex.hpp"

#include "image/debug_file.hpp"
#include "image/elf_file.hpp"

#include <cxxabi.h>
#include <elf.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace hotpatch::image {
namespace {

struct ModuleSymbols {
  std::vector<ElfSymbol> symbols;
  std::unordered_multimap<std::string, std::size_t> by_name;
  std::unordered_multimap<std::string, std::size_t> by_demangled;  // built on first need
  bool demangled = false;
  bool from_symtab = false;
  std::string searched = ".symtab";  // what a failed lookup names as searched
};

struct Cache {
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<ModuleSymbols>> by_key;  // path + build-id
};

Cache& cache() {
  static Cache c;
  return c;
}

Result<std::shared_ptr<ModuleSymbols>> load(const LoadedModule& module) {
  if (module.path.empty())
    return make_error(ErrorCode::symbol_not_found, module.name, "module has no file to read symbols from");
  const std::string key = module.path + "#" + module.build_id;
  auto& c = cache();
  std::lock_guard lock(c.mutex);
  if (auto it = c.by_key.find(key); it != c.by_key.end()) return it->second;
  HOTPATCH_LET(file, ElfFile::open(module.path));
  const std::string on_disk = file.build_id();
  if (on_disk != module.build_id)
    return make_error(ErrorCode::wrong_build, module.path,
                      "file on disk has build-id '" + on_disk + "' but the loaded module has '" + module.build_id +
                          "': it was replaced after loading, so its symbols cannot be trusted");
  auto syms = std::make_shared<ModuleSymbols>();
  if (file.has_symtab()) {
    syms->symbols = file.defined_symbols();
    syms->from_symtab = true;
  } else if (auto debug = find_debug_file(file, module.path, module.build_id); debug.file) {
    // A stripped module: its static functions are known only to its separate debug file.
    syms->symbols = debug.file->defined_symbols();
    syms->from_symtab = true;
    syms->searched = "the .symtab of its debug file " + debug.path;
  } else {
    syms->symbols = file.defined_symbols();
    syms->searched = ".dynsym (the file has no .symtab: it is stripped, and no debug file with its build-id was found";
    for (const auto& r : debug.refused) syms->searched += "; not taken: " + r;
    syms->searched += ")";
  }
  for (std::size_t i = 0; i < syms->symbols.size(); ++i) syms->by_name.emplace(syms->symbols[i].name, i);
  c.by_key.emplace(key, syms);
  return syms;
}

void build_demangled(ModuleSymbols& syms) {
  if (syms.demangled) return;
  for (std::size_t i = 0; i < syms.symbols.size(); ++i) {
    const std::string& name = syms.symbols[i].name;
    if (name.rfind("_Z", 0) != 0) continue;
    int status = 0;
    char* d = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
    if (status == 0 && d != nullptr) syms.by_demangled.emplace(d, i);
    std::free(d);
  }
  syms.demangled = true;
}

bool kind_matches(const ElfSymbol& s, SymbolKind kind) {
  if (kind == SymbolKind::any) return true;
  return s.type == STT_FUNC;
}

}  // namespace

Result<ResolvedSymbol> resolve_symbol(const LoadedModule& module, const std::string& name, SymbolKind kind) {
  HOTPATCH_LET(syms, load(module));
  std::vector<std::size_t> hits;
  {
    std::lock_guard lock(cache().mutex);
    auto [lo, hi] = syms->by_name.equal_range(name);
    for (auto it = lo; it != hi; ++it)
      if (kind_matches(syms->symbols[it->second], kind)) hits.push_back(it->second);
    if (hits.empty() && (name.find('(') != std::string::npos || name.find("::") != std::string::npos)) {
      build_demangled(*syms);
      auto [dlo, dhi] = syms->by_demangled.equal_range(name);
      for (auto it = dlo; it != dhi; ++it)
        if (kind_matches(syms->symbols[it->second], kind)) hits.push_back(it->second);
    }
  }
  // Aliases of one address are one function.
  std::sort(hits.begin(), hits.end(), [&](std::size_t a, std::size_t b) { return syms->symbols[a].value < syms->symbols[b].value; });
  hits.erase(std::unique(hits.begin(), hits.end(),
                         [&](std::size_t a, std::size_t b) { return syms->symbols[a].value == syms->symbols[b].value; }),
             hits.end());
  if (hits.empty()) {
    return make_error(ErrorCode::symbol_not_found, name,
                      std::string(kind == SymbolKind::function ? "no function" : "no symbol") + " of that name in " +
                          module.name + " (searched " + syms->searched + ")");
  }
  if (hits.size() > 1) {
    std::string where;
    for (std::size_t i = 0; i < hits.size() && i < 4; ++i)
      where += (i ? ", " : "") + hex(module.base + syms->symbols[hits[i]].value);
    return make_error(ErrorCode::ambiguous_symbol, name,
                      std::to_string(hits.size()) + " different symbols of that name in " + module.name + " (at " + where +
                          "); rename the static ones or give the mangled name");
  }
  const ElfSymbol& s = syms->symbols[hits.front()];
  ResolvedSymbol r;
  r.name = s.name;
  r.address = module.base + s.value;
  r.size = s.size;
  r.is_function = s.type == STT_FUNC;
  return r;
}

Result<ResolvedSymbol> resolve_local_symbol(const LoadedModule& module, const std::string& name, const std::string& unit) {
  HOTPATCH_LET(syms, load(module));
  std::vector<std::size_t> hits;
  {
    std::lock_guard lock(cache().mutex);
    auto [lo, hi] = syms->by_name.equal_range(name);
    for (auto it = lo; it != hi; ++it) {
      const ElfSymbol& s = syms->symbols[it->second];
      if (s.bind == STB_LOCAL && s.unit == unit) hits.push_back(it->second);
    }
  }
  if (hits.empty())
    return make_error(ErrorCode::symbol_not_found, unit + ":" + name,
                      "no static of that name in unit " + unit + " of " + module.name + " (searched " + syms->searched + ")");
  std::sort(hits.begin(), hits.end(), [&](std::size_t a, std::size_t b) { return syms->symbols[a].value < syms->symbols[b].value; });
  hits.erase(std::unique(hits.begin(), hits.end(),
                         [&](std::size_t a, std::size_t b) { return syms->symbols[a].value == syms->symbols[b].value; }),
             hits.end());
  if (hits.size() > 1)
    return make_error(ErrorCode::ambiguous_symbol, unit + ":" + name,
                      std::to_string(hits.size()) + " units named " + unit + " in " + module.name + " have a static of that name");
  const ElfSymbol& s = syms->symbols[hits.front()];
  return ResolvedSymbol{s.name, module.base + s.value, s.size, s.type == STT_FUNC};
}

Result<ResolvedSymbol> resolve_global_symbol(const LoadedModule& module, const std::string& name) {
  HOTPATCH_LET(syms, load(module));
  std::vector<std::size_t> hits;
  {
    std::lock_guard lock(cache().mutex);
    auto [lo, hi] = syms->by_name.equal_range(name);
    for (auto it = lo; it != hi; ++it)
      if (syms->symbols[it->second].bind != STB_LOCAL) hits.push_back(it->second);
  }
  if (hits.empty())
    return make_error(ErrorCode::symbol_not_found, name, "no global symbol of that name in " + module.name);
  // A global and its weak alias may both be listed; a strong definition wins, as at link time.
  std::sort(hits.begin(), hits.end(), [&](std::size_t a, std::size_t b) {
    return (syms->symbols[a].bind == STB_GLOBAL) > (syms->symbols[b].bind == STB_GLOBAL);
  });
  const ElfSymbol& s = syms->symbols[hits.front()];
  return ResolvedSymbol{s.name, module.base + s.value, s.size, s.type == STT_FUNC};
}

Result<std::vector<ResolvedSymbol>> vtables_of(const LoadedModule& module) {
  HOTPATCH_LET(syms, load(module));
  std::vector<ResolvedSymbol> out;
  for (const auto& s : syms->symbols) {
    if (s.type != STT_OBJECT || s.name.rfind("_ZTV", 0) != 0 || s.size < 2 * sizeof(void*)) continue;
    out.push_back({s.name, module.base + s.value, s.size, false});
  }
  return out;
}

void clear_symbol_cache() {
  std::lock_guard lock(cache().mutex);
  cache().by_key.clear();
}

}  // namespace hotpatch::image
