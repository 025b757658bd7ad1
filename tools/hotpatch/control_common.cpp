#include "hotpatch/control_common.hpp"

#include "control/discovery.hpp"
#include "hotpatch/common.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace hotpatch::cli {

void TargetOptions::add_to(CLI::App& cmd, bool allow_all, bool with_json) {
  if (allow_all) {
    // A group of its own, so that "exactly one of" names only these two options.
    auto* which = cmd.add_option_group("target", "Which processes");
    which->add_option("--pid", pid, "Process to act on");
    which->add_flag("--all", all, "Act on every enabled process of this user (every user's, for root)");
    which->require_option(1);
  } else {
    cmd.add_option("--pid", pid, "Process to act on")->required();
  }
  cmd.add_option("--timeout", timeout_seconds, "Seconds to wait for each process's answer")->capture_default_str();
  if (with_json) cmd.add_flag("--json", json, "Print the answer as JSON");
}

control::CallOptions TargetOptions::call_options() const {
  control::CallOptions o;
  o.timeout = std::chrono::milliseconds(static_cast<long>(timeout_seconds * 1000));
  return o;
}

Result<std::vector<Target>> choose_targets(const TargetOptions& options) {
  if (!options.all) {
    if (options.pid <= 0) return make_error(ErrorCode::invalid_argument, "--pid", "give a process id or --all");
    HOTPATCH_LET(socket, control::find_socket(options.pid));
    return std::vector<Target>{{options.pid, socket}};
  }
  auto scan = control::scan_sockets();
  for (const auto& [pid, path] : scan.removed) {
    fmt::print(stderr, "hotpatch: removed the stale control socket of dead process {} ({})\n", pid, path);
  }
  std::vector<Target> out;
  for (const auto& [pid, path] : scan.sockets) out.push_back({pid, path});
  return out;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    fmt::print("{}\n", line);
  }
}

std::string cell(const nlohmann::ordered_json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>().empty() ? "-" : value.get<std::string>();
  return value.dump();
}

int run_on_targets(const TargetOptions& options, const control::Request& request, int pass_fd,
                   const std::function<void(const Target&, const nlohmann::ordered_json&)>& on_ok,
                   const std::function<int(const nlohmann::ordered_json&)>& verdict) {
  auto targets = choose_targets(options);
  if (!targets) return report(targets.error());
  if (options.all && targets->empty()) {
    if (options.json) fmt::print("[]\n");
    else fmt::print("no process has a control endpoint\n");
    return exit_ok;
  }
  auto call = options.call_options();
  call.pass_fd = pass_fd;
  int rc = exit_ok;
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  for (const auto& t : *targets) {
    auto r = control::call(t.pid, t.socket, request, call);
    Error error;
    if (!r) error = r.error();
    else if (!r->ok) error = r->error;
    const bool ok = r && r->ok;
    if (!ok) {
      if (error.subject.empty()) error.subject = "process " + std::to_string(t.pid);
      else if (!error.subject.starts_with("process ")) error.subject = "process " + std::to_string(t.pid) + ": " + error.subject;
      int code = report(error);
      if (rc == exit_ok) rc = code;
    } else if (verdict && rc == exit_ok) {
      rc = verdict(r->result);
    }
    if (options.json) {
      nlohmann::ordered_json one{{"pid", t.pid}, {"ok", ok}};
      if (ok) one["result"] = r->result;
      else one["error"] = {{"code", error_code_name(error.code)}, {"message", error.what()}};
      all.push_back(std::move(one));
    } else if (ok) {
      on_ok(t, r->result);
    }
  }
  if (options.json) fmt::print("{}\n", options.all ? all.dump(2) : all.front().dump(2));
  return rc;
}

}  // namespace hotpatch::cli
