// Byte/text encodings the registry formats use (hex digests, minisign's base64), via libsodium.
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hotpatch::registry {

/// Initialises libsodium once per process; every entry point that touches crypto calls it.
void ensure_sodium();

std::string to_hex(std::span<const std::uint8_t> bytes);
/// Lower-case hex of exactly `bytes` bytes, e.g. a sha256 digest ("64 hex digits").
bool is_hex_digest(std::string_view text, std::size_t bytes);

std::string to_base64(std::span<const std::uint8_t> bytes);
/// Strict base64 (original alphabet, padded); what names the input goes into error messages.
Result<std::vector<std::uint8_t>> from_base64(std::string_view text, std::string_view what);

inline std::span<const std::uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

}  // namespace hotpatch::registry
