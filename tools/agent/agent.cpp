#include "agent/agent.hpp"

#include "agent/agent_state.hpp"
#include "agent/health.hpp"
#include "agent/process_events.hpp"
#include "agent/process_scan.hpp"
#include "attach/attach.hpp"
#include "control/client.hpp"
#include "control/discovery.hpp"
#include "registry/fetcher.hpp"
#include "registry/minisign.hpp"
#include "registry/rollout.hpp"

#include <hotpatch/registry.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <thread>

namespace hotpatch::agent {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
}

std::string key(const std::string& id, std::uint32_t version) { return id + "@" + std::to_string(version); }

std::string who(pid_t pid, const std::string& program) {
  return "process " + std::to_string(pid) + " (" + program + ")";
}

// Each key is a .pub file or the base64 line itself; the files decide what every process accepts.
Result<std::vector<registry::minisign::PublicKey>> load_keys(const std::vector<std::string>& args) {
  std::vector<registry::minisign::PublicKey> keys;
  for (const auto& arg : args) {
    std::string text = arg;
    struct stat st {};
    if (::stat(arg.c_str(), &st) == 0) {
      if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::invalid_argument, "pubkey " + arg, "is not a regular file");
      if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return make_error(ErrorCode::permission, "pubkey " + arg,
                          "is owned by uid " + std::to_string(st.st_uid) + ", not by root or the agent's user");
      }
      if (st.st_mode & 022) return make_error(ErrorCode::permission, "pubkey " + arg, "is writable by group or others");
      HOTPATCH_LET(content, registry::read_file(arg, 4096));
      text = std::move(content);
    }
    auto key = registry::minisign::parse_public_key(text);
    if (!key) return make_error(ErrorCode::parse, "pubkey " + arg, key.error().message);
    keys.push_back(*key);
  }
  return keys;
}

// The patch level a process reports in hello: "id@version" items.
std::map<std::string, std::uint32_t> patch_level(const nlohmann::ordered_json& hello) {
  std::map<std::string, std::uint32_t> level;
  const auto it = hello.find("patch_level");
  if (it == hello.end() || !it->is_array()) return level;
  for (const auto& item : *it) {
    if (!item.is_string()) continue;
    const std::string s = item.get<std::string>();
    const auto at = s.rfind('@');
    if (at == std::string::npos) continue;
    try {
      const auto v = static_cast<std::uint32_t>(std::stoul(s.substr(at + 1)));
      auto& have = level[s.substr(0, at)];
      have = std::max(have, v);
    } catch (...) {
    }
  }
  return level;
}

}  // namespace

struct Agent::Impl {
  AgentConfig config;
  Log log;
  StateStore store;
  AgentState state;
  int lock_fd = -1;
  std::vector<registry::minisign::PublicKey> keys;
  std::vector<std::string> key_lines;
  std::string host_id;      // empty when the host has none (staged entries are then held back)
  std::string runtime;
  std::vector<std::string> urls;  // the registries as URLs, as a process's own poller names them
  ProcessScanner scanner;
  std::optional<RegistryClient> client;
  std::set<std::string> said;  // lines said once per run (a refusal repeated at every pass)
  // A process that could not be patched is tried again later and later (up to the poll interval):
  // an attach that finds no safe point costs its whole wait, and each refused apply is logged by
  // the process. Keyed by pid and start time; a registry change tries everything again.
  struct Backoff {
    std::chrono::steady_clock::time_point next;
    std::chrono::seconds delay{0};
  };
  std::map<std::pair<pid_t, std::uint64_t>, Backoff> backoff;

  // The process the registry client is applying to now (its applier calls back into this).
  struct Current {
    HostProcess process;
    std::map<std::string, std::uint32_t> level;
    std::string socket;
    std::string own_poller;  // set when attaching showed its runtime polls one of our registries
  };
  Current* current = nullptr;
  PassOutcome* outcome = nullptr;
  std::map<std::string, std::string> signatures;  // blob sha256 -> minisig text

