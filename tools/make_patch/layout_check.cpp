#include "make_patch/layout_check.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

namespace hotpatch::make_patch {
namespace {

constexpr std::uint64_t placed_at_run_time = ~std::uint64_t{0};
// Type names nest (pointer to array of pointer...); a cycle can only run through an aggregate,
// which is named without following it, so this bounds nothing but a malformed file.
constexpr int deepest_type_name = 32;

std::string text_attr(Dwarf_Die* die, unsigned name) {
  Dwarf_Attribute a;
  const char* s = dwarf_attr_integrate(die, name, &a) != nullptr ? dwarf_formstring(&a) : nullptr;
  return s != nullptr ? s : "";
}

std::string name_of(Dwarf_Die* die) {
  const char* s = dwarf_diename(die);
  return s != nullptr ? s : "";
}

// A definition that completes a declaration (DW_AT_specification) is not a declaration itself:
// this one is read from the entry alone.
bool declaration(Dwarf_Die* die) {
  Dwarf_Attribute a;
  bool value = false;
  return dwarf_attr(die, DW_AT_declaration, &a) != nullptr && dwarf_formflag(&a, &value) == 0 && value;
}

bool flag(Dwarf_Die* die, unsigned name) {
  Dwarf_Attribute a;
  bool value = false;
  return dwarf_attr_integrate(die, name, &a) != nullptr && dwarf_formflag(&a, &value) == 0 && value;
}

std::optional<std::uint64_t> unsigned_attr(Dwarf_Die* die, unsigned name) {
  Dwarf_Attribute a;
  Dwarf_Word w = 0;
  if (dwarf_attr_integrate(die, name, &a) == nullptr || dwarf_formudata(&a, &w) != 0) return std::nullopt;
  return w;
}

std::optional<Dwarf_Die> type_of(Dwarf_Die* die) {
  Dwarf_Attribute a;
  Dwarf_Die t;
  if (dwarf_attr_integrate(die, DW_AT_type, &a) == nullptr || dwarf_formref_die(&a, &t) == nullptr) return std::nullopt;
  return t;
}

std::uint64_t size_of(Dwarf_Die* die) {
  Dwarf_Word size = 0;
  return dwarf_aggregate_size(die, &size) == 0 ? size : 0;
}

std::uint64_t size_of(std::optional<Dwarf_Die> die) { return die ? size_of(&*die) : 0; }

template <class F>
void for_each_child(Dwarf_Die* parent, F&& f) {
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return;
  do {
    Dwarf_Die current = child;
    f(current);
  } while (dwarf_siblingof(&child, &child) == 0);
}

bool aggregate(int tag) {
  return tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type;
}

const char* kind_of(int tag) {
  switch (tag) {
    case DW_TAG_structure_type: return "struct";
    case DW_TAG_class_type: return "class";
    case DW_TAG_union_type: return "union";
    case DW_TAG_enumeration_type: return "enum";
    default: return "type";
  }
}

// What a variable or member holds once qualifiers and array bounds are set aside: an anonymous
// aggregate found there is named after (or flattened into) that variable or member.
std::optional<Dwarf_Die> element_type(Dwarf_Die* die, bool* array = nullptr) {
  auto t = type_of(die);
  for (int depth = 0; t && depth < deepest_type_name; ++depth) {
    const int tag = dwarf_tag(&*t);
    if (tag == DW_TAG_array_type && array != nullptr) *array = true;
    if (tag != DW_TAG_const_type && tag != DW_TAG_volatile_type && tag != DW_TAG_array_type && tag != DW_TAG_atomic_type)
      return t;
    t = type_of(&*t);
  }
  return t;
}

std::optional<Dwarf_Die> anonymous_aggregate(Dwarf_Die* holder, bool* array = nullptr) {
  auto t = element_type(holder, array);
  if (t && aggregate(dwarf_tag(&*t)) && name_of(&*t).empty()) return t;
  return std::nullopt;
}

std::string array_bounds(Dwarf_Die* array) {
  std::string out;
  for_each_child(array, [&](Dwarf_Die& range) {
    if (dwarf_tag(&range) != DW_TAG_subrange_type) return;
    if (auto count = unsigned_attr(&range, DW_AT_count)) out += "[" + std::to_string(*count) + "]";
    else if (auto upper = unsigned_attr(&range, DW_AT_upper_bound)) out += "[" + std::to_string(*upper + 1) + "]";
    else out += "[]";
  });
  return out;
}

// A type as a person writes it; aggregates by their name only (their layouts are compared on
// their own), so that this stays finite.
std::string type_name(std::optional<Dwarf_Die> die, int depth = 0) {
  if (!die) return "void";
  if (depth > deepest_type_name) return "...";
  Dwarf_Die* d = &*die;
  const int tag = dwarf_tag(d);
  const auto inner = [&] { return type_name(type_of(d), depth + 1); };
  switch (tag) {
    case DW_TAG_base_type:
    case DW_TAG_typedef:
    case DW_TAG_unspecified_type: return name_of(d);
    case DW_TAG_structure_type:
    case DW_TAG_class_type:
    case DW_TAG_union_type:
    case DW_TAG_enumeration_type: {
      const std::string name = name_of(d);
      return std::string(kind_of(tag)) + " " + (name.empty() ? "<anonymous>" : name);
    }
    case DW_TAG_pointer_type: return inner() + " *";
    case DW_TAG_reference_type: return inner() + " &";
    case DW_TAG_rvalue_reference_type: return inner() + " &&";
    case DW_TAG_const_type: return "const " + inner();
    case DW_TAG_volatile_type: return "volatile " + inner();
    case DW_TAG_atomic_type: return "_Atomic " + inner();
    case DW_TAG_restrict_type: return inner() + " restrict";
    case DW_TAG_array_type: return inner() + array_bounds(d);
    case DW_TAG_subroutine_type: return "function";
    case DW_TAG_ptr_to_member_type: return inner() + " member pointer";
    default: return "type (DWARF tag " + std::to_string(tag) + ")";
  }
}

// Byte offset of a member or base class; nullopt where the program computes it (a virtual base).
std::optional<std::uint64_t> member_offset(Dwarf_Die* member) {
  Dwarf_Attribute a;
  if (dwarf_attr(member, DW_AT_data_member_location, &a) == nullptr) return 0;  // a union's members
  Dwarf_Word w = 0;
  if (dwarf_whatform(&a) != DW_FORM_exprloc && dwarf_formudata(&a, &w) == 0) return w;
  Dwarf_Op* ops = nullptr;
  std::size_t n = 0;
  if (dwarf_getlocation(&a, &ops, &n) == 0 && n == 1 && ops[0].atom == DW_OP_plus_uconst) return ops[0].number;
  return std::nullopt;
}

// A member's first bit counted from the start of the structure, for ordinary members and for both
// ways DWARF places a bit field (DWARF 4's bit offset from the top of its storage unit; DWARF 5's
// data bit offset).
std::optional<std::uint64_t> member_bit_position(Dwarf_Die* member, std::uint64_t bit_size) {
  if (auto data_bit = unsigned_attr(member, DW_AT_data_bit_offset)) return *data_bit;
  const auto bytes = member_offset(member);
  if (!bytes) return std::nullopt;
  std::uint64_t position = *bytes * 8;
  if (auto from_top = unsigned_attr(member, DW_AT_bit_offset)) {
    std::uint64_t storage = unsigned_attr(member, DW_AT_byte_size).value_or(0);
    if (storage == 0)
      if (auto t = type_of(member)) storage = size_of(&*t);
    position += storage * 8 - *from_top - bit_size;
  }
  return position;
}

void collect_members(Dwarf_Die* type, const std::string& prefix, std::uint64_t base, std::vector<MemberLayout>& out, int depth);

void add_member(Dwarf_Die& child, const std::string& prefix, std::uint64_t base, std::vector<MemberLayout>& out, int depth) {
  // Static data members (DWARF 4 writes them as declared members) hold no place in an object.
  if (declaration(&child) || flag(&child, DW_AT_external)) return;
  const std::uint64_t bit_size = unsigned_attr(&child, DW_AT_bit_size).value_or(0);
  const auto position = member_bit_position(&child, bit_size);
  const std::uint64_t at = position && base != placed_at_run_time ? base + *position : placed_at_run_time;
  const std::string name = name_of(&child);
  const auto t = type_of(&child);
  bool array = false;
  if (auto anonymous = anonymous_aggregate(&child, &array)) {
    // Its members are the structure's own (C11 anonymous members), or reached through this one.
    if (!name.empty()) out.push_back({prefix + name, type_name(t), size_of(t), at, bit_size});
    collect_members(&*anonymous, name.empty() ? prefix : prefix + name + (array ? "[]." : "."), at, out, depth + 1);
    return;
  }
  const std::string shown = name.empty() ? "<unnamed at bit " + std::to_string(at) + ">" : name;
  out.push_back({prefix + shown, type_name(t), size_of(t), at, bit_size});
}

void collect_members(Dwarf_Die* type, const std::string& prefix, std::uint64_t base, std::vector<MemberLayout>& out, int depth) {
  if (depth > deepest_type_name) return;
  for_each_child(type, [&](Dwarf_Die& child) {
    const int tag = dwarf_tag(&child);
    if (tag == DW_TAG_member) {
      add_member(child, prefix, base, out, depth);
    } else if (tag == DW_TAG_inheritance) {
      const auto t = type_of(&child);
      const auto offset = unsigned_attr(&child, DW_AT_virtuality).value_or(DW_VIRTUALITY_none) != DW_VIRTUALITY_none
                            ? std::nullopt
                            : member_offset(&child);
      out.push_back({prefix + "base " + type_name(t), type_name(t), size_of(t),
                     offset && base != placed_at_run_time ? base + *offset * 8 : placed_at_run_time, 0});
    }
  });
}

// Demangled, with its parameters: overloads are told apart.
std::string function_name(Dwarf_Die* function) {
  const std::string linkage = text_attr(function, DW_AT_linkage_name);
  if (linkage.empty()) return name_of(function);
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(linkage.c_str(), nullptr, nullptr, &status), std::free);
  return status == 0 && demangled ? demangled.get() : linkage;
}

// Old objects keep pointing at the old vtable: a virtual function moved or added to it is a change
// of what unchanged code and existing objects agree on.
std::vector<std::pair<std::string, std::uint64_t>> virtual_slots(Dwarf_Die* type) {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  for_each_child(type, [&](Dwarf_Die& child) {
    if (dwarf_tag(&child) != DW_TAG_subprogram) return;
    Dwarf_Attribute a;
    Dwarf_Op* ops = nullptr;
    std::size_t n = 0;
    if (dwarf_attr(&child, DW_AT_vtable_elem_location, &a) == nullptr || dwarf_getlocation(&a, &ops, &n) != 0 || n != 1 ||
        ops[0].atom != DW_OP_constu)
      return;
    out.emplace_back(function_name(&child), ops[0].number);
  });
  return out;
}

std::vector<std::pair<std::string, std::int64_t>> enumerators(Dwarf_Die* type) {
  std::vector<std::pair<std::string, std::int64_t>> out;
  for_each_child(type, [&](Dwarf_Die& child) {
    Dwarf_Attribute a;
    if (dwarf_tag(&child) != DW_TAG_enumerator || dwarf_attr(&child, DW_AT_const_value, &a) == nullptr) return;
    Dwarf_Sword value = 0;
    if (dwarf_whatform(&a) == DW_FORM_sdata || dwarf_whatform(&a) == DW_FORM_implicit_const) {
      dwarf_formsdata(&a, &value);
    } else {
      Dwarf_Word u = 0;
      dwarf_formudata(&a, &u);
      value = static_cast<Dwarf_Sword>(u);
    }
    out.emplace_back(name_of(&child), value);
  });
  return out;
}

// Whether a variable has a place of its own (global, static, thread-local) rather than a frame's.
bool static_storage(Dwarf_Die* variable) {
  Dwarf_Attribute a;
  Dwarf_Op* ops = nullptr;
  std::size_t n = 0;
  if (dwarf_attr(variable, DW_AT_location, &a) == nullptr || dwarf_getlocation(&a, &ops, &n) != 0) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const auto op = ops[i].atom;
    if (op == DW_OP_addr || op == DW_OP_addrx || op == DW_OP_GNU_addr_index || op == DW_OP_form_tls_address ||
        op == DW_OP_GNU_push_tls_address)
      return true;
  }
  return false;
}

