// The registry library's side of registry_link.hpp: a RegistryClient bound to the engine, which
// the runtime drives for its poller and the `update` request, logging through the runtime's sink.
#include "control/registry_link.hpp"

#include <hotpatch/export.h>
#include <hotpatch/registry.hpp>

#include <utility>

namespace hotpatch::registry {
namespace {

class EngineSession final : public control::RegistrySession {
 public:
  EngineSession(RegistryClient client, control::LinkLog log) : client_(std::move(client)), log_(log) {
    log_cache_warnings("start");
  }

  Result<control::UpdateOutcome> run_once(const std::string& trigger) override {
    auto update = client_.update();
    log_cache_warnings(trigger);
    if (!update) {
      warn("registry (" + trigger + "): refused: " + update.error().what());
      return update.error();
    }
    if (update->unreachable) {
      warn("registry (" + trigger + "): no mirror answered (" + update->unreachable->what() +
           "); keeping cached index version " + std::to_string(client_.index_version()));
    } else if (update->changed) {
      log_(LogLevel::info, "registry (" + trigger + "): index version " + std::to_string(update->index_version) +
                               " verified from " + update->source);
    } else {
      log_(LogLevel::debug, "registry (" + trigger + "): index version " + std::to_string(update->index_version) + " unchanged");
    }
    auto apply = client_.apply_available();
    log_cache_warnings(trigger);
    if (!apply) {
      warn("registry (" + trigger + "): nothing applied: " + apply.error().what());
      return apply.error();
    }
    for (const auto& p : apply->applied) {
      log_(LogLevel::info, "registry (" + trigger + "): applied " + p.id + " version " + std::to_string(p.version) +
                               " (sha256 " + p.blob_sha256 + ", bound by the signed index)");
    }
    for (const auto& f : apply->failed) {
      warn("registry (" + trigger + "): " + f.patch.id + " version " + std::to_string(f.patch.version) +
           " refused: " + f.error.what());
    }
    // Said at every poll while the share stays below this host: debug, not info.
    for (const auto& h : apply->held_back) {
      log_(LogLevel::debug, "registry (" + trigger + "): " + h.patch.id + " version " + std::to_string(h.patch.version) +
                                " held back: " + h.error.what());
    }
    return control::UpdateOutcome{std::move(*update), std::move(*apply)};
  }

 private:
  void warn(const std::string& line) { log_(LogLevel::warning, line); }

  // Something in the cache that could have been planted is worth a warning even though the client
  // went on without it: it says the directory was, or is, reachable by someone else.
  void log_cache_warnings(const std::string& trigger) {
    for (const auto& w : client_.take_cache_warnings()) warn("registry (" + trigger + "): cache: " + w.what());
  }

  RegistryClient client_;
  control::LinkLog log_;
};

Result<std::unique_ptr<control::RegistrySession>> open_session(const RegistryConfig& config, control::LinkLog log) {
  HOTPATCH_LET(client, RegistryClient::create(config));
  return std::unique_ptr<control::RegistrySession>(new EngineSession(std::move(client), log));
}

constexpr control::RegistryLink link{sizeof(control::RegistryLink), HOTPATCH_VERSION_STRING, &open_session};

}  // namespace
}  // namespace hotpatch::registry

extern "C" HOTPATCH_API const hotpatch::control::RegistryLink* hotpatch_registry_link_v1() { return &hotpatch::registry::link; }