  Impl(AgentConfig c, Log l, StateStore s, ProcessScanner sc)
      : config(std::move(c)), log(std::move(l)), store(std::move(s)), scanner(std::move(sc)) {}
  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  void say_once(const std::string& line) {
    if (said.insert(line).second) log(line);
  }
  std::string saved;  // what the state file holds, but for the time of the last pass
  // Written when something changed, and at each registry poll (the time of the last pass): a scan
  // that finds nothing new touches no disk.
  void save(bool always) {
    AgentState without_time = state;
    without_time.last_pass = 0;
    std::string now = state_to_json(without_time);
    if (!always && now == saved) return;
    if (auto s = store.save(state); !s) {
      say_once("cannot save the state: " + s.error().what());
      return;
    }
    saved = std::move(now);
  }

  std::uint32_t applied_version(const std::string& id) const {
    std::uint32_t have = 0;
    if (auto it = current->level.find(id); it != current->level.end()) have = it->second;
    // A version taken back on this host counts as had: it is not applied again, a newer one is.
    for (const auto& t : state.taken_back)
      if (t.id == id) have = std::max(have, t.version);
    return have;
  }

  Result<std::string> blob_signature(const VerifiedPatch& patch);
  /// Why a process is left to the poller of its own runtime (one of our registries), if it is.
  std::optional<std::string> own_poller(const nlohmann::ordered_json& hello) const;
  Result<std::string> endpoint(Current& c);
  Status apply(const VerifiedPatch& patch);
  void note_rollout();
  void take_back(const std::string& id, std::uint32_t version, pid_t pid, const std::string& program,
                 const std::string& reason);
};

Result<std::string> Agent::Impl::blob_signature(const VerifiedPatch& patch) {
  if (auto it = signatures.find(patch.blob_sha256); it != signatures.end()) return it->second;
  std::optional<Error> last;
  for (const auto& url : config.registries) {
    const std::string sig_url = registry::join_url(url, "blobs/sha256/" + patch.blob_sha256 + ".so.minisig");
    auto got = registry::fetch(registry::url_from_location(sig_url), registry::FetchLimits{4096});
    if (!got) {
      last = got.error();
      continue;
    }
    // Checked here so that a bad mirror is passed over; the process checks it again.
    auto sig = registry::minisign::parse_signature(got->body);
    auto signer = sig ? registry::minisign::find_signer(*sig, keys) : Result<registry::minisign::PublicKey>(sig.error());
    Status ok = signer ? registry::minisign::verify_data(*sig, *signer, patch.bytes) : Status(signer.error());
    if (!ok) {
      last = make_error(ErrorCode::signature, sig_url, ok.error().message);
      continue;
    }
    signatures[patch.blob_sha256] = got->body;
    return got->body;
  }
  return make_error(ErrorCode::signature, "blob " + patch.blob_sha256,
                    "has no signature the registry key verifies (" + (last ? last->what() : std::string("no mirror")) +
                        "); republish with a current hotpatch publish, which signs each blob");
}

Result<std::string> Agent::Impl::endpoint(Current& c) {
  if (!c.socket.empty()) return c.socket;
  attach::AttachOptions o;
  o.runtime = runtime;
  o.trusted_keys = key_lines;
  o.wait = config.attach_wait;
  auto attached = attach::attach_runtime(c.process.pid, o);
  if (!attached) {
    // Its runtime polls a registry with its endpoint off: it has an owner, which is not us.
    if (attached.error().message.find("registry poller only") != std::string::npos) {
      c.own_poller = "runs its own registry poller (its endpoint is off): left to it";
    }
    return attached.error();
  }
  log("attached to " + who(c.process.pid, c.process.program) + " (thread " + std::to_string(attached->tid) +
      " held " + std::to_string(attached->stall.count() / 1000.0).substr(0, 5) + " ms)");
  // The endpoint is started by the runtime's own thread: give it a moment to appear.
  Result<std::string> sock = control::find_socket(c.process.pid);
  for (int i = 0; i < 100 && !sock; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    sock = control::find_socket(c.process.pid);
  }
  if (!sock) return sock.error();
  // A runtime that was loaded without its endpoint may still run its own poller.
  control::Request hello;
  hello.op = control::Op::hello;
  auto answer = control::call(c.process.pid, *sock, hello);
  if (!answer) return answer.error();
  if (!answer->ok) return answer->error;
  if (auto own = own_poller(answer->result)) {
    c.own_poller = *own;
    return make_error(ErrorCode::already_applied, who(c.process.pid, c.process.program), *own);
  }
  c.socket = *sock;
  return c.socket;
}

