// The process-wide control state behind enable_control(): the endpoint, the service it calls, the
// poller, and what happens to them at exit and across fork().
#include <hotpatch/control.hpp>
#include <hotpatch/runtime.hpp>

#include "control/log_file.hpp"
#include "control/registry_poller.hpp"
#include "control/server.hpp"
#include "control/service.hpp"
#include "control/socket_dir.hpp"
#include "support/log.hpp"

#include <cstdlib>
#include <memory>
#include <pthread.h>

namespace hotpatch {
namespace {

struct ControlState {
  ControlOptions options;
  std::string trust_text;
  std::shared_ptr<control::ControlService> service;
  std::unique_ptr<control::RegistryPoller> poller;
  std::unique_ptr<control::ControlServer> server;  // stopped first: its thread uses the service

  ~ControlState() {
    server.reset();  // joins its thread, which may have started the poller
    poller.reset();
  }
};

// A plain pthread mutex so the fork child can re-initialise it: another thread may hold it at fork.
pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
ControlState* g_state = nullptr;
bool g_hooks_installed = false;

struct Locked {
  Locked() { pthread_mutex_lock(&g_lock); }
  ~Locked() { pthread_mutex_unlock(&g_lock); }
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;
};

// In a fork child (`in_fork_child`) the registry client is made on the first poll or update, not
// here: another thread of the parent may have been inside libcurl or OpenSSL at fork time.
Result<std::unique_ptr<ControlState>> build(const ControlOptions& options, bool in_fork_child = false) {
  if (!options.serve_socket && !(options.registry && options.poll_interval.count() > 0)) {
    return make_error(ErrorCode::invalid_argument, "control options",
                      "neither the socket nor registry polling is enabled: nothing to start");
  }
  if (options.request_timeout.count() <= 0) {
    return make_error(ErrorCode::invalid_argument, "request_timeout", "must be positive");
  }
  auto state = std::make_unique<ControlState>();
  state->options = options;
  if (!options.log_file.empty()) {
    HOTPATCH_LET(sink, control::file_log_sink(options.log_file));
    set_log_sink(std::move(sink));
  }
  std::shared_ptr<control::RegistryUpdater> updater;
  if (options.registry && in_fork_child) {
    updater = control::RegistryUpdater::create_deferred(*options.registry);
  } else if (options.registry) {
    HOTPATCH_LET(u, control::RegistryUpdater::create(*options.registry));
    updater = std::move(u);
  }
  // One set of keys serves the socket and the registry.
  std::vector<std::string> keys = options.trusted_keys;
  if (options.registry) keys.insert(keys.end(), options.registry->trusted_keys.begin(), options.registry->trusted_keys.end());
  HOTPATCH_LET(trust, control::PatchTrust::from(keys, options.allow_unsigned));
  state->trust_text = trust.describe();
  state->service = std::make_shared<control::ControlService>(updater, options.poll_interval, std::move(trust));
  const bool polls = updater && options.poll_interval.count() > 0;
  // A fork child with an endpoint starts the poller from the endpoint's thread, once fork() has
  // returned: its fork handler starts that one thread and nothing else. The poller pointer is
  // written there before any reader: state is torn down only after the server thread is joined.
  std::function<void()> later;
  if (polls && in_fork_child && options.serve_socket) {
    later = [raw = state.get(), updater, interval = options.poll_interval] {
      raw->poller = std::make_unique<control::RegistryPoller>(updater, interval);
    };
  }
  if (options.serve_socket) {
    std::string dir = options.socket_dir.empty() ? control::default_socket_dir() : options.socket_dir;
    control::ServerLimits limits;
    limits.request_timeout = options.request_timeout;
    auto service = state->service;
    HOTPATCH_LET(server, control::ControlServer::start(
                             dir,
                             [service](const control::Request& r, control::Fd fd, const control::PeerCredentials& p) {
                               return service->handle(r, std::move(fd), p);
                             },
                             limits, std::move(later)));
    state->server = std::move(server);
  }
  if (polls && !(in_fork_child && options.serve_socket)) {
    state->poller = std::make_unique<control::RegistryPoller>(updater, options.poll_interval);
  }
  return state;
}

void stop_at_exit() { disable_control(); }

void after_fork_in_child() {
  pthread_mutex_init(&g_lock, nullptr);
  ControlState* parent = g_state;
  g_state = nullptr;
  if (parent == nullptr) return;
  // The parent's threads do not exist here: close its descriptors and leak the rest, since
  // destroying it would join threads that are not there.
  if (parent->server) parent->server->abandon_after_fork();
  (void)parent->server.release();
  (void)parent->poller.release();
  if (!parent->options.follow_forks) return;
  // The socket is bound before fork() returns here, so with the parent's credentials: a worker
  // that drops privileges afterwards (nginx's become nobody) keeps an endpoint root can reach,
  // and the peer rule (peer_rule.hpp) then keeps the worker's new user out.
  // What runs here: socket, bind, listen, the service object and one thread, the endpoint's. A
  // child that never calls the runtime (a pre-forked worker) gives no later moment to start it,
  // and a connection cannot start a thread by itself. This is the safe moment there is: glibc
  // re-initialises its own locks (malloc arenas, stdio, the loader, the thread-stack cache) before
  // child handlers run, and the runtime's locks (engine, log, this file's) are held across fork by
  // their prepare handlers. What could be mid-use in another parent thread (libcurl, OpenSSL) is
  // not touched: the registry client is made, and the poller started, later on that thread.
  auto state = build(parent->options, /*in_fork_child=*/true);
  if (!state) {
    log::warning("control: the forked child " + std::to_string(::getpid()) + " has no endpoint: " + state.error().what());
    return;
  }
  g_state = state->release();
}

}  // namespace

Status enable_control(const ControlOptions& options) {
  // Constructed now, so they are destroyed after the atexit handler below has stopped our threads.
  (void)engine_stats();
  log::debug("control: enabling");
  Locked lock;
  if (g_state != nullptr) {
    std::string where = g_state->server ? g_state->server->path() : std::string("registry poller only");
    return make_error(ErrorCode::invalid_argument, "enable_control", "control is already enabled (" + where + ")");
  }
  HOTPATCH_LET(state, build(options));
  if (!g_hooks_installed) {
    std::atexit(stop_at_exit);
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
    g_hooks_installed = true;
  }
  if (state->server) log::info("control: serving " + state->server->path() + "; accepting " + state->trust_text);
  if (state->poller) {
    log::info("control: polling " + options.registry->urls.front() + " every " +
              std::to_string(options.poll_interval.count()) + " s");
  }
  g_state = state.release();
  return {};
}

void disable_control() noexcept {
  ControlState* state = nullptr;
  {
    Locked lock;
    state = g_state;
    g_state = nullptr;
  }
  delete state;
}

std::string control_socket_path() {
  Locked lock;
  return g_state != nullptr && g_state->server ? g_state->server->path() : std::string();
}

}  // namespace hotpatch
