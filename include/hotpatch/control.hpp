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
#include <string_view>
#include <vector>

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
  /// minisign public keys (a .pub file's text or the base64 key line) whose signatures this process
  /// accepts on patches sent to its socket. With a registry, its trusted_keys are pinned here too:
  /// one set of keys serves both. load_trusted_keys() reads them from files.
  std::vector<std::string> trusted_keys;
  /// Accept patches without a signature over the socket (development only). Without it and without
  /// a pinned key, every apply over the socket is refused.
  bool allow_unsigned = false;
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

/// Reads HOTPATCH_CONTROL, HOTPATCH_CONTROL_DIR, HOTPATCH_TRUSTED_KEY (see load_trusted_keys),
/// HOTPATCH_ALLOW_UNSIGNED, HOTPATCH_REGISTRY_URL (mirrors separated by commas),
/// HOTPATCH_REGISTRY_NAME, HOTPATCH_POLL_SECONDS, HOTPATCH_CACHE_DIR, HOTPATCH_LOG_FILE and
/// HOTPATCH_CONTROL_FOLLOW_FORKS. Every malformed value is an error naming the variable.
HOTPATCH_API Result<ControlOptions> control_options_from_environment();

/// Reads minisign public keys from `spec`: absolute paths separated by commas, each a .pub file or a
/// directory whose *.pub files are all read. A key file or directory must be owned by this user or
/// root and not be writable by group or others (whoever can write it can choose what runs here);
/// FIFOs and other special files are refused without blocking. Errors name `source` (the variable
/// or option the spec came from) and the file.
HOTPATCH_API Result<std::vector<std::string>> load_trusted_keys(std::string_view spec,
                                                                std::string_view source = "HOTPATCH_TRUSTED_KEY");

/// Stops the endpoint and the poller and removes the socket. Does nothing when control is off.
HOTPATCH_API void disable_control() noexcept;

/// The socket path while control is enabled, else "".
HOTPATCH_API std::string control_socket_path();

}  // namespace hotpatch