std::string file_name(const char* path) {
  if (path == nullptr) return "?";
  const std::string p = path;
  const auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

class Reader {
 public:
  explicit Reader(UnitLayouts& out) : out_(out) {}

  // Names for anonymous types, from what refers to them: a typedef, a variable, a member.
  void index(Dwarf_Die& die) {
    const int tag = dwarf_tag(&die);
    if (tag == DW_TAG_typedef) {
      if (auto t = type_of(&die); t && name_of(&*t).empty()) typedef_names_.emplace(t->addr, name_of(&die));
    } else if (tag == DW_TAG_variable) {
      if (auto t = anonymous_aggregate(&die)) variable_names_.emplace(t->addr, name_of(&die));
    } else if (tag == DW_TAG_member) {
      if (auto t = anonymous_aggregate(&die)) nested_.insert(t->addr);
    }
    for_each_child(&die, [&](Dwarf_Die& child) { index(child); });
  }

  void walk(Dwarf_Die& die, const std::string& scope) {
    const int tag = dwarf_tag(&die);
    std::string inner_scope = scope;
    if (aggregate(tag) || tag == DW_TAG_enumeration_type) {
      add_type(die, tag, scope);
      inner_scope = scope + name_of(&die) + "::";
    } else if (tag == DW_TAG_namespace) {
      const std::string name = name_of(&die);
      inner_scope = scope + (name.empty() ? "(anonymous namespace)" : name) + "::";
    } else if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
      inner_scope = scope + name_of(&die) + "()::";
    } else if (tag == DW_TAG_variable) {
      add_variable(die, scope);
      return;
    } else if (tag != DW_TAG_compile_unit && tag != DW_TAG_partial_unit && tag != DW_TAG_type_unit &&
               tag != DW_TAG_lexical_block) {
      return;
    }
    for_each_child(&die, [&](Dwarf_Die& child) { walk(child, inner_scope); });
  }

 private:
  // The key must not move with line numbers: a diff that adds lines above a type is no change to it.
  // Only a type with no name from anywhere falls back to its place (matched by order later).
  bool identify(Dwarf_Die& die, int tag, const std::string& scope, TypeLayout& t, std::string& key) {
    const std::string kind = kind_of(tag);
    const std::string name = name_of(&die);
    const void* const entry = die.addr;
    if (!name.empty()) {
      key = t.display = kind + " " + scope + name;
    } else if (tag == DW_TAG_enumeration_type && !t.enumerators.empty()) {
      key = "enum " + scope + "{" + t.enumerators.front().first + "}";
      t.display = "the enum of " + scope + t.enumerators.front().first;
    } else if (auto it = typedef_names_.find(entry); it != typedef_names_.end()) {
      key = kind + " " + scope + it->second;
      t.display = scope + it->second + " (an anonymous " + kind + ")";
    } else if (nested_.contains(entry)) {
      return false;  // compared as part of the type that holds it
    } else if (auto var = variable_names_.find(entry); var != variable_names_.end()) {
      key = kind + " of variable " + scope + var->second;
      t.display = "the " + kind + " of variable " + scope + var->second;
    } else {
      int line = 0;
      dwarf_decl_line(&die, &line);
      t.anonymous_file = file_name(dwarf_decl_file(&die));
      t.display = kind + " at " + t.anonymous_file + ":" + std::to_string(line);
      key = "@" + t.display;
    }
    return true;
  }

  void add_type(Dwarf_Die& die, int tag, const std::string& scope) {
    if (declaration(&die)) return;  // only its name is known here
    TypeLayout t;
    t.kind = kind_of(tag);
    t.size = size_of(&die);
    if (tag == DW_TAG_enumeration_type) {
      t.enumerators = enumerators(&die);
    } else {
      collect_members(&die, "", 0, t.members, 0);
      t.virtual_slots = virtual_slots(&die);
    }
    std::string key;
    if (identify(die, tag, scope, t, key)) out_.types[key].push_back(std::move(t));
  }

  void add_variable(Dwarf_Die& die, const std::string& scope) {
    if (declaration(&die) || !static_storage(&die)) return;
    VariableLayout v;
    v.name = scope + name_of(&die);
    v.local = !flag(&die, DW_AT_external);
    const auto t = type_of(&die);
    v.type = type_name(t);
    v.size = size_of(t);
    const std::string linkage = text_attr(&die, DW_AT_linkage_name);
    out_.variables.emplace(linkage.empty() ? v.name : linkage, std::move(v));
  }

  UnitLayouts& out_;
  // By where the entry is in memory: unique across the units of the object.
  std::map<const void*, std::string> typedef_names_;
  std::map<const void*, std::string> variable_names_;
  std::set<const void*> nested_;
};

