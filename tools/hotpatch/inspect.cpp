// hotpatch inspect: what a patch object says about itself, read without loading it.
#include "hotpatch/common.hpp"

#include "registry/sha256.hpp"

#include <hotpatch/runtime.hpp>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace hotpatch::cli {
namespace {

struct InspectOptions {
  std::string patch;
  bool json = false;
};

int run_inspect(const InspectOptions& o) {
  auto m = read_patch_manifest(o.patch);
  if (!m) return report(m.error());
  auto digest = registry::sha256_file(o.patch);
  if (!digest) return report(digest.error());
  if (o.json) {
    nlohmann::ordered_json out{{"id", m->id},
                               {"version", m->version},
                               {"about", m->about},
                               {"target", {{"build_id", m->target_build_id}, {"module", m->target_module}}},
                               {"sha256", digest->sha256},
                               {"size", digest->size}};
    out["replaces"] = nlohmann::ordered_json::array();
    for (const auto& r : m->replaces) {
      nlohmann::ordered_json row{{"symbol", r.target_symbol}, {"with", r.replacement_symbol}};
      if (r.from_object && r.object < m->objects.size()) row["unit"] = m->objects[r.object].unit;
      out["replaces"].push_back(std::move(row));
    }
    out["objects"] = nlohmann::ordered_json::array();
    for (const auto& o : m->objects) out["objects"].push_back({{"unit", o.unit}, {"size", o.size}, {"sections", o.sections}});
    out["imports"] = nlohmann::ordered_json::array();
    for (const auto& i : m->imports) out["imports"].push_back({{"symbol", i.target_symbol}, {"into", i.variable}});
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  fmt::print("{} version {}\n  about: {}\n  target: {} (build-id {})\n  file: {} bytes, sha256 {}\n", m->id,
             m->version, m->about, m->target_module, m->target_build_id, digest->size, digest->sha256);
  for (const auto& r : m->replaces) fmt::print("  replaces: {} -> {}\n", r.target_symbol, r.replacement_symbol);
  for (const auto& i : m->imports) fmt::print("  imports: {} into {}\n", i.target_symbol, i.variable);
  // Patches made from a diff: one object per fixed unit, linked next to the target when applied.
  for (const auto& o : m->objects)
    fmt::print("  object: {} ({} bytes, {} section{} to load)\n", o.unit, o.size, o.sections.size(), o.sections.size() == 1 ? "" : "s");
  return exit_ok;
}

}  // namespace

void add_inspect(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<InspectOptions>();
  auto* cmd = app.add_subcommand("inspect", "Show a patch's id, version, target build-id and what it replaces");
  cmd->add_option("patch", o->patch, "Patch object (.so)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", o->json, "Print as JSON");
  cmd->callback([o, &run] { run = [o] { return run_inspect(*o); }; });
}

}  // namespace hotpatch::cli
