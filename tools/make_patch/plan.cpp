#include "make_patch/plan.hpp"
#include "make_patch/emit.hpp"

#include <algorithm>

#include "make_patch/compile_commands.hpp"
#include "make_patch/function_facts.hpp"
#include "make_patch/layout_check.hpp"
#include "make_patch/scratch_dir.hpp"
#include "make_patch/source_diff.hpp"
#include "make_patch/target_check.hpp"
#include "make_patch/target_symbols.hpp"
#include "make_patch/unit_build.hpp"
#include "make_patch/unit_selection.hpp"

#include <elf.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace hotpatch::make_patch {
namespace {

namespace fs = std::filesystem;

Result<std::string> existing(const std::string& path, bool directory, const char* what) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) return make_error(ErrorCode::invalid_argument, path, std::string(what) + " does not exist");
  if (directory != fs::is_directory(status))
    return make_error(ErrorCode::invalid_argument, path, std::string(what) + (directory ? " is not a directory" : " is not a file"));
  return normal_path(fs::absolute(path, ec).string(), "/");
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::io, path, "cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += "\n  " + i;
  return out;
}

struct Compiled {
  Unit unit;
  Object original;
  Object patched;
  ObjectDiff diff;
};

// The references of a function the patch carries that the patch does not carry itself: resolved
// in the running process.
void add_imports(const Compiled& c, const std::string& function, const std::set<std::string>& carried,
                 const TargetSymbols& target, std::map<std::string, PlannedImport>& imports) {
  for (const Reference& r : references_of(c.patched, function)) {
    if (carried.contains(r.name)) continue;
    PlannedImport i{r.name, display_name(c.unit.name, r.name, r.local), r.function, r.local, true};
    // An undefined symbol the program does not define comes from a library it links (libc).
    if (!r.defined_in_unit) i.in_program = !target.globals(r.name).empty();
    imports.emplace(i.display, std::move(i));
  }
}

// The patch: for each fixed unit, its object, with what of it is carried and what each carried
// function replaces in the target.
Status write_patch(const MakePatchOptions& o, const Plan& plan, const std::vector<Compiled>& compiled,
                   const std::vector<bool>& linked, const TargetSymbols& target, const std::string& scratch) {
  std::vector<CarriedUnit> carried;
  std::string compiler;
  for (std::size_t k = 0; k < compiled.size(); ++k) {
    if (!linked[k]) continue;
    const Compiled& unit = compiled[k];
    CarriedUnit c;
    c.name = unit.unit.name;
    c.object = &unit.patched;
    for (const auto& f : plan.changed) {
      if (f.unit != c.name) continue;
      c.functions.insert(f.symbol);
      // A cold part is entered by jumps from its own function, never called: it comes along with
      // the new version of that function and is not redirected itself (old code jumping into new
      // code would mix two stack layouts).
      if (f.in_target && f.symbol.find(".cold") == std::string::npos) c.replaces.emplace_back(f.symbol, f.symbol);
    }
    for (const auto& f : plan.added)
      if (f.unit == c.name) c.functions.insert(f.symbol);
    for (const auto& v : plan.new_variables)
      if (v.unit == c.name) c.variables.insert(v.symbol);
    if (c.functions.empty() && c.variables.empty()) continue;
    if (compiler.empty() && !unit.unit.patched.argv.empty()) compiler = unit.unit.patched.argv.front();
    carried.push_back(std::move(c));
  }
  if (carried.empty()) return make_error(ErrorCode::internal, o.diffs.front(), "no fixed unit is left to carry");
  if (std::none_of(carried.begin(), carried.end(), [](const CarriedUnit& c) { return !c.replaces.empty(); }))
    return make_error(ErrorCode::not_patchable, o.diffs.front(),
                      "every function the fix changes was inlined into its callers everywhere, and none of those "
                      "callers changed: there is no running function to replace");
  // The C compiler beside a recorded C++ one (the generated source is C).
  std::string cc = compiler.empty() ? std::string("cc") : compiler;
  {
    const auto slash = cc.rfind('/');
    const std::string base = slash == std::string::npos ? cc : cc.substr(slash + 1);
    if (base.starts_with("g++") || base.starts_with("c++")) cc = "cc";
    else if (base.starts_with("clang++")) cc = cc.substr(0, cc.size() - 2);
  }
  return emit_patch(carried, {o.id, o.version, o.about}, target.build_id, std::filesystem::path(target.path).filename().string(),
                    cc, scratch, o.output);
}

}  // namespace

