// hotpatch revert: take a patch (or every patch) out of a running process.
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include <fmt/core.h>

namespace hotpatch::cli {
namespace {

struct RevertOptions {
  TargetOptions target;
  std::string patch_id;
  bool all_patches = false;
};

int run_revert(const RevertOptions& o) {
  if (o.patch_id.empty() == !o.all_patches) {
    return report(make_error(ErrorCode::invalid_argument, "revert", "give either a PATCH_ID or --all-patches"));
  }
  control::Request r;
  r.op = control::Op::revert;
  r.patch_id = o.patch_id;
  r.all = o.all_patches;
  return run_on_targets(
      o.target, r, -1,
      [](const Target& t, const nlohmann::ordered_json& res) {
        const auto& ids = items(res, "reverted");
        if (ids.empty()) fmt::print("process {}: no patch was applied\n", t.pid);
        for (const auto& id : ids) fmt::print("process {}: reverted {}\n", t.pid, cell(id));
      },
      {}, {}, [](const Error& e) { return e.code == ErrorCode::not_applied; });
}

}  // namespace

void add_revert(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<RevertOptions>();
  auto* cmd = app.add_subcommand("revert", "Revert a patch in a running process (its functions go back to the "
                                           "version below, or to the original code)");
  o->target.add_to(*cmd, true, true);
  cmd->add_option("patch_id", o->patch_id, "Id of the applied patch");
  cmd->add_flag("--all-patches", o->all_patches, "Revert every applied patch, newest first");
  cmd->callback([o, &run] { run = [o] { return run_revert(*o); }; });
}

}  // namespace hotpatch::cli
