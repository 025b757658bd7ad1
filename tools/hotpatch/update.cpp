// hotpatch update: make a process refresh from its own registry and apply what is new.
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include <fmt/core.h>

namespace hotpatch::cli {

void add_update(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<TargetOptions>();
  // The process downloads and verifies before it answers.
  o->default_timeout = o->default_all_timeout = 120;
  auto* cmd = app.add_subcommand("update", "Make a running process poll its registry now and apply new patches");
  o->add_to(*cmd, true, true);
  cmd->callback([o, &run] {
    run = [o] {
      control::Request r;
      r.op = control::Op::update;
      auto print = [](const Target& t, const nlohmann::ordered_json& res) {
        const auto& unreachable = field(res, "unreachable");
        const bool reached = !unreachable.is_string() || unreachable.get_ref<const std::string&>().empty();
        fmt::print("process {}: registry index version {}{}\n", t.pid, cell(field(res, "index_version")),
                   reached ? (field(res, "changed") == true ? " (new)" : " (unchanged)")
                           : " (cached; no mirror answered: " + cell(unreachable) + ")");
        for (const auto& a : items(res, "applied")) {
          fmt::print("process {}: applied {} version {}\n", t.pid, cell(field(a, "id")),
                     cell(field(a, "version")));
        }
        for (const auto& f : items(res, "failed")) {
          fmt::print(stderr, "hotpatch: process {}: {} refused: {}\n", t.pid, cell(field(f, "id")),
                     cell(field(f, "error")));
        }
        // Not a refusal: the publisher staged it to a share of hosts this one is not in yet.
        for (const auto& h : items(res, "held_back")) {
          fmt::print("process {}: held back {} version {}: {}\n", t.pid, cell(field(h, "id")), cell(field(h, "version")),
                     cell(field(h, "error")));
        }
      };
      // A process that refused some of the patches it found has not been brought up to date.
      auto verdict = [](const nlohmann::ordered_json& res) {
        return items(res, "failed").empty() ? exit_ok : exit_refused;
      };
      return run_on_targets(*o, r, -1, print, verdict);
    };
  });
}

}  // namespace hotpatch::cli
