#include "registry/rollout.hpp"

#include "registry/sha256.hpp"

#include <fstream>

namespace hotpatch::registry {

std::uint32_t rollout_position(std::string_view host_id, std::string_view patch_id) {
  // Length-prefixed fields: ("ab", "c") and ("a", "bc") hash apart.
  std::string input = "hotpatch-rollout-v1\n" + std::to_string(host_id.size()) + ":" + std::string(host_id) +
                      std::to_string(patch_id.size()) + ":" + std::string(patch_id);
  const std::string hex = sha256_hex({reinterpret_cast<const std::uint8_t*>(input.data()), input.size()});
  // 64 bits of the digest modulo 10000: the bias (below 1e-15) is far under any share's step.
  return static_cast<std::uint32_t>(std::stoull(hex.substr(0, 16), nullptr, 16) % 10000);
}

bool rollout_includes(std::string_view host_id, std::string_view patch_id, std::uint32_t percent) {
  if (percent >= 100) return true;
  return rollout_position(host_id, patch_id) < percent * 100;
}

Result<std::string> host_id(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::ifstream in("/etc/machine-id");
  std::string id;
  if (in && std::getline(in, id) && !id.empty()) return id;
  return make_error(ErrorCode::invalid_argument, "host id",
                    "none is configured (HOTPATCH_HOST_ID) and /etc/machine-id is missing or empty: "
                    "a staged patch cannot tell whether this host is in its share");
}

}  // namespace hotpatch::registry
