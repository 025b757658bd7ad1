#include "registry/encoding.hpp"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

namespace hotpatch::registry {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    // sodium_init fails only when the system has no entropy source; nothing is safe to do then.
    if (sodium_init() < 0) std::abort();
  });
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0xf]);
  }
  return out;
}

bool is_hex_digest(std::string_view text, std::size_t bytes) {
  if (text.size() != bytes * 2) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string to_base64(std::span<const std::uint8_t> bytes) {
  ensure_sodium();
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL sodium counts in
  return out;
}

Result<std::vector<std::uint8_t>> from_base64(std::string_view text, std::string_view what) {
  ensure_sodium();
  // libsodium 1.0.18 silently skips bytes >= 0x80 inside base64 (found by fuzzing); a key or
  // signature line with anything but the alphabet is not one we wrote or minisign wrote.
  for (const char c : text) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '/' || c == '=';
    if (!ok) return make_error(ErrorCode::parse, std::string(what), "is not valid base64");
  }
  std::vector<std::uint8_t> out(text.size() / 4 * 3 + 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != text.data() + text.size()) {
    return make_error(ErrorCode::parse, std::string(what), "is not valid base64");
  }
  out.resize(len);
  return out;
}

}  // namespace hotpatch::registry
