// hotpatch agent: the host service that patches every matching process from a signed registry,
// and its --status.
#include "hotpatch/common.hpp"

#include "agent/agent.hpp"
#include "agent/agent_state.hpp"
#include "hotpatch/terminal_text.hpp"

#include <fmt/core.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <sys/stat.h>

namespace hotpatch::cli {
namespace {

constexpr const char* kDefaultConfig = "/etc/hotpatch/agent.conf";

struct AgentCommand {
  std::string config_file;
  bool once = false;
  bool status = false;
  bool json = false;
  std::vector<std::string> registries;
  std::string name;
  std::vector<std::string> pubkeys;
  std::string host_id;
  std::string state_dir;
  long interval = 0;
  long health_seconds = -1;
  std::string health_command;
  std::vector<std::string> programs;
  std::vector<std::string> users;
  std::string runtime;
};

std::atomic<bool> g_stop{false};
void on_stop_signal(int) { g_stop = true; }

std::string stamp() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::string t = agent::utc(ms / 1000);  // 2026-11-27T08:00:00Z
  return t.substr(0, t.size() - 1) + fmt::format(".{:03d}Z", ms % 1000);
}

Result<agent::AgentConfig> configuration(const AgentCommand& c) {
  agent::AgentConfig config;
  struct stat st {};
  if (!c.config_file.empty()) {
    HOTPATCH_TRY(agent::read_config_file(c.config_file, config));
  } else if (c.registries.empty() && ::stat(kDefaultConfig, &st) == 0) {
    HOTPATCH_TRY(agent::read_config_file(kDefaultConfig, config));
  }
  if (!c.registries.empty()) config.registries = c.registries;
  if (!c.name.empty()) config.registry_name = c.name;
  if (!c.pubkeys.empty()) config.pubkeys = c.pubkeys;
  if (!c.host_id.empty()) config.host_id = c.host_id;
  if (!c.state_dir.empty()) config.state_dir = c.state_dir;
  if (c.interval > 0) config.interval = std::chrono::seconds(c.interval);
  if (c.health_seconds >= 0) config.health_seconds = std::chrono::seconds(c.health_seconds);
  if (!c.health_command.empty()) config.health_command = c.health_command;
  if (!c.programs.empty()) config.programs = c.programs;
  if (!c.users.empty()) config.users = c.users;
  if (!c.runtime.empty()) config.runtime = c.runtime;
  return config;
}

int print_status(const agent::AgentConfig& config, bool json) {
  auto state = agent::StateStore::read_only(config.state_dir);
  if (!state) return report(state.error());
  if (json) {
    fmt::print("{}\n", agent::state_to_json(*state));
    return exit_ok;
  }
  const auto& s = *state;
  fmt::print("host {}, registry '{}' index version {}, last pass {}\n",
             s.host_id.empty() ? std::string("(no id)") : printable(s.host_id), printable(s.registry),
             s.index_version, s.last_pass ? agent::utc(s.last_pass) : std::string("never"));
  fmt::print("patched ({}):\n", s.patched.size());
  for (const auto& p : s.patched) {
    fmt::print("  process {} ({}): {} version {}, applied {}{}, {}\n", p.pid, printable(p.program),
               printable(p.id), p.version, agent::utc(p.applied_at), p.attached ? " after attaching" : "",
               p.healthy ? std::string("well (health window passed)") : "watching until " + agent::utc(p.watch_until));
  }
  fmt::print("taken back ({}):\n", s.taken_back.size());
  for (const auto& t : s.taken_back) {
    fmt::print("  {} version {} at {}: {}\n", printable(t.id), t.version, agent::utc(t.at), printable(t.reason));
  }
  fmt::print("taken by this host ({}):\n", s.first_taken.size());
  for (const auto& [k, at] : s.first_taken) fmt::print("  {} since {}\n", printable(k), agent::utc(at));
  return exit_ok;
}

int run_agent(const AgentCommand& c) {
  auto config = configuration(c);
  if (!config) return report(config.error());
  if (c.status) return print_status(*config, c.json);
  if (c.json) return report(make_error(ErrorCode::invalid_argument, "--json", "goes with --status"));
  auto log = [](const std::string& line) { fmt::print(stderr, "{} hotpatch agent: {}\n", stamp(), printable(line)); };
  auto agent = agent::Agent::create(std::move(*config), log);
  if (!agent) return report(agent.error());
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  return c.once ? (*agent)->run_once(g_stop) : (*agent)->run(g_stop);
}

}  // namespace

void add_agent(CLI::App& app, Subcommand& run) {
  auto c = std::make_shared<AgentCommand>();
  auto* cmd = app.add_subcommand(
      "agent", "Host service: patch every matching process from a signed registry, with health checks and automatic take-back");
  cmd->add_option("--config", c->config_file,
                  std::string("Configuration file (default ") + kDefaultConfig + " when it exists and no --registry is given)");
  cmd->add_flag("--once", c->once, "One pass (and the health windows it opens), then exit: for cron and tests");
  cmd->add_flag("--status", c->status, "Show what the agent has patched and taken back, from its state directory");
  cmd->add_flag("--json", c->json, "With --status: the state as JSON");
  cmd->add_option("--registry", c->registries, "Registry URL or directory (repeatable: mirrors, in order)");
  cmd->add_option("--name", c->name, "The registry's name, as signed into its index");
  cmd->add_option("--pubkey", c->pubkeys, "Registry public key (.pub file or base64 line; repeatable)");
  cmd->add_option("--host-id", c->host_id, "This host's id for staged rollouts (default: /etc/machine-id)");
  cmd->add_option("--state-dir", c->state_dir, "Where the agent keeps its state (default /var/lib/hotpatch/agent)");
  cmd->add_option("--interval", c->interval, "Seconds between registry polls (default 300, ±10 % jitter)");
  cmd->add_option("--health-seconds", c->health_seconds, "How long a patched process is watched (default 60)");
  cmd->add_option("--health-command", c->health_command,
                  "Shell command run during the window (HOTPATCH_PID, HOTPATCH_PATCH_ID, HOTPATCH_PATCH_VERSION set); "
                  "a non-zero exit takes the patch back");
  cmd->add_option("--program", c->programs, "Only processes running this executable (repeatable; default: all)");
  cmd->add_option("--user", c->users, "Only processes of this user, name or uid (repeatable; default: all)");
  cmd->add_option("--runtime", c->runtime, "libhotpatch.so to attach with (default: the installed one)");
  cmd->callback([c, &run] { run = [c] { return run_agent(*c); }; });
}

}  // namespace hotpatch::cli
