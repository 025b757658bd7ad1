// Addresses and offsets in messages: always "0x" and lower-case hex digits, zero included ("0x0").
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace hotpatch {

inline std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace hotpatch