std::optional<std::string> Agent::Impl::own_poller(const nlohmann::ordered_json& hello) const {
  const auto it = hello.find("registry");
  if (it == hello.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) return std::nullopt;
  const std::string own = registry::url_from_location(it->get<std::string>());
  if (std::find(urls.begin(), urls.end(), own) == urls.end()) return std::nullopt;
  return "polls " + own + " itself: left to its own poller";
}

Status Agent::Impl::apply(const VerifiedPatch& patch) {
  Current& c = *current;
  HOTPATCH_LET(signature, blob_signature(patch));
  const bool attaching = c.socket.empty();
  HOTPATCH_LET(socket, endpoint(c));
  HOTPATCH_LET(fd, control::sealed_copy(patch.id, std::string_view(reinterpret_cast<const char*>(patch.bytes.data()),
                                                                   patch.bytes.size())));
  control::Request r;
  r.op = control::Op::apply;
  r.source = "registry '" + config.registry_name + "' (hotpatch agent) blob sha256:" + patch.blob_sha256;
  r.signature = std::move(signature);
  control::CallOptions call;
  call.pass_fd = fd;
  call.timeout = std::chrono::seconds(60);
  auto answer = control::call(c.process.pid, socket, r, call);
  ::close(fd);
  if (!answer) return answer.error();
  if (!answer->ok) return answer->error;
  const std::int64_t now = now_seconds();
  PatchedProcess p;
  p.pid = c.process.pid;
  p.start_time = c.process.start_time;
  p.program = c.process.program;
  p.id = patch.id;
  p.version = patch.version;
  p.applied_at = now;
  p.watch_until = now + config.health_seconds.count();
  p.next_check = now + std::min(config.health_interval.count(), config.health_seconds.count());
  p.healthy = config.health_seconds.count() == 0;
  p.attached = attaching;
  std::erase_if(state.patched, [&](const PatchedProcess& q) { return q.pid == p.pid && q.id == p.id; });
  state.patched.push_back(p);
  c.level[patch.id] = patch.version;
  return {};
}

// When this host first took each entry staged to it: what a rollout's progress is read from.
void Agent::Impl::note_rollout() {
  for (const auto& e : client->available()) {
    if (state.first_taken.contains(key(e.id, e.version))) continue;
    if (e.rollout_percent < 100) {
      if (host_id.empty()) {
        say_once(e.id + " version " + std::to_string(e.version) + " is staged to " +
                 std::to_string(e.rollout_percent) + "% of hosts and this host has no id (/etc/machine-id, host_id =): held back");
        continue;
      }
      if (!registry::rollout_includes(host_id, e.id, e.rollout_percent)) continue;
    }
    state.first_taken[key(e.id, e.version)] = now_seconds();
    log("this host takes " + e.id + " version " + std::to_string(e.version) +
        (e.rollout_percent < 100 ? " (staged to " + std::to_string(e.rollout_percent) + "% of hosts)" : std::string()));
  }
}

