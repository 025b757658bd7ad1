// The data layouts of one unit as its DWARF describes them (structures, unions, classes, enums and
// the declared types of its variables), and what a fix changes in them. The running process keeps
// its data laid out the old way: unchanged code, and the data it already made, would be read with
// the new layout by the patch's code.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hotpatch::make_patch {

struct MemberLayout {
  std::string name;  ///< dotted through anonymous or nested unnamed aggregates ("u.x"); "base T" for a base class
  std::string type;  ///< by name: "int", "struct node *", "char[16]"
  std::uint64_t type_size = 0;
  std::uint64_t bit_offset = 0;  ///< from the start of the type; ~0 for a virtual base (placed at run time)
  std::uint64_t bit_size = 0;    ///< a bit field's width; 0 for an ordinary member
};

struct TypeLayout {
  std::string display;  ///< "struct client", "kt (an anonymous struct)", "struct at a.c:12"
  std::string kind;     ///< struct, class, union, enum
  std::uint64_t size = 0;
  std::vector<MemberLayout> members;
  std::vector<std::pair<std::string, std::int64_t>> enumerators;
  std::vector<std::pair<std::string, std::uint64_t>> virtual_slots;  ///< a class's virtual functions, by vtable slot
  std::string anonymous_file;  ///< set for a type known only by its place: the file it is declared in
};

struct VariableLayout {
  std::string name;  ///< qualified by its function for a function's static
  bool local = false;  ///< not external: told apart from other units' by the unit's name
  std::string type;
  std::uint64_t size = 0;
};

struct UnitLayouts {
  /// By a key that survives lines moving (the qualified name, or what names an anonymous type);
  /// several entries when one key names several types (same-named local types of two functions).
  std::map<std::string, std::vector<TypeLayout>> types;
  std::map<std::string, VariableLayout> variables;  ///< variables with storage in the unit, by key
  /// Why nothing could be read although the object was (split DWARF, no DWARF): nothing is compared.
  std::string unreadable;
};

/// Reads the complete type definitions and variables of a relocatable object's DWARF (relocations
/// applied). An object whose debug information cannot be read is not an error: `unreadable` says why.
Result<UnitLayouts> read_layouts(const std::string& object);

struct LayoutChange {
  std::string subject;  ///< "the layout of struct client", "the type of variable limit"
  std::string what;     ///< "member 'flags' moves from offset 8 to 16 (size 40 -> 48)"
};

/// What the patched unit changes in the layouts of the original. A type the original does not
/// define (a new one, or one the unit did not use before) is no change; neither is a type the fix
/// stops using, nor an enumerator it adds. `unit` names a `static` variable as the plan does (unit:name).
std::vector<LayoutChange> layout_changes(const UnitLayouts& original, const UnitLayouts& patched, const std::string& unit);

/// Both objects of a recompiled unit read and compared: each change becomes a refusal in the plan's
/// words, and what could not be compared (no DWARF, split DWARF) a note naming the unit.
Status check_layouts(const std::string& unit, const std::string& original, const std::string& patched,
                     std::vector<std::string>& refused, std::vector<std::string>& notes);

}  // namespace hotpatch::make_patch
