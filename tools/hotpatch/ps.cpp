// hotpatch ps: every process with a control endpoint that this user may control, with its patch level.
#include "hotpatch/common.hpp"
#include "hotpatch/control_common.hpp"

#include "control/discovery.hpp"
#include "hotpatch/answer_shape.hpp"

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

std::string level(const nlohmann::ordered_json& hello) {
  std::string out;
  for (const auto& id : items(hello, "patch_level")) out += (out.empty() ? "" : ",") + cell(id);
  return out.empty() ? "-" : out;
}

int run_ps(const TargetOptions& o) {
  TargetOptions all = o;
  all.all = true;
  // Listing is read-only: root sees every user's processes.
  auto targets = choose_targets(all, /*every_user=*/true);
  if (!targets) return report(targets.error());
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  std::vector<std::vector<std::string>> rows{{"PID", "USER", "PATCHES", "FUNCTIONS", "LEVEL", "REGISTRY", "COMMAND"}};
  control::Request hello;
  hello.op = control::Op::hello;
  auto answers = control::call_each(*targets, hello, all.call_options());
  int rc = exit_ok;
  for (std::size_t i = 0; i < targets->size(); ++i) {
    const Target& t = (*targets)[i];
    const auto& r = answers[i];
    auto owner = control::process_owner(t.pid);
    std::string user = owner ? user_name(*owner) : "?";
    Status answer = !r ? Status(r.error()) : !r->ok ? Status(r->error) : check_answer(control::Op::hello, r->result);
    if (!answer) {
      // A process that cannot be listed is a failure of this listing, but not of the others.
      rc = exit_refused;
      std::string why = process_error(t.pid, answer.error()).what();
      out.push_back({{"pid", t.pid}, {"user", user}, {"ok", false}, {"error", why}});
      rows.push_back({std::to_string(t.pid), user, "?", "?", "?", "-", "(no answer: " + why + ")"});
      continue;
    }
    const auto& h = r->result;
    out.push_back({{"pid", t.pid}, {"user", user}, {"ok", true}, {"socket", t.socket}, {"hello", h}});
    rows.push_back({std::to_string(t.pid), user, cell(field(h, "patches")), cell(field(h, "functions")), level(h),
                    cell(field(h, "registry")), cell(field(h, "command"))});
  }
  if (o.json) {
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  } else if (targets->empty()) {
    fmt::print("no process has a control endpoint\n");
  } else {
    print_table(rows);
  }
  return rc;
}

}  // namespace

void add_ps(CLI::App& app, Subcommand& run) {
  auto o = std::make_shared<TargetOptions>();
  // Every process is asked at once; one that does not answer within a second is listed as such.
  o->default_all_timeout = 1;
  auto* cmd = app.add_subcommand("ps", "List the processes with a control endpoint (this user's; every user's for root)");
  cmd->add_option("--timeout", o->timeout_seconds, "Seconds to wait for each process's answer (default 1)");
  cmd->add_flag("--json", o->json, "Print the list as JSON");
  cmd->callback([o, &run] { run = [o] { return run_ps(*o); }; });
}

}  // namespace hotpatch::cli