struct DwflEnd {
  void operator()(Dwfl* d) const { dwfl_end(d); }
};

// The libdwfl way of opening an object: it applies the relocations of a relocatable object's
// debug sections (strings and type references are relocated fields in a .o).
const Dwfl_Callbacks& offline_callbacks() {
  static char* debuginfo_path = nullptr;
  static const Dwfl_Callbacks callbacks{dwfl_build_id_find_elf, dwfl_standard_find_debuginfo, dwfl_offline_section_address,
                                        &debuginfo_path};
  return callbacks;
}

// ------------------------------------------------------------------------------------------------
// Comparing.

std::string position(const MemberLayout& m) {
  if (m.bit_offset == placed_at_run_time) return "a place set at run time (virtual base)";
  if (m.bit_size != 0) return "bit " + std::to_string(m.bit_offset) + " (" + std::to_string(m.bit_size) + " bits)";
  if (m.bit_offset % 8 != 0) return "bit " + std::to_string(m.bit_offset);
  return "offset " + std::to_string(m.bit_offset / 8);
}

std::string sized(const std::string& type, std::uint64_t size) { return type + " (" + std::to_string(size) + " bytes)"; }

const MemberLayout* member_named(const std::vector<MemberLayout>& members, const std::string& name) {
  for (const auto& m : members)
    if (m.name == name) return &m;
  return nullptr;
}

