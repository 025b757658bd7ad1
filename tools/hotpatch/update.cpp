// hotpatch update: make a process refresh from its own registry and apply what is new.
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include <fmt/core.h>

namespace hotpatch::cli {

void add_update(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<TargetOptions>();
  o->timeout_seconds = 120;  // the process downloads and verifies before it answers
  auto* cmd = app.add_subcommand("update", "Make a running process poll its registry now and apply new patches");
  o->add_to(*cmd, true, true);
  cmd->callback([o, &run] {
    run = [o] {
      control::Request r;
      r.op = control::Op::update;
      int rc = exit_ok;
      int code = run_on_targets(*o, r, -1, [&rc](const Target& t, const nlohmann::ordered_json& res) {
        std::string unreachable = res.value("unreachable", std::string());
        fmt::print("process {}: registry index version {}{}\n", t.pid, cell(res.value("index_version", nlohmann::ordered_json())),
                   unreachable.empty() ? (res.value("changed", false) ? " (new)" : " (unchanged)")
                                       : " (cached; no mirror answered: " + unreachable + ")");
        for (const auto& a : res.value("applied", nlohmann::ordered_json::array())) {
          fmt::print("process {}: applied {} version {}\n", t.pid, cell(a.value("id", nlohmann::ordered_json())),
                     cell(a.value("version", nlohmann::ordered_json())));
        }
        for (const auto& f : res.value("failed", nlohmann::ordered_json::array())) {
          fmt::print(stderr, "hotpatch: process {}: {} refused: {}\n", t.pid, cell(f.value("id", nlohmann::ordered_json())),
                     cell(f.value("error", nlohmann::ordered_json())));
          rc = exit_refused;
        }
      });
      return code != exit_ok ? code : rc;
    };
  });
}

}  // namespace hotpatch::cli
