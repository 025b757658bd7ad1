#include "hotpatch/control_common.hpp"

#include "control/discovery.hpp"
#include "hotpatch/answer_shape.hpp"
#include "hotpatch/common.hpp"
#include "hotpatch/terminal_text.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace hotpatch::cli {
namespace {

using json = nlohmann::ordered_json;

control::CallOptions seconds(double s) {
  control::CallOptions o;
  o.timeout = std::chrono::milliseconds(static_cast<long>(s * 1000));
  return o;
}

bool has_build(const json& hello, const std::string& build_id) {
  for (const auto& id : items(hello, "build_ids"))
    if (id.is_string() && id.get_ref<const std::string&>() == build_id) return true;
  return false;
}

// Hello to every process at once; those without the build are left out (and said so), those that
// do not answer properly are failures. Returns the processes to act on.
std::vector<Target> with_build(const TargetOptions& options, const std::vector<Target>& targets,
                               const std::string& build_id, int& rc, json& out) {
  control::Request hello;
  hello.op = control::Op::hello;
  auto answers = control::call_each(targets, hello, options.hello_options());
  std::vector<Target> keep;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const Target& t = targets[i];
    auto& r = answers[i];
    Status shape = !r ? Status(r.error()) : !r->ok ? Status(r->error) : check_answer(control::Op::hello, r->result);
    if (!shape) {
      Error e = process_error(t.pid, shape.error());
      int code = report(e);
      if (rc == exit_ok) rc = code;
      out.push_back({{"pid", t.pid}, {"ok", false}, {"error", {{"code", error_code_name(e.code)}, {"message", e.what()}}}});
    } else if (has_build(r->result, build_id)) {
      keep.push_back(t);
    } else {
      out.push_back({{"pid", t.pid}, {"ok", true}, {"skipped", "not a target"}});
      if (!options.json) fmt::print("process {}: not a target (build {} is not loaded)\n", t.pid, build_id);
    }
  }
  return keep;
}

}  // namespace

void TargetOptions::add_to(CLI::App& cmd, bool allow_all, bool with_json) {
  if (allow_all) {
    // A group of its own, so that "exactly one of" names only these two options.
    auto* which = cmd.add_option_group("target", "Which processes");
    which->add_option("--pid", pid, "Process to act on");
    auto* all_flag =
        which->add_flag("--all", all, "Act on every enabled process of this user (for root: in root's socket directories)");
    which->require_option(1);
    cmd.add_flag("--all-users", all_users, "With --all as root: also processes in other users' socket directories")
        ->needs(all_flag);
  } else {
    cmd.add_option("--pid", pid, "Process to act on")->required();
  }
  cmd.add_option("--timeout", timeout_seconds,
                 fmt::format("Seconds to wait for each process's answer (default {}{})", default_timeout,
                             allow_all && default_all_timeout != default_timeout
                                 ? fmt::format(", {} with --all", default_all_timeout)
                                 : std::string()));
  if (with_json) cmd.add_flag("--json", json, "Print the answer as JSON");
}

control::CallOptions TargetOptions::call_options() const {
  return seconds(timeout_seconds >= 0 ? timeout_seconds : all ? default_all_timeout : default_timeout);
}

control::CallOptions TargetOptions::hello_options() const { return seconds(timeout_seconds >= 0 ? timeout_seconds : 1); }

Result<std::vector<Target>> choose_targets(const TargetOptions& options, bool every_user) {
  if (!options.all) {
    if (options.pid <= 0) return make_error(ErrorCode::invalid_argument, "--pid", "give a process id or --all");
    HOTPATCH_LET(socket, control::find_socket(options.pid));
    return std::vector<Target>{{options.pid, socket}};
  }
  auto scan = control::scan_sockets({.every_user = every_user});
  for (const auto& [pid, path] : scan.removed) {
    fmt::print(stderr, "hotpatch: removed the stale control socket of dead process {} ({})\n", pid, printable(path));
  }
  for (const auto& why : scan.ignored) fmt::print(stderr, "hotpatch: {}\n", printable(why));
  std::vector<Target> out;
  for (auto& s : scan.sockets) out.push_back({s.pid, std::move(s.path)});
  return out;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> safe;
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    auto& row = safe.emplace_back();
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) {
      row.push_back(printable(r[i]));
      width[i] = std::max(width[i], row.back().size());
    }
  }
  for (const auto& r : safe) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    fmt::print("{}\n", line);
  }
}

