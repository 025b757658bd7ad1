// The registry side of the endpoint: one registry session (from the registry library, see
// registry_link.hpp) shared by the `update` request and the optional poller thread, which polls at
// a fixed interval with random jitter so a fleet started at the same moment does not hit the
// registry at the same moment.
#pragma once

#include "control/registry_link.hpp"

#include <hotpatch/registry.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace hotpatch::control {

class RegistryUpdater {
 public:
  /// Loads the registry library (registry_library.hpp) and opens a session: a bad configuration or
  /// a missing library is an error now, not at the first poll.
  static Result<std::shared_ptr<RegistryUpdater>> create(RegistryConfig config);

  /// The same, with the session (its cache, and libcurl) made on the first run_once rather than
  /// now: for a forked child, whose fork handler must not touch code another thread of the parent
  /// may have been inside (libcurl, OpenSSL). The config was already checked in the parent.
  static std::shared_ptr<RegistryUpdater> create_deferred(RegistryConfig config);

  /// Polls (conditional GET), then applies what is new; logs one line per event. `trigger` names
  /// who asked ("poll", "control request from pid 12").
  Result<UpdateOutcome> run_once(const std::string& trigger);

  const std::string& first_url() const { return url_; }
  const RegistryConfig& config() const { return config_; }

 private:
  RegistryUpdater(std::unique_ptr<RegistrySession> session, RegistryConfig config);
  // Guards the session only; program threads never take it.
  std::mutex mutex_;
  std::unique_ptr<RegistrySession> session_;
  RegistryConfig config_;
  std::string url_;
};

class RegistryPoller {
 public:
  /// Starts polling: the first poll after a random delay within one interval, then every interval
  /// give or take a tenth.
  RegistryPoller(std::shared_ptr<RegistryUpdater> updater, std::chrono::seconds interval);
  ~RegistryPoller();
  RegistryPoller(const RegistryPoller&) = delete;
  RegistryPoller& operator=(const RegistryPoller&) = delete;

  std::chrono::seconds interval() const { return interval_; }

 private:
  void run();

  std::shared_ptr<RegistryUpdater> updater_;
  std::chrono::seconds interval_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hotpatch::control