void Agent::Impl::take_back(const std::string& id, std::uint32_t version, pid_t pid, const std::string& program,
                            const std::string& reason) {
  if (state.taken_back_for(id, version) == nullptr) {
    state.taken_back.push_back(TakenBack{id, version, pid, program, reason, now_seconds()});
    log("took back " + id + " version " + std::to_string(version) + " on this host: " + reason +
        "; it will not be applied here again");
  }
  // Every process on the host that runs this version goes back to what it ran before.
  for (auto it = state.patched.begin(); it != state.patched.end();) {
    if (it->id != id || it->version != version) {
      ++it;
      continue;
    }
    if (!process_problem(*it)) {
      control::Request r;
      r.op = control::Op::revert;
      r.patch_id = id;
      auto sock = control::find_socket(it->pid);
      auto answer = sock ? control::call(it->pid, *sock, r) : Result<control::Response>(sock.error());
      if (answer && answer->ok) {
        log("reverted " + id + " version " + std::to_string(version) + " in " + who(it->pid, it->program));
      } else {
        log("could not revert " + id + " in " + who(it->pid, it->program) + ": " +
            (answer ? answer->error.what() : answer.error().what()));
      }
    }
    it = state.patched.erase(it);
  }
}

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(AgentConfig config, Log log) {
  HOTPATCH_TRY(check_config(config));
  HOTPATCH_LET(keys, load_keys(config.pubkeys));
  HOTPATCH_LET(uids, configured_uids(config));
  HOTPATCH_LET(store, StateStore::open(config.state_dir));
  // One agent per state directory: a second one would apply and take back behind the first's back.
  const std::string lock_path = config.state_dir + "/lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (lock_fd < 0) return make_error(ErrorCode::io, lock_path, std::string("cannot be opened: ") + std::strerror(errno));
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd);
    return make_error(ErrorCode::already_applied, config.state_dir,
                      "is in use by another hotpatch agent on this host (one agent per state directory)");
  }
  ProcessScanner scanner(uids, config.programs);
  auto impl = std::make_unique<Impl>(std::move(config), std::move(log), std::move(store), std::move(scanner));
  impl->lock_fd = lock_fd;
  impl->keys = std::move(keys);
  for (const auto& k : impl->keys) impl->key_lines.push_back(registry::minisign::public_key_line(k));
  impl->runtime = impl->config.runtime.empty() ? attach::default_runtime_path() : impl->config.runtime;
  HOTPATCH_LET(state, impl->store.load());
  impl->state = std::move(state);
  if (auto id = registry::host_id(impl->config.host_id)) impl->host_id = *id;
  impl->state.host_id = impl->host_id;
  impl->state.registry = impl->config.registry_name;

  RegistryConfig rc;
  rc.urls = impl->config.registries;
  for (auto& u : rc.urls) u = registry::url_from_location(u);
  impl->urls = rc.urls;
  rc.registry_name = impl->config.registry_name;
  rc.trusted_keys = impl->key_lines;
  rc.cache_dir = impl->store.registry_cache();
  rc.host_id = impl->host_id;
  // The agent polls on its own schedule; applying never refreshes by itself.
  rc.ttl = std::chrono::seconds(365LL * 86400);
  Impl* self = impl.get();
  PatchApplier applier;
  applier.loaded_build_ids = [self] {
    return std::vector<std::string>(self->current->process.build_ids.begin(), self->current->process.build_ids.end());
  };
  applier.applied_version = [self](std::string_view id) { return self->applied_version(std::string(id)); };
  applier.apply = [self](const VerifiedPatch& p) { return self->apply(p); };
  HOTPATCH_LET(client, RegistryClient::create(std::move(rc), std::move(applier)));
  impl->client.emplace(std::move(client));
  return std::unique_ptr<Agent>(new Agent(std::move(impl)));
}

