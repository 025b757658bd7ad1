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
      auto print = [](const Target& t, const nlohmann::ordered_json& res) {
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
        }
      };
      // A process that refused some of the patches it found has not been brought up to date.
      auto verdict = [](const nlohmann::ordered_json& res) {
        const auto failed = res.value("failed", nlohmann::ordered_json::array());
        return failed.empty() ? exit_ok : exit_refused;
      };
      return run_on_targets(*o, r, -1, print, verdict);
    };
  });
}

}  // namespace hotpatch::cli
