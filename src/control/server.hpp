// The control endpoint: one thread that serves the process's socket with poll(), so that no client,
// however slow or hostile, can hold it: every connection has a deadline and a size limit, and the
// thread never takes a lock the program's own threads could need while it waits on a client.
#pragma once

#include "control/deferred_worker.hpp"
#include "control/protocol.hpp"
#include "control/reply.hpp"
#include "control/unix_socket.hpp"

#include <hotpatch/error.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace hotpatch::control {

struct ServerLimits {
  /// A client must send its whole request within this time, and take the whole response within it.
  std::chrono::milliseconds request_timeout{5000};
  /// Connections served at once; more wait in the listen backlog.
  std::size_t max_connections = 16;
  /// How long a deferred answer (Reply::later) may take. Longer than the registry's own timeouts
  /// (a minute per download), so a slow registry answers with its own error, not with ours.
  std::chrono::milliseconds deferred_timeout{std::chrono::minutes(10)};
};

/// Answers one parsed request from a peer the kernel's ptrace rule accepts (peer_rule.hpp).
/// `passed_fd` is the descriptor the client attached (or invalid).
using RequestHandler = std::function<Reply(const Request&, Fd passed_fd, const PeerCredentials& peer)>;

class ControlServer {
 public:
  /// Prepares `dir`, removes stale sockets in it, binds <dir>/<pid>.sock and starts the thread.
  /// `on_thread_start`, when set, runs first on the server's thread (a fork child starts the rest
  /// of its control state there, not in its fork handler).
  static Result<std::unique_ptr<ControlServer>> start(const std::string& dir, RequestHandler handler,
                                                      ServerLimits limits, std::function<void()> on_thread_start = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const { return path_; }

  /// In a forked child: the thread does not exist there, so only the descriptors are closed and the
  /// object must then be leaked (never destroyed).
  void abandon_after_fork() noexcept;

 private:
  ControlServer() = default;
  void run();

  std::string path_;
  ino_t inode_ = 0;
  Fd listener_;
  Fd wake_;
  std::unique_ptr<DeferredWorker> worker_;
  RequestHandler handler_;
  ServerLimits limits_;
  std::function<void()> on_thread_start_;
  std::thread thread_;
};

}  // namespace hotpatch::control
