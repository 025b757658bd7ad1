#include "control/registry_poller.hpp"

#include "support/log.hpp"

#include <random>

namespace hotpatch::control {
namespace {

// Something in the cache that could have been planted is worth a warning even though the client
// went on without it: it says the directory was, or is, reachable by someone else.
void log_cache_warnings(RegistryClient& client, const std::string& trigger) {
  for (const auto& w : client.take_cache_warnings()) log::warning("registry (" + trigger + "): cache: " + w.what());
}

}  // namespace

RegistryUpdater::RegistryUpdater(std::optional<RegistryClient> client, RegistryConfig config)
    : client_(std::move(client)), config_(std::move(config)), url_(config_.urls.empty() ? std::string() : config_.urls.front()) {}

Result<std::shared_ptr<RegistryUpdater>> RegistryUpdater::create(RegistryConfig config) {
  HOTPATCH_LET(client, RegistryClient::create(config));
  log_cache_warnings(client, "start");
  return std::shared_ptr<RegistryUpdater>(new RegistryUpdater(std::move(client), std::move(config)));
}

std::shared_ptr<RegistryUpdater> RegistryUpdater::create_deferred(RegistryConfig config) {
  return std::shared_ptr<RegistryUpdater>(new RegistryUpdater(std::nullopt, std::move(config)));
}

Result<UpdateOutcome> RegistryUpdater::run_once(const std::string& trigger) {
  std::lock_guard lock(mutex_);
  if (!client_) {
    auto client = RegistryClient::create(config_);
    if (!client) {
      log::warning("registry (" + trigger + "): cannot start the client: " + client.error().what());
      return client.error();
    }
    client_.emplace(std::move(*client));
    log_cache_warnings(*client_, "start");
  }
  RegistryClient& client_ref = *client_;
  auto update = client_ref.update();
  log_cache_warnings(client_ref, trigger);
  if (!update) {
    log::warning("registry (" + trigger + "): refused: " + update.error().what());
    return update.error();
  }
  if (update->unreachable) {
    log::warning("registry (" + trigger + "): no mirror answered (" + update->unreachable->what() +
                 "); keeping cached index version " + std::to_string(client_ref.index_version()));
  } else if (update->changed) {
    log::info("registry (" + trigger + "): index version " + std::to_string(update->index_version) +
              " verified from " + update->source);
  } else {
    log::debug("registry (" + trigger + "): index version " + std::to_string(update->index_version) + " unchanged");
  }
  auto apply = client_ref.apply_available();
  log_cache_warnings(client_ref, trigger);
  if (!apply) {
    log::warning("registry (" + trigger + "): nothing applied: " + apply.error().what());
    return apply.error();
  }
  for (const auto& p : apply->applied) {
    log::info("registry (" + trigger + "): applied " + p.id + " version " + std::to_string(p.version) + " (sha256 " +
              p.blob_sha256 + ", bound by the signed index)");
  }
  for (const auto& f : apply->failed) {
    log::warning("registry (" + trigger + "): " + f.patch.id + " version " + std::to_string(f.patch.version) +
                 " refused: " + f.error.what());
  }
  return UpdateOutcome{std::move(*update), std::move(*apply)};
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
