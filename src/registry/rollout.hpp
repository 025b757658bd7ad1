// Staged rollout: which hosts take an entry published to a share of the fleet. The choice is a
// stable hash of (host id, patch id), so a host keeps its answer from poll to poll and from run to
// run, raising the share only adds hosts, and each patch id picks its own hosts (the same hosts do
// not always go first).
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace hotpatch::registry {

/// This host's position for `patch_id`, 0 to 9999 (hundredths of a percent).
std::uint32_t rollout_position(std::string_view host_id, std::string_view patch_id);

/// Whether a host at `host_id` takes an entry of `patch_id` published at `percent` (1 to 100).
bool rollout_includes(std::string_view host_id, std::string_view patch_id, std::uint32_t percent);

/// The host id: `configured` when not empty (the runtime passes HOTPATCH_HOST_ID), else
/// /etc/machine-id (the systemd machine id, stable across reboots, distinct per installed system).
Result<std::string> host_id(const std::string& configured = {});

}  // namespace hotpatch::registry
