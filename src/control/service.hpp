// What the endpoint does with a request: the process's patch level and table, applying a patch file
// the client passed as a descriptor, reverting, and refreshing from the registry.
#pragma once

#include "control/patch_admission.hpp"
#include "control/protocol.hpp"
#include "control/registry_poller.hpp"
#include "control/reply.hpp"
#include "control/unix_socket.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hotpatch::control {

class ControlService {
 public:
  ControlService(std::shared_ptr<RegistryUpdater> registry, std::chrono::seconds poll_interval, PatchTrust trust);

  /// Called from the endpoint's thread only. `update` is answered later (it waits on the network):
  /// its work runs on the endpoint's worker thread and touches only the registry updater.
  Reply handle(const Request& request, Fd passed_fd, const PeerCredentials& peer);

 private:
  Response hello() const;
  Response status() const;
  Response apply(const Request& request, Fd fd, const std::string& peer);
  Response revert(const Request& request, const std::string& peer);
  Reply update(const std::string& peer);
  Response run_update(const std::string& peer);

  std::shared_ptr<RegistryUpdater> registry_;
  // One update at a time: a second one is answered at once instead of holding a connection slot
  // for as long as a hanging registry takes.
  std::atomic<bool> updating_{false};
  std::chrono::seconds poll_interval_;
  std::chrono::system_clock::time_point started_;
  PatchTrust trust_;
  std::map<std::string, std::string> sources_;  // patch id -> the operator's path
};

}  // namespace hotpatch::control
