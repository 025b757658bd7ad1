#include "make_patch/unit_selection.hpp"

#include "make_patch/scratch_dir.hpp"
#include "make_patch/unit_build.hpp"

#include <set>

namespace hotpatch::make_patch {
namespace {

// The touched files among those a preprocessed unit read from one copy of the tree.
std::vector<std::string> touched_among(const Preprocessed& pp, const ScratchLayout& layout, const std::set<std::string>& touched) {
  std::vector<std::string> out;
  for (const auto& f : pp.files) {
    if (!is_under(f, layout.copy)) continue;
    if (std::string rel = relative_to(f, layout.copy); touched.contains(rel)) out.push_back(std::move(rel));
  }
  return out;
}

}  // namespace

Result<UnitSelection> choose_units(const std::vector<Unit>& units, const std::vector<std::string>& touched_list,
                                   const ScratchLayout& original, const ScratchLayout& patched, const std::string& work) {
  const std::set<std::string> touched(touched_list.begin(), touched_list.end());
  std::set<std::string> in_build;
  UnitSelection out;
  for (const Unit& unit : units) {
    const std::string stem = work + "/" + std::to_string(unit.index);
    HOTPATCH_TRY(preprocess_unit(unit.original, stem + ".original.i", unit.name, "original"));
    HOTPATCH_LET(before, read_preprocessed(stem + ".original.i", unit.original.cwd));
    auto includes = touched_among(before, original, touched);
    const bool touched_unit = touched.contains(unit.name);
    if (!touched_unit && includes.empty()) continue;
    // The patched side too: the diff may make a unit read files it did not read before (a new
    // header), and those are part of the build.
    HOTPATCH_TRY(preprocess_unit(unit.patched, stem + ".patched.i", unit.name, "patched"));
    HOTPATCH_LET(after, read_preprocessed(stem + ".patched.i", unit.patched.cwd));
    for (auto& f : touched_among(after, patched, touched)) includes.push_back(std::move(f));
    in_build.insert(includes.begin(), includes.end());
    if (touched_unit) {
      out.chosen.push_back(unit);
      out.why.push_back("touched by the diff");
    } else if (before.text != after.text) {
      out.chosen.push_back(unit);
      out.why.push_back("includes " + includes.front() + ", which the diff changes");
    }
  }
  for (const auto& f : touched)
    if (!in_build.contains(f)) out.skipped.push_back(f);
  return out;
}

}  // namespace hotpatch::make_patch
