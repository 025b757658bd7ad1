#include "make_patch/unit_selection.hpp"

#include "make_patch/scratch_dir.hpp"
#include "make_patch/unit_build.hpp"

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>
#include <thread>
#include <vector>

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

// Runs f(0) .. f(n-1) on one thread per core. Preprocessing every recorded unit is most of
// make-patch's time on a large tree (136 units of redis), and each is its own compiler process.
template <class F>
void for_each_parallel(std::size_t n, F&& f) {
  const std::size_t workers = std::min<std::size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
  std::atomic<std::size_t> next{0};
  std::vector<std::jthread> pool;
  for (std::size_t w = 0; w < workers; ++w)
    pool.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < n;) f(i);
    });
}

// One unit's two preprocessed forms, as far as they were needed.
struct Seen {
  std::optional<Error> error;
  bool candidate = false;  // touched itself, or reads a touched file
  std::vector<std::string> includes;
  std::string before, after;
};

}  // namespace

Result<UnitSelection> choose_units(const std::vector<Unit>& units, const std::vector<std::string>& touched_list,
                                   const ScratchLayout& original, const ScratchLayout& patched, const std::string& work) {
  const std::set<std::string> touched(touched_list.begin(), touched_list.end());
  std::set<std::string> in_build;
  UnitSelection out;
  std::vector<Seen> seen(units.size());
  for_each_parallel(units.size(), [&](std::size_t k) {
    const Unit& unit = units[k];
    Seen& s = seen[k];
    const std::string stem = work + "/" + std::to_string(unit.index);
    if (auto done = preprocess_unit(unit.original, stem + ".original.i", unit.name, "original"); !done) {
      s.error = done.error();
      return;
    }
    auto before = read_preprocessed(stem + ".original.i", unit.original.cwd);
    if (!before) {
      s.error = before.error();
      return;
    }
    s.includes = touched_among(*before, original, touched);
    s.candidate = touched.contains(unit.name) || !s.includes.empty();
    if (!s.candidate) return;
    // The patched side too: the diff may make a unit read files it did not read before (a new
    // header), and those are part of the build.
    if (auto done = preprocess_unit(unit.patched, stem + ".patched.i", unit.name, "patched"); !done) {
      s.error = done.error();
      return;
    }
    auto after = read_preprocessed(stem + ".patched.i", unit.patched.cwd);
    if (!after) {
      s.error = after.error();
      return;
    }
    for (auto& f : touched_among(*after, patched, touched)) s.includes.push_back(std::move(f));
    s.before = std::move(before->text);
    s.after = std::move(after->text);
  });
  // In the order of compile_commands.json, so the same input gives the same plan and error.
  for (std::size_t k = 0; k < units.size(); ++k) {
    const Unit& unit = units[k];
    Seen& s = seen[k];
    if (s.error) return *s.error;
    if (!s.candidate) continue;
    in_build.insert(s.includes.begin(), s.includes.end());
    if (touched.contains(unit.name)) {
      out.chosen.push_back(unit);
      out.why.push_back("touched by the diff");
    } else if (s.before != s.after) {
      out.chosen.push_back(unit);
      out.why.push_back("includes " + s.includes.front() + ", which the diff changes");
    }
  }
  for (const auto& f : touched)
    if (!in_build.contains(f)) out.skipped.push_back(f);
  return out;
}

}  // namespace hotpatch::make_patch