PassOutcome Agent::pass(bool poll) {
  Impl& a = *impl_;
  PassOutcome outcome;
  a.signatures.clear();
  if (poll) {
    auto update = a.client->update();
    for (const auto& w : a.client->take_cache_warnings()) a.log("registry cache: " + w.what());
    if (!update) {
      outcome.registry_failed = a.client->index_version() == 0;
      a.log("registry refused: " + update.error().what() +
            (a.client->index_version() ? "; going on with the verified index version " +
                                             std::to_string(a.client->index_version())
                                       : std::string()));
    } else if (update->unreachable) {
      outcome.registry_failed = a.client->index_version() == 0;
      a.say_once("no registry mirror answered (" + update->unreachable->what() + "); going on with the verified index version " +
                 std::to_string(update->index_version));
    } else {
      a.said.clear();
      if (update->changed) {
        a.backoff.clear();
        a.log("registry '" + a.config.registry_name + "' index version " + std::to_string(update->index_version) +
              " from " + update->source);
      }
    }
  }
  a.state.index_version = a.client->index_version();
  a.note_rollout();
  std::set<std::string> wanted;
  for (const auto& e : a.client->available()) wanted.insert(e.target_build_id);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(a.backoff, [](const auto& b) { return !process_start_time(b.first.first); });
  for (auto& process : a.scanner.scan(wanted)) {
    Impl::Current c;
    c.process = std::move(process);
    const auto backoff_key = std::make_pair(c.process.pid, c.process.start_time);
    if (auto b = a.backoff.find(backoff_key); b != a.backoff.end() && now < b->second.next) continue;
    // Called for each failure below: the next try waits twice as long as the last.
    auto failed = [&] {
      auto& b = a.backoff[backoff_key];
      b.delay = std::min<std::chrono::seconds>(std::max(b.delay * 2, a.config.scan_interval), a.config.interval);
      b.next = now + b.delay;
      ++outcome.failed;
    };
    if (auto sock = control::find_socket(c.process.pid)) {
      control::Request hello;
      hello.op = control::Op::hello;
      auto answer = control::call(c.process.pid, *sock, hello);
      if (!answer || !answer->ok) {
        a.say_once(who(c.process.pid, c.process.program) + " does not answer on its control socket: " +
                   (answer ? answer->error.what() : answer.error().what()));
        failed();
        continue;
      }
      if (auto own = a.own_poller(answer->result)) {
        a.say_once(who(c.process.pid, c.process.program) + " " + *own);
        continue;
      }
      c.socket = *sock;
      c.level = patch_level(answer->result);
    }
    a.current = &c;
    auto report = a.client->apply_available();
    a.current = nullptr;
    if (!report) {
      a.say_once("cannot patch " + who(c.process.pid, c.process.program) + ": " + report.error().what());
      failed();
      continue;
    }
    for (const auto& p : report->applied) {
      a.log("applied " + p.id + " version " + std::to_string(p.version) + " to " + who(c.process.pid, c.process.program) +
            (a.config.health_seconds.count() ? ", watching it for " + std::to_string(a.config.health_seconds.count()) + " s"
                                             : std::string()));
      ++outcome.applied;
    }
    if (!c.own_poller.empty()) {
      a.say_once(who(c.process.pid, c.process.program) + " " + c.own_poller);
      a.backoff[backoff_key] = {now + a.config.interval, a.config.interval};
      continue;
    }
    for (const auto& f : report->failed) {
      a.say_once(f.patch.id + " version " + std::to_string(f.patch.version) + " not applied to " +
                 who(c.process.pid, c.process.program) + ": " + f.error.what());
    }
    if (!report->failed.empty()) {
      failed();
      outcome.failed += static_cast<int>(report->failed.size()) - 1;
    } else {
      a.backoff.erase(backoff_key);
    }
  }
  a.state.last_pass = now_seconds();
  // Forget processes that are gone once their window is over: the state stays the size of the host.
  std::erase_if(a.state.patched, [](const PatchedProcess& p) { return p.healthy && process_problem(p).has_value(); });
  a.save(poll);
  return outcome;
}

