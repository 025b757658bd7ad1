// What the endpoint does with a request: the process's patch level and table, applying a patch file
// the client passed as a descriptor, reverting, and refreshing from the registry.
#pragma once

#include "control/patch_admission.hpp"
#include "control/protocol.hpp"
#include "control/registry_poller.hpp"
#include "control/unix_socket.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace hotpatch::control {

class ControlService {
 public:
  ControlService(std::shared_ptr<RegistryUpdater> registry, std::chrono::seconds poll_interval, PatchTrust trust);

  /// Called from the endpoint's thread only.
  Response handle(const Request& request, Fd passed_fd, const PeerCredentials& peer);

 private:
  Response hello() const;
  Response status() const;
  Response apply(const Request& request, Fd fd, const std::string& peer);
  Response revert(const Request& request, const std::string& peer);
  Response update(const std::string& peer);

  std::shared_ptr<RegistryUpdater> registry_;
  std::chrono::seconds poll_interval_;
  std::chrono::system_clock::time_point started_;
  PatchTrust trust_;
  std::map<std::string, std::string> sources_;  // patch id -> the operator's path
};

}  // namespace hotpatch::control
