#include "make_patch/target_check.hpp"

#include <cxxabi.h>
#include <elf.h>

#include <cstdlib>
#include <memory>

namespace hotpatch::make_patch {
namespace {

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The target's functions that the object's function `s` can be.
std::vector<const TargetSymbol*> candidates(const TargetSymbols& target, const std::string& unit, const Symbol& s) {
  if (s.bind == STB_LOCAL) return statics_of_unit(target, unit, s.name);
  std::vector<const TargetSymbol*> out;
  for (const auto* t : target.globals(s.name))
    if (t->function) out.push_back(t);
  return out;
}

}  // namespace

std::vector<const TargetSymbol*> statics_of_unit(const TargetSymbols& target, const std::string& unit, const std::string& name) {
  std::vector<const TargetSymbol*> out;
  const std::string file = base_name(unit);
  for (const auto* t : target.locals(name))
    if (t->function && t->file == file) out.push_back(t);
  return out;
}

std::string display_name(const std::string& unit, const std::string& symbol, bool local) {
  std::string name = symbol;
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(symbol.c_str(), nullptr, nullptr, &status), std::free);
  if (status == 0 && demangled) name = demangled.get();
  return local ? unit + ":" + name : name;
}

UnitPresence presence_in_target(const UnitChanges& unit, const TargetSymbols& target) {
  UnitPresence p;
  for (const Symbol& s : unit.original->symbols) {
    // Every program has a main: its name alone says nothing about which program a unit is in.
    if (s.type != STT_FUNC || s.section == SHN_UNDEF || s.size == 0) continue;
    const auto found = candidates(target, unit.name, s);
    if (found.empty()) continue;
    if (s.name != "main") ++p.by_name;
    for (const auto* t : found)
      if (t->size == s.size) {
        ++p.by_name_and_size;
        break;
      }
  }
  return p;
}

TargetCheck check_against_target(const UnitChanges& unit, const TargetSymbols& target) {
  TargetCheck out;
  for (const SymbolChange& c : unit.diff.functions) {
    if (c.change != Change::changed) continue;
    PlannedFunction f{unit.name, c.name, display_name(unit.name, c.name, c.local), c.local, c.why};
    const Symbol* s = nullptr;
    for (const Symbol& sym : unit.original->symbols)
      if (sym.type == STT_FUNC && sym.name == c.name && sym.section != SHN_UNDEF) s = &sym;
    if (s == nullptr) continue;
    const auto found = candidates(target, unit.name, *s);
    if (c.local) f.same_named_statics = target.locals(c.name).size();
    if (found.empty()) {
      f.in_target = false;
      out.notes.push_back(f.display + ": not in the target (inlined into every caller, or dropped by the linker): "
                          "its callers carry the change");
    } else if (found.size() > 1) {
      out.ambiguous.push_back(f.display + ": " + std::to_string(found.size()) +
                              " static functions of that name come from units whose file is named " + base_name(unit.name) +
                              ": the target's file symbols cannot tell them apart");
    } else if (found.front()->size != s->size) {
      out.mismatches.push_back(f.display + ": " + std::to_string(found.front()->size) + " bytes in the target, " +
                               std::to_string(s->size) + " recompiled");
    }
    out.changed.push_back(std::move(f));
  }
  return out;
}

}  // namespace hotpatch::make_patch