std::string member_difference(const TypeLayout& a, const TypeLayout& b) {
  for (const auto& m : a.members) {
    const MemberLayout* n = member_named(b.members, m.name);
    if (n == nullptr) return "member '" + m.name + "' is removed";
    if (m.type != n->type || m.type_size != n->type_size)
      return "member '" + m.name + "' changes type from " + sized(m.type, m.type_size) + " to " + sized(n->type, n->type_size);
    if (m.bit_offset == n->bit_offset && m.bit_size != n->bit_size)
      return "member '" + m.name + "' changes from " + std::to_string(m.bit_size) + " to " + std::to_string(n->bit_size) + " bits";
    if (m.bit_offset != n->bit_offset || m.bit_size != n->bit_size) {
      const std::string from = position(m), to = position(*n);
      const bool offsets = from.starts_with("offset ") && to.starts_with("offset ");
      return "member '" + m.name + "' moves from " + from + " to " + (offsets ? to.substr(7) : to);
    }
  }
  for (const auto& n : b.members)
    if (member_named(a.members, n.name) == nullptr) return "member '" + n.name + "' is added at " + position(n);
  return {};
}

template <class T>
const T* value_named(const std::vector<std::pair<std::string, T>>& list, const std::string& name) {
  for (const auto& [n, v] : list)
    if (n == name) return &v;
  return nullptr;
}

