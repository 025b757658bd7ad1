// hotpatch status: a process's patch table (function, version, patch id, since when).
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include <fmt/core.h>

namespace hotpatch::cli {
namespace {

void print_status(const Target& t, const nlohmann::ordered_json& s) {
  const auto patches = s.value("patches", nlohmann::ordered_json::array());
  const auto functions = s.value("functions", nlohmann::ordered_json::array());
  fmt::print("process {}: {} patch(es), {} patched function(s)\n", t.pid, patches.size(), functions.size());
  if (!patches.empty()) {
    std::vector<std::vector<std::string>> rows{{"PATCH", "VERSION", "APPLIED", "SOURCE"}};
    for (const auto& p : patches) {
      rows.push_back({cell(p.value("id", nlohmann::ordered_json())), cell(p.value("version", nlohmann::ordered_json())),
                      cell(p.value("applied_at", nlohmann::ordered_json())),
                      cell(p.value("source", nlohmann::ordered_json()))});
    }
    print_table(rows);
  }
  if (!functions.empty()) {
    std::vector<std::vector<std::string>> rows{{"FUNCTION", "MODULE", "VERSION", "PATCH", "SINCE", "METHOD"}};
    for (const auto& f : functions) {
      rows.push_back({cell(f.value("symbol", nlohmann::ordered_json())), cell(f.value("module", nlohmann::ordered_json())),
                      cell(f.value("version", nlohmann::ordered_json())),
                      cell(f.value("patch_id", nlohmann::ordered_json())),
                      cell(f.value("since", nlohmann::ordered_json())), cell(f.value("method", nlohmann::ordered_json()))});
    }
    print_table(rows);
  }
}

}  // namespace

void add_status(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<TargetOptions>();
  auto* cmd = app.add_subcommand("status", "Show the patch table of a running process");
  o->add_to(*cmd, true, true);
  cmd->callback([o, &run] {
    run = [o] {
      control::Request r;
      r.op = control::Op::status;
      return run_on_targets(*o, r, -1, print_status);
    };
  });
}

}  // namespace hotpatch::cli
