#include "make_patch/emit.hpp"

#include "make_patch/process.hpp"

#include "engine/unwind_frames.hpp"

#include <elf.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace hotpatch::make_patch {
namespace {

// A C string literal for any bytes: every byte outside plain ASCII letters and digits escaped, so
// the generated source says exactly what the record holds.
std::string c_literal(const std::string& s) {
  std::string out = "\"";
  char buf[8];
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == ' ' || c == '.' || c == '_' || c == '-' || c == ':' || c == '/' || c == ',') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      out += buf;
    }
  }
  return out + "\"";
}

std::string record(std::size_t n, const std::vector<std::string>& fields) {
  std::string body;
  for (std::size_t i = 0; i < fields.size(); ++i) body += (i ? " \"\\0\" " : "") + c_literal(fields[i]);
  return "__attribute__((section(\".hotpatch\"), used, aligned(1))) static const char hotpatch_record_" +
         std::to_string(n) + "[] = " + body + " \"\\0\";\n";
}

bool is_cold_part_of(const std::string& name, const std::set<std::string>& functions) {
  for (const auto& f : functions) {
    if (name.rfind(f + ".cold", 0) == 0) return true;
  }
  return false;
}

// The cells through which the unwind tables reach a personality routine or a caught type
// (DW.ref.__gxx_personality_v0, DW.ref._ZTI...): a pointer each, weak and hidden, so the program
// has no copy the patch could find by name. The patch carries its own; the runtime fills it in.
bool is_indirection_cell(const std::string& name) { return name.starts_with("DW.ref."); }

// What unwinding through the loaded sections needs besides their .eh_frame records (the runtime
// always takes those from the object): the LSDAs their FDEs point to and the personality
// reference of their CIEs. Only the records of loaded code count, as the runtime keeps only those.
Result<std::set<std::size_t>> unwinding_needs(const Object& o, const std::set<std::size_t>& load) {
  std::set<std::size_t> needs;
  std::size_t eh_frame = 0;
  for (std::size_t i = 0; i < o.sections.size(); ++i)
    if (o.sections[i].name == ".eh_frame" && (o.sections[i].header.sh_flags & SHF_ALLOC)) eh_frame = i;
  if (eh_frame == 0) return needs;
  std::vector<Elf64_Rela> rels;
  if (auto r = o.relocations.find(eh_frame); r != o.relocations.end()) {
    for (const auto& rel : r->second) {
      if (rel.symbol >= o.symbols.size()) return make_error(ErrorCode::internal, o.path, ".eh_frame: a relocation names no symbol");
      rels.push_back({rel.offset, ELF64_R_INFO(rel.symbol, rel.type), rel.addend});
    }
  }
  const auto& bytes = o.sections[eh_frame].bytes;
  auto records = engine::read_frame_records(bytes);
  if (!records) return make_error(ErrorCode::internal, o.path, ".eh_frame: " + records.error().message);
  auto in_load = [&](const Elf64_Rela& rel) { return load.contains(o.symbols[ELF64_R_SYM(rel.r_info)].section); };
  auto all = [](const Elf64_Rela&) { return true; };
  auto kept = engine::filter_frames(bytes, *records, rels, engine::FrameFilter{in_load, all});
  if (!kept) return make_error(ErrorCode::internal, o.path, ".eh_frame: " + kept.error().message);
  for (const auto& rel : kept->relocations) {
    const std::size_t to = o.symbols[ELF64_R_SYM(rel.r_info)].section;
    if (to != SHN_UNDEF && to < o.sections.size() && !load.contains(to) && (o.sections[to].header.sh_flags & SHF_ALLOC))
      needs.insert(to);
  }
  return needs;
}

}  // namespace