std::string enumerator_difference(const TypeLayout& a, const TypeLayout& b) {
  for (const auto& [name, value] : a.enumerators) {
    const auto* now = value_named(b.enumerators, name);
    if (now == nullptr) return "value '" + name + "' is removed";
    if (*now != value) return "value '" + name + "' changes from " + std::to_string(value) + " to " + std::to_string(*now);
  }
  return {};
}

std::string vtable_difference(const TypeLayout& a, const TypeLayout& b) {
  for (const auto& [name, slot] : a.virtual_slots) {
    const auto* now = value_named(b.virtual_slots, name);
    if (now == nullptr) return "virtual function '" + name + "' is removed";
    if (*now != slot) return "virtual function '" + name + "' moves from slot " + std::to_string(slot) + " to " + std::to_string(*now);
  }
  for (const auto& [name, slot] : b.virtual_slots)
    if (value_named(a.virtual_slots, name) == nullptr)
      return "virtual function '" + name + "' is added at slot " + std::to_string(slot);
  return {};
}

std::string type_difference(const TypeLayout& a, const TypeLayout& b) {
  if (a.kind != b.kind) return "becomes a " + b.kind;
  std::string what = member_difference(a, b);
  if (what.empty()) what = enumerator_difference(a, b);
  if (what.empty()) what = vtable_difference(a, b);
  const std::string sizes = std::to_string(a.size) + " -> " + std::to_string(b.size);
  if (a.size == b.size) return what;
  return what.empty() ? "size " + sizes + " bytes" : what + " (size " + sizes + ")";
}

