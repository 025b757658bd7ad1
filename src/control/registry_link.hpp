// The seam between the runtime and the registry library (libhotpatch-registry). The runtime
// carries no HTTP stack: when a process is configured for a registry, it loads the registry
// library of its own build, from its own directory, and talks to it through this table only.
#pragma once

#include <hotpatch/error.hpp>
#include <hotpatch/registry.hpp>
#include <hotpatch/runtime.hpp>
#include <hotpatch/version.h>

#include <cstddef>
#include <memory>
#include <string>

namespace hotpatch::control {

struct UpdateOutcome {
  UpdateReport update;
  ApplyReport apply;
};

/// How the registry library writes its log lines: through the runtime's sink.
using LinkLog = void (*)(LogLevel, const std::string&);

/// One registry client bound to the engine: polls, verifies and applies.
class RegistrySession {
 public:
  virtual ~RegistrySession() = default;
  /// Polls (conditional GET), then applies what is new; logs one line per event. `trigger` names
  /// who asked ("poll", "control request from pid 12").
  virtual Result<UpdateOutcome> run_once(const std::string& trigger) = 0;
};

/// What the registry library hands the runtime. Both are built together: `version` and `size`
/// must match the runtime's own, or the library is refused.
struct RegistryLink {
  std::size_t size;
  const char* version;
  /// Checks the configuration and opens the client (and its cache).
  Result<std::unique_ptr<RegistrySession>> (*open)(const RegistryConfig& config, LinkLog log);
};

/// The name of the library's entry point (extern "C", returns const RegistryLink*).
inline constexpr const char* registry_link_symbol = "hotpatch_registry_link_v1";

/// The file name of the registry library of this build, next to libhotpatch.so.
inline std::string registry_library_file() { return std::string("libhotpatch-registry.so.") + HOTPATCH_VERSION_STRING; }

}  // namespace hotpatch::control
