// hotpatch list: the patches a verified registry offers.
#include "hotpatch/common.hpp"
#include "hotpatch/registry_options.hpp"

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace hotpatch::cli {
namespace {

struct ListOptions {
  RegistryOptions registry;
  bool json = false;
};

int run_list(const ListOptions& o) {
  auto v = read_verified(o.registry);
  if (!v) return report(v.error());
  const auto& index = *v->read.index;
  if (o.json) {
    nlohmann::ordered_json out;
    out["registry"] = index.registry;
    out["version"] = index.version;
    out["expires"] = registry::format_timestamp(index.expires);
    out["patches"] = nlohmann::ordered_json::array();
    for (const auto& e : index.patches) {
      out["patches"].push_back({{"id", e.id},
                                {"version", e.patch_version},
                                {"about", e.about},
                                {"target", {{"build_id", e.target_build_id}, {"module", e.target_module}}},
                                {"replaces", e.replaces},
                                {"blob", {{"sha256", e.blob_sha256}, {"size", e.blob_size}}},
                                {"rollout_percent", e.rollout_percent}});
    }
    fmt::print("{}\n", out.dump(2));
    return exit_ok;
  }
  fmt::print("registry '{}' index version {}, valid until {}: {} patch(es)\n", index.registry, index.version,
             registry::format_timestamp(index.expires), index.patches.size());
  for (const auto& e : index.patches) {
    fmt::print("{} version {}\n  target: {} (build-id {})\n  about: {}\n", e.id, e.patch_version, e.target_module,
               e.target_build_id, e.about);
    for (const auto& s : e.replaces) fmt::print("  replaces: {}\n", s);
    if (e.rollout_percent < 100) fmt::print("  staged: {}% of hosts\n", e.rollout_percent);
  }
  return exit_ok;
}

}  // namespace

void add_list(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<ListOptions>();
  auto* cmd = app.add_subcommand("list", "List the patches of a registry (after verifying its signature)");
  o->registry.add_to(*cmd);
  cmd->add_flag("--json", o->json, "Print the listing as JSON");
  cmd->callback([o, &run] { run = [o] { return run_list(*o); }; });
}

}  // namespace hotpatch::cli
