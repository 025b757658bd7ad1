// SHA-256 of memory and of files, as lower-case hex (the registry's content addresses).
#pragma once

#include <hotpatch/error.hpp>

#include <cstdint>
#include <span>
#include <string>

namespace hotpatch::registry {

std::string sha256_hex(std::span<const std::uint8_t> data);

struct FileDigest {
  std::string sha256;
  std::uint64_t size = 0;
};

/// Streams the file through the hash, so large patch objects are never held in memory twice.
Result<FileDigest> sha256_file(const std::string& path);

}  // namespace hotpatch::registry