Result<Plan> make_plan(const MakePatchOptions& o) {
  HOTPATCH_LET(source, existing(o.source, true, "the source tree (--source)"));
  HOTPATCH_LET(commands_path, existing(o.compile_commands, false, "the compile commands (--compile-commands)"));
  HOTPATCH_LET(target_path, existing(o.target, false, "the target (--target)"));
  if (o.diffs.empty()) return make_error(ErrorCode::invalid_argument, "--diff", "no diff given");
  std::vector<std::string> diffs;
  std::set<std::string> touched_set;
  for (const auto& d : o.diffs) {
    HOTPATCH_LET(path, existing(d, false, "the diff (--diff)"));
    HOTPATCH_LET(text, read_text(path));
    for (auto& f : touched_files(text)) touched_set.insert(std::move(f));
    diffs.push_back(std::move(path));
  }
  if (touched_set.empty())
    return make_error(ErrorCode::invalid_argument, o.diffs.front(), "names no file: not a unified diff (-p1, as git diff writes it)");
  const std::vector<std::string> touched(touched_set.begin(), touched_set.end());
  HOTPATCH_LET(recorded, read_compile_commands(commands_path));
  // The target first: a stripped binary without its debug file is refused before any compiling.
  HOTPATCH_LET(target, read_target_symbols(target_path));

  HOTPATCH_LET(scratch, ScratchDir::create());
  if (o.keep_scratch) scratch.keep();
  if (is_under(scratch.path(), source))
    return make_error(ErrorCode::invalid_argument, scratch.path(),
                      "the scratch directory would be inside the source tree: set TMPDIR to a directory outside it");
  const ScratchLayout original{source, scratch.path() + "/original"};
  const ScratchLayout patched{source, scratch.path() + "/patched"};
  const std::string work = scratch.path() + "/work";
  HOTPATCH_TRY(copy_tree(source, original.copy));
  HOTPATCH_TRY(copy_tree(source, patched.copy));
  fs::create_directory(work);
  HOTPATCH_TRY(apply_diffs(patched.copy, diffs));

  std::vector<Unit> units;
  for (std::size_t i = 0; i < recorded.size(); ++i) {
    const auto& c = recorded[i];
    Unit u{i, c, rewrite_command(c, original, analysis_flags()), rewrite_command(c, patched, analysis_flags()),
           is_under(c.file, source) ? relative_to(c.file, source) : c.file};
    units.push_back(std::move(u));
  }
  HOTPATCH_LET(selection, choose_units(units, touched, original, patched, work));

  Plan plan;
  plan.target = target.path;
  plan.build_id = target.build_id;
  plan.shared_library = target.shared_library;
  plan.symbols_from = target.symbols_from;
  if (o.keep_scratch) plan.scratch = scratch.path();
  for (const auto& f : selection.skipped) plan.skipped.push_back(f);

  std::vector<Compiled> compiled;
  for (std::size_t k = 0; k < selection.chosen.size(); ++k) {
    const Unit& u = selection.chosen[k];
    if (u.original.lto)
      return make_error(ErrorCode::not_patchable, u.name,
                        "is compiled with -flto: what the link-time optimiser inlined across units cannot be seen "
                        "from the unit alone, so the functions the change reaches are unknown");
    const std::string stem = work + "/" + std::to_string(u.index);
    HOTPATCH_TRY(compile_unit(u.original, stem + ".original.o", u.name, "original"));
    HOTPATCH_TRY(compile_unit(u.patched, stem + ".patched.o", u.name, "patched"));
    HOTPATCH_LET(a, read_object(stem + ".original.o"));
    HOTPATCH_LET(b, read_object(stem + ".patched.o"));
    HOTPATCH_LET(d, diff_objects(stem + ".original.o", stem + ".patched.o"));
    plan.units.push_back(u.name + " (" + selection.why[k] + ")");
    compiled.push_back({u, std::move(a), std::move(b), std::move(d)});
  }

  // Units of other programs of the project (tests, tools) may include the same header: only units
  // linked into the target count. A unit is taken for linked when the target has one of its
  // functions with its size; failing that for every unit of a file, by name alone, so that a
  // target built from other sources is refused below rather than passed over.
  std::map<std::string, bool> file_linked;
  std::vector<bool> linked(compiled.size());
  std::vector<UnitPresence> presence;
  for (const auto& c : compiled) presence.push_back(presence_in_target({c.unit.name, &c.original, &c.patched, c.diff}, target));
  for (std::size_t k = 0; k < compiled.size(); ++k) file_linked[compiled[k].unit.name] |= presence[k].by_name_and_size > 0;
  for (std::size_t k = 0; k < compiled.size(); ++k) {
    linked[k] = presence[k].by_name_and_size > 0 || (presence[k].by_name > 0 && !file_linked[compiled[k].unit.name]);
    if (!linked[k] && !compiled[k].diff.empty())
      plan.notes.push_back(compiled[k].unit.name + " (compile_commands.json entry " + std::to_string(compiled[k].unit.index) +
                           "): not linked into the target, left out");
  }

  std::vector<std::string> mismatches, ambiguous, refused_data;
  std::map<std::string, PlannedImport> imports;
  for (std::size_t k = 0; k < compiled.size(); ++k) {
    if (!linked[k]) continue;
    const Compiled& c = compiled[k];
    const UnitChanges changes{c.unit.name, &c.original, &c.patched, c.diff};
    TargetCheck check = check_against_target(changes, target);
    mismatches.insert(mismatches.end(), check.mismatches.begin(), check.mismatches.end());
    ambiguous.insert(ambiguous.end(), check.ambiguous.begin(), check.ambiguous.end());
    plan.notes.insert(plan.notes.end(), check.notes.begin(), check.notes.end());
    std::set<std::string> carried;
    for (auto& f : check.changed) {
      f.never_returns = never_returns(c.original, f.symbol);
      carried.insert(f.symbol);
    }
    for (const auto& f : c.diff.functions) {
      if (f.change == Change::added) {
        carried.insert(f.name);
        plan.added.push_back({c.unit.name, f.name, display_name(c.unit.name, f.name, f.local), f.local, {}});
      } else if (f.change == Change::removed) {
        plan.notes.push_back(display_name(c.unit.name, f.name, f.local) +
                             ": removed by the diff; the running process keeps it for callers the patch does not replace");
      }
    }
    for (const auto& v : c.diff.variables) {
      const std::string shown = display_name(c.unit.name, v.name, v.local);
      if (v.change == Change::added) {
        carried.insert(v.name);
        plan.new_variables.push_back({c.unit.name, v.name, shown, v.local});
      } else if (v.change == Change::removed) {
        plan.notes.push_back(shown + ": a variable the diff removes; the running process keeps it");
      } else if (v.change == Change::changed) {
        refused_data.push_back("changes the initial value/size of variable " + shown + " (" + v.why +
                               "): the running process keeps its data");
      }
    }
    HOTPATCH_TRY(check_layouts(c.unit.name, c.original.path, c.patched.path, refused_data, plan.notes));
    for (const auto& f : check.changed) add_imports(c, f.symbol, carried, target, imports);
    for (const auto& f : plan.added)
      if (f.unit == c.unit.name) add_imports(c, f.symbol, carried, target, imports);
    for (auto& f : check.changed) plan.changed.push_back(std::move(f));
  }
  if (!mismatches.empty())
    return make_error(ErrorCode::wrong_build, target.path,
                      "the build does not reproduce the running binary: the recompiled original differs from it in" +
                          joined(mismatches) + "\n(a patch made from these sources and commands would be silently wrong)");
  if (!ambiguous.empty()) return make_error(ErrorCode::ambiguous_symbol, target.path, "cannot be patched by name:" + joined(ambiguous));
  if (!refused_data.empty()) {
    // A structure in a header is refused once for every unit that includes it: say it once.
    std::set<std::string> seen;
    std::erase_if(refused_data, [&](const std::string& line) { return !seen.insert(line).second; });
    return make_error(ErrorCode::not_patchable, o.diffs.front(), joined(refused_data).substr(3));
  }
  if (plan.changed.empty() && plan.added.empty()) {
    std::string why = "the diff changes no function that the build compiles";
    if (!compiled.empty()) why += " (recompiled:" + joined(plan.units) + ")";
    if (!plan.notes.empty()) why += "\nnotes:" + joined(plan.notes);
    if (!plan.skipped.empty()) why += "\nskipped, not part of the build:" + joined(plan.skipped);
    return make_error(ErrorCode::not_patchable, o.diffs.front(), why);
  }
  // A reference from one fixed unit to a global another fixed unit carries is linked inside the
  // patch, not imported.
  std::set<std::string> carried_globals;
  for (const auto& f : plan.changed)
    if (!f.local) carried_globals.insert(f.symbol);
  for (const auto& f : plan.added)
    if (!f.local) carried_globals.insert(f.symbol);
  for (const auto& v : plan.new_variables)
    if (!v.local) carried_globals.insert(v.symbol);
  for (const auto& [_, i] : imports)
    if (i.local || !carried_globals.contains(i.symbol)) plan.imports.push_back(i);
  if (!o.output.empty()) HOTPATCH_TRY(write_patch(o, plan, compiled, linked, target, scratch.path()));
  return plan;
}

}  // namespace hotpatch::make_patch
