// hotpatch ps: every process with a control endpoint that this user may control, with its patch level.
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include "control/discovery.hpp"

#include <fmt/core.h>
#include <pwd.h>

namespace hotpatch::cli {
namespace {

std::string user_name(uid_t uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) return pw.pw_name;
  return std::to_string(uid);
}

std::string level(const nlohmann::ordered_json& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + cell(id);
  return out.empty() ? "-" : out;
}

int run_ps(const TargetOptions& o) {
  TargetOptions all = o;
  all.all = true;
  auto targets = choose_targets(all);
  if (!targets) return report(targets.error());
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  std::vector<std::vector<std::string>> rows{{"PID", "USER", "PATCHES", "FUNCTIONS", "LEVEL", "REGISTRY", "COMMAND"}};
  control::Request hello;
  hello.op = control::Op::hello;
  for (const auto& t : *targets) {
    auto r = control::call(t.pid, t.socket, hello, o.call_options());
    auto owner = control::process_owner(t.pid);
    std::string user = owner ? user_name(*owner) : "?";
    if (!r || !r->ok) {
      std::string why = !r ? r.error().what() : r->error.what();
      out.push_back({{"pid", t.pid}, {"user", user}, {"ok", false}, {"error", why}});
      rows.push_back({std::to_string(t.pid), user, "?", "?", "?", "-", "(no answer: " + why + ")"});
      continue;
    }
    const auto& h = r->result;
    out.push_back({{"pid", t.pid}, {"user", user}, {"ok", true}, {"socket", t.socket}, {"hello", h}});
    rows.push_back({std::to_string(t.pid), user, cell(h.value("patches", nlohmann::ordered_json())),
                    cell(h.value("functions", nlohmann::ordered_json())),
                    level(h.value("patch_level", nlohmann::ordered_json::array())),
                    cell(h.value("registry", nlohmann::ordered_json())),
                    cell(h.value("command", nlohmann::ordered_json()))});
  }
  if (o.json) {
    fmt::print("{}\n", out.dump(2));
  } else if (targets->empty()) {
    fmt::print("no process has a control endpoint\n");
  } else {
    print_table(rows);
  }
  return exit_ok;
}

}  // namespace

void add_ps(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<TargetOptions>();
  auto* cmd = app.add_subcommand("ps", "List the processes with a control endpoint (this user's; every user's for root)");
  cmd->add_option("--timeout", o->timeout_seconds, "Seconds to wait for each process's answer")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print the list as JSON");
  cmd->callback([o, &run] { run = [o] { return run_ps(*o); }; });
}

}  // namespace hotpatch::cli