std::string cell(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get_ref<const std::string&>().empty() ? "-" : printable(value.get_ref<const std::string&>());
  return printable(value.dump(-1, ' ', false, json::error_handler_t::replace));
}

const json& field(const json& object, const char* key) {
  static const json null;
  if (!object.is_object()) return null;
  auto it = object.find(key);
  return it == object.end() ? null : *it;
}

const json& items(const json& object, const char* key) {
  static const json empty = json::array();
  const json& v = field(object, key);
  return v.is_array() ? v : empty;
}

Error process_error(pid_t pid, Error error) {
  const std::string who = "process " + std::to_string(pid);
  if (error.subject.empty()) error.subject = who;
  else if (error.subject != who && !error.subject.starts_with(who + ":")) error.subject = who + ": " + error.subject;
  return error;
}

int run_on_targets(const TargetOptions& options, const control::Request& request, int pass_fd,
                   const std::function<void(const Target&, const json&)>& on_ok,
                   const std::function<int(const json&)>& verdict, const std::string& only_build_id,
                   const std::function<bool(const Error&)>& nothing_to_do) {
  auto targets = choose_targets(options, options.all_users);
  if (!targets) return report(targets.error());
  if (options.all && targets->empty()) {
    if (options.json) fmt::print("[]\n");
    else fmt::print("no process has a control endpoint\n");
    return exit_ok;
  }
  int rc = exit_ok;
  std::size_t passed_over = 0;
  json all = json::array();
  if (options.all && !only_build_id.empty()) *targets = with_build(options, *targets, only_build_id, rc, all);

  auto call = options.call_options();
  call.pass_fd = pass_fd;
  auto handle = [&](const Target& t, Result<control::Response> r) {
    Status answer = !r ? Status(r.error()) : !r->ok ? Status(r->error) : check_answer(request.op, r->result);
    if (answer && !options.json) {
      // The shape check covers what the printers read; a printer that still meets a surprise fails
      // this process only.
      try {
        on_ok(t, r->result);
      } catch (const nlohmann::json::exception& e) {
        answer = make_error(ErrorCode::protocol, "answer", std::string("is malformed: ") + e.what());
      }
    }
    // With --all, a process the request does not concern (the patch is not applied there) is
    // passed over, not failed: other users of the same socket directory run other programs.
    if (!answer && options.all && nothing_to_do && nothing_to_do(answer.error())) {
      ++passed_over;
      if (!options.json) fmt::print("process {}: {}, nothing to do\n", t.pid, printable(answer.error().what()));
      all.push_back({{"pid", t.pid}, {"ok", true}, {"nothing_to_do", answer.error().what()}});
      return;
    }
    if (!answer) {
      Error error = process_error(t.pid, answer.error());
      int code = report(error);
      if (rc == exit_ok) rc = code;
      all.push_back({{"pid", t.pid}, {"ok", false}, {"error", {{"code", error_code_name(error.code)}, {"message", error.what()}}}});
      return;
    }
    if (verdict) {
      int code = exit_refused;
      try {
        code = verdict(r->result);
      } catch (const nlohmann::json::exception&) {
      }
      if (rc == exit_ok) rc = code;
    }
    all.push_back({{"pid", t.pid}, {"ok", true}, {"result", r->result}});
  };
  const bool read_only = request.op == control::Op::hello || request.op == control::Op::status;
  if (read_only) {
    auto answers = control::call_each(*targets, request, call);
    for (std::size_t i = 0; i < targets->size(); ++i) handle((*targets)[i], std::move(answers[i]));
  } else {
    // Changes go one process after the other: a rollout can be followed, and stopped, as it goes.
    for (const auto& t : *targets) handle(t, control::call(t.pid, t.socket, request, call));
  }
  if (passed_over != 0 && passed_over == targets->size()) {
    // Concerning no process at all is a mistake worth an exit code (a mistyped patch id).
    rc = report(make_error(ErrorCode::not_applied, "patch '" + request.patch_id + "'",
                           "is applied in none of the " + std::to_string(passed_over) + " process(es)"));
  }
  if (options.json) {
    fmt::print("{}\n", options.all || all.empty() ? all.dump(2, ' ', false, json::error_handler_t::replace)
                                                  : all.front().dump(2, ' ', false, json::error_handler_t::replace));
  }
  return rc;
}

}  // namespace hotpatch::cli