Result<std::vector<std::string>> sections_to_load(const CarriedUnit& unit) {
  const Object& o = *unit.object;
  // What names each section: the functions and variables defined in it.
  std::map<std::size_t, std::vector<std::size_t>> named;
  for (std::size_t i = 0; i < o.symbols.size(); ++i) {
    const auto& s = o.symbols[i];
    if ((s.type == STT_FUNC || s.type == STT_OBJECT) && s.section != SHN_UNDEF && s.section < o.sections.size())
      named[s.section].push_back(i);
  }
  std::set<std::size_t> load;
  std::vector<std::size_t> todo;
  auto take = [&](std::size_t sec) {
    if (load.insert(sec).second) todo.push_back(sec);
  };
  for (std::size_t i = 0; i < o.symbols.size(); ++i) {
    const auto& s = o.symbols[i];
    if (s.section == SHN_UNDEF || s.section >= o.sections.size()) continue;
    if ((s.type == STT_FUNC && (unit.functions.contains(s.name) || is_cold_part_of(s.name, unit.functions))) ||
        (s.type == STT_OBJECT && unit.variables.contains(s.name)))
      take(s.section);
  }
  for (const auto& f : unit.functions) {
    bool found = false;
    for (const auto& s : o.symbols) found |= s.name == f && s.type == STT_FUNC && s.section != SHN_UNDEF;
    if (!found) return make_error(ErrorCode::internal, o.path, "does not define the carried function '" + f + "'");
  }
  // Everything the taken sections refer to that is part of the fixed code, transitively.
  auto follow = [&]() -> Status {
    while (!todo.empty()) {
      const std::size_t sec = todo.back();
      todo.pop_back();
      auto rels = o.relocations.find(sec);
      if (rels == o.relocations.end()) continue;
      for (const auto& r : rels->second) {
        if (r.symbol >= o.symbols.size()) continue;
        const auto& s = o.symbols[r.symbol];
        const std::size_t to = s.section;
        if (to == SHN_UNDEF || to >= o.sections.size() || load.contains(to)) continue;
        const auto& target = o.sections[to];
        if (!(target.header.sh_flags & SHF_ALLOC)) continue;
        // A section naming a function or variable of the program stays the program's (an import);
        // one naming nothing (literals, constants, jump tables) is part of the fixed code.
        bool names_program_symbol = false, indirection_cell = false;
        for (std::size_t k : named[to]) {
          const auto& n = o.symbols[k];
          if (is_indirection_cell(n.name))
            indirection_cell = true;
          else if (!unit.functions.contains(n.name) && !unit.variables.contains(n.name) && !is_cold_part_of(n.name, unit.functions))
            names_program_symbol = true;
        }
        if (names_program_symbol) continue;
        if ((target.header.sh_flags & SHF_WRITE) && !indirection_cell) {
          return make_error(ErrorCode::not_patchable, unit.name,
                            "the fixed code uses writable data in section " + target.name +
                                " that names no variable, so it cannot be matched with the running process's copy");
        }
        take(to);
      }
    }
    return {};
  };
  HOTPATCH_TRY(follow());
  HOTPATCH_LET(unwinding, unwinding_needs(o, load));
  for (std::size_t sec : unwinding) take(sec);
  HOTPATCH_TRY(follow());
  std::vector<std::string> names;
  for (std::size_t sec : load) names.push_back(o.sections[sec].name);
  // Section names must be unique for the runtime to find them by name.
  std::set<std::string> seen;
  for (const auto& n : names)
    if (!seen.insert(n).second)
      return make_error(ErrorCode::not_patchable, unit.name, "has two sections named " + n + " to load (build with -ffunction-sections -fdata-sections)");
  return names;
}

Status emit_patch(const std::vector<CarriedUnit>& units, const PatchIdentity& identity, const std::string& build_id,
                  const std::string& target_name, const std::string& compiler, const std::string& scratch,
                  const std::string& output) {
  std::string src = "/* Generated by hotpatch make-patch. */\n";
  std::size_t n = 0;
  src += record(n++, {"P", "1", identity.id, std::to_string(identity.version), identity.about});
  src += record(n++, {"T", build_id, target_name});
  for (std::size_t k = 0; k < units.size(); ++k) {
    const CarriedUnit& unit = units[k];
    HOTPATCH_LET(sections, sections_to_load(unit));
    std::string unit_file;
    for (const auto& s : unit.object->symbols) {
      if (s.type == STT_FILE) {
        unit_file = s.name;
        break;
      }
    }
    if (unit_file.empty()) unit_file = std::filesystem::path(unit.name).filename().string();
    std::error_code ec;
    const auto object_size = std::filesystem::file_size(unit.object->path, ec);
    if (ec) return make_error(ErrorCode::io, unit.object->path, ec.message());
    const std::string symbol = "hotpatch_object_" + std::to_string(k);
    src += record(n++, {"O", symbol, std::to_string(object_size), unit_file});
    for (const auto& s : sections) src += record(n++, {"L", symbol, s});
    for (const auto& [target, fn] : unit.replaces) src += record(n++, {"X", target, fn, symbol});
    // The object, byte for byte: the runtime reads it from the loaded patch.
    if (unit.object->path.find_first_of("\"\\\n") != std::string::npos)
      return make_error(ErrorCode::invalid_argument, unit.object->path, "the scratch path holds a quote, backslash or newline");
    src += "__asm__(\".section .rodata." + symbol + ",\\\"a\\\"\\n.globl " + symbol + "\\n"
           ".type " + symbol + ", @object\\n.balign 16\\n" + symbol + ":\\n.incbin \\\"" + unit.object->path +
           "\\\"\\n.size " + symbol + ", .-" + symbol + "\\n.previous\\n\");\n";
  }
  const std::string gen = scratch + "/patch_records.c";
  {
    std::ofstream out(gen);
    out << src;
    if (!out) return make_error(ErrorCode::io, gen, "cannot be written");
  }
  // Records stay in the order written: an object's record comes before those naming it.
  HOTPATCH_LET(r, run_process({compiler, "-x", "c", "-shared", "-fPIC", "-nostdlib", "-fno-toplevel-reorder",
                               "-Wl,--build-id=sha1", "-o", output, gen}));
  if (!r.ok()) return make_error(ErrorCode::io, output, "compiling the patch failed:\n" + r.output);
  return {};
}

}  // namespace hotpatch::make_patch
