// SHA-256 of bytes in memory, as lower-case hex: the identity of a patch object's exact content.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace hotpatch::support {

std::string sha256_hex(std::span<const std::uint8_t> data);

}  // namespace hotpatch::support