// Anonymous types known only by their place: lines move with the diff, so those of one file are
// paired in order when the file holds as many before as after.
void pair_by_place(const UnitLayouts& original, const UnitLayouts& patched,
                   std::vector<std::pair<const TypeLayout*, const TypeLayout*>>& pairs) {
  std::map<std::string, std::vector<const TypeLayout*>> before, after;
  for (const auto& [key, list] : original.types)
    for (const auto& t : list)
      if (!t.anonymous_file.empty()) before[t.anonymous_file].push_back(&t);
  for (const auto& [key, list] : patched.types)
    for (const auto& t : list)
      if (!t.anonymous_file.empty()) after[t.anonymous_file].push_back(&t);
  for (const auto& [file, list] : before) {
    auto it = after.find(file);
    if (it == after.end() || it->second.size() != list.size()) continue;
    for (std::size_t i = 0; i < list.size(); ++i) pairs.emplace_back(list[i], it->second[i]);
  }
}

std::vector<std::pair<const TypeLayout*, const TypeLayout*>> paired_types(const UnitLayouts& original, const UnitLayouts& patched) {
  std::vector<std::pair<const TypeLayout*, const TypeLayout*>> pairs;
  for (const auto& [key, list] : original.types) {
    if (key.starts_with("@")) continue;
    auto it = patched.types.find(key);
    // Several same-keyed types (local types of same-named scopes) pair in order when their number stays.
    if (it == patched.types.end() || it->second.size() != list.size()) continue;
    for (std::size_t i = 0; i < list.size(); ++i) pairs.emplace_back(&list[i], &it->second[i]);
  }
  pair_by_place(original, patched, pairs);
  return pairs;
}

// gcc's -fdebug-types-section puts each type in a COMDAT group of its own, in a .debug_info (or
// .debug_types) section of its own: libdw reads one such section of a relocatable object, so the
// types it refers to by signature are not found.
bool has_type_unit_sections(Dwfl_Module* module) {
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module, &bias);
  std::size_t names = 0;
  if (elf == nullptr || elf_getshdrstrndx(elf, &names) != 0) return false;
  int debug_info = 0;
  for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr header;
    const char* name = gelf_getshdr(scn, &header) != nullptr ? elf_strptr(elf, names, header.sh_name) : nullptr;
    if (name == nullptr) continue;
    if (std::string_view(name) == ".debug_types") return true;
    if (std::string_view(name) == ".debug_info") ++debug_info;
  }
  return debug_info > 1;
}

}  // namespace

