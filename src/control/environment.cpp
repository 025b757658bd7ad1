// ControlOptions from HOTPATCH_* variables: how a preloaded runtime is configured without touching
// the program. Every malformed value is an error naming the variable, never silently ignored.
#include <hotpatch/control.hpp>

#include "support/log.hpp"

#include <charconv>
#include <cstdlib>
#include <string_view>
#include <unistd.h>

namespace hotpatch {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

Result<bool> flag(const char* name, bool fallback) {
  std::string v = env(name);
  if (v.empty()) return fallback;
  if (v == "1" || v == "on" || v == "yes" || v == "true") return true;
  if (v == "0" || v == "off" || v == "no" || v == "false") return false;
  return make_error(ErrorCode::invalid_argument, name, "'" + v + "' is not 1/on or 0/off");
}

std::string default_cache_dir() {
  if (::geteuid() == 0) return "/var/cache/hotpatch";
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg.front() == '/') return xdg + "/hotpatch";
  if (std::string home = env("HOME"); !home.empty() && home.front() == '/') return home + "/.cache/hotpatch";
  return "/tmp/hotpatch-cache-" + std::to_string(::geteuid());
}

}  // namespace

Result<ControlOptions> control_options_from_environment() {
  ControlOptions o;
  HOTPATCH_TRY(log::log_setting_from_environment());
  HOTPATCH_LET(serve, flag("HOTPATCH_CONTROL", true));
  o.serve_socket = serve;
  HOTPATCH_LET(follow, flag("HOTPATCH_CONTROL_FOLLOW_FORKS", true));
  o.follow_forks = follow;
  o.socket_dir = env("HOTPATCH_CONTROL_DIR");
  o.log_file = env("HOTPATCH_LOG_FILE");
  HOTPATCH_LET(allow_unsigned, flag("HOTPATCH_ALLOW_UNSIGNED", false));
  o.allow_unsigned = allow_unsigned;
  if (std::string keys = env("HOTPATCH_TRUSTED_KEY"); !keys.empty()) {
    HOTPATCH_LET(loaded, load_trusted_keys(keys, "HOTPATCH_TRUSTED_KEY"));
    o.trusted_keys = std::move(loaded);
  }

  if (std::string poll = env("HOTPATCH_POLL_SECONDS"); !poll.empty()) {
    long long secs = -1;
    auto [end, ec] = std::from_chars(poll.data(), poll.data() + poll.size(), secs);
    if (ec != std::errc{} || end != poll.data() + poll.size() || secs < 0 || secs > 7 * 24 * 3600) {
      return make_error(ErrorCode::invalid_argument, "HOTPATCH_POLL_SECONDS",
                        "'" + poll + "' is not a number of seconds between 0 and 604800");
    }
    o.poll_interval = std::chrono::seconds(secs);
  }

  std::string urls = env("HOTPATCH_REGISTRY_URL");
  if (urls.empty()) {
    if (o.poll_interval.count() > 0) {
      return make_error(ErrorCode::invalid_argument, "HOTPATCH_POLL_SECONDS", "is set but HOTPATCH_REGISTRY_URL is not");
    }
    return o;
  }
  RegistryConfig r;
  for (std::size_t start = 0; start <= urls.size();) {
    std::size_t comma = urls.find(',', start);
    if (comma == std::string::npos) comma = urls.size();
    std::string one = urls.substr(start, comma - start);
    if (!one.empty()) r.urls.push_back(one);
    start = comma + 1;
  }
  r.registry_name = env("HOTPATCH_REGISTRY_NAME");
  if (r.registry_name.empty()) {
    return make_error(ErrorCode::invalid_argument, "HOTPATCH_REGISTRY_NAME", "is needed with HOTPATCH_REGISTRY_URL");
  }
  if (o.trusted_keys.empty()) {
    return make_error(ErrorCode::invalid_argument, "HOTPATCH_TRUSTED_KEY",
                      "is needed with HOTPATCH_REGISTRY_URL (a minisign public key file)");
  }
  r.trusted_keys = o.trusted_keys;
  // Read here, once, like every other setting: the poller must not call getenv on its thread.
  r.host_id = env("HOTPATCH_HOST_ID");
  r.cache_dir = env("HOTPATCH_CACHE_DIR");
  if (r.cache_dir.empty()) r.cache_dir = default_cache_dir();
  else if (r.cache_dir.front() != '/') {
    // Relative to whatever directory the service happens to start in: another cache each time.
    return make_error(ErrorCode::invalid_argument, "HOTPATCH_CACHE_DIR", "'" + r.cache_dir + "' is not an absolute path");
  }
  o.registry = std::move(r);
  return o;
}

}  // namespace hotpatch
