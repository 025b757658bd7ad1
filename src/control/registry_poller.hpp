// The registry side of the endpoint: one RegistryClient shared by the `update` request and the
// optional poller thread, which polls at a fixed interval with random jitter so a fleet started at
// the same moment does not hit the registry at the same moment.
#pragma once

#include <hotpatch/registry.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace hotpatch::control {

struct UpdateOutcome {
  UpdateReport update;
  ApplyReport apply;
};

class RegistryUpdater {
 public:
  static Result<std::shared_ptr<RegistryUpdater>> create(RegistryConfig config);

  /// Polls (conditional GET), then applies what is new; logs one line per event. `trigger` names
  /// who asked ("poll", "control request from pid 12").
  Result<UpdateOutcome> run_once(const std::string& trigger);

  const std::string& first_url() const { return url_; }

 private:
  RegistryUpdater(RegistryClient client, std::string url) : client_(std::move(client)), url_(std::move(url)) {}
  // Guards the client only; program threads never take it.
  std::mutex mutex_;
  RegistryClient client_;
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
