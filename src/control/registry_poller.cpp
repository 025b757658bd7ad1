#include "control/registry_poller.hpp"

#include "control/registry_library.hpp"
#include "support/log.hpp"

#include <random>

namespace hotpatch::control {
namespace {

void log_line(LogLevel level, const std::string& line) { log::write(level, line); }

Result<std::unique_ptr<RegistrySession>> open_session(const RegistryConfig& config) {
  HOTPATCH_LET(link, registry_link());
  return link->open(config, &log_line);
}

}  // namespace

RegistryUpdater::RegistryUpdater(std::unique_ptr<RegistrySession> session, RegistryConfig config)
    : session_(std::move(session)), config_(std::move(config)), url_(config_.urls.empty() ? std::string() : config_.urls.front()) {}

Result<std::shared_ptr<RegistryUpdater>> RegistryUpdater::create(RegistryConfig config) {
  HOTPATCH_LET(session, open_session(config));
  return std::shared_ptr<RegistryUpdater>(new RegistryUpdater(std::move(session), std::move(config)));
}

std::shared_ptr<RegistryUpdater> RegistryUpdater::create_deferred(RegistryConfig config) {
  return std::shared_ptr<RegistryUpdater>(new RegistryUpdater(nullptr, std::move(config)));
}

Result<UpdateOutcome> RegistryUpdater::run_once(const std::string& trigger) {
  std::lock_guard lock(mutex_);
  if (!session_) {
    auto session = open_session(config_);
    if (!session) {
      log::warning("registry (" + trigger + "): cannot start the client: " + session.error().what());
      return session.error();
    }
    session_ = std::move(*session);
  }
  return session_->run_once(trigger);
}

RegistryPoller::RegistryPoller(std::shared_ptr<RegistryUpdater> updater, std::chrono::seconds interval)
    : updater_(std::move(updater)), interval_(interval) {
  thread_ = std::thread([this] { run(); });
}

RegistryPoller::~RegistryPoller() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RegistryPoller::run() {
  std::mt19937_64 rng(std::random_device{}());
  const auto period = std::chrono::duration_cast<std::chrono::milliseconds>(interval_);
  std::uniform_int_distribution<long long> first(0, period.count());
  std::uniform_int_distribution<long long> jitter(-period.count() / 10, period.count() / 10);
  auto delay = std::chrono::milliseconds(first(rng));
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, delay, [this] { return stop_; })) return;
    }
    (void)updater_->run_once("poll");
    delay = period + std::chrono::milliseconds(jitter(rng));
  }
}

}  // namespace hotpatch::control
