// hotpatch attach: give a process that was started without the runtime its control endpoint.
// Afterwards status/apply/revert/update reach it as they reach a preloaded process.
#include "hotpatch/common.hpp"

#include "attach/attach.hpp"
#include "control/discovery.hpp"

#include <filesystem>
#include <fmt/core.h>
#include <sys/stat.h>

namespace hotpatch::cli {
namespace {

struct AttachCommand {
  pid_t pid = 0;
  std::vector<std::string> trusted_keys;
  bool allow_unsigned = false;
  bool allow_seccomp = false;
  std::string runtime;
  std::string log_file;
  int wait_ms = 5000;
};

// A key file decides which code the process will accept: held to the rule HOTPATCH_TRUSTED_KEY
// files are held to (owned by root or this user, writable by nobody else).
Result<std::vector<std::string>> key_lines(const std::vector<std::string>& args) {
  std::vector<std::string> lines;
  for (const auto& arg : args) {
    struct stat st {};
    if (::stat(arg.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::invalid_argument, "--trusted-key " + arg, "is not a regular file");
      if (st.st_uid != 0 && st.st_uid != ::geteuid())
        return make_error(ErrorCode::permission, "--trusted-key " + arg,
                          "is owned by uid " + std::to_string(st.st_uid) + ", not by you or root: its owner would choose what the process accepts");
      if (st.st_mode & 022)
        return make_error(ErrorCode::permission, "--trusted-key " + arg,
                          "is writable by group or others: whoever can write it would choose what the process accepts");
    }
    HOTPATCH_LET(keys, load_public_keys({arg}));
    for (const auto& k : keys) lines.push_back(registry::minisign::public_key_line(k));
  }
  return lines;
}

int run_attach(const AttachCommand& c) {
  attach::AttachOptions o;
  o.runtime = c.runtime.empty() ? attach::default_runtime_path() : c.runtime;
  if (!o.runtime.empty() && o.runtime.front() != '/') o.runtime = std::filesystem::absolute(o.runtime).string();
  o.allow_unsigned = c.allow_unsigned;
  o.allow_seccomp = c.allow_seccomp;
  o.log_file = c.log_file;
  o.wait = std::chrono::milliseconds(c.wait_ms);
  auto keys = key_lines(c.trusted_keys);
  if (!keys) return report(keys.error());
  o.trusted_keys = std::move(*keys);
  if (!o.allow_unsigned && o.trusted_keys.empty()) {
    fmt::print(stderr, "hotpatch: warning: no --trusted-key and no --allow-unsigned: process {} will refuse every patch "
                       "sent to it (update from a registry still works)\n", c.pid);
  }
  auto r = attach::attach_runtime(c.pid, o);
  if (!r) return report(r.error());
  fmt::print("attached to process {}: loaded {}\n", c.pid, r->runtime);
  fmt::print("  thread {} was held {:.3f} ms, from its {}{}; libc {} (build-id {})\n", r->tid,
             static_cast<double>(r->stall.count()) / 1000.0, r->waited_in,
             r->loader_thread ? fmt::format(", and {:.3f} ms to unmap the loader", static_cast<double>(r->cleanup_stall.count()) / 1000.0)
                              : std::string(" (loaded on it: the process may not map new code)"),
             r->libc, r->libc_build_id);
  if (!r->cleanup.empty()) fmt::print("  note: {}\n", r->cleanup);
  if (auto sock = control::find_socket(c.pid)) {
    fmt::print("  control endpoint: {}\n", *sock);
  } else {
    fmt::print("  control endpoint: not found yet ({})\n", sock.error().what());
  }
  return exit_ok;
}

}  // namespace

void add_attach(CLI::App& app, Subcommand& run) {
  auto c = std::make_shared<AttachCommand>();
  auto* cmd = app.add_subcommand("attach",
                                 "Load the runtime into a process started without it and start its control endpoint");
  cmd->add_option("--pid", c->pid, "The process")->required();
  cmd->add_option("--trusted-key", c->trusted_keys,
                  "A minisign public key (.pub file or key line) whose signed patches the process accepts; repeatable");
  cmd->add_flag("--allow-unsigned", c->allow_unsigned, "Accept patches without a signature (development only)");
  cmd->add_flag("--allow-seccomp", c->allow_seccomp,
                "Attach to a process under a seccomp filter, once you have checked it allows the runtime's calls");
  cmd->add_option("--runtime", c->runtime, "The libhotpatch.so to load (default: the one installed beside this tool)");
  cmd->add_option("--log-file", c->log_file, "Append the runtime's log lines to this file (absolute path)");
  cmd->add_option("--wait-ms", c->wait_ms, "How long to wait for a thread to reach a safe point")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  cmd->callback([c, &run] { run = [c] { return run_attach(*c); }; });
}

}  // namespace hotpatch::cli