Result<UnitLayouts> read_layouts(const std::string& object) {
  UnitLayouts out;
  std::unique_ptr<Dwfl, DwflEnd> dwfl(dwfl_begin(&offline_callbacks()));
  if (!dwfl) return make_error(ErrorCode::internal, object, std::string("libdwfl: ") + dwfl_errmsg(-1));
  Dwfl_Module* module = dwfl_report_offline(dwfl.get(), "unit", object.c_str(), -1);
  if (module == nullptr) return make_error(ErrorCode::io, object, std::string("cannot read the object: ") + dwfl_errmsg(-1));
  dwfl_report_end(dwfl.get(), nullptr, nullptr);
  Dwarf_Addr bias = 0;
  Dwarf* dwarf = dwfl_module_getdwarf(module, &bias);
  if (dwarf == nullptr) {
    out.unreadable = std::string("it has no DWARF that libdw reads (") + dwfl_errmsg(-1) + ")";
    return out;
  }
  if (has_type_unit_sections(module)) {
    out.unreadable = "its types are in DWARF type units (-fdebug-types-section), which libdw does not read from an object";
    return out;
  }
  Reader reader(out);
  std::vector<Dwarf_Die> units;
  Dwarf_CU* cu = nullptr;
  Dwarf_CU* next = nullptr;
  Dwarf_Half version = 0;
  std::uint8_t unit_type = 0;
  Dwarf_Die cudie, subdie;
  while (dwarf_get_units(dwarf, cu, &next, &version, &unit_type, &cudie, &subdie) == 0) {
    cu = next;
    if (unit_type == DW_UT_skeleton) {
      if (subdie.addr == nullptr) {
        out.unreadable = "its DWARF is in a separate .dwo file (-gsplit-dwarf) that libdw does not find from the object";
        continue;
      }
      units.push_back(subdie);
    } else {
      units.push_back(cudie);
    }
  }
  for (auto& u : units) reader.index(u);
  for (auto& u : units) reader.walk(u, "");
  if (units.empty() && out.unreadable.empty()) out.unreadable = "it holds no DWARF compilation unit";
  return out;
}

std::vector<LayoutChange> layout_changes(const UnitLayouts& original, const UnitLayouts& patched, const std::string& unit) {
  std::vector<LayoutChange> out;
  for (const auto& [a, b] : paired_types(original, patched))
    if (std::string what = type_difference(*a, *b); !what.empty()) out.push_back({"the layout of " + a->display, what});
  for (const auto& [key, v] : original.variables) {
    auto it = patched.variables.find(key);
    if (it == patched.variables.end()) continue;
    const VariableLayout& n = it->second;
    if (v.type != n.type || v.size != n.size)
      out.push_back({"the type of variable " + (v.local ? unit + ":" + v.name : v.name),
                     sized(v.type, v.size) + " -> " + sized(n.type, n.size)});
  }
  return out;
}

Status check_layouts(const std::string& unit, const std::string& original, const std::string& patched,
                     std::vector<std::string>& refused, std::vector<std::string>& notes) {
  HOTPATCH_LET(before, read_layouts(original));
  HOTPATCH_LET(after, read_layouts(patched));
  const std::string& unreadable = before.unreadable.empty() ? after.unreadable : before.unreadable;
  if (!unreadable.empty()) {
    notes.push_back(unit + ": the layouts of its types and variables are not compared, " + unreadable +
                    "; a change to data the running process keeps is not detected");
    return {};
  }
  for (const auto& c : layout_changes(before, after, unit))
    refused.push_back("changes " + c.subject + ": " + c.what + "; the running process keeps its data");
  return {};
}

}  // namespace hotpatch::make_patch
