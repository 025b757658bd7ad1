// Patching from outside: the control endpoint (a Unix socket per process that the `hotpatch` CLI
// talks to) and the registry poller. A program that links libhotpatch enables both with one call;
// any dynamically linked program gets them with LD_PRELOAD=libhotpatch.so and the environment
// variables read by control_options_from_environment(). Usable from C++20; never throws.
#pragma once

#include <hotpatch/error.hpp>
#include <hotpatch/registry.hpp>

#include <chrono>
#include <optional>
#include <string>

namespace hotpatch {

struct ControlOptions {
  /// Serve the control socket (otherwise only the registry poller runs, if configured).
  bool serve_socket = true;
  /// Where the socket <pid>.sock goes; empty: $HOTPATCH_CONTROL_DIR, else /run/hotpatch for root,
  /// else $XDG_RUNTIME_DIR/hotpatch, else /tmp/hotpatch-<uid>. Created 0700; refused when another
  /// user owns it.
  std::string socket_dir;
  /// A client must send its request, and take its response, within this time.
  std::chrono::milliseconds request_timeout{5000};
  /// The registry `hotpatch update` refreshes from, and the poller polls.
  std::optional<RegistryConfig> registry;
  /// Poll the registry this often (with random jitter) and apply new patches; 0: never.
  std::chrono::seconds poll_interval{0};
  /// When set, the runtime's log lines are appended to this file instead of going to the sink.
  std::string log_file;
  /// A child made by fork() gets its own endpoint (needed for daemons and pre-forking servers).
  bool follow_forks = true;
};

/// Starts the endpoint (and the poller). Fails, with nothing started, on an unusable socket
/// directory, an invalid registry configuration, or when control is already enabled.
HOTPATCH_API Status enable_control(const ControlOptions& options = {});

/// Reads HOTPATCH_CONTROL, HOTPATCH_CONTROL_DIR, HOTPATCH_REGISTRY_URL (mirrors separated by
/// commas), HOTPATCH_REGISTRY_NAME, HOTPATCH_TRUSTED_KEY (a minisign .pub file),
/// HOTPATCH_POLL_SECONDS, HOTPATCH_CACHE_DIR, HOTPATCH_LOG_FILE and HOTPATCH_CONTROL_FOLLOW_FORKS.
HOTPATCH_API Result<ControlOptions> control_options_from_environment();

/// Stops the endpoint and the poller and removes the socket. Does nothing when control is off.
HOTPATCH_API void disable_control() noexcept;

/// The socket path while control is enabled, else "".
HOTPATCH_API std::string control_socket_path();

}  // namespace hotpatch
