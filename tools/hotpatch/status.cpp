// hotpatch status: a process's patch table (function, version, patch id, since when).
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include <fmt/core.h>

namespace hotpatch::cli {
namespace {

// Runtimes before these fields existed do not send them.
bool flag(const nlohmann::ordered_json& f, const char* name) {
  const auto it = f.find(name);
  return it != f.end() && it->is_boolean() && it->get<bool>();
}

std::string text(const nlohmann::ordered_json& f, const char* name) {
  const auto it = f.find(name);
  return it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string function_state(const nlohmann::ordered_json& f) {
  if (!flag(f, "unloaded")) return "";
  const std::string why = text(f, "reload_error");
  return why.empty() ? " (module unloaded)" : " (module loaded again, runs unpatched: " + cell(why) + ")";
}

void print_status(const Target& t, const nlohmann::ordered_json& s) {
  const auto& patches = items(s, "patches");
  const auto& functions = items(s, "functions");
  fmt::print("process {}: {} patch(es), {} patched function(s)\n", t.pid, patches.size(), functions.size());
  if (!patches.empty()) {
    std::vector<std::vector<std::string>> rows{{"PATCH", "VERSION", "APPLIED", "SOURCE"}};
    for (const auto& p : patches) {
      rows.push_back({cell(field(p, "id")), cell(field(p, "version")),
                      cell(field(p, "applied_at")),
                      cell(field(p, "source")) + (flag(p, "targets_unloaded") ? " (every target unloaded)" : "")});
    }
    print_table(rows);
  }
  if (!functions.empty()) {
    std::vector<std::vector<std::string>> rows{{"FUNCTION", "MODULE", "VERSION", "PATCH", "SINCE", "METHOD"}};
    for (const auto& f : functions) {
      rows.push_back({cell(field(f, "symbol")), cell(field(f, "module")),
                      cell(field(f, "version")),
                      cell(field(f, "patch_id")),
                      cell(field(f, "since")),
                      cell(field(f, "method")) + function_state(f)});
    }
    print_table(rows);
  }
}

}  // namespace

void add_status(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<TargetOptions>();
  auto* cmd = app.add_subcommand("status", "Show the patch table of a running process");
  o->default_all_timeout = 1;  // read-only: a process that does not answer at once is reported, not waited for
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
