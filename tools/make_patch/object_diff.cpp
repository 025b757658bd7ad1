#include "make_patch/object_diff.hpp"

#include "make_patch/relocatable_object.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <map>

namespace hotpatch::make_patch {
namespace {

// gcc numbers function-local statics (count.0, count.1) per unit: a new one renumbers the others.
std::string stable_name(const Symbol& s) {
  if (s.bind != STB_LOCAL || s.type != STT_OBJECT) return s.name;
  const auto dot = s.name.rfind('.');
  if (dot == std::string::npos || dot + 1 == s.name.size()) return s.name;
  if (!std::all_of(s.name.begin() + static_cast<long>(dot) + 1, s.name.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return s.name;
  return s.name.substr(0, dot) + ".N";
}

// What a relocation points at, in terms that survive the compiler moving things within its unit:
// a named symbol, a string by its text, or a place in a section by the symbol that covers it.
std::string target_of(const Object& o, const Relocation& r) {
  if (r.symbol >= o.symbols.size()) return "?";
  const Symbol& s = o.symbols[r.symbol];
  // Sections and the compiler's local labels (.LC0: a string or constant) name a place, not a
  // thing: what is there is compared instead.
  const bool place = s.type == STT_SECTION || (s.type == STT_NOTYPE && s.bind == STB_LOCAL);
  if (!place || s.section == SHN_UNDEF) return stable_name(s) + (r.addend != 0 ? "%" + std::to_string(r.addend) : "");
  if (s.section >= o.sections.size()) return "?";
  const Section& sec = o.sections[s.section];
  // A PC-relative field is followed by the rest of its instruction: the addend is the target less
  // that distance (4 for the usual field at the end of the instruction).
  const std::int64_t at = static_cast<std::int64_t>(s.value) + r.addend + (pc_relative(r.type) ? 4 : 0);
  if ((sec.header.sh_flags & SHF_STRINGS) && at >= 0 && static_cast<std::size_t>(at) < sec.bytes.size()) {
    std::size_t start = static_cast<std::size_t>(at);
    while (start > 0 && sec.bytes[start - 1] != 0) --start;
    const char* text = reinterpret_cast<const char*>(sec.bytes.data() + start);
    const std::size_t len = strnlen(text, sec.bytes.size() - start);
    return "\"" + std::string(text, len) + "\"+" + std::to_string(static_cast<std::size_t>(at) - start);
  }
  for (const Symbol& cover : o.symbols) {
    if (cover.section != s.section || cover.type == STT_SECTION || cover.name.empty()) continue;
    if (static_cast<std::uint64_t>(at) >= cover.value && static_cast<std::uint64_t>(at) < cover.value + std::max<std::uint64_t>(cover.size, 1))
      return stable_name(cover) + "+" + std::to_string(static_cast<std::uint64_t>(at) - cover.value);
  }
  // Unnamed data (jump tables, constant pools): by its section and offset, and its bytes, so that
  // moved or changed contents count as a change.
  std::string bytes;
  if (!sec.bytes.empty() && at >= 0) {
    const std::size_t from = static_cast<std::size_t>(at);
    for (std::size_t i = from; i < sec.bytes.size() && i < from + 16; ++i) bytes += std::to_string(sec.bytes[i]) + ",";
  }
  return sec.name + "+" + std::to_string(at) + "[" + bytes + "]";
}

// A function's or variable's contents: its bytes with relocated fields as written (zero in a
// RELA object), and each relocation as (offset within it, type, target).
struct Contents {
  std::vector<std::uint8_t> bytes;
  std::vector<std::string> references;
  std::uint64_t size = 0;
};

Contents contents_of(const Object& o, const Symbol& s) {
  Contents c;
  c.size = s.size;
  if (s.section == 0 || s.section >= o.sections.size()) return c;
  const Section& sec = o.sections[s.section];
  if (!sec.bytes.empty() && s.value + s.size <= sec.bytes.size())
    c.bytes.assign(sec.bytes.begin() + static_cast<long>(s.value), sec.bytes.begin() + static_cast<long>(s.value + s.size));
  if (auto it = o.relocations.find(s.section); it != o.relocations.end()) {
    for (const auto& r : it->second) {
      if (r.offset < s.value || r.offset >= s.value + std::max<std::uint64_t>(s.size, 1)) continue;
      c.references.push_back(std::to_string(r.offset - s.value) + ":" + std::to_string(r.type) + ":" + target_of(o, r));
    }
  }
  return c;
}

std::string first_difference(const Contents& a, const Contents& b) {
  if (a.size != b.size) return "size " + std::to_string(a.size) + " -> " + std::to_string(b.size);
  for (std::size_t i = 0; i < a.bytes.size() && i < b.bytes.size(); ++i)
    if (a.bytes[i] != b.bytes[i]) return "bytes differ at +" + std::to_string(i);
  if (a.bytes.size() != b.bytes.size()) return "initial contents differ";
  for (std::size_t i = 0; i < a.references.size() && i < b.references.size(); ++i)
    if (a.references[i] != b.references[i]) return "reference " + a.references[i] + " -> " + b.references[i];
  if (a.references.size() != b.references.size())
    return std::to_string(a.references.size()) + " -> " + std::to_string(b.references.size()) + " references";
  return {};
}

struct Named {
  std::map<std::string, const Symbol*> functions;
  std::map<std::string, const Symbol*> variables;
};

Named named(const Object& o) {
  Named n;
  for (const auto& s : o.symbols) {
    if (s.name.empty() || s.section == SHN_UNDEF || s.section >= SHN_LORESERVE) continue;
    if (s.type == STT_FUNC) n.functions.emplace(s.name, &s);
    else if (s.type == STT_OBJECT) n.variables.emplace(stable_name(s), &s);
  }
  return n;
}

void compare(const Object& a, const Object& b, const std::map<std::string, const Symbol*>& before,
             const std::map<std::string, const Symbol*>& after, std::vector<SymbolChange>& out) {
  for (const auto& [name, sa] : before) {
    auto it = after.find(name);
    if (it == after.end()) {
      out.push_back({name, sa->bind == STB_LOCAL, Change::removed, {}});
      continue;
    }
    if (std::string why = first_difference(contents_of(a, *sa), contents_of(b, *it->second)); !why.empty())
      out.push_back({name, sa->bind == STB_LOCAL, Change::changed, why});
  }
  for (const auto& [name, sb] : after)
    if (!before.contains(name)) out.push_back({name, sb->bind == STB_LOCAL, Change::added, {}});
}

}  // namespace

Result<ObjectDiff> diff_objects(const std::string& original, const std::string& patched) {
  HOTPATCH_LET(a, read_object(original));
  HOTPATCH_LET(b, read_object(patched));
  const Named na = named(a), nb = named(b);
  ObjectDiff diff;
  compare(a, b, na.functions, nb.functions, diff.functions);
  compare(a, b, na.variables, nb.variables, diff.variables);
  return diff;
}

}  // namespace hotpatch::make_patch