int Agent::check_health() {
  Impl& a = *impl_;
  const std::int64_t now = now_seconds();
  struct Failure {
    std::string id;
    std::uint32_t version;
    pid_t pid;
    std::string program;
    std::string reason;
  };
  std::vector<Failure> failures;
  bool changed = false;
  for (auto& p : a.state.patched) {
    if (p.healthy) continue;
    const std::string since = std::to_string(now - p.applied_at) + " s after " + p.id + " version " +
                              std::to_string(p.version) + " was applied";
    if (auto problem = process_problem(p)) {
      failures.push_back({p.id, p.version, p.pid, p.program, *problem + " (" + p.program + "), " + since});
      continue;
    }
    if (!a.config.health_command.empty() && now >= p.next_check) {
      if (auto bad = run_health_command(a.config.health_command, p, a.config.health_timeout)) {
        failures.push_back({p.id, p.version, p.pid, p.program, *bad + " for " + who(p.pid, p.program) + ", " + since});
        continue;
      }
      p.next_check = now + a.config.health_interval.count();
      changed = true;
    }
    if (now >= p.watch_until) {
      p.healthy = true;
      changed = true;
      a.log(who(p.pid, p.program) + " is well " + std::to_string(now - p.applied_at) + " s after " + p.id +
            " version " + std::to_string(p.version) + ": health window passed");
    }
  }
  for (const auto& f : failures) a.take_back(f.id, f.version, f.pid, f.program, f.reason);
  if (changed || !failures.empty()) a.save(false);
  return static_cast<int>(failures.size());
}

bool Agent::watching() const {
  return std::any_of(impl_->state.patched.begin(), impl_->state.patched.end(),
                     [](const PatchedProcess& p) { return !p.healthy; });
}

int Agent::run_once(const std::atomic<bool>& stop) {
  PassOutcome o = pass(true);
  int taken_back = 0;
  while (watching() && !stop) {
    taken_back += check_health();
    if (watching()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return o.registry_failed || o.failed > 0 || taken_back > 0 ? 1 : 0;
}

int Agent::run(const std::atomic<bool>& stop) {
  using std::chrono::steady_clock;
  std::mt19937_64 rng(std::random_device{}());
  // ±10 %: a fleet started together does not poll together.
  auto jittered = [&](std::chrono::seconds base) {
    std::uniform_real_distribution<double> d(0.9, 1.1);
    return std::chrono::duration_cast<steady_clock::duration>(std::chrono::duration<double>(base.count() * d(rng)));
  };
  impl_->log("agent for registry '" + impl_->config.registry_name + "' (host " +
             (impl_->host_id.empty() ? std::string("without an id") : impl_->host_id) + "), polling every " +
             std::to_string(impl_->config.interval.count()) + " s");
  // New programs are seen as they start where the kernel tells us; /proc is looked at regardless.
  std::optional<ProcessEvents> events;
  if (auto e = ProcessEvents::open()) {
    events.emplace(std::move(*e));
  } else {
    impl_->log(e.error().what() + "; new processes are found by looking at /proc every " +
               std::to_string(impl_->config.scan_interval.count()) + " s");
  }
  // A program just started has not mapped its libraries yet: it is looked at a little later.
  constexpr auto kAfterExec = std::chrono::milliseconds(300);
  constexpr auto kNoExec = steady_clock::time_point::max();
  auto exec_pass = kNoExec;
  auto next_poll = steady_clock::now();
  auto next_scan = next_poll;
  while (!stop) {
    const auto now = steady_clock::now();
    if (now >= next_poll) {
      pass(true);
      next_poll = now + jittered(impl_->config.interval);
      next_scan = now + impl_->config.scan_interval;
      exec_pass = kNoExec;
    } else if (now >= next_scan || now >= exec_pass) {
      pass(false);
      next_scan = now + impl_->config.scan_interval;
      exec_pass = kNoExec;
    }
    check_health();
    auto wake = std::min({next_poll, next_scan, steady_clock::now() + std::chrono::seconds(1)});
    while (!stop && steady_clock::now() < wake) {
      wake = std::min(wake, exec_pass);
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(wake - steady_clock::now());
      const int timeout = static_cast<int>(std::clamp<long long>(left.count(), 0, 100));
      if (events) {
        pollfd p{events->fd(), POLLIN, 0};
        if (::poll(&p, 1, timeout) > 0 && events->drain_execs() && exec_pass == kNoExec) {
          exec_pass = steady_clock::now() + kAfterExec;
        }
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(timeout));
      }
    }
  }
  impl_->log("agent stopped");
  return 0;
}

}  // namespace hotpatch::agent
